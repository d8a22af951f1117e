/* test_index_advice.c - selectivity, index matching and index suggestions of the schema rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer/catalog.h"
#include "analyzer/engine.h"
#include "analyzer/index_advice.h"
#include "analyzer/parse.h"

/*
 * One large table t (100,000 rows), one small table s (100 rows), and r
 * (100,000 rows) whose column n has a histogram 0, 100, ..., 1000 and 10%
 * NULLs, with a primary key and an index on m only; u, whose size the
 * snapshot cannot tell (never analyzed, no page count).
 * t:
 *   id   primary key
 *   a    1,000 distinct values            btree (a, b)
 *   b    10 values, 'rare' 0.5%           -
 *   c    near unique                      -
 *   d    90% NULL                         -
 *   e    text                             btree (lower(e))
 *   f    text                             hash (f)
 *   g    text                             gin (g gin_trgm_ops)
 *   h    timestamp                        btree (h) WHERE NOT flag
 *   k    int                              btree (k), invalid
 *   flag boolean, false for 98%
 */
/* clang-format off */
static const char catalog_json[] =
	"{\"pgscope_schema\": 1, \"tables\": [\n"
	" {\"schema\": \"public\", \"name\": \"t\", \"kind\": \"r\", \"reltuples\": 100000, \"relpages\": 1000, \"columns\": [\n"
	"  {\"name\": \"id\", \"type\": \"bigint\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": -1, \"mcv\": []}},\n"
	"  {\"name\": \"a\", \"type\": \"integer\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": 1000, \"mcv\": []}},\n"
	"  {\"name\": \"b\", \"type\": \"text\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": 10, \"mcv\": [{\"value\": \"common\", \"freq\": 0.6}, {\"value\": \"rare\", \"freq\": 0.005}]}},\n"
	"  {\"name\": \"c\", \"type\": \"text\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": -0.99, \"mcv\": []}},\n"
	"  {\"name\": \"d\", \"type\": \"integer\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0.9, \"n_distinct\": 500, \"mcv\": []}},\n"
	"  {\"name\": \"e\", \"type\": \"text\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": -1, \"mcv\": []}},\n"
	"  {\"name\": \"f\", \"type\": \"text\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": -1, \"mcv\": []}},\n"
	"  {\"name\": \"g\", \"type\": \"text\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": -1, \"mcv\": []}},\n"
	"  {\"name\": \"h\", \"type\": \"timestamp with time zone\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": -1, \"mcv\": []}},\n"
	"  {\"name\": \"k\", \"type\": \"integer\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": -0.5, \"mcv\": []}},\n"
	"  {\"name\": \"flag\", \"type\": \"boolean\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": 2, \"mcv\": [{\"value\": \"t\", \"freq\": 0.98}, {\"value\": \"f\", \"freq\": 0.02}]}}\n"
	" ], \"indexes\": [\n"
	"  {\"name\": \"t_pkey\", \"method\": \"btree\", \"unique\": true, \"primary\": true, \"valid\": true, \"predicate\": null, \"definition\": \"\", \"keys\": [{\"column\": \"id\", \"expression\": null, \"opclass\": \"int4_ops\", \"desc\": false}], \"include\": []},\n"
	"  {\"name\": \"t_a_b\", \"method\": \"btree\", \"unique\": false, \"primary\": false, \"valid\": true, \"predicate\": null, \"definition\": \"\", \"keys\": [{\"column\": \"a\", \"expression\": null, \"opclass\": \"int4_ops\", \"desc\": false}, {\"column\": \"b\", \"expression\": null, \"opclass\": \"int4_ops\", \"desc\": false}], \"include\": []},\n"
	"  {\"name\": \"t_lower_e\", \"method\": \"btree\", \"unique\": false, \"primary\": false, \"valid\": true, \"predicate\": null, \"definition\": \"\", \"keys\": [{\"column\": null, \"expression\": \"lower(e)\", \"opclass\": \"text_ops\", \"desc\": false}], \"include\": []},\n"
	"  {\"name\": \"t_f_hash\", \"method\": \"hash\", \"unique\": false, \"primary\": false, \"valid\": true, \"predicate\": null, \"definition\": \"\", \"keys\": [{\"column\": \"f\", \"expression\": null, \"opclass\": \"int4_ops\", \"desc\": false}], \"include\": []},\n"
	"  {\"name\": \"t_g_trgm\", \"method\": \"gin\", \"unique\": false, \"primary\": false, \"valid\": true, \"predicate\": null, \"definition\": \"\", \"keys\": [{\"column\": \"g\", \"expression\": null, \"opclass\": \"gin_trgm_ops\", \"desc\": false}], \"include\": []},\n"
	"  {\"name\": \"t_h_flag\", \"method\": \"btree\", \"unique\": false, \"primary\": false, \"valid\": true, \"predicate\": \"(NOT flag)\", \"definition\": \"\", \"keys\": [{\"column\": \"h\", \"expression\": null, \"opclass\": \"int4_ops\", \"desc\": false}], \"include\": []},\n"
	"  {\"name\": \"t_k\", \"method\": \"btree\", \"unique\": false, \"primary\": false, \"valid\": false, \"predicate\": null, \"definition\": \"\", \"keys\": [{\"column\": \"k\", \"expression\": null, \"opclass\": \"int4_ops\", \"desc\": false}], \"include\": []}\n"
	" ], \"foreign_keys\": []},\n"
	" {\"schema\": \"public\", \"name\": \"s\", \"kind\": \"r\", \"reltuples\": 100, \"relpages\": 1, \"columns\": [\n"
	"  {\"name\": \"id\", \"type\": \"integer\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": -1, \"mcv\": []}},\n"
	"  {\"name\": \"t_id\", \"type\": \"bigint\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": -1, \"mcv\": []}},\n"
	"  {\"name\": \"x\", \"type\": \"integer\", \"not_null\": false, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": 5, \"mcv\": []}}\n"
	" ], \"indexes\": [\n"
	"  {\"name\": \"s_pkey\", \"method\": \"btree\", \"unique\": true, \"primary\": true, \"valid\": true, \"predicate\": null, \"definition\": \"\", \"keys\": [{\"column\": \"id\", \"expression\": null, \"opclass\": \"int4_ops\", \"desc\": false}], \"include\": []}\n"
	" ], \"foreign_keys\": []},\n"
	" {\"schema\": \"public\", \"name\": \"r\", \"kind\": \"r\", \"reltuples\": 100000, \"relpages\": 1000, \"columns\": [\n"
	"  {\"name\": \"id\", \"type\": \"bigint\", \"not_null\": true, \"attnum\": 1, \"stats\": {\"null_frac\": 0, \"n_distinct\": -1, \"mcv\": []}},\n"
	"  {\"name\": \"m\", \"type\": \"integer\", \"not_null\": true, \"attnum\": 2, \"stats\": {\"null_frac\": 0, \"n_distinct\": 1000, \"mcv\": []}},\n"
	"  {\"name\": \"n\", \"type\": \"integer\", \"not_null\": false, \"attnum\": 3, \"stats\": {\"null_frac\": 0.1, \"n_distinct\": 1000, \"mcv\": [],\n"
	"   \"histogram\": [\"0\", \"100\", \"200\", \"300\", \"400\", \"500\", \"600\", \"700\", \"800\", \"900\", \"1000\"]}}\n"
	" ], \"indexes\": [\n"
	"  {\"name\": \"r_pkey\", \"method\": \"btree\", \"unique\": true, \"primary\": true, \"valid\": true, \"predicate\": null, \"definition\": \"\", \"keys\": [{\"column\": \"id\", \"expression\": null, \"opclass\": \"int8_ops\", \"desc\": false}], \"include\": []},\n"
	"  {\"name\": \"r_m\", \"method\": \"btree\", \"unique\": false, \"primary\": false, \"valid\": true, \"predicate\": null, \"definition\": \"\", \"keys\": [{\"column\": \"m\", \"expression\": null, \"opclass\": \"int4_ops\", \"desc\": false}], \"include\": []}\n"
	" ], \"foreign_keys\": []},\n"
	" {\"schema\": \"public\", \"name\": \"u\", \"kind\": \"r\", \"reltuples\": -1, \"relpages\": 0, \"columns\": [\n"
	"  {\"name\": \"c\", \"type\": \"text\", \"not_null\": false, \"attnum\": 1, \"stats\": null}\n"
	" ], \"indexes\": [], \"foreign_keys\": []}\n"
	"]}\n";
