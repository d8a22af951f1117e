/* prepared.c - prepared statements across pooled servers (see prepared.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/client.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/prepared.h"
#include "pooler/proto.h"
#include "pooler/sqlscan.h"

#define PS_QUEUE_MAX 65536 /* Parse/Close messages one pipeline may have in flight */

/* Names the pooler uses on servers for its own purposes. */
#define PS_TMP_NAME     "pgscope_tmp"     /* throwaway statement for a ParseComplete */
#define PS_NONE_NAME    "pgscope_none"    /* never exists: Close of it is a no-op */
#define PS_MISSING_NAME "pgscope_missing" /* never exists: Bind of it fails as PostgreSQL does */
#define PS_DEALLOC_NAME "pgscope_dealloc" /* what a client's SQL DEALLOCATE deallocates instead */

/* A statement prepared on one server connection. */
struct ps_slot {
	struct list lru;
	struct ps_entry *entry;
	bool pending;      /* Parse sent, ParseComplete not seen yet */
	bool stale;        /* validity in doubt: Close it and Parse again before use */
	uint64_t seg;      /* the pipeline segment whose Parse created it */
	uint64_t used_seg; /* the last segment that used it */
};

/* One Parse or Close sent to a server, waiting for its answer. */
struct ps_pending {
	uint8_t kind;             /* 'P' or 'C' */
	uint64_t seg;             /* the pipeline segment (Sync) it was sent in */
	bool swallow;             /* injected by the pooler: the client never sees the answer */
	struct ps_slot *slot;     /* Parse: the server slot it creates, or NULL */
	struct ps_entry *evicted; /* Close: the entry it evicts, or NULL */
	struct client *client;    /* Parse: whose new name to undo on failure, or NULL */
	char *client_name;        /* that name, owned */
	struct ps_entry *restore; /* Parse of a SQL DEALLOCATE: what client_name named */
};

/* ---- the registry of a loop ---- */

static void entry_unref(struct ps_entry *e)
{
	if (--e->refs > 0)
		return;
	htab_del(&e->loop->ps_registry, e->body, e->body_len);
	free(e->body);
	free(e);
}

static struct ps_entry *entry_get(struct loop_state *ls, const uint8_t *body, size_t len)
{
	struct ps_entry *e = htab_get(&ls->ps_registry, body, len);

	if (e != NULL)
		return e;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->body = malloc(len);
	if (e->body == NULL)
		goto out_free;
	memcpy(e->body, body, len);
	e->body_len = len;
	e->loop = ls;
	e->id = ++ls->ps_next_id;
	snprintf(e->name, sizeof(e->name), "pgscope_%llu", (unsigned long long)e->id);
	if (!htab_put(&ls->ps_registry, e->body, len, e))
		goto out_free_body;
	return e;
out_free_body:
	free(e->body);
out_free:
	free(e);
	return NULL;
}

size_t ps_registry_size(const struct loop_state *ls)
{
	return ls->ps_registry.count;
}

/* ---- client names ---- */

void ps_client_init(struct ps_client *pc)
{
	htab_init(&pc->names);
	pc->unnamed = NULL;
	pc->unnamed_len = 0;
}

static void unref_value(void *value, void *arg)
{
	entry_unref(value);
}

void ps_client_forget_all(struct ps_client *pc)
{
	htab_foreach(&pc->names, unref_value, NULL);
	htab_release(&pc->names);
}

void ps_client_release(struct ps_client *pc)
{
	ps_client_forget_all(pc);
	free(pc->unnamed);
	pc->unnamed = NULL;
}

const char *ps_client_text(const struct ps_client *pc, const char *name)
{
	const struct ps_entry *e;

	if (name[0] == 0)
		return pc->unnamed != NULL ? (const char *)pc->unnamed : NULL;
	e = htab_get(&pc->names, name, strlen(name));
	return e != NULL ? (const char *)e->body : NULL;
}

bool ps_client_forget(struct ps_client *pc, const char *name)
{
	struct ps_entry *e = htab_del(&pc->names, name, strlen(name));

	if (e == NULL)
		return false;
	entry_unref(e);
	return true;
}

static bool client_map(struct ps_client *pc, const char *name, struct ps_entry *e)
{
	if (!htab_put(&pc->names, name, strlen(name), e))
		return false;
	e->refs++;
	return true;
}

