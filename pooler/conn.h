/*
 * conn.h - socket endpoints and the message relay between two of them.
 *
 * conn_relay() is the forwarding path: it frames PostgreSQL messages in the
 * source's read buffer, shows each to a handler (the full body for the types
 * the handler asks for, only the header for the rest, which are streamed in
 * pieces without being buffered whole) and appends what is forwarded to the
 * peer's write buffer. It stops at the peer's high-water mark, so a peer that
 * does not read stops its source being read (backpressure).
 */
#ifndef PGSCOPE_POOLER_CONN_H
#define PGSCOPE_POOLER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pooler/pooler.h"

/*
 * The longest message relayed at all: what the protocol's length word allows.
 * Bodies a handler does not read are streamed, so this costs no memory.
 */
#define CONN_MAX_MESSAGE 0x7fffffffu

/* Above this many queued bytes a peer stops its source; below LOW it resumes. */
#define CONN_HIGH_WATER (256u * 1024u)
#define CONN_LOW_WATER  (64u * 1024u)

enum conn_io {
	CONN_OK = 0, /* progress made (read: bytes arrived; flush: all sent) */
	CONN_AGAIN,  /* would block */
	CONN_EOF,    /* peer closed */
	CONN_ERROR,  /* socket error or buffer limit */
};

/*
 * The transport seam: how a connection's bytes cross its socket. Plain
 * sockets now; a TLS transport is another table. recv and send return the
 * bytes moved, 0 from recv at the peer's end, or -1 with errno (EAGAIN when
 * it would block). A transport whose read needs the socket writable (a TLS
 * renegotiation) sets c->io_wants_write before returning EAGAIN, and bytes it
 * has already decrypted are reported by pending(), so that the relay reads
 * them without waiting for a readiness event that will not come.
 */
struct conn_io_ops {
	const char *name;
	ssize_t (*recv)(struct conn *c, void *buf, size_t len);
	ssize_t (*send)(struct conn *c, const void *buf, size_t len);
	size_t (*pending)(const struct conn *c);
	int (*shutdown_write)(struct conn *c); /* no more bytes from us; 0 or -1 */
	void (*release)(struct conn *c);       /* free io_state before the socket closes */
};

/* Plain TCP or Unix sockets. */
extern const struct conn_io_ops conn_io_plain;

/* No more bytes will be sent on c (its transport's orderly end of writing). */
int conn_shutdown_write(struct conn *c);

/*
 * Set up c on fd (already non-blocking) with callbacks for readable and
 * writable events; data is the owner (client or server). Its watchers run on
 * ev. Buffers are bounded by in_limit and out_limit. Watchers are not started.
 */
void conn_init(struct conn *c, struct ev_loop *ev, int fd, size_t in_limit, size_t out_limit,
               void (*on_read)(struct ev_loop *, ev_io *, int),
               void (*on_write)(struct ev_loop *, ev_io *, int), void *data);

void conn_start_read(struct conn *c);
void conn_stop_read(struct conn *c);

/* Read once (up to chunk bytes) into c->in. */
enum conn_io conn_fill(struct conn *c, size_t chunk);

/* Send as much of c->out as the socket takes; arms the write watcher if not all went. */
enum conn_io conn_flush(struct conn *c);

/*
 * Free whichever buffer holds nothing pending, for a connection about to sit
 * idle; the next read or write allocates again. Not for the forwarding path:
 * a buffer freed after every message would cost a malloc per message.
 */
void conn_release_idle(struct conn *c);

/* Stop watchers, close the socket and free the buffers. Idempotent. */
void conn_close(struct conn *c);

/* One framed message as the relay shows it to a handler. */
struct relay_msg {
	uint8_t type;
	uint32_t len;        /* body length (length word minus 4) */
	const uint8_t *body; /* the whole body, or NULL when it is streamed */
};

enum relay_action {
	RELAY_FORWARD,      /* append to the peer */
	RELAY_FORWARD_STOP, /* append, then stop relaying (e.g. after ReadyForQuery) */
	RELAY_CONSUME,      /* consume without forwarding (body messages only) */
	RELAY_HOLD,         /* leave it in the buffer and stop */
	RELAY_FAIL,         /* the handler has dealt with an error; stop */
};

struct relay_ops {
	/* true if the handler needs the whole body of this message type. */
	bool (*needs_body)(uint8_t type);
	enum relay_action (*on_msg)(void *owner, const struct relay_msg *msg);
	size_t max_len; /* longest body accepted whole; streamed bodies are not bounded */
};

enum relay_result {
	RELAY_DRAINED,  /* everything complete was handled; more bytes needed */
	RELAY_PAUSED,   /* the peer's buffer is full */
	RELAY_STOPPED,  /* the handler said HOLD or FORWARD_STOP */
	RELAY_FAILED,   /* the handler said FAIL */
	RELAY_BAD_LEN,  /* a length word below the minimum: protocol violation */
	RELAY_TOO_LONG, /* a message the handler must read whole is over max_len */
	RELAY_NO_ROOM,  /* the peer's buffer refused the bytes (limit reached) */
};

/*
 * Relay complete messages from src->in to dst (the peer's write buffer; may
 * be NULL only if the handler never forwards). Stops early at dst's
 * high-water mark. Streams the rest of a partly received message that needs
 * no body.
 */
enum relay_result conn_relay(struct conn *src, struct pbuf *dst, const struct relay_ops *ops,
                             void *owner);

/* Set a socket non-blocking and close-on-exec; TCP_NODELAY for TCP. */
bool conn_prepare_socket(int fd, bool tcp);

/*
 * TCP keepalive on a client or server socket, as cfg's tcp_keepalive,
 * tcp_keepidle, tcp_keepintvl, tcp_keepcnt and tcp_user_timeout say (a
 * value of 0 leaves the system's default). false if an option was refused;
 * the socket stays usable either way.
 */
bool conn_set_keepalive(int fd, const struct config *cfg);

#endif
