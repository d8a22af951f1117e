/*
 * heavy_join.c - rule heavy-join: joins that grow badly with the data.
 *
 * Three findings, per query level: more relations in one FROM than
 * max_relations (the planner's search space and the chance of one bad
 * estimate both grow fast; above join_collapse_limit = 8 it stops reordering);
 * an equi-join whose estimated output (rows_a * rows_b / max(n_distinct)) is
 * explode_factor times its larger input and at least explode_min_rows rows (a
 * many-to-many join on a low-cardinality column); and an equi-join whose
 * column on the looked-up side leads no valid btree or hash index. The
 * looked-up side is the one the other side drives: the driver has fewer rows
 * after its own filters (one when pinned by a unique key). It is flagged only
 * when it has min_rows rows or more and the lookups would touch at most a
 * tenth of it; otherwise hashing both sides whole is the right plan anyway.
 * Relations with no predicate connecting them are cartesian-join's business.
 *
 * In the recursive term of a WITH RECURSIVE, the CTE's own rows drive a join
 * to a table on every iteration: a join column there that leads no index
 * makes each iteration read the whole table (a hash of it, every time), so it
 * is flagged from min_rows on whatever the estimate of the driver.
 */
#include <stdio.h>
#include <string.h>

#include "analyzer/index_advice.h"
#include "analyzer/rule.h"

static const struct rule_option heavy_join_options[] = {
    {"max_relations", 6, 2, 1000, "flag a query level joining more relations than this"},
    {"min_rows", 10000, 0, 1e15, "the larger side of a join needs an index from this size on"},
    {"explode_factor", 10, 1, 1e9,
     "flag a join estimated to return this many times the rows of its larger input"},
    {"explode_min_rows", 1000000, 0, 1e15, "... and at least this many rows"},
};

/* Estimated output of rel a joined to rel b by the predicate p, -1 when unknown. */
static double hj_join_rows(const struct ia_query *q, const struct ia_pred *p)
{
	const struct catalog_table *ta = q->rels[p->rel].table;
	const struct catalog_table *tb = q->rels[p->rel2].table;
	double ra = ia_table_rows(ta);
	double rb = ia_table_rows(tb);
	double nda = ia_column_ndistinct(ta, p->column);
	double ndb = ia_column_ndistinct(tb, p->column2);

	if (ra <= 0 || rb <= 0 || nda <= 0 || ndb <= 0)
		return -1;
	return ra * rb / (nda > ndb ? nda : ndb);
}

static bool hj_is_table_join(const struct ia_query *q, const struct ia_pred *p)
{
	return p->op == IA_OP_JOIN && q->rels[p->rel].kind == IA_REL_TABLE &&
	       q->rels[p->rel2].kind == IA_REL_TABLE;
}

static bool hj_same_pair(const struct ia_pred *a, const struct ia_pred *b)
{
	return (a->rel == b->rel && a->rel2 == b->rel2) || (a->rel == b->rel2 && a->rel2 == b->rel);
}

/* Was an earlier predicate about the same pair of relations? (report each pair once) */
static bool hj_pair_seen(const struct ia_query *q, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (hj_is_table_join(q, &q->preds[j]) && hj_same_pair(&q->preds[j], &q->preds[i]))
			return true;
	return false;
}

static void hj_check_explosion(struct rule_ctx *ctx, const struct ia_query *q, size_t i)
{
	const struct ia_pred *p = &q->preds[i];
	double est = -1;

	/* Several predicates between the pair narrow the join: take the smallest estimate. */
	for (size_t j = 0; j < q->n_preds; j++) {
		const struct ia_pred *o = &q->preds[j];
		if (!hj_is_table_join(q, o) || !hj_same_pair(o, p))
			continue;
		double e = hj_join_rows(q, o);
		if (e < 0)
			return;
		if (est < 0 || e < est)
			est = e;
	}
	double ra = ia_table_rows(q->rels[p->rel].table);
	double rb = ia_table_rows(q->rels[p->rel2].table);
	double larger = ra > rb ? ra : rb;
	if (est < rule_option(ctx, "explode_min_rows") ||
	    est < rule_option(ctx, "explode_factor") * larger)
		return;
	rule_report(
	    ctx, p->location,
	    "join on a key that is unique on one side, or add the missing join condition",
	    "join of %s and %s on %s = %s is estimated at %.3g rows from inputs of %.0f and "
	    "%.0f rows: the columns repeat on both sides, so the join multiplies them",
	    q->rels[p->rel].table->name, q->rels[p->rel2].table->name, p->column, p->column2, est,
	    ra, rb);
}

