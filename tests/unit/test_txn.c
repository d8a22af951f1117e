/* test_txn.c - a client's transaction state: what the server owes, ids, timing and writes. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pooler/txn.h"

/* A simple Query: owed until its ReadyForQuery; one transaction id per autocommit query. */
static void test_query_until_ready(void **state)
{
	struct txn t;

	txn_init(&t);
	assert_true(txn_settled(&t));
	assert_true(txn_request(&t, 'Q', 10.0, 0));
	assert_int_equal(t.id, 1);
	assert_false(txn_settled(&t));
	txn_ready(&t, 'I', 10.5);
	assert_true(txn_settled(&t));
	assert_true(txn_request(&t, 'Q', 11.0, 0));
	assert_int_equal(t.id, 2);
}

/* A Query and a FunctionCall in one write: two ReadyForQuery messages are owed. */
static void test_query_then_function_call(void **state)
{
	struct txn t;

	txn_init(&t);
	txn_request(&t, 'Q', 1.0, 0);
	assert_false(txn_request(&t, 'F', 1.0, 1));
	assert_int_equal(t.ready_due, 2);
	txn_ready(&t, 'I', 2.0);
	assert_false(txn_settled(&t)); /* the function's answer is still owed */
	txn_ready(&t, 'I', 3.0);
	assert_true(txn_settled(&t));
}

/* Parse/Bind/Execute without Sync: owed until the Sync's ReadyForQuery. */
static void test_unsynced_batch(void **state)
{
	struct txn t;

	txn_init(&t);
	txn_request(&t, 'Q', 1.0, 0);
	txn_ready(&t, 'I', 1.1);
	assert_false(txn_request(&t, 'P', 2.0, 0));
	assert_false(txn_request(&t, 'B', 2.0, 0));
	assert_true(txn_request(&t, 'E', 2.0, 0)); /* Execute starts the transaction */
	assert_true(txn_request(&t, 'H', 2.0, 1) == false);
	assert_int_equal(t.ready_due, 0);
	assert_false(txn_settled(&t));
	txn_request(&t, 'S', 3.0, 1);
	assert_false(txn_settled(&t));
	txn_ready(&t, 'I', 4.0);
	assert_true(txn_settled(&t));
}

/* Inside a block, statements keep the block's id; the status follows ReadyForQuery. */
static void test_block_keeps_id(void **state)
{
	struct txn t;

	txn_init(&t);
	assert_true(txn_request(&t, 'Q', 1.0, 0));
	txn_ready(&t, 'T', 1.1);
	assert_true(txn_in_block(&t));
	assert_false(txn_request(&t, 'Q', 2.0, 0));
	txn_ready(&t, 'E', 2.1);
	assert_true(txn_in_block(&t));
	assert_false(txn_request(&t, 'Q', 3.0, 0));
	txn_ready(&t, 'I', 3.1);
	assert_false(txn_in_block(&t));
	assert_int_equal(t.id, 1);
	assert_true(txn_request(&t, 'Q', 4.0, 0));
	assert_int_equal(t.id, 2);
}

/* The oldest unanswered request's age: from its send, then from the previous answer. */
static void test_oldest_age(void **state)
{
	struct txn t;

	txn_init(&t);
	assert_true(txn_oldest_age(&t, 5.0) == 0);
	txn_request(&t, 'Q', 10.0, 0);
	txn_request(&t, 'Q', 11.0, 1);
	assert_true(txn_oldest_age(&t, 12.0) == 2.0);
	txn_ready(&t, 'I', 13.0);
	assert_true(txn_oldest_age(&t, 14.0) == 1.0);
	txn_ready(&t, 'I', 15.0);
	assert_true(txn_oldest_age(&t, 20.0) == 0);
}

/* Writes are noted per transaction and forgotten when the next one starts. */
static void test_wrote(void **state)
{
	struct txn t;

	txn_init(&t);
	txn_request(&t, 'Q', 1.0, 0);
	txn_command_complete(&t, "SELECT 3");
	assert_false(t.wrote);
	txn_command_complete(&t, "INSERT 0 1");
	assert_true(t.wrote);
	txn_ready(&t, 'I', 2.0);
	txn_request(&t, 'Q', 3.0, 0);
	assert_false(t.wrote);
	assert_true(txn_tag_writes("UPDATE 7"));
	assert_true(txn_tag_writes("CREATE TABLE"));
	assert_true(txn_tag_writes("COPY 5"));
	assert_false(txn_tag_writes("SELECT 1"));
	assert_false(txn_tag_writes("INSERTED"));
	assert_false(txn_tag_writes(""));
}

/* A client whose server went away owes nothing to the next one. */
static void test_unlink(void **state)
{
	struct txn t;

	txn_init(&t);
	txn_request(&t, 'Q', 1.0, 0);
	txn_request(&t, 'P', 1.0, 1);
	txn_unlink(&t);
	assert_true(txn_settled(&t));
	assert_true(txn_oldest_age(&t, 9.0) == 0);
	assert_int_equal(t.id, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query_until_ready),
	    cmocka_unit_test(test_query_then_function_call),
	    cmocka_unit_test(test_unsynced_batch),
	    cmocka_unit_test(test_block_keeps_id),
	    cmocka_unit_test(test_oldest_age),
	    cmocka_unit_test(test_wrote),
	    cmocka_unit_test(test_unlink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
