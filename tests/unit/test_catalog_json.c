/*
 * test_catalog_json.c - the JSON reader, the schema snapshot's JSON round trip and its lookup
 * helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/catalog.h"
#include "analyzer/json.h"

static void expect_json_error(const char *text, const char *want)
{
	char err[256];
	struct json_value *v = json_parse(text, strlen(text), err, sizeof(err));
	if (v != NULL)
		fail_msg("accepted: %s", text);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' lacks '%s' for %s", err, want, text);
}

static void test_json_reader_accepts(void **state)
{
	const char *text =
	    "{\"a\": [1, -2.5e3, true, false, null],\n \"s\": \"x\\\"\\u00e9\\ud83d\\ude00\","
	    " \"o\": {}}";
	char err[256];
	struct json_value *v = json_parse(text, strlen(text), err, sizeof(err));

	assert_non_null(v);
	const struct json_value *a = json_get(v, "a");
	assert_int_equal(a->type, JSON_ARRAY);
	assert_int_equal(a->n, 5);
	assert_true(a->items[1].number == -2500.0);
	assert_true(a->items[2].boolean);
	assert_int_equal(a->items[4].type, JSON_NULL);
	assert_string_equal(json_get_string(v, "s"), "x\"\xc3\xa9\xf0\x9f\x98\x80");
	assert_int_equal(json_get(v, "o")->type, JSON_OBJECT);
	assert_null(json_get(v, "missing"));
	assert_true(json_get_number(v, "s", 7) == 7);
	json_free(v);
}

static void test_json_reader_rejects_with_position(void **state)
{
	expect_json_error("{\"a\" 1}", "line 1, column 6");
	expect_json_error("{\"a\": 1,\n \"b\" 2}", "line 2, column 6");
	expect_json_error("[1, 2,]", "unexpected character");
	expect_json_error("[01]", "leading zero");
	expect_json_error("\"abc", "unterminated string");
	expect_json_error("\"a\\qb\"", "bad escape");
	expect_json_error("\"\\ud800\"", "surrogate");
	expect_json_error("\"\\u0000\"", "not allowed");
	expect_json_error("[1] x", "trailing");
	expect_json_error("", "end of input");
	expect_json_error("\"a\tb\"", "control character");
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	char err[256];
	assert_null(json_parse(deep, sizeof(deep), err, sizeof(err)));
	assert_non_null(strstr(err, "nesting deeper"));
	const char nul[] = "[1,\0 2]";
	assert_null(json_parse(nul, sizeof(nul) - 1, err, sizeof(err)));
	assert_non_null(strstr(err, "NUL"));
}

static const char schema_json[] =
    "{\"pgscope_schema\":1,\"tables\":["
    "{\"schema\":\"public\",\"name\":\"orders\",\"kind\":\"r\",\"reltuples\":2000000,"
    "\"relpages\":30000,"
    " \"columns\":["
    "  {\"name\":\"id\",\"type\":\"bigint\",\"not_null\":true,\"attnum\":1,\"stats\":null},"
    "  {\"name\":\"customer_id\",\"type\":\"bigint\",\"not_null\":true,\"attnum\":2,"
    "   "
    "\"stats\":{\"null_frac\":0,\"n_distinct\":50000,\"mcv\":[{\"value\":\"7\",\"freq\":0.01}],"
    "   \"histogram\":[\"1\",\"25000\",\"50000\"]}},"
    "  {\"name\":\"status\",\"type\":\"text\",\"not_null\":false,\"attnum\":3,"
    "   \"stats\":{\"null_frac\":0.1,\"n_distinct\":3,\"mcv\":[{\"value\":\"done\",\"freq\":0.8},"
    "    {\"value\":\"open\",\"freq\":0.15}]}},"
    "  {\"name\":\"created_at\",\"type\":\"timestamp with time "
    "zone\",\"not_null\":false,\"attnum\":4,"
    "   \"stats\":null}],"
    " \"indexes\":["
    "  "
    "{\"name\":\"orders_pkey\",\"method\":\"btree\",\"unique\":true,\"primary\":true,\"valid\":"
    "true,"
    "   \"predicate\":null,\"definition\":\"CREATE UNIQUE INDEX orders_pkey ON public.orders USING "
    "btree (id)\","
    "   \"keys\":[{\"column\":\"id\",\"expression\":null,\"opclass\":\"int8_ops\",\"desc\":false}],"
    "   \"include\":[]},"
    "  {\"name\":\"orders_cust_created\",\"method\":\"btree\",\"unique\":false,\"primary\":false,"
    "   \"valid\":true,\"predicate\":null,\"definition\":null,"
    "   "
    "\"keys\":[{\"column\":\"customer_id\",\"expression\":null,\"opclass\":\"int8_ops\",\"desc\":"
    "false},"
    "    "
    "{\"column\":\"created_at\",\"expression\":null,\"opclass\":\"timestamptz_ops\",\"desc\":true}]"
    ","
    "   \"include\":[\"status\"]},"
    "  "
    "{\"name\":\"orders_open\",\"method\":\"btree\",\"unique\":false,\"primary\":false,\"valid\":"
    "true,"
    "   \"predicate\":\"(status = 'open'::text)\",\"definition\":null,"
    "   "
    "\"keys\":[{\"column\":\"status\",\"expression\":null,\"opclass\":\"text_ops\",\"desc\":false}]"
    "},"
    "  {\"name\":\"orders_lower_status\",\"method\":\"btree\",\"unique\":false,\"primary\":false,"
    "   \"valid\":true,\"predicate\":null,\"definition\":null,"
    "   "
    "\"keys\":[{\"column\":null,\"expression\":\"lower(status)\",\"opclass\":\"text_ops\",\"desc\":"
    "false}]},"
    "  "
    "{\"name\":\"orders_building\",\"method\":\"btree\",\"unique\":true,\"primary\":false,"
    "\"valid\":false,"
    "   \"predicate\":null,\"definition\":null,"
    "   "
    "\"keys\":[{\"column\":\"created_at\",\"expression\":null,\"opclass\":\"timestamptz_ops\","
    "\"desc\":false}]}"
    " ],"
    " \"foreign_keys\":[{\"name\":\"orders_customer_fk\",\"columns\":[\"customer_id\"],"
    "   \"ref_schema\":\"public\",\"ref_table\":\"customers\",\"ref_columns\":[\"id\"]}]},"
    "{\"schema\":\"public\",\"name\":\"customers\",\"kind\":\"r\",\"reltuples\":-1,\"relpages\":0,"
    " \"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"not_null\":true,\"attnum\":1}],"
    " \"indexes\":[{\"name\":\"customers_email\",\"method\":\"hash\",\"unique\":false,\"primary\":"
    "false,"
    "   "
    "\"valid\":true,\"predicate\":null,\"keys\":[{\"column\":\"id\",\"opclass\":\"int8_ops\"}]}],"
    " \"foreign_keys\":[]},"
    "{\"schema\":\"audit\",\"name\":\"events\",\"kind\":\"r\",\"reltuples\":10,\"relpages\":1,"
    " \"columns\":[],\"indexes\":[],\"foreign_keys\":[]},"
    "{\"schema\":\"audit\",\"name\":\"orders\",\"kind\":\"r\",\"reltuples\":5,\"relpages\":1,"
    " \"columns\":[],\"indexes\":[],\"foreign_keys\":[]},"
    "{\"schema\":\"a\",\"name\":\"dup\",\"kind\":\"r\",\"reltuples\":5,\"relpages\":1,"
    " \"columns\":[],\"indexes\":[],\"foreign_keys\":[]},"
    "{\"schema\":\"b\",\"name\":\"dup\",\"kind\":\"r\",\"reltuples\":5,\"relpages\":1,"
    " \"columns\":[],\"indexes\":[],\"foreign_keys\":[]},"
    /* never analyzed, 368 pages now; rows of 8 + 4 + 32 + 4 + 32 bytes */
    "{\"schema\":\"public\",\"name\":\"staging\",\"kind\":\"r\",\"reltuples\":-1,\"relpages\":0,"
    " \"cur_pages\":368,\"columns\":["
    "  {\"name\":\"id\",\"type\":\"bigint\",\"attnum\":1,\"width\":8},"
    "  {\"name\":\"batch\",\"type\":\"integer\",\"attnum\":2,\"width\":4},"
    "  {\"name\":\"sku\",\"type\":\"text\",\"attnum\":3,\"width\":32},"
    "  {\"name\":\"qty\",\"type\":\"integer\",\"attnum\":4,\"width\":4},"
    "  {\"name\":\"note\",\"type\":\"text\",\"attnum\":5}],"
    " \"indexes\":[],\"foreign_keys\":[]},"
    "{\"schema\":\"public\",\"name\":\"fresh\",\"kind\":\"r\",\"reltuples\":-1,\"relpages\":0,"
    " \"cur_pages\":0,\"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"attnum\":1,\"width\":8}],"
    " \"indexes\":[],\"foreign_keys\":[]}"
    "]}";

