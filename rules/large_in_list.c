/*
 * large_in_list.c - rule large-in-list: IN (...) / = ANY (ARRAY[...]) with many literal elements.
 *
 * Counted: the elements of an IN list or of an ARRAY[...] constructor under
 * ANY/ALL. Flagged at or above the `threshold` option (default 100). Long lists
 * cost planning time per execution, make every list length a distinct query
 * for statistics and plan caches, and usually mean the application is joining
 * in memory.
 */
#include <stdio.h>

#include "analyzer/rule.h"

static const struct rule_option large_in_list_options[] = {
    {"threshold", 100, 2, 1e9, "flag lists with at least this many elements"},
};

/* Elements of an IN list / ARRAY[] under A_Expr, or -1 when not that shape. */
static long list_length(const PgQuery__AExpr *ae)
{
	const PgQuery__Node *r = ae->rexpr;

	if (r == NULL)
		return -1;
	if (ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_IN) {
		if (r->node_case != PG_QUERY__NODE__NODE_LIST)
			return -1;
		return (long)r->list->n_items;
	}
	if (ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY ||
	    ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL) {
		if (r->node_case == PG_QUERY__NODE__NODE_TYPE_CAST)
			r = r->type_cast->arg;
		if (r == NULL || r->node_case != PG_QUERY__NODE__NODE_A_ARRAY_EXPR)
			return -1;
		return (long)r->a_array_expr->n_elements;
	}
	return -1;
}

static void large_in_list_node(struct rule_ctx *ctx, const PgQuery__Node *node,
                               const struct walk_pos *pos)
{
	if (node->node_case != PG_QUERY__NODE__NODE_A_EXPR)
		return;
	long n = list_length(node->a_expr);
	double threshold = rule_option(ctx, "threshold");
	if (n < 0 || (double)n < threshold)
		return;
	rule_report(ctx, node->a_expr->location,
	            "pass the values as one array parameter (col = ANY($1::bigint[])) or load them "
	            "into a temporary table and join; if they come from another query, join to it",
	            "IN list with %ld elements (threshold %.0f): planning cost grows with the list "
	            "and every list length is a new statement for plan caches and statistics",
	            n, threshold);
}

const struct rule rule_large_in_list = {
    .id = "large-in-list",
    .judges_literals = true,
    .default_severity = SEVERITY_WARNING,
    .summary = "IN list or ARRAY[] with many elements",
    .options = large_in_list_options,
    .n_options = 1,
    .on_node = large_in_list_node,
};
