/*
 * test_txn_pipeline.c - pipelines with several Syncs in transaction mode: each
 * segment's answers come back in order, whatever the segments before it did;
 * a SET sent with the extended protocol follows the client.
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

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

static struct harness_pgscope ps;

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction", .pool_size = 2, .max_client_conn = 20};

	return harness_pgscope_start(&ps, &opts) ? 0 : -1;
}

static int group_teardown(void **state)
{
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

static int check_alive(void **state)
{
	return harness_pgscope_alive(&ps) ? 0 : -1;
}

/* The next result of a pipeline: STATUS, and for tuples its one value EXPECT.
 */
static void expect_result(PGconn *conn, ExecStatusType status, const char *expect)
{
	PGresult *res = PQgetResult(conn);

	if (PQresultStatus(res) != status)
		fprintf(stderr, "expected %s, got %s: %s", PQresStatus(status),
		        PQresStatus(PQresultStatus(res)), PQerrorMessage(conn));
	assert_int_equal(PQresultStatus(res), status);
	if (expect != NULL)
		assert_string_equal(PQgetvalue(res, 0, 0), expect);
	PQclear(res);
	if (status != PGRES_PIPELINE_SYNC)
		assert_null(PQgetResult(conn));
}

/*
 * Three queries, each followed by its own Sync, sent before reading anything
 * (libpq pipeline mode, as psycopg 3 and pgbench's \startpipeline use it).
 * With FIRST_FAILS the first one raises division_by_zero; the others must
 * still run.
 */
static void run_pipeline(bool first_fails)
{
	PGconn *conn = harness_connect(ps.port, NULL);
	const char *p1[1] = {first_fails ? "0" : "1"}, *p2[1] = {"2"}, *p3[1] = {"3"};

	assert_non_null(conn);
	assert_int_equal(PQenterPipelineMode(conn), 1);
	assert_int_equal(PQsendQueryParams(conn, "SELECT 10 / $1::int", 1, NULL, p1, NULL, NULL, 0),
	                 1);
	assert_int_equal(PQpipelineSync(conn), 1);
	assert_int_equal(
	    PQsendQueryParams(conn, "SELECT $1::int * 100", 1, NULL, p2, NULL, NULL, 0), 1);
	assert_int_equal(PQpipelineSync(conn), 1);
	assert_int_equal(PQsendPrepare(conn, "pipe_named", "SELECT $1::int + 1000", 1, NULL), 1);
	assert_int_equal(PQsendQueryPrepared(conn, "pipe_named", 1, p3, NULL, NULL, 0), 1);
	assert_int_equal(PQpipelineSync(conn), 1);
	if (first_fails)
		expect_result(conn, PGRES_FATAL_ERROR, NULL);
	else
		expect_result(conn, PGRES_TUPLES_OK, "10");
	expect_result(conn, PGRES_PIPELINE_SYNC, NULL);
	expect_result(conn, PGRES_TUPLES_OK, "200");
	expect_result(conn, PGRES_PIPELINE_SYNC, NULL);
	expect_result(conn, PGRES_COMMAND_OK, NULL);
	expect_result(conn, PGRES_TUPLES_OK, "1003");
	expect_result(conn, PGRES_PIPELINE_SYNC, NULL);
	assert_int_equal(PQexitPipelineMode(conn), 1);
	PQfinish(conn);
}

static void test_pipeline_three_syncs(void **state)
{
	run_pipeline(false);
}

static void test_pipeline_error_then_more_syncs(void **state)
{
	run_pipeline(true);
}

/* Read messages until ReadyForQuery; count DataRows; return the 'Z' status (or
 * 0 on error). */
static char read_until_ready(int fd, int *rows, char *first_error_code)
{
	struct harness_msg msg;

	*rows = 0;
	first_error_code[0] = '\0';
	for (;;) {
		char status;

		if (harness_read_msg(fd, &msg, 5000) != 1) {
			fprintf(
			    stderr,
			    "raw client: connection closed or timed out before ReadyForQuery\n");
			return 0;
		}
		if (msg.type == 'D')
			(*rows)++;
		if (msg.type == 'E') {
			char text[256] = "";

			harness_error_field(&msg, 'M', text, sizeof(text));
			fprintf(stderr, "raw client: ErrorResponse: %s\n", text);
			if (first_error_code[0] == '\0')
				harness_error_field(&msg, 'C', first_error_code, 6);
		}
		status = msg.type == 'Z' && msg.len > 0 ? msg.data[0] : 0;
		free(msg.data);
		if (status != 0)
			return status;
	}
}

