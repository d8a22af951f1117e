/*
 * function_on_indexed_column.c - rule function-on-indexed-column: a predicate wraps an indexed
 * column in a function, cast or arithmetic, so the index on the column cannot be used.
 *
 * Fires for a comparison (=, <, >, <=, >=, IN, = ANY, BETWEEN, LIKE, ILIKE,
 * IS NULL) in WHERE or JOIN ... ON whose one side is an expression over exactly
 * one column and whose other side is a value (constant, parameter, outer
 * column), when that column leads a btree or hash index, no expression index
 * has the same expression as its leading key, and the table is not known to be
 * small. A cast of a column to its own type changes nothing and is not flagged.
 */
#include <stdio.h>
#include <string.h>

#include "analyzer/index_advice.h"
#include "analyzer/rule.h"

/*
 * Columns already reported in the current statement. Rules have no state of
 * their own in struct rule_ctx, and analysis runs on one thread at a time per
 * thread, so a thread-local reset by on_statement is exact.
 */
static __thread struct ia_seen foic_seen;

static const struct rule_option function_on_indexed_column_options[] = {
    {"min_rows", 10000, 0, 1e15, "tables with fewer estimated rows are never flagged"},
};

/* The internal name of a format_type() text, for comparing with a cast's type name. */
static const char *foic_type_key(const char *t)
{
	static const struct {
		const char *prefix;
		const char *key;
	} map[] = {
	    {"bigint", "int8"},
	    {"integer", "int4"},
	    {"smallint", "int2"},
	    {"text", "text"},
	    {"character varying", "varchar"},
	    {"character", "bpchar"},
	    {"timestamp with time zone", "timestamptz"},
	    {"timestamp without time zone", "timestamp"},
	    {"boolean", "bool"},
	    {"date", "date"},
	    {"numeric", "numeric"},
	    {"uuid", "uuid"},
	    {"jsonb", "jsonb"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strncmp(t, map[i].prefix, strlen(map[i].prefix)) == 0)
			return map[i].key;
	return t;
}

/* Is side a cast of the column straight to the column's own type? */
static bool foic_is_noop_cast(const PgQuery__Node *side, const struct catalog_column *c)
{
	if (side->node_case != PG_QUERY__NODE__NODE_TYPE_CAST ||
	    side->type_cast->arg->node_case != PG_QUERY__NODE__NODE_COLUMN_REF ||
	    !side->type_cast->type_name || side->type_cast->type_name->n_names == 0)
		return false;
	const PgQuery__TypeName *tn = side->type_cast->type_name;
	const char *name = walk_node_string(tn->names[tn->n_names - 1]);
	return name && c->type && strcmp(foic_type_key(c->type), name) == 0;
}

static void foic_check_side(struct rule_ctx *ctx, const struct walk_pos *pos,
                            const PgQuery__Node *side)
{
	const PgQuery__Node *colref = NULL;
	const char *column = NULL;
	struct ia_query q;

	if (!side || side->node_case == PG_QUERY__NODE__NODE_COLUMN_REF)
		return;
	if (ia_count_columns(side, &colref) != 1)
		return;
	ia_query_collect(&q, ctx->catalog, pos->scope);
	int rel = ia_resolve_column(&q, colref, &column);
	if (rel < 0 || q.rels[rel].kind != IA_REL_TABLE)
		return;
	const struct catalog_table *t = q.rels[rel].table;
	double rows = ia_table_rows(t);
	if (rows >= 0 && rows < rule_option(ctx, "min_rows"))
		return;
	const struct catalog_index *ix = ia_find_lookup_index(t, column);
	if (!ix)
		return;
	const struct catalog_column *c = catalog_find_column(t, column);
	if (c && foic_is_noop_cast(side, c))
		return;
	if (ia_find_expression_index(t, side, 0, NULL))
		return;
	if (!ia_seen_first(&foic_seen, t, c ? (const void *)c : (const void *)ix))
		return;
	char expr[IA_CANON_MAX];
	char sql[512];
	const char *sugg = NULL;
	bool have_expr = false;
	if (side->node_case == PG_QUERY__NODE__NODE_TYPE_CAST) {
		const PgQuery__TypeName *tn = side->type_cast->type_name;
		const char *tname =
		    tn && tn->n_names ? walk_node_string(tn->names[tn->n_names - 1]) : NULL;
		if (tname && side->type_cast->arg->node_case == PG_QUERY__NODE__NODE_COLUMN_REF) {
			snprintf(expr, sizeof(expr), "%s::%s", column, tname);
			have_expr = true;
		}
	} else {
		have_expr = ia_canon_expr(side, expr, sizeof(expr)) && !strstr(expr, "cast(");
	}
	if (have_expr) {
		snprintf(sql, sizeof(sql),
		         "compare the bare column (move the function to the value side), or CREATE "
		         "INDEX CONCURRENTLY ON %s ((%s));",
		         t->name, expr);
		sugg = sql;
	}
	rule_report(
	    ctx, walk_node_location(side), sugg,
	    "%s.%s is indexed (%s) but the predicate wraps it in an expression, so the index "
	    "cannot be used and every row is computed",
	    t->name, column, ix->name);
}

static bool foic_is_value(const PgQuery__Node *n)
{
	if (ia_node_is_value(n))
		return true;
	/* A column of another relation (join or outer reference) is a value for this side. */
	return n && n->node_case == PG_QUERY__NODE__NODE_COLUMN_REF;
}

/* Comparison operators an index on the bare column could have served. */
static bool foic_is_predicate_op(const char *op)
{
	static const char *const ops[] = {"=", "<", ">", "<=", ">=", "~~", "~~*", NULL};
	for (size_t i = 0; ops[i]; i++)
		if (strcmp(op, ops[i]) == 0)
			return true;
	return false;
}

static void foic_statement(struct rule_ctx *ctx, const PgQuery__Node *stmt)
{
	ia_seen_reset(&foic_seen);
}

static void foic_node(struct rule_ctx *ctx, const PgQuery__Node *node, const struct walk_pos *pos)
{
	if (!ctx->catalog || !pos->scope ||
	    (pos->clause != WALK_CLAUSE_WHERE && pos->clause != WALK_CLAUSE_JOIN_ON))
		return;
	if (node->node_case == PG_QUERY__NODE__NODE_NULL_TEST) {
		if (node->null_test->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NULL)
			foic_check_side(ctx, pos, node->null_test->arg);
		return;
	}
	if (node->node_case != PG_QUERY__NODE__NODE_A_EXPR)
		return;
	const PgQuery__AExpr *e = node->a_expr;
	const char *op = e->n_name ? walk_node_string(e->name[e->n_name - 1]) : NULL;
	if (!op)
		return;
	switch (e->kind) {
	case PG_QUERY__A__EXPR__KIND__AEXPR_OP:
		if (!foic_is_predicate_op(op))
			return;
		if (op[0] == '~' && ia_like_leading_wildcard(e->rexpr))
			return;
		if (foic_is_value(e->rexpr))
			foic_check_side(ctx, pos, e->lexpr);
		else if (foic_is_value(e->lexpr))
			foic_check_side(ctx, pos, e->rexpr);
		return;
	case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY:
	case PG_QUERY__A__EXPR__KIND__AEXPR_IN:
		if (strcmp(op, "=") == 0 && ia_node_is_value(e->rexpr))
			foic_check_side(ctx, pos, e->lexpr);
		return;
	case PG_QUERY__A__EXPR__KIND__AEXPR_LIKE:
	case PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE:
		/* A leading wildcard defeats the index anyway: leading-wildcard-like says so. */
		if (op[0] != '!' && ia_node_is_value(e->rexpr) &&
		    !ia_like_leading_wildcard(e->rexpr))
			foic_check_side(ctx, pos, e->lexpr);
		return;
	case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN:
	case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN_SYM:
		if (ia_node_is_value(e->rexpr))
			foic_check_side(ctx, pos, e->lexpr);
		return;
	default:
		return;
	}
}

const struct rule rule_function_on_indexed_column = {
    .id = "function-on-indexed-column",
    .default_severity = SEVERITY_WARNING,
    .summary = "function, cast or arithmetic around an indexed column in a predicate",
    .options = function_on_indexed_column_options,
    .n_options =
        sizeof(function_on_indexed_column_options) / sizeof(function_on_indexed_column_options[0]),
    .needs_schema = true,
    .on_statement = foic_statement,
    .on_node = foic_node,
};
