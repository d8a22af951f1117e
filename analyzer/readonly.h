/*
 * readonly.h - whether a parsed statement text can run on a streaming
 * replica: the read/write classification behind read routing.
 *
 * Pure function of a parse tree: no catalog, no pooler. Functions the text
 * calls are listed by name, because whether they write (VOLATILE) is for the
 * caller to look up in the catalog it has.
 */
#ifndef PGSCOPE_ANALYZER_READONLY_H
#define PGSCOPE_ANALYZER_READONLY_H

#include "analyzer/parse.h"

enum readonly_class {
	READONLY_WRITE = 0, /* may write, or not known to be safe: the primary */
	READONLY_READ, /* SELECTs only, none that locks rows, creates a table or writes in a CTE */
	READONLY_BEGIN_RO, /* starts a transaction block that is read only */
	READONLY_BEGIN,    /* starts a transaction block that may write */
};

#define READONLY_MAX_FUNCS     16
#define READONLY_FUNC_NAME_MAX 64

struct readonly_result {
	enum readonly_class cls;
	int n_funcs; /* READONLY_READ: functions called (duplicates dropped), by name, with
	                "schema." before it when qualified by a schema other than pg_catalog */
	char funcs[READONLY_MAX_FUNCS][READONLY_FUNC_NAME_MAX];
};

/*
 * Classify a whole text (every statement of it, as one implicit
 * transaction). A READ result is safe on a replica only if none of the
 * functions it lists is volatile. More than READONLY_MAX_FUNCS distinct
 * functions make it WRITE.
 */
void readonly_classify(const struct parse_tree *tree, struct readonly_result *out);

/*
 * Whether NAME (unqualified, as readonly_result lists it) is a built-in
 * function that pg_proc marks VOLATILE but that neither writes nor depends on
 * the session it runs in (random, clock_timestamp, pg_is_in_recovery...):
 * safe on a replica.
 */
bool readonly_volatile_harmless(const char *name);

/* Name of a class, for logs and tests. */
const char *readonly_class_name(enum readonly_class cls);

#endif
