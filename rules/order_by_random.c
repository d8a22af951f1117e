/*
 * order_by_random.c - rule order-by-random: ORDER BY random() to pick random rows.
 *
 * Flagged at any query level with a FROM clause, subqueries included: the
 * sort reads and sorts the whole input whatever the LIMIT. A window ordered by
 * random() (row_number() OVER (ORDER BY random())) sorts all its input the
 * same way and is flagged too.
 */
#include <string.h>

#include "analyzer/rule.h"

static bool is_random_call(const PgQuery__Node *node)
{
	if (node == NULL || node->node_case != PG_QUERY__NODE__NODE_FUNC_CALL)
		return false;
	const PgQuery__FuncCall *fc = node->func_call;
	if (fc->n_args != 0 || fc->n_funcname == 0)
		return false;
	const char *name = walk_node_string(fc->funcname[fc->n_funcname - 1]);
	if (name == NULL || strcmp(name, "random") != 0)
		return false;
	/* random() or pg_catalog.random(): a user function of that name elsewhere is not ours to
	 * judge. */
	if (fc->n_funcname == 2) {
		const char *schema = walk_node_string(fc->funcname[0]);
		return schema != NULL && strcmp(schema, "pg_catalog") == 0;
	}
	return fc->n_funcname == 1;
}

static void report_random(struct rule_ctx *ctx, const PgQuery__Node *key)
{
	rule_report(
	    ctx, walk_node_location(key),
	    "sample instead: FROM t TABLESAMPLE SYSTEM (1) ... LIMIT n, or pick random keys "
	    "(WHERE id >= (SELECT floor(random() * max(id)) FROM t) ORDER BY id LIMIT n)",
	    "ORDER BY random() reads and sorts every row of the input to return a few; the "
	    "cost grows with the table, not with the LIMIT");
}

/* A window definition ordered by random() at a level that reads a table. */
static void window_by_random(struct rule_ctx *ctx, const PgQuery__WindowDef *w,
                             const struct walk_pos *pos)
{
	const PgQuery__SelectStmt *sel = pos->scope != NULL ? pos->scope->select : NULL;

	if (sel == NULL || sel->n_from_clause == 0)
		return;
	for (size_t i = 0; i < w->n_order_clause; i++) {
		const PgQuery__Node *sb = w->order_clause[i];

		if (sb->node_case == PG_QUERY__NODE__NODE_SORT_BY &&
		    is_random_call(sb->sort_by->node)) {
			report_random(ctx, sb->sort_by->node);
			return;
		}
	}
}

static void order_by_random_node(struct rule_ctx *ctx, const PgQuery__Node *node,
                                 const struct walk_pos *pos)
{
	/* OVER (...) written inline, or a named window of the WINDOW clause. */
	if (node->node_case == PG_QUERY__NODE__NODE_FUNC_CALL && node->func_call->over != NULL) {
		window_by_random(ctx, node->func_call->over, pos);
		return;
	}
	if (node->node_case == PG_QUERY__NODE__NODE_WINDOW_DEF) {
		window_by_random(ctx, node->window_def, pos);
		return;
	}
	if (node->node_case != PG_QUERY__NODE__NODE_SORT_BY || pos->clause != WALK_CLAUSE_ORDER)
		return;
	const PgQuery__SelectStmt *sel = pos->scope != NULL ? pos->scope->select : NULL;
	if (sel == NULL || sel->n_from_clause == 0)
		return;
	/* Only the query's own sort keys, not an aggregate's ORDER BY nested in one. */
	bool own = false;
	for (size_t i = 0; i < sel->n_sort_clause && !own; i++)
		own = sel->sort_clause[i] == node;
	if (!own)
		return;
	if (is_random_call(node->sort_by->node))
		report_random(ctx, node->sort_by->node);
}

const struct rule rule_order_by_random = {
    .id = "order-by-random",
    .default_severity = SEVERITY_WARNING,
    .summary = "ORDER BY random() sorts the whole input to pick random rows",
    .on_node = order_by_random_node,
};
