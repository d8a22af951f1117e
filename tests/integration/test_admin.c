/*
 * test_admin.c - the admin console against a real PostgreSQL: every SHOW
 * command answers with PgBouncer's columns (names and type OIDs, from the
 * table below, taken from PgBouncer 1.18's output), through the simple and
 * the extended protocol; stats users may SHOW but not act; other users do
 * not get in; the actions do what they say.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pooler/http.h"
#include "tests/integration/harness.h"

static struct harness_pgscope ps;
static int http_port;

static PGconn *console(const char *user, const char *db);

#define TOKEN "s3cret-token"

/* Columns of one command: "name:oid" joined by spaces. */
struct expected_cols {
	const char *command;
	const char *cols;
};

/* PgBouncer 1.18's columns (SHOW STATE from later PgBouncer), and pgscope's own commands. */
static const struct expected_cols expected[] = {
    {"SHOW POOLS",
     "database:25 user:25 cl_active:23 cl_waiting:23 cl_active_cancel_req:23 "
     "cl_waiting_cancel_req:23 sv_active:23 sv_active_cancel:23 sv_being_canceled:23 "
     "sv_idle:23 sv_used:23 sv_tested:23 sv_login:23 maxwait:23 maxwait_us:23 pool_mode:25"},
    {"SHOW STATS",
     "database:25 total_xact_count:1700 total_query_count:1700 total_received:1700 "
     "total_sent:1700 total_xact_time:1700 total_query_time:1700 total_wait_time:1700 "
     "avg_xact_count:1700 avg_query_count:1700 avg_recv:1700 avg_sent:1700 "
     "avg_xact_time:1700 avg_query_time:1700 avg_wait_time:1700 total_requests:1700"},
    {"SHOW STATS_TOTALS",
     "database:25 xact_count:1700 query_count:1700 bytes_received:1700 bytes_sent:1700 "
     "xact_time:1700 query_time:1700 wait_time:1700"},
    {"SHOW STATS_AVERAGES",
     "database:25 xact_count:1700 query_count:1700 bytes_received:1700 bytes_sent:1700 "
     "xact_time:1700 query_time:1700 wait_time:1700"},
    {"SHOW CLIENTS",
     "type:25 user:25 database:25 state:25 addr:25 port:23 local_addr:25 local_port:23 "
     "connect_time:25 request_time:25 wait:23 wait_us:23 close_needed:23 ptr:25 link:25 "
     "remote_pid:23 tls:25 application_name:25"},
    {"SHOW SERVERS",
     "type:25 user:25 database:25 state:25 addr:25 port:23 local_addr:25 local_port:23 "
     "connect_time:25 request_time:25 wait:23 wait_us:23 close_needed:23 ptr:25 link:25 "
     "remote_pid:23 tls:25 application_name:25"},
    {"SHOW DATABASES",
     "name:25 host:25 port:23 database:25 force_user:25 pool_size:23 min_pool_size:23 "
     "reserve_pool:23 pool_mode:25 max_connections:23 current_connections:23 paused:23 "
     "disabled:23"},
    {"SHOW USERS", "name:25 pool_mode:25"},
    {"SHOW CONFIG", "key:25 value:25 default:25 changeable:25"},
    {"SHOW LISTS", "list:25 items:23"},
    {"SHOW MEM", "name:25 size:23 used:23 free:23 memtotal:23"},
    {"SHOW DNS_HOSTS", "hostname:25 ttl:20 addrs:25"},
    {"SHOW STATE", "key:25 value:25"},
    {"SHOW VERSION", "version:25"},
    {"SHOW HELP", "command:25"},
    {"SHOW QUERIES", "fingerprint:25 calls:1700 total_ms:1700 mean_ms:1700 p50_ms:1700 p95_ms:1700 "
                     "p99_ms:1700 rows:1700 errors:1700 replica_share:1700 rules:25 query:25"},
    {"SHOW FINDINGS",
     "rule:25 kind:25 fingerprint:25 calls:1700 total_ms:1700 p95_ms:1700 query:25 "
     "fix:25"},
    {"SHOW ENDPOINTS",
     "host:25 port:23 role:25 servers_opening:23 servers_idle:23 servers_busy:23 "
     "connects:1700 logins:1700 xact_count:1700 query_count:1700 failures:1700 "
     "consecutive_failures:23 last_failure:25 last_success:25 last_error:25 breaker:25 "
     "routed:1700 routed_fallback:1700 lag_skips:1700 replica_lag_ms:23"},
};

#define N_EXPECTED (sizeof(expected) / sizeof(expected[0]))

static int group_setup(void **state)
{
	static char main_lines[512];
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction",
	    .extra_main = main_lines,
	};

	http_port = harness_free_port();
	snprintf(main_lines, sizeof(main_lines),
	         "admin_users = postgres, boss\nstats_users = watcher\nstats_period = 1\n"
	         "admin_http_listen = 127.0.0.1:%d\nadmin_http_token = " TOKEN "\n",
	         http_port);
	return harness_pgscope_start(&ps, &opts) ? 0 : -1;
}

/*
 * One HTTP request (REQUEST is the whole request) to the endpoint; the
 * status, and the body into a malloc'ed *body (may be NULL). -1 on failure.
 */
static int http_request(const char *request, char **body)
{
	char *resp = NULL;
	int status = harness_http_request(http_port, request, body != NULL ? &resp : NULL);

	if (body != NULL) {
		const char *b = harness_http_body(resp);

		*body = b != NULL ? strdup(b) : NULL;
	}
	free(resp);
	return status;
}

/* GET PATH with the right token. */
static int http_get(const char *path, char **body)
{
	char req[512];

	snprintf(req, sizeof(req),
	         "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", path);
	return http_request(req, body);
}

/* Before any server login /readyz says 503; after one, 200. /healthz is 200 throughout. */
static void test_http_ready(void **state)
{
	PGconn *app;

	assert_int_equal(http_get("/healthz", NULL), 200);
	assert_int_equal(http_get("/readyz", NULL), 503);
	app = harness_connect(ps.port, NULL);
	assert_non_null(app);
	assert_true(harness_exec_ok(app, "SELECT 1"));
	PQfinish(app);
	assert_int_equal(http_get("/readyz", NULL), 200);
}

