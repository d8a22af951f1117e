/*
 * test_relay_stress.c - the relay's backpressure never loses a wake-up.
 *
 * Many clients share a small transaction-mode pool and move large results,
 * COPY OUT and COPY IN streams through it, each alternating between reading
 * slowly (so that the pooler's buffer toward it fills and the server is no
 * longer read) and reading as fast as it can (so that the buffer drains in
 * one go). Every request must complete, with every row counted: a relay that
 * stopped with data waiting on one side and nothing pending on the other
 * shows up as a client that hears nothing for 10 s.
 *
 * PGSCOPE_STRESS_ROUNDS sets the rounds per client (default 4) for longer runs.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

#define CLIENTS      16
#define POOL_SIZE    4
#define ROWS         20000
#define STALL_MS     10000
#define COPY_IN_ROWS 20000

static struct harness_pgscope ps;
static int rounds = 4;

static int group_setup(void **state)
{
	/*
	 * Reads of up to 1 MB from a server: one read can take the buffer toward
	 * a client past its high-water mark while the client's socket has room
	 * for all of it, the moment where a pause used to be left without a
	 * pending write to undo it.
	 */
	struct harness_pgscope_opts opts = {.pool_mode = "transaction",
	                                    .pool_size = POOL_SIZE,
	                                    .max_client_conn = 100,
	                                    .extra_main = "pkt_buf = 1048576\n"};
	const char *env = getenv("PGSCOPE_STRESS_ROUNDS");
	PGconn *conn;
	bool ok;

	if (env != NULL && atoi(env) > 0)
		rounds = atoi(env);
	conn = harness_connect_primary();
	if (conn == NULL)
		return -1;
	ok = harness_exec_ok(conn, "DROP TABLE IF EXISTS relay_sink") &&
	     harness_exec_ok(conn, "CREATE UNLOGGED TABLE relay_sink (id int, data text)");
	PQfinish(conn);
	if (!ok)
		return -1;
	return harness_pgscope_start(&ps, &opts) ? 0 : -1;
}

static int group_teardown(void **state)
{
	PGconn *conn = harness_connect_primary();

	if (conn != NULL) {
		harness_exec_ok(conn, "DROP TABLE IF EXISTS relay_sink");
		PQfinish(conn);
	}
	return harness_pgscope_stop(&ps) ? 0 : -1;
}

/* What one client thread did; its first failure, if any. */
struct worker {
	pthread_t thread;
	int id;
	long long requests;
	char error[256];
};

static bool send_query(int fd, const char *sql)
{
	char buf[512];
	size_t used = 0;

	return txn_put_msg(buf, sizeof(buf), &used, 'Q', sql, strlen(sql) + 1) &&
	       harness_send_all(fd, buf, used);
}

/*
 * Read one request's answer up to ReadyForQuery, counting DataRow ('D') and
 * CopyData ('d') messages. A slow reader pauses every 200 messages, long
 * enough for the pooler's buffer toward it to fill.
 */
static bool read_answer(struct worker *w, int fd, bool slow, long long *rows)
{
	*rows = 0;
	for (long long n = 0;; n++) {
		struct harness_msg m;
		int r = harness_read_msg(fd, &m, STALL_MS);
		char type = m.type;

		if (r != 1) {
			snprintf(w->error, sizeof(w->error),
			         "client %d: %s after %lld messages of a request", w->id,
			         r == 0 ? "connection closed" : "nothing for 10 s (stalled relay)",
			         n);
			return false;
		}
		if (type == 'E') {
			char text[160] = "";

			harness_error_field(&m, 'M', text, sizeof(text));
			snprintf(w->error, sizeof(w->error), "client %d: error: %s", w->id, text);
		}
		free(m.data);
		if (type == 'D' || type == 'd')
			(*rows)++;
		if (type == 'Z')
			return w->error[0] == 0;
		if (slow && n % 200 == 199)
			harness_sleep_ms(15);
	}
}

