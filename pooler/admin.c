/*
 * admin.c - the admin console's protocol and commands (see admin.h): who may
 * log in, the simple and extended query messages of a console session, and
 * the one dispatch table from a command to what answers it. The SHOW
 * commands' rows are built in admin_show.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <config.h> /* the build's, for PGSCOPE_VERSION */
#include "pooler/admin.h"
#include "pooler/admin_show.h"
#include "pooler/client.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/pool.h"
#include "pooler/proto.h"
#include "pooler/server.h"

#define SQLSTATE_SYNTAX_ERROR      "42601"
#define SQLSTATE_INSUFFICIENT_PRIV "42501"
#define SQLSTATE_NO_SUCH_STATEMENT "26000"
#define SQLSTATE_NO_SUCH_PORTAL    "34000"
#define SQLSTATE_PROGRAM_LIMIT     "54000"
#define ADMIN_SQL_MAX              256  /* longest command text kept for a statement */
#define ADMIN_SLOTS                8    /* prepared statements (and portals) per session */
#define ADMIN_WAIT_CHECK           0.05 /* seconds between checks of a waiting command */

/* A prepared statement or a portal of a console session: its name and command. */
struct admin_slot {
	bool used;
	char name[NAME_MAX_LEN];
	char sql[ADMIN_SQL_MAX];
};

/*
 * A command whose answer waits until the pooler reaches a state: PAUSE until
 * the pools are paused, WAIT_CLOSE until RECONNECT's servers are closed, as
 * scripts expect of PgBouncer. The session reads nothing more meanwhile.
 */
struct admin_wait {
	bool active;
	bool (*done)(const struct loop_state *ls, const char *db); /* db "" for every database */
	char db[NAME_MAX_LEN];
	const char *tag;  /* its CommandComplete */
	bool simple;      /* a simple Query: ReadyForQuery follows */
	ev_timer timer;   /* checks done() every ADMIN_WAIT_CHECK */
	struct client *c; /* the session's client, for the timer */
};

/* The console side of a client (c->admin), owned by the client. */
struct admin_session {
	enum admin_role role;
	struct admin_wait wait;
	bool ext_failed;     /* an extended-protocol error: skip to the next Sync */
	bool shutdown_asked; /* SHUTDOWN ran: stop once its answer is queued */
	bool paused; /* answers queued past the high-water mark: input waits (admin_resume) */
	struct admin_slot stmts[ADMIN_SLOTS];
	struct admin_slot portals[ADMIN_SLOTS];
};

/* Why a command failed, for its ErrorResponse. */
struct admin_error {
	const char *sqlstate;
	char message[256];
};

static bool admin_fail(struct admin_error *err, const char *sqlstate, const char *fmt,
                       const char *arg)
{
	err->sqlstate = sqlstate;
	snprintf(err->message, sizeof(err->message), fmt, arg);
	return false;
}

/* ---- who may log in ---- */

bool admin_is_console_db(const char *dbname)
{
	return strcmp(dbname, "pgscope") == 0 || strcmp(dbname, "pgbouncer") == 0;
}

enum admin_role admin_role_of(const struct config *cfg, const char *user)
{
	if (config_list_has(cfg->admin_users, user))
		return ADMIN_ROLE_ADMIN;
	if (config_list_has(cfg->stats_users, user))
		return ADMIN_ROLE_STATS;
	return ADMIN_ROLE_NONE;
}

bool admin_client_start(struct client *c)
{
	enum admin_role role = admin_role_of(pooler.cfg, c->user);

	if (role == ADMIN_ROLE_NONE) {
		client_fail(c, SQLSTATE_INVALID_AUTH_SPEC, "not allowed");
		return false;
	}
	c->admin = calloc(1, sizeof(*c->admin));
	if (c->admin == NULL) {
		client_fail(c, SQLSTATE_INTERNAL_ERROR, "out of memory");
		return false;
	}
	c->admin->role = role;
	return true;
}

void admin_login(struct client *c)
{
	struct pbuf *out = &c->conn.out;

	proto_write_auth(out, PROTO_AUTH_OK, NULL, 0);
	/* What psql and drivers look for; the console has no server to take them from. */
	proto_write_param_status(out, "server_version", "15.0 (pgscope " PGSCOPE_VERSION ")");
	proto_write_param_status(out, "server_encoding", "UTF8");
	proto_write_param_status(out, "client_encoding", "UTF8");
	proto_write_param_status(out, "DateStyle", "ISO, MDY");
	proto_write_param_status(out, "integer_datetimes", "on");
	proto_write_param_status(out, "standard_conforming_strings", "on");
	proto_write_param_status(out, "application_name",
	                         params_get(&c->params, "application_name")
	                             ? params_get(&c->params, "application_name")
	                             : "");
	proto_write_backend_key(out, c->cancel_pid, c->cancel_key);
	proto_write_ready(out, 'I');
	if (pooler.cfg->log_connections)
		log_event(LOG_INFO, "client.login", LOG_INT, "client", (long long)c->id, LOG_STR,
		          "addr", c->addr, LOG_STR, "user", c->user, LOG_STR, "db", c->database,
		          LOG_STR, "console",
		          c->admin->role == ADMIN_ROLE_ADMIN ? "admin" : "stats", LOG_END);
	client_set_state(c, CL_ADMIN);
	if (!client_flush(c))
		return;
	conn_start_read(&c->conn);
	if (pbuf_len(&c->conn.in) > 0)
		admin_input(c);
}

