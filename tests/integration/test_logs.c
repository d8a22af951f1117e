/*
 * test_logs.c - the log lines that explain what happened, read from pgscope's log:
 *   - a statement slower than log_min_duration is logged once (query.slow) with its
 *     fingerprint, normalized text, duration, database, user, route and the
 *     sqlcommenter trace id, and without its literal values when capture_literals
 *     is off; a fast one is not logged, log_min_duration = -1 logs none, and a
 *     reload changes it;
 *   - each disconnect (client.close) carries the session's duration and its reason:
 *     a client that quits, one ended by client_idle_timeout, by KILL on the
 *     console, by a shutdown, one refused for a database that does not exist
 *     (3D000, also logged as client.error); a connection over max_client_conn
 *     is logged with its 53300;
 *   - with log_format = json every line is a JSON object with the same fields.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"

#define TRACE_ID "0af7651916cd43dd8448eb211c80319c"
#define SECRET   "hunter2-Sup3rSecret"
#define SLOW_SQL                                                                         \
	"SELECT pg_sleep(0.3), '" SECRET "' AS slow_marker /* traceparent='00-" TRACE_ID \
	"-b7ad6b7169203331-01' */"

static struct harness_pgscope ps_fmt;  /* logfmt, log_min_duration = 100ms */
static struct harness_pgscope ps_json; /* json, log_min_duration = 100ms, client_idle_timeout */
static struct harness_pgscope ps_off;  /* log_min_duration = -1 */

static int group_setup(void **state)
{
	struct harness_pgscope_opts fmt = {.pool_mode = "transaction",
	                                   .extra_main = "log_min_duration = 100ms\n"};
	struct harness_pgscope_opts json = {
	    .pool_mode = "session",
	    .extra_main = "log_min_duration = 100ms\nlog_format = json\nclient_idle_timeout = 1\n"};
	struct harness_pgscope_opts off = {.pool_mode = "transaction",
	                                   .extra_main =
	                                       "log_min_duration = -1\nadmin_users = postgres\n"};

	(void)state;
	return harness_pgscope_start(&ps_fmt, &fmt) && harness_pgscope_start(&ps_json, &json) &&
	               harness_pgscope_start(&ps_off, &off)
	           ? 0
	           : -1;
}

static int group_teardown(void **state)
{
	bool a = harness_pgscope_stop(&ps_fmt);
	bool b = harness_pgscope_stop(&ps_json);
	bool c = harness_pgscope_stop(&ps_off);

	(void)state;
	return a && b && c ? 0 : -1;
}

/*
 * The first line of P's log holding every one of the NULL-terminated strings,
 * into LINE; waits up to TIMEOUT_MS for it. false when none came.
 */
static bool wait_line(const struct harness_pgscope *p, char *line, size_t size, int timeout_ms, ...)
{
	const char *want[8];
	int nwant = 0;
	long long deadline = harness_now_ms() + timeout_ms;
	va_list ap;

	va_start(ap, timeout_ms);
	for (const char *s = va_arg(ap, const char *); s != NULL && nwant < 8;
	     s = va_arg(ap, const char *))
		want[nwant++] = s;
	va_end(ap);
	for (;;) {
		FILE *f = fopen(p->log_path, "r");

		while (f != NULL && fgets(line, (int)size, f) != NULL) {
			int i = 0;

			while (i < nwant && strstr(line, want[i]) != NULL)
				i++;
			if (i == nwant) {
				fclose(f);
				return true;
			}
		}
		if (f != NULL)
			fclose(f);
		if (harness_now_ms() >= deadline)
			return false;
		harness_sleep_ms(50);
	}
}

/* How many lines of P's log hold TEXT. */
static int count_lines(const struct harness_pgscope *p, const char *text)
{
	char line[8192];
	FILE *f = fopen(p->log_path, "r");
	int n = 0;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, text) != NULL;
	if (f != NULL)
		fclose(f);
	return n;
}

/* The integer after KEY (e.g. "duration_us=" or "\"duration_us\":") in LINE; -1 if absent. */
static long long field_int(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	if (p == NULL)
		return -1;
	p += strlen(key);
	if (*p == '"')
		p++;
	return atoll(p);
}

