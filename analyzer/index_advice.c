/* index_advice.c - relations, predicates, selectivity and index matching shared by schema rules. */
#include "analyzer/index_advice.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/histogram.h"
#include "analyzer/parse.h"

/* PostgreSQL's own defaults (selfuncs.h) when statistics say nothing. */
#define IA_DEFAULT_EQ_SEL    0.005
#define IA_DEFAULT_INEQ_SEL  (1.0 / 3.0)
#define IA_DEFAULT_RANGE_SEL 0.005
/* Assumed length of an array parameter in `col = ANY($1)`. */
#define IA_ARRAY_PARAM_LEN 10

static const char *const ia_aggregates[] = {
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "bool_and",
    "bool_or",
    "every",
    "array_agg",
    "string_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "corr",
    "covar_pop",
    "covar_samp",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "bit_and",
    "bit_or",
    "xmlagg",
    "regr_count",
    NULL,
};

static const char *last_name(PgQuery__Node **names, size_t n)
{
	if (n == 0)
		return NULL;
	return walk_node_string(names[n - 1]);
}

static const char *op_name(const PgQuery__AExpr *e)
{
	return last_name(e->name, e->n_name);
}

/* The WITH clause of a query level, or NULL. */
static const PgQuery__WithClause *scope_with(const struct walk_scope *s)
{
	if (s->select)
		return s->select->with_clause;
	if (s->update)
		return s->update->with_clause;
	if (s->del)
		return s->del->with_clause;
	if (s->insert)
		return s->insert->with_clause;
	return NULL;
}

/* The CTE named `name` visible from scope (this level or any outer one), or NULL. */
static const PgQuery__CommonTableExpr *find_cte(const struct walk_scope *scope,
                                                const PgQuery__SelectStmt *sel, const char *name)
{
	const PgQuery__WithClause *w = sel ? sel->with_clause : NULL;
	const struct walk_scope *s = scope;

	for (;;) {
		if (w) {
			for (size_t i = 0; i < w->n_ctes; i++) {
				const PgQuery__Node *n = w->ctes[i];
				if (n->node_case == PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR &&
				    strcmp(n->common_table_expr->ctename, name) == 0)
					return n->common_table_expr;
			}
		}
		if (!s)
			return NULL;
		w = scope_with(s);
		s = s->outer;
	}
}

struct collect_state {
	struct ia_query *q;
	const PgQuery__SelectStmt *sel;
	const PgQuery__Node *quals[IA_MAX_RELS]; /* JOIN ... ON quals, classified after all rels */
	size_t n_quals;
};

static struct ia_rel *add_rel(struct ia_query *q)
{
	if (q->n_rels >= IA_MAX_RELS) {
		q->truncated = true;
		return NULL;
	}
	struct ia_rel *r = &q->rels[q->n_rels++];
	memset(r, 0, sizeof(*r));
	r->location = -1;
	return r;
}

static void add_range_var(struct collect_state *st, const PgQuery__RangeVar *rv)
{
	struct ia_rel *r = add_rel(st->q);
	if (!r)
		return;
	r->name = rv->relname;
	r->alias = (rv->alias && rv->alias->aliasname[0]) ? rv->alias->aliasname : rv->relname;
	r->location = rv->location;
	const char *schema = rv->schemaname[0] ? rv->schemaname : NULL;
	if (!schema) {
		const PgQuery__CommonTableExpr *cte = find_cte(st->q->scope, st->sel, rv->relname);
		if (cte) {
			r->kind = IA_REL_CTE;
			r->query = cte->ctequery;
			return;
		}
	}
	r->table = st->q->cat ? catalog_find_table(st->q->cat, schema, rv->relname) : NULL;
	r->kind = r->table ? IA_REL_TABLE : IA_REL_UNKNOWN;
	if (r->table != NULL && r->table->kind == 'v') {
		/* A view is the query it stands for: read it as a FROM subquery. */
		const struct parse_tree *view = r->table->view_parse;

		r->kind = view != NULL && view->n_stmts == 1 &&
		                  view->stmts[0].node->node_case == PG_QUERY__NODE__NODE_SELECT_STMT
		              ? IA_REL_SUBQUERY
		              : IA_REL_UNKNOWN;
		r->query = r->kind == IA_REL_SUBQUERY ? view->stmts[0].node : NULL;
		r->table = NULL;
	}
}

static struct ia_pred *add_pred(struct ia_query *q, const PgQuery__Node *node, bool on);

/* The first catalog table among rels[from..to) that has column col, or -1. */
static int rel_with_column(const struct ia_query *q, const char *col, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (q->rels[i].kind == IA_REL_TABLE && catalog_find_column(q->rels[i].table, col))
			return (int)i;
	return -1;
}

/* JOIN ... USING (col): a column = column predicate between the two sides. */
static void add_using_pred(struct ia_query *q, const char *col, size_t start, size_t mid,
                           size_t end)
{
	if (!col)
		return;
	int l = rel_with_column(q, col, start, mid);
	int r = rel_with_column(q, col, mid, end);
	if (l < 0 || r < 0)
		return;
	struct ia_pred *p = add_pred(q, NULL, true);
	if (!p)
		return;
	p->op = IA_OP_JOIN;
	p->rel = l;
	p->column = col;
	p->rel2 = r;
	p->column2 = col;
	p->location = q->rels[r].location;
}

static void collect_from_item(struct collect_state *st, const PgQuery__Node *n, int depth)
{
	if (!n || depth > 64) {
		st->q->truncated = true;
		return;
	}
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_RANGE_VAR:
		add_range_var(st, n->range_var);
		break;
	case PG_QUERY__NODE__NODE_JOIN_EXPR: {
		const PgQuery__JoinExpr *j = n->join_expr;
		size_t start = st->q->n_rels;
		collect_from_item(st, j->larg, depth + 1);
		size_t mid = st->q->n_rels;
		collect_from_item(st, j->rarg, depth + 1);
		for (size_t i = 0; i < j->n_using_clause; i++)
			add_using_pred(st->q, walk_node_string(j->using_clause[i]), start, mid,
			               st->q->n_rels);
		if (j->quals) {
			if (st->n_quals < IA_MAX_RELS)
				st->quals[st->n_quals++] = j->quals;
			else
				st->q->truncated = true;
		}
		break;
	}
	case PG_QUERY__NODE__NODE_RANGE_SUBSELECT: {
		struct ia_rel *r = add_rel(st->q);
		if (!r)
			return;
		r->kind = IA_REL_SUBQUERY;
		r->query = n->range_subselect->subquery;
		r->alias = n->range_subselect->alias ? n->range_subselect->alias->aliasname : "";
		r->location = walk_node_location(n->range_subselect->subquery);
		break;
	}
	case PG_QUERY__NODE__NODE_RANGE_FUNCTION: {
		struct ia_rel *r = add_rel(st->q);
		if (!r)
			return;
		r->kind = IA_REL_FUNCTION;
		r->alias = n->range_function->alias ? n->range_function->alias->aliasname : "";
		break;
	}
	default: {
		/* Table samples, XMLTABLE, ...: something we cannot see into. */
		struct ia_rel *r = add_rel(st->q);
		if (r) {
			r->kind = IA_REL_FUNCTION;
			r->alias = "";
		}
		break;
	}
	}
}

/* Depth-bounded: a value nested deeper than 64 levels is not recognised as one. */
static bool node_is_value(const PgQuery__Node *node, int depth)
{
	if (!node || depth > 64)
		return false;
	switch (node->node_case) {
	case PG_QUERY__NODE__NODE_A_CONST:
	case PG_QUERY__NODE__NODE_PARAM_REF:
	case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION:
		return true;
	case PG_QUERY__NODE__NODE_TYPE_CAST:
		return node_is_value(node->type_cast->arg, depth + 1);
	case PG_QUERY__NODE__NODE_A_EXPR: {
		const PgQuery__AExpr *e = node->a_expr;
		if (e->kind != PG_QUERY__A__EXPR__KIND__AEXPR_OP)
			return false;
		return (!e->lexpr || node_is_value(e->lexpr, depth + 1)) &&
		       node_is_value(e->rexpr, depth + 1);
	}
	case PG_QUERY__NODE__NODE_FUNC_CALL: {
		const PgQuery__FuncCall *f = node->func_call;
		const char *name = last_name(f->funcname, f->n_funcname);
		/* Volatile functions make a value per row, not one per query. */
		if (f->over || f->agg_star || !name || strcmp(name, "random") == 0)
			return false;
		for (size_t i = 0; i < f->n_args; i++)
			if (!node_is_value(f->args[i], depth + 1))
				return false;
		return true;
	}
	case PG_QUERY__NODE__NODE_A_ARRAY_EXPR: {
		const PgQuery__AArrayExpr *a = node->a_array_expr;
		for (size_t i = 0; i < a->n_elements; i++)
			if (!node_is_value(a->elements[i], depth + 1))
				return false;
		return true;
	}
	case PG_QUERY__NODE__NODE_LIST: {
		const PgQuery__List *l = node->list;
		for (size_t i = 0; i < l->n_items; i++)
			if (!node_is_value(l->items[i], depth + 1))
				return false;
		return true;
	}
	default:
		return false;
	}
}

