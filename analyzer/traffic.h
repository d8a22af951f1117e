/*
 * traffic.h - traffic rules: patterns in the stream of executed statements, not in one query.
 *
 * The pooler (or a log reader) feeds every executed statement with
 * traffic_feed(); traffic_report() returns what the traffic rules found so far:
 *
 *   n-plus-one                one client runs the same fingerprint min_repeats
 *                             times or more with different parameters inside one
 *                             transaction, or outside transactions within
 *                             window_ms: a loop issuing one query per row.
 *   repeated-identical-query  the same fingerprint with the same parameters runs
 *                             min_per_second times or more within one second
 *                             (all clients together): a cache candidate.
 *   slow-query                the 95th percentile duration of a fingerprint is
 *                             over p95_ms, once it has min_samples executions.
 *
 * Memory is bounded: at most max_fingerprints fingerprints and max_tracked
 * per-client / per-parameter trackers are kept; past that, new keys are
 * counted in `dropped` and the oldest trackers are recycled. Not thread-safe:
 * one struct traffic belongs to one thread (the pooler's analysis thread).
 */
#ifndef PGSCOPE_ANALYZER_TRAFFIC_H
#define PGSCOPE_ANALYZER_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyzer/rule.h"

#define TRAFFIC_RULE_N_PLUS_ONE "n-plus-one"
#define TRAFFIC_RULE_REPEATED   "repeated-identical-query"
#define TRAFFIC_RULE_SLOW_QUERY "slow-query"

/* What kind of statement it was: decides which rules look at it. */
enum traffic_kind {
	TRAFFIC_READ,  /* SELECT without side effects: all three rules */
	TRAFFIC_WRITE, /* INSERT/UPDATE/DELETE, SELECT with side effects: n-plus-one and slow-query
	                */
	TRAFFIC_OTHER, /* BEGIN, COMMIT, SET, DDL, ...: slow-query only */
};

/* One executed statement. */
struct traffic_stmt {
	uint64_t time_us;       /* start time, microseconds on any clock that does not go back */
	uint64_t client_id;     /* the client connection */
	uint64_t xact_id;       /* transaction of that client (0: not in a transaction block) */
	uint64_t fingerprint;   /* parse_fingerprint() of the text */
	const char *normalized; /* normalized text (literals as $n), may be NULL; copied */
	uint64_t
	    params_hash; /* hash of the parameter values / literals; equal values, equal hash */
	uint64_t duration_us; /* execution time */
	enum traffic_kind kind;
};

/* Thresholds; traffic_config_defaults() fills the documented defaults. */
struct traffic_config {
	double n1_min_repeats;     /* n-plus-one.min_repeats (10) */
	double n1_window_ms;       /* n-plus-one.window_ms (1000) */
	double rep_min_per_second; /* repeated-identical-query.min_per_second (20) */
	double slow_p95_ms;        /* slow-query.p95_ms (500) */
	double slow_min_samples;   /* slow-query.min_samples (20) */
	enum severity n1_severity; /* SEVERITY_OFF disables the rule */
	enum severity rep_severity;
	enum severity slow_severity;
	size_t max_fingerprints; /* distinct fingerprints kept (10000) */
	size_t max_tracked;      /* trackers per table for n-plus-one / repeated (65536) */
};

/* One traffic finding: one per rule and fingerprint. */
struct traffic_finding {
	const char *rule_id; /* one of the TRAFFIC_RULE_* ids (static) */
	enum severity severity;
	uint64_t fingerprint;
	char *normalized;    /* owned, may be NULL */
	uint64_t executions; /* executions of the fingerprint seen */
	uint64_t
	    occurrences; /* n-plus-one: bursts; repeated: seconds over the threshold; slow: 1 */
	uint64_t peak;   /* n-plus-one: largest burst; repeated: most per second; slow: p95 in us */
	uint64_t example_client; /* a client that showed it (n-plus-one) */
	uint64_t pattern_calls;  /* the executions that make the pattern: those inside the loops
	                            (n-plus-one), inside the seconds over the rate (repeated), all
	                            (slow-query) */
	uint64_t pattern_us;     /* and their total time: the time at stake */
	char message[256];
	char suggestion[256];
};

struct traffic_stats {
	uint64_t statements;   /* fed */
	uint64_t fingerprints; /* distinct fingerprints kept */
	uint64_t dropped;      /* statements whose fingerprint did not fit */
	uint64_t recycled;     /* trackers reused before they expired */
};

struct traffic;

/* Defaults for every threshold and limit. */
void traffic_config_defaults(struct traffic_config *cfg);

/*
 * Thresholds and severities from a rule configuration (the `[rules]` entries
 * of the rules n-plus-one, repeated-identical-query and slow-query); limits
 * keep their defaults. rc may be NULL (defaults).
 */
void traffic_config_from_rules(struct traffic_config *cfg, const struct rule_config *rc);

/* A new traffic analyzer (cfg NULL: defaults). NULL when out of memory. Free with traffic_free().
 */
struct traffic *traffic_new(const struct traffic_config *cfg);

void traffic_free(struct traffic *t);

/* Feed one executed statement. Returns 0, or -1 when out of memory (the statement is dropped). */
int traffic_feed(struct traffic *t, const struct traffic_stmt *s);

/*
 * The findings so far, one per rule and fingerprint, ordered by rule then by
 * executions (most first). *out is a malloc'd array the caller frees with
 * traffic_findings_free(). Returns the count, or (size_t)-1 when out of memory.
 */
size_t traffic_report(const struct traffic *t, struct traffic_finding **out);

void traffic_findings_free(struct traffic_finding *f, size_t n);

/* 95th percentile duration of a fingerprint in microseconds (from a log histogram), or 0. */
uint64_t traffic_p95_us(const struct traffic *t, uint64_t fingerprint);

void traffic_get_stats(const struct traffic *t, struct traffic_stats *out);

#endif
