/*
 * test_timeouts.c - the pooler's timeouts against a real PostgreSQL: query_timeout (global,
 * per database, per user, per statement through a pgscope:timeout comment) cancels a slow
 * statement with one 57014 error and the client goes on; a stopped backend is dropped at
 * query_timeout while other clients keep working; idle_transaction_timeout ends an idle
 * transaction and releases its locks; client_idle_timeout, client_login_timeout,
 * query_wait_timeout, server_idle_timeout, server_lifetime, server_connect_timeout and
 * server_login_retry each act; TCP keepalive is on for client sockets.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

static struct harness_pgscope ps;
static bool ps_running;
static long stopped_pid; /* a backend stopped with SIGSTOP, continued in teardown */
static int http_port;    /* ps's /metrics */

static void start_pgscope(const char *mode, int pool_size, const char *extra_main,
                          const char *extra_dbs)
{
	static char main_lines[512];
	struct harness_pgscope_opts opts = {.pool_mode = mode,
	                                    .pool_size = pool_size,
	                                    .max_client_conn = 50,
	                                    .extra_main = main_lines,
	                                    .extra_dbs = extra_dbs};

	if (harness_direct_mode())
		skip(); /* these are pgscope's own limits */
	http_port = harness_free_port();
	snprintf(main_lines, sizeof(main_lines), "%sadmin_http_listen = 127.0.0.1:%d\n",
	         extra_main != NULL ? extra_main : "", http_port);
	assert_true(harness_pgscope_start(&ps, &opts));
	ps_running = true;
}

/* The value of SAMPLE in ps's /metrics; -1 when absent. */
static double metric(const char *sample)
{
	char *resp = NULL;
	double v = -1;

	if (harness_http_request(http_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &resp) ==
	    200)
		v = harness_metric_value(harness_http_body(resp), sample);
	free(resp);
	return v;
}

/* pgscope_timeouts_total of KIND is at least MIN and at most MAX. */
static void assert_timeouts(const char *kind, double min, double max)
{
	char sample[128];
	double v;

	snprintf(sample, sizeof(sample), "pgscope_timeouts_total{kind=\"%s\"}", kind);
	v = metric(sample);
	printf("%s %.0f\n", sample, v);
	assert_true(v >= min && v <= max);
}

static int teardown(void **state)
{
	bool ok = true;

	if (stopped_pid > 0) {
		kill((pid_t)stopped_pid, SIGCONT);
		stopped_pid = 0;
	}
	if (ps_running) {
		ok = harness_pgscope_alive(&ps);
		ok = harness_pgscope_stop(&ps) && ok;
		ps_running = false;
	}
	return ok ? 0 : -1;
}

/* What came back for one simple Query on a raw connection. */
struct answer {
	int errors;        /* ErrorResponse messages */
	char sqlstate[8];  /* of the first */
	char message[256]; /* of the first */
	char severity[16]; /* of the first */
	char ready;        /* ReadyForQuery status, 0 if none came */
	bool closed;       /* the connection closed */
	int rows;
	long long ms; /* from sending to ReadyForQuery (or the close) */
};

/* A raw client logged in to pgscope as USER on DB; -1 on failure. */
static int raw_connect(const char *user, const char *db)
{
	int fd = harness_tcp_connect(ps.port);

	if (fd < 0)
		return -1;
	if (!harness_raw_login(fd, user, db, 5000)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read answers until ReadyForQuery, a close or TIMEOUT_MS; START is when the request went out. */
static void raw_collect(int fd, struct answer *a, long long start, int timeout_ms)
{
	long long deadline = start + timeout_ms;
	struct harness_msg m;

	for (;;) {
		long long left = deadline - harness_now_ms();
		int r = harness_read_msg(fd, &m, left > 0 ? (int)left : 1);

		if (r == 0)
			a->closed = true;
		if (r != 1)
			break;
		if (m.type == 'E') {
			if (a->errors++ == 0) {
				harness_error_field(&m, 'C', a->sqlstate, sizeof(a->sqlstate));
				harness_error_field(&m, 'M', a->message, sizeof(a->message));
				harness_error_field(&m, 'S', a->severity, sizeof(a->severity));
			}
		} else if (m.type == 'D') {
			a->rows++;
		} else if (m.type == 'Z') {
			a->ready = m.len > 0 ? m.data[0] : '?';
		}
		free(m.data);
		if (a->ready != 0)
			break;
	}
	a->ms = harness_now_ms() - start;
}

/* Send one simple Query and collect its answers within TIMEOUT_MS. */
static void raw_query(int fd, const char *sql, struct answer *a, int timeout_ms)
{
	char buf[1024];
	size_t used = 0;
	long long start = harness_now_ms();

	memset(a, 0, sizeof(*a));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'Q', sql, strlen(sql) + 1));
	assert_true(harness_send_all(fd, buf, used));
	raw_collect(fd, a, start, timeout_ms);
}

