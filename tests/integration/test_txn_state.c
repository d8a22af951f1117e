/*
 * test_txn_state.c - session state and server hygiene in transaction mode: 200 clients with their
 * own SET values never see another's, and a client that leaves mid-transaction leaves no
 * transaction and no lock behind.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

#define LEAK_CLIENTS 200
#define LEAK_ROUNDS  24
#define LEAK_POOL    8

static struct harness_pgscope ps;

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction", .pool_size = LEAK_POOL, .max_client_conn = 300};

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

/* Shared by the leak-test threads. */
static pthread_barrier_t leak_barrier;
static atomic_long leak_checks, leak_mismatches, leak_errors;
static pthread_mutex_t leak_first_lock = PTHREAD_MUTEX_INITIALIZER;
static char leak_first[512]; /* the first mismatch or error, for the failure message */

static void leak_note(const char *fmt, const char *a, const char *b, const char *c)
{
	pthread_mutex_lock(&leak_first_lock);
	if (leak_first[0] == '\0')
		snprintf(leak_first, sizeof(leak_first), fmt, a, b, c);
	pthread_mutex_unlock(&leak_first_lock);
}

/* What one client expects to see: its own values. */
struct leak_expect {
	char search_path[64];
	char app[64];
	char timeout[32];
};

#define LEAK_QUERY                                                                     \
	"SELECT current_setting('search_path'), current_setting('application_name'), " \
	"current_setting('statement_timeout')"

/* Read the three settings in the way ROUND picks and compare them with E. */
static void leak_check(PGconn *conn, int round, const struct leak_expect *e)
{
	PGresult *res;
	bool in_tx = round % 3 == 1;

	if (in_tx && !harness_exec_ok(conn, "BEGIN")) {
		atomic_fetch_add(&leak_errors, 1);
		return;
	}
	if (round % 3 == 2)
		res = PQexecParams(conn, LEAK_QUERY, 0, NULL, NULL, NULL, NULL, 0);
	else
		res = PQexec(conn, LEAK_QUERY);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		atomic_fetch_add(&leak_errors, 1);
		leak_note("query failed: %s%s%s", PQerrorMessage(conn), "", "");
	} else {
		const char *sp = PQgetvalue(res, 0, 0), *app = PQgetvalue(res, 0, 1),
		           *to = PQgetvalue(res, 0, 2);

		atomic_fetch_add(&leak_checks, 1);
		if (strcmp(sp, e->search_path) != 0 || strcmp(app, e->app) != 0 ||
		    strcmp(to, e->timeout) != 0) {
			char want[200];

			atomic_fetch_add(&leak_mismatches, 1);
			snprintf(want, sizeof(want), "%s|%s|%s", e->search_path, e->app,
			         e->timeout);
			pthread_mutex_lock(&leak_first_lock);
			if (leak_first[0] == '\0')
				snprintf(leak_first, sizeof(leak_first),
				         "round %d: expected %s, saw %s|%s|%s", round, want, sp,
				         app, to);
			pthread_mutex_unlock(&leak_first_lock);
		}
	}
	PQclear(res);
	if (in_tx && !harness_exec_ok(conn, "COMMIT"))
		atomic_fetch_add(&leak_errors, 1);
}

/* Run SQL outside a transaction; count a failure. */
static void leak_exec(PGconn *conn, const char *sql)
{
	if (!harness_exec_ok(conn, sql)) {
		atomic_fetch_add(&leak_errors, 1);
		leak_note("%s failed%s%s", sql, "", "");
	}
}

static void *leak_client(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct leak_expect e;
	char sql[128];
	PGconn *conn = harness_connect(ps.port, NULL);

	if (conn == NULL)
		atomic_fetch_add(&leak_errors, 1);
	pthread_barrier_wait(&leak_barrier);
	if (conn == NULL)
		return NULL;
	snprintf(e.search_path, sizeof(e.search_path), "leak_%d, public", id);
	snprintf(e.app, sizeof(e.app), "leak_app_%d", id);
	/* An odd number of ms, which PostgreSQL shows as "<n>ms". */
	if (id % 4 == 0)
		snprintf(e.timeout, sizeof(e.timeout), "%dms", 1001 + id);
	else
		snprintf(e.timeout, sizeof(e.timeout), "0");
	snprintf(sql, sizeof(sql), "SET search_path = leak_%d, public", id);
	leak_exec(conn, sql);
	snprintf(sql, sizeof(sql), "SET application_name = 'leak_app_%d'", id);
	leak_exec(conn, sql);
	if (id % 4 == 0) {
		snprintf(sql, sizeof(sql), "SET statement_timeout = '%s'", e.timeout);
		leak_exec(conn, sql);
	}
	for (int round = 0; round < LEAK_ROUNDS; round++) {
		if (round == LEAK_ROUNDS / 2) {
			/* Change values half way: the new ones must follow the client too. */
			snprintf(sql, sizeof(sql), "SET search_path TO second_%d", id);
			leak_exec(conn, sql);
			snprintf(e.search_path, sizeof(e.search_path), "second_%d", id);
			snprintf(sql, sizeof(sql), "SET application_name = 'second_app_%d'", id);
			leak_exec(conn, sql);
			snprintf(e.app, sizeof(e.app), "second_app_%d", id);
			if (id % 4 == 0) {
				leak_exec(conn, "RESET statement_timeout");
				snprintf(e.timeout, sizeof(e.timeout), "0");
			}
		}
		leak_check(conn, round, &e);
	}
	PQfinish(conn);
	return NULL;
}

