/*
 * test_txn_session_state.c - session state that must not pass from one client to the next in
 * transaction mode: SET ROLE and SET SESSION AUTHORIZATION in each of their spellings, SET
 * SCHEMA, SETs inside multi-statement queries and inside committed transaction blocks, and
 * set_config() in a SELECT. The pool has ONE server, so every client shares it: what one client
 * leaves behind, the next one would see. Each client must still see its own settings.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

#define ROLE_A  "pgscope_ss_role_a"
#define ROLE_B  "pgscope_ss_role_b"
#define SCHEMA  "pgscope_ss_schema"
#define CURRENT "SELECT current_user || '/' || session_user"

static struct harness_pgscope ps;

/* Roles and schema on the primary; dropped again at the end (and first, if a run was killed). */
static bool primary_objects(bool create)
{
	PGconn *conn = harness_connect_primary();
	bool ok;

	if (conn == NULL)
		return false;
	ok = harness_exec_ok(conn, "DROP SCHEMA IF EXISTS " SCHEMA) &&
	     harness_exec_ok(conn, "DROP ROLE IF EXISTS " ROLE_A) &&
	     harness_exec_ok(conn, "DROP ROLE IF EXISTS " ROLE_B);
	if (ok && create)
		ok = harness_exec_ok(conn, "CREATE ROLE " ROLE_A " NOLOGIN") &&
		     harness_exec_ok(conn, "CREATE ROLE " ROLE_B " NOLOGIN") &&
		     harness_exec_ok(conn, "CREATE SCHEMA " SCHEMA);
	PQfinish(conn);
	return ok;
}

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {.pool_mode = "transaction", .pool_size = 1};

	if (!primary_objects(true))
		return -1;
	return harness_pgscope_start(&ps, &opts) ? 0 : -1;
}

static int group_teardown(void **state)
{
	bool stopped = harness_pgscope_stop(&ps);

	return primary_objects(false) && stopped ? 0 : -1;
}

static int check_alive(void **state)
{
	return harness_pgscope_alive(&ps) ? 0 : -1;
}

/* Assert that SQL on CONN returns WANT as its one value. */
static void expect_result(PGconn *conn, const char *sql, const char *want)
{
	char got[256];

	assert_true(harness_query_value(conn, sql, got, sizeof(got)));
	if (strcmp(got, want) != 0)
		fprintf(stderr, "\"%s\": expected \"%s\", got \"%s\"\n", sql, want, got);
	assert_string_equal(got, want);
}

/* Two clients of the one server. */
static void connect_two(PGconn **one, PGconn **two)
{
	*one = harness_connect(ps.port, NULL);
	*two = harness_connect(ps.port, NULL);
	assert_non_null(*one);
	assert_non_null(*two);
}

/*
 * ONE runs SQL (one or more statements) that makes it ROLE_A; TWO, on the same server, must
 * still be postgres, and ONE must stay ROLE_A on its next transactions.
 */
static void check_role_set(const char *const *sql, size_t n)
{
	PGconn *one, *two;

	connect_two(&one, &two);
	for (size_t i = 0; i < n; i++)
		assert_true(harness_exec_ok(one, sql[i]));
	expect_result(two, CURRENT, "postgres/postgres");
	expect_result(one, CURRENT, ROLE_A "/postgres");
	expect_result(two, CURRENT, "postgres/postgres");
	expect_result(one, CURRENT, ROLE_A "/postgres");
	assert_true(harness_exec_ok(one, "RESET ROLE"));
	expect_result(one, CURRENT, "postgres/postgres");
	PQfinish(one);
	PQfinish(two);
}

