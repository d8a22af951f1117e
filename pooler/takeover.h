/*
 * takeover.h - online restart: a running pgscope hands its listening sockets
 * to a new pgscope process over a control Unix socket.
 *
 * The running (old) process listens on the control socket. A new process
 * started with `pgscope serve --takeover` connects, asks for the listening
 * sockets and receives them with SCM_RIGHTS: the same kernel sockets, so
 * connections queued in their backlog are not lost. Once the new process
 * watches them it says so; the old one stops accepting, closes its copies
 * (the sockets stay open in the new process) and serves its own clients until
 * they leave (pooler.c). Every step is bounded by TAKEOVER_TIMEOUT; before the
 * new process confirms, the old one keeps serving as if nothing happened.
 *
 * Wire protocol, one line each way per step:
 *   new -> old  "TAKEOVER 1\n"
 *   old -> new  "LISTENERS <n>\n" carrying n descriptors (SCM_RIGHTS)
 *   new -> old  "READY\n"            (it watches the sockets now)
 *   old -> new  "DONE\n"             (it no longer accepts)
 *
 * Event-loop thread only (old side); the new side runs before the loop.
 */
#ifndef PGSCOPE_POOLER_TAKEOVER_H
#define PGSCOPE_POOLER_TAKEOVER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "pooler/config.h"

#define TAKEOVER_TIMEOUT 10.0 /* seconds for the whole hand-over, on both sides */
#define TAKEOVER_MAX_FDS 17   /* the listeners (POOLER_MAX_LISTENERS) and the control socket */

/*
 * The control socket's path for cfg: takeover_socket, or
 * unix_socket_dir/.s.PGSQL.<listen_port>.takeover. false when neither is set
 * or the path is too long for a Unix socket.
 */
bool takeover_socket_path(const struct config *cfg, char *out, size_t outlen);

/* true when a process answers on the control socket at path (a live pgscope). */
bool takeover_peer_alive(const char *path);

struct takeover_request;

/*
 * Old side: accept takeover requests on the control socket at path, on ev:
 * the one received in FROM (a hand-over in progress) when it has it, else a
 * new one (mode 0600). false (logged) when it cannot be opened.
 */
bool takeover_listen(struct ev_loop *ev, const char *path, struct takeover_request *from);

/*
 * Stop taking requests: close the control socket (and a request in
 * progress), removing its file when UNLINK_PATH (not after a hand-over: the
 * new process uses it).
 */
void takeover_stop(struct ev_loop *ev, bool unlink_path);

/* New side: the running process's sockets, received and not yet confirmed. */
struct takeover_request {
	int conn;                  /* the control connection */
	int fds[TAKEOVER_MAX_FDS]; /* received descriptors, -1 once adopted or closed */
	int n_fds;
	double deadline; /* ev_time() by which the hand-over must be done */
};

/*
 * New side: connect to the control socket at path and receive the running
 * process's sockets into req. false with a message in err (the old process
 * goes on serving).
 */
bool takeover_request(struct takeover_request *req, const char *path, char *err, size_t errlen);

/*
 * New side: take the received descriptor bound to the same address as
 * addr/len (getsockname), or -1 when none is. The caller owns it.
 */
int takeover_adopt(struct takeover_request *req, const void *addr, size_t len);

/*
 * New side: tell the old process that the sockets are watched here now, and
 * wait for it to stop accepting. false with a message in err.
 */
bool takeover_confirm(struct takeover_request *req, char *err, size_t errlen);

/* New side: close the control connection and every descriptor not adopted. */
void takeover_request_release(struct takeover_request *req);

#endif
