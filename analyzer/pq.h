/*
 * pq.h - libpq, opened on first use.
 *
 * Only `pgscope schema` (catalog_pg.c) and the report's HypoPG check
 * (report_hypo.c) talk to PostgreSQL through libpq. Linked in, libpq and
 * what it pulls in (GnuTLS, Kerberos, LDAP) would add about 4 MB to the
 * resident size of every pgscope process, the pooler included, which never
 * calls it. So pgscope does not link libpq; these functions dlopen() it.
 */
#ifndef PGSCOPE_ANALYZER_PQ_H
#define PGSCOPE_ANALYZER_PQ_H

#include <stddef.h>

#include <libpq-fe.h>

/* The libpq functions pgscope calls, named after them (PQgetvalue -> getvalue). */
struct pq_api {
	PGconn *(*connectdb)(const char *conninfo);
	ConnStatusType (*status)(const PGconn *conn);
	char *(*error_message)(const PGconn *conn);
	void (*finish)(PGconn *conn);
	PGresult *(*exec)(PGconn *conn, const char *query);
	PGresult *(*exec_params)(PGconn *conn, const char *command, int n_params,
	                         const Oid *param_types, const char *const *param_values,
	                         const int *param_lengths, const int *param_formats,
	                         int result_format);
	ExecStatusType (*result_status)(const PGresult *res);
	char *(*result_error_message)(const PGresult *res);
	int (*ntuples)(const PGresult *res);
	int (*nfields)(const PGresult *res);
	char *(*getvalue)(const PGresult *res, int row, int col);
	int (*getisnull)(const PGresult *res, int row, int col);
	void (*clear)(PGresult *res);
};

/*
 * libpq's functions, opening the library on the first call (thread-safe; it
 * stays open). NULL, with why in err (size errlen), when it cannot be opened.
 */
const struct pq_api *pq_load(char *err, size_t errlen);

#endif
