/*
 * engine.h - the analyzer's one entry point: text in, fingerprint, normalized text and findings
 * out.
 *
 * analyze_sql() parses a text (one or more statements), runs every enabled
 * rule over each statement, applies inline `pgscope:ignore ID[,ID]`
 * suppressions, and returns a struct analysis the caller frees with
 * analysis_free(). It parses on the calling thread (see parse.h on threads)
 * and keeps no state between calls: concurrent calls from different threads
 * are safe as long as the catalog and rule config are not being changed.
 *
 * Suppressions: a comment containing `pgscope:ignore` followed by rule ids
 * (comma or space separated) suppresses those rules' findings in the
 * statement the comment belongs to: the statement containing it, or for a
 * comment between statements, the previous statement when the comment starts
 * on that statement's last line, otherwise the next one. An id that
 * suppressed nothing yields an info finding `unused-suppression`.
 */
#ifndef PGSCOPE_ANALYZER_ENGINE_H
#define PGSCOPE_ANALYZER_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "analyzer/catalog.h"
#include "analyzer/parse.h"
#include "analyzer/rule.h"

/* Rule ids the engine itself reports. */
#define ENGINE_RULE_SYNTAX_ERROR       "syntax-error"
#define ENGINE_RULE_UNUSED_SUPPRESSION "unused-suppression"

struct finding {
	const char *rule_id;    /* static: the rule's id or one of the ENGINE_RULE_* ids */
	enum severity severity; /* effective severity (never SEVERITY_OFF) */
	char *message;          /* owned */
	char *suggestion;       /* owned, NULL when there is none */
	size_t offset;          /* byte offset in the analysed text */
	int line;               /* 1-based line of offset in the analysed text */
	size_t stmt;            /* index of the statement it belongs to */
};

struct analysis {
	enum parse_status status; /* PARSE_OK, or why the text was not analysed */
	uint64_t fingerprint;     /* valid when status == PARSE_OK */
	char fingerprint_hex[17]; /* "" unless status == PARSE_OK */
	char *normalized;         /* owned; NULL unless status == PARSE_OK */
	size_t n_stmts;           /* top-level statements parsed */
	struct finding *findings; /* owned, n_findings entries, ordered by offset */
	size_t n_findings;
	size_t bytes; /* approximate heap bytes owned (for cache accounting) */
};

/* Limits and inputs of an analysis. Zeroed fields take the defaults. */
struct analyze_options {
	size_t max_bytes;     /* analyze_max_bytes; 0 = PARSE_DEFAULT_MAX_BYTES */
	bool skip_normalize;  /* don't compute normalized text (saves a parse) */
	bool observed;        /* observed_rows is known: the traffic showed the statement */
	double observed_rows; /* rows per call it returned in the traffic (mean) */
};

/*
 * Analyse sql[0..len). cat may be NULL (schema rules stay silent), cfg may be
 * NULL (defaults), opts may be NULL. Always returns an analysis (NULL only when
 * out of memory): a syntax error is a finding of rule "syntax-error" with
 * severity error and status PARSE_SYNTAX_ERROR; invalid input (NUL, bad UTF-8)
 * likewise with status PARSE_INVALID_INPUT; a text over max_bytes has status
 * PARSE_TOO_LARGE and no findings. The caller frees it with analysis_free().
 */
struct analysis *analyze_sql(const char *sql, size_t len, const struct catalog *cat,
                             const struct rule_config *cfg, const struct analyze_options *opts);

void analysis_free(struct analysis *a);

/* Highest severity among a's findings (SEVERITY_OFF when none). */
enum severity analysis_max_severity(const struct analysis *a);

#endif
