/* config.c - read the pgbouncer.ini-compatible configuration file (see config.h). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pooler/config.h"
#include "pooler/log.h"

/* Longest line accepted; a longer one is an error rather than a silent cut. */
#define CONFIG_LINE_MAX 65536

/* %include nesting limit, which also stops a file that includes itself. */
#define CONFIG_INCLUDE_DEPTH 10

/* Size units, in 64 bits so products of them never overflow int. */
#define KIB 1024LL
#define MIB (1024LL * KIB)
#define GIB (1024LL * MIB)

/* Largest time value: milliseconds must fit the int fields. */
#define CONFIG_TIME_MAX_MS INT_MAX

/* How a main-section value is parsed and stored. */
enum key_kind {
	KEY_INT,        /* int, decimal */
	KEY_COUNT,      /* size_t, decimal, no unit */
	KEY_SIZE,       /* size_t bytes, optional unit kB/MB/GB */
	KEY_BOOL,       /* bool */
	KEY_TIME,       /* int milliseconds; seconds (fractions allowed) or ms/s/min/h suffix */
	KEY_STR,        /* char *, kept as written ("" stays "") */
	KEY_PATH,       /* char *, "" stored as NULL (= not set) */
	KEY_LIST,       /* char **, comma-separated, NULL-terminated */
	KEY_OCTAL,      /* int, file mode like 0777 */
	KEY_POOL_MODE,  /* enum pool_mode */
	KEY_AUTH_TYPE,  /* enum auth_type */
	KEY_TLS_MODE,   /* enum tls_mode */
	KEY_LOG_FORMAT, /* enum log_format */
	KEY_LOG_LEVEL,  /* int, a log.h level name */
	KEY_VERBOSE,    /* int >= 0; > 0 sets log_level to debug */
	KEY_CHOICE,     /* int: the index of the value in choice_lists[min] */
};

/* One key of [pgscope]: adding a setting is adding a row here and a field in config.h. */
struct key_def {
	const char *name;
	enum key_kind kind;
	size_t offset;      /* of the field in struct config */
	long long min, max; /* accepted range for numbers (ms for times, bytes for sizes) */
};

#define F(field) offsetof(struct config, field)

/* The values of the KEY_CHOICE keys, in the order of their enums (config.h). */
enum { CHOICES_READ_ROUTING, CHOICES_BALANCING, CHOICES_READ_YOUR_WRITES };
static const char *const *const choice_lists[] = {
    [CHOICES_READ_ROUTING] = (const char *const[]){"off", "replicas", "replicas_and_primary", NULL},
    [CHOICES_BALANCING] =
        (const char *const[]){"round_robin", "least_connections", "weighted", NULL},
    [CHOICES_READ_YOUR_WRITES] = (const char *const[]){"lsn", "window", "off", NULL},
};

static const struct key_def main_keys[] = {
    {"listen_addr", KEY_STR, F(listen_addr), 0, 0},
    {"listen_port", KEY_INT, F(listen_port), 1, 65535},
    {"unix_socket_dir", KEY_STR, F(unix_socket_dir), 0, 0},
    {"unix_socket_mode", KEY_OCTAL, F(unix_socket_mode), 0, 07777},
    {"listen_backlog", KEY_INT, F(listen_backlog), 1, 65535},
    {"auth_type", KEY_AUTH_TYPE, F(auth_type), 0, 0},
    {"auth_file", KEY_PATH, F(auth_file), 0, 0},
    {"admin_users", KEY_LIST, F(admin_users), 0, 0},
    {"stats_users", KEY_LIST, F(stats_users), 0, 0},
    {"auth_hba_file", KEY_PATH, F(auth_hba_file), 0, 0},
    {"auth_query", KEY_STR, F(auth_query), 0, 0},
    {"auth_user", KEY_PATH, F(auth_user), 0, 0},
    {"auth_dbname", KEY_PATH, F(auth_dbname), 0, 0},
    {"client_tls_sslmode", KEY_TLS_MODE, F(client_tls_sslmode), 0, 0},
    {"client_tls_key_file", KEY_PATH, F(client_tls_key_file), 0, 0},
    {"client_tls_cert_file", KEY_PATH, F(client_tls_cert_file), 0, 0},
    {"client_tls_ca_file", KEY_PATH, F(client_tls_ca_file), 0, 0},
    {"client_tls_protocols", KEY_STR, F(client_tls_protocols), 0, 0},
    {"client_tls_ciphers", KEY_STR, F(client_tls_ciphers), 0, 0},
    {"server_tls_sslmode", KEY_TLS_MODE, F(server_tls_sslmode), 0, 0},
    {"server_tls_key_file", KEY_PATH, F(server_tls_key_file), 0, 0},
    {"server_tls_cert_file", KEY_PATH, F(server_tls_cert_file), 0, 0},
    {"server_tls_ca_file", KEY_PATH, F(server_tls_ca_file), 0, 0},
    {"server_tls_protocols", KEY_STR, F(server_tls_protocols), 0, 0},
    {"server_tls_ciphers", KEY_STR, F(server_tls_ciphers), 0, 0},
    {"pool_mode", KEY_POOL_MODE, F(pool_mode), 0, 0},
    {"default_pool_size", KEY_INT, F(default_pool_size), 0, 100000},
    {"min_pool_size", KEY_INT, F(min_pool_size), 0, 100000},
    {"reserve_pool_size", KEY_INT, F(reserve_pool_size), 0, 100000},
    {"reserve_pool_timeout", KEY_TIME, F(reserve_pool_timeout), 0, CONFIG_TIME_MAX_MS},
    {"max_client_conn", KEY_INT, F(max_client_conn), 1, 1000000},
    {"max_db_connections", KEY_INT, F(max_db_connections), 0, 1000000},
    {"max_user_connections", KEY_INT, F(max_user_connections), 0, 1000000},
    {"max_prepared_statements", KEY_INT, F(max_prepared_statements), 0, 1000000},
    {"server_reset_query", KEY_STR, F(server_reset_query), 0, 0},
    {"server_reset_query_always", KEY_BOOL, F(server_reset_query_always), 0, 0},
    {"server_check_query", KEY_STR, F(server_check_query), 0, 0},
    {"server_check_delay", KEY_TIME, F(server_check_delay), 0, CONFIG_TIME_MAX_MS},
    {"server_lifetime", KEY_TIME, F(server_lifetime), 0, CONFIG_TIME_MAX_MS},
    {"server_idle_timeout", KEY_TIME, F(server_idle_timeout), 0, CONFIG_TIME_MAX_MS},
    {"server_connect_timeout", KEY_TIME, F(server_connect_timeout), 0, CONFIG_TIME_MAX_MS},
    {"server_login_retry", KEY_TIME, F(server_login_retry), 0, CONFIG_TIME_MAX_MS},
    {"breaker_failures", KEY_INT, F(breaker_failures), 0, 1000000},
    {"breaker_backoff", KEY_TIME, F(breaker_backoff), 1, CONFIG_TIME_MAX_MS},
    {"breaker_backoff_max", KEY_TIME, F(breaker_backoff_max), 1, CONFIG_TIME_MAX_MS},
    {"read_routing", KEY_CHOICE, F(read_routing), CHOICES_READ_ROUTING, 0},
    {"balancing", KEY_CHOICE, F(balancing), CHOICES_BALANCING, 0},
    {"read_your_writes", KEY_CHOICE, F(read_your_writes), CHOICES_READ_YOUR_WRITES, 0},
    {"read_after_write_delay", KEY_TIME, F(read_after_write_delay), 0, CONFIG_TIME_MAX_MS},
    {"replica_check_period", KEY_TIME, F(replica_check_period), 10, CONFIG_TIME_MAX_MS},
    {"max_replica_lag", KEY_TIME, F(max_replica_lag), 0, CONFIG_TIME_MAX_MS},
    {"query_timeout", KEY_TIME, F(query_timeout), 0, CONFIG_TIME_MAX_MS},
    {"query_wait_timeout", KEY_TIME, F(query_wait_timeout), 0, CONFIG_TIME_MAX_MS},
    {"client_idle_timeout", KEY_TIME, F(client_idle_timeout), 0, CONFIG_TIME_MAX_MS},
    {"client_login_timeout", KEY_TIME, F(client_login_timeout), 0, CONFIG_TIME_MAX_MS},
    {"idle_transaction_timeout", KEY_TIME, F(idle_transaction_timeout), 0, CONFIG_TIME_MAX_MS},
    /* As in pgbouncer.ini: whole seconds, and tcp_user_timeout in milliseconds. */
    {"tcp_keepalive", KEY_BOOL, F(tcp_keepalive), 0, 0},
    {"tcp_keepidle", KEY_INT, F(tcp_keepidle), 0, 86400},
    {"tcp_keepintvl", KEY_INT, F(tcp_keepintvl), 0, 86400},
    {"tcp_keepcnt", KEY_INT, F(tcp_keepcnt), 0, 1000},
    {"tcp_user_timeout", KEY_INT, F(tcp_user_timeout), 0, INT_MAX},
    {"notify_stall_timeout", KEY_TIME, F(notify_stall_timeout), 0, CONFIG_TIME_MAX_MS},
    {"ignore_startup_parameters", KEY_LIST, F(ignore_startup_parameters), 0, 0},
    {"track_extra_parameters", KEY_LIST, F(track_extra_parameters), 0, 0},
    /* The protocol's length word is an int32, so nothing larger can be framed. */
    {"max_packet_size", KEY_SIZE, F(max_packet_size), 1024, INT32_MAX},
    {"pkt_buf", KEY_SIZE, F(pkt_buf), 512, 64 * MIB},
    {"sbuf_loopcnt", KEY_COUNT, F(sbuf_loopcnt), 0, 1000000},
    {"analyze", KEY_BOOL, F(analyze), 0, 0},
    {"analyze_max_bytes", KEY_SIZE, F(analyze_max_bytes), 1, GIB},
    {"analyze_schema", KEY_BOOL, F(analyze_schema), 0, 0},
    {"catalog_refresh", KEY_TIME, F(catalog_refresh), 0, CONFIG_TIME_MAX_MS},
    {"analyze_user", KEY_STR, F(analyze_user), 0, 0},
    {"capture", KEY_BOOL, F(capture), 0, 0},
    {"capture_dir", KEY_PATH, F(capture_dir), 0, 0},
    {"capture_compress", KEY_BOOL, F(capture_compress), 0, 0},
    {"capture_max_bytes", KEY_SIZE, F(capture_max_bytes), 0, INT64_MAX},
    {"capture_max_age", KEY_TIME, F(capture_max_age), 0, CONFIG_TIME_MAX_MS},
    {"capture_literals", KEY_BOOL, F(capture_literals), 0, 0},
    {"capture_queue_size", KEY_SIZE, F(capture_queue_size), 64 * KIB, GIB},
    {"logfile", KEY_PATH, F(logfile), 0, 0},
    {"pidfile", KEY_PATH, F(pidfile), 0, 0},
    {"shutdown_timeout", KEY_TIME, F(shutdown_timeout), 0, CONFIG_TIME_MAX_MS},
    {"takeover_socket", KEY_PATH, F(takeover_socket), 0, 0},
    {"log_format", KEY_LOG_FORMAT, F(log_format), 0, 0},
    {"log_level", KEY_LOG_LEVEL, F(log_level), 0, 0},
    {"verbose", KEY_VERBOSE, F(log_level), 0, 1000},
    {"log_connections", KEY_BOOL, F(log_connections), 0, 0},
    {"log_disconnections", KEY_BOOL, F(log_disconnections), 0, 0},
    {"log_pooler_errors", KEY_BOOL, F(log_pooler_errors), 0, 0},
    {"log_min_duration", KEY_TIME, F(log_min_duration), -1, CONFIG_TIME_MAX_MS},
    {"stats_period", KEY_TIME, F(stats_period), 0, CONFIG_TIME_MAX_MS},
    {"admin_http_listen", KEY_STR, F(admin_http_listen), 0, 0},
    {"admin_http_token", KEY_STR, F(admin_http_token), 0, 0},
    {"review_baseline_file", KEY_PATH, F(review_baseline_file), 0, 0},
};

