/*
 * test_idle_memory.c - what idle clients cost pgscope in memory, and what an
 * idle pooler costs in wake-ups.
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
#include <dirent.h>
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
#define IDLE_WAKEUPS_PER_S 10 /* measured: 4, the janitor (about 120 when the threads polled) */

static struct harness_pgscope ps;
static char capture_dir[] = "/tmp/pgscope-idle-capture.XXXXXX";

static int group_setup(void **state)
{
	static char extra[512];
	struct harness_pgscope_opts o = {
	    .pool_mode = "transaction",
	    .pool_size = 4,
	    .max_client_conn = N_CLIENTS + 100,
	    .extra_main = extra,
	};

	if (harness_direct_mode())
		return 0;
	/* Capture on, so that its writer thread is part of what must sleep. */
	if (mkdtemp(capture_dir) == NULL)
		return -1;
	snprintf(extra, sizeof(extra),
	         "listen_backlog = 1024\nlog_connections = off\nlog_disconnections = off\n"
	         "capture = on\ncapture_dir = %s\n",
	         capture_dir);
	if (txn_raise_nofile(N_CLIENTS + 200) < N_CLIENTS + 200)
		return -1;
	return harness_pgscope_start(&ps, &o) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[128];
	bool stopped;

	if (harness_direct_mode())
		return 0;
	stopped = harness_pgscope_stop(&ps);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", capture_dir);
	if (system(cmd) != 0)
		return -1;
	return stopped ? 0 : -1;
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

/* Context switches of all of pgscope's threads so far, or -1. */
static long long context_switches(void)
{
	char path[64];
	long long total = 0;
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)ps.pid);
	dir = opendir(path);
	if (dir == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		char file[352], line[128];
		long long n;
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s/status", path, d->d_name);
		f = fopen(file, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "voluntary_ctxt_switches: %lld", &n) == 1 ||
			    sscanf(line, "nonvoluntary_ctxt_switches: %lld", &n) == 1)
				total += n;
		fclose(f);
	}
	closedir(dir);
	return total;
}

/*
 * A pooler nobody uses sleeps: after a statement has been analysed and
 * captured, its threads wake only for the event loop's timers, not dozens
 * of times a second to poll queues that stay empty.
 */
static void test_idle_wakeups(void **state)
{
	PGconn *conn;
	long long before, after;
	double per_s;

	if (harness_direct_mode())
		skip();
	conn = harness_connect(ps.port, NULL);
	assert_true(harness_exec_ok(conn, "SELECT 1"));
	PQfinish(conn);
	harness_sleep_ms(1500); /* the analysis thread takes the statement, then finds nothing */
	before = context_switches();
	harness_sleep_ms(3000);
	after = context_switches();
	assert_true(before >= 0 && after >= before);
	per_s = (double)(after - before) / 3.0;
	fprintf(stderr, "idle pooler: %.1f wake-ups a second\n", per_s);
	if (per_s >= IDLE_WAKEUPS_PER_S)
		fail_msg("an idle pgscope woke %.1f times a second (bound %d)", per_s,
		         IDLE_WAKEUPS_PER_S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle_clients_memory),
	    cmocka_unit_test(test_idle_wakeups),
	};

	return cmocka_run_group_tests_name("idle_memory", tests, group_setup, group_teardown);
}
