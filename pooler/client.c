/*
 * client.c - the client side of the pooler: startup and authentication,
 * login completion with the pooler's own BackendKeyData, and relaying
 * requests to the linked server.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pooler/admin.h"
#include "pooler/auth.h"
#include "pooler/authquery.h"
#include "pooler/cancel.h"
#include "pooler/client.h"
#include "pooler/conn.h"
#include "pooler/hba.h"
#include "pooler/listen.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/observe.h"
#include "pooler/pool.h"
#include "pooler/prepared.h"
#include "pooler/proto.h"
#include "pooler/route.h"
#include "pooler/scram.h"
#include "pooler/server.h"
#include "pooler/sqlscan.h"
#include "pooler/stmt.h"
#include "pooler/timeout.h"
#include "pooler/tls.h"
#include "pooler/userlist.h"

/* What a client waiting for a server may queue before it is no longer read. */
#define CLIENT_WAIT_BUFFER (64u * 1024u)

/* The longest Query kept to be sent again if its server dies unread (client_replay_*()). */
#define CLIENT_REPLAY_MAX (8u * 1024u)

static void client_on_read(struct ev_loop *loop, ev_io *w, int revents);
static void text_refs_release(struct htab *t);
static void client_on_write(struct ev_loop *loop, ev_io *w, int revents);
static void client_linger(struct client *c);

const char *client_state_name(enum client_state st)
{
	switch (st) {
	case CL_FREE:
		return "free";
	case CL_STARTUP:
		return "startup";
	case CL_AUTH:
		return "auth";
	case CL_LOGIN:
		return "login";
	case CL_IDLE:
		return "idle";
	case CL_WAITING:
		return "waiting";
	case CL_ACTIVE:
		return "active";
	case CL_ADMIN:
		return "admin";
	case CL_CLOSING:
		return "closing";
	case CL_LINGER:
		return "linger";
	}
	return "?";
}

/* States in which a client belongs to its pool (it has one from CL_LOGIN on). */
static bool client_state_in_pool(enum client_state st)
{
	return st != CL_STARTUP && st != CL_AUTH && st != CL_FREE;
}

void client_set_state(struct client *c, enum client_state st)
{
	struct pool *p = c->pool;

	if (p != NULL && client_state_in_pool(c->state))
		p->clients_by_state[c->state]--;
	if (p != NULL && client_state_in_pool(st))
		p->clients_by_state[st]++;
	list_del(&c->node);
	switch (st) {
	case CL_STARTUP:
	case CL_AUTH:
		list_append(&c->loop->login_clients, &c->node);
		break;
	case CL_LOGIN:
	case CL_WAITING:
		c->wait_since = ev_now(c->conn.ev);
		list_append(&p->waiting_clients, &c->node);
		break;
	case CL_IDLE:
		list_append(&p->idle_clients, &c->node);
		break;
	case CL_ACTIVE:
		list_append(&p->active_clients, &c->node);
		break;
	case CL_ADMIN:
		list_append(&c->loop->admin_clients, &c->node);
		break;
	case CL_CLOSING:
	case CL_LINGER:
		list_append(&c->loop->closing_clients, &c->node);
		break;
	case CL_FREE:
		list_append(&c->loop->dead_clients, &c->node);
		break;
	default:
		abort();
	}
	c->state = st;
}

void client_accept(struct loop_state *ls, int fd, bool is_unix, const char *addr)
{
	struct config *cfg = pooler.cfg;
	struct client *c = calloc(1, sizeof(*c));
	size_t in_limit = cfg->max_packet_size + PROTO_HDR;

	if (c == NULL) {
		close(fd);
		return;
	}
	list_init(&c->node);
	list_init(&c->all);
	c->loop = ls;
	c->id = pooler_next_id();
	c->created = c->last_active = ev_now(ls->ev);
	txn_init(&c->txn);
	timeout_client_init(c);
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	params_init(&c->params);
	params_init(&c->startup);
	ps_client_init(&c->ps);
	htab_init(&c->channels);
	htab_init(&c->stmt_texts);
	htab_init(&c->portal_texts);
	pbuf_init(&c->notify_out, 2u * 1024u * 1024u);
	pbuf_init(&c->replay, CLIENT_REPLAY_MAX);
	if (in_limit < PROTO_MAX_STARTUP)
		in_limit = PROTO_MAX_STARTUP;
	conn_init(&c->conn, ls->ev, fd, in_limit, CONN_HIGH_WATER + cfg->max_packet_size + 65536,
	          client_on_read, client_on_write, c);
	list_append(&ls->clients, &c->all);
	ls->n_clients++;
	ls->stats.clients_accepted++;
	client_set_state(c, CL_STARTUP);
	c->is_unix = is_unix;
	conn_start_read(&c->conn);
}

bool client_flush(struct client *c)
{
	size_t queued = pbuf_len(&c->conn.out);
	enum conn_io r;

	if (c->route_defer && c->state == CL_ACTIVE)
		return true; /* a replica's answer, sent when whole (route.h) */
	r = conn_flush(&c->conn);

	if (c->pool != NULL)
		c->pool->traffic.bytes_out += queued - pbuf_len(&c->conn.out);

	if (r == CONN_ERROR) {
		client_close(c, "write to client failed");
		return false;
	}
	listen_client_flushed(c);
	if (r != CONN_OK)
		return true;
	if (c->state == CL_CLOSING) {
		client_linger(c);
		return false;
	}
	/* All sent and no server: an idle client keeps no buffers (thousands may sit idle). */
	if (c->state == CL_IDLE) {
		conn_release_idle(&c->conn);
		stmt_release(c);
	}
	if (c->server != NULL && c->server->conn.paused && pbuf_len(&c->conn.out) < CONN_LOW_WATER)
		server_resume(c->server);
	if (c->state == CL_ADMIN)
		admin_resume(c);
	return true;
}

static void client_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = w->data;

	if (c->conn.io_wants_write) {
		/* The transport's read was waiting for this writability. */
		client_on_read(loop, &c->conn.rio, EV_READ);
		if (c->state == CL_FREE)
			return;
	}
	client_flush(c);
}

static bool client_ending(const struct client *c)
{
	return c->state == CL_CLOSING || c->state == CL_LINGER || c->state == CL_FREE;
}

/*
 * Let go of c's server as c leaves. A statement still running there is
 * cancelled first: the server is closed, and PostgreSQL would notice that
 * only when it next writes, running the statement on with its locks.
 */
static void client_leave_server(struct client *c)
{
	struct server *sv = c->server;

	if (sv == NULL)
		return;
	if (sv->state == SV_ACTIVE && stmt_in_flight(c) > 0 && sv->backend_pid != 0) {
		log_event(LOG_INFO, "cancel.client_gone", LOG_INT, "client", (long long)c->id,
		          LOG_INT, "backend_pid", (long long)sv->backend_pid, LOG_END);
		c->loop->stats.cancels_client_gone++;
		cancel_send(c->loop, sv->pool->db, sv->backend_pid, sv->backend_key, 0);
	}
	pool_release_server(c);
}

/* Unlink from any server, queue the error (if any) and close once flushed. */
static void client_begin_close(struct client *c, const char *sqlstate, const char *message)
{
	/* Mid-way through a streamed server message an error would corrupt the stream. */
	bool mid_message = c->server != NULL && c->server->conn.pass_left > 0;

	client_leave_server(c);
	conn_stop_read(&c->conn);
	if (sqlstate != NULL && !mid_message)
		proto_write_error(&c->conn.out, "FATAL", sqlstate, message);
	c->last_active = ev_now(c->conn.ev); /* CLOSING_GRACE to read the error counts from now */
	client_set_state(c, CL_CLOSING);
	client_flush(c);
}

