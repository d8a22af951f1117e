/*
 * test_engine.c - rule configuration, inline suppressions, syntax errors and finding locations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "analyzer/engine.h"
#include "analyzer/parse.h"

static size_t count_rule(const struct analysis *a, const char *rule)
{
	size_t n = 0;
	for (size_t i = 0; i < a->n_findings; i++)
		n += strcmp(a->findings[i].rule_id, rule) == 0;
	return n;
}

static struct analysis *run(const char *sql, const struct rule_config *cfg)
{
	struct analysis *a = analyze_sql(sql, strlen(sql), NULL, cfg, NULL);
	assert_non_null(a);
	return a;
}

static void test_registry_has_my_rules(void **state)
{
	static const char *const ids[] = {
	    "select-star",     "order-by-random", "update-without-where", "delete-without-where",
	    "not-in-subquery", "large-in-list",   "deep-offset",          "cartesian-join",
	};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		const struct rule *r = rule_find(ids[i]);
		assert_non_null(r);
		assert_string_equal(r->id, ids[i]);
		assert_false(r->needs_schema);
	}
	assert_null(rule_find("no-such-rule"));
}

static void test_config_errors_name_the_culprit(void **state)
{
	struct rule_config *cfg = rule_config_new();
	char err[256];

	assert_int_equal(rule_config_set(cfg, "no-such-rule", "off", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no-such-rule"));
	assert_int_equal(rule_config_set(cfg, "deep-offset.nope", "5", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nope"));
	assert_int_equal(rule_config_set(cfg, "deep-offset", "loud", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "loud"));
	assert_int_equal(rule_config_set(cfg, "deep-offset.threshold", "abc", err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "abc"));
	assert_int_equal(rule_config_set(cfg, "deep-offset.threshold", "0", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "outside"));
	assert_int_equal(rule_config_set(cfg, "select-star.threshold", "1", err, sizeof(err)), -1);
	assert_int_equal(rule_config_set(cfg, "syntax-error.x", "1", err, sizeof(err)), -1);
	rule_config_free(cfg);
}

static void test_config_severity_and_options(void **state)
{
	struct rule_config *cfg = rule_config_new();
	char err[256];
	const char *sql = "SELECT * FROM t ORDER BY id LIMIT 10 OFFSET 500";

	struct analysis *a = run(sql, cfg);
	assert_int_equal(count_rule(a, "select-star"), 1);
	assert_int_equal(count_rule(a, "deep-offset"), 0);
	assert_int_equal(a->findings[0].severity, SEVERITY_INFO);
	analysis_free(a);

	assert_int_equal(rule_config_set(cfg, "select-star", "error", err, sizeof(err)), 0);
	assert_int_equal(rule_config_set(cfg, "deep-offset.threshold", "500", err, sizeof(err)), 0);
	a = run(sql, cfg);
	assert_int_equal(count_rule(a, "deep-offset"), 1);
	for (size_t i = 0; i < a->n_findings; i++) {
		if (strcmp(a->findings[i].rule_id, "select-star") == 0)
			assert_int_equal(a->findings[i].severity, SEVERITY_ERROR);
	}
	assert_int_equal(analysis_max_severity(a), SEVERITY_ERROR);
	analysis_free(a);

	assert_int_equal(rule_config_set(cfg, "select-star", "off", err, sizeof(err)), 0);
	a = run(sql, cfg);
	assert_int_equal(count_rule(a, "select-star"), 0);
	analysis_free(a);
	rule_config_free(cfg);
}

static void test_suppression_and_unused_note(void **state)
{
	struct analysis *a;

	/* A comment inside the statement suppresses that rule there. */
	a = run("SELECT * FROM t /* pgscope:ignore select-star */", NULL);
	assert_int_equal(a->n_findings, 0);
	analysis_free(a);

	/* Several ids; one suppressed nothing and is noted. */
	a = run("-- pgscope:ignore select-star, deep-offset\nSELECT * FROM t", NULL);
	assert_int_equal(count_rule(a, "select-star"), 0);
	assert_int_equal(count_rule(a, "unused-suppression"), 1);
	assert_non_null(strstr(a->findings[0].message, "deep-offset"));
	assert_int_equal(a->findings[0].severity, SEVERITY_INFO);
	analysis_free(a);

	/* Only the statement the comment belongs to. */
	a = run("SELECT * FROM a; -- pgscope:ignore select-star\nSELECT * FROM b", NULL);
	assert_int_equal(count_rule(a, "select-star"), 1);
	assert_int_equal(a->findings[0].line, 2);
	analysis_free(a);

	/* A misspelt id suppresses nothing: the finding stays and the note says so. */
	a = run("SELECT * FROM t -- pgscope:ignore select-stars", NULL);
	assert_int_equal(count_rule(a, "select-star"), 1);
	assert_int_equal(count_rule(a, "unused-suppression"), 1);
	analysis_free(a);

	/* The marker inside a string literal is not a comment. */
	a = run("SELECT *, 'pgscope:ignore select-star' FROM t", NULL);
	assert_int_equal(count_rule(a, "select-star"), 1);
	assert_int_equal(count_rule(a, "unused-suppression"), 0);
	analysis_free(a);

	/* The note itself can be turned off. */
	struct rule_config *cfg = rule_config_new();
	char err[128];
	assert_int_equal(rule_config_set(cfg, "unused-suppression", "off", err, sizeof(err)), 0);
	a = run("SELECT 1 -- pgscope:ignore select-star", cfg);
	assert_int_equal(a->n_findings, 0);
	analysis_free(a);
	rule_config_free(cfg);
}

