/*
 * test_report_logs.c - `pgscope report` on the real PostgreSQL 15 logs (stderr, csvlog, jsonlog)
 * of one scripted workload: every format gives the same calls per fingerprint, and the expected
 * counts for literal/parameter/IN-list variants, multi-line statements and failed statements.
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

#include <pg_query.h>

#include "analyzer/report.h"
#include "tests/integration/harness.h"

#define DB     "pgscope_report_it"
#define PREFIX "%m [%p] %q%u@%d " /* tests/pgcluster's log_line_prefix */

static char log_paths[3][512];

static uint64_t fingerprint(const char *sql)
{
	PgQueryFingerprintResult r = pg_query_fingerprint(sql);
	assert_null(r.error);
	uint64_t fp = r.fingerprint;
	pg_query_free_fingerprint_result(r);
	return fp;
}

static bool file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	char line[8192];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

static void run_workload(void)
{
	PGconn *c = harness_connect_primary();
	assert_non_null(c);
	/* Add jsonlog next to the cluster's stderr and csvlog for the duration of this test. */
	assert_true(
	    harness_exec_ok(c, "ALTER SYSTEM SET log_destination = 'stderr,csvlog,jsonlog'"));
	assert_true(harness_exec_ok(c, "SELECT pg_reload_conf()"));
	harness_sleep_ms(500);
	assert_true(harness_exec_ok(c, "DROP DATABASE IF EXISTS " DB));
	assert_true(harness_exec_ok(c, "CREATE DATABASE " DB));
	PQfinish(c);

	c = harness_connect(harness_cluster()->port, "dbname=" DB " application_name=report-it");
	assert_non_null(c);
	assert_true(harness_exec_ok(c, "SET log_min_duration_statement = 0"));
	assert_true(harness_exec_ok(c, "CREATE TABLE items (id int PRIMARY KEY, name text)"));
	assert_true(harness_exec_ok(c, "INSERT INTO items SELECT g, 'n' || g FROM "
	                               "generate_series(1, 100) g"));
	char sql[1024];
	for (int i = 0; i < 50; i++) {
		snprintf(sql, sizeof(sql), "SELECT * FROM items WHERE id = %d", i);
		assert_true(harness_exec_ok(c, sql));
	}
	for (int i = 0; i < 30; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", i);
		const char *params[1] = {v};
		PGresult *r = PQexecParams(c, "SELECT * FROM items WHERE id = $1", 1, NULL, params,
		                           NULL, NULL, 0);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		PQclear(r);
	}
	for (int k = 1; k <= 20; k++) {
		int n = snprintf(sql, sizeof(sql), "SELECT name FROM items WHERE id IN (");
		for (int i = 0; i < k; i++)
			n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s%d", i ? ", " : "", i);
		snprintf(sql + n, sizeof(sql) - (size_t)n, ")");
		assert_true(harness_exec_ok(c, sql));
	}
	for (int i = 0; i < 10; i++)
		assert_true(
		    harness_exec_ok(c, "SELECT\n  count(*)\nFROM items\nWHERE name <> 'x'"));
	for (int i = 0; i < 3; i++) {
		PGresult *r = PQexec(c, "SELECT * FROM no_such_table");
		assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
		PQclear(r);
	}
	assert_true(harness_exec_ok(c, "SELECT 'report-it-done'"));
	PQfinish(c);

	const char *dir = harness_cluster()->dir;
	snprintf(log_paths[0], sizeof(log_paths[0]), "%s/primary/log/postgresql.log", dir);
	snprintf(log_paths[1], sizeof(log_paths[1]), "%s/primary/log/postgresql.csv", dir);
	snprintf(log_paths[2], sizeof(log_paths[2]), "%s/primary/log/postgresql.json", dir);
	/* The logging collector writes asynchronously: wait for the last statement. */
	for (int f = 0; f < 3; f++) {
		long long deadline = harness_now_ms() + 10000;
		while (!file_contains(log_paths[f], "report-it-done") &&
		       harness_now_ms() < deadline)
			harness_sleep_ms(100);
		assert_true(file_contains(log_paths[f], "report-it-done"));
	}

	c = harness_connect_primary();
	assert_non_null(c);
	assert_true(harness_exec_ok(c, "ALTER SYSTEM RESET log_destination"));
	assert_true(harness_exec_ok(c, "SELECT pg_reload_conf()"));
	assert_true(harness_exec_ok(c, "DROP DATABASE IF EXISTS " DB));
	PQfinish(c);
}

static const struct report_fp *find(const struct report *r, uint64_t fp)
{
	for (size_t i = 0; i < r->n_fps; i++) {
		if (r->fps[i].fingerprint == fp)
			return &r->fps[i];
	}
	return NULL;
}

