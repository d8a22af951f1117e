/*
 * test_breaker.c - a dead or restarting PostgreSQL as pgscope's clients see it.
 *
 * The primary is stopped, started and restarted in place (harness_primary_ctl())
 * and its backends terminated or killed under running queries:
 *   - with the primary down and the endpoint's circuit breaker open, a query
 *     fails at once (under 50 ms) with an error naming the server; once the
 *     primary is back the breaker closes and new transactions succeed within
 *     5 s of its return;
 *   - pg_ctl restart during a pgbench run leaves pgscope serving within 5 s of
 *     the server's return;
 *   - a backend terminated mid-query costs its client one error: in
 *     transaction mode an ERROR and ReadyForQuery, and the client's next query
 *     succeeds; in session mode the server's one FATAL;
 *   - an idle server that died is replaced, not handed to a client.
 * The breaker's state changes are read from pgscope's log.
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

#define BENCH_DB "breaker_bench"

static struct harness_pgscope ps;         /* transaction mode, the breaker's defaults */
static struct harness_pgscope ps_session; /* session mode */
static int http_port;                     /* ps's /metrics */

static int group_setup(void **state)
{
	/* The breaker's defaults; a client's wait for a server bounded at 10 s. */
	static char txn_main[128];
	struct harness_pgscope_opts txn = {
	    .pool_mode = "transaction", .pool_size = 10, .extra_main = txn_main};
	struct harness_pgscope_opts session = {.pool_mode = "session", .pool_size = 10};
	PGconn *primary = harness_connect_primary();
	bool ok;

	http_port = harness_free_port();
	snprintf(txn_main, sizeof(txn_main),
	         "query_wait_timeout = 10\nadmin_http_listen = 127.0.0.1:%d\n", http_port);
	if (primary == NULL)
		return -1;
	ok = harness_exec_ok(primary, "SET client_min_messages = warning") &&
	     harness_exec_ok(primary, "DROP DATABASE IF EXISTS " BENCH_DB " WITH (FORCE)") &&
	     harness_exec_ok(primary, "CREATE DATABASE " BENCH_DB);
	PQfinish(primary);
	if (!ok)
		return -1;
	return harness_pgscope_start(&ps, &txn) && harness_pgscope_start(&ps_session, &session)
	           ? 0
	           : -1;
}

static int group_teardown(void **state)
{
	bool a = harness_pgscope_stop(&ps);
	bool b = harness_pgscope_stop(&ps_session);

	return a && b ? 0 : -1;
}

/* After each test the primary runs again, whatever the test did to it. */
static int primary_up(void **state)
{
	char conninfo[128];

	snprintf(conninfo, sizeof(conninfo), "host=%s port=%d dbname=postgres connect_timeout=5",
	         harness_cluster()->host, harness_cluster()->port);
	if (PQping(conninfo) == PQPING_NO_RESPONSE && !harness_primary_ctl("start"))
		return -1;
	return 0;
}

/* Lines of pgscope's log holding every one of the NULL-terminated strings. */
static int log_lines_with(const struct harness_pgscope *p, ...)
{
	const char *want[8];
	char line[4096];
	int n = 0, nwant = 0;
	va_list ap;
	FILE *f;

	va_start(ap, p);
	for (const char *s = va_arg(ap, const char *); s != NULL && nwant < 8;
	     s = va_arg(ap, const char *))
		want[nwant++] = s;
	va_end(ap);
	f = fopen(p->log_path, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		int i = 0;

		while (i < nwant && strstr(line, want[i]) != NULL)
			i++;
		n += i == nwant;
	}
	fclose(f);
	return n;
}

/* The breaker of the primary's endpoint entered STATE ("open", "closed") more than BEFORE times. */
static bool wait_breaker(const char *state, int before, int timeout_ms)
{
	char field[32], port[32];
	long long deadline = harness_now_ms() + timeout_ms;

	snprintf(field, sizeof(field), " state=%s ", state);
	snprintf(port, sizeof(port), " port=%d ", harness_cluster()->port);
	for (;;) {
		if (log_lines_with(&ps, "event=endpoint.breaker", field, port, NULL) > before)
			return true;
		if (harness_now_ms() >= deadline)
			return false;
		harness_sleep_ms(20);
	}
}

