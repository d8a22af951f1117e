/*
 * test_pgbench.c - pgbench -i, then -S and -N in every query mode with 32 clients, through pgscope
 * in session mode.
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

#define CLIENTS "32"
#define SECONDS "3"

static struct harness_pgscope ps;
static char port_str[16];

static int group_setup(void **state)
{
	/* Session mode holds one server per client: the pool must fit all 32. */
	struct harness_pgscope_opts opts = {
	    .pool_mode = "session", .pool_size = 40, .max_client_conn = 100};

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

/* The number after LABEL in pgbench's report, or -1 when the line is missing. */
static long report_number(const char *output, const char *label)
{
	const char *p = strstr(output, label);

	if (p == NULL)
		return -1;
	return strtol(p + strlen(label), NULL, 10);
}

static void test_pgbench_init(void **state)
{
	const char *argv[] = {"pgbench", "-i",     "-s", "1",        "-h",       "127.0.0.1",
	                      "-p",      port_str, "-U", "postgres", "postgres", NULL};
	struct harness_run_result res;

	assert_true(harness_run(argv, NULL, 120, &res));
	if (res.exit_code != 0)
		fprintf(stderr, "pgbench -i output:\n%s\n", res.output);
	assert_int_equal(res.exit_code, 0);
	assert_non_null(strstr(res.output, "done in"));
	harness_run_result_free(&res);

	/* The data arrived on the primary (pgbench -i loads with COPY). */
	PGconn *primary = harness_connect_primary();
	char value[32];

	assert_non_null(primary);
	assert_true(harness_query_value(primary, "SELECT count(*) FROM pgbench_accounts", value,
	                                sizeof(value)));
	assert_string_equal(value, "100000");
	PQfinish(primary);
}

/* Run pgbench with a built-in script (-S or -N) in a query mode; 0 failures, work done. */
static void run_pgbench(const char *script, const char *mode)
{
	const char *argv[] = {"pgbench", script, "-M",       mode,       "-c", CLIENTS,     "-j",
	                      "2",       "-T",   SECONDS,    "-n",       "-h", "127.0.0.1", "-p",
	                      port_str,  "-U",   "postgres", "postgres", NULL};
	struct harness_run_result res;
	long done, failed, clients;

	assert_true(harness_run(argv, NULL, 60, &res));
	done = report_number(res.output, "number of transactions actually processed: ");
	failed = report_number(res.output, "number of failed transactions: ");
	clients = report_number(res.output, "number of clients: ");
	if (res.exit_code != 0 || done <= 0 || failed != 0)
		fprintf(stderr, "pgbench %s -M %s output:\n%s\n", script, mode, res.output);
	else
		printf("pgbench %s -M %s: %ld transactions, %ld failed\n", script, mode, done,
		       failed);
	assert_false(res.timed_out);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(clients, 32);
	assert_true(done > 0);
	assert_int_equal(failed, 0);
	assert_null(strstr(res.output, "aborted"));
	harness_run_result_free(&res);
}

static void test_select_only_simple(void **state)
{
	run_pgbench("-S", "simple");
}

static void test_select_only_extended(void **state)
{
	run_pgbench("-S", "extended");
}

static void test_select_only_prepared(void **state)
{
	run_pgbench("-S", "prepared");
}

static void test_simple_update_simple(void **state)
{
	run_pgbench("-N", "simple");
}

static void test_simple_update_extended(void **state)
{
	run_pgbench("-N", "extended");
}

static void test_simple_update_prepared(void **state)
{
	run_pgbench("-N", "prepared");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_pgbench_init, check_alive),
	    cmocka_unit_test_teardown(test_select_only_simple, check_alive),
	    cmocka_unit_test_teardown(test_select_only_extended, check_alive),
	    cmocka_unit_test_teardown(test_select_only_prepared, check_alive),
	    cmocka_unit_test_teardown(test_simple_update_simple, check_alive),
	    cmocka_unit_test_teardown(test_simple_update_extended, check_alive),
	    cmocka_unit_test_teardown(test_simple_update_prepared, check_alive),
	};

	return cmocka_run_group_tests_name("pgbench", tests, group_setup, group_teardown);
}
