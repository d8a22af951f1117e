/*
 * admin_show.c - the rows of the admin console's SHOW commands (see
 * admin_show.h). Each reads what the core already counts; nothing here
 * walks more than the lists a command shows.
 */
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <config.h> /* the build's, for PGSCOPE_VERSION */
#include "pooler/admin_show.h"
#include "pooler/http.h"
#include "pooler/loop.h"
#include "pooler/observe.h"
#include "pooler/pool.h"
#include "pooler/qstats.h"
#include "pooler/reload.h"
#include "pooler/replica.h"
#include "pooler/stats.h"
#include "pooler/tls.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define COLS(a)  (a), (int)COUNT(a)

/* A wall-clock time as PgBouncer shows it: "2024-01-31 12:00:00 UTC"; "" for 0. */
static void format_time(double t, char *out, size_t outlen)
{
	time_t secs = (time_t)t;
	struct tm tm;

	out[0] = 0;
	if (t <= 0 || gmtime_r(&secs, &tm) == NULL)
		return;
	strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void put_ptr(struct admin_result *r, const void *p)
{
	char buf[32] = "";

	if (p != NULL)
		snprintf(buf, sizeof(buf), "%p", p);
	admin_put_str(r, buf);
}

void admin_show_help(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {{"command", ADMIN_TEXT}};
	static const char *const lines[] = {
	    "SHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION|STATE",
	    "SHOW LISTS|MEM|DNS_HOSTS|DNS_ZONES|TOTALS|SOCKETS|ACTIVE_SOCKETS",
	    "SHOW STATS|STATS_TOTALS|STATS_AVERAGES",
	    "SHOW QUERIES|FINDINGS|ENDPOINTS",
	    "SHUTDOWN",
	    "KILL <db>",
	    "RECONNECT [<db>]",
	    "PAUSE [<db>]",
	    "RESUME [<db>]",
	    "RELOAD",
	    "ENABLE <db>",
	    "DISABLE <db>",
	    "WAIT_CLOSE [<db>]",
	    "not supported: SUSPEND, SET",
	};

	admin_result_columns(r, COLS(cols));
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		admin_row_begin(r);
		admin_put_str(r, lines[i]);
		admin_row_end(r);
	}
}

/* ---- pools ---- */

void admin_show_pools(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {
	    {"database", ADMIN_TEXT},
	    {"user", ADMIN_TEXT},
	    {"cl_active", ADMIN_INT4},
	    {"cl_waiting", ADMIN_INT4},
	    {"cl_active_cancel_req", ADMIN_INT4},
	    {"cl_waiting_cancel_req", ADMIN_INT4},
	    {"sv_active", ADMIN_INT4},
	    {"sv_active_cancel", ADMIN_INT4},
	    {"sv_being_canceled", ADMIN_INT4},
	    {"sv_idle", ADMIN_INT4},
	    {"sv_used", ADMIN_INT4},
	    {"sv_tested", ADMIN_INT4},
	    {"sv_login", ADMIN_INT4},
	    {"maxwait", ADMIN_INT4},
	    {"maxwait_us", ADMIN_INT4},
	    {"pool_mode", ADMIN_TEXT},
	};
	double now = ev_now(ls->ev);

	admin_result_columns(r, COLS(cols));
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);
		struct pool_total t;
		const int *cl = t.clients, *sv = t.servers;
		double wait;

		if (!pool_total(p, now, &t))
			continue; /* a replica pool: shown in its home pool's row */
		wait = t.max_wait;
		admin_row_begin(r);
		admin_put_str(r, p->db->name);
		admin_put_str(r, p->user);
		admin_put_int(r, cl[CL_ACTIVE] + cl[CL_IDLE]); /* logged in, not waiting */
		admin_put_int(r, cl[CL_WAITING] + cl[CL_LOGIN]);
		admin_put_int(r, 0);
		admin_put_int(r, 0);
		admin_put_int(r, sv[SV_ACTIVE] + sv[SV_LISTEN]);
		admin_put_int(r, 0);
		admin_put_int(r, sv[SV_CANCEL_WAIT]);
		admin_put_int(r, sv[SV_IDLE]);
		admin_put_int(r, 0);
		admin_put_int(r, sv[SV_INTERNAL]);
		admin_put_int(r, sv[SV_CONNECTING] + sv[SV_LOGIN]);
		admin_put_int(r, (long long)wait);
		admin_put_int(r, (long long)((wait - (double)(long long)wait) * 1e6));
		admin_put_str(r, config_pool_mode_name(p->mode));
		admin_row_end(r);
	}
}

/* ---- stats ---- */