bool ia_node_is_value(const PgQuery__Node *node)
{
	return node_is_value(node, 0);
}

/* Depth-bounded worker of ia_count_columns(). */
static int count_columns(const PgQuery__Node *n, const PgQuery__Node **col, int depth)
{
	int total = 0;

	if (!n || depth > 32)
		return -1;
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_COLUMN_REF:
		*col = n;
		return 1;
	case PG_QUERY__NODE__NODE_A_CONST:
	case PG_QUERY__NODE__NODE_PARAM_REF:
	case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION:
		return 0;
	case PG_QUERY__NODE__NODE_TYPE_CAST:
		return count_columns(n->type_cast->arg, col, depth + 1);
	case PG_QUERY__NODE__NODE_FUNC_CALL:
		if (n->func_call->over || ia_is_aggregate_call(n))
			return -1;
		for (size_t i = 0; i < n->func_call->n_args; i++) {
			int c = count_columns(n->func_call->args[i], col, depth + 1);
			if (c < 0)
				return -1;
			total += c;
		}
		return total;
	case PG_QUERY__NODE__NODE_A_EXPR: {
		const PgQuery__AExpr *e = n->a_expr;
		if (e->kind != PG_QUERY__A__EXPR__KIND__AEXPR_OP)
			return -1;
		int l = e->lexpr ? count_columns(e->lexpr, col, depth + 1) : 0;
		int r = count_columns(e->rexpr, col, depth + 1);
		return (l < 0 || r < 0) ? -1 : l + r;
	}
	case PG_QUERY__NODE__NODE_COALESCE_EXPR:
		for (size_t i = 0; i < n->coalesce_expr->n_args; i++) {
			int c = count_columns(n->coalesce_expr->args[i], col, depth + 1);
			if (c < 0)
				return -1;
			total += c;
		}
		return total;
	default:
		return -1;
	}
}

int ia_count_columns(const PgQuery__Node *expr, const PgQuery__Node **col)
{
	return count_columns(expr, col, 0);
}

int ia_resolve_column(const struct ia_query *q, const PgQuery__Node *node, const char **column)
{
	const char *qual = NULL;
	const char *col = NULL;

	if (!node || node->node_case != PG_QUERY__NODE__NODE_COLUMN_REF ||
	    !walk_column_ref(node, &qual, &col))
		return -1;
	if (node->column_ref->n_fields > 3)
		return -1;
	*column = col;
	if (qual) {
		for (size_t i = 0; i < q->n_rels; i++) {
			const struct ia_rel *r = &q->rels[i];
			if (!r->alias || strcmp(r->alias, qual) != 0)
				continue;
			if (r->kind == IA_REL_TABLE && !catalog_find_column(r->table, col))
				return -1;
			return (int)i;
		}
		return -1;
	}
	int found = -1;
	size_t n_opaque = 0;
	int opaque = -1;
	for (size_t i = 0; i < q->n_rels; i++) {
		const struct ia_rel *r = &q->rels[i];
		if (r->kind != IA_REL_TABLE) {
			n_opaque++;
			opaque = (int)i;
			continue;
		}
		if (!catalog_find_column(r->table, col))
			continue;
		if (found >= 0)
			return -1; /* ambiguous: the query would not run */
		found = (int)i;
	}
	if (found >= 0)
		return found;
	return n_opaque == 1 ? opaque : -1;
}

/* Is node a column reference that names no relation of this level (an outer reference)? */
static bool is_outer_column(const struct ia_query *q, const PgQuery__Node *node)
{
	const char *qual = NULL;
	const char *col = NULL;

	if (!node || node->node_case != PG_QUERY__NODE__NODE_COLUMN_REF ||
	    !walk_column_ref(node, &qual, &col) || !qual)
		return false;
	for (size_t i = 0; i < q->n_rels; i++)
		if (q->rels[i].alias && strcmp(q->rels[i].alias, qual) == 0)
			return false;
	/* The qualifier must name a relation of an enclosing level to count. */
	return q->scope && q->scope->outer;
}

static bool is_value_for(const struct ia_query *q, const PgQuery__Node *node)
{
	return ia_node_is_value(node) || is_outer_column(q, node);
}

static struct ia_pred *add_pred(struct ia_query *q, const PgQuery__Node *node, bool on)
{
	if (q->n_preds >= IA_MAX_PREDS) {
		q->truncated = true;
		return NULL;
	}
	struct ia_pred *p = &q->preds[q->n_preds++];
	memset(p, 0, sizeof(*p));
	p->node = node;
	p->op = IA_OP_OTHER;
	p->in_join_on = on;
	p->rel = -1;
	p->rel2 = -1;
	p->expr = node;
	p->location = node ? walk_node_location(node) : -1;
	p->or_rel = -1;
	return p;
}

/* Fill p's constrained side from expr (a column of this level, or an expression). */
static void set_side(const struct ia_query *q, struct ia_pred *p, const PgQuery__Node *expr)
{
	const char *col = NULL;
	p->expr = expr;
	int rel = ia_resolve_column(q, expr, &col);
	if (rel >= 0) {
		p->rel = rel;
		p->column = col;
	}
}

static void classify_op(struct ia_query *q, struct ia_pred *p, const PgQuery__AExpr *e)
{
	const char *op = op_name(e);
	const char *c1 = NULL;
	const char *c2 = NULL;

	if (!op || !e->lexpr || !e->rexpr)
		return;
	bool cmp = strcmp(op, "<") == 0 || strcmp(op, ">") == 0 || strcmp(op, "<=") == 0 ||
	           strcmp(op, ">=") == 0;
	bool eq = strcmp(op, "=") == 0;
	if (!eq && !cmp) {
		set_side(q, p, e->lexpr);
		if (p->rel < 0)
			set_side(q, p, e->rexpr);
		return;
	}
	int r1 = ia_resolve_column(q, e->lexpr, &c1);
	int r2 = ia_resolve_column(q, e->rexpr, &c2);
	if (eq && r1 >= 0 && r2 >= 0 && r1 != r2) {
		p->op = IA_OP_JOIN;
		p->rel = r1;
		p->column = c1;
		p->expr = e->lexpr;
		p->rel2 = r2;
		p->column2 = c2;
		return;
	}
	const PgQuery__Node *side = NULL;
	const PgQuery__Node *value = NULL;
	bool flipped = false;
	if (is_value_for(q, e->rexpr) && !is_value_for(q, e->lexpr)) {
		side = e->lexpr;
		value = e->rexpr;
	} else if (is_value_for(q, e->lexpr) && !is_value_for(q, e->rexpr)) {
		side = e->rexpr;
		value = e->lexpr;
		flipped = true;
	} else {
		set_side(q, p, e->lexpr);
		return;
	}
	set_side(q, p, side);
	p->value = value;
	if (eq) {
		p->op = IA_OP_EQ;
		return;
	}
	p->op = IA_OP_RANGE;
	bool greater = op[0] == '>';
	p->bound = (greater != flipped) ? 1 : 2;
}

static void collect_conjuncts(struct ia_query *q, const PgQuery__Node *n, bool on, int depth);

/* Fill out with q's relations and the conjuncts of one OR branch. */
static void branch_query(const struct ia_query *q, const PgQuery__Node *branch,
                         struct ia_query *out)
{
	out->cat = q->cat;
	out->scope = q->scope;
	memcpy(out->rels, q->rels, q->n_rels * sizeof(q->rels[0]));
	out->n_rels = q->n_rels;
	out->n_preds = 0;
	out->truncated = false;
	out->or_depth = q->or_depth + 1;
	collect_conjuncts(out, branch, false, 1);
}

/* The one relation every branch of an OR constrains, or -1. */
static int or_relation(const struct ia_query *q, const PgQuery__BoolExpr *b)
{
	struct ia_query branch;
	int rel = -1;

	if (q->or_depth > 0 || b->n_args < 2)
		return -1; /* one level of splitting bounds the work and the stack */
	for (size_t i = 0; i < b->n_args; i++) {
		branch_query(q, b->args[i], &branch);
		if (branch.truncated || branch.n_preds == 0)
			return -1;
		for (size_t k = 0; k < branch.n_preds; k++) {
			const struct ia_pred *p = &branch.preds[k];
			if (p->rel < 0 || p->op == IA_OP_JOIN || (rel >= 0 && p->rel != rel))
				return -1;
			rel = p->rel;
		}
	}
	return rel;
}

