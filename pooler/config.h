/*
 * config.h - the pooler's configuration, read from a pgbouncer.ini-style file.
 *
 * The file is INI: a main section [pgscope] (with [pgbouncer] read as an alias
 * so an unchanged pgbouncer.ini starts pgscope), [databases] whose values are
 * libpq-style "key=value ..." connection strings, [users] with per-user
 * settings, and [rules] for the analyzer. Keys match pgbouncer.ini where the
 * meaning is the same. A bad value or a key that neither pgscope nor PgBouncer
 * knows is an error naming file, line and key; a PgBouncer key pgscope does
 * not use, or a key it reads but does not act on yet set to anything but its
 * default, gives one warning.
 */
#ifndef PGSCOPE_POOLER_CONFIG_H
#define PGSCOPE_POOLER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum pool_mode {
	POOL_MODE_UNSET = 0, /* inherit from the enclosing level */
	POOL_MODE_SESSION,
	POOL_MODE_TRANSACTION,
	POOL_MODE_STATEMENT,
};

/* Where transactions that only read may run (read_routing). */
enum read_routing {
	READ_ROUTING_OFF = 0,              /* everything on the primary */
	READ_ROUTING_REPLICAS,             /* reads on the replicas; the primary when none can */
	READ_ROUTING_REPLICAS_AND_PRIMARY, /* reads spread over the replicas and the primary */
};

/* How a read picks among the replicas that can take it (balancing). */
enum balancing {
	BALANCING_ROUND_ROBIN = 0,
	BALANCING_LEAST_CONNECTIONS,
	BALANCING_WEIGHTED,
};

/* How a client is kept from reading older data than it wrote (read_your_writes). */
enum read_your_writes {
	RYW_LSN = 0, /* a replica that has replayed the client's last commit */
	RYW_WINDOW,  /* the primary for read_after_write_delay after a write */
	RYW_OFF,
};

enum auth_type {
	AUTH_TRUST = 0, /* no password asked; user must exist when auth_file is set */
	AUTH_ANY,       /* no password asked, any user name accepted */
	AUTH_PLAIN,     /* cleartext password checked against auth_file */
	AUTH_MD5,       /* md5 challenge against auth_file */
	AUTH_SCRAM,     /* SCRAM-SHA-256 against auth_file */
	AUTH_CERT,      /* a verified TLS client certificate whose CN is the user name */
	AUTH_HBA,       /* per connection, from auth_hba_file (hba.h) */
};

/* client_tls_sslmode / server_tls_sslmode, with PgBouncer's (and libpq's) names. */
enum tls_mode {
	TLS_DISABLE = 0, /* no TLS */
	TLS_ALLOW,       /* clients: TLS if asked; servers: no SSLRequest */
	TLS_PREFER,      /* clients: as allow; servers: TLS if the server offers it */
	TLS_REQUIRE,     /* TLS or no connection; certificates not checked */
	TLS_VERIFY_CA,   /* TLS with a peer certificate signed by the CA file */
	TLS_VERIFY_FULL, /* as verify-ca; servers: the host name must match the certificate */
};

enum log_format {
	LOG_FORMAT_LOGFMT = 0,
	LOG_FORMAT_JSON,
};

