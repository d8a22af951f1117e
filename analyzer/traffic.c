/* traffic.c - n-plus-one, repeated-identical-query and slow-query over a stream of statements. */
#include "analyzer/traffic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Distinct parameter hashes remembered per burst; min_repeats above it needs this many. */
#define TRAFFIC_N_PARAMS 32
/* Slots probed per lookup before the oldest one is recycled. */
#define TRAFFIC_PROBES 8
/* Duration histogram: 8 exact buckets, then 8 per power of two up to 2^41 us (25 days). */
#define HIST_SUB      8
#define HIST_OCTAVES  39
#define HIST_BUCKETS  (HIST_SUB + HIST_OCTAVES * HIST_SUB)
#define US_PER_SECOND 1000000u

struct fp_entry {
	uint64_t fingerprint;
	char *normalized; /* owned, may be NULL */
	uint64_t executions;
	uint32_t hist[HIST_BUCKETS];
	uint64_t n1_bursts;
	uint64_t n1_peak;
	uint64_t n1_client;
	uint64_t n1_calls; /* executions inside reported bursts, and their time */
	uint64_t n1_us;
	uint64_t rep_seconds;
	uint64_t rep_peak;
	uint64_t rep_calls; /* executions inside seconds over the threshold, and their time */
	uint64_t rep_us;
	uint64_t total_us; /* every execution's time */
};

/* One client's run of one fingerprint (n-plus-one). */
struct burst {
	bool used;
	bool reported;
	uint8_t n_params;
	uint64_t client;
	uint64_t fingerprint;
	uint64_t xact;
	uint64_t start_us;
	uint64_t last_us;
	uint64_t count;
	uint64_t us; /* time of its executions */
	uint64_t params[TRAFFIC_N_PARAMS];
};

/* One fingerprint + parameters within the current second (repeated-identical-query). */
struct repeat {
	bool used;
	bool over; /* this second already counted as over the threshold */
	uint64_t fingerprint;
	uint64_t params_hash;
	uint64_t start_us;
	uint64_t last_us;
	uint64_t count;
	uint64_t us; /* time of its executions */
};

struct traffic {
	struct traffic_config cfg;
	struct fp_entry **fps; /* open addressing, fp_cap slots (power of two) */
	size_t fp_cap;
	size_t n_fps;
	struct burst *bursts; /* tracked_cap slots */
	struct repeat *repeats;
	size_t tracked_cap;
	struct traffic_stats stats;
};

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static size_t pow2_at_least(size_t n)
{
	size_t p = 16;
	while (p < n && p < ((size_t)1 << 40))
		p <<= 1;
	return p;
}

void traffic_config_defaults(struct traffic_config *cfg)
{
	cfg->n1_min_repeats = 10;
	cfg->n1_window_ms = 1000;
	cfg->rep_min_per_second = 20;
	cfg->slow_p95_ms = 500;
	cfg->slow_min_samples = 20;
	cfg->n1_severity = SEVERITY_WARNING;
	cfg->rep_severity = SEVERITY_INFO;
	cfg->slow_severity = SEVERITY_WARNING;
	cfg->max_fingerprints = 10000;
	cfg->max_tracked = 16384;
}

/* Option `name` of the registered rule `id` under rc, or fallback when either is absent. */
static double rule_value(const struct rule_config *rc, const struct rule *r, const char *name,
                         double fallback)
{
	if (!r || !rc)
		return fallback;
	const double *vals = rule_config_options(rc, r);
	for (size_t i = 0; vals && i < r->n_options; i++)
		if (strcmp(r->options[i].name, name) == 0)
			return vals[i];
	return fallback;
}

static enum severity rule_sev(const struct rule_config *rc, const struct rule *r,
                              enum severity fallback)
{
	if (!r)
		return fallback;
	return rc ? rule_config_severity(rc, r) : r->default_severity;
}

