/* scram.c - SCRAM-SHA-256 client and server exchanges, secrets and base64 (see scram.h). */
#include "pooler/scram.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <unicode/usprep.h>
#include <unicode/ustring.h>

#define SECRET_PREFIX    "SCRAM-SHA-256$"
#define B64_KEY_LEN      44 /* base64 of SCRAM_KEY_LEN bytes, without NUL */
#define AUTH_MESSAGE_MAX (3 * SCRAM_MAX_MESSAGE + 8)

/* A read position inside a message that is not NUL-terminated. */
struct cursor {
	const char *p;   /* next unread byte */
	const char *end; /* one past the last byte */
};

/* One "x=value" attribute of a SCRAM message. */
struct attr {
	char name;
	const char *val;
	size_t len;
};

const char *scram_status_to_str(enum scram_status status)
{
	switch (status) {
	case SCRAM_OK:
		return "ok";
	case SCRAM_ERR_PROTOCOL:
		return "protocol";
	case SCRAM_ERR_AUTH:
		return "auth";
	case SCRAM_ERR_INTERNAL:
		return "internal";
	}
	return "unknown";
}

static enum scram_status fail(const char **err, enum scram_status status, const char *msg)
{
	if (err)
		*err = msg;
	return status;
}

/* ---- base64 ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int scram_base64_encode(const uint8_t *src, size_t len, char *out, size_t outlen)
{
	size_t need = (len + 2) / 3 * 4;
	size_t o = 0;

	if (len > (size_t)INT32_MAX / 2 || outlen < need + 1)
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)src[i] << 16;
		size_t n = len - i;

		if (n > 1)
			v |= (uint32_t)src[i + 1] << 8;
		if (n > 2)
			v |= src[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = n > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = n > 2 ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int scram_base64_decode(const char *src, size_t len, uint8_t *out, size_t outlen)
{
	size_t o = 0;

	if (len % 4 != 0 || len > (size_t)INT32_MAX / 2)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int pad = 0;
		uint32_t v = 0;

		for (size_t k = 0; k < 4; k++) {
			char c = src[i + k];
			int d;

			if (c == '=') {
				/* padding only in the last group, only at its end */
				if (!last || k < 2)
					return -1;
				pad++;
				d = 0;
			} else {
				if (pad > 0)
					return -1;
				d = b64_value(c);
				if (d < 0)
					return -1;
			}
			v = (v << 6) | (uint32_t)d;
		}
		size_t n = 3 - (size_t)pad;
		/* the bits under the padding must be zero: one encoding per byte string */
		if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
			return -1;
		if (o + n > outlen)
			return -1;
		out[o++] = (uint8_t)(v >> 16);
		if (n > 1)
			out[o++] = (uint8_t)(v >> 8);
		if (n > 2)
			out[o++] = (uint8_t)v;
	}
	return (int)o;
}

/* ---- crypto primitives ---- */

static bool hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t len,
                        uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int outlen = 0;

	if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen))
		return false;
	return outlen == SCRAM_KEY_LEN;
}

static bool sha256(const uint8_t *data, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int outlen = 0;

	if (!EVP_Digest(data, len, out, &outlen, EVP_sha256(), NULL))
		return false;
	return outlen == SCRAM_KEY_LEN;
}

/*
 * SaltedPassword, then ClientKey and ServerKey from it. The salted password
 * is wiped before returning: only the two keys outlive this call.
 */
static bool derive_keys(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                        uint8_t client_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN];
	bool ok = false;

	if (!PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, iterations,
	                       EVP_sha256(), SCRAM_KEY_LEN, salted))
		goto out_wipe;
	if (!hmac_sha256(salted, sizeof(salted), "Client Key", 10, client_key))
		goto out_wipe;
	if (!hmac_sha256(salted, sizeof(salted), "Server Key", 10, server_key))
		goto out_wipe;
	ok = true;
out_wipe:
	OPENSSL_cleanse(salted, sizeof(salted));
	return ok;
}

/*
 * A fresh nonce: SCRAM_NONCE_RAW_LEN random bytes in base64, which never
 * contains ',' and so is a valid SCRAM nonce as is.
 */
static bool make_nonce(char *out, size_t outlen)
{
	uint8_t raw[SCRAM_NONCE_RAW_LEN];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return false;
	return scram_base64_encode(raw, sizeof(raw), out, outlen) > 0;
}

/* Longest password SASLprep is applied to; a longer one is used as it is. */
#define SASLPREP_MAX_BYTES 4096

