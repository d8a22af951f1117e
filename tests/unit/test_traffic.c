/* test_traffic.c - traffic rules (n-plus-one, repeated-identical-query, slow-query) on synthetic
 * streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer/rule.h"
#include "analyzer/traffic.h"

#define MS  1000u
#define SEC 1000000u

/* Feed one statement with the given fields; everything else neutral. */
static void feed(struct traffic *t, uint64_t time_us, uint64_t client, uint64_t xact, uint64_t fp,
                 uint64_t params, uint64_t duration_us, enum traffic_kind kind)
{
	struct traffic_stmt s = {
	    .time_us = time_us,
	    .client_id = client,
	    .xact_id = xact,
	    .fingerprint = fp,
	    .normalized = "SELECT name FROM users WHERE id = $1",
	    .params_hash = params,
	    .duration_us = duration_us,
	    .kind = kind,
	};
	assert_int_equal(traffic_feed(t, &s), 0);
}

/* The finding of rule for fingerprint fp in the report, or NULL; *all receives the report. */
static const struct traffic_finding *find(const struct traffic_finding *all, size_t n,
                                          const char *rule, uint64_t fp)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(all[i].rule_id, rule) == 0 && all[i].fingerprint == fp)
			return &all[i];
	return NULL;
}

static size_t count_rule(const struct traffic_finding *all, size_t n, const char *rule)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += strcmp(all[i].rule_id, rule) == 0;
	return c;
}

/* A loop of 25 lookups with different ids in one transaction is an N+1. */
static void test_n_plus_one_in_transaction(void **state)
{
	struct traffic *t = traffic_new(NULL);
	struct traffic_finding *f;

	assert_non_null(t);
	feed(t, 0, 1, 0, 100, 7, 200, TRAFFIC_READ); /* the parent query */
	for (uint64_t i = 0; i < 25; i++)
		feed(t, 10 * MS + i * 50 * MS, 1, 42, 200, 1000 + i, 300, TRAFFIC_READ);
	size_t n = traffic_report(t, &f);
	const struct traffic_finding *x = find(f, n, TRAFFIC_RULE_N_PLUS_ONE, 200);
	assert_non_null(x);
	assert_int_equal(x->peak, 25);
	assert_int_equal(x->occurrences, 1);
	assert_int_equal(x->example_client, 1);
	assert_int_equal(x->executions, 25);
	assert_string_equal(x->normalized, "SELECT name FROM users WHERE id = $1");
	assert_null(find(f, n, TRAFFIC_RULE_N_PLUS_ONE, 100));
	assert_int_equal(count_rule(f, n, TRAFFIC_RULE_N_PLUS_ONE), 1);
	traffic_findings_free(f, n);
	traffic_free(t);
}

/* Outside transactions the run must fit in the window: spread out, it is not a loop. */
static void test_n_plus_one_window(void **state)
{
	struct traffic *t = traffic_new(NULL);
	struct traffic_finding *f;

	/* fingerprint 1: 12 lookups within 600 ms, autocommit */
	for (uint64_t i = 0; i < 12; i++)
		feed(t, i * 50 * MS, 5, 0, 1, i, 100, TRAFFIC_READ);
	/* fingerprint 2: 12 lookups, one every 2 seconds */
	for (uint64_t i = 0; i < 12; i++)
		feed(t, 100 * SEC + i * 2 * SEC, 5, 0, 2, i, 100, TRAFFIC_READ);
	size_t n = traffic_report(t, &f);
	assert_non_null(find(f, n, TRAFFIC_RULE_N_PLUS_ONE, 1));
	assert_null(find(f, n, TRAFFIC_RULE_N_PLUS_ONE, 2));
	traffic_findings_free(f, n);
	traffic_free(t);
}

