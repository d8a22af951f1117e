/*
 * client.c - the client side of the pooler: startup and authentication,
 * login completion with the pooler's own BackendKeyData, and relaying
 * requests to the linked server.
 */
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "pooler/auth.h"
#include "pooler/cancel.h"
#include "pooler/client.h"
#include "pooler/conn.h"
#include "pooler/listen.h"
#include "pooler/log.h"
#include "pooler/observe.h"
#include "pooler/pool.h"
#include "pooler/prepared.h"
#include "pooler/proto.h"
#include "pooler/scram.h"
#include "pooler/server.h"
#include "pooler/sqlscan.h"
#include "pooler/stmt.h"
#include "pooler/userlist.h"

/* What a client waiting for a server may queue before it is no longer read. */
#define CLIENT_WAIT_BUFFER (64u * 1024u)

static void client_on_read(struct ev_loop *loop, ev_io *w, int revents);
static void text_refs_release(struct htab *t);
static void client_on_write(struct ev_loop *loop, ev_io *w, int revents);

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
	case CL_CLOSING:
		return "closing";
	}
	return "?";
}

void client_set_state(struct client *c, enum client_state st)
{
	struct pool *p = c->pool;

	list_del(&c->node);
	switch (st) {
	case CL_STARTUP:
	case CL_AUTH:
		list_append(&pooler.login_clients, &c->node);
		break;
	case CL_LOGIN:
	case CL_WAITING:
		c->wait_since = ev_now(pooler.loop);
		list_append(&p->waiting_clients, &c->node);
		break;
	case CL_IDLE:
		list_append(&p->idle_clients, &c->node);
		break;
	case CL_ACTIVE:
		list_append(&p->active_clients, &c->node);
		break;
	case CL_CLOSING:
		list_append(&pooler.closing_clients, &c->node);
		break;
	case CL_FREE:
		list_append(&pooler.dead_clients, &c->node);
		break;
	default:
		abort();
	}
	c->state = st;
}

void client_accept(int fd, bool is_unix, const char *addr)
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
	c->id = pooler_next_id();
	c->created = c->last_active = ev_now(pooler.loop);
	c->tx_status = 'I';
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	params_init(&c->params);
	params_init(&c->startup);
	ps_client_init(&c->ps);
	htab_init(&c->channels);
	htab_init(&c->stmt_texts);
	htab_init(&c->portal_texts);
	pbuf_init(&c->notify_out, 2u * 1024u * 1024u);
	if (in_limit < PROTO_MAX_STARTUP)
		in_limit = PROTO_MAX_STARTUP;
	conn_init(&c->conn, fd, in_limit, CONN_HIGH_WATER + cfg->max_packet_size + 65536,
	          client_on_read, client_on_write, c);
	list_append(&pooler.clients, &c->all);
	pooler.n_clients++;
	pooler.stats.clients_accepted++;
	client_set_state(c, CL_STARTUP);
	conn_start_read(&c->conn);
	(void)is_unix;
}

bool client_flush(struct client *c)
{
	enum conn_io r = conn_flush(&c->conn);

	if (r == CONN_ERROR) {
		client_close(c, "write to client failed");
		return false;
	}
	listen_client_flushed(c);
	if (r != CONN_OK)
		return true;
	if (c->state == CL_CLOSING) {
		client_close(c, "error sent");
		return false;
	}
	if (c->server != NULL && c->server->conn.paused && pbuf_len(&c->conn.out) < CONN_LOW_WATER)
		server_resume(c->server);
	return true;
}

static void client_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	client_flush(w->data);
}

