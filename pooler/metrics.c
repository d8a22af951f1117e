/*
 * metrics.c - Prometheus text format 0.0.4 of the pooler's counts (see
 * metrics.h). Each family is written whole (HELP, TYPE, then every sample),
 * as the format asks, so families that span pools walk the pools once each.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <config.h> /* the build's, for PGSCOPE_VERSION */
#include <git_commit.h>

#include "pooler/capture.h"
#include "pooler/loop.h"
#include "pooler/metrics.h"
#include "pooler/observe.h"
#include "pooler/pool.h"
#include "pooler/qstats.h"
#include "pooler/replica.h"
#include "pooler/route.h"
#include "pooler/stats.h"
#include "pooler/timeout.h"

#define LABELS_MAX 512
#define VALUE_MAX  32 /* a value's text: "%.9g" of a double, or a 64-bit integer */

void metrics_escape(const char *value, char *out, size_t outlen)
{
	size_t n = 0;

	for (const char *p = value; *p != 0 && n + 3 < outlen; p++) {
		if (*p == '\\' || *p == '"') {
			out[n++] = '\\';
			out[n++] = *p;
		} else if (*p == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = *p;
		}
	}
	out[n] = 0;
}

size_t metrics_format_uint(char *buf, uint64_t value)
{
	char rev[20];
	size_t n = 0, len;

	do {
		rev[n++] = (char)('0' + value % 10);
		value /= 10;
	} while (value != 0);
	len = n;
	while (n > 0)
		*buf++ = rev[--n];
	*buf = 0;
	return len;
}

/* VALUE's text into BUF (VALUE_MAX bytes): whole values as integers, others as %.9g. */
static size_t format_double(char *buf, double value)
{
	int n;

	if (value == floor(value) && fabs(value) < 1e15) {
		if (value >= 0)
			return metrics_format_uint(buf, (uint64_t)value);
		buf[0] = '-';
		return 1 + metrics_format_uint(buf + 1, (uint64_t)-value);
	}
	n = snprintf(buf, VALUE_MAX, "%.9g", value);
	return n < 0 ? 0 : (size_t)n < VALUE_MAX ? (size_t)n : VALUE_MAX - 1;
}

/* A bounded text built by appends, NUL-terminated, truncated at its size. */
struct text {
	char *s;
	size_t len, size;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (n > t->size - 1 - t->len)
		n = t->size - 1 - t->len;
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = 0;
}

