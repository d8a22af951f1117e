/* fuzz_userlist.c - libFuzzer target: auth_file (userlist.txt) parsing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pooler/userlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct userlist *list;

	memset(err, 0x5a, sizeof(err));
	list = userlist_parse((const char *)data, size, "fuzz.txt", err, sizeof(err));
	if (list == NULL) {
		/* A clear error, naming the file. */
		if (memchr(err, '\0', sizeof(err)) == NULL || strncmp(err, "fuzz.txt", 8) != 0)
			abort();
		return 0;
	}
	if (userlist_count(list) > USERLIST_MAX_ENTRIES || userlist_count(list) > size)
		abort();
	/* Look up the first field as written (quotes stripped naively). */
	{
		char user[USERLIST_MAX_FIELD + 1];
		size_t n = 0;
		const char *p = memchr(data, '"', size);
		if (p != NULL) {
			p++;
			while (p < (const char *)data + size && *p != '"' && n < USERLIST_MAX_FIELD)
				user[n++] = *p++;
		}
		user[n] = '\0';
		const char *pw = userlist_lookup(list, user);
		if (pw != NULL && strlen(pw) > USERLIST_MAX_FIELD)
			abort();
	}
	if (userlist_lookup(list, "") != NULL && userlist_count(list) == 0)
		abort();
	userlist_free(list);
	return 0;
}
