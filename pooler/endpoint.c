/* endpoint.c - server addresses and their health (see endpoint.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/endpoint.h"
#include "pooler/log.h"

const char *endpoint_failure_name(enum endpoint_failure kind)
{
	switch (kind) {
	case ENDPOINT_FAIL_CONNECT:
		return "connect";
	case ENDPOINT_FAIL_CONNECT_TIMEOUT:
		return "connect_timeout";
	case ENDPOINT_FAIL_LOGIN:
		return "login";
	case ENDPOINT_FAIL_LOST_IN_LOGIN:
		return "lost_during_login";
	case ENDPOINT_FAIL_CONNECT_QUERY:
		return "connect_query";
	case ENDPOINT_FAIL_CHECK:
		return "check";
	case ENDPOINT_FAIL_KINDS:
		break;
	}
	return "?";
}

void endpoint_init(struct endpoint *ep, const char *host, int port, enum endpoint_role role)
{
	memset(ep, 0, sizeof(*ep));
	list_init(&ep->node);
	snprintf(ep->host, sizeof(ep->host), "%s", host != NULL ? host : "");
	ep->port = port;
	ep->role = role;
}

void endpoint_connecting(struct endpoint *ep, double now)
{
	ep->connects++;
	(void)now;
}

static const char *endpoint_role_name(enum endpoint_role role)
{
	return role == ENDPOINT_REPLICA ? "replica" : "primary";
}

const char *endpoint_breaker_state_name(enum breaker_state st)
{
	switch (st) {
	case BREAKER_CLOSED:
		return "closed";
	case BREAKER_OPEN:
		return "open";
	case BREAKER_HALF_OPEN:
		return "half_open";
	}
	return "?";
}

/* The one place a breaker changes state; each change is logged once. */
static void endpoint_breaker_set_state(struct endpoint *ep, enum breaker_state st, double now)
{
	struct breaker *b = &ep->breaker;
	enum breaker_state from = b->state;

	switch (st) {
	case BREAKER_CLOSED:
		b->failures = 0;
		b->backoff = 0;
		b->retry_at = 0;
		break;
	case BREAKER_OPEN:
		b->retry_at = now + b->backoff;
		b->opened++;
		break;
	case BREAKER_HALF_OPEN:
		break;
	default:
		abort();
	}
	b->state = st;
	b->since = now;
	log_event(st == BREAKER_OPEN ? LOG_WARNING : LOG_INFO, "endpoint.breaker", LOG_STR, "host",
	          ep->host, LOG_INT, "port", (long long)ep->port, LOG_STR, "role",
	          endpoint_role_name(ep->role), LOG_STR, "state", endpoint_breaker_state_name(st),
	          LOG_STR, "from", endpoint_breaker_state_name(from), LOG_INT, "failures",
	          (long long)b->failures, LOG_INT, "backoff_ms", (long long)(b->backoff * 1000.0),
	          LOG_STR, "last_error", ep->last_error, LOG_END);
}

void endpoint_login_ok(struct endpoint *ep, double now)
{
	ep->logins++;
	ep->consecutive_failures = 0;
	ep->last_success = now;
	if (ep->breaker.state != BREAKER_CLOSED)
		endpoint_breaker_set_state(ep, BREAKER_CLOSED, now);
	ep->breaker.failures = 0;
	ep->breaker.retry_at = 0;
}

bool endpoint_failure_is_outage(enum endpoint_failure kind, const char *sqlstate)
{
	switch (kind) {
	case ENDPOINT_FAIL_CONNECT:
	case ENDPOINT_FAIL_CONNECT_TIMEOUT:
	case ENDPOINT_FAIL_LOST_IN_LOGIN:
		return true;
	case ENDPOINT_FAIL_LOGIN:
	case ENDPOINT_FAIL_CONNECT_QUERY:
	case ENDPOINT_FAIL_CHECK:
	case ENDPOINT_FAIL_KINDS:
		break;
	}
	if (sqlstate == NULL)
		return false;
	/*
	 * Connection exceptions (08), shutting down or starting up (57P01-57P03),
	 * out of connections or resources (53), system errors (58): the server's
	 * state, not the request's. 57014 (a cancel) is not.
	 */
	return strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57P", 3) == 0 ||
	       strncmp(sqlstate, "53", 2) == 0 || strncmp(sqlstate, "58", 2) == 0;
}

