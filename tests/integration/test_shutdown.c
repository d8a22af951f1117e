/*
 * test_shutdown.c - stopping and replacing pgscope without cutting transactions: SIGTERM lets
 * transactions in flight finish and then ends each client with 57P01, shutdown_timeout bounds
 * the wait, and `pgscope serve --takeover` replaces a running pgscope during a pgbench run
 * with no failed transaction and no refused connection.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/integration/harness.h"

#define SQLSTATE_ADMIN_SHUTDOWN "57P01"
#define TERMINATING_MSG         "terminating connection due to administrator command"

static struct harness_pgscope ps;

static int teardown(void **state)
{
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

/* Wait up to TIMEOUT_MS until pgscope's log has a line with NEEDLE. */
static bool wait_log(const char *needle, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (!harness_file_has_line(ps.log_path, needle, NULL)) {
		if (harness_now_ms() > deadline) {
			fprintf(stderr, "no \"%s\" in the log within %d ms\n", needle, timeout_ms);
			return false;
		}
		harness_sleep_ms(20);
	}
	return true;
}

static void start_pgscope_mode(const char *pool_mode, const char *extra_main)
{
	struct harness_pgscope_opts opts = {
	    .pool_mode = pool_mode, .pool_size = 10, .extra_main = extra_main};

	if (harness_direct_mode())
		skip(); /* the pooler's own shutdown */
	assert_true(harness_pgscope_start(&ps, &opts));
	/* Accepting already; its signal handlers are in place once it logs its start. */
	assert_true(wait_log("event=pooler.start", 5000));
}

static void primary_exec(const char *sql)
{
	PGconn *primary = harness_connect_primary();

	assert_non_null(primary);
	assert_true(harness_exec_ok(primary, sql));
	PQfinish(primary);
}

static long primary_long(const char *sql)
{
	PGconn *primary = harness_connect_primary();
	char value[32];
	long n = -1;

	if (primary != NULL && harness_query_value(primary, sql, value, sizeof(value)))
		n = atol(value);
	PQfinish(primary);
	return n;
}

static void start_pgscope(const char *extra_main)
{
	start_pgscope_mode("transaction", extra_main);
}

/* A raw connection through pgscope, logged in and idle. */
static int raw_client(void)
{
	int fd = harness_tcp_connect(ps.port);

	assert_true(fd >= 0);
	assert_true(harness_raw_login(fd, "postgres", "postgres", 5000));
	return fd;
}

static void send_query(int fd, const char *sql)
{
	char buf[512];
	size_t len = strlen(sql) + 1;
	uint32_t be = htobe32((uint32_t)(len + 4));

	assert_true(len + 5 <= sizeof(buf));
	buf[0] = 'Q';
	memcpy(buf + 1, &be, 4);
	memcpy(buf + 5, sql, len);
	assert_true(harness_send_all(fd, buf, len + 5));
}

/*
 * Read until ReadyForQuery within TIMEOUT_MS; fails on an ErrorResponse. Returns the
 * transaction status it carries.
 */
static char read_until_ready(int fd, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		struct harness_msg m;
		long long left = deadline - harness_now_ms();
		int r = harness_read_msg(fd, &m, left > 0 ? (int)left : 0);
		char status;

		assert_int_equal(r, 1);
		if (m.type == 'E') {
			char text[256] = "";

			harness_error_field(&m, 'M', text, sizeof(text));
			fprintf(stderr, "unexpected error: %s\n", text);
			free(m.data);
			fail();
		}
		status = m.len > 0 ? m.data[0] : '?';
		free(m.data);
		if (m.type == 'Z')
			return status;
	}
}

