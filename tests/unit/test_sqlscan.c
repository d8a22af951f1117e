/*
 * test_sqlscan.c - the pooler's SQL scanner: statement boundaries, the SET/RESET forms that change
 * a session's identity or search_path, and the words that mark session state a pooled client
 * cannot keep (set_config, advisory locks, temporary tables, WITH HOLD cursors).
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pooler/params.h"
#include "pooler/sqlscan.h"

static char name[PARAMS_NAME_MAX], value[PARAMS_VALUE_MAX];

static enum sqlscan_set_kind scan(const char *sql)
{
	name[0] = value[0] = 0;
	return sqlscan_set(sql, strlen(sql), name, sizeof(name), value, sizeof(value));
}

static void expect_set(const char *sql, const char *want_name, const char *want_value)
{
	assert_int_equal(scan(sql), SQLSCAN_SET);
	assert_string_equal(name, want_name);
	assert_string_equal(value, want_value);
}

static void expect_reset(const char *sql, const char *want_name)
{
	assert_int_equal(scan(sql), SQLSCAN_RESET);
	assert_string_equal(name, want_name);
}

static void test_role(void **state)
{
	expect_set("SET ROLE alice", "role", "alice");
	expect_set("set role Alice", "role", "alice"); /* folded, as the server does */
	expect_set("SET ROLE \"Alice\"", "role", "Alice");
	expect_set("SET ROLE 'Alice';", "role", "Alice");
	expect_set("SET ROLE TO alice", "role", "alice");
	expect_set("SET ROLE = 'alice'", "role", "alice");
	expect_set("SET SESSION ROLE alice", "role", "alice");
	expect_set("SET role TO BOB", "role", "bob");
	expect_set("SET ROLE to_x", "role", "to_x");
	expect_set("SET ROLE NONE", "role", "none");
	expect_reset("RESET ROLE", "role");
	expect_reset("SET role TO DEFAULT", "role");
	assert_int_equal(scan("SET LOCAL ROLE alice"), SQLSCAN_SET_SCOPED);
	assert_int_equal(scan("SET ROLE alice bob"), SQLSCAN_UNTRACKED);
}

static void test_session_authorization(void **state)
{
	expect_set("SET SESSION AUTHORIZATION bob", "session_authorization", "bob");
	expect_set("SET SESSION AUTHORIZATION 'Bob'", "session_authorization", "Bob");
	expect_set("SET SESSION SESSION AUTHORIZATION bob", "session_authorization", "bob");
	expect_set("set session_authorization = Bob", "session_authorization", "bob");
	expect_reset("SET SESSION AUTHORIZATION DEFAULT", "session_authorization");
	expect_reset("RESET SESSION AUTHORIZATION;", "session_authorization");
	assert_int_equal(scan("RESET SESSION"), SQLSCAN_UNTRACKED);
	assert_int_equal(scan("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"),
	                 SQLSCAN_UNTRACKED);
}

static void test_other_forms(void **state)
{
	expect_set("SET SCHEMA 'sales'", "search_path", "sales");
	expect_set("SET SCHEMA 'Sales Q1'", "search_path", "\"Sales Q1\"");
	expect_set("SET SCHEMA 'a\"b'", "search_path", "\"a\"\"b\"");
	assert_int_equal(scan("SET SCHEMA sales"), SQLSCAN_UNTRACKED); /* a literal is required */
	expect_set("SET app.user_id = '42'", "app.user_id", "42");
	expect_reset("RESET app.user_id", "app.user_id");
	assert_int_equal(scan("SET TIME ZONE 'UTC'"), SQLSCAN_SET_SCOPED);
	assert_int_equal(scan("SET NAMES 'UTF8'"), SQLSCAN_SET_SCOPED);
	assert_int_equal(scan("SET CONSTRAINTS ALL DEFERRED"), SQLSCAN_NOT_SET);
	assert_int_equal(scan("SET search_path TO 'a', 'b'"), SQLSCAN_UNTRACKED);
	assert_int_equal(scan("SET"), SQLSCAN_UNTRACKED);
	assert_int_equal(scan("RESET"), SQLSCAN_UNTRACKED);
	assert_int_equal(scan("SELECT 1"), SQLSCAN_NOT_SET);
	assert_int_equal(scan("settle"), SQLSCAN_NOT_SET);
}

