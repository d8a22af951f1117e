/* params.c - bounded sets of session parameters (see params.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pooler/params.h"

void params_init(struct params *p)
{
	memset(p, 0, sizeof(*p));
}

void params_clear(struct params *p)
{
	for (int i = 0; i < p->n; i++)
		free(p->items[i].name);
	free(p->items);
	params_init(p);
}

bool params_copy(struct params *dst, const struct params *src)
{
	params_clear(dst);
	for (int i = 0; i < src->n; i++) {
		if (!params_set(dst, src->items[i].name, src->items[i].value))
			return false;
	}
	return true;
}

uint32_t params_hash_name(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a over the lower-cased bytes */

	for (const unsigned char *s = (const unsigned char *)name; *s != 0; s++) {
		unsigned char ch = *s >= 'A' && *s <= 'Z' ? (unsigned char)(*s | 0x20) : *s;

		h = (h ^ ch) * 16777619u;
	}
	return h;
}

static int params_find(const struct params *p, const char *name)
{
	uint32_t h;

	if (p->items == NULL)
		return -1; /* empty: nothing allocated yet */
	h = params_hash_name(name);
	for (int i = 0; i < p->n; i++) {
		if (p->items[i].hash == h && strcasecmp(p->items[i].name, name) == 0)
			return i;
	}
	return -1;
}

const char *params_get(const struct params *p, const char *name)
{
	int i = params_find(p, name);

	return i < 0 ? NULL : p->items[i].value;
}

/* Room for one more item; false when the set is full or memory ran out. */
static bool params_grow(struct params *p)
{
	struct param *items;
	int cap;

	if (p->n < p->cap && p->items != NULL)
		return true;
	if (p->n >= PARAMS_MAX)
		return false;
	cap = p->cap > 0 ? p->cap * 2 : 4;
	if (cap > PARAMS_MAX)
		cap = PARAMS_MAX;
	items = realloc(p->items, (size_t)cap * sizeof(*items));
	if (items == NULL)
		return false;
	p->items = items;
	p->cap = cap;
	return true;
}

/* One allocation holding NAME and VALUE, each NUL-terminated; NULL when out of memory. */
static char *pair_new(const char *name, size_t nlen, const char *value, size_t vlen)
{
	char *s = malloc(nlen + vlen + 2);

	if (s == NULL)
		return NULL;
	memcpy(s, name, nlen + 1);
	memcpy(s + nlen + 1, value, vlen + 1);
	return s;
}

bool params_set(struct params *p, const char *name, const char *value)
{
	int i = params_find(p, name);
	size_t nlen = strlen(name), vlen = strlen(value);
	struct param *item;
	char *s;

	if (nlen >= PARAMS_NAME_MAX || vlen >= PARAMS_VALUE_MAX)
		return false;
	if (i >= 0 && p->items != NULL) {
		item = &p->items[i];
		/* The existing spelling is kept; made before the old pair is freed, since
		 * name or value may point into it. */
		s = pair_new(item->name, nlen, value, vlen);
		if (s == NULL)
			return false;
		free(item->name);
	} else {
		if (!params_grow(p))
			return false;
		s = pair_new(name, nlen, value, vlen);
		if (s == NULL)
			return false;
		item = &p->items[p->n++];
	}
	item->name = s;
	item->hash = params_hash_name(s);
	item->value = s + nlen + 1;
	return true;
}

void params_unset(struct params *p, const char *name)
{
	int i = params_find(p, name);

	if (i < 0)
		return;
	free(p->items[i].name);
	p->items[i] = p->items[p->n - 1];
	p->n--;
}

bool params_reset_all(struct params *p, const struct params *base)
{
	static const char *const kept[] = {"role", "session_authorization"};
	struct params keep;
	bool ok = true;

	params_init(&keep);
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		const char *v = params_get(p, kept[i]);

		if (v != NULL)
			ok = ok && params_set(&keep, kept[i], v);
	}
	ok = ok && params_copy(p, base);
	for (int i = 0; ok && i < keep.n; i++)
		ok = params_set(p, keep.items[i].name, keep.items[i].value);
	params_clear(&keep);
	return ok;
}

bool params_is_tracked(const char *name)
{
	static uint32_t hashes[32];
	static bool hashed;
	uint32_t h = params_hash_name(name);
	static const char *const tracked[] = {
	    "application_name",
	    "client_encoding",
	    "DateStyle",
	    "TimeZone",
	    "IntervalStyle",
	    "standard_conforming_strings",
	    "extra_float_digits",
	    "search_path",
	    "default_transaction_isolation",
	    "default_transaction_read_only",
	    "statement_timeout",
	    "lock_timeout",
	    "idle_in_transaction_session_timeout",
	    "bytea_output",
	    "role",
	    "session_authorization",
	    NULL,
	};

	if (!hashed) {
		for (int i = 0; tracked[i]; i++)
			hashes[i] = params_hash_name(tracked[i]);
		hashed = true;
	}
	for (int i = 0; tracked[i]; i++) {
		if (hashes[i] == h && strcasecmp(tracked[i], name) == 0)
			return true;
	}
	return false;
}

/* Next whitespace-separated word of s into out, honouring backslash escapes. */
static const char *next_word(const char *s, char *out, size_t outlen, bool *overflow)
{
	size_t o = 0;

	*overflow = false;
	while (*s == ' ' || *s == '\t')
		s++;
	while (*s && *s != ' ' && *s != '\t') {
		if (*s == '\\' && s[1])
			s++;
		if (o + 1 >= outlen) {
			*overflow = true;
			return s;
		}
		out[o++] = *s++;
	}
	out[o] = 0;
	return s;
}

static bool add_setting(const char *word, struct params *out, char *err, size_t errlen)
{
	const char *eq = strchr(word, '=');
	char name[PARAMS_NAME_MAX];
	size_t nlen;

	if (eq == NULL || eq == word) {
		snprintf(err, errlen, "invalid setting in startup options: \"%s\"", word);
		return false;
	}
	nlen = (size_t)(eq - word);
	if (nlen >= sizeof(name)) {
		snprintf(err, errlen, "setting name too long in startup options");
		return false;
	}
	memcpy(name, word, nlen);
	name[nlen] = 0;
	for (char *c = name; *c; c++) {
		if (*c == '-')
			*c = '_';
	}
	if (!params_set(out, name, eq + 1)) {
		snprintf(err, errlen, "too many or too long settings in startup options");
		return false;
	}
	return true;
}

bool params_parse_options(const char *options, struct params *out, char *err, size_t errlen)
{
	char word[PARAMS_NAME_MAX + PARAMS_VALUE_MAX + 4];
	const char *s = options;
	bool overflow;

	for (;;) {
		s = next_word(s, word, sizeof(word), &overflow);
		if (overflow) {
			snprintf(err, errlen, "startup options too long");
			return false;
		}
		if (word[0] == 0)
			return true;
		if (strcmp(word, "-c") == 0) {
			char setting[sizeof(word)];

			s = next_word(s, setting, sizeof(setting), &overflow);
			if (overflow || setting[0] == 0) {
				snprintf(err, errlen,
				         "missing setting after -c in startup options");
				return false;
			}
			if (!add_setting(setting, out, err, errlen))
				return false;
		} else if (strncmp(word, "--", 2) == 0) {
			if (!add_setting(word + 2, out, err, errlen))
				return false;
		} else if (strncmp(word, "-c", 2) == 0) {
			if (!add_setting(word + 2, out, err, errlen))
				return false;
		} else {
			snprintf(
			    err, errlen,
			    "unsupported startup option \"%s\": only -c name=value is supported",
			    word);
			return false;
		}
	}
}