/* Token, method and path checks. */
static void test_http_errors(void **state)
{
	assert_int_equal(http_request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", NULL), 401);
	assert_int_equal(
	    http_request("GET /metrics HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n", NULL), 401);
	assert_int_equal(
	    http_request("POST /metrics HTTP/1.1\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", NULL),
	    405);
	assert_int_equal(http_get("/nothing", NULL), 404);
	/* A request that never ends its headers is cut at the size limit. */
	{
		static char big[20000];

		memset(big, 'a', sizeof(big) - 1);
		memcpy(big, "GET /", 5);
		assert_int_equal(http_request(big, NULL), 431);
	}
}

/*
 * Read one HTTP response from FD (headers, then Content-Length bytes, and
 * nothing of a response after it) within 5 s; its status, or -1. *closed
 * tells whether the server closed instead.
 */
static int read_response(int fd, bool *closed)
{
	char buf[65536];
	long long until = harness_now_ms() + 5000;
	int status = -1;

	*closed = false;
	while (harness_now_ms() < until) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_PEEK | MSG_DONTWAIT);
		size_t whole;

		if (n == 0) {
			*closed = true;
			return -1;
		}
		if (n < 0) {
			harness_sleep_ms(5);
			continue;
		}
		buf[n] = 0;
		whole = harness_http_answer_length(buf, (size_t)n);
		if (whole == 0) {
			harness_sleep_ms(5);
			continue;
		}
		sscanf(buf, "HTTP/1.1 %d", &status);
		if (recv(fd, buf, whole, 0) != (ssize_t)whole)
			return -1;
		return status;
	}
	return -1;
}

/*
 * HTTP/1.1 keep-alive, as scrapers use it: requests one after another (and
 * pipelined) on one connection, each answered; "Connection: close" and
 * HTTP/1.0 (without "Connection: keep-alive") close after their answer; a
 * connection idle between requests makes room when all slots are taken.
 */
static void test_http_keep_alive(void **state)
{
#define AUTH "Authorization: Bearer " TOKEN "\r\n"
	static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n";
	static const char metrics_req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n";
	static const char last[] = "GET /healthz HTTP/1.1\r\nConnection: close\r\n" AUTH "\r\n";
	static const char old[] = "GET /healthz HTTP/1.0\r\n" AUTH "\r\n";
#undef AUTH
	int fd = harness_tcp_connect(http_port), idle[HTTP_MAX_CONNS];
	char two[sizeof(get) * 2];
	bool closed;

	assert_true(fd >= 0);
	for (int i = 0; i < 3; i++) {
		assert_true(harness_send_all(fd, metrics_req, strlen(metrics_req)));
		assert_int_equal(read_response(fd, &closed), 200);
		assert_false(closed);
	}
	snprintf(two, sizeof(two), "%s%s", get, get); /* pipelined */
	assert_true(harness_send_all(fd, two, strlen(two)));
	assert_int_equal(read_response(fd, &closed), 200);
	assert_int_equal(read_response(fd, &closed), 200);
	assert_true(harness_send_all(fd, last, strlen(last)));
	assert_int_equal(read_response(fd, &closed), 200);
	assert_true(harness_wait_closed(fd, 2000));
	close(fd);
	fd = harness_tcp_connect(http_port); /* HTTP/1.0 without keep-alive: closed after */
	assert_true(fd >= 0);
	assert_true(harness_send_all(fd, old, strlen(old)));
	assert_int_equal(read_response(fd, &closed), 200);
	assert_true(harness_wait_closed(fd, 2000));
	close(fd);
	/* Every slot held by a connection idle between requests: a new one is still served. */
	for (int i = 0; i < HTTP_MAX_CONNS; i++) {
		idle[i] = harness_tcp_connect(http_port);
		assert_true(idle[i] >= 0);
		assert_true(harness_send_all(idle[i], get, strlen(get)));
		assert_int_equal(read_response(idle[i], &closed), 200);
	}
	assert_int_equal(http_get("/healthz", NULL), 200);
	for (int i = 0; i < HTTP_MAX_CONNS; i++)
		close(idle[i]);
}

/* CPU time pgscope's threads have run so far, in ms; -1 when unknown. */
static long long pgscope_cpu_ms(void)
{
	char path[64];
	unsigned long long utime = 0, stime = 0;
	FILE *f;
	int got;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)ps.pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	/* Fields 14 and 15, after "pid (comm) state" and ten more. */
	got = fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
	             &stime);
	fclose(f);
	return got == 2
	           ? (long long)((utime + stime) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK))
	           : -1;
}

/*
 * A request that arrives in pieces is waited for, not polled: with half a
 * request in, pgscope sleeps until the rest comes (and answers it then).
 */
