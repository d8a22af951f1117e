/*
 * test_txn_limits.c - statement pooling refuses transaction blocks; max_client_conn refuses at once
 * with 53300; query_wait_timeout ends a wait with its own error while the holder goes on; pool_mode
 * per database, min_pool_size and max_db_connections.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

/* Client backends on the primary in a transaction (or with an open one), not counting ours. */
static long open_transactions(void)
{
	return txn_primary_long("SELECT count(*) FROM pg_stat_activity WHERE pid <> "
	                        "pg_backend_pid() AND backend_type = 'client backend' AND "
	                        "(state LIKE 'idle in transaction%' OR backend_xid IS NOT NULL)");
}

/* The error a raw client gets for SQL (the first ErrorResponse before ReadyForQuery). */
struct raw_error {
	char code[8];      /* SQLSTATE */
	char severity[16]; /* V field: ERROR, FATAL */
	char message[256]; /* M field */
	bool closed;       /* the connection was closed after it */
};

static bool raw_query_error(int port, const char *sql, struct raw_error *err)
{
	char buf[512];
	size_t used = 0;
	struct harness_msg msg;
	bool got = false;
	int fd = harness_tcp_connect(port);

	memset(err, 0, sizeof(*err));
	if (fd < 0 || !harness_raw_login(fd, "postgres", "postgres", 5000) ||
	    !txn_put_msg(buf, sizeof(buf), &used, 'Q', sql, strlen(sql) + 1) ||
	    !harness_send_all(fd, buf, used)) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	for (;;) {
		int r = harness_read_msg(fd, &msg, 10000);

		if (r == 0)
			err->closed = true;
		if (r != 1)
			break;
		if (msg.type == 'E' && !got) {
			got = true;
			harness_error_field(&msg, 'C', err->code, sizeof(err->code));
			harness_error_field(&msg, 'V', err->severity, sizeof(err->severity));
			harness_error_field(&msg, 'M', err->message, sizeof(err->message));
		}
		free(msg.data);
		if (msg.type == 'Z')
			break;
	}
	close(fd);
	return got;
}

