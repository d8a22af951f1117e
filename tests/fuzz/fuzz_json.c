/* fuzz_json.c - libFuzzer target: the JSON reader and schema snapshots loaded from JSON. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/catalog.h"
#include "analyzer/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walk the tree: counts, keys and strings are consistent; depth stays bounded. */
static void walk(const struct json_value *v, int depth)
{
	if (depth > JSON_MAX_DEPTH + 1)
		abort();
	switch (v->type) {
	case JSON_NULL:
	case JSON_BOOL:
	case JSON_NUMBER:
		break;
	case JSON_STRING:
		if (v->string == NULL)
			abort();
		(void)strlen(v->string);
		break;
	case JSON_ARRAY:
		if (v->n > 0 && v->items == NULL)
			abort();
		for (size_t i = 0; i < v->n; i++)
			walk(&v->items[i], depth + 1);
		break;
	case JSON_OBJECT:
		if (v->n > 0 && (v->items == NULL || v->keys == NULL))
			abort();
		for (size_t i = 0; i < v->n; i++) {
			if (v->keys[i] == NULL)
				abort();
			/* The first member of a name is found (or a later duplicate). */
			if (json_get(v, v->keys[i]) == NULL)
				abort();
			(void)json_get_string(v, v->keys[i]);
			(void)json_get_number(v, v->keys[i], 0);
			(void)json_get_bool(v, v->keys[i], false);
			walk(&v->items[i], depth + 1);
		}
		break;
	default:
		abort();
	}
}

/* Writing the tree's strings back out must not crash either. */
static void write_strings(const struct json_value *v, FILE *out)
{
	if (v->type == JSON_STRING)
		json_write_string(out, v->string);
	else if (v->type == JSON_NUMBER)
		json_write_number(out, v->number);
	for (size_t i = 0; (v->type == JSON_ARRAY || v->type == JSON_OBJECT) && i < v->n; i++)
		write_strings(&v->items[i], out);
}

static void catalog_roundtrip(const char *text, size_t len)
{
	char err[256];
	struct catalog *cat, *again;
	char *buf = NULL;
	size_t buflen = 0;
	FILE *mem;

	memset(err, 0x5a, sizeof(err));
	cat = catalog_load_json(text, len, err, sizeof(err));
	if (cat == NULL) {
		if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
			abort();
		return;
	}
	for (size_t i = 0; i < cat->n_tables; i++) {
		const struct catalog_table *t = &cat->tables[i];
		(void)catalog_table_rows(t);
		for (size_t k = 0; k < t->n_columns; k++)
			(void)catalog_column_stats(t, t->columns[k].name);
	}
	/* What pgscope writes, it reads back to the same shape. */
	mem = open_memstream(&buf, &buflen);
	if (mem == NULL)
		goto out_free_cat;
	if (catalog_write_json(cat, mem) != 0) {
		fclose(mem);
		goto out_free_buf;
	}
	fclose(mem);
	again = catalog_load_json(buf, buflen, err, sizeof(err));
	if (again == NULL || again->n_tables != cat->n_tables)
		abort();
	for (size_t i = 0; i < cat->n_tables; i++)
		if (again->tables[i].n_columns != cat->tables[i].n_columns ||
		    again->tables[i].n_indexes != cat->tables[i].n_indexes)
			abort();
	catalog_free(again);
out_free_buf:
	free(buf);
out_free_cat:
	catalog_free(cat);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char err[256];
	struct json_value *v;

	memset(err, 0x5a, sizeof(err));
	v = json_parse(text, size, err, sizeof(err));
	if (v == NULL) {
		if (memchr(err, '\0', sizeof(err)) == NULL || strstr(err, "line ") == NULL)
			abort(); /* errors give the position */
	} else {
		FILE *null = fopen("/dev/null", "w");
		walk(v, 0);
		if (null != NULL) {
			write_strings(v, null);
			fclose(null);
		}
		json_free(v);
	}
	catalog_roundtrip(text, size);
	return 0;
}
