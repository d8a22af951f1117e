/*
 * parse.c - bounded SQL parsing with libpg_query (see parse.h for the threading contract).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "analyzer/parse.h"

/*
 * Whether this thread has called into libpg_query since its last cleanup:
 * pg_query_exit() on a thread that never parsed dereferences a NULL context.
 */
static __thread bool thread_used_parser;

/* Set once parse_thread_cleanup() released libpg_query on this (main) thread. */
static __thread bool parser_released;

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
	if (parser_released) {
		error_set(err, PARSE_NO_MEMORY, -1, sql, len,
		          "the parser was released on this thread (parse_thread_cleanup)");
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

/* Shorter texts cannot nest deeply enough to matter (about a level per two bytes). */
#define DEPTH_CHECK_MIN_BYTES 2048

/* Tokens that end an operator chain: commas, AND/OR, CASE arms, statement ends. */
static bool is_chain_break(PgQuery__Token t)
{
	switch (t) {
	case PG_QUERY__TOKEN__ASCII_44: /* , */
	case PG_QUERY__TOKEN__ASCII_59: /* ; */
	case PG_QUERY__TOKEN__AND:
	case PG_QUERY__TOKEN__OR:
	case PG_QUERY__TOKEN__WHEN:
	case PG_QUERY__TOKEN__THEN:
	case PG_QUERY__TOKEN__ELSE:
	case PG_QUERY__TOKEN__SELECT:
		return true;
	default:
		return false;
	}
}

/*
 * Estimate the parse tree's depth from the token stream (linear, no tree):
 * parenthesis depth, set operations per statement, and the longest run of
 * tokens between chain breaks inside one parenthesis level. false, with *err
 * filled, when the text would nest deeper than the parser handles cheaply.
 */
static bool nesting_ok(const char *text, const char *sql, size_t len, struct parse_error *err)
{
	PgQueryScanResult res;
	PgQuery__ScanResult *scan;
	bool ok = true;

	thread_used_parser = true;
	res = pg_query_scan(text);
	if (res.error != NULL) {
		/* Let the parser report the error with its position. */
		pg_query_free_scan_result(res);
		return true;
	}
	scan = pg_query__scan_result__unpack(NULL, res.pbuf.len, (const uint8_t *)res.pbuf.data);
	if (scan == NULL) {
		pg_query_free_scan_result(res);
		error_set(err, PARSE_NO_MEMORY, -1, sql, len, "out of memory");
		return false;
	}
	/* Chain length per open parenthesis level, so a group does not end the outer chain. */
	int runs[PARSE_MAX_NESTING + 2] = {0};
	int depth = 0, setops = 0;
	for (size_t i = 0; i < scan->n_tokens && ok; i++) {
		const PgQuery__ScanToken *tok = scan->tokens[i];
		const char *why = NULL;
		switch (tok->token) {
		case PG_QUERY__TOKEN__ASCII_40: /* ( */
			if (++depth > PARSE_MAX_NESTING)
				why = "parentheses";
			else
				runs[depth] = 0;
			break;
		case PG_QUERY__TOKEN__ASCII_41: /* ) */
			if (depth > 0)
				depth--;
			runs[depth]++;
			break;
		case PG_QUERY__TOKEN__UNION:
		case PG_QUERY__TOKEN__INTERSECT:
		case PG_QUERY__TOKEN__EXCEPT:
			if (++setops > PARSE_MAX_NESTING)
				why = "UNION/INTERSECT/EXCEPT chain";
			break;
		case PG_QUERY__TOKEN__SQL_COMMENT:
		case PG_QUERY__TOKEN__C_COMMENT:
			break;
		default:
			if (tok->token == PG_QUERY__TOKEN__ASCII_59)
				setops = 0;
			if (is_chain_break(tok->token))
				runs[depth] = 0;
			else if (++runs[depth] > PARSE_MAX_CHAIN_TOKENS)
				why = "operator chain";
		}
		if (why != NULL) {
			char msg[160];
			snprintf(msg, sizeof(msg),
			         "query nests too deeply to analyse safely (%s deeper than %d)",
			         why, why[0] == 'o' ? PARSE_MAX_CHAIN_TOKENS : PARSE_MAX_NESTING);
			error_set(err, PARSE_TOO_DEEP, tok->start, sql, len, msg);
			ok = false;
		}
	}
	pg_query__scan_result__free_unpacked(scan, NULL);
	pg_query_free_scan_result(res);
	return ok;
}

/*
 * The unpacked tree lives in an arena: protobuf-c allocates each message
 * separately and frees by walking every field of every message, which costs
 * as much as the unpacking itself. An arena halves that (measured).
 */
struct parse_arena {
	struct parse_arena *next; /* older chunks */
	size_t size;              /* bytes in data */
	size_t used;
	max_align_t data[];
};

/* The newest chunk is the list head. */
static void *arena_alloc(void *ctx, size_t n)
{
	struct parse_arena **head = ctx;
	struct parse_arena *a = *head;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (a == NULL || a->size - a->used < n) {
		size_t size = a != NULL ? a->size * 2 : 8192;
		while (size < n)
			size *= 2;
		struct parse_arena *c = malloc(sizeof(*c) + size);
		if (c == NULL)
			return NULL;
		c->next = a;
		c->size = size;
		c->used = 0;
		*head = a = c;
	}
	void *p = (char *)a->data + a->used;
	a->used += n;
	return p;
}

static void arena_free_one(void *ctx, void *p)
{
	/* Individual frees are no-ops: the whole arena goes at once. */
}

static void arena_release(struct parse_arena *a)
{
	while (a != NULL) {
		struct parse_arena *next = a->next;
		free(a);
		a = next;
	}
}

static enum parse_status parse_sql_direct(const char *sql, size_t len, size_t max_bytes,
                                          struct parse_tree *tree, struct parse_error *err)
{
	struct parse_error local_err;

	if (err == NULL)
		err = &local_err;
	enum parse_status status = PARSE_OK;
	PgQueryProtobufParseResult res;

	memset(tree, 0, sizeof(*tree));
	char *text = prepare_text(sql, len, max_bytes, err);
	if (text == NULL)
		return err != NULL ? err->status : PARSE_INVALID_INPUT;

	if (len > DEPTH_CHECK_MIN_BYTES && !nesting_ok(text, sql, len, err)) {
		free(text);
		return PARSE_TOO_DEEP;
	}
	thread_used_parser = true;
	res = pg_query_parse_protobuf(text);
	if (res.error != NULL) {
		error_from_pg(err, res.error, sql, len);
		status = PARSE_SYNTAX_ERROR;
		goto out_free_result;
	}
	ProtobufCAllocator arena_allocator = {
	    .alloc = arena_alloc,
	    .free = arena_free_one,
	    .allocator_data = &tree->arena,
	};
	tree->result = pg_query__parse_result__unpack(&arena_allocator, res.parse_tree.len,
	                                              (const uint8_t *)res.parse_tree.data);
	if (tree->result == NULL) {
		error_set(err, PARSE_NO_MEMORY, -1, sql, len, "could not unpack the parse tree");
		status = PARSE_NO_MEMORY;
		goto out_free_tree;
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
	arena_release(tree->arena);
	tree->arena = NULL;
	tree->result = NULL;
out_free_result:
	pg_query_free_protobuf_parse_result(res);
	free(text);
	return status;
}

void parse_tree_release(struct parse_tree *tree)
{
	arena_release(tree->arena);
	free(tree->stmts);
	memset(tree, 0, sizeof(*tree));
}

static enum parse_status parse_fingerprint_direct(const char *sql, size_t len, size_t max_bytes,
                                                  uint64_t *fp, char hex[17],
                                                  struct parse_error *err)
{
	struct parse_error local_err;

	if (err == NULL)
		err = &local_err;
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

/* Above this size the scanner-based normalizer replaces pg_query_normalize (linear time). */
#define NORMALIZE_FAST_MIN_BYTES 8192

static bool is_literal_token(PgQuery__Token t)
{
	return t == PG_QUERY__TOKEN__ICONST || t == PG_QUERY__TOKEN__FCONST ||
	       t == PG_QUERY__TOKEN__SCONST || t == PG_QUERY__TOKEN__USCONST ||
	       t == PG_QUERY__TOKEN__BCONST || t == PG_QUERY__TOKEN__XCONST;
}

/*
 * Replace every literal token with $n (numbered after the text's own
 * parameters), from the scanner's tokens. pg_query_normalize spends tens of
 * microseconds per constant, seconds on a text of 30,000 constants; this is
 * linear. It differs only in rare spots (e.g. it also replaces a type
 * modifier such as varchar(20)), which is acceptable for big texts.
 */
static char *normalize_by_tokens(const char *text, size_t len)
{
	PgQueryScanResult res = pg_query_scan(text);
	PgQuery__ScanResult *scan = NULL;
	char *out = NULL;
	long next = 1;

	if (res.error != NULL)
		goto out_free;
	scan = pg_query__scan_result__unpack(NULL, res.pbuf.len, (const uint8_t *)res.pbuf.data);
	if (scan == NULL)
		goto out_free;
	for (size_t i = 0; i < scan->n_tokens; i++) {
		const PgQuery__ScanToken *tok = scan->tokens[i];
		if (tok->token == PG_QUERY__TOKEN__PARAM) {
			long p = strtol(text + tok->start + 1, NULL, 10);
			if (p >= next)
				next = p + 1;
		}
	}
	/* Each literal of at least one byte becomes at most "$" + 10 digits. */
	size_t cap = len + 1 + (size_t)scan->n_tokens * 11;
	out = malloc(cap);
	if (out == NULL)
		goto out_free;
	size_t o = 0, copied = 0;
	for (size_t i = 0; i < scan->n_tokens; i++) {
		const PgQuery__ScanToken *tok = scan->tokens[i];
		if (!is_literal_token(tok->token) || tok->start < 0 || (size_t)tok->end > len)
			continue;
		memcpy(out + o, text + copied, (size_t)tok->start - copied);
		o += (size_t)tok->start - copied;
		o += (size_t)snprintf(out + o, cap - o, "$%ld", next++);
		copied = (size_t)tok->end;
	}
	memcpy(out + o, text + copied, len - copied);
	out[o + len - copied] = '\0';
out_free:
	if (scan != NULL)
		pg_query__scan_result__free_unpacked(scan, NULL);
	pg_query_free_scan_result(res);
	return out;
}

static char *parse_normalize_direct(const char *sql, size_t len, size_t max_bytes,
                                    struct parse_error *err)
{
	struct parse_error local_err;

	if (err == NULL)
		err = &local_err;
	char *out = NULL;
	char *text = prepare_text(sql, len, max_bytes, err);

	if (text == NULL)
		return NULL;
	thread_used_parser = true;
	if (len > NORMALIZE_FAST_MIN_BYTES) {
		out = normalize_by_tokens(text, len);
		if (out == NULL)
			error_set(err, PARSE_SYNTAX_ERROR, -1, sql, len, "could not scan the text");
		free(text);
		return out;
	}
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

static int parse_comments_direct(const char *sql, size_t len, struct parse_comment *out, int max)
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

/* ---- Running on a private, large stack ---- */

/*
 * libpg_query's tree conversion and protobuf-c's unpacking recurse once per
 * tree level, and a left-deep expression ("1+1+1...") has about one level per
 * two bytes of text: a 60 KB query overflows an 8 MB stack. So every parse of
 * more than a few hundred bytes runs on a per-thread stack sized for the
 * largest text accepted, reserved without committing memory (only the pages a
 * deep query touches are used, and they are returned afterwards).
 */

/* Stack bytes reserved per byte of input: measured worst case is below 500. */
#define STACK_PER_BYTE 1024

/* Texts up to this size run on the caller's stack (a few hundred levels at most). */
#define SMALL_TEXT 512

struct big_stack {
	char *base;  /* mmap'd region, lowest page is a guard */
	size_t size; /* bytes mapped */
	bool active; /* currently running on it */
	size_t len;  /* input length of the current call: pages to release after */
	void (*fn)(void *);
	void *arg;
	ucontext_t caller;
	ucontext_t callee;
};

static __thread struct big_stack tls_stack;

static void stack_trampoline(void)
{
	struct big_stack *st = &tls_stack;

	st->fn(st->arg);
}

static void stack_release(struct big_stack *st)
{
	if (st->base != NULL && !st->active)
		munmap(st->base, st->size);
	if (!st->active)
		memset(st, 0, sizeof(*st));
}

size_t parse_hard_max_bytes(void)
{
	return PARSE_HARD_MAX_BYTES;
}

bool parse_run_on_stack(size_t len, void (*fn)(void *), void *arg)
{
	struct big_stack *st = &tls_stack;
	size_t want = (len > SMALL_TEXT ? len : SMALL_TEXT) * STACK_PER_BYTE + (1u << 20);

	if (st->active || len <= SMALL_TEXT) {
		fn(arg);
		return true;
	}
	if (st->base == NULL || st->size < want) {
		stack_release(st);
		/* Reserve at least the size the default limit needs, so it is mapped once. */
		size_t size = want > PARSE_DEFAULT_MAX_BYTES * (size_t)STACK_PER_BYTE
		                  ? want
		                  : PARSE_DEFAULT_MAX_BYTES * (size_t)STACK_PER_BYTE + (1u << 20);
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
		if (p == MAP_FAILED)
			return false;
		/* A guard page at the low end turns a miscalculation into a clean fault. */
		mprotect(p, 4096, PROT_NONE);
		st->base = p;
		st->size = size;
	}
	st->fn = fn;
	st->arg = arg;
	st->len = len;
	if (getcontext(&st->callee) != 0)
		return false;
	st->callee.uc_stack.ss_sp = st->base;
	st->callee.uc_stack.ss_size = st->size;
	st->callee.uc_link = &st->caller;
	makecontext(&st->callee, stack_trampoline, 0);
	st->active = true;
	int rc = swapcontext(&st->caller, &st->callee);
	st->active = false;
	/* A deep text touched many pages: give them back, keep the top 1 MB warm. */
	if (len > (size_t)16 * 1024 && st->size > ((size_t)2 << 20))
		madvise(st->base + 4096, st->size - 4096 - (1u << 20), MADV_DONTNEED);
	return rc == 0;
}

struct parse_call {
	const char *sql;
	size_t len;
	size_t max_bytes;
	struct parse_tree *tree;
	struct parse_error *err;
	uint64_t *fp;
	char *hex;
	struct parse_comment *comments;
	int max;
	/* results */
	enum parse_status status;
	char *str;
	int count;
};

/* Reject sizes no stack is reserved for before doing anything else. */
static bool over_hard_limit(const char *sql, size_t len, size_t max_bytes, struct parse_error *err)
{
	size_t limit = max_bytes == 0 ? PARSE_DEFAULT_MAX_BYTES : max_bytes;

	if (limit > PARSE_HARD_MAX_BYTES)
		limit = PARSE_HARD_MAX_BYTES;
	if (len <= limit)
		return false;
	char msg[128];
	snprintf(msg, sizeof(msg), "query text of %zu bytes exceeds analyze_max_bytes (%zu)", len,
	         limit);
	error_set(err, PARSE_TOO_LARGE, -1, sql, len, msg);
	return true;
}

static void call_parse(void *p)
{
	struct parse_call *c = p;
	c->status = parse_sql_direct(c->sql, c->len, c->max_bytes, c->tree, c->err);
}

enum parse_status parse_sql(const char *sql, size_t len, size_t max_bytes, struct parse_tree *tree,
                            struct parse_error *err)
{
	struct parse_call c = {.sql = sql,
	                       .len = len,
	                       .max_bytes = max_bytes,
	                       .tree = tree,
	                       .err = err,
	                       .status = PARSE_NO_MEMORY};

	memset(tree, 0, sizeof(*tree));
	if (over_hard_limit(sql, len, max_bytes, err))
		return PARSE_TOO_LARGE;
	if (!parse_run_on_stack(len, call_parse, &c))
		error_set(err, PARSE_NO_MEMORY, -1, sql, len, "no memory for the parser stack");
	return c.status;
}

static void call_fingerprint(void *p)
{
	struct parse_call *c = p;
	c->status = parse_fingerprint_direct(c->sql, c->len, c->max_bytes, c->fp, c->hex, c->err);
}

enum parse_status parse_fingerprint(const char *sql, size_t len, size_t max_bytes, uint64_t *fp,
                                    char hex[17], struct parse_error *err)
{
	struct parse_call c = {.sql = sql,
	                       .len = len,
	                       .max_bytes = max_bytes,
	                       .fp = fp,
	                       .hex = hex,
	                       .err = err,
	                       .status = PARSE_NO_MEMORY};

	if (over_hard_limit(sql, len, max_bytes, err))
		return PARSE_TOO_LARGE;
	if (!parse_run_on_stack(len, call_fingerprint, &c))
		error_set(err, PARSE_NO_MEMORY, -1, sql, len, "no memory for the parser stack");
	return c.status;
}

static void call_normalize(void *p)
{
	struct parse_call *c = p;
	c->str = parse_normalize_direct(c->sql, c->len, c->max_bytes, c->err);
}

char *parse_normalize(const char *sql, size_t len, size_t max_bytes, struct parse_error *err)
{
	struct parse_call c = {.sql = sql, .len = len, .max_bytes = max_bytes, .err = err};

	if (over_hard_limit(sql, len, max_bytes, err))
		return NULL;
	if (!parse_run_on_stack(len, call_normalize, &c))
		error_set(err, PARSE_NO_MEMORY, -1, sql, len, "no memory for the parser stack");
	return c.str;
}

static void call_comments(void *p)
{
	struct parse_call *c = p;
	c->count = parse_comments_direct(c->sql, c->len, c->comments, c->max);
}

int parse_comments(const char *sql, size_t len, struct parse_comment *out, int max)
{
	struct parse_call c = {.sql = sql, .len = len, .comments = out, .max = max, .count = -1};

	if (len > PARSE_HARD_MAX_BYTES)
		return -1;
	if (!parse_run_on_stack(len, call_comments, &c))
		return -1;
	return c.count;
}

void parse_thread_cleanup(void)
{
	stack_release(&tls_stack);
	if (!thread_used_parser)
		return;
	/*
	 * libpg_query frees a thread's context from a thread-exit destructor that
	 * still holds the context pointer: calling pg_query_exit() on such a
	 * thread would free it twice. The main thread gets no such destructor
	 * (exit() does not run them), so it is released here.
	 */
	if (gettid() != getpid())
		return;
	pg_query_exit();
	/*
	 * libpg_query 15-4.0 leaves its context pointers dangling after
	 * pg_query_exit(): parsing again on this thread would use freed memory,
	 * so it is refused from now on.
	 */
	parser_released = true;
	thread_used_parser = false;
}
