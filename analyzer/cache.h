/*
 * cache.h - a bounded cache of analyses keyed by the raw query text.
 *
 * Keyed by a 64-bit hash of the text; a hit compares the full text, so two
 * texts never share an entry. Bounded by entry count and by bytes (text plus
 * analysis); CLOCK eviction (an approximation of LRU that costs one bit per
 * hit). Not thread-safe: one cache belongs to one thread (the pooler's
 * analysis thread, or the CLI's main thread).
 */
#ifndef PGSCOPE_ANALYZER_CACHE_H
#define PGSCOPE_ANALYZER_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "analyzer/engine.h"

struct analysis_cache;

struct analysis_cache_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t evictions;
	size_t entries; /* current */
	size_t bytes;   /* current */
};

/*
 * A cache holding at most max_entries analyses and max_bytes bytes. Returns
 * NULL when out of memory or max_entries is 0. Free with analysis_cache_free().
 */
struct analysis_cache *analysis_cache_new(size_t max_entries, size_t max_bytes);

void analysis_cache_free(struct analysis_cache *c);

/*
 * The cached analysis of sql[0..len), or NULL. The pointer is borrowed: valid
 * until the next analysis_cache_put/analyze/free on this cache.
 */
const struct analysis *analysis_cache_get(struct analysis_cache *c, const char *sql, size_t len);

/*
 * Store a (the cache takes ownership, also on failure, when it frees a) for
 * sql[0..len), evicting others as needed. Returns the stored pointer (borrowed
 * as above), or NULL when it does not fit at all or memory ran out.
 */
const struct analysis *analysis_cache_put(struct analysis_cache *c, const char *sql, size_t len,
                                          struct analysis *a);

/*
 * Get, or analyze_sql() and put. The result is borrowed as above; NULL only
 * when out of memory. An analysis too big to cache is kept until the next call.
 */
const struct analysis *analysis_cache_analyze(struct analysis_cache *c, const char *sql, size_t len,
                                              const struct catalog *cat,
                                              const struct rule_config *cfg,
                                              const struct analyze_options *opts);

/* Counters since creation. */
void analysis_cache_get_stats(const struct analysis_cache *c, struct analysis_cache_stats *out);

/* The hash used as key: 64-bit, fast, not cryptographic. */
uint64_t analysis_cache_hash(const char *sql, size_t len);

#endif
