/*
 * test_routing.c - read routing to the cluster's streaming replica.
 *
 * A database "app" lists the harness's replica; every statement below reports
 * where it ran with pg_is_in_recovery() ('t' on the replica). Reads that
 * cannot write go to the replica; writes, locking reads, sequence calls,
 * data-modifying CTEs, volatile functions, unparsable texts and transactions
 * not declared READ ONLY go to the primary; session mode pins a client to
 * the primary. The read-your-writes and outage tests are further down.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"

static struct harness_pgscope ps;
static char capture_dir[300];
static int http_port;

/* Where one statement ran: 't' replica, 'f' primary, 0 on error (printed). */
static char where(PGconn *conn, const char *sql)
{
	char v[16];

	if (!harness_query_value(conn, sql, v, sizeof(v)))
		return 0;
	return v[0];
}

/* Wait (up to TIMEOUT_MS) until SQL runs on the replica: its polls have begun. */
static bool wait_replica(PGconn *conn, const char *sql, int timeout_ms)
{
	long long end = harness_now_ms() + timeout_ms;

	while (harness_now_ms() < end) {
		if (where(conn, sql) == 't')
			return true;
		harness_sleep_ms(50);
	}
	return false;
}

static PGconn *app(void)
{
	PGconn *c = harness_connect(ps.port, "dbname=app");

	assert_non_null(c);
	return c;
}

static int group_setup(void **state)
{
	const struct harness_cluster *cl = harness_cluster();
	PGconn *p;
	char dbs[512], main_keys[1024];
	struct harness_pgscope_opts o = {.pool_mode = "transaction", .pool_size = 10};

	(void)state;
	if (cl->replica_port == 0 || harness_direct_mode()) {
		fprintf(stderr, "routing: needs a replica and pgscope\n");
		return -1;
	}
	p = harness_connect_primary();
	if (p == NULL ||
	    !harness_exec_ok(
	        p, "DROP TABLE IF EXISTS rt; CREATE TABLE rt (id int PRIMARY KEY, v text);"
	           "DROP TABLE IF EXISTS ryw; CREATE TABLE ryw (id int PRIMARY KEY);"
	           "DROP SEQUENCE IF EXISTS rt_seq; CREATE SEQUENCE rt_seq;"
	           "CREATE OR REPLACE FUNCTION rt_where() RETURNS bool LANGUAGE sql "
	           "VOLATILE AS 'SELECT pg_is_in_recovery()';"
	           "CREATE OR REPLACE FUNCTION rt_where_stable() RETURNS bool "
	           "LANGUAGE sql STABLE AS 'SELECT pg_is_in_recovery()';"
	           "CREATE OR REPLACE FUNCTION ryw_insert(int) RETURNS int LANGUAGE sql "
	           "VOLATILE AS 'INSERT INTO ryw VALUES ($1) RETURNING id'"))
		return -1;
	PQfinish(p);
	snprintf(dbs, sizeof(dbs),
	         "app = host=%s port=%d dbname=postgres user=postgres replicas=%s:%d\n"
	         "app_session = host=%s port=%d dbname=postgres user=postgres pool_mode=session "
	         "replicas=%s:%d\n",
	         cl->host, cl->port, cl->host, cl->replica_port, cl->host, cl->port, cl->host,
	         cl->replica_port);
	snprintf(capture_dir, sizeof(capture_dir), "%s/capture-routing", cl->dir);
	http_port = harness_free_port();
	snprintf(main_keys, sizeof(main_keys),
	         "read_routing = replicas\nreplica_check_period = 100ms\nmax_replica_lag = 1s\n"
	         "log_level = debug\ncapture = on\ncapture_compress = off\ncapture_dir = %s\n"
	         "admin_users = postgres\nadmin_http_listen = 127.0.0.1:%d\n"
	         "log_min_duration = 50ms\n",
	         capture_dir, http_port);
	o.extra_dbs = dbs;
	o.extra_main = main_keys;
	return harness_pgscope_start(&ps, &o) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

static void test_select_goes_to_replica(void **state)
{
	PGconn *c = app();

	(void)state;
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	for (int i = 0; i < 20; i++)
		assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 't');
	assert_int_equal(where(c, "WITH x AS (SELECT 1) SELECT pg_is_in_recovery() FROM x"), 't');
	/* A STABLE function is known from pg_proc once it is loaded. */
	assert_true(wait_replica(c, "SELECT rt_where_stable()", 10000));
	PQfinish(c);
}

