/* log.c - structured event lines (logfmt or JSON), one write(2) per line (see log.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "pooler/log.h"

/*
 * A line never exceeds this. Longer events are cut at a character boundary
 * and end with a truncated=true field, so readers still get a parseable line.
 */
#define LOG_LINE_MAX 8192

/* Room kept free at the end of the line for a closing quote, the marker and '}' '\n'. */
#define LOG_LINE_RESERVE 32

/*
 * Process-wide logger state. fd, path and owns_fd change only under lock;
 * json and min_level are atomics so log_enabled() costs one load and the
 * line is formatted without holding the lock.
 */
static struct {
	pthread_mutex_t lock;
	int fd;              /* stderr until log_setup() opens a file */
	bool owns_fd;        /* true when fd is our log file, to close */
	char path[PATH_MAX]; /* empty when writing to stderr */
	int json;            /* atomic: 1 for JSON lines */
	int min_level;       /* atomic: enum log_level */
} logger = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .fd = STDERR_FILENO,
    .min_level = LOG_INFO,
};

/* The line being built; lives on the caller's stack. */
struct log_line {
	char buf[LOG_LINE_MAX];
	size_t len;     /* bytes used */
	bool truncated; /* once set, later appends are ignored */
	bool json;
};

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug", [LOG_INFO] = "info",   [LOG_WARNING] = "warning",
    [LOG_ERROR] = "error", [LOG_FATAL] = "fatal",
};

static const char *level_name(enum log_level level)
{
	if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "unknown";
	return level_names[level];
}

static int open_log_file(const char *path)
{
	int fd;

	do {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	} while (fd == -1 && errno == EINTR);
	return fd;
}

/* Put fd in place of the current target; the old file, if ours, is closed. Caller holds lock. */
static void swap_fd_locked(int fd, bool owns)
{
	if (logger.owns_fd)
		close(logger.fd);
	logger.fd = fd;
	logger.owns_fd = owns;
}

bool log_setup(const char *path, bool json, enum log_level min_level)
{
	int fd = -1;

	if (path != NULL) {
		if (strlen(path) >= sizeof(logger.path)) {
			errno = ENAMETOOLONG;
			return false;
		}
		fd = open_log_file(path);
		if (fd == -1)
			return false;
	}
	pthread_mutex_lock(&logger.lock);
	if (path != NULL) {
		swap_fd_locked(fd, true);
		snprintf(logger.path, sizeof(logger.path), "%s", path);
	} else {
		swap_fd_locked(STDERR_FILENO, false);
		logger.path[0] = '\0';
	}
	__atomic_store_n(&logger.json, json ? 1 : 0, __ATOMIC_RELAXED);
	__atomic_store_n(&logger.min_level, (int)min_level, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&logger.lock);
	return true;
}

/*
 * Reopen by path, so a rotated file is replaced by a fresh one. If the open
 * fails the old descriptor stays in use: losing the log is worse than
 * writing to the rotated file.
 */
bool log_reopen(void)
{
	bool ok = true;
	int fd;

	pthread_mutex_lock(&logger.lock);
	if (logger.path[0] != '\0') {
		fd = open_log_file(logger.path);
		if (fd == -1)
			ok = false;
		else
			swap_fd_locked(fd, true);
	}
	pthread_mutex_unlock(&logger.lock);
	return ok;
}

void log_shutdown(void)
{
	pthread_mutex_lock(&logger.lock);
	swap_fd_locked(STDERR_FILENO, false);
	logger.path[0] = '\0';
	pthread_mutex_unlock(&logger.lock);
}

bool log_enabled(enum log_level level)
{
	return (int)level >= __atomic_load_n(&logger.min_level, __ATOMIC_RELAXED);
}

int log_level_parse(const char *name)
{
	if (name == NULL)
		return -1;
	if (strcasecmp(name, "debug") == 0)
		return LOG_DEBUG;
	if (strcasecmp(name, "info") == 0)
		return LOG_INFO;
	if (strcasecmp(name, "warning") == 0 || strcasecmp(name, "warn") == 0)
		return LOG_WARNING;
	if (strcasecmp(name, "error") == 0)
		return LOG_ERROR;
	return -1;
}

