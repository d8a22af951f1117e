/*
 * page.c - the live page for DBAs at "/" (see page.h): server-rendered
 * tables of findings, pools and endpoints, an inline script for charts and
 * refresh, and the review endpoint that writes the baseline file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <config.h> /* the build's, for PGSCOPE_VERSION */
#include "analyzer/baseline.h"
#include "pooler/admin.h"
#include "pooler/config.h"
#include "pooler/http.h"
#include "pooler/log.h"
#include "pooler/page.h"
#include "pooler/pbuf.h"

#define PAGE_FINDINGS_MAX   200        /* finding rows on the page */
#define PAGE_TABLE_ROWS_MAX 500        /* pool or endpoint rows on the page */
#define PAGE_TABLE_LIMIT    (4u << 20) /* bytes of SHOW rows one table is built from */
#define PAGE_CSRF_LEN       32         /* hex digits of the anti-forgery value */

struct page_state {
	char *path;               /* review_baseline_file, or NULL: no reviews */
	struct baseline reviewed; /* as last read from or written to path */
	char csrf[PAGE_CSRF_LEN + 1];
	char listen_host[256]; /* the name admin_http_listen gives, "" for none */
};

/* ---- state ---- */

/* The name part of HOST ("h:port", "[v6]:port") into OUT; false when it does not fit. */
static bool host_name(const char *host, char *out, size_t outlen)
{
	const char *start = host;
	size_t len;

	if (host[0] == '[') {
		start = host + 1;
		len = strcspn(start, "]");
	} else {
		len = strcspn(host, ":");
	}
	if (len == 0 || len >= outlen)
		return false;
	memcpy(out, start, len);
	out[len] = 0;
	return true;
}

static void page_read_baseline(struct page_state *pg)
{
	struct baseline fresh;
	char err[300];

	baseline_init(&fresh);
	if (baseline_load(&fresh, pg->path, true, err, sizeof(err)) != 0) {
		log_event(LOG_WARNING, "page.baseline", LOG_STR, "error", err, LOG_END);
		baseline_release(&fresh);
		return;
	}
	baseline_release(&pg->reviewed);
	pg->reviewed = fresh;
}

struct page_state *page_create(const struct config *cfg)
{
	struct page_state *pg = calloc(1, sizeof(*pg));
	unsigned char rnd[PAGE_CSRF_LEN / 2];

	if (pg == NULL)
		return NULL;
	baseline_init(&pg->reviewed);
	/* Unguessable by another site, so its forms cannot act through the page. */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		free(pg);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(pg->csrf + 2 * i, 3, "%02x", rnd[i]);
	if (cfg->admin_http_listen == NULL ||
	    !host_name(cfg->admin_http_listen, pg->listen_host, sizeof(pg->listen_host)) ||
	    strcmp(pg->listen_host, "*") == 0)
		pg->listen_host[0] = 0;
	if (cfg->review_baseline_file != NULL && cfg->review_baseline_file[0] != 0) {
		pg->path = strdup(cfg->review_baseline_file);
		if (pg->path != NULL)
			page_read_baseline(pg);
	}
	return pg;
}

void page_free(struct page_state *pg)
{
	if (pg == NULL)
		return;
	baseline_release(&pg->reviewed);
	free(pg->path);
	free(pg);
}

bool page_reviewed(const struct page_state *pg, uint64_t fp, const char *rule)
{
	return pg != NULL && baseline_contains(&pg->reviewed, fp, rule);
}

/* ---- HTML ---- */

void page_escape(struct pbuf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		const char *ent = NULL;

		switch (s[i]) {
		case '&':
			ent = "&amp;";
			break;
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		case '"':
			ent = "&quot;";
			break;
		case '\'':
			ent = "&#39;";
			break;
		default:
			break;
		}
		if (ent != NULL)
			pbuf_append(out, ent, strlen(ent));
		else
			pbuf_append(out, &s[i], 1);
	}
}

static void put(struct pbuf *out, const char *s)
{
	pbuf_append(out, s, strlen(s));
}

/* A cell's text, escaped (nothing for NULL). */
static void put_esc(struct pbuf *out, const struct admin_cell *c)
{
	if (c->v != NULL)
		page_escape(out, c->v, c->len);
}

