/* sqlscan.c - a tiny scanner for a few session commands (see sqlscan.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pooler/sqlscan.h"

/* After the C-style comment that starts at s; comments nest, as in PostgreSQL. */
static const char *skip_comment(const char *s, const char *end)
{
	int depth = 0;

	while (s < end) {
		if (end - s >= 2 && s[0] == '/' && s[1] == '*') {
			depth++;
			s += 2;
		} else if (end - s >= 2 && s[0] == '*' && s[1] == '/') {
			s += 2;
			if (--depth == 0)
				return s;
		} else {
			s++;
		}
	}
	return end;
}

const char *sqlscan_skip_space(const char *s, const char *end)
{
	while (s < end) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
			s++;
		} else if (end - s >= 2 && s[0] == '-' && s[1] == '-') {
			while (s < end && *s != '\n')
				s++;
		} else if (end - s >= 2 && s[0] == '/' && s[1] == '*') {
			s = skip_comment(s, end);
		} else {
			break;
		}
	}
	return s;
}

static bool ident_char(char ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
	       (!first && ((ch >= '0' && ch <= '9') || ch == '$')) || (unsigned char)ch >= 0x80;
}

const char *sqlscan_ident(const char *s, const char *end, char *out, size_t outlen)
{
	size_t o = 0;

	if (s < end && *s == '"') {
		for (s++; s < end && *s != 0; s++) {
			if (*s == '"') {
				if (s + 1 < end && s[1] == '"') {
					s++;
				} else {
					out[o] = 0;
					return o > 0 ? s + 1 : NULL;
				}
			}
			if (o + 1 >= outlen)
				return NULL;
			out[o++] = *s;
		}
		return NULL;
	}
	while (s < end && ident_char(*s, o == 0)) {
		if (o + 1 >= outlen)
			return NULL;
		out[o++] = (*s >= 'A' && *s <= 'Z') ? (char)(*s + 32) : *s;
		s++;
	}
	if (o == 0)
		return NULL;
	out[o] = 0;
	return s;
}

bool sqlscan_at_end(const char *s, const char *end)
{
	s = sqlscan_skip_space(s, end);
	if (s < end && *s == ';')
		s = sqlscan_skip_space(s + 1, end);
	return s >= end;
}

/* A value up to the end of the statement: one 'literal', or text without quotes or ';'. */
static bool read_value(const char *s, const char *end, char *out, size_t outlen)
{
	size_t o = 0;

	s = sqlscan_skip_space(s, end);
	if (s < end && *s == '\'') {
		for (s++; s < end; s++) {
			if (*s == '\'') {
				if (s + 1 < end && s[1] == '\'') {
					s++;
				} else {
					out[o] = 0;
					return sqlscan_at_end(s + 1, end);
				}
			}
			if (o + 1 >= outlen)
				return false;
			out[o++] = *s;
		}
		return false;
	}
	while (s < end && *s != ';') {
		if (*s == '\'' || *s == '\\' || (end - s >= 2 && s[0] == '-' && s[1] == '-') ||
		    (end - s >= 2 && s[0] == '/' && s[1] == '*'))
			return false; /* anything tricky goes to the server untracked */
		if (o + 1 >= outlen)
			return false;
		out[o++] = *s++;
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t' || out[o - 1] == '\n' ||
	                 out[o - 1] == '\r'))
		o--;
	out[o] = 0;
	return o > 0 && sqlscan_at_end(s, end);
}

/* A parameter name, dotted for custom ones (app.user_id), folded as identifiers are. */
static const char *read_param_name(const char *s, const char *end, char *out, size_t outlen)
{
	s = sqlscan_ident(s, end, out, outlen);
	while (s != NULL && s < end && *s == '.') {
		size_t o = strlen(out);

		if (o + 2 >= outlen)
			return NULL;
		out[o] = '.';
		s = sqlscan_ident(s + 1, end, out + o + 1, outlen - o - 1);
	}
	return s;
}

/* A role name alone up to the end: 'literal', "quoted" or plain (folded), as the server reads it.
 */
static bool read_name_value(const char *s, const char *end, char *out, size_t outlen)
{
	s = sqlscan_skip_space(s, end);
	if (s < end && *s == '\'')
		return read_value(s, end, out, outlen);
	s = sqlscan_ident(s, end, out, outlen);
	return s != NULL && sqlscan_at_end(s, end);
}