void client_set_end_reason(struct client *c, const char *sqlstate, const char *reason)
{
	if (c->close_reason[0] != 0)
		return;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason != NULL ? reason : "");
	snprintf(c->close_sqlstate, sizeof(c->close_sqlstate), "%s",
	         sqlstate != NULL ? sqlstate : "");
}

void client_log_error(const struct client *c, const char *severity, const char *sqlstate,
                      const char *message)
{
	log_event(LOG_WARNING, "client.error", LOG_INT, "client", (long long)c->id, LOG_STR, "addr",
	          c->addr, LOG_STR, "user", c->user, LOG_STR, "db", c->database, LOG_STR,
	          "severity", severity, LOG_STR, "sqlstate", sqlstate, LOG_STR, "error", message,
	          LOG_END);
}

void client_fail(struct client *c, const char *sqlstate, const char *message)
{
	if (client_ending(c))
		return;
	client_log_error(c, "FATAL", sqlstate, message);
	client_set_end_reason(c, sqlstate, message);
	client_begin_close(c, sqlstate, message);
}

void client_end(struct client *c, const char *reason)
{
	if (client_ending(c))
		return;
	log_event(LOG_INFO, "client.end", LOG_INT, "client", (long long)c->id, LOG_STR, "addr",
	          c->addr, LOG_STR, "user", c->user, LOG_STR, "db", c->database, LOG_STR, "reason",
	          reason, LOG_END);
	client_set_end_reason(c, NULL, reason);
	client_begin_close(c, NULL, NULL);
}

/*
 * The final error is sent: shut the write side and discard what the client
 * still sends until it closes (or LINGER_GRACE passes, see pooler.c).
 * Closing at once with unread input would send a reset, and a reset makes
 * the client's kernel drop the error before the client has read it.
 */
static void client_linger(struct client *c)
{
	/*
	 * While the client is still sending an oversized message, the write
	 * side stays open: a client that reads only after it has sent all (as
	 * libpq does) would take the shutdown for a lost connection.
	 */
	if (c->linger_skip == 0 && conn_shutdown_write(&c->conn) == -1) {
		client_close(c, "error sent");
		return;
	}
	pbuf_consume(&c->conn.in, pbuf_len(&c->conn.in));
	c->last_active = ev_now(c->conn.ev);
	client_set_state(c, CL_LINGER);
	conn_start_read(&c->conn);
}

/* Reading while lingering: discard; close at the client's end. */
static void client_linger_read(struct client *c)
{
	enum conn_io r = conn_fill(&c->conn, pooler.cfg->pkt_buf);
	size_t n = pbuf_len(&c->conn.in);

	pbuf_consume(&c->conn.in, n);
	if (r == CONN_EOF || r == CONN_ERROR) {
		client_close(c, "error sent");
		return;
	}
	if (c->linger_skip == 0)
		return;
	c->linger_skip = n >= c->linger_skip ? 0 : c->linger_skip - (uint32_t)n;
	if (c->linger_skip == 0 && conn_shutdown_write(&c->conn) == -1)
		client_close(c, "error sent");
}

/* One line for a client's end: who, how long, why, and what it did. */
static void client_log_close(const struct client *c)
{
	ev_tstamp now = ev_now(c->conn.ev);

	log_event(LOG_INFO, "client.close", LOG_INT, "client", (long long)c->id, LOG_STR, "addr",
	          c->addr, LOG_STR, "user", c->user, LOG_STR, "db", c->database, LOG_STR,
	          "application_name", params_get(&c->params, "application_name"), LOG_STR, "reason",
	          c->close_reason, LOG_STR, "sqlstate", c->close_sqlstate, LOG_INT, "duration_us",
	          (long long)((now - c->created) * 1e6), LOG_INT, "xacts", (long long)c->xacts,
	          LOG_INT, "queries", (long long)c->queries, LOG_END);
}

void client_close(struct client *c, const char *reason)
{
	if (c->state == CL_FREE)
		return;
	client_leave_server(c);
	client_set_end_reason(c, NULL, reason);
	if (pooler.cfg->log_disconnections && c->state != CL_STARTUP)
		client_log_close(c);
	listen_client_gone(c);
	if (c->state == CL_AUTH && authquery_enabled())
		authquery_forget(c);
	if (c->pool != NULL)
		pool_client_gone(c);
	conn_close(&c->conn);
	list_del(&c->all);
	c->loop->n_clients--;
	client_set_state(c, CL_FREE);
}

void client_free(struct client *c)
{
	list_del(&c->node);
	if (c->scram != NULL) {
		scram_server_release(c->scram);
		free(c->scram);
	}
	free(c->scram_keys);
	if (c->auth_secret != NULL) {
		OPENSSL_cleanse(c->auth_secret, strlen(c->auth_secret));
		free(c->auth_secret);
	}
	params_clear(&c->params);
	params_clear(&c->startup);
	free(c->pending_set);
	free(c->stmts);
	pbuf_release(&c->replay);
	admin_release(c);
	ps_client_release(&c->ps);
	text_refs_release(&c->stmt_texts);
	text_refs_release(&c->portal_texts);
	timeout_client_release(c);
	free(c);
}

struct client *client_find_by_key(struct loop_state *ls, uint32_t pid, uint32_t key)
{
	struct list *it;

	for (it = ls->clients.next; it != &ls->clients; it = it->next) {
		struct client *c = list_entry(it, struct client, all);

		if (c->cancel_pid == pid && c->cancel_key == key && c->state != CL_STARTUP)
			return c;
	}
	return NULL;
}

/*
 * PostgreSQL 17's direct TLS: the first bytes are a TLS ClientHello rather
 * than a startup packet. Looked at (not read) before the first read, so that
 * the handshake gets them whole. false if the client was closed.
 */
static bool client_check_direct_tls(struct client *c)
{
	uint8_t first;
	ssize_t n;

	if (c->encryption_asked != 0 || pbuf_len(&c->conn.in) > 0 || tls_active(&c->conn) ||
	    c->is_unix || !tls_client_enabled())
		return true;
	do {
		n = recv(c->conn.fd, &first, 1, MSG_PEEK);
	} while (n == -1 && errno == EINTR);
	if (n != 1 || first != TLS_RECORD_HANDSHAKE)
		return true; /* the read that follows sees the end, the error or a startup packet */
	if (!tls_accept_start(&c->conn)) {
		client_close(c, "could not start TLS");
		return false;
	}
	c->tls_direct = true;
	c->encryption_asked |= CLIENT_ASKED_SSL; /* an SSLRequest inside TLS is refused */
	return true;
}

static void client_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = w->data;
	enum conn_io r;
	size_t had;

	if (c->state == CL_LINGER) {
		client_linger_read(c);
		return;
	}
	if (c->state == CL_STARTUP && !client_check_direct_tls(c))
		return;
	had = pbuf_len(&c->conn.in);
	r = conn_fill(&c->conn, pooler.cfg->pkt_buf);
	if (r == CONN_OK && c->pool != NULL)
		c->pool->traffic.bytes_in += pbuf_len(&c->conn.in) - had;

	if (r == CONN_AGAIN)
		return;
	if (r == CONN_EOF) {
		client_close(c, c->state == CL_STARTUP ? "closed before startup" : "client closed");
		return;
	}
	if (r == CONN_ERROR) {
		client_close(c, strerror(errno));
		return;
	}
	c->last_active = ev_now(c->conn.ev);
	client_process_input(c);
}

