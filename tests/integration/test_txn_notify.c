/*
 * test_txn_notify.c - LISTEN/NOTIFY through pgscope in transaction mode: notifications reach every
 * subscribed client with their payload, only between the listener's transactions; UNLISTEN and
 * disconnect clean up. A flood reaches a reading listener complete and in order; a listener that
 * stops reading holds delivery up only until notify_stall_timeout, then is disconnected with an
 * error, while pgscope's memory stays bounded.
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

static struct harness_pgscope ps;

static int group_setup(void **state)
{
	struct harness_pgscope_opts opts = {
	    .pool_mode = "transaction", .pool_size = 3, .max_client_conn = 50};

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

/* CONN receives a notification on CHANNEL with PAYLOAD within two seconds. */
static void expect_notify(PGconn *conn, const char *channel, const char *payload)
{
	PGnotify *n = harness_wait_notify(conn, 2000);

	if (n == NULL)
		fail_msg("no notification \"%s\" on %s within 2 s", payload, channel);
	assert_string_equal(n->relname, channel);
	assert_string_equal(n->extra, payload);
	PQfreemem(n);
}

/* CONN receives nothing within MS milliseconds. */
static void expect_no_notify(PGconn *conn, int ms)
{
	PGnotify *n = harness_wait_notify(conn, ms);

	if (n != NULL) {
		fprintf(stderr, "unexpected notification on %s: \"%s\"\n", n->relname, n->extra);
		PQfreemem(n);
		fail();
	}
}

/* Two listeners, a third client notifies: both get it with its payload; UNLISTEN stops one. */
static void test_two_listeners(void **state)
{
	PGconn *l1 = connect_pgscope(), *l2 = connect_pgscope(), *n = connect_pgscope();

	assert_true(harness_exec_ok(l1, "LISTEN txn_chan"));
	assert_true(harness_exec_ok(l2, "LISTEN txn_chan"));
	assert_true(harness_exec_ok(n, "NOTIFY txn_chan, 'first payload'"));
	expect_notify(l1, "txn_chan", "first payload");
	expect_notify(l2, "txn_chan", "first payload");
	/* pg_notify() inside a transaction: delivered once, at commit. */
	assert_true(harness_exec_ok(n, "BEGIN"));
	assert_true(harness_exec_ok(n, "SELECT pg_notify('txn_chan', 'from a transaction')"));
	expect_no_notify(l1, 300);
	assert_true(harness_exec_ok(n, "COMMIT"));
	expect_notify(l1, "txn_chan", "from a transaction");
	expect_notify(l2, "txn_chan", "from a transaction");
	/* After UNLISTEN only l2 hears. */
	assert_true(harness_exec_ok(l1, "UNLISTEN txn_chan"));
	assert_true(harness_exec_ok(n, "NOTIFY txn_chan, 'second payload'"));
	expect_notify(l2, "txn_chan", "second payload");
	expect_no_notify(l1, 500);
	/* The listeners' own queries still work between notifications. */
	assert_true(harness_exec_ok(l1, "SELECT 1"));
	assert_true(harness_exec_ok(l2, "SELECT 1"));
	assert_true(harness_exec_ok(l2, "UNLISTEN *"));
	PQfinish(l1);
	PQfinish(l2);
	PQfinish(n);
}

/* A notification that arrives while the listener is in a transaction waits until it ends. */
static void test_delivered_between_transactions(void **state)
{
	PGconn *l = connect_pgscope(), *n = connect_pgscope();

	assert_true(harness_exec_ok(l, "LISTEN txn_wait_chan"));
	assert_true(harness_exec_ok(l, "BEGIN"));
	assert_true(harness_exec_ok(l, "SELECT 1"));
	assert_true(harness_exec_ok(n, "NOTIFY txn_wait_chan, 'after commit'"));
	expect_no_notify(l, 500);
	assert_true(harness_exec_ok(l, "SELECT 2"));
	expect_no_notify(l, 200);
	assert_true(harness_exec_ok(l, "COMMIT"));
	expect_notify(l, "txn_wait_chan", "after commit");
	assert_true(harness_exec_ok(l, "UNLISTEN txn_wait_chan"));
	PQfinish(l);
	PQfinish(n);
}

