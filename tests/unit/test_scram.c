/* test_scram.c - SCRAM-SHA-256: RFC 7677 vector, round trips, and rejection of bad messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pooler/scram.h"

#define RFC_CLIENT_NONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SERVER_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CLIENT_NONCE
#define RFC_SERVER_FIRST "r=" RFC_CLIENT_NONCE RFC_SERVER_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_CLIENT_FINAL                              \
	"c=biws,r=" RFC_CLIENT_NONCE RFC_SERVER_NONCE \
	",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
/* "pencil" with the RFC salt and 4096 iterations, computed independently (Python hashlib). */
#define RFC_SECRET                                                                                 \
	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=" \
	":"                                                                                        \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
/* Made by PostgreSQL 15 (CREATE USER ... PASSWORD 'pencil-scram'), read from pg_authid. */
#define PG15_SECRET                                                            \
	"SCRAM-SHA-256$4096:mmBTL6QK6iO3WmqgIZVs2w==$gbO4f6bIdHfQlXBrM6GkxD3/" \
	"EXOQlc5oHZELLiNMnwI=:"                                                \
	"E7AbYE2oHwRxUsiwMNIBj0ipRZlcuem1oeX9fY5pV/4="
#define RFC_CLIENT_KEY_B64 "pg/JI9Z+hkSpLRa5btpe9GVrDHJcSEN0viVTVXaZbos="

#define BUF 1024

static enum scram_status send_str(struct scram_client *c, const char *msg, char *out)
{
	return scram_client_handle_server_first(c, msg, strlen(msg), out, BUF, NULL);
}

static void test_rfc7677_client(void **state)
{
	struct scram_client c;
	char out[BUF];
	const char *err = NULL;

	assert_int_equal(scram_client_init(&c, "pencil", &err), SCRAM_OK);
	assert_int_equal(scram_client_override(&c, "user", RFC_CLIENT_NONCE, &err), SCRAM_OK);
	assert_int_equal(scram_client_first(&c, out, sizeof(out), &err), SCRAM_OK);
	assert_string_equal(out, RFC_CLIENT_FIRST);
	assert_int_equal(send_str(&c, RFC_SERVER_FIRST, out), SCRAM_OK);
	assert_string_equal(out, RFC_CLIENT_FINAL);
	assert_int_equal(
	    scram_client_verify_server_final(&c, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL), &err),
	    SCRAM_OK);
	assert_int_equal(c.step, SCRAM_CLIENT_DONE);
	scram_client_release(&c);
}

/* The server half replays the same vector from a stored secret. */
static void test_rfc7677_server(void **state)
{
	struct scram_server s;
	struct scram_keys keys;
	uint8_t expect_ck[SCRAM_KEY_LEN];
	char out[BUF];
	const char *err = NULL;

	assert_int_equal(scram_server_init(&s, "user", RFC_SECRET, &err), SCRAM_OK);
	assert_int_equal(scram_server_override_nonce(&s, RFC_SERVER_NONCE, &err), SCRAM_OK);
	assert_int_equal(scram_server_handle_client_first(&s, RFC_CLIENT_FIRST,
	                                                  strlen(RFC_CLIENT_FIRST), out,
	                                                  sizeof(out), &err),
	                 SCRAM_OK);
	assert_string_equal(out, RFC_SERVER_FIRST);
	assert_false(scram_server_client_keys(&s, &keys));
	assert_int_equal(scram_server_handle_client_final(&s, RFC_CLIENT_FINAL,
	                                                  strlen(RFC_CLIENT_FINAL), out,
	                                                  sizeof(out), &err),
	                 SCRAM_OK);
	assert_string_equal(out, RFC_SERVER_FINAL);
	assert_true(scram_server_client_keys(&s, &keys));
	assert_int_equal(scram_base64_decode(RFC_CLIENT_KEY_B64, strlen(RFC_CLIENT_KEY_B64),
	                                     expect_ck, sizeof(expect_ck)),
	                 SCRAM_KEY_LEN);
	assert_memory_equal(keys.client_key, expect_ck, SCRAM_KEY_LEN);
	assert_int_equal(keys.iterations, 4096);
	assert_int_equal(keys.salt_len, 16);
	scram_server_release(&s);
}

/* Drive a full exchange between our client and our server. Returns the first failure. */
static enum scram_status round_trip(struct scram_client *c, struct scram_server *s,
                                    const char **err)
{
	char m1[BUF], m2[BUF], m3[BUF], m4[BUF];
	enum scram_status rc;

	rc = scram_client_first(c, m1, sizeof(m1), err);
	if (rc != SCRAM_OK)
		return rc;
	rc = scram_server_handle_client_first(s, m1, strlen(m1), m2, sizeof(m2), err);
	if (rc != SCRAM_OK)
		return rc;
	rc = scram_client_handle_server_first(c, m2, strlen(m2), m3, sizeof(m3), err);
	if (rc != SCRAM_OK)
		return rc;
	rc = scram_server_handle_client_final(s, m3, strlen(m3), m4, sizeof(m4), err);
	if (rc != SCRAM_OK)
		return rc;
	return scram_client_verify_server_final(c, m4, strlen(m4), err);
}

