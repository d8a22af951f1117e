/*
 * tls.h - the OpenSSL transport: TLS on client and server connections.
 *
 * Two contexts are kept, one for accepting clients (pgscope is the TLS
 * server, client_tls_*) and one for connecting to PostgreSQL (pgscope is the
 * TLS client, server_tls_*). tls_reload() builds new ones from the files named
 * in the config: connections made later use them, established sessions keep
 * the context they started with (OpenSSL counts its references).
 *
 * A connection switches to TLS by taking the conn_io_tls table (conn.h) and
 * an SSL object as its io_state, after the plain-text SSLRequest exchange (or
 * at once, for PostgreSQL 17's direct TLS). For accepted clients the
 * handshake runs inside the first reads; outgoing connections step it with
 * tls_handshake() before sending anything.
 */
#ifndef PGSCOPE_POOLER_TLS_H
#define PGSCOPE_POOLER_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "pooler/config.h"
#include "pooler/conn.h"

/* The first byte of a TLS handshake record: a ClientHello sent without SSLRequest. */
#define TLS_RECORD_HANDSHAKE 0x16

extern const struct conn_io_ops conn_io_tls;

/*
 * Build the contexts cfg asks for (none when both sslmodes are disable and no
 * server files are set). false with err set when a file cannot be used; the
 * contexts in use are then kept.
 */
bool tls_init(const struct config *cfg, char *err, size_t errlen);

/* tls_init() again, for SIGHUP: logs the outcome; on failure the old contexts stay. */
void tls_reload(const struct config *cfg);

/* Drop both contexts (sessions still open keep theirs until they close). */
void tls_shutdown(void);

/* true when clients asking for TLS get it (client_tls_sslmode is not disable). */
bool tls_client_enabled(void);

/* Make c, an accepted client with nothing unread, a TLS server endpoint. false on failure. */
bool tls_accept_start(struct conn *c);

/*
 * Make c, a connection to a server, a TLS client endpoint checking the
 * server's certificate as mode says (host is matched for verify-full).
 */
bool tls_connect_start(struct conn *c, enum tls_mode mode, const char *host);

/* Queue an SSLRequest on c's write buffer; false when the buffer refuses it. */
bool tls_queue_request(struct conn *c);

/* What a server's answer to SSLRequest leads to (tls_read_answer()). */
enum tls_answer {
	TLS_ANSWER_WAIT,   /* not here yet */
	TLS_ANSWER_PLAIN,  /* 'N', and the mode lets the connection go on in plain text */
	TLS_ANSWER_TLS,    /* 'S': c is a TLS client now; step tls_handshake() */
	TLS_ANSWER_FAILED, /* refused, closed or garbled: err says why */
};

/*
 * Read the one-byte answer to SSLRequest on c (nothing more: the server
 * sends nothing else before the handshake) and act on it as mode says; host
 * is checked against the certificate for verify-full.
 */
enum tls_answer tls_read_answer(struct conn *c, enum tls_mode mode, const char *host, char *err,
                                size_t errlen);

/*
 * One step of an outgoing handshake: CONN_OK when done, CONN_AGAIN when it
 * waits for the socket (the write watcher is armed when it must write),
 * CONN_ERROR with the reason in err.
 */
enum conn_io tls_handshake(struct conn *c, char *err, size_t errlen);

/* true when c runs over TLS. */
bool tls_active(const struct conn *c);

/* true when the client negotiated ALPN "postgresql" (required for direct TLS). */
bool tls_alpn_postgresql(const struct conn *c);

/* "protocol/cipher" of c's TLS session (TLSv1.3/TLS_AES_256_GCM_SHA384); false without TLS. */
bool tls_describe(const struct conn *c, char *out, size_t outlen);

/*
 * The common name of the client certificate, if the client sent one and it
 * verified against client_tls_ca_file; false otherwise.
 */
bool tls_peer_cn(const struct conn *c, char *out, size_t outlen);

#endif