/* Channels are separate; a listener that disconnects stops nothing for the others. */
static void test_channels_and_disconnect(void **state)
{
	PGconn *a = connect_pgscope(), *b = connect_pgscope(), *gone = connect_pgscope(),
	       *n = connect_pgscope();

	assert_true(harness_exec_ok(a, "LISTEN txn_chan_a"));
	assert_true(harness_exec_ok(b, "LISTEN txn_chan_b"));
	assert_true(harness_exec_ok(gone, "LISTEN txn_chan_a"));
	assert_true(harness_exec_ok(gone, "LISTEN txn_chan_b"));
	PQfinish(gone);
	assert_true(harness_exec_ok(n, "NOTIFY txn_chan_a, 'for a'"));
	assert_true(harness_exec_ok(n, "NOTIFY txn_chan_b, 'for b'"));
	expect_notify(a, "txn_chan_a", "for a");
	expect_notify(b, "txn_chan_b", "for b");
	expect_no_notify(a, 300);
	expect_no_notify(b, 100);
	/* A new listener after the disconnect is served. */
	gone = connect_pgscope();
	assert_true(harness_exec_ok(gone, "LISTEN txn_chan_b"));
	assert_true(harness_exec_ok(n, "NOTIFY txn_chan_b, 'again'"));
	expect_notify(b, "txn_chan_b", "again");
	expect_notify(gone, "txn_chan_b", "again");
	PQfinish(a);
	PQfinish(b);
	PQfinish(gone);
	PQfinish(n);
}

/* ---- floods: many ~1 KB notifications, each payload "%08ld:" + filler, numbered from 1 ---- */

#define FLOOD_FILLER  1000  /* bytes of filler after the sequence number */
#define FLOOD_SEQ_LEN 9     /* "%08ld:" */
#define FLOOD_BATCH   50000 /* notifications per sending transaction */

/* A sender that sends notifications 1..total on a channel, one transaction per batch. */
struct flood {
	PGconn *conn;
	const char *channel;
	long total;
	long queued; /* highest sequence number handed to the server */
	bool busy;   /* a batch is running */
};

/* Start the next batch when the previous one has completed; false on an error. */
static bool flood_step(struct flood *f)
{
	char sql[512];
	long first = f->queued + 1, last = f->queued + FLOOD_BATCH;
	PGresult *res;

	if (!PQconsumeInput(f->conn))
		goto out_error;
	while (f->busy && !PQisBusy(f->conn)) {
		res = PQgetResult(f->conn);
		if (res == NULL) {
			f->busy = false;
			break;
		}
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			PQclear(res);
			goto out_error;
		}
		PQclear(res);
	}
	if (f->busy || f->queued >= f->total)
		return true;
	if (last > f->total)
		last = f->total;
	/* Payloads are unique: PostgreSQL folds identical ones within a transaction. */
	snprintf(sql, sizeof(sql),
	         "SELECT count(pg_notify('%s', lpad(g::text, 8, '0') || ':' || repeat('x', %d)))"
	         " FROM generate_series(%ld, %ld) g",
	         f->channel, FLOOD_FILLER, first, last);
	if (!PQsendQuery(f->conn, sql))
		goto out_error;
	f->queued = last;
	f->busy = true;
	return true;

out_error:
	fprintf(stderr, "flood sender: %s", PQerrorMessage(f->conn));
	return false;
}