static enum scram_status try_login(const char *server_entry, const char *client_password)
{
	struct scram_client c;
	struct scram_server s;
	const char *err = NULL;
	enum scram_status rc;

	assert_int_equal(scram_client_init(&c, client_password, &err), SCRAM_OK);
	assert_int_equal(scram_server_init(&s, "user", server_entry, &err), SCRAM_OK);
	rc = round_trip(&c, &s, &err);
	if (rc != SCRAM_OK)
		assert_non_null(err);
	scram_client_release(&c);
	scram_server_release(&s);
	return rc;
}

static void test_round_trip_plaintext(void **state)
{
	assert_int_equal(try_login("s3cret pass", "s3cret pass"), SCRAM_OK);
	assert_int_equal(try_login("s3cret pass", "s3cret pasS"), SCRAM_ERR_AUTH);
	assert_int_equal(try_login("s3cret pass", ""), SCRAM_ERR_AUTH);
}

static void test_round_trip_secret(void **state)
{
	char secret[SCRAM_SECRET_MAX];
	const char *err = NULL;

	assert_int_equal(scram_make_secret("hunter2", 4096, secret, sizeof(secret), &err),
	                 SCRAM_OK);
	assert_int_equal(strncmp(secret, "SCRAM-SHA-256$4096:", 19), 0);
	assert_int_equal(try_login(secret, "hunter2"), SCRAM_OK);
	assert_int_equal(try_login(secret, "hunter3"), SCRAM_ERR_AUTH);
	assert_true(scram_verify_password(secret, "hunter2"));
	assert_false(scram_verify_password(secret, "Hunter2"));
	assert_true(scram_verify_password(RFC_SECRET, "pencil"));
	assert_false(scram_verify_password(RFC_SECRET, "pencil "));
	/* a secret PostgreSQL itself made */
	assert_int_equal(try_login(PG15_SECRET, "pencil-scram"), SCRAM_OK);
	assert_int_equal(try_login(PG15_SECRET, "pencil-scraM"), SCRAM_ERR_AUTH);
	assert_true(scram_verify_password(PG15_SECRET, "pencil-scram"));
	assert_false(scram_verify_password(PG15_SECRET, "pencil"));
}

/* Non-ASCII passwords are used as raw bytes on both ends, so they still match each other. */
static void test_non_ascii_password(void **state)
{
	assert_int_equal(try_login("p\xc3\xa4ssw\xc3\xb6rd", "p\xc3\xa4ssw\xc3\xb6rd"), SCRAM_OK);
	assert_int_equal(try_login("\xff\xfe invalid utf8", "\xff\xfe invalid utf8"), SCRAM_OK);
	assert_int_equal(try_login("p\xc3\xa4ssw\xc3\xb6rd", "passwoerd"), SCRAM_ERR_AUTH);
}

/* SECRET made from MADE_FROM is verified by PASSWORD: SASLprep makes them the same. */
static void expect_same_after_saslprep(const char *made_from, const char *password)
{
	char secret[SCRAM_SECRET_MAX];
	const char *err = NULL;

	assert_int_equal(scram_make_secret(made_from, 4096, secret, sizeof(secret), &err),
	                 SCRAM_OK);
	if (!scram_verify_password(secret, password))
		fail_msg("'%s' does not verify a secret made from '%s'", password, made_from);
	assert_int_equal(try_login(secret, password), SCRAM_OK);
	assert_int_equal(try_login(made_from, password), SCRAM_OK);
}

/* SASLprep (RFC 4013) as PostgreSQL applies it to passwords on both sides. */
static void test_saslprep(void **state)
{
	char secret[SCRAM_SECRET_MAX];
	const char *err = NULL;

	expect_same_after_saslprep("IX", "I\xc2\xadX");   /* soft hyphen: mapped to nothing */
	expect_same_after_saslprep("IX", "\xe2\x85\xa8"); /* ROMAN NUMERAL NINE: NFKC */
	expect_same_after_saslprep("a", "\xc2\xaa");      /* FEMININE ORDINAL: NFKC */
	expect_same_after_saslprep("a b", "a\xc2\xa0"
	                                  "b");                    /* no-break space: a space */
	expect_same_after_saslprep("p\xc3\xa4ss", "pa\xcc\x88ss"); /* composed by NFKC */
	/* Prohibited output and bidi violations: the raw bytes are used, as PostgreSQL does. */
	expect_same_after_saslprep("a\xe2\x80\x8e"
	                           "b",
	                           "a\xe2\x80\x8e"
	                           "b"); /* LEFT-TO-RIGHT MARK */
	expect_same_after_saslprep("\xd8\xa7"
	                           "1",
	                           "\xd8\xa7"
	                           "1"); /* RandALCat, then a digit */
	assert_int_equal(scram_make_secret("a\xe2\x80\x8e"
	                                   "b",
	                                   4096, secret, sizeof(secret), &err),
	                 SCRAM_OK);
	assert_false(scram_verify_password(secret, "ab"));
	/* ASCII, control characters included, is used as it is. */
	expect_same_after_saslprep("tab\there", "tab\there");
	assert_int_equal(scram_make_secret("IX", 4096, secret, sizeof(secret), &err), SCRAM_OK);
	assert_false(scram_verify_password(secret, "I X"));
}

