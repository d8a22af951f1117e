/*
 * test_check_cli.c - `pgscope check`: exit codes, file:line, JSON and SARIF output, config, stdin.
 *
 * Includes cli/check.c (the command is not in a library) and runs cmd_check()
 * with its stdout sent to a temporary file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <unistd.h>

#include "../../cli/check.c"

static char dir[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Run `pgscope check ARGS...` (paths relative to dir), returning its exit status and stdout. */
static int run_check(char **out, ...)
{
	char *argv[16];
	char bufs[16][256];
	int argc = 0;
	va_list ap;

	argv[argc++] = "check";
	va_start(ap, out);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 15; argc++) {
		if (a[0] == '@')
			snprintf(bufs[argc], sizeof(bufs[argc]), "%s/%s", dir, a + 1);
		else
			snprintf(bufs[argc], sizeof(bufs[argc]), "%s", a);
		argv[argc] = bufs[argc];
	}
	va_end(ap);
	argv[argc] = NULL;

	char path[256];
	snprintf(path, sizeof(path), "%s/stdout", dir);
	fflush(stdout);
	int saved = dup(1);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 1);
	close(fd);
	int rc = cmd_check(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);

	FILE *f = fopen(path, "r");
	size_t cap = 1 << 20, n;
	*out = calloc(1, cap);
	n = fread(*out, 1, cap - 1, f);
	(*out)[n] = '\0';
	fclose(f);
	return rc;
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/pgscope-check-test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	write_file("clean.sql", "SELECT id, name FROM users WHERE id = 1;\n");
	write_file("bad.sql", "-- header\n"
	                      "SELECT * FROM users;\n"
	                      "\n"
	                      "DELETE FROM sessions; -- pgscope:ignore delete-without-where\n"
	                      "SELECT a.x\n  FROM a, b;\n"
	                      "SELEC oops;\n");
	write_file("info.sql", "SELECT * FROM users;\n");
	write_file("rules.ini", "[pgscope]\nlisten_port = 6432\n[rules]\nselect-star = error\n");
	write_file("typo.ini", "[rules]\nselect-stra = error\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_exit_codes(void **state)
{
	char *out;

	assert_int_equal(run_check(&out, "@clean.sql", NULL), 0);
	assert_string_equal(out, "");
	free(out);
	/* Info findings are below the default --fail-on warning. */
	assert_int_equal(run_check(&out, "@info.sql", NULL), 0);
	assert_non_null(strstr(out, "info.sql:1: info: [select-star]"));
	free(out);
	assert_int_equal(run_check(&out, "--fail-on", "info", "@info.sql", NULL), 1);
	free(out);
	assert_int_equal(run_check(&out, "@bad.sql", NULL), 1);
	free(out);
	assert_int_equal(run_check(&out, "@missing.sql", NULL), 2);
	free(out);
	assert_int_equal(run_check(&out, "--format", "xml", "@clean.sql", NULL), 2);
	free(out);
	assert_int_equal(run_check(&out, "--schema", "@missing.json", "@clean.sql", NULL), 2);
	free(out);
	assert_int_equal(run_check(&out, "--config", "@typo.ini", "@clean.sql", NULL), 2);
	free(out);
	assert_int_equal(run_check(&out, "--help", NULL), 0);
	assert_non_null(strstr(out, "--fail-on"));
	free(out);
}

static void test_text_lines_and_suppression(void **state)
{
	char *out;

	run_check(&out, "@bad.sql", NULL);
	assert_non_null(strstr(out, "bad.sql:2: info: [select-star]"));
	assert_null(strstr(out, "delete-without-where"));
	assert_non_null(strstr(out, "bad.sql:6: warning: [cartesian-join]"));
	assert_non_null(strstr(out, "bad.sql:7: error: [syntax-error]"));
	free(out);
}

static void test_json_shape(void **state)
{
	char *out, err[256];

	assert_int_equal(run_check(&out, "--format", "json", "@bad.sql", NULL), 1);
	struct json_value *v = json_parse(out, strlen(out), err, sizeof(err));
	assert_non_null(v);
	const struct json_value *f = json_get(v, "findings");
	assert_non_null(f);
	assert_int_equal(f->n, 3);
	static const char *const keys[] = {"rule",        "severity", "file",    "line",
	                                   "fingerprint", "query",    "message", "suggestion"};
	for (size_t i = 0; i < f->n; i++) {
		assert_int_equal(f->items[i].n, 8);
		for (size_t k = 0; k < 8; k++)
			assert_string_equal(f->items[i].keys[k], keys[k]);
	}
	const struct json_value *first = &f->items[0];
	assert_string_equal(json_get_string(first, "rule"), "select-star");
	assert_true(json_get_number(first, "line", 0) == 2);
	assert_string_equal(json_get_string(first, "query"), "SELECT * FROM users;");
	assert_int_equal(strlen(json_get_string(first, "fingerprint")), 16);
	/* A syntax error has no fingerprint and no suggestion. */
	const struct json_value *last = &f->items[2];
	assert_string_equal(json_get_string(last, "rule"), "syntax-error");
	assert_int_equal(json_get(last, "fingerprint")->type, JSON_NULL);
	assert_int_equal(json_get(last, "suggestion")->type, JSON_NULL);
	json_free(v);
	free(out);
}

static void test_sarif_minimal_valid(void **state)
{
	char *out, err[256];

	run_check(&out, "--format", "sarif", "@bad.sql", NULL);
	struct json_value *v = json_parse(out, strlen(out), err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(json_get_string(v, "version"), "2.1.0");
	const struct json_value *runs = json_get(v, "runs");
	assert_int_equal(runs->n, 1);
	const struct json_value *driver = json_get(json_get(&runs->items[0], "tool"), "driver");
	assert_string_equal(json_get_string(driver, "name"), "pgscope");
	const struct json_value *results = json_get(&runs->items[0], "results");
	assert_int_equal(results->n, 3);
	const struct json_value *r = &results->items[1];
	assert_string_equal(json_get_string(r, "ruleId"), "cartesian-join");
	assert_string_equal(json_get_string(r, "level"), "warning");
	const struct json_value *loc =
	    json_get(&json_get(r, "locations")->items[0], "physicalLocation");
	assert_true(json_get_number(json_get(loc, "region"), "startLine", 0) == 6);
	json_free(v);
	free(out);
}

static void test_config_and_rule_options(void **state)
{
	char *out;

	/* [rules] raises select-star to error: now info.sql fails. */
	assert_int_equal(run_check(&out, "--config", "@rules.ini", "@info.sql", NULL), 1);
	assert_non_null(strstr(out, "error: [select-star]"));
	free(out);
	assert_int_equal(
	    run_check(&out, "--rule", "select-star=off", "--fail-on", "info", "@info.sql", NULL),
	    0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exit_codes),
	    cmocka_unit_test(test_text_lines_and_suppression),
	    cmocka_unit_test(test_json_shape),
	    cmocka_unit_test(test_sarif_minimal_valid),
	    cmocka_unit_test(test_config_and_rule_options),
	};
	return cmocka_run_group_tests_name("check_cli", tests, setup, teardown);
}