static void classify(struct ia_query *q, const PgQuery__Node *n, bool on)
{
	struct ia_pred *p = add_pred(q, n, on);
	if (!p)
		return;
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_A_EXPR: {
		const PgQuery__AExpr *e = n->a_expr;
		const char *op = op_name(e);
		switch (e->kind) {
		case PG_QUERY__A__EXPR__KIND__AEXPR_OP:
			classify_op(q, p, e);
			break;
		case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY:
			set_side(q, p, e->lexpr);
			if (op && strcmp(op, "=") == 0 && is_value_for(q, e->rexpr)) {
				p->op = IA_OP_IN;
				p->value = e->rexpr;
				if (e->rexpr->node_case == PG_QUERY__NODE__NODE_A_ARRAY_EXPR)
					p->n_values = e->rexpr->a_array_expr->n_elements;
			}
			break;
		case PG_QUERY__A__EXPR__KIND__AEXPR_IN:
			set_side(q, p, e->lexpr);
			if (op && strcmp(op, "=") == 0 && e->rexpr &&
			    e->rexpr->node_case == PG_QUERY__NODE__NODE_LIST &&
			    is_value_for(q, e->rexpr)) {
				p->op = IA_OP_IN;
				p->value = e->rexpr;
				p->n_values = e->rexpr->list->n_items;
			}
			break;
		case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN:
		case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN_SYM:
			set_side(q, p, e->lexpr);
			if (is_value_for(q, e->rexpr)) {
				p->op = IA_OP_BETWEEN;
				p->value = e->rexpr;
			}
			break;
		default:
			set_side(q, p, e->lexpr);
			break;
		}
		break;
	}
	case PG_QUERY__NODE__NODE_BOOL_EXPR:
		if (n->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__OR_EXPR)
			p->or_rel = or_relation(q, n->bool_expr);
		break;
	case PG_QUERY__NODE__NODE_NULL_TEST:
		set_side(q, p, n->null_test->arg);
		p->op = n->null_test->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NULL
		            ? IA_OP_ISNULL
		            : IA_OP_ISNOTNULL;
		break;
	default:
		break;
	}
}

static void collect_conjuncts(struct ia_query *q, const PgQuery__Node *n, bool on, int depth)
{
	if (!n)
		return;
	if (depth > 64) {
		q->truncated = true;
		return;
	}
	if (n->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR &&
	    n->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR) {
		for (size_t i = 0; i < n->bool_expr->n_args; i++)
			collect_conjuncts(q, n->bool_expr->args[i], on, depth + 1);
		return;
	}
	classify(q, n, on);
}

static void collect_common(struct collect_state *st, PgQuery__Node **from, size_t n_from,
                           const PgQuery__Node *where)
{
	for (size_t i = 0; i < n_from; i++)
		collect_from_item(st, from[i], 0);
	collect_conjuncts(st->q, where, false, 0);
	for (size_t i = 0; i < st->n_quals; i++)
		collect_conjuncts(st->q, st->quals[i], true, 0);
}

static void query_init(struct ia_query *q, const struct catalog *cat,
                       const struct walk_scope *scope)
{
	q->cat = cat;
	q->scope = scope;
	q->n_rels = 0;
	q->n_preds = 0;
	q->truncated = false;
	q->or_depth = 0;
}

void ia_query_collect_select(struct ia_query *q, const struct catalog *cat,
                             const struct walk_scope *scope, const PgQuery__SelectStmt *sel)
{
	struct collect_state st = {.q = q, .sel = sel};

	query_init(q, cat, scope);
	if (!sel)
		return;
	collect_common(&st, sel->from_clause, sel->n_from_clause, sel->where_clause);
}

void ia_query_collect(struct ia_query *q, const struct catalog *cat, const struct walk_scope *scope)
{
	struct collect_state st = {.q = q};

	query_init(q, cat, scope);
	if (scope->select) {
		ia_query_collect_select(q, cat, scope, scope->select);
		return;
	}
	if (scope->update) {
		if (scope->update->relation)
			add_range_var(&st, scope->update->relation);
		collect_common(&st, scope->update->from_clause, scope->update->n_from_clause,
		               scope->update->where_clause);
		return;
	}
	if (scope->del) {
		if (scope->del->relation)
			add_range_var(&st, scope->del->relation);
		collect_common(&st, scope->del->using_clause, scope->del->n_using_clause,
		               scope->del->where_clause);
	}
}

double ia_table_rows(const struct catalog_table *t)
{
	return t ? catalog_table_rows(t) : -1;
}

double ia_column_ndistinct(const struct catalog_table *t, const char *col)
{
	const char *cols[1] = {col};
	double rows = ia_table_rows(t);

	if (rows > 0 && catalog_is_unique_key(t, cols, 1))
		return rows;
	const struct catalog_stats *s = catalog_column_stats(t, col);
	if (!s || !s->present || s->n_distinct == 0)
		return -1;
	if (s->n_distinct > 0)
		return s->n_distinct;
	if (rows <= 0)
		return -1;
	double nd = -s->n_distinct * rows;
	return nd < 1 ? 1 : nd;
}

/* Text of a constant for comparison with pg_stats' most common values, or NULL. */
static const char *const_text(const PgQuery__Node *n, char *buf, size_t len)
{
	while (n && n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST)
		n = n->type_cast->arg;
	if (!n || n->node_case != PG_QUERY__NODE__NODE_A_CONST || n->a_const->isnull)
		return NULL;
	const PgQuery__AConst *c = n->a_const;
	switch (c->val_case) {
	case PG_QUERY__A__CONST__VAL_IVAL:
		snprintf(buf, len, "%d", c->ival->ival);
		return buf;
	case PG_QUERY__A__CONST__VAL_FVAL:
		return c->fval->fval;
	case PG_QUERY__A__CONST__VAL_SVAL:
		return c->sval->sval;
	case PG_QUERY__A__CONST__VAL_BOOLVAL:
		return c->boolval->boolval ? "t" : "f";
	default:
		return NULL;
	}
}

static double clamp_sel(double s, double rows)
{
	double floor = rows > 0 ? 1.0 / rows : 1e-9;
	if (s < floor)
		s = floor;
	return s > 1 ? 1 : s;
}

/* Selectivity of `col = value` (value NULL: an unknown value such as a parameter). */
static double eq_selectivity(const struct catalog_table *t, const char *col,
                             const PgQuery__Node *value)
{
	double rows = ia_table_rows(t);
	double nd = ia_column_ndistinct(t, col);
	const struct catalog_stats *s = catalog_column_stats(t, col);
	char buf[32];

	if (!s || !s->present)
		return nd > 0 ? clamp_sel(1.0 / nd, rows) : IA_DEFAULT_EQ_SEL;
	const char *text = value ? const_text(value, buf, sizeof(buf)) : NULL;
	double mcv_sum = 0;
	for (size_t i = 0; i < s->n_mcv; i++) {
		if (text && s->mcv_vals[i] && strcmp(s->mcv_vals[i], text) == 0)
			return s->mcv_freqs[i];
		mcv_sum += s->mcv_freqs[i];
	}
	if (nd <= 0)
		return IA_DEFAULT_EQ_SEL;
	if (!text)
		return clamp_sel((1.0 - s->null_frac) / nd, rows);
	double rest = 1.0 - s->null_frac - mcv_sum;
	double others = nd - (double)s->n_mcv;
	if (others < 1 || rest <= 0)
		return clamp_sel(rows > 0 ? 1.0 / rows : IA_DEFAULT_EQ_SEL, rows);
	double sel = rest / others;
	/* A value outside the list is no more common than the least common listed one. */
	if (s->n_mcv > 0 && sel > s->mcv_freqs[s->n_mcv - 1])
		sel = s->mcv_freqs[s->n_mcv - 1];
	return clamp_sel(sel, rows);
}

static double in_selectivity(const struct catalog_table *t, const struct ia_pred *p)
{
	double sum = 0;

	/* Past a thousand elements, the generic per-value estimate is as good and bounded. */
	if (p->n_values > 1000) {
		sum = (double)p->n_values * eq_selectivity(t, p->column, NULL);
		return sum > 1 ? 1 : sum;
	}
	if (p->value && p->value->node_case == PG_QUERY__NODE__NODE_LIST) {
		for (size_t i = 0; i < p->value->list->n_items; i++)
			sum += eq_selectivity(t, p->column, p->value->list->items[i]);
		return sum > 1 ? 1 : sum;
	}
	if (p->value && p->value->node_case == PG_QUERY__NODE__NODE_A_ARRAY_EXPR) {
		for (size_t i = 0; i < p->value->a_array_expr->n_elements; i++)
			sum += eq_selectivity(t, p->column, p->value->a_array_expr->elements[i]);
		return sum > 1 ? 1 : sum;
	}
	sum = IA_ARRAY_PARAM_LEN * eq_selectivity(t, p->column, NULL);
	return sum > 1 ? 1 : sum;
}