void endpoint_breaker_failure(struct endpoint *ep, const struct breaker_params *p, double now)
{
	struct breaker *b = &ep->breaker;

	b->failures++;
	switch (b->state) {
	case BREAKER_CLOSED:
		if (p->failures <= 0)
			return; /* off: the failures are counted, nothing is held back */
		if (b->failures < p->failures) {
			b->retry_at = now + p->retry;
			return;
		}
		b->backoff = p->backoff;
		break;
	case BREAKER_HALF_OPEN:
		b->backoff = b->backoff * 2 > p->backoff_max ? p->backoff_max : b->backoff * 2;
		if (b->backoff < p->backoff)
			b->backoff = p->backoff;
		break;
	case BREAKER_OPEN:
		return; /* a connection begun before it opened: the backoff stands */
	}
	endpoint_breaker_set_state(ep, BREAKER_OPEN, now);
}

bool endpoint_breaker_admit(struct endpoint *ep, const struct breaker_params *p, double now)
{
	const struct breaker *b = &ep->breaker;

	switch (b->state) {
	case BREAKER_CLOSED:
		return b->failures == 0 || now >= b->retry_at;
	case BREAKER_OPEN:
		if (now < b->retry_at)
			return false;
		endpoint_breaker_set_state(ep, BREAKER_HALF_OPEN, now);
		return true;
	case BREAKER_HALF_OPEN:
		if (now - b->since < p->probe_timeout)
			return false;
		/* The probe ended without a verdict (closed for another reason): one more. */
		endpoint_breaker_set_state(ep, BREAKER_HALF_OPEN, now);
		return true;
	}
	return false;
}

bool endpoint_breaker_refuses(const struct endpoint *ep, double now)
{
	return ep->breaker.state == BREAKER_OPEN && now < ep->breaker.retry_at;
}

void endpoint_breaker_message(const struct endpoint *ep, double now, char *buf, size_t len)
{
	const struct breaker *b = &ep->breaker;
	double wait = b->retry_at > now ? b->retry_at - now : 0;

	snprintf(buf, len,
	         "server %s:%d (%s) is unavailable: %d connection attempts failed in a row, "
	         "next attempt in %.1f s; last error: %s",
	         ep->host[0] ? ep->host : "(socket)", ep->port, endpoint_role_name(ep->role),
	         b->failures, wait, ep->last_error[0] ? ep->last_error : "unknown");
}

void endpoint_failed(struct endpoint *ep, enum endpoint_failure kind, const char *sqlstate,
                     const char *message, double now)
{
	if (kind < 0 || kind >= ENDPOINT_FAIL_KINDS)
		kind = ENDPOINT_FAIL_CONNECT;
	ep->failures[kind]++;
	ep->consecutive_failures++;
	ep->last_failure = now;
	snprintf(ep->last_sqlstate, sizeof(ep->last_sqlstate), "%s", sqlstate);
	snprintf(ep->last_error, sizeof(ep->last_error), "%s", message);
	log_event(LOG_WARNING, "endpoint.failure", LOG_STR, "host", ep->host, LOG_INT, "port",
	          (long long)ep->port, LOG_STR, "kind", endpoint_failure_name(kind), LOG_INT,
	          "count", (long long)ep->failures[kind], LOG_INT, "consecutive",
	          (long long)ep->consecutive_failures, LOG_STR, "sqlstate", sqlstate, LOG_STR,
	          "error", message, LOG_END);
}

uint64_t endpoint_failures_total(const struct endpoint *ep)
{
	uint64_t total = 0;

	for (int i = 0; i < ENDPOINT_FAIL_KINDS; i++)
		total += ep->failures[i];
	return total;
}

struct endpoint *endpoint_get(struct list *list, const char *host, int port,
                              enum endpoint_role role)
{
	const char *name = host != NULL ? host : "";
	struct endpoint *ep;

	for (struct list *it = list->next; it != list; it = it->next) {
		ep = list_entry(it, struct endpoint, node);
		if (ep->port == port && strcmp(ep->host, name) == 0)
			return ep;
	}
	ep = malloc(sizeof(*ep));
	if (ep == NULL)
		return NULL;
	endpoint_init(ep, host, port, role);
	list_append(list, &ep->node);
	return ep;
}

void endpoint_free_all(struct list *list)
{
	struct list *it = list->next;

	while (it != list) {
		struct list *next = it->next;

		free(list_entry(it, struct endpoint, node));
		it = next;
	}
	list_init(list);
}
