/*
 * missing_pagination.c - rule missing-pagination: a SELECT that returns every matching row of a
 * table that can be large, with no LIMIT / FETCH FIRST.
 *
 * Only the statement's own result counts (the top level and its set-operation
 * branches): subqueries, EXISTS and IN never reach the client. A table can be
 * large when its estimated rows reach min_rows or are unknown (never analysed,
 * not in the schema snapshot, a view); a CTE or FROM subquery is large when it
 * is itself unbounded over such a table. Not flagged: single-row lookups
 * (every large table pinned by equality on a unique key, directly or through a
 * join to a pinned table), aggregates without GROUP BY, and GROUP BY / DISTINCT
 * over plain columns whose n_distinct product is at most max_groups.
 *
 * The rows a query returned per call in the traffic (pgscope report on a
 * capture) are evidence too: fewer than min_result_rows on average and it is
 * not flagged whatever the estimate; at least that many and an unbounded
 * SELECT is flagged even with no schema at all.
 */
#include <stdio.h>
#include <string.h>

#include "analyzer/index_advice.h"
#include "analyzer/rule.h"

/* How deep CTEs / FROM subqueries are followed before giving up (and staying silent). */
#define MP_MAX_DEPTH 8
/*
 * SELECT levels examined per statement. CTEs referencing CTEs many times
 * would otherwise cost exponential time; past the budget the rule stays silent.
 */
#define MP_BUDGET 256

static const struct rule_option missing_pagination_options[] = {
    {"min_rows", 10000, 0, 1e15, "tables with fewer estimated rows are never flagged"},
    {"min_result_rows", 1000, 0, 1e15,
     "a table whose filters are estimated to keep fewer rows than this is not flagged"},
    {"max_groups", 1000, 1, 1e15,
     "GROUP BY/DISTINCT over columns with at most this many value combinations is bounded"},
};

struct mp_result {
	int *budget;       /* SELECT levels still allowed to be examined (shared) */
	const char *table; /* a large table read without bound */
	double rows;       /* its estimated rows, -1 unknown */
	double kept;       /* of those, the rows its filters are estimated to keep, -1 unknown */
	int location;
};

static bool mp_unbounded(struct rule_ctx *ctx, const struct walk_scope *scope,
                         const PgQuery__SelectStmt *sel, int depth, struct mp_result *res);

static bool mp_has_limit(const PgQuery__SelectStmt *sel)
{
	const PgQuery__Node *l = sel->limit_count;
	if (!l)
		return false;
	/* LIMIT ALL and LIMIT NULL are no limit. */
	return !(l->node_case == PG_QUERY__NODE__NODE_A_CONST && l->a_const->isnull);
}

/*
 * Product of n_distinct of the plain columns in items (a column of a pinned
 * relation has one value); -1 when one is not a known column.
 */
static double mp_groups(const struct ia_query *q, const PgQuery__SelectStmt *sel,
                        PgQuery__Node *const *items, size_t n, bool targets, const bool *pinned)
{
	double groups = 1;

	for (size_t i = 0; i < n; i++) {
		const PgQuery__Node *e = items[i];
		const char *col = NULL;
		if (targets)
			e = e->node_case == PG_QUERY__NODE__NODE_RES_TARGET ? e->res_target->val
			                                                    : NULL;
		else
			e = ia_output_expr(sel, e);
		int rel = ia_resolve_column(q, e, &col);
		if (rel < 0 || q->rels[rel].kind != IA_REL_TABLE)
			return -1;
		if (pinned[rel])
			continue; /* one row: one value */
		double nd = ia_column_ndistinct(q->rels[rel].table, col);
		if (nd <= 0)
			return -1;
		groups *= nd;
	}
	return groups;
}

static bool mp_is_system(const struct ia_rel *r)
{
	return r->name && strncmp(r->name, "pg_", 3) == 0;
}

