/* proto.c - PostgreSQL wire protocol v3 readers and writers (see proto.h). */
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/proto.h"

void proto_reader_init(struct proto_reader *r, const uint8_t *body, size_t len)
{
	r->pos = body;
	r->end = body + len;
	r->bad = false;
}

uint8_t proto_read_byte(struct proto_reader *r)
{
	if (r->bad || r->pos >= r->end) {
		r->bad = true;
		return 0;
	}
	return *r->pos++;
}

uint16_t proto_read_int16(struct proto_reader *r)
{
	uint16_t v;

	if (r->bad || proto_reader_left(r) < 2) {
		r->bad = true;
		return 0;
	}
	v = proto_get16(r->pos);
	r->pos += 2;
	return v;
}

uint32_t proto_read_int32(struct proto_reader *r)
{
	uint32_t v;

	if (r->bad || proto_reader_left(r) < 4) {
		r->bad = true;
		return 0;
	}
	v = proto_get32(r->pos);
	r->pos += 4;
	return v;
}

const char *proto_read_str(struct proto_reader *r)
{
	const uint8_t *nul;
	const char *s;

	if (r->bad)
		return "";
	nul = memchr(r->pos, 0, proto_reader_left(r));
	if (nul == NULL) {
		r->bad = true;
		return "";
	}
	s = (const char *)r->pos;
	r->pos = nul + 1;
	return s;
}

const uint8_t *proto_read_bytes(struct proto_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || proto_reader_left(r) < n) {
		r->bad = true;
		return NULL;
	}
	p = r->pos;
	r->pos += n;
	return p;
}

void proto_begin(struct proto_writer *w, struct pbuf *buf, char type)
{
	static const uint8_t zero[4];

	w->buf = buf;
	w->rel = pbuf_len(buf);
	w->has_type = type != 0;
	w->failed = false;
	if (w->has_type)
		proto_put_byte(w, (uint8_t)type);
	proto_put_bytes(w, zero, 4);
}

void proto_put_bytes(struct proto_writer *w, const void *p, size_t n)
{
	if (w->failed)
		return;
	if (!pbuf_append(w->buf, p, n))
		w->failed = true;
}

void proto_put_byte(struct proto_writer *w, uint8_t v)
{
	proto_put_bytes(w, &v, 1);
}

void proto_put_int16(struct proto_writer *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	proto_put_bytes(w, b, 2);
}

void proto_put_int32(struct proto_writer *w, uint32_t v)
{
	uint8_t b[4];

	proto_put32(b, v);
	proto_put_bytes(w, b, 4);
}

void proto_put_str(struct proto_writer *w, const char *s)
{
	proto_put_bytes(w, s, strlen(s) + 1);
}

bool proto_end(struct proto_writer *w)
{
	struct pbuf *b = w->buf;
	uint8_t *msg = pbuf_head(b) + w->rel;
	size_t total = pbuf_len(b) - w->rel;
	size_t hdr = w->has_type ? 1 : 0;

	if (w->failed) {
		/* Drop the partial message so the stream stays well-formed. */
		b->end = b->start + w->rel;
		return false;
	}
	proto_put32(msg + hdr, (uint32_t)(total - hdr));
	return true;
}

bool proto_write_error(struct pbuf *buf, const char *severity, const char *sqlstate,
                       const char *message)
{
	struct proto_writer w;

	proto_begin(&w, buf, 'E');
	proto_put_byte(&w, 'S');
	proto_put_str(&w, severity);
	proto_put_byte(&w, 'V');
	proto_put_str(&w, severity);
	proto_put_byte(&w, 'C');
	proto_put_str(&w, sqlstate);
	proto_put_byte(&w, 'M');
	proto_put_str(&w, message);
	proto_put_byte(&w, 0);
	return proto_end(&w);
}

bool proto_write_notice(struct pbuf *buf, const char *sqlstate, const char *message)
{
	struct proto_writer w;

	proto_begin(&w, buf, 'N');
	proto_put_byte(&w, 'S');
	proto_put_str(&w, "NOTICE");
	proto_put_byte(&w, 'V');
	proto_put_str(&w, "NOTICE");
	proto_put_byte(&w, 'C');
	proto_put_str(&w, sqlstate);
	proto_put_byte(&w, 'M');
	proto_put_str(&w, message);
	proto_put_byte(&w, 0);
	return proto_end(&w);
}

bool proto_write_auth(struct pbuf *buf, uint32_t code, const void *data, size_t len)
{
	struct proto_writer w;

	proto_begin(&w, buf, 'R');
	proto_put_int32(&w, code);
	proto_put_bytes(&w, data, len);
	return proto_end(&w);
}