static int breaker_changes(const char *state)
{
	char field[32], port[32];

	snprintf(field, sizeof(field), " state=%s ", state);
	snprintf(port, sizeof(port), " port=%d ", harness_cluster()->port);
	return log_lines_with(&ps, "event=endpoint.breaker", field, port, NULL);
}

/* The primary's pgscope_endpoint_breaker_state sample for STATE in ps's /metrics; -1 if none. */
static double breaker_metric(const char *state)
{
	char *resp = NULL, sample[256];
	double v = -1;

	snprintf(sample, sizeof(sample),
	         "pgscope_endpoint_breaker_state{host=\"%s\",port=\"%d\",role=\"primary\","
	         "state=\"%s\"}",
	         harness_cluster()->host, harness_cluster()->port, state);
	if (harness_http_request(http_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &resp) ==
	    200)
		v = harness_metric_value(harness_http_body(resp), sample);
	free(resp);
	return v;
}

/* One transaction through pgscope on a fresh connection; true when it committed. */
static bool one_transaction(int port, const char *db)
{
	char extra[128];
	PGconn *conn;
	bool ok;

	snprintf(extra, sizeof(extra), "dbname=%s connect_timeout=5", db);
	conn = harness_connect(port, extra);
	if (conn == NULL)
		return false;
	ok = harness_exec_ok(conn, "SELECT 1");
	PQfinish(conn);
	return ok;
}

/* Milliseconds from T0 until a transaction through pgscope succeeds; -1 after TIMEOUT_MS. */
static long long ms_until_served(long long t0, int port, const char *db, int timeout_ms)
{
	while (harness_now_ms() - t0 < timeout_ms) {
		if (one_transaction(port, db))
			return harness_now_ms() - t0;
		harness_sleep_ms(50);
	}
	return -1;
}

/*
 * With the primary stopped and the breaker open, a query fails within 50 ms
 * naming the server; started again, the breaker closes and transactions
 * succeed within 5 s.
 */
static void test_breaker_open_fails_fast(void **state)
{
	const struct harness_cluster *cl = harness_cluster();
	int opened = breaker_changes("open"), closed = breaker_changes("closed");
	char name[64], msg[1024];
	long long t0, query_ms, served_ms;
	double open_shown, closed_shown;
	PGconn *conn;
	PGresult *r;

	if (harness_direct_mode())
		skip(); /* the breaker is pgscope's */
	assert_true(one_transaction(ps.port, "postgres"));
	assert_true(harness_primary_ctl("stop"));
	/* Clients that come meanwhile make the connects that fail and open it. */
	t0 = harness_now_ms();
	while (!wait_breaker("open", opened, 100) && harness_now_ms() - t0 < 10000)
		assert_false(one_transaction(ps.port, "postgres"));
	assert_true(wait_breaker("open", opened, 0));
	/* /metrics shows it open (a probe may be out a moment: then it reopens). */
	t0 = harness_now_ms();
	while ((open_shown = breaker_metric("open")) != 1 && harness_now_ms() - t0 < 5000)
		harness_sleep_ms(20);
	closed_shown = breaker_metric("closed");

	conn = harness_connect(ps.port, NULL); /* logs in without a server: transaction mode */
	assert_non_null(conn);
	t0 = harness_now_ms();
	/* The first result: PQexec() would return libpq's own word on the close that follows. */
	assert_true(PQsendQuery(conn, "SELECT 1"));
	r = PQgetResult(conn);
	query_ms = harness_now_ms() - t0;
	snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
	printf("breaker open: query failed in %lld ms: %s", query_ms, msg);
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_string_equal(harness_sqlstate(r), "08001");
	snprintf(name, sizeof(name), "%s:%d (primary)", cl->host, cl->port);
	assert_non_null(strstr(msg, name));
	assert_non_null(strstr(msg, "last error"));
	assert_true(query_ms < 50);
	PQclear(r);
	PQfinish(conn);

	assert_true(harness_primary_ctl("start"));
	t0 = harness_now_ms();
	served_ms = ms_until_served(t0, ps.port, "postgres", 5000);
	printf("primary back: first transaction through pgscope after %lld ms\n", served_ms);
	assert_true(served_ms >= 0);
	assert_true(wait_breaker("closed", closed, 1000));
	printf("/metrics while open: open %.0f, closed %.0f\n", open_shown, closed_shown);
	assert_true(open_shown == 1);
	assert_true(closed_shown == 0);
	assert_true(breaker_metric("closed") == 1);
	assert_true(breaker_metric("open") == 0);
}

