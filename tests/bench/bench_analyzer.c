/*
 * bench_analyzer.c - cost of analysing a distinct OLTP query (parse + all rules) and of a cached
 * repeat.
 *
 * Prints median and p99 in microseconds, by wall clock and by the thread's CPU
 * time (the second is the analyzer's own cost when the machine is busy).
 * Timer overhead (two clock reads) is included in the cached figures. Not a test: the numbers
 * depend on the machine. Run with `make bench-analyzer`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer/cache.h"
#include "analyzer/catalog.h"
#include "analyzer/engine.h"
#include "analyzer/parse.h"

#define N_DISTINCT 20000
#define N_CACHED   200000

/* OLTP statements in the shape applications send (pgbench and typical CRUD). */
static const char *const templates[] = {
    "SELECT abalance FROM pgbench_accounts WHERE aid = %d",
    "UPDATE pgbench_accounts SET abalance = abalance + %d WHERE aid = %d",
    "UPDATE pgbench_tellers SET tbalance = tbalance + %d WHERE tid = %d",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%d, %d, 7, 3, "
    "CURRENT_TIMESTAMP)",
    "SELECT id, email, name FROM users WHERE id = %d",
    "SELECT o.id, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE "
    "c.id = %d AND o.status = 'open' ORDER BY o.created_at DESC LIMIT %d",
    "SELECT count(*) FROM sessions WHERE user_id = %d AND expires_at > now() - interval '%d "
    "minutes'",
    "DELETE FROM cart_items WHERE cart_id = %d AND product_id = %d",
};
#define N_TEMPLATES (sizeof(templates) / sizeof(templates[0]))

/* CPU time of this thread: the analyzer's own cost, unaffected by other load on the machine. */
static double cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/*
 * The schema the statements run against, so the rules that need one run too:
 * large tables with their primary keys and the usual secondary indexes.
 */
static const char schema_json[] =
    "{\"tables\":["
    "{\"schema\":\"public\",\"name\":\"pgbench_accounts\",\"reltuples\":10000000,\"relpages\":"
    "163935,"
    " \"columns\":[{\"name\":\"aid\",\"type\":\"integer\",\"not_null\":true},"
    "  {\"name\":\"bid\",\"type\":\"integer\"},{\"name\":\"abalance\",\"type\":\"integer\"},"
    "  {\"name\":\"filler\",\"type\":\"character(84)\"}],"
    " \"indexes\":[{\"name\":\"pgbench_accounts_pkey\",\"method\":\"btree\",\"unique\":true,"
    "  \"primary\":true,\"keys\":[{\"column\":\"aid\",\"opclass\":\"int4_ops\"}]}]},"
    "{\"schema\":\"public\",\"name\":\"pgbench_tellers\",\"reltuples\":1000,\"relpages\":10,"
    " \"columns\":[{\"name\":\"tid\",\"type\":\"integer\",\"not_null\":true},"
    "  {\"name\":\"bid\",\"type\":\"integer\"},{\"name\":\"tbalance\",\"type\":\"integer\"}],"
    " \"indexes\":[{\"name\":\"pgbench_tellers_pkey\",\"method\":\"btree\",\"unique\":true,"
    "  \"primary\":true,\"keys\":[{\"column\":\"tid\",\"opclass\":\"int4_ops\"}]}]},"
    "{\"schema\":\"public\",\"name\":\"pgbench_history\",\"reltuples\":5000000,\"relpages\":40000,"
    " \"columns\":[{\"name\":\"tid\",\"type\":\"integer\"},{\"name\":\"bid\",\"type\":\"integer\"},"
    "  {\"name\":\"aid\",\"type\":\"integer\"},{\"name\":\"delta\",\"type\":\"integer\"},"
    "  {\"name\":\"mtime\",\"type\":\"timestamp without time zone\"}],\"indexes\":[]},"
    "{\"schema\":\"public\",\"name\":\"users\",\"reltuples\":2000000,\"relpages\":40000,"
    " \"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"not_null\":true},"
    "  {\"name\":\"email\",\"type\":\"text\"},{\"name\":\"name\",\"type\":\"text\"}],"
    " \"indexes\":[{\"name\":\"users_pkey\",\"method\":\"btree\",\"unique\":true,\"primary\":true,"
    "  \"keys\":[{\"column\":\"id\",\"opclass\":\"int8_ops\"}]}]},"
    "{\"schema\":\"public\",\"name\":\"customers\",\"reltuples\":500000,\"relpages\":9000,"
    " \"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"not_null\":true}],"
    " \"indexes\":[{\"name\":\"customers_pkey\",\"method\":\"btree\",\"unique\":true,"
    "  \"primary\":true,\"keys\":[{\"column\":\"id\",\"opclass\":\"int8_ops\"}]}]},"
    "{\"schema\":\"public\",\"name\":\"orders\",\"reltuples\":20000000,\"relpages\":300000,"
    " \"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"not_null\":true},"
    "  {\"name\":\"customer_id\",\"type\":\"bigint\"},{\"name\":\"status\",\"type\":\"text\"},"
    "  "
    "{\"name\":\"total\",\"type\":\"numeric\"},{\"name\":\"created_at\",\"type\":\"timestamptz\"}],"
    " \"indexes\":[{\"name\":\"orders_pkey\",\"method\":\"btree\",\"unique\":true,\"primary\":true,"
    "  \"keys\":[{\"column\":\"id\",\"opclass\":\"int8_ops\"}]},"
    "  {\"name\":\"orders_customer_created\",\"method\":\"btree\","
    "  \"keys\":[{\"column\":\"customer_id\",\"opclass\":\"int8_ops\"},"
    "   {\"column\":\"created_at\",\"opclass\":\"timestamptz_ops\",\"desc\":true}]}]},"
    "{\"schema\":\"public\",\"name\":\"sessions\",\"reltuples\":3000000,\"relpages\":50000,"
    " \"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"not_null\":true},"
    "  "
    "{\"name\":\"user_id\",\"type\":\"bigint\"},{\"name\":\"expires_at\",\"type\":\"timestamptz\"}]"
    ","
    " \"indexes\":[{\"name\":\"sessions_user\",\"method\":\"btree\","
    "  \"keys\":[{\"column\":\"user_id\",\"opclass\":\"int8_ops\"}]}]},"
    "{\"schema\":\"public\",\"name\":\"cart_items\",\"reltuples\":800000,\"relpages\":6000,"
    " \"columns\":[{\"name\":\"cart_id\",\"type\":\"bigint\"},{\"name\":\"product_id\",\"type\":"
    "\"bigint\"}],"
    " \"indexes\":[{\"name\":\"cart_items_pkey\",\"method\":\"btree\",\"unique\":true,\"primary\":"
    "true,"
    "  \"keys\":[{\"column\":\"cart_id\",\"opclass\":\"int8_ops\"},"
    "   {\"column\":\"product_id\",\"opclass\":\"int8_ops\"}]}]}"
    "]}";

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