/* clang-format on */

static struct catalog *cat;

static int setup(void **state)
{
	char err[256];
	cat = catalog_load_json(catalog_json, strlen(catalog_json), err, sizeof(err));
	if (!cat)
		fprintf(stderr, "catalog: %s\n", err);
	return cat ? 0 : -1;
}

static int teardown(void **state)
{
	catalog_free(cat);
	parse_thread_cleanup();
	return 0;
}

/* Parse a single SELECT and collect its level; the tree stays alive in *tree. */
static void collect(const char *sql, struct parse_tree *tree, struct ia_query *q)
{
	assert_int_equal(parse_sql(sql, strlen(sql), 0, tree, NULL), PARSE_OK);
	assert_int_equal(tree->n_stmts, 1);
	const PgQuery__Node *n = tree->stmts[0].node;
	assert_int_equal(n->node_case, PG_QUERY__NODE__NODE_SELECT_STMT);
	ia_query_collect_select(q, cat, NULL, n->select_stmt);
	assert_false(q->truncated);
}

static double filter_sel(const char *sql)
{
	struct parse_tree tree;
	struct ia_query q;
	collect(sql, &tree, &q);
	double s = ia_rel_filter_selectivity(&q, 0);
	parse_tree_release(&tree);
	return s;
}

static double index_sel(const char *sql, const char **name)
{
	struct parse_tree tree;
	struct ia_query q;
	const struct catalog_index *ix = NULL;
	collect(sql, &tree, &q);
	double s = ia_best_index_selectivity(&q, 0, &ix);
	*name = ix ? ix->name : NULL;
	parse_tree_release(&tree);
	return s;
}