static void test_statement_mode(void **state)
{
	struct harness_pgscope ps;
	struct harness_pgscope_opts opts = {
	    .pool_mode = "statement", .pool_size = 2, .max_client_conn = 20};
	const char *params[1] = {"20"};
	PGconn *conn;
	PGresult *res;
	char value[32];
	struct raw_error err;
	long long deadline;

	if (harness_direct_mode())
		skip();
	assert_true(harness_pgscope_start(&ps, &opts));
	conn = harness_connect(ps.port, NULL);
	assert_non_null(conn);
	/* Single statements: simple, extended, prepared, autocommit writes. */
	assert_true(harness_query_value(conn, "SELECT 'single'", value, sizeof(value)));
	assert_string_equal(value, "single");
	res = PQexecParams(conn, "SELECT $1::int + 1", 1, NULL, params, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "21");
	PQclear(res);
	res = PQprepare(conn, "stmt_mode", "SELECT $1::int * 2", 1, NULL);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	for (int i = 0; i < 3; i++) {
		res = PQexecPrepared(conn, "stmt_mode", 1, params, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		assert_string_equal(PQgetvalue(res, 0, 0), "40");
		PQclear(res);
	}
	assert_true(harness_exec_ok(conn, "SET client_min_messages = warning; "
	                                  "DROP TABLE IF EXISTS txn_stmt_mode; "
	                                  "CREATE TABLE txn_stmt_mode (id int)"));
	assert_true(harness_exec_ok(conn, "INSERT INTO txn_stmt_mode VALUES (1)"));
	/* A transaction block: refused, with the reason. */
	res = PQexec(conn, "BEGIN");
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_non_null(strstr(PQerrorMessage(conn), "not allowed in statement pooling mode"));
	PQclear(res);
	PQfinish(conn);
	/* The same seen on the wire: SQLSTATE 0A000, and the connection ends. */
	assert_true(raw_query_error(ps.port, "BEGIN; SELECT 1", &err));
	assert_string_equal(err.code, "0A000");
	assert_non_null(strstr(err.message, "statement pooling"));
	/* Nothing of the refused transaction stays open on the server. */
	deadline = harness_now_ms() + 3000;
	while (open_transactions() != 0 && harness_now_ms() < deadline)
		harness_sleep_ms(50);
	assert_int_equal(open_transactions(), 0);
	/* The pool goes on serving. */
	conn = harness_connect(ps.port, NULL);
	assert_non_null(conn);
	assert_true(
	    harness_query_value(conn, "SELECT count(*) FROM txn_stmt_mode", value, sizeof(value)));
	assert_string_equal(value, "1");
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
	PQfinish(conn);
	assert_true(harness_pgscope_alive(&ps));
	assert_true(harness_pgscope_stop(&ps));
}

/* A raw client's first answer to its StartupMessage; its SQLSTATE into CODE (6 bytes). */
static char raw_first_answer(int port, char *code, long long *elapsed_ms)
{
	char buf[256];
	size_t len = harness_startup_packet(buf, sizeof(buf), "postgres", "postgres");
	struct harness_msg msg;
	long long start = harness_now_ms();
	int fd = harness_tcp_connect(port);
	char type = 0;

	code[0] = '\0';
	if (fd < 0 || len == 0 || !harness_send_all(fd, buf, len)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (harness_read_msg(fd, &msg, 5000) == 1) {
		type = msg.type;
		if (type == 'E')
			harness_error_field(&msg, 'C', code, 6);
		free(msg.data);
	}
	*elapsed_ms = harness_now_ms() - start;
	close(fd);
	return type;
}

static void test_max_client_conn(void **state)
{
	struct harness_pgscope ps;
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction", .pool_size = 2, .max_client_conn = 5};
	PGconn *conns[5];
	char code[8];
	long long elapsed = 0, deadline;
	char type;

	if (harness_direct_mode())
		skip();
	assert_true(harness_pgscope_start(&ps, &opts));
	for (int i = 0; i < 5; i++) {
		conns[i] = harness_connect(ps.port, NULL);
		assert_non_null(conns[i]);
	}
	/* The sixth: an ErrorResponse 53300 at once, and the connection closed. */
	for (int i = 0; i < 3; i++) {
		type = raw_first_answer(ps.port, code, &elapsed);
		assert_int_equal(type, 'E');
		assert_string_equal(code, "53300");
		assert_true(elapsed < 1000);
	}
	/* Those in are unaffected. */
	for (int i = 0; i < 5; i++)
		assert_true(harness_exec_ok(conns[i], "SELECT 1"));
	/* One leaves: a new client gets in. */
	PQfinish(conns[4]);
	deadline = harness_now_ms() + 3000;
	do {
		harness_sleep_ms(50);
		type = raw_first_answer(ps.port, code, &elapsed);
	} while (type == 'E' && harness_now_ms() < deadline);
	assert_int_equal(type, 'R'); /* AuthenticationOk */
	for (int i = 0; i < 4; i++)
		PQfinish(conns[i]);
	assert_true(harness_pgscope_stop(&ps));
}

static void test_query_wait_timeout(void **state)
{
	struct harness_pgscope ps;
	struct harness_pgscope_opts opts = {.pool_mode = "transaction",
	                                    .pool_size = 1,
	                                    .max_client_conn = 20,
	                                    .extra_main = "query_wait_timeout = 1"};
	PGconn *holder, *waiter, *later;
	PGresult *res;
	char value[32];
	struct raw_error err;
	long long start, waited;

	if (harness_direct_mode())
		skip();
	assert_true(harness_pgscope_start(&ps, &opts));
	holder = harness_connect(ps.port, NULL);
	waiter = harness_connect(ps.port, NULL);
	assert_non_null(holder);
	assert_non_null(waiter);
	assert_true(harness_exec_ok(holder, "BEGIN"));
	assert_true(harness_exec_ok(holder, "SELECT 1"));
	start = harness_now_ms();
	res = PQexec(waiter, "SELECT 'never runs'");
	waited = harness_now_ms() - start;
	printf("the waiting client got its error after %lld ms (query_wait_timeout = 1 s)\n",
	       waited);
	/* libpq reports the FATAL error and the closed connection (the SQLSTATE is checked below).
	 */
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_non_null(strstr(PQerrorMessage(waiter), "query_wait_timeout"));
	PQclear(res);
	assert_true(waited >= 900 && waited < 4000);
	/*
	 * On the wire: FATAL 08006 (connection_failure: the connection is gone, as
	 * drivers and pools should treat it) naming query_wait_timeout, then the close.
	 */
	start = harness_now_ms();
	assert_true(raw_query_error(ps.port, "SELECT 'never runs either'", &err));
	waited = harness_now_ms() - start;
	assert_string_equal(err.code, "08006");
	assert_string_equal(err.severity, "FATAL");
	assert_non_null(strstr(err.message, "query_wait_timeout"));
	assert_true(err.closed);
	assert_true(waited >= 900 && waited < 4000);
	/* The holder's transaction goes on unharmed. */
	assert_true(harness_query_value(holder, "SELECT 'holder fine'", value, sizeof(value)));
	assert_string_equal(value, "holder fine");
	assert_int_equal(PQtransactionStatus(holder), PQTRANS_INTRANS);
	assert_true(harness_exec_ok(holder, "COMMIT"));
	/* Once the server is free a new client is served at once. */
	later = harness_connect(ps.port, NULL);
	assert_non_null(later);
	start = harness_now_ms();
	assert_true(harness_query_value(later, "SELECT 'later'", value, sizeof(value)));
	assert_true(harness_now_ms() - start < 900);
	PQfinish(later);
	PQfinish(waiter);
	PQfinish(holder);
	assert_true(harness_pgscope_stop(&ps));
}

/* Client backends the primary has on database DB. */
static long backends_on(const char *db)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND "
	         "backend_type = 'client backend'",
	         db);
	return txn_primary_long(sql);
}

