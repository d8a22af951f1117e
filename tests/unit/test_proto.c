/* test_proto.c - the pooler's pure helpers: protocol readers and writers, bounded buffers,
 * parameter sets, the SQL scanner and the hash table. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "pooler/htab.h"
#include "pooler/params.h"
#include "pooler/pbuf.h"
#include "pooler/proto.h"
#include "pooler/sqlscan.h"

static void test_tag_rows(void **state)
{
	assert_int_equal(proto_tag_rows("SELECT 5"), 5);
	assert_int_equal(proto_tag_rows("INSERT 0 3"), 3);
	assert_int_equal(proto_tag_rows("UPDATE 0"), 0);
	assert_int_equal(proto_tag_rows("BEGIN"), -1);
	assert_int_equal(proto_tag_rows("CREATE TABLE"), -1);
	assert_int_equal(proto_tag_rows("SELECT -9"), -1);
	assert_int_equal(proto_tag_rows("SELECT +5"), -1);
	assert_int_equal(proto_tag_rows("SELECT "), -1);
	assert_int_equal(proto_tag_rows("SELECT 99999999999999999999999"), -1);
}

/* Writers produce exactly the bytes of the protocol; readers take them apart again. */
static void test_error_round_trip(void **state)
{
	struct pbuf b;
	struct proto_error_info e;
	const uint8_t *m;

	pbuf_init(&b, 4096);
	assert_true(proto_write_error(&b, "FATAL", "08P01", "bad length"));
	m = pbuf_head(&b);
	assert_int_equal(m[0], 'E');
	assert_int_equal(proto_get32(m + 1), pbuf_len(&b) - 1);
	assert_true(proto_parse_error(m + 5, pbuf_len(&b) - 5, &e));
	assert_string_equal(e.severity, "FATAL");
	assert_string_equal(e.sqlstate, "08P01");
	assert_string_equal(e.message, "bad length");
	/* A body without its final NUL is malformed, not read past its end. */
	assert_false(proto_parse_error(m + 5, pbuf_len(&b) - 6, &e));
	pbuf_release(&b);
}

/* A message that does not fit the buffer's limit is refused whole, leaving the buffer as it was. */
static void test_writer_respects_limit(void **state)
{
	struct pbuf b;
	char big[200];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	pbuf_init(&b, 64);
	assert_true(proto_write_ready(&b, 'I'));
	assert_int_equal(pbuf_len(&b), 6);
	assert_false(proto_write_query(&b, big));
	assert_int_equal(pbuf_len(&b), 6);
	assert_int_equal(pbuf_head(&b)[0], 'Z');
	pbuf_release(&b);
}

static void test_reader_bounds(void **state)
{
	static const uint8_t body[] = {0, 0, 0, 7, 'a', 'b', 0, 'c'};
	struct proto_reader r;

	proto_reader_init(&r, body, sizeof(body));
	assert_int_equal(proto_read_int32(&r), 7);
	assert_string_equal(proto_read_str(&r), "ab");
	assert_false(r.bad);
	assert_string_equal(proto_read_str(&r), ""); /* "c" has no NUL */
	assert_true(r.bad);
	assert_int_equal(proto_read_int16(&r), 0);
}

static void test_quote(void **state)
{
	char out[64];

	assert_true(proto_quote_literal("it's", out, sizeof(out)));
	assert_string_equal(out, "'it''s'");
	assert_true(proto_quote_literal("a\\b", out, sizeof(out)));
	assert_string_equal(out, "E'a\\\\b'");
	assert_true(proto_quote_ident("Da\"te", out, sizeof(out)));
	assert_string_equal(out, "\"Da\"\"te\"");
	assert_false(proto_quote_literal("0123456789", out, 8));
}

static void test_pbuf_bounded(void **state)
{
	struct pbuf b;
	uint8_t chunk[100];

	memset(chunk, 1, sizeof(chunk));
	pbuf_init(&b, 250);
	assert_true(pbuf_append(&b, chunk, 100));
	assert_true(pbuf_append(&b, chunk, 100));
	assert_false(pbuf_append(&b, chunk, 100));
	pbuf_consume(&b, 150);
	assert_true(pbuf_append(&b, chunk, 100)); /* compaction makes room */
	assert_int_equal(pbuf_len(&b), 150);
	assert_true(b.cap <= 250);
	pbuf_release(&b);
}

static void test_params_options(void **state)
{
	struct params p;
	char err[128];

	params_init(&p);
	assert_true(params_parse_options("-c search_path=a,b --statement-timeout=5s -cwork_mem=4MB",
	                                 &p, err, sizeof(err)));
	assert_string_equal(params_get(&p, "search_path"), "a,b");
	assert_string_equal(params_get(&p, "STATEMENT_TIMEOUT"), "5s");
	assert_string_equal(params_get(&p, "work_mem"), "4MB");
	assert_true(params_parse_options("-c application_name=my\\ app", &p, err, sizeof(err)));
	assert_string_equal(params_get(&p, "application_name"), "my app");
	assert_false(params_parse_options("-d 5", &p, err, sizeof(err)));
	assert_non_null(strstr(err, "unsupported"));
	assert_false(params_parse_options("-c", &p, err, sizeof(err)));
	params_unset(&p, "work_mem");
	assert_null(params_get(&p, "work_mem"));
	params_clear(&p);
}