void admin_resume(struct client *c)
{
	if (c->admin == NULL || !c->admin->paused || pbuf_len(&c->conn.out) >= CONN_LOW_WATER)
		return;
	c->admin->paused = false;
	conn_start_read(&c->conn);
	admin_input(c);
}

void admin_release(struct client *c)
{
	if (c->admin != NULL && c->admin->wait.active)
		ev_timer_stop(c->loop->ev, &c->admin->wait.timer);
	free(c->admin);
	c->admin = NULL;
}

void admin_end_all(struct loop_state *ls)
{
	while (!list_empty(&ls->admin_clients))
		client_fail(list_entry(list_first(&ls->admin_clients), struct client, node),
		            SQLSTATE_ADMIN_SHUTDOWN, POOLER_SHUTDOWN_MESSAGE);
}

/* ---- parsing ---- */

/* Copy the next word of *s into out (at most size-1 bytes); false when too long. */
static bool next_word(const char **s, char *out, size_t size)
{
	const char *p = *s;
	size_t n = 0;

	while (*p != 0 && isspace((unsigned char)*p))
		p++;
	while (*p != 0 && !isspace((unsigned char)*p)) {
		if (n + 1 >= size)
			return false;
		out[n++] = *p++;
	}
	out[n] = 0;
	*s = p;
	return true;
}

static void upper(char *s)
{
	for (; *s; s++)
		*s = (char)toupper((unsigned char)*s);
}

/* A word in double quotes loses them: KILL "MyDb". */
static void unquote(char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		memmove(s, s + 1, n - 2);
		s[n - 2] = 0;
	}
}

bool admin_parse(const char *sql, struct admin_parsed *out)
{
	char text[ADMIN_SQL_MAX];
	char extra[ADMIN_WORD_MAX];
	const char *p = text;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (strlen(sql) >= sizeof(text))
		return false;
	snprintf(text, sizeof(text), "%s", sql);
	n = strlen(text);
	while (n > 0 && (isspace((unsigned char)text[n - 1]) || text[n - 1] == ';'))
		text[--n] = 0;
	if (!next_word(&p, out->verb, sizeof(out->verb)) || out->verb[0] == 0)
		return false;
	upper(out->verb);
	if (strcmp(out->verb, "SET") == 0) {
		/* SET key = value: the rest, as written, for the message. */
		while (*p != 0 && isspace((unsigned char)*p))
			p++;
		snprintf(out->arg, sizeof(out->arg), "%s", p);
		return true;
	}
	if (strcmp(out->verb, "SHOW") == 0) {
		if (!next_word(&p, out->subject, sizeof(out->subject)) || out->subject[0] == 0)
			return false;
		upper(out->subject);
	} else if (!next_word(&p, out->arg, sizeof(out->arg))) {
		return false;
	}
	unquote(out->arg);
	return next_word(&p, extra, sizeof(extra)) && extra[0] == 0;
}

/* ---- commands ---- */

enum admin_arg {
	ARG_NONE = 0,
	ARG_OPTIONAL,
	ARG_REQUIRED,
};

/* An action's work; false with *err set when it fails. */
typedef bool (*admin_action_fn)(struct client *c, const struct admin_parsed *cmd,
                                struct admin_error *err);

/*
 * One console command. A SHOW has show (its rows); anything else has act.
 * A command pgscope cannot do yet has neither and answers 0A000.
 */
struct admin_command {
	const char *verb;
	const char *subject; /* for SHOW; NULL otherwise */
	enum admin_role role;
	enum admin_arg arg;
	admin_show_fn show;
	admin_action_fn act;
	const char *unsupported; /* with neither show nor act: what to do instead */
};

/* Close the servers of one pool now (idle) or when released (in use). */
static void reconnect_pool(struct pool *p)
{
	struct list *it;

	while (!list_empty(&p->idle_servers))
		server_close(list_entry(list_first(&p->idle_servers), struct server, node),
		             "RECONNECT");
	for (it = p->active_servers.next; it != &p->active_servers; it = it->next) {
		struct server *sv = list_entry(it, struct server, node);

		sv->dirty =
		    sv->dirty || !sv->listen_conn; /* LISTENs stay: no release to wait for */
	}
	for (it = p->login_servers.next; it != &p->login_servers; it = it->next)
		list_entry(it, struct server, node)->dirty = true;
}

/* Apply fn to every pool of database DB (every pool when DB is ""); how many. */
static int each_pool_of(struct loop_state *ls, const char *db, void (*fn)(struct pool *))
{
	struct list *it = ls->pools.next;
	int n = 0;

	while (it != &ls->pools) {
		struct pool *p = list_entry(it, struct pool, node);

		it = it->next;
		if (db[0] != 0 && strcmp(p->db->name, db) != 0)
			continue;
		fn(p);
		n++;
	}
	return n;
}

/* A database is known when the config names it or a pool of it exists. */
static bool database_known(struct loop_state *ls, const char *db)
{
	struct list *it;

	for (size_t i = 0; i < pooler.cfg->n_dbs; i++)
		if (strcmp(pooler.cfg->dbs[i].name, db) == 0)
			return true;
	for (it = ls->pools.next; it != &ls->pools; it = it->next)
		if (strcmp(list_entry(it, struct pool, node)->db->name, db) == 0)
			return true;
	return false;
}

