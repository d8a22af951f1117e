/*
 * authquery.h - auth_query: a user's secret fetched from the server when
 * auth_file does not hold it, as PgBouncer's auth_user/auth_query do.
 *
 * The query runs as auth_user in auth_dbname (or the client's database) on a
 * server connection of its own, opened for the lookup and closed after it,
 * through the pooler's internal query API (server_query()). "$1" in the query
 * stands for the user name, sent as a quoted literal. The first row's second
 * column is the secret (md5 hash, SCRAM secret or plain text); no row or a
 * NULL is a user without a usable password, which fails authentication like
 * a wrong password. Answers, both kinds, are cached for AUTHQ_CACHE_SECONDS,
 * and clients asking for the same user while a lookup runs share it.
 */
#ifndef PGSCOPE_POOLER_AUTHQUERY_H
#define PGSCOPE_POOLER_AUTHQUERY_H

#include <stdbool.h>

#include "pooler/pooler.h"

#define AUTHQ_CACHE_SECONDS 10.0

enum authq_result {
	AUTHQ_CACHED,  /* *secret is the answer (NULL: no usable password) */
	AUTHQ_PENDING, /* client_auth_secret() is called with the answer later */
	AUTHQ_FAILED,  /* no lookup could be started (err set) */
};

/* true when auth_query is configured (auth_user set). */
bool authquery_enabled(void);

/* Look up c->user's secret. *secret points into the cache: copy it before returning. */
enum authq_result authquery_fetch(struct client *c, const char **secret, char *err, size_t errlen);

/* c goes away: it no longer waits for an answer. */
void authquery_forget(struct client *c);

/* A lookup connection has logged in (server.c): run the query. */
void authquery_server_ready(struct server *sv);

/* A lookup connection is closing (server.c): its waiters fail if it had no answer. */
void authquery_server_gone(struct server *sv);

/* Drop the cache, wiping the secrets. */
void authquery_clear_cache(void);

#endif