static void test_syntax_error_is_a_finding(void **state)
{
	const char *sql = "SELECT 1;\nSELEC 2";
	struct analysis *a = run(sql, NULL);

	assert_int_equal(a->status, PARSE_SYNTAX_ERROR);
	assert_int_equal(a->n_findings, 1);
	assert_string_equal(a->findings[0].rule_id, ENGINE_RULE_SYNTAX_ERROR);
	assert_int_equal(a->findings[0].severity, SEVERITY_ERROR);
	assert_int_equal(a->findings[0].line, 2);
	assert_int_equal(a->findings[0].offset, 10);
	assert_null(a->normalized);
	analysis_free(a);
}

static void test_too_large_counted_not_parsed(void **state)
{
	struct analyze_options opts = {.max_bytes = 16};
	const char *sql = "SELECT * FROM users WHERE id = 1";
	struct analysis *a = analyze_sql(sql, strlen(sql), NULL, NULL, &opts);

	assert_non_null(a);
	assert_int_equal(a->status, PARSE_TOO_LARGE);
	assert_int_equal(a->n_findings, 0);
	assert_int_equal(a->fingerprint_hex[0], '\0');
	analysis_free(a);
}

static void test_fingerprint_normalized_and_order(void **state)
{
	const char *sql = "DELETE FROM s;\nSELECT * FROM t WHERE a = 5";
	struct analysis *a = run(sql, NULL);

	assert_int_equal(a->status, PARSE_OK);
	assert_int_equal(a->n_stmts, 2);
	assert_string_equal(a->normalized, "DELETE FROM s;\nSELECT * FROM t WHERE a = $1");
	assert_int_equal(strlen(a->fingerprint_hex), 16);
	assert_int_equal(a->n_findings, 2);
	/* Ordered by position, each with its statement and line. */
	assert_string_equal(a->findings[0].rule_id, "delete-without-where");
	assert_int_equal(a->findings[0].stmt, 0);
	assert_int_equal(a->findings[0].line, 1);
	assert_string_equal(a->findings[1].rule_id, "select-star");
	assert_int_equal(a->findings[1].stmt, 1);
	assert_int_equal(a->findings[1].line, 2);
	analysis_free(a);

	struct analyze_options opts = {.skip_normalize = true};
	a = analyze_sql(sql, strlen(sql), NULL, NULL, &opts);
	assert_null(a->normalized);
	assert_int_equal(a->n_findings, 2);
	analysis_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registry_has_my_rules),
	    cmocka_unit_test(test_config_errors_name_the_culprit),
	    cmocka_unit_test(test_config_severity_and_options),
	    cmocka_unit_test(test_suppression_and_unused_note),
	    cmocka_unit_test(test_syntax_error_is_a_finding),
	    cmocka_unit_test(test_too_large_counted_not_parsed),
	    cmocka_unit_test(test_fingerprint_normalized_and_order),
	};
	int rc = cmocka_run_group_tests_name("engine", tests, NULL, NULL);
	parse_thread_cleanup();
	return rc;
}
