/* test_log.c - the structured logger: logfmt quoting, JSON escaping, levels, truncation, threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "pooler/log.h"

/* The logger's line limit, from log.c's contract: no line is longer. */
#define LINE_LIMIT 8192

static char tmpdir[256];
static char logpath[300];

static int setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgscope-test-log-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/test.log", tmpdir);
	return 0;
}

static int teardown_dir(void **state)
{
	char cmd[400];

	log_shutdown();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Each test starts with an empty log file as the target. */
static int setup_log(void **state)
{
	unlink(logpath);
	return log_setup(logpath, false, LOG_DEBUG) ? 0 : -1;
}

/* Read the whole file (caller frees); *len gets its size. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/*
 * Check the "ts=YYYY-MM-DDTHH:MM:SS.mmmZ " prefix (logfmt) or the
 * {"ts":"...", prefix (JSON) and return what follows it.
 */
static const char *skip_ts(const char *line, bool json)
{
	const char *p = line;
	const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";

	if (json) {
		assert_memory_equal(p, "{\"ts\":\"", 7);
		p += 7;
	} else {
		assert_memory_equal(p, "ts=", 3);
		p += 3;
	}
	for (const char *s = shape; *s != '\0'; s++, p++) {
		if (*s == 'd')
			assert_true(*p >= '0' && *p <= '9');
		else
			assert_int_equal(*p, *s);
	}
	if (json) {
		assert_int_equal(*p, '"');
		p++;
	}
	return p;
}

static void test_logfmt_plain_fields(void **state)
{
	char *out;

	log_event(LOG_INFO, "client.login", LOG_STR, "user", "app", LOG_STR, "db", "shop", LOG_INT,
	          "pid", 42LL, LOG_INT, "neg", -7LL, LOG_END);
	out = slurp(logpath, NULL);
	assert_string_equal(skip_ts(out, false),
	                    " level=info event=client.login user=app db=shop pid=42 neg=-7\n");
	free(out);
}

static void test_logfmt_quoting(void **state)
{
	char *out;

	log_event(LOG_WARNING, "quote.test", LOG_STR, "space", "a b", LOG_STR, "dq", "say \"hi\"",
	          LOG_STR, "eq", "k=v", LOG_STR, "nl", "one\ntwo", LOG_STR, "empty", "", LOG_STR,
	          "null", NULL, LOG_STR, "bs", "c:\\dir", LOG_STR, "ctl", "\x01x", LOG_STR, "utf8",
	          "caf\xc3\xa9", LOG_STR, "bad", "a\xff", LOG_STR, "tab", "a\tb", LOG_END);
	out = slurp(logpath, NULL);
	assert_string_equal(skip_ts(out, false),
	                    " level=warning event=quote.test space=\"a b\" dq=\"say \\\"hi\\\"\""
	                    " eq=\"k=v\" nl=\"one\\ntwo\" empty=\"\" null=\"\" bs=\"c:\\\\dir\""
	                    " ctl=\"\\x01x\" utf8=caf\xc3\xa9 bad=\"a\\xff\" tab=\"a\\tb\"\n");
	free(out);
}

static void test_logfmt_odd_key_and_event(void **state)
{
	char *out;

	/* A key with a space or '=' must not break the line's syntax. */
	log_event(LOG_ERROR, "has space", LOG_STR, "bad key=", "v", LOG_END);
	out = slurp(logpath, NULL);
	assert_string_equal(skip_ts(out, false), " level=error event=\"has space\" bad_key_=v\n");
	free(out);
}

static void test_secret_fields_redacted(void **state)
{
	char *out;

	log_event(LOG_INFO, "oops", LOG_STR, "password", "hunter2", LOG_STR, "client_secret", "xyz",
	          LOG_STR, "user", "app", LOG_END);
	out = slurp(logpath, NULL);
	assert_null(strstr(out, "hunter2"));
	assert_null(strstr(out, "xyz"));
	assert_string_equal(
	    skip_ts(out, false),
	    " level=info event=oops password=redacted client_secret=redacted user=app\n");
	free(out);
}

/* --- a small JSON checker, so escaping is tested against the grammar, not by eye --- */

static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20)
			return NULL; /* raw control characters are not allowed */
		if (c == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++) {
					if (!strchr("0123456789abcdefABCDEF", p[i]) || p[i] == '\0')
						return NULL;
				}
				p += 5;
			} else if (*p != '\0' && strchr("\"\\/bfnrt", *p) != NULL) {
				p++;
			} else {
				return NULL;
			}
			continue;
		}
		if (c >= 0x80) {
			/* Must be well-formed UTF-8. */
			int n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : -1;

			if (n < 0 || c > 0xf4)
				return NULL;
			for (int i = 1; i <= n; i++) {
				if (((unsigned char)p[i] & 0xc0) != 0x80)
					return NULL;
			}
			p += n + 1;
			continue;
		}
		p++;
	}
	return p + 1;
}

