/* test_hba.c - auth_hba_file parsing and first-match lookup, as pg_hba.conf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pooler/hba.h"

static char dir[] = "/tmp/pgscope-hba.XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static struct hba *load(const char *text)
{
	char err[512];
	struct hba *h = hba_load(write_file("pg_hba.conf", text), err, sizeof(err));

	if (h == NULL)
		fail_msg("hba_load failed: %s", err);
	return h;
}

/* The method for a connection, or -1 when no line matches. */
static int method(const struct hba *h, enum hba_conn conn, const char *db, const char *user,
                  const char *addr)
{
	enum hba_method m;

	return hba_match(h, conn, db, user, addr, &m) ? (int)m : -1;
}

static void load_fails(const char *text, const char *why)
{
	char err[512];
	struct hba *h = hba_load(write_file("pg_hba.conf", text), err, sizeof(err));

	if (h != NULL) {
		hba_free(h);
		fail_msg("accepted: %s", text);
	}
	if (strstr(err, why) == NULL)
		fail_msg("error '%s' does not mention '%s'", err, why);
	assert_non_null(strstr(err, "pg_hba.conf:"));
}

static void test_first_match_by_type_address_database(void **state)
{
	struct hba *h = load("# comment\n"
	                     "\n"
	                     "local   all         all                     trust\n"
	                     "hostssl all         all   10.0.0.0/8        cert\n"
	                     "host    secret_db   all   127.0.0.1/32      reject\n"
	                     "host    all         all   127.0.0.1/32      scram-sha-256\n"
	                     "host    app,reports all   192.168.1.0 255.255.255.0 md5 # tail\n"
	                     "hostnossl all       bob   0.0.0.0/0         password\n"
	                     "host    all         all   ::1/128           md5\n");

	assert_int_equal(method(h, HBA_CONN_LOCAL, "x", "y", NULL), HBA_TRUST);
	assert_int_equal(method(h, HBA_CONN_HOSTSSL, "x", "y", "10.1.2.3"), HBA_CERT);
	assert_int_equal(method(h, HBA_CONN_HOST, "x", "y", "10.1.2.3"), -1); /* not ssl */
	assert_int_equal(method(h, HBA_CONN_HOST, "secret_db", "y", "127.0.0.1"), HBA_REJECT);
	assert_int_equal(method(h, HBA_CONN_HOST, "other", "y", "127.0.0.1"), HBA_SCRAM);
	assert_int_equal(method(h, HBA_CONN_HOSTSSL, "other", "y", "127.0.0.1"), HBA_SCRAM);
	assert_int_equal(method(h, HBA_CONN_HOST, "reports", "y", "192.168.1.77"), HBA_MD5);
	assert_int_equal(method(h, HBA_CONN_HOST, "other", "y", "192.168.1.77"), -1);
	assert_int_equal(method(h, HBA_CONN_HOST, "other", "bob", "192.168.1.77"), HBA_PASSWORD);
	assert_int_equal(method(h, HBA_CONN_HOSTSSL, "other", "bob", "192.168.1.77"), -1);
	assert_int_equal(method(h, HBA_CONN_HOST, "other", "y", "::1"), HBA_MD5);
	assert_int_equal(method(h, HBA_CONN_HOST, "other", "y", "::2"), -1);
	hba_free(h);
}