/* Split TEXT into statements; the starts (after blanks) go into OUT, their count returned. */
static int split(const char *text, const char *out[], int max)
{
	const char *s = text, *end = text + strlen(text);
	int n = 0;

	while (s < end && n < max) {
		const char *e = sqlscan_statement_end(s, end, NULL);

		assert_true(e > s && e <= end);
		out[n++] = sqlscan_skip_space(s, e);
		s = e;
	}
	return n;
}

static void test_statement_end(void **state)
{
	const char *st[8];

	assert_int_equal(split("SET a = 1; SELECT 1", st, 8), 2);
	assert_true(strncmp(st[1], "SELECT 1", 8) == 0);
	assert_int_equal(
	    split("SELECT ';', \";\", $$;$$, $x$ $$; $x$, E'\\';', /* ; /* ; */ ; */ 1;"
	          " -- ;\nSET b = 2",
	          st, 8),
	    2);
	assert_true(strncmp(st[1], "SET b = 2", 9) == 0);
	assert_int_equal(scan(st[1]), SQLSCAN_SET);
	assert_int_equal(split("SELECT $1; SELECT a$b; x", st, 8), 3);
	assert_int_equal(split("SELECT 'open", st, 8), 1); /* unterminated: to the end */
	assert_int_equal(split("SELECT $tag$ open", st, 8), 1);
	/* The server stops at a NUL, and so does the scanner. */
	{
		static const char nul[] = "SELECT 1\0; SET a = 1";
		const char *e = sqlscan_statement_end(nul, nul + sizeof(nul) - 1, NULL);

		assert_ptr_equal(e, nul + 8);
	}
}

static unsigned fx(const char *sql)
{
	return sqlscan_session_features(sql, strlen(sql));
}

static void test_session_features(void **state)
{
	assert_int_equal(fx("SELECT set_config('role', 'x', false)"), SQLSCAN_FX_SET_CONFIG);
	assert_int_equal(fx("SELECT pg_catalog.SET_CONFIG('a.b', f(1, 2), $1)"),
	                 SQLSCAN_FX_SET_CONFIG);
	assert_int_equal(fx("SELECT set_config('a.b', f(1, 2), true)"), 0);
	assert_int_equal(fx("SELECT set_config('a.b', 'x', 'on')"), 0);
	assert_int_equal(fx("SELECT set_config"), 0); /* a column, not a call */
	assert_int_equal(fx("SELECT 'set_config(''role'', ''x'', false)'"), 0);
	assert_int_equal(fx("SELECT pg_advisory_lock(1)"), SQLSCAN_FX_ADVISORY_LOCK);
	assert_int_equal(fx("SELECT pg_try_advisory_lock_shared(1, 2)"), SQLSCAN_FX_ADVISORY_LOCK);
	assert_int_equal(fx("SELECT pg_advisory_xact_lock(1)"), 0);
	assert_int_equal(fx("CREATE TEMP TABLE t (a int)"), SQLSCAN_FX_TEMP_TABLE);
	assert_int_equal(fx("create global temporary table t (a int)"), SQLSCAN_FX_TEMP_TABLE);
	assert_int_equal(fx("SELECT 1 INTO TEMP t"), SQLSCAN_FX_TEMP_TABLE);
	assert_int_equal(fx("CREATE TEMP TABLE t (a int) ON COMMIT DROP"), 0);
	assert_int_equal(fx("SELECT temp FROM t"), 0);
	assert_int_equal(fx("DECLARE c CURSOR WITH HOLD FOR SELECT 1"), SQLSCAN_FX_WITH_HOLD);
	assert_int_equal(fx("DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1"), 0);
	assert_int_equal(fx("/* pg_advisory_lock(1) */ SELECT $$ WITH HOLD $$"), 0);
}

