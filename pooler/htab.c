/* htab.c - chained hash table with byte-string keys (see htab.h). */
#include <stdlib.h>
#include <string.h>

#include "pooler/htab.h"

uint64_t htab_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

void htab_init(struct htab *t)
{
	memset(t, 0, sizeof(*t));
}

void htab_release(struct htab *t)
{
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct htab_item *it = t->buckets[i];

		while (it != NULL) {
			struct htab_item *next = it->next;

			free(it);
			it = next;
		}
	}
	free(t->buckets);
	htab_init(t);
}

static struct htab_item **htab_slot(const struct htab *t, const void *key, size_t len, uint64_t h)
{
	struct htab_item **pp = &t->buckets[h & (t->n_buckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->hash == h && (*pp)->key_len == len && memcmp((*pp)->key, key, len) == 0)
			return pp;
	}
	return pp;
}

void *htab_get(const struct htab *t, const void *key, size_t len)
{
	struct htab_item **pp;

	if (t->n_buckets == 0)
		return NULL;
	pp = htab_slot(t, key, len, htab_hash(key, len));
	return *pp ? (*pp)->value : NULL;
}

static bool htab_grow(struct htab *t)
{
	size_t n = t->n_buckets ? t->n_buckets * 2 : 16;
	struct htab_item **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return false;
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct htab_item *it = t->buckets[i];

		while (it != NULL) {
			struct htab_item *next = it->next;

			it->next = b[it->hash & (n - 1)];
			b[it->hash & (n - 1)] = it;
			it = next;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
	return true;
}

bool htab_put(struct htab *t, const void *key, size_t len, void *value)
{
	uint64_t h = htab_hash(key, len);
	struct htab_item **pp, *it;

	if ((t->count + 1 > t->n_buckets) && !htab_grow(t))
		return false;
	pp = htab_slot(t, key, len, h);
	if (*pp != NULL) {
		(*pp)->value = value;
		return true;
	}
	it = malloc(sizeof(*it) + len);
	if (it == NULL)
		return false;
	it->next = NULL;
	it->hash = h;
	it->value = value;
	it->key_len = len;
	memcpy(it->key, key, len);
	*pp = it;
	t->count++;
	return true;
}

void *htab_del(struct htab *t, const void *key, size_t len)
{
	struct htab_item **pp, *it;
	void *value;

	if (t->n_buckets == 0)
		return NULL;
	pp = htab_slot(t, key, len, htab_hash(key, len));
	it = *pp;
	if (it == NULL)
		return NULL;
	*pp = it->next;
	value = it->value;
	free(it);
	t->count--;
	return value;
}

void htab_foreach(const struct htab *t, void (*fn)(void *value, void *arg), void *arg)
{
	for (size_t i = 0; i < t->n_buckets; i++) {
		for (struct htab_item *it = t->buckets[i]; it != NULL; it = it->next)
			fn(it->value, arg);
	}
}