/* SET SCHEMA 'name': the search_path value naming that one schema (quoted when it must be). */
static bool read_schema_value(const char *s, const char *end, char *out, size_t outlen)
{
	char schema[256];
	size_t o = 0;
	bool plain = true;

	s = sqlscan_skip_space(s, end);
	if (s >= end || *s != '\'' || !read_value(s, end, schema, sizeof(schema)) || !schema[0])
		return false;
	for (const char *c = schema; *c; c++)
		plain = plain && ((*c >= 'a' && *c <= 'z') || *c == '_' ||
		                  (c > schema && *c >= '0' && *c <= '9'));
	if (plain)
		return snprintf(out, outlen, "%s", schema) < (int)outlen;
	out[o++] = '"';
	for (const char *c = schema; *c; c++) {
		if (o + 3 >= outlen)
			return false;
		if (*c == '"')
			out[o++] = '"';
		out[o++] = *c;
	}
	out[o++] = '"';
	out[o] = 0;
	return true;
}

static bool set_name(char *name, size_t namelen, const char *what)
{
	return snprintf(name, namelen, "%s", what) < (int)namelen;
}

/* RESET name | RESET ALL | RESET SESSION AUTHORIZATION, after the RESET. */
static enum sqlscan_set_kind scan_reset(const char *s, const char *end, char *name, size_t namelen)
{
	char word[32];

	s = read_param_name(sqlscan_skip_space(s, end), end, name, namelen);
	if (s != NULL && strcmp(name, "session") == 0) {
		s = sqlscan_ident(sqlscan_skip_space(s, end), end, word, sizeof(word));
		if (s == NULL || strcmp(word, "authorization") != 0 ||
		    !set_name(name, namelen, "session_authorization"))
			return SQLSCAN_UNTRACKED;
	}
	if (s == NULL || !sqlscan_at_end(s, end))
		return SQLSCAN_UNTRACKED;
	return strcmp(name, "all") == 0 ? SQLSCAN_RESET_ALL : SQLSCAN_RESET;
}

/* The value after "name {TO|=}" (or after SET ROLE / SET SESSION AUTHORIZATION). */
static enum sqlscan_set_kind scan_value(const char *s, const char *end, const char *name,
                                        char *value, size_t valuelen)
{
	const char *v = sqlscan_skip_space(s, end);
	char word[32];
	const char *after = sqlscan_ident(v, end, word, sizeof(word));
	bool is_role = strcmp(name, "role") == 0 || strcmp(name, "session_authorization") == 0;

	if (after != NULL && strcmp(word, "default") == 0 && sqlscan_at_end(after, end))
		return SQLSCAN_RESET;
	if (is_role ? !read_name_value(s, end, value, valuelen)
	            : !read_value(s, end, value, valuelen))
		return SQLSCAN_UNTRACKED;
	return SQLSCAN_SET;
}

/* SET [SESSION] SESSION AUTHORIZATION, after the AUTHORIZATION. */
static enum sqlscan_set_kind scan_authorization(const char *s, const char *end, char *name,
                                                size_t namelen, char *value, size_t valuelen)
{
	if (s == NULL || !set_name(name, namelen, "session_authorization"))
		return SQLSCAN_UNTRACKED;
	return scan_value(s, end, name, value, valuelen);
}

/* After the SET: the scope, the name and how the value is introduced. */
static enum sqlscan_set_kind scan_set(const char *s, const char *end, char *name, size_t namelen,
                                      char *value, size_t valuelen)
{
	char word[32];

	s = read_param_name(sqlscan_skip_space(s, end), end, name, namelen);
	for (int i = 0; i < 2 && s != NULL && strcmp(name, "session") == 0; i++) {
		/* SET SESSION name, SET SESSION AUTHORIZATION, SET SESSION SESSION AUTHORIZATION */
		const char *after = read_param_name(sqlscan_skip_space(s, end), end, name, namelen);

		if (after != NULL && strcmp(name, "authorization") == 0)
			return scan_authorization(after, end, name, namelen, value, valuelen);
		s = after;
	}
	if (s == NULL)
		return SQLSCAN_UNTRACKED;
	if (strcmp(name, "local") == 0 || strcmp(name, "transaction") == 0 ||
	    strcmp(name, "time") == 0 || strcmp(name, "names") == 0)
		return SQLSCAN_SET_SCOPED;
	if (strcmp(name, "constraints") == 0)
		return SQLSCAN_NOT_SET; /* answered "SET CONSTRAINTS", and transaction-scoped */
	if (strcmp(name, "schema") == 0)
		return set_name(name, namelen, "search_path") &&
		               read_schema_value(s, end, value, valuelen)
		           ? SQLSCAN_SET
		           : SQLSCAN_UNTRACKED;
	s = sqlscan_skip_space(s, end);
	if (s < end && *s == '=') {
		s++;
	} else {
		const char *after = sqlscan_ident(s, end, word, sizeof(word));

		if (after != NULL && strcmp(word, "to") == 0)
			s = after;
		else if (strcmp(name, "role") != 0) /* SET ROLE name needs no TO */
			return SQLSCAN_UNTRACKED;
	}
	return scan_value(s, end, name, value, valuelen);
}