static void test_set_role_forms(void **state)
{
	static const char *const forms[] = {
	    "SET ROLE " ROLE_A,
	    "SET ROLE TO " ROLE_A,
	    "SET ROLE = '" ROLE_A "'",
	    "SET SESSION ROLE " ROLE_A,
	    "set role \"" ROLE_A "\"",
	    "SET role TO PGSCOPE_SS_ROLE_A",
	    "/* c */ SET ROLE " ROLE_A " ;",
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		check_role_set(&forms[i], 1);
}

/* The role must also follow when set in a multi-statement query or a committed block. */
static void test_set_role_multi_and_block(void **state)
{
	static const char *const multi[] = {"SET ROLE " ROLE_A "; SELECT 1"};
	static const char *const multi_after[] = {"SELECT 1; SET ROLE " ROLE_A};
	static const char *const block[] = {"BEGIN", "SET ROLE " ROLE_A, "COMMIT"};
	static const char *const block_one[] = {"BEGIN; SET ROLE " ROLE_A "; COMMIT"};
	static const char *const via_config[] = {"SELECT set_config('role', '" ROLE_A "', false)"};
	PGconn *one, *two;

	check_role_set(multi, 1);
	check_role_set(multi_after, 1);
	check_role_set(block, 3);
	check_role_set(block_one, 1);

	/* A block that rolls back, or a failed multi-statement query, leaves no role at all. */
	connect_two(&one, &two);
	assert_true(harness_exec_ok(one, "BEGIN"));
	assert_true(harness_exec_ok(one, "SET ROLE " ROLE_A));
	assert_true(harness_exec_ok(one, "ROLLBACK"));
	expect_result(one, CURRENT, "postgres/postgres");
	assert_true(txn_expect_error(one, "SET ROLE " ROLE_A "; SELECT 1/0", "22012", NULL, 0));
	expect_result(one, CURRENT, "postgres/postgres");
	expect_result(two, CURRENT, "postgres/postgres");

	/* set_config() is not followed, but must not reach the next client either. */
	assert_true(harness_exec_ok(one, via_config[0]));
	expect_result(two, CURRENT, "postgres/postgres");
	PQfinish(one);
	PQfinish(two);
}

static void test_session_authorization(void **state)
{
	static const char *const forms[] = {
	    "SET SESSION AUTHORIZATION " ROLE_B,
	    "SET SESSION AUTHORIZATION '" ROLE_B "'",
	    "SET SESSION SESSION AUTHORIZATION " ROLE_B,
	};
	static const char *const resets[] = {
	    "RESET SESSION AUTHORIZATION",
	    "SET SESSION AUTHORIZATION DEFAULT",
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		PGconn *one, *two;

		connect_two(&one, &two);
		assert_true(harness_exec_ok(one, forms[i]));
		expect_result(two, CURRENT, "postgres/postgres");
		expect_result(one, CURRENT, ROLE_B "/" ROLE_B);
		expect_result(two, CURRENT, "postgres/postgres");
		assert_true(harness_exec_ok(one, resets[i % 2]));
		expect_result(one, CURRENT, "postgres/postgres");
		PQfinish(one);
		PQfinish(two);
	}
}

/* SET ROLE, then SET SESSION AUTHORIZATION (which drops the role) on one client. */
static void test_role_then_authorization(void **state)
{
	PGconn *one, *two;

	connect_two(&one, &two);
	assert_true(harness_exec_ok(one, "SET ROLE " ROLE_A));
	assert_true(harness_exec_ok(one, "SET SESSION AUTHORIZATION " ROLE_B));
	expect_result(two, CURRENT, "postgres/postgres");
	expect_result(one, CURRENT, ROLE_B "/" ROLE_B);
	assert_true(harness_exec_ok(two, "SET ROLE " ROLE_A));
	expect_result(one, CURRENT, ROLE_B "/" ROLE_B);
	expect_result(two, CURRENT, ROLE_A "/postgres");
	PQfinish(one);
	expect_result(two, CURRENT, ROLE_A "/postgres");
	PQfinish(two);
}

static void test_set_schema(void **state)
{
	PGconn *one, *two;
	char dflt[256];

	connect_two(&one, &two);
	assert_true(harness_query_value(two, "SHOW search_path", dflt, sizeof(dflt)));
	assert_true(harness_exec_ok(one, "SET SCHEMA '" SCHEMA "'"));
	expect_result(two, "SHOW search_path", dflt);
	expect_result(one, "SELECT current_schema()", SCHEMA);
	expect_result(two, "SHOW search_path", dflt);
	PQfinish(one);
	PQfinish(two);
}

/* SETs in multi-statement queries, before and after another statement. */
static void test_multi_statement_set(void **state)
{
	PGconn *one, *two;
	char dflt[64];

	connect_two(&one, &two);
	assert_true(harness_query_value(two, "SHOW work_mem", dflt, sizeof(dflt)));
	assert_true(harness_exec_ok(one, "SET work_mem='22MB'; SELECT 1"));
	expect_result(two, "SHOW work_mem", dflt);
	expect_result(one, "SHOW work_mem", "22MB");
	assert_true(harness_exec_ok(one, "SELECT 1; SET work_mem='23MB'"));
	expect_result(two, "SHOW work_mem", dflt);
	expect_result(one, "SHOW work_mem", "23MB");
	/* A failed query rolls its SET back. */
	assert_true(txn_expect_error(one, "SET work_mem='24MB'; SELECT 1/0", "22012", NULL, 0));
	expect_result(one, "SHOW work_mem", "23MB");
	expect_result(two, "SHOW work_mem", dflt);
	/* A SET in a committed block persists, as it does in PostgreSQL. */
	assert_true(harness_exec_ok(one, "BEGIN; SET work_mem='25MB'; COMMIT"));
	expect_result(two, "SHOW work_mem", dflt);
	expect_result(one, "SHOW work_mem", "25MB");
	/* SET LOCAL ends with its transaction. */
	assert_true(harness_exec_ok(one, "BEGIN; SET LOCAL work_mem='26MB'; COMMIT"));
	expect_result(one, "SHOW work_mem", "25MB");
	/* DISCARD ALL takes the client back to its login settings, on every server. */
	assert_true(harness_exec_ok(one, "DISCARD ALL"));
	expect_result(two, "SHOW work_mem", dflt);
	expect_result(one, "SHOW work_mem", dflt);
	PQfinish(one);
	PQfinish(two);
}

/*
 * Collect a pipeline's results up to its next Sync; false if one had a status other than WANT
 * (or the Sync never came).
 */
static bool pipeline_results(PGconn *conn, ExecStatusType want)
{
	bool ok = true;

	for (int i = 0; i < 16; i++) { /* a handful are due; more means something is wrong */
		PGresult *res = PQgetResult(conn);

		if (res == NULL)
			continue; /* the end of one query's results */
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			return ok;
		}
		if (PQresultStatus(res) != want)
			ok = false;
		PQclear(res);
	}
	fprintf(stderr, "pipeline: no Sync result\n");
	return false;
}

