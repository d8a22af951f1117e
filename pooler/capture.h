/*
 * capture.h - record every completed statement to JSON Lines files (docs/capture.md).
 *
 * Contract with the pooler:
 *   - capture_open() once at start (or on reload after capture_close()).
 *   - capture_submit() from the forwarding thread(s) for each completed
 *     statement. It copies the record into a bounded queue under a short
 *     mutex and returns at once; when the queue is full the record is dropped
 *     and counted. It never does I/O and never waits for the writer.
 *   - A background thread owned by this module formats the records, writes
 *     the normalized text once per fingerprint per file, flushes the file to
 *     the disk within a second (readable even if the process is killed) and
 *     rotates files by size and age. Dropped records and records lost to
 *     write errors are written to the capture as "lost" records (counts and
 *     time ranges) and logged. After a write error it opens no file until a
 *     wait that doubles per failure (up to 5 s) has passed, then resumes.
 *   - capture_close() stops the thread after writing everything queued. It
 *     frees the queue: no capture_submit() may run concurrently with it (join
 *     or stop the submitting threads first).
 * All functions are safe to call when capture is not open (submit then
 * counts nothing and returns false).
 */
#ifndef PGSCOPE_POOLER_CAPTURE_H
#define PGSCOPE_POOLER_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAPTURE_VERSION     1
#define CAPTURE_NAME_MAX    64 /* database, user, application_name, route */
#define CAPTURE_TAG_MAX     32
#define CAPTURE_TRACE_MAX   33         /* 32 hex digits + NUL */
#define CAPTURE_TEXT_MAX    65536      /* longer query texts are cut at this many bytes */
#define CAPTURE_QUEUE_BYTES (8u << 20) /* default queue size */

/*
 * One completed statement. Strings are NUL-terminated; those longer than the
 * buffers are cut. The record is copied by capture_submit(): the caller keeps
 * ownership of everything it points to.
 */
struct capture_record {
	int64_t time_us;      /* completion time, µs since the Unix epoch */
	int64_t duration_us;  /* forward to CommandComplete/ErrorResponse */
	int64_t wait_us;      /* time queued for a server */
	int64_t rows;         /* count from the CommandComplete tag, -1 for none */
	uint64_t fingerprint; /* pg_query fingerprint of the statement */
	uint64_t params_hash; /* hash of parameter values, 0 for none */
	uint64_t xact;        /* pooler-local transaction id; an autocommit statement has its own */
	uint64_t client;      /* pooler-local client id */
	char database[CAPTURE_NAME_MAX];
	char user[CAPTURE_NAME_MAX];
	char application_name[CAPTURE_NAME_MAX];
	char route[CAPTURE_NAME_MAX];     /* "primary" or the replica's name; "" means primary */
	char tag[CAPTURE_TAG_MAX];        /* command tag without counts, e.g. "SELECT" */
	char sqlstate[6];                 /* "" when the statement succeeded */
	char trace_id[CAPTURE_TRACE_MAX]; /* "" when none; see capture_trace_id() */
	const char *query;                /* normalized text (borrowed, may be NULL if unknown) */
	const char *rules; /* ids of the rules the pooler's analysis raised on the text, comma-
	                      separated, "" for none (borrowed); NULL when it was not analysed */
	const char *text;  /* statement as sent (borrowed); written only with literals on */
};

struct capture_stats {
	uint64_t submitted;    /* records accepted into the queue */
	uint64_t written;      /* stmt records flushed to files */
	uint64_t dropped;      /* records dropped because a queue was full */
	uint64_t files;        /* files opened */
	uint64_t write_errors; /* failed writes, flushes or opens */
	uint64_t lost;         /* records taken from the queue but lost to write errors */
};

/*
 * Start capturing into directory dir (created if missing). A file is rotated
 * when it holds max_bytes bytes (0: no limit) or is max_age_ms old (0: no
 * limit). literals writes the statement text with its values. Returns 0, or
 * -1 with errno set (already open: EBUSY).
 */
int capture_open(const char *dir, int64_t max_bytes, int64_t max_age_ms, bool literals);

/* Options read by the next capture_open(): gzip files, queue size in bytes. */
void capture_set_options(bool gzip, size_t queue_bytes);

/* Queue one record; false when it was dropped (queue full or capture closed). */
bool capture_submit(const struct capture_record *rec);

/*
 * Count one statement completed at time_us that never reached capture_submit()
 * (an earlier queue was full), so the capture records it as lost. Same
 * threading rules as capture_submit().
 */
void capture_lost(int64_t time_us);

/* Counters since capture_open(); readable from any thread. */
struct capture_stats capture_stats(void);

/* Write everything queued, stop the writer thread, close the file. */
void capture_close(void);

/*
 * Find a sqlcommenter traceparent='00-<32 hex>-<16 hex>-<2 hex>' in sql and
 * copy the trace id (32 hex digits) into out. Returns false when none.
 */
bool capture_trace_id(const char *sql, char out[CAPTURE_TRACE_MAX]);

#endif