static void test_writes_go_to_primary(void **state)
{
	PGconn *c = app();

	(void)state;
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	assert_true(harness_exec_ok(c, "DELETE FROM rt"));
	assert_int_equal(where(c, "INSERT INTO rt VALUES (1, 'a') RETURNING pg_is_in_recovery()"),
	                 'f');
	assert_int_equal(
	    where(c, "UPDATE rt SET v = 'b' WHERE id = 1 RETURNING pg_is_in_recovery()"), 'f');
	assert_int_equal(where(c, "SELECT pg_is_in_recovery() FROM rt FOR UPDATE"), 'f');
	assert_int_equal(where(c, "SELECT pg_is_in_recovery() FROM rt FOR SHARE"), 'f');
	assert_int_equal(where(c, "SELECT pg_is_in_recovery()::text || nextval('rt_seq')"), 'f');
	assert_int_equal(where(c,
	                       "WITH d AS (DELETE FROM rt WHERE id = -1 RETURNING id) "
	                       "SELECT pg_is_in_recovery() FROM (SELECT 1) s LEFT JOIN d ON true"),
	                 'f');
	assert_int_equal(where(c, "SELECT rt_where()"), 'f');
	assert_int_equal(where(c, "SELECT public.rt_where()"), 'f');
	/* Reads go on going to the replica in between. */
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	PQfinish(c);
}

/*
 * Whether a file in DIR whose name starts with PREFIX has a line with NEEDLE
 * (and ALSO unless NULL).
 */
static bool dir_has_line(const char *dir, const char *prefix, const char *needle, const char *also)
{
	char path[1024];
	struct dirent *e;
	bool found = false;
	DIR *d = opendir(dir);

	if (d == NULL)
		return false;
	while (!found && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		found = harness_file_has_line(path, needle, also);
	}
	closedir(d);
	return found;
}

/* Whether PostgreSQL's log on the cluster's NODE has a line with NEEDLE. */
static bool node_log_has(const char *node, const char *needle)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/%s/log", harness_cluster()->dir, node);
	return dir_has_line(dir, "", needle, NULL);
}

static void test_unparsable_goes_to_primary(void **state)
{
	PGconn *c = app();
	PGresult *r;
	long long end;

	(void)state;
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	r = PQexec(c, "SELECT pg_is_in_recovery() AS unparsable_7d1e FROM");
	assert_string_equal(harness_sqlstate(r), "42601");
	PQclear(r);
	/* PostgreSQL logs the statement of an error where it ran. */
	end = harness_now_ms() + 5000;
	while (!node_log_has("primary", "unparsable_7d1e") && harness_now_ms() < end)
		harness_sleep_ms(50);
	assert_true(node_log_has("primary", "unparsable_7d1e"));
	assert_false(node_log_has("replica", "unparsable_7d1e"));
	PQfinish(c);
}

static void test_transactions(void **state)
{
	PGconn *c = app();

	(void)state;
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	/* A transaction that may write: the primary, its reads included. */
	assert_true(harness_exec_ok(c, "BEGIN"));
	assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 'f');
	assert_true(harness_exec_ok(c, "COMMIT"));
	assert_int_equal(where(c, "BEGIN; SELECT pg_is_in_recovery()"), 'f');
	assert_true(harness_exec_ok(c, "COMMIT"));
	/*
	 * Declared read only: the replica, once it has replayed what those
	 * transactions may have written (they might have called a function that
	 * writes).
	 */
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	assert_true(harness_exec_ok(c, "BEGIN READ ONLY"));
	assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 't');
	assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 't');
	assert_true(harness_exec_ok(c, "COMMIT"));
	assert_int_equal(where(c, "START TRANSACTION READ ONLY; SELECT pg_is_in_recovery()"), 't');
	assert_true(harness_exec_ok(c, "COMMIT"));
	assert_int_equal(where(c, "BEGIN; SET TRANSACTION READ ONLY; SELECT pg_is_in_recovery()"),
	                 't');
	assert_true(harness_exec_ok(c, "COMMIT"));
	/* default_transaction_read_only set by the client. */
	assert_true(harness_exec_ok(c, "SET default_transaction_read_only = on"));
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	assert_true(harness_exec_ok(c, "BEGIN"));
	assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 't');
	assert_true(harness_exec_ok(c, "COMMIT"));
	assert_true(harness_exec_ok(c, "RESET default_transaction_read_only"));
	assert_true(harness_exec_ok(c, "BEGIN"));
	assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 'f');
	assert_true(harness_exec_ok(c, "COMMIT"));
	PQfinish(c);
}

