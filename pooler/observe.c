/*
 * observe.c - the analysis thread: statement texts to the analyzer,
 * completed statements to the traffic rules and capture (see observe.h).
 *
 * Queues, both under one mutex: new texts as a list of copies bounded in
 * bytes, completed statements as a fixed ring of records (no allocation on
 * the event loop). The thread takes texts before statements, so a
 * statement's text is known before the statement is.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer/cache.h"
#include "analyzer/catalog.h"
#include "analyzer/engine.h"
#include "analyzer/parse.h"
#include "analyzer/rule.h"
#include "analyzer/traffic.h"
#include "pooler/capture.h"
#include "pooler/condwait.h"
#include "pooler/htab.h"
#include "pooler/log.h"
#include "pooler/observe.h"
#include "pooler/pooler.h"
#include "pooler/textshape.h"
#include "pooler/qstats.h"

#define OBS_RING          16384               /* completed statements queued */
#define OBS_TEXT_BYTES    (16u * 1024 * 1024) /* texts queued, in bytes */
#define OBS_KNOWN_MAX     100000              /* distinct texts remembered by the event loop */
#define OBS_LONG_PREFIX   4096                /* bytes hashed of a text over analyze_max_bytes */
#define OBS_REPORT_PERIOD 10                  /* seconds between traffic-rule reports */
#define OBS_POLL_MS       50                  /* the thread drains the queues this often (ms) */

/* A completed statement as queued (fixed size). */
struct obs_stmt {
	int64_t time_us, duration_us, wait_us, rows;
	uint64_t text_hash, params_hash, xact, client;
	char database[CAPTURE_NAME_MAX];
	char user[CAPTURE_NAME_MAX];
	char application_name[CAPTURE_NAME_MAX];
	char route[CAPTURE_NAME_MAX]; /* "primary", or the replica's host:port */
	char tag[CAPTURE_TAG_MAX];
	char sqlstate[6];
};

/* A new text as queued, or a schema snapshot for the texts after it. */
struct obs_text {
	struct obs_text *next;
	uint64_t hash;
	uint64_t db;             /* the scope's database (0: none) */
	struct catalog *catalog; /* not NULL: this is a snapshot of db's schema, owned */
	bool reset;              /* the event loop forgot every text: so does the thread */
	size_t len;
	char sql[]; /* NUL-terminated */
};

/* What the thread knows of a text. */
struct obs_result {
	uint64_t fingerprint; /* 0 when it did not parse */
	char *normalized;     /* owned, may be NULL */
	char *text;           /* owned raw text, only with capture_literals */
	char *rules;          /* owned: ids of the rules raised on the text, "" for none */
	char trace_id[CAPTURE_TRACE_MAX];
};

/* The analysis thread and its queues (one per process, owned by pooler.observer). */
struct observer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	bool idle; /* the thread waits with no timeout: the next item queued wakes it */
	/* queues (under lock) */
	struct obs_text *texts_head, *texts_tail;
	size_t text_bytes;
	struct obs_stmt ring[OBS_RING];
	unsigned ring_head, ring_len;
	/* event-loop side only */
	struct htab known; /* text hash -> (void *)1 */
	size_t max_bytes;
	/* thread side only */
	struct analysis_cache *cache;
	struct rule_config *rules;
	struct traffic *traffic;
	struct htab results;  /* text hash -> struct obs_result * */
	struct htab reported; /* rule id + fingerprint already logged */
	struct htab dbs;      /* scope db -> struct catalog *: its latest schema snapshot, owned */
	struct htab flagged;  /* scope db + fingerprint -> rules last logged (char *, owned) */
	bool capture;
	bool literals;
	int log_min_duration; /* ms, -1 = off (atomic: a reload sets it from the event loop) */
	/* counters (atomic) */
	struct observe_stats stats;
};

static struct observer *obs_state(void)
{
	return pooler.observer;
}

bool observe_enabled(void)
{
	return obs_state() != NULL;
}

struct observe_stats observe_get_stats(void)
{
	struct observe_stats s = {0};
	struct observer *o = obs_state();

