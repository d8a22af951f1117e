/*
 * nondeterministic_pagination.c - rule nondeterministic-pagination: LIMIT/OFFSET whose rows are
 * not fixed by the query.
 *
 * Without ORDER BY, PostgreSQL returns whichever rows the plan meets first; the
 * next page (OFFSET) can repeat or skip rows, and a plan change reshuffles
 * them. With ORDER BY on columns that are not unique, ties come back in any
 * order, with the same effect at page boundaries. Not flagged: EXISTS
 * subqueries, aggregates without GROUP BY, constant select lists (existence
 * checks), single-row lookups on a unique key, ORDER BY covering a unique key
 * of a relation (columns fixed by `= value` or joined to a relation pinned to
 * one row count as covered), ORDER BY
 * covering every GROUP BY or DISTINCT column. An ORDER BY item that is not a
 * plain column is flagged when ties are likely and no plain column follows to
 * break them: a count (groups of the same size tie), or an expression over
 * one column that itself repeats (lower(username)), unless a unique index has
 * the expression as its key. Other expressions (a sum of amounts, a KNN
 * distance) rarely tie and are left alone. ORDER BY random() is
 * order-by-random's business. The uniqueness checks need a schema; without
 * one only a missing ORDER BY is reported.
 */
#include <stdio.h>
#include <string.h>

#include "analyzer/index_advice.h"
#include "analyzer/rule.h"

#define NP_MAX_COLS IA_MAX_PREDS

static bool np_has_limit(const PgQuery__SelectStmt *sel)
{
	const PgQuery__Node *l = sel->limit_count;
	bool count = l && !(l->node_case == PG_QUERY__NODE__NODE_A_CONST && l->a_const->isnull);
	return count || sel->limit_offset != NULL;
}

static bool np_constant_targets(const PgQuery__SelectStmt *sel)
{
	for (size_t i = 0; i < sel->n_target_list; i++) {
		const PgQuery__Node *t = sel->target_list[i];
		if (t->node_case != PG_QUERY__NODE__NODE_RES_TARGET ||
		    !ia_node_is_value(t->res_target->val))
			return false;
	}
	return sel->n_target_list > 0;
}

static bool np_all_pinned(const struct ia_query *q)
{
	bool pinned[IA_MAX_RELS];

	if (q->n_rels == 0)
		return false;
	ia_pinned_rels(q, pinned);
	for (size_t i = 0; i < q->n_rels; i++)
		if (!pinned[i])
			return false;
	return true;
}

/* What a list of items holds, for np_columns(). */
enum np_items {
	NP_SORT,   /* SortBy nodes of ORDER BY */
	NP_GROUP,  /* GROUP BY expressions (ordinals and aliases allowed) */
	NP_TARGET, /* ResTarget nodes of the select list */
};

struct np_col {
	int rel;
	const char *name;
};

/* Resolve items (sort, group or target) to plain columns; false if one is not a column. */
static bool np_columns(const struct ia_query *q, const PgQuery__SelectStmt *sel,
                       PgQuery__Node *const *items, size_t n, enum np_items kind,
                       struct np_col *out, size_t *n_out)
{
	*n_out = 0;
	for (size_t i = 0; i < n && *n_out < NP_MAX_COLS; i++) {
		const PgQuery__Node *e = items[i];
		if (kind == 0)
			e = e->node_case == PG_QUERY__NODE__NODE_SORT_BY ? e->sort_by->node : NULL;
		else if (kind == 2)
			e = e->node_case == PG_QUERY__NODE__NODE_RES_TARGET ? e->res_target->val
			                                                    : NULL;
		if (kind != 2)
			e = ia_output_expr(sel, e);
		const char *col = NULL;
		int rel = ia_resolve_column(q, e, &col);
		if (rel < 0)
			return false;
		out[*n_out].rel = rel;
		out[*n_out].name = col;
		(*n_out)++;
	}
	return true;
}

static bool np_contains(const struct np_col *cols, size_t n, const struct np_col *c)
{
	for (size_t i = 0; i < n; i++)
		if (cols[i].rel == c->rel && strcmp(cols[i].name, c->name) == 0)
			return true;
	return false;
}

static bool np_covers_all(const struct np_col *sort, size_t n_sort, const struct np_col *need,
                          size_t n_need)
{
	for (size_t i = 0; i < n_need; i++)
		if (!np_contains(sort, n_sort, &need[i]))
			return false;
	return n_need > 0;
}

