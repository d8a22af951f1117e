/*
 * report.h - aggregate executed statements per fingerprint and collect findings for `pgscope
 * report`.
 *
 * Statements stream in (report_add_file() reads a capture or PostgreSQL log
 * through logread.h); memory grows with the number of distinct fingerprints,
 * not with the number of statements: per fingerprint a fixed-size record with
 * a log-linear latency histogram, plus a fixed number of time buckets for the
 * whole report. report_finish() ranks fingerprints, runs the analyzer's rules
 * on each normalized text and drops findings acknowledged in a baseline. The
 * output modules (report_text.c, report_json.c, report_html.c,
 * report_sarif.c) read the finished struct report; nothing else writes it.
 */
#ifndef PGSCOPE_ANALYZER_REPORT_H
#define PGSCOPE_ANALYZER_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analyzer/baseline.h"
#include "analyzer/catalog.h"
#include "analyzer/logread.h"
#include "analyzer/rule.h"

/*
 * Latency histogram: values below 16 µs exactly, then 16 buckets per power of
 * two up to 2^40 µs (12 days): a bucket's width is at most 1/16 of its lower
 * bound, so a percentile read from its midpoint is within 3.2%.
 */
#define REPORT_HIST_SUB     16
#define REPORT_HIST_BUCKETS ((size_t)REPORT_HIST_SUB * 38)
#define REPORT_TIME_BUCKETS 120 /* points of the over-time series */
#define REPORT_NAME_MAX     64
#define REPORT_QUERY_MAX    8192 /* normalized texts are cut here */
/* Fingerprints kept (about 2.5 kB each); statements of further ones are only counted. */
#define REPORT_MAX_FPS 50000

struct report_hist {
	uint64_t count;
	uint32_t b[REPORT_HIST_BUCKETS];
};

/* Everything known about one fingerprint. */
struct report_fp {
	uint64_t fingerprint;
	char *query;         /* normalized text (owned), NULL until seen */
	char *rules;         /* the pooler's verdict on its text as sent (owned), NULL unknown */
	uint64_t calls;      /* statements, failed ones included */
	uint64_t timed;      /* statements with a duration */
	uint64_t errors;     /* failed statements */
	uint64_t replica;    /* statements routed to a replica */
	uint64_t rows_calls; /* statements that reported a row count */
	uint64_t rows;       /* sum of their row counts */
	int64_t total_us;    /* sum of durations */
	int64_t max_us;
	int64_t min_us;
	int64_t wait_us;  /* sum of pool queue waits */
	int64_t first_us; /* first and last time seen */
	int64_t last_us;
	char database[REPORT_NAME_MAX]; /* where it was first seen */
	char user[REPORT_NAME_MAX];
	char application_name[REPORT_NAME_MAX];
	struct report_hist hist;
};

/* One point of the over-time series. */
struct report_bucket {
	uint64_t calls;
	uint64_t errors;
	int64_t total_us;
	struct report_hist hist;
};

/* A finding of a rule on a fingerprint. */
struct report_finding {
	const char *rule_id; /* static */
	enum severity severity;
	uint64_t fingerprint;
	const struct report_fp *fp; /* the fingerprint's aggregate */
	char *message;              /* owned */
	char *suggestion;           /* owned, may be NULL */
	char *hypo;                 /* owned, may be NULL: hypothetical-index cost check */
	int64_t time_us;            /* time at stake: the fingerprint's total time */
};

/* Findings of one rule, ranked by the time at stake. */
struct report_rule_group {
	const char *rule_id;
	enum severity severity; /* highest among its findings */
	int64_t time_us;        /* sum over its findings */
	size_t first;           /* index of its first finding in report.findings */
	size_t count;
};

struct traffic;

struct report_options {
	int64_t since_us;                /* keep statements at or after (0: no bound) */
	int64_t until_us;                /* keep statements before (0: no bound) */
	const char *database;            /* keep only this database (NULL: all) */
	const char *user;                /* keep only this user (NULL: all) */
	size_t top;                      /* fingerprints listed (0: 20) */
	const struct catalog *catalog;   /* schema for the rules, may be NULL */
	const struct rule_config *rules; /* may be NULL: defaults */
	const struct baseline *baseline; /* acknowledged findings to hide, may be NULL */
	struct logread_options input;    /* how to read files */
	const char *hypo_dsn;            /* check index suggestions with HypoPG there (NULL: no) */
};