#undef F

/* A PgBouncer key pgscope reads past with a warning, and why. */
struct ignored_key {
	const char *name;
	const char *reason;
};

#define NOT_USED "not used by pgscope"
#define NO_TLS   "not supported: OpenSSL's defaults apply"

/* Every pgbouncer.ini main-section key (PgBouncer 1.25) that pgscope does not implement. */
static const struct ignored_key ignored_main_keys[] = {
    {"application_name_add_host", NOT_USED},
    {"auth_ident_file", "ident maps are not supported"},
    {"auth_ldap_options", "auth_type ldap is not supported"},
    {"autodb_idle_timeout", NOT_USED},
    {"cancel_wait_timeout", NOT_USED},
    {"client_tls13_ciphers", NO_TLS},
    {"client_tls_dheparams", NO_TLS},
    {"client_tls_ecdhcurve", NO_TLS},
    {"conffile", NOT_USED},
    {"disable_pqexec", NOT_USED},
    {"dns_max_ttl", NOT_USED},
    {"dns_nxdomain_ttl", NOT_USED},
    {"dns_zone_check_period", NOT_USED},
    {"job_name", NOT_USED},
    {"log_stats", NOT_USED},
    {"login_notify_message", NOT_USED},
    {"max_db_client_connections", NOT_USED},
    {"max_user_client_connections", NOT_USED},
    {"peer_id", "peering is not supported"},
    {"pool_idle_timeout", NOT_USED},
    {"query_wait_notify", NOT_USED},
    {"resolv_conf", NOT_USED},
    {"scram_iterations", NOT_USED},
    {"server_fast_close", NOT_USED},
    {"server_round_robin", NOT_USED},
    {"server_tls13_ciphers", NO_TLS},
    {"service_name", NOT_USED},
    {"so_reuseport", "not used: pgscope serve --takeover hands the listening sockets over"},
    {"suspend_timeout", NOT_USED},
    {"syslog", "pgscope logs to logfile or stderr only"},
    {"syslog_facility", "pgscope logs to logfile or stderr only"},
    {"syslog_ident", "pgscope logs to logfile or stderr only"},
    {"tcp_defer_accept", NOT_USED},
    {"tcp_socket_buffer", NOT_USED},
    {"transaction_timeout", NOT_USED},
    {"unix_socket_group", NOT_USED},
    {"user", "pgscope does not switch to another OS user"},
};

/* PgBouncer [databases] keys that pgscope does not implement. */
static const struct ignored_key ignored_db_keys[] = {
    {"auth_dbname", "set per database is not supported; the global value applies"},
    {"auth_query", "set per database is not supported; the global value applies"},
    {"auth_user", "set per database is not supported; the global value applies"},
    {"load_balance_hosts", NOT_USED},
    {"max_db_client_connections", NOT_USED},
    {"query_wait_timeout", "set per database is not supported; the global value applies"},
    {"server_lifetime", "set per database is not supported; the global value applies"},
};

/* PgBouncer [users] keys that pgscope does not implement. */
static const struct ignored_key ignored_user_keys[] = {
    {"max_user_client_connections", NOT_USED},
    {"pool_size", "set per user is not supported; use [databases] pool_size"},
    {"query_wait_timeout", "set per user is not supported; the global value applies"},
    {"reserve_pool_size", "set per user is not supported; use [databases] reserve_pool"},
    {"transaction_timeout", NOT_USED},
};

/*
 * pgscope's own keys that are read and checked but not acted on yet. Set to
 * anything but the default, each warns once, so that nobody counts on a limit
 * that is not enforced. A key leaves this table when the pooler honours it.
 */
#define NOT_YET "not supported yet; ignored"
static const struct ignored_key unacted_keys[] = {
    {"track_extra_parameters", NOT_YET ": the tracked parameters are a fixed list"},
    {"sbuf_loopcnt", NOT_YET ": each read is handled whole"},
    {"log_pooler_errors", NOT_YET ": errors sent to clients are always logged"},
};

#undef NOT_USED
#undef NO_TLS
#undef NOT_YET

enum section {
	SECTION_NONE = 0, /* before the first [section] header */
	SECTION_MAIN,     /* [pgscope] or [pgbouncer] */
	SECTION_DATABASES,
	SECTION_USERS,
	SECTION_RULES,
	SECTION_PEERS, /* PgBouncer's; read past with one warning */
};

/* State of one config_load() call, shared across %include files. */
struct loader {
	struct config *cfg;
	char *err; /* caller's buffer for the one error message */
	size_t errlen;
	enum section section; /* carries across %include, which is textual */
	int depth;            /* %include nesting */
	char **warned;        /* keys already warned about, so each warns once */
	size_t n_warned;
	const char *file;     /* file being read, for messages */
	int line;             /* line being read */
	char *auth_type_file; /* where auth_type was set, for the cross-check */
	int auth_type_line;
	char *capture_file; /* where capture was set */
	int capture_line;
	char *tls_file; /* where client_tls_sslmode was set */
	int tls_line;
	struct config defaults; /* what an unacted key must equal not to warn */
};

/* --- small helpers --- */

