/*
 * schema.c - reading each database's schema snapshot through the pool's own
 * server connections (see schema.h).
 *
 * A load is a series of internal queries on one server: BEGIN (one
 * read-only snapshot, so tables, indexes and statistics agree), the
 * catalog builder's queries in order, COMMIT. Each query's rows go into the
 * builder as they arrive; when the last query is done the snapshot goes to
 * the analysis thread and the server back to its pool. A load that fails,
 * or whose server goes away, is dropped and tried again later.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/catalog.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/pool.h"
#include "pooler/schema.h"
#include "pooler/server.h"

#define SCHEMA_STEP_BEGIN    (-1)            /* the BEGIN before the catalog queries */
#define SCHEMA_STEP_COMMIT   CATALOG_QUERIES /* the COMMIT after them */
#define SCHEMA_STEP_ROLLBACK (CATALOG_QUERIES + 1)
#define SCHEMA_DDL_DELAY     1.0   /* seconds after DDL before the snapshot is read again */
#define SCHEMA_RETRY         30.0  /* seconds after a failed load (at most catalog_refresh) */
#define SCHEMA_LOAD_TIMEOUT  120.0 /* seconds a load may take before its server is closed */
#define SCHEMA_NEVER         1e300

static const struct server_query_ops schema_ops;

static bool schema_enabled(void)
{
	return pooler.cfg->analyze && pooler.cfg->analyze_schema && observe_enabled();
}

void schema_attach(struct pool *p)
{
	struct loop_state *ls = p->loop;
	const char *name = p->db->name;
	struct schema_db *s = htab_get(&ls->schemas, name, strlen(name));

	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return;
		snprintf(s->name, sizeof(s->name), "%s", name);
		s->scope.db = htab_hash(s->name, strlen(s->name));
		s->scope.db = s->scope.db ? s->scope.db : 1;
		htab_put(&ls->schemas, s->name, strlen(s->name), s);
	}
	p->schema = s;
	p->scope = &s->scope;
}

static double refresh_period(void)
{
	int ms = pooler.cfg->catalog_refresh;

	return ms > 0 ? ms / 1000.0 : SCHEMA_NEVER;
}

/* The load ended (either way): the server is no longer ours. */
static void load_end(struct schema_db *s, double next)
{
	catalog_builder_free(s->builder);
	s->builder = NULL;
	s->server = NULL;
	s->state = SCHEMA_WAITING;
	s->due = next;
}

/* The load failed: logged, and the next one is due after a retry delay. */
static void load_failed(struct schema_db *s, const char *why, double now)
{
	double retry = refresh_period() < SCHEMA_RETRY ? refresh_period() : SCHEMA_RETRY;

	snprintf(s->error, sizeof(s->error), "%s", why);
	log_event(LOG_WARNING, "schema.failed", LOG_STR, "db", s->name, LOG_STR, "error", why,
	          LOG_END);
	s->due = now + retry;
	catalog_builder_free(s->builder);
	s->builder = NULL;
}

/* Every step done: hand the snapshot over and the server back. */
static void load_finished(struct schema_db *s, struct server *sv, double now)
{
	char err[256];
	struct catalog *cat = catalog_builder_finish(s->builder, s->name, err, sizeof(err));
	size_t tables = cat != NULL ? cat->n_tables : 0;

	s->builder = NULL;
	if (cat == NULL) {
		load_failed(s, err, now);
		load_end(s, s->due);
		pool_server_ready(sv);
		return;
	}
	observe_catalog(s->scope.db, cat); /* ahead of the texts that use it */
	s->scope.generation++;
	s->error[0] = 0;
	log_event(LOG_INFO, "schema.loaded", LOG_STR, "db", s->name, LOG_INT, "generation",
	          (long long)s->scope.generation, LOG_INT, "tables", (long long)tables, LOG_INT,
	          "ms", (long long)((now - s->started) * 1000), LOG_END);
	load_end(s, now + refresh_period());
	pool_server_ready(sv);
}

/* Run step STEP of the load on sv; false when sv was closed. */
static bool run_step(struct schema_db *s, struct server *sv, int step)
{
	const char *sql;

	s->query = step;
	if (step == SCHEMA_STEP_BEGIN)
		sql = CATALOG_SNAPSHOT_BEGIN;
	else if (step == SCHEMA_STEP_COMMIT)
		sql = "COMMIT";
	else if (step == SCHEMA_STEP_ROLLBACK)
		sql = "ROLLBACK";
	else
		sql = catalog_builder_query(step);
	return server_query(sv, sql, &schema_ops, s);
}

static void schema_row(struct server *sv, void *arg, int n, const char *const *values)
{
	struct schema_db *s = arg;

	if (s->failed || s->query < 0 || s->query >= CATALOG_QUERIES)
		return;
	if (!catalog_builder_row(s->builder, s->query, n, values))
		s->failed = true;
}