/* No bound of that side seen yet (hist_bound_selectivity() gives -1 for "not estimable"). */
#define IA_NO_BOUND 2.0

/* The tighter of two estimates of the same bound; an estimable one beats a guess. */
static double tighter_bound(double cur, double sel)
{
	if (cur == IA_NO_BOUND || cur < 0)
		return sel;
	if (sel < 0)
		return cur;
	return sel < cur ? sel : cur;
}

/*
 * col > lo AND col < hi keeps lo + hi - 1 of the rows, NULLs added back since
 * both sides exclude them (clauselist_selectivity's range pairs). With either
 * side not estimable (a parameter), the planner's default for ranges.
 */
static double range_pair(double lo, double hi, const struct catalog_stats *s, double rows)
{
	if (lo == IA_NO_BOUND && hi == IA_NO_BOUND)
		return 1;
	if (lo == IA_NO_BOUND || hi == IA_NO_BOUND) {
		double one = lo == IA_NO_BOUND ? hi : lo;
		return one < 0 ? IA_DEFAULT_INEQ_SEL : clamp_sel(one, rows);
	}
	if (lo < 0 || hi < 0)
		return IA_DEFAULT_RANGE_SEL;
	double sel = lo + hi - 1 + (s ? s->null_frac : 0);
	return clamp_sel(sel, rows);
}

/* Lower/upper bound estimates of one range-like predicate folded into *lo / *hi. */
static void range_bounds(const struct catalog_stats *s, const struct ia_pred *p, double *lo,
                         double *hi)
{
	if (p->op == IA_OP_RANGE) {
		double sel = hist_bound_selectivity(s, p->value, p->bound == 1);
		if (p->bound == 1)
			*lo = tighter_bound(*lo, sel);
		else
			*hi = tighter_bound(*hi, sel);
		return;
	}
	const PgQuery__Node *v = p->value;
	bool pair = v && v->node_case == PG_QUERY__NODE__NODE_LIST && v->list->n_items == 2;
	*lo = tighter_bound(*lo, pair ? hist_bound_selectivity(s, v->list->items[0], true) : -1);
	*hi = tighter_bound(*hi, pair ? hist_bound_selectivity(s, v->list->items[1], false) : -1);
}

double ia_pred_selectivity(const struct ia_query *q, const struct ia_pred *p)
{
	if (p->rel < 0 || !p->column || q->rels[p->rel].kind != IA_REL_TABLE)
		return 1;
	const struct catalog_table *t = q->rels[p->rel].table;
	const struct catalog_stats *s = catalog_column_stats(t, p->column);
	switch (p->op) {
	case IA_OP_EQ:
		return eq_selectivity(t, p->column, is_outer_column(q, p->value) ? NULL : p->value);
	case IA_OP_IN:
		return in_selectivity(t, p);
	case IA_OP_RANGE:
	case IA_OP_BETWEEN: {
		double lo = IA_NO_BOUND, hi = IA_NO_BOUND;
		range_bounds(s, p, &lo, &hi);
		return range_pair(lo, hi, s, ia_table_rows(t));
	}
	case IA_OP_ISNULL:
		return (s && s->present) ? clamp_sel(s->null_frac, ia_table_rows(t))
		                         : IA_DEFAULT_EQ_SEL;
	case IA_OP_ISNOTNULL:
		return (s && s->present) ? 1.0 - s->null_frac : 1.0;
	default:
		return 1;
	}
}

bool ia_or_branch(const struct ia_query *q, const struct ia_pred *p, size_t i, struct ia_query *out)
{
	if (p->or_rel < 0 || !p->node || p->node->node_case != PG_QUERY__NODE__NODE_BOOL_EXPR ||
	    i >= p->node->bool_expr->n_args)
		return false;
	branch_query(q, p->node->bool_expr->args[i], out);
	return true;
}

/* Fraction of rows an OR keeps: a OR b keeps a + b - ab. */
static double or_selectivity(const struct ia_query *q, const struct ia_pred *p)
{
	struct ia_query branch;
	double sel = 0;

	for (size_t i = 0; ia_or_branch(q, p, i, &branch); i++) {
		double s = ia_rel_filter_selectivity(&branch, p->or_rel);
		sel = sel + s - sel * s;
	}
	return sel;
}

/* Rows a BitmapOr reads (sum of the branches' best indexes); 1 when a branch has none. */
static double or_index_selectivity(const struct ia_query *q, const struct ia_pred *p)
{
	struct ia_query branch;
	double sel = 0;

	for (size_t i = 0; ia_or_branch(q, p, i, &branch); i++) {
		double s = ia_best_index_selectivity(&branch, p->or_rel, NULL);
		if (s >= 1)
			return 1;
		sel += s;
	}
	return sel > 1 ? 1 : sel;
}

bool ia_op_indexable(enum ia_op op)
{
	return op == IA_OP_EQ || op == IA_OP_IN || op == IA_OP_RANGE || op == IA_OP_BETWEEN ||
	       op == IA_OP_ISNULL || op == IA_OP_ISNOTNULL;
}

/* Is p a column = column join predicate with col of rel on one side? */
static bool join_on_column(const struct ia_pred *p, int rel, const char *col)
{
	if (p->op != IA_OP_JOIN)
		return false;
	return (p->rel == rel && strcmp(p->column, col) == 0) ||
	       (p->rel2 == rel && strcmp(p->column2, col) == 0);
}

static double rel_filter_selectivity(const struct ia_query *q, int rel);

/*
 * Does the join predicate p let an index on rel's side be used as a lookup?
 * Only when the other side, after its own filters, is small next to rel: a
 * nested loop then probes rel once per outer row. Otherwise the planner
 * hashes or merges both sides whole and rel's filters need their own index.
 */
static bool join_drives_lookup(const struct ia_query *q, const struct ia_pred *p, int rel)
{
	int other = p->rel == rel ? p->rel2 : p->rel;
	const struct ia_rel *o = &q->rels[other];

	if (o->kind != IA_REL_TABLE)
		return true; /* a subquery or CTE: its size is unknown, assume it drives */
	double rows = ia_table_rows(q->rels[rel].table);
	double orows = ia_table_rows(o->table);
	if (rows < 0 || orows < 0)
		return true;
	return orows * rel_filter_selectivity(q, other) <= rows * 0.1;
}

/*
 * Selectivity of the equality-like (eq) or range-like (!eq) predicates on one
 * column; 1: none. With joins, a join column counts as an equality lookup
 * when join_drives_lookup() says so.
 */
static double column_selectivity(const struct ia_query *q, int rel, const char *col, bool eq,
                                 bool hash_ops, bool joins)
{
	double best = 1;
	double lo = IA_NO_BOUND;
	double hi = IA_NO_BOUND;
	const struct catalog_stats *stats =
	    eq ? NULL : catalog_column_stats(q->rels[rel].table, col);

	for (size_t i = 0; i < q->n_preds; i++) {
		const struct ia_pred *p = &q->preds[i];
		if (eq && !hash_ops && joins && join_on_column(p, rel, col) &&
		    join_drives_lookup(q, p, rel)) {
			/* In a nested loop the join column is a lookup by the outer row's value. */
			double s = eq_selectivity(q->rels[rel].table, col, NULL);
			if (s < best)
				best = s;
			continue;
		}
		if (p->rel != rel || !p->column || strcmp(p->column, col) != 0)
			continue;
		bool p_null = p->op == IA_OP_ISNULL || p->op == IA_OP_ISNOTNULL;
		bool p_eq = p->op == IA_OP_EQ || p->op == IA_OP_IN || (p_null && !hash_ops);
		bool p_range = p->op == IA_OP_RANGE || p->op == IA_OP_BETWEEN;
		if (eq && p_eq) {
			double s = ia_pred_selectivity(q, p);
			if (s < best)
				best = s;
		} else if (!eq && p_range && !hash_ops) {
			range_bounds(stats, p, &lo, &hi);
		}
	}
	if (eq)
		return best;
	return range_pair(lo, hi, stats, ia_table_rows(q->rels[rel].table));
}

/* Does some predicate constrain column col of rel (eq-like or range-like)? */
static bool column_has_pred(const struct ia_query *q, int rel, const char *col, bool eq)
{
	for (size_t i = 0; i < q->n_preds; i++) {
		const struct ia_pred *p = &q->preds[i];
		if (eq && join_on_column(p, rel, col) && join_drives_lookup(q, p, rel))
			return true;
		if (p->rel != rel || !p->column || strcmp(p->column, col) != 0)
			continue;
		if (eq && (p->op == IA_OP_EQ || p->op == IA_OP_IN || p->op == IA_OP_ISNULL ||
		           p->op == IA_OP_ISNOTNULL))
			return true;
		if (!eq && (p->op == IA_OP_RANGE || p->op == IA_OP_BETWEEN))
			return true;
	}
	return false;
}

