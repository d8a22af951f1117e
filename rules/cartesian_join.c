/*
 * cartesian_join.c - rule cartesian-join: relations in one FROM with no predicate connecting them.
 *
 * Per query level (SELECT, UPDATE ... FROM, DELETE ... USING) the FROM items
 * are grouped by the predicates that mention two or more of them (WHERE and
 * JOIN ... ON conjuncts, USING/NATURAL joins, LATERAL references). More than
 * one group means every row of one group pairs with every row of another.
 *
 * To keep every flag trustworthy, items that cannot multiply rows are left
 * out: set-returning functions and VALUES (deliberate generators), subqueries
 * and CTEs that return one row (aggregate without GROUP BY, LIMIT 1), tables
 * the schema says hold at most one row, and tables pinned to one row by
 * equality on a unique key (with a schema) or on a column named id (without).
 * A predicate whose columns cannot be attributed (unqualified names without a
 * schema) is assumed to connect everything it could.
 */
#include <stdio.h>
#include <string.h>

#include "analyzer/rule.h"

/* FROM items considered per level; larger FROM lists are skipped, not guessed at. */
#define CJ_MAX_UNITS 64

/* Conjuncts considered per level. */
#define CJ_MAX_CONJUNCTS 256

struct cj_unit {
	const PgQuery__Node *leaf;         /* the FROM item */
	const char *name;                  /* alias or table name */
	const struct catalog_table *table; /* when a RangeVar found in the schema */
	int location;                      /* for the report */
	bool counted;                      /* can multiply rows */
	int parent;                        /* union-find */
};

struct cj_state {
	struct rule_ctx *ctx;
	const struct walk_scope *scope;
	struct cj_unit units[CJ_MAX_UNITS];
	size_t n_units;
	const PgQuery__Node *conj[CJ_MAX_CONJUNCTS];
	size_t n_conj;
	bool overflow;
};

static int uf_find(struct cj_state *st, int i)
{
	while (st->units[i].parent != i) {
		st->units[i].parent = st->units[st->units[i].parent].parent;
		i = st->units[i].parent;
	}
	return i;
}

static void uf_union(struct cj_state *st, int a, int b)
{
	a = uf_find(st, a);
	b = uf_find(st, b);
	if (a != b)
		st->units[b].parent = a;
}

static bool is_func_named(const PgQuery__Node *n, const char *const *names)
{
	if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_FUNC_CALL)
		return false;
	const PgQuery__FuncCall *fc = n->func_call;
	if (fc->over != NULL)
		return false;
	if (fc->agg_star || fc->n_agg_order > 0 || fc->agg_filter != NULL)
		return true;
	const char *name = walk_node_string(fc->funcname[fc->n_funcname - 1]);
	for (size_t i = 0; name != NULL && names[i] != NULL; i++) {
		if (strcmp(name, names[i]) == 0)
			return true;
	}
	return false;
}

/* Does sel return at most one row: aggregates without GROUP BY, LIMIT 1, or no FROM? */
static bool select_single_row(const PgQuery__SelectStmt *sel)
{
	static const char *const aggs[] = {
	    "count",
	    "sum",
	    "min",
	    "max",
	    "avg",
	    "array_agg",
	    "string_agg",
	    "bool_and",
	    "bool_or",
	    "every",
	    "json_agg",
	    "jsonb_agg",
	    "json_object_agg",
	    "jsonb_object_agg",
	    "stddev",
	    "variance",
	    "bit_and",
	    "bit_or",
	    NULL,
	};
	long long limit;

	if (sel == NULL || sel->op != PG_QUERY__SET_OPERATION__SETOP_NONE)
		return false;
	if (sel->n_values_lists > 0)
		return sel->n_values_lists == 1;
	if (sel->limit_count != NULL && walk_node_int_const(sel->limit_count, &limit) && limit <= 1)
		return true;
	if (sel->n_from_clause == 0)
		return true;
	if (sel->n_group_clause > 0 || sel->n_target_list == 0)
		return false;
	for (size_t i = 0; i < sel->n_target_list; i++) {
		const PgQuery__Node *t = sel->target_list[i];
		if (t->node_case != PG_QUERY__NODE__NODE_RES_TARGET ||
		    !is_func_named(t->res_target->val, aggs))
			return false;
	}
	return true;
}

