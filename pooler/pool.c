/*
 * pool.c - server pools per (database, user) and the pairing of clients with
 * servers: who waits, who gets which server, what a server needs before it
 * is handed on (parameter sync, rollback, reset) and when it is retired.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pooler/client.h"
#include "pooler/conn.h"
#include "pooler/listen.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/pool.h"
#include "pooler/prepared.h"
#include "pooler/proto.h"
#include "pooler/reload.h"
#include "pooler/replica.h"
#include "pooler/route.h"
#include "pooler/server.h"
#include "pooler/sqlscan.h"
#include "pooler/stmt.h"
#include "pooler/timeout.h"
#include "pooler/userlist.h"

const struct db_config *pool_resolve_db(struct loop_state *ls, const char *name)
{
	const struct db_config *d = config_find_db(pooler.cfg, name);
	struct db_config *copy, **grown;

	if (d == NULL || strcmp(d->name, "*") != 0)
		return d;
	for (size_t i = 0; i < ls->n_autodbs; i++) {
		if (strcmp(ls->autodbs[i]->name, name) == 0)
			return ls->autodbs[i];
	}
	grown = realloc(ls->autodbs, (ls->n_autodbs + 1) * sizeof(*grown));
	if (grown == NULL)
		return NULL;
	ls->autodbs = grown;
	copy = config_db_instantiate(d, name);
	if (copy == NULL)
		return NULL;
	ls->autodbs[ls->n_autodbs++] = copy;
	return copy;
}

void pool_free_autodbs(struct loop_state *ls)
{
	for (size_t i = 0; i < ls->n_autodbs; i++)
		config_db_free(ls->autodbs[i]);
	free(ls->autodbs);
	ls->autodbs = NULL;
	ls->n_autodbs = 0;
}

static void pool_set_pause(struct pool *p, enum pool_pause st);
static bool pool_pause_wanted(const struct pool *p);

/* The server password for p: its entry's, else auth_file's for its user, else "". */
static void pool_set_password(struct pool *p)
{
	const char *secret = p->db->password;

	if (secret == NULL && pooler.users != NULL)
		secret = userlist_lookup(pooler.users, p->user);
	snprintf(p->password, sizeof(p->password), "%s", secret != NULL ? secret : "");
}

/* The sizes of p from its entry and the config in force. */
static void pool_set_sizes(struct pool *p)
{
	const struct config *cfg = pooler.cfg;

	p->pool_size = p->db->pool_size >= 0 ? p->db->pool_size : cfg->default_pool_size;
	p->min_pool_size = p->db->min_pool_size >= 0 ? p->db->min_pool_size : cfg->min_pool_size;
	if (p->home != NULL && p->min_pool_size < 1 && p->pool_size >= 1)
		p->min_pool_size = 1; /* a replica is polled on a server of its own pool */
}

/*
 * Make p's entry a copy of DB and its primary DB's address. false when out
 * of memory (p keeps what it had).
 */
static bool pool_set_db(struct pool *p, const struct db_config *db)
{
	struct db_config *copy = config_db_instantiate(db, db->name);
	struct endpoint *ep;

	if (copy == NULL)
		return false;
	ep = endpoint_get(&p->loop->endpoints, db->host, db->port, ENDPOINT_PRIMARY);
	if (ep == NULL) {
		config_db_free(copy);
		return false;
	}
	config_db_free(p->db);
	p->db = copy;
	p->primary = ep;
	return true;
}

/* The lists of a new pool; it joins its loop's pools. */
static void pool_init_lists(struct pool *p)
{
	list_init(&p->idle_servers);
	list_init(&p->active_servers);
	list_init(&p->login_servers);
	list_init(&p->waiting_clients);
	list_init(&p->active_clients);
	list_init(&p->idle_clients);
	params_init(&p->server_params);
	list_append(&p->loop->pools, &p->node);
}

struct pool *pool_replica_new(struct pool *home, const struct db_config *db)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->loop = home->loop;
	p->home = home;
	if (!pool_set_db(p, db)) {
		free(p);
		return NULL;
	}
	p->primary->role = ENDPOINT_REPLICA;
	snprintf(p->user, sizeof(p->user), "%s", home->user);
	snprintf(p->password, sizeof(p->password), "%s", home->password);
	p->mode = home->mode;
	p->pause = home->pause;
	pool_set_sizes(p);
	pool_init_lists(p);
	log_event(LOG_INFO, "pool.new_replica", LOG_STR, "db", db->name, LOG_STR, "user", p->user,
	          LOG_STR, "host", p->primary->host, LOG_INT, "port", (long long)p->primary->port,
	          LOG_INT, "pool_size", (long long)p->pool_size, LOG_END);
	return p;
}

struct pool *pool_get(struct loop_state *ls, const struct db_config *db, const char *client_user,
                      char *err, size_t errlen)
{
	struct config *cfg = pooler.cfg;
	const char *user = db->user ? db->user : client_user;
	struct list *it;
	struct pool *p;

	for (it = ls->pools.next; it != &ls->pools; it = it->next) {
		p = list_entry(it, struct pool, node);
		if (!p->retired && p->home == NULL && strcmp(p->db->name, db->name) == 0 &&
		    strcmp(p->user, user) == 0)
			return p;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->loop = ls;
	if (!pool_set_db(p, db)) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(p->user, sizeof(p->user), "%s", user);
	pool_set_password(p);
	p->mode = config_pool_mode(cfg, db, client_user);
	pool_set_sizes(p);
	pool_init_lists(p);
	log_event(LOG_INFO, "pool.new", LOG_STR, "db", db->name, LOG_STR, "user", p->user, LOG_STR,
	          "pool_mode", config_pool_mode_name(p->mode), LOG_INT, "pool_size",
	          (long long)p->pool_size, LOG_END);
	if (pool_pause_wanted(p))
		pool_set_pause(p, POOL_PAUSED); /* it has no server to wait for */
	return p;
}

/*
 * A parameter an earlier client changed on sv that RESET can take back: one
 * the server did not report at login (SET by a client), or a reported one
 * that clients may set and that differs from its login value.
 */
static bool server_param_resettable(const struct server *sv, const char *name)
{
	const char *have = params_get(&sv->params, name);
	const char *dflt = params_get(&sv->defaults, name);

	if (dflt == NULL)
		return true;
	return params_is_tracked(name) && have != NULL && strcmp(dflt, have) != 0;
}

/* The pooler's own query that brings a server in line with a client, being built. */
struct sync_sql {
	char *sql; /* malloc'd, NUL-terminated */
	size_t len, cap;
	bool oom; /* an allocation failed: the query is incomplete */
};

static void sync_add(struct sync_sql *b, const char *stmt)
{
	size_t n = strlen(stmt), cap = b->cap ? b->cap : 256;
	char *grown;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > cap)
			cap *= 2;
		grown = realloc(b->sql, cap);
		if (grown == NULL) {
			b->oom = true;
			return;
		}
		b->sql = grown;
		b->cap = cap;
	}
	memcpy(b->sql + b->len, stmt, n + 1);
	b->len += n;
}

/*
 * set_config(NAME, VALUE, false): it takes the value as the server shows it,
 * so list values such as search_path keep their meaning.
 */
static void sync_set(struct sync_sql *b, const char *name, const char *value)
{
	char lit[PARAMS_VALUE_MAX * 2 + 4], ident[PARAMS_NAME_MAX * 2 + 4];
	char stmt[2 * sizeof(lit) + 64];

	if (!proto_quote_literal(name, ident, sizeof(ident)) ||
	    !proto_quote_literal(value, lit, sizeof(lit)))
		return;
	snprintf(stmt, sizeof(stmt), "SELECT pg_catalog.set_config(%s, %s, false);", ident, lit);
	sync_add(b, stmt);
}

