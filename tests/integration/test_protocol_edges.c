/*
 * test_protocol_edges.c - the protocol's less travelled paths in transaction
 * mode, with one server shared by every client: a server is never handed to
 * another client while it owes a reply (FunctionCall among other messages,
 * an extended batch not yet synced); values larger than max_packet_size pass
 * through; a client message over the limit gets its error; the startup
 * phase answers as PostgreSQL does (NegotiateProtocolVersion first, silence
 * for a Terminate before the startup packet); a terminated backend gives the
 * client its one FATAL error and a close.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

#define MAX_PACKET (1024L * 1024L)

static struct harness_pgscope ps;
static uint32_t backend_pid_oid; /* pg_proc OID of pg_backend_pid() */

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {.pool_mode = "transaction",
	                                    .pool_size = 1,
	                                    .max_client_conn = 20,
	                                    .max_packet_size = MAX_PACKET};
	long oid = txn_primary_long("SELECT 'pg_backend_pid'::regproc::oid::int");

	if (oid <= 0)
		return -1;
	backend_pid_oid = (uint32_t)oid;
	return harness_pgscope_start(&ps, &opts) ? 0 : -1;
}

static int group_teardown(void **state)
{
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

static int check_alive(void **state)
{
	char value[16] = "";
	PGconn *conn;
	bool ok;

	if (!harness_pgscope_alive(&ps))
		return -1;
	conn = harness_connect(ps.port, NULL);
	ok = conn != NULL && harness_query_value(conn, "SELECT 6 * 7", value, sizeof(value)) &&
	     strcmp(value, "42") == 0;
	PQfinish(conn);
	return ok ? 0 : -1;
}

static int raw_client(void)
{
	int fd = harness_tcp_connect(ps.port);

	assert_true(fd >= 0);
	assert_true(harness_raw_login(fd, "postgres", "postgres", 10000));
	return fd;
}

static void put_query(char *buf, size_t bufsz, size_t *used, const char *sql)
{
	assert_true(txn_put_msg(buf, bufsz, used, 'Q', sql, strlen(sql) + 1));
}

/* FunctionCall of pg_backend_pid(): no arguments, text result. */
static void put_function_call(char *buf, size_t bufsz, size_t *used)
{
	unsigned char body[10];
	uint32_t oid = htonl(backend_pid_oid);

	memcpy(body, &oid, 4);
	memset(body + 4, 0, sizeof(body) - 4); /* 0 arg formats, 0 args, text result */
	assert_true(txn_put_msg(buf, bufsz, used, 'F', body, sizeof(body)));
}

/*
 * Read messages until COUNT ReadyForQuery messages arrived; append each type
 * to TYPES (bounded) and the first DataRow or FunctionCallResponse value to
 * VALUE. Fails the test on a close or a 5 s silence.
 */
static void read_replies(int fd, int count, char *types, size_t typesz, char *value, size_t valuesz)
{
	size_t nt = 0;

	value[0] = 0;
	while (count > 0) {
		struct harness_msg m;
		int r = harness_read_msg(fd, &m, 5000);

		if (r != 1)
			fail_msg("no reply within 5 s (got \"%.*s\" so far)", (int)nt, types);
		if (nt + 1 < typesz)
			types[nt++] = m.type;
		types[nt] = 0;
		if ((m.type == 'D' || m.type == 'V') && value[0] == 0) {
			/* DataRow: int16 count, int32 len, bytes; V: int32 len, bytes. */
			size_t off = m.type == 'D' ? 6 : 4;

			if (m.len > off)
				snprintf(value, valuesz, "%.*s", (int)(m.len - off), m.data + off);
		}
		if (m.type == 'Z')
			count--;
		free(m.data);
	}
}

/*
 * A Query and a FunctionCall in one write: the server owes two
 * ReadyForQuery messages. A second client waiting for the only server must
 * get its own result, not the function's.
 */
static void test_query_then_function_call_one_write(void **state)
{
	char buf[256], types[32], value[64];
	size_t used = 0;
	int a = raw_client(), b = raw_client();

	put_query(buf, sizeof(buf), &used, "SELECT pg_sleep(0.3)");
	put_function_call(buf, sizeof(buf), &used);
	assert_true(harness_send_all(a, buf, used));
	harness_sleep_ms(50);
	used = 0;
	put_query(buf, sizeof(buf), &used, "SELECT 'from_b'");
	assert_true(harness_send_all(b, buf, used));

	read_replies(b, 1, types, sizeof(types), value, sizeof(value));
	assert_string_equal(types, "TDCZ");
	assert_string_equal(value, "from_b");
	read_replies(a, 2, types, sizeof(types), value, sizeof(value));
	assert_string_equal(types, "TDCZVZ");
	close(a);
	close(b);
}

/* FunctionCall then Query, pipelined: both answered, in order. */
static void test_function_call_then_query_pipelined(void **state)
{
	char buf[256], types[32], value[64];
	size_t used = 0;
	int a = raw_client(), b = raw_client();

	put_function_call(buf, sizeof(buf), &used);
	put_query(buf, sizeof(buf), &used, "SELECT 'after_f'");
	assert_true(harness_send_all(a, buf, used));
	read_replies(a, 2, types, sizeof(types), value, sizeof(value));
	assert_string_equal(types, "VZTDCZ");
	assert_true(atol(value) > 0); /* the function's result: a backend pid */

	used = 0;
	put_query(buf, sizeof(buf), &used, "SELECT 'b_alone'");
	assert_true(harness_send_all(b, buf, used));
	read_replies(b, 1, types, sizeof(types), value, sizeof(value));
	assert_string_equal(types, "TDCZ");
	assert_string_equal(value, "b_alone");
	close(a);
	close(b);
}

/* True when FD has nothing to read for MS milliseconds. */
static bool quiet_for(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 0;
}

/*
 * A Query, then Parse/Bind/Execute/Flush without a Sync in the same write:
 * after the Query's ReadyForQuery the server still owes the batch, so it
 * stays with this client until the Sync is answered.
 */
static void test_unsynced_batch_keeps_server(void **state)
{
	char buf[512], types[32], value[64];
	size_t used = 0;
	int a = raw_client(), b = raw_client();
	static const char parse[] = "\0SELECT 'batch'\0\0\0"; /* unnamed, no types */
	static const char bind[] = "\0\0\0\0\0\0\0\0";        /* portal, stmt, 0,0,0 */
	static const char execute[] = "\0\0\0\0\0";           /* portal "", no limit */

	put_query(buf, sizeof(buf), &used, "SELECT 'first'");
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'P', parse, sizeof(parse) - 1));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'B', bind, sizeof(bind) - 1));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'E', execute, sizeof(execute) - 1));
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'H', NULL, 0));
	assert_true(harness_send_all(a, buf, used));
	read_replies(a, 1, types, sizeof(types), value, sizeof(value));
	assert_string_equal(types, "TDCZ");
	assert_string_equal(value, "first");

	used = 0;
	put_query(buf, sizeof(buf), &used, "SELECT 'from_b'");
	assert_true(harness_send_all(b, buf, used));
	/* b waits: the only server still belongs to a's unfinished batch. */
	if (!harness_direct_mode())
		assert_true(quiet_for(b, 500));

	used = 0;
	assert_true(txn_put_msg(buf, sizeof(buf), &used, 'S', NULL, 0));
	assert_true(harness_send_all(a, buf, used));
	read_replies(a, 1, types, sizeof(types), value, sizeof(value));
	assert_string_equal(types, "12DCZ");
	assert_string_equal(value, "batch");
	read_replies(b, 1, types, sizeof(types), value, sizeof(value));
	assert_string_equal(types, "TDCZ");
	assert_string_equal(value, "from_b");
	close(a);
	close(b);
}