static void put_cell(struct pbuf *out, const char *tag, const struct admin_cell *c)
{
	pbuf_append(out, "<", 1);
	put(out, tag);
	pbuf_append(out, ">", 1);
	put_esc(out, c);
	put(out, "</");
	pbuf_append(out, tag, strcspn(tag, " ")); /* "td class=n" closes as "td" */
	pbuf_append(out, ">", 1);
}

static const char page_style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222;background:#fafafa}"
    "h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:1.2em 0 .4em}"
    "table{border-collapse:collapse;background:#fff;width:100%}"
    "th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}"
    "th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "code,pre{font:12px ui-monospace,monospace;white-space:pre-wrap;word-break:break-word;margin:0}"
    ".wrap{overflow-x:auto}.charts{display:flex;flex-wrap:wrap;gap:1em}"
    ".chart{background:#fff;border:1px solid #ddd;padding:.4em;width:320px}"
    ".chart h3{font-size:.9em;margin:0}"
    ".chart svg{width:300px;height:80px;display:block;border-bottom:1px solid #ccc}"
    ".chart polyline{stroke:#1565c0;stroke-width:1.5}.now{font-size:.9em;color:#555}"
    "#status{color:#b00;font-size:.9em}.muted{color:#777}";

static const char page_script[] =
    "(function(){'use strict';\n"
    "var NS='http://www.w3.org/2000/svg',N=60,prev=null,S={lat:[],qps:[],wait:[]},C={};\n"
    "var csrf=document.querySelector('meta[name=pgscope-csrf]').content;\n"
    "var M={};function status(src,t){M[src]=t;document.getElementById('status').textContent="
    "Object.keys(M).map(function(k){return M[k];}).filter(Boolean).join('; ');}\n"
    "function chart(k){var d=document.getElementById('c-'+k),s=document.createElementNS(NS,'svg'),"
    "p=document.createElementNS(NS,'polyline'),t=document.createElement('div');"
    "s.setAttribute('viewBox','0 0 300 80');p.setAttribute('fill','none');s.appendChild(p);"
    "t.className='now';d.appendChild(s);d.appendChild(t);C[k]={p:p,t:t};}\n"
    "function draw(k,unit,dec){var v=S[k],m=Math.max.apply(null,v.concat([1e-9]));"
    "C[k].p.setAttribute('points',v.map(function(y,i){return (i*300/(N-1)).toFixed(1)+','+"
    "(78-y/m*74).toFixed(1);}).join(' '));"
    "C[k].t.textContent=v.length?'now '+v[v.length-1].toFixed(dec)+' '+unit+', max '+"
    "m.toFixed(dec):'';}\n"
    "function push(k,v){S[k].push(v);if(S[k].length>N)S[k].shift();}\n"
    "function get(u){return fetch(u,{credentials:'same-origin'}).then(function(r){"
    "if(!r.ok)throw new Error(u+': HTTP '+r.status);return r.json();});}\n"
    "function poll(){Promise.all([get('/api/stats'),get('/api/pools')]).then(function(a){"
    "var now=Date.now(),q=0,t=0,w=0;"
    "a[0].forEach(function(s){q+=s.total_query_count;t+=s.total_query_time;});"
    "a[1].forEach(function(p){w+=p.cl_waiting;});"
    "if(prev){var dt=(now-prev.at)/1000,dq=q-prev.q;push('qps',dt>0?dq/dt:0);"
    "push('lat',dq>0?(t-prev.t)/dq/1000:0);}"
    "push('wait',w);prev={at:now,q:q,t:t};draw('lat','ms',2);draw('qps','/s',1);"
    "draw('wait','',0);status('poll','');}).catch(function(e){status('poll',e.message);});}\n"
    "function refresh(){fetch('/',{credentials:'same-origin'}).then(function(r){"
    "if(!r.ok)throw new Error('/: HTTP '+r.status);return r.text();}).then(function(h){"
    "var d=new DOMParser().parseFromString(h,'text/html');"
    "['findings','pools','endpoints'].forEach(function(id){var n=d.getElementById('t-'+id),"
    "o=document.getElementById('t-'+id);if(n&&o)o.innerHTML=n.innerHTML;});"
    "status('refresh','');}).catch(function(e){status('refresh',e.message);});}\n"
    "document.addEventListener('submit',function(e){var f=e.target;"
    "if(!f.classList.contains('review'))return;e.preventDefault();"
    "fetch(f.action,{method:'POST',credentials:'same-origin',headers:{'X-Pgscope-Csrf':csrf,"
    "'Content-Type':'application/x-www-form-urlencoded'},"
    "body:new URLSearchParams(new FormData(f)).toString()}).then(function(r){"
    "if(!r.ok)throw new Error('review: HTTP '+r.status);var tr=f.closest('tr');"
    "if(tr)tr.remove();status('review','');}).catch(function(e){status('review',e.message);});});\n"
    "chart('lat');chart('qps');chart('wait');poll();setInterval(poll,2000);"
    "setInterval(refresh,10000);\n"
    "})();\n";

