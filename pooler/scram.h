/*
 * scram.h - SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, without I/O.
 *
 * Both halves of the exchange live here: the client side, used when pgscope
 * logs in to a PostgreSQL server, and the server side, used when a client logs
 * in to pgscope with auth_type = scram-sha-256. Only the mechanism
 * "SCRAM-SHA-256" is offered and used: no channel binding (gs2 header "n,,",
 * or "y,," from a client that could bind but sees no -PLUS mechanism).
 *
 * The caller moves the bytes: it hands in each message received (the body of
 * an AuthenticationSASLContinue/Final or SASLInitialResponse/SASLResponse) and
 * sends back what the function wrote to out. Every parse is bounded by the
 * given length; messages never need to be NUL-terminated. Output is always a
 * NUL-terminated string whose strlen() is the message length.
 *
 * Passwords go through SASLprep the way PostgreSQL does it: pure ASCII is used
 * as is; other UTF-8 goes through RFC 4013 (ICU's stringprep profile: mapping,
 * NFKC, prohibited output and bidi checks, unassigned code points allowed);
 * a password that is not valid UTF-8 or that SASLprep rejects is used as its
 * raw bytes, which is PostgreSQL's own fallback.
 *
 * Secrets in the state structs are wiped by the *_release() functions.
 */
#ifndef PGSCOPE_POOLER_SCRAM_H
#define PGSCOPE_POOLER_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_MECHANISM          "SCRAM-SHA-256"
#define SCRAM_KEY_LEN            32 /* SHA-256 digest length */
#define SCRAM_NONCE_RAW_LEN      18 /* random bytes per nonce, base64-encoded to 24 chars */
#define SCRAM_SALT_LEN           16 /* salt bytes in secrets made by scram_make_secret() */
#define SCRAM_MAX_SALT_LEN       64 /* longest salt accepted from a server or a secret */
#define SCRAM_DEFAULT_ITERATIONS 4096
#define SCRAM_MAX_ITERATIONS     10000000
#define SCRAM_MAX_NONCE_LEN      128 /* longest nonce (either side's part) accepted */
#define SCRAM_MAX_USER_LEN       128 /* longest (escaped) n= user name kept for the exchange */
#define SCRAM_MAX_MESSAGE        512 /* longest client-first-bare / server-first kept */
#define SCRAM_SECRET_MAX         256 /* buffer for "SCRAM-SHA-256$<iter>:<salt>$<stored>:<server>" */

/* Outcome of each step. Anything but SCRAM_OK ends the exchange. */
enum scram_status {
	SCRAM_OK = 0,
	SCRAM_ERR_PROTOCOL, /* malformed or out-of-order message: SQLSTATE 08P01 */
	SCRAM_ERR_AUTH,     /* wrong password / proof / server signature: SQLSTATE 28P01 */
	SCRAM_ERR_INTERNAL, /* out of memory, RNG or OpenSSL failure, output buffer too small */
};

/* Short name of a status, for logs ("ok", "protocol", "auth", "internal"). */
const char *scram_status_to_str(enum scram_status status);

/*
 * Keys that stand in for a password. ClientKey and ServerKey are enough to log
 * in to a server whose secret was made with the same salt and iterations. The
 * server side recovers them from a client's proof (scram_server_client_keys()),
 * which lets pgscope log in to PostgreSQL as that client with nothing but the
 * SCRAM secret stored in auth_file.
 */
struct scram_keys {
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
	uint8_t salt[SCRAM_MAX_SALT_LEN];
	size_t salt_len;
	int iterations;
};

enum scram_client_step {
	SCRAM_CLIENT_NEW = 0,    /* initialised, nothing sent */
	SCRAM_CLIENT_SENT_FIRST, /* client-first sent, awaiting server-first */
	SCRAM_CLIENT_SENT_FINAL, /* client-final sent, awaiting server-final */
	SCRAM_CLIENT_DONE,       /* server signature verified */
	SCRAM_CLIENT_FAILED,     /* any error; further calls fail */
};

