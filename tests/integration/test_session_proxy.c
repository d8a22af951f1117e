/*
 * test_session_proxy.c - psql and libpq through pgscope in session mode: queries, errors, state,
 * pipelining.
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
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/integration/harness.h"

static struct harness_pgscope ps;
static char port_str[16];

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {.pool_mode = "session", .with_replica_db = true};

	if (!harness_pgscope_start(&ps, &opts))
		return -1;
	snprintf(port_str, sizeof(port_str), "%d", ps.port);
	return 0;
}

static int group_teardown(void **state)
{
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

/* After every test: pgscope must still be running. */
static int check_alive(void **state)
{
	return harness_pgscope_alive(&ps) ? 0 : -1;
}

static PGconn *connect_pgscope(const char *extra)
{
	PGconn *conn = harness_connect(ps.port, extra);

	assert_non_null(conn);
	return conn;
}

/* psql's \d runs catalog queries through the extended-free simple protocol and must list tables. */
static void test_psql_describe(void **state)
{
	PGconn *conn = connect_pgscope(NULL);
	const char *list[] = {"psql", "-X",       "-h", "127.0.0.1", "-p", port_str,
	                      "-U",   "postgres", "-d", "postgres",  "-v", "ON_ERROR_STOP=1",
	                      "-c",   "\\d",      NULL};
	const char *table[] = {"psql", "-X",
	                       "-h",   "127.0.0.1",
	                       "-p",   port_str,
	                       "-U",   "postgres",
	                       "-d",   "postgres",
	                       "-v",   "ON_ERROR_STOP=1",
	                       "-c",   "\\d it_sp_describe",
	                       NULL};
	struct harness_run_result res;

	assert_true(harness_exec_ok(conn, "DROP TABLE IF EXISTS it_sp_describe; "
	                                  "CREATE TABLE it_sp_describe (id bigint PRIMARY KEY, "
	                                  "label text NOT NULL)"));
	PQfinish(conn);

	assert_true(harness_run(list, NULL, 30, &res));
	if (res.exit_code != 0 || strstr(res.output, "it_sp_describe") == NULL)
		fprintf(stderr, "psql \\d output:\n%s\n", res.output);
	assert_int_equal(res.exit_code, 0);
	assert_non_null(strstr(res.output, "it_sp_describe"));
	harness_run_result_free(&res);

	assert_true(harness_run(table, NULL, 30, &res));
	if (res.exit_code != 0)
		fprintf(stderr, "psql \\d it_sp_describe output:\n%s\n", res.output);
	assert_int_equal(res.exit_code, 0);
	assert_non_null(strstr(res.output, "label"));
	assert_non_null(strstr(res.output, "it_sp_describe_pkey"));
	harness_run_result_free(&res);
}

/* Several statements in one Query message: one result per statement, in order. */
static void test_multi_statement_query(void **state)
{
	PGconn *conn = connect_pgscope(NULL);
	PGresult *res;

	assert_int_equal(PQsendQuery(conn, "SELECT 1 AS a; SELECT 2 AS b, 3 AS c; "
	                                   "CREATE TEMP TABLE it_sp_multi (i int); SELECT 'z'"),
	                 1);
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "1");
	PQclear(res);
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQnfields(res), 2);
	assert_string_equal(PQgetvalue(res, 0, 1), "3");
	PQclear(res);
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdStatus(res), "CREATE TABLE");
	PQclear(res);
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "z");
	PQclear(res);
	assert_null(PQgetResult(conn));

	/* An error stops the rest of the string; the connection stays usable. */
	assert_int_equal(PQsendQuery(conn, "SELECT 1; SELECT 1/0; SELECT 3"), 1);
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(harness_sqlstate(res), "22012");
	PQclear(res);
	assert_null(PQgetResult(conn));
	assert_true(harness_exec_ok(conn, "SELECT 4"));
	PQfinish(conn);
}