/* ---- server copies ---- */

void ps_server_init(struct ps_server *ps)
{
	memset(ps, 0, sizeof(*ps));
	htab_init(&ps->slots);
	list_init(&ps->lru);
}

static void slot_remove(struct ps_server *ps, struct ps_slot *slot)
{
	struct ps_entry *e = slot->entry;

	htab_del(&ps->slots, &e, sizeof(e));
	list_del(&slot->lru);
	ps->count--;
	free(slot);
	entry_unref(e);
}

static struct ps_slot *slot_add(struct ps_server *ps, struct ps_entry *e, bool pending)
{
	struct ps_slot *slot = calloc(1, sizeof(*slot));

	if (slot == NULL)
		return NULL;
	if (!htab_put(&ps->slots, &e, sizeof(e), slot)) {
		free(slot);
		return NULL;
	}
	slot->entry = e;
	slot->pending = pending;
	slot->seg = slot->used_seg = ps->seg_sent;
	list_init(&slot->lru);
	list_append(&ps->lru, &slot->lru);
	ps->count++;
	e->refs++;
	return slot;
}

static void pending_free(struct ps_pending *p)
{
	if (p->evicted != NULL)
		entry_unref(p->evicted);
	if (p->restore != NULL)
		entry_unref(p->restore);
	free(p->client_name);
}

static void pending_clear(struct ps_server *ps)
{
	for (int i = 0; i < ps->q_len; i++) {
		struct ps_pending *p = &ps->queue[(ps->q_head + i) % ps->q_cap];

		if (p->slot != NULL)
			p->slot->pending = false;
		pending_free(p);
	}
	ps->q_head = ps->q_len = 0;
}

void ps_server_forget_all(struct ps_server *ps)
{
	struct list *it = ps->lru.next;

	while (it != &ps->lru) {
		struct ps_slot *slot = list_entry(it, struct ps_slot, lru);

		it = it->next;
		/* A Parse still in flight comes after what dropped them all: it stays. */
		if (!slot->pending)
			slot_remove(ps, slot);
	}
	ps->unnamed_owner = NULL;
}

void ps_server_dropped_all(struct server *sv)
{
	struct ps_client *pc = &sv->client->ps;
	struct htab kept;

	htab_init(&kept);
	/* A name whose Parse is still in flight comes after what dropped them all: it stays. */
	for (int i = 0; i < sv->ps.q_len; i++) {
		struct ps_pending *p = &sv->ps.queue[(sv->ps.q_head + i) % sv->ps.q_cap];
		struct ps_entry *e;
		size_t len;

		if (p->client != sv->client || p->client_name == NULL || p->restore != NULL)
			continue;
		len = strlen(p->client_name);
		e = htab_get(&pc->names, p->client_name, len);
		if (e != NULL && htab_get(&kept, p->client_name, len) == NULL &&
		    htab_put(&kept, p->client_name, len, e))
			e->refs++;
	}
	ps_client_forget_all(pc);
	pc->names = kept;
	ps_server_forget_all(&sv->ps);
}

void ps_server_release(struct ps_server *ps)
{
	pending_clear(ps);
	ps_server_forget_all(ps);
	htab_release(&ps->slots);
	free(ps->queue);
	ps->queue = NULL;
	ps->q_cap = 0;
}

static struct ps_pending *pending_push(struct ps_server *ps, uint8_t kind, bool swallow)
{
	struct ps_pending *p;

	if (ps->q_len == ps->q_cap) {
		int cap = ps->q_cap ? ps->q_cap * 2 : 16;
		struct ps_pending *q;

		if (cap > PS_QUEUE_MAX)
			return NULL;
		q = calloc((size_t)cap, sizeof(*q));
		if (q == NULL)
			return NULL;
		for (int i = 0; i < ps->q_len; i++)
			q[i] = ps->queue[(ps->q_head + i) % ps->q_cap];
		free(ps->queue);
		ps->queue = q;
		ps->q_cap = cap;
		ps->q_head = 0;
	}
	p = &ps->queue[(ps->q_head + ps->q_len) % ps->q_cap];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->seg = ps->seg_sent;
	p->swallow = swallow;
	ps->q_len++;
	return p;
}

/* ---- writing messages to the server ---- */

