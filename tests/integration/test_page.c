/*
 * test_page.c - the live page at "/" of the HTTP endpoint: a finding made by
 * real flagged queries is on the server-rendered page with its fix, query
 * texts from clients are shown escaped, marking a finding reviewed writes the
 * baseline file and hides it, requests that do not come from the page (no
 * anti-forgery value, another origin, a name that is not ours, no token) are
 * refused, and headless Chromium runs the script that draws the charts and,
 * driven over the DevTools protocol (page_click.js), clicks "Mark reviewed".
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analyzer/baseline.h"
#include "tests/integration/harness.h"

#define DB    "page_test"
#define EVIL  "\"<script>alert(1)</script>\""
#define TOKEN "page-token-5b1e"

static struct harness_pgscope ps;
static int http_port;
static char baseline_path[400];
static char capture_dir[400];

static const char schema_sql[] =
    "CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int NOT NULL, total numeric(10,2));"
    "INSERT INTO orders (user_id, total) SELECT g % 2000, g % 500 "
    "  FROM generate_series(1, 100000) g;"
    "CREATE TABLE " EVIL " (id int PRIMARY KEY, v text);"
    "ANALYZE;";

static PGconn *direct(const char *dbname)
{
	const struct harness_cluster *cl = harness_cluster();
	char dsn[256];

	snprintf(dsn, sizeof(dsn), "host=%s port=%d user=postgres dbname=%s", cl->host, cl->port,
	         dbname);
	return PQconnectdb(dsn);
}

static int group_setup(void **state)
{
	static char main_lines[1024];
	struct harness_pgscope_opts opts = {.pool_mode = "transaction", .extra_main = main_lines};
	PGconn *c = direct("postgres");
	bool ok;

	if (PQstatus(c) != CONNECTION_OK)
		return -1;
	harness_exec_ok(c, "DROP DATABASE IF EXISTS " DB);
	ok = harness_exec_ok(c, "CREATE DATABASE " DB);
	PQfinish(c);
	if (!ok)
		return -1;
	c = direct(DB);
	ok = PQstatus(c) == CONNECTION_OK && harness_exec_ok(c, schema_sql);
	PQfinish(c);
	if (!ok)
		return -1;
	http_port = harness_free_port();
	snprintf(baseline_path, sizeof(baseline_path), "%s/reviewed-%d.baseline",
	         harness_cluster()->dir, (int)getpid());
	unlink(baseline_path);
	snprintf(capture_dir, sizeof(capture_dir), "%s/capture-page-%d", harness_cluster()->dir,
	         (int)getpid());
	snprintf(main_lines, sizeof(main_lines),
	         "admin_http_listen = 127.0.0.1:%d\nreview_baseline_file = %s\n"
	         "capture = on\ncapture_dir = %s\n",
	         http_port, baseline_path, capture_dir);
	return harness_pgscope_start(&ps, &opts) ? 0 : -1;
}

static int group_teardown(void **state)
{
	PGconn *c;
	char cmd[500];

	harness_pgscope_stop(&ps);
	unlink(baseline_path);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", capture_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", capture_dir);
	c = direct("postgres");
	if (PQstatus(c) == CONNECTION_OK)
		harness_exec_ok(c, "DROP DATABASE IF EXISTS " DB);
	PQfinish(c);
	return 0;
}

static int get(const char *path, char **resp)
{
	char req[512];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path,
	         http_port);
	return harness_http_request(http_port, req, resp);
}

/* POST FORM to the review endpoint with the extra header lines EXTRA (each ending in \r\n). */
static int post_review(int port, const char *extra, const char *form, char **resp)
{
	char req[2048];

	snprintf(req, sizeof(req),
	         "POST /api/findings/review HTTP/1.1\r\n%s"
	         "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
	         extra, strlen(form), form);
	return harness_http_request(port, req, resp);
}

/* Run SQL through pgscope with psql; true when psql exits 0. */
static bool psql(const char *sql)
{
	char port[16];
	const char *argv[] = {"psql",     "-X", "-q", "-h", "127.0.0.1",       "-p", port, "-U",
	                      "postgres", "-d", DB,   "-v", "ON_ERROR_STOP=1", "-c", sql,  NULL};
	struct harness_run_result res;
	bool ok;

	snprintf(port, sizeof(port), "%d", ps.port);
	if (!harness_run(argv, NULL, 60, &res))
		return false;
	ok = res.exit_code == 0;
	if (!ok)
		fprintf(stderr, "psql %s: %s\n", sql, res.output);
	harness_run_result_free(&res);
	return ok;
}

/*
 * Run SQL until (30 s) /api/findings lists RULE for a query containing
 * NEEDLE (the first runs may come before the schema is read); its fingerprint.
 */