/* A row saying how many rows were left out, when some were. */
static void put_more(struct pbuf *out, int colspan, int hidden)
{
	char more[96];

	if (hidden <= 0)
		return;
	snprintf(more, sizeof(more),
	         "<tr><td colspan=%d class=muted>%d more not shown.</td></tr>\n", colspan, hidden);
	put(out, more);
}

/* Writes one finding row from SHOW FINDINGS' cells. */
struct findings_state {
	struct pbuf *out;
	const struct page_state *pg;
	int rows;
	int hidden;
};

enum { F_RULE, F_KIND, F_FP, F_CALLS, F_TOTAL, F_P95, F_QUERY, F_FIX, F_NCOLS };

static void finding_row(void *arg, const char *const *names, const bool *numeric, int ncols,
                        const struct admin_cell *c)
{
	struct findings_state *st = arg;
	struct pbuf *out = st->out;

	if (ncols != F_NCOLS)
		return;
	if (st->rows >= PAGE_FINDINGS_MAX) {
		st->hidden++;
		return;
	}
	st->rows++;
	put(out, "<tr>");
	put_cell(out, "td", &c[F_RULE]);
	put_cell(out, "td", &c[F_KIND]);
	put_cell(out, "td class=n", &c[F_CALLS]);
	put_cell(out, "td class=n", &c[F_TOTAL]);
	put_cell(out, "td class=n", &c[F_P95]);
	put(out, "<td><code>");
	put_esc(out, &c[F_QUERY]);
	put(out, "</code><div class=muted>");
	put_esc(out, &c[F_FP]);
	put(out, "</div></td><td><pre>");
	put_esc(out, &c[F_FIX]);
	put(out, "</pre></td><td>");
	if (st->pg->path != NULL) {
		put(out, "<form class=review method=post action=\"/api/findings/review\">"
		         "<input type=hidden name=fingerprint value=\"");
		put_esc(out, &c[F_FP]);
		put(out, "\"><input type=hidden name=rule value=\"");
		put_esc(out, &c[F_RULE]);
		put(out, "\"><input type=hidden name=csrf value=\"");
		put(out, st->pg->csrf);
		put(out, "\"><button>Mark reviewed</button></form>");
	}
	put(out, "</td></tr>\n");
}

static void write_findings(struct loop_state *ls, struct page_state *pg, struct pbuf *out)
{
	struct findings_state st = {out, pg, 0, 0};

	put(out, "<h2>Findings, most time at stake first</h2><div class=wrap><table>"
	         "<thead><tr><th>rule</th><th>kind</th><th>calls</th><th>total ms</th>"
	         "<th>p95 ms</th><th>query (normalized)</th><th>fix</th><th></th></tr></thead>"
	         "<tbody id=t-findings>\n");
	admin_show_rows(ls, "SHOW FINDINGS", PAGE_TABLE_LIMIT, finding_row, &st);
	if (st.rows == 0)
		put(out, "<tr><td colspan=8 class=muted>No open findings.</td></tr>");
	if (st.hidden > 0) {
		char more[96];

		snprintf(more, sizeof(more),
		         "<tr><td colspan=8 class=muted>%d more not shown.</td></tr>", st.hidden);
		put(out, more);
	}
	put(out, "</tbody></table></div>\n");
	if (pg->path == NULL)
		put(out,
		    "<p class=muted>Set review_baseline_file to mark findings reviewed.</p>\n");
}

/* A table of some columns (by name) of a SHOW command. */
struct table_state {
	struct pbuf *out;
	const char *const *want;
	int nwant;
	int rows;
	int hidden;
};

