/*
 * repeated_identical_query.c - rule repeated-identical-query: the same query with the same
 * parameters many times a second, a cache candidate.
 *
 * A traffic rule: analyzer/traffic.c implements it over the stream of executed
 * read-only statements; this file declares its id, severity and options.
 */
#include "analyzer/rule.h"

static const struct rule_option repeated_identical_query_options[] = {
    {"min_per_second", 20, 2, 1e9,
     "executions with identical text and parameters within one second (all clients)"},
};

const struct rule rule_repeated_identical_query = {
    .id = "repeated-identical-query",
    .default_severity = SEVERITY_INFO,
    .summary = "same query and parameters many times a second: cache candidate (traffic)",
    .options = repeated_identical_query_options,
    .n_options =
        sizeof(repeated_identical_query_options) / sizeof(repeated_identical_query_options[0]),
};
