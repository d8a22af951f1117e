/* test_logread.c - the input readers: capture JSONL, stderr with prefixes, csvlog, jsonlog, gzip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "analyzer/logread.h"
#include "analyzer/logread_jscan.h"

static char tmpdir[64];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgscope-logread-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *content, bool gz)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if (gz) {
		gzFile f = gzopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(gzwrite(f, content, (unsigned)strlen(content)),
		                 (int)strlen(content));
		gzclose(f);
	} else {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(content, f);
		fclose(f);
	}
	return path;
}

/* Collected statements of one file, copied out of the reader. */
struct got {
	int n;
	int queries;
	char text[8][512];
	int64_t dur[8];
	int64_t time[8];
	uint64_t fp[8];
	uint64_t params[8];
	uint64_t client[8];
	uint64_t xact[8];
	bool failed[8];
	char user[8][64];
	char db[8][64];
	char app[8][64];
	char sqlstate[8][8];
	char query[512];
	enum logread_format format;
};

static void read_all(const char *path, const char *prefix, struct got *g)
{
	char err[256];
	struct logread_options o = {LOGREAD_AUTO, prefix};
	struct logread *r = logread_open(path, &o, err, sizeof(err));
	assert_non_null(r);
	memset(g, 0, sizeof(*g));
	g->format = logread_format(r);
	struct logread_event ev;
	int rc;
	while ((rc = logread_next(r, &ev)) > 0) {
		if (ev.kind == LOGREAD_QUERY) {
			g->queries++;
			snprintf(g->query, sizeof(g->query), "%s", ev.query.query);
			continue;
		}
		assert_true(g->n < 8);
		int i = g->n++;
		snprintf(g->text[i], sizeof(g->text[i]), "%s", ev.stmt.text ? ev.stmt.text : "");
		g->dur[i] = ev.stmt.duration_us;
		g->time[i] = ev.stmt.time_us;
		g->fp[i] = ev.stmt.fingerprint;
		g->params[i] = ev.stmt.params_hash;
		g->client[i] = ev.stmt.client;
		g->xact[i] = ev.stmt.xact;
		g->failed[i] = ev.stmt.failed;
		snprintf(g->user[i], 64, "%s", ev.stmt.user ? ev.stmt.user : "");
		snprintf(g->db[i], 64, "%s", ev.stmt.database ? ev.stmt.database : "");
		snprintf(g->app[i], 64, "%s",
		         ev.stmt.application_name ? ev.stmt.application_name : "");
		snprintf(g->sqlstate[i], 8, "%s", ev.stmt.sqlstate ? ev.stmt.sqlstate : "");
	}
	assert_int_equal(rc, 0);
	logread_close(r);
}

static const char stderr_default[] =
    "2026-11-23 10:00:00.123 UTC [4711] LOG:  duration: 0.250 ms  statement: SELECT 1\n"
    "2026-11-23 10:00:01.000 UTC [4711] LOG:  duration: 12.5 ms  statement: SELECT a,\n"
    "\t       b\n"
    "\tFROM t WHERE id = 5\n"
    "2026-11-23 10:00:02.000 UTC [4712] LOG:  checkpoint starting: time\n"
    "2026-11-23 10:00:03.000 UTC [4712] LOG:  duration: 0.100 ms  parse <unnamed>: SELECT $1\n"
    "2026-11-23 10:00:03.001 UTC [4712] LOG:  duration: 1.000 ms  execute <unnamed>: SELECT * FROM "
    "t WHERE id = $1\n"
    "2026-11-23 10:00:03.001 UTC [4712] DETAIL:  parameters: $1 = '42'\n"
    "2026-11-23 10:00:04.000 UTC [4712] ERROR:  relation \"nope\" does not exist at character 15\n"
    "2026-11-23 10:00:04.000 UTC [4712] STATEMENT:  SELECT * FROM nope\n";

static void check_stderr_default(const struct got *g)
{
	assert_int_equal(g->format, LOGREAD_STDERR);
	assert_int_equal(g->n, 4);
	assert_string_equal(g->text[0], "SELECT 1");
	assert_int_equal(g->dur[0], 250);
	/* 2026-11-23 10:00:00.123 UTC */
	assert_int_equal(g->time[0], 1795428000123000LL);
	assert_string_equal(g->text[1], "SELECT a,\n       b\nFROM t WHERE id = 5");
	assert_int_equal(g->dur[1], 12500);
	assert_string_equal(g->text[2], "SELECT * FROM t WHERE id = $1");
	assert_int_equal(g->dur[2], 1000);
	assert_true(g->params[2] != 0);
	assert_true(g->client[0] != g->client[2]);
	assert_string_equal(g->text[3], "SELECT * FROM nope");
	assert_true(g->failed[3]);
	assert_int_equal(g->dur[3], -1);
}

