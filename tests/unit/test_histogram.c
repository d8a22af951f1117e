/*
 * test_histogram.c - range selectivity from pg_stats histograms and most common values, and
 * the timestamp and interval readers it relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer/catalog.h"
#include "analyzer/histogram.h"
#include "analyzer/parse.h"

/* Bounds of a histogram built here, freed by stats_free(). */
static void stats_hist(struct catalog_stats *s, size_t n, double first, double step, bool time)
{
	memset(s, 0, sizeof(*s));
	s->present = true;
	s->n_distinct = -1;
	s->hist = calloc(n, sizeof(char *));
	assert_non_null(s->hist);
	for (size_t i = 0; i < n; i++) {
		char buf[64];
		double v = first + step * (double)i;
		if (time) {
			time_t t = (time_t)v;
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S+00", &tm);
		} else {
			snprintf(buf, sizeof(buf), "%g", v);
		}
		s->hist[i] = strdup(buf);
	}
	s->n_hist = n;
}

static void stats_free(struct catalog_stats *s)
{
	for (size_t i = 0; i < s->n_hist; i++)
		free(s->hist[i]);
	free(s->hist);
	for (size_t i = 0; i < s->n_mcv; i++)
		free(s->mcv_vals[i]);
	free(s->mcv_vals);
	free(s->mcv_freqs);
}

/* Selectivity of `column > expr` (lower) or `column < expr`, expr given as SQL text. */
static double bound_sel(const struct catalog_stats *s, const char *expr, bool lower)
{
	char sql[256];
	struct parse_tree tree;

	snprintf(sql, sizeof(sql), "SELECT %s", expr);
	assert_int_equal(parse_sql(sql, strlen(sql), 0, &tree, NULL), PARSE_OK);
	const PgQuery__SelectStmt *sel = tree.stmts[0].node->select_stmt;
	const PgQuery__Node *value = sel->target_list[0]->res_target->val;
	double r = hist_bound_selectivity(s, value, lower);
	parse_tree_release(&tree);
	return r;
}

static void test_numeric_histogram(void **state)
{
	struct catalog_stats s;

	/* 0, 10, ..., 1000 with 10% NULLs: each bucket holds 0.9% of the rows. */
	stats_hist(&s, 101, 0, 10, false);
	s.null_frac = 0.1;
	assert_float_equal(bound_sel(&s, "990", true), 0.009, 1e-9);
	assert_float_equal(bound_sel(&s, "250", false), 0.225, 1e-9);
	/* inside a bucket: linear */
	assert_float_equal(bound_sel(&s, "995", true), 0.0045, 1e-9);
	assert_float_equal(bound_sel(&s, "'500'::int", true), 0.45, 1e-9);
	assert_float_equal(bound_sel(&s, "400 + 100", true), 0.45, 1e-9);
	/* past either end: a hundredth of a bucket, never 0 */
	assert_float_equal(bound_sel(&s, "5000", true), 0.9 * 0.0001, 1e-12);
	assert_float_equal(bound_sel(&s, "-5", false), 0.9 * 0.0001, 1e-12);
	/* not estimable: parameters, other types, expressions of columns */
	assert_true(bound_sel(&s, "$1", true) < 0);
	assert_true(bound_sel(&s, "'abc'", true) < 0);
	assert_true(bound_sel(&s, "now()", true) < 0);
	stats_free(&s);
}

static void test_common_values(void **state)
{
	struct catalog_stats s;

	/* Half the rows are 5; the other half spread over 0..100. */
	stats_hist(&s, 11, 0, 10, false);
	s.n_mcv = 1;
	s.mcv_vals = calloc(1, sizeof(char *));
	s.mcv_freqs = calloc(1, sizeof(double));
	s.mcv_vals[0] = strdup("5");
	s.mcv_freqs[0] = 0.5;
	assert_float_equal(bound_sel(&s, "3", true), 0.5 + 0.5 * 0.97, 1e-9);
	assert_float_equal(bound_sel(&s, "50", true), 0.5 * 0.5, 1e-9);
	assert_float_equal(bound_sel(&s, "50", false), 0.5 + 0.5 * 0.5, 1e-9);
	/* without a histogram, half of what the common values leave */
	for (size_t i = 0; i < s.n_hist; i++)
		free(s.hist[i]);
	free(s.hist);
	s.hist = NULL;
	s.n_hist = 0;
	assert_float_equal(bound_sel(&s, "50", true), 0.25, 1e-9);
	stats_free(&s);
}

