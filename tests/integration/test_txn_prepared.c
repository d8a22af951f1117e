/*
 * test_txn_prepared.c - protocol-level and SQL prepared statements through pgscope in transaction
 * mode: the known traps of other poolers, each its own test, with libpq.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

static struct harness_pgscope ps;

static int group_setup(void **state)
{
	/* Two servers: enough to make a client land on a server that lacks its statement. */
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction", .pool_size = 2, .max_client_conn = 50};

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

static void prepare_ok(PGconn *conn, const char *name, const char *sql, int nparams)
{
	PGresult *res = PQprepare(conn, name, sql, nparams, NULL);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fprintf(stderr, "PQprepare %s failed: %s", name, PQerrorMessage(conn));
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
}

/* Execute statement NAME with one text parameter; its one value must be EXPECT. */
static void exec_prepared_expect(PGconn *conn, const char *name, const char *param,
                                 const char *expect)
{
	const char *params[1] = {param};
	PGresult *res = PQexecPrepared(conn, name, param ? 1 : 0, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "PQexecPrepared %s failed: %s", name, PQerrorMessage(conn));
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(res), 1);
	assert_string_equal(PQgetvalue(res, 0, 0), expect);
	PQclear(res);
}

/*
 * Make the client's next request land on a server other than the one that ran
 * its last one. The caller has H1 hold server X in a transaction while the
 * client prepares, so that the Parse ran on Y (pid PREPARED_ON, read from
 * pg_stat_activity). Now H2 takes Y (the only free one) and H1 lets X go: X is
 * the only server the client can get. Returns Y's pid; H2 holds Y until the
 * caller commits.
 */
static long hold_other_server(PGconn *h1, PGconn *h2, long prepared_on)
{
	long y;

	assert_true(harness_exec_ok(h2, "BEGIN"));
	y = txn_backend_pid(h2);
	assert_true(y > 0);
	assert_int_equal(y, prepared_on);
	assert_true(harness_exec_ok(h1, "COMMIT"));
	return y;
}

/* A Describe of a statement the server it lands on has never seen: the Parse is replayed first. */
static void test_describe_on_other_server(void **state)
{
	PGconn *a = connect_pgscope(), *h1 = connect_pgscope(), *h2 = connect_pgscope();
	PGresult *res;
	long x, y, now_on;

	if (harness_direct_mode())
		skip(); /* needs a pool of two servers */

	assert_true(harness_exec_ok(h1, "BEGIN"));
	x = txn_backend_pid(h1);
	assert_true(x > 0);
	/* Server X is held: the Parse runs on Y. */
	prepare_ok(a, "desc_stmt", "SELECT $1::int + 1 AS plus_one, 'x'::text AS label", 1);
	y = hold_other_server(h1, h2,
	                      txn_primary_long("SELECT pid FROM pg_stat_activity WHERE "
	                                       "query LIKE 'SELECT $1::int + 1 AS plus_one%'"));
	assert_true(y != x);
	/* Only X is free now, and desc_stmt was never prepared there. */
	res = PQdescribePrepared(a, "desc_stmt");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fprintf(stderr, "PQdescribePrepared failed: %s", PQerrorMessage(a));
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	assert_int_equal(PQnparams(res), 1);
	assert_int_equal(PQparamtype(res, 0), 23); /* int4 */
	assert_int_equal(PQnfields(res), 2);
	assert_string_equal(PQfname(res, 0), "plus_one");
	assert_int_equal(PQftype(res, 0), 23);
	assert_string_equal(PQfname(res, 1), "label");
	assert_int_equal(PQftype(res, 1), 25); /* text */
	PQclear(res);
	exec_prepared_expect(a, "desc_stmt", "41", "42");
	now_on = txn_backend_pid(a);
	assert_int_equal(now_on, x);
	assert_true(harness_exec_ok(h2, "COMMIT"));
	/* And back on Y, where it was prepared first. */
	exec_prepared_expect(a, "desc_stmt", "1", "2");
	PQfinish(a);
	PQfinish(h1);
	PQfinish(h2);
}