/* Create database NAME on the primary (dropping an old one). */
static void create_database(const char *name)
{
	PGconn *primary = harness_connect_primary();
	char sql[128];

	assert_non_null(primary);
	assert_true(harness_exec_ok(primary, "SET client_min_messages = warning"));
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	assert_true(harness_exec_ok(primary, sql));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	assert_true(harness_exec_ok(primary, sql));
	PQfinish(primary);
}

/*
 * pool_mode set on a [databases] entry wins over the global one: with a
 * global session mode, the entry's transaction mode refuses SQL PREPARE
 * outside a transaction (session mode runs it), and its clients share servers.
 */
static void test_pool_mode_per_database(void **state)
{
	struct harness_pgscope ps;
	char extra[256];
	struct harness_pgscope_opts opts = {
	    .pool_mode = "session", .pool_size = 1, .max_client_conn = 20, .extra_dbs = extra};
	PGconn *sess, *tx1, *tx2;

	if (harness_direct_mode())
		skip();
	snprintf(extra, sizeof(extra),
	         "txn_over = host=127.0.0.1 port=%d dbname=postgres pool_mode=transaction",
	         harness_cluster()->port);
	assert_true(harness_pgscope_start(&ps, &opts));
	sess = harness_connect(ps.port, NULL);
	tx1 = harness_connect(ps.port, "dbname=txn_over");
	tx2 = harness_connect(ps.port, "dbname=txn_over");
	assert_non_null(sess);
	assert_non_null(tx1);
	assert_non_null(tx2);
	assert_true(harness_exec_ok(sess, "PREPARE over_p AS SELECT 1"));
	assert_true(harness_exec_ok(sess, "DEALLOCATE over_p"));
	assert_true(txn_expect_error(tx1, "PREPARE over_p AS SELECT 1", "0A000", NULL, 0));
	/* Two clients over a pool of one: only transaction mode lets both in turn. */
	assert_int_equal(txn_backend_pid(tx1), txn_backend_pid(tx2));
	PQfinish(sess);
	PQfinish(tx1);
	PQfinish(tx2);
	assert_true(harness_pgscope_stop(&ps));
}