/* A ClientKey recovered on the server side logs the same user in again, with no password. */
static void test_keys_pass_through(void **state)
{
	char secret[SCRAM_SECRET_MAX];
	struct scram_client c;
	struct scram_server s;
	struct scram_keys keys;
	const char *err = NULL;

	assert_int_equal(scram_make_secret("through", 4096, secret, sizeof(secret), &err),
	                 SCRAM_OK);
	assert_int_equal(scram_client_init(&c, "through", &err), SCRAM_OK);
	assert_int_equal(scram_server_init(&s, "user", secret, &err), SCRAM_OK);
	assert_int_equal(round_trip(&c, &s, &err), SCRAM_OK);
	assert_true(scram_server_client_keys(&s, &keys));
	scram_client_release(&c);
	scram_server_release(&s);

	/* the "real server" holds the same secret */
	assert_int_equal(scram_client_init_keys(&c, &keys, &err), SCRAM_OK);
	assert_int_equal(scram_server_init(&s, "user", secret, &err), SCRAM_OK);
	assert_int_equal(round_trip(&c, &s, &err), SCRAM_OK);
	scram_client_release(&c);
	scram_server_release(&s);

	/* a server whose secret has another salt is refused before any proof is sent */
	assert_int_equal(scram_make_secret("through", 4096, secret, sizeof(secret), &err),
	                 SCRAM_OK);
	assert_int_equal(scram_client_init_keys(&c, &keys, &err), SCRAM_OK);
	assert_int_equal(scram_server_init(&s, "user", secret, &err), SCRAM_OK);
	assert_int_equal(round_trip(&c, &s, &err), SCRAM_ERR_AUTH);
	scram_client_release(&c);
	scram_server_release(&s);
}

/* Keys kept from one password login are reused for the next without the password. */
static void test_client_keys_reuse(void **state)
{
	char secret[SCRAM_SECRET_MAX];
	struct scram_client c;
	struct scram_server s;
	struct scram_keys keys;
	const char *err = NULL;

	assert_int_equal(scram_make_secret("cached", 4096, secret, sizeof(secret), &err), SCRAM_OK);
	assert_int_equal(scram_client_init(&c, "cached", &err), SCRAM_OK);
	assert_false(scram_client_keys(&c, &keys));
	assert_int_equal(scram_server_init(&s, "user", secret, &err), SCRAM_OK);
	assert_int_equal(round_trip(&c, &s, &err), SCRAM_OK);
	assert_true(scram_client_keys(&c, &keys));
	scram_client_release(&c);
	scram_server_release(&s);

	assert_int_equal(scram_client_init_keys(&c, &keys, &err), SCRAM_OK);
	assert_int_equal(scram_server_init(&s, "user", secret, &err), SCRAM_OK);
	assert_int_equal(round_trip(&c, &s, &err), SCRAM_OK);
	scram_client_release(&c);
	scram_server_release(&s);

	/* a failed login leaves nothing to reuse */
	assert_int_equal(scram_client_init(&c, "wrong", &err), SCRAM_OK);
	assert_int_equal(scram_server_init(&s, "user", secret, &err), SCRAM_OK);
	assert_int_equal(round_trip(&c, &s, &err), SCRAM_ERR_AUTH);
	assert_false(scram_client_keys(&c, &keys));
	scram_client_release(&c);
	scram_server_release(&s);
}

static void test_mock_user_fails(void **state)
{
	struct scram_client c;
	struct scram_server s, s2;
	char m1[BUF], m2[BUF], m2b[BUF];
	const char *err = NULL;

	assert_int_equal(scram_client_init(&c, "anything", &err), SCRAM_OK);
	assert_int_equal(scram_server_init_mock(&s, "nosuchuser", &err), SCRAM_OK);
	assert_int_equal(round_trip(&c, &s, &err), SCRAM_ERR_AUTH);
	scram_client_release(&c);
	scram_server_release(&s);

	/* the same unknown user sees the same salt each time */
	assert_int_equal(scram_server_init_mock(&s, "nosuchuser", &err), SCRAM_OK);
	assert_int_equal(scram_server_init_mock(&s2, "nosuchuser", &err), SCRAM_OK);
	strcpy(m1, "n,,n=,r=abcdef");
	assert_int_equal(scram_server_handle_client_first(&s, m1, strlen(m1), m2, BUF, &err),
	                 SCRAM_OK);
	assert_int_equal(scram_server_handle_client_first(&s2, m1, strlen(m1), m2b, BUF, &err),
	                 SCRAM_OK);
	assert_string_equal(strstr(m2, ",s="), strstr(m2b, ",s="));
	scram_server_release(&s);
	scram_server_release(&s2);
}

