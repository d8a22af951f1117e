/* test_report.c - aggregation, percentiles, fingerprint folding, filters, merging, baseline, output
 * shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyzer/baseline.h"
#include "analyzer/report.h"

static char tmpdir[64];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgscope-report-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
	static char path[4][128];
	static int k;
	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", tmpdir, name);
	return path[k];
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct report *new_report(void)
{
	struct report_options o;
	memset(&o, 0, sizeof(o));
	struct report *r = report_new(&o);
	assert_non_null(r);
	return r;
}

static void stmt(struct report *r, const char *text, int64_t t, int64_t dur)
{
	struct logread_stmt st;
	memset(&st, 0, sizeof(st));
	st.time_us = t;
	st.duration_us = dur;
	st.rows = -1;
	st.wait_us = -1;
	st.text = text;
	report_add_stmt(r, &st);
}

static void assert_near(int64_t got, int64_t want, double rel)
{
	double d = (double)(got - want);
	if (d < 0)
		d = -d;
	if (d > rel * (double)want)
		fail_msg("%lld not within %.1f%% of %lld", (long long)got, rel * 100,
		         (long long)want);
}

static void test_percentiles_known_data(void **state)
{
	struct report_hist h;
	memset(&h, 0, sizeof(h));
	/* 1..100000 µs, each once, shuffled order does not matter for a histogram. */
	for (int64_t v = 100000; v >= 1; v--)
		report_hist_add(&h, v);
	assert_int_equal(h.count, 100000);
	assert_near(report_hist_quantile(&h, 0.50, 1, 100000), 50000, 0.032);
	assert_near(report_hist_quantile(&h, 0.95, 1, 100000), 95000, 0.032);
	assert_near(report_hist_quantile(&h, 0.99, 1, 100000), 99000, 0.032);
	assert_int_equal(report_hist_quantile(&h, 1.0, 1, 100000), 100000);

	/* Small values are exact. */
	struct report_hist s;
	memset(&s, 0, sizeof(s));
	for (int64_t v = 1; v <= 10; v++)
		report_hist_add(&s, v);
	assert_int_equal(report_hist_quantile(&s, 0.5, 1, 10), 5);
	assert_int_equal(report_hist_quantile(&s, 0.9, 1, 10), 9);

	/* A skewed distribution: 990 fast, 10 slow: p99 is fast, max is slow. */
	struct report_hist k;
	memset(&k, 0, sizeof(k));
	for (int i = 0; i < 990; i++)
		report_hist_add(&k, 200);
	for (int i = 0; i < 10; i++)
		report_hist_add(&k, 5000000);
	assert_near(report_hist_quantile(&k, 0.99, 200, 5000000), 200, 0.032);
	assert_near(report_hist_quantile(&k, 0.995, 200, 5000000), 5000000, 0.032);
}

static const struct report_fp *find_fp(const struct report *r, const char *query_prefix)
{
	for (size_t i = 0; i < r->n_fps; i++) {
		if (r->fps[i].query &&
		    strncmp(r->fps[i].query, query_prefix, strlen(query_prefix)) == 0)
			return &r->fps[i];
	}
	return NULL;
}

static void test_fingerprint_folding(void **state)
{
	struct report *r = new_report();
	int64_t t = 1795428000000000LL;
	stmt(r, "SELECT * FROM t WHERE a IN (1, 2, 3)", t, 100);
	stmt(r, "SELECT * FROM t WHERE a IN (4,5)", t + 1, 200);
	stmt(r, "SELECT * FROM t WHERE a IN ($1, $2, $3, $4, $5, $6, $7)", t + 2, 300);
	stmt(r, "select *  from t\n where a in ('x') /* traceparent='00-ab-cd-01' */", t + 3, 400);
	stmt(r, "SELECT * FROM t2 WHERE a IN (1)", t + 4, 500); /* another table */
	stmt(r, "SELECT * FROM t WHERE b IN (1)", t + 5, 600);  /* another column */
	stmt(r, "SELEC broken", t + 6, 700);
	report_finish(r);
	assert_int_equal(r->n_fps, 3);
	assert_int_equal(r->unparsed, 1);
	const struct report_fp *f = find_fp(r, "SELECT * FROM t WHERE a IN");
	assert_non_null(f);
	assert_int_equal(f->calls, 4);
	assert_int_equal(f->total_us, 1000);
	assert_int_equal(f->min_us, 100);
	assert_int_equal(f->max_us, 400);
	/* Normalized text of the first text seen: no literals. */
	assert_string_equal(f->query, "SELECT * FROM t WHERE a IN ($1, $2, $3)");
	report_free(r);
}

