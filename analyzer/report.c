/* report.c - per-fingerprint aggregation, time series, rule findings and baseline filtering. */
#include <stdlib.h>
#include <string.h>

#include <pg_query.h>

#include "analyzer/engine.h"
#include "analyzer/json.h"
#include "analyzer/report.h"
#include "analyzer/report_hypo.h"
#include "analyzer/traffic.h"

/* ---- histogram -------------------------------------------------------- */

static size_t hist_bucket(int64_t us)
{
	if (us < REPORT_HIST_SUB)
		return us < 0 ? 0 : (size_t)us;
	uint64_t v = (uint64_t)us;
	int e = 63 - __builtin_clzll(v); /* >= 4 */
	size_t b = (size_t)(e - 3) * REPORT_HIST_SUB + ((v >> (e - 4)) & (REPORT_HIST_SUB - 1));
	return b < REPORT_HIST_BUCKETS ? b : REPORT_HIST_BUCKETS - 1;
}

/* Lower bound and width of bucket b. */
static void hist_range(size_t b, int64_t *lo, int64_t *width)
{
	if (b < REPORT_HIST_SUB) {
		*lo = (int64_t)b;
		*width = 1;
		return;
	}
	int e = (int)(b / REPORT_HIST_SUB) + 3;
	int64_t sub = (int64_t)(b % REPORT_HIST_SUB);
	*width = (int64_t)1 << (e - 4);
	*lo = ((int64_t)1 << e) + sub * *width;
}

void report_hist_add(struct report_hist *h, int64_t us)
{
	h->b[hist_bucket(us)]++;
	h->count++;
}

static void hist_merge(struct report_hist *dst, const struct report_hist *src)
{
	for (size_t i = 0; i < REPORT_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
}

int64_t report_hist_quantile(const struct report_hist *h, double q, int64_t min_us, int64_t max_us)
{
	if (h->count == 0)
		return 0;
	/* The rank of the value at quantile q, 1-based (nearest-rank method). */
	uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	uint64_t seen = 0;
	for (size_t i = 0; i < REPORT_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen < rank)
			continue;
		int64_t lo, width;
		hist_range(i, &lo, &width);
		int64_t v = lo + (width - 1) / 2;
		if (min_us >= 0 && v < min_us)
			v = min_us;
		if (max_us >= 0 && v > max_us)
			v = max_us;
		return v;
	}
	return max_us >= 0 ? max_us : 0;
}

/* ---- text -> fingerprint cache ------------------------------------------ */

#define FPCACHE_SLOTS ((size_t)1 << 16)

struct fpcache_slot {
	uint64_t key; /* 0: empty */
	uint64_t fp;
};

struct fpcache {
	struct fpcache_slot slots[FPCACHE_SLOTS];
	size_t used;
};

static bool is_ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

static uint64_t mix(uint64_t h, unsigned char c)
{
	return (h ^ c) * 0x100000001b3ull;
}