static void report(const char *what, double *t, size_t n)
{
	qsort(t, n, sizeof(*t), cmp_double);
	printf("%-40s median %8.3f us   p99 %8.3f us   (n=%zu)\n", what, t[n / 2],
	       t[(size_t)((double)n * 0.99)], n);
}

int main(void)
{
	static char texts[N_DISTINCT][256];
	double *t = malloc(sizeof(double) * (N_CACHED > N_DISTINCT ? N_CACHED : N_DISTINCT));
	double *c = malloc(sizeof(double) * (N_CACHED > N_DISTINCT ? N_CACHED : N_DISTINCT));
	struct analysis_cache *cache = analysis_cache_new(N_DISTINCT * 2, 256u << 20);
	char err[256];
	struct catalog *cat = catalog_load_json(schema_json, strlen(schema_json), err, sizeof(err));
	size_t findings = 0;

	if (t == NULL || c == NULL || cache == NULL || cat == NULL) {
		fprintf(stderr, "bench: setup failed%s%s\n", cat == NULL ? ": " : "",
		        cat == NULL ? err : "");
		return 1;
	}
	for (int i = 0; i < N_DISTINCT; i++)
		snprintf(texts[i], sizeof(texts[i]), templates[(size_t)i % N_TEMPLATES], 1000 + i,
		         i % 97 + 1);
	/* Warm up libpg_query's memory context and the code paths. */
	for (int i = 0; i < 200; i++)
		analysis_free(analyze_sql(texts[i], strlen(texts[i]), cat, NULL, NULL));

	for (int i = 0; i < N_DISTINCT; i++) {
		double c0 = cpu_us(), t0 = now_us();
		const struct analysis *a =
		    analysis_cache_analyze(cache, texts[i], strlen(texts[i]), cat, NULL, NULL);
		t[i] = now_us() - t0;
		c[i] = cpu_us() - c0;
		findings += a != NULL ? a->n_findings : 0;
	}
	report("distinct query, wall clock", t, N_DISTINCT);
	report("distinct query, thread CPU time", c, N_DISTINCT);

	double batch0 = cpu_us();
	for (int i = 0; i < N_CACHED; i++) {
		const char *q = texts[(size_t)i * 7919 % N_DISTINCT];
		double t0 = now_us();
		const struct analysis *a =
		    analysis_cache_analyze(cache, q, strlen(q), cat, NULL, NULL);
		t[i] = now_us() - t0;
		findings += a != NULL ? a->n_findings : 0;
	}
	double batch = cpu_us() - batch0;
	report("cached repeat, wall clock", t, N_CACHED);
	/* A CPU-clock read costs about a microsecond itself, so the cached case is timed in bulk.
	 */
	printf("%-40s mean   %8.3f us   (incl. one wall-clock pair per call)\n",
	       "cached repeat, thread CPU time", batch / N_CACHED);

	struct analysis_cache_stats st;
	analysis_cache_get_stats(cache, &st);
	printf("cache: %llu hits, %llu misses, %zu entries, %zu bytes; findings seen %zu\n",
	       (unsigned long long)st.hits, (unsigned long long)st.misses, st.entries, st.bytes,
	       findings);
	analysis_cache_free(cache);
	catalog_free(cat);
	free(t);
	free(c);
	parse_thread_cleanup();
	return 0;
}