static void test_http_partial_request_waits(void **state)
{
	static const char head[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
	static const char rest[] = "Authorization: Bearer " TOKEN "\r\n\r\n";
	int fd = harness_tcp_connect(http_port);
	long long cpu0, cpu1;
	bool closed;

	assert_true(fd >= 0);
	assert_true(harness_send_all(fd, head, strlen(head)));
	harness_sleep_ms(200); /* read by now */
	cpu0 = pgscope_cpu_ms();
	harness_sleep_ms(1000);
	cpu1 = pgscope_cpu_ms();
	assert_true(cpu0 >= 0 && cpu1 >= cpu0);
	fprintf(stderr, "partial request: pgscope used %lld ms of CPU in 1 s\n", cpu1 - cpu0);
	if (cpu1 - cpu0 > 200)
		fail_msg("pgscope spun on a partial request: %lld ms of CPU in 1 s", cpu1 - cpu0);
	assert_true(harness_send_all(fd, rest, strlen(rest)));
	assert_int_equal(read_response(fd, &closed), 200);
	close(fd);
}

/*
 * Connections are limited (8) and bounded in time (5 s): idle ones hold the
 * slots, one more is closed at once, and the idle ones are closed by the
 * timeout, after which requests are served again.
 */
static void test_http_limits(void **state)
{
	int idle[8], extra;
	long long t0;

	for (int i = 0; i < 8; i++) {
		idle[i] = harness_tcp_connect(http_port);
		assert_true(idle[i] >= 0);
	}
	harness_sleep_ms(200); /* accepted into the slots */
	extra = harness_tcp_connect(http_port);
	assert_true(extra >= 0);
	assert_true(harness_wait_closed(extra, 2000));
	close(extra);
	t0 = harness_now_ms();
	for (int i = 0; i < 8; i++) {
		assert_true(harness_wait_closed(idle[i], 8000));
		close(idle[i]);
	}
	assert_true(harness_now_ms() - t0 < 8000);
	assert_int_equal(http_get("/healthz", NULL), 200);
}

/* The statements counter of the postgres pool in a /metrics body; -1 when absent. */
static double statements_total(const char *metrics)
{
	const char *p = strstr(metrics, "pgscope_statements_total{database=\"postgres\"");

	p = p != NULL ? strchr(p, '}') : NULL;
	return p != NULL ? atof(p + 1) : -1;
}

/* The number after LABEL in pgbench's output, -1 when absent. */
static long pgbench_number(const char *output, const char *label)
{
	const char *at = output != NULL ? strstr(output, label) : NULL;

	return at != NULL ? strtol(at + strlen(label), NULL, 10) : -1;
}

#define DURATION         "pgscope_statement_duration_seconds"
#define DURATION_PRIMARY "{database=\"postgres\",route=\"primary\"}"

/*
 * /metrics passes promtool, and its statement counter and the statement
 * duration histogram of database postgres on the primary move as pgbench
 * runs: by at least the 7 statements of each of its transactions.
 */
static void test_metrics_promtool_and_pgbench(void **state)
{
	const struct harness_cluster *cl = harness_cluster();
	char port[16], *before = NULL, *after = NULL;
	struct harness_run_result res;
	long xacts;
	double counted;
	const char *check[] = {"promtool", "check", "metrics", NULL};
	const char *init[] = {"pgbench", "-i", "-q", "-s",       "1",        "-h", "127.0.0.1",
	                      "-p",      port, "-U", "postgres", "postgres", NULL};
	const char *bench[] = {"pgbench",   "-n", "-c", "4",  "-T",       "3",        "-h",
	                       "127.0.0.1", "-p", port, "-U", "postgres", "postgres", NULL};

	(void)cl;
	snprintf(port, sizeof(port), "%d", ps.port);
	assert_true(harness_run(init, NULL, 120, &res));
	assert_int_equal(res.exit_code, 0);
	harness_run_result_free(&res);
	assert_int_equal(http_get("/metrics", &before), 200);
	assert_non_null(before);
	assert_true(harness_run(check, before, 30, &res));
	if (res.exit_code != 0)
		fail_msg("promtool: %s", res.output);
	harness_run_result_free(&res);
	assert_non_null(strstr(before, "pgscope_build_info{version="));
	assert_non_null(strstr(before, "pgscope_pool_wait_seconds_bucket{"));
	assert_true(harness_run(bench, NULL, 60, &res));
	assert_int_equal(res.exit_code, 0);
	xacts = pgbench_number(res.output, "number of transactions actually processed: ");
	harness_run_result_free(&res);
	assert_true(xacts > 0);
	assert_int_equal(http_get("/metrics", &after), 200);
	assert_true(statements_total(after) > statements_total(before) + 100);
	counted = harness_metric_value(after, DURATION "_count" DURATION_PRIMARY) -
	          harness_metric_value(before, DURATION "_count" DURATION_PRIMARY);
	printf("pgbench: %ld transactions, %.0f statements in the duration histogram; "
	       "/metrics %zu bytes\n",
	       xacts, counted, strlen(after));
	assert_true(counted >= 7.0 * (double)xacts);
	assert_true(harness_metric_value(after, DURATION "_bucket{database=\"postgres\","
	                                                 "route=\"primary\",le=\"+Inf\"}") ==
	            harness_metric_value(after, DURATION "_count" DURATION_PRIMARY));
	assert_true(harness_metric_value(after, DURATION "_bucket{database=\"postgres\","
	                                                 "route=\"primary\",le=\"0.0005\"}") >= 0);
	assert_true(harness_metric_value(after, DURATION "_sum" DURATION_PRIMARY) > 0);
	assert_true(harness_run(check, after, 30, &res));
	if (res.exit_code != 0)
		fail_msg("promtool: %s", res.output);
	harness_run_result_free(&res);
	free(before);
	free(after);
}

/* The breaker-state sample of the cluster's primary for STATE, in BODY. */
static double primary_breaker(const char *body, const char *state)
{
	char sample[256];

	snprintf(sample, sizeof(sample),
	         "pgscope_endpoint_breaker_state{host=\"%s\",port=\"%d\",role=\"primary\","
	         "state=\"%s\"}",
	         harness_cluster()->host, harness_cluster()->port, state);
	return harness_metric_value(body, sample);
}

#define QUERY_TIMEOUTS "pgscope_timeouts_total{kind=\"query_timeout\"}"

/*
 * A statement cut by query_timeout (through its pgscope:timeout comment)
 * counts once in pgscope_timeouts_total{kind="query_timeout"}, and the
 * cancel pgscope sent for it in pgscope_cancels_sent_total; every kind is
 * there from the start. The healthy primary's breaker is closed.
 */
static void test_metrics_timeouts_and_breaker(void **state)
{
	static const char *const kinds[] = {
	    "query_timeout",       "query_wait_timeout",   "idle_transaction_timeout",
	    "client_idle_timeout", "client_login_timeout", "server_connect_timeout",
	    "server_idle_timeout", "notify_stall_timeout"};
	char *before = NULL, *after = NULL, sample[128];
	PGconn *app = harness_connect(ps.port, NULL);
	PGresult *res;

	assert_non_null(app);
	assert_int_equal(http_get("/metrics", &before), 200);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		snprintf(sample, sizeof(sample), "pgscope_timeouts_total{kind=\"%s\"}", kinds[i]);
		if (harness_metric_value(before, sample) < 0)
			fail_msg("no %s", sample);
	}
	res = PQexec(app, "/* pgscope:timeout=200ms */ SELECT pg_sleep(5)");
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "57014");
	PQclear(res);
	assert_true(harness_exec_ok(app, "SELECT 1"));
	assert_int_equal(http_get("/metrics", &after), 200);
	assert_true(harness_metric_value(after, QUERY_TIMEOUTS) ==
	            harness_metric_value(before, QUERY_TIMEOUTS) + 1);
	assert_true(harness_metric_value(after, "pgscope_cancels_sent_total") ==
	            harness_metric_value(before, "pgscope_cancels_sent_total") + 1);
	assert_true(primary_breaker(after, "closed") == 1);
	assert_true(primary_breaker(after, "open") == 0);
	assert_true(primary_breaker(after, "half_open") == 0);
	free(before);
	free(after);
	PQfinish(app);
}