static bool is_ascii(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

/* ICU's SASLprep profile (RFC 4013 over RFC 3454), opened once; NULL if ICU failed. */
static UStringPrepProfile *saslprep_loaded;
static pthread_once_t saslprep_once = PTHREAD_ONCE_INIT;

static void saslprep_open_profile(void)
{
	UErrorCode st = U_ZERO_ERROR;

	saslprep_loaded = usprep_openByType(USPREP_RFC4013_SASLPREP, &st);
	if (U_FAILURE(st))
		saslprep_loaded = NULL;
}

static const UStringPrepProfile *saslprep_profile(void)
{
	pthread_once(&saslprep_once, saslprep_open_profile);
	return saslprep_loaded;
}

/*
 * SASLprep of a UTF-8 password into a malloc'd UTF-8 string, or NULL when
 * the password is not valid UTF-8, SASLprep refuses it (prohibited output,
 * bidi rules) or ICU fails. Unassigned code points are allowed, as
 * PostgreSQL allows them. Every intermediate copy is wiped.
 */
static char *saslprep_utf8(const char *password)
{
	const UStringPrepProfile *prof = saslprep_profile();
	int32_t in_len = 0, out_len, utf8_len = 0;
	size_t len = strlen(password);
	UErrorCode st = U_ZERO_ERROR;
	UChar *in = NULL, *out = NULL;
	char *res = NULL;

	if (prof == NULL || len > SASLPREP_MAX_BYTES)
		return NULL;
	in = malloc((len + 1) * sizeof(UChar));
	out = malloc((4 * len + 1) * sizeof(UChar)); /* mapping and NFKC grow it boundedly */
	if (in == NULL || out == NULL)
		goto out_free;
	u_strFromUTF8(in, (int32_t)len + 1, &in_len, password, (int32_t)len, &st);
	if (U_FAILURE(st))
		goto out_free;
	out_len = usprep_prepare(prof, in, in_len, out, 4 * (int32_t)len + 1,
	                         USPREP_ALLOW_UNASSIGNED, NULL, &st);
	if (U_FAILURE(st))
		goto out_free;
	u_strToUTF8(NULL, 0, &utf8_len, out, out_len, &st);
	if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
		goto out_free;
	st = U_ZERO_ERROR;
	res = malloc((size_t)utf8_len + 1);
	if (res != NULL)
		u_strToUTF8(res, utf8_len + 1, NULL, out, out_len, &st);
	if (res != NULL && U_FAILURE(st)) {
		OPENSSL_cleanse(res, (size_t)utf8_len + 1);
		free(res);
		res = NULL;
	}
out_free:
	if (in != NULL)
		OPENSSL_cleanse(in, (len + 1) * sizeof(UChar));
	if (out != NULL)
		OPENSSL_cleanse(out, (4 * len + 1) * sizeof(UChar));
	free(in);
	free(out);
	return res;
}

/*
 * SASLprep as PostgreSQL applies it to passwords (pg_saslprep): ASCII is used
 * as it is; otherwise the RFC 4013 result (non-ASCII spaces to a space,
 * "commonly mapped to nothing" characters dropped, NFKC); a password that is
 * not valid UTF-8 or that SASLprep refuses is used as its raw bytes, which is
 * PostgreSQL's own fallback. Returns a malloc'd copy (NULL: out of memory).
 */
static char *saslprep_password(const char *password)
{
	char *prepped;

	if (is_ascii(password))
		return strdup(password);
	prepped = saslprep_utf8(password);
	return prepped != NULL ? prepped : strdup(password);
}

/* ---- message parsing ---- */

/* true if the message has no NUL byte (all parsed messages must not). */
static bool no_nul(const char *msg, size_t len)
{
	return memchr(msg, '\0', len) == NULL;
}

/*
 * Read the next "x=value" attribute and the ',' after it. An attribute that
 * is not a letter followed by '=' is malformed. A trailing ',' leaves the
 * cursor at the end with more input expected, so the next read fails.
 */
static bool next_attr(struct cursor *c, struct attr *a)
{
	const char *start = c->p;
	const char *comma;

	if (c->end - start < 2 || start[1] != '=')
		return false;
	if (!((start[0] >= 'a' && start[0] <= 'z') || (start[0] >= 'A' && start[0] <= 'Z')))
		return false;
	a->name = start[0];
	a->val = start + 2;
	comma = memchr(a->val, ',', (size_t)(c->end - a->val));
	a->len = (size_t)((comma ? comma : c->end) - a->val);
	c->p = comma ? comma + 1 : c->end;
	/* a trailing comma must be followed by another attribute */
	if (comma && c->p == c->end)
		c->p = comma;
	return true;
}

static bool at_end(const struct cursor *c)
{
	return c->p == c->end;
}

/* Read an attribute that must be named name. */
static bool expect_attr(struct cursor *c, char name, struct attr *a)
{
	return next_attr(c, a) && a->name == name;
}

/* A nonce is 1+ printable ASCII characters other than ','. */
static bool valid_nonce(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
			return false;
	}
	return true;
}

/* Decimal iteration count in 1..SCRAM_MAX_ITERATIONS, digits only. */
static bool parse_iterations(const char *s, size_t len, int *out)
{
	long v = 0;

	if (len == 0 || len > 9 || s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > SCRAM_MAX_ITERATIONS)
		return false;
	*out = (int)v;
	return true;
}

/* Decode a base64 value that must be exactly SCRAM_KEY_LEN bytes. */
static bool decode_key(const char *s, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	uint8_t buf[SCRAM_KEY_LEN + 3];
	int n = scram_base64_decode(s, len, buf, sizeof(buf));

	if (n != SCRAM_KEY_LEN)
		return false;
	memcpy(out, buf, SCRAM_KEY_LEN);
	return true;
}

/* Copy len bytes into a bounded string buffer; false if it does not fit. */
static bool copy_str(char *dst, size_t dstlen, const char *src, size_t len)
{
	if (len >= dstlen)
		return false;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return true;
}

/*
 * AuthMessage = client-first-bare "," server-first "," client-final-without-proof,
 * then ClientSignature = HMAC(StoredKey, AuthMessage) and
 * ServerSignature = HMAC(ServerKey, AuthMessage).
 */