/* The s= and i= part of the server-first-message a fresh exchange for (user, entry) sends. */
static void server_first_salt(const char *user, const char *entry, char *out, size_t outlen)
{
	struct scram_server s;
	char m2[BUF];
	const char *err = NULL;
	static const char m1[] = "n,,n=,r=abcdef";

	if (entry != NULL)
		assert_int_equal(scram_server_init(&s, user, entry, &err), SCRAM_OK);
	else
		assert_int_equal(scram_server_init_mock(&s, user, &err), SCRAM_OK);
	assert_int_equal(scram_server_handle_client_first(&s, m1, strlen(m1), m2, sizeof(m2), &err),
	                 SCRAM_OK);
	assert_non_null(strstr(m2, ",s="));
	snprintf(out, outlen, "%s", strstr(m2, ",s="));
	scram_server_release(&s);
}

/*
 * An entry SCRAM cannot use (md5 hash, malformed secret, empty password) or
 * no entry at all gives the mock exchange, as PostgreSQL does: it starts like
 * a real one, with the salt an unknown user of that name would see, and fails
 * even with the password the md5 hash was made from.
 */
static void test_unusable_entry_gets_mock(void **state)
{
	/* md5("pencil" + "user") */
	static const char *const entries[] = {"md520c46e3762c864548e296b33c3406aa9",
	                                      "SCRAM-SHA-256$4096:abc$def:ghi", "", NULL};
	char want[BUF], got[BUF];

	server_first_salt("user", NULL, want, sizeof(want));
	assert_non_null(strstr(want, ",i=4096"));
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
		struct scram_client c;
		struct scram_server s;
		const char *err = NULL;

		assert_int_equal(scram_server_init(&s, "user", entries[i], &err), SCRAM_OK);
		assert_true(s.mock);
		assert_non_null(s.mock_reason);
		assert_int_equal(scram_client_init(&c, "pencil", &err), SCRAM_OK);
		assert_int_equal(round_trip(&c, &s, &err), SCRAM_ERR_AUTH);
		scram_client_release(&c);
		scram_server_release(&s);
		server_first_salt("user", entries[i], got, sizeof(got));
		assert_string_equal(got, want);
	}
}

/*
 * A plaintext entry has no stored salt: it shows the user's made-up one,
 * stable across attempts and the same as if the user were unknown, and the
 * right password still logs in.
 */
static void test_plaintext_entry_salt_stable(void **state)
{
	char first[BUF], again[BUF], mock[BUF], other[BUF];

	server_first_salt("alice", "pencil", first, sizeof(first));
	server_first_salt("alice", "pencil", again, sizeof(again));
	server_first_salt("alice", NULL, mock, sizeof(mock));
	server_first_salt("bob", "pencil", other, sizeof(other));
	assert_string_equal(first, again);
	assert_string_equal(first, mock);
	assert_string_not_equal(first, other);
	assert_int_equal(try_login("pencil", "pencil"), SCRAM_OK);
	assert_int_equal(try_login("pencil", "pen"), SCRAM_ERR_AUTH);
}

/* Client after a fresh first message, for feeding it server-first variants. */
static void client_at_first(struct scram_client *c, char *out)
{
	const char *err = NULL;

	assert_int_equal(scram_client_init(c, "pencil", &err), SCRAM_OK);
	assert_int_equal(scram_client_override(c, "user", RFC_CLIENT_NONCE, &err), SCRAM_OK);
	assert_int_equal(scram_client_first(c, out, BUF, &err), SCRAM_OK);
}

static enum scram_status client_reply(const char *server_first)
{
	struct scram_client c;
	char out[BUF];
	enum scram_status rc;

	client_at_first(&c, out);
	rc = send_str(&c, server_first, out);
	scram_client_release(&c);
	return rc;
}

