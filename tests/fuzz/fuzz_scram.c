/* fuzz_scram.c - libFuzzer target: both sides of the SCRAM-SHA-256 exchange on hostile messages. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/scram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input is up to four messages separated by "\n#\n":
 *   client-first and client-final, fed to the server side, and
 *   server-first and server-final, fed to the client side.
 * Both sides use fixed nonces and a fixed secret (password "pencil"), so the
 * seed corpus holds a complete valid exchange and the fuzzer can mutate it.
 */
static const char secret[] =
    "SCRAM-SHA-256$4096:cGdzY29wZS1mdXp6c2FsdA==$s+0C9X1J1xiiH9iPFTi7HkeYA/Q5F6QGMCviYHi7Dpw=:"
    "2wxu3XOsnbrg06kHHUl1iz4FYTWh1pcegeKXnn6glsM=";
/* ClientKey of that secret: any accepted proof must reveal exactly this. */
static const uint8_t client_key[SCRAM_KEY_LEN] = {
    0x76, 0xcc, 0x8b, 0xe8, 0x62, 0xf6, 0x51, 0x06, 0xf1, 0xb3, 0x4e, 0xe8, 0x1e, 0x7a, 0x93, 0x05,
    0xaa, 0x5d, 0x76, 0x25, 0x7f, 0x53, 0xff, 0xe8, 0xb1, 0xcb, 0xf2, 0x2c, 0x8b, 0xc5, 0xf0, 0xc6};

#define SEP     "\n#\n"
#define SEP_LEN 3
#define PARTS   4

struct part {
	const char *p;
	size_t len;
};

static int split(const uint8_t *data, size_t size, struct part *parts)
{
	const char *p = (const char *)data;
	const char *end = p + size;
	int n = 0;

	while (n < PARTS) {
		const char *sep = n < PARTS - 1 ? memmem(p, (size_t)(end - p), SEP, SEP_LEN) : NULL;
		parts[n].p = p;
		parts[n].len = (size_t)((sep != NULL ? sep : end) - p);
		n++;
		if (sep == NULL)
			break;
		p = sep + SEP_LEN;
	}
	for (int i = n; i < PARTS; i++) {
		parts[i].p = end;
		parts[i].len = 0;
	}
	return n;
}

/* An output message is a NUL-terminated string inside its buffer. */
static void check_out(const char *out, size_t outlen)
{
	if (memchr(out, '\0', outlen) == NULL)
		abort();
}

static void server_side(const struct part *parts, bool mock)
{
	struct scram_server st;
	const char *err = NULL;
	char out[SCRAM_MAX_MESSAGE + 1];
	struct scram_keys keys;
	enum scram_status s;

	memset(&st, 0, sizeof(st));
	s = mock ? scram_server_init_mock(&st, "fuzzuser", &err)
	         : scram_server_init(&st, "fuzzuser", secret, &err);
	if (s != SCRAM_OK)
		abort(); /* a fixed, valid secret */
	if (scram_server_override_nonce(&st, "fuzzservernonce", &err) != SCRAM_OK)
		abort();
	memset(out, 0x5a, sizeof(out));
	s = scram_server_handle_client_first(&st, parts[0].p, parts[0].len, out, sizeof(out), &err);
	if (s != SCRAM_OK) {
		if (err == NULL)
			abort(); /* every failure says why */
		goto out_release;
	}
	check_out(out, sizeof(out));
	if (strncmp(out, "r=", 2) != 0)
		abort();
	memset(out, 0x5a, sizeof(out));
	s = scram_server_handle_client_final(&st, parts[1].p, parts[1].len, out, sizeof(out), &err);
	if (s == SCRAM_OK) {
		check_out(out, sizeof(out));
		if (mock || strncmp(out, "v=", 2) != 0)
			abort(); /* a mock exchange never succeeds */
		if (!scram_server_client_keys(&st, &keys) ||
		    memcmp(keys.client_key, client_key, SCRAM_KEY_LEN) != 0)
			abort();
	} else if (err == NULL || scram_server_client_keys(&st, &keys)) {
		abort();
	}
	/* Once finished, the exchange refuses further messages. */
	if (scram_server_handle_client_final(&st, parts[1].p, parts[1].len, out, sizeof(out),
	                                     &err) == SCRAM_OK)
		abort();
out_release:
	scram_server_release(&st);
}

static void client_side(const struct part *parts)
{
	struct scram_client st;
	struct scram_keys keys;
	uint8_t stored[SCRAM_KEY_LEN];
	const char *err = NULL;
	char out[1024];
	enum scram_status s;

	/* Keys instead of a password: no PBKDF2 per input, and i= must match. */
	if (!scram_parse_secret(secret, &keys, stored))
		abort();
	memcpy(keys.client_key, client_key, SCRAM_KEY_LEN);
	memset(&st, 0, sizeof(st));
	if (scram_client_init_keys(&st, &keys, &err) != SCRAM_OK)
		abort();
	if (scram_client_override(&st, NULL, "fuzzclient", &err) != SCRAM_OK)
		abort();
	if (scram_client_first(&st, out, sizeof(out), &err) != SCRAM_OK)
		abort();
	memset(out, 0x5a, sizeof(out));
	s = scram_client_handle_server_first(&st, parts[2].p, parts[2].len, out, sizeof(out), &err);
	if (s != SCRAM_OK) {
		if (err == NULL)
			abort();
		goto out_release;
	}
	check_out(out, sizeof(out));
	if (strncmp(out, "c=", 2) != 0)
		abort();
	s = scram_client_verify_server_final(&st, parts[3].p, parts[3].len, &err);
	if (s == SCRAM_OK) {
		struct scram_keys got;
		if (!scram_client_keys(&st, &got) ||
		    memcmp(got.client_key, client_key, SCRAM_KEY_LEN) != 0)
			abort();
	} else if (err == NULL) {
		abort();
	}
out_release:
	scram_client_release(&st);
}

/* Helpers a hostile peer or auth_file reaches as well. */
static void helpers(const struct part *parts)
{
	uint8_t raw[256];
	char text[512];
	char *copy;
	struct scram_keys keys;
	uint8_t stored[SCRAM_KEY_LEN];
	int n;

	n = scram_base64_decode(parts[0].p, parts[0].len, raw, sizeof(raw));
	if (n > (int)sizeof(raw))
		abort();
	if (n >= 0) {
		/* Canonical base64 round-trips exactly. */
		int m = scram_base64_encode(raw, (size_t)n, text, sizeof(text));
		if (m < 0 || (size_t)m != parts[0].len ||
		    memcmp(text, parts[0].p, parts[0].len) != 0)
			abort();
	}
	(void)scram_mechanism_offered(parts[1].p, parts[1].len);
	copy = strndup(parts[0].p, parts[0].len);
	if (copy == NULL)
		return;
	if (scram_parse_secret(copy, &keys, stored) &&
	    (keys.salt_len > SCRAM_MAX_SALT_LEN || keys.iterations < 1))
		abort();
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct part parts[PARTS];

	if (size > 4096)
		return 0;
	split(data, size, parts);
	server_side(parts, false);
	server_side(parts, true);
	client_side(parts);
	helpers(parts);
	return 0;
}
