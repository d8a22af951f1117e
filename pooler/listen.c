/* listen.c - LISTEN/NOTIFY in transaction and statement mode (see listen.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/client.h"
#include "pooler/conn.h"
#include "pooler/listen.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/pool.h"
#include "pooler/proto.h"
#include "pooler/server.h"
#include "pooler/sqlscan.h"

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

/*
 * Backpressure. Every listener of a pool is fed from the one listening
 * connection, so a listener that does not take its notifications would make
 * pgscope buffer them without bound. Instead, a listener with CONN_HIGH_WATER
 * bytes unread is "stalled" and the listening connection stops reading (the
 * notifications wait in PostgreSQL's queue) until every stalled listener has
 * drained below CONN_LOW_WATER, left, or been disconnected for staying
 * stalled longer than notify_stall_timeout.
 */

/* Bytes a listener has not taken yet: held notifications, and between transactions its output. */
static size_t pending_bytes(const struct client *c)
{
	size_t n = pbuf_len(&c->notify_out);

	if (c->state == CL_IDLE)
		n += pbuf_len(&c->conn.out);
	return n;
}

static void listen_pause(struct pool *p)
{
	struct server *sv = p->listen_server;

	if (sv == NULL || sv->conn.paused)
		return;
	sv->conn.paused = true;
	conn_stop_read(&sv->conn);
}

/*
 * Only starts the read watcher: the relay has handled every whole message it
 * had, so nothing waits in the buffer, and nothing runs inside the caller.
 */
static void listen_resume(struct pool *p)
{
	struct server *sv = p->listen_server;

	if (sv == NULL || !sv->conn.paused)
		return;
	if (sv->state == SV_LISTEN || sv->state == SV_INTERNAL)
		conn_start_read(&sv->conn);
}

static void stall_begin(struct client *c)
{
	if (c->listen_stalled)
		return;
	c->listen_stalled = true;
	c->stalled_since = ev_now(c->conn.ev);
	c->pool->listen_stalled++;
}

