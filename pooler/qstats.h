/*
 * qstats.h - live statistics per query fingerprint, for SHOW QUERIES,
 * SHOW FINDINGS, /api/queries and /metrics.
 *
 * The analysis thread records each completed statement it has a fingerprint
 * for (calls, time, rows, errors and a bounded latency histogram) and the
 * rules each fingerprint breaks; the event loop reads copies. The table is
 * fixed in size (QSTATS_MAX fingerprints; later ones are counted as
 * untracked, not stored) and guarded by its own mutex, held only to update
 * one entry or to copy the table, so neither thread waits on the other's
 * work.
 */
#ifndef PGSCOPE_POOLER_QSTATS_H
#define PGSCOPE_POOLER_QSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QSTATS_MAX       512 /* fingerprints tracked */
#define QSTATS_BUCKETS   64  /* latency buckets: bucket i holds [2^(i/2), 2^((i+1)/2)) us */
#define QSTATS_RULES_MAX 128 /* comma-separated rule ids */
#define QSTATS_QUERY_MAX 160 /* normalized text kept, truncated */
#define QSTATS_FIXES     4   /* rules per fingerprint whose advice is kept */
#define QSTATS_FIX_MAX   256 /* advice kept per rule, truncated */

/* What a rule says to do about a fingerprint. */
struct qstats_fix {
	char rule[64];
	char
	    fix[QSTATS_FIX_MAX]; /* the finding's suggestion (CREATE INDEX ...), else its message */
};

/* One fingerprint's statistics (a copy). */
struct qstats_entry {
	uint64_t fingerprint;
	uint64_t calls;
	uint64_t errors;        /* statements that ended with an error */
	uint64_t replica_calls; /* statements a replica ran (read routing) */
	int64_t rows;           /* rows from CommandComplete, summed */
	double total_us;        /* time from forward to completion, summed */
	uint32_t hist[QSTATS_BUCKETS];
	char rules[QSTATS_RULES_MAX];   /* analyzer rules it breaks (latest verdict), "" for none */
	char traffic[QSTATS_RULES_MAX]; /* traffic rules that flagged it, "" for none */
	char query[QSTATS_QUERY_MAX];   /* normalized text */
	struct qstats_fix fixes[QSTATS_FIXES];
	int n_fixes;
};

/*
 * Analysis thread: a statement of fingerprint FP (normalized text QUERY,
 * analyzer findings RULES, both may be NULL) took DURATION_US, returned
 * ROWS (-1: none), failed when ERROR and ran on a replica when REPLICA.
 */
void qstats_record(uint64_t fp, const char *query, const char *rules, double duration_us,
                   int64_t rows, bool error, bool replica);

/* Analysis thread: a traffic rule (n-plus-one...) flagged FP, saying MESSAGE. */
void qstats_add_rule(uint64_t fp, const char *rule, const char *message);

/*
 * Analysis thread: a new verdict of the analyzer on FP begins (its advice
 * so far is forgotten); then qstats_fix() for each of its findings.
 */
void qstats_verdict(uint64_t fp);
void qstats_fix(uint64_t fp, const char *rule, const char *fix);

/* The advice of RULE in entry E, or "" (pure). */
const char *qstats_fix_of(const struct qstats_entry *e, const char *rule);

/* Any thread: up to MAX entries with the most total time, most first, into OUT; how many. */
size_t qstats_top(struct qstats_entry *out, size_t max);

/* How many tracked fingerprints a rule flags. */
struct qstats_rule_count {
	char rule[64];
	int fingerprints;
};

#define QSTATS_RULE_COUNTS_MAX 64 /* rules counted */

/*
 * Any thread: the rules that flag tracked fingerprints (analyzer and traffic
 * rules alike), at most MAX (and QSTATS_RULE_COUNTS_MAX), with how many
 * fingerprints each; how many rules. Counted under the lock without copying
 * the table, and only when a rule list changed since the last count (a
 * generation number the writers bump); otherwise the last counts are copied.
 */
size_t qstats_rule_counts(struct qstats_rule_count *out, size_t max);

/* Statements of fingerprints not tracked because the table was full. */
uint64_t qstats_untracked(void);

/* Any thread: the Q quantile (0..1) of a histogram, in microseconds (0 when empty). */
double qstats_quantile(const uint32_t *hist, double q);

/* The bucket of a duration (us). */
int qstats_bucket(double us);

/* Forget everything (tests, and the start of a run). */
void qstats_reset(void);

#endif
