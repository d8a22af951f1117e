/* fuzz_logread.c - libFuzzer target: capture files and PostgreSQL stderr/csvlog/jsonlog readers. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer/logread.h"
#include "tests/fuzz/fuzz_memfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s)
{
	if (s != NULL)
		(void)strlen(s); /* NUL-terminated, readable */
}

static void check_event(const struct logread_event *ev)
{
	const struct logread_stmt *s = &ev->stmt;

	if (ev->kind == LOGREAD_QUERY) {
		check_str(ev->query.query);
		return;
	}
	if (ev->kind == LOGREAD_LOST) {
		if (ev->lost.statements == 0)
			abort();
		check_str(ev->lost.reason);
		return;
	}
	if (ev->kind != LOGREAD_STMT)
		abort();
	if (s->duration_us < -1)
		abort();
	check_str(s->text);
	check_str(s->database);
	check_str(s->user);
	check_str(s->application_name);
	check_str(s->tag);
	check_str(s->sqlstate);
	check_str(s->route);
	check_str(s->trace_id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const prefixes[] = {NULL, "%m [%p] ", "%t [%p]: user=%u,db=%d,app=%a ",
	                                       "%m [%p] %q%u@%d "};
	struct logread_options opts;
	struct logread_event ev;
	struct logread_stats st;
	struct logread *r;
	char path[64];
	char err[256];
	int64_t us;
	int fd, rc = 0;
	size_t n = 0; /* statements seen */

	if (size < 1 || size > 64 * 1024)
		return 0;
	/* First byte: format (auto, capture, stderr, csvlog, jsonlog) and log_line_prefix. */
	memset(&opts, 0, sizeof(opts));
	opts.format = (enum logread_format)(data[0] % 5);
	opts.log_prefix = prefixes[(data[0] >> 3) % 4];
	(void)logread_parse_time((const char *)data + 1, size - 1, &us);
	fd = fuzz_memfile(data + 1, size - 1, path, sizeof(path));
	if (fd == -1)
		return 0;
	memset(err, 0x5a, sizeof(err));
	r = logread_open(path, &opts, err, sizeof(err));
	if (r == NULL) {
		if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
			abort();
		goto out_close_fd;
	}
	/* A reader that loops without consuming input shows up as a timeout. */
	while ((rc = logread_next(r, &ev)) == 1) {
		check_event(&ev);
		if (ev.kind == LOGREAD_STMT)
			n++;
	}
	if (rc == -1 && logread_error(r) == NULL)
		abort();
	st = logread_stats(r);
	if (st.stmts != n)
		abort();
	(void)logread_format_name(logread_format(r));
	logread_close(r);
out_close_fd:
	close(fd);
	return 0;
}
