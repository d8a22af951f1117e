/* report_hypo.c - EXPLAIN a query with and without a hypothetical (HypoPG) index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/pq.h"
#include "analyzer/report_hypo.h"

/* libpq, opened by report_hypo_eval() and report_hypo_apply() (see pq.h). */
static const struct pq_api *pq;

/* Run a command; false with the server's message in err. */
static bool exec_ok(PGconn *c, const char *sql, char *err, size_t errsize)
{
	PGresult *r = pq->exec(c, sql);
	ExecStatusType st = pq->result_status(r);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		snprintf(err, errsize, "%s", pq->result_error_message(r));
	pq->clear(r);
	err[strcspn(err, "\n")] = '\0';
	return ok;
}

/* Highest $n in a normalized text. */
static int count_params(const char *q)
{
	int max = 0;
	for (const char *p = strchr(q, '$'); p; p = strchr(p + 1, '$')) {
		int n = atoi(p + 1);
		if (n > max)
			max = n;
	}
	return max;
}

/* PREPARE the query and EXPLAIN its generic plan; the top node's total cost. */
static bool plan_cost(PGconn *c, const char *query, double *cost, char *err, size_t errsize)
{
	exec_ok(c, "DEALLOCATE pgscope_hypo", err, errsize); /* may not exist */
	size_t qlen = strlen(query);
	char *sql = malloc(qlen + 64);
	if (!sql) {
		snprintf(err, errsize, "out of memory");
		return false;
	}
	snprintf(sql, qlen + 64, "PREPARE pgscope_hypo AS %s", query);
	bool ok = exec_ok(c, sql, err, errsize);
	free(sql);
	if (!ok)
		return false;
	int n = count_params(query);
	char *ex = malloc((size_t)n * 6 + 64);
	if (!ex) {
		snprintf(err, errsize, "out of memory");
		return false;
	}
	int at = sprintf(ex, "EXPLAIN (FORMAT JSON) EXECUTE pgscope_hypo");
	for (int i = 0; i < n; i++)
		at += sprintf(ex + at, "%sNULL", i ? "," : "(");
	if (n > 0)
		sprintf(ex + at, ")");
	PGresult *r = pq->exec(c, ex);
	free(ex);
	ok = pq->result_status(r) == PGRES_TUPLES_OK && pq->ntuples(r) == 1;
	if (!ok) {
		snprintf(err, errsize, "%s", pq->result_error_message(r));
		err[strcspn(err, "\n")] = '\0';
	} else {
		const char *tc = strstr(pq->getvalue(r, 0, 0), "\"Total Cost\": ");
		ok = tc != NULL;
		if (ok)
			*cost = strtod(tc + 14, NULL);
		else
			snprintf(err, errsize, "no cost in EXPLAIN output");
	}
	pq->clear(r);
	return ok;
}

int report_hypo_eval(PGconn *conn, const char *query, const char *create_index,
                     struct report_hypo_result *out, char *err, size_t errsize)
{
	char e2[256];
	int rc = -1;
	memset(out, 0, sizeof(*out));
	pq = pq_load(err, errsize);
	if (pq == NULL)
		return -1;
	/* A generic plan does not depend on the NULLs passed for the parameters. */
	if (!exec_ok(conn, "SET plan_cache_mode = force_generic_plan", err, errsize))
		return -1;
	if (!plan_cost(conn, query, &out->before, err, errsize))
		goto out_reset;
	const char *params[1] = {create_index};
	PGresult *r = pq->exec_params(conn, "SELECT indexrelid FROM hypopg_create_index($1)", 1,
	                              NULL, params, NULL, NULL, 0);
	bool created = pq->result_status(r) == PGRES_TUPLES_OK && pq->ntuples(r) == 1;
	if (!created) {
		snprintf(err, errsize, "hypopg: %s", pq->result_error_message(r));
		err[strcspn(err, "\n")] = '\0';
	}
	pq->clear(r);
	if (!created)
		goto out_reset;
	/* Prepared again so the plan is made with the hypothetical index visible. */
	if (!plan_cost(conn, query, &out->after, err, errsize))
		goto out_reset;
	out->helps = out->after <= out->before * REPORT_HYPO_HELPS;
	rc = 0;
out_reset:
	exec_ok(conn, "SELECT hypopg_reset()", e2, sizeof(e2));
	exec_ok(conn, "DEALLOCATE pgscope_hypo", e2, sizeof(e2));
	exec_ok(conn, "RESET plan_cache_mode", e2, sizeof(e2));
	return rc;
}

