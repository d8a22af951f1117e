/*
 * harness.h - helpers for the integration tests: a real PostgreSQL cluster, a pgscope process,
 * clients.
 *
 * The cluster comes from the environment (PGSCOPE_TEST_HOST, PGSCOPE_TEST_PORT,
 * PGSCOPE_TEST_REPLICA_PORT, as printed by tests/pgcluster and exported by
 * tests/integration/run); when they are missing, the harness starts a cluster
 * with tests/pgcluster itself and stops it at exit or on SIGINT/SIGTERM.
 *
 * pgscope is started from PGSCOPE_BIN (default ./pgscope) with a generated
 * config on a free port, with shutdown_timeout = 5 (extra_main may set
 * another) so that harness_pgscope_stop() ends within its 10 s even when a
 * test leaves a transaction open. With PGSCOPE_TEST_TARGET=direct no pgscope is started
 * and the tests talk to the primary itself, to check the tests against
 * PostgreSQL's own behaviour; tests that measure pgscope itself skip there.
 *
 * pgscope's files (config, log, socket) go to a fresh directory under
 * PGSCOPE_TEST_TMPDIR (default /tmp), removed when it stops cleanly unless
 * PGSCOPE_TEST_KEEP is set.
 *
 * Every wait has a time limit. Functions that can fail return false/-1/NULL
 * and print why on stderr; the tests assert on the result.
 */
#ifndef PGSCOPE_TESTS_HARNESS_H
#define PGSCOPE_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <libpq-fe.h>

/* The PostgreSQL cluster the tests run against. */
struct harness_cluster {
	const char *host; /* 127.0.0.1 */
	int port;         /* the primary */
	int replica_port; /* the streaming replica; 0 when there is none */
	const char *dir;  /* the cluster directory (logs under DIR/primary/log) */
};

/*
 * The cluster, from the environment or started on first use. Never NULL: when
 * no cluster can be had the process exits with a message (nothing to test).
 */
const struct harness_cluster *harness_cluster(void);

/*
 * Stop ("stop", pg_ctl's fast mode), start ("start") or restart ("restart",
 * fast mode) the cluster's primary in place, on the same port, and wait
 * (60 s) until pg_ctl is done: an outage for the tests. A test that stops
 * the primary starts it again before it ends. False, after printing why,
 * on failure.
 */
bool harness_primary_ctl(const char *action);

/* The same for the cluster's streaming replica (as the postgres user, like the primary). */
bool harness_replica_ctl(const char *action);

/* Settings for a pgscope instance; zero/NULL fields take the defaults noted. */
struct harness_pgscope_opts {
	const char *pool_mode;  /* default "session" */
	int pool_size;          /* default_pool_size; default 40 */
	int max_client_conn;    /* default 200 */
	long max_packet_size;   /* default 1048576 */
	const char *extra_main; /* extra lines for [pgscope], or NULL */
	const char *extra_dbs;  /* extra lines for [databases], or NULL */
	bool with_replica_db;   /* add "replica = ..." pointing at the replica */
	bool read_routing;      /* database postgres lists the replica, read_routing on */
};

/* A running pgscope, or the primary itself in direct mode. */
struct harness_pgscope {
	pid_t pid;             /* 0 when not running (or direct mode) */
	int port;              /* where clients connect */
	char dir[256];         /* private directory: config, log, pid file, socket */
	char config_path[300]; /* DIR/pgscope.ini */
	char log_path[300];    /* DIR/pgscope.log (its logfile) */
	char out_path[300];    /* DIR/stdout.log (its stdout and stderr) */
};

/* True when PGSCOPE_TEST_TARGET=direct: tests run against PostgreSQL itself. */
bool harness_direct_mode(void);

/*
 * Start pgscope with a config made from OPTS and wait (10 s) until it accepts
 * TCP connections. On failure prints its log and returns false. The process
 * is also killed at exit if the test forgets harness_pgscope_stop().
 */
bool harness_pgscope_start(struct harness_pgscope *ps, const struct harness_pgscope_opts *opts);

/*
 * Stop pgscope with SIGTERM and wait for it (10 s, then SIGKILL). Returns true
 * when it exited by itself with status 0 or by SIGTERM. Removes its directory
 * unless the stop failed or PGSCOPE_TEST_KEEP is set.
 */
