/*
 * pool.h - pools of server connections per (database, user), and the
 * decisions that pair clients with servers.
 *
 * Session mode: a client keeps its server from login to disconnect.
 * Transaction mode: a server is bound when a client starts sending after
 * ReadyForQuery 'I' and released at the next ReadyForQuery 'I'.
 * Statement mode: like transaction mode, and multi-statement transactions are
 * refused.
 */
#ifndef PGSCOPE_POOLER_POOL_H
#define PGSCOPE_POOLER_POOL_H

#include <stddef.h>

#include "pooler/pooler.h"

/*
 * The pool for (db, user) on loop ls, created on first use. The loop owns
 * pools; they live until shutdown. NULL with a message in err if it cannot be
 * created.
 */
struct pool *pool_get(struct loop_state *ls, const struct db_config *db, const char *user,
                      char *err, size_t errlen);

/*
 * The [databases] entry for a client's database name. A name served by the
 * "*" fallback gets an entry of its own (so each database has its own
 * pools), made from the fallback on first use and owned by loop ls.
 * NULL if neither exists.
 */
const struct db_config *pool_resolve_db(struct loop_state *ls, const char *name);

/* Free the entries pool_resolve_db() made on ls (shutdown). */
void pool_free_autodbs(struct loop_state *ls);

/*
 * A pool for home pool HOME's reads on a replica: DB is HOME's entry with the
 * replica's address. NULL when out of memory.
 */
struct pool *pool_replica_new(struct pool *home, const struct db_config *db);

/* An authenticated client enters its pool: it gets a server or waits. */
void pool_client_login(struct pool *p, struct client *c);

/*
 * A logged-in client without a server has a request to send that may run
 * where ROUTE says: link it to a server of the endpoint chosen for the route,
 * or queue it.
 */
void pool_request_server(struct client *c, enum endpoint_route route);

/* A server logged in: run the database's connect_query, if any, then make it ready. */
void pool_server_logged_in(struct server *sv);

/* A server finished login, a reset or a check: hand it to a waiting client or idle it. */
void pool_server_ready(struct server *sv);

/*
 * A server connection to EP failed for KIND (FAILED is the connection, or
 * NULL when none was made): counted on the endpoint, and the clients waiting
 * for this pool are told when no other server can serve them. The one place
 * where connect and login failures are recorded.
 */
void pool_server_failed(struct pool *p, struct server *failed, struct endpoint *ep,
                        enum endpoint_failure kind, const char *sqlstate, const char *message);

/*
 * sv died under its client (transaction or statement mode; WHY is how, and
 * a FATAL it sent is in sv->error_*). Closes sv. Its client hears exactly
 * one thing:
 *  - nothing, when the request never reached the server: the server died
 *    while its session was being brought in line, or (UNREAD: it reset the
 *    connection, as it does when it exits with bytes unread) the request was
 *    one simple Query, the first of its transaction, with no answer yet. The
 *    request is sent to another server, once;
 *  - an ErrorResponse and ReadyForQuery 'I', and it stays connected, when the
 *    request began outside a transaction block and is the only one owed an
 *    answer: whatever it did ended with the server (it may have run; it is
 *    not sent again);
 *  - otherwise a FATAL error and the close, as its transaction is lost.
 */
void pool_server_died(struct server *sv, const char *why, bool unread);

/*
 * The client is done with its server (transaction end in transaction mode, or
 * the client left): reset, roll back or close the server as its state needs.
 */
void pool_release_server(struct client *c);

/*
 * The client's transaction ended (ReadyForQuery 'I' with nothing pending) in
 * transaction or statement mode: give the server back and make the client idle.
 */
void pool_transaction_done(struct client *c);

/*
 * A cancel sent for the server with this id is finished. A server parked in
 * SV_CANCEL_WAIT makes one round trip (which a late cancel can only hit)
 * before it is handed out again. Looks for it among the pools of ls.
 */
void pool_cancel_done(struct loop_state *ls, uint64_t server_id);

