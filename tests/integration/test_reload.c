/*
 * test_reload.c - SIGHUP re-reads the config without dropping clients, and
 * SIGUSR1/SIGUSR2 pause and resume: pool sizes grow and shrink under a
 * pgbench run with no failed transaction, databases are added, changed and
 * removed, a config that fails validation leaves the old one serving, and a
 * paused pool holds new transactions until it is resumed.
 *
 * pgscope is started by the harness; each test then writes the config file
 * itself and sends SIGHUP, waiting for the reload's log event.
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

#define BENCH_DB  "rl_bench"
#define ADDED_DB  "rl_added"
#define GONE_DB   "rl_gone"
#define CHG_DB    "rl_chg"
#define RELOAD_MS 10000 /* how long a reload may take to be logged */

static struct harness_pgscope ps;
static char port_str[16];

/* Write pgscope's config: transaction mode, POOL_SIZE, the postgres entry and DBS. */
static bool write_config(int pool_size, const char *dbs, const char *main_extra)
{
	const struct harness_cluster *c = harness_cluster();
	FILE *f = fopen(ps.config_path, "w");

	if (f == NULL)
		return false;
	fprintf(f,
	        "[pgscope]\n"
	        "listen_addr = 127.0.0.1\n"
	        "listen_port = %d\n"
	        "unix_socket_dir = %s\n"
	        "auth_type = trust\n"
	        "pool_mode = transaction\n"
	        "default_pool_size = %d\n"
	        "max_client_conn = 200\n"
	        "logfile = %s\n"
	        "pidfile = %s/pgscope.pid\n"
	        "max_packet_size = 1048576\n"
	        "%s\n"
	        "[databases]\n"
	        "postgres = host=%s port=%d dbname=postgres user=postgres\n"
	        "%s\n",
	        ps.port, ps.dir, pool_size, ps.log_path, ps.dir, main_extra ? main_extra : "",
	        c->host, c->port, dbs ? dbs : "");
	return fclose(f) == 0;
}

/* A [databases] line for NAME on the primary, with EXTRA connection settings. */
static void db_line(char *out, size_t outsz, const char *name, const char *extra)
{
	const struct harness_cluster *c = harness_cluster();

	snprintf(out, outsz, "%s = host=%s port=%d dbname=%s user=postgres %s\n", name, c->host,
	         c->port, name, extra ? extra : "");
}

/* Occurrences of WHAT in the log file PATH. */
static int log_count_in(const char *path, const char *what)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

static int log_count(const char *what)
{
	return log_count_in(ps.log_path, what);
}

/* Wait up to TIMEOUT_MS until WHAT appears in the log more than BEFORE times. */
static bool wait_log(const char *what, int before, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (harness_now_ms() < deadline) {
		if (log_count(what) > before)
			return true;
		harness_sleep_ms(20);
	}
	fprintf(stderr, "no new '%s' in pgscope's log within %d ms\n", what, timeout_ms);
	return false;
}

/* Send SIGHUP and wait until pgscope logs EVENT ("event=config.reloaded" or the failure). */
static bool signal_and_wait(int sig, const char *event)
{
	int before = log_count(event);

	if (kill(ps.pid, sig) != 0)
		return false;
	return wait_log(event, before, RELOAD_MS);
}

static bool reload(void)
{
	return signal_and_wait(SIGHUP, "event=config.reloaded");
}

/* Reload with a pool size of 2 and one database NAME beside postgres (EXTRA: its settings). */
static bool reload_serving(const char *name, const char *extra)
{
	char line[256];

	db_line(line, sizeof(line), name, extra);
	return write_config(2, line, NULL) && reload();
}

