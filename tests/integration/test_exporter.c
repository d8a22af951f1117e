/*
 * test_exporter.c - pgscope's console beside PgBouncer 1.18 in front of the
 * same PostgreSQL: every SHOW command both have answers with the same column
 * names and type OIDs (pgscope's SHOW STATS adds PgBouncer 1.7's
 * total_requests at the end), LISTS and TOTALS name the same rows, and
 * Debian's prometheus-pgbouncer-exporter scrapes pgscope during a workload
 * with every metric it defines, its counters moving with the traffic. The
 * same exporter is pointed at PgBouncer 1.18 for comparison.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"

#define EXPORTER "prometheus-pgbouncer-exporter"

static struct harness_pgscope ps;
static pid_t bouncer_pid;
static int bouncer_port;
static char bouncer_dir[64];

/* Commands both consoles have, whose columns must match. */
static const char *const shared_commands[] = {
    "SHOW POOLS",   "SHOW STATS_TOTALS", "SHOW STATS_AVERAGES", "SHOW CLIENTS",
    "SHOW SERVERS", "SHOW DATABASES",    "SHOW USERS",          "SHOW LISTS",
    "SHOW MEM",     "SHOW DNS_HOSTS",    "SHOW DNS_ZONES",      "SHOW VERSION",
    "SHOW CONFIG",  "SHOW TOTALS",       "SHOW SOCKETS",        "SHOW ACTIVE_SOCKETS",
};

/* Write PgBouncer's config and user list into bouncer_dir; false on failure. */
static bool write_bouncer_files(void)
{
	const struct harness_cluster *c = harness_cluster();
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/users.txt", bouncer_dir);
	f = fopen(path, "w");
	if (f == NULL)
		return false;
	fputs("\"postgres\" \"\"\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/pgbouncer.ini", bouncer_dir);
	f = fopen(path, "w");
	if (f == NULL)
		return false;
	fprintf(f,
	        "[databases]\npostgres = host=%s port=%d\n\n[pgbouncer]\n"
	        "listen_addr = 127.0.0.1\nlisten_port = %d\nunix_socket_dir =\n"
	        "auth_type = trust\nauth_file = %s/users.txt\nadmin_users = postgres\n"
	        "pool_mode = transaction\ndefault_pool_size = 4\nlogfile = %s/pgbouncer.log\n",
	        c->host, c->port, bouncer_port, bouncer_dir, bouncer_dir);
	fclose(f);
	return true;
}

/* Start PgBouncer (as postgres when we are root: it refuses to run as root). */
static bool start_bouncer(void)
{
	char ini[128], log[128];
	const char *as_root[] = {"runuser", "-u", "postgres", "--", "pgbouncer", ini, NULL};
	const char *as_user[] = {"pgbouncer", ini, NULL};
	long long deadline = harness_now_ms() + 10000;

	snprintf(bouncer_dir, sizeof(bouncer_dir), "/tmp/pgscope-bouncer-XXXXXX");
	if (mkdtemp(bouncer_dir) == NULL)
		return false;
	bouncer_port = harness_free_port();
	if (!write_bouncer_files())
		return false;
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("postgres");

		if (pw == NULL || chown(bouncer_dir, pw->pw_uid, pw->pw_gid) != 0)
			return false;
	}
	snprintf(ini, sizeof(ini), "%s/pgbouncer.ini", bouncer_dir);
	snprintf(log, sizeof(log), "%s/stdout.log", bouncer_dir);
	bouncer_pid = harness_spawn(geteuid() == 0 ? as_root : as_user, log);
	while (harness_now_ms() < deadline) {
		int fd = harness_tcp_connect(bouncer_port);

		if (fd != -1) {
			close(fd);
			return true;
		}
		harness_sleep_ms(50);
	}
	fprintf(stderr, "PgBouncer did not start; see %s\n", bouncer_dir);
	return false;
}

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction",
	    .pool_size = 4,
	    .extra_main = "admin_users = postgres\n",
	};

	if (!harness_pgscope_start(&ps, &opts))
		return -1;
	return start_bouncer() ? 0 : -1;
}

static int group_teardown(void **state)
{
	const char *rm[] = {"rm", "-rf", bouncer_dir, NULL};
	struct harness_run_result res;

	harness_spawn_stop(bouncer_pid, 5000);
	if (getenv("PGSCOPE_TEST_KEEP") == NULL && harness_run(rm, NULL, 10, &res))
		harness_run_result_free(&res);
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

static PGconn *console(int port)
{
	return harness_connect(port, "dbname=pgbouncer connect_timeout=10");
}

/* Run COMMAND on CONN; its columns into out, and its first column's values into names. */
static bool columns_of(PGconn *conn, const char *command, char *out, size_t outlen, char *names,
                       size_t namelen)
{
	PGresult *res = PQexec(conn, command);
	size_t used = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(out, outlen, "error: %s", PQresultErrorMessage(res));
		PQclear(res);
		return false;
	}
	harness_result_columns(res, out, outlen);
	names[0] = 0;
	for (int i = 0; i < PQntuples(res) && used < namelen; i++)
		used += (size_t)snprintf(names + used, namelen - used, "%s%s", i ? " " : "",
		                         PQgetvalue(res, i, 0));
	PQclear(res);
	return true;
}

