/*
 * test_live_analysis.c - the pooler reads each database's schema through its
 * own server connections, so the rules that need a schema judge live
 * traffic: no schema is given to pgscope, only a database behind it with a
 * large unindexed table.
 *
 * psql sends the queries of a new user's first try through pgscope; the log
 * must name unindexed-filter, missing-pagination, heavy-join and
 * leading-wildcard-like. Then CREATE INDEX goes through pgscope too: the DDL
 * makes the pooler read the schema again (a new generation), and the same
 * query's unindexed-filter finding is cleared.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"

#define DB "live_analysis"

static struct harness_pgscope ps;
static char port_arg[16];

static const char schema_sql[] =
    "CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int NOT NULL, total numeric(10,2), "
    "  status text, note text);"
    "CREATE TABLE order_items (id bigserial PRIMARY KEY, order_id bigint NOT NULL, sku int);"
    "INSERT INTO orders (user_id, total, status, note) SELECT g % 2000, g % 500, "
    "  (ARRAY['open','done','done'])[1 + g % 3], 'note ' || g FROM generate_series(1, 100000) g;"
    "INSERT INTO order_items (order_id, sku) SELECT 1 + g % 100000, g % 900 "
    "  FROM generate_series(1, 200000) g;"
    "ANALYZE;";

/* The queries a new user tries first, and the rule each must raise. */
static const struct {
	const char *sql;
	const char *rule;
} tries[] = {
    {"SELECT id, total FROM orders WHERE user_id = 5", "unindexed-filter"},
    {"SELECT * FROM orders WHERE note LIKE '%42%'", "leading-wildcard-like"},
    {"SELECT id, total FROM orders WHERE status = 'open'", "missing-pagination"},
    {"SELECT o.id, i.sku FROM orders o JOIN order_items i ON i.order_id = o.id "
     "WHERE o.user_id = 7",
     "heavy-join"},
};

static PGconn *direct(const char *dbname)
{
	const struct harness_cluster *cl = harness_cluster();
	char dsn[256];

	snprintf(dsn, sizeof(dsn), "host=%s port=%d user=postgres dbname=%s", cl->host, cl->port,
	         dbname);
	return PQconnectdb(dsn);
}

static int group_setup(void **state)
{
	PGconn *c = direct("postgres");
	struct harness_pgscope_opts opts = {.pool_mode = "transaction", .pool_size = 4};
	bool ok;

	if (PQstatus(c) != CONNECTION_OK)
		return -1;
	harness_exec_ok(c, "DROP DATABASE IF EXISTS " DB);
	ok = harness_exec_ok(c, "CREATE DATABASE " DB);
	PQfinish(c);
	if (!ok)
		return -1;
	c = direct(DB);
	ok = PQstatus(c) == CONNECTION_OK && harness_exec_ok(c, schema_sql);
	PQfinish(c);
	if (!ok || !harness_pgscope_start(&ps, &opts))
		return -1;
	snprintf(port_arg, sizeof(port_arg), "%d", ps.port);
	return 0;
}

static int group_teardown(void **state)
{
	PGconn *c;

	harness_pgscope_stop(&ps);
	c = direct("postgres");
	if (PQstatus(c) == CONNECTION_OK)
		harness_exec_ok(c, "DROP DATABASE IF EXISTS " DB);
	PQfinish(c);
	return 0;
}

/* Run SQL with psql through pgscope; true when psql exits 0. */
static bool psql(const char *sql)
{
	const char *argv[] = {
	    "psql",     "-X", "-q", "-h", "127.0.0.1",       "-p", port_arg, "-U",
	    "postgres", "-d", DB,   "-v", "ON_ERROR_STOP=1", "-c", sql,      NULL};
	struct harness_run_result res;
	bool ok;

	if (!harness_run(argv, NULL, 60, &res))
		return false;
	ok = res.exit_code == 0;
	if (!ok)
		fprintf(stderr, "psql %s: %s\n", sql, res.output);
	harness_run_result_free(&res);
	return ok;
}

