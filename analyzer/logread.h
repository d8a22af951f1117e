/*
 * logread.h - stream statements out of capture files and PostgreSQL logs.
 *
 * One reader per file. It streams: memory is a line buffer and the current
 * record, whatever the file's length. Inputs, detected from the content:
 *   - pgscope capture files (docs/capture.md), JSON Lines;
 *   - PostgreSQL stderr logs with a log_line_prefix (the option log_prefix,
 *     default "%m [%p] "), csvlog and jsonlog, written with
 *     log_min_duration_statement = 0 ("duration: X ms  statement: ..." and
 *     "duration: X ms  execute NAME: ..." forms, multi-line statements,
 *     "DETAIL:  parameters: ..." lines, failed statements);
 * each optionally gzip-compressed.
 */
#ifndef PGSCOPE_ANALYZER_LOGREAD_H
#define PGSCOPE_ANALYZER_LOGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum logread_format {
	LOGREAD_AUTO = 0,
	LOGREAD_CAPTURE,
	LOGREAD_STDERR,
	LOGREAD_CSVLOG,
	LOGREAD_JSONLOG,
};

struct logread_options {
	enum logread_format format; /* LOGREAD_AUTO detects from the first line */
	const char *log_prefix;     /* stderr logs' log_line_prefix; NULL for "%m [%p] " */
};

/*
 * One executed statement. Strings are NUL-terminated and owned by the
 * reader: valid until the next logread_next() or logread_close(). A field
 * the input does not carry is NULL (strings) or -1 (numbers).
 */
struct logread_stmt {
	int64_t time_us; /* µs since the Unix epoch (log time zones other than UTC/offsets read as
	                    UTC) */
	int64_t duration_us;  /* -1 for a failed statement a log gives no duration for */
	int64_t wait_us;      /* pool queue wait (capture only) */
	int64_t rows;         /* rows from the command tag (capture only) */
	uint64_t fingerprint; /* 0 when the input has none: compute it from text */
	uint64_t params_hash; /* 0 when unknown */
	uint64_t xact;        /* transaction id: shared by a transaction's statements */
	uint64_t client;      /* client id (capture) or backend pid / session (logs) */
	bool failed;          /* ended in an error */
	const char *text;     /* statement as executed (logs, capture with literals), or NULL */
	const char *database;
	const char *user;
	const char *application_name;
	const char *tag;
	const char *sqlstate; /* NULL when it succeeded or the log does not say */
	const char *route;    /* "primary" or a replica name; NULL for logs */
	const char *trace_id;
};

/* Normalized text of a fingerprint (capture "query" records). */
struct logread_query {
	uint64_t fingerprint;
	const char *query;
	const char *rules; /* rule ids the pooler raised on its text as sent, comma-separated;
	                      NULL when the capture does not say */
};

/* Statements the pooler completed but could not capture (capture "lost" records). */
struct logread_lost {
	uint64_t statements;
	int64_t from_us;    /* completion time of the first of them */
	int64_t to_us;      /* and of the last */
	const char *reason; /* "queue_full", "write_error", or NULL when not given */
};

enum logread_kind {
	LOGREAD_END = 0,
	LOGREAD_STMT,
	LOGREAD_QUERY,
	LOGREAD_LOST,
};

struct logread_event {
	enum logread_kind kind;
	struct logread_stmt stmt;   /* kind == LOGREAD_STMT */
	struct logread_query query; /* kind == LOGREAD_QUERY */
	struct logread_lost lost;   /* kind == LOGREAD_LOST */
};

struct logread_stats {
	uint64_t lines;   /* physical lines read */
	uint64_t stmts;   /* statements returned */
	uint64_t skipped; /* lines or records not understood, or too long */
	uint64_t bytes;   /* uncompressed bytes read */
	/* 1 when the input ends inside a gzip stream or a record (a writer stopped
	 * abruptly): what came before was read, the rest is missing. */
	uint64_t truncated;
};

struct logread;

/*
 * Open path ("-" for stdin), gzip or not. Returns NULL and writes a message
 * to err on failure. Free with logread_close().
 */
struct logread *logread_open(const char *path, const struct logread_options *opts, char *err,
                             size_t errsize);

/*
 * Next event into ev: returns 1 (ev filled), 0 at end of input, -1 on a read
 * error (message in logread_error()).
 */
int logread_next(struct logread *r, struct logread_event *ev);

/* The format in use (after detection). */
enum logread_format logread_format(const struct logread *r);

const char *logread_format_name(enum logread_format f);

/* Parse "capture|stderr|csvlog|jsonlog|auto"; -1 when unknown. */
int logread_format_parse(const char *name);

struct logread_stats logread_stats(const struct logread *r);

const char *logread_error(const struct logread *r);

void logread_close(struct logread *r);

/*
 * Parse a PostgreSQL timestamp "YYYY-MM-DD HH:MM:SS[.ffffff][ ZONE]" (ZONE
 * UTC, GMT, Z or a numeric offset such as +03, -05:30; other names read as
 * UTC) or RFC 3339 "YYYY-MM-DDTHH:MM:SS[.ffffff]Z". Returns bytes consumed,
 * 0 when s does not start with one.
 */
size_t logread_parse_time(const char *s, size_t n, int64_t *out_us);

#endif
