/*
 * catalog_build.c - a schema snapshot assembled from the rows of the catalog
 * queries, one row at a time.
 *
 * The queries and what each row means live here, apart from how the rows
 * arrive: catalog_pg.c feeds it from libpq results, the pooler from the rows
 * of an internal query on one of its own server connections. Rows of each
 * query come in the order its ORDER BY gives, and the queries in their
 * numbered order, because later ones find earlier ones' tables and indexes by
 * oid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/catalog.h"
#include "analyzer/catalog_int.h"

/* User relations: everything outside the system schemas. */
#define USER_REL_FILTER                                                       \
	" n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' " \
	" AND c.relkind IN ('r','p','m','f','v') "

static const char q_tables[] =
    "SELECT c.oid::int8, n.nspname, c.relname, c.relkind::text, c.reltuples::float8, "
    "c.relpages::int8, CASE WHEN c.reltuples < 0 AND c.relkind <> 'v' THEN "
    "pg_relation_size(c.oid) / current_setting('block_size')::int8 END, "
    "CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid, true) END "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE" USER_REL_FILTER "ORDER BY c.oid";

/* Width as get_typavgwidth() guesses it for a column without statistics. */
#define TYPE_WIDTH                                                                           \
	"CASE WHEN ty.typlen > 0 THEN ty.typlen::int "                                       \
	"WHEN a.atttypmod > 4 AND ty.typname IN ('bpchar', 'varchar') THEN (SELECT CASE "    \
	"WHEN ty.typname = 'bpchar' OR m <= 32 THEN m WHEN m < 1000 THEN 32 + (m - 32) / 2 " \
	"ELSE 516 END FROM (SELECT (a.atttypmod - 4) * pg_encoding_max_length("              \
	"pg_char_to_encoding(current_setting('server_encoding'))) + 4 AS m) w) ELSE 32 END"

static const char q_columns[] =
    "SELECT a.attrelid::int8, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
    "a.attnum, " TYPE_WIDTH " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type ty ON ty.oid = a.atttypid "
    "WHERE" USER_REL_FILTER "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, a.attnum";

static const char q_indexes[] =
    "SELECT i.indrelid::int8, i.indexrelid::int8, ic.relname, am.amname, i.indisunique, "
    "i.indisprimary, i.indisvalid AND i.indisready, pg_get_expr(i.indpred, i.indrelid, true), "
    "NULL::text, i.indnkeyatts "
    "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = "
    "ic.relam JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = "
    "c.relnamespace WHERE" USER_REL_FILTER "ORDER BY 1, ic.relname";

static const char q_index_keys[] =
    "SELECT i.indexrelid::int8, k.ord, k.attnum, a.attname, "
    "CASE WHEN k.attnum = 0 THEN pg_get_indexdef(i.indexrelid, k.ord::int, true) END, "
    "opc.opcname, "
    "COALESCE(((i.indoption::int2[])[array_lower(i.indoption::int2[], 1) + k.ord - 1] & 1) = 1, "
    "false) "
    "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = "
    "c.relnamespace CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, "
    "ord) LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND "
    "k.attnum > 0 LEFT JOIN pg_opclass opc ON opc.oid = "
    "(i.indclass::oid[])[array_lower(i.indclass::oid[], 1) + k.ord - 1] "
    "WHERE" USER_REL_FILTER "ORDER BY 1, 2";

static const char q_fkeys[] =
    "SELECT con.conrelid::int8, con.conname, k.ord, a.attname, rn.nspname, rc.relname, "
    "ra.attname FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class rc ON rc.oid = con.confrelid "
    "JOIN pg_namespace rn ON rn.oid = rc.relnamespace CROSS JOIN LATERAL unnest(con.conkey, "
    "con.confkey) WITH ORDINALITY AS k(att, fatt, ord) JOIN pg_attribute a ON a.attrelid = "
    "con.conrelid AND a.attnum = k.att JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND "
    "ra.attnum = k.fatt WHERE con.contype = 'f' AND" USER_REL_FILTER "ORDER BY 1, 2, 3";