/* Client side: pgscope logging in to a PostgreSQL server. */
struct scram_client {
	enum scram_client_step step;
	char *password;                /* SASLprepped copy, owned (NULL when using keys) */
	bool have_keys;                /* keys below came from scram_client_init_keys() */
	struct scram_keys keys;        /* ClientKey/ServerKey (given, or computed from password) */
	char user[SCRAM_MAX_USER_LEN]; /* n= value, escaped; empty as PostgreSQL expects */
	char nonce[SCRAM_MAX_NONCE_LEN + 1];           /* our nonce (printable base64) */
	char client_first_bare[SCRAM_MAX_MESSAGE + 1]; /* "n=...,r=..." for AuthMessage */
	uint8_t server_signature[SCRAM_KEY_LEN];       /* expected v= value */
};

/*
 * Start a client exchange with a password. The password is copied (SASLprep
 * applied); the caller keeps ownership of its string. Release with
 * scram_client_release() whatever the result.
 */
enum scram_status scram_client_init(struct scram_client *st, const char *password,
                                    const char **err);

/*
 * Start a client exchange with keys instead of a password (see struct
 * scram_keys). The server's salt and iteration count must match keys, else
 * scram_client_handle_server_first() fails with SCRAM_ERR_AUTH.
 */
enum scram_status scram_client_init_keys(struct scram_client *st, const struct scram_keys *keys,
                                         const char **err);

/*
 * Replace the user name sent in client-first and the random nonce. Only for
 * tests that replay fixed vectors (RFC 7677 uses n=user); call before
 * scram_client_first(). Either may be NULL to keep the default. The user name
 * is escaped (',' and '=') as RFC 5802 requires.
 */
enum scram_status scram_client_override(struct scram_client *st, const char *user,
                                        const char *nonce, const char **err);

/* Write client-first-message "n,,n=,r=<nonce>" to out (the SASLInitialResponse data). */
enum scram_status scram_client_first(struct scram_client *st, char *out, size_t outlen,
                                     const char **err);

/*
 * Take server-first-message "r=...,s=...,i=..." (AuthenticationSASLContinue
 * data), check that the combined nonce extends ours and the iteration count is
 * within 1..SCRAM_MAX_ITERATIONS, compute the proof and write
 * client-final-message "c=biws,r=...,p=..." to out (SASLResponse data).
 */
enum scram_status scram_client_handle_server_first(struct scram_client *st, const char *msg,
                                                   size_t len, char *out, size_t outlen,
                                                   const char **err);

/*
 * Check server-final-message "v=<ServerSignature>" (AuthenticationSASLFinal
 * data) in constant time. "e=<reason>" gives SCRAM_ERR_AUTH with a generic
 * message. SCRAM_OK means the server proved it knows the secret too.
 */
enum scram_status scram_client_verify_server_final(struct scram_client *st, const char *msg,
                                                   size_t len, const char **err);

/*
 * After scram_client_verify_server_final() returned SCRAM_OK: the keys used,
 * with the server's salt and iterations. Handing them to
 * scram_client_init_keys() for the next connection to the same server skips
 * the PBKDF2 step (about 1 ms at 4096 iterations). false before that.
 */
bool scram_client_keys(const struct scram_client *st, struct scram_keys *out);

/* Wipe and free everything the state holds; it may be initialised again. */
void scram_client_release(struct scram_client *st);

enum scram_server_step {
	SCRAM_SERVER_NEW = 0,    /* initialised, awaiting client-first */
	SCRAM_SERVER_SENT_FIRST, /* server-first sent, awaiting client-final */
	SCRAM_SERVER_DONE,       /* client proof verified, server-final written */
	SCRAM_SERVER_FAILED,     /* any error; further calls fail */
};

/* Server side: a client logging in to pgscope. */
struct scram_server {
	enum scram_server_step step;
	bool mock;               /* no usable entry: run the exchange, always fail */
	const char *mock_reason; /* why it is a mock, for the log (static text); NULL if not */
	bool have_client_key;    /* ClientKey recovered from a verified proof */
	struct scram_keys keys;  /* salt, iterations, ServerKey; ClientKey once verified */
	uint8_t stored_key[SCRAM_KEY_LEN];
	char gs2_header[4];                            /* "n,," or "y,," as the client sent it */
	char nonce[2 * SCRAM_MAX_NONCE_LEN + 1];       /* client nonce + our nonce */
	char client_first_bare[SCRAM_MAX_MESSAGE + 1]; /* for AuthMessage */
	char server_first[SCRAM_MAX_MESSAGE + 1];      /* for AuthMessage */
};