/* A failed statement aborts the transaction; ROLLBACK returns to idle and undoes it. */
static void test_error_in_transaction_then_rollback(void **state)
{
	PGconn *conn = connect_pgscope(NULL);
	PGresult *res;
	char value[32];

	assert_true(harness_exec_ok(conn, "DROP TABLE IF EXISTS it_sp_tx; "
	                                  "CREATE TABLE it_sp_tx (i int)"));
	assert_true(harness_exec_ok(conn, "BEGIN"));
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);
	assert_true(harness_exec_ok(conn, "INSERT INTO it_sp_tx VALUES (1)"));
	res = PQexec(conn, "SELECT 1/0");
	assert_string_equal(harness_sqlstate(res), "22012");
	PQclear(res);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_INERROR);
	res = PQexec(conn, "SELECT 1");
	assert_string_equal(harness_sqlstate(res), "25P02");
	PQclear(res);
	res = PQexec(conn, "ROLLBACK");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	assert_string_equal(PQcmdStatus(res), "ROLLBACK");
	PQclear(res);
	assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
	assert_true(
	    harness_query_value(conn, "SELECT count(*) FROM it_sp_tx", value, sizeof(value)));
	assert_string_equal(value, "0");
	PQfinish(conn);
}

/* Every field of a server ErrorResponse reaches the client unchanged. */
static void test_error_fields_intact(void **state)
{
	PGconn *conn = connect_pgscope(NULL);
	PGresult *res;

	res = PQexec(conn, "DO $$BEGIN RAISE EXCEPTION 'custom boom' USING ERRCODE = 'P9X42', "
	                   "DETAIL = 'the detail', HINT = 'the hint'; END$$");
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(harness_sqlstate(res), "P9X42");
	assert_string_equal(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), "custom boom");
	assert_string_equal(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL), "the detail");
	assert_string_equal(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT), "the hint");
	assert_string_equal(PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED), "ERROR");
	PQclear(res);

	res = PQexec(conn, "SELECT 1 FROM pg_class WHERE");
	assert_string_equal(harness_sqlstate(res), "42601");
	assert_string_equal(PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION), "29");
	PQclear(res);

	assert_true(harness_exec_ok(conn, "DROP TABLE IF EXISTS it_sp_uniq; "
	                                  "CREATE TABLE it_sp_uniq (k int CONSTRAINT it_sp_uniq_k "
	                                  "UNIQUE); INSERT INTO it_sp_uniq VALUES (1)"));
	res = PQexec(conn, "INSERT INTO it_sp_uniq VALUES (1)");
	assert_string_equal(harness_sqlstate(res), "23505");
	assert_string_equal(PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME), "it_sp_uniq_k");
	assert_string_equal(PQresultErrorField(res, PG_DIAG_TABLE_NAME), "it_sp_uniq");
	PQclear(res);
	PQfinish(conn);
}

/* ParameterStatus from the server: at startup and after SET; startup parameters pass through. */
static void test_parameter_status(void **state)
{
	PGconn *conn = connect_pgscope("application_name=it_sp_start "
	                               "options='-c search_path=it_sp_schema,public'");
	char value[128];
	const char *v;

	v = PQparameterStatus(conn, "server_version");
	assert_non_null(v);
	assert_memory_equal(v, "15", 2);
	v = PQparameterStatus(conn, "application_name");
	assert_non_null(v);
	assert_string_equal(v, "it_sp_start");
	assert_true(harness_query_value(conn, "SHOW search_path", value, sizeof(value)));
	assert_string_equal(value, "it_sp_schema,public");

	assert_true(harness_exec_ok(conn, "SET application_name = 'it_sp_set'"));
	v = PQparameterStatus(conn, "application_name");
	assert_non_null(v);
	assert_string_equal(v, "it_sp_set");
	assert_true(harness_exec_ok(conn, "SET TimeZone = 'Asia/Tokyo'"));
	assert_string_equal(PQparameterStatus(conn, "TimeZone"), "Asia/Tokyo");
	assert_true(harness_query_value(conn, "SELECT current_setting('application_name')", value,
	                                sizeof(value)));
	assert_string_equal(value, "it_sp_set");
	PQfinish(conn);
}

/* A NoticeResponse is delivered to the client's notice receiver. */
static void notice_receiver(void *arg, const PGresult *res)
{
	char *out = arg;

	snprintf(out, 128, "%s|%s", PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED),
	         PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
}

static void test_notice(void **state)
{
	PGconn *conn = connect_pgscope(NULL);
	char got[128] = "";

	PQsetNoticeReceiver(conn, notice_receiver, got);
	assert_true(harness_exec_ok(conn, "DO $$BEGIN RAISE NOTICE 'hello notice'; END$$"));
	assert_string_equal(got, "NOTICE|hello notice");
	PQfinish(conn);
}