static void test_extended_protocol(void **state)
{
	PGconn *c = app();
	const char *one = "1";
	PGresult *r;

	(void)state;
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	r = PQexecParams(c, "SELECT pg_is_in_recovery() WHERE $1::int = 1", 1, NULL, &one, NULL,
	                 NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	r = PQprepare(c, "rd", "SELECT pg_is_in_recovery() WHERE $1::int = 1", 1, NULL);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	r = PQprepare(c, "wr",
	              "INSERT INTO rt VALUES ($1::int + 100, 'p') "
	              "ON CONFLICT (id) DO UPDATE SET v = 'q' RETURNING pg_is_in_recovery()",
	              1, NULL);
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	/* Preparing an INSERT counts as a write: its reads wait for the replica to replay. */
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	for (int i = 0; i < 5; i++) {
		r = PQexecPrepared(c, "rd", 1, &one, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		assert_string_equal(PQgetvalue(r, 0, 0), "t");
		PQclear(r);
		r = PQexecPrepared(c, "wr", 1, &one, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		assert_string_equal(PQgetvalue(r, 0, 0), "f");
		PQclear(r);
		assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	}
	PQfinish(c);
}

/* A write pipelined behind a read does not ride along to the replica. */
static void test_pipelined_write(void **state)
{
	PGconn *c = app();
	PGresult *r;
	char got[2][8] = {"", ""};
	int n = 0;

	(void)state;
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	assert_int_equal(PQenterPipelineMode(c), 1);
	assert_int_equal(
	    PQsendQueryParams(c, "SELECT pg_is_in_recovery()", 0, NULL, NULL, NULL, NULL, 0), 1);
	assert_int_equal(PQpipelineSync(c), 1);
	assert_int_equal(PQsendQueryParams(c,
	                                   "INSERT INTO rt VALUES (200, 'z') ON CONFLICT (id) DO "
	                                   "UPDATE SET v = 'y' RETURNING pg_is_in_recovery()",
	                                   0, NULL, NULL, NULL, NULL, 0),
	                 1);
	assert_int_equal(PQpipelineSync(c), 1);
	while (n < 2) {
		r = PQgetResult(c);
		if (r == NULL)
			continue;
		if (PQresultStatus(r) == PGRES_TUPLES_OK)
			snprintf(got[n], sizeof(got[n]), "%s", PQgetvalue(r, 0, 0));
		else if (PQresultStatus(r) == PGRES_PIPELINE_SYNC)
			n++;
		else if (PQresultStatus(r) != PGRES_COMMAND_OK)
			fail_msg("pipeline: %s", PQresultErrorMessage(r));
		PQclear(r);
	}
	assert_int_equal(PQexitPipelineMode(c), 1);
	assert_string_equal(got[0], "t");
	assert_string_equal(got[1], "f");
	PQfinish(c);
}

static void test_session_mode_pins(void **state)
{
	PGconn *c = harness_connect(ps.port, "dbname=app_session");
	PGconn *t = app();

	(void)state;
	assert_non_null(c);
	assert_true(wait_replica(t, "SELECT pg_is_in_recovery()", 10000));
	for (int i = 0; i < 10; i++)
		assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 'f');
	PQfinish(c);
	PQfinish(t);
}

/* ---- read-your-writes ---- */

#define RYW_CLIENTS 20
#define RYW_ROUNDS  50 /* per client: 1,000 in all */

struct ryw_worker {
	pthread_t thread;
	int base;       /* its ids are base + round */
	int missed;     /* selects that did not see their row */
	int errors;     /* statements that failed */
	int on_replica; /* selects answered by the replica */
};

static void *ryw_run(void *arg)
{
	struct ryw_worker *w = arg;
	PGconn *c = harness_connect(ps.port, "dbname=app");

	if (c == NULL) {
		w->errors++;
		return NULL;
	}
	for (int i = 0; i < RYW_ROUNDS; i++) {
		char id[16];
		const char *v[1] = {id};
		PGresult *r;

		snprintf(id, sizeof(id), "%d", w->base + i);
		/* Every other row is written by a function called from a SELECT. */
		r = PQexecParams(
		    c, i % 2 ? "SELECT ryw_insert($1::int)" : "INSERT INTO ryw VALUES ($1::int)", 1,
		    NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
			w->errors++;
		PQclear(r);
		r = PQexecParams(c,
		                 "SELECT count(*), pg_is_in_recovery() FROM ryw WHERE id = $1::int",
		                 1, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			w->errors++;
		} else {
			w->missed += strcmp(PQgetvalue(r, 0, 0), "1") != 0;
			w->on_replica += strcmp(PQgetvalue(r, 0, 1), "t") == 0;
		}
		PQclear(r);
	}
	PQfinish(c);
	return NULL;
}

/* 1,000 rounds of insert-then-select from 20 clients: every select sees its row. */
static void ryw_rounds(int base, int *on_replica)
{
	struct ryw_worker w[RYW_CLIENTS];
	int missed = 0, errors = 0;

	*on_replica = 0;
	for (int i = 0; i < RYW_CLIENTS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].base = base + i * RYW_ROUNDS;
		assert_int_equal(pthread_create(&w[i].thread, NULL, ryw_run, &w[i]), 0);
	}
	for (int i = 0; i < RYW_CLIENTS; i++) {
		pthread_join(w[i].thread, NULL);
		missed += w[i].missed;
		errors += w[i].errors;
		*on_replica += w[i].on_replica;
	}
	printf("read-your-writes: %d rounds, %d missed, %d errors, %d selects on the replica\n",
	       RYW_CLIENTS * RYW_ROUNDS, missed, errors, *on_replica);
	assert_int_equal(errors, 0);
	assert_int_equal(missed, 0);
}

static PGconn *replica_direct(void)
{
	PGconn *c = harness_connect(harness_cluster()->replica_port, NULL);

	assert_non_null(c);
	return c;
}

static void test_read_your_writes(void **state)
{
	PGconn *c = app();
	int on_replica;

	(void)state;
	assert_true(harness_exec_ok(c, "TRUNCATE ryw"));
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	ryw_rounds(0, &on_replica);
	/* Once the replica has replayed them, reads go back to it. */
	assert_true(wait_replica(c, "SELECT count(*) = 1000 OR NULL FROM ryw", 10000));
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	PQfinish(c);
}

static void test_read_your_writes_replay_paused(void **state)
{
	PGconn *c = app(), *r = replica_direct();
	long long end;
	int on_replica;

	(void)state;
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	assert_true(harness_exec_ok(r, "SELECT pg_wal_replay_pause()"));
	ryw_rounds(100000, &on_replica);
	assert_int_equal(on_replica, 0);
	/* The replica fell behind by more than max_replica_lag: skipped, and said so. */
	end = harness_now_ms() + 10000;
	while (!harness_file_has_line(ps.log_path, "event=replica.lagging", NULL) &&
	       harness_now_ms() < end)
		harness_sleep_ms(50);
	assert_true(harness_file_has_line(ps.log_path, "event=replica.lagging", NULL));
	/* A client that never wrote reads on the primary too while the replica lags. */
	PQfinish(c);
	c = app();
	for (int i = 0; i < 5; i++)
		assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 'f');
	assert_true(harness_exec_ok(r, "SELECT pg_wal_replay_resume()"));
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	assert_true(harness_file_has_line(ps.log_path, "event=replica.caught_up", NULL));
	PQfinish(r);
	PQfinish(c);
}

/* ---- what /metrics and SHOW ENDPOINTS tell ---- */

/* The body of GET /metrics, malloc'ed; fails the test when there is none. */
static char *metrics(void)
{
	char *resp = NULL, *body;
	int status =
	    harness_http_request(http_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &resp);

	assert_int_equal(status, 200);
	assert_non_null(harness_http_body(resp));
	body = strdup(harness_http_body(resp));
	free(resp);
	assert_non_null(body);
	return body;
}

/* The sample of metric NAME for the endpoint PORT in ROLE (with EXTRA labels after). */
static double endpoint_metric(const char *body, const char *name, int port, const char *role,
                              const char *extra)
{
	char sample[256];

	snprintf(sample, sizeof(sample), "%s{host=\"%s\",port=\"%d\",role=\"%s\"%s}", name,
	         harness_cluster()->host, port, role, extra);
	return harness_metric_value(body, sample);
}

/* No sample (name and labels) appears twice: Prometheus would drop the scrape's repeats. */
static void assert_samples_unique(const char *body)
{
	for (const char *line = body; line != NULL && *line != 0;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
		const char *space = memrchr(line, ' ', len);
		char key[1024];

		if (line[0] != '#' && space != NULL && eol != NULL) {
			snprintf(key, sizeof(key), "\n%.*s ", (int)(space - line), line);
			if (strstr(eol, key) != NULL)
				fail_msg("sample %s appears twice", key + 1);
		}
		line = eol != NULL ? eol + 1 : NULL;
	}
}

#define REPLICA_COUNT "pgscope_statement_duration_seconds_count{database=\"app\",route=\"replica\"}"

/* SHOW ENDPOINTS' value in column NAME of the row for port PORT; -1 when absent or NULL. */
static double endpoints_column(PGconn *console, int port, const char *name)
{
	PGresult *res = PQexec(console, "SHOW ENDPOINTS");
	int col = PQfnumber(res, name);
	double v = -1;

	for (int r = 0; col >= 0 && r < PQntuples(res); r++) {
		if (atoi(PQgetvalue(res, r, 1)) == port && !PQgetisnull(res, r, col))
			v = atof(PQgetvalue(res, r, col));
	}
	PQclear(res);
	return v;
}

/*
 * Reads that ran on the replica move its route="replica" duration histogram
 * and its routed count (in /metrics and SHOW ENDPOINTS); the replica's lag
 * is there, its breaker closed, and no sample is written twice.
 */
static void test_metrics_routes(void **state)
{
	const struct harness_cluster *cl = harness_cluster();
	PGconn *c = app(), *console = harness_connect(ps.port, "dbname=pgscope user=postgres");
	char *before, *after;
	double shown;

	(void)state;
	assert_non_null(console);
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	before = metrics();
	shown = endpoints_column(console, cl->replica_port, "routed");
	for (int i = 0; i < 20; i++)
		assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 't');
	assert_true(harness_exec_ok(c, "INSERT INTO rt VALUES (1000, 'm') ON CONFLICT DO NOTHING"));
	after = metrics();
	assert_true(harness_metric_value(after, REPLICA_COUNT) >=
	            harness_metric_value(before, REPLICA_COUNT) + 20);
	assert_true(
	    endpoint_metric(after, "pgscope_routed_total", cl->replica_port, "replica", "") >=
	    endpoint_metric(before, "pgscope_routed_total", cl->replica_port, "replica", "") + 20);
	assert_true(endpoints_column(console, cl->replica_port, "routed") >= shown + 20);
	assert_true(endpoints_column(console, cl->replica_port, "replica_lag_ms") >= 0);
	assert_true(endpoint_metric(after, "pgscope_replica_lag_seconds", cl->replica_port,
	                            "replica", "") >= 0);
	assert_true(endpoint_metric(after, "pgscope_endpoint_breaker_state", cl->replica_port,
	                            "replica", ",state=\"closed\"") == 1);
	assert_true(endpoint_metric(after, "pgscope_endpoint_breaker_state", cl->replica_port,
	                            "replica", ",state=\"open\"") == 0);
	/* The primary has no lag to show. */
	assert_true(
	    endpoint_metric(after, "pgscope_replica_lag_seconds", cl->port, "primary", "") == -1);
	assert_true(harness_metric_value(after, "pgscope_statement_duration_seconds_count{"
	                                        "database=\"app\",route=\"primary\"}") >= 1);
	assert_samples_unique(after);
	free(before);
	free(after);
	PQfinish(console);
	PQfinish(c);
}

