/*
 * loop.c - the state of one event loop (loop.h): set up empty, tables
 * rebuilt from the config, and what is left freed at the end.
 */
#include <string.h>

#include "pooler/client.h"
#include "pooler/loop.h"
#include "pooler/route.h"
#include "pooler/pool.h"
#include "pooler/schema.h"
#include "pooler/server.h"

void loop_init(struct loop_state *ls, struct ev_loop *ev, const struct config *cfg)
{
	memset(ls, 0, sizeof(*ls));
	ls->ev = ev;
	list_init(&ls->pools);
	list_init(&ls->endpoints);
	list_init(&ls->clients);
	list_init(&ls->login_clients);
	list_init(&ls->closing_clients);
	list_init(&ls->admin_clients);
	list_init(&ls->dead_clients);
	list_init(&ls->dead_servers);
	htab_init(&ls->ps_registry);
	htab_init(&ls->schemas);
	htab_init(&ls->paused_dbs);
	htab_init(&ls->disabled_dbs);
	loop_apply_config(ls, cfg);
}

void loop_apply_config(struct loop_state *ls, const struct config *cfg)
{
	client_relay_ops_build(&ls->client_session_ops, &ls->client_pooled_ops,
	                       cfg->max_packet_size);
	server_relay_ops_build(&ls->server_active_ops, cfg->max_packet_size);
}

void loop_release(struct loop_state *ls)
{
	while (!list_empty(&ls->pools))
		pool_free(list_entry(list_first(&ls->pools), struct pool, node));
	htab_release(&ls->ps_registry);
	schema_release_all(ls);
	htab_release(&ls->paused_dbs);
	htab_release(&ls->disabled_dbs);
	pool_free_autodbs(ls); /* every entry went with its last client and server */
	endpoint_free_all(&ls->endpoints);
	route_cache_release(); /* and the parser this loop used for it */
}
