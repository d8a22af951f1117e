/* timeout.c - query_timeout, idle_transaction_timeout and client_idle_timeout (see timeout.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/cancel.h"
#include "pooler/client.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/pool.h"
#include "pooler/server.h"
#include "pooler/sqlscan.h"
#include "pooler/timeout.h"

void timeout_client_init(struct client *c)
{
	memset(&c->qt, 0, sizeof(c->qt));
	c->qt.hint_ms = -1;
	c->qt.unnamed_hint_ms = -1;
}

void timeout_client_configure(struct client *c)
{
	config_client_timeouts(pooler.cfg, c->db, c->user, &c->limits);
}

void timeout_client_release(struct client *c)
{
	if (c->qt.stmt_hints == NULL)
		return;
	htab_release(c->qt.stmt_hints);
	free(c->qt.stmt_hints);
	c->qt.stmt_hints = NULL;
}

const char *timeout_kind_name(enum pooler_timeout kind)
{
	static const char *const names[TIMEOUT_KINDS] = {
	    [TIMEOUT_QUERY] = "query_timeout",
	    [TIMEOUT_QUERY_WAIT] = "query_wait_timeout",
	    [TIMEOUT_IDLE_TRANSACTION] = "idle_transaction_timeout",
	    [TIMEOUT_CLIENT_IDLE] = "client_idle_timeout",
	    [TIMEOUT_CLIENT_LOGIN] = "client_login_timeout",
	    [TIMEOUT_SERVER_CONNECT] = "server_connect_timeout",
	    [TIMEOUT_SERVER_IDLE] = "server_idle_timeout",
	    [TIMEOUT_NOTIFY_STALL] = "notify_stall_timeout",
	};

	return kind < TIMEOUT_KINDS ? names[kind] : "unknown";
}

void timeout_format(int ms, char *out, size_t outlen)
{
	if (ms % 1000 == 0)
		snprintf(out, outlen, "%ds", ms / 1000);
	else
		snprintf(out, outlen, "%dms", ms);
}

/* ---- hints ---- */

void timeout_note_query(struct client *c, const uint8_t *body, size_t len)
{
	int hint = sqlscan_timeout_hint((const char *)body, len);

	if (hint >= 0)
		c->qt.hint_ms = hint;
}

/* Remember (or forget, HINT < 0) the hint of the statement NAME. */
static void hints_set(struct client *c, const char *name, int hint)
{
	size_t n = strlen(name);

	if (name[0] == 0) {
		c->qt.unnamed_hint_ms = hint;
		return;
	}
	if (hint < 0) {
		if (c->qt.stmt_hints != NULL)
			htab_del(c->qt.stmt_hints, name, n);
		return;
	}
	if (c->qt.stmt_hints == NULL) {
		c->qt.stmt_hints = calloc(1, sizeof(*c->qt.stmt_hints));
		if (c->qt.stmt_hints == NULL)
			return; /* the statement runs with the usual limit */
		htab_init(c->qt.stmt_hints);
	}
	/* The value is the hint plus one, so that a hint of 0 (no limit) is not NULL. */
	htab_put(c->qt.stmt_hints, name, n, (void *)(uintptr_t)((unsigned)hint + 1));
}

/* The hint of statement NAME, or -1. */
static int hints_get(const struct client *c, const char *name)
{
	void *v;

	if (name[0] == 0)
		return c->qt.unnamed_hint_ms;
	if (c->qt.stmt_hints == NULL)
		return -1;
	v = htab_get(c->qt.stmt_hints, name, strlen(name));
	return v != NULL ? (int)((uintptr_t)v - 1) : -1;
}

void timeout_note_extended(struct client *c, uint8_t type, const uint8_t *body, size_t len)
{
	struct proto_reader r;
	const char *name, *text;
	int hint;

	/* Most clients have no hinted statement: a Bind or Close costs them this test. */
	if (type != 'P' && c->qt.stmt_hints == NULL && c->qt.unnamed_hint_ms < 0)
		return;
	proto_reader_init(&r, body, len);
	if (type == 'C' && proto_read_byte(&r) != 'S')
		return;
	if (type == 'B')
		(void)proto_read_str(&r); /* the portal; the statement follows */
	name = proto_read_str(&r);
	if (r.bad)
		return;
	switch (type) {
	case 'P':
		text = proto_read_str(&r);
		if (!r.bad)
			hints_set(c, name, sqlscan_timeout_hint(text, strlen(text)));
		return;
	case 'B':
		hint = hints_get(c, name);
		if (hint >= 0)
			c->qt.hint_ms = hint;
		return;
	case 'C':
		hints_set(c, name, -1);
		return;
	default:
		return;
	}
}

/* ---- query_timeout ---- */