/* The byte pre-filter lets through every text the scanner could act on, and little else. */
static void test_may_touch_session(void **state)
{
	static const char *const yes[] = {
	    "SET work_mem = '1MB'",
	    "reset all",
	    "SELECT 1; sEt role x",
	    "SELECT set_config('a.b', '1', false)",
	    "SELECT pg_advisory_lock(1)",
	    "CREATE TEMP TABLE t (a int)",
	    "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
	    "SET SESSION AUTHORIZATION u",
	    /* A superset: these pass the filter and the scanner then finds nothing. */
	    "UPDATE t SET a = 1",
	    "SELECT 'offset'",
	};
	static const char *const no[] = {
	    "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
	    "INSERT INTO t VALUES (1)",
	    "BEGIN",
	    "COMMIT",
	    "",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(sqlscan_may_touch_session(yes[i], strlen(yes[i])));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(sqlscan_may_touch_session(no[i], strlen(no[i])));
	/* The length bounds the scan: "set" past it is not seen. */
	assert_false(sqlscan_may_touch_session("SELECT 1 set", 8));
}

static int hint(const char *sql)
{
	return sqlscan_timeout_hint(sql, strlen(sql));
}

/* pgscope:timeout comments: units, where they count, and what is no hint. */
static void test_timeout_hint(void **state)
{
	assert_int_equal(hint("/* pgscope:timeout=5s */ SELECT 1"), 5000);
	assert_int_equal(hint("SELECT 1 /* pgscope:timeout=5 */"), 5000);
	assert_int_equal(hint("SELECT 1 -- pgscope:timeout=250ms"), 250);
	assert_int_equal(hint("SELECT 1 -- pgscope:timeout=2min\n"), 120000);
	assert_int_equal(hint("SELECT 1 /*pgscope:timeout=1h*/"), 3600000);
	assert_int_equal(hint("SELECT 1 /* pgscope:timeout=1.5s */"), 1500);
	assert_int_equal(hint("SELECT 1 /* pgscope:timeout=0.25 */"), 250);
	assert_int_equal(hint("SELECT 1 /* pgscope:timeout=0 */"), 0);
	assert_int_equal(hint("SELECT 1 /* pgscope:timeout=10MS */"), 10);
	assert_int_equal(hint("/* note, pgscope:ignore select-star pgscope:timeout=3s */ SELECT *"),
	                 3000);
	assert_int_equal(hint("/* outer /* pgscope:timeout=7s */ still */ SELECT 1"), 7000);
	assert_int_equal(hint("-- first line\nSELECT 1 -- pgscope:timeout=4s"), 4000);
	/* No comment, or not in one. */
	assert_int_equal(hint("SELECT 1"), -1);
	assert_int_equal(hint(""), -1);
	assert_int_equal(hint("SELECT a::int FROM t"), -1);
	assert_int_equal(hint("SELECT 'pgscope:timeout=5s'"), -1);
	assert_int_equal(hint("SELECT E'it''s \\' pgscope:timeout=5s'"), -1);
	assert_int_equal(hint("SELECT \"pgscope:timeout=5s\" FROM t"), -1);
	assert_int_equal(hint("SELECT $$ /* pgscope:timeout=5s */ $$"), -1);
	assert_int_equal(hint("SELECT $q$ -- pgscope:timeout=5s $q$"), -1);
	assert_int_equal(hint("SELECT 1 pgscope:timeout=5s"), -1);
	assert_int_equal(hint("SELECT '/*' /* pgscope:timeout=6s */"), 6000);
	/* Not a time. */
	assert_int_equal(hint("SELECT 1 /* pgscope:timeout=soon */"), -1);
	assert_int_equal(hint("SELECT 1 /* pgscope:timeout=5days */"), -1);
	assert_int_equal(hint("SELECT 1 /* pgscope:timeout=-5 */"), -1);
	assert_int_equal(hint("SELECT 1 /* pgscope:timeout= 5 */"), -1);
	assert_int_equal(hint("SELECT 1 /* pgscope:timeout=99999999999999 */"), -1);
	assert_int_equal(hint("SELECT 1 /* pgscope:timeout=3000000h */"), -1);
	/* The length bounds the scan. */
	assert_int_equal(sqlscan_timeout_hint("SELECT 1 -- pgscope:timeout=5s", 12), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_may_touch_session),     cmocka_unit_test(test_role),
	    cmocka_unit_test(test_session_authorization), cmocka_unit_test(test_other_forms),
	    cmocka_unit_test(test_statement_end),         cmocka_unit_test(test_session_features),
	    cmocka_unit_test(test_timeout_hint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
