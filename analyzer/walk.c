/*
 * walk.c - descriptor-driven walk over libpg_query protobuf trees, tracking query levels and
 * clauses.
 */
#include <stdlib.h>
#include <string.h>

#include "analyzer/walk.h"

/* What the walker carries down the tree. */
struct walk_state {
	const struct walk_scope *scope;
	enum walk_clause clause;
	const PgQuery__Node *parent;
	int depth;
	/* How the next query-level message below is embedded. */
	enum walk_scope_kind next_kind;
	PgQuery__SubLinkType next_sublink;
};

static void walk_message(const ProtobufCMessage *msg, struct walk_state st,
                         const struct walk_callbacks *cb);

const ProtobufCMessage *walk_node_message(const PgQuery__Node *node)
{
	if (node == NULL || node->node_case == PG_QUERY__NODE__NODE__NOT_SET)
		return NULL;
	/* Every member of the oneof is a message pointer at the same address. */
	return (const ProtobufCMessage *)node->alias;
}

static bool is_node(const ProtobufCMessage *msg)
{
	return msg->descriptor == &pg_query__node__descriptor;
}

static void walk_node(const PgQuery__Node *node, struct walk_state st,
                      const struct walk_callbacks *cb)
{
	const ProtobufCMessage *inner = walk_node_message(node);

	if (inner == NULL || st.depth > WALK_MAX_DEPTH)
		return;
	if (cb->node != NULL) {
		struct walk_pos pos = {
		    .scope = st.scope,
		    .clause = st.clause,
		    .parent = st.parent,
		    .depth = st.depth,
		};
		if (!cb->node(node, &pos, cb->arg))
			return;
	}
	st.parent = node;
	st.depth++;
	walk_message(inner, st, cb);
}

/* Visit one child message found in a field. */
static void walk_child(const ProtobufCMessage *child, struct walk_state st,
                       const struct walk_callbacks *cb)
{
	if (child == NULL)
		return;
	if (is_node(child))
		walk_node((const PgQuery__Node *)child, st, cb);
	else if (st.depth <= WALK_MAX_DEPTH)
		walk_message(child, st, cb);
}

/* Clause of a query-level message's field, by field name. */
static enum walk_clause query_field_clause(const ProtobufCMessageDescriptor *d, const char *f)
{
	if (strcmp(f, "with_clause") == 0)
		return WALK_CLAUSE_WITH;
	if (strcmp(f, "where_clause") == 0)
		return WALK_CLAUSE_WHERE;
	if (strcmp(f, "returning_list") == 0)
		return WALK_CLAUSE_RETURNING;
	if (strcmp(f, "relation") == 0)
		return WALK_CLAUSE_RELATION;
	if (strcmp(f, "from_clause") == 0 || strcmp(f, "using_clause") == 0)
		return WALK_CLAUSE_FROM;
	if (strcmp(f, "target_list") == 0)
		return d == &pg_query__select_stmt__descriptor ? WALK_CLAUSE_TARGET
		                                               : WALK_CLAUSE_SET;
	if (strcmp(f, "cols") == 0)
		return WALK_CLAUSE_SET;
	if (strcmp(f, "group_clause") == 0)
		return WALK_CLAUSE_GROUP;
	if (strcmp(f, "having_clause") == 0)
		return WALK_CLAUSE_HAVING;
	if (strcmp(f, "window_clause") == 0)
		return WALK_CLAUSE_WINDOW;
	if (strcmp(f, "values_lists") == 0)
		return WALK_CLAUSE_VALUES;
	if (strcmp(f, "sort_clause") == 0)
		return WALK_CLAUSE_ORDER;
	if (strcmp(f, "limit_count") == 0)
		return WALK_CLAUSE_LIMIT;
	if (strcmp(f, "limit_offset") == 0)
		return WALK_CLAUSE_OFFSET;
	if (strcmp(f, "larg") == 0 || strcmp(f, "rarg") == 0 || strcmp(f, "select_stmt") == 0)
		return WALK_CLAUSE_NONE;
	return WALK_CLAUSE_OTHER;
}

static bool is_query_message(const ProtobufCMessageDescriptor *d)
{
	return d == &pg_query__select_stmt__descriptor || d == &pg_query__insert_stmt__descriptor ||
	       d == &pg_query__update_stmt__descriptor || d == &pg_query__delete_stmt__descriptor;
}

/*
 * Adjust the state for a child reached through field f of message msg: the
 * clause it is in and how a query below it would be embedded.
 */
