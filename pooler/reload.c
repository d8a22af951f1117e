/*
 * reload.c - SIGHUP: read the config file again, reject it whole if it does
 * not validate, else put it in force without dropping a client (see
 * reload.h for what is applied and who owns what across a reload).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/client.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/observe.h"
#include "pooler/pool.h"
#include "pooler/proto.h"
#include "pooler/reload.h"
#include "pooler/timeout.h"
#include "pooler/userlist.h"

static int cli_log_level = -1; /* -v/-q, kept over reloads */

void reload_set_log_level(int level)
{
	cli_log_level = level;
}

static bool same_str(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static bool same_list(char *const *a, char *const *b)
{
	size_t i = 0;

	if (a == NULL || b == NULL)
		return a == b;
	for (; a[i] != NULL && b[i] != NULL; i++) {
		if (strcmp(a[i], b[i]) != 0)
			return false;
	}
	return a[i] == NULL && b[i] == NULL;
}

/* Whether servers made with OLD would differ from servers made with NEW. */
static bool same_connection(const struct db_config *old, const struct db_config *new)
{
	return same_str(old->host, new->host) &&
	       old->port == new->port &&same_str(old->dbname, new->dbname) &&
	       same_str(old->user, new->user) && same_str(old->password, new->password) &&
	       same_str(old->connect_query, new->connect_query) &&
	       same_str(old->client_encoding, new->client_encoding) &&
	       same_str(old->datestyle, new->datestyle) && same_str(old->timezone, new->timezone) &&
	       same_str(old->application_name, new->application_name) &&
	       same_list(old->replicas, new->replicas);
}

enum reload_db_change reload_db_compare(const struct db_config *old, const struct db_config *new)
{
	if (old == NULL)
		return new == NULL ? RELOAD_DB_SAME : RELOAD_DB_ADDED;
	if (new == NULL)
		return RELOAD_DB_REMOVED;
	if (!same_connection(old, new))
		return RELOAD_DB_CONNECTION;
	if (old->pool_size != new->pool_size || old->min_pool_size != new->min_pool_size ||
	    old->reserve_pool != new->reserve_pool ||
	    old->max_db_connections != new->max_db_connections ||
	    old->pool_mode != new->pool_mode || old->query_timeout != new->query_timeout ||
	    old->read_routing != new->read_routing)
		return RELOAD_DB_SETTINGS;
	return RELOAD_DB_SAME;
}

const char *reload_db_change_name(enum reload_db_change change)
{
	switch (change) {
	case RELOAD_DB_SAME:
		return "same";
	case RELOAD_DB_SETTINGS:
		return "settings";
	case RELOAD_DB_CONNECTION:
		return "connection";
	case RELOAD_DB_ADDED:
		return "added";
	case RELOAD_DB_REMOVED:
		return "removed";
	}
	return "unknown";
}

/* The entry named NAME in CFG itself (no "*" fallback), or NULL. */
static const struct db_config *find_entry(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_dbs; i++) {
		if (strcmp(cfg->dbs[i].name, name) == 0)
			return &cfg->dbs[i];
	}
	return NULL;
}

size_t reload_diff_dbs(const struct config *old, const struct config *new,
                       struct reload_db_diff *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < new->n_dbs; i++) {
		const struct db_config *db = &new->dbs[i];
		enum reload_db_change ch = reload_db_compare(find_entry(old, db->name), db);

		if (ch == RELOAD_DB_SAME)
			continue;
		if (n < max)
			out[n] = (struct reload_db_diff){.name = db->name, .change = ch};
		n++;
	}
	for (size_t i = 0; i < old->n_dbs; i++) {
		if (find_entry(new, old->dbs[i].name) != NULL)
			continue;
		if (n < max)
			out[n] = (struct reload_db_diff){.name = old->dbs[i].name,
			                                 .change = RELOAD_DB_REMOVED};
		n++;
	}
	return n;
}

bool reload_load_users(const struct config *cfg, struct userlist **out, char *err, size_t errlen)
{
	char why[256];

	*out = NULL;
	if (cfg->auth_file == NULL || cfg->auth_file[0] == 0) {
		if ((cfg->auth_type == AUTH_PLAIN || cfg->auth_type == AUTH_MD5 ||
		     cfg->auth_type == AUTH_SCRAM) &&
		    cfg->auth_user == NULL) {
			snprintf(err, errlen, "auth_type %s needs an auth_file",
			         config_auth_type_name(cfg->auth_type));
			return false;
		}
		return true;
	}
	*out = userlist_load(cfg->auth_file, why, sizeof(why));
	if (*out == NULL) {
		snprintf(err, errlen, "auth_file %s: %s", cfg->auth_file, why);
		return false;
	}
	return true;
}

