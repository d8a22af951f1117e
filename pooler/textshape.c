/*
 * textshape.c - a statement text's shape: the text with its literal values
 * blanked out, as a hash (see textshape.h).
 */
#include <stdbool.h>
#include <string.h>

#include "pooler/textshape.h"

/*
 * The text with its literal values blanked out, as a hash: texts that differ
 * only in values (a simple-protocol workload sends a new text per call)
 * share one analysis, and are queued to the analysis thread only once. Values after LIMIT and
 * OFFSET are kept (rules judge them), as are comments naming pgscope (suppressions); other comments
 * go (sqlcommenter's differ on every call). Returns 0 when the text is not worth sharing.
 */
uint64_t textshape_hash(const char *sql, size_t len, uint64_t seed)
{
	uint64_t h = 1469598103934665603ull ^ seed;
	bool keep_next_number = false;
	size_t i = 0;
	char word[8];
	size_t wlen = 0;

#define SHAPE_MIX(ch) (h = (h ^ (uint8_t)(ch)) * 1099511628211ull)
	while (i < len) {
		char ch = sql[i];

		if (ch == '\'' || ((ch == 'E' || ch == 'e') && i + 1 < len && sql[i + 1] == '\'')) {
			bool esc = ch != '\'';

			i += esc ? 2 : 1;
			while (i < len) {
				if (esc && sql[i] == '\\' && i + 1 < len) {
					i += 2;
					continue;
				}
				if (sql[i] == '\'') {
					if (i + 1 < len && sql[i + 1] == '\'') {
						i += 2;
						continue;
					}
					break;
				}
				i++;
			}
			i++;
			SHAPE_MIX('?');
			keep_next_number = false;
			wlen = 0;
			continue;
		}
		if (ch == '$' && i + 1 < len &&
		    (sql[i + 1] == '$' || sql[i + 1] == '_' ||
		     (sql[i + 1] >= 'a' && sql[i + 1] <= 'z') ||
		     (sql[i + 1] >= 'A' && sql[i + 1] <= 'Z')))
			return 0; /* dollar quoting: not worth the trouble */
		if (ch == '-' && i + 1 < len && sql[i + 1] == '-') {
			size_t start = i;

			while (i < len && sql[i] != '\n')
				i++;
			if (memmem(sql + start, i - start, "pgscope", 7) != NULL)
				for (size_t k = start; k < i; k++)
					SHAPE_MIX(sql[k]);
			continue;
		}
		if (ch == '/' && i + 1 < len && sql[i + 1] == '*') {
			const char *end = memmem(sql + i + 2, len - i - 2, "*/", 2);
			size_t stop = end ? (size_t)(end - sql) + 2 : len;

			if (memmem(sql + i, stop - i, "pgscope", 7) != NULL)
				for (size_t k = i; k < stop; k++)
					SHAPE_MIX(sql[k]);
			i = stop;
			continue;
		}
		if ((ch >= '0' && ch <= '9') &&
		    (i == 0 || !((sql[i - 1] >= 'a' && sql[i - 1] <= 'z') ||
		                 (sql[i - 1] >= 'A' && sql[i - 1] <= 'Z') || sql[i - 1] == '_' ||
		                 sql[i - 1] == '$' || (sql[i - 1] >= '0' && sql[i - 1] <= '9')))) {
			size_t start = i;

			while (i < len && ((sql[i] >= '0' && sql[i] <= '9') || sql[i] == '.'))
				i++;
			if (keep_next_number)
				for (size_t k = start; k < i; k++)
					SHAPE_MIX(sql[k]);
			else
				SHAPE_MIX('?');
			keep_next_number = false;
			wlen = 0;
			continue;
		}
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
			if (wlen < sizeof(word) - 1)
				word[wlen] = (char)(ch | 0x20);
			wlen++;
		} else {
			if (wlen == 5 && memcmp(word, "limit", 5) == 0)
				keep_next_number = true;
			else if (wlen == 6 && memcmp(word, "offset", 6) == 0)
				keep_next_number = true;
			else if (wlen > 0 || (ch != ' ' && ch != '\n' && ch != '\t'))
				keep_next_number = keep_next_number && wlen == 0;
			wlen = 0;
		}
		SHAPE_MIX(ch);
		i++;
	}
#undef SHAPE_MIX
	return h ? h : 1;
}