static bool wait_finding(const char *sql, const char *rule, const char *needle, char *fp,
                         size_t fplen)
{
	long long deadline = harness_now_ms() + 30000;
	char want[128];

	snprintf(want, sizeof(want), "{\"rule\":\"%s\"", rule);
	while (harness_now_ms() < deadline) {
		char *resp = NULL;

		if (!psql(sql))
			return false;
		if (get("/api/findings", &resp) == 200) {
			for (char *p = strstr(resp, want); p != NULL; p = strstr(p + 1, want)) {
				char *end = strchr(p, '}');
				char *f = strstr(p, "\"fingerprint\":\"");
				char *q = strstr(p, needle);

				if (end == NULL || f == NULL || f > end || q == NULL || q > end)
					continue;
				snprintf(fp, fplen, "%.16s", f + strlen("\"fingerprint\":\""));
				free(resp);
				return true;
			}
		}
		free(resp);
		harness_sleep_ms(200);
	}
	return false;
}

/* The page's anti-forgery value, from the meta element its script reads. */
static void page_csrf(const char *page, char *out, size_t outlen)
{
	const char *tag = "<meta name=pgscope-csrf content=\"";
	const char *p = strstr(page, tag);

	out[0] = 0;
	if (p != NULL)
		snprintf(out, outlen, "%.*s", (int)strcspn(p + strlen(tag), "\""), p + strlen(tag));
}

static char fp_filter[32], fp_evil[32];

/* The flagged queries show on the server-rendered page with their fix, escaped. */
static void test_page_lists_findings(void **state)
{
	char *resp = NULL;

	assert_true(wait_finding("SELECT id, total FROM orders WHERE user_id = 5",
	                         "unindexed-filter", "orders", fp_filter, sizeof(fp_filter)));
	assert_true(wait_finding("SELECT * /* <script>alert(2)</script> */ FROM " EVIL
	                         " WHERE v = '<script>alert(3)</script>'",
	                         "select-star", "alert(1)", fp_evil, sizeof(fp_evil)));

	assert_int_equal(get("/", &resp), 200);
	assert_non_null(strstr(resp, "Content-Type: text/html; charset=utf-8\r\n"));
	/* In the HTML itself, so it is there without JavaScript. */
	assert_non_null(strstr(resp, "<td>unindexed-filter</td>"));
	assert_non_null(strstr(resp, "CREATE INDEX"));
	assert_non_null(strstr(resp, fp_filter));
	assert_non_null(strstr(resp, "<td>select-star</td>"));
	/* The client's texts are escaped: no script but the page's own. */
	assert_null(strstr(resp, "<script>alert"));
	assert_non_null(strstr(resp, "&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;"));

	/* What a view costs, round trip included (a figure, not a limit). */
	long long t0 = harness_now_ms();
	for (int i = 0; i < 100; i++) {
		char *again = NULL;

		assert_int_equal(get("/", &again), 200);
		free(again);
	}
	fprintf(stderr, "page: %zu bytes, %.2f ms per GET / (100 in a row)\n", strlen(resp),
	        (double)(harness_now_ms() - t0) / 100.0);
	free(resp);
}

/* Chromium runs the page's script without errors and it draws the charts. */
static void test_page_in_chromium(void **state)
{
	char url[64];
	struct harness_run_result res;
	char *resp = NULL;

	assert_int_equal(get("/", &resp), 200);
	assert_null(strstr(resp, "<svg")); /* the script makes them */
	free(resp);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", http_port);
	const char *chrome[] = {"chromium",
	                        "--headless",
	                        "--no-sandbox",
	                        "--disable-gpu",
	                        "--enable-logging=stderr",
	                        "--v=0",
	                        "--virtual-time-budget=3000",
	                        "--dump-dom",
	                        url,
	                        NULL};
	assert_true(harness_run(chrome, NULL, 120, &res));
	if (res.exit_code != 0 || strstr(res.output, "<svg") == NULL ||
	    strstr(res.output, "<polyline") == NULL ||
	    strstr(res.output, "points=\"0.0,") == NULL ||
	    strstr(res.output, "unindexed-filter") == NULL ||
	    strstr(res.output, ":CONSOLE") != NULL || strstr(res.output, "HTTP 4") != NULL)
		fail_msg("chromium: exit %d: %.3000s", res.exit_code, res.output);
	harness_run_result_free(&res);
	/* PGSCOPE_PAGE_SCREENSHOT=FILE.png keeps a picture of the page (docs/page.png). */
	if (getenv("PGSCOPE_PAGE_SCREENSHOT") != NULL) {
		char shot[600];
		pid_t child = fork();

		if (child == 0) {
			/* Traffic for the charts while the page runs in real time. */
			PGconn *c = harness_connect(ps.port, "dbname=" DB);
			long long end = harness_now_ms() + 12000;

			for (int i = 0; harness_now_ms() < end; i++)
				PQclear(PQexec(
				    c, i % 3 ? "SELECT id, total FROM orders WHERE user_id = 5"
				             : "SELECT pg_sleep(0.01)"));
			PQfinish(c);
			_exit(0);
		}
		snprintf(shot, sizeof(shot), "--screenshot=%s", getenv("PGSCOPE_PAGE_SCREENSHOT"));
		chrome[5] = "--window-size=1280,760";
		chrome[6] = "--virtual-time-budget=10000";
		chrome[7] = shot;
		assert_true(harness_run(chrome, NULL, 120, &res));
		harness_run_result_free(&res);
		waitpid(child, NULL, 0);
	}
}