static bool create_db(PGconn *primary, const char *name)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	if (!harness_exec_ok(primary, sql))
		return false;
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	return harness_exec_ok(primary, sql);
}

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {.pool_mode = "transaction", .pool_size = 2};
	const char *dbs[] = {BENCH_DB, ADDED_DB, GONE_DB, CHG_DB};
	PGconn *primary = harness_connect_primary();
	bool ok = primary != NULL && harness_exec_ok(primary, "SET client_min_messages = warning");

	for (size_t i = 0; ok && i < sizeof(dbs) / sizeof(dbs[0]); i++)
		ok = create_db(primary, dbs[i]);
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

/* Client backends the primary has for database DB. */
static long backends(const char *db, const char *application_name)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND "
	         "backend_type = 'client backend'%s%s%s",
	         db, application_name ? " AND application_name = '" : "",
	         application_name ? application_name : "", application_name ? "'" : "");
	return txn_primary_long(sql);
}

/* Wait up to TIMEOUT_MS until the primary has N backends of DB with APP as application_name. */
static bool wait_backends(const char *db, const char *app, long n, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	long have = -1;

	while (harness_now_ms() < deadline) {
		have = backends(db, app);
		if (have == n)
			return true;
		harness_sleep_ms(50);
	}
	fprintf(stderr, "%s/%s: %ld backends, expected %ld\n", db, app, have, n);
	return false;
}

/* A connection through pgscope to DB, or NULL. */
static PGconn *connect_db(const char *db)
{
	char extra[128];

	snprintf(extra, sizeof(extra), "dbname=%s", db);
	return harness_connect(ps.port, extra);
}

/* Try to connect to DB through pgscope and expect it refused with SQLSTATE 3D000. */
static bool connect_refused(const char *db)
{
	char conninfo[256];
	PGconn *conn;
	bool refused;

	snprintf(conninfo, sizeof(conninfo),
	         "host=127.0.0.1 port=%d user=postgres dbname=%s connect_timeout=10", ps.port, db);
	conn = PQconnectdb(conninfo);
	refused = PQstatus(conn) == CONNECTION_BAD &&
	          strstr(PQerrorMessage(conn), "no such database") != NULL;
	if (!refused)
		fprintf(stderr, "connection to %s not refused as unknown: %s\n", db,
		        PQstatus(conn) == CONNECTION_OK ? "it connected" : PQerrorMessage(conn));
	PQfinish(conn);
	return refused;
}

struct bench_run {
	struct harness_run_result res;
	bool started;
	atomic_bool done;
};

static void *bench_thread(void *arg)
{
	struct bench_run *run = arg;
	const char *argv[] = {"pgbench", "-c",       "8",      "-j",        "2",  "-T",
	                      "15",      "-n",       "-h",     "127.0.0.1", "-p", port_str,
	                      "-U",      "postgres", BENCH_DB, NULL};

	run->started = harness_run(argv, NULL, 120, &run->res);
	atomic_store(&run->done, true);
	return NULL;
}

static long report_number(const char *output, const char *label)
{
	const char *p = strstr(output, label);

	return p == NULL ? -1 : strtol(p + strlen(label), NULL, 10);
}

/*
 * Sample the bench database's backends for MS milliseconds while the run
 * lasts; the most seen, or -1 when no sample could be taken.
 */
static long sample_for(struct bench_run *run, int ms)
{
	long long deadline = harness_now_ms() + ms;
	long most = -1;

	while (!atomic_load(&run->done) && harness_now_ms() < deadline) {
		long n = backends(BENCH_DB, NULL);

		if (n > most)
			most = n;
		harness_sleep_ms(50);
	}
	return most;
}

/*
 * pgbench -c 8 in transaction mode over a pool of 2; a SIGHUP raises the pool
 * to 6 and adds a database, a second one lowers it to 1. The primary's
 * backend count follows, pgbench loses no transaction, and the added database
 * opens its min_pool_size and takes clients.
 */
