/* authquery.c - secrets fetched with auth_query (see authquery.h). */
#include "pooler/authquery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "pooler/client.h"
#include "pooler/htab.h"
#include "pooler/list.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/pool.h"
#include "pooler/proto.h"
#include "pooler/server.h"

/* A cached answer. */
struct authq_entry {
	char *secret; /* NULL: no usable password; wiped when dropped */
	ev_tstamp expires;
};

/* One lookup in flight, on its own server connection. */
struct authq_lookup {
	struct list node; /* on lookups */
	struct server *sv;
	char key[2 * NAME_MAX_LEN + 1]; /* "database\0user\0" */
	size_t key_len;
	char user[NAME_MAX_LEN];
	char *secret; /* from the first row; owned until cached */
	bool answered;
	struct client **waiters; /* clients waiting for the answer, owned array */
	size_t n_waiters, cap_waiters;
};

static struct htab cache;
static struct list lookups = {&lookups, &lookups};

bool authquery_enabled(void)
{
	return pooler.cfg->auth_user != NULL;
}

static void secret_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

static void entry_free(void *value, void *arg)
{
	struct authq_entry *e = value;

	(void)arg;
	secret_free(e->secret);
	free(e);
}

void authquery_clear_cache(void)
{
	htab_foreach(&cache, entry_free, NULL);
	htab_release(&cache);
}

/* "database\0user" (NUL-terminated too), the key of both the cache and the lookups. */
static size_t make_key(char *key, const char *database, const char *user)
{
	size_t dl = strlen(database), ul = strlen(user);

	memcpy(key, database, dl + 1);
	memcpy(key + dl + 1, user, ul + 1);
	return dl + 1 + ul;
}

static struct authq_lookup *find_lookup(const char *key, size_t len)
{
	for (struct list *it = lookups.next; it != &lookups; it = it->next) {
		struct authq_lookup *l = list_entry(it, struct authq_lookup, node);

		if (l->key_len == len && memcmp(l->key, key, len) == 0)
			return l;
	}
	return NULL;
}

static struct authq_lookup *lookup_of(const struct server *sv)
{
	for (struct list *it = lookups.next; it != &lookups; it = it->next) {
		struct authq_lookup *l = list_entry(it, struct authq_lookup, node);

		if (l->sv == sv)
			return l;
	}
	return NULL;
}

static bool add_waiter(struct authq_lookup *l, struct client *c)
{
	if (l->n_waiters == l->cap_waiters) {
		size_t cap = l->cap_waiters ? 2 * l->cap_waiters : 4;
		struct client **grown = realloc(l->waiters, cap * sizeof(*grown));

		if (grown == NULL)
			return false;
		l->waiters = grown;
		l->cap_waiters = cap;
	}
	l->waiters[l->n_waiters++] = c;
	return true;
}

/* Open a connection as auth_user for a new lookup. */
static struct authq_lookup *start_lookup(struct client *c, const struct db_config *db,
                                         const char *key, size_t key_len, char *err, size_t errlen)
{
	struct authq_lookup *l;
	struct pool *p = pool_get(c->loop, db, pooler.cfg->auth_user, err, errlen);
	struct server *sv;

	if (p == NULL)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(l->key, key, key_len);
	l->key_len = key_len;
	snprintf(l->user, sizeof(l->user), "%s", c->user);
	list_append(&lookups, &l->node);
	sv = server_connect(p, p->primary);
	if (sv == NULL) {
		list_del(&l->node);
		free(l);
		snprintf(err, errlen, "could not connect to run auth_query");
		return NULL;
	}
	p->n_servers--; /* not one of the pool's servers (as the listening connection) */
	sv->auth_conn = true;
	l->sv = sv;
	return l;
}

enum authq_result authquery_fetch(struct client *c, const char **secret, char *err, size_t errlen)
{
	const char *dbname = pooler.cfg->auth_dbname;
	const struct db_config *db = dbname ? pool_resolve_db(c->loop, dbname) : c->db;
	char key[2 * NAME_MAX_LEN + 1];
	size_t key_len;
	struct authq_entry *e;
	struct authq_lookup *l;

	if (db == NULL) {
		snprintf(err, errlen, "auth_dbname \"%s\" is not a known database", dbname);
		return AUTHQ_FAILED;
	}
	key_len = make_key(key, db->name, c->user);
	e = htab_get(&cache, key, key_len);
	if (e != NULL && e->expires > ev_now(c->loop->ev)) {
		*secret = e->secret;
		return AUTHQ_CACHED;
	}
	l = find_lookup(key, key_len);
	if (l == NULL)
		l = start_lookup(c, db, key, key_len, err, errlen);
	if (l == NULL)
		return AUTHQ_FAILED;
	if (!add_waiter(l, c)) {
		snprintf(err, errlen, "out of memory");
		return AUTHQ_FAILED;
	}
	return AUTHQ_PENDING;
}

