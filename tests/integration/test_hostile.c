/*
 * test_hostile.c - hostile and broken clients: each gets a clear error or a bounded cost, and
 * others keep working.
 *
 * A well-behaved client holds a connection through pgscope for the whole
 * suite and must keep answering after every hostile client, and new
 * connections must keep working too.
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
#include <unistd.h>

#include "tests/integration/harness.h"

#define MAX_PACKET   1048576L
#define RSS_BOUND_KB (64L * 1024)
#define BIG_QUERY    "SELECT repeat('x', 1000) /* it_stall */ FROM generate_series(1, 2000000)"

static struct harness_pgscope ps;
static PGconn *steady; /* the well-behaved client connected all along */

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {.pool_mode = "session", .max_packet_size = MAX_PACKET};

	if (!harness_pgscope_start(&ps, &opts))
		return -1;
	steady = harness_connect(ps.port, "application_name=it_steady");
	return steady != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
	PQfinish(steady);
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

/* The steady client and a brand-new client both run a query. */
static bool others_unaffected(void)
{
	char value[32] = "";
	PGconn *fresh;
	bool ok;

	if (!harness_query_value(steady, "SELECT sum(g) FROM generate_series(1, 100) g", value,
	                         sizeof(value)) ||
	    strcmp(value, "5050") != 0) {
		fprintf(stderr, "steady client broken: %s\n", PQerrorMessage(steady));
		return false;
	}
	fresh = harness_connect(ps.port, NULL);
	if (fresh == NULL)
		return false;
	ok = harness_query_value(fresh, "SELECT 6 * 7", value, sizeof(value)) &&
	     strcmp(value, "42") == 0;
	PQfinish(fresh);
	return ok;
}

/* After every test: pgscope alive, other clients fine. */
static int check_others(void **state)
{
	if (!harness_pgscope_alive(&ps))
		return -1;
	return others_unaffected() ? 0 : -1;
}

/*
 * What pgscope does with a bad client: an ErrorResponse with SQLSTATE 08P01
 * then a close, or (when ERROR_REQUIRED is false) just a close. Fails on
 * anything else or when nothing happens within 5 s.
 */
static void expect_error_then_close(int fd, bool error_required)
{
	struct harness_msg m;
	char code[8] = "";
	int r = harness_read_msg(fd, &m, 5000);

	if (r == -1)
		fail_msg("neither an error nor a close within 5 s");
	if (r == 0) {
		if (error_required)
			fail_msg("connection closed without an ErrorResponse");
		return;
	}
	if (m.type != 'E')
		fail_msg("expected ErrorResponse, got message '%c'", m.type);
	assert_true(harness_error_field(&m, 'C', code, sizeof(code)));
	free(m.data);
	assert_string_equal(code, "08P01");
	assert_true(harness_wait_closed(fd, 5000));
}

static void put_be32(char *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

/* An HTTP request instead of a startup packet. */
static void test_garbage_bytes(void **state)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	char noise[4096];
	int fd = harness_tcp_connect(ps.port);

	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(noise); i++)
		noise[i] = (char)(random() & 0xff);
	assert_true(harness_send_all(fd, http, sizeof(http) - 1));
	harness_send_all(fd, noise, sizeof(noise)); /* may fail: pgscope may have closed */
	expect_error_then_close(fd, false);
	close(fd);
}

/* Half a startup packet, then the client goes away. */
static void test_truncated_startup(void **state)
{
	char pkt[256];
	size_t len = harness_startup_packet(pkt, sizeof(pkt), "postgres", "postgres");

	for (int i = 0; i < 20; i++) {
		int fd = harness_tcp_connect(ps.port);

		assert_true(fd >= 0);
		assert_true(harness_send_all(fd, pkt, len / 2));
		close(fd);
	}
	/* And one that stops after the length word, kept open while others work. */
	int held = harness_tcp_connect(ps.port);

	assert_true(held >= 0);
	assert_true(harness_send_all(held, pkt, 4));
	assert_true(others_unaffected());
	close(held);
}

/* A startup packet claiming 2^31-1 bytes: refused without reserving the memory. */
static void test_startup_length_huge(void **state)
{
	char pkt[8], filler[65536];
	long before = harness_pgscope_rss_kb(&ps);
	int fd = harness_tcp_connect(ps.port);

	assert_true(fd >= 0);
	put_be32(pkt, 0x7fffffffU);
	put_be32(pkt + 4, 196608);
	assert_true(harness_send_all(fd, pkt, sizeof(pkt)));
	memset(filler, 'a', sizeof(filler));
	for (int i = 0; i < 32; i++) {
		if (!harness_send_all(fd, filler, sizeof(filler)))
			break; /* closed already: fine */
	}
	expect_error_then_close(fd, false);
	close(fd);
	if (before > 0) {
		long after = harness_pgscope_rss_kb(&ps);

		assert_true(after - before < RSS_BOUND_KB);
	}
}

/* A startup packet shorter than its own header. */
static void test_startup_length_too_small(void **state)
{
	char pkt[8];
	int fd = harness_tcp_connect(ps.port);

	assert_true(fd >= 0);
	put_be32(pkt, 3);
	put_be32(pkt + 4, 196608);
	assert_true(harness_send_all(fd, pkt, sizeof(pkt)));
	expect_error_then_close(fd, false);
	close(fd);
}