/* ---- startup ---- */

static void client_new_cancel_key(struct client *c)
{
	uint8_t rnd[8];

	do {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			/* The key only has to be unguessable by other clients. */
			for (size_t i = 0; i < sizeof(rnd); i++)
				rnd[i] = (uint8_t)random();
		}
		c->cancel_pid = proto_get32(rnd) & 0x7fffffffu;
		c->cancel_key = proto_get32(rnd + 4);
	} while (c->cancel_pid == 0 ||
	         client_find_by_key(c->loop, c->cancel_pid, c->cancel_key) != NULL);
}

/* Collect the startup parameters; false after answering with an error. */
static bool client_read_params(struct client *c, struct proto_reader *r)
{
	char err[256];

	for (;;) {
		const char *name = proto_read_str(r);
		const char *value;

		if (r->bad)
			break;
		if (name[0] == 0)
			return true;
		value = proto_read_str(r);
		if (r->bad)
			break;
		if (strcmp(name, "user") == 0) {
			snprintf(c->user, sizeof(c->user), "%s", value);
		} else if (strcmp(name, "database") == 0) {
			snprintf(c->database, sizeof(c->database), "%s", value);
		} else if (strcmp(name, "replication") == 0) {
			client_fail(c, SQLSTATE_FEATURE_NOT_SUPPORTED,
			            "replication connections are not supported through pgscope");
			return false;
		} else if (strcmp(name, "options") == 0) {
			if (!params_parse_options(value, &c->params, err, sizeof(err))) {
				client_fail(c, SQLSTATE_FEATURE_NOT_SUPPORTED, err);
				return false;
			}
		} else if (config_list_has(pooler.cfg->ignore_startup_parameters, name) ||
		           strncmp(name, "_pq_.", 5) == 0) {
			continue;
		} else if (!params_set(&c->params, name, value)) {
			client_fail(c, SQLSTATE_PROTOCOL_VIOLATION,
			            "too many or too long startup parameters");
			return false;
		}
	}
	client_fail(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid startup packet layout");
	return false;
}

/*
 * cert authentication: a client certificate that verified against
 * client_tls_ca_file and whose common name is the user name, as PostgreSQL's
 * cert method without a user name map. false after failing.
 */
static bool client_cert_ok(struct client *c)
{
	char cn[NAME_MAX_LEN], msg[NAME_MAX_LEN + 64];

	if (!tls_peer_cn(&c->conn, cn, sizeof(cn))) {
		client_fail(c, SQLSTATE_INVALID_AUTH_SPEC,
		            "connection requires a valid client certificate");
		return false;
	}
	if (strcmp(cn, c->user) != 0) {
		log_event(LOG_INFO, "client.auth_failed", LOG_INT, "client", (long long)c->id,
		          LOG_STR, "addr", c->addr, LOG_STR, "user", c->user, LOG_STR, "reason",
		          "certificate common name is another user's", LOG_END);
		snprintf(msg, sizeof(msg), "certificate authentication failed for user \"%s\"",
		         c->user);
		client_fail(c, SQLSTATE_INVALID_AUTH_SPEC, msg);
		return false;
	}
	return true;
}

/* The secret c's password is checked against: auth_query's answer, or auth_file's entry. */
static const char *client_secret(const struct client *c)
{
	if (c->auth_fetched)
		return c->auth_secret;
	return pooler.users ? userlist_lookup(pooler.users, c->user) : NULL;
}

static bool client_send_auth_request(struct client *c)
{
	const char *secret;

	switch (c->auth_method) {
	case AUTH_HBA:
		abort(); /* resolved to a line's method by client_choose_method() */
	case AUTH_ANY:
	case AUTH_TRUST:
		return true;
	case AUTH_CERT:
		return client_cert_ok(c);
	case AUTH_PLAIN:
		proto_write_auth(&c->conn.out, PROTO_AUTH_CLEARTEXT, NULL, 0);
		break;
	case AUTH_MD5:
		secret = client_secret(c);
		if (secret == NULL || auth_secret_kind(secret) == AUTH_SECRET_SCRAM) {
			/*
			 * As PostgreSQL does: md5 becomes SCRAM for a SCRAM secret, and
			 * for a user it does not know (its mock exchange follows
			 * password_encryption, SCRAM by default).
			 */
			c->auth_method = AUTH_SCRAM;
			return client_send_auth_request(c);
		}
		if (!auth_md5_salt(c->md5_salt)) {
			client_fail(c, SQLSTATE_INTERNAL_ERROR, "could not generate a salt");
			return false;
		}
		proto_write_auth(&c->conn.out, PROTO_AUTH_MD5, c->md5_salt, sizeof(c->md5_salt));
		break;
	case AUTH_SCRAM: {
		static const char mechs[] = SCRAM_MECHANISM "\0";
		const char *err = "";

		secret = client_secret(c);
		c->scram = calloc(1, sizeof(*c->scram));
		if (c->scram == NULL) {
			client_fail(c, SQLSTATE_INTERNAL_ERROR, "out of memory");
			return false;
		}
		/* No usable entry: a mock exchange that fails like a wrong password. */
		if (scram_server_init(c->scram, c->user, secret, &err) != SCRAM_OK) {
			client_fail(c, SQLSTATE_INTERNAL_ERROR, err);
			return false;
		}
		proto_write_auth(&c->conn.out, PROTO_AUTH_SASL, mechs, sizeof(mechs));
		break;
	}
	}
	client_set_state(c, CL_AUTH);
	return true;
}

static void client_begin_login(struct client *c);
void client_process_input(struct client *c);

/*
 * A client asking for a minor version above 3.0, or for protocol options
 * (_pq_.*), is told at once, before authentication as PostgreSQL does, that
 * the pooler speaks 3.0 and which options it did not recognise (all of them).
 * BODY is the startup packet's parameter list, already read without error.
 */
static void client_negotiate_version(struct client *c, uint32_t code, const uint8_t *body,
                                     size_t len)
{
	struct proto_reader r;
	struct proto_writer w;
	uint32_t n_options = 0;

	proto_reader_init(&r, body, len);
	for (const char *name = proto_read_str(&r); !r.bad && name[0] != 0;
	     name = proto_read_str(&r)) {
		if (strncmp(name, "_pq_.", 5) == 0)
			n_options++;
		(void)proto_read_str(&r);
	}
	if ((code & 0xffff) == 0 && n_options == 0)
		return;
	proto_begin(&w, &c->conn.out, 'v');
	proto_put_int32(&w, PROTO_VERSION_3);
	proto_put_int32(&w, n_options);
	proto_reader_init(&r, body, len);
	for (const char *name = proto_read_str(&r); !r.bad && name[0] != 0;
	     name = proto_read_str(&r)) {
		if (strncmp(name, "_pq_.", 5) == 0)
			proto_put_str(&w, name);
		(void)proto_read_str(&r);
	}
	proto_end(&w);
}

/*
 * client_tls_sslmode require and above: a TCP client in plain text is refused
 * in the words of a PostgreSQL whose pg_hba.conf has only hostssl lines.
 * Unix socket clients are local and need no encryption. false after failing.
 */
static bool client_encryption_ok(struct client *c)
{
	char host[64], msg[3 * NAME_MAX_LEN + 160];
	char *colon;

	if (pooler.cfg->client_tls_sslmode < TLS_REQUIRE || c->is_unix || tls_active(&c->conn))
		return true;
	snprintf(host, sizeof(host), "%s", c->addr);
	colon = strrchr(host, ':');
	if (colon != NULL)
		*colon = '\0'; /* the address without its port */
	snprintf(msg, sizeof(msg),
	         "no pg_hba.conf entry for host \"%s\", user \"%s\", database \"%s\", no "
	         "encryption",
	         host, c->user, c->database);
	client_fail(c, SQLSTATE_INVALID_AUTH_SPEC, msg);
	return false;
}

/* The answer to a connection that no hba line lets in, in PostgreSQL's words. */
static void client_hba_refused(struct client *c, const char *what)
{
	char host[64], msg[3 * NAME_MAX_LEN + 160];
	char *colon;

	snprintf(host, sizeof(host), "%s", c->is_unix ? "[local]" : c->addr);
	colon = c->is_unix ? NULL : strrchr(host, ':');
	if (colon != NULL)
		*colon = '\0';
	snprintf(msg, sizeof(msg), "%s for host \"%s\", user \"%s\", database \"%s\"%s", what, host,
	         c->user, c->database,
	         c->is_unix ? "" : (tls_active(&c->conn) ? ", SSL encryption" : ", no encryption"));
	client_fail(c, SQLSTATE_INVALID_AUTH_SPEC, msg);
}

/*
 * The authentication method for c: auth_type, or with auth_type = hba the
 * method of the first matching auth_hba_file line. false after refusing the
 * client (no line matches, or a reject line).
 */
static bool client_choose_method(struct client *c)
{
	enum hba_method method;
	enum hba_conn conn =
	    c->is_unix ? HBA_CONN_LOCAL : (tls_active(&c->conn) ? HBA_CONN_HOSTSSL : HBA_CONN_HOST);
	char addr[64], *colon;

	c->auth_method = pooler.cfg->auth_type;
	if (c->auth_method != AUTH_HBA)
		return true;
	snprintf(addr, sizeof(addr), "%s", c->addr);
	colon = strrchr(addr, ':');
	if (colon != NULL)
		*colon = '\0';
	if (!hba_match(hba_current(), conn, c->database, c->user, addr, &method)) {
		client_hba_refused(c, "no pg_hba.conf entry");
		return false;
	}
	if (method == HBA_REJECT) {
		client_hba_refused(c, "pg_hba.conf rejects connection");
		return false;
	}
	c->auth_method = hba_auth_type(method);
	return true;
}

/* Ask for the password, or log in at once when the method asks none. */
static void client_start_auth(struct client *c)
{
	if (!client_send_auth_request(c))
		return;
	if (c->state == CL_AUTH) {
		client_flush(c);
		return;
	}
	client_begin_login(c);
}

/*
 * A password method for a user auth_file does not know, with auth_query set:
 * the secret is fetched first. true when it is not needed or already here
 * (go on with client_start_auth()); false when the client waits for
 * client_auth_secret() or was refused.
 */
static bool client_fetch_secret(struct client *c)
{
	const char *secret = NULL;
	char err[256];

	if (!authquery_enabled() ||
	    (c->auth_method != AUTH_PLAIN && c->auth_method != AUTH_MD5 &&
	     c->auth_method != AUTH_SCRAM) ||
	    (pooler.users != NULL && userlist_lookup(pooler.users, c->user) != NULL))
		return true;
	switch (authquery_fetch(c, &secret, err, sizeof(err))) {
	case AUTHQ_CACHED:
		client_auth_secret(c, secret, true, NULL);
		return false;
	case AUTHQ_PENDING:
		/* Nothing to read until the password is asked for. */
		conn_stop_read(&c->conn);
		client_set_state(c, CL_AUTH);
		return false;
	case AUTHQ_FAILED:
		break;
	}
	client_fail(c, SQLSTATE_INVALID_AUTH_SPEC, err);
	return false;
}

void client_auth_secret(struct client *c, const char *secret, bool ok, const char *why)
{
	if (client_ending(c))
		return;
	if (!ok) {
		client_fail(c, SQLSTATE_INVALID_AUTH_SPEC, why);
		return;
	}
	c->auth_fetched = true;
	c->auth_secret = secret != NULL ? strdup(secret) : NULL;
	if (secret != NULL && c->auth_secret == NULL) {
		client_fail(c, SQLSTATE_INTERNAL_ERROR, "out of memory");
		return;
	}
	conn_start_read(&c->conn);
	client_start_auth(c);
}

static void client_handle_startup_packet(struct client *c, uint32_t code, const uint8_t *body,
                                         size_t len)
{
	struct proto_reader r;

	proto_reader_init(&r, body, len);
	if (!client_read_params(c, &r))
		return;
	client_negotiate_version(c, code, body, len);
	if (c->user[0] == 0) {
		client_fail(c, SQLSTATE_INVALID_AUTH_SPEC, "no user name in startup packet");
		return;
	}
	if (c->database[0] == 0)
		snprintf(c->database, sizeof(c->database), "%s", c->user);
	if (!client_encryption_ok(c))
		return;
	if (admin_is_console_db(c->database)) {
		if (!admin_client_start(c))
			return;
	} else {
		c->db = pool_resolve_db(c->loop, c->database);
	}
	if (c->db == NULL && c->admin == NULL) {
		char msg[160];

		snprintf(msg, sizeof(msg), "no such database: %s", c->database);
		client_fail(c, SQLSTATE_INVALID_CATALOG, msg);
		return;
	}
	if (pooler.cfg->auth_type == AUTH_TRUST && pooler.users != NULL &&
	    userlist_lookup(pooler.users, c->user) == NULL) {
		client_fail(c, SQLSTATE_INVALID_AUTH_SPEC, "no such user");
		return;
	}
	if (pooler.shutting_down) {
		client_fail(c, SQLSTATE_ADMIN_SHUTDOWN, "pgscope is shutting down");
		return;
	}
	if (!client_choose_method(c))
		return;
	client_new_cancel_key(c);
	if (client_fetch_secret(c))
		client_start_auth(c);
}

/*
 * A startup packet that cannot be read (garbage, an HTTP request, a Terminate
 * sent before any startup packet): counted and logged, and the connection
 * closed without a word, as PostgreSQL does; the peer may not speak the
 * protocol at all.
 */
static void client_garbled_startup(struct client *c, const char *why)
{
	c->loop->stats.protocol_errors++;
	log_event(LOG_INFO, "client.bad_startup", LOG_INT, "client", (long long)c->id, LOG_STR,
	          "addr", c->addr, LOG_STR, "error", why, LOG_END);
	client_close(c, why);
}

/* The encryption request bit of CODE (SSLRequest or GSSENCRequest). */
static unsigned client_encryption_bit(uint32_t code)
{
	return code == PROTO_SSL_CODE ? CLIENT_ASKED_SSL : CLIENT_ASKED_GSSENC;
}

/* Whether the client has already asked for this kind of encryption. */
static bool client_encryption_asked(const struct client *c, uint32_t code)
{
	return (c->encryption_asked & client_encryption_bit(code)) != 0;
}

/*
 * The encryption negotiation step of the startup: an SSLRequest or a
 * GSSENCRequest, each answered once, as PostgreSQL does (asking again is
 * an unsupported protocol). GSSAPI is not offered: 'N', and the client goes
 * on in plain text in CL_STARTUP; so is TLS on the Unix socket, as PostgreSQL
 * answers there. With client_tls_sslmode other than disable, on TCP,
 * an SSLRequest gets 'S' and the connection turns to TLS: the handshake
 * runs in the reads that follow, still in CL_STARTUP, and the startup packet
 * comes encrypted. false if the client was closed.
 */
static bool client_negotiate_encryption(struct client *c, uint32_t code)
{
	c->encryption_asked |= client_encryption_bit(code);
	if (code != PROTO_SSL_CODE || c->is_unix || !tls_client_enabled()) {
		pbuf_append(&c->conn.out, "N", 1);
		return client_flush(c);
	}
	if (pbuf_len(&c->conn.in) > 0) {
		/* Bytes sent in clear after the request could be a man in the middle's. */
		client_fail(c, SQLSTATE_PROTOCOL_VIOLATION,
		            "received unencrypted data after SSL request");
		return false;
	}
	pbuf_append(&c->conn.out, "S", 1);
	if (!client_flush(c))
		return false;
	/* One byte into a fresh socket goes at once; if not, TLS cannot start over it. */
	if (pbuf_len(&c->conn.out) > 0 || !tls_accept_start(&c->conn)) {
		client_close(c, "could not start TLS");
		return false;
	}
	return true;
}

/* Startup phase: SSLRequest, GSSENCRequest, CancelRequest or StartupMessage. */
static void client_handle_startup(struct client *c)
{
	struct pbuf *in = &c->conn.in;
	uint32_t len, code;

	if (c->tls_direct && !tls_alpn_postgresql(&c->conn)) {
		/* PostgreSQL 17 insists on ALPN, which keeps other protocols' clients out. */
		client_fail(c, SQLSTATE_PROTOCOL_VIOLATION,
		            "received direct SSL connection request without ALPN protocol "
		            "negotiation extension");
		return;
	}

	while (c->state == CL_STARTUP && pbuf_len(in) >= 8) {
		len = proto_get32(pbuf_head(in));
		code = proto_get32(pbuf_head(in) + 4);
		if (len < 8 || len > PROTO_MAX_STARTUP) {
			client_garbled_startup(c, "invalid length of startup packet");
			return;
		}
		if (pbuf_len(in) < len)
			return;
		if ((code == PROTO_SSL_CODE || code == PROTO_GSSENC_CODE) &&
		    !client_encryption_asked(c, code)) {
			if (len != 8) {
				client_garbled_startup(c, "invalid encryption request");
				return;
			}
			pbuf_consume(in, len);
			if (!client_negotiate_encryption(c, code))
				return;
			continue;
		}
		if (code == PROTO_CANCEL_CODE) {
			if (len == 16)
				cancel_request(c->loop, proto_get32(pbuf_head(in) + 8),
				               proto_get32(pbuf_head(in) + 12));
			client_close(c, "cancel request");
			return;
		}
		if ((code >> 16) != 3) {
			/* Also a second SSLRequest or GSSENCRequest, as with PostgreSQL. */
			char msg[96];

			snprintf(msg, sizeof(msg),
			         "unsupported frontend protocol %u.%u: server supports 3.0 to 3.0",
			         code >> 16, code & 0xffff);
			client_fail(c, SQLSTATE_FEATURE_NOT_SUPPORTED, msg);
			return;
		}
		/*
		 * Consume first: login may complete synchronously and look at
		 * what follows. The bytes stay valid until the next read.
		 */
		{
			const uint8_t *pkt = pbuf_head(in);

			pbuf_consume(in, len);
			client_handle_startup_packet(c, code, pkt + 8, len - 8);
		}
		return;
	}
	if (c->state == CL_STARTUP && pbuf_len(in) >= 4) {
		len = proto_get32(pbuf_head(in));
		if (len < 8 || len > PROTO_MAX_STARTUP)
			client_garbled_startup(c, "invalid length of startup packet");
	}
}

/* ---- authentication ---- */

/*
 * Every failed password check ends here, whatever the cause (unknown user,
 * unusable entry, wrong password), with PostgreSQL's text, so that a client
 * cannot tell the causes apart. The cause goes to the log only, and is logged
 * here for every cause alike so that the work done does not differ either.
 */
static void client_auth_failed(struct client *c, const char *reason)
{
	char msg[NAME_MAX_LEN + 48];

	log_event(LOG_INFO, "client.auth_failed", LOG_INT, "client", (long long)c->id, LOG_STR,
	          "addr", c->addr, LOG_STR, "user", c->user, LOG_STR, "reason", reason, LOG_END);
	snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"", c->user);
	client_fail(c, SQLSTATE_INVALID_PASSWORD, msg);
}

