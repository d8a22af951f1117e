/*
 * test_auth.c - client authentication as seen from outside: a failed login
 * must not tell which user names exist or what kind of entry a user has.
 *
 * pgscope runs with an auth_file holding a SCRAM secret ("postgres", so that
 * a correct password logs in to the trust-only test cluster), an md5 hash and
 * a plaintext password. For each auth_type, a user not in the file, a user
 * whose entry cannot be used and a wrong password must give the same messages
 * (SCRAM: AuthenticationSASL, SASLContinue with a salt that is stable per
 * user, then FATAL 28P01 'password authentication failed for user "X"', as
 * PostgreSQL sends it). A client leaving during authentication is handled as
 * PostgreSQL does: a close is silent, a message other than a password
 * response is a protocol violation.
 *
 * These tests measure pgscope itself; against PostgreSQL (direct mode) they
 * are skipped, since the test cluster uses trust authentication.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
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

#define GOOD_PASSWORD  "right-pw"
#define WRONG_PASSWORD "wrong-pw"
#define MD5_USER       "md5user"
#define PLAIN_USER     "plainuser"
#define UNKNOWN_USER   "nosuchuser"
#define WAIT_MS        10000

#define AUTH_REQ_CLEARTEXT 3
#define AUTH_REQ_MD5       5
#define AUTH_REQ_SASL      10
#define AUTH_REQ_SASL_CONT 11

static char auth_dir[256];
static char auth_file[300];

/* What a client saw during one failed login. */
struct attempt {
	int requests[4];   /* Authentication request codes, in order */
	int n_requests;    /* how many of them */
	char salt[128];    /* SCRAM s= value (base64), "" if none */
	int iterations;    /* SCRAM i= value, 0 if none */
	char severity[16]; /* ErrorResponse S field */
	char sqlstate[8];  /* ErrorResponse C field */
	char message[256]; /* ErrorResponse M field */
	bool closed;       /* the connection was closed after the error */
};

/* ---- setup ---- */

static bool write_auth_file(void)
{
	char secret[SCRAM_SECRET_MAX], md5[AUTH_MD5_BUF];
	const char *err = "";
	FILE *f;

	snprintf(auth_dir, sizeof(auth_dir), "%s/pgscope-auth.XXXXXX",
	         getenv("PGSCOPE_TEST_TMPDIR") ? getenv("PGSCOPE_TEST_TMPDIR") : "/tmp");
	if (mkdtemp(auth_dir) == NULL)
		return false;
	chmod(auth_dir, 0755);
	snprintf(auth_file, sizeof(auth_file), "%s/userlist.txt", auth_dir);
	if (scram_make_secret(GOOD_PASSWORD, SCRAM_DEFAULT_ITERATIONS, secret, sizeof(secret),
	                      &err) != SCRAM_OK ||
	    !auth_md5_password(MD5_USER, GOOD_PASSWORD, md5)) {
		fprintf(stderr, "could not make secrets: %s\n", err);
		return false;
	}
	f = fopen(auth_file, "w");
	if (f == NULL)
		return false;
	fprintf(f, "\"postgres\" \"%s\"\n\"%s\" \"%s\"\n\"%s\" \"%s\"\n", secret, MD5_USER, md5,
	        PLAIN_USER, GOOD_PASSWORD);
	return fclose(f) == 0;
}

static int group_setup(void **state)
{
	return write_auth_file() ? 0 : -1;
}

static int group_teardown(void **state)
{
	unlink(auth_file);
	rmdir(auth_dir);
	return 0;
}

/* Start pgscope with AUTH_TYPE and the suite's auth_file. */
static void start_pgscope(struct harness_pgscope *ps, const char *auth_type)
{
	char extra[512];
	struct harness_pgscope_opts opts = {.pool_mode = "session", .extra_main = extra};

	if (harness_direct_mode())
		skip();
	snprintf(extra, sizeof(extra), "auth_type = %s\nauth_file = %s\n", auth_type, auth_file);
	assert_true(harness_pgscope_start(ps, &opts));
}