static char *xstrdup(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

static void list_free(char **list)
{
	if (list == NULL)
		return;
	for (char **p = list; *p != NULL; p++)
		free(*p);
	free(list);
}

/* Format "FILE:LINE: key 'K': why" into the caller's buffer; always returns false. */
static bool fail_key(struct loader *ld, const char *key, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (key != NULL)
		snprintf(ld->err, ld->errlen, "%s:%d: key '%s': %s", ld->file, ld->line, key, why);
	else
		snprintf(ld->err, ld->errlen, "%s:%d: %s", ld->file, ld->line, why);
	return false;
}

static bool fail_oom(struct loader *ld)
{
	return fail_key(ld, NULL, "out of memory");
}

/*
 * Warn once per distinct key (qualified, e.g. "databases.auth_user") that
 * pgscope reads past. A failure to remember the key only risks a repeated
 * warning, so it is not an error.
 */
static void warn_ignored(struct loader *ld, const char *qualified, const char *reason)
{
	char **grown;

	for (size_t i = 0; i < ld->n_warned; i++) {
		if (strcmp(ld->warned[i], qualified) == 0)
			return;
	}
	grown = realloc(ld->warned, (ld->n_warned + 1) * sizeof(*grown));
	if (grown != NULL) {
		ld->warned = grown;
		ld->warned[ld->n_warned] = strdup(qualified);
		if (ld->warned[ld->n_warned] != NULL)
			ld->n_warned++;
	}
	log_event(LOG_WARNING, "config.ignored_key", LOG_STR, "file", ld->file, LOG_INT, "line",
	          (long long)ld->line, LOG_STR, "key", qualified, LOG_STR, "reason", reason,
	          LOG_END);
}

static const struct ignored_key *find_ignored(const struct ignored_key *keys, size_t n,
                                              const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

/* Warn when qualified names a key that is read but not acted on yet. */
static void warn_if_unacted(struct loader *ld, const char *qualified)
{
	const struct ignored_key *un =
	    find_ignored(unacted_keys, sizeof(unacted_keys) / sizeof(unacted_keys[0]), qualified);

	if (un != NULL)
		warn_ignored(ld, un->name, un->reason);
}

/* --- value parsers: each returns false with a reason in why --- */

static bool parse_int(const char *s, long long min, long long max, long long *out, char *why,
                      size_t whylen)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || isspace((unsigned char)*s) || *end != '\0') {
		snprintf(why, whylen, "'%s' is not an integer", s);
		return false;
	}
	if (errno == ERANGE || v < min || v > max) {
		snprintf(why, whylen, "%s is out of range (%lld to %lld)", s, min, max);
		return false;
	}
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out, char *why, size_t whylen)
{
	static const char *const yes[] = {"1", "on", "yes", "true"};
	static const char *const no[] = {"0", "off", "no", "false"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	snprintf(why, whylen, "'%s' is not a boolean (use on/off, yes/no, true/false or 1/0)", s);
	return false;
}

/* Bytes, with an optional unit: B, kB/K/KiB, MB/M/MiB, GB/G/GiB (all powers of 1024). */
static bool parse_size(const char *s, long long min, long long max, size_t *out, char *why,
                       size_t whylen)
{
	static const struct {
		const char *unit;
		unsigned long long mult;
	} units[] = {
	    {"", 1},     {"b", 1},     {"k", KIB}, {"kb", KIB}, {"kib", KIB}, {"m", MIB},
	    {"mb", MIB}, {"mib", MIB}, {"g", GIB}, {"gb", GIB}, {"gib", GIB},
	};
	unsigned long long v = 0, mult = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		goto not_size;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (ULLONG_MAX - 9) / 10)
			goto out_of_range;
		v = v * 10 + (unsigned long long)(*p - '0');
	}
	while (*p == ' ' || *p == '\t')
		p++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(p, units[i].unit) == 0)
			mult = units[i].mult;
	}
	if (mult == 0)
		goto not_size;
	if (v > ULLONG_MAX / mult)
		goto out_of_range;
	v *= mult;
	if (v < (unsigned long long)min || v > (unsigned long long)max)
		goto out_of_range;
	*out = (size_t)v;
	return true;

not_size:
	snprintf(why, whylen, "'%s' is not a size (bytes, or a number with kB, MB or GB)", s);
	return false;
out_of_range:
	snprintf(why, whylen, "%s is out of range (%lld to %lld bytes)", s, min, max);
	return false;
}

/*
 * A time in milliseconds. A bare number is seconds, fractions allowed, as in
 * pgbouncer.ini ("0.5" is 500 ms); a unit suffix ms, s, min or h may follow.
 */
static bool parse_time(const char *s, long long min, long long max, int *out, char *why,
                       size_t whylen)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {
	    {"", 1000.0}, {"s", 1000.0}, {"ms", 1.0}, {"min", 60000.0}, {"h", 3600000.0},
	};
	double v, mult = 0;
	char *end;

	/* -1 is "off" for the keys that allow it, as in postgresql.conf. */
	if (min < 0 && strcmp(s, "-1") == 0) {
		*out = -1;
		return true;
	}
	/* strtod alone would take signs, hex, "inf" and "nan". */
	if (!isdigit((unsigned char)*s) && !(*s == '.' && isdigit((unsigned char)s[1])))
		goto not_time;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE || end == s)
		goto not_time;
	for (const char *p = s; p < end; p++) {
		if (!isdigit((unsigned char)*p) && *p != '.')
			goto not_time; /* an exponent such as 1e3 */
	}
	while (*end == ' ' || *end == '\t')
		end++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].unit) == 0)
			mult = units[i].ms;
	}
	if (mult == 0)
		goto not_time;
	v = round(v * mult);
	if (v < (double)min || v > (double)max) {
		snprintf(why, whylen, "%s is out of range (%lld ms to %lld ms)", s, min, max);
		return false;
	}
	*out = (int)v;
	return true;

not_time:
	snprintf(why, whylen, "'%s' is not a time (seconds, or a number with ms, s, min or h)", s);
	return false;
}

/* VALUE's index in the NULL-terminated CHOICES, or false with a message listing them. */
static bool parse_choice(const char *value, const char *const *choices, int *out, char *why,
                         size_t whylen)
{
	size_t used;

	for (int i = 0; choices[i] != NULL; i++) {
		if (strcasecmp(value, choices[i]) == 0) {
			*out = i;
			return true;
		}
	}
	used = (size_t)snprintf(why, whylen, "'%s' is not one of", value);
	for (int i = 0; choices[i] != NULL && used < whylen; i++)
		used += (size_t)snprintf(why + used, whylen - used, " %s", choices[i]);
	return false;
}

const char *config_choice_name(int list, int value)
{
	const char *const *choices = choice_lists[list];

	for (int i = 0; choices[i] != NULL; i++) {
		if (i == value)
			return choices[i];
	}
	return "?";
}

static bool parse_pool_mode(const char *s, enum pool_mode *out, char *why, size_t whylen)
{
	static const enum pool_mode modes[] = {POOL_MODE_SESSION, POOL_MODE_TRANSACTION,
	                                       POOL_MODE_STATEMENT};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcasecmp(s, config_pool_mode_name(modes[i])) == 0) {
			*out = modes[i];
			return true;
		}
	}
	snprintf(why, whylen, "'%s' is not a pool mode (session, transaction or statement)", s);
	return false;
}

static bool parse_tls_mode(const char *s, enum tls_mode *out, char *why, size_t whylen)
{
	for (enum tls_mode m = TLS_DISABLE; m <= TLS_VERIFY_FULL; m++) {
		if (strcasecmp(s, config_tls_mode_name(m)) == 0) {
			*out = m;
			return true;
		}
	}
	snprintf(why, whylen,
	         "'%s' is not a TLS mode (disable, allow, prefer, require, verify-ca or "
	         "verify-full)",
	         s);
	return false;
}

static bool parse_auth_type(const char *s, enum auth_type *out, char *why, size_t whylen)
{
	static const enum auth_type types[] = {AUTH_TRUST, AUTH_ANY,  AUTH_PLAIN, AUTH_MD5,
	                                       AUTH_SCRAM, AUTH_CERT, AUTH_HBA};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcasecmp(s, config_auth_type_name(types[i])) == 0) {
			*out = types[i];
			return true;
		}
	}
	/* Accepting these with a warning would silently weaken authentication. */
	if (strcasecmp(s, "pam") == 0 || strcasecmp(s, "ldap") == 0) {
		snprintf(why, whylen,
		         "'%s' is a PgBouncer auth_type that pgscope does not implement "
		         "(use trust, any, plain, md5, scram-sha-256, cert or hba)",
		         s);
		return false;
	}
	snprintf(why, whylen,
	         "'%s' is not an auth type (trust, any, plain, md5, scram-sha-256, cert or hba)",
	         s);
	return false;
}

/* Split "a, b,c" into a NULL-terminated list; empty items are dropped. */
static char **parse_list(const char *s)
{
	char *copy = strdup(s), *save = NULL, *tok;
	char **list;
	size_t n = 0, cap = 1;

	if (copy == NULL)
		return NULL;
	for (const char *p = s; *p != '\0'; p++)
		cap += *p == ',';
	list = calloc(cap + 1, sizeof(*list));
	if (list == NULL)
		goto out_free_copy;
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		tok = trim(tok);
		if (*tok == '\0')
			continue;
		list[n] = strdup(tok);
		if (list[n] == NULL) {
			list_free(list);
			list = NULL;
			goto out_free_copy;
		}
		n++;
	}
out_free_copy:
	free(copy);
	return list;
}

/* --- the main section --- */

static const struct key_def *find_main_key(const char *name)
{
	for (size_t i = 0; i < sizeof(main_keys) / sizeof(main_keys[0]); i++) {
		if (strcasecmp(main_keys[i].name, name) == 0)
			return &main_keys[i];
	}
	return NULL;
}