/* The most queries_per_s= of the "stats" log lines of database postgres. */
static long stats_line_queries(void)
{
	FILE *f = fopen(ps.log_path, "r");
	char line[2048];
	long best = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *q = strstr(line, " queries_per_s=");

		if (strstr(line, "event=stats ") != NULL && strstr(line, " db=postgres ") != NULL &&
		    q != NULL && atol(q + 15) > best)
			best = atol(q + 15);
	}
	if (f != NULL)
		fclose(f);
	return best;
}

/* stats_period = 1: the pgbench run above shows in a stats line per second. */
static void test_stats_lines(void **state)
{
	assert_true(stats_line_queries() > 10);
}

/*
 * An online restart hands the HTTP port over too: the old process lets it
 * go when it hands over its listeners, and the new one serves it.
 */
static void test_http_survives_takeover(void **state)
{
	struct harness_pgscope next;

	assert_true(harness_pgscope_takeover(&ps, &next));
	assert_int_equal(harness_pgscope_wait_exit(&ps, 15000), 0);
	ps = next;
	assert_int_equal(http_get("/healthz", NULL), 200);
	assert_true(harness_file_has_line(ps.log_path, "event=http.listen", NULL));
}

/* CHECK(ARG) holds within 5 s (the analysis thread works in batches). */
static bool eventually(bool (*check)(const void *arg), const void *arg)
{
	long long deadline = harness_now_ms() + 5000;

	while (!check(arg)) {
		if (harness_now_ms() >= deadline)
			return false;
		harness_sleep_ms(100);
	}
	return true;
}

/* { path, needle }: the body of GET path contains needle. */
static bool body_has(const void *arg)
{
	const char *const *pn = arg;
	char *body = NULL;
	bool found = http_get(pn[0], &body) == 200 && body != NULL && strstr(body, pn[1]);

	free(body);
	return found;
}

static bool http_eventually_has(const char *path, const char *needle)
{
	const char *pn[2] = {path, needle};

	return eventually(body_has, pn);
}

struct finding_check {
	PGconn *conn;
	const char *rule, *fix;
};

/* SHOW FINDINGS has a row of the rule whose fix contains the text. */
static bool finding_has_fix(const void *arg)
{
	const struct finding_check *fc = arg;
	PGresult *res = PQexec(fc->conn, "SHOW FINDINGS");
	bool found = false;

	for (int r = 0; r < PQntuples(res) && !found; r++)
		found = strcmp(PQgetvalue(res, r, 0), fc->rule) == 0 &&
		        strstr(PQgetvalue(res, r, PQfnumber(res, "fix")), fc->fix) != NULL;
	PQclear(res);
	return found;
}

static bool finding_with_fix(PGconn *conn, const char *rule, const char *fix)
{
	struct finding_check fc = {conn, rule, fix};

	return eventually(finding_has_fix, &fc);
}

/*
 * Queries rules flag show in SHOW FINDINGS (with the fix: the CREATE INDEX
 * an unindexed filter needs), /api/findings and pgscope_findings.
 */
static void test_findings_live(void **state)
{
	PGconn *app = harness_connect(ps.port, NULL);
	PGconn *conn = console("watcher", "pgscope");
	PGresult *res;
	bool seen = false;

	assert_non_null(app);
	for (int i = 0; i < 3; i++)
		assert_true(harness_exec_ok(app, "SELECT * FROM pgbench_branches"));
	for (int i = 0; i < 3; i++)
		assert_true(harness_exec_ok(
		    app,
		    "SELECT aid FROM pgbench_accounts WHERE abalance = 7 ORDER BY aid LIMIT 5"));
	assert_true(finding_with_fix(conn, "unindexed-filter",
	                             "CREATE INDEX CONCURRENTLY ON pgbench_accounts (abalance)"));
	assert_true(http_eventually_has("/api/findings", "\"rule\":\"select-star\""));
	assert_true(http_eventually_has("/metrics", "pgscope_findings{rule=\"select-star\"} "));
	res = PQexec(conn, "SHOW FINDINGS");
	for (int r = 0; r < PQntuples(res); r++)
		seen |= strcmp(PQgetvalue(res, r, 0), "select-star") == 0 &&
		        strstr(PQgetvalue(res, r, 6), "pgbench_branches") != NULL &&
		        atoll(PQgetvalue(res, r, 3)) >= 3 && PQgetvalue(res, r, 7)[0] != 0;
	PQclear(res);
	assert_true(seen);
	PQfinish(conn);
	PQfinish(app);
}

/* /api/pools, /api/queries and /api/findings are JSON arrays of the SHOW rows. */
static void test_api_json(void **state)
{
	char *body = NULL;

	assert_int_equal(http_get("/api/pools", &body), 200);
	assert_non_null(body);
	assert_non_null(strstr(body, "\"database\":\"postgres\""));
	assert_non_null(strstr(body, "\"cl_active\":"));
	assert_true(body[0] == '[');
	free(body);
	assert_int_equal(http_get("/api/queries", &body), 200);
	assert_non_null(strstr(body, "\"p95_ms\":"));
	free(body);
	assert_int_equal(http_get("/api/findings", &body), 200);
	assert_true(body[0] == '[');
	free(body);
}

