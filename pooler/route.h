/*
 * route.h - read routing: which transactions may run on a streaming replica
 * and on which one.
 *
 * A pool whose database lists replicas= has a replica pool per replica (its
 * own servers, its own pool_size), made on first use. A client idle in its
 * pool (its "home") whose next request starts with a statement that only
 * reads is moved, for that one transaction, to the replica pool
 * route_target() picks, and back home when the transaction ends.
 *
 * The decision is made once per transaction, on the event loop: a hash
 * lookup of the statement text (or the prepared statement's text) in a
 * cache of classifications; a text not seen before is parsed there, bounded
 * by ROUTE_PARSE_MAX bytes (longer ones go to the primary). Whether the
 * functions a SELECT calls are volatile comes from pg_proc, loaded by
 * replica.c. Everything not known to be a safe read goes to the primary.
 */
#ifndef PGSCOPE_POOLER_ROUTE_H
#define PGSCOPE_POOLER_ROUTE_H

#include <stdbool.h>

#include "pooler/htab.h"
#include "pooler/pooler.h"

#define ROUTE_MAX_REPLICAS 16
#define ROUTE_PARSE_MAX    16384 /* bytes: longer first-seen texts go to the primary */
#define ROUTE_CACHE_MAX    20000 /* classifications kept; the cache starts over beyond */

/*
 * A client's own wish for its reads: a comment in a statement, or the
 * parameter pgscope.route that it SETs (PostgreSQL keeps such a dotted name
 * as a placeholder setting, so the SET runs on the server and follows the
 * client from server to server like any other).
 */
enum route_hint {
	ROUTE_HINT_AUTO = 0,
	ROUTE_HINT_PRIMARY,
	ROUTE_HINT_REPLICA,
};

/* Read routing state of a home pool (p->route), owned by it. */
struct route_state {
	int n;                                     /* replicas configured */
	struct pool *replicas[ROUTE_MAX_REPLICAS]; /* their pools, NULL until made */
	int weight[ROUTE_MAX_REPLICAS];            /* from "@weight", default 1 */
	int credit[ROUTE_MAX_REPLICAS + 1];        /* smooth weighted round robin (+ the primary) */
	unsigned next;                             /* round robin position */
	/* Function volatility from pg_proc: name -> (void *)(intptr_t) 'i', 's' or 'v'. */
	struct htab funcs;
	bool funcs_loaded;  /* funcs holds a whole load */
	bool funcs_loading; /* a load is under way (replica.c) */
	bool funcs_wanted;  /* a name was not found: load again */
	double funcs_at;    /* when the last load started */
};

/* The routing state of home pool p, made on first use; NULL when out of memory. */
struct route_state *route_state_get(struct pool *p);

/* The read routing in force for home pool p (off in session mode or without replicas). */
enum read_routing route_mode(const struct pool *p);

/*
 * Where the request at the head of c's input may run: ROUTE_PRIMARY, or
 * ROUTE_READ when it starts a transaction that only reads. c is idle in its
 * home pool. No allocation on a cache hit.
 */
enum endpoint_route route_classify(struct client *c);

/*
 * The pool c's request on ROUTE waits in: a replica pool for a read that a
 * healthy replica, caught up with c's last write, can take; else c's home.
 * Counted on the endpoint chosen (routed, or routed_fallback on the primary).
 */
struct pool *route_target(struct client *c, enum endpoint_route route);

/*
 * c leaves the replica pool its read waited in for the primary, the read not
 * started (the replica failed or refused it): count that on c's home primary,
 * a fallback as much as one route_target() counts. Nothing when c is not in
 * a replica pool.
 */
void route_count_fallback(const struct client *c);

/*
 * c, linked to a replica's server, has sent a request that ends a segment
 * and sends another outside a transaction block: hold it until the answer
 * says whether a transaction is open, so that a write pipelined behind a
 * read is routed on its own. On the forwarding path: one pointer test when
 * the server is not a replica's.
 */
bool route_hold(struct client *c);

/*
 * A replica's answer to a read that began a transaction is kept in c's
 * write buffer until it is whole (ROUTE_DEFER_MAX at most): started when c
 * is linked to a replica's server with its request to be recorded, ended by
 * the ReadyForQuery or the size. If the replica dies meanwhile, the client
 * has seen nothing: route_defer_discard() drops the partial answer and the
 * read runs again on the primary.
 */
#define ROUTE_DEFER_MAX (64u * 1024u)
void route_defer_start(struct client *c);
void route_defer_check(struct client *c);
bool route_defer_discard(struct client *c);

/*
 * c's transaction on sv (the primary) ended after writing: c's reads wait
 * for the replicas to replay its commit. true when sv must first report its
 * WAL position (route_lsn_ops), false when nothing more is needed.
 */
bool route_client_wrote(struct client *c, struct server *sv);

/* The internal query that reads a primary's WAL position for the client that wrote. */
extern const char ROUTE_LSN_SQL[];
/* Its row and its end (the caller then recycles sv). */
void route_lsn_row(struct server *sv, int n, const char *const *values);
void route_lsn_done(struct server *sv, bool failed);

/* c is being freed: forget it wherever routing refers to it. */
void route_client_gone(struct client *c);

/* A statement's text carries a route hint comment: which. */
enum route_hint route_text_hint(const char *sql, size_t len);

/* Free the routing state of home pool p (not the replica pools, which are on the loop). */
void route_free(struct pool *p);

/* Drop the whole classification cache (shutdown, tests). */
void route_cache_release(void);

#endif