static bool pause_done(const struct loop_state *ls, const char *db)
{
	return pool_pause_done(ls, db[0] != 0 ? db : NULL);
}

/* Whether a list of servers holds one that is to be closed at release (close_needed). */
static bool any_close_needed(const struct list *head)
{
	for (const struct list *it = head->next; it != head; it = it->next)
		if (list_entry(it, struct server, node)->dirty)
			return true;
	return false;
}

static bool close_done(const struct loop_state *ls, const char *db)
{
	for (const struct list *it = ls->pools.next; it != &ls->pools; it = it->next) {
		const struct pool *p = list_entry(it, struct pool, node);

		if (db[0] != 0 && strcmp(p->db->name, db) != 0)
			continue;
		if (any_close_needed(&p->active_servers) || any_close_needed(&p->login_servers))
			return false;
	}
	return true;
}

/* Hold the answer of the command running for c until DONE holds for DB. */
static void wait_begin(struct client *c, bool (*done)(const struct loop_state *, const char *),
                       const char *db, const char *tag)
{
	struct admin_wait *w = &c->admin->wait;

	if (done(c->loop, db))
		return; /* nothing to wait for: answered at once */
	w->active = true;
	w->done = done;
	snprintf(w->db, sizeof(w->db), "%s", db);
	w->tag = tag;
	w->c = c;
}

static bool act_wait_close(struct client *c, const struct admin_parsed *cmd,
                           struct admin_error *err)
{
	if (cmd->arg[0] != 0 && !database_known(c->loop, cmd->arg))
		return admin_fail(err, SQLSTATE_INVALID_CATALOG, "no such database: %s", cmd->arg);
	wait_begin(c, close_done, cmd->arg, "WAIT_CLOSE");
	return true;
}

static bool act_reconnect(struct client *c, const struct admin_parsed *cmd, struct admin_error *err)
{
	if (cmd->arg[0] != 0 && !database_known(c->loop, cmd->arg))
		return admin_fail(err, SQLSTATE_INVALID_CATALOG, "no such database: %s", cmd->arg);
	log_event(LOG_INFO, "admin.reconnect", LOG_STR, "user", c->user, LOG_STR, "db",
	          cmd->arg[0] ? cmd->arg : "*", LOG_END);
	each_pool_of(c->loop, cmd->arg, reconnect_pool);
	return true;
}

static bool act_kill(struct client *c, const struct admin_parsed *cmd, struct admin_error *err)
{
	if (!database_known(c->loop, cmd->arg))
		return admin_fail(err, SQLSTATE_INVALID_CATALOG, "no such database: %s", cmd->arg);
	log_event(LOG_INFO, "admin.kill", LOG_STR, "user", c->user, LOG_STR, "db", cmd->arg,
	          LOG_END);
	each_pool_of(c->loop, cmd->arg, pool_shutdown);
	return true;
}

static bool act_shutdown(struct client *c, const struct admin_parsed *cmd, struct admin_error *err)
{
	log_event(LOG_INFO, "admin.shutdown", LOG_STR, "user", c->user, LOG_END);
	c->admin->shutdown_asked = true; /* after the answer: stopping ends this session too */
	return true;
}

static bool act_pause(struct client *c, const struct admin_parsed *cmd, struct admin_error *err)
{
	if (cmd->arg[0] != 0 && !database_known(c->loop, cmd->arg))
		return admin_fail(err, SQLSTATE_INVALID_CATALOG, "no such database: %s", cmd->arg);
	log_event(LOG_INFO, "admin.pause", LOG_STR, "user", c->user, LOG_STR, "db",
	          cmd->arg[0] ? cmd->arg : "*", LOG_END);
	if (!pool_pause(c->loop, cmd->arg[0] ? cmd->arg : NULL))
		return admin_fail(err, SQLSTATE_OUT_OF_MEMORY, "%s", "out of memory");
	wait_begin(c, pause_done, cmd->arg, "PAUSE");
	return true;
}

static bool act_resume(struct client *c, const struct admin_parsed *cmd, struct admin_error *err)
{
	if (cmd->arg[0] != 0 && !database_known(c->loop, cmd->arg))
		return admin_fail(err, SQLSTATE_INVALID_CATALOG, "no such database: %s", cmd->arg);
	log_event(LOG_INFO, "admin.resume", LOG_STR, "user", c->user, LOG_STR, "db",
	          cmd->arg[0] ? cmd->arg : "*", LOG_END);
	pool_resume(c->loop, cmd->arg[0] ? cmd->arg : NULL);
	return true;
}

static bool act_enable(struct client *c, const struct admin_parsed *cmd, struct admin_error *err)
{
	if (!database_known(c->loop, cmd->arg))
		return admin_fail(err, SQLSTATE_INVALID_CATALOG, "no such database: %s", cmd->arg);
	pool_disable(c->loop, cmd->arg, false);
	return true;
}

static bool act_disable(struct client *c, const struct admin_parsed *cmd, struct admin_error *err)
{
	if (!database_known(c->loop, cmd->arg))
		return admin_fail(err, SQLSTATE_INVALID_CATALOG, "no such database: %s", cmd->arg);
	if (!pool_disable(c->loop, cmd->arg, true))
		return admin_fail(err, SQLSTATE_OUT_OF_MEMORY, "%s", "out of memory");
	return true;
}

