/*
 * proto.h - PostgreSQL frontend/backend protocol v3: constants, readers for
 * message bodies and writers that append complete messages to a pbuf.
 *
 * Shared by the client side (client.c) and the server side (server.c).
 * Nothing here does I/O.
 */
#ifndef PGSCOPE_POOLER_PROTO_H
#define PGSCOPE_POOLER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pooler/pbuf.h"

#define PROTO_VERSION_3   196608u   /* 3.0 */
#define PROTO_CANCEL_CODE 80877102u /* CancelRequest */
#define PROTO_SSL_CODE    80877103u /* SSLRequest */
#define PROTO_GSSENC_CODE 80877104u /* GSSENCRequest */

/* A startup-phase packet is at most this long (PostgreSQL uses 10000). */
#define PROTO_MAX_STARTUP 10000u
/* Type byte + length word. */
#define PROTO_HDR 5u

/* Authentication request codes ('R' messages). */
enum proto_auth {
	PROTO_AUTH_OK = 0,
	PROTO_AUTH_CLEARTEXT = 3,
	PROTO_AUTH_MD5 = 5,
	PROTO_AUTH_SASL = 10,
	PROTO_AUTH_SASL_CONTINUE = 11,
	PROTO_AUTH_SASL_FINAL = 12,
};

/* SQLSTATEs the pooler itself raises. */
#define SQLSTATE_PROTOCOL_VIOLATION    "08P01"
#define SQLSTATE_CONNECTION_FAILURE    "08006"
#define SQLSTATE_CANNOT_CONNECT        "08001"
#define SQLSTATE_INVALID_PASSWORD      "28P01"
#define SQLSTATE_INVALID_AUTH_SPEC     "28000"
#define SQLSTATE_INVALID_CATALOG       "3D000"
#define SQLSTATE_TOO_MANY_CONNECTIONS  "53300"
#define SQLSTATE_CONFIG_LIMIT_EXCEEDED "53400"
#define SQLSTATE_ADMIN_SHUTDOWN        "57P01"
#define SQLSTATE_CANNOT_CONNECT_NOW    "57P03"
#define SQLSTATE_QUERY_CANCELED        "57014"
#define SQLSTATE_IDLE_SESSION_TIMEOUT  "57P05"
#define SQLSTATE_IDLE_IN_TXN_TIMEOUT   "25P03"
#define SQLSTATE_FEATURE_NOT_SUPPORTED "0A000"
#define SQLSTATE_OBJECT_NOT_IN_STATE   "55000"
#define SQLSTATE_INTERNAL_ERROR        "XX000"
#define SQLSTATE_OUT_OF_MEMORY         "53200"
#define SQLSTATE_CONFIG_FILE_ERROR     "F0000"

static inline uint32_t proto_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint16_t proto_get16(const uint8_t *p)
{
	return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

static inline void proto_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * A cursor over a message body. Reads past the end, or a string without its
 * terminating NUL, set bad and return empty values; check bad once at the end.
 */
struct proto_reader {
	const uint8_t *pos;
	const uint8_t *end;
	bool bad;
};

void proto_reader_init(struct proto_reader *r, const uint8_t *body, size_t len);
uint8_t proto_read_byte(struct proto_reader *r);
uint16_t proto_read_int16(struct proto_reader *r);
uint32_t proto_read_int32(struct proto_reader *r);
/* A NUL-terminated string inside the body (not copied); "" when bad. */
const char *proto_read_str(struct proto_reader *r);
/* n raw bytes (not copied); NULL when fewer remain. */
const uint8_t *proto_read_bytes(struct proto_reader *r, size_t n);
static inline size_t proto_reader_left(const struct proto_reader *r)
{
	return (size_t)(r->end - r->pos);
}

/*
 * Message writer: proto_begin() reserves the header, the put functions add
 * fields, proto_end() fills in the length. Any failure (the pbuf's limit)
 * latches in w->failed; proto_end() returns false then and removes the
 * partial message.
 */
struct proto_writer {
	struct pbuf *buf;
	size_t rel;    /* the message's first byte, counted from pbuf_head() (compaction-proof) */
	bool has_type; /* false for startup-phase packets */
	bool failed;
};

/* type 0 writes a startup-phase packet (no type byte). */
void proto_begin(struct proto_writer *w, struct pbuf *buf, char type);
void proto_put_byte(struct proto_writer *w, uint8_t v);
void proto_put_int16(struct proto_writer *w, uint16_t v);
void proto_put_int32(struct proto_writer *w, uint32_t v);
void proto_put_str(struct proto_writer *w, const char *s); /* with its NUL */
void proto_put_bytes(struct proto_writer *w, const void *p, size_t n);
bool proto_end(struct proto_writer *w);

/* Whole messages, appended to buf; false if buf's limit was reached. */
bool proto_write_error(struct pbuf *buf, const char *severity, const char *sqlstate,
                       const char *message);
bool proto_write_notice(struct pbuf *buf, const char *sqlstate, const char *message);
bool proto_write_auth(struct pbuf *buf, uint32_t code, const void *data, size_t len);
bool proto_write_param_status(struct pbuf *buf, const char *name, const char *value);
bool proto_write_backend_key(struct pbuf *buf, uint32_t pid, uint32_t key);
bool proto_write_ready(struct pbuf *buf, char status);
bool proto_write_query(struct pbuf *buf, const char *sql);
bool proto_write_terminate(struct pbuf *buf);
/* PasswordMessage / SASLInitialResponse / SASLResponse share type 'p'. */
bool proto_write_password(struct pbuf *buf, const char *password);
bool proto_write_sasl_initial(struct pbuf *buf, const char *mech, const void *data, size_t len);
bool proto_write_sasl_response(struct pbuf *buf, const void *data, size_t len);
bool proto_write_cancel(struct pbuf *buf, uint32_t pid, uint32_t key);

/* Fields of an ErrorResponse/NoticeResponse body. Pointers into the body. */
struct proto_error_info {
	const char *severity; /* V (non-localized) or S */
	const char *sqlstate; /* C */
	const char *message;  /* M */
};

/* Parse an 'E' or 'N' body; missing fields are "". false if malformed. */
bool proto_parse_error(const uint8_t *body, size_t len, struct proto_error_info *out);

/* Rows counted in a CommandComplete tag ("SELECT 5", "INSERT 0 3"); -1 if none. */
long long proto_tag_rows(const char *tag);

/*
 * Append s to out as a single-quoted SQL literal (doubling quotes and
 * prefixing E when backslashes occur). out has room outlen; false if it does
 * not fit.
 */
bool proto_quote_literal(const char *s, char *out, size_t outlen);

/* Append ident as a double-quoted identifier. false if it does not fit. */
bool proto_quote_ident(const char *ident, char *out, size_t outlen);

#endif
