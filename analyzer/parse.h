/*
 * parse.h - bounded SQL parsing with libpg_query: typed trees, fingerprints, normalized text.
 *
 * Threads: libpg_query keeps a memory context per thread. In pgscope exactly one
 * thread parses per process role: the CLI parses on its main thread, the pooler
 * on its single background analysis thread (never on a forwarding thread). A
 * thread that has parsed calls parse_thread_cleanup() before it exits so the
 * context is released deterministically.
 *
 * Every function takes a byte range (sql, len) that need not be NUL-terminated;
 * texts containing a NUL byte or invalid UTF-8 are rejected with an error
 * rather than handed to the parser.
 */
#ifndef PGSCOPE_ANALYZER_PARSE_H
#define PGSCOPE_ANALYZER_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

/* Texts longer than this are counted, not parsed (config: analyze_max_bytes). */
#define PARSE_DEFAULT_MAX_BYTES 65536

/* Outcome of parse_sql() and friends. */
enum parse_status {
	PARSE_OK = 0,
	PARSE_TOO_LARGE,     /* len > max_bytes: not parsed, by design */
	PARSE_INVALID_INPUT, /* NUL byte or invalid UTF-8 */
	PARSE_SYNTAX_ERROR,  /* the parser rejected the text (incl. nesting too deep) */
	PARSE_NO_MEMORY,
};

/* Why a text was not parsed. */
struct parse_error {
	enum parse_status status;
	char message[256]; /* human-readable, always NUL-terminated */
	int offset;        /* byte offset of the error in the text, -1 if unknown */
	int line;          /* 1-based line of offset, 0 if unknown */
};

/* One top-level statement of a parsed text. */
struct parse_stmt {
	const PgQuery__Node *node; /* the statement (SelectStmt, UpdateStmt, ...) */
	size_t raw_offset;         /* start of its region, incl. leading blanks and comments */
	size_t offset;             /* byte offset of its first token in the text */
	size_t len;                /* bytes from offset to its end (the ';' excluded) */
	int line;                  /* 1-based line of offset */
};

/*
 * A parsed text. Owns the unpacked protobuf tree; the statement nodes point into
 * it. Locations inside nodes (the `location` fields) are byte offsets into the
 * text that was parsed. Release with parse_tree_release().
 */
struct parse_tree {
	PgQuery__ParseResult *result; /* unpacked tree, owned */
	struct parse_stmt *stmts;     /* n_stmts entries, owned */
	size_t n_stmts;
};

/*
 * Parse sql[0..len) into *tree. Returns PARSE_OK, or another status with *err
 * filled (err may be NULL). max_bytes of 0 means PARSE_DEFAULT_MAX_BYTES. On
 * failure *tree is left empty and needs no release.
 */
enum parse_status parse_sql(const char *sql, size_t len, size_t max_bytes, struct parse_tree *tree,
                            struct parse_error *err);

/* Free what parse_sql() allocated; the tree is empty afterwards. */
void parse_tree_release(struct parse_tree *tree);

/*
 * Fingerprint of sql[0..len): the 64-bit value and its 16-digit lowercase hex
 * form (hex must hold 17 bytes). Equal for texts that differ only in literals,
 * whitespace and comments.
 */
enum parse_status parse_fingerprint(const char *sql, size_t len, size_t max_bytes, uint64_t *fp,
                                    char hex[17], struct parse_error *err);

/*
 * Normalized text of sql[0..len): literals replaced by $n. Returns a malloc'd
 * string the caller frees, or NULL with *err filled.
 */
char *parse_normalize(const char *sql, size_t len, size_t max_bytes, struct parse_error *err);

/* 1-based line number of byte offset in sql[0..len) (offset clamped to len). */
int parse_line_of(const char *sql, size_t len, size_t offset);

/*
 * Check that sql[0..len) holds no NUL byte and is valid UTF-8. On failure fills
 * *err (may be NULL) with the offending byte's offset.
 */
bool parse_text_valid(const char *sql, size_t len, struct parse_error *err);

/*
 * First offset in text[from..to) that is neither whitespace nor inside a
 * comment (-- to end of line, or nested slash-star blocks as PostgreSQL reads
 * them); to when there is none.
 */
size_t parse_skip_blanks_and_comments(const char *text, size_t from, size_t to);

/*
 * A comment found by the scanner (comments are not in the parse tree).
 * offset/len cover the whole comment including its delimiters.
 */
struct parse_comment {
	size_t offset;
	size_t len;
};

/*
 * Find the comments in sql[0..len) with libpg_query's scanner. Fills up to max
 * entries of out and returns how many comments there are (which may exceed
 * max), or -1 if the text could not be scanned.
 */
int parse_comments(const char *sql, size_t len, struct parse_comment *out, int max);

/*
 * Release this thread's libpg_query memory context (pg_query_exit). Call from
 * every thread that parsed, before it exits; parsing again afterwards is
 * allowed and recreates the context.
 */
void parse_thread_cleanup(void);

#endif
