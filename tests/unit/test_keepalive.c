/* test_keepalive.c - TCP keepalive options on the pooler's sockets, read back with getsockopt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pooler/config.h"
#include "pooler/conn.h"

static int get_option(int fd, int level, int name)
{
	int value = -1;
	socklen_t len = sizeof(value);

	assert_int_equal(getsockopt(fd, level, name, &value, &len), 0);
	return value;
}

/* The defaults (PgBouncer's): keepalive on, the system's timings left alone. */
static void test_defaults(void **state)
{
	struct config cfg;
	int plain = socket(AF_INET, SOCK_STREAM, 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	config_init_defaults(&cfg);
	assert_true(cfg.tcp_keepalive);
	assert_true(plain >= 0 && fd >= 0);
	assert_int_equal(get_option(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
	assert_true(conn_set_keepalive(fd, &cfg));
	assert_int_equal(get_option(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
	assert_int_equal(get_option(fd, IPPROTO_TCP, TCP_KEEPIDLE),
	                 get_option(plain, IPPROTO_TCP, TCP_KEEPIDLE));
	assert_int_equal(get_option(fd, IPPROTO_TCP, TCP_KEEPINTVL),
	                 get_option(plain, IPPROTO_TCP, TCP_KEEPINTVL));
	assert_int_equal(get_option(fd, IPPROTO_TCP, TCP_KEEPCNT),
	                 get_option(plain, IPPROTO_TCP, TCP_KEEPCNT));
	assert_int_equal(get_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
	config_free(&cfg);
	close(plain);
	close(fd);
}

static void test_values_applied(void **state)
{
	struct config cfg;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	config_init_defaults(&cfg);
	cfg.tcp_keepidle = 45;
	cfg.tcp_keepintvl = 7;
	cfg.tcp_keepcnt = 4;
	cfg.tcp_user_timeout = 30000;
	assert_true(fd >= 0);
	assert_true(conn_set_keepalive(fd, &cfg));
	assert_int_equal(get_option(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
	assert_int_equal(get_option(fd, IPPROTO_TCP, TCP_KEEPIDLE), 45);
	assert_int_equal(get_option(fd, IPPROTO_TCP, TCP_KEEPINTVL), 7);
	assert_int_equal(get_option(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
	assert_int_equal(get_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 30000);
	config_free(&cfg);
	close(fd);
}

/* tcp_keepalive = 0 turns it off (and the probe timings are not set). */
static void test_off(void **state)
{
	struct config cfg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int on = 1;

	config_init_defaults(&cfg);
	cfg.tcp_keepalive = false;
	cfg.tcp_keepidle = 45;
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)), 0);
	assert_true(conn_set_keepalive(fd, &cfg));
	assert_int_equal(get_option(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
	assert_int_not_equal(get_option(fd, IPPROTO_TCP, TCP_KEEPIDLE), 45);
	config_free(&cfg);
	close(fd);
}

/* A socket that is not TCP refuses the TCP options: reported, not fatal. */
static void test_not_tcp(void **state)
{
	struct config cfg;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	config_init_defaults(&cfg);
	cfg.tcp_keepidle = 45;
	assert_true(fd >= 0);
	assert_false(conn_set_keepalive(fd, &cfg));
	config_free(&cfg);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_values_applied),
	    cmocka_unit_test(test_off),
	    cmocka_unit_test(test_not_tcp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
