/*
 * check.c - `pgscope check`: lint SQL files against the analyzer's rules, for CI and code review.
 *
 * Each file (or stdin) is split into statements with libpg_query's scanner and
 * every statement is analysed on its own, so findings carry file:line and the
 * statement's fingerprint. Exit status: 0 nothing at or above --fail-on, 1
 * something is, 2 usage or input error (a SQL syntax error is a finding).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "analyzer/catalog.h"
#include "analyzer/engine.h"
#include "analyzer/json.h"
#include "analyzer/parse.h"
#include "analyzer/rule.h"
#include "cli/commands.h"

/* Largest SQL file read (bytes): far above any migration, bounded against accidents. */
#define CHECK_MAX_FILE ((size_t)64 * 1024 * 1024)

/* Default per-statement parse limit for files: larger than the pooler's, since files are trusted.
 */
#define CHECK_DEFAULT_MAX_BYTES ((size_t)1024 * 1024)

enum out_format { FORMAT_TEXT, FORMAT_JSON, FORMAT_SARIF };

/* One finding as printed: everything owned. */
struct out_finding {
	const char *rule;
	enum severity severity;
	char *file;
	int line;
	char fingerprint[17];
	char *query;
	char *message;
	char *suggestion;
};

struct check_run {
	const struct catalog *cat;
	const struct rule_config *cfg;
	struct analyze_options opts;
	struct out_finding *findings;
	size_t n, cap;
	size_t statements;
	size_t skipped; /* statements over the size limit */
	bool input_error;
	bool oom;
};

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: pgscope check [OPTIONS] [FILE.sql]...\n"
	        "Lint SQL files against pgscope's rules. No FILE, or -, reads stdin.\n\n"
	        "  --schema FILE      schema snapshot written by `pgscope schema`\n"
	        "  --dsn URL          read the schema from a live database instead\n"
	        "  --config FILE      take rule settings from the [rules] section of FILE\n"
	        "  --rule ID=VALUE    set one rule (e.g. --rule large-in-list.threshold=50)\n"
	        "  --format FMT       text (default), json or sarif\n"
	        "  --fail-on SEV      exit 1 when a finding is at or above info|warning|error\n"
	        "                     (default warning)\n"
	        "  --max-bytes N      statements longer than N bytes are skipped (default %zu)\n"
	        "  --list-rules       print the rules and their defaults, then exit\n"
	        "  -h, --help         this help\n\n"
	        "Exit status: 0 nothing at or above --fail-on, 1 something is, 2 usage or input\n"
	        "error. Rules that need a schema are silent without --schema or --dsn.\n",
	        CHECK_DEFAULT_MAX_BYTES);
}

static bool add_out(struct check_run *run, const struct finding *f, const char *file, int line,
                    const char *fp, const char *query, size_t qlen)
{
	if (run->n == run->cap) {
		size_t ncap = run->cap ? run->cap * 2 : 32;
		struct out_finding *nf = realloc(run->findings, ncap * sizeof(*nf));
		if (nf == NULL)
			return false;
		run->findings = nf;
		run->cap = ncap;
	}
	struct out_finding *o = &run->findings[run->n];
	memset(o, 0, sizeof(*o));
	o->rule = f->rule_id;
	o->severity = f->severity;
	o->line = line;
	snprintf(o->fingerprint, sizeof(o->fingerprint), "%s", fp);
	o->file = strdup(file);
	o->query = strndup(query, qlen);
	o->message = strdup(f->message);
	o->suggestion = f->suggestion != NULL ? strdup(f->suggestion) : NULL;
	if (o->file == NULL || o->query == NULL || o->message == NULL ||
	    (f->suggestion != NULL && o->suggestion == NULL)) {
		free(o->file);
		free(o->query);
		free(o->message);
		free(o->suggestion);
		return false;
	}
	run->n++;
	return true;
}

static void free_out(struct check_run *run)
{
	for (size_t i = 0; i < run->n; i++) {
		free(run->findings[i].file);
		free(run->findings[i].query);
		free(run->findings[i].message);
		free(run->findings[i].suggestion);
	}
	free(run->findings);
}

