/*
 * catalog.c - schema snapshot: lookups rules need, and JSON save/load.
 *
 * Reading from a live server is in catalog_pg.c; this file knows nothing of libpq.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/catalog.h"
#include "analyzer/parse.h"
#include "analyzer/catalog_int.h"
#include "analyzer/json.h"

static const char *const method_names[] = {
    [CATALOG_INDEX_BTREE] = "btree", [CATALOG_INDEX_HASH] = "hash",
    [CATALOG_INDEX_GIN] = "gin",     [CATALOG_INDEX_GIST] = "gist",
    [CATALOG_INDEX_BRIN] = "brin",   [CATALOG_INDEX_SPGIST] = "spgist",
    [CATALOG_INDEX_OTHER] = "other",
};

const char *catalog_index_method_name(enum catalog_index_method method)
{
	if ((unsigned)method > CATALOG_INDEX_OTHER)
		return "other";
	return method_names[method];
}

enum catalog_index_method catalog_index_method_from_name(const char *s)
{
	for (int m = CATALOG_INDEX_BTREE; m < CATALOG_INDEX_OTHER; m++) {
		if (strcmp(s, method_names[m]) == 0)
			return (enum catalog_index_method)m;
	}
	return CATALOG_INDEX_OTHER;
}

static void free_strv(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void catalog_stats_release(struct catalog_stats *s)
{
	free_strv(s->mcv_vals, s->n_mcv);
	free(s->mcv_freqs);
	free_strv(s->hist, s->n_hist);
	memset(s, 0, sizeof(*s));
}

static void index_release(struct catalog_index *ix)
{
	free(ix->name);
	for (size_t k = 0; k < ix->n_keys; k++) {
		free(ix->keys[k].column);
		free(ix->keys[k].expression);
		free(ix->keys[k].opclass);
	}
	free(ix->keys);
	free_strv(ix->include, ix->n_include);
	free(ix->predicate);
	free(ix->definition);
}

static void table_release(struct catalog_table *t)
{
	free(t->schema);
	free(t->name);
	for (size_t i = 0; i < t->n_columns; i++) {
		free(t->columns[i].name);
		free(t->columns[i].type);
		catalog_stats_release(&t->columns[i].stats);
	}
	free(t->columns);
	for (size_t i = 0; i < t->n_indexes; i++)
		index_release(&t->indexes[i]);
	free(t->indexes);
	free(t->view_sql);
	if (t->view_parse != NULL) {
		parse_tree_release(t->view_parse);
		free(t->view_parse);
	}
	for (size_t i = 0; i < t->n_fkeys; i++) {
		struct catalog_fkey *fk = &t->fkeys[i];
		free(fk->name);
		free_strv(fk->columns, fk->n_columns);
		free_strv(fk->ref_columns, fk->n_columns);
		free(fk->ref_schema);
		free(fk->ref_table);
	}
	free(t->fkeys);
}

void catalog_free(struct catalog *cat)
{
	if (cat == NULL)
		return;
	for (size_t i = 0; i < cat->n_tables; i++)
		table_release(&cat->tables[i]);
	free(cat->tables);
	free(cat->source);
	free(cat);
}

static int table_cmp(const void *x, const void *y)
{
	const struct catalog_table *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	return c != 0 ? c : strcmp(a->schema, b->schema);
}

void catalog_prepare_views(struct catalog *cat)
{
	for (size_t i = 0; cat != NULL && i < cat->n_tables; i++) {
		struct catalog_table *t = &cat->tables[i];
		struct parse_tree *tree;

		if (t->view_sql == NULL || t->view_parse != NULL)
			continue;
		tree = calloc(1, sizeof(*tree));
		if (tree == NULL)
			return;
		if (parse_sql(t->view_sql, strlen(t->view_sql), 0, tree, NULL) != PARSE_OK ||
		    tree->n_stmts != 1) {
			parse_tree_release(tree);
			free(tree);
			continue;
		}
		t->view_parse = tree;
	}
}

void catalog_sort(struct catalog *cat)
{
	if (cat->n_tables > 1)
		qsort(cat->tables, cat->n_tables, sizeof(*cat->tables), table_cmp);
}

const struct catalog_table *catalog_find_table(const struct catalog *cat, const char *schema,
                                               const char *name)
{
	size_t lo = 0, hi;

	if (cat == NULL || name == NULL)
		return NULL;
	/* Tables are sorted by (name, schema): find the first with this name. */
	hi = cat->n_tables;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(cat->tables[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	const struct catalog_table *only = NULL;
	size_t matches = 0;
	for (size_t i = lo; i < cat->n_tables && strcmp(cat->tables[i].name, name) == 0; i++) {
		const struct catalog_table *t = &cat->tables[i];
		if (schema != NULL) {
			if (strcmp(t->schema, schema) == 0)
				return t;
			continue;
		}
		if (strcmp(t->schema, "public") == 0)
			return t;
		only = t;
		matches++;
	}
	return matches == 1 ? only : NULL;
}

const struct catalog_column *catalog_find_column(const struct catalog_table *t, const char *name)
{
	if (t == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < t->n_columns; i++) {
		if (strcmp(t->columns[i].name, name) == 0)
			return &t->columns[i];
	}
	return NULL;
}

/* What the planner assumes of a heap page and row: BLCKSZ, page header, tuple header + line
 * pointer. */
#define CAT_BLCKSZ        8192
#define CAT_PAGE_HEADER   24
#define CAT_ROW_OVERHEAD  (24 + 4)
#define CAT_DEFAULT_WIDTH 32
#define CAT_MIN_PAGES_NEW 10

double catalog_table_rows(const struct catalog_table *t)
{
	if (t == NULL)
		return -1;
	if (t->reltuples >= 0)
		return t->reltuples;
	/* Never analyzed: size it from the pages it has now, like estimate_rel_size(). */
	if (t->cur_pages < 0 || (t->kind != 'r' && t->kind != 'm'))
		return -1;
	int width = CAT_ROW_OVERHEAD;
	for (size_t i = 0; i < t->n_columns; i++)
		width += t->columns[i].width > 0 ? t->columns[i].width : CAT_DEFAULT_WIDTH;
	/* A table this new may grow before the plan runs: the planner assumes 10 pages. */
	int64_t pages = t->cur_pages < CAT_MIN_PAGES_NEW ? CAT_MIN_PAGES_NEW : t->cur_pages;
	/* Whole rows per page, as the planner counts them (an integer division). */
	int per_page = (CAT_BLCKSZ - CAT_PAGE_HEADER) / width;
	return rint((double)per_page * (double)pages);
}

static bool in_set(const char *s, const char *const *cols, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, cols[i]) == 0)
			return true;
	}
	return false;
}

