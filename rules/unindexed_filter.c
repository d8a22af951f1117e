/*
 * unindexed_filter.c - rule unindexed-filter: a selective filter on a large table that no index
 * serves.
 *
 * For every table of a query level (SELECT, UPDATE, DELETE) the plain-column
 * predicates of WHERE and JOIN ... ON (=, <, >, BETWEEN, IN, = ANY, IS NULL)
 * are combined with pg_stats selectivity; an equality on an expression over
 * one column that no index covers at all (lower(email) = $1 with no index on
 * email) counts with the planner's default of 0.5% for an expression without
 * statistics, and its fix is an expression index. The rule fires only when all of
 * these hold: the table has at least min_rows rows; the filter keeps at most
 * max_selectivity of them (a filter that keeps most rows is better served by a
 * sequential scan); and no valid index can deliver that selectivity
 * (multicolumn prefixes, index methods and operator classes, and partial-index
 * predicates are respected by index_advice). Column = column join predicates
 * belong to heavy-join; an expression over an indexed column is
 * function-on-indexed-column's.
 * The suggested index puts equality columns first (most selective first) and
 * one range column last, and is never one that exists or a prefix of one.
 * Ranges against constants (and now() +/- an interval, which the planner folds)
 * are estimated from the histogram. An OR is served only when every branch
 * is (a BitmapOr); otherwise the suggestion is for the first unserved branch.
 */
#include <stdio.h>
#include <string.h>

#include "analyzer/index_advice.h"
#include "analyzer/rule.h"

/* Columns in a suggested index: more rarely pays off for an ad-hoc filter. */
#define UF_MAX_COLS 3
/* An equality column keeping more than this adds width but little selectivity. */
#define UF_USEFUL_EQ_SEL 0.5

static const struct rule_option unindexed_filter_options[] = {
    {"min_rows", 10000, 0, 1e15, "tables with fewer estimated rows are never flagged"},
    {"max_selectivity", 0.1, 0.0001, 1,
     "flag only filters keeping at most this fraction of the table's rows"},
    {"index_selectivity", 0.2, 0.0001, 1,
     "an index narrowing the scan to at most this fraction of the rows is one the planner "
     "uses (a bitmap scan rechecks the rest): the filter counts as served"},
};

struct uf_col {
	const char *name;
	double sel;
	int location;
};

/* Add col to the list unless present; keep the lowest selectivity. */
static void uf_add(struct uf_col *cols, size_t *n, size_t max, const char *name, double sel,
                   int location)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(cols[i].name, name) == 0) {
			if (sel < cols[i].sel)
				cols[i].sel = sel;
			return;
		}
	}
	if (*n >= max)
		return;
	cols[*n].name = name;
	cols[*n].sel = sel;
	cols[*n].location = location;
	(*n)++;
}

static void uf_sort(struct uf_col *cols, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct uf_col c = cols[i];
		size_t j = i;
		while (j > 0 && cols[j - 1].sel > c.sel) {
			cols[j] = cols[j - 1];
			j--;
		}
		cols[j] = c;
	}
}

/*
 * Columns of the suggested index: useful equality columns by selectivity,
 * then the range column with both bounds (or any). Returns how many.
 */
static size_t uf_pick_columns(const struct ia_query *q, int rel, const char **out, int *location)
{
	struct uf_col eq[IA_MAX_PREDS];
	struct uf_col range[IA_MAX_PREDS];
	size_t n_eq = 0;
	size_t n_range = 0;
	size_t n = 0;

	for (size_t i = 0; i < q->n_preds; i++) {
		const struct ia_pred *p = &q->preds[i];
		if (p->rel != rel || !p->column || !ia_op_indexable(p->op))
			continue;
		double sel = ia_pred_selectivity(q, p);
		if (p->op == IA_OP_RANGE || p->op == IA_OP_BETWEEN)
			uf_add(range, &n_range, IA_MAX_PREDS, p->column,
			       p->op == IA_OP_BETWEEN ? 0 : sel, p->location);
		else if (sel <= UF_USEFUL_EQ_SEL)
			uf_add(eq, &n_eq, IA_MAX_PREDS, p->column, sel, p->location);
	}
	uf_sort(eq, n_eq);
	uf_sort(range, n_range);
	*location = -1;
	for (size_t i = 0; i < n_eq && n < UF_MAX_COLS; i++) {
		if (*location < 0)
			*location = eq[i].location;
		out[n++] = eq[i].name;
	}
	if (n_range > 0 && n < UF_MAX_COLS) {
		bool dup = false;
		for (size_t i = 0; i < n; i++)
			dup = dup || strcmp(out[i], range[0].name) == 0;
		if (!dup) {
			if (*location < 0)
				*location = range[0].location;
			out[n++] = range[0].name;
		}
	}
	return n;
}

