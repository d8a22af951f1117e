/*
 * test_capture_loss.c - what capture keeps when things go wrong: statements completed a second
 * before pgscope is killed with SIGKILL are in the (trailer-less) gzip capture file; on a full
 * disk (a small tmpfs) capture backs off instead of opening file after file, logs the loss with
 * counts, resumes when space returns, and the report says how many statements were not captured.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pg_query.h>

#include "analyzer/report.h"
#include "tests/integration/harness.h"

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t fingerprint(const char *sql)
{
	PgQueryFingerprintResult r = pg_query_fingerprint(sql);
	assert_null(r.error);
	uint64_t fp = r.fingerprint;
	pg_query_free_fingerprint_result(r);
	return fp;
}

/* Capture files in dir, into paths (at most max); returns how many. */
static size_t capture_files(const char *dir, char (*paths)[600], size_t max)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		if (strncmp(e->d_name, "pgscope-", 8) != 0)
			continue;
		snprintf(paths[n], sizeof(paths[n]), "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* The report of every capture file in dir; each file must read without an error. */
static struct report *report_of_dir(const char *dir)
{
	static char paths[64][600];
	size_t n = capture_files(dir, paths, 64);
	assert_true(n >= 1);
	struct report_options o;
	memset(&o, 0, sizeof(o));
	o.top = 100;
	struct report *r = report_new(&o);
	assert_non_null(r);
	char err[512];
	for (size_t i = 0; i < n; i++) {
		if (report_add_file(r, paths[i], err, sizeof(err)) != 0)
			fail_msg("%s", err);
	}
	report_finish(r);
	return r;
}

static uint64_t calls_of(const struct report *r, const char *sql)
{
	uint64_t fp = fingerprint(sql);
	for (size_t i = 0; i < r->n_fps; i++) {
		if (r->fps[i].fingerprint == fp)
			return r->fps[i].calls;
	}
	return 0;
}

/* Run sql every 20 ms for ms milliseconds; completion times (client clock) into done. */
static int run_light(PGconn *c, const char *sql, int ms, int64_t *done, int max)
{
	int n = 0;
	long long end = harness_now_ms() + ms;
	while (harness_now_ms() < end && n < max) {
		assert_true(harness_exec_ok(c, sql));
		done[n++] = now_us();
		harness_sleep_ms(20);
	}
	return n;
}

static void start_capture(struct harness_pgscope *ps, const char *dir, bool gzip)
{
	char extra[700];
	snprintf(extra, sizeof(extra), "capture = on\ncapture_dir = %s\ncapture_compress = %s\n",
	         dir, gzip ? "on" : "off");
	struct harness_pgscope_opts opts = {.pool_mode = "transaction", .extra_main = extra};
	assert_true(harness_pgscope_start(ps, &opts));
}

/*
 * Light traffic for about two seconds, then SIGKILL: every statement completed
 * more than a second before the kill is in the capture file, which reads
 * without an error although its gzip stream has no end.
 */
static void test_kill_keeps_flushed_records(void **state)
{
	char dir[] = "/tmp/pgscope-capkill-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct harness_pgscope ps;
	start_capture(&ps, dir, true);
	PGconn *c = harness_connect(ps.port, NULL);
	assert_non_null(c);
	static int64_t done[1000];
	const char *sql = "SELECT 1 AS capture_kill";
	int n = run_light(c, sql, 2200, done, 1000);
	int64_t killed_us = now_us();
	assert_int_equal(kill(ps.pid, SIGKILL), 0);
	PQfinish(c);
	harness_pgscope_stop(&ps); /* reaps it; reports the unclean exit, which is the point */

	int old = 0;
	for (int i = 0; i < n; i++)
		old += done[i] < killed_us - 1000000;
	assert_true(old >= 50);
	struct report *r = report_of_dir(dir);
	uint64_t got = calls_of(r, sql);
	fprintf(stderr,
	        "kill test: %d statements, %d completed >1 s before SIGKILL, %llu captured\n", n,
	        old, (unsigned long long)got);
	if (got < (uint64_t)old)
		fail_msg("%llu of %d statements completed more than 1 s before SIGKILL captured",
		         (unsigned long long)got, old);
	assert_true(got <= (uint64_t)n);
	assert_int_equal(r->truncated_files, 1); /* a note, not an error */
	report_free(r);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Fill the filesystem holding path's directory with the file path until it is full. */
static void fill_disk(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd != -1);
	static const char block[4096];
	for (;;) {
		ssize_t w = write(fd, block, sizeof(block));
		if (w == -1) {
			assert_int_equal(errno, ENOSPC);
			break;
		}
	}
	/* Byte by byte into the last partial page. */
	while (write(fd, block, 1) == 1)
		;
	close(fd);
}

/* Lines of the file at path containing needle; the last one into last. */
static int count_lines(const char *path, const char *needle, char *last, size_t size)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[2048];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, needle))
			continue;
		n++;
		if (last)
			snprintf(last, size, "%s", line);
	}
	fclose(f);
	return n;
}