/* The value after KEY up to the next space or quote, into OUT ("" if absent). */
static void field_str(const char *line, const char *key, char *out, size_t size)
{
	const char *p = strstr(line, key);
	size_t n = 0;

	out[0] = 0;
	if (p == NULL)
		return;
	p += strlen(key);
	if (*p == '"')
		p++;
	while (p[n] != 0 && p[n] != ' ' && p[n] != '"' && p[n] != '\n' && n + 1 < size)
		n++;
	memcpy(out, p, n);
	out[n] = 0;
}

static void run_once(const struct harness_pgscope *p, const char *extra, const char *sql)
{
	PGconn *conn = harness_connect(p->port, extra);

	assert_non_null(conn);
	assert_true(harness_exec_ok(conn, sql));
	PQfinish(conn);
}

/* A slow statement: one line, fingerprint, duration, trace id, no literal; a fast one: none. */
static void test_slow_statement_logfmt(void **state)
{
	char line[8192], fp[64];

	(void)state;
	run_once(&ps_fmt, "application_name=slowapp", SLOW_SQL);
	if (!wait_line(&ps_fmt, line, sizeof(line), 10000, "event=query.slow", "slow_marker",
	               NULL)) {
		harness_pgscope_dump_log(&ps_fmt);
		fail_msg("no query.slow line");
	}
	fprintf(stderr, "slow line: %s", line);
	field_str(line, " fingerprint=", fp, sizeof(fp));
	assert_int_equal(strlen(fp), 16);
	assert_true(field_int(line, " duration_us=") >= 300000);
	assert_non_null(strstr(line, " trace_id=" TRACE_ID));
	assert_non_null(strstr(line, " db=postgres"));
	assert_non_null(strstr(line, " user=postgres"));
	assert_non_null(strstr(line, " route=primary"));
	assert_non_null(strstr(line, " rows=1"));
	assert_non_null(strstr(line, " application_name=slowapp"));
	/* The literal is never written while capture_literals is off. */
	assert_false(harness_pgscope_log_has(&ps_fmt, SECRET));

	/* A fast one is not logged: a later slow one is, so the fast one was seen first. */
	run_once(&ps_fmt, NULL, "SELECT 1 AS fast_marker");
	run_once(&ps_fmt, NULL, "SELECT pg_sleep(0.15), 2 AS second_slow_marker");
	assert_true(wait_line(&ps_fmt, line, sizeof(line), 10000, "event=query.slow",
	                      "second_slow_marker", NULL));
	assert_false(harness_pgscope_log_has(&ps_fmt, "fast_marker"));
}

/* Replace the line FROM of P's config with TO. */
static bool set_config_line(const struct harness_pgscope *p, const char *from, const char *to)
{
	char buf[8192], out[8400];
	FILE *f = fopen(p->config_path, "r");
	size_t n;
	char *at;

	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	at = strstr(buf, from);
	if (at == NULL)
		return false;
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - buf), buf, to, at + strlen(from));
	f = fopen(p->config_path, "w");
	if (f == NULL)
		return false;
	fputs(out, f);
	return fclose(f) == 0;
}

/* log_min_duration = -1: nothing, even once the statement has been counted. */
static void test_slow_statement_off(void **state)
{
	PGconn *admin;
	bool seen = false;
	long long deadline;
	char line[8192];

	(void)state;
	run_once(&ps_off, NULL, "SELECT pg_sleep(0.2), 3 AS off_marker");
	admin = harness_connect(ps_off.port, "dbname=pgscope connect_timeout=10");
	assert_non_null(admin);
	/* SHOW QUERIES counts a statement where the slow line would be written. */
	deadline = harness_now_ms() + 10000;
	while (!seen && harness_now_ms() < deadline) {
		PGresult *res = PQexec(admin, "SHOW QUERIES");

		for (int r = 0; r < PQntuples(res); r++)
			seen |= strstr(PQgetvalue(res, r, PQfnumber(res, "query")), "off_marker") !=
			        NULL;
		PQclear(res);
		if (!seen)
			harness_sleep_ms(50);
	}
	PQfinish(admin);
	assert_true(seen);
	assert_false(harness_pgscope_log_has(&ps_off, "query.slow"));

	/* A reload turns it on. */
	assert_true(set_config_line(&ps_off, "log_min_duration = -1", "log_min_duration = 100ms"));
	assert_true(harness_pgscope_signal(&ps_off, SIGHUP));
	assert_true(wait_line(&ps_off, line, sizeof(line), 10000, "event=config.reloaded", NULL));
	run_once(&ps_off, NULL, "SELECT pg_sleep(0.2), 4 AS reloaded_marker");
	assert_true(wait_line(&ps_off, line, sizeof(line), 10000, "event=query.slow",
	                      "reloaded_marker", NULL));
}