/*
 * A SCRAM step failed: a wrong proof is a failed password; a malformed message
 * is a protocol violation, as in PostgreSQL. Mock and real exchanges parse
 * alike, so neither answer tells whether the user exists.
 */
static void client_scram_failed(struct client *c, enum scram_status rc, const char *err)
{
	if (rc == SCRAM_ERR_AUTH)
		client_auth_failed(c, c->scram->mock ? c->scram->mock_reason
		                                     : "password does not match");
	else
		client_fail(c,
		            rc == SCRAM_ERR_PROTOCOL ? SQLSTATE_PROTOCOL_VIOLATION
		                                     : SQLSTATE_INTERNAL_ERROR,
		            err);
}

static void client_auth_sasl(struct client *c, const uint8_t *body, size_t len)
{
	enum scram_status rc;
	char out[1024];
	const char *err = "";
	struct proto_reader r;

	proto_reader_init(&r, body, len);
	if (c->auth_step == 0) {
		const char *mech = proto_read_str(&r);
		uint32_t n = proto_read_int32(&r);
		const uint8_t *data = proto_read_bytes(&r, n);

		if (r.bad || data == NULL) {
			client_fail(c, SQLSTATE_PROTOCOL_VIOLATION,
			            "invalid SASL initial response");
			return;
		}
		if (strcmp(mech, SCRAM_MECHANISM) != 0) {
			client_fail(c, SQLSTATE_PROTOCOL_VIOLATION,
			            "client selected an invalid SASL authentication mechanism");
			return;
		}
		rc = scram_server_handle_client_first(c->scram, (const char *)data, n, out,
		                                      sizeof(out), &err);
		if (rc != SCRAM_OK) {
			client_scram_failed(c, rc, err);
			return;
		}
		c->auth_step = 1;
		proto_write_auth(&c->conn.out, PROTO_AUTH_SASL_CONTINUE, out, strlen(out));
		client_flush(c);
		return;
	}
	rc = scram_server_handle_client_final(c->scram, (const char *)body, len, out, sizeof(out),
	                                      &err);
	if (rc != SCRAM_OK) {
		client_scram_failed(c, rc, err);
		return;
	}
	proto_write_auth(&c->conn.out, PROTO_AUTH_SASL_FINAL, out, strlen(out));
	c->scram_keys = calloc(1, sizeof(*c->scram_keys));
	if (c->scram_keys != NULL && !scram_server_client_keys(c->scram, c->scram_keys)) {
		free(c->scram_keys);
		c->scram_keys = NULL;
	}
	client_begin_login(c);
}

