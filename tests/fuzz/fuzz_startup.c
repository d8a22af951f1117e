/* fuzz_startup.c - libFuzzer target: startup packet fields, options parsing and protocol readers.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/params.h"
#include "pooler/pbuf.h"
#include "pooler/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every stored name and value respects the set's bounds and reads back. */
static void check_params(const struct params *p)
{
	if (p->n < 0 || p->n > PARAMS_MAX)
		abort();
	for (int i = 0; i < p->n; i++) {
		const char *name = p->items[i].name;
		const char *value = p->items[i].value;
		if (name == NULL || value == NULL)
			abort();
		if (strlen(name) >= PARAMS_NAME_MAX || strlen(value) >= PARAMS_VALUE_MAX)
			abort();
		if (params_get(p, name) != value)
			abort();
	}
}

/*
 * A StartupMessage body after the version word: name/value string pairs ended
 * by an empty name, as client.c reads it; "options" is parsed further.
 */
static void startup_body(const uint8_t *body, size_t len)
{
	struct proto_reader r;
	struct params p, opts, copy;
	char err[128];

	params_init(&p);
	params_init(&opts);
	params_init(&copy);
	proto_reader_init(&r, body, len);
	for (;;) {
		const char *name = proto_read_str(&r);
		const char *value;
		if (r.bad || name[0] == '\0')
			break;
		value = proto_read_str(&r);
		if (r.bad)
			break;
		if ((const uint8_t *)name < body || (const uint8_t *)value >= body + len)
			abort(); /* strings point into the body */
		if (strcmp(name, "options") == 0) {
			err[0] = '\0';
			if (!params_parse_options(value, &opts, err, sizeof(err)) &&
			    memchr(err, '\0', sizeof(err)) == NULL)
				abort();
			check_params(&opts);
		}
		if (params_set(&p, name, value) && strcmp(params_get(&p, name), value) != 0)
			abort();
		(void)params_is_tracked(name);
	}
	if (r.pos > r.end)
		abort();
	check_params(&p);
	if (params_copy(&copy, &p)) {
		if (copy.n != p.n)
			abort();
		check_params(&copy);
	}
	if (p.n > 0) {
		char *first = strdup(p.items[0].name);
		if (first == NULL)
			abort();
		params_unset(&p, first);
		if (params_get(&p, first) != NULL)
			abort();
		free(first);
	}
	params_clear(&copy);
	params_clear(&opts);
	params_clear(&p);
}

/* A field pointer from proto_parse_error() lies inside the body or is "". */
static void check_field(const char *f, const uint8_t *body, size_t len)
{
	if (f == NULL)
		abort();
	if (f[0] != '\0' && ((const uint8_t *)f < body || (const uint8_t *)f >= body + len))
		abort();
}

static void error_body(const uint8_t *body, size_t len)
{
	struct proto_error_info info;

	if (!proto_parse_error(body, len, &info))
		return;
	check_field(info.severity, body, len);
	check_field(info.sqlstate, body, len);
	check_field(info.message, body, len);
}

/* Quoting into a small buffer either fits (NUL-terminated) or says no. */
static void quoting(const char *s)
{
	char out[64];

	memset(out, 'x', sizeof(out));
	if (proto_quote_literal(s, out, sizeof(out)) && memchr(out, '\0', sizeof(out)) == NULL)
		abort();
	memset(out, 'x', sizeof(out));
	if (proto_quote_ident(s, out, sizeof(out)) && memchr(out, '\0', sizeof(out)) == NULL)
		abort();
}

/* Writers round-trip through the readers. */
static void write_read(const char *s)
{
	struct pbuf b;
	struct proto_reader r;
	struct proto_error_info info;

	pbuf_init(&b, 64 * 1024);
	if (proto_write_error(&b, "ERROR", "08P01", s)) {
		const uint8_t *head = pbuf_head(&b);
		uint32_t len = proto_get32(head + 1);
		if (head[0] != 'E' || len + 1 != pbuf_len(&b))
			abort();
		if (!proto_parse_error(head + PROTO_HDR, len - 4, &info))
			abort();
		if (strcmp(info.message, s) != 0 || strcmp(info.sqlstate, "08P01") != 0)
			abort();
		proto_reader_init(&r, head + PROTO_HDR, len - 4);
		while (!r.bad && proto_reader_left(&r) > 0)
			(void)proto_read_str(&r);
		if (r.bad)
			abort();
	}
	pbuf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	long long rows;

	if (size < 1 || size > PROTO_MAX_STARTUP)
		return 0;
	/* First byte chooses what the rest is; every input also goes through the readers. */
	switch (data[0] % 3) {
	case 0:
		startup_body(data + 1, size - 1);
		break;
	case 1:
		error_body(data + 1, size - 1);
		break;
	default: {
		struct proto_reader r;
		proto_reader_init(&r, data + 1, size - 1);
		while (!r.bad && proto_reader_left(&r) > 0) {
			uint8_t op = proto_read_byte(&r);
			if (op % 4 == 0)
				(void)proto_read_int16(&r);
			else if (op % 4 == 1)
				(void)proto_read_int32(&r);
			else if (op % 4 == 2)
				(void)proto_read_str(&r);
			else if (proto_read_bytes(&r, op / 4u) == NULL && !r.bad &&
			         proto_reader_left(&r) >= op / 4u)
				abort();
			if (r.pos > r.end)
				abort();
		}
		break;
	}
	}
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	rows = proto_tag_rows(text);
	if (rows < -1)
		abort();
	quoting(text);
	write_read(text);
	{
		struct params opts;
		char err[128];
		params_init(&opts);
		(void)params_parse_options(text, &opts, err, sizeof(err));
		check_params(&opts);
		params_clear(&opts);
	}
	free(text);
	return 0;
}