static void test_stderr_default_prefix(void **state)
{
	struct got g;
	read_all(write_file("pg.log", stderr_default, false), NULL, &g);
	check_stderr_default(&g);
}

static void test_stderr_gzip(void **state)
{
	struct got g;
	read_all(write_file("pg.log.gz", stderr_default, true), NULL, &g);
	check_stderr_default(&g);
}

static void test_stderr_custom_prefix(void **state)
{
	const char *log =
	    "2026-11-23 10:00:00 UTC [77]: [1-1] user=app,db=shop,app=web,client=10.0.0.1 LOG:  "
	    "duration: 3.000 ms  statement: UPDATE t SET x = 1 WHERE id = 2\n"
	    "2026-11-23 10:00:00 UTC [78]: [1-1] user=,db=,app=,client= LOG:  "
	    "checkpoint complete\n"
	    "2026-11-23 10:00:05 UTC [77]: [2-1] user=app,db=shop,app=web,client=10.0.0.1 LOG:  "
	    "duration: 1.000 ms  statement: SELECT 2\n";
	struct got g;
	read_all(write_file("p2.log", log, false),
	         "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ", &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.text[0], "UPDATE t SET x = 1 WHERE id = 2");
	assert_string_equal(g.user[0], "app");
	assert_string_equal(g.db[0], "shop");
	assert_string_equal(g.app[0], "web");
	assert_int_equal(g.dur[0], 3000);
	assert_int_equal(g.time[1] - g.time[0], 5000000);
}

static void test_csvlog(void **state)
{
	const char *log =
	    "2026-11-23 10:00:00.500 UTC,\"app\",\"shop\",4711,\"127.0.0.1:5000\",655f1a2b.1267,1,"
	    "\"SELECT\",2026-11-23 09:59:00 UTC,3/17,0,LOG,00000,\"duration: 2.000 ms  statement: "
	    "SELECT \"\"x\"\",\n  y FROM t\",,,,,,,,,\"psql\",\"client backend\",,0\n"
	    "2026-11-23 10:00:01.000 UTC,\"app\",\"shop\",4711,\"127.0.0.1:5000\",655f1a2b.1267,2,"
	    "\"SELECT\",2026-11-23 09:59:00 UTC,3/18,0,ERROR,42P01,\"relation \"\"nope\"\" does "
	    "not "
	    "exist\",,,,,,\"SELECT * FROM nope\",15,,\"psql\",\"client backend\",,0\n"
	    "2026-11-23 10:00:02.000 UTC,\"app\",\"shop\",4711,\"127.0.0.1:5000\",655f1a2b.1267,3,"
	    "\"SELECT\",2026-11-23 09:59:00 UTC,3/19,0,LOG,00000,\"duration: 0.500 ms  execute "
	    "S_1: SELECT $1\",\"parameters: $1 = '7'\",,,,,,,,\"psql\",\"client backend\",,0\n";
	struct got g;
	read_all(write_file("pg.csv", log, false), NULL, &g);
	assert_int_equal(g.format, LOGREAD_CSVLOG);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.text[0], "SELECT \"x\",\n  y FROM t");
	assert_int_equal(g.dur[0], 2000);
	assert_string_equal(g.user[0], "app");
	assert_string_equal(g.app[0], "psql");
	assert_string_equal(g.text[1], "SELECT * FROM nope");
	assert_true(g.failed[1]);
	assert_string_equal(g.sqlstate[1], "42P01");
	assert_string_equal(g.text[2], "SELECT $1");
	assert_true(g.params[2] != 0);
}

static void test_jsonlog(void **state)
{
	const char *log =
	    "{\"timestamp\":\"2026-11-23 10:00:00.250 UTC\",\"user\":\"app\",\"dbname\":\"shop\","
	    "\"pid\":99,\"session_id\":\"655f.63\",\"line_num\":1,\"ps\":\"SELECT\",\"vxid\":\"4/"
	    "1\","
	    "\"txid\":0,\"error_severity\":\"LOG\",\"message\":\"duration: 4.250 ms  statement: "
	    "SELECT\\n\\t1\",\"application_name\":\"job\",\"backend_type\":\"client backend\","
	    "\"query_id\":0}\n"
	    "{\"timestamp\":\"2026-11-23 10:00:01.000 UTC\",\"user\":\"app\",\"dbname\":\"shop\","
	    "\"pid\":99,\"error_severity\":\"ERROR\",\"state_code\":\"22012\",\"message\":"
	    "\"division by zero\",\"statement\":\"SELECT 1/0\"}\n";
	struct got g;
	read_all(write_file("pg.json", log, false), NULL, &g);
	assert_int_equal(g.format, LOGREAD_JSONLOG);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.text[0], "SELECT\n\t1");
	assert_int_equal(g.dur[0], 4250);
	assert_string_equal(g.app[0], "job");
	assert_string_equal(g.text[1], "SELECT 1/0");
	assert_string_equal(g.sqlstate[1], "22012");
}

