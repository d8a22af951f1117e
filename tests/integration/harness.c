/*
 * harness.c - helpers for the integration tests: a real PostgreSQL cluster, a pgscope process,
 * clients.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/harness.h"

#define RUN_OUTPUT_MAX (4 * 1024 * 1024)
#define MSG_MAX        (64 * 1024 * 1024)
#define MAX_CHILDREN   16

static struct harness_cluster cluster;
static bool cluster_ready;
static bool cluster_owned;         /* started here: stop it at exit */
static char cluster_dir[PATH_MAX]; /* when owned */
static char pgcluster_path[PATH_MAX];

/* pgscope processes still running, killed at exit or on a signal, and their directories. */
static pid_t children[MAX_CHILDREN];
static char children_dirs[MAX_CHILDREN][256];
static bool cleanup_installed;

long long harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

bool harness_direct_mode(void)
{
	const char *t = getenv("PGSCOPE_TEST_TARGET");

	return t != NULL && strcmp(t, "direct") == 0;
}

static void children_add(pid_t pid, const char *dir)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] == 0) {
			children[i] = pid;
			snprintf(children_dirs[i], sizeof(children_dirs[i]), "%s", dir);
			return;
		}
	}
}

static void children_remove(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] == pid)
			children[i] = 0;
	}
}

/* Run a program and wait for it, using only async-signal-safe calls. */
static void run_in_handler(char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* Async-signal-safe: kill the pgscope children, remove their directories, stop an owned cluster. */
static void cleanup_now(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] > 0) {
			char *const rm[] = {"/bin/rm", "-rf", children_dirs[i], NULL};

			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
			if (getenv("PGSCOPE_TEST_KEEP") == NULL)
				run_in_handler(rm);
		}
	}
	if (cluster_owned) {
		char *const stop[] = {pgcluster_path, "stop", cluster_dir, NULL};

		cluster_owned = false;
		run_in_handler(stop);
	}
}

static void cleanup_atexit(void)
{
	cleanup_now();
}

static void cleanup_signal(int sig)
{
	cleanup_now();
	_exit(128 + sig);
}

static void install_cleanup(void)
{
	struct sigaction sa;

	if (cleanup_installed)
		return;
	cleanup_installed = true;
	atexit(cleanup_atexit);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cleanup_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* Hostile tests write to sockets the peer closed. */
	signal(SIGPIPE, SIG_IGN);
}

static int env_int(const char *name)
{
	const char *v = getenv(name);

	return v != NULL ? atoi(v) : 0;
}

