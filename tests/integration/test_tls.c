/*
 * test_tls.c - TLS between clients and pgscope, with certificates made by the
 * openssl command at test time.
 *
 * A CA signs a server certificate for 127.0.0.1/localhost and a client
 * certificate for "postgres". The tests check that libpq's verify-full
 * succeeds against pgscope, that a require session really is encrypted (a
 * relay between client and pgscope records the bytes, and the query text must
 * not be among them, while it is there in plain text), that a plaintext client
 * is refused when TLS is required, that verify-ca accepts a signed client
 * certificate and refuses a client without one, that PostgreSQL 17's direct
 * TLS (ALPN "postgresql") is accepted, that a reload (SIGHUP) serves a new
 * certificate to new connections without ending old sessions, and that a
 * driver (psycopg) connects with verify-full.
 *
 * pgscope's TLS is tested, so in direct mode (PostgreSQL itself, ssl off)
 * the tests are skipped.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tests/integration/harness.h"

#define RUN_TIMEOUT_S 60
#define WAIT_MS       10000
#define MARKER        "tls_marker_4f2a9c"

static char dir[256]; /* certificates and keys */

/* ---- certificates ---- */

static bool run_quiet(const char *const argv[])
{
	struct harness_run_result res;
	bool ok = harness_run(argv, NULL, RUN_TIMEOUT_S, &res) && res.exit_code == 0;

	if (!ok)
		fprintf(stderr, "%s failed: %s\n", argv[0], res.output ? res.output : "");
	harness_run_result_free(&res);
	return ok;
}

static void path_of(char *out, size_t outlen, const char *name)
{
	snprintf(out, outlen, "%s/%s", dir, name);
}

/* A key and a certificate NAME.key/NAME.crt for CN, signed by the CA, with SAN (or none). */
static bool make_cert(const char *name, const char *cn, const char *san)
{
	char key[300], csr[300], crt[300], ca[300], cakey[300], ext[300], subj[128];
	FILE *f;

	path_of(key, sizeof(key), name);
	strcat(key, ".key");
	path_of(csr, sizeof(csr), name);
	strcat(csr, ".csr");
	path_of(crt, sizeof(crt), name);
	strcat(crt, ".crt");
	path_of(ext, sizeof(ext), name);
	strcat(ext, ".ext");
	path_of(ca, sizeof(ca), "ca.crt");
	path_of(cakey, sizeof(cakey), "ca.key");
	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	f = fopen(ext, "w");
	if (f == NULL)
		return false;
	fprintf(f, "basicConstraints=CA:FALSE\n%s%s\n", san ? "subjectAltName=" : "",
	        san ? san : "");
	fclose(f);
	{
		const char *req[] = {"openssl", "req",     "-new", "-newkey", "rsa:2048",
		                     "-nodes",  "-keyout", key,    "-out",    csr,
		                     "-subj",   subj,      NULL};
		const char *sign[] = {"openssl", "x509", "-req",   "-in", csr,
		                      "-CA",     ca,     "-CAkey", cakey, "-CAcreateserial",
		                      "-days",   "2",    "-out",   crt,   "-extfile",
		                      ext,       NULL};

		if (!run_quiet(req) || !run_quiet(sign))
			return false;
	}
	return chmod(key, 0600) == 0;
}