static void test_capture_jsonl_gz(void **state)
{
	const char *cap =
	    "{\"type\":\"header\",\"version\":1,\"producer\":\"pgscope\",\"started\":"
	    "\"2026-11-23T10:00:00.000000Z\",\"literals\":false}\n"
	    "{\"type\":\"query\",\"fingerprint\":\"28550ea0fc43bed7\",\"query\":\"SELECT * FROM t "
	    "WHERE a = $1\"}\n"
	    "{\"type\":\"stmt\",\"time\":1795428000000001,\"database\":\"shop\",\"user\":\"app\","
	    "\"application_name\":\"w\\u00e9b\",\"fingerprint\":\"28550ea0fc43bed7\",\"duration_"
	    "us\":"
	    "412,\"wait_us\":3,\"rows\":1,\"tag\":\"SELECT\",\"sqlstate\":null,\"route\":"
	    "\"primary\","
	    "\"xact\":5,\"client\":17,\"trace_id\":null,\"params_hash\":\"00000000000000ff\","
	    "\"future_member\":[1,{\"a\":\"}\"}]}\n"
	    "{\"type\":\"future_record\"}\n";
	struct got g;
	read_all(write_file("c.jsonl.gz", cap, true), NULL, &g);
	assert_int_equal(g.format, LOGREAD_CAPTURE);
	assert_int_equal(g.queries, 1);
	assert_string_equal(g.query, "SELECT * FROM t WHERE a = $1");
	assert_int_equal(g.n, 1);
	assert_int_equal(g.fp[0], 0x28550ea0fc43bed7ull);
	assert_int_equal(g.params[0], 0xff);
	assert_int_equal(g.dur[0], 412);
	assert_int_equal(g.client[0], 17);
	assert_string_equal(g.app[0], "w\xc3\xa9"
	                              "b");
}

static void test_capture_newer_version_refused(void **state)
{
	const char *cap = "{\"type\":\"header\",\"version\":2}\n";
	char err[256];
	struct logread *r =
	    logread_open(write_file("v2.jsonl", cap, false), NULL, err, sizeof(err));
	assert_non_null(r);
	struct logread_event ev;
	assert_int_equal(logread_next(r, &ev), -1);
	assert_non_null(strstr(logread_error(r), "version 2"));
	logread_close(r);
}

static void test_long_line_streams(void **state)
{
	/* A 3 MB statement crosses the reader's 1 MB chunks. */
	size_t n = 3u << 20;
	char *log = malloc(n + 256);
	assert_non_null(log);
	int at = sprintf(log, "2026-11-23 10:00:00.000 UTC [1] LOG:  duration: 1.000 ms  "
	                      "statement: SELECT '");
	memset(log + at, 'x', n);
	strcpy(log + at + n, "'\n2026-11-23 10:00:00.000 UTC [1] LOG:  duration: 2.000 ms  "
	                     "statement: SELECT 2\n");
	struct got g;
	read_all(write_file("long.log", log, false), NULL, &g);
	free(log);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.dur[1], 2000);
	assert_string_equal(g.text[1], "SELECT 2");
}

static void test_transaction_blocks(void **state)
{
	const char *log =
	    "2026-11-23 10:00:00.000 UTC [1] LOG:  duration: 0.010 ms  statement: BEGIN\n"
	    "2026-11-23 10:00:00.001 UTC [2] LOG:  duration: 0.010 ms  statement: SELECT 0\n"
	    "2026-11-23 10:00:00.002 UTC [1] LOG:  duration: 0.010 ms  statement: SELECT 1\n"
	    "2026-11-23 10:00:00.003 UTC [1] LOG:  duration: 0.010 ms  statement: "
	    "ROLLBACK TO SAVEPOINT a\n"
	    "2026-11-23 10:00:00.004 UTC [1] LOG:  duration: 0.010 ms  statement: commit\n"
	    "2026-11-23 10:00:00.005 UTC [1] LOG:  duration: 0.010 ms  statement: SELECT 2\n"
	    "2026-11-23 10:00:00.006 UTC [1] LOG:  duration: 0.010 ms  statement: "
	    "START TRANSACTION\n"
	    "2026-11-23 10:00:00.007 UTC [1] LOG:  duration: 0.010 ms  statement: SELECT 3\n";
	struct got g;
	read_all(write_file("xact.log", log, false), NULL, &g);
	assert_int_equal(g.n, 8);
	/* BEGIN .. COMMIT of session 1 share one id; every statement outside a block has its own.
	 */
	assert_true(g.xact[0] != 0);
	assert_true(g.xact[1] != 0 && g.xact[1] != g.xact[0]);
	assert_int_equal(g.xact[2], g.xact[0]);
	assert_int_equal(g.xact[3], g.xact[0]);
	assert_int_equal(g.xact[4], g.xact[0]);
	assert_true(g.xact[5] != 0 && g.xact[5] != g.xact[0] && g.xact[5] != g.xact[1]);
	assert_true(g.xact[6] != 0 && g.xact[6] != g.xact[0] && g.xact[6] != g.xact[5]);
	assert_int_equal(g.xact[7], g.xact[6]);
}

