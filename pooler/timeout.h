/*
 * timeout.h - the limits on clients that the janitor enforces.
 *
 * query_timeout: a request its server has not answered within the limit is
 * cancelled on the backend (a CancelRequest, counted in the server's
 * cancels_pending as a client's own cancel is), and the client gets exactly
 * one ErrorResponse 57014 naming the limit, in place of the server's
 * "canceling statement due to user request". A server that does not come
 * back to ReadyForQuery within TIMEOUT_CANCEL_GRACE after the cancel is
 * closed. The limit is the [users] entry's, else the [databases] entry's,
 * else the global one; a pgscope:timeout comment in a statement's text
 * overrides it for that request (and for every execution of a prepared
 * statement that has one).
 *
 * idle_transaction_timeout ends a client idle inside a transaction (FATAL
 * 25P03; its server is rolled back and reused), client_idle_timeout one idle
 * outside a transaction (FATAL 57P05), as PostgreSQL's
 * idle_in_transaction_session_timeout and idle_session_timeout do.
 *
 * The checks run on the janitor's tick (a quarter of a second), so a limit
 * fires up to that much late; the forwarding path only notes hints and, at a
 * ReadyForQuery or an error, looks at one field.
 */
#ifndef PGSCOPE_POOLER_TIMEOUT_H
#define PGSCOPE_POOLER_TIMEOUT_H

#include <stddef.h>
#include <stdint.h>

#include "pooler/pooler.h"
#include "pooler/proto.h"

/* Seconds a cancelled server gets to answer: the limit itself, at least 1 s and at most 5 s. */
#define TIMEOUT_CANCEL_GRACE_MIN 1.0
#define TIMEOUT_CANCEL_GRACE_MAX 5.0

/* A new client: no hints, no cancel. */
void timeout_client_init(struct client *c);

/*
 * Read c's limits from the config for its database and user: at login, and
 * again for each client after the config is reloaded.
 */
void timeout_client_configure(struct client *c);

/* Free what a client's hints hold (client_free()). */
void timeout_client_release(struct client *c);

/* A Query of LEN bytes is forwarded: its text may carry a hint for the request. */
void timeout_note_query(struct client *c, const uint8_t *body, size_t len);

/* A Parse, Bind or Close (body of LEN bytes) is forwarded: hints of prepared statements. */
void timeout_note_extended(struct client *c, uint8_t type, const uint8_t *body, size_t len);

/*
 * An ErrorResponse E comes from the server while a query_timeout cancel is
 * out (c->qt.cancel_at set): when it is the cancel's 57014, our error is
 * queued for the client in its place and true is returned (the server's is
 * then dropped).
 */
bool timeout_replace_error(struct client *c, const struct proto_error_info *e);

/* A ReadyForQuery came for c (after txn_ready()): the timed request, if any, is answered. */
void timeout_request_answered(struct client *c);

/* The janitor's pass over a pool's clients at NOW. */
void timeout_janitor(struct pool *p, ev_tstamp now);

/* The config key of a kind of timeout, for messages and metrics. */
const char *timeout_kind_name(enum pooler_timeout kind);

/* "1s", "1500ms": a limit in ms as the error messages show it. */
void timeout_format(int ms, char *out, size_t outlen);

#endif