static const struct admin_col stats_cols[] = {
    {"xact_count", ADMIN_NUMERIC},     {"query_count", ADMIN_NUMERIC},
    {"bytes_received", ADMIN_NUMERIC}, {"bytes_sent", ADMIN_NUMERIC},
    {"xact_time", ADMIN_NUMERIC},      {"query_time", ADMIN_NUMERIC},
    {"wait_time", ADMIN_NUMERIC},
};

static void put_totals(struct admin_result *r, const struct traffic_counts *t)
{
	admin_put_uint(r, t->transactions);
	admin_put_uint(r, t->queries);
	admin_put_uint(r, t->bytes_in);
	admin_put_uint(r, t->bytes_out);
	admin_put_uint(r, (uint64_t)(t->xact_time * 1e6));
	admin_put_uint(r, (uint64_t)(t->query_time * 1e6));
	admin_put_uint(r, (uint64_t)(t->wait_total * 1e6));
}

static void put_averages(struct admin_result *r, const struct stats_avg *a)
{
	admin_put_uint(r, (uint64_t)(a->xact_count + 0.5));
	admin_put_uint(r, (uint64_t)(a->query_count + 0.5));
	admin_put_uint(r, (uint64_t)a->bytes_in);
	admin_put_uint(r, (uint64_t)a->bytes_out);
	admin_put_uint(r, (uint64_t)a->xact_time_us);
	admin_put_uint(r, (uint64_t)a->query_time_us);
	admin_put_uint(r, (uint64_t)a->wait_time_us);
}

/* Columns "database" and PREFIX + each stats column, for SHOW STATS. */
static void stats_columns(struct admin_result *r, bool totals, bool averages)
{
	static const char *const avg_names[] = {
	    "avg_xact_count", "avg_query_count", "avg_recv",     "avg_sent",
	    "avg_xact_time",  "avg_query_time",  "avg_wait_time"};
	static const char *const total_names[] = {
	    "total_xact_count", "total_query_count", "total_received", "total_sent",
	    "total_xact_time",  "total_query_time",  "total_wait_time"};
	struct admin_col cols[16];
	int n = 0;

	cols[n++] = (struct admin_col){"database", ADMIN_TEXT};
	for (int i = 0; i < 7; i++)
		cols[n++] = (struct admin_col){
		    totals && averages ? total_names[i] : stats_cols[i].name, ADMIN_NUMERIC};
	for (int i = 0; totals && averages && i < 7; i++)
		cols[n++] = (struct admin_col){avg_names[i], ADMIN_NUMERIC};
	/*
	 * PgBouncer before 1.8 called the statement count total_requests; exporters
	 * written then (Debian 12's prometheus-pgbouncer-exporter among them) still
	 * read it, and readers by column name ignore a column they do not know.
	 */
	if (totals && averages)
		cols[n++] = (struct admin_col){"total_requests", ADMIN_NUMERIC};
	admin_result_columns(r, cols, n);
}

static void show_stats(struct loop_state *ls, struct admin_result *r, bool totals, bool averages)
{
	const char *names[STATS_DB_MAX];
	size_t n = stats_databases(ls, names, STATS_DB_MAX);

	stats_columns(r, totals, averages);
	for (size_t i = 0; i < n; i++) {
		struct traffic_counts t;
		struct stats_avg a;

		stats_db_totals(ls, names[i], &t);
		stats_db_averages(ls, names[i], &a);
		admin_row_begin(r);
		admin_put_str(r, names[i]);
		if (totals)
			put_totals(r, &t);
		if (averages)
			put_averages(r, &a);
		if (totals && averages)
			admin_put_uint(r, t.queries);
		admin_row_end(r);
	}
}

void admin_show_stats(struct loop_state *ls, struct admin_result *r)
{
	show_stats(ls, r, true, true);
}

void admin_show_stats_totals(struct loop_state *ls, struct admin_result *r)
{
	show_stats(ls, r, true, false);
}

void admin_show_stats_averages(struct loop_state *ls, struct admin_result *r)
{
	show_stats(ls, r, false, true);
}

/* ---- clients and servers ---- */

static const struct admin_col conn_cols[] = {
    {"type", ADMIN_TEXT},         {"user", ADMIN_TEXT},       {"database", ADMIN_TEXT},
    {"state", ADMIN_TEXT},        {"addr", ADMIN_TEXT},       {"port", ADMIN_INT4},
    {"local_addr", ADMIN_TEXT},   {"local_port", ADMIN_INT4}, {"connect_time", ADMIN_TEXT},
    {"request_time", ADMIN_TEXT}, {"wait", ADMIN_INT4},       {"wait_us", ADMIN_INT4},
    {"close_needed", ADMIN_INT4}, {"ptr", ADMIN_TEXT},        {"link", ADMIN_TEXT},
    {"remote_pid", ADMIN_INT4},   {"tls", ADMIN_TEXT},        {"application_name", ADMIN_TEXT},
};