/* Random bytes in every format: the readers skip what they cannot read, never crash. */
/* A number past int64 saturates its integer part and keeps its size as a double. */
static void test_jscan_huge_numbers(void **state)
{
	char line[] = "{\"a\":99999999999999999999999,\"b\":-99999999999999999999,"
	              "\"c\":9223372036854775807,\"d\":12}";
	struct jscan s;
	struct jscan_value v;
	char *key;

	assert_true(jscan_begin(&s, line, strlen(line)));
	assert_int_equal(jscan_next(&s, &key, &v), 1);
	assert_string_equal(key, "a");
	assert_true(v.num == INT64_MAX);
	assert_true(v.dnum > 9.9e22 && v.dnum < 1.1e23);
	assert_int_equal(jscan_next(&s, &key, &v), 1);
	assert_true(v.num == -INT64_MAX);
	assert_true(v.dnum < -9.9e19 && v.dnum > -1.1e20);
	assert_int_equal(jscan_next(&s, &key, &v), 1);
	assert_true(v.num == INT64_MAX);
	assert_int_equal(jscan_next(&s, &key, &v), 1);
	assert_string_equal(key, "d");
	assert_true(v.num == 12 && v.dnum == 12.0);
	assert_int_equal(jscan_next(&s, &key, &v), 0);
}

static void test_garbage_input(void **state)
{
	size_t n = 1u << 20;
	char *junk = malloc(n + 1);
	assert_non_null(junk);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* Mostly bytes that matter to the parsers: quotes, braces, newlines, tabs. */
		static const char alphabet[] = "{}[]\",:\\\n\t 0123456789.-eE$aZ%LOGduration: ms";
		junk[i] = (x & 3) ? alphabet[(x >> 8) % (sizeof(alphabet) - 1)] : (char)(x >> 16);
	}
	junk[n] = '\0';
	const char *path = write_file("junk", junk, false);
	free(junk);
	for (int f = LOGREAD_CAPTURE; f <= LOGREAD_JSONLOG; f++) {
		char err[256];
		struct logread_options o = {(enum logread_format)f, NULL};
		struct logread *r = logread_open(path, &o, err, sizeof(err));
		assert_non_null(r);
		struct logread_event ev;
		int rc;
		long events = 0;
		while ((rc = logread_next(r, &ev)) > 0)
			events++;
		assert_true(rc == 0 || rc == -1);
		assert_true(logread_stats(r).lines > 0);
		logread_close(r);
	}
}

static void test_parse_time_zones(void **state)
{
	int64_t a, b, c;
	assert_true(logread_parse_time("2026-11-23 10:00:00 UTC", 23, &a) > 0);
	assert_true(logread_parse_time("2026-11-23 12:30:00.000 +02:30", 30, &b) > 0);
	assert_true(logread_parse_time("2026-11-23T10:00:00.000000Z", 27, &c) > 0);
	assert_int_equal(a, b);
	assert_int_equal(a, c);
	assert_int_equal(logread_parse_time("not a time", 10, &a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stderr_default_prefix),
	    cmocka_unit_test(test_stderr_gzip),
	    cmocka_unit_test(test_stderr_custom_prefix),
	    cmocka_unit_test(test_csvlog),
	    cmocka_unit_test(test_jsonlog),
	    cmocka_unit_test(test_capture_jsonl_gz),
	    cmocka_unit_test(test_capture_newer_version_refused),
	    cmocka_unit_test(test_long_line_streams),
	    cmocka_unit_test(test_transaction_blocks),
	    cmocka_unit_test(test_garbage_input),
	    cmocka_unit_test(test_jscan_huge_numbers),
	    cmocka_unit_test(test_parse_time_zones),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