static bool act_reload(struct client *c, const struct admin_parsed *cmd, struct admin_error *err)
{
	log_event(LOG_INFO, "admin.reload", LOG_STR, "user", c->user, LOG_END);
	if (!pooler_reload("RELOAD"))
		return admin_fail(
		    err, SQLSTATE_CONFIG_FILE_ERROR, "%s",
		    "the config file did not validate; the running one stays (see the "
		    "log)");
	return true;
}

/*
 * The one table of console commands. PAUSE answers once its pools are paused
 * (their servers released and closed), WAIT_CLOSE once RECONNECT's servers
 * are closed; a CancelRequest ends the wait (the PAUSE stays).
 */
static const struct admin_command commands[] = {
    {"SHOW", "HELP", ADMIN_ROLE_STATS, ARG_NONE, admin_show_help, NULL, NULL},
    {"SHOW", "POOLS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_pools, NULL, NULL},
    {"SHOW", "STATS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_stats, NULL, NULL},
    {"SHOW", "STATS_TOTALS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_stats_totals, NULL, NULL},
    {"SHOW", "STATS_AVERAGES", ADMIN_ROLE_STATS, ARG_NONE, admin_show_stats_averages, NULL, NULL},
    {"SHOW", "CLIENTS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_clients, NULL, NULL},
    {"SHOW", "SERVERS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_servers, NULL, NULL},
    {"SHOW", "DATABASES", ADMIN_ROLE_STATS, ARG_NONE, admin_show_databases, NULL, NULL},
    {"SHOW", "USERS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_users, NULL, NULL},
    {"SHOW", "CONFIG", ADMIN_ROLE_STATS, ARG_NONE, admin_show_config, NULL, NULL},
    {"SHOW", "LISTS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_lists, NULL, NULL},
    {"SHOW", "MEM", ADMIN_ROLE_STATS, ARG_NONE, admin_show_mem, NULL, NULL},
    {"SHOW", "DNS_HOSTS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_dns_hosts, NULL, NULL},
    {"SHOW", "DNS_ZONES", ADMIN_ROLE_STATS, ARG_NONE, admin_show_dns_zones, NULL, NULL},
    {"SHOW", "TOTALS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_totals, NULL, NULL},
    {"SHOW", "SOCKETS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_sockets, NULL, NULL},
    {"SHOW", "ACTIVE_SOCKETS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_active_sockets, NULL, NULL},
    {"SHOW", "STATE", ADMIN_ROLE_STATS, ARG_NONE, admin_show_state, NULL, NULL},
    {"SHOW", "VERSION", ADMIN_ROLE_STATS, ARG_NONE, admin_show_version, NULL, NULL},
    {"SHOW", "QUERIES", ADMIN_ROLE_STATS, ARG_NONE, admin_show_queries, NULL, NULL},
    {"SHOW", "FINDINGS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_findings, NULL, NULL},
    {"SHOW", "ENDPOINTS", ADMIN_ROLE_STATS, ARG_NONE, admin_show_endpoints, NULL, NULL},
    {"SHUTDOWN", NULL, ADMIN_ROLE_ADMIN, ARG_NONE, NULL, act_shutdown, NULL},
    {"KILL", NULL, ADMIN_ROLE_ADMIN, ARG_REQUIRED, NULL, act_kill, NULL},
    {"RECONNECT", NULL, ADMIN_ROLE_ADMIN, ARG_OPTIONAL, NULL, act_reconnect, NULL},
    {"PAUSE", NULL, ADMIN_ROLE_ADMIN, ARG_OPTIONAL, NULL, act_pause, NULL},
    {"RESUME", NULL, ADMIN_ROLE_ADMIN, ARG_OPTIONAL, NULL, act_resume, NULL},
    {"RELOAD", NULL, ADMIN_ROLE_ADMIN, ARG_NONE, NULL, act_reload, NULL},
    {"SUSPEND", NULL, ADMIN_ROLE_ADMIN, ARG_NONE, NULL, NULL,
     "for an online restart run pgscope serve --takeover"},
    {"ENABLE", NULL, ADMIN_ROLE_ADMIN, ARG_REQUIRED, NULL, act_enable, NULL},
    {"DISABLE", NULL, ADMIN_ROLE_ADMIN, ARG_REQUIRED, NULL, act_disable, NULL},
    {"WAIT_CLOSE", NULL, ADMIN_ROLE_ADMIN, ARG_OPTIONAL, NULL, act_wait_close, NULL},
    {"SET", NULL, ADMIN_ROLE_ADMIN, ARG_OPTIONAL, NULL, NULL, "change the config file and RELOAD"},
};

static const struct admin_command *command_find(const struct admin_parsed *p)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct admin_command *cmd = &commands[i];

		if (strcmp(cmd->verb, p->verb) != 0)
			continue;
		if (cmd->subject == NULL || strcmp(cmd->subject, p->subject) == 0)
			return cmd;
	}
	return NULL;
}

/*
 * The command for SQL that ROLE may run, with its parsed words in *parsed;
 * NULL with *err set when there is none.
 */
static const struct admin_command *command_resolve(const char *sql, enum admin_role role,
                                                   struct admin_parsed *parsed,
                                                   struct admin_error *err)
{
	const struct admin_command *cmd = NULL;

	if (admin_parse(sql, parsed))
		cmd = command_find(parsed);
	if (cmd == NULL || (cmd->arg == ARG_NONE && parsed->arg[0] != 0) ||
	    (cmd->arg == ARG_REQUIRED && parsed->arg[0] == 0)) {
		admin_fail(err, SQLSTATE_SYNTAX_ERROR, "invalid command '%s', use SHOW HELP;", sql);
		return NULL;
	}
	if (role < cmd->role) {
		admin_fail(err, SQLSTATE_INSUFFICIENT_PRIV, "admin access needed%s", "");
		return NULL;
	}
	if (cmd->show == NULL && cmd->act == NULL) {
		char why[256];

		snprintf(why, sizeof(why), "%s is not supported: %s", parsed->verb,
		         cmd->unsupported);
		admin_fail(err, SQLSTATE_FEATURE_NOT_SUPPORTED, "%s", why);
		return NULL;
	}
	return cmd;
}

/* The CommandComplete tag of a command that ran. */
static const char *command_tag(const struct admin_command *cmd)
{
	return cmd->show != NULL ? "SHOW" : cmd->verb;
}

static bool write_complete(struct pbuf *out, const char *tag)
{
	struct proto_writer w;

	proto_begin(&w, out, 'C');
	proto_put_str(&w, tag);
	return proto_end(&w);
}

/*
 * Run CMD for c: a SHOW writes its RowDescription to desc (when not NULL)
 * and its rows to rows (when not NULL); an action runs only when RUN.
 * false with *err set on failure.
 */
static bool command_run(struct client *c, const struct admin_command *cmd,
                        const struct admin_parsed *parsed, struct pbuf *desc, struct pbuf *rows,
                        struct admin_error *err)
{
	if (cmd->show != NULL) {
		struct admin_result r = {.desc = desc, .rows = rows};

		cmd->show(c->loop, &r);
		if (r.oom)
			return admin_fail(err, SQLSTATE_PROGRAM_LIMIT, "%s",
			                  "result too large for the client's buffer");
		return true;
	}
	if (rows == NULL)
		return true; /* a Describe: actions have no rows and do not run */
	return cmd->act(c, parsed, err);
}

static void write_error(struct client *c, const struct admin_error *err)
{
	proto_write_error(&c->conn.out, "ERROR", err->sqlstate, err->message);
}

/* ---- answers that wait ---- */

/* End c's wait: its CommandComplete (or ERROR), then what it had queued. */
static void wait_end(struct client *c, const struct admin_error *err)
{
	struct admin_wait *w = &c->admin->wait;

	ev_timer_stop(c->loop->ev, &w->timer);
	w->active = false;
	if (err != NULL)
		write_error(c, err);
	else
		write_complete(&c->conn.out, w->tag);
	if (w->simple)
		proto_write_ready(&c->conn.out, 'I');
	if (!client_flush(c))
		return;
	if (!c->admin->paused)
		conn_start_read(&c->conn);
	admin_input(c);
}

static void wait_check(struct ev_loop *ev, ev_timer *t, int revents)
{
	struct admin_wait *w = t->data;

	if (w->done(w->c->loop, w->db))
		wait_end(w->c, NULL);
}

/*
 * After a command ran: when it asked to wait (wait_begin), stop reading and
 * start checking; true then, and the caller writes no answer. SIMPLE: a
 * simple Query, whose ReadyForQuery comes with the answer.
 */
static bool wait_start(struct client *c, bool simple)
{
	struct admin_wait *w = &c->admin->wait;

	if (!w->active)
		return false;
	w->simple = simple;
	conn_stop_read(&c->conn);
	ev_timer_init(&w->timer, wait_check, ADMIN_WAIT_CHECK, ADMIN_WAIT_CHECK);
	w->timer.data = w;
	ev_timer_start(c->loop->ev, &w->timer);
	return true;
}

void admin_cancel(struct client *c)
{
	struct admin_error err = {SQLSTATE_QUERY_CANCELED,
	                          "canceling statement due to user request"};

	if (c->admin == NULL || !c->admin->wait.active)
		return;
	wait_end(c, &err);
}

/* ---- simple query ---- */

static void admin_simple_query(struct client *c, const char *sql)
{
	struct admin_parsed parsed;
	struct admin_error err;
	const struct admin_command *cmd;
	struct pbuf *out = &c->conn.out;
	const char *p = sql;

	while (*p != 0 && (isspace((unsigned char)*p) || *p == ';'))
		p++;
	if (*p == 0) {
		pbuf_append(out, "I\0\0\0\4", 5); /* EmptyQueryResponse, as PostgreSQL */
		proto_write_ready(out, 'I');
		return;
	}
	cmd = command_resolve(sql, c->admin->role, &parsed, &err);
	if (cmd != NULL && command_run(c, cmd, &parsed, out, out, &err)) {
		if (wait_start(c, true))
			return;
		write_complete(out, command_tag(cmd));
	} else {
		write_error(c, &err);
	}
	if (c->state == CL_ADMIN)
		proto_write_ready(out, 'I');
}

/* ---- extended query ---- */

static struct admin_slot *slot_find(struct admin_slot *slots, const char *name)
{
	for (int i = 0; i < ADMIN_SLOTS; i++)
		if (slots[i].used && strcmp(slots[i].name, name) == 0)
			return &slots[i];
	return NULL;
}

/* The slot for NAME: its own (the unnamed one is replaced), or a free one; NULL if full. */
static struct admin_slot *slot_take(struct admin_slot *slots, const char *name)
{
	struct admin_slot *s = slot_find(slots, name);

	for (int i = 0; s == NULL && i < ADMIN_SLOTS; i++)
		if (!slots[i].used)
			s = &slots[i];
	if (s != NULL) {
		s->used = true;
		snprintf(s->name, sizeof(s->name), "%s", name);
	}
	return s;
}

static bool ext_parse(struct client *c, struct proto_reader *r, struct admin_error *err)
{
	const char *name = proto_read_str(r);
	const char *sql = proto_read_str(r);
	struct admin_parsed parsed;
	struct admin_slot *s;

	if (r->bad)
		return admin_fail(err, SQLSTATE_PROTOCOL_VIOLATION, "%s", "invalid Parse message");
	if (command_resolve(sql, c->admin->role, &parsed, err) == NULL)
		return false;
	if (name[0] != 0 && slot_find(c->admin->stmts, name) != NULL)
		return admin_fail(err, "42P05", "prepared statement \"%s\" already exists", name);
	s = slot_take(c->admin->stmts, name);
	if (s == NULL)
		return admin_fail(err, SQLSTATE_PROGRAM_LIMIT, "%s",
		                  "too many prepared statements on the admin console");
	snprintf(s->sql, sizeof(s->sql), "%s", sql);
	return pbuf_append(&c->conn.out, "1\0\0\0\4", 5);
}

static bool ext_bind(struct client *c, struct proto_reader *r, struct admin_error *err)
{
	const char *portal = proto_read_str(r);
	const char *stmt = proto_read_str(r);
	struct admin_slot *from, *to;
	uint16_t n;

	if (r->bad)
		return admin_fail(err, SQLSTATE_PROTOCOL_VIOLATION, "%s", "invalid Bind message");
	from = slot_find(c->admin->stmts, stmt);
	if (from == NULL)
		return admin_fail(err, SQLSTATE_NO_SUCH_STATEMENT,
		                  "prepared statement \"%s\" does not exist", stmt);
	n = proto_read_int16(r); /* parameter format codes */
	for (uint16_t i = 0; i < n; i++)
		(void)proto_read_int16(r);
	if (proto_read_int16(r) != 0 && !r->bad)
		return admin_fail(err, SQLSTATE_PROTOCOL_VIOLATION, "%s",
		                  "admin console commands take no parameters");
	n = proto_read_int16(r); /* result format codes: text only */
	for (uint16_t i = 0; i < n; i++)
		if (proto_read_int16(r) != 0 && !r->bad)
			return admin_fail(err, SQLSTATE_FEATURE_NOT_SUPPORTED, "%s",
			                  "the admin console answers in text format only");
	if (r->bad)
		return admin_fail(err, SQLSTATE_PROTOCOL_VIOLATION, "%s", "invalid Bind message");
	to = slot_take(c->admin->portals, portal);
	if (to == NULL)
		return admin_fail(err, SQLSTATE_PROGRAM_LIMIT, "%s",
		                  "too many portals on the admin console");
	snprintf(to->sql, sizeof(to->sql), "%s", from->sql);
	return pbuf_append(&c->conn.out, "2\0\0\0\4", 5);
}

/* Describe and Execute run the command of a slot: columns only, or rows and tag. */
static bool ext_run(struct client *c, const struct admin_slot *s, bool execute,
                    struct admin_error *err)
{
	struct admin_parsed parsed;
	const struct admin_command *cmd = command_resolve(s->sql, c->admin->role, &parsed, err);
	struct pbuf *out = &c->conn.out;

	if (cmd == NULL)
		return false;
	if (!execute) {
		if (cmd->show == NULL)
			return pbuf_append(out, "n\0\0\0\4", 5); /* NoData */
		return command_run(c, cmd, &parsed, out, NULL, err);
	}
	if (!command_run(c, cmd, &parsed, NULL, out, err))
		return false;
	if (wait_start(c, false))
		return true;
	return write_complete(out, command_tag(cmd));
}

static bool ext_describe(struct client *c, struct proto_reader *r, struct admin_error *err)
{
	uint8_t what = proto_read_byte(r);
	const char *name = proto_read_str(r);
	struct admin_slot *s;

	if (r->bad || (what != 'S' && what != 'P'))
		return admin_fail(err, SQLSTATE_PROTOCOL_VIOLATION, "%s",
		                  "invalid Describe message");
	s = slot_find(what == 'S' ? c->admin->stmts : c->admin->portals, name);
	if (s == NULL)
		return admin_fail(
		    err, what == 'S' ? SQLSTATE_NO_SUCH_STATEMENT : SQLSTATE_NO_SUCH_PORTAL,
		    what == 'S' ? "prepared statement \"%s\" does not exist"
		                : "portal \"%s\" does not exist",
		    name);
	if (what == 'S' && !pbuf_append(&c->conn.out, "t\0\0\0\6\0\0", 7))
		return false; /* ParameterDescription: no parameters */
	return ext_run(c, s, false, err);
}

static bool ext_execute(struct client *c, struct proto_reader *r, struct admin_error *err)
{
	const char *name = proto_read_str(r);
	struct admin_slot *s;

	if (r->bad)
		return admin_fail(err, SQLSTATE_PROTOCOL_VIOLATION, "%s",
		                  "invalid Execute message");
	s = slot_find(c->admin->portals, name);
	if (s == NULL)
		return admin_fail(err, SQLSTATE_NO_SUCH_PORTAL, "portal \"%s\" does not exist",
		                  name);
	return ext_run(c, s, true, err);
}

static bool ext_close(struct client *c, struct proto_reader *r, struct admin_error *err)
{
	uint8_t what = proto_read_byte(r);
	const char *name = proto_read_str(r);
	struct admin_slot *s;

	if (r->bad || (what != 'S' && what != 'P'))
		return admin_fail(err, SQLSTATE_PROTOCOL_VIOLATION, "%s", "invalid Close message");
	s = slot_find(what == 'S' ? c->admin->stmts : c->admin->portals, name);
	if (s != NULL)
		s->used = false;
	return pbuf_append(&c->conn.out, "3\0\0\0\4", 5);
}

/* One extended-protocol message; errors skip the rest of the batch until Sync. */
static void admin_extended(struct client *c, uint8_t type, const uint8_t *body, size_t len)
{
	struct admin_error err = {SQLSTATE_INTERNAL_ERROR, "out of memory"};
	struct proto_reader r;
	bool ok = true;

	if (type == 'S') {
		c->admin->ext_failed = false;
		/* Portals live until their transaction ends, and each Sync ends one here. */
		for (int i = 0; i < ADMIN_SLOTS; i++)
			c->admin->portals[i].used = false;
		proto_write_ready(&c->conn.out, 'I');
		return;
	}
	if (c->admin->ext_failed || type == 'H')
		return;
	proto_reader_init(&r, body, len);
	switch (type) {
	case 'P':
		ok = ext_parse(c, &r, &err);
		break;
	case 'B':
		ok = ext_bind(c, &r, &err);
		break;
	case 'D':
		ok = ext_describe(c, &r, &err);
		break;
	case 'E':
		ok = ext_execute(c, &r, &err);
		break;
	case 'C':
		ok = ext_close(c, &r, &err);
		break;
	}
	if (!ok && c->state == CL_ADMIN) {
		write_error(c, &err);
		c->admin->ext_failed = true;
	}
}

/* ---- input ---- */

/* One message from a console client; false when the client was closed. */
static bool admin_message(struct client *c, uint8_t type, const uint8_t *body, size_t len)
{
	switch (type) {
	case 'Q': {
		if (len == 0 || body[len - 1] != 0) {
			client_fail(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid Query message");
			return false;
		}
		admin_simple_query(c, (const char *)body);
		return c->state == CL_ADMIN;
	}
	case 'P':
	case 'B':
	case 'D':
	case 'E':
	case 'C':
	case 'S':
	case 'H':
		admin_extended(c, type, body, len);
		return c->state == CL_ADMIN;
	case 'X':
		client_close(c, "client terminated");
		return false;
	default: {
		char msg[80];

		snprintf(msg, sizeof(msg), "unsupported message type '%c' on the admin console",
		         type);
		client_fail(c, SQLSTATE_PROTOCOL_VIOLATION, msg);
		return false;
	}
	}
}

void admin_input(struct client *c)
{
	struct pbuf *in = &c->conn.in;

	while (c->state == CL_ADMIN && !c->admin->wait.active && pbuf_len(in) >= PROTO_HDR) {
		if (pbuf_len(&c->conn.out) > CONN_HIGH_WATER && client_flush(c) &&
		    pbuf_len(&c->conn.out) > CONN_HIGH_WATER) {
			/* The client does not read its answers: stop reading its requests. */
			c->admin->paused = true;
			conn_stop_read(&c->conn);
			return;
		}
		uint8_t type = pbuf_head(in)[0];
		uint32_t len = proto_get32(pbuf_head(in) + 1);
		const uint8_t *body;

		if (len < 4 || len > pooler.cfg->max_packet_size) {
			client_fail(c, SQLSTATE_PROTOCOL_VIOLATION, "invalid message length");
			return;
		}
		if (pbuf_len(in) < len + 1u)
			break;
		body = pbuf_head(in) + PROTO_HDR;
		/* Consumed after use: the body stays valid, nothing reads the socket meanwhile. */
		if (!admin_message(c, type, body, len - 4))
			return;
		pbuf_consume(in, len + 1u);
	}
	if (c->state != CL_ADMIN || !client_flush(c))
		return;
	if (c->admin->shutdown_asked && !c->admin->wait.active)
		pooler_shutdown("SHUTDOWN command");
}

/* ---- result building ---- */

void admin_result_columns(struct admin_result *r, const struct admin_col *cols, int n)
{
	struct proto_writer w;

	r->ncols = n;
	if (r->desc == NULL)
		return;
	proto_begin(&w, r->desc, 'T');
	proto_put_int16(&w, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		proto_put_str(&w, cols[i].name);
		proto_put_int32(&w, 0); /* table */
		proto_put_int16(&w, 0); /* column */
		proto_put_int32(&w, cols[i].type);
		proto_put_int16(&w, (uint16_t)(cols[i].type == ADMIN_INT8   ? 8
		                               : cols[i].type == ADMIN_INT4 ? 4
		                                                            : 0xffff));
		proto_put_int32(&w, 0xffffffffu); /* typmod -1 */
		proto_put_int16(&w, 0);           /* text */
	}
	if (!proto_end(&w))
		r->oom = true;
}

void admin_row_begin(struct admin_result *r)
{
	if (r->rows == NULL)
		return;
	proto_begin(&r->row, r->rows, 'D');
	proto_put_int16(&r->row, (uint16_t)r->ncols);
}

void admin_put_str(struct admin_result *r, const char *s)
{
	size_t n;

	if (r->rows == NULL)
		return;
	if (s == NULL) {
		proto_put_int32(&r->row, 0xffffffffu);
		return;
	}
	n = strlen(s);
	proto_put_int32(&r->row, (uint32_t)n);
	proto_put_bytes(&r->row, s, n);
}

void admin_put_int(struct admin_result *r, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	admin_put_str(r, buf);
}

void admin_put_uint(struct admin_result *r, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	admin_put_str(r, buf);
}

void admin_put_double(struct admin_result *r, double v, int decimals)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	admin_put_str(r, buf);
}

void admin_row_end(struct admin_result *r)
{
	if (r->rows == NULL)
		return;
	if (!proto_end(&r->row))
		r->oom = true;
	r->nrows++;
}

/* ---- JSON, for the HTTP endpoint ---- */

static void json_string(struct pbuf *out, const uint8_t *s, size_t n)
{
	pbuf_append(out, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		char esc[8];

		if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)s[i];
			pbuf_append(out, esc, 2);
		} else if (s[i] < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
			pbuf_append(out, esc, 6);
		} else {
			pbuf_append(out, &s[i], 1);
		}
	}
	pbuf_append(out, "\"", 1);
}

/* The column names and whether each is numeric, from a RowDescription body. */
static int json_columns(struct proto_reader *r, const char **names, bool *numeric, int max)
{
	int n = proto_read_int16(r);

	for (int i = 0; i < n && i < max; i++) {
		uint32_t type;

		names[i] = proto_read_str(r);
		(void)proto_read_int32(r);
		(void)proto_read_int16(r);
		type = proto_read_int32(r);
		(void)proto_read_int16(r);
		(void)proto_read_int32(r);
		(void)proto_read_int16(r);
		numeric[i] = type != ADMIN_TEXT;
	}
	return r->bad || n > max ? -1 : n;
}

/* One row's cells as a JSON object. */
static void json_row(struct pbuf *out, const char *const *names, const bool *numeric, int ncols,
                     const struct admin_cell *cells)
{
	pbuf_append(out, "{", 1);
	for (int i = 0; i < ncols; i++) {
		if (i > 0)
			pbuf_append(out, ",", 1);
		json_string(out, (const uint8_t *)names[i], strlen(names[i]));
		pbuf_append(out, ":", 1);
		if (cells[i].v == NULL)
			pbuf_append(out, "null", 4);
		else if (numeric[i] && cells[i].len > 0)
			pbuf_append(out, cells[i].v, cells[i].len);
		else
			json_string(out, (const uint8_t *)cells[i].v, cells[i].len);
	}
	pbuf_append(out, "}", 1);
}

/* The cells of one DataRow body into CELLS (at most NCOLS); how many, -1 when malformed. */
static int row_cells(struct proto_reader *r, struct admin_cell *cells, int ncols)
{
	int n = proto_read_int16(r);

	for (int i = 0; i < n && i < ncols && !r->bad; i++) {
		uint32_t len = proto_read_int32(r);

		cells[i].v = len == 0xffffffffu ? NULL : (const char *)proto_read_bytes(r, len);
		cells[i].len = cells[i].v == NULL ? 0 : len;
	}
	return r->bad || n != ncols ? -1 : n;
}

bool admin_show_rows(struct loop_state *ls, const char *sql, size_t limit, admin_row_fn fn,
                     void *arg)
{
	struct admin_parsed parsed;
	const struct admin_command *cmd = admin_parse(sql, &parsed) ? command_find(&parsed) : NULL;
	struct pbuf desc, rows;
	struct admin_result res = {.desc = &desc, .rows = &rows};
	const char *names[64];
	bool numeric[64];
	struct admin_cell cells[64];
	struct proto_reader r;
	int ncols;

	if (cmd == NULL || cmd->show == NULL)
		return false;
	pbuf_init(&desc, 64u * 1024u);
	pbuf_init(&rows, limit);
	cmd->show(ls, &res);
	proto_reader_init(&r, pbuf_head(&desc) + PROTO_HDR, pbuf_len(&desc) - PROTO_HDR);
	ncols = res.oom ? -1 : json_columns(&r, names, numeric, 64);
	while (ncols >= 0 && pbuf_len(&rows) >= PROTO_HDR) {
		uint32_t len = proto_get32(pbuf_head(&rows) + 1);

		proto_reader_init(&r, pbuf_head(&rows) + PROTO_HDR, len - 4);
		if (row_cells(&r, cells, ncols) == ncols)
			fn(arg, names, numeric, ncols, cells);
		pbuf_consume(&rows, len + 1u);
	}
	pbuf_release(&desc);
	pbuf_release(&rows);
	return ncols >= 0;
}

struct json_state {
	struct pbuf *out;
	bool first;
};

static void json_add_row(void *arg, const char *const *names, const bool *numeric, int ncols,
                         const struct admin_cell *cells)
{
	struct json_state *st = arg;

	if (!st->first)
		pbuf_append(st->out, ",\n", 2);
	st->first = false;
	json_row(st->out, names, numeric, ncols, cells);
}

bool admin_show_json(struct loop_state *ls, const char *sql, struct pbuf *out)
{
	struct json_state st = {out, true};
	bool ok;

	pbuf_append(out, "[", 1);
	ok = admin_show_rows(ls, sql, out->limit, json_add_row, &st);
	pbuf_append(out, "]\n", 2);
	return ok;
}
