/*
 * test_admin.c - the pure parts of the admin console and the metrics:
 * command parsing, result rows, Prometheus text and its values, the
 * per-fingerprint latency histogram and rule counts, and the stats_period
 * averages.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pooler/admin.h"
#include "pooler/counts.h"
#include "pooler/metrics.h"
#include "pooler/qstats.h"
#include "pooler/stats.h"

static void test_parse_forms(void **state)
{
	struct admin_parsed p;

	assert_true(admin_parse("show pools;", &p));
	assert_string_equal(p.verb, "SHOW");
	assert_string_equal(p.subject, "POOLS");
	assert_string_equal(p.arg, "");
	assert_true(admin_parse("  KILL \"MyDb\"  ;; ", &p));
	assert_string_equal(p.verb, "KILL");
	assert_string_equal(p.arg, "MyDb");
	assert_true(admin_parse("reconnect", &p));
	assert_string_equal(p.verb, "RECONNECT");
	assert_string_equal(p.arg, "");
	assert_true(admin_parse("SET default_pool_size = 5", &p));
	assert_string_equal(p.verb, "SET");
	assert_string_equal(p.arg, "default_pool_size = 5");
}

static void test_parse_rejects(void **state)
{
	struct admin_parsed p;
	char long_word[200];

	assert_false(admin_parse("", &p));
	assert_false(admin_parse(" ; ", &p));
	assert_false(admin_parse("SHOW", &p));
	assert_false(admin_parse("SHOW POOLS; SHOW STATS", &p));
	assert_false(admin_parse("KILL a b", &p));
	memset(long_word, 'x', sizeof(long_word) - 1);
	long_word[sizeof(long_word) - 1] = 0;
	assert_false(admin_parse(long_word, &p));
}

/* A result's RowDescription and DataRow bytes, as the protocol has them. */
static void test_result_rows(void **state)
{
	static const struct admin_col cols[] = {{"name", ADMIN_TEXT}, {"n", ADMIN_INT4}};
	struct pbuf desc, rows;
	struct admin_result r = {.desc = &desc, .rows = &rows};
	static const uint8_t want_row[] = {'D', 0,   0,   0,   19, 0, 2, 0, 0,   0,
	                                   3,   'a', 'b', 'c', 0,  0, 0, 2, '4', '2'};

	pbuf_init(&desc, 4096);
	pbuf_init(&rows, 4096);
	admin_result_columns(&r, cols, 2);
	assert_int_equal(pbuf_head(&desc)[0], 'T');
	admin_row_begin(&r);
	admin_put_str(&r, "abc");
	admin_put_int(&r, 42);
	admin_row_end(&r);
	assert_int_equal(r.nrows, 1);
	assert_false(r.oom);
	assert_int_equal(pbuf_len(&rows), 20);
	assert_memory_equal(pbuf_head(&rows), want_row, 20);
	pbuf_release(&desc);
	pbuf_release(&rows);
}

static void test_metrics_text(void **state)
{
	struct pbuf out;
	char esc[64];
	static const double bounds[] = {0.1, 1};
	static const uint64_t counts[] = {2, 1, 3};
	const char *want = "# HELP x_seconds Wait.\n# TYPE x_seconds histogram\n"
	                   "x_seconds_bucket{db=\"a\",le=\"0.1\"} 2\n"
	                   "x_seconds_bucket{db=\"a\",le=\"1\"} 3\n"
	                   "x_seconds_bucket{db=\"a\",le=\"+Inf\"} 6\n"
	                   "x_seconds_sum{db=\"a\"} 12.5\n"
	                   "x_seconds_count{db=\"a\"} 6\n"
	                   "y_total 7\n";

	metrics_escape("a\"b\\c\nd", esc, sizeof(esc));
	assert_string_equal(esc, "a\\\"b\\\\c\\nd");
	pbuf_init(&out, 4096);
	metrics_header(&out, "x_seconds", "histogram", "Wait.");
	metrics_histogram(&out, "x_seconds", "db=\"a\"", bounds, counts, 3, 12.5);
	metrics_sample(&out, "y_total", "", 7);
	pbuf_append(&out, "", 1);
	assert_string_equal((const char *)pbuf_head(&out), want);
	pbuf_release(&out);
}