/* The pgbench run, in a thread so that the main thread can restart the primary. */
struct bench_run {
	struct harness_run_result res;
	bool started;
	atomic_bool done;
	char port[16];
};

static void *bench_thread(void *arg)
{
	struct bench_run *run = arg;
	const char *argv[] = {"pgbench", "-c",       "4",      "-j",        "2",  "-T",
	                      "15",      "-n",       "-h",     "127.0.0.1", "-p", run->port,
	                      "-U",      "postgres", BENCH_DB, NULL};

	run->started = harness_run(argv, NULL, 60, &run->res);
	atomic_store(&run->done, true);
	return NULL;
}

/* The number after LABEL in pgbench's report, or -1 when the line is missing. */
static long report_number(const char *output, const char *label)
{
	const char *p = strstr(output, label);

	return p == NULL ? -1 : strtol(p + strlen(label), NULL, 10);
}

static int count_of(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = strstr(text, what); p != NULL; p = strstr(p + 1, what))
		n++;
	return n;
}

/* pg_ctl restart of the primary, in a thread: when it returned (the server is back). */
struct restart_run {
	bool ok;
	atomic_llong back_ms; /* harness_now_ms() when pg_ctl returned; 0 before */
};

static void *restart_thread(void *arg)
{
	struct restart_run *r = arg;

	r->ok = harness_primary_ctl("restart");
	atomic_store(&r->back_ms, harness_now_ms());
	return NULL;
}

/*
 * pg_ctl restart of the primary during pgbench, with new clients coming all
 * along (as applications do): pgscope serves again within 5 s of the
 * server's return.
 */
static void test_restart_during_pgbench(void **state)
{
	const char *init[] = {"pgbench", "-i", "-s", "1",        "-q",     "-h", "127.0.0.1",
	                      "-p",      NULL, "-U", "postgres", BENCH_DB, NULL};
	struct bench_run run = {.started = false};
	struct restart_run restart = {.ok = false};
	struct harness_run_result res;
	char primary_port[16];
	long long t_back = 0, served_ms;
	pthread_t thread, restarter;
	long done, failed;
	int attempts_failed = 0;

	if (harness_direct_mode())
		skip(); /* pgscope's survival */
	snprintf(primary_port, sizeof(primary_port), "%d", harness_cluster()->port);
	init[8] = primary_port;
	assert_true(harness_run(init, NULL, 120, &res));
	if (res.exit_code != 0)
		fprintf(stderr, "pgbench -i:\n%s\n", res.output);
	assert_int_equal(res.exit_code, 0);
	harness_run_result_free(&res);

	/* Served before the run (an earlier outage may have left the breaker open a while). */
	assert_true(ms_until_served(harness_now_ms(), ps.port, BENCH_DB, 10000) >= 0);
	snprintf(run.port, sizeof(run.port), "%d", ps.port);
	assert_int_equal(pthread_create(&thread, NULL, bench_thread, &run), 0);
	/* Let it run a while (traffic to interrupt), bounded by pgbench's own end. */
	for (int i = 0; i < 40 && !atomic_load(&run.done); i++)
		harness_sleep_ms(100);
	assert_false(atomic_load(&run.done));
	assert_int_equal(pthread_create(&restarter, NULL, restart_thread, &restart), 0);
	/* A new client every 50 ms through the outage until one is served after the return. */
	for (long long t0 = harness_now_ms(); harness_now_ms() - t0 < 60000;) {
		bool ok = one_transaction(ps.port, BENCH_DB);

		t_back = atomic_load(&restart.back_ms);
		if (t_back > 0 && (ok || harness_now_ms() - t_back > 5000))
			break;
		attempts_failed += !ok;
		harness_sleep_ms(50);
	}
	served_ms = harness_now_ms() - t_back;
	pthread_join(restarter, NULL);
	pthread_join(thread, NULL);
	assert_true(restart.ok);

	assert_true(run.started);
	done = report_number(run.res.output, "number of transactions actually processed: ");
	failed = report_number(run.res.output, "number of failed transactions: ");
	printf("pg_ctl restart during pgbench -c 4 -T 15 (transaction mode): %d new clients "
	       "refused during the outage, first served %lld ms after the server's return; "
	       "pgbench: %ld transactions, %ld failed, %d clients aborted, exit %d\n",
	       attempts_failed, served_ms, done, failed,
	       count_of(run.res.output, "aborted in command"), run.res.exit_code);
	if (served_ms > 5000 || done <= 0)
		fprintf(stderr, "pgbench output:\n%.4000s\n", run.res.output);
	assert_false(run.res.timed_out);
	assert_true(done > 0);
	assert_true(served_ms <= 5000);
	harness_run_result_free(&run.res);
	assert_true(harness_pgscope_alive(&ps));
	/* And the pool keeps serving. */
	for (int i = 0; i < 20; i++)
		assert_true(one_transaction(ps.port, BENCH_DB));
}