static void query_timer_clear(struct client *c)
{
	c->qt.cancel_at = 0;
	c->qt.cancel_server = 0;
	c->qt.fired_ms = 0;
	c->qt.error_sent = false;
}

void timeout_request_answered(struct client *c)
{
	query_timer_clear(c);
	if (txn_settled(&c->txn))
		c->qt.hint_ms = -1; /* a hint lasts as long as its request */
}

/* Our error for a request cancelled after LIMIT_MS, with WHY appended when not NULL. */
static void query_timer_message(int limit_ms, const char *why, char *out, size_t outlen)
{
	char limit[32];

	timeout_format(limit_ms, limit, sizeof(limit));
	snprintf(out, outlen, "canceling statement due to pgscope query_timeout (%s)%s%s", limit,
	         why != NULL ? ": " : "", why != NULL ? why : "");
}

bool timeout_replace_error(struct client *c, const struct proto_error_info *e)
{
	char msg[160];

	if (c->qt.error_sent || strcmp(e->sqlstate, SQLSTATE_QUERY_CANCELED) != 0)
		return false;
	query_timer_message(c->qt.fired_ms, NULL, msg, sizeof(msg));
	if (!proto_write_error(&c->conn.out, "ERROR", SQLSTATE_QUERY_CANCELED, msg))
		return false; /* no room: the server's own error goes instead */
	client_log_error(c, "ERROR", SQLSTATE_QUERY_CANCELED, msg);
	c->qt.error_sent = true;
	return true;
}

/* The limit for c's current request, in ms; 0 when there is none. */
static int query_limit(const struct client *c)
{
	return c->qt.hint_ms >= 0 ? c->qt.hint_ms : c->limits.query;
}

static ev_tstamp cancel_grace(int limit_ms)
{
	ev_tstamp s = limit_ms / 1000.0;

	if (s < TIMEOUT_CANCEL_GRACE_MIN)
		return TIMEOUT_CANCEL_GRACE_MIN;
	return s > TIMEOUT_CANCEL_GRACE_MAX ? TIMEOUT_CANCEL_GRACE_MAX : s;
}

/* The request ran past LIMIT_MS: cancel it on the backend, as a client's cancel is. */
static void query_timer_fire(struct client *c, struct server *sv, int limit_ms, ev_tstamp now)
{
	c->qt.cancel_at = now;
	c->qt.cancel_server = sv->id;
	c->qt.fired_ms = limit_ms;
	c->qt.error_sent = false;
	log_event(LOG_WARNING, "query.timeout", LOG_INT, "client", (long long)c->id, LOG_STR, "db",
	          c->database, LOG_STR, "user", c->user, LOG_INT, "backend_pid",
	          (long long)sv->backend_pid, LOG_INT, "timeout_ms", (long long)limit_ms, LOG_END);
	c->loop->stats.timeouts[TIMEOUT_QUERY]++;
	c->loop->stats.cancels_sent++;
	sv->cancels_pending++;
	cancel_send(c->loop, sv->pool->db, sv->backend_pid, sv->backend_key, sv->id);
}

/*
 * Whether c can go on without its server: a pooled client outside a
 * transaction block that waits for exactly one answer, with nothing of a
 * server message half sent to it. Its request then simply failed.
 */
static bool query_timer_client_survives(const struct client *c, const struct server *sv)
{
	return c->pool->mode != POOL_MODE_SESSION && !txn_in_block(&c->txn) &&
	       c->txn.ready_due == 1 && !c->txn.batch_open && sv->conn.pass_left == 0;
}

/*
 * The server did not answer the cancel in time: it is closed. A client that
 * can go on gets its one 57014 (if it has not had it) and ReadyForQuery 'I',
 * and its next request gets another server. One inside a transaction block
 * (whose transaction is gone with the server) or in session mode (whose
 * session is) is closed with the error, as when its backend dies.
 */
static void query_timer_unanswered(struct client *c, struct server *sv)
{
	char msg[200];

	log_event(LOG_WARNING, "query.timeout_unanswered", LOG_INT, "client", (long long)c->id,
	          LOG_INT, "backend_pid", (long long)sv->backend_pid, LOG_END);
	sv->dirty = true;
	if (!query_timer_client_survives(c, sv)) {
		if (c->qt.error_sent) {
			client_fail(
			    c, SQLSTATE_CONNECTION_FAILURE,
			    "server did not answer the query_timeout cancel; connection closed");
			return;
		}
		query_timer_message(c->qt.fired_ms,
		                    "the server did not answer the cancel; connection closed", msg,
		                    sizeof(msg));
		client_fail(c, SQLSTATE_QUERY_CANCELED, msg);
		return;
	}
	query_timer_message(c->qt.fired_ms, NULL, msg, sizeof(msg));
	if ((!c->qt.error_sent &&
	     !proto_write_error(&c->conn.out, "ERROR", SQLSTATE_QUERY_CANCELED, msg)) ||
	    !proto_write_ready(&c->conn.out, 'I')) {
		client_fail(c, SQLSTATE_QUERY_CANCELED, msg);
		return;
	}
	if (!c->qt.error_sent)
		client_log_error(c, "ERROR", SQLSTATE_QUERY_CANCELED, msg);
	query_timer_clear(c);
	c->qt.hint_ms = -1;
	/* Its SETs belonged to the request that failed. */
	free(c->pending_set);
	c->pending_set = NULL;
	pool_transaction_done(c); /* closes the server: it is released mid-request */
}

