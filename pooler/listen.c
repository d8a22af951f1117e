/* listen.c - LISTEN/NOTIFY in transaction and statement mode (see listen.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/client.h"
#include "pooler/conn.h"
#include "pooler/listen.h"
#include "pooler/log.h"
#include "pooler/pool.h"
#include "pooler/proto.h"
#include "pooler/server.h"
#include "pooler/sqlscan.h"

#define NOTIFY_HOLD_MAX (1024u * 1024u) /* notifications held per client in a transaction */

/* One channel some clients of a pool listen to. */
struct listen_channel {
	int refs;       /* subscribed clients */
	bool confirmed; /* the listening connection has run its LISTEN */
};

static void reply(struct client *c, const char *tag)
{
	struct proto_writer w;

	proto_begin(&w, &c->conn.out, 'C');
	proto_put_str(&w, tag);
	proto_end(&w);
	proto_write_ready(&c->conn.out, c->txn.status);
}

/* Queue a LISTEN or UNLISTEN for the listening connection. */
static bool queue_command(struct pool *p, const char *verb, const char *channel)
{
	char ident[PARAMS_NAME_MAX * 2 + 4];
	size_t old = p->listen_sql ? strlen(p->listen_sql) : 0;
	size_t add;
	char *sql;

	if (!proto_quote_ident(channel, ident, sizeof(ident)))
		return false;
	add = strlen(verb) + strlen(ident) + 3;
	sql = realloc(p->listen_sql, old + add);
	if (sql == NULL)
		return false;
	snprintf(sql + old, add, "%s %s;", verb, ident);
	p->listen_sql = sql;
	return true;
}

static void listen_query_done(struct server *sv, void *arg, bool failed);

static const struct server_query_ops listen_query_ops = {.name = "listen",
                                                         .on_done = listen_query_done};

/* Send what is queued if the listening connection is free; open it if missing. */
static void listen_kick(struct pool *p)
{
	struct server *sv = p->listen_server;
	char *sql;

	if (sv == NULL) {
		if (p->channels.count == 0 || pooler.shutting_down)
			return;
		sv = server_connect(p, p->primary);
		if (sv == NULL)
			return;
		p->n_servers--; /* not one of the pool's servers */
		sv->listen_conn = true;
		p->listen_server = sv;
		return;
	}
	if (sv->state != SV_LISTEN || p->listen_sql == NULL)
		return;
	sql = p->listen_sql;
	p->listen_sql = NULL;
	server_query(sv, sql, &listen_query_ops, NULL);
	free(sql);
}

static void subscribe(struct client *c, const char *channel)
{
	struct pool *p = c->pool;
	struct listen_channel *ch;

	if (htab_get(&c->channels, channel, strlen(channel)) != NULL) {
		reply(c, "LISTEN");
		return;
	}
	ch = htab_get(&p->channels, channel, strlen(channel));
	if (ch == NULL) {
		ch = calloc(1, sizeof(*ch));
		if (ch == NULL || !htab_put(&p->channels, channel, strlen(channel), ch) ||
		    !queue_command(p, "LISTEN", channel)) {
			free(ch);
			proto_write_error(&c->conn.out, "ERROR", SQLSTATE_INTERNAL_ERROR,
			                  "could not register the LISTEN");
			proto_write_ready(&c->conn.out, c->txn.status);
			return;
		}
	}
	ch->refs++;
	htab_put(&c->channels, channel, strlen(channel), ch);
	if (ch->confirmed) {
		reply(c, "LISTEN");
		return;
	}
	/* Answer once the server listens, so no NOTIFY after our reply is missed. */
	c->listen_wait = true;
	conn_stop_read(&c->conn);
	listen_kick(p);
}

static void unsubscribe(struct client *c, const char *channel)
{
	struct pool *p = c->pool;
	struct listen_channel *ch = htab_del(&c->channels, channel, strlen(channel));

	if (ch == NULL)
		return;
	if (--ch->refs > 0)
		return;
	htab_del(&p->channels, channel, strlen(channel));
	free(ch);
	queue_command(p, "UNLISTEN", channel);
	listen_kick(p);
}

/* Every channel name of a client (htab keys), unsubscribed one by one. */
static void unsubscribe_all(struct client *c)
{
	while (c->channels.count > 0) {
		struct htab_item *it = NULL;
		char name[PARAMS_NAME_MAX];

		for (size_t i = 0; i < c->channels.n_buckets && it == NULL; i++)
			it = c->channels.buckets[i];
		if (it == NULL || it->key_len >= sizeof(name))
			break;
		memcpy(name, it->key, it->key_len);
		name[it->key_len] = 0;
		unsubscribe(c, name);
	}
}

bool listen_simple_query(struct client *c, const uint8_t *body, size_t len)
{
	const char *s = (const char *)body;
	const char *end = s + (len > 0 ? len - 1 : 0);
	char word[16], channel[PARAMS_NAME_MAX];
	const char *after;

	s = sqlscan_ident(sqlscan_skip_space(s, end), end, word, sizeof(word));
	if (s == NULL || (strcmp(word, "listen") != 0 && strcmp(word, "unlisten") != 0))
		return false;
	s = sqlscan_skip_space(s, end);
	if (strcmp(word, "unlisten") == 0 && s < end && *s == '*') {
		if (!sqlscan_at_end(s + 1, end))
			return false;
		unsubscribe_all(c);
		reply(c, "UNLISTEN");
		return true;
	}
	after = sqlscan_ident(s, end, channel, sizeof(channel));
	if (after == NULL || !sqlscan_at_end(after, end))
		return false;
	if (strcmp(word, "listen") == 0) {
		subscribe(c, channel);
		return true;
	}
	unsubscribe(c, channel);
	reply(c, "UNLISTEN");
	return true;
}