/* Where the literal starting at p ends, or NULL when p does not start one. */
static const char *literal_end(const char *p, const char *end, bool *unsure)
{
	if (*p == '\'') {
		for (p++; p < end; p++) {
			if (*p == '\\')
				*unsure = true; /* E'' escapes: do not trust this reading */
			if (*p == '\'') {
				if (p + 1 < end && p[1] == '\'') {
					p++;
					continue;
				}
				return p + 1;
			}
		}
		*unsure = true;
		return end;
	}
	if (*p == '$' && p + 1 < end && p[1] >= '0' && p[1] <= '9') {
		for (p++; p < end && *p >= '0' && *p <= '9'; p++)
			;
		return p;
	}
	if ((*p >= '0' && *p <= '9') || (*p == '.' && p + 1 < end && p[1] >= '0' && p[1] <= '9')) {
		for (; p < end; p++) {
			char c = *p;
			if ((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E')
				continue;
			if ((c == '+' || c == '-') && (p[-1] == 'e' || p[-1] == 'E'))
				continue;
			break;
		}
		return p;
	}
	return NULL;
}

/*
 * A hash of the text with literals, parameters, comments and runs of list
 * elements replaced: texts that differ only there have the same libpg_query
 * fingerprint (which ignores constants and IN-list lengths), so one parse
 * serves them all. When unsure (backslash escapes) the whole text is hashed:
 * that costs cache hits, never a wrong fingerprint.
 */
static uint64_t text_key(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	uint64_t h = 0xcbf29ce484222325ull;
	bool unsure = false;
	bool after_lit = false;
	bool space = false;
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			space = true;
			p++;
			continue;
		}
		if (c == '-' && p + 1 < end && p[1] == '-') {
			while (p < end && *p != '\n')
				p++;
			continue;
		}
		if (c == '/' && p + 1 < end && p[1] == '*') {
			const char *e = strstr(p + 2, "*/"); /* text is NUL-terminated */
			p = e && e < end ? e + 2 : end;
			continue;
		}
		bool prev_ident = p > s && is_ident((unsigned char)p[-1]);
		const char *le = prev_ident ? NULL : literal_end(p, end, &unsure);
		if (le) {
			if (!after_lit)
				h = mix(h, '?');
			after_lit = true;
			space = false;
			p = le;
			continue;
		}
		if (c == ',' && after_lit) {
			/* "?, ?, ?" folds into "?" when the next token is a literal too. */
			const char *q = p + 1;
			while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
				q++;
			bool dummy = false;
			if (q < end && literal_end(q, end, &dummy)) {
				p = q;
				continue;
			}
		}
		if (space)
			h = mix(h, ' ');
		space = false;
		after_lit = false;
		if (c == '"') {
			const char *e = memchr(p + 1, '"', (size_t)(end - p - 1));
			const char *stop = e ? e + 1 : end;
			for (; p < stop; p++)
				h = mix(h, (unsigned char)*p);
			continue;
		}
		h = mix(h, c);
		p++;
	}
	if (unsure) {
		h = 0x84222325cbf29ce4ull;
		for (p = s; p < end; p++)
			h = mix(h, (unsigned char)*p);
	}
	return h ? h : 1;
}

static bool fpcache_get(struct fpcache *c, uint64_t key, uint64_t *fp)
{
	size_t i = (size_t)(key * 0x9e3779b97f4a7c15ull >> 48) & (FPCACHE_SLOTS - 1);
	for (;;) {
		if (c->slots[i].key == 0)
			return false;
		if (c->slots[i].key == key) {
			*fp = c->slots[i].fp;
			return true;
		}
		i = (i + 1) & (FPCACHE_SLOTS - 1);
	}
}

static void fpcache_put(struct fpcache *c, uint64_t key, uint64_t fp)
{
	/* Bounded: when 3/4 full, forget everything and refill. */
	if (c->used >= FPCACHE_SLOTS / 4 * 3) {
		memset(c->slots, 0, sizeof(c->slots));
		c->used = 0;
	}
	size_t i = (size_t)(key * 0x9e3779b97f4a7c15ull >> 48) & (FPCACHE_SLOTS - 1);
	while (c->slots[i].key != 0 && c->slots[i].key != key)
		i = (i + 1) & (FPCACHE_SLOTS - 1);
	if (c->slots[i].key == 0)
		c->used++;
	c->slots[i].key = key;
	c->slots[i].fp = fp;
}

/* ---- fingerprint table -------------------------------------------------- */

/* (Re)build the fingerprint index with cap slots from the aggregates' current positions. */
static bool index_build(struct report *r, size_t cap)
{
	uint32_t *idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return false;
	for (size_t k = 0; k < r->n_fps; k++) {
		size_t i = (size_t)(r->fps[k].fingerprint * 0x9e3779b97f4a7c15ull) & (cap - 1);
		while (idx[i])
			i = (i + 1) & (cap - 1);
		idx[i] = (uint32_t)(k + 1);
	}
	free(r->index);
	r->index = idx;
	r->index_cap = cap;
	return true;
}

