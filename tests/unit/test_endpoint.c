/*
 * test_endpoint.c - server addresses: shared per address, failures counted by kind, and
 * the circuit breaker driven by outage failures with the time passed in.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pooler/endpoint.h"
#include "pooler/log.h"

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

static const struct breaker_params params = {
    .failures = 3, .backoff = 1.0, .backoff_max = 4.0, .probe_timeout = 10.0, .retry = 0.05};

/* An outage failure as pool_server_failed() records it. */
static void outage(struct endpoint *ep, double now)
{
	endpoint_failed(ep, ENDPOINT_FAIL_CONNECT, "08001", "connection refused", now);
	endpoint_breaker_failure(ep, &params, now);
}

/* Below the threshold it stays closed and lets connections through; at it, it opens. */
static void test_breaker_opens_at_threshold(void **state)
{
	struct endpoint ep;

	endpoint_init(&ep, "127.0.0.1", 6000, ENDPOINT_PRIMARY);
	assert_int_equal(ep.breaker.state, BREAKER_CLOSED);
	outage(&ep, 10.0);
	outage(&ep, 10.1);
	assert_int_equal(ep.breaker.state, BREAKER_CLOSED);
	/* Closed, a failed server is tried again only after params.retry. */
	assert_false(endpoint_breaker_admit(&ep, &params, 10.12));
	assert_true(endpoint_breaker_admit(&ep, &params, 10.2));
	assert_false(endpoint_breaker_refuses(&ep, 10.2));
	outage(&ep, 10.2);
	assert_int_equal(ep.breaker.state, BREAKER_OPEN);
	assert_int_equal(ep.breaker.opened, 1);
	assert_true(ep.breaker.retry_at == 11.2);
	assert_true(endpoint_breaker_refuses(&ep, 10.3));
	assert_false(endpoint_breaker_admit(&ep, &params, 10.3));
	/* Failures of connections begun before it opened leave the backoff alone. */
	outage(&ep, 10.4);
	assert_true(ep.breaker.retry_at == 11.2);
	assert_int_equal(ep.breaker.opened, 1);
}

/* A login that succeeds ends the streak: the count starts again. */
static void test_breaker_streak_reset_by_login(void **state)
{
	struct endpoint ep;

	endpoint_init(&ep, "127.0.0.1", 6000, ENDPOINT_PRIMARY);
	outage(&ep, 1.0);
	outage(&ep, 2.0);
	endpoint_login_ok(&ep, 3.0);
	outage(&ep, 4.0);
	outage(&ep, 5.0);
	assert_int_equal(ep.breaker.state, BREAKER_CLOSED);
	assert_int_equal(ep.breaker.failures, 2);
}

/* After the backoff one probe goes; its failure doubles the backoff up to the maximum. */
static void test_breaker_backoff_doubles_to_max(void **state)
{
	struct endpoint ep;
	double now = 0, expect[] = {1.0, 2.0, 4.0, 4.0, 4.0};

	endpoint_init(&ep, "db1", 5432, ENDPOINT_PRIMARY);
	for (int i = 0; i < params.failures; i++)
		outage(&ep, now);
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		assert_int_equal(ep.breaker.state, BREAKER_OPEN);
		assert_true(ep.breaker.backoff == expect[i]);
		assert_true(ep.breaker.retry_at == now + expect[i]);
		assert_false(endpoint_breaker_admit(&ep, &params, now + expect[i] - 0.01));
		now += expect[i];
		assert_false(endpoint_breaker_refuses(&ep, now));
		assert_true(endpoint_breaker_admit(&ep, &params, now));
		assert_int_equal(ep.breaker.state, BREAKER_HALF_OPEN);
		/* One probe at a time: clients wait for it rather than fail. */
		assert_false(endpoint_breaker_admit(&ep, &params, now + 0.5));
		assert_false(endpoint_breaker_refuses(&ep, now + 0.5));
		outage(&ep, now);
	}
	assert_int_equal(ep.breaker.opened, 6);
}

/* A probe whose login succeeds closes it: connections flow again. */
static void test_breaker_probe_success_closes(void **state)
{
	struct endpoint ep;

	endpoint_init(&ep, "db1", 5432, ENDPOINT_PRIMARY);
	for (int i = 0; i < params.failures; i++)
		outage(&ep, 0.0);
	assert_true(endpoint_breaker_admit(&ep, &params, 1.0));
	endpoint_login_ok(&ep, 1.2);
	assert_int_equal(ep.breaker.state, BREAKER_CLOSED);
	assert_int_equal(ep.breaker.failures, 0);
	assert_true(endpoint_breaker_admit(&ep, &params, 1.3));
	assert_true(endpoint_breaker_admit(&ep, &params, 1.3));
	/* Opening again starts from the first backoff. */
	for (int i = 0; i < params.failures; i++)
		outage(&ep, 2.0);
	assert_true(ep.breaker.backoff == params.backoff);
}

/* A probe that never reports (closed for another reason) does not wedge it half-open. */
static void test_breaker_lost_probe(void **state)
{
	struct endpoint ep;

	endpoint_init(&ep, "db1", 5432, ENDPOINT_PRIMARY);
	for (int i = 0; i < params.failures; i++)
		outage(&ep, 0.0);
	assert_true(endpoint_breaker_admit(&ep, &params, 1.0));
	assert_false(endpoint_breaker_admit(&ep, &params, 10.9));
	assert_true(endpoint_breaker_admit(&ep, &params, 11.0));
	assert_int_equal(ep.breaker.state, BREAKER_HALF_OPEN);
}

