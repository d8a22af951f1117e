/*
 * tls.c - the OpenSSL transport for client and server connections (see tls.h).
 *
 * The contexts follow PostgreSQL's choices: no renegotiation, no
 * compression, no session tickets or cache (each connection is a full
 * handshake, as with PostgreSQL), and ALPN "postgresql" as PostgreSQL 17
 * selects it.
 */
#include "pooler/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "pooler/log.h"
#include "pooler/proto.h"

/* ALPN protocol list in wire form: a length byte, then the name. */
static const unsigned char alpn_postgresql[] = "\x0apostgresql";
#define ALPN_LEN (sizeof(alpn_postgresql) - 1)

static struct {
	SSL_CTX *accept_ctx;  /* for clients connecting to pgscope; NULL: no TLS for them */
	SSL_CTX *connect_ctx; /* for pgscope connecting to servers */
} tls;

/* ---- contexts ---- */

/* The last OpenSSL error as text, for messages. */
static const char *tls_error_text(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : "unknown TLS error";
}

static int version_of(const char *name)
{
	static const struct {
		const char *name;
		int version;
	} names[] = {{"tlsv1", TLS1_VERSION},
	             {"tlsv1.0", TLS1_VERSION},
	             {"tlsv1.1", TLS1_1_VERSION},
	             {"tlsv1.2", TLS1_2_VERSION},
	             {"tlsv1.3", TLS1_3_VERSION}};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0)
			return names[i].version;
	}
	return 0;
}

/*
 * PgBouncer's tls_protocols: a list of tlsv1.0..tlsv1.3, or "secure" (1.2
 * and 1.3, the default), "all"/"legacy" (1.0 to 1.3). OpenSSL takes a range,
 * so the lowest and highest named versions bound it.
 */
static bool set_protocols(SSL_CTX *ctx, const char *spec, char *err, size_t errlen)
{
	char buf[128], *save = NULL;
	int lo = INT_MAX, hi = 0;

	if (spec == NULL || spec[0] == 0 || strcasecmp(spec, "secure") == 0)
		spec = "tlsv1.2,tlsv1.3";
	else if (strcasecmp(spec, "all") == 0 || strcasecmp(spec, "legacy") == 0)
		spec = "tlsv1.0,tlsv1.3";
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *t = strtok_r(buf, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
		int v = version_of(t);

		if (v == 0) {
			snprintf(err, errlen, "'%s' is not a TLS protocol (tlsv1.0 to tlsv1.3)", t);
			return false;
		}
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	if (hi == 0) {
		snprintf(err, errlen, "no TLS protocol named");
		return false;
	}
	return SSL_CTX_set_min_proto_version(ctx, lo) == 1 &&
	       SSL_CTX_set_max_proto_version(ctx, hi) == 1;
}

/* PgBouncer's cipher keywords, or an OpenSSL cipher list (TLS 1.2 and below). */
static bool set_ciphers(SSL_CTX *ctx, const char *spec, char *err, size_t errlen)
{
	if (spec == NULL || spec[0] == 0 || strcasecmp(spec, "default") == 0)
		return true;
	if (strcasecmp(spec, "secure") == 0 || strcasecmp(spec, "normal") == 0 ||
	    strcasecmp(spec, "fast") == 0)
		spec = "HIGH:!aNULL:!MD5";
	else if (strcasecmp(spec, "all") == 0)
		spec = "ALL:!aNULL";
	if (SSL_CTX_set_cipher_list(ctx, spec) != 1) {
		snprintf(err, errlen, "no usable cipher in '%s'", spec);
		return false;
	}
	return true;
}

static SSL_CTX *ctx_new(const SSL_METHOD *method, const char *protocols, const char *ciphers,
                        char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(method);

	if (ctx == NULL) {
		snprintf(err, errlen, "%s", tls_error_text());
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	                             SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Partial writes fit conn_flush(); buffers go while a connection idles. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                          SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!set_protocols(ctx, protocols, err, errlen) ||
	    !set_ciphers(ctx, ciphers, err, errlen)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static bool load_pair(SSL_CTX *ctx, const char *cert, const char *key, char *err, size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "could not load certificate \"%s\": %s", cert,
		         tls_error_text());
		return false;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "could not load private key \"%s\": %s", key,
		         tls_error_text());
		return false;
	}
	return true;
}