/* Bind of a statement on a server that lacks it, inside a pipeline with Describe before it. */
static void test_pipeline_describe_bind_other_server(void **state)
{
	PGconn *a = connect_pgscope(), *h1 = connect_pgscope(), *h2 = connect_pgscope();
	const char *params[1] = {"7"};
	PGresult *res;
	long x, y;

	if (harness_direct_mode())
		skip(); /* needs a pool of two servers */

	assert_true(harness_exec_ok(h1, "BEGIN"));
	x = txn_backend_pid(h1);
	prepare_ok(a, "pipe_stmt", "SELECT $1::int * 6 AS pipe_times_six", 1);
	y = hold_other_server(h1, h2,
	                      txn_primary_long("SELECT pid FROM pg_stat_activity WHERE "
	                                       "query LIKE 'SELECT $1::int * 6 AS pipe%'"));
	assert_true(x != y);
	assert_int_equal(PQenterPipelineMode(a), 1);
	assert_int_equal(PQsendDescribePrepared(a, "pipe_stmt"), 1);
	assert_int_equal(PQsendQueryPrepared(a, "pipe_stmt", 1, params, NULL, NULL, 0), 1);
	assert_int_equal(PQpipelineSync(a), 1);
	res = PQgetResult(a);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	assert_int_equal(PQnparams(res), 1);
	assert_string_equal(PQfname(res, 0), "pipe_times_six");
	PQclear(res);
	assert_null(PQgetResult(a));
	res = PQgetResult(a);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fprintf(stderr, "pipelined execute failed: %s", PQerrorMessage(a));
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "42");
	PQclear(res);
	assert_null(PQgetResult(a));
	res = PQgetResult(a);
	assert_int_equal(PQresultStatus(res), PGRES_PIPELINE_SYNC);
	PQclear(res);
	assert_int_equal(PQexitPipelineMode(a), 1);
	assert_true(harness_exec_ok(h2, "COMMIT"));
	PQfinish(a);
	PQfinish(h1);
	PQfinish(h2);
}

