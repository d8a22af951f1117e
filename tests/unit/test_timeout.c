/*
 * test_timeout.c - the pure parts of timeout.c: pgscope:timeout hints kept per
 * prepared statement and applied at Bind, their life of one request, and how
 * limits are written in errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pooler/timeout.h"

/* A message body of two NUL-terminated strings (after an optional leading byte). */
static size_t body2(uint8_t *buf, int lead, const char *a, const char *b)
{
	size_t n = 0;

	if (lead != 0)
		buf[n++] = (uint8_t)lead;
	memcpy(buf + n, a, strlen(a) + 1);
	n += strlen(a) + 1;
	if (b != NULL) {
		memcpy(buf + n, b, strlen(b) + 1);
		n += strlen(b) + 1;
	}
	memset(buf + n, 0, 4); /* parameter counts and the like */
	return n + 4;
}

static void parse(struct client *c, const char *name, const char *sql)
{
	uint8_t buf[512];

	timeout_note_extended(c, 'P', buf, body2(buf, 0, name, sql));
}

/* Bind an unnamed portal to statement NAME; the hint the request gets. */
static int bind(struct client *c, const char *name)
{
	uint8_t buf[512];

	c->qt.hint_ms = -1;
	timeout_note_extended(c, 'B', buf, body2(buf, 0, "", name));
	return c->qt.hint_ms;
}

static void close_statement(struct client *c, const char *name)
{
	uint8_t buf[512];

	timeout_note_extended(c, 'C', buf, body2(buf, 'S', name, NULL));
}

static void test_prepared_statement_hints(void **state)
{
	struct client *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	txn_init(&c->txn);
	timeout_client_init(c);
	assert_int_equal(bind(c, ""), -1);
	/* Named statements keep their hint until closed or parsed again. */
	parse(c, "slow", "SELECT pg_sleep(5) /* pgscope:timeout=10s */");
	parse(c, "fast", "SELECT 1");
	parse(c, "off", "SELECT 1 -- pgscope:timeout=0");
	assert_int_equal(bind(c, "slow"), 10000);
	assert_int_equal(bind(c, "slow"), 10000);
	assert_int_equal(bind(c, "fast"), -1);
	assert_int_equal(bind(c, "off"), 0);
	assert_int_equal(bind(c, "unknown"), -1);
	close_statement(c, "slow");
	assert_int_equal(bind(c, "slow"), -1);
	parse(c, "off", "SELECT 2");
	assert_int_equal(bind(c, "off"), -1);
	/* The unnamed statement: the last Parse decides. */
	parse(c, "", "SELECT 1 /* pgscope:timeout=250ms */");
	assert_int_equal(bind(c, ""), 250);
	parse(c, "", "SELECT 1");
	assert_int_equal(bind(c, ""), -1);
	/* A closed portal is no statement. */
	parse(c, "p", "SELECT 1 /* pgscope:timeout=2s */");
	{
		uint8_t buf[64];

		timeout_note_extended(c, 'C', buf, body2(buf, 'P', "p", NULL));
	}
	assert_int_equal(bind(c, "p"), 2000);
	timeout_client_release(c);
	assert_null(c->qt.stmt_hints);
	free(c);
}

/* A Query's hint lasts until the client is owed nothing more. */
static void test_hint_lasts_one_request(void **state)
{
	static const char sql[] = "SELECT pg_sleep(1) /* pgscope:timeout=3s */";
	struct client *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	txn_init(&c->txn);
	timeout_client_init(c);
	timeout_note_query(c, (const uint8_t *)sql, sizeof(sql));
	txn_request(&c->txn, 'Q', 1.0, 0);
	txn_request(&c->txn, 'Q', 1.0, 0);
	assert_int_equal(c->qt.hint_ms, 3000);
	txn_ready(&c->txn, 'I', 2.0);
	timeout_request_answered(c);
	assert_int_equal(c->qt.hint_ms, 3000); /* the second Query is still owed */
	txn_ready(&c->txn, 'I', 3.0);
	timeout_request_answered(c);
	assert_int_equal(c->qt.hint_ms, -1);
	/* A Query without a hint leaves none. */
	timeout_note_query(c, (const uint8_t *)"SELECT 1", 9);
	assert_int_equal(c->qt.hint_ms, -1);
	free(c);
}

static void test_format(void **state)
{
	char buf[32];

	timeout_format(1000, buf, sizeof(buf));
	assert_string_equal(buf, "1s");
	timeout_format(120000, buf, sizeof(buf));
	assert_string_equal(buf, "120s");
	timeout_format(300, buf, sizeof(buf));
	assert_string_equal(buf, "300ms");
	timeout_format(1500, buf, sizeof(buf));
	assert_string_equal(buf, "1500ms");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prepared_statement_hints),
	    cmocka_unit_test(test_hint_lasts_one_request),
	    cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