static int group_setup(void **state)
{
	char cakey[300], ca[300];
	const char *tmp = getenv("PGSCOPE_TEST_TMPDIR") ? getenv("PGSCOPE_TEST_TMPDIR") : "/tmp";

	snprintf(dir, sizeof(dir), "%s/pgscope-tls.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		return -1;
	chmod(dir, 0755);
	path_of(cakey, sizeof(cakey), "ca.key");
	path_of(ca, sizeof(ca), "ca.crt");
	{
		const char *argv[] = {"openssl",  "req",
		                      "-x509",    "-newkey",
		                      "rsa:2048", "-nodes",
		                      "-keyout",  cakey,
		                      "-out",     ca,
		                      "-days",    "2",
		                      "-subj",    "/CN=pgscope test CA",
		                      NULL};

		if (!run_quiet(argv))
			return -1;
	}
	if (!make_cert("server", "localhost", "DNS:localhost,IP:127.0.0.1") ||
	    !make_cert("server2", "second", "DNS:localhost,IP:127.0.0.1") ||
	    !make_cert("client", "postgres", NULL) || !make_cert("other", "someone_else", NULL) ||
	    !make_cert("wrong", "wrong.example", "DNS:wrong.example"))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	const char *argv[] = {"rm", "-rf", dir, NULL};

	return run_quiet(argv) ? 0 : -1;
}

/* Start pgscope with client TLS in MODE and EXTRA more [pgscope] lines. */
static void start_tls(struct harness_pgscope *ps, const char *mode, const char *extra)
{
	char main[2048];
	struct harness_pgscope_opts opts = {.pool_mode = "session", .extra_main = main};

	if (harness_direct_mode())
		skip();
	snprintf(main, sizeof(main),
	         "client_tls_sslmode = %s\nclient_tls_key_file = %s/server.key\n"
	         "client_tls_cert_file = %s/server.crt\nclient_tls_ca_file = %s/ca.crt\n%s",
	         mode, dir, dir, dir, extra ? extra : "");
	assert_true(harness_pgscope_start(ps, &opts));
}

/* libpq conninfo for TLS to pgscope: sslmode and the files to use. */
static PGconn *connect_tls(int port, const char *sslmode, bool with_cert)
{
	char extra[1024];

	snprintf(extra, sizeof(extra),
	         "sslmode=%s sslrootcert=%s/ca.crt sslcert=%s%s sslkey=%s%s connect_timeout=10",
	         sslmode, dir, with_cert ? dir : "/nonexistent", with_cert ? "/client.crt" : "",
	         with_cert ? dir : "/nonexistent", with_cert ? "/client.key" : "");
	return harness_connect(port, extra);
}

static PGconn *connect_quiet(int port, const char *conninfo_tail)
{
	char ci[2048];

	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d user=postgres dbname=postgres %s", port,
	         conninfo_tail);
	return PQconnectdb(ci);
}

/* ---- verify-full with libpq and psql ---- */

static void test_verify_full(void **state)
{
	struct harness_pgscope ps;
	PGconn *conn;
	char v[64];

	start_tls(&ps, "prefer", NULL);
	conn = connect_tls(ps.port, "verify-full", false);
	assert_non_null(conn);
	assert_int_equal(PQsslInUse(conn), 1);
	assert_true(harness_query_value(conn, "select 40 + 2", v, sizeof(v)));
	assert_string_equal(v, "42");
	PQfinish(conn);
	{
		char ci[512];
		struct harness_run_result res;
		const char *argv[] = {"psql", ci, "-X", "-At", "-c", "select 'over ' || 'tls'",
		                      NULL};

		snprintf(ci, sizeof(ci),
		         "host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=verify-full "
		         "sslrootcert=%s/ca.crt",
		         ps.port, dir);
		assert_true(harness_run(argv, NULL, RUN_TIMEOUT_S, &res));
		assert_int_equal(res.exit_code, 0);
		assert_non_null(strstr(res.output, "over tls"));
		harness_run_result_free(&res);
	}
	/* A plaintext client still gets in with prefer. */
	conn = connect_quiet(ps.port, "sslmode=disable");
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	assert_int_equal(PQsslInUse(conn), 0);
	PQfinish(conn);
	assert_true(harness_pgscope_stop(&ps));
}

/* ---- a relay that records what crosses it ---- */

struct relay {
	int listen_fd;
	int port;   /* where clients connect */
	int target; /* pgscope's port */
	pthread_t thread;
	char *bytes; /* everything seen, both directions */
	size_t len, cap;
};

static void relay_record(struct relay *r, const char *buf, size_t n)
{
	if (r->len + n > r->cap) {
		size_t cap = (r->len + n) * 2;
		char *nb = realloc(r->bytes, cap);

		if (nb == NULL)
			return;
		r->bytes = nb;
		r->cap = cap;
	}
	memcpy(r->bytes + r->len, buf, n);
	r->len += n;
}

/* One connection: copy both ways until either side closes (bounded by WAIT_MS idle). */
static void *relay_run(void *arg)
{
	struct relay *r = arg;
	int a = accept(r->listen_fd, NULL, NULL);
	int b = a >= 0 ? harness_tcp_connect(r->target) : -1;
	char buf[16384];

	while (a >= 0 && b >= 0) {
		struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
		int i;

		if (poll(p, 2, WAIT_MS) <= 0)
			break;
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0)
				goto out;
			relay_record(r, buf, (size_t)n);
			if (!harness_send_all(i == 0 ? b : a, buf, (size_t)n))
				goto out;
		}
	}