	if (o == NULL)
		return s;
	s.texts = __atomic_load_n(&o->stats.texts, __ATOMIC_RELAXED);
	s.analyzed = __atomic_load_n(&o->stats.analyzed, __ATOMIC_RELAXED);
	s.flagged = __atomic_load_n(&o->stats.flagged, __ATOMIC_RELAXED);
	s.statements = __atomic_load_n(&o->stats.statements, __ATOMIC_RELAXED);
	s.dropped = __atomic_load_n(&o->stats.dropped, __ATOMIC_RELAXED);
	s.too_long = __atomic_load_n(&o->stats.too_long, __ATOMIC_RELAXED);
	return s;
}

static void count(uint64_t *counter)
{
	__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

/* ---- event loop side ---- */

/*
 * Under the lock, after queueing: wake the thread when it sleeps for want of
 * work. While work flows it wakes on its own every OBS_POLL_MS, so the loop
 * signals only on the first item after a quiet spell.
 */
static void wake_if_idle(struct observer *o)
{
	if (!o->idle)
		return;
	o->idle = false;
	pthread_cond_signal(&o->wake);
}

static void enqueue_text(struct observer *o, struct obs_text *t)
{
	pthread_mutex_lock(&o->lock);
	if (!t->reset && t->catalog == NULL && o->text_bytes + t->len > OBS_TEXT_BYTES) {
		pthread_mutex_unlock(&o->lock);
		htab_del(&o->known, &t->hash, sizeof(t->hash)); /* try again next time */
		free(t);
		count(&o->stats.dropped);
		return;
	}
	if (o->texts_tail)
		o->texts_tail->next = t;
	else
		o->texts_head = t;
	o->texts_tail = t;
	o->text_bytes += t->len;
	wake_if_idle(o);
	pthread_mutex_unlock(&o->lock);
}

/* Texts of another database or schema snapshot get another key. */
static uint64_t scope_mix(uint64_t h, const struct observe_scope *scope)
{
	if (scope == NULL)
		return h;
	h ^= scope->db * 0x9e3779b97f4a7c15ull;
	h ^= (scope->generation + 1) * 0xc2b2ae3d27d4eb4full;
	return h ? h : 1;
}

uint64_t observe_text(const struct observe_scope *scope, const char *sql, size_t len,
                      uint64_t *raw_hash)
{
	struct observer *o = obs_state();
	struct obs_text *t;
	uint64_t h = 0;
	bool too_long;

	*raw_hash = 0;
	if (o == NULL)
		return 0;
	while (len > 0 && sql[len - 1] == 0)
		len--;
	too_long = len > o->max_bytes;
	*raw_hash = htab_hash(sql, too_long ? OBS_LONG_PREFIX : len) ^ (uint64_t)len;
	/* Texts whose own words matter (literals captured, trace ids) stay apart. */
	if (!too_long && !o->literals && memmem(sql, len, "traceparent", 11) == NULL)
		h = textshape_hash(sql, len, 0);
	if (h == 0)
		h = *raw_hash ? *raw_hash : 1;
	h = scope_mix(h, scope);
	if (htab_get(&o->known, &h, sizeof(h)) != NULL)
		return h;
	if (o->known.count >= OBS_KNOWN_MAX) {
		/* Forget everything, and tell the thread to do the same. */
		htab_release(&o->known);
		t = calloc(1, sizeof(*t) + 1);
		if (t != NULL) {
			t->reset = true;
			enqueue_text(o, t);
		}
	}
	htab_put(&o->known, &h, sizeof(h), (void *)1);
	count(&o->stats.texts);
	if (too_long) {
		count(&o->stats.too_long);
		len = 0; /* counted, not parsed: the thread records it without a fingerprint */
	}
	t = malloc(sizeof(*t) + len + 1);
	if (t == NULL)
		return h;
	t->next = NULL;
	t->hash = h;
	t->db = scope != NULL ? scope->db : 0;
	t->catalog = NULL;
	t->reset = false;
	t->len = len;
	memcpy(t->sql, sql, len);
	t->sql[len] = 0;
	enqueue_text(o, t);
	return h;
}

void observe_catalog(uint64_t db, struct catalog *cat)
{
	struct observer *o = obs_state();
	struct obs_text *t;

	if (o == NULL) {
		catalog_free(cat);
		return;
	}
	t = calloc(1, sizeof(*t) + 1);
	if (t == NULL) {
		catalog_free(cat);
		return;
	}
	t->db = db;
	t->catalog = cat;
	enqueue_text(o, t);
}

/* The command word of a tag: "INSERT 0 1" -> "INSERT", "CREATE TABLE" stays. */
static void tag_word(const char *tag, char *out, size_t outlen)
{
	size_t n = strlen(tag);

	while (n > 0 && ((tag[n - 1] >= '0' && tag[n - 1] <= '9') || tag[n - 1] == ' '))
		n--;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, tag, n);
	out[n] = 0;
}

