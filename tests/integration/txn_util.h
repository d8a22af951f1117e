/*
 * txn_util.h - helpers shared by the transaction-pooling integration tests (test_txn_*.c).
 *
 * Every function that can fail prints why on stderr and returns false/-1, so
 * that the test asserts on the result and the output explains a failure.
 */
#ifndef PGSCOPE_TESTS_TXN_UTIL_H
#define PGSCOPE_TESTS_TXN_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/*
 * Raise this process's RLIMIT_NOFILE soft limit to at least WANT (bounded by
 * the hard limit). Children forked afterwards (pgscope, pgbench) inherit it.
 * Returns the soft limit now in force, or -1 on error.
 */
long txn_raise_nofile(long want);

/*
 * Run SQL returning one integer on a fresh connection to the primary (bypassing
 * pgscope). Returns the value, or -1 on any error.
 */
long txn_primary_long(const char *sql);

/*
 * Run SQL on CONN and expect it to fail with SQLSTATE. Prints what came back
 * when it did not; returns true when the error matched. When MESSAGE_OUT is not
 * NULL the primary error message is copied there (bounded).
 */
bool txn_expect_error(PGconn *conn, const char *sql, const char *sqlstate, char *message_out,
                      size_t message_outsz);

/* The backend pid of CONN's current server (SELECT pg_backend_pid()); -1 on error. */
long txn_backend_pid(PGconn *conn);

/*
 * Append one protocol message (type byte, length word, BODY of LEN bytes) to
 * BUF at *USED; false when it would not fit in BUFSZ.
 */
bool txn_put_msg(char *buf, size_t bufsz, size_t *used, char type, const void *body, size_t len);

#endif