double ia_rel_filter_selectivity(const struct ia_query *q, int rel)
{
	return rel_filter_selectivity(q, rel);
}

/* The relation of an expression predicate over one column ("lower(a) = $1"), or -1. */
static int expr_pred_rel(const struct ia_query *q, const struct ia_pred *p)
{
	const PgQuery__Node *colref = NULL;
	const char *col = NULL;

	if ((p->op != IA_OP_EQ && p->op != IA_OP_IN) || p->rel >= 0 || p->expr == NULL ||
	    ia_count_columns(p->expr, &colref) != 1)
		return -1;
	return ia_resolve_column(q, colref, &col);
}

static double rel_filter_selectivity(const struct ia_query *q, int rel)
{
	double sel = 1;
	const char *seen[IA_MAX_PREDS];
	size_t n_seen = 0;

	for (size_t i = 0; i < q->n_preds; i++) {
		const struct ia_pred *p = &q->preds[i];
		if (p->rel != rel || !p->column || !ia_op_indexable(p->op))
			continue;
		bool dup = false;
		for (size_t j = 0; j < n_seen; j++)
			dup = dup || strcmp(seen[j], p->column) == 0;
		if (dup)
			continue;
		seen[n_seen++] = p->column;
		double e = column_selectivity(q, rel, p->column, true, false, false);
		double r = column_selectivity(q, rel, p->column, false, false, false);
		sel *= e < r ? e : r;
	}
	for (size_t i = 0; i < q->n_preds; i++) {
		const struct ia_pred *p = &q->preds[i];

		if (p->or_rel == rel)
			sel *= or_selectivity(q, p);
		else if (p->or_rel < 0 && expr_pred_rel(q, p) == rel)
			sel *= IA_EXPR_EQ_SEL *
			       (p->op == IA_OP_IN && p->n_values > 1 ? (double)p->n_values : 1);
	}
	return sel < 1 ? sel : 1;
}

/* Operator classes of GIN/GiST that serve only their own operators (@>, &&, @@, ...). */
static bool opclass_containment_only(const char *opclass)
{
	static const char *const names[] = {
	    "array_ops", "jsonb_ops", "jsonb_path_ops", "tsvector_ops",
	    "point_ops", "box_ops",   "poly_ops",       "circle_ops",
	    "range_ops", "inet_ops",  "multirange_ops", "tsquery_ops",
	    NULL,
	};
	if (!opclass)
		return true;
	for (size_t i = 0; names[i]; i++)
		if (strcmp(opclass, names[i]) == 0)
			return true;
	return false;
}

static bool opclass_is_trgm(const char *opclass)
{
	return opclass && strstr(opclass, "trgm_ops") != NULL;
}

/* Selectivity an expression key of an index serves (1: none). */
static double expr_key_selectivity(const struct ia_query *q, int rel, const char *key_expr)
{
	char want[IA_CANON_MAX];
	char have[IA_CANON_MAX];
	double best = 1;

	if (!ia_canon_index_expr(key_expr, want, sizeof(want)))
		return 1;
	for (size_t i = 0; i < q->n_preds; i++) {
		const struct ia_pred *p = &q->preds[i];
		if (p->column || !ia_op_indexable(p->op) || !p->expr)
			continue;
		if (!ia_canon_expr(p->expr, have, sizeof(have)) || strcmp(have, want) != 0)
			continue;
		double s = p->op == IA_OP_RANGE ? IA_DEFAULT_INEQ_SEL : IA_DEFAULT_EQ_SEL;
		if (p->op == IA_OP_BETWEEN)
			s = IA_DEFAULT_RANGE_SEL;
		if (s < best)
			best = s;
	}
	return best;
}

/* Selectivity one btree index serves: equality on leading keys, then one range. */
static double btree_selectivity(const struct ia_query *q, int rel, const struct catalog_index *ix)
{
	double sel = 1;
	size_t matched = 0;

	for (size_t k = 0; k < ix->n_keys; k++) {
		const struct catalog_index_key *key = &ix->keys[k];
		if (!key->column) {
			double s =
			    key->expression ? expr_key_selectivity(q, rel, key->expression) : 1;
			if (s >= 1)
				break;
			sel *= s;
			matched++;
			continue;
		}
		if (column_has_pred(q, rel, key->column, true)) {
			sel *= column_selectivity(q, rel, key->column, true, false, true);
			matched++;
			continue;
		}
		if (column_has_pred(q, rel, key->column, false)) {
			sel *= column_selectivity(q, rel, key->column, false, false, true);
			matched++;
		}
		break;
	}
	return matched ? sel : 1;
}

/* Selectivity a GIN/GiST/BRIN index serves: any key whose operator class fits. */
static double anykey_selectivity(const struct ia_query *q, int rel, const struct catalog_index *ix)
{
	double sel = 1;

	for (size_t k = 0; k < ix->n_keys; k++) {
		const struct catalog_index_key *key = &ix->keys[k];
		if (!key->column)
			continue;
		if (opclass_is_trgm(key->opclass)) {
			/* pg_trgm 1.6 (PostgreSQL 14+) serves equality; not ranges or IS NULL. */
			for (size_t i = 0; i < q->n_preds; i++) {
				const struct ia_pred *p = &q->preds[i];
				if (p->rel == rel && p->column &&
				    strcmp(p->column, key->column) == 0 &&
				    (p->op == IA_OP_EQ || p->op == IA_OP_IN)) {
					double s = ia_pred_selectivity(q, p);
					sel = s < sel ? s : sel;
				}
			}
			continue;
		}
		if (ix->method != CATALOG_INDEX_BRIN && opclass_containment_only(key->opclass))
			continue;
		double e = column_selectivity(q, rel, key->column, true, false, true);
		double r = column_selectivity(q, rel, key->column, false, false, true);
		sel *= e < r ? e : r;
	}
	return sel;
}

/* Is `word` an identifier inside text (not part of a longer name)? */
static bool mentions(const char *text, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
		bool left = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
		bool right = !(isalnum((unsigned char)p[n]) || p[n] == '_');
		if (left && right)
			return true;
	}
	return false;
}

/*
 * Fraction of rows a partial index holds, estimated from the query's own
 * predicates on the columns its WHERE mentions (they imply it).
 */
static double partial_selectivity(const struct ia_query *q, int rel, const char *predicate)
{
	double sel = 1;
	for (size_t i = 0; i < q->n_preds; i++) {
		const struct ia_pred *p = &q->preds[i];
		if (p->rel != rel || !p->column || !ia_op_indexable(p->op))
			continue;
		if (mentions(predicate, p->column)) {
			double s = ia_pred_selectivity(q, p);
			if (s < sel)
				sel = s;
		}
	}
	return sel;
}

double ia_best_index_selectivity(const struct ia_query *q, int rel,
                                 const struct catalog_index **best)
{
	double best_sel = 1;

	if (best)
		*best = NULL;
	if (rel < 0 || q->rels[rel].kind != IA_REL_TABLE)
		return 1;
	const struct catalog_table *t = q->rels[rel].table;
	for (size_t i = 0; i < t->n_indexes; i++) {
		const struct catalog_index *ix = &t->indexes[i];
		double s = 1;
		if (!ix->valid || ix->n_keys == 0)
			continue;
		double partial = 1;
		if (ix->predicate) {
			if (!ia_query_implies(q, rel, ix->predicate))
				continue;
			partial = partial_selectivity(q, rel, ix->predicate);
		}
		switch (ix->method) {
		case CATALOG_INDEX_BTREE:
			s = btree_selectivity(q, rel, ix);
			break;
		case CATALOG_INDEX_HASH:
			if (ix->keys[0].column)
				s = column_selectivity(q, rel, ix->keys[0].column, true, true,
				                       true);
			break;
		case CATALOG_INDEX_SPGIST:
			if (ix->keys[0].column && !opclass_containment_only(ix->keys[0].opclass)) {
				double e = column_selectivity(q, rel, ix->keys[0].column, true,
				                              false, true);
				double r = column_selectivity(q, rel, ix->keys[0].column, false,
				                              false, true);
				s = e < r ? e : r;
			}
			break;
		case CATALOG_INDEX_GIN:
		case CATALOG_INDEX_GIST:
		case CATALOG_INDEX_BRIN:
			s = anykey_selectivity(q, rel, ix);
			break;
		default:
			break;
		}
		/* An implied partial index holds only the rows its WHERE keeps. */
		s *= partial;
		if (s < best_sel) {
			best_sel = s;
			if (best)
				*best = ix;
		}
	}
	for (size_t i = 0; i < q->n_preds; i++) {
		if (q->preds[i].or_rel != rel)
			continue;
		double s = or_index_selectivity(q, &q->preds[i]);
		if (s < best_sel) {
			best_sel = s;
			if (best)
				*best = NULL;
		}
	}
	return best_sel;
}