static void test_keywords_quotes_and_files(void **state)
{
	struct hba *h;

	write_file("admins", "alice, \"Bob Smith\"\ncarol\n");
	h = load("host sameuser all 0.0.0.0/0 trust\n"
	         "host replication all 0.0.0.0/0 trust\n"
	         "host \"all\" all 0.0.0.0/0 md5\n"
	         "host all @admins 0.0.0.0/0 password\n"
	         "host all \"with,comma\" all scram-sha-256 clientcert=verify-full\n"
	         "host all all 0.0.0.0/0 reject\n");
	assert_int_equal(method(h, HBA_CONN_HOST, "alice", "alice", "1.2.3.4"), HBA_TRUST);
	/* "replication" is no database name here, and quoted "all" is a name */
	assert_int_equal(method(h, HBA_CONN_HOST, "replication", "x", "1.2.3.4"), HBA_REJECT);
	assert_int_equal(method(h, HBA_CONN_HOST, "all", "x", "1.2.3.4"), HBA_MD5);
	assert_int_equal(method(h, HBA_CONN_HOST, "db", "Bob Smith", "1.2.3.4"), HBA_PASSWORD);
	assert_int_equal(method(h, HBA_CONN_HOST, "db", "carol", "1.2.3.4"), HBA_PASSWORD);
	assert_int_equal(method(h, HBA_CONN_HOST, "db", "with,comma", "1.2.3.4"), HBA_SCRAM);
	assert_int_equal(method(h, HBA_CONN_HOST, "db", "bob", "1.2.3.4"), HBA_REJECT);
	hba_free(h);
}

/*
 * samehost: an address of this machine's interfaces (127.0.0.1 is always
 * one); samenet: an address in the subnet of one of them (127.0.0.0/8).
 * 198.51.100.7 is a documentation address, on no interface here.
 */
static void test_samehost_samenet(void **state)
{
	struct hba *h = load("host all all samehost trust\n"
	                     "host all all samenet md5\n"
	                     "host all all all reject\n");

	assert_int_equal(method(h, HBA_CONN_HOST, "db", "u", "127.0.0.1"), HBA_TRUST);
	assert_int_equal(method(h, HBA_CONN_HOST, "db", "u", "127.5.6.7"), HBA_MD5);
	assert_int_equal(method(h, HBA_CONN_HOST, "db", "u", "198.51.100.7"), HBA_REJECT);
	assert_int_equal(method(h, HBA_CONN_HOST, "db", "u", "not an address"), HBA_REJECT);
	hba_free(h);
}

static void test_unsupported_and_malformed_lines(void **state)
{
	load_fails("host all +admins 0.0.0.0/0 md5\n", "group membership");
	load_fails("host samerole all 0.0.0.0/0 md5\n", "samerole is not supported");
	load_fails("host all all db.example.com md5\n", "host names are not supported");
	load_fails("host all all 10.0.0.0/33 md5\n", "invalid CIDR mask");
	load_fails("host all all 10.0.0.0 md5\n", "invalid IP mask");
	load_fails("local all all peer\n", "method \"peer\" is not supported");
	load_fails("hostx all all 0.0.0.0/0 md5\n", "invalid connection type");
	load_fails("host all all 0.0.0.0/0\n", "end of line before the authentication method");
	load_fails("host all\n", "end of line before the user field");
	load_fails("host all \"open 0.0.0.0/0 md5\n", "unterminated quoted string");
	load_fails("host all @missing 0.0.0.0/0 md5\n", "could not open");
	load_fails("host all all 0.0.0.0/0 md5 junk\n", "name=value");
}

static void test_method_to_auth_type(void **state)
{
	assert_int_equal(hba_auth_type(HBA_MD5), AUTH_MD5);
	assert_int_equal(hba_auth_type(HBA_SCRAM), AUTH_SCRAM);
	assert_int_equal(hba_auth_type(HBA_PASSWORD), AUTH_PLAIN);
	assert_int_equal(hba_auth_type(HBA_CERT), AUTH_CERT);
	assert_int_equal(hba_auth_type(HBA_TRUST), AUTH_TRUST);
}

static int setup(void **state)
{
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_match_by_type_address_database),
	    cmocka_unit_test(test_keywords_quotes_and_files),
	    cmocka_unit_test(test_samehost_samenet),
	    cmocka_unit_test(test_unsupported_and_malformed_lines),
	    cmocka_unit_test(test_method_to_auth_type),
	};

	return cmocka_run_group_tests_name("hba", tests, setup, teardown);
}
