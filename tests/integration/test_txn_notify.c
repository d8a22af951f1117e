/*
 * test_txn_notify.c - LISTEN/NOTIFY through pgscope in transaction mode: notifications reach every
 * subscribed client with their payload, only between the listener's transactions; UNLISTEN and
 * disconnect clean up.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

static struct harness_pgscope ps;

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction", .pool_size = 3, .max_client_conn = 50};

	return harness_pgscope_start(&ps, &opts) ? 0 : -1;
}

static int group_teardown(void **state)
{
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

static int check_alive(void **state)
{
	return harness_pgscope_alive(&ps) ? 0 : -1;
}

static PGconn *connect_pgscope(void)
{
	PGconn *conn = harness_connect(ps.port, NULL);

	assert_non_null(conn);
	return conn;
}

/* CONN receives a notification on CHANNEL with PAYLOAD within two seconds. */
static void expect_notify(PGconn *conn, const char *channel, const char *payload)
{
	PGnotify *n = harness_wait_notify(conn, 2000);

	if (n == NULL)
		fail_msg("no notification \"%s\" on %s within 2 s", payload, channel);
	assert_string_equal(n->relname, channel);
	assert_string_equal(n->extra, payload);
	PQfreemem(n);
}

/* CONN receives nothing within MS milliseconds. */
static void expect_no_notify(PGconn *conn, int ms)
{
	PGnotify *n = harness_wait_notify(conn, ms);

	if (n != NULL) {
		fprintf(stderr, "unexpected notification on %s: \"%s\"\n", n->relname, n->extra);
		PQfreemem(n);
		fail();
	}
}

/* Two listeners, a third client notifies: both get it with its payload; UNLISTEN stops one. */
static void test_two_listeners(void **state)
{
	PGconn *l1 = connect_pgscope(), *l2 = connect_pgscope(), *n = connect_pgscope();

	assert_true(harness_exec_ok(l1, "LISTEN txn_chan"));
	assert_true(harness_exec_ok(l2, "LISTEN txn_chan"));
	assert_true(harness_exec_ok(n, "NOTIFY txn_chan, 'first payload'"));
	expect_notify(l1, "txn_chan", "first payload");
	expect_notify(l2, "txn_chan", "first payload");
	/* pg_notify() inside a transaction: delivered once, at commit. */
	assert_true(harness_exec_ok(n, "BEGIN"));
	assert_true(harness_exec_ok(n, "SELECT pg_notify('txn_chan', 'from a transaction')"));
	expect_no_notify(l1, 300);
	assert_true(harness_exec_ok(n, "COMMIT"));
	expect_notify(l1, "txn_chan", "from a transaction");
	expect_notify(l2, "txn_chan", "from a transaction");
	/* After UNLISTEN only l2 hears. */
	assert_true(harness_exec_ok(l1, "UNLISTEN txn_chan"));
	assert_true(harness_exec_ok(n, "NOTIFY txn_chan, 'second payload'"));
	expect_notify(l2, "txn_chan", "second payload");
	expect_no_notify(l1, 500);
	/* The listeners' own queries still work between notifications. */
	assert_true(harness_exec_ok(l1, "SELECT 1"));
	assert_true(harness_exec_ok(l2, "SELECT 1"));
	assert_true(harness_exec_ok(l2, "UNLISTEN *"));
	PQfinish(l1);
	PQfinish(l2);
	PQfinish(n);
}

/* A notification that arrives while the listener is in a transaction waits until it ends. */
static void test_delivered_between_transactions(void **state)
{
	PGconn *l = connect_pgscope(), *n = connect_pgscope();

	assert_true(harness_exec_ok(l, "LISTEN txn_wait_chan"));
	assert_true(harness_exec_ok(l, "BEGIN"));
	assert_true(harness_exec_ok(l, "SELECT 1"));
	assert_true(harness_exec_ok(n, "NOTIFY txn_wait_chan, 'after commit'"));
	expect_no_notify(l, 500);
	assert_true(harness_exec_ok(l, "SELECT 2"));
	expect_no_notify(l, 200);
	assert_true(harness_exec_ok(l, "COMMIT"));
	expect_notify(l, "txn_wait_chan", "after commit");
	assert_true(harness_exec_ok(l, "UNLISTEN txn_wait_chan"));
	PQfinish(l);
	PQfinish(n);
}

/* Channels are separate; a listener that disconnects stops nothing for the others. */
static void test_channels_and_disconnect(void **state)
{
	PGconn *a = connect_pgscope(), *b = connect_pgscope(), *gone = connect_pgscope(),
	       *n = connect_pgscope();

	assert_true(harness_exec_ok(a, "LISTEN txn_chan_a"));
	assert_true(harness_exec_ok(b, "LISTEN txn_chan_b"));
	assert_true(harness_exec_ok(gone, "LISTEN txn_chan_a"));
	assert_true(harness_exec_ok(gone, "LISTEN txn_chan_b"));
	PQfinish(gone);
	assert_true(harness_exec_ok(n, "NOTIFY txn_chan_a, 'for a'"));
	assert_true(harness_exec_ok(n, "NOTIFY txn_chan_b, 'for b'"));
	expect_notify(a, "txn_chan_a", "for a");
	expect_notify(b, "txn_chan_b", "for b");
	expect_no_notify(a, 300);
	expect_no_notify(b, 100);
	/* A new listener after the disconnect is served. */
	gone = connect_pgscope();
	assert_true(harness_exec_ok(gone, "LISTEN txn_chan_b"));
	assert_true(harness_exec_ok(n, "NOTIFY txn_chan_b, 'again'"));
	expect_notify(b, "txn_chan_b", "again");
	expect_notify(gone, "txn_chan_b", "again");
	PQfinish(a);
	PQfinish(b);
	PQfinish(gone);
	PQfinish(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_two_listeners, check_alive),
	    cmocka_unit_test_teardown(test_delivered_between_transactions, check_alive),
	    cmocka_unit_test_teardown(test_channels_and_disconnect, check_alive),
	};

	return cmocka_run_group_tests_name("txn_notify", tests, group_setup, group_teardown);
}
