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

void endpoint_login_ok(struct endpoint *ep, double now)
{
	ep->logins++;
	ep->consecutive_failures = 0;
	ep->last_success = now;
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
