/*
 * test_parse.c - bounded parsing: statements and lines, errors, hostile inputs, fingerprints,
 * threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "analyzer/engine.h"
#include "analyzer/parse.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_statements_and_lines(void **state)
{
	const char *sql = "SELECT 1;\n\n-- note\nUPDATE t SET a = 2 WHERE id = 3;\n  DELETE FROM u";
	struct parse_tree tree;
	struct parse_error err;

	assert_int_equal(parse_sql(sql, strlen(sql), 0, &tree, &err), PARSE_OK);
	assert_int_equal(tree.n_stmts, 3);
	assert_int_equal(tree.stmts[0].line, 1);
	assert_int_equal(tree.stmts[0].offset, 0);
	assert_int_equal(tree.stmts[0].node->node_case, PG_QUERY__NODE__NODE_SELECT_STMT);
	/* The comment before UPDATE is skipped: the statement starts on line 4. */
	assert_int_equal(tree.stmts[1].line, 4);
	assert_memory_equal(sql + tree.stmts[1].offset, "UPDATE", 6);
	assert_int_equal(tree.stmts[1].node->node_case, PG_QUERY__NODE__NODE_UPDATE_STMT);
	assert_int_equal(tree.stmts[2].line, 5);
	assert_memory_equal(sql + tree.stmts[2].offset, "DELETE FROM u", 13);
	assert_int_equal(tree.stmts[2].len, 13);
	parse_tree_release(&tree);
}

static void test_syntax_error_has_position(void **state)
{
	const char *sql = "SELECT a\nFROM t\nWHERE a = = 1";
	struct parse_tree tree;
	struct parse_error err;

	assert_int_equal(parse_sql(sql, strlen(sql), 0, &tree, &err), PARSE_SYNTAX_ERROR);
	assert_non_null(strstr(err.message, "syntax error"));
	assert_int_equal(err.line, 3);
	assert_int_equal(err.offset, (int)(strstr(sql, "= 1") - sql));
	assert_null(tree.result);
}

static void test_too_large_is_not_parsed(void **state)
{
	const char *sql = "SELECT 1 FROM t WHERE a = 1";
	struct parse_tree tree;
	struct parse_error err;

	assert_int_equal(parse_sql(sql, strlen(sql), 10, &tree, &err), PARSE_TOO_LARGE);
	assert_non_null(strstr(err.message, "analyze_max_bytes"));
	/* At the limit it parses. */
	assert_int_equal(parse_sql(sql, strlen(sql), strlen(sql), &tree, &err), PARSE_OK);
	parse_tree_release(&tree);
}

static void test_nul_byte_rejected(void **state)
{
	const char sql[] = "SELECT 1\0; DROP TABLE t";
	struct parse_tree tree;
	struct parse_error err;

	assert_int_equal(parse_sql(sql, sizeof(sql) - 1, 0, &tree, &err), PARSE_INVALID_INPUT);
	assert_int_equal(err.offset, 8);
	assert_non_null(strstr(err.message, "NUL"));
}

static void test_invalid_utf8_rejected(void **state)
{
	static const char *const bad[] = {
	    "SELECT '\xff'",         /* never valid */
	    "SELECT '\xc0\x80'",     /* overlong NUL */
	    "SELECT '\xed\xa0\x80'", /* surrogate */
	    "SELECT '\xe2\x82'",     /* truncated sequence */
	};
	struct parse_tree tree;
	struct parse_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_sql(bad[i], strlen(bad[i]), 0, &tree, &err),
		                 PARSE_INVALID_INPUT);
		assert_int_equal(err.offset, 8);
	}
	/* Valid multi-byte text parses. */
	const char *good = "SELECT 'h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x90\x98'";
	assert_int_equal(parse_sql(good, strlen(good), 0, &tree, &err), PARSE_OK);
	parse_tree_release(&tree);
}

