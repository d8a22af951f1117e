/* capture.c - bounded statement queue and the background thread that writes capture files. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "pooler/capture.h"
#include "pooler/condwait.h"
#include "pooler/log.h"

/* The strings of a record, in the order they follow an entry's header in the queue. */
enum entry_str {
	S_DATABASE,
	S_USER,
	S_APP,
	S_ROUTE,
	S_TAG,
	S_SQLSTATE,
	S_TRACE,
	S_QUERY,
	S_TEXT,
	S_RULES,
	S_COUNT,
};

/*
 * Header of one queued entry: the record's numbers, then its strings packed
 * back to back (only their lengths are copied, so a typical entry is a
 * third of struct capture_record).
 */
struct entry_head {
	uint32_t size;      /* whole entry, header included, rounded up to 8 */
	uint32_t has_query; /* query was non-NULL */
	uint32_t has_rules; /* rules was non-NULL */
	uint32_t len[S_COUNT];
	int64_t time_us;
	int64_t duration_us;
	int64_t wait_us;
	int64_t rows;
	uint64_t fingerprint;
	uint64_t params_hash;
	uint64_t xact;
	uint64_t client;
};

#define ENTRY_ALIGN 8
#define OUT_FLUSH   ((size_t)64 * 1024) /* hand formatted bytes to zlib in pieces this big */
#define WAKE_MS     10                  /* the writer wakes this often to rotate by age */
#define BATCH_BYTES (64u << 10)         /* bounds how long take_batch() holds the lock */
/*
 * Records reach the disk within FLUSH_MS (plus a wake-up): a Z_SYNC_FLUSH
 * that long after the last one, so a file whose writer was killed reads up to
 * there even without a gzip trailer.
 */
#define FLUSH_MS 500
/* After a write error no file is opened for a wait that doubles per failure. */
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 5000
#define LOG_EVERY_MS 10000 /* at most one log line per kind of loss this often */

/* Statements not captured, for one "lost" record. */
struct lost {
	uint64_t n;
	int64_t from_us; /* completion time of the earliest */
	int64_t to_us;   /* and of the latest */
};

enum lost_reason {
	LOST_QUEUE, /* a queue was full */
	LOST_WRITE, /* a write failed */
	LOST_REASONS,
};

static const char *const lost_reason_name[LOST_REASONS] = {"queue_full", "write_error"};

/* Fingerprints already described by a "query" record in the current file. */
struct fpset {
	uint64_t *slots; /* 0 is the empty slot; fingerprint 0 is stored as 1 */
	size_t cap;      /* power of two */
	size_t used;
};

struct capture {
	pthread_mutex_t lock; /* protects the ring and the counters below */
	pthread_cond_t wake;
	unsigned char *ring;
	size_t cap;
	uint64_t head; /* bytes ever written */
	uint64_t tail; /* bytes ever consumed */
	bool stop;
	bool writer_waiting; /* the writer sleeps on wake */
	bool writer_idle;    /* ... with nothing due soon: the next record wakes it */
	struct capture_stats stats;
	struct lost queue_lost; /* dropped since the writer last took them */

	/* Writer thread state, touched only by the writer. */
	pthread_t thread;
	char dir[4096];
	int64_t max_bytes;
	int64_t max_age_ms;
	bool literals;
	bool gzip;
	gzFile out;
	char path[4096 + 160]; /* of out */
	int64_t out_bytes;
	int64_t out_opened_ms;
	int64_t synced_ms;                       /* out was last flushed to the disk */
	bool out_synced;                         /* some of out is known to be on the disk */
	int64_t synced_bytes;                    /* out's length at that flush */
	struct lost unsynced;                    /* stmt records in out since that flush */
	struct lost lost[LOST_REASONS];          /* losses not yet in a "lost" record */
	struct lost lost_unsynced[LOST_REASONS]; /* in "lost" records of out since that flush */
	bool failing;                            /* since a write error, until a flush works */
	int last_errno;
	int64_t failed_ms;      /* when failing began */
	int64_t retry_ms;       /* while failing, no file is opened before this */
	int64_t backoff_ms;     /* the wait before retry_ms */
	int64_t fail_logged_ms; /* last capture.write_failed line */
	int64_t drop_logged_ms; /* last capture.dropped line */
	uint64_t drops_unlogged;
	unsigned seq;
	struct fpset seen;
	char *buf; /* formatting buffer, OUT_FLUSH + slack */
	size_t buf_len;
	size_t buf_cap;
};

