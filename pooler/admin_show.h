/*
 * admin_show.h - the rows of the admin console's SHOW commands, read from
 * the counts the pooler keeps (pools, endpoints, the loop, the analysis
 * thread's query statistics). Column names, types and meanings follow
 * PgBouncer's where the command exists there. Event-loop thread only.
 */
#ifndef PGSCOPE_POOLER_ADMIN_SHOW_H
#define PGSCOPE_POOLER_ADMIN_SHOW_H

#include "pooler/admin.h"

struct loop_state;

/* Writes the columns, then the rows, of one SHOW command into r. */
typedef void (*admin_show_fn)(struct loop_state *ls, struct admin_result *r);

void admin_show_help(struct loop_state *ls, struct admin_result *r);
void admin_show_pools(struct loop_state *ls, struct admin_result *r);
void admin_show_stats(struct loop_state *ls, struct admin_result *r);
void admin_show_stats_totals(struct loop_state *ls, struct admin_result *r);
void admin_show_stats_averages(struct loop_state *ls, struct admin_result *r);
void admin_show_clients(struct loop_state *ls, struct admin_result *r);
void admin_show_servers(struct loop_state *ls, struct admin_result *r);
void admin_show_databases(struct loop_state *ls, struct admin_result *r);
void admin_show_users(struct loop_state *ls, struct admin_result *r);
void admin_show_config(struct loop_state *ls, struct admin_result *r);
void admin_show_lists(struct loop_state *ls, struct admin_result *r);
void admin_show_mem(struct loop_state *ls, struct admin_result *r);
void admin_show_dns_hosts(struct loop_state *ls, struct admin_result *r);
void admin_show_dns_zones(struct loop_state *ls, struct admin_result *r);
void admin_show_totals(struct loop_state *ls, struct admin_result *r);
void admin_show_sockets(struct loop_state *ls, struct admin_result *r);
void admin_show_active_sockets(struct loop_state *ls, struct admin_result *r);
void admin_show_state(struct loop_state *ls, struct admin_result *r);
void admin_show_version(struct loop_state *ls, struct admin_result *r);
void admin_show_queries(struct loop_state *ls, struct admin_result *r);
void admin_show_findings(struct loop_state *ls, struct admin_result *r);
void admin_show_endpoints(struct loop_state *ls, struct admin_result *r);

#endif
