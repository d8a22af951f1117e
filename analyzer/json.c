/*
 * json.c - bounded recursive-descent JSON reader and string escaping for output.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/json.h"

struct json_reader {
	const char *text;
	size_t len;
	size_t pos;
	char *err;
	size_t errlen;
	bool failed;
};

static void reader_fail(struct json_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reader_fail(struct json_reader *r, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	int line = 1, col = 1;

	if (r->failed)
		return;
	r->failed = true;
	va_start(ap, fmt);
	/* va_start() is just above; clang-analyzer loses track of it. */
	vsnprintf(msg, sizeof(msg), fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
	for (size_t i = 0; i < r->pos && i < r->len; i++) {
		if (r->text[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	snprintf(r->err, r->errlen, "line %d, column %d (byte %zu): %s", line, col, r->pos, msg);
}

static void skip_ws(struct json_reader *r)
{
	while (r->pos < r->len) {
		char c = r->text[r->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		r->pos++;
	}
}

static bool parse_value(struct json_reader *r, struct json_value *v, int depth);

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool read_hex4(struct json_reader *r, unsigned *out)
{
	unsigned v = 0;

	if (r->len - r->pos < 4) {
		reader_fail(r, "truncated \\u escape");
		return false;
	}
	for (int i = 0; i < 4; i++) {
		int d = hex_digit(r->text[r->pos + (size_t)i]);
		if (d < 0) {
			reader_fail(r, "bad \\u escape");
			return false;
		}
		v = v * 16 + (unsigned)d;
	}
	r->pos += 4;
	*out = v;
	return true;
}

static size_t put_utf8(char *dst, unsigned cp)
{
	if (cp < 0x80) {
		dst[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		dst[0] = (char)(0xc0 | (cp >> 6));
		dst[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		dst[0] = (char)(0xe0 | (cp >> 12));
		dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		dst[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	dst[0] = (char)(0xf0 | (cp >> 18));
	dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	dst[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Parse a string literal at r->pos (which is at '"'); returns a malloc'd string or NULL. */
static char *parse_string(struct json_reader *r)
{
	size_t start = ++r->pos;
	size_t end = start;

	/* Find the closing quote first: the decoded string is never longer than the literal. */
	while (end < r->len && r->text[end] != '"') {
		if (r->text[end] == '\\')
			end++;
		end++;
	}
	if (end >= r->len) {
		reader_fail(r, "unterminated string");
		return NULL;
	}
	char *out = malloc(end - start + 1);
	size_t o = 0;
	if (out == NULL) {
		reader_fail(r, "out of memory");
		return NULL;
	}
	while (r->pos < end) {
		unsigned char c = (unsigned char)r->text[r->pos];
		if (c < 0x20) {
			reader_fail(r, "control character in string");
			goto out_fail;
		}
		if (c != '\\') {
			out[o++] = (char)c;
			r->pos++;
			continue;
		}
		r->pos++;
		char e = r->text[r->pos++];
		unsigned cp;
		switch (e) {
		case '"':
		case '\\':
		case '/':
			out[o++] = e;
			break;
		case 'b':
			out[o++] = '\b';
			break;
		case 'f':
			out[o++] = '\f';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'u':
			if (!read_hex4(r, &cp))
				goto out_fail;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				unsigned lo;
				if (r->pos + 2 > end || r->text[r->pos] != '\\' ||
				    r->text[r->pos + 1] != 'u') {
					reader_fail(r, "unpaired surrogate");
					goto out_fail;
				}
				r->pos += 2;
				if (!read_hex4(r, &lo) || lo < 0xdc00 || lo > 0xdfff) {
					reader_fail(r, "unpaired surrogate");
					goto out_fail;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				reader_fail(r, "unpaired surrogate");
				goto out_fail;
			}
			if (cp == 0) {
				reader_fail(r, "\\u0000 is not allowed");
				goto out_fail;
			}
			o += put_utf8(out + o, cp);
			break;
		default:
			r->pos--;
			reader_fail(r, "bad escape '\\%c'", e);
			goto out_fail;
		}
	}
	out[o] = '\0';
	r->pos = end + 1;
	return out;

out_fail:
	free(out);
	return NULL;
}

static bool parse_number(struct json_reader *r, struct json_value *v)
{
	size_t p = r->pos;
	char buf[64];

	if (p < r->len && r->text[p] == '-')
		p++;
	if (p >= r->len || r->text[p] < '0' || r->text[p] > '9') {
		reader_fail(r, "bad number");
		return false;
	}
	if (r->text[p] == '0' && p + 1 < r->len && r->text[p + 1] >= '0' && r->text[p + 1] <= '9') {
		reader_fail(r, "leading zero in number");
		return false;
	}
	while (p < r->len && r->text[p] >= '0' && r->text[p] <= '9')
		p++;
	if (p < r->len && r->text[p] == '.') {
		p++;
		if (p >= r->len || r->text[p] < '0' || r->text[p] > '9') {
			reader_fail(r, "bad number");
			return false;
		}
		while (p < r->len && r->text[p] >= '0' && r->text[p] <= '9')
			p++;
	}
	if (p < r->len && (r->text[p] == 'e' || r->text[p] == 'E')) {
		p++;
		if (p < r->len && (r->text[p] == '+' || r->text[p] == '-'))
			p++;
		if (p >= r->len || r->text[p] < '0' || r->text[p] > '9') {
			reader_fail(r, "bad number");
			return false;
		}
		while (p < r->len && r->text[p] >= '0' && r->text[p] <= '9')
			p++;
	}
	if (p - r->pos >= sizeof(buf)) {
		reader_fail(r, "number too long");
		return false;
	}
	memcpy(buf, r->text + r->pos, p - r->pos);
	buf[p - r->pos] = '\0';
	v->type = JSON_NUMBER;
	v->number = strtod(buf, NULL);
	r->pos = p;
	return true;
}

static bool expect_word(struct json_reader *r, const char *word)
{
	size_t n = strlen(word);

	if (r->len - r->pos < n || memcmp(r->text + r->pos, word, n) != 0) {
		reader_fail(r, "unexpected character '%c'", r->text[r->pos]);
		return false;
	}
	r->pos += n;
	return true;
}

/* Append an empty slot to an array/object value; returns it or NULL. */
static struct json_value *grow(struct json_reader *r, struct json_value *v, size_t *cap,
                               bool object)
{
	if (v->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		struct json_value *ni = realloc(v->items, ncap * sizeof(*ni));
		if (ni == NULL) {
			reader_fail(r, "out of memory");
			return NULL;
		}
		v->items = ni;
		if (object) {
			char **nk = realloc(v->keys, ncap * sizeof(*nk));
			if (nk == NULL) {
				reader_fail(r, "out of memory");
				return NULL;
			}
			v->keys = nk;
		}
		*cap = ncap;
	}
	struct json_value *slot = &v->items[v->n];
	memset(slot, 0, sizeof(*slot));
	if (object)
		v->keys[v->n] = NULL;
	v->n++;
	return slot;
}

enum item_next { ITEM_MORE, ITEM_END, ITEM_BAD };

/* After an array element or object member: ',' for more, close to end, anything else is bad. */
static enum item_next after_item(struct json_reader *r, char close)
{
	skip_ws(r);
	if (r->pos < r->len && r->text[r->pos] == ',') {
		r->pos++;
		return ITEM_MORE;
	}
	if (r->pos < r->len && r->text[r->pos] == close) {
		r->pos++;
		return ITEM_END;
	}
	reader_fail(r, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
	return ITEM_BAD;
}

static bool parse_array(struct json_reader *r, struct json_value *v, int depth)
{
	size_t cap = 0;

	v->type = JSON_ARRAY;
	r->pos++;
	skip_ws(r);
	if (r->pos < r->len && r->text[r->pos] == ']') {
		r->pos++;
		return true;
	}
	for (;;) {
		struct json_value *item = grow(r, v, &cap, false);
		if (item == NULL || !parse_value(r, item, depth + 1))
			return false;
		switch (after_item(r, ']')) {
		case ITEM_MORE:
			continue;
		case ITEM_END:
			return true;
		case ITEM_BAD:
			return false;
		}
	}
}

static bool parse_object(struct json_reader *r, struct json_value *v, int depth)
{
	size_t cap = 0;

	v->type = JSON_OBJECT;
	r->pos++;
	skip_ws(r);
	if (r->pos < r->len && r->text[r->pos] == '}') {
		r->pos++;
		return true;
	}
	for (;;) {
		skip_ws(r);
		if (r->pos >= r->len || r->text[r->pos] != '"') {
			reader_fail(r, "expected a member name");
			return false;
		}
		struct json_value *item = grow(r, v, &cap, true);
		if (item == NULL)
			return false;
		v->keys[v->n - 1] = parse_string(r);
		if (v->keys[v->n - 1] == NULL)
			return false;
		skip_ws(r);
		if (r->pos >= r->len || r->text[r->pos] != ':') {
			reader_fail(r, "expected ':'");
			return false;
		}
		r->pos++;
		if (!parse_value(r, item, depth + 1))
			return false;
		switch (after_item(r, '}')) {
		case ITEM_MORE:
			continue;
		case ITEM_END:
			return true;
		case ITEM_BAD:
			return false;
		}
	}
}

static bool parse_value(struct json_reader *r, struct json_value *v, int depth)
{
	if (depth > JSON_MAX_DEPTH) {
		reader_fail(r, "nesting deeper than %d", JSON_MAX_DEPTH);
		return false;
	}
	skip_ws(r);
	if (r->pos >= r->len) {
		reader_fail(r, "unexpected end of input");
		return false;
	}
	switch (r->text[r->pos]) {
	case '{':
		return parse_object(r, v, depth);
	case '[':
		return parse_array(r, v, depth);
	case '"':
		v->type = JSON_STRING;
		v->string = parse_string(r);
		return v->string != NULL;
	case 't':
		v->type = JSON_BOOL;
		v->boolean = true;
		return expect_word(r, "true");
	case 'f':
		v->type = JSON_BOOL;
		return expect_word(r, "false");
	case 'n':
		v->type = JSON_NULL;
		return expect_word(r, "null");
	default:
		if (r->text[r->pos] != '-' && (r->text[r->pos] < '0' || r->text[r->pos] > '9')) {
			reader_fail(r, "unexpected character '%c'", r->text[r->pos]);
			return false;
		}
		return parse_number(r, v);
	}
}

static void value_release(struct json_value *v)
{
	for (size_t i = 0; i < v->n; i++) {
		value_release(&v->items[i]);
		if (v->keys != NULL)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->string);
}

struct json_value *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct json_reader r = {.text = text, .len = len, .err = err, .errlen = errlen};

	if (len > JSON_MAX_INPUT) {
		snprintf(err, errlen, "input of %zu bytes is larger than %zu", len, JSON_MAX_INPUT);
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL) {
		r.pos = (size_t)((const char *)memchr(text, '\0', len) - text);
		reader_fail(&r, "NUL byte in input");
		return NULL;
	}
	struct json_value *v = calloc(1, sizeof(*v));
	if (v == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!parse_value(&r, v, 0))
		goto out_fail;
	skip_ws(&r);
	if (r.pos != len) {
		reader_fail(&r, "trailing characters after the value");
		goto out_fail;
	}
	return v;

out_fail:
	json_free(v);
	return NULL;
}

void json_free(struct json_value *v)
{
	if (v == NULL)
		return;
	value_release(v);
	free(v);
}

const struct json_value *json_get(const struct json_value *v, const char *key)
{
	if (v == NULL || v->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < v->n; i++) {
		if (v->keys[i] != NULL && strcmp(v->keys[i], key) == 0)
			return &v->items[i];
	}
	return NULL;
}

const char *json_get_string(const struct json_value *v, const char *key)
{
	const struct json_value *m = json_get(v, key);

	return m != NULL && m->type == JSON_STRING ? m->string : NULL;
}

double json_get_number(const struct json_value *v, const char *key, double dflt)
{
	const struct json_value *m = json_get(v, key);

	return m != NULL && m->type == JSON_NUMBER ? m->number : dflt;
}

bool json_get_bool(const struct json_value *v, const char *key, bool dflt)
{
	const struct json_value *m = json_get(v, key);

	return m != NULL && m->type == JSON_BOOL ? m->boolean : dflt;
}

void json_write_string(FILE *out, const char *s)
{
	if (s == NULL) {
		fputs("null", out);
		return;
	}
	putc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				putc(*p, out);
		}
	}
	putc('"', out);
}

void json_write_number(FILE *out, double v)
{
	if (!isfinite(v)) {
		fputs("null", out);
		return;
	}
	if (fabs(v) < 9e15 && v == (double)(int64_t)v) /* range first: the cast must fit */
		fprintf(out, "%lld", (long long)v);
	else
		fprintf(out, "%.17g", v);
}