static void test_time_histogram(void **state)
{
	struct catalog_stats s;
	double now = (double)time(NULL);

	/* One bound a day over the last 100 days: a day is 1% of the rows. */
	stats_hist(&s, 101, now - 100 * 86400.0, 86400, true);
	assert_float_equal(bound_sel(&s, "now() - interval '1 day'", true), 0.01, 0.0005);
	assert_float_equal(bound_sel(&s, "CURRENT_TIMESTAMP - '10 days'::interval", true), 0.10,
	                   0.0005);
	assert_float_equal(bound_sel(&s, "now() - interval '30 days'", false), 0.70, 0.0005);
	assert_float_equal(bound_sel(&s, "now() + interval '1 week'", true), 0.0001, 1e-9);
	assert_float_equal(bound_sel(&s, "'2001-01-01'::timestamptz", true), 0.9999, 1e-9);
	assert_float_equal(bound_sel(&s, "date '2001-01-01'", false), 0.0001, 1e-9);
	/* an interval that is not a constant cannot be folded here */
	assert_true(bound_sel(&s, "now() - $1::interval", true) < 0);
	stats_free(&s);
}

static void test_text_histogram(void **state)
{
	struct catalog_stats s;
	static const char *const words[] = {"apple", "banana", "cherry", "grape", "lemon"};

	memset(&s, 0, sizeof(s));
	s.present = true;
	s.hist = calloc(5, sizeof(char *));
	for (size_t i = 0; i < 5; i++)
		s.hist[i] = strdup(words[i]);
	s.n_hist = 5;
	/* text has no distance: half a bucket */
	assert_float_equal(bound_sel(&s, "'fig'", true), 1 - 2.5 / 4, 1e-9);
	assert_float_equal(bound_sel(&s, "'banana'", false), 0.25, 1e-9);
	stats_free(&s);
}

static void test_parse_time(void **state)
{
	double t;

	assert_true(hist_parse_time("2024-07-25", &t));
	assert_float_equal(t, 1721865600, 1e-6);
	assert_true(hist_parse_time("2024-07-25 10:00:00+02", &t));
	assert_float_equal(t, 1721865600 + 8 * 3600, 1e-6);
	assert_true(hist_parse_time("2024-07-25T10:00:00.5Z", &t));
	assert_float_equal(t, 1721865600 + 10 * 3600 + 0.5, 1e-6);
	assert_true(hist_parse_time("1970-01-01 00:00:00-05:30", &t));
	assert_float_equal(t, 5.5 * 3600, 1e-6);
	assert_false(hist_parse_time("abc", &t));
	assert_false(hist_parse_time("2024-13-01", &t));
	assert_false(hist_parse_time("2024-07-25 junk", &t));
	assert_false(hist_parse_time("12", &t));
}

static void test_parse_interval(void **state)
{
	double s;

	assert_true(hist_parse_interval("1 day", &s));
	assert_float_equal(s, 86400, 1e-9);
	assert_true(hist_parse_interval("2 hours 30 minutes", &s));
	assert_float_equal(s, 9000, 1e-9);
	assert_true(hist_parse_interval("1 week", &s));
	assert_float_equal(s, 604800, 1e-9);
	assert_true(hist_parse_interval("01:30:00", &s));
	assert_float_equal(s, 5400, 1e-9);
	assert_true(hist_parse_interval("3 days ago", &s));
	assert_float_equal(s, -259200, 1e-9);
	assert_true(hist_parse_interval("250 ms", &s));
	assert_float_equal(s, 0.25, 1e-9);
	assert_false(hist_parse_interval("1 fortnight", &s));
	assert_false(hist_parse_interval("", &s));
}

static int teardown(void **state)
{
	parse_thread_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_numeric_histogram), cmocka_unit_test(test_common_values),
	    cmocka_unit_test(test_time_histogram),    cmocka_unit_test(test_text_histogram),
	    cmocka_unit_test(test_parse_time),        cmocka_unit_test(test_parse_interval),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