/* Rules raised on fingerprint fp of r, comma-joined into out. */
static void rules_of(const struct report *r, uint64_t fp, char *out, size_t size)
{
	size_t used = 0;

	out[0] = 0;
	for (size_t i = 0; i < r->n_findings; i++)
		if (r->findings[i].fingerprint == fp && used + 1 < size)
			used += (size_t)snprintf(out + used, size - used, "%s%s", used ? "," : "",
			                         r->findings[i].rule_id);
}

/*
 * A capture without literals: OFFSET and LIKE patterns are $n in the
 * normalized text, so the verdict the pooler recorded on the text as sent
 * decides the rules that judge values; without a record, the normalized
 * text's analysis stands.
 */
static void test_recorded_verdict_for_literal_rules(void **state)
{
	struct report_options o;
	struct logread_stmt st;
	char rules[256];
	struct report *r;

	memset(&o, 0, sizeof(o));
	r = report_new(&o);
	assert_non_null(r);
	report_add_query(r, 1, "SELECT id FROM t ORDER BY id LIMIT $1 OFFSET $2", "");
	report_add_query(r, 2, "SELECT id FROM t ORDER BY id LIMIT $1 OFFSET $2 ", "deep-offset");
	report_add_query(r, 3, "SELECT id FROM t WHERE name LIKE $1", "leading-wildcard-like");
	report_add_query(r, 4, "SELECT id FROM t ORDER BY id LIMIT 10 OFFSET $1", NULL);
	for (uint64_t fp = 1; fp <= 4; fp++) {
		memset(&st, 0, sizeof(st));
		st.fingerprint = fp;
		st.time_us = 1795428000000000LL;
		st.duration_us = 1000;
		st.database = "shop";
		report_add_stmt(r, &st);
	}
	report_finish(r);
	rules_of(r, 1, rules, sizeof(rules));
	assert_null(strstr(rules, "deep-offset")); /* OFFSET 20 as sent: not deep */
	rules_of(r, 2, rules, sizeof(rules));
	assert_non_null(strstr(rules, "deep-offset"));
	rules_of(r, 3, rules, sizeof(rules));
	assert_non_null(strstr(rules, "leading-wildcard-like"));
	rules_of(r, 4, rules, sizeof(rules));
	assert_non_null(
	    strstr(rules, "deep-offset")); /* nothing recorded: the text's own verdict */
	report_free(r);
}

/*
 * Rows per call are evidence for missing-pagination, with no schema at all:
 * 100,000 rows a call is flagged, 5 rows a call is not.
 */
static void test_observed_rows_judge_pagination(void **state)
{
	struct report_options o;
	struct logread_stmt st;
	char rules[256];
	struct report *r;

	memset(&o, 0, sizeof(o));
	r = report_new(&o);
	assert_non_null(r);
	report_add_query(r, 1, "SELECT aid, abalance FROM pgbench_accounts WHERE bid = $1", NULL);
	report_add_query(r, 2, "SELECT id, kind FROM events WHERE user_id = $1", NULL);
	report_add_query(r, 3, "SELECT id, kind FROM events WHERE user_id = $1 LIMIT 10", NULL);
	for (int i = 0; i < 5; i++) {
		for (uint64_t fp = 1; fp <= 3; fp++) {
			memset(&st, 0, sizeof(st));
			st.fingerprint = fp;
			st.time_us = 1795428000000000LL + i;
			st.duration_us = 1000;
			st.rows = fp == 2 ? 5 : 100000;
			st.database = "shop";
			report_add_stmt(r, &st);
		}
	}
	report_finish(r);
	rules_of(r, 1, rules, sizeof(rules));
	assert_non_null(strstr(rules, "missing-pagination"));
	rules_of(r, 2, rules, sizeof(rules));
	assert_null(strstr(rules, "missing-pagination"));
	rules_of(r, 3, rules, sizeof(rules));
	assert_null(strstr(rules, "missing-pagination")); /* bounded by its LIMIT */
	report_free(r);
}