static struct capture *cap_g;
static pthread_mutex_t cap_open_lock = PTHREAD_MUTEX_INITIALIZER;
static bool opt_gzip;
static size_t opt_queue_bytes = CAPTURE_QUEUE_BYTES;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t bounded_len(const char *s, size_t max)
{
	return s ? strnlen(s, max) : 0;
}

static void lost_merge(struct lost *into, const struct lost *l)
{
	if (l->n == 0)
		return;
	if (into->n == 0 || l->from_us < into->from_us)
		into->from_us = l->from_us;
	if (into->n == 0 || l->to_us > into->to_us)
		into->to_us = l->to_us;
	into->n += l->n;
}

static void lost_add(struct lost *l, int64_t time_us)
{
	const struct lost one = {1, time_us, time_us};
	lost_merge(l, &one);
}

static void ring_put(struct capture *c, uint64_t pos, const void *src, size_t n)
{
	size_t off = pos % c->cap;
	size_t first = c->cap - off < n ? c->cap - off : n;
	memcpy(c->ring + off, src, first);
	memcpy(c->ring, (const unsigned char *)src + first, n - first);
}

static void ring_get(const struct capture *c, uint64_t pos, void *dst, size_t n)
{
	size_t off = pos % c->cap;
	size_t first = c->cap - off < n ? c->cap - off : n;
	memcpy(dst, c->ring + off, first);
	memcpy((unsigned char *)dst + first, c->ring, n - first);
}

void capture_set_options(bool gzip, size_t queue_bytes)
{
	opt_gzip = gzip;
	opt_queue_bytes = queue_bytes >= 4096 ? queue_bytes : 4096;
}

