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

struct parse_arena;

/* Texts longer than this are counted, not parsed (config: analyze_max_bytes). */
#define PARSE_DEFAULT_MAX_BYTES 65536

/*
 * No text longer than this is ever parsed, whatever max_bytes says: the
 * parser's stack is reserved in proportion to it (see parse_run_on_stack).
 */
#define PARSE_HARD_MAX_BYTES ((size_t)4 * 1024 * 1024)

/*
 * Deepest nesting parsed. libpg_query's protobuf output costs time quadratic
 * in tree depth (a 30,000-term "1+1+..." takes seconds), so texts whose token
 * stream implies deeper nesting (parentheses, or operator chains without a
 * comma, AND/OR, CASE arm or parenthesis between them) are rejected first.
 */
#define PARSE_MAX_NESTING      1000
#define PARSE_MAX_CHAIN_TOKENS 8000

/* Outcome of parse_sql() and friends. */
enum parse_status {
	PARSE_OK = 0,
	PARSE_TOO_LARGE,     /* len > max_bytes: not parsed, by design */
	PARSE_INVALID_INPUT, /* NUL byte or invalid UTF-8 */
	PARSE_SYNTAX_ERROR,  /* the parser rejected the text (incl. nesting too deep) */
	PARSE_NO_MEMORY,
	PARSE_TOO_DEEP, /* nesting beyond PARSE_MAX_NESTING: rejected before parsing */
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
	PgQuery__ParseResult *result; /* unpacked tree, owned (allocated in arena) */
	struct parse_arena *arena;    /* memory of the unpacked tree, freed in one go */
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
 * Run fn(arg) on this thread's private parser stack, sized for texts of len
 * bytes: libpg_query and protobuf-c recurse once per tree level, and a
 * left-deep expression has a level per two bytes of text, far deeper than a
 * thread's stack allows. Small texts run directly. Nested calls run directly.
 * Returns false (fn not called) when the stack cannot be mapped. Everything
 * in this header already uses it; engine.c wraps a whole analysis in it.
 */
bool parse_run_on_stack(size_t len, void (*fn)(void *), void *arg);

/* PARSE_HARD_MAX_BYTES, for callers that clamp configuration. */
size_t parse_hard_max_bytes(void);

/*
 * Release what this thread's parsing holds: the private parser stack, and on
 * the main thread libpg_query's memory context (pg_query_exit). Other threads'
 * libpg_query contexts are freed by libpg_query's own thread-exit destructor
 * (pg_query_exit there would free them twice), so on those threads parsing may
 * continue afterwards. On the main thread it is final: libpg_query 15-4.0
 * cannot parse again after pg_query_exit, so later parses fail cleanly with
 * PARSE_NO_MEMORY. Call it from every thread that parsed, before it exits (the
 * main thread: just before exit()).
 */
void parse_thread_cleanup(void);

#endif
