/*
 * stmt.h - per-statement tracking and the completed-statement hook.
 *
 * The relay notes when each request (a simple Query, or an Execute of the
 * extended protocol) is forwarded, and completes it when its CommandComplete,
 * ErrorResponse or ReadyForQuery comes back. Every completed statement goes
 * through stmt_completed(), the one place where timing, capture and analysis
 * hook in.
 */
#ifndef PGSCOPE_POOLER_STMT_H
#define PGSCOPE_POOLER_STMT_H

#include <ev.h>
#include <stdint.h>

#include "pooler/pooler.h"

/* What one completed statement looked like. Pointers are valid during the call only. */
struct stmt_event {
	const struct client *client;
	char kind;            /* 'Q' simple query, 'E' extended Execute */
	ev_tstamp start;      /* forwarded to the server */
	ev_tstamp end;        /* completion seen */
	ev_tstamp wait;       /* time the client waited for a server before it (s) */
	long long rows;       /* from CommandComplete, -1 if none */
	const char *tag;      /* command tag, "" if none */
	const char *sqlstate; /* "" on success */
	uint64_t xact_id;
	uint64_t text_hash;   /* observe_text() of the statement, 0 if unknown */
	uint64_t params_hash; /* hash of its parameter values (or of the text), 0 if none */
};

/*
 * Statement queue of one client: requests in flight, oldest first. kind is
 * 'Q' (simple Query), 'E' (Execute) or 'F' (FunctionCall, which is never
 * reported to the hook).
 */
void stmt_begin(struct client *c, char kind, ev_tstamp now, uint64_t text_hash,
                uint64_t params_hash);
/* A CommandComplete for the oldest request. */
void stmt_command_complete(struct client *c, const char *tag, ev_tstamp now);
/* An ErrorResponse for the oldest request. */
void stmt_error(struct client *c, const char *sqlstate, ev_tstamp now);
/* EmptyQueryResponse or PortalSuspended: the Execute is done. */
void stmt_execute_done(struct client *c, ev_tstamp now);
/* ReadyForQuery: everything still queued is finished. */
void stmt_ready(struct client *c, ev_tstamp now);
/* Requests in flight. */
int stmt_in_flight(const struct client *c);
/* The client's server is gone: what it owed will never come. */
void stmt_forget_all(struct client *c);
/* Free the client's request ring when nothing is in flight (an idle client needs none). */
void stmt_release(struct client *c);

/* The hook: called once for every completed statement. */
void stmt_completed(const struct stmt_event *ev);

#endif
