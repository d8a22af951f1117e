/* fuzz_config.c - libFuzzer target: config_load() on hostile INI files. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pooler/config.h"
#include "pooler/log.h"
#include "tests/fuzz/fuzz_memfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Warnings are formatted (escaping is exercised) but not printed. */
	log_setup("/dev/null", false, LOG_DEBUG);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char path[64];
	char err[512];
	int fd;

	if (size > 64 * 1024)
		return 0;
	fd = fuzz_memfile(data, size, path, sizeof(path));
	if (fd == -1)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	memset(err, 0x5a, sizeof(err));
	if (config_load(&cfg, path, err, sizeof(err))) {
		/* Lookups on what was loaded. */
		(void)config_find_db(&cfg, "postgres");
		(void)config_find_user(&cfg, "postgres");
		for (size_t i = 0; i < cfg.n_dbs; i++)
			if (config_find_db(&cfg, cfg.dbs[i].name) == NULL)
				abort();
		config_free(&cfg);
	} else if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') {
		abort(); /* a failed load always explains itself */
	}
	close(fd);
	return 0;
}
