/*
 * test_drivers.c - real client drivers through pgscope in transaction mode, prepared statements
 * included.
 *
 * Six clients share a pool of two server connections, so a client's named
 * statements must follow it onto servers that have never seen them. Each
 * driver runs a checked workload from tests/integration/drivers/ and must
 * report 0 errors: libpq (PQprepare/PQexecPrepared, here in C), pgbench -M
 * prepared, psycopg 3 (prepare_threshold=0 and pipeline mode), asyncpg (its
 * statement cache), pgjdbc (prepareThreshold=1) and node-postgres (named
 * queries).
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"

#define POOL_SIZE 2
#define CLIENTS   "6"
#define ROUNDS    "40"

static struct harness_pgscope ps;
static char port_str[16];

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {.pool_mode = "transaction", .pool_size = POOL_SIZE};
	PGconn *primary = harness_connect_primary();

#ifdef DRIVERS_READ_ROUTING
	opts.read_routing = true;
	opts.extra_main = "replica_check_period = 100ms\n";
#endif
	bool ok;

	if (primary == NULL)
		return -1;
	ok = harness_exec_ok(primary, "CREATE TABLE IF NOT EXISTS it_drivers (id bigserial PRIMARY "
	                              "KEY, who text NOT NULL, n int NOT NULL)");
	PQfinish(primary);
	if (!ok || !harness_pgscope_start(&ps, &opts))
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

/* Client backends on the primary other than the caller's own: pgscope's servers. */
static int server_backends(PGconn *primary)
{
	char value[32];

	if (!harness_query_value(
	        primary,
	        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
	        "'client backend' AND datname = 'postgres' AND pid <> pg_backend_pid()",
	        value, sizeof(value)))
		return -1;
	return atoi(value);
}

/* One libpq client: named statements prepared once, used across transactions. */
struct libpq_client {
	int id;
	int statements;
	char error[256];
};

static bool libpq_check(struct libpq_client *cl, PGresult *res, ExecStatusType want,
                        const char *value)
{
	bool ok =
	    PQresultStatus(res) == want &&
	    (value == NULL || (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), value) == 0));

	if (!ok && cl->error[0] == '\0')
		snprintf(cl->error, sizeof(cl->error), "client %d: status %s, value '%s': %s",
		         cl->id, PQresStatus(PQresultStatus(res)),
		         PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "",
		         PQresultErrorMessage(res));
	PQclear(res);
	if (ok)
		cl->statements++;
	return ok;
}

static void *libpq_client_run(void *arg)
{
	struct libpq_client *cl = arg;
	PGconn *conn = harness_connect(ps.port, NULL);
	char who[32], num[16], want[32];
	const char *params[2];

	if (conn == NULL) {
		snprintf(cl->error, sizeof(cl->error), "client %d: could not connect", cl->id);
		return NULL;
	}
	snprintf(who, sizeof(who), "libpq-%d", cl->id);
	params[0] = who;
	if (!libpq_check(cl,
	                 PQexecParams(conn, "DELETE FROM it_drivers WHERE who = $1", 1, NULL,
	                              params, NULL, NULL, 0),
	                 PGRES_COMMAND_OK, NULL) ||
	    !libpq_check(cl, PQprepare(conn, "it_add", "SELECT $1::int + $2::int", 2, NULL),
	                 PGRES_COMMAND_OK, NULL) ||
	    !libpq_check(cl,
	                 PQprepare(conn, "it_ins",
	                           "INSERT INTO it_drivers (who, n) VALUES ($1, $2) RETURNING n", 2,
	                           NULL),
	                 PGRES_COMMAND_OK, NULL) ||
	    !libpq_check(cl,
	                 PQprepare(conn, "it_cnt", "SELECT count(*) FROM it_drivers WHERE who = $1",
	                           1, NULL),
	                 PGRES_COMMAND_OK, NULL))
		goto out;
	for (int i = 0; i < atoi(ROUNDS); i++) {
		snprintf(num, sizeof(num), "%d", i);
		params[0] = num;
		params[1] = num;
		snprintf(want, sizeof(want), "%d", 2 * i);
		if (!libpq_check(cl, PQexecPrepared(conn, "it_add", 2, params, NULL, NULL, 0),
		                 PGRES_TUPLES_OK, want))
			break;
		params[0] = who;
		snprintf(want, sizeof(want), "%d", i + 1);
		if (!libpq_check(cl, PQexec(conn, "BEGIN"), PGRES_COMMAND_OK, NULL) ||
		    !libpq_check(cl, PQexecPrepared(conn, "it_ins", 2, params, NULL, NULL, 0),
		                 PGRES_TUPLES_OK, num) ||
		    !libpq_check(cl, PQexecPrepared(conn, "it_cnt", 1, params, NULL, NULL, 0),
		                 PGRES_TUPLES_OK, want) ||
		    !libpq_check(cl, PQexec(conn, "COMMIT"), PGRES_COMMAND_OK, NULL))
			break;
	}
out:
	PQfinish(conn);
	return NULL;
}