void observe_statement(const struct stmt_event *ev)
{
	struct observer *o = obs_state();
	const struct client *c = ev->client;
	struct obs_stmt *s;
	const char *app;

	if (o == NULL || ev->text_hash == 0)
		return;
	pthread_mutex_lock(&o->lock);
	if (o->ring_len == OBS_RING) {
		pthread_mutex_unlock(&o->lock);
		count(&o->stats.dropped);
		if (o->capture)
			capture_lost((int64_t)(ev->end * 1e6)); /* the capture records the gap */
		return;
	}
	s = &o->ring[(o->ring_head + o->ring_len) % OBS_RING];
	o->ring_len++;
	s->time_us = (int64_t)(ev->end * 1e6);
	s->duration_us = (int64_t)((ev->end - ev->start) * 1e6);
	s->wait_us = (int64_t)(ev->wait * 1e6);
	s->rows = ev->rows;
	s->text_hash = ev->text_hash;
	s->params_hash = ev->params_hash;
	s->xact = ev->xact_id;
	s->client = c->id;
	snprintf(s->database, sizeof(s->database), "%s", c->database);
	snprintf(s->user, sizeof(s->user), "%s", c->user);
	app = params_get(&c->params, "application_name");
	snprintf(s->application_name, sizeof(s->application_name), "%s", app ? app : "");
	if (c->pool != NULL && c->pool->home != NULL)
		snprintf(s->route, sizeof(s->route), "%.40s:%d", c->pool->primary->host,
		         c->pool->primary->port);
	else
		snprintf(s->route, sizeof(s->route), "primary");
	tag_word(ev->tag, s->tag, sizeof(s->tag));
	snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", ev->sqlstate);
	/* The thread wakes on its own every OBS_POLL_MS; only a backlog calls it early. */
	if (o->ring_len == OBS_RING / 4)
		pthread_cond_signal(&o->wake);
	wake_if_idle(o);
	pthread_mutex_unlock(&o->lock);
	count(&o->stats.statements);
}

/* ---- the thread ---- */

static void result_free(void *value, void *arg)
{
	struct obs_result *r = value;

	free(r->normalized);
	free(r->text);
	free(r->rules);
	free(r);
	(void)arg;
}

static void free_entry(void *value, void *arg)
{
	free(value);
	(void)arg;
}

