/* test_userlist.c - auth_file parsing: quoting, comments, duplicates, errors naming the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pooler/userlist.h"

static struct userlist *parse(const char *text, char *err, size_t errlen)
{
	return userlist_parse(text, strlen(text), "users.txt", err, errlen);
}

static void test_basic_and_escapes(void **state)
{
	static const char text[] =
	    "; a comment\n"
	    "# another comment\n"
	    "\n"
	    "   \t\n"
	    "\"alice\" \"secret\"\n"
	    "\"bob\"\t\"md5cb0365d9a47401f0a8fc447541204d4a\" trailing ignored\n"
	    "  \"quo\"\"te\" \"pa\"\"ss\"\"\"\r\n"
	    "\"carol\" \"SCRAM-SHA-256$4096:c2FsdA==$a:b\"\n"
	    "\"with space\" \"semi;colon # hash\"\n"
	    "\"empty\" \"\"";
	char err[256] = "";
	struct userlist *ul = parse(text, err, sizeof(err));

	assert_non_null(ul);
	assert_int_equal(userlist_count(ul), 6);
	assert_string_equal(userlist_lookup(ul, "alice"), "secret");
	assert_string_equal(userlist_lookup(ul, "bob"), "md5cb0365d9a47401f0a8fc447541204d4a");
	assert_string_equal(userlist_lookup(ul, "quo\"te"), "pa\"ss\"");
	assert_string_equal(userlist_lookup(ul, "carol"), "SCRAM-SHA-256$4096:c2FsdA==$a:b");
	assert_string_equal(userlist_lookup(ul, "with space"), "semi;colon # hash");
	assert_string_equal(userlist_lookup(ul, "empty"), "");
	assert_null(userlist_lookup(ul, "Alice"));
	assert_null(userlist_lookup(ul, "dave"));
	assert_null(userlist_lookup(ul, ""));
	userlist_free(ul);
}

static void test_duplicates_last_wins(void **state)
{
	char err[256];
	struct userlist *ul =
	    parse("\"a\" \"1\"\n\"b\" \"2\"\n\"a\" \"3\"\n\"a\" \"4\"\n", err, sizeof(err));

	assert_non_null(ul);
	assert_int_equal(userlist_count(ul), 2);
	assert_string_equal(userlist_lookup(ul, "a"), "4");
	assert_string_equal(userlist_lookup(ul, "b"), "2");
	userlist_free(ul);
}

static void test_empty_file(void **state)
{
	char err[256];
	struct userlist *ul = parse("", err, sizeof(err));

	assert_non_null(ul);
	assert_int_equal(userlist_count(ul), 0);
	assert_null(userlist_lookup(ul, "a"));
	userlist_free(ul);
	userlist_free(NULL);
}

/* Each malformed input fails with "users.txt:LINE: " and never echoes the password. */
static void expect_error(const char *text, size_t len, const char *prefix, const char *what)
{
	char err[256] = "";
	struct userlist *ul = userlist_parse(text, len, "users.txt", err, sizeof(err));

	assert_null(ul);
	assert_int_equal(strncmp(err, prefix, strlen(prefix)), 0);
	assert_non_null(strstr(err, what));
	assert_null(strstr(err, "hunter2"));
}

static void test_errors_name_the_line(void **state)
{
	static const char nul[] = "\"a\" \"b\"\n\"c\" \"hun\0ter2\"\n";
	char *big = malloc(USERLIST_MAX_LINE + 64);
	char *field = malloc(USERLIST_MAX_FIELD + 64);

	expect_error("\"a\" \"b\"\nalice \"hunter2\"\n", 26, "users.txt:2: ", "double-quoted");
	expect_error("\"a\" \"hunter2\n", 12, "users.txt:1: ", "unterminated");
	expect_error("\n\n\"alice\"\n", 10, "users.txt:3: ", "password");
	expect_error("\"alice\" hunter2\n", 16, "users.txt:1: ", "password");
	expect_error("\"\" \"hunter2\"\n", 12, "users.txt:1: ", "empty user");
	expect_error(nul, sizeof(nul) - 1, "users.txt:2: ", "NUL");

	assert_non_null(big);
	memset(big, ' ', USERLIST_MAX_LINE + 1);
	memcpy(big, "\"a\" \"hunter2\"", 13);
	big[USERLIST_MAX_LINE + 1] = '\n';
	expect_error(big, USERLIST_MAX_LINE + 2, "users.txt:1: ", "longer");
	/* exactly at the limit is fine */
	struct userlist *ul = userlist_parse(big, USERLIST_MAX_LINE, "users.txt", NULL, 0);
	assert_non_null(ul);
	assert_string_equal(userlist_lookup(ul, "a"), "hunter2");
	userlist_free(ul);
	free(big);

	assert_non_null(field);
	field[0] = '"';
	memset(field + 1, 'u', USERLIST_MAX_FIELD + 1);
	memcpy(field + USERLIST_MAX_FIELD + 2, "\" \"hunter2\"", 11);
	expect_error(field, USERLIST_MAX_FIELD + 13, "users.txt:1: ", "too long");
	free(field);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/pgscope-userlist-XXXXXX";
	char err[512] = "";
	int fd = mkstemp(path);
	FILE *f;
	struct userlist *ul;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(";; users\n\"app\" \"apppass\"\n\"admin\" \"md54a0a68b43b6cd5cf266fa02f196e2371\"\n",
	      f);
	fclose(f);
	ul = userlist_load(path, err, sizeof(err));
	assert_non_null(ul);
	assert_int_equal(userlist_count(ul), 2);
	assert_string_equal(userlist_lookup(ul, "app"), "apppass");

	/* a reload builds a new list; a failed one leaves the old list usable */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("\"app\" \"apppass\"\nbroken\n", f);
	fclose(f);
	assert_null(userlist_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, ":2: "));
	assert_non_null(strstr(err, path));
	assert_string_equal(userlist_lookup(ul, "app"), "apppass");
	userlist_free(ul);

	unlink(path);
	assert_null(userlist_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "cannot open"));
}

static void test_many_users(void **state)
{
	size_t n = 5000, cap = n * 40, len = 0;
	char *text = malloc(cap);
	char user[32], want[32];
	struct userlist *ul;

	assert_non_null(text);
	for (size_t i = n; i > 0; i--)
		len += (size_t)snprintf(text + len, cap - len, "\"user%zu\" \"pw%zu\"\n", i, i * 7);
	ul = userlist_parse(text, len, "users.txt", NULL, 0);
	assert_non_null(ul);
	assert_int_equal(userlist_count(ul), n);
	for (size_t i = 1; i <= n; i += 97) {
		snprintf(user, sizeof(user), "user%zu", i);
		snprintf(want, sizeof(want), "pw%zu", i * 7);
		assert_string_equal(userlist_lookup(ul, user), want);
	}
	assert_null(userlist_lookup(ul, "user0"));
	userlist_free(ul);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic_and_escapes), cmocka_unit_test(test_duplicates_last_wins),
	    cmocka_unit_test(test_empty_file),        cmocka_unit_test(test_errors_name_the_line),
	    cmocka_unit_test(test_load_file),         cmocka_unit_test(test_many_users),
	};

	return cmocka_run_group_tests_name("userlist", tests, NULL, NULL);
}
