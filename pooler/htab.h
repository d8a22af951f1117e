/*
 * htab.h - a chained hash table with byte-string keys.
 *
 * Keys are copied into the table; values are opaque pointers the caller
 * owns. Grows by doubling; lookups hash with 64-bit FNV-1a.
 */
#ifndef PGSCOPE_POOLER_HTAB_H
#define PGSCOPE_POOLER_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct htab_item {
	struct htab_item *next; /* bucket chain */
	uint64_t hash;
	void *value;
	size_t key_len;
	uint8_t key[]; /* copied key */
};

struct htab {
	struct htab_item **buckets;
	size_t n_buckets; /* a power of two, or 0 before first insert */
	size_t count;
};

uint64_t htab_hash(const void *key, size_t len);

void htab_init(struct htab *t);
/* Free the table's items (not the values). */
void htab_release(struct htab *t);

/* The value stored for key, or NULL. */
void *htab_get(const struct htab *t, const void *key, size_t len);
/* Insert or replace; false on allocation failure. */
bool htab_put(struct htab *t, const void *key, size_t len, void *value);
/* Remove key; returns its value or NULL. */
void *htab_del(struct htab *t, const void *key, size_t len);

/* Call fn for each item; fn must not modify the table. */
void htab_foreach(const struct htab *t, void (*fn)(void *value, void *arg), void *arg);

#endif