/* Replace the string at *slot; "" becomes NULL when empty_is_null. */
static bool set_string(struct loader *ld, char **slot, const char *value, bool empty_is_null)
{
	char *copy = NULL;

	if (!(empty_is_null && *value == '\0')) {
		copy = strdup(value);
		if (copy == NULL)
			return fail_oom(ld);
	}
	free(*slot);
	*slot = copy;
	return true;
}

static bool remember_where(struct loader *ld, char **file, int *line)
{
	char *copy = strdup(ld->file);

	if (copy == NULL)
		return fail_oom(ld);
	free(*file);
	*file = copy;
	*line = ld->line;
	return true;
}

static bool set_main_key(struct loader *ld, const struct key_def *def, const char *value)
{
	char *field = (char *)ld->cfg + def->offset;
	char why[256];
	long long n;
	bool ok = true;

	switch (def->kind) {
	case KEY_INT:
		ok = parse_int(value, def->min, def->max, &n, why, sizeof(why));
		if (ok)
			*(int *)field = (int)n;
		break;
	case KEY_COUNT:
		ok = parse_int(value, def->min, def->max, &n, why, sizeof(why));
		if (ok)
			*(size_t *)field = (size_t)n;
		break;
	case KEY_CHOICE: {
		int choice = 0;

		ok = parse_choice(value, choice_lists[def->min], &choice, why, sizeof(why));
		if (ok)
			*(int *)field = choice;
		break;
	}
	case KEY_OCTAL: {
		char *end;

		errno = 0;
		n = strtoll(value, &end, 8);
		ok = *value >= '0' && *value <= '7' && *end == '\0' && errno == 0 &&
		     n >= def->min && n <= def->max;
		if (ok)
			*(int *)field = (int)n;
		else
			snprintf(why, sizeof(why), "'%s' is not an octal file mode such as 0777",
			         value);
		break;
	}
	case KEY_SIZE:
		ok = parse_size(value, def->min, def->max, (size_t *)field, why, sizeof(why));
		break;
	case KEY_BOOL:
		ok = parse_bool(value, (bool *)field, why, sizeof(why));
		break;
	case KEY_TIME:
		ok = parse_time(value, def->min, def->max, (int *)field, why, sizeof(why));
		break;
	case KEY_STR:
		return set_string(ld, (char **)field, value, false);
	case KEY_PATH:
		return set_string(ld, (char **)field, value, true);
	case KEY_LIST: {
		char **list = parse_list(value);

		if (list == NULL)
			return fail_oom(ld);
		list_free(*(char ***)field);
		*(char ***)field = list;
		return true;
	}
	case KEY_POOL_MODE:
		ok = parse_pool_mode(value, (enum pool_mode *)field, why, sizeof(why));
		break;
	case KEY_AUTH_TYPE:
		ok = parse_auth_type(value, (enum auth_type *)field, why, sizeof(why));
		if (ok)
			return remember_where(ld, &ld->auth_type_file, &ld->auth_type_line);
		break;
	case KEY_TLS_MODE:
		ok = parse_tls_mode(value, (enum tls_mode *)field, why, sizeof(why));
		break;
	case KEY_LOG_FORMAT:
		if (strcasecmp(value, "logfmt") == 0)
			ld->cfg->log_format = LOG_FORMAT_LOGFMT;
		else if (strcasecmp(value, "json") == 0)
			ld->cfg->log_format = LOG_FORMAT_JSON;
		else
			ok = false;
		if (!ok)
			snprintf(why, sizeof(why), "'%s' is not a log format (logfmt or json)",
			         value);
		break;
	case KEY_LOG_LEVEL:
		n = log_level_parse(value);
		ok = n >= 0;
		if (ok)
			*(int *)field = (int)n;
		else
			snprintf(why, sizeof(why),
			         "'%s' is not a log level (debug, info, warning or error)", value);
		break;
	case KEY_VERBOSE:
		/* PgBouncer's verbose counts -v flags; any of them means debug output. */
		ok = parse_int(value, def->min, def->max, &n, why, sizeof(why));
		if (ok && n > 0)
			*(int *)field = LOG_DEBUG;
		break;
	}
	if (!ok)
		return fail_key(ld, def->name, "%s", why);
	if (def->offset == offsetof(struct config, capture))
		return remember_where(ld, &ld->capture_file, &ld->capture_line);
	if (def->offset == offsetof(struct config, client_tls_sslmode))
		return remember_where(ld, &ld->tls_file, &ld->tls_line);
	return true;
}

static bool str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Lists of names compare case-insensitively, as parameter names do; NULL is the empty list. */
static bool list_equal(char *const *a, char *const *b)
{
	for (; a != NULL && *a != NULL; a++, b++) {
		if (b == NULL || *b == NULL || strcasecmp(*a, *b) != 0)
			return false;
	}
	return b == NULL || *b == NULL;
}

/* true when the field that def describes holds the same value in a and b. */
static bool field_equal(const struct key_def *def, const struct config *a, const struct config *b)
{
	const char *fa = (const char *)a + def->offset;
	const char *fb = (const char *)b + def->offset;

	switch (def->kind) {
	case KEY_COUNT:
	case KEY_SIZE:
		return *(const size_t *)fa == *(const size_t *)fb;
	case KEY_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case KEY_STR:
	case KEY_PATH:
		return str_equal(*(char *const *)fa, *(char *const *)fb);
	case KEY_LIST:
		return list_equal(*(char **const *)fa, *(char **const *)fb);
	case KEY_POOL_MODE:
		return *(const enum pool_mode *)fa == *(const enum pool_mode *)fb;
	case KEY_AUTH_TYPE:
		return *(const enum auth_type *)fa == *(const enum auth_type *)fb;
	case KEY_TLS_MODE:
		return *(const enum tls_mode *)fa == *(const enum tls_mode *)fb;
	case KEY_LOG_FORMAT:
		return *(const enum log_format *)fa == *(const enum log_format *)fb;
	case KEY_INT:
	case KEY_TIME:
	case KEY_OCTAL:
	case KEY_CHOICE:
	case KEY_LOG_LEVEL:
	case KEY_VERBOSE:
		return *(const int *)fa == *(const int *)fb;
	}
	return false;
}

static bool handle_main(struct loader *ld, const char *key, const char *value)
{
	const struct key_def *def = find_main_key(key);
	const struct ignored_key *ign;

	if (def != NULL) {
		if (!set_main_key(ld, def, value))
			return false;
		if (!field_equal(def, ld->cfg, &ld->defaults))
			warn_if_unacted(ld, def->name);
		return true;
	}
	ign = find_ignored(ignored_main_keys,
	                   sizeof(ignored_main_keys) / sizeof(ignored_main_keys[0]), key);
	if (ign != NULL) {
		warn_ignored(ld, ign->name, ign->reason);
		return true;
	}
	return fail_key(ld, key, "unknown setting (neither a pgscope nor a PgBouncer key)");
}

/* --- libpq-style "key=value key='quoted value'" strings --- */

/* One key=value pair of a connection string, pointing into a scratch copy. */
struct kv {
	char *key;
	char *value;
};

/*
 * Split s (modified in place) into pairs. Values are bare words or
 * single-quoted, with '' standing for one quote inside quotes. This is
 * PgBouncer's reading rather than libpq's (where backslash escapes): an
 * existing pgbouncer.ini must mean the same here, so a backslash is an
 * ordinary character. Empty values are refused, as PgBouncer does.
 * Returns the number of pairs, or -1 with why set.
 */
static int split_connstr(char *s, struct kv *pairs, int max_pairs, char *why, size_t whylen)
{
	int n = 0;
	char *p = s;

	for (;;) {
		char *key, *out;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			return n;
		key = p;
		while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
			p++;
		if (p == key) {
			snprintf(why, whylen, "expected key=value at '%.40s'", p);
			return -1;
		}
		out = p; /* where the key ends; terminated below */
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=') {
			snprintf(why, whylen, "missing '=' after '%.*s'", (int)(out - key), key);
			return -1;
		}
		*out = '\0';
		p++;
		while (isspace((unsigned char)*p))
			p++;
		if (n == max_pairs) {
			snprintf(why, whylen, "too many key=value pairs (at most %d)", max_pairs);
			return -1;
		}
		pairs[n].key = key;
		pairs[n].value = out = p;
		if (*p == '\'') {
			p++;
			for (;;) {
				if (*p == '\0') {
					snprintf(why, whylen, "unterminated quoted value for '%s'",
					         key);
					return -1;
				}
				if (*p == '\'' && p[1] != '\'')
					break;
				if (*p == '\'')
					p++; /* '' is one quote */
				*out++ = *p++;
			}
			p++; /* the closing quote */
			if (*p != '\0' && !isspace((unsigned char)*p)) {
				snprintf(why, whylen,
				         "unexpected text after the quoted value of '%s' "
				         "(inside quotes, write '' for a quote)",
				         key);
				return -1;
			}
		} else {
			while (*p != '\0' && !isspace((unsigned char)*p))
				*out++ = *p++;
		}
		if (out == pairs[n].value) {
			snprintf(why, whylen, "empty value for '%s'", key);
			return -1;
		}
		if (*p != '\0')
			p++;
		*out = '\0';
		n++;
	}
}

