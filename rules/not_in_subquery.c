/*
 * not_in_subquery.c - rule not-in-subquery: NOT IN (SELECT ...) and its twin <> ALL (SELECT ...).
 *
 * Both return no rows at all once the subquery yields a NULL, and the planner
 * cannot turn them into an anti-join: it runs a hashed subplan (or, when the
 * subquery does not fit in work_mem, rescans it per outer row). NOT EXISTS
 * has neither problem. NOT IN with a literal list is a different matter and is
 * not flagged.
 */
#include <string.h>

#include "analyzer/rule.h"

/* Operator name of a sublink ("=" when absent, as for IN). */
static const char *sublink_op(const PgQuery__SubLink *sl)
{
	if (sl->n_oper_name == 0)
		return "=";
	const char *op = walk_node_string(sl->oper_name[sl->n_oper_name - 1]);
	return op != NULL ? op : "";
}

static const char suggestion[] =
    "rewrite as NOT EXISTS (SELECT 1 FROM ... WHERE inner.col = outer.col): NULL-safe and "
    "planned as an anti-join";

static void not_in_subquery_node(struct rule_ctx *ctx, const PgQuery__Node *node,
                                 const struct walk_pos *pos)
{
	if (node->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR) {
		const PgQuery__BoolExpr *be = node->bool_expr;
		if (be->boolop != PG_QUERY__BOOL_EXPR_TYPE__NOT_EXPR || be->n_args != 1 ||
		    be->args[0]->node_case != PG_QUERY__NODE__NODE_SUB_LINK)
			return;
		const PgQuery__SubLink *sl = be->args[0]->sub_link;
		if (sl->sub_link_type != PG_QUERY__SUB_LINK_TYPE__ANY_SUBLINK ||
		    strcmp(sublink_op(sl), "=") != 0)
			return;
		rule_report(
		    ctx, sl->location >= 0 ? sl->location : be->location, suggestion,
		    "NOT IN (subquery) returns no rows if the subquery yields any NULL, and "
		    "is not planned as an anti-join: it degrades to a per-row subplan on large "
		    "inputs");
		return;
	}
	if (node->node_case == PG_QUERY__NODE__NODE_SUB_LINK) {
		const PgQuery__SubLink *sl = node->sub_link;
		if (sl->sub_link_type != PG_QUERY__SUB_LINK_TYPE__ALL_SUBLINK ||
		    (strcmp(sublink_op(sl), "<>") != 0 && strcmp(sublink_op(sl), "!=") != 0))
			return;
		rule_report(
		    ctx, sl->location, suggestion,
		    "<> ALL (subquery) is NOT IN in disguise: no rows if the subquery yields "
		    "a NULL, and no anti-join plan");
	}
}

const struct rule rule_not_in_subquery = {
    .id = "not-in-subquery",
    .default_severity = SEVERITY_WARNING,
    .summary = "NOT IN (subquery): wrong on NULLs and not planned as an anti-join",
    .on_node = not_in_subquery_node,
};