/* ---- a replica outage under load ---- */

struct bench {
	pthread_t thread;
	struct harness_run_result res;
	bool ran;
};

static void *bench_run(void *arg)
{
	struct bench *b = arg;
	char port[16];

	snprintf(port, sizeof(port), "%d", ps.port);
	const char *argv[] = {"pgbench", "-n", "-S",       "-c",  "4",         "-j",
	                      "2",       "-T", "14",       "-h",  "127.0.0.1", "-p",
	                      port,      "-U", "postgres", "app", NULL};
	b->ran = harness_run(argv, NULL, 60, &b->res);
	return NULL;
}

/* The number after LABEL in pgbench's report, or -1 when the line is missing. */
static long bench_number(const char *out, const char *label)
{
	const char *at = out != NULL ? strstr(out, label) : NULL;

	return at != NULL ? strtol(at + strlen(label), NULL, 10) : -1;
}

static void test_replica_outage_under_pgbench(void **state)
{
	const struct harness_cluster *cl = harness_cluster();
	char port[16];
	struct bench b = {0};
	PGconn *c = app();
	long long back_at, started;
	char *before, *after;

	(void)state;
	snprintf(port, sizeof(port), "%d", cl->port);
	const char *init[] = {"pgbench", "-i", "-s", "1",        "-q",       "-h", cl->host,
	                      "-p",      port, "-U", "postgres", "postgres", NULL};
	struct harness_run_result res;

	assert_true(harness_run(init, NULL, 120, &res));
	if (res.exit_code != 0)
		fprintf(stderr, "pgbench -i:\n%s\n", res.output);
	assert_int_equal(res.exit_code, 0);
	harness_run_result_free(&res);
	assert_true(wait_replica(c, "SELECT count(*) > 0 OR NULL FROM pgbench_accounts", 15000));
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));

	assert_int_equal(pthread_create(&b.thread, NULL, bench_run, &b), 0);
	harness_sleep_ms(3000);
	before = metrics();
	assert_true(harness_replica_ctl("stop"));
	/* Reads go on, on the primary, counted as fallbacks there. */
	assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 'f');
	after = metrics();
	harness_sleep_ms(3000);
	assert_true(harness_replica_ctl("start"));
	assert_true(
	    endpoint_metric(after, "pgscope_routed_fallback_total", cl->port, "primary", "") >
	    endpoint_metric(before, "pgscope_routed_fallback_total", cl->port, "primary", ""));
	free(before);
	free(after);
	started = harness_now_ms();
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 15000));
	back_at = harness_now_ms();
	printf("replica outage: reads back on the replica %lld ms after it started\n",
	       back_at - started);
	assert_true(back_at - started < 10000);
	pthread_join(b.thread, NULL);
	assert_true(b.ran);
	printf("pgbench -S through the outage: %ld transactions, %ld failed\n",
	       bench_number(b.res.output, "number of transactions actually processed: "),
	       bench_number(b.res.output, "number of failed transactions: "));
	if (b.res.exit_code != 0 ||
	    bench_number(b.res.output, "number of failed transactions: ") != 0)
		fprintf(stderr, "pgbench:\n%.4000s\n", b.res.output);
	assert_int_equal(b.res.exit_code, 0);
	assert_int_equal(bench_number(b.res.output, "number of failed transactions: "), 0);
	assert_null(strstr(b.res.output, "aborted"));
	harness_run_result_free(&b.res);
	PQfinish(c);
}

