/*
 * http.c - the operations HTTP endpoint on the event loop (see http.h): a
 * listener, a fixed table of connections, and the routes.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pooler/admin.h"
#include "pooler/conn.h"
#include "pooler/http.h"
#include "pooler/log.h"
#include "pooler/loop.h"
#include "pooler/metrics.h"
#include "pooler/page.h"

#define HTTP_BODY_MAX (16u * 1024u * 1024u) /* a response body, at most */

/*
 * One connection: its request as read, then its response as sent; with
 * keep-alive, the next request after that (bytes already read past a request
 * stay in req for the next one).
 */
struct http_conn {
	int fd; /* -1: the slot is free */
	struct http_server *srv;
	ev_io io;
	ev_timer timer; /* HTTP_TIMEOUT from accept, and again from each answer sent */
	char req[HTTP_REQUEST_MAX + 1];
	size_t req_len;
	size_t req_used; /* bytes of req the request being answered takes */
	struct pbuf out; /* the whole response */
	bool writing;
	bool keep_alive; /* after this response, wait for another request */
	unsigned served; /* responses sent on this connection */
};

struct http_server {
	struct loop_state *ls;
	int fd;
	ev_io accept_io;
	char *token;             /* owned copy of admin_http_token, or NULL */
	struct page_state *page; /* the live page's reviews (page.c), owned */
	struct http_conn conns[HTTP_MAX_CONNS];
};

/* ---- routes ---- */

static void body_printf(struct pbuf *b, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		pbuf_append(b, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void http_header_value(const char *req, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);

	out[0] = 0;
	for (const char *line = strstr(req, "\r\n"); line != NULL;
	     line = strstr(line + 2, "\r\n")) {
		const char *p = line + 2;
		size_t len = 0;

		if (p[0] == '\r' && p[1] == '\n')
			break; /* the body is not headers */
		if (strncasecmp(p, name, n) != 0 || p[n] != ':')
			continue;
		p += n + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		while (p[len] != 0 && p[len] != '\r' && len + 1 < outlen)
			len++;
		memcpy(out, p, len);
		out[len] = 0;
		return;
	}
}

/* Constant-time comparison: the token's bytes are not told apart by timing. */
static bool token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned diff = (unsigned)(la ^ lb);

	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned)(a[i] ^ b[i]);
	return diff == 0;
}

static bool authorized(const char *req, const char *token)
{
	char auth[512];

	if (token == NULL || token[0] == 0)
		return true;
	http_header_value(req, "Authorization", auth, sizeof(auth));
	return strncasecmp(auth, "Bearer ", 7) == 0 && token_equal(auth + 7, token);
}

/* At least one server login succeeded on some endpoint of ls. */
static bool ready(struct loop_state *ls)
{
	for (struct list *it = ls->endpoints.next; it != &ls->endpoints; it = it->next)
		if (list_entry(it, struct endpoint, node)->logins > 0)
			return true;
	return false;
}

static void reply_text(struct http_reply *reply, struct pbuf *body, int status, const char *text)
{
	reply->status = status;
	reply->content_type = "text/plain; charset=utf-8";
	body_printf(body, "%s\n", text);
}

void http_route(struct loop_state *ls, const char *req, const char *token, struct pbuf *body,
                struct http_reply *reply)
{
	char method[16] = "", path[256] = "";
	char *q;

