/*
 * baseline.h - findings a DBA has acknowledged, so the next report shows only what is new.
 *
 * The file is text, one acknowledged finding per line:
 *     FINGERPRINT<TAB>RULE-ID<TAB>NOTE
 * (16 hex digits, a rule id, free text up to the end of the line). Lines
 * starting with '#' and empty lines are ignored. `pgscope report
 * --write-baseline FILE` adds the findings of a report to FILE, keeping the
 * lines and notes already there.
 */
#ifndef PGSCOPE_ANALYZER_BASELINE_H
#define PGSCOPE_ANALYZER_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BASELINE_RULE_MAX 64
#define BASELINE_NOTE_MAX 256

struct baseline_entry {
	uint64_t fingerprint;
	char rule[BASELINE_RULE_MAX];
	char note[BASELINE_NOTE_MAX];
};

struct baseline {
	struct baseline_entry *entries; /* owned */
	size_t n;
	size_t cap;
};

/* An empty baseline. */
void baseline_init(struct baseline *b);

/*
 * Read path into b (appending). A missing file is an empty baseline when
 * missing_ok. Returns 0, or -1 with a message naming file and line in err.
 */
int baseline_load(struct baseline *b, const char *path, bool missing_ok, char *err, size_t errsize);

/* true when (fingerprint, rule) is acknowledged. */
bool baseline_contains(const struct baseline *b, uint64_t fingerprint, const char *rule);

/* Add an entry unless present; returns true when added. */
bool baseline_add(struct baseline *b, uint64_t fingerprint, const char *rule, const char *note);

/* Write b to path (atomically: a temporary file renamed over it). Returns 0 or -1 (errno). */
int baseline_save(const struct baseline *b, const char *path);

void baseline_release(struct baseline *b);

#endif