static struct report *report_of(const char *path)
{
	struct report_options o;
	memset(&o, 0, sizeof(o));
	o.database = DB;
	o.input.log_prefix = PREFIX;
	struct report *r = report_new(&o);
	assert_non_null(r);
	char err[512];
	if (report_add_file(r, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	report_finish(r);
	return r;
}

static void test_formats_agree_with_workload(void **state)
{
	run_workload();
	uint64_t by_id = fingerprint("SELECT * FROM items WHERE id = 1");
	uint64_t in_list = fingerprint("SELECT name FROM items WHERE id IN (1, 2)");
	uint64_t multi = fingerprint("SELECT count(*) FROM items WHERE name <> 'x'");
	uint64_t failing = fingerprint("SELECT * FROM no_such_table");
	struct report *r[3];
	for (int f = 0; f < 3; f++) {
		r[f] = report_of(log_paths[f]);
		const struct report_fp *e;
		assert_non_null(e = find(r[f], by_id));
		assert_int_equal(e->calls, 80); /* literals and $1 parameters: one fingerprint */
		assert_int_equal(e->timed, 80);
		assert_non_null(e = find(r[f], in_list));
		assert_int_equal(e->calls, 20); /* IN lists of 1..20 elements */
		assert_non_null(e = find(r[f], multi));
		assert_int_equal(e->calls, 10);
		assert_non_null(e = find(r[f], failing));
		assert_int_equal(e->calls, 3);
		assert_int_equal(e->errors, 3);
		/* Everything else (DDL, SET ...) agrees too: same fingerprints, same calls. */
		if (f > 0) {
			assert_int_equal(r[f]->n_fps, r[0]->n_fps);
			assert_int_equal(r[f]->stmts_kept, r[0]->stmts_kept);
			for (size_t i = 0; i < r[0]->n_fps; i++) {
				const struct report_fp *o = find(r[f], r[0]->fps[i].fingerprint);
				assert_non_null(o);
				assert_int_equal(o->calls, r[0]->fps[i].calls);
			}
		}
	}
	for (int f = 0; f < 3; f++)
		report_free(r[f]);
}

static void test_cli_html(void **state)
{
	char out[600];
	snprintf(out, sizeof(out), "%s/primary/log/report-it.html", harness_cluster()->dir);
	const char *bin = getenv("PGSCOPE_BIN") ? getenv("PGSCOPE_BIN") : "./pgscope";
	const char *argv[] = {bin, "report",     "--format",   "html", "--log-prefix", PREFIX, "-o",
	                      out, log_paths[1], log_paths[2], NULL};
	struct harness_run_result res;
	assert_true(harness_run(argv, NULL, 60, &res));
	if (res.exit_code != 0)
		fail_msg("pgscope report: %s", res.output);
	harness_run_result_free(&res);
	assert_true(file_contains(out, "<svg"));

	/* Headless Chromium renders it: the charts are in the DOM, no console errors. */
	char url[700];
	snprintf(url, sizeof(url), "file://%s", out);
	const char *chrome[] = {"chromium",
	                        "--headless",
	                        "--no-sandbox",
	                        "--disable-gpu",
	                        "--enable-logging=stderr",
	                        "--v=0",
	                        "--dump-dom",
	                        url,
	                        NULL};
	assert_true(harness_run(chrome, NULL, 120, &res));
	if (res.exit_code != 0 || !strstr(res.output, "<polyline") ||
	    !strstr(res.output, "Findings by rule") || strstr(res.output, ":CONSOLE"))
		fail_msg("chromium: exit %d: %.2000s", res.exit_code, res.output);
	harness_run_result_free(&res);
	unlink(out);
}

/* Run pgscope with ARGV (after the binary), expect exit status STATUS; returns its output. */
static char *run_pgscope(const char *const *args, int status)
{
	const char *argv[16];
	size_t n = 0;
	argv[n++] = getenv("PGSCOPE_BIN") ? getenv("PGSCOPE_BIN") : "./pgscope";
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	struct harness_run_result res;
	assert_true(harness_run(argv, NULL, 60, &res));
	if (res.exit_code != status)
		fail_msg("pgscope exited %d, not %d: %s", res.exit_code, status, res.output);
	return res.output;
}

static void test_cli_baseline_workflow(void **state)
{
	char baseline[600];
	snprintf(baseline, sizeof(baseline), "%s/primary/log/report-it.baseline",
	         harness_cluster()->dir);
	unlink(baseline);
	/* The first review acknowledges everything the report finds ... */
	const char *w[] = {"report", "--write-baseline", baseline,
	                   "--note", "seen in review",   "--log-prefix",
	                   PREFIX,   log_paths[0],       NULL};
	free(run_pgscope(w, 0));
	assert_true(file_contains(baseline, "\tseen in review"));
	/* ... so the next report of the same traffic shows nothing new. */
	const char *r[] = {"report",       "--format", "json",       "--baseline", baseline,
	                   "--log-prefix", PREFIX,     log_paths[0], NULL};
	char *out = run_pgscope(r, 0);
	assert_non_null(strstr(out, "\"findings\":[]"));
	assert_null(strstr(out, "\"baselined\":0,"));
	free(out);
	/* Without the baseline the findings are there. */
	const char *r2[] = {"report", "--format",   "json", "--log-prefix",
	                    PREFIX,   log_paths[0], NULL};
	out = run_pgscope(r2, 0);
	assert_null(strstr(out, "\"findings\":[]"));
	free(out);
	unlink(baseline);
}

static void test_cli_usage_errors(void **state)
{
	const char *a[] = {"report", NULL};
	free(run_pgscope(a, 2));
	const char *b[] = {"report", "--format", "xml", log_paths[0], NULL};
	free(run_pgscope(b, 2));
	const char *c[] = {"report", "--since", "yesterday", log_paths[0], NULL};
	free(run_pgscope(c, 2));
	const char *d[] = {"report", "/nonexistent/file.log", NULL};
	free(run_pgscope(d, 2));
	/* A window that holds nothing is a valid, empty report. */
	const char *e[] = {"report",  "--format",   "json",       "--since", "2001-01-01",
	                   "--until", "2001-01-02", log_paths[1], NULL};
	char *out = run_pgscope(e, 0);
	assert_non_null(strstr(out, "\"statements\":0,"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_formats_agree_with_workload),
	    cmocka_unit_test(test_cli_html),
	    cmocka_unit_test(test_cli_baseline_workflow),
	    cmocka_unit_test(test_cli_usage_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
