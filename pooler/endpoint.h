/*
 * endpoint.h - one server address the pooler connects to, and its health.
 *
 * A [databases] entry names its servers; each address is an endpoint with a
 * role (the primary now, replicas later), and the one place where connect,
 * login and health-check failures are counted and timestamped, along with
 * the connections and logins that succeeded. Endpoints are shared by every
 * pool that reaches the same address, so health is per address.
 *
 * Each endpoint has a circuit breaker: consecutive failures that say the
 * server is down (not those that belong to one user's credentials) open it;
 * while it is open clients that need a new connection fail at once instead
 * of queueing behind connects that cannot succeed; after a backoff one probe
 * connection is let through, and a login that succeeds closes it again.
 *
 * The pooler owns the endpoints (endpoint_get() creates them on first use)
 * and frees them at shutdown. Event-loop thread only; the health and breaker
 * functions take the time as an argument and touch nothing else (they log),
 * so they are tested without a loop.
 */
#ifndef PGSCOPE_POOLER_ENDPOINT_H
#define PGSCOPE_POOLER_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pooler/counts.h"
#include "pooler/list.h"

enum endpoint_role {
	ENDPOINT_PRIMARY = 0,
	ENDPOINT_REPLICA,
};

/* Why a server connection to an endpoint could not be used. */
enum endpoint_failure {
	ENDPOINT_FAIL_CONNECT = 0,     /* the connect itself failed (refused, unreachable) */
	ENDPOINT_FAIL_CONNECT_TIMEOUT, /* connect and login not done in server_connect_timeout */
	ENDPOINT_FAIL_LOGIN,           /* the server refused the login (or spoke nonsense) */
	ENDPOINT_FAIL_LOST_IN_LOGIN,   /* the connection broke during the login */
	ENDPOINT_FAIL_CONNECT_QUERY,   /* connect_query failed after login */
	ENDPOINT_FAIL_CHECK,           /* server_check_query or a health probe failed */
	ENDPOINT_FAIL_KINDS,
};

/* Where a transaction may run; the pool maps a route to an endpoint. */
enum endpoint_route {
	ROUTE_PRIMARY = 0, /* writes, and everything not known to be a safe read */
	ROUTE_READ,        /* a transaction that only reads: a replica, else the primary */
};

#define ENDPOINT_WAL_HISTORY 16

/* Streaming replication as polled (replica.c); zero until the first poll. */
struct endpoint_wal {
	uint64_t lsn;  /* primary: pg_current_wal_lsn(); replica: pg_last_wal_replay_lsn() */
	double polled; /* when lsn was read, 0 never */
	double asked;  /* when the last poll was sent */
	bool polling;  /* a poll is under way */
	struct {
		double at;
		uint64_t lsn;
	} history[ENDPOINT_WAL_HISTORY]; /* primary: recent positions, a ring */
	int next;                        /* primary: the ring's next slot */
};

/* The circuit breaker's state; endpoint_breaker_set_state() is the one place it changes. */
enum breaker_state {
	BREAKER_CLOSED = 0, /* healthy or not yet known bad: connections open as needed */
	BREAKER_OPEN,       /* failing: new connections wait for retry_at, clients fail at once */
	BREAKER_HALF_OPEN,  /* the backoff is over: one probe connection is on its way */
};

/* How a breaker behaves (from the config: breaker_failures, breaker_backoff...). */
struct breaker_params {
	int failures;         /* consecutive outage failures that open it; 0: it never opens */
	double backoff;       /* s, the wait after it first opens */
	double backoff_max;   /* s, doubling stops here */
	double probe_timeout; /* s, a probe with no verdict by then lets another through */
	double retry;         /* s, closed after a failure: the least wait before the next
	                         attempt, so that the failures in a row span some time */
};

/* An endpoint's breaker. */
struct breaker {
	enum breaker_state state;
	int failures;    /* outage failures in a row, since the last login that succeeded */
	double since;    /* when it entered its state */
	double backoff;  /* s, the wait that the last opening set; 0 while it never opened */
	double retry_at; /* OPEN: when a probe may go; CLOSED: when the next attempt may */
	uint64_t opened; /* times it opened (from closed or from half-open) */
};