/* Extended protocol one message at a time: named and unnamed statements, binary, NULLs. */
static void test_extended_protocol(void **state)
{
	PGconn *conn = connect_pgscope(NULL);
	const char *params[2] = {"20", NULL};
	int32_t bin;
	PGresult *res;

	res = PQprepare(conn, "it_sp_stmt", "SELECT $1::int * 2, $2::text IS NULL", 2, NULL);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	res = PQdescribePrepared(conn, "it_sp_stmt");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	assert_int_equal(PQnparams(res), 2);
	assert_int_equal(PQnfields(res), 2);
	PQclear(res);
	for (int i = 0; i < 3; i++) {
		res = PQexecPrepared(conn, "it_sp_stmt", 2, params, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		assert_string_equal(PQgetvalue(res, 0, 0), "40");
		assert_string_equal(PQgetvalue(res, 0, 1), "t");
		PQclear(res);
	}
	/* Binary result format. */
	res = PQexecParams(conn, "SELECT $1::int4 + 1", 1, NULL, params, NULL, NULL, 1);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQgetlength(res, 0, 0), 4);
	memcpy(&bin, PQgetvalue(res, 0, 0), 4);
	assert_int_equal((int32_t)__builtin_bswap32((uint32_t)bin), 21);
	PQclear(res);
	/* A Parse error is reported and the statement name stays free. */
	res = PQprepare(conn, "it_sp_bad", "SELEC 1", 0, NULL);
	assert_string_equal(harness_sqlstate(res), "42601");
	PQclear(res);
	res = PQprepare(conn, "it_sp_bad", "SELECT 1", 0, NULL);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(conn);
}

/* libpq pipeline mode: many queries in flight, an error aborting only its own Sync batch. */
static void test_pipeline(void **state)
{
	PGconn *conn = connect_pgscope(NULL);
	const char *one[1] = {"41"};
	PGresult *res;
	char buf[16];

	assert_int_equal(PQenterPipelineMode(conn), 1);
	assert_int_equal(PQsendQueryParams(conn, "SELECT $1::int + 1", 1, NULL, one, NULL, NULL, 0),
	                 1);
	assert_int_equal(PQsendQueryParams(conn, "SELECT 1/0", 0, NULL, NULL, NULL, NULL, 0), 1);
	assert_int_equal(PQsendQueryParams(conn, "SELECT 2", 0, NULL, NULL, NULL, NULL, 0), 1);
	assert_int_equal(PQpipelineSync(conn), 1);
	assert_int_equal(PQsendQueryParams(conn, "SELECT 'after'", 0, NULL, NULL, NULL, NULL, 0),
	                 1);
	assert_int_equal(PQpipelineSync(conn), 1);

	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "42");
	PQclear(res);
	assert_null(PQgetResult(conn));
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(harness_sqlstate(res), "22012");
	PQclear(res);
	assert_null(PQgetResult(conn));
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_PIPELINE_ABORTED);
	PQclear(res);
	assert_null(PQgetResult(conn));
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_PIPELINE_SYNC);
	PQclear(res);
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "after");
	PQclear(res);
	assert_null(PQgetResult(conn));
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_PIPELINE_SYNC);
	PQclear(res);

	/* 500 queries sent before any result is read, then read back in order. */
	for (int i = 0; i < 500; i++) {
		const char *p[1] = {buf};

		snprintf(buf, sizeof(buf), "%d", i);
		assert_int_equal(
		    PQsendQueryParams(conn, "SELECT $1::int", 1, NULL, p, NULL, NULL, 0), 1);
	}
	assert_int_equal(PQpipelineSync(conn), 1);
	for (int i = 0; i < 500; i++) {
		res = PQgetResult(conn);
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		assert_int_equal(atoi(PQgetvalue(res, 0, 0)), i);
		PQclear(res);
		assert_null(PQgetResult(conn));
	}
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_PIPELINE_SYNC);
	PQclear(res);
	assert_int_equal(PQexitPipelineMode(conn), 1);
	assert_true(harness_exec_ok(conn, "SELECT 1"));
	PQfinish(conn);
}

/* Count the server backend PID's rows that are busy or hold a transaction open, or hold a lock. */
static int backend_busy(PGconn *primary, const char *pid)
{
	char sql[512], value[32];

	snprintf(sql, sizeof(sql),
	         "SELECT (SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state IN "
	         "('active', 'idle in transaction', 'idle in transaction (aborted)')) + "
	         "(SELECT count(*) FROM pg_locks WHERE pid = %s AND locktype = 'relation' AND "
	         "relation = 'it_sp_term'::regclass)",
	         pid, pid);
	if (!harness_query_value(primary, sql, value, sizeof(value)))
		return -1;
	return atoi(value);
}