/* A Parse that fails leaves no name behind: Describe says 26000, re-prepare works. */
static void test_failed_parse_leaves_no_name(void **state)
{
	PGconn *a = connect_pgscope();
	PGresult *res = PQprepare(a, "bad_stmt", "SELEC 1", 0, NULL);

	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(harness_sqlstate(res), "42601");
	PQclear(res);
	for (int i = 0; i < 3; i++) {
		res = PQdescribePrepared(a, "bad_stmt");
		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		assert_string_equal(harness_sqlstate(res), "26000");
		PQclear(res);
	}
	res = PQexecPrepared(a, "bad_stmt", 0, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(harness_sqlstate(res), "26000");
	PQclear(res);
	prepare_ok(a, "bad_stmt", "SELECT 'fixed'::text", 0);
	for (int i = 0; i < 4; i++)
		exec_prepared_expect(a, "bad_stmt", NULL, "fixed");
	/* A failure inside a transaction (wrong type) leaves nothing either. */
	assert_true(harness_exec_ok(a, "BEGIN"));
	res = PQprepare(a, "bad_type", "SELECT 1 FROM no_such_table_txn", 0, NULL);
	assert_string_equal(harness_sqlstate(res), "42P01");
	PQclear(res);
	assert_true(harness_exec_ok(a, "ROLLBACK"));
	prepare_ok(a, "bad_type", "SELECT 'second'::text", 0);
	exec_prepared_expect(a, "bad_type", NULL, "second");
	PQfinish(a);
}

/* The unnamed statement prepared in one pipeline is used after its Sync, on another server. */
static void test_unnamed_statement_across_sync(void **state)
{
	PGconn *a = connect_pgscope(), *h1 = connect_pgscope(), *h2 = connect_pgscope();
	const char *params[1] = {"21"};
	PGresult *res;

	if (harness_direct_mode())
		skip(); /* needs a pool of two servers */

	assert_true(harness_exec_ok(h1, "BEGIN"));
	assert_int_equal(PQenterPipelineMode(a), 1);
	assert_int_equal(PQsendPrepare(a, "", "SELECT $1::int * 2 AS unnamed_double", 1, NULL), 1);
	assert_int_equal(PQpipelineSync(a), 1);
	res = PQgetResult(a);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_null(PQgetResult(a));
	res = PQgetResult(a);
	assert_int_equal(PQresultStatus(res), PGRES_PIPELINE_SYNC);
	PQclear(res);
	hold_other_server(h1, h2,
	                  txn_primary_long("SELECT pid FROM pg_stat_activity WHERE "
	                                   "query LIKE 'SELECT $1::int * 2 AS unnamed%'"));
	/* Now on the other server: Bind/Describe/Execute of the unnamed statement. */
	for (int round = 0; round < 2; round++) {
		assert_int_equal(PQsendQueryPrepared(a, "", 1, params, NULL, NULL, 0), 1);
		assert_int_equal(PQpipelineSync(a), 1);
		res = PQgetResult(a);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			fprintf(stderr, "unnamed statement after Sync: %s", PQerrorMessage(a));
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		assert_string_equal(PQgetvalue(res, 0, 0), "42");
		PQclear(res);
		assert_null(PQgetResult(a));
		res = PQgetResult(a);
		assert_int_equal(PQresultStatus(res), PGRES_PIPELINE_SYNC);
		PQclear(res);
		if (round == 0)
			assert_true(harness_exec_ok(h2, "COMMIT"));
	}
	assert_int_equal(PQexitPipelineMode(a), 1);
	PQfinish(a);
	PQfinish(h1);
	PQfinish(h2);
}

/* Raw protocol: append a Parse/Bind/Execute/Sync piece by piece. */
static void put_cstr(char *body, size_t *n, const char *s)
{
	size_t len = strlen(s) + 1;

	memcpy(body + *n, s, len);
	*n += len;
}

static void put_u16(char *body, size_t *n, uint16_t v)
{
	uint16_t be = htons(v);

	memcpy(body + *n, &be, 2);
	*n += 2;
}

static void put_u32(char *body, size_t *n, uint32_t v)
{
	uint32_t be = htonl(v);

	memcpy(body + *n, &be, 4);
	*n += 4;
}

/* Read messages until ReadyForQuery; count DataRows; return the 'Z' status (or 0 on error). */
static char read_until_ready(int fd, int *rows, bool *suspended, char *first_error_code)
{
	struct harness_msg msg;

	*rows = 0;
	*suspended = false;
	first_error_code[0] = '\0';
	for (;;) {
		char status;

		if (harness_read_msg(fd, &msg, 5000) != 1) {
			fprintf(
			    stderr,
			    "raw client: connection closed or timed out before ReadyForQuery\n");
			return 0;
		}
		if (msg.type == 'E') {
			char text[256] = "";

			harness_error_field(&msg, 'M', text, sizeof(text));
			fprintf(stderr, "raw client: ErrorResponse: %s\n", text);
		}
		if (msg.type == 'D')
			(*rows)++;
		if (msg.type == 's')
			*suspended = true;
		if (msg.type == 'E' && first_error_code[0] == '\0')
			harness_error_field(&msg, 'C', first_error_code, 6);
		status = msg.type == 'Z' && msg.len > 0 ? msg.data[0] : 0;
		free(msg.data);
		if (status != 0)
			return status;
	}
}

/*
 * The unnamed portal across Sync inside a transaction: Execute with a row
 * limit suspends it; a later Execute (after a Sync) continues it.
 */
static void test_unnamed_portal_across_sync(void **state)
{
	char buf[1024], body[512], err[8];
	size_t used = 0, n;
	int fd = harness_tcp_connect(ps.port), rows;
	bool suspended;

	assert_true(fd >= 0);
	assert_true(harness_raw_login(fd, "postgres", "postgres", 5000));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'Q', "BEGIN", 6));
	assert_true(harness_send_all(fd, buf, used));
	assert_int_equal(read_until_ready(fd, &rows, &suspended, err), 'T');
	used = 0;
	n = 0;
	put_cstr(body, &n, "");
	put_cstr(body, &n, "SELECT g FROM generate_series(1, 5) g");
	put_u16(body, &n, 0);
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'P', body, n));
	n = 0;
	put_cstr(body, &n, "");
	put_cstr(body, &n, "");
	put_u16(body, &n, 0);
	put_u16(body, &n, 0);
	put_u16(body, &n, 0);
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'B', body, n));
	n = 0;
	put_cstr(body, &n, "");
	put_u32(body, &n, 2);
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'E', body, n));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'S', NULL, 0));
	assert_true(harness_send_all(fd, buf, used));
	/* The first two rows and PortalSuspended. */
	assert_int_equal(read_until_ready(fd, &rows, &suspended, err), 'T');
	assert_string_equal(err, "");
	assert_int_equal(rows, 2);
	assert_true(suspended);
	/* The same unnamed portal after the Sync: the other three rows. */
	used = 0;
	n = 0;
	put_cstr(body, &n, "");
	put_u32(body, &n, 0);
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'E', body, n));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'S', NULL, 0));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'Q', "COMMIT", 7));
	assert_true(harness_send_all(fd, buf, used));
	assert_int_equal(read_until_ready(fd, &rows, &suspended, err), 'T');
	assert_string_equal(err, "");
	assert_int_equal(rows, 3);
	assert_false(suspended);
	assert_int_equal(read_until_ready(fd, &rows, &suspended, err), 'I');
	close(fd);
}

