/* hba.c - pg_hba.conf-style rules for auth_type = hba (see hba.h). */
#include "pooler/hba.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/log.h"

#define HBA_MAX_LINE   8192 /* longest line (and @file) accepted */
#define HBA_MAX_TOKENS 256  /* names in one field, @file contents included */
#define HBA_ADDR_LEN   16   /* bytes of an IPv6 address */

enum hba_type {
	HBA_LINE_LOCAL = 0,
	HBA_LINE_HOST,
	HBA_LINE_HOSTSSL,
	HBA_LINE_HOSTNOSSL,
	HBA_LINE_HOSTGSSENC, /* never matches: no GSSAPI encryption here */
};

/* One token of a field: quoted tokens lose their keyword meaning, as in PostgreSQL. */
struct token {
	char *text;
	bool quoted;
};

/* A database or user field. */
struct names {
	struct token *tokens;
	size_t n;
};

/* What a line's address field matches. */
enum hba_addr_kind {
	HBA_ADDR_IP = 0,   /* addr under mask */
	HBA_ADDR_ALL,      /* any address */
	HBA_ADDR_SAMEHOST, /* an address of this machine's interfaces */
	HBA_ADDR_SAMENET,  /* an address in the subnet of one of them */
};

struct hba_line {
	enum hba_type type;
	struct names dbs;
	struct names users;
	enum hba_addr_kind addr_kind;
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[HBA_ADDR_LEN];
	uint8_t mask[HBA_ADDR_LEN];
	enum hba_method method;
};

struct hba {
	struct hba_line *lines;
	size_t n;
};

/* Parsing state of one file. */
struct parser {
	const char *path;
	int lineno;
	char *err;
	size_t errlen;
};

static bool parse_fail(struct parser *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool parse_fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->path, ps->lineno);

	if (n < 0 || (size_t)n >= ps->errlen)
		return false;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

static void names_free(struct names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->tokens[i].text);
	free(nm->tokens);
	nm->tokens = NULL;
	nm->n = 0;
}

static bool names_add(struct parser *ps, struct names *nm, const char *text, size_t len,
                      bool quoted)
{
	struct token *t;

	if (nm->n >= HBA_MAX_TOKENS)
		return parse_fail(ps, "more than %d names in one field", HBA_MAX_TOKENS);
	t = realloc(nm->tokens, (nm->n + 1) * sizeof(*t));
	if (t == NULL)
		return parse_fail(ps, "out of memory");
	nm->tokens = t;
	t[nm->n].text = strndup(text, len);
	if (t[nm->n].text == NULL)
		return parse_fail(ps, "out of memory");
	t[nm->n].quoted = quoted;
	nm->n++;
	return true;
}

/*
 * Read one field at *pp into nm: tokens separated by commas, each bare or
 * double-quoted ("" inside quotes is one quote). Stops at whitespace outside
 * quotes, a comment or the end. false at the end of the line (no field) with
 * nothing set, or on an error (err set).
 */
static bool next_field(struct parser *ps, const char **pp, struct names *nm, bool *found)
{
	const char *p = *pp;
	char buf[HBA_MAX_LINE];

	*found = false;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (*p == '\0' || *p == '#') {
		*pp = p;
		return true;
	}
	for (;;) {
		size_t n = 0;
		bool quoted = false;

		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t' && *p != '\r' &&
		       *p != '\n' && *p != '#') {
			if (*p == '"') {
				quoted = true;
				for (p++; *p != '\0' && !(*p == '"' && p[1] != '"'); p++) {
					if (*p == '"')
						p++; /* "" */
					buf[n++] = *p;
				}
				if (*p != '"')
					return parse_fail(ps, "unterminated quoted string");
				p++;
				continue;
			}
			buf[n++] = *p++;
		}
		if (n == 0 && !quoted)
			return parse_fail(ps, "empty name in a list");
		if (!names_add(ps, nm, buf, n, quoted))
			return false;
		if (*p != ',')
			break;
		p++;
	}
	*pp = p;
	*found = true;
	return true;
}

static bool is_keyword(const struct token *t, const char *kw)
{
	return !t->quoted && strcmp(t->text, kw) == 0;
}