static void sync_reset(struct sync_sql *b, const char *name)
{
	char ident[PARAMS_NAME_MAX * 2 + 4], stmt[sizeof(ident) + 16];

	if (!proto_quote_ident(name, ident, sizeof(ident)))
		return;
	snprintf(stmt, sizeof(stmt), "RESET %s;", ident);
	sync_add(b, stmt);
}

/* The session user and the role: set after every other parameter and undone before them. */
static bool param_is_identity(const char *name)
{
	return strcasecmp(name, "session_authorization") == 0 || strcasecmp(name, "role") == 0;
}

/* The parameters other than the identity: set what differs, RESET what an earlier client set. */
static void sync_params(struct sync_sql *b, const struct client *c, const struct server *sv)
{
	for (int i = 0; i < c->params.n; i++) {
		const char *name = c->params.items[i].name;
		const char *have = params_get(&sv->params, name);

		if (!param_is_identity(name) &&
		    (have == NULL || strcmp(have, c->params.items[i].value) != 0))
			sync_set(b, name, c->params.items[i].value);
	}
	for (int i = 0; i < sv->params.n; i++) {
		const char *name = sv->params.items[i].name;

		if (!param_is_identity(name) && params_get(&c->params, name) == NULL &&
		    server_param_resettable(sv, name))
			sync_reset(b, name);
	}
}

/* The session user in p if it is not the one sv logged in as, else NULL. */
static const char *changed_session_user(const struct params *p, const struct server *sv)
{
	const char *v = params_get(p, "session_authorization");
	const char *dflt = params_get(&sv->defaults, "session_authorization");

	return v != NULL && (dflt == NULL || strcmp(v, dflt) != 0) ? v : NULL;
}

