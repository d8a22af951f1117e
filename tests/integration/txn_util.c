/* txn_util.c - helpers shared by the transaction-pooling integration tests (see txn_util.h). */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

long txn_raise_nofile(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		perror("getrlimit");
		return -1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < want) {
		rl.rlim_cur = (rlim_t)want;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			perror("setrlimit");
			return -1;
		}
	}
	return rl.rlim_cur == RLIM_INFINITY ? want : (long)rl.rlim_cur;
}

long txn_primary_long(const char *sql)
{
	PGconn *primary = harness_connect_primary();
	char value[64];
	long v = -1;

	if (primary == NULL)
		return -1;
	if (harness_query_value(primary, sql, value, sizeof(value)))
		v = strtol(value, NULL, 10);
	PQfinish(primary);
	return v;
}

bool txn_expect_error(PGconn *conn, const char *sql, const char *sqlstate, char *message_out,
                      size_t message_outsz)
{
	PGresult *res = PQexec(conn, sql);
	const char *got = harness_sqlstate(res);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	bool ok = PQresultStatus(res) == PGRES_FATAL_ERROR && strcmp(got, sqlstate) == 0;

	if (!ok)
		fprintf(stderr,
		        "txn: \"%s\": expected SQLSTATE %s, got status %s, SQLSTATE \"%s\": %s\n",
		        sql, sqlstate, PQresStatus(PQresultStatus(res)), got, PQerrorMessage(conn));
	if (message_out != NULL && message_outsz > 0)
		snprintf(message_out, message_outsz, "%s", msg ? msg : PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

long txn_backend_pid(PGconn *conn)
{
	char value[32];

	if (!harness_query_value(conn, "SELECT pg_backend_pid()", value, sizeof(value)))
		return -1;
	return strtol(value, NULL, 10);
}

bool txn_put_msg(char *buf, size_t bufsz, size_t *used, char type, const void *body, size_t len)
{
	uint32_t n = htonl((uint32_t)(len + 4));

	if (*used + 5 + len > bufsz)
		return false;
	buf[*used] = type;
	memcpy(buf + *used + 1, &n, 4);
	if (len > 0)
		memcpy(buf + *used + 5, body, len);
	*used += 5 + len;
	return true;
}
