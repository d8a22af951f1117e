/*
 * test_copy_notify_cancel.c - COPY both ways, LISTEN/NOTIFY and query cancel through pgscope in
 * session mode.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"

#define COPY_ROWS 100000

static struct harness_pgscope ps;
static char port_str[16];

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {.pool_mode = "session"};

	if (!harness_pgscope_start(&ps, &opts))
		return -1;
	snprintf(port_str, sizeof(port_str), "%d", ps.port);
	return 0;
}

static int group_teardown(void **state)
{
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

static int check_alive(void **state)
{
	return harness_pgscope_alive(&ps) ? 0 : -1;
}

static PGconn *connect_pgscope(void)
{
	PGconn *conn = harness_connect(ps.port, NULL);

	assert_non_null(conn);
	return conn;
}

static void reset_table(PGconn *conn, const char *name)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SET client_min_messages = warning; DROP TABLE IF EXISTS %s; "
	         "CREATE TABLE %s (id int, label text); RESET client_min_messages",
	         name, name);
	assert_true(harness_exec_ok(conn, sql));
}

/* "count|sum(id)|max(label)" of a table, read on the primary directly. */
static void table_digest(const char *name, char *out, size_t outsz)
{
	PGconn *primary = harness_connect_primary();
	char sql[256];

	assert_non_null(primary);
	snprintf(
	    sql, sizeof(sql),
	    "SELECT count(*) || '|' || coalesce(sum(id), 0) || '|' || coalesce(max(label), '') "
	    "FROM %s",
	    name);
	assert_true(harness_query_value(primary, sql, out, outsz));
	PQfinish(primary);
}

/* psql feeds COPY FROM STDIN from its own stdin. */
static void test_copy_from_stdin_psql(void **state)
{
	const char *argv[] = {"psql", "-X",
	                      "-h",   "127.0.0.1",
	                      "-p",   port_str,
	                      "-U",   "postgres",
	                      "-d",   "postgres",
	                      "-v",   "ON_ERROR_STOP=1",
	                      "-c",   "COPY it_cp_psql FROM STDIN",
	                      NULL};
	PGconn *conn = connect_pgscope();
	struct harness_run_result res;
	char digest[128];

	reset_table(conn, "it_cp_psql");
	PQfinish(conn);
	assert_true(harness_run(argv, "1\tone\n2\ttwo\n3\tthree\n", 30, &res));
	if (res.exit_code != 0)
		fprintf(stderr, "psql output:\n%s\n", res.output);
	assert_int_equal(res.exit_code, 0);
	assert_non_null(strstr(res.output, "COPY 3"));
	harness_run_result_free(&res);
	table_digest("it_cp_psql", digest, sizeof(digest));
	assert_string_equal(digest, "3|6|two");
}

/* libpq PQputCopyData in many chunks, 100,000 rows. */
static void test_copy_from_stdin_libpq(void **state)
{
	PGconn *conn = connect_pgscope();
	char chunk[65536], digest[128];
	size_t used = 0;
	PGresult *res;

	reset_table(conn, "it_cp_libpq");
	res = PQexec(conn, "COPY it_cp_libpq FROM STDIN");
	assert_int_equal(PQresultStatus(res), PGRES_COPY_IN);
	PQclear(res);
	for (int i = 1; i <= COPY_ROWS; i++) {
		int n = snprintf(chunk + used, sizeof(chunk) - used, "%d\trow-%06d\n", i, i);

		used += (size_t)n;
		if (used > sizeof(chunk) - 64 || i == COPY_ROWS) {
			assert_int_equal(PQputCopyData(conn, chunk, (int)used), 1);
			used = 0;
		}
	}
	assert_int_equal(PQputCopyEnd(conn, NULL), 1);
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdTuples(res), "100000");
	PQclear(res);
	assert_null(PQgetResult(conn));
	PQfinish(conn);
	table_digest("it_cp_libpq", digest, sizeof(digest));
	assert_string_equal(digest, "100000|5000050000|row-100000");
}

