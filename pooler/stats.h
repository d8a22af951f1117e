/*
 * stats.h - traffic per database, summed over its pools, and the averages
 * of the last stats_period: what SHOW STATS and its siblings answer and what
 * the periodic "stats" log line says, as PgBouncer's do.
 *
 * Totals are read from the pools' counts when asked; the averages are
 * computed once per stats_period by a timer on the loop. Event-loop thread
 * only.
 */
#ifndef PGSCOPE_POOLER_STATS_H
#define PGSCOPE_POOLER_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include "pooler/counts.h"

struct loop_state;

/* Rates of one database over the last period. */
struct stats_avg {
	double xact_count;    /* transactions per second */
	double query_count;   /* statements per second */
	double bytes_in;      /* bytes from clients per second */
	double bytes_out;     /* bytes to clients per second */
	double xact_time_us;  /* mean transaction time */
	double query_time_us; /* mean statement time */
	double wait_time_us;  /* mean wait for a server, of the clients that waited */
};

#define STATS_DB_MAX 256 /* databases averaged; more are totalled only */

/* The distinct databases of ls's pools, in pool order, at most MAX; how many. */
size_t stats_databases(struct loop_state *ls, const char **names, size_t max);

/* The traffic of database DB, summed over its pools on ls. */
void stats_db_totals(struct loop_state *ls, const char *db, struct traffic_counts *out);

/* The averages of DB over the last stats_period (zeros before the first one ends). */
void stats_db_averages(struct loop_state *ls, const char *db, struct stats_avg *out);

/* The averages between totals OLD and NEW taken SECONDS apart (pure). */
void stats_rates(const struct traffic_counts *old, const struct traffic_counts *new_,
                 double seconds, struct stats_avg *out);

/* Start the period timer on ls (every PERIOD_MS; 0 = off); stop it and free its state. */
void stats_start(struct loop_state *ls, int period_ms);
void stats_stop(struct loop_state *ls);

#endif