/* Requests that do not come from the page itself are refused and change nothing. */
static void test_review_forgery_refused(void **state)
{
	char *page = NULL, csrf[64], form[256], host[64], extra[512];
	struct baseline b;
	char err[256];

	assert_int_equal(get("/", &page), 200);
	page_csrf(page, csrf, sizeof(csrf));
	free(page);
	assert_int_equal((int)strlen(csrf), 32);
	snprintf(host, sizeof(host), "Host: 127.0.0.1:%d\r\n", http_port);

	/* A cross-site form: no anti-forgery value. */
	snprintf(form, sizeof(form), "fingerprint=%s&rule=unindexed-filter", fp_filter);
	snprintf(extra, sizeof(extra), "%sOrigin: http://127.0.0.1:%d\r\n", host, http_port);
	assert_int_equal(post_review(http_port, extra, form, NULL), 403);
	/* A wrong value. */
	snprintf(form, sizeof(form), "fingerprint=%s&rule=unindexed-filter&csrf=%032d", fp_filter,
	         0);
	assert_int_equal(post_review(http_port, host, form, NULL), 403);
	/* The right value from another origin, or through a name rebound to us. */
	snprintf(form, sizeof(form), "fingerprint=%s&rule=unindexed-filter&csrf=%s", fp_filter,
	         csrf);
	snprintf(extra, sizeof(extra), "%sOrigin: http://evil.example\r\n", host);
	assert_int_equal(post_review(http_port, extra, form, NULL), 403);
	assert_int_equal(post_review(http_port, "Host: evil.example:80\r\n", form, NULL), 403);
	snprintf(extra, sizeof(extra), "%sSec-Fetch-Site: cross-site\r\n", host);
	assert_int_equal(post_review(http_port, extra, form, NULL), 403);

	baseline_init(&b);
	assert_int_equal(baseline_load(&b, baseline_path, true, err, sizeof(err)), 0);
	assert_int_equal((int)b.n, 0);
	baseline_release(&b);
}

/*
 * A review, clicked in the browser (the script's request) or posted by the
 * plain form, writes the baseline file and hides the finding.
 */
static void test_review_marks_baseline(void **state)
{
	char *page = NULL, *resp = NULL, csrf[64], form[256], extra[512];
	struct baseline b;
	char err[256];

	assert_int_equal(get("/", &page), 200);
	page_csrf(page, csrf, sizeof(csrf));
	free(page);

	/* Clicked in Chromium: the page's script posts it and removes the row. */
	char url[64], want_out[64];
	struct harness_run_result res;
	const char *node[] = {"node", "--experimental-websocket", "tests/integration/page_click.js",
	                      url,    "unindexed-filter",         NULL};

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", http_port);
	snprintf(want_out, sizeof(want_out), "reviewed %s unindexed-filter", fp_filter);
	assert_true(harness_run(node, NULL, 90, &res));
	if (res.exit_code != 0 || strstr(res.output, want_out) == NULL)
		fail_msg("page_click.js: exit %d: %.3000s", res.exit_code, res.output);
	harness_run_result_free(&res);
	/* As the form sends it without JavaScript: back to the page. */
	snprintf(form, sizeof(form), "fingerprint=%s&rule=select-star&csrf=%s", fp_evil, csrf);
	snprintf(extra, sizeof(extra), "Host: localhost:%d\r\n", http_port);
	assert_int_equal(post_review(http_port, extra, form, &resp), 303);
	assert_non_null(strstr(resp, "\r\nLocation: /\r\n"));
	free(resp);

	baseline_init(&b);
	assert_int_equal(baseline_load(&b, baseline_path, false, err, sizeof(err)), 0);
	assert_true(baseline_contains(&b, strtoull(fp_filter, NULL, 16), "unindexed-filter"));
	assert_true(baseline_contains(&b, strtoull(fp_evil, NULL, 16), "select-star"));
	assert_int_equal((int)b.n, 2);
	baseline_release(&b);

	/* Gone from the page and from SHOW FINDINGS. */
	assert_int_equal(get("/", &resp), 200);
	assert_null(strstr(resp, "<td>unindexed-filter</td>"));
	assert_null(strstr(resp, "<td>select-star</td>"));
	free(resp);
	assert_int_equal(get("/api/findings", &resp), 200);
	assert_null(strstr(resp, "\"rule\":\"unindexed-filter\""));
	assert_null(strstr(resp, "\"rule\":\"select-star\""));
	free(resp);
}