static void test_libpq_prepared(void **state)
{
	enum { N = 6 };
	struct libpq_client clients[N];
	pthread_t threads[N];
	int total = 0;

	memset(clients, 0, sizeof(clients));
	for (int i = 0; i < N; i++) {
		clients[i].id = i;
		assert_int_equal(pthread_create(&threads[i], NULL, libpq_client_run, &clients[i]),
		                 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < N; i++) {
		if (clients[i].error[0] != '\0')
			fprintf(stderr, "%s\n", clients[i].error);
		total += clients[i].statements;
	}
	printf("libpq: %d clients, %d statements\n", N, total);
	for (int i = 0; i < N; i++)
		assert_string_equal(clients[i].error, "");
}

/* pgbench in a thread, so the main thread can watch the server meanwhile. */
struct pgbench_job {
	struct harness_run_result res;
	bool started;
};

static void *pgbench_run(void *arg)
{
	struct pgbench_job *job = arg;
	/*
	 * One thread per client: pgbench prepares its statements with a blocking
	 * PQprepare, so a thread that owned several clients could wait for a
	 * server while its other clients hold both servers inside BEGIN..END
	 * transactions only that same thread can finish.
	 */
	const char *argv[] = {"pgbench", "-N", "-M",       "prepared", "-c", "16",        "-j",
	                      "16",      "-T", "4",        "-n",       "-h", "127.0.0.1", "-p",
	                      port_str,  "-U", "postgres", "postgres", NULL};

	job->started = harness_run(argv, NULL, 30, &job->res);
	return NULL;
}

/* pgbench -M prepared with 16 clients over 2 servers: 0 failures, never more than 2 backends. */
static void test_pgbench_prepared(void **state)
{
	const char *init[] = {"pgbench", "-i", "-s", "1",        "-q",       "-h", "127.0.0.1",
	                      "-p",      NULL, "-U", "postgres", "postgres", NULL};
	char primary_port[16];
	struct harness_run_result res;
	struct pgbench_job job;
	PGconn *primary = harness_connect_primary();
	pthread_t thread;
	int peak = 0;
	const char *p;

	assert_non_null(primary);
	snprintf(primary_port, sizeof(primary_port), "%d", harness_cluster()->port);
	init[8] = primary_port;
	assert_true(harness_run(init, NULL, 120, &res));
	assert_int_equal(res.exit_code, 0);
	harness_run_result_free(&res);
	/*
	 * pgbench -i ran directly, and earlier tests' pgscope servers are going
	 * away: let those backends finish exiting before counting.
	 */
	for (int i = 0; i < 50 && server_backends(primary) > 0; i++)
		harness_sleep_ms(100);

	memset(&job, 0, sizeof(job));
	assert_int_equal(pthread_create(&thread, NULL, pgbench_run, &job), 0);
	for (int i = 0; i < 30; i++) {
		int n = server_backends(primary);

		if (n > peak)
			peak = n;
		harness_sleep_ms(100);
	}
	pthread_join(thread, NULL);
	PQfinish(primary);
	assert_true(job.started);
	p = strstr(job.res.output, "number of failed transactions: ");
	if (job.res.exit_code != 0 || p == NULL || atol(p + 31) != 0) {
		fprintf(stderr, "pgbench output%s:\n%s\n",
		        job.res.timed_out ? " (killed after 30 s)" : "", job.res.output);
		harness_pgscope_dump_log(&ps);
	}
	printf("pgbench -N -M prepared, 16 clients, pool %d: peak %d server backends\n", POOL_SIZE,
	       peak);
	assert_int_equal(job.res.exit_code, 0);
	assert_non_null(p);
	assert_int_equal(atol(p + 31), 0);
	p = strstr(job.res.output, "number of transactions actually processed: ");
	assert_non_null(p);
	assert_true(atol(p + 44) > 0);
	if (!harness_direct_mode())
		assert_true(peak <= POOL_SIZE);
	harness_run_result_free(&job.res);
}

/* Run a driver workload script; it must exit 0 and report 0 errors. */
static void run_driver(const char *const argv[], const char *name)
{
	assert_true(harness_run_driver(argv, name, 180));
}

static void test_psycopg(void **state)
{
	const char *argv[] = {"/usr/bin/python3",
	                      "tests/integration/drivers/psycopg_workload.py",
	                      "127.0.0.1",
	                      port_str,
	                      "postgres",
	                      CLIENTS,
	                      ROUNDS,
	                      NULL};

	run_driver(argv, "psycopg");
}

static void test_asyncpg(void **state)
{
	const char *argv[] = {"/usr/bin/python3",
	                      "tests/integration/drivers/asyncpg_workload.py",
	                      "127.0.0.1",
	                      port_str,
	                      "postgres",
	                      CLIENTS,
	                      ROUNDS,
	                      NULL};

	run_driver(argv, "asyncpg");
}

static void test_pgjdbc(void **state)
{
	const char *argv[] = {"java",
	                      "-cp",
	                      "/usr/share/java/postgresql.jar",
	                      "tests/integration/drivers/PgjdbcWorkload.java",
	                      "127.0.0.1",
	                      port_str,
	                      "postgres",
	                      CLIENTS,
	                      ROUNDS,
	                      NULL};

	run_driver(argv, "pgjdbc");
}

static void test_node_postgres(void **state)
{
	const char *argv[] = {"node",      "tests/integration/drivers/node_pg_workload.js",
	                      "127.0.0.1", port_str,
	                      "postgres",  CLIENTS,
	                      ROUNDS,      NULL};

	run_driver(argv, "node-postgres");
}

#ifdef DRIVERS_READ_ROUTING
/* Lines of the replica's log (every statement is logged) that contain NEEDLE. */
static long replica_log_count(const char *needle)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/replica/log/postgresql.log", harness_cluster()->dir);
	return harness_file_count_lines(path, needle);
}