/*
 * For a filter whose only predicates on rel are ORs: the columns of the first
 * branch no index serves (a BitmapOr needs every branch). Returns how many.
 */
static size_t uf_pick_or_columns(const struct ia_query *q, int rel, double index_sel,
                                 const char **out, int *location)
{
	struct ia_query branch;

	for (size_t i = 0; i < q->n_preds; i++) {
		const struct ia_pred *p = &q->preds[i];
		if (p->or_rel != rel)
			continue;
		for (size_t b = 0; ia_or_branch(q, p, b, &branch); b++) {
			if (ia_best_index_selectivity(&branch, rel, NULL) <= index_sel)
				continue;
			size_t n = uf_pick_columns(&branch, rel, out, location);
			if (n > 0)
				return n;
		}
	}
	return 0;
}

/* A valid btree (partial or not) whose leading keys are exactly cols, in order. */
static const struct catalog_index *uf_existing(const struct catalog_table *t,
                                               const char *const *cols, size_t n)
{
	for (size_t i = 0; i < t->n_indexes; i++) {
		const struct catalog_index *ix = &t->indexes[i];
		if (ix->method != CATALOG_INDEX_BTREE || ix->n_keys < n)
			continue;
		bool same = true;
		for (size_t k = 0; k < n && same; k++)
			same = ix->keys[k].column && strcmp(ix->keys[k].column, cols[k]) == 0;
		if (same)
			return ix;
	}
	return NULL;
}

static void uf_check_rel(struct rule_ctx *ctx, const struct ia_query *q, int rel)
{
	const struct ia_rel *r = &q->rels[rel];
	double rows = ia_table_rows(r->table);
	double max_sel = rule_option(ctx, "max_selectivity");
	const char *cols[UF_MAX_COLS];
	int location = -1;
	char sql[512];

	if (rows < rule_option(ctx, "min_rows") || rows <= 0)
		return;
	double sel = ia_rel_filter_selectivity(q, rel);
	if (sel > max_sel)
		return;
	double index_sel = rule_option(ctx, "index_selectivity");
	if (ia_best_index_selectivity(q, rel, NULL) <= index_sel)
		return;
	size_t n = uf_pick_columns(q, rel, cols, &location);
	if (n == 0)
		n = uf_pick_or_columns(q, rel, index_sel, cols, &location);
	if (n == 0)
		return;
	const struct catalog_index *have = uf_existing(r->table, cols, n);
	if (have && have->valid && !have->predicate)
		return; /* it exists after all: never suggest it */
	if (!ia_format_create_index(r->table, cols, n, NULL, sql, sizeof(sql)))
		return;
	if (have && !have->valid) {
		char fix[640];
		snprintf(fix, sizeof(fix), "DROP INDEX CONCURRENTLY %s; %s", have->name, sql);
		rule_report(
		    ctx, location, fix,
		    "filter on %s keeps about %.2g%% of %.0f rows but index %s that would serve "
		    "it is invalid (a failed CREATE INDEX CONCURRENTLY?); drop and rebuild it",
		    r->table->name, sel * 100, rows, have->name);
		return;
	}
	rule_report(
	    ctx, location, sql,
	    "filter on %s.%s%s keeps about %.2g%% of %.0f rows and no index can serve it%s%s%s: "
	    "every execution reads the whole table",
	    r->table->name, cols[0], n > 1 ? ", ..." : "", sel * 100, rows,
	    have ? " (partial index " : "", have ? have->name : "",
	    have ? " does not cover this query)" : "");
}

/*
 * Can an index be built on this expression: only functions and operators
 * known to be IMMUTABLE, so the suggestion is one PostgreSQL accepts
 * (date(timestamptz) depends on the time zone and is refused).
 */