/* The query succeeded: no error, ReadyForQuery 'I', at least one row. */
static void assert_query_ok(int fd, const char *sql)
{
	struct answer a;

	raw_query(fd, sql, &a, 10000);
	if (a.errors > 0)
		fprintf(stderr, "\"%s\" failed: %s %s\n", sql, a.sqlstate, a.message);
	assert_int_equal(a.errors, 0);
	assert_int_equal(a.ready, 'I');
	assert_true(a.rows >= 1);
}

/* Backends on the primary running a statement that contains MARKER, other than this probe. */
static long running_with(const char *marker)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
	         "query LIKE '%%%s%%' AND pid <> pg_backend_pid()",
	         marker);
	return txn_primary_long(sql);
}

/* Expect a query_timeout cancel: one 57014 naming query_timeout and LIMIT, then 'I'. */
static void assert_timed_out(const struct answer *a, const char *limit)
{
	char want[64];

	snprintf(want, sizeof(want), "query_timeout (%s)", limit);
	printf("timed out after %lld ms: %s %s \"%s\"\n", a->ms, a->severity, a->sqlstate,
	       a->message);
	assert_int_equal(a->errors, 1);
	assert_string_equal(a->sqlstate, "57014");
	assert_string_equal(a->severity, "ERROR");
	assert_non_null(strstr(a->message, want));
	assert_int_equal(a->ready, 'I');
	assert_false(a->closed);
}

static long pooled_backend_pid(int fd);
static long backend_exists(long pid);

/*
 * query_timeout = 1: SELECT pg_sleep(10) ends with one 57014 in about 1 s, the
 * backend runs nothing more, and the client's next query succeeds on the same
 * server connection (the pool has one), which was kept.
 */
static void test_query_timeout_global(void **state)
{
	struct answer a;
	long pid;
	int fd;

	start_pgscope("transaction", 1, "query_timeout = 1\n", NULL);
	fd = raw_connect("postgres", "postgres");
	assert_true(fd >= 0);
	pid = pooled_backend_pid(fd);
	assert_true(pid > 0);
	raw_query(fd, "SELECT pg_sleep(10) AS qt_global", &a, 8000);
	assert_timed_out(&a, "1s");
	assert_in_range(a.ms, 900, 3000);
	assert_int_equal(running_with("qt_global"), 0);
	assert_query_ok(fd, "SELECT 1");
	assert_int_equal(pooled_backend_pid(fd), pid);
	/* A statement within the limit is untouched. */
	assert_query_ok(fd, "SELECT pg_sleep(0.3)");
	close(fd);
	assert_timeouts("query_timeout", 1, 1);
	assert_true(metric("pgscope_cancels_sent_total") == 1);
	assert_timeouts("client_idle_timeout", 0, 0);
}

/* Session mode: the same cancel, and the session goes on with its server. */
static void test_query_timeout_session(void **state)
{
	struct answer a;
	int fd;

	start_pgscope("session", 2, "query_timeout = 1\n", NULL);
	fd = raw_connect("postgres", "postgres");
	assert_true(fd >= 0);
	raw_query(fd, "SELECT pg_sleep(10) AS qt_session", &a, 8000);
	assert_timed_out(&a, "1s");
	assert_in_range(a.ms, 900, 3000);
	assert_query_ok(fd, "SELECT 1");
	close(fd);
}

/*
 * A pgscope:timeout comment wins over the global value, shorter or longer; the
 * words in a string literal are no hint.
 */
