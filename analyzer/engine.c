/*
 * engine.c - run the rules over a parsed text, apply inline suppressions, collect findings.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/engine.h"

/* One rule enabled for this analysis. */
struct active_rule {
	struct rule_ctx ctx; /* first: rule_report() gets back here from ctx */
	enum severity severity;
	struct analysis_run *run;
};

/* State of one analyze_sql() call. */
struct analysis_run {
	const char *sql;
	size_t len;
	struct analysis *a;
	size_t cap;      /* allocated entries of a->findings */
	size_t cur_stmt; /* statement being analysed */
	bool oom;        /* an allocation failed; findings may be incomplete */
	struct active_rule *rules;
	size_t n_rules;
	size_t line_offset; /* a byte offset whose line is known ... */
	int line;           /* ... and that line (1-based): findings mostly come in order */
};

/*
 * The line of offset, counting newlines from the last offset looked up when
 * that is not past it, so findings in text order cost one pass in all.
 */
static int run_line_of(struct analysis_run *run, size_t offset)
{
	if (run->line == 0 || offset < run->line_offset) {
		run->line_offset = 0;
		run->line = 1;
	}
	for (const char *p = run->sql + run->line_offset; p < run->sql + offset; p++) {
		p = memchr(p, '\n', (size_t)(run->sql + offset - p));
		if (p == NULL)
			break;
		run->line++;
	}
	run->line_offset = offset;
	return run->line;
}

/* Longest message or suggestion kept, so one finding's size is bounded. */
#define ENGINE_MAX_TEXT 4096

/* Suppression comments considered per statement. */
#define ENGINE_MAX_COMMENTS 64

static bool add_finding(struct analysis_run *run, const char *rule_id, enum severity sev,
                        size_t offset, const char *message, const char *suggestion)
{
	struct analysis *a = run->a;

	if (a->n_findings == run->cap) {
		size_t ncap = run->cap ? run->cap * 2 : 8;
		struct finding *nf = realloc(a->findings, ncap * sizeof(*nf));
		if (nf == NULL) {
			run->oom = true;
			return false;
		}
		a->findings = nf;
		run->cap = ncap;
	}
	struct finding *f = &a->findings[a->n_findings];
	memset(f, 0, sizeof(*f));
	f->rule_id = rule_id;
	f->severity = sev;
	f->offset = offset > run->len ? run->len : offset;
	f->line = run_line_of(run, f->offset);
	f->stmt = run->cur_stmt;
	f->message = strndup(message, ENGINE_MAX_TEXT);
	f->suggestion = suggestion != NULL ? strndup(suggestion, ENGINE_MAX_TEXT) : NULL;
	if (f->message == NULL || (suggestion != NULL && f->suggestion == NULL)) {
		free(f->message);
		free(f->suggestion);
		run->oom = true;
		return false;
	}
	a->bytes += sizeof(*f) + strlen(f->message) + 1 +
	            (f->suggestion != NULL ? strlen(f->suggestion) + 1 : 0);
	a->n_findings++;
	return true;
}