/* With admin_http_token set, a review without the bearer token is refused. */
static void test_review_needs_token(void **state)
{
	static char lines[1024];
	struct harness_pgscope_opts opts = {.pool_mode = "transaction", .extra_main = lines};
	struct harness_pgscope ps2;
	int port = harness_free_port();
	char extra[512], *page = NULL, req[512], csrf[64];

	snprintf(lines, sizeof(lines),
	         "admin_http_listen = 127.0.0.1:%d\nadmin_http_token = " TOKEN
	         "\nreview_baseline_file = %s.2\n",
	         port, baseline_path);
	assert_true(harness_pgscope_start(&ps2, &opts));
	snprintf(req, sizeof(req),
	         "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer " TOKEN "\r\n\r\n",
	         port);
	assert_int_equal(harness_http_request(port, req, &page), 200);
	page_csrf(page, csrf, sizeof(csrf));
	free(page);
	snprintf(extra, sizeof(extra), "Host: 127.0.0.1:%d\r\nX-Pgscope-Csrf: %s\r\n", port, csrf);
	assert_int_equal(post_review(port, extra, "fingerprint=1&rule=select-star", NULL), 401);
	snprintf(extra, sizeof(extra),
	         "Host: 127.0.0.1:%d\r\nX-Pgscope-Csrf: %s\r\nAuthorization: Bearer " TOKEN "\r\n",
	         port, csrf);
	assert_int_equal(post_review(port, extra, "fingerprint=1&rule=select-star", NULL), 200);
	assert_true(harness_pgscope_stop(&ps2));
	snprintf(req, sizeof(req), "%s.2", baseline_path);
	unlink(req);
}

/* `pgscope report` on the capture of the workload; its output (caller frees). */
static char *report(bool with_baseline)
{
	char dsn[256], files[700];
	const char *bin = getenv("PGSCOPE_BIN") ? getenv("PGSCOPE_BIN") : "./pgscope";
	const char *argv[16];
	struct harness_run_result res;
	DIR *d = opendir(capture_dir);
	struct dirent *e;
	int n = 0;

	snprintf(dsn, sizeof(dsn), "host=%s port=%d user=postgres dbname=" DB,
	         harness_cluster()->host, harness_cluster()->port);
	argv[n++] = bin;
	argv[n++] = "report";
	argv[n++] = "--dsn";
	argv[n++] = dsn;
	if (with_baseline) {
		argv[n++] = "--baseline";
		argv[n++] = baseline_path;
	}
	files[0] = 0;
	while (d != NULL && (e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "pgscope-", 8) == 0 && files[0] == 0)
			snprintf(files, sizeof(files), "%s/%s", capture_dir, e->d_name);
	if (d != NULL)
		closedir(d);
	assert_true(files[0] != 0);
	argv[n++] = files;
	argv[n] = NULL;
	assert_true(harness_run(argv, NULL, 60, &res));
	if (res.exit_code != 0)
		fail_msg("pgscope report: exit %d: %s", res.exit_code, res.output);
	return res.output;
}

/* The next `pgscope report --baseline` on a capture of the same traffic hides what was reviewed. */
static void test_report_omits_reviewed(void **state)
{
	char *out;

	/* Stopping pgscope closes the capture file. */
	assert_true(harness_pgscope_stop(&ps));
	out = report(false);
	if (strstr(out, "unindexed-filter") == NULL || strstr(out, "select-star") == NULL)
		fail_msg("the report without baseline misses the findings: %s", out);
	free(out);
	out = report(true);
	if (strstr(out, "unindexed-filter") != NULL || strstr(out, "select-star") != NULL)
		fail_msg("the report with the page's baseline still has them: %s", out);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_page_lists_findings),
	    cmocka_unit_test(test_page_in_chromium),
	    cmocka_unit_test(test_review_forgery_refused),
	    cmocka_unit_test(test_review_marks_baseline),
	    cmocka_unit_test(test_review_needs_token),
	    cmocka_unit_test(test_report_omits_reviewed),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