static bool write_parse(struct pbuf *out, const char *name, const uint8_t *body, size_t len)
{
	struct proto_writer w;

	proto_begin(&w, out, 'P');
	proto_put_str(&w, name);
	proto_put_bytes(&w, body, len);
	return proto_end(&w);
}

static bool write_close(struct pbuf *out, char kind, const char *name)
{
	struct proto_writer w;

	proto_begin(&w, out, 'C');
	proto_put_byte(&w, (uint8_t)kind);
	proto_put_str(&w, name);
	return proto_end(&w);
}

/* Close a copy on sv (its answer swallowed) and forget it. */
static bool close_slot(struct server *sv, struct ps_slot *slot)
{
	struct ps_pending *p = pending_push(&sv->ps, 'C', true);

	if (p == NULL || !write_close(&sv->conn.out, 'S', slot->entry->name))
		return false;
	p->evicted = slot->entry;
	slot->entry->refs++; /* held by the record until the Close is answered */
	slot_remove(&sv->ps, slot);
	return true;
}

/* Make room under max_prepared_statements by closing the least recently used copy. */
static bool evict_one(struct server *sv)
{
	struct ps_server *ps = &sv->ps;
	struct list *it;

	for (it = ps->lru.next; it != &ps->lru; it = it->next) {
		struct ps_slot *slot = list_entry(it, struct ps_slot, lru);

		if (!slot->pending)
			return close_slot(sv, slot);
	}
	return true; /* everything is in flight: go over the limit for now */
}

/*
 * e's copy on sv if it may be used; a copy whose validity is in doubt is
 * closed (and NULL returned) so that the caller prepares it afresh. *ok is
 * false when the Close could not be written.
 */
static struct ps_slot *slot_usable(struct server *sv, struct ps_entry *e, bool *ok)
{
	struct ps_slot *slot = htab_get(&sv->ps.slots, &e, sizeof(e));

	*ok = true;
	if (slot == NULL || !slot->stale || slot->pending)
		return slot;
	*ok = close_slot(sv, slot);
	return NULL;
}

/* Prepare e on sv unless it is there; the ParseComplete will be swallowed. */
static bool ensure_prepared(struct server *sv, struct ps_entry *e)
{
	struct ps_server *ps = &sv->ps;
	bool ok;
	struct ps_slot *slot = slot_usable(sv, e, &ok);
	struct ps_pending *p;
	int max = pooler.cfg->max_prepared_statements;

	if (!ok)
		return false;
	if (slot != NULL) {
		slot->used_seg = ps->seg_sent;
		list_del(&slot->lru);
		list_append(&ps->lru, &slot->lru); /* most recent at the tail */
		return true;
	}
	if (max > 0 && ps->count >= max && !evict_one(sv))
		return false;
	p = pending_push(ps, 'P', true);
	if (p == NULL)
		return false;
	p->slot = slot_add(ps, e, true);
	if (p->slot == NULL)
		return false;
	return write_parse(&sv->conn.out, e->name, e->body, e->body_len);
}

/* ---- client messages ---- */

/*
 * "DEALLOCATE [PREPARE] name" or "DEALLOCATE ALL" and nothing after it but a
 * ';': true, with the name as PostgreSQL folds it, or *all.
 */
static bool scan_deallocate(const char *s, const char *end, char *name, size_t namesz, bool *all)
{
	char word[16];
	const char *start;

	s = sqlscan_ident(sqlscan_skip_space(s, end), end, word, sizeof(word));
	if (s == NULL || strcmp(word, "deallocate") != 0)
		return false;
	start = sqlscan_skip_space(s, end);
	s = sqlscan_ident(start, end, name, namesz);
	if (s != NULL && *start != '"' && strcmp(name, "prepare") == 0) {
		const char *next = sqlscan_skip_space(s, end);
		const char *after = sqlscan_ident(next, end, name, namesz);

		if (after != NULL) {
			s = after;
			start = next;
		}
	}
	if (s == NULL || !sqlscan_at_end(s, end))
		return false;
	*all = *start != '"' && strcmp(name, "all") == 0;
	return true;
}

/*
 * An unnamed Parse. When it is SQL "DEALLOCATE name" of a name the client
 * prepared with Parse (psycopg 3 sends its own DEALLOCATEs so), the server
 * knows the statement by its shared name, which other clients may be using:
 * the client's name is dropped here, and the server deallocates a throwaway
 * statement instead, so that the client gets the answers PostgreSQL gives.
 */