/* Bad COPY data fails with the server's SQLSTATE and leaves the connection usable. */
static void test_copy_from_stdin_bad_data(void **state)
{
	static const char data[] = "1\tok\nnot-a-number\tbad\n";
	PGconn *conn = connect_pgscope();
	PGresult *res;
	char value[32];

	reset_table(conn, "it_cp_bad");
	res = PQexec(conn, "COPY it_cp_bad FROM STDIN");
	assert_int_equal(PQresultStatus(res), PGRES_COPY_IN);
	PQclear(res);
	assert_int_equal(PQputCopyData(conn, data, (int)strlen(data)), 1);
	assert_int_equal(PQputCopyEnd(conn, NULL), 1);
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(harness_sqlstate(res), "22P02");
	PQclear(res);
	assert_null(PQgetResult(conn));
	assert_true(
	    harness_query_value(conn, "SELECT count(*) FROM it_cp_bad", value, sizeof(value)));
	assert_string_equal(value, "0");

	/* A client-side abort (CopyFail) is reported as 57014 by the server. */
	res = PQexec(conn, "COPY it_cp_bad FROM STDIN");
	assert_int_equal(PQresultStatus(res), PGRES_COPY_IN);
	PQclear(res);
	assert_int_equal(PQputCopyData(conn, "5\tx\n", 4), 1);
	assert_int_equal(PQputCopyEnd(conn, "client gave up"), 1);
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(harness_sqlstate(res), "57014");
	PQclear(res);
	assert_null(PQgetResult(conn));
	assert_true(harness_exec_ok(conn, "SELECT 1"));
	PQfinish(conn);
}

/* COPY TO STDOUT through libpq: every row arrives, in order. */
static void test_copy_to_stdout_libpq(void **state)
{
	PGconn *conn = connect_pgscope();
	PGresult *res;
	char *buf;
	int n, rows = 0;
	long long sum = 0;

	res = PQexec(conn, "COPY (SELECT g, 'v' || g FROM generate_series(1, 50000) g) TO STDOUT");
	assert_int_equal(PQresultStatus(res), PGRES_COPY_OUT);
	PQclear(res);
	while ((n = PQgetCopyData(conn, &buf, 0)) > 0) {
		int id;
		char label[32];

		rows++;
		assert_int_equal(sscanf(buf, "%d\t%31s", &id, label), 2);
		assert_int_equal(id, rows);
		sum += id;
		PQfreemem(buf);
	}
	assert_int_equal(n, -1);
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_int_equal(rows, 50000);
	assert_true(sum == 50000LL * 50001LL / 2);
	PQfinish(conn);
}

/* COPY TO STDOUT through psql. */
static void test_copy_to_stdout_psql(void **state)
{
	const char *argv[] = {"psql", "-X",
	                      "-h",   "127.0.0.1",
	                      "-p",   port_str,
	                      "-U",   "postgres",
	                      "-d",   "postgres",
	                      "-v",   "ON_ERROR_STOP=1",
	                      "-c",   "COPY (SELECT g FROM generate_series(1, 1000) g) TO STDOUT",
	                      NULL};
	struct harness_run_result res;
	int lines = 0;

	assert_true(harness_run(argv, NULL, 30, &res));
	assert_int_equal(res.exit_code, 0);
	for (const char *p = res.output; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 1000);
	assert_memory_equal(res.output, "1\n2\n3\n", 6);
	assert_non_null(strstr(res.output, "\n1000\n"));
	harness_run_result_free(&res);
}

/* Two connections through pgscope: a NOTIFY with payload reaches the listener. */
static void test_listen_notify(void **state)
{
	PGconn *listener = connect_pgscope();
	PGconn *notifier = connect_pgscope();
	PGnotify *n;

	assert_true(harness_exec_ok(listener, "LISTEN it_channel"));
	assert_true(harness_exec_ok(notifier, "NOTIFY it_channel, 'hello payload'"));
	n = harness_wait_notify(listener, 5000);
	assert_non_null(n);
	assert_string_equal(n->relname, "it_channel");
	assert_string_equal(n->extra, "hello payload");
	PQfreemem(n);

	/* pg_notify() inside a transaction is delivered at commit, not before. */
	assert_true(harness_exec_ok(notifier, "BEGIN; SELECT pg_notify('it_channel', 'second')"));
	n = harness_wait_notify(listener, 300);
	assert_null(n);
	assert_true(harness_exec_ok(notifier, "COMMIT"));
	n = harness_wait_notify(listener, 5000);
	assert_non_null(n);
	assert_string_equal(n->extra, "second");
	PQfreemem(n);

	/* After UNLISTEN nothing more arrives. */
	assert_true(harness_exec_ok(listener, "UNLISTEN it_channel"));
	assert_true(harness_exec_ok(notifier, "NOTIFY it_channel, 'third'"));
	n = harness_wait_notify(listener, 500);
	assert_null(n);
	PQfinish(notifier);
	PQfinish(listener);
}