/* COPY FROM STDIN of COPY_IN_ROWS rows sent in one burst, then its answer. */
static bool copy_in(struct worker *w, int fd)
{
	size_t cap = (size_t)COPY_IN_ROWS * 230 + 1024, used = 0;
	char *buf = malloc(cap), line[256];
	long long rows;
	bool ok = buf != NULL;

	if (!ok || !send_query(fd, "COPY relay_sink FROM STDIN")) {
		free(buf);
		snprintf(w->error, sizeof(w->error), "client %d: could not start COPY IN", w->id);
		return false;
	}
	for (int i = 0; ok && i < COPY_IN_ROWS; i++) {
		int n = snprintf(line, sizeof(line), "%d\t%0200d\n", i, w->id);

		ok = txn_put_msg(buf, cap, &used, 'd', line, (size_t)n);
	}
	ok = ok && txn_put_msg(buf, cap, &used, 'c', NULL, 0);
	/* Until CopyInResponse the server reads nothing: send after it came. */
	for (;;) {
		struct harness_msg m;
		char type;

		if (!ok || harness_read_msg(fd, &m, STALL_MS) != 1) {
			ok = false;
			break;
		}
		type = m.type;
		free(m.data);
		if (type == 'G')
			break;
		if (type == 'E' || type == 'Z') {
			ok = false;
			break;
		}
	}
	ok = ok && harness_send_all(fd, buf, used);
	free(buf);
	if (!ok) {
		snprintf(w->error, sizeof(w->error), "client %d: COPY IN failed", w->id);
		return false;
	}
	return read_answer(w, fd, false, &rows);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	char sql[256];
	long long rows;
	int fd = harness_tcp_connect(ps.port);

	if (fd < 0 || !harness_raw_login(fd, "postgres", "postgres", 20000)) {
		snprintf(w->error, sizeof(w->error), "client %d: could not log in", w->id);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (int r = 0; r < rounds; r++) {
		bool slow = (r + w->id) % 2 == 0;

		snprintf(
		    sql, sizeof(sql),
		    "COPY (SELECT g, repeat('x', 200) FROM generate_series(1, %d) g) TO STDOUT",
		    ROWS);
		if (!send_query(fd, sql) || !read_answer(w, fd, slow, &rows))
			break;
		if (rows != ROWS) {
			snprintf(w->error, sizeof(w->error), "client %d: COPY OUT gave %lld rows",
			         w->id, rows);
			break;
		}
		snprintf(sql, sizeof(sql),
		         "SELECT g, repeat('y', 200) FROM generate_series(1, %d) g", ROWS);
		if (!send_query(fd, sql) || !read_answer(w, fd, !slow, &rows))
			break;
		if (rows != ROWS) {
			snprintf(w->error, sizeof(w->error), "client %d: SELECT gave %lld rows",
			         w->id, rows);
			break;
		}
		if (!copy_in(w, fd))
			break;
		w->requests += 3;
	}
	close(fd);
	return NULL;
}

static void test_slow_and_fast_readers_never_stall(void **state)
{
	static struct worker workers[CLIENTS];
	long long total = 0;
	int failed = 0;

	for (int i = 0; i < CLIENTS; i++) {
		memset(&workers[i], 0, sizeof(workers[i]));
		workers[i].id = i;
		assert_int_equal(pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]),
		                 0);
	}
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(workers[i].thread, NULL);
		total += workers[i].requests;
		if (workers[i].error[0] != 0) {
			fprintf(stderr, "%s\n", workers[i].error);
			failed++;
		}
	}
	printf("relay stress: %d clients, %d rounds, %lld requests completed\n", CLIENTS, rounds,
	       total);
	assert_int_equal(failed, 0);
	assert_int_equal(total, (long long)CLIENTS * rounds * 3);
	assert_true(harness_pgscope_alive(&ps));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slow_and_fast_readers_never_stall),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