const struct catalog_index *catalog_find_index_on(const struct catalog_table *t,
                                                  const char *const *cols, size_t n, bool prefix_ok)
{
	if (t == NULL || n == 0)
		return NULL;
	for (size_t i = 0; i < t->n_indexes; i++) {
		const struct catalog_index *ix = &t->indexes[i];
		if (!ix->valid || ix->predicate != NULL)
			continue;
		if (ix->method == CATALOG_INDEX_HASH) {
			if (n != 1 || ix->n_keys != 1)
				continue;
		} else if (ix->method != CATALOG_INDEX_BTREE) {
			continue;
		}
		if (ix->n_keys < n || (!prefix_ok && ix->n_keys != n))
			continue;
		bool ok = true;
		for (size_t k = 0; k < n && ok; k++) {
			const char *c = ix->keys[k].column;
			ok = c != NULL && in_set(c, cols, n);
		}
		if (ok)
			return ix;
	}
	return NULL;
}

const struct catalog_index *catalog_find_index_leading(const struct catalog_table *t,
                                                       const char *col)
{
	if (t == NULL || col == NULL)
		return NULL;
	for (size_t i = 0; i < t->n_indexes; i++) {
		const struct catalog_index *ix = &t->indexes[i];
		if (ix->valid && ix->n_keys > 0 && ix->keys[0].column != NULL &&
		    strcmp(ix->keys[0].column, col) == 0)
			return ix;
	}
	return NULL;
}