/* Send a simple Query with SQL on a raw connection. */
static bool send_query(int fd, const char *sql)
{
	char buf[512];
	size_t used = 0;

	return txn_put_msg(buf, sizeof(buf), &used, 'Q', sql, strlen(sql) + 1) &&
	       harness_send_all(fd, buf, used);
}

/* What came back for one request on a raw connection. */
struct answer {
	int errors;       /* ErrorResponse messages */
	char sqlstate[6]; /* of the first */
	char severity[16];
	char message[256];
	char ready;  /* ReadyForQuery status, 0 if none came */
	bool closed; /* the connection ended instead */
};

/* Read until ReadyForQuery, the close of the connection or TIMEOUT_MS. */
static void read_answer(int fd, struct answer *a, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	struct harness_msg m;

	memset(a, 0, sizeof(*a));
	while (harness_now_ms() < deadline) {
		int r = harness_read_msg(fd, &m, (int)(deadline - harness_now_ms()));

		if (r == 0) {
			a->closed = true;
			return;
		}
		if (r < 0)
			return;
		if (m.type == 'E' && a->errors++ == 0) {
			harness_error_field(&m, 'C', a->sqlstate, sizeof(a->sqlstate));
			harness_error_field(&m, 'V', a->severity, sizeof(a->severity));
			harness_error_field(&m, 'M', a->message, sizeof(a->message));
		}
		if (m.type == 'Z') {
			a->ready = m.len > 0 ? m.data[0] : '?';
			free(m.data);
			return;
		}
		free(m.data);
	}
}

/*
 * Wait (5 s) until the statement holding MARKER has run for 200 ms: well
 * into its run, not at its start.
 */
static bool wait_running_a_while(const char *marker)
{
	long long deadline = harness_now_ms() + 5000;
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%%s%%' AND state = "
	         "'active' AND now() - query_start > interval '200 ms' AND pid <> pg_backend_pid()",
	         marker);
	while (harness_now_ms() < deadline) {
		if (txn_primary_long(sql) == 1)
			return true;
		harness_sleep_ms(20);
	}
	return false;
}

/* Terminate (pg_terminate_backend) the backend running MARKER; true when one was. */
static bool terminate_running(const char *marker)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE "
	         "'%%%s%%' AND pid <> pg_backend_pid()",
	         marker);
	return txn_primary_long(sql) == 1;
}