void traffic_config_from_rules(struct traffic_config *cfg, const struct rule_config *rc)
{
	const struct rule *n1 = rule_find(TRAFFIC_RULE_N_PLUS_ONE);
	const struct rule *rep = rule_find(TRAFFIC_RULE_REPEATED);
	const struct rule *slow = rule_find(TRAFFIC_RULE_SLOW_QUERY);

	traffic_config_defaults(cfg);
	/* Without a config the registry's defaults apply; rule_value() reads those too. */
	struct rule_config *own = rc ? NULL : rule_config_new();
	const struct rule_config *use = rc ? rc : own;
	cfg->n1_min_repeats = rule_value(use, n1, "min_repeats", cfg->n1_min_repeats);
	cfg->n1_window_ms = rule_value(use, n1, "window_ms", cfg->n1_window_ms);
	cfg->rep_min_per_second = rule_value(use, rep, "min_per_second", cfg->rep_min_per_second);
	cfg->slow_p95_ms = rule_value(use, slow, "p95_ms", cfg->slow_p95_ms);
	cfg->slow_min_samples = rule_value(use, slow, "min_samples", cfg->slow_min_samples);
	cfg->n1_severity = rule_sev(use, n1, cfg->n1_severity);
	cfg->rep_severity = rule_sev(use, rep, cfg->rep_severity);
	cfg->slow_severity = rule_sev(use, slow, cfg->slow_severity);
	rule_config_free(own);
}

struct traffic *traffic_new(const struct traffic_config *cfg)
{
	struct traffic *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (cfg)
		t->cfg = *cfg;
	else
		traffic_config_defaults(&t->cfg);
	if (t->cfg.max_fingerprints == 0)
		t->cfg.max_fingerprints = 1;
	if (t->cfg.max_tracked < TRAFFIC_PROBES)
		t->cfg.max_tracked = TRAFFIC_PROBES;
	t->fp_cap = pow2_at_least(t->cfg.max_fingerprints * 2);
	t->tracked_cap = pow2_at_least(t->cfg.max_tracked);
	t->fps = calloc(t->fp_cap, sizeof(struct fp_entry *));
	t->bursts = calloc(t->tracked_cap, sizeof(*t->bursts));
	t->repeats = calloc(t->tracked_cap, sizeof(*t->repeats));
	if (!t->fps || !t->bursts || !t->repeats) {
		traffic_free(t);
		return NULL;
	}
	return t;
}

void traffic_free(struct traffic *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->fps && i < t->fp_cap; i++) {
		if (t->fps[i]) {
			free(t->fps[i]->normalized);
			free(t->fps[i]);
		}
	}
	free(t->fps);
	free(t->bursts);
	free(t->repeats);
	free(t);
}

/* The entry of fingerprint fp, created when absent; NULL when the table is full or OOM. */
static struct fp_entry *fp_get(struct traffic *t, uint64_t fp, const char *normalized, bool create)
{
	size_t mask = t->fp_cap - 1;
	size_t i = (size_t)mix64(fp) & mask;

	for (size_t n = 0; n < t->fp_cap; n++, i = (i + 1) & mask) {
		struct fp_entry *e = t->fps[i];
		if (e && e->fingerprint == fp)
			return e;
		if (e)
			continue;
		if (!create || t->n_fps >= t->cfg.max_fingerprints)
			return NULL;
		e = calloc(1, sizeof(*e));
		if (!e)
			return NULL;
		e->fingerprint = fp;
		if (normalized) {
			e->normalized = strdup(normalized);
			if (!e->normalized) {
				free(e);
				return NULL;
			}
		}
		t->fps[i] = e;
		t->n_fps++;
		return e;
	}
	return NULL;
}

static const struct fp_entry *fp_find(const struct traffic *t, uint64_t fp)
{
	size_t mask = t->fp_cap - 1;
	size_t i = (size_t)mix64(fp) & mask;

	for (size_t n = 0; n < t->fp_cap; n++, i = (i + 1) & mask) {
		const struct fp_entry *e = t->fps[i];
		if (!e)
			return NULL;
		if (e->fingerprint == fp)
			return e;
	}
	return NULL;
}