void rule_report(struct rule_ctx *ctx, int location, const char *suggestion, const char *fmt, ...)
{
	struct active_rule *ar = (struct active_rule *)ctx;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	/* va_start() is just above; clang-analyzer loses track of it. */
	vsnprintf(msg, sizeof(msg), fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
	size_t offset = location >= 0 ? (size_t)location : ctx->stmt_offset;
	add_finding(ar->run, ctx->rule->id, ar->severity, offset, msg, suggestion);
}

static void cb_enter_query(const struct walk_scope *scope, void *arg)
{
	struct analysis_run *run = arg;

	for (size_t i = 0; i < run->n_rules; i++) {
		struct active_rule *ar = &run->rules[i];
		if (ar->ctx.rule->on_query != NULL)
			ar->ctx.rule->on_query(&ar->ctx, scope);
	}
}

static bool cb_node(const PgQuery__Node *node, const struct walk_pos *pos, void *arg)
{
	struct analysis_run *run = arg;

	for (size_t i = 0; i < run->n_rules; i++) {
		struct active_rule *ar = &run->rules[i];
		if (ar->ctx.rule->on_node != NULL)
			ar->ctx.rule->on_node(&ar->ctx, node, pos);
	}
	return true;
}

/*
 * Enable the rules that apply: severity not off, schema present when needed, and
 * at least one tree callback. Returns false when out of memory.
 */
static bool select_rules(struct analysis_run *run, const struct catalog *cat,
                         const struct rule_config *cfg, const struct analyze_options *opts)
{
	size_t n = 0;

	while (rule_registry[n] != NULL)
		n++;
	run->rules = calloc(n + 1, sizeof(*run->rules));
	if (run->rules == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = rule_registry[i];
		enum severity sev = rule_config_severity(cfg, r);
		bool schema_ok =
		    !r->needs_schema || cat != NULL || (r->uses_observed_rows && opts->observed);
		if (sev == SEVERITY_OFF || !schema_ok)
			continue;
		if (r->on_statement == NULL && r->on_query == NULL && r->on_node == NULL)
			continue;
		struct active_rule *ar = &run->rules[run->n_rules++];
		ar->ctx.rule = r;
		ar->ctx.catalog = cat;
		ar->ctx.sql = run->sql;
		ar->ctx.sql_len = run->len;
		ar->ctx.options = rule_config_options(cfg, r);
		ar->ctx.observed_rows = opts->observed ? opts->observed_rows : -1;
		ar->ctx.engine = run;
		ar->severity = sev;
		ar->run = run;
	}
	return true;
}

/* Is c a character of a rule id? */
static bool is_id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Statement a comment at offset c belongs to (see engine.h on suppressions). */
static size_t comment_stmt(const struct parse_tree *tree, const char *sql, size_t c)
{
	for (size_t k = 0; k < tree->n_stmts; k++) {
		const struct parse_stmt *st = &tree->stmts[k];
		if (c >= st->offset && c < st->offset + st->len)
			return k;
		if (c < st->offset) {
			/* In the gap before statement k: a comment on the previous statement's
			 * last line belongs to it, anything else to the statement that follows. */
			if (k > 0) {
				const struct parse_stmt *prev = &tree->stmts[k - 1];
				size_t end = prev->offset + prev->len;
				if (end <= c && memchr(sql + end, '\n', c - end) == NULL)
					return k - 1;
			}
			return k;
		}
	}
	return tree->n_stmts - 1;
}

/*
 * Apply `pgscope:ignore ID[,ID]` comments of statement k: drop that statement's
 * findings of the named rules, and note each id that suppressed nothing.
 */
static void apply_suppressions(struct analysis_run *run, const struct parse_tree *tree,
                               const struct parse_comment *comments, int n_comments, size_t k,
                               size_t first_finding, enum severity unused_sev)
{
	static const char marker[] = "pgscope:ignore";
	struct analysis *a = run->a;

	for (int ci = 0; ci < n_comments; ci++) {
		const struct parse_comment *cm = &comments[ci];
		if (comment_stmt(tree, run->sql, cm->offset) != k)
			continue;
		const char *p = memmem(run->sql + cm->offset, cm->len, marker, sizeof(marker) - 1);
		if (p == NULL)
			continue;
		const char *end = run->sql + cm->offset + cm->len;
		p += sizeof(marker) - 1;
		for (;;) {
			while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			const char *id = p;
			while (p < end && is_id_char(*p))
				p++;
			if (p == id)
				break;
			size_t idlen = (size_t)(p - id);
			size_t removed = 0;
			for (size_t i = first_finding; i < a->n_findings; i++) {
				struct finding *f = &a->findings[i];
				if (strlen(f->rule_id) == idlen &&
				    memcmp(f->rule_id, id, idlen) == 0 &&
				    strcmp(f->rule_id, ENGINE_RULE_UNUSED_SUPPRESSION) != 0) {
					free(f->message);
					free(f->suggestion);
					f->message = NULL;
					f->rule_id = NULL; /* compacted below */
					removed++;
				}
			}
			/* Compact the removed entries. */
			size_t w = first_finding;
			for (size_t i = first_finding; i < a->n_findings; i++) {
				if (a->findings[i].rule_id != NULL)
					a->findings[w++] = a->findings[i];
			}
			a->n_findings = w;
			if (removed == 0 && unused_sev != SEVERITY_OFF) {
				char msg[256];
				snprintf(msg, sizeof(msg),
				         "pgscope:ignore %.*s suppressed nothing in this statement",
				         (int)(idlen > 100 ? 100 : idlen), id);
				add_finding(run, ENGINE_RULE_UNUSED_SUPPRESSION, unused_sev,
				            (size_t)(id - run->sql), msg,
				            "remove the suppression or fix the rule id");
			}
		}
	}
}

static int finding_cmp(const void *x, const void *y)
{
	const struct finding *a = x, *b = y;

	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	return strcmp(a->rule_id, b->rule_id);
}

static void report_parse_error(struct analysis_run *run, const struct parse_error *err,
                               const struct rule_config *cfg)
{
	enum severity sev = rule_config_engine_severity(cfg, ENGINE_RULE_SYNTAX_ERROR);
	char msg[300];

	if (sev == SEVERITY_OFF)
		return;
	if (err->status == PARSE_SYNTAX_ERROR)
		snprintf(msg, sizeof(msg), "syntax error: %s", err->message);
	else
		snprintf(msg, sizeof(msg), "%s", err->message);
	add_finding(run, ENGINE_RULE_SYNTAX_ERROR, sev, err->offset >= 0 ? (size_t)err->offset : 0,
	            msg, NULL);
}

static void run_statement(struct analysis_run *run, const struct parse_tree *tree, size_t k)
{
	const struct parse_stmt *st = &tree->stmts[k];
	struct walk_callbacks cb = {
	    .enter_query = cb_enter_query,
	    .node = cb_node,
	    .arg = run,
	};

	run->cur_stmt = k;
	for (size_t i = 0; i < run->n_rules; i++) {
		struct active_rule *ar = &run->rules[i];
		ar->ctx.stmt_offset = st->offset;
		ar->ctx.stmt_len = st->len;
		if (ar->ctx.rule->on_statement != NULL)
			ar->ctx.rule->on_statement(&ar->ctx, st->node);
	}
	walk_tree(st->node, &cb);
}

/* Run the rules over every statement of tree, then apply suppressions. */
static void run_rules(struct analysis_run *run, const struct parse_tree *tree,
                      const struct rule_config *cfg)
{
	struct parse_comment comments[ENGINE_MAX_COMMENTS];
	int n_comments = 0;
	enum severity unused_sev = rule_config_engine_severity(cfg, ENGINE_RULE_UNUSED_SUPPRESSION);

	/* The scanner runs only when a suppression can be present: it costs a pass. */
	if (memmem(run->sql, run->len, "pgscope:ignore", 14) != NULL) {
		n_comments = parse_comments(run->sql, run->len, comments, ENGINE_MAX_COMMENTS);
		if (n_comments > ENGINE_MAX_COMMENTS)
			n_comments = ENGINE_MAX_COMMENTS;
	}
	for (size_t k = 0; k < tree->n_stmts; k++) {
		size_t first = run->a->n_findings;
		run_statement(run, tree, k);
		if (n_comments > 0)
			apply_suppressions(run, tree, comments, n_comments, k, first, unused_sev);
	}
}

struct analyze_call {
	const char *sql;
	size_t len;
	const struct catalog *cat;
	const struct rule_config *cfg;
	const struct analyze_options *opts;
	struct analysis *result;
};

/* The whole analysis, run on the parser's private stack (see parse_run_on_stack). */
static void analyze_body(void *arg)
{
	struct analyze_call *call = arg;
	struct parse_tree tree;
	struct parse_error err;
	struct analysis_run run = {.sql = call->sql, .len = call->len};
	const struct analyze_options *opts = call->opts;

	run.a = calloc(1, sizeof(*run.a));
	if (run.a == NULL)
		return;
	struct analysis *a = run.a;
	a->bytes = sizeof(*a);
	call->result = a;

	a->status = parse_sql(call->sql, call->len, opts->max_bytes, &tree, &err);
	if (a->status != PARSE_OK) {
		if (a->status == PARSE_SYNTAX_ERROR || a->status == PARSE_INVALID_INPUT ||
		    a->status == PARSE_TOO_DEEP)
			report_parse_error(&run, &err, call->cfg);
		return;
	}
	a->n_stmts = tree.n_stmts;
	if (parse_fingerprint(call->sql, call->len, opts->max_bytes, &a->fingerprint,
	                      a->fingerprint_hex, NULL) != PARSE_OK)
		a->fingerprint_hex[0] = '\0';
	if (!opts->skip_normalize) {
		a->normalized = parse_normalize(call->sql, call->len, opts->max_bytes, NULL);
		if (a->normalized != NULL)
			a->bytes += strlen(a->normalized) + 1;
	}
	if (!select_rules(&run, call->cat, call->cfg, opts)) {
		run.oom = true;
		goto out_release;
	}
	run_rules(&run, &tree, call->cfg);
	if (a->n_findings > 1)
		qsort(a->findings, a->n_findings, sizeof(*a->findings), finding_cmp);
out_release:
	free(run.rules);
	parse_tree_release(&tree);
	if (run.oom && a->n_findings == 0 && a->normalized == NULL) {
		analysis_free(a);
		call->result = NULL;
	}
}

struct analysis *analyze_sql(const char *sql, size_t len, const struct catalog *cat,
                             const struct rule_config *cfg, const struct analyze_options *opts)
{
	static const struct analyze_options defaults = {0};
	struct analyze_call call = {
	    .sql = sql,
	    .len = len,
	    .cat = cat,
	    .cfg = cfg,
	    .opts = opts != NULL ? opts : &defaults,
	};
	size_t limit = call.opts->max_bytes ? call.opts->max_bytes : PARSE_DEFAULT_MAX_BYTES;

	/* Over the limit: counted, not parsed, and no large stack needed. */
	if (len > limit || len > PARSE_HARD_MAX_BYTES) {
		struct analysis *a = calloc(1, sizeof(*a));
		if (a != NULL) {
			a->status = PARSE_TOO_LARGE;
			a->bytes = sizeof(*a);
		}
		return a;
	}
	if (!parse_run_on_stack(len, analyze_body, &call))
		return NULL;
	return call.result;
}

void analysis_free(struct analysis *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n_findings; i++) {
		free(a->findings[i].message);
		free(a->findings[i].suggestion);
	}
	free(a->findings);
	free(a->normalized);
	free(a);
}

enum severity analysis_max_severity(const struct analysis *a)
{
	enum severity max = SEVERITY_OFF;

	for (size_t i = 0; i < a->n_findings; i++) {
		if (a->findings[i].severity > max)
			max = a->findings[i].severity;
	}
	return max;
}