static enum ps_verdict parse_unnamed(struct client *c, struct server *sv, const uint8_t *rest,
                                     size_t rest_len)
{
	static const uint8_t empty_query[] = {0, 0, 0};
	const char *query = (const char *)rest;
	size_t qlen = strnlen(query, rest_len);
	char name[PARAMS_NAME_MAX];
	bool all;
	struct ps_entry *e;
	struct ps_pending *p;
	struct proto_writer w;

	if (qlen == rest_len || !scan_deallocate(query, query + qlen, name, sizeof(name), &all) ||
	    all || (e = htab_del(&c->ps.names, name, strlen(name))) == NULL)
		return pending_push(&sv->ps, 'P', false) ? PS_FORWARD : PS_FAIL;
	p = pending_push(&sv->ps, 'C', true);
	/* Closed first: left over if an earlier DEALLOCATE was parsed but never executed. */
	if (p == NULL || !write_close(&sv->conn.out, 'S', PS_DEALLOC_NAME))
		goto fail;
	p = pending_push(&sv->ps, 'P', true);
	if (p == NULL ||
	    !write_parse(&sv->conn.out, PS_DEALLOC_NAME, empty_query, sizeof(empty_query)))
		goto fail;
	p = pending_push(&sv->ps, 'P', false);
	if (p == NULL)
		goto fail;
	p->restore = e; /* the record holds the name's reference: mapped again if never run */
	p->client = c;
	p->client_name = strdup(name);
	proto_begin(&w, &sv->conn.out, 'P');
	proto_put_str(&w, "");
	proto_put_str(&w, "DEALLOCATE " PS_DEALLOC_NAME);
	proto_put_bytes(&w, rest + qlen + 1, rest_len - qlen - 1);
	return proto_end(&w) ? PS_REWRITTEN : PS_FAIL;
fail:
	entry_unref(e);
	return PS_FAIL;
}

static enum ps_verdict on_parse(struct client *c, struct server *sv, const struct relay_msg *m)
{
	struct proto_reader r;
	const char *name;
	struct ps_entry *e;
	struct ps_pending *p;
	const uint8_t *rest;
	size_t rest_len;
	bool ok;

	proto_reader_init(&r, m->body, m->len);
	name = proto_read_str(&r);
	if (r.bad)
		return PS_FORWARD; /* malformed: let the server say so */
	rest = r.pos;
	rest_len = proto_reader_left(&r);
	if (name[0] == 0) {
		/* The unnamed statement: remember it, so it can follow the client across Syncs. */
		free(c->ps.unnamed);
		c->ps.unnamed = malloc(rest_len ? rest_len : 1);
		if (c->ps.unnamed == NULL)
			return PS_FAIL;
		memcpy(c->ps.unnamed, rest, rest_len);
		c->ps.unnamed_len = rest_len;
		sv->ps.unnamed_owner = c;
		return parse_unnamed(c, sv, rest, rest_len);
	}
	e = htab_get(&c->ps.names, name, strlen(name));
	if (e != NULL) {
		/*
		 * The name is taken: PostgreSQL answers 42P05. Parse the existing
		 * server name again on a server that has it, so the server says so.
		 */
		if (!ensure_prepared(sv, e))
			return PS_FAIL;
		p = pending_push(&sv->ps, 'P', false);
		if (p == NULL || !write_parse(&sv->conn.out, e->name, rest, rest_len))
			return PS_FAIL;
		return PS_REWRITTEN;
	}
	e = entry_get(c->loop, rest, rest_len);
	if (e == NULL)
		return PS_FAIL;
	if (!client_map(&c->ps, name, e)) {
		e->refs++;
		entry_unref(e); /* frees it if nothing else points at it */
		return PS_FAIL;
	}
	slot_usable(sv, e, &ok); /* a copy in doubt is closed here and prepared again below */
	if (!ok)
		return PS_FAIL;
	p = pending_push(&sv->ps, 'P', false);
	if (p == NULL)
		return PS_FAIL;
	p->client = c;
	p->client_name = strdup(name);
	if (htab_get(&sv->ps.slots, &e, sizeof(e)) != NULL) {
		/*
		 * Already on this server: a throwaway Parse gives the client its
		 * ParseComplete in the right place in the stream.
		 */
		static const uint8_t empty_query[] = {0, 0, 0};
		struct ps_pending *close;

		ensure_prepared(sv, e); /* refresh its LRU position */
		if (!write_parse(&sv->conn.out, PS_TMP_NAME, empty_query, sizeof(empty_query)))
			return PS_FAIL;
		close = pending_push(&sv->ps, 'C', true);
		if (close == NULL || !write_close(&sv->conn.out, 'S', PS_TMP_NAME))
			return PS_FAIL;
		return PS_REWRITTEN;
	}
	{
		int max = pooler.cfg->max_prepared_statements;

		/* The record for this Parse is already queued: evictions go after it. */
		if (max > 0 && sv->ps.count >= max && !evict_one(sv))
			return PS_FAIL;
	}
	p = &sv->ps.queue[(sv->ps.q_head + sv->ps.q_len - 1) % sv->ps.q_cap];
	if (p->kind == 'C') {
		/*
		 * An eviction Close went on the queue after the Parse record but
		 * must reach the server before the Parse: swap their places.
		 */
		int last = (sv->ps.q_head + sv->ps.q_len - 1) % sv->ps.q_cap;
		int prev = (sv->ps.q_head + sv->ps.q_len - 2) % sv->ps.q_cap;
		struct ps_pending tmp = sv->ps.queue[prev];

		sv->ps.queue[prev] = sv->ps.queue[last];
		sv->ps.queue[last] = tmp;
		p = &sv->ps.queue[last];
	}
	p->slot = slot_add(&sv->ps, e, true);
	if (p->slot == NULL || !write_parse(&sv->conn.out, e->name, rest, rest_len))
		return PS_FAIL;
	return PS_REWRITTEN;
}