static size_t hist_bucket(uint64_t us)
{
	if (us < HIST_SUB)
		return (size_t)us;
	int e = 63 - __builtin_clzll(us); /* us >= 8, so e >= 3 */
	size_t sub = (size_t)(us >> (e - 3)) & (HIST_SUB - 1);
	size_t idx = HIST_SUB + (size_t)(e - 3) * HIST_SUB + sub;
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Smallest duration a bucket holds: the p95 is never overstated. */
static uint64_t hist_lower(size_t idx)
{
	if (idx < HIST_SUB)
		return idx;
	size_t e = (idx - HIST_SUB) / HIST_SUB + 3;
	uint64_t sub = (idx - HIST_SUB) % HIST_SUB;
	return (HIST_SUB + sub) << (e - 3);
}

static uint64_t fp_p95(const struct fp_entry *e)
{
	uint64_t total = 0;
	for (size_t i = 0; i < HIST_BUCKETS; i++)
		total += e->hist[i];
	if (total == 0)
		return 0;
	/* rank = ceil(0.95 * total), in integers */
	uint64_t rank = (total * 95 + 99) / 100;
	uint64_t seen = 0;
	for (size_t i = 0; i < HIST_BUCKETS; i++) {
		seen += e->hist[i];
		if (seen >= rank)
			return hist_lower(i);
	}
	return hist_lower(HIST_BUCKETS - 1);
}

/*
 * Slot of (client, fingerprint) in the burst table: its own slot, a free
 * one, or (all probed slots busy) the least recently used one, recycled.
 */
static struct burst *burst_slot(struct traffic *t, uint64_t client, uint64_t fp, bool *found)
{
	size_t mask = t->tracked_cap - 1;
	size_t i = (size_t)mix64(client ^ mix64(fp)) & mask;
	struct burst *oldest = &t->bursts[i];

	*found = false;
	for (int n = 0; n < TRAFFIC_PROBES; n++, i = (i + 1) & mask) {
		struct burst *b = &t->bursts[i];
		if (!b->used)
			return b;
		if (b->client == client && b->fingerprint == fp) {
			*found = true;
			return b;
		}
		if (b->last_us < oldest->last_us)
			oldest = b;
	}
	t->stats.recycled++;
	return oldest;
}

/* The same for (fingerprint, parameters) in the repeat table. */
static struct repeat *repeat_slot(struct traffic *t, uint64_t fp, uint64_t params, bool *found)
{
	size_t mask = t->tracked_cap - 1;
	size_t i = (size_t)mix64(fp ^ mix64(params)) & mask;
	struct repeat *oldest = &t->repeats[i];

	*found = false;
	for (int n = 0; n < TRAFFIC_PROBES; n++, i = (i + 1) & mask) {
		struct repeat *r = &t->repeats[i];
		if (!r->used)
			return r;
		if (r->fingerprint == fp && r->params_hash == params) {
			*found = true;
			return r;
		}
		if (r->last_us < oldest->last_us)
			oldest = r;
	}
	t->stats.recycled++;
	return oldest;
}

static void burst_add_param(struct burst *b, uint64_t h)
{
	for (size_t i = 0; i < b->n_params; i++)
		if (b->params[i] == h)
			return;
	if (b->n_params < TRAFFIC_N_PARAMS)
		b->params[b->n_params++] = h;
}

static void feed_n_plus_one(struct traffic *t, struct fp_entry *fe, const struct traffic_stmt *s)
{
	bool found;
	struct burst *b = burst_slot(t, s->client_id, s->fingerprint, &found);
	uint64_t window = (uint64_t)(t->cfg.n1_window_ms * 1000.0);

	bool same = found && ((s->xact_id != 0 && b->xact == s->xact_id) ||
	                      (s->xact_id == 0 && b->xact == 0 && s->time_us >= b->start_us &&
	                       s->time_us - b->start_us <= window));
	if (!same) {
		memset(b, 0, sizeof(*b));
		b->used = true;
		b->client = s->client_id;
		b->fingerprint = s->fingerprint;
		b->xact = s->xact_id;
		b->start_us = s->time_us;
	}
	b->last_us = s->time_us;
	b->count++;
	b->us += s->duration_us;
	burst_add_param(b, s->params_hash);
	if (b->reported) {
		fe->n1_calls++;
		fe->n1_us += s->duration_us;
	}

	double need = t->cfg.n1_min_repeats;
	double need_distinct = need < TRAFFIC_N_PARAMS ? need : TRAFFIC_N_PARAMS;
	if (!b->reported && (double)b->count >= need && (double)b->n_params >= need_distinct) {
		b->reported = true;
		fe->n1_bursts++;
		fe->n1_client = s->client_id;
		fe->n1_calls += b->count; /* the burst so far makes the pattern */
		fe->n1_us += b->us;
	}
	if (b->reported && b->count > fe->n1_peak)
		fe->n1_peak = b->count;
}

static void feed_repeated(struct traffic *t, struct fp_entry *fe, const struct traffic_stmt *s)
{
	bool found;
	struct repeat *r = repeat_slot(t, s->fingerprint, s->params_hash, &found);

	if (!found || s->time_us < r->start_us || s->time_us - r->start_us >= US_PER_SECOND) {
		memset(r, 0, sizeof(*r));
		r->used = true;
		r->fingerprint = s->fingerprint;
		r->params_hash = s->params_hash;
		r->start_us = s->time_us;
	}
	r->last_us = s->time_us;
	r->count++;
	r->us += s->duration_us;
	if ((double)r->count >= t->cfg.rep_min_per_second) {
		if (!r->over) {
			r->over = true;
			fe->rep_seconds++;
			fe->rep_calls += r->count - 1; /* the second so far, this one below */
			fe->rep_us += r->us - s->duration_us;
		}
		fe->rep_calls++;
		fe->rep_us += s->duration_us;
		if (r->count > fe->rep_peak)
			fe->rep_peak = r->count;
	}
}

int traffic_feed(struct traffic *t, const struct traffic_stmt *s)
{
	t->stats.statements++;
	struct fp_entry *fe = fp_get(t, s->fingerprint, s->normalized, true);
	if (!fe) {
		t->stats.dropped++;
		return t->n_fps >= t->cfg.max_fingerprints ? 0 : -1;
	}
	fe->executions++;
	fe->total_us += s->duration_us;
	if (fe->hist[hist_bucket(s->duration_us)] < UINT32_MAX)
		fe->hist[hist_bucket(s->duration_us)]++;
	if (s->kind != TRAFFIC_OTHER && t->cfg.n1_severity != SEVERITY_OFF)
		feed_n_plus_one(t, fe, s);
	if (s->kind == TRAFFIC_READ && t->cfg.rep_severity != SEVERITY_OFF)
		feed_repeated(t, fe, s);
	return 0;
}

uint64_t traffic_p95_us(const struct traffic *t, uint64_t fingerprint)
{
	const struct fp_entry *e = fp_find(t, fingerprint);
	return e ? fp_p95(e) : 0;
}

void traffic_get_stats(const struct traffic *t, struct traffic_stats *out)
{
	*out = t->stats;
	out->fingerprints = t->n_fps;
}

static struct traffic_finding *add_finding(struct traffic_finding **arr, size_t *n, size_t *cap,
                                           const struct fp_entry *e, const char *rule,
                                           enum severity sev)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct traffic_finding *na = realloc(*arr, nc * sizeof(**arr));
		if (!na)
			return NULL;
		*arr = na;
		*cap = nc;
	}
	struct traffic_finding *f = &(*arr)[*n];
	memset(f, 0, sizeof(*f));
	f->rule_id = rule;
	f->severity = sev;
	f->fingerprint = e->fingerprint;
	f->executions = e->executions;
	if (e->normalized) {
		f->normalized = strdup(e->normalized);
		if (!f->normalized)
			return NULL;
	}
	(*n)++;
	return f;
}

