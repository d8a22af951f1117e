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
#include "pooler/qstats.h"

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

	metrics_header(out, "pgscope_clients", "gauge", "Client connections by pool and state.");
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		for (size_t i = 0; i < sizeof(client_states) / sizeof(client_states[0]); i++) {
			snprintf(state, sizeof(state), "state=\"%s\"", client_states[i].name);
			pool_labels(p, state, labels, sizeof(labels));
			metrics_sample(out, "pgscope_clients", labels,
			               p->clients_by_state[client_states[i].state]);
		}
	}
	metrics_header(out, "pgscope_servers", "gauge", "Server connections by pool and state.");
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		for (size_t i = 0; i < sizeof(server_states) / sizeof(server_states[0]); i++) {
			snprintf(state, sizeof(state), "state=\"%s\"", server_states[i].name);
			pool_labels(p, state, labels, sizeof(labels));
			metrics_sample(out, "pgscope_servers", labels,
			               p->servers_by_state[server_states[i].state]);
		}
	}
}

/* One counter family over every pool: the value of each pool's traffic picked by FIELD. */
static void write_pool_counter(struct loop_state *ls, struct pbuf *out, const char *name,
                               const char *help, double (*field)(const struct traffic_counts *))
{
	char labels[LABELS_MAX];

	metrics_header(out, name, "counter", help);
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		pool_labels(p, "", labels, sizeof(labels));
		metrics_sample(out, name, labels, field(&p->traffic));
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

		pool_labels(p, "", labels, sizeof(labels));
		metrics_histogram(out, "pgscope_pool_wait_seconds", labels, counts_wait_bounds,
		                  p->traffic.wait_buckets, COUNTS_WAIT_BUCKETS,
		                  p->traffic.wait_total);
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
	write_endpoints(ls, out);
	write_loop(ls, out);
	write_findings(out);
}
