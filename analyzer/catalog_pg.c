/*
 * catalog_pg.c - read a schema snapshot from a live PostgreSQL server through
 * libpq: runs the catalog queries in one read-only snapshot and feeds their
 * rows to the catalog builder (catalog_build.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/catalog.h"
#include "analyzer/pq.h"

/* Columns of the widest catalog query. */
#define ROW_MAX_COLUMNS 16

/* Run catalog query QUERY on conn and hand its rows to b; false with err on failure. */
static bool load_query(const struct pq_api *pq, PGconn *conn, struct catalog_builder *b, int query,
                       char *err, size_t errlen)
{
	PGresult *res = pq->exec(conn, catalog_builder_query(query));
	const char *values[ROW_MAX_COLUMNS];
	int cols;
	bool ok = true;

	if (pq->result_status(res) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "schema query failed: %s", pq->result_error_message(res));
		pq->clear(res);
		return false;
	}
	cols = pq->nfields(res);
	if (cols > ROW_MAX_COLUMNS)
		cols = ROW_MAX_COLUMNS;
	for (int r = 0; ok && r < pq->ntuples(res); r++) {
		for (int c = 0; c < cols; c++)
			values[c] = pq->getisnull(res, r, c) ? NULL : pq->getvalue(res, r, c);
		ok = catalog_builder_row(b, query, cols, values);
	}
	pq->clear(res);
	if (ok)
		ok = catalog_builder_end(b, query);
	if (!ok)
		snprintf(err, errlen, "out of memory");
	return ok;
}

struct catalog *catalog_load_dsn(const char *dsn, char *err, size_t errlen)
{
	const struct pq_api *pq = pq_load(err, errlen);
	struct catalog_builder *b = NULL;
	PGconn *conn;

	if (pq == NULL)
		return NULL;
	conn = pq->connectdb(dsn);
	if (pq->status(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "connecting for the schema: %s", pq->error_message(conn));
		goto out_fail;
	}
	b = catalog_builder_new();
	if (b == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out_fail;
	}
	/* One snapshot for all queries, so tables, indexes and stats agree. */
	pq->clear(pq->exec(conn, CATALOG_SNAPSHOT_BEGIN));
	for (int q = 0; q < CATALOG_QUERIES; q++)
		if (!load_query(pq, conn, b, q, err, errlen))
			goto out_fail;
	pq->clear(pq->exec(conn, "COMMIT"));
	pq->finish(conn);
	return catalog_builder_finish(b, "dsn", err, errlen);

out_fail:
	pq->finish(conn);
	catalog_builder_free(b);
	return NULL;
}