/* A 70 MB value from the server reaches the client intact. */
static void test_large_value_from_server(void **state)
{
	PGconn *conn = harness_connect(ps.port, NULL);
	PGresult *res;
	const char *v;
	size_t n = 70u * 1024u * 1024u;
	bool all_x = true;

	assert_non_null(conn);
	res = PQexec(conn, "SELECT repeat('x', 70 * 1024 * 1024), 'after'");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("large value: %s", PQerrorMessage(conn));
	assert_int_equal(PQgetlength(res, 0, 0), (int)n);
	v = PQgetvalue(res, 0, 0);
	for (size_t i = 0; i < n; i++) {
		if (v[i] != 'x') {
			all_x = false;
			break;
		}
	}
	assert_true(all_x);
	assert_string_equal(PQgetvalue(res, 0, 1), "after");
	PQclear(res);
	/* The connection goes on. */
	res = PQexec(conn, "SELECT 1");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	PQfinish(conn);
}

/* A client's Query over max_packet_size: the client sees 08P01, not a reset. */
static void test_client_message_over_limit_gets_error(void **state)
{
	size_t n = 4u * 1024u * 1024u;
	char *sql;
	PGconn *conn;
	PGresult *res;

	if (harness_direct_mode())
		skip(); /* PostgreSQL's own limit is 1 GB */
	sql = malloc(n + 64);
	conn = harness_connect(ps.port, NULL);
	assert_non_null(sql);
	assert_non_null(conn);
	memcpy(sql, "SELECT length('", 15);
	memset(sql + 15, 'y', n);
	strcpy(sql + 15 + n, "')");
	/*
	 * libpq reports a FATAL error followed by the close as one merged
	 * result (as it does with PostgreSQL's own FATAL errors); the verbose
	 * form of its message carries the SQLSTATE the client received.
	 */
	PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
	res = PQexec(conn, sql);
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	if (strstr(PQerrorMessage(conn), "FATAL:  08P01: message too long") == NULL)
		fail_msg("expected the 08P01 error, got: %s", PQerrorMessage(conn));
	PQclear(res);
	PQfinish(conn);
	free(sql);
}