	if (sscanf(req, "%15s %255s", method, path) != 2) {
		reply_text(reply, body, 400, "bad request");
		return;
	}
	q = strchr(path, '?');
	if (q != NULL)
		*q = 0; /* no route takes parameters */
	if (!authorized(req, token)) {
		reply_text(reply, body, 401, "unauthorized");
		return;
	}
	if (strcmp(method, "POST") == 0 && strcmp(path, "/api/findings/review") == 0 &&
	    ls->http != NULL && ls->http->page != NULL) {
		page_review(ls->http->page, req, body, reply);
		return;
	}
	if (strcmp(method, "GET") != 0) {
		reply_text(reply, body, 405, "method not allowed");
		return;
	}
	reply->status = 200;
	reply->content_type = "application/json";
	if (strcmp(path, "/metrics") == 0) {
		reply->content_type = "text/plain; version=0.0.4; charset=utf-8";
		metrics_write(ls, body);
	} else if (strcmp(path, "/healthz") == 0) {
		reply_text(reply, body, 200, "ok");
	} else if (strcmp(path, "/readyz") == 0) {
		if (ready(ls))
			reply_text(reply, body, 200, "ready");
		else
			reply_text(reply, body, 503, "no server login has succeeded yet");
	} else if (strcmp(path, "/api/pools") == 0) {
		admin_show_json(ls, "SHOW POOLS", body);
	} else if (strcmp(path, "/api/stats") == 0) {
		admin_show_json(ls, "SHOW STATS", body);
	} else if (strcmp(path, "/api/endpoints") == 0) {
		admin_show_json(ls, "SHOW ENDPOINTS", body);
	} else if (strcmp(path, "/") == 0 && ls->http != NULL && ls->http->page != NULL) {
		page_write(ls, ls->http->page, body, reply);
	} else if (strcmp(path, "/api/queries") == 0) {
		admin_show_json(ls, "SHOW QUERIES", body);
	} else if (strcmp(path, "/api/findings") == 0) {
		admin_show_json(ls, "SHOW FINDINGS", body);
	} else {
		reply_text(reply, body, 404, "not found");
	}
}

bool http_reviewed(const struct loop_state *ls, uint64_t fp, const char *rule)
{
	return ls->http != NULL && page_reviewed(ls->http->page, fp, rule);
}

/* ---- connections ---- */

static const char *status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 303:
		return "See Other";
	case 403:
		return "Forbidden";
	case 413:
		return "Content Too Large";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

static void conn_finish(struct http_conn *hc)
{
	struct ev_loop *ev = hc->srv->ls->ev;

	ev_io_stop(ev, &hc->io);
	ev_timer_stop(ev, &hc->timer);
	close(hc->fd);
	hc->fd = -1;
	pbuf_release(&hc->out);
}

/*
 * Watch the connection for EVENTS (EV_READ or EV_WRITE), touching the
 * watcher only when that changes: each change costs an epoll_ctl.
 */
static void conn_watch(struct http_conn *hc, int events)
{
	struct ev_loop *ev = hc->srv->ls->ev;

	if ((hc->io.events & (EV_READ | EV_WRITE)) == events)
		return;
	ev_io_stop(ev, &hc->io);
	ev_io_set(&hc->io, hc->fd, events);
	ev_io_start(ev, &hc->io);
}

/*
 * The response is sent and the connection stays: drop the request answered,
 * keep what came after it, and wait for the next request (the timer starts
 * again). Bytes of a next request already read are looked at on the next
 * turn of the loop, so that a pipelined burst does not recurse.
 */
static void conn_next_request(struct http_conn *hc)
{
	struct ev_loop *ev = hc->srv->ls->ev;

	memmove(hc->req, hc->req + hc->req_used, hc->req_len - hc->req_used);
	hc->req_len -= hc->req_used;
	hc->req_used = 0;
	hc->req[hc->req_len] = 0;
	hc->writing = false;
	hc->served++;
	pbuf_release(&hc->out);
	conn_watch(hc, EV_READ);
	ev_timer_stop(ev, &hc->timer);
	ev_timer_set(&hc->timer, HTTP_TIMEOUT, 0.0);
	ev_timer_start(ev, &hc->timer);
	if (hc->req_len > 0)
		ev_feed_event(ev, &hc->io, EV_READ);
}

/* Send what is left of the response; then wait for the next request or close. */
static void conn_write(struct http_conn *hc)
{
	while (pbuf_len(&hc->out) > 0) {
		ssize_t n = send(hc->fd, pbuf_head(&hc->out), pbuf_len(&hc->out), MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_watch(hc, EV_WRITE); /* the rest when the peer has read */
			return;
		}
		if (n <= 0) {
			conn_finish(hc);
			return;
		}
		pbuf_consume(&hc->out, (size_t)n);
	}
	if (hc->keep_alive) {
		conn_next_request(hc);
		return;
	}
	shutdown(hc->fd, SHUT_WR);
	conn_finish(hc);
}

/*
 * Whether the client wants the connection kept after the answer to REQ
 * (its request line and headers): HTTP/1.1 unless "Connection: close",
 * HTTP/1.0 only with "Connection: keep-alive".
 */
static bool wants_keep_alive(const char *req)
{
	const char *eol = strstr(req, "\r\n");
	char value[32];
	bool http11 = eol != NULL && eol - req >= 8 && strncmp(eol - 8, "HTTP/1.1", 8) == 0;

	http_header_value(req, "Connection", value, sizeof(value));
	if (http11)
		return strcasecmp(value, "close") != 0;
	return strcasecmp(value, "keep-alive") == 0;
}

