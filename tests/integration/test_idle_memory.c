/*
 * test_idle_memory.c - what idle clients cost pgscope in memory.
 *
 * In transaction mode an idle client holds no server, so it should hold
 * little memory either: 2,000 logged-in idle clients must raise pgscope's
 * resident set by less than IDLE_KB_PER_CLIENT each, and once they have
 * left the resident set must fall back to near where it started. Memory is
 * deterministic enough to assert on (the bound has a wide margin over what
 * is measured, see README's Benchmarks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

#define N_CLIENTS          2000
#define IDLE_KB_PER_CLIENT 3    /* measured: 0.8 kB */
#define LEFT_OVER_KB       2048 /* RSS above the start allowed after they leave */
#define LOGIN_TIMEOUT_MS   10000
#define SETTLE_TIMEOUT_MS  10000

static struct harness_pgscope ps;

static int group_setup(void **state)
{
	struct harness_pgscope_opts o = {
	    .pool_mode = "transaction",
	    .pool_size = 4,
	    .max_client_conn = N_CLIENTS + 100,
	    .extra_main =
	        "listen_backlog = 1024\nlog_connections = off\nlog_disconnections = off\n",
	};

	if (harness_direct_mode())
		return 0;
	if (txn_raise_nofile(N_CLIENTS + 200) < N_CLIENTS + 200)
		return -1;
	return harness_pgscope_start(&ps, &o) ? 0 : -1;
}

static int group_teardown(void **state)
{
	if (harness_direct_mode())
		return 0;
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

/* Log in one raw client and leave at once, so that its pool exists before measuring. */
static void warm_up(void)
{
	int fd = harness_tcp_connect(ps.port);

	assert_true(fd != -1);
	assert_true(harness_raw_login(fd, "postgres", "postgres", LOGIN_TIMEOUT_MS));
	close(fd);
}

/* Wait until RSS is at most limit_kb; returns the last RSS seen. */
static long wait_rss_at_most(long limit_kb, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	long rss = harness_pgscope_rss_kb(&ps);

	while (rss > limit_kb && harness_now_ms() < deadline) {
		harness_sleep_ms(50);
		rss = harness_pgscope_rss_kb(&ps);
	}
	return rss;
}

static void test_idle_clients_memory(void **state)
{
	static int fds[N_CLIENTS];
	long start, idle, after;

	if (harness_direct_mode())
		skip();
	warm_up();
	start = harness_pgscope_rss_kb(&ps);
	for (int i = 0; i < N_CLIENTS; i++) {
		fds[i] = harness_tcp_connect(ps.port);
		if (fds[i] == -1 ||
		    !harness_raw_login(fds[i], "postgres", "postgres", LOGIN_TIMEOUT_MS))
			fail_msg("client %d of %d could not log in", i + 1, N_CLIENTS);
	}
	idle = harness_pgscope_rss_kb(&ps);
	for (int i = 0; i < N_CLIENTS; i++)
		close(fds[i]);
	after = wait_rss_at_most(start + LEFT_OVER_KB, SETTLE_TIMEOUT_MS);
	fprintf(stderr,
	        "idle memory: RSS %ld kB at start, %ld kB with %d idle clients (%.2f kB each), "
	        "%ld kB after they left\n",
	        start, idle, N_CLIENTS, (double)(idle - start) / N_CLIENTS, after);
	assert_true(start > 0 && idle > 0 && after > 0);
	if (idle - start >= (long)IDLE_KB_PER_CLIENT * N_CLIENTS)
		fail_msg("%d idle clients cost %ld kB, more than %d kB each", N_CLIENTS,
		         idle - start, IDLE_KB_PER_CLIENT);
	if (after > start + LEFT_OVER_KB)
		fail_msg("RSS stayed at %ld kB after the clients left (start %ld kB)", after,
		         start);
	assert_true(harness_pgscope_alive(&ps));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle_clients_memory),
	};

	return cmocka_run_group_tests_name("idle_memory", tests, group_setup, group_teardown);
}
