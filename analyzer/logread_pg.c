/* logread_pg.c - turn PostgreSQL log records (any of the three formats) into statements. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/logread_int.h"

void logread_pg_init(struct logread_pg *pg)
{
	memset(pg, 0, sizeof(*pg));
	pg->pending = -1;
	pg->emitted = -1;
	pg->blocks = calloc(LOGREAD_BLOCKS, sizeof(*pg->blocks)); /* NULL: no xact ids */
}

void logread_pg_release(struct logread_pg *pg)
{
	for (int i = 0; i < 2; i++)
		logread_buf_release(&pg->slots[i].text);
	free(pg->blocks);
}

/* The block entry of a session (an empty one to fill when absent); NULL without a table. */
static struct logread_block *block_slot(struct logread_pg *pg, uint64_t session)
{
	if (!pg->blocks || session == 0)
		return NULL;
	size_t i = (size_t)(session * 0x9e3779b97f4a7c15ull >> 40) & (LOGREAD_BLOCKS - 1);
	while (pg->blocks[i].session && pg->blocks[i].session != session)
		i = (i + 1) & (LOGREAD_BLOCKS - 1);
	return &pg->blocks[i];
}

/* Upper-cased first word of sql (after blanks and '('), cut to size. */
static void first_word(const char *sql, char *out, size_t size, const char **after)
{
	const char *p = sql;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '(')
		p++;
	size_t n = 0;
	while (n + 1 < size && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
		out[n++] = (char)(*p >= 'a' ? *p - 32 : *p);
		p++;
	}
	out[n] = '\0';
	*after = p;
}

/*
 * A log's virtual xid is assigned to every statement, autocommit ones too, so
 * it cannot tell a transaction block from single statements. The statements
 * can: BEGIN/START opens a block on the session, COMMIT/END/ROLLBACK/ABORT
 * closes it; statements of one block share a transaction id, and every other
 * statement is a transaction of its own, with a new id (as the pooler numbers
 * them in capture files).
 */
static uint64_t track_block(struct logread_pg *pg, uint64_t session, const char *sql)
{
	struct logread_block *b = block_slot(pg, session);
	if (!b)
		return ++pg->next_xact;
	char w[16], w2[16];
	const char *rest;
	first_word(sql, w, sizeof(w), &rest);
	bool open = strcmp(w, "BEGIN") == 0 || strcmp(w, "START") == 0;
	bool close = strcmp(w, "COMMIT") == 0 || strcmp(w, "END") == 0 || strcmp(w, "ABORT") == 0 ||
	             strcmp(w, "ROLLBACK") == 0;
	if (strcmp(w, "ROLLBACK") == 0) {
		first_word(rest, w2, sizeof(w2), &rest);
		close = strcmp(w2, "TO") != 0; /* ROLLBACK TO SAVEPOINT stays in the block */
	}
	if (open && !b->session) {
		if (pg->n_blocks + 1 > LOGREAD_BLOCKS / 2) {
			/* Sessions that never logged their COMMIT: forget them all. */
			memset(pg->blocks, 0, LOGREAD_BLOCKS * sizeof(*pg->blocks));
			pg->n_blocks = 0;
			b = block_slot(pg, session);
		}
		b->session = session;
		b->xact = ++pg->next_xact;
		pg->n_blocks++;
	}
	uint64_t xact = b->session ? b->xact : ++pg->next_xact;
	if (close && b->session) {
		/* Deleting from open addressing: re-insert the run that follows. */
		size_t i = (size_t)(b - pg->blocks);
		b->session = 0;
		pg->n_blocks--;
		for (size_t j = (i + 1) & (LOGREAD_BLOCKS - 1); pg->blocks[j].session;
		     j = (j + 1) & (LOGREAD_BLOCKS - 1)) {
			struct logread_block moved = pg->blocks[j];
			pg->blocks[j].session = 0;
			*block_slot(pg, moved.session) = moved;
		}
	}
	return xact;
}

static void copy_name(char *dst, const char *src)
{
	snprintf(dst, LOGREAD_NAME_MAX, "%s", src ? src : "");
}