static void test_comment_hint(void **state)
{
	struct answer a;
	int fd;

	start_pgscope("transaction", 2, "query_timeout = 1\n", NULL);
	fd = raw_connect("postgres", "postgres");
	assert_true(fd >= 0);
	raw_query(fd, "/* pgscope:timeout=300ms */ SELECT pg_sleep(5) AS qt_short", &a, 8000);
	assert_timed_out(&a, "300ms");
	assert_true(a.ms < 900);
	raw_query(fd, "SELECT pg_sleep(2) AS qt_long -- pgscope:timeout=4s", &a, 8000);
	assert_int_equal(a.errors, 0);
	assert_int_equal(a.ready, 'I');
	assert_true(a.ms >= 1900);
	raw_query(fd, "SELECT 'pgscope:timeout=4s', pg_sleep(5) AS qt_literal", &a, 8000);
	assert_timed_out(&a, "1s");
	/* The next statement without a comment has the global limit again. */
	raw_query(fd, "SELECT pg_sleep(5) AS qt_again", &a, 8000);
	assert_timed_out(&a, "1s");
	close(fd);
}

/* The error of CONN's current query: its SQLSTATE into CODE and primary message into MSG. */
static void finish_with_error(PGconn *conn, char *code, size_t codesz, char *msg, size_t msgsz)
{
	PGresult *res;

	code[0] = msg[0] = '\0';
	while ((res = PQgetResult(conn)) != NULL) {
		if (PQresultStatus(res) == PGRES_FATAL_ERROR && code[0] == '\0') {
			snprintf(code, codesz, "%s", harness_sqlstate(res));
			snprintf(msg, msgsz, "%s",
			         PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		}
		PQclear(res);
	}
}

/*
 * Only the request that query_timeout cancelled gets pgscope's error: a
 * client's own CancelRequest and pg_cancel_backend() keep the server's,
 * before and after a query_timeout has fired on the same client.
 */
static void test_own_cancel_keeps_server_error(void **state)
{
	char code[8], msg[256];
	PGcancel *cancel;
	PGconn *conn;
	char err[256];

	start_pgscope("transaction", 2, "query_timeout = 10\n", NULL);
	conn = harness_connect(ps.port, NULL);
	assert_non_null(conn);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(PQsendQuery(conn, "SELECT pg_sleep(8) AS qt_own_cancel"), 1);
		assert_true(harness_wait_running("qt_own_cancel", 5000));
		cancel = PQgetCancel(conn);
		assert_non_null(cancel);
		assert_int_equal(PQcancel(cancel, err, sizeof(err)), 1);
		PQfreeCancel(cancel);
		finish_with_error(conn, code, sizeof(code), msg, sizeof(msg));
		assert_string_equal(code, "57014");
		assert_string_equal(msg, "canceling statement due to user request");

		assert_int_equal(PQsendQuery(conn, "SELECT pg_sleep(8) AS qt_backend_cancel"), 1);
		assert_true(harness_wait_running("qt_backend_cancel", 5000));
		assert_int_equal(txn_primary_long("SELECT count(pg_cancel_backend(pid)) FROM "
		                                  "pg_stat_activity WHERE query LIKE "
		                                  "'%qt_backend_cancel%' AND state = 'active' AND "
		                                  "pid <> pg_backend_pid()"),
		                 1);
		finish_with_error(conn, code, sizeof(code), msg, sizeof(msg));
		assert_string_equal(code, "57014");
		assert_string_equal(msg, "canceling statement due to user request");

		/* Then one that query_timeout cancels: ours. */
		assert_int_equal(
		    PQsendQuery(conn, "SELECT pg_sleep(8) /* pgscope:timeout=300ms */"), 1);
		finish_with_error(conn, code, sizeof(code), msg, sizeof(msg));
		assert_string_equal(code, "57014");
		assert_string_equal(msg,
		                    "canceling statement due to pgscope query_timeout (300ms)");
	}
	PQfinish(conn);
}