/* ---- hints and what is recorded ---- */

static void test_hints(void **state)
{
	PGconn *c = app();

	(void)state;
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	assert_int_equal(where(c, "/* pgscope:route=primary */ SELECT pg_is_in_recovery()"), 'f');
	assert_int_equal(where(c, "SELECT pg_is_in_recovery() -- pgscope:route=primary"), 'f');
	/* A volatile function the application knows to be harmless. */
	assert_int_equal(where(c, "/* pgscope:route=replica */ SELECT rt_where()"), 't');
	assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 't');
	/* For the session: the SET reaches PostgreSQL, which keeps it as a custom setting. */
	assert_true(harness_exec_ok(c, "SET pgscope.route = 'primary'"));
	for (int i = 0; i < 5; i++)
		assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 'f');
	assert_true(harness_exec_ok(c, "SET pgscope.route = 'auto'"));
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	assert_true(harness_exec_ok(c, "SET pgscope.route = 'replica'"));
	assert_true(wait_replica(c, "SELECT rt_where()", 10000));
	assert_true(harness_exec_ok(c, "RESET pgscope.route"));
	assert_int_equal(where(c, "SELECT rt_where()"), 'f');
	PQfinish(c);
}

/* Whether a capture file has a line with NEEDLE (and ALSO unless NULL). */
static bool capture_has(const char *needle, const char *also)
{
	return dir_has_line(capture_dir, "pgscope-", needle, also);
}

