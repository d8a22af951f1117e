/*
 * test_report_capture.c - the done-when of the report: pgbench and scripted anti-pattern queries
 * (an N+1 loop among them) through pgscope in transaction mode with capture on; `pgscope report`
 * on the capture flags exactly the expected rules with the right call counts, and the server's
 * own csvlog of the same workload agrees on calls per fingerprint.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pg_query.h>

#include "analyzer/report.h"
#include "tests/integration/harness.h"

#define DB "pgscope_capture_it"

static struct harness_pgscope ps;
static char capture_dir[300];
static char dsn[256];
static long pgbench_xacts;
static struct catalog *cat;
static int64_t workload_start_us; /* statements before it (setup, schema load) are not compared */

static uint64_t fingerprint(const char *sql)
{
	PgQueryFingerprintResult r = pg_query_fingerprint(sql);
	assert_null(r.error);
	uint64_t fp = r.fingerprint;
	pg_query_free_fingerprint_result(r);
	return fp;
}

static void exec_n(PGconn *c, const char *sql, int n)
{
	for (int i = 0; i < n; i++)
		assert_true(harness_exec_ok(c, sql));
}

static int setup(void **state)
{
	PGconn *c = harness_connect_primary();
	if (!c)
		return -1;
	bool ok = harness_exec_ok(c, "DROP DATABASE IF EXISTS " DB) &&
	          harness_exec_ok(c, "CREATE DATABASE " DB);
	PQfinish(c);
	c = harness_connect(harness_cluster()->port, "dbname=" DB);
	if (!ok || !c)
		return -1;
	ok =
	    harness_exec_ok(c, "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL)") &&
	    harness_exec_ok(c, "CREATE TABLE items (id int PRIMARY KEY, customer_id int NOT NULL, "
	                       "name text NOT NULL)") &&
	    harness_exec_ok(c, "CREATE TABLE sessions (id int PRIMARY KEY, data text)") &&
	    harness_exec_ok(c, "INSERT INTO customers SELECT g, 'c' || g FROM "
	                       "generate_series(1, 100) g") &&
	    harness_exec_ok(c, "INSERT INTO items SELECT g, g % 100 + 1, 'i' || g FROM "
	                       "generate_series(1, 1000) g") &&
	    harness_exec_ok(c, "ANALYZE");
	PQfinish(c);
	if (!ok)
		return -1;
	snprintf(dsn, sizeof(dsn), "host=%s port=%d user=postgres dbname=" DB,
	         harness_cluster()->host, harness_cluster()->port);
	/* pgbench's tables, made directly: the schema snapshot below must know them. */
	char port[16];
	snprintf(port, sizeof(port), "%d", harness_cluster()->port);
	const char *init[] = {"pgbench", "-i", "-s", "1",        "-q", "-h", "127.0.0.1",
	                      "-p",      port, "-U", "postgres", DB,   NULL};
	struct harness_run_result res;
	if (!harness_run(init, NULL, 120, &res) || res.exit_code != 0) {
		fprintf(stderr, "pgbench -i: %s\n", res.output ? res.output : "");
		return -1;
	}
	harness_run_result_free(&res);

	char err[512];
	cat = catalog_load_dsn(dsn, err, sizeof(err));
	if (!cat) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	harness_sleep_ms(20);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	workload_start_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	harness_sleep_ms(20);

	snprintf(capture_dir, sizeof(capture_dir), "%s/capture-it", harness_cluster()->dir);
	char extra[512];
	/* The server's log is compared statement for statement with the capture: pgscope's own
	 * schema reads (their BEGIN shares the workload's fingerprint) stay out of it. */
	snprintf(extra, sizeof(extra), "capture = on\ncapture_dir = %s\nanalyze_schema = off\n",
	         capture_dir);
	char dbs[256];
	snprintf(dbs, sizeof(dbs), DB " = host=%s port=%d dbname=" DB " user=postgres",
	         harness_cluster()->host, harness_cluster()->port);
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction", .pool_size = 8, .extra_main = extra, .extra_dbs = dbs};
	return harness_pgscope_start(&ps, &opts) ? 0 : -1;
}

static int teardown(void **state)
{
	catalog_free(cat);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", capture_dir);
	if (system(cmd) != 0)
		return -1;
	PGconn *c = harness_connect_primary();
	if (!c)
		return -1;
	bool ok = harness_exec_ok(c, "DROP DATABASE IF EXISTS " DB);
	PQfinish(c);
	return ok ? 0 : -1;
}

static void run_workload(void)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", ps.port);
	struct harness_run_result res;
	const char *bench[] = {"pgbench",   "-S", "-c", "4",  "-t",       "250", "-h",
	                       "127.0.0.1", "-p", port, "-U", "postgres", DB,    NULL};
	assert_true(harness_run(bench, NULL, 120, &res));
	if (res.exit_code != 0)
		fail_msg("pgbench -S: %s", res.output);
	const char *p = strstr(res.output, "number of transactions actually processed: ");
	assert_non_null(p);
	pgbench_xacts = strtol(p + strlen("number of transactions actually processed: "), NULL, 10);
	harness_run_result_free(&res);
	assert_int_equal(pgbench_xacts, 1000);

	PGconn *c = harness_connect(ps.port, "dbname=" DB " application_name=capture-it");
	assert_non_null(c);
	exec_n(c, "SELECT * FROM items ORDER BY random() LIMIT 5", 7);
	exec_n(c, "DELETE FROM sessions", 3);
	exec_n(c, "UPDATE sessions SET data = 'x'", 4);
	exec_n(c, "SELECT id FROM items WHERE customer_id NOT IN (SELECT id FROM customers)", 5);
	/* The N+1 loop: one transaction, one query per parent row, as an ORM does. */
	assert_true(harness_exec_ok(c, "BEGIN"));
	for (int i = 1; i <= 20; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", i);
		const char *params[1] = {v};
		PGresult *r = PQexecParams(c, "SELECT name FROM items WHERE customer_id = $1", 1,
		                           NULL, params, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		PQclear(r);
	}
	assert_true(harness_exec_ok(c, "COMMIT"));
	assert_true(harness_exec_ok(c, "SELECT 'capture-it-done'"));
	PQfinish(c);
	/* Stopping pgscope writes what is queued and closes the capture file. */
	assert_true(harness_pgscope_stop(&ps));
}

