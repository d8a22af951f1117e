/*
 * test_catalog_pg.c - the schema snapshot read from a real PostgreSQL 15 (throwaway cluster via
 * tests/pgcluster).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "analyzer/catalog.h"

static char cluster_dir[256];
static char dsn[256];

static const char schema_sql[] =
    "CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, name text);"
    "CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES "
    "  customers(id), status text, created_at timestamptz DEFAULT now(), note text);"
    "CREATE INDEX orders_cust_created ON orders (customer_id, created_at DESC) INCLUDE (status);"
    "CREATE INDEX orders_open ON orders (status) WHERE status = 'open';"
    "CREATE INDEX orders_lower_note ON orders (lower(note));"
    "CREATE INDEX orders_note_gin ON orders USING gin (to_tsvector('simple', note));"
    "CREATE INDEX orders_created_brin ON orders USING brin (created_at);"
    "CREATE INDEX customers_name_hash ON customers USING hash (name);"
    "CREATE SCHEMA audit; CREATE TABLE audit.log (id int, \"Weird Col\" text);"
    "INSERT INTO customers (email, name) SELECT 'u' || g || '@x', 'n' || (g % 10) "
    "  FROM generate_series(1, 1000) g;"
    "INSERT INTO orders (customer_id, status, note) SELECT 1 + g % 1000, "
    "  (ARRAY['done','done','open'])[1 + g % 3], 'note \"' || g || '\", x' "
    "  FROM generate_series(1, 6000) g;"
    "ANALYZE;";

static int setup(void **state)
{
	if (access("tests/pgcluster", X_OK) != 0 ||
	    access("/usr/lib/postgresql/15/bin/initdb", X_OK) != 0) {
		fprintf(stderr, "PostgreSQL 15 is not installed: run scripts/install-deps all\n");
		return -1;
	}
	snprintf(cluster_dir, sizeof(cluster_dir), "/tmp/pgscope-catalog-test.%d", (int)getpid());
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "tests/pgcluster start %s --no-replica 2>&1", cluster_dir);
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	char line[512];
	int port = 0;
	while (fgets(line, sizeof(line), p) != NULL) {
		const char *at = strstr(line, "PGSCOPE_TEST_PORT=");
		if (at != NULL)
			port = atoi(at + strlen("PGSCOPE_TEST_PORT="));
	}
	if (pclose(p) != 0 || port == 0)
		return -1;
	snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d user=postgres dbname=postgres", port);
	PGconn *conn = PQconnectdb(dsn);
	if (PQstatus(conn) != CONNECTION_OK) {
		PQfinish(conn);
		return -1;
	}
	PGresult *res = PQexec(conn, schema_sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "schema: %s\n", PQerrorMessage(conn));
	PQclear(res);
	PQfinish(conn);
	return ok ? 0 : -1;
}

static int teardown(void **state)
{
	if (cluster_dir[0] != '\0') {
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "tests/pgcluster stop %s >/dev/null 2>&1", cluster_dir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

static const struct catalog_index *index_named(const struct catalog_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_indexes; i++) {
		if (strcmp(t->indexes[i].name, name) == 0)
			return &t->indexes[i];
	}
	fail_msg("no index %s", name);
	return NULL;
}

static void test_load_from_server(void **state)
{
	char err[512];

	struct catalog *cat = catalog_load_dsn(dsn, err, sizeof(err));
	if (cat == NULL)
		fail_msg("%s", err);

	const struct catalog_table *o = catalog_find_table(cat, NULL, "orders");
	assert_non_null(o);
	assert_true(o->reltuples == 6000);
	assert_true(o->relpages > 0);
	assert_int_equal(o->n_columns, 5);
	assert_string_equal(o->columns[3].name, "created_at");
	assert_string_equal(o->columns[3].type, "timestamp with time zone");
	assert_true(catalog_find_column(o, "customer_id")->not_null);

	const struct catalog_index *ix = index_named(o, "orders_cust_created");
	assert_int_equal(ix->method, CATALOG_INDEX_BTREE);
	assert_int_equal(ix->n_keys, 2);
	assert_string_equal(ix->keys[0].column, "customer_id");
	assert_string_equal(ix->keys[1].column, "created_at");
	assert_true(ix->keys[1].desc);
	assert_false(ix->keys[0].desc);
	assert_int_equal(ix->n_include, 1);
	assert_string_equal(ix->include[0], "status");
	ix = index_named(o, "orders_open");
	assert_non_null(ix->predicate);
	assert_non_null(strstr(ix->predicate, "'open'"));
	ix = index_named(o, "orders_lower_note");
	assert_null(ix->keys[0].column);
	assert_string_equal(ix->keys[0].expression, "lower(note)");
	assert_int_equal(index_named(o, "orders_note_gin")->method, CATALOG_INDEX_GIN);
	assert_int_equal(index_named(o, "orders_created_brin")->method, CATALOG_INDEX_BRIN);
	ix = index_named(o, "orders_pkey");
	assert_true(ix->primary && ix->unique && ix->valid);
	assert_string_equal(ix->keys[0].opclass, "int8_ops");

	assert_int_equal(o->n_fkeys, 1);
	assert_string_equal(o->fkeys[0].columns[0], "customer_id");
	assert_string_equal(o->fkeys[0].ref_table, "customers");
	assert_string_equal(o->fkeys[0].ref_columns[0], "id");

	const struct catalog_stats *s = catalog_column_stats(o, "status");
	assert_non_null(s);
	assert_true(s->n_distinct == 2);
	assert_int_equal(s->n_mcv, 2);
	assert_string_equal(s->mcv_vals[0], "done");
	assert_true(s->mcv_max_freq > 0.6 && s->mcv_max_freq < 0.7);
	assert_true(catalog_column_stats(o, "id")->n_distinct == -1);

	const struct catalog_table *c = catalog_find_table(cat, "public", "customers");
	assert_int_equal(index_named(c, "customers_name_hash")->method, CATALOG_INDEX_HASH);
	const char *email[] = {"email"};
	assert_true(catalog_is_unique_key(c, email, 1));
	const struct catalog_table *log = catalog_find_table(cat, NULL, "log");
	assert_non_null(log);
	assert_string_equal(log->schema, "audit");
	assert_non_null(catalog_find_column(log, "Weird Col"));
	/* System catalogs are not part of the snapshot. */
	assert_null(catalog_find_table(cat, NULL, "pg_class"));
	catalog_free(cat);
}

static void test_bad_dsn_is_an_error(void **state)
{
	char err[512];
	assert_null(catalog_load_dsn("host=127.0.0.1 port=1 connect_timeout=2", err, sizeof(err)));
	assert_non_null(strstr(err, "connecting"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_from_server),
	    cmocka_unit_test(test_bad_dsn_is_an_error),
	};
	return cmocka_run_group_tests_name("catalog_pg", tests, setup, teardown);
}
