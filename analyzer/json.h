/*
 * json.h - a small, bounded JSON reader (to a tree) and writer helpers.
 *
 * The reader accepts RFC 8259 JSON, rejects anything else with a message that
 * gives the line, column and byte offset, and bounds nesting depth and input
 * size, so hostile input costs bounded time and memory. The writer helpers
 * escape strings for output; callers write the structure themselves.
 */
#ifndef PGSCOPE_ANALYZER_JSON_H
#define PGSCOPE_ANALYZER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Deepest nesting of arrays/objects the reader accepts. */
#define JSON_MAX_DEPTH 64

/* Largest input the reader accepts (bytes). */
#define JSON_MAX_INPUT ((size_t)256 * 1024 * 1024)

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_value {
	enum json_type type;
	bool boolean;             /* JSON_BOOL */
	double number;            /* JSON_NUMBER */
	char *string;             /* JSON_STRING: NUL-terminated UTF-8 (a \u0000 is rejected) */
	size_t n;                 /* JSON_ARRAY / JSON_OBJECT: entries */
	struct json_value *items; /* array elements or object member values, n entries */
	char **keys;              /* JSON_OBJECT: member names, n entries */
};

/*
 * Parse text[0..len). Returns a tree the caller frees with json_free(), or NULL
 * with a message like "line 3, column 7 (byte 41): expected ':'" in err.
 */
struct json_value *json_parse(const char *text, size_t len, char *err, size_t errlen);

void json_free(struct json_value *v);

/* Member `key` of object v, or NULL (also when v is not an object). */
const struct json_value *json_get(const struct json_value *v, const char *key);

/* String of member `key`, or NULL when absent, null or not a string. */
const char *json_get_string(const struct json_value *v, const char *key);

/* Number of member `key`, or dflt when absent or not a number. */
double json_get_number(const struct json_value *v, const char *key, double dflt);

/* Boolean of member `key`, or dflt when absent or not a boolean. */
bool json_get_bool(const struct json_value *v, const char *key, bool dflt);

/* Write s as a JSON string literal (with quotes); NULL writes null. */
void json_write_string(FILE *out, const char *s);

/* Write a number; non-finite values are written as null. */
void json_write_number(FILE *out, double v);

#endif
