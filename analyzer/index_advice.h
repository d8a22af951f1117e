/*
 * index_advice.h - what the schema-aware rules share: a query level's relations and predicates,
 * selectivity from pg_stats, and whether an existing index can serve a filter.
 *
 * A rule calls ia_query_collect() for one query level (SELECT, UPDATE or
 * DELETE). It resolves the FROM items against the catalog and classifies the
 * top-level AND conjuncts of WHERE and of every JOIN ... ON into predicates
 * (column = value, range, IN, IS NULL, column = column). Everything in a
 * struct ia_query points into the parse tree and the catalog it was built
 * from; it owns nothing and needs no release. Sizes are bounded: relations and
 * predicates past IA_MAX_RELS / IA_MAX_PREDS are dropped and `truncated` is set,
 * which rules treat as "not sure, stay silent".
 */
#ifndef PGSCOPE_ANALYZER_INDEX_ADVICE_H
#define PGSCOPE_ANALYZER_INDEX_ADVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "analyzer/catalog.h"
#include "analyzer/walk.h"

#define IA_MAX_RELS  32
#define IA_MAX_PREDS 64
/* Longest canonical expression text compared against index expressions. */
#define IA_CANON_MAX 256

/* What a FROM item is. */
enum ia_rel_kind {
	IA_REL_TABLE,    /* a relation name found in the catalog */
	IA_REL_UNKNOWN,  /* a relation name the catalog does not have */
	IA_REL_CTE,      /* a reference to a WITH query of this or an outer level */
	IA_REL_SUBQUERY, /* FROM (SELECT ...) */
	IA_REL_FUNCTION, /* FROM f(...) */
};

struct ia_rel {
	enum ia_rel_kind kind;
	const char *alias;                 /* name columns are qualified with (alias or relname) */
	const char *name;                  /* relation or CTE name; NULL for subqueries/functions */
	const struct catalog_table *table; /* IA_REL_TABLE only */
	const PgQuery__Node *query; /* IA_REL_SUBQUERY / IA_REL_CTE: the query, may be NULL */
	int location;               /* byte offset of the FROM item, -1 if unknown */
};

/* How a predicate constrains its column. */
enum ia_op {
	IA_OP_EQ,        /* col = value */
	IA_OP_IN,        /* col IN (list), col = ANY(array) */
	IA_OP_RANGE,     /* col < > <= >= value (one bound) */
	IA_OP_BETWEEN,   /* col BETWEEN a AND b (both bounds) */
	IA_OP_ISNULL,    /* col IS NULL */
	IA_OP_ISNOTNULL, /* col IS NOT NULL */
	IA_OP_JOIN,      /* col = other_rel.col */
	IA_OP_OTHER,     /* anything else (kept for implication tests) */
};

struct ia_pred {
	const PgQuery__Node *node; /* the conjunct; NULL for JOIN ... USING */
	enum ia_op op;
	bool in_join_on;            /* from JOIN ... ON rather than WHERE */
	int rel;                    /* relation of `column`, -1 when not a resolved plain column */
	const char *column;         /* the constrained plain column, NULL for expressions */
	const PgQuery__Node *expr;  /* the constrained side (column or expression) */
	const PgQuery__Node *value; /* the other side (constant, parameter, list), may be NULL */
	int bound;                  /* IA_OP_RANGE: 1 lower bound (col > v), 2 upper bound */
	size_t n_values;            /* IN: list length, 0 when unknown (array parameter) */
	int rel2;                   /* IA_OP_JOIN: relation of column2 */
	const char *column2;        /* IA_OP_JOIN: the other column */
	int location;               /* byte offset of the predicate */
	int or_rel; /* an OR whose every branch constrains this relation only, else -1 */
};

struct ia_query {
	const struct catalog *cat;
	const struct walk_scope *scope;
	struct ia_rel rels[IA_MAX_RELS];
	size_t n_rels;
	struct ia_pred preds[IA_MAX_PREDS];
	size_t n_preds;
	bool truncated; /* something did not fit: results are incomplete */
	int or_depth;   /* 0, or 1 for the query of one OR branch (ORs inside are not split) */
};

/*
 * Collect the relations and predicates of one query level (scope->select,
 * ->update or ->del; INSERT and others give an empty result). cat may be NULL:
 * every named relation is then IA_REL_UNKNOWN.
 */
void ia_query_collect(struct ia_query *q, const struct catalog *cat,
                      const struct walk_scope *scope);

/* The same for a bare SELECT (e.g. a set-operation branch or a FROM subquery). */
void ia_query_collect_select(struct ia_query *q, const struct catalog *cat,
                             const struct walk_scope *scope, const PgQuery__SelectStmt *sel);

/*
 * Resolve a column reference to a relation of q: returns its index and stores
 * the column name, or -1 when it is ambiguous, unknown or not a column.
 */
int ia_resolve_column(const struct ia_query *q, const PgQuery__Node *node, const char **column);

/* Estimated rows of a catalog table, -1 when unknown (never analyzed). */
double ia_table_rows(const struct catalog_table *t);

/* Number of distinct values of column `col` (n_distinct resolved against rows), -1 if unknown. */
double ia_column_ndistinct(const struct catalog_table *t, const char *col);

/* Selectivity (0..1] of one predicate on its relation; 1 when it cannot be estimated. */
double ia_pred_selectivity(const struct ia_query *q, const struct ia_pred *p);