static struct report_fp *fp_find(struct report *r, uint64_t fp, bool create)
{
	if (r->index_cap == 0 || (r->n_fps + 1) * 2 > r->index_cap) {
		if (!create && r->index_cap == 0)
			return NULL;
		if (!index_build(r, r->index_cap ? r->index_cap * 2 : 1024))
			return NULL;
	}
	size_t i = (size_t)(fp * 0x9e3779b97f4a7c15ull) & (r->index_cap - 1);
	while (r->index[i]) {
		struct report_fp *e = &r->fps[r->index[i] - 1];
		if (e->fingerprint == fp)
			return e;
		i = (i + 1) & (r->index_cap - 1);
	}
	/* Past the limit new fingerprints are counted, not kept: memory stays bounded. */
	if (!create || r->n_fps >= REPORT_MAX_FPS)
		return NULL;
	if (r->n_fps == r->cap_fps) {
		size_t cap = r->cap_fps ? r->cap_fps * 2 : 256;
		struct report_fp *n = realloc(r->fps, cap * sizeof(*n));
		if (!n)
			return NULL;
		r->fps = n;
		r->cap_fps = cap;
	}
	struct report_fp *e = &r->fps[r->n_fps++];
	memset(e, 0, sizeof(*e));
	e->fingerprint = fp;
	e->min_us = -1;
	r->index[i] = (uint32_t)r->n_fps;
	return e;
}

