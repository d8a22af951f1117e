/* fuzz_relay.c - libFuzzer target: conn_relay() framing, streaming and forwarding invariants. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/conn.h"
#include "pooler/pbuf.h"
#include "pooler/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input layout: 4 control bytes, then the byte stream a peer sends.
 *   ctl[0]  chunk size selector: the stream arrives in pieces of 1..256 bytes
 *           (0 = all at once), so partial headers and bodies are exercised;
 *   ctl[1]  max_len = 1 << (ctl[1] % 20) (1 byte .. 512 KB); bit 7: the peer
 *           starts nearly full and is drained only when the relay pauses, so
 *           the high-water mark is reached;
 *   ctl[2]  mask of message types (by type % 8) whose body the handler needs;
 *   ctl[3]  action seed: which messages are skipped, held once or end a relay;
 *           bit 7: the peer's buffer is small (4 KB), so it refuses bytes.
 * The harness keeps its own copy of the stream and checks every message the
 * relay shows against it, and that the peer receives exactly the forwarded
 * messages, byte for byte, in order.
 */
#define CTL_BYTES 4

struct harness {
	const uint8_t *stream; /* the whole byte stream */
	size_t stream_len;
	size_t fed;        /* bytes of stream appended to conn.in so far */
	struct conn conn;  /* src: conn.in holds what arrived, unprocessed */
	uint8_t body_mask; /* ctl[2] */
	uint8_t seed;      /* ctl[3] */
	size_t max_len;
	uint8_t *expect; /* bytes the peer must receive (forwarded messages), owned */
	size_t expect_len;
	uint8_t *got; /* bytes the peer received (drained from dst), owned */
	size_t got_len;
	size_t held_at; /* stream offset of the message last held, or SIZE_MAX */
	size_t junk;    /* bytes queued in dst before the relay ran, not from the stream */
	bool lazy;      /* drain dst only when the relay pauses */
	size_t msgs;
};

static struct harness *current;

/* Stream offset of the first unprocessed byte in conn.in. */
static size_t consumed(const struct harness *h)
{
	return h->fed - pbuf_len(&h->conn.in);
}

static bool needs_body(uint8_t type)
{
	return (current->body_mask >> (type % 8)) & 1u;
}

static enum relay_action choose(struct harness *h, size_t off, bool has_body)
{
	unsigned pick = (unsigned)(h->seed + off * 7u + h->msgs) % 16u;

	if (pick == 0 && h->held_at != off) {
		h->held_at = off;
		return RELAY_HOLD;
	}
	if (pick == 1 && has_body)
		return RELAY_CONSUME;
	if (pick == 2)
		return RELAY_FORWARD_STOP;
	return RELAY_FORWARD;
}

static enum relay_action on_msg(void *owner, const struct relay_msg *msg)
{
	struct harness *h = owner;
	size_t off = consumed(h);
	const uint8_t *head = pbuf_head(&h->conn.in);
	size_t whole = PROTO_HDR + (size_t)msg->len;
	enum relay_action act;

	/* The message shown is the one at the front of the buffer, as received. */
	if (h->conn.pass_left != 0 || off + PROTO_HDR > h->fed)
		abort();
	if (msg->type != h->stream[off] || msg->len + 4 != proto_get32(h->stream + off + 1))
		abort();
	if (needs_body(msg->type) && msg->len > h->max_len)
		abort(); /* only streamed bodies may be longer than max_len */
	if (memcmp(head, h->stream + off, PROTO_HDR) != 0)
		abort();
	if (needs_body(msg->type) != (msg->body != NULL))
		abort();
	if (msg->body != NULL) {
		if (msg->body != head + PROTO_HDR || off + whole > h->fed)
			abort();
		if (memcmp(msg->body, h->stream + off + PROTO_HDR, msg->len) != 0)
			abort();
	}
	h->msgs++;
	act = choose(h, off, msg->body != NULL);
	if (act == RELAY_FORWARD || act == RELAY_FORWARD_STOP) {
		/* Only the part of the stream that exists can ever be forwarded. */
		size_t n = whole;
		if (off + n > h->stream_len)
			n = h->stream_len - off;
		if (h->expect_len + n > h->stream_len)
			abort(); /* a message shown again after it was forwarded */
		memcpy(h->expect + h->expect_len, h->stream + off, n);
		h->expect_len += n;
	}
	return act;
}

/* Move what the peer got out of dst, as a socket write would. */
static void drain(struct harness *h, struct pbuf *dst)
{
	size_t n = pbuf_len(dst);

	if (n == 0)
		return;
	if (h->junk > 0) {
		size_t j = n < h->junk ? n : h->junk;
		pbuf_consume(dst, j);
		h->junk -= j;
		n -= j;
		if (n == 0)
			return;
	}
	if (h->got_len + n > h->stream_len)
		abort(); /* more out than ever came in */
	memcpy(h->got + h->got_len, pbuf_head(dst), n);
	h->got_len += n;
	pbuf_consume(dst, n);
}