/* Does the sort (plus columns fixed by equality) cover a unique key of some relation? */
static bool np_covers_unique(const struct ia_query *q, const struct np_col *sort, size_t n_sort)
{
	const char *cols[NP_MAX_COLS * 2];
	bool pinned[IA_MAX_RELS];

	ia_pinned_rels(q, pinned);
	for (size_t r = 0; r < q->n_rels; r++) {
		if (q->rels[r].kind != IA_REL_TABLE)
			continue;
		size_t n = 0;
		for (size_t i = 0; i < n_sort; i++)
			if ((size_t)sort[i].rel == r)
				cols[n++] = sort[i].name;
		if (n == 0)
			continue;
		n += ia_equality_columns(q, (int)r, pinned, cols + n, NP_MAX_COLS);
		if (catalog_is_unique_key(q->rels[r].table, cols, n))
			return true;
	}
	return false;
}

static bool np_sort_is_random(const PgQuery__SelectStmt *sel)
{
	for (size_t i = 0; i < sel->n_sort_clause; i++) {
		const PgQuery__Node *s = sel->sort_clause[i];
		if (s->node_case != PG_QUERY__NODE__NODE_SORT_BY || !s->sort_by->node ||
		    s->sort_by->node->node_case != PG_QUERY__NODE__NODE_FUNC_CALL)
			continue;
		const PgQuery__FuncCall *f = s->sort_by->node->func_call;
		const char *name =
		    f->n_funcname ? walk_node_string(f->funcname[f->n_funcname - 1]) : NULL;
		if (name && strcmp(name, "random") == 0)
			return true;
	}
	return false;
}

/*
 * The plain-column sort keys into out, and the first key that is an
 * expression or an aggregate (NULL when all are columns); false when a
 * column key is not of a table (a subquery's, a CTE's: uniqueness unknown).
 */
static bool np_split_sort(const struct ia_query *q, const PgQuery__SelectStmt *sel,
                          struct np_col *out, size_t *n_out, const PgQuery__Node **expr)
{
	*n_out = 0;
	*expr = NULL;
	for (size_t i = 0; i < sel->n_sort_clause && *n_out < NP_MAX_COLS; i++) {
		const PgQuery__Node *s = sel->sort_clause[i];
		const PgQuery__Node *e;
		const char *col = NULL;
		int rel;

		if (s->node_case != PG_QUERY__NODE__NODE_SORT_BY)
			return false;
		e = ia_output_expr(sel, s->sort_by->node);
		rel = ia_resolve_column(q, e, &col);
		if (rel >= 0) {
			if (q->rels[rel].kind != IA_REL_TABLE)
				return false;
			out[*n_out].rel = rel;
			out[*n_out].name = col;
			(*n_out)++;
		} else if (*expr == NULL) {
			*expr = e != NULL ? e : s->sort_by->node;
		}
	}
	return true;
}

/*
 * Does sort key e tie often: a count() aggregate, or an expression over one
 * column whose values repeat (not a unique key, n_distinct not -1)?
 */
static bool np_ties_likely(const struct ia_query *q, const PgQuery__Node *e)
{
	const PgQuery__Node *colref = NULL;
	const char *col = NULL;

	if (e == NULL)
		return false;
	if (e->node_case == PG_QUERY__NODE__NODE_FUNC_CALL && ia_is_aggregate_call(e)) {
		const PgQuery__FuncCall *f = e->func_call;
		const char *name =
		    f->n_funcname ? walk_node_string(f->funcname[f->n_funcname - 1]) : NULL;
		return name != NULL && strcmp(name, "count") == 0;
	}
	if (e->node_case != PG_QUERY__NODE__NODE_FUNC_CALL || ia_count_columns(e, &colref) != 1)
		return false;
	int rel = ia_resolve_column(q, colref, &col);
	if (rel < 0 || q->rels[rel].kind != IA_REL_TABLE)
		return false;
	if (catalog_is_unique_key(q->rels[rel].table, &col, 1))
		return false;
	double nd = ia_column_ndistinct(q->rels[rel].table, col);
	double rows = ia_table_rows(q->rels[rel].table);
	return nd > 0 && rows > 0 && nd < rows * 0.99;
}

/* Is expression e the whole key of a valid unique index of one of q's tables? */
static bool np_unique_expression(const struct ia_query *q, const PgQuery__Node *e)
{
	for (size_t r = 0; r < q->n_rels; r++) {
		const struct catalog_index *ix;

		if (q->rels[r].kind != IA_REL_TABLE)
			continue;
		ix = ia_find_expression_index(q->rels[r].table, e, 0, NULL);
		if (ix != NULL && ix->unique && ix->n_keys == 1 && ix->predicate == NULL)
			return true;
	}
	return false;
}

