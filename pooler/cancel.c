/* cancel.c - CancelRequest forwarding (see cancel.h). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pooler/cancel.h"
#include "pooler/client.h"
#include "pooler/conn.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/pool.h"
#include "pooler/proto.h"
#include "pooler/server.h"
#include "pooler/stmt.h"

#define CANCEL_TIMEOUT 5.0 /* seconds to connect and send */

/* One outgoing cancel connection; frees itself when done. */
struct cancel_conn {
	struct loop_state *loop; /* the loop it runs on */
	ev_io io;
	ev_timer timer;
	int fd;
	uint64_t server_id; /* the pooled server the cancel is for, or 0 */
	uint8_t packet[16];
};

static void cancel_finish(struct cancel_conn *cc)
{
	ev_io_stop(cc->loop->ev, &cc->io);
	ev_timer_stop(cc->loop->ev, &cc->timer);
	close(cc->fd);
	if (cc->server_id != 0)
		pool_cancel_done(cc->loop, cc->server_id);
	free(cc);
}

/* The server closes the connection once it has signalled the backend. */
static void cancel_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct cancel_conn *cc = w->data;
	char buf[64];
	ssize_t n;

	do {
		n = read(cc->fd, buf, sizeof(buf));
	} while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n > 0)
		return; /* nothing is expected; keep waiting for the close */
	cancel_finish(cc);
}

static void cancel_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct cancel_conn *cc = w->data;
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	ssize_t n;

	if (getsockopt(cc->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1 || soerr != 0) {
		log_event(LOG_WARNING, "cancel.failed", LOG_STR, "error",
		          strerror(soerr ? soerr : errno), LOG_END);
		cancel_finish(cc);
		return;
	}
	do {
		n = send(cc->fd, cc->packet, sizeof(cc->packet), MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	/* 16 bytes into a fresh socket go in one piece or not at all. */
	if (n != (ssize_t)sizeof(cc->packet)) {
		log_event(LOG_WARNING, "cancel.failed", LOG_STR, "error", "short write", LOG_END);
		cancel_finish(cc);
		return;
	}
	ev_io_stop(cc->loop->ev, &cc->io);
	ev_io_init(&cc->io, cancel_on_read, cc->fd, EV_READ);
	cc->io.data = cc;
	ev_io_start(cc->loop->ev, &cc->io);
}

static void cancel_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	log_event(LOG_WARNING, "cancel.failed", LOG_STR, "error", "timed out", LOG_END);
	cancel_finish(w->data);
}

void cancel_send(struct loop_state *ls, const struct db_config *db, uint32_t pid, uint32_t key,
                 uint64_t server_id)
{
	struct cancel_conn *cc;
	char err[256];
	int fd = server_open_socket(db, err, sizeof(err));

	if (fd == -1) {
		log_event(LOG_WARNING, "cancel.failed", LOG_STR, "db", db->name, LOG_STR, "error",
		          err, LOG_END);
		goto out_done;
	}
	cc = calloc(1, sizeof(*cc));
	if (cc == NULL) {
		close(fd);
		goto out_done;
	}
	cc->loop = ls;
	cc->fd = fd;
	cc->server_id = server_id;
	proto_put32(cc->packet, 16);
	proto_put32(cc->packet + 4, PROTO_CANCEL_CODE);
	proto_put32(cc->packet + 8, pid);
	proto_put32(cc->packet + 12, key);
	ev_io_init(&cc->io, cancel_on_write, fd, EV_WRITE);
	cc->io.data = cc;
	ev_timer_init(&cc->timer, cancel_on_timeout, CANCEL_TIMEOUT, 0);
	cc->timer.data = cc;
	ev_io_start(ls->ev, &cc->io);
	ev_timer_start(ls->ev, &cc->timer);
	return;
out_done:
	if (server_id != 0)
		pool_cancel_done(ls, server_id);
}

void cancel_request(struct loop_state *ls, uint32_t pid, uint32_t key)
{
	struct client *c = client_find_by_key(ls, pid, key);
	struct server *sv;

	if (c == NULL) {
		ls->stats.cancels_dropped++;
		log_event(LOG_INFO, "cancel.unknown_key", LOG_END);
		return;
	}
	sv = c->server;
	/* Only a request of this client that is running now may be cancelled. */
	if (sv == NULL || sv->state != SV_ACTIVE ||
	    (stmt_in_flight(c) == 0 && txn_settled(&c->txn))) {
		ls->stats.cancels_dropped++;
		log_event(LOG_INFO, "cancel.dropped", LOG_INT, "client", (long long)c->id, LOG_STR,
		          "reason", "no request running", LOG_END);
		return;
	}
	ls->stats.cancels_forwarded++;
	log_event(LOG_INFO, "cancel.forward", LOG_INT, "client", (long long)c->id, LOG_INT,
	          "backend_pid", (long long)sv->backend_pid, LOG_END);
	sv->cancels_pending++;
	cancel_send(ls, sv->pool->db, sv->backend_pid, sv->backend_key, sv->id);
}
