/* serve.c - `pgscope serve CONFIG`: load the config and run the pooler. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "pooler/config.h"
#include "pooler/log.h"
#include "pooler/pooler.h"
#include "pooler/reload.h"

static void serve_usage(FILE *out)
{
	fprintf(out, "Usage: pgscope serve [OPTIONS] CONFIG\n"
	             "       pgscope [OPTIONS] CONFIG\n\n"
	             "Run the connection pooler with the pgbouncer.ini-style file CONFIG.\n\n"
	             "Options:\n"
	             "  -v, --verbose   log at debug level\n"
	             "  -q, --quiet     log warnings and errors only\n"
	             "  --takeover      take the listening sockets over from the pgscope running\n"
	             "                  with this config (online restart); it then stops\n"
	             "  -h, --help      print this help\n\n"
	             "Signals: SIGTERM/SIGINT stop once transactions end (shutdown_timeout),\n"
	             "a second one at once; SIGHUP reloads CONFIG and reopens the log file;\n"
	             "SIGUSR1 pauses every pool, SIGUSR2 resumes them.\n");
}

int cmd_serve(int argc, char **argv)
{
	const char *path = NULL;
	int level = -1;
	bool takeover = false;
	char err[512];
	struct config cfg;
	int status;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			serve_usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
			level = LOG_DEBUG;
		} else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
			level = LOG_WARNING;
		} else if (strcmp(argv[i], "--takeover") == 0) {
			takeover = true;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "pgscope serve: unknown option '%s'\n", argv[i]);
			serve_usage(stderr);
			return 2;
		} else if (path == NULL) {
			path = argv[i];
		} else {
			fprintf(stderr, "pgscope serve: more than one config file given\n");
			return 2;
		}
	}
	if (path == NULL) {
		serve_usage(stderr);
		return 2;
	}
	if (!config_load(&cfg, path, err, sizeof(err))) {
		fprintf(stderr, "pgscope: %s\n", err);
		return 1;
	}
	if (level >= 0)
		cfg.log_level = level;
	reload_set_log_level(level);
	if (!log_setup(cfg.logfile, cfg.log_format == LOG_FORMAT_JSON,
	               (enum log_level)cfg.log_level)) {
		fprintf(stderr, "pgscope: cannot open logfile %s\n", cfg.logfile);
		config_free(&cfg);
		return 1;
	}
	status = pooler_run(&cfg, takeover);
	log_shutdown();
	config_free(&cfg);
	return status;
}
