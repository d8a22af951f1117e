/*
 * pooler.h - the pooler's core types and its one process state.
 *
 * A client connection (client.c) and a server connection (server.c) are each
 * an explicit state machine; a pool (pool.c) pairs them. Types live here so
 * that client, server and pool can refer to each other without include
 * cycles; each module's functions are in its own header.
 *
 * Threading: everything here is owned by the event-loop thread. Other threads
 * (analysis, capture) never touch these structures; they get copies.
 */
#ifndef PGSCOPE_POOLER_POOLER_H
#define PGSCOPE_POOLER_POOLER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "pooler/config.h"
#include "pooler/counts.h"
#include "pooler/endpoint.h"
#include "pooler/htab.h"
#include "pooler/list.h"
#include "pooler/params.h"
#include "pooler/pbuf.h"
#include "pooler/txn.h"

#define NAME_MAX_LEN 64 /* user and database names, as PostgreSQL's NAMEDATALEN */

/*
 * One socket endpoint with its read and write buffers. The read buffer holds
 * bytes not yet relayed; the write buffer bytes not yet sent. Both are bounded
 * (pbuf limits); when the peer's write buffer is above the high-water mark the
 * endpoint stops reading (backpressure).
 */
struct conn_io_ops;

struct conn {
	int fd;                       /* -1 when closed */
	struct ev_loop *ev;           /* the loop its watchers run on */
	const struct conn_io_ops *io; /* how bytes cross the socket (conn.h) */
	void *io_state;               /* the transport's own state (a TLS session), owned by it */
	bool io_wants_write;          /* the last read can go on only once the socket is writable */
	ev_io rio;                    /* readable watcher */
	ev_io wio;                    /* writable watcher */
	struct pbuf in;               /* received, not yet processed */
	struct pbuf out;              /* waiting to be sent */
	uint32_t pass_left;           /* bytes of the current message still to stream to the peer */
	uint8_t pass_type;            /* type of the message being streamed */
	bool paused;                  /* reading stopped for backpressure */
};

enum client_state {
	CL_FREE = 0, /* not in use (on the reaper's list or freed) */
	CL_STARTUP,  /* waiting for the startup packet (SSLRequest answered here) */
	CL_AUTH,     /* waiting for a password / SASL message */
	CL_LOGIN,    /* authenticated; waiting for a server to finish login */
	CL_IDLE,     /* logged in, no server (transaction/statement mode) */
	CL_WAITING,  /* has work queued, waiting for a server from the pool */
	CL_ACTIVE,   /* linked to a server, relaying */
	CL_ADMIN,    /* logged in to the admin console (admin.c): answered by the pooler */
	CL_CLOSING,  /* error sent; flushing before close */
	CL_LINGER,   /* flushed and write side shut: what the client still sends is
	                discarded until it closes (bounded), so that unread input does
	                not turn the close into a reset that destroys the error */
};

/* Encryption requests a client made during CL_STARTUP (client.c), as bits. */
enum client_encryption_asked {
	CLIENT_ASKED_SSL = 1,
	CLIENT_ASKED_GSSENC = 2,
};

enum server_state {
	SV_FREE = 0,    /* not in use */
	SV_CONNECTING,  /* TCP/Unix connect in progress */
	SV_LOGIN,       /* startup sent; authenticating, collecting parameters */
	SV_IDLE,        /* in the pool, ready */
	SV_ACTIVE,      /* linked to a client, relaying */
	SV_INTERNAL,    /* running the pooler's own query (SET sync, reset, check) */
	SV_CANCEL_WAIT, /* released while a cancel for it is on its way: not handed out */
	SV_LISTEN,      /* the pool's listening connection, waiting for notifications */
	SV_CLOSING,     /* Terminate sent or error; closing */
};

#define CL_STATES (CL_LINGER + 1)  /* client states, for counts by state */
#define SV_STATES (SV_CLOSING + 1) /* server states, for counts by state */

struct server_query_ops; /* an internal query's callbacks, see server.h */

struct client;
struct ps_pending;

/* One SET/RESET statement a client sent (transaction mode). */
struct pending_set_op {
	int kind;       /* enum sqlscan_set_kind */
	bool confirmed; /* its CommandComplete SET/RESET came back */
	int ahead;      /* ReadyForQuery messages due before the one that ends its request */
	char name[PARAMS_NAME_MAX];
	char value[PARAMS_VALUE_MAX];
};

#define PENDING_SET_OPS 8 /* SETs per transaction that can be followed; more are not */

