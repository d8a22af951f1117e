/* readonly.c - read/write classification of parsed statements (see readonly.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "analyzer/readonly.h"
#include "analyzer/walk.h"

const char *readonly_class_name(enum readonly_class cls)
{
	switch (cls) {
	case READONLY_WRITE:
		return "write";
	case READONLY_READ:
		return "read";
	case READONLY_BEGIN_RO:
		return "begin_read_only";
	case READONLY_BEGIN:
		return "begin";
	}
	return "?";
}

bool readonly_volatile_harmless(const char *name)
{
	/*
	 * Built-in functions marked VOLATILE because their result changes, not
	 * because they write or need the primary's session state (unlike
	 * nextval, currval, setval, the advisory locks, pg_notify, set_config).
	 */
	static const char *const harmless[] = {
	    "random",
	    "clock_timestamp",
	    "timeofday",
	    "gen_random_uuid",
	    "pg_is_in_recovery",
	    "pg_last_wal_replay_lsn",
	    "pg_last_wal_receive_lsn",
	    "pg_last_xact_replay_timestamp",
	    "pg_sleep",
	    NULL,
	};

	for (int i = 0; harmless[i] != NULL; i++) {
		if (strcmp(name, harmless[i]) == 0)
			return true;
	}
	return false;
}

/* State of one walk over a SELECT. */
struct ro_walk {
	struct readonly_result *out;
	bool unsafe;
};

static void ro_add_func(struct ro_walk *w, const PgQuery__FuncCall *fc)
{
	const char *name, *schema;
	char full[READONLY_FUNC_NAME_MAX];
	struct readonly_result *r = w->out;

	if (fc->n_funcname == 0) {
		w->unsafe = true;
		return;
	}
	name = walk_node_string(fc->funcname[fc->n_funcname - 1]);
	schema = fc->n_funcname > 1 ? walk_node_string(fc->funcname[fc->n_funcname - 2]) : NULL;
	if (schema != NULL && strcmp(schema, "pg_catalog") == 0)
		schema = NULL; /* where unqualified names are looked up first anyway */
	if (name == NULL || strlen(name) + (schema ? strlen(schema) + 1 : 0) >= sizeof(full)) {
		w->unsafe = true;
		return;
	}
	snprintf(full, sizeof(full), "%s%s%s", schema ? schema : "", schema ? "." : "", name);
	for (int i = 0; i < r->n_funcs; i++) {
		if (strcmp(r->funcs[i], full) == 0)
			return;
	}
	if (r->n_funcs == READONLY_MAX_FUNCS) {
		w->unsafe = true;
		return;
	}
	memcpy(r->funcs[r->n_funcs++], full, sizeof(full));
}

static bool ro_node(const PgQuery__Node *node, const struct walk_pos *pos, void *arg)
{
	struct ro_walk *w = arg;

	(void)pos;
	switch (node->node_case) {
	case PG_QUERY__NODE__NODE_SELECT_STMT:
		if (node->select_stmt->into_clause != NULL ||
		    node->select_stmt->n_locking_clause > 0)
			w->unsafe = true;
		break;
	case PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR: {
		const PgQuery__Node *q = node->common_table_expr->ctequery;

		if (q == NULL || q->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
			w->unsafe = true; /* a data-modifying CTE */
		break;
	}
	case PG_QUERY__NODE__NODE_INSERT_STMT:
	case PG_QUERY__NODE__NODE_UPDATE_STMT:
	case PG_QUERY__NODE__NODE_DELETE_STMT:
	case PG_QUERY__NODE__NODE_MERGE_STMT:
	case PG_QUERY__NODE__NODE_LOCKING_CLAUSE:
	case PG_QUERY__NODE__NODE_INTO_CLAUSE:
		w->unsafe = true;
		break;
	case PG_QUERY__NODE__NODE_FUNC_CALL:
		ro_add_func(w, node->func_call);
		break;
	default:
		break;
	}
	return !w->unsafe;
}

/* Whether a SELECT statement reads only, its function calls added to out. */
static bool ro_select_safe(const PgQuery__Node *stmt, struct readonly_result *out)
{
	struct ro_walk w = {.out = out};
	struct walk_callbacks cb = {.node = ro_node, .arg = &w};

	walk_tree(stmt, &cb);
	return !w.unsafe;
}

/* Whether a list of transaction options (DefElem) asks for READ ONLY. */
static bool ro_options_read_only(PgQuery__Node *const *opts, size_t n)
{
	bool ro = false;

	for (size_t i = 0; i < n; i++) {
		const PgQuery__DefElem *d;
		long long v;

		if (opts[i]->node_case != PG_QUERY__NODE__NODE_DEF_ELEM)
			continue;
		d = opts[i]->def_elem;
		if (strcmp(d->defname, "transaction_read_only") == 0 && d->arg != NULL &&
		    walk_node_int_const(d->arg, &v))
			ro = v != 0;
	}
	return ro;
}

/* BEGIN/START TRANSACTION: READONLY_BEGIN_RO or READONLY_BEGIN; else READONLY_WRITE. */
static enum readonly_class ro_begin(const PgQuery__Node *stmt)
{
	const PgQuery__TransactionStmt *t;

	if (stmt->node_case != PG_QUERY__NODE__NODE_TRANSACTION_STMT)
		return READONLY_WRITE;
	t = stmt->transaction_stmt;
	if (t->kind != PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN &&
	    t->kind != PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START)
		return READONLY_WRITE;
	return ro_options_read_only(t->options, t->n_options) ? READONLY_BEGIN_RO : READONLY_BEGIN;
}

/* SET TRANSACTION READ ONLY (or SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY). */
static bool ro_set_transaction_read_only(const PgQuery__Node *stmt)
{
	const PgQuery__VariableSetStmt *v;

	if (stmt->node_case != PG_QUERY__NODE__NODE_VARIABLE_SET_STMT)
		return false;
	v = stmt->variable_set_stmt;
	return v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI &&
	       strcasecmp(v->name, "TRANSACTION") == 0 && ro_options_read_only(v->args, v->n_args);
}

void readonly_classify(const struct parse_tree *tree, struct readonly_result *out)
{
	enum readonly_class begin;

	memset(out, 0, sizeof(*out));
	out->cls = READONLY_WRITE;
	if (tree->n_stmts == 0 || tree->stmts[0].node == NULL)
		return;
	begin = ro_begin(tree->stmts[0].node);
	if (begin == READONLY_BEGIN && tree->n_stmts > 1 && tree->stmts[1].node != NULL &&
	    ro_set_transaction_read_only(tree->stmts[1].node))
		begin = READONLY_BEGIN_RO;
	if (begin != READONLY_WRITE) {
		out->cls = begin;
		return;
	}
	for (size_t i = 0; i < tree->n_stmts; i++) {
		const PgQuery__Node *s = tree->stmts[i].node;

		if (s == NULL || s->node_case != PG_QUERY__NODE__NODE_SELECT_STMT ||
		    !ro_select_safe(s, out)) {
			out->n_funcs = 0;
			return;
		}
	}
	out->cls = READONLY_READ;
}