static void test_client_rejects_bad_server_first(void **state)
{
	/* nonce that does not extend ours (tampered first character) */
	assert_int_equal(
	    client_reply("r=XOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
	    SCRAM_ERR_PROTOCOL);
	/* nonce equal to ours: the server added nothing */
	assert_int_equal(client_reply("r=" RFC_CLIENT_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
	                 SCRAM_ERR_PROTOCOL);
	/* iteration counts out of range or not a number */
	assert_int_equal(client_reply("r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0"),
	                 SCRAM_ERR_PROTOCOL);
	assert_int_equal(
	    client_reply("r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001"),
	    SCRAM_ERR_PROTOCOL);
	assert_int_equal(
	    client_reply("r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999"),
	    SCRAM_ERR_PROTOCOL);
	assert_int_equal(client_reply("r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1"),
	                 SCRAM_ERR_PROTOCOL);
	assert_int_equal(client_reply("r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i="),
	                 SCRAM_ERR_PROTOCOL);
	/* bad salt, missing attributes, wrong order, trailing garbage */
	assert_int_equal(client_reply("r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7s!EsUEjb6gQ==,i=4096"),
	                 SCRAM_ERR_PROTOCOL);
	assert_int_equal(client_reply("r=" RFC_CLIENT_NONCE "x,s=,i=4096"), SCRAM_ERR_PROTOCOL);
	assert_int_equal(client_reply("r=" RFC_CLIENT_NONCE "x,i=4096"), SCRAM_ERR_PROTOCOL);
	assert_int_equal(client_reply("s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" RFC_CLIENT_NONCE "x,i=4096"),
	                 SCRAM_ERR_PROTOCOL);
	assert_int_equal(client_reply("r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"),
	                 SCRAM_ERR_PROTOCOL);
	assert_int_equal(
	    client_reply("r=" RFC_CLIENT_NONCE "x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=1"),
	    SCRAM_ERR_PROTOCOL);
	assert_int_equal(client_reply("e=other-error"), SCRAM_ERR_PROTOCOL);
	assert_int_equal(client_reply(""), SCRAM_ERR_PROTOCOL);
	assert_int_equal(client_reply("r"), SCRAM_ERR_PROTOCOL);
	/* the sanity check: the unmodified message is accepted */
	assert_int_equal(client_reply(RFC_SERVER_FIRST), SCRAM_OK);
}

static void test_client_rejects_bad_server_final(void **state)
{
	static const char *bad[] = {
	    "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", /* wrong signature */
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",  /* unpadded */
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,x=1", "v=", "e=invalid-proof", "",
	};
	static const enum scram_status want[] = {
	    SCRAM_ERR_AUTH,     SCRAM_ERR_PROTOCOL, SCRAM_ERR_PROTOCOL,
	    SCRAM_ERR_PROTOCOL, SCRAM_ERR_AUTH,     SCRAM_ERR_PROTOCOL,
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct scram_client c;
		char out[BUF];
		const char *err = NULL;

		client_at_first(&c, out);
		assert_int_equal(send_str(&c, RFC_SERVER_FIRST, out), SCRAM_OK);
		assert_int_equal(scram_client_verify_server_final(&c, bad[i], strlen(bad[i]), &err),
		                 want[i]);
		assert_non_null(err);
		/* a failed exchange stays failed */
		assert_int_equal(scram_client_verify_server_final(&c, RFC_SERVER_FINAL,
		                                                  strlen(RFC_SERVER_FINAL), &err),
		                 SCRAM_ERR_PROTOCOL);
		scram_client_release(&c);
	}
}

static enum scram_status server_first_reply(const char *client_first)
{
	struct scram_server s;
	char out[BUF];
	const char *err = NULL;
	enum scram_status rc;

	assert_int_equal(scram_server_init(&s, "user", RFC_SECRET, &err), SCRAM_OK);
	rc = scram_server_handle_client_first(&s, client_first, strlen(client_first), out,
	                                      sizeof(out), &err);
	if (rc != SCRAM_OK)
		assert_non_null(err);
	scram_server_release(&s);
	return rc;
}

static void test_server_rejects_bad_client_first(void **state)
{
	char big[SCRAM_MAX_MESSAGE + 64];

	assert_int_equal(server_first_reply("p=tls-server-end-point,,n=,r=abc"),
	                 SCRAM_ERR_PROTOCOL);
	assert_int_equal(server_first_reply("n,a=admin,n=,r=abc"), SCRAM_ERR_PROTOCOL);
	assert_int_equal(server_first_reply("x,,n=,r=abc"), SCRAM_ERR_PROTOCOL);
	assert_int_equal(server_first_reply("n,,r=abc"), SCRAM_ERR_PROTOCOL);
	assert_int_equal(server_first_reply("n,,n=,r="), SCRAM_ERR_PROTOCOL);
	assert_int_equal(server_first_reply("n,,n=,r=a b"), SCRAM_ERR_PROTOCOL);
	assert_int_equal(server_first_reply("n,,n=,r=abc,"), SCRAM_ERR_PROTOCOL);
	assert_int_equal(server_first_reply("n,,n="), SCRAM_ERR_PROTOCOL);
	assert_int_equal(server_first_reply("n,"), SCRAM_ERR_PROTOCOL);
	assert_int_equal(server_first_reply(""), SCRAM_ERR_PROTOCOL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "n,,n=,r=", 8);
	assert_int_equal(server_first_reply(big), SCRAM_ERR_PROTOCOL);
	/* accepted forms: psql's empty name, a named user, "y" flag, an extension */
	assert_int_equal(server_first_reply("n,,n=,r=abc"), SCRAM_OK);
	assert_int_equal(server_first_reply("n,,n=someone,r=abc"), SCRAM_OK);
	assert_int_equal(server_first_reply("y,,n=*,r=abc"), SCRAM_OK);
	assert_int_equal(server_first_reply("n,,n=,r=abc,x=ext"), SCRAM_OK);

	/* an embedded NUL is malformed even when the rest parses */
	struct scram_server s;
	char out[BUF];
	const char *err = NULL;

	assert_int_equal(scram_server_init(&s, "user", RFC_SECRET, &err), SCRAM_OK);
	assert_int_equal(scram_server_handle_client_first(&s, "n,,n=,r=ab\0c", 12, out, BUF, &err),
	                 SCRAM_ERR_PROTOCOL);
	scram_server_release(&s);
}

static enum scram_status server_final_reply_len(const char *client_final, size_t len);

static enum scram_status server_final_reply(const char *client_final)
{
	return server_final_reply_len(client_final, strlen(client_final));
}

static enum scram_status server_final_reply_len(const char *client_final, size_t len)
{
	struct scram_server s;
	char out[BUF];
	const char *err = NULL;
	enum scram_status rc;

	assert_int_equal(scram_server_init(&s, "user", RFC_SECRET, &err), SCRAM_OK);
	assert_int_equal(scram_server_override_nonce(&s, RFC_SERVER_NONCE, &err), SCRAM_OK);
	assert_int_equal(scram_server_handle_client_first(&s, RFC_CLIENT_FIRST,
	                                                  strlen(RFC_CLIENT_FIRST), out, BUF, &err),
	                 SCRAM_OK);
	rc = scram_server_handle_client_final(&s, client_final, len, out, BUF, &err);
	if (rc != SCRAM_OK)
		assert_non_null(err);
	scram_server_release(&s);
	return rc;
}

static void test_server_rejects_bad_client_final(void **state)
{
	const char *nonce = RFC_CLIENT_NONCE RFC_SERVER_NONCE;
	char msg[BUF];

	assert_int_equal(server_final_reply(RFC_CLIENT_FINAL), SCRAM_OK);
	/* tampered proof (last digit changed): wrong password */
	snprintf(msg, sizeof(msg),
	         "c=biws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVA=", nonce);
	assert_int_equal(server_final_reply(msg), SCRAM_ERR_AUTH);
	/* tampered nonce */
	assert_int_equal(
	    server_final_reply("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)"
	                       "hNlF$k1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
	    SCRAM_ERR_PROTOCOL);
	/* nonce cut short to the client's part */
	assert_int_equal(server_final_reply("c=biws,r=" RFC_CLIENT_NONCE
	                                    ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
	                 SCRAM_ERR_PROTOCOL);
	/* channel binding echo for a different gs2 header */
	snprintf(msg, sizeof(msg),
	         "c=eSws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", nonce);
	assert_int_equal(server_final_reply(msg), SCRAM_ERR_PROTOCOL);
	/* missing proof, short proof, data after the proof, wrong order */
	snprintf(msg, sizeof(msg), "c=biws,r=%s", nonce);
	assert_int_equal(server_final_reply(msg), SCRAM_ERR_PROTOCOL);
	snprintf(msg, sizeof(msg), "c=biws,r=%s,p=dHzbZapW", nonce);
	assert_int_equal(server_final_reply(msg), SCRAM_ERR_PROTOCOL);
	snprintf(msg, sizeof(msg), "c=biws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,x=1",
	         nonce);
	assert_int_equal(server_final_reply(msg), SCRAM_ERR_PROTOCOL);
	snprintf(msg, sizeof(msg),
	         "r=%s,c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", nonce);
	assert_int_equal(server_final_reply(msg), SCRAM_ERR_PROTOCOL);
	assert_int_equal(server_final_reply(""), SCRAM_ERR_PROTOCOL);
}

/*
 * Every truncation and every single-byte change of a valid client-final must
 * be refused: nothing in it is free for an attacker to alter. Run under
 * sanitizers this also checks that no mutation reads out of bounds.
 */
static void test_server_final_mutations(void **state)
{
	static const char repl[] = {'A', 'Q', 'z', '0', '=', ',', '/', '\0', '\x80'};
	size_t len = strlen(RFC_CLIENT_FINAL);
	char msg[BUF];
	int refused = 0;

	for (size_t cut = 0; cut < len; cut++) {
		memcpy(msg, RFC_CLIENT_FINAL, cut);
		msg[cut] = '\0';
		assert_int_not_equal(server_final_reply_len(msg, cut), SCRAM_OK);
		refused++;
	}
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < sizeof(repl); k++) {
			if (RFC_CLIENT_FINAL[i] == repl[k])
				continue;
			memcpy(msg, RFC_CLIENT_FINAL, len + 1);
			msg[i] = repl[k];
			assert_int_not_equal(server_final_reply_len(msg, len), SCRAM_OK);
			refused++;
		}
	}
	assert_true(refused > 800);
}

/* Client at the RFC vector's last step, from keys so no PBKDF2 runs per call. */
static void client_at_final(struct scram_client *c, const struct scram_keys *keys)
{
	char out[BUF];
	const char *err = NULL;

	assert_int_equal(scram_client_init_keys(c, keys, &err), SCRAM_OK);
	assert_int_equal(scram_client_override(c, "user", RFC_CLIENT_NONCE, &err), SCRAM_OK);
	assert_int_equal(scram_client_first(c, out, BUF, &err), SCRAM_OK);
	assert_int_equal(send_str(c, RFC_SERVER_FIRST, out), SCRAM_OK);
	assert_string_equal(out, RFC_CLIENT_FINAL);
}

/* The same for the server-final seen by the client. */
static void test_client_final_mutations(void **state)
{
	static const char repl[] = {'A', 'H', 'z', '0', '=', ',', 'e', '\0', '\xff'};
	size_t len = strlen(RFC_SERVER_FINAL);
	struct scram_client c;
	struct scram_keys keys;
	char msg[BUF], out[BUF];
	const char *err = NULL;

	client_at_first(&c, out);
	assert_int_equal(send_str(&c, RFC_SERVER_FIRST, out), SCRAM_OK);
	assert_int_equal(scram_client_verify_server_final(&c, RFC_SERVER_FINAL, len, &err),
	                 SCRAM_OK);
	assert_true(scram_client_keys(&c, &keys));
	scram_client_release(&c);

	for (size_t cut = 0; cut < len; cut++) {
		client_at_final(&c, &keys);
		assert_int_not_equal(
		    scram_client_verify_server_final(&c, RFC_SERVER_FINAL, cut, &err), SCRAM_OK);
		scram_client_release(&c);
	}
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < sizeof(repl); k++) {
			if (RFC_SERVER_FINAL[i] == repl[k])
				continue;
			memcpy(msg, RFC_SERVER_FINAL, len);
			msg[i] = repl[k];
			client_at_final(&c, &keys);
			assert_int_not_equal(scram_client_verify_server_final(&c, msg, len, &err),
			                     SCRAM_OK);
			scram_client_release(&c);
		}
	}
	/* the unmodified message still passes with keys: the loop above tested something */
	client_at_final(&c, &keys);
	assert_int_equal(scram_client_verify_server_final(&c, RFC_SERVER_FINAL, len, &err),
	                 SCRAM_OK);
	scram_client_release(&c);
}

