/*
 * route.c - read routing: the classification of requests and the choice of
 * a replica (see route.h). Polling the replicas and the WAL positions is
 * replica.c's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyzer/parse.h"
#include "analyzer/readonly.h"
#include "pooler/client.h"
#include "pooler/endpoint.h"
#include "pooler/loop.h"
#include "pooler/params.h"
#include "pooler/pool.h"
#include "pooler/prepared.h"
#include "pooler/proto.h"
#include "pooler/replica.h"
#include "pooler/route.h"
#include "pooler/textshape.h"
#include "pooler/server.h"

/* A statement text's classification, cached by text. */
struct route_class {
	enum readonly_class cls;
	enum route_hint hint; /* from a comment in the text */
	int n_funcs;
	char funcs[][READONLY_FUNC_NAME_MAX];
};

/*
 * Classifications seen by this process (one event loop) -> struct
 * route_class *, keyed by the text's shape (textshape.h: texts that differ
 * only in literal values share one, so a simple-protocol workload that
 * inlines its values is parsed once per statement form), as two independent
 * 64-bit hashes; a text without a shape (dollar quoting) by its bytes, in a
 * table of its own.
 */
static struct htab route_cache;
static struct htab route_texts;

/* The second hash of a shape key: any odd constant unlike FNV's offset basis. */
#define ROUTE_SHAPE_SEED 0x9e3779b97f4a7c15ull

struct route_shape_key {
	uint64_t a, b;
};
static bool route_parsed; /* this thread has parsed: release the parser at the end */

/* Texts too long to parse or classify: the primary, not cached. */
static const struct route_class route_unknown = {.cls = READONLY_WRITE};

enum read_routing route_mode(const struct pool *p)
{
	if (p->mode == POOL_MODE_SESSION || p->db->replicas == NULL)
		return READ_ROUTING_OFF;
	return p->db->read_routing >= 0 ? (enum read_routing)p->db->read_routing
	                                : (enum read_routing)pooler.cfg->read_routing;
}

enum route_hint route_text_hint(const char *sql, size_t len)
{
	static const char key[] = "pgscope:route=";
	const char *at = memmem(sql, len, key, sizeof(key) - 1);
	size_t rest;

	if (at == NULL)
		return ROUTE_HINT_AUTO;
	at += sizeof(key) - 1;
	rest = len - (size_t)(at - sql);
	if (rest >= 7 && strncasecmp(at, "primary", 7) == 0)
		return ROUTE_HINT_PRIMARY;
	if (rest >= 7 && strncasecmp(at, "replica", 7) == 0)
		return ROUTE_HINT_REPLICA;
	return ROUTE_HINT_AUTO;
}

static void free_value(void *value, void *arg)
{
	(void)arg;
	free(value);
}

void route_cache_release(void)
{
	htab_foreach(&route_cache, free_value, NULL);
	htab_release(&route_cache);
	htab_init(&route_cache);
	htab_foreach(&route_texts, free_value, NULL);
	htab_release(&route_texts);
	htab_init(&route_texts);
	if (route_parsed)
		parse_thread_cleanup();
	route_parsed = false;
}

/* Classify a text not seen before: a bounded parse, here on the loop. */
static struct route_class *route_class_make(const char *sql, size_t len)
{
	struct readonly_result r = {.cls = READONLY_WRITE};
	struct parse_tree tree;
	struct route_class *rc;

	route_parsed = true;
	if (parse_sql(sql, len, ROUTE_PARSE_MAX, &tree, NULL) == PARSE_OK) {
		readonly_classify(&tree, &r);
		parse_tree_release(&tree);
	}
	rc = malloc(sizeof(*rc) + (size_t)r.n_funcs * READONLY_FUNC_NAME_MAX);
	if (rc == NULL)
		return NULL;
	rc->cls = r.cls;
	rc->hint = route_text_hint(sql, len);
	rc->n_funcs = r.n_funcs;
	memcpy(rc->funcs, r.funcs, (size_t)r.n_funcs * READONLY_FUNC_NAME_MAX);
	return rc;
}

