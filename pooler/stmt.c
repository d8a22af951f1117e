/* stmt.c - per-statement tracking and the completed-statement hook (see stmt.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/observe.h"
#include "pooler/proto.h"
#include "pooler/schema.h"
#include "pooler/stmt.h"

void stmt_begin(struct client *c, char kind, ev_tstamp now, uint64_t text_hash,
                uint64_t params_hash)
{
	struct stmt_track *t;

	if (c->stmt_count >= STMT_QUEUE_LEN)
		return;
	if (c->stmts == NULL) {
		c->stmts = malloc(STMT_QUEUE_LEN * sizeof(*c->stmts));
		if (c->stmts == NULL)
			return; /* the request goes untimed */
		c->stmt_head = 0;
	}
	t = &c->stmts[(c->stmt_head + c->stmt_count) % STMT_QUEUE_LEN];
	c->stmt_count++;
	t->start = now;
	t->rows = -1;
	t->tag[0] = 0;
	t->sqlstate[0] = 0;
	t->kind = kind;
	t->text_hash = text_hash;
	t->params_hash = params_hash;
}

int stmt_in_flight(const struct client *c)
{
	return c->stmt_count;
}

void stmt_forget_all(struct client *c)
{
	c->stmt_head = 0;
	c->stmt_count = 0;
}

void stmt_release(struct client *c)
{
	if (c->stmt_count > 0)
		return;
	free(c->stmts);
	c->stmts = NULL;
	c->stmt_head = 0;
}

static struct stmt_track *stmt_oldest(struct client *c)
{
	return c->stmt_count > 0 ? &c->stmts[c->stmt_head] : NULL;
}

static void stmt_drop_oldest(struct client *c)
{
	c->stmt_head = (c->stmt_head + 1) % STMT_QUEUE_LEN;
	c->stmt_count--;
}

static void stmt_finish_oldest(struct client *c, ev_tstamp now)
{
	struct stmt_track *t = stmt_oldest(c);
	struct stmt_event ev;

	if (t == NULL)
		return;
	ev.client = c;
	ev.kind = t->kind;
	ev.start = t->start;
	ev.end = now;
	ev.wait = c->last_wait;
	ev.rows = t->rows;
	ev.tag = t->tag;
	ev.sqlstate = t->sqlstate;
	ev.xact_id = c->txn.id;
	ev.text_hash = t->text_hash;
	ev.params_hash = t->params_hash;
	stmt_drop_oldest(c);
	c->last_wait = 0;
	c->queries++;
	stmt_completed(&ev);
}

void stmt_command_complete(struct client *c, const char *tag, ev_tstamp now)
{
	struct stmt_track *t = stmt_oldest(c);

	if (t == NULL)
		return;
	snprintf(t->tag, sizeof(t->tag), "%s", tag);
	t->rows = proto_tag_rows(tag);
	/* A simple Query may hold several statements; it ends at ReadyForQuery. */
	if (t->kind == 'E')
		stmt_finish_oldest(c, now);
}

void stmt_error(struct client *c, const char *sqlstate, ev_tstamp now)
{
	struct stmt_track *t = stmt_oldest(c);

	if (t == NULL)
		return;
	if (t->sqlstate[0] == 0)
		snprintf(t->sqlstate, sizeof(t->sqlstate), "%s", sqlstate);
	if (t->kind == 'E')
		stmt_finish_oldest(c, now);
}

void stmt_execute_done(struct client *c, ev_tstamp now)
{
	struct stmt_track *t = stmt_oldest(c);

	if (t != NULL && t->kind == 'E')
		stmt_finish_oldest(c, now);
}

void stmt_ready(struct client *c, ev_tstamp now)
{
	struct stmt_track *t = stmt_oldest(c);

	if (t != NULL && t->kind == 'Q') {
		stmt_finish_oldest(c, now);
		return;
	}
	if (t != NULL && t->kind == 'F') {
		/* A FunctionCall is timed for cancel safety only, not reported. */
		stmt_drop_oldest(c);
		return;
	}
	/* Executes skipped after an error in the same pipeline never complete. */
	while (c->stmt_count > 0 && stmt_oldest(c)->kind == 'E')
		stmt_drop_oldest(c);
}

void stmt_completed(const struct stmt_event *ev)
{
	ev->client->loop->stats.statements++;
	ev->client->pool->traffic.queries++;
	ev->client->pool->traffic.query_time += ev->end - ev->start;
	if (ev->client->server != NULL) {
		ev->client->server->endpoint->traffic.queries++;
		ev->client->server->endpoint->traffic.query_time += ev->end - ev->start;
		counts_statement(&ev->client->pool->traffic, ev->client->server->endpoint->role,
		                 ev->end - ev->start);
	}
	observe_statement(ev);
	schema_statement_done(ev->client->pool, ev->tag, ev->end);
	if (!log_enabled(LOG_DEBUG))
		return;
	log_event(LOG_DEBUG, "statement.done", LOG_INT, "client", (long long)ev->client->id,
	          LOG_STR, "kind", ev->kind == 'Q' ? "simple" : "extended", LOG_STR, "tag", ev->tag,
	          LOG_INT, "rows", ev->rows, LOG_STR, "sqlstate", ev->sqlstate, LOG_INT,
	          "duration_us", (long long)((ev->end - ev->start) * 1e6), LOG_INT, "xact",
	          (long long)ev->xact_id, LOG_END);
}
