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
};

/* A client waited SECONDS for its server. */
void counts_wait(struct traffic_counts *t, double seconds);

#endif