/*
 * The SET/RESET statements of a client's current transaction, in the order
 * the server answers them; applied to the client's wishes when the
 * transaction commits, dropped when it rolls back (pool.c).
 */
struct pending_set {
	struct pending_set_op ops[PENDING_SET_OPS];
	int n;
	bool failed;      /* an ErrorResponse came back: the transaction will not commit */
	bool rolled_back; /* a ROLLBACK tag came back: to a savepoint, or the whole transaction */
	bool unknown;     /* a SET that cannot be followed ran (see pool_set_tag()) */
};

/* Prepared statements in transaction mode (prepared.c): a client's names. */
struct ps_client {
	struct htab names; /* client statement name -> struct ps_entry * */
	uint8_t *unnamed;  /* body of the last unnamed Parse after its name, or NULL */
	size_t unnamed_len;
};

/* Prepared statements in transaction mode (prepared.c): a server's copies. */
struct ps_server {
	struct htab slots; /* entry pointer -> struct ps_slot * */
	struct list lru;   /* struct ps_slot, most recently used first */
	int count;
	struct ps_pending *queue; /* Parse/Close sent and not yet answered, FIFO */
	int q_head, q_len, q_cap;
	uint64_t seg_sent; /* Syncs and Queries sent: each closes a segment of the pipeline */
	uint64_t seg_done; /* ReadyForQuery messages received: segments answered */
	uint64_t xact_seg; /* the first segment of the server's current transaction */
	bool xact_failed;  /* an error in that transaction: it will not commit */
	const struct client *unnamed_owner; /* whose unnamed statement the server holds */
};

struct pool;
struct server;
struct loop_state; /* the event loop a connection lives on, see loop.h */
struct scram_client;
struct scram_server;
struct scram_keys;
struct userlist;
struct observer;
struct schema_db;
struct observe_scope;
struct admin_session;

/* One request in flight, for timing and the completed-statement hook (stmt.c). */
struct stmt_track {
	ev_tstamp start;      /* when the request was forwarded to the server */
	long long rows;       /* from the last CommandComplete, -1 if none */
	char tag[32];         /* last CommandComplete tag, truncated */
	char sqlstate[6];     /* first error's SQLSTATE, "" if none */
	char kind;            /* 'Q' simple query, 'E' extended (Execute), 'F' FunctionCall */
	uint64_t text_hash;   /* observe_text() of its text, 0 if unknown */
	uint64_t params_hash; /* its parameter values (or literal text) hashed */
};

#define STMT_QUEUE_LEN 32 /* requests timed per client; more in one pipeline go untimed */

/* query_timeout of a client's current request and its statements' hints (timeout.c). */
struct query_timer {
	int hint_ms;             /* a pgscope:timeout comment's limit for the request, -1 if none */
	int unnamed_hint_ms;     /* the hint of the last unnamed Parse, -1 if none */
	struct htab *stmt_hints; /* statement name -> hint ms + 1, owned; NULL while none has one */
	int fired_ms;            /* the limit that cancelled the request, for the error */
	ev_tstamp cancel_at;     /* when the request was cancelled for query_timeout, 0 if not */
	uint64_t cancel_server;  /* the server the cancel went to */
	bool error_sent;         /* the client got our 57014 in place of the server's */
};