/*
 * true if a BAD_LEN (or, with TOO_LONG, a TOO_LONG) is justified by the
 * header at the front of conn.in: a length below the minimum or above the
 * protocol's, or a body the handler must read whole over max_len.
 */
static bool bad_len_justified(const struct harness *h, bool too_long)
{
	const uint8_t *head = pbuf_head(&h->conn.in);
	uint32_t len;

	if (pbuf_len(&h->conn.in) < PROTO_HDR || h->conn.pass_left != 0)
		return false;
	len = proto_get32(head + 1);
	if (too_long)
		return needs_body(head[0]) && len >= 4 && len - 4 > h->max_len;
	return len < 4 || len > CONN_MAX_MESSAGE;
}

static void run(struct harness *h, struct pbuf *dst, size_t chunk)
{
	const struct relay_ops ops = {needs_body, on_msg, h->max_len};
	unsigned idle = 0;

	for (;;) {
		size_t before = consumed(h);
		size_t dst_before = pbuf_len(dst);
		enum relay_result r;

		if (h->fed < h->stream_len) {
			size_t n = h->stream_len - h->fed;
			if (chunk != 0 && n > chunk)
				n = chunk;
			if (!pbuf_append(&h->conn.in, h->stream + h->fed, n))
				abort(); /* in_limit is sized for the whole stream */
			h->fed += n;
		}
		r = conn_relay(&h->conn, dst, &ops, h);
		if (consumed(h) < before || consumed(h) > h->fed)
			abort();
		if (pbuf_len(dst) < dst_before || pbuf_len(dst) - dst_before > consumed(h) - before)
			abort(); /* dst grows by at most what was consumed */
		if (h->conn.pass_left > CONN_MAX_MESSAGE)
			abort();
		if (r == RELAY_PAUSED && pbuf_len(dst) < CONN_HIGH_WATER)
			abort(); /* paused without reaching the high-water mark */
		if (!h->lazy || r == RELAY_PAUSED)
			drain(h, dst);
		switch (r) {
		case RELAY_BAD_LEN:
		case RELAY_TOO_LONG:
			if (!bad_len_justified(h, r == RELAY_TOO_LONG))
				abort();
			return;
		case RELAY_FAILED:
		case RELAY_NO_ROOM:
			return;
		case RELAY_PAUSED:
		case RELAY_STOPPED:
		case RELAY_DRAINED:
			break;
		}
		if (consumed(h) != before)
			idle = 0;
		else if (h->fed == h->stream_len && ++idle > 2)
			return;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness h;
	struct pbuf dst;
	size_t chunk;

	if (size < CTL_BYTES)
		return 0;
	memset(&h, 0, sizeof(h));
	h.stream = data + CTL_BYTES;
	h.stream_len = size - CTL_BYTES;
	chunk = data[0];
	h.max_len = (size_t)1 << (data[1] % 20);
	h.body_mask = data[2];
	h.seed = data[3];
	h.held_at = SIZE_MAX;
	h.conn.fd = -1;
	/* Room for the whole stream plus the largest body the relay may reserve. */
	pbuf_init(&h.conn.in, h.stream_len + h.max_len + 2 * PROTO_HDR);
	pbuf_init(&h.conn.out, 0);
	/* A small limit on some inputs, so NO_ROOM is reached too. */
	pbuf_init(&dst, (data[3] & 0x80) ? 4096 : CONN_HIGH_WATER + h.stream_len);
	h.expect = malloc(h.stream_len + 1);
	h.got = malloc(h.stream_len + 1);
	if (h.expect == NULL || h.got == NULL)
		abort();
	if ((data[1] & 0x80) && !(data[3] & 0x80)) {
		static const uint8_t junk[1024];
		h.lazy = true;
		h.junk = CONN_HIGH_WATER - 256;
		for (size_t left = h.junk; left > 0;) {
			size_t n = left < sizeof(junk) ? left : sizeof(junk);
			if (!pbuf_append(&dst, junk, n))
				abort();
			left -= n;
		}
	}
	current = &h;
	run(&h, &dst, chunk);
	drain(&h, &dst);
	/* The peer received a prefix of the forwarded messages, never anything else. */
	if (h.got_len > h.expect_len || memcmp(h.got, h.expect, h.got_len) != 0)
		abort();
	current = NULL;
	pbuf_release(&dst);
	pbuf_release(&h.conn.in);
	free(h.expect);
	free(h.got);
	return 0;
}