/* One [databases] entry: "name = host=... port=... dbname=... user=..." */
struct db_config {
	char *name;            /* the name clients connect to; "*" is the fallback */
	char *host;            /* host name, IP address, or a Unix socket directory (starts with /);
	                        * NULL: a Unix socket in unix_socket_dir, as PgBouncer does */
	int port;              /* server port (default 5432) */
	char *dbname;          /* database name on the server (default: name; for "*", NULL
	                        * meaning the database the client asked for) */
	char *user;            /* force this server user (NULL: the client's user) */
	char *password;        /* password for user (NULL: from auth_file) */
	char *connect_query;   /* run once on each new server connection (NULL: none) */
	char *client_encoding; /* NULL: not set */
	char *datestyle;       /* NULL: not set */
	char *timezone;        /* NULL: not set */
	char *application_name;   /* NULL: not set */
	int pool_size;            /* -1: default_pool_size */
	int min_pool_size;        /* -1: min_pool_size */
	int reserve_pool;         /* -1: reserve_pool_size */
	int max_db_connections;   /* -1: global max_db_connections */
	enum pool_mode pool_mode; /* POOL_MODE_UNSET: the user's or the global one */
	char **replicas;          /* NULL-terminated "host:port" streaming replicas, or NULL */
	int query_timeout;        /* ms; -1: the user's or the global one */
	int read_routing;         /* enum read_routing, -1: the global one */
	int line;                 /* line in the config file, for messages */
};

/* One [users] entry: "name = pool_mode=... max_user_connections=..." */
struct user_config {
	char *name;
	enum pool_mode pool_mode;     /* POOL_MODE_UNSET: inherit */
	int max_user_connections;     /* -1: global value */
	int query_timeout;            /* ms; -1: the database's or the global one */
	int idle_transaction_timeout; /* ms; -1: the global one */
	int client_idle_timeout;      /* ms; -1: the global one */
	int line;
};

/* One [rules] entry, handed verbatim to the analyzer: "ID = severity" or "ID.option = value". */
struct rule_setting {
	char *key;
	char *value;
	int line;
};

/*
 * The whole configuration. Times are in milliseconds (the file takes seconds,
 * possibly fractional, as pgbouncer.ini does, or a value with a unit suffix
 * ms/s/min/h). Sizes are in bytes. Every string is owned by the struct and
 * freed by config_free().
 */
struct config {
	char *path; /* the file this was read from */

	/* listening */
	char *listen_addr;     /* comma-separated, "*" = all; NULL (default) or "" = no TCP */
	int listen_port;       /* default 6432 */
	char *unix_socket_dir; /* NULL or "" = no Unix socket; default /tmp */
	int unix_socket_mode;  /* default 0777 */
	int listen_backlog;    /* default 128 */

	/* authentication */
	enum auth_type auth_type; /* default AUTH_TRUST */
	char *auth_file;          /* userlist.txt format: "user" "password-or-hash" */
	char **admin_users;       /* NULL-terminated list */
	char **stats_users;       /* NULL-terminated list */
	char *auth_hba_file;      /* pg_hba.conf-style rules for auth_type hba */
	char *auth_query;         /* fetches a secret not in auth_file; $1 is the user name */
	char *auth_user;          /* the server user auth_query runs as (NULL: no auth_query) */
	char *auth_dbname;        /* the database auth_query runs in (NULL: the client's) */

	/* TLS (tls.h); files are PEM, NULL = not set */
	enum tls_mode client_tls_sslmode; /* default TLS_DISABLE */
	char *client_tls_key_file;
	char *client_tls_cert_file;
	char *client_tls_ca_file;         /* checks client certificates (verify-ca, cert auth) */
	char *client_tls_protocols;       /* default "secure" (TLS 1.2 and 1.3) */
	char *client_tls_ciphers;         /* OpenSSL cipher list for TLS 1.2; default "default" */
	enum tls_mode server_tls_sslmode; /* default TLS_PREFER, as PgBouncer */
	char *server_tls_key_file;        /* client certificate pgscope shows servers */
	char *server_tls_cert_file;
	char *server_tls_ca_file; /* checks server certificates (verify-ca, verify-full) */
	char *server_tls_protocols;
	char *server_tls_ciphers;

