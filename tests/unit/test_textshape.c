/*
 * test_textshape.c - statement texts that differ only in literal values
 * share a shape; anything that changes what the statement does (a keyword,
 * a function, a LIMIT value, a pgscope hint) gives another; two seeds give
 * independent hashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pooler/textshape.h"

static uint64_t shape(const char *sql, uint64_t seed)
{
	return textshape_hash(sql, strlen(sql), seed);
}

static void test_literals_share_a_shape(void **state)
{
	assert_int_equal(shape("SELECT abalance FROM pgbench_accounts WHERE aid = 17", 0),
	                 shape("SELECT abalance FROM pgbench_accounts WHERE aid = 90210", 0));
	assert_int_equal(shape("SELECT * FROM t WHERE name = 'a' /* app=web */", 0),
	                 shape("SELECT * FROM t WHERE name = 'bcd' /* app=api */", 0));
	assert_int_equal(shape("SELECT nextval('a')", 0), shape("SELECT nextval('b')", 0));
}

static void test_what_it_does_changes_the_shape(void **state)
{
	assert_int_not_equal(shape("SELECT a FROM t WHERE id = 1", 0),
	                     shape("SELECT a FROM t WHERE id = 1 FOR UPDATE", 0));
	assert_int_not_equal(shape("SELECT f(1)", 0), shape("SELECT g(1)", 0));
	assert_int_not_equal(shape("SELECT a FROM t LIMIT 10", 0),
	                     shape("SELECT a FROM t LIMIT 10000", 0));
	assert_int_not_equal(shape("SELECT 1 /* pgscope:route=primary */", 0),
	                     shape("SELECT 1 /* pgscope:route=replica */", 0));
	assert_int_not_equal(shape("SELECT 1", 0), shape("SELECT 1", 0x9e3779b97f4a7c15ull));
	assert_int_equal(shape("SELECT $$x$$", 0), 0); /* dollar quoting: not shared */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_literals_share_a_shape),
	    cmocka_unit_test(test_what_it_does_changes_the_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
