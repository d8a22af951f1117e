/* pbuf.c - bounded byte buffers for socket I/O (see pbuf.h). */
#include <stdlib.h>
#include <string.h>

#include "pooler/pbuf.h"

void pbuf_init(struct pbuf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

void pbuf_release(struct pbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->start = b->end = b->cap = 0;
}

static void pbuf_compact(struct pbuf *b)
{
	size_t len = pbuf_len(b);

	if (b->start == 0)
		return;
	if (len > 0)
		memmove(b->data, b->data + b->start, len);
	b->start = 0;
	b->end = len;
}

bool pbuf_reserve(struct pbuf *b, size_t want)
{
	size_t len = pbuf_len(b);
	size_t need, cap;
	uint8_t *data;

	if (b->cap - b->end >= want)
		return true;
	if (want > b->limit || len > b->limit - want)
		return false;
	need = len + want;
	if (need <= b->cap) {
		pbuf_compact(b);
		return true;
	}
	cap = b->cap ? b->cap : 1024;
	while (cap < need)
		cap *= 2;
	if (cap > b->limit)
		cap = b->limit;
	pbuf_compact(b);
	data = realloc(b->data, cap);
	if (data == NULL)
		return false;
	b->data = data;
	b->cap = cap;
	return true;
}

bool pbuf_append(struct pbuf *b, const void *src, size_t len)
{
	if (len == 0)
		return true;
	if (!pbuf_reserve(b, len))
		return false;
	memcpy(b->data + b->end, src, len);
	b->end += len;
	return true;
}

void pbuf_consume(struct pbuf *b, size_t len)
{
	b->start += len;
	if (b->start >= b->end)
		b->start = b->end = 0;
}

void pbuf_shrink(struct pbuf *b, size_t keep)
{
	uint8_t *data;

	if (pbuf_len(b) != 0 || b->cap <= keep)
		return;
	data = realloc(b->data, keep);
	if (data == NULL)
		return;
	b->data = data;
	b->cap = keep;
	b->start = b->end = 0;
}