out:
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return NULL;
}

static void relay_start(struct relay *r, int target)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	memset(r, 0, sizeof(*r));
	r->target = target;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(r->listen_fd >= 0);
	assert_int_equal(bind(r->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(r->listen_fd, 1), 0);
	assert_int_equal(getsockname(r->listen_fd, (struct sockaddr *)&sa, &len), 0);
	r->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&r->thread, NULL, relay_run, r), 0);
}

static void relay_stop(struct relay *r)
{
	pthread_join(r->thread, NULL);
	close(r->listen_fd);
}

static bool relay_saw(const struct relay *r, const char *text)
{
	return r->bytes != NULL && memmem(r->bytes, r->len, text, strlen(text)) != NULL;
}

/* Run a query holding MARKER through a relay with SSLMODE; return what the relay saw. */
static void query_through_relay(int port, const char *sslmode, struct relay *r)
{
	PGconn *conn;
	char v[64];

	relay_start(r, port);
	conn = connect_tls(r->port, sslmode, false);
	assert_non_null(conn);
	assert_true(harness_query_value(conn, "select '" MARKER "'", v, sizeof(v)));
	assert_string_equal(v, MARKER);
	PQfinish(conn);
	relay_stop(r);
	assert_true(r->len > 0);
}

static void test_require_is_encrypted(void **state)
{
	struct harness_pgscope ps;
	struct relay plain, tls;

	start_tls(&ps, "require", NULL);
	query_through_relay(ps.port, "require", &tls);
	assert_false(relay_saw(&tls, MARKER));
	assert_false(relay_saw(&tls, "postgres")); /* the startup packet's user name too */
	free(tls.bytes);
	assert_true(harness_pgscope_stop(&ps));

	/* The same relay does see the text when the session is plain. */
	start_tls(&ps, "prefer", NULL);
	query_through_relay(ps.port, "disable", &plain);
	assert_true(relay_saw(&plain, MARKER));
	free(plain.bytes);
	assert_true(harness_pgscope_stop(&ps));
}

/* SHOW CLIENTS names each client's TLS protocol and cipher, as PgBouncer does. */
static void test_console_shows_tls(void **state)
{
	struct harness_pgscope ps;
	PGconn *app, *console;
	PGresult *res;
	int col;

	start_tls(&ps, "require", "admin_users = postgres\n");
	app = connect_tls(ps.port, "require", false);
	assert_non_null(app);
	console = connect_quiet(ps.port, "sslmode=require dbname=pgbouncer connect_timeout=10");
	assert_int_equal(PQstatus(console), CONNECTION_OK);
	res = PQexec(console, "SHOW CLIENTS");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	col = PQfnumber(res, "tls");
	assert_true(col >= 0);
	assert_int_equal(PQntuples(res), 2); /* the application and the console */
	for (int i = 0; i < PQntuples(res); i++)
		if (strncmp(PQgetvalue(res, i, col), "TLSv1.", 6) != 0 ||
		    strchr(PQgetvalue(res, i, col), '/') == NULL)
			fail_msg("tls column: \"%s\"", PQgetvalue(res, i, col));
	PQclear(res);
	PQfinish(console);
	PQfinish(app);
	assert_true(harness_pgscope_stop(&ps));
}

/*
 * Large messages both ways over TLS, in transaction mode: a 16 MB value from
 * the server (many TLS records per message, relayed in pieces) and a COPY of
 * 8 MB from the client.
 */