/*
 * The server-side name for the client's statement name, making sure the
 * statement exists on sv. NULL when the pooler cannot go on.
 */
static const char *statement_for(struct client *c, struct server *sv, const char *name)
{
	struct ps_entry *e;

	if (name[0] == 0) {
		struct ps_pending *p;

		if (sv->ps.unnamed_owner == c)
			return "";
		if (c->ps.unnamed == NULL)
			return PS_MISSING_NAME; /* fails as a missing statement would */
		p = pending_push(&sv->ps, 'P', true);
		if (p == NULL || !write_parse(&sv->conn.out, "", c->ps.unnamed, c->ps.unnamed_len))
			return NULL;
		sv->ps.unnamed_owner = c;
		return "";
	}
	e = htab_get(&c->ps.names, name, strlen(name));
	if (e == NULL)
		return name; /* unknown: the server answers 26000 */
	if (!ensure_prepared(sv, e))
		return NULL;
	return e->name;
}

static enum ps_verdict on_bind(struct client *c, struct server *sv, const struct relay_msg *m)
{
	struct proto_reader r;
	const char *portal, *stmt, *target;
	struct proto_writer w;

	proto_reader_init(&r, m->body, m->len);
	portal = proto_read_str(&r);
	stmt = proto_read_str(&r);
	if (r.bad)
		return PS_FORWARD;
	target = statement_for(c, sv, stmt);
	if (target == NULL)
		return PS_FAIL;
	proto_begin(&w, &sv->conn.out, 'B');
	proto_put_str(&w, portal);
	proto_put_str(&w, target);
	proto_put_bytes(&w, r.pos, proto_reader_left(&r));
	return proto_end(&w) ? PS_REWRITTEN : PS_FAIL;
}

static enum ps_verdict on_describe(struct client *c, struct server *sv, const struct relay_msg *m)
{
	struct proto_reader r;
	uint8_t kind;
	const char *name, *target;
	struct proto_writer w;

	proto_reader_init(&r, m->body, m->len);
	kind = proto_read_byte(&r);
	name = proto_read_str(&r);
	if (r.bad || kind != 'S')
		return PS_FORWARD;
	target = statement_for(c, sv, name);
	if (target == NULL)
		return PS_FAIL;
	proto_begin(&w, &sv->conn.out, 'D');
	proto_put_byte(&w, 'S');
	proto_put_str(&w, target);
	return proto_end(&w) ? PS_REWRITTEN : PS_FAIL;
}

static enum ps_verdict on_close(struct client *c, struct server *sv, const struct relay_msg *m)
{
	struct proto_reader r;
	uint8_t kind;
	const char *name;

