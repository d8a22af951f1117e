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

static void append(struct pbuf *out, const char *s)
{
	pbuf_append(out, s, strlen(s));
}

void metrics_header(struct pbuf *out, const char *name, const char *type, const char *help)
{
	char line[512];

	snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	append(out, line);
}

void metrics_sample(struct pbuf *out, const char *name, const char *labels, double value)
{
	char line[LABELS_MAX + 160];

	if (value == floor(value) && fabs(value) < 1e15)
		snprintf(line, sizeof(line), "%s%s%s%s %.0f\n", name, labels[0] ? "{" : "", labels,
		         labels[0] ? "}" : "", value);
	else
		snprintf(line, sizeof(line), "%s%s%s%s %.9g\n", name, labels[0] ? "{" : "", labels,
		         labels[0] ? "}" : "", value);
	append(out, line);
}

void metrics_histogram(struct pbuf *out, const char *name, const char *labels, const double *bounds,
                       const uint64_t *counts, int n, double sum)
{
	char bucket[160], lab[LABELS_MAX + 40];
	uint64_t total = 0;

	snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	for (int i = 0; i < n; i++) {
		total += counts[i];
		if (i < n - 1)
			snprintf(lab, sizeof(lab), "%s%sle=\"%g\"", labels, labels[0] ? "," : "",
			         bounds[i]);
		else
			snprintf(lab, sizeof(lab), "%s%sle=\"+Inf\"", labels, labels[0] ? "," : "");
		metrics_sample(out, bucket, lab, (double)total);
	}
	snprintf(bucket, sizeof(bucket), "%s_sum", name);
	metrics_sample(out, bucket, labels, sum);
	snprintf(bucket, sizeof(bucket), "%s_count", name);
	metrics_sample(out, bucket, labels, (double)total);
}

/* database="..",user=".." of a pool, with EXTRA appended (a label or ""). */
static void pool_labels(const struct pool *p, const char *extra, char *out, size_t outlen)
{
	char db[2 * NAME_MAX_LEN + 1], user[2 * NAME_MAX_LEN + 1];

	metrics_escape(p->db->name, db, sizeof(db));
	metrics_escape(p->user, user, sizeof(user));
	snprintf(out, outlen, "database=\"%s\",user=\"%s\"%s%s", db, user, extra[0] ? "," : "",
	         extra);
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
	char labels[LABELS_MAX], state[64];
	struct pool_total s;

	metrics_header(out, "pgscope_clients", "gauge", "Client connections by pool and state.");
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		if (!pool_total(p, 0, &s))
			continue;
		for (size_t i = 0; i < sizeof(client_states) / sizeof(client_states[0]); i++) {
			snprintf(state, sizeof(state), "state=\"%s\"", client_states[i].name);
			pool_labels(p, state, labels, sizeof(labels));
			metrics_sample(out, "pgscope_clients", labels,
			               s.clients[client_states[i].state]);
		}
	}
	metrics_header(out, "pgscope_servers", "gauge", "Server connections by pool and state.");
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		if (!pool_total(p, 0, &s))
			continue;
		for (size_t i = 0; i < sizeof(server_states) / sizeof(server_states[0]); i++) {
			snprintf(state, sizeof(state), "state=\"%s\"", server_states[i].name);
			pool_labels(p, state, labels, sizeof(labels));
			metrics_sample(out, "pgscope_servers", labels,
			               s.servers[server_states[i].state]);
		}
	}
}

/* One counter family over every pool: the value of each pool's traffic picked by FIELD. */
static void write_pool_counter(struct loop_state *ls, struct pbuf *out, const char *name,
                               const char *help, double (*field)(const struct traffic_counts *))
{
	char labels[LABELS_MAX];
	struct pool_total s;

	metrics_header(out, name, "counter", help);
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		if (!pool_total(p, 0, &s))
			continue;
		pool_labels(p, "", labels, sizeof(labels));
		metrics_sample(out, name, labels, field(&s.traffic));
	}
}

static double f_transactions(const struct traffic_counts *t)
{
	return (double)t->transactions;
}

static double f_queries(const struct traffic_counts *t)
{
	return (double)t->queries;
}

static double f_bytes_in(const struct traffic_counts *t)
{
	return (double)t->bytes_in;
}

static double f_bytes_out(const struct traffic_counts *t)
{
	return (double)t->bytes_out;
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
	                   f_transactions);
	write_pool_counter(ls, out, "pgscope_statements_total", "Statements completed.", f_queries);
	write_pool_counter(ls, out, "pgscope_received_bytes_total", "Bytes received from clients.",
	                   f_bytes_in);
	write_pool_counter(ls, out, "pgscope_sent_bytes_total", "Bytes sent to clients.",
	                   f_bytes_out);
	write_pool_counter(ls, out, "pgscope_statement_seconds_total",
	                   "Time from forwarding a statement to its completion, summed.",
	                   f_query_time);
	write_pool_counter(ls, out, "pgscope_transaction_seconds_total",
	                   "Time from a transaction's first request to its end, summed.",
	                   f_xact_time);
	metrics_header(out, "pgscope_pool_wait_seconds", "histogram",
	               "Time clients waited for a server.");
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		if (!pool_total(p, 0, &s))
			continue;
		pool_labels(p, "", labels, sizeof(labels));
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
			snprintf(labels, sizeof(labels), "database=\"%s\",route=\"%s\"", db,
			         routes[r]);
			metrics_histogram(out, "pgscope_statement_duration_seconds", labels,
			                  counts_stmt_bounds, t.stmt_buckets[r],
			                  COUNTS_STMT_BUCKETS, t.stmt_time[r]);
		}
	}
}