/* A new listening connection LISTENs again on every channel. */
void listen_server_ready(struct server *sv)
{
	struct pool *p = sv->pool;

	free(p->listen_sql);
	p->listen_sql = NULL;
	for (size_t i = 0; i < p->channels.n_buckets; i++) {
		for (struct htab_item *it = p->channels.buckets[i]; it != NULL; it = it->next) {
			char name[PARAMS_NAME_MAX];

			if (it->key_len >= sizeof(name))
				continue;
			memcpy(name, it->key, it->key_len);
			name[it->key_len] = 0;
			queue_command(p, "LISTEN", name);
		}
	}
	server_set_state(sv, SV_LISTEN);
	conn_start_read(&sv->conn);
	log_event(LOG_INFO, "listen.ready", LOG_STR, "db", p->db->name, LOG_INT, "channels",
	          (long long)p->channels.count, LOG_END);
	listen_kick(p);
}

static void confirm(void *value, void *arg)
{
	struct listen_channel *ch = value;

	ch->confirmed = true;
	(void)arg;
}

/* Answer the clients whose LISTEN waited for the server. */
static void release_waiters(struct list *head)
{
	struct list *it = head->next;

	while (it != head) {
		struct client *c = list_entry(it, struct client, node);

		it = it->next;
		if (!c->listen_wait)
			continue;
		c->listen_wait = false;
		reply(c, "LISTEN");
		if (!client_flush(c))
			continue;
		conn_start_read(&c->conn);
		if (pbuf_len(&c->conn.in) > 0)
			client_process_input(c);
	}
}

/* The LISTEN/UNLISTEN batch ran on the listening connection. */
static void listen_query_done(struct server *sv, void *arg, bool failed)
{
	struct pool *p = sv->pool;

	if (failed) {
		log_event(LOG_ERROR, "listen.failed", LOG_STR, "db", p->db->name, LOG_STR, "error",
		          sv->error_message, LOG_END);
		sv->dirty = true;
		server_close(sv, "LISTEN failed");
		return;
	}
	server_set_state(sv, SV_LISTEN);
	if (p->listen_sql == NULL) {
		/* Every channel asked for so far is now listened to. */
		htab_foreach(&p->channels, confirm, NULL);
		release_waiters(&p->idle_clients);
	}
	listen_kick(p);
}

static bool client_has_channel(const struct client *c, const char *channel)
{
	return htab_get(&c->channels, channel, strlen(channel)) != NULL;
}

static void deliver_to(struct client *c, const uint8_t *body, size_t len)
{
	struct proto_writer w;

	if (c->state == CL_IDLE && pbuf_len(&c->notify_out) == 0) {
		proto_begin(&w, &c->conn.out, 'A');
		proto_put_bytes(&w, body, len);
		if (proto_end(&w))
			client_flush(c);
		return;
	}
	if (pbuf_len(&c->notify_out) + len + 5 > NOTIFY_HOLD_MAX) {
		log_event(LOG_WARNING, "listen.dropped", LOG_INT, "client", (long long)c->id,
		          LOG_END);
		return;
	}
	proto_begin(&w, &c->notify_out, 'A');
	proto_put_bytes(&w, body, len);
	proto_end(&w);
}

static void deliver_list(struct list *head, const char *channel, const uint8_t *body, size_t len)
{
	struct list *it = head->next;

	while (it != head) {
		struct client *c = list_entry(it, struct client, node);

		it = it->next;
		if (client_has_channel(c, channel))
			deliver_to(c, body, len);
	}
}

void listen_deliver(struct pool *p, const uint8_t *body, size_t len)
{
	struct proto_reader r;
	const char *channel;

	proto_reader_init(&r, body, len);
	proto_read_int32(&r);
	channel = proto_read_str(&r);
	if (r.bad)
		return;
	deliver_list(&p->idle_clients, channel, body, len);
	deliver_list(&p->active_clients, channel, body, len);
	deliver_list(&p->waiting_clients, channel, body, len);
}

void listen_flush_client(struct client *c)
{
	if (pbuf_len(&c->notify_out) == 0)
		return;
	if (pbuf_append(&c->conn.out, pbuf_head(&c->notify_out), pbuf_len(&c->notify_out)))
		pbuf_consume(&c->notify_out, pbuf_len(&c->notify_out));
	pbuf_release(&c->notify_out);
}

void listen_server_gone(struct server *sv)
{
	struct pool *p = sv->pool;

	if (p->listen_server != sv)
		return;
	p->listen_server = NULL;
	for (size_t i = 0; i < p->channels.n_buckets; i++) {
		for (struct htab_item *it = p->channels.buckets[i]; it != NULL; it = it->next)
			((struct listen_channel *)it->value)->confirmed = false;
	}
}

void listen_client_gone(struct client *c)
{
	if (c->pool != NULL)
		unsubscribe_all(c);
	htab_release(&c->channels);
	pbuf_release(&c->notify_out);
}

void listen_janitor(struct pool *p)
{
	if (p->listen_server == NULL && p->channels.count > 0)
		listen_kick(p);
}