	proto_reader_init(&r, m->body, m->len);
	kind = proto_read_byte(&r);
	name = proto_read_str(&r);
	if (r.bad)
		return PS_FORWARD;
	if (pending_push(&sv->ps, 'C', false) == NULL)
		return PS_FAIL;
	if (kind != 'S')
		return PS_FORWARD;
	if (name[0] == 0) {
		free(c->ps.unnamed);
		c->ps.unnamed = NULL;
		if (sv->ps.unnamed_owner == c)
			return PS_FORWARD;
	} else {
		ps_client_forget(&c->ps, name);
	}
	/* The server keeps its copy for others; the client still gets its CloseComplete. */
	return write_close(&sv->conn.out, 'S', PS_NONE_NAME) ? PS_REWRITTEN : PS_FAIL;
}

enum ps_verdict ps_client_message(struct client *c, struct server *sv, const struct relay_msg *m)
{
	switch (m->type) {
	case 'P':
		return on_parse(c, sv, m);
	case 'B':
		return on_bind(c, sv, m);
	case 'D':
		return on_describe(c, sv, m);
	case 'C':
		return on_close(c, sv, m);
	case 'Q':
		/* A simple query destroys the unnamed statement. */
		free(c->ps.unnamed);
		c->ps.unnamed = NULL;
		sv->ps.unnamed_owner = NULL;
		return PS_FORWARD;
	default:
		return PS_FORWARD;
	}
}

/* ---- server responses ---- */

/* A Parse that never ran: its new client name goes, or the name it deallocated comes back. */
static void undo_client_name(struct ps_pending *p)
{
	struct ps_client *pc = &p->client->ps;

	if (p->restore == NULL) {
		ps_client_forget(pc, p->client_name);
		return;
	}
	if (htab_get(&pc->names, p->client_name, strlen(p->client_name)) == NULL)
		client_map(pc, p->client_name, p->restore);
}

void ps_server_died(struct server *sv)
{
	struct ps_server *ps = &sv->ps;

	for (int i = 0; i < ps->q_len; i++) {
		struct ps_pending *p = &ps->queue[(ps->q_head + i) % ps->q_cap];

		if (p->client != NULL && p->client_name != NULL && p->client == sv->client)
			undo_client_name(p);
	}
}

/*
 * After an error the server skipped to the segment's Sync: undo what the
 * queued messages of that segment would have done. Later segments are
 * already on the wire and will be answered normally.
 */
static void undo_segment(struct server *sv)
{
	struct ps_server *ps = &sv->ps;

	while (ps->q_len > 0) {
		struct ps_pending *p = &ps->queue[ps->q_head];

		if (p->seg != ps->seg_done)
			break;
		if (p->slot != NULL)
			slot_remove(ps, p->slot);
		if (p->client != NULL && p->client_name != NULL && p->client == sv->client)
			undo_client_name(p);
		if (p->evicted != NULL &&
		    htab_get(&ps->slots, &p->evicted, sizeof(p->evicted)) == NULL) {
			/* The Close never ran: the server still has it, maybe in doubt. */
			struct ps_slot *slot = slot_add(ps, p->evicted, false);

			if (slot != NULL)
				slot->stale = true;
		}
		pending_free(p);
		ps->q_head = (ps->q_head + 1) % ps->q_cap;
		ps->q_len--;
	}
}

void ps_segment_sent(struct server *sv)
{
	sv->ps.seg_sent++;
}

/* Mark the copies on ps that match (non-pending ones, seg at least FROM) as in doubt. */
static void mark_stale(struct ps_server *ps, bool by_use, uint64_t from)
{
	struct list *it;

	for (it = ps->lru.next; it != &ps->lru; it = it->next) {
		struct ps_slot *slot = list_entry(it, struct ps_slot, lru);

		if (!slot->pending && (by_use ? slot->used_seg : slot->seg) >= from)
			slot->stale = true;
	}
}

void ps_server_rolled_back(struct ps_server *ps)
{
	/* Created in the transaction: may depend on what it created (a type, a table). */
	mark_stale(ps, false, ps->xact_seg);
}

/*
 * An error: the transaction it is in will not commit. Errors a stale plan
 * gives ("cached plan must not change result type", 0A000; "cache lookup
 * failed", XX000) put the statements of the failing segment in doubt.
 */