/* KILL on the console: the close line names it (the client hears PostgreSQL's 57P01). */
static void test_disconnect_kill(void **state)
{
	char line[8192];
	PGconn *victim = harness_connect(ps_off.port, "application_name=killed");
	PGconn *admin = harness_connect(ps_off.port, "dbname=pgscope connect_timeout=10");

	(void)state;
	assert_non_null(victim);
	assert_non_null(admin);
	assert_true(harness_exec_ok(victim, "SELECT 1"));
	assert_true(harness_exec_ok(admin, "KILL postgres"));
	assert_true(wait_line(&ps_off, line, sizeof(line), 5000, "event=client.close",
	                      "application_name=killed", NULL));
	fprintf(stderr, "kill close line: %s", line);
	assert_non_null(strstr(line, "reason=\"KILL on the admin console\""));
	assert_non_null(strstr(line, "sqlstate=57P01"));
	assert_true(field_int(line, " duration_us=") > 0);
	PQfinish(victim);
	PQfinish(admin);
}

/* A shutdown ends an idle client: its close line says so. */
static void test_disconnect_shutdown(void **state)
{
	struct harness_pgscope_opts opts = {.pool_mode = "transaction"};
	struct harness_pgscope ps;
	char line[8192];
	PGconn *idle;
	bool found;

	(void)state;
	assert_true(harness_pgscope_start(&ps, &opts));
	idle = harness_connect(ps.port, "application_name=stopped");
	assert_non_null(idle);
	assert_true(harness_exec_ok(idle, "SELECT 1"));
	assert_true(harness_pgscope_signal(&ps, SIGTERM));
	assert_true(harness_pgscope_wait_exit(&ps, 10000) >= 0);
	found = wait_line(&ps, line, sizeof(line), 0, "event=client.close",
	                  "application_name=stopped", NULL);
	if (found)
		fprintf(stderr, "shutdown close line: %s", line);
	else
		harness_pgscope_dump_log(&ps);
	PQfinish(idle);
	assert_true(harness_pgscope_stop(&ps));
	assert_true(found);
	assert_non_null(strstr(line, "reason=\"pgscope shutdown\""));
	assert_non_null(strstr(line, "sqlstate=57P01"));
}

/* A client that sends Terminate: duration and reason on its close line. */
static void test_disconnect_terminate(void **state)
{
	char line[8192];

	(void)state;
	run_once(&ps_fmt, "application_name=quitter", "SELECT 1");
	assert_true(wait_line(&ps_fmt, line, sizeof(line), 5000, "event=client.close",
	                      "application_name=quitter", NULL));
	fprintf(stderr, "close line: %s", line);
	assert_non_null(strstr(line, "reason=\"client terminated\""));
	assert_true(field_int(line, " duration_us=") > 0);
	assert_true(field_int(line, " queries=") >= 1);
	assert_true(field_int(line, " xacts=") >= 1);
	assert_true(wait_line(&ps_fmt, line, sizeof(line), 5000, "event=client.login",
	                      "application_name=quitter", " tls=false", NULL));
}

/* A refused client: its 3D000 is logged with the SQLSTATE, and its close line has both. */
static void test_disconnect_refused(void **state)
{
	char line[8192], conninfo[160];
	PGconn *conn;

	(void)state;
	snprintf(conninfo, sizeof(conninfo),
	         "host=127.0.0.1 port=%d user=postgres dbname=no_such_db_logs connect_timeout=10",
	         ps_fmt.port);
	conn = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(conn), CONNECTION_BAD);
	PQfinish(conn);
	assert_true(wait_line(&ps_fmt, line, sizeof(line), 5000, "event=client.error",
	                      "db=no_such_db_logs", "sqlstate=3D000", NULL));
	assert_true(wait_line(&ps_fmt, line, sizeof(line), 5000, "event=client.close",
	                      "db=no_such_db_logs", "sqlstate=3D000", NULL));
	fprintf(stderr, "refused close line: %s", line);
	assert_true(field_int(line, " duration_us=") >= 0);
	assert_non_null(strstr(line, "does not exist"));
}