enum sqlscan_set_kind sqlscan_set(const char *sql, size_t len, char *name, size_t namelen,
                                  char *value, size_t valuelen)
{
	const char *end = sql + strnlen(sql, len); /* the server reads no further than a NUL */
	const char *s = sqlscan_skip_space(sql, end);
	char word[32];

	s = sqlscan_ident(s, end, word, sizeof(word));
	if (s == NULL)
		return SQLSCAN_NOT_SET;
	if (strcmp(word, "reset") == 0)
		return scan_reset(s, end, name, namelen);
	if (strcmp(word, "set") != 0)
		return SQLSCAN_NOT_SET;
	return scan_set(s, end, name, namelen, value, valuelen);
}

/* ---- statements and words ---- */

/* After the quoted text that starts at s, '' doubled; with backslash escapes when esc (E''). */
static const char *skip_quoted(const char *s, const char *end, char quote, bool esc)
{
	while (!esc) {
		const char *q = memchr(s + 1, quote, (size_t)(end - s - 1));

		if (q == NULL)
			return end;
		if (end - q < 2 || q[1] != quote)
			return q + 1;
		s = q + 1; /* a doubled quote: go on after it */
	}
	for (s++; s < end; s++) {
		if (esc && *s == '\\') {
			if (end - s < 2)
				return end;
			s++;
		} else if (*s == quote) {
			if (end - s >= 2 && s[1] == quote)
				s++;
			else
				return s + 1;
		}
	}
	return end;
}

/* The length of the dollar-quote opening at s ("$$" or "$tag$"), or 0 if there is none. */
static size_t dollar_tag(const char *s, const char *end)
{
	const char *t = s + 1;

	while (t < end && *t != '$' && ident_char(*t, t == s + 1))
		t++;
	return t < end && *t == '$' ? (size_t)(t - s + 1) : 0;
}

/*
 * The token after blanks and comments at s: *start is where it begins, the
 * result where it ends (equal at the end of the text). A word (keyword, name,
 * number, $1), a string, a quoted name or a dollar-quoted body is one token;
 * anything else is one character.
 */
static const char *next_token(const char *s, const char *end, const char **start)
{
	size_t tag;

	s = sqlscan_skip_space(s, end);
	*start = s;
	if (s >= end)
		return s;
	if (*s == '\'' || *s == '"')
		return skip_quoted(s, end, *s, false);
	if ((*s == 'e' || *s == 'E') && end - s >= 2 && s[1] == '\'')
		return skip_quoted(s + 1, end, '\'', true);
	if (*s == '$' && (tag = dollar_tag(s, end)) > 0) {
		const char *close = memmem(s + tag, (size_t)(end - s) - tag, s, tag);

		return close ? close + tag : end;
	}
	if (!ident_char(*s, false))
		return s + 1;
	while (s < end && ident_char(*s, false))
		s++;
	return s;
}

static bool word_is(const char *s, const char *e, const char *word)
{
	return s != NULL && (size_t)(e - s) == strlen(word) &&
	       strncasecmp(s, word, strlen(word)) == 0;
}

