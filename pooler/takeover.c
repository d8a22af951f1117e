/*
 * takeover.c - online restart: the running pgscope hands its listening
 * sockets to a new process over a control Unix socket (see takeover.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct ucred, accept4() */
#endif
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pooler/conn.h"
#include "pooler/log.h"
#include "pooler/pooler.h"
#include "pooler/takeover.h"

#define TAKEOVER_LINE_MAX 64 /* the longest line of the protocol, with room to spare */

_Static_assert(TAKEOVER_MAX_FDS == POOLER_MAX_LISTENERS + 1,
               "every listener and the control socket fit in one hand-over");

/* Where the old side is with the one request it serves at a time. */
enum takeover_step {
	TK_NONE = 0,     /* no request: waiting for a connection */
	TK_WAIT_REQUEST, /* connected: waiting for "TAKEOVER 1" */
	TK_WAIT_READY,   /* sockets sent: waiting for "READY" */
};

/* The old side's state: the control socket and the request in progress. */
static struct {
	int fd;          /* the listening control socket, -1 when none */
	char path[108];  /* its file */
	ev_io accept_io; /* readable: a new process connects */
	int peer;        /* the requesting connection, -1 when none */
	ev_io peer_io;   /* readable: the next line of the request */
	ev_timer timer;  /* TAKEOVER_TIMEOUT for the whole request */
	enum takeover_step step;
	char line[TAKEOVER_LINE_MAX];
	size_t line_len;
} ctl = {.fd = -1, .peer = -1};

static bool fill_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	return (size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path) <
	       sizeof(sun->sun_path);
}

bool takeover_socket_path(const struct config *cfg, char *out, size_t outlen)
{
	struct sockaddr_un sun;
	int n;

	if (cfg->takeover_socket != NULL && cfg->takeover_socket[0] != 0)
		n = snprintf(out, outlen, "%s", cfg->takeover_socket);
	else if (cfg->unix_socket_dir != NULL && cfg->unix_socket_dir[0] != 0)
		n = snprintf(out, outlen, "%s/.s.PGSQL.%d.takeover", cfg->unix_socket_dir,
		             cfg->listen_port);
	else
		return false;
	return n > 0 && (size_t)n < outlen && (size_t)n < sizeof(sun.sun_path);
}

