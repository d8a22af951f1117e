/*
 * log.h - structured logging for the pooler and the command line.
 *
 * Each line is one event with typed fields, written as logfmt
 * (ts=... level=info event=client.login user=app db=shop) or as one JSON
 * object per line, chosen in the config (log_format). Passwords and secrets
 * are never passed to the logger: callers log user names and addresses only
 * (as a safety net, a field whose key contains "password" or "secret" is
 * written as "redacted").
 */
#ifndef PGSCOPE_POOLER_LOG_H
#define PGSCOPE_POOLER_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARNING,
	LOG_ERROR,
	LOG_FATAL,
};

/* Field type tags for log_event(); the list ends with LOG_END. */
enum log_field_type {
	LOG_END = 0,
	LOG_STR, /* followed by const char *key, const char *value (NULL prints as empty) */
	LOG_INT, /* followed by const char *key, long long value */
};

/*
 * Configure the process logger. path NULL writes to stderr. json selects JSON
 * lines instead of logfmt. Returns false (and leaves the old target) if path
 * cannot be opened for appending.
 */
bool log_setup(const char *path, bool json, enum log_level min_level);

/* Reopen the log file (after rotation, on SIGHUP). */
bool log_reopen(void);

/* Close the log file; later events go to stderr. */
void log_shutdown(void);

/* true when events at level would be written. */
bool log_enabled(enum log_level level);

/*
 * Write one event: a level, a dotted event name ("client.login",
 * "server.error") and typed fields, e.g.
 *   log_event(LOG_INFO, "client.login", LOG_STR, "user", u, LOG_INT, "pid", 42LL, LOG_END);
 * Values are quoted/escaped as the format requires.
 */
void log_event(enum log_level level, const char *event, ...);

/* Parse "debug|info|warning|error"; returns -1 if unknown. */
int log_level_parse(const char *name);

#endif