static void test_aggregates_and_filters(void **state)
{
	struct report_options o;
	memset(&o, 0, sizeof(o));
	o.database = "shop";
	o.since_us = 1795428000000000LL;
	o.until_us = 1795428100000000LL;
	struct report *r = report_new(&o);
	assert_non_null(r);
	report_add_query(r, 0xabc, "SELECT x FROM y WHERE id = $1", NULL);
	struct logread_stmt st;
	for (int i = 0; i < 10; i++) {
		memset(&st, 0, sizeof(st));
		st.fingerprint = 0xabc;
		st.time_us = 1795428000000000LL + i * 1000000LL;
		st.duration_us = 1000;
		st.rows = i;
		st.wait_us = 10;
		st.database = "shop";
		st.route = i < 4 ? "replica1" : "primary";
		st.failed = i == 9;
		report_add_stmt(r, &st);
	}
	st.database = "other"; /* filtered by database */
	report_add_stmt(r, &st);
	st.database = "shop";
	st.time_us = 1795428100000000LL; /* at --until: excluded */
	report_add_stmt(r, &st);
	st.time_us = 1795427999999999LL; /* before --since */
	report_add_stmt(r, &st);
	report_finish(r);
	assert_int_equal(r->stmts_read, 13);
	assert_int_equal(r->stmts_kept, 10);
	assert_int_equal(r->n_fps, 1);
	const struct report_fp *f = &r->fps[0];
	assert_int_equal(f->calls, 10);
	assert_int_equal(f->errors, 1);
	assert_int_equal(f->replica, 4);
	assert_int_equal(f->rows, 45);
	assert_int_equal(f->rows_calls, 10);
	assert_int_equal(f->wait_us, 100);
	assert_int_equal(f->first_us, 1795428000000000LL);
	assert_int_equal(f->last_us, 1795428009000000LL);
	report_free(r);
}

static void test_fingerprint_limit(void **state)
{
	struct report *r = new_report();
	struct logread_stmt st;
	memset(&st, 0, sizeof(st));
	st.duration_us = 5;
	st.time_us = 1795428000000000LL;
	for (uint64_t fp = 1; fp <= REPORT_MAX_FPS + 10; fp++) {
		st.fingerprint = fp;
		report_add_stmt(r, &st);
	}
	st.fingerprint = 1; /* a kept fingerprint is still counted */
	report_add_stmt(r, &st);
	assert_int_equal(r->n_fps, REPORT_MAX_FPS);
	assert_int_equal(r->untracked, 10);
	assert_int_equal(r->stmts_kept, REPORT_MAX_FPS + 1);
	report_free(r);
}

static void test_time_buckets_widen(void **state)
{
	struct report *r = new_report();
	/* 10 hours, out of order: every statement stays counted in some bucket. */
	int64_t base = 1795428000000000LL;
	for (int i = 0; i < 600; i++) {
		int64_t t = base + (int64_t)((i * 7919) % 600) * 60000000LL;
		stmt(r, "SELECT 1", t, 10);
	}
	stmt(r, "SELECT 1", base - 3600000000LL, 10); /* earlier than all */
	report_finish(r);
	uint64_t sum = 0;
	for (size_t i = 0; i < REPORT_TIME_BUCKETS; i++)
		sum += r->buckets[i].calls;
	assert_int_equal(sum, 601);
	assert_true(r->bucket_width_us * REPORT_TIME_BUCKETS >= 11 * 3600000000LL);
	assert_true(r->bucket_t0 <= base - 3600000000LL);
	report_free(r);
}

static const char capture_file[] =
    "{\"type\":\"header\",\"version\":1}\n"
    "{\"type\":\"query\",\"fingerprint\":\"%s\",\"query\":\"DELETE FROM sessions\"}\n"
    "{\"type\":\"stmt\",\"time\":1795428000000000,\"database\":\"shop\",\"user\":\"app\","
    "\"fingerprint\":\"%s\",\"duration_us\":5000,\"rows\":3,\"tag\":\"DELETE\","
    "\"sqlstate\":null,\"route\":\"primary\",\"xact\":1,\"client\":1}\n";

/* Build a capture and a log of the same statement and return their fingerprint. */
static uint64_t write_inputs(const char **cap, const char **log)
{
	/* Fingerprint as the report computes it, from a one-statement log. */
	*log = tmp_path("pg.log");
	write_text(*log, "2026-11-23 10:00:00.000 UTC [1] LOG:  duration: 1.000 ms  statement: "
	                 "DELETE FROM sessions\n"
	                 "2026-11-23 10:00:01.000 UTC [1] LOG:  duration: 2.000 ms  statement: "
	                 "delete from sessions\n");
	struct report *r = new_report();
	char err[256];
	assert_int_equal(report_add_file(r, *log, err, sizeof(err)), 0);
	assert_int_equal(r->n_fps, 1);
	uint64_t fp = r->fps[0].fingerprint;
	report_free(r);
	char hex[17], body[1024];
	report_fp_hex(fp, hex);
	snprintf(body, sizeof(body), capture_file, hex, hex);
	*cap = tmp_path("c.jsonl");
	write_text(*cap, body);
	return fp;
}

