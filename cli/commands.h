/*
 * commands.h - the subcommands of the pgscope program.
 *
 * Each takes the arguments after its own name (argv[0] is the subcommand
 * name) and returns the process exit status.
 */
#ifndef PGSCOPE_CLI_COMMANDS_H
#define PGSCOPE_CLI_COMMANDS_H

/* pgscope serve CONFIG: run the pooler (cli/serve.c). */
int cmd_serve(int argc, char **argv);

/* pgscope check [--schema FILE|--dsn URL] FILE.sql...: lint SQL (cli/check.c). */
int cmd_check(int argc, char **argv);

/* pgscope schema --dsn URL: write the schema snapshot as JSON (cli/schema.c). */
int cmd_schema(int argc, char **argv);

/* pgscope report [OPTION]... FILE...: aggregate captures and logs (cli/report.c). */
int cmd_report(int argc, char **argv);

#endif