/* The ids of a's findings, comma-separated, into rules ("" when none). */
static void finding_ids(const struct analysis *a, char *rules, size_t size)
{
	size_t used = 0;

	rules[0] = 0;
	for (size_t i = 0; i < a->n_findings && used + 2 < size; i++) {
		int n = snprintf(rules + used, size - used, "%s%s", used ? "," : "",
		                 a->findings[i].rule_id);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/*
 * Log a text's findings when they differ from what was last logged for its
 * fingerprint in its database: a new snapshot (an index created) can clear
 * a finding, which is logged too, and an unchanged one is not repeated.
 */
static void log_findings(struct observer *o, uint64_t db, const struct analysis *a, const char *sql,
                         const char *rules)
{
	uint64_t key[2] = {db, a->fingerprint};
	char *before, *copy;

	before = htab_get(&o->flagged, key, sizeof(key));
	if ((before == NULL && rules[0] == 0) || (before != NULL && strcmp(before, rules) == 0))
		return;
	if (before == NULL && o->flagged.count >= OBS_KNOWN_MAX) {
		htab_foreach(&o->flagged, free_entry, NULL); /* bounded: start over */
		htab_release(&o->flagged);
	}
	copy = strdup(rules);
	if (copy == NULL)
		return;
	if (rules[0] == 0) {
		log_event(LOG_INFO, "query.cleared", LOG_STR, "fingerprint", a->fingerprint_hex,
		          LOG_STR, "rules_before", before, LOG_STR, "query",
		          a->normalized ? a->normalized : sql, LOG_END);
	} else {
		count(&o->stats.flagged);
		log_event(LOG_INFO, "query.flagged", LOG_STR, "fingerprint", a->fingerprint_hex,
		          LOG_STR, "rules", rules, LOG_STR, "severity",
		          severity_name(analysis_max_severity(a)), LOG_STR, "message",
		          a->findings[0].message, LOG_STR, "query",
		          a->normalized ? a->normalized : sql, LOG_END);
	}
	free(before);
	htab_put(&o->flagged, key, sizeof(key), copy);
}

static void catalog_entry_free(void *value, void *arg)
{
	catalog_free(value);
	(void)arg;
}

/* A new schema snapshot for t->db (ownership taken): texts analysed from now on use it. */
static void install_catalog(struct observer *o, struct obs_text *t)
{
	catalog_free(htab_get(&o->dbs, &t->db, sizeof(t->db)));
	if (!htab_put(&o->dbs, &t->db, sizeof(t->db), t->catalog)) {
		htab_del(&o->dbs, &t->db, sizeof(t->db));
		catalog_free(t->catalog);
	}
	t->catalog = NULL;
}

/*
 * The analysis of t. Against its database's latest snapshot, when there is
 * one, it is made afresh and *owned receives it for the caller to free: the
 * loop queues each (database, snapshot, text shape) once, so a cache there
 * would hold what is never asked again. Without a snapshot it comes from the
 * cache (borrowed), shared by every database.
 */
static const struct analysis *analyze_text(struct observer *o, const struct obs_text *t,
                                           struct analysis **owned)
{
	struct analyze_options opts = {.max_bytes = o->max_bytes};
	const struct catalog *cat = t->db ? htab_get(&o->dbs, &t->db, sizeof(t->db)) : NULL;

	*owned = NULL;
	if (cat != NULL)
		return *owned = analyze_sql(t->sql, t->len, cat, o->rules, &opts);
	return analysis_cache_analyze(o->cache, t->sql, t->len, NULL, o->rules, &opts);
}

static void process_text(struct observer *o, struct obs_text *t)
{
	const struct analysis *a = NULL;
	struct analysis *owned = NULL;
	struct obs_result *r;

	if (t->catalog != NULL) {
		install_catalog(o, t);
		return;
	}
	if (t->reset) {
		htab_foreach(&o->results, result_free, NULL);
		htab_release(&o->results);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return;
	if (t->len > 0)
		a = analyze_text(o, t, &owned);
	count(&o->stats.analyzed);
	if (a != NULL && a->status == PARSE_OK) {
		r->fingerprint = a->fingerprint;
		char rules[256];

		r->normalized = a->normalized ? strdup(a->normalized) : NULL;
		finding_ids(a, rules, sizeof(rules));
		r->rules = strdup(rules);
		log_findings(o, t->db, a, t->sql, rules);
		qstats_verdict(a->fingerprint);
		for (size_t i = 0; i < a->n_findings; i++)
			qstats_fix(a->fingerprint, a->findings[i].rule_id,
			           a->findings[i].suggestion ? a->findings[i].suggestion
			                                     : a->findings[i].message);
	}
	if (o->literals && t->len > 0)
		r->text = strdup(t->sql);
	capture_trace_id(t->sql, r->trace_id);
	analysis_free(owned);
	{
		struct obs_result *old = htab_get(&o->results, &t->hash, sizeof(t->hash));

		if (old != NULL)
			result_free(old, NULL);
	}
	htab_put(&o->results, &t->hash, sizeof(t->hash), r);
}

/* Reads get every traffic rule; writes n-plus-one and slow-query; the rest slow-query. */
static enum traffic_kind traffic_kind_of(const char *tag)
{
	if (strcmp(tag, "SELECT") == 0 || strcmp(tag, "FETCH") == 0)
		return TRAFFIC_READ;
	if (strcmp(tag, "INSERT") == 0 || strcmp(tag, "UPDATE") == 0 ||
	    strcmp(tag, "DELETE") == 0 || strcmp(tag, "MERGE") == 0 || strcmp(tag, "COPY") == 0)
		return TRAFFIC_WRITE;
	return TRAFFIC_OTHER;
}

/*
 * A statement slower than log_min_duration: one query.slow line. R is what
 * is known of its text, NULL when the text was dropped or forgotten (the
 * line then has no fingerprint and no text). The raw text is written only
 * with capture_literals; otherwise the normalized one, or none.
 */
static void log_slow(struct observer *o, const struct obs_stmt *s, const struct obs_result *r)
{
	int min_ms = __atomic_load_n(&o->log_min_duration, __ATOMIC_RELAXED);
	char fp[17] = "";
	const char *query = NULL;

	if (min_ms < 0 || s->duration_us < (int64_t)min_ms * 1000)
		return;
	if (r != NULL && r->fingerprint != 0)
		snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)r->fingerprint);
	if (r != NULL)
		query = r->text != NULL ? r->text : r->normalized;
	log_event(LOG_INFO, "query.slow", LOG_INT, "duration_us", (long long)s->duration_us,
	          LOG_STR, "fingerprint", fp, LOG_STR, "db", s->database, LOG_STR, "user", s->user,
	          LOG_STR, "application_name", s->application_name, LOG_STR, "route", s->route,
	          LOG_STR, "tag", s->tag, LOG_INT, "rows", (long long)s->rows, LOG_STR, "sqlstate",
	          s->sqlstate, LOG_STR, "trace_id", r != NULL ? r->trace_id : "", LOG_INT,
	          "wait_us", (long long)s->wait_us, LOG_INT, "client", (long long)s->client,
	          LOG_STR, "query", query, LOG_END);
}

void observe_set_log_min_duration(int ms)
{
	struct observer *o = obs_state();

	if (o != NULL)
		__atomic_store_n(&o->log_min_duration, ms, __ATOMIC_RELAXED);
}

static void process_stmt(struct observer *o, const struct obs_stmt *s)
{
	const struct obs_result *r = htab_get(&o->results, &s->text_hash, sizeof(s->text_hash));
	struct capture_record rec;

	log_slow(o, s, r);
	if (r == NULL || r->fingerprint == 0)
		return; /* dropped, forgotten or unparsable text */
	qstats_record(r->fingerprint, r->normalized, r->rules, (double)s->duration_us, s->rows,
	              s->sqlstate[0] != 0, strcmp(s->route, "primary") != 0);
	if (o->traffic != NULL) {
		struct traffic_stmt ts = {
		    .time_us = (uint64_t)(s->time_us - s->duration_us),
		    .client_id = s->client,
		    .xact_id = s->xact,
		    .fingerprint = r->fingerprint,
		    .normalized = r->normalized,
		    .params_hash = s->params_hash,
		    .duration_us = (uint64_t)s->duration_us,
		    .kind = traffic_kind_of(s->tag),
		};

		traffic_feed(o->traffic, &ts);
	}
	if (!o->capture)
		return;
	memset(&rec, 0, sizeof(rec));
	rec.time_us = s->time_us;
	rec.duration_us = s->duration_us;
	rec.wait_us = s->wait_us;
	rec.rows = s->rows;
	rec.fingerprint = r->fingerprint;
	rec.params_hash = s->params_hash;
	rec.xact = s->xact;
	rec.client = s->client;
	memcpy(rec.database, s->database, sizeof(rec.database));
	memcpy(rec.user, s->user, sizeof(rec.user));
	memcpy(rec.application_name, s->application_name, sizeof(rec.application_name));
	memcpy(rec.route, s->route, sizeof(rec.route));
	memcpy(rec.tag, s->tag, sizeof(rec.tag));
	memcpy(rec.sqlstate, s->sqlstate, sizeof(rec.sqlstate));
	memcpy(rec.trace_id, r->trace_id, sizeof(rec.trace_id));
	rec.query = r->normalized;
	rec.rules = r->rules;
	rec.text = r->text;
	capture_submit(&rec);
}

/* Log traffic-rule findings, each (rule, fingerprint) once. */
static void report_traffic(struct observer *o)
{
	struct traffic_finding *f = NULL;
	size_t n;

	if (o->traffic == NULL)
		return;
	n = traffic_report(o->traffic, &f);
	for (size_t i = 0; i < n; i++) {
		char key[96];
		char fp[17];

		snprintf(key, sizeof(key), "%s/%016llx", f[i].rule_id,
		         (unsigned long long)f[i].fingerprint);
		if (htab_get(&o->reported, key, strlen(key)) != NULL)
			continue;
		htab_put(&o->reported, key, strlen(key), (void *)1);
		qstats_add_rule(f[i].fingerprint, f[i].rule_id, f[i].message);
		snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)f[i].fingerprint);
		log_event(LOG_INFO, "traffic.flagged", LOG_STR, "rule", f[i].rule_id, LOG_STR,
		          "fingerprint", fp, LOG_INT, "executions", (long long)f[i].executions,
		          LOG_STR, "message", f[i].message, LOG_STR, "query", f[i].normalized,
		          LOG_END);
	}
	traffic_findings_free(f, n);
}

