/*
 * sqlscan.h - a tiny scanner for the few SQL commands the pooler answers or
 * tracks itself (SET, RESET, LISTEN, UNLISTEN, DEALLOCATE, PREPARE) without
 * the full parser: keywords, identifiers, literals, comments.
 *
 * Only single-statement texts are recognised; anything else is left to the
 * server.
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

enum sqlscan_set_kind {
	SQLSCAN_NOT_SET = 0,
	SQLSCAN_SET,       /* SET [SESSION] name {TO|=} value */
	SQLSCAN_RESET,     /* RESET name, or SET name TO DEFAULT */
	SQLSCAN_RESET_ALL, /* RESET ALL */
};

/*
 * Recognise a session-level SET/RESET as the whole text. value gets the
 * value as a string the server would accept inside a literal: a single
 * quoted string unquoted, anything else (numbers, identifier lists) as
 * written.
 */
enum sqlscan_set_kind sqlscan_set(const char *sql, size_t len, char *name, size_t namelen,
                                  char *value, size_t valuelen);

#endif
