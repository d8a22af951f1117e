/*
 * qstats.c - live statistics per query fingerprint (see qstats.h): a fixed
 * open-addressing table keyed by fingerprint, under one mutex.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/qstats.h"

#define QSTATS_SLOTS (QSTATS_MAX * 2) /* half full at most: short probes */

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static struct qstats_entry slots[QSTATS_SLOTS]; /* fingerprint 0: free */
static size_t used;
static uint64_t untracked;
/*
 * Rule lists change rarely (a new verdict, a traffic rule firing), so the
 * counts per rule are kept from one call to the next and counted again only
 * when rules_gen moved past counted_gen.
 */
static uint64_t rules_gen = 1;
static uint64_t counted_gen;
static struct qstats_rule_count counted[QSTATS_RULE_COUNTS_MAX];
static size_t n_counted;

int qstats_bucket(double us)
{
	int b;

	if (us < 1.0)
		return 0;
	b = (int)floor(2.0 * log2(us));
	return b >= QSTATS_BUCKETS ? QSTATS_BUCKETS - 1 : b;
}

double qstats_quantile(const uint32_t *hist, double q)
{
	uint64_t n = 0, seen = 0;

	for (int i = 0; i < QSTATS_BUCKETS; i++)
		n += hist[i];
	if (n == 0)
		return 0;
	for (int i = 0; i < QSTATS_BUCKETS; i++) {
		seen += hist[i];
		/* The bucket's geometric middle: within 19% of any value in it. */
		if ((double)seen >= q * (double)n)
			return pow(2.0, (i + 0.5) / 2.0);
	}
	return pow(2.0, (QSTATS_BUCKETS - 0.5) / 2.0);
}

/* The entry of FP, made when there is room; NULL when the table is full. Under qlock. */
static struct qstats_entry *slot_of(uint64_t fp)
{
	size_t i = (size_t)(fp % QSTATS_SLOTS);

	for (;;) {
		struct qstats_entry *e = &slots[i];

		if (e->fingerprint == fp)
			return e;
		if (e->fingerprint == 0) {
			if (used >= QSTATS_MAX)
				return NULL;
			used++;
			e->fingerprint = fp;
			return e;
		}
		i = (i + 1) % QSTATS_SLOTS;
	}
}

/* Whether comma-separated LIST holds RULE. */
static bool rules_has(const char *list, const char *rule)
{
	size_t n = strlen(rule);

	for (const char *p = list; (p = strstr(p, rule)) != NULL; p += n)
		if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
			return true;
	return false;
}

/* Add RULE to LIST; whether LIST changed. */
static bool rules_append(char *list, const char *rule)
{
	size_t len = strlen(list);

	if (rule[0] == 0 || rules_has(list, rule))
		return false;
	snprintf(list + len, QSTATS_RULES_MAX - len, "%s%s", len ? "," : "", rule);
	return true;
}

/* Replace LIST by RULES (truncated as stored); bumps rules_gen when it differs. Under qlock. */
static void rules_set(char *list, const char *rules)
{
	char next[QSTATS_RULES_MAX];

	snprintf(next, sizeof(next), "%s", rules);
	if (strcmp(next, list) == 0)
		return;
	memcpy(list, next, sizeof(next));
	rules_gen++;
}

void qstats_record(uint64_t fp, const char *query, const char *rules, double duration_us,
                   int64_t rows, bool error, bool replica)
{
	struct qstats_entry *e;

	if (fp == 0)
		return;
	pthread_mutex_lock(&qlock);
	e = slot_of(fp);
	if (e == NULL) {
		untracked++;
		goto out_unlock;
	}
	if (e->calls == 0 && query != NULL)
		snprintf(e->query, sizeof(e->query), "%s", query);
	if (rules != NULL) /* the verdict on the latest schema replaces the earlier one */
		rules_set(e->rules, rules);
	e->calls++;
	e->errors += error;
	e->replica_calls += replica;
	if (rows > 0)
		e->rows += rows;
	e->total_us += duration_us;
	e->hist[qstats_bucket(duration_us)]++;
out_unlock:
	pthread_mutex_unlock(&qlock);
}

/* Keep the advice of RULE on e (the first one a rule gives). Under qlock. */
static void fix_put(struct qstats_entry *e, const char *rule, const char *fix)
{
	struct qstats_fix *f;

	if (fix == NULL || qstats_fix_of(e, rule)[0] != 0 || e->n_fixes >= QSTATS_FIXES)
		return;
	f = &e->fixes[e->n_fixes++];
	snprintf(f->rule, sizeof(f->rule), "%s", rule);
	snprintf(f->fix, sizeof(f->fix), "%s", fix);
}