/* --- building a line --- */

/* Bytes still usable for content, keeping the reserve for the line's end. */
static size_t line_room(const struct log_line *l)
{
	/* A closing quote may already sit in the reserve. */
	if (l->len >= LOG_LINE_MAX - LOG_LINE_RESERVE)
		return 0;
	return LOG_LINE_MAX - LOG_LINE_RESERVE - l->len;
}

/* Append n bytes whole, or mark the line truncated and append nothing. */
static bool line_put(struct log_line *l, const char *s, size_t n)
{
	if (l->truncated)
		return false;
	if (n > line_room(l)) {
		l->truncated = true;
		return false;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return true;
}

static bool line_puts(struct log_line *l, const char *s)
{
	return line_put(l, s, strlen(s));
}

/*
 * Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0 if
 * the bytes there are not one (overlong forms, surrogates and code points
 * above U+10FFFF count as invalid).
 */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len, i;
	unsigned int cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* true when a logfmt value must be quoted to be read back as one token. */
static bool logfmt_needs_quote(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		if (p[i] <= ' ' || p[i] == '"' || p[i] == '=' || p[i] == '\\' || p[i] == 0x7f)
			return true;
		if (p[i] >= 0x80) {
			size_t len = utf8_seq_len(p + i, n - i);

			if (len == 0)
				return true;
			i += len - 1;
		}
	}
	return false;
}

/*
 * Append s as the body of a quoted string (without the quotes). Both formats
 * share the escapes \" \\ \n \r \t; other control characters become \u00XX
 * in JSON and \xXX in logfmt; bytes that are not valid UTF-8 become the text
 * \xXX in both (in JSON the backslash itself is escaped), so any input gives
 * a valid, single-line string. Stops at a character boundary when full.
 */
static void line_put_escaped(struct log_line *l, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	char esc[8];

	for (size_t i = 0; i < n && !l->truncated;) {
		unsigned char c = p[i];
		size_t len;

		switch (c) {
		case '"':
			line_put(l, "\\\"", 2);
			i++;
			continue;
		case '\\':
			line_put(l, "\\\\", 2);
			i++;
			continue;
		case '\n':
			line_put(l, "\\n", 2);
			i++;
			continue;
		case '\r':
			line_put(l, "\\r", 2);
			i++;
			continue;
		case '\t':
			line_put(l, "\\t", 2);
			i++;
			continue;
		default:
			break;
		}
		if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), l->json ? "\\u%04x" : "\\x%02x", c);
			line_puts(l, esc);
			i++;
			continue;
		}
		len = utf8_seq_len(p + i, n - i);
		if (len == 0) {
			snprintf(esc, sizeof(esc), l->json ? "\\\\x%02x" : "\\x%02x", c);
			line_puts(l, esc);
			i++;
			continue;
		}
		line_put(l, s + i, len);
		i += len;
	}
}

/*
 * Keys come from the code, not from clients, but a stray character must not
 * break the line's syntax: anything but [A-Za-z0-9_.-] becomes '_'.
 */