/* true if line is exactly one flat JSON object of strings, integers and true, then '\n'. */
static bool json_line_valid(const char *line)
{
	const char *p = line;

	if (*p++ != '{')
		return false;
	for (;;) {
		p = json_string(p);
		if (p == NULL || *p++ != ':')
			return false;
		if (*p == '"') {
			p = json_string(p);
			if (p == NULL)
				return false;
		} else if (strncmp(p, "true", 4) == 0) {
			p += 4;
		} else {
			if (*p == '-')
				p++;
			if (*p < '0' || *p > '9')
				return false;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == '}')
			break;
		if (*p++ != ',')
			return false;
	}
	return p[1] == '\n' && p[2] == '\0';
}

static void test_json_fields_and_escaping(void **state)
{
	char *out;

	assert_true(log_setup(logpath, true, LOG_DEBUG));
	log_event(LOG_ERROR, "server.error", LOG_STR, "sqlstate", "57014", LOG_STR, "msg",
	          "a\"b\\c\nd\x01\x1f\x7f", LOG_STR, "utf8", "\xe2\x82\xac", LOG_STR, "bad",
	          "x\xc3(\xed\xa0\x80", LOG_INT, "n", -5LL, LOG_STR, "null", NULL, LOG_END);
	out = slurp(logpath, NULL);
	assert_true(json_line_valid(out));
	assert_string_equal(
	    skip_ts(out, true),
	    ",\"level\":\"error\",\"event\":\"server.error\",\"sqlstate\":\"57014\","
	    "\"msg\":\"a\\\"b\\\\c\\nd\\u0001\\u001f\\u007f\","
	    "\"utf8\":\"\xe2\x82\xac\","
	    "\"bad\":\"x\\\\xc3(\\\\xed\\\\xa0\\\\x80\",\"n\":-5,\"null\":\"\"}\n");
	free(out);
}

/* Every byte value in a value still gives a valid JSON line. */
static void test_json_every_byte(void **state)
{
	char value[256];
	char *out;

	for (int i = 1; i < 256; i++)
		value[i - 1] = (char)i;
	value[255] = '\0';
	assert_true(log_setup(logpath, true, LOG_DEBUG));
	log_event(LOG_INFO, "bytes", LOG_STR, "v", value, LOG_END);
	out = slurp(logpath, NULL);
	assert_int_equal(count_lines(out), 1);
	assert_true(json_line_valid(out));
	free(out);
}

static void test_level_filtering(void **state)
{
	char *out;

	assert_true(log_setup(logpath, false, LOG_WARNING));
	assert_false(log_enabled(LOG_DEBUG));
	assert_false(log_enabled(LOG_INFO));
	assert_true(log_enabled(LOG_WARNING));
	assert_true(log_enabled(LOG_ERROR));
	log_event(LOG_DEBUG, "dropped.debug", LOG_END);
	log_event(LOG_INFO, "dropped.info", LOG_END);
	log_event(LOG_WARNING, "kept.warning", LOG_END);
	log_event(LOG_ERROR, "kept.error", LOG_END);
	log_event(LOG_FATAL, "kept.fatal", LOG_END);
	out = slurp(logpath, NULL);
	assert_int_equal(count_lines(out), 3);
	assert_null(strstr(out, "dropped"));
	assert_non_null(strstr(out, "level=warning event=kept.warning\n"));
	assert_non_null(strstr(out, "level=error event=kept.error\n"));
	assert_non_null(strstr(out, "level=fatal event=kept.fatal\n"));
	free(out);
}

static void test_level_parse(void **state)
{
	assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
	assert_int_equal(log_level_parse("INFO"), LOG_INFO);
	assert_int_equal(log_level_parse("warning"), LOG_WARNING);
	assert_int_equal(log_level_parse("warn"), LOG_WARNING);
	assert_int_equal(log_level_parse("error"), LOG_ERROR);
	assert_int_equal(log_level_parse("verbose"), -1);
	assert_int_equal(log_level_parse(""), -1);
	assert_int_equal(log_level_parse(NULL), -1);
}

static void test_truncation_logfmt(void **state)
{
	size_t len;
	char *big = malloc(20000), *out;

	memset(big, 'x', 19999);
	big[19999] = '\0';
	big[5] = ' '; /* forces quoting, so the cut value must still be closed */
	log_event(LOG_INFO, "big", LOG_STR, "v", big, LOG_INT, "after", 1LL, LOG_END);
	out = slurp(logpath, &len);
	assert_true(len <= LINE_LIMIT);
	assert_int_equal(count_lines(out), 1);
	assert_string_equal(out + len - strlen("x\" truncated=true\n"), "x\" truncated=true\n");
	assert_null(strstr(out, "after="));
	free(out);
	free(big);
}