static void text_str(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

/* ,KEY="VALUE" after the labels so far (VALUE needs no escaping), or KEY="VALUE" first. */
static void text_label(struct text *t, const char *key, const char *value)
{
	if (t->len > 0)
		text_add(t, ",", 1);
	text_str(t, key);
	text_add(t, "=\"", 2);
	text_str(t, value);
	text_add(t, "\"", 1);
}

void metrics_header(struct pbuf *out, const char *name, const char *type, const char *help)
{
	char line[512];
	struct text t = {line, 0, sizeof(line)};

	text_add(&t, "# HELP ", 7);
	text_str(&t, name);
	text_add(&t, " ", 1);
	text_str(&t, help);
	text_add(&t, "\n# TYPE ", 8);
	text_str(&t, name);
	text_add(&t, " ", 1);
	text_str(&t, type);
	text_add(&t, "\n", 1);
	pbuf_append(out, line, t.len);
}

/* N bytes of SRC at P (no terminator: a line in a body); past them. */
static uint8_t *put(uint8_t *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

/* NAME{LABELS} VALUE and a newline, reserved once and copied in (dropped past the limit). */
static void sample_line(struct pbuf *out, const char *name, const char *labels, const char *value,
                        size_t vlen)
{
	size_t n = strlen(name), l = strlen(labels);
	uint8_t *p;

	if (!pbuf_reserve(out, n + l + vlen + 4))
		return;
	p = put(pbuf_tail(out), name, n);
	if (l > 0) {
		*p++ = '{';
		p = put(p, labels, l);
		*p++ = '}';
	}
	*p++ = ' ';
	p = put(p, value, vlen);
	*p++ = '\n';
	out->end = (size_t)(p - out->data);
}

void metrics_sample(struct pbuf *out, const char *name, const char *labels, double value)
{
	char v[VALUE_MAX];
	size_t n = format_double(v, value);

	sample_line(out, name, labels, v, n);
}

void metrics_sample_uint(struct pbuf *out, const char *name, const char *labels, uint64_t value)
{
	char v[VALUE_MAX];
	size_t n = metrics_format_uint(v, value);

	sample_line(out, name, labels, v, n);
}

/* The %g text of a histogram bound: the bounds are constants, so each is formatted once. */
static const char *bound_text(double bound, char *buf, size_t len)
{
	static struct {
		double bound;
		char text[24];
	} seen[32];
	static size_t n_seen;

	for (size_t i = 0; i < n_seen; i++)
		if (seen[i].bound == bound)
			return seen[i].text;
	snprintf(buf, len, "%g", bound);
	if (n_seen < sizeof(seen) / sizeof(seen[0]) && strlen(buf) < sizeof(seen[0].text)) {
		seen[n_seen].bound = bound;
		memcpy(seen[n_seen].text, buf, strlen(buf) + 1);
		n_seen++;
	}
	return buf;
}

void metrics_histogram(struct pbuf *out, const char *name, const char *labels, const double *bounds,
                       const uint64_t *counts, int n, double sum)
{
	char metric[160], lab[LABELS_MAX + 40], num[32];
	struct text m = {metric, 0, sizeof(metric)}, t = {lab, 0, sizeof(lab)};
	uint64_t total = 0;
	size_t base, lbase;

	text_str(&m, name);
	base = m.len;
	text_str(&m, "_bucket");
	text_str(&t, labels);
	lbase = t.len;
	for (int i = 0; i < n; i++) {
		t.len = lbase;
		total += counts[i];
		text_label(&t, "le", i < n - 1 ? bound_text(bounds[i], num, sizeof(num)) : "+Inf");
		metrics_sample_uint(out, metric, lab, total);
	}
	m.len = base;
	text_str(&m, "_sum");
	metrics_sample(out, metric, labels, sum);
	m.len = base;
	text_str(&m, "_count");
	metrics_sample_uint(out, metric, labels, total);
}

/* database="..",user=".." of a pool into T (empty). */
static void pool_labels(const struct pool *p, struct text *t)
{
	char db[2 * NAME_MAX_LEN + 1], user[2 * NAME_MAX_LEN + 1];

	metrics_escape(p->db->name, db, sizeof(db));
	metrics_escape(p->user, user, sizeof(user));
	text_label(t, "database", db);
	text_label(t, "user", user);
}

/* ---- per pool ---- */

static const struct {
	enum client_state state;
	const char *name;
} client_states[] = {
    {CL_LOGIN, "login"}, {CL_IDLE, "idle"}, {CL_WAITING, "waiting"}, {CL_ACTIVE, "active"}};

static const struct {
	enum server_state state;
	const char *name;
} server_states[] = {
    {SV_CONNECTING, "connecting"}, {SV_LOGIN, "login"},       {SV_IDLE, "idle"},
    {SV_ACTIVE, "active"},         {SV_INTERNAL, "internal"}, {SV_CANCEL_WAIT, "cancel_wait"},
    {SV_LISTEN, "listen"},
};

static void write_connections(struct loop_state *ls, struct pbuf *out)
{
	char labels[LABELS_MAX];
	struct text t = {labels, 0, sizeof(labels)};
	struct pool_total s;

	metrics_header(out, "pgscope_clients", "gauge", "Client connections by pool and state.");
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		size_t base;

		if (!pool_total(p, 0, &s))
			continue;
		t.len = 0;
		pool_labels(p, &t);
		base = t.len;
		for (size_t i = 0; i < sizeof(client_states) / sizeof(client_states[0]); i++) {
			t.len = base;
			text_label(&t, "state", client_states[i].name);
			metrics_sample_uint(out, "pgscope_clients", labels,
			                    (uint64_t)s.clients[client_states[i].state]);
		}
	}
	metrics_header(out, "pgscope_servers", "gauge", "Server connections by pool and state.");
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		size_t base;

		if (!pool_total(p, 0, &s))
			continue;
		t.len = 0;
		pool_labels(p, &t);
		base = t.len;
		for (size_t i = 0; i < sizeof(server_states) / sizeof(server_states[0]); i++) {
			t.len = base;
			text_label(&t, "state", server_states[i].name);
			metrics_sample_uint(out, "pgscope_servers", labels,
			                    (uint64_t)s.servers[server_states[i].state]);
		}
	}
}