/* The classification of sql[0..len): from the cache, else made and cached. */
static const struct route_class *route_class_get(const char *sql, size_t len)
{
	struct route_shape_key shape = {.a = textshape_hash(sql, len, 0)};
	struct htab *table = shape.a != 0 ? &route_cache : &route_texts;
	const void *key = sql;
	size_t klen = len;
	struct route_class *rc;

	if (shape.a != 0) {
		shape.b = textshape_hash(sql, len, ROUTE_SHAPE_SEED);
		key = &shape;
		klen = sizeof(shape);
	}
	rc = htab_get(table, key, klen);
	if (rc != NULL)
		return rc;
	if (len > ROUTE_PARSE_MAX)
		return &route_unknown;
	rc = route_class_make(sql, len);
	if (rc == NULL)
		return &route_unknown;
	if (table->count >= ROUTE_CACHE_MAX) {
		/* Forms that never repeat: start over rather than grow. */
		htab_foreach(table, free_value, NULL);
		htab_release(table);
		htab_init(table);
	}
	if (!htab_put(table, key, klen, rc)) {
		free(rc);
		return &route_unknown;
	}
	return rc;
}

/* NUL-terminated string at body[*off..len), advancing *off past it; NULL if none. */
static const char *body_string(const uint8_t *body, size_t len, size_t *off)
{
	const uint8_t *nul;
	const char *s;

	if (*off >= len)
		return NULL;
	nul = memchr(body + *off, 0, len - *off);
	if (nul == NULL)
		return NULL;
	s = (const char *)body + *off;
	*off = (size_t)(nul - body) + 1;
	return s;
}

/*
 * The statement text the request at the head of c's input runs: a Query's,
 * a Parse's, or a Bind's prepared statement's. false when there is none
 * whole in the buffer.
 */
static bool request_text(const struct client *c, const char **sql, size_t *sql_len)
{
	const struct pbuf *in = &c->conn.in;
	const uint8_t *head = pbuf_head(in), *body;
	size_t len, off = 0;
	const char *s;

	if (pbuf_len(in) < PROTO_HDR)
		return false;
	len = proto_get32(head + 1);
	if (len < 4 || pbuf_len(in) < len + 1u)
		return false;
	body = head + PROTO_HDR;
	len -= 4;
	switch (head[0]) {
	case 'Q':
		s = body_string(body, len, &off);
		break;
	case 'P':
		s = body_string(body, len, &off) != NULL ? body_string(body, len, &off) : NULL;
		break;
	case 'B': {
		const char *stmt =
		    body_string(body, len, &off) != NULL ? body_string(body, len, &off) : NULL;

		s = stmt != NULL ? ps_client_text(&c->ps, stmt) : NULL;
		break;
	}
	default:
		return false;
	}
	if (s == NULL)
		return false;
	*sql = s;
	*sql_len = strlen(s);
	return true;
}

/* The client's SET pgscope.route. */
static enum route_hint client_hint(const struct client *c)
{
	const char *v = params_get(&c->params, "pgscope.route");

	if (v == NULL)
		return ROUTE_HINT_AUTO;
	if (strcasecmp(v, "primary") == 0)
		return ROUTE_HINT_PRIMARY;
	if (strcasecmp(v, "replica") == 0)
		return ROUTE_HINT_REPLICA;
	return ROUTE_HINT_AUTO;
}

