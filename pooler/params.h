/*
 * params.h - a small set of session parameters (name -> value).
 *
 * Used for what a client asked for at startup, what a server reported through
 * ParameterStatus, and what the pooler has SET on a server, so that a client
 * landing on a pooled server sees its own settings. Names compare
 * case-insensitively, as PostgreSQL's GUC names do. Bounded in count and size.
 */
#ifndef PGSCOPE_POOLER_PARAMS_H
#define PGSCOPE_POOLER_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARAMS_MAX       48   /* parameters per set */
#define PARAMS_NAME_MAX  64   /* bytes, including NUL */
#define PARAMS_VALUE_MAX 1024 /* bytes, including NUL */

struct param {
	char *name;    /* owned: one allocation holding "name\0value\0" */
	char *value;   /* points into name's allocation */
	uint32_t hash; /* params_hash_name(name): lookups compare it before the name */
};

/* Grown on demand: most sets hold a handful, and every idle client has two. */
struct params {
	struct param *items; /* cap entries, owned; NULL while empty */
	int n;
	int cap; /* at most PARAMS_MAX */
};

void params_init(struct params *p);
/*
 * A hash of a parameter name that ignores case, as the names compare. Every
 * server link compares the client's parameters with the server's, so
 * lookups compare hashes first and names only when the hashes match.
 */
uint32_t params_hash_name(const char *name);
/* Free every name and value and the array; the set is empty afterwards. */
void params_clear(struct params *p);
/* Copy src into dst (dst is cleared first). false on allocation failure. */
bool params_copy(struct params *dst, const struct params *src);
/* The value for name, or NULL. */
const char *params_get(const struct params *p, const char *name);
/*
 * Set name to value, replacing an existing value. false if the set is full,
 * a string is too long, or memory ran out.
 */
bool params_set(struct params *p, const char *name, const char *value);
/* Remove name if present. */
void params_unset(struct params *p, const char *name);

/*
 * What RESET ALL leaves: base, except role and session_authorization, which
 * RESET ALL does not touch and which keep their values in p. false on
 * allocation failure.
 */
bool params_reset_all(struct params *p, const struct params *base);

/*
 * Parameters that PostgreSQL reports with ParameterStatus and that a client
 * may set; these are the ones the pooler keeps in step between a client and
 * whichever server it is using.
 */
bool params_is_tracked(const char *name);

/*
 * Parse a startup "options" value ("-c name=value --name=value ...", with
 * backslash-escaped spaces) into out. false (with a message in err) for
 * anything but -c/-- settings.
 */
bool params_parse_options(const char *options, struct params *out, char *err, size_t errlen);

#endif
