/*
 * server.h - the pooler's connections to PostgreSQL servers.
 *
 * A server connection's lifecycle is the state machine in enum server_state
 * (pooler.h); server_set_state() is the only place that changes it and moves
 * the connection between its pool's lists.
 */
#ifndef PGSCOPE_POOLER_SERVER_H
#define PGSCOPE_POOLER_SERVER_H

#include <stddef.h>

#include "pooler/conn.h"
#include "pooler/pooler.h"

/*
 * Open a new server connection for pool p to endpoint ep (non-blocking
 * connect, then login). The pool owns the result; it reaches
 * pool_server_ready() when logged in or pool_server_failed() when not.
 * Returns NULL (and counts the failure) if the connect failed at once.
 */
struct server *server_connect(struct pool *p, struct endpoint *ep);

/* The ops of the internal query sv runs, or NULL when it runs none. */
const struct server_query_ops *server_query_running(const struct server *sv);

/* Move sv to state st (and to the matching pool list). */
void server_set_state(struct server *sv, enum server_state st);

/*
 * An internal query's callbacks: the pooler's own SQL on one of its server
 * connections, with its rows handed over one by one. Every task that runs
 * SQL of its own (parameter sync, rollback, reset, checks, LISTEN, and later
 * WAL positions, auth_query, health probes, the catalog) is one of these,
 * a static table owned by the module that needs it.
 */
struct server_query_ops {
	const char *name; /* for logs */
	/*
	 * One DataRow: N values as NUL-terminated strings (text format), NULL for
	 * SQL NULL, valid during the call only. May be NULL.
	 */
	void (*on_row)(struct server *sv, void *arg, int n, const char *const *values);
	/*
	 * The query ended (its ReadyForQuery came): FAILED when an error came
	 * back, whose SQLSTATE and message are in sv->error_sqlstate and
	 * sv->error_message. The server is still SV_INTERNAL: on_done moves it
	 * on (hands it out, idles it, runs another query or closes it).
	 */
	void (*on_done)(struct server *sv, void *arg, bool failed);
	/*
	 * The server is being closed while the query runs: on_done will not
	 * come. May be NULL. Must not touch the server after returning.
	 */
	void (*on_close)(struct server *sv, void *arg);
};

/* Columns of one row an internal query can hand over; wider rows are an error. */
#define SERVER_QUERY_MAX_COLUMNS 64

/*
 * Run SQL (a simple Query, one or more statements) on sv, which must be
 * logged in and linked to no request in flight. false if the query could
 * not be queued (the server is closed then, and on_done is not called).
 */
bool server_query(struct server *sv, const char *sql, const struct server_query_ops *ops,
                  void *arg);

/* Relay what the server sent to its linked client. */
void server_relay(struct server *sv);

/*
 * sv's linked client is between transactions: nothing owed to it, the
 * server idle outside a transaction, no message half relayed.
 */
bool server_between_transactions(const struct server *sv);

/*
 * Fill the relay handler for server answers to a linked client, accepting
 * bodies up to max_len whole (loop_apply_config()).
 */
void server_relay_ops_build(struct relay_ops *active, size_t max_len);

/* The client drained its buffer: start reading from the server again. */
void server_resume(struct server *sv);

/*
 * Close sv: sends Terminate when it is logged in and healthy, unlinks it from
 * its client and pool, and defers the free to the reaper. reason is logged.
 */
void server_close(struct server *sv, const char *reason);

/* Free a closed server (the reaper calls this). */
void server_free(struct server *sv);

/*
 * Whether an idle server has gone away without the loop having read it yet:
 * its end of the connection closed or reset, or something to read (an idle
 * server speaks only to say goodbye, e.g. when terminated). A peek, nothing
 * consumed.
 */
bool server_idle_gone(const struct server *sv);

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