static int raw_logged_in(void)
{
	int fd = harness_tcp_connect(ps.port);

	assert_true(fd >= 0);
	assert_true(harness_raw_login(fd, "postgres", "postgres", 10000));
	return fd;
}

/* After login, a Query message longer than max_packet_size: 08P01 and a close. */
static void test_message_over_max_packet_size(void **state)
{
	char hdr[5], body[65536];
	int fd;

	if (harness_direct_mode())
		skip(); /* PostgreSQL's own limit is 1 GB */
	fd = raw_logged_in();
	hdr[0] = 'Q';
	put_be32(hdr + 1, (uint32_t)(2 * MAX_PACKET + 4));
	assert_true(harness_send_all(fd, hdr, sizeof(hdr)));
	memset(body, 'x', sizeof(body));
	harness_send_all(fd, body, sizeof(body));
	expect_error_then_close(fd, true);
	close(fd);
}

/* A query just under max_packet_size goes through: the limit is where it says. */
static void test_message_under_max_packet_size(void **state)
{
	size_t n = (size_t)MAX_PACKET - 1024;
	char *sql = malloc(n + 64);
	char value[32];
	PGconn *conn = harness_connect(ps.port, NULL);

	assert_non_null(sql);
	assert_non_null(conn);
	memcpy(sql, "SELECT length('", 15);
	memset(sql + 15, 'y', n - 64);
	strcpy(sql + 15 + n - 64, "')");
	assert_true(harness_query_value(conn, sql, value, sizeof(value)));
	assert_int_equal(atol(value), (long)(n - 64));
	free(sql);
	PQfinish(conn);
}

/* After login, a message whose length field is below the minimum of 4. */
static void test_message_length_too_small(void **state)
{
	char msg[5] = {'Q'};
	int fd = raw_logged_in();

	put_be32(msg + 1, 2);
	assert_true(harness_send_all(fd, msg, sizeof(msg)));
	expect_error_then_close(fd, !harness_direct_mode());
	close(fd);
}

/* After login, a message type the protocol does not have. */
static void test_unknown_message_type(void **state)
{
	char msg[5] = {'z'};
	int fd = raw_logged_in();

	put_be32(msg + 1, 4);
	assert_true(harness_send_all(fd, msg, sizeof(msg)));
	expect_error_then_close(fd, true);
	close(fd);
}

/* Count server backends running the big query and blocked writing to their client. */
static int big_query_backends(PGconn *primary, bool only_blocked)
{
	char sql[512], value[32];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%it_stall%%' AND "
	         "pid <> pg_backend_pid() AND state = 'active'%s",
	         only_blocked ? " AND wait_event = 'ClientWrite'" : "");
	if (!harness_query_value(primary, sql, value, sizeof(value)))
		return -1;
	return atoi(value);
}

/*
 * A client sends a query with a 2 GB result and never reads. pgscope's memory
 * must stay bounded (backpressure reaches the server, which then waits on
 * ClientWrite) while the steady client keeps working; when the stalled client
 * goes away its query must not keep running.
 */
static void test_client_never_reads(void **state)
{
	PGconn *primary = harness_connect_primary();
	char query[128];
	int fd, rcvbuf = 4096, blocked = 0, running = -1;
	long before, peak = 0;
	long long end;

	assert_non_null(primary);
	before = harness_pgscope_rss_kb(&ps);
	fd = raw_logged_in();
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	query[0] = 'Q';
	put_be32(query + 1, (uint32_t)(4 + strlen(BIG_QUERY) + 1));
	memcpy(query + 5, BIG_QUERY, strlen(BIG_QUERY) + 1);
	assert_true(harness_send_all(fd, query, 5 + strlen(BIG_QUERY) + 1));

	end = harness_now_ms() + 6000;
	while (harness_now_ms() < end) {
		long rss = harness_pgscope_rss_kb(&ps);

		if (rss > peak)
			peak = rss;
		if (blocked == 0)
			blocked = big_query_backends(primary, true);
		assert_true(others_unaffected());
		harness_sleep_ms(200);
	}
	printf("pgscope RSS before %ld kB, peak %ld kB while the client stalled\n", before, peak);
	assert_true(blocked > 0); /* the server itself is held back */
	if (before > 0)
		assert_true(peak - before < RSS_BOUND_KB);

	close(fd);
	end = harness_now_ms() + 15000;
	while (harness_now_ms() < end) {
		running = big_query_backends(primary, false);
		if (running == 0)
			break;
		harness_sleep_ms(100);
	}
	if (running != 0)
		fprintf(stderr, "the stalled client's query still runs 15 s after it left\n");
	assert_int_equal(running, 0);
	PQfinish(primary);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_garbage_bytes, check_others),
	    cmocka_unit_test_teardown(test_truncated_startup, check_others),
	    cmocka_unit_test_teardown(test_startup_length_huge, check_others),
	    cmocka_unit_test_teardown(test_startup_length_too_small, check_others),
	    cmocka_unit_test_teardown(test_message_over_max_packet_size, check_others),
	    cmocka_unit_test_teardown(test_message_under_max_packet_size, check_others),
	    cmocka_unit_test_teardown(test_message_length_too_small, check_others),
	    cmocka_unit_test_teardown(test_unknown_message_type, check_others),
	    cmocka_unit_test_teardown(test_client_never_reads, check_others),
	};

	return cmocka_run_group_tests_name("hostile", tests, group_setup, group_teardown);
}
