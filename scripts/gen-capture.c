/*
 * gen-capture.c - write a synthetic workload twice: as a pgscope capture file
 * (docs/capture.md) and as the PostgreSQL stderr log (log_min_duration_statement
 * = 0, log_line_prefix '%m [%p] ') of the same statements, for the report benchmark.
 *
 *   gen-capture N CAPTURE.jsonl POSTGRES.log [SEED]
 *
 * The mix is pgbench-like traffic plus anti-patterns: an N+1 loop, SELECT *,
 * ORDER BY random(), IN lists of varying length, unbounded DELETE. Built by
 * scripts/bench-report with the project's libpg_query (for fingerprints).
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pg_query.h>

struct tmpl {
	const char *fmt; /* %d: a number; %L: an IN list of 1..20 numbers; %S: a string */
	int weight;
	double mean_ms;
	const char *tag;
	int rows;
	uint64_t fp;
	char *normalized;
	int seen;
};

/* Only the first five fields are given; the rest are filled at start. */
static struct tmpl tmpls[] = {
    {"SELECT abalance FROM pgbench_accounts WHERE aid = %d", 40, 0.08, "SELECT", 1},
    {"UPDATE pgbench_accounts SET abalance = abalance + %d WHERE aid = %d", 10, 0.15, "UPDATE", 1},
    {"UPDATE pgbench_tellers SET tbalance = tbalance + %d WHERE tid = %d", 10, 0.12, "UPDATE", 1},
    {"UPDATE pgbench_branches SET bbalance = bbalance + %d WHERE bid = %d", 10, 0.2, "UPDATE", 1},
    {"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%d, %d, %d, %d, "
     "CURRENT_TIMESTAMP)",
     10, 0.1, "INSERT", 1},
    {"SELECT * FROM orders WHERE customer_id = %d", 8, 0.3, "SELECT", 3},
    {"SELECT id, name, price FROM products WHERE id IN (%L)", 5, 0.4, "SELECT", 5},
    {"SELECT * FROM events ORDER BY random() LIMIT %d", 1, 35.0, "SELECT", 10},
    {"SELECT id, email FROM users WHERE email LIKE '%%%S'", 1, 60.0, "SELECT", 1},
    {"SELECT o.id, c.name FROM orders o, customers c WHERE o.total > %d", 1, 120.0, "SELECT", 50},
    {"DELETE FROM sessions", 1, 80.0, "DELETE", 100},
    {"SELECT count(*) FROM orders WHERE status = '%S'", 2, 15.0, "SELECT", 1},
    {"SELECT id FROM invoices WHERE customer_id NOT IN (SELECT id FROM customers WHERE "
     "region = %d)",
     1, 90.0, "SELECT", 20},
    {"BEGIN", 0, 0.01, "BEGIN", -1},
    {"COMMIT", 0, 0.2, "COMMIT", -1},
};
/* The block around an N+1 loop; weight 0, never picked at random. */
enum { T_BEGIN = 13, T_COMMIT = 14 };
#define NT (sizeof(tmpls) / sizeof(tmpls[0]))

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double urand(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static void render(const char *fmt, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = fmt; *p && n + 64 < size; p++) {
		if (p[0] == '%' && p[1] == 'd') {
			n += (size_t)snprintf(out + n, size - n, "%d", (int)(rnd() % 100000) + 1);
			p++;
		} else if (p[0] == '%' && p[1] == 'L') {
			int k = (int)(rnd() % 20) + 1;
			for (int i = 0; i < k && n + 32 < size; i++)
				n += (size_t)snprintf(out + n, size - n, "%s%d", i ? ", " : "",
				                      (int)(rnd() % 5000));
			p++;
		} else if (p[0] == '%' && p[1] == 'S') {
			n += (size_t)snprintf(out + n, size - n, "s%u", (unsigned)(rnd() % 1000));
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			out[n++] = '%';
			p++;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: gen-capture N CAPTURE.jsonl POSTGRES.log [SEED]\n");
		return 2;
	}
	long n = atol(argv[1]);
	rng_state = argc > 4 ? strtoull(argv[4], NULL, 10) : 42;
	if (rng_state == 0)
		rng_state = 42;
	FILE *cap = fopen(argv[2], "w");
	FILE *pglog = fopen(argv[3], "w");
	if (!cap || !pglog) {
		perror("gen-capture");
		return 1;
	}
	setvbuf(cap, NULL, _IOFBF, 1 << 20);
	setvbuf(pglog, NULL, _IOFBF, 1 << 20);
	int total_w = 0;
	char sql[4096];
	for (size_t i = 0; i < NT; i++) {
		total_w += tmpls[i].weight;
		render(tmpls[i].fmt, sql, sizeof(sql));
		PgQueryFingerprintResult fr = pg_query_fingerprint(sql);
		PgQueryNormalizeResult nr = pg_query_normalize(sql);
		if (fr.error || nr.error) {
			fprintf(stderr, "gen-capture: template %zu does not parse\n", i);
			return 1;
		}
		tmpls[i].fp = fr.fingerprint;
		tmpls[i].normalized = strdup(nr.normalized_query);
		pg_query_free_fingerprint_result(fr);
		pg_query_free_normalize_result(nr);
	}
	/* 2026-11-23 10:00:00 UTC, one statement every ~300 µs on average. */
	int64_t t = 1795428000000000LL;
	fprintf(cap, "{\"type\":\"header\",\"version\":1,\"producer\":\"gen-capture\","
	             "\"started\":\"2026-11-23T10:00:00.000000Z\",\"literals\":false}\n");
	/* Each autocommit statement is its own transaction; an N+1 loop runs in a BEGIN ... COMMIT
	 * block. */
	uint64_t xact = 0, next_xact = 0;
	int nplus1_left = 0, nplus1_client = 0;
	for (long i = 0; i < n; i++) {
		size_t k;
		int client;
		if (nplus1_left > 0) {
			/* An ORM loop: one client, one transaction, the same query per parent row.
			 */
			k = nplus1_left == 1 ? T_COMMIT : 5;
			client = nplus1_client;
			nplus1_left--;
		} else {
			int w = (int)(rnd() % (uint64_t)total_w);
			for (k = 0; k < NT && w >= tmpls[k].weight; k++)
				w -= tmpls[k].weight;
			client = (int)(rnd() % 1000) + 1;
			xact = ++next_xact;
			if (k == 5 && rnd() % 4 == 0) {
				k = T_BEGIN;
				nplus1_left = 21; /* 20 queries and the COMMIT */
				nplus1_client = client;
			}
		}
		struct tmpl *tp = &tmpls[k];
		render(tp->fmt, sql, sizeof(sql));
		t += (int64_t)(rnd() % 600);
		/* Exponential durations around the template's mean. */
		double u = urand();
		int64_t dur = (int64_t)(-tp->mean_ms * 1000.0 * log(1.0 - u * 0.999)) + 5;
		char fp[17];
		snprintf(fp, sizeof(fp), "%016" PRIx64, tp->fp);
		if (!tp->seen) {
			tp->seen = 1;
			fprintf(cap, "{\"type\":\"query\",\"fingerprint\":\"%s\",\"query\":", fp);
			json_str(cap, tp->normalized);
			fputs("}\n", cap);
		}
		bool failed = k < T_BEGIN && rnd() % 1000 == 0;
		uint64_t params = rnd();
		char rows[16] = "null";
		if (tp->rows >= 0)
			snprintf(rows, sizeof(rows), "%d", failed ? 0 : tp->rows);
		fprintf(
		    cap,
		    "{\"type\":\"stmt\",\"time\":%" PRId64
		    ",\"database\":\"bench\",\"user\":\"app\","
		    "\"application_name\":\"gen\",\"fingerprint\":\"%s\",\"duration_us\":%" PRId64
		    ",\"wait_us\":%d,\"rows\":%s,\"tag\":\"%s\",\"sqlstate\":%s,\"route\":\"%s\","
		    "\"xact\":%" PRIu64
		    ",\"client\":%d,\"trace_id\":null,\"params_hash\":\"%016" PRIx64 "\"}\n",
		    t, fp, dur, (int)(rnd() % 20), rows, tp->tag, failed ? "\"57014\"" : "null",
		    (tp->tag[0] == 'S' && rnd() % 3 == 0) ? "replica1" : "primary", xact, client,
		    params);
		time_t sec = (time_t)(t / 1000000);
		struct tm tm;
		gmtime_r(&sec, &tm);
		char ts[40];
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
		if (failed) {
			fprintf(pglog,
			        "%s.%03d UTC [%d] ERROR:  canceling statement due to statement "
			        "timeout\n"
			        "%s.%03d UTC [%d] STATEMENT:  %s\n",
			        ts, (int)(t / 1000 % 1000), 10000 + client, ts,
			        (int)(t / 1000 % 1000), 10000 + client, sql);
		} else {
			fprintf(pglog, "%s.%03d UTC [%d] LOG:  duration: %.3f ms  statement: %s\n",
			        ts, (int)(t / 1000 % 1000), 10000 + client, (double)dur / 1000.0,
			        sql);
		}
	}
	if (fclose(cap) != 0 || fclose(pglog) != 0) {
		perror("gen-capture");
		return 1;
	}
	return 0;
}
