/*
 * main.c - the pgscope program: dispatch to a subcommand.
 *
 * "pgscope CONFIG" is read as "pgscope serve CONFIG", as pgbouncer takes its
 * ini file as the only argument.
 */
#include <ev.h>
#include <openssl/opensslv.h>
#include <pg_query.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "config.h"
#include "git_commit.h"
#include "cli/commands.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
    {"serve", cmd_serve, "run the pooler with a config file"},
    {"check", cmd_check, "lint SQL files against the analyzer's rules"},
    {"schema", cmd_schema, "save a database's schema snapshot as JSON"},
    {"report", cmd_report, "rank captured or logged statements and what to fix"},
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: pgscope COMMAND [ARGS]...\n"
	             "       pgscope CONFIG            (same as: pgscope serve CONFIG)\n\n"
	             "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n  --version  print the version\n"
	             "  --help     print this help; COMMAND --help for a command's\n");
}

/* The version, the commit it was built from, and the libraries it was built with. */
static void print_version(void)
{
	printf("pgscope %s", PGSCOPE_VERSION);
	if (PGSCOPE_GIT_COMMIT[0] != 0)
		printf(" (git %s)", PGSCOPE_GIT_COMMIT);
	printf("\nbuilt with: libpg_query (PostgreSQL %s parser), libev %d.%d, %s, zlib %s\n",
	       PG_VERSION, EV_VERSION_MAJOR, EV_VERSION_MINOR, OPENSSL_VERSION_TEXT, ZLIB_VERSION);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		print_version();
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--verbose") == 0 ||
	    strcmp(argv[1], "-q") == 0 || strcmp(argv[1], "--quiet") == 0 ||
	    strcmp(argv[1], "--takeover") == 0)
		return cmd_serve(argc, argv); /* pgscope -v CONFIG, as pgbouncer -v CONFIG */
	if (argv[1][0] == '-') {
		fprintf(stderr, "pgscope: unknown option '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	/* pgscope CONFIG: argv[0] stands in for the subcommand name. */
	return cmd_serve(argc, argv);
}
