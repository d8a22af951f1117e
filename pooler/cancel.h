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

/* Handle a CancelRequest (pid, key) received on a fresh connection of loop ls. */
void cancel_request(struct loop_state *ls, uint32_t pid, uint32_t key);

/*
 * Send CancelRequest(pid, key) to db's server on a new connection and wait
 * until the server closes it (it has signalled the backend by then). When
 * server_id is not 0, that server's cancels_pending is decremented at the
 * end and pool_cancel_done() is told. The connection runs on loop ls.
 */
void cancel_send(struct loop_state *ls, const struct db_config *db, uint32_t pid, uint32_t key,
                 uint64_t server_id);

#endif