/* Fill a free slot from rec; returns its index or -1 when the text is too long. */
static int slot_fill(struct logread_pg *pg, const struct logread_pgrec *rec, const char *sql,
                     int64_t duration_us, bool failed)
{
	/* The other slot may hold the statement waiting for its DETAIL. */
	int i = pg->pending == 0 ? 1 : 0;
	struct logread_slot *s = &pg->slots[i];
	s->text.len = 0;
	if (!logread_buf_append(&s->text, sql, strlen(sql)))
		return -1;
	copy_name(s->user, rec->user);
	copy_name(s->database, rec->database);
	copy_name(s->application_name, rec->application_name);
	snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", rec->sqlstate);
	memset(&s->st, 0, sizeof(s->st));
	s->st.time_us = rec->time_us;
	s->st.duration_us = duration_us;
	s->st.wait_us = -1;
	s->st.rows = -1;
	s->st.xact = track_block(pg, rec->session, sql);
	s->st.client = rec->session;
	s->st.failed = failed;
	s->used = true;
	return i;
}

static void slot_emit(struct logread_pg *pg, int i, struct logread_event *ev)
{
	struct logread_slot *s = &pg->slots[i];
	ev->kind = LOGREAD_STMT;
	ev->stmt = s->st;
	ev->stmt.text = s->text.data;
	ev->stmt.user = s->user[0] ? s->user : NULL;
	ev->stmt.database = s->database[0] ? s->database : NULL;
	ev->stmt.application_name = s->application_name[0] ? s->application_name : NULL;
	ev->stmt.sqlstate = s->st.failed && s->sqlstate[0] ? s->sqlstate : NULL;
	pg->emitted = i;
}

/* Emit the held statement (if any) and hold new_slot (may be -1). */
static bool rotate(struct logread_pg *pg, int new_slot, struct logread_event *ev)
{
	int old = pg->pending;
	pg->pending = new_slot;
	if (old < 0)
		return false;
	slot_emit(pg, old, ev);
	return true;
}

static bool is_error(const char *severity)
{
	return strcmp(severity, "ERROR") == 0 || strcmp(severity, "FATAL") == 0 ||
	       strcmp(severity, "PANIC") == 0;
}

bool logread_pg_feed(struct logread_pg *pg, const struct logread_pgrec *rec,
                     struct logread_event *ev)
{
	struct logread_msg msg;
	pg->emitted = -1; /* the caller is done with the last event */
	const char *sev = rec->severity;

	if (strcmp(sev, "LOG") == 0) {
		logread_parse_msg(rec->message, &msg);
		if (msg.kind != LOGREAD_MSG_STMT)
			return rotate(pg, -1, ev);
		int slot = slot_fill(pg, rec, msg.sql, msg.duration_us, false);
		if (slot >= 0 && rec->detail) {
			struct logread_msg d;
			logread_parse_msg(rec->detail, &d);
			if (d.kind == LOGREAD_MSG_PARAMS)
				pg->slots[slot].st.params_hash =
				    logread_hash(d.sql, strlen(d.sql), 0);
		}
		return rotate(pg, slot, ev);
	}
	if (strcmp(sev, "DETAIL") == 0) {
		logread_parse_msg(rec->message, &msg);
		if (msg.kind == LOGREAD_MSG_PARAMS && pg->pending >= 0 &&
		    pg->slots[pg->pending].st.client == rec->session) {
			pg->slots[pg->pending].st.params_hash =
			    logread_hash(msg.sql, strlen(msg.sql), 0);
			return false;
		}
		return rotate(pg, -1, ev);
	}
	if (is_error(sev)) {
		if (rec->statement) {
			int slot = slot_fill(pg, rec, rec->statement, -1, true);
			return rotate(pg, slot, ev);
		}
		pg->err_waiting = true;
		pg->err_session = rec->session;
		snprintf(pg->err_sqlstate, sizeof(pg->err_sqlstate), "%s", rec->sqlstate);
		return rotate(pg, -1, ev);
	}
	if (strcmp(sev, "STATEMENT") == 0 && pg->err_waiting && pg->err_session == rec->session) {
		pg->err_waiting = false;
		struct logread_pgrec r2 = *rec;
		snprintf(r2.sqlstate, sizeof(r2.sqlstate), "%s", pg->err_sqlstate);
		int slot = slot_fill(pg, &r2, rec->message, -1, true);
		return rotate(pg, slot, ev);
	}
	return rotate(pg, -1, ev);
}

bool logread_pg_finish(struct logread_pg *pg, struct logread_event *ev)
{
	pg->emitted = -1;
	return rotate(pg, -1, ev);
}