#define OBS_BATCH 256

/*
 * Under the lock, after a poll found nothing: sleep until work is queued or
 * a stop, and at most until the traffic report is due (REPORT_IN seconds,
 * or no limit when there is nothing to report), so an idle pooler does not
 * wake this thread 1000 / OBS_POLL_MS times a second.
 */
static void wait_idle(struct observer *o, long report_in)
{
	int64_t ms = report_in < 0 ? -1 : (int64_t)report_in * 1000;

	o->idle = true;
	while (o->idle && !o->stopping) {
		if (condwait_ms(&o->wake, &o->lock, ms) == ETIMEDOUT)
			break;
	}
	o->idle = false;
}

static void *observer_main(void *arg)
{
	struct observer *o = arg;
	struct obs_stmt batch[OBS_BATCH];
	time_t last_report = time(NULL);
	bool more = false, quiet = false, unreported = false;

	for (;;) {
		struct obs_text *texts;
		unsigned n = 0;
		bool stop, took_texts;

		pthread_mutex_lock(&o->lock);
		if (!o->stopping && !more && o->ring_len < OBS_RING / 4) {
			/* Batch: wake every OBS_POLL_MS, or early for a backlog or a stop. */
			if (quiet && o->ring_len == 0 && o->texts_head == NULL) {
				long due = OBS_REPORT_PERIOD - (long)(time(NULL) - last_report);

				wait_idle(o, unreported ? (due > 0 ? due : 0) : -1);
			} else {
				condwait_ms(&o->wake, &o->lock, OBS_POLL_MS);
			}
		}
		texts = o->texts_head;
		took_texts = texts != NULL;
		o->texts_head = o->texts_tail = NULL;
		o->text_bytes = 0;
		while (n < OBS_BATCH && o->ring_len > 0) {
			batch[n++] = o->ring[o->ring_head];
			o->ring_head = (o->ring_head + 1) % OBS_RING;
			o->ring_len--;
		}
		more = o->ring_len > 0; /* drain it all before sleeping again */
		stop = o->stopping && texts == NULL && n == 0 && o->ring_len == 0;
		pthread_mutex_unlock(&o->lock);
		while (texts != NULL) {
			struct obs_text *next = texts->next;

			process_text(o, texts);
			catalog_free(texts->catalog); /* a snapshot left over when stopping */
			free(texts);
			texts = next;
		}
		for (unsigned i = 0; i < n; i++)
			process_stmt(o, &batch[i]);
		quiet = n == 0 && !took_texts;
		unreported = unreported || n > 0;
		if (time(NULL) - last_report >= OBS_REPORT_PERIOD || stop) {
			report_traffic(o);
			last_report = time(NULL);
			unreported = false;
		}
		if (stop)
			break;
	}
	parse_thread_cleanup();
	return NULL;
}