/*
 * Single-byte changes to server-first: the "r=" and our nonce, the salt and the
 * iteration count are all checked (against keys fixed to the RFC salt), so
 * changes there are refused. Only the server's own nonce part is free text.
 */
static void test_server_first_mutations(void **state)
{
	static const char repl[] = {'A', 'z', '9', '=', ',', '\0', '\x7f', '\xc3'};
	const char *sf = RFC_SERVER_FIRST;
	size_t len = strlen(sf);
	size_t ours_end = 2 + strlen(RFC_CLIENT_NONCE);
	size_t salt_at = (size_t)(strstr(sf, ",s=") - sf);
	struct scram_client c;
	struct scram_keys keys;
	char msg[BUF], out[BUF];
	const char *err = NULL;
	int free_ok = 0;

	assert_true(scram_parse_secret(RFC_SECRET, &keys, (uint8_t[SCRAM_KEY_LEN]){0}));
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < sizeof(repl); k++) {
			enum scram_status rc;

			if (sf[i] == repl[k])
				continue;
			memcpy(msg, sf, len);
			msg[i] = repl[k];
			memset(keys.client_key, 7, SCRAM_KEY_LEN);
			assert_int_equal(scram_client_init_keys(&c, &keys, &err), SCRAM_OK);
			assert_int_equal(scram_client_override(&c, "user", RFC_CLIENT_NONCE, &err),
			                 SCRAM_OK);
			assert_int_equal(scram_client_first(&c, out, BUF, &err), SCRAM_OK);
			rc = scram_client_handle_server_first(&c, msg, len, out, BUF, &err);
			if (i < ours_end || i >= salt_at)
				assert_int_not_equal(rc, SCRAM_OK);
			else if (rc == SCRAM_OK)
				free_ok++;
			scram_client_release(&c);
		}
	}
	/* printable replacements in the server nonce part are accepted */
	assert_true(free_ok > 0);
}