static bool query_node_single_row(const PgQuery__Node *q)
{
	return q != NULL && q->node_case == PG_QUERY__NODE__NODE_SELECT_STMT &&
	       select_single_row(q->select_stmt);
}

static void add_unit(struct cj_state *st, const PgQuery__Node *leaf)
{
	if (st->n_units == CJ_MAX_UNITS) {
		st->overflow = true;
		return;
	}
	struct cj_unit *u = &st->units[st->n_units];
	memset(u, 0, sizeof(*u));
	u->leaf = leaf;
	u->name = walk_from_item_name(leaf);
	u->parent = (int)st->n_units;
	u->location = -1;
	st->n_units++;
	if (u->name == NULL)
		return;
	if (leaf->node_case == PG_QUERY__NODE__NODE_RANGE_VAR) {
		const PgQuery__RangeVar *rv = leaf->range_var;
		bool unqualified = rv->schemaname == NULL || rv->schemaname[0] == '\0';
		const PgQuery__CommonTableExpr *cte =
		    unqualified ? walk_find_cte(st->scope, rv->relname) : NULL;
		u->location = rv->location;
		if (cte != NULL) {
			u->counted = !query_node_single_row(cte->ctequery);
			return;
		}
		u->table = catalog_find_table(st->ctx->catalog, unqualified ? NULL : rv->schemaname,
		                              rv->relname);
		double rows = catalog_table_rows(u->table);
		u->counted = !(u->table != NULL && rows >= 0 && rows <= 1);
		return;
	}
	if (leaf->node_case == PG_QUERY__NODE__NODE_RANGE_SUBSELECT) {
		const PgQuery__Node *q = leaf->range_subselect->subquery;
		u->counted = !query_node_single_row(q);
		u->location = walk_node_location(q);
	}
	/* Functions, VALUES in FROM, table samples and the like are not counted. */
}

