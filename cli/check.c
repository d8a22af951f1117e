/*
 * check.c - `pgscope check`: lint SQL files against the analyzer's rules.
 */
#include <stdio.h>

#include "cli/commands.h"

int cmd_check(int argc, char **argv)
{
	fprintf(stderr, "pgscope check: not implemented yet\n");
	return 2;
}