/* The next message is a FATAL 57P01 within TIMEOUT_MS, and then the connection closes. */
static void expect_terminated(int fd, int timeout_ms)
{
	struct harness_msg m;
	char sqlstate[6] = "", severity[16] = "", text[256] = "";

	assert_int_equal(harness_read_msg(fd, &m, timeout_ms), 1);
	if (m.type == 'E') {
		harness_error_field(&m, 'C', sqlstate, sizeof(sqlstate));
		harness_error_field(&m, 'S', severity, sizeof(severity));
		harness_error_field(&m, 'M', text, sizeof(text));
	}
	free(m.data);
	assert_int_equal(m.type, 'E');
	assert_string_equal(severity, "FATAL");
	assert_string_equal(sqlstate, SQLSTATE_ADMIN_SHUTDOWN);
	assert_string_equal(text, TERMINATING_MSG);
	assert_true(harness_wait_closed(fd, 3000));
}

static bool path_exists(const char *dir, const char *name)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/*
 * SIGTERM: a transaction in flight runs to its COMMIT, which succeeds, and its client gets
 * 57P01 right after; a client idle between transactions gets it at once; new connections are
 * refused; the process exits 0 once no client is left, its pidfile and socket file removed.
 */
static void sigterm_lets_transaction_finish(const char *pool_mode)
{
	char sock[64];
	long long t0;
	int busy, idle;

	start_pgscope_mode(pool_mode, NULL);
	primary_exec("DROP TABLE IF EXISTS shutdown_t; CREATE TABLE shutdown_t (id int)");
	busy = raw_client();
	send_query(busy, "BEGIN");
	assert_int_equal(read_until_ready(busy, 5000), 'T');
	send_query(busy, "INSERT INTO shutdown_t VALUES (1)");
	assert_int_equal(read_until_ready(busy, 5000), 'T');
	send_query(busy, "SELECT pg_sleep(2) /* shutdown-busy */");
	assert_true(harness_wait_running("shutdown-busy", 5000));
	idle = raw_client();

	t0 = harness_now_ms();
	assert_true(harness_pgscope_signal(&ps, SIGTERM));
	expect_terminated(idle, 2000);
	close(idle);
	assert_true(harness_pgscope_alive(&ps)); /* still serving the transaction */
	assert_int_equal(harness_tcp_connect(ps.port), -1);

	assert_int_equal(read_until_ready(busy, 5000), 'T');
	send_query(busy, "COMMIT");
	assert_int_equal(read_until_ready(busy, 5000), 'I');
	expect_terminated(busy, 2000);
	close(busy);
	assert_int_equal(primary_long("SELECT count(*) FROM shutdown_t"), 1);

	assert_int_equal(harness_pgscope_wait_exit(&ps, 5000), 0);
	printf("SIGTERM to exit: %lld ms\n", harness_now_ms() - t0);
	assert_false(path_exists(ps.dir, "pgscope.pid"));
	snprintf(sock, sizeof(sock), ".s.PGSQL.%d", ps.port);
	assert_false(path_exists(ps.dir, sock));
	snprintf(sock, sizeof(sock), ".s.PGSQL.%d.takeover", ps.port);
	assert_false(path_exists(ps.dir, sock));
	primary_exec("DROP TABLE shutdown_t");
}

static void test_sigterm_lets_transaction_finish(void **state)
{
	sigterm_lets_transaction_finish("transaction");
}

/* Session mode: the same, a session ending at its transaction's end. */
static void test_sigterm_session_mode(void **state)
{
	sigterm_lets_transaction_finish("session");
}

/*
 * A transaction still running at shutdown_timeout is cut with 57P01, its
 * statement cancelled on the backend; the process exits.
 */
static void test_shutdown_timeout_cuts_transaction(void **state)
{
	long long t0, waited;
	int busy;

	start_pgscope("shutdown_timeout = 1");
	busy = raw_client();
	send_query(busy, "BEGIN");
	assert_int_equal(read_until_ready(busy, 5000), 'T');
	send_query(busy, "SELECT pg_sleep(30) /* shutdown-cut */");
	assert_true(harness_wait_running("shutdown-cut", 5000));

	t0 = harness_now_ms();
	assert_true(harness_pgscope_signal(&ps, SIGINT));
	expect_terminated(busy, 3000);
	waited = harness_now_ms() - t0;
	close(busy);
	printf("cut after %lld ms (shutdown_timeout 1 s)\n", waited);
	assert_true(waited >= 900);
	assert_int_equal(harness_pgscope_wait_exit(&ps, 3000), 0);
	/* The statement cut short was cancelled on its backend, not left running. */
	assert_true(harness_wait_not_running("shutdown-cut", 3000));
}