static char *parse_replica_addr(const char *item, int default_port, char *why, size_t whylen);

/*
 * Parse "host:port" or "[v6addr]:port" (port optional: default_port), with an
 * optional "@weight" (1 to 1000), into "host:port" or "host:port@weight".
 */
static char *parse_replica(const char *spec, int default_port, char *why, size_t whylen)
{
	const char *at = strrchr(spec, '@');
	char item[300], *addr, *out;
	long long weight;
	size_t len;

	if (at == NULL)
		return parse_replica_addr(spec, default_port, why, whylen);
	if (!parse_int(at + 1, 1, 1000, &weight, why, whylen))
		return NULL;
	snprintf(item, sizeof(item), "%.*s", (int)(at - spec), spec);
	addr = parse_replica_addr(item, default_port, why, whylen);
	if (addr == NULL)
		return NULL;
	len = strlen(addr) + 16;
	out = malloc(len);
	if (out != NULL)
		snprintf(out, len, "%s@%lld", addr, weight);
	else
		snprintf(why, whylen, "out of memory");
	free(addr);
	return out;
}

/* Parse "host:port" or "[v6addr]:port" (port optional: default_port) into "host:port". */
static char *parse_replica_addr(const char *item, int default_port, char *why, size_t whylen)
{
	const char *host = item, *colon, *host_end;
	long long port = default_port;
	char *out;
	size_t len;

	if (*item == '[') {
		host_end = strchr(item, ']');
		if (host_end == NULL || host_end == item + 1)
			goto bad;
		colon = host_end[1] == ':' ? host_end + 1 : NULL;
		if (host_end[1] != '\0' && colon == NULL)
			goto bad;
		host_end++;
	} else {
		colon = strrchr(item, ':');
		host_end = colon != NULL ? colon : item + strlen(item);
		if (colon != NULL && strchr(item, ':') != colon)
			goto bad; /* a bare IPv6 address needs brackets */
	}
	if (host_end == host)
		goto bad;
	if (colon != NULL && !parse_int(colon + 1, 1, 65535, &port, why, whylen))
		return NULL;
	len = (size_t)(host_end - host) + 8;
	out = malloc(len);
	if (out == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	snprintf(out, len, "%.*s:%lld", (int)(host_end - host), host, port);
	return out;
bad:
	snprintf(why, whylen, "replica '%s' is not host:port", item);
	return NULL;
}

static bool parse_replicas(struct db_config *db, const char *value, char *why, size_t whylen)
{
	char **items = parse_list(value);
	size_t n = 0;

	if (items == NULL) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	for (; items[n] != NULL; n++) {
		char *norm = parse_replica(items[n], db->port, why, whylen);

		if (norm == NULL) {
			list_free(items);
			return false;
		}
		free(items[n]);
		items[n] = norm;
	}
	if (n == 0) {
		free(items);
		items = NULL;
	}
	list_free(db->replicas);
	db->replicas = items;
	return true;
}

static void db_config_release(struct db_config *db)
{
	free(db->name);
	free(db->host);
	free(db->dbname);
	free(db->user);
	free(db->password);
	free(db->connect_query);
	free(db->client_encoding);
	free(db->datestyle);
	free(db->timezone);
	free(db->application_name);
	list_free(db->replicas);
	memset(db, 0, sizeof(*db));
}

static bool db_set_int(const char *key, const char *value, long long min, long long max, int *out,
                       char *why, size_t whylen)
{
	char sub[256];
	long long n;

	if (!parse_int(value, min, max, &n, sub, sizeof(sub))) {
		snprintf(why, whylen, "%s: %s", key, sub);
		return false;
	}
	*out = (int)n;
	return true;
}

/* A time in a [databases] or [users] entry, as the main section reads it (parse_time()). */
static bool set_time_value(const char *key, const char *value, int *out, char *why, size_t whylen)
{
	char sub[256];

	if (!parse_time(value, 0, CONFIG_TIME_MAX_MS, out, sub, sizeof(sub))) {
		snprintf(why, whylen, "%s: %s", key, sub);
		return false;
	}
	return true;
}

/* The string fields of a [databases] entry, by connection-string key. */
static char **db_string_slot(struct db_config *db, const char *key)
{
	if (strcmp(key, "host") == 0)
		return &db->host;
	if (strcmp(key, "dbname") == 0)
		return &db->dbname;
	if (strcmp(key, "user") == 0)
		return &db->user;
	if (strcmp(key, "password") == 0)
		return &db->password;
	if (strcmp(key, "connect_query") == 0)
		return &db->connect_query;
	if (strcmp(key, "client_encoding") == 0)
		return &db->client_encoding;
	if (strcmp(key, "datestyle") == 0)
		return &db->datestyle;
	if (strcmp(key, "timezone") == 0)
		return &db->timezone;
	if (strcmp(key, "application_name") == 0)
		return &db->application_name;
	return NULL;
}

/* The integer fields of a [databases] entry and their ranges. */
static int *db_int_slot(struct db_config *db, const char *key, long long *min, long long *max)
{
	*min = 0;
	*max = 100000;
	if (strcmp(key, "port") == 0) {
		*min = 1;
		*max = 65535;
		return &db->port;
	}
	if (strcmp(key, "pool_size") == 0)
		return &db->pool_size;
	if (strcmp(key, "min_pool_size") == 0)
		return &db->min_pool_size;
	/* PgBouncer spells this both ways; reserve_pool is the older name. */
	if (strcmp(key, "reserve_pool") == 0 || strcmp(key, "reserve_pool_size") == 0)
		return &db->reserve_pool;
	if (strcmp(key, "max_db_connections") == 0) {
		*max = 1000000;
		return &db->max_db_connections;
	}
	return NULL;
}

/* Apply one pair to db. Returns 1 when set, 0 when ignored with a warning, -1 on error (why). */
static int db_set(struct loader *ld, struct db_config *db, const struct kv *kv, char *why,
                  size_t whylen)
{
	const struct ignored_key *ign;
	char **slot = db_string_slot(db, kv->key);
	long long min, max;
	char sub[256];
	int *slot_int;

	if (strcmp(kv->key, "pool_mode") == 0) {
		if (parse_pool_mode(kv->value, &db->pool_mode, sub, sizeof(sub)))
			return 1;
		snprintf(why, whylen, "pool_mode: %s", sub);
		return -1;
	}
	if (strcmp(kv->key, "read_routing") == 0) {
		int choice = 0;

		if (parse_choice(kv->value, choice_lists[CHOICES_READ_ROUTING], &choice, sub,
		                 sizeof(sub))) {
			db->read_routing = choice;
			return 1;
		}
		snprintf(why, whylen, "read_routing: %s", sub);
		return -1;
	}
	if (slot != NULL) {
		char *copy = strdup(kv->value);

		if (copy == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		free(*slot);
		*slot = copy;
		return 1;
	}
	slot_int = db_int_slot(db, kv->key, &min, &max);
	if (slot_int != NULL)
		return db_set_int(kv->key, kv->value, min, max, slot_int, why, whylen) ? 1 : -1;
	if (strcmp(kv->key, "query_timeout") == 0)
		return set_time_value(kv->key, kv->value, &db->query_timeout, why, whylen) ? 1 : -1;
	if (strcmp(kv->key, "replicas") == 0)
		return 1; /* applied after the loop, once port is known */
	ign = find_ignored(ignored_db_keys, sizeof(ignored_db_keys) / sizeof(ignored_db_keys[0]),
	                   kv->key);
	if (ign != NULL) {
		char qualified[128];

		snprintf(qualified, sizeof(qualified), "databases.%s", ign->name);
		warn_ignored(ld, qualified, ign->reason);
		return 0;
	}
	snprintf(why, whylen, "unknown connection parameter '%s'", kv->key);
	return -1;
}

/* Append db to cfg->dbs, replacing an earlier entry of the same name (the later one wins). */
static bool add_db(struct loader *ld, struct db_config *db)
{
	struct config *cfg = ld->cfg;
	struct db_config *grown;

	for (size_t i = 0; i < cfg->n_dbs; i++) {
		if (strcmp(cfg->dbs[i].name, db->name) == 0) {
			db_config_release(&cfg->dbs[i]);
			cfg->dbs[i] = *db;
			return true;
		}
	}
	grown = realloc(cfg->dbs, (cfg->n_dbs + 1) * sizeof(*grown));
	if (grown == NULL)
		return fail_oom(ld);
	cfg->dbs = grown;
	cfg->dbs[cfg->n_dbs++] = *db;
	return true;
}

#define CONNSTR_MAX_PAIRS 64

static bool handle_database(struct loader *ld, const char *name, const char *value)
{
	struct db_config db = {
	    .port = 5432,
	    .pool_size = -1,
	    .min_pool_size = -1,
	    .reserve_pool = -1,
	    .max_db_connections = -1,
	    .pool_mode = POOL_MODE_UNSET,
	    .query_timeout = -1,
	    .read_routing = -1,
	    .line = ld->line,
	};
	struct kv pairs[CONNSTR_MAX_PAIRS];
	const char *replicas = NULL;
	char why[512];
	char *scratch;
	int n;

	scratch = strdup(value);
	db.name = strdup(name);
	if (scratch == NULL || db.name == NULL)
		goto out_oom;
	n = split_connstr(scratch, pairs, CONNSTR_MAX_PAIRS, why, sizeof(why));
	if (n < 0)
		goto out_invalid;
	for (int i = 0; i < n; i++) {
		if (db_set(ld, &db, &pairs[i], why, sizeof(why)) < 0)
			goto out_invalid;
		if (strcmp(pairs[i].key, "replicas") == 0)
			replicas = pairs[i].value;
	}
	if (replicas != NULL && !parse_replicas(&db, replicas, why, sizeof(why)))
		goto out_invalid;
	/* The "*" entry serves any database: NULL dbname means the client's. */
	if (db.dbname == NULL && strcmp(name, "*") != 0) {
		db.dbname = strdup(name);
		if (db.dbname == NULL)
			goto out_oom;
	}
	free(scratch);
	if (!add_db(ld, &db)) {
		db_config_release(&db);
		return false;
	}
	return true;

out_invalid:
	fail_key(ld, name, "%s", why);
	goto out_release;
out_oom:
	fail_oom(ld);
out_release:
	free(scratch);
	db_config_release(&db);
	return false;
}

/* The timeouts a [users] entry may set, by key. */
static int *user_time_slot(struct user_config *user, const char *key)
{
	if (strcmp(key, "query_timeout") == 0)
		return &user->query_timeout;
	if (strcmp(key, "idle_transaction_timeout") == 0)
		return &user->idle_transaction_timeout;
	if (strcmp(key, "client_idle_timeout") == 0)
		return &user->client_idle_timeout;
	return NULL;
}

static bool handle_user(struct loader *ld, const char *name, const char *value)
{
	struct config *cfg = ld->cfg;
	struct user_config user = {
	    .pool_mode = POOL_MODE_UNSET,
	    .max_user_connections = -1,
	    .query_timeout = -1,
	    .idle_transaction_timeout = -1,
	    .client_idle_timeout = -1,
	    .line = ld->line,
	};
	struct kv pairs[CONNSTR_MAX_PAIRS];
	struct user_config *grown;
	char why[512], sub[256];
	char *scratch = strdup(value);
	int n;

	if (scratch == NULL)
		return fail_oom(ld);
	n = split_connstr(scratch, pairs, CONNSTR_MAX_PAIRS, why, sizeof(why));
	if (n < 0)
		goto out_invalid;
	for (int i = 0; i < n; i++) {
		const struct ignored_key *ign;

		if (strcmp(pairs[i].key, "pool_mode") == 0) {
			if (!parse_pool_mode(pairs[i].value, &user.pool_mode, sub, sizeof(sub))) {
				snprintf(why, sizeof(why), "pool_mode: %s", sub);
				goto out_invalid;
			}
			continue;
		}
		if (strcmp(pairs[i].key, "max_user_connections") == 0) {
			if (!db_set_int(pairs[i].key, pairs[i].value, 0, 1000000,
			                &user.max_user_connections, why, sizeof(why)))
				goto out_invalid;
			continue;
		}
		if (user_time_slot(&user, pairs[i].key) != NULL) {
			if (!set_time_value(pairs[i].key, pairs[i].value,
			                    user_time_slot(&user, pairs[i].key), why, sizeof(why)))
				goto out_invalid;
			continue;
		}
		ign = find_ignored(ignored_user_keys,
		                   sizeof(ignored_user_keys) / sizeof(ignored_user_keys[0]),
		                   pairs[i].key);
		if (ign == NULL) {
			snprintf(why, sizeof(why), "unknown user parameter '%s'", pairs[i].key);
			goto out_invalid;
		}
		snprintf(sub, sizeof(sub), "users.%s", ign->name);
		warn_ignored(ld, sub, ign->reason);
	}
	free(scratch);

	user.name = strdup(name);
	if (user.name == NULL)
		return fail_oom(ld);
	for (size_t i = 0; i < cfg->n_users; i++) {
		if (strcmp(cfg->users[i].name, name) == 0) {
			free(cfg->users[i].name);
			cfg->users[i] = user;
			return true;
		}
	}
	grown = realloc(cfg->users, (cfg->n_users + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(user.name);
		return fail_oom(ld);
	}
	cfg->users = grown;
	cfg->users[cfg->n_users++] = user;
	return true;

out_invalid:
	free(scratch);
	return fail_key(ld, name, "%s", why);
}

/* [rules] entries go to the analyzer as written; it validates rule ids and options. */
static bool handle_rule(struct loader *ld, const char *key, const char *value)
{
	struct config *cfg = ld->cfg;
	struct rule_setting *grown;
	char *k = strdup(key), *v = strdup(value);

	if (k == NULL || v == NULL)
		goto out_oom;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		if (strcmp(cfg->rules[i].key, key) == 0) {
			free(k);
			free(cfg->rules[i].value);
			cfg->rules[i].value = v;
			cfg->rules[i].line = ld->line;
			return true;
		}
	}
	grown = realloc(cfg->rules, (cfg->n_rules + 1) * sizeof(*grown));
	if (grown == NULL)
		goto out_oom;
	cfg->rules = grown;
	cfg->rules[cfg->n_rules++] = (struct rule_setting){.key = k, .value = v, .line = ld->line};
	return true;
out_oom:
	free(k);
	free(v);
	return fail_oom(ld);
}

/* --- lines and files --- */

static bool handle_section(struct loader *ld, char *line)
{
	char *end = strchr(line, ']');
	char *name, *rest;

	if (end == NULL)
		return fail_key(ld, NULL, "malformed section header '%s'", line);
	/* PgBouncer reads "[pgbouncer] ; note" as a header and a comment. */
	rest = trim(end + 1);
	if (*rest != '\0' && *rest != ';' && *rest != '#')
		return fail_key(ld, NULL, "malformed section header '%s'", line);
	*end = '\0';
	name = trim(line + 1);
	if (strcasecmp(name, "pgscope") == 0 || strcasecmp(name, "pgbouncer") == 0) {
		ld->section = SECTION_MAIN;
	} else if (strcasecmp(name, "databases") == 0) {
		ld->section = SECTION_DATABASES;
	} else if (strcasecmp(name, "users") == 0) {
		ld->section = SECTION_USERS;
	} else if (strcasecmp(name, "rules") == 0) {
		ld->section = SECTION_RULES;
	} else if (strcasecmp(name, "peers") == 0) {
		ld->section = SECTION_PEERS;
		warn_ignored(ld, "[peers]", "peering is not supported; the section is skipped");
	} else {
		return fail_key(ld, NULL, "unknown section [%s]", name);
	}
	return true;
}

/*
 * Database and user names with other characters than [A-Za-z0-9_] may be
 * quoted: "SQL identifier" style with "" for one double quote, as PgBouncer
 * documents, or 'single quotes', as its parser also accepts.
 */
static char *unquote_name(char *key)
{
	size_t len = strlen(key);
	char q = key[0], *in, *out;

	if (len < 2 || (q != '"' && q != '\'') || key[len - 1] != q)
		return key;
	key[len - 1] = '\0';
	for (in = out = key + 1; *in != '\0'; in++) {
		if (*in == q && in[1] == q)
			in++;
		*out++ = *in;
	}
	*out = '\0';
	return key + 1;
}

static bool handle_key_value(struct loader *ld, char *line)
{
	char *eq = strchr(line, '=');
	char *key, *value;

	if (eq == NULL)
		return fail_key(ld, NULL, "expected 'key = value', got '%.60s'", line);
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	if (*key == '\0')
		return fail_key(ld, NULL, "missing key before '='");

	switch (ld->section) {
	case SECTION_NONE:
		return fail_key(ld, key, "setting outside a section (start with [pgscope])");
	case SECTION_MAIN:
		return handle_main(ld, key, value);
	case SECTION_DATABASES:
		return handle_database(ld, unquote_name(key), value);
	case SECTION_USERS:
		return handle_user(ld, unquote_name(key), value);
	case SECTION_RULES:
		return handle_rule(ld, key, value);
	case SECTION_PEERS:
		return true;
	}
	return true;
}

static bool load_file(struct loader *ld, const char *path);

/*
 * "%include FILE": read FILE as if its lines stood here. A relative name is
 * taken from the current directory, as PgBouncer does.
 */
static bool handle_include(struct loader *ld, char *arg)
{
	const char *outer_file = ld->file;
	int outer_line = ld->line;
	char *path = trim(arg);
	bool ok;

	if (*path == '\0')
		return fail_key(ld, NULL, "%%include needs a file name");
	if (ld->depth >= CONFIG_INCLUDE_DEPTH)
		return fail_key(ld, NULL, "%%include nested more than %d deep (a loop?)",
		                CONFIG_INCLUDE_DEPTH);
	ld->depth++;
	ok = load_file(ld, path);
	ld->depth--;
	ld->file = outer_file;
	ld->line = outer_line;
	return ok;
}

static bool handle_line(struct loader *ld, char *raw)
{
	char *line = trim(raw);

	if (*line == '\0' || *line == ';' || *line == '#')
		return true;
	if (*line == '[')
		return handle_section(ld, line);
	if (strncmp(line, "%include", 8) == 0 &&
	    (line[8] == '\0' || isspace((unsigned char)line[8])))
		return handle_include(ld, line + 8);
	return handle_key_value(ld, line);
}

static bool load_file(struct loader *ld, const char *path)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;
	bool ok = true;

	f = fopen(path, "re");
	if (f == NULL) {
		if (ld->depth == 0)
			snprintf(ld->err, ld->errlen, "%s: cannot open: %s", path, strerror(errno));
		else
			fail_key(ld, NULL, "%%include %s: cannot open: %s", path, strerror(errno));
		return false;
	}
	ld->file = path;
	ld->line = 0;
	while (ok && (len = getline(&buf, &cap, f)) != -1) {
		ld->line++;
		if (len > CONFIG_LINE_MAX) {
			ok = fail_key(ld, NULL, "line longer than %d bytes", CONFIG_LINE_MAX);
			break;
		}
		if ((size_t)len != strlen(buf)) {
			ok = fail_key(ld, NULL, "NUL byte in line");
			break;
		}
		/* A UTF-8 byte order mark, as some editors write, is not part of the text. */
		if (ld->line == 1 && strncmp(buf, "\xef\xbb\xbf", 3) == 0)
			memmove(buf, buf + 3, (size_t)len - 2);
		ok = handle_line(ld, buf);
	}
	if (ok && ferror(f))
		ok = fail_key(ld, NULL, "read error: %s", strerror(errno));
	free(buf);
	fclose(f);
	return ok;
}

/* TLS settings that only make sense together; files are opened by tls_init(). */
static bool check_tls(struct loader *ld)
{
	const struct config *cfg = ld->cfg;

	/* Client TLS problems are told at the client_tls_sslmode line (auth_type's for cert). */
	ld->file = ld->tls_file ? ld->tls_file : cfg->path;
	ld->line = ld->tls_line;
	if (cfg->client_tls_sslmode != TLS_DISABLE &&
	    (cfg->client_tls_key_file == NULL || cfg->client_tls_cert_file == NULL))
		return fail_key(ld, "client_tls_sslmode",
		                "%s needs client_tls_key_file and client_tls_cert_file",
		                config_tls_mode_name(cfg->client_tls_sslmode));
	if ((cfg->client_tls_sslmode >= TLS_VERIFY_CA || cfg->auth_type == AUTH_CERT) &&
	    cfg->client_tls_ca_file == NULL)
		return fail_key(ld, "client_tls_ca_file",
		                "client certificates cannot be checked without a CA file");
	if (cfg->auth_type == AUTH_CERT && cfg->client_tls_sslmode == TLS_DISABLE) {
		ld->file = ld->auth_type_file;
		ld->line = ld->auth_type_line;
		return fail_key(ld, "auth_type",
		                "cert needs client_tls_sslmode other than disable");
	}
	ld->file = cfg->path;
	ld->line = 0;
	if ((cfg->server_tls_key_file == NULL) != (cfg->server_tls_cert_file == NULL))
		return fail_key(ld, "server_tls_cert_file",
		                "server_tls_key_file and server_tls_cert_file go together");
	return true;
}

/* Checks that need the whole file: settings that only make sense together. */
static bool check_consistency(struct loader *ld)
{
	const struct config *cfg = ld->cfg;
	bool needs_file = cfg->auth_type == AUTH_PLAIN || cfg->auth_type == AUTH_MD5 ||
	                  cfg->auth_type == AUTH_SCRAM;

	if (cfg->auth_type == AUTH_HBA && cfg->auth_hba_file == NULL) {
		ld->file = ld->auth_type_file;
		ld->line = ld->auth_type_line;
		return fail_key(ld, "auth_type", "hba needs auth_hba_file");
	}
	/* auth_query fetches the secrets auth_file would hold. */
	if (needs_file && cfg->auth_file == NULL && cfg->auth_user == NULL) {
		ld->file = ld->auth_type_file;
		ld->line = ld->auth_type_line;
		return fail_key(ld, "auth_type",
		                "%s needs auth_file or auth_user to check passwords against",
		                config_auth_type_name(cfg->auth_type));
	}
	if (!check_tls(ld))
		return false;
	if (cfg->capture && cfg->capture_dir == NULL) {
		ld->file = ld->capture_file;
		ld->line = ld->capture_line;
		return fail_key(ld, "capture", "capture = on needs capture_dir");
	}
	return true;
}

/* --- public interface --- */

void config_init_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen_port = 6432;
	cfg->unix_socket_dir = xstrdup("/tmp");
	cfg->unix_socket_mode = 0777;
	cfg->listen_backlog = 128;
	cfg->auth_type = AUTH_TRUST;
	cfg->auth_query = xstrdup("SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
	cfg->pool_mode = POOL_MODE_SESSION;
	cfg->default_pool_size = 20;
	cfg->reserve_pool_timeout = 5000;
	cfg->max_client_conn = 100;
	cfg->max_prepared_statements = 200;
	cfg->server_reset_query = xstrdup("DISCARD ALL");
	cfg->server_check_query = xstrdup("select 1");
	cfg->track_extra_parameters = parse_list("IntervalStyle"); /* PgBouncer's default */
	cfg->server_check_delay = 30000;
	cfg->server_lifetime = 3600000;
	cfg->server_idle_timeout = 600000;
	cfg->server_connect_timeout = 15000;
	cfg->server_login_retry = 15000;
	cfg->breaker_failures = 3;
	cfg->breaker_backoff = 1000;
	cfg->breaker_backoff_max = 4000;
	cfg->read_routing = READ_ROUTING_OFF;
	cfg->balancing = BALANCING_ROUND_ROBIN;
	cfg->read_your_writes = RYW_LSN;
	cfg->read_after_write_delay = 1000;
	cfg->replica_check_period = 1000;
	cfg->max_replica_lag = 10000;
	cfg->query_wait_timeout = 120000;
	cfg->client_login_timeout = 60000;
	cfg->notify_stall_timeout = 30000;
	cfg->tcp_keepalive = true;
	cfg->max_packet_size = 64 * MIB;
	cfg->pkt_buf = 4096;
	cfg->sbuf_loopcnt = 5;
	cfg->analyze = true;
	cfg->analyze_max_bytes = 65536;
	cfg->analyze_schema = true;
	cfg->catalog_refresh = 300000;
	cfg->capture_max_bytes = 64 * MIB;
	cfg->capture_max_age = 3600000;
	cfg->capture_queue_size = 8 * MIB;
	cfg->shutdown_timeout = 30000;
	cfg->log_format = LOG_FORMAT_LOGFMT;
	cfg->log_level = LOG_INFO;
	cfg->log_connections = true;
	cfg->log_disconnections = true;
	cfg->log_pooler_errors = true;
	cfg->log_min_duration = -1;
	cfg->stats_period = 60000;
}

bool config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct loader ld = {.cfg = cfg, .err = err, .errlen = errlen, .file = path};
	bool ok;

	if (errlen > 0)
		err[0] = '\0';
	config_init_defaults(cfg);
	config_init_defaults(&ld.defaults);
	cfg->path = strdup(path);
	if (cfg->path == NULL || cfg->unix_socket_dir == NULL || cfg->server_reset_query == NULL ||
	    cfg->server_check_query == NULL || cfg->track_extra_parameters == NULL ||
	    cfg->auth_query == NULL || ld.defaults.track_extra_parameters == NULL) {
		ok = fail_oom(&ld);
		goto out;
	}
	ok = load_file(&ld, path) && check_consistency(&ld);
out:
	for (size_t i = 0; i < ld.n_warned; i++)
		free(ld.warned[i]);
	free(ld.warned);
	free(ld.auth_type_file);
	free(ld.capture_file);
	free(ld.tls_file);
	config_free(&ld.defaults);
	if (!ok)
		config_free(cfg);
	return ok;
}