/* Rows a relation contributes after its own filters: 1 when pinned to one row. */
static double hj_effective_rows(const struct ia_query *q, int rel, const bool *pinned)
{
	if (pinned[rel])
		return 1;
	double rows = ia_table_rows(q->rels[rel].table);
	return rows < 0 ? rows : rows * ia_rel_filter_selectivity(q, rel);
}

/*
 * The side of the join a nested loop would look up: the other side (the
 * driver) is the one with fewer rows after its own filters; on a tie, the
 * larger table is looked up. Returns -1 when both are pinned or a size is
 * unknown.
 */
static int hj_lookup_side(const struct ia_query *q, const struct ia_pred *p, const bool *pinned,
                          double *driver_rows)
{
	if (pinned[p->rel] && pinned[p->rel2])
		return -1;
	double ea = hj_effective_rows(q, p->rel, pinned);
	double eb = hj_effective_rows(q, p->rel2, pinned);
	if (ea < 0 || eb < 0)
		return -1;
	if (ea != eb) {
		*driver_rows = ea < eb ? ea : eb;
		return ea < eb ? p->rel2 : p->rel;
	}
	*driver_rows = ea;
	double ra = ia_table_rows(q->rels[p->rel].table);
	double rb = ia_table_rows(q->rels[p->rel2].table);
	return ra >= rb ? p->rel : p->rel2;
}

/* An invalid btree or hash index whose leading key is col, or NULL. */
static const struct catalog_index *hj_invalid_index(const struct catalog_table *t, const char *col)
{
	for (size_t i = 0; i < t->n_indexes; i++) {
		const struct catalog_index *ix = &t->indexes[i];
		if (ix->valid || ix->n_keys == 0 || !ix->keys[0].column ||
		    (ix->method != CATALOG_INDEX_BTREE && ix->method != CATALOG_INDEX_HASH))
			continue;
		if (strcmp(ix->keys[0].column, col) == 0)
			return ix;
	}
	return NULL;
}

static void hj_check_index(struct rule_ctx *ctx, const struct ia_query *q, size_t i,
                           const bool *pinned)
{
	const struct ia_pred *p = &q->preds[i];
	char sql[512];
	double driver = 0;

	int look = hj_lookup_side(q, p, pinned, &driver);
	if (look < 0)
		return;
	const struct catalog_table *t = q->rels[look].table;
	double rows = ia_table_rows(t);
	if (rows < rule_option(ctx, "min_rows") || rows <= 0)
		return;
	/* Any join column of the pair on that side that leads an index will do. */
	const char *col = NULL;
	for (size_t j = 0; j < q->n_preds; j++) {
		const struct ia_pred *o = &q->preds[j];
		if (!hj_is_table_join(q, o) || !hj_same_pair(o, p))
			continue;
		const char *lc = o->rel == look ? o->column : o->column2;
		if (ia_find_lookup_index(t, lc))
			return;
		if (!col)
			col = lc;
	}
	if (!col)
		return;
	/*
	 * An index only pays when the lookups touch a small part of the table:
	 * driver rows times the rows per key value. Otherwise hashing both sides
	 * whole is the right plan and no index would change it.
	 */
	double nd = ia_column_ndistinct(t, col);
	double per_key = nd > 0 ? rows / nd : 1;
	if (driver * per_key > rows * 0.1)
		return;
	const char *cols[1] = {col};
	if (!ia_format_create_index(t, cols, 1, NULL, sql, sizeof(sql)))
		return;
	/* An invalid index on the column (a failed CREATE INDEX CONCURRENTLY) goes first. */
	char fix[640];
	const struct catalog_index *dead = hj_invalid_index(t, col);
	if (dead)
		snprintf(fix, sizeof(fix), "DROP INDEX CONCURRENTLY %s; %s", dead->name, sql);
	else
		snprintf(fix, sizeof(fix), "%s", sql);
	rule_report(ctx, p->location, fix,
	            "join column %s.%s (%.0f rows) leads no valid index: each of the ~%.0f rows "
	            "driving the join makes PostgreSQL read the whole table instead of looking "
	            "rows up",
	            t->name, col, rows, driver < 1 ? 1 : driver);
}