/*
 * One counter family over every pool: the count of each pool's traffic
 * picked by COUNT, or else its seconds picked by SECONDS.
 */
static void write_pool_counter(struct loop_state *ls, struct pbuf *out, const char *name,
                               const char *help, uint64_t (*count)(const struct traffic_counts *),
                               double (*seconds)(const struct traffic_counts *))
{
	char labels[LABELS_MAX];
	struct pool_total s;

	metrics_header(out, name, "counter", help);
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);
		struct text t = {labels, 0, sizeof(labels)};

		if (!pool_total(p, 0, &s))
			continue;
		pool_labels(p, &t);
		if (count != NULL)
			metrics_sample_uint(out, name, labels, count(&s.traffic));
		else
			metrics_sample(out, name, labels, seconds(&s.traffic));
	}
}

static uint64_t f_transactions(const struct traffic_counts *t)
{
	return t->transactions;
}

static uint64_t f_queries(const struct traffic_counts *t)
{
	return t->queries;
}

static uint64_t f_bytes_in(const struct traffic_counts *t)
{
	return t->bytes_in;
}

static uint64_t f_bytes_out(const struct traffic_counts *t)
{
	return t->bytes_out;
}

static double f_query_time(const struct traffic_counts *t)
{
	return t->query_time;
}

static double f_xact_time(const struct traffic_counts *t)
{
	return t->xact_time;
}

static void write_traffic(struct loop_state *ls, struct pbuf *out)
{
	char labels[LABELS_MAX];
	struct pool_total s;

	write_pool_counter(ls, out, "pgscope_transactions_total", "Transactions started.",
	                   f_transactions, NULL);
	write_pool_counter(ls, out, "pgscope_statements_total", "Statements completed.", f_queries,
	                   NULL);
	write_pool_counter(ls, out, "pgscope_received_bytes_total", "Bytes received from clients.",
	                   f_bytes_in, NULL);
	write_pool_counter(ls, out, "pgscope_sent_bytes_total", "Bytes sent to clients.",
	                   f_bytes_out, NULL);
	write_pool_counter(ls, out, "pgscope_statement_seconds_total",
	                   "Time from forwarding a statement to its completion, summed.", NULL,
	                   f_query_time);
	write_pool_counter(ls, out, "pgscope_transaction_seconds_total",
	                   "Time from a transaction's first request to its end, summed.", NULL,
	                   f_xact_time);
	metrics_header(out, "pgscope_pool_wait_seconds", "histogram",
	               "Time clients waited for a server.");
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);
		struct text t = {labels, 0, sizeof(labels)};

		if (!pool_total(p, 0, &s))
			continue;
		pool_labels(p, &t);
		metrics_histogram(out, "pgscope_pool_wait_seconds", labels, counts_wait_bounds,
		                  s.traffic.wait_buckets, COUNTS_WAIT_BUCKETS,
		                  s.traffic.wait_total);
	}
}

/* The statements of a route counted in T's duration histogram. */
static uint64_t statements_on(const struct traffic_counts *t, int route)
{
	uint64_t n = 0;

	for (int b = 0; b < COUNTS_STMT_BUCKETS; b++)
		n += t->stmt_buckets[route][b];
	return n;
}

/*
 * The duration histogram per database (its pools summed, as SHOW STATS sums
 * them) and route; a route no statement of the database ran on is left out.
 */
