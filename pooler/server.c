/*
 * server.c - the pooler's connections to PostgreSQL: connect, log in
 * (trust, cleartext, md5, SCRAM-SHA-256), run the pooler's own queries, and
 * relay results to the linked client.
 *
 * Login is done here rather than through libpq's asynchronous connect: libpq
 * keeps the BackendKeyData secret to itself (cancels must reach the right
 * backend) and owns the socket and its buffer, while the relay needs both.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pooler/auth.h"
#include "pooler/authquery.h"
#include "pooler/client.h"
#include "pooler/conn.h"
#include "pooler/listen.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/pool.h"
#include "pooler/prepared.h"
#include "pooler/proto.h"
#include "pooler/route.h"
#include "pooler/scram.h"
#include "pooler/server.h"
#include "pooler/stmt.h"
#include "pooler/timeout.h"
#include "pooler/tls.h"

static void server_on_read(struct ev_loop *loop, ev_io *w, int revents);
static void server_on_write(struct ev_loop *loop, ev_io *w, int revents);
static void server_lost(struct server *sv, const char *why, bool unread);
static void server_process(struct server *sv);

const char *server_state_name(enum server_state st)
{
	switch (st) {
	case SV_FREE:
		return "free";
	case SV_CONNECTING:
		return "connecting";
	case SV_LOGIN:
		return "login";
	case SV_IDLE:
		return "idle";
	case SV_ACTIVE:
		return "active";
	case SV_INTERNAL:
		return "internal";
	case SV_CANCEL_WAIT:
		return "cancel_wait";
	case SV_LISTEN:
		return "listen";
	case SV_CLOSING:
		return "closing";
	}
	return "?";
}

/* The endpoint's count for servers in state st, or NULL for states it does not count. */
static int *endpoint_count(struct endpoint *ep, enum server_state st)
{
	switch (st) {
	case SV_CONNECTING:
	case SV_LOGIN:
		return &ep->servers_opening;
	case SV_IDLE:
		return &ep->servers_idle;
	case SV_ACTIVE:
	case SV_INTERNAL:
	case SV_CANCEL_WAIT:
	case SV_LISTEN:
		return &ep->servers_busy;
	case SV_FREE:
	case SV_CLOSING:
		break;
	}
	return NULL;
}

/* Move sv's place in the counts by state of its pool and endpoint. */
static void server_count_state(struct server *sv, enum server_state from, enum server_state to)
{
	int *n;

	if (from != SV_FREE)
		sv->pool->servers_by_state[from]--;
	if (to != SV_FREE)
		sv->pool->servers_by_state[to]++;
	n = endpoint_count(sv->endpoint, from);
	if (n != NULL)
		(*n)--;
	n = endpoint_count(sv->endpoint, to);
	if (n != NULL)
		(*n)++;
}

void server_set_state(struct server *sv, enum server_state st)
{
	struct pool *p = sv->pool;

	server_count_state(sv, sv->state, st);
	list_del(&sv->node);
	switch (st) {
	case SV_CONNECTING:
	case SV_LOGIN:
		list_append(&p->login_servers, &sv->node);
		break;
	case SV_IDLE:
		sv->last_used = ev_now(sv->conn.ev);
		list_append(&p->idle_servers, &sv->node);
		break;
	case SV_ACTIVE:
	case SV_INTERNAL:
	case SV_CANCEL_WAIT:
	case SV_LISTEN:
		list_append(&p->active_servers, &sv->node);
		break;
	case SV_CLOSING:
		list_append(&sv->loop->dead_servers, &sv->node);
		break;
	case SV_FREE:
	default:
		abort(); /* servers are only freed from SV_CLOSING by the reaper */
	}
	sv->state = st;
}

const char *server_socket_dir(const struct db_config *db)
{
	const char *dir = pooler.cfg->unix_socket_dir;

	if (db->host != NULL)
		return db->host;
	return dir != NULL && dir[0] != 0 ? dir : "/var/run/postgresql";
}

int server_open_socket(const struct db_config *db, char *err, size_t errlen)
{
	char port[16];
	struct addrinfo hints, *res = NULL;
	int fd, rc;

	snprintf(port, sizeof(port), "%d", db->port);
	if (db->host == NULL || db->host[0] == '/') {
		struct sockaddr_un sun;
		const char *dir = server_socket_dir(db);

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/.s.PGSQL.%d", dir,
		                     db->port) >= sizeof(sun.sun_path)) {
			snprintf(err, errlen, "socket path too long");
			return -1;
		}
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd == -1 || !conn_prepare_socket(fd, false))
			goto out_errno;
		do {
			rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
		} while (rc == -1 && errno == EINTR);
		if (rc == -1 && errno != EINPROGRESS && errno != EAGAIN)
			goto out_errno;
		return fd;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	/* Host names are resolved synchronously; IP addresses cost nothing. */
	rc = getaddrinfo(db->host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "could not resolve \"%s\": %s", db->host, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd == -1 || !conn_prepare_socket(fd, true)) {
		freeaddrinfo(res);
		goto out_errno;
	}
	(void)conn_set_keepalive(fd, pooler.cfg);
	do {
		rc = connect(fd, res->ai_addr, res->ai_addrlen);
	} while (rc == -1 && errno == EINTR);
	freeaddrinfo(res);
	if (rc == -1 && errno != EINPROGRESS)
		goto out_errno;
	return fd;
