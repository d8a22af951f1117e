/*
 * catalog.h - a snapshot of a database schema: tables, columns, indexes, foreign keys, statistics.
 *
 * Read from a live server through libpq (catalog_load_dsn) or from the JSON
 * that `pgscope schema` writes (catalog_load_json / catalog_load_file). The
 * snapshot is immutable once loaded, so any number of threads may read it.
 * Everything in it is owned by the struct catalog and freed by catalog_free().
 *
 * Names are stored as PostgreSQL reports them (already case-folded); lookups
 * compare exactly, so callers pass identifiers as the parser returns them.
 */
#ifndef PGSCOPE_ANALYZER_CATALOG_H
#define PGSCOPE_ANALYZER_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Summary of pg_stats for one column. */
struct catalog_stats {
	bool present;        /* false: the column has no pg_stats row (never analyzed) */
	double null_frac;    /* fraction of rows that are NULL */
	double n_distinct;   /* > 0: distinct values; < 0: -(fraction of rows); as in pg_stats */
	size_t n_mcv;        /* entries in mcv_vals / mcv_freqs (at most CATALOG_MAX_MCV) */
	char **mcv_vals;     /* most common values as text, owned */
	double *mcv_freqs;   /* their frequencies, owned */
	double mcv_max_freq; /* largest entry of mcv_freqs (0 if none) */
	size_t n_hist;       /* entries in hist (at most CATALOG_MAX_HIST) */
	char **hist;         /* histogram_bounds as text, ascending, owned; NULL if none */
};

/* Histogram bounds kept per column: the default statistics target gives 101. */
#define CATALOG_MAX_HIST 101

/* Most common values kept per column: enough for selectivity, bounded in size. */
#define CATALOG_MAX_MCV 10

struct catalog_column {
	char *name;    /* attname */
	char *type;    /* format_type() text, e.g. "character varying(40)" */
	bool not_null; /* attnotnull */
	int attnum;    /* 1-based attribute number */
	int width; /* planner's average width in bytes (pg_stats avg_width, else from the type) */
	struct catalog_stats stats;
};

/* Index access methods rules distinguish. */
enum catalog_index_method {
	CATALOG_INDEX_BTREE,
	CATALOG_INDEX_HASH,
	CATALOG_INDEX_GIN,
	CATALOG_INDEX_GIST,
	CATALOG_INDEX_BRIN,
	CATALOG_INDEX_SPGIST,
	CATALOG_INDEX_OTHER,
};

/* One key of an index, in index order. */
struct catalog_index_key {
	char *column;     /* plain column name, or NULL when the key is an expression */
	char *expression; /* expression text as pg_get_indexdef prints it, or NULL */
	char *opclass;    /* operator class name, e.g. "gin_trgm_ops", "int4_ops" */
	bool desc;        /* DESC key */
};

struct catalog_index {
	char *name;
	enum catalog_index_method method;
	struct catalog_index_key *keys; /* n_keys entries (key columns only) */
	size_t n_keys;
	char **include; /* INCLUDE columns, n_include entries */
	size_t n_include;
	bool unique;
	bool primary;
	bool valid; /* indisvalid: false while CREATE INDEX CONCURRENTLY runs or after it failed */
	char *predicate;  /* WHERE text of a partial index, or NULL */
	char *definition; /* pg_get_indexdef() text */
};

struct catalog_fkey {
	char *name;
	char **columns; /* referencing columns, n_columns entries */
	size_t n_columns;
	char *ref_schema;
	char *ref_table;
	char **ref_columns; /* referenced columns, n_columns entries */
};

struct catalog_table {
	char *schema;
	char *name;
	char kind; /* relkind: 'r' table, 'p' partitioned, 'm' matview, 'v' view, 'f' foreign */
	double reltuples; /* planner's row estimate; < 0 when never analyzed/vacuumed */
	int64_t relpages;
	int64_t cur_pages; /* pages on disk now (pg_relation_size), -1 when not known */
	struct catalog_column *columns;
	size_t n_columns;
	struct catalog_index *indexes;
	size_t n_indexes;
	struct catalog_fkey *fkeys;
	size_t n_fkeys;
	char *view_sql;                /* kind 'v': its query (pg_get_viewdef), owned; else NULL */
	struct parse_tree *view_parse; /* that query parsed (catalog_prepare_views()), owned;
	                                  NULL when there is none or it did not parse */
};

struct parse_tree;

struct catalog {
	char *source; /* where it came from: a file name or "dsn" (never the DSN itself) */
	struct catalog_table *tables;
	size_t n_tables;
};

/*
 * Read the schema of every user table (not pg_catalog / information_schema /
 * pg_toast) through libpq. Returns a catalog the caller frees with
 * catalog_free(), or NULL with a message in err.
 */