static void test_pool_size_and_added_db_under_pgbench(void **state)
{
	const char *init[] = {"pgbench", "-i", "-s", "1",        "-q",     "-h", "127.0.0.1",
	                      "-p",      NULL, "-U", "postgres", BENCH_DB, NULL};
	char primary_port[16], dbs[1024], bench[256], added[256];
	struct harness_run_result res;
	struct bench_run run = {.started = false};
	pthread_t thread;
	long before, grown, shrunk, failed, done;
	PGconn *conn;
	char value[64];

	if (harness_direct_mode())
		skip();
	snprintf(primary_port, sizeof(primary_port), "%d", harness_cluster()->port);
	init[8] = primary_port;
	assert_true(harness_run(init, NULL, 120, &res));
	assert_int_equal(res.exit_code, 0);
	harness_run_result_free(&res);

	db_line(bench, sizeof(bench), BENCH_DB, NULL);
	db_line(added, sizeof(added), ADDED_DB, "min_pool_size=1");
	assert_true(write_config(2, bench, NULL));
	assert_true(reload());
	assert_true(connect_refused(ADDED_DB));

	assert_int_equal(pthread_create(&thread, NULL, bench_thread, &run), 0);
	before = sample_for(&run, 3000);

	snprintf(dbs, sizeof(dbs), "%s%s", bench, added);
	assert_true(write_config(6, dbs, NULL));
	assert_true(reload());
	grown = sample_for(&run, 3000);

	assert_true(write_config(1, dbs, NULL));
	assert_true(reload());
	/* Let the extra servers be released, then the count must stay at the new size. */
	(void)sample_for(&run, 1500);
	shrunk = sample_for(&run, 2500);

	pthread_join(thread, NULL);
	assert_true(run.started);
	done = report_number(run.res.output, "number of transactions actually processed: ");
	failed = report_number(run.res.output, "number of failed transactions: ");
	printf("pgbench -c 8 -T 15, transaction mode: %ld transactions, %ld failed; server "
	       "backends at most %ld with pool 2, %ld with pool 6, %ld after lowering it to 1\n",
	       done, failed, before, grown, shrunk);
	if (run.res.exit_code != 0 || failed != 0)
		fprintf(stderr, "pgbench output:\n%.4000s\n", run.res.output);
	assert_false(run.res.timed_out);
	assert_int_equal(run.res.exit_code, 0);
	assert_true(done > 0);
	assert_int_equal(failed, 0);
	assert_null(strstr(run.res.output, "aborted"));
	assert_true(before >= 1 && before <= 2);
	assert_true(grown > 2 && grown <= 6);
	assert_int_equal(shrunk, 1);
	harness_run_result_free(&run.res);

	/* The added database's min_pool_size was opened without a client asking. */
	assert_true(wait_backends(ADDED_DB, NULL, 1, 5000));
	conn = connect_db(ADDED_DB);
	assert_non_null(conn);
	assert_true(harness_query_value(conn, "SELECT current_database()", value, sizeof(value)));
	assert_string_equal(value, ADDED_DB);
	PQfinish(conn);
	assert_true(harness_pgscope_alive(&ps));
}

/*
 * A database removed from the config refuses new clients with 3D000, while a
 * client already connected to it goes on working (new transactions included)
 * until it leaves.
 */
static void test_removed_db_keeps_its_clients(void **state)
{
	char value[64];
	PGconn *conn;

	if (harness_direct_mode())
		skip();
	assert_true(reload_serving(GONE_DB, NULL));
	conn = connect_db(GONE_DB);
	assert_non_null(conn);
	assert_true(harness_exec_ok(conn, "SELECT 1"));

	assert_true(write_config(2, NULL, NULL));
	assert_true(reload());
	assert_true(connect_refused(GONE_DB));
	/* The existing client: several transactions, each may need a server. */
	for (int i = 0; i < 3; i++) {
		assert_true(harness_exec_ok(conn, "BEGIN"));
		assert_true(
		    harness_query_value(conn, "SELECT current_database()", value, sizeof(value)));
		assert_string_equal(value, GONE_DB);
		assert_true(harness_exec_ok(conn, "COMMIT"));
	}
	PQfinish(conn);
	assert_true(connect_refused(GONE_DB));
}