void client_fail(struct client *c, const char *sqlstate, const char *message)
{
	if (c->state == CL_CLOSING || c->state == CL_FREE)
		return;
	log_event(LOG_WARNING, "client.error", LOG_INT, "client", (long long)c->id, LOG_STR, "addr",
	          c->addr, LOG_STR, "user", c->user, LOG_STR, "db", c->database, LOG_STR,
	          "sqlstate", sqlstate, LOG_STR, "error", message, LOG_END);
	/* Mid-way through a streamed server message an error would corrupt the stream. */
	bool mid_message = c->server != NULL && c->server->conn.pass_left > 0;

	if (c->server != NULL)
		pool_release_server(c);
	conn_stop_read(&c->conn);
	if (!mid_message)
		proto_write_error(&c->conn.out, "FATAL", sqlstate, message);
	c->last_active = ev_now(pooler.loop); /* CLOSING_GRACE to read the error counts from now */
	client_set_state(c, CL_CLOSING);
	client_flush(c);
}

void client_close(struct client *c, const char *reason)
{
	if (c->state == CL_FREE)
		return;
	if (c->server != NULL)
		pool_release_server(c);
	if (pooler.cfg->log_disconnections && c->state != CL_STARTUP)
		log_event(LOG_INFO, "client.close", LOG_INT, "client", (long long)c->id, LOG_STR,
		          "addr", c->addr, LOG_STR, "user", c->user, LOG_STR, "db", c->database,
		          LOG_STR, "reason", reason, LOG_END);
	listen_client_gone(c);
	if (c->pool != NULL)
		pool_client_gone(c);
	conn_close(&c->conn);
	list_del(&c->all);
	pooler.n_clients--;
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
	params_clear(&c->params);
	params_clear(&c->startup);
	free(c->pending_set);
	ps_client_release(&c->ps);
	text_refs_release(&c->stmt_texts);
	text_refs_release(&c->portal_texts);
	free(c);
}

struct client *client_find_by_key(uint32_t pid, uint32_t key)
{
	struct list *it;

	for (it = pooler.clients.next; it != &pooler.clients; it = it->next) {
		struct client *c = list_entry(it, struct client, all);

		if (c->cancel_pid == pid && c->cancel_key == key && c->state != CL_STARTUP)
			return c;
	}
	return NULL;
}

static void client_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = w->data;
	enum conn_io r = conn_fill(&c->conn, pooler.cfg->pkt_buf);

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
	c->last_active = ev_now(pooler.loop);
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
	} while (c->cancel_pid == 0 || client_find_by_key(c->cancel_pid, c->cancel_key) != NULL);
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