/*
 * Start a server exchange for user, whose auth_file entry is secret (NULL when
 * the user is not in the file): either a PostgreSQL SCRAM secret
 * "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" or a plaintext
 * password, for which the keys are derived with SCRAM_DEFAULT_ITERATIONS and
 * the user's made-up salt (below), since a plaintext entry stores none.
 *
 * Anything else (no entry, an "md5..." hash, a malformed secret, an empty
 * password) gives the mock exchange of scram_server_init_mock() with
 * st->mock_reason saying why, and still SCRAM_OK: as in PostgreSQL, the
 * client sees the same exchange and the same failure as for a wrong
 * password, so it cannot learn which users exist or what their entries hold.
 * Only an internal failure (RNG, OpenSSL, memory) returns an error.
 */
enum scram_status scram_server_init(struct scram_server *st, const char *user, const char *secret,
                                    const char **err);

/*
 * Start an exchange that looks like a real one to the client and always ends
 * in SCRAM_ERR_AUTH (scram_server_init() with no entry). Its salt is user's
 * made-up one, HMAC(per-process random key, user), so repeated attempts for
 * one user see the same salt (and iteration count, SCRAM_DEFAULT_ITERATIONS)
 * for the life of the process.
 */
enum scram_status scram_server_init_mock(struct scram_server *st, const char *user,
                                         const char **err);

/* Replace the random server nonce part. Only for tests replaying fixed vectors. */
enum scram_status scram_server_override_nonce(struct scram_server *st, const char *nonce,
                                              const char **err);

/*
 * Take the client-first-message (SASLInitialResponse data, after the caller
 * has checked the mechanism name) and write server-first-message
 * "r=...,s=...,i=..." to out (AuthenticationSASLContinue data). Channel
 * binding requests ("p=") are refused with SCRAM_ERR_PROTOCOL.
 */
enum scram_status scram_server_handle_client_first(struct scram_server *st, const char *msg,
                                                   size_t len, char *out, size_t outlen,
                                                   const char **err);

/*
 * Take the client-final-message (SASLResponse data), check the channel binding
 * echo and the nonce, verify ClientProof against StoredKey, and on success
 * write server-final-message "v=..." to out (AuthenticationSASLFinal data).
 * SCRAM_ERR_AUTH means a wrong password: answer with ErrorResponse 28P01.
 */
enum scram_status scram_server_handle_client_final(struct scram_server *st, const char *msg,
                                                   size_t len, char *out, size_t outlen,
                                                   const char **err);

/*
 * After a successful scram_server_handle_client_final(): the ClientKey the
 * client proved, with the entry's ServerKey, salt and iterations. Returns
 * false before that (or for a mock exchange).
 */
bool scram_server_client_keys(const struct scram_server *st, struct scram_keys *out);

/* Wipe everything the state holds; it may be initialised again. */
void scram_server_release(struct scram_server *st);

/*
 * Build a PostgreSQL SCRAM secret for password with a fresh random salt, as
 * "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (what
 * PostgreSQL stores in pg_authid and what auth_file may hold).
 */
enum scram_status scram_make_secret(const char *password, int iterations, char *out, size_t outlen,
                                    const char **err);

/*
 * Parse a SCRAM secret into salt, iterations, StoredKey and ServerKey
 * (keys->client_key is zeroed). false if it is not a well-formed secret.
 */
bool scram_parse_secret(const char *secret, struct scram_keys *keys,
                        uint8_t stored_key[SCRAM_KEY_LEN]);

/*
 * true if password matches the SCRAM secret (used for auth_type = plain
 * against a SCRAM entry). Constant-time comparison of the derived keys.
 */
bool scram_verify_password(const char *secret, const char *password);

/*
 * true if the AuthenticationSASL mechanism list (NUL-terminated names, ended
 * by an empty name, len bytes in all) offers SCRAM-SHA-256.
 */
bool scram_mechanism_offered(const char *list, size_t len);

/*
 * Base64 (standard alphabet, with padding) into a bounded buffer. Encode
 * writes a NUL-terminated string and returns its length, or -1 if out is too
 * small. Decode accepts only canonical input: padded, standard alphabet, no
 * line breaks or blanks, zero bits under the padding; it returns the number of bytes written, or -1
 * on bad input or a too-small buffer.
 */
int scram_base64_encode(const uint8_t *src, size_t len, char *out, size_t outlen);
int scram_base64_decode(const char *src, size_t len, uint8_t *out, size_t outlen);

#endif