/* Is rel a CTE referenced from inside its own definition (a recursive self-reference)? */
static bool hj_self_reference(const struct walk_scope *scope, const struct ia_rel *rel)
{
	const ProtobufCMessage *def;

	if (rel->kind != IA_REL_CTE || rel->query == NULL ||
	    rel->query->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
		return false;
	def = (const ProtobufCMessage *)rel->query->select_stmt;
	for (const struct walk_scope *s = scope; s != NULL; s = s->outer)
		if (s->query == def)
			return true;
	return false;
}

/* A recursive term's join from the CTE's own rows to a table column no index leads. */
static void hj_check_recursive(struct rule_ctx *ctx, const struct walk_scope *scope,
                               const struct ia_query *q, const struct ia_pred *p)
{
	char sql[512];
	int table, cte;

	if (p->op != IA_OP_JOIN || p->rel < 0 || p->rel2 < 0)
		return;
	table = q->rels[p->rel].kind == IA_REL_TABLE ? p->rel : p->rel2;
	cte = table == p->rel ? p->rel2 : p->rel;
	if (q->rels[table].kind != IA_REL_TABLE || !hj_self_reference(scope, &q->rels[cte]))
		return;
	const struct catalog_table *t = q->rels[table].table;
	const char *col = table == p->rel ? p->column : p->column2;
	double rows = ia_table_rows(t);
	if (col == NULL || rows < rule_option(ctx, "min_rows") || rows <= 0 ||
	    ia_find_lookup_index(t, col))
		return;
	const char *cols[1] = {col};
	if (!ia_format_create_index(t, cols, 1, NULL, sql, sizeof(sql)))
		return;
	rule_report(ctx, p->location, sql,
	            "the recursive term joins %s.%s (%.0f rows) to the rows of %s on every "
	            "iteration and no index leads with it: each iteration reads the whole table",
	            t->name, col, rows, q->rels[cte].name ? q->rels[cte].name : "the CTE");
}

static void heavy_join_query(struct rule_ctx *ctx, const struct walk_scope *scope)
{
	struct ia_query q;

	/* UPDATE ... FROM and DELETE ... USING join like SELECT. */
	if (!scope->select && !scope->update && !scope->del)
		return;
	ia_query_collect(&q, ctx->catalog, scope);
	if (q.truncated)
		return;
	double max_rel = rule_option(ctx, "max_relations");
	if ((double)q.n_rels > max_rel) {
		rule_report(
		    ctx, q.rels[0].location,
		    "split the query, pre-aggregate in a CTE, or denormalise the lookups",
		    "%zu relations joined in one query level (threshold %.0f): planning cost and "
		    "the risk of a bad join order grow with every relation",
		    q.n_rels, max_rel);
	}
	if (!ctx->catalog)
		return;
	bool pinned[IA_MAX_RELS];
	ia_pinned_rels(&q, pinned);
	for (size_t i = 0; i < q.n_preds; i++) {
		hj_check_recursive(ctx, scope, &q, &q.preds[i]);
		if (!hj_is_table_join(&q, &q.preds[i]) || hj_pair_seen(&q, i))
			continue;
		hj_check_explosion(ctx, &q, i);
		hj_check_index(ctx, &q, i, pinned);
	}
}

const struct rule rule_heavy_join = {
    .id = "heavy-join",
    .default_severity = SEVERITY_WARNING,
    .summary = "too many joined relations, exploding join estimates, unindexed join columns",
    .options = heavy_join_options,
    .n_options = sizeof(heavy_join_options) / sizeof(heavy_join_options[0]),
    .on_query = heavy_join_query,
};