const char *qstats_fix_of(const struct qstats_entry *e, const char *rule)
{
	for (int i = 0; i < e->n_fixes; i++)
		if (strcmp(e->fixes[i].rule, rule) == 0)
			return e->fixes[i].fix;
	return "";
}

void qstats_add_rule(uint64_t fp, const char *rule, const char *message)
{
	struct qstats_entry *e;

	pthread_mutex_lock(&qlock);
	e = slot_of(fp);
	if (e != NULL) {
		if (rules_append(e->traffic, rule))
			rules_gen++;
		fix_put(e, rule, message);
	}
	pthread_mutex_unlock(&qlock);
}

void qstats_verdict(uint64_t fp)
{
	struct qstats_entry *e;

	pthread_mutex_lock(&qlock);
	e = slot_of(fp);
	if (e != NULL) {
		/* The traffic rules' advice stays: it comes from the traffic, not the schema. */
		int kept = 0;

		for (int i = 0; i < e->n_fixes; i++)
			if (rules_has(e->traffic, e->fixes[i].rule))
				e->fixes[kept++] = e->fixes[i];
		e->n_fixes = kept;
	}
	pthread_mutex_unlock(&qlock);
}

void qstats_fix(uint64_t fp, const char *rule, const char *fix)
{
	struct qstats_entry *e;

	pthread_mutex_lock(&qlock);
	e = slot_of(fp);
	if (e != NULL)
		fix_put(e, rule, fix);
	pthread_mutex_unlock(&qlock);
}

static int by_total_desc(const void *a, const void *b)
{
	const struct qstats_entry *x = *(const struct qstats_entry *const *)a;
	const struct qstats_entry *y = *(const struct qstats_entry *const *)b;

	return x->total_us < y->total_us ? 1 : x->total_us > y->total_us ? -1 : 0;
}

size_t qstats_top(struct qstats_entry *out, size_t max)
{
	const struct qstats_entry *order[QSTATS_MAX];
	size_t n = 0;

	pthread_mutex_lock(&qlock);
	for (size_t i = 0; i < QSTATS_SLOTS && n < QSTATS_MAX; i++)
		if (slots[i].fingerprint != 0 && slots[i].calls > 0)
			order[n++] = &slots[i];
	qsort(order, n, sizeof(order[0]), by_total_desc);
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		out[i] = *order[i];
	pthread_mutex_unlock(&qlock);
	return n;
}

/* Count each rule of comma-separated LIST into out (n rules so far, at most max). */
static size_t count_rules(const char *list, struct qstats_rule_count *out, size_t n, size_t max)
{
	char copy[QSTATS_RULES_MAX];
	char *save = NULL;

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *r = strtok_r(copy, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
		size_t j = 0;

		while (j < n && strcmp(out[j].rule, r) != 0)
			j++;
		if (j == n && n < max) {
			snprintf(out[n].rule, sizeof(out[n].rule), "%s", r);
			out[n++].fingerprints = 0;
		}
		if (j < n)
			out[j].fingerprints++;
	}
	return n;
}

size_t qstats_rule_counts(struct qstats_rule_count *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&qlock);
	if (counted_gen != rules_gen) {
		n_counted = 0;
		for (size_t i = 0; i < QSTATS_SLOTS; i++) {
			if (slots[i].fingerprint == 0)
				continue;
			n_counted =
			    count_rules(slots[i].rules, counted, n_counted, QSTATS_RULE_COUNTS_MAX);
			n_counted = count_rules(slots[i].traffic, counted, n_counted,
			                        QSTATS_RULE_COUNTS_MAX);
		}
		counted_gen = rules_gen;
	}
	n = n_counted < max ? n_counted : max;
	memcpy(out, counted, n * sizeof(out[0]));
	pthread_mutex_unlock(&qlock);
	return n;
}

uint64_t qstats_untracked(void)
{
	uint64_t n;

	pthread_mutex_lock(&qlock);
	n = untracked;
	pthread_mutex_unlock(&qlock);
	return n;
}

void qstats_reset(void)
{
	pthread_mutex_lock(&qlock);
	memset(slots, 0, sizeof(slots));
	used = 0;
	untracked = 0;
	rules_gen++;
	pthread_mutex_unlock(&qlock);
}
