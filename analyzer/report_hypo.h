/*
 * report_hypo.h - check suggested indexes with HypoPG before the report suggests them.
 *
 * For findings of unindexed-filter and heavy-join whose suggestion is a
 * CREATE INDEX, the index is created hypothetically (hypopg_create_index) in
 * the session of --dsn, and the query's generic plan is EXPLAINed before and
 * after. An index that does not at least halve the estimated cost is not
 * suggested (as Dexter decides); for unindexed-filter the finding itself is
 * dropped, since no index helps that filter. Nothing is written to the
 * database: EXPLAIN without ANALYZE, hypothetical indexes live in the session
 * only and are reset.
 */
#ifndef PGSCOPE_ANALYZER_REPORT_HYPO_H
#define PGSCOPE_ANALYZER_REPORT_HYPO_H

#include <libpq-fe.h>

#include "analyzer/report.h"

/* An index helps when the estimated cost falls to at most this share. */
#define REPORT_HYPO_HELPS 0.5

struct report_hypo_result {
	double before; /* estimated total cost of the generic plan without the index */
	double after;  /* and with the hypothetical index */
	bool helps;    /* after <= before * REPORT_HYPO_HELPS */
};

/*
 * EXPLAIN query (normalized text, $n parameters) before and after creating
 * create_index hypothetically on conn (which must have the hypopg extension).
 * Returns 0, or -1 with the reason in err (the query cannot be planned, ...).
 */
int report_hypo_eval(PGconn *conn, const char *query, const char *create_index,
                     struct report_hypo_result *out, char *err, size_t errsize);

/*
 * Check every index suggestion of r's findings against the server at dsn;
 * called by report_finish() when opts.hypo_dsn is set. Sets r->hypo_note
 * when the check could not be done at all.
 */
void report_hypo_apply(struct report *r, const char *dsn);

#endif