/* ---- a raw client ---- */

static bool send_msg(int fd, char type, const void *body, size_t len)
{
	char buf[1024];
	size_t used = 0;

	return txn_put_msg(buf, sizeof(buf), &used, type, body, len) &&
	       harness_send_all(fd, buf, used);
}

/* Connect and send a StartupMessage for USER; -1 on failure. */
static int start_login(int port, const char *user)
{
	char pkt[256];
	size_t len = harness_startup_packet(pkt, sizeof(pkt), user, "postgres");
	int fd = harness_tcp_connect(port);

	if (fd >= 0 && !harness_send_all(fd, pkt, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read one message; fails the test on a timeout. Returns false on a close. */
static bool read_msg(int fd, struct harness_msg *m)
{
	int r = harness_read_msg(fd, m, WAIT_MS);

	if (r == -1)
		fail_msg("no message and no close within %d ms", WAIT_MS);
	return r == 1;
}

/* Note an Authentication request in A; its code, or -1 if M is not one. */
static int note_request(struct attempt *a, const struct harness_msg *m)
{
	uint32_t code;

	if (m->type != 'R' || m->len < 4 || a->n_requests >= 4)
		return -1;
	memcpy(&code, m->data, 4);
	code = ntohl(code);
	a->requests[a->n_requests++] = (int)code;
	return (int)code;
}

/* Fill A's error fields from an ErrorResponse, and see whether the close follows. */
static void note_error(struct attempt *a, int fd, const struct harness_msg *m)
{
	if (m->type != 'E')
		fail_msg("expected ErrorResponse, got message '%c'", m->type);
	harness_error_field(m, 'S', a->severity, sizeof(a->severity));
	harness_error_field(m, 'C', a->sqlstate, sizeof(a->sqlstate));
	harness_error_field(m, 'M', a->message, sizeof(a->message));
	a->closed = harness_wait_closed(fd, WAIT_MS);
}

/* Keep the s= and i= values of a server-first-message. */
static void note_server_first(struct attempt *a, const char *msg, size_t len)
{
	const char *s = strstr(msg, ",s=");
	const char *i = strstr(msg, ",i=");

	assert_non_null(s);
	assert_non_null(i);
	assert_true(i > s && (size_t)(i - msg) <= len);
	snprintf(a->salt, sizeof(a->salt), "%.*s", (int)(i - s - 3), s + 3);
	a->iterations = atoi(i + 3);
}

/* SASLInitialResponse: mechanism, length of the data, the data. */
static void send_sasl_initial(int fd, const char *client_first)
{
	char body[512];
	size_t mlen = strlen(SCRAM_MECHANISM) + 1, dlen = strlen(client_first);
	uint32_t n = htonl((uint32_t)dlen);

	assert_true(mlen + 4 + dlen <= sizeof(body));
	memcpy(body, SCRAM_MECHANISM, mlen);
	memcpy(body + mlen, &n, 4);
	memcpy(body + mlen + 4, client_first, dlen);
	assert_true(send_msg(fd, 'p', body, mlen + 4 + dlen));
}

/*
 * A full SCRAM login as USER with PASSWORD, recorded in A. The client side is
 * pgscope's own (scram.h), which computes a proper proof for any salt.
 */
static void scram_attempt(int port, const char *user, const char *password, struct attempt *a)
{
	struct scram_client cl;
	struct harness_msg m;
	char out[1024];
	const char *err = "";
	int fd = start_login(port, user);

	memset(a, 0, sizeof(*a));
	assert_true(fd >= 0);
	assert_int_equal(scram_client_init(&cl, password, &err), SCRAM_OK);
	assert_true(read_msg(fd, &m));
	if (note_request(a, &m) != AUTH_REQ_SASL)
		goto out_error; /* refused before any exchange */
	free(m.data);
	assert_int_equal(scram_client_first(&cl, out, sizeof(out), &err), SCRAM_OK);
	send_sasl_initial(fd, out);
	assert_true(read_msg(fd, &m));
	if (note_request(a, &m) != AUTH_REQ_SASL_CONT)
		goto out_error;
	note_server_first(a, m.data + 4, m.len - 4);
	assert_int_equal(
	    scram_client_handle_server_first(&cl, m.data + 4, m.len - 4, out, sizeof(out), &err),
	    SCRAM_OK);
	free(m.data);
	assert_true(send_msg(fd, 'p', out, strlen(out)));
	assert_true(read_msg(fd, &m));
	note_request(a, &m);
out_error:
	note_error(a, fd, &m);
	free(m.data);
	scram_client_release(&cl);
	close(fd);
}

/* A cleartext or md5 login as USER with PASSWORD, recorded in A. */
static void password_attempt(int port, const char *user, const char *password, struct attempt *a)
{
	struct harness_msg m;
	char answer[AUTH_MD5_BUF];
	int fd = start_login(port, user);
	int code;

	memset(a, 0, sizeof(*a));
	assert_true(fd >= 0);
	assert_true(read_msg(fd, &m));
	code = note_request(a, &m);
	if (code == AUTH_REQ_MD5) {
		assert_true(m.len == 8);
		assert_true(auth_md5_response(user, password, (const uint8_t *)m.data + 4, answer));
		assert_true(send_msg(fd, 'p', answer, strlen(answer) + 1));
	} else if (code == AUTH_REQ_CLEARTEXT) {
		assert_true(send_msg(fd, 'p', password, strlen(password) + 1));
	} else {
		goto out_error;
	}
	free(m.data);
	assert_true(read_msg(fd, &m));
	note_request(a, &m);
out_error:
	note_error(a, fd, &m);
	free(m.data);
	close(fd);
}

/*
 * A failed login as USER looked like every other: the requests in REQUESTS
 * (N of them), then FATAL 28P01 with PostgreSQL's text, then a close.
 */
static void expect_password_failure(const struct attempt *a, const char *user, const int *requests,
                                    int n)
{
	char want[256];

	snprintf(want, sizeof(want), "password authentication failed for user \"%s\"", user);
	printf("%-10s requests", user);
	for (int i = 0; i < a->n_requests; i++)
		printf(" %d", a->requests[i]);
	printf(", salt '%s' i=%d, %s %s \"%s\"\n", a->salt, a->iterations, a->severity, a->sqlstate,
	       a->message);
	assert_int_equal(a->n_requests, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(a->requests[i], requests[i]);
	assert_string_equal(a->severity, "FATAL");
	assert_string_equal(a->sqlstate, "28P01");
	assert_string_equal(a->message, want);
	assert_true(a->closed);
}

/* ---- SCRAM ---- */

static const int scram_requests[] = {AUTH_REQ_SASL, AUTH_REQ_SASL_CONT};

/*
 * Unknown user, md5-hash user, and a wrong password for a SCRAM-secret or a
 * plaintext user: the same exchange, the same error, and a salt and iteration
 * count that do not change between attempts.
 */
static void test_scram_failures_look_alike(void **state)
{
	static const char *const users[] = {UNKNOWN_USER, MD5_USER, "postgres", PLAIN_USER};
	struct harness_pgscope ps;

	start_pgscope(&ps, "scram-sha-256");
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		struct attempt first, second;

		scram_attempt(ps.port, users[i], WRONG_PASSWORD, &first);
		expect_password_failure(&first, users[i], scram_requests, 2);
		scram_attempt(ps.port, users[i], WRONG_PASSWORD, &second);
		expect_password_failure(&second, users[i], scram_requests, 2);
		assert_true(first.salt[0] != '\0');
		assert_string_equal(first.salt, second.salt);
		assert_int_equal(first.iterations, SCRAM_DEFAULT_ITERATIONS);
		assert_int_equal(second.iterations, first.iterations);
	}
	/* An md5 user's right password does not help: SCRAM cannot use its hash. */
	{
		struct attempt a;

		scram_attempt(ps.port, MD5_USER, GOOD_PASSWORD, &a);
		expect_password_failure(&a, MD5_USER, scram_requests, 2);
	}
	assert_true(harness_pgscope_stop(&ps));
}

/* The right password still logs in (SCRAM secret), with libpq; libpq shows the failure text. */
static void test_scram_right_password(void **state)
{
	struct harness_pgscope ps;
	PGconn *conn;
	char value[16] = "";

	start_pgscope(&ps, "scram-sha-256");
	conn = harness_connect(ps.port, "password=" GOOD_PASSWORD);
	assert_non_null(conn);
	assert_true(harness_query_value(conn, "SELECT 6 * 7", value, sizeof(value)));
	assert_string_equal(value, "42");
	PQfinish(conn);
	/* libpq sees PostgreSQL's message for a user SCRAM cannot check */
	{
		char conninfo[256];

		snprintf(conninfo, sizeof(conninfo),
		         "host=127.0.0.1 port=%d dbname=postgres user=%s password=%s "
		         "connect_timeout=10",
		         ps.port, MD5_USER, GOOD_PASSWORD);
		conn = PQconnectdb(conninfo);
		assert_int_equal(PQstatus(conn), CONNECTION_BAD);
		assert_non_null(strstr(PQerrorMessage(conn),
		                       "password authentication failed for user \"" MD5_USER "\""));
		PQfinish(conn);
	}
	assert_true(harness_pgscope_stop(&ps));
}

/*
 * Send a Terminate on FD, where a password response is due, and expect
 * PostgreSQL's answer: FATAL 08P01 WANT, then a close. Closes FD.
 */
static void expect_terminate_refused(int fd, const char *want)
{
	struct harness_msg m;
	struct attempt a = {0};

	assert_true(send_msg(fd, 'X', NULL, 0));
	assert_true(read_msg(fd, &m));
	note_error(&a, fd, &m);
	free(m.data);
	close(fd);
	assert_string_equal(a.severity, "FATAL");
	assert_string_equal(a.sqlstate, "08P01");
	assert_string_equal(a.message, want);
	assert_true(a.closed);
}

/*
 * A Terminate instead of a SASL response, at either step: PostgreSQL answers
 * FATAL 08P01 "expected SASL response, got message type 88" and closes.
 */
static void test_scram_terminate_during_auth(void **state)
{
	static const char *const users[] = {"postgres", UNKNOWN_USER, MD5_USER};
	struct harness_pgscope ps;

	start_pgscope(&ps, "scram-sha-256");
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		for (int step = 0; step < 2; step++) {
			struct harness_msg m;
			struct attempt a = {0};
			int fd = start_login(ps.port, users[i]);

			assert_true(fd >= 0);
			assert_true(read_msg(fd, &m));
			assert_int_equal(note_request(&a, &m), AUTH_REQ_SASL);
			free(m.data);
			if (step == 1) {
				send_sasl_initial(fd, "n,,n=,r=abcdefghijklmnopqrstuvwx");
				assert_true(read_msg(fd, &m));
				assert_int_equal(note_request(&a, &m), AUTH_REQ_SASL_CONT);
				free(m.data);
			}
			expect_terminate_refused(fd, "expected SASL response, got message type 88");
		}
	}
	assert_true(harness_pgscope_stop(&ps));
}

/* A client that closes at the password prompt (what libpq does) is closed without a word. */
static void test_close_during_auth_is_silent(void **state)
{
	static const char *const types[] = {"scram-sha-256", "md5", "plain"};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct harness_pgscope ps;
		struct harness_msg m;
		int fd;

		start_pgscope(&ps, types[i]);
		fd = start_login(ps.port, "postgres");
		assert_true(fd >= 0);
		assert_true(read_msg(fd, &m));
		assert_int_equal(m.type, 'R');
		free(m.data);
		assert_int_equal(shutdown(fd, SHUT_WR), 0);
		assert_int_equal(harness_read_msg(fd, &m, WAIT_MS), 0); /* closed, no bytes */
		close(fd);
		assert_true(harness_pgscope_alive(&ps));
		assert_true(harness_pgscope_stop(&ps));
	}
}

/* ---- md5 and cleartext ---- */

/*
 * Unknown user and wrong passwords for each kind of entry: the same request,
 * the same error. For md5 a SCRAM entry cannot answer, as in PostgreSQL.
 */
static void check_password_failures(const char *auth_type, int request)
{
	static const char *const users[] = {UNKNOWN_USER, MD5_USER, PLAIN_USER, "postgres"};
	struct harness_pgscope ps;

	start_pgscope(&ps, auth_type);
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		struct attempt a;

		password_attempt(ps.port, users[i], WRONG_PASSWORD, &a);
		expect_password_failure(&a, users[i], &request, 1);
	}
	/* A Terminate instead of the password: PostgreSQL's protocol error. */
	{
		struct harness_msg m;
		struct attempt a = {0};
		int fd = start_login(ps.port, UNKNOWN_USER);

		assert_true(fd >= 0);
		assert_true(read_msg(fd, &m));
		assert_int_equal(note_request(&a, &m), request);
		free(m.data);
		expect_terminate_refused(fd, "expected password response, got message type 88");
	}
	assert_true(harness_pgscope_stop(&ps));
}

