/* auth.c - md5 and cleartext password checks against auth_file entries (see auth.h). */
#include "pooler/auth.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "pooler/scram.h"

#define MD5_DIGEST_BYTES 16
#define MD5_HEX_LEN      32

bool auth_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	/* lengths are not secret (an md5 answer is always 35 bytes), contents are */
	if (alen != blen)
		return false;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

static bool is_md5_hash(const char *s)
{
	if (strncmp(s, "md5", 3) != 0 || strlen(s) != AUTH_MD5_LEN)
		return false;
	return strspn(s + 3, "0123456789abcdef") == MD5_HEX_LEN;
}

enum auth_secret_kind auth_secret_kind(const char *secret)
{
	if (is_md5_hash(secret))
		return AUTH_SECRET_MD5;
	if (strncmp(secret, "SCRAM-SHA-256$", 14) == 0)
		return AUTH_SECRET_SCRAM;
	return AUTH_SECRET_PLAIN;
}

/* out = "md5" + hex(md5(a + b)); a and b are concatenated without a separator. */
static bool md5_hex2(const void *a, size_t alen, const void *b, size_t blen, char out[AUTH_MD5_BUF])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = false;

	if (!ctx)
		return false;
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 || EVP_DigestUpdate(ctx, a, alen) != 1 ||
	    EVP_DigestUpdate(ctx, b, blen) != 1 || EVP_DigestFinal_ex(ctx, digest, &dlen) != 1 ||
	    dlen != MD5_DIGEST_BYTES)
		goto out_free_ctx;
	memcpy(out, "md5", 3);
	for (unsigned int i = 0; i < MD5_DIGEST_BYTES; i++) {
		out[3 + 2 * i] = hex[digest[i] >> 4];
		out[3 + 2 * i + 1] = hex[digest[i] & 15];
	}
	out[AUTH_MD5_LEN] = '\0';
	ok = true;
out_free_ctx:
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(digest, sizeof(digest));
	return ok;
}

bool auth_md5_password(const char *user, const char *password, char out[AUTH_MD5_BUF])
{
	return md5_hex2(password, strlen(password), user, strlen(user), out);
}

bool auth_md5_response(const char *user, const char *secret, const uint8_t salt[AUTH_MD5_SALT_LEN],
                       char out[AUTH_MD5_BUF])
{
	char inner[AUTH_MD5_BUF];
	bool ok;

	switch (auth_secret_kind(secret)) {
	case AUTH_SECRET_MD5:
		memcpy(inner, secret, AUTH_MD5_BUF);
		break;
	case AUTH_SECRET_PLAIN:
		/* an empty password never authenticates, as in PostgreSQL */
		if (secret[0] == '\0' || !auth_md5_password(user, secret, inner))
			return false;
		break;
	case AUTH_SECRET_SCRAM:
	default:
		return false;
	}
	/* the salted hash is over the 32 hex digits, without the "md5" prefix */
	ok = md5_hex2(inner + 3, MD5_HEX_LEN, salt, AUTH_MD5_SALT_LEN, out);
	OPENSSL_cleanse(inner, sizeof(inner));
	return ok;
}

bool auth_md5_check(const char *user, const char *secret, const uint8_t salt[AUTH_MD5_SALT_LEN],
                    const char *response, size_t len)
{
	char expect[AUTH_MD5_BUF];
	bool ok;

	if (!auth_md5_response(user, secret, salt, expect))
		return false;
	ok = auth_equal(expect, AUTH_MD5_LEN, response, len);
	OPENSSL_cleanse(expect, sizeof(expect));
	return ok;
}

bool auth_plain_check(const char *user, const char *secret, const char *password, size_t len)
{
	char hashed[AUTH_MD5_BUF];
	char copy[1024];
	bool ok = false;

	/* the password arrives as a C string from the wire; an embedded NUL never matches */
	if (memchr(password, '\0', len) || len >= sizeof(copy))
		return false;
	memcpy(copy, password, len);
	copy[len] = '\0';
	switch (auth_secret_kind(secret)) {
	case AUTH_SECRET_PLAIN:
		/* an empty password never authenticates, as in PostgreSQL */
		ok = secret[0] != '\0' && auth_equal(secret, strlen(secret), copy, len);
		break;
	case AUTH_SECRET_MD5:
		ok = auth_md5_password(user, copy, hashed) &&
		     auth_equal(secret, AUTH_MD5_LEN, hashed, AUTH_MD5_LEN);
		break;
	case AUTH_SECRET_SCRAM:
		ok = scram_verify_password(secret, copy);
		break;
	}
	OPENSSL_cleanse(copy, sizeof(copy));
	OPENSSL_cleanse(hashed, sizeof(hashed));
	return ok;
}

bool auth_md5_salt(uint8_t salt[AUTH_MD5_SALT_LEN])
{
	return RAND_bytes(salt, AUTH_MD5_SALT_LEN) == 1;
}