/* A hint in a prepared statement's text applies to each execution of it. */
static void test_comment_hint_prepared(void **state)
{
	PGconn *conn;
	PGresult *res;
	long long start;

	start_pgscope("transaction", 2, "query_timeout = 1\n", NULL);
	conn = harness_connect(ps.port, NULL);
	assert_non_null(conn);
	res = PQprepare(conn, "slow", "SELECT pg_sleep($1::float8) /* pgscope:timeout=3s */", 0,
	                NULL);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	for (int i = 0; i < 2; i++) {
		const char *secs = "1.5";

		start = harness_now_ms();
		res = PQexecPrepared(conn, "slow", 1, &secs, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		PQclear(res);
		assert_true(harness_now_ms() - start >= 1400);
	}
	{
		const char *secs = "5";

		start = harness_now_ms();
		res = PQexecParams(conn, "SELECT pg_sleep($1::float8) /* pgscope:timeout=500ms */",
		                   1, NULL, &secs, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		assert_string_equal(harness_sqlstate(res), "57014");
		assert_non_null(strstr(PQresultErrorMessage(res), "query_timeout (500ms)"));
		PQclear(res);
		assert_true(harness_now_ms() - start < 1500);
	}
	res = PQexec(conn, "SELECT 1");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	PQfinish(conn);
}

/* query_timeout set per database and per user; the user's wins over the database's. */
static void test_per_database_and_user(void **state)
{
	const struct harness_cluster *cl = harness_cluster();
	char dbs[512];
	struct answer a;
	int fd;

	snprintf(dbs, sizeof(dbs),
	         "qtdb = host=%s port=%d dbname=postgres user=postgres query_timeout=1\n"
	         "[users]\n"
	         "qtuser = query_timeout=2\n"
	         "[databases]\n",
	         cl->host, cl->port);
	start_pgscope("transaction", 4, NULL, dbs);
	/* No global limit: postgres on postgres runs as long as it likes. */
	fd = raw_connect("postgres", "postgres");
	assert_true(fd >= 0);
	raw_query(fd, "SELECT pg_sleep(1.5)", &a, 8000);
	assert_int_equal(a.errors, 0);
	close(fd);
	fd = raw_connect("postgres", "qtdb");
	assert_true(fd >= 0);
	raw_query(fd, "SELECT pg_sleep(10) AS qt_db", &a, 8000);
	assert_timed_out(&a, "1s");
	assert_in_range(a.ms, 900, 3000);
	close(fd);
	fd = raw_connect("qtuser", "qtdb");
	assert_true(fd >= 0);
	raw_query(fd, "SELECT pg_sleep(10) AS qt_user", &a, 8000);
	assert_timed_out(&a, "2s");
	assert_in_range(a.ms, 1900, 4000);
	close(fd);
}

/* Send SQL on FD, stop the backend that runs it (MARKER) with SIGSTOP; returns when it was sent. */
static long long run_and_stop(int fd, const char *sql, const char *marker)
{
	char buf[256], probe[256];
	size_t used = 0;
	long long start;

	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'Q', sql, strlen(sql) + 1));
	start = harness_now_ms();
	assert_true(harness_send_all(fd, buf, used));
	assert_true(harness_wait_running(marker, 5000));
	snprintf(probe, sizeof(probe),
	         "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%%%s%%' "
	         "AND pid <> pg_backend_pid()",
	         marker);
	stopped_pid = txn_primary_long(probe);
	assert_true(stopped_pid > 0);
	assert_int_equal(kill((pid_t)stopped_pid, SIGSTOP), 0);
	return start;
}

/*
 * A backend stopped with SIGSTOP cannot act on the cancel: its server is closed
 * after the cancel's grace, the client gets its one 57014 and goes on, and
 * another client is served all along.
 */
static void test_stopped_backend(void **state)
{
	struct answer a, b;
	long long start;
	int fa, fb, served = 0;

	start_pgscope("transaction", 3, "query_timeout = 1\n", NULL);
	fa = raw_connect("postgres", "postgres");
	fb = raw_connect("postgres", "postgres");
	assert_true(fa >= 0 && fb >= 0);
	start = run_and_stop(fa, "SELECT pg_sleep(20) AS qt_stop_me", "qt_stop_me");
	/* B is served while A's backend is stopped. */
	while (harness_now_ms() - start < 1500) {
		raw_query(fb, "SELECT 1", &b, 2000);
		assert_int_equal(b.errors, 0);
		assert_true(b.ms < 500);
		served++;
		harness_sleep_ms(50);
	}
	memset(&a, 0, sizeof(a));
	raw_collect(fa, &a, start, 10000);
	assert_timed_out(&a, "1s");
	assert_in_range(a.ms, 900, 5000);
	printf("B served %d queries during the stall\n", served);
	assert_true(served >= 5);
	assert_query_ok(fa, "SELECT 1");
	assert_query_ok(fb, "SELECT 1");
	/* Continued, the backend finds its connection closed and exits. */
	kill((pid_t)stopped_pid, SIGCONT);
	for (int i = 0; i < 100 && backend_exists(stopped_pid) != 0; i++)
		harness_sleep_ms(50);
	assert_int_equal(backend_exists(stopped_pid), 0);
	stopped_pid = 0;
	close(fa);
	close(fb);
}

