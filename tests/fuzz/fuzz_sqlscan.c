/*
 * fuzz_sqlscan.c - libFuzzer target: the pooler's SET/RESET scanner, identifier reader, statement
 * splitter, session-feature scan and pgscope:timeout comments.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/sqlscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Output buffers a little larger than declared, to catch writes past outlen. */
#define NAME_LEN  64
#define VALUE_LEN 256
#define GUARD     16

static void check_guard(const char *buf, size_t len)
{
	for (size_t i = len; i < len + GUARD; i++)
		if (buf[i] != 0x5a)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *sql = (const char *)data;
	const char *end = sql + size;
	char name[NAME_LEN + GUARD];
	char value[VALUE_LEN + GUARD];
	enum sqlscan_set_kind kind;
	const char *p;

	memset(name, 0x5a, sizeof(name));
	memset(value, 0x5a, sizeof(value));
	kind = sqlscan_set(sql, size, name, NAME_LEN, value, VALUE_LEN);
	check_guard(name, NAME_LEN);
	check_guard(value, VALUE_LEN);
	switch (kind) {
	case SQLSCAN_SET:
		if (memchr(value, '\0', VALUE_LEN) == NULL)
			abort();
		/* fall through */
	case SQLSCAN_RESET:
		if (memchr(name, '\0', NAME_LEN) == NULL || name[0] == '\0')
			abort();
		break;
	case SQLSCAN_RESET_ALL:
	case SQLSCAN_NOT_SET:
	case SQLSCAN_SET_SCOPED:
	case SQLSCAN_UNTRACKED:
		break;
	default:
		abort();
	}

	/* Walk the text as the pooler does: blanks, then identifiers. */
	p = sql;
	while (p < end) {
		const char *q = sqlscan_skip_space(p, end);
		const char *after;
		if (q < p || q > end)
			abort();
		if (q == end)
			break;
		memset(name, 0x5a, sizeof(name));
		after = sqlscan_ident(q, end, name, NAME_LEN);
		check_guard(name, NAME_LEN);
		if (after == NULL) {
			p = q + 1;
			continue;
		}
		if (after <= q || after > end || memchr(name, '\0', NAME_LEN) == NULL)
			abort();
		p = after;
	}
	(void)sqlscan_at_end(sql, end);

	/* Statement by statement, as the pooler splits a simple query (up to a NUL). */
	{
		const char *stop = sql + strnlen(sql, size);

		for (p = sql; p < stop;) {
			const char *e = sqlscan_statement_end(p, end, NULL);

			if (e <= p || e > stop)
				abort();
			p = e;
		}
	}
	(void)sqlscan_session_features(sql, size);
	if (sqlscan_timeout_hint(sql, size) < -1)
		abort(); /* milliseconds, or -1 for no hint */
	return 0;
}