static struct catalog *load(void)
{
	char err[256];
	struct catalog *cat = catalog_load_json(schema_json, strlen(schema_json), err, sizeof(err));
	if (cat == NULL)
		fail_msg("%s", err);
	return cat;
}

static void test_find_table(void **state)
{
	struct catalog *cat = load();

	const struct catalog_table *t = catalog_find_table(cat, NULL, "orders");
	assert_non_null(t);
	assert_string_equal(t->schema, "public");
	assert_true(catalog_table_rows(t) == 2000000);
	assert_string_equal(catalog_find_table(cat, "audit", "orders")->schema, "audit");
	/* Unqualified and not in public: found when unique across schemas. */
	assert_string_equal(catalog_find_table(cat, NULL, "events")->schema, "audit");
	/* Ambiguous outside public: not guessed. */
	assert_null(catalog_find_table(cat, NULL, "dup"));
	assert_non_null(catalog_find_table(cat, "b", "dup"));
	assert_null(catalog_find_table(cat, NULL, "nope"));
	assert_null(catalog_find_table(cat, "public", "events"));
	/* Never analysed: unknown size. */
	assert_true(catalog_table_rows(catalog_find_table(cat, NULL, "customers")) < 0);
	catalog_free(cat);
}

static void test_index_helpers(void **state)
{
	struct catalog *cat = load();
	const struct catalog_table *t = catalog_find_table(cat, NULL, "orders");
	const char *cust[] = {"customer_id"};
	const char *cust_created[] = {"created_at", "customer_id"};
	const char *created[] = {"created_at"};
	const char *status[] = {"status"};
	const char *id_status[] = {"status", "id"};

	assert_string_equal(catalog_find_column(t, "status")->type, "text");
	assert_null(catalog_find_column(t, "nope"));
	/* Prefix of a multicolumn index. */
	assert_string_equal(catalog_find_index_on(t, cust, 1, true)->name, "orders_cust_created");
	assert_null(catalog_find_index_on(t, cust, 1, false));
	/* Exact, columns in any order (as a set). */
	assert_string_equal(catalog_find_index_on(t, cust_created, 2, false)->name,
	                    "orders_cust_created");
	/* created_at alone: only a second key and an invalid index: none. */
	assert_null(catalog_find_index_on(t, created, 1, true));
	/* status: only a partial index and an expression index: none for a plain lookup. */
	assert_null(catalog_find_index_on(t, status, 1, true));
	assert_string_equal(catalog_find_index_leading(t, "status")->name, "orders_open");
	/* Unique keys: the primary key, not the invalid unique index. */
	assert_true(catalog_is_unique_key(t, id_status, 2));
	assert_false(catalog_is_unique_key(t, created, 1));
	assert_false(catalog_is_unique_key(t, status, 1));
	/* Hash index serves single-column equality. */
	const struct catalog_table *c = catalog_find_table(cat, NULL, "customers");
	const char *id[] = {"id"};
	assert_int_equal(catalog_find_index_on(c, id, 1, false)->method, CATALOG_INDEX_HASH);
	/* Expression and opclass details survive. */
	const struct catalog_index *ix = &t->indexes[3];
	assert_null(ix->keys[0].column);
	assert_string_equal(ix->keys[0].expression, "lower(status)");
	assert_true(t->indexes[1].keys[1].desc);
	assert_string_equal(t->indexes[1].include[0], "status");
	assert_string_equal(t->indexes[2].predicate, "(status = 'open'::text)");
	catalog_free(cat);
}