bool catalog_is_unique_key(const struct catalog_table *t, const char *const *cols, size_t n)
{
	if (t == NULL || n == 0)
		return false;
	for (size_t i = 0; i < t->n_indexes; i++) {
		const struct catalog_index *ix = &t->indexes[i];
		if (!ix->unique || !ix->valid || ix->predicate != NULL || ix->n_keys == 0)
			continue;
		bool all = true;
		for (size_t k = 0; k < ix->n_keys && all; k++)
			all = ix->keys[k].column != NULL && in_set(ix->keys[k].column, cols, n);
		if (all)
			return true;
	}
	return false;
}

const struct catalog_stats *catalog_column_stats(const struct catalog_table *t, const char *col)
{
	const struct catalog_column *c = catalog_find_column(t, col);

	if (c == NULL || !c->stats.present)
		return NULL;
	return &c->stats;
}

/* ---- JSON output ---- */

static void write_strv(FILE *out, char *const *v, size_t n)
{
	putc('[', out);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			putc(',', out);
		json_write_string(out, v[i]);
	}
	putc(']', out);
}

static void write_stats(FILE *out, const struct catalog_stats *s)
{
	if (!s->present) {
		fputs("null", out);
		return;
	}
	fputs("{\"null_frac\":", out);
	json_write_number(out, s->null_frac);
	fputs(",\"n_distinct\":", out);
	json_write_number(out, s->n_distinct);
	fputs(",\"mcv\":[", out);
	for (size_t i = 0; i < s->n_mcv; i++) {
		fputs(i > 0 ? ",{\"value\":" : "{\"value\":", out);
		json_write_string(out, s->mcv_vals[i]);
		fputs(",\"freq\":", out);
		json_write_number(out, s->mcv_freqs[i]);
		putc('}', out);
	}
	fputs("],\"histogram\":", out);
	write_strv(out, s->hist, s->n_hist);
	putc('}', out);
}

static void write_index(FILE *out, const struct catalog_index *ix)
{
	fputs("{\"name\":", out);
	json_write_string(out, ix->name);
	fprintf(out, ",\"method\":\"%s\",\"unique\":%s,\"primary\":%s,\"valid\":%s,\"predicate\":",
	        catalog_index_method_name(ix->method), ix->unique ? "true" : "false",
	        ix->primary ? "true" : "false", ix->valid ? "true" : "false");
	json_write_string(out, ix->predicate);
	fputs(",\"definition\":", out);
	json_write_string(out, ix->definition);
	fputs(",\"keys\":[", out);
	for (size_t k = 0; k < ix->n_keys; k++) {
		const struct catalog_index_key *key = &ix->keys[k];
		fputs(k > 0 ? ",{\"column\":" : "{\"column\":", out);
		json_write_string(out, key->column);
		fputs(",\"expression\":", out);
		json_write_string(out, key->expression);
		fputs(",\"opclass\":", out);
		json_write_string(out, key->opclass);
		fprintf(out, ",\"desc\":%s}", key->desc ? "true" : "false");
	}
	fputs("],\"include\":", out);
	write_strv(out, ix->include, ix->n_include);
	putc('}', out);
}