bool capture_submit(const struct capture_record *rec)
{
	struct capture *c = cap_g;
	if (!c)
		return false;
	const char *str[S_COUNT] = {
	    [S_DATABASE] = rec->database, [S_USER] = rec->user,   [S_APP] = rec->application_name,
	    [S_ROUTE] = rec->route,       [S_TAG] = rec->tag,     [S_SQLSTATE] = rec->sqlstate,
	    [S_TRACE] = rec->trace_id,    [S_QUERY] = rec->query, [S_TEXT] = rec->text,
	    [S_RULES] = rec->rules,
	};
	const size_t max[S_COUNT] = {
	    [S_DATABASE] = sizeof(rec->database),
	    [S_USER] = sizeof(rec->user),
	    [S_APP] = sizeof(rec->application_name),
	    [S_ROUTE] = sizeof(rec->route),
	    [S_TAG] = sizeof(rec->tag),
	    [S_SQLSTATE] = sizeof(rec->sqlstate),
	    [S_TRACE] = sizeof(rec->trace_id),
	    [S_QUERY] = CAPTURE_TEXT_MAX,
	    [S_TEXT] = CAPTURE_TEXT_MAX,
	    [S_RULES] = 1024,
	};
	struct entry_head h;
	memset(&h, 0, sizeof(h));
	size_t size = sizeof(h);
	for (int i = 0; i < S_COUNT; i++) {
		h.len[i] = (uint32_t)bounded_len(str[i], max[i]);
		size += h.len[i];
	}
	size = (size + ENTRY_ALIGN - 1) & ~(size_t)(ENTRY_ALIGN - 1);
	h.size = (uint32_t)size;
	h.has_query = rec->query != NULL;
	h.has_rules = rec->rules != NULL;
	h.time_us = rec->time_us;
	h.duration_us = rec->duration_us;
	h.wait_us = rec->wait_us;
	h.rows = rec->rows;
	h.fingerprint = rec->fingerprint;
	h.params_hash = rec->params_hash;
	h.xact = rec->xact;
	h.client = rec->client;

	pthread_mutex_lock(&c->lock);
	uint64_t used = c->head - c->tail;
	if (c->stop || size > c->cap - used) {
		c->stats.dropped++;
		lost_add(&c->queue_lost, rec->time_us);
		pthread_mutex_unlock(&c->lock);
		return false;
	}
	uint64_t pos = c->head;
	ring_put(c, pos, &h, sizeof(h));
	pos += sizeof(h);
	for (int i = 0; i < S_COUNT; i++) {
		if (h.len[i] == 0)
			continue;
		ring_put(c, pos, str[i], h.len[i]);
		pos += h.len[i];
	}
	c->head += size;
	c->stats.submitted++;
	/*
	 * While records flow the writer polls every WAKE_MS; it is woken early
	 * only when the queue is half full, or by the first record after it went
	 * idle, so the forwarding thread makes no system call per record.
	 */
	if (c->writer_waiting && (c->writer_idle || used + size > c->cap / 2)) {
		c->writer_idle = false;
		c->writer_waiting = false;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
	return true;
}

struct capture_stats capture_stats(void)
{
	struct capture_stats s;
	memset(&s, 0, sizeof(s));
	pthread_mutex_lock(&cap_open_lock);
	struct capture *c = cap_g;
	if (c) {
		pthread_mutex_lock(&c->lock);
		s = c->stats;
		pthread_mutex_unlock(&c->lock);
		s.written = __atomic_load_n(&c->stats.written, __ATOMIC_RELAXED);
		s.write_errors = __atomic_load_n(&c->stats.write_errors, __ATOMIC_RELAXED);
		s.lost = __atomic_load_n(&c->stats.lost, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&cap_open_lock);
	return s;
}

/* ---- fingerprint set -------------------------------------------------- */

static bool fpset_add(struct fpset *s, uint64_t fp)
{
	if (fp == 0)
		fp = 1;
	if ((s->used + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 1024;
		uint64_t *n = calloc(ncap, sizeof(*n));
		if (!n)
			return true; /* treat as new: a repeated query record is harmless */
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->slots[i])
				continue;
			size_t j = (size_t)(s->slots[i] * 0x9e3779b97f4a7c15ull) & (ncap - 1);
			while (n[j])
				j = (j + 1) & (ncap - 1);
			n[j] = s->slots[i];
		}
		free(s->slots);
		s->slots = n;
		s->cap = ncap;
	}
	size_t j = (size_t)(fp * 0x9e3779b97f4a7c15ull) & (s->cap - 1);
	while (s->slots[j]) {
		if (s->slots[j] == fp)
			return false;
		j = (j + 1) & (s->cap - 1);
	}
	s->slots[j] = fp;
	s->used++;
	return true;
}

static void fpset_clear(struct fpset *s)
{
	if (s->slots)
		memset(s->slots, 0, s->cap * sizeof(*s->slots));
	s->used = 0;
}

/* ---- formatting ------------------------------------------------------- */

static void capture_fail(struct capture *c, int err);

/* errno after a failed zlib call; zlib's own errors (no errno) read as EIO. */
static int zlib_errno(void)
{
	return errno ? errno : EIO;
}

static void out_flush(struct capture *c)
{
	if (c->buf_len == 0)
		return;
	errno = 0;
	if (c->out && gzwrite(c->out, c->buf, (unsigned)c->buf_len) != (int)c->buf_len)
		capture_fail(c, zlib_errno());
	c->out_bytes += (int64_t)c->buf_len;
	c->buf_len = 0;
}

/* Make room for n more bytes in the formatting buffer. */
static char *out_reserve(struct capture *c, size_t n)
{
	if (c->buf_len + n > c->buf_cap)
		out_flush(c);
	if (n > c->buf_cap) {
		char *nb = realloc(c->buf, n);
		if (!nb)
			return NULL;
		c->buf = nb;
		c->buf_cap = n;
	}
	return c->buf + c->buf_len;
}

static void out_raw(struct capture *c, const char *s, size_t n)
{
	char *p = out_reserve(c, n);
	if (!p)
		return;
	memcpy(p, s, n);
	c->buf_len += n;
}

static void out_str(struct capture *c, const char *s)
{
	out_raw(c, s, strlen(s));
}

static void out_i64(struct capture *c, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
	out_raw(c, tmp, (size_t)n);
}

static void out_u64(struct capture *c, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	out_raw(c, tmp, (size_t)n);
}

/* A 64-bit hash as a quoted string of 16 hex digits. */
static void out_hex64(struct capture *c, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "\"%016llx\"", (unsigned long long)v);
	out_raw(c, tmp, (size_t)n);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Write s (n bytes) as a JSON string, replacing invalid UTF-8 by U+FFFD. */
static void out_json_str(struct capture *c, const char *s, size_t n)
{
	/* Worst case every byte becomes a 6-byte escape. */
	char *p = out_reserve(c, n * 6 + 2);
	if (!p)
		return;
	char *o = p;
	*o++ = '"';
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned char ch = u[i];
		if (ch == '"' || ch == '\\') {
			*o++ = '\\';
			*o++ = (char)ch;
			i++;
		} else if (ch == '\n') {
			*o++ = '\\';
			*o++ = 'n';
			i++;
		} else if (ch == '\t') {
			*o++ = '\\';
			*o++ = 't';
			i++;
		} else if (ch < 0x20) {
			o += sprintf(o, "\\u%04x", ch);
			i++;
		} else if (ch < 0x80) {
			*o++ = (char)ch;
			i++;
		} else {
			size_t len = utf8_seq(u + i, n - i);
			if (len == 0) {
				static const char replacement[6] = {'\\', 'u', 'f', 'f', 'f', 'd'};
				memcpy(o, replacement, sizeof(replacement));
				o += sizeof(replacement);
				i++;
			} else {
				memcpy(o, u + i, len);
				o += len;
				i += len;
			}
		}
	}
	*o++ = '"';
	c->buf_len += (size_t)(o - p);
}

