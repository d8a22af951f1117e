/* logread_jscan.c - in-place scanner for flat JSON objects (one per line). */
#include <stdlib.h>
#include <string.h>

#include "analyzer/logread_jscan.h"

static void skip_ws(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
		s->p++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool read_u16(const char *p, const char *end, uint32_t *out)
{
	if (end - p < 4)
		return false;
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return false;
		v = v << 4 | (uint32_t)h;
	}
	*out = v;
	return true;
}

static char *put_utf8(char *w, uint32_t cp)
{
	if (cp < 0x80) {
		*w++ = (char)cp;
	} else if (cp < 0x800) {
		*w++ = (char)(0xc0 | cp >> 6);
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*w++ = (char)(0xe0 | cp >> 12);
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*w++ = (char)(0xf0 | cp >> 18);
		*w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	}
	return w;
}

/* s->p is at the opening quote. Unescape in place; the writer never passes the reader. */
static bool scan_string(struct jscan *s, char **out, size_t *len)
{
	char *r = s->p + 1;
	char *start = r;
	/* Fast path: no escapes. */
	while (r < s->end && *r != '"' && *r != '\\')
		r++;
	char *w = r;
	while (r < s->end) {
		char c = *r;
		if (c == '"') {
			*w = '\0';
			*out = start;
			*len = (size_t)(w - start);
			s->p = r + 1;
			return true;
		}
		if (c != '\\') {
			*w++ = c;
			r++;
			continue;
		}
		if (r + 1 >= s->end)
			return false;
		char e = r[1];
		r += 2;
		switch (e) {
		case 'n':
			*w++ = '\n';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'r':
			*w++ = '\r';
			break;
		case 'b':
			*w++ = '\b';
			break;
		case 'f':
			*w++ = '\f';
			break;
		case '"':
		case '\\':
		case '/':
			*w++ = e;
			break;
		case 'u': {
			uint32_t cp, lo;
			if (!read_u16(r, s->end, &cp))
				return false;
			r += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && r + 6 <= s->end && r[0] == '\\' &&
			    r[1] == 'u' && read_u16(r + 2, s->end, &lo) && lo >= 0xdc00 &&
			    lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				r += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd;
			}
			w = put_utf8(w, cp);
			break;
		}
		default:
			return false;
		}
	}
	return false;
}

/* Skip a nested object or array, honouring strings. */
static bool skip_nested(struct jscan *s)
{
	int depth = 0;
	while (s->p < s->end) {
		char c = *s->p;
		if (c == '"') {
			char *str;
			size_t len;
			if (!scan_string(s, &str, &len))
				return false;
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			depth--;
		s->p++;
		if (depth == 0)
			return true;
	}
	return false;
}

static bool scan_value(struct jscan *s, struct jscan_value *v)
{
	memset(v, 0, sizeof(*v));
	skip_ws(s);
	if (s->p >= s->end)
		return false;
	char c = *s->p;
	if (c == '"') {
		v->type = JSCAN_STRING;
		return scan_string(s, &v->str, &v->len);
	}
	if (c == '{' || c == '[') {
		v->type = JSCAN_OTHER;
		return skip_nested(s);
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		v->type = JSCAN_NUMBER;
		bool neg = c == '-';
		char *p = s->p + neg;
		int64_t n = 0;
		bool huge = false; /* past int64: num saturates, dnum comes from strtod */
		for (; p < s->end && *p >= '0' && *p <= '9'; p++) {
			if (n > (INT64_MAX - 9) / 10) {
				huge = true;
				n = INT64_MAX;
				continue;
			}
			n = n * 10 + (*p - '0');
		}
		v->num = neg ? -n : n;
		v->dnum = (double)v->num;
		if (huge || (p < s->end && (*p == '.' || *p == 'e' || *p == 'E'))) {
			char *e;
			v->dnum = strtod(s->p, &e);
			p = e;
		}
		s->p = p;
		return true;
	}
	static const struct {
		const char *word;
		enum jscan_type type;
	} words[] = {{"null", JSCAN_NULL}, {"true", JSCAN_TRUE}, {"false", JSCAN_FALSE}};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i].word);
		if ((size_t)(s->end - s->p) >= n && memcmp(s->p, words[i].word, n) == 0) {
			v->type = words[i].type;
			s->p += n;
			return true;
		}
	}
	return false;
}

bool jscan_begin(struct jscan *s, char *line, size_t len)
{
	s->p = line;
	s->end = line + len;
	skip_ws(s);
	if (s->p >= s->end || *s->p != '{')
		return false;
	s->p++;
	return true;
}

int jscan_next(struct jscan *s, char **key, struct jscan_value *v)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == ',') {
		s->p++;
		skip_ws(s);
	}
	if (s->p >= s->end)
		return -1;
	if (*s->p == '}') {
		s->p++;
		return 0;
	}
	if (*s->p != '"')
		return -1;
	size_t klen;
	if (!scan_string(s, key, &klen))
		return -1;
	skip_ws(s);
	if (s->p >= s->end || *s->p != ':')
		return -1;
	s->p++;
	return scan_value(s, v) ? 1 : -1;
}
