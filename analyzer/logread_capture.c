/* logread_capture.c - read pgscope capture files (docs/capture.md, version 1). */
#include <stdio.h>
#include <string.h>

#include "analyzer/logread_int.h"
#include "analyzer/logread_jscan.h"

#define CAPTURE_MAX_VERSION 1

static bool parse_hex64(const char *s, size_t len, uint64_t *out)
{
	if (len == 0 || len > 16)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

static const char *str_or_null(const struct jscan_value *v)
{
	return v->type == JSCAN_STRING ? v->str : NULL;
}

static int64_t int_or(const struct jscan_value *v, int64_t dflt)
{
	return v->type == JSCAN_NUMBER ? v->num : dflt;
}

/* Apply one member of a "stmt" record. */
static void stmt_member(struct logread_stmt *st, const char *key, const struct jscan_value *v)
{
	switch (key[0]) {
	case 'a':
		if (strcmp(key, "application_name") == 0)
			st->application_name = str_or_null(v);
		break;
	case 'c':
		if (strcmp(key, "client") == 0)
			st->client = (uint64_t)int_or(v, 0);
		break;
	case 'd':
		if (strcmp(key, "duration_us") == 0)
			st->duration_us = int_or(v, -1);
		else if (strcmp(key, "database") == 0)
			st->database = str_or_null(v);
		break;
	case 'f':
		if (strcmp(key, "fingerprint") == 0 && v->type == JSCAN_STRING)
			parse_hex64(v->str, v->len, &st->fingerprint);
		break;
	case 'p':
		if (strcmp(key, "params_hash") == 0 && v->type == JSCAN_STRING)
			parse_hex64(v->str, v->len, &st->params_hash);
		break;
	case 'r':
		if (strcmp(key, "rows") == 0)
			st->rows = int_or(v, -1);
		else if (strcmp(key, "route") == 0)
			st->route = str_or_null(v);
		break;
	case 's':
		if (strcmp(key, "sqlstate") == 0) {
			st->sqlstate = str_or_null(v);
			st->failed = st->sqlstate != NULL;
		}
		break;
	case 't':
		if (strcmp(key, "time") == 0) {
			if (v->type == JSCAN_NUMBER)
				st->time_us = v->num;
			else if (v->type == JSCAN_STRING)
				logread_parse_time(v->str, v->len, &st->time_us);
		} else if (strcmp(key, "tag") == 0) {
			st->tag = str_or_null(v);
		} else if (strcmp(key, "trace_id") == 0) {
			st->trace_id = str_or_null(v);
		} else if (strcmp(key, "text") == 0) {
			st->text = str_or_null(v);
		}
		break;
	case 'u':
		if (strcmp(key, "user") == 0)
			st->user = str_or_null(v);
		break;
	case 'w':
		if (strcmp(key, "wait_us") == 0)
			st->wait_us = int_or(v, -1);
		break;
	case 'x':
		if (strcmp(key, "xact") == 0)
			st->xact = (uint64_t)int_or(v, 0);
		break;
	default:
		break;
	}
}

/* Apply one member of a "lost" record; false when key is not one of them. */
static bool lost_member(struct logread_lost *l, const char *key, const struct jscan_value *v)
{
	if (strcmp(key, "statements") == 0)
		l->statements = (uint64_t)int_or(v, 0);
	else if (strcmp(key, "from") == 0)
		l->from_us = int_or(v, 0);
	else if (strcmp(key, "to") == 0)
		l->to_us = int_or(v, 0);
	else if (strcmp(key, "reason") == 0)
		l->reason = str_or_null(v);
	else
		return false;
	return true;
}

/*
 * A line that is not a record: the last line of a file cut short (no line
 * end, as when the writer was killed) makes the file truncated, any other is
 * skipped.
 */
static int bad_line(struct logread *r)
{
	if (r->mark_saved != '\n')
		r->stats.truncated = 1;
	else
		r->stats.skipped++;
	return 0;
}

enum rec_type { REC_UNKNOWN, REC_HEADER, REC_QUERY, REC_STMT, REC_LOST };

/* Parse one line; 1 when ev holds an event, 0 when the line is skipped, -1 on a fatal error. */
static int parse_line(struct logread *r, char *line, size_t len, struct logread_event *ev)
{
	struct jscan s;
	char *key;
	struct jscan_value v;
	enum rec_type type = REC_UNKNOWN;
	int64_t version = 0;
	struct logread_stmt *st = &ev->stmt;
	int rc;

	st->duration_us = -1;
	st->wait_us = -1;
	st->rows = -1;
	if (!jscan_begin(&s, line, len))
		return bad_line(r);
	while ((rc = jscan_next(&s, &key, &v)) > 0) {
		/* Dispatch on the first letter first: most members need one strcmp. */
		if (key[0] == 't' && key[1] == 'y' && strcmp(key, "type") == 0) {
			if (v.type != JSCAN_STRING)
				continue;
			if (strcmp(v.str, "stmt") == 0)
				type = REC_STMT;
			else if (strcmp(v.str, "query") == 0)
				type = REC_QUERY;
			else if (strcmp(v.str, "header") == 0)
				type = REC_HEADER;
			else if (strcmp(v.str, "lost") == 0)
				type = REC_LOST;
		} else if (key[0] == 'v' && strcmp(key, "version") == 0) {
			version = int_or(&v, 0);
		} else if (key[0] == 'q' && strcmp(key, "query") == 0) {
			ev->query.query = str_or_null(&v);
		} else if (key[0] == 'r' && strcmp(key, "rules") == 0) {
			ev->query.rules = str_or_null(&v);
		} else if (!lost_member(&ev->lost, key, &v)) {
			stmt_member(st, key, &v);
		}
	}
	if (rc < 0)
		return bad_line(r);
	switch (type) {
	case REC_HEADER:
		if (version > CAPTURE_MAX_VERSION) {
			snprintf(
			    r->error, sizeof(r->error),
			    "capture format version %lld is newer than this pgscope reads (%d)",
			    (long long)version, CAPTURE_MAX_VERSION);
			return -1;
		}
		return 0;
	case REC_QUERY:
		if (!ev->query.query || st->fingerprint == 0) {
			r->stats.skipped++;
			return 0;
		}
		ev->kind = LOGREAD_QUERY;
		ev->query.fingerprint = st->fingerprint;
		memset(st, 0, sizeof(*st));
		return 1;
	case REC_STMT:
		ev->query.query = NULL;
		if (st->fingerprint == 0 && !st->text) {
			r->stats.skipped++;
			return 0;
		}
		ev->kind = LOGREAD_STMT;
		return 1;
	case REC_LOST:
		ev->query.query = NULL;
		memset(st, 0, sizeof(*st));
		if (ev->lost.statements == 0) {
			r->stats.skipped++;
			return 0;
		}
		ev->kind = LOGREAD_LOST;
		return 1;
	case REC_UNKNOWN:
		break;
	}
	r->stats.skipped++; /* a record type this version does not know */
	return 0;
}

static int capture_next(struct logread *r, struct logread_event *ev)
{
	char *line;
	size_t len;
	while (logread_line(r, &line, &len)) {
		if (len == 0)
			continue;
		memset(ev, 0, sizeof(*ev));
		int rc = parse_line(r, line, len, ev);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int logread_capture_init(struct logread *r)
{
	r->next = capture_next;
	return 0;
}