out_errno:
	snprintf(err, errlen, "could not connect to %s:%d: %s", db->host ? db->host : "(socket)",
	         db->port, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

struct server *server_connect(struct pool *p, struct endpoint *ep)
{
	struct config *cfg = pooler.cfg;
	struct server *sv;
	char err[256];
	int fd;

	endpoint_connecting(ep, ev_now(p->loop->ev));
	fd = server_open_socket(p->db, err, sizeof(err));
	if (fd == -1) {
		log_event(LOG_ERROR, "server.connect_failed", LOG_STR, "db", p->db->name, LOG_STR,
		          "error", err, LOG_END);
		pool_server_failed(p, NULL, ep, ENDPOINT_FAIL_CONNECT, SQLSTATE_CANNOT_CONNECT,
		                   err);
		return NULL;
	}
	sv = calloc(1, sizeof(*sv));
	if (sv == NULL) {
		close(fd);
		return NULL;
	}
	list_init(&sv->node);
	sv->loop = p->loop;
	sv->id = pooler_next_id();
	sv->pool = p;
	sv->endpoint = ep;
	sv->db_gen = p->db_gen;
	sv->created = ev_now(sv->loop->ev);
	sv->tx_status = 'I';
	params_init(&sv->params);
	params_init(&sv->defaults);
	ps_server_init(&sv->ps);
	conn_init(&sv->conn, sv->loop->ev, fd, cfg->max_packet_size + PROTO_HDR,
	          cfg->max_packet_size + 65536, server_on_read, server_on_write, sv);
	p->n_servers++;
	sv->loop->stats.servers_opened++;
	server_set_state(sv, SV_CONNECTING);
	ev_io_start(sv->loop->ev, &sv->conn.wio);
	log_event(LOG_DEBUG, "server.connecting", LOG_INT, "server", (long long)sv->id, LOG_STR,
	          "db", p->db->name, LOG_STR, "user", p->user, LOG_END);
	return sv;
}

static bool server_send_startup(struct server *sv)
{
	const struct db_config *db = sv->pool->db;
	struct proto_writer w;

	proto_begin(&w, &sv->conn.out, 0);
	proto_put_int32(&w, PROTO_VERSION_3);
	proto_put_str(&w, "user");
	proto_put_str(&w, sv->pool->user);
	proto_put_str(&w, "database");
	proto_put_str(&w, db->dbname ? db->dbname : db->name);
	if (db->client_encoding) {
		proto_put_str(&w, "client_encoding");
		proto_put_str(&w, db->client_encoding);
	}
	if (db->datestyle) {
		proto_put_str(&w, "DateStyle");
		proto_put_str(&w, db->datestyle);
	}
	if (db->timezone) {
		proto_put_str(&w, "TimeZone");
		proto_put_str(&w, db->timezone);
	}
	if (db->application_name) {
		proto_put_str(&w, "application_name");
		proto_put_str(&w, db->application_name);
	}
	proto_put_byte(&w, 0);
	return proto_end(&w);
}

/* The startup packet opens the login proper (after TLS, if any). */
static void server_begin_login(struct server *sv)
{
	if (!server_send_startup(sv)) {
		server_close(sv, "startup packet too large");
		return;
	}
	if (!server_flush(sv))
		return;
	conn_start_read(&sv->conn);
}

/* ---- TLS before the login (server_tls_sslmode) ---- */

/* Where a server connection is in its TLS negotiation; NONE once the login proper runs. */
enum server_tls_step {
	SV_TLS_NONE = 0,
	SV_TLS_ASKED,     /* SSLRequest sent, awaiting 'S' or 'N' */
	SV_TLS_HANDSHAKE, /* 'S' received, handshake under way */
};

/* From prefer on; a Unix socket is local and never asked, as libpq does. */
bool server_tls_asked(const struct db_config *db)
{
	return pooler.cfg->server_tls_sslmode >= TLS_PREFER && db->host != NULL &&
	       db->host[0] != '/';
}

static void server_tls_failed(struct server *sv, const char *msg)
{
	log_event(LOG_ERROR, "server.login_failed", LOG_INT, "server", (long long)sv->id, LOG_STR,
	          "db", sv->pool->db->name, LOG_STR, "error", msg, LOG_END);
	pool_server_failed(sv->pool, sv, sv->endpoint, ENDPOINT_FAIL_LOGIN,
	                   SQLSTATE_CONNECTION_FAILURE, msg);
	sv->dirty = true;
	server_close(sv, msg);
}

static void server_ask_tls(struct server *sv)
{
	tls_queue_request(&sv->conn);
	sv->tls_step = SV_TLS_ASKED;
	if (!server_flush(sv))
		return;
	conn_start_read(&sv->conn);
}

static void server_tls_handshake(struct server *sv)
{
	char err[256];

	switch (tls_handshake(&sv->conn, err, sizeof(err))) {
	case CONN_OK:
		sv->tls_step = SV_TLS_NONE;
		server_begin_login(sv);
		return;
	case CONN_AGAIN:
		return;
	case CONN_EOF:
	case CONN_ERROR:
		server_tls_failed(sv, err);
		return;
	}
}

/* The server's one-byte answer to SSLRequest. */
static void server_tls_answer(struct server *sv)
{
	char err[256];

	switch (tls_read_answer(&sv->conn, pooler.cfg->server_tls_sslmode, sv->pool->db->host, err,
	                        sizeof(err))) {
	case TLS_ANSWER_WAIT:
		return;
	case TLS_ANSWER_PLAIN:
		sv->tls_step = SV_TLS_NONE;
		server_begin_login(sv);
		return;
	case TLS_ANSWER_TLS:
		sv->tls_step = SV_TLS_HANDSHAKE;
		server_tls_handshake(sv);
		return;
	case TLS_ANSWER_FAILED:
		server_tls_failed(sv, err);
		return;
	}
}

/* The non-blocking connect finished (or failed). */
static void server_connected(struct server *sv)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	char msg[256];

	ev_io_stop(sv->loop->ev, &sv->conn.wio);
	if (getsockopt(sv->conn.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		soerr = errno;
	if (soerr != 0) {
		snprintf(msg, sizeof(msg), "could not connect to server: %s", strerror(soerr));
		pool_server_failed(sv->pool, sv, sv->endpoint, ENDPOINT_FAIL_CONNECT,
		                   SQLSTATE_CANNOT_CONNECT, msg);
		server_close(sv, msg);
		return;
	}
	server_set_state(sv, SV_LOGIN);
	if (server_tls_asked(sv->pool->db)) {
		server_ask_tls(sv);
		return;
	}
	server_begin_login(sv);
}

bool server_idle_gone(const struct server *sv)
{
	char byte;
	ssize_t n;

	if (pbuf_len(&sv->conn.in) > 0)
		return true;
	n = recv(sv->conn.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return !(n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

bool server_flush(struct server *sv)
{
	enum conn_io r = conn_flush(&sv->conn);

	if (r == CONN_ERROR && sv->client != NULL && sv->state == SV_ACTIVE) {
		/* Refused (reset, broken pipe): the request did not get there whole. */
		server_lost(sv, "write to server failed", errno == EPIPE || errno == ECONNRESET);
		return false;
	}
	if (r == CONN_ERROR) {
		server_close(sv, "write to server failed");
		return false;
	}
	if (r == CONN_OK && sv->client != NULL && sv->client->conn.paused &&
	    pbuf_len(&sv->conn.out) < CONN_LOW_WATER)
		client_resume(sv->client);
	return true;
}

static void server_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *sv = w->data;

	if (sv->state == SV_CONNECTING) {
		server_connected(sv);
		return;
	}
	if (sv->tls_step == SV_TLS_HANDSHAKE) {
		server_tls_handshake(sv);
		return;
	}
	if (sv->conn.io_wants_write) {
		/* The transport's read was waiting for this writability. */
		server_on_read(loop, &sv->conn.rio, EV_READ);
		if (sv->state == SV_CLOSING)
			return;
	}
	server_flush(sv);
}

/*
 * After the server's end of the connection: whether it refused bytes sent
 * to it (a reset came back), which means it had closed before they arrived
 * and never read them.
 */
static bool server_refused_data(const struct server *sv)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(sv->conn.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return false;
	return err == ECONNRESET || err == EPIPE;
}

/*
 * The connection broke. A client linked to it is told, then it is closed.
 * UNREAD: the server reset the connection, which it does when it exits with
 * bytes it never read; in transaction mode pool_server_died() decides what
 * the client is told, or whether its request goes to another server.
 */
static void server_lost(struct server *sv, const char *why, bool unread)
{
	struct client *c = sv->client;

	if (sv->state == SV_LOGIN || sv->state == SV_CONNECTING) {
		char msg[256];

		snprintf(msg, sizeof(msg), "server closed the connection during login: %s", why);
		pool_server_failed(sv->pool, sv, sv->endpoint, ENDPOINT_FAIL_LOST_IN_LOGIN,
		                   SQLSTATE_CONNECTION_FAILURE, msg);
	}
	if (c != NULL && sv->pool->mode != POOL_MODE_SESSION && !sv->fatal_relayed) {
		pool_server_died(sv, why, unread);
		return;
	}
	if (c != NULL && sv->fatal_relayed) {
		/* The client has the server's own FATAL error: one error per failure. */
		client_end(c, why);
	} else if (c != NULL) {
		char msg[256];

		snprintf(msg, sizeof(msg), "server connection lost: %s", why);
		client_fail(c, SQLSTATE_CONNECTION_FAILURE, msg);
	}
	sv->dirty = true;
	server_close(sv, why);
}

static void server_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *sv = w->data;
	enum conn_io r;

	if (sv->tls_step == SV_TLS_ASKED) {
		server_tls_answer(sv);
		return;
	}
	if (sv->tls_step == SV_TLS_HANDSHAKE) {
		server_tls_handshake(sv);
		return;
	}
	r = conn_fill(&sv->conn, pooler.cfg->pkt_buf);
	if (r == CONN_AGAIN)
		return;
	if (r == CONN_EOF || r == CONN_ERROR) {
		bool reset = r == CONN_ERROR ? errno == ECONNRESET : server_refused_data(sv);

		server_lost(sv, r == CONN_EOF ? "server closed the connection" : strerror(errno),
		            reset);
		return;
	}
	server_process(sv);
}

/* ---- login ---- */

static bool all_bodies(uint8_t type)
{
	return true;
}

static enum relay_action login_fail(struct server *sv, const char *sqlstate, const char *msg)
{
	log_event(LOG_ERROR, "server.login_failed", LOG_INT, "server", (long long)sv->id, LOG_STR,
	          "db", sv->pool->db->name, LOG_STR, "user", sv->pool->user, LOG_STR, "sqlstate",
	          sqlstate, LOG_STR, "error", msg, LOG_END);
	pool_server_failed(sv->pool, sv, sv->endpoint, ENDPOINT_FAIL_LOGIN, sqlstate, msg);
	sv->dirty = true;
	server_close(sv, "login failed");
	return RELAY_FAIL;
}

static enum relay_action login_sasl(struct server *sv, uint32_t code, const uint8_t *data,
                                    size_t len)
{
	struct pool *p = sv->pool;
	char out[1024];
	const char *err = "";

	if (code == PROTO_AUTH_SASL) {
		if (!scram_mechanism_offered((const char *)data, len))
			return login_fail(sv, SQLSTATE_INVALID_AUTH_SPEC,
			                  "server offers no supported SASL mechanism");
		sv->scram = calloc(1, sizeof(*sv->scram));
		if (sv->scram == NULL)
			return login_fail(sv, SQLSTATE_INTERNAL_ERROR, "out of memory");
		if (p->scram_keys != NULL) {
			if (scram_client_init_keys(sv->scram, p->scram_keys, &err) != SCRAM_OK)
				return login_fail(sv, SQLSTATE_INTERNAL_ERROR, err);
		} else if (p->password[0] == 0 ||
		           auth_secret_kind(p->password) != AUTH_SECRET_PLAIN) {
			return login_fail(sv, SQLSTATE_INVALID_PASSWORD,
			                  "server asks for SCRAM authentication and no plaintext "
			                  "password is configured for this user");
		} else if (scram_client_init(sv->scram, p->password, &err) != SCRAM_OK) {
			return login_fail(sv, SQLSTATE_INTERNAL_ERROR, err);
		}
		if (scram_client_first(sv->scram, out, sizeof(out), &err) != SCRAM_OK)
			return login_fail(sv, SQLSTATE_INTERNAL_ERROR, err);
		if (!proto_write_sasl_initial(&sv->conn.out, SCRAM_MECHANISM, out, strlen(out)))
			return login_fail(sv, SQLSTATE_INTERNAL_ERROR, "out of buffer space");
		return RELAY_CONSUME;
	}
	if (sv->scram == NULL)
		return login_fail(sv, SQLSTATE_PROTOCOL_VIOLATION, "unexpected SASL message");
	if (code == PROTO_AUTH_SASL_CONTINUE) {
		if (scram_client_handle_server_first(sv->scram, (const char *)data, len, out,
		                                     sizeof(out), &err) != SCRAM_OK)
			return login_fail(sv, SQLSTATE_INVALID_PASSWORD, err);
		if (!proto_write_sasl_response(&sv->conn.out, out, strlen(out)))
			return login_fail(sv, SQLSTATE_INTERNAL_ERROR, "out of buffer space");
		return RELAY_CONSUME;
	}
	if (scram_client_verify_server_final(sv->scram, (const char *)data, len, &err) != SCRAM_OK)
		return login_fail(sv, SQLSTATE_INVALID_PASSWORD, err);
	return RELAY_CONSUME;
}

static enum relay_action login_auth(struct server *sv, const uint8_t *body, size_t len)
{
	struct pool *p = sv->pool;
	struct proto_reader r;
	uint32_t code;

	proto_reader_init(&r, body, len);
	code = proto_read_int32(&r);
	if (r.bad)
		return login_fail(sv, SQLSTATE_PROTOCOL_VIOLATION,
		                  "malformed authentication request");
	switch (code) {
	case PROTO_AUTH_OK:
		return RELAY_CONSUME;
	case PROTO_AUTH_CLEARTEXT:
		if (p->password[0] == 0 || auth_secret_kind(p->password) != AUTH_SECRET_PLAIN)
			return login_fail(sv, SQLSTATE_INVALID_PASSWORD,
			                  "server asks for a cleartext password and none is "
			                  "configured for this user");
		if (!proto_write_password(&sv->conn.out, p->password))
			return login_fail(sv, SQLSTATE_INTERNAL_ERROR, "out of buffer space");
		return RELAY_CONSUME;
	case PROTO_AUTH_MD5: {
		char resp[AUTH_MD5_BUF];
		const uint8_t *salt = proto_read_bytes(&r, AUTH_MD5_SALT_LEN);

		if (salt == NULL)
			return login_fail(sv, SQLSTATE_PROTOCOL_VIOLATION, "malformed md5 request");
		if (p->password[0] == 0 || !auth_md5_response(p->user, p->password, salt, resp))
			return login_fail(sv, SQLSTATE_INVALID_PASSWORD,
			                  "server asks for md5 authentication and no usable "
			                  "password is configured for this user");
		if (!proto_write_password(&sv->conn.out, resp))
			return login_fail(sv, SQLSTATE_INTERNAL_ERROR, "out of buffer space");
		return RELAY_CONSUME;
	}
	case PROTO_AUTH_SASL:
	case PROTO_AUTH_SASL_CONTINUE:
	case PROTO_AUTH_SASL_FINAL:
		return login_sasl(sv, code, r.pos, proto_reader_left(&r));
	default: {
		char msg[128];

		snprintf(msg, sizeof(msg), "server asks for unsupported authentication method %u",
		         code);
		return login_fail(sv, SQLSTATE_INVALID_AUTH_SPEC, msg);
	}
	}
}

static void server_login_done(struct server *sv)
{
	struct pool *p = sv->pool;

	if (sv->scram != NULL) {
		scram_client_release(sv->scram);
		free(sv->scram);
		sv->scram = NULL;
	}
	endpoint_login_ok(sv->endpoint, ev_now(sv->conn.ev));
	params_copy(&sv->defaults, &sv->params);
	params_copy(&p->server_params, &sv->params);
	p->have_server_params = true;
	log_event(LOG_INFO, "server.login", LOG_INT, "server", (long long)sv->id, LOG_STR, "db",
	          p->db->name, LOG_STR, "user", p->user, LOG_INT, "backend_pid",
	          (long long)sv->backend_pid, LOG_END);
	if (sv->auth_conn) {
		authquery_server_ready(sv);
		return;
	}
	pool_server_logged_in(sv);
}

static enum relay_action login_msg(void *owner, const struct relay_msg *m)
{
	struct server *sv = owner;
	struct proto_reader r;

	proto_reader_init(&r, m->body, m->len);
	switch (m->type) {
	case 'R':
		return login_auth(sv, m->body, m->len);
	case 'S': {
		const char *name = proto_read_str(&r);
		const char *value = proto_read_str(&r);

		if (!r.bad)
			params_set(&sv->params, name, value);
		return RELAY_CONSUME;
	}
	case 'K':
		sv->backend_pid = proto_read_int32(&r);
		sv->backend_key = proto_read_int32(&r);
		return RELAY_CONSUME;
	case 'E': {
		struct proto_error_info e;

		if (!proto_parse_error(m->body, m->len, &e))
			return login_fail(sv, SQLSTATE_PROTOCOL_VIOLATION,
			                  "malformed error from server");
		return login_fail(sv, e.sqlstate, e.message);
	}
	case 'N':
	case 'v': /* NegotiateProtocolVersion: we ask for 3.0 only */
		return RELAY_CONSUME;
	case 'Z':
		sv->tx_status = m->len > 0 ? (char)m->body[0] : 'I';
		pbuf_consume(&sv->conn.in, PROTO_HDR + m->len);
		server_login_done(sv);
		return RELAY_FAIL; /* consumed and handled: stop this relay pass */
	default:
		return login_fail(sv, SQLSTATE_PROTOCOL_VIOLATION,
		                  "unexpected message during login");
	}
}

static const struct relay_ops login_ops = {
    .needs_body = all_bodies,
    .on_msg = login_msg,
    .max_len = 65536,
};

/* ---- the pooler's own queries ---- */

bool server_query(struct server *sv, const char *sql, const struct server_query_ops *ops, void *arg)
{
	sv->query_ops = ops;
	sv->query_arg = arg;
	sv->query_failed = false;
	sv->error_sqlstate[0] = 0;
	sv->error_message[0] = 0;
	server_set_state(sv, SV_INTERNAL);
	if (!proto_write_query(&sv->conn.out, sql)) {
		server_close(sv, "internal query too large");
		return false;
	}
	if (!server_flush(sv))
		return false;
	conn_start_read(&sv->conn);
	return true;
}

const struct server_query_ops *server_query_running(const struct server *sv)
{
	return sv->state == SV_INTERNAL ? sv->query_ops : NULL;
}

/* Record the first error of an internal query. */
static void query_error(struct server *sv, const char *sqlstate, const char *message)
{
	if (!sv->query_failed) {
		snprintf(sv->error_sqlstate, sizeof(sv->error_sqlstate), "%s", sqlstate);
		snprintf(sv->error_message, sizeof(sv->error_message), "%s", message);
	}
	sv->query_failed = true;
}

/* A DataRow of an internal query: split into NUL-terminated values for on_row. */
static void query_row(struct server *sv, const uint8_t *body, size_t len)
{
	const struct server_query_ops *ops = sv->query_ops;
	const char *values[SERVER_QUERY_MAX_COLUMNS];
	struct proto_reader r;
	char *copy;
	size_t used = 0;
	int n;

	if (ops == NULL || ops->on_row == NULL || sv->query_failed)
		return;
	proto_reader_init(&r, body, len);
	n = (int16_t)proto_read_int16(&r);
	if (r.bad || n < 0 || n > SERVER_QUERY_MAX_COLUMNS) {
		query_error(sv, SQLSTATE_PROTOCOL_VIOLATION, "unusable row in an internal query");
		return;
	}
	/* Each value gets its own terminator: at most len + n bytes in all. */
	copy = malloc(len + (size_t)n + 1);
	if (copy == NULL) {
		query_error(sv, SQLSTATE_INTERNAL_ERROR, "out of memory");
		return;
	}
	for (int i = 0; i < n; i++) {
		int32_t vlen = (int32_t)proto_read_int32(&r);
		const uint8_t *v;

		if (vlen == -1) {
			values[i] = NULL;
			continue;
		}
		v = vlen >= 0 ? proto_read_bytes(&r, (uint32_t)vlen) : NULL;
		if (r.bad || v == NULL) {
			free(copy);
			query_error(sv, SQLSTATE_PROTOCOL_VIOLATION,
			            "malformed row in an internal query");
			return;
		}
		memcpy(copy + used, v, (size_t)vlen);
		copy[used + (size_t)vlen] = 0;
		values[i] = copy + used;
		used += (size_t)vlen + 1;
	}
	ops->on_row(sv, sv->query_arg, n, values);
	free(copy);
}

/* The internal query's ReadyForQuery: hand the server to the query's owner. */
static void query_done(struct server *sv)
{
	const struct server_query_ops *ops = sv->query_ops;
	void *arg = sv->query_arg;

	sv->query_ops = NULL;
	sv->query_arg = NULL;
	if (ops == NULL || ops->on_done == NULL) {
		server_close(sv, "internal query without an owner");
		return;
	}
	ops->on_done(sv, arg, sv->query_failed);
}

static enum relay_action internal_msg(void *owner, const struct relay_msg *m)
{
	struct server *sv = owner;
	struct proto_reader r;

	proto_reader_init(&r, m->body, m->len);
	switch (m->type) {
	case 'D':
		query_row(sv, m->body, m->len);
		return RELAY_CONSUME;
	case 'E': {
		struct proto_error_info e;

		if (proto_parse_error(m->body, m->len, &e))
			query_error(sv, e.sqlstate, e.message);
		else
			query_error(sv, SQLSTATE_PROTOCOL_VIOLATION, "malformed error from server");
		return RELAY_CONSUME;
	}
	case 'S': {
		const char *name = proto_read_str(&r);
		const char *value = proto_read_str(&r);

		if (r.bad)
			return RELAY_CONSUME;
		params_set(&sv->params, name, value);
		/* Keep the client's wish in the server's spelling ("utf8" -> "UTF8"). */
		if (sv->client != NULL && params_get(&sv->client->params, name) != NULL)
			params_set(&sv->client->params, name, value);
		return RELAY_CONSUME;
	}
	case 'A':
		if (sv->listen_conn)
			listen_deliver(sv->pool, m->body, m->len);
		return RELAY_CONSUME;
	case 'Z':
		sv->tx_status = m->len > 0 ? (char)m->body[0] : 'I';
		pbuf_consume(&sv->conn.in, PROTO_HDR + m->len);
		query_done(sv);
		return RELAY_FAIL; /* handled: stop this pass */
	default:
		return RELAY_CONSUME;
	}
}

static const struct relay_ops internal_ops = {
    .needs_body = all_bodies,
    .on_msg = internal_msg,
    .max_len = 1024 * 1024,
};

/* ---- relaying to the client ---- */

static bool active_needs_body(uint8_t type)
{
	return type == 'Z' || type == 'C' || type == 'E' || type == 'S' || type == '1' ||
	       type == '3';
}

/* A tag that drops every prepared statement of the session. */
static bool tag_drops_statements(const char *tag)
{
	return strcmp(tag, "DISCARD ALL") == 0 || strcmp(tag, "DEALLOCATE ALL") == 0;
}

/* Transaction/statement mode: match answers to what prepared.c injected. */
static enum relay_action pooled_response(struct server *sv, const struct relay_msg *m)
{
	bool broken;
	bool swallow = ps_server_response(sv, m, &broken);

	if (broken) {
		server_lost(sv, "unexpected ParseComplete/CloseComplete from server", false);
		return RELAY_FAIL;
	}
	return swallow ? RELAY_CONSUME : RELAY_FORWARD;
}

static enum relay_action active_msg(void *owner, const struct relay_msg *m)
{
	struct server *sv = owner;
	struct client *c = sv->client;
	ev_tstamp now = ev_now(sv->conn.ev);
	struct proto_reader r;

	bool pooled = sv->pool->mode != POOL_MODE_SESSION;

	switch (m->type) {
	case '1':
	case '3':
		return pooled ? pooled_response(sv, m) : RELAY_FORWARD;
	case 'C': {
		char tag[64];
		size_t n = m->len < sizeof(tag) ? m->len : sizeof(tag) - 1;

		memcpy(tag, m->body, n);
		tag[n] = 0;
		stmt_command_complete(c, tag, now);
		txn_command_complete(&c->txn, tag);
		if (pooled)
			pool_set_tag(c, sv, tag);
		if (pooled && strcmp(tag, "LISTEN") == 0)
			sv->dirty = true; /* it now listens for one client: not for reuse */
		if (pooled && strcmp(tag, "ROLLBACK") == 0)
			ps_server_rolled_back(&sv->ps);
		if (pooled && tag_drops_statements(tag))
			ps_server_dropped_all(sv);
		return RELAY_FORWARD;
	}
	case 'E': {
		struct proto_error_info e;
		bool parsed = proto_parse_error(m->body, m->len, &e);
		enum relay_action act;

		if (parsed) {
			stmt_error(c, e.sqlstate, now);
			if ((strcmp(e.severity, "FATAL") == 0 ||
			     strcmp(e.severity, "PANIC") == 0) &&
			    pooled) {
				/* The close that follows decides what the client hears. */
				snprintf(sv->error_sqlstate, sizeof(sv->error_sqlstate), "%s",
				         e.sqlstate);
				snprintf(sv->error_message, sizeof(sv->error_message), "%s",
				         e.message);
				sv->fatal_held = true;
				return RELAY_CONSUME;
			}
			if (strcmp(e.severity, "FATAL") == 0 || strcmp(e.severity, "PANIC") == 0)
				sv->fatal_relayed = true;
		}
		if (c->pending_set != NULL)
			c->pending_set->failed = true;
		act = pooled ? pooled_response(sv, m) : RELAY_FORWARD;
		/* The cancel of a query_timeout: the client gets our error instead. */
		if (act == RELAY_FORWARD && parsed && c->qt.cancel_at > 0 &&
		    timeout_replace_error(c, &e))
			return RELAY_CONSUME;
		return act;
	}
	case 'I':
	case 's':
		stmt_execute_done(c, now);
		return RELAY_FORWARD;
	case 'S': {
		const char *name, *value;

		proto_reader_init(&r, m->body, m->len);
		name = proto_read_str(&r);
		value = proto_read_str(&r);
		if (!r.bad) {
			params_set(&sv->params, name, value);
			if (params_is_tracked(name) || params_get(&c->params, name) != NULL)
				params_set(&c->params, name, value);
		}
		return RELAY_FORWARD;
	}
	case 'Z':
		sv->tx_status = m->len > 0 ? (char)m->body[0] : 'I';
		txn_ready(&c->txn, sv->tx_status, now);
		if (c->qt.cancel_at > 0 || c->qt.hint_ms >= 0)
			timeout_request_answered(c);
		stmt_ready(c, now);
		if (sv->tx_status == 'I' && c->xact_start > 0 && txn_settled(&c->txn)) {
			sv->pool->traffic.xact_time += now - c->xact_start;
			sv->endpoint->traffic.xact_time += now - c->xact_start;
			c->xact_start = 0;
		}
		if (pooled && pooled_response(sv, m) == RELAY_FAIL)
			return RELAY_FAIL;
		if (sv->pool->mode == POOL_MODE_STATEMENT && sv->tx_status != 'I') {
			client_fail(c, SQLSTATE_FEATURE_NOT_SUPPORTED,
			            "transaction blocks are not allowed in statement pooling mode");
			return RELAY_FAIL;
		}
		if (c->pending_set != NULL)
			pool_apply_set(c, sv);
		return c->txn.ready_due == 0 ? RELAY_FORWARD_STOP : RELAY_FORWARD;
	default:
		return RELAY_FORWARD;
	}
}

void server_relay_ops_build(struct relay_ops *active, size_t max_len)
{
	active->needs_body = active_needs_body;
	active->on_msg = active_msg;
	active->max_len = max_len;
}

bool server_between_transactions(const struct server *sv)
{
	return txn_settled(&sv->client->txn) && sv->tx_status == 'I' && sv->conn.pass_left == 0;
}

static bool server_release_due(const struct server *sv)
{
	return sv->pool->mode != POOL_MODE_SESSION && server_between_transactions(sv);
}

void server_relay(struct server *sv)
{
	const struct relay_ops *ops = &sv->loop->server_active_ops;
	struct client *c = sv->client;
	enum relay_result res;

	for (;;) {
		size_t out_before = pbuf_len(&c->conn.out);

		res = conn_relay(&sv->conn, &c->conn.out, ops, sv);
		route_defer_check(c);
		if (c->replay_on && !c->route_defer && pbuf_len(&c->conn.out) != out_before)
			client_replay_drop(c); /* the server answered: its request ran */
		if (!client_flush(c))
			return; /* the client went away; it released this server */
		if (res == RELAY_STOPPED && server_release_due(sv)) {
			pool_transaction_done(c);
			return;
		}
		if (res == RELAY_STOPPED && c->route_held) {
			/* A transaction is open on the replica: what was held follows it. */
			c->route_held = false;
			client_relay(c);
			if (sv->client != c)
				return;
		}
		/* Session mode: a stopping pgscope ends the session between transactions. */
		if (res == RELAY_STOPPED && pooler.shutting_down &&
		    server_between_transactions(sv) && pooler_end_if_stopping(c))
			return;
		if (res == RELAY_STOPPED)
			continue;
		/*
		 * Paused at the client's high-water mark, but the flush just sent
		 * it below: go on now, since no later flush would resume us.
		 */
		if (res != RELAY_PAUSED || pbuf_len(&c->conn.out) >= CONN_HIGH_WATER)
			break;
	}
	switch (res) {
	case RELAY_DRAINED:
		return;
	case RELAY_PAUSED:
		sv->conn.paused = true;
		conn_stop_read(&sv->conn);
		return;
	case RELAY_FAILED:
		return; /* the handler has dealt with it */
	case RELAY_BAD_LEN:
	case RELAY_TOO_LONG:
	case RELAY_NO_ROOM:
	case RELAY_STOPPED:
		server_lost(sv, "invalid message from server", false);
		return;
	}
}

void server_resume(struct server *sv)
{
	if (sv->state != SV_ACTIVE)
		return;
	conn_start_read(&sv->conn);
	server_relay(sv);
}

static enum relay_action listen_msg(void *owner, const struct relay_msg *m)
{
	struct server *sv = owner;

	if (m->type == 'A')
		listen_deliver(sv->pool, m->body, m->len);
	return RELAY_CONSUME;
}

static const struct relay_ops listen_ops = {
    .needs_body = all_bodies,
    .on_msg = listen_msg,
    .max_len = 1024 * 1024,
};

static void server_process(struct server *sv)
{
	enum relay_result res;

	switch (sv->state) {
	case SV_LOGIN:
		res = conn_relay(&sv->conn, NULL, &login_ops, sv);
		if (res == RELAY_BAD_LEN || res == RELAY_TOO_LONG)
			login_fail(sv, SQLSTATE_PROTOCOL_VIOLATION, "invalid message from server");
		else if (sv->state == SV_LOGIN)
			server_flush(sv);
		return;
	case SV_INTERNAL:
		res = conn_relay(&sv->conn, NULL, &internal_ops, sv);
		if (res == RELAY_BAD_LEN || res == RELAY_TOO_LONG)
			server_lost(sv, "invalid message from server", false);
		else if (sv->state == SV_LISTEN && pbuf_len(&sv->conn.in) > 0)
			server_process(sv); /* notifications read together with the reply */
		return;
	case SV_ACTIVE:
		server_relay(sv);
		return;
	case SV_LISTEN:
		res = conn_relay(&sv->conn, NULL, &listen_ops, sv);
		if (res == RELAY_BAD_LEN || res == RELAY_TOO_LONG)
			server_lost(sv, "invalid message from server", false);
		return;
	case SV_IDLE:
	case SV_CANCEL_WAIT:
		/* An idle server only speaks when it is going away (e.g. terminated). */
		server_close(sv, "unexpected data from idle server");
		return;
	case SV_CONNECTING:
	case SV_CLOSING:
	case SV_FREE:
		return;
	}
}

void server_close(struct server *sv, const char *reason)
{
	struct pool *p = sv->pool;

	if (sv->state == SV_CLOSING || sv->state == SV_FREE)
		return;
	if (sv->state == SV_INTERNAL && sv->query_ops != NULL && sv->query_ops->on_close != NULL)
		sv->query_ops->on_close(sv, sv->query_arg);
	if (sv->client != NULL) {
		sv->client->server = NULL;
		sv->client = NULL;
	}
	if (!sv->dirty && (sv->state == SV_IDLE || sv->state == SV_ACTIVE)) {
		/* Best effort: a polite goodbye lets the backend exit at once. */
		pbuf_consume(&sv->conn.out, pbuf_len(&sv->conn.out));
		if (proto_write_terminate(&sv->conn.out))
			conn_flush(&sv->conn);
	}
	log_event(LOG_INFO, "server.close", LOG_INT, "server", (long long)sv->id, LOG_STR, "db",
	          p->db->name, LOG_STR, "user", p->user, LOG_STR, "state",
	          server_state_name(sv->state), LOG_STR, "reason", reason, LOG_END);
	conn_close(&sv->conn);
	server_set_state(sv, SV_CLOSING);
	if (sv->listen_conn)
		listen_server_gone(sv);
	else if (sv->auth_conn)
		authquery_server_gone(sv);
	else
		p->n_servers--;
	pool_server_gone(sv);
}

void server_free(struct server *sv)
{
	server_count_state(sv, sv->state, SV_FREE);
	list_del(&sv->node);
	if (sv->scram != NULL) {
		scram_client_release(sv->scram);
		free(sv->scram);
	}
	params_clear(&sv->params);
	params_clear(&sv->defaults);
	ps_server_release(&sv->ps);
	free(sv);
}