/*
 * Combined selectivity of the indexable predicates on relation `rel` (product
 * over columns, assuming independence), ORs on that relation included (a OR b
 * keeps a + b - ab); 1 when there are none.
 */
double ia_rel_filter_selectivity(const struct ia_query *q, int rel);

/* The planner's selectivity of "expression = value" without statistics (DEFAULT_EQ_SEL). */
#define IA_EXPR_EQ_SEL 0.005

/*
 * The query of branch i of an OR predicate p (p->or_rel >= 0): q's relations
 * with that branch's conjuncts as the only predicates. Returns false when p
 * has no branch i. Selectivity and index functions then apply to the branch.
 */
bool ia_or_branch(const struct ia_query *q, const struct ia_pred *p, size_t i,
                  struct ia_query *out);

/* Is op one a btree could serve (EQ, IN, RANGE, BETWEEN, ISNULL, ISNOTNULL)? */
bool ia_op_indexable(enum ia_op op);

/*
 * Best selectivity any valid index of relation `rel` can deliver for the
 * indexable predicates on that relation (1.0 when no index can be used).
 * Respects multicolumn prefixes, index methods and operator classes, and
 * partial-index predicates (an index is usable only when the query implies its
 * WHERE). An OR on the relation is served when every branch is (a BitmapOr):
 * its selectivity is then the sum of the branches'. *best (may be NULL)
 * receives the index, or NULL when the best is such an OR.
 */
double ia_best_index_selectivity(const struct ia_query *q, int rel,
                                 const struct catalog_index **best);

/* Does the query's WHERE/ON imply the partial-index predicate text? */
bool ia_query_implies(const struct ia_query *q, int rel, const char *predicate);

/*
 * Canonical text of an expression for comparison with index expressions:
 * lower-case names without qualifiers or pg_catalog, casts of constants
 * dropped. Returns false when the expression has a form it does not handle or
 * does not fit in outlen bytes.
 */
bool ia_canon_expr(const PgQuery__Node *node, char *out, size_t outlen);

/* Canonical text of an index expression as the catalog prints it (parsed with libpg_query). */
bool ia_canon_index_expr(const char *text, char *out, size_t outlen);

/*
 * Is there a valid index on t whose key `key` (0 = leading; -1 = any key) is an
 * expression equal to node? With opclass_sub non-NULL, the key's operator class
 * must contain that text (e.g. "trgm_ops").
 */
const struct catalog_index *ia_find_expression_index(const struct catalog_table *t,
                                                     const PgQuery__Node *node, int key,
                                                     const char *opclass_sub);

/*
 * Column references in an expression (functions, casts, operators, COALESCE
 * over columns and values); the last one found goes to *col. -1 when the
 * expression holds something not followed (a subquery, a window, an
 * aggregate).
 */
int ia_count_columns(const PgQuery__Node *expr, const PgQuery__Node **col);

/* Does a valid btree or hash index have `col` as its leading key (any predicate)? */
const struct catalog_index *ia_find_lookup_index(const struct catalog_table *t, const char *col);

/*
 * Write `CREATE INDEX CONCURRENTLY ON schema.table (c1, c2, ...);` into out,
 * quoting identifiers that need it. Returns false when it does not fit.
 */
bool ia_format_create_index(const struct catalog_table *t, const char *const *cols, size_t n,
                            const char *method, char *out, size_t outlen);

/* Is node a constant, a parameter, or an expression of those only (no columns, no subqueries)? */
bool ia_node_is_value(const PgQuery__Node *node);

/*
 * Which relations return at most one row (or a bounded list): all columns of a
 * unique key are equated to values, IN lists, or columns of relations already
 * pinned. pinned must have q->n_rels entries.
 */
void ia_pinned_rels(const struct ia_query *q, bool *pinned);

/*
 * Columns of rel fixed to one value: compared with `= value`, or (pinned not
 * NULL) joined to a column of a pinned relation. Fills up to max, returns how
 * many.
 */
size_t ia_equality_columns(const struct ia_query *q, int rel, const bool *pinned, const char **cols,
                           size_t max);

/*
 * What a GROUP BY / ORDER BY item means: an ordinal (1, 2) or a bare output
 * column alias is replaced by its target-list expression; anything else is
 * returned as is.
 */
const PgQuery__Node *ia_output_expr(const PgQuery__SelectStmt *sel, const PgQuery__Node *item);

/*
 * "Report once" memory for rules that fire per node: a statement with
 * thousands of identical predicates gets one finding per (rule, key), not
 * thousands. A rule calls ia_seen_reset() from its on_statement callback and
 * ia_seen_first() before reporting; keys are pointers into the catalog.
 * Per thread, at most IA_SEEN_MAX keys per statement (past that, nothing more
 * is reported for the statement).
 */
#define IA_SEEN_MAX 64

struct ia_seen {
	const void *keys[IA_SEEN_MAX][2];
	size_t n;
};

void ia_seen_reset(struct ia_seen *seen);

/* True the first time (a, b) is offered since the last reset (and records it). */
bool ia_seen_first(struct ia_seen *seen, const void *a, const void *b);

/* Does a LIKE pattern start with % or _ (a constant, '%' || x, or concat('%', ...))? */
bool ia_like_leading_wildcard(const PgQuery__Node *pattern);

/* Is the FuncCall node an aggregate (by name, without OVER)? */
bool ia_is_aggregate_call(const PgQuery__Node *node);

/* Does the SELECT's target list hold an aggregate call outside subqueries? */
bool ia_select_has_aggregate(const PgQuery__SelectStmt *sel);

#endif