struct client {
	struct list node; /* on the list of its state (loop or pool) */
	struct list all;  /* on its loop's clients: every live client */
	struct loop_state *loop;
	enum client_state state;
	uint64_t id; /* pooler-local id, for logs and capture */
	struct conn conn;
	char addr[64]; /* peer address, for logs */
	char user[NAME_MAX_LEN];
	char database[NAME_MAX_LEN];
	const struct db_config *db; /* [databases] entry: the config's or the loop's "*" copy
	                               until login, its pool's copy after; a reload repoints
	                               it (reload.c) */
	struct pool *pool;          /* its pool once logged in */
	struct server *server;      /* linked server, or NULL */
	struct params params;       /* what the client wants: startup parameters + tracked SETs */
	struct params startup;      /* startup parameters, restored by RESET ALL */
	struct pending_set *pending_set; /* SETs awaiting their transaction's end, owned */
	unsigned session_warned;         /* sqlscan_feature bits already logged for it */
	struct htab channels;     /* channels it LISTENs to (transaction mode), see listen.c */
	struct pbuf notify_out;   /* notifications held until its transaction ends */
	struct htab stmt_texts;   /* statement name -> struct text_ref * (observe.c) */
	struct htab portal_texts; /* portal name -> struct text_ref * */
	bool listen_wait;         /* waiting for the listening connection to confirm a LISTEN */
	bool listen_stalled;      /* holds up its pool's listening connection (listen.c) */
	ev_tstamp stalled_since;  /* when listen_stalled was set */
	uint32_t cancel_pid;      /* BackendKeyData handed to this client */
	uint32_t cancel_key;
	ev_tstamp created;    /* accept time */
	ev_tstamp wait_since; /* when it entered CL_WAITING / CL_LOGIN */
	ev_tstamp last_active;
	struct txn txn; /* what its server owes it, its transaction status and id (txn.c) */
	struct client_timeouts limits; /* its query and idle timeouts, set at login (timeout.c) */
	struct query_timer qt;         /* query_timeout of its current request (timeout.c) */
	/* When its current transaction began (for xact_time), 0 if none. */
	ev_tstamp xact_start;
	/* Requests in flight, a ring of STMT_QUEUE_LEN, owned: allocated at the first, freed
	 * when the client goes idle (an idle client needs none). */
	struct stmt_track *stmts;
	int stmt_head;                 /* oldest entry of stmts */
	int stmt_count;                /* entries in use */
	ev_tstamp last_wait;           /* how long it last waited for a server (s) */
	struct ps_client ps;           /* prepared statement names (transaction mode) */
	struct scram_server *scram;    /* SCRAM exchange during CL_AUTH, owned */
	struct scram_keys *scram_keys; /* ClientKey from a verified SCRAM login, owned; lets the
	                                  pool log in to the server */
	uint8_t md5_salt[4];           /* salt sent with an md5 request */
	int auth_step;                 /* progress within CL_AUTH */
	unsigned encryption_asked;     /* CL_STARTUP: CLIENT_ASKED_* bits, each asked once */
	bool is_unix;                  /* came through the Unix socket (TLS is never required) */
	bool tls_direct;               /* TLS began without SSLRequest (PostgreSQL 17 direct TLS) */
	enum auth_type auth_method;    /* how this client authenticates (auth_type, or from hba) */
	bool auth_fetched;             /* auth_secret came from auth_query (NULL: no password) */
	char *auth_secret;             /* the secret auth_query returned, owned, wiped on free */
	uint32_t linger_skip;          /* CL_LINGER: bytes of an oversized message still to discard
	                                  before the write side is shut */
	/* Transaction mode: the first request after a link, if it is one simple Query, kept
	 * until the server answers, to be sent to another server if this one died without
	 * reading it (client_replay_*()). Owned; empty when not recording. */
	struct pbuf replay;
	bool replay_on;              /* recording the request into replay */
	bool retried;                /* its request was already sent again once: not twice */
	struct admin_session *admin; /* a console client's session (admin.c), owned; else NULL */
	/* For its client.close line: the first cause of its end (client_fail(), client_end(),
	 * client_close()) and the SQLSTATE sent with it ("" for none), and what it did. */
	char close_reason[128];
	char close_sqlstate[6];
	uint32_t xacts;   /* transactions it began */
	uint32_t queries; /* statements it completed */
	/* Read routing (route.c). */
	bool route_may_write;     /* its transaction was not classified a read */
	bool route_held;          /* input held on a replica's server until its answer */
	bool route_defer;         /* a replica's answer to a read is kept from the client
	                             until it is whole, so that it can be run again
	                             elsewhere if the replica dies (route_defer_*()) */
	size_t route_out_mark;    /* bytes of conn.out before that answer */
	bool rw_pending;          /* it wrote; the primary's WAL position is being read */
	uint64_t rw_lsn;          /* that position: its reads need a replica past it;
	                             UINT64_MAX: unknown, the read_after_write_delay rule */
	double rw_at;             /* when its last writing transaction ended, 0 never */
	struct server *rw_server; /* the server reading that position, or NULL */
};