static bool setup_rules(struct observer *o, const struct config *cfg, char *err, size_t errlen)
{
	struct traffic_config tc;

	o->rules = rule_config_new();
	if (o->rules == NULL)
		return false;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		char why[256];

		if (rule_config_set(o->rules, cfg->rules[i].key, cfg->rules[i].value, why,
		                    sizeof(why)) != 0) {
			snprintf(err, errlen, "%s:%d: [rules] %s: %s", cfg->path,
			         cfg->rules[i].line, cfg->rules[i].key, why);
			return false;
		}
	}
	traffic_config_from_rules(&tc, o->rules);
	o->traffic = traffic_new(&tc);
	o->cache = analysis_cache_new(10000, 64u * 1024 * 1024);
	return o->cache != NULL;
}

static void observer_free(struct observer *o)
{
	if (o->cache)
		analysis_cache_free(o->cache);
	if (o->rules)
		rule_config_free(o->rules);
	if (o->traffic)
		traffic_free(o->traffic);
	htab_foreach(&o->results, result_free, NULL);
	htab_release(&o->results);
	htab_release(&o->reported);
	htab_foreach(&o->dbs, catalog_entry_free, NULL);
	htab_release(&o->dbs);
	htab_foreach(&o->flagged, free_entry, NULL);
	htab_release(&o->flagged);
	htab_release(&o->known);
	pthread_mutex_destroy(&o->lock);
	pthread_cond_destroy(&o->wake);
	free(o);
}

