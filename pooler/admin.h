/*
 * admin.h - the admin console: the database "pgscope" (and "pgbouncer", so
 * that tools written for PgBouncer work unchanged) answered by the pooler
 * itself, with no server behind it.
 *
 * A client that asks for the console database is checked against
 * admin_users (every command) and stats_users (SHOW only) before its
 * password exchange, authenticates as any client does, and then enters
 * CL_ADMIN, where admin_input() reads its simple and extended query
 * messages and answers them from the pooler's own counts (admin_show.c).
 * Event-loop thread only.
 */
#ifndef PGSCOPE_POOLER_ADMIN_H
#define PGSCOPE_POOLER_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pooler/pbuf.h"
#include "pooler/pooler.h"
#include "pooler/proto.h"

/* What a console user may do. */
enum admin_role {
	ADMIN_ROLE_NONE = 0, /* not a console user */
	ADMIN_ROLE_STATS,    /* stats_users: SHOW commands only */
	ADMIN_ROLE_ADMIN,    /* admin_users: every command */
};

/* true when DBNAME names the console ("pgscope" or "pgbouncer"). */
bool admin_is_console_db(const char *dbname);

/* The role of USER in CFG. */
enum admin_role admin_role_of(const struct config *cfg, const char *user);

/*
 * The startup packet of c asks for the console: give it a console session
 * (c->admin) when its user may use the console. false after failing the
 * client (28000, "not allowed", as PgBouncer words it).
 */
bool admin_client_start(struct client *c);

/* c authenticated: finish its login as a console session (CL_ADMIN). */
void admin_login(struct client *c);

/* Read and answer what a console client sent. */
void admin_input(struct client *c);

/*
 * c's answers drained below the low-water mark (client_flush()): read its
 * requests again if they were paused for backpressure.
 */
void admin_resume(struct client *c);

/* Free the console session of c (client_free()). */
void admin_release(struct client *c);

/* A CancelRequest for console client c: ends a PAUSE or WAIT_CLOSE that waits (57014). */
void admin_cancel(struct client *c);

/* Stopping: end every console session of ls (57P01). */
void admin_end_all(struct loop_state *ls);

/*
 * The rows of SHOW command SQL (e.g. "SHOW POOLS") on ls as a JSON array of
 * objects, one per row, keyed by column name; numbers for numeric columns.
 * Appended to OUT; false when SQL is not a SHOW command or OUT is full.
 */
bool admin_show_json(struct loop_state *ls, const char *sql, struct pbuf *out);

/* One cell of a SHOW row: its text (not NUL-terminated), NULL for SQL NULL. */
struct admin_cell {
	const char *v;
	size_t len;
};

/* Called for each row of a SHOW command, with the column names and which are numeric. */
typedef void (*admin_row_fn)(void *arg, const char *const *names, const bool *numeric, int ncols,
                             const struct admin_cell *cells);

/*
 * Run SHOW command SQL on ls and call FN for each of its rows (built into at
 * most LIMIT bytes). false when SQL is not a SHOW command or the rows did not fit.
 */
bool admin_show_rows(struct loop_state *ls, const char *sql, size_t limit, admin_row_fn fn,
                     void *arg);

/* ---- parsing and result building, pure, for admin_show.c and the unit tests ---- */

#define ADMIN_WORD_MAX 64

/* A console command split into words: "SHOW POOLS", "KILL mydb". */
struct admin_parsed {
	char verb[ADMIN_WORD_MAX];    /* upper-cased: SHOW, KILL, PAUSE... */
	char subject[ADMIN_WORD_MAX]; /* upper-cased word after SHOW, else "" */
	char arg[ADMIN_WORD_MAX];     /* the argument as written (a database), or "" */
};

/*
 * Split SQL (one command, an optional trailing ';', any case) into *out.
 * false when it is empty, has more words than its form takes, or a word is
 * too long.
 */
bool admin_parse(const char *sql, struct admin_parsed *out);

/* Type OIDs of console columns, as PgBouncer sends them. */
#define ADMIN_TEXT    25u
#define ADMIN_INT4    23u
#define ADMIN_INT8    20u
#define ADMIN_NUMERIC 1700u

struct admin_col {
	const char *name;
	uint32_t type;
};

/*
 * A result being built: the RowDescription into desc (when not NULL) and the
 * DataRows into rows (when not NULL: a Describe asks for the columns only).
 */
struct admin_result {
	struct pbuf *desc;
	struct pbuf *rows;
	int ncols;
	long long nrows;
	bool oom;                /* an append failed: the result is incomplete */
	struct proto_writer row; /* the DataRow being written */
};

void admin_result_columns(struct admin_result *r, const struct admin_col *cols, int n);
void admin_row_begin(struct admin_result *r);
void admin_put_str(struct admin_result *r, const char *s); /* NULL: SQL NULL */
void admin_put_int(struct admin_result *r, long long v);
void admin_put_uint(struct admin_result *r, uint64_t v);
void admin_put_double(struct admin_result *r, double v, int decimals);
void admin_row_end(struct admin_result *r);

#endif
