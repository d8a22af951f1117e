/* cancel.c - CancelRequest forwarding (see cancel.h). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pooler/admin.h"
#include "pooler/cancel.h"
#include "pooler/client.h"
#include "pooler/conn.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/pool.h"
#include "pooler/proto.h"
#include "pooler/server.h"
#include "pooler/stmt.h"
#include "pooler/tls.h"

#define CANCEL_TIMEOUT 5.0 /* seconds to connect and send */

/* Where an outgoing cancel is; with TLS the request goes after the handshake. */
enum cancel_step {
	CANCEL_CONNECTING = 0, /* non-blocking connect under way */
	CANCEL_TLS_ASKED,      /* SSLRequest sent, awaiting 'S' or 'N' */
	CANCEL_TLS_HANDSHAKE,  /* TLS handshake under way */
	CANCEL_SENT,           /* the request is sent: waiting for the server to close */
};

/* One outgoing cancel connection; frees itself when done. */
struct cancel_conn {
	struct loop_state *loop; /* the loop it runs on */
	struct conn conn;        /* plain, or TLS as the server connections are */
	ev_timer timer;
	enum cancel_step step;
	uint64_t server_id; /* the pooled server the cancel is for, or 0 */
	const char *host;   /* the server's host name, for verify-full (owned by the config) */
	uint8_t packet[16];
};

static void cancel_finish(struct cancel_conn *cc)
{
	ev_timer_stop(cc->loop->ev, &cc->timer);
	conn_close(&cc->conn);
	cc->loop->cancels_open--;
	if (cc->server_id != 0)
		pool_cancel_done(cc->loop, cc->server_id);
	free(cc);
}

static void cancel_failed(struct cancel_conn *cc, const char *why)
{
	log_event(LOG_WARNING, "cancel.failed", LOG_STR, "error", why, LOG_END);
	cancel_finish(cc);
}

/* Send what is queued, then wait for the server; false (after finishing) if the socket failed. */
static bool cancel_flush(struct cancel_conn *cc)
{
	if (conn_flush(&cc->conn) == CONN_ERROR) {
		cancel_failed(cc, "write failed");
		return false;
	}
	conn_start_read(&cc->conn);
	return true;
}

static void cancel_send_packet(struct cancel_conn *cc)
{
	cc->step = CANCEL_SENT;
	if (!pbuf_append(&cc->conn.out, cc->packet, sizeof(cc->packet))) {
		cancel_failed(cc, "out of memory");
		return;
	}
	cancel_flush(cc);
}

static void cancel_handshake(struct cancel_conn *cc)
{
	char err[256];

	switch (tls_handshake(&cc->conn, err, sizeof(err))) {
	case CONN_OK:
		cancel_send_packet(cc);
		return;
	case CONN_AGAIN:
		return;
	case CONN_EOF:
	case CONN_ERROR:
		cancel_failed(cc, err);
		return;
	}
}

/* The server's answer to SSLRequest, as for a server connection (server.c). */
static void cancel_tls_answer(struct cancel_conn *cc)
{
	char err[256];

	switch (tls_read_answer(&cc->conn, pooler.cfg->server_tls_sslmode, cc->host, err,
	                        sizeof(err))) {
	case TLS_ANSWER_WAIT:
		return;
	case TLS_ANSWER_PLAIN:
		cancel_send_packet(cc);
		return;
	case TLS_ANSWER_TLS:
		cc->step = CANCEL_TLS_HANDSHAKE;
		cancel_handshake(cc);
		return;
	case TLS_ANSWER_FAILED:
		cancel_failed(cc, err);
		return;
	}
}

/* The server closes the connection once it has signalled the backend. */
static void cancel_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct cancel_conn *cc = w->data;
	enum conn_io r;

	if (cc->step == CANCEL_TLS_ASKED) {
		cancel_tls_answer(cc);
		return;
	}
	if (cc->step == CANCEL_TLS_HANDSHAKE) {
		cancel_handshake(cc);
		return;
	}
	r = conn_fill(&cc->conn, 64);
	pbuf_consume(&cc->conn.in, pbuf_len(&cc->conn.in)); /* nothing is expected */
	if (r == CONN_EOF || r == CONN_ERROR)
		cancel_finish(cc);
}