static void test_session_state_no_leak(void **state)
{
	pthread_t threads[LEAK_CLIENTS];

	atomic_store(&leak_checks, 0);
	atomic_store(&leak_mismatches, 0);
	atomic_store(&leak_errors, 0);
	assert_int_equal(pthread_barrier_init(&leak_barrier, NULL, LEAK_CLIENTS), 0);
	for (int i = 0; i < LEAK_CLIENTS; i++) {
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		assert_int_equal(
		    pthread_create(&threads[i], &attr, leak_client, (void *)(intptr_t)i), 0);
		pthread_attr_destroy(&attr);
	}
	for (int i = 0; i < LEAK_CLIENTS; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&leak_barrier);
	printf("%d clients over %d servers: %ld checks, %ld mismatches, %ld errors\n", LEAK_CLIENTS,
	       LEAK_POOL, atomic_load(&leak_checks), atomic_load(&leak_mismatches),
	       atomic_load(&leak_errors));
	if (leak_first[0] != '\0')
		fprintf(stderr, "first problem: %s\n", leak_first);
	assert_int_equal(atomic_load(&leak_errors), 0);
	assert_int_equal(atomic_load(&leak_mismatches), 0);
	assert_int_equal(atomic_load(&leak_checks), LEAK_CLIENTS * LEAK_ROUNDS);
}

/* ---- a client that leaves mid-transaction ---- */

static void create_kill_table(void)
{
	PGconn *primary = harness_connect_primary();

	assert_non_null(primary);
	assert_true(harness_exec_ok(primary, "SET client_min_messages = warning; "
	                                     "DROP TABLE IF EXISTS txn_kill_t; "
	                                     "CREATE TABLE txn_kill_t (id int, v int); "
	                                     "INSERT INTO txn_kill_t VALUES (1, 0)"));
	PQfinish(primary);
}

static long kill_table_locks(void)
{
	return txn_primary_long("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = "
	                        "l.relation WHERE c.relname = 'txn_kill_t'");
}

static long open_transactions(void)
{
	return txn_primary_long("SELECT count(*) FROM pg_stat_activity WHERE pid <> "
	                        "pg_backend_pid() AND backend_type = 'client backend' AND "
	                        "(state LIKE 'idle in transaction%' OR backend_xid IS NOT NULL OR "
	                        "(state = 'active' AND strpos(query, 'txn_kill_t') > 0))");
}

/* Print the primary's client backends, to explain a failure. */
static void dump_activity(void)
{
	PGconn *primary = harness_connect_primary();
	PGresult *res;

	if (primary == NULL)
		return;
	res = PQexec(primary, "SELECT pid, state, backend_xid, left(query, 120) FROM "
	                      "pg_stat_activity WHERE backend_type = 'client backend' AND pid <> "
	                      "pg_backend_pid()");
	for (int i = 0; PQresultStatus(res) == PGRES_TUPLES_OK && i < PQntuples(res); i++)
		fprintf(stderr, "  backend %s: %s, xid %s: %s\n", PQgetvalue(res, i, 0),
		        PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
	PQclear(res);
	PQfinish(primary);
}

/* Wait up to TIMEOUT_MS until no lock on the table and no open transaction remain. */
static bool wait_clean(int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		long locks = kill_table_locks(), open = open_transactions();

		if (locks == 0 && open == 0)
			return true;
		if (harness_now_ms() > deadline) {
			fprintf(stderr,
			        "after %d ms: %ld locks on txn_kill_t, %ld open transactions\n",
			        timeout_ms, locks, open);
			dump_activity();
			return false;
		}
		harness_sleep_ms(50);
	}
}

/* Send a simple Query and read up to ReadyForQuery; returns its status byte (0 on error). */
static char raw_query(int fd, const char *sql)
{
	char buf[1024];
	size_t used = 0;
	struct harness_msg msg;

	if (!txn_put_msg(buf, sizeof(buf), &used, 'Q', sql, strlen(sql) + 1) ||
	    !harness_send_all(fd, buf, used))
		return 0;
	for (;;) {
		char status;

		if (harness_read_msg(fd, &msg, 5000) != 1)
			return 0;
		status = msg.type == 'Z' && msg.len > 0 ? msg.data[0] : 0;
		free(msg.data);
		if (status != 0)
			return status;
	}
}

