/*
 * test_cache.c - the analysis cache: hits compare the text, bounds by entries and bytes, CLOCK
 * eviction.
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

#include "analyzer/cache.h"
#include "analyzer/parse.h"

static const struct analysis *analyze(struct analysis_cache *c, const char *sql)
{
	return analysis_cache_analyze(c, sql, strlen(sql), NULL, NULL, NULL);
}

static void test_hit_returns_same_analysis(void **state)
{
	struct analysis_cache *c = analysis_cache_new(16, 1 << 20);
	struct analysis_cache_stats st;

	const struct analysis *a = analyze(c, "SELECT * FROM t WHERE id = 1");
	assert_non_null(a);
	assert_int_equal(a->n_findings, 1);
	const struct analysis *b = analyze(c, "SELECT * FROM t WHERE id = 1");
	assert_ptr_equal(a, b);
	/* A different text (even with the same fingerprint) is a different entry. */
	const struct analysis *d = analyze(c, "SELECT * FROM t WHERE id = 2");
	assert_ptr_not_equal(d, b);
	assert_string_equal(d->fingerprint_hex, b->fingerprint_hex);
	analysis_cache_get_stats(c, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.entries, 2);
	assert_null(analysis_cache_get(c, "SELECT 3", 8));
	analysis_cache_free(c);
}

static void test_entry_bound_and_clock(void **state)
{
	struct analysis_cache *c = analysis_cache_new(4, 1 << 20);
	char sql[64];
	struct analysis_cache_stats st;

	for (int i = 0; i < 4; i++) {
		snprintf(sql, sizeof(sql), "SELECT %d", i);
		analyze(c, sql);
	}
	/* Touch entry 0: CLOCK gives it a second chance over the untouched ones. */
	assert_non_null(analysis_cache_get(c, "SELECT 0", 8));
	analyze(c, "SELECT 4");
	analysis_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.evictions, 1);
	assert_non_null(analysis_cache_get(c, "SELECT 0", 8));
	assert_null(analysis_cache_get(c, "SELECT 1", 8));
	assert_non_null(analysis_cache_get(c, "SELECT 4", 8));

	/* Many more: never more than 4 entries, and the index stays consistent. */
	for (int i = 5; i < 2000; i++) {
		snprintf(sql, sizeof(sql), "SELECT %d", i);
		assert_non_null(analyze(c, sql));
		assert_non_null(analysis_cache_get(c, sql, strlen(sql)));
	}
	analysis_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 4);
	size_t found = 0;
	for (int i = 0; i < 2000; i++) {
		snprintf(sql, sizeof(sql), "SELECT %d", i);
		found += analysis_cache_get(c, sql, strlen(sql)) != NULL;
	}
	assert_int_equal(found, 4);
	analysis_cache_free(c);
}

static void test_byte_bound(void **state)
{
	size_t limit = 16 * 1024;
	struct analysis_cache *c = analysis_cache_new(1000, limit);
	struct analysis_cache_stats st;
	char sql[600];

	for (int i = 0; i < 200; i++) {
		int n = snprintf(sql, sizeof(sql), "SELECT %d, '", i);
		memset(sql + n, 'x', 400);
		snprintf(sql + n + 400, sizeof(sql) - (size_t)n - 400, "'");
		assert_non_null(analyze(c, sql));
		analysis_cache_get_stats(c, &st);
		assert_true(st.bytes <= limit);
	}
	assert_true(st.entries < 200);
	assert_true(st.entries > 5);

	/* A text bigger than the whole budget is analysed but not kept. */
	char *big = malloc(limit + 64);
	int n = snprintf(big, limit + 64, "SELECT '");
	memset(big + n, 'y', limit);
	strcpy(big + n + limit, "'");
	const struct analysis *a = analyze(c, big);
	assert_non_null(a);
	assert_int_equal(a->status, PARSE_OK);
	assert_null(analysis_cache_get(c, big, strlen(big)));
	free(big);
	analysis_cache_free(c);
}

static void test_hash_spreads(void **state)
{
	/* Texts differing in one byte anywhere hash differently. */
	char a[100], b[100];
	memset(a, 'q', sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++) {
		memcpy(b, a, sizeof(a));
		b[i] = 'r';
		assert_true(analysis_cache_hash(a, sizeof(a)) != analysis_cache_hash(b, sizeof(b)));
	}
	assert_true(analysis_cache_hash(a, 99) != analysis_cache_hash(a, 100));
}

static void test_cached_repeat_is_cheap(void **state)
{
	struct analysis_cache *c = analysis_cache_new(64, 1 << 20);
	const char *sql = "SELECT abalance FROM pgbench_accounts WHERE aid = 42";
	struct timespec t0, t1;

	analyze(c, sql);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100000; i++)
		assert_non_null(analyze(c, sql));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
	            1e3 / 100000;
	/* The target is 1 us on a quiet machine; allow for a loaded test host. */
	assert_true(us < 5.0);
	analysis_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hit_returns_same_analysis),
	    cmocka_unit_test(test_entry_bound_and_clock),
	    cmocka_unit_test(test_byte_bound),
	    cmocka_unit_test(test_hash_spreads),
	    cmocka_unit_test(test_cached_repeat_is_cheap),
	};
	int rc = cmocka_run_group_tests_name("cache", tests, NULL, NULL);
	parse_thread_cleanup();
	return rc;
}
