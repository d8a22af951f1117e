/* userlist.c - parse the auth_file ("user" "password" lines) and look users up (see userlist.h). */
#include "pooler/userlist.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* Largest auth_file read into memory; far above any real user list. */
#define USERLIST_MAX_FILE (256u * 1024 * 1024)

struct userlist_entry {
	char *user;   /* owned */
	char *secret; /* owned; wiped on free */
	size_t line;  /* source line, to keep the last of duplicates */
};

struct userlist {
	struct userlist_entry *entries; /* sorted by user, no duplicates */
	size_t count;
	size_t cap;
};

static void set_err(char *err, size_t errlen, const char *name, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void set_err(char *err, size_t errlen, const char *name, size_t line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || errlen == 0)
		return;
	n = line ? snprintf(err, errlen, "%s:%zu: ", name, line)
	         : snprintf(err, errlen, "%s: ", name);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void entry_wipe(struct userlist_entry *e)
{
	if (e->secret) {
		OPENSSL_cleanse(e->secret, strlen(e->secret));
		free(e->secret);
	}
	free(e->user);
	e->user = e->secret = NULL;
}

void userlist_free(struct userlist *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++)
		entry_wipe(&list->entries[i]);
	free(list->entries);
	free(list);
}

/*
 * Read one double-quoted field starting at *pp (which must point at '"'),
 * turning "" into ". Returns a malloc'd string, or NULL with *why set.
 */
static char *read_field(const char **pp, const char *end, const char **why)
{
	const char *p = *pp + 1;
	char *out = malloc(USERLIST_MAX_FIELD + 1);
	size_t n = 0;

	if (!out) {
		*why = "out of memory";
		return NULL;
	}
	for (;;) {
		if (p == end) {
			*why = "unterminated quoted field";
			goto out_free;
		}
		if (*p == '"') {
			if (p + 1 < end && p[1] == '"') {
				p++; /* an escaped quote: keep one */
			} else {
				p++;
				break;
			}
		}
		if (n == USERLIST_MAX_FIELD) {
			*why = "field too long";
			goto out_free;
		}
		out[n++] = *p++;
	}
	out[n] = '\0';
	*pp = p;
	return out;
out_free:
	OPENSSL_cleanse(out, n);
	free(out);
	return NULL;
}

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static bool append_entry(struct userlist *list, char *user, char *secret, size_t line)
{
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		struct userlist_entry *e = realloc(list->entries, cap * sizeof(*e));

		if (!e)
			return false;
		list->entries = e;
		list->cap = cap;
	}
	list->entries[list->count++] = (struct userlist_entry){user, secret, line};
	return true;
}

/*
 * Parse one line (without its newline). Blank and comment lines add nothing.
 * On error returns false with *why set; the message never includes the
 * line's text, which may hold a password.
 */
static bool parse_line(struct userlist *list, const char *p, const char *end, size_t line,
                       const char **why)
{
	char *user = NULL, *secret = NULL;

	if (end > p && end[-1] == '\r')
		end--;
	if (memchr(p, '\0', (size_t)(end - p))) {
		*why = "NUL byte in line";
		return false;
	}
	p = skip_blanks(p, end);
	if (p == end || *p == ';' || *p == '#')
		return true;
	if (*p != '"') {
		*why = "expected a double-quoted user name";
		return false;
	}
	user = read_field(&p, end, why);
	if (!user)
		return false;
	if (user[0] == '\0') {
		*why = "empty user name";
		goto out_free;
	}
	p = skip_blanks(p, end);
	if (p == end || *p != '"') {
		*why = "expected a double-quoted password after the user name";
		goto out_free;
	}
	secret = read_field(&p, end, why);
	if (!secret)
		goto out_free;
	/* anything after the second field is ignored, as PgBouncer does */
	if (!append_entry(list, user, secret, line)) {
		*why = "out of memory";
		goto out_free;
	}
	return true;
out_free:
	if (secret) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
	free(user);
	return false;
}

/* Sort by user, then by line, so the last line of a duplicated user comes last. */
static int entry_cmp(const void *a, const void *b)
{
	const struct userlist_entry *x = a, *y = b;
	int c = strcmp(x->user, y->user);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Sort, and keep only the last entry of each user. */
static void sort_unique(struct userlist *list)
{
	size_t out = 0;

	if (list->count == 0)
		return;
	qsort(list->entries, list->count, sizeof(list->entries[0]), entry_cmp);
	for (size_t i = 0; i < list->count; i++) {
		bool dup_follows = i + 1 < list->count &&
		                   strcmp(list->entries[i].user, list->entries[i + 1].user) == 0;

		if (dup_follows)
			entry_wipe(&list->entries[i]);
		else
			list->entries[out++] = list->entries[i];
	}
	list->count = out;
}

struct userlist *userlist_parse(const char *text, size_t len, const char *name, char *err,
                                size_t errlen)
{
	struct userlist *list = calloc(1, sizeof(*list));
	const char *p = text, *end = text + len;
	size_t line = 0;

	if (!list) {
		set_err(err, errlen, name, 0, "out of memory");
		return NULL;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *why = NULL;

		line++;
		if ((size_t)(eol - p) > USERLIST_MAX_LINE) {
			set_err(err, errlen, name, line, "line longer than %d bytes",
			        USERLIST_MAX_LINE);
			goto out_free;
		}
		if (!parse_line(list, p, eol, line, &why)) {
			set_err(err, errlen, name, line, "%s", why);
			goto out_free;
		}
		if (list->count > USERLIST_MAX_ENTRIES) {
			set_err(err, errlen, name, line, "more than %d users",
			        USERLIST_MAX_ENTRIES);
			goto out_free;
		}
		p = nl ? nl + 1 : end;
	}
	sort_unique(list);
	return list;
out_free:
	userlist_free(list);
	return NULL;
}

/* Read a whole file into a malloc'd buffer, bounded by USERLIST_MAX_FILE. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f) {
		set_err(err, errlen, path, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *nbuf;

			if (cap >= USERLIST_MAX_FILE) {
				set_err(err, errlen, path, 0, "file larger than %u bytes",
				        USERLIST_MAX_FILE);
				goto out_free;
			}
			nbuf = realloc(buf, ncap);
			if (!nbuf) {
				set_err(err, errlen, path, 0, "out of memory");
				goto out_free;
			}
			buf = nbuf;
			cap = ncap;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		set_err(err, errlen, path, 0, "read error");
		goto out_free;
	}
	fclose(f);
	*len = n;
	return buf;
out_free:
	if (buf) {
		OPENSSL_cleanse(buf, n);
		free(buf);
	}
	fclose(f);
	return NULL;
}

struct userlist *userlist_load(const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = read_file(path, &len, err, errlen);
	struct userlist *list;

	if (!text)
		return NULL;
	list = userlist_parse(text, len, path, err, errlen);
	OPENSSL_cleanse(text, len);
	free(text);
	return list;
}

const char *userlist_lookup(const struct userlist *list, const char *user)
{
	size_t lo = 0, hi = list->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(user, list->entries[mid].user);

		if (c == 0)
			return list->entries[mid].secret;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t userlist_count(const struct userlist *list)
{
	return list->count;
}