static int group_teardown(void **state)
{
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

/* A console connection as USER to database DB ("pgscope" or "pgbouncer"). */
static PGconn *console(const char *user, const char *db)
{
	char extra[128];
	PGconn *conn;

	snprintf(extra, sizeof(extra), "user=%s dbname=%s connect_timeout=10", user, db);
	conn = harness_connect(ps.port, extra);
	return conn;
}

/* Each command's columns, by the simple protocol. */
static void test_columns_simple(void **state)
{
	PGconn *conn = console("postgres", "pgscope");
	char got[2048];

	assert_non_null(conn);
	for (size_t i = 0; i < N_EXPECTED; i++) {
		PGresult *res = PQexec(conn, expected[i].command);

		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", expected[i].command, PQresultErrorMessage(res));
		harness_result_columns(res, got, sizeof(got));
		if (strcmp(got, expected[i].cols) != 0)
			fail_msg("%s:\n got  %s\n want %s", expected[i].command, got,
			         expected[i].cols);
		PQclear(res);
	}
	PQfinish(conn);
}

/* The same through Parse/Bind/Describe/Execute/Sync, with the "pgbouncer" alias. */
static void test_columns_extended(void **state)
{
	PGconn *conn = console("postgres", "pgbouncer");
	char got[2048];

	assert_non_null(conn);
	for (size_t i = 0; i < N_EXPECTED; i++) {
		PGresult *res =
		    PQexecParams(conn, expected[i].command, 0, NULL, NULL, NULL, NULL, 0);

		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", expected[i].command, PQresultErrorMessage(res));
		harness_result_columns(res, got, sizeof(got));
		assert_string_equal(got, expected[i].cols);
		PQclear(res);
	}
	/* A named statement, described before it runs, then run twice. */
	{
		PGresult *res = PQprepare(conn, "pools", "SHOW POOLS", 0, NULL);

		assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
		PQclear(res);
		res = PQdescribePrepared(conn, "pools");
		assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
		assert_int_equal(PQnfields(res), 16);
		assert_string_equal(PQfname(res, 2), "cl_active");
		PQclear(res);
		for (int round = 0; round < 2; round++) {
			res = PQexecPrepared(conn, "pools", 0, NULL, NULL, NULL, 0);
			assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
			PQclear(res);
		}
		/* An error in a batch, and the session goes on after the Sync. */
		res = PQexecParams(conn, "SHOW NOTHING", 0, NULL, NULL, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		assert_string_equal(harness_sqlstate(res), "42601");
		PQclear(res);
		res = PQexecPrepared(conn, "pools", 0, NULL, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		PQclear(res);
	}
	PQfinish(conn);
}

/* Append message TYPE with body BODY (LEN bytes) to buf at *len. */
static void put_msg(char *buf, size_t *len, char type, const char *body, size_t blen)
{
	uint32_t n = htonl((uint32_t)blen + 4);

	buf[(*len)++] = type;
	memcpy(buf + *len, &n, 4);
	memcpy(buf + *len + 4, body, blen);
	*len += 4 + blen;
}

/*
 * Named portals close at the end of their transaction (each Sync): a
 * session binding a new named portal per Sync never runs out of them.
 */
static void test_portals_end_at_sync(void **state)
{
	int fd = harness_tcp_connect(ps.port);

	assert_true(fd >= 0);
	assert_true(harness_raw_login(fd, "postgres", "pgscope", 5000));
	for (int i = 0; i < 20; i++) {
		char buf[256], body[64];
		size_t len = 0, blen;
		int complete = 0;
		bool ready = false;

		put_msg(buf, &len, 'P', "\0SHOW VERSION\0\0\0", 17);
		/* The unnamed portal first, then a named one, as a driver may do. */
		put_msg(buf, &len, 'B', "\0\0\0\0\0\0\0\0", 8);
		put_msg(buf, &len, 'E', "\0\0\0\0\0", 5);
		blen = (size_t)snprintf(body, sizeof(body), "p%d", i) + 1;
		memcpy(body + blen, "\0\0\0\0\0\0\0", 7); /* statement "", no formats or values */
		put_msg(buf, &len, 'B', body, blen + 7);
		blen = (size_t)snprintf(body, sizeof(body), "p%d", i) + 1;
		memset(body + blen, 0, 4); /* no row limit */
		put_msg(buf, &len, 'E', body, blen + 4);
		put_msg(buf, &len, 'S', "", 0);
		assert_true(harness_send_all(fd, buf, len));
		while (!ready) {
			struct harness_msg m;

			assert_int_equal(harness_read_msg(fd, &m, 5000), 1);
			if (m.type == 'E')
				fail_msg("round %d: %s", i, m.data + 1);
			complete += m.type == 'C';
			ready = m.type == 'Z';
			free(m.data);
		}
		assert_int_equal(complete, 2);
	}
	close(fd);
}

/* The value of column COL in the row whose first column is KEY, from SQL on conn. */
static bool row_value(PGconn *conn, const char *sql, const char *key, const char *col, char *out,
                      size_t outlen)
{
	PGresult *res = PQexec(conn, sql);
	int c = PQfnumber(res, col);
	bool found = false;

	for (int r = 0; c >= 0 && r < PQntuples(res) && !found; r++) {
		if (strcmp(PQgetvalue(res, r, 0), key) != 0)
			continue;
		snprintf(out, outlen, "%s", PQgetvalue(res, r, c));
		found = true;
	}
	PQclear(res);
	return found;
}

/* Traffic through a pool shows in SHOW POOLS, STATS, SERVERS, CLIENTS and QUERIES. */
static void test_counts_follow_traffic(void **state)
{
	PGconn *app = harness_connect(ps.port, "application_name=admin_test_app");
	PGconn *conn = console("postgres", "pgscope");
	char v[64];
	PGresult *res;

	assert_non_null(app);
	assert_non_null(conn);
	for (int i = 0; i < 20; i++)
		assert_true(
		    harness_exec_ok(app, "SELECT count(*) FROM pg_class WHERE relpages > 0"));
	assert_true(row_value(conn, "SHOW STATS_TOTALS", "postgres", "query_count", v, sizeof(v)));
	assert_true(atoll(v) >= 20);
	assert_true(row_value(conn, "SHOW STATS", "postgres", "total_query_time", v, sizeof(v)));
	assert_true(atoll(v) > 0);
	assert_true(row_value(conn, "SHOW STATS", "postgres", "total_xact_time", v, sizeof(v)));
	assert_true(atoll(v) > 0);
	assert_true(row_value(conn, "SHOW STATS", "postgres", "total_xact_count", v, sizeof(v)));
	assert_true(atoll(v) >= 20);
	assert_true(row_value(conn, "SHOW POOLS", "postgres", "cl_active", v, sizeof(v)));
	assert_true(atoi(v) >= 1);
	assert_true(row_value(conn, "SHOW POOLS", "postgres", "pool_mode", v, sizeof(v)));
	assert_string_equal(v, "transaction");
	assert_true(row_value(conn, "SHOW SERVERS", "S", "state", v, sizeof(v)));
	res = PQexec(conn, "SHOW CLIENTS");
	{
		bool seen = false;
		int app_col = PQfnumber(res, "application_name");

		for (int r = 0; r < PQntuples(res); r++)
			seen |= strcmp(PQgetvalue(res, r, app_col), "admin_test_app") == 0;
		assert_true(seen);
	}
	PQclear(res);
	/* The analysis thread's copy arrives within its batching delay. */
	{
		long long deadline = harness_now_ms() + 5000;
		bool seen = false;

		while (!seen && harness_now_ms() < deadline) {
			res = PQexec(conn, "SHOW QUERIES");
			for (int r = 0; r < PQntuples(res); r++)
				seen |= strstr(PQgetvalue(res, r, PQfnumber(res, "query")),
				               "pg_class") &&
				        atoll(PQgetvalue(res, r, PQfnumber(res, "calls"))) >= 20;
			PQclear(res);
			if (!seen)
				harness_sleep_ms(100);
		}
		assert_true(seen);
	}
	assert_true(row_value(conn, "SHOW ENDPOINTS", "127.0.0.1", "logins", v, sizeof(v)));
	assert_true(atoll(v) >= 1);
	assert_true(row_value(conn, "SHOW ENDPOINTS", "127.0.0.1", "breaker", v, sizeof(v)));
	assert_string_equal(v, "closed");
	PQfinish(app);
	PQfinish(conn);
}

/* A stats user may SHOW but not act; actions answer 42501. */
static void test_stats_user(void **state)
{
	static const char *const actions[] = {"SHUTDOWN", "KILL postgres", "RECONNECT", "PAUSE",
	                                      "RESUME",   "RELOAD",        "SUSPEND"};
	PGconn *conn = console("watcher", "pgbouncer");
	PGresult *res;

	assert_non_null(conn);
	res = PQexec(conn, "SHOW POOLS");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		res = PQexec(conn, actions[i]);
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		assert_string_equal(harness_sqlstate(res), "42501");
		assert_non_null(strstr(PQresultErrorMessage(res), "admin access needed"));
		PQclear(res);
	}
	PQfinish(conn);
	assert_true(harness_pgscope_alive(&ps));
}

/* A user in neither list is refused at login with 28000. */
static void test_other_user_refused(void **state)
{
	char conninfo[160];
	PGconn *conn;

	snprintf(conninfo, sizeof(conninfo),
	         "host=127.0.0.1 port=%d user=somebody dbname=pgscope connect_timeout=10", ps.port);
	conn = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(conn), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(conn), "not allowed"));
	PQfinish(conn);
	/* The SQLSTATE, read from the raw ErrorResponse. */
	{
		int fd = harness_tcp_connect(ps.port);
		char pkt[256];
		size_t n = harness_startup_packet(pkt, sizeof(pkt), "somebody", "pgbouncer");
		struct harness_msg msg;
		char code[8];

		assert_true(fd >= 0);
		assert_true(harness_send_all(fd, pkt, n));
		assert_int_equal(harness_read_msg(fd, &msg, 5000), 1);
		assert_int_equal(msg.type, 'E');
		assert_true(harness_error_field(&msg, 'C', code, sizeof(code)));
		assert_string_equal(code, "28000");
		free(msg.data);
		close(fd);
	}
}