static void test_large_transfers(void **state)
{
	struct harness_pgscope ps;
	PGconn *conn;
	PGresult *res;
	char v[64], line[1100];

	start_tls(&ps, "require", "pool_mode = transaction\nmax_packet_size = 64MB\n");
	conn = connect_tls(ps.port, "require", false);
	assert_non_null(conn);
	assert_true(
	    harness_query_value(conn, "select length(repeat('x', 16000000))", v, sizeof(v)));
	assert_string_equal(v, "16000000");
	res = PQexec(conn, "select repeat('y', 16000000)");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQgetlength(res, 0, 0), 16000000);
	PQclear(res);
	assert_true(harness_exec_ok(conn, "begin"));
	assert_true(harness_exec_ok(conn, "create temp table copied (t text) on commit drop"));
	res = PQexec(conn, "copy copied from stdin");
	assert_int_equal(PQresultStatus(res), PGRES_COPY_IN);
	PQclear(res);
	memset(line, 'z', sizeof(line) - 1);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	for (int i = 0; i < 8000; i++)
		assert_int_equal(PQputCopyData(conn, line, (int)strlen(line)), 1);
	assert_int_equal(PQputCopyEnd(conn, NULL), 1);
	res = PQgetResult(conn);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_true(harness_query_value(conn, "select count(*) from copied", v, sizeof(v)));
	assert_string_equal(v, "8000");
	assert_true(harness_exec_ok(conn, "commit"));
	PQfinish(conn);
	assert_true(harness_pgscope_stop(&ps));
}

/*
 * A query of 12 kB arrives in one TLS record, more than one read takes: the
 * rest, already decrypted inside OpenSSL, must be read without waiting for
 * the socket, which has nothing more to say.
 */
static void test_record_larger_than_a_read(void **state)
{
	struct harness_pgscope ps;
	PGconn *conn;
	char *sql = malloc(12100), v[32];
	long long t0;

	assert_non_null(sql);
	start_tls(&ps, "require", NULL);
	conn = connect_tls(ps.port, "require", false);
	assert_non_null(conn);
	strcpy(sql, "select length('");
	memset(sql + strlen(sql), 'q', 12000);
	strcpy(sql + 15 + 12000, "')");
	t0 = harness_now_ms();
	assert_int_equal(PQsendQuery(conn, sql), 1);
	/* Bounded: a stall would leave the query unanswered until the socket speaks. */
	while (PQisBusy(conn) && harness_now_ms() - t0 < WAIT_MS) {
		struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};

		poll(&p, 1, 100);
		PQconsumeInput(conn);
	}
	assert_false(PQisBusy(conn));
	{
		PGresult *res = PQgetResult(conn);

		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		snprintf(v, sizeof(v), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		while ((res = PQgetResult(conn)) != NULL)
			PQclear(res);
	}
	assert_string_equal(v, "12000");
	free(sql);
	PQfinish(conn);
	assert_true(harness_pgscope_stop(&ps));
}

/* ---- plaintext refused under require ---- */

static void test_plaintext_refused(void **state)
{
	struct harness_pgscope ps;
	struct harness_msg m;
	char pkt[256], code[8];
	size_t len = harness_startup_packet(pkt, sizeof(pkt), "postgres", "postgres");
	PGconn *conn;
	int fd;

	start_tls(&ps, "require", NULL);
	fd = harness_tcp_connect(ps.port);
	assert_true(fd >= 0);
	assert_true(harness_send_all(fd, pkt, len));
	assert_int_equal(harness_read_msg(fd, &m, WAIT_MS), 1);
	assert_int_equal(m.type, 'E');
	assert_true(harness_error_field(&m, 'C', code, sizeof(code)));
	assert_string_equal(code, "28000");
	assert_true(harness_error_field(&m, 'M', pkt, sizeof(pkt)));
	assert_non_null(strstr(pkt, "no encryption"));
	free(m.data);
	assert_true(harness_wait_closed(fd, WAIT_MS));
	close(fd);

	conn = connect_quiet(ps.port, "sslmode=disable");
	assert_int_equal(PQstatus(conn), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(conn), "no encryption"));
	PQfinish(conn);
	/* Data sent in clear right behind an SSLRequest is refused, as PostgreSQL does. */
	{
		char req[8 + 256];

		fd = harness_tcp_connect(ps.port);
		assert_true(fd >= 0);
		memcpy(req, "\0\0\0\x08\x04\xd2\x16\x2f", 8);
		len = harness_startup_packet(req + 8, sizeof(req) - 8, "postgres", "postgres");
		assert_true(harness_send_all(fd, req, 8 + len));
		assert_int_equal(harness_read_msg(fd, &m, WAIT_MS), 1);
		assert_int_equal(m.type, 'E');
		assert_true(harness_error_field(&m, 'C', code, sizeof(code)));
		assert_string_equal(code, "08P01");
		free(m.data);
		close(fd);
	}
	assert_true(harness_pgscope_stop(&ps));
}

