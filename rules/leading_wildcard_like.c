/*
 * leading_wildcard_like.c - rule leading-wildcard-like: LIKE/ILIKE '%...' on a large table.
 *
 * A pattern that starts with % or _ cannot use a btree index, so the match
 * reads every row. A trigram index (GIN or GiST with gin_trgm_ops /
 * gist_trgm_ops from pg_trgm) on the column, or on the same expression when
 * the column is wrapped (lower(name)), serves such patterns; then nothing is
 * flagged. Patterns that are parameters are unknown and not flagged; a
 * concatenation '%' || $1 is known to start with a wildcard. NOT LIKE is not
 * flagged (it keeps most rows; no index helps it).
 */
#include <stdio.h>
#include <string.h>

#include "analyzer/index_advice.h"
#include "analyzer/rule.h"

/* Columns already reported in the current statement (see function_on_indexed_column.c). */
static __thread struct ia_seen lwl_seen;

static const struct rule_option leading_wildcard_like_options[] = {
    {"min_rows", 10000, 0, 1e15, "tables with fewer estimated rows are never flagged"},
};

/* Is there a valid trigram index with plain key column col? */
static bool lwl_trgm_on_column(const struct catalog_table *t, const char *col)
{
	for (size_t i = 0; i < t->n_indexes; i++) {
		const struct catalog_index *ix = &t->indexes[i];
		if (!ix->valid)
			continue;
		for (size_t k = 0; k < ix->n_keys; k++)
			if (ix->keys[k].column && strcmp(ix->keys[k].column, col) == 0 &&
			    ix->keys[k].opclass && strstr(ix->keys[k].opclass, "trgm_ops"))
				return true;
	}
	return false;
}

/* The single column reference inside a simple function/cast expression, or NULL. */
static const PgQuery__Node *lwl_inner_column(const PgQuery__Node *n, int depth)
{
	if (!n || depth > 8)
		return NULL;
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_COLUMN_REF:
		return n;
	case PG_QUERY__NODE__NODE_TYPE_CAST:
		return lwl_inner_column(n->type_cast->arg, depth + 1);
	case PG_QUERY__NODE__NODE_FUNC_CALL:
		if (n->func_call->n_args != 1)
			return NULL;
		return lwl_inner_column(n->func_call->args[0], depth + 1);
	default:
		return NULL;
	}
}

static void lwl_check(struct rule_ctx *ctx, const struct walk_pos *pos, const PgQuery__AExpr *e,
                      bool ilike)
{
	const char *column = NULL;
	struct ia_query q;
	char sql[512];

	if (!ia_like_leading_wildcard(e->rexpr))
		return;
	const PgQuery__Node *colref = lwl_inner_column(e->lexpr, 0);
	if (!colref)
		return;
	ia_query_collect(&q, ctx->catalog, pos->scope);
	int rel = ia_resolve_column(&q, colref, &column);
	if (rel < 0 || q.rels[rel].kind != IA_REL_TABLE)
		return;
	const struct catalog_table *t = q.rels[rel].table;
	double rows = ia_table_rows(t);
	if (rows >= 0 && rows < rule_option(ctx, "min_rows"))
		return;
	bool wrapped = colref != e->lexpr;
	if (!wrapped && lwl_trgm_on_column(t, column))
		return;
	if (wrapped && ia_find_expression_index(t, e->lexpr, -1, "trgm_ops"))
		return;
	if (!ia_seen_first(&lwl_seen, t, catalog_find_column(t, column)))
		return;
	char expr[IA_CANON_MAX];
	if (!wrapped || !ia_canon_expr(e->lexpr, expr, sizeof(expr)) || strstr(expr, "cast("))
		snprintf(expr, sizeof(expr), "%s", column);
	snprintf(
	    sql, sizeof(sql),
	    "CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY ON %s USING gin "
	    "(%s%s%s gin_trgm_ops);",
	    t->name, wrapped ? "(" : "", expr, wrapped ? ")" : "");
	char size[48] = "";
	if (rows >= 0)
		snprintf(size, sizeof(size), "%.0f ", rows);
	rule_report(ctx, walk_node_location(e->rexpr), sql,
	            "%s pattern starts with a wildcard: no btree index can serve it, so all %srows "
	            "of %s%s are read and matched",
	            ilike ? "ILIKE" : "LIKE", size, t->name, rows >= 0 ? "" : " (size unknown)");
}

static void lwl_statement(struct rule_ctx *ctx, const PgQuery__Node *stmt)
{
	ia_seen_reset(&lwl_seen);
}

static void lwl_node(struct rule_ctx *ctx, const PgQuery__Node *node, const struct walk_pos *pos)
{
	if (!ctx->catalog || !pos->scope || node->node_case != PG_QUERY__NODE__NODE_A_EXPR)
		return;
	if (pos->clause != WALK_CLAUSE_WHERE && pos->clause != WALK_CLAUSE_JOIN_ON)
		return;
	const PgQuery__AExpr *e = node->a_expr;
	const char *op = e->n_name ? walk_node_string(e->name[e->n_name - 1]) : NULL;
	if (!op)
		return;
	bool like = strcmp(op, "~~") == 0;
	bool ilike = strcmp(op, "~~*") == 0;
	if (!like && !ilike)
		return;
	if (e->kind != PG_QUERY__A__EXPR__KIND__AEXPR_LIKE &&
	    e->kind != PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE &&
	    e->kind != PG_QUERY__A__EXPR__KIND__AEXPR_OP)
		return;
	lwl_check(ctx, pos, e, ilike);
}

const struct rule rule_leading_wildcard_like = {
    .id = "leading-wildcard-like",
    .judges_literals = true,
    .default_severity = SEVERITY_WARNING,
    .summary = "LIKE/ILIKE pattern starting with a wildcard on a large table without trigram index",
    .options = leading_wildcard_like_options,
    .n_options = sizeof(leading_wildcard_like_options) / sizeof(leading_wildcard_like_options[0]),
    .needs_schema = true,
    .on_statement = lwl_statement,
    .on_node = lwl_node,
};
