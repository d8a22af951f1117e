/*
 * catalog_int.h - internals shared by catalog.c (lookups, JSON) and catalog_pg.c (libpq loader).
 */
#ifndef PGSCOPE_ANALYZER_CATALOG_INT_H
#define PGSCOPE_ANALYZER_CATALOG_INT_H

#include "analyzer/catalog.h"

/* Sort tables by (name, schema), the order catalog_find_table() relies on. */
void catalog_sort(struct catalog *cat);

/* Free what a catalog_stats owns and zero it. */
void catalog_stats_release(struct catalog_stats *s);

#endif