/* ---- canonical expression text ---- */

struct canon_buf {
	char *out;
	size_t len;
	size_t pos;
	bool ok;
};

static void canon_puts(struct canon_buf *b, const char *s)
{
	size_t n = strlen(s);
	if (!b->ok || b->pos + n + 1 > b->len) {
		b->ok = false;
		return;
	}
	for (size_t i = 0; i < n; i++)
		b->out[b->pos++] = (char)tolower((unsigned char)s[i]);
	b->out[b->pos] = '\0';
}

static void canon_node(struct canon_buf *b, const PgQuery__Node *n, int depth);

static void canon_list(struct canon_buf *b, PgQuery__Node **items, size_t n, int depth)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			canon_puts(b, ",");
		canon_node(b, items[i], depth + 1);
	}
}

/* A qualified name without "pg_catalog." (the catalog prints some names qualified). */
static void canon_qualified(struct canon_buf *b, PgQuery__Node **names, size_t n)
{
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		const char *s = walk_node_string(names[i]);
		if (!s || (i + 1 < n && strcmp(s, "pg_catalog") == 0))
			continue;
		if (!first)
			canon_puts(b, ".");
		canon_puts(b, s);
		first = false;
	}
}

static bool is_bool_const(const PgQuery__Node *n, bool *val)
{
	while (n && n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST)
		n = n->type_cast->arg;
	if (!n || n->node_case != PG_QUERY__NODE__NODE_A_CONST ||
	    n->a_const->val_case != PG_QUERY__A__CONST__VAL_BOOLVAL)
		return false;
	*val = n->a_const->boolval->boolval;
	return true;
}

static void canon_const(struct canon_buf *b, const PgQuery__AConst *c)
{
	char num[32];
	if (c->isnull) {
		canon_puts(b, "null");
		return;
	}
	switch (c->val_case) {
	case PG_QUERY__A__CONST__VAL_IVAL:
		snprintf(num, sizeof(num), "%d", c->ival->ival);
		canon_puts(b, num);
		break;
	case PG_QUERY__A__CONST__VAL_FVAL:
		canon_puts(b, c->fval->fval);
		break;
	case PG_QUERY__A__CONST__VAL_SVAL:
		canon_puts(b, "'");
		canon_puts(b, c->sval->sval);
		canon_puts(b, "'");
		break;
	case PG_QUERY__A__CONST__VAL_BOOLVAL:
		canon_puts(b, c->boolval->boolval ? "true" : "false");
		break;
	default:
		b->ok = false;
		break;
	}
}

static void canon_aexpr(struct canon_buf *b, const PgQuery__AExpr *e, int depth)
{
	const char *op = op_name(e);
	bool bv;

	if (!op) {
		b->ok = false;
		return;
	}
	/* `x = false` and `NOT x` are the same predicate. */
	if (e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP && strcmp(op, "=") == 0 &&
	    is_bool_const(e->rexpr, &bv)) {
		canon_puts(b, bv ? "" : "not(");
		canon_node(b, e->lexpr, depth + 1);
		canon_puts(b, bv ? "" : ")");
		return;
	}
	switch (e->kind) {
	case PG_QUERY__A__EXPR__KIND__AEXPR_OP:
		canon_puts(b, "(");
		if (e->lexpr)
			canon_node(b, e->lexpr, depth + 1);
		canon_puts(b, op);
		canon_node(b, e->rexpr, depth + 1);
		canon_puts(b, ")");
		break;
	case PG_QUERY__A__EXPR__KIND__AEXPR_IN:
		canon_puts(b, strcmp(op, "=") == 0 ? "in(" : "notin(");
		canon_node(b, e->lexpr, depth + 1);
		canon_puts(b, ",");
		canon_node(b, e->rexpr, depth + 1);
		canon_puts(b, ")");
		break;
	case PG_QUERY__A__EXPR__KIND__AEXPR_LIKE:
	case PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE:
		canon_puts(b, "(");
		canon_node(b, e->lexpr, depth + 1);
		canon_puts(b, op);
		canon_node(b, e->rexpr, depth + 1);
		canon_puts(b, ")");
		break;
	default:
		b->ok = false;
		break;
	}
}

static void canon_node(struct canon_buf *b, const PgQuery__Node *n, int depth)
{
	if (!b->ok)
		return;
	if (!n || depth > 32) {
		b->ok = false;
		return;
	}
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_COLUMN_REF: {
		const char *qual = NULL;
		const char *col = NULL;
		if (!walk_column_ref(n, &qual, &col)) {
			b->ok = false;
			return;
		}
		canon_puts(b, col);
		break;
	}
	case PG_QUERY__NODE__NODE_A_CONST:
		canon_const(b, n->a_const);
		break;
	case PG_QUERY__NODE__NODE_PARAM_REF:
		canon_puts(b, "$");
		break;
	case PG_QUERY__NODE__NODE_TYPE_CAST: {
		const PgQuery__TypeCast *c = n->type_cast;
		if (c->arg && c->arg->node_case == PG_QUERY__NODE__NODE_A_CONST) {
			canon_node(b, c->arg, depth + 1);
			break;
		}
		canon_puts(b, "cast(");
		canon_node(b, c->arg, depth + 1);
		canon_puts(b, ",");
		if (c->type_name)
			canon_qualified(b, c->type_name->names, c->type_name->n_names);
		canon_puts(b, ")");
		break;
	}
	case PG_QUERY__NODE__NODE_FUNC_CALL: {
		const PgQuery__FuncCall *f = n->func_call;
		canon_qualified(b, f->funcname, f->n_funcname);
		canon_puts(b, "(");
		canon_list(b, f->args, f->n_args, depth);
		canon_puts(b, ")");
		break;
	}
	case PG_QUERY__NODE__NODE_A_EXPR:
		canon_aexpr(b, n->a_expr, depth);
		break;
	case PG_QUERY__NODE__NODE_BOOL_EXPR: {
		const PgQuery__BoolExpr *e = n->bool_expr;
		const char *name = e->boolop == PG_QUERY__BOOL_EXPR_TYPE__NOT_EXPR   ? "not("
		                   : e->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR ? "and("
		                                                                     : "or(";
		canon_puts(b, name);
		canon_list(b, e->args, e->n_args, depth);
		canon_puts(b, ")");
		break;
	}
	case PG_QUERY__NODE__NODE_NULL_TEST:
		canon_puts(b, n->null_test->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NULL
		                  ? "isnull("
		                  : "notnull(");
		canon_node(b, n->null_test->arg, depth + 1);
		canon_puts(b, ")");
		break;
	case PG_QUERY__NODE__NODE_BOOLEAN_TEST: {
		const PgQuery__BooleanTest *t = n->boolean_test;
		if (t->booltesttype == PG_QUERY__BOOL_TEST_TYPE__IS_TRUE) {
			canon_node(b, t->arg, depth + 1);
		} else if (t->booltesttype == PG_QUERY__BOOL_TEST_TYPE__IS_FALSE) {
			canon_puts(b, "not(");
			canon_node(b, t->arg, depth + 1);
			canon_puts(b, ")");
		} else {
			b->ok = false;
		}
		break;
	}
	case PG_QUERY__NODE__NODE_LIST:
		canon_puts(b, "[");
		canon_list(b, n->list->items, n->list->n_items, depth);
		canon_puts(b, "]");
		break;
	default:
		b->ok = false;
		break;
	}
}

bool ia_canon_expr(const PgQuery__Node *node, char *out, size_t outlen)
{
	struct canon_buf b = {.out = out, .len = outlen, .pos = 0, .ok = outlen > 0};
	if (outlen)
		out[0] = '\0';
	canon_node(&b, node, 0);
	return b.ok;
}

/*
 * Index expressions and partial-index predicates come from the catalog as
 * text. Parsing them costs as much as parsing the query, so each thread keeps
 * their canonical forms in a small direct-mapped cache keyed by the text
 * itself (compared in full, so a new catalog can never see stale entries).
 * The cache is allocated on first use and freed when the thread exits.
 */
#define IA_CACHE_SLOTS 128
#define IA_CACHE_TEXT  512
#define IA_MAX_CONJ    4

/* One conjunct of a partial-index predicate. */
struct ia_conj {
	char notnull_col[64];     /* `col IS NOT NULL`: the column, else "" */
	char canon[IA_CANON_MAX]; /* canonical text of the conjunct */
};

struct ia_cached {
	bool used;
	bool predicate; /* a WHERE predicate (conj) rather than an expression (canon) */
	bool ok;        /* parsed and within limits */
	char text[IA_CACHE_TEXT];
	char canon[IA_CANON_MAX];
	size_t n_conj;
	struct ia_conj conj[IA_MAX_CONJ];
};