static void test_out_of_order(void **state)
{
	struct scram_server s;
	struct scram_client c;
	char out[BUF];
	const char *err = NULL;

	assert_int_equal(scram_server_init(&s, "user", RFC_SECRET, &err), SCRAM_OK);
	assert_int_equal(scram_server_handle_client_final(&s, RFC_CLIENT_FINAL,
	                                                  strlen(RFC_CLIENT_FINAL), out, BUF, &err),
	                 SCRAM_ERR_PROTOCOL);
	scram_server_release(&s);
	assert_int_equal(scram_client_init(&c, "pencil", &err), SCRAM_OK);
	assert_int_equal(send_str(&c, RFC_SERVER_FIRST, out), SCRAM_ERR_PROTOCOL);
	scram_client_release(&c);
}

static void test_output_buffer_bounds(void **state)
{
	struct scram_client c;
	char out[BUF];
	const char *err = NULL;

	assert_int_equal(scram_client_init(&c, "pencil", &err), SCRAM_OK);
	assert_int_equal(scram_client_first(&c, out, 10, &err), SCRAM_ERR_INTERNAL);
	scram_client_release(&c);
	client_at_first(&c, out);
	assert_int_equal(scram_client_handle_server_first(&c, RFC_SERVER_FIRST,
	                                                  strlen(RFC_SERVER_FIRST), out, 50, &err),
	                 SCRAM_ERR_INTERNAL);
	scram_client_release(&c);
}