/* Build the whole response to the request read, then start sending it. */
static void conn_respond(struct http_conn *hc, int status_override)
{
	struct http_reply reply = {500, "text/plain", NULL};
	struct pbuf body;
	char head[320];
	int n;

	pbuf_init(&body, HTTP_BODY_MAX);
	/* A request that cannot be read whole leaves the stream unparsable: close after it. */
	hc->keep_alive = status_override == 0 && wants_keep_alive(hc->req);
	if (status_override != 0) {
		reply_text(&reply, &body, status_override, status_text(status_override));
	} else {
		/* Only this request: a pipelined next one waits behind it in req. */
		char kept = hc->req[hc->req_used];

		hc->req[hc->req_used] = 0;
		http_route(hc->srv->ls, hc->req, hc->srv->token, &body, &reply);
		hc->req[hc->req_used] = kept;
	}
	n = snprintf(head, sizeof(head),
	             "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s"
	             "Connection: %s\r\n\r\n",
	             reply.status, status_text(reply.status), reply.content_type, pbuf_len(&body),
	             reply.location != NULL ? "Location: " : "",
	             reply.location != NULL ? reply.location : "",
	             reply.location != NULL ? "\r\n" : "",
	             reply.status == 405   ? "Allow: GET\r\n"
	             : reply.status == 401 ? "WWW-Authenticate: Bearer\r\n"
	                                   : "",
	             hc->keep_alive ? "keep-alive" : "close");
	pbuf_init(&hc->out, HTTP_BODY_MAX + sizeof(head));
	if (!pbuf_append(&hc->out, head, (size_t)n) ||
	    !pbuf_append(&hc->out, pbuf_head(&body), pbuf_len(&body))) {
		pbuf_release(&body);
		conn_finish(hc);
		return;
	}
	pbuf_release(&body);
	hc->writing = true;
	conn_write(hc);
}

/*
 * The length of the first request in REQ when it holds its headers and the
 * body they announce (a form posted to the page), 0 when more is to come, -1
 * when that body cannot fit.
 */
static int request_complete(const char *req, size_t len)
{
	const char *end = strstr(req, "\r\n\r\n");
	char value[32];
	size_t head, body;

	if (end == NULL)
		return 0;
	head = (size_t)(end - req) + 4;
	http_header_value(req, "Content-Length", value, sizeof(value));
	body = value[0] != 0 ? strtoul(value, NULL, 10) : 0;
	if (body > HTTP_REQUEST_MAX - head)
		return -1;
	return len >= head + body ? (int)(head + body) : 0;
}

/* Answer the request in req when it is whole; true when an answer was started. */
static bool conn_answer_if_whole(struct http_conn *hc)
{
	int whole = hc->req_len > 0 ? request_complete(hc->req, hc->req_len) : 0;

	hc->req_used = whole > 0 ? (size_t)whole : hc->req_len;
	if (whole > 0)
		conn_respond(hc, 0);
	else if (whole < 0)
		conn_respond(hc, 413);
	else if (hc->req_len == HTTP_REQUEST_MAX)
		conn_respond(hc, 431);
	else
		return false;
	return true;
}

/* Read the request until its headers (and body) are in (bounded by HTTP_REQUEST_MAX). */
static void conn_read(struct http_conn *hc)
{
	if (conn_answer_if_whole(hc))
		return; /* pipelined behind the previous one */
	for (;;) {
		ssize_t n = recv(hc->fd, hc->req + hc->req_len, HTTP_REQUEST_MAX - hc->req_len, 0);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* the rest when it comes */
		if (n <= 0) {
			conn_finish(hc);
			return;
		}
		hc->req_len += (size_t)n;
		hc->req[hc->req_len] = 0;
		if (conn_answer_if_whole(hc))
			return;
	}
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_conn *hc = w->data;

	if (hc->writing)
		conn_write(hc);
	else
		conn_read(hc);
}

static void on_conn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	conn_finish(w->data);
}

/*
 * A free slot; when none is, the slot of a connection idle between two
 * requests (keep-alive), closed to make room: a scraper that kept its
 * connection reconnects, while requests under way are never cut.
 */