/* Below the threshold, with the same parameters, or spread over clients: no N+1. */
static void test_n_plus_one_negatives(void **state)
{
	struct traffic *t = traffic_new(NULL);
	struct traffic_finding *f;

	/* 9 executions: one short of the default 10 */
	for (uint64_t i = 0; i < 9; i++)
		feed(t, i * MS, 1, 7, 10, i, 100, TRAFFIC_READ);
	/* 30 executions with the same parameters: repetition, not a loop over rows */
	for (uint64_t i = 0; i < 30; i++)
		feed(t, i * MS, 2, 8, 11, 99, 100, TRAFFIC_READ);
	/* 30 clients running it once each */
	for (uint64_t i = 0; i < 30; i++)
		feed(t, i * MS, 100 + i, 0, 12, i, 100, TRAFFIC_READ);
	/* 20 executions of one client, but each in its own transaction spread over minutes */
	for (uint64_t i = 0; i < 20; i++)
		feed(t, i * 10 * SEC, 3, 1000 + i, 13, i, 100, TRAFFIC_READ);
	/* transaction control is never an N+1 */
	for (uint64_t i = 0; i < 30; i++)
		feed(t, i * MS, 4, 9, 14, i, 100, TRAFFIC_OTHER);
	size_t n = traffic_report(t, &f);
	assert_int_equal(count_rule(f, n, TRAFFIC_RULE_N_PLUS_ONE), 0);
	traffic_findings_free(f, n);
	traffic_free(t);
}

/* Writes in a loop (one INSERT per row) are an N+1 as well; two bursts are counted. */
static void test_n_plus_one_writes_and_bursts(void **state)
{
	struct traffic *t = traffic_new(NULL);
	struct traffic_finding *f;

	for (uint64_t i = 0; i < 15; i++)
		feed(t, i * MS, 1, 50, 20, i, 100, TRAFFIC_WRITE);
	for (uint64_t i = 0; i < 40; i++)
		feed(t, SEC + i * MS, 1, 51, 20, 500 + i, 100, TRAFFIC_WRITE);
	size_t n = traffic_report(t, &f);
	const struct traffic_finding *x = find(f, n, TRAFFIC_RULE_N_PLUS_ONE, 20);
	assert_non_null(x);
	assert_int_equal(x->occurrences, 2);
	assert_int_equal(x->peak, 40);
	traffic_findings_free(f, n);
	traffic_free(t);
}

/* The same query and parameters 50 times in one second: a cache candidate. */
static void test_repeated_identical(void **state)
{
	struct traffic *t = traffic_new(NULL);
	struct traffic_finding *f;

	/* fingerprint 30: 50/s for 3 seconds, many clients, same parameters */
	for (uint64_t sec = 0; sec < 3; sec++)
		for (uint64_t i = 0; i < 50; i++)
			feed(t, sec * SEC + i * 15 * MS, i % 7, 0, 30, 1234, 200, TRAFFIC_READ);
	/* fingerprint 31: 50/s but every execution with other parameters */
	for (uint64_t i = 0; i < 50; i++)
		feed(t, i * 15 * MS, i % 7, 0, 31, i, 200, TRAFFIC_READ);
	/* fingerprint 32: same parameters, 5 per second for 10 seconds */
	for (uint64_t i = 0; i < 50; i++)
		feed(t, i * 200 * MS, 1, 0, 32, 1, 200, TRAFFIC_READ);
	/* fingerprint 33: 50/s identical writes are not cacheable */
	for (uint64_t i = 0; i < 50; i++)
		feed(t, i * 15 * MS, 1, 0, 33, 1, 200, TRAFFIC_WRITE);
	size_t n = traffic_report(t, &f);
	const struct traffic_finding *x = find(f, n, TRAFFIC_RULE_REPEATED, 30);
	assert_non_null(x);
	assert_int_equal(x->occurrences, 3);
	assert_true(x->peak >= 50);
	assert_int_equal(x->pattern_calls, 150); /* every call of the three seconds over the rate */
	assert_null(find(f, n, TRAFFIC_RULE_REPEATED, 31));
	assert_null(find(f, n, TRAFFIC_RULE_REPEATED, 32));
	assert_null(find(f, n, TRAFFIC_RULE_REPEATED, 33));
	traffic_findings_free(f, n);
	traffic_free(t);
}

