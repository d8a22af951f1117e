/*
 * test_endpoint_health.c - every kind of server failure is counted on its
 * endpoint (the server address), once per failure, and the client that
 * waited gets an error.
 *
 * Each [databases] entry below fails in its own way: a port nobody listens
 * on (connect refused), a listener that never answers (connect timeout), a
 * listener that closes at once (connection lost during login), a role the
 * server does not know (login rejected) and a connect_query that fails.
 * The endpoint's counts are read from its log events.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/harness.h"

static struct harness_pgscope ps;
static int refused_port, silent_port, dropper_port;
static int silent_fd = -1, dropper_fd = -1;
static volatile int stop_dropper;
static pthread_t dropper_thread;

/* A TCP socket listening on a free loopback port; its port in *PORT. */
static int listen_loopback(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* Accept each connection and close it at once: a server that dies during login. */
static void *dropper_run(void *arg)
{
	while (!stop_dropper) {
		struct pollfd p = {.fd = dropper_fd, .events = POLLIN};

		if (poll(&p, 1, 100) == 1) {
			int fd = accept(dropper_fd, NULL, NULL);

			if (fd >= 0)
				close(fd);
		}
	}
	return NULL;
}

static int group_setup(void **state)
{
	const struct harness_cluster *cl = harness_cluster();
	static char dbs[1024];
	int fd;
	struct harness_pgscope_opts opts = {
	    .pool_mode = "session",
	    /* Each login one attempt: no breaker that retries, nor one that holds back. */
	    .extra_main =
	        "server_connect_timeout = 1\nserver_login_retry = 0\nbreaker_failures = 0\n",
	    .extra_dbs = dbs,
	};

	/* A port that was free a moment ago and has no listener now. */
	fd = listen_loopback(&refused_port);
	if (fd < 0)
		return -1;
	close(fd);
	silent_fd = listen_loopback(&silent_port);
	dropper_fd = listen_loopback(&dropper_port);
	if (silent_fd < 0 || dropper_fd < 0)
		return -1;
	if (pthread_create(&dropper_thread, NULL, dropper_run, NULL) != 0)
		return -1;
	snprintf(dbs, sizeof(dbs),
	         "refused = host=127.0.0.1 port=%d dbname=postgres user=postgres\n"
	         "silent = host=127.0.0.1 port=%d dbname=postgres user=postgres\n"
	         "dropper = host=127.0.0.1 port=%d dbname=postgres user=postgres\n"
	         "badrole = host=%s port=%d dbname=postgres user=pgscope_no_such_role\n"
	         "badcq = host=%s port=%d dbname=postgres user=postgres "
	         "connect_query='SELECT 1/0'\n",
	         refused_port, silent_port, dropper_port, cl->host, cl->port, cl->host, cl->port);
	return harness_pgscope_start(&ps, &opts) ? 0 : -1;
}

static int group_teardown(void **state)
{
	stop_dropper = 1;
	pthread_join(dropper_thread, NULL);
	close(silent_fd);
	close(dropper_fd);
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

/* A client of DB fails to connect through pgscope within 10 s. */
static void expect_login_fails(const char *db)
{
	char conninfo[160];
	long long t0 = harness_now_ms();
	PGconn *conn;

	snprintf(conninfo, sizeof(conninfo),
	         "host=127.0.0.1 port=%d user=postgres dbname=%s connect_timeout=10", ps.port, db);
	conn = PQconnectdb(conninfo);
	assert_non_null(conn);
	if (PQstatus(conn) == CONNECTION_OK)
		fail_msg("login to %s succeeded", db);
	assert_true(harness_now_ms() - t0 < 10000);
	PQfinish(conn);
}

/*
 * The number of endpoint.failure events for PORT and KIND in pgscope's log,
 * and the highest count= they report. Waits up to 5 s for at least WANT.
 */
static int failures_logged(int port, const char *kind, int want, long *max_count)
{
	long long deadline = harness_now_ms() + 5000;
	char port_field[32], kind_field[64];
	int n;

	snprintf(port_field, sizeof(port_field), " port=%d ", port);
	snprintf(kind_field, sizeof(kind_field), " kind=%s ", kind);
	do {
		FILE *f = fopen(ps.log_path, "r");
		char line[2048];

		n = 0;
		*max_count = 0;
		if (f == NULL)
			return -1;
		while (fgets(line, sizeof(line), f) != NULL) {
			const char *c;

			if (strstr(line, "event=endpoint.failure") == NULL ||
			    strstr(line, port_field) == NULL || strstr(line, kind_field) == NULL)
				continue;
			n++;
			c = strstr(line, " count=");
			if (c != NULL && atol(c + 7) > *max_count)
				*max_count = atol(c + 7);
		}
		fclose(f);
		if (n >= want)
			return n;
		harness_sleep_ms(100);
	} while (harness_now_ms() < deadline);
	return n;
}

/* Each attempt is one failure of the kind, and the count on the endpoint grows with it. */
static void expect_counted(const char *db, int port, const char *kind)
{
	long count = 0;

	expect_login_fails(db);
	assert_int_equal(failures_logged(port, kind, 1, &count), 1);
	assert_int_equal(count, 1);
	expect_login_fails(db);
	assert_int_equal(failures_logged(port, kind, 2, &count), 2);
	assert_int_equal(count, 2);
}

static void test_connect_refused(void **state)
{
	expect_counted("refused", refused_port, "connect");
}

static void test_connect_timeout(void **state)
{
	expect_counted("silent", silent_port, "connect_timeout");
}

static void test_lost_during_login(void **state)
{
	expect_counted("dropper", dropper_port, "lost_during_login");
}

static void test_login_rejected(void **state)
{
	expect_counted("badrole", harness_cluster()->port, "login");
}

static void test_connect_query_failed(void **state)
{
	expect_counted("badcq", harness_cluster()->port, "connect_query");
}

/* The primary stays usable for the healthy entry throughout. */
static void test_healthy_entry_unaffected(void **state)
{
	char value[16];
	PGconn *conn = harness_connect(ps.port, NULL);

	assert_non_null(conn);
	assert_true(harness_query_value(conn, "SELECT 40 + 2", value, sizeof(value)));
	assert_string_equal(value, "42");
	PQfinish(conn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_connect_refused),
	    cmocka_unit_test(test_connect_timeout),
	    cmocka_unit_test(test_lost_during_login),
	    cmocka_unit_test(test_login_rejected),
	    cmocka_unit_test(test_connect_query_failed),
	    cmocka_unit_test(test_healthy_entry_unaffected),
	};

	if (harness_direct_mode())
		return 0; /* the endpoint is pgscope's own */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