static void schema_done(struct server *sv, void *arg, bool failed)
{
	struct schema_db *s = arg;
	double now = ev_now(sv->conn.ev);
	int step = s->query;

	if (step == SCHEMA_STEP_ROLLBACK) {
		load_end(s, s->due);
		if (failed || sv->tx_status != 'I') {
			sv->dirty = true;
			server_close(sv, "schema rollback failed");
			return;
		}
		pool_server_ready(sv);
		return;
	}
	if (!failed && !s->failed && step >= 0 && step < CATALOG_QUERIES &&
	    !catalog_builder_end(s->builder, step))
		s->failed = true;
	if (failed || s->failed) {
		char why[300];

		snprintf(why, sizeof(why), "%s", failed ? sv->error_message : "out of memory");
		load_failed(s, why, now);
		if (sv->tx_status == 'I') {
			load_end(s, s->due);
			pool_server_ready(sv);
			return;
		}
		run_step(s, sv, SCHEMA_STEP_ROLLBACK);
		return;
	}
	if (step == SCHEMA_STEP_COMMIT) {
		load_finished(s, sv, now);
		return;
	}
	run_step(s, sv, step + 1);
}

/* The server went away during the load: it is dropped. */
static void schema_server_closed(struct server *sv, void *arg)
{
	struct schema_db *s = arg;

	if (s->query == SCHEMA_STEP_ROLLBACK) {
		load_end(s, s->due);
		return;
	}
	load_failed(s, "server connection closed during the schema load", ev_now(sv->conn.ev));
	load_end(s, s->due);
}

static const struct server_query_ops schema_ops = {.name = "schema",
                                                   .on_row = schema_row,
                                                   .on_done = schema_done,
                                                   .on_close = schema_server_closed};

/* The pool whose servers read the schema for p: analyze_user's, else p itself. */
static struct pool *source_pool(struct pool *p)
{
	const char *user = pooler.cfg->analyze_user;
	char err[256];

	if (user == NULL || user[0] == 0 || strcmp(user, p->user) == 0)
		return p;
	return pool_get(p->loop, p->db, user, err, sizeof(err));
}

/* An idle server of p that a load may borrow: none while clients wait for one. */
static struct server *lendable_server(struct pool *p)
{
	if (!list_empty(&p->waiting_clients) || list_empty(&p->idle_servers))
		return NULL;
	return list_entry(list_first(&p->idle_servers), struct server, node);
}

void schema_janitor(struct pool *p, double now)
{
	struct schema_db *s;
	struct pool *src;
	struct server *sv;

	if (!schema_enabled() || pooler.shutting_down)
		return;
	if (p->schema == NULL)
		schema_attach(p);
	s = p->schema;
	if (s == NULL)
		return;
	if (s->state == SCHEMA_LOADING) {
		if (now - s->started > SCHEMA_LOAD_TIMEOUT && s->server != NULL) {
			s->server->dirty = true;
			server_close(s->server, "schema load timeout");
		}
		return;
	}
	if (now < s->due)
		return;
	src = source_pool(p);
	if (src == NULL)
		return;
	sv = lendable_server(src);
	if (sv == NULL) {
		/* None idle (session mode keeps its servers): open one if the pool has room. */
		if (list_empty(&src->waiting_clients) && list_empty(&src->login_servers) &&
		    src->n_servers < src->pool_size && src->primary->consecutive_failures == 0)
			server_connect(src, src->primary);
		return;
	}
	s->builder = catalog_builder_new();
	if (s->builder == NULL)
		return;
	s->state = SCHEMA_LOADING;
	s->started = now;
	s->failed = false;
	s->server = sv;
	run_step(s, sv, SCHEMA_STEP_BEGIN);
}

bool schema_tag_changes_schema(const char *tag)
{
	static const char *const words[] = {"CREATE ", "ALTER ", "DROP ",
	                                    "ANALYZE", "VACUUM", NULL};

	if (tag[0] != 'C' && tag[0] != 'A' && tag[0] != 'D' && tag[0] != 'V')
		return false;
	for (int i = 0; words[i] != NULL; i++)
		if (strncmp(tag, words[i], strlen(words[i])) == 0)
			return true;
	return false;
}

void schema_statement_done(struct pool *p, const char *tag, double now)
{
	struct schema_db *s = p->schema;

	if (s == NULL || !schema_tag_changes_schema(tag))
		return;
	if (s->due > now + SCHEMA_DDL_DELAY)
		s->due = now + SCHEMA_DDL_DELAY;
}

static void free_schema(void *value, void *arg)
{
	struct schema_db *s = value;

	catalog_builder_free(s->builder);
	free(s);
	(void)arg;
}

void schema_release_all(struct loop_state *ls)
{
	htab_foreach(&ls->schemas, free_schema, NULL);
	htab_release(&ls->schemas);
}