static void test_merge_capture_and_log(void **state)
{
	const char *cap, *log;
	uint64_t fp = write_inputs(&cap, &log);
	struct report *r = new_report();
	char err[256];
	assert_int_equal(report_add_file(r, cap, err, sizeof(err)), 0);
	assert_int_equal(report_add_file(r, log, err, sizeof(err)), 0);
	report_finish(r);
	assert_int_equal(r->n_files, 2);
	assert_int_equal(r->n_fps, 1);
	assert_int_equal(r->fps[0].fingerprint, fp);
	assert_int_equal(r->fps[0].calls, 3);
	assert_int_equal(r->fps[0].total_us, 8000);
	/* DELETE without WHERE is flagged, with the fingerprint's time at stake. */
	assert_true(r->n_findings >= 1);
	bool found = false;
	for (size_t i = 0; i < r->n_findings; i++) {
		if (strcmp(r->findings[i].rule_id, "delete-without-where") == 0) {
			found = true;
			assert_int_equal(r->findings[i].time_us, 8000);
		}
	}
	assert_true(found);
	report_free(r);
}

static void test_baseline_file_and_hiding(void **state)
{
	const char *cap, *log;
	uint64_t fp = write_inputs(&cap, &log);
	struct baseline b;
	baseline_init(&b);
	assert_true(baseline_add(&b, fp, "delete-without-where", "cleanup job, reviewed"));
	assert_false(baseline_add(&b, fp, "delete-without-where", "dup"));
	const char *path = tmp_path("baseline.tsv");
	assert_int_equal(baseline_save(&b, path), 0);
	baseline_release(&b);

	char err[256];
	assert_int_equal(baseline_load(&b, path, false, err, sizeof(err)), 0);
	assert_int_equal(b.n, 1);
	assert_string_equal(b.entries[0].note, "cleanup job, reviewed");
	assert_true(baseline_contains(&b, fp, "delete-without-where"));
	assert_false(baseline_contains(&b, fp, "select-star"));
	assert_false(baseline_contains(&b, fp + 1, "delete-without-where"));

	struct report_options o;
	memset(&o, 0, sizeof(o));
	o.baseline = &b;
	struct report *r = report_new(&o);
	assert_int_equal(report_add_file(r, log, err, sizeof(err)), 0);
	report_finish(r);
	assert_int_equal(r->baselined, 1);
	for (size_t i = 0; i < r->n_findings; i++)
		assert_string_not_equal(r->findings[i].rule_id, "delete-without-where");
	report_free(r);
	baseline_release(&b);

	/* A malformed line is an error naming the line; a missing file may be empty. */
	const char *bad = tmp_path("bad.tsv");
	write_text(bad, "# comment\nnot-a-fingerprint\trule\n");
	baseline_init(&b);
	assert_int_equal(baseline_load(&b, bad, false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":2:"));
	assert_int_equal(baseline_load(&b, tmp_path("missing"), true, err, sizeof(err)), 0);
	assert_int_equal(baseline_load(&b, tmp_path("missing"), false, err, sizeof(err)), -1);
	baseline_release(&b);
}

/* Run a python3 check on a file; true when it exits 0. */
static bool python_check(const char *script, const char *path)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "python3 -c '%s' '%s'", script, path);
	return system(cmd) == 0;
}

static struct report *sample_report(void)
{
	const char *cap, *log;
	write_inputs(&cap, &log);
	struct report *r = new_report();
	char err[256];
	assert_int_equal(report_add_file(r, cap, err, sizeof(err)), 0);
	assert_int_equal(report_add_file(r, log, err, sizeof(err)), 0);
	stmt(r, "SELECT * FROM t WHERE note = '<b>&amp;\"'", 1795428002000000LL, 300);
	report_finish(r);
	return r;
}

