/*
 * http.h - the operations HTTP endpoint (admin_http_listen): /metrics in
 * Prometheus text format, /healthz, /readyz, /api/{pools,stats,endpoints,
 * queries,findings} as JSON and the live page at / (page.c), with an optional bearer token
 * (admin_http_token).
 *
 * Served on the event loop with non-blocking sockets: a small fixed number
 * of connections (more are refused at once), each request bounded in size
 * (HTTP_REQUEST_MAX) and time (HTTP_TIMEOUT); HTTP/1.1 keep-alive (as
 * Prometheus scrapes), a connection idle between requests giving its slot
 * to a new one when all are taken.
 * Nothing here blocks, so forwarding never waits on a scrape. Event-loop
 * thread only.
 */
#ifndef PGSCOPE_POOLER_HTTP_H
#define PGSCOPE_POOLER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop_state;
struct config;
struct pbuf;

#define HTTP_MAX_CONNS   8    /* connections served at once */
#define HTTP_REQUEST_MAX 8192 /* bytes of request line, headers and body (a form) */
#define HTTP_TIMEOUT     5.0  /* seconds for a request: from accept, or from the last answer */

/* Listen on cfg->admin_http_listen ("host:port") when set; false (logged) when that fails. */
bool http_start(struct loop_state *ls, const struct config *cfg);

/* Close the listener and every connection. */
void http_stop(struct loop_state *ls);

/* What a request gets: status, content type and body (pure, for the unit tests too). */
struct http_reply {
	int status;
	const char *content_type;
	const char *location; /* a 303's Location, or NULL */
};

/*
 * Answer the request in REQ (request line and headers, NUL-terminated) on
 * ls: the body goes to BODY, the status and type to *reply. TOKEN is the
 * bearer token asked for, or NULL.
 */
void http_route(struct loop_state *ls, const char *req, const char *token, struct pbuf *body,
                struct http_reply *reply);

/* The value of header NAME in REQ (headers end at the empty line) into OUT, "" when absent. */
void http_header_value(const char *req, const char *name, char *out, size_t outlen);

/* (FP, RULE) was marked reviewed on the page: SHOW FINDINGS leaves it out. */
bool http_reviewed(const struct loop_state *ls, uint64_t fp, const char *rule);

#endif