static void line_put_key(struct log_line *l, const char *key)
{
	char k[64];
	size_t i;

	for (i = 0; i < sizeof(k) - 1 && key[i] != '\0'; i++) {
		char c = key[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';

		k[i] = ok ? c : '_';
	}
	k[i] = '\0';
	line_puts(l, k);
}

/*
 * Callers must not log secrets; this is the safety net for a mistake: a
 * field whose key says it holds one is written as "redacted".
 */
static bool key_is_secret(const char *key)
{
	char lower[64];
	size_t i;

	for (i = 0; i < sizeof(lower) - 1 && key[i] != '\0'; i++)
		lower[i] = (char)tolower((unsigned char)key[i]);
	lower[i] = '\0';
	return strstr(lower, "password") != NULL || strstr(lower, "secret") != NULL;
}

/*
 * One string field. The key and the opening of the value go in whole or
 * not at all; the value itself may be cut, and its quote is always closed.
 */
static void line_field_str(struct log_line *l, const char *key, const char *value)
{
	size_t start = l->len;
	bool quote;

	if (l->truncated)
		return;
	if (value == NULL)
		value = "";
	else if (key_is_secret(key))
		value = "redacted";
	quote = l->json || logfmt_needs_quote(value);
	line_puts(l, l->json ? ",\"" : " ");
	line_put_key(l, key);
	line_puts(l, l->json ? "\":" : "=");
	if (quote)
		line_put(l, "\"", 1);
	if (l->truncated) {
		/* Not even the key fit: drop the partial field. */
		l->len = start;
		return;
	}
	if (quote)
		line_put_escaped(l, value);
	else
		line_puts(l, value);
	if (quote)
		l->buf[l->len++] = '"'; /* the reserve always has room for it */
}

static void line_field_int(struct log_line *l, const char *key, long long value)
{
	size_t start = l->len;
	char num[32];

	if (l->truncated)
		return;
	snprintf(num, sizeof(num), "%lld", value);
	line_puts(l, l->json ? ",\"" : " ");
	line_put_key(l, key);
	line_puts(l, l->json ? "\":" : "=");
	line_puts(l, num);
	if (l->truncated)
		l->len = start;
}

static void line_begin(struct log_line *l, enum log_level level, const char *event)
{
	struct timespec ts;
	struct tm tm;
	char stamp[80];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* Not strftime(): glibc's consults the time zone on every call. */
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         (int)(ts.tv_nsec / 1000000));

	if (l->json) {
		line_puts(l, "{\"ts\":\"");
		line_puts(l, stamp);
		line_puts(l, "\",\"level\":\"");
		line_puts(l, level_name(level));
		line_puts(l, "\"");
	} else {
		line_puts(l, "ts=");
		line_puts(l, stamp);
		line_puts(l, " level=");
		line_puts(l, level_name(level));
	}
	line_field_str(l, "event", event);
}

/* Close the line; the reserve guarantees the marker and terminator fit. */
static void line_end(struct log_line *l)
{
	const char *tail;

	if (l->json)
		tail = l->truncated ? ",\"truncated\":true}\n" : "}\n";
	else
		tail = l->truncated ? " truncated=true\n" : "\n";
	memcpy(l->buf + l->len, tail, strlen(tail));
	l->len += strlen(tail);
}

/* Write all of l to fd, finishing a short write (disk full, signal) with further writes. */
static void line_write_fd(const struct log_line *l, int fd)
{
	size_t off = 0;

	while (off < l->len) {
		ssize_t n = write(fd, l->buf + off, l->len - off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* nowhere left to report a logging failure */
		off += (size_t)n;
	}
}

/*
 * One write(2) under the lock, so lines from several threads never mix even
 * on pipes where writes over PIPE_BUF are not atomic. A fatal event goes to
 * stderr as well when the log is a file: whoever started the process is
 * watching the terminal, not the log, when it refuses to start.
 */
static void line_write(const struct log_line *l, enum log_level level)
{
	pthread_mutex_lock(&logger.lock);
	line_write_fd(l, logger.fd);
	if (level >= LOG_FATAL && logger.fd != STDERR_FILENO)
		line_write_fd(l, STDERR_FILENO);
	pthread_mutex_unlock(&logger.lock);
}

void log_event(enum log_level level, const char *event, ...)
{
	struct log_line line;
	va_list ap;
	int type;

	if (!log_enabled(level))
		return;
	line.len = 0;
	line.truncated = false;
	line.json = __atomic_load_n(&logger.json, __ATOMIC_RELAXED) != 0;
	line_begin(&line, level, event);

	va_start(ap, event);
	for (;;) {
		const char *key;

		/* va_start() is above; clang-analyzer 14 loses track of it here. */
		type = va_arg(ap, int); // NOLINT(clang-analyzer-valist.Uninitialized)
		if (type == LOG_END)
			break;
		key = va_arg(ap, const char *);

		if (type == LOG_STR) {
			line_field_str(&line, key, va_arg(ap, const char *));
		} else if (type == LOG_INT) {
			line_field_int(&line, key, va_arg(ap, long long));
		} else {
			/* An unknown tag means the argument list cannot be walked further. */
			line_field_str(&line, "log_error", "bad field type");
			break;
		}
	}
	va_end(ap);

	line_end(&line);
	line_write(&line, level);
}
