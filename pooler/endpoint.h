/*
 * endpoint.h - one server address the pooler connects to, and its health.
 *
 * A [databases] entry names its servers; each address is an endpoint with a
 * role (the primary now, replicas later), and the one place where connect,
 * login and health-check failures are counted and timestamped, along with
 * the connections and logins that succeeded. Endpoints are shared by every
 * pool that reaches the same address, so health is per address.
 *
 * The pooler owns the endpoints (endpoint_get() creates them on first use)
 * and frees them at shutdown. Event-loop thread only; the health functions
 * take the time as an argument and touch nothing else, so they are tested
 * without a loop.
 */
#ifndef PGSCOPE_POOLER_ENDPOINT_H
#define PGSCOPE_POOLER_ENDPOINT_H

#include <stdbool.h>
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
