/*
 * catalog_pg.c - read a schema snapshot from a live PostgreSQL server through libpq.
 */
#include <stdlib.h>
#include <string.h>

#include "analyzer/catalog.h"
#include "analyzer/catalog_int.h"
#include "analyzer/pq.h"

/* libpq, opened by catalog_load_dsn() (see pq.h). */
static const struct pq_api *pq;

/* User relations: everything outside the system schemas. */
#define USER_REL_FILTER                                                       \
	" n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' " \
	" AND c.relkind IN ('r','p','m','f') "

static const char q_tables[] =
    "SELECT c.oid::int8, n.nspname, c.relname, c.relkind::text, c.reltuples::float8, "
    "c.relpages::int8, pg_relation_size(c.oid) / current_setting('block_size')::int8 "
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
    "pg_get_indexdef(i.indexrelid), i.indnkeyatts "
    "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = "
    "ic.relam JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = "
    "c.relnamespace WHERE" USER_REL_FILTER "ORDER BY 1, ic.relname";

static const char q_index_keys[] =
    "SELECT i.indexrelid::int8, k.ord, k.attnum, a.attname, "
    "pg_get_indexdef(i.indexrelid, k.ord::int, true), opc.opcname, "
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

/* Everything a load needs; tables are in oid order until the end. */
struct loader {
	PGconn *conn;
	struct catalog *cat;
	long long *oids; /* oid of cat->tables[i] */
	struct index_ref {
		long long oid;
		struct catalog_index *ix;
	} * ixrefs;
	size_t n_ixrefs;
	char *err;
	size_t errlen;
};

static PGresult *run_query(struct loader *ld, const char *sql)
{
	PGresult *res = pq->exec(ld->conn, sql);

	if (pq->result_status(res) != PGRES_TUPLES_OK) {
		snprintf(ld->err, ld->errlen, "schema query failed: %s",
		         pq->result_error_message(res));
		pq->clear(res);
		return NULL;
	}
	return res;
}

