/* test_endpoint.c - server addresses: shared per address, failures counted by kind. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pooler/endpoint.h"

/* Pools that reach the same address share its endpoint; another port is another. */
static void test_one_endpoint_per_address(void **state)
{
	struct list eps;
	struct endpoint *a, *b, *c, *d;

	list_init(&eps);
	a = endpoint_get(&eps, "10.0.0.5", 5432, ENDPOINT_PRIMARY);
	b = endpoint_get(&eps, "10.0.0.5", 5432, ENDPOINT_PRIMARY);
	c = endpoint_get(&eps, "10.0.0.5", 5433, ENDPOINT_PRIMARY);
	d = endpoint_get(&eps, NULL, 5432, ENDPOINT_PRIMARY);
	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, c);
	assert_ptr_not_equal(a, d);
	assert_ptr_equal(d, endpoint_get(&eps, NULL, 5432, ENDPOINT_PRIMARY));
	endpoint_free_all(&eps);
	assert_true(list_empty(&eps));
}

/* Each kind is counted apart; a login that succeeds ends the streak, not the counts. */
static void test_failures_by_kind(void **state)
{
	struct endpoint ep;

	endpoint_init(&ep, "127.0.0.1", 6000, ENDPOINT_PRIMARY);
	endpoint_connecting(&ep, 1.0);
	endpoint_failed(&ep, ENDPOINT_FAIL_CONNECT, "08006", "refused", 1.5);
	endpoint_failed(&ep, ENDPOINT_FAIL_CONNECT_TIMEOUT, "08006", "timeout", 2.0);
	endpoint_failed(&ep, ENDPOINT_FAIL_LOGIN, "28000", "no such role", 3.0);
	endpoint_failed(&ep, ENDPOINT_FAIL_LOGIN, "28P01", "bad password", 4.0);
	assert_int_equal(ep.connects, 1);
	assert_int_equal(ep.failures[ENDPOINT_FAIL_CONNECT], 1);
	assert_int_equal(ep.failures[ENDPOINT_FAIL_CONNECT_TIMEOUT], 1);
	assert_int_equal(ep.failures[ENDPOINT_FAIL_LOGIN], 2);
	assert_int_equal(ep.failures[ENDPOINT_FAIL_LOST_IN_LOGIN], 0);
	assert_int_equal(endpoint_failures_total(&ep), 4);
	assert_int_equal(ep.consecutive_failures, 4);
	assert_true(ep.last_failure == 4.0);
	assert_string_equal(ep.last_sqlstate, "28P01");
	assert_string_equal(ep.last_error, "bad password");
	endpoint_login_ok(&ep, 5.0);
	assert_int_equal(ep.consecutive_failures, 0);
	assert_int_equal(ep.logins, 1);
	assert_true(ep.last_success == 5.0);
	assert_int_equal(endpoint_failures_total(&ep), 4);
}

static void test_failure_names(void **state)
{
	assert_string_equal(endpoint_failure_name(ENDPOINT_FAIL_CONNECT), "connect");
	assert_string_equal(endpoint_failure_name(ENDPOINT_FAIL_CONNECT_TIMEOUT),
	                    "connect_timeout");
	assert_string_equal(endpoint_failure_name(ENDPOINT_FAIL_LOGIN), "login");
	assert_string_equal(endpoint_failure_name(ENDPOINT_FAIL_LOST_IN_LOGIN),
	                    "lost_during_login");
	assert_string_equal(endpoint_failure_name(ENDPOINT_FAIL_CONNECT_QUERY), "connect_query");
	assert_string_equal(endpoint_failure_name(ENDPOINT_FAIL_CHECK), "check");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_endpoint_per_address),
	    cmocka_unit_test(test_failures_by_kind),
	    cmocka_unit_test(test_failure_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
