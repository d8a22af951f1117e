/*
 * replica.h - the streaming replicas of a database: their pools, their
 * replay positions and lag, and the function volatility read routing needs.
 *
 * Every replica_check_period the janitor of a home pool (one whose database
 * lists replicas=) reads, each on an idle server of its own pool:
 *  - the primary's pg_current_wal_lsn(), kept in a short history;
 *  - each replica's pg_is_in_recovery() and pg_last_wal_replay_lsn(); its lag
 *    is how long ago the primary was at a position the replica has not yet
 *    replayed (0 when it has replayed the newest one seen);
 *  - pg_proc's volatility by function name, once and again when a SELECT
 *    calls a function not known yet.
 * A replica whose lag exceeds max_replica_lag is skipped (logged when it
 * starts and stops); one not polled for a while (its servers are down, its
 * breaker open) is skipped too.
 */
#ifndef PGSCOPE_POOLER_REPLICA_H
#define PGSCOPE_POOLER_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include "pooler/pooler.h"

/* "X/Y" (pg_lsn text) into *lsn. */
bool replica_parse_lsn(const char *text, uint64_t *lsn);

/*
 * The pool of home pool HOME's replica I (its index in replicas=), made on
 * first use; NULL when out of memory.
 */
struct pool *replica_pool(struct pool *home, int i);

/* Whether EP's replay position was read recently enough to route by it. */
bool replica_fresh(const struct endpoint *ep, double now);

/* The lag of a replica that has replayed up to REPLAY, from PRIMARY's history, at NOW. */
double replica_lag(const struct endpoint *primary, uint64_t replay, double now);

/* Periodic work of a home pool with replicas: the polls that are due. */
void replica_janitor(struct pool *home, double now);

#endif