static void on_error(struct ps_server *ps, const struct relay_msg *m)
{
	struct proto_error_info e;

	ps->xact_failed = true;
	if (!proto_parse_error(m->body, m->len, &e))
		return;
	if (strcmp(e.sqlstate, SQLSTATE_FEATURE_NOT_SUPPORTED) == 0 ||
	    strcmp(e.sqlstate, SQLSTATE_INTERNAL_ERROR) == 0)
		mark_stale(ps, true, ps->seg_done);
}

/* ReadyForQuery: a segment is answered; at 'I' its transaction is over. */
static void on_ready(struct ps_server *ps, const struct relay_msg *m)
{
	char status = m->len > 0 ? (char)m->body[0] : 'I';

	ps->seg_done++;
	if (status != 'I')
		return;
	if (ps->xact_failed)
		ps_server_rolled_back(ps);
	ps->xact_failed = false;
	ps->xact_seg = ps->seg_done;
}

bool ps_server_response(struct server *sv, const struct relay_msg *m, bool *broken)
{
	struct ps_server *ps = &sv->ps;
	struct ps_pending *p;
	uint8_t type = m->type;
	bool swallow;

	*broken = false;
	if (type == 'E') {
		undo_segment(sv);
		on_error(ps, m);
		return false;
	}
	if (type == 'Z') {
		undo_segment(sv); /* nothing is left unless the server skipped something */
		on_ready(ps, m);
		return false;
	}
	if (ps->q_len == 0) {
		*broken = true;
		return false;
	}
	p = &ps->queue[ps->q_head];
	if ((type == '1' && p->kind != 'P') || (type == '3' && p->kind != 'C')) {
		*broken = true;
		return false;
	}
	if (p->slot != NULL)
		p->slot->pending = false;
	swallow = p->swallow;
	pending_free(p);
	ps->q_head = (ps->q_head + 1) % ps->q_cap;
	ps->q_len--;
	return swallow;
}

/* ---- SQL-level PREPARE / EXECUTE / DEALLOCATE ---- */

static void reply_local(struct client *c, const char *tag, const char *sqlstate,
                        const char *message)
{
	if (sqlstate != NULL) {
		client_log_error(c, "ERROR", sqlstate, message);
		proto_write_error(&c->conn.out, "ERROR", sqlstate, message);
	} else {
		struct proto_writer w;

		proto_begin(&w, &c->conn.out, 'C');
		proto_put_str(&w, tag);
		proto_end(&w);
	}
	proto_write_ready(&c->conn.out, c->txn.status);
}

bool ps_simple_query(struct client *c, const uint8_t *body, size_t len)
{
	const char *s = (const char *)body;
	const char *end = s + (len > 0 ? len - 1 : 0); /* without the NUL */
	char word[64], name[PARAMS_NAME_MAX];
	bool all;

	if (sqlscan_ident(sqlscan_skip_space(s, end), end, word, sizeof(word)) == NULL)
		return false;
	if (strcmp(word, "prepare") == 0 || strcmp(word, "execute") == 0) {
		if (c->txn.status != 'I')
			return false; /* inside a transaction it stays on one server: fine */
		reply_local(c, NULL, SQLSTATE_FEATURE_NOT_SUPPORTED,
		            "SQL PREPARE/EXECUTE outside a transaction is not supported in "
		            "transaction pooling mode: the statement would exist on one server "
		            "connection only; use protocol-level prepared statements (Parse/Bind), "
		            "or PREPARE and EXECUTE inside one transaction");
		return true;
	}
	if (!scan_deallocate(s, end, name, sizeof(name), &all))
		return false; /* not DEALLOCATE, or more statements follow: leave it to the server
		               */
	if (all) {
		ps_client_forget_all(&c->ps);
		reply_local(c, "DEALLOCATE ALL", NULL, NULL);
		return true;
	}
	if (ps_client_forget(&c->ps, name)) {
		reply_local(c, "DEALLOCATE", NULL, NULL);
		return true;
	}
	if (c->txn.status != 'I')
		return false; /* may be a statement PREPAREd inside this transaction */
	{
		char msg[PARAMS_NAME_MAX + 64];

		snprintf(msg, sizeof(msg), "prepared statement \"%s\" does not exist", name);
		reply_local(c, NULL, "26000", msg);
	}
	return true;
}