/* After "set_config": true unless its third argument is a literal true (SET LOCAL's twin). */
static bool set_config_not_local(const char *s, const char *end)
{
	const char *start, *third = NULL, *third_end = NULL;
	int depth = 1, arg = 0, third_tokens = 0;

	s = next_token(s, end, &start);
	if (s == start || *start != '(')
		return false; /* a name, not a call */
	for (;;) {
		s = next_token(s, end, &start);
		if (s == start)
			return true;
		if (*start == '(') {
			depth++;
		} else if (*start == ')' && --depth == 0) {
			break;
		} else if (*start == ',' && depth == 1) {
			arg++;
			continue;
		}
		if (arg == 2) {
			third = start;
			third_end = s;
			third_tokens++;
		}
	}
	return !(third_tokens == 1 &&
	         (word_is(third, third_end, "true") || word_is(third, third_end, "'t'") ||
	          word_is(third, third_end, "'true'") || word_is(third, third_end, "'on'")));
}

static bool is_session_lock_function(const char *s, const char *e)
{
	return word_is(s, e, "pg_advisory_lock") || word_is(s, e, "pg_advisory_lock_shared") ||
	       word_is(s, e, "pg_try_advisory_lock") ||
	       word_is(s, e, "pg_try_advisory_lock_shared");
}

/* What the words of one statement so far say about session-only state. */
struct fx_scan {
	const char *w1, *w1_end; /* the word before, or NULL */
	const char *w2, *w2_end; /* the word before that */
	bool temp;               /* CREATE [GLOBAL|LOCAL] TEMP, or INTO TEMP */
	bool commit_drop;        /* ON COMMIT DROP */
	unsigned fx;
};

/* One token [start, s) of a statement that goes on to end. */
static void fx_token(struct fx_scan *f, const char *start, const char *s, const char *end)
{
	bool word = ident_char(*start, true);

	if (!word || s - start < 4) {
		/* no word of interest is shorter */
	} else if (word_is(start, s, "set_config")) {
		if (set_config_not_local(s, end))
			f->fx |= SQLSCAN_FX_SET_CONFIG;
	} else if (is_session_lock_function(start, s)) {
		f->fx |= SQLSCAN_FX_ADVISORY_LOCK;
	} else if (word_is(f->w1, f->w1_end, "with") && word_is(start, s, "hold")) {
		f->fx |= SQLSCAN_FX_WITH_HOLD;
	} else if (word_is(f->w1, f->w1_end, "commit") && word_is(start, s, "drop")) {
		f->commit_drop = true;
	} else if ((word_is(start, s, "temp") || word_is(start, s, "temporary")) &&
	           (word_is(f->w1, f->w1_end, "create") || word_is(f->w1, f->w1_end, "into") ||
	            ((word_is(f->w1, f->w1_end, "global") || word_is(f->w1, f->w1_end, "local")) &&
	             word_is(f->w2, f->w2_end, "create")))) {
		f->temp = true;
	}
	f->w2 = f->w1;
	f->w2_end = f->w1_end;
	f->w1 = word ? start : NULL;
	f->w1_end = s;
}

const char *sqlscan_statement_end(const char *s, const char *end, unsigned *features)
{
	struct fx_scan f = {0};
	const char *start;

	end = s + strnlen(s, (size_t)(end - s));
	for (;;) {
		s = next_token(s, end, &start);
		if (s == start || *start == ';')
			break;
		if (features != NULL)
			fx_token(&f, start, s, end);
	}
	if (features != NULL)
		*features |= f.fx | (f.temp && !f.commit_drop ? SQLSCAN_FX_TEMP_TABLE : 0);
	return s == start ? end : s;
}

unsigned sqlscan_session_features(const char *sql, size_t len)
{
	const char *end = sql + strnlen(sql, len);
	unsigned fx = 0;

	while (sql < end)
		sql = sqlscan_statement_end(sql, end, &fx);
	return fx;
}

/* true if the LEN bytes at S are WORD (lower case) in any case. */
static bool bytes_are(const char *s, size_t len, const char *word, size_t wlen)
{
	if (len < wlen)
		return false;
	for (size_t i = 0; i < wlen; i++) {
		if ((s[i] | 0x20) != word[i])
			return false;
	}
	return true;
}

bool sqlscan_may_touch_session(const char *sql, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		const char *p = sql + i;
		size_t left = len - i;

		switch (*p | 0x20) {
		case 's':
			if (bytes_are(p, left, "set", 3))
				return true;
			break;
		case 'a':
			if (bytes_are(p, left, "advisory", 8))
				return true;
			break;
		case 't':
			if (bytes_are(p, left, "temp", 4))
				return true;
			break;
		case 'h':
			if (bytes_are(p, left, "hold", 4))
				return true;
			break;
		default:
			break;
		}
	}
	return false;
}

