/*
 * test_catalog_build.c - the catalog builder fed rows by hand, as the
 * pooler feeds it from its own server connections: tables, columns,
 * indexes with their keys, foreign keys and statistics come together, NULLs
 * are NULLs, and rows out of order are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "analyzer/catalog.h"

#define ROW(b, q, ...)                                                                         \
	do {                                                                                   \
		const char *v_[] = {__VA_ARGS__};                                              \
		assert_true(catalog_builder_row(b, q, (int)(sizeof(v_) / sizeof(v_[0])), v_)); \
	} while (0)

static struct catalog *build_orders(void)
{
	struct catalog_builder *b = catalog_builder_new();
	char err[128];

	assert_non_null(b);
	ROW(b, 0, "100", "public", "orders", "r", "100000", "800", NULL, NULL);
	ROW(b, 0, "200", "public", "users", "r", "-1", "0", "12", NULL);
	ROW(b, 0, "300", "public", "big_orders", "v", "-1", "0", NULL,
	    " SELECT id, user_id FROM orders WHERE id > 1000;");
	assert_true(catalog_builder_end(b, 0));
	ROW(b, 1, "100", "id", "bigint", "t", "1", "8");
	ROW(b, 1, "100", "user_id", "bigint", "f", "2", "8");
	ROW(b, 1, "200", "id", "integer", "t", "1", "4");
	ROW(b, 1, "999", "ghost", "integer", "f", "1", "4"); /* a table not loaded: ignored */
	assert_true(catalog_builder_end(b, 1));
	ROW(b, 2, "100", "101", "orders_pkey", "btree", "t", "t", "t", NULL,
	    "CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)", "1");
	ROW(b, 2, "100", "102", "orders_user", "btree", "f", "f", "t", NULL,
	    "CREATE INDEX orders_user ON public.orders USING btree (user_id) INCLUDE (id)", "1");
	assert_true(catalog_builder_end(b, 2));
	ROW(b, 3, "101", "1", "1", "id", "id", "int8_ops", "f");
	ROW(b, 3, "102", "1", "2", "user_id", "user_id", "int8_ops", "f");
	ROW(b, 3, "102", "2", "1", "id", "id", NULL, "f"); /* INCLUDE column */
	assert_true(catalog_builder_end(b, 3));
	ROW(b, 4, "100", "orders_user_fk", "1", "user_id", "public", "users", "id");
	assert_true(catalog_builder_end(b, 4));
	ROW(b, 5, "100", "user_id", "0", "-0.5", "{5,7}", "{0.25,0.125}", "8", "{1,50,100}");
	assert_true(catalog_builder_end(b, 5));
	return catalog_builder_finish(b, "test", err, sizeof(err));
}

static void test_rows_make_a_catalog(void **state)
{
	struct catalog *cat = build_orders();
	const struct catalog_table *t, *u;
	const struct catalog_stats *s;
	const char *cols[] = {"user_id"};

	assert_non_null(cat);
	assert_string_equal(cat->source, "test");
	t = catalog_find_table(cat, NULL, "orders");
	u = catalog_find_table(cat, "public", "users");
	assert_non_null(t);
	assert_non_null(u);
	assert_int_equal(t->n_columns, 2);
	assert_true(u->reltuples < 0);
	assert_int_equal(u->cur_pages, 12);
	assert_int_equal(t->cur_pages, -1); /* analysed: its pages now are not read */
	{
		const struct catalog_table *v = catalog_find_table(cat, NULL, "big_orders");

		assert_non_null(v);
		assert_int_equal(v->kind, 'v');
		assert_non_null(v->view_sql);
		assert_non_null(v->view_parse); /* parsed, for rules to read as a subquery */
		assert_null(t->view_parse);
	}
	assert_int_equal(t->n_indexes, 2);
	assert_non_null(catalog_find_index_on(t, cols, 1, false));
	assert_true(catalog_is_unique_key(t, (const char *const[]){"id"}, 1));
	assert_int_equal(t->n_fkeys, 1);
	assert_string_equal(t->fkeys[0].ref_table, "users");
	s = catalog_column_stats(t, "user_id");
	assert_non_null(s);
	assert_int_equal(s->n_mcv, 2);
	assert_string_equal(s->mcv_vals[1], "7");
	assert_true(s->mcv_freqs[0] == 0.25);
	assert_int_equal(s->n_hist, 3);
	for (size_t i = 0; i < t->n_indexes; i++) {
		if (strcmp(t->indexes[i].name, "orders_user") != 0)
			continue;
		assert_int_equal(t->indexes[i].n_keys, 1);
		assert_int_equal(t->indexes[i].n_include, 1);
		assert_null(t->indexes[i].predicate);
	}
	catalog_free(cat);
}

static void test_out_of_order_is_refused(void **state)
{
	struct catalog_builder *b = catalog_builder_new();
	const char *col[] = {"100", "id", "bigint", "t", "1", "8"};
	const char *narrow[] = {"100", "public", "orders", "r", "1", "1", "1"};
	char err[128];

	assert_non_null(b);
	assert_false(catalog_builder_row(b, 1, 6, col)); /* columns before tables ended */
	catalog_builder_free(b);

	b = catalog_builder_new();
	assert_false(catalog_builder_row(b, 0, 2, narrow));
	assert_null(catalog_builder_finish(b, "test", err, sizeof(err)));
	assert_true(strlen(err) > 0);
}

static void test_unfinished_build_is_an_error(void **state)
{
	struct catalog_builder *b = catalog_builder_new();
	char err[128] = "";

	assert_true(catalog_builder_end(b, 0));
	assert_null(catalog_builder_finish(b, "test", err, sizeof(err)));
	assert_string_equal(err, "schema queries incomplete");
	assert_non_null(catalog_builder_query(0));
	assert_null(catalog_builder_query(CATALOG_QUERIES));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows_make_a_catalog),
	    cmocka_unit_test(test_out_of_order_is_refused),
	    cmocka_unit_test(test_unfinished_build_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