/* @file: names from a file beside the hba file (whitespace or comma separated). */
static bool include_names(struct parser *ps, const char *name, struct names *out)
{
	char path[4096], line[HBA_MAX_LINE];
	const char *slash = strrchr(ps->path, '/');
	FILE *f;
	bool ok = true;

	if (name[0] == '/' || slash == NULL)
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - ps->path), ps->path, name);
	f = fopen(path, "r");
	if (f == NULL)
		return parse_fail(ps, "could not open \"%s\": %s", path, strerror(errno));
	while (ok && fgets(line, sizeof(line), f) != NULL) {
		const char *p = line;
		bool found = true;

		for (char *q = line; *q; q++)
			if (*q == ',')
				*q = ' ';
		while (ok && found)
			ok = next_field(ps, &p, out, &found);
	}
	fclose(f);
	for (size_t i = 0; ok && i < out->n; i++)
		if (!out->tokens[i].quoted && out->tokens[i].text[0] == '@')
			ok = parse_fail(ps, "@file inside \"%s\" is not supported", path);
	return ok;
}

/* A database or user field, with @file expanded and unsupported keywords refused. */
static bool read_names(struct parser *ps, const char **pp, struct names *out, bool users)
{
	struct names raw = {0};
	bool found;
	bool ok = next_field(ps, pp, &raw, &found);

	if (ok && !found)
		ok = parse_fail(ps, "end of line before the %s field", users ? "user" : "database");
	for (size_t i = 0; ok && i < raw.n; i++) {
		const struct token *t = &raw.tokens[i];

		if (!t->quoted && t->text[0] == '@')
			ok = include_names(ps, t->text + 1, out);
		else if (users && !t->quoted && t->text[0] == '+')
			ok = parse_fail(ps, "group membership (+%s) is not supported", t->text + 1);
		else if (!users && (is_keyword(t, "samerole") || is_keyword(t, "samegroup")))
			ok = parse_fail(ps, "%s is not supported", t->text);
		else
			ok = names_add(ps, out, t->text, strlen(t->text), t->quoted);
	}
	names_free(&raw);
	return ok;
}

static bool parse_type(struct parser *ps, const char *s, enum hba_type *type)
{
	static const struct {
		const char *name;
		enum hba_type type;
	} types[] = {{"local", HBA_LINE_LOCAL},           {"host", HBA_LINE_HOST},
	             {"hostssl", HBA_LINE_HOSTSSL},       {"hostnossl", HBA_LINE_HOSTNOSSL},
	             {"hostgssenc", HBA_LINE_HOSTGSSENC}, {"hostnogssenc", HBA_LINE_HOST}};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(s, types[i].name) == 0) {
			*type = types[i].type;
			return true;
		}
	}
	return parse_fail(ps, "invalid connection type \"%s\"", s);
}

static bool parse_method(struct parser *ps, const char *s, enum hba_method *method)
{
	static const struct {
		const char *name;
		enum hba_method method;
	} methods[] = {{"trust", HBA_TRUST},       {"reject", HBA_REJECT},
	               {"md5", HBA_MD5},           {"scram-sha-256", HBA_SCRAM},
	               {"password", HBA_PASSWORD}, {"cert", HBA_CERT}};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(s, methods[i].name) == 0) {
			*method = methods[i].method;
			return true;
		}
	}
	return parse_fail(ps, "authentication method \"%s\" is not supported", s);
}

/* A mask of BITS leading ones for FAMILY. */
static bool mask_of_bits(struct hba_line *l, long bits)
{
	int max = l->family == AF_INET ? 32 : 128;

	if (bits < 0 || bits > max)
		return false;
	memset(l->mask, 0, sizeof(l->mask));
	for (long i = 0; i < bits; i++)
		l->mask[i / 8] |= (uint8_t)(0x80u >> (i % 8));
	return true;
}