/* min_pool_size: servers are opened before any client asks. */
static void test_min_pool_size(void **state)
{
	struct harness_pgscope ps;
	char extra[256];
	struct harness_pgscope_opts opts = {.pool_mode = "transaction",
	                                    .pool_size = 5,
	                                    .max_client_conn = 20,
	                                    .extra_main = "min_pool_size = 3",
	                                    .extra_dbs = extra};
	long long deadline;
	long n = 0;

	if (harness_direct_mode())
		skip();
	create_database("txn_minpool");
	snprintf(extra, sizeof(extra),
	         "txn_minpool = host=127.0.0.1 port=%d dbname=txn_minpool user=postgres",
	         harness_cluster()->port);
	assert_true(harness_pgscope_start(&ps, &opts));
	deadline = harness_now_ms() + 5000;
	while ((n = backends_on("txn_minpool")) < 3 && harness_now_ms() < deadline)
		harness_sleep_ms(100);
	assert_int_equal(n, 3);
	/* And no more than that while nobody uses them. */
	harness_sleep_ms(300);
	assert_int_equal(backends_on("txn_minpool"), 3);
	assert_true(harness_pgscope_stop(&ps));
}

/* max_db_connections caps the servers of a database below the pool size; a third client waits. */
static void test_max_db_connections(void **state)
{
	struct harness_pgscope ps;
	char extra[256];
	struct harness_pgscope_opts opts = {.pool_mode = "transaction",
	                                    .pool_size = 10,
	                                    .max_client_conn = 20,
	                                    .extra_main = "max_db_connections = 2",
	                                    .extra_dbs = extra};
	PGconn *c[3];
	PGresult *res;
	struct pollfd pfd;

	if (harness_direct_mode())
		skip();
	create_database("txn_maxdb");
	snprintf(extra, sizeof(extra),
	         "txn_maxdb = host=127.0.0.1 port=%d dbname=txn_maxdb user=postgres",
	         harness_cluster()->port);
	assert_true(harness_pgscope_start(&ps, &opts));
	for (int i = 0; i < 3; i++) {
		c[i] = harness_connect(ps.port, "dbname=txn_maxdb");
		assert_non_null(c[i]);
	}
	assert_true(harness_exec_ok(c[0], "BEGIN"));
	assert_true(harness_exec_ok(c[0], "SELECT 1"));
	assert_true(harness_exec_ok(c[1], "BEGIN"));
	assert_true(harness_exec_ok(c[1], "SELECT 1"));
	assert_int_equal(PQsendQuery(c[2], "SELECT 'third'"), 1);
	/* No answer while both servers are held... */
	pfd.fd = PQsocket(c[2]);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 700), 0);
	assert_int_equal(backends_on("txn_maxdb"), 2);
	/* ...and one as soon as a server is free. */
	assert_true(harness_exec_ok(c[0], "COMMIT"));
	res = PQgetResult(c[2]);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "third");
	PQclear(res);
	assert_null(PQgetResult(c[2]));
	assert_true(harness_exec_ok(c[1], "COMMIT"));
	assert_true(backends_on("txn_maxdb") <= 2);
	for (int i = 0; i < 3; i++)
		PQfinish(c[i]);
	assert_true(harness_pgscope_stop(&ps));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_statement_mode),
	    cmocka_unit_test(test_max_client_conn),
	    cmocka_unit_test(test_query_wait_timeout),
	    cmocka_unit_test(test_pool_mode_per_database),
	    cmocka_unit_test(test_min_pool_size),
	    cmocka_unit_test(test_max_db_connections),
	};

	return cmocka_run_group_tests_name("txn_limits", tests, NULL, NULL);
}
