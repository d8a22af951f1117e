/*
 * n_plus_one.c - rule n-plus-one: one client runs the same query once per row of a loop.
 *
 * A traffic rule: it looks at the stream of executed statements, not at one
 * query, so it has no parse-tree callbacks; analyzer/traffic.c implements it
 * and reads its severity and options from here (`[rules] n-plus-one = ...`,
 * `n-plus-one.min_repeats = ...`).
 */
#include "analyzer/rule.h"

static const struct rule_option n_plus_one_options[] = {
    {"min_repeats", 10, 2, 1e9,
     "executions of one query, with different parameters, by one client in a row"},
    {"window_ms", 1000, 1, 3.6e6,
     "outside a transaction, the executions must fall within this many milliseconds"},
};

const struct rule rule_n_plus_one = {
    .id = "n-plus-one",
    .default_severity = SEVERITY_WARNING,
    .summary = "one client runs the same query many times with different parameters (traffic)",
    .options = n_plus_one_options,
    .n_options = sizeof(n_plus_one_options) / sizeof(n_plus_one_options[0]),
};