static void test_stats(void **state)
{
	struct catalog *cat = load();
	const struct catalog_table *t = catalog_find_table(cat, NULL, "orders");

	assert_null(catalog_column_stats(t, "id"));
	const struct catalog_stats *s = catalog_column_stats(t, "status");
	assert_non_null(s);
	assert_true(s->n_distinct == 3);
	assert_true(s->null_frac == 0.1);
	assert_int_equal(s->n_mcv, 2);
	assert_string_equal(s->mcv_vals[0], "done");
	assert_true(s->mcv_max_freq == 0.8);
	catalog_free(cat);
}

static void test_table_rows(void **state)
{
	struct catalog *cat = load();

	assert_true(catalog_table_rows(catalog_find_table(cat, NULL, "orders")) == 2000000);
	/* never analyzed: (8192 - 24) / (80 + 28) = 75 rows a page, as estimate_rel_size() */
	assert_true(catalog_table_rows(catalog_find_table(cat, NULL, "staging")) == 27600);
	/* never analyzed and empty: the planner assumes 10 pages of (8168 / 36) rows */
	assert_true(catalog_table_rows(catalog_find_table(cat, NULL, "fresh")) == 2260);
	/* a snapshot without the current size: unknown */
	assert_true(catalog_table_rows(catalog_find_table(cat, NULL, "customers")) == -1);
	catalog_free(cat);
}