/* "host:port" as the pooler logs a peer: the host and the port apart ("unix", 0). */
static void put_addr(struct admin_result *r, const char *addr)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	size_t n = colon != NULL ? (size_t)(colon - addr) : strlen(addr);

	if (n >= sizeof(host))
		n = sizeof(host) - 1;
	memcpy(host, addr, n);
	host[n] = 0;
	admin_put_str(r, host);
	admin_put_int(r, colon != NULL ? atoi(colon + 1) : 0);
}

/* The socket's own address and port (getsockname), "unix" for a Unix socket. */
static void put_local(struct admin_result *r, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "unix";
	int port = 0;

	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
			port = ntohs(in->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
			port = ntohs(in6->sin6_port);
		}
	}
	admin_put_str(r, host);
	admin_put_int(r, port);
}

static void put_times(struct admin_result *r, double created, double last)
{
	char buf[40];

	format_time(created, buf, sizeof(buf));
	admin_put_str(r, buf);
	format_time(last, buf, sizeof(buf));
	admin_put_str(r, buf);
}

static void put_wait(struct admin_result *r, double wait)
{
	admin_put_int(r, (long long)wait);
	admin_put_int(r, (long long)((wait - (double)(long long)wait) * 1e6));
}

/* PgBouncer's name for a client's state; NULL for clients it would not list. */
static const char *client_show_state(enum client_state st)
{
	switch (st) {
	case CL_ACTIVE:
	case CL_IDLE:
	case CL_ADMIN:
		return "active";
	case CL_WAITING:
	case CL_LOGIN:
		return "waiting";
	default:
		return NULL;
	}
}

/*
 * SHOW SOCKETS' buffer columns, from pgscope's buffers: bytes received and
 * not yet processed (recv_pos, pkt_avail), bytes of the message being
 * streamed still to come (pkt_remain), bytes waiting to be sent
 * (send_remain). pgscope's buffers begin at the first unprocessed byte, so
 * pkt_pos, send_pos and send_avail are 0.
 */
static const struct admin_col socket_cols[] = {
    {"recv_pos", ADMIN_INT4},   {"pkt_pos", ADMIN_INT4},     {"pkt_remain", ADMIN_INT4},
    {"send_pos", ADMIN_INT4},   {"send_remain", ADMIN_INT4}, {"pkt_avail", ADMIN_INT4},
    {"send_avail", ADMIN_INT4},
};

static void put_buffers(struct admin_result *r, const struct conn *cn)
{
	long long in = (long long)pbuf_len(&cn->in), out = (long long)pbuf_len(&cn->out);

	admin_put_int(r, in);
	admin_put_int(r, 0);
	admin_put_int(r, cn->pass_left);
	admin_put_int(r, 0);
	admin_put_int(r, out);
	admin_put_int(r, in);
	admin_put_int(r, 0);
}

/* The tls column: protocol and cipher, empty without TLS. */
static void put_tls(struct admin_result *r, const struct conn *cn)
{
	char desc[128] = "";

	tls_describe(cn, desc, sizeof(desc));
	admin_put_str(r, desc);
}

/* True when a connection holds bytes in either buffer or is mid-message (SHOW ACTIVE_SOCKETS). */
static bool conn_busy(const struct conn *cn)
{
	return pbuf_len(&cn->in) > 0 || pbuf_len(&cn->out) > 0 || cn->pass_left > 0;
}

/* Which rows and columns a connection listing shows. */
enum conn_listing {
	LIST_PLAIN,   /* SHOW CLIENTS / SERVERS */
	LIST_SOCKETS, /* SHOW SOCKETS: with the buffer columns */
	LIST_ACTIVE,  /* SHOW ACTIVE_SOCKETS: the same, busy connections only */
};

static void conn_listing_columns(struct admin_result *r, enum conn_listing how)
{
	struct admin_col cols[COUNT(conn_cols) + COUNT(socket_cols)];
	size_t n = 0;

	for (size_t i = 0; i < COUNT(conn_cols); i++)
		cols[n++] = conn_cols[i];
	for (size_t i = 0; how != LIST_PLAIN && i < COUNT(socket_cols); i++)
		cols[n++] = socket_cols[i];
	admin_result_columns(r, cols, (int)n);
}

