/* test_auth.c - md5 hashes and answers, and cleartext checks against each kind of entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pooler/auth.h"
#include "pooler/scram.h"

/* Expected digests computed independently with Python's hashlib. */
#define ALICE_MD5    "md54a0a68b43b6cd5cf266fa02f196e2371" /* md5("secret" + "alice") */
#define ALICE_ANSWER "md598a0412b9c31436fc53776e863350083" /* salt 01 02 03 04 */
#define BOB_MD5      "md5cb0365d9a47401f0a8fc447541204d4a" /* md5("pa\"ss" + "bob") */

static const uint8_t salt[AUTH_MD5_SALT_LEN] = {1, 2, 3, 4};

static void test_md5_password(void **state)
{
	char out[AUTH_MD5_BUF];

	assert_true(auth_md5_password("alice", "secret", out));
	assert_string_equal(out, ALICE_MD5);
	assert_true(auth_md5_password("bob", "pa\"ss", out));
	assert_string_equal(out, BOB_MD5);
}

static void test_md5_response(void **state)
{
	char out[AUTH_MD5_BUF];

	/* from the plaintext password and from the stored hash: the same answer */
	assert_true(auth_md5_response("alice", "secret", salt, out));
	assert_string_equal(out, ALICE_ANSWER);
	assert_true(auth_md5_response("alice", ALICE_MD5, salt, out));
	assert_string_equal(out, ALICE_ANSWER);
	/* a SCRAM secret or an empty password cannot answer md5 */
	assert_false(auth_md5_response("alice", "SCRAM-SHA-256$4096:abc$d:e", salt, out));
	assert_false(auth_md5_response("alice", "", salt, out));
}

static void test_md5_check(void **state)
{
	static const uint8_t other_salt[AUTH_MD5_SALT_LEN] = {1, 2, 3, 5};

	assert_true(auth_md5_check("alice", "secret", salt, ALICE_ANSWER, AUTH_MD5_LEN));
	assert_true(auth_md5_check("alice", ALICE_MD5, salt, ALICE_ANSWER, AUTH_MD5_LEN));
	/* wrong salt, wrong user, wrong password, truncated, extended, uppercase */
	assert_false(auth_md5_check("alice", "secret", other_salt, ALICE_ANSWER, AUTH_MD5_LEN));
	assert_false(auth_md5_check("alicE", "secret", salt, ALICE_ANSWER, AUTH_MD5_LEN));
	assert_false(auth_md5_check("alice", "secreT", salt, ALICE_ANSWER, AUTH_MD5_LEN));
	assert_false(auth_md5_check("alice", "secret", salt, ALICE_ANSWER, AUTH_MD5_LEN - 1));
	assert_false(auth_md5_check("alice", "secret", salt, ALICE_ANSWER "0", AUTH_MD5_LEN + 1));
	assert_false(auth_md5_check("alice", "secret", salt, "MD598A0412B9C31436FC53776E863350083",
	                            AUTH_MD5_LEN));
	assert_false(auth_md5_check("alice", "secret", salt, "", 0));
	/* the client answering with the stored hash itself is not the answer */
	assert_false(auth_md5_check("alice", "secret", salt, ALICE_MD5, AUTH_MD5_LEN));
}

static void test_secret_kind(void **state)
{
	assert_int_equal(auth_secret_kind(ALICE_MD5), AUTH_SECRET_MD5);
	assert_int_equal(auth_secret_kind("SCRAM-SHA-256$4096:x$y:z"), AUTH_SECRET_SCRAM);
	assert_int_equal(auth_secret_kind("secret"), AUTH_SECRET_PLAIN);
	/* not exactly "md5" + 32 lowercase hex: a plaintext password that starts with md5 */
	assert_int_equal(auth_secret_kind("md5"), AUTH_SECRET_PLAIN);
	assert_int_equal(auth_secret_kind("md54a0a68b43b6cd5cf266fa02f196e237"), AUTH_SECRET_PLAIN);
	assert_int_equal(auth_secret_kind("md54A0A68B43B6CD5CF266FA02F196E2371"),
	                 AUTH_SECRET_PLAIN);
	assert_int_equal(auth_secret_kind("md54a0a68b43b6cd5cf266fa02f196e2371x"),
	                 AUTH_SECRET_PLAIN);
}

static void test_plain_check(void **state)
{
	char secret[SCRAM_SECRET_MAX];
	const char *err = NULL;

	assert_true(auth_plain_check("alice", "secret", "secret", 6));
	assert_false(auth_plain_check("alice", "secret", "secre", 5));
	assert_false(auth_plain_check("alice", "secret", "secret!", 7));
	assert_false(auth_plain_check("alice", "secret", "secret\0x", 8));
	assert_true(auth_plain_check("alice", ALICE_MD5, "secret", 6));
	assert_false(auth_plain_check("bob", ALICE_MD5, "secret", 6));
	assert_false(auth_plain_check("alice", ALICE_MD5, ALICE_MD5, AUTH_MD5_LEN));
	assert_int_equal(scram_make_secret("secret", 4096, secret, sizeof(secret), &err), SCRAM_OK);
	assert_true(auth_plain_check("alice", secret, "secret", 6));
	assert_false(auth_plain_check("alice", secret, "Secret", 6));
	/* an empty password never authenticates */
	assert_false(auth_plain_check("alice", "", "", 0));
}

static void test_equal_and_salt(void **state)
{
	uint8_t a[AUTH_MD5_SALT_LEN], b[AUTH_MD5_SALT_LEN];

	assert_true(auth_equal("abc", 3, "abc", 3));
	assert_false(auth_equal("abc", 3, "abd", 3));
	assert_false(auth_equal("abc", 3, "abcd", 4));
	assert_true(auth_equal("", 0, "", 0));
	/* two random salts: equal with probability 2^-32 */
	assert_true(auth_md5_salt(a));
	assert_true(auth_md5_salt(b));
	assert_memory_not_equal(a, b, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_md5_password), cmocka_unit_test(test_md5_response),
	    cmocka_unit_test(test_md5_check),    cmocka_unit_test(test_secret_kind),
	    cmocka_unit_test(test_plain_check),  cmocka_unit_test(test_equal_and_salt),
	};

	return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