/* A connection over max_client_conn: refused before it is a client, and logged with 53300. */
static void test_rejected_logged(void **state)
{
	struct harness_pgscope_opts opts = {.pool_mode = "transaction", .max_client_conn = 1};
	struct harness_pgscope ps;
	char line[8192];
	PGconn *first, *second;
	long long deadline;
	int before;

	(void)state;

	assert_true(harness_pgscope_start(&ps, &opts));
	/* The start's own probe connection holds the one slot until pgscope sees it closed. */
	deadline = harness_now_ms() + 5000;
	while ((first = harness_connect(ps.port, NULL)) == NULL && harness_now_ms() < deadline)
		harness_sleep_ms(50);
	assert_non_null(first);
	before = count_lines(&ps, "event=client.rejected");
	second = harness_connect(ps.port, NULL);
	assert_null(second);
	deadline = harness_now_ms() + 5000;
	while (count_lines(&ps, "event=client.rejected") == before && harness_now_ms() < deadline)
		harness_sleep_ms(50);
	assert_int_equal(count_lines(&ps, "event=client.rejected"), before + 1);
	assert_true(wait_line(&ps, line, sizeof(line), 0, "event=client.rejected", "sqlstate=53300",
	                      "max_client_conn", NULL));
	fprintf(stderr, "rejected line: %s", line);
	PQfinish(first);
	assert_true(harness_pgscope_stop(&ps));
}

/* JSON: an idle client ended by client_idle_timeout, a slow statement; every line parses. */
static void test_json_lines(void **state)
{
	char line[8192], fp[64];
	PGconn *idle;
	const char *argv[] = {"python3", "-c",
	                      "import json,sys\n"
	                      "for l in open(sys.argv[1]):\n"
	                      "    json.loads(l)\n",
	                      ps_json.log_path, NULL};
	struct harness_run_result res;

	(void)state;
	idle = harness_connect(ps_json.port, "application_name=idler");
	assert_non_null(idle);
	assert_true(harness_exec_ok(idle, "SELECT 1"));
	assert_true(wait_line(&ps_json, line, sizeof(line), 10000, "\"event\":\"client.close\"",
	                      "\"application_name\":\"idler\"", NULL));
	fprintf(stderr, "idle close line: %s", line);
	assert_non_null(strstr(line, "client_idle_timeout"));
	assert_non_null(strstr(line, "\"sqlstate\":\"57P05\""));
	assert_true(field_int(line, "\"duration_us\":") >= 1000000);
	PQfinish(idle);

	run_once(&ps_json, NULL, SLOW_SQL);
	assert_true(wait_line(&ps_json, line, sizeof(line), 10000, "\"event\":\"query.slow\"",
	                      "slow_marker", NULL));
	fprintf(stderr, "json slow line: %s", line);
	field_str(line, "\"fingerprint\":", fp, sizeof(fp));
	assert_int_equal(strlen(fp), 16);
	assert_true(field_int(line, "\"duration_us\":") >= 300000);
	assert_non_null(strstr(line, "\"trace_id\":\"" TRACE_ID "\""));
	assert_false(harness_pgscope_log_has(&ps_json, SECRET));

	assert_true(harness_run(argv, NULL, 30, &res));
	if (res.exit_code != 0)
		fail_msg("log is not JSON lines: %s", res.output);
	harness_run_result_free(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slow_statement_logfmt),
	    cmocka_unit_test(test_slow_statement_off),
	    cmocka_unit_test(test_disconnect_kill),
	    cmocka_unit_test(test_disconnect_shutdown),
	    cmocka_unit_test(test_disconnect_terminate),
	    cmocka_unit_test(test_disconnect_refused),
	    cmocka_unit_test(test_rejected_logged),
	    cmocka_unit_test(test_json_lines),
	};

	return cmocka_run_group_tests_name("logs", tests, group_setup, group_teardown);
}