/* An SSLRequest on the Unix socket is answered 'N', as PostgreSQL answers it there. */
static void test_unix_socket_stays_plain(void **state)
{
	struct harness_pgscope ps;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	static const char req[8] = {0, 0, 0, 8, 0x04, (char)0xd2, 0x16, 0x2f};
	char answer = 0;
	int fd;
	struct timeval tv = {.tv_sec = WAIT_MS / 1000};
	char ci[512], v[16], path[400];
	PGconn *conn;

	start_tls(&ps, "require", NULL);
	assert_true((size_t)snprintf(path, sizeof(path), "%s/.s.PGSQL.%d", ps.dir, ps.port) <
	            sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(harness_send_all(fd, req, sizeof(req)));
	assert_int_equal(read(fd, &answer, 1), 1);
	assert_int_equal(answer, 'N');
	close(fd);
	/* and require does not apply there */
	snprintf(ci, sizeof(ci), "host=%s port=%d user=postgres dbname=postgres", ps.dir, ps.port);
	conn = PQconnectdb(ci);
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	assert_true(harness_query_value(conn, "select 1", v, sizeof(v)));
	PQfinish(conn);
	assert_true(harness_pgscope_stop(&ps));
}

/* ---- client certificates ---- */

static void test_verify_ca_client_cert(void **state)
{
	struct harness_pgscope ps;
	PGconn *conn;
	char v[64];

	start_tls(&ps, "verify-ca", NULL);
	conn = connect_tls(ps.port, "verify-full", true);
	assert_non_null(conn);
	assert_true(harness_query_value(conn, "select 'with cert'", v, sizeof(v)));
	assert_string_equal(v, "with cert");
	PQfinish(conn);

	conn = connect_quiet(ps.port, "sslmode=require sslcert=/nonexistent sslkey=/nonexistent");
	assert_int_equal(PQstatus(conn), CONNECTION_BAD);
	PQfinish(conn);
	assert_true(harness_pgscope_alive(&ps));
	assert_true(harness_pgscope_stop(&ps));
}

static void test_cert_auth(void **state)
{
	struct harness_pgscope ps;
	PGconn *conn;
	char ci[1024];

	start_tls(&ps, "verify-ca", "auth_type = cert\n");
	conn = connect_tls(ps.port, "verify-full", true); /* CN=postgres */
	assert_non_null(conn);
	PQfinish(conn);
	/* A valid certificate for another user name is refused. */
	snprintf(ci, sizeof(ci),
	         "sslmode=verify-full sslrootcert=%s/ca.crt sslcert=%s/other.crt "
	         "sslkey=%s/other.key",
	         dir, dir, dir);
	conn = connect_quiet(ps.port, ci);
	assert_int_equal(PQstatus(conn), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(conn), "certificate authentication failed"));
	PQfinish(conn);
	assert_true(harness_pgscope_stop(&ps));
}

/* hba lines by encryption: hostssl with cert, hostnossl rejected. */
static void test_hba_by_encryption(void **state)
{
	struct harness_pgscope ps;
	char extra[1024], hba[300];
	PGconn *conn;
	FILE *f;

	snprintf(hba, sizeof(hba), "%s/hba.conf", dir);
	f = fopen(hba, "w");
	assert_non_null(f);
	fputs("hostssl   all all 127.0.0.1/32 cert\n"
	      "hostnossl all all 127.0.0.1/32 reject\n",
	      f);
	fclose(f);
	snprintf(extra, sizeof(extra), "auth_type = hba\nauth_hba_file = %s\n", hba);
	start_tls(&ps, "prefer", extra);
	conn = connect_tls(ps.port, "verify-full", true); /* CN=postgres */
	assert_non_null(conn);
	PQfinish(conn);
	conn = connect_quiet(ps.port, "sslmode=disable");
	assert_int_equal(PQstatus(conn), CONNECTION_BAD);
	assert_non_null(strstr(PQerrorMessage(conn), "pg_hba.conf rejects connection for host "
	                                             "\"127.0.0.1\", user \"postgres\", database "
	                                             "\"postgres\", no encryption"));
	PQfinish(conn);
	conn = connect_quiet(ps.port, "sslmode=require sslcert=/nonexistent sslkey=/nonexistent");
	assert_int_equal(PQstatus(conn), CONNECTION_BAD);
	assert_non_null(
	    strstr(PQerrorMessage(conn), "connection requires a valid client certificate"));
	PQfinish(conn);
	assert_true(harness_pgscope_stop(&ps));
}