/* failures = 0: the breaker never opens. */
static void test_breaker_disabled(void **state)
{
	struct breaker_params off = params;
	struct endpoint ep;

	off.failures = 0;
	endpoint_init(&ep, "db1", 5432, ENDPOINT_PRIMARY);
	for (int i = 0; i < 100; i++) {
		endpoint_failed(&ep, ENDPOINT_FAIL_CONNECT, "08001", "refused", i);
		endpoint_breaker_failure(&ep, &off, i);
	}
	assert_int_equal(ep.breaker.state, BREAKER_CLOSED);
	assert_true(endpoint_breaker_admit(&ep, &off, 99));
}

/* Failures that say the server is down count; one user's bad credentials do not. */
static void test_outage_kinds(void **state)
{
	assert_true(endpoint_failure_is_outage(ENDPOINT_FAIL_CONNECT, "08001"));
	assert_true(endpoint_failure_is_outage(ENDPOINT_FAIL_CONNECT_TIMEOUT, "08006"));
	assert_true(endpoint_failure_is_outage(ENDPOINT_FAIL_LOST_IN_LOGIN, "08006"));
	assert_true(endpoint_failure_is_outage(ENDPOINT_FAIL_LOGIN, "57P03"));
	assert_true(endpoint_failure_is_outage(ENDPOINT_FAIL_LOGIN, "53300"));
	assert_true(endpoint_failure_is_outage(ENDPOINT_FAIL_CHECK, "57P01"));
	assert_false(endpoint_failure_is_outage(ENDPOINT_FAIL_LOGIN, "28P01"));
	assert_false(endpoint_failure_is_outage(ENDPOINT_FAIL_LOGIN, "28000"));
	assert_false(endpoint_failure_is_outage(ENDPOINT_FAIL_LOGIN, "3D000"));
	assert_false(endpoint_failure_is_outage(ENDPOINT_FAIL_CONNECT_QUERY, "42601"));
	assert_false(endpoint_failure_is_outage(ENDPOINT_FAIL_CHECK, "57014"));
}

/* The refusal names the server, its role, the streak, the wait and the last error. */
static void test_breaker_message(void **state)
{
	struct endpoint ep;
	char msg[512];

	endpoint_init(&ep, "10.1.2.3", 5433, ENDPOINT_PRIMARY);
	for (int i = 0; i < params.failures; i++)
		outage(&ep, 0.0);
	endpoint_breaker_message(&ep, 0.25, msg, sizeof(msg));
	assert_non_null(strstr(msg, "10.1.2.3:5433 (primary)"));
	assert_non_null(strstr(msg, "3 connection attempts failed"));
	assert_non_null(strstr(msg, "next attempt in 0.8 s"));
	assert_non_null(strstr(msg, "connection refused"));
	assert_string_equal(endpoint_breaker_state_name(ep.breaker.state), "open");
}

/* The breaker lines of a log file, as "from>to" joined by spaces, into OUT. */
static void breaker_changes(const char *path, char *out, size_t len)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	out[0] = 0;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *to = strstr(line, " state="), *from = strstr(line, " from=");

		if (strstr(line, "event=endpoint.breaker") == NULL || to == NULL || from == NULL)
			continue;
		snprintf(out + strlen(out), len - strlen(out), "%s%.*s>%.*s", out[0] ? " " : "",
		         (int)strcspn(from + 6, " \n"), from + 6, (int)strcspn(to + 7, " \n"),
		         to + 7);
	}
	fclose(f);
}

/* Each change of state is logged once; failures that change nothing log no change. */
static void test_breaker_changes_logged_once(void **state)
{
	char path[] = "/tmp/pgscope-test-endpoint.XXXXXX", changes[256];
	struct endpoint ep;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	assert_true(log_setup(path, false, LOG_DEBUG));
	endpoint_init(&ep, "db1", 5432, ENDPOINT_PRIMARY);
	for (int i = 0; i < params.failures + 2; i++)
		outage(&ep, 0.0); /* opens at the third; the rest change nothing */
	assert_false(endpoint_breaker_admit(&ep, &params, 0.5));
	assert_true(endpoint_breaker_admit(&ep, &params, 1.0));
	outage(&ep, 1.0);
	assert_true(endpoint_breaker_admit(&ep, &params, 3.0));
	endpoint_login_ok(&ep, 3.1);
	endpoint_login_ok(&ep, 3.2);
	log_shutdown();
	breaker_changes(path, changes, sizeof(changes));
	unlink(path);
	assert_string_equal(
	    changes, "closed>open open>half_open half_open>open open>half_open half_open>closed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_endpoint_per_address),
	    cmocka_unit_test(test_failures_by_kind),
	    cmocka_unit_test(test_failure_names),
	    cmocka_unit_test(test_breaker_opens_at_threshold),
	    cmocka_unit_test(test_breaker_streak_reset_by_login),
	    cmocka_unit_test(test_breaker_backoff_doubles_to_max),
	    cmocka_unit_test(test_breaker_probe_success_closes),
	    cmocka_unit_test(test_breaker_lost_probe),
	    cmocka_unit_test(test_breaker_disabled),
	    cmocka_unit_test(test_outage_kinds),
	    cmocka_unit_test(test_breaker_message),
	    cmocka_unit_test(test_breaker_changes_logged_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
