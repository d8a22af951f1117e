/*
 * test_reload.c - what a reload finds changed between two config files:
 * [databases] entries added, removed, changed in how servers connect, or
 * changed only in pool settings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pooler/config.h"
#include "pooler/reload.h"

static char tmpdir[64];

static int setup_all(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgscope-test-reload-XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown_all(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/a.ini", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/b.ini", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

/* Load a config whose [databases] section is DBS into CFG, written to NAME. */
static void load(struct config *cfg, const char *name, const char *dbs)
{
	char path[128], err[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[pgscope]\nlisten_addr = 127.0.0.1\n[databases]\n%s", dbs);
	assert_int_equal(fclose(f), 0);
	if (!config_load(cfg, path, err, sizeof(err)))
		fail_msg("%s", err);
}

static const struct db_config *entry(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_dbs; i++) {
		if (strcmp(cfg->dbs[i].name, name) == 0)
			return &cfg->dbs[i];
	}
	fail_msg("no entry %s", name);
	return NULL;
}

/* The change found for NAME in DIFF[0..N), or RELOAD_DB_SAME when it is not listed. */
static enum reload_db_change change_of(const struct reload_db_diff *diff, size_t n,
                                       const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(diff[i].name, name) == 0)
			return diff[i].change;
	}
	return RELOAD_DB_SAME;
}

static void test_diff_added_removed_changed(void **state)
{
	struct config a, b;
	struct reload_db_diff diff[8];
	size_t n;

	load(&a, "a.ini",
	     "same = host=h1 port=5432 dbname=x\n"
	     "sized = host=h1 pool_size=5\n"
	     "moved = host=h1 port=5432\n"
	     "appname = host=h1 application_name=one\n"
	     "gone = host=h1\n");
	load(&b, "b.ini",
	     "new = host=h2\n"
	     "same = host=h1 port=5432 dbname=x\n"
	     "sized = host=h1 pool_size=9\n"
	     "moved = host=h1 port=5433\n"
	     "appname = host=h1 application_name=two\n");
	n = reload_diff_dbs(&a, &b, diff, 8);
	assert_int_equal(n, 5);
	assert_int_equal(change_of(diff, n, "new"), RELOAD_DB_ADDED);
	assert_int_equal(change_of(diff, n, "sized"), RELOAD_DB_SETTINGS);
	assert_int_equal(change_of(diff, n, "moved"), RELOAD_DB_CONNECTION);
	assert_int_equal(change_of(diff, n, "appname"), RELOAD_DB_CONNECTION);
	assert_int_equal(change_of(diff, n, "gone"), RELOAD_DB_REMOVED);
	assert_int_equal(change_of(diff, n, "same"), RELOAD_DB_SAME);
	/* New entries in file order first, then the removed ones. */
	assert_string_equal(diff[0].name, "new");
	assert_string_equal(diff[4].name, "gone");

	/* MAX bounds what is written, not the count. */
	assert_int_equal(reload_diff_dbs(&a, &b, diff, 2), 5);
	assert_int_equal(reload_diff_dbs(&a, &a, diff, 8), 0);
	config_free(&a);
	config_free(&b);
}

static void test_compare_fields(void **state)
{
	struct config a, b;

	load(&a, "a.ini",
	     "cq = host=h connect_query='SELECT 1'\n"
	     "user = host=h user=u1\n"
	     "mode = host=h pool_mode=session\n"
	     "reserve = host=h reserve_pool=1\n"
	     "tz = host=h timezone=UTC\n"
	     "rr = host=h replicas=r1 read_routing=off\n");
	load(&b, "b.ini",
	     "cq = host=h connect_query='SELECT 2'\n"
	     "user = host=h user=u2\n"
	     "mode = host=h pool_mode=transaction\n"
	     "reserve = host=h reserve_pool=2\n"
	     "tz = host=h\n"
	     "rr = host=h replicas=r1 read_routing=replicas\n");
	assert_int_equal(reload_db_compare(entry(&a, "cq"), entry(&b, "cq")), RELOAD_DB_CONNECTION);
	assert_int_equal(reload_db_compare(entry(&a, "user"), entry(&b, "user")),
	                 RELOAD_DB_CONNECTION);
	assert_int_equal(reload_db_compare(entry(&a, "mode"), entry(&b, "mode")),
	                 RELOAD_DB_SETTINGS);
	assert_int_equal(reload_db_compare(entry(&a, "reserve"), entry(&b, "reserve")),
	                 RELOAD_DB_SETTINGS);
	assert_int_equal(reload_db_compare(entry(&a, "tz"), entry(&b, "tz")), RELOAD_DB_CONNECTION);
	assert_int_equal(reload_db_compare(entry(&a, "tz"), entry(&a, "tz")), RELOAD_DB_SAME);
	assert_int_equal(reload_db_compare(entry(&a, "rr"), entry(&b, "rr")), RELOAD_DB_SETTINGS);
	assert_int_equal(reload_db_compare(NULL, entry(&b, "tz")), RELOAD_DB_ADDED);
	assert_int_equal(reload_db_compare(entry(&a, "tz"), NULL), RELOAD_DB_REMOVED);
	/* A copy made for a pool compares equal to its source. */
	{
		struct db_config *copy = config_db_instantiate(entry(&a, "cq"), "cq");

		assert_non_null(copy);
		assert_int_equal(reload_db_compare(copy, entry(&a, "cq")), RELOAD_DB_SAME);
		config_db_free(copy);
	}
	config_free(&a);
	config_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_diff_added_removed_changed),
	    cmocka_unit_test(test_compare_fields),
	};

	return cmocka_run_group_tests_name("reload", tests, setup_all, teardown_all);
}
