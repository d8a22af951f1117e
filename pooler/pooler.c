/*
 * pooler.c - the pooler process: listeners, the event loop, signals, the
 * periodic janitor and the reaper that frees closed connections outside
 * their own callbacks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pooler/admin.h"
#include "pooler/client.h"
#include "pooler/conn.h"
#include "pooler/hba.h"
#include "pooler/http.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/observe.h"
#include "pooler/pool.h"
#include "pooler/schema.h"
#include "pooler/proto.h"
#include "pooler/reload.h"
#include "pooler/server.h"
#include "pooler/stats.h"
#include "pooler/takeover.h"
#include "pooler/tls.h"
#include "pooler/userlist.h"

/* The process state (see pooler.h) and its one loop. */
struct pooler pooler;
static struct loop_state main_loop;

/*
 * Stopping: the deadline of the current phase (shutdown_timeout), and whether
 * the files that name this process are still its own to remove at exit (not
 * once a new process took them over).
 */
static ev_timer stop_timer;
static bool own_socket_files;
static bool own_pidfile;
/* The sockets received from the process being taken over, during the start. */
static struct takeover_request *inherited;

#define JANITOR_INTERVAL 0.25 /* seconds */
#define CLOSING_GRACE    5.0  /* seconds a client may take to read its final error */
#define LINGER_GRACE     2.0  /* seconds an errored client may go on sending before the close */

uint64_t pooler_next_id(void)
{
	return ++pooler.next_id;
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	} else {
		snprintf(out, outlen, "unix");
		return;
	}
	snprintf(out, outlen, "%s:%d", host, port);
}