static pthread_key_t ia_cache_key;
static pthread_once_t ia_cache_once = PTHREAD_ONCE_INIT;
static bool ia_cache_key_ok;

static void ia_cache_key_init(void)
{
	ia_cache_key_ok = pthread_key_create(&ia_cache_key, free) == 0;
}

static struct ia_cached *ia_cache_slots(void)
{
	pthread_once(&ia_cache_once, ia_cache_key_init);
	if (!ia_cache_key_ok)
		return NULL;
	struct ia_cached *c = pthread_getspecific(ia_cache_key);
	if (c)
		return c;
	c = calloc(IA_CACHE_SLOTS, sizeof(*c));
	if (c && pthread_setspecific(ia_cache_key, c) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

static uint64_t text_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Split a predicate into conjuncts and record each one's canonical form. */
static bool fill_conjuncts(struct ia_cached *e, const PgQuery__Node *n, int depth)
{
	if (depth > 16)
		return false;
	if (n->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR &&
	    n->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR) {
		for (size_t i = 0; i < n->bool_expr->n_args; i++)
			if (!fill_conjuncts(e, n->bool_expr->args[i], depth + 1))
				return false;
		return true;
	}
	if (e->n_conj >= IA_MAX_CONJ)
		return false;
	struct ia_conj *c = &e->conj[e->n_conj++];
	c->notnull_col[0] = '\0';
	const char *qual = NULL;
	const char *col = NULL;
	if (n->node_case == PG_QUERY__NODE__NODE_NULL_TEST &&
	    n->null_test->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NOT_NULL &&
	    walk_column_ref(n->null_test->arg, &qual, &col) && strlen(col) < sizeof(c->notnull_col))
		snprintf(c->notnull_col, sizeof(c->notnull_col), "%s", col);
	return ia_canon_expr(n, c->canon, sizeof(c->canon));
}

/* Parse `SELECT <text>` (expression) or `SELECT 1 WHERE <text>` (predicate) into e. */
static void fill_cached(struct ia_cached *e, const char *text, bool predicate)
{
	char sql[IA_CACHE_TEXT + 32];
	struct parse_tree tree;

	e->ok = false;
	e->n_conj = 0;
	int n = snprintf(sql, sizeof(sql), predicate ? "SELECT 1 WHERE %s" : "SELECT %s", text);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return;
	if (parse_sql(sql, (size_t)n, 0, &tree, NULL) != PARSE_OK)
		return;
	if (tree.n_stmts == 1 &&
	    tree.stmts[0].node->node_case == PG_QUERY__NODE__NODE_SELECT_STMT) {
		const PgQuery__SelectStmt *s = tree.stmts[0].node->select_stmt;
		if (predicate && s->where_clause)
			e->ok = fill_conjuncts(e, s->where_clause, 0);
		else if (!predicate && s->n_target_list == 1 &&
		         s->target_list[0]->node_case == PG_QUERY__NODE__NODE_RES_TARGET)
			e->ok = ia_canon_expr(s->target_list[0]->res_target->val, e->canon,
			                      sizeof(e->canon));
	}
	parse_tree_release(&tree);
}

/*
 * The canonical form of a catalog text, from the cache or parsed now. `tmp`
 * holds the result when the text is too long to cache (or there is no cache).
 */
static const struct ia_cached *cached_text(const char *text, bool predicate, struct ia_cached *tmp)
{
	struct ia_cached *slots = ia_cache_slots();
	size_t len = strlen(text);

	if (!slots || len >= IA_CACHE_TEXT) {
		fill_cached(tmp, text, predicate);
		return tmp;
	}
	struct ia_cached *e = &slots[text_hash(text) % IA_CACHE_SLOTS];
	if (e->used && e->predicate == predicate && strcmp(e->text, text) == 0)
		return e;
	e->used = true;
	e->predicate = predicate;
	memcpy(e->text, text, len + 1);
	fill_cached(e, text, predicate);
	return e;
}

bool ia_canon_index_expr(const char *text, char *out, size_t outlen)
{
	struct ia_cached tmp;
	if (!text)
		return false;
	const struct ia_cached *e = cached_text(text, false, &tmp);
	if (!e->ok || strlen(e->canon) >= outlen)
		return false;
	memcpy(out, e->canon, strlen(e->canon) + 1);
	return true;
}

/* Is one conjunct of an index predicate implied by a conjunct of the query on rel? */
static bool conjunct_implied(const struct ia_query *q, int rel, const struct ia_conj *c)
{
	char have[IA_CANON_MAX];
	const char *col = c->notnull_col;

	/* `col IS NOT NULL` follows from any strict comparison of col with a value. */
	for (size_t i = 0; col[0] && i < q->n_preds; i++) {
		const struct ia_pred *p = &q->preds[i];
		bool strict = p->op == IA_OP_EQ || p->op == IA_OP_IN || p->op == IA_OP_RANGE ||
		              p->op == IA_OP_BETWEEN || p->op == IA_OP_ISNOTNULL;
		if (strict && p->rel == rel && p->column && strcmp(p->column, col) == 0)
			return true;
		if (p->op == IA_OP_JOIN && ((p->rel == rel && strcmp(p->column, col) == 0) ||
		                            (p->rel2 == rel && strcmp(p->column2, col) == 0)))
			return true;
	}
	for (size_t i = 0; i < q->n_preds; i++) {
		const struct ia_pred *p = &q->preds[i];
		if (p->rel >= 0 && p->rel != rel)
			continue;
		if (ia_canon_expr(p->node, have, sizeof(have)) && strcmp(have, c->canon) == 0)
			return true;
	}
	return false;
}

bool ia_query_implies(const struct ia_query *q, int rel, const char *predicate)
{
	struct ia_cached tmp;
	if (!predicate)
		return true;
	const struct ia_cached *e = cached_text(predicate, true, &tmp);
	if (!e->ok)
		return false;
	for (size_t i = 0; i < e->n_conj; i++)
		if (!conjunct_implied(q, rel, &e->conj[i]))
			return false;
	return true;
}

const struct catalog_index *ia_find_expression_index(const struct catalog_table *t,
                                                     const PgQuery__Node *node, int key,
                                                     const char *opclass_sub)
{
	char want[IA_CANON_MAX];
	char have[IA_CANON_MAX];

	if (!t || !ia_canon_expr(node, want, sizeof(want)))
		return NULL;
	for (size_t i = 0; i < t->n_indexes; i++) {
		const struct catalog_index *ix = &t->indexes[i];
		if (!ix->valid)
			continue;
		for (size_t k = 0; k < ix->n_keys; k++) {
			const struct catalog_index_key *kk = &ix->keys[k];
			if (key >= 0 && (size_t)key != k)
				continue;
			if (!kk->expression)
				continue;
			if (opclass_sub && (!kk->opclass || !strstr(kk->opclass, opclass_sub)))
				continue;
			if (ia_canon_index_expr(kk->expression, have, sizeof(have)) &&
			    strcmp(have, want) == 0)
				return ix;
		}
	}
	return NULL;
}

const struct catalog_index *ia_find_lookup_index(const struct catalog_table *t, const char *col)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n_indexes; i++) {
		const struct catalog_index *ix = &t->indexes[i];
		if (!ix->valid || ix->n_keys == 0 || !ix->keys[0].column)
			continue;
		if (ix->method != CATALOG_INDEX_BTREE && ix->method != CATALOG_INDEX_HASH)
			continue;
		if (strcmp(ix->keys[0].column, col) == 0)
			return ix;
	}
	return NULL;
}

/* Append identifier s to out, double-quoted when it is not a plain lower-case name. */
static bool append_ident(char *out, size_t outlen, size_t *pos, const char *s)
{
	bool plain = s[0] && !isdigit((unsigned char)s[0]);
	for (const char *p = s; *p; p++)
		plain = plain &&
		        (islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_');
	int n;
	if (plain) {
		n = snprintf(out + *pos, outlen - *pos, "%s", s);
	} else {
		char q[256];
		size_t j = 0;
		q[j++] = '"';
		for (const char *p = s; *p && j + 3 < sizeof(q); p++) {
			if (*p == '"')
				q[j++] = '"';
			q[j++] = *p;
		}
		q[j++] = '"';
		q[j] = '\0';
		n = snprintf(out + *pos, outlen - *pos, "%s", q);
	}
	if (n < 0 || (size_t)n >= outlen - *pos)
		return false;
	*pos += (size_t)n;
	return true;
}

static bool append_text(char *out, size_t outlen, size_t *pos, const char *s)
{
	int n = snprintf(out + *pos, outlen - *pos, "%s", s);
	if (n < 0 || (size_t)n >= outlen - *pos)
		return false;
	*pos += (size_t)n;
	return true;
}

bool ia_format_create_index(const struct catalog_table *t, const char *const *cols, size_t n,
                            const char *method, char *out, size_t outlen)
{
	size_t pos = 0;

	if (!outlen)
		return false;
	out[0] = '\0';
	if (!append_text(out, outlen, &pos, "CREATE INDEX CONCURRENTLY ON "))
		return false;
	if (t->schema && strcmp(t->schema, "public") != 0) {
		if (!append_ident(out, outlen, &pos, t->schema) ||
		    !append_text(out, outlen, &pos, "."))
			return false;
	}
	if (!append_ident(out, outlen, &pos, t->name))
		return false;
	if (method && strcmp(method, "btree") != 0) {
		if (!append_text(out, outlen, &pos, " USING ") ||
		    !append_text(out, outlen, &pos, method))
			return false;
	}
	if (!append_text(out, outlen, &pos, " ("))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (i && !append_text(out, outlen, &pos, ", "))
			return false;
		if (!append_ident(out, outlen, &pos, cols[i]))
			return false;
	}
	return append_text(out, outlen, &pos, ");");
}