/* Leave a transaction open holding a lock, disconnect, and wait for the server to let go. */
static void disconnect_mid_transaction(bool abrupt)
{
	PGconn *primary = harness_connect_primary();
	PGconn *conn = connect_pgscope(NULL);
	char pid[32];
	long long deadline;
	int busy = -1;

	assert_non_null(primary);
	assert_true(harness_exec_ok(primary, "CREATE TABLE IF NOT EXISTS it_sp_term (i int)"));
	assert_true(harness_query_value(conn, "SELECT pg_backend_pid()", pid, sizeof(pid)));
	assert_true(harness_exec_ok(conn, "BEGIN; LOCK TABLE it_sp_term IN ACCESS EXCLUSIVE MODE"));
	assert_int_equal(backend_busy(primary, pid), 2);
	if (abrupt)
		shutdown(PQsocket(conn), SHUT_RDWR); /* no Terminate message is sent */
	PQfinish(conn);
	deadline = harness_now_ms() + 5000;
	while (harness_now_ms() < deadline) {
		busy = backend_busy(primary, pid);
		if (busy == 0)
			break;
		harness_sleep_ms(50);
	}
	assert_int_equal(busy, 0);
	/* The table is usable by others: no lock left behind. */
	assert_true(harness_exec_ok(primary, "SET lock_timeout = '2s'; "
	                                     "LOCK TABLE it_sp_term IN ACCESS EXCLUSIVE MODE"));
	PQfinish(primary);
}

static void test_terminate_releases_backend(void **state)
{
	disconnect_mid_transaction(false);
}

static void test_client_vanishes_mid_transaction(void **state)
{
	disconnect_mid_transaction(true);
}