/*
 * A client still logging in (asked for its password) when its database is
 * removed gets 3D000 at the reload, not a login to a database that is gone.
 */
static void test_removed_db_refuses_client_in_login(void **state)
{
	char users[300], extra[400], line[256], pkt[256], sqlstate[6];
	struct harness_msg msg;
	size_t n;
	FILE *f;
	int fd;

	if (harness_direct_mode())
		skip();
	snprintf(users, sizeof(users), "%s/users.txt", ps.dir);
	f = fopen(users, "w");
	assert_non_null(f);
	fprintf(f, "\"postgres\" \"secret\"\n");
	assert_int_equal(fclose(f), 0);
	snprintf(extra, sizeof(extra), "auth_type = plain\nauth_file = %s", users);
	db_line(line, sizeof(line), GONE_DB, NULL);
	assert_true(write_config(2, line, extra));
	assert_true(reload());

	fd = harness_tcp_connect(ps.port);
	assert_true(fd >= 0);
	n = harness_startup_packet(pkt, sizeof(pkt), "postgres", GONE_DB);
	assert_true(n > 0 && harness_send_all(fd, pkt, n));
	assert_int_equal(harness_read_msg(fd, &msg, 5000), 1);
	assert_int_equal(msg.type, 'R'); /* the password request */
	free(msg.data);

	assert_true(write_config(2, NULL, extra));
	assert_true(reload());
	assert_int_equal(harness_read_msg(fd, &msg, 5000), 1);
	assert_int_equal(msg.type, 'E');
	assert_true(harness_error_field(&msg, 'C', sqlstate, sizeof(sqlstate)));
	assert_string_equal(sqlstate, "3D000");
	free(msg.data);
	close(fd);
	assert_true(reload_serving(BENCH_DB, NULL));
}

/*
 * A config that fails validation: the reload is refused with a logged error,
 * and the old config goes on serving (the database it would have removed
 * still takes clients; the pool keeps working).
 */
static void test_bad_config_keeps_old(void **state)
{
	char value[64];
	PGconn *conn, *fresh;

	if (harness_direct_mode())
		skip();
	assert_true(reload_serving(BENCH_DB, NULL));
	conn = connect_db(BENCH_DB);
	assert_non_null(conn);

	/* An invalid value, and the bench database gone: neither may take effect. */
	assert_true(write_config(2, NULL, "query_wait_timeout = soon"));
	assert_true(signal_and_wait(SIGHUP, "event=config.reload_failed"));
	assert_true(log_count("query_wait_timeout") > 0);
	assert_true(harness_pgscope_alive(&ps));

	assert_true(harness_query_value(conn, "SELECT current_database()", value, sizeof(value)));
	assert_string_equal(value, BENCH_DB);
	fresh = connect_db(BENCH_DB);
	assert_non_null(fresh);
	assert_true(harness_exec_ok(fresh, "SELECT 1"));
	PQfinish(fresh);
	PQfinish(conn);
	/* Put a valid file back for the tests that follow. */
	assert_true(reload_serving(BENCH_DB, NULL));
}

/*
 * A changed [databases] entry (another application_name): its idle servers
 * are replaced, and the client connected before the change gets servers made
 * with the new entry.
 */
static void test_changed_db_gets_new_servers(void **state)
{
	char value[64];
	PGconn *conn;

	if (harness_direct_mode())
		skip();
	assert_true(reload_serving(CHG_DB, "application_name=rl_first"));
	conn = connect_db(CHG_DB);
	assert_non_null(conn);
	assert_true(harness_query_value(conn, "SELECT current_setting('application_name')", value,
	                                sizeof(value)));
	assert_string_equal(value, "rl_first");
	assert_true(wait_backends(CHG_DB, "rl_first", 1, 5000));

	assert_true(reload_serving(CHG_DB, "application_name=rl_second"));
	/* The idle server made with the old entry is closed at the reload. */
	assert_true(wait_backends(CHG_DB, "rl_first", 0, 5000));
	assert_true(harness_query_value(conn, "SELECT current_setting('application_name')", value,
	                                sizeof(value)));
	assert_string_equal(value, "rl_second");
	assert_true(wait_backends(CHG_DB, "rl_second", 1, 5000));
	PQfinish(conn);
}