/* Is relation i of q a large relation read without bound? */
static bool mp_rel_unbounded(struct rule_ctx *ctx, const struct ia_query *q, size_t i,
                             const bool *pinned, int depth, struct mp_result *res)
{
	const struct ia_rel *r = &q->rels[i];
	struct mp_result inner;

	switch (r->kind) {
	case IA_REL_TABLE: {
		double rows = ia_table_rows(r->table);
		double kept = rows >= 0 ? rows * ia_rel_filter_selectivity(q, (int)i) : -1;
		if (pinned[i] || (rows >= 0 && rows < rule_option(ctx, "min_rows")))
			return false;
		/* What the client gets is what the filters keep, not the table. */
		if (kept >= 0 && kept < rule_option(ctx, "min_result_rows"))
			return false;
		res->table = r->table->name;
		res->rows = rows;
		res->kept = kept;
		res->location = r->location;
		return true;
	}
	case IA_REL_UNKNOWN:
		if (mp_is_system(r))
			return false;
		res->table = r->name;
		res->rows = -1;
		res->kept = -1;
		res->location = r->location;
		return true;
	case IA_REL_CTE:
	case IA_REL_SUBQUERY:
		if (!r->query || r->query->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
			return false;
		inner.budget = res->budget;
		if (!mp_unbounded(ctx, q->scope, r->query->select_stmt, depth + 1, &inner))
			return false;
		*res = inner;
		if (r->location >= 0)
			res->location = r->location;
		return true;
	default:
		return false;
	}
}

static bool mp_unbounded(struct rule_ctx *ctx, const struct walk_scope *scope,
                         const PgQuery__SelectStmt *sel, int depth, struct mp_result *res)
{
	struct ia_query q;
	bool pinned[IA_MAX_RELS];
	bool found = false;

	if (!sel || depth > MP_MAX_DEPTH || *res->budget <= 0)
		return false;
	(*res->budget)--;
	if (sel->op != PG_QUERY__SET_OPERATION__SETOP_NONE &&
	    sel->op != PG_QUERY__SET_OPERATION__SET_OPERATION_UNDEFINED) {
		if (mp_has_limit(sel))
			return false;
		return mp_unbounded(ctx, scope, sel->larg, depth + 1, res) ||
		       mp_unbounded(ctx, scope, sel->rarg, depth + 1, res);
	}
	if (mp_has_limit(sel) || sel->n_from_clause == 0)
		return false;
	if (sel->n_group_clause == 0 && ia_select_has_aggregate(sel))
		return false;
	ia_query_collect_select(&q, ctx->catalog, scope, sel);
	if (q.truncated)
		return false;
	ia_pinned_rels(&q, pinned);
	for (size_t i = 0; i < q.n_rels && !found; i++)
		found = mp_rel_unbounded(ctx, &q, i, pinned, depth, res);
	if (!found)
		return false;
	double max_groups = rule_option(ctx, "max_groups");
	if (sel->n_group_clause > 0) {
		double g =
		    mp_groups(&q, sel, sel->group_clause, sel->n_group_clause, false, pinned);
		if (g > 0 && g <= max_groups)
			return false;
	}
	if (sel->n_distinct_clause > 0) {
		double g = mp_groups(&q, sel, sel->target_list, sel->n_target_list, true, pinned);
		if (g > 0 && g <= max_groups)
			return false;
	}
	return true;
}

static void missing_pagination_query(struct rule_ctx *ctx, const struct walk_scope *scope)
{
	int budget = MP_BUDGET;
	struct mp_result res = {&budget, NULL, -1, -1, -1};

	if (scope->kind != WALK_SCOPE_TOP || !scope->select || scope->select->into_clause)
		return;
	if (!mp_unbounded(ctx, scope, scope->select, 0, &res))
		return;
	double min_result = rule_option(ctx, "min_result_rows");
	if (ctx->observed_rows >= 0) {
		if (ctx->observed_rows < min_result)
			return; /* the traffic says the result is small */
		rule_report(ctx, res.location,
		            "add ORDER BY a unique key and LIMIT n; page with WHERE key > $last "
		            "(keyset)",
		            "SELECT returned %.0f rows per call on average with no LIMIT: the "
		            "result, its memory and its transfer grow with the data",
		            ctx->observed_rows);
		return;
	}
	if (ctx->catalog == NULL)
		return;
	char size[96];
	if (res.rows >= 0 && res.kept >= 0 && res.kept < res.rows * 0.999)
		snprintf(size, sizeof(size), "about %.0f of %.0f rows", res.kept, res.rows);
	else if (res.rows >= 0)
		snprintf(size, sizeof(size), "%.0f rows", res.rows);
	else
		snprintf(size, sizeof(size), "size unknown");
	rule_report(ctx, res.location,
	            "add ORDER BY a unique key and LIMIT n; page with WHERE key > $last (keyset)",
	            "SELECT returns every matching row of %s (%s) with no LIMIT: the result, its "
	            "memory and its transfer grow with the table",
	            res.table ? res.table : "a large relation", size);
}

const struct rule rule_missing_pagination = {
    .id = "missing-pagination",
    .default_severity = SEVERITY_INFO,
    .summary = "row-returning SELECT over a table that can be large, without LIMIT",
    .options = missing_pagination_options,
    .n_options = sizeof(missing_pagination_options) / sizeof(missing_pagination_options[0]),
    .needs_schema = true,
    .uses_observed_rows = true,
    .on_query = missing_pagination_query,
};
