/*
 * prepared.h - protocol-level prepared statements in transaction and
 * statement pooling modes.
 *
 * A client's named statements live on whichever server it used when it
 * prepared them, but in transaction mode its next transaction may land on
 * another server. So each event loop keeps one entry per distinct
 * (query text, parameter types), named "pgscope_N" on servers; each client
 * maps its own names to entries, and each server connection knows which
 * entries it has prepared (an LRU bounded by max_prepared_statements, with
 * Close on eviction). Parse, Bind, Describe and Close are rewritten on the
 * way to the server, and a statement missing on the server is prepared there
 * first, its ParseComplete swallowed on the way back.
 *
 * Responses are matched to requests by order: every Parse and Close sent to a
 * server is recorded in the server's queue, and each ParseComplete or
 * CloseComplete pops the head. After an ErrorResponse the server skips to
 * Sync, so what is still queued never happened and is undone.
 *
 * Session mode does not use any of this: statements stay on the client's one
 * server.
 */
#ifndef PGSCOPE_POOLER_PREPARED_H
#define PGSCOPE_POOLER_PREPARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pooler/conn.h"
#include "pooler/htab.h"
#include "pooler/pooler.h"

/* A distinct statement shared by every client of a loop (owned by its registry). */
struct ps_entry {
	struct loop_state *loop; /* whose registry holds it */
	uint64_t id;
	char name[32]; /* server-side name, "pgscope_<id>" */
	uint8_t *body; /* Parse body after the name: query NUL, int16 n, n OIDs */
	size_t body_len;
	int refs; /* client names and server copies that point here */
};

/* What a client message became on its way to the server. */
enum ps_verdict {
	PS_FORWARD,   /* unchanged: forward it */
	PS_REWRITTEN, /* replacement already written to the server buffer */
	PS_FAIL,      /* the pooler cannot go on with this pair (logged) */
};

void ps_client_init(struct ps_client *pc);
void ps_client_release(struct ps_client *pc);
void ps_server_init(struct ps_server *ps);
void ps_server_release(struct ps_server *ps);

/*
 * Forget everything the server had prepared (after DISCARD ALL / DEALLOCATE
 * ALL), except Parses still in flight, which run after it.
 */
void ps_server_forget_all(struct ps_server *ps);
/*
 * The server ran DEALLOCATE ALL or DISCARD ALL for its client: both forget
 * their statements, except those whose Parse is still in flight.
 */
void ps_server_dropped_all(struct server *sv);
/*
 * sv died under its client before answering what is in flight: the client
 * names its Parses would have made are taken back (and the names they
 * deallocated restored), as if the whole of it had failed.
 */
void ps_server_died(struct server *sv);
/* Drop all of a client's statement names (DEALLOCATE ALL). */
void ps_client_forget_all(struct ps_client *pc);
/* The query text of the client's statement NAME ("": the unnamed one), or NULL. */
const char *ps_client_text(const struct ps_client *pc, const char *name);
/* Drop one client name (SQL DEALLOCATE); false if it did not exist. */
bool ps_client_forget(struct ps_client *pc, const char *name);

/*
 * Look at a client message bound for sv (transaction/statement mode) and
 * rewrite it into sv's write buffer when it names a statement.
 */
enum ps_verdict ps_client_message(struct client *c, struct server *sv, const struct relay_msg *m);

/*
 * Look at a server response: returns true when it must be swallowed (an
 * answer to a message the pooler injected). Call for '1', '3', 'E' and 'Z'.
 * Sets *broken when the response does not fit what was sent. After an error
 * in a transaction that does not commit, or an error a stale plan gives, the
 * statements concerned are closed and prepared again before their next use.
 */
bool ps_server_response(struct server *sv, const struct relay_msg *m, bool *broken);

/*
 * The server's transaction was rolled back (ROLLBACK, or the pooler's own
 * after a client left): statements prepared in it may depend on what it
 * created, so they are closed and prepared again before their next use.
 */
void ps_server_rolled_back(struct ps_server *ps);

/*
 * A simple Query from a client with nothing in flight (transaction mode):
 * answer SQL DEALLOCATE of the client's protocol-level names, and refuse
 * PREPARE/EXECUTE outside a transaction, directly. true if answered (the
 * reply is in the client's write buffer); false to forward it.
 */
bool ps_simple_query(struct client *c, const uint8_t *body, size_t len);

/* A Sync or a Query went to sv: the pipeline segment it closes is complete. */
void ps_segment_sent(struct server *sv);

/* Statements known to loop ls (for stats and tests). */
size_t ps_registry_size(const struct loop_state *ls);

#endif