/* Refuse a connection (over max_client_conn, or stopping) with an error the client can read. */
static void reject_client(struct loop_state *ls, int fd, const char *addr, const char *sqlstate,
                          const char *message)
{
	struct pbuf b;

	log_event(LOG_WARNING, "client.rejected", LOG_STR, "addr", addr, LOG_STR, "severity",
	          "FATAL", LOG_STR, "sqlstate", sqlstate, LOG_STR, "error", message, LOG_END);

	pbuf_init(&b, 1024);
	if (proto_write_error(&b, "FATAL", sqlstate, message))
		(void)!send(fd, pbuf_head(&b), pbuf_len(&b), MSG_NOSIGNAL | MSG_DONTWAIT);
	pbuf_release(&b);
	close(fd);
	ls->stats.clients_rejected++;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct loop_state *ls = pooler.loop;

	/* Accept a bounded batch per wakeup so one listener cannot starve the rest. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char addr[64];
		int fd = accept(l->fd, (struct sockaddr *)&ss, &len);

		if (fd == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_event(LOG_WARNING, "listener.accept_failed", LOG_STR, "error",
				          strerror(errno), LOG_END);
			return;
		}
		if (!conn_prepare_socket(fd, !l->is_unix)) {
			close(fd);
			continue;
		}
		if (!l->is_unix)
			(void)conn_set_keepalive(fd, pooler.cfg);
		format_peer(&ss, addr, sizeof(addr));
		if (pooler.shutting_down) {
			reject_client(ls, fd, addr, SQLSTATE_CANNOT_CONNECT_NOW,
			              "pgscope is shutting down");
			continue;
		}
		if (ls->n_clients >= pooler.cfg->max_client_conn) {
			reject_client(ls, fd, addr, SQLSTATE_TOO_MANY_CONNECTIONS,
			              "no more connections allowed (max_client_conn)");
			continue;
		}
		client_accept(ls, fd, l->is_unix, addr);
	}
}

static bool listen_fd(int fd, struct sockaddr *sa, socklen_t salen, const char *what)
{
	int on = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, sa, salen) == -1 || listen(fd, pooler.cfg->listen_backlog) == -1 ||
	    !conn_prepare_socket(fd, false)) {
		log_event(LOG_FATAL, "listener.failed", LOG_STR, "address", what, LOG_STR, "error",
		          strerror(errno), LOG_END);
		return false;
	}
	return true;
}

/* The socket received from the old process bound to addr/len, or -1 (takeover.h). */
static int inherited_socket(const void *addr, size_t len)
{
	int fd = inherited != NULL ? takeover_adopt(inherited, addr, len) : -1;

	if (fd != -1 && !conn_prepare_socket(fd, false)) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct listener *listener_add(int fd, bool is_unix)
{
	struct listener *l;

	if (pooler.n_listeners >= POOLER_MAX_LISTENERS) {
		close(fd);
		return NULL;
	}
	l = &pooler.listeners[pooler.n_listeners++];
	l->fd = fd;
	l->is_unix = is_unix;
	ev_io_init(&l->io, on_accept, fd, EV_READ);
	l->io.data = l;
	ev_io_start(pooler.loop->ev, &l->io);
	return l;
}

static bool listen_tcp(const char *addr, int port)
{
	struct addrinfo hints, *res, *ai;
	char portstr[16];
	bool any = false;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(strcmp(addr, "*") == 0 ? NULL : addr, portstr, &hints, &res);
	if (rc != 0) {
		log_event(LOG_FATAL, "listener.failed", LOG_STR, "address", addr, LOG_STR, "error",
		          gai_strerror(rc), LOG_END);
		return false;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		char what[128];
		int fd = inherited_socket(ai->ai_addr, ai->ai_addrlen);

		snprintf(what, sizeof(what), "%s:%d", addr, port);
		if (fd != -1) {
			if (listener_add(fd, false) == NULL)
				break;
			log_event(LOG_INFO, "listener.tcp", LOG_STR, "address", what, LOG_STR,
			          "from", "takeover", LOG_END);
			any = true;
			continue;
		}
		fd = socket(ai->ai_family, SOCK_STREAM, 0);
		if (fd == -1)
			continue;
		if (ai->ai_family == AF_INET6) {
			int on = 1;

			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
		}
		if (!listen_fd(fd, ai->ai_addr, ai->ai_addrlen, what)) {
			close(fd);
			freeaddrinfo(res);
			return false;
		}
		if (listener_add(fd, false) == NULL)
			break;
		log_event(LOG_INFO, "listener.tcp", LOG_STR, "address", what, LOG_STR, "from",
		          "bind", LOG_END);
		any = true;
	}
	freeaddrinfo(res);
	return any;
}

static bool listen_unix(const char *dir, int port, int mode)
{
	struct sockaddr_un sun;
	struct listener *l;
	const char *from = "takeover";
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/.s.PGSQL.%d", dir, port) >=
	    sizeof(sun.sun_path)) {
		log_event(LOG_FATAL, "listener.failed", LOG_STR, "address", dir, LOG_STR, "error",
		          "unix socket path too long", LOG_END);
		return false;
	}
	fd = inherited_socket(&sun, sizeof(sun));
	if (fd == -1) {
		from = "bind";
		unlink(sun.sun_path); /* a stale socket from an earlier run */
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd == -1)
			return false;
		if (!listen_fd(fd, (struct sockaddr *)&sun, sizeof(sun), sun.sun_path)) {
			close(fd);
			return false;
		}
		chmod(sun.sun_path, (mode_t)mode);
	}
	l = listener_add(fd, true);
	if (l == NULL)
		return false;
	snprintf(l->path, sizeof(l->path), "%s", sun.sun_path);
	log_event(LOG_INFO, "listener.unix", LOG_STR, "path", sun.sun_path, LOG_STR, "from", from,
	          LOG_END);
	return true;
}