/* "CREATE INDEX CONCURRENTLY ON t (a);" inside a suggestion -> "CREATE INDEX ON t (a)". */
static bool extract_create_index(const char *suggestion, char *out, size_t size)
{
	const char *p = suggestion ? strstr(suggestion, "CREATE INDEX") : NULL;
	if (!p)
		return false;
	const char *end = strchr(p, ';');
	size_t n = end ? (size_t)(end - p) : strlen(p);
	if (n + 1 > size)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	char *cc = strstr(out, " CONCURRENTLY");
	if (cc)
		memmove(cc, cc + 13, strlen(cc + 13) + 1);
	return true;
}

static bool checks_indexes(const char *rule_id)
{
	return strcmp(rule_id, "unindexed-filter") == 0 || strcmp(rule_id, "heavy-join") == 0;
}

static void drop_finding(struct report *r, size_t i)
{
	free(r->findings[i].message);
	free(r->findings[i].suggestion);
	free(r->findings[i].hypo);
	memmove(&r->findings[i], &r->findings[i + 1],
	        (r->n_findings - i - 1) * sizeof(*r->findings));
	r->n_findings--;
}

void report_hypo_apply(struct report *r, const char *dsn)
{
	char err[512], why[200];
	pq = pq_load(why, sizeof(why));
	if (pq == NULL) {
		snprintf(r->hypo_note, sizeof(r->hypo_note), "index suggestions not checked: %s",
		         why);
		return;
	}
	PGconn *c = pq->connectdb(dsn);
	if (pq->status(c) != CONNECTION_OK) {
		snprintf(r->hypo_note, sizeof(r->hypo_note), "index suggestions not checked: %s",
		         pq->error_message(c));
		r->hypo_note[strcspn(r->hypo_note, "\n")] = '\0';
		goto out_finish;
	}
	PGresult *res = pq->exec(c, "SELECT 1 FROM pg_extension WHERE extname = 'hypopg'");
	bool have = pq->result_status(res) == PGRES_TUPLES_OK && pq->ntuples(res) == 1;
	pq->clear(res);
	if (!have) {
		snprintf(r->hypo_note, sizeof(r->hypo_note),
		         "index suggestions not checked: the hypopg extension is not installed in "
		         "this database");
		goto out_finish;
	}
	for (size_t i = 0; i < r->n_findings;) {
		struct report_finding *f = &r->findings[i];
		char ci[1024];
		if (!checks_indexes(f->rule_id) || !f->fp->query ||
		    !extract_create_index(f->suggestion, ci, sizeof(ci))) {
			i++;
			continue;
		}
		struct report_hypo_result hr;
		char note[768];
		if (report_hypo_eval(c, f->fp->query, ci, &hr, err, sizeof(err)) != 0) {
			snprintf(note, sizeof(note), "not checked: %s", err);
		} else if (hr.helps) {
			snprintf(note, sizeof(note),
			         "estimated cost %.0f -> %.0f (-%.0f%%) with the index created "
			         "hypothetically",
			         hr.before, hr.after, 100.0 * (1.0 - hr.after / hr.before));
		} else if (strcmp(f->rule_id, "unindexed-filter") == 0) {
			/* No index helps this filter: the finding would be advice to ignore. */
			r->hypo_dropped++;
			drop_finding(r, i);
			continue;
		} else {
			snprintf(note, sizeof(note),
			         "the suggested index would not lower the estimated cost (%.0f -> "
			         "%.0f): not suggested",
			         hr.before, hr.after);
			free(f->suggestion);
			f->suggestion = NULL;
		}
		free(f->hypo);
		f->hypo = strdup(note);
		i++;
	}
out_finish:
	pq->finish(c);
}
