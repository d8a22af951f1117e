/*
 * cache.c - bounded analysis cache: open-addressing index over a slot array, CLOCK eviction.
 */
#include <stdlib.h>
#include <string.h>

#include "analyzer/cache.h"

struct cache_slot {
	uint64_t hash;
	char *text; /* owned copy of the key */
	size_t len;
	struct analysis *a; /* owned */
	size_t bytes;       /* accounted size of this entry */
	bool used;
	bool referenced; /* CLOCK bit: set on hit, cleared as the hand passes */
};

struct analysis_cache {
	struct cache_slot *slots; /* max_entries */
	size_t max_entries;
	size_t max_bytes;
	uint32_t *index;    /* open addressing: slot number + 1, 0 = empty */
	size_t index_mask;  /* index size - 1 (a power of two >= 2 * max_entries) */
	size_t hand;        /* CLOCK hand over slots */
	size_t *free_slots; /* stack of unused slot numbers */
	size_t n_free;
	struct analysis *uncached; /* last result too big to keep; freed on the next call */
	struct analysis_cache_stats stats;
};

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

uint64_t analysis_cache_hash(const char *sql, size_t len)
{
	const uint64_t k1 = 0x9e3779b97f4a7c15ULL, k2 = 0xc2b2ae3d27d4eb4fULL;
	const unsigned char *p = (const unsigned char *)sql;
	uint64_t h = 0x165667b19e3779f9ULL ^ (len * k1);
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w = load64(p + i) * k2;
		h ^= rotl64(w, 31) * k1;
		h = rotl64(h, 27) * k1 + 0x52dce729;
	}
	if (i < len) {
		uint64_t w = 0;
		memcpy(&w, p + i, len - i);
		h ^= rotl64(w * k2, 31) * k1;
	}
	/* Final avalanche (the MurmurHash3 finaliser). */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

struct analysis_cache *analysis_cache_new(size_t max_entries, size_t max_bytes)
{
	if (max_entries == 0 || max_entries > UINT32_MAX / 4)
		return NULL;
	struct analysis_cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	size_t isize = 16;
	while (isize < 2 * max_entries)
		isize *= 2;
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	c->index_mask = isize - 1;
	c->slots = calloc(max_entries, sizeof(*c->slots));
	c->index = calloc(isize, sizeof(*c->index));
	c->free_slots = calloc(max_entries, sizeof(*c->free_slots));
	if (c->slots == NULL || c->index == NULL || c->free_slots == NULL) {
		analysis_cache_free(c);
		return NULL;
	}
	for (size_t i = 0; i < max_entries; i++)
		c->free_slots[c->n_free++] = max_entries - 1 - i;
	return c;
}

void analysis_cache_free(struct analysis_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; c->slots != NULL && i < c->max_entries; i++) {
		free(c->slots[i].text);
		analysis_free(c->slots[i].a);
	}
	analysis_free(c->uncached);
	free(c->slots);
	free(c->index);
	free(c->free_slots);
	free(c);
}

/* Index position holding slot s, or of the empty position where hash h would go. */
static size_t index_find(const struct analysis_cache *c, uint64_t h, const char *sql, size_t len,
                         bool *found)
{
	size_t pos = (size_t)h & c->index_mask;

	for (;;) {
		uint32_t v = c->index[pos];
		if (v == 0) {
			*found = false;
			return pos;
		}
		const struct cache_slot *s = &c->slots[v - 1];
		if (s->hash == h && s->len == len && memcmp(s->text, sql, len) == 0) {
			*found = true;
			return pos;
		}
		pos = (pos + 1) & c->index_mask;
	}
}