/*
 * sv sent ReadyForQuery to c, which has SETs pending. Back outside a
 * transaction, the SETs of one that committed (no error, no ROLLBACK) are
 * recorded for the client and the server, so that the next server it lands
 * on gets them too; those of one that rolled back are dropped, and so are
 * those of the request just ended that never ran. Frees c->pending_set when
 * nothing is left in it.
 */
void pool_apply_set(struct client *c, struct server *sv);

/*
 * A CommandComplete TAG from sv for c (transaction mode): confirms the next
 * pending SET/RESET, commits or rolls back the pending ones, or (DISCARD
 * ALL) takes both back to their login settings.
 */
void pool_set_tag(struct client *c, struct server *sv, const char *tag);

#define POOL_WARNED_UNTRACKED_SET 0x100u /* beside the sqlscan_feature bits */

/*
 * Log once per client (per BIT in c->session_warned) that it keeps session
 * state, WHAT, that cannot follow it from server to server.
 */
void pool_session_warning(struct client *c, unsigned bit, const char *what);

/* Forget a closed server (counts, and open a new one if clients wait). */
void pool_server_gone(struct server *sv);

/* Forget a closed client. */
void pool_client_gone(struct client *c);

/* Periodic work: timeouts, idle server expiry, min_pool_size. */
void pool_janitor(struct pool *p, ev_tstamp now);

/*
 * Safe shutdown: end with 57P01 the clients of p that are between
 * transactions: idle, waiting for a server (their request has not started),
 * or linked (session mode) with nothing in flight outside a transaction. The
 * others are ended when their transaction ends.
 */
void pool_end_idle_clients(struct pool *p);

/* Close every server and fail every client (shutdown). */
void pool_shutdown(struct pool *p);

/* Free a pool after shutdown. */
void pool_free(struct pool *p);

/*
 * A reload: DB is the entry new clients of p's database get now (NULL: it
 * was removed). p takes a copy of it and the new sizes; servers made with an
 * entry that connects differently are closed (idle ones now, busy ones when
 * they come back); idle servers above a lowered size are closed. A removed
 * database, a changed pool_mode or forced user retires p instead: its clients
 * finish with it and new clients get a new pool.
 */
void pool_reconfigure(struct pool *p, const struct db_config *db);

/* Free the retired pools of ls that no client or server refers to any more. */
void pool_free_unused(struct loop_state *ls);

/*
 * PAUSE the pools of database DBNAME (NULL: every database, including pools
 * made later): no server is handed out any more; those in use are closed as
 * their clients let them go (transaction mode: at the end of the current
 * transaction; session mode: when the client leaves), idle ones at once.
 * Requests wait meanwhile, subject to query_wait_timeout. Each pool logs
 * pool.pausing, then pool.paused once it has no server left. false when out
 * of memory.
 */
bool pool_pause(struct loop_state *ls, const char *dbname);

/*
 * RESUME what pool_pause() paused (NULL: everything); waiting clients get
 * servers. Resuming one database does not lift a PAUSE of every database.
 */
void pool_resume(struct loop_state *ls, const char *dbname);

/*
 * A home pool's figures with those of its replica pools (route.h) added:
 * they serve the home's clients under the same database and user, so
 * listings by database and user (SHOW POOLS, /metrics) show them as one.
 */
struct pool_total {
	int clients[CL_STATES];
	int servers[SV_STATES];
	struct traffic_counts traffic;
	double max_wait; /* seconds the oldest waiting client has waited, at NOW */
};

/* Sum HOME and its replica pools into *out at time NOW; false when HOME is a replica pool. */
bool pool_total(const struct pool *home, double now, struct pool_total *out);

/* Whether a PAUSE (of DBNAME or of every database) is in force for DBNAME. */
bool pool_db_paused(const struct loop_state *ls, const char *dbname);

/*
 * DISABLE (DISABLE true) or ENABLE new client logins to database DBNAME;
 * clients already in are not touched. false when out of memory.
 */
bool pool_disable(struct loop_state *ls, const char *dbname, bool disable);

/* Whether DBNAME is DISABLEd. */
bool pool_db_disabled(const struct loop_state *ls, const char *dbname);

/* Whether every pool of DBNAME (NULL: every pool) has reached POOL_PAUSED. */
bool pool_pause_done(const struct loop_state *ls, const char *dbname);

#endif