static bool listeners_open(void)
{
	struct config *cfg = pooler.cfg;
	bool any = false;

	if (cfg->listen_addr != NULL && cfg->listen_addr[0] != 0) {
		char *list = strdup(cfg->listen_addr);
		char *save = NULL;

		if (list == NULL)
			return false;
		for (char *a = strtok_r(list, ", ", &save); a; a = strtok_r(NULL, ", ", &save)) {
			if (!listen_tcp(a, cfg->listen_port)) {
				free(list);
				return false;
			}
			any = true;
		}
		free(list);
	}
	if (cfg->unix_socket_dir != NULL && cfg->unix_socket_dir[0] != 0) {
		if (!listen_unix(cfg->unix_socket_dir, cfg->listen_port, cfg->unix_socket_mode))
			return false;
		any = true;
	}
	if (!any)
		log_event(LOG_FATAL, "listener.none", LOG_STR, "error",
		          "neither listen_addr nor unix_socket_dir is set", LOG_END);
	return any;
}

/*
 * Stop listening. The Unix socket files are removed only while they are this
 * process's own: after a hand-over (or during a takeover that failed) the
 * same sockets live on in the other process, and closing this process's
 * descriptors leaves them and their queued connections alone there.
 */
static void listeners_close(void)
{
	for (int i = 0; i < pooler.n_listeners; i++) {
		struct listener *l = &pooler.listeners[i];

		ev_io_stop(pooler.loop->ev, &l->io);
		close(l->fd);
		if (l->is_unix && l->path[0] && own_socket_files)
			unlink(l->path);
	}
	pooler.n_listeners = 0;
}

/*
 * Stopping: answer the connections already queued on the listeners (57P03,
 * as PostgreSQL does while it shuts down) rather than reset them, then close
 * the listeners and the control socket, so that new connections and
 * takeovers are refused.
 */
static void listeners_refuse(void)
{
	for (int i = 0; i < pooler.n_listeners; i++)
		on_accept(pooler.loop->ev, &pooler.listeners[i].io, EV_READ);
	listeners_close();
	takeover_stop(pooler.loop->ev, own_socket_files);
}

/* Free what was closed during the last loop iteration. */
static void on_reap(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct loop_state *ls = w->data;

	while (!list_empty(&ls->dead_clients))
		client_free(list_entry(list_first(&ls->dead_clients), struct client, node));
	while (!list_empty(&ls->dead_servers))
		server_free(list_entry(list_first(&ls->dead_servers), struct server, node));
	if ((pooler.shutting_down || pooler.handed_over) && ls->n_clients == 0)
		ev_break(loop, EVBREAK_ALL);
}

static void expire_logins(struct loop_state *ls, ev_tstamp now)
{
	struct config *cfg = pooler.cfg;
	ev_tstamp login = cfg->client_login_timeout / 1000.0;
	struct list *it = ls->login_clients.next;

	while (it != &ls->login_clients) {
		struct client *c = list_entry(it, struct client, node);

		it = it->next;
		if (cfg->client_login_timeout > 0 && now - c->created >= login) {
			ls->stats.timeouts[TIMEOUT_CLIENT_LOGIN]++;
			client_fail(c, SQLSTATE_PROTOCOL_VIOLATION,
			            "client_login_timeout: login not completed in time");
		}
	}
	it = ls->closing_clients.next;
	while (it != &ls->closing_clients) {
		struct client *c = list_entry(it, struct client, node);

		it = it->next;
		if (c->state == CL_LINGER && now - c->last_active >= LINGER_GRACE)
			client_close(c, "error sent");
		else if (now - c->last_active >= CLOSING_GRACE)
			client_close(c, "did not read its final error");
	}
}

/* A drop of this many clients from their peak counts as a mass disconnect. */
#define TRIM_AFTER_CLIENTS_GONE 256

/*
 * After many clients left, give their memory back to the system: malloc keeps
 * freed chunks in its heap, so RSS would stay at the peak. A steady churn of
 * clients does not trigger this, only a net drop from the peak since the last
 * trim.
 */
static void trim_after_mass_disconnect(struct loop_state *ls)
{
	if (ls->n_clients > ls->peak_clients)
		ls->peak_clients = ls->n_clients;
	if (ls->peak_clients - ls->n_clients < TRIM_AFTER_CLIENTS_GONE)
		return;
	malloc_trim(0);
	ls->peak_clients = ls->n_clients;
}

