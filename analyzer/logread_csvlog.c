/* logread_csvlog.c - read PostgreSQL csvlog files (log_destination = 'csvlog'). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/logread_int.h"

/* Columns of PostgreSQL 13-15 csvlog lines that pgscope uses. */
enum {
	COL_TIME = 0,
	COL_USER = 1,
	COL_DB = 2,
	COL_PID = 3,
	COL_SESSION = 5,
	COL_SEVERITY = 11,
	COL_SQLSTATE = 12,
	COL_MESSAGE = 13,
	COL_DETAIL = 14,
	COL_QUERY = 19,
	COL_APP = 22,
	COL_MAX = 32,
};

struct csv_state {
	struct logread_buf rec; /* one record, possibly several physical lines */
	char *cols[COL_MAX];
	size_t col_len[COL_MAX];
	size_t ncols;
	struct logread_pgrec pgrec;
	struct logread_pg pg;
};

static size_t count_quotes(const char *s, size_t n)
{
	size_t q = 0;
	for (const char *p = memchr(s, '"', n); p; p = memchr(p + 1, '"', n - (size_t)(p + 1 - s)))
		q++;
	return q;
}

/* Split the record in place into columns, removing quotes and "" escapes. */
static void split(struct csv_state *st)
{
	char *p = st->rec.data;
	char *end = p + st->rec.len;
	st->ncols = 0;
	while (st->ncols < COL_MAX) {
		char *w = p;
		char *start = p;
		if (p < end && *p == '"') {
			p++;
			while (p < end) {
				if (*p == '"' && p + 1 < end && p[1] == '"') {
					*w++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*w++ = *p++;
				}
			}
		} else {
			while (p < end && *p != ',')
				*w++ = *p++;
		}
		st->cols[st->ncols] = start;
		st->col_len[st->ncols] = (size_t)(w - start);
		st->ncols++;
		if (p >= end || *p != ',') {
			*w = '\0';
			break;
		}
		*w = '\0'; /* may overwrite the ',' at p: step past it first */
		p++;
	}
}

static const char *col(const struct csv_state *st, size_t i)
{
	return i < st->ncols ? st->cols[i] : "";
}

static bool read_record(struct logread *r, struct csv_state *st)
{
	char *line;
	size_t len;
	for (;;) {
		if (!logread_line(r, &line, &len))
			return false;
		st->rec.len = 0;
		bool ok = logread_buf_append(&st->rec, line, len);
		size_t quotes = count_quotes(line, len);
		while (ok && quotes % 2 == 1 && logread_line(r, &line, &len)) {
			ok = logread_buf_append(&st->rec, "\n", 1) &&
			     logread_buf_append(&st->rec, line, len);
			quotes += count_quotes(line, len);
		}
		if (!ok || st->rec.len == 0) {
			r->stats.skipped++;
			continue;
		}
		split(st);
		if (st->ncols <= COL_MESSAGE) {
			r->stats.skipped++;
			continue;
		}
		return true;
	}
}

static void fill_pgrec(struct csv_state *st)
{
	struct logread_pgrec *rec = &st->pgrec;
	memset(rec, 0, sizeof(*rec));
	const char *t = col(st, COL_TIME);
	logread_parse_time(t, strlen(t), &rec->time_us);
	snprintf(rec->user, sizeof(rec->user), "%s", col(st, COL_USER));
	snprintf(rec->database, sizeof(rec->database), "%s", col(st, COL_DB));
	snprintf(rec->application_name, sizeof(rec->application_name), "%s", col(st, COL_APP));
	snprintf(rec->sqlstate, sizeof(rec->sqlstate), "%s", col(st, COL_SQLSTATE));
	snprintf(rec->severity, sizeof(rec->severity), "%s", col(st, COL_SEVERITY));
	const char *session = col(st, COL_SESSION)[0] ? col(st, COL_SESSION) : col(st, COL_PID);
	rec->session = logread_hash(session, strlen(session), 1);
	rec->message = (char *)col(st, COL_MESSAGE);
	rec->detail = col(st, COL_DETAIL)[0] ? (char *)col(st, COL_DETAIL) : NULL;
	rec->statement = col(st, COL_QUERY)[0] ? (char *)col(st, COL_QUERY) : NULL;
}

static int csvlog_next(struct logread *r, struct logread_event *ev)
{
	struct csv_state *st = r->state;
	while (read_record(r, st)) {
		fill_pgrec(st);
		if (logread_pg_feed(&st->pg, &st->pgrec, ev))
			return 1;
	}
	return logread_pg_finish(&st->pg, ev) ? 1 : 0;
}

static void csvlog_release(struct logread *r)
{
	struct csv_state *st = r->state;
	logread_buf_release(&st->rec);
	logread_pg_release(&st->pg);
	free(st);
}

int logread_csvlog_init(struct logread *r)
{
	struct csv_state *st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(r->error, sizeof(r->error), "out of memory");
		return -1;
	}
	logread_pg_init(&st->pg);
	r->state = st;
	r->next = csvlog_next;
	r->release = csvlog_release;
	return 0;
}
