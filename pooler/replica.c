/*
 * replica.c - replica pools, replay positions, lag and function volatility
 * for read routing (see replica.h).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/config.h"
#include "pooler/endpoint.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/pool.h"
#include "pooler/replica.h"
#include "pooler/route.h"
#include "pooler/server.h"

/* Polls that go unanswered this many periods (plus a second) make a replica stale. */
#define REPLICA_STALE_PERIODS 3

static const char REPLICA_POLL_SQL[] =
    "SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.pg_last_wal_replay_lsn()";
static const char PRIMARY_POLL_SQL[] = "SELECT pg_catalog.pg_current_wal_lsn()";
/* 'v' > 's' > 'i': the most volatile overload of each name. */
static const char FUNCS_SQL[] = "SELECT proname, max(provolatile::text) FROM pg_catalog.pg_proc "
                                "GROUP BY proname";

bool replica_parse_lsn(const char *text, uint64_t *lsn)
{
	unsigned int hi, lo;
	char tail;

	if (sscanf(text, "%X/%X%c", &hi, &lo, &tail) != 2)
		return false;
	*lsn = ((uint64_t)hi << 32) | lo;
	return true;
}

static double period(void)
{
	return pooler.cfg->replica_check_period / 1000.0;
}

bool replica_fresh(const struct endpoint *ep, double now)
{
	return ep->wal.polled > 0 && now - ep->wal.polled <= REPLICA_STALE_PERIODS * period() + 1.0;
}

double replica_lag(const struct endpoint *primary, uint64_t replay, double now)
{
	double oldest = 0;

	for (int i = 0; i < ENDPOINT_WAL_HISTORY; i++) {
		double at = primary->wal.history[i].at;

		if (at > 0 && primary->wal.history[i].lsn > replay && (oldest == 0 || at < oldest))
			oldest = at;
	}
	return oldest > 0 && now > oldest ? now - oldest : 0;
}

/* Split "host:port[@weight]" (as config.c normalises it) into its parts. */
static bool replica_address(const char *item, char *host, size_t hostlen, int *port)
{
	const char *at = strrchr(item, '@');
	size_t len = at != NULL ? (size_t)(at - item) : strlen(item);
	const char *colon;

	colon = memrchr(item, ':', len);
	if (colon == NULL)
		return false;
	*port = atoi(colon + 1);
	len = (size_t)(colon - item);
	if (len >= 2 && item[0] == '[' && item[len - 1] == ']') {
		item++; /* [v6addr] */
		len -= 2;
	}
	if (len >= hostlen)
		return false;
	memcpy(host, item, len);
	host[len] = 0;
	return true;
}

struct pool *replica_pool(struct pool *home, int i)
{
	struct route_state *rs = home->route;
	struct db_config *db;
	char host[256];
	int port;

	if (rs == NULL || i >= rs->n)
		return NULL;
	if (rs->replicas[i] != NULL)
		return rs->replicas[i];
	if (!replica_address(home->db->replicas[i], host, sizeof(host), &port))
		return NULL;
	db = config_db_instantiate(home->db, home->db->name);
	if (db == NULL)
		return NULL;
	free(db->host);
	db->host = strdup(host);
	db->port = port;
	if (db->host != NULL)
		rs->replicas[i] = pool_replica_new(home, db);
	config_db_free(db); /* the pool keeps a copy */
	return rs->replicas[i];
}

/* An idle server of p that a poll may borrow: none while clients wait for one. */
static struct server *replica_lend(struct pool *p)
{
	if (!list_empty(&p->waiting_clients) || list_empty(&p->idle_servers))
		return NULL;
	return list_entry(list_first(&p->idle_servers), struct server, node);
}

/* ---- the primary's position ---- */

static void primary_row(struct server *sv, void *arg, int n, const char *const *values)
{
	struct endpoint *ep = sv->endpoint;
	double now = ev_now(sv->loop->ev);
	uint64_t lsn;

	(void)arg;
	if (n < 1 || values[0] == NULL || !replica_parse_lsn(values[0], &lsn))
		return;
	ep->wal.lsn = lsn;
	ep->wal.polled = now;
	ep->wal.history[ep->wal.next].at = now;
	ep->wal.history[ep->wal.next].lsn = lsn;
	ep->wal.next = (ep->wal.next + 1) % ENDPOINT_WAL_HISTORY;
}

/* A query of this module ended: the server goes back to its pool, or is closed (WHY). */
static void replica_query_end(struct server *sv, bool failed, const char *why)
{
	if (failed || sv->tx_status != 'I') {
		sv->dirty = true;
		server_close(sv, why);
		return;
	}
	pool_server_ready(sv);
}

/* Every poll ends the same way: the endpoint may be polled again, the server goes back. */
static void poll_done(struct server *sv, void *arg, bool failed)
{
	(void)arg;
	sv->endpoint->wal.polling = false;
	replica_query_end(sv, failed, "replica poll failed");
}

static void poll_close(struct server *sv, void *arg)
{
	(void)arg;
	sv->endpoint->wal.polling = false;
}

static const struct server_query_ops primary_poll_ops = {
    .name = "wal_position", .on_row = primary_row, .on_done = poll_done, .on_close = poll_close};

/* ---- a replica's position and lag ---- */