static void table_row(void *arg, const char *const *names, const bool *numeric, int ncols,
                      const struct admin_cell *c)
{
	struct table_state *st = arg;

	if (st->rows >= PAGE_TABLE_ROWS_MAX) {
		st->hidden++;
		return;
	}
	st->rows++;
	put(st->out, "<tr>");
	for (int w = 0; w < st->nwant; w++)
		for (int i = 0; i < ncols; i++)
			if (strcmp(names[i], st->want[w]) == 0)
				put_cell(st->out, numeric[i] ? "td class=n" : "td", &c[i]);
	put(st->out, "</tr>\n");
}

static void write_table(struct loop_state *ls, struct pbuf *out, const char *id, const char *title,
                        const char *sql, const char *const *want, int nwant)
{
	struct table_state st = {out, want, nwant, 0, 0};

	put(out, "<h2>");
	put(out, title);
	put(out, "</h2><div class=wrap><table><thead><tr>");
	for (int i = 0; i < nwant; i++) {
		put(out, "<th>");
		put(out, want[i]);
		put(out, "</th>");
	}
	put(out, "</tr></thead><tbody id=t-");
	put(out, id);
	put(out, ">\n");
	admin_show_rows(ls, sql, PAGE_TABLE_LIMIT, table_row, &st);
	put_more(out, nwant, st.hidden);
	put(out, "</tbody></table></div>\n");
}

static const char *const pool_cols[] = {
    "database",  "user",     "cl_active", "cl_waiting", "sv_active", "sv_idle",
    "sv_tested", "sv_login", "maxwait",   "maxwait_us", "pool_mode",
};

static const char *const endpoint_cols[] = {
    "host",         "port",         "role",       "breaker",  "servers_opening",
    "servers_idle", "servers_busy", "xact_count", "failures", "consecutive_failures",
    "last_error",
};

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

void page_write(struct loop_state *ls, struct page_state *pg, struct pbuf *body,
                struct http_reply *reply)
{
	char now[40];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%d %H:%M:%S UTC", &tm);
	reply->status = 200;
	reply->content_type = "text/html; charset=utf-8";
	put(body, "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
	          "<meta name=viewport content=\"width=device-width\"><title>pgscope</title>"
	          "<meta name=pgscope-csrf content=\"");
	put(body, pg->csrf);
	put(body, "\"><style>");
	put(body, page_style);
	put(body, "</style></head><body><h1>pgscope " PGSCOPE_VERSION "</h1><div class=muted>");
	put(body, now);
	put(body, " &middot; <a href=\"/api/findings\">findings</a> &middot; "
	          "<a href=\"/api/queries\">queries</a> &middot; <a href=\"/metrics\">metrics</a>"
	          "</div><div id=status></div>\n<div class=charts>"
	          "<div class=chart id=c-lat><h3>Latency, ms per statement</h3></div>"
	          "<div class=chart id=c-qps><h3>Throughput, statements per second</h3></div>"
	          "<div class=chart id=c-wait><h3>Clients waiting for a server</h3></div></div>\n");
	write_findings(ls, pg, body);
	write_table(ls, body, "pools", "Pools", "SHOW POOLS", pool_cols, NELEM(pool_cols));
	write_table(ls, body, "endpoints", "Endpoints", "SHOW ENDPOINTS", endpoint_cols,
	            NELEM(endpoint_cols));
	put(body, "<script>");
	put(body, page_script);
	put(body, "</script></body></html>\n");
}

/* ---- reviews ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Field NAME of an x-www-form-urlencoded BODY, decoded into OUT; false when absent or too long. */
static bool form_value(const char *body, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);

	for (const char *p = body; p != NULL && *p != 0; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
		size_t len = 0;

		if (strncmp(p, name, n) != 0 || p[n] != '=')
			continue;
		for (p += n + 1; *p != 0 && *p != '&'; p++) {
			char c = *p;

			if (c == '+') {
				c = ' ';
			} else if (c == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
				c = (char)(hexval(p[1]) * 16 + hexval(p[2]));
				p += 2;
			}
			if (len + 1 >= outlen)
				return false;
			out[len++] = c;
		}
		out[len] = 0;
		return true;
	}
	return false;
}

/*
 * HOST (a Host header) names this machine by address, as localhost or as
 * admin_http_listen does, so a page of another site that re-resolved its
 * own name to us (DNS rebinding) cannot post here in our origin.
 */