static void test_one_megabyte_query_bounded(void **state)
{
	size_t cap = 1100 * 1000;
	char *sql = malloc(cap);
	size_t n = (size_t)snprintf(sql, cap, "SELECT a FROM t WHERE a IN (");
	for (int i = 0; n < 1000 * 1000; i++)
		n += (size_t)snprintf(sql + n, cap - n, "%s'v%d'", i ? "," : "", i);
	n += (size_t)snprintf(sql + n, cap - n, ")");
	struct parse_tree tree;
	struct parse_error err;

	/* With the default limit it is counted, not parsed, at no cost. */
	assert_int_equal(parse_sql(sql, n, 0, &tree, &err), PARSE_TOO_LARGE);
	/* Even when allowed, parsing and analysing it stays bounded. */
	double t0 = now_s();
	struct analyze_options opts = {.max_bytes = 2 * 1000 * 1000};
	struct analysis *a = analyze_sql(sql, n, NULL, NULL, &opts);
	double dt = now_s() - t0;
	assert_non_null(a);
	assert_int_equal(a->status, PARSE_OK);
	assert_true(dt < 10.0);
	bool large_in = false;
	for (size_t i = 0; i < a->n_findings; i++)
		large_in |= strcmp(a->findings[i].rule_id, "large-in-list") == 0;
	assert_true(large_in);
	analysis_free(a);
	free(sql);
}

static void test_deep_nesting_errors_not_crashes(void **state)
{
	size_t depth = 10000, n = 0;
	char *sql = malloc(2 * depth + 32);
	n += (size_t)sprintf(sql, "SELECT ");
	memset(sql + n, '(', depth);
	n += depth;
	sql[n++] = '1';
	memset(sql + n, ')', depth);
	n += depth;
	struct parse_tree tree;
	struct parse_error err;

	double t0 = now_s();
	enum parse_status st = parse_sql(sql, n, 0, &tree, &err);
	assert_true(now_s() - t0 < 5.0);
	/* Rejected before parsing, with the position where the nesting got too deep. */
	assert_int_equal(st, PARSE_TOO_DEEP);
	assert_non_null(strstr(err.message, "nests too deeply"));
	assert_int_equal(err.offset, 7 + PARSE_MAX_NESTING);
	/* And the analyzer reports it as a finding. */
	struct analysis *a = analyze_sql(sql, n, NULL, NULL, NULL);
	assert_non_null(a);
	assert_int_equal(a->status, PARSE_TOO_DEEP);
	assert_int_equal(a->n_findings, 1);
	assert_string_equal(a->findings[0].rule_id, "syntax-error");
	analysis_free(a);
	free(sql);
}

/* Nesting the parser itself allows (bison's limit is 10,000) is still parsed when moderate. */
static void test_moderate_nesting_parses(void **state)
{
	size_t depth = 900, n = 0;
	char sql[2000];
	n += (size_t)sprintf(sql, "SELECT ");
	memset(sql + n, '(', depth);
	n += depth;
	sql[n++] = '1';
	memset(sql + n, ')', depth);
	n += depth;
	struct parse_tree tree;
	assert_int_equal(parse_sql(sql, n, 0, &tree, NULL), PARSE_OK);
	parse_tree_release(&tree);
}

/*
 * A left-deep operator chain ("1+1+1...") has a tree level per two bytes: a
 * 60 KB one overflows an 8 MB stack in libpg_query and costs seconds in its
 * protobuf output. It must be rejected quickly, under the default size limit.
 */
static void test_long_operator_chain_rejected_fast(void **state)
{
	size_t terms = 30000, n;
	char *sql = malloc(terms * 2 + 16);
	n = (size_t)sprintf(sql, "SELECT 1");
	for (size_t i = 0; i < terms; i++)
		n += (size_t)sprintf(sql + n, "+1");
	assert_true(n <= PARSE_DEFAULT_MAX_BYTES);

	double t0 = now_s();
	struct analysis *a = analyze_sql(sql, n, NULL, NULL, NULL);
	assert_true(now_s() - t0 < 2.0);
	assert_non_null(a);
	assert_int_equal(a->status, PARSE_TOO_DEEP);
	assert_int_equal(a->n_findings, 1);
	analysis_free(a);

	/* A chain of 1,000 terms is ordinary and analysed, deep as its tree is. */
	n = (size_t)sprintf(sql, "SELECT 1");
	for (size_t i = 0; i < 1000; i++)
		n += (size_t)sprintf(sql + n, "+1");
	a = analyze_sql(sql, n, NULL, NULL, NULL);
	assert_non_null(a);
	assert_int_equal(a->status, PARSE_OK);
	analysis_free(a);
	free(sql);
}