static void write_statement_durations(struct loop_state *ls, struct pbuf *out)
{
	static const char *const routes[COUNTS_ROUTES] = {
	    [ENDPOINT_PRIMARY] = "primary", [ENDPOINT_REPLICA] = "replica"};
	const char *names[STATS_DB_MAX];
	size_t n = stats_databases(ls, names, STATS_DB_MAX);
	char labels[LABELS_MAX], db[2 * NAME_MAX_LEN + 1];
	struct text lt = {labels, 0, sizeof(labels)};
	struct traffic_counts t;

	metrics_header(out, "pgscope_statement_duration_seconds", "histogram",
	               "Time from forwarding a statement to its completion, by database and the "
	               "role of the server that ran it.");
	for (size_t i = 0; i < n; i++) {
		stats_db_totals(ls, names[i], &t);
		metrics_escape(names[i], db, sizeof(db));
		for (int r = 0; r < COUNTS_ROUTES; r++) {
			if (r != ENDPOINT_PRIMARY && statements_on(&t, r) == 0)
				continue;
			lt.len = 0;
			text_label(&lt, "database", db);
			text_label(&lt, "route", routes[r]);
			metrics_histogram(out, "pgscope_statement_duration_seconds", labels,
			                  counts_stmt_bounds, t.stmt_buckets[r],
			                  COUNTS_STMT_BUCKETS, t.stmt_time[r]);
		}
	}
}

/* ---- endpoints ---- */

/* host="..",port="..",role=".." of an endpoint into T (empty), the host cut at 511 bytes. */
static void endpoint_labels(const struct endpoint *ep, struct text *t)
{
	char host[2 * sizeof(ep->host)], port[VALUE_MAX];

	metrics_escape(ep->host, host, sizeof(host));
	host[strlen(host) > 511 ? 511 : strlen(host)] = 0;
	metrics_format_uint(port, (uint64_t)ep->port);
	text_label(t, "host", host);
	text_label(t, "port", port);
	text_label(t, "role", ep->role == ENDPOINT_PRIMARY ? "primary" : "replica");
}

/*
 * One family over the endpoints: FIELD's value for each, or none where it
 * returns NAN (unknown, or not a thing of that endpoint's role).
 */
static void write_endpoint_family(struct loop_state *ls, struct pbuf *out, const char *name,
                                  const char *type, const char *help,
                                  double (*field)(const struct endpoint *, double now))
{
	char labels[LABELS_MAX + 1024];
	double now = ev_now(ls->ev);

	metrics_header(out, name, type, help);
	for (struct list *it = ls->endpoints.next; it != &ls->endpoints; it = it->next) {
		const struct endpoint *ep = list_entry(it, struct endpoint, node);
		double v = field(ep, now);
		struct text t = {labels, 0, sizeof(labels)};

		if (isnan(v))
			continue;
		endpoint_labels(ep, &t);
		metrics_sample(out, name, labels, v);
	}
}

/* A replica's lag while its polls are answered. */
static double ep_lag(const struct endpoint *ep, double now)
{
	return ep->role == ENDPOINT_REPLICA && replica_fresh(ep, now) ? ep->lag : NAN;
}

static double ep_routed(const struct endpoint *ep, double now)
{
	return (double)ep->routed;
}

static double ep_fallbacks(const struct endpoint *ep, double now)
{
	return ep->role == ENDPOINT_PRIMARY ? (double)ep->routed_fallback : NAN;
}

static double ep_lag_skips(const struct endpoint *ep, double now)
{
	return ep->role == ENDPOINT_REPLICA ? (double)ep->lag_skips : NAN;
}