static void write_table(FILE *out, const struct catalog_table *t)
{
	fputs("\n  {\"schema\":", out);
	json_write_string(out, t->schema);
	fputs(",\"name\":", out);
	json_write_string(out, t->name);
	fprintf(out, ",\"kind\":\"%c\",\"reltuples\":", t->kind ? t->kind : 'r');
	json_write_number(out, t->reltuples);
	fprintf(out, ",\"relpages\":%lld,\"cur_pages\":%lld,", (long long)t->relpages,
	        (long long)t->cur_pages);
	if (t->view_sql != NULL) {
		fputs("\"view_sql\":", out);
		json_write_string(out, t->view_sql);
		putc(',', out);
	}
	fputs("\n   \"columns\":[", out);
	for (size_t i = 0; i < t->n_columns; i++) {
		const struct catalog_column *c = &t->columns[i];
		fputs(i > 0 ? ",\n    {\"name\":" : "\n    {\"name\":", out);
		json_write_string(out, c->name);
		fputs(",\"type\":", out);
		json_write_string(out, c->type);
		fprintf(out, ",\"not_null\":%s,\"attnum\":%d,\"width\":%d,\"stats\":",
		        c->not_null ? "true" : "false", c->attnum, c->width);
		write_stats(out, &c->stats);
		putc('}', out);
	}
	fputs("],\n   \"indexes\":[", out);
	for (size_t i = 0; i < t->n_indexes; i++) {
		fputs(i > 0 ? ",\n    " : "\n    ", out);
		write_index(out, &t->indexes[i]);
	}
	fputs("],\n   \"foreign_keys\":[", out);
	for (size_t i = 0; i < t->n_fkeys; i++) {
		const struct catalog_fkey *fk = &t->fkeys[i];
		fputs(i > 0 ? ",\n    {\"name\":" : "\n    {\"name\":", out);
		json_write_string(out, fk->name);
		fputs(",\"columns\":", out);
		write_strv(out, fk->columns, fk->n_columns);
		fputs(",\"ref_schema\":", out);
		json_write_string(out, fk->ref_schema);
		fputs(",\"ref_table\":", out);
		json_write_string(out, fk->ref_table);
		fputs(",\"ref_columns\":", out);
		write_strv(out, fk->ref_columns, fk->n_columns);
		putc('}', out);
	}
	fputs("]}", out);
}

int catalog_write_json(const struct catalog *cat, FILE *out)
{
	fputs("{\"pgscope_schema\":1,\"tables\":[", out);
	for (size_t i = 0; i < cat->n_tables; i++) {
		if (i > 0)
			putc(',', out);
		write_table(out, &cat->tables[i]);
	}
	fputs("\n]}\n", out);
	return ferror(out) ? -1 : 0;
}

/* ---- JSON input ---- */

/* Copy of a string member; *ok becomes false on a missing required member or OOM. */
static char *dup_member(const struct json_value *v, const char *key, bool required, bool *ok)
{
	const char *s = json_get_string(v, key);

	if (s == NULL) {
		if (required)
			*ok = false;
		return NULL;
	}
	char *d = strdup(s);
	if (d == NULL)
		*ok = false;
	return d;
}

/* An array of strings member as a malloc'd vector; *n gets its length. */
static char **dup_strv(const struct json_value *v, const char *key, size_t *n, bool *ok)
{
	const struct json_value *a = json_get(v, key);

	*n = 0;
	if (a == NULL || a->type != JSON_ARRAY || a->n == 0)
		return NULL;
	char **out = calloc(a->n, sizeof(*out));
	if (out == NULL) {
		*ok = false;
		return NULL;
	}
	for (size_t i = 0; i < a->n; i++) {
		if (a->items[i].type != JSON_STRING ||
		    (out[i] = strdup(a->items[i].string)) == NULL) {
			*ok = false;
			free_strv(out, i);
			return NULL;
		}
	}
	*n = a->n;
	return out;
}

static bool load_stats(const struct json_value *jv, struct catalog_stats *s)
{
	const struct json_value *st = json_get(jv, "stats");

	if (st == NULL || st->type != JSON_OBJECT)
		return true;
	s->present = true;
	s->null_frac = json_get_number(st, "null_frac", 0);
	s->n_distinct = json_get_number(st, "n_distinct", 0);
	bool ok = true;
	s->hist = dup_strv(st, "histogram", &s->n_hist, &ok);
	if (!ok)
		return false;
	if (s->n_hist > CATALOG_MAX_HIST) {
		free_strv(s->hist, s->n_hist);
		s->hist = NULL;
		s->n_hist = 0;
	}
	const struct json_value *mcv = json_get(st, "mcv");
	if (mcv == NULL || mcv->type != JSON_ARRAY || mcv->n == 0)
		return true;
	size_t n = mcv->n < CATALOG_MAX_MCV ? mcv->n : CATALOG_MAX_MCV;
	s->mcv_vals = calloc(n, sizeof(*s->mcv_vals));
	s->mcv_freqs = calloc(n, sizeof(*s->mcv_freqs));
	if (s->mcv_vals == NULL || s->mcv_freqs == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *val = json_get_string(&mcv->items[i], "value");
		s->mcv_vals[i] = strdup(val != NULL ? val : "");
		if (s->mcv_vals[i] == NULL)
			return false;
		s->mcv_freqs[i] = json_get_number(&mcv->items[i], "freq", 0);
		if (s->mcv_freqs[i] > s->mcv_max_freq)
			s->mcv_max_freq = s->mcv_freqs[i];
		s->n_mcv++;
	}
	return true;
}