static bool host_is_ours(const struct page_state *pg, const char *host)
{
	char h[256];
	unsigned char addr[16];

	if (!host_name(host, h, sizeof(h)))
		return false;
	return strcasecmp(h, "localhost") == 0 || inet_pton(AF_INET, h, addr) == 1 ||
	       inet_pton(AF_INET6, h, addr) == 1 ||
	       (pg->listen_host[0] != 0 && strcasecmp(h, pg->listen_host) == 0);
}

/* Why REQ may not act for the page's user, or NULL when it may. */
static const char *forgery_reason(const struct page_state *pg, const char *req, const char *form)
{
	char host[256], origin[300], site[32], value[PAGE_CSRF_LEN + 2], expect[300];

	http_header_value(req, "Host", host, sizeof(host));
	if (!host_is_ours(pg, host))
		return "the Host header must be an address, localhost or the listen name";
	http_header_value(req, "Sec-Fetch-Site", site, sizeof(site));
	if (strcasecmp(site, "cross-site") == 0 || strcasecmp(site, "same-site") == 0)
		return "a request from another site";
	http_header_value(req, "Origin", origin, sizeof(origin));
	snprintf(expect, sizeof(expect), "http://%s", host);
	if (origin[0] != 0 && strcmp(origin, expect) != 0)
		return "a request from another origin";
	http_header_value(req, "X-Pgscope-Csrf", value, sizeof(value));
	if (value[0] == 0 && !form_value(form, "csrf", value, sizeof(value)))
		return "the page's csrf value is missing";
	if (strcmp(value, pg->csrf) != 0)
		return "the page's csrf value does not match";
	return NULL;
}

static void review_answer(struct pbuf *body, struct http_reply *reply, int status, const char *text)
{
	reply->status = status;
	reply->content_type = "text/plain; charset=utf-8";
	put(body, text);
	put(body, "\n");
}

void page_review(struct page_state *pg, const char *req, struct pbuf *body,
                 struct http_reply *reply)
{
	const char *form = strstr(req, "\r\n\r\n");
	char fp_text[32], rule[BASELINE_RULE_MAX], xhr[8], note[80], *end = NULL;
	const char *why;
	unsigned long long fp = 0;
	time_t t = time(NULL);
	struct tm tm;

	form = form != NULL ? form + 4 : "";
	why = forgery_reason(pg, req, form);
	if (why != NULL) {
		review_answer(body, reply, 403, why);
		return;
	}
	if (pg->path == NULL) {
		review_answer(body, reply, 404, "review_baseline_file is not set");
		return;
	}
	if (form_value(form, "fingerprint", fp_text, sizeof(fp_text)))
		fp = strtoull(fp_text, &end, 16);
	if (end == NULL || end == fp_text || *end != 0 ||
	    !form_value(form, "rule", rule, sizeof(rule)) || rule[0] == 0 ||
	    strcspn(rule, "\t\r\n") != strlen(rule)) {
		review_answer(body, reply, 400, "fingerprint (hex) and rule expected");
		return;
	}
	/* Read the file again: `pgscope report --write-baseline` may have added lines. */
	page_read_baseline(pg);
	gmtime_r(&t, &tm);
	strftime(note, sizeof(note), "reviewed on the live page %Y-%m-%dT%H:%M:%SZ", &tm);
	if (baseline_add(&pg->reviewed, fp, rule, note) &&
	    baseline_save(&pg->reviewed, pg->path) != 0) {
		log_event(LOG_WARNING, "page.review_failed", LOG_STR, "file", pg->path, LOG_STR,
		          "error", strerror(errno), LOG_END);
		page_read_baseline(pg);
		review_answer(body, reply, 500, "could not write review_baseline_file");
		return;
	}
	log_event(LOG_INFO, "page.reviewed", LOG_STR, "fingerprint", fp_text, LOG_STR, "rule", rule,
	          LOG_END);
	http_header_value(req, "X-Pgscope-Csrf", xhr, sizeof(xhr));
	if (xhr[0] == 0) {
		/* A plain form (no script): back to the page, which no longer lists it. */
		reply->location = "/";
		review_answer(body, reply, 303, "reviewed");
		return;
	}
	review_answer(body, reply, 200, "reviewed");
}
