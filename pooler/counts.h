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
};

/* A client waited SECONDS for its server. */
void counts_wait(struct traffic_counts *t, double seconds);

#endif