/*
 * The replica_share `pgscope report --format json` gives the fingerprint
 * whose query contains MARKER in the capture files; -1 when not found.
 */
static double report_replica_share(const char *marker)
{
	char cmd[1024], *out, *at, *share;
	const char *bin = getenv("PGSCOPE_BIN") ? getenv("PGSCOPE_BIN") : "./pgscope";
	struct harness_run_result r;
	double v = -1;

	snprintf(cmd, sizeof(cmd), "%s report --format json --top 1000 %s/pgscope-*", bin,
	         capture_dir);
	const char *argv[] = {"sh", "-c", cmd, NULL};
	if (!harness_run(argv, NULL, 60, &r))
		return -1;
	out = r.output;
	at = out != NULL ? strstr(out, marker) : NULL;
	/* In its fingerprint's object the share follows the query text. */
	share = at != NULL ? strstr(at, "\"replica_share\":") : NULL;
	if (share != NULL && memchr(at, '}', (size_t)(share - at)) == NULL)
		v = strtod(share + strlen("\"replica_share\":"), NULL);
	harness_run_result_free(&r);
	return v;
}

/* Statements of shapes of their own (fingerprints ignore aliases and literals). */
#define CAPTURED_READ  "SELECT pg_is_in_recovery() FROM pg_class captured_read_5c2 LIMIT 1"
#define CAPTURED_WRITE "SELECT rt_where() FROM pg_database captured_write_5c2 LIMIT 1"