/* A StartupMessage for protocol 3.1 with a _pq_ option. */
static size_t startup_3_1(char *buf, size_t bufsz)
{
	static const char params[] = "user\0postgres\0database\0postgres\0_pq_.pgscope_test\0on\0";
	size_t len = 8 + sizeof(params); /* the array's own NUL ends the list */
	uint32_t v;

	assert_true(len <= bufsz);
	v = htonl((uint32_t)len);
	memcpy(buf, &v, 4);
	v = htonl(0x00030001u);
	memcpy(buf + 4, &v, 4);
	memcpy(buf + 8, params, sizeof(params));
	return len;
}

/* A newer minor version: NegotiateProtocolVersion comes first, before authentication. */
static void test_negotiate_protocol_version_first(void **state)
{
	char pkt[128];
	size_t len = startup_3_1(pkt, sizeof(pkt));
	int fd = harness_tcp_connect(ps.port);
	struct harness_msg m;
	uint32_t minor, n_opts;

	assert_true(fd >= 0);
	assert_true(harness_send_all(fd, pkt, len));
	assert_int_equal(harness_read_msg(fd, &m, 5000), 1);
	assert_int_equal(m.type, 'v');
	assert_true(m.len >= 8);
	memcpy(&minor, m.data, 4);
	memcpy(&n_opts, m.data + 4, 4);
	assert_int_equal(ntohl(minor), 0x00030000u);
	assert_int_equal(ntohl(n_opts), 1);
	assert_string_equal(m.data + 8, "_pq_.pgscope_test");
	free(m.data);
	/* Then the login goes on as usual. */
	for (;;) {
		char type;

		assert_int_equal(harness_read_msg(fd, &m, 5000), 1);
		type = m.type;
		free(m.data);
		assert_true(type != 'E' && type != 'v');
		if (type == 'Z')
			break;
	}
	close(fd);
}

/* An 8-byte SSLRequest (80877103) or GSSENCRequest (80877104). */
static void send_encryption_request(int fd, uint32_t code)
{
	uint32_t pkt[2] = {htonl(8), htonl(code)};

	assert_true(harness_send_all(fd, pkt, sizeof(pkt)));
}

/* One byte of answer within 5 s; 0 on close or silence. */
static char read_answer_byte(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char byte = 0;

	if (poll(&p, 1, 5000) != 1 || recv(fd, &byte, 1, 0) != 1)
		return 0;
	return byte;
}

/*
 * The encryption negotiation: SSLRequest and GSSENCRequest are each answered
 * 'N' (no TLS or GSSAPI here), and the login goes on in plain text after both.
 */
static void test_encryption_requests_answered(void **state)
{
	char pkt[256];
	size_t len = harness_startup_packet(pkt, sizeof(pkt), "postgres", "postgres");
	int fd;
	struct harness_msg m;
	char type;

	if (harness_direct_mode())
		skip(); /* PostgreSQL built with GSSAPI answers 'G' and expects a handshake */
	fd = harness_tcp_connect(ps.port);
	assert_true(fd >= 0);
	send_encryption_request(fd, 80877104u);
	assert_int_equal(read_answer_byte(fd), 'N');
	send_encryption_request(fd, 80877103u);
	assert_int_equal(read_answer_byte(fd), 'N');
	assert_true(harness_send_all(fd, pkt, len));
	do {
		assert_int_equal(harness_read_msg(fd, &m, 5000), 1);
		type = m.type;
		free(m.data);
		assert_true(type != 'E');
	} while (type != 'Z');
	close(fd);
}

/* Asking for SSL a second time is an unsupported protocol, as PostgreSQL says. */
static void test_second_ssl_request_refused(void **state)
{
	int fd = harness_tcp_connect(ps.port);
	struct harness_msg m;
	char code[8], text[160];

	assert_true(fd >= 0);
	send_encryption_request(fd, 80877103u);
	assert_int_equal(read_answer_byte(fd), 'N');
	send_encryption_request(fd, 80877103u);
	assert_int_equal(harness_read_msg(fd, &m, 5000), 1);
	assert_int_equal(m.type, 'E');
	assert_true(harness_error_field(&m, 'C', code, sizeof(code)));
	assert_string_equal(code, "0A000");
	assert_true(harness_error_field(&m, 'M', text, sizeof(text)));
	assert_string_equal(text,
	                    "unsupported frontend protocol 1234.5679: server supports 3.0 to 3.0");
	free(m.data);
	assert_true(harness_wait_closed(fd, 5000));
	close(fd);
}

