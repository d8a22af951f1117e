/*
 * schema.c - `pgscope schema`: write a database's schema snapshot as JSON.
 *
 * The output is what `--schema FILE` reads back, so CI can lint against a
 * production-like schema (with its row counts and statistics) without access
 * to the database.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "analyzer/catalog.h"
#include "cli/commands.h"

static void usage(FILE *out)
{
	fprintf(out, "Usage: pgscope schema --dsn URL [--output FILE]\n"
	             "Write the schema snapshot of the database at URL as JSON: tables with row\n"
	             "estimates, columns, indexes, foreign keys and pg_stats summaries.\n\n"
	             "  --dsn URL        libpq connection string or URI\n"
	             "  -o, --output F   write to F instead of stdout\n"
	             "  -h, --help       this help\n");
}

int cmd_schema(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dsn", required_argument, NULL, 'd'},
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dsn = NULL, *output = NULL;
	char err[512];
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dsn = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (dsn == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	struct catalog *cat = catalog_load_dsn(dsn, err, sizeof(err));
	if (cat == NULL) {
		fprintf(stderr, "pgscope schema: %s\n", err);
		return 2;
	}
	FILE *out = output != NULL ? fopen(output, "w") : stdout;
	if (out == NULL) {
		fprintf(stderr, "pgscope schema: %s: cannot write\n", output);
		catalog_free(cat);
		return 2;
	}
	int rc = catalog_write_json(cat, out);
	int closed = out != stdout ? fclose(out) : fflush(stdout);
	if (closed != 0)
		rc = -1;
	catalog_free(cat);
	if (rc != 0) {
		fprintf(stderr, "pgscope schema: write error\n");
		return 2;
	}
	return 0;
}