static bool load_index(const struct json_value *jv, struct catalog_index *ix)
{
	bool ok = true;
	const char *method = json_get_string(jv, "method");

	ix->name = dup_member(jv, "name", true, &ok);
	ix->method = catalog_index_method_from_name(method != NULL ? method : "");
	ix->unique = json_get_bool(jv, "unique", false);
	ix->primary = json_get_bool(jv, "primary", false);
	ix->valid = json_get_bool(jv, "valid", true);
	ix->predicate = dup_member(jv, "predicate", false, &ok);
	ix->definition = dup_member(jv, "definition", false, &ok);
	ix->include = dup_strv(jv, "include", &ix->n_include, &ok);
	const struct json_value *keys = json_get(jv, "keys");
	if (!ok || keys == NULL || keys->type != JSON_ARRAY)
		return false;
	if (keys->n == 0)
		return true;
	ix->keys = calloc(keys->n, sizeof(*ix->keys));
	if (ix->keys == NULL)
		return false;
	for (size_t k = 0; k < keys->n; k++) {
		const struct json_value *jk = &keys->items[k];
		struct catalog_index_key *key = &ix->keys[k];
		ix->n_keys++;
		key->column = dup_member(jk, "column", false, &ok);
		key->expression = dup_member(jk, "expression", false, &ok);
		key->opclass = dup_member(jk, "opclass", false, &ok);
		key->desc = json_get_bool(jk, "desc", false);
		if (key->column == NULL && key->expression == NULL)
			ok = false;
	}
	return ok;
}

static bool load_fkey(const struct json_value *jv, struct catalog_fkey *fk)
{
	bool ok = true;
	size_t nref = 0;

	fk->name = dup_member(jv, "name", true, &ok);
	fk->ref_schema = dup_member(jv, "ref_schema", true, &ok);
	fk->ref_table = dup_member(jv, "ref_table", true, &ok);
	fk->columns = dup_strv(jv, "columns", &fk->n_columns, &ok);
	fk->ref_columns = dup_strv(jv, "ref_columns", &nref, &ok);
	if (nref != fk->n_columns) {
		free_strv(fk->ref_columns, nref);
		fk->ref_columns = NULL;
		ok = false;
	}
	return ok;
}

/* Allocate n zeroed entries of size sz for a JSON array member; NULL/0 when empty. */
static void *alloc_array(const struct json_value *a, size_t sz, bool *ok)
{
	if (a == NULL || a->type != JSON_ARRAY || a->n == 0)
		return NULL;
	void *p = calloc(a->n, sz);
	if (p == NULL)
		*ok = false;
	return p;
}