/* Wait up to MS for FD to be closed by the peer; true if it closed with no byte sent. */
static bool closed_silently(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char byte;
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return false;
	n = recv(fd, &byte, 1, 0);
	if (n > 0)
		fprintf(stderr, "peer sent '%c' before closing\n", byte);
	return n == 0 || (n == -1 && errno == ECONNRESET);
}

/* A Terminate before any startup packet (node-postgres on a quick close): silence. */
static void test_terminate_before_startup(void **state)
{
	static const char terminate[] = {'X', 0, 0, 0, 4};
	int fd = harness_tcp_connect(ps.port);

	assert_true(fd >= 0);
	assert_true(harness_send_all(fd, terminate, sizeof(terminate)));
	assert_true(closed_silently(fd, 5000));
	close(fd);
}

/* A garbled startup length: closed without a word, as PostgreSQL does. */
static void test_garbled_startup_is_silent(void **state)
{
	static const char garbage[] = "GET / HTTP/1.1\r\n\r\n";
	int fd = harness_tcp_connect(ps.port);

	assert_true(fd >= 0);
	assert_true(harness_send_all(fd, garbage, sizeof(garbage) - 1));
	assert_true(closed_silently(fd, 5000));
	close(fd);
}

/*
 * Terminate the backend under a client (idle in a transaction, or running a
 * query): the client gets the server's FATAL 57P01 and a close, and no
 * second error of the pooler's own.
 */
static void terminated_backend_gives_one_error(const char *during)
{
	char buf[256], types[32], value[64], code[8];
	size_t used = 0;
	int fd = raw_client();
	int errors = 0;
	PGconn *admin = harness_connect_primary();
	long pid;

	assert_non_null(admin);
	put_query(buf, sizeof(buf), &used, "BEGIN");
	put_query(buf, sizeof(buf), &used, "SELECT pg_backend_pid()");
	assert_true(harness_send_all(fd, buf, used));
	read_replies(fd, 2, types, sizeof(types), value, sizeof(value));
	pid = atol(value);
	assert_true(pid > 0);
	if (during != NULL) {
		used = 0;
		put_query(buf, sizeof(buf), &used, during);
		assert_true(harness_send_all(fd, buf, used));
		assert_true(harness_wait_running("pg_sleep(30)", 5000));
	}
	snprintf(buf, sizeof(buf), "SELECT pg_terminate_backend(%ld)", pid);
	assert_true(harness_exec_ok(admin, buf));
	PQfinish(admin);
	for (;;) {
		struct harness_msg m;
		int r = harness_read_msg(fd, &m, 5000);

		assert_true(r >= 0); /* a close, not a silence */
		if (r == 0)
			break;
		if (m.type == 'E') {
			errors++;
			assert_true(harness_error_field(&m, 'C', code, sizeof(code)));
			assert_string_equal(code, "57P01");
		}
		free(m.data);
	}
	assert_int_equal(errors, 1);
	close(fd);
}

static void test_terminated_backend_idle_in_transaction(void **state)
{
	terminated_backend_gives_one_error(NULL);
}

static void test_terminated_backend_during_query(void **state)
{
	terminated_backend_gives_one_error("SELECT pg_sleep(30)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_query_then_function_call_one_write, check_alive),
	    cmocka_unit_test_teardown(test_function_call_then_query_pipelined, check_alive),
	    cmocka_unit_test_teardown(test_unsynced_batch_keeps_server, check_alive),
	    cmocka_unit_test_teardown(test_large_value_from_server, check_alive),
	    cmocka_unit_test_teardown(test_client_message_over_limit_gets_error, check_alive),
	    cmocka_unit_test_teardown(test_negotiate_protocol_version_first, check_alive),
	    cmocka_unit_test_teardown(test_encryption_requests_answered, check_alive),
	    cmocka_unit_test_teardown(test_second_ssl_request_refused, check_alive),
	    cmocka_unit_test_teardown(test_terminate_before_startup, check_alive),
	    cmocka_unit_test_teardown(test_garbled_startup_is_silent, check_alive),
	    cmocka_unit_test_teardown(test_terminated_backend_idle_in_transaction, check_alive),
	    cmocka_unit_test_teardown(test_terminated_backend_during_query, check_alive),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