/* 1 for the breaker's state, 0 for the others. */
static void write_breakers(struct loop_state *ls, struct pbuf *out)
{
	static const enum breaker_state states[] = {BREAKER_CLOSED, BREAKER_OPEN,
	                                            BREAKER_HALF_OPEN};
	char labels[LABELS_MAX + 1024];

	metrics_header(out, "pgscope_endpoint_breaker_state", "gauge",
	               "Circuit breaker of each endpoint: 1 for its state, 0 for the others.");
	for (struct list *it = ls->endpoints.next; it != &ls->endpoints; it = it->next) {
		const struct endpoint *ep = list_entry(it, struct endpoint, node);
		struct text t = {labels, 0, sizeof(labels)};
		size_t base;

		endpoint_labels(ep, &t);
		base = t.len;
		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
			t.len = base;
			text_label(&t, "state", endpoint_breaker_state_name(states[i]));
			metrics_sample_uint(out, "pgscope_endpoint_breaker_state", labels,
			                    ep->breaker.state == states[i]);
		}
	}
}

static void write_routing(struct loop_state *ls, struct pbuf *out)
{
	write_endpoint_family(ls, out, "pgscope_replica_lag_seconds", "gauge",
	                      "How far a replica's replay is behind its primary's WAL, in seconds, "
	                      "as last polled; absent while its polls go unanswered.",
	                      ep_lag);
	write_endpoint_family(ls, out, "pgscope_routed_total", "counter",
	                      "Read transactions that read routing sent to the endpoint.",
	                      ep_routed);
	write_endpoint_family(ls, out, "pgscope_routed_fallback_total", "counter",
	                      "Reads sent to the primary because no replica could take them.",
	                      ep_fallbacks);
	write_endpoint_family(ls, out, "pgscope_replica_lag_skips_total", "counter",
	                      "Times a replica fell behind max_replica_lag and was skipped.",
	                      ep_lag_skips);
}

static void write_endpoints(struct loop_state *ls, struct pbuf *out)
{
	char labels[LABELS_MAX + 1024];

	metrics_header(out, "pgscope_endpoint_failures_total", "counter",
	               "Server connection failures by endpoint and kind.");
	for (struct list *it = ls->endpoints.next; it != &ls->endpoints; it = it->next) {
		const struct endpoint *ep = list_entry(it, struct endpoint, node);
		struct text t = {labels, 0, sizeof(labels)};
		size_t base;

		endpoint_labels(ep, &t);
		base = t.len;
		for (int k = 0; k < ENDPOINT_FAIL_KINDS; k++) {
			t.len = base;
			text_label(&t, "kind", endpoint_failure_name(k));
			metrics_sample_uint(out, "pgscope_endpoint_failures_total", labels,
			                    ep->failures[k]);
		}
	}
	metrics_header(out, "pgscope_endpoint_logins_total", "counter",
	               "Server logins that succeeded, by endpoint.");
	for (struct list *it = ls->endpoints.next; it != &ls->endpoints; it = it->next) {
		const struct endpoint *ep = list_entry(it, struct endpoint, node);
		struct text t = {labels, 0, sizeof(labels)};

		endpoint_labels(ep, &t);
		metrics_sample_uint(out, "pgscope_endpoint_logins_total", labels, ep->logins);
	}
	metrics_header(out, "pgscope_endpoint_consecutive_failures", "gauge",
	               "Failures since the endpoint's last successful login.");
	for (struct list *it = ls->endpoints.next; it != &ls->endpoints; it = it->next) {
		const struct endpoint *ep = list_entry(it, struct endpoint, node);
		struct text t = {labels, 0, sizeof(labels)};

		endpoint_labels(ep, &t);
		metrics_sample(out, "pgscope_endpoint_consecutive_failures", labels,
		               ep->consecutive_failures);
	}
}

/* ---- process-wide ---- */

static void counter(struct pbuf *out, const char *name, const char *help, uint64_t value)
{
	metrics_header(out, name, "counter", help);
	metrics_sample_uint(out, name, "", value);
}