/* Counts print as their decimal digits; whole doubles as integers, others as %.9g. */
static void test_metrics_values(void **state)
{
	struct pbuf out;
	char buf[24];
	const char *want = "a_total{k=\"v\"} 18446744073709551615\n"
	                   "b 0\n"
	                   "c -3\n"
	                   "d 0.25\n"
	                   "e 1e+15\n"
	                   "f 123456789012345\n";

	assert_int_equal(metrics_format_uint(buf, 0), 1);
	assert_string_equal(buf, "0");
	assert_int_equal(metrics_format_uint(buf, 10), 2);
	assert_string_equal(buf, "10");
	assert_int_equal(metrics_format_uint(buf, 1234567890), 10);
	assert_string_equal(buf, "1234567890");
	assert_int_equal(metrics_format_uint(buf, UINT64_MAX), 20);
	assert_string_equal(buf, "18446744073709551615");
	pbuf_init(&out, 4096);
	metrics_sample_uint(&out, "a_total", "k=\"v\"", UINT64_MAX);
	metrics_sample_uint(&out, "b", "", 0);
	metrics_sample(&out, "c", "", -3);
	metrics_sample(&out, "d", "", 0.25);
	metrics_sample(&out, "e", "", 1e15);
	metrics_sample(&out, "f", "", 123456789012345.0);
	pbuf_append(&out, "", 1);
	assert_string_equal((const char *)pbuf_head(&out), want);
	pbuf_release(&out);
}

/* How many fingerprints rule RULE flags, by qstats_rule_counts(). */
static int rule_count(const char *rule)
{
	struct qstats_rule_count rc[QSTATS_RULE_COUNTS_MAX];
	size_t n = qstats_rule_counts(rc, QSTATS_RULE_COUNTS_MAX);

	for (size_t i = 0; i < n; i++)
		if (strcmp(rc[i].rule, rule) == 0)
			return rc[i].fingerprints;
	return 0;
}

/* The counts per rule follow every change of the rule lists, asked for in between. */
static void test_rule_counts_kept(void **state)
{
	qstats_reset();
	qstats_record(8, "SELECT *", "select-star", 10, 1, false, false);
	assert_int_equal(rule_count("select-star"), 1);
	assert_int_equal(rule_count("select-star"), 1); /* unchanged: the same counts */
	qstats_record(9, "SELECT * FROM t", "select-star", 10, 1, false, false);
	assert_int_equal(rule_count("select-star"), 2);
	/* A new verdict replaces the analyzer's rules of fingerprint 8. */
	qstats_record(8, "SELECT *", "missing-pagination", 10, 1, false, false);
	assert_int_equal(rule_count("select-star"), 1);
	assert_int_equal(rule_count("missing-pagination"), 1);
	/* A statement without a verdict keeps them. */
	qstats_record(8, "SELECT *", NULL, 10, 1, false, false);
	assert_int_equal(rule_count("missing-pagination"), 1);
	qstats_add_rule(9, "n-plus-one", "called in a loop");
	assert_int_equal(rule_count("n-plus-one"), 1);
	qstats_add_rule(9, "n-plus-one", "called in a loop");
	assert_int_equal(rule_count("n-plus-one"), 1);
	qstats_reset();
	assert_int_equal(rule_count("select-star"), 0);
	assert_int_equal(rule_count("n-plus-one"), 0);
}

/* A value lands in the first bucket whose bound it does not pass ("le"), else the last. */
static void test_counts_bucket(void **state)
{
	struct traffic_counts t = {0};

	assert_int_equal(counts_bucket(counts_stmt_bounds, COUNTS_STMT_BUCKETS, 0), 0);
	assert_int_equal(counts_bucket(counts_stmt_bounds, COUNTS_STMT_BUCKETS, 0.0005), 0);
	assert_int_equal(counts_bucket(counts_stmt_bounds, COUNTS_STMT_BUCKETS, 0.00051), 1);
	assert_int_equal(counts_bucket(counts_stmt_bounds, COUNTS_STMT_BUCKETS, 0.003), 3);
	assert_int_equal(counts_bucket(counts_stmt_bounds, COUNTS_STMT_BUCKETS, 10.0), 13);
	assert_int_equal(counts_bucket(counts_stmt_bounds, COUNTS_STMT_BUCKETS, 10.5), 14);
	assert_int_equal(counts_bucket(counts_stmt_bounds, COUNTS_STMT_BUCKETS, 1e9), 14);
	for (int b = 1; b < COUNTS_STMT_BUCKETS - 1; b++)
		assert_true(counts_stmt_bounds[b] > counts_stmt_bounds[b - 1]);
	assert_int_equal(counts_bucket(counts_wait_bounds, COUNTS_WAIT_BUCKETS, 0.0002), 1);
	counts_statement(&t, 1, 0.004);
	counts_statement(&t, 1, 30);
	counts_statement(&t, 0, -1); /* a clock step back counts as 0 */
	assert_int_equal(t.stmt_buckets[1][3], 1);
	assert_int_equal(t.stmt_buckets[1][COUNTS_STMT_BUCKETS - 1], 1);
	assert_int_equal(t.stmt_buckets[0][0], 1);
	assert_true(t.stmt_time[1] > 30.003 && t.stmt_time[1] < 30.005);
	assert_true(t.stmt_time[0] == 0);
}

