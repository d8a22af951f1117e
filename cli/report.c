/*
 * report.c - `pgscope report`: read captures and PostgreSQL logs, write a ranked review.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer/baseline.h"
#include "analyzer/catalog.h"
#include "analyzer/report.h"
#include "cli/commands.h"
#include "pooler/config.h"

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: pgscope report [OPTION]... FILE...\n"
	    "Read pgscope capture files and PostgreSQL logs (stderr, csvlog, jsonlog; gzip\n"
	    "too; format detected) and report per fingerprint calls, time, percentiles and\n"
	    "the analyzer's findings ranked by the time at stake. FILE may be - for stdin.\n\n"
	    "  --format text|json|html|sarif  output format (default text)\n"
	    "  -o, --output FILE             write to FILE instead of stdout\n"
	    "  --schema FILE | --dsn URL     schema for the rules that need one\n"
	    "  --since T, --until T          keep statements in [T, T), T as\n"
	    "                                'YYYY-MM-DD HH:MM:SS[.ffffff][ ZONE]'\n"
	    "  --database D, --user U        keep only this database / user\n"
	    "  --top N                       fingerprints listed (default 20)\n"
	    "  --baseline FILE               hide findings acknowledged in FILE\n"
	    "  --write-baseline FILE         add this report's findings to FILE (kept notes\n"
	    "                                stay) and write no report\n"
	    "  --note TEXT                   note for entries added by --write-baseline\n"
	    "  --log-prefix P                log_line_prefix of stderr logs (default '%%m [%%p] "
	    "')\n"
	    "  --input-format F              auto|capture|stderr|csvlog|jsonlog (default auto)\n"
	    "  --config FILE                 rule settings from the [rules] section of a\n"
	    "                                pgscope.ini\n"
	    "  --rule ID=VALUE               set a rule's severity (off|info|warning|error) or\n"
	    "                                an option (ID.option=N); repeatable\n"
	    "  --color / --no-color          colour in text output (default: when a tty)\n");
}

enum {
	OPT_FORMAT = 256,
	OPT_SCHEMA,
	OPT_DSN,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_DATABASE,
	OPT_USER,
	OPT_TOP,
	OPT_BASELINE,
	OPT_WRITE_BASELINE,
	OPT_NOTE,
	OPT_LOG_PREFIX,
	OPT_INPUT_FORMAT,
	OPT_COLOR,
	OPT_NO_COLOR,
	OPT_HELP,
	OPT_CONFIG,
	OPT_RULE,
};

static const struct option long_opts[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"output", required_argument, NULL, 'o'},
    {"schema", required_argument, NULL, OPT_SCHEMA},
    {"dsn", required_argument, NULL, OPT_DSN},
    {"since", required_argument, NULL, OPT_SINCE},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"database", required_argument, NULL, OPT_DATABASE},
    {"user", required_argument, NULL, OPT_USER},
    {"top", required_argument, NULL, OPT_TOP},
    {"baseline", required_argument, NULL, OPT_BASELINE},
    {"write-baseline", required_argument, NULL, OPT_WRITE_BASELINE},
    {"note", required_argument, NULL, OPT_NOTE},
    {"log-prefix", required_argument, NULL, OPT_LOG_PREFIX},
    {"input-format", required_argument, NULL, OPT_INPUT_FORMAT},
    {"color", no_argument, NULL, OPT_COLOR},
    {"no-color", no_argument, NULL, OPT_NO_COLOR},
    {"help", no_argument, NULL, OPT_HELP},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"rule", required_argument, NULL, OPT_RULE},
    {NULL, 0, NULL, 0},
};

/* A time bound: a PostgreSQL/RFC 3339 timestamp or a bare date. */
static bool parse_bound(const char *s, int64_t *out)
{
	char buf[64];
	if (strlen(s) == 10) {
		snprintf(buf, sizeof(buf), "%s 00:00:00", s);
		s = buf;
	}
	size_t n = strlen(s);
	return logread_parse_time(s, n, out) == n;
}

struct cli {
	struct report_options ro;
	enum report_format format;
	const char *output;
	const char *schema;
	const char *dsn;
	const char *baseline;
	const char *write_baseline;
	const char *note;
	int color;                 /* -1 auto */
	struct rule_config *rules; /* owned */
};

/* Apply the [rules] entries of a pgscope.ini. Returns false with a message printed. */
static bool load_rules(struct rule_config *rules, const char *path)
{
	struct config cfg;
	char err[512];
	if (!config_load(&cfg, path, err, sizeof(err))) {
		fprintf(stderr, "pgscope report: %s\n", err);
		return false;
	}
	bool ok = true;
	for (size_t i = 0; ok && i < cfg.n_rules; i++) {
		if (rule_config_set(rules, cfg.rules[i].key, cfg.rules[i].value, err,
		                    sizeof(err)) != 0) {
			fprintf(stderr, "pgscope report: %s:%d: %s\n", path, cfg.rules[i].line,
			        err);
			ok = false;
		}
	}
	config_free(&cfg);
	return ok;
}

/* --rule ID=VALUE. */
static bool set_rule(struct rule_config *rules, const char *arg)
{
	char key[128], err[256];
	const char *eq = strchr(arg, '=');
	if (!eq || (size_t)(eq - arg) >= sizeof(key)) {
		fprintf(stderr, "pgscope report: --rule wants ID=VALUE, not '%s'\n", arg);
		return false;
	}
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	if (rule_config_set(rules, key, eq + 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "pgscope report: --rule %s: %s\n", arg, err);
		return false;
	}
	return true;
}