static struct http_conn *conn_slot(struct http_server *srv)
{
	for (int i = 0; i < HTTP_MAX_CONNS; i++)
		if (srv->conns[i].fd == -1)
			return &srv->conns[i];
	for (int i = 0; i < HTTP_MAX_CONNS; i++) {
		struct http_conn *hc = &srv->conns[i];

		if (hc->served > 0 && !hc->writing && hc->req_len == 0) {
			conn_finish(hc);
			return hc;
		}
	}
	return NULL;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_server *srv = w->data;

	for (int i = 0; i < HTTP_MAX_CONNS; i++) {
		int fd = accept(srv->fd, NULL, NULL);
		struct http_conn *hc;

		if (fd == -1)
			return;
		hc = conn_slot(srv);
		if (hc == NULL || !conn_prepare_socket(fd, true)) {
			/* Over the limit: closed at once, a scraper retries. */
			close(fd);
			continue;
		}
		memset(hc->req, 0, 1);
		hc->fd = fd;
		hc->req_len = 0;
		hc->req_used = 0;
		hc->writing = false;
		hc->keep_alive = false;
		hc->served = 0;
		pbuf_init(&hc->out, 0);
		ev_io_init(&hc->io, on_conn_io, fd, EV_READ);
		hc->io.data = hc;
		ev_io_start(loop, &hc->io);
		ev_timer_init(&hc->timer, on_conn_timeout, HTTP_TIMEOUT, 0.0);
		hc->timer.data = hc;
		ev_timer_start(loop, &hc->timer);
	}
}

/* ---- listener ---- */

/* A listening socket for "host:port"; -1 (logged) on failure. */
static int http_listen_socket(const char *spec)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
	int fd = -1, on = 1, rc;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
		log_event(LOG_FATAL, "http.failed", LOG_STR, "address", spec, LOG_STR, "error",
		          "admin_http_listen must be host:port", LOG_END);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = 0;
	if (host[0] == '[' && colon > spec + 1 && colon[-1] == ']') {
		/* [::1]:9127 */
		memmove(host, host + 1, (size_t)(colon - spec) - 2);
		host[colon - spec - 2] = 0;
	}
	rc = getaddrinfo(host[0] != 0 && strcmp(host, "*") != 0 ? host : NULL, colon + 1, &hints,
	                 &res);
	if (rc != 0) {
		log_event(LOG_FATAL, "http.failed", LOG_STR, "address", spec, LOG_STR, "error",
		          gai_strerror(rc), LOG_END);
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd != -1)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (fd == -1 || bind(fd, res->ai_addr, res->ai_addrlen) == -1 || listen(fd, 16) == -1 ||
	    !conn_prepare_socket(fd, false)) {
		log_event(LOG_FATAL, "http.failed", LOG_STR, "address", spec, LOG_STR, "error",
		          strerror(errno), LOG_END);
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

bool http_start(struct loop_state *ls, const struct config *cfg)
{
	struct http_server *srv;

	if (cfg->admin_http_listen == NULL || cfg->admin_http_listen[0] == 0)
		return true;
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return false;
	srv->ls = ls;
	srv->fd = http_listen_socket(cfg->admin_http_listen);
	if (srv->fd == -1) {
		free(srv);
		return false;
	}
	if (cfg->admin_http_token != NULL && cfg->admin_http_token[0] != 0)
		srv->token = strdup(cfg->admin_http_token);
	srv->page = page_create(cfg);
	for (int i = 0; i < HTTP_MAX_CONNS; i++) {
		srv->conns[i].fd = -1;
		srv->conns[i].srv = srv;
	}
	ev_io_init(&srv->accept_io, on_accept, srv->fd, EV_READ);
	srv->accept_io.data = srv;
	ev_io_start(ls->ev, &srv->accept_io);
	ls->http = srv;
	log_event(LOG_INFO, "http.listen", LOG_STR, "address", cfg->admin_http_listen, LOG_STR,
	          "token", srv->token != NULL ? "required" : "none", LOG_END);
	return true;
}

void http_stop(struct loop_state *ls)
{
	struct http_server *srv = ls->http;

	if (srv == NULL)
		return;
	for (int i = 0; i < HTTP_MAX_CONNS; i++)
		if (srv->conns[i].fd != -1)
			conn_finish(&srv->conns[i]);
	ev_io_stop(ls->ev, &srv->accept_io);
	close(srv->fd);
	free(srv->token);
	page_free(srv->page);
	free(srv);
	ls->http = NULL;
}