/* The sequence number of a flood payload, or -1 when it is not one. */
static long flood_seq(const char *payload, size_t len)
{
	char *end;
	long seq;

	if (len != FLOOD_SEQ_LEN + FLOOD_FILLER || payload[FLOOD_SEQ_LEN - 1] != ':')
		return -1;
	seq = strtol(payload, &end, 10);
	if (end != payload + FLOOD_SEQ_LEN - 1)
		return -1;
	for (size_t i = FLOOD_SEQ_LEN; i < len; i++) {
		if (payload[i] != 'x')
			return -1;
	}
	return seq;
}

/* A libpq listener counting flood notifications, each the next number with its whole payload. */
struct flood_reader {
	PGconn *conn;
	const char *channel;
	long got;
};

/* Take what has arrived; false (after printing why) on a gap, a duplicate or a bad payload. */
static bool flood_read(struct flood_reader *r)
{
	PGnotify *n;

	if (!PQconsumeInput(r->conn)) {
		fprintf(stderr, "flood reader: %s", PQerrorMessage(r->conn));
		return false;
	}
	while ((n = PQnotifies(r->conn)) != NULL) {
		long seq = flood_seq(n->extra, strlen(n->extra));
		bool ok = strcmp(n->relname, r->channel) == 0 && seq == r->got + 1;

		if (!ok)
			fprintf(stderr,
			        "flood reader: after #%ld got \"%.12s...\" (%zu bytes) on %s\n",
			        r->got, n->extra, strlen(n->extra), n->relname);
		PQfreemem(n);
		if (!ok)
			return false;
		r->got++;
	}
	return true;
}

/* Wait up to 100 ms for either connection to have input. */
static void flood_wait(PGconn *a, PGconn *b)
{
	struct pollfd pfd[2] = {{.fd = PQsocket(a), .events = POLLIN},
	                        {.fd = PQsocket(b), .events = POLLIN}};

	poll(pfd, 2, 100);
}

/*
 * 200,000 notifications of ~1 KB to one listener that now and then stops reading for a moment,
 * as a busy application does: every one arrives, once, in order.
 */
static void test_flood_lossless(void **state)
{
	PGconn *l = connect_pgscope(), *s = connect_pgscope();
	struct flood f = {.conn = s, .channel = "txn_flood", .total = 200000};
	struct flood_reader r = {.conn = l, .channel = "txn_flood"};
	long long start = harness_now_ms(), deadline = start + 45000;
	long busy_at = 20000; /* next point where the listener is busy elsewhere */

	assert_true(harness_exec_ok(l, "LISTEN txn_flood"));
	while (r.got < f.total) {
		if (harness_now_ms() > deadline)
			fail_msg("%ld of %ld notifications arrived within 45 s", r.got, f.total);
		assert_true(flood_step(&f));
		assert_true(flood_read(&r));
		if (r.got >= busy_at) {
			/* Not reading while the flood goes on: pgscope must hold it back, not drop
			 * it. */
			harness_sleep_ms(300);
			busy_at += 40000;
		}
		flood_wait(l, s);
	}
	fprintf(stderr, "flood: %ld notifications in %lld ms\n", r.got, harness_now_ms() - start);
	expect_no_notify(l, 300);
	assert_true(harness_exec_ok(l, "UNLISTEN *"));
	PQfinish(l);
	PQfinish(s);
}

/*
 * Run flood F until all of it is sent and reader R, having at least MIN, has got nothing new for
 * QUIET_MS, or has got everything; fails after 30 s. Returns how many R got.
 */
static long flood_until_quiet(struct flood *f, struct flood_reader *r, long min, int quiet_ms)
{
	long long deadline = harness_now_ms() + 30000, quiet_since = harness_now_ms();
	long seen = -1;

	while (r->got < f->total && (f->busy || f->queued < f->total || r->got < min ||
	                             harness_now_ms() - quiet_since < quiet_ms)) {
		if (harness_now_ms() > deadline)
			fail_msg("flood: the reader got %ld of %ld within 30 s", r->got, f->total);
		assert_true(flood_step(f));
		assert_true(flood_read(r));
		if (r->got != seen) {
			seen = r->got;
			quiet_since = harness_now_ms();
		}
		flood_wait(r->conn, f->conn);
	}
	return r->got;
}

