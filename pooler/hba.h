/*
 * hba.h - auth_hba_file: which authentication method a connection gets, in
 * pg_hba.conf's syntax and first-match order.
 *
 * Supported, as in PostgreSQL: connection types local, host, hostssl and
 * hostnossl (hostgssenc never matches, hostnogssenc matches as host); database
 * names, "all", "sameuser", "replication" (which never matches: pgscope
 * refuses replication connections) and @file; user names, "all" and @file;
 * addresses as CIDR, as address plus mask, or "all"; quoted names and
 * comma-separated lists; methods trust, reject, md5, scram-sha-256, password
 * and cert. Options after the method (name=value) are read and ignored.
 * Not supported, refused with the line named: +group and samerole/samegroup
 * (they need the server's catalog), samehost/samenet, host names as
 * addresses, and every other method (peer, ident, ldap, ...).
 */
#ifndef PGSCOPE_POOLER_HBA_H
#define PGSCOPE_POOLER_HBA_H

#include <stdbool.h>
#include <stddef.h>

#include "pooler/config.h"

/* How the client is connected. */
enum hba_conn {
	HBA_CONN_LOCAL = 0, /* Unix socket */
	HBA_CONN_HOST,      /* TCP without TLS */
	HBA_CONN_HOSTSSL,   /* TCP with TLS */
};

/* What a line tells to do. */
enum hba_method {
	HBA_TRUST = 0,
	HBA_REJECT,
	HBA_MD5,
	HBA_SCRAM,
	HBA_PASSWORD,
	HBA_CERT,
};

struct hba;

/*
 * Read path. NULL with "FILE:LINE: why" in err when the file cannot be read
 * or a line is not understood (PostgreSQL refuses such a file too).
 */
struct hba *hba_load(const char *path, char *err, size_t errlen);

void hba_free(struct hba *h);

/*
 * The method of the first line that matches, or false when none does (then
 * PostgreSQL's answer is "no pg_hba.conf entry"). addr is the client's IP
 * address as text (ignored for HBA_CONN_LOCAL).
 */
bool hba_match(const struct hba *h, enum hba_conn conn, const char *database, const char *user,
               const char *addr, enum hba_method *method);

/* The auth_type that carries out a method (HBA_REJECT has none: AUTH_TRUST is returned). */
enum auth_type hba_auth_type(enum hba_method method);

/* The rules in use (auth_type = hba), loaded by hba_reload(); NULL when none. */
const struct hba *hba_current(void);

/*
 * Load cfg's auth_hba_file as the rules in use (at start and on SIGHUP). When
 * it cannot be used the error is logged, the rules in use stay and false is
 * returned. No file: no rules.
 */
bool hba_reload(const struct config *cfg);

#endif
