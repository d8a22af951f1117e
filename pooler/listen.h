/*
 * listen.h - LISTEN/NOTIFY for clients in transaction and statement mode.
 *
 * A client's LISTEN cannot run on the pooled server it happens to use: that
 * server goes to other clients after the transaction. Instead each pool keeps
 * one listening server connection that LISTENs on behalf of all its clients,
 * and every NotificationResponse it receives is delivered to each client
 * subscribed to the channel: at once when the client is between
 * transactions, else when its transaction ends (as PostgreSQL itself only
 * delivers notifications between transactions). UNLISTEN and disconnects
 * drop subscriptions; a channel nobody listens to any more is UNLISTENed.
 *
 * Nothing is dropped for a client that reads: a client with too much unread
 * stops the listening connection being read until it catches up (the
 * notifications wait in PostgreSQL's queue), and is disconnected with an
 * error if that lasts longer than notify_stall_timeout.
 */
#ifndef PGSCOPE_POOLER_LISTEN_H
#define PGSCOPE_POOLER_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pooler/pooler.h"

/*
 * A simple Query from a client with nothing in flight, outside a
 * transaction: answer LISTEN / UNLISTEN here. true if taken (the reply is
 * queued, or follows once the listening connection has confirmed).
 */
bool listen_simple_query(struct client *c, const uint8_t *body, size_t len);

/* The pool's listening connection logged in: LISTEN on every channel. */
void listen_server_ready(struct server *sv);

/* A NotificationResponse body arrived on the listening connection. */
void listen_deliver(struct pool *p, const uint8_t *body, size_t len);

/* The listening connection went away: subscriptions stay; it is reopened. */
void listen_server_gone(struct server *sv);

/* Send notifications held back while c was in a transaction. */
void listen_flush_client(struct client *c);

/*
 * client_flush() has sent what the socket took: pass on held notifications
 * and, once c has caught up, let its pool's listening connection read again.
 */
void listen_client_flushed(struct client *c);

/* The client is going away: drop its subscriptions. */
void listen_client_gone(struct client *c);

/* Periodic: reopen the listening connection if channels need one. */
void listen_janitor(struct pool *p);

#endif
