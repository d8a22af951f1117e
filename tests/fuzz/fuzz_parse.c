/* fuzz_parse.c - libFuzzer target: parse_sql() and analyze_sql() with every rule, with and without
 * a schema. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/catalog.h"
#include "analyzer/engine.h"
#include "analyzer/parse.h"
#include "analyzer/rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* libpg_query is slow on large inputs; bigger texts are covered by the unit tests. */
#define FUZZ_MAX_SQL 4096

/* A small schema so the rules that need one run too. */
static const char schema_json[] =
    "{\"pgscope_schema\":1,\"tables\":["
    "{\"schema\":\"public\",\"name\":\"orders\",\"kind\":\"r\",\"reltuples\":2000000,"
    "\"relpages\":30000,\"columns\":["
    "{\"name\":\"id\",\"type\":\"bigint\",\"not_null\":true,\"attnum\":1},"
    "{\"name\":\"customer_id\",\"type\":\"bigint\",\"not_null\":true,\"attnum\":2,"
    "\"stats\":{\"null_frac\":0,\"n_distinct\":50000,\"mcv\":[{\"value\":\"7\",\"freq\":0.01}]}},"
    "{\"name\":\"status\",\"type\":\"text\",\"not_null\":false,\"attnum\":3}],"
    "\"indexes\":[{\"name\":\"orders_pkey\",\"method\":\"btree\",\"unique\":true,\"primary\":true,"
    "\"valid\":true,\"predicate\":null,\"keys\":[{\"column\":\"id\",\"opclass\":\"int8_ops\"}]},"
    "{\"name\":\"orders_lower\",\"method\":\"btree\",\"unique\":false,\"primary\":false,"
    "\"valid\":true,\"predicate\":\"(status = 'open'::text)\","
    "\"keys\":[{\"column\":null,\"expression\":\"lower(status)\",\"opclass\":\"text_ops\"}]}],"
    "\"foreign_keys\":[{\"name\":\"fk\",\"columns\":[\"customer_id\"],\"ref_schema\":\"public\","
    "\"ref_table\":\"customers\",\"ref_columns\":[\"id\"]}]},"
    "{\"schema\":\"public\",\"name\":\"customers\",\"kind\":\"r\",\"reltuples\":-1,\"relpages\":0,"
    "\"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"not_null\":true,\"attnum\":1}],"
    "\"indexes\":[],\"foreign_keys\":[]}]}";

static struct catalog *catalog;
static struct rule_config *all_rules;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	catalog = catalog_load_json(schema_json, strlen(schema_json), err, sizeof(err));
	all_rules = rule_config_new();
	if (catalog == NULL || all_rules == NULL)
		abort();
	/* Every rule on, including those off by default. */
	for (size_t i = 0; rule_registry[i] != NULL; i++)
		if (rule_config_set(all_rules, rule_registry[i]->id, "info", err, sizeof(err)) != 0)
			abort();
	return 0;
}

static void check_analysis(const struct analysis *a, size_t len, size_t max_bytes, bool normalize)
{
	if (a->status == PARSE_OK) {
		if (strlen(a->fingerprint_hex) != 16 || (normalize && a->normalized == NULL))
			abort();
	} else if (a->status == PARSE_TOO_LARGE) {
		if (len <= max_bytes || a->n_findings != 0)
			abort();
	}
	for (size_t i = 0; i < a->n_findings; i++) {
		const struct finding *f = &a->findings[i];
		if (f->rule_id == NULL || f->message == NULL || f->severity == SEVERITY_OFF)
			abort();
		if (f->offset > len || f->line < 1)
			abort();
		if (a->status == PARSE_OK && a->n_stmts > 0 && f->stmt >= a->n_stmts)
			abort();
		if (i > 0 && f->offset < a->findings[i - 1].offset)
			abort(); /* ordered by offset */
	}
}

static void check_tree(const struct parse_tree *t, size_t len)
{
	for (size_t i = 0; i < t->n_stmts; i++) {
		const struct parse_stmt *s = &t->stmts[i];
		if (s->node == NULL || s->raw_offset > s->offset || s->offset + s->len > len ||
		    s->line < 1)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *sql;
	size_t len;
	struct parse_tree tree;
	struct parse_error perr;
	struct analyze_options opts;
	struct analysis *a;
	struct parse_comment comments[8];
	int n_comments;

	if (size < 1 || size > FUZZ_MAX_SQL)
		return 0;
	/* First byte: bit 0 schema or none, bit 1 skip normalize, bits 2+ a small max_bytes. */
	sql = (const char *)data + 1;
	len = size - 1;
	memset(&opts, 0, sizeof(opts));
	opts.skip_normalize = (data[0] & 2) != 0;
	opts.max_bytes = (data[0] >> 2) == 63 ? 16 : 0;

	memset(&tree, 0, sizeof(tree));
	if (parse_sql(sql, len, opts.max_bytes, &tree, &perr) == PARSE_OK) {
		check_tree(&tree, len);
		parse_tree_release(&tree);
	} else if (memchr(perr.message, '\0', sizeof(perr.message)) == NULL) {
		abort();
	}
	n_comments = parse_comments(sql, len, comments, 8);
	for (int i = 0; i < n_comments && i < 8; i++)
		if (comments[i].len < 2 || comments[i].offset + comments[i].len > len)
			abort();
	if (parse_skip_blanks_and_comments(sql, 0, len) > len)
		abort();

	a = analyze_sql(sql, len, (data[0] & 1) ? catalog : NULL, all_rules, &opts);
	if (a == NULL)
		return 0;
	check_analysis(a, len, opts.max_bytes ? opts.max_bytes : PARSE_DEFAULT_MAX_BYTES,
	               !opts.skip_normalize);
	analysis_free(a);
	return 0;
}
