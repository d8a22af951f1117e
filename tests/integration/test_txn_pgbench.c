/*
 * test_txn_pgbench.c - 2,000 pgbench clients (-M prepared -S) over a pool of 20 servers in
 * transaction mode: no failed transaction, and the primary never sees more than 20 backends from
 * pgscope's pool.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

#define DB        "txn_bench"
#define CLIENTS   2000
#define POOL_SIZE 20
/* Seconds pgbench runs: 10 in make check, PGSCOPE_SOAK_SECONDS (30 in make soak) otherwise. */
static char duration_s[16] = "10";
#define NOFILE_WANT 8192

static struct harness_pgscope ps;
static char port_str[16];

/* The pgbench run, in a thread so that the main thread can watch the primary meanwhile. */
struct bench_run {
	struct harness_run_result res;
	bool started;
	atomic_bool done;
};

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction", .pool_size = POOL_SIZE, .max_client_conn = CLIENTS + 100};
	PGconn *primary;

	/* pgscope and pgbench each hold one descriptor per client: both inherit this. */
	if (txn_raise_nofile(NOFILE_WANT) < CLIENTS + 500) {
		fprintf(stderr, "cannot raise the open-file limit to %d\n", NOFILE_WANT);
		return -1;
	}
	/* A database of its own, so that its backends in pg_stat_activity are pgscope's pool. */
	primary = harness_connect_primary();
	if (primary == NULL)
		return -1;
	if (!harness_exec_ok(primary, "SET client_min_messages = warning") ||
	    !harness_exec_ok(primary, "DROP DATABASE IF EXISTS " DB " WITH (FORCE)") ||
	    !harness_exec_ok(primary, "CREATE DATABASE " DB)) {
		PQfinish(primary);
		return -1;
	}
	PQfinish(primary);
	return harness_pgscope_start(&ps, &opts) ? 0 : -1;
}

static int group_teardown(void **state)
{
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

/* The number after LABEL in pgbench's report, or -1 when the line is missing. */
static long report_number(const char *output, const char *label)
{
	const char *p = strstr(output, label);

	if (p == NULL)
		return -1;
	return strtol(p + strlen(label), NULL, 10);
}

static void *bench_thread(void *arg)
{
	struct bench_run *run = arg;
	const char *argv[] = {"pgbench", "-M", "prepared", "-S", "-c", "2000",      "-j",
	                      "4",       "-T", duration_s, "-n", "-h", "127.0.0.1", "-p",
	                      port_str,  "-U", "postgres", DB,   NULL};

	run->started = harness_run(argv, NULL, atoi(duration_s) + 110, &run->res);
	atomic_store(&run->done, true);
	return NULL;
}

static void test_2000_clients_pool_20(void **state)
{
	const char *init[] = {"pgbench", "-i", "-s", "1",        "-q", "-h", "127.0.0.1",
	                      "-p",      NULL, "-U", "postgres", DB,   NULL};
	char primary_port[16];
	struct harness_run_result res;
	struct bench_run run = {.started = false};
	pthread_t thread;
	long max_backends = 0, samples = 0, done, failed, clients;
	PGconn *primary;

	if (harness_direct_mode())
		skip(); /* measures pgscope's pool */
	/* Load the tables directly: the run itself is what goes through pgscope. */
	snprintf(primary_port, sizeof(primary_port), "%d", harness_cluster()->port);
	init[8] = primary_port;
	assert_true(harness_run(init, NULL, 120, &res));
	if (res.exit_code != 0)
		fprintf(stderr, "pgbench -i:\n%s\n", res.output);
	assert_int_equal(res.exit_code, 0);
	harness_run_result_free(&res);

	snprintf(port_str, sizeof(port_str), "%d", ps.port);
	primary = harness_connect_primary();
	assert_non_null(primary);
	assert_int_equal(pthread_create(&thread, NULL, bench_thread, &run), 0);
	while (!atomic_load(&run.done)) {
		PGresult *r =
		    PQexec(primary, "SELECT count(*) FROM pg_stat_activity WHERE datname = '" DB
		                    "' AND backend_type = 'client backend'");

		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			long n = atol(PQgetvalue(r, 0, 0));

			if (n > max_backends)
				max_backends = n;
			samples++;
		}
		PQclear(r);
		harness_sleep_ms(25);
	}
	pthread_join(thread, NULL);
	PQfinish(primary);

	assert_true(run.started);
	done = report_number(run.res.output, "number of transactions actually processed: ");
	failed = report_number(run.res.output, "number of failed transactions: ");
	clients = report_number(run.res.output, "number of clients: ");
	printf("pgbench -M prepared -S, %d clients, pool %d, %s s: %ld transactions, %ld failed; "
	       "at most %ld server backends in %ld samples of pg_stat_activity\n",
	       CLIENTS, POOL_SIZE, duration_s, done, failed, max_backends, samples);
	for (const char *line = strstr(run.res.output, "initial connection time"); line != NULL;
	     line = strstr(line + 1, "tps = ")) {
		printf("  %.*s\n", (int)strcspn(line, "\n"), line);
	}
	if (run.res.exit_code != 0 || failed != 0 || done <= 0)
		fprintf(stderr, "pgbench output:\n%.4000s\n", run.res.output);
	assert_false(run.res.timed_out);
	assert_int_equal(run.res.exit_code, 0);
	assert_int_equal(clients, CLIENTS);
	assert_true(done > 0);
	assert_int_equal(failed, 0);
	assert_null(strstr(run.res.output, "aborted"));
	/* The pool was used, and never went past its size. */
	assert_true(samples > 50);
	assert_true(max_backends > 0);
	assert_true(max_backends <= POOL_SIZE);
	harness_run_result_free(&run.res);
	assert_true(harness_pgscope_alive(&ps));
}

int main(void)
{
	const char *soak = getenv("PGSCOPE_SOAK_SECONDS");

	if (soak != NULL && atoi(soak) > 0)
		snprintf(duration_s, sizeof(duration_s), "%d", atoi(soak));

	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_2000_clients_pool_20),
	};

	return cmocka_run_group_tests_name("txn_pgbench", tests, group_setup, group_teardown);
}