/* Every command both have: the same columns and types; LISTS and TOTALS the same rows. */
static void test_columns_match_pgbouncer(void **state)
{
	PGconn *mine = console(ps.port), *theirs = console(bouncer_port);
	char a[4096], b[4096], rows_a[2048], rows_b[2048];

	assert_non_null(mine);
	assert_non_null(theirs);
	for (size_t i = 0; i < sizeof(shared_commands) / sizeof(shared_commands[0]); i++) {
		const char *cmd = shared_commands[i];

		if (!columns_of(theirs, cmd, b, sizeof(b), rows_b, sizeof(rows_b)))
			fail_msg("PgBouncer %s: %s", cmd, b);
		if (!columns_of(mine, cmd, a, sizeof(a), rows_a, sizeof(rows_a)))
			fail_msg("pgscope %s: %s", cmd, a);
		if (strcmp(a, b) != 0)
			fail_msg("%s:\n pgscope   %s\n PgBouncer %s", cmd, a, b);
		if ((strcmp(cmd, "SHOW LISTS") == 0 || strcmp(cmd, "SHOW TOTALS") == 0) &&
		    strcmp(rows_a, rows_b) != 0)
			fail_msg("%s rows:\n pgscope   %s\n PgBouncer %s", cmd, rows_a, rows_b);
	}
	/* SHOW STATS: PgBouncer 1.18's columns, then 1.7's total_requests. */
	assert_true(columns_of(theirs, "SHOW STATS", b, sizeof(b), rows_b, sizeof(rows_b)));
	assert_true(columns_of(mine, "SHOW STATS", a, sizeof(a), rows_a, sizeof(rows_a)));
	strncat(b, " total_requests:1700", sizeof(b) - strlen(b) - 1);
	if (strcmp(a, b) != 0)
		fail_msg("SHOW STATS:\n pgscope   %s\n want      %s", a, b);
	PQfinish(mine);
	PQfinish(theirs);
}

/* N statements through PORT, one connection. */
static void workload(int port, int n)
{
	PGconn *conn = harness_connect(port, NULL);

	assert_non_null(conn);
	for (int i = 0; i < n; i++)
		assert_true(harness_exec_ok(conn, "SELECT count(*) FROM pg_class"));
	PQfinish(conn);
}

/*
 * Start the exporter against the console on PORT, serving on a free port;
 * wait (15 s) until it answers /metrics. Returns its pid (and *http_port), or
 * -1 when it exited or never answered; its output is in LOG.
 */
static pid_t start_exporter(int port, int *http_port, const char *log)
{
	char pg_port[16], my_port[16];
	const char *argv[] = {EXPORTER, "--host",           "127.0.0.1", "--port",
	                      my_port,  "--pgbouncer-host", "127.0.0.1", "--pgbouncer-port",
	                      pg_port,  "--pgbouncer-user", "postgres",  NULL};
	long long deadline = harness_now_ms() + 15000;
	pid_t pid;

	*http_port = harness_free_port();
	snprintf(pg_port, sizeof(pg_port), "%d", port);
	snprintf(my_port, sizeof(my_port), "%d", *http_port);
	unlink(log);
	pid = harness_spawn(argv, log);
	while (harness_now_ms() < deadline) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid)
			return -1;
		if (harness_http_request(*http_port, "GET /metrics HTTP/1.0\r\n\r\n", NULL) == 200)
			return pid;
		harness_sleep_ms(100);
	}
	harness_spawn_stop(pid, 5000);
	return -1;
}

/* Print the file at PATH to stderr, to explain a failure. */
static void dump_file(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	fprintf(stderr, "---- %s ----\n", path);
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fclose(f);
}

/* The exporter's /metrics body (malloc'ed), or NULL. */
static char *scrape(int http_port)
{
	char *resp = NULL, *body = NULL;

	if (harness_http_request(http_port, "GET /metrics HTTP/1.0\r\n\r\n", &resp) == 200 &&
	    harness_http_body(resp) != NULL)
		body = strdup(harness_http_body(resp));
	free(resp);
	return body;
}

/* The metric names the exporter defines, one per line, from its own collectors. */
static char *exporter_families(void)
{
	const char *argv[] = {"/usr/bin/python3", "-c",
	                      "from prometheus_pgbouncer_exporter import collectors as c\n"
	                      "for k in (c.StatsCollector, c.PoolsCollector, c.DatabasesCollector, "
	                      "c.ListsCollector):\n"
	                      "    for name, _ in k.metrics.values():\n"
	                      "        print('pgbouncer_' + name)\n",
	                      NULL};
	struct harness_run_result res;
	char *out;

	if (!harness_run(argv, NULL, 30, &res))
		return NULL;
	out = res.exit_code == 0 ? strdup(res.output) : NULL;
	harness_run_result_free(&res);
	return out;
}