static void format_rfc3339(char *out, size_t size, const struct timespec *ts)
{
	struct tm tm;
	gmtime_r(&ts->tv_sec, &tm);
	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000);
}

/* ---- files ------------------------------------------------------------ */

static bool lost_pending(const struct capture *c)
{
	return c->lost[LOST_QUEUE].n > 0 || c->lost[LOST_WRITE].n > 0;
}

/* One stmt record that will not be in any file. */
static void lose_record(struct capture *c, int64_t time_us)
{
	lost_add(&c->lost[LOST_WRITE], time_us);
	__atomic_fetch_add(&c->stats.lost, 1, __ATOMIC_RELAXED);
}

/* Everything formatted into out so far is on the disk. */
static void file_synced(struct capture *c)
{
	__atomic_fetch_add(&c->stats.written, c->unsynced.n, __ATOMIC_RELAXED);
	memset(&c->unsynced, 0, sizeof(c->unsynced));
	memset(c->lost_unsynced, 0, sizeof(c->lost_unsynced));
	c->out_synced = true;
	c->synced_ms = now_ms();
	if (c->out)
		c->synced_bytes = (int64_t)gzoffset(c->out);
}

static void log_write_failed(struct capture *c, const char *event)
{
	log_event(LOG_WARNING, event, LOG_STR, "dir", c->dir, LOG_STR, "error",
	          strerror(c->last_errno), LOG_INT, "records_lost",
	          (long long)c->lost[LOST_WRITE].n, LOG_INT, "write_errors",
	          (long long)__atomic_load_n(&c->stats.write_errors, __ATOMIC_RELAXED), LOG_INT,
	          "retry_in_ms", (long long)c->backoff_ms, LOG_END);
	c->fail_logged_ms = now_ms();
}

/*
 * A write, flush or open of out failed with err. The file is given up: cut
 * back to its last flush, so it holds exactly the records not counted as lost
 * (a reader sees a gzip stream without its end), or removed when nothing of it
 * was flushed, so a full disk does not fill the directory with empty files.
 * No file is opened again before a wait that doubles per failure.
 */
static void capture_fail(struct capture *c, int err)
{
	if (c->out) {
		gzclose(c->out); /* its error is the one being handled */
		c->out = NULL;
	}
	if (!c->out_synced)
		unlink(c->path);
	else if (truncate(c->path, (off_t)c->synced_bytes) == -1)
		log_event(LOG_WARNING, "capture.truncate_failed", LOG_STR, "file", c->path, LOG_STR,
		          "error", strerror(errno), LOG_END);
	c->buf_len = 0;
	__atomic_fetch_add(&c->stats.lost, c->unsynced.n, __ATOMIC_RELAXED);
	lost_merge(&c->lost[LOST_WRITE], &c->unsynced);
	memset(&c->unsynced, 0, sizeof(c->unsynced));
	for (int i = 0; i < LOST_REASONS; i++)
		lost_merge(&c->lost[i], &c->lost_unsynced[i]);
	memset(c->lost_unsynced, 0, sizeof(c->lost_unsynced));
	__atomic_fetch_add(&c->stats.write_errors, 1, __ATOMIC_RELAXED);
	c->last_errno = err;
	int64_t now = now_ms();
	bool first = !c->failing;
	if (first) {
		c->failing = true;
		c->failed_ms = now;
		c->backoff_ms = RETRY_MIN_MS;
	} else {
		c->backoff_ms = c->backoff_ms * 2 < RETRY_MAX_MS ? c->backoff_ms * 2 : RETRY_MAX_MS;
	}
	c->retry_ms = now + c->backoff_ms;
	if (first || now - c->fail_logged_ms >= LOG_EVERY_MS)
		log_write_failed(c, "capture.write_failed");
}