static void replica_set_lagging(struct endpoint *ep, bool lagging)
{
	if (ep->lagging == lagging)
		return;
	ep->lagging = lagging;
	if (lagging)
		ep->lag_skips++;
	log_event(lagging ? LOG_WARNING : LOG_INFO,
	          lagging ? "replica.lagging" : "replica.caught_up", LOG_STR, "host", ep->host,
	          LOG_INT, "port", (long long)ep->port, LOG_INT, "lag_ms",
	          (long long)(ep->lag * 1000), LOG_INT, "max_replica_lag_ms",
	          (long long)pooler.cfg->max_replica_lag, LOG_END);
}

static void replica_row(struct server *sv, void *arg, int n, const char *const *values)
{
	struct pool *home = arg;
	struct endpoint *ep = sv->endpoint;
	double now = ev_now(sv->loop->ev);
	int max_lag = pooler.cfg->max_replica_lag;
	uint64_t lsn;

	if (n < 2 || values[0] == NULL || values[1] == NULL || strcmp(values[0], "t") != 0 ||
	    !replica_parse_lsn(values[1], &lsn)) {
		/* Promoted, or not replaying: not a replica to route reads to. */
		ep->wal.polled = 0;
		return;
	}
	ep->wal.lsn = lsn;
	ep->wal.polled = now;
	ep->lag = replica_lag(home->primary, lsn, now);
	replica_set_lagging(ep, max_lag > 0 && ep->lag * 1000 > max_lag);
}

static const struct server_query_ops replica_poll_ops = {
    .name = "replay_position", .on_row = replica_row, .on_done = poll_done, .on_close = poll_close};

/* ---- function volatility ---- */

/* The home pool a load is for, found again by its servers' pool. */
static struct route_state *funcs_state(struct server *sv)
{
	struct pool *home = sv->pool->home != NULL ? sv->pool->home : sv->pool;

	return home->route;
}

static void funcs_row(struct server *sv, void *arg, int n, const char *const *values)
{
	struct htab *t = arg;

	(void)sv;
	if (n < 2 || values[0] == NULL || values[1] == NULL)
		return;
	(void)htab_put(t, values[0], strlen(values[0]), (void *)(intptr_t)values[1][0]);
}

static void funcs_end(struct server *sv, struct htab *t, bool ok)
{
	struct route_state *rs = funcs_state(sv);

	if (rs != NULL && ok) {
		htab_release(&rs->funcs);
		rs->funcs = *t;
		rs->funcs_loaded = true;
		log_event(LOG_INFO, "route.functions_loaded", LOG_STR, "db", sv->pool->db->name,
		          LOG_INT, "names", (long long)rs->funcs.count, LOG_END);
	} else {
		htab_release(t);
	}
	if (rs != NULL)
		rs->funcs_loading = false;
	free(t);
}

static void funcs_done(struct server *sv, void *arg, bool failed)
{
	funcs_end(sv, arg, !failed);
	replica_query_end(sv, failed, "function volatility load failed");
}

static void funcs_close(struct server *sv, void *arg)
{
	funcs_end(sv, arg, false);
}

static const struct server_query_ops funcs_ops = {.name = "function_volatility",
                                                  .on_row = funcs_row,
                                                  .on_done = funcs_done,
                                                  .on_close = funcs_close};

/* Load pg_proc's volatility when none is known or a name was missed, at most once a period. */
static void replica_load_funcs(struct pool *home, struct route_state *rs, double now)
{
	struct server *sv = NULL;
	struct htab *t;

	if (rs->funcs_loading || (rs->funcs_loaded && !rs->funcs_wanted) ||
	    now - rs->funcs_at < period())
		return;
	/* The replicas have the primary's catalog: ask one of them first. */
	for (int i = 0; i < rs->n && sv == NULL; i++) {
		if (rs->replicas[i] != NULL && !rs->replicas[i]->retired)
			sv = replica_lend(rs->replicas[i]);
	}
	if (sv == NULL)
		sv = replica_lend(home);
	if (sv == NULL)
		return;
	t = malloc(sizeof(*t));
	if (t == NULL)
		return;
	htab_init(t);
	rs->funcs_loading = true;
	rs->funcs_wanted = false;
	rs->funcs_at = now;
	(void)server_query(sv, FUNCS_SQL, &funcs_ops, t);
}

/* Send the poll SQL on an idle server of p for EP if one is due. */
static void replica_poll(struct pool *p, struct endpoint *ep, const char *sql,
                         const struct server_query_ops *ops, void *arg, double now)
{
	struct server *sv;

	if (ep->wal.polling || now - ep->wal.asked < period())
		return;
	sv = replica_lend(p);
	if (sv == NULL)
		return;
	ep->wal.polling = true;
	ep->wal.asked = now;
	(void)server_query(sv, sql, ops, arg);
}

void replica_janitor(struct pool *home, double now)
{
	struct route_state *rs = route_state_get(home);

	if (rs == NULL)
		return;
	replica_poll(home, home->primary, PRIMARY_POLL_SQL, &primary_poll_ops, NULL, now);
	replica_load_funcs(home, rs, now);
	for (int i = 0; i < rs->n; i++) {
		struct pool *rp = replica_pool(home, i);

		if (rp != NULL && !rp->retired)
			replica_poll(rp, rp->primary, REPLICA_POLL_SQL, &replica_poll_ops, home,
			             now);
	}
}