/* Read a whole file (or stdin for "-") into a malloc'd buffer; NULL with a message on error. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (f == NULL) {
		fprintf(stderr, "pgscope check: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= CHECK_MAX_FILE) {
				fprintf(stderr, "pgscope check: %s: larger than %zu bytes\n", path,
				        CHECK_MAX_FILE);
				goto out_fail;
			}
			size_t ncap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, ncap + 1);
			if (nb == NULL) {
				fprintf(stderr, "pgscope check: %s: out of memory\n", path);
				goto out_fail;
			}
			buf = nb;
			cap = ncap;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "pgscope check: %s: read error\n", path);
		goto out_fail;
	}
	if (f != stdin)
		fclose(f);
	if (buf == NULL && (buf = malloc(1)) == NULL)
		return NULL;
	buf[n] = '\0';
	*len = n;
	return buf;

out_fail:
	free(buf);
	if (f != stdin)
		fclose(f);
	return NULL;
}

/*
 * End of a statement's region: past its ';' and a comment that follows on the
 * same line, so `SELECT ...; -- pgscope:ignore ID` suppresses in that statement.
 */
static size_t extend_to_line_comment(const char *text, size_t len, size_t end)
{
	size_t p = end;

	while (p < len && (text[p] == ' ' || text[p] == '\t'))
		p++;
	if (p < len && text[p] == ';')
		p++;
	size_t after_semi = p;
	while (p < len && (text[p] == ' ' || text[p] == '\t'))
		p++;
	if (p + 1 < len && text[p] == '-' && text[p + 1] == '-') {
		while (p < len && text[p] != '\n')
			p++;
		return p;
	}
	if (p + 1 < len && text[p] == '/' && text[p + 1] == '*') {
		const char *close = strstr(text + p + 2, "*/");
		const char *nl = memchr(text + p, '\n', len - p);
		if (close != NULL && (nl == NULL || close < nl))
			return (size_t)(close + 2 - text);
	}
	return after_semi;
}

/* Record a syntax-error finding for a whole file (scanner failure, invalid input). */
static bool add_file_error(struct check_run *run, const char *file, const char *text, size_t len,
                           size_t offset, const char *msg)
{
	enum severity sev = rule_config_engine_severity(run->cfg, ENGINE_RULE_SYNTAX_ERROR);
	struct finding f = {
	    .rule_id = ENGINE_RULE_SYNTAX_ERROR,
	    .severity = sev,
	    .message = (char *)msg,
	};

	if (sev == SEVERITY_OFF)
		return true;
	return add_out(run, &f, file, parse_line_of(text, len, offset), "", "", 0);
}

static bool check_statement(struct check_run *run, const char *file, const char *text, size_t len,
                            size_t start, size_t end)
{
	const char *sql = text + start;
	size_t slen = end - start;

	/* Skip regions holding nothing but blanks, comments and semicolons. */
	size_t i = 0;
	for (;;) {
		i = parse_skip_blanks_and_comments(sql, i, slen);
		if (i < slen && sql[i] == ';') {
			i++;
			continue;
		}
		break;
	}
	if (i >= slen)
		return true;

	struct analysis *a = analyze_sql(sql, slen, run->cat, run->cfg, &run->opts);
	if (a == NULL)
		return false;
	run->statements++;
	if (a->status == PARSE_NO_MEMORY) {
		fprintf(stderr, "pgscope check: %s:%d: could not analyse (out of memory)\n", file,
		        parse_line_of(text, len, start + i));
		run->input_error = true;
	}
	if (a->status == PARSE_TOO_LARGE) {
		fprintf(stderr, "pgscope check: %s:%d: statement of %zu bytes skipped (over %zu)\n",
		        file, parse_line_of(text, len, start + i), slen, run->opts.max_bytes);
		run->skipped++;
	}
	int base_line = parse_line_of(text, len, start);
	/* Report the statement text from its first non-blank byte. */
	const char *q = sql + i;
	size_t qlen = slen - i;
	while (qlen > 0 && isspace((unsigned char)q[qlen - 1]))
		qlen--;
	bool ok = true;
	for (size_t k = 0; k < a->n_findings && ok; k++) {
		const struct finding *f = &a->findings[k];
		ok = add_out(run, f, file, base_line + f->line - 1, a->fingerprint_hex, q, qlen);
	}
	analysis_free(a);
	return ok;
}