static void test_round_trip(void **state)
{
	struct catalog *cat = load();
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);

	assert_int_equal(catalog_write_json(cat, mem), 0);
	fclose(mem);
	char err[256];
	struct catalog *again = catalog_load_json(buf, len, err, sizeof(err));
	assert_non_null(again);
	assert_int_equal(again->n_tables, cat->n_tables);
	for (size_t i = 0; i < cat->n_tables; i++) {
		const struct catalog_table *a = &cat->tables[i], *b = &again->tables[i];
		assert_string_equal(a->schema, b->schema);
		assert_string_equal(a->name, b->name);
		assert_true(a->reltuples == b->reltuples);
		assert_true(a->cur_pages == b->cur_pages);
		assert_int_equal(a->n_columns, b->n_columns);
		assert_int_equal(a->n_indexes, b->n_indexes);
		assert_int_equal(a->n_fkeys, b->n_fkeys);
		for (size_t k = 0; k < a->n_indexes; k++) {
			assert_string_equal(a->indexes[k].name, b->indexes[k].name);
			assert_int_equal(a->indexes[k].n_keys, b->indexes[k].n_keys);
			assert_int_equal(a->indexes[k].valid, b->indexes[k].valid);
		}
	}
	const struct catalog_table *o = catalog_find_table(again, NULL, "orders");
	assert_string_equal(o->fkeys[0].ref_table, "customers");
	assert_string_equal(o->fkeys[0].ref_columns[0], "id");
	assert_true(catalog_column_stats(o, "customer_id")->mcv_freqs[0] == 0.01);
	const struct catalog_stats *cs = catalog_column_stats(o, "customer_id");
	assert_int_equal(cs->n_hist, 3);
	assert_string_equal(cs->hist[2], "50000");
	const struct catalog_table *st = catalog_find_table(again, NULL, "staging");
	assert_int_equal(st->columns[2].width, 32);
	assert_true(catalog_table_rows(st) == 27600);
	catalog_free(again);
	catalog_free(cat);
	free(buf);
}

static void test_malformed_schema_rejected(void **state)
{
	char err[256];
	const char *no_tables = "{\"version\":1}";
	assert_null(catalog_load_json(no_tables, strlen(no_tables), err, sizeof(err)));
	assert_non_null(strstr(err, "tables"));
	const char *bad_table = "{\"tables\":[{\"name\":\"x\"}]}";
	assert_null(catalog_load_json(bad_table, strlen(bad_table), err, sizeof(err)));
	assert_non_null(strstr(err, "tables[0]"));
	const char *bad_json = "{\"tables\":[}";
	assert_null(catalog_load_json(bad_json, strlen(bad_json), err, sizeof(err)));
	assert_non_null(strstr(err, "line 1, column 12"));
	assert_null(catalog_load_file("/nonexistent/schema.json", err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_reader_accepts),
	    cmocka_unit_test(test_json_reader_rejects_with_position),
	    cmocka_unit_test(test_find_table),
	    cmocka_unit_test(test_index_helpers),
	    cmocka_unit_test(test_stats),
	    cmocka_unit_test(test_table_rows),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_malformed_schema_rejected),
	};
	return cmocka_run_group_tests_name("catalog_json", tests, NULL, NULL);
}