/* ---- pgscope:timeout comments ---- */

#define HINT_MARKER     "pgscope:"
#define HINT_MARKER_LEN (sizeof(HINT_MARKER) - 1)
#define HINT_TIMEOUT    "pgscope:timeout="

/* Whether "pgscope:" occurs in [s, end): a memchr for each ':' only. */
static bool has_hint_marker(const char *s, const char *end)
{
	const char *start = s;
	const char *colon;

	while (s < end && (colon = memchr(s, ':', (size_t)(end - s))) != NULL) {
		if ((size_t)(colon - start) >= HINT_MARKER_LEN - 1 &&
		    memcmp(colon - (HINT_MARKER_LEN - 1), HINT_MARKER, HINT_MARKER_LEN - 1) == 0)
			return true;
		s = colon + 1;
	}
	return false;
}

/* Milliseconds per unit of a hint's value ("" is seconds); 0 when the unit is unknown. */
static double hint_unit_ms(const char *u, size_t n)
{
	static const struct {
		const char *name;
		double ms;
	} units[] = {{"", 1000.0}, {"s", 1000.0}, {"ms", 1.0}, {"min", 60000.0}, {"h", 3600000.0}};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strlen(units[i].name) == n && strncasecmp(u, units[i].name, n) == 0)
			return units[i].ms;
	}
	return 0;
}

/* The value after "pgscope:timeout=" at p, in ms; -1 when it is not a time. */
static int hint_value(const char *p, const char *end)
{
	double v = 0, scale = 0, unit_ms;
	const char *unit;
	bool digits = false;

	for (; p < end && ((*p >= '0' && *p <= '9') || (*p == '.' && scale == 0)); p++) {
		if (*p == '.') {
			scale = 1;
			continue;
		}
		digits = true;
		if (scale > 0)
			scale /= 10;
		v = scale > 0 ? v + (*p - '0') * scale : v * 10 + (*p - '0');
		if (v > 1e12)
			return -1;
	}
	for (unit = p; p < end && ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'); p++)
		;
	unit_ms = hint_unit_ms(unit, (size_t)(p - unit));
	if (!digits || unit_ms == 0 || (p < end && ident_char(*p, false)))
		return -1;
	return v * unit_ms > 2147483647.0 ? -1 : (int)(v * unit_ms + 0.5);
}

/* A hint in the comment text [s, end), or -1. */
static int hint_in_comment(const char *s, const char *end)
{
	const char *at = memmem(s, (size_t)(end - s), HINT_TIMEOUT, sizeof(HINT_TIMEOUT) - 1);

	return at != NULL ? hint_value(at + sizeof(HINT_TIMEOUT) - 1, end) : -1;
}

/* Whether the character before s (in a text that starts at start) continues a word. */
static bool after_word(const char *start, const char *s)
{
	return s > start && ident_char(s[-1], false);
}

int sqlscan_timeout_hint(const char *sql, size_t len)
{
	const char *s = sql, *end = sql + len, *e;
	size_t tag;
	int ms;

	if (!has_hint_marker(s, end))
		return -1; /* nearly every text: no pass over it but memchr's */
	end = sql + strnlen(sql, len);
	while (s < end) {
		if (*s == '\'' || *s == '"') {
			s = skip_quoted(s, end, *s, false);
		} else if ((*s == 'e' || *s == 'E') && end - s >= 2 && s[1] == '\'' &&
		           !after_word(sql, s)) {
			s = skip_quoted(s + 1, end, '\'', true);
		} else if (*s == '$' && !after_word(sql, s) && (tag = dollar_tag(s, end)) > 0) {
			e = memmem(s + tag, (size_t)(end - s) - tag, s, tag);
			s = e != NULL ? e + tag : end;
		} else if (end - s >= 2 && s[0] == '-' && s[1] == '-') {
			e = memchr(s, '\n', (size_t)(end - s));
			e = e != NULL ? e : end;
			if ((ms = hint_in_comment(s, e)) >= 0)
				return ms;
			s = e;
		} else if (end - s >= 2 && s[0] == '/' && s[1] == '*') {
			e = skip_comment(s, end);
			if ((ms = hint_in_comment(s, e)) >= 0)
				return ms;
			s = e;
		} else {
			s++;
		}
	}
	return -1;
}
