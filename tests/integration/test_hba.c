/*
 * test_hba.c - auth_type = hba and auth_query, seen from clients.
 *
 * pgscope runs with an auth_hba_file whose lines pick the method by
 * connection type, address and database, and an auth_file holding a
 * plaintext password, an md5 hash and a SCRAM secret. Each method must let
 * the right password in and answer a wrong one, or an unknown user, with
 * FATAL 28P01; a reject line, a line for another address and a database no
 * line covers are refused with 28000 as PostgreSQL words it. A SCRAM
 * client-final message with a tampered proof is refused. auth_query fetches
 * md5 and SCRAM secrets of roles made in the real server (the test cluster
 * trusts pgscope, so only pgscope checks the passwords), and no secret shows
 * in pgscope's log.
 *
 * Clients: libpq (with verbose errors, to see SQLSTATEs), psql, psycopg and
 * a raw protocol client for SCRAM. In direct mode these are skipped: the test
 * cluster trusts everyone.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pooler/auth.h"
#include "pooler/scram.h"
#include "tests/integration/harness.h"
#include "tests/integration/txn_util.h"

#define WAIT_MS       10000
#define RUN_TIMEOUT_S 60
#define FILE_PW       "file-pw"
#define MD5_PW        "md5-pw"
#define SCRAM_PW      "scram-pw"
#define AQ_MD5_PW     "aq-md5-pw"
#define AQ_SCRAM_PW   "aq-scram-pw"

static char dir[256];

/* ---- setup ---- */

static bool write_file(const char *name, const char *text)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		return false;
	fputs(text, f);
	return fclose(f) == 0;
}

static bool write_auth_file(void)
{
	char scram[SCRAM_SECRET_MAX], md5[AUTH_MD5_BUF], text[1024];
	const char *err = "";

	if (scram_make_secret(SCRAM_PW, SCRAM_DEFAULT_ITERATIONS, scram, sizeof(scram), &err) !=
	        SCRAM_OK ||
	    !auth_md5_password("md5user", MD5_PW, md5))
		return false;
	snprintf(text, sizeof(text),
	         "\"fileuser\" \"%s\"\n\"md5user\" \"%s\"\n\"scramuser\" \"%s\"\n", FILE_PW, md5,
	         scram);
	return write_file("userlist.txt", text);
}

/* Roles in the real server: the auth_file users (trusted there) and auth_query's two. */
static bool make_roles(bool drop)
{
	static const char *const sql[] = {
	    "create role fileuser login",
	    "create role md5user login",
	    "create role scramuser login",
	    "set password_encryption = 'md5'",
	    "create role aq_md5 login password '" AQ_MD5_PW "'",
	    "set password_encryption = 'scram-sha-256'",
	    "create role aq_scram login password '" AQ_SCRAM_PW "'",
	    "create role aq_unicode login password U&'\\2168'", /* ROMAN NUMERAL NINE */
	};
	static const char *const users[] = {"fileuser", "md5user",  "scramuser",
	                                    "aq_md5",   "aq_scram", "aq_unicode"};
	PGconn *su = harness_connect_primary();
	bool ok = su != NULL;
	char q[128];

	for (size_t i = 0; ok && i < sizeof(users) / sizeof(users[0]); i++) {
		snprintf(q, sizeof(q), "drop role if exists %s", users[i]);
		ok = harness_exec_ok(su, q);
	}
	for (size_t i = 0; ok && !drop && i < sizeof(sql) / sizeof(sql[0]); i++)
		ok = harness_exec_ok(su, sql[i]);
	PQfinish(su);
	return ok;
}

