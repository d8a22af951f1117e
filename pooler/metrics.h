/*
 * metrics.h - the pooler's counts in Prometheus text format 0.0.4, for
 * /metrics: connections by state, traffic and the wait-time histogram per
 * pool, the statement-duration histogram per database and route, endpoint
 * health and breaker states, replica lag and read routing, timeouts, loop
 * and analysis counters, findings by rule and build info. Reads only what
 * the core keeps. Event-loop thread only.
 */
#ifndef PGSCOPE_POOLER_METRICS_H
#define PGSCOPE_POOLER_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct loop_state;
struct pbuf;

/* Append every metric of ls to OUT. */
void metrics_write(struct loop_state *ls, struct pbuf *out);

/* ---- the pure parts, for the unit tests ---- */

/* A label value escaped as the format asks (\\, \" and \n) into OUT (bounded). */
void metrics_escape(const char *value, char *out, size_t outlen);

/* "# HELP" and "# TYPE" lines of metric NAME. */
void metrics_header(struct pbuf *out, const char *name, const char *type, const char *help);

/*
 * One sample: NAME{LABELS} VALUE, LABELS already formatted ("" for none).
 * Values print as integers when whole.
 */
void metrics_sample(struct pbuf *out, const char *name, const char *labels, double value);

/* The same for a count: its decimal digits, no floating point on the way. */
void metrics_sample_uint(struct pbuf *out, const char *name, const char *labels, uint64_t value);

/* VALUE in decimal into BUF (21 bytes at least), NUL-terminated; its length. */
size_t metrics_format_uint(char *buf, uint64_t value);

/*
 * A histogram NAME{LABELS,le=...} from non-cumulative COUNTS over the
 * N-1 upper BOUNDS (the last count is +Inf), with _sum SUM and _count.
 */
void metrics_histogram(struct pbuf *out, const char *name, const char *labels, const double *bounds,
                       const uint64_t *counts, int n, double sum);

#endif
