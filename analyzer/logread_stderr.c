/* logread_stderr.c - read PostgreSQL stderr logs by matching their log_line_prefix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/logread_int.h"

enum prefix_op_type {
	OP_LITERAL,
	OP_TIME,     /* %m %t %s */
	OP_EPOCH,    /* %n */
	OP_SESSION,  /* %p %c: identifies the client */
	OP_USER,     /* %u */
	OP_DB,       /* %d */
	OP_APP,      /* %a */
	OP_SQLSTATE, /* %e */
	OP_IGNORE,   /* any other escape: read and ignore */
	OP_STOP,     /* %q: non-session processes end the prefix here */
};

#define PREFIX_OPS_MAX 64

struct prefix_op {
	enum prefix_op_type type;
	const char *lit; /* OP_LITERAL text, in the state's copy of the prefix */
	size_t lit_len;
};

struct stderr_state {
	struct prefix_op ops[PREFIX_OPS_MAX];
	size_t nops;
	char lits[256]; /* literal pieces, NUL-separated */
	struct logread_buf msg;
	struct logread_pgrec rec;
	struct logread_pg pg;
};

static bool compile_prefix(struct stderr_state *st, const char *prefix)
{
	char *lp = st->lits;
	char *lend = st->lits + sizeof(st->lits);
	for (const char *p = prefix; *p;) {
		if (st->nops >= PREFIX_OPS_MAX)
			return false;
		struct prefix_op *op = &st->ops[st->nops];
		if (p[0] == '%' && p[1] && p[1] != '%') {
			switch (p[1]) {
			case 'm':
			case 't':
			case 's':
				op->type = OP_TIME;
				break;
			case 'n':
				op->type = OP_EPOCH;
				break;
			case 'p':
			case 'c':
				op->type = OP_SESSION;
				break;
			case 'u':
				op->type = OP_USER;
				break;
			case 'd':
				op->type = OP_DB;
				break;
			case 'a':
				op->type = OP_APP;
				break;
			case 'e':
				op->type = OP_SQLSTATE;
				break;
			case 'q':
				op->type = OP_STOP;
				break;
			default:
				op->type = OP_IGNORE;
				break;
			}
			/* %s and %c would both claim a role: the first wins. */
			if (p[1] == 's')
				op->type = OP_IGNORE;
			st->nops++;
			p += 2;
			continue;
		}
		/* A run of literal characters ("%%" is a literal '%'). */
		op->type = OP_LITERAL;
		op->lit = lp;
		while (*p && !(p[0] == '%' && p[1] && p[1] != '%')) {
			if (lp + 1 >= lend)
				return false;
			*lp++ = *p;
			p += p[0] == '%' ? 2 : 1;
		}
		op->lit_len = (size_t)(lp - op->lit);
		*lp++ = '\0';
		st->nops++;
	}
	/* A trailing %s-style time needs the literal after it; nothing more to check. */
	return true;
}

static void set_name(char *dst, const char *s, size_t n)
{
	if (n >= LOGREAD_NAME_MAX)
		n = LOGREAD_NAME_MAX - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	/* PostgreSQL writes "[unknown]" for fields a process does not have. */
	if (strcmp(dst, "[unknown]") == 0)
		dst[0] = '\0';
}

/* Where a variable field that starts at i ends: at the next literal, or a space. */
static size_t field_end(const struct stderr_state *st, size_t opi, const char *line, size_t len,
                        size_t i)
{
	const struct prefix_op *next = opi + 1 < st->nops ? &st->ops[opi + 1] : NULL;
	char stop = next && next->type == OP_LITERAL ? next->lit[0] : ' ';
	const char *e = memchr(line + i, stop, len - i);
	return e ? (size_t)(e - line) : len;
}

/*
 * Match the prefix at the start of line, filling rec. Returns the offset of
 * the text after it, or 0 when the line does not start with the prefix.
 */