static char *dup_bounded(const char *s)
{
	size_t n = strnlen(s, REPORT_QUERY_MAX);
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

void report_add_query(struct report *r, uint64_t fingerprint, const char *query, const char *rules)
{
	struct report_fp *e = fp_find(r, fingerprint, true);
	if (e && !e->query)
		e->query = dup_bounded(query);
	if (e && !e->rules && rules)
		e->rules = dup_bounded(rules);
}

/* Fingerprint (and on first sight, normalized text) of a log statement's text. */
static bool fingerprint_text(struct report *r, const char *text, uint64_t *out)
{
	struct fpcache *c = r->fpcache;
	uint64_t key = text_key(text, strlen(text));
	if (fpcache_get(c, key, out))
		return true;
	PgQueryFingerprintResult fr = pg_query_fingerprint(text);
	bool ok = fr.error == NULL;
	uint64_t fp = fr.fingerprint;
	pg_query_free_fingerprint_result(fr);
	if (!ok)
		return false;
	fpcache_put(c, key, fp);
	*out = fp;
	struct report_fp *e = fp_find(r, fp, true);
	if (e && !e->query) {
		PgQueryNormalizeResult nr = pg_query_normalize(text);
		if (!nr.error && nr.normalized_query)
			e->query = dup_bounded(nr.normalized_query);
		pg_query_free_normalize_result(nr);
	}
	return true;
}

/* ---- time series ---------------------------------------------------------- */

static int64_t floor_to(int64_t t, int64_t w)
{
	int64_t q = t / w;
	if (t % w != 0 && t < 0)
		q--;
	return q * w;
}

/* Widen and shift the buckets until t falls inside them. */
static void buckets_cover(struct report *r, int64_t t)
{
	const int64_t n = REPORT_TIME_BUCKETS;
	if (!r->buckets_started) {
		r->bucket_width_us = 1000000;
		r->bucket_t0 = floor_to(t, r->bucket_width_us);
		r->buckets_started = true;
		return;
	}
	int64_t lo = r->bucket_t0 < t ? r->bucket_t0 : t;
	int64_t hi = r->bucket_t0 + n * r->bucket_width_us;
	if (t >= r->bucket_t0 && t < hi)
		return;
	if (t >= hi)
		hi = t + 1;
	int64_t w = r->bucket_width_us;
	while (hi - floor_to(lo, w) > n * w)
		w *= 2;
	int64_t t0 = floor_to(lo, w);
	struct report_bucket *old = malloc(sizeof(r->buckets));
	if (!old)
		return;
	memcpy(old, r->buckets, sizeof(r->buckets));
	memset(r->buckets, 0, sizeof(r->buckets));
	for (int64_t i = 0; i < n; i++) {
		if (old[i].calls == 0)
			continue;
		int64_t start = r->bucket_t0 + i * r->bucket_width_us;
		struct report_bucket *d = &r->buckets[(start - t0) / w];
		d->calls += old[i].calls;
		d->errors += old[i].errors;
		d->total_us += old[i].total_us;
		hist_merge(&d->hist, &old[i].hist);
	}
	free(old);
	r->bucket_t0 = t0;
	r->bucket_width_us = w;
}

/* ---- statements ------------------------------------------------------------- */

static bool keep(const struct report *r, const struct logread_stmt *st)
{
	if (r->opts.since_us && st->time_us < r->opts.since_us)
		return false;
	if (r->opts.until_us && st->time_us >= r->opts.until_us)
		return false;
	if (r->opts.database && (!st->database || strcmp(st->database, r->opts.database) != 0))
		return false;
	if (r->opts.user && (!st->user || strcmp(st->user, r->opts.user) != 0))
		return false;
	return true;
}

/* What the traffic rules look at: from the command tag, else the text's first word. */
static enum traffic_kind stmt_kind(const char *tag, const char *text)
{
	static const char *const reads[] = {"SELECT", "WITH", "VALUES", "TABLE", "SHOW", NULL};
	static const char *const writes[] = {"INSERT", "UPDATE", "DELETE", "MERGE", "COPY", NULL};
	char word[16] = "";
	const char *p = tag;
	if (!p || !*p) {
		for (p = text ? text : "";
		     *p == ' ' || *p == '\n' || *p == '\t' || *p == '(' || *p == '\r'; p++)
			;
	}
	size_t n = 0;
	while (n + 1 < sizeof(word) &&
	       ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z'))) {
		word[n] = (char)(p[n] >= 'a' ? p[n] - 32 : p[n]);
		n++;
	}
	word[n] = '\0';
	for (size_t i = 0; writes[i]; i++) {
		if (strcmp(word, writes[i]) == 0)
			return TRAFFIC_WRITE;
	}
	for (size_t i = 0; reads[i]; i++) {
		if (strcmp(word, reads[i]) == 0)
			return TRAFFIC_READ;
	}
	return TRAFFIC_OTHER;
}

/*
 * Feed the traffic rules. Logs carry no parameter hash for simple-protocol
 * statements: the text itself, literals included, tells identical executions
 * from different ones.
 */
static void feed_traffic(struct report *r, const struct logread_stmt *st, const struct report_fp *e)
{
	if (!r->traffic)
		return;
	struct traffic_stmt ts;
	memset(&ts, 0, sizeof(ts));
	int64_t dur = st->duration_us > 0 ? st->duration_us : 0;
	/* Inputs give completion times; the rules want start times. */
	ts.time_us = (uint64_t)(st->time_us - dur);
	ts.client_id = st->client;
	ts.xact_id = st->xact;
	ts.fingerprint = e->fingerprint;
	ts.normalized = e->query;
	ts.params_hash = st->params_hash;
	if (st->text) {
		uint64_t h = 0xcbf29ce484222325ull ^ st->params_hash;
		for (const unsigned char *p = (const unsigned char *)st->text; *p; p++)
			h = (h ^ *p) * 0x100000001b3ull;
		ts.params_hash = h;
	}
	ts.duration_us = (uint64_t)dur;
	ts.kind = stmt_kind(st->tag, st->text ? st->text : e->query);
	if (st->duration_us < 0 && ts.kind == TRAFFIC_OTHER)
		return;
	traffic_feed(r->traffic, &ts);
}

static void set_name(char *dst, const char *s)
{
	if (s && !dst[0])
		snprintf(dst, REPORT_NAME_MAX, "%s", s);
}

void report_add_stmt(struct report *r, const struct logread_stmt *st)
{
	r->stmts_read++;
	if (!keep(r, st))
		return;
	uint64_t fp = st->fingerprint;
	if (fp == 0) {
		if (!st->text || !fingerprint_text(r, st->text, &fp)) {
			r->unparsed++;
			return;
		}
	}
	struct report_fp *e = fp_find(r, fp, true);
	if (!e) {
		r->untracked++;
		return;
	}
	r->stmts_kept++;
	e->calls++;
	if (e->calls == 1) {
		e->first_us = st->time_us;
		set_name(e->database, st->database);
		set_name(e->user, st->user);
		set_name(e->application_name, st->application_name);
	}
	if (st->time_us < e->first_us)
		e->first_us = st->time_us;
	if (st->time_us > e->last_us)
		e->last_us = st->time_us;
	if (st->failed) {
		e->errors++;
		r->errors++;
	}
	if (st->route && strcmp(st->route, "primary") != 0)
		e->replica++;
	if (st->rows >= 0) {
		e->rows_calls++;
		e->rows += (uint64_t)st->rows;
	}
	if (st->wait_us > 0)
		e->wait_us += st->wait_us;

	if (r->stmts_kept == 1 || st->time_us < r->first_us)
		r->first_us = st->time_us;
	if (st->time_us > r->last_us)
		r->last_us = st->time_us;
	buckets_cover(r, st->time_us);
	int64_t bi = (st->time_us - r->bucket_t0) / r->bucket_width_us;
	struct report_bucket *b = NULL;
	if (bi >= 0 && bi < REPORT_TIME_BUCKETS)
		b = &r->buckets[bi];
	if (b) {
		b->calls++;
		b->errors += st->failed;
	}
	feed_traffic(r, st, e);
	if (st->duration_us < 0)
		return;
	int64_t d = st->duration_us;
	e->timed++;
	e->total_us += d;
	if (d > e->max_us)
		e->max_us = d;
	if (e->min_us < 0 || d < e->min_us)
		e->min_us = d;
	report_hist_add(&e->hist, d);
	report_hist_add(&r->all, d);
	r->total_us += d;
	if (d > r->max_us)
		r->max_us = d;
	if (b) {
		b->total_us += d;
		report_hist_add(&b->hist, d);
	}
}

/*
 * Statements a capture says were not captured, when their time range meets
 * the report's period. Their database and user are unknown, so the
 * --database/--user filters cannot apply.
 */
static void add_lost(struct report *r, const struct logread_lost *l)
{
	if (r->opts.since_us && l->to_us < r->opts.since_us)
		return;
	if (r->opts.until_us && l->from_us >= r->opts.until_us)
		return;
	r->not_captured += l->statements;
}

void report_loss_note(const struct report *r, char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	if (r->not_captured)
		n += (size_t)snprintf(
		    out, size,
		    "%llu statements not captured (the pooler's capture lost them: "
		    "a full queue or write errors), so calls are undercounted",
		    (unsigned long long)r->not_captured);
	if (r->truncated_files && n < size)
		snprintf(out + n, size - n,
		         "%s%zu file(s) cut short (still being written, or the writer was stopped "
		         "abruptly), read up to the last complete record",
		         n ? "; " : "", r->truncated_files);
}

int report_add_file(struct report *r, const char *path, char *err, size_t errsize)
{
	struct logread *lr = logread_open(path, &r->opts.input, err, errsize);
	if (!lr)
		return -1;
	struct logread_event ev;
	int rc;
	while ((rc = logread_next(lr, &ev)) > 0) {
		if (ev.kind == LOGREAD_QUERY)
			report_add_query(r, ev.query.fingerprint, ev.query.query, ev.query.rules);
		else if (ev.kind == LOGREAD_LOST)
			add_lost(r, &ev.lost);
		else
			report_add_stmt(r, &ev.stmt);
	}
	struct logread_stats s = logread_stats(lr);
	r->skipped += s.skipped;
	r->truncated_files += s.truncated != 0;
	r->bytes += s.bytes;
	r->n_files++;
	if (rc < 0)
		snprintf(err, errsize, "%s: %s", path, logread_error(lr));
	logread_close(lr);
	return rc < 0 ? -1 : 0;
}

/* ---- lifecycle --------------------------------------------------------------- */

struct report *report_new(const struct report_options *opts)
{
	struct report *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->opts = *opts;
	if (r->opts.top == 0)
		r->opts.top = 20;
	r->fpcache = calloc(1, sizeof(struct fpcache));
	struct traffic_config tc;
	traffic_config_from_rules(&tc, r->opts.rules);
	r->traffic = traffic_new(&tc);
	if (!r->fpcache || !r->traffic) {
		traffic_free(r->traffic);
		free(r->fpcache);
		free(r);
		return NULL;
	}
	return r;
}

void report_free(struct report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_fps; i++) {
		free(r->fps[i].query);
		free(r->fps[i].rules);
	}
	for (size_t i = 0; i < r->n_findings; i++) {
		free(r->findings[i].message);
		free(r->findings[i].suggestion);
		free(r->findings[i].hypo);
	}
	free(r->findings);
	free(r->groups);
	free(r->fps);
	free(r->index);
	free(r->fpcache);
	traffic_free(r->traffic);
	free(r);
}