/* Quantiles land in the right bucket: within a factor of sqrt(2). */
static void test_qstats_quantiles(void **state)
{
	struct qstats_entry e[2];

	qstats_reset();
	for (int i = 0; i < 100; i++)
		qstats_record(7, "SELECT $1", "", i < 95 ? 1000.0 : 100000.0, 1, i == 0,
		              i % 4 == 0);
	assert_int_equal(qstats_top(e, 2), 1);
	assert_int_equal(e[0].calls, 100);
	assert_int_equal(e[0].errors, 1);
	assert_int_equal(e[0].replica_calls, 25);
	assert_int_equal(e[0].rows, 100);
	assert_true(qstats_quantile(e[0].hist, 0.50) > 1000 / 1.5);
	assert_true(qstats_quantile(e[0].hist, 0.50) < 1000 * 1.5);
	assert_true(qstats_quantile(e[0].hist, 0.99) > 100000 / 1.5);
	qstats_add_rule(7, "n-plus-one", "called in a loop");
	qstats_add_rule(7, "n-plus-one", "called in a loop");
	qstats_top(e, 1);
	assert_string_equal(e[0].traffic, "n-plus-one");
	/* A new verdict replaces the analyzer's advice and keeps the traffic rules'. */
	qstats_verdict(7);
	qstats_fix(7, "unindexed-filter", "CREATE INDEX ON t (a);");
	qstats_verdict(7);
	qstats_fix(7, "select-star", "name the columns");
	qstats_top(e, 1);
	assert_string_equal(qstats_fix_of(&e[0], "n-plus-one"), "called in a loop");
	assert_string_equal(qstats_fix_of(&e[0], "select-star"), "name the columns");
	assert_string_equal(qstats_fix_of(&e[0], "unindexed-filter"), "");
	/* Rules by fingerprints flagged: the analyzer's and the traffic rules'. */
	qstats_record(8, "SELECT *", "select-star,missing-pagination", 10, 1, false, false);
	qstats_record(9, "SELECT * FROM t", "select-star", 10, 1, false, false);
	{
		struct qstats_rule_count rc[8];
		size_t n = qstats_rule_counts(rc, 8);
		int star = 0, npo = 0, pag = 0;

		assert_int_equal(n, 3);
		for (size_t i = 0; i < n; i++) {
			star += strcmp(rc[i].rule, "select-star") == 0 ? rc[i].fingerprints : 0;
			npo += strcmp(rc[i].rule, "n-plus-one") == 0 ? rc[i].fingerprints : 0;
			pag +=
			    strcmp(rc[i].rule, "missing-pagination") == 0 ? rc[i].fingerprints : 0;
		}
		assert_int_equal(star, 2);
		assert_int_equal(npo, 1);
		assert_int_equal(pag, 1);
	}
}

/* The table is bounded: fingerprints past QSTATS_MAX are counted, not stored. */
static void test_qstats_bounded(void **state)
{
	static struct qstats_entry e[QSTATS_MAX + 1];

	qstats_reset();
	for (uint64_t fp = 1; fp <= QSTATS_MAX + 10; fp++)
		qstats_record(fp, "q", NULL, (double)fp, -1, false, false);
	assert_int_equal(qstats_top(e, QSTATS_MAX + 1), QSTATS_MAX);
	assert_int_equal(qstats_untracked(), 10);
	assert_true(e[0].total_us >= e[1].total_us);
}

static void test_stats_rates(void **state)
{
	struct traffic_counts a = {0}, b = {0};
	struct stats_avg avg;

	b.transactions = 120;
	b.queries = 240;
	b.bytes_in = 6000;
	b.xact_time = 1.2; /* 10 ms each */
	b.query_time = 0.24;
	b.waits = 2;
	b.wait_total = 0.004;
	stats_rates(&a, &b, 60, &avg);
	assert_true(avg.xact_count > 1.99 && avg.xact_count < 2.01);
	assert_true(avg.query_count > 3.99 && avg.query_count < 4.01);
	assert_true(avg.bytes_in > 99.9 && avg.bytes_in < 100.1);
	assert_true(avg.xact_time_us > 9999 && avg.xact_time_us < 10001);
	assert_true(avg.query_time_us > 999 && avg.query_time_us < 1001);
	assert_true(avg.wait_time_us > 1999 && avg.wait_time_us < 2001);
	stats_rates(&b, &b, 60, &avg);
	assert_true(avg.xact_time_us == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_forms),      cmocka_unit_test(test_parse_rejects),
	    cmocka_unit_test(test_result_rows),      cmocka_unit_test(test_metrics_text),
	    cmocka_unit_test(test_qstats_quantiles), cmocka_unit_test(test_qstats_bounded),
	    cmocka_unit_test(test_stats_rates),      cmocka_unit_test(test_counts_bucket),
	    cmocka_unit_test(test_metrics_values),   cmocka_unit_test(test_rule_counts_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