static void test_capture_route(void **state)
{
	PGconn *c = app();
	char replica[64];
	long long end;

	(void)state;
	snprintf(replica, sizeof(replica), "\"route\":\"%s:%d\"", harness_cluster()->host,
	         harness_cluster()->replica_port);
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	/* (The reads first: after a volatile function's call they wait for the replica.) */
	for (int i = 0; i < 3; i++)
		assert_int_equal(where(c, CAPTURED_READ), 't');
	for (int i = 0; i < 3; i++)
		assert_int_equal(where(c, CAPTURED_WRITE), 'f');
	/* The capture is written in the background: wait for both to be in it. */
	end = harness_now_ms() + 10000;
	while (harness_now_ms() < end && (report_replica_share("captured_read_5c2") < 0 ||
	                                  report_replica_share("captured_write_5c2") < 0))
		harness_sleep_ms(200);
	assert_true(capture_has(replica, "\"tag\":\"SELECT\""));
	assert_true(capture_has("\"route\":\"primary\"", NULL));
	/* pgscope report: the share of each fingerprint's calls that ran on a replica. */
	assert_true(report_replica_share("captured_read_5c2") == 1.0);
	assert_true(report_replica_share("captured_write_5c2") == 0.0);
	PQfinish(c);
}

/* ---- reload ---- */

/* Replace FROM with TO in pgscope's config, reload, and wait for the reload's log line. */
static void reload_with(const char *from, const char *to, int reloads_before)
{
	char buf[8192], out[8192];
	size_t n;
	char *at;
	FILE *f = fopen(ps.config_path, "r");
	long long end = harness_now_ms() + 10000;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	at = strstr(buf, from);
	assert_non_null(at);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - buf), buf, to, at + strlen(from));
	f = fopen(ps.config_path, "w");
	assert_non_null(f);
	fputs(out, f);
	fclose(f);
	assert_true(harness_pgscope_signal(&ps, SIGHUP));
	while (harness_now_ms() < end) {
		struct harness_run_result r;
		const char *argv[] = {"grep", "-c", "event=config.reloaded", ps.log_path, NULL};

		assert_true(harness_run(argv, NULL, 10, &r));
		n = r.output != NULL ? (size_t)atoi(r.output) : 0;
		harness_run_result_free(&r);
		if ((int)n > reloads_before)
			return;
		harness_sleep_ms(50);
	}
	fail_msg("no config.reloaded in the log");
}