/* Nested scalar subqueries 3,000 deep overflowed protobuf-c's recursive unpack on an 8 MB stack. */
static void test_nested_subqueries_no_crash(void **state)
{
	size_t depth = 3000, n = 0;
	char *sql = malloc(depth * 10 + 32);
	for (size_t i = 0; i < depth; i++)
		n += (size_t)sprintf(sql + n, "SELECT (");
	n += (size_t)sprintf(sql + n, "SELECT 1");
	memset(sql + n, ')', depth);
	n += depth;
	struct analysis *a = analyze_sql(sql, n, NULL, NULL, NULL);
	assert_non_null(a);
	/* Rejected by the nesting check (more than PARSE_MAX_NESTING parentheses). */
	assert_int_equal(a->status, PARSE_TOO_DEEP);
	analysis_free(a);
	free(sql);
}

static void test_hundred_thousand_in_list_bounded(void **state)
{
	size_t cap = 1200 * 1000, n;
	char *sql = malloc(cap);
	n = (size_t)snprintf(sql, cap, "SELECT id FROM t WHERE id IN (");
	for (int i = 0; i < 100000; i++)
		n += (size_t)snprintf(sql + n, cap - n, "%s%d", i ? "," : "", i);
	n += (size_t)snprintf(sql + n, cap - n, ")");
	struct analyze_options opts = {.max_bytes = cap};

	double t0 = now_s();
	struct analysis *a = analyze_sql(sql, n, NULL, NULL, &opts);
	double dt = now_s() - t0;
	assert_non_null(a);
	assert_int_equal(a->status, PARSE_OK);
	assert_true(dt < 10.0);
	assert_int_equal(a->n_findings, 1);
	assert_string_equal(a->findings[0].rule_id, "large-in-list");
	assert_non_null(strstr(a->findings[0].message, "100000 elements"));
	/* The normalized text replaced every literal. */
	assert_non_null(a->normalized);
	assert_memory_equal(a->normalized, "SELECT id FROM t WHERE id IN ($1,$2,$3,", 39);
	assert_null(strstr(a->normalized, ",99999"));
	analysis_free(a);
	free(sql);
}

static void test_fingerprint_and_normalize(void **state)
{
	const char *a = "SELECT name FROM users WHERE id = 42";
	const char *b = "select name  from users where id = 7 -- other";
	const char *c = "SELECT name FROM users WHERE email = 'x'";
	uint64_t fa, fb, fc;
	char ha[17], hb[17], hc[17];

	assert_int_equal(parse_fingerprint(a, strlen(a), 0, &fa, ha, NULL), PARSE_OK);
	assert_int_equal(parse_fingerprint(b, strlen(b), 0, &fb, hb, NULL), PARSE_OK);
	assert_int_equal(parse_fingerprint(c, strlen(c), 0, &fc, hc, NULL), PARSE_OK);
	assert_true(fa == fb);
	assert_string_equal(ha, hb);
	assert_true(fa != fc);
	assert_int_equal(strlen(ha), 16);
	char expect[17];
	snprintf(expect, sizeof(expect), "%016llx", (unsigned long long)fa);
	assert_string_equal(ha, expect);

	char *norm = parse_normalize(c, strlen(c), 0, NULL);
	assert_non_null(norm);
	assert_string_equal(norm, "SELECT name FROM users WHERE email = $1");
	free(norm);
}

static void test_comments_found_by_scanner(void **state)
{
	const char *sql = "SELECT 1 /* block */, '-- not a comment' -- line\n";
	struct parse_comment c[4];

	assert_int_equal(parse_comments(sql, strlen(sql), c, 4), 2);
	assert_memory_equal(sql + c[0].offset, "/* block */", c[0].len);
	assert_memory_equal(sql + c[1].offset, "-- line", 7);
}

static void *parse_in_thread(void *arg)
{
	const char *sql = "SELECT a, b FROM t JOIN u ON u.id = t.uid WHERE t.x IN (1, 2, 3)";
	for (int i = 0; i < 20; i++) {
		struct analysis *a = analyze_sql(sql, strlen(sql), NULL, NULL, NULL);
		if (a == NULL)
			return (void *)1;
		analysis_free(a);
	}
	parse_thread_cleanup();
	/* A second cleanup, and one on a thread that never parsed, are harmless. */
	parse_thread_cleanup();
	return NULL;
}