static bool parse_ip(const char *s, int *family, uint8_t out[HBA_ADDR_LEN])
{
	memset(out, 0, HBA_ADDR_LEN);
	if (inet_pton(AF_INET, s, out) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

/* The address field, and the mask field after it when the address has no /bits. */
static bool parse_address(struct parser *ps, const char **pp, struct hba_line *l)
{
	struct names f = {0};
	bool found, ok = next_field(ps, pp, &f, &found);
	char *slash;

	if (!ok)
		goto out;
	if (!found || f.n != 1 || f.tokens == NULL) {
		ok = parse_fail(ps,
		                found ? "one address expected" : "end of line before the address");
		goto out;
	}
	if (is_keyword(&f.tokens[0], "all")) {
		l->addr_kind = HBA_ADDR_ALL;
		goto out;
	}
	if (is_keyword(&f.tokens[0], "samehost") || is_keyword(&f.tokens[0], "samenet")) {
		l->addr_kind =
		    is_keyword(&f.tokens[0], "samehost") ? HBA_ADDR_SAMEHOST : HBA_ADDR_SAMENET;
		goto out;
	}
	slash = strchr(f.tokens[0].text, '/');
	if (slash != NULL)
		*slash = '\0';
	if (!parse_ip(f.tokens[0].text, &l->family, l->addr)) {
		ok = parse_fail(ps, "\"%s\" is not an IP address (host names are not supported)",
		                f.tokens[0].text);
		goto out;
	}
	if (slash != NULL) {
		char *end;
		long bits = strtol(slash + 1, &end, 10);

		if (*end != '\0' || end == slash + 1 || !mask_of_bits(l, bits))
			ok = parse_fail(ps, "invalid CIDR mask /%s", slash + 1);
		goto out;
	}
	names_free(&f);
	ok = next_field(ps, pp, &f, &found);
	if (ok && (!found || f.n != 1))
		ok = parse_fail(ps, "an IP mask is needed after an address without /bits");
	if (ok) {
		int family;

		if (!parse_ip(f.tokens[0].text, &family, l->mask) || family != l->family)
			ok = parse_fail(ps, "invalid IP mask \"%s\"", f.tokens[0].text);
	}
out:
	names_free(&f);
	return ok;
}

/* One non-empty line into l. */
static bool parse_line(struct parser *ps, const char *p, struct hba_line *l)
{
	struct names f = {0};
	bool found, ok = next_field(ps, &p, &f, &found);

	if (!ok || !found)
		goto out;
	ok = f.n == 1 ? parse_type(ps, f.tokens[0].text, &l->type)
	              : parse_fail(ps, "one connection type expected");
	ok = ok && read_names(ps, &p, &l->dbs, false) && read_names(ps, &p, &l->users, true);
	if (ok && l->type != HBA_LINE_LOCAL)
		ok = parse_address(ps, &p, l);
	names_free(&f);
	ok = ok && next_field(ps, &p, &f, &found);
	if (ok && (!found || f.n != 1))
		ok = parse_fail(ps, "end of line before the authentication method");
	ok = ok && parse_method(ps, f.tokens[0].text, &l->method);
	/* Options (name=value) are accepted and not used. */
	while (ok) {
		names_free(&f);
		ok = next_field(ps, &p, &f, &found);
		if (!ok || !found)
			break;
		if (f.n != 1 || strchr(f.tokens[0].text, '=') == NULL)
			ok =
			    parse_fail(ps, "authentication option not in name=value format: \"%s\"",
			               f.tokens[0].text);
	}
out:
	names_free(&f);
	return ok;
}

static void line_free(struct hba_line *l)
{
	names_free(&l->dbs);
	names_free(&l->users);
}

void hba_free(struct hba *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++)
		line_free(&h->lines[i]);
	free(h->lines);
	free(h);
}

static bool blank_or_comment(const char *p)
{
	p += strspn(p, " \t\r\n");
	return *p == '\0' || *p == '#';
}

struct hba *hba_load(const char *path, char *err, size_t errlen)
{
	struct parser ps = {.path = path, .err = err, .errlen = errlen};
	struct hba *h = calloc(1, sizeof(*h));
	char line[HBA_MAX_LINE];
	FILE *f = fopen(path, "r");
	bool ok = h != NULL && f != NULL;

	if (f == NULL)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if (h == NULL)
		snprintf(err, errlen, "%s: out of memory", path);
	while (ok && fgets(line, sizeof(line), f) != NULL) {
		struct hba_line l = {0}, *grown;

		ps.lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			ok = parse_fail(&ps, "line longer than %d bytes", HBA_MAX_LINE - 1);
			break;
		}
		if (blank_or_comment(line))
			continue;
		ok = parse_line(&ps, line, &l);
		grown = ok ? realloc(h->lines, (h->n + 1) * sizeof(*grown)) : NULL;
		if (grown == NULL) {
			ok = ok ? parse_fail(&ps, "out of memory") : false;
			line_free(&l);
			break;
		}
		h->lines = grown;
		h->lines[h->n++] = l;
	}
	if (f != NULL)
		fclose(f);
	if (!ok) {
		hba_free(h);
		return NULL;
	}
	return h;
}

/* ---- matching ---- */

static bool type_matches(enum hba_type type, enum hba_conn conn)
{
	switch (type) {
	case HBA_LINE_LOCAL:
		return conn == HBA_CONN_LOCAL;
	case HBA_LINE_HOST:
		return conn != HBA_CONN_LOCAL;
	case HBA_LINE_HOSTSSL:
		return conn == HBA_CONN_HOSTSSL;
	case HBA_LINE_HOSTNOSSL:
		return conn == HBA_CONN_HOST;
	case HBA_LINE_HOSTGSSENC:
		return false;
	}
	return false;
}

