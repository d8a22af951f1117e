/*
 * auth.h - password checks for md5 and cleartext authentication, without I/O.
 *
 * auth_file entries (see userlist.h) are one of three kinds: a plaintext
 * password, an md5 hash "md5" + hex(md5(password + user)), or a SCRAM secret
 * (see scram.h). These functions compute what PostgreSQL expects from a client
 * in md5 auth, and check what a client sent to pgscope against an entry. Every
 * comparison of secret material is constant-time.
 */
#ifndef PGSCOPE_POOLER_AUTH_H
#define PGSCOPE_POOLER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_MD5_LEN      35 /* strlen("md5") + 32 hex digits */
#define AUTH_MD5_BUF      36 /* AUTH_MD5_LEN + NUL */
#define AUTH_MD5_SALT_LEN 4  /* AuthenticationMD5Password salt bytes */

/* What an auth_file entry holds. */
enum auth_secret_kind {
	AUTH_SECRET_PLAIN = 0, /* plaintext password */
	AUTH_SECRET_MD5,       /* "md5" + 32 lowercase hex digits */
	AUTH_SECRET_SCRAM,     /* "SCRAM-SHA-256$..." (well-formedness checked by scram.h) */
};

/*
 * Classify an entry the way PostgreSQL does: "md5" followed by exactly 32 hex
 * digits is a hash, a "SCRAM-SHA-256$" prefix is a SCRAM secret, anything else
 * is a plaintext password.
 */
enum auth_secret_kind auth_secret_kind(const char *secret);

/*
 * out = "md5" + hex(md5(password + user)), the form stored in pg_authid and in
 * auth_file. out has AUTH_MD5_BUF bytes. false on an OpenSSL failure.
 */
bool auth_md5_password(const char *user, const char *password, char out[AUTH_MD5_BUF]);

/*
 * The answer to AuthenticationMD5Password: "md5" + hex(md5(hex(md5(password +
 * user)) + salt)). secret may be a plaintext password or an "md5..." hash (so
 * pgscope can log in with only the hash from auth_file); a SCRAM secret cannot
 * answer md5 and gives false, as does an empty password.
 */
bool auth_md5_response(const char *user, const char *secret, const uint8_t salt[AUTH_MD5_SALT_LEN],
                       char out[AUTH_MD5_BUF]);

/*
 * Server side of md5 auth: true if response (len bytes, as read from the
 * client's PasswordMessage without its NUL) is the right answer for user's
 * entry secret (plaintext or md5 hash) and salt. A SCRAM entry always fails,
 * as in PostgreSQL.
 */
bool auth_md5_check(const char *user, const char *secret, const uint8_t salt[AUTH_MD5_SALT_LEN],
                    const char *response, size_t len);

/*
 * Server side of cleartext auth (auth_type = plain): true if password (len
 * bytes) matches the entry, whatever its kind. Passwords of 1024 bytes or
 * more, or with a NUL inside, never match; neither does an empty entry.
 */
bool auth_plain_check(const char *user, const char *secret, const char *password, size_t len);

/* Draw a random md5 salt. false if the RNG fails. */
bool auth_md5_salt(uint8_t salt[AUTH_MD5_SALT_LEN]);

/* Constant-time equality of two byte strings (lengths compared first). */
bool auth_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