/*
 * PAUSE holds a database's new transactions until RESUME; RELOAD reads the
 * file again (unchanged here) and answers.
 */
static void test_pause_resume_reload(void **state)
{
	PGconn *admin = console("boss", "pgscope");
	PGconn *app = harness_connect(ps.port, "dbname=postgres connect_timeout=10");
	PGresult *res;
	long long until;

	assert_non_null(admin);
	assert_non_null(app);
	res = PQexec(admin, "PAUSE postgres");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_int_equal(PQsendQuery(app, "SELECT 42"), 1);
	harness_sleep_ms(500);
	assert_int_equal(PQconsumeInput(app), 1);
	assert_int_equal(PQisBusy(app), 1); /* held while paused */
	res = PQexec(admin, "RESUME postgres");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	until = harness_now_ms() + 5000;
	while (PQisBusy(app) && harness_now_ms() < until) {
		harness_sleep_ms(20);
		assert_int_equal(PQconsumeInput(app), 1);
	}
	res = PQgetResult(app);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "42");
	PQclear(res);
	while ((res = PQgetResult(app)) != NULL)
		PQclear(res);
	res = PQexec(admin, "RELOAD");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_true(harness_pgscope_log_has(&ps, "event=config.reloaded"));
	PQfinish(app);
	PQfinish(admin);
}

/* Run SQL on the console; true when it completed without error. */
static bool console_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
	return ok;
}

/*
 * DISABLE refuses new logins to a database with PostgreSQL's 55000 (after
 * authentication), leaves its clients alone and shows in SHOW DATABASES;
 * ENABLE lets logins in again. PAUSE shows there too.
 */
static void test_disable_enable(void **state)
{
	PGconn *admin = console("boss", "pgscope");
	PGconn *inside = harness_connect(ps.port, "dbname=postgres connect_timeout=10");
	PGconn *refused, *later;
	char v[64], conninfo[160];

	assert_non_null(admin);
	assert_non_null(inside);
	assert_true(console_ok(admin, "DISABLE postgres"));
	assert_true(row_value(admin, "SHOW DATABASES", "postgres", "disabled", v, sizeof(v)));
	assert_string_equal(v, "1");
	snprintf(conninfo, sizeof(conninfo),
	         "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=10",
	         ps.port);
	refused = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(refused), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(refused),
	                       "database \"postgres\" is not currently accepting connections"));
	PQfinish(refused);
	assert_true(harness_exec_ok(inside, "SELECT 1")); /* those already in stay */
	assert_true(console_ok(admin, "ENABLE postgres"));
	assert_true(row_value(admin, "SHOW DATABASES", "postgres", "disabled", v, sizeof(v)));
	assert_string_equal(v, "0");
	later = harness_connect(ps.port, "dbname=postgres connect_timeout=10");
	assert_non_null(later);
	assert_true(harness_exec_ok(later, "SELECT 1"));
	assert_true(console_ok(admin, "PAUSE postgres"));
	assert_true(row_value(admin, "SHOW DATABASES", "postgres", "paused", v, sizeof(v)));
	assert_string_equal(v, "1");
	assert_true(console_ok(admin, "RESUME postgres"));
	assert_true(row_value(admin, "SHOW DATABASES", "postgres", "paused", v, sizeof(v)));
	assert_string_equal(v, "0");
	PQfinish(later);
	PQfinish(inside);
	PQfinish(admin);
}