/* Push everything formatted so far to the disk (Z_SYNC_FLUSH: readable without a trailer). */
static void file_sync(struct capture *c)
{
	out_flush(c);
	if (!c->out)
		return;
	errno = 0;
	if (gzflush(c->out, Z_SYNC_FLUSH) != Z_OK) {
		capture_fail(c, zlib_errno());
		return;
	}
	file_synced(c);
}

static void file_close(struct capture *c)
{
	if (!c->out)
		return;
	out_flush(c);
	if (!c->out)
		return; /* the flush failed */
	gzFile f = c->out;
	c->out = NULL;
	errno = 0;
	if (gzclose(f) != Z_OK)
		capture_fail(c, zlib_errno());
	else
		file_synced(c);
}

/* A "lost" record for each reason with losses, moved to lost_unsynced until flushed. */
static void out_lost(struct capture *c)
{
	for (int i = 0; i < LOST_REASONS; i++) {
		struct lost *l = &c->lost[i];
		if (l->n == 0)
			continue;
		out_str(c, "{\"type\":\"lost\",\"statements\":");
		out_u64(c, l->n);
		out_str(c, ",\"from\":");
		out_i64(c, l->from_us);
		out_str(c, ",\"to\":");
		out_i64(c, l->to_us);
		out_str(c, ",\"reason\":\"");
		out_str(c, lost_reason_name[i]);
		out_str(c, "\"}\n");
		lost_merge(&c->lost_unsynced[i], l);
		memset(l, 0, sizeof(*l));
	}
}

/* The first file after write errors has been flushed: say so, with what was lost. */
static void file_resumed(struct capture *c, uint64_t lost)
{
	log_event(LOG_INFO, "capture.resumed", LOG_STR, "file", c->path, LOG_INT, "records_lost",
	          (long long)lost, LOG_INT, "write_errors",
	          (long long)__atomic_load_n(&c->stats.write_errors, __ATOMIC_RELAXED), LOG_INT,
	          "outage_ms", (long long)(now_ms() - c->failed_ms), LOG_END);
	c->failing = false;
	c->backoff_ms = 0;
}

/*
 * Start a new file with its header and the losses not yet recorded. After a
 * write error only once the wait is over, and the file is flushed at once to
 * learn whether the disk takes data again.
 */
static bool file_open(struct capture *c)
{
	struct timespec ts;
	struct tm tm;
	char started[96];

	if (c->failing && now_ms() < c->retry_ms)
		return false;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(c->path, sizeof(c->path),
	         "%s/pgscope-%04d%02d%02dT%02d%02d%02d.%06ldZ-%04u.jsonl%s", c->dir,
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         ts.tv_nsec / 1000, c->seq++ % 10000, c->gzip ? ".gz" : "");
	c->out_synced = false;
	c->synced_bytes = 0;
	c->buf_len = 0;
	/* "wT" writes plain bytes through the same gzFile interface. */
	errno = 0;
	c->out = gzopen(c->path, c->gzip ? "wb1" : "wbT");
	if (!c->out) {
		capture_fail(c, zlib_errno());
		return false;
	}
	gzbuffer(c->out, 128 * 1024);
	c->out_bytes = 0;
	c->out_opened_ms = now_ms();
	c->synced_ms = c->out_opened_ms;
	fpset_clear(&c->seen);
	pthread_mutex_lock(&c->lock);
	c->stats.files++;
	pthread_mutex_unlock(&c->lock);

	format_rfc3339(started, sizeof(started), &ts);
	out_str(c, "{\"type\":\"header\",\"version\":");
	out_i64(c, CAPTURE_VERSION);
	out_str(c, ",\"producer\":\"pgscope\",\"started\":\"");
	out_str(c, started);
	out_str(c, c->literals ? "\",\"literals\":true}\n" : "\",\"literals\":false}\n");
	if (!c->failing) {
		out_lost(c);
		return true;
	}
	uint64_t lost = c->lost[LOST_WRITE].n;
	out_lost(c);
	file_sync(c);
	if (!c->out)
		return false;
	file_resumed(c, lost);
	return true;
}

