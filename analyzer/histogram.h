/*
 * histogram.h - selectivity of `column < value` / `column > value` from a column's pg_stats
 * histogram and most common values, computed the way PostgreSQL's planner does.
 *
 * Values come from the parse tree: numbers, strings (compared as numbers,
 * timestamps or text according to what the statistics hold), and
 * now()/CURRENT_TIMESTAMP/CURRENT_DATE plus or minus an interval constant,
 * which the planner folds at plan time and so compares against the histogram
 * too. Parameters and other expressions are not estimable.
 */
#ifndef PGSCOPE_ANALYZER_HISTOGRAM_H
#define PGSCOPE_ANALYZER_HISTOGRAM_H

#include <stdbool.h>

#include <pg_query/pg_query.pb-c.h>

#include "analyzer/catalog.h"

/*
 * Fraction of the table's rows with column > value (lower is true: value is a
 * lower bound) or column < value (lower false), NULLs excluded. Returns -1
 * when the statistics or the value do not allow an estimate.
 */
double hist_bound_selectivity(const struct catalog_stats *s, const PgQuery__Node *value,
                              bool lower);

/*
 * Seconds since the epoch of a timestamp or date text ("2024-07-25",
 * "2024-07-25 10:00:00.5+02"); false when text is not one. A text without
 * offset is taken as UTC.
 */
bool hist_parse_time(const char *text, double *out);

/* Seconds of an interval text ("1 day", "2 hours 30 minutes", "1 week"); false if not one. */
bool hist_parse_interval(const char *text, double *out);

#endif