static bool client_default_read_only(const struct client *c)
{
	const char *v = params_get(&c->params, "default_transaction_read_only");

	return v != NULL &&
	       (strcasecmp(v, "on") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* The routing state of home pool p, made on first use; NULL when out of memory. */
struct route_state *route_state_get(struct pool *p)
{
	struct route_state *rs = p->route;

	if (rs != NULL)
		return rs;
	rs = calloc(1, sizeof(*rs));
	if (rs == NULL)
		return NULL;
	htab_init(&rs->funcs);
	for (char **r = p->db->replicas; r != NULL && *r != NULL && rs->n < ROUTE_MAX_REPLICAS;
	     r++) {
		const char *at = strrchr(*r, '@');

		rs->weight[rs->n++] = at != NULL ? atoi(at + 1) : 1;
	}
	p->route = rs;
	return rs;
}

/* Whether every function rc calls is known from pg_proc and not volatile. */
static bool route_funcs_safe(struct pool *p, const struct route_class *rc)
{
	struct route_state *rs;

	if (rc->n_funcs == 0)
		return true;
	rs = route_state_get(p);
	if (rs == NULL)
		return false;
	if (!rs->funcs_loaded) {
		rs->funcs_wanted = true;
		return false;
	}
	for (int i = 0; i < rc->n_funcs; i++) {
		const char *name = rc->funcs[i], *dot = strchr(name, '.');
		void *v;

		if (dot == NULL && readonly_volatile_harmless(name))
			continue;
		/* pg_proc is read by name: the most volatile function of that name decides. */
		if (dot != NULL)
			name = dot + 1;
		v = htab_get(&rs->funcs, name, strlen(name));
		if (v == NULL) {
			rs->funcs_wanted = true; /* made since the last load, or no such function */
			return false;
		}
		if ((intptr_t)v == 'v')
			return false;
	}
	return true;
}

enum endpoint_route route_classify(struct client *c)
{
	struct pool *p = c->pool;
	enum route_hint hint;
	const struct route_class *rc;
	const char *sql;
	size_t len;
	bool safe;

	c->route_may_write = true; /* until the text says otherwise */
	if (p->home != NULL || route_mode(p) == READ_ROUTING_OFF || !request_text(c, &sql, &len))
		return ROUTE_PRIMARY;
	rc = route_class_get(sql, len);
	safe =
	    rc->cls == READONLY_BEGIN_RO || (rc->cls == READONLY_READ && route_funcs_safe(p, rc));
	/* Whatever the hints say: read-your-writes follows what the transaction may do. */
	c->route_may_write = !safe;
	hint = rc->hint != ROUTE_HINT_AUTO ? rc->hint : client_hint(c);
	if (hint == ROUTE_HINT_PRIMARY)
		return ROUTE_PRIMARY;
	if (hint == ROUTE_HINT_REPLICA || safe)
		return ROUTE_READ;
	if (rc->cls == READONLY_BEGIN && client_default_read_only(c))
		return ROUTE_READ;
	return ROUTE_PRIMARY;
}

/* Whether replica pool rp can take a read of c now. */
static bool replica_usable(const struct pool *rp, const struct client *c, double now)
{
	const struct config *cfg = pooler.cfg;
	const struct endpoint *ep = rp->primary;

	if (rp->retired || rp->pause != POOL_RUNNING || endpoint_breaker_refuses(ep, now))
		return false;
	if (rp->n_servers == 0 && rp->last_connect_failure > 0 &&
	    now - rp->last_connect_failure < cfg->server_login_retry / 1000.0)
		return false;
	if (!replica_fresh(ep, now) || ep->lagging)
		return false;
	switch ((enum read_your_writes)cfg->read_your_writes) {
	case RYW_LSN:
		if (c->rw_pending)
			return false;
		if (c->rw_lsn == UINT64_MAX) /* its position could not be read: the window rule */
			return now - c->rw_at >= cfg->read_after_write_delay / 1000.0;
		return ep->wal.lsn >= c->rw_lsn;
	case RYW_WINDOW:
		return c->rw_at == 0 || now - c->rw_at >= cfg->read_after_write_delay / 1000.0;
	case RYW_OFF:
		break;
	}
	return true;
}

/* Load of a candidate for least_connections: its transactions running and waiting. */
static int pool_load(const struct pool *p)
{
	return p->clients_by_state[CL_ACTIVE] + p->clients_by_state[CL_WAITING];
}

/* The weight of candidate K: a replica's "@weight", 1 for the primary (K == rs->n). */
static int route_weight(const struct route_state *rs, int k)
{
	return k < rs->n ? rs->weight[k] : 1;
}

/*
 * Pick among the N candidates (their index in rs, or rs->n for the primary)
 * by the balancing in force.
 */
static int route_balance(struct route_state *rs, struct pool *home, const int *cand, int n)
{
	int best = 0, total = 0;

	switch ((enum balancing)pooler.cfg->balancing) {
	case BALANCING_LEAST_CONNECTIONS:
		for (int i = 1; i < n; i++) {
			const struct pool *a = cand[i] < rs->n ? rs->replicas[cand[i]] : home;
			const struct pool *b = cand[best] < rs->n ? rs->replicas[cand[best]] : home;

			if (pool_load(a) < pool_load(b))
				best = i;
		}
		return cand[best];
	case BALANCING_WEIGHTED:
		/* Smooth weighted round robin: each gains its weight, the richest pays the total.
		 */
		for (int i = 0; i < n; i++) {
			rs->credit[cand[i]] += route_weight(rs, cand[i]);
			total += route_weight(rs, cand[i]);
		}
		for (int i = 1; i < n; i++) {
			if (rs->credit[cand[i]] > rs->credit[cand[best]])
				best = i;
		}
		rs->credit[cand[best]] -= total;
		return cand[best];
	case BALANCING_ROUND_ROBIN:
		break;
	}
	return cand[rs->next++ % (unsigned)n];
}

void route_count_fallback(const struct client *c)
{
	if (c->pool->home != NULL)
		c->pool->home->primary->routed_fallback++;
}

struct pool *route_target(struct client *c, enum endpoint_route route)
{
	struct pool *home = c->pool->home != NULL ? c->pool->home : c->pool;
	double now = ev_now(home->loop->ev);
	struct route_state *rs;
	int cand[ROUTE_MAX_REPLICAS + 1], n = 0, pick;
	struct pool *rp;

	if (route != ROUTE_READ || route_mode(home) == READ_ROUTING_OFF)
		return home;
	rs = route_state_get(home);
	if (rs == NULL)
		return home;
	for (int i = 0; i < rs->n; i++) {
		rp = replica_pool(home, i);
		if (rp != NULL && replica_usable(rp, c, now))
			cand[n++] = i;
	}
	if (n > 0 && route_mode(home) == READ_ROUTING_REPLICAS_AND_PRIMARY)
		cand[n++] = rs->n;
	if (n == 0) {
		home->primary->routed_fallback++;
		return home;
	}
	pick = route_balance(rs, home, cand, n);
	if (pick >= rs->n) {
		home->primary->routed++; /* balanced onto the primary: a read routed there too */
		return home;
	}
	rp = rs->replicas[pick];
	rp->primary->routed++;
	return rp;
}

bool route_hold(struct client *c)
{
	const struct server *sv = c->server;

	if (sv == NULL || sv->pool->home == NULL)
		return false;
	if (c->txn.ready_due == 0 || c->txn.batch_open || c->txn.status != 'I')
		return false;
	c->route_held = true;
	return true;
}

/*
 * The insert position: past the commit record even when synchronous_commit
 * is off and the commit has not been written out yet (pg_current_wal_lsn()
 * may then be short of it).
 */
void route_defer_start(struct client *c)
{
	c->route_defer = c->pool->home != NULL && c->replay_on;
	c->route_out_mark = pbuf_len(&c->conn.out);
}

void route_defer_check(struct client *c)
{
	if (!c->route_defer)
		return;
	if (c->replay_on && c->txn.ready_due > 0 && pbuf_len(&c->conn.out) < ROUTE_DEFER_MAX)
		return;
	/*
	 * Whole, too large to keep, or not a request that could be sent again:
	 * it goes to the client and is not run again.
	 */
	c->route_defer = false;
	client_replay_drop(c);
}

bool route_defer_discard(struct client *c)
{
	struct pbuf *out = &c->conn.out;

	if (!c->route_defer || pbuf_len(out) < c->route_out_mark)
		return false;
	out->end = out->start + c->route_out_mark;
	c->route_defer = false;
	return true;
}

const char ROUTE_LSN_SQL[] = "SELECT pg_catalog.pg_current_wal_insert_lsn()";

bool route_client_wrote(struct client *c, struct server *sv)
{
	struct pool *home = sv->pool;

	if (home->home != NULL || route_mode(home) == READ_ROUTING_OFF)
		return false;
	if (!c->txn.wrote && !c->route_may_write)
		return false;
	c->rw_at = ev_now(home->loop->ev);
	if ((enum read_your_writes)pooler.cfg->read_your_writes != RYW_LSN)
		return false;
	if (c->rw_server != NULL)
		c->rw_server->rw_client = NULL; /* a later write supersedes that position */
	c->rw_pending = true;
	c->rw_server = sv;
	sv->rw_client = c;
	return true;
}

void route_lsn_row(struct server *sv, int n, const char *const *values)
{
	struct client *c = sv->rw_client;
	uint64_t lsn;

	if (c == NULL || n < 1 || values[0] == NULL || !replica_parse_lsn(values[0], &lsn))
		return;
	c->rw_lsn = lsn;
	c->rw_pending = false;
}

void route_lsn_done(struct server *sv, bool failed)
{
	struct client *c = sv->rw_client;

	if (c == NULL)
		return;
	if (c->rw_pending) {
		/* No position: the client reads on the primary for read_after_write_delay. */
		c->rw_pending = false;
		c->rw_lsn = UINT64_MAX;
	}
	(void)failed;
	c->rw_server = NULL;
	sv->rw_client = NULL;
}

void route_client_gone(struct client *c)
{
	if (c->rw_server != NULL)
		c->rw_server->rw_client = NULL;
	c->rw_server = NULL;
}

void route_free(struct pool *p)
{
	struct route_state *rs = p->route;

	if (rs == NULL)
		return;
	htab_release(&rs->funcs);
	free(rs);
	p->route = NULL;
}