static void test_base64(void **state)
{
	static const struct {
		const char *raw, *enc;
	} v[] = {{"", ""},
	         {"f", "Zg=="},
	         {"fo", "Zm8="},
	         {"foo", "Zm9v"},
	         {"foob", "Zm9vYg=="},
	         {"fooba", "Zm9vYmE="},
	         {"foobar", "Zm9vYmFy"}};
	char enc[32];
	uint8_t dec[32];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = strlen(v[i].raw);

		assert_int_equal(
		    scram_base64_encode((const uint8_t *)v[i].raw, n, enc, sizeof(enc)),
		    (int)strlen(v[i].enc));
		assert_string_equal(enc, v[i].enc);
		assert_int_equal(scram_base64_decode(v[i].enc, strlen(v[i].enc), dec, sizeof(dec)),
		                 (int)n);
		assert_memory_equal(dec, v[i].raw, n);
	}
	/* bounds and malformed input */
	assert_int_equal(scram_base64_encode((const uint8_t *)"foobar", 6, enc, 8), -1);
	assert_int_equal(scram_base64_decode("Zm9vYmFy", 8, dec, 5), -1);
	assert_int_equal(scram_base64_decode("Zm9", 3, dec, sizeof(dec)), -1);
	assert_int_equal(scram_base64_decode("Zm=v", 4, dec, sizeof(dec)), -1);
	assert_int_equal(scram_base64_decode("Z===", 4, dec, sizeof(dec)), -1);
	assert_int_equal(scram_base64_decode("Zg==Zg==", 8, dec, sizeof(dec)), -1);
	assert_int_equal(scram_base64_decode("Zm9v\n", 5, dec, sizeof(dec)), -1);
	assert_int_equal(scram_base64_decode("Zm.v", 4, dec, sizeof(dec)), -1);
	/* non-zero bits under the padding: "Zh==" and "Zm9=" are not canonical */
	assert_int_equal(scram_base64_decode("Zh==", 4, dec, sizeof(dec)), -1);
	assert_int_equal(scram_base64_decode("Zm9=", 4, dec, sizeof(dec)), -1);
}

static void test_parse_secret(void **state)
{
	struct scram_keys keys;
	uint8_t stored[SCRAM_KEY_LEN];
	static const char *bad[] = {
	    "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
	    ":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
	    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
	    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
	    ":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2d==",
	    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
	    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
	    "SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
	    ":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
	    "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
	    ":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
	    "pencil",
	};

	assert_true(scram_parse_secret(RFC_SECRET, &keys, stored));
	assert_int_equal(keys.iterations, 4096);
	assert_int_equal(keys.salt_len, 16);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(scram_parse_secret(bad[i], &keys, stored));
}

static void test_mechanism_list(void **state)
{
	static const char both[] = "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0";
	static const char plus_only[] = "SCRAM-SHA-256-PLUS\0";
	static const char unterminated[] = {'S', 'C', 'R', 'A', 'M'};

	assert_true(scram_mechanism_offered(both, sizeof(both)));
	assert_false(scram_mechanism_offered(plus_only, sizeof(plus_only)));
	assert_false(scram_mechanism_offered(unterminated, sizeof(unterminated)));
	assert_false(scram_mechanism_offered("", 1));
	assert_false(scram_mechanism_offered("SCRAM-SHA-256", 13)); /* no NUL within len */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc7677_client),
	    cmocka_unit_test(test_rfc7677_server),
	    cmocka_unit_test(test_round_trip_plaintext),
	    cmocka_unit_test(test_round_trip_secret),
	    cmocka_unit_test(test_non_ascii_password),
	    cmocka_unit_test(test_saslprep),
	    cmocka_unit_test(test_keys_pass_through),
	    cmocka_unit_test(test_client_keys_reuse),
	    cmocka_unit_test(test_mock_user_fails),
	    cmocka_unit_test(test_unusable_entry_gets_mock),
	    cmocka_unit_test(test_plaintext_entry_salt_stable),
	    cmocka_unit_test(test_client_rejects_bad_server_first),
	    cmocka_unit_test(test_client_rejects_bad_server_final),
	    cmocka_unit_test(test_server_rejects_bad_client_first),
	    cmocka_unit_test(test_server_rejects_bad_client_final),
	    cmocka_unit_test(test_server_final_mutations),
	    cmocka_unit_test(test_client_final_mutations),
	    cmocka_unit_test(test_server_first_mutations),
	    cmocka_unit_test(test_out_of_order),
	    cmocka_unit_test(test_output_buffer_bounds),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_parse_secret),
	    cmocka_unit_test(test_mechanism_list),
	};

	return cmocka_run_group_tests_name("scram", tests, NULL, NULL);
}
