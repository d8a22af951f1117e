/*
 * cancel.h - forwarding CancelRequests to server backends.
 *
 * Clients get the pooler's own BackendKeyData; a CancelRequest carrying it is
 * forwarded, with the server's real key, only while that client's request is
 * running on the server, so a late cancel can never hit another client's
 * query on the same server connection.
 */
#ifndef PGSCOPE_POOLER_CANCEL_H
#define PGSCOPE_POOLER_CANCEL_H

#include <stdint.h>

#include "pooler/pooler.h"

/* Handle a CancelRequest (pid, key) received on a fresh connection. */
void cancel_request(uint32_t pid, uint32_t key);

/* Open a connection to db's server and send CancelRequest(pid, key); fire and forget. */
void cancel_send(const struct db_config *db, uint32_t pid, uint32_t key);

#endif