/* ---- direct TLS (PostgreSQL 17) ---- */

/* Connect with TLS at once, ALPN as given; send a startup packet; first message back. */
static int direct_tls_login(int port, const unsigned char *alpn, unsigned alpn_len,
                            struct harness_msg *first)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	int fd = harness_tcp_connect(port);
	char pkt[256], hdr[5];
	size_t len = harness_startup_packet(pkt, sizeof(pkt), "postgres", "postgres");
	int rc = -1;
	uint32_t mlen;
	struct timeval tv = {.tv_sec = WAIT_MS / 1000};

	assert_non_null(ctx);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (alpn != NULL)
		SSL_CTX_set_alpn_protos(ctx, alpn, alpn_len);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1 || SSL_write(ssl, pkt, (int)len) != (int)len)
		goto out;
	if (SSL_read(ssl, hdr, 5) != 5)
		goto out;
	memcpy(&mlen, hdr + 1, 4);
	mlen = ntohl(mlen) - 4;
	first->type = hdr[0];
	first->len = mlen;
	first->data = calloc(1, mlen + 1);
	for (size_t got = 0; got < mlen;) {
		int n = SSL_read(ssl, first->data + got, (int)(mlen - got));

		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	rc = 1;
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return rc;
}

static void test_direct_tls(void **state)
{
	struct harness_pgscope ps;
	struct harness_msg m = {0};
	char code[8];

	start_tls(&ps, "require", NULL);
	assert_int_equal(direct_tls_login(ps.port, (const unsigned char *)"\x0apostgresql", 11, &m),
	                 1);
	assert_int_equal(m.type, 'R'); /* AuthenticationOk */
	free(m.data);
	/* Without ALPN: PostgreSQL 17's refusal. */
	memset(&m, 0, sizeof(m));
	assert_int_equal(direct_tls_login(ps.port, NULL, 0, &m), 1);
	assert_int_equal(m.type, 'E');
	assert_true(harness_error_field(&m, 'C', code, sizeof(code)));
	assert_string_equal(code, "08P01");
	free(m.data);
	/* Another protocol offered by ALPN: the handshake itself fails. */
	memset(&m, 0, sizeof(m));
	assert_int_equal(direct_tls_login(ps.port, (const unsigned char *)"\x02h2", 3, &m), -1);
	assert_true(harness_pgscope_stop(&ps));
}

/* ---- reload ---- */

/* The common name of the certificate pgscope showed CONN. */
static void peer_cn(PGconn *conn, char *out, size_t outlen)
{
	SSL *ssl = PQsslStruct(conn, "OpenSSL");
	X509 *cert;

	assert_non_null(ssl);
	cert = SSL_get1_peer_certificate(ssl);
	assert_non_null(cert);
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, (int)outlen);
	X509_free(cert);
}

static bool copy_file(const char *from, const char *to)
{
	const char *argv[] = {"cp", from, to, NULL};

	return run_quiet(argv);
}

static void test_reload_certificate(void **state)
{
	struct harness_pgscope ps;
	char extra[1024], cn[64], v[64], from[300], to[300];
	PGconn *old, *fresh;

	if (harness_direct_mode())
		skip();
	/* pgscope reads copies, so that the test can replace them. */
	path_of(from, sizeof(from), "server.crt");
	path_of(to, sizeof(to), "live.crt");
	assert_true(copy_file(from, to));
	path_of(from, sizeof(from), "server.key");
	path_of(to, sizeof(to), "live.key");
	assert_true(copy_file(from, to));
	snprintf(extra, sizeof(extra),
	         "client_tls_key_file = %s/live.key\n"
	         "client_tls_cert_file = %s/live.crt\n",
	         dir, dir);
	start_tls(&ps, "require", extra);
	old = connect_tls(ps.port, "verify-full", false);
	assert_non_null(old);
	peer_cn(old, cn, sizeof(cn));
	assert_string_equal(cn, "localhost");

	path_of(from, sizeof(from), "server2.crt");
	path_of(to, sizeof(to), "live.crt");
	assert_true(copy_file(from, to));
	path_of(from, sizeof(from), "server2.key");
	path_of(to, sizeof(to), "live.key");
	assert_true(copy_file(from, to));
	assert_int_equal(kill(ps.pid, SIGHUP), 0);
	/* Bounded wait: new connections get the new certificate once the signal is handled. */
	for (long long end = harness_now_ms() + WAIT_MS;; harness_sleep_ms(50)) {
		fresh = connect_tls(ps.port, "verify-full", false);
		assert_non_null(fresh);
		peer_cn(fresh, cn, sizeof(cn));
		if (strcmp(cn, "second") == 0 || harness_now_ms() > end)
			break;
		PQfinish(fresh);
	}
	assert_string_equal(cn, "second");
	PQfinish(fresh);
	/* The session made before goes on. */
	assert_true(harness_query_value(old, "select 'still here'", v, sizeof(v)));
	assert_string_equal(v, "still here");
	PQfinish(old);
	assert_true(harness_pgscope_stop(&ps));
}