/* A blocking connection to the control socket at path, or -1 (errno set). */
static int connect_control(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (!fill_sun(&sun, path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

bool takeover_peer_alive(const char *path)
{
	int fd = connect_control(path);

	if (fd == -1)
		return false;
	close(fd);
	return true;
}

/* ---- old side ---- */

/* End the request in progress; the listeners stay as they are. */
static void peer_close(struct ev_loop *ev)
{
	if (ctl.peer == -1)
		return;
	ev_io_stop(ev, &ctl.peer_io);
	ev_timer_stop(ev, &ctl.timer);
	close(ctl.peer);
	ctl.peer = -1;
	ctl.step = TK_NONE;
	ctl.line_len = 0;
}

static void peer_abort(struct ev_loop *ev, const char *why)
{
	log_event(LOG_WARNING, "takeover.aborted", LOG_STR, "error", why, LOG_STR, "action",
	          "still serving", LOG_END);
	peer_close(ev);
}

static bool peer_send(const char *text)
{
	size_t len = strlen(text);

	return send(ctl.peer, text, len, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)len;
}

/* Send "LISTENERS n" with the listeners and the control socket attached. */
static bool send_sockets(void)
{
	int fds[TAKEOVER_MAX_FDS];
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	char text[32];
	struct iovec iov;
	struct msghdr msg;
	struct cmsghdr *cm;
	int n = 0;

	for (int i = 0; i < pooler.n_listeners && n < TAKEOVER_MAX_FDS - 1; i++)
		fds[n++] = pooler.listeners[i].fd;
	fds[n++] = ctl.fd;
	snprintf(text, sizeof(text), "LISTENERS %d\n", n);
	iov.iov_base = text;
	iov.iov_len = strlen(text);
	memset(&msg, 0, sizeof(msg));
	memset(&u, 0, sizeof(u));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	return sendmsg(ctl.peer, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)iov.iov_len;
}

/*
 * The new process watches the sockets: stop accepting (pooler.c), answer
 * DONE and drop the control socket, which the new process owns now.
 */
static void hand_over(struct ev_loop *ev)
{
	pooler_listeners_handed_over();
	if (!peer_send("DONE\n"))
		log_event(LOG_WARNING, "takeover.done_not_sent", LOG_STR, "error", strerror(errno),
		          LOG_END);
	peer_close(ev);
	takeover_stop(ev, false);
}

static void on_line(struct ev_loop *ev, const char *line)
{
	if (ctl.step == TK_WAIT_REQUEST && strcmp(line, "TAKEOVER 1") == 0) {
		log_event(LOG_INFO, "takeover.request", LOG_END);
		if (pooler.shutting_down || pooler.n_listeners == 0) {
			peer_abort(ev, "this process is stopping");
			return;
		}
		if (!send_sockets()) {
			peer_abort(ev, strerror(errno));
			return;
		}
		log_event(LOG_INFO, "takeover.sent", LOG_INT, "sockets",
		          (long long)pooler.n_listeners + 1, LOG_END);
		ctl.step = TK_WAIT_READY;
		return;
	}
	if (ctl.step == TK_WAIT_READY && strcmp(line, "READY") == 0) {
		hand_over(ev);
		return;
	}
	peer_abort(ev, "unexpected message on the control socket");
}

static void on_peer_read(struct ev_loop *ev, ev_io *w, int revents)
{
	ssize_t n = recv(ctl.peer, ctl.line + ctl.line_len, sizeof(ctl.line) - 1 - ctl.line_len, 0);
	char *nl;

	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0 && ctl.step == TK_WAIT_REQUEST && ctl.line_len == 0) {
		peer_close(ev); /* a probe (takeover_peer_alive()), not a request */
		return;
	}
	if (n <= 0) {
		peer_abort(ev, n == 0 ? "the new process closed the connection" : strerror(errno));
		return;
	}
	ctl.line_len += (size_t)n;
	ctl.line[ctl.line_len] = 0;
	while (ctl.peer != -1 && (nl = strchr(ctl.line, '\n')) != NULL) {
		size_t used = (size_t)(nl - ctl.line) + 1;

		*nl = 0;
		on_line(ev, ctl.line);
		if (ctl.peer == -1)
			return;
		memmove(ctl.line, ctl.line + used, ctl.line_len - used + 1);
		ctl.line_len -= used;
	}
	if (ctl.line_len >= sizeof(ctl.line) - 1)
		peer_abort(ev, "line too long on the control socket");
}

static void on_peer_timeout(struct ev_loop *ev, ev_timer *w, int revents)
{
	peer_abort(ev, "the new process did not finish the hand-over in time");
}

/* Only the user pgscope runs as (or root) may take its sockets. */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return false;
	return cred.uid == geteuid() || cred.uid == 0;
}

static void on_control_accept(struct ev_loop *ev, ev_io *w, int revents)
{
	int fd = accept4(ctl.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd == -1)
		return;
	if (ctl.peer != -1 || !peer_allowed(fd)) {
		log_event(LOG_WARNING, "takeover.refused", LOG_STR, "error",
		          ctl.peer != -1 ? "a hand-over is already in progress" : "another user",
		          LOG_END);
		close(fd);
		return;
	}
	ctl.peer = fd;
	ctl.step = TK_WAIT_REQUEST;
	ctl.line_len = 0;
	ev_io_init(&ctl.peer_io, on_peer_read, fd, EV_READ);
	ev_io_start(ev, &ctl.peer_io);
	ev_timer_init(&ctl.timer, on_peer_timeout, TAKEOVER_TIMEOUT, 0.0);
	ev_timer_start(ev, &ctl.timer);
}

/* A new control socket at path, mode 0600; -1 (logged) on failure. */
static int control_open(const char *path)
{
	struct sockaddr_un sun;
	mode_t old_mask;
	int fd;

	if (!fill_sun(&sun, path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto out_fail;
	unlink(path); /* a stale socket from an earlier run (takeover_peer_alive() said so) */
	old_mask = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old_mask);
		goto out_close;
	}
	umask(old_mask);
	if (listen(fd, 4) == -1 || !conn_prepare_socket(fd, false))
		goto out_unlink;
	return fd;
out_unlink:
	unlink(path);
out_close:
	close(fd);
out_fail:
	log_event(LOG_ERROR, "takeover.listen_failed", LOG_STR, "path", path, LOG_STR, "error",
	          strerror(errno), LOG_END);
	return -1;
}

bool takeover_listen(struct ev_loop *ev, const char *path, struct takeover_request *from)
{
	struct sockaddr_un sun;
	int fd = -1;

	if (from != NULL && fill_sun(&sun, path))
		fd = takeover_adopt(from, &sun, sizeof(sun));
	if (fd == -1)
		fd = control_open(path);

	if (fd == -1)
		return false;
	ctl.fd = fd;
	snprintf(ctl.path, sizeof(ctl.path), "%s", path);
	ev_io_init(&ctl.accept_io, on_control_accept, fd, EV_READ);
	ev_io_start(ev, &ctl.accept_io);
	log_event(LOG_INFO, "takeover.listen", LOG_STR, "path", path, LOG_END);
	return true;
}

void takeover_stop(struct ev_loop *ev, bool unlink_path)
{
	peer_close(ev);
	if (ctl.fd == -1)
		return;
	ev_io_stop(ev, &ctl.accept_io);
	close(ctl.fd);
	ctl.fd = -1;
	if (unlink_path)
		unlink(ctl.path);
}

/* ---- new side ---- */

static int ms_left(double deadline)
{
	double left = deadline - ev_time();

	return left <= 0 ? 0 : (int)(left * 1000.0) + 1;
}

/* Wait until fd is readable before the deadline; false on timeout or error. */
static bool wait_readable(int fd, double deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int ms = ms_left(deadline);
		int r;

		if (ms == 0)
			return false;
		r = poll(&pfd, 1, ms);
		if (r == -1 && errno == EINTR)
			continue;
		return r == 1;
	}
}