/* A simple Query ('BEGIN') and, before its ReadyForQuery,
 * Parse/Bind/Execute/Sync. */
static void test_simple_query_then_parse_pipelined(void **state)
{
	static const char parse[] = "\0SELECT 42\0\0\0"; /* unnamed, no parameter types */
	static const char bind[] = "\0\0\0\0\0\0\0\0";   /* unnamed portal and statement */
	static const char execute[] = "\0\0\0\0\0";      /* unnamed portal, no row limit */
	char buf[256], err[8];
	size_t used = 0;
	int fd = harness_tcp_connect(ps.port), rows;

	assert_true(fd >= 0);
	assert_true(harness_raw_login(fd, "postgres", "postgres", 5000));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'Q', "BEGIN", 6));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'P', parse, sizeof(parse) - 1));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'B', bind, sizeof(bind) - 1));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'E', execute, sizeof(execute) - 1));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'S', NULL, 0));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'Q', "COMMIT", 7));
	assert_true(harness_send_all(fd, buf, used));
	assert_int_equal(read_until_ready(fd, &rows, err), 'T');
	assert_int_equal(read_until_ready(fd, &rows, err), 'T');
	assert_string_equal(err, "");
	assert_int_equal(rows, 1);
	assert_int_equal(read_until_ready(fd, &rows, err), 'I');
	close(fd);
}

/*
 * SET sent with the extended protocol (as pgjdbc sends every statement, and
 * libpq's PQexecParams) follows the client like a simple-protocol SET: on
 * whichever server it lands, in every round.
 */
static void test_set_via_extended_protocol(void **state)
{
	PGconn *a = harness_connect(ps.port, NULL), *h = harness_connect(ps.port, NULL);
	PGresult *res;
	char value[128];

	assert_non_null(a);
	assert_non_null(h);
	res = PQexecParams(a, "SET search_path = ext_set_path", 0, NULL, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	for (int round = 0; round < 6; round++) {
		/* Every other round another client holds one of the two servers. */
		if (round % 2 == 1) {
			assert_true(harness_exec_ok(h, "BEGIN"));
			assert_true(harness_exec_ok(h, "SELECT 1"));
		}
		assert_true(harness_query_value(a, "SELECT current_setting('search_path')", value,
		                                sizeof(value)));
		if (strcmp(value, "ext_set_path") != 0)
			fail_msg("round %d: search_path is \"%s\", not ext_set_path", round, value);
		if (round % 2 == 1)
			assert_true(harness_exec_ok(h, "COMMIT"));
	}
	PQfinish(a);
	PQfinish(h);
}

/* A SET sent with the extended protocol never shows in another client's session (pool of one). */
static void test_extended_set_does_not_leak(void **state)
{
	struct harness_pgscope one;
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction", .pool_size = 1, .max_client_conn = 20};
	PGconn *a, *b;
	PGresult *res;
	char value[128];

	assert_true(harness_pgscope_start(&one, &opts));
	a = harness_connect(one.port, NULL);
	b = harness_connect(one.port, NULL);
	assert_non_null(a);
	assert_non_null(b);
	res = PQexecParams(a, "SET search_path = leaked_from_a", 0, NULL, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_true(
	    harness_query_value(b, "SELECT current_setting('search_path')", value, sizeof(value)));
	assert_string_equal(value, "\"$user\", public");
	assert_true(
	    harness_query_value(a, "SELECT current_setting('search_path')", value, sizeof(value)));
	assert_string_equal(value, "leaked_from_a");
	PQfinish(a);
	PQfinish(b);
	assert_true(harness_pgscope_stop(&one));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_pipeline_three_syncs, check_alive),
	    cmocka_unit_test_teardown(test_pipeline_error_then_more_syncs, check_alive),
	    cmocka_unit_test_teardown(test_simple_query_then_parse_pipelined, check_alive),
	    cmocka_unit_test_teardown(test_set_via_extended_protocol, check_alive),
	    cmocka_unit_test_teardown(test_extended_set_does_not_leak, check_alive),
	};

	return cmocka_run_group_tests_name("txn_pipeline", tests, group_setup, group_teardown);
}
