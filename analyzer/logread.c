/* logread.c - open an input, detect its format, read lines, and parse what all log formats share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer/logread_int.h"

bool logread_buf_reserve(struct logread_buf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return true;
	if (b->len + n + 1 > LOGREAD_LINE_MAX)
		return false;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (!d)
		return false;
	b->data = d;
	b->cap = cap;
	return true;
}

bool logread_buf_append(struct logread_buf *b, const char *s, size_t n)
{
	if (!logread_buf_reserve(b, n))
		return false;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

void logread_buf_release(struct logread_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

uint64_t logread_hash(const void *data, size_t n, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Read more input after the unread bytes; false at end of input or error. */
static bool fill(struct logread *r)
{
	if (r->eof)
		return false;
	if (r->pos > 0) {
		memmove(r->chunk, r->chunk + r->pos, r->len - r->pos);
		r->len -= r->pos;
		r->pos = 0;
	}
	if (r->chunk_cap - r->len < LOGREAD_CHUNK / 2) {
		if (r->chunk_cap >= LOGREAD_LINE_MAX)
			return false; /* caller treats a full buffer as an overlong line */
		size_t cap = r->chunk_cap * 2;
		char *c = realloc(r->chunk, cap + 1);
		if (!c)
			return false;
		r->chunk = c;
		r->chunk_cap = cap;
	}
	int n = gzread(r->in, r->chunk + r->len, (unsigned)(r->chunk_cap - r->len));
	if (n <= 0) {
		/* A gzip stream cut short (its writer was killed) ends the input, not in error. */
		int zerr = Z_OK;
		gzerror(r->in, &zerr);
		if (zerr == Z_BUF_ERROR)
			r->stats.truncated = 1;
	}
	if (n < 0) {
		int zerr;
		snprintf(r->error, sizeof(r->error), "read error: %s", gzerror(r->in, &zerr));
		r->eof = true;
		return false;
	}
	if (n == 0) {
		r->eof = true;
		return false;
	}
	r->len += (size_t)n;
	r->stats.bytes += (uint64_t)n;
	return true;
}

/* Throw away the rest of a line too long for the buffer. */
static void skip_line(struct logread *r)
{
	r->stats.skipped++;
	r->pos = r->len = 0;
	while (fill(r)) {
		char *e = memchr(r->chunk, '\n', r->len);
		if (e) {
			r->pos = (size_t)(e - r->chunk) + 1;
			return;
		}
		r->len = 0;
	}
}

bool logread_line(struct logread *r, char **line, size_t *len)
{
	size_t scanned = 0;
	for (;;) {
		size_t avail = r->len - r->pos;
		char *start = r->chunk + r->pos;
		char *nl = memchr(start + scanned, '\n', avail - scanned);
		if (!nl && !r->eof) {
			scanned = avail;
			if (!fill(r) && !r->eof) {
				skip_line(r);
				scanned = 0;
			}
			continue;
		}
		if (!nl && avail == 0)
			return false;
		size_t n = nl ? (size_t)(nl - start) : avail;
		r->mark_start = r->pos;
		r->mark_end = r->pos + n;
		r->mark_saved = nl ? '\n' : '\0';
		r->pos += n + (nl ? 1 : 0);
		start[n] = '\0';
		if (n > 0 && start[n - 1] == '\r')
			start[--n] = '\0';
		*line = start;
		*len = n;
		r->stats.lines++;
		return true;
	}
}

void logread_unread(struct logread *r, size_t len)
{
	(void)len;
	r->chunk[r->mark_end] = r->mark_saved;
	if (r->mark_end > r->mark_start && r->chunk[r->mark_end - 1] == '\0')
		r->chunk[r->mark_end - 1] = '\r';
	r->pos = r->mark_start;
	r->stats.lines--;
}

/* ---- time ------------------------------------------------------------- */

