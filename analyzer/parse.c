/*
 * parse.c - bounded SQL parsing with libpg_query (see parse.h for the threading contract).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/parse.h"

/*
 * Whether this thread has called into libpg_query since its last cleanup:
 * pg_query_exit() on a thread that never parsed dereferences a NULL context.
 */
static __thread bool thread_used_parser;

static void error_set(struct parse_error *err, enum parse_status status, int offset,
                      const char *sql, size_t len, const char *msg)
{
	if (err == NULL)
		return;
	err->status = status;
	snprintf(err->message, sizeof(err->message), "%s", msg);
	err->offset = offset;
	err->line = offset >= 0 ? parse_line_of(sql, len, (size_t)offset) : 0;
}

/* Length of the UTF-8 sequence starting at s[0..avail), 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t n;
	unsigned int cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and code points past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool parse_text_valid(const char *sql, size_t len, struct parse_error *err)
{
	const unsigned char *s = (const unsigned char *)sql;
	size_t i = 0;

	while (i < len) {
		if (s[i] == 0) {
			error_set(err, PARSE_INVALID_INPUT, (int)i, sql, len,
			          "query text contains a NUL byte");
			return false;
		}
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = utf8_seq_len(s + i, len - i);
		if (n == 0) {
			error_set(err, PARSE_INVALID_INPUT, (int)i, sql, len,
			          "query text is not valid UTF-8");
			return false;
		}
		i += n;
	}
	return true;
}

int parse_line_of(const char *sql, size_t len, size_t offset)
{
	int line = 1;

	if (offset > len)
		offset = len;
	for (const char *p = sql; p < sql + offset; p++) {
		p = memchr(p, '\n', (size_t)(sql + offset - p));
		if (p == NULL)
			break;
		line++;
	}
	return line;
}

/*
 * Check limits and input, then return a NUL-terminated copy of sql[0..len)
 * (malloc'd, caller frees) or NULL with *err filled.
 */
static char *prepare_text(const char *sql, size_t len, size_t max_bytes, struct parse_error *err)
{
	if (max_bytes == 0)
		max_bytes = PARSE_DEFAULT_MAX_BYTES;
	if (len > max_bytes) {
		char msg[128];
		snprintf(msg, sizeof(msg),
		         "query text of %zu bytes exceeds analyze_max_bytes (%zu)", len, max_bytes);
		error_set(err, PARSE_TOO_LARGE, -1, sql, len, msg);
		return NULL;
	}
	if (!parse_text_valid(sql, len, err))
		return NULL;
	char *copy = malloc(len + 1);
	if (copy == NULL) {
		error_set(err, PARSE_NO_MEMORY, -1, sql, len, "out of memory");
		return NULL;
	}
	memcpy(copy, sql, len);
	copy[len] = '\0';
	return copy;
}

/* Fill *err from a libpg_query error; cursorpos is 1-based, in characters. */
static void error_from_pg(struct parse_error *err, const PgQueryError *pe, const char *sql,
                          size_t len)
{
	int offset = -1;

	if (pe->cursorpos > 0) {
		/* Convert the 1-based character position to a byte offset. */
		const unsigned char *s = (const unsigned char *)sql;
		size_t i = 0;
		int chars = 1;
		while (i < len && chars < pe->cursorpos) {
			size_t n = s[i] < 0x80 ? 1 : utf8_seq_len(s + i, len - i);
			i += n ? n : 1;
			chars++;
		}
		offset = (int)i;
	}
	error_set(err, PARSE_SYNTAX_ERROR, offset, sql, len,
	          pe->message != NULL ? pe->message : "syntax error");
}

size_t parse_skip_blanks_and_comments(const char *text, size_t from, size_t to)
{
	size_t i = from;

	while (i < to) {
		char c = text[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			i++;
		} else if (c == '-' && i + 1 < to && text[i + 1] == '-') {
			while (i < to && text[i] != '\n')
				i++;
		} else if (c == '/' && i + 1 < to && text[i + 1] == '*') {
			int nest = 0;
			do {
				if (i + 1 < to && text[i] == '/' && text[i + 1] == '*') {
					nest++;
					i += 2;
				} else if (i + 1 < to && text[i] == '*' && text[i + 1] == '/') {
					nest--;
					i += 2;
				} else {
					i++;
				}
			} while (i < to && nest > 0);
		} else {
			break;
		}
	}
	return i;
}

enum parse_status parse_sql(const char *sql, size_t len, size_t max_bytes, struct parse_tree *tree,
                            struct parse_error *err)
{
	enum parse_status status = PARSE_OK;
	PgQueryProtobufParseResult res;

	memset(tree, 0, sizeof(*tree));
	char *text = prepare_text(sql, len, max_bytes, err);
	if (text == NULL)
		return err != NULL ? err->status : PARSE_INVALID_INPUT;