/* Remove index position pos, shifting later entries of the probe run back (no tombstones). */
static void index_remove(struct analysis_cache *c, size_t pos)
{
	size_t hole = pos;
	size_t next = (pos + 1) & c->index_mask;

	c->index[hole] = 0;
	while (c->index[next] != 0) {
		size_t home = (size_t)c->slots[c->index[next] - 1].hash & c->index_mask;
		/* Move next into the hole unless its home lies cyclically in (hole, next]. */
		bool stays =
		    hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
		if (!stays) {
			c->index[hole] = c->index[next];
			c->index[next] = 0;
			hole = next;
		}
		next = (next + 1) & c->index_mask;
	}
}

static void evict_slot(struct analysis_cache *c, size_t n)
{
	struct cache_slot *s = &c->slots[n];
	bool found;
	size_t pos = index_find(c, s->hash, s->text, s->len, &found);

	if (found)
		index_remove(c, pos);
	c->stats.bytes -= s->bytes;
	c->stats.entries--;
	c->stats.evictions++;
	free(s->text);
	analysis_free(s->a);
	memset(s, 0, sizeof(*s));
	c->free_slots[c->n_free++] = n;
}

/* Advance the CLOCK hand to an unreferenced entry and evict it. */
static void evict_one(struct analysis_cache *c)
{
	for (;;) {
		struct cache_slot *s = &c->slots[c->hand];
		size_t n = c->hand;
		c->hand = (c->hand + 1) % c->max_entries;
		if (!s->used)
			continue;
		if (s->referenced) {
			s->referenced = false;
			continue;
		}
		evict_slot(c, n);
		return;
	}
}

const struct analysis *analysis_cache_get(struct analysis_cache *c, const char *sql, size_t len)
{
	bool found;
	uint64_t h = analysis_cache_hash(sql, len);
	size_t pos = index_find(c, h, sql, len, &found);

	if (!found) {
		c->stats.misses++;
		return NULL;
	}
	struct cache_slot *s = &c->slots[c->index[pos] - 1];
	s->referenced = true;
	c->stats.hits++;
	return s->a;
}

const struct analysis *analysis_cache_put(struct analysis_cache *c, const char *sql, size_t len,
                                          struct analysis *a)
{
	bool found;
	uint64_t h = analysis_cache_hash(sql, len);
	size_t bytes = sizeof(struct cache_slot) + len + (a != NULL ? a->bytes : 0);

	analysis_free(c->uncached);
	c->uncached = NULL;
	if (a == NULL)
		return NULL;
	size_t pos = index_find(c, h, sql, len, &found);
	if (found) {
		/* Same text again: replace the stored analysis. */
		evict_slot(c, c->index[pos] - 1);
		c->stats.evictions--;
	}
	if (bytes > c->max_bytes) {
		c->uncached = a;
		return a;
	}
	while (c->n_free == 0 || c->stats.bytes + bytes > c->max_bytes)
		evict_one(c);
	char *text = malloc(len + 1);
	if (text == NULL) {
		c->uncached = a;
		return a;
	}
	memcpy(text, sql, len);
	text[len] = '\0';
	size_t n = c->free_slots[--c->n_free];
	struct cache_slot *s = &c->slots[n];
	s->hash = h;
	s->text = text;
	s->len = len;
	s->a = a;
	s->bytes = bytes;
	s->used = true;
	s->referenced = false;
	pos = index_find(c, h, sql, len, &found);
	c->index[pos] = (uint32_t)n + 1;
	c->stats.entries++;
	c->stats.bytes += bytes;
	return a;
}

const struct analysis *analysis_cache_analyze(struct analysis_cache *c, const char *sql, size_t len,
                                              const struct catalog *cat,
                                              const struct rule_config *cfg,
                                              const struct analyze_options *opts)
{
	const struct analysis *hit = analysis_cache_get(c, sql, len);

	if (hit != NULL)
		return hit;
	struct analysis *a = analyze_sql(sql, len, cat, cfg, opts);
	if (a == NULL)
		return NULL;
	return analysis_cache_put(c, sql, len, a);
}

void analysis_cache_get_stats(const struct analysis_cache *c, struct analysis_cache_stats *out)
{
	*out = c->stats;
}