/* PQcancel of a running pg_sleep(30): 57014 within 2 s, and the connection still works. */
static void test_cancel_sleep(void **state)
{
	PGconn *conn = connect_pgscope();
	PGcancel *cancel;
	PGresult *res;
	char errbuf[256];
	long long start, elapsed;

	assert_int_equal(PQsendQuery(conn, "SELECT pg_sleep(30) /* it_cancel_one */"), 1);
	assert_true(harness_wait_running("it_cancel_one", 10000));
	cancel = PQgetCancel(conn);
	assert_non_null(cancel);
	start = harness_now_ms();
	assert_int_equal(PQcancel(cancel, errbuf, sizeof(errbuf)), 1);
	PQfreeCancel(cancel);
	res = PQgetResult(conn);
	elapsed = harness_now_ms() - start;
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(harness_sqlstate(res), "57014");
	PQclear(res);
	assert_null(PQgetResult(conn));
	if (elapsed >= 2000)
		fprintf(stderr, "cancel took %lld ms\n", elapsed);
	assert_true(elapsed < 2000);
	assert_true(harness_exec_ok(conn, "SELECT 1"));

	/* A cancel sent while nothing runs does nothing to the next query. */
	cancel = PQgetCancel(conn);
	assert_int_equal(PQcancel(cancel, errbuf, sizeof(errbuf)), 1);
	PQfreeCancel(cancel);
	harness_sleep_ms(200);
	assert_true(harness_exec_ok(conn, "SELECT pg_sleep(0.3)"));
	PQfinish(conn);
}

/* Cancelling one client's query leaves another client's query alone. */
static void test_cancel_hits_only_its_client(void **state)
{
	PGconn *a = connect_pgscope();
	PGconn *b = connect_pgscope();
	PGcancel *cancel;
	PGresult *res;
	char errbuf[256];

	assert_int_equal(PQsendQuery(a, "SELECT pg_sleep(30) /* it_cancel_a */"), 1);
	assert_int_equal(PQsendQuery(b, "SELECT pg_sleep(2), 'b done' /* it_cancel_b */"), 1);
	assert_true(harness_wait_running("it_cancel_a", 10000));
	assert_true(harness_wait_running("it_cancel_b", 10000));
	cancel = PQgetCancel(a);
	assert_int_equal(PQcancel(cancel, errbuf, sizeof(errbuf)), 1);
	PQfreeCancel(cancel);
	res = PQgetResult(a);
	assert_string_equal(harness_sqlstate(res), "57014");
	PQclear(res);
	assert_null(PQgetResult(a));
	res = PQgetResult(b);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 1), "b done");
	PQclear(res);
	assert_null(PQgetResult(b));
	PQfinish(a);
	PQfinish(b);
}

/* Ctrl-C in psql during SELECT pg_sleep(30): psql sends a CancelRequest and the query ends at once.
 */
static void test_cancel_psql_ctrl_c(void **state)
{
	const char *argv[] = {"psql", "-X",       "-h", "127.0.0.1", "-p", port_str,
	                      "-U",   "postgres", "-d", "postgres",  "-c", "SELECT pg_sleep(30)",
	                      NULL};
	struct harness_run_result res;
	long long start = harness_now_ms(), elapsed;

	/* psql must be connected and running the query when the signal comes. */
	assert_true(harness_run_signal(argv, NULL, 40, 1500, SIGINT, &res));
	elapsed = harness_now_ms() - start;
	if (strstr(res.output, "canceling statement due to user request") == NULL)
		fprintf(stderr, "psql output:\n%s\n", res.output);
	assert_false(res.timed_out);
	assert_non_null(strstr(res.output, "canceling statement due to user request"));
	assert_int_equal(res.exit_code, 1);
	assert_true(elapsed < 1500 + 2000);
	harness_run_result_free(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_copy_from_stdin_psql, check_alive),
	    cmocka_unit_test_teardown(test_copy_from_stdin_libpq, check_alive),
	    cmocka_unit_test_teardown(test_copy_from_stdin_bad_data, check_alive),
	    cmocka_unit_test_teardown(test_copy_to_stdout_libpq, check_alive),
	    cmocka_unit_test_teardown(test_copy_to_stdout_psql, check_alive),
	    cmocka_unit_test_teardown(test_listen_notify, check_alive),
	    cmocka_unit_test_teardown(test_cancel_sleep, check_alive),
	    cmocka_unit_test_teardown(test_cancel_hits_only_its_client, check_alive),
	    cmocka_unit_test_teardown(test_cancel_psql_ctrl_c, check_alive),
	};

	return cmocka_run_group_tests_name("copy_notify_cancel", tests, group_setup,
	                                   group_teardown);
}