void authquery_forget(struct client *c)
{
	for (struct list *it = lookups.next; it != &lookups; it = it->next) {
		struct authq_lookup *l = list_entry(it, struct authq_lookup, node);

		for (size_t i = 0; i < l->n_waiters; i++) {
			if (l->waiters[i] == c) {
				l->waiters[i] = l->waiters[--l->n_waiters];
				return;
			}
		}
	}
}

/* The query with every $1 replaced by the user name as an E'' literal; NULL if out of memory. */
static char *build_sql(const char *query, const char *user)
{
	char lit[4 * NAME_MAX_LEN + 4];
	size_t n = 0, qlen = strlen(query), count = 0;
	char *sql, *o;

	lit[n++] = 'E';
	lit[n++] = '\'';
	for (const char *u = user; *u; u++) {
		if (*u == '\'' || *u == '\\')
			lit[n++] = *u;
		lit[n++] = *u;
	}
	lit[n++] = '\'';
	lit[n] = '\0';
	for (const char *q = strstr(query, "$1"); q != NULL; q = strstr(q + 2, "$1"))
		count++;
	sql = malloc(qlen + count * n + 1);
	if (sql == NULL)
		return NULL;
	o = sql;
	for (const char *q = query; *q;) {
		if (q[0] == '$' && q[1] == '1') {
			memcpy(o, lit, n);
			o += n;
			q += 2;
		} else {
			*o++ = *q++;
		}
	}
	*o = '\0';
	return sql;
}

static void authq_row(struct server *sv, void *arg, int n, const char *const *values)
{
	struct authq_lookup *l = arg;

	if (l->answered)
		return; /* the first row counts */
	l->answered = true;
	if (n >= 2 && values[1] != NULL && values[1][0] != '\0')
		l->secret = strdup(values[1]);
}

/*
 * Hand the answer to every waiter; ok false: the lookup failed. The lookup
 * is off the list first, so that what a client does with the answer cannot
 * reach it (clients themselves are freed only by the reaper, later).
 */
static void finish_lookup(struct authq_lookup *l, bool ok, const char *why)
{
	list_del(&l->node);
	for (size_t i = 0; i < l->n_waiters; i++)
		client_auth_secret(l->waiters[i], l->secret, ok, why);
	free(l->waiters);
	secret_free(l->secret);
	free(l);
}

static void cache_answer(struct authq_lookup *l, ev_tstamp now)
{
	struct authq_entry *e = calloc(1, sizeof(*e));
	struct authq_entry *old;

	if (e == NULL)
		return;
	e->secret = l->secret ? strdup(l->secret) : NULL;
	e->expires = now + AUTHQ_CACHE_SECONDS;
	old = htab_get(&cache, l->key, l->key_len);
	if (!htab_put(&cache, l->key, l->key_len, e)) {
		entry_free(e, NULL);
		return;
	}
	if (old != NULL)
		entry_free(old, NULL);
}

static void authq_done(struct server *sv, void *arg, bool failed)
{
	struct authq_lookup *l = arg;

	l->sv = NULL;
	if (failed) {
		log_event(LOG_ERROR, "auth_query.failed", LOG_STR, "user", l->user, LOG_STR,
		          "sqlstate", sv->error_sqlstate, LOG_STR, "error", sv->error_message,
		          LOG_END);
		finish_lookup(l, false, "auth_query failed");
	} else {
		cache_answer(l, ev_now(sv->loop->ev));
		finish_lookup(l, true, NULL);
	}
	server_close(sv, "auth_query done");
}

static const struct server_query_ops authq_ops = {
    .name = "auth_query", .on_row = authq_row, .on_done = authq_done};

void authquery_server_ready(struct server *sv)
{
	struct authq_lookup *l = lookup_of(sv);
	char *sql;

	if (l == NULL) {
		server_close(sv, "auth_query not needed");
		return;
	}
	sql = build_sql(pooler.cfg->auth_query, l->user);
	if (sql == NULL) {
		server_close(sv, "out of memory");
		return;
	}
	server_query(sv, sql, &authq_ops, l);
	free(sql);
}

void authquery_server_gone(struct server *sv)
{
	struct authq_lookup *l = lookup_of(sv);

	if (l != NULL)
		finish_lookup(l, false, "could not connect to run auth_query");
}