	thread_used_parser = true;
	res = pg_query_parse_protobuf(text);
	if (res.error != NULL) {
		error_from_pg(err, res.error, sql, len);
		status = PARSE_SYNTAX_ERROR;
		goto out_free_result;
	}
	tree->result = pg_query__parse_result__unpack(NULL, res.parse_tree.len,
	                                              (const uint8_t *)res.parse_tree.data);
	if (tree->result == NULL) {
		error_set(err, PARSE_NO_MEMORY, -1, sql, len, "could not unpack the parse tree");
		status = PARSE_NO_MEMORY;
		goto out_free_result;
	}
	if (tree->result->n_stmts > 0) {
		tree->stmts = calloc(tree->result->n_stmts, sizeof(*tree->stmts));
		if (tree->stmts == NULL) {
			error_set(err, PARSE_NO_MEMORY, -1, sql, len, "out of memory");
			status = PARSE_NO_MEMORY;
			goto out_free_tree;
		}
	}
	for (size_t i = 0; i < tree->result->n_stmts; i++) {
		const PgQuery__RawStmt *raw = tree->result->stmts[i];
		struct parse_stmt *st = &tree->stmts[tree->n_stmts];
		size_t off = raw->stmt_location > 0 ? (size_t)raw->stmt_location : 0;
		size_t slen = raw->stmt_len > 0 ? (size_t)raw->stmt_len : len - off;

		if (raw->stmt == NULL)
			continue;
		/* Skip leading blanks and comments: the line is where the statement's first token
		 * is. */
		size_t head = parse_skip_blanks_and_comments(text, off, off + slen);
		if (head >= off + slen)
			head = off;
		slen -= head - off;
		off = head;
		st->node = raw->stmt;
		st->raw_offset = raw->stmt_location > 0 ? (size_t)raw->stmt_location : 0;
		st->offset = off;
		st->len = slen;
		st->line = parse_line_of(sql, len, off);
		tree->n_stmts++;
	}
	pg_query_free_protobuf_parse_result(res);
	free(text);
	return PARSE_OK;

out_free_tree:
	pg_query__parse_result__free_unpacked(tree->result, NULL);
	tree->result = NULL;
out_free_result:
	pg_query_free_protobuf_parse_result(res);
	free(text);
	return status;
}

void parse_tree_release(struct parse_tree *tree)
{
	if (tree->result != NULL)
		pg_query__parse_result__free_unpacked(tree->result, NULL);
	free(tree->stmts);
	memset(tree, 0, sizeof(*tree));
}

enum parse_status parse_fingerprint(const char *sql, size_t len, size_t max_bytes, uint64_t *fp,
                                    char hex[17], struct parse_error *err)
{
	enum parse_status status = PARSE_OK;
	char *text = prepare_text(sql, len, max_bytes, err);

	if (text == NULL)
		return err != NULL ? err->status : PARSE_INVALID_INPUT;
	thread_used_parser = true;
	PgQueryFingerprintResult res = pg_query_fingerprint(text);
	if (res.error != NULL) {
		error_from_pg(err, res.error, sql, len);
		status = PARSE_SYNTAX_ERROR;
	} else {
		*fp = res.fingerprint;
		snprintf(hex, 17, "%016llx", (unsigned long long)res.fingerprint);
	}
	pg_query_free_fingerprint_result(res);
	free(text);
	return status;
}

char *parse_normalize(const char *sql, size_t len, size_t max_bytes, struct parse_error *err)
{
	char *out = NULL;
	char *text = prepare_text(sql, len, max_bytes, err);

	if (text == NULL)
		return NULL;
	thread_used_parser = true;
	PgQueryNormalizeResult res = pg_query_normalize(text);
	if (res.error != NULL) {
		error_from_pg(err, res.error, sql, len);
	} else {
		out = strdup(res.normalized_query);
		if (out == NULL)
			error_set(err, PARSE_NO_MEMORY, -1, sql, len, "out of memory");
	}
	pg_query_free_normalize_result(res);
	free(text);
	return out;
}

int parse_comments(const char *sql, size_t len, struct parse_comment *out, int max)
{
	int count = -1;
	char *text = prepare_text(sql, len, (size_t)-1, NULL);

	if (text == NULL)
		return -1;
	thread_used_parser = true;
	PgQueryScanResult res = pg_query_scan(text);
	if (res.error != NULL)
		goto out_free;
	PgQuery__ScanResult *scan =
	    pg_query__scan_result__unpack(NULL, res.pbuf.len, (const uint8_t *)res.pbuf.data);
	if (scan == NULL)
		goto out_free;
	count = 0;
	for (size_t i = 0; i < scan->n_tokens; i++) {
		const PgQuery__ScanToken *tok = scan->tokens[i];
		if (tok->token != PG_QUERY__TOKEN__SQL_COMMENT &&
		    tok->token != PG_QUERY__TOKEN__C_COMMENT)
			continue;
		if (count < max && tok->start >= 0 && tok->end >= tok->start) {
			out[count].offset = (size_t)tok->start;
			out[count].len = (size_t)(tok->end - tok->start);
		}
		count++;
	}
	pg_query__scan_result__free_unpacked(scan, NULL);
out_free:
	pg_query_free_scan_result(res);
	free(text);
	return count;
}

void parse_thread_cleanup(void)
{
	if (!thread_used_parser)
		return;
	pg_query_exit();
	thread_used_parser = false;
}