static bool check_text(struct check_run *run, const char *file, const char *text, size_t len)
{
	struct parse_error err;

	/* The scanner needs valid, NUL-free text; report bad input as a finding. */
	if (!parse_text_valid(text, len, &err))
		return add_file_error(run, file, text, len, (size_t)err.offset, err.message);

	PgQuerySplitResult split = pg_query_split_with_scanner(text);
	bool ok = true;
	if (split.error != NULL) {
		/* The scanner failed (e.g. an unterminated quote): the parser reports where. */
		ok = check_statement(run, file, text, len, 0, len);
		goto out_free;
	}
	/*
	 * The scanner split drops statements it cannot classify (e.g. ones starting
	 * with a misspelt keyword): text between split statements is analysed too,
	 * so it is reported as a syntax error instead of silently skipped.
	 */
	size_t floor = 0;
	for (int s = 0; s < split.n_stmts && ok; s++) {
		size_t start = (size_t)split.stmts[s]->stmt_location;
		size_t end = start + (size_t)split.stmts[s]->stmt_len;
		if (end > len)
			end = len;
		if (start < floor)
			start = floor;
		if (start > floor)
			ok = check_statement(run, file, text, len, floor, start);
		end = extend_to_line_comment(text, len, end);
		if (end < start)
			end = start;
		if (ok)
			ok = check_statement(run, file, text, len, start, end);
		floor = end;
	}
	if (ok && floor < len)
		ok = check_statement(run, file, text, len, floor, len);
out_free:
	pg_query_free_split_result(split);
	return ok;
}

/* Apply the [rules] section of an ini-style file. Returns false with a message printed. */
static bool load_rule_config(struct rule_config *cfg, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int lineno = 0;
	bool in_rules = false, ok = true;

	if (f == NULL) {
		fprintf(stderr, "pgscope check: %s: %s\n", path, strerror(errno));
		return false;
	}
	while (ok && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		char *e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*p == '\0' || *p == ';' || *p == '#')
			continue;
		if (*p == '[') {
			in_rules = strcmp(p, "[rules]") == 0;
			continue;
		}
		if (!in_rules)
			continue;
		char *eq = strchr(p, '=');
		if (eq == NULL) {
			fprintf(stderr, "pgscope check: %s:%d: expected KEY = VALUE\n", path,
			        lineno);
			ok = false;
			break;
		}
		char *k_end = eq;
		while (k_end > p && isspace((unsigned char)k_end[-1]))
			k_end--;
		*k_end = '\0';
		char *v = eq + 1;
		while (isspace((unsigned char)*v))
			v++;
		char err[256];
		if (rule_config_set(cfg, p, v, err, sizeof(err)) != 0) {
			fprintf(stderr, "pgscope check: %s:%d: %s\n", path, lineno, err);
			ok = false;
		}
	}
	fclose(f);
	return ok;
}

static void print_text(const struct check_run *run)
{
	for (size_t i = 0; i < run->n; i++) {
		const struct out_finding *f = &run->findings[i];
		printf("%s:%d: %s: [%s] %s\n", f->file, f->line, severity_name(f->severity),
		       f->rule, f->message);
		if (f->suggestion != NULL)
			printf("    suggestion: %s\n", f->suggestion);
	}
	fprintf(stderr, "pgscope check: %zu statement%s, %zu finding%s\n", run->statements,
	        run->statements == 1 ? "" : "s", run->n, run->n == 1 ? "" : "s");
}

static void print_json(const struct check_run *run)
{
	fputs("{\"findings\":[", stdout);
	for (size_t i = 0; i < run->n; i++) {
		const struct out_finding *f = &run->findings[i];
		fputs(i > 0 ? ",\n{\"rule\":" : "\n{\"rule\":", stdout);
		json_write_string(stdout, f->rule);
		fputs(",\"severity\":", stdout);
		json_write_string(stdout, severity_name(f->severity));
		fputs(",\"file\":", stdout);
		json_write_string(stdout, f->file);
		printf(",\"line\":%d,\"fingerprint\":", f->line);
		json_write_string(stdout, f->fingerprint[0] ? f->fingerprint : NULL);
		fputs(",\"query\":", stdout);
		json_write_string(stdout, f->query);
		fputs(",\"message\":", stdout);
		json_write_string(stdout, f->message);
		fputs(",\"suggestion\":", stdout);
		json_write_string(stdout, f->suggestion);
		putchar('}');
	}
	fputs("\n]}\n", stdout);
}