static bool sign_exchange(const char *client_first_bare, const char *server_first,
                          const char *final_bare, size_t final_bare_len,
                          const uint8_t stored_key[SCRAM_KEY_LEN],
                          const uint8_t server_key[SCRAM_KEY_LEN],
                          uint8_t client_signature[SCRAM_KEY_LEN],
                          uint8_t server_signature[SCRAM_KEY_LEN])
{
	char msg[AUTH_MESSAGE_MAX];
	int n = snprintf(msg, sizeof(msg), "%s,%s,%.*s", client_first_bare, server_first,
	                 (int)final_bare_len, final_bare);

	if (n < 0 || (size_t)n >= sizeof(msg))
		return false;
	if (!hmac_sha256(stored_key, SCRAM_KEY_LEN, msg, (size_t)n, client_signature))
		return false;
	return hmac_sha256(server_key, SCRAM_KEY_LEN, msg, (size_t)n, server_signature);
}

/* ---- secrets ---- */

bool scram_parse_secret(const char *secret, struct scram_keys *keys,
                        uint8_t stored_key[SCRAM_KEY_LEN])
{
	size_t plen = strlen(SECRET_PREFIX);
	const char *p, *colon, *dollar, *colon2, *end;
	int n;

	memset(keys, 0, sizeof(*keys));
	if (strncmp(secret, SECRET_PREFIX, plen) != 0)
		return false;
	p = secret + plen;
	end = p + strlen(p);
	colon = strchr(p, ':');
	if (!colon || !parse_iterations(p, (size_t)(colon - p), &keys->iterations))
		return false;
	dollar = strchr(colon + 1, '$');
	if (!dollar)
		return false;
	n = scram_base64_decode(colon + 1, (size_t)(dollar - colon - 1), keys->salt,
	                        sizeof(keys->salt));
	if (n <= 0)
		return false;
	keys->salt_len = (size_t)n;
	colon2 = strchr(dollar + 1, ':');
	if (!colon2 || !decode_key(dollar + 1, (size_t)(colon2 - dollar - 1), stored_key))
		return false;
	return decode_key(colon2 + 1, (size_t)(end - colon2 - 1), keys->server_key);
}

/* Format a secret from its parts into out. */
static bool format_secret(const struct scram_keys *keys, const uint8_t stored_key[SCRAM_KEY_LEN],
                          char *out, size_t outlen)
{
	char salt[SCRAM_MAX_SALT_LEN * 2], stored[B64_KEY_LEN + 1], server[B64_KEY_LEN + 1];
	int n;

	if (scram_base64_encode(keys->salt, keys->salt_len, salt, sizeof(salt)) < 0 ||
	    scram_base64_encode(stored_key, SCRAM_KEY_LEN, stored, sizeof(stored)) < 0 ||
	    scram_base64_encode(keys->server_key, SCRAM_KEY_LEN, server, sizeof(server)) < 0)
		return false;
	n = snprintf(out, outlen, SECRET_PREFIX "%d:%s$%s:%s", keys->iterations, salt, stored,
	             server);
	return n > 0 && (size_t)n < outlen;
}

enum scram_status scram_make_secret(const char *password, int iterations, char *out, size_t outlen,
                                    const char **err)
{
	struct scram_keys keys = {0};
	uint8_t stored[SCRAM_KEY_LEN];
	char *prepped = NULL;
	enum scram_status st = SCRAM_ERR_INTERNAL;

	if (iterations < 1 || iterations > SCRAM_MAX_ITERATIONS)
		return fail(err, SCRAM_ERR_INTERNAL, "SCRAM iteration count out of range");
	keys.iterations = iterations;
	keys.salt_len = SCRAM_SALT_LEN;
	if (RAND_bytes(keys.salt, SCRAM_SALT_LEN) != 1) {
		fail(err, st, "could not generate a random salt");
		goto out_wipe;
	}
	prepped = saslprep_password(password);
	if (!prepped) {
		fail(err, st, "out of memory");
		goto out_wipe;
	}
	if (!derive_keys(prepped, keys.salt, keys.salt_len, iterations, keys.client_key,
	                 keys.server_key) ||
	    !sha256(keys.client_key, SCRAM_KEY_LEN, stored)) {
		fail(err, st, "SCRAM key derivation failed");
		goto out_wipe;
	}
	if (!format_secret(&keys, stored, out, outlen)) {
		fail(err, st, "SCRAM secret buffer too small");
		goto out_wipe;
	}
	st = SCRAM_OK;
out_wipe:
	if (prepped) {
		OPENSSL_cleanse(prepped, strlen(prepped));
		free(prepped);
	}
	OPENSSL_cleanse(&keys, sizeof(keys));
	return st;
}

bool scram_verify_password(const char *secret, const char *password)
{
	struct scram_keys keys, derived = {0};
	uint8_t stored[SCRAM_KEY_LEN], stored_derived[SCRAM_KEY_LEN];
	char *prepped;
	bool ok = false;

	if (!scram_parse_secret(secret, &keys, stored))
		return false;
	prepped = saslprep_password(password);
	if (!prepped)
		goto out_wipe;
	if (!derive_keys(prepped, keys.salt, keys.salt_len, keys.iterations, derived.client_key,
	                 derived.server_key) ||
	    !sha256(derived.client_key, SCRAM_KEY_LEN, stored_derived))
		goto out_wipe;
	/* both compared, without an early exit, so timing says nothing about which differed */
	ok = (CRYPTO_memcmp(stored, stored_derived, SCRAM_KEY_LEN) |
	      CRYPTO_memcmp(keys.server_key, derived.server_key, SCRAM_KEY_LEN)) == 0;
out_wipe:
	if (prepped) {
		OPENSSL_cleanse(prepped, strlen(prepped));
		free(prepped);
	}
	OPENSSL_cleanse(&keys, sizeof(keys));
	OPENSSL_cleanse(&derived, sizeof(derived));
	return ok;
}