bool observe_start(const struct config *cfg, char *err, size_t errlen)
{
	struct observer *o;

	if (!cfg->analyze && !cfg->capture) {
		if (cfg->log_min_duration >= 0)
			log_event(
			    LOG_WARNING, "config.slow_log_off", LOG_STR, "note",
			    "log_min_duration needs analyze or capture on: no statement is logged",
			    LOG_END);
		return true;
	}
	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->wake, NULL);
	o->max_bytes = cfg->analyze_max_bytes;
	o->capture = cfg->capture;
	o->literals = cfg->capture_literals;
	o->log_min_duration = cfg->log_min_duration;
	if (!setup_rules(o, cfg, err, errlen))
		goto out_free;
	if (cfg->capture) {
		capture_set_options(cfg->capture_compress, cfg->capture_queue_size);
		if (cfg->capture_dir == NULL ||
		    capture_open(cfg->capture_dir, (int64_t)cfg->capture_max_bytes,
		                 cfg->capture_max_age, cfg->capture_literals) != 0) {
			snprintf(err, errlen, "capture_dir %s: cannot capture there",
			         cfg->capture_dir ? cfg->capture_dir : "(not set)");
			goto out_free;
		}
	}
	if (pthread_create(&o->thread, NULL, observer_main, o) != 0) {
		snprintf(err, errlen, "cannot start the analysis thread");
		if (cfg->capture)
			capture_close();
		goto out_free;
	}
	pooler.observer = o;
	return true;
out_free:
	if (err[0] == 0)
		snprintf(err, errlen, "cannot set up analysis");
	observer_free(o);
	return false;
}

void observe_stop(void)
{
	struct observer *o = obs_state();

	if (o == NULL)
		return;
	pthread_mutex_lock(&o->lock);
	o->stopping = true;
	pthread_cond_signal(&o->wake);
	pthread_mutex_unlock(&o->lock);
	pthread_join(o->thread, NULL);
	if (o->capture)
		capture_close();
	pooler.observer = NULL;
	observer_free(o);
}