static int unit_by_name(const struct cj_state *st, const char *name)
{
	for (size_t i = 0; name != NULL && i < st->n_units; i++) {
		if (st->units[i].name != NULL && strcmp(st->units[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

/* The units a column name could belong to, by schema; -1 none, -2 several or unknown. */
static int unit_by_column(const struct cj_state *st, const char *col)
{
	int found = -1;

	for (size_t i = 0; i < st->n_units; i++) {
		const struct cj_unit *u = &st->units[i];
		if (u->table == NULL) {
			/* A FROM item whose columns we do not know could have it. */
			if (u->name != NULL)
				return -2;
			continue;
		}
		if (catalog_find_column(u->table, col) == NULL)
			continue;
		if (found >= 0)
			return -2;
		found = (int)i;
	}
	return found;
}

/* Column references of one predicate, attributed to units. */
struct cj_refs {
	const struct cj_state *st;
	bool mask[CJ_MAX_UNITS];
	size_t n_refs; /* column references seen */
	bool wild;     /* some reference could not be attributed */
};

static bool collect_ref(const PgQuery__Node *node, const struct walk_pos *pos, void *arg)
{
	struct cj_refs *r = arg;
	const PgQuery__ColumnRef *c;
	const char *qual = NULL, *col = NULL;

	if (node->node_case != PG_QUERY__NODE__NODE_COLUMN_REF)
		return true;
	c = node->column_ref;
	if (c->n_fields == 0)
		return false;
	r->n_refs++;
	if (c->n_fields >= 2)
		qual = walk_node_string(c->fields[c->n_fields - 2]);
	else
		col = walk_node_string(c->fields[0]);
	if (qual != NULL) {
		int u = unit_by_name(r->st, qual);
		if (u >= 0)
			r->mask[u] = true;
		return false;
	}
	if (col == NULL) {
		r->wild = true;
		return false;
	}
	int u = unit_by_column(r->st, col);
	if (u >= 0)
		r->mask[u] = true;
	else if (u == -2)
		r->wild = true;
	return false;
}

/* Connect the units one predicate mentions. */
static void connect_predicate(struct cj_state *st, const PgQuery__Node *pred)
{
	struct cj_refs r = {.st = st};
	struct walk_callbacks cb = {.node = collect_ref, .arg = &r};
	int first = -1;

	walk_tree(pred, &cb);
	if (r.wild && r.n_refs >= 2) {
		for (size_t i = 1; i < st->n_units; i++)
			uf_union(st, 0, (int)i);
		return;
	}
	for (size_t i = 0; i < st->n_units; i++) {
		if (!r.mask[i])
			continue;
		if (first < 0)
			first = (int)i;
		else
			uf_union(st, first, (int)i);
	}
}

static void add_conjuncts(struct cj_state *st, const PgQuery__Node *expr)
{
	if (expr == NULL)
		return;
	if (expr->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR &&
	    expr->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR) {
		for (size_t i = 0; i < expr->bool_expr->n_args; i++)
			add_conjuncts(st, expr->bool_expr->args[i]);
		return;
	}
	if (st->n_conj == CJ_MAX_CONJUNCTS) {
		st->overflow = true;
		return;
	}
	st->conj[st->n_conj++] = expr;
}

/* Walk JoinExprs: ON quals become conjuncts, USING/NATURAL connect both sides. */
static size_t scan_joins(struct cj_state *st, const PgQuery__Node *item, size_t first, int depth)
{
	if (item == NULL || depth > 100)
		return first;
	if (item->node_case != PG_QUERY__NODE__NODE_JOIN_EXPR)
		return first + 1;
	const PgQuery__JoinExpr *j = item->join_expr;
	size_t mid = scan_joins(st, j->larg, first, depth + 1);
	size_t end = scan_joins(st, j->rarg, mid, depth + 1);
	if (j->is_natural || j->n_using_clause > 0) {
		for (size_t i = first + 1; i < end && i < st->n_units; i++)
			uf_union(st, (int)first, (int)i);
	}
	add_conjuncts(st, j->quals);
	return end;
}

/* Is unit u pinned to one row by an equality conjunct on a unique key (or "id" without schema)? */
static bool pinned_to_one_row(struct cj_state *st, size_t u)
{
	const char *cols[16];
	size_t n = 0;

	for (size_t i = 0; i < st->n_conj && n < 16; i++) {
		const PgQuery__Node *c = st->conj[i];
		if (c->node_case != PG_QUERY__NODE__NODE_A_EXPR)
			continue;
		const PgQuery__AExpr *ae = c->a_expr;
		const char *op = ae->n_name == 1 ? walk_node_string(ae->name[0]) : NULL;
		if (ae->kind != PG_QUERY__A__EXPR__KIND__AEXPR_OP || op == NULL ||
		    strcmp(op, "=") != 0)
			continue;
		const PgQuery__Node *col = ae->lexpr, *val = ae->rexpr;
		if (col == NULL || col->node_case != PG_QUERY__NODE__NODE_COLUMN_REF) {
			col = ae->rexpr;
			val = ae->lexpr;
		}
		const char *qual, *name;
		if (!walk_column_ref(col, &qual, &name) || val == NULL)
			continue;
		if (val->node_case != PG_QUERY__NODE__NODE_A_CONST && !walk_node_is_param(val))
			continue;
		int owner = qual != NULL ? unit_by_name(st, qual) : unit_by_column(st, name);
		if (owner != (int)u)
			continue;
		cols[n++] = name;
	}
	if (n == 0)
		return false;
	if (st->units[u].table != NULL)
		return catalog_is_unique_key(st->units[u].table, cols, n);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(cols[i], "id") == 0)
			return true;
	}
	return false;
}

/* LATERAL subqueries connect to the items they reference. */
static void connect_lateral(struct cj_state *st, size_t u)
{
	const PgQuery__Node *leaf = st->units[u].leaf;

	if (leaf->node_case != PG_QUERY__NODE__NODE_RANGE_SUBSELECT ||
	    !leaf->range_subselect->lateral)
		return;
	struct cj_refs r = {.st = st};
	struct walk_callbacks cb = {.node = collect_ref, .arg = &r};
	walk_tree(leaf->range_subselect->subquery, &cb);
	for (size_t i = 0; i < st->n_units; i++) {
		if (r.mask[i])
			uf_union(st, (int)u, (int)i);
	}
}

static void check_level(struct cj_state *st, PgQuery__Node *const *from, size_t n_from,
                        const PgQuery__Node *where)
{
	const PgQuery__Node *leaves[CJ_MAX_UNITS];
	size_t n = walk_from_leaves(from, n_from, leaves, CJ_MAX_UNITS);

	if (n > CJ_MAX_UNITS - st->n_units)
		return;
	for (size_t i = 0; i < n; i++)
		add_unit(st, leaves[i]);
	size_t counted = 0;
	for (size_t i = 0; i < st->n_units; i++)
		counted += st->units[i].counted;
	if (counted < 2 || st->overflow)
		return;

	/* Units of the FROM list start after any target relation (UPDATE/DELETE). */
	size_t next = st->n_units - n;
	for (size_t i = 0; i < n_from; i++)
		next = scan_joins(st, from[i], next, 0);
	add_conjuncts(st, where);
	if (st->overflow)
		return;
	for (size_t i = 0; i < st->n_conj; i++)
		connect_predicate(st, st->conj[i]);
	for (size_t i = 0; i < st->n_units; i++)
		connect_lateral(st, i);
	for (size_t i = 0; i < st->n_units; i++) {
		if (st->units[i].counted && pinned_to_one_row(st, i))
			st->units[i].counted = false;
	}

	/* Report the first counted unit not connected to the first counted one. */
	int root = -1;
	for (size_t i = 0; i < st->n_units; i++) {
		if (!st->units[i].counted)
			continue;
		if (root < 0) {
			root = (int)i;
			continue;
		}
		if (uf_find(st, (int)i) == uf_find(st, root))
			continue;
		const struct cj_unit *a = &st->units[root], *b = &st->units[i];
		char suggestion[400];
		snprintf(
		    suggestion, sizeof(suggestion),
		    "add the join condition, e.g. JOIN %s ON %s.<key> = %s.<key>; if the cross "
		    "product is intended, mark it with -- pgscope:ignore cartesian-join",
		    b->name, b->name, a->name);
		rule_report(st->ctx, b->location, suggestion,
		            "%s and %s are joined without any predicate connecting them: every row "
		            "of one is paired with every row of the other",
		            a->name, b->name);
		return;
	}
}

static void cartesian_join_query(struct rule_ctx *ctx, const struct walk_scope *scope)
{
	struct cj_state st = {.ctx = ctx, .scope = scope};

	if (scope->select != NULL) {
		const PgQuery__SelectStmt *sel = scope->select;
		if (sel->n_from_clause == 0)
			return;
		check_level(&st, sel->from_clause, sel->n_from_clause, sel->where_clause);
	} else if (scope->update != NULL && scope->update->n_from_clause > 0) {
		const PgQuery__UpdateStmt *up = scope->update;
		PgQuery__Node target = PG_QUERY__NODE__INIT;
		target.node_case = PG_QUERY__NODE__NODE_RANGE_VAR;
		target.range_var = up->relation;
		add_unit(&st, &target);
		check_level(&st, up->from_clause, up->n_from_clause, up->where_clause);
	} else if (scope->del != NULL && scope->del->n_using_clause > 0) {
		const PgQuery__DeleteStmt *del = scope->del;
		PgQuery__Node target = PG_QUERY__NODE__INIT;
		target.node_case = PG_QUERY__NODE__NODE_RANGE_VAR;
		target.range_var = del->relation;
		add_unit(&st, &target);
		check_level(&st, del->using_clause, del->n_using_clause, del->where_clause);
	}
}

const struct rule rule_cartesian_join = {
    .id = "cartesian-join",
    .default_severity = SEVERITY_WARNING,
    .summary = "relations in one FROM with no predicate connecting them",
    .on_query = cartesian_join_query,
};