static bool load_ca(SSL_CTX *ctx, const char *ca, char *err, size_t errlen)
{
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		snprintf(err, errlen, "could not load CA file \"%s\": %s", ca, tls_error_text());
		return false;
	}
	return true;
}

/* Below verify-ca a client certificate is asked for but not judged (cert auth judges it). */
static int verify_accept_any(int preverify_ok, X509_STORE_CTX *store)
{
	(void)preverify_ok;
	(void)store;
	return 1;
}

/*
 * ALPN as PostgreSQL 17 answers it: "postgresql" if offered, a fatal alert
 * if the client offers only other protocols.
 */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *sel = NULL;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, alpn_postgresql, ALPN_LEN, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *accept_ctx_build(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = ctx_new(TLS_server_method(), cfg->client_tls_protocols,
	                       cfg->client_tls_ciphers, err, errlen);

	if (ctx == NULL)
		return NULL;
	if (!load_pair(ctx, cfg->client_tls_cert_file, cfg->client_tls_key_file, err, errlen))
		goto out_free;
	if (cfg->client_tls_ca_file != NULL) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_tls_ca_file);

		if (!load_ca(ctx, cfg->client_tls_ca_file, err, errlen)) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			goto out_free;
		}
		if (names != NULL)
			SSL_CTX_set_client_CA_list(ctx, names);
		if (cfg->client_tls_sslmode >= TLS_VERIFY_CA)
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			                   NULL);
		else
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_accept_any);
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
out_free:
	SSL_CTX_free(ctx);
	return NULL;
}

static SSL_CTX *connect_ctx_build(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = ctx_new(TLS_client_method(), cfg->server_tls_protocols,
	                       cfg->server_tls_ciphers, err, errlen);

	if (ctx == NULL)
		return NULL;
	if (cfg->server_tls_ca_file != NULL) {
		if (!load_ca(ctx, cfg->server_tls_ca_file, err, errlen))
			goto out_free;
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errlen, "could not load the system CA store: %s", tls_error_text());
		goto out_free;
	}
	if (cfg->server_tls_cert_file != NULL &&
	    !load_pair(ctx, cfg->server_tls_cert_file, cfg->server_tls_key_file, err, errlen))
		goto out_free;
	if (SSL_CTX_set_alpn_protos(ctx, alpn_postgresql, ALPN_LEN) != 0)
		goto out_free;
	return ctx;
out_free:
	SSL_CTX_free(ctx);
	return NULL;
}

bool tls_init(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *accept_ctx = NULL, *connect_ctx = NULL;

	ERR_clear_error();
	if (cfg->client_tls_sslmode != TLS_DISABLE) {
		accept_ctx = accept_ctx_build(cfg, err, errlen);
		if (accept_ctx == NULL)
			return false;
	}
	if (cfg->server_tls_sslmode >= TLS_PREFER) {
		connect_ctx = connect_ctx_build(cfg, err, errlen);
		if (connect_ctx == NULL) {
			SSL_CTX_free(accept_ctx);
			return false;
		}
	}
	tls_shutdown();
	tls.accept_ctx = accept_ctx;
	tls.connect_ctx = connect_ctx;
	return true;
}

void tls_reload(const struct config *cfg)
{
	char err[512] = "";

	if (tls_init(cfg, err, sizeof(err)))
		log_event(LOG_INFO, "tls.reload", LOG_STR, "client_tls_sslmode",
		          config_tls_mode_name(cfg->client_tls_sslmode), LOG_STR,
		          "server_tls_sslmode", config_tls_mode_name(cfg->server_tls_sslmode),
		          LOG_END);
	else
		log_event(LOG_ERROR, "tls.reload_failed", LOG_STR, "error", err, LOG_STR, "action",
		          "the previous certificates stay in use", LOG_END);
}

void tls_shutdown(void)
{
	/* Sessions hold their own references: freeing here ends nothing that runs. */
	SSL_CTX_free(tls.accept_ctx);
	SSL_CTX_free(tls.connect_ctx);
	tls.accept_ctx = NULL;
	tls.connect_ctx = NULL;
}