void config_free(struct config *cfg)
{
	free(cfg->path);
	free(cfg->listen_addr);
	free(cfg->unix_socket_dir);
	free(cfg->auth_file);
	list_free(cfg->admin_users);
	list_free(cfg->stats_users);
	free(cfg->auth_hba_file);
	free(cfg->auth_query);
	free(cfg->auth_user);
	free(cfg->auth_dbname);
	free(cfg->client_tls_key_file);
	free(cfg->client_tls_cert_file);
	free(cfg->client_tls_ca_file);
	free(cfg->client_tls_protocols);
	free(cfg->client_tls_ciphers);
	free(cfg->server_tls_key_file);
	free(cfg->server_tls_cert_file);
	free(cfg->server_tls_ca_file);
	free(cfg->server_tls_protocols);
	free(cfg->server_tls_ciphers);
	free(cfg->server_reset_query);
	free(cfg->server_check_query);
	list_free(cfg->ignore_startup_parameters);
	list_free(cfg->track_extra_parameters);
	free(cfg->capture_dir);
	free(cfg->analyze_user);
	free(cfg->logfile);
	free(cfg->pidfile);
	free(cfg->takeover_socket);
	free(cfg->admin_http_listen);
	free(cfg->admin_http_token);
	free(cfg->review_baseline_file);
	for (size_t i = 0; i < cfg->n_dbs; i++)
		db_config_release(&cfg->dbs[i]);
	free(cfg->dbs);
	for (size_t i = 0; i < cfg->n_users; i++)
		free(cfg->users[i].name);
	free(cfg->users);
	for (size_t i = 0; i < cfg->n_rules; i++) {
		free(cfg->rules[i].key);
		free(cfg->rules[i].value);
	}
	free(cfg->rules);
	/* Leave a state that a second config_free() or a fresh load handles. */
	memset(cfg, 0, sizeof(*cfg));
}