/* The same client name re-Parsed (different or same text) fails with 42P05; the first stays. */
static void test_reparse_same_name(void **state)
{
	PGconn *a = connect_pgscope(), *b = connect_pgscope();
	PGresult *res;

	prepare_ok(a, "dup_stmt", "SELECT 'first'::text", 0);
	res = PQprepare(a, "dup_stmt", "SELECT 'second'::text", 0, NULL);
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(harness_sqlstate(res), "42P05");
	PQclear(res);
	res = PQprepare(a, "dup_stmt", "SELECT 'first'::text", 0, NULL);
	assert_string_equal(harness_sqlstate(res), "42P05");
	PQclear(res);
	exec_prepared_expect(a, "dup_stmt", NULL, "first");
	/* Names are per client: another client may use the same name for other text. */
	prepare_ok(b, "dup_stmt", "SELECT 'other client'::text", 0);
	exec_prepared_expect(b, "dup_stmt", NULL, "other client");
	exec_prepared_expect(a, "dup_stmt", NULL, "first");
	PQfinish(a);
	PQfinish(b);
}

/* SQL DEALLOCATE of protocol-level names, one and ALL; the names can be reused afterwards. */
static void test_sql_deallocate(void **state)
{
	PGconn *a = connect_pgscope();
	PGresult *res;

	prepare_ok(a, "dealloc_one", "SELECT 1", 0);
	prepare_ok(a, "dealloc_two", "SELECT 2", 0);
	prepare_ok(a, "dealloc_three", "SELECT 3", 0);
	assert_true(harness_exec_ok(a, "DEALLOCATE dealloc_one"));
	res = PQexecPrepared(a, "dealloc_one", 0, NULL, NULL, NULL, 0);
	assert_string_equal(harness_sqlstate(res), "26000");
	PQclear(res);
	exec_prepared_expect(a, "dealloc_two", NULL, "2");
	assert_true(txn_expect_error(a, "DEALLOCATE dealloc_one", "26000", NULL, 0));
	assert_true(harness_exec_ok(a, "DEALLOCATE ALL"));
	res = PQexecPrepared(a, "dealloc_two", 0, NULL, NULL, NULL, 0);
	assert_string_equal(harness_sqlstate(res), "26000");
	PQclear(res);
	res = PQdescribePrepared(a, "dealloc_three");
	assert_string_equal(harness_sqlstate(res), "26000");
	PQclear(res);
	prepare_ok(a, "dealloc_two", "SELECT 'again'::text", 0);
	exec_prepared_expect(a, "dealloc_two", NULL, "again");
	PQfinish(a);
}

