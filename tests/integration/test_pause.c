/*
 * test_pause.c - PAUSE and RESUME through their signal-free API
 * (pool_pause(), pool_resume(), pool_pause_done()), as the admin console
 * will call them.
 *
 * Drives the pooler's own modules on a loop of the test's, against the real
 * primary: two databases with one server each. Pausing one closes its idle
 * server and leaves the other running; a server busy when PAUSE comes is
 * closed only once its query is done, and only then is the pool paused;
 * RESUME opens servers again; a pool made during PAUSE of every database
 * starts paused.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/config.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/pool.h"
#include "pooler/pooler.h"
#include "pooler/server.h"
#include "tests/integration/harness.h"

static struct config cfg;
static struct pool *pa, *pb;

/* Run the loop until COND(ARG) or a 10 s limit. */
static bool run_until(bool (*cond)(const void *), const void *arg)
{
	ev_tstamp deadline = ev_time() + 10;

	while (!cond(arg) && ev_time() < deadline)
		ev_run(pooler.loop->ev, EVRUN_ONCE | EVRUN_NOWAIT);
	return cond(arg);
}

static bool has_idle_server(const void *arg)
{
	const struct pool *p = arg;

	return !list_empty(&p->idle_servers);
}

static bool pool_is_paused(const void *arg)
{
	return ((const struct pool *)arg)->pause == POOL_PAUSED;
}

/* A pool for NAME with one idle server, logged in to the primary. */
static struct pool *pool_with_server(const char *name)
{
	char err[256];
	struct pool *p =
	    pool_get(pooler.loop, config_find_db(&cfg, name), "postgres", err, sizeof(err));

	if (p == NULL || server_connect(p, p->primary) == NULL || !run_until(has_idle_server, p)) {
		fprintf(stderr, "%s: no server logged in\n", name);
		return NULL;
	}
	return p;
}

static int group_setup(void **state)
{
	const struct harness_cluster *cl = harness_cluster();
	char path[] = "/tmp/pgscope-pause-XXXXXX.ini", err[256];
	int fd = mkstemps(path, 4);
	FILE *f;

	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	fprintf(f,
	        "[pgscope]\nlisten_port = 1\nauth_type = trust\npool_mode = transaction\n"
	        "[databases]\n"
	        "pa = host=%s port=%d dbname=postgres user=postgres\n"
	        "pb = host=%s port=%d dbname=postgres user=postgres\n"
	        "pc = host=%s port=%d dbname=postgres user=postgres\n",
	        cl->host, cl->port, cl->host, cl->port, cl->host, cl->port);
	fclose(f);
	config_init_defaults(&cfg);
	if (!config_load(&cfg, path, err, sizeof(err))) {
		fprintf(stderr, "config: %s\n", err);
		remove(path);
		return -1;
	}
	remove(path);
	log_setup(NULL, false, LOG_WARNING);
	pooler_init_state(&cfg, ev_default_loop(0));
	pa = pool_with_server("pa");
	pb = pool_with_server("pb");
	return pa != NULL && pb != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
	for (struct list *it = pooler.loop->pools.next; it != &pooler.loop->pools; it = it->next)
		pool_shutdown(list_entry(it, struct pool, node));
	config_free(&cfg);
	return 0;
}

/* PAUSE of one database: its idle server closed at once, the other database untouched. */
static void test_pause_one_database(void **state)
{
	assert_true(pool_pause(pooler.loop, "pa"));
	assert_int_equal(pa->pause, POOL_PAUSED);
	assert_int_equal(pa->n_servers, 0);
	assert_true(pool_pause_done(pooler.loop, "pa"));
	assert_int_equal(pb->pause, POOL_RUNNING);
	assert_int_equal(pb->n_servers, 1);
	assert_false(pool_pause_done(pooler.loop, NULL));
	/* Nothing opens a server for a paused pool, not even the janitor. */
	pool_janitor(pa, ev_now(pooler.loop->ev));
	assert_int_equal(pa->n_servers, 0);

	pool_resume(pooler.loop, "pa");
	assert_int_equal(pa->pause, POOL_RUNNING);
	assert_non_null(server_connect(pa, pa->primary));
	assert_true(run_until(has_idle_server, pa));
}

static void query_done(struct server *sv, void *arg, bool failed)
{
	*(bool *)arg = true;
	pool_server_ready(sv);
}

static const struct server_query_ops slow_ops = {.name = "test", .on_done = query_done};

/* A server busy at PAUSE: the pool is pausing until its query is done, then paused. */
static void test_pause_waits_for_busy_server(void **state)
{
	struct server *sv = list_entry(list_first(&pb->idle_servers), struct server, node);
	bool done = false;

	assert_true(server_query(sv, "SELECT pg_sleep(0.3)", &slow_ops, &done));
	assert_true(pool_pause(pooler.loop, NULL));
	assert_int_equal(pa->pause, POOL_PAUSED); /* its server was idle */
	assert_int_equal(pb->pause, POOL_PAUSING);
	assert_int_equal(pb->n_servers, 1);
	assert_false(pool_pause_done(pooler.loop, NULL));
	assert_true(run_until(pool_is_paused, pb));
	assert_true(done); /* the query finished, then its server was closed */
	assert_int_equal(pb->n_servers, 0);
	assert_true(pool_pause_done(pooler.loop, NULL));
}

/* While every database is paused, a new pool starts paused; RESUME of all lets it open. */
static void test_pause_all_covers_new_pools(void **state)
{
	char err[256];
	struct pool *pc =
	    pool_get(pooler.loop, config_find_db(&cfg, "pc"), "postgres", err, sizeof(err));
	bool opened;

	assert_non_null(pc);
	assert_int_equal(pc->pause, POOL_PAUSED);
	/* RESUME of one database does not lift a PAUSE of all. */
	pool_resume(pooler.loop, "pc");
	assert_int_equal(pc->pause, POOL_PAUSED);

	pool_resume(pooler.loop, NULL);
	assert_int_equal(pa->pause, POOL_RUNNING);
	assert_int_equal(pb->pause, POOL_RUNNING);
	assert_int_equal(pc->pause, POOL_RUNNING);
	opened = server_connect(pc, pc->primary) != NULL;
	assert_true(opened);
	assert_true(run_until(has_idle_server, pc));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pause_one_database),
	    cmocka_unit_test(test_pause_waits_for_busy_server),
	    cmocka_unit_test(test_pause_all_covers_new_pools),
	};

	return cmocka_run_group_tests_name("pause", tests, group_setup, group_teardown);
}
