/*
 * test_txn_cancel.c - cancel requests in transaction mode with one server shared by two clients:
 * a late cancel from one client never cancels the other's query; a timely one cancels its own.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

#define ROUNDS_LATE      1000
#define ROUNDS_IN_FLIGHT 100 /* each forwarded cancel costs PostgreSQL tens of ms */

static struct harness_pgscope ps;

static int group_setup(void **state)
{
	/* One server: every query of both clients runs on the same server connection. */
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction", .pool_size = 1, .max_client_conn = 20};

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

/* Send a cancel for CONN's request through pgscope (blocks until the cancel connection closes). */
static void send_cancel(PGconn *conn)
{
	PGcancel *cancel = PQgetCancel(conn);
	char err[256];

	assert_non_null(cancel);
	if (!PQcancel(cancel, err, sizeof(err)))
		fprintf(stderr, "PQcancel: %s\n", err);
	PQfreeCancel(cancel);
}

/* Collect the results of CONN's current query; its SQLSTATE ("" when it succeeded) into OUT. */
static void finish_query(PGconn *conn, char *sqlstate, size_t sqlstatesz)
{
	PGresult *res;

	sqlstate[0] = '\0';
	while ((res = PQgetResult(conn)) != NULL) {
		if (PQresultStatus(res) == PGRES_FATAL_ERROR && sqlstate[0] == '\0')
			snprintf(sqlstate, sqlstatesz, "%s", harness_sqlstate(res));
		PQclear(res);
	}
}

/*
 * A runs SELECT 1 while B's short query waits for the one server; A's cancel
 * goes out right after A's result (the first ROUNDS_LATE rounds) or right
 * after A sent its query (ROUNDS_IN_FLIGHT more, when the server may be
 * finishing A's query and about to take B's). B's query must never be
 * cancelled; A's only when its cancel went out while it was in flight.
 */
static void test_late_cancel_never_hits_other_client(void **state)
{
	PGconn *a = harness_connect(ps.port, NULL), *b = harness_connect(ps.port, NULL);
	int b_cancelled = 0, a_cancelled_late = 0, a_cancelled_timely = 0, errors = 0;
	char sa[8], sb[8];

	if (harness_direct_mode())
		skip(); /* needs two clients on one server */
	assert_non_null(a);
	assert_non_null(b);
	for (int round = 0; round < ROUNDS_LATE + ROUNDS_IN_FLIGHT; round++) {
		bool early = round >= ROUNDS_LATE;

		assert_int_equal(PQsendQuery(a, "SELECT 1"), 1);
		assert_int_equal(PQsendQuery(b, "SELECT pg_sleep(0.005)"), 1);
		if (early)
			send_cancel(a);
		finish_query(a, sa, sizeof(sa));
		if (!early)
			send_cancel(a);
		finish_query(b, sb, sizeof(sb));
		if (strcmp(sb, "57014") == 0)
			b_cancelled++;
		else if (sb[0] != '\0')
			errors++;
		if (strcmp(sa, "57014") == 0)
			*(early ? &a_cancelled_timely : &a_cancelled_late) += 1;
		else if (sa[0] != '\0')
			errors++;
		if (PQstatus(a) != CONNECTION_OK || PQstatus(b) != CONNECTION_OK)
			fail_msg("a connection broke in round %d", round);
	}
	printf("%d rounds with A's cancel after its result, %d with it in flight: B cancelled %d "
	       "times, A cancelled after its result %d times, A cancelled while in flight %d "
	       "times, other errors %d\n",
	       ROUNDS_LATE, ROUNDS_IN_FLIGHT, b_cancelled, a_cancelled_late, a_cancelled_timely,
	       errors);
	assert_int_equal(b_cancelled, 0);
	assert_int_equal(a_cancelled_late, 0);
	assert_int_equal(errors, 0);
	PQfinish(a);
	PQfinish(b);
}

/* A cancel while A's long query runs cancels it (57014); B, waiting for the server, is unharmed. */
static void test_cancel_running_query(void **state)
{
	PGconn *a = harness_connect(ps.port, NULL), *b = harness_connect(ps.port, NULL);
	char sa[8], sb[8], value[16];
	long long start;
	PGresult *res;

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(PQsendQuery(a, "SELECT pg_sleep(10) AS txn_cancel_me"), 1);
	assert_true(harness_wait_running("txn_cancel_me", 5000));
	assert_int_equal(PQsendQuery(b, "SELECT 'b survives'"), 1);
	start = harness_now_ms();
	send_cancel(a);
	finish_query(a, sa, sizeof(sa));
	assert_string_equal(sa, "57014");
	assert_true(harness_now_ms() - start < 3000);
	res = PQgetResult(b);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "b survives");
	PQclear(res);
	finish_query(b, sb, sizeof(sb));
	assert_string_equal(sb, "");
	/* A goes on as usual. */
	assert_true(harness_query_value(a, "SELECT 'a again'", value, sizeof(value)));
	assert_string_equal(value, "a again");
	/* And inside a transaction: the cancel ends the statement, the transaction is failed. */
	assert_true(harness_exec_ok(a, "BEGIN"));
	assert_int_equal(PQsendQuery(a, "SELECT pg_sleep(10) AS txn_cancel_in_tx"), 1);
	assert_true(harness_wait_running("txn_cancel_in_tx", 5000));
	send_cancel(a);
	finish_query(a, sa, sizeof(sa));
	assert_string_equal(sa, "57014");
	assert_int_equal(PQtransactionStatus(a), PQTRANS_INERROR);
	assert_true(harness_exec_ok(a, "ROLLBACK"));
	PQfinish(a);
	PQfinish(b);
}

/*
 * A client that leaves while its statement runs: the backend is cancelled
 * before its server is closed, so the statement does not run on unseen
 * (PostgreSQL notices a closed connection only when it next writes).
 */
static void test_client_gone_cancels_statement(void **state)
{
	PGconn *a = harness_connect(ps.port, NULL);
	PGconn *b;
	char value[16];

	assert_non_null(a);
	assert_int_equal(PQsendQuery(a, "SELECT pg_sleep(60) AS txn_client_gone"), 1);
	assert_true(harness_wait_running("txn_client_gone", 5000));
	PQfinish(a); /* Terminate while the statement runs */
	assert_true(harness_wait_not_running("txn_client_gone", 5000));
	assert_true(harness_pgscope_log_has(&ps, "event=cancel.client_gone"));
	/* The same inside a transaction, with the connection simply dropped. */
	b = harness_connect(ps.port, NULL);
	assert_non_null(b);
	assert_true(harness_exec_ok(b, "BEGIN"));
	assert_int_equal(PQsendQuery(b, "SELECT pg_sleep(60) AS txn_client_dropped"), 1);
	assert_true(harness_wait_running("txn_client_dropped", 5000));
	shutdown(PQsocket(b), SHUT_RDWR);
	assert_true(harness_wait_not_running("txn_client_dropped", 5000));
	PQfinish(b);
	/* The pool goes on. */
	a = harness_connect(ps.port, NULL);
	assert_non_null(a);
	assert_true(harness_query_value(a, "SELECT 'after'", value, sizeof(value)));
	assert_string_equal(value, "after");
	PQfinish(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_late_cancel_never_hits_other_client, check_alive),
	    cmocka_unit_test_teardown(test_cancel_running_query, check_alive),
	    cmocka_unit_test_teardown(test_client_gone_cancels_statement, check_alive),
	};

	return cmocka_run_group_tests_name("txn_cancel", tests, group_setup, group_teardown);
}