	/* pooling */
	enum pool_mode pool_mode;       /* default POOL_MODE_SESSION */
	int default_pool_size;          /* default 20 */
	int min_pool_size;              /* default 0 */
	int reserve_pool_size;          /* default 0 */
	int reserve_pool_timeout;       /* ms, default 5000 */
	int max_client_conn;            /* default 100 */
	int max_db_connections;         /* 0 = unlimited */
	int max_user_connections;       /* 0 = unlimited */
	int max_prepared_statements;    /* per server connection, default 200 */
	char *server_reset_query;       /* default "DISCARD ALL" */
	bool server_reset_query_always; /* default false */
	char *server_check_query;       /* default "select 1" */
	int server_check_delay;         /* ms, default 30000 */
	int server_lifetime;            /* ms, default 3600000 */
	int server_idle_timeout;        /* ms, default 600000 */
	int server_connect_timeout;     /* ms, default 15000 */
	int server_login_retry;         /* ms, default 15000 */
	int breaker_failures;           /* outage failures in a row that open it, default 3 */
	int breaker_backoff;            /* ms, first wait before a probe, default 1000 */
	int breaker_backoff_max;        /* ms, the doubled wait stops here, default 4000 */
	int read_routing;               /* enum read_routing, default READ_ROUTING_OFF */
	int balancing;                  /* enum balancing, between replicas */
	int read_your_writes;           /* enum read_your_writes, default RYW_LSN */
	int read_after_write_delay;     /* ms, read_your_writes = window, default 1000 */
	int replica_check_period;       /* ms, replay position polled this often, default 1000 */
	int max_replica_lag;            /* ms, a replica further behind is skipped; 0 = no limit */
	int query_timeout;              /* ms, 0 = off */
	int query_wait_timeout;         /* ms, default 120000 */
	int client_idle_timeout;        /* ms, 0 = off */
	int client_login_timeout;       /* ms, default 60000 */
	int idle_transaction_timeout;   /* ms, 0 = off */
	bool tcp_keepalive;             /* SO_KEEPALIVE on TCP sockets, default true */
	int tcp_keepidle;               /* s before the first probe, 0 = the OS default */
	int tcp_keepintvl;              /* s between probes, 0 = the OS default */
	int tcp_keepcnt;                /* probes before the connection is dropped, 0 = OS */
	int tcp_user_timeout;           /* ms unacknowledged data may wait, 0 = the OS default */
	int notify_stall_timeout;       /* ms, default 30000; 0 = off */
	char **ignore_startup_parameters; /* NULL-terminated list */
	char **track_extra_parameters;    /* NULL-terminated, SET-tracked; default IntervalStyle */

	/* limits */
	size_t max_packet_size; /* default 2147483647 as in PgBouncer; pgscope default 64 MiB */
	size_t pkt_buf;         /* socket read buffer, default 4096 */
	size_t sbuf_loopcnt;    /* default 5 */

	/* analysis and capture */
	bool analyze;              /* default true */
	size_t analyze_max_bytes;  /* default 65536 */
	bool analyze_schema;       /* read each database's schema for the rules, default true */
	int catalog_refresh;       /* ms between schema snapshots per database, default 300000;
	                              0 = one at start (and after DDL) only */
	char *analyze_user;        /* server user whose pools read the schema; NULL = any pool's */
	bool capture;              /* default false */
	char *capture_dir;         /* default NULL */
	bool capture_compress;     /* gzip capture files, default false */
	size_t capture_max_bytes;  /* new file after this many bytes, 0 = no limit; 64 MiB */
	int capture_max_age;       /* ms, new file after this long, 0 = no limit; 3600000 */
	bool capture_literals;     /* write statement text with its values, default false */
	size_t capture_queue_size; /* bytes queued for the capture writer, default 8 MiB */

	/* logging and process */
	char *logfile;              /* NULL = stderr */
	char *pidfile;              /* NULL = none */
	int shutdown_timeout;       /* ms a stop waits for transactions to end, default 30000 */
	char *takeover_socket;      /* control socket for --takeover; NULL = derived (takeover.h) */
	enum log_format log_format; /* default logfmt */
	int log_level;              /* enum log_level, default LOG_INFO; verbose > 0 = LOG_DEBUG */
	bool log_connections;       /* default true */
	bool log_disconnections;    /* default true */
	bool log_pooler_errors;     /* default true */
	int log_min_duration;       /* ms: statements this slow are logged; -1 = off (default) */