/* ---- keys that take effect only at start ---- */

enum start_key_kind { KEY_INT, KEY_SIZE, KEY_BOOL, KEY_STR };

struct start_key {
	const char *name;
	size_t offset; /* in struct config */
	size_t size;
	enum start_key_kind kind;
};

#define START_KEY(field, kind)                                                                    \
	{                                                                                         \
#field, offsetof(struct config, field), sizeof(((struct config *)0)->field), kind \
	}

/*
 * The listeners, the pid file and the analysis thread are set up once;
 * max_packet_size sized the buffers of connections already open.
 */
static const struct start_key start_keys[] = {
    START_KEY(listen_addr, KEY_STR),        START_KEY(listen_port, KEY_INT),
    START_KEY(unix_socket_dir, KEY_STR),    START_KEY(unix_socket_mode, KEY_INT),
    START_KEY(listen_backlog, KEY_INT),     START_KEY(pidfile, KEY_STR),
    START_KEY(max_packet_size, KEY_SIZE),   START_KEY(analyze, KEY_BOOL),
    START_KEY(analyze_max_bytes, KEY_SIZE), START_KEY(capture, KEY_BOOL),
    START_KEY(capture_dir, KEY_STR),        START_KEY(capture_compress, KEY_BOOL),
    START_KEY(capture_max_bytes, KEY_SIZE), START_KEY(capture_max_age, KEY_INT),
    START_KEY(capture_literals, KEY_BOOL),  START_KEY(capture_queue_size, KEY_SIZE),
};

static bool start_key_same(const struct start_key *k, const struct config *a,
                           const struct config *b)
{
	const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;

	if (k->kind == KEY_STR)
		return same_str(*(char *const *)pa, *(char *const *)pb);
	return memcmp(pa, pb, k->size) == 0;
}

/* Exchange one field between two configs (so the old value is what stays running). */
static void swap_field(struct config *a, struct config *b, size_t offset, size_t size)
{
	unsigned char tmp[sizeof(size_t) > sizeof(char *) ? sizeof(size_t) : sizeof(char *)];

	memcpy(tmp, (char *)a + offset, size);
	memcpy((char *)a + offset, (char *)b + offset, size);
	memcpy((char *)b + offset, tmp, size);
}

static bool same_rules(const struct config *a, const struct config *b)
{
	if (a->n_rules != b->n_rules)
		return false;
	for (size_t i = 0; i < a->n_rules; i++) {
		if (strcmp(a->rules[i].key, b->rules[i].key) != 0 ||
		    strcmp(a->rules[i].value, b->rules[i].value) != 0)
			return false;
	}
	return true;
}

bool reload_key_changeable(const char *key)
{
	for (size_t i = 0; i < sizeof(start_keys) / sizeof(start_keys[0]); i++)
		if (strcmp(start_keys[i].name, key) == 0)
			return false;
	return true;
}

static void note_restart(const char *key)
{
	log_event(LOG_WARNING, "config.reload_needs_restart", LOG_STR, "key", key, LOG_STR, "note",
	          "changed in the file; the running value stays until pgscope is restarted",
	          LOG_END);
}

/* Keep RUNNING's start-only values in NEXT, and say which ones the file changed. */
static void keep_start_keys(struct config *running, struct config *next)
{
	for (size_t i = 0; i < sizeof(start_keys) / sizeof(start_keys[0]); i++) {
		const struct start_key *k = &start_keys[i];

		if (start_key_same(k, running, next))
			continue;
		note_restart(k->name);
		swap_field(running, next, k->offset, k->size);
	}
	if (!same_rules(running, next)) {
		note_restart("[rules]");
		swap_field(running, next, offsetof(struct config, rules), sizeof(next->rules));
		swap_field(running, next, offsetof(struct config, n_rules), sizeof(next->n_rules));
	}
}

/* ---- applying ---- */

#define DIFF_LOGGED 32 /* [databases] changes named in the reload's log event */

/* Append NAME to the comma-separated list in BUF (bounded; "..." once full). */
static void list_append_name(char *buf, size_t bufsz, const char *name)
{
	size_t len = strlen(buf);

	if (len + strlen(name) + 5 >= bufsz) {
		if (len + 4 < bufsz && (len < 3 || strcmp(buf + len - 3, "...") != 0))
			snprintf(buf + len, bufsz - len, "%s...", len ? "," : "");
		return;
	}
	snprintf(buf + len, bufsz - len, "%s%s", len ? "," : "", name);
}