bool harness_pgscope_stop(struct harness_pgscope *ps);

/* Send signal SIG to pgscope; false when it is not running. */
bool harness_pgscope_signal(struct harness_pgscope *ps, int sig);

/*
 * Wait up to TIMEOUT_MS for pgscope to exit by itself. Returns its exit status,
 * 128+signal when a signal ended it, or -1 on timeout (it is left running).
 */
int harness_pgscope_wait_exit(struct harness_pgscope *ps, int timeout_ms);

/*
 * Start a second pgscope, `serve --takeover`, on OLD's config (same port,
 * directory and logfile) into PS, and wait (10 s) until it logs that it has
 * taken over the listening sockets. On failure prints the logs and returns
 * false. Its output goes to DIR/stdout-takeover.log.
 */
bool harness_pgscope_takeover(const struct harness_pgscope *old, struct harness_pgscope *ps);

/* How many lines of the file at PATH contain NEEDLE; -1 when it cannot be read. */
long harness_file_count_lines(const char *path, const char *needle);

/* True when a line of the file at PATH (read whole) contains NEEDLE, and ALSO unless NULL. */
bool harness_file_has_line(const char *path, const char *needle, const char *also);

/* True while the pgscope process is alive (always true in direct mode). */
bool harness_pgscope_alive(struct harness_pgscope *ps);

/* Print pgscope's log and output files to stderr, to explain a failure. */
void harness_pgscope_dump_log(const struct harness_pgscope *ps);

/* True when a line of pgscope's log contains TEXT. */
bool harness_pgscope_log_has(const struct harness_pgscope *ps, const char *text);

/* pgscope's resident set size in kB from /proc/PID/status; -1 if unknown. */
long harness_pgscope_rss_kb(const struct harness_pgscope *ps);

/*
 * Connect with libpq to 127.0.0.1:PORT as user postgres; EXTRA is more
 * "key=value" conninfo (or NULL); dbname defaults to postgres. Returns the
 * connection (caller PQfinish()es it), or NULL after printing the error.
 */
PGconn *harness_connect(int port, const char *extra);

/* harness_connect() to the primary directly, bypassing pgscope. */
PGconn *harness_connect_primary(void);

/* Run SQL, expect PGRES_COMMAND_OK or PGRES_TUPLES_OK; prints the error and returns false if not.
 */
bool harness_exec_ok(PGconn *conn, const char *sql);

/*
 * Run SQL returning one value; copy the first column of the first row into
 * OUT (bounded, NUL-terminated). Returns false on error or no rows.
 */
bool harness_query_value(PGconn *conn, const char *sql, char *out, size_t outsz);

/* A result's columns as "name:typeoid name:typeoid ..." into OUT (bounded, NUL-terminated). */
void harness_result_columns(const PGresult *res, char *out, size_t outlen);

/* The SQLSTATE of a result, or "" when none. */
const char *harness_sqlstate(const PGresult *res);

/*
 * Wait up to TIMEOUT_MS until the primary runs a statement containing MARKER
 * (state 'active', seen in pg_stat_activity). False on timeout.
 */
bool harness_wait_running(const char *marker, int timeout_ms);

/*
 * Wait up to TIMEOUT_MS until the primary runs no statement containing
 * MARKER any more (none 'active' in pg_stat_activity). False on timeout.
 */
bool harness_wait_not_running(const char *marker, int timeout_ms);

/* Wait up to TIMEOUT_MS for a notification on CONN; NULL if none came (caller PQfreemem()s it). */
PGnotify *harness_wait_notify(PGconn *conn, int timeout_ms);

/* Output of a child process run by harness_run(). */
struct harness_run_result {
	int exit_code;  /* exit status, 128+signal if killed, -1 if it could not run */
	bool timed_out; /* killed because it ran over the time limit */
	char *output;   /* stdout and stderr together, NUL-terminated; free() it */
	size_t len;
};

/*
 * Run ARGV (argv[0] looked up in PATH) with INPUT (or NULL) on its stdin,
 * capturing stdout+stderr (up to 4 MB), killing its process group after
 * TIMEOUT_S seconds. Returns false only if it could not be started.
 */
bool harness_run(const char *const argv[], const char *input, int timeout_s,
                 struct harness_run_result *res);