static void test_truncation_json(void **state)
{
	size_t len, n = 0;
	char *big = malloc(30001), *out, *end;

	/* Two-byte characters and quotes: the cut must fall between whole ones. */
	for (size_t i = 0; i + 3 <= 30000; i += 3) {
		big[i] = '\xc3';
		big[i + 1] = '\xa9';
		big[i + 2] = '"';
		n = i + 3;
	}
	big[n] = '\0';
	assert_true(log_setup(logpath, true, LOG_DEBUG));
	log_event(LOG_INFO, "big", LOG_STR, "v", big, LOG_END);
	out = slurp(logpath, &len);
	assert_true(len <= LINE_LIMIT);
	assert_true(len > LINE_LIMIT - 64); /* cut near the limit, not dropped */
	assert_true(json_line_valid(out));
	end = out + len - strlen(",\"truncated\":true}\n");
	assert_string_equal(end, ",\"truncated\":true}\n");
	free(out);
	free(big);
}

static void test_setup_failure_keeps_target(void **state)
{
	char bad[400];
	char *out;

	snprintf(bad, sizeof(bad), "%s/no/such/dir/x.log", tmpdir);
	assert_false(log_setup(bad, true, LOG_DEBUG));
	log_event(LOG_INFO, "still.here", LOG_END);
	out = slurp(logpath, NULL);
	/* Still logfmt, still the old file. */
	assert_non_null(strstr(out, " level=info event=still.here\n"));
	free(out);
}

static void test_reopen_after_rotation(void **state)
{
	char rotated[400];
	char *old, *fresh;

	snprintf(rotated, sizeof(rotated), "%s.1", logpath);
	log_event(LOG_INFO, "before.rotation", LOG_END);
	assert_int_equal(rename(logpath, rotated), 0);
	log_event(LOG_INFO, "still.old.file", LOG_END);
	assert_true(log_reopen());
	log_event(LOG_INFO, "after.rotation", LOG_END);
	old = slurp(rotated, NULL);
	fresh = slurp(logpath, NULL);
	assert_int_equal(count_lines(old), 2);
	assert_non_null(strstr(old, "event=before.rotation"));
	assert_non_null(strstr(old, "event=still.old.file"));
	assert_int_equal(count_lines(fresh), 1);
	assert_non_null(strstr(fresh, "event=after.rotation"));
	free(old);
	free(fresh);
	unlink(rotated);
}

static void test_shutdown_returns_to_stderr(void **state)
{
	struct stat st;

	log_shutdown();
	log_event(LOG_INFO, "to.stderr", LOG_END); /* must not reach the file */
	assert_int_equal(stat(logpath, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_true(log_reopen()); /* no file: nothing to reopen, not an error */
}

/* --- two threads writing long lines at once: no line may be split or mixed --- */

#define THREAD_LINES 1000
#define THREAD_VALUE 3000

static void *writer(void *arg)
{
	const char *tag = arg;
	char value[THREAD_VALUE + 1];

	memset(value, tag[0], THREAD_VALUE);
	value[THREAD_VALUE] = '\0';
	for (long long i = 0; i < THREAD_LINES; i++)
		log_event(LOG_INFO, "thread", LOG_STR, "v", value, LOG_INT, "i", i, LOG_END);
	return NULL;
}

static void test_threads_do_not_interleave(void **state)
{
	pthread_t a, b;
	char *out, *line, *save = NULL;
	size_t na = 0, nb = 0;

	assert_int_equal(pthread_create(&a, NULL, writer, "a"), 0);
	assert_int_equal(pthread_create(&b, NULL, writer, "b"), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	out = slurp(logpath, NULL);
	assert_int_equal(count_lines(out), 2 * THREAD_LINES);
	for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		const char *rest = skip_ts(line, false);
		const char *v = strstr(rest, " v=");
		char c;

		assert_non_null(v);
		v += 3;
		c = *v;
		assert_true(c == 'a' || c == 'b');
		for (int i = 0; i < THREAD_VALUE; i++)
			assert_int_equal(v[i], c);
		assert_memory_equal(v + THREAD_VALUE, " i=", 3);
		if (c == 'a')
			na++;
		else
			nb++;
	}
	assert_int_equal(na, THREAD_LINES);
	assert_int_equal(nb, THREAD_LINES);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_logfmt_plain_fields, setup_log),
	    cmocka_unit_test_setup(test_logfmt_quoting, setup_log),
	    cmocka_unit_test_setup(test_logfmt_odd_key_and_event, setup_log),
	    cmocka_unit_test_setup(test_secret_fields_redacted, setup_log),
	    cmocka_unit_test_setup(test_json_fields_and_escaping, setup_log),
	    cmocka_unit_test_setup(test_json_every_byte, setup_log),
	    cmocka_unit_test_setup(test_level_filtering, setup_log),
	    cmocka_unit_test(test_level_parse),
	    cmocka_unit_test_setup(test_truncation_logfmt, setup_log),
	    cmocka_unit_test_setup(test_truncation_json, setup_log),
	    cmocka_unit_test_setup(test_setup_failure_keeps_target, setup_log),
	    cmocka_unit_test_setup(test_reopen_after_rotation, setup_log),
	    cmocka_unit_test_setup(test_shutdown_returns_to_stderr, setup_log),
	    cmocka_unit_test_setup(test_threads_do_not_interleave, setup_log),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