/* A raw client of pgscope on PORT, logged in; -1 on failure. */
static int raw_client(int port)
{
	int fd = harness_tcp_connect(port);

	if (fd >= 0 && !harness_raw_login(fd, "postgres", "postgres", 10000)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Transaction mode: one ERROR and ReadyForQuery, and the next query runs on another server. */
static void test_terminated_mid_query_transaction(void **state)
{
	struct answer a;
	int fd;

	if (harness_direct_mode())
		skip(); /* PostgreSQL itself ends the session */
	fd = raw_client(ps.port);
	assert_true(fd >= 0);
	assert_true(send_query(fd, "SELECT pg_sleep(30) /* breaker-term-txn */"));
	assert_true(harness_wait_running("breaker-term-txn", 5000));
	assert_true(wait_running_a_while("breaker-term-txn"));
	assert_true(terminate_running("breaker-term-txn"));
	read_answer(fd, &a, 5000);
	printf("terminated mid-query (transaction mode): %d error(s), %s %s: %s; ready '%c'%s\n",
	       a.errors, a.severity, a.sqlstate, a.message, a.ready ? a.ready : '-',
	       a.closed ? ", closed" : "");
	assert_false(a.closed);
	assert_int_equal(a.errors, 1);
	assert_string_equal(a.sqlstate, "57P01");
	assert_string_equal(a.severity, "ERROR");
	assert_int_equal(a.ready, 'I');
	assert_true(send_query(fd, "SELECT 1"));
	read_answer(fd, &a, 5000);
	assert_int_equal(a.errors, 0);
	assert_int_equal(a.ready, 'I');
	close(fd);
}

/* A statement that sleeps 30 s the first time it runs only (SEQ is a fresh sequence). */
#define SLEEP_FIRST_TIME(seq) "SELECT pg_sleep(CASE WHEN nextval('" seq "') = 1 THEN 30 ELSE 0 END)"

/* Create the sequence NAME afresh on the primary. */
static bool fresh_sequence(const char *name)
{
	PGconn *primary = harness_connect_primary();
	char sql[128];
	bool ok;

	if (primary == NULL)
		return false;
	snprintf(sql, sizeof(sql), "DROP SEQUENCE IF EXISTS %s; CREATE SEQUENCE %s", name, name);
	ok = harness_exec_ok(primary, sql);
	PQfinish(primary);
	return ok;
}

/* Parse of SQL as statement NAME (none when SQL is NULL), Bind, Execute and Sync in one write. */
static bool send_extended(int fd, const char *name, const char *sql)
{
	char buf[1024], body[512];
	size_t used = 0, n;
	static const char bind_tail[6] = {0}; /* no formats, no parameters, no result formats */
	static const char exec_body[5] = {0}; /* unnamed portal, no row limit */

	n = sql == NULL
	        ? 0
	        : (size_t)snprintf(body, sizeof(body), "%s%c%s%c%c%c", name, 0, sql, 0, 0, 0);
	if (n > 0 && !txn_put_msg(buf, sizeof(buf), &used, 'P', body, n))
		return false;
	body[0] = 0; /* unnamed portal */
	n = 1 + (size_t)snprintf(body + 1, sizeof(body) - 1, "%s", name) + 1;
	memcpy(body + n, bind_tail, sizeof(bind_tail));
	return txn_put_msg(buf, sizeof(buf), &used, 'B', body, n + sizeof(bind_tail)) &&
	       txn_put_msg(buf, sizeof(buf), &used, 'E', exec_body, sizeof(exec_body)) &&
	       txn_put_msg(buf, sizeof(buf), &used, 'S', NULL, 0) &&
	       harness_send_all(fd, buf, used);
}

/*
 * Transaction mode, extended protocol: one ERROR and ReadyForQuery; the
 * statement, whose ParseComplete the client got (the backend flushes its
 * replies before its FATAL), follows the client to its next server.
 */
static void test_terminated_mid_query_extended(void **state)
{
	struct answer a;
	int fd;

	if (harness_direct_mode())
		skip(); /* PostgreSQL itself ends the session */
	assert_true(fresh_sequence("breaker_ext_seq"));
	fd = raw_client(ps.port);
	assert_true(fd >= 0);
	assert_true(
	    send_extended(fd, "s1", SLEEP_FIRST_TIME("breaker_ext_seq") " /* breaker-term-ext */"));
	assert_true(harness_wait_running("breaker-term-ext", 5000));
	assert_true(wait_running_a_while("breaker-term-ext"));
	assert_true(terminate_running("breaker-term-ext"));
	read_answer(fd, &a, 5000);
	assert_false(a.closed);
	assert_int_equal(a.errors, 1);
	assert_string_equal(a.sqlstate, "57P01");
	assert_int_equal(a.ready, 'I');
	assert_true(send_extended(fd, "s1", NULL)); /* Bind s1 again, on another server */
	read_answer(fd, &a, 5000);
	assert_int_equal(a.errors, 0);
	assert_int_equal(a.ready, 'I');
	close(fd);
}

/* Session mode: the server's one FATAL, then the close. */
static void test_terminated_mid_query_session(void **state)
{
	struct answer a;
	int fd;

	fd = raw_client(ps_session.port);
	assert_true(fd >= 0);
	assert_true(send_query(fd, "SELECT pg_sleep(30) /* breaker-term-session */"));
	assert_true(harness_wait_running("breaker-term-session", 5000));
	assert_true(wait_running_a_while("breaker-term-session"));
	assert_true(terminate_running("breaker-term-session"));
	read_answer(fd, &a, 5000);
	printf("terminated mid-query (session mode): %d error(s), %s %s: %s%s\n", a.errors,
	       a.severity, a.sqlstate, a.message, a.closed ? ", closed" : "");
	assert_true(a.closed);
	assert_int_equal(a.errors, 1);
	assert_string_equal(a.sqlstate, "57P01");
	assert_string_equal(a.severity, "FATAL");
	close(fd);
}

/* The pids of pgscope's server connections to the primary (database postgres), up to MAX. */
static int pool_backends(long *pids, int max)
{
	PGconn *primary = harness_connect_primary();
	PGresult *r;
	int n = 0;

	if (primary == NULL)
		return -1;
	r = PQexec(primary, "SELECT pid FROM pg_stat_activity WHERE datname = 'postgres' AND "
	                    "backend_type = 'client backend' AND pid <> pg_backend_pid()");
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		for (n = 0; n < PQntuples(r) && n < max; n++)
			pids[n] = atol(PQgetvalue(r, n, 0));
	PQclear(r);
	PQfinish(primary);
	return n;
}

/* Idle servers terminated between transactions: the next transaction gets a live one. */
static void test_idle_servers_terminated(void **state)
{
	PGconn *conn;
	long pids[64];
	char sql[128];
	int n;

	if (harness_direct_mode())
		skip(); /* pgscope's pool */
	conn = harness_connect(ps.port, NULL);
	assert_non_null(conn);
	for (int round = 0; round < 5; round++) {
		assert_true(harness_exec_ok(conn, "SELECT 1"));
		n = pool_backends(pids, 64);
		assert_true(n > 0);
		for (int i = 0; i < n; i++) {
			snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%ld)::int",
			         pids[i]);
			(void)txn_primary_long(sql);
		}
		/* No wait: the next request may race the servers' goodbyes. */
		assert_true(harness_exec_ok(conn, "SELECT 2"));
	}
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	PQfinish(conn);
}