/* Parse options into c; returns -1 done (exit 0), 2 usage error, 0 go on. */
static int parse_args(struct cli *c, int argc, char **argv)
{
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:h", long_opts, NULL)) != -1) {
		int v;
		char *end;
		switch (opt) {
		case OPT_FORMAT:
			if ((v = report_format_parse(optarg)) < 0) {
				fprintf(stderr, "pgscope report: unknown format '%s'\n", optarg);
				return 2;
			}
			c->format = (enum report_format)v;
			break;
		case 'o':
			c->output = optarg;
			break;
		case OPT_SCHEMA:
			c->schema = optarg;
			break;
		case OPT_DSN:
			c->dsn = optarg;
			break;
		case OPT_SINCE:
		case OPT_UNTIL:
			if (!parse_bound(optarg,
			                 opt == OPT_SINCE ? &c->ro.since_us : &c->ro.until_us)) {
				fprintf(stderr, "pgscope report: bad time '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_DATABASE:
			c->ro.database = optarg;
			break;
		case OPT_USER:
			c->ro.user = optarg;
			break;
		case OPT_TOP:
			errno = 0;
			c->ro.top = (size_t)strtoul(optarg, &end, 10);
			if (errno || *end || c->ro.top == 0) {
				fprintf(stderr, "pgscope report: bad --top '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_BASELINE:
			c->baseline = optarg;
			break;
		case OPT_WRITE_BASELINE:
			c->write_baseline = optarg;
			break;
		case OPT_NOTE:
			c->note = optarg;
			break;
		case OPT_LOG_PREFIX:
			c->ro.input.log_prefix = optarg;
			break;
		case OPT_INPUT_FORMAT:
			if ((v = logread_format_parse(optarg)) < 0) {
				fprintf(stderr, "pgscope report: unknown input format '%s'\n",
				        optarg);
				return 2;
			}
			c->ro.input.format = (enum logread_format)v;
			break;
		case OPT_COLOR:
			c->color = 1;
			break;
		case OPT_CONFIG:
			if (!load_rules(c->rules, optarg))
				return 2;
			break;
		case OPT_RULE:
			if (!set_rule(c->rules, optarg))
				return 2;
			break;
		case OPT_NO_COLOR:
			c->color = 0;
			break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "pgscope report: no input files\n");
		usage(stderr);
		return 2;
	}
	if (c->schema && c->dsn) {
		fprintf(stderr, "pgscope report: --schema and --dsn exclude each other\n");
		return 2;
	}
	return 0;
}

/* Add the report's findings to the baseline file. */
static int write_baseline(const struct report *r, struct baseline *bl, const char *path,
                          const char *note)
{
	size_t added = 0;
	for (size_t i = 0; i < r->n_findings; i++) {
		const struct report_finding *f = &r->findings[i];
		added += baseline_add(bl, f->fingerprint, f->rule_id, note ? note : f->message);
	}
	if (baseline_save(bl, path) != 0) {
		fprintf(stderr, "pgscope report: %s: %s\n", path, strerror(errno));
		return 2;
	}
	fprintf(stderr, "pgscope report: %s: %zu finding(s) added, %zu in total\n", path, added,
	        bl->n);
	return 0;
}

int cmd_report(int argc, char **argv)
{
	struct cli c;
	memset(&c, 0, sizeof(c));
	c.color = -1;
	c.rules = rule_config_new();
	if (!c.rules) {
		fprintf(stderr, "pgscope report: out of memory\n");
		return 2;
	}
	int rc = parse_args(&c, argc, argv);
	if (rc != 0) {
		rule_config_free(c.rules);
		return rc < 0 ? 0 : rc;
	}

	char err[512];
	struct catalog *cat = NULL;
	struct baseline bl;
	struct report *r = NULL;
	FILE *out = stdout;
	baseline_init(&bl);
	rc = 2;

	if (c.schema && !(cat = catalog_load_file(c.schema, err, sizeof(err)))) {
		fprintf(stderr, "pgscope report: %s\n", err);
		goto out;
	}
	if (c.dsn && !(cat = catalog_load_dsn(c.dsn, err, sizeof(err)))) {
		fprintf(stderr, "pgscope report: %s\n", err);
		goto out;
	}
	/* With --write-baseline the existing file is read so entries and notes are kept;
	 * with --baseline it is what hides findings. */
	const char *bl_path = c.write_baseline ? c.write_baseline : c.baseline;
	if (bl_path &&
	    baseline_load(&bl, bl_path, c.write_baseline != NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "pgscope report: %s\n", err);
		goto out;
	}
	c.ro.catalog = cat;
	c.ro.rules = c.rules;
	c.ro.hypo_dsn = c.dsn;
	c.ro.baseline = c.baseline ? &bl : NULL;
	r = report_new(&c.ro);
	if (!r) {
		fprintf(stderr, "pgscope report: out of memory\n");
		goto out;
	}
	for (int i = optind; i < argc; i++) {
		if (report_add_file(r, argv[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "pgscope report: %s\n", err);
			goto out;
		}
	}
	report_finish(r);
	if (c.write_baseline) {
		rc = write_baseline(r, &bl, c.write_baseline, c.note);
		goto out;
	}
	if (c.output && !(out = fopen(c.output, "w"))) {
		fprintf(stderr, "pgscope report: %s: %s\n", c.output, strerror(errno));
		out = stdout;
		goto out;
	}
	bool color = c.color < 0 ? (!c.output && isatty(STDOUT_FILENO)) : c.color == 1;
	rc = report_write(r, c.format, out, color) == 0 ? 0 : 2;
	if (out != stdout && fclose(out) != 0)
		rc = 2;
	out = stdout;
	if (rc != 0)
		fprintf(stderr, "pgscope report: write error\n");
out:
	if (out != stdout)
		fclose(out);
	report_free(r);
	baseline_release(&bl);
	catalog_free(cat);
	rule_config_free(c.rules);
	return rc;
}