static void state_for_field(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                            bool is_query, struct walk_state *st)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	st->next_kind = WALK_SCOPE_OTHER;
	if (is_query) {
		st->clause = query_field_clause(d, f->name);
		if (d == &pg_query__select_stmt__descriptor &&
		    (strcmp(f->name, "larg") == 0 || strcmp(f->name, "rarg") == 0))
			st->next_kind = WALK_SCOPE_SETOP_BRANCH;
		else if (d == &pg_query__insert_stmt__descriptor &&
		         strcmp(f->name, "select_stmt") == 0)
			st->next_kind = WALK_SCOPE_INSERT_SOURCE;
		return;
	}
	if (d == &pg_query__join_expr__descriptor) {
		if (strcmp(f->name, "quals") == 0 || strcmp(f->name, "using_clause") == 0)
			st->clause = WALK_CLAUSE_JOIN_ON;
	} else if (d == &pg_query__range_subselect__descriptor) {
		if (strcmp(f->name, "subquery") == 0)
			st->next_kind = WALK_SCOPE_FROM_SUBQUERY;
	} else if (d == &pg_query__common_table_expr__descriptor) {
		if (strcmp(f->name, "ctequery") == 0)
			st->next_kind = WALK_SCOPE_CTE;
	} else if (d == &pg_query__sub_link__descriptor) {
		if (strcmp(f->name, "subselect") == 0) {
			st->next_kind = WALK_SCOPE_SUBLINK;
			st->next_sublink = ((const PgQuery__SubLink *)msg)->sub_link_type;
		}
	}
}

static void walk_fields(const ProtobufCMessage *msg, struct walk_state st, bool is_query,
                        const struct walk_callbacks *cb)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)msg;
		struct walk_state child = st;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
			if (which != f->id)
				continue;
		}
		state_for_field(msg, f, is_query, &child);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const ProtobufCMessage *const *arr =
			    *(const ProtobufCMessage *const *const *)(base + f->offset);
			for (size_t k = 0; k < n; k++)
				walk_child(arr[k], child, cb);
		} else {
			walk_child(*(const ProtobufCMessage *const *)(base + f->offset), child, cb);
		}
	}
}

static void walk_message(const ProtobufCMessage *msg, struct walk_state st,
                         const struct walk_callbacks *cb)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	if (!is_query_message(d)) {
		walk_fields(msg, st, false, cb);
		return;
	}
	struct walk_scope scope = {
	    .outer = st.scope,
	    .kind = st.next_kind,
	    .sublink_type = st.next_sublink,
	    .outer_clause = st.clause,
	    .query = msg,
	};
	/* A set-operation branch produces the outer level's rows: same depth. */
	if (st.scope == NULL)
		scope.depth = 0;
	else if (scope.kind == WALK_SCOPE_SETOP_BRANCH)
		scope.depth = st.scope->depth;
	else
		scope.depth = st.scope->depth + 1;
	if (d == &pg_query__select_stmt__descriptor)
		scope.select = (const PgQuery__SelectStmt *)msg;
	else if (d == &pg_query__insert_stmt__descriptor)
		scope.insert = (const PgQuery__InsertStmt *)msg;
	else if (d == &pg_query__update_stmt__descriptor)
		scope.update = (const PgQuery__UpdateStmt *)msg;
	else
		scope.del = (const PgQuery__DeleteStmt *)msg;

	if (cb->enter_query != NULL)
		cb->enter_query(&scope, cb->arg);
	st.scope = &scope;
	st.clause = WALK_CLAUSE_NONE;
	walk_fields(msg, st, true, cb);
	if (cb->leave_query != NULL)
		cb->leave_query(&scope, cb->arg);
}

void walk_tree(const PgQuery__Node *root, const struct walk_callbacks *cb)
{
	struct walk_state st = {
	    .next_kind = WALK_SCOPE_TOP,
	};

	if (root == NULL)
		return;
	walk_node(root, st, cb);
}

int walk_node_location(const PgQuery__Node *node)
{
	const ProtobufCMessage *inner = walk_node_message(node);

	if (inner == NULL)
		return -1;
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(inner->descriptor, "location");
	if (f == NULL || f->type != PROTOBUF_C_TYPE_INT32)
		return -1;
	int32_t loc = *(const int32_t *)((const char *)inner + f->offset);
	return loc >= 0 ? loc : -1;
}

const char *walk_node_string(const PgQuery__Node *node)
{
	if (node == NULL || node->node_case != PG_QUERY__NODE__NODE_STRING)
		return NULL;
	return node->string->sval;
}

