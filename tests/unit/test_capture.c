/*
 * test_capture.c - the capture writer: format, once-per-file query text, rotation, drops and
 * their "lost" records, gzip, periodic flushes; the reader on truncated files.
 */
#include <dirent.h>
#include <sys/stat.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyzer/logread.h"
#include "pooler/capture.h"

static char dir[64];

static int setup_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/pgscope-capture-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	capture_set_options(false, CAPTURE_QUEUE_BYTES);
	return 0;
}

static int teardown_dir(void **state)
{
	capture_close();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void make_record(struct capture_record *r, int i, uint64_t fp, const char *query)
{
	memset(r, 0, sizeof(*r));
	r->time_us = 1795428000000000LL + i;
	r->duration_us = 100 + i;
	r->wait_us = 3;
	r->rows = i % 2 ? 1 : -1;
	r->fingerprint = fp;
	r->params_hash = (uint64_t)i + 1;
	r->xact = (uint64_t)i / 3;
	r->client = 7;
	snprintf(r->database, sizeof(r->database), "shop");
	snprintf(r->user, sizeof(r->user), "app \"quoted\"\n");
	snprintf(r->application_name, sizeof(r->application_name), "bad\xff utf8");
	snprintf(r->tag, sizeof(r->tag), "SELECT");
	if (i % 10 == 0)
		snprintf(r->sqlstate, sizeof(r->sqlstate), "57014");
	if (i % 5 == 0)
		snprintf(r->route, sizeof(r->route), "replica1");
	r->query = query;
	r->text = "SELECT * FROM t WHERE a = 42";
}

/* Read every file in dir; counts per record kind; checks each file's first line. */
struct tally {
	int files;
	int stmts;
	int queries;
	int queries_per_file_max;
	int failed;
	int replica;
	int with_text;
	bool user_ok;
	bool app_ok;
	uint64_t lost;     /* statements in "lost" records */
	int64_t lost_from; /* earliest and latest time they give */
	int64_t lost_to;
	uint64_t truncated; /* files the reader found cut short */
};

static void read_dir(struct tally *t)
{
	memset(t, 0, sizeof(*t));
	t->user_ok = t->app_ok = true;
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_non_null(strstr(e->d_name, "pgscope-"));
		/* Each file is self-contained: it starts with a header. */
		char first[64] = "";
		if (!strstr(e->d_name, ".gz")) {
			FILE *f = fopen(path, "r");
			assert_non_null(f);
			assert_non_null(fgets(first, sizeof(first), f));
			fclose(f);
			assert_non_null(strstr(first, "{\"type\":\"header\",\"version\":1"));
		}
		char err[256];
		struct logread *r = logread_open(path, NULL, err, sizeof(err));
		assert_non_null(r);
		assert_int_equal(logread_format(r), LOGREAD_CAPTURE);
		struct logread_event ev;
		int q = 0;
		int rc;
		while ((rc = logread_next(r, &ev)) > 0) {
			if (ev.kind == LOGREAD_QUERY) {
				q++;
				continue;
			}
			if (ev.kind == LOGREAD_LOST) {
				if (t->lost == 0 || ev.lost.from_us < t->lost_from)
					t->lost_from = ev.lost.from_us;
				if (t->lost == 0 || ev.lost.to_us > t->lost_to)
					t->lost_to = ev.lost.to_us;
				t->lost += ev.lost.statements;
				continue;
			}
			t->stmts++;
			t->failed += ev.stmt.failed;
			t->replica += ev.stmt.route && strcmp(ev.stmt.route, "replica1") == 0;
			t->with_text += ev.stmt.text != NULL;
			if (strcmp(ev.stmt.user, "app \"quoted\"\n") != 0)
				t->user_ok = false;
			if (strcmp(ev.stmt.application_name, "bad\xef\xbf\xbd utf8") != 0)
				t->app_ok = false;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(logread_stats(r).skipped, 0);
		t->truncated += logread_stats(r).truncated;
		logread_close(r);
		t->queries += q;
		if (q > t->queries_per_file_max)
			t->queries_per_file_max = q;
		t->files++;
	}
	closedir(d);
}

static void test_roundtrip(void **state)
{
	assert_int_equal(capture_open(dir, 0, 0, false), 0);
	struct capture_record rec;
	for (int i = 0; i < 1000; i++) {
		make_record(&rec, i, i % 2 ? 0x1111 : 0x2222,
		            i % 2 ? "SELECT $1" : "SELECT $1, $2");
		assert_true(capture_submit(&rec));
	}
	capture_close();
	struct tally t;
	read_dir(&t);
	assert_int_equal(t.files, 1);
	assert_int_equal(t.stmts, 1000);
	assert_int_equal(t.queries, 2); /* once per fingerprint per file */
	assert_int_equal(t.failed, 100);
	assert_int_equal(t.replica, 200);
	assert_int_equal(t.with_text, 0); /* no literals unless asked */
	assert_true(t.user_ok);
	assert_true(t.app_ok);
}

static void test_literals_on(void **state)
{
	assert_int_equal(capture_open(dir, 0, 0, true), 0);
	struct capture_record rec;
	make_record(&rec, 1, 0x1111, "SELECT * FROM t WHERE a = $1");
	assert_true(capture_submit(&rec));
	capture_close();
	struct tally t;
	read_dir(&t);
	assert_int_equal(t.with_text, 1);
}

static void test_rotation_by_size(void **state)
{
	assert_int_equal(capture_open(dir, 4096, 0, false), 0);
	struct capture_record rec;
	for (int i = 0; i < 300; i++) {
		make_record(&rec, i, 0x3333, "SELECT a FROM t WHERE b = $1");
		assert_true(capture_submit(&rec));
	}
	capture_close();
	struct tally t;
	read_dir(&t);
	assert_true(t.files >= 5);
	assert_int_equal(t.stmts, 300);
	/* The one fingerprint's text is repeated in every file. */
	assert_int_equal(t.queries, t.files);
	assert_int_equal(t.queries_per_file_max, 1);
	assert_int_equal(capture_stats().files, 0); /* closed: no counters */
}

static void test_rotation_by_age(void **state)
{
	assert_int_equal(capture_open(dir, 0, 50, false), 0);
	struct capture_record rec;
	make_record(&rec, 1, 0x4444, "SELECT 1");
	assert_true(capture_submit(&rec));
	struct timespec ts = {0, 300 * 1000000L};
	nanosleep(&ts, NULL);
	assert_true(capture_submit(&rec));
	nanosleep(&ts, NULL);
	struct capture_stats s = capture_stats();
	assert_int_equal(s.written, 2);
	assert_true(s.files >= 2);
	capture_close();
	struct tally t;
	read_dir(&t);
	assert_true(t.files >= 2);
	assert_int_equal(t.stmts, 2);
}

static void test_full_queue_drops_and_counts(void **state)
{
	capture_set_options(false, 4096);
	assert_int_equal(capture_open(dir, 0, 0, false), 0);
	char *big = malloc(3000);
	assert_non_null(big);
	memset(big, 'x', 2999);
	big[2999] = '\0';
	struct capture_record rec;
	uint64_t ok = 0, refused = 0;
	for (int i = 0; i < 20000; i++) {
		make_record(&rec, i, (uint64_t)i + 1, big);
		if (capture_submit(&rec))
			ok++;
		else
			refused++;
	}
	struct capture_stats s = capture_stats();
	capture_close();
	free(big);
	assert_true(refused > 0);
	assert_int_equal(s.dropped, refused);
	assert_int_equal(s.submitted, ok);
	struct tally t;
	read_dir(&t);
	/* Everything accepted was written; nothing else. */
	assert_int_equal(t.stmts, (int)ok);
	/* The capture itself says how many statements it misses, and when. */
	assert_int_equal(t.lost, refused);
	assert_true(t.lost_from >= 1795428000000000LL);
	assert_true(t.lost_to <= 1795428000000000LL + 19999);
	assert_true(t.lost_from <= t.lost_to);
	assert_int_equal(t.truncated, 0);
}

/* Statements lost before they reached the capture queue are recorded as well. */
static void test_lost_upstream_recorded(void **state)
{
	assert_int_equal(capture_open(dir, 0, 0, false), 0);
	struct capture_record rec;
	make_record(&rec, 1, 0x6666, "SELECT 6");
	assert_true(capture_submit(&rec));
	capture_lost(1795428000000100LL);
	capture_lost(1795428000000300LL);
	capture_lost(1795428000000200LL);
	capture_close();
	struct tally t;
	read_dir(&t);
	assert_int_equal(t.stmts, 1);
	assert_int_equal(t.lost, 3);
	assert_int_equal(t.lost_from, 1795428000000100LL);
	assert_int_equal(t.lost_to, 1795428000000300LL);
}

/*
 * Files cannot be created (the directory is gone): a few attempts with a
 * growing wait rather than one per record, every record counted, and once the
 * directory is back the next attempt succeeds by itself and the file starts
 * with the loss.
 */
static void test_write_error_backoff(void **state)
{
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(capture_open(sub, 0, 0, false), 0);
	assert_int_equal(rmdir(sub), 0);
	struct capture_record rec;
	for (int i = 0; i < 50; i++) {
		make_record(&rec, i, 0x9999, "SELECT 9");
		assert_true(capture_submit(&rec));
		struct timespec ts = {0, 12 * 1000000L};
		nanosleep(&ts, NULL);
	}
	struct capture_stats s = capture_stats();
	/* Attempts at about 0, 100, 300, 700 ms (1.5 s, 3.1 s on a slow machine): not 50. */
	assert_true(s.write_errors >= 2);
	assert_true(s.write_errors <= 6);
	assert_int_equal(s.files, 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	/* The next attempt comes within the longest wait (at most 5 s). */
	long long deadline = (long long)time(NULL) + 6;
	while (capture_stats().files == 0 && time(NULL) <= deadline) {
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(capture_stats().files, 1);
	for (int i = 50; i < 55; i++) {
		make_record(&rec, i, 0x9999, "SELECT 9");
		assert_true(capture_submit(&rec));
	}
	s = capture_stats();
	capture_close();
	assert_int_equal(s.lost, 50);
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/sub");
	struct tally t;
	read_dir(&t);
	dir[strlen(dir) - 4] = '\0';
	assert_int_equal(t.files, 1);
	assert_int_equal(t.stmts, 5);
	assert_int_equal(t.lost, 50);
	assert_int_equal(t.lost_from, 1795428000000000LL);
	assert_int_equal(t.lost_to, 1795428000000049LL);
}

/* The only capture file in dir, into path. */
static void only_file(char *path, size_t size)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, size, "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 1);
}

/* Statements in path, read while the writer may still be writing it; -1 on a read error. */
static int count_stmts(const char *path, uint64_t *truncated)
{
	char err[256];
	struct logread *r = logread_open(path, NULL, err, sizeof(err));
	if (!r)
		return 0; /* nothing readable yet */
	struct logread_event ev;
	int n = 0, rc;
	while ((rc = logread_next(r, &ev)) > 0)
		n += ev.kind == LOGREAD_STMT;
	*truncated = logread_stats(r).truncated;
	assert_int_equal(logread_stats(r).skipped, 0);
	logread_close(r);
	return rc < 0 ? -1 : n;
}

/*
 * Records reach the file within about a second even when nothing else happens,
 * so a writer killed with SIGKILL leaves them readable (here: read while the
 * gzip stream is still open, without its trailer).
 */
static void test_flushed_while_open(void **state)
{
	capture_set_options(true, CAPTURE_QUEUE_BYTES);
	assert_int_equal(capture_open(dir, 0, 0, false), 0);
	struct capture_record rec;
	for (int i = 0; i < 20; i++) {
		make_record(&rec, i, 0x7777, "SELECT 7");
		assert_true(capture_submit(&rec));
	}
	char path[512];
	int n = 0;
	uint64_t truncated = 0;
	long long deadline = (long long)time(NULL) + 3;
	while (time(NULL) <= deadline) {
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
		if (capture_stats().files == 0)
			continue;
		only_file(path, sizeof(path));
		n = count_stmts(path, &truncated);
		if (n == 20)
			break;
	}
	assert_int_equal(n, 20);
	assert_int_equal(truncated, 1); /* no gzip trailer yet: a note, not an error */
	capture_close();
}

/* Copy the first len bytes of src to dst. */
static void copy_prefix(const char *src, const char *dst, long len)
{
	FILE *in = fopen(src, "rb");
	FILE *out = fopen(dst, "wb");
	assert_non_null(in);
	assert_non_null(out);
	char buf[4096];
	while (len > 0) {
		size_t n = fread(buf, 1, len < (long)sizeof(buf) ? (size_t)len : sizeof(buf), in);
		assert_true(n > 0);
		assert_int_equal(fwrite(buf, 1, n, out), n);
		len -= (long)n;
	}
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

/*
 * A file cut anywhere (gzip or plain) reads up to its last complete record:
 * no read error, no record counted as not understood, the cut reported.
 */
static void check_truncated(bool gzip)
{
	capture_set_options(gzip, CAPTURE_QUEUE_BYTES);
	assert_int_equal(capture_open(dir, 0, 0, false), 0);
	struct capture_record rec;
	for (int i = 0; i < 500; i++) {
		make_record(&rec, i, 0x8888, "SELECT 8");
		assert_true(capture_submit(&rec));
	}
	capture_close();
	char path[512];
	only_file(path, sizeof(path));
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long size = ftell(f);
	fclose(f);
	uint64_t truncated = 0;
	assert_int_equal(count_stmts(path, &truncated), 500);
	assert_int_equal(truncated, 0);

	char cut[600];
	snprintf(cut, sizeof(cut), "%s.cut", path);
	/* Without the gzip trailer, every record is there. */
	if (gzip) {
		copy_prefix(path, cut, size - 8);
		assert_int_equal(count_stmts(cut, &truncated), 500);
		assert_int_equal(truncated, 1);
	}
	int last = 500;
	for (long len = size * 9 / 10; len > size / 10; len -= size / 7) {
		copy_prefix(path, cut, len);
		int n = count_stmts(cut, &truncated);
		assert_true(n > 0);
		assert_true(n < last);
		assert_int_equal(truncated, 1);
		last = n;
	}
	unlink(cut);
}

static void test_reader_truncated_gzip(void **state)
{
	check_truncated(true);
}

static void test_reader_truncated_plain(void **state)
{
	check_truncated(false);
}

static void test_gzip_files(void **state)
{
	capture_set_options(true, CAPTURE_QUEUE_BYTES);
	assert_int_equal(capture_open(dir, 0, 0, false), 0);
	struct capture_record rec;
	for (int i = 0; i < 50; i++) {
		make_record(&rec, i, 0x5555, "SELECT 5");
		assert_true(capture_submit(&rec));
	}
	capture_close();
	DIR *d = opendir(dir);
	struct dirent *e;
	int gz = 0;
	while ((e = readdir(d)))
		gz += strstr(e->d_name, ".jsonl.gz") != NULL;
	closedir(d);
	assert_int_equal(gz, 1);
	struct tally t;
	read_dir(&t);
	assert_int_equal(t.stmts, 50);
}

static void test_submit_when_closed(void **state)
{
	struct capture_record rec;
	make_record(&rec, 1, 1, "SELECT 1");
	assert_false(capture_submit(&rec));
	assert_int_equal(capture_open(dir, 0, 0, false), 0);
	assert_int_equal(capture_open(dir, 0, 0, false), -1); /* already open */
	capture_close();
}

static void test_trace_id(void **state)
{
	char id[CAPTURE_TRACE_MAX];
	assert_true(capture_trace_id("SELECT 1 /*traceparent='00-0af7651916cd43dd8448eb211c80319c-"
	                             "b7ad6b7169203331-01'*/",
	                             id));
	assert_string_equal(id, "0af7651916cd43dd8448eb211c80319c");
	assert_false(capture_trace_id("SELECT 1 /*traceparent='00-xyz-b7ad6b7169203331-01'*/", id));
	assert_false(capture_trace_id("SELECT 1", id));
	assert_string_equal(id, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_literals_on, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_rotation_by_size, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_rotation_by_age, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_full_queue_drops_and_counts, setup_dir,
	                                    teardown_dir),
	    cmocka_unit_test_setup_teardown(test_lost_upstream_recorded, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_write_error_backoff, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_flushed_while_open, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_reader_truncated_gzip, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_reader_truncated_plain, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_gzip_files, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_submit_when_closed, setup_dir, teardown_dir),
	    cmocka_unit_test(test_trace_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
