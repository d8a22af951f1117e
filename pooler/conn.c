/* conn.c - socket endpoints and the message relay (see conn.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pooler/conn.h"
#include "pooler/proto.h"

/* ---- the plain transport ---- */

static ssize_t plain_recv(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	do {
		n = read(c->fd, buf, len);
	} while (n == -1 && errno == EINTR);
	return n;
}

static ssize_t plain_send(struct conn *c, const void *buf, size_t len)
{
	ssize_t n;

	do {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	return n;
}

static size_t plain_pending(const struct conn *c)
{
	return 0; /* the kernel holds what is unread: readiness events tell of it */
}

static int plain_shutdown_write(struct conn *c)
{
	return shutdown(c->fd, SHUT_WR);
}

static void plain_release(struct conn *c)
{
}

const struct conn_io_ops conn_io_plain = {
    .name = "plain",
    .recv = plain_recv,
    .send = plain_send,
    .pending = plain_pending,
    .shutdown_write = plain_shutdown_write,
    .release = plain_release,
};

int conn_shutdown_write(struct conn *c)
{
	return c->fd >= 0 ? c->io->shutdown_write(c) : -1;
}

void conn_init(struct conn *c, struct ev_loop *ev, int fd, size_t in_limit, size_t out_limit,
               void (*on_read)(struct ev_loop *, ev_io *, int),
               void (*on_write)(struct ev_loop *, ev_io *, int), void *data)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->ev = ev;
	c->io = &conn_io_plain;
	pbuf_init(&c->in, in_limit);
	pbuf_init(&c->out, out_limit);
	ev_io_init(&c->rio, on_read, fd, EV_READ);
	ev_io_init(&c->wio, on_write, fd, EV_WRITE);
	c->rio.data = data;
	c->wio.data = data;
}

void conn_start_read(struct conn *c)
{
	c->paused = false;
	if (c->fd >= 0 && !ev_is_active(&c->rio))
		ev_io_start(c->ev, &c->rio);
}

void conn_stop_read(struct conn *c)
{
	if (ev_is_active(&c->rio))
		ev_io_stop(c->ev, &c->rio);
}

enum conn_io conn_fill(struct conn *c, size_t chunk)
{
	ssize_t n;

	if (!pbuf_reserve(&c->in, chunk)) {
		/* Full up to the limit: read whatever still fits. */
		if (pbuf_tail_room(&c->in) == 0 && !pbuf_reserve(&c->in, 1))
			return CONN_ERROR;
		chunk = pbuf_tail_room(&c->in);
	}
	if (chunk > pbuf_tail_room(&c->in))
		chunk = pbuf_tail_room(&c->in);
	c->io_wants_write = false;
	n = c->io->recv(c, pbuf_tail(&c->in), chunk);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		if (c->io_wants_write && !ev_is_active(&c->wio))
			ev_io_start(c->ev, &c->wio);
		return CONN_AGAIN;
	}
	if (n == -1)
		return CONN_ERROR;
	if (n == 0)
		return CONN_EOF;
	c->in.end += (size_t)n;
	/*
	 * What the transport already holds is read now, with room made for it
	 * (a TLS record is at most 16 kB): no event will announce it.
	 */
	for (size_t left = c->io->pending(c); left > 0; left = c->io->pending(c)) {
		if (!pbuf_reserve(&c->in, left) && pbuf_tail_room(&c->in) == 0)
			break; /* the buffer is at its limit (a message of max_packet_size) */
		n = c->io->recv(c, pbuf_tail(&c->in), pbuf_tail_room(&c->in));
		if (n <= 0)
			break;
		c->in.end += (size_t)n;
	}
	return CONN_OK;
}

enum conn_io conn_flush(struct conn *c)
{
	while (pbuf_len(&c->out) > 0) {
		ssize_t n = c->io->send(c, pbuf_head(&c->out), pbuf_len(&c->out));

		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!ev_is_active(&c->wio))
				ev_io_start(c->ev, &c->wio);
			return CONN_AGAIN;
		}
		if (n == -1)
			return CONN_ERROR;
		pbuf_consume(&c->out, (size_t)n);
	}
	if (ev_is_active(&c->wio))
		ev_io_stop(c->ev, &c->wio);
	pbuf_shrink(&c->out, 16384);
	return CONN_OK;
}

void conn_release_idle(struct conn *c)
{
	if (pbuf_len(&c->in) == 0 && c->pass_left == 0)
		pbuf_release(&c->in);
	if (pbuf_len(&c->out) == 0)
		pbuf_release(&c->out);
}

void conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		conn_stop_read(c);
		if (ev_is_active(&c->wio))
			ev_io_stop(c->ev, &c->wio);
		c->io->release(c);
		close(c->fd);
		c->fd = -1;
	}
	pbuf_release(&c->in);
	pbuf_release(&c->out);
}

/* Stream up to the rest of the current message from src to dst. */
static enum relay_result relay_stream(struct conn *src, struct pbuf *dst)
{
	size_t n = pbuf_len(&src->in);

	if (n > src->pass_left)
		n = src->pass_left;
	if (!pbuf_append(dst, pbuf_head(&src->in), n))
		return RELAY_NO_ROOM;
	pbuf_consume(&src->in, n);
	src->pass_left -= (uint32_t)n;
	return RELAY_DRAINED;
}

enum relay_result conn_relay(struct conn *src, struct pbuf *dst, const struct relay_ops *ops,
                             void *owner)
{
	for (;;) {
		struct relay_msg msg;
		const uint8_t *head;
		size_t avail = pbuf_len(&src->in);
		enum relay_action act;
		size_t whole;

		if (dst != NULL && pbuf_len(dst) >= CONN_HIGH_WATER)
			return RELAY_PAUSED;
		if (src->pass_left > 0) {
			if (avail == 0)
				return RELAY_DRAINED;
			if (relay_stream(src, dst) == RELAY_NO_ROOM)
				return RELAY_NO_ROOM;
			continue;
		}
		if (avail < PROTO_HDR)
			return RELAY_DRAINED;
		head = pbuf_head(&src->in);
		msg.type = head[0];
		msg.len = proto_get32(head + 1);
		if (msg.len < 4 || msg.len > CONN_MAX_MESSAGE)
			return RELAY_BAD_LEN;
		msg.len -= 4;
		whole = PROTO_HDR + msg.len;
		msg.body = NULL;
		if (ops->needs_body(msg.type)) {
			if (msg.len > ops->max_len)
				return RELAY_TOO_LONG;
			if (avail < whole) {
				/* Make room for the whole message (bounded by max_len). */
				if (!pbuf_reserve(&src->in, whole - avail))
					return RELAY_TOO_LONG;
				return RELAY_DRAINED;
			}
			msg.body = head + PROTO_HDR;
		}
		act = ops->on_msg(owner, &msg);
		switch (act) {
		case RELAY_HOLD:
			return RELAY_STOPPED;
		case RELAY_FAIL:
			return RELAY_FAILED;
		case RELAY_CONSUME:
			if (msg.body == NULL)
				return RELAY_FAILED; /* cannot skip a streamed message */
			pbuf_consume(&src->in, whole);
			continue;
		case RELAY_FORWARD:
		case RELAY_FORWARD_STOP:
			break;
		}
		if (avail >= whole) {
			if (!pbuf_append(dst, head, whole))
				return RELAY_NO_ROOM;
			pbuf_consume(&src->in, whole);
		} else {
			/* Stream: forward what is here, the rest as it arrives. */
			if (!pbuf_append(dst, head, avail))
				return RELAY_NO_ROOM;
			pbuf_consume(&src->in, avail);
			src->pass_left = (uint32_t)(whole - avail);
			src->pass_type = msg.type;
		}
		if (act == RELAY_FORWARD_STOP)
			return RELAY_STOPPED;
	}
}

/* setsockopt of one int; a VALUE of 0 leaves the system's default alone. */
static bool set_int_option(int fd, int level, int name, int value)
{
	return value == 0 || setsockopt(fd, level, name, &value, sizeof(value)) == 0;
}

bool conn_set_keepalive(int fd, const struct config *cfg)
{
	int on = cfg->tcp_keepalive ? 1 : 0;
	bool ok = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) == 0;

	if (on) {
		ok = set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, cfg->tcp_keepidle) && ok;
		ok = set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, cfg->tcp_keepintvl) && ok;
		ok = set_int_option(fd, IPPROTO_TCP, TCP_KEEPCNT, cfg->tcp_keepcnt) && ok;
	}
	return set_int_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, cfg->tcp_user_timeout) && ok;
}

bool conn_prepare_socket(int fd, bool tcp)
{
	int on = 1;
	int flags = fcntl(fd, F_GETFL);

	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return false;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return false;
	if (tcp && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		return false;
	return true;
}
