/*
 * test_rules_basic.c - the schema-free rules: each case says how many findings of one rule a
 * statement raises.
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

struct rule_case {
	const char *rule;
	const char *sql;
	size_t expect; /* findings of `rule` */
};

static const struct rule_case cases[] = {
    /* select-star: only a star that returns a table's columns to the client. */
    {"select-star", "SELECT * FROM users", 1},
    {"select-star", "SELECT u.* FROM users u JOIN orders o ON o.user_id = u.id", 1},
    {"select-star", "SELECT * FROM a UNION ALL SELECT * FROM b", 2},
    {"select-star", "WITH x AS (SELECT * FROM big) SELECT * FROM x", 1},
    {"select-star", "SELECT s.* FROM (SELECT * FROM t) s", 1},
    {"select-star", "SELECT count(*) FROM users", 0},
    {"select-star", "SELECT id FROM users WHERE EXISTS (SELECT * FROM orders)", 0},
    {"select-star", "WITH x AS (SELECT id, name FROM t) SELECT * FROM x", 0},
    {"select-star", "SELECT * FROM (SELECT id FROM t) s", 0},
    {"select-star", "SELECT * FROM generate_series(1, 10)", 0},
    {"select-star", "INSERT INTO archive SELECT * FROM events", 0},
    {"select-star", "SELECT u.id FROM users u", 0},
    /* order-by-random */
    {"order-by-random", "SELECT id FROM t ORDER BY random() LIMIT 1", 1},
    {"order-by-random", "SELECT id FROM t ORDER BY pg_catalog.random()", 1},
    {"order-by-random", "SELECT id FROM (SELECT id FROM t ORDER BY random() LIMIT 5) s", 1},
    {"order-by-random", "SELECT id FROM t ORDER BY id", 0},
    {"order-by-random", "SELECT random() FROM t ORDER BY 1", 0},
    {"order-by-random", "SELECT string_agg(x, ',' ORDER BY random()) FROM t", 0},
    {"order-by-random", "SELECT id FROM t ORDER BY myschema.random()", 0},
    /* update-without-where */
    {"update-without-where", "UPDATE accounts SET balance = 0", 1},
    {"update-without-where", "UPDATE a SET x = b.x FROM b", 1},
    {"update-without-where", "WITH d AS (UPDATE t SET f = 1 RETURNING id) SELECT count(*) FROM d",
     1},
    {"update-without-where", "UPDATE accounts SET balance = 0 WHERE id = 1", 0},
    {"update-without-where", "UPDATE accounts SET balance = 0 WHERE CURRENT OF c", 0},
    /* delete-without-where */
    {"delete-without-where", "DELETE FROM sessions", 1},
    {"delete-without-where", "DELETE FROM a USING b", 1},
    {"delete-without-where", "DELETE FROM sessions WHERE expires_at < now()", 0},
    {"delete-without-where", "TRUNCATE sessions", 0},
    /* not-in-subquery */
    {"not-in-subquery", "SELECT id FROM a WHERE id NOT IN (SELECT a_id FROM b)", 1},
    {"not-in-subquery", "SELECT id FROM a WHERE NOT (id IN (SELECT a_id FROM b))", 1},
    {"not-in-subquery", "SELECT id FROM a WHERE id <> ALL (SELECT a_id FROM b)", 1},
    {"not-in-subquery", "SELECT id FROM a WHERE id NOT IN (1, 2, 3)", 0},
    {"not-in-subquery", "SELECT id FROM a WHERE id IN (SELECT a_id FROM b)", 0},
    {"not-in-subquery", "SELECT id FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.a_id = a.id)",
     0},
    {"not-in-subquery", "SELECT id FROM a WHERE id = ANY (SELECT a_id FROM b)", 0},
    /* deep-offset */
    {"deep-offset", "SELECT id FROM t ORDER BY id LIMIT 20 OFFSET 5000", 1},
    {"deep-offset", "SELECT id FROM t ORDER BY id LIMIT 20 OFFSET 1000", 1},
    {"deep-offset", "SELECT id FROM t ORDER BY id LIMIT 20 OFFSET $1", 1},
    {"deep-offset", "SELECT id FROM t ORDER BY id LIMIT 20 OFFSET ($1 - 1) * 20", 1},
    {"deep-offset", "SELECT id FROM t ORDER BY id OFFSET 100 ROWS FETCH FIRST 10 ROWS ONLY", 0},
    {"deep-offset", "SELECT id FROM t ORDER BY id LIMIT 20 OFFSET 999", 0},
    {"deep-offset", "SELECT id FROM t ORDER BY id LIMIT 20", 0},
    /* cartesian-join */
    {"cartesian-join", "SELECT a.x FROM a, b", 1},
    {"cartesian-join", "SELECT a.x FROM a CROSS JOIN b", 1},
    {"cartesian-join", "SELECT a.x FROM a JOIN b ON true", 1},
    {"cartesian-join", "SELECT a.x FROM a, b WHERE a.k = 1 AND b.k = 2", 1},
    {"cartesian-join", "UPDATE a SET x = 1 FROM b WHERE b.flag", 1},
    {"cartesian-join", "DELETE FROM a USING b", 1},
    {"cartesian-join", "SELECT a.x FROM a JOIN b ON a.id = b.a_id", 0},
    {"cartesian-join", "SELECT a.x FROM a, b WHERE a.id = b.a_id", 0},
    {"cartesian-join", "SELECT a.x FROM a JOIN b USING (id)", 0},
    {"cartesian-join", "SELECT a.x FROM a NATURAL JOIN b", 0},
    {"cartesian-join", "SELECT a.x FROM a, b, c WHERE a.id = b.id AND b.id = c.id", 0},
    {"cartesian-join", "SELECT x FROM a, b WHERE x = y", 0},
    {"cartesian-join", "SELECT a.x FROM a, b WHERE a.id = 1 AND b.id = 2", 0},
    {"cartesian-join", "SELECT a.x FROM a, generate_series(1, 3) g", 0},
    {"cartesian-join", "SELECT a.x FROM a, (SELECT max(v) AS m FROM c) s", 0},
    {"cartesian-join", "WITH s AS (SELECT count(*) AS n FROM c) SELECT a.x FROM a, s", 0},
    {"cartesian-join", "SELECT a.x FROM a, LATERAL (SELECT b.y FROM b WHERE b.a = a.id) l", 0},
    {"cartesian-join",
     "SELECT a.x FROM a, b WHERE EXISTS (SELECT 1 FROM c WHERE c.a = a.id AND c.b = b.id)", 0},
    {"cartesian-join", "SELECT a.x FROM a LEFT JOIN b ON b.a_id = a.id", 0},
};