const struct db_config *config_find_db(const struct config *cfg, const char *name)
{
	const struct db_config *fallback = NULL;

	for (size_t i = 0; i < cfg->n_dbs; i++) {
		if (strcmp(cfg->dbs[i].name, name) == 0)
			return &cfg->dbs[i];
		if (strcmp(cfg->dbs[i].name, "*") == 0)
			fallback = &cfg->dbs[i];
	}
	return fallback;
}

/* *dst = a copy of src (NULL stays NULL); false when out of memory. */
static bool copy_str(char **dst, const char *src)
{
	*dst = src != NULL ? strdup(src) : NULL;
	return src == NULL || *dst != NULL;
}

static bool copy_list(char ***dst, char *const *src)
{
	size_t n = 0;

	*dst = NULL;
	if (src == NULL)
		return true;
	while (src[n] != NULL)
		n++;
	*dst = calloc(n + 1, sizeof(**dst));
	if (*dst == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!copy_str(&(*dst)[i], src[i]))
			return false;
	}
	return true;
}

struct db_config *config_db_instantiate(const struct db_config *fallback, const char *name)
{
	struct db_config *db = calloc(1, sizeof(*db));

	if (db == NULL)
		return NULL;
	db->port = fallback->port;
	db->pool_size = fallback->pool_size;
	db->min_pool_size = fallback->min_pool_size;
	db->reserve_pool = fallback->reserve_pool;
	db->max_db_connections = fallback->max_db_connections;
	db->pool_mode = fallback->pool_mode;
	db->query_timeout = fallback->query_timeout;
	db->read_routing = fallback->read_routing;
	db->line = fallback->line;
	/* The copy owns every string, so it outlives the config it came from. */
	if (!copy_str(&db->name, name) ||
	    !copy_str(&db->dbname, fallback->dbname != NULL ? fallback->dbname : name) ||
	    !copy_str(&db->host, fallback->host) || !copy_str(&db->user, fallback->user) ||
	    !copy_str(&db->password, fallback->password) ||
	    !copy_str(&db->connect_query, fallback->connect_query) ||
	    !copy_str(&db->client_encoding, fallback->client_encoding) ||
	    !copy_str(&db->datestyle, fallback->datestyle) ||
	    !copy_str(&db->timezone, fallback->timezone) ||
	    !copy_str(&db->application_name, fallback->application_name) ||
	    !copy_list(&db->replicas, fallback->replicas)) {
		config_db_free(db);
		return NULL;
	}
	return db;
}