/*
 * 1.5 MB of notifications while a listener is in a transaction: what it holds is bounded (the
 * other listener waits), and after COMMIT it gets every one, in order, as does the other.
 */
static void test_flood_held_in_transaction(void **state)
{
	PGconn *l = connect_pgscope(), *other = connect_pgscope(), *s = connect_pgscope();
	struct flood f = {.conn = s, .channel = "txn_held", .total = 1500};
	struct flood_reader in_tx = {.conn = l, .channel = "txn_held"};
	struct flood_reader r = {.conn = other, .channel = "txn_held"};
	long long deadline;

	assert_true(harness_exec_ok(l, "LISTEN txn_held"));
	assert_true(harness_exec_ok(other, "LISTEN txn_held"));
	assert_true(harness_exec_ok(l, "BEGIN"));
	assert_true(harness_exec_ok(l, "SELECT 1"));
	/*
	 * Each one the other listener has, pgscope has also handed to l's held queue. Once that is
	 * full the other listener gets no further until l has taken them.
	 */
	assert_true(flood_until_quiet(&f, &r, 200, 500) < f.total);
	assert_true(flood_read(&in_tx));
	assert_int_equal(in_tx.got, 0); /* nothing inside the transaction */
	assert_true(harness_exec_ok(l, "COMMIT"));
	deadline = harness_now_ms() + 20000;
	while (in_tx.got < f.total || r.got < f.total) {
		if (harness_now_ms() > deadline)
			fail_msg(
			    "after COMMIT: listener %ld, other listener %ld of %ld within 20 s",
			    in_tx.got, r.got, f.total);
		assert_true(flood_step(&f));
		assert_true(flood_read(&in_tx));
		assert_true(flood_read(&r));
		flood_wait(l, other);
	}
	expect_no_notify(l, 300);
	assert_true(harness_exec_ok(l, "UNLISTEN *"));
	assert_true(harness_exec_ok(other, "UNLISTEN *"));
	PQfinish(l);
	PQfinish(other);
	PQfinish(s);
}

/* A raw-protocol listener that does not read until told to, then checks what it had been sent. */
struct stalled_listener {
	int fd;
	long got;          /* flood notifications read, in order from 1 */
	bool error;        /* an ErrorResponse came */
	bool closed;       /* then the connection closed */
	char severity[16]; /* of the error */
	char code[6];
	char message[256];
};

/* Read what has arrived, without waiting for more; false on anything unexpected. */
static bool stalled_read(struct stalled_listener *n)
{
	for (int i = 0; i < 512 && !n->closed; i++) {
		struct pollfd pfd = {.fd = n->fd, .events = POLLIN};
		struct harness_msg m;
		int r;

		if (poll(&pfd, 1, 0) != 1)
			return true;
		r = harness_read_msg(n->fd, &m, 5000);
		if (r == 0) {
			n->closed = true;
			return true;
		}
		if (r < 0 || n->error) {
			fprintf(stderr, "stalled listener: %s\n",
			        r < 0 ? "read failed" : "data after the error");
			free(m.data);
			return false;
		}
		if (m.type == 'E') {
			n->error = true;
			harness_error_field(&m, 'V', n->severity, sizeof(n->severity));
			harness_error_field(&m, 'C', n->code, sizeof(n->code));
			harness_error_field(&m, 'M', n->message, sizeof(n->message));
		} else {
			/* 'A': pid, channel, payload */
			const char *channel = m.data + 4;
			const char *payload = channel + strlen(channel) + 1;

			if (m.type != 'A' || m.len < 6 ||
			    flood_seq(payload, strlen(payload)) != n->got + 1) {
				fprintf(stderr, "stalled listener: unexpected '%c' after #%ld\n",
				        m.type, n->got);
				free(m.data);
				return false;
			}
			n->got++;
		}
		free(m.data);
	}
	return true;
}