/*
 * A PasswordMessage (BODY, LEN bytes) for the plain or md5 method: NULL when
 * it matches SECRET, else why not (for the log only).
 */
static const char *client_check_password(const struct client *c, const char *secret,
                                         const uint8_t *body, uint32_t len)
{
	bool ok;

	if (secret == NULL)
		return "user not in auth_file";
	if (len == 0 || body[len - 1] != 0)
		return "password does not match";
	if (c->auth_method == AUTH_PLAIN)
		ok = auth_plain_check(c->user, secret, (const char *)body, len - 1);
	else
		ok = auth_md5_check(c->user, secret, c->md5_salt, (const char *)body, len - 1);
	return ok ? NULL : "password does not match";
}

static void client_handle_auth(struct client *c)
{
	struct pbuf *in = &c->conn.in;
	const char *secret;
	const uint8_t *body;
	uint32_t len;

	if (pbuf_len(in) < PROTO_HDR)
		return;
	len = proto_get32(pbuf_head(in) + 1);
	if (pbuf_head(in)[0] != 'p') {
		/*
		 * PostgreSQL's answer, to a Terminate too: the protocol has none
		 * before login. A client that just closes is closed silently.
		 */
		char msg[64];

		snprintf(msg, sizeof(msg), "expected %s response, got message type %d",
		         c->auth_method == AUTH_SCRAM ? "SASL" : "password", pbuf_head(in)[0]);
		client_fail(c, SQLSTATE_PROTOCOL_VIOLATION, msg);
		return;
	}
	if (len < 4 || len > 65536) {
		client_fail(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid message length");
		return;
	}
	if (pbuf_len(in) < len + 1)
		return;
	body = pbuf_head(in) + PROTO_HDR;
	len -= 4;
	secret = client_secret(c);
	switch (c->auth_method) {
	case AUTH_PLAIN:
	case AUTH_MD5: {
		const char *reason = client_check_password(c, secret, body, len);

		/* The password (or its hash) is not kept in the read buffer's memory. */
		OPENSSL_cleanse((void *)body, len);
		pbuf_consume(in, len + PROTO_HDR);
		if (reason != NULL) {
			client_auth_failed(c, reason);
			return;
		}
		break;
	}
	case AUTH_SCRAM: {
		/* Handled from a copy, so that the buffer is wiped before login goes on. */
		uint8_t *copy = malloc(len > 0 ? len : 1);

		if (copy == NULL) {
			client_fail(c, SQLSTATE_INTERNAL_ERROR, "out of memory");
			return;
		}
		memcpy(copy, body, len);
		OPENSSL_cleanse((void *)body, len);
		pbuf_consume(in, len + PROTO_HDR);
		client_auth_sasl(c, copy, len);
		OPENSSL_cleanse(copy, len);
		free(copy);
		return;
	}
	default:
		client_fail(c, SQLSTATE_PROTOCOL_VIOLATION, "unexpected password message");
		return;
	}
	client_begin_login(c);
}

/* ---- login ---- */

static void client_begin_login(struct client *c)
{
	char err[256];
	struct pool *p;

	if (client_ending(c))
		return;
	if (c->admin != NULL) {
		admin_login(c);
		return;
	}
	if (pool_db_disabled(c->loop, c->database)) {
		/* After authentication, as PostgreSQL checks datallowconn. */
		snprintf(err, sizeof(err), "database \"%s\" is not currently accepting connections",
		         c->database);
		client_fail(c, SQLSTATE_OBJECT_NOT_IN_STATE, err);
		return;
	}
	p = pool_get(c->loop, c->db, c->user, err, sizeof(err));
	if (p == NULL) {
		client_fail(c, SQLSTATE_INVALID_AUTH_SPEC, err);
		return;
	}
	if (c->scram_keys != NULL && p->scram_keys == NULL &&
	    (p->password[0] == 0 || auth_secret_kind(p->password) == AUTH_SECRET_SCRAM)) {
		/* The client proved the password: its ClientKey logs us in to the server. */
		p->scram_keys = c->scram_keys;
		c->scram_keys = NULL;
	}
	if (p->password[0] == 0 && c->auth_secret != NULL &&
	    auth_secret_kind(c->auth_secret) != AUTH_SECRET_SCRAM)
		/* auth_query's md5 hash (or password) logs in to the server as it would to pgscope.
		 */
		snprintf(p->password, sizeof(p->password), "%s", c->auth_secret);
	c->pool = p;
	p->n_clients++;
	timeout_client_configure(c);
	params_copy(&c->startup, &c->params);
	proto_write_auth(&c->conn.out, PROTO_AUTH_OK, NULL, 0);
	if (pooler.cfg->log_connections)
		log_event(LOG_INFO, "client.login", LOG_INT, "client", (long long)c->id, LOG_STR,
		          "addr", c->addr, LOG_STR, "user", c->user, LOG_STR, "db", c->database,
		          LOG_STR, "application_name", params_get(&c->params, "application_name"),
		          LOG_STR, "tls", tls_active(&c->conn) ? "true" : "false", LOG_END);
	/* Until the login is complete the client has nothing to say. */
	conn_stop_read(&c->conn);
	client_set_state(c, CL_LOGIN);
	pool_client_login(p, c);
}

void client_finish_login(struct client *c, const struct params *server_params)
{
	const struct params *names = server_params;

	for (int i = 0; i < names->n; i++) {
		const char *name = names->items[i].name;
		const char *value = params_get(&c->params, name);

		if (value == NULL)
			value = names->items[i].value;
		proto_write_param_status(&c->conn.out, name, value);
	}
	proto_write_backend_key(&c->conn.out, c->cancel_pid, c->cancel_key);
	proto_write_ready(&c->conn.out, 'I');
	if (c->server != NULL) {
		client_set_state(c, CL_ACTIVE);
	} else {
		client_set_state(c, CL_IDLE);
	}
	if (!client_flush(c))
		return;
	conn_start_read(&c->conn);
	if (pbuf_len(&c->conn.in) > 0)
		client_process_input(c);
}

void client_server_ready(struct client *c)
{
	struct server *sv = c->server;

	if (c->state == CL_LOGIN) {
		client_finish_login(c, &sv->defaults);
		return;
	}
	c->last_wait = ev_now(c->conn.ev) - c->wait_since;
	counts_wait(&c->pool->traffic, c->last_wait);
	counts_wait(&sv->endpoint->traffic, c->last_wait);
	if (c->pool->mode != POOL_MODE_SESSION) {
		client_replay_arm(c);
		route_defer_start(c);
	}
	client_set_state(c, CL_ACTIVE);
	conn_start_read(&c->conn);
	client_relay(c);
}

/* ---- a request sent again after its server died unread ---- */

void client_replay_arm(struct client *c)
{
	c->replay_on = !c->retried;
}

void client_replay_drop(struct client *c)
{
	c->replay_on = false;
	pbuf_release(&c->replay);
}

/*
 * A request message M goes to the server while recording: one simple Query
 * is kept whole; anything else (extended protocol, whose prepared statements
 * the relay has already bound to the dead server, or a second request) is
 * not sent again.
 */
static void client_replay_note(struct client *c, const struct relay_msg *m)
{
	uint8_t hdr[PROTO_HDR];

	if (m->type != 'Q' || pbuf_len(&c->replay) > 0 || m->len + PROTO_HDR > CLIENT_REPLAY_MAX) {
		client_replay_drop(c);
		return;
	}
	hdr[0] = 'Q';
	proto_put32(hdr + 1, (uint32_t)m->len + 4);
	if (!pbuf_append(&c->replay, hdr, sizeof(hdr)) || !pbuf_append(&c->replay, m->body, m->len))
		client_replay_drop(c);
}

bool client_replay_restore(struct client *c)
{
	struct pbuf in;
	bool ok;

	if (pbuf_len(&c->replay) == 0) {
		client_replay_drop(c);
		return false;
	}
	pbuf_init(&in, c->conn.in.limit);
	ok = pbuf_append(&in, pbuf_head(&c->replay), pbuf_len(&c->replay)) &&
	     pbuf_append(&in, pbuf_head(&c->conn.in), pbuf_len(&c->conn.in));
	client_replay_drop(c);
	if (!ok) {
		pbuf_release(&in);
		return false;
	}
	pbuf_release(&c->conn.in);
	c->conn.in = in;
	return true;
}

/* ---- relaying to the server ---- */

/* Query texts and statement names are read for analysis and timing (observe.h). */
static bool request_needs_body(uint8_t type)
{
	return type == 'X' || type == 'Q' || type == 'P' || type == 'B' || type == 'E' ||
	       type == 'C';
}

/* Which text a statement or portal runs, for the completed-statement hook. */
struct text_ref {
	uint64_t text_hash;
	uint64_t params_hash;
};

static struct text_ref *text_ref_set(struct htab *t, const char *name, uint64_t text_hash,
                                     uint64_t params_hash)
{
	struct text_ref *ref = htab_get(t, name, strlen(name));

	if (ref == NULL) {
		ref = malloc(sizeof(*ref));
		if (ref == NULL || !htab_put(t, name, strlen(name), ref)) {
			free(ref);
			return NULL;
		}
	}
	ref->text_hash = text_hash;
	ref->params_hash = params_hash;
	return ref;
}

static void free_value(void *value, void *arg)
{
	free(value);
	(void)arg;
}

static void text_refs_release(struct htab *t)
{
	htab_foreach(t, free_value, NULL);
	htab_release(t);
}

/* Parse, Bind and Close: note which text each statement and portal holds. */
static void note_texts(struct client *c, const struct relay_msg *m)
{
	struct proto_reader r;
	const char *name, *query, *stmt;
	struct text_ref *ref;

	proto_reader_init(&r, m->body, m->len);
	switch (m->type) {
	case 'P': {
		uint64_t raw;

		name = proto_read_str(&r);
		query = proto_read_str(&r);
		if (!r.bad)
			text_ref_set(&c->stmt_texts, name,
			             observe_text(c->pool->scope, query, strlen(query), &raw), 0);
		return;
	}
	case 'B':
		name = proto_read_str(&r);
		stmt = proto_read_str(&r);
		if (r.bad)
			return;
		ref = htab_get(&c->stmt_texts, stmt, strlen(stmt));
		text_ref_set(&c->portal_texts, name, ref ? ref->text_hash : 0,
		             htab_hash(r.pos, proto_reader_left(&r)));
		return;
	case 'C':
		if (proto_read_byte(&r) != 'S')
			return;
		name = proto_read_str(&r);
		if (!r.bad)
			free(htab_del(&c->stmt_texts, name, strlen(name)));
		return;
	default:
		return;
	}
}

/* In transaction/statement mode statement names are rewritten: see prepared.h. */
static bool pooled_needs_body(uint8_t type)
{
	return request_needs_body(type) || type == 'D';
}

static bool client_nothing_in_flight(const struct client *c)
{
	return txn_settled(&c->txn) && stmt_in_flight(c) == 0;
}

/*
 * Session state that cannot follow the client from server to server (fx,
 * sqlscan_feature bits): logged once per client. A set_config() that is not
 * local may have set anything, even the role, where the pooler cannot see
 * it: that server is not reused.
 */
static void client_note_features(struct client *c, unsigned fx)
{
	static const struct {
		unsigned bit;
		const char *what;
	} features[] = {
	    {SQLSCAN_FX_SET_CONFIG, "set_config() with is_local false"},
	    {SQLSCAN_FX_ADVISORY_LOCK, "a session advisory lock (pg_advisory_lock)"},
	    {SQLSCAN_FX_TEMP_TABLE, "a temporary table without ON COMMIT DROP"},
	    {SQLSCAN_FX_WITH_HOLD, "a WITH HOLD cursor"},
	};

	if (fx == 0)
		return;
	if ((fx & SQLSCAN_FX_SET_CONFIG) && c->server != NULL)
		c->server->dirty = true;
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		if (fx & features[i].bit)
			pool_session_warning(c, features[i].bit, features[i].what);
	}
}