static const char q_stats[] =
    "SELECT c.oid::int8, s.attname, s.null_frac::float8, s.n_distinct::float8, "
    "s.most_common_vals::text, s.most_common_freqs::text, s.avg_width, "
    "s.histogram_bounds::text FROM pg_stats s "
    "JOIN pg_namespace n ON n.nspname = s.schemaname JOIN pg_class c ON c.relname = "
    "s.tablename AND c.relnamespace = n.oid WHERE" USER_REL_FILTER "ORDER BY 1, 2, s.inherited";

/* Longest most-common value kept, in bytes: enough to recognise it, bounded. */
#define MCV_MAX_VALUE 200

static const char *const queries[CATALOG_QUERIES] = {q_tables,     q_columns, q_indexes,
                                                     q_index_keys, q_fkeys,   q_stats};

/* Columns each query returns. */
static const int query_columns[CATALOG_QUERIES] = {8, 6, 10, 7, 7, 8};

/* An index found by the index query: its oid and where it sits. */
struct index_ref {
	long long oid;
	struct catalog_index *ix;
};

/* An index row before the tables' index arrays stop moving. */
struct index_row {
	long long oid;
	size_t table;
	size_t pos;
};

struct catalog_builder {
	struct catalog *cat;
	size_t cap_tables;
	long long *oids; /* oid of cat->tables[i], ascending */
	struct index_row *ixrows;
	size_t n_ixrows, cap_ixrows;
	struct index_ref *ixrefs; /* sorted by oid once the index query ended */
	size_t n_ixrefs;
	int next_query; /* the query whose rows come now */
	bool oom;
};

const char *catalog_builder_query(int query)
{
	return query >= 0 && query < CATALOG_QUERIES ? queries[query] : NULL;
}

struct catalog_builder *catalog_builder_new(void)
{
	struct catalog_builder *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->cat = calloc(1, sizeof(*b->cat));
	if (b->cat == NULL) {
		free(b);
		return NULL;
	}
	return b;
}

void catalog_builder_free(struct catalog_builder *b)
{
	if (b == NULL)
		return;
	catalog_free(b->cat);
	free(b->oids);
	free(b->ixrows);
	free(b->ixrefs);
	free(b);
}