struct server {
	struct list node; /* on its pool's list for its state */
	struct loop_state *loop;
	enum server_state state;
	const struct server_query_ops *query_ops; /* the internal query running (SV_INTERNAL) */
	void *query_arg;                          /* its callbacks' argument */
	uint64_t id;
	struct conn conn;
	struct pool *pool;
	struct endpoint *endpoint; /* the address it is connected to (owned by the pooler) */
	struct client *client;     /* linked client, or NULL */
	uint32_t backend_pid;      /* the server's BackendKeyData, for cancels */
	uint32_t backend_key;
	struct params params;   /* what the server has now: reported + SET by the pooler */
	struct params defaults; /* what it had right after login (restored by RESET/DISCARD) */
	char tx_status;         /* from its last ReadyForQuery */
	bool query_failed;      /* the internal query returned an error */
	bool dirty;             /* must not be reused (broken state) */
	uint8_t tls_step;       /* SV_LOGIN before the startup packet: enum server_tls_step */
	bool auth_conn;         /* opened to run auth_query (authquery.c), not a pool member */
	bool fatal_relayed;     /* a FATAL error from the server went to the client: the
	                           close that follows needs no error of the pooler's own */
	bool fatal_held;        /* transaction mode: a FATAL kept from the client (in
	                           error_sqlstate, error_message) until the connection ends,
	                           which decides what the client is told (pool_server_died()) */
	int cancels_pending;    /* cancel requests sent for it and not yet acknowledged */
	bool listen_conn;       /* the pool's listening connection (listen.c) */
	unsigned db_gen;        /* its pool's db_gen when it connected: one made with an older
	                           [databases] entry is closed instead of reused (reload.c) */
	ev_tstamp created;
	ev_tstamp last_used;
	struct ps_server ps;        /* prepared statements on this server (transaction mode) */
	struct scram_client *scram; /* SCRAM exchange during login, owned */
	char error_sqlstate[6];     /* login error, passed to waiting clients */
	char error_message[256];
	/* Read routing (route.c): whose write's WAL position it reports, or NULL. */
	struct client *rw_client;
};

/* Whether a pool hands out servers (PAUSE/RESUME, pool.c). */
enum pool_pause {
	POOL_RUNNING = 0, /* servers handed out as usual */
	POOL_PAUSING,     /* no new server handed out; those in use closed as they come back */
	POOL_PAUSED,      /* no server left: requests wait until RESUME */
};

/* Servers and clients of one (database, user) pair. */
struct pool {
	struct list node; /* on its loop's pools */
	struct loop_state *loop;
	struct db_config *db;     /* its own copy of its [databases] entry, owned: it never points
	                             into a config, so a reload can free the old one at once */
	unsigned db_gen;          /* bumped when a reload changes how its servers connect */
	bool retired;             /* its database left the config, or its mode or forced user
	                             changed: its clients finish, new ones get another pool */
	enum pool_pause pause;    /* set by pool_set_pause() only */
	struct endpoint *primary; /* where its servers connect (owned by the pooler) */
	struct schema_db *schema; /* its database's schema snapshots (owned by the loop) */
	const struct observe_scope *scope; /* in schema: what its texts are analysed against */
	char user[NAME_MAX_LEN];           /* server login user */
	char password[256];            /* server password or auth_file secret ("" if none known) */
	struct scram_keys *scram_keys; /* ClientKey from a client's SCRAM login, owned, or NULL */
	struct server *listen_server;  /* listening connection for its clients' LISTENs, or NULL */
	struct htab channels;          /* channel -> struct listen_channel *, see listen.c */
	char *listen_sql;              /* LISTEN/UNLISTEN commands not yet sent, owned */
	int listen_stalled;            /* its clients with listen_stalled set */
	enum pool_mode mode;
	int pool_size;
	int min_pool_size;
	struct list idle_servers;    /* SV_IDLE */
	struct list active_servers;  /* SV_ACTIVE, SV_INTERNAL */
	struct list login_servers;   /* SV_CONNECTING, SV_LOGIN */
	int n_servers;               /* on the three lists above */
	struct list waiting_clients; /* CL_LOGIN and CL_WAITING, FIFO */
	struct list active_clients;  /* CL_ACTIVE */
	struct list idle_clients;    /* CL_IDLE */
	int n_clients;
	/* Counts kept where they change (client_set_state, server_set_state, the relay). */
	int clients_by_state[CL_STATES];
	int servers_by_state[SV_STATES];
	struct traffic_counts traffic;
	struct params server_params; /* last login's ParameterStatus set, for client login */
	bool have_server_params;
	ev_tstamp last_connect_failure;
	char last_error_sqlstate[6];
	char last_error[256];
	/*
	 * Read routing (route.h). A replica pool serves the reads of its home
	 * pool (the one clients log in to), on the replica that is its primary
	 * endpoint; its clients are the home's, moved here for one transaction.
	 * NULL for a home pool.
	 */
	struct pool *home;
	struct route_state *route; /* a home pool with replicas: its routing, owned, or NULL */
};

