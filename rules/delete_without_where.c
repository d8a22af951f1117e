/*
 * delete_without_where.c - rule delete-without-where: a DELETE that removes every row.
 *
 * WHERE CURRENT OF counts as a WHERE clause. DELETE ... USING without WHERE is
 * flagged too: it removes every target row that has a partner.
 */
#include <stdio.h>

#include "analyzer/rule.h"

static void delete_without_where_query(struct rule_ctx *ctx, const struct walk_scope *scope)
{
	const PgQuery__DeleteStmt *del = scope->del;

	if (del == NULL || del->where_clause != NULL)
		return;
	const char *rel = del->relation != NULL ? del->relation->relname : "the table";
	int loc = del->relation != NULL ? del->relation->location : -1;
	char suggestion[300];
	snprintf(suggestion, sizeof(suggestion),
	         "add a WHERE clause naming the rows to remove; to empty the table use TRUNCATE %s "
	         "(instant, no dead rows); to purge a large table, delete in key-range batches",
	         rel);
	rule_report(ctx, loc, suggestion,
	            "DELETE from %s has no WHERE clause: it removes every row one by one, holding "
	            "row locks and leaving every row dead until vacuum",
	            rel);
}

const struct rule rule_delete_without_where = {
    .id = "delete-without-where",
    .default_severity = SEVERITY_WARNING,
    .summary = "DELETE without WHERE removes every row of the table",
    .on_query = delete_without_where_query,
};