/* A second SIGTERM ends at once what the first was waiting for. */
static void test_second_signal_is_immediate(void **state)
{
	long long t0;
	int busy;

	start_pgscope(NULL);
	busy = raw_client();
	send_query(busy, "BEGIN");
	assert_int_equal(read_until_ready(busy, 5000), 'T');
	send_query(busy, "SELECT pg_sleep(5) /* shutdown-twice */");
	assert_true(harness_wait_running("shutdown-twice", 5000));
	assert_true(harness_pgscope_signal(&ps, SIGTERM));
	assert_true(wait_log("event=pooler.shutdown", 3000));
	assert_true(harness_pgscope_alive(&ps)); /* waiting for the transaction */
	t0 = harness_now_ms();
	assert_true(harness_pgscope_signal(&ps, SIGTERM));
	expect_terminated(busy, 2000);
	close(busy);
	assert_int_equal(harness_pgscope_wait_exit(&ps, 3000), 0);
	assert_true(harness_now_ms() - t0 < 2500);
}

/* A pgbench run in a background thread. */
struct bench {
	const char **argv;
	struct harness_run_result res;
	bool started;
};

static void *bench_thread(void *arg)
{
	struct bench *b = arg;

	b->started = harness_run(b->argv, NULL, 60, &b->res);
	return NULL;
}

/* The number after LABEL in pgbench's report, or -1 when the line is missing. */
static long report_number(const char *output, const char *label)
{
	const char *p = strstr(output, label);

	return p == NULL ? -1 : strtol(p + strlen(label), NULL, 10);
}

/* Wait up to TIMEOUT_MS until SQL on the primary returns at least WANT. */
static bool wait_count(const char *sql, long want, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (harness_now_ms() < deadline) {
		if (primary_long(sql) >= want)
			return true;
		harness_sleep_ms(50);
	}
	fprintf(stderr, "%s stayed under %ld for %d ms\n", sql, want, timeout_ms);
	return false;
}

static void write_script(const char *path, const char *table)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f,
	        "BEGIN;\n"
	        "INSERT INTO %s VALUES (:client_id);\n"
	        "SELECT pg_sleep(0.05);\n"
	        "COMMIT;\n",
	        table);
	assert_int_equal(fclose(f), 0);
}

/*
 * SIGTERM during pgbench: every client ends between two transactions (pgbench reports each
 * abort at the script's first command, BEGIN, never inside a transaction), and pgscope exits
 * long before the run would have ended.
 */
static void test_sigterm_during_pgbench(void **state)
{
	char port[16], script[400];
	const char *argv[] = {"pgbench", "-n",       "-f",       script,      "-c", "4",
	                      "-T",      "20",       "-h",       "127.0.0.1", "-p", port,
	                      "-U",      "postgres", "postgres", NULL};
	struct bench b = {.argv = argv};
	pthread_t thread;
	const char *p;
	int aborted = 0;

	start_pgscope(NULL);
	primary_exec("DROP TABLE IF EXISTS shutdown_log; CREATE TABLE shutdown_log (client int)");
	snprintf(port, sizeof(port), "%d", ps.port);
	snprintf(script, sizeof(script), "%s/shutdown.sql", ps.dir);
	write_script(script, "shutdown_log");
	assert_int_equal(pthread_create(&thread, NULL, bench_thread, &b), 0);
	assert_true(wait_count("SELECT count(*) FROM shutdown_log", 20, 10000));
	assert_true(harness_pgscope_signal(&ps, SIGTERM));
	assert_int_equal(harness_pgscope_wait_exit(&ps, 5000), 0);
	pthread_join(thread, NULL);
	assert_true(b.started);
	assert_false(b.res.timed_out);
	for (p = strstr(b.res.output, "aborted in command "); p != NULL;
	     p = strstr(p + 1, "aborted in command ")) {
		long cmd = strtol(p + strlen("aborted in command "), NULL, 10);

		if (cmd != 0)
			fprintf(stderr, "pgbench output:\n%.6000s\n", b.res.output);
		assert_int_equal(cmd, 0); /* BEGIN: between transactions */
		aborted++;
	}
	printf("pgbench: %ld transactions, %d clients ended between transactions\n",
	       report_number(b.res.output, "number of transactions actually processed: "), aborted);
	assert_int_equal(aborted, 4);
	assert_non_null(strstr(b.res.output, TERMINATING_MSG));
	harness_run_result_free(&b.res);
	primary_exec("DROP TABLE shutdown_log");
}