static void maybe_rotate(struct capture *c)
{
	if (!c->out)
		return;
	bool by_size = c->max_bytes > 0 && c->out_bytes + (int64_t)c->buf_len >= c->max_bytes;
	bool by_age = c->max_age_ms > 0 && now_ms() - c->out_opened_ms >= c->max_age_ms;
	if (by_size || by_age)
		file_close(c);
}

/* A packed string of an entry: s[i] (len[i] bytes, not NUL-terminated). */
static void out_json_field(struct capture *c, const char *key, const char *s, uint32_t len)
{
	out_str(c, key);
	out_json_str(c, s, len);
}

static void write_entry(struct capture *c, const struct entry_head *h, const char *const *s)
{
	if (!c->out && !file_open(c)) {
		lose_record(c, h->time_us);
		return;
	}
	if (h->has_query && fpset_add(&c->seen, h->fingerprint)) {
		out_str(c, "{\"type\":\"query\",\"fingerprint\":");
		out_hex64(c, h->fingerprint);
		out_str(c, ",\"query\":");
		out_json_str(c, s[S_QUERY], h->len[S_QUERY]);
		if (h->has_rules)
			out_json_field(c, ",\"rules\":", s[S_RULES], h->len[S_RULES]);
		out_str(c, "}\n");
	}
	out_str(c, "{\"type\":\"stmt\",\"time\":");
	out_i64(c, h->time_us);
	out_json_field(c, ",\"database\":", s[S_DATABASE], h->len[S_DATABASE]);
	out_json_field(c, ",\"user\":", s[S_USER], h->len[S_USER]);
	out_json_field(c, ",\"application_name\":", s[S_APP], h->len[S_APP]);
	out_str(c, ",\"fingerprint\":");
	out_hex64(c, h->fingerprint);
	out_str(c, ",\"duration_us\":");
	out_i64(c, h->duration_us);
	out_str(c, ",\"wait_us\":");
	out_i64(c, h->wait_us);
	if (h->rows >= 0) {
		out_str(c, ",\"rows\":");
		out_i64(c, h->rows);
	} else {
		out_str(c, ",\"rows\":null");
	}
	out_json_field(c, ",\"tag\":", s[S_TAG], h->len[S_TAG]);
	if (h->len[S_SQLSTATE])
		out_json_field(c, ",\"sqlstate\":", s[S_SQLSTATE], h->len[S_SQLSTATE]);
	else
		out_str(c, ",\"sqlstate\":null");
	if (h->len[S_ROUTE])
		out_json_field(c, ",\"route\":", s[S_ROUTE], h->len[S_ROUTE]);
	else
		out_str(c, ",\"route\":\"primary\"");
	out_str(c, ",\"xact\":");
	out_u64(c, h->xact);
	out_str(c, ",\"client\":");
	out_u64(c, h->client);
	if (h->len[S_TRACE])
		out_json_field(c, ",\"trace_id\":", s[S_TRACE], h->len[S_TRACE]);
	else
		out_str(c, ",\"trace_id\":null");
	if (h->params_hash) {
		out_str(c, ",\"params_hash\":");
		out_hex64(c, h->params_hash);
	} else {
		out_str(c, ",\"params_hash\":null");
	}
	if (c->literals && h->len[S_TEXT] > 0)
		out_json_field(c, ",\"text\":", s[S_TEXT], h->len[S_TEXT]);
	out_str(c, "}\n");
	if (!c->out) {
		/* The file failed while this record was formatted: drop what is buffered. */
		c->buf_len = 0;
		lose_record(c, h->time_us);
		return;
	}
	lost_add(&c->unsynced, h->time_us);
}

