/*
 * test_report_hypo.c - index suggestions checked with HypoPG: an index that lowers the estimated
 * cost is shown with the cost change, one that does not is not suggested.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer/report.h"
#include "analyzer/report_hypo.h"
#include "tests/integration/harness.h"

#define DB "pgscope_hypo_it"

static PGconn *conn;
static char dsn[256];

static int setup(void **state)
{
	PGconn *c = harness_connect_primary();
	if (!c)
		return -1;
	bool ok = harness_exec_ok(c, "DROP DATABASE IF EXISTS " DB) &&
	          harness_exec_ok(c, "CREATE DATABASE " DB);
	PQfinish(c);
	if (!ok)
		return -1;
	snprintf(dsn, sizeof(dsn), "host=%s port=%d user=postgres dbname=" DB,
	         harness_cluster()->host, harness_cluster()->port);
	conn = harness_connect(harness_cluster()->port, "dbname=" DB);
	if (!conn)
		return -1;
	/* 200,000 rows: val nearly unique, flag two values. */
	return harness_exec_ok(conn, "CREATE EXTENSION hypopg") &&
	               harness_exec_ok(conn, "CREATE TABLE big (id int PRIMARY KEY, val int, "
	                                     "flag bool, note text)") &&
	               harness_exec_ok(conn, "INSERT INTO big SELECT g, (g * 7919) % 150000, "
	                                     "g % 2 = 0, 'n' FROM generate_series(1, 200000) g") &&
	               harness_exec_ok(conn, "ANALYZE big")
	           ? 0
	           : -1;
}

static int teardown(void **state)
{
	PQfinish(conn);
	PGconn *c = harness_connect_primary();
	if (!c)
		return -1;
	bool ok = harness_exec_ok(c, "DROP DATABASE IF EXISTS " DB);
	PQfinish(c);
	return ok ? 0 : -1;
}

static void test_helpful_index(void **state)
{
	struct report_hypo_result hr;
	char err[256];
	assert_int_equal(report_hypo_eval(conn, "SELECT id FROM big WHERE val = $1",
	                                  "CREATE INDEX ON big (val)", &hr, err, sizeof(err)),
	                 0);
	assert_true(hr.before > 1000);
	assert_true(hr.after < hr.before / 10);
	assert_true(hr.helps);
}

static void test_useless_index_not_suggested(void **state)
{
	struct report_hypo_result hr;
	char err[256];
	/* An index on another column cannot serve the filter. */
	assert_int_equal(report_hypo_eval(conn, "SELECT id FROM big WHERE val = $1",
	                                  "CREATE INDEX ON big (note)", &hr, err, sizeof(err)),
	                 0);
	assert_false(hr.helps);
	assert_true(hr.after >= hr.before * 0.99);
	/* Nothing hypothetical is left behind in the session. */
	char n[16];
	assert_true(
	    harness_query_value(conn, "SELECT count(*) FROM hypopg_list_indexes", n, sizeof(n)));
	assert_string_equal(n, "0");
}

static void test_unplannable_query_is_an_error(void **state)
{
	struct report_hypo_result hr;
	char err[256] = "";
	assert_int_equal(report_hypo_eval(conn, "SELECT id FROM no_such_table WHERE val = $1",
	                                  "CREATE INDEX ON big (val)", &hr, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "no_such_table"));
}

static void test_report_with_dsn(void **state)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/primary/log/hypo-it.log", harness_cluster()->dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 5; i++)
		fprintf(f,
		        "2026-11-23 10:00:0%d.000 UTC [1] LOG:  duration: 25.000 ms  statement: "
		        "SELECT id FROM big WHERE val = %d\n",
		        i, i * 11);
	fclose(f);
	struct report_options o;
	memset(&o, 0, sizeof(o));
	char err[512];
	struct catalog *cat = catalog_load_dsn(dsn, err, sizeof(err));
	if (!cat)
		fail_msg("%s", err);
	o.catalog = cat;
	o.hypo_dsn = dsn;
	struct report *r = report_new(&o);
	assert_int_equal(report_add_file(r, path, err, sizeof(err)), 0);
	report_finish(r);
	assert_string_equal(r->hypo_note, "");
	bool found = false;
	for (size_t i = 0; i < r->n_findings; i++) {
		const struct report_finding *fi = &r->findings[i];
		if (strcmp(fi->rule_id, "unindexed-filter") != 0)
			continue;
		found = true;
		assert_int_equal(fi->fp->calls, 5);
		assert_non_null(fi->suggestion);
		assert_non_null(fi->hypo);
		assert_non_null(strstr(fi->hypo, "estimated cost"));
	}
	assert_true(found);
	report_free(r);

	/* Without hypopg in the database the report says so instead of guessing. */
	char dsn2[256];
	snprintf(dsn2, sizeof(dsn2), "host=%s port=%d user=postgres dbname=postgres",
	         harness_cluster()->host, harness_cluster()->port);
	o.hypo_dsn = dsn2;
	r = report_new(&o);
	assert_int_equal(report_add_file(r, path, err, sizeof(err)), 0);
	report_finish(r);
	assert_non_null(strstr(r->hypo_note, "hypopg extension is not installed"));
	for (size_t i = 0; i < r->n_findings; i++)
		assert_null(r->findings[i].hypo);
	report_free(r);
	catalog_free(cat);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_helpful_index),
	    cmocka_unit_test(test_useless_index_not_suggested),
	    cmocka_unit_test(test_unplannable_query_is_an_error),
	    cmocka_unit_test(test_report_with_dsn),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