static bool load_table(const struct json_value *jv, struct catalog_table *t, char *err,
                       size_t errlen)
{
	bool ok = true;
	const char *kind = json_get_string(jv, "kind");

	t->schema = dup_member(jv, "schema", true, &ok);
	t->name = dup_member(jv, "name", true, &ok);
	if (!ok) {
		snprintf(err, errlen, "a table lacks \"schema\" or \"name\"");
		return false;
	}
	t->kind = kind != NULL && kind[0] != '\0' ? kind[0] : 'r';
	t->reltuples = json_get_number(jv, "reltuples", -1);
	t->relpages = (int64_t)json_get_number(jv, "relpages", 0);
	t->cur_pages = (int64_t)json_get_number(jv, "cur_pages", -1);
	t->view_sql = dup_member(jv, "view_sql", false, &ok);

	const struct json_value *cols = json_get(jv, "columns");
	t->columns = alloc_array(cols, sizeof(*t->columns), &ok);
	for (size_t i = 0; ok && t->columns != NULL && i < cols->n; i++) {
		struct catalog_column *c = &t->columns[i];
		t->n_columns++;
		c->name = dup_member(&cols->items[i], "name", true, &ok);
		c->type = dup_member(&cols->items[i], "type", false, &ok);
		c->not_null = json_get_bool(&cols->items[i], "not_null", false);
		c->attnum = (int)json_get_number(&cols->items[i], "attnum", (double)(i + 1));
		c->width = (int)json_get_number(&cols->items[i], "width", 0);
		ok = ok && load_stats(&cols->items[i], &c->stats);
	}
	const struct json_value *ixs = json_get(jv, "indexes");
	t->indexes = alloc_array(ixs, sizeof(*t->indexes), &ok);
	for (size_t i = 0; ok && t->indexes != NULL && i < ixs->n; i++) {
		t->n_indexes++;
		ok = load_index(&ixs->items[i], &t->indexes[i]);
	}
	const struct json_value *fks = json_get(jv, "foreign_keys");
	t->fkeys = alloc_array(fks, sizeof(*t->fkeys), &ok);
	for (size_t i = 0; ok && t->fkeys != NULL && i < fks->n; i++) {
		t->n_fkeys++;
		ok = load_fkey(&fks->items[i], &t->fkeys[i]);
	}
	if (!ok)
		snprintf(err, errlen, "table %s.%s: malformed column, index or foreign key entry",
		         t->schema, t->name);
	return ok;
}

struct catalog *catalog_load_json(const char *text, size_t len, char *err, size_t errlen)
{
	char jerr[256];
	struct json_value *root = json_parse(text, len, jerr, sizeof(jerr));

	if (root == NULL) {
		snprintf(err, errlen, "schema JSON: %s", jerr);
		return NULL;
	}
	struct catalog *cat = calloc(1, sizeof(*cat));
	const struct json_value *tables = json_get(root, "tables");
	if (cat == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_free_json;
	}
	if (tables == NULL || tables->type != JSON_ARRAY) {
		snprintf(err, errlen, "schema JSON: no \"tables\" array at the top level");
		goto out_free_cat;
	}
	if (tables->n > 0) {
		cat->tables = calloc(tables->n, sizeof(*cat->tables));
		if (cat->tables == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out_free_cat;
		}
	}
	for (size_t i = 0; i < tables->n; i++) {
		cat->n_tables++;
		if (tables->items[i].type != JSON_OBJECT) {
			snprintf(err, errlen, "schema JSON: tables[%zu] is not an object", i);
			goto out_free_cat;
		}
		char terr[200];
		if (!load_table(&tables->items[i], &cat->tables[i], terr, sizeof(terr))) {
			snprintf(err, errlen, "schema JSON: tables[%zu]: %s", i, terr);
			goto out_free_cat;
		}
	}
	catalog_sort(cat);
	catalog_prepare_views(cat);
	json_free(root);
	return cat;

out_free_cat:
	catalog_free(cat);
out_free_json:
	json_free(root);
	return NULL;
}

struct catalog *catalog_load_file(const char *path, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct catalog *cat = NULL;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= JSON_MAX_INPUT) {
				snprintf(err, errlen, "%s: larger than %zu bytes", path,
				         JSON_MAX_INPUT);
				goto out_close;
			}
			size_t ncap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, ncap);
			if (nb == NULL) {
				snprintf(err, errlen, "out of memory");
				goto out_close;
			}
			buf = nb;
			cap = ncap;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out_close;
	}
	char jerr[300];
	cat = catalog_load_json(buf, len, jerr, sizeof(jerr));
	if (cat == NULL) {
		snprintf(err, errlen, "%s: %s", path, jerr);
		goto out_close;
	}
	cat->source = strdup(path);

out_close:
	free(buf);
	if (f != stdin)
		fclose(f);
	return cat;
}