/*
 * A stopped backend under a client that cannot go on without it (inside a
 * transaction block, or in session mode): the client gets one FATAL 57014
 * naming query_timeout and is disconnected.
 */
static void test_stopped_backend_closes_session(void **state)
{
	static const char *const modes[] = {"transaction", "session"};

	for (int i = 0; i < 2; i++) {
		struct answer a;
		long long start;
		int fd;

		start_pgscope(modes[i], 2, "query_timeout = 1\n", NULL);
		fd = raw_connect("postgres", "postgres");
		assert_true(fd >= 0);
		if (i == 0) {
			raw_query(fd, "BEGIN", &a, 5000);
			assert_int_equal(a.ready, 'T');
		}
		start =
		    run_and_stop(fd, "SELECT pg_sleep(20) AS qt_stop_session", "qt_stop_session");
		memset(&a, 0, sizeof(a));
		raw_collect(fd, &a, start, 10000);
		printf("%s mode: %s %s \"%s\" after %lld ms, closed %d\n", modes[i], a.severity,
		       a.sqlstate, a.message, a.ms, a.closed);
		assert_int_equal(a.errors, 1);
		assert_string_equal(a.severity, "FATAL");
		assert_string_equal(a.sqlstate, "57014");
		assert_non_null(strstr(a.message, "query_timeout (1s)"));
		assert_int_equal(a.ready, 0);
		assert_true(a.closed);
		assert_in_range(a.ms, 1900, 5000);
		close(fd);
		kill((pid_t)stopped_pid, SIGCONT);
		stopped_pid = 0;
		assert_true(teardown(NULL) == 0);
	}
}

/*
 * idle_transaction_timeout = 1: a client idle inside a transaction is ended
 * with FATAL 25P03, its row lock is released, and its server is rolled back
 * and kept.
 */
static void test_idle_transaction_timeout(void **state)
{
	PGconn *direct = harness_connect_primary();
	struct harness_msg m;
	struct answer a;
	char code[8] = "", value[16];
	long long start;
	long pid;
	int fa;

	assert_non_null(direct);
	assert_true(harness_exec_ok(direct, "DROP TABLE IF EXISTS qt_locks; "
	                                    "CREATE TABLE qt_locks (id int PRIMARY KEY, v int); "
	                                    "INSERT INTO qt_locks VALUES (1, 0)"));
	start_pgscope("transaction", 2, "idle_transaction_timeout = 1\n", NULL);
	fa = raw_connect("postgres", "postgres");
	assert_true(fa >= 0);
	raw_query(fa, "BEGIN", &a, 5000);
	assert_int_equal(a.ready, 'T');
	raw_query(fa, "UPDATE qt_locks SET v = 1 WHERE id = 1", &a, 5000);
	assert_int_equal(a.errors, 0);
	assert_int_equal(a.ready, 'T');
	raw_query(fa, "SELECT pg_backend_pid()", &a, 5000);
	pid = txn_primary_long("SELECT pid FROM pg_stat_activity WHERE state = 'idle in "
	                       "transaction' AND query LIKE '%pg_backend_pid%'");
	assert_true(pid > 0);
	/* Another client waits for the row lock until the idle transaction is ended. */
	start = harness_now_ms();
	assert_true(harness_exec_ok(direct, "SET statement_timeout = '8s'"));
	assert_true(harness_exec_ok(direct, "UPDATE qt_locks SET v = 2 WHERE id = 1"));
	printf("the locked row was free after %lld ms\n", harness_now_ms() - start);
	assert_true(harness_now_ms() - start < 4000);
	assert_int_equal(harness_read_msg(fa, &m, 5000), 1);
	assert_int_equal(m.type, 'E');
	assert_true(harness_error_field(&m, 'C', code, sizeof(code)));
	assert_string_equal(code, "25P03");
	free(m.data);
	assert_true(harness_wait_closed(fa, 5000));
	close(fa);
	assert_true(harness_query_value(direct, "SELECT v FROM qt_locks WHERE id = 1", value,
	                                sizeof(value)));
	assert_string_equal(value, "2");
	assert_timeouts("idle_transaction_timeout", 1, 1);
	/* The server was rolled back and kept, not closed. */
	{
		char sql[160];

		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM pg_stat_activity WHERE pid = %ld AND state = 'idle'",
		         pid);
		assert_int_equal(txn_primary_long(sql), 1);
	}
	assert_true(harness_exec_ok(direct, "DROP TABLE qt_locks"));
	PQfinish(direct);
}

