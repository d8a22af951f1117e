/*
 * select_star.c - rule select-star: SELECT * returning rows to the client.
 *
 * Only the output of the statement itself counts (the top level and its
 * UNION branches): a * inside EXISTS, IN, a FROM subquery or a CTE costs
 * nothing when the outer query picks columns, so flagging it would be noise.
 * count(*) is an aggregate, not a star column, and is never flagged. A star
 * over a CTE or subquery that itself lists its columns is harmless and not
 * flagged; one that reaches a table (directly or through such a chain) is.
 */
#include <string.h>

#include "analyzer/rule.h"

/* Nesting of CTEs / subqueries followed to find a table under a star. */
#define STAR_MAX_DEPTH 8

/* FROM leaves considered per query level. */
#define STAR_MAX_LEAVES 64

static bool star_reaches_table(const PgQuery__SelectStmt *sel, const char *qualifier,
                               const struct walk_scope *scope, int depth);

/* Does the FROM item `leaf` expose a table's columns (directly or via a star below it)? */
static bool leaf_reaches_table(const PgQuery__Node *leaf, const struct walk_scope *scope, int depth)
{
	if (leaf->node_case == PG_QUERY__NODE__NODE_RANGE_VAR) {
		const PgQuery__RangeVar *rv = leaf->range_var;
		const PgQuery__CommonTableExpr *cte =
		    rv->schemaname == NULL || rv->schemaname[0] == '\0'
		        ? walk_find_cte(scope, rv->relname)
		        : NULL;
		if (cte == NULL)
			return true;
		if (cte->ctequery == NULL ||
		    cte->ctequery->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
			return false;
		return star_reaches_table(cte->ctequery->select_stmt, NULL, scope, depth + 1);
	}
	if (leaf->node_case == PG_QUERY__NODE__NODE_RANGE_SUBSELECT) {
		const PgQuery__Node *q = leaf->range_subselect->subquery;
		if (q == NULL || q->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
			return false;
		return star_reaches_table(q->select_stmt, NULL, scope, depth + 1);
	}
	return false;
}

/* Is c a star column (t.* or *), and if so which qualifier (NULL for bare *)? */
static bool is_star(const PgQuery__ColumnRef *c, const char **qualifier)
{
	if (c->n_fields == 0 ||
	    c->fields[c->n_fields - 1]->node_case != PG_QUERY__NODE__NODE_A_STAR)
		return false;
	*qualifier = c->n_fields >= 2 ? walk_node_string(c->fields[c->n_fields - 2]) : NULL;
	return true;
}

/* Do the FROM leaves of sel that a star with this qualifier covers include a table? */
static bool covered_leaves_reach_table(const PgQuery__SelectStmt *sel, const char *qualifier,
                                       const struct walk_scope *scope, int depth)
{
	const PgQuery__Node *leaves[STAR_MAX_LEAVES];
	size_t n = walk_from_leaves(sel->from_clause, sel->n_from_clause, leaves, STAR_MAX_LEAVES);

	if (n > STAR_MAX_LEAVES)
		n = STAR_MAX_LEAVES;
	for (size_t i = 0; i < n; i++) {
		const char *name = walk_from_item_name(leaves[i]);
		if (qualifier != NULL && (name == NULL || strcmp(name, qualifier) != 0))
			continue;
		if (leaf_reaches_table(leaves[i], scope, depth))
			return true;
	}
	return false;
}

/*
 * Does a star in sel's target list (any star when qualifier is NULL and
 * sel is reached through a chain) expose a table's columns?
 */
static bool star_reaches_table(const PgQuery__SelectStmt *sel, const char *qualifier,
                               const struct walk_scope *scope, int depth)
{
	if (sel == NULL || depth > STAR_MAX_DEPTH)
		return false;
	if (sel->larg != NULL || sel->rarg != NULL)
		return star_reaches_table(sel->larg, NULL, scope, depth + 1) ||
		       star_reaches_table(sel->rarg, NULL, scope, depth + 1);
	for (size_t i = 0; i < sel->n_target_list; i++) {
		const PgQuery__Node *t = sel->target_list[i];
		const char *q;
		if (t->node_case != PG_QUERY__NODE__NODE_RES_TARGET || t->res_target->val == NULL ||
		    t->res_target->val->node_case != PG_QUERY__NODE__NODE_COLUMN_REF ||
		    !is_star(t->res_target->val->column_ref, &q))
			continue;
		if (covered_leaves_reach_table(sel, q, scope, depth))
			return true;
	}
	return false;
}

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
	const char *qualifier;
	if (!is_star(node->column_ref, &qualifier))
		return;
	if (!covered_leaves_reach_table(pos->scope->select, qualifier, pos->scope, 0))
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
