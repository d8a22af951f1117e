/*
 * txn.h - the one owner of a client's transaction state.
 *
 * Which answers the server still owes (ReadyForQuery messages due, an
 * extended batch not yet synced), the transaction status last reported, the
 * transaction's pooler-local id, when the oldest unanswered request was
 * forwarded and whether the transaction wrote. The relay reports every
 * frontend message it forwards and every ReadyForQuery and CommandComplete
 * it sees; pools, cancels, timeouts and routing only read. Nothing else
 * writes these fields.
 *
 * Pure bookkeeping: no I/O and no event loop, so it is tested on its own.
 */
#ifndef PGSCOPE_POOLER_TXN_H
#define PGSCOPE_POOLER_TXN_H

#include <stdbool.h>
#include <stdint.h>

struct txn {
	int ready_due;       /* Query, Sync and FunctionCall forwarded whose ReadyForQuery is due */
	bool batch_open;     /* extended messages forwarded after the last of those */
	char status;         /* 'I', 'T' or 'E' from the last ReadyForQuery */
	bool wrote;          /* the current transaction ran a statement that writes */
	uint64_t id;         /* the current transaction's pooler-local id */
	uint64_t count;      /* transactions started by this client */
	double oldest_start; /* when the oldest request still owed an answer was sent, 0 if none */
	double last_ready;   /* when the last ReadyForQuery came, 0 before the first */
};

/* A client's state before its first request: idle, nothing owed. */
void txn_init(struct txn *t);

/*
 * A frontend message of TYPE was forwarded at NOW. TIMED is how many
 * statements the timing queue (stmt.c) holds before it. Returns true when
 * the message starts a new transaction (its id is then t->id).
 */
bool txn_request(struct txn *t, uint8_t type, double now, int timed);

/* A ReadyForQuery with STATUS came back at NOW. */
void txn_ready(struct txn *t, char status, double now);

/* A CommandComplete with TAG: notes whether the statement wrote. */
void txn_command_complete(struct txn *t, const char *tag);

/* Query, Sync and FunctionCall each end a segment the server answers with ReadyForQuery. */
bool txn_closes_segment(uint8_t type);

/* true when the server owes this client nothing: no ReadyForQuery due, no batch open. */
bool txn_settled(const struct txn *t);

/* true when a transaction block is open or failed on the server. */
bool txn_in_block(const struct txn *t);

/*
 * The client's server went away or was handed back: nothing is owed by the
 * next server. The status and ids stay (the client's view).
 */
void txn_unlink(struct txn *t);

/* Seconds the oldest unanswered request has waited at NOW; 0 when none. */
double txn_oldest_age(const struct txn *t, double now);

/* Whether a command tag names a statement that changes data or schema. */
bool txn_tag_writes(const char *tag);

#endif