/* client_idle_timeout = 1: an idle client is closed with 57P05; a busy one is not. */
static void test_client_idle_timeout(void **state)
{
	struct harness_msg m;
	char code[8] = "";
	int idle, busy;

	start_pgscope("transaction", 2, "client_idle_timeout = 1\n", NULL);
	idle = raw_connect("postgres", "postgres");
	busy = raw_connect("postgres", "postgres");
	assert_true(idle >= 0 && busy >= 0);
	for (int i = 0; i < 8; i++) {
		assert_query_ok(busy, "SELECT 1");
		harness_sleep_ms(300);
	}
	assert_int_equal(harness_read_msg(idle, &m, 3000), 1);
	assert_int_equal(m.type, 'E');
	assert_true(harness_error_field(&m, 'C', code, sizeof(code)));
	assert_string_equal(code, "57P05");
	free(m.data);
	assert_true(harness_wait_closed(idle, 3000));
	close(idle);
	close(busy);
	assert_timeouts("client_idle_timeout", 1, 1);
}

/* client_login_timeout = 1: a client that never finishes its login is closed. */
static void test_client_login_timeout(void **state)
{
	long long start;
	int fd;

	start_pgscope("transaction", 2, "client_login_timeout = 1\n", NULL);
	fd = harness_tcp_connect(ps.port);
	assert_true(fd >= 0);
	start = harness_now_ms();
	assert_true(harness_wait_closed(fd, 5000));
	assert_in_range(harness_now_ms() - start, 900, 3000);
	close(fd);
	assert_timeouts("client_login_timeout", 1, 1);
}

/*
 * query_wait_timeout = 1: with the one server held by a transaction, a second
 * client waits about 1 s and is then closed with 08006.
 */
static void test_query_wait_timeout(void **state)
{
	struct answer a, b;
	int holder, waiter;

	start_pgscope("transaction", 1, "query_wait_timeout = 1\n", NULL);
	holder = raw_connect("postgres", "postgres");
	waiter = raw_connect("postgres", "postgres");
	assert_true(holder >= 0 && waiter >= 0);
	raw_query(holder, "BEGIN", &a, 5000);
	assert_int_equal(a.ready, 'T');
	raw_query(waiter, "SELECT 1", &b, 5000);
	printf("waiter: %s %s \"%s\" after %lld ms\n", b.severity, b.sqlstate, b.message, b.ms);
	assert_int_equal(b.errors, 1);
	assert_string_equal(b.severity, "FATAL");
	assert_string_equal(b.sqlstate, "08006");
	assert_non_null(strstr(b.message, "query_wait_timeout"));
	assert_true(b.closed);
	assert_in_range(b.ms, 900, 3000);
	raw_query(holder, "COMMIT", &a, 5000);
	assert_int_equal(a.ready, 'I');
	close(holder);
	close(waiter);
	assert_timeouts("query_wait_timeout", 1, 1);
}

/* The backend pid of the one server of a pool of 1, through pgscope. */
static long pooled_backend_pid(int fd)
{
	char buf[64];
	size_t used = 0;
	struct harness_msg m;
	long pid = -1;
	const char *sql = "SELECT pg_backend_pid()";

	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'Q', sql, strlen(sql) + 1));
	assert_true(harness_send_all(fd, buf, used));
	while (harness_read_msg(fd, &m, 5000) == 1) {
		char type = m.type;

		/* DataRow: int16 count, int32 length, the text. */
		if (type == 'D' && m.len > 6)
			pid = strtol(m.data + 6, NULL, 10);
		free(m.data);
		if (type == 'Z')
			break;
	}
	return pid;
}

static long backend_exists(long pid)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE pid = %ld", pid);
	return txn_primary_long(sql);
}

/* server_idle_timeout = 1: an idle server is closed (its backend goes away). */
static void test_server_idle_timeout(void **state)
{
	long pid;
	int fd, i;

	start_pgscope("transaction", 1, "server_idle_timeout = 1\n", NULL);
	fd = raw_connect("postgres", "postgres");
	assert_true(fd >= 0);
	pid = pooled_backend_pid(fd);
	assert_true(pid > 0);
	for (i = 0; i < 80 && backend_exists(pid) != 0; i++)
		harness_sleep_ms(50);
	assert_int_equal(backend_exists(pid), 0);
	assert_true(pooled_backend_pid(fd) != pid);
	close(fd);
	assert_timeouts("server_idle_timeout", 1, 1000);
}