static int group_setup(void **state)
{
	const char *tmp = getenv("PGSCOPE_TEST_TMPDIR") ? getenv("PGSCOPE_TEST_TMPDIR") : "/tmp";

	if (harness_direct_mode())
		return 0;
	snprintf(dir, sizeof(dir), "%s/pgscope-hba.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL || !write_auth_file() || !make_roles(false))
		return -1;
	chmod(dir, 0755);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[300];

	if (harness_direct_mode())
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return make_roles(true) && system(cmd) == 0 ? 0 : -1;
}

/* pgscope with auth_type hba, the file HBA, the suite's auth_file and EXTRA settings. */
static void start_hba(struct harness_pgscope *ps, const char *hba, const char *extra)
{
	char main[2048], dbs[1024];
	const struct harness_cluster *cl = harness_cluster();
	struct harness_pgscope_opts opts = {
	    .pool_mode = "session", .extra_main = main, .extra_dbs = dbs};

	if (harness_direct_mode())
		skip();
	assert_true(write_file("pg_hba.conf", hba));
	snprintf(main, sizeof(main),
	         "auth_type = hba\nauth_hba_file = %s/pg_hba.conf\nauth_file = %s/userlist.txt\n%s",
	         dir, dir, extra ? extra : "");
	/* Databases that all lead to "postgres", logged in as the client's user. */
	snprintf(dbs, sizeof(dbs),
	         "trustdb = host=%s port=%d dbname=postgres\n"
	         "md5db = host=%s port=%d dbname=postgres\n"
	         "passdb = host=%s port=%d dbname=postgres\n"
	         "scramdb = host=%s port=%d dbname=postgres\n"
	         "rejectdb = host=%s port=%d dbname=postgres\n"
	         "ssldb = host=%s port=%d dbname=postgres\n",
	         cl->host, cl->port, cl->host, cl->port, cl->host, cl->port, cl->host, cl->port,
	         cl->host, cl->port, cl->host, cl->port);
	assert_true(harness_pgscope_start(ps, &opts));
}

/* ---- libpq logins ---- */

/*
 * Log in through libpq (HOST is an address or pgscope's socket directory).
 * true on success; else err holds libpq's verbose message, SQLSTATE included.
 */
static bool login(int port, const char *host, const char *db, const char *user,
                  const char *password, char *err, size_t errlen)
{
	char portbuf[16];
	const char *keys[] = {"host",     "port",    "dbname",          "user",
	                      "password", "sslmode", "connect_timeout", NULL};
	const char *vals[] = {host, portbuf, db, user, password, "disable", "10", NULL};
	PGconn *c;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	long long end = harness_now_ms() + WAIT_MS;
	bool ok;

	snprintf(portbuf, sizeof(portbuf), "%d", port);
	c = PQconnectStartParams(keys, vals, 0);
	assert_non_null(c);
	PQsetErrorVerbosity(c, PQERRORS_VERBOSE);
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		struct pollfd p = {.fd = PQsocket(c),
		                   .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
		int left = (int)(end - harness_now_ms());

		assert_true(left > 0);
		if (poll(&p, 1, left) < 0)
			break;
		st = PQconnectPoll(c);
	}
	ok = PQstatus(c) == CONNECTION_OK;
	snprintf(err, errlen, "%s", ok ? "" : PQerrorMessage(c));
	if (ok) {
		PGresult *r = PQexec(c, "select 1");

		ok = PQresultStatus(r) == PGRES_TUPLES_OK;
		PQclear(r);
	}
	PQfinish(c);
	return ok;
}

static void expect_login(int port, const char *db, const char *user, const char *password)
{
	char err[1024];

	if (!login(port, "127.0.0.1", db, user, password, err, sizeof(err)))
		fail_msg("%s@%s with the right password refused: %s", user, db, err);
}

/* Refused with SQLSTATE and a message containing TEXT. */
static void expect_refused(int port, const char *host, const char *db, const char *user,
                           const char *password, const char *sqlstate, const char *text)
{
	char err[1024], want[64];

	if (login(port, host, db, user, password, err, sizeof(err)))
		fail_msg("%s@%s with password '%s' logged in", user, db, password);
	snprintf(want, sizeof(want), "FATAL:  %s:", sqlstate);
	if (strstr(err, want) == NULL || strstr(err, text) == NULL)
		fail_msg("%s@%s: expected %s \"%s\", got: %s", user, db, sqlstate, text, err);
}

static void expect_wrong_password(int port, const char *db, const char *user)
{
	char text[128];

	snprintf(text, sizeof(text), "password authentication failed for user \"%s\"", user);
	expect_refused(port, "127.0.0.1", db, user, "not-the-password", "28P01", text);
}

/* ---- the rules ---- */

static const char hba_rules[] = "# pgscope test rules\n"
                                "local   all       all                 trust\n"
                                "host    all       all   127.0.0.2/32  trust\n"
                                "host    rejectdb  all   127.0.0.0/8   reject\n"
                                "hostssl ssldb     all   all           trust\n"
                                "host    trustdb   all   127.0.0.1/32  trust\n"
                                "host    md5db     all   127.0.0.1/32  md5\n"
                                "host    passdb    all   127.0.0.1 255.255.255.255 password\n"
                                "host    scramdb   all   127.0.0.1/32  scram-sha-256\n";

static void test_methods_by_database(void **state)
{
	struct harness_pgscope ps;

	start_hba(&ps, hba_rules, NULL);
	/* trust */
	expect_login(ps.port, "trustdb", "fileuser", "anything");
	/* md5: an md5 hash and a plaintext entry both answer it */
	expect_login(ps.port, "md5db", "md5user", MD5_PW);
	expect_login(ps.port, "md5db", "fileuser", FILE_PW);
	expect_wrong_password(ps.port, "md5db", "md5user");
	expect_wrong_password(ps.port, "md5db", "nosuchuser");
	/* password (cleartext), against every kind of entry */
	expect_login(ps.port, "passdb", "fileuser", FILE_PW);
	expect_login(ps.port, "passdb", "md5user", MD5_PW);
	expect_login(ps.port, "passdb", "scramuser", SCRAM_PW);
	expect_wrong_password(ps.port, "passdb", "fileuser");
	expect_wrong_password(ps.port, "passdb", "nosuchuser");
	/* scram-sha-256 */
	expect_login(ps.port, "scramdb", "scramuser", SCRAM_PW);
	expect_login(ps.port, "scramdb", "fileuser", FILE_PW);
	expect_wrong_password(ps.port, "scramdb", "scramuser");
	expect_wrong_password(ps.port, "scramdb", "nosuchuser");
	expect_wrong_password(ps.port, "scramdb", "md5user"); /* an md5 hash cannot do SCRAM */
	/* reject, and a database no line lets in over this kind of connection */
	expect_refused(ps.port, "127.0.0.1", "rejectdb", "fileuser", FILE_PW, "28000",
	               "pg_hba.conf rejects connection for host \"127.0.0.1\", user \"fileuser\", "
	               "database \"rejectdb\", no encryption");
	expect_refused(ps.port, "127.0.0.1", "ssldb", "fileuser", FILE_PW, "28000",
	               "no pg_hba.conf entry for host \"127.0.0.1\", user \"fileuser\", "
	               "database \"ssldb\", no encryption");
	/* the Unix socket takes the local line */
	{
		char err[1024];

		assert_true(login(ps.port, ps.dir, "rejectdb", "fileuser", "x", err, sizeof(err)));
	}
	assert_true(harness_pgscope_stop(&ps));
}

/* A raw login from SOURCE (a loopback address) to DB; the first message back. */
static void raw_login_from(int port, const char *source, const char *db, struct harness_msg *m)
{
	struct sockaddr_in sa = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
	char pkt[256];
	size_t len = harness_startup_packet(pkt, sizeof(pkt), "fileuser", db);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, source, &sa.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	to.sin_port = htons((uint16_t)port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
	assert_true(harness_send_all(fd, pkt, len));
	assert_int_equal(harness_read_msg(fd, m, WAIT_MS), 1);
	close(fd);
}

static void test_address_picks_the_line(void **state)
{
	struct harness_pgscope ps;
	struct harness_msg m;
	char code[8], msg[256];
	uint32_t auth;

	start_hba(&ps, hba_rules, NULL);
	/* From 127.0.0.2 the trust line comes first, even for rejectdb and md5db. */
	raw_login_from(ps.port, "127.0.0.2", "md5db", &m);
	assert_int_equal(m.type, 'R');
	memcpy(&auth, m.data, 4);
	assert_int_equal(ntohl(auth), 0); /* AuthenticationOk: trusted */
	free(m.data);
	/* From 127.0.0.3 the reject line for 127.0.0.0/8 applies. */
	raw_login_from(ps.port, "127.0.0.3", "rejectdb", &m);
	assert_int_equal(m.type, 'E');
	assert_true(harness_error_field(&m, 'C', code, sizeof(code)));
	assert_string_equal(code, "28000");
	assert_true(harness_error_field(&m, 'M', msg, sizeof(msg)));
	assert_non_null(strstr(msg, "pg_hba.conf rejects connection for host \"127.0.0.3\""));
	free(m.data);
	/* From 127.0.0.1, md5db asks for an md5 password. */
	raw_login_from(ps.port, "127.0.0.1", "md5db", &m);
	assert_int_equal(m.type, 'R');
	memcpy(&auth, m.data, 4);
	assert_int_equal(ntohl(auth), 5);
	free(m.data);
	assert_true(harness_pgscope_stop(&ps));
}

/* SIGHUP reads auth_hba_file again; a file with an error leaves the rules in use. */
static void test_rules_reloaded(void **state)
{
	struct harness_pgscope ps;
	char err[1024];

	start_hba(&ps, hba_rules, NULL);
	expect_login(ps.port, "trustdb", "fileuser", "anything");
	assert_true(write_file("pg_hba.conf", "host all all 127.0.0.1/32 reject\n"));
	assert_int_equal(kill(ps.pid, SIGHUP), 0);
	/* Bounded wait until the signal is handled. */
	for (long long end = harness_now_ms() + WAIT_MS;; harness_sleep_ms(50)) {
		if (!login(ps.port, "127.0.0.1", "trustdb", "fileuser", "x", err, sizeof(err)))
			break;
		assert_true(harness_now_ms() < end);
	}
	assert_non_null(strstr(err, "pg_hba.conf rejects connection"));
	/* A broken file: logged, and the reject rule stays. */
	assert_true(write_file("pg_hba.conf", "host all all 127.0.0.1/32 peer\n"));
	assert_int_equal(kill(ps.pid, SIGHUP), 0);
	for (long long end = harness_now_ms() + WAIT_MS;; harness_sleep_ms(50)) {
		if (harness_pgscope_log_has(&ps, "event=hba.invalid"))
			break;
		assert_true(harness_now_ms() < end);
	}
	expect_refused(ps.port, "127.0.0.1", "trustdb", "fileuser", "x", "28000",
	               "pg_hba.conf rejects connection");
	assert_true(harness_pgscope_stop(&ps));
}

/* ---- SCRAM with a tampered client-final ---- */

static bool send_msg(int fd, char type, const void *body, size_t len)
{
	char buf[1024];
	size_t used = 0;

	return txn_put_msg(buf, sizeof(buf), &used, type, body, len) &&
	       harness_send_all(fd, buf, used);
}

/*
 * A SCRAM login as scramuser with the right password whose client-final is
 * changed by TAMPER (or not, when NULL); the first message after it.
 */
static void scram_login(int port, void (*tamper)(char *final), struct harness_msg *m)
{
	struct scram_client cl;
	char out[1024], body[512], pkt[256];
	const char *err = "";
	size_t len = harness_startup_packet(pkt, sizeof(pkt), "scramuser", "scramdb");
	size_t mlen = strlen(SCRAM_MECHANISM) + 1, dlen;
	uint32_t n;
	int fd = harness_tcp_connect(port);

	assert_true(fd >= 0);
	assert_true(harness_send_all(fd, pkt, len));
	assert_int_equal(scram_client_init(&cl, SCRAM_PW, &err), SCRAM_OK);
	assert_int_equal(harness_read_msg(fd, m, WAIT_MS), 1);
	assert_int_equal(m->type, 'R'); /* AuthenticationSASL */
	free(m->data);
	assert_int_equal(scram_client_first(&cl, out, sizeof(out), &err), SCRAM_OK);
	dlen = strlen(out);
	n = htonl((uint32_t)dlen);
	memcpy(body, SCRAM_MECHANISM, mlen);
	memcpy(body + mlen, &n, 4);
	memcpy(body + mlen + 4, out, dlen);
	assert_true(send_msg(fd, 'p', body, mlen + 4 + dlen));
	assert_int_equal(harness_read_msg(fd, m, WAIT_MS), 1);
	assert_int_equal(m->type, 'R'); /* AuthenticationSASLContinue */
	assert_int_equal(
	    scram_client_handle_server_first(&cl, m->data + 4, m->len - 4, out, sizeof(out), &err),
	    SCRAM_OK);
	free(m->data);
	if (tamper != NULL)
		tamper(out);
	assert_true(send_msg(fd, 'p', out, strlen(out)));
	assert_int_equal(harness_read_msg(fd, m, WAIT_MS), 1);
	scram_client_release(&cl);
	close(fd);
}

/* Change one character of the proof (p=...), keeping it valid base64. */
static void flip_proof(char *final)
{
	char *p = strstr(final, ",p=");

	assert_non_null(p);
	p[3] = p[3] == 'A' ? 'B' : 'A';
}

static void test_scram_tampered_final(void **state)
{
	struct harness_pgscope ps;
	struct harness_msg m;
	char code[8];
	uint32_t auth;

	start_hba(&ps, hba_rules, NULL);
	scram_login(ps.port, NULL, &m);
	assert_int_equal(m.type, 'R');
	memcpy(&auth, m.data, 4);
	assert_int_equal(ntohl(auth), 12); /* AuthenticationSASLFinal */
	free(m.data);
	scram_login(ps.port, flip_proof, &m);
	assert_int_equal(m.type, 'E');
	assert_true(harness_error_field(&m, 'C', code, sizeof(code)));
	assert_string_equal(code, "28P01");
	free(m.data);
	assert_true(harness_pgscope_stop(&ps));
}

/* ---- auth_query ---- */

static void test_auth_query(void **state)
{
	struct harness_pgscope ps;
	PGconn *su;
	char md5_secret[AUTH_MD5_BUF], scram_secret[512];

	start_hba(&ps, hba_rules, "auth_user = postgres\nauth_dbname = postgres\n");
	/* md5 secret from pg_shadow */
	expect_login(ps.port, "md5db", "aq_md5", AQ_MD5_PW);
	expect_wrong_password(ps.port, "md5db", "aq_md5");
	/* SCRAM secret from pg_shadow */
	expect_login(ps.port, "scramdb", "aq_scram", AQ_SCRAM_PW);
	expect_wrong_password(ps.port, "scramdb", "aq_scram");
	expect_login(ps.port, "passdb", "aq_scram", AQ_SCRAM_PW);
	/*
	 * A non-ASCII password checked in clear against PostgreSQL's own SCRAM
	 * secret: both sides apply SASLprep, which makes U+2168 "IX".
	 */
	expect_login(ps.port, "passdb", "aq_unicode", "\xe2\x85\xa8");
	expect_login(ps.port, "passdb", "aq_unicode", "IX");
	expect_wrong_password(ps.port, "passdb", "aq_unicode");
	/* not a role at all: the same answer as a wrong password */
	expect_wrong_password(ps.port, "scramdb", "aq_nobody");
	expect_wrong_password(ps.port, "md5db", "aq_nobody");
	/* psql and psycopg */
	{
		char ci[512];
		const char *argv[] = {"psql", ci, "-X", "-At", "-c", "select current_user", NULL};
		struct harness_run_result res;

		snprintf(ci, sizeof(ci),
		         "host=127.0.0.1 port=%d dbname=scramdb user=aq_scram password=%s "
		         "sslmode=disable",
		         ps.port, AQ_SCRAM_PW);
		assert_true(harness_run(argv, NULL, RUN_TIMEOUT_S, &res));
		assert_int_equal(res.exit_code, 0);
		assert_non_null(strstr(res.output, "aq_scram"));
		harness_run_result_free(&res);
	}
	{
		char script[1024];
		const char *argv[] = {"/usr/bin/python3", "-c", script, NULL};
		struct harness_run_result res;

		snprintf(script, sizeof(script),
		         "import psycopg\n"
		         "c = psycopg.connect('host=127.0.0.1 port=%d dbname=md5db user=aq_md5 "
		         "password=%s sslmode=disable')\n"
		         "print('user', c.execute('select current_user').fetchone()[0])\n"
		         "try:\n"
		         "    psycopg.connect('host=127.0.0.1 port=%d dbname=md5db user=aq_md5 "
		         "password=wrong sslmode=disable')\n"
		         "except psycopg.OperationalError as e:\n"
		         "    print('refused', 'password authentication failed' in str(e))\n",
		         ps.port, AQ_MD5_PW, ps.port);
		assert_true(harness_run(argv, NULL, RUN_TIMEOUT_S, &res));
		if (res.exit_code != 0)
			fprintf(stderr, "%s\n", res.output);
		assert_int_equal(res.exit_code, 0);
		assert_non_null(strstr(res.output, "user aq_md5"));
		assert_non_null(strstr(res.output, "refused True"));
		harness_run_result_free(&res);
	}
	/* No secret in the log. */
	su = harness_connect_primary();
	assert_non_null(su);
	assert_true(harness_query_value(su, "select passwd from pg_shadow where usename = 'aq_md5'",
	                                md5_secret, sizeof(md5_secret)));
	assert_true(harness_query_value(su,
	                                "select passwd from pg_shadow where usename = 'aq_scram'",
	                                scram_secret, sizeof(scram_secret)));
	PQfinish(su);
	assert_true(
	    harness_pgscope_log_has(&ps, "aq_scram")); /* the log is there, and names the users */
	assert_false(harness_pgscope_log_has(&ps, md5_secret + 3));
	assert_false(harness_pgscope_log_has(&ps, strchr(scram_secret, '$') + 1));
	assert_false(harness_pgscope_log_has(&ps, AQ_MD5_PW));
	assert_false(harness_pgscope_log_has(&ps, AQ_SCRAM_PW));
	assert_true(harness_pgscope_stop(&ps));
}

/* Lines of pgscope's log that contain TEXT. */
static int log_count(const struct harness_pgscope *ps, const char *text)
{
	FILE *f = fopen(ps->log_path, "r");
	char line[8192];
	int n = 0;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, text) != NULL;
	if (f != NULL)
		fclose(f);
	return n;
}

/*
 * Clients logging in at once as the same user share one auth_query lookup,
 * and all get in; a wrong password among them is refused.
 */
static void test_auth_query_shared(void **state)
{
	enum { N = 5 };
	struct harness_pgscope ps;
	PGconn *conns[N];
	PostgresPollingStatusType st[N];
	char port[16];
	long long end;
	bool busy = true;

	start_hba(&ps, hba_rules, "auth_user = postgres\n");
	snprintf(port, sizeof(port), "%d", ps.port);
	for (int i = 0; i < N; i++) {
		const char *keys[] = {"host",     "port",    "dbname", "user",
		                      "password", "sslmode", NULL};
		const char *vals[] = {
		    "127.0.0.1", port, "scramdb", "aq_scram", i == N - 1 ? "wrong" : AQ_SCRAM_PW,
		    "disable",   NULL};

		conns[i] = PQconnectStartParams(keys, vals, 0);
		assert_non_null(conns[i]);
		st[i] = PGRES_POLLING_WRITING;
	}
	for (end = harness_now_ms() + WAIT_MS; busy && harness_now_ms() < end;) {
		busy = false;
		for (int i = 0; i < N; i++) {
			struct pollfd p = {.fd = PQsocket(conns[i]),
			                   .events =
			                       st[i] == PGRES_POLLING_READING ? POLLIN : POLLOUT};

			if (st[i] == PGRES_POLLING_OK || st[i] == PGRES_POLLING_FAILED)
				continue;
			busy = true;
			if (poll(&p, 1, 10) > 0)
				st[i] = PQconnectPoll(conns[i]);
		}
	}
	assert_false(busy);
	for (int i = 0; i < N; i++) {
		assert_int_equal(PQstatus(conns[i]), i == N - 1 ? CONNECTION_BAD : CONNECTION_OK);
		PQfinish(conns[i]);
	}
	assert_int_equal(log_count(&ps, "reason=\"auth_query done\""), 1);
	assert_true(harness_pgscope_stop(&ps));
}

/* ---- secrets wiped ---- */

/* true when TEXT is somewhere in the writable memory of process PID. */
static bool memory_has(pid_t pid, const char *text)
{
	char path[64], line[512];
	FILE *maps;
	int mem;
	bool found = false;
	size_t tlen = strlen(text);

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "r");
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY);
	assert_non_null(maps);
	assert_true(mem >= 0);
	while (!found && fgets(line, sizeof(line), maps) != NULL) {
		unsigned long lo, hi;
		char perms[8];
		char *buf;

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[1] != 'w' ||
		    hi - lo > 512ul * 1024 * 1024)
			continue;
		buf = malloc(hi - lo);
		assert_non_null(buf);
		if (pread(mem, buf, hi - lo, (off_t)lo) == (ssize_t)(hi - lo))
			found = memmem(buf, hi - lo, text, tlen) != NULL;
		free(buf);
	}
	fclose(maps);
	close(mem);
	return found;
}