static void write_loop(struct loop_state *ls, struct pbuf *out)
{
	const struct pooler_stats *s = &ls->stats;
	struct observe_stats o = observe_get_stats();
	struct capture_stats cs = capture_stats();

	counter(out, "pgscope_clients_accepted_total", "Client connections accepted.",
	        s->clients_accepted);
	counter(out, "pgscope_clients_rejected_total",
	        "Client connections refused (max_client_conn, stopping).", s->clients_rejected);
	counter(out, "pgscope_protocol_errors_total", "Garbled startup packets.",
	        s->protocol_errors);
	counter(out, "pgscope_cancels_forwarded_total", "Cancel requests forwarded to a server.",
	        s->cancels_forwarded);
	counter(out, "pgscope_cancels_dropped_total", "Cancel requests matching no server.",
	        s->cancels_dropped);
	counter(out, "pgscope_cancels_sent_total",
	        "Cancel requests pgscope sent on its own, for query_timeout.", s->cancels_sent);
	counter(out, "pgscope_cancels_client_gone_total",
	        "Cancel requests for statements still running when their client left.",
	        s->cancels_client_gone);
	counter(out, "pgscope_notifications_dropped_total",
	        "Notifications not delivered to a listener.", s->notifications_dropped);
	counter(out, "pgscope_listeners_disconnected_total",
	        "Listening clients disconnected after notify_stall_timeout.",
	        s->listeners_disconnected);
	counter(out, "pgscope_analysis_texts_total",
	        "Distinct statement texts queued for analysis.", o.texts);
	counter(out, "pgscope_analysis_dropped_total",
	        "Analysis records dropped because the queue was full.", o.dropped);
	counter(out, "pgscope_capture_dropped_total",
	        "Capture records dropped because the queue was full.", cs.dropped);
	counter(out, "pgscope_capture_written_total", "Statement records written to capture files.",
	        cs.written);
	counter(out, "pgscope_query_stats_untracked_total",
	        "Statements of fingerprints beyond the live statistics table.", qstats_untracked());
}

static void write_timeouts(struct loop_state *ls, struct pbuf *out)
{
	char labels[64];

	metrics_header(out, "pgscope_timeouts_total", "counter",
	               "Time limits enforced, by kind (the config key).");
	for (int k = 0; k < TIMEOUT_KINDS; k++) {
		struct text t = {labels, 0, sizeof(labels)};

		text_label(&t, "kind", timeout_kind_name(k));
		metrics_sample_uint(out, "pgscope_timeouts_total", labels, ls->stats.timeouts[k]);
	}
}

/* Fingerprints flagged per rule, from the live statistics. */
static void write_findings(struct pbuf *out)
{
	struct qstats_rule_count rules[QSTATS_RULE_COUNTS_MAX];
	size_t n = qstats_rule_counts(rules, QSTATS_RULE_COUNTS_MAX);

	metrics_header(out, "pgscope_findings", "gauge",
	               "Query fingerprints seen live that a rule flags, by rule.");
	for (size_t j = 0; j < n; j++) {
		char labels[LABELS_MAX], rule[2 * sizeof(rules[0].rule)];
		struct text t = {labels, 0, sizeof(labels)};

		metrics_escape(rules[j].rule, rule, sizeof(rule));
		text_label(&t, "rule", rule);
		metrics_sample_uint(out, "pgscope_findings", labels,
		                    (uint64_t)rules[j].fingerprints);
	}
}

void metrics_write(struct loop_state *ls, struct pbuf *out)
{
	static size_t last_len; /* the previous body's size: the next one is about as long */
	char labels[256];
	struct text t = {labels, 0, sizeof(labels)};
	size_t start = pbuf_len(out);

	/* Grown once to the size expected, not doubled step by step from 1 kB. */
	pbuf_reserve(out, last_len + last_len / 8);
	metrics_header(out, "pgscope_build_info", "gauge", "The running pgscope's version.");
	text_label(&t, "version", PGSCOPE_VERSION);
	text_label(&t, "commit", PGSCOPE_GIT_COMMIT);
	metrics_sample_uint(out, "pgscope_build_info", labels, 1);
	write_connections(ls, out);
	write_traffic(ls, out);
	write_statement_durations(ls, out);
	write_endpoints(ls, out);
	write_breakers(ls, out);
	write_routing(ls, out);
	write_loop(ls, out);
	write_timeouts(ls, out);
	write_findings(out);
	last_len = pbuf_len(out) - start;
}