static const char *sarif_level(enum severity s)
{
	switch (s) {
	case SEVERITY_ERROR:
		return "error";
	case SEVERITY_WARNING:
		return "warning";
	default:
		return "note";
	}
}

static void print_sarif_rule(const char *id, const char *summary, bool *first)
{
	fputs(*first ? "\n{\"id\":" : ",\n{\"id\":", stdout);
	json_write_string(stdout, id);
	fputs(",\"shortDescription\":{\"text\":", stdout);
	json_write_string(stdout, summary);
	fputs("},\"helpUri\":", stdout);
	char uri[200];
	snprintf(uri, sizeof(uri), "docs/rules/%s.md", id);
	json_write_string(stdout, uri);
	putchar('}');
	*first = false;
}

static void print_sarif(const struct check_run *run)
{
	bool first = true;

	fputs(
	    "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\","
	    "\"runs\":[{\"tool\":{\"driver\":{\"name\":\"pgscope\",\"version\":\"" PGSCOPE_VERSION
	    "\",\"rules\":[",
	    stdout);
	for (size_t i = 0; rule_registry[i] != NULL; i++)
		print_sarif_rule(rule_registry[i]->id, rule_registry[i]->summary, &first);
	print_sarif_rule(ENGINE_RULE_SYNTAX_ERROR, "SQL the parser rejects", &first);
	print_sarif_rule(ENGINE_RULE_UNUSED_SUPPRESSION, "a pgscope:ignore that suppressed nothing",
	                 &first);
	fputs("]}},\"results\":[", stdout);
	for (size_t i = 0; i < run->n; i++) {
		const struct out_finding *f = &run->findings[i];
		fputs(i > 0 ? ",\n{\"ruleId\":" : "\n{\"ruleId\":", stdout);
		json_write_string(stdout, f->rule);
		printf(",\"level\":\"%s\",\"message\":{\"text\":", sarif_level(f->severity));
		if (f->suggestion != NULL) {
			size_t n = strlen(f->message) + strlen(f->suggestion) + 16;
			char *m = malloc(n);
			if (m != NULL)
				snprintf(m, n, "%s. Fix: %s", f->message, f->suggestion);
			json_write_string(stdout, m != NULL ? m : f->message);
			free(m);
		} else {
			json_write_string(stdout, f->message);
		}
		fputs("},\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":",
		      stdout);
		json_write_string(stdout, f->file);
		printf("},\"region\":{\"startLine\":%d}}}]", f->line > 0 ? f->line : 1);
		if (f->fingerprint[0] != '\0')
			printf(",\"partialFingerprints\":{\"pgscopeQueryFingerprint/v1\":\"%s\"}",
			       f->fingerprint);
		putchar('}');
	}
	fputs("\n]}]}\n", stdout);
}

static void list_rules(const struct rule_config *cfg)
{
	for (size_t i = 0; rule_registry[i] != NULL; i++) {
		const struct rule *r = rule_registry[i];
		printf("%-28s %-8s %s%s\n", r->id, severity_name(rule_config_severity(cfg, r)),
		       r->summary, r->needs_schema ? " (needs a schema)" : "");
		const double *vals = rule_config_options(cfg, r);
		for (size_t k = 0; k < r->n_options; k++)
			printf("    %s.%s = %g  (%s)\n", r->id, r->options[k].name,
			       vals != NULL ? vals[k] : r->options[k].default_value,
			       r->options[k].help);
	}
}