static void client_row(struct admin_result *r, const struct client *c, double now,
                       enum conn_listing how)
{
	const char *state = client_show_state(c->state);
	const char *app = params_get(&c->params, "application_name");
	bool waiting = c->state == CL_WAITING || c->state == CL_LOGIN;

	if (state == NULL || (how == LIST_ACTIVE && !conn_busy(&c->conn)))
		return;
	admin_row_begin(r);
	admin_put_str(r, "C");
	admin_put_str(r, c->user);
	admin_put_str(r, c->database);
	admin_put_str(r, state);
	put_addr(r, c->addr);
	put_local(r, c->conn.fd);
	put_times(r, c->created, c->last_active);
	put_wait(r, waiting ? now - c->wait_since : 0);
	admin_put_int(r, 0);
	put_ptr(r, c);
	put_ptr(r, c->server);
	admin_put_int(r, 0);
	put_tls(r, &c->conn);
	admin_put_str(r, app != NULL ? app : "");
	if (how != LIST_PLAIN)
		put_buffers(r, &c->conn);
	admin_row_end(r);
}

static void client_rows(struct loop_state *ls, struct admin_result *r, enum conn_listing how)
{
	double now = ev_now(ls->ev);

	for (struct list *it = ls->clients.next; it != &ls->clients; it = it->next)
		client_row(r, list_entry(it, struct client, all), now, how);
}

void admin_show_clients(struct loop_state *ls, struct admin_result *r)
{
	conn_listing_columns(r, LIST_PLAIN);
	client_rows(ls, r, LIST_PLAIN);
}

/* PgBouncer's name for a server's state. */
static const char *server_show_state(enum server_state st)
{
	switch (st) {
	case SV_ACTIVE:
	case SV_LISTEN:
		return "active";
	case SV_IDLE:
		return "idle";
	case SV_INTERNAL:
		return "tested";
	case SV_CANCEL_WAIT:
		return "being_canceled";
	case SV_CONNECTING:
	case SV_LOGIN:
		return "new";
	default:
		return "closing";
	}
}

static void server_row(struct admin_result *r, const struct server *sv, enum conn_listing how)
{
	const char *app = params_get(&sv->params, "application_name");

	if (how == LIST_ACTIVE && !conn_busy(&sv->conn))
		return;
	admin_row_begin(r);
	admin_put_str(r, "S");
	admin_put_str(r, sv->pool->user);
	admin_put_str(r, sv->pool->db->name);
	admin_put_str(r, server_show_state(sv->state));
	admin_put_str(r, sv->endpoint->host);
	admin_put_int(r, sv->endpoint->port);
	put_local(r, sv->conn.fd);
	put_times(r, sv->created, sv->last_used);
	put_wait(r, 0);
	admin_put_int(r, sv->dirty ? 1 : 0);
	put_ptr(r, sv);
	put_ptr(r, sv->client);
	admin_put_int(r, (long long)sv->backend_pid);
	put_tls(r, &sv->conn);
	admin_put_str(r, app != NULL ? app : "");
	if (how != LIST_PLAIN)
		put_buffers(r, &sv->conn);
	admin_row_end(r);
}

static void server_list_rows(struct admin_result *r, const struct list *head, enum conn_listing how)
{
	for (const struct list *it = head->next; it != head; it = it->next)
		server_row(r, list_entry(it, struct server, node), how);
}

static void server_rows(struct loop_state *ls, struct admin_result *r, enum conn_listing how)
{
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		server_list_rows(r, &p->active_servers, how);
		server_list_rows(r, &p->idle_servers, how);
		server_list_rows(r, &p->login_servers,
		                 how); /* the listening connection is an active one */
	}
}

void admin_show_servers(struct loop_state *ls, struct admin_result *r)
{
	conn_listing_columns(r, LIST_PLAIN);
	server_rows(ls, r, LIST_PLAIN);
}

void admin_show_sockets(struct loop_state *ls, struct admin_result *r)
{
	conn_listing_columns(r, LIST_SOCKETS);
	client_rows(ls, r, LIST_SOCKETS);
	server_rows(ls, r, LIST_SOCKETS);
}

void admin_show_active_sockets(struct loop_state *ls, struct admin_result *r)
{
	conn_listing_columns(r, LIST_ACTIVE);
	client_rows(ls, r, LIST_ACTIVE);
	server_rows(ls, r, LIST_ACTIVE);
}

/* ---- databases, users, config ---- */

static int db_current_connections(struct loop_state *ls, const struct db_config *db)
{
	int n = 0;

	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		if (strcmp(p->db->name, db->name) == 0)
			n += p->n_servers;
	}
	return n;
}

static int or_default(int v, int def)
{
	return v >= 0 ? v : def;
}