/*
 * kill -9 of a backend mid-query (PostgreSQL then restarts every backend):
 * one error for its client, which is served again once the server is back.
 * The query is a prepared statement whose ParseComplete died unsent with the
 * backend: the client prepares the same name again without a 42P05.
 */
static void test_killed_mid_query_transaction(void **state)
{
	long long t0;
	struct answer a;
	long pid;
	int fd;

	if (harness_direct_mode())
		skip(); /* PostgreSQL itself ends the session */
	fd = raw_client(ps.port);
	assert_true(fd >= 0);
	assert_true(send_extended(fd, "k1", "SELECT pg_sleep(30) /* breaker-kill-txn */"));
	assert_true(harness_wait_running("breaker-kill-txn", 5000));
	assert_true(wait_running_a_while("breaker-kill-txn"));
	pid = txn_primary_long("SELECT pid FROM pg_stat_activity WHERE query LIKE "
	                       "'%breaker-kill-txn%' AND pid <> pg_backend_pid()");
	assert_true(pid > 0);
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	read_answer(fd, &a, 5000);
	printf("killed mid-query (transaction mode): %d error(s), %s %s: %s; ready '%c'%s\n",
	       a.errors, a.severity, a.sqlstate, a.message, a.ready ? a.ready : '-',
	       a.closed ? ", closed" : "");
	assert_false(a.closed);
	assert_int_equal(a.errors, 1);
	assert_string_equal(a.severity, "ERROR");
	assert_int_equal(a.ready, 'I');
	/* Crash recovery: wait until pgscope serves again, then the same client. */
	t0 = harness_now_ms();
	assert_true(ms_until_served(t0, ps.port, "postgres", 20000) >= 0);
	assert_true(send_extended(fd, "k1", "SELECT 1"));
	read_answer(fd, &a, 5000);
	if (a.errors > 0)
		printf("prepared again after the kill: %s %s\n", a.sqlstate, a.message);
	assert_int_equal(a.errors, 0);
	assert_int_equal(a.ready, 'I');
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_terminated_mid_query_transaction, primary_up),
	    cmocka_unit_test_teardown(test_terminated_mid_query_extended, primary_up),
	    cmocka_unit_test_teardown(test_terminated_mid_query_session, primary_up),
	    cmocka_unit_test_teardown(test_idle_servers_terminated, primary_up),
	    cmocka_unit_test_teardown(test_breaker_open_fails_fast, primary_up),
	    cmocka_unit_test_teardown(test_restart_during_pgbench, primary_up),
	    cmocka_unit_test_teardown(test_killed_mid_query_transaction, primary_up),
	};

	return cmocka_run_group_tests_name("breaker", tests, group_setup, group_teardown);
}
