/* logread_jsonlog.c - read PostgreSQL 15 jsonlog files (log_destination = 'jsonlog'). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/logread_int.h"
#include "analyzer/logread_jscan.h"

struct jsonlog_state {
	struct logread_pgrec rec;
	struct logread_pg pg;
};

static void set_str(char *dst, size_t size, const struct jscan_value *v)
{
	if (v->type == JSCAN_STRING)
		snprintf(dst, size, "%s", v->str);
}

/* Fill rec from one line; false when the line is not a JSON object. */
static bool parse_line(char *line, size_t len, struct logread_pgrec *rec)
{
	struct jscan s;
	char *key;
	struct jscan_value v;
	int rc;
	char pid[32] = "";
	bool have_session = false;

	memset(rec, 0, sizeof(*rec));
	if (!jscan_begin(&s, line, len))
		return false;
	while ((rc = jscan_next(&s, &key, &v)) > 0) {
		if (strcmp(key, "timestamp") == 0 && v.type == JSCAN_STRING)
			logread_parse_time(v.str, v.len, &rec->time_us);
		else if (strcmp(key, "user") == 0)
			set_str(rec->user, sizeof(rec->user), &v);
		else if (strcmp(key, "dbname") == 0)
			set_str(rec->database, sizeof(rec->database), &v);
		else if (strcmp(key, "application_name") == 0)
			set_str(rec->application_name, sizeof(rec->application_name), &v);
		else if (strcmp(key, "error_severity") == 0)
			set_str(rec->severity, sizeof(rec->severity), &v);
		else if (strcmp(key, "state_code") == 0)
			set_str(rec->sqlstate, sizeof(rec->sqlstate), &v);
		else if (strcmp(key, "message") == 0 && v.type == JSCAN_STRING)
			rec->message = v.str;
		else if (strcmp(key, "detail") == 0 && v.type == JSCAN_STRING)
			rec->detail = v.str;
		else if (strcmp(key, "statement") == 0 && v.type == JSCAN_STRING)
			rec->statement = v.str;
		else if (strcmp(key, "session_id") == 0 && v.type == JSCAN_STRING) {
			rec->session = logread_hash(v.str, v.len, 1);
			have_session = true;
		} else if (strcmp(key, "pid") == 0 && v.type == JSCAN_NUMBER)
			snprintf(pid, sizeof(pid), "%lld", (long long)v.num);
	}
	if (rc < 0 || !rec->message)
		return false;
	if (!have_session)
		rec->session = logread_hash(pid, strlen(pid), 1);
	return true;
}

static int jsonlog_next(struct logread *r, struct logread_event *ev)
{
	struct jsonlog_state *st = r->state;
	char *line;
	size_t len;
	while (logread_line(r, &line, &len)) {
		if (!parse_line(line, len, &st->rec)) {
			r->stats.skipped++;
			continue;
		}
		/* The line buffer stays valid: the pg machine copies what it keeps. */
		if (logread_pg_feed(&st->pg, &st->rec, ev))
			return 1;
	}
	return logread_pg_finish(&st->pg, ev) ? 1 : 0;
}

static void jsonlog_release(struct logread *r)
{
	struct jsonlog_state *st = r->state;
	logread_pg_release(&st->pg);
	free(st);
}

int logread_jsonlog_init(struct logread *r)
{
	struct jsonlog_state *st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(r->error, sizeof(r->error), "out of memory");
		return -1;
	}
	logread_pg_init(&st->pg);
	r->state = st;
	r->next = jsonlog_next;
	r->release = jsonlog_release;
	return 0;
}