/* A raw client that has LISTENed on CHANNEL (its reply read); -1 on failure. */
static int raw_listen(int port, const char *channel)
{
	char sql[128], buf[256];
	size_t used = 0;
	int fd = harness_tcp_connect(port);

	snprintf(sql, sizeof(sql), "LISTEN %s", channel);
	if (fd < 0 || !harness_raw_login(fd, "postgres", "postgres", 5000) ||
	    !txn_put_msg(buf, sizeof(buf), &used, 'Q', sql, strlen(sql) + 1) ||
	    !harness_send_all(fd, buf, used))
		goto out_close;
	for (;;) {
		struct harness_msg m;
		char type;

		if (harness_read_msg(fd, &m, 5000) != 1)
			goto out_close;
		type = m.type;
		free(m.data);
		if (type == 'E')
			goto out_close;
		if (type == 'Z')
			return fd;
	}

out_close:
	fprintf(stderr, "raw LISTEN %s failed\n", channel);
	if (fd >= 0)
		close(fd);
	return -1;
}

/* true once pgscope's log has a line containing NEEDLE. */
static bool log_has(const struct harness_pgscope *p, const char *needle)
{
	const char *argv[] = {"grep", "-qF", needle, p->log_path, NULL};
	struct harness_run_result res;
	bool found;

	if (!harness_run(argv, NULL, 5, &res))
		return false;
	found = res.exit_code == 0;
	harness_run_result_free(&res);
	return found;
}

/*
 * Start pgscope with OPTS; on CHANNEL a raw listener that will not read (its socket into *FD), a
 * reading listener R and a sender F.
 */
static void start_stall_scene(struct harness_pgscope *p, const struct harness_pgscope_opts *opts,
                              const char *channel, int *fd, struct flood_reader *r, struct flood *f)
{
	char sql[64];

	assert_true(harness_pgscope_start(p, opts));
	*fd = raw_listen(p->port, channel);
	assert_true(*fd >= 0);
	r->channel = f->channel = channel;
	r->conn = harness_connect(p->port, NULL);
	f->conn = harness_connect(p->port, NULL);
	assert_non_null(r->conn);
	assert_non_null(f->conn);
	snprintf(sql, sizeof(sql), "LISTEN %s", channel);
	assert_true(harness_exec_ok(r->conn, sql));
}

/*
 * A listener that never reads holds delivery up for notify_stall_timeout, then is disconnected
 * with FATAL 53400 after every notification it was sent, in order; a reading listener gets the
 * whole flood, other clients keep working, and pgscope's memory stays bounded.
 */