/*
 * A request outstanding on c's server: cancel it past its limit, close the
 * server when the cancel goes unanswered. true when c left its list.
 */
static bool query_timer_check(struct client *c, struct server *sv, ev_tstamp now)
{
	int limit = query_limit(c);

	if (c->qt.cancel_at > 0 && c->qt.cancel_server != sv->id)
		query_timer_clear(c); /* that server is gone: this is another request */
	if (c->qt.cancel_at > 0) {
		if (now - c->qt.cancel_at < cancel_grace(c->qt.fired_ms))
			return false;
		query_timer_unanswered(c, sv);
		return true;
	}
	if (limit > 0 && txn_oldest_age(&c->txn, now) >= limit / 1000.0)
		query_timer_fire(c, sv, limit, now);
	return false;
}

/* ---- idle clients ---- */

/* Seconds c has been idle at NOW: since its last bytes or its last answer. */
static ev_tstamp idle_age(const struct client *c, ev_tstamp now)
{
	ev_tstamp since = c->last_active > c->txn.last_ready ? c->last_active : c->txn.last_ready;

	return now - since;
}

/* End c with a FATAL error for idling past LIMIT_MS, named as PostgreSQL names its own. */
static void idle_end(struct client *c, const char *sqlstate, const char *what,
                     enum pooler_timeout kind, int limit_ms)
{
	char msg[200], limit[32];

	timeout_format(limit_ms, limit, sizeof(limit));
	snprintf(msg, sizeof(msg), "terminating connection due to %s timeout (pgscope %s %s)", what,
	         timeout_kind_name(kind), limit);
	c->loop->stats.timeouts[kind]++;
	client_fail(c, sqlstate, msg);
}

/* A client owed nothing: end it when idle too long. true when it was ended. */
static bool idle_check(struct client *c, ev_tstamp now)
{
	if (txn_in_block(&c->txn)) {
		if (c->limits.idle_transaction <= 0 ||
		    idle_age(c, now) < c->limits.idle_transaction / 1000.0)
			return false;
		/* Released unsettled-free: its server gets a ROLLBACK and is reused. */
		idle_end(c, SQLSTATE_IDLE_IN_TXN_TIMEOUT, "idle-in-transaction",
		         TIMEOUT_IDLE_TRANSACTION, c->limits.idle_transaction);
		return true;
	}
	if (c->limits.client_idle <= 0 || idle_age(c, now) < c->limits.client_idle / 1000.0)
		return false;
	idle_end(c, SQLSTATE_IDLE_SESSION_TIMEOUT, "idle-session", TIMEOUT_CLIENT_IDLE,
	         c->limits.client_idle);
	return true;
}

/* One client linked to a server. true when it left the list. */
static bool check_active(struct client *c, ev_tstamp now)
{
	struct server *sv = c->server;

	if (sv == NULL || sv->state != SV_ACTIVE)
		return false;
	if (!txn_settled(&c->txn))
		return query_timer_check(c, sv, now);
	return idle_check(c, now);
}

/* One client without a server (transaction and statement modes). */
static bool check_idle(struct client *c, ev_tstamp now)
{
	return txn_settled(&c->txn) && idle_check(c, now);
}

/*
 * Run CHECK over the clients on HEAD. A client that is ended may take others
 * with it (its server goes to the next waiter), so the walk starts over after
 * each one that left; each leaves at most once, so the walk ends.
 */
static void check_list(struct list *head, ev_tstamp now, bool (*check)(struct client *, ev_tstamp))
{
	struct list *it = head->next;

	while (it != head) {
		struct client *c = list_entry(it, struct client, node);

		it = it->next;
		if (check(c, now))
			it = head->next;
	}
}

void timeout_janitor(struct pool *p, ev_tstamp now)
{
	check_list(&p->active_clients, now, check_active);
	if (p->mode != POOL_MODE_SESSION && !list_empty(&p->idle_clients))
		check_list(&p->idle_clients, now, check_idle);
}
