/*
 * test_server_query.c - the pooler's internal queries return rows.
 *
 * Drives the pooler's own modules on a loop of the test's: a pool logs one
 * server connection in to the real primary, and server_query() runs SQL on
 * it whose rows come back through on_row, checked against what libpq reads
 * for the same SQL; errors come back through on_done with their SQLSTATE.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/config.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/pool.h"
#include "pooler/pooler.h"
#include "pooler/server.h"
#include "tests/integration/harness.h"

#define MAX_ROWS 256

/* What one internal query returned. */
struct collected {
	int rows;
	int columns;
	char values[MAX_ROWS][3][64]; /* first three columns; "<null>" for NULL */
	bool done;
	bool failed;
};

static struct config cfg;
static struct server *sv;

static void collect_row(struct server *s, void *arg, int n, const char *const *values)
{
	struct collected *out = arg;

	out->columns = n;
	if (out->rows >= MAX_ROWS)
		return;
	for (int i = 0; i < n && i < 3; i++)
		snprintf(out->values[out->rows][i], sizeof(out->values[0][0]), "%s",
		         values[i] != NULL ? values[i] : "<null>");
	out->rows++;
}

static void collect_done(struct server *s, void *arg, bool failed)
{
	struct collected *out = arg;

	out->done = true;
	out->failed = failed;
	pool_server_ready(s); /* back to idle, as every owner hands its server on */
}

static const struct server_query_ops collect_ops = {
    .name = "test", .on_row = collect_row, .on_done = collect_done};

/* Run the loop until *flag or a 10 s limit. */
static bool run_until(const bool *flag)
{
	ev_tstamp deadline = ev_time() + 10;

	while (!*flag && ev_time() < deadline)
		ev_run(pooler.loop->ev, EVRUN_ONCE | EVRUN_NOWAIT);
	return *flag;
}

static bool run_until_idle(void)
{
	ev_tstamp deadline = ev_time() + 10;

	while (sv->state != SV_IDLE && ev_time() < deadline)
		ev_run(pooler.loop->ev, EVRUN_ONCE | EVRUN_NOWAIT);
	return sv->state == SV_IDLE;
}

static int group_setup(void **state)
{
	const struct harness_cluster *cl = harness_cluster();
	char path[] = "/tmp/pgscope-sq-XXXXXX.ini", err[256];
	int fd = mkstemps(path, 4);
	FILE *f;
	struct pool *p;

	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	fprintf(f,
	        "[pgscope]\nlisten_port = 1\nauth_type = trust\n[databases]\n"
	        "postgres = host=%s port=%d dbname=postgres user=postgres\n",
	        cl->host, cl->port);
	fclose(f);
	config_init_defaults(&cfg);
	if (!config_load(&cfg, path, err, sizeof(err))) {
		fprintf(stderr, "config: %s\n", err);
		remove(path);
		return -1;
	}
	remove(path);
	log_setup(NULL, false, LOG_WARNING);
	pooler_init_state(&cfg, ev_default_loop(0));
	p = pool_get(pooler.loop, config_find_db(&cfg, "postgres"), "postgres", err, sizeof(err));
	if (p == NULL)
		return -1;
	sv = server_connect(p, p->primary);
	if (sv == NULL || !run_until_idle()) {
		fprintf(stderr, "the server did not log in\n");
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	server_close(sv, "test done");
	config_free(&cfg);
	return 0;
}

/* Several rows, several columns, a NULL: exactly what libpq reads for the same SQL. */
static void test_rows_match_libpq(void **state)
{
	static const char sql[] = "SELECT g, repeat('v', g), CASE WHEN g % 2 = 0 THEN NULL END "
	                          "FROM generate_series(1, 40) g ORDER BY g";
	static struct collected got;
	PGconn *conn = harness_connect_primary();
	PGresult *res;

	assert_non_null(conn);
	res = PQexec(conn, sql);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	memset(&got, 0, sizeof(got));
	assert_true(server_query(sv, sql, &collect_ops, &got));
	assert_true(run_until(&got.done));
	assert_false(got.failed);
	assert_int_equal(got.rows, PQntuples(res));
	assert_int_equal(got.columns, 3);
	for (int r = 0; r < got.rows; r++) {
		for (int c = 0; c < 3; c++) {
			const char *want =
			    PQgetisnull(res, r, c) ? "<null>" : PQgetvalue(res, r, c);

			assert_string_equal(got.values[r][c], want);
		}
	}
	PQclear(res);
	PQfinish(conn);
	assert_int_equal(sv->state, SV_IDLE);
}

/* pg_stat_activity seen from the pooler's own connection: it and a libpq client are there. */
static void test_pg_stat_activity_pids(void **state)
{
	static struct collected got;
	PGconn *conn = harness_connect_primary();
	char own[16], other[16];
	bool saw_own = false, saw_other = false;

	assert_non_null(conn);
	snprintf(own, sizeof(own), "%u", sv->backend_pid);
	snprintf(other, sizeof(other), "%d", PQbackendPID(conn));
	memset(&got, 0, sizeof(got));
	assert_true(server_query(sv,
	                         "SELECT pid, usename FROM pg_stat_activity "
	                         "WHERE backend_type = 'client backend' ORDER BY pid",
	                         &collect_ops, &got));
	assert_true(run_until(&got.done));
	assert_false(got.failed);
	assert_true(got.rows >= 2);
	for (int r = 0; r < got.rows; r++) {
		saw_own |= strcmp(got.values[r][0], own) == 0;
		saw_other |= strcmp(got.values[r][0], other) == 0;
		assert_string_equal(got.values[r][1], "postgres");
	}
	assert_true(saw_own);
	assert_true(saw_other);
	PQfinish(conn);
}

/* An error ends the query as failed, with the server's SQLSTATE; the connection goes on. */
static void test_error_reported(void **state)
{
	static struct collected got;

	memset(&got, 0, sizeof(got));
	assert_true(server_query(sv, "SELECT 1 / 0", &collect_ops, &got));
	assert_true(run_until(&got.done));
	assert_true(got.failed);
	assert_string_equal(sv->error_sqlstate, "22012");
	assert_int_equal(got.rows, 0);
	memset(&got, 0, sizeof(got));
	assert_true(server_query(sv, "SELECT 'still here'", &collect_ops, &got));
	assert_true(run_until(&got.done));
	assert_false(got.failed);
	assert_string_equal(got.values[0][0], "still here");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows_match_libpq),
	    cmocka_unit_test(test_pg_stat_activity_pids),
	    cmocka_unit_test(test_error_reported),
	};

	if (harness_direct_mode())
		return 0; /* the pooler's own connection is what is tested */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
