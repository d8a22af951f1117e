/* test_readonly.c - which statement texts may run on a streaming replica. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "analyzer/parse.h"
#include "analyzer/readonly.h"

static enum readonly_class classify(const char *sql, struct readonly_result *r)
{
	struct parse_tree tree;

	assert_int_equal(parse_sql(sql, strlen(sql), 0, &tree, NULL), PARSE_OK);
	readonly_classify(&tree, r);
	parse_tree_release(&tree);
	return r->cls;
}

static void expect(const char *sql, enum readonly_class cls)
{
	struct readonly_result r;

	if (classify(sql, &r) != cls)
		fail_msg("%s: %s, expected %s", sql, readonly_class_name(r.cls),
		         readonly_class_name(cls));
}

static void test_reads(void **state)
{
	(void)state;
	expect("SELECT 1", READONLY_READ);
	expect("SELECT * FROM t WHERE id = $1", READONLY_READ);
	expect("WITH x AS (SELECT 1) SELECT * FROM x", READONLY_READ);
	expect("SELECT a FROM t UNION ALL SELECT b FROM u ORDER BY 1", READONLY_READ);
	expect("VALUES (1), (2)", READONLY_READ);
	expect("TABLE t", READONLY_READ);
	expect("SELECT 1; SELECT 2", READONLY_READ);
	expect("SELECT * FROM t WHERE x IN (SELECT y FROM u)", READONLY_READ);
}

static void test_writes(void **state)
{
	(void)state;
	expect("INSERT INTO t VALUES (1)", READONLY_WRITE);
	expect("UPDATE t SET a = 1", READONLY_WRITE);
	expect("DELETE FROM t", READONLY_WRITE);
	expect("SELECT * FROM t FOR UPDATE", READONLY_WRITE);
	expect("SELECT * FROM t FOR SHARE", READONLY_WRITE);
	expect("SELECT * FROM (SELECT * FROM t FOR UPDATE) s", READONLY_WRITE);
	expect("SELECT * INTO new_t FROM t", READONLY_WRITE);
	expect("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", READONLY_WRITE);
	expect("WITH i AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM i",
	       READONLY_WRITE);
	expect("SELECT 1; INSERT INTO t VALUES (1)", READONLY_WRITE);
	expect("SET search_path = x", READONLY_WRITE);
	expect("SHOW search_path", READONLY_WRITE);
	expect("EXPLAIN ANALYZE SELECT 1", READONLY_WRITE);
	expect("COMMIT", READONLY_WRITE);
	expect("CREATE TABLE t (a int)", READONLY_WRITE);
}

static void test_transactions(void **state)
{
	(void)state;
	expect("BEGIN", READONLY_BEGIN);
	expect("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", READONLY_BEGIN);
	expect("BEGIN READ WRITE", READONLY_BEGIN);
	expect("BEGIN READ ONLY", READONLY_BEGIN_RO);
	expect("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", READONLY_BEGIN_RO);
	expect("BEGIN; SET TRANSACTION READ ONLY; SELECT 1", READONLY_BEGIN_RO);
	expect("BEGIN; SET TRANSACTION READ WRITE", READONLY_BEGIN);
}

static void test_functions(void **state)
{
	struct readonly_result r;

	(void)state;
	assert_int_equal(classify("SELECT nextval('s')", &r), READONLY_READ);
	assert_int_equal(r.n_funcs, 1);
	assert_string_equal(r.funcs[0], "nextval");
	assert_int_equal(
	    classify("SELECT count(*), public.f(x), f(y) FROM t, generate_series(1, 3) g", &r),
	    READONLY_READ);
	assert_int_equal(r.n_funcs, 4);
	assert_string_equal(r.funcs[0], "count");
	assert_string_equal(r.funcs[1], "public.f");
	assert_string_equal(r.funcs[2], "f");
	assert_int_equal(classify("SELECT pg_catalog.now(), now()", &r), READONLY_READ);
	assert_int_equal(r.n_funcs, 1);
	assert_string_equal(r.funcs[0], "now");
	assert_true(readonly_volatile_harmless("pg_is_in_recovery"));
	assert_true(readonly_volatile_harmless("random"));
	assert_false(readonly_volatile_harmless("nextval"));
	assert_false(readonly_volatile_harmless("currval"));
	assert_false(readonly_volatile_harmless("pg_advisory_lock"));
	/* More distinct functions than can be checked: not routed. */
	assert_int_equal(classify("SELECT a1(),a2(),a3(),a4(),a5(),a6(),a7(),a8(),a9(),a10(),"
	                          "a11(),a12(),a13(),a14(),a15(),a16(),a17()",
	                          &r),
	                 READONLY_WRITE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reads),
	    cmocka_unit_test(test_writes),
	    cmocka_unit_test(test_transactions),
	    cmocka_unit_test(test_functions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