bool scram_mechanism_offered(const char *list, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *name = list + i;
		const char *nul = memchr(name, '\0', len - i);

		if (!nul || nul == name)
			return false; /* unterminated, or the empty name that ends the list */
		if (strcmp(name, SCRAM_MECHANISM) == 0)
			return true;
		i += (size_t)(nul - name) + 1;
	}
	return false;
}

/* ---- client side ---- */

enum scram_status scram_client_init(struct scram_client *st, const char *password, const char **err)
{
	memset(st, 0, sizeof(*st));
	st->step = SCRAM_CLIENT_FAILED;
	st->password = saslprep_password(password);
	if (!st->password)
		return fail(err, SCRAM_ERR_INTERNAL, "out of memory");
	if (!make_nonce(st->nonce, sizeof(st->nonce)))
		return fail(err, SCRAM_ERR_INTERNAL, "could not generate a random nonce");
	st->step = SCRAM_CLIENT_NEW;
	return SCRAM_OK;
}

enum scram_status scram_client_init_keys(struct scram_client *st, const struct scram_keys *keys,
                                         const char **err)
{
	memset(st, 0, sizeof(*st));
	st->step = SCRAM_CLIENT_FAILED;
	if (keys->salt_len == 0 || keys->salt_len > SCRAM_MAX_SALT_LEN || keys->iterations < 1 ||
	    keys->iterations > SCRAM_MAX_ITERATIONS)
		return fail(err, SCRAM_ERR_INTERNAL, "invalid SCRAM keys");
	st->keys = *keys;
	st->have_keys = true;
	if (!make_nonce(st->nonce, sizeof(st->nonce)))
		return fail(err, SCRAM_ERR_INTERNAL, "could not generate a random nonce");
	st->step = SCRAM_CLIENT_NEW;
	return SCRAM_OK;
}

/* Escape a saslname: ',' becomes "=2C" and '=' becomes "=3D" (RFC 5802 5.1). */
static bool escape_saslname(const char *src, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *p = src; *p; p++) {
		const char *rep = *p == ',' ? "=2C" : *p == '=' ? "=3D" : NULL;
		size_t n = rep ? 3 : 1;

		if (o + n >= outlen)
			return false;
		if (rep)
			memcpy(out + o, rep, 3);
		else
			out[o] = *p;
		o += n;
	}
	out[o] = '\0';
	return true;
}

enum scram_status scram_client_override(struct scram_client *st, const char *user,
                                        const char *nonce, const char **err)
{
	if (st->step != SCRAM_CLIENT_NEW)
		return fail(err, SCRAM_ERR_INTERNAL, "SCRAM exchange already started");
	if (user && !escape_saslname(user, st->user, sizeof(st->user)))
		return fail(err, SCRAM_ERR_INTERNAL, "SCRAM user name too long");
	if (nonce) {
		if (!valid_nonce(nonce, strlen(nonce)) ||
		    !copy_str(st->nonce, sizeof(st->nonce), nonce, strlen(nonce)))
			return fail(err, SCRAM_ERR_INTERNAL, "invalid SCRAM nonce");
	}
	return SCRAM_OK;
}

enum scram_status scram_client_first(struct scram_client *st, char *out, size_t outlen,
                                     const char **err)
{
	int n;

	if (st->step != SCRAM_CLIENT_NEW)
		return fail(err, SCRAM_ERR_INTERNAL, "SCRAM client-first out of order");
	n = snprintf(st->client_first_bare, sizeof(st->client_first_bare), "n=%s,r=%s", st->user,
	             st->nonce);
	if (n < 0 || (size_t)n >= sizeof(st->client_first_bare))
		goto out_too_small;
	n = snprintf(out, outlen, "n,,%s", st->client_first_bare);
	if (n < 0 || (size_t)n >= outlen)
		goto out_too_small;
	st->step = SCRAM_CLIENT_SENT_FIRST;
	return SCRAM_OK;
out_too_small:
	st->step = SCRAM_CLIENT_FAILED;
	return fail(err, SCRAM_ERR_INTERNAL, "SCRAM output buffer too small");
}

/* Parsed server-first-message. */
struct server_first {
	struct attr nonce, salt, iter;
	uint8_t salt_bytes[SCRAM_MAX_SALT_LEN];
	size_t salt_len;
	int iterations;
};