/* Wait up to TIMEOUT_MS for CONN's pending query to finish; its result, or NULL. */
static PGresult *wait_result(PGconn *conn, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	while (harness_now_ms() < deadline) {
		if (!PQconsumeInput(conn))
			return NULL;
		if (!PQisBusy(conn))
			return PQgetResult(conn);
		harness_sleep_ms(10);
	}
	return NULL;
}

static void drain_results(PGconn *conn)
{
	PGresult *r;

	while ((r = PQgetResult(conn)) != NULL)
		PQclear(r);
}

/*
 * SIGUSR1 pauses: the transaction running at that moment finishes, a new
 * one waits while paused, and SIGUSR2 lets it run.
 */
static void test_pause_resume_signals(void **state)
{
	char value[64];
	PGconn *running, *waiter;
	PGresult *r;
	int paused_before;

	if (harness_direct_mode())
		skip();
	assert_true(reload_serving(BENCH_DB, NULL));
	running = connect_db(BENCH_DB);
	waiter = connect_db(BENCH_DB);
	assert_non_null(running);
	assert_non_null(waiter);
	assert_true(harness_exec_ok(waiter, "SELECT 1")); /* logged in and idle */
	assert_true(harness_exec_ok(running, "BEGIN"));
	assert_true(harness_exec_ok(running, "SELECT 1"));

	paused_before = log_count("event=pool.paused");
	assert_true(signal_and_wait(SIGUSR1, "event=pool.pausing"));
	assert_true(PQsendQuery(waiter, "SELECT 42"));
	/* The running transaction goes on and commits. */
	assert_true(harness_exec_ok(running, "SELECT 2"));
	assert_true(harness_exec_ok(running, "COMMIT"));
	assert_true(wait_log("event=pool.paused", paused_before, 5000));
	/* Paused: the new transaction does not get a server. */
	r = wait_result(waiter, 1000);
	assert_null(r);
	assert_true(PQisBusy(waiter));
	assert_true(harness_pgscope_alive(&ps));

	assert_true(signal_and_wait(SIGUSR2, "event=pool.resumed"));
	r = wait_result(waiter, 5000);
	assert_non_null(r);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "42");
	PQclear(r);
	drain_results(waiter);
	assert_true(harness_query_value(running, "SELECT 7", value, sizeof(value)));
	PQfinish(running);
	PQfinish(waiter);
}

/*
 * Timeouts follow a reload: with query_wait_timeout lowered to 1 s, a
 * request that waits for a paused pool gets pgscope's error after about a
 * second, and the pool serves again after RESUME.
 */
static void test_reloaded_timeout_bounds_pause(void **state)
{
	char line[256];
	PGconn *conn;
	PGresult *r;
	long long start, waited;

	if (harness_direct_mode())
		skip();
	db_line(line, sizeof(line), BENCH_DB, NULL);
	assert_true(write_config(2, line, "query_wait_timeout = 1"));
	assert_true(reload());
	conn = connect_db(BENCH_DB);
	assert_non_null(conn);
	assert_true(harness_exec_ok(conn, "SELECT 1"));

	assert_true(signal_and_wait(SIGUSR1, "event=pooler.pause"));
	start = harness_now_ms();
	assert_true(PQsendQuery(conn, "SELECT 1"));
	r = wait_result(conn, 10000);
	waited = harness_now_ms() - start;
	assert_non_null(r);
	if (strstr(PQresultErrorMessage(r), "query_wait_timeout") == NULL)
		fprintf(stderr, "unexpected: %s\n", PQresultErrorMessage(r));
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	assert_non_null(strstr(PQresultErrorMessage(r), "query_wait_timeout"));
	PQclear(r);
	printf("a request to a paused pool failed after %lld ms (query_wait_timeout = 1 s)\n",
	       waited);
	assert_true(waited >= 900 && waited < 3000);
	PQfinish(conn);

	assert_true(signal_and_wait(SIGUSR2, "event=pooler.resume"));
	conn = connect_db(BENCH_DB);
	assert_non_null(conn);
	assert_true(harness_exec_ok(conn, "SELECT 1"));
	PQfinish(conn);
	assert_true(reload_serving(BENCH_DB, NULL));
}