static void test_stalled_listener(void **state)
{
	struct harness_pgscope p;
	struct harness_pgscope_opts opts = {.pool_mode = "transaction",
	                                    .pool_size = 3,
	                                    .max_client_conn = 20,
	                                    .max_packet_size = 64L * 1024 * 1024,
	                                    .extra_main = "notify_stall_timeout = 2"};
	struct stalled_listener n = {.fd = -1};
	struct flood f = {.total = 100000};
	struct flood_reader r = {0};
	PGconn *other;
	long rss_before, rss_max, queries = 0;
	long long deadline, next_query = 0, next_log_check = 0;
	bool given_up = false;

	if (harness_direct_mode())
		skip(); /* PostgreSQL itself lets a listener fall behind */
	start_stall_scene(&p, &opts, "txn_stall", &n.fd, &r, &f);
	other = harness_connect(p.port, NULL);
	assert_non_null(other);
	rss_before = rss_max = harness_pgscope_rss_kb(&p);
	assert_true(rss_before > 0);
	deadline = harness_now_ms() + 45000;
	while (r.got < f.total || !n.closed) {
		long rss = harness_pgscope_rss_kb(&p);

		if (harness_now_ms() > deadline)
			fail_msg("after 45 s: reader %ld of %ld, stalled listener %ld, error %s, "
			         "closed %d, pgscope RSS %ld -> max %ld kB",
			         r.got, f.total, n.got, n.error ? n.code : "none", n.closed,
			         rss_before, rss_max);
		if (rss > rss_max)
			rss_max = rss;
		assert_true(flood_step(&f));
		assert_true(flood_read(&r));
		/* The stalled listener reads only once pgscope has given up on it. */
		if (!given_up && harness_now_ms() >= next_log_check) {
			given_up = log_has(&p, "event=listen.stalled");
			next_log_check = harness_now_ms() + 100;
		}
		if (given_up)
			assert_true(stalled_read(&n));
		if (harness_now_ms() >= next_query) {
			/* Other clients of the pool are served while delivery is held up. */
			assert_true(harness_exec_ok(other, "SELECT 1"));
			queries++;
			next_query = harness_now_ms() + 200;
		}
		flood_wait(r.conn, f.conn);
	}
	fprintf(stderr,
	        "stall: reader %ld, stalled listener %ld then %s, pgscope RSS %ld -> max %ld kB\n",
	        r.got, n.got, n.code, rss_before, rss_max);
	assert_true(n.error);
	assert_string_equal(n.severity, "FATAL");
	assert_string_equal(n.code, "53400");
	assert_true(n.got < f.total);
	assert_true(queries >= 10);
	assert_true(rss_max - rss_before < 32 * 1024);
	assert_true(log_has(&p, "pending_bytes="));
	expect_no_notify(r.conn, 300);
	close(n.fd);
	PQfinish(r.conn);
	PQfinish(f.conn);
	PQfinish(other);
	assert_true(harness_pgscope_stop(&p));
}

/*
 * A listener that stops reading holds delivery up; when it disconnects by itself, delivery to the
 * others resumes at once, long before notify_stall_timeout, with nothing lost.
 */
static void test_stalled_listener_leaves(void **state)
{
	struct harness_pgscope p;
	struct harness_pgscope_opts opts = {.pool_mode = "transaction",
	                                    .pool_size = 3,
	                                    .max_client_conn = 20,
	                                    .extra_main = "notify_stall_timeout = 60"};
	struct flood f = {.total = 30000};
	struct flood_reader r = {0};
	long long deadline;
	int fd;

	if (harness_direct_mode())
		skip(); /* PostgreSQL itself lets a listener fall behind */
	start_stall_scene(&p, &opts, "txn_leave", &fd, &r, &f);
	/* Everything is sent, and the reader gets no further: delivery waits for the other one. */
	assert_true(flood_until_quiet(&f, &r, 0, 1000) < f.total);
	close(fd);
	/* 10 s: well inside notify_stall_timeout, so only its going away can have released it. */
	deadline = harness_now_ms() + 10000;
	while (r.got < f.total) {
		if (harness_now_ms() > deadline)
			fail_msg("delivery did not resume: reader got %ld of %ld", r.got, f.total);
		assert_true(flood_read(&r));
		flood_wait(r.conn, f.conn);
	}
	expect_no_notify(r.conn, 300);
	PQfinish(r.conn);
	PQfinish(f.conn);
	assert_true(harness_pgscope_stop(&p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_two_listeners, check_alive),
	    cmocka_unit_test_teardown(test_delivered_between_transactions, check_alive),
	    cmocka_unit_test_teardown(test_channels_and_disconnect, check_alive),
	    cmocka_unit_test_teardown(test_flood_lossless, check_alive),
	    cmocka_unit_test_teardown(test_flood_held_in_transaction, check_alive),
	    cmocka_unit_test(test_stalled_listener),
	    cmocka_unit_test(test_stalled_listener_leaves),
	};

	return cmocka_run_group_tests_name("txn_notify", tests, group_setup, group_teardown);
}