bool tls_client_enabled(void)
{
	return tls.accept_ctx != NULL;
}

/* ---- the transport ---- */

/* Why the last operation on c failed, for the log. */
static void tls_log_failure(const struct conn *c, int ssl_error)
{
	log_event(LOG_INFO, "tls.error", LOG_INT, "fd", (long long)c->fd, LOG_STR, "error",
	          ssl_error == SSL_ERROR_SSL ? tls_error_text() : strerror(errno), LOG_END);
}

/*
 * Map an SSL_read/SSL_write/SSL_do_handshake result of n <= 0 to the plain
 * transport's: -1 with EAGAIN when it would block (io_wants_write when it
 * waits to write), 0 at the peer's orderly end, -1 with an errno otherwise.
 */
static ssize_t tls_result(struct conn *c, int n)
{
	int e = SSL_get_error(c->io_state, n);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		c->io_wants_write = true;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == 0)
			return 0; /* EOF without close_notify, which PostgreSQL accepts too */
		tls_log_failure(c, e);
		return -1;
	default:
		tls_log_failure(c, e);
		errno = ECONNRESET;
		return -1;
	}
}

static ssize_t tls_recv(struct conn *c, void *buf, size_t len)
{
	int n;

	ERR_clear_error();
	errno = 0;
	n = SSL_read(c->io_state, buf, len > INT_MAX ? INT_MAX : (int)len);
	return n > 0 ? n : tls_result(c, n);
}