/* Wait up to TIMEOUT_MS for CONN's pending query; its last result's status, or -1 on timeout. */
static int await_result(PGconn *conn, int timeout_ms, char *sqlstate, size_t sqlstate_len)
{
	long long until = harness_now_ms() + timeout_ms;
	int status = -1;
	PGresult *res;

	while (PQisBusy(conn)) {
		if (harness_now_ms() >= until || !PQconsumeInput(conn))
			return -1;
		harness_sleep_ms(10);
	}
	while ((res = PQgetResult(conn)) != NULL) {
		status = PQresultStatus(res);
		snprintf(sqlstate, sqlstate_len, "%s", harness_sqlstate(res));
		PQclear(res);
	}
	return status;
}

/* True when CONN's pending query is still unanswered after MS milliseconds. */
static bool still_waiting_after(PGconn *conn, int ms)
{
	harness_sleep_ms(ms);
	return PQconsumeInput(conn) == 1 && PQisBusy(conn) == 1;
}

/* Open a transaction on APP, so that it holds a server until COMMIT. */
static void hold_server(PGconn *app)
{
	assert_true(harness_exec_ok(app, "BEGIN"));
	assert_true(harness_exec_ok(app, "SELECT 1"));
}

/*
 * PAUSE answers once the database's servers are gone (a transaction in
 * progress holds it), WAIT_CLOSE once RECONNECT's servers are closed, and a
 * CancelRequest ends such a wait with 57014 (the PAUSE stays in force).
 */
static void test_pause_and_wait_close_wait(void **state)
{
	PGconn *admin = console("boss", "pgscope");
	PGconn *app = harness_connect(ps.port, "dbname=postgres connect_timeout=10");
	char sqlstate[8], v[16], errbuf[256];
	PGcancel *cancel;

	assert_non_null(admin);
	assert_non_null(app);
	/* PAUSE waits for the open transaction. */
	hold_server(app);
	assert_int_equal(PQsendQuery(admin, "PAUSE postgres"), 1);
	assert_true(still_waiting_after(admin, 500));
	assert_true(harness_exec_ok(app, "COMMIT"));
	assert_int_equal(await_result(admin, 5000, sqlstate, sizeof(sqlstate)), PGRES_COMMAND_OK);
	assert_true(row_value(admin, "SHOW POOLS", "postgres", "sv_active", v, sizeof(v)));
	assert_string_equal(v, "0");
	assert_true(row_value(admin, "SHOW POOLS", "postgres", "sv_idle", v, sizeof(v)));
	assert_string_equal(v, "0");
	assert_true(console_ok(admin, "RESUME postgres"));

	/* WAIT_CLOSE waits for the server RECONNECT marked. */
	hold_server(app);
	assert_true(console_ok(admin, "RECONNECT postgres"));
	assert_int_equal(PQsendQuery(admin, "WAIT_CLOSE postgres"), 1);
	assert_true(still_waiting_after(admin, 300));
	assert_true(harness_exec_ok(app, "COMMIT"));
	assert_int_equal(await_result(admin, 5000, sqlstate, sizeof(sqlstate)), PGRES_COMMAND_OK);

	/* A cancel ends the wait; the pause stays until RESUME. */
	hold_server(app);
	assert_int_equal(PQsendQuery(admin, "PAUSE postgres"), 1);
	assert_true(still_waiting_after(admin, 300));
	cancel = PQgetCancel(admin);
	assert_non_null(cancel);
	assert_int_equal(PQcancel(cancel, errbuf, sizeof(errbuf)), 1);
	PQfreeCancel(cancel);
	assert_int_equal(await_result(admin, 5000, sqlstate, sizeof(sqlstate)), PGRES_FATAL_ERROR);
	assert_string_equal(sqlstate, "57014");
	assert_true(row_value(admin, "SHOW DATABASES", "postgres", "paused", v, sizeof(v)));
	assert_string_equal(v, "1");
	assert_true(harness_exec_ok(app, "COMMIT"));
	assert_true(console_ok(admin, "RESUME postgres"));
	assert_true(harness_exec_ok(app, "SELECT 1"));
	PQfinish(app);
	PQfinish(admin);
}

/* SHOW CONFIG's changeable: yes for keys a RELOAD applies, no for those it cannot. */
static void test_config_changeable(void **state)
{
	static const struct {
		const char *key, *changeable;
	} keys[] = {{"default_pool_size", "yes"},
	            {"query_timeout", "yes"},
	            {"listen_port", "no"},
	            {"max_packet_size", "no"}};
	PGconn *conn = console("postgres", "pgscope");
	char v[16];

	assert_non_null(conn);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_true(
		    row_value(conn, "SHOW CONFIG", keys[i].key, "changeable", v, sizeof(v)));
		if (strcmp(v, keys[i].changeable) != 0)
			fail_msg("%s: changeable %s", keys[i].key, v);
	}
	PQfinish(conn);
}

/* Errors: unknown commands, commands not supported yet, a database that does not exist. */
static void test_errors(void **state)
{
	static const struct {
		const char *sql, *sqlstate, *text;
	} cases[] = {
	    {"SHOW NOTHING", "42601", "invalid command 'SHOW NOTHING', use SHOW HELP;"},
	    {"SELECT 1", "42601", "invalid command"},
	    {"SHOW POOLS; SHOW STATS", "42601", "invalid command"},
	    {"KILL", "42601", "invalid command"},
	    {"PAUSE nosuchdb", "3D000", "no such database: nosuchdb"},
	    {"RESUME nosuchdb", "3D000", "no such database: nosuchdb"},
	    {"SUSPEND", "0A000", "SUSPEND is not supported: for an online restart"},
	    {"SET default_pool_size = 3", "0A000", "SET is not supported: change the config file"},
	    {"DISABLE nosuchdb", "3D000", "no such database: nosuchdb"},
	    {"DISABLE", "42601", "invalid command"},
	    {"KILL nosuchdb", "3D000", "no such database: nosuchdb"},
	    {"RECONNECT nosuchdb", "3D000", "no such database: nosuchdb"},
	};
	PGconn *conn = console("boss", "pgscope");

	assert_non_null(conn);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		PGresult *res = PQexec(conn, cases[i].sql);

		if (PQresultStatus(res) != PGRES_FATAL_ERROR)
			fail_msg("%s: not an error", cases[i].sql);
		assert_string_equal(harness_sqlstate(res), cases[i].sqlstate);
		assert_non_null(strstr(PQresultErrorMessage(res), cases[i].text));
		PQclear(res);
	}
	/* Lower case and a trailing semicolon are the same command. */
	{
		PGresult *res = PQexec(conn, "show version;");

		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		assert_non_null(strstr(PQgetvalue(res, 0, 0), "PgBouncer"));
		PQclear(res);
	}
	PQfinish(conn);
}

