/*
 * client.h - application connections to the pooler.
 *
 * A client's lifecycle is the state machine in enum client_state (pooler.h);
 * client_set_state() is the only place that changes it and moves the client
 * between lists.
 */
#ifndef PGSCOPE_POOLER_CLIENT_H
#define PGSCOPE_POOLER_CLIENT_H

#include <stdbool.h>

#include "pooler/pooler.h"

/* Take ownership of an accepted socket (already non-blocking). */
void client_accept(int fd, bool is_unix, const char *addr);

/* Move c to state st (and to the matching list). */
void client_set_state(struct client *c, enum client_state st);

/*
 * Send a FATAL ErrorResponse and close once it is flushed. The client is
 * unlinked from any server at once.
 */
void client_fail(struct client *c, const char *sqlstate, const char *message);

/*
 * Close once what is queued for the client is sent, adding no error of the
 * pooler's own (the server's FATAL error is already queued). Unlinks it from
 * any server at once.
 */
void client_end(struct client *c, const char *reason);

/* Close now (no message); the free is deferred to the reaper. */
void client_close(struct client *c, const char *reason);

/* Free a closed client (the reaper calls this). */
void client_free(struct client *c);

/*
 * The pool has linked a server to c and brought its parameters in line:
 * finish the login or relay what the client has queued.
 */
void client_server_ready(struct client *c);

/* Finish a login without a server (transaction/statement mode, parameters known). */
void client_finish_login(struct client *c, const struct params *server_params);

/* Relay what the client sent to its linked server. */
void client_relay(struct client *c);

/* Act on bytes already in the client's read buffer (after a state change). */
void client_process_input(struct client *c);

/* The server drained its buffer: start reading from the client again. */
void client_resume(struct client *c);

/* Flush the write buffer; closes the client on a socket error. false if closed. */
bool client_flush(struct client *c);

/* The live client that was handed this BackendKeyData, or NULL. */
struct client *client_find_by_key(uint32_t pid, uint32_t key);

const char *client_state_name(enum client_state st);

#endif