/* A [databases] entry pointing at the streaming replica reaches a server in recovery. */
static void test_replica_database(void **state)
{
	PGconn *primary = connect_pgscope(NULL);
	PGconn *replica;
	char value[32] = "";
	long long deadline;

	if (harness_direct_mode()) {
		replica = harness_connect(harness_cluster()->replica_port, NULL);
	} else {
		replica = connect_pgscope("dbname=replica");
	}
	assert_non_null(replica);
	assert_true(
	    harness_query_value(replica, "SELECT pg_is_in_recovery()", value, sizeof(value)));
	assert_string_equal(value, "t");
	assert_true(
	    harness_query_value(primary, "SELECT pg_is_in_recovery()", value, sizeof(value)));
	assert_string_equal(value, "f");

	/* A write on the primary streams to the replica. */
	assert_true(harness_exec_ok(primary, "DROP TABLE IF EXISTS it_sp_repl; CREATE TABLE "
	                                     "it_sp_repl AS SELECT 4242 AS v"));
	deadline = harness_now_ms() + 10000;
	value[0] = '\0';
	while (harness_now_ms() < deadline) {
		PGresult *res = PQexec(replica, "SELECT v FROM it_sp_repl");

		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
			snprintf(value, sizeof(value), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		if (value[0] != '\0')
			break;
		harness_sleep_ms(50);
	}
	assert_string_equal(value, "4242");
	PQfinish(replica);
	PQfinish(primary);
}

/* The Unix socket listener works like the TCP one. */
static void test_unix_socket(void **state)
{
	char extra[400], value[32];
	PGconn *conn;

	if (harness_direct_mode())
		skip();
	snprintf(extra, sizeof(extra), "host=%s", ps.dir);
	conn = connect_pgscope(extra);
	assert_true(harness_query_value(conn, "SELECT 40 + 2", value, sizeof(value)));
	assert_string_equal(value, "42");
	PQfinish(conn);
}

/* A database with no [databases] entry of its own is reached through the "*" entry. */
static void test_fallback_database(void **state)
{
	PGconn *primary = harness_connect_primary();
	PGconn *conn;
	char value[64];

	assert_non_null(primary);
	if (!harness_query_value(primary,
	                         "SELECT count(*) FROM pg_database WHERE datname = 'it_sp_other'",
	                         value, sizeof(value)))
		fail();
	if (strcmp(value, "0") == 0)
		assert_true(harness_exec_ok(primary, "CREATE DATABASE it_sp_other"));
	PQfinish(primary);
	conn = connect_pgscope("dbname=it_sp_other");
	assert_true(harness_query_value(conn, "SELECT current_database()", value, sizeof(value)));
	assert_string_equal(value, "it_sp_other");
	PQfinish(conn);
}

/* SSLRequest and GSSENCRequest are answered 'N'; the startup that follows works. */
static void test_ssl_and_gss_requests_refused(void **state)
{
	static const unsigned char ssl_request[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
	static const unsigned char gss_request[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30};
	char answer = 0;
	int fd = harness_tcp_connect(ps.port);
	struct timeval tv = {.tv_sec = 5};

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_true(harness_send_all(fd, ssl_request, sizeof(ssl_request)));
	assert_int_equal(recv(fd, &answer, 1, 0), 1);
	assert_int_equal(answer, 'N');
	/* PostgreSQL itself, built with GSSAPI, answers 'G'; pgscope has no GSSAPI. */
	if (!harness_direct_mode()) {
		assert_true(harness_send_all(fd, gss_request, sizeof(gss_request)));
		assert_int_equal(recv(fd, &answer, 1, 0), 1);
		assert_int_equal(answer, 'N');
	}
	assert_true(harness_raw_login(fd, "postgres", "postgres", 10000));
	close(fd);
}

/* Startup parameters other than user and database reach the server: client_encoding, DateStyle. */
static void test_startup_parameters_passed(void **state)
{
	static const char params[] = "user\0postgres\0database\0postgres\0"
	                             "DateStyle\0SQL, DMY\0client_encoding\0LATIN1\0\0";
	char pkt[256], datestyle[64] = "", encoding[64] = "";
	uint32_t len = (uint32_t)(8 + sizeof(params) - 1), be;
	int fd = harness_tcp_connect(ps.port);
	PGconn *conn;

	assert_true(fd >= 0);
	be = htonl(len);
	memcpy(pkt, &be, 4);
	be = htonl(196608);
	memcpy(pkt + 4, &be, 4);
	memcpy(pkt + 8, params, sizeof(params) - 1);
	assert_true(harness_send_all(fd, pkt, len));
	for (;;) {
		struct harness_msg m;

		assert_int_equal(harness_read_msg(fd, &m, 10000), 1);
		if (m.type == 'S') {
			const char *value = m.data + strlen(m.data) + 1;

			if (strcmp(m.data, "DateStyle") == 0)
				snprintf(datestyle, sizeof(datestyle), "%s", value);
			if (strcmp(m.data, "client_encoding") == 0)
				snprintf(encoding, sizeof(encoding), "%s", value);
		}
		free(m.data);
		assert_true(m.type != 'E');
		if (m.type == 'Z')
			break;
	}
	close(fd);
	assert_string_equal(datestyle, "SQL, DMY");
	assert_string_equal(encoding, "LATIN1");

	/* The same through libpq, checked with SHOW. */
	conn = connect_pgscope("client_encoding=LATIN1");
	assert_string_equal(PQparameterStatus(conn, "client_encoding"), "LATIN1");
	assert_true(
	    harness_query_value(conn, "SHOW client_encoding", datestyle, sizeof(datestyle)));
	assert_string_equal(datestyle, "LATIN1");
	PQfinish(conn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_psql_describe, check_alive),
	    cmocka_unit_test_teardown(test_multi_statement_query, check_alive),
	    cmocka_unit_test_teardown(test_error_in_transaction_then_rollback, check_alive),
	    cmocka_unit_test_teardown(test_error_fields_intact, check_alive),
	    cmocka_unit_test_teardown(test_parameter_status, check_alive),
	    cmocka_unit_test_teardown(test_startup_parameters_passed, check_alive),
	    cmocka_unit_test_teardown(test_notice, check_alive),
	    cmocka_unit_test_teardown(test_extended_protocol, check_alive),
	    cmocka_unit_test_teardown(test_pipeline, check_alive),
	    cmocka_unit_test_teardown(test_terminate_releases_backend, check_alive),
	    cmocka_unit_test_teardown(test_client_vanishes_mid_transaction, check_alive),
	    cmocka_unit_test_teardown(test_replica_database, check_alive),
	    cmocka_unit_test_teardown(test_unix_socket, check_alive),
	    cmocka_unit_test_teardown(test_fallback_database, check_alive),
	    cmocka_unit_test_teardown(test_ssl_and_gss_requests_refused, check_alive),
	};

	return cmocka_run_group_tests_name("session_proxy", tests, group_setup, group_teardown);
}
