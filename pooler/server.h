/*
 * server.h - the pooler's connections to PostgreSQL servers.
 *
 * A server connection's lifecycle is the state machine in enum server_state
 * (pooler.h); server_set_state() is the only place that changes it and moves
 * the connection between its pool's lists.
 */
#ifndef PGSCOPE_POOLER_SERVER_H
#define PGSCOPE_POOLER_SERVER_H

#include "pooler/pooler.h"

/*
 * Open a new server connection for pool p to endpoint ep (non-blocking
 * connect, then login). The pool owns the result; it reaches
 * pool_server_ready() when logged in or pool_server_failed() when not.
 * Returns NULL (and counts the failure) if the connect failed at once.
 */
struct server *server_connect(struct pool *p, struct endpoint *ep);

/* Move sv to state st (and to the matching pool list). */
void server_set_state(struct server *sv, enum server_state st);

/*
 * Run the pooler's own simple query on an idle or just-unlinked server. Its
 * results are consumed by the pooler; when the final ReadyForQuery arrives the
 * task's continuation runs (see server.c). false if the query could not be
 * queued (the server is closed then).
 */
bool server_run_task(struct server *sv, enum server_task task, const char *sql);

/* Relay what the server sent to its linked client. */
void server_relay(struct server *sv);

/* The client drained its buffer: start reading from the server again. */
void server_resume(struct server *sv);

/*
 * Close sv: sends Terminate when it is logged in and healthy, unlinks it from
 * its client and pool, and defers the free to the reaper. reason is logged.
 */
void server_close(struct server *sv, const char *reason);

/* Free a closed server (the reaper calls this). */
void server_free(struct server *sv);

/* Flush the write buffer; closes the server on a socket error. false if closed. */
bool server_flush(struct server *sv);

/* The Unix socket directory for a [databases] entry without host= or with host=/dir. */
const char *server_socket_dir(const struct db_config *db);

/*
 * Start a non-blocking connect to db's server (TCP, or a Unix socket when
 * host is a directory). Returns the socket, or -1 with a message in err.
 * The caller owns the socket and learns the outcome when it is writable.
 */
int server_open_socket(const struct db_config *db, char *err, size_t errlen);

/* Name of a state, for logs. */
const char *server_state_name(enum server_state st);

#endif