/* server_lifetime = 1: a server in steady use is replaced once it is older than 1 s. */
static void test_server_lifetime(void **state)
{
	long first, now = -1;
	long long start;
	int fd;

	start_pgscope("transaction", 1, "server_lifetime = 1\n", NULL);
	fd = raw_connect("postgres", "postgres");
	assert_true(fd >= 0);
	first = pooled_backend_pid(fd);
	assert_true(first > 0);
	start = harness_now_ms();
	while (harness_now_ms() - start < 5000) {
		now = pooled_backend_pid(fd);
		if (now != first)
			break;
		harness_sleep_ms(100);
	}
	printf("server replaced after %lld ms\n", harness_now_ms() - start);
	assert_true(now > 0 && now != first);
	assert_true(harness_now_ms() - start >= 500);
	close(fd);
}

/* A fake server on a loopback port: it accepts and then holds or closes each connection. */
struct fake_server {
	int listen_fd;
	int port;
	bool hold; /* keep connections open without a word (else close them at once) */
	volatile int accepted;
	volatile bool stop;
	int held[16];
	pthread_t thread;
};

static void *fake_server_run(void *arg)
{
	struct fake_server *f = arg;

	while (!f->stop) {
		struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(f->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		if (f->hold && f->accepted < 16)
			f->held[f->accepted] = fd;
		else
			close(fd);
		f->accepted++;
	}
	return NULL;
}

static void fake_server_start(struct fake_server *f, bool hold)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	memset(f, 0, sizeof(*f));
	f->hold = hold;
	f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->listen_fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listen_fd, 16), 0);
	assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&sa, &len), 0);
	f->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_server_run, f), 0);
}

static void fake_server_stop(struct fake_server *f)
{
	f->stop = true;
	pthread_join(f->thread, NULL);
	for (int i = 0; i < f->accepted && i < 16; i++)
		if (f->hold)
			close(f->held[i]);
	close(f->listen_fd);
}

/* Log in to database DB through pgscope and expect a FATAL SQLSTATE; returns the ms it took. */
static long long expect_login_error(const char *db, const char *sqlstate)
{
	long long start = harness_now_ms();
	int fd = harness_tcp_connect(ps.port);
	char pkt[256], code[8] = "";
	size_t len = harness_startup_packet(pkt, sizeof(pkt), "postgres", db);
	struct harness_msg m;
	bool got = false;

	assert_true(fd >= 0);
	assert_true(harness_send_all(fd, pkt, len));
	while (harness_read_msg(fd, &m, 8000) == 1) {
		if (m.type == 'E') {
			harness_error_field(&m, 'C', code, sizeof(code));
			got = true;
		}
		free(m.data);
		if (got)
			break;
	}
	close(fd);
	assert_true(got);
	assert_string_equal(code, sqlstate);
	return harness_now_ms() - start;
}

/* server_connect_timeout = 1: a server that never answers the login fails it in about 1 s. */
static void test_server_connect_timeout(void **state)
{
	struct fake_server f;
	char dbs[256];
	long long ms;

	fake_server_start(&f, true);
	snprintf(dbs, sizeof(dbs), "mute = host=127.0.0.1 port=%d dbname=postgres user=postgres\n",
	         f.port);
	/* The first timeout opens the breaker, which tells the waiting client at once (with the
	 * default of 3 failures in a row it would wait through three attempts). */
	start_pgscope("transaction", 2, "server_connect_timeout = 1\nbreaker_failures = 1\n", dbs);
	ms = expect_login_error("mute", "08001");
	printf("login failed after %lld ms\n", ms);
	assert_in_range(ms, 900, 3000);
	assert_timeouts("server_connect_timeout", 1, 1000);
	fake_server_stop(&f);
}

/*
 * server_login_retry = 2: after a failed login, clients get the error at once
 * and no new connection is made until the 2 s have passed.
 */