static void assert_bench_clean(struct bench *b, const char *what)
{
	long done = report_number(b->res.output, "number of transactions actually processed: ");
	long failed = report_number(b->res.output, "number of failed transactions: ");

	assert_true(b->started);
	if (b->res.exit_code != 0 || failed != 0 || done <= 0 ||
	    strstr(b->res.output, "aborted") != NULL)
		fprintf(stderr, "%s output:\n%.6000s\n", what, b->res.output);
	else
		printf("%s: %ld transactions, %ld failed\n", what, done, failed);
	assert_false(b->res.timed_out);
	assert_int_equal(b->res.exit_code, 0);
	assert_int_equal(failed, 0);
	assert_true(done > 0);
	assert_null(strstr(b->res.output, "aborted"));
}

/*
 * Online restart during pgbench: a second pgscope takes over the listening sockets; the old
 * one serves its clients until they leave and exits 0; no transaction fails and no new
 * connection (pgbench -C) is refused; the new one serves afterwards, over TCP and the Unix
 * socket.
 */
static void test_online_restart_during_pgbench(void **state)
{
	char port[16], script[400], script_c[400], conninfo[400];
	const char *sessions[] = {"pgbench", "-n",       "-f",       script,      "-c", "4",
	                          "-T",      "8",        "-h",       "127.0.0.1", "-p", port,
	                          "-U",      "postgres", "postgres", NULL};
	const char *connects[] = {"pgbench", "-n", "-C",       "-f",       script_c,    "-c",
	                          "2",       "-T", "8",        "-h",       "127.0.0.1", "-p",
	                          port,      "-U", "postgres", "postgres", NULL};
	struct bench b1 = {.argv = sessions}, b2 = {.argv = connects};
	struct harness_pgscope next;
	pthread_t t1, t2;
	PGconn *conn;
	FILE *f;
	long before, after, pidfile_pid = 0;

	/* Longer than the run: the old process keeps its sessions until pgbench ends them. */
	start_pgscope("shutdown_timeout = 30");
	primary_exec(
	    "DROP TABLE IF EXISTS restart_log, restart_conn_log; "
	    "CREATE TABLE restart_log (client int); CREATE TABLE restart_conn_log (client int)");
	snprintf(port, sizeof(port), "%d", ps.port);
	snprintf(script, sizeof(script), "%s/restart.sql", ps.dir);
	write_script(script, "restart_log");
	snprintf(script_c, sizeof(script_c), "%s/restart-connect.sql", ps.dir);
	write_script(script_c, "restart_conn_log");
	assert_int_equal(pthread_create(&t1, NULL, bench_thread, &b1), 0);
	assert_int_equal(pthread_create(&t2, NULL, bench_thread, &b2), 0);
	assert_true(wait_count("SELECT count(*) FROM restart_log", 40, 10000));

	assert_true(harness_pgscope_takeover(&ps, &next));
	before = primary_long("SELECT count(*) FROM restart_conn_log");
	/* The old process keeps its sessions until pgbench ends them, then exits. */
	assert_int_equal(harness_pgscope_wait_exit(&ps, 20000), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	assert_bench_clean(&b1, "pgbench -c 4 (sessions across the restart)");
	assert_bench_clean(&b2, "pgbench -C -c 2 (a new connection per transaction)");
	/* Connections made after the hand-over, which only the new process accepted. */
	after = primary_long("SELECT count(*) FROM restart_conn_log");
	printf("new connections served after the hand-over: %ld\n", after - before);
	assert_true(after - before > 50);
	assert_true(harness_file_has_line(next.log_path, "event=takeover.handed_over", NULL));

	/* The new one serves, over TCP and over the Unix socket, and owns the pidfile. */
	ps = next;
	assert_true(harness_pgscope_alive(&ps));
	conn = harness_connect(ps.port, NULL);
	assert_non_null(conn);
	assert_true(harness_exec_ok(conn, "SELECT 1"));
	PQfinish(conn);
	snprintf(conninfo, sizeof(conninfo), "host=%s", ps.dir);
	conn = harness_connect(ps.port, conninfo);
	assert_non_null(conn);
	assert_true(harness_exec_ok(conn, "SELECT 1"));
	PQfinish(conn);
	snprintf(script, sizeof(script), "%s/pgscope.pid", ps.dir);
	f = fopen(script, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld", &pidfile_pid), 1);
	fclose(f);
	assert_int_equal(pidfile_pid, (long)ps.pid);
	primary_exec("DROP TABLE restart_log, restart_conn_log");
}

/* --takeover with no pgscope to take over from: a clear error, a failed exit status. */
static void test_takeover_without_old_process(void **state)
{
	struct harness_pgscope next;

	start_pgscope(NULL);
	assert_true(harness_pgscope_signal(&ps, SIGTERM));
	assert_int_equal(harness_pgscope_wait_exit(&ps, 5000), 0);
	assert_false(harness_pgscope_takeover(&ps, &next));
	assert_true(harness_file_has_line(next.log_path, "event=takeover.failed", NULL));
}

/* A blocking connection to pgscope's control socket (the default path in its directory). */
static int control_connect(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char path[400];
	int len = snprintf(path, sizeof(path), "%s/.s.PGSQL.%d.takeover", ps.dir, ps.port);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_true(len > 0 && (size_t)len < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, (size_t)len + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void assert_serves(void)
{
	PGconn *conn = harness_connect(ps.port, NULL);

	assert_non_null(conn);
	assert_true(harness_exec_ok(conn, "SELECT 1"));
	PQfinish(conn);
}

/*
 * A hand-over that does not complete leaves the running pgscope serving: garbage on the
 * control socket, and a new process that takes the sockets and goes away before READY.
 */
static void test_failed_handover_keeps_serving(void **state)
{
	char buf[64];
	int fd;

	start_pgscope(NULL);
	fd = control_connect();
	assert_true(harness_send_all(fd, "HELLO\n", 6));
	assert_true(harness_wait_closed(fd, 3000));
	close(fd);
	assert_true(wait_log("event=takeover.aborted", 3000));
	assert_serves();

	fd = control_connect();
	assert_true(harness_send_all(fd, "TAKEOVER 1\n", 11));
	assert_true(recv(fd, buf, sizeof(buf), 0) > 0); /* "LISTENERS n", sockets attached */
	assert_true(wait_log("event=takeover.sent", 3000));
	close(fd);
	assert_true(wait_log("the new process closed the connection", 3000));
	assert_serves();
	assert_false(harness_file_has_line(ps.log_path, "event=takeover.handed_over", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_sigterm_lets_transaction_finish, teardown),
	    cmocka_unit_test_teardown(test_sigterm_session_mode, teardown),
	    cmocka_unit_test_teardown(test_shutdown_timeout_cuts_transaction, teardown),
	    cmocka_unit_test_teardown(test_second_signal_is_immediate, teardown),
	    cmocka_unit_test_teardown(test_sigterm_during_pgbench, teardown),
	    cmocka_unit_test_teardown(test_online_restart_during_pgbench, teardown),
	    cmocka_unit_test_teardown(test_takeover_without_old_process, teardown),
	    cmocka_unit_test_teardown(test_failed_handover_keeps_serving, teardown),
	};

	return cmocka_run_group_tests_name("shutdown", tests, NULL, NULL);
}
