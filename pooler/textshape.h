/*
 * textshape.h - a statement text's shape, as a hash: texts that differ only
 * in literal values share it. The analysis thread analyses a shape once
 * (observe.c), and read routing classifies it once (route.c): a
 * simple-protocol workload sends a new text for every call, with new values.
 * Values after LIMIT and OFFSET are kept (rules judge them), and so are
 * comments naming pgscope (suppressions, hints); other comments go
 * (sqlcommenter's differ on every call). Pure: no state, any thread.
 */
#ifndef PGSCOPE_POOLER_TEXTSHAPE_H
#define PGSCOPE_POOLER_TEXTSHAPE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The shape of sql[0..len) hashed with SEED (0 for the usual hash; another
 * seed gives an independent second hash, for a wider key). 0 when the text
 * is not worth sharing (dollar quoting).
 */
uint64_t textshape_hash(const char *sql, size_t len, uint64_t seed);

#endif