/* After the kill, the next client of the pool can take the lock at once. */
static void assert_table_usable(void)
{
	PGconn *conn = harness_connect(ps.port, NULL);

	assert_non_null(conn);
	assert_true(harness_exec_ok(conn, "BEGIN"));
	assert_true(harness_exec_ok(conn, "SET LOCAL lock_timeout = '1s'"));
	assert_true(harness_exec_ok(conn, "LOCK TABLE txn_kill_t IN ACCESS EXCLUSIVE MODE"));
	assert_true(harness_exec_ok(conn, "UPDATE txn_kill_t SET v = v + 1"));
	assert_true(harness_exec_ok(conn, "COMMIT"));
	PQfinish(conn);
}

/* Idle in transaction holding a lock and a row update, then the socket closes. */
static void test_kill_idle_in_transaction(void **state)
{
	int fd;

	create_kill_table();
	fd = harness_tcp_connect(ps.port);
	assert_true(fd >= 0);
	assert_true(harness_raw_login(fd, "postgres", "postgres", 5000));
	assert_int_equal(raw_query(fd, "BEGIN; LOCK TABLE txn_kill_t IN ACCESS EXCLUSIVE MODE; "
	                               "UPDATE txn_kill_t SET v = 100"),
	                 'T');
	/* The premise: the lock and the transaction are there while the client is. */
	assert_true(kill_table_locks() > 0);
	assert_int_equal(open_transactions(), 1);
	close(fd);
	assert_true(wait_clean(3000));
	assert_int_equal(txn_primary_long("SELECT v FROM txn_kill_t"), 0);
	assert_table_usable();
}

/* A failed transaction (status 'E') left behind by a closed socket. */
static void test_kill_failed_transaction(void **state)
{
	int fd;

	create_kill_table();
	fd = harness_tcp_connect(ps.port);
	assert_true(fd >= 0);
	assert_true(harness_raw_login(fd, "postgres", "postgres", 5000));
	assert_int_equal(raw_query(fd, "BEGIN; LOCK TABLE txn_kill_t IN SHARE MODE"), 'T');
	assert_int_equal(raw_query(fd, "SELECT 1/0"), 'E');
	/* The error released the lock; the aborted transaction stays until ROLLBACK. */
	assert_int_equal(open_transactions(), 1);
	close(fd);
	assert_true(wait_clean(3000));
	assert_table_usable();
}

/* The client goes away while its statement runs: the server may not be reused mid-request. */
static void test_kill_mid_request(void **state)
{
	const char *sql = "BEGIN; LOCK TABLE txn_kill_t IN ACCESS EXCLUSIVE MODE; "
	                  "UPDATE txn_kill_t SET v = 200; SELECT pg_sleep(1) AS kill_mid_request";
	char buf[512];
	size_t used = 0;
	int fd;

	create_kill_table();
	fd = harness_tcp_connect(ps.port);
	assert_true(fd >= 0);
	assert_true(harness_raw_login(fd, "postgres", "postgres", 5000));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'Q', sql, strlen(sql) + 1));
	assert_true(harness_send_all(fd, buf, used));
	assert_true(harness_wait_running("kill_mid_request", 3000));
	assert_true(kill_table_locks() > 0);
	close(fd);
	/* The statement ends after its one-second sleep; then nothing may remain. */
	assert_true(wait_clean(4000));
	assert_int_equal(txn_primary_long("SELECT v FROM txn_kill_t"), 0);
	assert_table_usable();
}

/* psql killed with SIGKILL while idle in a transaction that holds a lock. */
static void test_kill_psql(void **state)
{
	char port[16];
	const char *argv[] = {
	    "psql",     "-X", "-q",       "-h", "127.0.0.1",       "-p", port, "-U",
	    "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", NULL};
	struct harness_run_result res;

	create_kill_table();
	snprintf(port, sizeof(port), "%d", ps.port);
	/* psql reads its script, then waits (the \! sleep) inside the open transaction. */
	assert_true(harness_run_signal(argv,
	                               "BEGIN;\nLOCK TABLE txn_kill_t IN ACCESS EXCLUSIVE MODE;\n"
	                               "UPDATE txn_kill_t SET v = 300;\n"
	                               "\\! exec >/dev/null 2>&1; sleep 10\n",
	                               20, 1500, SIGKILL, &res));
	assert_int_equal(res.exit_code, 128 + SIGKILL);
	harness_run_result_free(&res);
	assert_true(wait_clean(3000));
	assert_int_equal(txn_primary_long("SELECT v FROM txn_kill_t"), 0);
	assert_table_usable();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_session_state_no_leak, check_alive),
	    cmocka_unit_test_teardown(test_kill_idle_in_transaction, check_alive),
	    cmocka_unit_test_teardown(test_kill_failed_transaction, check_alive),
	    cmocka_unit_test_teardown(test_kill_mid_request, check_alive),
	    cmocka_unit_test_teardown(test_kill_psql, check_alive),
	};

	return cmocka_run_group_tests_name("txn_state", tests, group_setup, group_teardown);
}