/*
 * md5 as PostgreSQL has it: a user whose entry is a SCRAM secret is asked
 * for SCRAM instead (and logs in with the right password), and so is a user
 * not in the file (PostgreSQL's default password_encryption is SCRAM); md5
 * hashes and plaintext entries get the md5 challenge. Failures look alike
 * within each kind.
 */
static void test_md5_failures_look_alike(void **state)
{
	static const char *const md5_users[] = {MD5_USER, PLAIN_USER};
	static const char *const scram_users[] = {UNKNOWN_USER, "postgres"};
	static const int md5_request[] = {AUTH_REQ_MD5};
	struct harness_pgscope ps;
	PGconn *conn;
	char value[16] = "";

	start_pgscope(&ps, "md5");
	for (size_t i = 0; i < sizeof(md5_users) / sizeof(md5_users[0]); i++) {
		struct attempt a;

		password_attempt(ps.port, md5_users[i], WRONG_PASSWORD, &a);
		expect_password_failure(&a, md5_users[i], md5_request, 1);
	}
	for (size_t i = 0; i < sizeof(scram_users) / sizeof(scram_users[0]); i++) {
		struct attempt a;

		scram_attempt(ps.port, scram_users[i], WRONG_PASSWORD, &a);
		expect_password_failure(&a, scram_users[i], scram_requests, 2);
	}
	conn = harness_connect(ps.port, "password=" GOOD_PASSWORD);
	assert_non_null(conn);
	assert_true(harness_query_value(conn, "SELECT 6 * 7", value, sizeof(value)));
	assert_string_equal(value, "42");
	PQfinish(conn);
	assert_true(harness_pgscope_stop(&ps));
}

static void test_plain_failures_look_alike(void **state)
{
	check_password_failures("plain", AUTH_REQ_CLEARTEXT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scram_failures_look_alike),
	    cmocka_unit_test(test_scram_right_password),
	    cmocka_unit_test(test_scram_terminate_during_auth),
	    cmocka_unit_test(test_close_during_auth_is_silent),
	    cmocka_unit_test(test_md5_failures_look_alike),
	    cmocka_unit_test(test_plain_failures_look_alike),
	};

	return cmocka_run_group_tests_name("auth", tests, group_setup, group_teardown);
}