static void test_params_bounded(void **state)
{
	struct params p;
	char name[16], big[PARAMS_VALUE_MAX + 1];

	params_init(&p);
	for (int i = 0; i < PARAMS_MAX; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		assert_true(params_set(&p, name, "v"));
	}
	assert_false(params_set(&p, "one_more", "v"));
	assert_true(params_set(&p, "p0", "replaced")); /* replacing needs no room */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_false(params_set(&p, "p1", big));
	params_clear(&p);
}

/* RESET ALL leaves the role and the session user, as PostgreSQL does. */
static void test_params_reset_all(void **state)
{
	struct params p, base;

	params_init(&p);
	params_init(&base);
	assert_true(params_set(&base, "application_name", "app"));
	assert_true(params_set(&base, "session_authorization", "pool"));
	assert_true(params_set(&p, "work_mem", "22MB"));
	assert_true(params_set(&p, "Role", "reader"));
	assert_true(params_set(&p, "session_authorization", "other"));
	assert_true(params_reset_all(&p, &base));
	assert_null(params_get(&p, "work_mem"));
	assert_string_equal(params_get(&p, "application_name"), "app");
	assert_string_equal(params_get(&p, "role"), "reader");
	assert_string_equal(params_get(&p, "session_authorization"), "other");
	params_clear(&p);
	assert_true(params_reset_all(&p, &base));
	assert_null(params_get(&p, "role"));
	assert_string_equal(params_get(&p, "session_authorization"), "pool");
	params_clear(&p);
	params_clear(&base);
}

static enum sqlscan_set_kind scan(const char *sql, char *name, char *value)
{
	return sqlscan_set(sql, strlen(sql) + 1, name, PARAMS_NAME_MAX, value, PARAMS_VALUE_MAX);
}

static void test_sqlscan_set(void **state)
{
	char name[PARAMS_NAME_MAX], value[PARAMS_VALUE_MAX];

	assert_int_equal(scan("SET search_path = a, \"$user\"", name, value), SQLSCAN_SET);
	assert_string_equal(name, "search_path");
	assert_string_equal(value, "a, \"$user\"");
	assert_int_equal(scan("  set SESSION statement_timeout TO '5s';", name, value),
	                 SQLSCAN_SET);
	assert_string_equal(name, "statement_timeout");
	assert_string_equal(value, "5s");
	assert_int_equal(scan("SET x TO 'it''s'", name, value), SQLSCAN_SET);
	assert_string_equal(value, "it's");
	assert_int_equal(scan("SET work_mem TO DEFAULT", name, value), SQLSCAN_RESET);
	assert_int_equal(scan("RESET search_path", name, value), SQLSCAN_RESET);
	assert_int_equal(scan("reset all;", name, value), SQLSCAN_RESET_ALL);
	/* Not session-level: nothing to follow. Not one statement: not understood. */
	assert_int_equal(scan("SET LOCAL search_path = a", name, value), SQLSCAN_SET_SCOPED);
	assert_int_equal(scan("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", name, value),
	                 SQLSCAN_SET_SCOPED);
	assert_int_equal(scan("SET a = 1; SELECT 1", name, value), SQLSCAN_UNTRACKED);
	assert_int_equal(scan("SELECT 1", name, value), SQLSCAN_NOT_SET);
	/* The server stops at a NUL, and so does the scanner. */
	assert_int_equal(
	    sqlscan_set("SET \"\0\" = 'x'", 14, name, sizeof(name), value, sizeof(value)),
	    SQLSCAN_UNTRACKED);
}

static void test_htab(void **state)
{
	struct htab t;
	int values[1000];
	char key[16];

	htab_init(&t);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		values[i] = i;
		assert_true(htab_put(&t, key, strlen(key), &values[i]));
	}
	assert_int_equal(t.count, 1000);
	for (int i = 0; i < 1000; i += 7) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_ptr_equal(htab_get(&t, key, strlen(key)), &values[i]);
	}
	assert_ptr_equal(htab_del(&t, "k5", 2), &values[5]);
	assert_null(htab_get(&t, "k5", 2));
	assert_null(htab_del(&t, "k5", 2));
	assert_int_equal(t.count, 999);
	htab_release(&t);
	assert_null(htab_get(&t, "k1", 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tag_rows),
	    cmocka_unit_test(test_error_round_trip),
	    cmocka_unit_test(test_writer_respects_limit),
	    cmocka_unit_test(test_reader_bounds),
	    cmocka_unit_test(test_quote),
	    cmocka_unit_test(test_pbuf_bounded),
	    cmocka_unit_test(test_params_options),
	    cmocka_unit_test(test_params_bounded),
	    cmocka_unit_test(test_params_reset_all),
	    cmocka_unit_test(test_sqlscan_set),
	    cmocka_unit_test(test_htab),
	};

	return cmocka_run_group_tests_name("pooler_pure", tests, NULL, NULL);
}