static void database_row(struct loop_state *ls, struct admin_result *r, const struct db_config *db)
{
	const struct config *cfg = pooler.cfg;

	admin_row_begin(r);
	admin_put_str(r, db->name);
	admin_put_str(r, db->host != NULL ? db->host : "");
	admin_put_int(r, db->port);
	admin_put_str(r, db->dbname != NULL ? db->dbname : db->name);
	admin_put_str(r, db->user != NULL ? db->user : "");
	admin_put_int(r, or_default(db->pool_size, cfg->default_pool_size));
	admin_put_int(r, or_default(db->min_pool_size, cfg->min_pool_size));
	admin_put_int(r, or_default(db->reserve_pool, cfg->reserve_pool_size));
	admin_put_str(r,
	              db->pool_mode != POOL_MODE_UNSET ? config_pool_mode_name(db->pool_mode) : "");
	admin_put_int(r, or_default(db->max_db_connections, cfg->max_db_connections));
	admin_put_int(r, db_current_connections(ls, db));
	admin_put_int(r, pool_db_paused(ls, db->name) ? 1 : 0);
	admin_put_int(r, pool_db_disabled(ls, db->name) ? 1 : 0);
	admin_row_end(r);
}

void admin_show_databases(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {
	    {"name", ADMIN_TEXT},
	    {"host", ADMIN_TEXT},
	    {"port", ADMIN_INT4},
	    {"database", ADMIN_TEXT},
	    {"force_user", ADMIN_TEXT},
	    {"pool_size", ADMIN_INT4},
	    {"min_pool_size", ADMIN_INT4},
	    {"reserve_pool", ADMIN_INT4},
	    {"pool_mode", ADMIN_TEXT},
	    {"max_connections", ADMIN_INT4},
	    {"current_connections", ADMIN_INT4},
	    {"paused", ADMIN_INT4},
	    {"disabled", ADMIN_INT4},
	};
	const struct config *cfg = pooler.cfg;

	admin_result_columns(r, COLS(cols));
	for (size_t i = 0; i < cfg->n_dbs; i++)
		if (strcmp(cfg->dbs[i].name, "*") != 0)
			database_row(ls, r, &cfg->dbs[i]);
	for (size_t i = 0; i < ls->n_autodbs; i++)
		database_row(ls, r, ls->autodbs[i]);
}

void admin_show_users(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {{"name", ADMIN_TEXT}, {"pool_mode", ADMIN_TEXT}};
	const struct config *cfg = pooler.cfg;

	admin_result_columns(r, COLS(cols));
	for (size_t i = 0; i < cfg->n_users; i++) {
		admin_row_begin(r);
		admin_put_str(r, cfg->users[i].name);
		admin_put_str(r, cfg->users[i].pool_mode != POOL_MODE_UNSET
		                     ? config_pool_mode_name(cfg->users[i].pool_mode)
		                     : "");
		admin_row_end(r);
	}
	/* Users with a pool and no [users] entry, each once. */
	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);
		bool seen = config_find_user(cfg, p->user) != NULL;

		for (struct list *jt = ls->pools.next; jt != it && !seen; jt = jt->next)
			seen = strcmp(list_entry(jt, struct pool, node)->user, p->user) == 0;
		if (seen)
			continue;
		admin_row_begin(r);
		admin_put_str(r, p->user);
		admin_put_str(r, "");
		admin_row_end(r);
	}
}

void admin_show_config(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {{"key", ADMIN_TEXT},
	                                        {"value", ADMIN_TEXT},
	                                        {"default", ADMIN_TEXT},
	                                        {"changeable", ADMIN_TEXT}};
	struct config def;

	admin_result_columns(r, COLS(cols));
	config_init_defaults(&def);
	for (size_t i = 0; i < config_key_count(); i++) {
		char value[512], dvalue[512];
		const char *key = config_key_describe(pooler.cfg, i, value, sizeof(value));

		config_key_describe(&def, i, dvalue, sizeof(dvalue));
		admin_row_begin(r);
		admin_put_str(r, key);
		admin_put_str(r, value);
		admin_put_str(r, dvalue);
		admin_put_str(r, reload_key_changeable(key) ? "yes" : "no");
		admin_row_end(r);
	}
	config_free(&def);
}

/* ---- lists, memory, dns, state, version ---- */

static void name_count_row(struct admin_result *r, const char *name, long long n)
{
	admin_row_begin(r);
	admin_put_str(r, name);
	admin_put_int(r, n);
	admin_row_end(r);
}

static int count_list(const struct list *head)
{
	int n = 0;

	for (const struct list *it = head->next; it != head; it = it->next)
		n++;
	return n;
}