static void cancel_connected(struct cancel_conn *cc)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	ev_io_stop(cc->loop->ev, &cc->conn.wio);
	if (getsockopt(cc->conn.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1 || soerr != 0) {
		cancel_failed(cc, strerror(soerr ? soerr : errno));
		return;
	}
	if (cc->host == NULL) {
		cancel_send_packet(cc);
		return;
	}
	cc->step = CANCEL_TLS_ASKED;
	if (!tls_queue_request(&cc->conn)) {
		cancel_failed(cc, "out of memory");
		return;
	}
	cancel_flush(cc);
}

static void cancel_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct cancel_conn *cc = w->data;

	if (cc->step == CANCEL_CONNECTING) {
		cancel_connected(cc);
		return;
	}
	if (cc->step == CANCEL_TLS_HANDSHAKE) {
		cancel_handshake(cc);
		return;
	}
	if (cc->conn.io_wants_write) {
		cancel_on_read(loop, &cc->conn.rio, EV_READ);
		return;
	}
	if (conn_flush(&cc->conn) == CONN_ERROR)
		cancel_failed(cc, "write failed");
}

static void cancel_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	cancel_failed(w->data, "timed out");
}

void cancel_send(struct loop_state *ls, const struct db_config *db, uint32_t pid, uint32_t key,
                 uint64_t server_id)
{
	struct cancel_conn *cc;
	char err[256];
	int fd = server_open_socket(db, err, sizeof(err));

	if (fd == -1) {
		log_event(LOG_WARNING, "cancel.failed", LOG_STR, "db", db->name, LOG_STR, "error",
		          err, LOG_END);
		goto out_done;
	}
	cc = calloc(1, sizeof(*cc));
	if (cc == NULL) {
		close(fd);
		goto out_done;
	}
	cc->loop = ls;
	ls->cancels_open++;
	cc->server_id = server_id;
	cc->host = server_tls_asked(db) ? db->host : NULL;
	proto_put32(cc->packet, 16);
	proto_put32(cc->packet + 4, PROTO_CANCEL_CODE);
	proto_put32(cc->packet + 8, pid);
	proto_put32(cc->packet + 12, key);
	conn_init(&cc->conn, ls->ev, fd, 4096, 4096, cancel_on_read, cancel_on_write, cc);
	ev_timer_init(&cc->timer, cancel_on_timeout, CANCEL_TIMEOUT, 0);
	cc->timer.data = cc;
	ev_io_start(ls->ev, &cc->conn.wio);
	ev_timer_start(ls->ev, &cc->timer);
	return;
out_done:
	if (server_id != 0)
		pool_cancel_done(ls, server_id);
}

void cancel_request(struct loop_state *ls, uint32_t pid, uint32_t key)
{
	struct client *c = client_find_by_key(ls, pid, key);
	struct server *sv;

	if (c == NULL) {
		ls->stats.cancels_dropped++;
		log_event(LOG_INFO, "cancel.unknown_key", LOG_END);
		return;
	}
	if (c->admin != NULL) {
		admin_cancel(c);
		return;
	}
	sv = c->server;
	/* Only a request of this client that is running now may be cancelled. */
	if (sv == NULL || sv->state != SV_ACTIVE ||
	    (stmt_in_flight(c) == 0 && txn_settled(&c->txn))) {
		ls->stats.cancels_dropped++;
		log_event(LOG_INFO, "cancel.dropped", LOG_INT, "client", (long long)c->id, LOG_STR,
		          "reason", "no request running", LOG_END);
		return;
	}
	ls->stats.cancels_forwarded++;
	log_event(LOG_INFO, "cancel.forward", LOG_INT, "client", (long long)c->id, LOG_INT,
	          "backend_pid", (long long)sv->backend_pid, LOG_END);
	sv->cancels_pending++;
	cancel_send(ls, sv->pool->db, sv->backend_pid, sv->backend_key, sv->id);
}