static struct catalog_table *table_by_oid(struct catalog_builder *b, const char *text)
{
	long long oid = text ? atoll(text) : 0;
	size_t lo = 0, hi = b->cat->n_tables;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->oids[mid] == oid)
			return &b->cat->tables[mid];
		if (b->oids[mid] < oid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static char *dup_value(struct catalog_builder *b, const char *v)
{
	char *s;

	if (v == NULL)
		return NULL;
	s = strdup(v);
	if (s == NULL)
		b->oom = true;
	return s;
}

static bool bool_value(const char *v)
{
	return v != NULL && v[0] == 't';
}

static long long int_value(const char *v)
{
	return v != NULL ? atoll(v) : 0;
}

/* Grow *arr (of n entries of size sz) by one zeroed entry; returns it or NULL. */
static void *append(void **arr, size_t *n, size_t sz)
{
	char *na = realloc(*arr, (*n + 1) * sz);

	if (na == NULL)
		return NULL;
	*arr = na;
	memset(na + *n * sz, 0, sz);
	return na + (*n)++ * sz;
}

/* Room for one more entry in *arr of *cap, doubling; false when out of memory. */
static bool reserve(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *na;

	if (n < *cap)
		return true;
	ncap = *cap ? *cap * 2 : 64;
	na = realloc(*arr, ncap * sz);
	if (na == NULL)
		return false;
	*arr = na;
	*cap = ncap;
	return true;
}

static bool row_table(struct catalog_builder *b, const char *const *v)
{
	struct catalog *cat = b->cat;
	size_t cap = b->cap_tables;
	struct catalog_table *t;

	if (!reserve((void **)&cat->tables, &b->cap_tables, cat->n_tables, sizeof(*cat->tables)) ||
	    !reserve((void **)&b->oids, &cap, cat->n_tables, sizeof(*b->oids)))
		return false;
	t = &cat->tables[cat->n_tables];
	memset(t, 0, sizeof(*t));
	b->oids[cat->n_tables] = int_value(v[0]);
	cat->n_tables++;
	t->schema = dup_value(b, v[1]);
	t->name = dup_value(b, v[2]);
	t->kind = v[3] != NULL ? v[3][0] : 'r';
	t->reltuples = v[4] != NULL ? strtod(v[4], NULL) : -1;
	t->relpages = int_value(v[5]);
	t->cur_pages = v[6] != NULL ? int_value(v[6]) : -1;
	t->view_sql = dup_value(b, v[7]);
	return true;
}

static bool row_column(struct catalog_builder *b, const char *const *v)
{
	struct catalog_table *t = table_by_oid(b, v[0]);
	struct catalog_column *c;

	if (t == NULL)
		return true;
	c = append((void **)&t->columns, &t->n_columns, sizeof(*t->columns));
	if (c == NULL)
		return false;
	c->name = dup_value(b, v[1]);
	c->type = dup_value(b, v[2]);
	c->not_null = bool_value(v[3]);
	c->attnum = (int)int_value(v[4]);
	c->width = (int)int_value(v[5]);
	return true;
}

static bool row_index(struct catalog_builder *b, const char *const *v)
{
	struct catalog_table *t = table_by_oid(b, v[0]);
	struct catalog_index *ix;
	struct index_row *r;

	if (t == NULL)
		return true;
	if (!reserve((void **)&b->ixrows, &b->cap_ixrows, b->n_ixrows, sizeof(*b->ixrows)))
		return false;
	ix = append((void **)&t->indexes, &t->n_indexes, sizeof(*t->indexes));
	if (ix == NULL)
		return false;
	r = &b->ixrows[b->n_ixrows++];
	r->oid = int_value(v[1]);
	r->table = (size_t)(t - b->cat->tables);
	r->pos = t->n_indexes - 1;
	ix->name = dup_value(b, v[2]);
	ix->method = catalog_index_method_from_name(v[3] ? v[3] : "");
	ix->unique = bool_value(v[4]);
	ix->primary = bool_value(v[5]);
	ix->valid = bool_value(v[6]);
	ix->predicate = dup_value(b, v[7]);
	ix->definition = dup_value(b, v[8]);
	/* n_keys is filled by the key rows; remember the key count in n_include until then. */
	ix->n_include = (size_t)int_value(v[9]);
	return true;
}

static int ixref_cmp(const void *x, const void *y)
{
	const struct index_ref *a = x, *b = y;

	return a->oid < b->oid ? -1 : a->oid > b->oid;
}

/*
 * The index query ended: every table's index array is complete, so pointers
 * into them are stable. Index them by oid and make room for their keys.
 */
static bool end_indexes(struct catalog_builder *b)
{
	b->ixrefs = calloc(b->n_ixrows + 1, sizeof(*b->ixrefs));
	if (b->ixrefs == NULL)
		return false;
	for (size_t i = 0; i < b->n_ixrows; i++) {
		struct catalog_index *ix =
		    &b->cat->tables[b->ixrows[i].table].indexes[b->ixrows[i].pos];
		size_t nkey = ix->n_include;

		b->ixrefs[i].oid = b->ixrows[i].oid;
		b->ixrefs[i].ix = ix;
		ix->n_include = 0;
		ix->keys = calloc(nkey + 1, sizeof(*ix->keys));
		if (ix->keys == NULL)
			return false;
	}
	b->n_ixrefs = b->n_ixrows;
	qsort(b->ixrefs, b->n_ixrefs, sizeof(*b->ixrefs), ixref_cmp);
	return true;
}

static struct catalog_index *index_by_oid(struct catalog_builder *b, const char *text)
{
	struct index_ref key = {.oid = int_value(text)};
	struct index_ref *r = bsearch(&key, b->ixrefs, b->n_ixrefs, sizeof(key), ixref_cmp);

	return r != NULL ? r->ix : NULL;
}

static bool row_index_key(struct catalog_builder *b, const char *const *v)
{
	struct catalog_index *ix = index_by_oid(b, v[0]);
	bool is_column = v[3] != NULL;
	struct catalog_index_key *k;

	if (ix == NULL)
		return true;
	/* Opclass is NULL for INCLUDE columns: they are not keys. */
	if (v[5] == NULL) {
		char **slot;

		if (!is_column)
			return true;
		slot = append((void **)&ix->include, &ix->n_include, sizeof(char *));
		if (slot == NULL)
			return false;
		*slot = dup_value(b, v[3]);
		return true;
	}
	k = &ix->keys[ix->n_keys++];
	if (is_column)
		k->column = dup_value(b, v[3]);
	else
		k->expression = dup_value(b, v[4]);
	k->opclass = dup_value(b, v[5]);
	k->desc = bool_value(v[6]);
	return true;
}

static bool row_fkey(struct catalog_builder *b, const char *const *v)
{
	struct catalog_table *t = table_by_oid(b, v[0]);
	struct catalog_fkey *fk;
	char **c, **rc;
	size_t n;

	if (t == NULL || v[1] == NULL)
		return true;
	fk = t->n_fkeys > 0 ? &t->fkeys[t->n_fkeys - 1] : NULL;
	if (fk == NULL || strcmp(fk->name, v[1]) != 0) {
		fk = append((void **)&t->fkeys, &t->n_fkeys, sizeof(*t->fkeys));
		if (fk == NULL)
			return false;
		fk->name = dup_value(b, v[1]);
		fk->ref_schema = dup_value(b, v[4]);
		fk->ref_table = dup_value(b, v[5]);
		if (fk->name == NULL)
			return false;
	}
	n = fk->n_columns;
	c = append((void **)&fk->columns, &n, sizeof(char *));
	n = fk->n_columns;
	rc = append((void **)&fk->ref_columns, &n, sizeof(char *));
	if (c == NULL || rc == NULL)
		return false;
	fk->n_columns = n;
	*c = dup_value(b, v[3]);
	*rc = dup_value(b, v[6]);
	return true;
}

/*
 * Split a PostgreSQL array literal ({a,"b c",NULL}) into at most max elements,
 * each truncated to MCV_MAX_VALUE bytes. Returns the count; *ok false on OOM.
 */
static size_t split_array(const char *s, char **out, size_t max, bool *ok)
{
	size_t n = 0;
	char buf[MCV_MAX_VALUE + 1];

	if (*s != '{')
		return 0;
	s++;
	while (*s != '\0' && *s != '}' && n < max) {
		size_t b = 0;
		if (*s == '"') {
			s++;
			while (*s != '\0' && *s != '"') {
				if (*s == '\\' && s[1] != '\0')
					s++;
				if (b < MCV_MAX_VALUE)
					buf[b++] = *s;
				s++;
			}
			if (*s == '"')
				s++;
		} else {
			while (*s != '\0' && *s != ',' && *s != '}') {
				if (b < MCV_MAX_VALUE)
					buf[b++] = *s;
				s++;
			}
		}
		buf[b] = '\0';
		out[n] = strdup(buf);
		if (out[n] == NULL) {
			*ok = false;
			return n;
		}
		n++;
		if (*s == ',')
			s++;
	}
	return n;
}

/*
 * Keep at most CATALOG_MAX_HIST bounds of a histogram, evenly spaced and
 * always with both ends, so a raised statistics target stays bounded.
 */
static bool load_histogram(struct catalog_stats *s, const char *text)
{
	enum { HIST_READ_MAX = 10001 }; /* the largest statistics target is 10000 */
	bool ok = true;
	char **all = calloc(HIST_READ_MAX, sizeof(char *));

	if (all == NULL)
		return false;
	size_t n = split_array(text, all, HIST_READ_MAX, &ok);
	size_t keep = n < CATALOG_MAX_HIST ? n : CATALOG_MAX_HIST;
	s->hist = ok && keep >= 2 ? calloc(keep, sizeof(char *)) : NULL;
	if (s->hist != NULL) {
		for (size_t i = 0; i < keep; i++) {
			size_t from = keep == n ? i : i * (n - 1) / (keep - 1);
			s->hist[i] = all[from];
			all[from] = NULL;
		}
		s->n_hist = keep;
	} else if (ok && keep >= 2) {
		ok = false;
	}
	for (size_t i = 0; i < n; i++)
		free(all[i]);
	free(all);
	return ok;
}

/* The most common values and their frequencies of one pg_stats row. */
static bool load_mcv(struct catalog_stats *s, const char *vals_text, const char *freqs_text)
{
	char *vals[CATALOG_MAX_MCV], *freqs[CATALOG_MAX_MCV];
	bool ok = true;
	size_t nv = split_array(vals_text, vals, CATALOG_MAX_MCV, &ok);
	size_t nf = split_array(freqs_text, freqs, CATALOG_MAX_MCV, &ok);
	size_t nm = nv < nf ? nv : nf;

	s->mcv_vals = calloc(nm + 1, sizeof(char *));
	s->mcv_freqs = calloc(nm + 1, sizeof(double));
	if (s->mcv_vals == NULL || s->mcv_freqs == NULL)
		ok = false;
	for (size_t i = 0; i < nv; i++) {
		if (ok && i < nm)
			s->mcv_vals[i] = vals[i];
		else
			free(vals[i]);
	}
	for (size_t i = 0; i < nf; i++) {
		if (ok && i < nm) {
			s->mcv_freqs[i] = strtod(freqs[i], NULL);
			if (s->mcv_freqs[i] > s->mcv_max_freq)
				s->mcv_max_freq = s->mcv_freqs[i];
		}
		free(freqs[i]);
	}
	if (ok)
		s->n_mcv = nm;
	return ok;
}

static bool row_stats(struct catalog_builder *b, const char *const *v)
{
	struct catalog_table *t = table_by_oid(b, v[0]);
	struct catalog_column *col;
	struct catalog_stats *s;

	if (t == NULL || v[1] == NULL)
		return true;
	col = (struct catalog_column *)catalog_find_column(t, v[1]);
	/* Rows come non-inherited first: keep the first one per column. */
	if (col == NULL || col->stats.present)
		return true;
	s = &col->stats;
	s->present = true;
	s->null_frac = v[2] != NULL ? strtod(v[2], NULL) : 0;
	s->n_distinct = v[3] != NULL ? strtod(v[3], NULL) : 0;
	if (v[6] != NULL)
		col->width = (int)int_value(v[6]);
	if (v[7] != NULL && !load_histogram(s, v[7]))
		return false;
	if (v[4] == NULL || v[5] == NULL)
		return true;
	return load_mcv(s, v[4], v[5]);
}

bool catalog_builder_row(struct catalog_builder *b, int query, int n, const char *const *values)
{
	static bool (*const handlers[CATALOG_QUERIES])(struct catalog_builder *,
	                                               const char *const *) = {
	    row_table, row_column, row_index, row_index_key, row_fkey, row_stats};
	bool ok;

	if (b->oom || query != b->next_query || n < query_columns[query])
		return false;
	ok = handlers[query](b, values);
	if (!ok)
		b->oom = true;
	return ok && !b->oom;
}

bool catalog_builder_end(struct catalog_builder *b, int query)
{
	if (b->oom || query != b->next_query)
		return false;
	if (query == CATALOG_QUERY_INDEXES && !end_indexes(b)) {
		b->oom = true;
		return false;
	}
	b->next_query++;
	return true;
}

/* Append text to buf (of size) at *used, truncating; false when it did not fit. */
static bool put(char *buf, size_t size, size_t *used, const char *text)
{
	int n = snprintf(buf + *used, size - *used, "%s", text);

	if (n < 0 || (size_t)n >= size - *used) {
		*used = size - 1;
		return false;
	}
	*used += (size_t)n;
	return true;
}

/*
 * The CREATE INDEX statement of ix on t, composed from what was read
 * (operator classes are in the keys, not repeated here): reading
 * pg_get_indexdef() for every index costs a tenth of a millisecond each,
 * which a schema of thousands of tables feels.
 */
static char *compose_definition(const struct catalog_table *t, const struct catalog_index *ix)
{
	char buf[2048];
	size_t used = 0;
	bool ok = true;

	ok = ok &&
	     put(buf, sizeof(buf), &used, ix->unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ");
	ok = ok && put(buf, sizeof(buf), &used, ix->name ? ix->name : "?");
	ok = ok && put(buf, sizeof(buf), &used, " ON ");
	ok = ok && put(buf, sizeof(buf), &used, t->schema ? t->schema : "public");
	ok = ok && put(buf, sizeof(buf), &used, ".");
	ok = ok && put(buf, sizeof(buf), &used, t->name ? t->name : "?");
	ok = ok && put(buf, sizeof(buf), &used, " USING ");
	ok = ok && put(buf, sizeof(buf), &used, catalog_index_method_name(ix->method));
	ok = ok && put(buf, sizeof(buf), &used, " (");
	for (size_t k = 0; ok && k < ix->n_keys; k++) {
		const struct catalog_index_key *key = &ix->keys[k];

		ok = put(buf, sizeof(buf), &used, k ? ", " : "") &&
		     put(buf, sizeof(buf), &used,
		         key->column       ? key->column
		         : key->expression ? key->expression
		                           : "?") &&
		     put(buf, sizeof(buf), &used, key->desc ? " DESC" : "");
	}
	ok = ok && put(buf, sizeof(buf), &used, ")");
	for (size_t k = 0; ok && k < ix->n_include; k++)
		ok = put(buf, sizeof(buf), &used, k ? ", " : " INCLUDE (") &&
		     put(buf, sizeof(buf), &used, ix->include[k]) &&
		     (k + 1 < ix->n_include || put(buf, sizeof(buf), &used, ")"));
	if (ok && ix->predicate != NULL)
		ok = put(buf, sizeof(buf), &used, " WHERE ") &&
		     put(buf, sizeof(buf), &used, ix->predicate);
	return ok ? strdup(buf) : NULL;
}

/* Every index gets its composed definition (NULL when out of memory: it is informational). */
static void compose_definitions(struct catalog *cat)
{
	for (size_t i = 0; i < cat->n_tables; i++) {
		struct catalog_table *t = &cat->tables[i];

		for (size_t j = 0; j < t->n_indexes; j++) {
			if (t->indexes[j].definition != NULL)
				continue;
			t->indexes[j].definition = compose_definition(t, &t->indexes[j]);
		}
	}
}

struct catalog *catalog_builder_finish(struct catalog_builder *b, const char *source, char *err,
                                       size_t errlen)
{
	struct catalog *cat;

	if (b->oom || b->next_query != CATALOG_QUERIES) {
		snprintf(err, errlen, b->oom ? "out of memory" : "schema queries incomplete");
		catalog_builder_free(b);
		return NULL;
	}
	cat = b->cat;
	b->cat = NULL;
	catalog_builder_free(b);
	compose_definitions(cat);
	catalog_prepare_views(cat);
	cat->source = strdup(source);
	if (cat->source == NULL) {
		snprintf(err, errlen, "out of memory");
		catalog_free(cat);
		return NULL;
	}
	catalog_sort(cat);
	return cat;
}
