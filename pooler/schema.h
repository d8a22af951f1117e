/*
 * schema.h - the live schema snapshot of each database, so that the rules
 * that need a schema (unindexed filters, joins, pagination) judge live
 * traffic too.
 *
 * Each database a loop serves has one struct schema_db. Its snapshot is
 * read through one of the pool's own server connections as a series of
 * internal queries (no password of its own: the pool's login, or the pools
 * of analyze_user when set), on the event loop, row by row into a catalog
 * builder, and handed to the analysis thread (observe_catalog()). It is read
 * when the first server of the database is idle, again every
 * catalog_refresh, and soon after a client's DDL completes. Each snapshot
 * handed over moves the database's generation on, so texts are analysed
 * again against it: a new index clears a finding.
 *
 * The loop owns the schema_db entries (schema_release_all() frees them);
 * pools point to theirs. Event-loop thread only.
 */
#ifndef PGSCOPE_POOLER_SCHEMA_H
#define PGSCOPE_POOLER_SCHEMA_H

#include <stdbool.h>

#include "pooler/observe.h"
#include "pooler/pooler.h"

/* Where a database's snapshot is. */
enum schema_state {
	SCHEMA_WAITING = 0, /* no load running; the next starts at `due` */
	SCHEMA_LOADING,     /* its queries run on `server` */
};

struct schema_db {
	char name[NAME_MAX_LEN];    /* the database name clients use */
	struct observe_scope scope; /* db: hash of name; generation: snapshots handed over */
	enum schema_state state;
	double due;                      /* when the next load may start */
	double started;                  /* when the running load started */
	int query;                       /* step of the running load (see schema.c) */
	struct catalog_builder *builder; /* the snapshot being read, owned */
	struct server *server;           /* the connection the load runs on */
	bool failed;                     /* a row was refused: the load is dropped */
	char error[256];                 /* why the last load failed, "" if it did not */
};

/* Give pool p the schema entry of its database (made on first use); the janitor does it. */
void schema_attach(struct pool *p);

/*
 * Periodic work for pool p at NOW: start a load of its database's schema
 * when one is due, p may lend an idle server for it, and nothing waits.
 */
void schema_janitor(struct pool *p, double now);

/* A statement with command tag TAG completed on pool p: DDL makes a reload due soon. */
void schema_statement_done(struct pool *p, const char *tag, double now);

/* true when TAG is the tag of a statement that can change what the rules see. */
bool schema_tag_changes_schema(const char *tag);

/* Free every entry of loop ls (shutdown). */
void schema_release_all(struct loop_state *ls);

#endif