static void test_server_login_retry(void **state)
{
	struct fake_server f;
	char dbs[256];
	long long ms;
	int first;

	fake_server_start(&f, false);
	snprintf(dbs, sizeof(dbs), "rude = host=127.0.0.1 port=%d dbname=postgres user=postgres\n",
	         f.port);
	/* A server that drops logins is an outage, which the breaker paces; with the breaker
	 * off, server_login_retry paces every failure, as in PgBouncer. */
	start_pgscope("transaction", 2, "server_login_retry = 2\nbreaker_failures = 0\n", dbs);
	expect_login_error("rude", "08006");
	first = f.accepted;
	assert_true(first >= 1);
	ms = expect_login_error("rude", "08006");
	assert_true(ms < 500);
	assert_int_equal(f.accepted, first);
	harness_sleep_ms(2200);
	expect_login_error("rude", "08006");
	assert_true(f.accepted > first);
	fake_server_stop(&f);
}

/*
 * The timer of the IPv4 TCP socket LOCAL_PORT -> REMOTE_PORT in /proc/net/tcp:
 * its kind (2: keepalive, when nothing is in flight) and when it fires, in
 * clock ticks. false when there is no such socket.
 */
static bool tcp_timer(int local_port, int remote_port, int *kind, long *when)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[512];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		unsigned lport, rport, state;

		if (sscanf(line, " %*d: %*8x:%x %*8x:%x %x %*x:%*x %x:%lx", &lport, &rport, &state,
		           (unsigned *)kind, when) == 5 &&
		    (int)lport == local_port && (int)rport == remote_port)
			found = true;
	}
	fclose(f);
	return found;
}

static int local_port_of(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

/*
 * tcp_keepidle = 7: pgscope's socket to the client and its socket to the
 * server both run a keepalive timer due within 7 s.
 */
static void test_tcp_keepalive(void **state)
{
	const struct harness_cluster *cl = harness_cluster();
	char sql[160];
	long pid, server_port, when = -1;
	int fd, kind = -1;

	start_pgscope("transaction", 1, "tcp_keepidle = 7\n", NULL);
	fd = raw_connect("postgres", "postgres");
	assert_true(fd >= 0);
	assert_true(tcp_timer(ps.port, local_port_of(fd), &kind, &when));
	printf("client socket: timer %d in %ld ticks\n", kind, when);
	assert_int_equal(kind, 2);
	assert_true(when > 0 && when <= 7 * sysconf(_SC_CLK_TCK));
	pid = pooled_backend_pid(fd);
	assert_true(pid > 0);
	snprintf(sql, sizeof(sql), "SELECT client_port FROM pg_stat_activity WHERE pid = %ld", pid);
	server_port = txn_primary_long(sql);
	assert_true(server_port > 0);
	assert_true(tcp_timer((int)server_port, cl->port, &kind, &when));
	printf("server socket: timer %d in %ld ticks\n", kind, when);
	assert_int_equal(kind, 2);
	assert_true(when > 0 && when <= 7 * sysconf(_SC_CLK_TCK));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_query_timeout_global, teardown),
	    cmocka_unit_test_teardown(test_query_timeout_session, teardown),
	    cmocka_unit_test_teardown(test_comment_hint, teardown),
	    cmocka_unit_test_teardown(test_comment_hint_prepared, teardown),
	    cmocka_unit_test_teardown(test_own_cancel_keeps_server_error, teardown),
	    cmocka_unit_test_teardown(test_per_database_and_user, teardown),
	    cmocka_unit_test_teardown(test_stopped_backend, teardown),
	    cmocka_unit_test_teardown(test_stopped_backend_closes_session, teardown),
	    cmocka_unit_test_teardown(test_idle_transaction_timeout, teardown),
	    cmocka_unit_test_teardown(test_client_idle_timeout, teardown),
	    cmocka_unit_test_teardown(test_client_login_timeout, teardown),
	    cmocka_unit_test_teardown(test_query_wait_timeout, teardown),
	    cmocka_unit_test_teardown(test_server_idle_timeout, teardown),
	    cmocka_unit_test_teardown(test_server_lifetime, teardown),
	    cmocka_unit_test_teardown(test_server_connect_timeout, teardown),
	    cmocka_unit_test_teardown(test_server_login_retry, teardown),
	    cmocka_unit_test_teardown(test_tcp_keepalive, teardown),
	};

	/* PGSCOPE_TEST_ONLY=NAME runs the tests matching NAME (a glob) alone. */
	if (getenv("PGSCOPE_TEST_ONLY") != NULL)
		cmocka_set_test_filter(getenv("PGSCOPE_TEST_ONLY"));
	return cmocka_run_group_tests_name("timeouts", tests, NULL, NULL);
}
