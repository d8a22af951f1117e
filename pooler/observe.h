/*
 * observe.h - what the pooler learns from the traffic it forwards: every
 * statement text goes to the analyzer, every completed statement to the
 * traffic rules and the capture files.
 *
 * All of that work runs on one background thread (the only thread that
 * parses), never on the forwarding path. The event loop only hashes the text
 * (64-bit FNV-1a) and queues a fixed-size record; a text is copied into the
 * queue only the first time it is seen. When the queue is full, records are
 * dropped and counted: forwarding is never slowed down.
 */
#ifndef PGSCOPE_POOLER_OBSERVE_H
#define PGSCOPE_POOLER_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pooler/config.h"
#include "pooler/stmt.h"

struct observe_stats {
	uint64_t texts;      /* distinct texts queued for analysis */
	uint64_t analyzed;   /* texts the analyzer finished */
	uint64_t flagged;    /* texts with at least one finding */
	uint64_t statements; /* completed statements queued */
	uint64_t dropped;    /* records dropped because the queue was full */
	uint64_t too_long;   /* texts over analyze_max_bytes: counted, not parsed */
};

/*
 * Start the analysis thread (and the capture writer when capture = on).
 * false with a message in err when the [rules] section or capture_dir is
 * invalid. Does nothing (true) when analyze and capture are both off.
 */
bool observe_start(const struct config *cfg, char *err, size_t errlen);

/* Stop the thread after it has drained the queue; close capture. */
void observe_stop(void);

/* true when statements are observed at all. */
bool observe_enabled(void);

/*
 * Which schema a text is analysed against: its database, and how many
 * snapshots of that database's schema were handed over (see schema.h). A
 * text is analysed again when either changes.
 */
struct observe_scope {
	uint64_t db;         /* hash of the database name */
	uint64_t generation; /* schema snapshots of it handed over so far */
};

/*
 * Event loop: the key of a statement text in SCOPE (NULL: no schema),
 * queuing the text for analysis the first time its key is seen. Texts that
 * differ only in literal values share a key. *raw_hash gets a hash of the
 * exact text (for telling parameter values apart). A trailing NUL is
 * ignored.
 */
uint64_t observe_text(const struct observe_scope *scope, const char *sql, size_t len,
                      uint64_t *raw_hash);

struct catalog;

/*
 * Event loop: the schema snapshot CAT of database DB (a struct observe_scope
 * db), for texts queued after it. Ownership passes to the analysis thread,
 * which frees the snapshot it replaces; CAT is freed at once when analysis
 * is off.
 */
void observe_catalog(uint64_t db, struct catalog *cat);

/* Event loop: a statement completed (see stmt_completed()). */
void observe_statement(const struct stmt_event *ev);

/*
 * Event loop: log statements slower than MS milliseconds (query.slow, on the
 * analysis thread), -1 for none; log_min_duration on a reload.
 */
void observe_set_log_min_duration(int ms);

/* Counters (any thread). */
struct observe_stats observe_get_stats(void);

#endif