/* RECONNECT closes idle servers; KILL ends a database's clients with 57P01. */
static void test_reconnect_and_kill(void **state)
{
	PGconn *app = harness_connect(ps.port, NULL);
	PGconn *conn = console("postgres", "pgscope");
	char before[32], after[32];
	PGresult *res;

	assert_non_null(app);
	assert_non_null(conn);
	assert_true(harness_query_value(app, "SELECT pg_backend_pid()", before, sizeof(before)));
	res = PQexec(conn, "RECONNECT postgres");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdStatus(res), "RECONNECT");
	PQclear(res);
	assert_true(harness_query_value(app, "SELECT pg_backend_pid()", after, sizeof(after)));
	assert_string_not_equal(before, after);
	res = PQexec(conn, "KILL postgres");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	res = PQexec(app, "SELECT 1");
	assert_int_not_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	PQfinish(app);
	/* The database serves new clients afterwards. */
	app = harness_connect(ps.port, NULL);
	assert_non_null(app);
	assert_true(harness_exec_ok(app, "SELECT 1"));
	PQfinish(app);
	PQfinish(conn);
}

/* SHOW CONFIG answers: about 100 MB, more than a client's buffer may hold. */
#define FLOOD_QUERIES (64 * 320)

struct flood {
	int fd;
	bool sent;
};

/* Send FLOOD_QUERIES queries in one stream, blocking as the socket fills. */
static void *flood_send(void *arg)
{
	struct flood *f = arg;
	static const char q[] = "Q\0\0\0\020SHOW CONFIG\0";
	static char buf[64 * (sizeof(q) - 1)];
	size_t n = sizeof(q) - 1;

	for (size_t i = 0; i < sizeof(buf) / n; i++)
		memcpy(buf + i * n, q, n);
	f->sent = true;
	for (int i = 0; i < FLOOD_QUERIES / 64 && f->sent; i++)
		f->sent = harness_send_all(f->fd, buf, sizeof(buf));
	return NULL;
}

/*
 * A console client that sends far more queries than it reads: pgscope stops
 * reading it once its answers pile up past the high-water mark instead of
 * buffering them all, and every answer arrives once the client reads.
 */
static void test_console_backpressure(void **state)
{
	struct flood f = {.fd = harness_tcp_connect(ps.port)};
	long rss_before = harness_pgscope_rss_kb(&ps), rss_during;
	int ready = 0;
	pthread_t sender;

	assert_true(f.fd >= 0);
	assert_true(harness_raw_login(f.fd, "postgres", "pgscope", 5000));
	assert_int_equal(pthread_create(&sender, NULL, flood_send, &f), 0);
	harness_sleep_ms(1500);
	rss_during = harness_pgscope_rss_kb(&ps);
	/* Other console users are served meanwhile. */
	{
		PGconn *conn = console("postgres", "pgscope");
		PGresult *res = PQexec(conn, "SHOW VERSION");

		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		PQclear(res);
		PQfinish(conn);
	}
	while (ready < FLOOD_QUERIES) {
		struct harness_msg m;

		if (harness_read_msg(f.fd, &m, 10000) != 1)
			break;
		ready += m.type == 'Z';
		free(m.data);
	}
	pthread_join(sender, NULL);
	close(f.fd);
	assert_true(f.sent);
	assert_int_equal(ready, FLOOD_QUERIES);
	if (rss_during - rss_before > 16 * 1024)
		fail_msg("RSS grew by %ld kB while the client did not read",
		         rss_during - rss_before);
}

/* SHUTDOWN is the safe shutdown: the process exits by itself. Runs last. */
static void test_shutdown(void **state)
{
	PGconn *conn = console("postgres", "pgscope");
	PGresult *res;

	assert_non_null(conn);
	res = PQexec(conn, "SHUTDOWN");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdStatus(res), "SHUTDOWN");
	PQclear(res);
	assert_int_equal(harness_pgscope_wait_exit(&ps, 10000), 0);
	PQfinish(conn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_http_ready),
	    cmocka_unit_test(test_http_errors),
	    cmocka_unit_test(test_http_limits),
	    cmocka_unit_test(test_http_keep_alive),
	    cmocka_unit_test(test_http_partial_request_waits),
	    cmocka_unit_test(test_columns_simple),
	    cmocka_unit_test(test_columns_extended),
	    cmocka_unit_test(test_portals_end_at_sync),
	    cmocka_unit_test(test_counts_follow_traffic),
	    cmocka_unit_test(test_stats_user),
	    cmocka_unit_test(test_other_user_refused),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_pause_resume_reload),
	    cmocka_unit_test(test_disable_enable),
	    cmocka_unit_test(test_config_changeable),
	    cmocka_unit_test(test_pause_and_wait_close_wait),
	    cmocka_unit_test(test_metrics_promtool_and_pgbench),
	    cmocka_unit_test(test_metrics_timeouts_and_breaker),
	    cmocka_unit_test(test_api_json),
	    cmocka_unit_test(test_stats_lines),
	    cmocka_unit_test(test_findings_live),
	    cmocka_unit_test(test_console_backpressure),
	    cmocka_unit_test(test_http_survives_takeover),
	    cmocka_unit_test(test_reconnect_and_kill),
	    cmocka_unit_test(test_shutdown),
	};

	if (harness_direct_mode())
		return 0; /* the console is pgscope's own */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