static void test_json_shape(void **state)
{
	struct report *r = sample_report();
	const char *path = tmp_path("r.json");
	FILE *f = fopen(path, "w");
	assert_int_equal(report_write_json(r, f), 0);
	fclose(f);
	report_free(r);
	assert_true(python_check(
	    "import json,sys\n"
	    "d=json.load(open(sys.argv[1]))\n"
	    "assert d[\"version\"]==1\n"
	    "s=d[\"summary\"]\n"
	    "assert s[\"statements\"]==4 and s[\"fingerprints\"]==2 and s[\"files\"]==2\n"
	    "keys={\"fingerprint\",\"query\",\"calls\",\"errors\",\"total_us\",\"mean_us\","
	    "\"p50_us\",\"p95_us\",\"p99_us\",\"rows_per_call\",\"replica_share\"}\n"
	    "assert all(keys<=set(t) for t in d[\"top\"])\n"
	    "assert d[\"top\"][0][\"calls\"]==3 and len(d[\"top\"][0][\"fingerprint\"])==16\n"
	    "assert d[\"timeline\"][\"points\"] and d[\"timeline\"][\"bucket_us\"]>0\n"
	    "g=[x for x in d[\"findings\"] if x[\"rule\"]==\"delete-without-where\"]\n"
	    "assert len(g)==1 and g[0][\"items\"][0][\"calls\"]==3\n"
	    "assert g[0][\"items\"][0][\"example\"]==\"DELETE FROM sessions\"\n",
	    path));
}

static void test_html_well_formed(void **state)
{
	struct report *r = sample_report();
	const char *path = tmp_path("r.html");
	FILE *f = fopen(path, "w");
	assert_int_equal(report_write_html(r, f), 0);
	fclose(f);
	report_free(r);
	/* html.parser with a tag stack, and the stricter XML parser, both accept it. */
	assert_true(python_check("import sys\n"
	                         "from html.parser import HTMLParser\n"
	                         "import xml.etree.ElementTree as ET\n"
	                         "src=open(sys.argv[1]).read()\n"
	                         "void={\"meta\",\"br\",\"img\",\"hr\",\"input\",\"link\"}\n"
	                         "class P(HTMLParser):\n"
	                         "  def __init__(s):\n"
	                         "    super().__init__(); s.st=[]; s.svg=0\n"
	                         "  def handle_starttag(s,t,a):\n"
	                         "    s.svg+=t==\"svg\"\n"
	                         "    if t not in void: s.st.append(t)\n"
	                         "  def handle_endtag(s,t):\n"
	                         "    if t in void: return\n"
	                         "    assert s.st and s.st[-1]==t, (t, s.st[-3:])\n"
	                         "    s.st.pop()\n"
	                         "p=P(); p.feed(src); p.close()\n"
	                         "assert not p.st and p.svg>=3, (p.st, p.svg)\n"
	                         "ET.fromstring(src.split(\"\\n\",1)[1])\n"
	                         "assert \"<script\" not in src and \"http://\" not in "
	                         "src.replace(\"http://www.w3.org/2000/svg\",\"\")\n",
	                         path));
}

static void test_text_and_sarif(void **state)
{
	struct report *r = sample_report();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(report_write_text(r, f, false), 0);
	fclose(f);
	assert_non_null(strstr(buf, "delete-without-where"));
	assert_null(strstr(buf, "\033[")); /* no colour unless asked */
	free(buf);
	const char *path = tmp_path("r.sarif");
	f = fopen(path, "w");
	assert_int_equal(report_write_sarif(r, f), 0);
	fclose(f);
	report_free(r);
	assert_true(
	    python_check("import json,sys\n"
	                 "d=json.load(open(sys.argv[1]))\n"
	                 "assert d[\"version\"]==\"2.1.0\"\n"
	                 "res=d[\"runs\"][0][\"results\"]\n"
	                 "assert any(x[\"ruleId\"]==\"delete-without-where\" for x in res)\n",
	                 path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_percentiles_known_data),
	    cmocka_unit_test(test_fingerprint_folding),
	    cmocka_unit_test(test_aggregates_and_filters),
	    cmocka_unit_test(test_recorded_verdict_for_literal_rules),
	    cmocka_unit_test(test_observed_rows_judge_pagination),
	    cmocka_unit_test(test_fingerprint_limit),
	    cmocka_unit_test(test_time_buckets_widen),
	    cmocka_unit_test(test_merge_capture_and_log),
	    cmocka_unit_test(test_baseline_file_and_hiding),
	    cmocka_unit_test(test_json_shape),
	    cmocka_unit_test(test_html_well_formed),
	    cmocka_unit_test(test_text_and_sarif),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