static enum scram_status parse_server_first(const struct scram_client *st, const char *msg,
                                            size_t len, struct server_first *sf, const char **err)
{
	struct cursor c = {msg, msg + len};
	size_t ours = strlen(st->nonce);
	int n;

	if (len > SCRAM_MAX_MESSAGE || !no_nul(msg, len))
		return fail(err, SCRAM_ERR_PROTOCOL, "malformed SCRAM server-first-message");
	if (!expect_attr(&c, 'r', &sf->nonce) || !expect_attr(&c, 's', &sf->salt) ||
	    !expect_attr(&c, 'i', &sf->iter) || !at_end(&c))
		return fail(err, SCRAM_ERR_PROTOCOL, "malformed SCRAM server-first-message");
	if (!valid_nonce(sf->nonce.val, sf->nonce.len) ||
	    sf->nonce.len > ours + SCRAM_MAX_NONCE_LEN)
		return fail(err, SCRAM_ERR_PROTOCOL, "invalid nonce in SCRAM server-first-message");
	/* the server must extend our nonce, not replace or merely echo it */
	if (sf->nonce.len <= ours || memcmp(sf->nonce.val, st->nonce, ours) != 0)
		return fail(err, SCRAM_ERR_PROTOCOL, "SCRAM server nonce does not match ours");
	n = scram_base64_decode(sf->salt.val, sf->salt.len, sf->salt_bytes, sizeof(sf->salt_bytes));
	if (n <= 0)
		return fail(err, SCRAM_ERR_PROTOCOL, "invalid salt in SCRAM server-first-message");
	sf->salt_len = (size_t)n;
	if (!parse_iterations(sf->iter.val, sf->iter.len, &sf->iterations))
		return fail(err, SCRAM_ERR_PROTOCOL,
		            "invalid iteration count in SCRAM server-first-message");
	return SCRAM_OK;
}

/* Fill st->keys from the password, or check that stored keys fit this salt. */
static enum scram_status client_keys_for(struct scram_client *st, const struct server_first *sf,
                                         const char **err)
{
	if (st->have_keys) {
		if (st->keys.iterations != sf->iterations || st->keys.salt_len != sf->salt_len ||
		    memcmp(st->keys.salt, sf->salt_bytes, sf->salt_len) != 0)
			return fail(err, SCRAM_ERR_AUTH,
			            "server's SCRAM salt or iteration count differs from the "
			            "stored secret");
		return SCRAM_OK;
	}
	memcpy(st->keys.salt, sf->salt_bytes, sf->salt_len);
	st->keys.salt_len = sf->salt_len;
	st->keys.iterations = sf->iterations;
	if (!derive_keys(st->password, sf->salt_bytes, sf->salt_len, sf->iterations,
	                 st->keys.client_key, st->keys.server_key))
		return fail(err, SCRAM_ERR_INTERNAL, "SCRAM key derivation failed");
	return SCRAM_OK;
}

