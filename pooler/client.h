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
#include <stddef.h>

#include "pooler/conn.h"
#include "pooler/pooler.h"

/* Take ownership of an accepted socket (already non-blocking), on loop ls. */
void client_accept(struct loop_state *ls, int fd, bool is_unix, const char *addr);

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

/*
 * Transaction mode: the first request after a link may have to be sent again
 * elsewhere when its server dies without reading it. Arm recording it (done
 * at the link); drop it (the server answered, or the transaction is over);
 * or put it back at the front of the client's input, true when there was one
 * whole simple Query to put back. Not armed again once c->retried is set.
 */
void client_replay_arm(struct client *c);
void client_replay_drop(struct client *c);
bool client_replay_restore(struct client *c);

/* Finish a login without a server (transaction/statement mode, parameters known). */
void client_finish_login(struct client *c, const struct params *server_params);

/*
 * Fill the relay handlers for client requests in session and pooled modes,
 * accepting bodies up to max_len whole (loop_apply_config()).
 */
void client_relay_ops_build(struct relay_ops *session, struct relay_ops *pooled, size_t max_len);

/* Relay what the client sent to its linked server. */
void client_relay(struct client *c);

/* Act on bytes already in the client's read buffer (after a state change). */
void client_process_input(struct client *c);

/* The server drained its buffer: start reading from the client again. */
void client_resume(struct client *c);

/* Flush the write buffer; closes the client on a socket error. false if closed. */
bool client_flush(struct client *c);

/* The live client of ls that was handed this BackendKeyData, or NULL. */
struct client *client_find_by_key(struct loop_state *ls, uint32_t pid, uint32_t key);

const char *client_state_name(enum client_state st);

#endif