/* ---- TLS to the server ---- */

/*
 * Turn on ssl in the primary with certificate NAME (copied into its data
 * directory, owned by postgres, key mode 0600) and wait until it serves a
 * certificate with common name CN. NAME NULL turns ssl off again.
 */
static void primary_ssl(const char *name, const char *cn)
{
	PGconn *su = harness_connect_primary();
	char datadir[512], sql[1024], from[300], to[700];
	const char *files[] = {"crt", "key"};

	assert_non_null(su);
	if (name == NULL) {
		assert_true(harness_exec_ok(su, "alter system reset ssl"));
		assert_true(harness_exec_ok(su, "alter system reset ssl_cert_file"));
		assert_true(harness_exec_ok(su, "alter system reset ssl_key_file"));
		assert_true(harness_exec_ok(su, "select pg_reload_conf()"));
		PQfinish(su);
		return;
	}
	assert_true(harness_query_value(su, "show data_directory", datadir, sizeof(datadir)));
	for (int i = 0; i < 2; i++) {
		const char *mode = i == 1 ? "0600" : "0644";
		const char *cp[] = {"cp", from, to, NULL};
		const char *own[] = {"chown", "postgres:postgres", to, NULL};
		const char *chm[] = {"chmod", mode, to, NULL};

		snprintf(from, sizeof(from), "%s/%s.%s", dir, name, files[i]);
		snprintf(to, sizeof(to), "%s/pgscope_test_%s.%s", datadir, name, files[i]);
		assert_true(run_quiet(cp) && run_quiet(own) && run_quiet(chm));
	}
	snprintf(sql, sizeof(sql), "alter system set ssl_cert_file = 'pgscope_test_%s.crt'", name);
	assert_true(harness_exec_ok(su, sql));
	snprintf(sql, sizeof(sql), "alter system set ssl_key_file = 'pgscope_test_%s.key'", name);
	assert_true(harness_exec_ok(su, sql));
	assert_true(harness_exec_ok(su, "alter system set ssl = on"));
	assert_true(harness_exec_ok(su, "select pg_reload_conf()"));
	PQfinish(su);
	/* Bounded wait until a new connection is served that certificate. */
	for (long long end = harness_now_ms() + WAIT_MS;; harness_sleep_ms(50)) {
		char ci[256], seen[64] = "";
		PGconn *c;

		snprintf(ci, sizeof(ci),
		         "host=%s port=%d user=postgres dbname=postgres sslmode=require",
		         harness_cluster()->host, harness_cluster()->port);
		c = PQconnectdb(ci);
		if (PQstatus(c) == CONNECTION_OK)
			peer_cn(c, seen, sizeof(seen));
		PQfinish(c);
		if (strcmp(seen, cn) == 0)
			break;
		assert_true(harness_now_ms() < end);
	}
}

/* pgscope with plain clients and SERVER_MODE (plus the CA) towards the primary. */
static void start_server_tls(struct harness_pgscope *ps, const char *server_mode)
{
	char main[1024];
	struct harness_pgscope_opts opts = {.pool_mode = "session", .extra_main = main};

	snprintf(
	    main, sizeof(main),
	    "server_tls_sslmode = %s\nserver_tls_ca_file = %s/ca.crt\nmax_packet_size = 64MB\n",
	    server_mode, dir);
	assert_true(harness_pgscope_start(ps, &opts));
}