/*
 * Read one line from the old process into line (without its newline), and
 * the descriptors that come with it into req. false on timeout, EOF or a
 * malformed message.
 */
static bool read_line(struct takeover_request *req, char *line, size_t linesz)
{
	size_t len = 0;

	while (len < linesz - 1) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * TAKEOVER_MAX_FDS)];
			struct cmsghdr align;
		} u;
		struct iovec iov = {.iov_base = line + len, .iov_len = 1};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
		struct cmsghdr *cm;
		ssize_t n;

		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		if (!wait_readable(req->conn, req->deadline))
			return false;
		n = recvmsg(req->conn, &msg, MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
			int count;

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			count = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < count; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + sizeof(int) * (size_t)i, sizeof(int));
				if (req->n_fds < TAKEOVER_MAX_FDS)
					req->fds[req->n_fds++] = fd;
				else
					close(fd);
			}
		}
		if (msg.msg_flags & MSG_CTRUNC)
			return false;
		if (line[len] == '\n') {
			line[len] = 0;
			return true;
		}
		len++;
	}
	return false;
}

static bool send_line(struct takeover_request *req, const char *text)
{
	size_t len = strlen(text);

	return send(req->conn, text, len, MSG_NOSIGNAL) == (ssize_t)len;
}

bool takeover_request(struct takeover_request *req, const char *path, char *err, size_t errlen)
{
	struct timeval tv = {.tv_sec = (time_t)TAKEOVER_TIMEOUT};
	char line[TAKEOVER_LINE_MAX];
	int expected;

	memset(req, 0, sizeof(*req));
	req->conn = -1;
	req->deadline = ev_time() + TAKEOVER_TIMEOUT;
	req->conn = connect_control(path);
	if (req->conn == -1) {
		snprintf(err, errlen, "no pgscope answers on the control socket %s: %s", path,
		         strerror(errno));
		return false;
	}
	setsockopt(req->conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!send_line(req, "TAKEOVER 1\n") || !read_line(req, line, sizeof(line))) {
		snprintf(err, errlen,
		         "the running pgscope did not hand over its sockets within %g s",
		         TAKEOVER_TIMEOUT);
		return false;
	}
	if (sscanf(line, "LISTENERS %d", &expected) != 1 || expected != req->n_fds) {
		snprintf(err, errlen, "unexpected answer on the control socket: %.40s", line);
		return false;
	}
	return true;
}

/* true when sa (from getsockname) is the address a. */
static bool same_address(const struct sockaddr_storage *sa, const void *a)
{
	const struct sockaddr *b = a;

	if (sa->ss_family != b->sa_family)
		return false;
	switch (b->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *x = (const struct sockaddr_in *)sa;
		const struct sockaddr_in *y = a;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)sa;
		const struct sockaddr_in6 *y = a;

		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	case AF_UNIX: {
		const struct sockaddr_un *x = (const struct sockaddr_un *)sa;
		const struct sockaddr_un *y = a;

		return strncmp(x->sun_path, y->sun_path, sizeof(x->sun_path)) == 0;
	}
	default:
		return false;
	}
}

int takeover_adopt(struct takeover_request *req, const void *addr, size_t len)
{
	for (int i = 0; i < req->n_fds; i++) {
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		int fd = req->fds[i];

		memset(&ss, 0, sizeof(ss));
		if (fd == -1 || getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1)
			continue;
		if (len >= sizeof(sa_family_t) && same_address(&ss, addr)) {
			req->fds[i] = -1;
			return fd;
		}
	}
	return -1;
}

bool takeover_confirm(struct takeover_request *req, char *err, size_t errlen)
{
	char line[TAKEOVER_LINE_MAX];

	if (!send_line(req, "READY\n") || !read_line(req, line, sizeof(line)) ||
	    strcmp(line, "DONE") != 0) {
		snprintf(err, errlen,
		         "the running pgscope did not confirm the hand-over within %g s",
		         TAKEOVER_TIMEOUT);
		return false;
	}
	return true;
}

void takeover_request_release(struct takeover_request *req)
{
	for (int i = 0; i < req->n_fds; i++) {
		if (req->fds[i] != -1)
			close(req->fds[i]);
		req->fds[i] = -1;
	}
	if (req->conn >= 0)
		close(req->conn);
	req->conn = -1;
}
