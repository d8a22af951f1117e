/* sqlscan.c - a tiny scanner for a few session commands (see sqlscan.h). */
#include <string.h>

#include "pooler/sqlscan.h"

const char *sqlscan_skip_space(const char *s, const char *end)
{
	while (s < end) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
			s++;
		} else if (end - s >= 2 && s[0] == '-' && s[1] == '-') {
			while (s < end && *s != '\n')
				s++;
		} else if (end - s >= 2 && s[0] == '/' && s[1] == '*') {
			const char *close = memmem(s + 2, (size_t)(end - s - 2), "*/", 2);

			s = close ? close + 2 : end;
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

enum sqlscan_set_kind sqlscan_set(const char *sql, size_t len, char *name, size_t namelen,
                                  char *value, size_t valuelen)
{
	const char *end = sql + strnlen(sql, len); /* the server reads no further than a NUL */
	const char *s = sqlscan_skip_space(sql, end);
	char word[32];

	s = sqlscan_ident(s, end, word, sizeof(word));
	if (s == NULL)
		return SQLSCAN_NOT_SET;
	if (strcmp(word, "reset") == 0) {
		s = sqlscan_ident(sqlscan_skip_space(s, end), end, name, namelen);
		if (s == NULL || !sqlscan_at_end(s, end))
			return SQLSCAN_NOT_SET;
		return strcmp(name, "all") == 0 ? SQLSCAN_RESET_ALL : SQLSCAN_RESET;
	}
	if (strcmp(word, "set") != 0)
		return SQLSCAN_NOT_SET;
	s = sqlscan_ident(sqlscan_skip_space(s, end), end, name, namelen);
	if (s != NULL && strcmp(name, "session") == 0)
		s = sqlscan_ident(sqlscan_skip_space(s, end), end, name, namelen);
	if (s == NULL || strcmp(name, "local") == 0 || strcmp(name, "time") == 0 ||
	    strcmp(name, "transaction") == 0 || strcmp(name, "constraints") == 0 ||
	    strcmp(name, "role") == 0 || strcmp(name, "session") == 0)
		return SQLSCAN_NOT_SET;
	s = sqlscan_skip_space(s, end);
	if (s < end && *s == '=') {
		s++;
	} else {
		s = sqlscan_ident(s, end, word, sizeof(word));
		if (s == NULL || strcmp(word, "to") != 0)
			return SQLSCAN_NOT_SET;
	}
	{
		const char *v = sqlscan_skip_space(s, end);
		const char *after = sqlscan_ident(v, end, word, sizeof(word));

		if (after != NULL && strcmp(word, "default") == 0 && sqlscan_at_end(after, end))
			return SQLSCAN_RESET;
	}
	if (!read_value(s, end, value, valuelen))
		return SQLSCAN_NOT_SET;
	return SQLSCAN_SET;
}