static bool db_matches(const struct names *nm, const char *database, const char *user)
{
	for (size_t i = 0; i < nm->n; i++) {
		const struct token *t = &nm->tokens[i];

		if (is_keyword(t, "all"))
			return true;
		if (is_keyword(t, "sameuser")) {
			if (strcmp(database, user) == 0)
				return true;
			continue;
		}
		if (is_keyword(t, "replication"))
			continue; /* only replication connections, which are refused anyway */
		if (strcmp(t->text, database) == 0)
			return true;
	}
	return false;
}

static bool user_matches(const struct names *nm, const char *user)
{
	for (size_t i = 0; i < nm->n; i++) {
		if (is_keyword(&nm->tokens[i], "all") || strcmp(nm->tokens[i].text, user) == 0)
			return true;
	}
	return false;
}

/* Whether IP and NET agree on the bits of MASK. */
static bool same_under_mask(const uint8_t *ip, const uint8_t *net, const uint8_t *mask, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((ip[i] & mask[i]) != (net[i] & mask[i]))
			return false;
	}
	return true;
}

/* The address bytes of SA (IPv4 or IPv6) and their length; NULL for other families. */
static const uint8_t *sockaddr_bytes(const struct sockaddr *sa, size_t *len)
{
	if (sa == NULL)
		return NULL;
	if (sa->sa_family == AF_INET) {
		*len = 4;
		return (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	}
	if (sa->sa_family == AF_INET6) {
		*len = 16;
		return (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	}
	return NULL;
}

/*
 * Whether IP (of FAMILY) is an address of this machine's interfaces
 * (SAMENET false) or in the subnet of one (SAMENET true). The interfaces are
 * read at each match, as PostgreSQL does: they may change while it runs.
 */
static bool interface_matches(int family, const uint8_t *ip, bool samenet)
{
	struct ifaddrs *ifs, *it;
	bool found = false;

	if (getifaddrs(&ifs) != 0)
		return false;
	for (it = ifs; it != NULL && !found; it = it->ifa_next) {
		size_t len = 0, mlen = 0;
		const uint8_t *a = sockaddr_bytes(it->ifa_addr, &len);
		const uint8_t *m = sockaddr_bytes(it->ifa_netmask, &mlen);
		static const uint8_t all_ones[HBA_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		                                               0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		                                               0xff, 0xff, 0xff, 0xff};

		if (a == NULL || it->ifa_addr->sa_family != family)
			continue;
		if (!samenet)
			m = all_ones;
		else if (m == NULL || mlen != len)
			continue;
		found = same_under_mask(ip, a, m, len);
	}
	freeifaddrs(ifs);
	return found;
}

static bool addr_matches(const struct hba_line *l, const char *addr)
{
	uint8_t ip[HBA_ADDR_LEN];
	int family;

	if (l->addr_kind == HBA_ADDR_ALL)
		return true;
	if (addr == NULL || !parse_ip(addr, &family, ip))
		return false;
	if (l->addr_kind == HBA_ADDR_SAMEHOST || l->addr_kind == HBA_ADDR_SAMENET)
		return interface_matches(family, ip, l->addr_kind == HBA_ADDR_SAMENET);
	return family == l->family && same_under_mask(ip, l->addr, l->mask, HBA_ADDR_LEN);
}

bool hba_match(const struct hba *h, enum hba_conn conn, const char *database, const char *user,
               const char *addr, enum hba_method *method)
{
	for (size_t i = 0; h != NULL && i < h->n; i++) {
		const struct hba_line *l = &h->lines[i];

		if (!type_matches(l->type, conn) || !db_matches(&l->dbs, database, user) ||
		    !user_matches(&l->users, user))
			continue;
		if (conn != HBA_CONN_LOCAL && !addr_matches(l, addr))
			continue;
		*method = l->method;
		return true;
	}
	return false;
}

enum auth_type hba_auth_type(enum hba_method method)
{
	switch (method) {
	case HBA_MD5:
		return AUTH_MD5;
	case HBA_SCRAM:
		return AUTH_SCRAM;
	case HBA_PASSWORD:
		return AUTH_PLAIN;
	case HBA_CERT:
		return AUTH_CERT;
	case HBA_TRUST:
	case HBA_REJECT:
		break;
	}
	return AUTH_TRUST;
}

/* ---- the rules in use ---- */

static struct hba *current;

const struct hba *hba_current(void)
{
	return current;
}

bool hba_reload(const struct config *cfg)
{
	struct hba *h = NULL;
	char err[512];

	if (cfg->auth_hba_file != NULL) {
		h = hba_load(cfg->auth_hba_file, err, sizeof(err));
		if (h == NULL) {
			log_event(LOG_ERROR, "hba.invalid", LOG_STR, "error", err, LOG_STR,
			          "action", current ? "the previous rules stay in use" : "none",
			          LOG_END);
			return false;
		}
	}
	hba_free(current);
	current = h;
	return true;
}