static void log_reloaded(const struct config *old, const struct config *next)
{
	struct reload_db_diff diff[DIFF_LOGGED];
	char added[512] = "", changed[512] = "", removed[512] = "";
	size_t n = reload_diff_dbs(old, next, diff, DIFF_LOGGED);

	for (size_t i = 0; i < n && i < DIFF_LOGGED; i++) {
		if (diff[i].change == RELOAD_DB_ADDED)
			list_append_name(added, sizeof(added), diff[i].name);
		else if (diff[i].change == RELOAD_DB_REMOVED)
			list_append_name(removed, sizeof(removed), diff[i].name);
		else
			list_append_name(changed, sizeof(changed), diff[i].name);
	}
	log_event(LOG_INFO, "config.reloaded", LOG_STR, "path", next->path, LOG_STR, "added", added,
	          LOG_STR, "changed", changed, LOG_STR, "removed", removed, LOG_INT,
	          "default_pool_size", (long long)next->default_pool_size, LOG_STR, "pool_mode",
	          config_pool_mode_name(next->pool_mode), LOG_END);
}

static void apply_log_settings(const struct config *cfg)
{
	if (log_setup(cfg->logfile, cfg->log_format == LOG_FORMAT_JSON,
	              (enum log_level)cfg->log_level))
		return;
	log_event(LOG_ERROR, "config.logfile_failed", LOG_STR, "path", cfg->logfile, LOG_STR,
	          "error", strerror(errno), LOG_STR, "note", "logging goes on where it was",
	          LOG_END);
}

/*
 * Every pool takes the entry new clients of its database would get now (a
 * removed database's pool is retired and keeps its own copy).
 */
static void reconfigure_pools(struct loop_state *ls)
{
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		struct pool *p = list_entry(it, struct pool, node);

		if (!p->retired)
			pool_reconfigure(p, pool_resolve_db(ls, p->db->name));
	}
}

/* Point each client's c->db at an entry of the new config, before the old one is freed. */
static void repoint_clients(struct loop_state *ls)
{
	struct list *it = ls->clients.next;

	while (it != &ls->clients) {
		struct client *c = list_entry(it, struct client, all);
		char msg[160];

		it = it->next;
		if (c->pool != NULL) {
			c->db = c->pool->db;
			timeout_client_configure(c); /* the new limits, for its next request */
			continue;
		}
		if (c->db == NULL)
			continue; /* its startup packet has not come yet */
		c->db = pool_resolve_db(ls, c->database);
		if (c->db != NULL || c->state == CL_CLOSING || c->state == CL_LINGER)
			continue;
		snprintf(msg, sizeof(msg), "no such database: %s", c->database);
		client_fail(c, SQLSTATE_INVALID_CATALOG, msg);
	}
}

static void free_autodbs(struct db_config **dbs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		config_db_free(dbs[i]);
	free(dbs);
}

/* Put NEXT (validated, with its USERS) in force on LS; NEXT is emptied. */
static void reload_apply(struct loop_state *ls, struct config *next, struct userlist *users)
{
	struct config old = *pooler.cfg;
	struct userlist *old_users = pooler.users;
	struct db_config **old_autodbs = ls->autodbs;
	size_t n_old_autodbs = ls->n_autodbs;

	apply_log_settings(next); /* first, so that what the reload logs goes where it says */
	observe_set_log_min_duration(next->log_min_duration);
	keep_start_keys(&old, next);
	log_reloaded(&old, next);
	*pooler.cfg = *next;
	memset(next, 0, sizeof(*next));
	pooler.users = users;
	ls->autodbs = NULL; /* made again from the new "*" entry as pools and clients ask */
	ls->n_autodbs = 0;
	loop_apply_config(ls, pooler.cfg);
	reconfigure_pools(ls);
	repoint_clients(ls);
	/* Nothing points into these any more. */
	free_autodbs(old_autodbs, n_old_autodbs);
	if (old_users != NULL)
		userlist_free(old_users);
	config_free(&old);
}

bool reload_config(struct loop_state *ls)
{
	struct config next;
	struct userlist *users = NULL;
	char err[512];

	if (!config_load(&next, pooler.cfg->path, err, sizeof(err)))
		goto out_failed; /* config_load() freed next */
	if (cli_log_level >= 0)
		next.log_level = cli_log_level;
	if (!reload_load_users(&next, &users, err, sizeof(err))) {
		config_free(&next);
		goto out_failed;
	}
	reload_apply(ls, &next, users);
	return true;
out_failed:
	log_event(LOG_ERROR, "config.reload_failed", LOG_STR, "path", pooler.cfg->path, LOG_STR,
	          "error", err, LOG_STR, "note", "the configuration in force is unchanged",
	          LOG_END);
	return false;
}
