/*
 * slow_query.c - rule slow-query: a query whose 95th percentile duration is over a threshold.
 *
 * A traffic rule: analyzer/traffic.c keeps a duration histogram per
 * fingerprint; this file declares the rule's id, severity and options.
 */
#include "analyzer/rule.h"

static const struct rule_option slow_query_options[] = {
    {"p95_ms", 500, 0.001, 1e9, "flag a query whose 95th percentile duration exceeds this"},
    {"min_samples", 20, 1, 1e12, "executions needed before the percentile is trusted"},
};

const struct rule rule_slow_query = {
    .id = "slow-query",
    .default_severity = SEVERITY_WARNING,
    .summary = "95th percentile duration over a threshold (traffic)",
    .options = slow_query_options,
    .n_options = sizeof(slow_query_options) / sizeof(slow_query_options[0]),
};