/*
 * A cleartext password is checked against a SCRAM secret and then wiped: while
 * the session stays open, pgscope's memory holds it nowhere (the read buffer
 * it arrived in included).
 */
static void test_password_not_kept_in_memory(void **state)
{
	struct harness_pgscope ps;
	PGconn *conn;
	char ci[512], v[16];

	start_hba(&ps, hba_rules, NULL);
	snprintf(ci, sizeof(ci),
	         "host=127.0.0.1 port=%d dbname=passdb user=scramuser password=%s "
	         "sslmode=disable",
	         ps.port, SCRAM_PW);
	conn = PQconnectdb(ci);
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	assert_false(memory_has(ps.pid, SCRAM_PW));
	assert_true(harness_query_value(conn, "select 1", v, sizeof(v)));
	PQfinish(conn);
	assert_true(harness_pgscope_stop(&ps));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_methods_by_database),
	    cmocka_unit_test(test_address_picks_the_line),
	    cmocka_unit_test(test_rules_reloaded),
	    cmocka_unit_test(test_scram_tampered_final),
	    cmocka_unit_test(test_auth_query),
	    cmocka_unit_test(test_auth_query_shared),
	    cmocka_unit_test(test_password_not_kept_in_memory),
	};

	return cmocka_run_group_tests_name("hba", tests, group_setup, group_teardown);
}
