/* baseline.c - read, query and write the acknowledged-findings file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/baseline.h"

void baseline_init(struct baseline *b)
{
	memset(b, 0, sizeof(*b));
}

void baseline_release(struct baseline *b)
{
	free(b->entries);
	baseline_init(b);
}

bool baseline_contains(const struct baseline *b, uint64_t fingerprint, const char *rule)
{
	/* Baselines hold tens to hundreds of entries: a scan is enough. */
	for (size_t i = 0; i < b->n; i++) {
		if (b->entries[i].fingerprint == fingerprint &&
		    strcmp(b->entries[i].rule, rule) == 0)
			return true;
	}
	return false;
}

bool baseline_add(struct baseline *b, uint64_t fingerprint, const char *rule, const char *note)
{
	if (baseline_contains(b, fingerprint, rule))
		return false;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 32;
		struct baseline_entry *e = realloc(b->entries, cap * sizeof(*e));
		if (!e)
			return false;
		b->entries = e;
		b->cap = cap;
	}
	struct baseline_entry *e = &b->entries[b->n++];
	e->fingerprint = fingerprint;
	snprintf(e->rule, sizeof(e->rule), "%s", rule);
	snprintf(e->note, sizeof(e->note), "%s", note ? note : "");
	return true;
}

/* Parse "FP\tRULE\tNOTE" (NOTE optional) in place. */
static bool parse_line(char *line, uint64_t *fp, char **rule, char **note)
{
	char *tab = strchr(line, '\t');
	if (!tab || tab - line != 16)
		return false;
	*tab = '\0';
	char *end;
	errno = 0;
	*fp = strtoull(line, &end, 16);
	if (errno || *end)
		return false;
	*rule = tab + 1;
	char *tab2 = strchr(*rule, '\t');
	*note = "";
	if (tab2) {
		*tab2 = '\0';
		*note = tab2 + 1;
	}
	return **rule != '\0' && strlen(*rule) < BASELINE_RULE_MAX;
}

int baseline_load(struct baseline *b, const char *path, bool missing_ok, char *err, size_t errsize)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT && missing_ok)
			return 0;
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[BASELINE_NOTE_MAX + BASELINE_RULE_MAX + 32];
	int lineno = 0;
	int rc = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		uint64_t fp;
		char *rule, *note;
		if (!parse_line(line, &fp, &rule, &note)) {
			snprintf(err, errsize,
			         "%s:%d: expected FINGERPRINT<tab>RULE<tab>NOTE (16 hex digits)",
			         path, lineno);
			rc = -1;
			break;
		}
		baseline_add(b, fp, rule, note);
	}
	fclose(f);
	return rc;
}

int baseline_save(const struct baseline *b, const char *path)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(
	    f, "# pgscope baseline: acknowledged findings, hidden by `pgscope report --baseline`.\n"
	       "# FINGERPRINT<tab>RULE<tab>NOTE; edit the notes freely.\n");
	for (size_t i = 0; i < b->n; i++) {
		const struct baseline_entry *e = &b->entries[i];
		fprintf(f, "%016llx\t%s\t%s\n", (unsigned long long)e->fingerprint, e->rule,
		        e->note);
	}
	if (fclose(f) != 0) {
		remove(tmp);
		return -1;
	}
	return rename(tmp, path);
}
