/*
 * loop.h - the state of one event loop: its ev_loop, its pools, server
 * addresses and connections, the reaper and janitor that run on it, its
 * counters and prepared-statement registry, and the tables it builds from
 * the config.
 *
 * Every client, server and pool points to the loop state it lives on and
 * reaches it from there; only code with no connection at hand (the process
 * in pooler.c: start, signals, listeners) goes through pooler.loop. Nothing
 * here is shared between loops, so several loops can each have their own.
 */
#ifndef PGSCOPE_POOLER_LOOP_H
#define PGSCOPE_POOLER_LOOP_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "pooler/config.h"
#include "pooler/conn.h"
#include "pooler/htab.h"
#include "pooler/list.h"
#include "pooler/pooler.h"

struct stats_state;
struct http_server;

struct loop_state {
	struct ev_loop *ev;
	struct list pools;
	struct list endpoints;       /* struct endpoint: every server address in use */
	struct list clients;         /* every live client (cancel lookup, shutdown) */
	struct list login_clients;   /* CL_STARTUP, CL_AUTH */
	struct list closing_clients; /* CL_CLOSING: flushing a final error */
	struct list admin_clients;   /* CL_ADMIN: admin console sessions (admin.c) */
	struct list dead_clients;    /* closed; freed by the reaper before the next poll */
	struct list dead_servers;
	int n_clients;
	int cancels_open; /* cancel connections not yet finished (cancel.c) */
	int peak_clients; /* most clients seen since memory was last given back (pooler.c) */
	ev_prepare reaper;
	ev_timer janitor;
	struct pooler_stats stats;
	struct stats_state *stats_period; /* stats_period averages (stats.c), owned, or NULL */
	struct http_server *http;   /* the admin_http_listen endpoint (http.c), owned, or NULL */
	struct htab ps_registry;    /* Parse body -> struct ps_entry *, see prepared.c */
	struct htab schemas;        /* database name -> struct schema_db *, see schema.c */
	uint64_t ps_next_id;        /* last statement number handed out */
	struct db_config **autodbs; /* entries made from the "*" fallback, owned (pool.c) */
	size_t n_autodbs;
	bool pause_all;           /* PAUSE of every database in force (pool.c) */
	struct htab paused_dbs;   /* database names paused one by one (value: the loop) */
	struct htab disabled_dbs; /* database names DISABLEd on the console (pool.c) */
	/* Relay handlers with the config's limits, built by loop_apply_config(). */
	struct relay_ops client_session_ops; /* client requests, session mode */
	struct relay_ops client_pooled_ops;  /* client requests, transaction/statement mode */
	struct relay_ops server_active_ops;  /* server answers to a linked client */
};

/* Make ls an empty loop state on ev, with the tables of cfg. */
void loop_init(struct loop_state *ls, struct ev_loop *ev, const struct config *cfg);

/*
 * (Re)build what ls derives from the config: called at start, and again
 * when the config is reloaded.
 */
void loop_apply_config(struct loop_state *ls, const struct config *cfg);

/* Free the pools, registry, fallback entries and endpoints left in ls. */
void loop_release(struct loop_state *ls);

#endif