/* A statement through CONN is cancelled (57014) by PQcancel. */
static void check_cancel(PGconn *conn)
{
	char err[256];
	PGcancel *cancel;
	PGresult *res;

	assert_int_equal(PQsendQuery(conn, "select pg_sleep(30)"), 1);
	assert_true(harness_wait_running("pg_sleep(30)", WAIT_MS));
	cancel = PQgetCancel(conn);
	assert_int_equal(PQcancel(cancel, err, sizeof(err)), 1);
	PQfreeCancel(cancel);
	res = PQgetResult(conn);
	assert_string_equal(harness_sqlstate(res), "57014");
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
}

static void test_server_verify_full(void **state)
{
	struct harness_pgscope ps;
	PGconn *conn;
	char v[64];

	if (harness_direct_mode())
		skip();
	primary_ssl("server", "localhost");
	start_server_tls(&ps, "verify-full");
	conn = connect_quiet(ps.port, "sslmode=disable");
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	assert_true(harness_query_value(
	    conn, "select ssl from pg_stat_ssl where pid = pg_backend_pid()", v, sizeof(v)));
	assert_string_equal(v, "t");
	{
		/* A large answer crosses the TLS link from the server in many records. */
		PGresult *res = PQexec(conn, "select repeat('y', 16000000)");

		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		assert_int_equal(PQgetlength(res, 0, 0), 16000000);
		PQclear(res);
	}
	check_cancel(conn); /* its connection asks for TLS as the server's did */
	PQfinish(conn);
	assert_true(harness_pgscope_stop(&ps));

	/* A certificate for another host name: verify-ca takes it, verify-full does not. */
	primary_ssl("wrong", "wrong.example");
	start_server_tls(&ps, "verify-ca");
	conn = connect_quiet(ps.port, "sslmode=disable");
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	PQfinish(conn);
	assert_true(harness_pgscope_stop(&ps));
	start_server_tls(&ps, "verify-full");
	conn = connect_quiet(ps.port, "sslmode=disable");
	assert_int_equal(PQstatus(conn), CONNECTION_BAD);
	PQfinish(conn);
	assert_true(harness_pgscope_log_has(&ps, "certificate verify failed"));
	assert_true(harness_pgscope_stop(&ps));
	primary_ssl(NULL, NULL);

	/* A server without TLS: require refuses it. */
	start_server_tls(&ps, "require");
	conn = connect_quiet(ps.port, "sslmode=disable");
	assert_int_equal(PQstatus(conn), CONNECTION_BAD);
	PQfinish(conn);
	assert_true(harness_pgscope_stop(&ps));
}

/* ---- a driver ---- */

static void test_psycopg_verify_full(void **state)
{
	struct harness_pgscope ps;
	struct harness_run_result res;
	char script[1024];
	const char *argv[] = {"/usr/bin/python3", "-c", script, NULL};

	start_tls(&ps, "require", NULL);
	snprintf(script, sizeof(script),
	         "import psycopg\n"
	         "c = psycopg.connect('host=127.0.0.1 port=%d user=postgres dbname=postgres "
	         "sslmode=verify-full sslrootcert=%s/ca.crt')\n"
	         "print('ssl', c.pgconn.ssl_in_use, c.execute('select 6 * 7').fetchone()[0])\n",
	         ps.port, dir);
	assert_true(harness_run(argv, NULL, RUN_TIMEOUT_S, &res));
	if (res.exit_code != 0)
		fprintf(stderr, "%s\n", res.output);
	assert_int_equal(res.exit_code, 0);
	assert_non_null(strstr(res.output, "ssl True 42"));
	harness_run_result_free(&res);
	assert_true(harness_pgscope_stop(&ps));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verify_full),
	    cmocka_unit_test(test_require_is_encrypted),
	    cmocka_unit_test(test_console_shows_tls),
	    cmocka_unit_test(test_large_transfers),
	    cmocka_unit_test(test_record_larger_than_a_read),
	    cmocka_unit_test(test_plaintext_refused),
	    cmocka_unit_test(test_unix_socket_stays_plain),
	    cmocka_unit_test(test_verify_ca_client_cert),
	    cmocka_unit_test(test_cert_auth),
	    cmocka_unit_test(test_hba_by_encryption),
	    cmocka_unit_test(test_direct_tls),
	    cmocka_unit_test(test_reload_certificate),
	    cmocka_unit_test(test_psycopg_verify_full),
	    cmocka_unit_test(test_server_verify_full),
	};

	return cmocka_run_group_tests_name("tls", tests, group_setup, group_teardown);
}