/* One statement's SET/RESET: pending until its transaction ends (pool_apply_set()). */
static void client_note_statement(struct client *c, const char *sql, size_t len)
{
	struct pending_set_op op;

	op.kind = sqlscan_set(sql, len, op.name, sizeof(op.name), op.value, sizeof(op.value));
	if (op.kind == SQLSCAN_NOT_SET)
		return;
	op.confirmed = false;
	op.ahead = c->txn.ready_due;
	if (c->pending_set == NULL)
		c->pending_set = calloc(1, sizeof(*c->pending_set));
	if (c->pending_set == NULL) {
		if (c->server != NULL)
			c->server->dirty = true; /* its settings cannot be told: not for reuse */
		return;
	}
	/* When full, its answer finds no entry: pool_set_tag() treats it as unknown. */
	if (c->pending_set->n < PENDING_SET_OPS)
		c->pending_set->ops[c->pending_set->n++] = op;
}

/*
 * A SET or RESET changes the client's session, which must follow it to every
 * server it uses: note each one in the text (any number of statements), and
 * apply it when its transaction commits (pool_apply_set()).
 */
static void client_note_set(struct client *c, const uint8_t *body, size_t len)
{
	const char *s = (const char *)body;
	const char *end = s + strnlen(s, len);
	unsigned fx = 0;

	if (!sqlscan_may_touch_session(s, (size_t)(end - s)))
		return; /* most queries: no tokenizing on the forwarding path */
	while (s < end) {
		const char *e = sqlscan_statement_end(s, end, &fx);

		client_note_statement(c, s, (size_t)(e - s));
		s = e;
	}
	client_note_features(c, fx);
}