struct catalog *catalog_load_dsn(const char *dsn, char *err, size_t errlen);

/*
 * Building a snapshot from rows, however they arrive. Run the
 * CATALOG_QUERIES queries (catalog_builder_query(0..)) in order, in one
 * snapshot (CATALOG_SNAPSHOT_BEGIN ... COMMIT), hand each row to
 * catalog_builder_row() as text values (NULL for SQL NULL) and end each
 * query with catalog_builder_end(). catalog_builder_finish() returns the
 * catalog (the caller frees it with catalog_free()) and frees the builder;
 * catalog_builder_free() abandons one. Not thread-safe; one builder per load.
 */
struct catalog_builder;

#define CATALOG_QUERIES        6
#define CATALOG_QUERY_INDEXES  2 /* the query after which index pointers are final */
#define CATALOG_SNAPSHOT_BEGIN "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

/* The SQL of query number QUERY (0 .. CATALOG_QUERIES-1), or NULL. */
const char *catalog_builder_query(int query);

/* A new, empty builder; NULL when out of memory. */
struct catalog_builder *catalog_builder_new(void);

/* One row of query QUERY with N columns; false when it is out of order, too narrow or OOM. */
bool catalog_builder_row(struct catalog_builder *b, int query, int n, const char *const *values);

/* Query QUERY has no more rows; false when out of order or out of memory. */
bool catalog_builder_end(struct catalog_builder *b, int query);

/* The catalog built, named SOURCE; NULL with a message in err. Frees b either way. */
struct catalog *catalog_builder_finish(struct catalog_builder *b, const char *source, char *err,
                                       size_t errlen);

/* Abandon a build (NULL is ignored). */
void catalog_builder_free(struct catalog_builder *b);

/* Parse the JSON written by catalog_write_json(). NULL with err (incl. position) on error. */
struct catalog *catalog_load_json(const char *text, size_t len, char *err, size_t errlen);

/* catalog_load_json() on a file's contents ("-" reads stdin). */
struct catalog *catalog_load_file(const char *path, char *err, size_t errlen);

/* Write the catalog as JSON. Returns 0, or -1 on a write error. */
int catalog_write_json(const struct catalog *cat, FILE *out);

void catalog_free(struct catalog *cat);

/*
 * Parse each view's query (view_sql into view_parse), so rules can read a
 * view as the query it stands for. The loaders call it; a view whose query
 * does not parse stays unparsed (and is then a relation of unknown size).
 */
void catalog_prepare_views(struct catalog *cat);

/*
 * Find a table. schema NULL means unqualified: look in "public" first, then in
 * any schema if the name is unique across schemas. Returns NULL when absent.
 */
const struct catalog_table *catalog_find_table(const struct catalog *cat, const char *schema,
                                               const char *name);

/* Find a column of t by name; NULL when absent. */
const struct catalog_column *catalog_find_column(const struct catalog_table *t, const char *name);

/*
 * Estimated rows of t: reltuples when the table has been analyzed; otherwise,
 * as the planner does, its current pages times the rows a page holds at the
 * columns' average widths (at least 10 pages for a table never analyzed);
 * -1 (unknown) when the snapshot has neither. Rules treat unknown as "could be
 * large".
 */
double catalog_table_rows(const struct catalog_table *t);

/*
 * Is there a valid, non-partial index whose leading plain-column keys are
 * exactly cols[0..n) in some order (as a set, since equality columns may come
 * in any order)? With prefix_ok the index may have further keys after them.
 * Returns the first such index or NULL. Only btree (and hash when n == 1 and the
 * index has one key) count, since only they serve equality/range lookups on
 * leading columns.
 */
const struct catalog_index *catalog_find_index_on(const struct catalog_table *t,
                                                  const char *const *cols, size_t n,
                                                  bool prefix_ok);

/* Does t have a column index whose first key is column `col`? (any method, valid, any predicate) */
const struct catalog_index *catalog_find_index_leading(const struct catalog_table *t,
                                                       const char *col);

/*
 * Is the set cols[0..n) a superset of the key columns of some valid,
 * non-partial unique index or the primary key? Then a row is identified by
 * equality on those columns.
 */
bool catalog_is_unique_key(const struct catalog_table *t, const char *const *cols, size_t n);

/* pg_stats summary of column `col` of t, or NULL if the column is absent or has no stats. */
const struct catalog_stats *catalog_column_stats(const struct catalog_table *t, const char *col);

/* "btree", "hash", ... for method. */
const char *catalog_index_method_name(enum catalog_index_method method);

/* The method named by s ("btree", ...); CATALOG_INDEX_OTHER for unknown names. */
enum catalog_index_method catalog_index_method_from_name(const char *s);

#endif