/* read_routing set per database, and changed by a reload. */
static void test_reload_read_routing(void **state)
{
	PGconn *c = app();
	char entry[256], off[300];

	(void)state;
	snprintf(entry, sizeof(entry), "replicas=%s:%d\n", harness_cluster()->host,
	         harness_cluster()->replica_port);
	snprintf(off, sizeof(off), "replicas=%s:%d read_routing=off\n", harness_cluster()->host,
	         harness_cluster()->replica_port);
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	reload_with(entry, off, 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(where(c, "SELECT pg_is_in_recovery()"), 'f');
	reload_with(off, entry, 1);
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	PQfinish(c);
}

/* SHOW QUERIES' replica_share of the fingerprint whose text has MARKER; -1 when not listed. */
static double replica_share(PGconn *console, const char *marker)
{
	PGresult *res = PQexec(console, "SHOW QUERIES");
	int q = PQfnumber(res, "query"), share = PQfnumber(res, "replica_share");
	double v = -1;

	for (int i = 0; PQresultStatus(res) == PGRES_TUPLES_OK && i < PQntuples(res); i++)
		if (strstr(PQgetvalue(res, i, q), marker) != NULL)
			v = atof(PQgetvalue(res, i, share));
	PQclear(res);
	return v;
}

/* SHOW POOLS rows for database DB and user postgres, and their servers (sv_active + sv_idle). */
static int pools_rows(PGconn *console, const char *db, int *servers)
{
	PGresult *res = PQexec(console, "SHOW POOLS");
	int n = 0;

	*servers = 0;
	for (int i = 0; PQresultStatus(res) == PGRES_TUPLES_OK && i < PQntuples(res); i++) {
		if (strcmp(PQgetvalue(res, i, PQfnumber(res, "database")), db) != 0 ||
		    strcmp(PQgetvalue(res, i, PQfnumber(res, "user")), "postgres") != 0)
			continue;
		n++;
		*servers += atoi(PQgetvalue(res, i, PQfnumber(res, "sv_active"))) +
		            atoi(PQgetvalue(res, i, PQfnumber(res, "sv_idle")));
	}
	PQclear(res);
	return n;
}

/*
 * A read a replica ran is shown as such: replica_share in SHOW QUERIES, and
 * route=HOST:PORT of the replica in its slow-statement log line. SHOW POOLS
 * keeps one row per database and user, the replica's servers counted in it
 * (exporters key their samples by database and user).
 */
static void test_queries_and_slow_log_name_the_replica(void **state)
{
	const struct harness_cluster *cl = harness_cluster();
	PGconn *c = app(), *console = harness_connect(ps.port, "dbname=pgscope user=postgres");
	char route[128];
	long long until;
	double share = -1;

	(void)state;
	assert_non_null(console);
	assert_true(wait_replica(c, "SELECT pg_is_in_recovery()", 10000));
	for (int i = 0; i < 3; i++)
		assert_int_equal(where(c,
		                       "/* pgscope:route=replica */ SELECT pg_is_in_recovery() AS "
		                       "rt_slow_read FROM pg_sleep(0.06)"),
		                 't');
	snprintf(route, sizeof(route), "route=%s:%d", cl->host, cl->replica_port);
	until = harness_now_ms() + 5000;
	while (harness_now_ms() < until &&
	       !harness_file_has_line(ps.log_path, "rt_slow_read", route))
		harness_sleep_ms(50);
	assert_true(harness_file_has_line(ps.log_path, "rt_slow_read", route));
	until = harness_now_ms() + 5000;
	while (harness_now_ms() < until && (share = replica_share(console, "rt_slow_read")) < 1)
		harness_sleep_ms(50);
	assert_true(share == 1.0);
	{
		int servers = 0;

		assert_int_equal(pools_rows(console, "app", &servers), 1);
		assert_true(servers >= 2); /* the primary's and the replica's */
	}
	PQfinish(console);
	PQfinish(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_select_goes_to_replica),
	    cmocka_unit_test(test_writes_go_to_primary),
	    cmocka_unit_test(test_unparsable_goes_to_primary),
	    cmocka_unit_test(test_transactions),
	    cmocka_unit_test(test_extended_protocol),
	    cmocka_unit_test(test_pipelined_write),
	    cmocka_unit_test(test_session_mode_pins),
	    cmocka_unit_test(test_hints),
	    cmocka_unit_test(test_capture_route),
	    cmocka_unit_test(test_metrics_routes),
	    cmocka_unit_test(test_queries_and_slow_log_name_the_replica),
	    cmocka_unit_test(test_read_your_writes),
	    cmocka_unit_test(test_read_your_writes_replay_paused),
	    cmocka_unit_test(test_replica_outage_under_pgbench),
	    cmocka_unit_test(test_reload_read_routing),
	};

	return cmocka_run_group_tests_name("routing", tests, group_setup, group_teardown);
}
