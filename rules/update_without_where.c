/*
 * update_without_where.c - rule update-without-where: an UPDATE that changes every row.
 *
 * WHERE CURRENT OF counts as a WHERE clause (it targets one row). An UPDATE
 * ... FROM without WHERE is flagged too: it still touches every target row.
 */
#include "analyzer/rule.h"

static void update_without_where_query(struct rule_ctx *ctx, const struct walk_scope *scope)
{
	const PgQuery__UpdateStmt *up = scope->update;

	if (up == NULL || up->where_clause != NULL)
		return;
	const char *rel = up->relation != NULL ? up->relation->relname : "the table";
	int loc = up->relation != NULL ? up->relation->location : -1;
	rule_report(ctx, loc,
	            "add a WHERE clause naming the rows to change; to rewrite a whole large table, "
	            "do it in key-range batches (UPDATE ... WHERE id >= $1 AND id < $2)",
	            "UPDATE of %s has no WHERE clause: it rewrites every row, locks them all until "
	            "commit and leaves a dead copy of each behind",
	            rel);
}

const struct rule rule_update_without_where = {
    .id = "update-without-where",
    .default_severity = SEVERITY_WARNING,
    .summary = "UPDATE without WHERE rewrites every row of the table",
    .on_query = update_without_where_query,
};