/* ORDER BY with an expression or aggregate key: flagged unless the plain keys fix the rows. */
static void np_check_expression_order(struct rule_ctx *ctx, const struct ia_query *q,
                                      const PgQuery__SelectStmt *sel)
{
	struct np_col sort[NP_MAX_COLS], need[NP_MAX_COLS];
	size_t n_sort = 0, n_need = 0;
	const PgQuery__Node *expr;
	char text[IA_CANON_MAX];

	if (!np_split_sort(q, sel, sort, &n_sort, &expr) || expr == NULL ||
	    !np_ties_likely(q, expr))
		return;
	/* A column after it is the author's tie-breaker; whether it is unique enough is the
	 * data's business (a name unique in practice is not declared so). */
	if (n_sort > 0)
		return;
	/* GROUP BY or DISTINCT over something that is not a plain column: uniqueness unknown. */
	if (sel->n_group_clause > 0 &&
	    !np_columns(q, sel, sel->group_clause, sel->n_group_clause, NP_GROUP, need, &n_need))
		return;
	if (sel->n_distinct_clause > 0 &&
	    !np_columns(q, sel, sel->target_list, sel->n_target_list, NP_TARGET, need, &n_need))
		return;
	if (sel->n_sort_clause == 1 && np_unique_expression(q, expr))
		return;
	if (!ia_canon_expr(expr, text, sizeof(text)))
		snprintf(text, sizeof(text), "an expression");
	rule_report(ctx, walk_node_location(sel->sort_clause[0]),
	            "append a unique column to ORDER BY, e.g. ORDER BY count(*) DESC, id",
	            "ORDER BY %s is not unique: rows that tie come back in any order, so pages "
	            "overlap or skip rows",
	            text);
}

static void np_check_order(struct rule_ctx *ctx, const struct walk_scope *scope,
                           const PgQuery__SelectStmt *sel)
{
	struct ia_query q;
	struct np_col sort[NP_MAX_COLS];
	struct np_col need[NP_MAX_COLS];
	size_t n_sort = 0;
	size_t n_need = 0;

	if (!ctx->catalog || np_sort_is_random(sel))
		return;
	ia_query_collect(&q, ctx->catalog, scope);
	if (q.truncated || np_all_pinned(&q))
		return;
	if (!np_columns(&q, sel, sel->sort_clause, sel->n_sort_clause, NP_SORT, sort, &n_sort)) {
		np_check_expression_order(ctx, &q, sel);
		return;
	}
	for (size_t i = 0; i < n_sort; i++)
		if (q.rels[sort[i].rel].kind != IA_REL_TABLE)
			return; /* a column of a subquery or CTE: uniqueness unknown */
	if (np_covers_unique(&q, sort, n_sort))
		return;
	if (sel->n_group_clause > 0 && (!np_columns(&q, sel, sel->group_clause, sel->n_group_clause,
	                                            NP_GROUP, need, &n_need) ||
	                                np_covers_all(sort, n_sort, need, n_need)))
		return;
	if (sel->n_distinct_clause > 0 &&
	    (!np_columns(&q, sel, sel->target_list, sel->n_target_list, NP_TARGET, need, &n_need) ||
	     np_covers_all(sort, n_sort, need, n_need)))
		return;
	const PgQuery__Node *first = sel->sort_clause[0];
	rule_report(ctx, walk_node_location(first),
	            "append a unique column to ORDER BY, e.g. ORDER BY created_at, id",
	            "ORDER BY %s%s is not unique: rows that tie come back in any order, so pages "
	            "overlap or skip rows",
	            sort[0].name, n_sort > 1 ? ", ..." : "");
}

static void nondeterministic_pagination_query(struct rule_ctx *ctx, const struct walk_scope *scope)
{
	const PgQuery__SelectStmt *sel = scope->select;

	if (!sel || !np_has_limit(sel))
		return;
	if (scope->kind == WALK_SCOPE_SUBLINK &&
	    scope->sublink_type == PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK)
		return;
	bool setop = sel->op != PG_QUERY__SET_OPERATION__SETOP_NONE &&
	             sel->op != PG_QUERY__SET_OPERATION__SET_OPERATION_UNDEFINED;
	if (sel->n_sort_clause > 0) {
		if (!setop)
			np_check_order(ctx, scope, sel);
		return;
	}
	if (!setop) {
		if (sel->n_from_clause == 0 || np_constant_targets(sel))
			return;
		if (sel->n_group_clause == 0 && ia_select_has_aggregate(sel))
			return;
		if (ctx->catalog) {
			struct ia_query q;
			ia_query_collect(&q, ctx->catalog, scope);
			if (np_all_pinned(&q))
				return;
		}
	}
	const PgQuery__Node *at = sel->limit_count ? sel->limit_count : sel->limit_offset;
	rule_report(
	    ctx, walk_node_location(at), "add ORDER BY on a unique key (e.g. ORDER BY id)",
	    "%s without ORDER BY returns an arbitrary subset: pages repeat or skip rows and "
	    "change with the plan",
	    sel->limit_count ? "LIMIT" : "OFFSET");
}

const struct rule rule_nondeterministic_pagination = {
    .id = "nondeterministic-pagination",
    .default_severity = SEVERITY_WARNING,
    .summary = "LIMIT/OFFSET without ORDER BY, or ORDER BY on a non-unique key",
    .on_query = nondeterministic_pagination_query,
};