/*
 * harness_run() that also sends signal SIG to the child SIGNAL_AFTER_MS after
 * it started, as a terminal does with SIGINT on Ctrl-C.
 */
bool harness_run_signal(const char *const argv[], const char *input, int timeout_s,
                        int signal_after_ms, int sig, struct harness_run_result *res);

/*
 * Run a driver workload script (argv[0] looked up in PATH) for at most
 * TIMEOUT_S seconds. True when it exited 0 and its summary says " 0 errors";
 * its output is printed either way (to stderr, headed by NAME, on failure).
 */
bool harness_run_driver(const char *const argv[], const char *name, int timeout_s);

/* Free the output of a run result. */
void harness_run_result_free(struct harness_run_result *res);

/* A loopback TCP port the kernel considers free right now (bound to port 0, read back, released).
 */
int harness_free_port(void);

/*
 * Start ARGV (argv[0] looked up in PATH) in the background, its stdout and
 * stderr appended to LOG_PATH; it is killed when the test process dies.
 * Returns its pid, or -1 when fork failed.
 */
pid_t harness_spawn(const char *const argv[], const char *log_path);

/*
 * SIGTERM a process started by harness_spawn() and wait up to TIMEOUT_MS for
 * it (then SIGKILL). Returns its exit status, 128+signal when a signal ended
 * it, -1 for an invalid pid.
 */
int harness_spawn_stop(pid_t pid, int timeout_ms);

/* Milliseconds from a monotonic clock. */
long long harness_now_ms(void);

/* Sleep for MS milliseconds. */
void harness_sleep_ms(int ms);

/* --- raw sockets, for hostile clients --- */

/* A blocking TCP connection to 127.0.0.1:PORT; -1 on failure. */
int harness_tcp_connect(int port);

/*
 * One HTTP/1.1 exchange with 127.0.0.1:PORT: REQUEST is sent whole, and the
 * answer read until its Content-Length is in (the server may keep the
 * connection), the server closes, 4 MB or 5 s. Returns the status (-1
 * when none came) and, when RESPONSE is not NULL, the whole answer (head and
 * body) in a malloc'ed string the caller frees (NULL on failure).
 */
int harness_http_request(int port, const char *request, char **response);

/*
 * The length of the first whole HTTP answer (head and Content-Length bytes of
 * body) in BUF (LEN bytes, NUL-terminated), or 0 while it is not all in.
 */
size_t harness_http_answer_length(const char *buf, size_t len);

/* The body of an HTTP answer (after its blank line), or NULL when it has none. */
const char *harness_http_body(const char *response);

/*
 * The value of sample SAMPLE (a metric name and its labels as written, such
 * as 'x_total{kind="a"}', or a name alone) in the Prometheus text BODY; -1
 * when BODY has no such sample.
 */
double harness_metric_value(const char *body, const char *sample);

/* Send all LEN bytes (SIGPIPE-safe); false if the peer closed or an error. */
bool harness_send_all(int fd, const void *buf, size_t len);

/*
 * Wait up to TIMEOUT_MS for the peer to close the connection, reading and
 * discarding what comes. Returns true when it closed (EOF or reset).
 */
bool harness_wait_closed(int fd, int timeout_ms);

/* A protocol 3.0 StartupMessage for USER and DATABASE into BUF; returns its length or 0. */
size_t harness_startup_packet(char *buf, size_t bufsz, const char *user, const char *database);

/* One backend message: its type byte and payload (without the length word). */
struct harness_msg {
	char type;
	char *data; /* payload, NUL-terminated for convenience; free() it */
	size_t len;
};

/*
 * Read one backend message within TIMEOUT_MS. Returns 1 on a message, 0 when
 * the peer closed, -1 on timeout or error. Payloads over 64 MB are refused.
 */
int harness_read_msg(int fd, struct harness_msg *msg, int timeout_ms);

/* The 'C' (SQLSTATE) field of an ErrorResponse payload, copied into OUT (6 bytes); false if absent.
 */
bool harness_error_field(const struct harness_msg *msg, char field, char *out, size_t outsz);

/*
 * Send a StartupMessage and read until ReadyForQuery (trust authentication).
 * Returns false (printing why) if anything else happens within TIMEOUT_MS.
 */
bool harness_raw_login(int fd, const char *user, const char *database, int timeout_ms);

#endif