/*
 * The time at stake is the time of the calls that make the pattern: a loop of
 * 59 lookups plus 41 calls of the same query spread over minutes counts 59.
 */
static void test_pattern_calls(void **state)
{
	struct traffic *t = traffic_new(NULL);
	struct traffic_finding *f;

	assert_non_null(t);
	for (uint64_t i = 0; i < 59; i++)
		feed(t, i * MS, 1, 77, 40, 1000 + i, 300,
		     TRAFFIC_READ); /* one transaction's loop */
	for (uint64_t i = 0; i < 41; i++)
		feed(t, (i + 1) * 60 * SEC, 2 + i, 0, 40, i, 1000, TRAFFIC_READ); /* one a minute */
	size_t n = traffic_report(t, &f);
	const struct traffic_finding *x = find(f, n, TRAFFIC_RULE_N_PLUS_ONE, 40);
	assert_non_null(x);
	assert_int_equal(x->executions, 100);
	assert_int_equal(x->pattern_calls, 59);
	assert_int_equal(x->pattern_us, 59 * 300);
	traffic_findings_free(f, n);
	traffic_free(t);
}

/* p95 over the threshold is flagged; a few slow outliers and too few samples are not. */
static void test_slow_query(void **state)
{
	struct traffic *t = traffic_new(NULL);
	struct traffic_finding *f;

	/* fingerprint 40: 100 executions, 10 of them at 2 s: p95 is 2 s */
	for (uint64_t i = 0; i < 100; i++)
		feed(t, i * SEC, 1, 0, 40, i, i % 10 == 0 ? 2 * SEC : 20 * MS, TRAFFIC_READ);
	/* fingerprint 41: 100 executions, 3 at 5 s: p95 is 20 ms */
	for (uint64_t i = 0; i < 100; i++)
		feed(t, i * SEC, 1, 0, 41, i, i % 40 == 0 ? 5 * SEC : 20 * MS, TRAFFIC_READ);
	/* fingerprint 42: 10 executions at 3 s: fewer than min_samples */
	for (uint64_t i = 0; i < 10; i++)
		feed(t, i * SEC, 1, 0, 42, i, 3 * SEC, TRAFFIC_OTHER);
	/* fingerprint 43: all at 450 ms, under 500 ms */
	for (uint64_t i = 0; i < 50; i++)
		feed(t, i * SEC, 1, 0, 43, i, 450 * MS, TRAFFIC_WRITE);
	size_t n = traffic_report(t, &f);
	const struct traffic_finding *x = find(f, n, TRAFFIC_RULE_SLOW_QUERY, 40);
	assert_non_null(x);
	/* the histogram never overstates: within 12.5% below the true value */
	assert_true(x->peak <= 2 * SEC && x->peak >= 2 * SEC * 7 / 8);
	assert_null(find(f, n, TRAFFIC_RULE_SLOW_QUERY, 41));
	assert_null(find(f, n, TRAFFIC_RULE_SLOW_QUERY, 42));
	assert_null(find(f, n, TRAFFIC_RULE_SLOW_QUERY, 43));
	uint64_t p41 = traffic_p95_us(t, 41);
	assert_true(p41 <= 20 * MS && p41 >= 20 * MS * 7 / 8);
	assert_int_equal(traffic_p95_us(t, 999), 0);
	traffic_findings_free(f, n);
	traffic_free(t);
}