size_t report_top_count(const struct report *r)
{
	return r->opts.top < r->n_fps ? r->opts.top : r->n_fps;
}

/* ---- ranking and findings ------------------------------------------------------ */

static int cmp_fp_time(const void *a, const void *b)
{
	const struct report_fp *x = a, *y = b;
	if (x->total_us != y->total_us)
		return x->total_us < y->total_us ? 1 : -1;
	if (x->calls != y->calls)
		return x->calls < y->calls ? 1 : -1;
	return x->fingerprint < y->fingerprint ? -1 : x->fingerprint > y->fingerprint;
}

static struct report_rule_group *group_for(struct report *r, const char *rule_id)
{
	for (size_t i = 0; i < r->n_groups; i++) {
		if (strcmp(r->groups[i].rule_id, rule_id) == 0)
			return &r->groups[i];
	}
	struct report_rule_group *g = realloc(r->groups, (r->n_groups + 1) * sizeof(*g));
	if (!g)
		return NULL;
	r->groups = g;
	g = &r->groups[r->n_groups++];
	memset(g, 0, sizeof(*g));
	g->rule_id = rule_id;
	return g;
}

/*
 * Add f for fp; TIME_US is the time at stake, or -1 for the fingerprint's
 * whole time.
 */
static bool add_finding(struct report *r, const struct report_fp *fp, const struct finding *f,
                        int64_t time_us)
{
	if (r->opts.baseline && baseline_contains(r->opts.baseline, fp->fingerprint, f->rule_id)) {
		r->baselined++;
		return true;
	}
	if (r->n_findings % 64 == 0) {
		struct report_finding *n = realloc(r->findings, (r->n_findings + 64) * sizeof(*n));
		if (!n)
			return false;
		r->findings = n;
	}
	struct report_finding *rf = &r->findings[r->n_findings++];
	memset(rf, 0, sizeof(*rf));
	rf->rule_id = f->rule_id;
	rf->severity = f->severity;
	rf->fingerprint = fp->fingerprint;
	rf->fp = fp;
	rf->message = strdup(f->message ? f->message : "");
	rf->suggestion = f->suggestion ? strdup(f->suggestion) : NULL;
	rf->time_us = time_us >= 0 ? time_us : fp->total_us;
	return true;
}