/* The time limits the pooler enforces, counted by kind in pooler_stats.timeouts. */
enum pooler_timeout {
	TIMEOUT_QUERY = 0,        /* query_timeout: a request cancelled */
	TIMEOUT_QUERY_WAIT,       /* query_wait_timeout: a client waited too long for a server */
	TIMEOUT_IDLE_TRANSACTION, /* idle_transaction_timeout: a client ended */
	TIMEOUT_CLIENT_IDLE,      /* client_idle_timeout: a client ended */
	TIMEOUT_CLIENT_LOGIN,     /* client_login_timeout: a client ended */
	TIMEOUT_SERVER_CONNECT,   /* server_connect_timeout: a server connect given up */
	TIMEOUT_SERVER_IDLE,      /* server_idle_timeout: an idle server closed */
	TIMEOUT_NOTIFY_STALL,     /* notify_stall_timeout: a listener disconnected */
	TIMEOUT_KINDS,
};

/* Counters for logs and, later, metrics. */
struct pooler_stats {
	uint64_t clients_accepted;
	uint64_t clients_rejected;
	uint64_t servers_opened;
	uint64_t servers_failed;
	uint64_t protocol_errors;
	uint64_t cancels_forwarded;
	uint64_t cancels_dropped;
	uint64_t cancels_client_gone; /* sent for a statement whose client left (client.c) */
	uint64_t statements;
	uint64_t notifications_dropped;  /* not delivered to a listener (listen.c) */
	uint64_t listeners_disconnected; /* for not reading within notify_stall_timeout */
	/* Cancels sent on pgscope's own account, for query_timeout. */
	uint64_t cancels_sent;
	uint64_t timeouts[TIMEOUT_KINDS]; /* limits that fired, by kind */
};

#define POOLER_MAX_LISTENERS 16

struct listener {
	int fd;
	ev_io io;
	bool is_unix;
	char path[108]; /* Unix socket path, removed on shutdown */
};

/*
 * The process state: the one global of the pooler (pooler.c defines it). It
 * holds what is process-wide; what belongs to an event loop is in struct
 * loop_state (loop.h), reached from each connection. Owned and touched by the
 * event-loop thread only.
 */
struct pooler {
	struct config *cfg;
	struct loop_state *loop; /* the one event loop (signals, listeners and start use it) */
	struct listener listeners[POOLER_MAX_LISTENERS];
	int n_listeners;
	uint64_t next_id;
	ev_signal sig_term, sig_int, sig_hup;
	ev_signal sig_usr1, sig_usr2; /* PAUSE and RESUME of every pool */
	bool shutting_down;
	bool handed_over;          /* the listeners went to a new process (takeover.h): serving only
	                              the clients already here, until they leave */
	struct userlist *users;    /* auth_file contents, or NULL */
	struct observer *observer; /* the analysis thread (observe.c), or NULL */
};

extern struct pooler pooler;

/*
 * Reset the process state for cfg, with an empty loop state on ev.
 * pooler_run() does this first; tests that drive pools and servers on a loop
 * of their own call it with that loop.
 */
void pooler_init_state(struct config *cfg, struct ev_loop *ev);

/*
 * Run the pooler with cfg until SIGTERM/SIGINT, or until its clients are gone
 * after it handed its listeners over. With TAKEOVER, first take the listening
 * sockets of the pgscope running with this config (takeover.h). Returns an
 * exit status.
 */
int pooler_run(struct config *cfg, bool takeover);

/* What PostgreSQL says to a session it ends on shutdown (SQLSTATE 57P01). */
#define POOLER_SHUTDOWN_MESSAGE "terminating connection due to administrator command"

/*
 * c is between transactions: when pgscope is shutting down, end it with
 * 57P01 (true); else false and nothing done.
 */
bool pooler_end_if_stopping(struct client *c);

/*
 * Begin the safe shutdown (as SIGTERM does; the admin console's SHUTDOWN),
 * logging CAUSE. Nothing when already stopping.
 */
void pooler_shutdown(const char *cause);

/*
 * Read the config file again and put it in force without dropping a client
 * (SIGHUP; the admin console's RELOAD), with the log reopened and TLS and hba
 * rules reloaded, logging CAUSE. false when the file did not validate: the
 * running config stays (the reason is logged).
 */
bool pooler_reload(const char *cause);

/* takeover.c: a new process watches the listeners now; stop accepting and drain. */
void pooler_listeners_handed_over(void);

/* A fresh pooler-local id for a connection or a transaction. */
uint64_t pooler_next_id(void);

#endif