/*
 * A SET sent with the extended protocol (as pgjdbc sends everything) is
 * tracked too when it is the unnamed statement; a named one executed later
 * is caught by its answer (pool_set_tag()).
 */
static void client_note_parse_set(struct client *c, const struct relay_msg *m)
{
	struct proto_reader r;
	const char *name, *query;

	proto_reader_init(&r, m->body, m->len);
	name = proto_read_str(&r);
	query = proto_read_str(&r);
	if (r.bad)
		return;
	if (name[0] == 0)
		client_note_set(c, (const uint8_t *)query, strlen(query));
	else
		client_note_features(c, sqlscan_session_features(query, strlen(query)));
}

/* Report a forwarded message to the transaction state; count a transaction it starts. */
static void client_txn_request(struct client *c, uint8_t type, ev_tstamp now)
{
	if (!txn_request(&c->txn, type, now, stmt_in_flight(c)))
		return;
	c->pool->traffic.transactions++;
	c->xacts++;
	c->xact_start = now;
	if (c->server != NULL)
		c->server->endpoint->traffic.transactions++;
}

/* Statement names in pooled modes; the verdict as a relay action. */
static enum relay_action request_pooled(struct client *c, const struct relay_msg *m)
{
	switch (ps_client_message(c, c->server, m)) {
	case PS_FORWARD:
		return RELAY_FORWARD;
	case PS_REWRITTEN:
		return RELAY_CONSUME;
	case PS_FAIL:
		break;
	}
	client_fail(c, SQLSTATE_INTERNAL_ERROR, "could not track prepared statements");
	return RELAY_FAIL;
}