static bool client_send_auth_request(struct client *c)
{
	struct config *cfg = pooler.cfg;
	const char *secret;

	switch (cfg->auth_type) {
	case AUTH_ANY:
	case AUTH_TRUST:
		return true;
	case AUTH_PLAIN:
		proto_write_auth(&c->conn.out, PROTO_AUTH_CLEARTEXT, NULL, 0);
		break;
	case AUTH_MD5:
		if (!auth_md5_salt(c->md5_salt)) {
			client_fail(c, SQLSTATE_INTERNAL_ERROR, "could not generate a salt");
			return false;
		}
		proto_write_auth(&c->conn.out, PROTO_AUTH_MD5, c->md5_salt, sizeof(c->md5_salt));
		break;
	case AUTH_SCRAM: {
		static const char mechs[] = SCRAM_MECHANISM "\0";
		const char *err = "";

		secret = pooler.users ? userlist_lookup(pooler.users, c->user) : NULL;
		c->scram = calloc(1, sizeof(*c->scram));
		if (c->scram == NULL) {
			client_fail(c, SQLSTATE_INTERNAL_ERROR, "out of memory");
			return false;
		}
		/* Unknown users go through a mock exchange so they look like bad passwords. */
		if ((secret != NULL
		         ? scram_server_init(c->scram, secret, &err)
		         : scram_server_init_mock(c->scram, c->user, &err)) != SCRAM_OK) {
			client_fail(c, SQLSTATE_INVALID_PASSWORD, "password authentication failed");
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

static void client_handle_startup_packet(struct client *c, uint32_t code, const uint8_t *body,
                                         size_t len)
{
	struct proto_reader r;

	proto_reader_init(&r, body, len);
	if (!client_read_params(c, &r))
		return;
	if (c->user[0] == 0) {
		client_fail(c, SQLSTATE_INVALID_AUTH_SPEC, "no user name in startup packet");
		return;
	}
	if (c->database[0] == 0)
		snprintf(c->database, sizeof(c->database), "%s", c->user);
	c->db = pool_resolve_db(c->database);
	if (c->db == NULL) {
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
	client_new_cancel_key(c);
	if (!client_send_auth_request(c))
		return;
	if (c->state == CL_AUTH) {
		client_flush(c);
		return;
	}
	client_begin_login(c);
}

/* Startup phase: SSLRequest, GSSENCRequest, CancelRequest or StartupMessage. */
static void client_handle_startup(struct client *c)
{
	struct pbuf *in = &c->conn.in;
	uint32_t len, code;

	while (c->state == CL_STARTUP && pbuf_len(in) >= 8) {
		len = proto_get32(pbuf_head(in));
		code = proto_get32(pbuf_head(in) + 4);
		if (len < 8 || len > PROTO_MAX_STARTUP) {
			pooler.stats.protocol_errors++;
			client_fail(c, SQLSTATE_PROTOCOL_VIOLATION,
			            "invalid length of startup packet");
			return;
		}
		if (pbuf_len(in) < len)
			return;
		if (code == PROTO_SSL_CODE || code == PROTO_GSSENC_CODE) {
			if (len != 8) {
				client_fail(c, SQLSTATE_PROTOCOL_VIOLATION,
				            "invalid encryption request");
				return;
			}
			pbuf_consume(in, len);
			/* No TLS yet: 'N' and the client carries on in plain text. */
			pbuf_append(&c->conn.out, "N", 1);
			if (!client_flush(c))
				return;
			continue;
		}
		if (code == PROTO_CANCEL_CODE) {
			if (len == 16)
				cancel_request(proto_get32(pbuf_head(in) + 8),
				               proto_get32(pbuf_head(in) + 12));
			client_close(c, "cancel request");
			return;
		}
		if ((code >> 16) != 3) {
			client_fail(c, SQLSTATE_FEATURE_NOT_SUPPORTED,
			            "unsupported frontend protocol");
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
		if (c->state == CL_FREE)
			return;
		if ((code & 0xffff) != 0 && c->state != CL_CLOSING && c->state != CL_FREE) {
			/* Minor versions above 3.0: tell the client we speak 3.0. */
			struct proto_writer w;

			proto_begin(&w, &c->conn.out, 'v');
			proto_put_int32(&w, PROTO_VERSION_3);
			proto_put_int32(&w, 0);
			proto_end(&w);
			client_flush(c);
		}
		return;
	}
	if (c->state == CL_STARTUP && pbuf_len(in) >= 4) {
		len = proto_get32(pbuf_head(in));
		if (len < 8 || len > PROTO_MAX_STARTUP) {
			pooler.stats.protocol_errors++;
			client_fail(c, SQLSTATE_PROTOCOL_VIOLATION,
			            "invalid length of startup packet");
		}
	}
}

/* ---- authentication ---- */

static void client_auth_failed(struct client *c)
{
	client_fail(c, SQLSTATE_INVALID_PASSWORD, "password authentication failed");
}

static void client_auth_sasl(struct client *c, const uint8_t *body, size_t len)
{
	char out[1024];
	const char *err = "";
	struct proto_reader r;

	proto_reader_init(&r, body, len);
	if (c->auth_step == 0) {
		const char *mech = proto_read_str(&r);
		uint32_t n = proto_read_int32(&r);
		const uint8_t *data = proto_read_bytes(&r, n);

		if (r.bad || data == NULL || strcmp(mech, SCRAM_MECHANISM) != 0) {
			client_fail(c, SQLSTATE_PROTOCOL_VIOLATION,
			            "invalid SASL initial response");
			return;
		}
		if (scram_server_handle_client_first(c->scram, (const char *)data, n, out,
		                                     sizeof(out), &err) != SCRAM_OK) {
			client_auth_failed(c);
			return;
		}
		c->auth_step = 1;
		proto_write_auth(&c->conn.out, PROTO_AUTH_SASL_CONTINUE, out, strlen(out));
		client_flush(c);
		return;
	}
	if (scram_server_handle_client_final(c->scram, (const char *)body, len, out, sizeof(out),
	                                     &err) != SCRAM_OK) {
		client_auth_failed(c);
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

static void client_handle_auth(struct client *c)
{
	struct pbuf *in = &c->conn.in;
	const char *secret;
	const uint8_t *body;
	uint32_t len;

	if (pbuf_len(in) < PROTO_HDR)
		return;
	len = proto_get32(pbuf_head(in) + 1);
	if (pbuf_head(in)[0] != 'p' || len < 4 || len > 65536) {
		client_fail(c, SQLSTATE_PROTOCOL_VIOLATION, "expected a password message");
		return;
	}
	if (pbuf_len(in) < len + 1)
		return;
	body = pbuf_head(in) + PROTO_HDR;
	len -= 4;
	secret = pooler.users ? userlist_lookup(pooler.users, c->user) : NULL;
	switch (pooler.cfg->auth_type) {
	case AUTH_PLAIN:
		if (secret == NULL || len == 0 || body[len - 1] != 0 ||
		    !auth_plain_check(c->user, secret, (const char *)body, len - 1)) {
			client_auth_failed(c);
			return;
		}
		break;
	case AUTH_MD5:
		if (secret == NULL || len == 0 || body[len - 1] != 0 ||
		    !auth_md5_check(c->user, secret, c->md5_salt, (const char *)body, len - 1)) {
			client_auth_failed(c);
			return;
		}
		break;
	case AUTH_SCRAM:
		pbuf_consume(in, len + PROTO_HDR);
		client_auth_sasl(c, body, len);
		return;
	default:
		client_fail(c, SQLSTATE_PROTOCOL_VIOLATION, "unexpected password message");
		return;
	}
	pbuf_consume(in, len + PROTO_HDR);
	client_begin_login(c);
}

/* ---- login ---- */

static void client_begin_login(struct client *c)
{
	char err[256];
	struct pool *p;

	if (c->state == CL_CLOSING || c->state == CL_FREE)
		return;
	p = pool_get(c->db, c->user, err, sizeof(err));
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
	c->pool = p;
	p->n_clients++;
	params_copy(&c->startup, &c->params);
	proto_write_auth(&c->conn.out, PROTO_AUTH_OK, NULL, 0);
	if (pooler.cfg->log_connections)
		log_event(LOG_INFO, "client.login", LOG_INT, "client", (long long)c->id, LOG_STR,
		          "addr", c->addr, LOG_STR, "user", c->user, LOG_STR, "db", c->database,
		          LOG_STR, "application_name", params_get(&c->params, "application_name"),
		          LOG_END);
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
	c->last_wait = ev_now(pooler.loop) - c->wait_since;
	client_set_state(c, CL_ACTIVE);
	conn_start_read(&c->conn);
	client_relay(c);
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
			text_ref_set(&c->stmt_texts, name, observe_text(query, strlen(query), &raw),
			             0);
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
	return c->pending_sync == 0 && stmt_in_flight(c) == 0;
}

/*
 * A SET or RESET outside a transaction changes the client's session, which
 * must follow it to every server it uses: note it, and apply it when the
 * server confirms (pool_apply_set()).
 */
static void client_note_set(struct client *c, const uint8_t *body, size_t len)
{
	struct pending_set ps;

	ps.kind = sqlscan_set((const char *)body, len, ps.name, sizeof(ps.name), ps.value,
	                      sizeof(ps.value));
	if (ps.kind == SQLSCAN_NOT_SET)
		return;
	ps.failed = false;
	ps.confirmed = false;
	free(c->pending_set);
	c->pending_set = malloc(sizeof(ps));
	if (c->pending_set != NULL)
		*c->pending_set = ps;
}

/* A SET sent with the extended protocol (as pgjdbc sends everything) is tracked too. */
static void client_note_parse_set(struct client *c, const struct relay_msg *m)
{
	struct proto_reader r;
	const char *name, *query;

	proto_reader_init(&r, m->body, m->len);
	name = proto_read_str(&r);
	query = proto_read_str(&r);
	if (!r.bad && name[0] == 0)
		client_note_set(c, (const uint8_t *)query, strlen(query));
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
	ev_tstamp now = ev_now(pooler.loop);
	bool pooled = c->pool->mode != POOL_MODE_SESSION;
	enum relay_action act;

	switch (m->type) {
	case 'Q':
		if (pooled && client_nothing_in_flight(c) && ps_simple_query(c, m->body, m->len))
			return RELAY_CONSUME;
		if (pooled && client_nothing_in_flight(c) && c->tx_status == 'I')
			client_note_set(c, m->body, m->len);
		if (c->tx_status == 'I' && c->pending_sync == 0)
			c->xact_id = ++c->xact_count;
		c->pending_sync++;
		if (observe_enabled()) {
			uint64_t raw;
			uint64_t h = observe_text((const char *)m->body, m->len, &raw);

			stmt_begin(c, 'Q', now, h, raw); /* the literals are in the text */
		} else {
			stmt_begin(c, 'Q', now, 0, 0);
		}
		break;
	case 'E': {
		const struct text_ref *ref = NULL;

		if (c->tx_status == 'I' && client_nothing_in_flight(c))
			c->xact_id = ++c->xact_count;
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
		if (m->type == 'P' && pooled && c->tx_status == 'I' && client_nothing_in_flight(c))
			client_note_parse_set(c, m);
		break;
	case 'S':
		c->pending_sync++;
		break;
	case 'X':
		client_close(c, "client terminated");
		return RELAY_FAIL;
	default:
		break;
	}
	if (!pooled)
		return RELAY_FORWARD;
	act = request_pooled(c, m);
	if ((m->type == 'S' || m->type == 'Q') && act == RELAY_FORWARD)
		ps_segment_sent(c->server);
	return act;
}

static const struct relay_ops request_ops_template = {
    .needs_body = request_needs_body,
    .on_msg = request_msg,
    .max_len = 0,
};

void client_relay(struct client *c)
{
	static struct relay_ops session_ops, pooled_ops;
	struct server *sv = c->server;
	enum relay_result res;

	if (session_ops.on_msg == NULL) {
		session_ops = request_ops_template;
		session_ops.max_len = pooler.cfg->max_packet_size;
		pooled_ops = session_ops;
		pooled_ops.needs_body = pooled_needs_body;
	}
	res = conn_relay(&c->conn, &sv->conn.out,
	                 c->pool->mode == POOL_MODE_SESSION ? &session_ops : &pooled_ops, c);
	if (c->state == CL_FREE || c->state == CL_CLOSING)
		return;
	if (pbuf_len(&c->conn.out) > 0 && !client_flush(c))
		return; /* answered locally (ps_simple_query) */
	if (c->server != NULL && !server_flush(c->server))
		return;
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
		pooler.stats.protocol_errors++;
		client_fail(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid message length");
		return;
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
	pool_request_server(c);
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
	case CL_WAITING:
		if (pbuf_len(&c->conn.in) > CLIENT_WAIT_BUFFER)
			conn_stop_read(&c->conn); /* enough queued; resumed when a server comes */
		return;
	case CL_LOGIN:
		conn_stop_read(&c->conn);
		return;
	case CL_CLOSING:
	case CL_FREE:
		return;
	}
}