bool walk_node_int_const(const PgQuery__Node *node, long long *out)
{
	if (node == NULL)
		return false;
	if (node->node_case == PG_QUERY__NODE__NODE_TYPE_CAST)
		return walk_node_int_const(node->type_cast->arg, out);
	if (node->node_case != PG_QUERY__NODE__NODE_A_CONST || node->a_const->isnull)
		return false;
	const PgQuery__AConst *c = node->a_const;
	if (c->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
		*out = c->ival->ival;
		return true;
	}
	if (c->val_case == PG_QUERY__A__CONST__VAL_FVAL && c->fval->fval != NULL) {
		/* Integers too big for int32 arrive as Float strings. */
		char *end;
		long long v = strtoll(c->fval->fval, &end, 10);
		if (*end != '\0')
			return false;
		*out = v;
		return true;
	}
	return false;
}

bool walk_column_ref(const PgQuery__Node *node, const char **qualifier, const char **column)
{
	if (node == NULL || node->node_case != PG_QUERY__NODE__NODE_COLUMN_REF)
		return false;
	const PgQuery__ColumnRef *ref = node->column_ref;
	if (ref->n_fields == 0)
		return false;
	const char *last = walk_node_string(ref->fields[ref->n_fields - 1]);
	if (last == NULL)
		return false;
	*column = last;
	*qualifier = ref->n_fields >= 2 ? walk_node_string(ref->fields[ref->n_fields - 2]) : NULL;
	return true;
}

bool walk_node_is_param(const PgQuery__Node *node)
{
	if (node != NULL && node->node_case == PG_QUERY__NODE__NODE_TYPE_CAST)
		node = node->type_cast->arg;
	return node != NULL && node->node_case == PG_QUERY__NODE__NODE_PARAM_REF;
}

static size_t from_leaves(const PgQuery__Node *item, const PgQuery__Node **out, size_t max,
                          size_t n, int depth)
{
	if (item == NULL || depth > WALK_MAX_DEPTH)
		return n;
	if (item->node_case == PG_QUERY__NODE__NODE_JOIN_EXPR) {
		n = from_leaves(item->join_expr->larg, out, max, n, depth + 1);
		return from_leaves(item->join_expr->rarg, out, max, n, depth + 1);
	}
	if (n < max)
		out[n] = item;
	return n + 1;
}

size_t walk_from_leaves(PgQuery__Node *const *from, size_t n, const PgQuery__Node **out, size_t max)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++)
		count = from_leaves(from[i], out, max, count, 0);
	return count;
}

const char *walk_from_item_name(const PgQuery__Node *item)
{
	const PgQuery__Alias *alias = NULL;

	if (item == NULL)
		return NULL;
	switch (item->node_case) {
	case PG_QUERY__NODE__NODE_RANGE_VAR:
		alias = item->range_var->alias;
		if (alias == NULL || alias->aliasname == NULL || alias->aliasname[0] == '\0')
			return item->range_var->relname;
		break;
	case PG_QUERY__NODE__NODE_RANGE_SUBSELECT:
		alias = item->range_subselect->alias;
		break;
	case PG_QUERY__NODE__NODE_RANGE_FUNCTION:
		alias = item->range_function->alias;
		break;
	case PG_QUERY__NODE__NODE_JOIN_EXPR:
		alias = item->join_expr->alias;
		break;
	default:
		return NULL;
	}
	if (alias == NULL || alias->aliasname == NULL || alias->aliasname[0] == '\0')
		return NULL;
	return alias->aliasname;
}

static const PgQuery__WithClause *scope_with(const struct walk_scope *s)
{
	if (s->select != NULL)
		return s->select->with_clause;
	if (s->insert != NULL)
		return s->insert->with_clause;
	if (s->update != NULL)
		return s->update->with_clause;
	if (s->del != NULL)
		return s->del->with_clause;
	return NULL;
}

const PgQuery__CommonTableExpr *walk_find_cte(const struct walk_scope *scope, const char *name)
{
	if (name == NULL)
		return NULL;
	for (const struct walk_scope *s = scope; s != NULL; s = s->outer) {
		const PgQuery__WithClause *w = scope_with(s);
		for (size_t i = 0; w != NULL && i < w->n_ctes; i++) {
			const PgQuery__Node *c = w->ctes[i];
			if (c->node_case == PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR &&
			    c->common_table_expr->ctename != NULL &&
			    strcmp(c->common_table_expr->ctename, name) == 0)
				return c->common_table_expr;
		}
	}
	return NULL;
}

static bool find_param(const PgQuery__Node *node, const struct walk_pos *pos, void *arg)
{
	bool *found = arg;

	if (node->node_case == PG_QUERY__NODE__NODE_PARAM_REF)
		*found = true;
	return !*found;
}

bool walk_contains_param(const PgQuery__Node *node)
{
	bool found = false;
	struct walk_callbacks cb = {.node = find_param, .arg = &found};

	walk_tree(node, &cb);
	return found;
}