static int finding_cmp(const void *a, const void *b)
{
	const struct traffic_finding *x = a;
	const struct traffic_finding *y = b;
	int r = strcmp(x->rule_id, y->rule_id);
	if (r)
		return r;
	if (x->executions != y->executions)
		return x->executions > y->executions ? -1 : 1;
	return x->fingerprint < y->fingerprint ? -1 : x->fingerprint > y->fingerprint;
}

/* Add the findings of one fingerprint. Returns false when out of memory. */
static bool report_one(const struct traffic *t, const struct fp_entry *e,
                       struct traffic_finding **arr, size_t *n, size_t *cap)
{
	const struct traffic_config *c = &t->cfg;
	struct traffic_finding *f;

	if (c->n1_severity != SEVERITY_OFF && e->n1_bursts > 0) {
		if (!(f = add_finding(arr, n, cap, e, TRAFFIC_RULE_N_PLUS_ONE, c->n1_severity)))
			return false;
		f->occurrences = e->n1_bursts;
		f->peak = e->n1_peak;
		f->example_client = e->n1_client;
		f->pattern_calls = e->n1_calls;
		f->pattern_us = e->n1_us;
		snprintf(f->message, sizeof(f->message),
		         "one client ran this query %llu times in a row with different parameters "
		         "(%llu such runs): a loop issuing one query per row",
		         (unsigned long long)e->n1_peak, (unsigned long long)e->n1_bursts);
		snprintf(
		    f->suggestion, sizeof(f->suggestion),
		    "fetch the rows in one query (WHERE key = ANY($1), or a JOIN) and group them "
		    "in the application");
	}
	if (c->rep_severity != SEVERITY_OFF && e->rep_seconds > 0) {
		if (!(f = add_finding(arr, n, cap, e, TRAFFIC_RULE_REPEATED, c->rep_severity)))
			return false;
		f->occurrences = e->rep_seconds;
		f->peak = e->rep_peak;
		f->pattern_calls = e->rep_calls;
		f->pattern_us = e->rep_us;
		snprintf(f->message, sizeof(f->message),
		         "the same query with the same parameters ran %llu times within one second "
		         "(%llu seconds at or over %.0f/s): the answer could be cached",
		         (unsigned long long)e->rep_peak, (unsigned long long)e->rep_seconds,
		         c->rep_min_per_second);
		snprintf(
		    f->suggestion, sizeof(f->suggestion),
		    "cache the result in the application (or a materialized view) and refresh it "
		    "when the data changes");
	}
	uint64_t p95 = fp_p95(e);
	if (c->slow_severity != SEVERITY_OFF && (double)e->executions >= c->slow_min_samples &&
	    (double)p95 > c->slow_p95_ms * 1000.0) {
		if (!(f = add_finding(arr, n, cap, e, TRAFFIC_RULE_SLOW_QUERY, c->slow_severity)))
			return false;
		f->occurrences = 1;
		f->peak = p95;
		f->pattern_calls = e->executions; /* a slow query is slow on every call */
		f->pattern_us = e->total_us;
		snprintf(f->message, sizeof(f->message),
		         "95th percentile duration %.1f ms over %llu executions is above %.0f ms",
		         (double)p95 / 1000.0, (unsigned long long)e->executions, c->slow_p95_ms);
		snprintf(f->suggestion, sizeof(f->suggestion),
		         "run EXPLAIN (ANALYZE, BUFFERS) on it and check its static findings "
		         "(unindexed-filter, missing-pagination, heavy-join)");
	}
	return true;
}

size_t traffic_report(const struct traffic *t, struct traffic_finding **out)
{
	struct traffic_finding *arr = NULL;
	size_t n = 0;
	size_t cap = 0;

	*out = NULL;
	for (size_t i = 0; i < t->fp_cap; i++) {
		if (t->fps[i] && !report_one(t, t->fps[i], &arr, &n, &cap)) {
			traffic_findings_free(arr, n);
			return (size_t)-1;
		}
	}
	if (n > 1)
		qsort(arr, n, sizeof(*arr), finding_cmp);
	*out = arr;
	return n;
}

void traffic_findings_free(struct traffic_finding *f, size_t n)
{
	for (size_t i = 0; f && i < n; i++)
		free(f[i].normalized);
	free(f);
}
