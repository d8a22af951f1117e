/*
 * pbuf.h - a bounded byte buffer for socket I/O.
 *
 * Bytes are appended at the end and consumed from the front. The buffer grows
 * on demand but never beyond its limit; callers check pbuf_append()'s result
 * and apply backpressure instead of buffering without bound.
 */
#ifndef PGSCOPE_POOLER_PBUF_H
#define PGSCOPE_POOLER_PBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pbuf {
	uint8_t *data; /* allocation, owned; NULL until first use */
	size_t start;  /* offset of the first unconsumed byte */
	size_t end;    /* offset one past the last byte */
	size_t cap;    /* bytes allocated */
	size_t limit;  /* cap never grows past this */
};

/* Set up an empty buffer that may hold up to limit bytes. Allocates nothing. */
void pbuf_init(struct pbuf *b, size_t limit);

/* Free the storage; the buffer is empty and reusable afterwards. */
void pbuf_release(struct pbuf *b);

static inline size_t pbuf_len(const struct pbuf *b)
{
	return b->end - b->start;
}

static inline uint8_t *pbuf_head(const struct pbuf *b)
{
	return b->data + b->start;
}

/*
 * Make room for at least want bytes after the current end (compacting and
 * growing as needed). Returns false if that would exceed the limit or memory
 * ran out.
 */
bool pbuf_reserve(struct pbuf *b, size_t want);

/* Writable space after the end; call pbuf_reserve() first. */
static inline uint8_t *pbuf_tail(const struct pbuf *b)
{
	return b->data + b->end;
}

static inline size_t pbuf_tail_room(const struct pbuf *b)
{
	return b->cap - b->end;
}

/* Append len bytes; false if the limit would be exceeded. */
bool pbuf_append(struct pbuf *b, const void *src, size_t len);

/* Drop len bytes from the front. */
void pbuf_consume(struct pbuf *b, size_t len);

/* Shrink the allocation back to at most keep bytes when the buffer is empty. */
void pbuf_shrink(struct pbuf *b, size_t keep);

#endif