static void *parse_clean_parse(void *arg)
{
	struct parse_tree tree;
	for (int i = 0; i < 3; i++) {
		if (parse_sql("SELECT 1", 8, 0, &tree, NULL) != PARSE_OK)
			return (void *)1;
		parse_tree_release(&tree);
		parse_thread_cleanup();
	}
	return NULL;
}

static void run_threads(int n)
{
	for (int i = 0; i < n; i++) {
		pthread_t th;
		void *ret;
		assert_int_equal(pthread_create(&th, NULL, parse_in_thread, NULL), 0);
		assert_int_equal(pthread_join(th, &ret), 0);
		assert_null(ret);
	}
}

static void test_thread_cleanup_releases_memory(void **state)
{
	/* Warm up allocator arenas, then check that many more threads do not grow the heap. */
	run_threads(20);
	malloc_trim(0);
	struct mallinfo2 before = mallinfo2();
	run_threads(200);
	malloc_trim(0);
	struct mallinfo2 after = mallinfo2();
	/* Each thread's libpg_query context is several hundred KB: 200 leaked would show. */
	long growth = (long)after.uordblks - (long)before.uordblks;
	assert_true(growth < 256 * 1024);
	/* Worker threads may clean up and keep parsing (only the stack is released). */
	pthread_t th;
	void *ret;
	assert_int_equal(pthread_create(&th, NULL, parse_clean_parse, NULL), 0);
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_null(ret);
}

/* Re-run this binary's thread scenario under valgrind and require no definite leaks. */
static void test_thread_cleanup_valgrind(void **state)
{
	if (access("/usr/bin/valgrind", X_OK) != 0)
		fail_msg("valgrind is not installed: run scripts/install-deps all");
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 1);
		execl("/usr/bin/valgrind", "valgrind", "-q", "--leak-check=full",
		      "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite",
		      "--error-exitcode=99", self, "--leak-child", (char *)NULL);
		_exit(127);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The scenario valgrind checks: threads that parse, clean up and exit. */
static int leak_child(void)
{
	for (int i = 0; i < 4; i++) {
		pthread_t th;
		void *ret;
		if (pthread_create(&th, NULL, parse_in_thread, NULL) != 0 ||
		    pthread_join(th, &ret) != 0 || ret != NULL)
			return 1;
	}
	/* The main thread: parse, release; a later parse is refused, not a use-after-free. */
	struct analysis *a = analyze_sql("SELECT 1", 8, NULL, NULL, NULL);
	if (a == NULL || a->status != PARSE_OK)
		return 1;
	analysis_free(a);
	parse_thread_cleanup();
	struct parse_tree tree;
	if (parse_sql("SELECT 1", 8, 0, &tree, NULL) != PARSE_NO_MEMORY)
		return 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--leak-child") == 0)
		return leak_child();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_statements_and_lines),
	    cmocka_unit_test(test_syntax_error_has_position),
	    cmocka_unit_test(test_too_large_is_not_parsed),
	    cmocka_unit_test(test_nul_byte_rejected),
	    cmocka_unit_test(test_invalid_utf8_rejected),
	    cmocka_unit_test(test_one_megabyte_query_bounded),
	    cmocka_unit_test(test_deep_nesting_errors_not_crashes),
	    cmocka_unit_test(test_moderate_nesting_parses),
	    cmocka_unit_test(test_long_operator_chain_rejected_fast),
	    cmocka_unit_test(test_nested_subqueries_no_crash),
	    cmocka_unit_test(test_hundred_thousand_in_list_bounded),
	    cmocka_unit_test(test_fingerprint_and_normalize),
	    cmocka_unit_test(test_comments_found_by_scanner),
	    cmocka_unit_test(test_thread_cleanup_releases_memory),
	    cmocka_unit_test(test_thread_cleanup_valgrind),
	};
	int rc = cmocka_run_group_tests_name("parse", tests, NULL, NULL);
	parse_thread_cleanup();
	return rc;
}