/* `[rules]` settings reach the traffic rules: thresholds and off. */
static void test_config_from_rules(void **state)
{
	struct rule_config *rc = rule_config_new();
	struct traffic_config cfg;
	char err[256];
	struct traffic_finding *f;

	assert_non_null(rc);
	traffic_config_from_rules(&cfg, NULL);
	assert_true(cfg.n1_min_repeats == 10 && cfg.slow_p95_ms == 500 &&
	            cfg.rep_min_per_second == 20);
	assert_int_equal(rule_config_set(rc, "n-plus-one.min_repeats", "3", err, sizeof(err)), 0);
	assert_int_equal(rule_config_set(rc, "slow-query.p95_ms", "100", err, sizeof(err)), 0);
	assert_int_equal(rule_config_set(rc, "repeated-identical-query", "off", err, sizeof(err)),
	                 0);
	traffic_config_from_rules(&cfg, rc);
	assert_true(cfg.n1_min_repeats == 3);
	assert_true(cfg.slow_p95_ms == 100);
	assert_int_equal(cfg.rep_severity, SEVERITY_OFF);

	struct traffic *t = traffic_new(&cfg);
	for (uint64_t i = 0; i < 30; i++)
		feed(t, i * MS, 1, 5, 50, i % 4 == 0 ? 1 : i, 150 * MS, TRAFFIC_READ);
	for (uint64_t i = 0; i < 30; i++)
		feed(t, SEC + i * MS, 2, 0, 51, 1, 1 * MS, TRAFFIC_READ);
	size_t n = traffic_report(t, &f);
	assert_non_null(find(f, n, TRAFFIC_RULE_N_PLUS_ONE, 50));
	assert_non_null(find(f, n, TRAFFIC_RULE_SLOW_QUERY, 50));
	assert_int_equal(count_rule(f, n, TRAFFIC_RULE_REPEATED), 0);
	traffic_findings_free(f, n);
	traffic_free(t);
	rule_config_free(rc);
}

/* Memory stays bounded: fingerprints past the limit are dropped, trackers recycled. */
static void test_bounds(void **state)
{
	struct traffic_config cfg;
	struct traffic_stats st;

	traffic_config_defaults(&cfg);
	cfg.max_fingerprints = 100;
	cfg.max_tracked = 64;
	struct traffic *t = traffic_new(&cfg);
	assert_non_null(t);
	for (uint64_t i = 0; i < 5000; i++)
		feed(t, i, i, 0, i % 1000, i, 10, TRAFFIC_READ);
	traffic_get_stats(t, &st);
	assert_int_equal(st.statements, 5000);
	assert_int_equal(st.fingerprints, 100);
	assert_int_equal(st.dropped, 4500);
	assert_true(st.recycled > 0);
	/* a real N+1 is still found after all that churn */
	for (uint64_t i = 0; i < 20; i++)
		feed(t, 10 * SEC + i, 77, 3, 5, 9000 + i, 10, TRAFFIC_READ);
	struct traffic_finding *f;
	size_t n = traffic_report(t, &f);
	assert_non_null(find(f, n, TRAFFIC_RULE_N_PLUS_ONE, 5));
	traffic_findings_free(f, n);
	traffic_free(t);
}

/* Report order: by rule id, then by executions, most first. */
static void test_report_order(void **state)
{
	struct traffic *t = traffic_new(NULL);
	struct traffic_finding *f;

	for (uint64_t i = 0; i < 30; i++)
		feed(t, i * SEC, 1, 0, 60, i, SEC, TRAFFIC_READ);
	for (uint64_t i = 0; i < 60; i++)
		feed(t, i * SEC, 1, 0, 61, i, SEC, TRAFFIC_READ);
	size_t n = traffic_report(t, &f);
	assert_int_equal(n, 2);
	assert_int_equal(f[0].fingerprint, 61);
	assert_int_equal(f[1].fingerprint, 60);
	assert_int_equal(f[0].severity, SEVERITY_WARNING);
	assert_non_null(strstr(f[0].message, "95th percentile"));
	traffic_findings_free(f, n);
	traffic_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_n_plus_one_in_transaction),
	    cmocka_unit_test(test_n_plus_one_window),
	    cmocka_unit_test(test_n_plus_one_negatives),
	    cmocka_unit_test(test_n_plus_one_writes_and_bursts),
	    cmocka_unit_test(test_repeated_identical),
	    cmocka_unit_test(test_pattern_calls),
	    cmocka_unit_test(test_slow_query),
	    cmocka_unit_test(test_config_from_rules),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_report_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