struct report {
	struct report_options opts;
	/* Inputs. */
	size_t n_files;
	uint64_t stmts_read; /* statements in the inputs */
	uint64_t stmts_kept; /* after filters */
	uint64_t skipped;    /* lines the readers did not understand */
	uint64_t unparsed;   /* statements whose text could not be fingerprinted */
	uint64_t untracked;  /* statements of fingerprints past REPORT_MAX_FPS */
	uint64_t bytes;

	/* What the inputs say they miss. */
	uint64_t not_captured;  /* statements a capture says it lost (in the period) */
	size_t truncated_files; /* inputs cut short (a writer killed): read up to the cut */

	/* Aggregates. */
	struct report_fp *fps; /* n_fps entries; after report_finish() sorted by total time */
	size_t n_fps;
	size_t cap_fps;
	uint32_t *index; /* open-addressing map fingerprint -> fps index + 1 */
	size_t index_cap;
	struct report_hist all; /* every timed statement */
	int64_t total_us;
	int64_t max_us; /* slowest statement */
	uint64_t errors;
	int64_t first_us;
	int64_t last_us;
	/* Over time: bucket i covers [t0 + i*width, t0 + (i+1)*width). */
	struct report_bucket buckets[REPORT_TIME_BUCKETS];
	int64_t bucket_t0;
	int64_t bucket_width_us;
	bool buckets_started;
	/* Findings after report_finish(), grouped by rule, groups ranked by time. */
	struct report_finding *findings;
	size_t n_findings;
	struct report_rule_group *groups;
	size_t n_groups;
	size_t baselined;    /* findings hidden by the baseline */
	size_t hypo_dropped; /* unindexed-filter findings no hypothetical index helped */
	char hypo_note[256]; /* why index suggestions were not checked, or "" */
	/* Private: text -> fingerprint cache for log inputs; the traffic rules' state. */
	void *fpcache;
	struct traffic *traffic;
};

/*
 * A new, empty report; opts is copied (the pointers in it are borrowed and must
 * outlive the report). NULL when out of memory. Free with report_free().
 */
struct report *report_new(const struct report_options *opts);

void report_free(struct report *r);

/* Read one input file into the report. Returns 0, or -1 with a message in err. */
int report_add_file(struct report *r, const char *path, char *err, size_t errsize);

/* Add one statement / one fingerprint's normalized text (used by report_add_file, and tests). */
void report_add_stmt(struct report *r, const struct logread_stmt *st);
/*
 * RULES: the ids of the rules the pooler raised on the fingerprint's text as
 * sent (comma-separated, "" for none), or NULL when the input does not say.
 */
void report_add_query(struct report *r, uint64_t fingerprint, const char *query, const char *rules);

/* Rank fingerprints, run the rules, apply the baseline. Call once, after the last input. */
void report_finish(struct report *r);

/* Value at quantile q (0..1) of a histogram, clamped to [min, max] when given (>= 0). */
int64_t report_hist_quantile(const struct report_hist *h, double q, int64_t min_us, int64_t max_us);

void report_hist_add(struct report_hist *h, int64_t us);

/* Number of fingerprints to list: min(top, n_fps). */
size_t report_top_count(const struct report *r);

/* Output formats; each returns 0 or -1 on a write error. */
enum report_format {
	REPORT_TEXT,
	REPORT_JSON,
	REPORT_HTML,
	REPORT_SARIF,
};

int report_format_parse(const char *name); /* -1 when unknown */

int report_write(const struct report *r, enum report_format f, FILE *out, bool color);

int report_write_text(const struct report *r, FILE *out, bool color);
int report_write_json(const struct report *r, FILE *out);
int report_write_html(const struct report *r, FILE *out);
int report_write_sarif(const struct report *r, FILE *out);

/* Shared by the writers: a fingerprint as 16 hex digits. */
void report_fp_hex(uint64_t fp, char out[17]);

/*
 * Shared by the writers: what the inputs miss, as one sentence ("N statements
 * not captured ...; K file(s) cut short ..."), or "" when nothing.
 */
void report_loss_note(const struct report *r, char *out, size_t size);

/* Shared by the writers: write s as a JSON string. */
void report_json_str(FILE *out, const char *s);

/* Format a duration in µs as "812 µs", "12.3 ms", "4.56 s". */
void report_format_us(int64_t us, char *out, size_t size);

#endif