/*
 * Two requests in one pipeline: the first SET fails (and never answers "SET"), the second
 * succeeds. Only the second may become the client's setting.
 */
static void test_pipelined_sets(void **state)
{
	PGconn *one, *two;
	char dflt[64];

	connect_two(&one, &two);
	assert_true(harness_query_value(two, "SHOW work_mem", dflt, sizeof(dflt)));
	assert_int_equal(PQenterPipelineMode(one), 1);
	assert_int_equal(PQsendQueryParams(one, "SET ROLE pgscope_ss_no_such_role", 0, NULL, NULL,
	                                   NULL, NULL, 0),
	                 1);
	assert_int_equal(PQpipelineSync(one), 1);
	assert_int_equal(
	    PQsendQueryParams(one, "SET work_mem = '27MB'", 0, NULL, NULL, NULL, NULL, 0), 1);
	assert_int_equal(PQpipelineSync(one), 1);
	assert_false(pipeline_results(one, PGRES_COMMAND_OK));
	assert_true(pipeline_results(one, PGRES_COMMAND_OK));
	assert_int_equal(PQexitPipelineMode(one), 1);
	expect_result(two, "SHOW work_mem", dflt);
	expect_result(one, "SHOW work_mem", "27MB");
	expect_result(one, CURRENT, "postgres/postgres");
	PQfinish(one);
	PQfinish(two);
}

/* What cannot be followed must still not reach the next client. */
static void test_untrackable_set(void **state)
{
	PGconn *one, *two;
	PGresult *res;

	connect_two(&one, &two);
	/* A savepoint rollback: which SETs survived cannot be told from the answers. */
	assert_true(harness_exec_ok(one, "BEGIN; SET ROLE " ROLE_A "; SAVEPOINT s"));
	assert_true(harness_exec_ok(one, "ROLLBACK TO SAVEPOINT s"));
	assert_true(harness_exec_ok(one, "COMMIT"));
	expect_result(two, CURRENT, "postgres/postgres");
	assert_true(harness_exec_ok(one, "RESET ROLE"));

	/* A named prepared statement, executed after its Parse. */
	res = PQprepare(one, "set_role_stmt", "SET ROLE " ROLE_A, 0, NULL);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	res = PQexecPrepared(one, "set_role_stmt", 0, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	expect_result(two, CURRENT, "postgres/postgres");

	/* An unnamed one (as pgjdbc sends every statement) is followed. */
	res = PQexecParams(one, "SET ROLE " ROLE_A, 0, NULL, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	expect_result(two, CURRENT, "postgres/postgres");
	expect_result(one, CURRENT, ROLE_A "/postgres");

	/* RESET ALL leaves the role, as in PostgreSQL. */
	assert_true(harness_exec_ok(one, "RESET ALL"));
	expect_result(two, CURRENT, "postgres/postgres");
	expect_result(one, CURRENT, ROLE_A "/postgres");
	PQfinish(one);
	PQfinish(two);
}

/* Count the lines of pgscope's log that contain NEEDLE. */
static int log_count(const char *needle)
{
	return (int)harness_file_count_lines(ps.log_path, needle);
}

/* Session-only state is logged, once per client. */
static void test_session_only_warnings(void **state)
{
	PGconn *one = harness_connect(ps.port, NULL);

	if (harness_direct_mode())
		skip();
	assert_non_null(one);
	for (int i = 0; i < 2; i++) {
		assert_true(harness_exec_ok(
		    one, "SELECT pg_advisory_lock(4242), pg_advisory_unlock(4242)"));
		assert_true(harness_exec_ok(one, "CREATE TEMP TABLE pgscope_ss_tmp (a int); "
		                                 "DROP TABLE pgscope_ss_tmp"));
		assert_true(harness_exec_ok(one, "CREATE TEMP TABLE pgscope_ss_tmp2 (a int) "
		                                 "ON COMMIT DROP"));
	}
	PQfinish(one);
	assert_int_equal(log_count("session advisory lock"), 1);
	assert_int_equal(log_count("temporary table without ON COMMIT DROP"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_set_role_forms, check_alive),
	    cmocka_unit_test_teardown(test_set_role_multi_and_block, check_alive),
	    cmocka_unit_test_teardown(test_session_authorization, check_alive),
	    cmocka_unit_test_teardown(test_role_then_authorization, check_alive),
	    cmocka_unit_test_teardown(test_set_schema, check_alive),
	    cmocka_unit_test_teardown(test_multi_statement_set, check_alive),
	    cmocka_unit_test_teardown(test_pipelined_sets, check_alive),
	    cmocka_unit_test_teardown(test_untrackable_set, check_alive),
	    cmocka_unit_test_teardown(test_session_only_warnings, check_alive),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