void admin_show_lists(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {{"list", ADMIN_TEXT}, {"items", ADMIN_INT4}};
	int servers = 0;
	int users = (int)pooler.cfg->n_users;

	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next)
		servers += list_entry(it, struct pool, node)->n_servers;
	admin_result_columns(r, COLS(cols));
	name_count_row(r, "databases", (long long)pooler.cfg->n_dbs + (long long)ls->n_autodbs);
	name_count_row(r, "users", users);
	name_count_row(r, "pools", count_list(&ls->pools));
	name_count_row(r, "free_clients", 0);
	name_count_row(r, "used_clients", ls->n_clients);
	name_count_row(r, "login_clients", count_list(&ls->login_clients));
	name_count_row(r, "free_servers", 0);
	name_count_row(r, "used_servers", servers);
	name_count_row(r, "dns_names", 0);
	name_count_row(r, "dns_zones", 0);
	name_count_row(r, "dns_queries", 0);
	name_count_row(r, "dns_pending", 0);
}

static void mem_row(struct admin_result *r, const char *name, size_t size, long long used)
{
	admin_row_begin(r);
	admin_put_str(r, name);
	admin_put_int(r, (long long)size);
	admin_put_int(r, used);
	admin_put_int(r, 0); /* no free lists: objects are allocated and freed as needed */
	admin_put_int(r, (long long)size * used);
	admin_row_end(r);
}

void admin_show_mem(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {{"name", ADMIN_TEXT},
	                                        {"size", ADMIN_INT4},
	                                        {"used", ADMIN_INT4},
	                                        {"free", ADMIN_INT4},
	                                        {"memtotal", ADMIN_INT4}};
	int servers = 0;

	for (struct list *it = ls->pools.next; it != &ls->pools; it = it->next)
		servers += list_entry(it, struct pool, node)->n_servers;
	admin_result_columns(r, COLS(cols));
	mem_row(r, "client_cache", sizeof(struct client), ls->n_clients);
	mem_row(r, "server_cache", sizeof(struct server), servers);
	mem_row(r, "pool_cache", sizeof(struct pool), count_list(&ls->pools));
}

void admin_show_dns_hosts(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {
	    {"hostname", ADMIN_TEXT}, {"ttl", ADMIN_INT8}, {"addrs", ADMIN_TEXT}};

	/* Server names are resolved at each connect; no cache to show. */
	admin_result_columns(r, COLS(cols));
}

void admin_show_dns_zones(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {
	    {"zonename", ADMIN_TEXT}, {"serial", ADMIN_INT8}, {"count", ADMIN_INT4}};

	/* No DNS cache, so no zones. */
	admin_result_columns(r, COLS(cols));
}

static void total_row(struct admin_result *r, const char *name, uint64_t value)
{
	admin_row_begin(r);
	admin_put_str(r, name);
	admin_put_uint(r, value);
	admin_row_end(r);
}

/* SHOW STATS summed over every database, one name and value a row. */
void admin_show_totals(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {{"name", ADMIN_TEXT}, {"value", ADMIN_NUMERIC}};
	const char *names[STATS_DB_MAX];
	size_t n = stats_databases(ls, names, STATS_DB_MAX);
	struct traffic_counts sum = {0};
	struct stats_avg avg = {0};

	for (size_t i = 0; i < n; i++) {
		struct traffic_counts t;
		struct stats_avg a;

		stats_db_totals(ls, names[i], &t);
		stats_db_averages(ls, names[i], &a);
		sum.transactions += t.transactions;
		sum.queries += t.queries;
		sum.bytes_in += t.bytes_in;
		sum.bytes_out += t.bytes_out;
		sum.xact_time += t.xact_time;
		sum.query_time += t.query_time;
		sum.wait_total += t.wait_total;
		avg.xact_count += a.xact_count;
		avg.query_count += a.query_count;
		avg.bytes_in += a.bytes_in;
		avg.bytes_out += a.bytes_out;
		/* Times per transaction, statement or wait: weighted by their counts. */
		avg.xact_time_us += a.xact_time_us * a.xact_count;
		avg.query_time_us += a.query_time_us * a.query_count;
		avg.wait_time_us += a.wait_time_us * a.xact_count;
	}
	admin_result_columns(r, COLS(cols));
	total_row(r, "total_xact_count", sum.transactions);
	total_row(r, "total_query_count", sum.queries);
	total_row(r, "total_client_bytes", sum.bytes_in);
	total_row(r, "total_server_bytes", sum.bytes_out);
	total_row(r, "total_xact_time", (uint64_t)(sum.xact_time * 1e6));
	total_row(r, "total_query_time", (uint64_t)(sum.query_time * 1e6));
	total_row(r, "total_wait_time", (uint64_t)(sum.wait_total * 1e6));
	total_row(r, "avg_xact_count", (uint64_t)(avg.xact_count + 0.5));
	total_row(r, "avg_query_count", (uint64_t)(avg.query_count + 0.5));
	total_row(r, "avg_client_bytes", (uint64_t)avg.bytes_in);
	total_row(r, "avg_server_bytes", (uint64_t)avg.bytes_out);
	total_row(r, "avg_xact_time",
	          avg.xact_count > 0 ? (uint64_t)(avg.xact_time_us / avg.xact_count) : 0);
	total_row(r, "avg_query_time",
	          avg.query_count > 0 ? (uint64_t)(avg.query_time_us / avg.query_count) : 0);
	total_row(r, "avg_wait_time",
	          avg.xact_count > 0 ? (uint64_t)(avg.wait_time_us / avg.xact_count) : 0);
}

