/*
 * page.h - the live page for DBAs at "/" of the HTTP endpoint: findings
 * ranked by time at stake with their fixes and a button to mark one
 * reviewed, pools and endpoints at a glance, and small live charts.
 *
 * The tables are rendered here as HTML from the copies the loop already
 * reads for SHOW FINDINGS, SHOW POOLS and SHOW ENDPOINTS, so the page works
 * without JavaScript; the inline script only draws charts from /api/stats
 * and /api/pools and refreshes the tables. A review is added to
 * review_baseline_file, the baseline `pgscope report --baseline` reads.
 * Event-loop thread only.
 */
#ifndef PGSCOPE_POOLER_PAGE_H
#define PGSCOPE_POOLER_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop_state;
struct config;
struct pbuf;
struct http_reply;

struct page_state;

/* The page's state for CFG: the reviewed findings read from review_baseline_file. NULL on OOM. */
struct page_state *page_create(const struct config *cfg);
void page_free(struct page_state *pg);

/* (FP, RULE) was marked reviewed (in review_baseline_file). */
bool page_reviewed(const struct page_state *pg, uint64_t fp, const char *rule);

/* The whole page into BODY, *reply set to 200 text/html. */
void page_write(struct loop_state *ls, struct page_state *pg, struct pbuf *body,
                struct http_reply *reply);

/*
 * POST /api/findings/review: REQ is the request (headers, then the form
 * body). Checks that it comes from the page (Host, Origin, the page's
 * anti-forgery value in a header or field), adds (fingerprint, rule) to the
 * baseline file and answers.
 */
void page_review(struct page_state *pg, const char *req, struct pbuf *body,
                 struct http_reply *reply);

/* S with & < > " ' replaced by entities, appended to OUT (pure). */
void page_escape(struct pbuf *out, const char *s, size_t len);

#endif
