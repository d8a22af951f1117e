/*
 * test_startup.c - pgscope refuses to start on a fatal error and says why on
 * stderr, even when a logfile is configured, with a non-zero exit status.
 *
 * An operator starting pgscope from a terminal or a unit file looks at its
 * stderr and exit status first; the log file alone is not enough.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "tests/integration/harness.h"

#define RUN_TIMEOUT_S 20

static char dir[256];
static char config_path[300];
static char log_path[300];

static int group_setup(void **state)
{
	const char *tmp = getenv("PGSCOPE_TEST_TMPDIR") ? getenv("PGSCOPE_TEST_TMPDIR") : "/tmp";

	snprintf(dir, sizeof(dir), "%s/startup.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(config_path, sizeof(config_path), "%s/pgscope.ini", dir);
	snprintf(log_path, sizeof(log_path), "%s/pgscope.log", dir);
	return 0;
}

static int group_teardown(void **state)
{
	unlink(config_path);
	unlink(log_path);
	rmdir(dir);
	return 0;
}

/* Write a config listening on port with extra lines for [pgscope]; the log goes to log_path. */
static void write_config(int port, const char *extra)
{
	FILE *f = fopen(config_path, "w");

	assert_non_null(f);
	fprintf(f,
	        "[pgscope]\n"
	        "listen_addr = 127.0.0.1\n"
	        "listen_port = %d\n"
	        "unix_socket_dir =\n"
	        "logfile = %s\n"
	        "%s"
	        "[databases]\n"
	        "* = host=127.0.0.1 port=1\n",
	        port, log_path, extra);
	assert_int_equal(fclose(f), 0);
	unlink(log_path);
}

/* A TCP socket listening on a free loopback port; its port in *port. */
static int listen_somewhere(int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd != -1);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Run pgscope on config_path; it must exit by itself, non-zero, with each needle on stderr. */
static void expect_fatal(const char *const needles[])
{
	const char *bin = getenv("PGSCOPE_BIN") ? getenv("PGSCOPE_BIN") : "./pgscope";
	const char *argv[] = {bin, "serve", config_path, NULL};
	struct harness_run_result res;

	assert_true(harness_run(argv, NULL, RUN_TIMEOUT_S, &res));
	if (res.timed_out || res.exit_code == 0)
		fail_msg("pgscope did not fail at start (exit %d, timed out %d); output:\n%s",
		         res.exit_code, res.timed_out, res.output);
	for (int i = 0; needles[i] != NULL; i++) {
		if (strstr(res.output, needles[i]) == NULL)
			fail_msg("stderr lacks '%s'; it has:\n%s", needles[i], res.output);
	}
	harness_run_result_free(&res);
}

static void test_missing_auth_file(void **state)
{
	char extra[512], missing[300];
	int port, fd = listen_somewhere(&port);

	close(fd); /* free again: only the auth_file is wrong */
	snprintf(missing, sizeof(missing), "%s/no-such-userlist.txt", dir);
	snprintf(extra, sizeof(extra), "auth_type = md5\nauth_file = %s\n", missing);
	write_config(port, extra);
	expect_fatal((const char *const[]){"level=fatal", "auth_file", missing, NULL});
}

static void test_port_in_use(void **state)
{
	char address[64];
	int port, fd = listen_somewhere(&port);

	snprintf(address, sizeof(address), "127.0.0.1:%d", port);
	write_config(port, "");
	expect_fatal((const char *const[]){"level=fatal", "listener.failed", address,
	                                   "Address already in use", NULL});
	close(fd);
}

static void test_bad_config(void **state)
{
	int port, fd = listen_somewhere(&port);

	close(fd);
	write_config(port, "no_such_key = 1\n");
	expect_fatal((const char *const[]){"pgscope.ini:6: key 'no_such_key'", NULL});
}

/*
 * pgscope --version: the version, the commit when built in a git checkout,
 * and the libraries it was built with.
 */
static void test_version(void **state)
{
	const char *bin = getenv("PGSCOPE_BIN") ? getenv("PGSCOPE_BIN") : "./pgscope";
	const char *argv[] = {bin, "--version", NULL};
	const char *gitv[] = {"git", "rev-parse", "--short=12", "HEAD", NULL};
	static const char *const needles[] = {
	    "pgscope " PGSCOPE_VERSION, "libpg_query", "libev", "OpenSSL", "zlib", NULL};
	struct harness_run_result res, git = {0};
	char commit[64] = "";

	assert_true(harness_run(argv, NULL, RUN_TIMEOUT_S, &res));
	assert_int_equal(res.exit_code, 0);
	for (int i = 0; needles[i] != NULL; i++) {
		if (strstr(res.output, needles[i]) == NULL)
			fail_msg("--version lacks '%s'; it printed:\n%s", needles[i], res.output);
	}
	/* Built from this checkout: its commit is named (tests run from the tree they built). */
	if (harness_run(gitv, NULL, RUN_TIMEOUT_S, &git) && git.exit_code == 0 && git.len >= 12) {
		snprintf(commit, sizeof(commit), "(git %.12s", git.output);
		if (strstr(res.output, commit) == NULL)
			fail_msg("--version lacks '%s'; it printed:\n%s", commit, res.output);
	}
	if (git.output != NULL)
		harness_run_result_free(&git);
	harness_run_result_free(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version),
	    cmocka_unit_test(test_missing_auth_file),
	    cmocka_unit_test(test_port_in_use),
	    cmocka_unit_test(test_bad_config),
	};

	return cmocka_run_group_tests_name("startup", tests, group_setup, group_teardown);
}