/*
 * How long the writer may sleep when nothing is queued: WAKE_MS while
 * something is due soon (a sync, losses to record or log, a failed file to
 * retry), else until the file is due to rotate by age, or no limit (-1).
 * Writer thread only.
 */
static int64_t writer_sleep_ms(const struct capture *c, bool took)
{
	int64_t left;

	if (took || lost_pending(c) || c->drops_unlogged > 0 || c->failing || c->unsynced.n > 0 ||
	    c->lost_unsynced[LOST_QUEUE].n > 0 || c->lost_unsynced[LOST_WRITE].n > 0)
		return WAKE_MS;
	if (c->out == NULL || c->max_age_ms <= 0)
		return -1;
	left = c->out_opened_ms + c->max_age_ms - now_ms();
	return left > WAKE_MS ? left : WAKE_MS;
}

/*
 * Move up to BATCH_BYTES of queued entries into batch (under the lock) so
 * formatting and I/O happen without holding it, waiting up to SLEEP_MS
 * (writer_sleep_ms()) for some. Returns bytes taken.
 */
static size_t take_batch(struct capture *c, unsigned char *batch, bool *stop, int64_t sleep_ms)
{
	pthread_mutex_lock(&c->lock);
	while (c->head == c->tail && c->queue_lost.n == 0 && !c->stop) {
		c->writer_waiting = true;
		c->writer_idle = sleep_ms < 0 || sleep_ms > WAKE_MS;
		int rc = condwait_ms(&c->wake, &c->lock, sleep_ms);
		c->writer_waiting = false;
		c->writer_idle = false;
		if (rc == ETIMEDOUT)
			break;
	}
	uint64_t tail = c->tail;
	uint64_t head = c->head;
	*stop = c->stop;
	lost_merge(&c->lost[LOST_QUEUE], &c->queue_lost);
	c->drops_unlogged += c->queue_lost.n;
	memset(&c->queue_lost, 0, sizeof(c->queue_lost));
	pthread_mutex_unlock(&c->lock);

	/*
	 * Producers only write between head and tail + cap, so [tail, head) is
	 * stable until tail moves: copy it without holding the lock.
	 */
	size_t taken = 0;
	while (head - tail > taken) {
		uint32_t size;
		ring_get(c, tail + taken, &size, sizeof(size));
		if (taken + size > BATCH_BYTES && taken > 0)
			break;
		ring_get(c, tail + taken, batch + taken, size);
		taken += size;
	}
	if (taken > 0) {
		pthread_mutex_lock(&c->lock);
		c->tail += taken;
		pthread_mutex_unlock(&c->lock);
	}
	return taken;
}

/* Queue drops in the log, at most once per LOG_EVERY_MS (or at the end, force). */
static void log_drops(struct capture *c, bool force)
{
	int64_t now = now_ms();
	if (c->drops_unlogged == 0 || (!force && now - c->drop_logged_ms < LOG_EVERY_MS))
		return;
	pthread_mutex_lock(&c->lock);
	uint64_t total = c->stats.dropped;
	pthread_mutex_unlock(&c->lock);
	log_event(LOG_WARNING, "capture.dropped", LOG_STR, "dir", c->dir, LOG_INT,
	          "records_dropped", (long long)c->drops_unlogged, LOG_INT, "dropped_total",
	          (long long)total, LOG_STR, "reason", "queue full", LOG_END);
	c->drops_unlogged = 0;
	c->drop_logged_ms = now;
}

/* After a batch: losses into the file, a flush when one is due, drops into the log. */
static void writer_tick(struct capture *c)
{
	if (lost_pending(c) && (c->out || file_open(c)))
		out_lost(c);
	if (c->out &&
	    (c->unsynced.n > 0 || c->lost_unsynced[LOST_QUEUE].n > 0 ||
	     c->lost_unsynced[LOST_WRITE].n > 0) &&
	    now_ms() - c->synced_ms >= FLUSH_MS)
		file_sync(c);
	log_drops(c, false);
}

/* At close: one more attempt to record the losses, whatever the wait. */
static void writer_finish(struct capture *c)
{
	c->retry_ms = 0;
	if (lost_pending(c) && (c->out || file_open(c)))
		out_lost(c);
	file_close(c);
	log_drops(c, true);
	if (lost_pending(c) || c->failing)
		log_write_failed(c, "capture.write_failed");
}

