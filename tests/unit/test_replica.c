/* test_replica.c - WAL positions, replica lag and route hints, without a loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pooler/endpoint.h"
#include "pooler/replica.h"
#include "pooler/route.h"

static void test_parse_lsn(void **state)
{
	uint64_t lsn = 0;

	(void)state;
	assert_true(replica_parse_lsn("0/3000060", &lsn));
	assert_int_equal(lsn, 0x3000060);
	assert_true(replica_parse_lsn("16/B374D848", &lsn));
	assert_int_equal(lsn, ((uint64_t)0x16 << 32) | 0xB374D848u);
	assert_false(replica_parse_lsn("", &lsn));
	assert_false(replica_parse_lsn("3000060", &lsn));
	assert_false(replica_parse_lsn("0/30x", &lsn));
}

static void sample(struct endpoint *p, double at, uint64_t lsn)
{
	p->wal.history[p->wal.next].at = at;
	p->wal.history[p->wal.next].lsn = lsn;
	p->wal.next = (p->wal.next + 1) % ENDPOINT_WAL_HISTORY;
}

static void test_lag(void **state)
{
	struct endpoint p;

	(void)state;
	endpoint_init(&p, "127.0.0.1", 5432, ENDPOINT_PRIMARY);
	/* No history: nothing says the replica is behind. */
	assert_true(replica_lag(&p, 0, 100.0) == 0);
	sample(&p, 10.0, 100);
	sample(&p, 11.0, 200);
	sample(&p, 12.0, 300);
	/* Caught up with the newest position seen. */
	assert_true(replica_lag(&p, 300, 12.5) == 0);
	assert_true(replica_lag(&p, 400, 12.5) == 0);
	/* Behind since the primary was at 200 (11.0), the first position not replayed. */
	assert_true(replica_lag(&p, 150, 12.5) == 1.5);
	/* Behind everything: at least since the oldest sample kept. */
	assert_true(replica_lag(&p, 50, 13.0) == 3.0);
	/* The ring keeps the newest samples. */
	for (int i = 0; i < ENDPOINT_WAL_HISTORY; i++)
		sample(&p, 20.0 + i, 1000 + (uint64_t)i);
	assert_true(replica_lag(&p, 50, 40.0) == 20.0);
}

static void test_text_hint(void **state)
{
	const char *a = "/* pgscope:route=primary */ SELECT 1";
	const char *b = "SELECT 1 -- pgscope:route=Replica";
	const char *c = "SELECT 'pgscope:route=' || x";
	const char *d = "SELECT 1 /* pgscope:route=prim";

	(void)state;
	assert_int_equal(route_text_hint(a, strlen(a)), ROUTE_HINT_PRIMARY);
	assert_int_equal(route_text_hint(b, strlen(b)), ROUTE_HINT_REPLICA);
	assert_int_equal(route_text_hint(c, strlen(c)), ROUTE_HINT_AUTO);
	assert_int_equal(route_text_hint(d, strlen(d)), ROUTE_HINT_AUTO);
	assert_int_equal(route_text_hint(a, 5), ROUTE_HINT_AUTO); /* bounded by the length */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_lsn),
	    cmocka_unit_test(test_lag),
	    cmocka_unit_test(test_text_hint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