static bool same_value(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/*
 * The SQL that makes sv's session what c wants into b: an earlier client's
 * session user and role undone first (the rest then runs with the pool's own
 * privileges), then the other parameters, then c's session user and role.
 */
static void sync_session(struct sync_sql *b, const struct client *c, const struct server *sv)
{
	struct sync_sql rest = {0};
	const char *sv_user = changed_session_user(&sv->params, sv);
	const char *c_user = changed_session_user(&c->params, sv);
	const char *sv_role = params_get(&sv->params, "role");
	const char *c_role = params_get(&c->params, "role");
	bool same = same_value(sv_user, c_user) && same_value(sv_role, c_role);

	sync_params(&rest, c, sv);
	if ((sv_user != NULL || sv_role != NULL) && (!same || rest.len > 0)) {
		if (sv_user != NULL)
			sync_reset(b, "session_authorization");
		if (sv_role != NULL)
			sync_reset(b, "role");
		same = false;
	}
	if (rest.sql != NULL)
		sync_add(b, rest.sql);
	b->oom = b->oom || rest.oom;
	free(rest.sql);
	if (same)
		return;
	if (c_user != NULL)
		sync_set(b, "session_authorization", c_user);
	if (c_role != NULL)
		sync_set(b, "role", c_role);
}

/*
 * The SQL that makes sv's session parameters what c wants (sync_session()),
 * into *out (malloc'd, caller frees; NULL when nothing differs). Records the
 * new values on sv. false when memory ran out.
 */
static bool pool_sync_sql(struct client *c, struct server *sv, char **out)
{
	struct sync_sql b = {0};

	sync_session(&b, c, sv);
	*out = NULL;
	if (b.oom) {
		free(b.sql);
		return false;
	}
	if (b.sql == NULL)
		return true;
	/* What the server will have once the query ran. */
	for (int i = 0; i < sv->params.n;) {
		const char *name = sv->params.items[i].name;
		const char *dflt = params_get(&sv->defaults, name);

		if (params_get(&c->params, name) == NULL && server_param_resettable(sv, name)) {
			if (dflt == NULL) {
				params_unset(&sv->params, name);
				continue;
			}
			params_set(&sv->params, name, dflt);
		}
		i++;
	}
	for (int i = 0; i < c->params.n; i++)
		params_set(&sv->params, c->params.items[i].name, c->params.items[i].value);
	*out = b.sql;
	return true;
}

/* ---- the pool's own queries on its servers (see server_query()) ---- */

static const struct server_query_ops sync_ops, rollback_ops, reset_ops, check_ops, after_cancel_ops,
    connect_query_ops;

/* server_reset_query, when this pool runs it on a server a client let go. */
static const char *pool_reset_sql(const struct pool *p)
{
	const struct config *cfg = pooler.cfg;
	const char *reset = cfg->server_reset_query;

	if ((p->mode == POOL_MODE_SESSION || cfg->server_reset_query_always) && reset != NULL &&
	    reset[0] != 0)
		return reset;
	return NULL;
}

static bool query_resets_all(const char *sql)
{
	return sql != NULL && (strcasestr(sql, "discard all") || strcasestr(sql, "reset all"));
}

/* A server whose internal query failed or left a transaction open is not reused. */
static bool query_left_clean(struct server *sv, bool failed, const char *why)
{
	if (!failed && sv->tx_status == 'I')
		return true;
	sv->dirty = true;
	server_close(sv, why);
	return false;
}

/* The client's parameters are applied: relay its request, or tell it why not. */
static void sync_done(struct server *sv, void *arg, bool failed)
{
	struct client *c = sv->client;
	char msg[320];

	if (c == NULL) {
		pool_server_ready(sv);
		return;
	}
	server_set_state(sv, SV_ACTIVE);
	if (failed) {
		sv->dirty = true; /* rolled back: it may still have another client's settings */
		snprintf(msg, sizeof(msg), "could not apply session parameters: %s",
		         sv->error_message);
		client_fail(c, sv->error_sqlstate, msg);
		return;
	}
	client_server_ready(c);
}

static void rollback_done(struct server *sv, void *arg, bool failed)
{
	const char *reset = pool_reset_sql(sv->pool);

	if (!query_left_clean(sv, failed, "rollback failed"))
		return;
	ps_server_rolled_back(&sv->ps);
	if (reset != NULL) {
		server_query(sv, reset, &reset_ops, NULL);
		return;
	}
	pool_server_ready(sv);
}

static void reset_done(struct server *sv, void *arg, bool failed)
{
	if (!query_left_clean(sv, failed, "internal query failed"))
		return;
	if (query_resets_all(pooler.cfg->server_reset_query)) {
		/* RESET ALL leaves the role and session user; DISCARD ALL does not. */
		if (strcasestr(pooler.cfg->server_reset_query, "discard all"))
			params_copy(&sv->params, &sv->defaults);
		else
			params_reset_all(&sv->params, &sv->defaults);
		ps_server_forget_all(&sv->ps);
	}
	pool_server_ready(sv);
}

/* The breaker's settings from the config. */
static struct breaker_params pool_breaker_params(void)
{
	const struct config *cfg = pooler.cfg;
	int connect_ms = cfg->server_connect_timeout > 0 ? cfg->server_connect_timeout : 15000;
	struct breaker_params bp = {
	    .failures = cfg->breaker_failures,
	    .backoff = cfg->breaker_backoff / 1000.0,
	    .backoff_max = cfg->breaker_backoff_max / 1000.0,
	    /* A probe has server_connect_timeout to log in; one lost without a word is retried. */
	    .probe_timeout = connect_ms / 1000.0 + 1.0,
	    /* Failures in a row a janitor round apart (or the backoff, if shorter). */
	    .retry = cfg->breaker_backoff < 250 ? cfg->breaker_backoff / 1000.0 : 0.25,
	};

	return bp;
}

/*
 * Count a failure on EP, and on its breaker when it says the server is
 * unavailable. Returns whether it did (an outage).
 */
static bool pool_endpoint_failed(struct loop_state *ls, struct endpoint *ep,
                                 enum endpoint_failure kind, const char *sqlstate,
                                 const char *message)
{
	ev_tstamp now = ev_now(ls->ev);
	struct breaker_params bp;

	endpoint_failed(ep, kind, sqlstate, message, now);
	if (!endpoint_failure_is_outage(kind, sqlstate))
		return false;
	bp = pool_breaker_params();
	endpoint_breaker_failure(ep, &bp, now);
	return true;
}

/* Whether the breaker of EP lets a new connection to it through now (see endpoint.h). */
static bool pool_breaker_admits(const struct pool *p, struct endpoint *ep)
{
	struct breaker_params bp = pool_breaker_params();

	return endpoint_breaker_admit(ep, &bp, ev_now(p->loop->ev));
}

/*
 * A client of p needs a new connection to EP: while EP's breaker is open
 * and p has no server that could come free, it is told at once which
 * server is unavailable and why (08001, as a server that cannot reach
 * another reports it). true when it was refused.
 */
static bool pool_breaker_refused(struct pool *p, struct endpoint *ep, struct client *c)
{
	char msg[512];

	if (p->n_servers > 0 || !endpoint_breaker_refuses(ep, ev_now(p->loop->ev)))
		return false;
	endpoint_breaker_message(ep, ev_now(p->loop->ev), msg, sizeof(msg));
	client_fail(c, SQLSTATE_CANNOT_CONNECT, msg);
	return true;
}

static void check_done(struct server *sv, void *arg, bool failed)
{
	if (failed || sv->tx_status != 'I')
		pool_endpoint_failed(sv->loop, sv->endpoint, ENDPOINT_FAIL_CHECK,
		                     sv->error_sqlstate, sv->error_message);
	if (!query_left_clean(sv, failed, "internal query failed"))
		return;
	pool_server_ready(sv);
}

static void connect_query_done(struct server *sv, void *arg, bool failed)
{
	if (failed || sv->tx_status != 'I')
		pool_server_failed(sv->pool, sv, sv->endpoint, ENDPOINT_FAIL_CONNECT_QUERY,
		                   sv->error_sqlstate, sv->error_message);
	if (!query_left_clean(sv, failed, "internal query failed"))
		return;
	pool_server_ready(sv);
}

/* The round trip after a cancel; the late cancel may have hit it, which is what it was for. */
static void after_cancel_done(struct server *sv, void *arg, bool failed)
{
	if (sv->tx_status != 'I' ||
	    (failed && strcmp(sv->error_sqlstate, SQLSTATE_QUERY_CANCELED) != 0)) {
		sv->dirty = true;
		server_close(sv, "check after cancel failed");
		return;
	}
	pool_server_ready(sv);
}

static const struct server_query_ops sync_ops = {.name = "sync", .on_done = sync_done};
static const struct server_query_ops rollback_ops = {.name = "rollback", .on_done = rollback_done};
static const struct server_query_ops reset_ops = {.name = "reset", .on_done = reset_done};
static const struct server_query_ops check_ops = {.name = "check", .on_done = check_done};
static const struct server_query_ops connect_query_ops = {.name = "connect_query",
                                                          .on_done = connect_query_done};
static const struct server_query_ops after_cancel_ops = {.name = "after_cancel",
                                                         .on_done = after_cancel_done};

static void pool_recycle(struct server *sv, bool mid_request);

static void lsn_row(struct server *sv, void *arg, int n, const char *const *values)
{
	(void)arg;
	route_lsn_row(sv, n, values);
}

static void lsn_done(struct server *sv, void *arg, bool failed)
{
	(void)arg;
	route_lsn_done(sv, failed);
	if (!query_left_clean(sv, failed, "internal query failed"))
		return;
	pool_recycle(sv, false);
}

static void lsn_close(struct server *sv, void *arg)
{
	(void)arg;
	route_lsn_done(sv, true);
}

static const struct server_query_ops lsn_ops = {
    .name = "wal_lsn", .on_row = lsn_row, .on_done = lsn_done, .on_close = lsn_close};

void pool_server_logged_in(struct server *sv)
{
	const char *cq = sv->pool->db->connect_query;

	if (cq != NULL && cq[0] != 0) {
		server_query(sv, cq, &connect_query_ops, NULL);
		return;
	}
	pool_server_ready(sv);
}

static void pool_link(struct client *c, struct server *sv)
{
	char *sql;

	if (c->server != NULL || sv->client != NULL)
		abort(); /* a client has one server and a server one client */

	c->server = sv;
	sv->client = c;
	txn_unlink(&c->txn);
	server_set_state(sv, SV_ACTIVE);
	if (!pool_sync_sql(c, sv, &sql)) {
		sv->dirty = true; /* its parameters may be another client's */
		client_fail(c, SQLSTATE_INTERNAL_ERROR, "out of memory");
		return;
	}
	if (sql != NULL) {
		bool ok = server_query(sv, sql, &sync_ops, NULL);

		free(sql);
		(void)ok; /* on failure server_close() has failed the client */
		return;
	}
	client_server_ready(c);
}

/* Servers of every pool that matches (same database, or same server user). */
static int servers_where(const struct pool *p, bool same_db)
{
	int total = 0;

	for (struct list *it = p->loop->pools.next; it != &p->loop->pools; it = it->next) {
		const struct pool *o = list_entry(it, struct pool, node);

		if (same_db ? strcmp(o->db->name, p->db->name) == 0 : strcmp(o->user, p->user) == 0)
			total += o->n_servers;
	}
	return total;
}

/*
 * The pool's size now: default_pool_size, plus reserve_pool_size once a
 * client has waited reserve_pool_timeout.
 */
static int pool_limit(const struct pool *p)
{
	struct config *cfg = pooler.cfg;
	int reserve = p->db->reserve_pool >= 0 ? p->db->reserve_pool : cfg->reserve_pool_size;
	const struct list *first = list_first(&p->waiting_clients);

	if (reserve > 0 && first != NULL) {
		const struct client *c = list_entry(first, struct client, node);

		if (ev_now(p->loop->ev) - c->wait_since >= cfg->reserve_pool_timeout / 1000.0)
			return p->pool_size + reserve;
	}
	return p->pool_size;
}

/* Reserve servers p may open beyond its size. */
static int pool_reserve(const struct pool *p)
{
	return p->db->reserve_pool >= 0 ? p->db->reserve_pool : pooler.cfg->reserve_pool_size;
}

static bool pool_can_open(const struct pool *p)
{
	struct config *cfg = pooler.cfg;
	const struct user_config *u = config_find_user(cfg, p->user);
	int max_db =
	    p->db->max_db_connections >= 0 ? p->db->max_db_connections : cfg->max_db_connections;
	int max_user = u != NULL && u->max_user_connections >= 0 ? u->max_user_connections
	                                                         : cfg->max_user_connections;

	if (pooler.shutting_down || p->pause != POOL_RUNNING || p->n_servers >= pool_limit(p))
		return false;
	if (max_db > 0 && servers_where(p, true) >= max_db)
		return false;
	if (max_user > 0 && servers_where(p, false) >= max_user)
		return false;
	return true;
}

static void close_servers(struct list *head, const char *why)
{
	while (!list_empty(head))
		server_close(list_entry(list_first(head), struct server, node), why);
}

/* Recently failed to connect: fail fast with that error rather than hammer the server. */
static bool pool_recently_failed(const struct pool *p)
{
	ev_tstamp retry = pooler.cfg->server_login_retry / 1000.0;

	return p->last_connect_failure > 0 && p->n_servers == 0 &&
	       ev_now(p->loop->ev) - p->last_connect_failure < retry && p->last_error[0] != 0;
}

static void pool_open_if_needed(struct pool *p)
{
	int connecting = 0;
	int waiting = 0;
	struct list *it;

	for (it = p->login_servers.next; it != &p->login_servers; it = it->next)
		connecting++;
	for (it = p->waiting_clients.next; it != &p->waiting_clients; it = it->next) {
		const struct client *c = list_entry(it, struct client, node);

		if (c->server == NULL && (c->state == CL_WAITING || p->mode == POOL_MODE_SESSION ||
		                          !p->have_server_params))
			waiting++;
	}
	if (p->mode != POOL_MODE_SESSION && !p->have_server_params && waiting > 0)
		waiting = 1; /* one login teaches the pool its parameters */
	while (connecting < waiting && pool_can_open(p) && pool_breaker_admits(p, p->primary)) {
		if (server_connect(p, p->primary) == NULL)
			return;
		connecting++;
	}
}

/*
 * Give c an idle server. One idle longer than server_check_delay runs
 * server_check_query first (and goes to the first waiter when it passes).
 * true if c got a server or one is being checked for the queue.
 */
#define POOL_IDLE_PEEK_AFTER 0.01 /* seconds idle before a server is checked for a goodbye */

static bool pool_take_idle(struct client *c)
{
	struct config *cfg = pooler.cfg;
	struct pool *p = c->pool;
	ev_tstamp now = ev_now(p->loop->ev);

	while (!list_empty(&p->idle_servers)) {
		struct server *sv = list_entry(list_first(&p->idle_servers), struct server, node);

		/*
		 * A server idle for a while may have been told to go (its goodbye is
		 * here but not yet read): not for a client. One handed back moments
		 * ago is not asked, which spares a busy pool a syscall per
		 * transaction; a request that meets a goodbye anyway is resent.
		 */
		if (now - sv->last_used > POOL_IDLE_PEEK_AFTER && server_idle_gone(sv)) {
			sv->dirty = true;
			server_close(sv, "server closed the connection while idle");
			continue;
		}

		if (cfg->server_check_query != NULL && cfg->server_check_query[0] != 0 &&
		    cfg->server_check_delay >= 0 &&
		    now - sv->last_used > cfg->server_check_delay / 1000.0) {
			if (server_query(sv, cfg->server_check_query, &check_ops, NULL))
				return true;
			continue; /* it was closed: try the next one */
		}
		pool_link(c, sv);
		return true;
	}
	return false;
}

void pool_client_login(struct pool *p, struct client *c)
{
	if (p->mode != POOL_MODE_SESSION && p->have_server_params) {
		client_finish_login(c, &p->server_params);
		return;
	}
	if (pool_recently_failed(p)) {
		client_fail(c, p->last_error_sqlstate, p->last_error);
		return;
	}
	if (p->mode == POOL_MODE_SESSION && pool_take_idle(c))
		return;
	if (pool_breaker_refused(p, p->primary, c))
		return;
	pool_open_if_needed(p);
}

/*
 * Move c, which has no server, to pool TO's list for its state: between its
 * home pool and one of the home's replica pools (route.h). The home keeps
 * counting it in n_clients.
 */
static void pool_move_client(struct client *c, struct pool *to)
{
	c->pool->clients_by_state[c->state]--;
	to->clients_by_state[c->state]++;
	c->pool = to;
	client_set_state(c, c->state); /* onto to's list; the counts are even */
}

/*
 * c waits in a replica pool that cannot serve it (its server failed, its
 * breaker is open): its request has not started, so it goes to the primary
 * instead of failing. false when c is not such a client.
 */
static bool pool_reroute(struct client *c)
{
	if (c->pool->home == NULL || c->server != NULL)
		return false;
	log_event(LOG_INFO, "route.fallback", LOG_INT, "client", (long long)c->id, LOG_STR,
	          "replica", c->pool->primary->host, LOG_INT, "port",
	          (long long)c->pool->primary->port, LOG_END);
	route_count_fallback(c);
	pool_request_server(c, ROUTE_PRIMARY);
	return true;
}

/* Whether replica pool p has no server and none may be opened now. */
static bool pool_replica_down(const struct pool *p)
{
	return p->n_servers == 0 && (pool_recently_failed(p) ||
	                             endpoint_breaker_refuses(p->primary, ev_now(p->loop->ev)));
}

void pool_request_server(struct client *c, enum endpoint_route route)
{
	struct pool *p = route_target(c, route);
	struct endpoint *ep = p->primary;

	if (p != c->pool)
		pool_move_client(c, p);
	client_set_state(c, CL_WAITING);
	if (p->pause != POOL_RUNNING)
		return; /* waits for RESUME, or query_wait_timeout */
	if (pool_take_idle(c))
		return;
	if (p->home != NULL && pool_replica_down(p)) {
		pool_reroute(c);
		return;
	}
	if (pool_recently_failed(p)) {
		client_fail(c, p->last_error_sqlstate, p->last_error);
		return;
	}
	if (pool_breaker_refused(p, ep, c))
		return;
	pool_open_if_needed(p);
}

/* The first client waiting for a server, FIFO. */
static struct client *pool_next_waiter(struct pool *p)
{
	struct list *it;

	for (it = p->waiting_clients.next; it != &p->waiting_clients; it = it->next) {
		struct client *c = list_entry(it, struct client, node);

		if (c->server != NULL)
			continue; /* already linked; its parameters are being applied */
		if (c->state == CL_WAITING || p->mode == POOL_MODE_SESSION)
			return c;
	}
	return NULL;
}

static struct server *find_server(struct list *head, uint64_t id)
{
	for (struct list *it = head->next; it != head; it = it->next) {
		struct server *sv = list_entry(it, struct server, node);

		if (sv->id == id)
			return sv;
	}
	return NULL;
}

void pool_cancel_done(struct loop_state *ls, uint64_t server_id)
{
	struct list *it;

	for (it = ls->pools.next; it != &ls->pools; it = it->next) {
		struct pool *p = list_entry(it, struct pool, node);
		struct server *sv = find_server(&p->active_servers, server_id);

		if (sv == NULL)
			sv = find_server(&p->idle_servers, server_id);
		if (sv == NULL)
			continue;
		if (sv->cancels_pending > 0)
			sv->cancels_pending--;
		if (sv->state == SV_CANCEL_WAIT && sv->cancels_pending == 0)
			server_query(sv, "SELECT 1", &after_cancel_ops, NULL);
		return;
	}
}

/*
 * Why a server that is free again must be closed rather than reused, or
 * NULL: a reload changed its database entry, lowered the pool's size or
 * removed the database, or the pool is paused.
 */
static const char *pool_server_unwanted(const struct server *sv)
{
	const struct pool *p = sv->pool;

	if (sv->db_gen != p->db_gen)
		return "database entry changed";
	if (p->pause != POOL_RUNNING)
		return "pool paused";
	if (p->retired && p->n_clients == 0)
		return "database removed";
	if (p->n_servers > p->pool_size + pool_reserve(p))
		return "pool size lowered";
	return NULL;
}

void pool_server_ready(struct server *sv)
{
	struct pool *p = sv->pool;
	const char *unwanted;
	struct client *c;

	if (sv->listen_conn) {
		listen_server_ready(sv);
		return;
	}
	if (sv->cancels_pending > 0) {
		/* A cancel for its last client may still land: keep it out of use. */
		server_set_state(sv, SV_CANCEL_WAIT);
		return;
	}
	unwanted = pool_server_unwanted(sv);
	if (unwanted != NULL) {
		server_close(sv, unwanted);
		return;
	}

	p->last_connect_failure = 0;
	p->last_error[0] = 0;
	if (p->mode != POOL_MODE_SESSION) {
		/* Logins waited only to learn the server's parameters. */
		struct list *it = p->waiting_clients.next;

		while (it != &p->waiting_clients) {
			c = list_entry(it, struct client, node);
			it = it->next;
			if (c->state == CL_LOGIN)
				client_finish_login(c, &p->server_params);
		}
	}
	c = pool_next_waiter(p);
	if (c != NULL) {
		pool_link(c, sv);
		return;
	}
	server_set_state(sv, SV_IDLE);
	conn_start_read(&sv->conn); /* notice it if the server goes away */
}

/* Fail every client waiting in p for a server. */
static void pool_fail_waiters(struct pool *p, const char *sqlstate, const char *message)
{
	struct list *it = p->waiting_clients.next;

	while (it != &p->waiting_clients) {
		struct client *c = list_entry(it, struct client, node);

		it = it->next;
		if (!pool_reroute(c))
			client_fail(c, sqlstate, message);
	}
}

/*
 * While EP's breaker refuses, the clients waiting in p are told so when
 * none of its SERVERS (open or on their way) can come to serve them.
 */
static void pool_breaker_fail_waiters(struct pool *p, struct endpoint *ep, int servers)
{
	char msg[512];

	if (servers > 0 || !endpoint_breaker_refuses(ep, ev_now(p->loop->ev)))
		return;
	endpoint_breaker_message(ep, ev_now(p->loop->ev), msg, sizeof(msg));
	pool_fail_waiters(p, SQLSTATE_CANNOT_CONNECT, msg);
}

/* Servers of p on LIST other than EXCEPT. */
static int servers_besides(const struct list *list, const struct server *except)
{
	int n = 0;

	for (const struct list *it = list->next; it != list; it = it->next)
		n += list_entry(it, struct server, node) != except;
	return n;
}

void pool_server_failed(struct pool *p, struct server *failed, struct endpoint *ep,
                        enum endpoint_failure kind, const char *sqlstate, const char *message)
{
	const char *state = sqlstate[0] ? sqlstate : SQLSTATE_CANNOT_CONNECT;
	/*
	 * An outage is the breaker's to pace; anything else (a user's login
	 * refused), or any failure when the breaker is off, fails this pool's
	 * clients fast for server_login_retry.
	 */
	bool paced = pool_endpoint_failed(p->loop, ep, kind, state, message) &&
	             pooler.cfg->breaker_failures > 0;
	int others;

	p->loop->stats.servers_failed++;
	if (!paced)
		p->last_connect_failure = ev_now(p->loop->ev);

	snprintf(p->last_error_sqlstate, sizeof(p->last_error_sqlstate), "%s", state);
	snprintf(p->last_error, sizeof(p->last_error), "%s", message);
	/* Clients can still be served if another server is up or on its way. */
	others = servers_besides(&p->idle_servers, failed) +
	         servers_besides(&p->active_servers, failed) +
	         servers_besides(&p->login_servers, failed);
	if (others > 0)
		return;
	if (paced && p->home == NULL) {
		/* Until the breaker opens they wait (query_wait_timeout); the janitor retries. */
		pool_breaker_fail_waiters(p, ep, 0);
		return;
	}
	pool_fail_waiters(p, p->last_error_sqlstate, p->last_error);
}

/* Decide what a server that a client let go needs before reuse. */
static void pool_recycle(struct server *sv, bool mid_request)
{
	const char *reset = pool_reset_sql(sv->pool);
	const char *unwanted = pool_server_unwanted(sv);

	if (unwanted != NULL && sv->cancels_pending == 0) {
		route_lsn_done(sv, true);
		server_close(sv, unwanted); /* no rollback or reset for a server not kept */
		return;
	}
	if (sv->dirty || mid_request || sv->conn.pass_left > 0 || pbuf_len(&sv->conn.in) > 0) {
		route_lsn_done(sv, true);
		sv->dirty = true;
		server_close(sv, mid_request ? "client left during a request" : "unclean state");
		return;
	}
	if (sv->rw_client != NULL && sv->tx_status == 'I') {
		/* Its client wrote: where the primary's WAL is now, for its reads (route.h). */
		server_query(sv, ROUTE_LSN_SQL, &lsn_ops, NULL);
		return;
	}
	if (sv->tx_status != 'I') {
		/* Roll back first; the reset (if any) follows when that is done. */
		server_query(sv, "ROLLBACK", &rollback_ops, NULL);
		return;
	}
	if (reset != NULL) {
		server_query(sv, reset, &reset_ops, NULL);
		return;
	}
	pool_server_ready(sv);
}

void pool_release_server(struct client *c)
{
	struct server *sv = c->server;
	bool mid_request;

	if (sv == NULL)
		return;
	mid_request = !txn_settled(&c->txn) || stmt_in_flight(c) > 0 || sv->state == SV_INTERNAL;
	if (!mid_request && sv->tx_status == 'I')
		(void)route_client_wrote(c, sv); /* pool_recycle() reads its WAL position */
	client_replay_drop(c);
	c->retried = false;
	c->route_held = false;
	c->route_defer = false;
	c->server = NULL;
	sv->client = NULL;
	txn_unlink(&c->txn);
	stmt_forget_all(c);
	if (server_query_running(sv) == &sync_ops) {
		/* The client left while its parameters were being applied. */
		sv->dirty = true;
	}
	pool_recycle(sv, mid_request);
}

/* The request c was sending to sv can go to another server: nothing of it reached sv. */
static void pool_resend(struct client *c, struct server *sv, const char *why)
{
	c->server = NULL;
	sv->client = NULL;
	txn_unlink(&c->txn);
	stmt_forget_all(c);
	free(c->pending_set); /* its SETs are seen again as it is relayed again */
	c->pending_set = NULL;
	c->retried = true; /* once: a server that dies under every request is reported */
	sv->dirty = true;
	server_close(sv, why);
	log_event(LOG_INFO, "client.resend", LOG_INT, "client", (long long)c->id, LOG_STR, "db",
	          c->database, LOG_STR, "reason", why, LOG_END);
	route_count_fallback(c); /* when a read its replica lost goes to the primary */
	pool_request_server(c, ROUTE_PRIMARY);
}

/* Whether c's request on sv began outside a transaction block and is all that is owed. */
static bool request_first_of_transaction(const struct client *c, const struct server *sv)
{
	return c->state == CL_ACTIVE && sv->state == SV_ACTIVE && sv->tx_status == 'I' &&
	       c->txn.ready_due == 1 && !c->txn.batch_open && c->conn.pass_left == 0 &&
	       sv->conn.pass_left == 0;
}

/*
 * How soon after a request was sent a server's 57P01 (terminated) must come
 * for the server to be taken as terminated while idle, before it ran the
 * request: a backend terminated while idle says so at once; one terminated
 * while running a statement says so when it next checks for interrupts.
 * 50 ms leaves room for a loaded machine; a statement terminated that early
 * is sent again, which is safe as far as the server tells: the replies a
 * backend has made are flushed before its FATAL, so with nothing back it
 * had reported no commit.
 */
#define POOL_TERMINATED_UNREAD 0.05 /* s */

/*
 * Whether the request c sent to sv, which answered nothing, never ran:
 * the server refused its bytes (UNREAD), or it was terminated (57P01, which
 * a backend sends before any reply that a commit would have flushed)
 * within POOL_TERMINATED_UNREAD of the request.
 */
static bool request_never_ran(const struct client *c, const struct server *sv, bool unread)
{
	if (unread)
		return true;
	return sv->fatal_held && strcmp(sv->error_sqlstate, SQLSTATE_ADMIN_SHUTDOWN) == 0 &&
	       txn_oldest_age(&c->txn, ev_now(sv->loop->ev)) < POOL_TERMINATED_UNREAD;
}

/*
 * Whether c's request on sv is a read routed to a replica: whether or not it
 * ran, running it again elsewhere changes nothing, so a replica that goes
 * away under it costs the client nothing.
 */
static bool pool_read_on_replica(struct client *c, const struct server *sv)
{
	return sv->pool->home != NULL && !c->route_may_write && route_defer_discard(c);
}

/* Whether part of an answer to c is held back (route.h): then its request ran. */
static bool pool_answer_held(const struct client *c)
{
	return c->route_defer && pbuf_len(&c->conn.out) > c->route_out_mark;
}

void pool_server_died(struct server *sv, const char *why, bool unread)
{
	struct client *c = sv->client;
	ev_tstamp now = ev_now(sv->loop->ev);
	char sqlstate[6], msg[320];

	/* Copied: the server's fields do not outlive it. */
	snprintf(sqlstate, sizeof(sqlstate), "%s",
	         sv->fatal_held ? sv->error_sqlstate : SQLSTATE_CONNECTION_FAILURE);
	if (sv->fatal_held)
		snprintf(msg, sizeof(msg), "%s", sv->error_message);
	else
		snprintf(msg, sizeof(msg), "server connection lost: %s", why);
	sv->dirty = true; /* whatever happens to the client, it is not reused */
	log_event(LOG_INFO, "server.died", LOG_INT, "server", (long long)sv->id, LOG_INT, "client",
	          (long long)c->id, LOG_STR, "state", server_state_name(sv->state), LOG_STR,
	          "sqlstate", sqlstate, LOG_INT, "unread", (long long)unread, LOG_INT,
	          "request_age_us", (long long)(txn_oldest_age(&c->txn, now) * 1e6), LOG_END);
	if (sv->state == SV_INTERNAL && server_query_running(sv) == &sync_ops && !c->retried) {
		pool_resend(c, sv, "server lost before the request was sent");
		return;
	}
	if (!request_first_of_transaction(c, sv)) {
		client_replay_drop(c);
		client_fail(c, sqlstate, msg);
		server_close(sv, why);
		return;
	}
	ps_server_died(sv); /* the client stays: it never saw those Parses complete */
	if (pool_read_on_replica(c, sv) && client_replay_restore(c)) {
		pool_resend(c, sv, "replica lost during a read");
		return;
	}
	if (request_never_ran(c, sv, unread) && !pool_answer_held(c) && client_replay_restore(c)) {
		pool_resend(c, sv, "server lost without reading the request");
		return;
	}
	/* As PostgreSQL ends a statement that failed outside a transaction block. */
	stmt_error(c, sqlstate, now);
	client_log_error(c, "ERROR", sqlstate, msg);
	proto_write_error(&c->conn.out, "ERROR", sqlstate, msg);
	proto_write_ready(&c->conn.out, 'I');
	txn_ready(&c->txn, 'I', now);
	stmt_ready(c, now);
	free(c->pending_set); /* its transaction did not commit */
	c->pending_set = NULL;
	server_close(sv, why);
	txn_unlink(&c->txn);
	stmt_forget_all(c);
	client_replay_drop(c);
	c->retried = false;
	pool_transaction_done(c);
}

void pool_transaction_done(struct client *c)
{
	pool_release_server(c);
	if (c->state != CL_ACTIVE)
		return;
	if (c->pool->home != NULL)
		pool_move_client(c, c->pool->home); /* a read on a replica is over */
	client_set_state(c, CL_IDLE);
	listen_flush_client(c);
	if (pooler_end_if_stopping(c))
		return;
	if (!client_flush(c))
		return;
	conn_start_read(&c->conn);
	if (pbuf_len(&c->conn.in) > 0)
		client_process_input(c);
}

static void server_param_default(struct server *sv, const char *name)
{
	const char *dflt = params_get(&sv->defaults, name);

	if (dflt != NULL)
		params_set(&sv->params, name, dflt);
	else
		params_unset(&sv->params, name);
}

void pool_session_warning(struct client *c, unsigned bit, const char *what)
{
	if (c->session_warned & bit)
		return;
	c->session_warned |= bit;
	log_event(LOG_WARNING, "client.session_state", LOG_INT, "client", (long long)c->id, LOG_STR,
	          "db", c->pool->db->name, LOG_STR, "user", c->user, LOG_STR, "what", what, LOG_STR,
	          "pool_mode", config_pool_mode_name(c->pool->mode), LOG_END);
}

/* A committed SET/RESET: what the client wants now, and what sv has. */
static void pool_apply_op(struct client *c, struct server *sv, const struct pending_set_op *op)
{
	const char *start = params_get(&c->startup, op->name);

	switch (op->kind) {
	case SQLSCAN_SET:
		params_set(&c->params, op->name, op->value);
		params_set(&sv->params, op->name, op->value);
		break;
	case SQLSCAN_RESET:
		if (start != NULL)
			params_set(&c->params, op->name, start);
		else
			params_unset(&c->params, op->name);
		server_param_default(sv, op->name);
		break;
	case SQLSCAN_RESET_ALL:
		params_reset_all(&c->params, &c->startup);
		params_reset_all(&sv->params, &sv->defaults);
		return;
	default:
		return; /* ended with its transaction */
	}
	if (strcasecmp(op->name, "session_authorization") == 0) {
		/* A new session user drops the role, on the server as here. */
		params_unset(&c->params, "role");
		params_unset(&sv->params, "role");
	}
}

/* Whether a transaction that committed ran a SET that cannot be followed. */
static bool pending_uncertain(const struct pending_set *ps)
{
	for (int i = 0; i < ps->n; i++) {
		if (ps->ops[i].confirmed &&
		    (ps->rolled_back || ps->ops[i].kind == SQLSCAN_UNTRACKED))
			return true; /* a savepoint rollback may have undone some of them */
	}
	return ps->unknown;
}

/*
 * The transaction of the confirmed pending SETs ended. When it committed,
 * they are the client's wishes; when that cannot be told, the server is not
 * reused (closed when released), so no other client gets its settings.
 * Unconfirmed ones belong to statements not yet answered.
 */
static void pool_settle_sets(struct client *c, struct server *sv, bool committed)
{
	struct pending_set *ps = c->pending_set;
	bool uncertain = committed && pending_uncertain(ps);
	int kept = 0;

	if (uncertain) {
		sv->dirty = true;
		pool_session_warning(
		    c, POOL_WARNED_UNTRACKED_SET,
		    "a SET that cannot follow the client (inside a transaction that "
		    "rolled back to a savepoint, or of a form not recognised)");
	}
	for (int i = 0; i < ps->n; i++) {
		if (!ps->ops[i].confirmed)
			ps->ops[kept++] = ps->ops[i];
		else if (committed && !uncertain)
			pool_apply_op(c, sv, &ps->ops[i]);
	}
	ps->n = kept;
	ps->failed = ps->rolled_back = ps->unknown = false;
}

void pool_apply_set(struct client *c, struct server *sv)
{
	struct pending_set *ps = c->pending_set;
	int kept = 0;

	if (sv->tx_status == 'I')
		pool_settle_sets(c, sv, !ps->failed && !ps->rolled_back);
	/* Unconfirmed ones whose request this ReadyForQuery ends never ran (an error came first).
	 */
	for (int i = 0; i < ps->n; i++) {
		if (!ps->ops[i].confirmed)
			ps->ops[i].ahead--;
		if (!ps->ops[i].confirmed && ps->ops[i].ahead < 0)
			continue;
		if (kept != i)
			ps->ops[kept] = ps->ops[i];
		kept++;
	}
	ps->n = kept;
	if (ps->n == 0 && !ps->failed && !ps->rolled_back && !ps->unknown) {
		free(ps);
		c->pending_set = NULL;
	}
}

void pool_set_tag(struct client *c, struct server *sv, const char *tag)
{
	struct pending_set *ps = c->pending_set;
	bool is_set = strcmp(tag, "SET") == 0 || strcmp(tag, "RESET") == 0;
	int i = 0;

	if (strcmp(tag, "DISCARD ALL") == 0) {
		/* Never inside a transaction block: the session is back to its login settings. */
		params_copy(&c->params, &c->startup);
		params_copy(&sv->params, &sv->defaults);
		return;
	}
	if (ps == NULL && !is_set)
		return;
	if (ps == NULL) {
		/* A SET not seen going out (a named prepared statement, say). */
		ps = c->pending_set = calloc(1, sizeof(*ps));
		if (ps == NULL) {
			sv->dirty = true;
			return;
		}
	}
	if (is_set) {
		while (i < ps->n && ps->ops[i].confirmed)
			i++;
		if (i < ps->n)
			ps->ops[i].confirmed = true;
		else
			ps->unknown = true;
	} else if (strcmp(tag, "COMMIT") == 0 || strcmp(tag, "PREPARE TRANSACTION") == 0) {
		pool_settle_sets(c, sv, true);
	} else if (strcmp(tag, "ROLLBACK") == 0) {
		ps->rolled_back = true;
	}
}

void pool_server_gone(struct server *sv)
{
	struct pool *p = sv->pool;

	if (p->pause == POOL_PAUSING && p->n_servers == 0)
		pool_set_pause(p, POOL_PAUSED);
	if (!pooler.shutting_down && !pool_recently_failed(p))
		pool_open_if_needed(p);
}

void pool_client_gone(struct client *c)
{
	route_client_gone(c);
	(c->pool->home != NULL ? c->pool->home : c->pool)->n_clients--;
}

static void pool_expire_waiters(struct pool *p, ev_tstamp now)
{
	struct config *cfg = pooler.cfg;
	ev_tstamp limit = cfg->query_wait_timeout / 1000.0;
	struct list *it = p->waiting_clients.next;

	if (cfg->query_wait_timeout <= 0)
		return;
	while (it != &p->waiting_clients) {
		struct client *c = list_entry(it, struct client, node);

		it = it->next;
		if (c->server == NULL && now - c->wait_since >= limit) {
			p->loop->stats.timeouts[TIMEOUT_QUERY_WAIT]++;
			client_fail(c, SQLSTATE_CONNECTION_FAILURE,
			            "query_wait_timeout: no server connection became free in time");
		}
	}
}

static void pool_expire_servers(struct pool *p, ev_tstamp now)
{
	struct config *cfg = pooler.cfg;
	ev_tstamp idle = cfg->server_idle_timeout / 1000.0;
	ev_tstamp life = cfg->server_lifetime / 1000.0;
	ev_tstamp conn_to = cfg->server_connect_timeout / 1000.0;
	struct list *it;

	it = p->idle_servers.next;
	while (it != &p->idle_servers) {
		struct server *sv = list_entry(it, struct server, node);

		it = it->next;
		if (cfg->server_lifetime > 0 && now - sv->created >= life)
			server_close(sv, "server_lifetime");
		else if (cfg->server_idle_timeout > 0 && now - sv->last_used >= idle &&
		         p->n_servers > p->min_pool_size) {
			p->loop->stats.timeouts[TIMEOUT_SERVER_IDLE]++;
			server_close(sv, "server_idle_timeout");
		}
	}
	it = p->login_servers.next;
	while (it != &p->login_servers) {
		struct server *sv = list_entry(it, struct server, node);

		it = it->next;
		if (cfg->server_connect_timeout > 0 && now - sv->created >= conn_to) {
			p->loop->stats.timeouts[TIMEOUT_SERVER_CONNECT]++;
			pool_server_failed(p, sv, sv->endpoint, ENDPOINT_FAIL_CONNECT_TIMEOUT,
			                   SQLSTATE_CANNOT_CONNECT,
			                   "server_connect_timeout: server did not answer in time");
			sv->dirty = true;
			server_close(sv, "server_connect_timeout");
		}
	}
}

/*
 * The backoff of an open breaker is over and nothing asked for a server:
 * probe it anyway, so that it closes when the server is back rather than
 * at the next client's request.
 */
static void pool_breaker_probe(struct pool *p, ev_tstamp now)
{
	const struct breaker *b = &p->primary->breaker;

	if (b->state != BREAKER_OPEN || now < b->retry_at || !pool_can_open(p))
		return;
	if (pool_breaker_admits(p, p->primary))
		(void)server_connect(p, p->primary);
}

void pool_janitor(struct pool *p, ev_tstamp now)
{
	if (p->retired && p->n_clients == 0)
		close_servers(&p->idle_servers, "database removed");
	listen_janitor(p);
	timeout_janitor(p, now);
	pool_expire_waiters(p, now);
	pool_expire_servers(p, now);
	pool_breaker_fail_waiters(p, p->primary, p->n_servers);
	if (!pooler.shutting_down && !pool_recently_failed(p)) {
		while (p->n_servers < p->min_pool_size && pool_can_open(p) &&
		       pool_breaker_admits(p, p->primary)) {
			if (server_connect(p, p->primary) == NULL)
				break;
		}
		pool_open_if_needed(p);
		pool_breaker_probe(p, now);
	}
	if (p->home == NULL && !p->retired && route_mode(p) != READ_ROUTING_OFF)
		replica_janitor(p, now);
}

static void fail_clients(struct list *head)
{
	/* The client hears PostgreSQL's words for either; the log says which it was. */
	const char *why = pooler.shutting_down ? "pgscope shutdown" : "KILL on the admin console";

	while (!list_empty(head)) {
		struct client *c = list_entry(list_first(head), struct client, node);

		client_set_end_reason(c, SQLSTATE_ADMIN_SHUTDOWN, why);
		client_fail(c, SQLSTATE_ADMIN_SHUTDOWN, POOLER_SHUTDOWN_MESSAGE);
	}
}

void pool_end_idle_clients(struct pool *p)
{
	struct list *it = p->active_clients.next;

	fail_clients(&p->waiting_clients);
	fail_clients(&p->idle_clients);
	while (it != &p->active_clients) {
		struct client *c = list_entry(it, struct client, node);

		it = it->next;
		if (c->server != NULL && c->server->state == SV_ACTIVE &&
		    server_between_transactions(c->server))
			pooler_end_if_stopping(c);
	}
}

void pool_shutdown(struct pool *p)
{
	fail_clients(&p->waiting_clients);
	fail_clients(&p->active_clients);
	fail_clients(&p->idle_clients);
	close_servers(&p->idle_servers, "shutdown");
	close_servers(&p->active_servers, "shutdown");
	close_servers(&p->login_servers, "shutdown");
}

static void free_value(void *value, void *arg)
{
	free(value);
	(void)arg;
}

void pool_free(struct pool *p)
{
	list_del(&p->node);
	params_clear(&p->server_params);
	htab_foreach(&p->channels, free_value, NULL);
	htab_release(&p->channels);
	free(p->listen_sql);
	free(p->scram_keys);
	route_free(p);
	config_db_free(p->db);
	free(p);
}

/* ---- reload (reload.c) ---- */

static void pool_retire(struct pool *p, const char *why);

/* The replica pools of home pool p retire; new ones are made as reads need them. */
static void pool_retire_replicas(struct pool *p, const char *why)
{
	struct route_state *rs = p->route;

	if (rs == NULL)
		return;
	for (int i = 0; i < rs->n; i++) {
		if (rs->replicas[i] != NULL)
			pool_retire(rs->replicas[i], why);
	}
	route_free(p); /* made again from the new entry */
}

/* Stop giving p to new clients; its own clients finish with it. */
static void pool_retire(struct pool *p, const char *why)
{
	pool_retire_replicas(p, why);
	p->retired = true;
	p->min_pool_size = 0;
	log_event(LOG_INFO, "pool.retired", LOG_STR, "db", p->db->name, LOG_STR, "user", p->user,
	          LOG_STR, "reason", why, LOG_INT, "clients", (long long)p->n_clients, LOG_END);
	if (p->n_clients == 0)
		close_servers(&p->idle_servers, why);
}

/*
 * Servers made with p's old entry: idle ones and those still logging in
 * (they would log in to the old address with the new settings) closed now,
 * busy ones when they come back.
 */
static void pool_replace_servers(struct pool *p)
{
	p->db_gen++;
	p->have_server_params = false; /* the next login reports the new entry's settings */
	close_servers(&p->idle_servers, "database entry changed");
	close_servers(&p->login_servers, "database entry changed");
}

/* Idle servers above p's (lowered) size closed now; busy ones go as they come back. */
static void pool_trim(struct pool *p)
{
	while (p->n_servers > p->pool_size + pool_reserve(p) && !list_empty(&p->idle_servers))
		server_close(list_entry(list_first(&p->idle_servers), struct server, node),
		             "pool size lowered");
}

void pool_reconfigure(struct pool *p, const struct db_config *db)
{
	enum reload_db_change change;

	if (p->home != NULL)
		return; /* its home pool retires it when the entry changes */
	if (db == NULL) {
		pool_retire(p, "database removed");
		return;
	}
	if ((db->user != NULL && strcmp(db->user, p->user) != 0) ||
	    (db->user == NULL) != (p->db->user == NULL)) {
		pool_retire(p, "forced user changed");
		return;
	}
	if (config_pool_mode(pooler.cfg, db, p->user) != p->mode) {
		pool_retire(p, "pool_mode changed");
		return;
	}
	change = reload_db_compare(p->db, db);
	if (change != RELOAD_DB_SAME)
		pool_retire_replicas(p, "database entry changed");
	if (!pool_set_db(p, db)) {
		pool_retire(p, "out of memory");
		return;
	}
	if (change == RELOAD_DB_CONNECTION)
		pool_replace_servers(p);
	pool_set_password(p);
	pool_set_sizes(p);
	pool_trim(p);
	if (change != RELOAD_DB_SAME)
		log_event(LOG_INFO, "pool.reconfigured", LOG_STR, "db", p->db->name, LOG_STR,
		          "user", p->user, LOG_STR, "change", reload_db_change_name(change),
		          LOG_INT, "pool_size", (long long)p->pool_size, LOG_END);
	if (!pooler.shutting_down && !pool_recently_failed(p))
		pool_open_if_needed(p); /* a larger pool serves its waiting clients now */
}

/* Nothing refers to p any more: no client, no server (closing ones included). */
static bool pool_unused(const struct pool *p)
{
	if (p->n_clients > 0 || p->listen_server != NULL)
		return false;
	for (int i = 0; i < CL_STATES; i++) {
		if (p->clients_by_state[i] != 0)
			return false;
	}
	for (int i = 0; i < SV_STATES; i++) {
		if (p->servers_by_state[i] != 0)
			return false;
	}
	return true;
}

void pool_free_unused(struct loop_state *ls)
{
	struct list *it = ls->pools.next;

	while (it != &ls->pools) {
		struct pool *p = list_entry(it, struct pool, node);

		it = it->next;
		if (!p->retired || !pool_unused(p))
			continue;
		log_event(LOG_DEBUG, "pool.freed", LOG_STR, "db", p->db->name, LOG_STR, "user",
		          p->user, LOG_END);
		pool_free(p);
	}
}

/* ---- PAUSE and RESUME ---- */

static const char *pool_pause_event(enum pool_pause st)
{
	switch (st) {
	case POOL_RUNNING:
		return "pool.resumed";
	case POOL_PAUSING:
		return "pool.pausing";
	case POOL_PAUSED:
		return "pool.paused";
	}
	abort();
}

/* The one place p->pause changes; each change is logged. */
static void pool_set_pause(struct pool *p, enum pool_pause st)
{
	const char *event = pool_pause_event(st); /* aborts on an unknown state */

	p->pause = st;
	log_event(LOG_INFO, event, LOG_STR, "db", p->db->name, LOG_STR, "user", p->user, LOG_INT,
	          "servers", (long long)p->n_servers, LOG_INT, "clients", (long long)p->n_clients,
	          LOG_END);
}

/* Seconds the oldest waiting client of p has waited at NOW (the list is FIFO). */
static double pool_max_wait(const struct pool *p, double now)
{
	const struct client *c;

	if (list_empty(&p->waiting_clients))
		return 0;
	c = list_entry(list_first(&p->waiting_clients), struct client, node);
	return now > c->wait_since ? now - c->wait_since : 0;
}

static void pool_total_add(struct pool_total *t, const struct pool *p, double now)
{
	double wait = pool_max_wait(p, now);

	for (int i = 0; i < CL_STATES; i++)
		t->clients[i] += p->clients_by_state[i];
	for (int i = 0; i < SV_STATES; i++)
		t->servers[i] += p->servers_by_state[i];
	counts_add(&t->traffic, &p->traffic);
	if (wait > t->max_wait)
		t->max_wait = wait;
}

bool pool_total(const struct pool *home, double now, struct pool_total *out)
{
	const struct route_state *rs = home->route;

	if (home->home != NULL)
		return false;
	memset(out, 0, sizeof(*out));
	pool_total_add(out, home, now);
	for (int i = 0; rs != NULL && i < rs->n; i++) {
		if (rs->replicas[i] != NULL)
			pool_total_add(out, rs->replicas[i], now);
	}
	return true;
}

bool pool_db_paused(const struct loop_state *ls, const char *dbname)
{
	return ls->pause_all || htab_get(&ls->paused_dbs, dbname, strlen(dbname)) != NULL;
}

/* Whether a PAUSE in force on p's loop covers p. */
static bool pool_pause_wanted(const struct pool *p)
{
	return pool_db_paused(p->loop, p->db->name);
}

bool pool_disable(struct loop_state *ls, const char *dbname, bool disable)
{
	log_event(LOG_INFO, disable ? "pooler.disable" : "pooler.enable", LOG_STR, "db", dbname,
	          LOG_END);
	if (!disable) {
		(void)htab_del(&ls->disabled_dbs, dbname, strlen(dbname));
		return true;
	}
	return htab_put(&ls->disabled_dbs, dbname, strlen(dbname), ls);
}

bool pool_db_disabled(const struct loop_state *ls, const char *dbname)
{
	return htab_get(&ls->disabled_dbs, dbname, strlen(dbname)) != NULL;
}

static bool pool_matches(const struct pool *p, const char *dbname)
{
	return dbname == NULL || strcmp(p->db->name, dbname) == 0;
}

/* Stop handing out p's servers; closed as they come back (at once when idle). */
static void pool_pause_one(struct pool *p)
{
	if (p->pause != POOL_RUNNING)
		return;
	pool_set_pause(p, POOL_PAUSING);
	close_servers(&p->idle_servers, "pool paused");
	close_servers(&p->login_servers, "pool paused");
	if (p->pause == POOL_PAUSING && p->n_servers == 0)
		pool_set_pause(p, POOL_PAUSED);
}

static void pool_resume_one(struct pool *p)
{
	if (p->pause == POOL_RUNNING || pool_pause_wanted(p))
		return;
	pool_set_pause(p, POOL_RUNNING);
	pool_open_if_needed(p); /* its waiting clients get servers as they log in */
}

bool pool_pause(struct loop_state *ls, const char *dbname)
{
	if (dbname == NULL)
		ls->pause_all = true;
	else if (!htab_put(&ls->paused_dbs, dbname, strlen(dbname), ls))
		return false;
	log_event(LOG_INFO, "pooler.pause", LOG_STR, "db", dbname != NULL ? dbname : "*", LOG_END);
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		struct pool *p = list_entry(it, struct pool, node);

		if (pool_matches(p, dbname))
			pool_pause_one(p);
	}
	return true;
}

void pool_resume(struct loop_state *ls, const char *dbname)
{
	if (dbname == NULL) {
		ls->pause_all = false;
		htab_release(&ls->paused_dbs);
		htab_init(&ls->paused_dbs);
	} else {
		(void)htab_del(&ls->paused_dbs, dbname, strlen(dbname));
	}
	log_event(LOG_INFO, "pooler.resume", LOG_STR, "db", dbname != NULL ? dbname : "*", LOG_END);
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		struct pool *p = list_entry(it, struct pool, node);

		if (pool_matches(p, dbname))
			pool_resume_one(p);
	}
}

bool pool_pause_done(const struct loop_state *ls, const char *dbname)
{
	for (const struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		if (pool_matches(p, dbname) && p->pause != POOL_PAUSED)
			return false;
	}
	return true;
}