static void *writer_main(void *arg)
{
	struct capture *c = arg;
	/* One entry may be as large as its header plus two maximal texts. */
	unsigned char *batch =
	    malloc(BATCH_BYTES + sizeof(struct entry_head) + 2 * (size_t)CAPTURE_TEXT_MAX + 8);
	if (!batch)
		return NULL;
	size_t n = 0;

	for (;;) {
		bool stop = false;

		n = take_batch(c, batch, &stop, writer_sleep_ms(c, n > 0));
		for (size_t off = 0; off < n;) {
			struct entry_head h;
			memcpy(&h, batch + off, sizeof(h));
			const char *str[S_COUNT];
			const char *p = (const char *)batch + off + sizeof(h);
			for (int i = 0; i < S_COUNT; i++) {
				str[i] = p;
				p += h.len[i];
			}
			write_entry(c, &h, str);
			off += h.size;
			maybe_rotate(c);
		}
		if (n == 0)
			maybe_rotate(c);
		else if (c->out)
			out_flush(c);
		writer_tick(c);
		if (stop && n == 0)
			break;
	}
	writer_finish(c);
	free(batch);
	return NULL;
}

static void capture_free(struct capture *c)
{
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->wake);
	free(c->ring);
	free(c->buf);
	free(c->seen.slots);
	free(c);
}

int capture_open(const char *dir, int64_t max_bytes, int64_t max_age_ms, bool literals)
{
	int err = 0;
	pthread_mutex_lock(&cap_open_lock);
	if (cap_g) {
		err = EBUSY;
		goto out_unlock;
	}
	if (strlen(dir) >= sizeof(cap_g->dir)) {
		err = ENAMETOOLONG;
		goto out_unlock;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		err = errno;
		goto out_unlock;
	}
	struct capture *c = calloc(1, sizeof(*c));
	if (!c) {
		err = ENOMEM;
		goto out_unlock;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	c->max_bytes = max_bytes;
	c->max_age_ms = max_age_ms;
	c->literals = literals;
	c->gzip = opt_gzip;
	c->cap = opt_queue_bytes;
	c->ring = malloc(c->cap);
	c->buf_cap = OUT_FLUSH;
	c->buf = malloc(c->buf_cap);
	if (!c->ring || !c->buf) {
		err = ENOMEM;
		goto out_free;
	}
	/* Touch the queue now so the forwarding thread never takes its page faults. */
	memset(c->ring, 0, c->cap);
	if ((err = pthread_create(&c->thread, NULL, writer_main, c)) != 0)
		goto out_free;
	cap_g = c;
	pthread_mutex_unlock(&cap_open_lock);
	return 0;

out_free:
	capture_free(c);
out_unlock:
	pthread_mutex_unlock(&cap_open_lock);
	errno = err;
	return -1;
}

void capture_close(void)
{
	pthread_mutex_lock(&cap_open_lock);
	struct capture *c = cap_g;
	if (!c) {
		pthread_mutex_unlock(&cap_open_lock);
		return;
	}
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	cap_g = NULL;
	pthread_mutex_unlock(&cap_open_lock);
	capture_free(c);
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F')))
			return false;
	}
	return true;
}

bool capture_trace_id(const char *sql, char out[CAPTURE_TRACE_MAX])
{
	static const char key[] = "traceparent='";
	out[0] = '\0';
	if (!sql)
		return false;
	for (const char *p = strstr(sql, key); p; p = strstr(p + 1, key)) {
		const char *v = p + sizeof(key) - 1;
		/* 00-<32 hex>-<16 hex>-<2 hex>' */
		if (strnlen(v, 56) < 56 || v[0] != '0' || v[1] != '0' || v[2] != '-' ||
		    v[35] != '-' || v[52] != '-' || v[55] != '\'')
			continue;
		if (!is_hex(v + 3, 32) || !is_hex(v + 36, 16) || !is_hex(v + 53, 2))
			continue;
		memcpy(out, v + 3, 32);
		out[32] = '\0';
		return true;
	}
	return false;
}

void capture_lost(int64_t time_us)
{
	struct capture *c = cap_g;
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stats.dropped++;
	lost_add(&c->queue_lost, time_us);
	if (c->writer_idle) {
		c->writer_idle = false;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
}