bool ia_is_aggregate_call(const PgQuery__Node *node)
{
	if (!node || node->node_case != PG_QUERY__NODE__NODE_FUNC_CALL)
		return false;
	const PgQuery__FuncCall *f = node->func_call;
	if (f->over)
		return false;
	const char *name = last_name(f->funcname, f->n_funcname);
	if (!name)
		return false;
	for (size_t i = 0; ia_aggregates[i]; i++)
		if (strcmp(ia_aggregates[i], name) == 0)
			return true;
	return strncmp(name, "regr_", 5) == 0;
}

/* Does the expression contain an aggregate call, not descending into subqueries? */
static bool expr_has_aggregate(const PgQuery__Node *n, int depth)
{
	if (!n || depth > 64)
		return false;
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_FUNC_CALL:
		if (ia_is_aggregate_call(n))
			return true;
		for (size_t i = 0; i < n->func_call->n_args; i++)
			if (expr_has_aggregate(n->func_call->args[i], depth + 1))
				return true;
		return false;
	case PG_QUERY__NODE__NODE_RES_TARGET:
		return expr_has_aggregate(n->res_target->val, depth + 1);
	case PG_QUERY__NODE__NODE_TYPE_CAST:
		return expr_has_aggregate(n->type_cast->arg, depth + 1);
	case PG_QUERY__NODE__NODE_A_EXPR:
		return expr_has_aggregate(n->a_expr->lexpr, depth + 1) ||
		       expr_has_aggregate(n->a_expr->rexpr, depth + 1);
	case PG_QUERY__NODE__NODE_COALESCE_EXPR:
		for (size_t i = 0; i < n->coalesce_expr->n_args; i++)
			if (expr_has_aggregate(n->coalesce_expr->args[i], depth + 1))
				return true;
		return false;
	default:
		return false;
	}
}

bool ia_select_has_aggregate(const PgQuery__SelectStmt *sel)
{
	for (size_t i = 0; i < sel->n_target_list; i++)
		if (expr_has_aggregate(sel->target_list[i], 0))
			return true;
	return false;
}

/* Does the pattern expression start with a wildcard? */
static bool like_leading_wildcard(const PgQuery__Node *n, int depth)
{
	if (!n || depth > 32)
		return false;
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_A_CONST:
		return n->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL &&
		       (n->a_const->sval->sval[0] == '%' || n->a_const->sval->sval[0] == '_');
	case PG_QUERY__NODE__NODE_TYPE_CAST:
		return like_leading_wildcard(n->type_cast->arg, depth + 1);
	case PG_QUERY__NODE__NODE_A_EXPR: {
		const PgQuery__AExpr *e = n->a_expr;
		const char *op = e->n_name ? walk_node_string(e->name[e->n_name - 1]) : NULL;
		return e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP && op &&
		       strcmp(op, "||") == 0 && like_leading_wildcard(e->lexpr, depth + 1);
	}
	case PG_QUERY__NODE__NODE_FUNC_CALL: {
		/* concat('%', $1) */
		const PgQuery__FuncCall *f = n->func_call;
		const char *name =
		    f->n_funcname ? walk_node_string(f->funcname[f->n_funcname - 1]) : NULL;
		return name && strcmp(name, "concat") == 0 && f->n_args > 0 &&
		       like_leading_wildcard(f->args[0], depth + 1);
	}
	default:
		return false;
	}
}

bool ia_like_leading_wildcard(const PgQuery__Node *pattern)
{
	return like_leading_wildcard(pattern, 0);
}

/* Columns of rel fixed to one value: = value, IN list, or = a column of a pinned relation. */
static size_t pinned_columns(const struct ia_query *q, size_t rel, const bool *pinned,
                             const char **cols, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < q->n_preds && n < max; i++) {
		const struct ia_pred *p = &q->preds[i];
		bool fixed =
		    (size_t)p->rel == rel && p->column && (p->op == IA_OP_EQ || p->op == IA_OP_IN);
		bool joined = p->op == IA_OP_JOIN && (size_t)p->rel == rel && pinned[p->rel2];
		if (fixed || joined)
			cols[n++] = p->column;
		else if (p->op == IA_OP_JOIN && (size_t)p->rel2 == rel && pinned[p->rel])
			cols[n++] = p->column2;
	}
	return n;
}

/* Do cols cover the keys of a valid unique partial index whose WHERE the query implies? */
static bool partial_unique_key(const struct ia_query *q, int rel, const char **cols, size_t n)
{
	const struct catalog_table *t = q->rels[rel].table;

	for (size_t i = 0; i < t->n_indexes; i++) {
		const struct catalog_index *ix = &t->indexes[i];
		if (!ix->valid || !ix->unique || !ix->predicate || ix->n_keys == 0)
			continue;
		bool covered = true;
		for (size_t k = 0; k < ix->n_keys && covered; k++) {
			bool found = false;
			for (size_t c = 0; c < n && !found; c++)
				found =
				    ix->keys[k].column && strcmp(ix->keys[k].column, cols[c]) == 0;
			covered = found;
		}
		if (covered && ia_query_implies(q, rel, ix->predicate))
			return true;
	}
	return false;
}

void ia_pinned_rels(const struct ia_query *q, bool *pinned)
{
	const char *cols[IA_MAX_PREDS];
	bool changed = true;

	for (size_t i = 0; i < q->n_rels; i++)
		pinned[i] = false;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < q->n_rels; i++) {
			if (pinned[i] || q->rels[i].kind != IA_REL_TABLE)
				continue;
			size_t n = pinned_columns(q, i, pinned, cols, IA_MAX_PREDS);
			if (n > 0 && (catalog_is_unique_key(q->rels[i].table, cols, n) ||
			              partial_unique_key(q, (int)i, cols, n))) {
				pinned[i] = true;
				changed = true;
			}
		}
	}
}

size_t ia_equality_columns(const struct ia_query *q, int rel, const bool *pinned, const char **cols,
                           size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < q->n_preds && n < max; i++) {
		const struct ia_pred *p = &q->preds[i];
		bool fixed = p->rel == rel && p->column && p->op == IA_OP_EQ;
		bool joined = pinned && p->op == IA_OP_JOIN && p->rel == rel && pinned[p->rel2];
		if (fixed || joined)
			cols[n++] = p->column;
		else if (pinned && p->op == IA_OP_JOIN && p->rel2 == rel && pinned[p->rel])
			cols[n++] = p->column2;
	}
	return n;
}

const PgQuery__Node *ia_output_expr(const PgQuery__SelectStmt *sel, const PgQuery__Node *item)
{
	long long pos;
	const char *qual = NULL;
	const char *col = NULL;

	if (!item)
		return NULL;
	if (walk_node_int_const(item, &pos)) {
		if (pos < 1 || (size_t)pos > sel->n_target_list)
			return NULL;
		const PgQuery__Node *t = sel->target_list[pos - 1];
		return t->node_case == PG_QUERY__NODE__NODE_RES_TARGET ? t->res_target->val : NULL;
	}
	if (walk_column_ref(item, &qual, &col) && !qual) {
		for (size_t i = 0; i < sel->n_target_list; i++) {
			const PgQuery__Node *t = sel->target_list[i];
			if (t->node_case == PG_QUERY__NODE__NODE_RES_TARGET &&
			    t->res_target->name && strcmp(t->res_target->name, col) == 0)
				return t->res_target->val;
		}
	}
	return item;
}

void ia_seen_reset(struct ia_seen *seen)
{
	seen->n = 0;
}

bool ia_seen_first(struct ia_seen *seen, const void *a, const void *b)
{
	for (size_t i = 0; i < seen->n; i++)
		if (seen->keys[i][0] == a && seen->keys[i][1] == b)
			return false;
	if (seen->n >= IA_SEEN_MAX)
		return false;
	seen->keys[seen->n][0] = a;
	seen->keys[seen->n][1] = b;
	seen->n++;
	return true;
}