static enum relay_action request_msg(void *owner, const struct relay_msg *m)
{
	struct client *c = owner;
	ev_tstamp now = ev_now(c->conn.ev);
	bool pooled = c->pool->mode != POOL_MODE_SESSION;
	enum relay_action act;

	if (c->replay_on && m->type != 'Q')
		client_replay_drop(c);
	if (pooled && route_hold(c))
		return RELAY_HOLD; /* routed on its own once the replica has answered */
	switch (m->type) {
	case 'Q':
		if (pooled && client_nothing_in_flight(c) && ps_simple_query(c, m->body, m->len))
			return RELAY_CONSUME;
		if (c->replay_on)
			client_replay_note(c, m);
		if (pooled)
			client_note_set(c, m->body, m->len);
		timeout_note_query(c, m->body, m->len);
		client_txn_request(c, m->type, now);
		if (observe_enabled()) {
			uint64_t raw;
			uint64_t h =
			    observe_text(c->pool->scope, (const char *)m->body, m->len, &raw);

			stmt_begin(c, 'Q', now, h, raw); /* the literals are in the text */
		} else {
			stmt_begin(c, 'Q', now, 0, 0);
		}
		break;
	case 'E': {
		const struct text_ref *ref = NULL;

		client_txn_request(c, m->type, now);
		if (observe_enabled() && m->len > 0 && memchr(m->body, 0, m->len) != NULL)
			ref = htab_get(&c->portal_texts, m->body, strlen((const char *)m->body));
		stmt_begin(c, 'E', now, ref ? ref->text_hash : 0, ref ? ref->params_hash : 0);
		break;
	}
	case 'P':
	case 'B':
	case 'C':
		if (observe_enabled())
			note_texts(c, m);
		if (m->type == 'P' && pooled)
			client_note_parse_set(c, m);
		timeout_note_extended(c, m->type, m->body, m->len);
		client_txn_request(c, m->type, now);
		break;
	case 'F':
		/* A FunctionCall is answered with its own ReadyForQuery, like a Query. */
		client_txn_request(c, m->type, now);
		stmt_begin(c, 'F', now, 0, 0);
		break;
	case 'X':
		client_close(c, "client terminated");
		return RELAY_FAIL;
	default:
		client_txn_request(c, m->type, now);
		break;
	}
	if (!pooled)
		return RELAY_FORWARD;
	act = request_pooled(c, m);
	if (txn_closes_segment(m->type) && act == RELAY_FORWARD)
		ps_segment_sent(c->server);
	return act;
}

void client_relay_ops_build(struct relay_ops *session, struct relay_ops *pooled, size_t max_len)
{
	session->needs_body = request_needs_body;
	session->on_msg = request_msg;
	session->max_len = max_len;
	*pooled = *session;
	pooled->needs_body = pooled_needs_body;
}

/*
 * The message at the front of the read buffer is refused: drop what has
 * arrived of it and note how much is still to come, so that lingering
 * discards it before the close.
 */
static void client_skip_message(struct client *c)
{
	struct pbuf *in = &c->conn.in;
	uint64_t whole = 1 + (uint64_t)proto_get32(pbuf_head(in) + 1);

	c->linger_skip = whole > pbuf_len(in) ? (uint32_t)(whole - pbuf_len(in)) : 0;
	pbuf_consume(in, pbuf_len(in));
}

void client_relay(struct client *c)
{
	struct server *sv = c->server;
	const struct relay_ops *ops;
	enum relay_result res;

	if (sv == NULL)
		return; /* nothing to relay to: the server went away under it */
	ops = c->pool->mode == POOL_MODE_SESSION ? &c->loop->client_session_ops
	                                         : &c->loop->client_pooled_ops;
	for (;;) {
		res = conn_relay(&c->conn, &sv->conn.out, ops, c);
		if (client_ending(c))
			return;
		if (pbuf_len(&c->conn.out) > 0 && !client_flush(c))
			return; /* answered locally (ps_simple_query) */
		if (c->server != NULL && !server_flush(c->server))
			return;
		/*
		 * Paused at the server's high-water mark, but the flush just sent
		 * it below: go on now, since no later flush would resume us.
		 */
		if (res != RELAY_PAUSED || c->server != sv ||
		    pbuf_len(&sv->conn.out) >= CONN_HIGH_WATER)
			break;
	}
	switch (res) {
	case RELAY_DRAINED:
	case RELAY_STOPPED:
	case RELAY_FAILED:
		return;
	case RELAY_PAUSED:
		c->conn.paused = true;
		conn_stop_read(&c->conn);
		return;
	case RELAY_BAD_LEN:
		c->loop->stats.protocol_errors++;
		client_fail(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid message length");
		return;
	case RELAY_TOO_LONG: {
		char msg[128];

		c->loop->stats.protocol_errors++;
		client_skip_message(c);
		snprintf(msg, sizeof(msg), "message too long: over max_packet_size (%zu bytes)",
		         (size_t)pooler.cfg->max_packet_size);
		client_fail(c, SQLSTATE_PROTOCOL_VIOLATION, msg);
		return;
	}
	case RELAY_NO_ROOM:
		client_fail(c, SQLSTATE_INTERNAL_ERROR, "server buffer full");
		return;
	}
}

void client_resume(struct client *c)
{
	if (c->state != CL_ACTIVE)
		return;
	conn_start_read(&c->conn);
	client_relay(c);
}

/* A logged-in client without a server sent something. */
static void client_handle_idle(struct client *c)
{
	struct pbuf *in = &c->conn.in;

	if (pbuf_len(in) < 1)
		return;
	while (pbuf_len(in) >= PROTO_HDR && pbuf_head(in)[0] == 'Q') {
		/* Some statements are answered without a server (see ps_simple_query). */
		uint32_t len = proto_get32(pbuf_head(in) + 1);

		if (len < 4 || len > pooler.cfg->max_packet_size || pbuf_len(in) < len + 1u)
			break;
		if (!ps_simple_query(c, pbuf_head(in) + PROTO_HDR, len - 4) &&
		    !listen_simple_query(c, pbuf_head(in) + PROTO_HDR, len - 4))
			break;
		pbuf_consume(in, len + 1u);
		if (!client_flush(c) || c->listen_wait)
			return; /* a LISTEN waits for the listening connection */
	}
	if (pbuf_len(in) < 1)
		return;
	if (pbuf_head(in)[0] == 'X') {
		client_close(c, "client terminated");
		return;
	}
	/* Reading goes on while it waits: a disconnect is noticed, and little is buffered. */
	pool_request_server(c, route_classify(c));
}

void client_process_input(struct client *c)
{
	switch (c->state) {
	case CL_STARTUP:
		client_handle_startup(c);
		return;
	case CL_AUTH:
		client_handle_auth(c);
		return;
	case CL_IDLE:
		client_handle_idle(c);
		return;
	case CL_ACTIVE:
		client_relay(c);
		return;
	case CL_ADMIN:
		admin_input(c);
		return;
	case CL_WAITING:
		if (pbuf_len(&c->conn.in) > CLIENT_WAIT_BUFFER)
			conn_stop_read(&c->conn); /* enough queued; resumed when a server comes */
		return;
	case CL_LOGIN:
		conn_stop_read(&c->conn);
		return;
	case CL_CLOSING:
	case CL_LINGER:
	case CL_FREE:
		return;
	}
}