void admin_show_state(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {{"key", ADMIN_TEXT}, {"value", ADMIN_TEXT}};

	admin_result_columns(r, COLS(cols));
	admin_row_begin(r);
	admin_put_str(r, "active");
	admin_put_str(r, pooler.shutting_down ? "no" : "yes");
	admin_row_end(r);
	admin_row_begin(r);
	admin_put_str(r, "paused");
	admin_put_str(r, ls->pause_all ? "yes" : "no");
	admin_row_end(r);
	admin_row_begin(r);
	admin_put_str(r, "suspended");
	admin_put_str(r, "no");
	admin_row_end(r);
}

void admin_show_version(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {{"version", ADMIN_TEXT}};

	admin_result_columns(r, COLS(cols));
	admin_row_begin(r);
	/* Tools read PgBouncer's version from here: name the protocol level served too. */
	admin_put_str(r, "pgscope " PGSCOPE_VERSION " (PgBouncer 1.18.0 compatible)");
	admin_row_end(r);
}

/* ---- pgscope's own: queries, findings, endpoints ---- */

#define SHOW_QUERIES_MAX 100 /* rows of SHOW QUERIES */

void admin_show_queries(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {
	    {"fingerprint", ADMIN_TEXT}, {"calls", ADMIN_NUMERIC},
	    {"total_ms", ADMIN_NUMERIC}, {"mean_ms", ADMIN_NUMERIC},
	    {"p50_ms", ADMIN_NUMERIC},   {"p95_ms", ADMIN_NUMERIC},
	    {"p99_ms", ADMIN_NUMERIC},   {"rows", ADMIN_NUMERIC},
	    {"errors", ADMIN_NUMERIC},   {"replica_share", ADMIN_NUMERIC},
	    {"rules", ADMIN_TEXT},       {"query", ADMIN_TEXT},
	};
	struct qstats_entry *q = calloc(SHOW_QUERIES_MAX, sizeof(*q));
	size_t n = q != NULL ? qstats_top(q, SHOW_QUERIES_MAX) : 0;

	admin_result_columns(r, COLS(cols));
	for (size_t i = 0; i < n; i++) {
		char fp[17], rules[2 * QSTATS_RULES_MAX];

		snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)q[i].fingerprint);
		snprintf(rules, sizeof(rules), "%s%s%s", q[i].rules,
		         q[i].rules[0] && q[i].traffic[0] ? "," : "", q[i].traffic);
		admin_row_begin(r);
		admin_put_str(r, fp);
		admin_put_uint(r, q[i].calls);
		admin_put_double(r, q[i].total_us / 1000.0, 3);
		admin_put_double(r, q[i].total_us / 1000.0 / (double)q[i].calls, 3);
		admin_put_double(r, qstats_quantile(q[i].hist, 0.50) / 1000.0, 3);
		admin_put_double(r, qstats_quantile(q[i].hist, 0.95) / 1000.0, 3);
		admin_put_double(r, qstats_quantile(q[i].hist, 0.99) / 1000.0, 3);
		admin_put_int(r, q[i].rows);
		admin_put_uint(r, q[i].errors);
		admin_put_double(r, (double)q[i].replica_calls / (double)q[i].calls, 3);
		admin_put_str(r, rules);
		admin_put_str(r, q[i].query);
		admin_row_end(r);
	}
	free(q);
}

