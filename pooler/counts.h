/*
 * counts.h - traffic counters of a pool or an endpoint.
 *
 * Kept up to date where things happen (a transaction starts, a statement
 * completes, bytes cross a client socket, a client gets its server), so that
 * the admin console and metrics only read them and never walk the lists.
 * Event-loop thread only.
 */
#ifndef PGSCOPE_POOLER_COUNTS_H
#define PGSCOPE_POOLER_COUNTS_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds (seconds) of the wait-time histogram's buckets; a last one takes the rest. */
#define COUNTS_WAIT_BOUNDS  0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0
#define COUNTS_WAIT_BUCKETS 11

/* The bounds above, for whoever prints the histogram. */
extern const double counts_wait_bounds[COUNTS_WAIT_BUCKETS - 1];

/*
 * Upper bounds (seconds) of the statement-duration histogram, 0.5 ms to 10 s
 * in 1-2-5 steps (what SQL statements take, from a point lookup to a report);
 * a last bucket takes the rest.
 */
#define COUNTS_STMT_BOUNDS \
	0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0
#define COUNTS_STMT_BUCKETS 15

/* The bounds above, for whoever prints the histogram. */
extern const double counts_stmt_bounds[COUNTS_STMT_BUCKETS - 1];

/* Where a statement ran: the role of its server's endpoint (enum endpoint_role). */
#define COUNTS_ROUTES 2

struct traffic_counts {
	uint64_t transactions; /* transactions started */
	uint64_t queries;      /* statements completed */
	uint64_t bytes_in;     /* bytes received from clients */
	uint64_t bytes_out;    /* bytes sent to clients */
	uint64_t waits;        /* times a client waited for a server */
	double wait_total;     /* seconds clients waited for a server, summed */
	double wait_max;       /* the longest wait, seconds */
	double query_time;     /* seconds from a statement's forward to its completion, summed */
	double xact_time;      /* seconds from a transaction's first request to its end, summed */
	uint64_t wait_buckets[COUNTS_WAIT_BUCKETS]; /* waits by duration (not cumulative) */
	/* Statements completed on a server, by route and duration (not cumulative). */
	uint64_t stmt_buckets[COUNTS_ROUTES][COUNTS_STMT_BUCKETS];
	double stmt_time[COUNTS_ROUTES]; /* their seconds, summed */
};

/* Add T's counts to SUM's (wait_max: the larger). */
void counts_add(struct traffic_counts *sum, const struct traffic_counts *t);

/* A client waited SECONDS for its server. */
void counts_wait(struct traffic_counts *t, double seconds);

/*
 * A statement took SECONDS on a server of ROUTE (an enum endpoint_role).
 * On the path of every statement: a few compares and two additions.
 */
void counts_statement(struct traffic_counts *t, int route, double seconds);

/*
 * The bucket of VALUE among N buckets whose N-1 ascending upper BOUNDS are
 * inclusive (Prometheus' "le"): the first bound VALUE does not pass, else N-1.
 * Compares from the smallest bound, so short durations cost the fewest.
 */
int counts_bucket(const double *bounds, int n, double value);

#endif