static int digits(const char *s, size_t n, size_t at, size_t count, int *out)
{
	int v = 0;
	if (at + count > n)
		return 0;
	for (size_t i = 0; i < count; i++) {
		char c = s[at + i];
		if (c < '0' || c > '9')
			return 0;
		v = v * 10 + (c - '0');
	}
	*out = v;
	return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

size_t logread_parse_time(const char *s, size_t n, int64_t *out_us)
{
	int y, mo, d, h, mi, sec;
	if (!digits(s, n, 0, 4, &y) || n < 19 || s[4] != '-' || !digits(s, n, 5, 2, &mo) ||
	    s[7] != '-' || !digits(s, n, 8, 2, &d) || (s[10] != ' ' && s[10] != 'T') ||
	    !digits(s, n, 11, 2, &h) || s[13] != ':' || !digits(s, n, 14, 2, &mi) || s[16] != ':' ||
	    !digits(s, n, 17, 2, &sec))
		return 0;
	size_t i = 19;
	int64_t frac = 0;
	if (i < n && s[i] == '.') {
		int64_t scale = 100000;
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			frac += (s[i] - '0') * scale;
			scale /= 10;
			i++;
		}
	}
	int64_t offset_s = 0;
	if (i < n && (s[i] == 'Z' || s[i] == '+' || s[i] == '-')) {
		/* RFC 3339 zone directly after the time. */
	} else if (i + 1 < n && s[i] == ' ' &&
	           (s[i + 1] == '+' || s[i + 1] == '-' || (s[i + 1] >= 'A' && s[i + 1] <= 'Z'))) {
		i++;
	}
	if (i < n && (s[i] == '+' || s[i] == '-')) {
		int sign = s[i] == '-' ? -1 : 1;
		int oh = 0, om = 0;
		if (digits(s, n, i + 1, 2, &oh)) {
			i += 3;
			if (i < n && s[i] == ':')
				i++;
			if (digits(s, n, i, 2, &om))
				i += 2;
			offset_s = (int64_t)sign * ((int64_t)oh * 3600 + (int64_t)om * 60);
		}
	} else {
		while (i < n && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
			i++;
	}
	int64_t t = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec -
	            offset_s;
	*out_us = t * 1000000 + frac;
	return i;
}

/* ---- messages --------------------------------------------------------- */

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

void logread_parse_msg(char *msg, struct logread_msg *out)
{
	memset(out, 0, sizeof(*out));
	if (starts(msg, "parameters: ")) {
		out->kind = LOGREAD_MSG_PARAMS;
		out->sql = msg + 12;
		return;
	}
	if (!starts(msg, "duration: "))
		return;
	char *p = msg + 10;
	char *end;
	double ms = strtod(p, &end);
	if (end == p || !starts(end, " ms"))
		return;
	p = end + 3;
	while (*p == ' ')
		p++;
	if (starts(p, "statement: ")) {
		out->sql = p + 11;
	} else if (starts(p, "execute ")) {
		/* "execute NAME: SQL", NAME may be "<unnamed>" or "S_1/C_2". */
		char *colon = strstr(p + 8, ": ");
		if (!colon)
			return;
		out->sql = colon + 2;
	} else {
		return; /* parse/bind steps and bare durations are not executions */
	}
	out->kind = LOGREAD_MSG_STMT;
	out->duration_us = (int64_t)(ms * 1000.0 + 0.5);
}

/* ---- open and dispatch ------------------------------------------------ */

static enum logread_format detect(struct logread *r)
{
	char *line;
	size_t len;
	if (!logread_line(r, &line, &len))
		return LOGREAD_STDERR;
	enum logread_format f = LOGREAD_STDERR;
	if (line[0] == '{') {
		f = strstr(line, "\"type\":\"header\"") ? LOGREAD_CAPTURE : LOGREAD_JSONLOG;
		if (f == LOGREAD_JSONLOG && strstr(line, "\"type\":\"stmt\""))
			f = LOGREAD_CAPTURE;
	} else {
		int64_t t;
		size_t used = logread_parse_time(line, len, &t);
		/* csvlog: "<time>,<user or empty>,..." with quoted fields. */
		if (used > 0 && line[used] == ',')
			f = LOGREAD_CSVLOG;
	}
	logread_unread(r, len);
	return f;
}

const char *logread_format_name(enum logread_format f)
{
	switch (f) {
	case LOGREAD_AUTO:
		return "auto";
	case LOGREAD_CAPTURE:
		return "capture";
	case LOGREAD_STDERR:
		return "stderr";
	case LOGREAD_CSVLOG:
		return "csvlog";
	case LOGREAD_JSONLOG:
		return "jsonlog";
	}
	return "unknown";
}

int logread_format_parse(const char *name)
{
	for (int f = LOGREAD_AUTO; f <= LOGREAD_JSONLOG; f++) {
		if (strcmp(name, logread_format_name((enum logread_format)f)) == 0)
			return f;
	}
	return -1;
}

struct logread *logread_open(const char *path, const struct logread_options *opts, char *err,
                             size_t errsize)
{
	static const struct logread_options defaults = {LOGREAD_AUTO, NULL};
	struct logread *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errsize, "%s: out of memory", path);
		return NULL;
	}
	r->opts = opts ? opts : &defaults;
	snprintf(r->prefix, sizeof(r->prefix), "%s",
	         r->opts->log_prefix ? r->opts->log_prefix : "%m [%p] ");
	r->chunk_cap = LOGREAD_CHUNK;
	r->chunk = malloc(r->chunk_cap + 1);
	if (!r->chunk) {
		snprintf(err, errsize, "%s: out of memory", path);
		goto out_free;
	}
	/* gzdopen/gzopen read plain files transparently. */
	r->in = strcmp(path, "-") == 0 ? gzdopen(dup(STDIN_FILENO), "rb") : gzopen(path, "rb");
	if (!r->in) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno ? errno : ENOENT));
		goto out_free;
	}
	gzbuffer(r->in, 256 * 1024);
	r->format = r->opts->format != LOGREAD_AUTO ? r->opts->format : detect(r);
	int rc = -1;
	switch (r->format) {
	case LOGREAD_CAPTURE:
		rc = logread_capture_init(r);
		break;
	case LOGREAD_STDERR:
		rc = logread_stderr_init(r);
		break;
	case LOGREAD_CSVLOG:
		rc = logread_csvlog_init(r);
		break;
	case LOGREAD_JSONLOG:
		rc = logread_jsonlog_init(r);
		break;
	case LOGREAD_AUTO:
		break;
	}
	if (rc != 0) {
		snprintf(err, errsize, "%s: %s", path, r->error[0] ? r->error : "cannot read");
		goto out_close;
	}
	return r;

out_close:
	gzclose(r->in);
out_free:
	free(r->chunk);
	free(r);
	return NULL;
}

int logread_next(struct logread *r, struct logread_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	int rc = r->next(r, ev);
	if (rc > 0 && ev->kind == LOGREAD_STMT)
		r->stats.stmts++;
	if (rc == 0 && r->error[0])
		return -1;
	return rc;
}

enum logread_format logread_format(const struct logread *r)
{
	return r->format;
}

struct logread_stats logread_stats(const struct logread *r)
{
	return r->stats;
}

const char *logread_error(const struct logread *r)
{
	return r->error;
}

void logread_close(struct logread *r)
{
	if (!r)
		return;
	if (r->release)
		r->release(r);
	gzclose(r->in);
	free(r->chunk);
	free(r);
}
