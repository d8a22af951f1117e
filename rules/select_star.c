/*
 * select_star.c - rule select-star: SELECT * returning rows to the client.
 *
 * Only the output of the statement itself counts (the top level and its
 * UNION branches): a * inside EXISTS, IN, a FROM subquery or a CTE costs
 * nothing when the outer query picks columns, so flagging it would be noise.
 * count(*) is an aggregate, not a star column, and is never flagged.
 */
#include "analyzer/rule.h"

static bool is_output_level(const struct walk_scope *s)
{
	while (s != NULL && s->kind == WALK_SCOPE_SETOP_BRANCH)
		s = s->outer;
	return s != NULL && s->kind == WALK_SCOPE_TOP && s->select != NULL;
}

static void select_star_node(struct rule_ctx *ctx, const PgQuery__Node *node,
                             const struct walk_pos *pos)
{
	if (node->node_case != PG_QUERY__NODE__NODE_COLUMN_REF || pos->clause != WALK_CLAUSE_TARGET)
		return;
	if (!is_output_level(pos->scope))
		return;
	/* The target list holds ResTarget nodes; a star is their direct ColumnRef value. */
	if (pos->parent == NULL || pos->parent->node_case != PG_QUERY__NODE__NODE_RES_TARGET)
		return;
	const PgQuery__ColumnRef *ref = node->column_ref;
	if (ref->n_fields == 0 ||
	    ref->fields[ref->n_fields - 1]->node_case != PG_QUERY__NODE__NODE_A_STAR)
		return;
	rule_report(ctx, walk_node_location(node),
	            "list the columns the caller uses, e.g. SELECT id, name FROM ...",
	            "SELECT * returns every column: wider rows, no index-only scans, and callers "
	            "break when columns are added or reordered");
}

const struct rule rule_select_star = {
    .id = "select-star",
    .default_severity = SEVERITY_INFO,
    .summary = "SELECT * in a statement's result columns",
    .on_node = select_star_node,
};