/* The workloads' statements with parameters (pgscope's own, polls, have none). */
#define DRIVERS_READ "$1"

static long reads_before;

static void test_routing_before(void **state)
{
	reads_before = replica_log_count(DRIVERS_READ);
	assert_true(reads_before >= 0);
}

/*
 * Routing is on for the drivers' database: a read from a client that has not
 * written lands on the replica (within a bound, once the replica has caught
 * up with the workloads). How many of the workloads' own reads went there
 * depends on how far the replica lagged behind their writes, so it is
 * printed, not asserted: those reads follow their own writes.
 */
static void test_routing_after(void **state)
{
	long n = replica_log_count(DRIVERS_READ) - reads_before;
	long long until = harness_now_ms() + 10000;
	bool on_replica = false;

	printf("read routing: %ld log lines of the workloads' reads on the replica\n", n);
	while (!on_replica && harness_now_ms() < until) {
		PGconn *conn = harness_connect(ps.port, NULL);
		char v[8] = "";

		on_replica =
		    conn != NULL &&
		    harness_query_value(conn, "SELECT pg_is_in_recovery()", v, sizeof(v)) &&
		    strcmp(v, "t") == 0;
		PQfinish(conn);
		if (!on_replica)
			harness_sleep_ms(100);
	}
	assert_true(on_replica);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
#ifdef DRIVERS_READ_ROUTING
	    cmocka_unit_test(test_routing_before),
#endif
	    cmocka_unit_test_teardown(test_libpq_prepared, check_alive),
	    cmocka_unit_test_teardown(test_pgbench_prepared, check_alive),
	    cmocka_unit_test_teardown(test_psycopg, check_alive),
	    cmocka_unit_test_teardown(test_asyncpg, check_alive),
	    cmocka_unit_test_teardown(test_pgjdbc, check_alive),
	    cmocka_unit_test_teardown(test_node_postgres, check_alive),
#ifdef DRIVERS_READ_ROUTING
	    cmocka_unit_test(test_routing_after),
#endif
	};

	return cmocka_run_group_tests_name("drivers_transaction_mode", tests, group_setup,
	                                   group_teardown);
}