static bool wait_log(const struct harness_pgscope *ps, const char *needle, int timeout_ms)
{
	long long end = harness_now_ms() + timeout_ms;
	while (harness_now_ms() < end) {
		if (count_lines(ps->log_path, needle, NULL, 0) > 0)
			return true;
		harness_sleep_ms(50);
	}
	return false;
}

/* Space in the report's three formats: "N statements not captured" and the JSON field. */
static void check_report_says(const struct report *r, uint64_t lost)
{
	char want[96];
	snprintf(want, sizeof(want), "%llu statements not captured", (unsigned long long)lost);
	char json_want[64];
	snprintf(json_want, sizeof(json_want), "\"not_captured\":%llu", (unsigned long long)lost);
	const struct {
		enum report_format f;
		const char *needle;
	} want_in[] = {{REPORT_TEXT, want}, {REPORT_JSON, json_want}, {REPORT_HTML, want}};
	for (size_t i = 0; i < sizeof(want_in) / sizeof(want_in[0]); i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&buf, &len);
		assert_non_null(out);
		assert_int_equal(report_write(r, want_in[i].f, out, false), 0);
		fclose(out);
		if (!strstr(buf, want_in[i].needle))
			fail_msg("report format %d lacks \"%s\":\n%.2000s", (int)want_in[i].f,
			         want_in[i].needle, buf);
		free(buf);
	}
}

static char mnt[] = "/tmp/pgscope-capfull-XXXXXX";
static bool mounted;

/* A failed test leaves nothing mounted. */
static int unmount_teardown(void **state)
{
	if (mounted && umount2(mnt, MNT_DETACH) != 0)
		return -1;
	mounted = false;
	rmdir(mnt);
	return 0;
}

/*
 * Capture on a 256 kB tmpfs: some statements, then the disk fills for about
 * two seconds while statements go on, then space returns.
 */
static void test_disk_full(void **state)
{
	assert_non_null(mkdtemp(mnt));
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") != 0)
		fail_msg("mount -t tmpfs on %s: %s (this test needs root)", mnt, strerror(errno));
	mounted = true;
	char dir[100], filler[100];
	snprintf(dir, sizeof(dir), "%s/capture", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	struct harness_pgscope ps;
	start_capture(&ps, dir, false);
	PGconn *c = harness_connect(ps.port, NULL);
	assert_non_null(c);
	static int64_t done[1000];

	const char *sql_a = "SELECT pg_backend_pid()";
	const char *sql_b = "SELECT version()";
	const char *sql_c = "SELECT current_database()";
	int a = run_light(c, sql_a, 300, done, 1000);
	harness_sleep_ms(1200); /* flushed to the file by now */
	fill_disk(filler);
	int b = run_light(c, sql_b, 2000, done, 1000);
	long long full_ms = harness_now_ms();
	/* The writer noticed and said so, with counts and the reason. */
	char line[2048] = "";
	int failed_lines = count_lines(ps.log_path, "capture.write_failed", line, sizeof(line));
	assert_true(failed_lines >= 1);
	if (!strstr(line, "No space left on device") || !strstr(line, "records_lost="))
		fail_msg("log line without reason or counts: %s", line);
	fprintf(stderr, "disk-full test: log: %s", line);
	/* Not a new file per attempt. */
	char paths[64][600];
	size_t files_full = capture_files(dir, paths, 64);
	assert_true(files_full <= 2);

	assert_int_equal(unlink(filler), 0);
	if (!wait_log(&ps, "capture.resumed", 10000))
		fail_msg("capture did not resume within 10 s after space returned");
	fprintf(stderr, "disk-full test: resumed %lld ms after space returned\n",
	        harness_now_ms() - full_ms);
	int cc = run_light(c, sql_c, 300, done, 1000);
	PQfinish(c);
	assert_true(harness_pgscope_stop(&ps));

	assert_true(count_lines(ps.log_path, "capture.write_failed", NULL, 0) <= 2);
	size_t files = capture_files(dir, paths, 64);
	assert_true(files <= 3);
	struct report *r = report_of_dir(dir);
	uint64_t got_a = calls_of(r, sql_a), got_b = calls_of(r, sql_b), got_c = calls_of(r, sql_c);
	fprintf(stderr,
	        "disk-full test: %zu files; before %d/%llu, while full %d/%llu captured, %llu "
	        "not captured, after %d/%llu\n",
	        files, a, (unsigned long long)got_a, b, (unsigned long long)got_b,
	        (unsigned long long)r->not_captured, cc, (unsigned long long)got_c);
	assert_int_equal(got_a, (uint64_t)a);
	assert_int_equal(got_c, (uint64_t)cc); /* recording resumed */
	/* Every statement of the full period is either in the capture or counted as lost. */
	assert_true(r->not_captured > 0);
	assert_int_equal(got_b + r->not_captured, (uint64_t)b);
	check_report_says(r, r->not_captured);
	report_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill_keeps_flushed_records),
	    cmocka_unit_test_teardown(test_disk_full, unmount_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