/* One row per rule of a comma-separated LIST that flagged entry Q. */
static void finding_rows(struct loop_state *ls, struct admin_result *r,
                         const struct qstats_entry *q, const char *list, const char *kind)
{
	char copy[QSTATS_RULES_MAX], fp[17];
	char *save = NULL;

	snprintf(copy, sizeof(copy), "%s", list);
	snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)q->fingerprint);
	for (char *rule = strtok_r(copy, ",", &save); rule; rule = strtok_r(NULL, ",", &save)) {
		if (http_reviewed(ls, q->fingerprint, rule))
			continue; /* marked reviewed on the page */
		admin_row_begin(r);
		admin_put_str(r, rule);
		admin_put_str(r, kind);
		admin_put_str(r, fp);
		admin_put_uint(r, q->calls);
		admin_put_double(r, q->total_us / 1000.0, 3);
		admin_put_double(r, qstats_quantile(q->hist, 0.95) / 1000.0, 3);
		admin_put_str(r, q->query);
		admin_put_str(r, qstats_fix_of(q, rule));
		admin_row_end(r);
	}
}

void admin_show_findings(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {
	    {"rule", ADMIN_TEXT},     {"kind", ADMIN_TEXT},        {"fingerprint", ADMIN_TEXT},
	    {"calls", ADMIN_NUMERIC}, {"total_ms", ADMIN_NUMERIC}, {"p95_ms", ADMIN_NUMERIC},
	    {"query", ADMIN_TEXT},    {"fix", ADMIN_TEXT},
	};
	struct qstats_entry *q = calloc(QSTATS_MAX, sizeof(*q));
	size_t n = q != NULL ? qstats_top(q, QSTATS_MAX) : 0;

	/* Ranked by time at stake: the fingerprints come most total time first. */
	admin_result_columns(r, COLS(cols));
	for (size_t i = 0; i < n; i++) {
		finding_rows(ls, r, &q[i], q[i].rules, "query");
		finding_rows(ls, r, &q[i], q[i].traffic, "traffic");
	}
	free(q);
}

static const char *role_name(enum endpoint_role role)
{
	return role == ENDPOINT_PRIMARY ? "primary" : "replica";
}

void admin_show_endpoints(struct loop_state *ls, struct admin_result *r)
{
	static const struct admin_col cols[] = {
	    {"host", ADMIN_TEXT},          {"port", ADMIN_INT4},
	    {"role", ADMIN_TEXT},          {"servers_opening", ADMIN_INT4},
	    {"servers_idle", ADMIN_INT4},  {"servers_busy", ADMIN_INT4},
	    {"connects", ADMIN_NUMERIC},   {"logins", ADMIN_NUMERIC},
	    {"xact_count", ADMIN_NUMERIC}, {"query_count", ADMIN_NUMERIC},
	    {"failures", ADMIN_NUMERIC},   {"consecutive_failures", ADMIN_INT4},
	    {"last_failure", ADMIN_TEXT},  {"last_success", ADMIN_TEXT},
	    {"last_error", ADMIN_TEXT},    {"breaker", ADMIN_TEXT},
	    {"routed", ADMIN_NUMERIC},     {"routed_fallback", ADMIN_NUMERIC},
	    {"lag_skips", ADMIN_NUMERIC},  {"replica_lag_ms", ADMIN_INT4},
	};
	double now = ev_now(ls->ev);

	admin_result_columns(r, COLS(cols));
	for (struct list *it = ls->endpoints.next; it != &ls->endpoints; it = it->next) {
		const struct endpoint *ep = list_entry(it, struct endpoint, node);
		char failed[40], ok[40];

		format_time(ep->last_failure, failed, sizeof(failed));
		format_time(ep->last_success, ok, sizeof(ok));
		admin_row_begin(r);
		admin_put_str(r, ep->host);
		admin_put_int(r, ep->port);
		admin_put_str(r, role_name(ep->role));
		admin_put_int(r, ep->servers_opening);
		admin_put_int(r, ep->servers_idle);
		admin_put_int(r, ep->servers_busy);
		admin_put_uint(r, ep->connects);
		admin_put_uint(r, ep->logins);
		admin_put_uint(r, ep->traffic.transactions);
		admin_put_uint(r, ep->traffic.queries);
		admin_put_uint(r, endpoint_failures_total(ep));
		admin_put_int(r, ep->consecutive_failures);
		admin_put_str(r, failed);
		admin_put_str(r, ok);
		admin_put_str(r, ep->last_error);
		admin_put_str(r, endpoint_breaker_state_name(ep->breaker.state));
		admin_put_uint(r, ep->routed);
		admin_put_uint(r, ep->routed_fallback);
		admin_put_uint(r, ep->lag_skips);
		if (ep->role == ENDPOINT_REPLICA && replica_fresh(ep, now))
			admin_put_int(r, (long long)(ep->lag * 1000));
		else
			admin_put_str(r, NULL); /* unknown, or a primary */
		admin_row_end(r);
	}
}