int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"schema", required_argument, NULL, 's'},
	    {"dsn", required_argument, NULL, 'd'},
	    {"config", required_argument, NULL, 'c'},
	    {"rule", required_argument, NULL, 'r'},
	    {"format", required_argument, NULL, 'f'},
	    {"fail-on", required_argument, NULL, 'F'},
	    {"max-bytes", required_argument, NULL, 'm'},
	    {"list-rules", no_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *schema_file = NULL, *dsn = NULL;
	enum out_format format = FORMAT_TEXT;
	enum severity fail_on = SEVERITY_WARNING;
	struct check_run run = {.opts.max_bytes = CHECK_DEFAULT_MAX_BYTES};
	struct catalog *cat = NULL;
	bool list = false;
	int status = 2, opt;
	char err[512];

	struct rule_config *cfg = rule_config_new();
	if (cfg == NULL) {
		fprintf(stderr, "pgscope check: out of memory\n");
		return 2;
	}
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			schema_file = optarg;
			break;
		case 'd':
			dsn = optarg;
			break;
		case 'c':
			if (!load_rule_config(cfg, optarg))
				goto out;
			break;
		case 'r': {
			char key[256];
			const char *eq = strchr(optarg, '=');
			if (eq == NULL || (size_t)(eq - optarg) >= sizeof(key)) {
				fprintf(stderr, "pgscope check: --rule takes ID=VALUE\n");
				goto out;
			}
			memcpy(key, optarg, (size_t)(eq - optarg));
			key[eq - optarg] = '\0';
			if (rule_config_set(cfg, key, eq + 1, err, sizeof(err)) != 0) {
				fprintf(stderr, "pgscope check: --rule: %s\n", err);
				goto out;
			}
			break;
		}
		case 'f':
			if (strcmp(optarg, "text") == 0)
				format = FORMAT_TEXT;
			else if (strcmp(optarg, "json") == 0)
				format = FORMAT_JSON;
			else if (strcmp(optarg, "sarif") == 0)
				format = FORMAT_SARIF;
			else {
				fprintf(stderr, "pgscope check: --format: text, json or sarif\n");
				goto out;
			}
			break;
		case 'F':
			if (!severity_from_name(optarg, &fail_on) || fail_on == SEVERITY_OFF) {
				fprintf(stderr,
				        "pgscope check: --fail-on: info, warning or error\n");
				goto out;
			}
			break;
		case 'm': {
			char *end;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (*end != '\0' || v == 0) {
				fprintf(stderr, "pgscope check: --max-bytes: a positive number\n");
				goto out;
			}
			run.opts.max_bytes = (size_t)v;
			break;
		}
		case 'L':
			list = true;
			break;
		case 'h':
			usage(stdout);
			status = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (list) {
		list_rules(cfg);
		status = 0;
		goto out;
	}
	if (schema_file != NULL && dsn != NULL) {
		fprintf(stderr, "pgscope check: give --schema or --dsn, not both\n");
		goto out;
	}
	if (schema_file != NULL)
		cat = catalog_load_file(schema_file, err, sizeof(err));
	else if (dsn != NULL)
		cat = catalog_load_dsn(dsn, err, sizeof(err));
	if ((schema_file != NULL || dsn != NULL) && cat == NULL) {
		fprintf(stderr, "pgscope check: %s\n", err);
		goto out;
	}
	run.cat = cat;
	run.cfg = cfg;

	int nfiles = argc - optind;
	for (int i = 0; i < (nfiles > 0 ? nfiles : 1); i++) {
		const char *path = nfiles > 0 ? argv[optind + i] : "-";
		const char *shown = strcmp(path, "-") == 0 ? "<stdin>" : path;
		size_t len;
		char *text = read_file(path, &len);
		if (text == NULL) {
			run.input_error = true;
			continue;
		}
		bool ok = check_text(&run, shown, text, len);
		free(text);
		if (!ok) {
			fprintf(stderr, "pgscope check: out of memory\n");
			goto out;
		}
	}
	if (format == FORMAT_JSON)
		print_json(&run);
	else if (format == FORMAT_SARIF)
		print_sarif(&run);
	else
		print_text(&run);
	fflush(stdout);

	status = 0;
	for (size_t i = 0; i < run.n; i++) {
		if (run.findings[i].severity >= fail_on)
			status = 1;
	}
	if (run.input_error)
		status = 2;
out:
	free_out(&run);
	catalog_free(cat);
	rule_config_free(cfg);
	/*
	 * No parse_thread_cleanup() here: this is the main thread, the process
	 * exits next (freeing everything), and after it the parser could not be
	 * used again on this thread.
	 */
	return status;
}
