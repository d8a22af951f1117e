/*
 * walk.h - a generic walk over a libpg_query protobuf tree with query-level context.
 *
 * The walker visits every PgQuery__Node below a root, depth first, using
 * protobuf-c's message descriptors, so it needs no update when the grammar grows.
 * For each node it says which query level it belongs to (SELECT / INSERT /
 * UPDATE / DELETE, how that level is embedded in its parent) and which clause of
 * that level it is in (target list, FROM, JOIN ... ON, WHERE, ...), so rules can
 * stay small. The walk is bounded: nodes nested deeper than WALK_MAX_DEPTH are
 * not descended into.
 */
#ifndef PGSCOPE_ANALYZER_WALK_H
#define PGSCOPE_ANALYZER_WALK_H

#include <stdbool.h>
#include <stddef.h>

#include <pg_query/pg_query.pb-c.h>

/* Nodes nested deeper than this are skipped (their subtree is not visited). */
#define WALK_MAX_DEPTH 1000

/* How a query level is embedded in the enclosing one. */
enum walk_scope_kind {
	WALK_SCOPE_TOP,           /* the statement itself */
	WALK_SCOPE_SETOP_BRANCH,  /* a branch of UNION/INTERSECT/EXCEPT: same output as outer */
	WALK_SCOPE_FROM_SUBQUERY, /* FROM (SELECT ...) alias, incl. LATERAL */
	WALK_SCOPE_CTE,           /* WITH name AS (...) */
	WALK_SCOPE_SUBLINK, /* expression subquery: EXISTS, IN, ANY/ALL, scalar; see sublink_type */
	WALK_SCOPE_INSERT_SOURCE, /* INSERT ... SELECT */
	WALK_SCOPE_OTHER, /* anything else (CREATE TABLE AS, VIEW, COPY (query), EXPLAIN, ...) */
};

/* Which clause of its query level a node sits in. */
enum walk_clause {
	WALK_CLAUSE_NONE,   /* the query node itself, or no clause of interest */
	WALK_CLAUSE_TARGET, /* SELECT list */
	WALK_CLAUSE_FROM, /* FROM items (relations, joins, subqueries), UPDATE FROM, DELETE USING */
	WALK_CLAUSE_JOIN_ON,   /* JOIN ... ON quals (also USING) */
	WALK_CLAUSE_WHERE,     /* WHERE */
	WALK_CLAUSE_GROUP,     /* GROUP BY */
	WALK_CLAUSE_HAVING,    /* HAVING */
	WALK_CLAUSE_WINDOW,    /* WINDOW definitions */
	WALK_CLAUSE_ORDER,     /* ORDER BY */
	WALK_CLAUSE_LIMIT,     /* LIMIT / FETCH FIRST count */
	WALK_CLAUSE_OFFSET,    /* OFFSET */
	WALK_CLAUSE_VALUES,    /* VALUES lists */
	WALK_CLAUSE_SET,       /* UPDATE SET targets, INSERT column list */
	WALK_CLAUSE_RETURNING, /* RETURNING list */
	WALK_CLAUSE_WITH,      /* WITH clause (the CTE definitions) */
	WALK_CLAUSE_RELATION,  /* target relation of INSERT/UPDATE/DELETE */
	WALK_CLAUSE_OTHER,     /* DISTINCT ON, locking clauses, ON CONFLICT, ... */
};

/* One query level (a SELECT, INSERT, UPDATE or DELETE), linked to its enclosing level. */
struct walk_scope {
	const struct walk_scope *outer; /* enclosing level, NULL at the top */
	enum walk_scope_kind kind;      /* how this level is embedded in outer */
	PgQuery__SubLinkType
	    sublink_type; /* for WALK_SCOPE_SUBLINK: EXISTS_SUBLINK, ANY_SUBLINK, ... */
	enum walk_clause outer_clause;     /* the clause of outer this level sits in */
	int depth;                         /* query nesting depth: 0 for the statement */
	const ProtobufCMessage *query;     /* this level's statement message */
	const PgQuery__SelectStmt *select; /* == query when it is a SELECT, else NULL */
	const PgQuery__InsertStmt *insert; /* == query when it is an INSERT, else NULL */
	const PgQuery__UpdateStmt *update; /* == query when it is an UPDATE, else NULL */
	const PgQuery__DeleteStmt *del;    /* == query when it is a DELETE, else NULL */
};

/* Where a visited node is. */
struct walk_pos {
	const struct walk_scope
	    *scope;              /* innermost query level containing the node (NULL outside any) */
	enum walk_clause clause; /* clause of scope the node is in */
	const PgQuery__Node *parent; /* nearest enclosing PgQuery__Node, NULL for the root */
	int depth;                   /* node nesting depth from the root */
};

/* Callbacks of a walk; any may be NULL. */
struct walk_callbacks {
	/* Entering a query level, before its nodes are visited. */
	void (*enter_query)(const struct walk_scope *scope, void *arg);
	/* Leaving a query level, after all its nodes. */
	void (*leave_query)(const struct walk_scope *scope, void *arg);
	/* Every PgQuery__Node; return false to skip its subtree. */
	bool (*node)(const PgQuery__Node *node, const struct walk_pos *pos, void *arg);
	void *arg;
};

/*
 * Walk the tree under root (usually a top-level statement node from struct
 * parse_stmt). Callbacks run synchronously; scope and pos pointers are valid only
 * during the callback.
 */
void walk_tree(const PgQuery__Node *root, const struct walk_callbacks *cb);

/*
 * Byte offset recorded in node's `location` field (into the parsed text), or
 * -1 when the node has none or it is unknown.
 */
int walk_node_location(const PgQuery__Node *node);

/* The inner message of a node (the member of its oneof), or NULL. */
const ProtobufCMessage *walk_node_message(const PgQuery__Node *node);

/* The string of a String node (e.g. a ColumnRef field), or NULL for any other node. */
const char *walk_node_string(const PgQuery__Node *node);

/*
 * If node is an integer constant (A_Const ival, or a Float that fits), store it
 * in *out and return true.
 */
bool walk_node_int_const(const PgQuery__Node *node, long long *out);

/*
 * Name of a column reference: the last field in *column and the one before it
 * (table or alias) in *qualifier (NULL when unqualified). Returns false for
 * anything but a ColumnRef ending in a name (e.g. t.*).
 */
bool walk_column_ref(const PgQuery__Node *node, const char **qualifier, const char **column);

/* Is node a query parameter ($1)? */
bool walk_node_is_param(const PgQuery__Node *node);

/*
 * The leaf items of a FROM list (RangeVar, RangeSubselect, RangeFunction, ...),
 * with JoinExpr trees flattened, in textual order. Stores up to max pointers in
 * out and returns how many leaves there are (which may exceed max).
 */
size_t walk_from_leaves(PgQuery__Node *const *from, size_t n, const PgQuery__Node **out,
                        size_t max);

/* The name a FROM item is referenced by: its alias, else a RangeVar's relname; NULL if none. */
const char *walk_from_item_name(const PgQuery__Node *item);

/*
 * The CTE called name that a FROM reference in scope would resolve to (WITH
 * clauses of scope and its enclosing levels, innermost first), or NULL. Only
 * unqualified names can name a CTE.
 */
const PgQuery__CommonTableExpr *walk_find_cte(const struct walk_scope *scope, const char *name);

/* Does the subtree under node contain a query parameter ($n)? */
bool walk_contains_param(const PgQuery__Node *node);

#endif