/* The log, read whole (caller frees); NULL if unreadable. */
static char *read_log(void)
{
	FILE *f = fopen(ps.log_path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* The last line of the log holding every one of the NULL-terminated needles, copied to out. */
static bool last_line_with(const char *const *needles, char *out, size_t outsz)
{
	char *log = read_log();
	char *line, *save = NULL;
	bool found = false;

	if (log == NULL)
		return false;
	for (line = strtok_r(log, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		bool all = true;

		for (int i = 0; needles[i] != NULL && all; i++)
			all = strstr(line, needles[i]) != NULL;
		if (all) {
			snprintf(out, outsz, "%s", line);
			found = true;
		}
	}
	free(log);
	return found;
}

/* Wait up to TIMEOUT_MS for a log line with every needle. */
static bool wait_line(const char *const *needles, int timeout_ms, char *out, size_t outsz)
{
	long long until = harness_now_ms() + timeout_ms;

	while (harness_now_ms() < until) {
		if (last_line_with(needles, out, outsz))
			return true;
		harness_sleep_ms(50);
	}
	return false;
}

/* The value of KEY=... in a logfmt line, into out. */
static void field(const char *line, const char *key, char *out, size_t outsz)
{
	char pat[64];
	const char *at;
	size_t n = 0;

	snprintf(pat, sizeof(pat), " %s=", key);
	out[0] = 0;
	at = strstr(line, pat);
	if (at == NULL)
		return;
	at += strlen(pat);
	while (at[n] != 0 && at[n] != ' ' && n + 1 < outsz)
		n++;
	memcpy(out, at, n);
	out[n] = 0;
}

static void test_live_traffic_is_judged_against_the_schema(void **state)
{
	const char *loaded[] = {"event=schema.loaded", "db=" DB, "generation=1", NULL};
	char line[4096];

	/* The first client makes the pool; its idle server then reads the schema. */
	assert_true(psql("SELECT 1"));
	assert_true(wait_line(loaded, 10000, line, sizeof(line)));
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		assert_true(psql(tries[i].sql));
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		const char *flagged[] = {"event=query.flagged", tries[i].rule, NULL};

		if (!wait_line(flagged, 10000, line, sizeof(line))) {
			harness_pgscope_dump_log(&ps);
			fail_msg("no query.flagged naming %s for: %s", tries[i].rule, tries[i].sql);
		}
	}
}

static void test_new_index_clears_the_finding(void **state)
{
	const char *before[] = {"event=query.flagged", "unindexed-filter", "user_id = $1",
	                        "FROM orders WHERE", NULL};
	const char *gen2[] = {"event=schema.loaded", "db=" DB, "generation=2", NULL};
	char line[4096], fp[64], pat[96];

	assert_true(psql(tries[0].sql));
	assert_true(wait_line(before, 10000, line, sizeof(line)));
	field(line, "fingerprint", fp, sizeof(fp));
	assert_true(strlen(fp) == 16);

	/* DDL through the pooler: the schema is read again soon after. */
	assert_true(psql("CREATE INDEX orders_user_id ON orders (user_id)"));
	assert_true(wait_line(gen2, 10000, line, sizeof(line)));
	assert_true(psql(tries[0].sql));

	/* The fingerprint's next verdict: cleared, or flagged without unindexed-filter. */
	snprintf(pat, sizeof(pat), "fingerprint=%s", fp);
	{
		const char *cleared[] = {"event=query.cleared", pat, NULL};
		const char *reflagged[] = {"event=query.flagged", pat, NULL};
		long long until = harness_now_ms() + 10000;
		bool seen = false;

		while (!seen && harness_now_ms() < until) {
			if (last_line_with(cleared, line, sizeof(line)) ||
			    (last_line_with(reflagged, line, sizeof(line)) &&
			     strstr(line, "unindexed-filter") == NULL))
				seen = true;
			else
				harness_sleep_ms(50);
		}
		if (!seen)
			harness_pgscope_dump_log(&ps);
		assert_true(seen);
		assert_null(strstr(line, " rules=unindexed-filter"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_live_traffic_is_judged_against_the_schema),
	    cmocka_unit_test(test_new_index_clears_the_finding),
	};

	if (harness_direct_mode()) {
		fprintf(stderr,
		        "test_live_analysis: pgscope's own analysis, nothing to run directly\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