/* SQL DEALLOCATE sent with the extended protocol (as psycopg 3 sends its own): like PostgreSQL. */
static void test_extended_deallocate(void **state)
{
	PGconn *a = connect_pgscope();
	PGresult *res;
	char msg[256];

	prepare_ok(a, "xdealloc_one", "SELECT 'x1'::text", 0);
	prepare_ok(a, "xdealloc_two", "SELECT 'x2'::text", 0);
	res = PQexecParams(a, "DEALLOCATE xdealloc_one", 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fprintf(stderr, "extended DEALLOCATE failed: %s", PQerrorMessage(a));
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdStatus(res), "DEALLOCATE");
	PQclear(res);
	res = PQexecPrepared(a, "xdealloc_one", 0, NULL, NULL, NULL, 0);
	assert_string_equal(harness_sqlstate(res), "26000");
	PQclear(res);
	exec_prepared_expect(a, "xdealloc_two", NULL, "x2");
	/* A name the client does not have: PostgreSQL's own error, once. */
	res = PQexecParams(a, "DEALLOCATE PREPARE xdealloc_one", 0, NULL, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(harness_sqlstate(res), "26000");
	assert_string_equal(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
	                    "prepared statement \"xdealloc_one\" does not exist");
	PQclear(res);
	/* The same as a simple Query (answered by pgscope). */
	assert_true(txn_expect_error(a, "DEALLOCATE \"Xdealloc_One\"", "26000", msg, sizeof(msg)));
	assert_string_equal(msg, "prepared statement \"Xdealloc_One\" does not exist");
	/* Inside a transaction too, and the name can be prepared again afterwards. */
	assert_true(harness_exec_ok(a, "BEGIN"));
	res = PQexecParams(a, "DEALLOCATE xdealloc_two", 0, NULL, NULL, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_true(harness_exec_ok(a, "COMMIT"));
	prepare_ok(a, "xdealloc_two", "SELECT 'x2 again'::text", 0);
	exec_prepared_expect(a, "xdealloc_two", NULL, "x2 again");
	/* A DEALLOCATE parsed but never executed does not get in the way of the next one. */
	prepare_ok(a, "xdealloc_three", "SELECT 'x3'::text", 0);
	prepare_ok(a, "", "DEALLOCATE xdealloc_three", 0);
	res = PQexecParams(a, "DEALLOCATE xdealloc_two", 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fprintf(stderr, "extended DEALLOCATE failed: %s", PQerrorMessage(a));
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(a);
}

/* The next pipeline result must have STATUS (and, for rows, the one value EXPECT). */
static void pipeline_expect(PGconn *conn, ExecStatusType status, const char *expect)
{
	PGresult *res = PQgetResult(conn);

	assert_non_null(res);
	if (PQresultStatus(res) != status)
		fprintf(stderr, "pipeline: expected %s, got %s: %s", PQresStatus(status),
		        PQresStatus(PQresultStatus(res)), PQresultErrorMessage(res));
	assert_int_equal(PQresultStatus(res), status);
	if (expect != NULL)
		assert_string_equal(PQgetvalue(res, 0, 0), expect);
	PQclear(res);
	if (status != PGRES_PIPELINE_SYNC)
		assert_null(PQgetResult(conn)); /* the end of this query's results */
}

/*
 * DEALLOCATE ALL (extended protocol, as psycopg 3 sends it) followed in the
 * same pipeline by a Parse and a Bind of a new name: the new statement comes
 * after what dropped them all and must stay.
 */
static void test_pipelined_deallocate_all(void **state)
{
	PGconn *a = connect_pgscope();
	const char *param[1] = {"5"};

	prepare_ok(a, "pdall_old", "SELECT 'old'::text", 0);
	assert_int_equal(PQenterPipelineMode(a), 1);
	assert_int_equal(PQsendQueryParams(a, "DEALLOCATE ALL", 0, NULL, NULL, NULL, NULL, 0), 1);
	assert_int_equal(PQsendPrepare(a, "pdall_new", "SELECT $1::int * 3", 1, NULL), 1);
	assert_int_equal(PQsendQueryPrepared(a, "pdall_new", 1, param, NULL, NULL, 0), 1);
	assert_int_equal(PQpipelineSync(a), 1);
	pipeline_expect(a, PGRES_COMMAND_OK, NULL);
	pipeline_expect(a, PGRES_COMMAND_OK, NULL);
	pipeline_expect(a, PGRES_TUPLES_OK, "15");
	pipeline_expect(a, PGRES_PIPELINE_SYNC, NULL);
	assert_int_equal(PQexitPipelineMode(a), 1);
	exec_prepared_expect(a, "pdall_new", "7", "21");
	{
		PGresult *res = PQexecPrepared(a, "pdall_old", 0, NULL, NULL, NULL, 0);

		assert_string_equal(harness_sqlstate(res), "26000");
		PQclear(res);
	}
	PQfinish(a);
}

/* SQL PREPARE/EXECUTE outside a transaction: refused with 0A000 and the reason; inside: works. */
static void test_sql_prepare(void **state)
{
	PGconn *a = connect_pgscope();
	char msg[512], value[32];

	if (harness_direct_mode())
		skip();
	assert_true(txn_expect_error(a, "PREPARE sqlp AS SELECT 1", "0A000", msg, sizeof(msg)));
	assert_non_null(strstr(msg, "transaction"));
	assert_true(txn_expect_error(a, "EXECUTE sqlp", "0A000", msg, sizeof(msg)));
	assert_true(harness_exec_ok(a, "BEGIN"));
	assert_true(harness_exec_ok(a, "PREPARE sqlp(int) AS SELECT $1 * 3"));
	assert_true(harness_query_value(a, "EXECUTE sqlp(14)", value, sizeof(value)));
	assert_string_equal(value, "42");
	assert_true(harness_exec_ok(a, "DEALLOCATE sqlp"));
	assert_true(harness_exec_ok(a, "COMMIT"));
	/* The connection still works. */
	assert_true(harness_query_value(a, "SELECT 5", value, sizeof(value)));
	assert_string_equal(value, "5");
	PQfinish(a);
}

/*
 * max_prepared_statements = 2 with five statements in turn from two clients:
 * every execution returns its own statement's result (evicted ones are
 * prepared again) and no server ever holds more than two.
 */
static void test_lru_eviction(void **state)
{
	struct harness_pgscope small;
	struct harness_pgscope_opts opts = {.pool_mode = "transaction",
	                                    .pool_size = 2,
	                                    .max_client_conn = 20,
	                                    .extra_main = "max_prepared_statements = 2"};
	PGconn *c[2];
	char name[32], sql[96], param[16], expect[16], value[32];

	if (harness_direct_mode())
		skip();
	assert_true(harness_pgscope_start(&small, &opts));
	for (int k = 0; k < 2; k++) {
		c[k] = harness_connect(small.port, NULL);
		assert_non_null(c[k]);
		for (int i = 0; i < 5; i++) {
			snprintf(name, sizeof(name), "lru_%d", i);
			snprintf(sql, sizeof(sql), "SELECT $1::int + %d AS lru_%d_%d", i * 100, k,
			         i);
			prepare_ok(c[k], name, sql, 1);
		}
	}
	for (int round = 0; round < 60; round++) {
		int k = round % 2, i = (round * 3 + round / 2) % 5;

		snprintf(name, sizeof(name), "lru_%d", i);
		snprintf(param, sizeof(param), "%d", round);
		snprintf(expect, sizeof(expect), "%d", round + i * 100);
		exec_prepared_expect(c[k], name, param, expect);
	}
	/* Inside a transaction the client sees its server's own prepared statements. */
	for (int k = 0; k < 2; k++) {
		assert_true(harness_exec_ok(c[k], "BEGIN"));
		assert_true(harness_query_value(c[k], "SELECT count(*) FROM pg_prepared_statements",
		                                value, sizeof(value)));
		assert_true(atoi(value) <= 2);
		assert_true(harness_exec_ok(c[k], "COMMIT"));
	}
	PQfinish(c[0]);
	PQfinish(c[1]);
	assert_true(harness_pgscope_stop(&small));
}

/* A pgscope with one server connection: every client lands on the same server. */
static void start_single_server(struct harness_pgscope *one)
{
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction", .pool_size = 1, .max_client_conn = 20};

	assert_true(harness_pgscope_start(one, &opts));
}

static void primary_exec(const char *sql)
{
	PGconn *primary = harness_connect_primary();

	assert_non_null(primary);
	assert_true(harness_exec_ok(primary, sql));
	PQfinish(primary);
}

/*
 * psycopg 3 with prepare_threshold=0 and a cache of two statements, four
 * clients on one server: its cache evicts after almost every execution and
 * sends DEALLOCATE through the extended protocol. No error, exact results.
 */
static void test_psycopg_evicting_cache(void **state)
{
	struct harness_pgscope one;
	char port[16];
	const char *argv[] = {"/usr/bin/python3",
	                      "tests/integration/drivers/psycopg_evict_workload.py",
	                      "127.0.0.1",
	                      port,
	                      "postgres",
	                      "4",
	                      "30",
	                      NULL};

	start_single_server(&one);
	snprintf(port, sizeof(port), "%d", one.port);
	assert_true(harness_run_driver(argv, "psycopg", 120));
	assert_true(harness_pgscope_stop(&one));
}

/* Run SQL and expect it to fail with SQLSTATE (any message). */
static void exec_fails(PGconn *conn, const char *sql, const char *sqlstate)
{
	assert_true(txn_expect_error(conn, sql, sqlstate, NULL, 0));
}

/*
 * A statement prepared in a transaction that rolls back, using a type created
 * in that transaction, outlives the type on the server. Prepared again (same
 * text, type created again) it must work: for the same client after
 * DEALLOCATE ALL, and for another client on the same server, after a ROLLBACK,
 * after an aborted transaction and after a failed pipeline.
 */
static void test_rollback_with_new_type(void **state)
{
	struct harness_pgscope one;
	PGconn *a, *b;

	primary_exec("DROP TYPE IF EXISTS rb_type1, rb_type2, rb_type3, rb_type4");
	start_single_server(&one);
	a = harness_connect(one.port, NULL);
	b = harness_connect(one.port, NULL);
	assert_non_null(a);
	assert_non_null(b);

	assert_true(harness_exec_ok(a, "BEGIN"));
	assert_true(harness_exec_ok(a, "CREATE TYPE rb_type1 AS (x int)"));
	prepare_ok(a, "rb1", "SELECT ($1::rb_type1).x", 1);
	exec_prepared_expect(a, "rb1", "(7)", "7");
	assert_true(harness_exec_ok(a, "ROLLBACK"));
	assert_true(harness_exec_ok(a, "DEALLOCATE ALL"));
	assert_true(harness_exec_ok(a, "CREATE TYPE rb_type1 AS (x int)"));
	prepare_ok(a, "rb1", "SELECT ($1::rb_type1).x", 1);
	exec_prepared_expect(a, "rb1", "(8)", "8");

	assert_true(harness_exec_ok(a, "BEGIN"));
	assert_true(harness_exec_ok(a, "CREATE TYPE rb_type2 AS (y int)"));
	prepare_ok(a, "rb2", "SELECT ($1::rb_type2).y", 1);
	assert_true(harness_exec_ok(a, "ROLLBACK"));
	assert_true(harness_exec_ok(b, "CREATE TYPE rb_type2 AS (y int)"));
	prepare_ok(b, "other2", "SELECT ($1::rb_type2).y", 1);
	exec_prepared_expect(b, "other2", "(9)", "9");

	assert_true(harness_exec_ok(a, "BEGIN"));
	assert_true(harness_exec_ok(a, "CREATE TYPE rb_type3 AS (z int)"));
	prepare_ok(a, "rb3", "SELECT ($1::rb_type3).z", 1);
	exec_fails(a, "SELECT 1/0", "22012");
	assert_true(harness_exec_ok(a, "ROLLBACK"));
	assert_true(harness_exec_ok(b, "CREATE TYPE rb_type3 AS (z int)"));
	prepare_ok(b, "other3", "SELECT ($1::rb_type3).z", 1);
	exec_prepared_expect(b, "other3", "(10)", "10");

	/* An implicit transaction (one pipeline up to its Sync) that fails. */
	assert_int_equal(PQenterPipelineMode(a), 1);
	assert_int_equal(
	    PQsendQueryParams(a, "CREATE TYPE rb_type4 AS (w int)", 0, NULL, NULL, NULL, NULL, 0),
	    1);
	assert_int_equal(PQsendPrepare(a, "rb4", "SELECT ($1::rb_type4).w", 1, NULL), 1);
	assert_int_equal(PQsendQueryParams(a, "SELECT 1/0", 0, NULL, NULL, NULL, NULL, 0), 1);
	assert_int_equal(PQpipelineSync(a), 1);
	pipeline_expect(a, PGRES_COMMAND_OK, NULL);
	pipeline_expect(a, PGRES_COMMAND_OK, NULL);
	pipeline_expect(a, PGRES_FATAL_ERROR, NULL);
	pipeline_expect(a, PGRES_PIPELINE_SYNC, NULL);
	assert_int_equal(PQexitPipelineMode(a), 1);
	assert_true(harness_exec_ok(b, "CREATE TYPE rb_type4 AS (w int)"));
	prepare_ok(b, "other4", "SELECT ($1::rb_type4).w", 1);
	exec_prepared_expect(b, "other4", "(11)", "11");

	PQfinish(a);
	PQfinish(b);
	assert_true(harness_pgscope_stop(&one));
	primary_exec("DROP TYPE rb_type1, rb_type2, rb_type3, rb_type4");
}

/*
 * "cached plan must not change result type": after the table changed, the
 * same text prepared again (by the client after DEALLOCATE, or by another
 * client) must be planned anew, not fail forever.
 */
static void test_changed_result_type(void **state)
{
	struct harness_pgscope one;
	PGconn *a, *b;

	primary_exec("DROP TABLE IF EXISTS rt_tab; CREATE TABLE rt_tab (a int); "
	             "INSERT INTO rt_tab VALUES (1)");
	start_single_server(&one);
	a = harness_connect(one.port, NULL);
	b = harness_connect(one.port, NULL);
	assert_non_null(a);
	assert_non_null(b);
	prepare_ok(a, "rt", "SELECT * FROM rt_tab", 0);
	exec_prepared_expect(a, "rt", NULL, "1");
	primary_exec("ALTER TABLE rt_tab ADD COLUMN b int");
	{
		PGresult *res = PQexecPrepared(a, "rt", 0, NULL, NULL, NULL, 0);

		assert_string_equal(harness_sqlstate(res), "0A000");
		PQclear(res);
	}
	assert_true(harness_exec_ok(a, "DEALLOCATE rt"));
	prepare_ok(a, "rt", "SELECT * FROM rt_tab", 0);
	exec_prepared_expect(a, "rt", NULL, "1");
	prepare_ok(b, "rt_b", "SELECT * FROM rt_tab", 0);
	exec_prepared_expect(b, "rt_b", NULL, "1");
	PQfinish(a);
	PQfinish(b);
	assert_true(harness_pgscope_stop(&one));
	primary_exec("DROP TABLE rt_tab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_describe_on_other_server, check_alive),
	    cmocka_unit_test_teardown(test_pipeline_describe_bind_other_server, check_alive),
	    cmocka_unit_test_teardown(test_failed_parse_leaves_no_name, check_alive),
	    cmocka_unit_test_teardown(test_unnamed_statement_across_sync, check_alive),
	    cmocka_unit_test_teardown(test_unnamed_portal_across_sync, check_alive),
	    cmocka_unit_test_teardown(test_reparse_same_name, check_alive),
	    cmocka_unit_test_teardown(test_sql_deallocate, check_alive),
	    cmocka_unit_test_teardown(test_extended_deallocate, check_alive),
	    cmocka_unit_test_teardown(test_pipelined_deallocate_all, check_alive),
	    cmocka_unit_test_teardown(test_sql_prepare, check_alive),
	    cmocka_unit_test_teardown(test_lru_eviction, check_alive),
	    cmocka_unit_test_teardown(test_psycopg_evicting_cache, check_alive),
	    cmocka_unit_test_teardown(test_rollback_with_new_type, check_alive),
	    cmocka_unit_test_teardown(test_changed_result_type, check_alive),
	};

	return cmocka_run_group_tests_name("txn_prepared", tests, group_setup, group_teardown);
}