/* Parse "export A=1 B=2 ..." from tests/pgcluster into the environment. */
static void export_line_to_env(char *line)
{
	char *save = NULL;

	for (char *tok = strtok_r(line, " \n", &save); tok != NULL;
	     tok = strtok_r(NULL, " \n", &save)) {
		char *eq = strchr(tok, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		setenv(tok, eq + 1, 1);
	}
}

static void start_own_cluster(void)
{
	struct harness_run_result res;
	const char *root = getenv("PGSCOPE_ROOT");
	char *export_line;

	snprintf(pgcluster_path, sizeof(pgcluster_path), "%s/tests/pgcluster",
	         root != NULL ? root : ".");
	snprintf(cluster_dir, sizeof(cluster_dir), "/tmp/pgscope-cluster.%ld", (long)getpid());
	if (access(pgcluster_path, X_OK) != 0) {
		fprintf(stderr,
		        "harness: %s not found; run from the repository root or set "
		        "PGSCOPE_ROOT, or export PGSCOPE_TEST_PORT\n",
		        pgcluster_path);
		exit(1);
	}
	install_cleanup();
	cluster_owned = true;
	const char *argv[] = {pgcluster_path, "start", cluster_dir, NULL};
	if (!harness_run(argv, NULL, 240, &res) || res.exit_code != 0) {
		fprintf(stderr, "harness: could not start a cluster:\n%s\n",
		        res.output ? res.output : "");
		exit(1);
	}
	export_line = strstr(res.output, "export ");
	if (export_line == NULL) {
		fprintf(stderr, "harness: unexpected pgcluster output:\n%s\n", res.output);
		exit(1);
	}
	export_line_to_env(export_line + strlen("export "));
	harness_run_result_free(&res);
}

const struct harness_cluster *harness_cluster(void)
{
	if (cluster_ready)
		return &cluster;
	if (env_int("PGSCOPE_TEST_PORT") == 0)
		start_own_cluster();
	cluster.host = getenv("PGSCOPE_TEST_HOST") ? getenv("PGSCOPE_TEST_HOST") : "127.0.0.1";
	cluster.port = env_int("PGSCOPE_TEST_PORT");
	cluster.replica_port = env_int("PGSCOPE_TEST_REPLICA_PORT");
	cluster.dir = getenv("PGSCOPE_TEST_DIR") ? getenv("PGSCOPE_TEST_DIR") : "";
	cluster_ready = true;
	return &cluster;
}

/* pgcluster NODE DIR ACTION, for harness_primary_ctl() and harness_replica_ctl(). */
static bool node_ctl(const char *node, const char *action)
{
	const struct harness_cluster *c = harness_cluster();
	const char *root = getenv("PGSCOPE_ROOT");
	struct harness_run_result res;
	char path[PATH_MAX];
	bool ok;

	snprintf(path, sizeof(path), "%s/tests/pgcluster", root != NULL ? root : ".");
	const char *argv[] = {path, node, c->dir, action, NULL};
	if (!harness_run(argv, NULL, 90, &res)) {
		fprintf(stderr, "harness: could not run %s\n", path);
		return false;
	}
	ok = res.exit_code == 0;
	if (!ok)
		fprintf(stderr, "harness: pgcluster %s %s failed (%d):\n%s\n", node, action,
		        res.exit_code, res.output ? res.output : "");
	harness_run_result_free(&res);
	return ok;
}

bool harness_primary_ctl(const char *action)
{
	return node_ctl("primary", action);
}

bool harness_replica_ctl(const char *action)
{
	return node_ctl("replica", action);
}

int harness_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;

	if (fd == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static bool write_config(const struct harness_pgscope *ps, const struct harness_pgscope_opts *o)
{
	const struct harness_cluster *c = harness_cluster();
	FILE *f = fopen(ps->config_path, "w");

	if (f == NULL) {
		perror(ps->config_path);
		return false;
	}
	fprintf(f,
	        "; generated by the integration-test harness\n"
	        "[pgscope]\n"
	        "listen_addr = 127.0.0.1\n"
	        "listen_port = %d\n"
	        "unix_socket_dir = %s\n"
	        "auth_type = trust\n"
	        "pool_mode = %s\n"
	        "default_pool_size = %d\n"
	        "max_client_conn = %d\n"
	        "logfile = %s\n"
	        "pidfile = %s/pgscope.pid\n"
	        "max_packet_size = %ld\n"
	        "shutdown_timeout = 5\n"
	        "%s\n"
	        "[databases]\n"
	        "postgres = host=%s port=%d dbname=postgres user=postgres",
	        ps->port, ps->dir, o->pool_mode ? o->pool_mode : "session",
	        o->pool_size > 0 ? o->pool_size : 40,
	        o->max_client_conn > 0 ? o->max_client_conn : 200, ps->log_path, ps->dir,
	        o->max_packet_size > 0 ? o->max_packet_size : 1048576L,
	        o->extra_main ? o->extra_main : "", c->host, c->port);
	if (o->read_routing && c->replica_port > 0)
		fprintf(f, " replicas=%s:%d read_routing=replicas", c->host, c->replica_port);
	fprintf(f, "\n");
	if (o->with_replica_db && c->replica_port > 0)
		fprintf(f, "replica = host=%s port=%d dbname=postgres user=postgres\n", c->host,
		        c->replica_port);
	fprintf(f, "%s\n* = host=%s port=%d\n", o->extra_dbs ? o->extra_dbs : "", c->host, c->port);
	return fclose(f) == 0;
}

/* Run pgscope serve on PS's config; with TAKEOVER, `serve --takeover`. */
static pid_t spawn_pgscope(const struct harness_pgscope *ps, bool takeover)
{
	const char *bin = getenv("PGSCOPE_BIN") ? getenv("PGSCOPE_BIN") : "./pgscope";
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	int fd = open(ps->out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

	if (fd != -1) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	/* Never outlive the test, even when it is killed with SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (takeover)
		execl(bin, bin, "serve", "--takeover", ps->config_path, (char *)NULL);
	else
		execl(bin, bin, "serve", ps->config_path, (char *)NULL);
	fprintf(stderr, "harness: exec %s: %s\n", bin, strerror(errno));
	_exit(127);
}

static bool port_accepts(int port)
{
	int fd = harness_tcp_connect(port);

	if (fd == -1)
		return false;
	close(fd);
	return true;
}

static bool file_contains(const char *path, const char *needle)
{
	char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* Start once on the chosen port; 1 ready, 0 port taken (retry), -1 failed. */
static int start_once(struct harness_pgscope *ps, const struct harness_pgscope_opts *opts)
{
	long long deadline;
	int status;

	ps->port = harness_free_port();
	if (ps->port <= 0 || !write_config(ps, opts))
		return -1;
	ps->pid = spawn_pgscope(ps, false);
	if (ps->pid == -1) {
		perror("fork");
		ps->pid = 0;
		return -1;
	}
	children_add(ps->pid, ps->dir);
	deadline = harness_now_ms() + 10000;
	while (harness_now_ms() < deadline) {
		if (waitpid(ps->pid, &status, WNOHANG) == ps->pid) {
			children_remove(ps->pid);
			ps->pid = 0;
			if (file_contains(ps->out_path, "in use") ||
			    file_contains(ps->log_path, "in use"))
				return 0;
			fprintf(stderr, "harness: pgscope exited at start (status %d)\n", status);
			harness_pgscope_dump_log(ps);
			return -1;
		}
		if (port_accepts(ps->port))
			return 1;
		harness_sleep_ms(50);
	}
	fprintf(stderr, "harness: pgscope did not accept connections on port %d within 10 s\n",
	        ps->port);
	harness_pgscope_dump_log(ps);
	harness_pgscope_stop(ps);
	return -1;
}

bool harness_pgscope_start(struct harness_pgscope *ps, const struct harness_pgscope_opts *opts)
{
	static const struct harness_pgscope_opts defaults;
	const struct harness_cluster *c = harness_cluster();

	memset(ps, 0, sizeof(*ps));
	if (opts == NULL)
		opts = &defaults;
	if (harness_direct_mode()) {
		ps->port = c->port;
		return true;
	}
	install_cleanup();
	snprintf(ps->dir, sizeof(ps->dir), "%s/pgscope-it.XXXXXX",
	         getenv("PGSCOPE_TEST_TMPDIR") ? getenv("PGSCOPE_TEST_TMPDIR") : "/tmp");
	if (mkdtemp(ps->dir) == NULL) {
		perror("mkdtemp");
		return false;
	}
	chmod(ps->dir, 0755);
	snprintf(ps->config_path, sizeof(ps->config_path), "%s/pgscope.ini", ps->dir);
	snprintf(ps->log_path, sizeof(ps->log_path), "%s/pgscope.log", ps->dir);
	snprintf(ps->out_path, sizeof(ps->out_path), "%s/stdout.log", ps->dir);
	for (int attempt = 0; attempt < 3; attempt++) {
		int r = start_once(ps, opts);

		if (r != 0)
			return r == 1;
	}
	fprintf(stderr, "harness: no free port for pgscope after 3 attempts\n");
	return false;
}

static void remove_dir(const char *dir)
{
	const char *argv[] = {"rm", "-rf", dir, NULL};
	const char *base = strrchr(dir, '/');
	struct harness_run_result res;

	/* Only ever a directory this harness made. */
	if (base == NULL || strncmp(base, "/pgscope-it.", 12) != 0)
		return;
	if (harness_run(argv, NULL, 30, &res))
		harness_run_result_free(&res);
}

bool harness_pgscope_stop(struct harness_pgscope *ps)
{
	long long deadline;
	int status = 0;
	bool clean = false;

	if (ps->pid <= 0) {
		if (ps->dir[0] != '\0' && getenv("PGSCOPE_TEST_KEEP") == NULL)
			remove_dir(ps->dir);
		ps->dir[0] = '\0';
		return true;
	}
	kill(ps->pid, SIGTERM);
	deadline = harness_now_ms() + 10000;
	for (;;) {
		pid_t r = waitpid(ps->pid, &status, WNOHANG);

		if (r == ps->pid) {
			clean = (WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
			        (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
			break;
		}
		if (harness_now_ms() > deadline) {
			fprintf(stderr, "harness: pgscope ignored SIGTERM for 10 s; killing it\n");
			kill(ps->pid, SIGKILL);
			waitpid(ps->pid, &status, 0);
			break;
		}
		harness_sleep_ms(20);
	}
	children_remove(ps->pid);
	ps->pid = 0;
	if (!clean) {
		fprintf(stderr, "harness: pgscope did not exit cleanly (status 0x%x)\n", status);
		harness_pgscope_dump_log(ps);
	} else if (getenv("PGSCOPE_TEST_KEEP") == NULL) {
		remove_dir(ps->dir);
		ps->dir[0] = '\0';
	}
	return clean;
}

bool harness_pgscope_signal(struct harness_pgscope *ps, int sig)
{
	if (ps->pid <= 0)
		return false;
	return kill(ps->pid, sig) == 0;
}

int harness_pgscope_wait_exit(struct harness_pgscope *ps, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	int status;

	if (ps->pid <= 0)
		return -1;
	while (waitpid(ps->pid, &status, WNOHANG) != ps->pid) {
		if (harness_now_ms() > deadline) {
			fprintf(stderr, "harness: pgscope %ld still running after %d ms\n",
			        (long)ps->pid, timeout_ms);
			return -1;
		}
		harness_sleep_ms(10);
	}
	children_remove(ps->pid);
	ps->pid = 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

long harness_file_count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	long n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

bool harness_file_has_line(const char *path, const char *needle, const char *also)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && getline(&line, &cap, f) != -1)
		found =
		    strstr(line, needle) != NULL && (also == NULL || strstr(line, also) != NULL);
	free(line);
	fclose(f);
	return found;
}

bool harness_pgscope_takeover(const struct harness_pgscope *old, struct harness_pgscope *ps)
{
	long long deadline = harness_now_ms() + 10000;
	char pid_field[32];
	int status;

	*ps = *old;
	snprintf(ps->out_path, sizeof(ps->out_path), "%s/stdout-takeover.log", ps->dir);
	ps->pid = spawn_pgscope(ps, true);
	if (ps->pid == -1) {
		perror("fork");
		ps->pid = 0;
		return false;
	}
	children_add(ps->pid, ps->dir);
	snprintf(pid_field, sizeof(pid_field), " pid=%ld ", (long)ps->pid);
	while (harness_now_ms() < deadline) {
		if (waitpid(ps->pid, &status, WNOHANG) == ps->pid) {
			children_remove(ps->pid);
			ps->pid = 0;
			fprintf(stderr, "harness: pgscope --takeover exited (status 0x%x)\n",
			        status);
			harness_pgscope_dump_log(ps);
			return false;
		}
		if (harness_file_has_line(ps->log_path, "event=takeover.done", pid_field))
			return true;
		harness_sleep_ms(20);
	}
	fprintf(stderr, "harness: pgscope --takeover did not take over within 10 s\n");
	harness_pgscope_dump_log(ps);
	return false;
}

bool harness_pgscope_alive(struct harness_pgscope *ps)
{
	int status;

	if (harness_direct_mode())
		return true;
	if (ps->pid <= 0)
		return false;
	if (waitpid(ps->pid, &status, WNOHANG) == ps->pid) {
		fprintf(stderr, "harness: pgscope died (status 0x%x)\n", status);
		children_remove(ps->pid);
		ps->pid = 0;
		harness_pgscope_dump_log(ps);
		return false;
	}
	return true;
}

static void dump_tail(const char *path, long max_bytes)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return;
	fprintf(stderr, "---- %s (last %ld bytes at most) ----\n", path, max_bytes);
	if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > max_bytes)
		fseek(f, -max_bytes, SEEK_END);
	else
		fseek(f, 0, SEEK_SET);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fprintf(stderr, "---- end of %s ----\n", path);
	fclose(f);
}

void harness_pgscope_dump_log(const struct harness_pgscope *ps)
{
	if (ps->dir[0] == '\0')
		return;
	dump_tail(ps->out_path, 8192);
	dump_tail(ps->log_path, 8192);
}

bool harness_pgscope_log_has(const struct harness_pgscope *ps, const char *text)
{
	FILE *f = fopen(ps->log_path, "r");
	char line[8192];
	bool found = false;

	while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, text) != NULL;
	if (f != NULL)
		fclose(f);
	return found;
}

long harness_pgscope_rss_kb(const struct harness_pgscope *ps)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	if (ps->pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)ps->pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

PGconn *harness_connect(int port, const char *extra)
{
	char conninfo[1024];
	PGconn *conn;

	snprintf(conninfo, sizeof(conninfo),
	         "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=10 %s", port,
	         extra ? extra : "");
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "harness: connect to port %d (%s) failed: %s", port,
		        extra ? extra : "", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

PGconn *harness_connect_primary(void)
{
	return harness_connect(harness_cluster()->port, NULL);
}

bool harness_exec_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "harness: \"%s\" failed: %s", sql, PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

bool harness_query_value(PGconn *conn, const char *sql, char *out, size_t outsz)
{
	PGresult *res = PQexec(conn, sql);
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;

	if (ok)
		snprintf(out, outsz, "%s", PQgetvalue(res, 0, 0));
	else
		fprintf(stderr, "harness: \"%s\" gave no value: %s", sql, PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

const char *harness_sqlstate(const PGresult *res)
{
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return s ? s : "";
}

/* How many statements containing MARKER the primary runs now; -1 on error. */
static int running_count(PGconn *primary, const char *marker)
{
	const char *params[1] = {marker};
	PGresult *res = PQexecParams(primary,
	                             "SELECT count(*) FROM pg_stat_activity WHERE state = "
	                             "'active' AND pid <> pg_backend_pid() AND "
	                             "strpos(query, $1) > 0",
	                             1, NULL, params, NULL, NULL, 0);
	int n = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : -1;

	PQclear(res);
	return n;
}

/* Wait up to TIMEOUT_MS until statements with MARKER run (RUNNING) or none does (!RUNNING). */
static bool wait_running_state(const char *marker, bool running, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	PGconn *primary = harness_connect_primary();
	bool seen = false;

	if (primary == NULL)
		return false;
	while (!seen && harness_now_ms() < deadline) {
		int n = running_count(primary, marker);

		seen = running ? n > 0 : n == 0;
		if (!seen)
			harness_sleep_ms(20);
	}
	PQfinish(primary);
	if (!seen)
		fprintf(stderr, "harness: %s statement with \"%s\" within %d ms\n",
		        running ? "no running" : "still a running", marker, timeout_ms);
	return seen;
}

bool harness_wait_running(const char *marker, int timeout_ms)
{
	return wait_running_state(marker, true, timeout_ms);
}

bool harness_wait_not_running(const char *marker, int timeout_ms)
{
	return wait_running_state(marker, false, timeout_ms);
}

PGnotify *harness_wait_notify(PGconn *conn, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		PGnotify *n;
		struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
		long long left;

		if (!PQconsumeInput(conn))
			return NULL;
		n = PQnotifies(conn);
		if (n != NULL)
			return n;
		left = deadline - harness_now_ms();
		if (left <= 0)
			return NULL;
		poll(&pfd, 1, (int)left);
	}
}

/* Append what is readable on FD to RES; false at EOF. */
static bool drain_output(int fd, struct harness_run_result *res, size_t *cap)
{
	char buf[8192];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n == -1 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	if (res->len + (size_t)n > RUN_OUTPUT_MAX)
		return true; /* keep reading so the child never blocks, drop the excess */
	if (res->len + (size_t)n + 1 > *cap) {
		size_t ncap = (*cap + (size_t)n) * 2;
		char *p = realloc(res->output, ncap);

		if (p == NULL)
			return true;
		res->output = p;
		*cap = ncap;
	}
	memcpy(res->output + res->len, buf, (size_t)n);
	res->len += (size_t)n;
	res->output[res->len] = '\0';
	return true;
}

static void run_child(const char *const argv[], int in_fd, int out_fd)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	dup2(in_fd, STDIN_FILENO);
	dup2(out_fd, STDOUT_FILENO);
	dup2(out_fd, STDERR_FILENO);
	close(in_fd);
	close(out_fd);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], (char *const *)argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

bool harness_run(const char *const argv[], const char *input, int timeout_s,
                 struct harness_run_result *res)
{
	return harness_run_signal(argv, input, timeout_s, -1, 0, res);
}

bool harness_run_signal(const char *const argv[], const char *input, int timeout_s,
                        int signal_after_ms, int sig, struct harness_run_result *res)
{
	long long signal_at = signal_after_ms >= 0 ? harness_now_ms() + signal_after_ms : -1;
	int in_pipe[2], out_pipe[2], status = 0;
	size_t cap = 1, in_off = 0, in_len = input ? strlen(input) : 0;
	long long deadline = harness_now_ms() + (long long)timeout_s * 1000;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	res->output = calloc(1, 1);
	if (res->output == NULL || pipe(in_pipe) == -1)
		return false;
	if (pipe(out_pipe) == -1) {
		close(in_pipe[0]);
		close(in_pipe[1]);
		return false;
	}
	pid = fork();
	if (pid == 0) {
		close(in_pipe[1]);
		close(out_pipe[0]);
		run_child(argv, in_pipe[0], out_pipe[1]);
	}
	close(in_pipe[0]);
	close(out_pipe[1]);
	if (pid == -1) {
		close(in_pipe[1]);
		close(out_pipe[0]);
		return false;
	}
	fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
	if (in_len == 0) {
		close(in_pipe[1]);
		in_pipe[1] = -1;
	}
	for (;;) {
		struct pollfd pfd[2] = {{.fd = out_pipe[0], .events = POLLIN},
		                        {.fd = in_pipe[1], .events = POLLOUT}};
		long long left = deadline - harness_now_ms();

		if (signal_at >= 0 && harness_now_ms() >= signal_at) {
			kill(pid, sig);
			signal_at = -1;
		}
		if (signal_at >= 0 && signal_at - harness_now_ms() < left)
			left = signal_at - harness_now_ms() + 1;
		if (left <= 0) {
			res->timed_out = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		if (poll(pfd, in_pipe[1] != -1 ? 2 : 1, (int)left) == -1 && errno != EINTR)
			break;
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (!drain_output(out_pipe[0], res, &cap))
				break;
		}
		if (in_pipe[1] != -1 && (pfd[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(in_pipe[1], input + in_off, in_len - in_off);

			if (n > 0)
				in_off += (size_t)n;
			if ((n == -1 && errno != EAGAIN && errno != EINTR) || in_off == in_len) {
				close(in_pipe[1]);
				in_pipe[1] = -1;
			}
		}
	}
	if (in_pipe[1] != -1)
		close(in_pipe[1]);
	close(out_pipe[0]);
	/* Output closed: the child is exiting; it was killed if it ran over time. */
	if (!res->timed_out && harness_now_ms() < deadline) {
		while (waitpid(pid, &status, WNOHANG) == 0) {
			if (harness_now_ms() > deadline) {
				res->timed_out = true;
				kill(-pid, SIGKILL);
				kill(pid, SIGKILL);
				break;
			}
			harness_sleep_ms(10);
		}
	}
	if (res->timed_out)
		waitpid(pid, &status, 0);
	if (WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		res->exit_code = 128 + WTERMSIG(status);
	return true;
}

void harness_run_result_free(struct harness_run_result *res)
{
	free(res->output);
	res->output = NULL;
	res->len = 0;
}

int harness_tcp_connect(int port)
{
	struct sockaddr_in sa;
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;

	if (fd == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* SO_SNDTIMEO also bounds connect(). */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

bool harness_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Wait until FD is readable; false on timeout. */
static bool wait_readable(int fd, long long deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = deadline - harness_now_ms();
		int r;

		if (left <= 0)
			return false;
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return true;
		if (r == -1 && errno != EINTR)
			return true; /* let the read report the error */
	}
}

bool harness_wait_closed(int fd, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	char buf[65536];

	for (;;) {
		ssize_t n;

		if (!wait_readable(fd, deadline))
			return false;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n == -1 && errno != EINTR && errno != EAGAIN))
			return true;
	}
}

static size_t put_u32(char *p, uint32_t v)
{
	uint32_t be = htonl(v);

	memcpy(p, &be, 4);
	return 4;
}

size_t harness_startup_packet(char *buf, size_t bufsz, const char *user, const char *database)
{
	size_t len = 8;
	int n;

	if (bufsz < 16)
		return 0;
	n = snprintf(buf + 8, bufsz - 8, "user%c%s%cdatabase%c%s%c", 0, user, 0, 0, database, 0);
	if (n < 0 || (size_t)n + 9 > bufsz)
		return 0;
	len += (size_t)n;
	buf[len++] = '\0';
	put_u32(buf, (uint32_t)len);
	put_u32(buf + 4, 196608); /* protocol 3.0 */
	return len;
}

/* Read exactly LEN bytes before DEADLINE; 1 ok, 0 closed, -1 timeout/error. */
static int read_exact(int fd, char *buf, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t n;

		if (!wait_readable(fd, deadline))
			return -1;
		n = recv(fd, buf, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return 0;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 1;
}

int harness_read_msg(int fd, struct harness_msg *msg, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	char hdr[5];
	uint32_t len;
	int r;

	memset(msg, 0, sizeof(*msg));
	r = read_exact(fd, hdr, 5, deadline);
	if (r != 1)
		return r;
	memcpy(&len, hdr + 1, 4);
	len = ntohl(len);
	if (len < 4 || len - 4 > MSG_MAX) {
		fprintf(stderr, "harness: bad message length %u from peer\n", len);
		return -1;
	}
	msg->type = hdr[0];
	msg->len = len - 4;
	msg->data = malloc(msg->len + 1);
	if (msg->data == NULL)
		return -1;
	r = read_exact(fd, msg->data, msg->len, deadline);
	if (r != 1) {
		free(msg->data);
		msg->data = NULL;
		return r;
	}
	msg->data[msg->len] = '\0';
	return 1;
}

bool harness_error_field(const struct harness_msg *msg, char field, char *out, size_t outsz)
{
	size_t i = 0;

	if (msg->type != 'E' && msg->type != 'N')
		return false;
	while (i < msg->len && msg->data[i] != '\0') {
		char code = msg->data[i++];
		const char *value = msg->data + i;
		size_t vlen = strnlen(value, msg->len - i);

		if (code == field) {
			snprintf(out, outsz, "%.*s", (int)vlen, value);
			return true;
		}
		i += vlen + 1;
	}
	return false;
}

bool harness_raw_login(int fd, const char *user, const char *database, int timeout_ms)
{
	char pkt[256];
	size_t len = harness_startup_packet(pkt, sizeof(pkt), user, database);
	long long deadline = harness_now_ms() + timeout_ms;

	if (len == 0 || !harness_send_all(fd, pkt, len))
		return false;
	for (;;) {
		struct harness_msg m;
		long long left = deadline - harness_now_ms();
		int r = harness_read_msg(fd, &m, left > 0 ? (int)left : 0);
		char type = m.type;

		if (r != 1) {
			fprintf(stderr, "harness: raw login: %s\n",
			        r == 0 ? "connection closed" : "timed out");
			return false;
		}
		if (type == 'E') {
			char msgtext[256] = "";

			harness_error_field(&m, 'M', msgtext, sizeof(msgtext));
			fprintf(stderr, "harness: raw login refused: %s\n", msgtext);
		}
		if (type == 'R' && (m.len < 4 || memcmp(m.data, "\0\0\0\0", 4) != 0)) {
			/* Only AuthenticationOk is expected: the harness uses trust. */
			fprintf(stderr, "harness: raw login: a password was asked for\n");
			type = 'E';
		}
		free(m.data);
		if (type == 'Z')
			return true;
		if (type == 'E')
			return false;
	}
}

bool harness_run_driver(const char *const argv[], const char *name, int timeout_s)
{
	struct harness_run_result res;
	bool ok;

	if (!harness_run(argv, NULL, timeout_s, &res)) {
		fprintf(stderr, "harness: could not run %s\n", name);
		return false;
	}
	ok = !res.timed_out && res.exit_code == 0 && strstr(res.output, " 0 errors") != NULL;
	if (ok)
		printf("%s", res.output);
	else
		fprintf(stderr, "%s output (exit status %d%s):\n%s\n", name, res.exit_code,
		        res.timed_out ? ", timed out" : "", res.output);
	harness_run_result_free(&res);
	return ok;
}

size_t harness_http_answer_length(const char *buf, size_t len)
{
	const char *end = strstr(buf, "\r\n\r\n");
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	size_t whole;

	if (end == NULL || cl == NULL || cl > end)
		return 0;
	whole = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
	return len >= whole ? whole : 0;
}

int harness_http_request(int port, const char *request, char **response)
{
	int fd = harness_tcp_connect(port);
	size_t cap = 4 << 20, len = 0;
	char *buf = malloc(cap + 1);
	long long deadline = harness_now_ms() + 5000;
	int status = -1;

	if (response != NULL)
		*response = NULL;
	if (fd < 0 || buf == NULL || !harness_send_all(fd, request, strlen(request)))
		goto out;
	while (len < cap && harness_now_ms() < deadline) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 100) != 1)
			continue;
		n = recv(fd, buf + len, cap - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = 0;
		if (harness_http_answer_length(buf, len) > 0)
			break; /* a server that keeps the connection open has said all */
	}
	buf[len] = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	if (response != NULL)
		*response = strdup(buf);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return status;
}

const char *harness_http_body(const char *response)
{
	const char *blank = response != NULL ? strstr(response, "\r\n\r\n") : NULL;

	return blank != NULL ? blank + 4 : NULL;
}

pid_t harness_spawn(const char *const argv[], const char *log_path)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

	if (fd != -1) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	/* Never outlive the test, even when it is killed with SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	execvp(argv[0], (char *const *)argv);
	fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int harness_spawn_stop(pid_t pid, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	int status = 0;

	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (harness_now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		harness_sleep_ms(20);
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

void harness_result_columns(const PGresult *res, char *out, size_t outlen)
{
	size_t used = 0;

	out[0] = 0;
	for (int i = 0; i < PQnfields(res) && used < outlen; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%s%s:%u", i ? " " : "",
		                         PQfname(res, i), PQftype(res, i));
}

double harness_metric_value(const char *body, const char *sample)
{
	size_t len = strlen(sample);

	for (const char *line = body; line != NULL && *line != 0;) {
		const char *eol = strchr(line, '\n');

		if (strncmp(line, sample, len) == 0 && line[len] == ' ')
			return atof(line + len + 1);
		line = eol != NULL ? eol + 1 : NULL;
	}
	return -1;
}