	/* operations: periodic stats, the HTTP endpoint (admin console keys are above) */
	int stats_period;        /* ms between "stats" log lines and SHOW STATS averages, 60000 */
	char *admin_http_listen; /* "host:port" of /metrics, /healthz...; NULL or "" = off */
	char *admin_http_token;  /* bearer token the HTTP endpoint asks for; NULL = none */
	char *review_baseline_file; /* baseline the page's "reviewed" buttons add to; NULL = none */

	struct db_config *dbs; /* [databases], in file order */
	size_t n_dbs;
	struct user_config *users; /* [users] */
	size_t n_users;
	struct rule_setting *rules; /* [rules] */
	size_t n_rules;
};

/*
 * Fill *cfg with the defaults above. cfg is caller-owned storage; free what
 * this allocates with config_free().
 */
void config_init_defaults(struct config *cfg);

/*
 * Read path into *cfg (which this initialises with defaults first). On error
 * returns false and writes a one-line message "FILE:LINE: key 'K': why" into
 * err (size errlen); cfg is then already freed. Warnings for PgBouncer keys
 * that pgscope does not use go to the log, once per key.
 */
bool config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* Release everything config_load()/config_init_defaults() allocated. */
void config_free(struct config *cfg);

/* The [databases] entry for name, falling back to "*"; NULL if neither. */
const struct db_config *config_find_db(const struct config *cfg, const char *name);

/*
 * A copy of the "*" entry for database name, as PgBouncer makes one per
 * database asked for: name is set, and dbname too unless the "*" entry
 * names one. Given any other entry and its own name, an exact copy (each
 * pool keeps one of its entry). Free it with config_db_free(); it does not
 * point into cfg, so it outlives a reload. NULL when out of memory.
 */
struct db_config *config_db_instantiate(const struct db_config *fallback, const char *name);

/* Free a config_db_instantiate() result (NULL is ignored). */
void config_db_free(struct db_config *db);

/* The [users] entry for name, or NULL. */
const struct user_config *config_find_user(const struct config *cfg, const char *name);

/*
 * The pool mode for (db, user): the [users] entry's, else the [databases]
 * entry's, else the global one.
 */
enum pool_mode config_pool_mode(const struct config *cfg, const struct db_config *db,
                                const char *user);

/* The timeouts that apply to one client, in ms (0 = off). */
struct client_timeouts {
	int query;            /* query_timeout */
	int idle_transaction; /* idle_transaction_timeout */
	int client_idle;      /* client_idle_timeout */
};

/*
 * The timeouts for a client of (db, user): the [users] entry's value, else
 * (query_timeout only) the [databases] entry's, else the global one. A
 * pgscope:timeout comment in a statement overrides the query timeout for it
 * (sqlscan_timeout_hint()).
 */
void config_client_timeouts(const struct config *cfg, const struct db_config *db, const char *user,
                            struct client_timeouts *out);

/* Name of a pool mode / auth type, as written in the file. */
const char *config_pool_mode_name(enum pool_mode mode);

/* The name of VALUE of a KEY_CHOICE key: LIST 0 read_routing, 1 balancing, 2 read_your_writes. */
const char *config_choice_name(int list, int value);
const char *config_auth_type_name(enum auth_type type);
const char *config_tls_mode_name(enum tls_mode mode);

/* How many keys the main section has. */
size_t config_key_count(void);

/*
 * Key I of the main section (0 <= I < config_key_count()): its name, with
 * its value in CFG written into value as the file would take it. NULL when
 * I is out of range.
 */
const char *config_key_describe(const struct config *cfg, size_t i, char *value, size_t vlen);

/* true if name is in the NULL-terminated list. */
bool config_list_has(char *const *list, const char *name);

#endif