/* Is ID one of the comma-separated ids in LIST? */
static bool id_listed(const char *list, const char *id)
{
	size_t n = strlen(id);

	for (const char *p = list; p != NULL && *p != 0;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && strncmp(p, id, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/*
 * Whose verdict counts for RULE on fp: the pooler's, recorded on the text as
 * sent, when the rule judges literal values (the normalized text has $n in
 * their place) or needs a schema the report was not given; else the
 * report's own analysis of the normalized text, which also sees the rows per
 * call the capture shows.
 */
/* Calls with a row count a fingerprint needs before its rows per call count as evidence. */
#define REPORT_MIN_ROWS_CALLS 3

static bool verdict_recorded(const struct report *r, const struct report_fp *fp,
                             const struct rule *rule)
{
	if (fp->rules == NULL || rule == NULL)
		return false;
	if (rule->uses_observed_rows && fp->rows_calls >= REPORT_MIN_ROWS_CALLS)
		return false; /* the rows it returned say more than any estimate */
	return rule->judges_literals || (rule->needs_schema && r->opts.catalog == NULL);
}

/* A finding the pooler recorded that the normalized text cannot show. */
static void add_recorded(struct report *r, const struct report_fp *fp, const struct rule *rule)
{
	struct finding f = {.rule_id = rule->id};
	char msg[512];

	f.severity = rule_config_severity(r->opts.rules, rule);
	if (f.severity == SEVERITY_OFF)
		return;
	snprintf(msg, sizeof(msg), "%s (raised by the pooler on the statement as sent: %s)",
	         rule->summary,
	         rule->judges_literals ? "its values are not in the capture"
	                               : "with the live schema");
	f.message = msg;
	add_finding(r, fp, &f, -1);
}

static void analyze_one(struct report *r, const struct report_fp *fp)
{
	struct analyze_options opts = {0};
	struct analysis *a;

	if (fp->rows_calls >= REPORT_MIN_ROWS_CALLS) {
		opts.observed = true;
		opts.observed_rows = (double)fp->rows / (double)fp->rows_calls;
	}
	a = analyze_sql(fp->query, strlen(fp->query), r->opts.catalog, r->opts.rules, &opts);

	if (a != NULL) {
		for (size_t k = 0; k < a->n_findings; k++) {
			const struct finding *f = &a->findings[k];
			/* Engine findings are about the text, not the traffic: a normalized
			 * text that does not parse is a capture artefact, not advice. */
			if (strcmp(f->rule_id, ENGINE_RULE_SYNTAX_ERROR) == 0 ||
			    strcmp(f->rule_id, ENGINE_RULE_UNUSED_SUPPRESSION) == 0)
				continue;
			if (verdict_recorded(r, fp, rule_find(f->rule_id)) &&
			    !id_listed(fp->rules, f->rule_id))
				continue; /* the text as sent did not raise it */
			add_finding(r, fp, f, -1);
		}
	}
	for (size_t k = 0; rule_registry[k] != NULL; k++) {
		const struct rule *rule = rule_registry[k];
		bool found = false;

		if (!verdict_recorded(r, fp, rule) || !id_listed(fp->rules, rule->id))
			continue;
		for (size_t j = 0; a != NULL && j < a->n_findings && !found; j++)
			found = strcmp(a->findings[j].rule_id, rule->id) == 0;
		if (!found)
			add_recorded(r, fp, rule);
	}
	analysis_free(a);
}

static void analyze_fingerprints(struct report *r)
{
	for (size_t i = 0; i < r->n_fps; i++) {
		if (r->fps[i].query != NULL)
			analyze_one(r, &r->fps[i]);
	}
}

/* Rank of a rule's group in r (groups are sorted by time first). */
static size_t group_rank(const struct report *r, const char *rule_id)
{
	for (size_t i = 0; i < r->n_groups; i++) {
		if (strcmp(r->groups[i].rule_id, rule_id) == 0)
			return i;
	}
	return r->n_groups;
}

static int cmp_group(const void *a, const void *b)
{
	const struct report_rule_group *x = a, *y = b;
	if (x->time_us != y->time_us)
		return x->time_us < y->time_us ? 1 : -1;
	if (x->severity != y->severity)
		return x->severity < y->severity ? 1 : -1;
	return strcmp(x->rule_id, y->rule_id);
}

static int cmp_finding(const void *a, const void *b, void *arg)
{
	const struct report_finding *x = a, *y = b;
	size_t gx = group_rank(arg, x->rule_id), gy = group_rank(arg, y->rule_id);
	if (gx != gy)
		return gx < gy ? -1 : 1;
	if (x->time_us != y->time_us)
		return x->time_us < y->time_us ? 1 : -1;
	return x->fingerprint < y->fingerprint ? -1 : x->fingerprint > y->fingerprint;
}

static void group_findings(struct report *r)
{
	for (size_t i = 0; i < r->n_findings; i++) {
		struct report_rule_group *g = group_for(r, r->findings[i].rule_id);
		if (!g)
			continue;
		g->time_us += r->findings[i].time_us;
		if (r->findings[i].severity > g->severity)
			g->severity = r->findings[i].severity;
	}
	qsort(r->groups, r->n_groups, sizeof(*r->groups), cmp_group);
	qsort_r(r->findings, r->n_findings, sizeof(*r->findings), cmp_finding, r);
	size_t at = 0;
	for (size_t g = 0; g < r->n_groups; g++) {
		r->groups[g].first = at;
		r->groups[g].count = 0;
		while (at < r->n_findings &&
		       strcmp(r->findings[at].rule_id, r->groups[g].rule_id) == 0) {
			r->groups[g].count++;
			at++;
		}
	}
}

/* The traffic rules' findings, attached to the fingerprints' aggregates. */
static void traffic_findings(struct report *r)
{
	struct traffic_finding *tf = NULL;
	size_t n = traffic_report(r->traffic, &tf);
	if (n == (size_t)-1)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct report_fp *fp = fp_find(r, tf[i].fingerprint, false);
		if (!fp || tf[i].severity == SEVERITY_OFF)
			continue;
		struct finding f;
		memset(&f, 0, sizeof(f));
		f.rule_id = tf[i].rule_id;
		f.severity = tf[i].severity;
		f.message = tf[i].message;
		f.suggestion = tf[i].suggestion[0] ? tf[i].suggestion : NULL;
		/* Only the calls that make the pattern are at stake (an N+1 loop's calls). */
		add_finding(r, fp, &f, (int64_t)tf[i].pattern_us);
	}
	traffic_findings_free(tf, n);
}

void report_finish(struct report *r)
{
	qsort(r->fps, r->n_fps, sizeof(*r->fps), cmp_fp_time);
	/* The aggregates moved: the index must point at their new places. */
	if (r->index_cap)
		index_build(r, r->index_cap);
	analyze_fingerprints(r);
	traffic_findings(r);
	if (r->opts.hypo_dsn)
		report_hypo_apply(r, r->opts.hypo_dsn);
	group_findings(r);
}

/* ---- helpers shared by the writers ------------------------------------------------ */

void report_fp_hex(uint64_t fp, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)fp);
}

void report_format_us(int64_t us, char *out, size_t size)
{
	if (us < 1000)
		snprintf(out, size, "%lld µs", (long long)us);
	else if (us < 1000000)
		snprintf(out, size, "%.1f ms", (double)us / 1e3);
	else if (us < 600000000)
		snprintf(out, size, "%.2f s", (double)us / 1e6);
	else
		snprintf(out, size, "%.1f min", (double)us / 6e7);
}

void report_json_str(FILE *out, const char *s)
{
	json_write_string(out, s != NULL ? s : "");
}

int report_format_parse(const char *name)
{
	static const char *const names[] = {"text", "json", "html", "sarif"};
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, names[i]) == 0)
			return i;
	}
	return -1;
}

int report_write(const struct report *r, enum report_format f, FILE *out, bool color)
{
	switch (f) {
	case REPORT_TEXT:
		return report_write_text(r, out, color);
	case REPORT_JSON:
		return report_write_json(r, out);
	case REPORT_HTML:
		return report_write_html(r, out);
	case REPORT_SARIF:
		return report_write_sarif(r, out);
	}
	return -1;
}