struct endpoint {
	struct list node; /* on the pooler's list of endpoints */
	char host[256];   /* address as configured: a host name, an IP or a socket directory */
	int port;
	enum endpoint_role role;
	/* Health: the only place failures are counted. */
	uint64_t failures[ENDPOINT_FAIL_KINDS];
	int consecutive_failures; /* since the last login that succeeded */
	double last_failure;      /* time of the last failure, 0 if none */
	double last_success;      /* time of the last successful login, 0 if none */
	char last_sqlstate[6];
	char last_error[256];
	/* Counters, kept where they change. */
	uint64_t connects;             /* connection attempts started */
	uint64_t logins;               /* logins that succeeded */
	int servers_opening;           /* connecting or logging in */
	int servers_idle;              /* ready in a pool */
	int servers_busy;              /* linked, running an internal query or listening */
	struct traffic_counts traffic; /* of the transactions that ran here */
	struct breaker breaker;        /* read by the admin console and metrics */
	/* Read routing (route.c, replica.c). */
	struct endpoint_wal wal;
	double lag;               /* replica: seconds behind the primary, as last polled */
	bool lagging;             /* replica: skipped for lag over max_replica_lag */
	uint64_t routed;          /* reads sent here by read routing */
	uint64_t routed_fallback; /* primary: reads that no replica could take */
	uint64_t lag_skips;       /* replica: times it started lagging */
};

/* Name of a failure kind, for logs and metrics. */
const char *endpoint_failure_name(enum endpoint_failure kind);

/* Set up an endpoint for HOST (may be NULL: the default socket directory) and PORT. */
void endpoint_init(struct endpoint *ep, const char *host, int port, enum endpoint_role role);

/* A connection attempt to EP started at NOW. */
void endpoint_connecting(struct endpoint *ep, double now);

/* A login to EP succeeded at NOW: the failure streak ends. */
void endpoint_login_ok(struct endpoint *ep, double now);

/*
 * A connection to EP failed at NOW for KIND, with the error the clients
 * waiting for it will see. Logs the failure with its counts.
 */
void endpoint_failed(struct endpoint *ep, enum endpoint_failure kind, const char *sqlstate,
                     const char *message, double now);

/*
 * Whether a failure of KIND with SQLSTATE says the server is unavailable
 * (refused, unreachable, timed out, lost, shutting down or starting up,
 * out of connections or resources) and so counts towards the breaker.
 * A login refused for a user's credentials or a missing database does not:
 * the server is up, and other users of the endpoint are served.
 */
bool endpoint_failure_is_outage(enum endpoint_failure kind, const char *sqlstate);

/*
 * An outage failure of EP at NOW (after endpoint_failed()). Opens a closed
 * breaker at P->failures in a row, with backoff P->backoff; reopens a
 * half-open one with the backoff doubled, up to P->backoff_max.
 */
void endpoint_breaker_failure(struct endpoint *ep, const struct breaker_params *p, double now);

/*
 * A new connection to EP is about to be opened at NOW: whether the breaker
 * lets it through. Closed: yes, but P->retry after a failure. Open: no until retry_at; then this
 * one is the probe and the breaker becomes half-open. Half-open: no while the probe is under way
 * (P->probe_timeout), then one more probe.
 */
bool endpoint_breaker_admit(struct endpoint *ep, const struct breaker_params *p, double now);

/*
 * Whether a client that needs a new connection to EP is refused at NOW:
 * the breaker is open and no probe is due yet. (Half-open, or open with the
 * probe due, the client waits for the probe.)
 */
bool endpoint_breaker_refuses(const struct endpoint *ep, double now);

/* Name of a breaker state, for logs and the admin console. */
const char *endpoint_breaker_state_name(enum breaker_state st);

/*
 * What a client refused by EP's breaker at NOW is told, into BUF: the
 * server, its role, the failures, when it is tried again and the last error.
 */
void endpoint_breaker_message(const struct endpoint *ep, double now, char *buf, size_t len);

/* Total failures of every kind. */
uint64_t endpoint_failures_total(const struct endpoint *ep);

/*
 * The endpoint for HOST:PORT on LIST (a list of struct endpoint), created
 * and appended on first use. NULL when out of memory.
 */
struct endpoint *endpoint_get(struct list *list, const char *host, int port,
                              enum endpoint_role role);

/* Free every endpoint on LIST. */
void endpoint_free_all(struct list *list);

#endif