static void on_janitor(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct loop_state *ls = w->data;
	ev_tstamp now = ev_now(loop);
	struct list *it;

	expire_logins(ls, now);
	for (it = ls->pools.next; it != &ls->pools; it = it->next) {
		pool_janitor(list_entry(it, struct pool, node), now);
		schema_janitor(list_entry(it, struct pool, node), now);
	}
	pool_free_unused(ls);
	trim_after_mass_disconnect(ls);
}

bool pooler_end_if_stopping(struct client *c)
{
	if (!pooler.shutting_down)
		return false;
	client_set_end_reason(c, SQLSTATE_ADMIN_SHUTDOWN, "pgscope shutdown");
	client_fail(c, SQLSTATE_ADMIN_SHUTDOWN, POOLER_SHUTDOWN_MESSAGE);
	return true;
}

/* Stopping: refuse new connections and end the clients still logging in (57P01). */
static void pooler_stop_arrivals(void)
{
	struct loop_state *ls = pooler.loop;

	listeners_refuse();
	admin_end_all(ls);
	while (!list_empty(&ls->login_clients)) {
		struct client *c = list_entry(list_first(&ls->login_clients), struct client, node);

		client_set_end_reason(c, SQLSTATE_ADMIN_SHUTDOWN, "pgscope shutdown");
		client_fail(c, SQLSTATE_ADMIN_SHUTDOWN, POOLER_SHUTDOWN_MESSAGE);
	}
}

/* Close what is left: listeners, logins, every pool's clients (57P01) and servers. */
static void pooler_close_all(void)
{
	struct loop_state *ls = pooler.loop;
	struct list *it;

	pooler_stop_arrivals();
	for (it = ls->pools.next; it != &ls->pools; it = it->next)
		pool_shutdown(list_entry(it, struct pool, node));
}

/*
 * Immediate shutdown (a second signal, or shutdown_timeout): every client is
 * told 57P01 now, transaction or not, and the loop ends; clients flushing
 * their final error get a moment in drain_closing().
 */
static void pooler_shutdown_now(const char *cause)
{
	struct loop_state *ls = pooler.loop;

	pooler.shutting_down = true;
	ev_timer_stop(ls->ev, &stop_timer);
	log_event(LOG_INFO, "pooler.shutdown", LOG_STR, "phase", "immediate", LOG_STR, "cause",
	          cause, LOG_INT, "clients", (long long)ls->n_clients, LOG_END);
	pooler_close_all();
	ev_break(ls->ev, EVBREAK_ALL);
}

static void stop_timer_start(void)
{
	ev_timer_set(&stop_timer, pooler.cfg->shutdown_timeout / 1000.0, 0.0);
	ev_timer_start(pooler.loop->ev, &stop_timer);
}

/*
 * Safe shutdown (SIGTERM, SIGINT): refuse new connections, end at once with
 * 57P01 every client between transactions, and each of the others right after
 * its transaction ends (pooler_end_if_stopping()), for up to shutdown_timeout;
 * the loop ends when no client is left (on_reap()).
 */
static void pooler_shutdown_safe(const char *cause)
{
	struct loop_state *ls = pooler.loop;
	struct list *it;

	if (pooler.cfg->shutdown_timeout == 0) {
		pooler_shutdown_now(cause);
		return;
	}
	pooler.shutting_down = true;
	log_event(LOG_INFO, "pooler.shutdown", LOG_STR, "phase", "safe", LOG_STR, "cause", cause,
	          LOG_INT, "clients", (long long)ls->n_clients, LOG_INT, "shutdown_timeout_ms",
	          (long long)pooler.cfg->shutdown_timeout, LOG_END);
	pooler_stop_arrivals();
	for (it = ls->pools.next; it != &ls->pools; it = it->next)
		pool_end_idle_clients(list_entry(it, struct pool, node));
	/* After a hand-over the clock already runs (see pooler_listeners_handed_over()). */
	if (!ev_is_active(&stop_timer))
		stop_timer_start();
}