/*
 * A new pool_mode is for clients that log in after the reload: the client
 * already connected keeps working in transaction mode, a new one gets a
 * session-mode pool (one backend for all its transactions).
 */
static void test_pool_mode_for_new_clients(void **state)
{
	char line[256], value[64];
	PGconn *before, *after;
	long pid1, pid2;
	int retired;

	if (harness_direct_mode())
		skip();
	assert_true(reload_serving(BENCH_DB, NULL));
	before = connect_db(BENCH_DB);
	assert_non_null(before);
	assert_true(harness_exec_ok(before, "SELECT 1"));

	retired = log_count("reason=\"pool_mode changed\"");
	db_line(line, sizeof(line), BENCH_DB, "pool_mode=session");
	assert_true(write_config(2, line, NULL));
	assert_true(reload());
	assert_true(log_count("reason=\"pool_mode changed\"") > retired);

	after = connect_db(BENCH_DB);
	assert_non_null(after);
	pid1 = txn_backend_pid(after);
	assert_true(harness_exec_ok(after, "SELECT 1"));
	pid2 = txn_backend_pid(after);
	assert_true(pid1 > 0);
	assert_int_equal(pid1, pid2);
	assert_true(log_count("event=pool.new db=" BENCH_DB " user=postgres pool_mode=session") >
	            0);
	/* The earlier client goes on, in its own (retired) pool. */
	assert_true(harness_query_value(before, "SELECT 5", value, sizeof(value)));
	assert_string_equal(value, "5");
	PQfinish(before);
	PQfinish(after);
	assert_true(reload_serving(BENCH_DB, NULL));
}

/* A new logfile and log_format take effect at the reload, which logs there already. */
static void test_logfile_follows_reload(void **state)
{
	char other[300], extra[400], line[256];
	long long deadline;

	if (harness_direct_mode())
		skip();
	snprintf(other, sizeof(other), "%s/other.log", ps.dir);
	snprintf(extra, sizeof(extra), "logfile = %s\nlog_format = json", other);
	db_line(line, sizeof(line), BENCH_DB, NULL);
	assert_true(write_config(2, line, extra));
	assert_int_equal(kill(ps.pid, SIGHUP), 0);
	deadline = harness_now_ms() + RELOAD_MS;
	while (log_count_in(other, "\"event\":\"config.reloaded\"") == 0 &&
	       harness_now_ms() < deadline)
		harness_sleep_ms(20);
	assert_int_equal(log_count_in(other, "\"event\":\"config.reloaded\""), 1);
	/* Back to the first file, in logfmt. */
	assert_true(reload_serving(BENCH_DB, NULL));
	assert_int_equal(log_count_in(other, "config.reloaded"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pool_size_and_added_db_under_pgbench),
	    cmocka_unit_test(test_removed_db_keeps_its_clients),
	    cmocka_unit_test(test_removed_db_refuses_client_in_login),
	    cmocka_unit_test(test_bad_config_keeps_old),
	    cmocka_unit_test(test_changed_db_gets_new_servers),
	    cmocka_unit_test(test_pause_resume_signals),
	    cmocka_unit_test(test_reloaded_timeout_bounds_pause),
	    cmocka_unit_test(test_pool_mode_for_new_clients),
	    cmocka_unit_test(test_logfile_follows_reload),
	};

	return cmocka_run_group_tests_name("reload", tests, group_setup, group_teardown);
}
