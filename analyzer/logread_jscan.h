/*
 * logread_jscan.h - a minimal in-place scanner for one flat JSON object per line.
 *
 * Used by the capture and jsonlog readers. Strings are unescaped in place in
 * the caller's (writable) line and NUL-terminated there, so scanning
 * allocates nothing. Nested objects and arrays are skipped as JSCAN_OTHER.
 */
#ifndef PGSCOPE_ANALYZER_LOGREAD_JSCAN_H
#define PGSCOPE_ANALYZER_LOGREAD_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jscan_type {
	JSCAN_STRING,
	JSCAN_NUMBER,
	JSCAN_NULL,
	JSCAN_TRUE,
	JSCAN_FALSE,
	JSCAN_OTHER,
};

struct jscan_value {
	enum jscan_type type;
	char *str;   /* JSCAN_STRING: unescaped, NUL-terminated, in the line */
	size_t len;  /* its length */
	int64_t num; /* JSCAN_NUMBER: integer part (fractions are dropped) */
	double dnum; /* JSCAN_NUMBER as a double */
};

struct jscan {
	char *p;
	char *end;
};

/* Start scanning an object in line[0..len); false when it is not one. */
bool jscan_begin(struct jscan *s, char *line, size_t len);

/* Next member: 1 with key and value, 0 at the object's end, -1 on bad JSON. */
int jscan_next(struct jscan *s, char **key, struct jscan_value *v);

#endif