/* c no longer holds its pool's listening connection up; the last one lets it read. */
static void stall_end(struct client *c)
{
	if (!c->listen_stalled)
		return;
	c->listen_stalled = false;
	if (--c->pool->listen_stalled == 0)
		listen_resume(c->pool);
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
			client_log_error(c, "ERROR", SQLSTATE_INTERNAL_ERROR,
			                 "could not register the LISTEN");
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
	if (c->channels.count == 0)
		stall_end(c); /* nothing more comes its way */
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

/* One NotificationResponse into b; false if b is at its limit. */
static bool append_notification(struct pbuf *b, const uint8_t *body, size_t len)
{
	struct proto_writer w;

	proto_begin(&w, b, 'A');
	proto_put_bytes(&w, body, len);
	return proto_end(&w);
}

/* Move whole held notifications to the client's output while it is below the high-water mark. */
static void move_held(struct client *c)
{
	struct pbuf *held = &c->notify_out;

	while (pbuf_len(held) >= PROTO_HDR && pbuf_len(&c->conn.out) < CONN_HIGH_WATER) {
		size_t whole = 1 + (size_t)proto_get32(pbuf_head(held) + 1);

		if (!pbuf_append(&c->conn.out, pbuf_head(held), whole))
			break;
		pbuf_consume(held, whole);
	}
	if (pbuf_len(held) == 0)
		pbuf_release(held);
}

static void count_drop(struct client *c, const char *why)
{
	c->loop->stats.notifications_dropped++;
	log_event(LOG_WARNING, "listen.dropped", LOG_INT, "client", (long long)c->id, LOG_STR,
	          "addr", c->addr, LOG_STR, "reason", why, LOG_INT, "dropped_total",
	          (long long)c->loop->stats.notifications_dropped, LOG_END);
}

/*
 * Between transactions a notification goes out at once, behind any still
 * held; inside one it is held until the transaction ends.
 */
static void deliver_to(struct client *c, const uint8_t *body, size_t len)
{
	bool idle = c->state == CL_IDLE;

	if (!(idle && pbuf_len(&c->notify_out) == 0 &&
	      append_notification(&c->conn.out, body, len)) &&
	    !append_notification(&c->notify_out, body, len)) {
		count_drop(c, "buffer limit");
		return;
	}
	if (idle && !client_flush(c))
		return; /* it went away */
	if (pending_bytes(c) >= CONN_HIGH_WATER)
		stall_begin(c);
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
	if (r.bad) {
		p->loop->stats.notifications_dropped++;
		log_event(LOG_WARNING, "listen.dropped", LOG_STR, "db", p->db->name, LOG_STR,
		          "reason", "malformed NotificationResponse", LOG_INT, "dropped_total",
		          (long long)p->loop->stats.notifications_dropped, LOG_END);
		return;
	}
	deliver_list(&p->idle_clients, channel, body, len);
	deliver_list(&p->active_clients, channel, body, len);
	deliver_list(&p->waiting_clients, channel, body, len);
	/* The rest of what was read is still delivered: at most one read's worth more. */
	if (p->listen_stalled > 0)
		listen_pause(p);
}

void listen_flush_client(struct client *c)
{
	move_held(c);
}

void listen_client_flushed(struct client *c)
{
	if (c->state == CL_IDLE && pbuf_len(&c->notify_out) > 0 &&
	    pbuf_len(&c->conn.out) < CONN_HIGH_WATER) {
		move_held(c);
		/* Sent on the next writable event, with client_flush()'s error handling. */
		if (pbuf_len(&c->conn.out) > 0 && !ev_is_active(&c->conn.wio))
			ev_io_start(c->conn.ev, &c->conn.wio);
	}
	if (c->listen_stalled && (c->state == CL_CLOSING || pending_bytes(c) < CONN_LOW_WATER))
		stall_end(c);
}

void listen_server_gone(struct server *sv)
{
	struct pool *p = sv->pool;

	if (p->listen_server != sv)
		return;
	if (!pooler.shutting_down && p->channels.count > 0)
		log_event(LOG_WARNING, "listen.interrupted", LOG_STR, "db", p->db->name, LOG_STR,
		          "note",
		          "notifications sent before the listening connection is reopened are lost",
		          LOG_END);
	p->listen_server = NULL;
	for (size_t i = 0; i < p->channels.n_buckets; i++) {
		for (struct htab_item *it = p->channels.buckets[i]; it != NULL; it = it->next)
			((struct listen_channel *)it->value)->confirmed = false;
	}
}

void listen_client_gone(struct client *c)
{
	if (c->pool != NULL) {
		stall_end(c);
		unsubscribe_all(c);
	}
	htab_release(&c->channels);
	pbuf_release(&c->notify_out);
}

/* The first client on LIST stalled since before DEADLINE, or NULL. */
static struct client *stalled_since(struct list *head, ev_tstamp deadline)
{
	for (struct list *it = head->next; it != head; it = it->next) {
		struct client *c = list_entry(it, struct client, node);

		if (c->listen_stalled && c->stalled_since <= deadline)
			return c;
	}
	return NULL;
}

/* Disconnect c for holding notifications up too long; what it had not taken is lost. */
static void stall_fail(struct client *c, int timeout_ms)
{
	size_t pending = pending_bytes(c);
	char msg[256];

	c->loop->stats.listeners_disconnected++;
	c->loop->stats.timeouts[TIMEOUT_NOTIFY_STALL]++;
	log_event(LOG_WARNING, "listen.stalled", LOG_INT, "client", (long long)c->id, LOG_STR,
	          "addr", c->addr, LOG_STR, "user", c->user, LOG_STR, "db", c->database, LOG_INT,
	          "pending_bytes", (long long)pending, LOG_INT, "stalled_ms",
	          (long long)((ev_now(c->conn.ev) - c->stalled_since) * 1000), LOG_END);
	snprintf(msg, sizeof(msg),
	         "terminating connection because %zu bytes of notifications were not read within "
	         "notify_stall_timeout (%d ms)",
	         pending, timeout_ms);
	stall_end(c);
	pbuf_release(&c->notify_out);
	client_fail(c, SQLSTATE_CONFIG_LIMIT_EXCEEDED, msg);
}

/* One at a time: client_fail() can move other clients between the lists. */
static void expire_stalls(struct pool *p)
{
	int ms = pooler.cfg->notify_stall_timeout;
	ev_tstamp deadline = ev_now(p->loop->ev) - ms / 1000.0;
	struct client *c;

	while (ms > 0 && p->listen_stalled > 0) {
		c = stalled_since(&p->idle_clients, deadline);
		if (c == NULL)
			c = stalled_since(&p->active_clients, deadline);
		if (c == NULL)
			c = stalled_since(&p->waiting_clients, deadline);
		if (c == NULL)
			return;
		stall_fail(c, ms);
	}
}

void listen_janitor(struct pool *p)
{
	if (p->listen_server == NULL && p->channels.count > 0)
		listen_kick(p);
	expire_stalls(p);
}