bool proto_write_param_status(struct pbuf *buf, const char *name, const char *value)
{
	struct proto_writer w;

	proto_begin(&w, buf, 'S');
	proto_put_str(&w, name);
	proto_put_str(&w, value);
	return proto_end(&w);
}

bool proto_write_backend_key(struct pbuf *buf, uint32_t pid, uint32_t key)
{
	struct proto_writer w;

	proto_begin(&w, buf, 'K');
	proto_put_int32(&w, pid);
	proto_put_int32(&w, key);
	return proto_end(&w);
}

bool proto_write_ready(struct pbuf *buf, char status)
{
	struct proto_writer w;

	proto_begin(&w, buf, 'Z');
	proto_put_byte(&w, (uint8_t)status);
	return proto_end(&w);
}

bool proto_write_query(struct pbuf *buf, const char *sql)
{
	struct proto_writer w;

	proto_begin(&w, buf, 'Q');
	proto_put_str(&w, sql);
	return proto_end(&w);
}

bool proto_write_terminate(struct pbuf *buf)
{
	struct proto_writer w;

	proto_begin(&w, buf, 'X');
	return proto_end(&w);
}

bool proto_write_password(struct pbuf *buf, const char *password)
{
	struct proto_writer w;

	proto_begin(&w, buf, 'p');
	proto_put_str(&w, password);
	return proto_end(&w);
}

bool proto_write_sasl_initial(struct pbuf *buf, const char *mech, const void *data, size_t len)
{
	struct proto_writer w;

	proto_begin(&w, buf, 'p');
	proto_put_str(&w, mech);
	proto_put_int32(&w, (uint32_t)len);
	proto_put_bytes(&w, data, len);
	return proto_end(&w);
}

bool proto_write_sasl_response(struct pbuf *buf, const void *data, size_t len)
{
	struct proto_writer w;

	proto_begin(&w, buf, 'p');
	proto_put_bytes(&w, data, len);
	return proto_end(&w);
}

bool proto_write_cancel(struct pbuf *buf, uint32_t pid, uint32_t key)
{
	struct proto_writer w;

	proto_begin(&w, buf, 0);
	proto_put_int32(&w, PROTO_CANCEL_CODE);
	proto_put_int32(&w, pid);
	proto_put_int32(&w, key);
	return proto_end(&w);
}

bool proto_parse_error(const uint8_t *body, size_t len, struct proto_error_info *out)
{
	struct proto_reader r;

	out->severity = "";
	out->sqlstate = "";
	out->message = "";
	proto_reader_init(&r, body, len);
	for (;;) {
		uint8_t code = proto_read_byte(&r);
		const char *val;

		if (r.bad)
			return false;
		if (code == 0)
			return true;
		val = proto_read_str(&r);
		if (r.bad)
			return false;
		if (code == 'V' || (code == 'S' && out->severity[0] == 0))
			out->severity = val;
		else if (code == 'C')
			out->sqlstate = val;
		else if (code == 'M')
			out->message = val;
	}
}

long long proto_tag_rows(const char *tag)
{
	const char *last = strrchr(tag, ' ');
	long long n = 0;

	if (last == NULL || last[1] == 0)
		return -1;
	/* Digits only: a count is never signed, and one too large to hold is no count. */
	for (const char *p = last + 1; *p; p++) {
		if (*p < '0' || *p > '9' || n > (LLONG_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*p - '0');
	}
	return n;
}

static bool quote_with(const char *s, char q, bool escape_prefix, char *out, size_t outlen)
{
	size_t o = 0;

	if (escape_prefix && strchr(s, '\\') != NULL) {
		if (o + 1 >= outlen)
			return false;
		out[o++] = 'E';
	}
	if (o + 1 >= outlen)
		return false;
	out[o++] = q;
	for (; *s; s++) {
		bool dup = *s == q || (escape_prefix && *s == '\\');

		if (o + (dup ? 2 : 1) + 1 >= outlen)
			return false;
		if (dup)
			out[o++] = *s;
		out[o++] = *s;
	}
	if (o + 1 >= outlen)
		return false;
	out[o++] = q;
	out[o] = 0;
	return true;
}

bool proto_quote_literal(const char *s, char *out, size_t outlen)
{
	return quote_with(s, '\'', true, out, outlen);
}

bool proto_quote_ident(const char *ident, char *out, size_t outlen)
{
	return quote_with(ident, '"', false, out, outlen);
}