static size_t match_prefix(const struct stderr_state *st, const char *line, size_t len,
                           struct logread_pgrec *rec)
{
	size_t i = 0;
	size_t stop_at = 0;
	bool have_stop = false;
	for (size_t k = 0; k < st->nops; k++) {
		const struct prefix_op *op = &st->ops[k];
		size_t e;
		switch (op->type) {
		case OP_LITERAL:
			if (len - i < op->lit_len || memcmp(line + i, op->lit, op->lit_len) != 0)
				return have_stop ? stop_at : 0;
			i += op->lit_len;
			break;
		case OP_TIME: {
			size_t used = logread_parse_time(line + i, len - i, &rec->time_us);
			if (used == 0)
				return have_stop ? stop_at : 0;
			i += used;
			break;
		}
		case OP_EPOCH: {
			char *end;
			double t = strtod(line + i, &end);
			if (end == line + i)
				return have_stop ? stop_at : 0;
			rec->time_us = (int64_t)(t * 1e6);
			i = (size_t)(end - line);
			break;
		}
		case OP_STOP:
			have_stop = true;
			stop_at = i;
			break;
		default:
			e = field_end(st, k, line, len, i);
			if (op->type == OP_SESSION)
				rec->session = logread_hash(line + i, e - i, 1);
			else if (op->type == OP_USER)
				set_name(rec->user, line + i, e - i);
			else if (op->type == OP_DB)
				set_name(rec->database, line + i, e - i);
			else if (op->type == OP_APP)
				set_name(rec->application_name, line + i, e - i);
			else if (op->type == OP_SQLSTATE)
				snprintf(rec->sqlstate, sizeof(rec->sqlstate), "%.*s", (int)(e - i),
				         line + i);
			i = e;
			break;
		}
	}
	return i;
}

/* After the prefix: "SEVERITY:  message". Returns the message offset or 0. */
static size_t parse_severity(const char *line, size_t len, size_t i, struct logread_pgrec *rec)
{
	size_t s = i;
	while (i < len &&
	       ((line[i] >= 'A' && line[i] <= 'Z') || (line[i] >= '0' && line[i] <= '9')))
		i++;
	if (i == s || i - s >= sizeof(rec->severity) || i + 3 > len || line[i] != ':' ||
	    line[i + 1] != ' ' || line[i + 2] != ' ')
		return 0;
	memcpy(rec->severity, line + s, i - s);
	rec->severity[i - s] = '\0';
	return i + 3;
}

/* Read one record: a prefixed line and its tab-indented continuation lines. */
static bool read_record(struct logread *r, struct stderr_state *st)
{
	char *line;
	size_t len;
	for (;;) {
		if (!logread_line(r, &line, &len))
			return false;
		memset(&st->rec, 0, sizeof(st->rec));
		size_t at = match_prefix(st, line, len, &st->rec);
		size_t msg_at = at || st->nops == 0 ? parse_severity(line, len, at, &st->rec) : 0;
		if (msg_at == 0) {
			r->stats.skipped++;
			continue;
		}
		st->msg.len = 0;
		if (!logread_buf_append(&st->msg, line + msg_at, len - msg_at)) {
			r->stats.skipped++;
			continue;
		}
		break;
	}
	bool too_long = false;
	while (logread_line(r, &line, &len)) {
		if (line[0] != '\t') {
			logread_unread(r, len);
			break;
		}
		/* A continuation line: the statement's next line, indented by a tab. */
		if (!logread_buf_append(&st->msg, "\n", 1) ||
		    !logread_buf_append(&st->msg, line + 1, len - 1))
			too_long = true;
	}
	if (too_long) {
		r->stats.skipped++;
		st->msg.len = 0;
		st->msg.data[0] = '\0';
		st->rec.severity[0] = '\0';
	}
	st->rec.message = st->msg.data;
	return true;
}

static int stderr_next(struct logread *r, struct logread_event *ev)
{
	struct stderr_state *st = r->state;
	while (read_record(r, st)) {
		if (logread_pg_feed(&st->pg, &st->rec, ev))
			return 1;
	}
	return logread_pg_finish(&st->pg, ev) ? 1 : 0;
}

static void stderr_release(struct logread *r)
{
	struct stderr_state *st = r->state;
	logread_buf_release(&st->msg);
	logread_pg_release(&st->pg);
	free(st);
}

int logread_stderr_init(struct logread *r)
{
	struct stderr_state *st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(r->error, sizeof(r->error), "out of memory");
		return -1;
	}
	if (!compile_prefix(st, r->prefix)) {
		snprintf(r->error, sizeof(r->error), "log_line_prefix too long: %.200s", r->prefix);
		free(st);
		return -1;
	}
	logread_pg_init(&st->pg);
	r->state = st;
	r->next = stderr_next;
	r->release = stderr_release;
	return 0;
}