static struct catalog_table *table_by_oid(struct loader *ld, long long oid)
{
	size_t lo = 0, hi = ld->cat->n_tables;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ld->oids[mid] == oid)
			return &ld->cat->tables[mid];
		if (ld->oids[mid] < oid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static char *dup_value(const PGresult *res, int row, int col, bool *ok)
{
	if (pq->getisnull(res, row, col))
		return NULL;
	char *s = strdup(pq->getvalue(res, row, col));
	if (s == NULL)
		*ok = false;
	return s;
}

static bool bool_value(const PGresult *res, int row, int col)
{
	return !pq->getisnull(res, row, col) && pq->getvalue(res, row, col)[0] == 't';
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

/* End of a row loop: free the result; ok false means an allocation failed. */
static bool finish_rows(struct loader *ld, PGresult *res, bool ok)
{
	pq->clear(res);
	if (!ok)
		snprintf(ld->err, ld->errlen, "out of memory");
	return ok;
}

static bool load_tables(struct loader *ld)
{
	PGresult *res = run_query(ld, q_tables);
	bool ok = true;

	if (res == NULL)
		return false;
	int n = pq->ntuples(res);
	ld->cat->tables = calloc((size_t)n + 1, sizeof(*ld->cat->tables));
	ld->oids = calloc((size_t)n + 1, sizeof(*ld->oids));
	if (ld->cat->tables == NULL || ld->oids == NULL)
		ok = false;
	for (int r = 0; ok && r < n; r++) {
		struct catalog_table *t = &ld->cat->tables[r];
		ld->cat->n_tables++;
		ld->oids[r] = atoll(pq->getvalue(res, r, 0));
		t->schema = dup_value(res, r, 1, &ok);
		t->name = dup_value(res, r, 2, &ok);
		t->kind = pq->getvalue(res, r, 3)[0];
		t->reltuples = strtod(pq->getvalue(res, r, 4), NULL);
		t->relpages = atoll(pq->getvalue(res, r, 5));
		t->cur_pages = atoll(pq->getvalue(res, r, 6));
	}
	return finish_rows(ld, res, ok);
}

static bool load_columns(struct loader *ld)
{
	PGresult *res = run_query(ld, q_columns);
	bool ok = true;

	if (res == NULL)
		return false;
	for (int r = 0; ok && r < pq->ntuples(res); r++) {
		struct catalog_table *t = table_by_oid(ld, atoll(pq->getvalue(res, r, 0)));
		if (t == NULL)
			continue;
		struct catalog_column *c =
		    append((void **)&t->columns, &t->n_columns, sizeof(*t->columns));
		if (c == NULL) {
			ok = false;
			break;
		}
		c->name = dup_value(res, r, 1, &ok);
		c->type = dup_value(res, r, 2, &ok);
		c->not_null = bool_value(res, r, 3);
		c->attnum = atoi(pq->getvalue(res, r, 4));
		c->width = atoi(pq->getvalue(res, r, 5));
	}
	return finish_rows(ld, res, ok);
}

static int ixref_cmp(const void *x, const void *y)
{
	const struct index_ref *a = x, *b = y;

	return a->oid < b->oid ? -1 : a->oid > b->oid;
}

static bool load_indexes(struct loader *ld)
{
	PGresult *res = run_query(ld, q_indexes);
	bool ok = true;

	if (res == NULL)
		return false;
	int n = pq->ntuples(res);
	long long *ixoids = calloc((size_t)n + 1, sizeof(*ixoids));
	size_t *ixidx = calloc((size_t)n + 1, sizeof(*ixidx));
	struct catalog_table **ixtab = calloc((size_t)n + 1, sizeof(struct catalog_table *));
	if (ixoids == NULL || ixidx == NULL || ixtab == NULL)
		ok = false;
	size_t kept = 0;
	for (int r = 0; ok && r < n; r++) {
		struct catalog_table *t = table_by_oid(ld, atoll(pq->getvalue(res, r, 0)));
		if (t == NULL)
			continue;
		struct catalog_index *ix =
		    append((void **)&t->indexes, &t->n_indexes, sizeof(*t->indexes));
		if (ix == NULL) {
			ok = false;
			break;
		}
		ixoids[kept] = atoll(pq->getvalue(res, r, 1));
		ixtab[kept] = t;
		ixidx[kept] = t->n_indexes - 1;
		kept++;
		ix->name = dup_value(res, r, 2, &ok);
		ix->method = catalog_index_method_from_name(pq->getvalue(res, r, 3));
		ix->unique = bool_value(res, r, 4);
		ix->primary = bool_value(res, r, 5);
		ix->valid = bool_value(res, r, 6);
		ix->predicate = dup_value(res, r, 7, &ok);
		ix->definition = dup_value(res, r, 8, &ok);
		/* n_keys is filled by load_index_keys; remember the key count in n_include. */
		ix->n_include = (size_t)atoi(pq->getvalue(res, r, 9));
	}
	pq->clear(res);
	/* Pointers are stable now that every table's index array is complete. */
	if (ok) {
		ld->ixrefs = calloc(kept + 1, sizeof(*ld->ixrefs));
		ok = ld->ixrefs != NULL;
	}
	for (size_t i = 0; ok && i < kept; i++) {
		ld->ixrefs[i].oid = ixoids[i];
		ld->ixrefs[i].ix = &ixtab[i]->indexes[ixidx[i]];
	}
	if (ok) {
		ld->n_ixrefs = kept;
		qsort(ld->ixrefs, kept, sizeof(*ld->ixrefs), ixref_cmp);
	}
	free(ixoids);
	free(ixidx);
	free(ixtab);
	if (!ok)
		snprintf(ld->err, ld->errlen, "out of memory");
	return ok;
}

static struct catalog_index *index_by_oid(struct loader *ld, long long oid)
{
	struct index_ref key = {.oid = oid};
	struct index_ref *r = bsearch(&key, ld->ixrefs, ld->n_ixrefs, sizeof(key), ixref_cmp);

	return r != NULL ? r->ix : NULL;
}

static bool load_index_keys(struct loader *ld)
{
	PGresult *res = run_query(ld, q_index_keys);
	bool ok = true;

	if (res == NULL)
		return false;
	/* Pass 1: n_include holds the key count from load_indexes; reset the arrays. */
	for (size_t i = 0; i < ld->n_ixrefs; i++) {
		struct catalog_index *ix = ld->ixrefs[i].ix;
		size_t nkey = ix->n_include;
		ix->n_include = 0;
		ix->keys = calloc(nkey + 1, sizeof(*ix->keys));
		if (ix->keys == NULL)
			ok = false;
	}
	for (int r = 0; ok && r < pq->ntuples(res); r++) {
		struct catalog_index *ix = index_by_oid(ld, atoll(pq->getvalue(res, r, 0)));
		if (ix == NULL)
			continue;
		bool is_column = !pq->getisnull(res, r, 3);
		/* Opclass is NULL for INCLUDE columns: they are not keys. */
		if (pq->getisnull(res, r, 5)) {
			if (!is_column)
				continue;
			char **slot = append((void **)&ix->include, &ix->n_include, sizeof(char *));
			if (slot == NULL) {
				ok = false;
				break;
			}
			*slot = dup_value(res, r, 3, &ok);
			continue;
		}
		struct catalog_index_key *k = &ix->keys[ix->n_keys++];
		if (is_column)
			k->column = dup_value(res, r, 3, &ok);
		else
			k->expression = dup_value(res, r, 4, &ok);
		k->opclass = dup_value(res, r, 5, &ok);
		k->desc = bool_value(res, r, 6);
	}
	return finish_rows(ld, res, ok);
}

static bool load_fkeys(struct loader *ld)
{
	PGresult *res = run_query(ld, q_fkeys);
	bool ok = true;

	if (res == NULL)
		return false;
	for (int r = 0; ok && r < pq->ntuples(res); r++) {
		struct catalog_table *t = table_by_oid(ld, atoll(pq->getvalue(res, r, 0)));
		if (t == NULL)
			continue;
		const char *name = pq->getvalue(res, r, 1);
		struct catalog_fkey *fk = t->n_fkeys > 0 ? &t->fkeys[t->n_fkeys - 1] : NULL;
		if (fk == NULL || strcmp(fk->name, name) != 0) {
			fk = append((void **)&t->fkeys, &t->n_fkeys, sizeof(*t->fkeys));
			if (fk == NULL) {
				ok = false;
				break;
			}
			fk->name = dup_value(res, r, 1, &ok);
			fk->ref_schema = dup_value(res, r, 4, &ok);
			fk->ref_table = dup_value(res, r, 5, &ok);
		}
		size_t n = fk->n_columns;
		char **c = append((void **)&fk->columns, &n, sizeof(char *));
		n = fk->n_columns;
		char **rc = append((void **)&fk->ref_columns, &n, sizeof(char *));
		if (c == NULL || rc == NULL) {
			ok = false;
			break;
		}
		fk->n_columns = n;
		*c = dup_value(res, r, 3, &ok);
		*rc = dup_value(res, r, 6, &ok);
	}
	return finish_rows(ld, res, ok);
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

static bool load_stats(struct loader *ld)
{
	PGresult *res = run_query(ld, q_stats);
	bool ok = true;

	if (res == NULL)
		return false;
	for (int r = 0; ok && r < pq->ntuples(res); r++) {
		struct catalog_table *t = table_by_oid(ld, atoll(pq->getvalue(res, r, 0)));
		if (t == NULL)
			continue;
		struct catalog_column *col =
		    (struct catalog_column *)catalog_find_column(t, pq->getvalue(res, r, 1));
		/* Rows come non-inherited first: keep the first one per column. */
		if (col == NULL || col->stats.present)
			continue;
		struct catalog_stats *s = &col->stats;
		s->present = true;
		s->null_frac = strtod(pq->getvalue(res, r, 2), NULL);
		s->n_distinct = strtod(pq->getvalue(res, r, 3), NULL);
		if (!pq->getisnull(res, r, 6))
			col->width = atoi(pq->getvalue(res, r, 6));
		if (!pq->getisnull(res, r, 7))
			ok = load_histogram(s, pq->getvalue(res, r, 7));
		if (pq->getisnull(res, r, 4) || pq->getisnull(res, r, 5))
			continue;
		char *vals[CATALOG_MAX_MCV], *freqs[CATALOG_MAX_MCV];
		size_t nv = split_array(pq->getvalue(res, r, 4), vals, CATALOG_MAX_MCV, &ok);
		size_t nf = split_array(pq->getvalue(res, r, 5), freqs, CATALOG_MAX_MCV, &ok);
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
	}
	return finish_rows(ld, res, ok);
}

struct catalog *catalog_load_dsn(const char *dsn, char *err, size_t errlen)
{
	struct loader ld = {.err = err, .errlen = errlen};

	pq = pq_load(err, errlen);
	if (pq == NULL)
		return NULL;
	ld.conn = pq->connectdb(dsn);
	if (pq->status(ld.conn) != CONNECTION_OK) {
		snprintf(err, errlen, "connecting for the schema: %s", pq->error_message(ld.conn));
		pq->finish(ld.conn);
		return NULL;
	}
	ld.cat = calloc(1, sizeof(*ld.cat));
	if (ld.cat == NULL || (ld.cat->source = strdup("dsn")) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_fail;
	}
	/* One snapshot for all queries, so tables, indexes and stats agree. */
	PGresult *res = pq->exec(ld.conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	pq->clear(res);
	if (!load_tables(&ld) || !load_columns(&ld) || !load_indexes(&ld) ||
	    !load_index_keys(&ld) || !load_fkeys(&ld) || !load_stats(&ld))
		goto out_fail;
	pq->clear(pq->exec(ld.conn, "COMMIT"));
	pq->finish(ld.conn);
	free(ld.oids);
	free(ld.ixrefs);
	catalog_sort(ld.cat);
	return ld.cat;

out_fail:
	pq->finish(ld.conn);
	free(ld.oids);
	free(ld.ixrefs);
	catalog_free(ld.cat);
	return NULL;
}