static size_t count_rule(const struct analysis *a, const char *rule)
{
	size_t n = 0;
	for (size_t i = 0; i < a->n_findings; i++)
		n += strcmp(a->findings[i].rule_id, rule) == 0;
	return n;
}

static void test_cases(void **state)
{
	size_t failures = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rule_case *c = &cases[i];
		struct analysis *a = analyze_sql(c->sql, strlen(c->sql), NULL, NULL, NULL);
		assert_non_null(a);
		assert_int_equal(a->status, PARSE_OK);
		size_t got = count_rule(a, c->rule);
		if (got != c->expect) {
			printf("  %s: expected %zu, got %zu: %s\n", c->rule, c->expect, got,
			       c->sql);
			failures++;
		}
		analysis_free(a);
	}
	assert_int_equal(failures, 0);
}

static const struct finding *only_finding(const struct analysis *a, const char *rule)
{
	const struct finding *f = NULL;
	for (size_t i = 0; i < a->n_findings; i++) {
		if (strcmp(a->findings[i].rule_id, rule) == 0) {
			assert_null(f);
			f = &a->findings[i];
		}
	}
	assert_non_null(f);
	return f;
}

static void test_large_in_list_threshold(void **state)
{
	char sql[4096];
	size_t n = (size_t)snprintf(sql, sizeof(sql), "SELECT id FROM t WHERE id IN (");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%d", i ? "," : "", i);
	snprintf(sql + n, sizeof(sql) - n, ")");

	struct analysis *a = analyze_sql(sql, strlen(sql), NULL, NULL, NULL);
	const struct finding *f = only_finding(a, "large-in-list");
	assert_non_null(strstr(f->message, "100 elements"));
	assert_non_null(strstr(f->suggestion, "ANY($1"));
	analysis_free(a);

	/* 99 elements: below the default threshold. */
	n = (size_t)snprintf(sql, sizeof(sql), "SELECT id FROM t WHERE id IN (");
	for (int i = 0; i < 99; i++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%d", i ? "," : "", i);
	snprintf(sql + n, sizeof(sql) - n, ")");
	a = analyze_sql(sql, strlen(sql), NULL, NULL, NULL);
	assert_int_equal(count_rule(a, "large-in-list"), 0);
	analysis_free(a);

	/* The option lowers it; ARRAY[] under ANY counts too. */
	struct rule_config *cfg = rule_config_new();
	char err[128];
	assert_int_equal(rule_config_set(cfg, "large-in-list.threshold", "3", err, sizeof(err)), 0);
	const char *arr = "SELECT id FROM t WHERE id = ANY (ARRAY[1, 2, 3])";
	a = analyze_sql(arr, strlen(arr), NULL, cfg, NULL);
	assert_int_equal(count_rule(a, "large-in-list"), 1);
	analysis_free(a);
	const char *two = "SELECT id FROM t WHERE id IN (1, 2)";
	a = analyze_sql(two, strlen(two), NULL, cfg, NULL);
	assert_int_equal(count_rule(a, "large-in-list"), 0);
	analysis_free(a);
	rule_config_free(cfg);
}

static void test_deep_offset_keyset_suggestion(void **state)
{
	const char *sql =
	    "SELECT id FROM posts ORDER BY created_at DESC, id DESC LIMIT 20 OFFSET 40000";
	struct analysis *a = analyze_sql(sql, strlen(sql), NULL, NULL, NULL);
	const struct finding *f = only_finding(a, "deep-offset");
	assert_non_null(strstr(f->message, "OFFSET 40000"));
	assert_non_null(
	    strstr(f->suggestion, "WHERE (created_at, id) < ($last_created_at, $last_id)"));
	assert_non_null(strstr(f->suggestion, "ORDER BY created_at DESC, id DESC"));
	/* The finding points at the OFFSET value. */
	assert_int_equal(f->offset, (size_t)(strstr(sql, "40000") - sql));
	analysis_free(a);
}

static void test_cartesian_names_relations(void **state)
{
	const char *sql = "SELECT u.id\n  FROM users u, orders o\n WHERE u.active";
	struct analysis *a = analyze_sql(sql, strlen(sql), NULL, NULL, NULL);
	const struct finding *f = only_finding(a, "cartesian-join");
	assert_non_null(strstr(f->message, "u and o"));
	assert_int_equal(f->line, 2);
	assert_int_equal(f->offset, (size_t)(strstr(sql, "orders") - sql));
	analysis_free(a);
}

static void test_delete_suggests_truncate(void **state)
{
	const char *sql = "DELETE FROM sessions";
	struct analysis *a = analyze_sql(sql, strlen(sql), NULL, NULL, NULL);
	const struct finding *f = only_finding(a, "delete-without-where");
	assert_int_equal(f->severity, SEVERITY_WARNING);
	assert_non_null(strstr(f->suggestion, "TRUNCATE sessions"));
	analysis_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_large_in_list_threshold),
	    cmocka_unit_test(test_deep_offset_keyset_suggestion),
	    cmocka_unit_test(test_cartesian_names_relations),
	    cmocka_unit_test(test_delete_suggests_truncate),
	};
	int rc = cmocka_run_group_tests_name("rules_basic", tests, NULL, NULL);
	parse_thread_cleanup();
	return rc;
}