void config_db_free(struct db_config *db)
{
	if (db == NULL)
		return;
	db_config_release(db);
	free(db);
}

const struct user_config *config_find_user(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_users; i++) {
		if (strcmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	}
	return NULL;
}

enum pool_mode config_pool_mode(const struct config *cfg, const struct db_config *db,
                                const char *user)
{
	const struct user_config *u = user != NULL ? config_find_user(cfg, user) : NULL;

	if (u != NULL && u->pool_mode != POOL_MODE_UNSET)
		return u->pool_mode;
	if (db != NULL && db->pool_mode != POOL_MODE_UNSET)
		return db->pool_mode;
	return cfg->pool_mode;
}

void config_client_timeouts(const struct config *cfg, const struct db_config *db, const char *user,
                            struct client_timeouts *out)
{
	const struct user_config *u = user != NULL ? config_find_user(cfg, user) : NULL;

	out->query = cfg->query_timeout;
	if (db != NULL && db->query_timeout >= 0)
		out->query = db->query_timeout;
	if (u != NULL && u->query_timeout >= 0)
		out->query = u->query_timeout;
	out->idle_transaction = u != NULL && u->idle_transaction_timeout >= 0
	                            ? u->idle_transaction_timeout
	                            : cfg->idle_transaction_timeout;
	out->client_idle = u != NULL && u->client_idle_timeout >= 0 ? u->client_idle_timeout
	                                                            : cfg->client_idle_timeout;
}

const char *config_pool_mode_name(enum pool_mode mode)
{
	switch (mode) {
	case POOL_MODE_UNSET:
		return "unset";
	case POOL_MODE_SESSION:
		return "session";
	case POOL_MODE_TRANSACTION:
		return "transaction";
	case POOL_MODE_STATEMENT:
		return "statement";
	}
	return "unknown";
}

const char *config_auth_type_name(enum auth_type type)
{
	switch (type) {
	case AUTH_TRUST:
		return "trust";
	case AUTH_ANY:
		return "any";
	case AUTH_PLAIN:
		return "plain";
	case AUTH_MD5:
		return "md5";
	case AUTH_SCRAM:
		return "scram-sha-256";
	case AUTH_CERT:
		return "cert";
	case AUTH_HBA:
		return "hba";
	}
	return "unknown";
}

const char *config_tls_mode_name(enum tls_mode mode)
{
	switch (mode) {
	case TLS_DISABLE:
		return "disable";
	case TLS_ALLOW:
		return "allow";
	case TLS_PREFER:
		return "prefer";
	case TLS_REQUIRE:
		return "require";
	case TLS_VERIFY_CA:
		return "verify-ca";
	case TLS_VERIFY_FULL:
		return "verify-full";
	}
	return "unknown";
}

bool config_list_has(char *const *list, const char *name)
{
	if (list == NULL || name == NULL)
		return false;
	for (; *list != NULL; list++) {
		if (strcmp(*list, name) == 0)
			return true;
	}
	return false;
}

/* A time in ms as the file takes it: seconds, with a fraction only when there is one. */
static void format_time(int ms, char *out, size_t outlen)
{
	if (ms < 0)
		snprintf(out, outlen, "-1");
	else if (ms % 1000 == 0)
		snprintf(out, outlen, "%d", ms / 1000);
	else
		snprintf(out, outlen, "%.3f", ms / 1000.0);
}

static void format_list(char *const *list, char *out, size_t outlen)
{
	size_t used = 0;

	out[0] = 0;
	for (; list != NULL && *list != NULL && used + 1 < outlen; list++) {
		int n = snprintf(out + used, outlen - used, "%s%s", used ? "," : "", *list);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* The value of main key DEF in CFG, as text. */
static void format_key(const struct config *cfg, const struct key_def *def, char *out,
                       size_t outlen)
{
	const char *base = (const char *)cfg + def->offset;
	const char *s;

	switch (def->kind) {
	case KEY_INT:
	case KEY_LOG_LEVEL:
	case KEY_VERBOSE:
		snprintf(out, outlen, "%d", *(const int *)base);
		return;
	case KEY_OCTAL:
		snprintf(out, outlen, "0%o", (unsigned)*(const int *)base);
		return;
	case KEY_COUNT:
	case KEY_SIZE:
		snprintf(out, outlen, "%zu", *(const size_t *)base);
		return;
	case KEY_BOOL:
		snprintf(out, outlen, "%d", *(const bool *)base ? 1 : 0);
		return;
	case KEY_TIME:
		format_time(*(const int *)base, out, outlen);
		return;
	case KEY_STR:
	case KEY_PATH:
		s = *(char *const *)base;
		snprintf(out, outlen, "%s", s != NULL ? s : "");
		return;
	case KEY_LIST:
		format_list(*(char **const *)base, out, outlen);
		return;
	case KEY_POOL_MODE:
		snprintf(out, outlen, "%s", config_pool_mode_name(*(const enum pool_mode *)base));
		return;
	case KEY_AUTH_TYPE:
		snprintf(out, outlen, "%s", config_auth_type_name(*(const enum auth_type *)base));
		return;
	case KEY_TLS_MODE:
		snprintf(out, outlen, "%s", config_tls_mode_name(*(const enum tls_mode *)base));
		return;
	case KEY_CHOICE:
		snprintf(out, outlen, "%s", choice_lists[def->min][*(const int *)base]);
		return;
	case KEY_LOG_FORMAT:
		snprintf(out, outlen, "%s",
		         *(const enum log_format *)base == LOG_FORMAT_JSON ? "json" : "logfmt");
		return;
	}
	out[0] = 0;
}

size_t config_key_count(void)
{
	return sizeof(main_keys) / sizeof(main_keys[0]);
}

const char *config_key_describe(const struct config *cfg, size_t i, char *value, size_t vlen)
{
	if (i >= config_key_count())
		return NULL;
	format_key(cfg, &main_keys[i], value, vlen);
	return main_keys[i].name;
}