/*
 * shutdown_timeout passed: after a hand-over, the clients that stayed are
 * now ended at their transaction's end (another shutdown_timeout at most);
 * during a safe shutdown, whatever is left is cut.
 */
static void on_stop_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	if (!pooler.shutting_down)
		pooler_shutdown_safe("shutdown_timeout after takeover");
	else
		pooler_shutdown_now("shutdown_timeout");
}

void pooler_shutdown(const char *cause)
{
	if (!pooler.shutting_down)
		pooler_shutdown_safe(cause);
}

void pooler_listeners_handed_over(void)
{
	struct loop_state *ls = pooler.loop;

	log_event(LOG_INFO, "takeover.handed_over", LOG_INT, "clients", (long long)ls->n_clients,
	          LOG_INT, "shutdown_timeout_ms", (long long)pooler.cfg->shutdown_timeout, LOG_END);
	own_socket_files = false;
	own_pidfile = false;
	listeners_close();
	http_stop(ls); /* its port goes to the new process too */
	pooler.handed_over = true;
	stop_timer_start();
}
static void prewarm_pools(void);

bool pooler_reload(const char *cause)
{
	log_reopen(); /* a rotated log is replaced even when the file does not reload */
	log_event(LOG_INFO, "pooler.reload", LOG_STR, "cause", cause, LOG_END);
	if (!reload_config(pooler.loop))
		return false;
	tls_reload(pooler.cfg); /* certificates for new connections */
	hba_reload(pooler.cfg);
	prewarm_pools(); /* databases added with min_pool_size */
	return true;
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	if (w->signum == SIGHUP) {
		pooler_reload("SIGHUP");
		return;
	}
	/* SIGTERM, SIGINT: a safe shutdown, or an immediate one at the second signal. */
	if (pooler.shutting_down)
		pooler_shutdown_now(w->signum == SIGINT ? "second SIGINT" : "second SIGTERM");
	else
		pooler_shutdown_safe(w->signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* SIGUSR1 pauses every pool, SIGUSR2 resumes them, as PgBouncer does. */
static void on_pause_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	if (w->signum == SIGUSR1)
		pool_pause(pooler.loop, NULL);
	else
		pool_resume(pooler.loop, NULL);
}

static bool write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		log_event(LOG_FATAL, "pidfile.failed", LOG_STR, "path", path, LOG_STR, "error",
		          strerror(errno), LOG_END);
		return false;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

void pooler_init_state(struct config *cfg, struct ev_loop *ev)
{
	memset(&pooler, 0, sizeof(pooler));
	pooler.cfg = cfg;
	loop_init(&main_loop, ev, cfg);
	pooler.loop = &main_loop;
}

static bool load_auth_file(void)
{
	char err[512];

	if (reload_load_users(pooler.cfg, &pooler.users, err, sizeof(err)))
		return true;
	log_event(LOG_FATAL, "auth_file.invalid", LOG_STR, "error", err, LOG_END);
	return false;
}

/* TLS contexts and auth_hba_file rules, before the listeners open. */
static bool load_tls_and_hba(const struct config *cfg)
{
	char err[512] = "";

	if (!tls_init(cfg, err, sizeof(err))) {
		log_event(LOG_FATAL, "tls.invalid", LOG_STR, "error", err, LOG_END);
		return false;
	}
	return hba_reload(cfg);
}

static void drain_closing(struct loop_state *ls)
{
	/*
	 * Give clients a moment to read their shutdown error, and the cancels of
	 * statements cut short a moment to reach their servers; then close the rest.
	 */
	ev_tstamp deadline = ev_time() + 1.0;

	while ((!list_empty(&ls->closing_clients) || ls->cancels_open > 0) && ev_time() < deadline)
		ev_run(ls->ev, EVRUN_ONCE);
	while (!list_empty(&ls->closing_clients))
		client_close(list_entry(list_first(&ls->closing_clients), struct client, node),
		             "shutdown");
	on_reap(ls->ev, &ls->reaper, 0);
}

/*
 * Pools whose server user is fixed (user= in [databases]) are known before
 * any client comes: open min_pool_size connections for them now.
 */
static void prewarm_pools(void)
{
	struct config *cfg = pooler.cfg;

	for (size_t i = 0; i < cfg->n_dbs; i++) {
		const struct db_config *db = &cfg->dbs[i];
		int min = db->min_pool_size >= 0 ? db->min_pool_size : cfg->min_pool_size;
		char err[256];
		struct pool *p;

		if (db->user == NULL || min <= 0 || strcmp(db->name, "*") == 0)
			continue;
		p = pool_get(pooler.loop, db, db->user, err, sizeof(err));
		if (p != NULL)
			pool_janitor(p, ev_now(pooler.loop->ev));
	}
}

static bool has_pidfile(const struct config *cfg)
{
	return cfg->pidfile != NULL && cfg->pidfile[0] != 0;
}

/* A start without --takeover: refuse when a pgscope already answers on the control socket. */
static bool pooler_alone(bool have_ctl, const char *ctl_path)
{
	if (!have_ctl || !takeover_peer_alive(ctl_path))
		return true;
	log_event(LOG_FATAL, "pooler.already_running", LOG_STR, "control_socket", ctl_path, LOG_STR,
	          "error",
	          "a pgscope already runs with this config: stop it, or replace it with "
	          "pgscope serve --takeover",
	          LOG_END);
	return false;
}

/* --takeover, before the listeners open: receive the running process's sockets into req. */
static bool takeover_begin(struct takeover_request *req, bool have_ctl, const char *ctl_path)
{
	char err[256];

	if (!have_ctl) {
		snprintf(err, sizeof(err),
		         "no control socket: set unix_socket_dir or takeover_socket");
		goto out_fail;
	}
	if (!takeover_request(req, ctl_path, err, sizeof(err)))
		goto out_fail;
	inherited = req;
	log_event(LOG_INFO, "takeover.received", LOG_INT, "sockets", (long long)req->n_fds,
	          LOG_END);
	return true;
out_fail:
	log_event(LOG_FATAL, "takeover.failed", LOG_STR, "error", err, LOG_END);
	return false;
}

/*
 * --takeover, once this process is ready to serve: tell the old process to
 * stop accepting, then own the socket files and the pidfile. Received
 * sockets this config does not listen on are closed (connections queued on
 * them are reset once the old process closes its copies).
 */
static bool takeover_finish(struct takeover_request *req)
{
	char err[256];
	int unused = 0;

	inherited = NULL;
	for (int i = 0; i < req->n_fds; i++)
		unused += req->fds[i] != -1;
	if (unused > 0)
		log_event(LOG_WARNING, "takeover.sockets_unused", LOG_INT, "count",
		          (long long)unused, LOG_STR, "reason",
		          "not listened on in this config: closed", LOG_END);
	if (!takeover_confirm(req, err, sizeof(err))) {
		log_event(LOG_FATAL, "takeover.failed", LOG_STR, "error", err, LOG_END);
		return false;
	}
	takeover_request_release(req);
	own_socket_files = true;
	own_pidfile = has_pidfile(pooler.cfg) && write_pidfile(pooler.cfg->pidfile);
	log_event(LOG_INFO, "takeover.done", LOG_INT, "pid", (long long)getpid(), LOG_INT,
	          "listeners", (long long)pooler.n_listeners, LOG_END);
	return true;
}

int pooler_run(struct config *cfg, bool takeover)
{
	struct ev_loop *ev = ev_default_loop(EVFLAG_AUTO);
	struct takeover_request req = {.conn = -1};
	struct loop_state *ls;
	char ctl_path[108];
	bool have_ctl;
	int status = 1;

	if (ev == NULL)
		return 1;
	pooler_init_state(cfg, ev);
	ls = pooler.loop;
	own_socket_files = !takeover;
	own_pidfile = false;
	ev_timer_init(&stop_timer, on_stop_timer, 0.0, 0.0);
	have_ctl = takeover_socket_path(cfg, ctl_path, sizeof(ctl_path));
	signal(SIGPIPE, SIG_IGN);
	if (!load_auth_file() || !load_tls_and_hba(cfg))
		goto out;
	if (takeover ? !takeover_begin(&req, have_ctl, ctl_path)
	             : !pooler_alone(have_ctl, ctl_path))
		goto out_takeover;
	/* After a takeover the HTTP port is free only once the old process handed over. */
	if (!listeners_open() || (!takeover && !http_start(ls, cfg)))
		goto out_listeners;
	/* Without a control socket pgscope serves all the same; only takeovers are refused. */
	if (have_ctl)
		takeover_listen(ev, ctl_path, inherited);
	if (!takeover && has_pidfile(cfg)) {
		if (!write_pidfile(cfg->pidfile))
			goto out_listeners;
		own_pidfile = true;
	}
	{
		char err[512] = "";

		if (!observe_start(cfg, err, sizeof(err))) {
			log_event(LOG_FATAL, "analysis.failed", LOG_STR, "error", err, LOG_END);
			goto out_pidfile;
		}
	}
	ev_prepare_init(&ls->reaper, on_reap);
	ls->reaper.data = ls;
	ev_prepare_start(ev, &ls->reaper);
	ev_timer_init(&ls->janitor, on_janitor, JANITOR_INTERVAL, JANITOR_INTERVAL);
	ls->janitor.data = ls;
	ev_timer_start(ev, &ls->janitor);
	ev_signal_init(&pooler.sig_term, on_signal, SIGTERM);
	ev_signal_init(&pooler.sig_int, on_signal, SIGINT);
	ev_signal_init(&pooler.sig_hup, on_signal, SIGHUP);
	ev_signal_start(ev, &pooler.sig_term);
	ev_signal_start(ev, &pooler.sig_int);
	ev_signal_start(ev, &pooler.sig_hup);
	ev_signal_init(&pooler.sig_usr1, on_pause_signal, SIGUSR1);
	ev_signal_init(&pooler.sig_usr2, on_pause_signal, SIGUSR2);
	ev_signal_start(ev, &pooler.sig_usr1);
	ev_signal_start(ev, &pooler.sig_usr2);
	prewarm_pools();
	stats_start(ls, cfg->stats_period);
	if (takeover && !takeover_finish(&req)) {
		observe_stop();
		goto out_listeners;
	}
	if (takeover)
		(void)http_start(ls, cfg); /* too late to refuse: without it, pooling goes on */
	log_event(LOG_INFO, "pooler.start", LOG_STR, "config", cfg->path, LOG_STR, "pool_mode",
	          config_pool_mode_name(cfg->pool_mode), LOG_INT, "pid", (long long)getpid(),
	          LOG_END);
	ev_run(ev, 0);
	pooler_close_all();
	drain_closing(ls);
	observe_stop();
	ev_prepare_stop(ev, &ls->reaper);
	ev_timer_stop(ev, &ls->janitor);
	ev_timer_stop(ev, &stop_timer);
	stats_stop(ls);
	loop_release(ls);
	if (own_pidfile)
		unlink(cfg->pidfile);
	log_event(LOG_INFO, "pooler.stop", LOG_INT, "clients_accepted",
	          (long long)ls->stats.clients_accepted, LOG_INT, "statements",
	          (long long)ls->stats.statements, LOG_END);
	status = 0;
	goto out_listeners;
out_pidfile:
	if (own_pidfile)
		unlink(cfg->pidfile);
out_listeners:
	stats_stop(ls);
	http_stop(ls);
	listeners_close();
	takeover_stop(ev, own_socket_files);
out_takeover:
	takeover_request_release(&req);
out:
	if (pooler.users != NULL)
		userlist_free(pooler.users);
	pooler.users = NULL;
	tls_shutdown();
	return status;
}
