/* test_config.c - the config file reader: defaults, pgbouncer.ini compatibility, sections, errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include <cmocka.h>

#include "pooler/config.h"
#include "pooler/log.h"

static char tmpdir[256];
static char logpath[300];
static char datadir[PATH_MAX + 32];
static char startdir[PATH_MAX];

/*
 * The sample files live in tests/unit/data; find them from the binary's own
 * place (build/tests/unit/test_config) so the test runs from any directory.
 */
static int find_datadir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (getenv("PGSCOPE_TEST_DATA") != NULL) {
		snprintf(datadir, sizeof(datadir), "%s", getenv("PGSCOPE_TEST_DATA"));
		return 0;
	}
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	for (int up = 0; up < 4; up++) {
		slash = strrchr(exe, '/');
		if (slash == NULL)
			return -1;
		*slash = '\0';
	}
	snprintf(datadir, sizeof(datadir), "%s/tests/unit/data", exe);
	return access(datadir, R_OK) == 0 ? 0 : -1;
}

static int setup_all(void **state)
{
	if (getcwd(startdir, sizeof(startdir)) == NULL || find_datadir() != 0)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgscope-test-config-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/warnings.log", tmpdir);
	return 0;
}

static int teardown_all(void **state)
{
	char cmd[400];

	log_shutdown();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Each test gets a fresh, empty warning log and the starting directory. */
static int setup_test(void **state)
{
	unlink(logpath);
	if (chdir(startdir) != 0)
		return -1;
	return log_setup(logpath, false, LOG_DEBUG) ? 0 : -1;
}

/* Write text to tmpdir/name; returns the path in a static buffer. */
static const char *write_ini(const char *name, const char *text)
{
	static char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
	return path;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* Load text, which must succeed; the warnings it logged stay in logpath. */
static void load_ok(struct config *cfg, const char *text)
{
	char err[512];
	const char *path = write_ini("ok.ini", text);

	if (!config_load(cfg, path, err, sizeof(err)))
		fail_msg("config_load failed: %s", err);
}

/* Load text, which must fail with a message starting "<file>:<line>: key '<key>': ". */
static void load_fails(const char *text, int line, const char *key, const char *why_part)
{
	struct config cfg;
	char err[512], want[512];
	const char *path = write_ini("bad.ini", text);

	if (config_load(&cfg, path, err, sizeof(err))) {
		config_free(&cfg);
		fail_msg("config_load accepted: %s", text);
	}
	if (key != NULL)
		snprintf(want, sizeof(want), "%s:%d: key '%s': ", path, line, key);
	else
		snprintf(want, sizeof(want), "%s:%d: ", path, line);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, want);
	if (why_part != NULL && strstr(err, why_part) == NULL)
		fail_msg("error '%s' does not mention '%s'", err, why_part);
	/* A failed load leaves nothing behind to free. */
	assert_null(cfg.path);
	assert_null(cfg.dbs);
}

static void assert_defaults(const struct config *cfg)
{
	assert_null(cfg->listen_addr);
	assert_int_equal(cfg->listen_port, 6432);
	assert_string_equal(cfg->unix_socket_dir, "/tmp");
	assert_int_equal(cfg->unix_socket_mode, 0777);
	assert_int_equal(cfg->listen_backlog, 128);
	assert_int_equal(cfg->auth_type, AUTH_TRUST);
	assert_null(cfg->auth_file);
	assert_null(cfg->admin_users);
	assert_null(cfg->stats_users);
	assert_int_equal(cfg->pool_mode, POOL_MODE_SESSION);
	assert_int_equal(cfg->default_pool_size, 20);
	assert_int_equal(cfg->min_pool_size, 0);
	assert_int_equal(cfg->reserve_pool_size, 0);
	assert_int_equal(cfg->reserve_pool_timeout, 5000);
	assert_int_equal(cfg->max_client_conn, 100);
	assert_int_equal(cfg->max_db_connections, 0);
	assert_int_equal(cfg->max_user_connections, 0);
	assert_int_equal(cfg->max_prepared_statements, 200);
	assert_string_equal(cfg->server_reset_query, "DISCARD ALL");
	assert_false(cfg->server_reset_query_always);
	assert_string_equal(cfg->server_check_query, "select 1");
	assert_int_equal(cfg->server_check_delay, 30000);
	assert_int_equal(cfg->server_lifetime, 3600000);
	assert_int_equal(cfg->server_idle_timeout, 600000);
	assert_int_equal(cfg->server_connect_timeout, 15000);
	assert_int_equal(cfg->server_login_retry, 15000);
	assert_int_equal(cfg->breaker_failures, 3);
	assert_int_equal(cfg->breaker_backoff, 1000);
	assert_int_equal(cfg->breaker_backoff_max, 4000);
	assert_int_equal(cfg->read_routing, READ_ROUTING_OFF);
	assert_int_equal(cfg->balancing, BALANCING_ROUND_ROBIN);
	assert_int_equal(cfg->read_your_writes, RYW_LSN);
	assert_int_equal(cfg->read_after_write_delay, 1000);
	assert_int_equal(cfg->replica_check_period, 1000);
	assert_int_equal(cfg->max_replica_lag, 10000);
	assert_int_equal(cfg->query_timeout, 0);
	assert_int_equal(cfg->query_wait_timeout, 120000);
	assert_int_equal(cfg->client_idle_timeout, 0);
	assert_int_equal(cfg->client_login_timeout, 60000);
	assert_int_equal(cfg->idle_transaction_timeout, 0);
	assert_int_equal(cfg->notify_stall_timeout, 30000);
	assert_null(cfg->ignore_startup_parameters);
	assert_non_null(cfg->track_extra_parameters);
	assert_string_equal(cfg->track_extra_parameters[0], "IntervalStyle");
	assert_null(cfg->track_extra_parameters[1]);
	assert_int_equal(cfg->max_packet_size, 64 * 1024 * 1024);
	assert_int_equal(cfg->pkt_buf, 4096);
	assert_int_equal(cfg->sbuf_loopcnt, 5);
	assert_true(cfg->analyze);
	assert_int_equal(cfg->analyze_max_bytes, 65536);
	assert_false(cfg->capture);
	assert_null(cfg->capture_dir);
	assert_false(cfg->capture_compress);
	assert_int_equal(cfg->capture_max_bytes, 64 * 1024 * 1024);
	assert_int_equal(cfg->capture_max_age, 3600000);
	assert_false(cfg->capture_literals);
	assert_int_equal(cfg->capture_queue_size, 8 * 1024 * 1024);
	assert_null(cfg->logfile);
	assert_null(cfg->pidfile);
	assert_int_equal(cfg->shutdown_timeout, 30000);
	assert_null(cfg->takeover_socket);
	assert_int_equal(cfg->log_format, LOG_FORMAT_LOGFMT);
	assert_int_equal(cfg->log_level, LOG_INFO);
	assert_true(cfg->log_connections);
	assert_true(cfg->log_disconnections);
	assert_true(cfg->log_pooler_errors);
	assert_int_equal(cfg->n_dbs, 0);
	assert_int_equal(cfg->n_users, 0);
	assert_int_equal(cfg->n_rules, 0);
}

static void test_defaults(void **state)
{
	struct config cfg;

	config_init_defaults(&cfg);
	assert_defaults(&cfg);
	config_free(&cfg);
}

static void test_empty_file_gives_defaults(void **state)
{
	struct config cfg;
	char *warnings;

	load_ok(&cfg, "; nothing but a comment\n# and another\n\n[pgscope]\n");
	assert_defaults(&cfg);
	assert_non_null(strstr(cfg.path, "ok.ini"));
	config_free(&cfg);
	config_free(&cfg); /* a second free is harmless */
	warnings = slurp(logpath);
	assert_string_equal(warnings, "");
	free(warnings);
}

static void test_every_pgscope_key(void **state)
{
	struct config cfg;

	load_ok(&cfg, "[pgscope]\n"
	              "listen_addr = *\n"
	              "listen_port = 7432\n"
	              "unix_socket_dir =\n"
	              "unix_socket_mode = 0700\n"
	              "listen_backlog = 64\n"
	              "auth_type = md5\n"
	              "auth_file = /etc/pgscope/users.txt\n"
	              "admin_users = root,  ops ,, dba\n"
	              "stats_users = mon\n"
	              "pool_mode = statement\n"
	              "default_pool_size = 0\n"
	              "min_pool_size = 3\n"
	              "reserve_pool_size = 4\n"
	              "reserve_pool_timeout = 2.5\n"
	              "max_client_conn = 1000\n"
	              "max_db_connections = 11\n"
	              "max_user_connections = 12\n"
	              "max_prepared_statements = 0\n"
	              "server_reset_query =\n"
	              "server_reset_query_always = yes\n"
	              "server_check_query = SELECT 2\n"
	              "server_check_delay = 250ms\n"
	              "server_lifetime = 2h\n"
	              "server_idle_timeout = 5min\n"
	              "server_connect_timeout = 3s\n"
	              "server_login_retry = 0.001\n"
	              "breaker_failures = 5\n"
	              "breaker_backoff = 500ms\n"
	              "breaker_backoff_max = 1min\n"
	              "read_routing = Replicas_And_Primary\n"
	              "balancing = weighted\n"
	              "read_your_writes = window\n"
	              "read_after_write_delay = 250ms\n"
	              "replica_check_period = 2s\n"
	              "max_replica_lag = 0\n"
	              "query_timeout = 30\n"
	              "query_wait_timeout = 0\n"
	              "client_idle_timeout = 1 min\n"
	              "client_login_timeout = 9\n"
	              "idle_transaction_timeout = 10\n"
	              "notify_stall_timeout = 1.5\n"
	              "ignore_startup_parameters = extra_float_digits, options\n"
	              "track_extra_parameters = IntervalStyle, search_path\n"
	              "max_packet_size = 1MB\n"
	              "pkt_buf = 8kB\n"
	              "sbuf_loopcnt = 0\n"
	              "analyze = off\n"
	              "analyze_max_bytes = 1024\n"
	              "capture = TRUE\n"
	              "capture_dir = /var/lib/pgscope\n"
	              "capture_compress = on\n"
	              "capture_max_bytes = 0\n"
	              "capture_max_age = 15min\n"
	              "capture_literals = yes\n"
	              "capture_queue_size = 64kB\n"
	              "logfile = /var/log/pgscope.log\n"
	              "pidfile = /run/pgscope.pid\n"
	              "shutdown_timeout = 2.5\n"
	              "takeover_socket = /run/pgscope/control\n"
	              "log_format = json\n"
	              "log_level = warning\n"
	              "log_connections = 0\n"
	              "log_disconnections = false\n"
	              "log_pooler_errors = no\n");
	assert_string_equal(cfg.listen_addr, "*");
	assert_int_equal(cfg.listen_port, 7432);
	assert_string_equal(cfg.unix_socket_dir, ""); /* empty: no Unix socket */
	assert_int_equal(cfg.unix_socket_mode, 0700);
	assert_int_equal(cfg.listen_backlog, 64);
	assert_int_equal(cfg.auth_type, AUTH_MD5);
	assert_string_equal(cfg.auth_file, "/etc/pgscope/users.txt");
	assert_string_equal(cfg.admin_users[0], "root");
	assert_string_equal(cfg.admin_users[1], "ops");
	assert_string_equal(cfg.admin_users[2], "dba");
	assert_null(cfg.admin_users[3]);
	assert_true(config_list_has(cfg.stats_users, "mon"));
	assert_int_equal(cfg.pool_mode, POOL_MODE_STATEMENT);
	assert_int_equal(cfg.default_pool_size, 0);
	assert_int_equal(cfg.min_pool_size, 3);
	assert_int_equal(cfg.reserve_pool_size, 4);
	assert_int_equal(cfg.reserve_pool_timeout, 2500);
	assert_int_equal(cfg.max_client_conn, 1000);
	assert_int_equal(cfg.max_db_connections, 11);
	assert_int_equal(cfg.max_user_connections, 12);
	assert_int_equal(cfg.max_prepared_statements, 0);
	assert_string_equal(cfg.server_reset_query, "");
	assert_true(cfg.server_reset_query_always);
	assert_string_equal(cfg.server_check_query, "SELECT 2");
	assert_int_equal(cfg.server_check_delay, 250);
	assert_int_equal(cfg.server_lifetime, 7200000);
	assert_int_equal(cfg.server_idle_timeout, 300000);
	assert_int_equal(cfg.server_connect_timeout, 3000);
	assert_int_equal(cfg.server_login_retry, 1);
	assert_int_equal(cfg.breaker_failures, 5);
	assert_int_equal(cfg.breaker_backoff, 500);
	assert_int_equal(cfg.breaker_backoff_max, 60000);
	assert_int_equal(cfg.read_routing, READ_ROUTING_REPLICAS_AND_PRIMARY);
	assert_int_equal(cfg.balancing, BALANCING_WEIGHTED);
	assert_int_equal(cfg.read_your_writes, RYW_WINDOW);
	assert_int_equal(cfg.read_after_write_delay, 250);
	assert_int_equal(cfg.replica_check_period, 2000);
	assert_int_equal(cfg.max_replica_lag, 0);
	assert_int_equal(cfg.query_timeout, 30000);
	assert_int_equal(cfg.query_wait_timeout, 0);
	assert_int_equal(cfg.client_idle_timeout, 60000);
	assert_int_equal(cfg.client_login_timeout, 9000);
	assert_int_equal(cfg.idle_transaction_timeout, 10000);
	assert_int_equal(cfg.notify_stall_timeout, 1500);
	assert_true(config_list_has(cfg.ignore_startup_parameters, "extra_float_digits"));
	assert_true(config_list_has(cfg.ignore_startup_parameters, "options"));
	assert_false(config_list_has(cfg.ignore_startup_parameters, "application_name"));
	assert_true(config_list_has(cfg.track_extra_parameters, "search_path"));
	assert_int_equal(cfg.max_packet_size, 1024 * 1024);
	assert_int_equal(cfg.pkt_buf, 8192);
	assert_int_equal(cfg.sbuf_loopcnt, 0);
	assert_false(cfg.analyze);
	assert_int_equal(cfg.analyze_max_bytes, 1024);
	assert_true(cfg.capture);
	assert_string_equal(cfg.capture_dir, "/var/lib/pgscope");
	assert_true(cfg.capture_compress);
	assert_int_equal(cfg.capture_max_bytes, 0);
	assert_int_equal(cfg.capture_max_age, 900000);
	assert_true(cfg.capture_literals);
	assert_int_equal(cfg.capture_queue_size, 65536);
	assert_string_equal(cfg.logfile, "/var/log/pgscope.log");
	assert_string_equal(cfg.pidfile, "/run/pgscope.pid");
	assert_int_equal(cfg.shutdown_timeout, 2500);
	assert_string_equal(cfg.takeover_socket, "/run/pgscope/control");
	assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
	assert_int_equal(cfg.log_level, LOG_WARNING);
	assert_false(cfg.log_connections);
	assert_false(cfg.log_disconnections);
	assert_false(cfg.log_pooler_errors);
	config_free(&cfg);
}

/* The keys a PgBouncer install uses that pgscope does not; each must warn exactly once. */
static const char *const sample_unused[] = {
    "unix_socket_group",
    "server_round_robin",
    "syslog",
    "syslog_facility",
    "syslog_ident",
    "log_stats",
    "cancel_wait_timeout",
    "autodb_idle_timeout",
    "suspend_timeout",
    "dns_max_ttl",
    "dns_nxdomain_ttl",
    "dns_zone_check_period",
    "so_reuseport",
    "tcp_defer_accept",
    "tcp_socket_buffer",
    "application_name_add_host",
    "databases.auth_user",
};

static void test_pgbouncer_ini_loads_unchanged(void **state)
{
	struct config cfg;
	char path[PATH_MAX + 64], err[512], needle[128];
	const struct db_config *db;
	char *warnings;
	size_t n_unused = sizeof(sample_unused) / sizeof(sample_unused[0]);

	snprintf(path, sizeof(path), "%s/pgbouncer.ini", datadir);
	if (!config_load(&cfg, path, err, sizeof(err)))
		fail_msg("pgbouncer.ini rejected: %s", err);

	/* Read from the [pgbouncer] section, the alias of [pgscope]. */
	assert_string_equal(cfg.listen_addr, "127.0.0.1, ::1");
	assert_int_equal(cfg.listen_port, 6432);
	assert_string_equal(cfg.unix_socket_dir, "/var/run/postgresql");
	assert_int_equal(cfg.unix_socket_mode, 0770);
	assert_int_equal(cfg.auth_type, AUTH_SCRAM);
	assert_string_equal(cfg.auth_file, "/etc/pgbouncer/userlist.txt");
	assert_true(config_list_has(cfg.admin_users, "admin"));
	assert_true(config_list_has(cfg.stats_users, "monitor"));
	assert_int_equal(cfg.pool_mode, POOL_MODE_TRANSACTION);
	assert_int_equal(cfg.max_client_conn, 500);
	assert_int_equal(cfg.default_pool_size, 25);
	assert_int_equal(cfg.reserve_pool_timeout, 3000);
	assert_int_equal(cfg.max_packet_size, 2147483647);
	assert_int_equal(cfg.max_prepared_statements, 100);
	assert_string_equal(cfg.logfile, "/var/log/postgresql/pgbouncer.log");
	assert_int_equal(cfg.log_level, LOG_INFO); /* verbose = 0 leaves it */
	assert_true(config_list_has(cfg.track_extra_parameters, "IntervalStyle"));
	assert_true(cfg.tcp_keepalive);
	assert_int_equal(cfg.tcp_keepcnt, 3);
	assert_int_equal(cfg.tcp_keepidle, 30);
	assert_int_equal(cfg.tcp_keepintvl, 10);
	assert_int_equal(cfg.tcp_user_timeout, 0);

	assert_int_equal(cfg.n_dbs, 5);
	db = config_find_db(&cfg, "reports");
	assert_non_null(db);
	assert_string_equal(db->password, "s3cret word");
	assert_int_equal(db->reserve_pool, 2);
	db = config_find_db(&cfg, "legacy");
	assert_string_equal(db->host, "/var/run/postgresql");
	assert_int_equal(db->reserve_pool, 3);
	db = config_find_db(&cfg, "analytics");
	assert_string_equal(db->datestyle, "ISO, MDY");
	assert_string_equal(db->application_name, "bi");
	assert_int_equal(cfg.n_users, 2);
	assert_int_equal(cfg.stats_period, 60000); /* read now: the stats lines and averages */
	config_free(&cfg);

	/* Exactly one warning per unused key, each naming file, line and key. */
	warnings = slurp(logpath);
	assert_int_equal(count(warnings, "event=config.ignored_key"), n_unused);
	assert_int_equal(count(warnings, "level=warning"), n_unused);
	for (size_t i = 0; i < n_unused; i++) {
		snprintf(needle, sizeof(needle), " key=%s ", sample_unused[i]);
		if (count(warnings, needle) != 1)
			fail_msg("expected one warning for %s in:\n%s", sample_unused[i], warnings);
	}
	assert_non_null(strstr(warnings, "pgbouncer.ini line=90 key=tcp_socket_buffer "));
	free(warnings);
	/* The TLS keys are read with PgBouncer's meanings. */
	assert_true(config_load(&cfg, path, err, sizeof(err)));
	assert_int_equal(cfg.client_tls_sslmode, TLS_DISABLE);
	assert_int_equal(cfg.server_tls_sslmode, TLS_PREFER);
	assert_string_equal(cfg.client_tls_protocols, "secure");
	assert_string_equal(cfg.client_tls_ciphers, "default");
	assert_string_equal(cfg.auth_user, "pgbouncer");
	assert_string_equal(cfg.auth_query,
	                    "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
	config_free(&cfg);
}

static void test_unused_key_warns_once(void **state)
{
	struct config cfg;
	char *warnings;

	load_ok(&cfg, "[pgscope]\ntcp_defer_accept = 1\n[pgbouncer]\nTCP_DEFER_ACCEPT = 0\n"
	              "[databases]\na = auth_user=x\nb = auth_user=y\n[peers]\n1 = host=x\n");
	config_free(&cfg);
	warnings = slurp(logpath);
	assert_int_equal(count(warnings, "key=tcp_defer_accept "), 1);
	assert_int_equal(count(warnings, "key=databases.auth_user "), 1);
	assert_int_equal(count(warnings, "key=[peers] "), 1);
	assert_int_equal(count(warnings, "\n"), 3);
	free(warnings);
}

/*
 * Keys that are read and checked but not acted on: set to anything but the
 * default, each warns once, naming file, line and key; at its default, none.
 */
static void test_unacted_keys_warn_when_set(void **state)
{
	static const char *const unacted[] = {
	    "track_extra_parameters",
	    "sbuf_loopcnt",
	    "log_pooler_errors",
	};
	struct config cfg;
	char needle[128];
	char *warnings;

	load_ok(&cfg, "[pgscope]\n"
	              "query_timeout = 0\nclient_idle_timeout = 0\nidle_transaction_timeout = 0\n"
	              "sbuf_loopcnt = 5\nlog_pooler_errors = on\n"
	              "track_extra_parameters = intervalstyle\n"
	              "admin_users =\nstats_users =\n");
	config_free(&cfg);
	warnings = slurp(logpath);
	assert_string_equal(warnings, "");
	free(warnings);

	load_ok(&cfg, "[pgscope]\n"
	              "admin_users = root\nstats_users = mon\n"
	              "query_timeout = 5\nquery_timeout = 6\n"
	              "client_idle_timeout = 1min\nidle_transaction_timeout = 10\n"
	              "track_extra_parameters = IntervalStyle, search_path\n"
	              "sbuf_loopcnt = 0\nlog_pooler_errors = off\n");
	config_free(&cfg);
	warnings = slurp(logpath);
	for (size_t i = 0; i < sizeof(unacted) / sizeof(unacted[0]); i++) {
		snprintf(needle, sizeof(needle), " key=%s ", unacted[i]);
		if (count(warnings, needle) != 1)
			fail_msg("expected one warning for %s in:\n%s", unacted[i], warnings);
	}
	assert_int_equal(count(warnings, "\n"), sizeof(unacted) / sizeof(unacted[0]));
	assert_non_null(
	    strstr(warnings,
	           "ok.ini line=8 key=track_extra_parameters reason=\"not supported yet; ignored"));
	free(warnings);
}

/*
 * query_timeout per database and per user, idle timeouts per user: the most
 * specific value wins (user, then database, then global); 0 turns it off.
 */
static void test_client_timeouts(void **state)
{
	struct client_timeouts t;
	struct db_config *inst;
	struct config cfg;

	load_ok(&cfg,
	        "[pgscope]\nquery_timeout = 10\nidle_transaction_timeout = 20\n"
	        "client_idle_timeout = 30\n"
	        "[databases]\nslow = host=x query_timeout=2min\nfast = host=x query_timeout=500ms\n"
	        "off = host=x query_timeout=0\nplain = host=x\n* = host=y query_timeout=3\n"
	        "[users]\nbatch = query_timeout=0 idle_transaction_timeout=1.5\n"
	        "web = client_idle_timeout=5s\n");
	config_client_timeouts(&cfg, config_find_db(&cfg, "plain"), "someone", &t);
	assert_int_equal(t.query, 10000);
	assert_int_equal(t.idle_transaction, 20000);
	assert_int_equal(t.client_idle, 30000);
	config_client_timeouts(&cfg, config_find_db(&cfg, "slow"), "someone", &t);
	assert_int_equal(t.query, 120000);
	config_client_timeouts(&cfg, config_find_db(&cfg, "fast"), "web", &t);
	assert_int_equal(t.query, 500);
	assert_int_equal(t.client_idle, 5000);
	assert_int_equal(t.idle_transaction, 20000);
	config_client_timeouts(&cfg, config_find_db(&cfg, "off"), "someone", &t);
	assert_int_equal(t.query, 0);
	/* The user's value wins over the database's, even when it turns the limit off. */
	config_client_timeouts(&cfg, config_find_db(&cfg, "slow"), "batch", &t);
	assert_int_equal(t.query, 0);
	assert_int_equal(t.idle_transaction, 1500);
	assert_int_equal(t.client_idle, 30000);
	/* A database served by "*" takes the fallback's value. */
	inst = config_db_instantiate(config_find_db(&cfg, "other"), "other");
	assert_non_null(inst);
	config_client_timeouts(&cfg, inst, "someone", &t);
	assert_int_equal(t.query, 3000);
	config_db_free(inst);
	config_free(&cfg);

	load_fails("[databases]\nshop = host=x query_timeout=soon\n", 2, "shop",
	           "query_timeout: 'soon' is not a time");
	load_fails("[users]\nbob = client_idle_timeout=-1\n", 2, "bob", "client_idle_timeout");
}

static void test_pgscope_and_pgbouncer_sections_are_one(void **state)
{
	struct config cfg;

	/* A byte order mark, CRLF line ends and a comment after a header are all fine. */
	load_ok(&cfg, "\xef\xbb\xbf[pgbouncer] ; main\r\nlisten_port = 7002\r\n");
	assert_int_equal(cfg.listen_port, 7002);
	config_free(&cfg);

	load_ok(&cfg, "[pgbouncer]\nlisten_port = 7000\n[pgscope]\ndefault_pool_size = 3\n"
	              "[PgBouncer]\nlisten_port = 7001\n");
	assert_int_equal(cfg.listen_port, 7001); /* later wins */
	assert_int_equal(cfg.default_pool_size, 3);
	config_free(&cfg);
}

static void test_unknown_key_is_an_error(void **state)
{
	load_fails("[pgscope]\nlisten_port = 6432\n\nlisten_prot = 6432\n", 4, "listen_prot",
	           "unknown setting");
	load_fails("[databases]\nshop = host=x colour=blue\n", 2, "shop",
	           "unknown connection parameter 'colour'");
	load_fails("[users]\nbob = pool_mode=session shoe_size=9\n", 2, "bob", "shoe_size");
}

/* TLS modes are checked by name, and against the files they need. */
static void test_tls_settings_checked(void **state)
{
	struct config cfg;

	load_fails("[pgscope]\nserver_tls_sslmode = always\n", 2, "server_tls_sslmode",
	           "not a TLS mode");
	load_fails("[pgbouncer]\nclient_tls_sslmode = require\n", 2, "client_tls_sslmode",
	           "needs client_tls_key_file and client_tls_cert_file");
	load_fails("[pgbouncer]\nclient_tls_sslmode = verify-ca\nclient_tls_key_file = k\n"
	           "client_tls_cert_file = c\n",
	           2, "client_tls_ca_file", "cannot be checked without a CA file");
	load_fails("[pgscope]\nauth_type = cert\nclient_tls_ca_file = ca\n", 2, "auth_type",
	           "cert needs client_tls_sslmode");
	load_fails("[pgscope]\nserver_tls_key_file = k\n", 0, "server_tls_cert_file",
	           "go together");
	load_ok(&cfg, "[pgscope]\nserver_tls_sslmode = verify-full\nclient_tls_sslmode = allow\n"
	              "client_tls_key_file = k\nclient_tls_cert_file = c\n");
	assert_int_equal(cfg.server_tls_sslmode, TLS_VERIFY_FULL);
	assert_int_equal(cfg.client_tls_sslmode, TLS_ALLOW);
	config_free(&cfg);
}

static void test_bad_values_name_line_and_key(void **state)
{
	load_fails("[pgscope]\nlisten_port = 70000\n", 2, "listen_port", "out of range");
	load_fails("[pgscope]\nlisten_port = 0\n", 2, "listen_port", "out of range");
	load_fails("[pgscope]\nlisten_port = 64x\n", 2, "listen_port", "not an integer");
	load_fails("[pgscope]\nlisten_port =\n", 2, "listen_port", "not an integer");
	load_fails("[pgscope]\n; c\nlog_connections = maybe\n", 3, "log_connections",
	           "not a boolean");
	load_fails("[pgscope]\nmax_packet_size = -1\n", 2, "max_packet_size", "not a size");
	load_fails("[pgscope]\nmax_packet_size = 100\n", 2, "max_packet_size", "out of range");
	load_fails("[pgscope]\nmax_packet_size = 3GB\n", 2, "max_packet_size", "out of range");
	load_fails("[pgscope]\npkt_buf = 4 parsecs\n", 2, "pkt_buf", "not a size");
	load_fails("[pgscope]\nanalyze_max_bytes = 0\n", 2, "analyze_max_bytes", "out of range");
	load_fails("[pgscope]\ncapture_queue_size = 1kB\n", 2, "capture_queue_size",
	           "out of range");
	load_fails("[pgscope]\ndefault_pool_size = -1\n", 2, "default_pool_size", "out of range");
	load_fails("[pgscope]\nmax_client_conn = 99999999999999999999\n", 2, "max_client_conn",
	           "out of range");
	load_fails("[pgscope]\nquery_timeout = -1\n", 2, "query_timeout", "not a time");
	load_fails("[pgscope]\nquery_timeout = 1e3\n", 2, "query_timeout", "not a time");
	load_fails("[pgscope]\nquery_timeout = 5 days\n", 2, "query_timeout", "not a time");
	load_fails("[pgscope]\nquery_timeout = nan\n", 2, "query_timeout", "not a time");
	load_fails("[pgscope]\nserver_lifetime = 1000h\n", 2, "server_lifetime", "out of range");
	load_fails("[pgscope]\npool_mode = sometimes\n", 2, "pool_mode", "not a pool mode");
	load_fails("[pgscope]\nauth_type = pam\n", 2, "auth_type", "does not implement");
	load_fails("[pgscope]\nauth_type = hba\n", 2, "auth_type", "hba needs auth_hba_file");
	load_fails("[pgscope]\nauth_type = kerberos\n", 2, "auth_type", "not an auth type");
	load_fails("[pgscope]\nlog_format = xml\n", 2, "log_format", "not a log format");
	load_fails("[pgscope]\nlog_level = chatty\n", 2, "log_level", "not a log level");
	load_fails("[pgscope]\nunix_socket_mode = 0789\n", 2, "unix_socket_mode", "octal");
	load_fails("[pgscope]\nverbose = -1\n", 2, "verbose", "out of range");
	load_fails("[databases]\nshop = port=70000\n", 2, "shop", "port");
	load_fails("[databases]\nshop = pool_size=-2\n", 2, "shop", "pool_size");
	load_fails("[databases]\nshop = pool_mode=weekly\n", 2, "shop", "pool_mode");
	load_fails("[databases]\nshop = host='unterminated\n", 2, "shop", "unterminated");
	load_fails("[databases]\nshop = host\n", 2, "shop", "missing '='");
	load_fails("[databases]\nshop = replicas=a:1,b:99999\n", 2, "shop", "out of range");
	load_fails("[databases]\nshop = replicas=::1:5432\n", 2, "shop", "not host:port");
	load_fails("[databases]\nshop = replicas=a:1@0\n", 2, "shop", "out of range");
	load_fails("[databases]\nshop = read_routing=sometimes\n", 2, "shop", "not one of");
	load_fails("[pgscope]\nread_routing = yes\n", 2, "read_routing",
	           "not one of off replicas replicas_and_primary");
	load_fails("[pgscope]\nbalancing = random\n", 2, "balancing", "not one of");
	load_fails("[pgscope]\nread_your_writes = maybe\n", 2, "read_your_writes", "not one of");
	load_fails("[users]\nbob = max_user_connections=-1\n", 2, "bob", "max_user_connections");
}

static void test_structural_errors(void **state)
{
	load_fails("listen_port = 6432\n", 1, "listen_port", "outside a section");
	load_fails("[pgscope]\n[nonsense]\n", 2, NULL, "unknown section [nonsense]");
	load_fails("[pgscope\n", 1, NULL, "malformed section");
	load_fails("[pgscope] x\n", 1, NULL, "malformed section");
	load_fails("[pgscope]\njust words\n", 2, NULL, "expected 'key = value'");
	load_fails("[pgscope]\n= 5\n", 2, NULL, "missing key");
}

static void test_cross_checks(void **state)
{
	struct config cfg;

	load_fails("[pgscope]\nlisten_port = 1\nauth_type = scram-sha-256\n", 3, "auth_type",
	           "needs auth_file");
	load_fails("[pgscope]\ncapture = on\n", 2, "capture", "capture_dir");
	load_ok(&cfg, "[pgscope]\nauth_type = any\n");
	assert_int_equal(cfg.auth_type, AUTH_ANY);
	config_free(&cfg);
}

static void test_missing_file(void **state)
{
	struct config cfg;
	char err[512], path[400];

	snprintf(path, sizeof(path), "%s/does-not-exist.ini", tmpdir);
	assert_false(config_load(&cfg, path, err, sizeof(err)));
	assert_non_null(strstr(err, "does-not-exist.ini: cannot open: "));
	assert_null(cfg.path);
}

static void test_databases(void **state)
{
	struct config cfg;
	const struct db_config *db;

	load_ok(&cfg,
	        "[databases]\n"
	        "plain =\n"
	        "shop = host=db1 port=5433 dbname=shop_prod user=app password=pw "
	        "connect_query='SET search_path = a, b'\n"
	        "\"my \"\"db\"\"\" = host = db2  dbname='with ''quote''' password=back\\slash "
	        "min_pool_size=1 reserve_pool=4 max_db_connections=9 pool_mode=transaction\n"
	        "ro = host=primary replicas='r1:5433@3, r2 ,[::1]:6000' port=6543 "
	        "read_routing=replicas\n"
	        "* = host=fallback port=5999\n"
	        "plain = host=redefined\n");
	assert_int_equal(cfg.n_dbs, 5);

	db = config_find_db(&cfg, "plain");
	assert_non_null(db);
	assert_string_equal(db->host, "redefined"); /* the later definition wins */
	assert_string_equal(db->dbname, "plain");   /* dbname defaults to the name */
	assert_int_equal(db->port, 5432);
	assert_null(db->user);
	assert_null(db->password);
	assert_null(db->connect_query);
	assert_null(db->client_encoding);
	assert_int_equal(db->pool_size, -1);
	assert_int_equal(db->min_pool_size, -1);
	assert_int_equal(db->reserve_pool, -1);
	assert_int_equal(db->max_db_connections, -1);
	assert_int_equal(db->pool_mode, POOL_MODE_UNSET);
	assert_null(db->replicas);
	assert_int_equal(db->read_routing, -1);
	assert_int_equal(db->line, 7);

	db = config_find_db(&cfg, "shop");
	assert_string_equal(db->host, "db1");
	assert_int_equal(db->port, 5433);
	assert_string_equal(db->dbname, "shop_prod");
	assert_string_equal(db->user, "app");
	assert_string_equal(db->password, "pw");
	assert_string_equal(db->connect_query, "SET search_path = a, b");

	db = config_find_db(&cfg, "my \"db\"");
	assert_non_null(db);
	assert_string_equal(db->host, "db2");
	assert_string_equal(db->dbname, "with 'quote'");
	assert_string_equal(db->password,
	                    "back\\slash"); /* a backslash is literal, as in PgBouncer */
	assert_int_equal(db->min_pool_size, 1);
	assert_int_equal(db->reserve_pool, 4);
	assert_int_equal(db->max_db_connections, 9);
	assert_int_equal(db->pool_mode, POOL_MODE_TRANSACTION);
	assert_int_equal(db->line, 4);

	db = config_find_db(&cfg, "ro");
	assert_non_null(db->replicas);
	assert_string_equal(db->replicas[0], "r1:5433@3");
	assert_string_equal(db->replicas[1], "r2:6543"); /* no port: the entry's port */
	assert_string_equal(db->replicas[2], "[::1]:6000");
	assert_null(db->replicas[3]);
	assert_int_equal(db->read_routing, READ_ROUTING_REPLICAS);

	/* Unknown names fall back to "*", whose dbname is the client's. */
	db = config_find_db(&cfg, "anything");
	assert_non_null(db);
	assert_string_equal(db->name, "*");
	assert_string_equal(db->host, "fallback");
	assert_int_equal(db->port, 5999);
	assert_null(db->dbname);
	config_free(&cfg);

	load_ok(&cfg, "[databases]\nonly = host=x\n");
	assert_null(config_find_db(&cfg, "other"));
	config_free(&cfg);
}

static void test_fallback_instantiated_per_database(void **state)
{
	struct config cfg;
	struct db_config *a, *b;

	load_ok(&cfg, "[databases]\n* = host=fb port=5999 user=u pool_size=3 "
	              "replicas='r1:1,r2:2' read_routing=replicas\nfixed = host=x\n"
	              "[databases]\n");
	a = config_db_instantiate(config_find_db(&cfg, "orders"), "orders");
	assert_non_null(a);
	assert_string_equal(a->name, "orders");
	assert_string_equal(a->dbname, "orders"); /* the database the client asked for */
	assert_string_equal(a->host, "fb");
	assert_int_equal(a->port, 5999);
	assert_string_equal(a->user, "u");
	assert_int_equal(a->pool_size, 3);
	assert_string_equal(a->replicas[1], "r2:2");
	assert_null(a->replicas[2]);
	assert_int_equal(a->read_routing, READ_ROUTING_REPLICAS);
	config_free(&cfg); /* the copy owns its strings */
	assert_string_equal(a->host, "fb");
	assert_string_equal(a->replicas[0], "r1:1");
	config_db_free(a);

	load_ok(&cfg, "[databases]\n* = host=fb dbname=shared\n");
	b = config_db_instantiate(config_find_db(&cfg, "x"), "x");
	assert_string_equal(b->name, "x");
	assert_string_equal(b->dbname, "shared"); /* "*" named a database: kept */
	assert_null(b->replicas);
	config_db_free(b);
	config_db_free(NULL);
	config_free(&cfg);
}

static void test_connstr_quoting_as_pgbouncer(void **state)
{
	struct config cfg;
	const struct db_config *db;

	load_ok(&cfg, "[databases]\n'odd-name' = password='it''s' user=''''\n");
	db = config_find_db(&cfg, "odd-name");
	assert_non_null(db);
	assert_string_equal(db->password, "it's");
	assert_string_equal(db->user, "'");
	config_free(&cfg);
	load_fails("[databases]\nshop = password='a'b\n", 2, "shop", "after the quoted value");
	load_fails("[databases]\nshop = host=\n", 2, "shop", "empty value for 'host'");
	load_fails("[databases]\nshop = host=''\n", 2, "shop", "empty value for 'host'");
}

static void test_users_and_pool_mode_order(void **state)
{
	struct config cfg;
	const struct db_config *tx, *plain;
	const struct user_config *u;
	char *warnings;

	load_ok(&cfg, "[pgscope]\npool_mode = session\n"
	              "[databases]\ntx = host=a pool_mode=transaction\nplain = host=b\n"
	              "[users]\nbatch = pool_mode=statement max_user_connections=7\n"
	              "limited = max_user_connections=2 reserve_pool_size=5\n");
	tx = config_find_db(&cfg, "tx");
	plain = config_find_db(&cfg, "plain");
	assert_int_equal(cfg.n_users, 2);
	u = config_find_user(&cfg, "batch");
	assert_non_null(u);
	assert_int_equal(u->pool_mode, POOL_MODE_STATEMENT);
	assert_int_equal(u->max_user_connections, 7);
	u = config_find_user(&cfg, "limited");
	assert_int_equal(u->pool_mode, POOL_MODE_UNSET);
	assert_int_equal(u->max_user_connections, 2);
	assert_int_equal(u->line, 8);
	assert_null(config_find_user(&cfg, "nobody"));

	/* [users] > [databases] > global. */
	assert_int_equal(config_pool_mode(&cfg, tx, "batch"), POOL_MODE_STATEMENT);
	assert_int_equal(config_pool_mode(&cfg, tx, "limited"), POOL_MODE_TRANSACTION);
	assert_int_equal(config_pool_mode(&cfg, tx, "nobody"), POOL_MODE_TRANSACTION);
	assert_int_equal(config_pool_mode(&cfg, plain, "batch"), POOL_MODE_STATEMENT);
	assert_int_equal(config_pool_mode(&cfg, plain, "nobody"), POOL_MODE_SESSION);
	assert_int_equal(config_pool_mode(&cfg, NULL, NULL), POOL_MODE_SESSION);
	config_free(&cfg);

	warnings = slurp(logpath);
	assert_int_equal(count(warnings, "key=users.reserve_pool_size "), 1);
	free(warnings);
}

static void test_rules_verbatim(void **state)
{
	struct config cfg;

	load_ok(&cfg, "[rules]\nselect-star = off\nMissing-Limit.threshold = 1000 rows ; kept\n"
	              "anything.at.all = ''\nselect-star = error\n");
	assert_int_equal(cfg.n_rules, 3);
	assert_string_equal(cfg.rules[0].key, "select-star");
	assert_string_equal(cfg.rules[0].value, "error"); /* redefined: the later value */
	assert_int_equal(cfg.rules[0].line, 5);
	assert_string_equal(cfg.rules[1].key, "Missing-Limit.threshold");
	assert_string_equal(cfg.rules[1].value, "1000 rows ; kept");
	assert_int_equal(cfg.rules[1].line, 3);
	assert_string_equal(cfg.rules[2].value, "''");
	config_free(&cfg);
}

static void test_include_relative_to_cwd(void **state)
{
	struct config cfg;
	char err[512];
	const struct db_config *db;

	/* PgBouncer resolves a relative %include from the current directory. */
	assert_int_equal(chdir(datadir), 0);
	if (!config_load(&cfg, "with_include.ini", err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(cfg.listen_port, 7000);
	assert_int_equal(cfg.max_client_conn, 42); /* section carried into the include */
	assert_int_equal(cfg.default_pool_size, 7);
	db = config_find_db(&cfg, "inc");
	assert_non_null(db);
	assert_int_equal(db->port, 5544);
	assert_int_equal(db->line, 5); /* line within the included file */
	config_free(&cfg);
}

static void test_include_errors(void **state)
{
	char text[600];

	/* An error inside an included file names that file and its line. */
	write_ini("inner.ini", "; inner\nlisten_port = nope\n");
	snprintf(text, sizeof(text), "[pgscope]\n%%include %s/inner.ini\n", tmpdir);
	{
		struct config cfg;
		char err[512], want[512];
		const char *path = write_ini("outer.ini", text);

		assert_false(config_load(&cfg, path, err, sizeof(err)));
		snprintf(want, sizeof(want), "%s/inner.ini:2: key 'listen_port': ", tmpdir);
		assert_memory_equal(err, want, strlen(want));
	}
	/* A missing include fails at the %include line. */
	load_fails("[pgscope]\n\n%include /nonexistent/pgscope.ini\n", 3, NULL, "cannot open");
	/* A file including itself stops at the depth limit. */
	snprintf(text, sizeof(text), "[pgscope]\n%%include %s/bad.ini\n", tmpdir);
	load_fails(text, 2, NULL, "nested");
	load_fails("[pgscope]\n%include\n", 2, NULL, "needs a file name");
}

static void test_verbose_maps_to_debug(void **state)
{
	struct config cfg;

	load_ok(&cfg, "[pgbouncer]\nverbose = 2\n");
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	config_free(&cfg);
	load_ok(&cfg, "[pgbouncer]\nlog_level = error\nverbose = 0\n");
	assert_int_equal(cfg.log_level, LOG_ERROR);
	config_free(&cfg);
}

static void test_sizes_and_times(void **state)
{
	struct config cfg;

	load_ok(&cfg, "[pgscope]\nmax_packet_size = 1024\npkt_buf = 1 KiB\n"
	              "analyze_max_bytes = 2M\nquery_timeout = .5\nquery_wait_timeout = 1.0004\n"
	              "client_idle_timeout = 0.0006\nserver_lifetime = 596h\n");
	assert_int_equal(cfg.max_packet_size, 1024);
	assert_int_equal(cfg.pkt_buf, 1024);
	assert_int_equal(cfg.analyze_max_bytes, 2 * 1024 * 1024);
	assert_int_equal(cfg.query_timeout, 500);
	assert_int_equal(cfg.query_wait_timeout, 1000); /* rounded to the millisecond */
	assert_int_equal(cfg.client_idle_timeout, 1);
	assert_int_equal(cfg.server_lifetime, 596 * 3600000);
	config_free(&cfg);
}

/* The value SHOW CONFIG gives for KEY. */
static const char *shown(const struct config *cfg, const char *key, char *out, size_t size)
{
	for (size_t i = 0; i < config_key_count(); i++) {
		const char *name = config_key_describe(cfg, i, out, size);

		if (strcmp(name, key) == 0)
			return out;
	}
	return NULL;
}

/* log_min_duration: off (-1) by default, -1 or a time, shown as set. */
static void test_log_min_duration(void **state)
{
	struct config cfg;
	char v[64];

	load_ok(&cfg, "[pgscope]\n");
	assert_int_equal(cfg.log_min_duration, -1);
	assert_string_equal(shown(&cfg, "log_min_duration", v, sizeof(v)), "-1");
	config_free(&cfg);
	load_ok(&cfg, "[pgscope]\nlog_min_duration = 250ms\n");
	assert_int_equal(cfg.log_min_duration, 250);
	assert_string_equal(shown(&cfg, "log_min_duration", v, sizeof(v)), "0.250");
	config_free(&cfg);
	load_ok(&cfg, "[pgscope]\nlog_min_duration = 0\n");
	assert_int_equal(cfg.log_min_duration, 0);
	config_free(&cfg);
	load_ok(&cfg, "[pgscope]\nlog_min_duration = 2\nlog_min_duration = -1\n");
	assert_int_equal(cfg.log_min_duration, -1);
	config_free(&cfg);
	load_fails("[pgscope]\nlog_min_duration = -2\n", 2, "log_min_duration", "not a time");
	load_fails("[pgscope]\nlog_min_duration = -1ms\n", 2, "log_min_duration", "not a time");
}

/*
 * Damaged copies of the sample file (bytes changed, lines cut, garbage
 * inserted) must each load or fail with a FILE:LINE message; never crash or
 * leak (run under ASan to see the latter). The seed is fixed so a failure
 * repeats.
 */
static void test_damaged_files_fail_cleanly(void **state)
{
	static const char junk[] = "=[]'\"%#;\\ \t\n,:*\x01\xff";
	char sample[PATH_MAX + 64], err[512];
	char *orig, *buf;
	size_t len;
	unsigned int seed = 12345;
	int loaded = 0, failed = 0;

	snprintf(sample, sizeof(sample), "%s/pgbouncer.ini", datadir);
	orig = slurp(sample);
	len = strlen(orig);
	buf = malloc(len + 64);
	assert_non_null(buf);
	for (int iter = 0; iter < 400; iter++) {
		struct config cfg;
		size_t n = len;
		const char *path;

		memcpy(buf, orig, len + 1);
		for (int k = 0; k < 1 + iter % 8; k++) {
			size_t at = (size_t)rand_r(&seed) % n;

			buf[at] = junk[(size_t)rand_r(&seed) % (sizeof(junk) - 1)];
		}
		if (iter % 5 == 0)
			n = (size_t)rand_r(&seed) % n; /* cut short, maybe mid-line */
		buf[n] = '\0';
		path = write_ini("damaged.ini", buf);
		if (config_load(&cfg, path, err, sizeof(err))) {
			loaded++;
			config_free(&cfg);
			continue;
		}
		failed++;
		if (strncmp(err, path, strlen(path)) != 0 || err[strlen(path)] != ':')
			fail_msg("iteration %d: message without file and line: %s", iter, err);
	}
	/* Both outcomes must occur, or the damage is not exercising anything. */
	assert_true(loaded > 0);
	assert_true(failed > 0);
	free(buf);
	free(orig);
}

static void test_names(void **state)
{
	char *list[] = {"a", "bb", NULL};

	assert_string_equal(config_pool_mode_name(POOL_MODE_SESSION), "session");
	assert_string_equal(config_pool_mode_name(POOL_MODE_TRANSACTION), "transaction");
	assert_string_equal(config_pool_mode_name(POOL_MODE_STATEMENT), "statement");
	assert_string_equal(config_auth_type_name(AUTH_TRUST), "trust");
	assert_string_equal(config_auth_type_name(AUTH_ANY), "any");
	assert_string_equal(config_auth_type_name(AUTH_PLAIN), "plain");
	assert_string_equal(config_auth_type_name(AUTH_MD5), "md5");
	assert_string_equal(config_auth_type_name(AUTH_SCRAM), "scram-sha-256");
	assert_true(config_list_has(list, "bb"));
	assert_false(config_list_has(list, "b"));
	assert_false(config_list_has(NULL, "a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test_setup(test_empty_file_gives_defaults, setup_test),
	    cmocka_unit_test_setup(test_every_pgscope_key, setup_test),
	    cmocka_unit_test_setup(test_pgbouncer_ini_loads_unchanged, setup_test),
	    cmocka_unit_test_setup(test_unused_key_warns_once, setup_test),
	    cmocka_unit_test_setup(test_client_timeouts, setup_test),
	    cmocka_unit_test_setup(test_unacted_keys_warn_when_set, setup_test),
	    cmocka_unit_test_setup(test_pgscope_and_pgbouncer_sections_are_one, setup_test),
	    cmocka_unit_test_setup(test_unknown_key_is_an_error, setup_test),
	    cmocka_unit_test_setup(test_tls_settings_checked, setup_test),
	    cmocka_unit_test_setup(test_bad_values_name_line_and_key, setup_test),
	    cmocka_unit_test_setup(test_structural_errors, setup_test),
	    cmocka_unit_test_setup(test_cross_checks, setup_test),
	    cmocka_unit_test_setup(test_missing_file, setup_test),
	    cmocka_unit_test_setup(test_databases, setup_test),
	    cmocka_unit_test_setup(test_fallback_instantiated_per_database, setup_test),
	    cmocka_unit_test_setup(test_connstr_quoting_as_pgbouncer, setup_test),
	    cmocka_unit_test_setup(test_users_and_pool_mode_order, setup_test),
	    cmocka_unit_test_setup(test_rules_verbatim, setup_test),
	    cmocka_unit_test_setup(test_include_relative_to_cwd, setup_test),
	    cmocka_unit_test_setup(test_include_errors, setup_test),
	    cmocka_unit_test_setup(test_verbose_maps_to_debug, setup_test),
	    cmocka_unit_test_setup(test_sizes_and_times, setup_test),
	    cmocka_unit_test_setup(test_log_min_duration, setup_test),
	    cmocka_unit_test_setup(test_damaged_files_fail_cleanly, setup_test),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
