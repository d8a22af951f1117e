/*
 * schema.c - `pgscope schema`: write a database's schema snapshot as JSON.
 */
#include <stdio.h>

#include "cli/commands.h"

int cmd_schema(int argc, char **argv)
{
	fprintf(stderr, "pgscope schema: not implemented yet\n");
	return 2;
}
