/*
 * sqlscan.h - a tiny scanner for the few SQL commands the pooler answers or
 * tracks itself (SET, RESET, LISTEN, UNLISTEN, DEALLOCATE, PREPARE) without
 * the full parser: keywords, identifiers, literals, comments.
 *
 * sqlscan_set() reads one statement; sqlscan_statement_end() splits a
 * multi-statement text into statements for it and, in the same pass, spots
 * the words of session-only state that cannot follow a pooled client.
 */
#ifndef PGSCOPE_POOLER_SQLSCAN_H
#define PGSCOPE_POOLER_SQLSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* Skip white space and -- / C-style comments. */
const char *sqlscan_skip_space(const char *s, const char *end);

/*
 * Read an identifier: plain (folded to lower case) or "quoted". Returns the
 * position after it, or NULL if there is none or it does not fit in out.
 */
const char *sqlscan_ident(const char *s, const char *end, char *out, size_t outlen);

/* true if only white space, comments and at most one ';' remain. */
bool sqlscan_at_end(const char *s, const char *end);

/*
 * Where the statement that starts at s ends: just after its ';', or at end
 * (or at a NUL). Quoted strings and identifiers, dollar quotes and comments
 * are skipped, so a ';' inside them does not end the statement. When
 * features is not NULL, the statement's sqlscan_feature bits (below) are
 * added to it, in the same pass.
 */
const char *sqlscan_statement_end(const char *s, const char *end, unsigned *features);

enum sqlscan_set_kind {
	SQLSCAN_NOT_SET = 0,
	SQLSCAN_SET,        /* SET [SESSION] name {TO|=} value, SET ROLE, SET SCHEMA, ... */
	SQLSCAN_RESET,      /* RESET name, or SET name TO DEFAULT */
	SQLSCAN_RESET_ALL,  /* RESET ALL (role and session_authorization stay, as on the server) */
	SQLSCAN_SET_SCOPED, /* nothing to follow: SET LOCAL, SET TRANSACTION, or a parameter
	                       the server reports itself (SET TIME ZONE, SET NAMES) */
	SQLSCAN_UNTRACKED,  /* a session SET/RESET this scanner cannot follow */
};

/*
 * Recognise a SET/RESET as the whole of one statement. name gets the
 * parameter's name (SET ROLE: "role", SET SESSION AUTHORIZATION:
 * "session_authorization", SET SCHEMA: "search_path"); value gets the value
 * as a string the server would accept inside a literal: a single quoted
 * string unquoted, anything else (numbers, identifier lists) as written, and
 * a role name as the server looks it up (folded to lower case unless quoted).
 * Every kind but SQLSCAN_NOT_SET answers with CommandComplete "SET" or "RESET".
 */
enum sqlscan_set_kind sqlscan_set(const char *sql, size_t len, char *name, size_t namelen,
                                  char *value, size_t valuelen);

/* Session-level state in a statement that cannot follow a client from server to server. */
enum sqlscan_feature {
	SQLSCAN_FX_SET_CONFIG = 1, /* set_config(..., false): a parameter the pooler cannot see */
	SQLSCAN_FX_ADVISORY_LOCK = 2, /* pg_advisory_lock() and friends (session locks) */
	SQLSCAN_FX_TEMP_TABLE = 4,    /* CREATE TEMP ... without ON COMMIT DROP */
	SQLSCAN_FX_WITH_HOLD = 8,     /* DECLARE ... WITH HOLD */
};

/*
 * false when the text cannot hold a SET or RESET nor any sqlscan_feature:
 * none of the letters "set", "advisory", "temp" or "hold" (in any case)
 * occur in it. A byte scan, so that the many queries that change no session
 * state cost no tokenizing on the forwarding path.
 */
bool sqlscan_may_touch_session(const char *sql, size_t len);

/* The sqlscan_feature bits of a text (any number of statements): a word scan. */
unsigned sqlscan_session_features(const char *sql, size_t len);

/*
 * The statement timeout a comment asks for: "pgscope:timeout=VALUE" inside a
 * -- or C-style comment, where VALUE is a number (fractions allowed) with an
 * optional unit ms, s (the default), min or h, as the config file reads
 * times. Returns milliseconds (0 turns query_timeout off for the statement),
 * or -1 when there is no such comment or its value is not a time. The words
 * in a string literal or a quoted name are no hint. Texts without the
 * letters "pgscope:" cost one byte search (memchr for ':').
 */
int sqlscan_timeout_hint(const char *sql, size_t len);

#endif