static bool uf_expr_indexable(const PgQuery__Node *n, int depth)
{
	static const char *const immutable[] = {
	    "lower",       "upper",   "btrim",      "ltrim",   "rtrim", "substring",
	    "substr",      "left",    "right",      "md5",     "abs",   "length",
	    "char_length", "reverse", "split_part", "replace", NULL};

	if (n == NULL || depth > 16)
		return false;
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_COLUMN_REF:
	case PG_QUERY__NODE__NODE_A_CONST:
		return true;
	case PG_QUERY__NODE__NODE_FUNC_CALL: {
		const PgQuery__FuncCall *f = n->func_call;
		const char *name =
		    f->n_funcname ? walk_node_string(f->funcname[f->n_funcname - 1]) : NULL;
		bool known = false;

		for (int i = 0; name != NULL && immutable[i] != NULL && !known; i++)
			known = strcmp(name, immutable[i]) == 0;
		for (size_t i = 0; known && i < f->n_args; i++)
			known = uf_expr_indexable(f->args[i], depth + 1);
		return known;
	}
	case PG_QUERY__NODE__NODE_A_EXPR: {
		const PgQuery__AExpr *e = n->a_expr;
		const char *op = e->n_name ? walk_node_string(e->name[e->n_name - 1]) : NULL;

		/* JSON field extraction: data->>'email'. */
		return e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP && op != NULL &&
		       (strcmp(op, "->>") == 0 || strcmp(op, "->") == 0) &&
		       uf_expr_indexable(e->lexpr, depth + 1) &&
		       uf_expr_indexable(e->rexpr, depth + 1);
	}
	default:
		return false;
	}
}

/*
 * Predicate p of q an equality on an expression over one column of a large
 * table, where neither the column nor the expression leads an index and no
 * index serves the table's other filters: report it with its expression
 * index.
 */
static void uf_check_expr(struct rule_ctx *ctx, const struct ia_query *q, const struct ia_pred *p)
{
	const PgQuery__Node *colref = NULL;
	const char *column = NULL;
	char expr[IA_CANON_MAX], sql[IA_CANON_MAX + 128];

	if ((p->op != IA_OP_EQ && p->op != IA_OP_IN) || p->rel >= 0 || p->expr == NULL ||
	    p->or_rel >= 0 || ia_count_columns(p->expr, &colref) != 1)
		return;
	int rel = ia_resolve_column(q, colref, &column);
	if (rel < 0 || q->rels[rel].kind != IA_REL_TABLE)
		return;
	const struct catalog_table *t = q->rels[rel].table;
	double rows = ia_table_rows(t);
	if (rows < rule_option(ctx, "min_rows") || rows <= 0)
		return;
	if (ia_find_lookup_index(t, column) || ia_find_expression_index(t, p->expr, 0, NULL))
		return; /* the column's index is function-on-indexed-column's business */
	double sel = ia_rel_filter_selectivity(q, rel); /* the expression's share included */
	if (sel > rule_option(ctx, "max_selectivity") ||
	    ia_best_index_selectivity(q, rel, NULL) <= rule_option(ctx, "index_selectivity"))
		return;
	if (!uf_expr_indexable(p->expr, 0) || !ia_canon_expr(p->expr, expr, sizeof(expr)) ||
	    strstr(expr, "cast(") != NULL)
		return;
	snprintf(sql, sizeof(sql), "CREATE INDEX CONCURRENTLY ON %s ((%s));", t->name, expr);
	rule_report(ctx, walk_node_location(p->expr), sql,
	            "filter on %s over %s.%s keeps about %.2g%% of %.0f rows and no index can "
	            "serve it: every execution reads the whole table and computes it per row",
	            expr, t->name, column, sel * 100, rows);
}

static void unindexed_filter_query(struct rule_ctx *ctx, const struct walk_scope *scope)
{
	struct ia_query q;

	if (!ctx->catalog || (!scope->select && !scope->update && !scope->del))
		return;
	ia_query_collect(&q, ctx->catalog, scope);
	if (q.truncated)
		return;
	for (size_t i = 0; i < q.n_rels; i++) {
		if (q.rels[i].kind == IA_REL_TABLE)
			uf_check_rel(ctx, &q, (int)i);
	}
	for (size_t i = 0; i < q.n_preds; i++)
		uf_check_expr(ctx, &q, &q.preds[i]);
}

const struct rule rule_unindexed_filter = {
    .id = "unindexed-filter",
    .default_severity = SEVERITY_WARNING,
    .summary = "selective WHERE/ON filter on a large table that no index serves",
    .options = unindexed_filter_options,
    .n_options = sizeof(unindexed_filter_options) / sizeof(unindexed_filter_options[0]),
    .needs_schema = true,
    .on_query = unindexed_filter_query,
};