static struct report *report_of(const char *const *paths, size_t n, int64_t since_us)
{
	struct report_options o;
	memset(&o, 0, sizeof(o));
	o.since_us = since_us;
	o.database = DB;
	o.catalog = cat;
	o.top = 100;
	o.input.log_prefix = "%m [%p] %q%u@%d ";
	struct report *r = report_new(&o);
	assert_non_null(r);
	char err[512];
	for (size_t i = 0; i < n; i++) {
		if (report_add_file(r, paths[i], err, sizeof(err)) != 0)
			fail_msg("%s", err);
	}
	report_finish(r);
	return r;
}

static const struct report_fp *find(const struct report *r, uint64_t fp)
{
	for (size_t i = 0; i < r->n_fps; i++) {
		if (r->fps[i].fingerprint == fp)
			return &r->fps[i];
	}
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct expect {
	const char *sql;
	uint64_t calls;
	const char *rules; /* space-separated rule ids expected on it, exactly */
};

static void test_capture_report(void **state)
{
	run_workload();
	char paths[16][600];
	const char *ptrs[16];
	size_t n = 0;
	DIR *d = opendir(capture_dir);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d)) && n < 16) {
		if (strncmp(e->d_name, "pgscope-", 8) != 0)
			continue;
		snprintf(paths[n], sizeof(paths[n]), "%s/%s", capture_dir, e->d_name);
		ptrs[n] = paths[n];
		n++;
	}
	closedir(d);
	assert_true(n >= 1);

	struct report *cap = report_of(ptrs, n, 0);

	const struct expect want[] = {
	    {"SELECT abalance FROM pgbench_accounts WHERE aid = 1", (uint64_t)pgbench_xacts, ""},
	    {"SELECT * FROM items ORDER BY random() LIMIT 5", 7, "order-by-random select-star"},
	    {"DELETE FROM sessions", 3, "delete-without-where"},
	    {"UPDATE sessions SET data = 'x'", 4, "update-without-where"},
	    {"SELECT id FROM items WHERE customer_id NOT IN (SELECT id FROM customers)", 5,
	     "not-in-subquery"},
	    {"SELECT name FROM items WHERE customer_id = 1", 20, "n-plus-one"},
	};
	size_t expected_findings = 0;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint64_t fp = fingerprint(want[i].sql);
		const struct report_fp *f = find(cap, fp);
		if (!f)
			fail_msg("no fingerprint for %s", want[i].sql);
		if (f->calls != want[i].calls)
			fail_msg("%s: %llu calls, want %llu", want[i].sql,
			         (unsigned long long)f->calls, (unsigned long long)want[i].calls);
		/* The rule ids flagged on it, sorted and joined by spaces. */
		const char *ids[16];
		size_t nids = 0;
		for (size_t k = 0; k < cap->n_findings && nids < 16; k++) {
			if (cap->findings[k].fingerprint == fp)
				ids[nids++] = cap->findings[k].rule_id;
		}
		qsort(ids, nids, sizeof(ids[0]), cmp_str);
		char got[256] = "";
		for (size_t k = 0; k < nids; k++) {
			size_t at = strlen(got);
			snprintf(got + at, sizeof(got) - at, "%s%s", k ? " " : "", ids[k]);
		}
		if (strcmp(got, want[i].rules) != 0)
			fail_msg("%s: rules [%s], want [%s]", want[i].sql, got, want[i].rules);
		if (want[i].rules[0])
			expected_findings += 1 + (strchr(want[i].rules, ' ') != NULL);
	}
	/* Nothing else is flagged: not pgbench's statements, not BEGIN/COMMIT, not the setup. */
	if (cap->n_findings != expected_findings) {
		for (size_t k = 0; k < cap->n_findings; k++)
			fprintf(stderr, "finding %s on %s\n", cap->findings[k].rule_id,
			        cap->findings[k].fp->query);
		fail_msg("%zu findings, want %zu", cap->n_findings, expected_findings);
	}

	/* The server's csvlog of the same workload agrees on calls per fingerprint. */
	char csv[512];
	snprintf(csv, sizeof(csv), "%s/primary/log/postgresql.csv", harness_cluster()->dir);
	const char *csvp[1] = {csv};
	struct report *log = report_of(csvp, 1, workload_start_us);
	size_t compared = 0, mismatched = 0;
	for (size_t i = 0; i < cap->n_fps; i++) {
		const struct report_fp *c = &cap->fps[i];
		const struct report_fp *l = find(log, c->fingerprint);
		if (!l)
			fail_msg("csvlog lacks %s", c->query);
		/* The workload ran through pgscope only, so counts match exactly. */
		if (l->calls != c->calls) {
			fprintf(stderr, "%s: capture %llu calls, csvlog %llu\n", c->query,
			        (unsigned long long)c->calls, (unsigned long long)l->calls);
			mismatched++;
		}
		compared++;
	}
	assert_int_equal(mismatched, 0);
	assert_true(compared >= 6);
	report_free(log);
	report_free(cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_capture_report),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