/* ---- endpoints ---- */

static void endpoint_labels(const struct endpoint *ep, const char *extra, char *out, size_t outlen)
{
	char host[2 * sizeof(ep->host)];

	metrics_escape(ep->host, host, sizeof(host));
	snprintf(out, outlen, "host=\"%.511s\",port=\"%d\",role=\"%s\"%s%.63s", host, ep->port,
	         ep->role == ENDPOINT_PRIMARY ? "primary" : "replica", extra[0] ? "," : "", extra);
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

		if (isnan(v))
			continue;
		endpoint_labels(ep, "", labels, sizeof(labels));
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
	char labels[LABELS_MAX + 1024], state[64];

	metrics_header(out, "pgscope_endpoint_breaker_state", "gauge",
	               "Circuit breaker of each endpoint: 1 for its state, 0 for the others.");
	for (struct list *it = ls->endpoints.next; it != &ls->endpoints; it = it->next) {
		const struct endpoint *ep = list_entry(it, struct endpoint, node);

		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
			snprintf(state, sizeof(state), "state=\"%s\"",
			         endpoint_breaker_state_name(states[i]));
			endpoint_labels(ep, state, labels, sizeof(labels));
			metrics_sample(out, "pgscope_endpoint_breaker_state", labels,
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
	char labels[LABELS_MAX + 1024], kind[64];

	metrics_header(out, "pgscope_endpoint_failures_total", "counter",
	               "Server connection failures by endpoint and kind.");
	for (struct list *it = ls->endpoints.next; it != &ls->endpoints; it = it->next) {
		const struct endpoint *ep = list_entry(it, struct endpoint, node);

		for (int k = 0; k < ENDPOINT_FAIL_KINDS; k++) {
			snprintf(kind, sizeof(kind), "kind=\"%s\"", endpoint_failure_name(k));
			endpoint_labels(ep, kind, labels, sizeof(labels));
			metrics_sample(out, "pgscope_endpoint_failures_total", labels,
			               (double)ep->failures[k]);
		}
	}
	metrics_header(out, "pgscope_endpoint_logins_total", "counter",
	               "Server logins that succeeded, by endpoint.");
	for (struct list *it = ls->endpoints.next; it != &ls->endpoints; it = it->next) {
		const struct endpoint *ep = list_entry(it, struct endpoint, node);

		endpoint_labels(ep, "", labels, sizeof(labels));
		metrics_sample(out, "pgscope_endpoint_logins_total", labels, (double)ep->logins);
	}
	metrics_header(out, "pgscope_endpoint_consecutive_failures", "gauge",
	               "Failures since the endpoint's last successful login.");
	for (struct list *it = ls->endpoints.next; it != &ls->endpoints; it = it->next) {
		const struct endpoint *ep = list_entry(it, struct endpoint, node);

		endpoint_labels(ep, "", labels, sizeof(labels));
		metrics_sample(out, "pgscope_endpoint_consecutive_failures", labels,
		               ep->consecutive_failures);
	}
}

/* ---- process-wide ---- */

static void counter(struct pbuf *out, const char *name, const char *help, uint64_t value)
{
	metrics_header(out, name, "counter", help);
	metrics_sample(out, name, "", (double)value);
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
		snprintf(labels, sizeof(labels), "kind=\"%s\"", timeout_kind_name(k));
		metrics_sample(out, "pgscope_timeouts_total", labels,
		               (double)ls->stats.timeouts[k]);
	}
}

/* Fingerprints flagged per rule, from the live statistics. */
static void write_findings(struct pbuf *out)
{
	struct qstats_rule_count rules[64];
	size_t n = qstats_rule_counts(rules, 64);

	metrics_header(out, "pgscope_findings", "gauge",
	               "Query fingerprints seen live that a rule flags, by rule.");
	for (size_t j = 0; j < n; j++) {
		char labels[LABELS_MAX], rule[2 * sizeof(rules[0].rule)];

		metrics_escape(rules[j].rule, rule, sizeof(rule));
		snprintf(labels, sizeof(labels), "rule=\"%s\"", rule);
		metrics_sample(out, "pgscope_findings", labels, rules[j].fingerprints);
	}
}

void metrics_write(struct loop_state *ls, struct pbuf *out)
{
	char labels[256];

	metrics_header(out, "pgscope_build_info", "gauge", "The running pgscope's version.");
	snprintf(labels, sizeof(labels), "version=\"%s\",commit=\"%s\"", PGSCOPE_VERSION,
	         PGSCOPE_GIT_COMMIT);
	metrics_sample(out, "pgscope_build_info", labels, 1);
	write_connections(ls, out);
	write_traffic(ls, out);
	write_statement_durations(ls, out);
	write_endpoints(ls, out);
	write_breakers(ls, out);
	write_routing(ls, out);
	write_loop(ls, out);
	write_timeouts(ls, out);
	write_findings(out);
}