/* Every family the exporter defines has a HELP line in TEXT. */
static void assert_all_families(const char *text)
{
	char *families = exporter_families(), *save = NULL;
	int n = 0;

	assert_non_null(families);
	for (char *name = strtok_r(families, "\n", &save); name != NULL;
	     name = strtok_r(NULL, "\n", &save), n++) {
		char help[128];

		snprintf(help, sizeof(help), "# HELP %s ", name);
		if (strstr(text, help) == NULL)
			fail_msg("the exporter's %s is missing from its scrape of pgscope", name);
	}
	assert_true(n >= 20);
	free(families);
}

/*
 * The exporter scrapes pgscope during a workload: every family it defines,
 * non-zero pool and stats values, and counters that move with the traffic.
 */
static void test_exporter_scrapes_pgscope(void **state)
{
	char log[300], *first, *second;
	PGconn *held = harness_connect(ps.port, NULL); /* an active client in SHOW POOLS */
	int http_port;
	pid_t pid;

	assert_non_null(held);
	workload(ps.port, 200);
	snprintf(log, sizeof(log), "%s/exporter.log", ps.dir);
	pid = start_exporter(ps.port, &http_port, log);
	if (pid == -1) {
		dump_file(log);
		fail_msg("the exporter did not serve against pgscope");
	}
	first = scrape(http_port);
	assert_non_null(first);
	assert_all_families(first);
	assert_true(
	    harness_metric_value(first, "pgbouncer_requests_total{database=\"postgres\"}") >= 200);
	assert_true(harness_metric_value(
	                first, "pgbouncer_received_bytes_total{database=\"postgres\"}") > 0);
	assert_true(
	    harness_metric_value(first, "pgbouncer_sent_bytes_total{database=\"postgres\"}") > 0);
	assert_true(harness_metric_value(
	                first, "pgbouncer_query_microseconds_total{database=\"postgres\"}") > 0);
	assert_true(
	    harness_metric_value(
	        first, "pgbouncer_active_clients{database=\"postgres\",user=\"postgres\"}") >= 1);
	assert_true(harness_metric_value(first, "pgbouncer_pool_size{database=\"postgres\"}") == 4);
	assert_true(harness_metric_value(first, "pgbouncer_pools") >= 1);
	assert_true(harness_metric_value(first, "pgbouncer_used_clients") >= 2);
	workload(ps.port, 100);
	second = scrape(http_port);
	assert_non_null(second);
	assert_true(
	    harness_metric_value(second, "pgbouncer_requests_total{database=\"postgres\"}") >=
	    harness_metric_value(first, "pgbouncer_requests_total{database=\"postgres\"}") + 100);
	assert_true(
	    harness_metric_value(second, "pgbouncer_sent_bytes_total{database=\"postgres\"}") >
	    harness_metric_value(first, "pgbouncer_sent_bytes_total{database=\"postgres\"}"));
	harness_spawn_stop(pid, 5000);
	free(first);
	free(second);
	PQfinish(held);
}

/*
 * The same exporter against PgBouncer 1.18. Debian's exporter reads
 * total_requests, which PgBouncer dropped in 1.8: PgBouncer 1.18 makes it
 * exit at start, before it serves anything. Should a later exporter serve,
 * both scrapes must name the same metrics with the same labels.
 */
static void test_exporter_against_pgbouncer(void **state)
{
	char log[300], *mine, *theirs;
	int port_a, port_b;
	pid_t a, b;

	workload(bouncer_port, 50);
	snprintf(log, sizeof(log), "%s/exporter-pgbouncer.log", ps.dir);
	b = start_exporter(bouncer_port, &port_b, log);
	if (b == -1) {
		assert_true(harness_file_has_line(log, "KeyError: 'total_requests'", NULL));
		fprintf(stderr, "the exporter cannot scrape PgBouncer 1.18 (no total_requests); "
		                "pgscope serves it\n");
		return;
	}
	snprintf(log, sizeof(log), "%s/exporter-pgscope.log", ps.dir);
	a = start_exporter(ps.port, &port_a, log);
	assert_true(a != -1);
	mine = scrape(port_a);
	theirs = scrape(port_b);
	assert_non_null(mine);
	assert_non_null(theirs);
	for (const char *p = theirs; p != NULL && *p;
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char line[256];
		size_t n = strcspn(p, " \n");

		if (*p == '#' || n >= sizeof(line))
			continue;
		memcpy(line, p, n);
		line[n] = 0;
		if (strstr(line, "database=\"pgbouncer\"") == NULL && strstr(mine, line) == NULL)
			fail_msg("PgBouncer's scrape has %s, pgscope's does not", line);
	}
	harness_spawn_stop(a, 5000);
	harness_spawn_stop(b, 5000);
	free(mine);
	free(theirs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_columns_match_pgbouncer),
	    cmocka_unit_test(test_exporter_scrapes_pgscope),
	    cmocka_unit_test(test_exporter_against_pgbouncer),
	};

	if (harness_direct_mode()) {
		fprintf(stderr, "test_exporter: pgscope's console only\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
