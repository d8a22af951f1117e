/*
 * deep_offset.c - rule deep-offset: OFFSET pagination that reads and discards many rows.
 *
 * Flagged: a constant OFFSET at or above the `threshold` option (default
 * 1000), and an OFFSET given by a parameter (OFFSET $1, OFFSET $1 * 20): a
 * parameter grows with the page number, so the cost is unbounded. A small
 * constant OFFSET is fine and not flagged, and so is any OFFSET on a lookup
 * that the schema says returns at most one row (every table of the level
 * pinned by equality on a unique key): there is nothing to skip.
 */
#include <stdio.h>
#include <string.h>

#include "analyzer/index_advice.h"
#include "analyzer/rule.h"

static const struct rule_option deep_offset_options[] = {
    {"threshold", 1000, 1, 1e12, "flag constant OFFSETs at or above this many rows"},
};

/*
 * Write a keyset-pagination suggestion into buf using the query's sort keys
 * when they are plain columns in one direction, a generic one otherwise.
 */
static void keyset_suggestion(const PgQuery__SelectStmt *sel, char *buf, size_t len)
{
	char cols[256] = "", params[128] = "", order[300] = "";
	size_t cl = 0, pl = 0, ol = 0;
	int dir = -1;
	bool plain = sel->n_sort_clause > 0 && sel->n_sort_clause <= 4;

	for (size_t i = 0; plain && i < sel->n_sort_clause; i++) {
		const PgQuery__Node *sb = sel->sort_clause[i];
		const char *qual, *col;
		if (sb->node_case != PG_QUERY__NODE__NODE_SORT_BY ||
		    !walk_column_ref(sb->sort_by->node, &qual, &col)) {
			plain = false;
			break;
		}
		int d = sb->sort_by->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
		if (dir >= 0 && d != dir)
			plain = false;
		dir = d;
		int w = snprintf(cols + cl, sizeof(cols) - cl, "%s%s%s%s", i ? ", " : "",
		                 qual ? qual : "", qual ? "." : "", col);
		int p =
		    snprintf(params + pl, sizeof(params) - pl, "%s$last_%s", i ? ", " : "", col);
		int o = snprintf(order + ol, sizeof(order) - ol, "%s%s%s%s%s", i ? ", " : "",
		                 qual ? qual : "", qual ? "." : "", col, d ? " DESC" : "");
		if (w < 0 || p < 0 || o < 0 || (size_t)w >= sizeof(cols) - cl ||
		    (size_t)p >= sizeof(params) - pl || (size_t)o >= sizeof(order) - ol) {
			plain = false;
		} else {
			cl += (size_t)w;
			pl += (size_t)p;
			ol += (size_t)o;
		}
	}
	if (!plain) {
		snprintf(buf, len,
		         "use keyset pagination: ORDER BY a unique key and continue after the last "
		         "row seen (WHERE (sort_key, id) > ($last_sort_key, $last_id) ORDER BY "
		         "sort_key, id LIMIT n) instead of OFFSET");
		return;
	}
	bool multi = sel->n_sort_clause > 1;
	snprintf(buf, len,
	         "use keyset pagination: WHERE %s%s%s %s %s%s%s ORDER BY %s LIMIT n, passing the "
	         "last row's values (the sort key must be unique; add the primary key if not)",
	         multi ? "(" : "", cols, multi ? ")" : "", dir == 1 ? "<" : ">", multi ? "(" : "",
	         params, multi ? ")" : "", order);
}

/* Does the level return at most one row: every table in it pinned by a unique key? */
static bool single_row_lookup(struct rule_ctx *ctx, const struct walk_scope *scope)
{
	struct ia_query q;
	bool pinned[IA_MAX_RELS];

	if (ctx->catalog == NULL || scope->select->n_from_clause == 0)
		return false;
	ia_query_collect_select(&q, ctx->catalog, scope, scope->select);
	if (q.truncated || q.n_rels == 0)
		return false;
	ia_pinned_rels(&q, pinned);
	for (size_t i = 0; i < q.n_rels; i++)
		if (q.rels[i].kind != IA_REL_TABLE || !pinned[i])
			return false;
	return true;
}

static void deep_offset_query(struct rule_ctx *ctx, const struct walk_scope *scope)
{
	const PgQuery__SelectStmt *sel = scope->select;
	long long value;
	char suggestion[600];

	if (sel == NULL || sel->limit_offset == NULL)
		return;
	if (single_row_lookup(ctx, scope))
		return;
	double threshold = rule_option(ctx, "threshold");
	int loc = walk_node_location(sel->limit_offset);
	if (walk_node_int_const(sel->limit_offset, &value)) {
		if ((double)value < threshold)
			return;
		keyset_suggestion(sel, suggestion, sizeof(suggestion));
		rule_report(ctx, loc, suggestion,
		            "OFFSET %lld reads and throws away %lld rows on every call: pages get "
		            "slower the deeper they are",
		            value, value);
		return;
	}
	if (!walk_contains_param(sel->limit_offset))
		return;
	keyset_suggestion(sel, suggestion, sizeof(suggestion));
	rule_report(ctx, loc, suggestion,
	            "OFFSET from a parameter: deep pages read and throw away every row before "
	            "them, so the cost grows with the page number");
}

const struct rule rule_deep_offset = {
    .id = "deep-offset",
    .judges_literals = true,
    .default_severity = SEVERITY_WARNING,
    .summary = "OFFSET pagination at a large or parameter offset",
    .options = deep_offset_options,
    .n_options = 1,
    .on_query = deep_offset_query,
};
