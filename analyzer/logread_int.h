/*
 * logread_int.h - what the per-format readers (logread_*.c) share with logread.c.
 * Not part of the analyzer's public interface.
 */
#ifndef PGSCOPE_ANALYZER_LOGREAD_INT_H
#define PGSCOPE_ANALYZER_LOGREAD_INT_H

#include <zlib.h>

#include "analyzer/logread.h"

#define LOGREAD_LINE_MAX (64u << 20) /* longer lines and records are skipped */
#define LOGREAD_CHUNK    (1u << 20)

/* A growable byte buffer, bounded by LOGREAD_LINE_MAX. */
struct logread_buf {
	char *data;
	size_t len;
	size_t cap;
};

bool logread_buf_reserve(struct logread_buf *b, size_t n);
bool logread_buf_append(struct logread_buf *b, const char *s, size_t n);
void logread_buf_release(struct logread_buf *b);

struct logread {
	gzFile in;
	enum logread_format format;
	struct logread_stats stats;
	char error[256];
	/* Line reader: [pos, len) of chunk is unread input. */
	char *chunk;
	size_t chunk_cap;
	size_t pos;
	size_t len;
	bool eof;
	size_t mark_start; /* last line's start, for logread_unread() */
	size_t mark_end;   /* where its terminator was */
	char mark_saved;   /* the terminator byte overwritten by NUL */
	/* Format state, owned by the format's reader. */
	void *state;
	int (*next)(struct logread *r, struct logread_event *ev);
	void (*release)(struct logread *r);
	const struct logread_options *opts;
	char prefix[256]; /* copy of opts->log_prefix */
};

/*
 * Next line without its '\n' (and '\r'), NUL-terminated, writable, valid until
 * the next call. Returns false at end of input or on a read error (r->error
 * set).
 */
bool logread_line(struct logread *r, char **line, size_t *len);

/* Push the last line back so the next logread_line() returns it again. */
void logread_unread(struct logread *r, size_t len);

int logread_capture_init(struct logread *r);
int logread_stderr_init(struct logread *r);
int logread_csvlog_init(struct logread *r);
int logread_jsonlog_init(struct logread *r);

/*
 * What a PostgreSQL log message says about a statement. Parsed from the
 * message text of any of the three log formats.
 */
enum logread_msg_kind {
	LOGREAD_MSG_OTHER = 0,
	LOGREAD_MSG_STMT,   /* "duration: X ms  statement: SQL" or "... execute NAME: SQL" */
	LOGREAD_MSG_PARAMS, /* "parameters: $1 = ..." (a DETAIL) */
};

struct logread_msg {
	enum logread_msg_kind kind;
	int64_t duration_us;
	char *sql; /* inside the message */
};

/* Parse a LOG message body (after "LOG:  "); msg is not modified. */
void logread_parse_msg(char *msg, struct logread_msg *out);

/* One PostgreSQL log record, as the stderr, csvlog and jsonlog readers see it. */
#define LOGREAD_NAME_MAX 64
struct logread_pgrec {
	int64_t time_us;
	uint64_t session; /* backend pid or session id hash: the "client" */
	char user[LOGREAD_NAME_MAX];
	char database[LOGREAD_NAME_MAX];
	char application_name[LOGREAD_NAME_MAX];
	char sqlstate[6];
	char severity[16];
	char *message;   /* after "SEVERITY:  " */
	char *detail;    /* csvlog/jsonlog detail field, or NULL */
	char *statement; /* csvlog/jsonlog statement of an error, or NULL */
};

/* One statement assembled from log records, owned by the pg state machine. */
struct logread_slot {
	bool used;
	struct logread_stmt st;
	struct logread_buf text;
	char user[LOGREAD_NAME_MAX];
	char database[LOGREAD_NAME_MAX];
	char application_name[LOGREAD_NAME_MAX];
	char sqlstate[6];
};

/*
 * Turns PostgreSQL log records into statements. A statement is held back one
 * record so a following "DETAIL:  parameters: ..." (stderr logs) can be
 * attached, and an ERROR is remembered until its "STATEMENT:" record.
 */
/* Sessions inside a BEGIN ... COMMIT block, and the block's transaction id. */
#define LOGREAD_BLOCKS 4096 /* power of two; when full the table is cleared */
struct logread_block {
	uint64_t session; /* 0: empty */
	uint64_t xact;
};

struct logread_pg {
	struct logread_slot slots[2];
	struct logread_block *blocks; /* LOGREAD_BLOCKS entries */
	size_t n_blocks;
	uint64_t next_xact;
	int pending;          /* slot index holding a statement, or -1 */
	int emitted;          /* slot returned by the last call, or -1 */
	uint64_t err_session; /* session of the last ERROR awaiting its STATEMENT */
	char err_sqlstate[6];
	bool err_waiting;
};

void logread_pg_init(struct logread_pg *pg);
void logread_pg_release(struct logread_pg *pg);

/* Feed one record; returns true and fills ev when a statement is complete. */
bool logread_pg_feed(struct logread_pg *pg, const struct logread_pgrec *rec,
                     struct logread_event *ev);

/* At end of input: returns true and fills ev with a held-back statement. */
bool logread_pg_finish(struct logread_pg *pg, struct logread_event *ev);

/* 64-bit FNV-1a, used for parameter hashes and session ids. */
uint64_t logread_hash(const void *data, size_t n, uint64_t seed);

#endif