enum scram_status scram_client_handle_server_first(struct scram_client *st, const char *msg,
                                                   size_t len, char *out, size_t outlen,
                                                   const char **err)
{
	struct server_first sf;
	char server_first[SCRAM_MAX_MESSAGE + 1];
	char final_bare[SCRAM_MAX_MESSAGE + 1];
	char proof_b64[B64_KEY_LEN + 1];
	uint8_t stored[SCRAM_KEY_LEN], signature[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
	enum scram_status rc;
	int n;

	if (st->step != SCRAM_CLIENT_SENT_FIRST)
		return fail(err, SCRAM_ERR_PROTOCOL, "unexpected SCRAM server-first-message");
	st->step = SCRAM_CLIENT_FAILED;
	rc = parse_server_first(st, msg, len, &sf, err);
	if (rc != SCRAM_OK)
		return rc;
	rc = client_keys_for(st, &sf, err);
	if (rc != SCRAM_OK)
		return rc;
	rc = fail(err, SCRAM_ERR_INTERNAL, "SCRAM proof computation failed");
	memcpy(server_first, msg, len);
	server_first[len] = '\0';
	/* gs2 header "n,," in base64 is "biws" */
	n = snprintf(final_bare, sizeof(final_bare), "c=biws,r=%.*s", (int)sf.nonce.len,
	             sf.nonce.val);
	if (n < 0 || (size_t)n >= sizeof(final_bare))
		goto out_wipe;
	if (!sha256(st->keys.client_key, SCRAM_KEY_LEN, stored) ||
	    !sign_exchange(st->client_first_bare, server_first, final_bare, (size_t)n, stored,
	                   st->keys.server_key, signature, st->server_signature))
		goto out_wipe;
	for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
		proof[i] = st->keys.client_key[i] ^ signature[i];
	if (scram_base64_encode(proof, SCRAM_KEY_LEN, proof_b64, sizeof(proof_b64)) < 0)
		goto out_wipe;
	n = snprintf(out, outlen, "%s,p=%s", final_bare, proof_b64);
	if (n < 0 || (size_t)n >= outlen) {
		rc = fail(err, SCRAM_ERR_INTERNAL, "SCRAM output buffer too small");
		goto out_wipe;
	}
	st->step = SCRAM_CLIENT_SENT_FINAL;
	rc = SCRAM_OK;
out_wipe:
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(signature, sizeof(signature));
	OPENSSL_cleanse(proof, sizeof(proof));
	return rc;
}

enum scram_status scram_client_verify_server_final(struct scram_client *st, const char *msg,
                                                   size_t len, const char **err)
{
	struct cursor c = {msg, msg + len};
	struct attr a;
	uint8_t sig[SCRAM_KEY_LEN];

	if (st->step != SCRAM_CLIENT_SENT_FINAL)
		return fail(err, SCRAM_ERR_PROTOCOL, "unexpected SCRAM server-final-message");
	st->step = SCRAM_CLIENT_FAILED;
	if (len > SCRAM_MAX_MESSAGE || !no_nul(msg, len) || !next_attr(&c, &a))
		return fail(err, SCRAM_ERR_PROTOCOL, "malformed SCRAM server-final-message");
	if (a.name == 'e')
		return fail(err, SCRAM_ERR_AUTH, "server rejected the SCRAM exchange");
	if (a.name != 'v' || !at_end(&c) || !decode_key(a.val, a.len, sig))
		return fail(err, SCRAM_ERR_PROTOCOL, "malformed SCRAM server-final-message");
	if (CRYPTO_memcmp(sig, st->server_signature, SCRAM_KEY_LEN) != 0)
		return fail(err, SCRAM_ERR_AUTH, "invalid SCRAM server signature");
	st->step = SCRAM_CLIENT_DONE;
	return SCRAM_OK;
}

bool scram_client_keys(const struct scram_client *st, struct scram_keys *out)
{
	if (st->step != SCRAM_CLIENT_DONE)
		return false;
	*out = st->keys;
	return true;
}

void scram_client_release(struct scram_client *st)
{
	if (st->password) {
		OPENSSL_cleanse(st->password, strlen(st->password));
		free(st->password);
	}
	OPENSSL_cleanse(st, sizeof(*st));
	st->password = NULL;
	st->step = SCRAM_CLIENT_FAILED;
}

/* ---- server side ---- */

static enum scram_status server_start(struct scram_server *st, const char **err)
{
	if (!make_nonce(st->nonce, sizeof(st->nonce))) {
		st->step = SCRAM_SERVER_FAILED;
		return fail(err, SCRAM_ERR_INTERNAL, "could not generate a random nonce");
	}
	st->step = SCRAM_SERVER_NEW;
	return SCRAM_OK;
}

/* Per-process key for salts made up per user, so they are stable but not predictable. */
static uint8_t user_salt_key[SCRAM_KEY_LEN];
static bool user_salt_key_ok;
static pthread_once_t user_salt_key_once = PTHREAD_ONCE_INIT;

static void user_salt_key_init(void)
{
	user_salt_key_ok = RAND_bytes(user_salt_key, sizeof(user_salt_key)) == 1;
}

/*
 * The salt pgscope shows for user when it has no stored one (a plaintext
 * entry, or no usable entry at all): HMAC(process key, user), the same on
 * every attempt, so that a salt that changes does not mark a user apart.
 */
static bool user_salt(const char *user, struct scram_keys *keys)
{
	uint8_t digest[SCRAM_KEY_LEN];

	pthread_once(&user_salt_key_once, user_salt_key_init);
	if (!user_salt_key_ok ||
	    !hmac_sha256(user_salt_key, sizeof(user_salt_key), user, strlen(user), digest))
		return false;
	memcpy(keys->salt, digest, SCRAM_SALT_LEN);
	keys->salt_len = SCRAM_SALT_LEN;
	keys->iterations = SCRAM_DEFAULT_ITERATIONS;
	OPENSSL_cleanse(digest, sizeof(digest));
	return true;
}

/* Keys for a plaintext auth_file entry, with the salt already in st->keys. */
static enum scram_status server_keys_from_password(struct scram_server *st, const char *password,
                                                   const char **err)
{
	char *prepped = saslprep_password(password);
	bool ok;

	if (!prepped)
		return fail(err, SCRAM_ERR_INTERNAL, "out of memory");
	ok = derive_keys(prepped, st->keys.salt, st->keys.salt_len, st->keys.iterations,
	                 st->keys.client_key, st->keys.server_key) &&
	     sha256(st->keys.client_key, SCRAM_KEY_LEN, st->stored_key);
	/* the ClientKey must come from the client's proof, not from our own derivation */
	OPENSSL_cleanse(st->keys.client_key, SCRAM_KEY_LEN);
	OPENSSL_cleanse(prepped, strlen(prepped));
	free(prepped);
	if (!ok)
		return fail(err, SCRAM_ERR_INTERNAL, "SCRAM key derivation failed");
	return SCRAM_OK;
}

static bool is_scram_secret(const char *entry)
{
	return strncmp(entry, SECRET_PREFIX, strlen(SECRET_PREFIX)) == 0;
}

/*
 * Why a SCRAM exchange cannot use entry (NULL: the user is not listed), or
 * NULL if it can. A SCRAM secret's salt and keys replace st's on the way.
 */
static const char *unusable_entry(struct scram_server *st, const char *entry)
{
	struct scram_keys keys;
	uint8_t stored_key[SCRAM_KEY_LEN];

	if (entry == NULL)
		return "user not in auth_file";
	if (is_scram_secret(entry)) {
		if (!scram_parse_secret(entry, &keys, stored_key))
			return "invalid SCRAM secret in auth_file";
		st->keys = keys;
		memcpy(st->stored_key, stored_key, SCRAM_KEY_LEN);
		OPENSSL_cleanse(&keys, sizeof(keys));
		OPENSSL_cleanse(stored_key, sizeof(stored_key));
		return NULL;
	}
	if (strncmp(entry, "md5", 3) == 0 && strlen(entry) == 35 &&
	    strspn(entry + 3, "0123456789abcdef") == 32)
		return "auth_file has an md5 hash for this user, which SCRAM cannot use";
	if (entry[0] == '\0')
		return "empty password in auth_file";
	return NULL;
}

enum scram_status scram_server_init(struct scram_server *st, const char *user, const char *secret,
                                    const char **err)
{
	enum scram_status rc;

	memset(st, 0, sizeof(*st));
	st->step = SCRAM_SERVER_FAILED;
	/*
	 * The made-up salt is derived on every path, used or not, so that the
	 * work done before the first answer hardly depends on the entry.
	 */
	if (!user_salt(user, &st->keys))
		return fail(err, SCRAM_ERR_INTERNAL, "could not derive a salt");
	st->mock_reason = unusable_entry(st, secret);
	/* a mock's keys stay zero: the flag fails every proof, whatever they are */
	st->mock = st->mock_reason != NULL;
	if (!st->mock && !is_scram_secret(secret)) {
		rc = server_keys_from_password(st, secret, err);
		if (rc != SCRAM_OK)
			return rc;
	}
	return server_start(st, err);
}

enum scram_status scram_server_init_mock(struct scram_server *st, const char *user,
                                         const char **err)
{
	return scram_server_init(st, user, NULL, err);
}

enum scram_status scram_server_override_nonce(struct scram_server *st, const char *nonce,
                                              const char **err)
{
	size_t len = strlen(nonce);

	if (st->step != SCRAM_SERVER_NEW)
		return fail(err, SCRAM_ERR_INTERNAL, "SCRAM exchange already started");
	if (!valid_nonce(nonce, len) || len > SCRAM_MAX_NONCE_LEN)
		return fail(err, SCRAM_ERR_INTERNAL, "invalid SCRAM nonce");
	memcpy(st->nonce, nonce, len + 1);
	return SCRAM_OK;
}

/*
 * gs2-header: "n,," or "y,," (no channel binding), never "p=..." (we offer no
 * -PLUS mechanism) and no authorization identity, which PostgreSQL does not
 * support either. Leaves the cursor at the client-first-bare.
 */
static enum scram_status parse_gs2_header(struct scram_server *st, struct cursor *c,
                                          const char **err)
{
	if (c->end - c->p < 3)
		return fail(err, SCRAM_ERR_PROTOCOL, "malformed SCRAM client-first-message");
	if (c->p[0] == 'p')
		return fail(err, SCRAM_ERR_PROTOCOL,
		            "SCRAM channel binding is not supported (use SCRAM-SHA-256)");
	if ((c->p[0] != 'n' && c->p[0] != 'y') || c->p[1] != ',')
		return fail(err, SCRAM_ERR_PROTOCOL, "malformed SCRAM client-first-message");
	if (c->p[2] != ',')
		return fail(err, SCRAM_ERR_PROTOCOL,
		            "SCRAM authorization identity is not supported");
	memcpy(st->gs2_header, c->p, 3);
	st->gs2_header[3] = '\0';
	c->p += 3;
	return SCRAM_OK;
}

enum scram_status scram_server_handle_client_first(struct scram_server *st, const char *msg,
                                                   size_t len, char *out, size_t outlen,
                                                   const char **err)
{
	struct cursor c = {msg, msg + len};
	struct attr user, nonce, ext;
	char salt_b64[SCRAM_MAX_SALT_LEN * 2];
	char combined[sizeof(st->nonce)];
	const char *bare;
	enum scram_status rc;
	int n;

	if (st->step != SCRAM_SERVER_NEW)
		return fail(err, SCRAM_ERR_PROTOCOL, "unexpected SCRAM client-first-message");
	st->step = SCRAM_SERVER_FAILED;
	if (len > SCRAM_MAX_MESSAGE || !no_nul(msg, len))
		return fail(err, SCRAM_ERR_PROTOCOL, "malformed SCRAM client-first-message");
	rc = parse_gs2_header(st, &c, err);
	if (rc != SCRAM_OK)
		return rc;
	bare = c.p;
	/* the user name is ignored, as in PostgreSQL: the startup packet names the user */
	if (!next_attr(&c, &user) || user.name != 'n')
		return fail(err, SCRAM_ERR_PROTOCOL,
		            "malformed SCRAM client-first-message (no user name)");
	if (!expect_attr(&c, 'r', &nonce) || !valid_nonce(nonce.val, nonce.len) ||
	    nonce.len > SCRAM_MAX_NONCE_LEN)
		return fail(err, SCRAM_ERR_PROTOCOL,
		            "malformed SCRAM client-first-message (bad nonce)");
	while (!at_end(&c)) {
		if (!next_attr(&c, &ext))
			return fail(err, SCRAM_ERR_PROTOCOL,
			            "malformed SCRAM client-first-message (bad extension)");
	}
	if (!copy_str(st->client_first_bare, sizeof(st->client_first_bare), bare,
	              (size_t)(c.end - bare)))
		return fail(err, SCRAM_ERR_PROTOCOL, "SCRAM client-first-message too long");
	n = snprintf(combined, sizeof(combined), "%.*s%s", (int)nonce.len, nonce.val, st->nonce);
	if (n < 0 || (size_t)n >= sizeof(combined))
		return fail(err, SCRAM_ERR_PROTOCOL, "SCRAM nonce too long");
	memcpy(st->nonce, combined, (size_t)n + 1);
	if (scram_base64_encode(st->keys.salt, st->keys.salt_len, salt_b64, sizeof(salt_b64)) < 0)
		return fail(err, SCRAM_ERR_INTERNAL, "SCRAM salt encoding failed");
	n = snprintf(st->server_first, sizeof(st->server_first), "r=%s,s=%s,i=%d", st->nonce,
	             salt_b64, st->keys.iterations);
	if (n < 0 || (size_t)n >= sizeof(st->server_first))
		return fail(err, SCRAM_ERR_INTERNAL, "SCRAM server-first-message too long");
	if ((size_t)n >= outlen)
		return fail(err, SCRAM_ERR_INTERNAL, "SCRAM output buffer too small");
	memcpy(out, st->server_first, (size_t)n + 1);
	st->step = SCRAM_SERVER_SENT_FIRST;
	return SCRAM_OK;
}

/*
 * Parse client-final-message: "c=<base64 gs2 header>,r=<nonce>[,ext...],p=<proof>".
 * final_bare_len is the length of everything before ",p=".
 */
static enum scram_status parse_client_final(const struct scram_server *st, const char *msg,
                                            size_t len, size_t *final_bare_len,
                                            uint8_t proof[SCRAM_KEY_LEN], const char **err)
{
	struct cursor c = {msg, msg + len};
	struct attr cbind, nonce, a;
	char expect_cbind[8];
	const char *attr_start;

	if (len > SCRAM_MAX_MESSAGE || !no_nul(msg, len))
		return fail(err, SCRAM_ERR_PROTOCOL, "malformed SCRAM client-final-message");
	if (!expect_attr(&c, 'c', &cbind) || !expect_attr(&c, 'r', &nonce))
		return fail(err, SCRAM_ERR_PROTOCOL, "malformed SCRAM client-final-message");
	if (scram_base64_encode((const uint8_t *)st->gs2_header, 3, expect_cbind,
	                        sizeof(expect_cbind)) != 4 ||
	    cbind.len != 4 || memcmp(cbind.val, expect_cbind, 4) != 0)
		return fail(err, SCRAM_ERR_PROTOCOL,
		            "SCRAM channel binding data does not match the client-first-message");
	if (nonce.len != strlen(st->nonce) || memcmp(nonce.val, st->nonce, nonce.len) != 0)
		return fail(err, SCRAM_ERR_PROTOCOL, "SCRAM nonce does not match");
	for (;;) {
		attr_start = c.p;
		if (!next_attr(&c, &a))
			return fail(err, SCRAM_ERR_PROTOCOL,
			            "malformed SCRAM client-final-message (no proof)");
		if (a.name == 'p')
			break;
	}
	if (!at_end(&c))
		return fail(err, SCRAM_ERR_PROTOCOL,
		            "malformed SCRAM client-final-message (data after proof)");
	if (!decode_key(a.val, a.len, proof))
		return fail(err, SCRAM_ERR_PROTOCOL, "invalid SCRAM client proof");
	*final_bare_len = (size_t)(attr_start - 1 - msg); /* without the ',' before "p=" */
	return SCRAM_OK;
}

enum scram_status scram_server_handle_client_final(struct scram_server *st, const char *msg,
                                                   size_t len, char *out, size_t outlen,
                                                   const char **err)
{
	uint8_t proof[SCRAM_KEY_LEN], signature[SCRAM_KEY_LEN], server_sig[SCRAM_KEY_LEN];
	uint8_t client_key[SCRAM_KEY_LEN], check[SCRAM_KEY_LEN];
	char sig_b64[B64_KEY_LEN + 1];
	size_t final_bare_len = 0;
	enum scram_status rc;
	int n;

	if (st->step != SCRAM_SERVER_SENT_FIRST)
		return fail(err, SCRAM_ERR_PROTOCOL, "unexpected SCRAM client-final-message");
	st->step = SCRAM_SERVER_FAILED;
	rc = parse_client_final(st, msg, len, &final_bare_len, proof, err);
	if (rc != SCRAM_OK)
		return rc;
	rc = fail(err, SCRAM_ERR_INTERNAL, "SCRAM proof verification failed");
	if (!sign_exchange(st->client_first_bare, st->server_first, msg, final_bare_len,
	                   st->stored_key, st->keys.server_key, signature, server_sig))
		goto out_wipe;
	/* ClientKey = ClientProof XOR ClientSignature; it is right if H(ClientKey) = StoredKey */
	for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
		client_key[i] = proof[i] ^ signature[i];
	if (!sha256(client_key, SCRAM_KEY_LEN, check))
		goto out_wipe;
	if (CRYPTO_memcmp(check, st->stored_key, SCRAM_KEY_LEN) != 0 || st->mock) {
		rc = fail(err, SCRAM_ERR_AUTH, "password authentication failed");
		goto out_wipe;
	}
	if (scram_base64_encode(server_sig, SCRAM_KEY_LEN, sig_b64, sizeof(sig_b64)) < 0)
		goto out_wipe;
	n = snprintf(out, outlen, "v=%s", sig_b64);
	if (n < 0 || (size_t)n >= outlen) {
		rc = fail(err, SCRAM_ERR_INTERNAL, "SCRAM output buffer too small");
		goto out_wipe;
	}
	memcpy(st->keys.client_key, client_key, SCRAM_KEY_LEN);
	st->have_client_key = true;
	st->step = SCRAM_SERVER_DONE;
	rc = SCRAM_OK;
out_wipe:
	OPENSSL_cleanse(proof, sizeof(proof));
	OPENSSL_cleanse(signature, sizeof(signature));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return rc;
}

bool scram_server_client_keys(const struct scram_server *st, struct scram_keys *out)
{
	if (st->step != SCRAM_SERVER_DONE || !st->have_client_key || st->mock)
		return false;
	*out = st->keys;
	return true;
}

void scram_server_release(struct scram_server *st)
{
	OPENSSL_cleanse(st, sizeof(*st));
	st->step = SCRAM_SERVER_FAILED;
}