static void test_selectivity(void **state)
{
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE b = 'rare'"), 0.005, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE b = 'common'"), 0.6, 1e-9);
	/* a value outside the MCV list shares what the list leaves: (1 - 0.605) / 8 */
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE b = 'other'"), 0.005, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE b = $1"), 0.1, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE a IN (1, 2, 3)"), 0.003, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE d IS NULL"), 0.9, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE d IS NOT NULL"), 0.1, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE a > $1"), 1.0 / 3, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE a > $1 AND a < $2"), 0.005, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE a BETWEEN 1 AND 5"), 0.005, 1e-9);
	/* independent columns multiply */
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE a = $1 AND b = 'rare'"), 0.000005,
	                   1e-12);
	/* a primary key: one row */
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE id = $1"), 1e-5, 1e-12);
	/* not index filters */
	assert_float_equal(filter_sel("SELECT 1 FROM t WHERE a <> 1 OR b = 'x'"), 1.0, 1e-9);
}

static void test_histogram_ranges(void **state)
{
	const char *ix;

	/* one bound against the histogram: the last 1% of the non-NULL 90% */
	assert_float_equal(filter_sel("SELECT 1 FROM r WHERE n > 990"), 0.009, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM r WHERE 990 < n"), 0.009, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM r WHERE n < 500"), 0.45, 1e-9);
	/* two bounds on one column: lo + hi - 1, NULLs added back */
	assert_float_equal(filter_sel("SELECT 1 FROM r WHERE n > 100 AND n < 200"), 0.09, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM r WHERE n BETWEEN 100 AND 900"), 0.72, 1e-9);
	/* the tighter of two bounds on one side */
	assert_float_equal(filter_sel("SELECT 1 FROM r WHERE n > 500 AND n > 990"), 0.009, 1e-9);
	/* a parameter on either side: the planner's defaults */
	assert_float_equal(filter_sel("SELECT 1 FROM r WHERE n > $1"), 1.0 / 3, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM r WHERE n > 100 AND n < $1"), 0.005, 1e-9);
	/* ranges on an indexed column use the same estimate */
	assert_float_equal(index_sel("SELECT 1 FROM t WHERE a > $1", &ix), 1.0 / 3, 1e-9);
}

static void test_or_branches(void **state)
{
	const char *ix;

	/* a OR b keeps a + b - ab */
	assert_float_equal(filter_sel("SELECT 1 FROM r WHERE n > 990 OR n < 100"),
	                   0.009 + 0.09 - 0.009 * 0.09, 1e-9);
	assert_float_equal(filter_sel("SELECT 1 FROM r WHERE m = $1 OR n > 990"),
	                   0.001 + 0.009 - 0.001 * 0.009, 1e-9);
	/* with an AND inside a branch */
	assert_float_equal(filter_sel("SELECT 1 FROM r WHERE m = $1 OR (n > 100 AND n < 200)"),
	                   0.001 + 0.09 - 0.001 * 0.09, 1e-9);
	/* served only when every branch is: a BitmapOr sums them */
	assert_float_equal(index_sel("SELECT 1 FROM r WHERE m = $1 OR n > 990", &ix), 1.0, 1e-9);
	assert_float_equal(index_sel("SELECT 1 FROM r WHERE m = $1 OR id = $2", &ix), 0.00101,
	                   1e-9);
	assert_null(ix);
	/* an OR across two tables constrains neither */
	assert_float_equal(filter_sel("SELECT 1 FROM r JOIN s ON s.id = r.m WHERE r.n > 990 OR "
	                              "s.x = 1"),
	                   1.0, 1e-9);
}

static void test_best_index(void **state)
{
	const char *ix;

	/* leading column of (a, b) */
	assert_float_equal(index_sel("SELECT 1 FROM t WHERE a = $1", &ix), 0.001, 1e-9);
	assert_string_equal(ix, "t_a_b");
	/* both columns of (a, b) */
	assert_float_equal(index_sel("SELECT 1 FROM t WHERE b = 'rare' AND a = 7", &ix), 0.000005,
	                   1e-12);
	/* second column only: unusable */
	assert_float_equal(index_sel("SELECT 1 FROM t WHERE b = 'rare'", &ix), 1.0, 1e-9);
	assert_null(ix);
	/* hash: equality yes, range no */
	assert_true(index_sel("SELECT 1 FROM t WHERE f = $1", &ix) < 0.001);
	assert_string_equal(ix, "t_f_hash");
	assert_float_equal(index_sel("SELECT 1 FROM t WHERE f > $1", &ix), 1.0, 1e-9);
	/* trigram GIN serves equality */
	assert_true(index_sel("SELECT 1 FROM t WHERE g = $1", &ix) < 0.001);
	assert_string_equal(ix, "t_g_trgm");
	/* partial index (h) WHERE NOT flag: only when the query implies NOT flag */
	assert_float_equal(index_sel("SELECT 1 FROM t WHERE h > $1 AND h < $2", &ix), 1.0, 1e-9);
	assert_true(index_sel("SELECT 1 FROM t WHERE h > $1 AND h < $2 AND NOT flag", &ix) < 0.01);
	assert_string_equal(ix, "t_h_flag");
	assert_true(index_sel("SELECT 1 FROM t WHERE flag = false", &ix) <= 0.02);
	assert_string_equal(ix, "t_h_flag");
	/* invalid index */
	assert_float_equal(index_sel("SELECT 1 FROM t WHERE k = $1", &ix), 1.0, 1e-9);
	/* expression index */
	assert_true(index_sel("SELECT 1 FROM t WHERE lower(e) = $1", &ix) < 0.01);
	assert_string_equal(ix, "t_lower_e");
	assert_float_equal(index_sel("SELECT 1 FROM t WHERE upper(e) = $1", &ix), 1.0, 1e-9);
}

static void test_canon(void **state)
{
	char a[IA_CANON_MAX];
	char b[IA_CANON_MAX];
	struct parse_tree tree;
	struct ia_query q;

	assert_true(ia_canon_index_expr("lower(e)", a, sizeof(a)));
	collect("SELECT 1 FROM t x WHERE LOWER(x.e) = $1", &tree, &q);
	assert_non_null(q.preds[0].expr);
	assert_true(ia_canon_expr(q.preds[0].expr, b, sizeof(b)));
	assert_string_equal(a, b);
	parse_tree_release(&tree);
	/* pg_catalog qualification and constant casts are not differences */
	assert_true(ia_canon_index_expr("pg_catalog.date_trunc('day'::text, h)", a, sizeof(a)));
	assert_true(ia_canon_index_expr("date_trunc('day', h)", b, sizeof(b)));
	assert_string_equal(a, b);
	/* `x = false` and `NOT x` are the same predicate */
	assert_true(ia_canon_index_expr("flag = false", a, sizeof(a)));
	assert_true(ia_canon_index_expr("NOT flag", b, sizeof(b)));
	assert_string_equal(a, b);
	/* too long: refused, not truncated */
	assert_false(ia_canon_index_expr("lower(e)", a, 4));
}

static void test_resolve_and_pinned(void **state)
{
	struct parse_tree tree;
	struct ia_query q;
	bool pinned[IA_MAX_RELS];

	collect("SELECT 1 FROM t JOIN s ON s.t_id = t.id WHERE s.id = $1", &tree, &q);
	assert_int_equal(q.n_rels, 2);
	ia_pinned_rels(&q, pinned);
	assert_true(pinned[1]); /* s by its primary key */
	assert_true(pinned[0]); /* t through s.t_id = t.id, its primary key */
	parse_tree_release(&tree);

	collect("SELECT 1 FROM t JOIN s ON s.t_id = t.id WHERE t.a = $1", &tree, &q);
	ia_pinned_rels(&q, pinned);
	assert_false(pinned[0]);
	assert_false(pinned[1]);
	parse_tree_release(&tree);

	/* unqualified columns resolve to the table that has them; ambiguous ones do not */
	collect("SELECT 1 FROM t, s WHERE a = 1 AND x = 2 AND id = 3", &tree, &q);
	assert_int_equal(q.preds[0].rel, 0);
	assert_int_equal(q.preds[1].rel, 1);
	assert_int_equal(q.preds[2].rel, -1);
	parse_tree_release(&tree);
}

static void test_format_create_index(void **state)
{
	char out[256];
	const char *cols[2] = {"b", "Mixed Case"};
	const struct catalog_table *t = catalog_find_table(cat, NULL, "t");

	assert_true(ia_format_create_index(t, cols, 1, NULL, out, sizeof(out)));
	assert_string_equal(out, "CREATE INDEX CONCURRENTLY ON t (b);");
	assert_true(ia_format_create_index(t, cols, 2, "hash", out, sizeof(out)));
	assert_string_equal(out, "CREATE INDEX CONCURRENTLY ON t USING hash (b, \"Mixed Case\");");
	assert_false(ia_format_create_index(t, cols, 2, NULL, out, 20));
}

/* Findings of rule `id` for sql through the whole engine; suggestion of the first in *sugg. */
static size_t run_rule(const char *sql, const char *id, char *sugg, size_t len)
{
	struct analysis *a = analyze_sql(sql, strlen(sql), cat, NULL, NULL);
	size_t n = 0;
	assert_non_null(a);
	if (sugg)
		sugg[0] = '\0';
	for (size_t i = 0; i < a->n_findings; i++) {
		if (strcmp(a->findings[i].rule_id, id) != 0)
			continue;
		if (n == 0 && sugg && a->findings[i].suggestion)
			snprintf(sugg, len, "%s", a->findings[i].suggestion);
		n++;
	}
	analysis_free(a);
	return n;
}

/* Message of the first finding of rule id, or "" when there is none. */
static void rule_message(const char *sql, const char *id, char *out, size_t len)
{
	struct analysis *a = analyze_sql(sql, strlen(sql), cat, NULL, NULL);
	assert_non_null(a);
	out[0] = '\0';
	for (size_t i = 0; i < a->n_findings && out[0] == '\0'; i++) {
		if (strcmp(a->findings[i].rule_id, id) == 0)
			snprintf(out, len, "%s", a->findings[i].message);
	}
	analysis_free(a);
}

/* A table of unknown size is said to be one, never "-1 rows". */
static void test_unknown_size(void **state)
{
	char m[512];

	rule_message("SELECT c FROM u WHERE c LIKE '%x' LIMIT 1", "leading-wildcard-like", m,
	             sizeof(m));
	assert_non_null(strstr(m, "all rows of u (size unknown)"));
	assert_null(strstr(m, "-1"));
	rule_message("SELECT c FROM u", "missing-pagination", m, sizeof(m));
	assert_non_null(strstr(m, "size unknown"));
	assert_null(strstr(m, "-1"));
}

/* The advisor's classic mistakes: suggesting what exists, a prefix of it, or the primary key. */
static void test_suggestions(void **state)
{
	char s[512];

	/* second column of (a, b): suggest (b), which is not a prefix of (a, b) */
	assert_int_equal(run_rule("SELECT id FROM t WHERE b = 'rare' ORDER BY id LIMIT 5",
	                          "unindexed-filter", s, sizeof(s)),
	                 1);
	assert_string_equal(s, "CREATE INDEX CONCURRENTLY ON t (b);");
	/* equality columns first (most selective first), then the range column */
	assert_int_equal(run_rule("SELECT id FROM t WHERE c > $1 AND c < $2 AND d = 3 AND b = "
	                          "'rare' ORDER BY id LIMIT 5",
	                          "unindexed-filter", s, sizeof(s)),
	                 1);
	assert_string_equal(s, "CREATE INDEX CONCURRENTLY ON t (d, b, c);");
	/* never the primary key, never an existing index or its prefix */
	assert_int_equal(run_rule("SELECT a FROM t WHERE id = $1", "unindexed-filter", NULL, 0), 0);
	assert_int_equal(run_rule("SELECT id FROM t WHERE a = $1 ORDER BY id LIMIT 5",
	                          "unindexed-filter", NULL, 0),
	                 0);
	assert_int_equal(run_rule("SELECT id FROM t WHERE a = $1 AND b = $2 ORDER BY id LIMIT 5",
	                          "unindexed-filter", NULL, 0),
	                 0);
	/* an invalid index: rebuild it rather than add a twin */
	assert_int_equal(run_rule("SELECT id FROM t WHERE k = $1 ORDER BY id LIMIT 5",
	                          "unindexed-filter", s, sizeof(s)),
	                 1);
	/* filters keeping most rows, and small tables, are not worth an index */
	assert_int_equal(run_rule("SELECT id FROM t WHERE b = 'common' ORDER BY id LIMIT 5",
	                          "unindexed-filter", NULL, 0),
	                 0);
	assert_int_equal(run_rule("SELECT id FROM t WHERE d IS NULL ORDER BY id LIMIT 5",
	                          "unindexed-filter", NULL, 0),
	                 0);
	assert_int_equal(run_rule("SELECT id FROM s WHERE x = 1", "unindexed-filter", NULL, 0), 0);
	/* the threshold is an option */
	struct rule_config *rc = rule_config_new();
	char err[128];
	assert_int_equal(
	    rule_config_set(rc, "unindexed-filter.min_rows", "1000000", err, sizeof(err)), 0);
	const char *q = "SELECT id FROM t WHERE b = 'rare' ORDER BY id LIMIT 5";
	struct analysis *a = analyze_sql(q, strlen(q), cat, rc, NULL);
	for (size_t i = 0; i < a->n_findings; i++)
		assert_string_not_equal(a->findings[i].rule_id, "unindexed-filter");
	analysis_free(a);
	rule_config_free(rc);
}

static void test_other_rules(void **state)
{
	char s[512];

	assert_int_equal(run_rule("SELECT id FROM t WHERE upper(e) = $1 ORDER BY id LIMIT 1",
	                          "function-on-indexed-column", NULL, 0),
	                 0);
	assert_int_equal(run_rule("SELECT id FROM t WHERE a + 1 = $1 ORDER BY id LIMIT 1",
	                          "function-on-indexed-column", NULL, 0),
	                 1);
	assert_int_equal(run_rule("SELECT id FROM t WHERE lower(e) = $1 ORDER BY id LIMIT 1",
	                          "function-on-indexed-column", NULL, 0),
	                 0);
	assert_int_equal(run_rule("SELECT id FROM t WHERE c LIKE '%x' ORDER BY id LIMIT 1",
	                          "leading-wildcard-like", s, sizeof(s)),
	                 1);
	assert_non_null(strstr(s, "gin_trgm_ops"));
	assert_int_equal(run_rule("SELECT id FROM t WHERE g LIKE '%x' ORDER BY id LIMIT 1",
	                          "leading-wildcard-like", NULL, 0),
	                 0);
	assert_int_equal(run_rule("SELECT id FROM t WHERE c LIKE 'x%' ORDER BY id LIMIT 1",
	                          "leading-wildcard-like", NULL, 0),
	                 0);
	/* What the filter keeps counts: a = $1 keeps 100 of 100,000 rows, b = $1 10,000. */
	assert_int_equal(run_rule("SELECT id FROM t WHERE a = $1", "missing-pagination", NULL, 0),
	                 0);
	assert_int_equal(run_rule("SELECT id FROM t WHERE b = $1", "missing-pagination", NULL, 0),
	                 1);
	assert_int_equal(run_rule("SELECT a FROM t WHERE id = $1", "missing-pagination", NULL, 0),
	                 0);
	assert_int_equal(
	    run_rule("SELECT b, count(*) FROM t GROUP BY b", "missing-pagination", NULL, 0), 0);
	assert_int_equal(
	    run_rule("SELECT id FROM t ORDER BY a LIMIT 5", "nondeterministic-pagination", NULL, 0),
	    1);
	assert_int_equal(run_rule("SELECT id FROM t ORDER BY a, id LIMIT 5",
	                          "nondeterministic-pagination", NULL, 0),
	                 0);
	assert_int_equal(run_rule("SELECT t.id FROM t JOIN s ON s.x = t.d WHERE s.id = 1",
	                          "heavy-join", s, sizeof(s)),
	                 1);
	assert_string_equal(s, "CREATE INDEX CONCURRENTLY ON t (d);");
	/* without a schema, the schema rules stay silent */
	const char *q = "SELECT id FROM t WHERE b = 'rare'";
	struct analysis *a = analyze_sql(q, strlen(q), NULL, NULL, NULL);
	assert_non_null(a);
	assert_int_equal(a->n_findings, 0);
	analysis_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_selectivity),
	    cmocka_unit_test(test_histogram_ranges),
	    cmocka_unit_test(test_or_branches),
	    cmocka_unit_test(test_best_index),
	    cmocka_unit_test(test_canon),
	    cmocka_unit_test(test_resolve_and_pinned),
	    cmocka_unit_test(test_format_create_index),
	    cmocka_unit_test(test_suggestions),
	    cmocka_unit_test(test_other_rules),
	    cmocka_unit_test(test_unknown_size),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