static ssize_t tls_send(struct conn *c, const void *buf, size_t len)
{
	int n;

	ERR_clear_error();
	errno = 0;
	n = SSL_write(c->io_state, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return n;
	if (tls_result(c, n) == 0)
		errno = EPIPE; /* the peer ended the session: a write cannot go on */
	return -1;
}

static size_t tls_pending(const struct conn *c)
{
	return (size_t)SSL_pending(c->io_state);
}

static int tls_shutdown_write(struct conn *c)
{
	/* close_notify, once; a failure to send it still ends our writing. */
	ERR_clear_error();
	(void)SSL_shutdown(c->io_state);
	return shutdown(c->fd, SHUT_WR);
}

static void tls_release(struct conn *c)
{
	SSL_free(c->io_state);
	c->io_state = NULL;
	c->io = &conn_io_plain;
}

const struct conn_io_ops conn_io_tls = {
    .name = "tls",
    .recv = tls_recv,
    .send = tls_send,
    .pending = tls_pending,
    .shutdown_write = tls_shutdown_write,
    .release = tls_release,
};

static bool tls_attach(struct conn *c, SSL_CTX *ctx)
{
	SSL *ssl;

	if (ctx == NULL)
		return false;
	ssl = SSL_new(ctx);
	if (ssl == NULL)
		return false;
	if (SSL_set_fd(ssl, c->fd) != 1) {
		SSL_free(ssl);
		return false;
	}
	c->io_state = ssl;
	c->io = &conn_io_tls;
	return true;
}

bool tls_accept_start(struct conn *c)
{
	if (!tls_attach(c, tls.accept_ctx))
		return false;
	SSL_set_accept_state(c->io_state);
	return true;
}

/* verify-full: the host name (or IP address) must be in the server's certificate. */
static bool tls_expect_host(SSL *ssl, const char *host)
{
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	unsigned char addr[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1;
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set1_host(ssl, host) == 1 && SSL_set_tlsext_host_name(ssl, host) == 1;
}

bool tls_connect_start(struct conn *c, enum tls_mode mode, const char *host)
{
	SSL *ssl;

	if (!tls_attach(c, tls.connect_ctx))
		return false;
	ssl = c->io_state;
	SSL_set_connect_state(ssl);
	SSL_set_verify(ssl, mode >= TLS_VERIFY_CA ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (mode == TLS_VERIFY_FULL && (host == NULL || !tls_expect_host(ssl, host))) {
		tls_release(c);
		return false;
	}
	return true;
}

bool tls_queue_request(struct conn *c)
{
	uint8_t req[8];

	proto_put32(req, 8);
	proto_put32(req + 4, PROTO_SSL_CODE);
	return pbuf_append(&c->out, req, sizeof(req));
}

enum tls_answer tls_read_answer(struct conn *c, enum tls_mode mode, const char *host, char *err,
                                size_t errlen)
{
	enum conn_io r = conn_fill(c, 1);
	uint8_t answer;

	if (r == CONN_AGAIN)
		return TLS_ANSWER_WAIT;
	if (r != CONN_OK) {
		snprintf(err, errlen, "%s",
		         r == CONN_EOF ? "server closed the connection" : strerror(errno));
		return TLS_ANSWER_FAILED;
	}
	answer = pbuf_head(&c->in)[0];
	pbuf_consume(&c->in, 1);
	if (answer == 'N' && mode < TLS_REQUIRE)
		return TLS_ANSWER_PLAIN;
	if (answer == 'N') {
		snprintf(err, errlen,
		         "server does not support TLS, and server_tls_sslmode requires it");
		return TLS_ANSWER_FAILED;
	}
	if (answer != 'S') {
		snprintf(err, errlen, "invalid answer to SSLRequest");
		return TLS_ANSWER_FAILED;
	}
	/* What came with the answer was sent in clear, past the point TLS protects. */
	if (pbuf_len(&c->in) > 0) {
		snprintf(err, errlen, "received unencrypted data after SSL response");
		return TLS_ANSWER_FAILED;
	}
	if (!tls_connect_start(c, mode, host)) {
		snprintf(err, errlen, "could not start TLS");
		return TLS_ANSWER_FAILED;
	}
	return TLS_ANSWER_TLS;
}

enum conn_io tls_handshake(struct conn *c, char *err, size_t errlen)
{
	int n;
	long vr;

	ERR_clear_error();
	errno = 0;
	c->io_wants_write = false;
	n = SSL_do_handshake(c->io_state);
	if (n == 1) {
		if (ev_is_active(&c->wio) && pbuf_len(&c->out) == 0)
			ev_io_stop(c->ev, &c->wio);
		return CONN_OK;
	}
	if (tls_result(c, n) == -1 && errno == EAGAIN) {
		if (c->io_wants_write && !ev_is_active(&c->wio))
			ev_io_start(c->ev, &c->wio);
		else if (!c->io_wants_write && ev_is_active(&c->wio))
			ev_io_stop(c->ev, &c->wio);
		return CONN_AGAIN;
	}
	vr = SSL_get_verify_result(c->io_state);
	if (vr != X509_V_OK)
		snprintf(err, errlen, "TLS handshake failed: certificate verify failed: %s",
		         X509_verify_cert_error_string(vr));
	else
		snprintf(err, errlen, "TLS handshake failed: %s", tls_error_text());
	return CONN_ERROR;
}

bool tls_active(const struct conn *c)
{
	return c->io == &conn_io_tls;
}

bool tls_alpn_postgresql(const struct conn *c)
{
	const unsigned char *p = NULL;
	unsigned int len = 0;

	if (!tls_active(c))
		return false;
	SSL_get0_alpn_selected(c->io_state, &p, &len);
	return len == ALPN_LEN - 1 && memcmp(p, alpn_postgresql + 1, len) == 0;
}

bool tls_describe(const struct conn *c, char *out, size_t outlen)
{
	if (!tls_active(c))
		return false;
	snprintf(out, outlen, "%s/%s", SSL_get_version(c->io_state),
	         SSL_get_cipher_name(c->io_state));
	return true;
}

bool tls_peer_cn(const struct conn *c, char *out, size_t outlen)
{
	X509 *cert;
	int n = -1;

	if (!tls_active(c) || SSL_get_verify_result(c->io_state) != X509_V_OK)
		return false;
	cert = SSL_get1_peer_certificate(c->io_state);
	if (cert == NULL)
		return false;
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out,
	                              (int)outlen);
	X509_free(cert);
	/* a CN with an embedded NUL could pass for a shorter name: refuse it */
	return n > 0 && (size_t)n < outlen && strlen(out) == (size_t)n;
}
