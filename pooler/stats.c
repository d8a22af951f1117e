/*
 * stats.c - traffic per database and the averages of each stats_period
 * (see stats.h), with the periodic "stats" log line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/stats.h"

/* One database's totals at the last period's end, and the averages since the one before. */
struct stats_db {
	char name[NAME_MAX_LEN];
	struct traffic_counts prev;
	struct stats_avg avg;
};

struct stats_state {
	ev_timer timer;
	double period; /* seconds */
	struct stats_db dbs[STATS_DB_MAX];
	size_t n_dbs;
};

size_t stats_databases(struct loop_state *ls, const char **names, size_t max)
{
	size_t n = 0;

	for (struct list *it = ls->pools.next; it != &ls->pools && n < max; it = it->next) {
		const char *db = list_entry(it, struct pool, node)->db->name;
		bool seen = false;

		for (size_t i = 0; i < n && !seen; i++)
			seen = strcmp(names[i], db) == 0;
		if (!seen)
			names[n++] = db;
	}
	return n;
}

void stats_db_totals(struct loop_state *ls, const char *db, struct traffic_counts *out)
{
	memset(out, 0, sizeof(*out));
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		if (strcmp(p->db->name, db) == 0)
			counts_add(out, &p->traffic);
	}
}

static double per(double amount, double count)
{
	return count > 0 ? amount / count : 0;
}

void stats_rates(const struct traffic_counts *old, const struct traffic_counts *new_,
                 double seconds, struct stats_avg *out)
{
	double xacts = (double)(new_->transactions - old->transactions);
	double queries = (double)(new_->queries - old->queries);

	out->xact_count = per(xacts, seconds);
	out->query_count = per(queries, seconds);
	out->bytes_in = per((double)(new_->bytes_in - old->bytes_in), seconds);
	out->bytes_out = per((double)(new_->bytes_out - old->bytes_out), seconds);
	out->xact_time_us = per((new_->xact_time - old->xact_time) * 1e6, xacts);
	out->query_time_us = per((new_->query_time - old->query_time) * 1e6, queries);
	out->wait_time_us =
	    per((new_->wait_total - old->wait_total) * 1e6, (double)(new_->waits - old->waits));
}

static struct stats_db *stats_db_find(struct stats_state *st, const char *db, bool create)
{
	for (size_t i = 0; i < st->n_dbs; i++)
		if (strcmp(st->dbs[i].name, db) == 0)
			return &st->dbs[i];
	if (!create || st->n_dbs >= STATS_DB_MAX)
		return NULL;
	snprintf(st->dbs[st->n_dbs].name, sizeof(st->dbs[0].name), "%s", db);
	return &st->dbs[st->n_dbs++];
}

void stats_db_averages(struct loop_state *ls, const char *db, struct stats_avg *out)
{
	const struct stats_db *d =
	    ls->stats_period ? stats_db_find(ls->stats_period, db, false) : NULL;

	if (d != NULL)
		*out = d->avg;
	else
		memset(out, 0, sizeof(*out));
}

/* A period ended: averages since the last one, and one log line per database. */
static void on_period(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct loop_state *ls = w->data;
	struct stats_state *st = ls->stats_period;
	const char *names[STATS_DB_MAX];
	size_t n = stats_databases(ls, names, STATS_DB_MAX);

	for (size_t i = 0; i < n; i++) {
		struct stats_db *d = stats_db_find(st, names[i], true);
		struct traffic_counts now;

		if (d == NULL)
			break;
		stats_db_totals(ls, names[i], &now);
		stats_rates(&d->prev, &now, st->period, &d->avg);
		d->prev = now;
		log_event(LOG_INFO, "stats", LOG_STR, "db", names[i], LOG_INT, "xacts_per_s",
		          (long long)(d->avg.xact_count + 0.5), LOG_INT, "queries_per_s",
		          (long long)(d->avg.query_count + 0.5), LOG_INT, "in_bytes_per_s",
		          (long long)d->avg.bytes_in, LOG_INT, "out_bytes_per_s",
		          (long long)d->avg.bytes_out, LOG_INT, "xact_us",
		          (long long)d->avg.xact_time_us, LOG_INT, "query_us",
		          (long long)d->avg.query_time_us, LOG_INT, "wait_us",
		          (long long)d->avg.wait_time_us, LOG_END);
	}
}

void stats_start(struct loop_state *ls, int period_ms)
{
	struct stats_state *st;

	if (period_ms <= 0)
		return;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return;
	st->period = period_ms / 1000.0;
	ev_timer_init(&st->timer, on_period, st->period, st->period);
	st->timer.data = ls;
	ev_timer_start(ls->ev, &st->timer);
	ls->stats_period = st;
}

void stats_stop(struct loop_state *ls)
{
	if (ls->stats_period == NULL)
		return;
	ev_timer_stop(ls->ev, &ls->stats_period->timer);
	free(ls->stats_period);
	ls->stats_period = NULL;
}
