/* report_html.c - one self-contained HTML page with inline SVG charts; no scripts, no network. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "analyzer/report.h"

#define CHART_W 900
#define CHART_H 220
#define MARGIN  50

static void esc(FILE *out, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++) {
		switch (*p) {
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '&':
			fputs("&amp;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		default:
			fputc(*p, out);
		}
	}
}

static void fmt_time(int64_t us, char *out, size_t size)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
}

/* One series of a line chart: a value per time bucket, its colour and name. */
struct series {
	const double *v;
	const char *color;
	const char *name;
};

/*
 * A line chart over the report's used time buckets [lo, hi]: all series on
 * one linear axis from 0 to the largest value, labelled with fmt_value.
 */
static void chart_lines(const struct report *r, FILE *out, const char *aria, size_t lo, size_t hi,
                        const struct series *ss, size_t nseries, bool values_are_us)
{
	double maxv = 0;
	for (size_t s = 0; s < nseries; s++)
		for (size_t i = lo; i <= hi; i++)
			maxv = ss[s].v[i] > maxv ? ss[s].v[i] : maxv;
	if (maxv <= 0)
		maxv = 1;
	size_t n = hi - lo + 1;
	double dx = n > 1 ? (double)(CHART_W - 2 * MARGIN) / (double)(n - 1) : 0;
	fprintf(out,
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	        "role=\"img\" aria-label=\"%s\">\n",
	        CHART_W, CHART_H + 40, aria);
	for (int k = 0; k <= 2; k++) {
		double y = CHART_H - (CHART_H - 20) * k / 2.0;
		char label[32];
		if (values_are_us)
			report_format_us((int64_t)(maxv * k / 2.0), label, sizeof(label));
		else
			snprintf(label, sizeof(label), "%.0f", maxv * k / 2.0);
		fprintf(
		    out,
		    "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>"
		    "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
		    MARGIN, y, CHART_W - MARGIN, y, k ? "#eee" : "#888", MARGIN - 4, y + 4, label);
	}
	for (size_t s = 0; s < nseries; s++) {
		fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
		        ss[s].color);
		for (size_t i = lo; i <= hi; i++)
			fprintf(out, "%.1f,%.1f ", MARGIN + dx * (double)(i - lo),
			        CHART_H - ss[s].v[i] / maxv * (CHART_H - 20));
		fputs("\"/>\n", out);
		fprintf(out, "<text x=\"%zu\" y=\"%d\" font-size=\"11\" fill=\"%s\">%s</text>\n",
		        (size_t)MARGIN + 250 + s * 80, CHART_H + 32, ss[s].color, ss[s].name);
	}
	char a[32], b[32];
	fmt_time(r->bucket_t0 + (int64_t)lo * r->bucket_width_us, a, sizeof(a));
	fmt_time(r->bucket_t0 + (int64_t)hi * r->bucket_width_us, b, sizeof(b));
	fprintf(out,
	        "<text x=\"%d\" y=\"%d\" font-size=\"11\">%s</text>"
	        "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>\n</svg>\n",
	        MARGIN, CHART_H + 15, a, CHART_W - MARGIN, CHART_H + 15, b);
}

/* Latency (p95, mean) and statements per second over time. */
static void chart_timeline(const struct report *r, FILE *out)
{
	size_t lo = REPORT_TIME_BUCKETS, hi = 0;
	for (size_t i = 0; i < REPORT_TIME_BUCKETS; i++) {
		if (r->buckets[i].calls) {
			lo = i < lo ? i : lo;
			hi = i;
		}
	}
	if (lo > hi) {
		fputs("<p>No statements.</p>\n", out);
		return;
	}
	double p95[REPORT_TIME_BUCKETS], mean[REPORT_TIME_BUCKETS], qps[REPORT_TIME_BUCKETS];
	for (size_t i = 0; i < REPORT_TIME_BUCKETS; i++) {
		const struct report_bucket *b = &r->buckets[i];
		p95[i] = (double)report_hist_quantile(&b->hist, 0.95, -1, -1);
		mean[i] = b->hist.count ? (double)b->total_us / (double)b->hist.count : 0;
		qps[i] = (double)b->calls * 1e6 / (double)r->bucket_width_us;
	}
	const struct series lat[] = {{p95, "#c0392b", "p95"}, {mean, "#2980b9", "mean"}};
	chart_lines(r, out, "latency over time", lo, hi, lat, 2, true);
	fputs("<h2>Statements per second</h2>\n", out);
	const struct series rate[] = {{qps, "#555", "statements/s"}};
	chart_lines(r, out, "statements per second over time", lo, hi, rate, 1, false);
}

/* Horizontal bars: label, value, text of the value. */
static void chart_bars(FILE *out, const char *aria, size_t n, const char *const *labels,
                       const int64_t *values, const char *color)
{
	int64_t maxv = 1;
	for (size_t i = 0; i < n; i++)
		maxv = values[i] > maxv ? values[i] : maxv;
	int h = (int)n * 22 + 10;
	fprintf(out,
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	        "role=\"img\" aria-label=\"",
	        CHART_W, h);
	esc(out, aria);
	fputs("\">\n", out);
	for (size_t i = 0; i < n; i++) {
		double w = (double)values[i] / (double)maxv * (CHART_W - 380);
		char v[32];
		report_format_us(values[i], v, sizeof(v));
		fprintf(out, "<text x=\"0\" y=\"%zu\" font-size=\"12\" font-family=\"monospace\">",
		        i * 22 + 16);
		esc(out, labels[i]);
		fprintf(
		    out,
		    "</text><rect x=\"220\" y=\"%zu\" width=\"%.1f\" height=\"16\" fill=\"%s\"/>"
		    "<text x=\"%.1f\" y=\"%zu\" font-size=\"12\">%s</text>\n",
		    i * 22 + 4, w < 1 ? 1 : w, color, 226 + w, i * 22 + 16, v);
	}
	fputs("</svg>\n", out);
}

static void top_table(const struct report *r, FILE *out)
{
	fputs("<table><thead><tr><th>#</th><th>fingerprint</th><th>calls</th><th>total</th>"
	      "<th>mean</th><th>p50</th><th>p95</th><th>p99</th><th>rows/call</th><th>errors</th>"
	      "<th>replica</th><th>query</th></tr></thead><tbody>\n",
	      out);
	for (size_t i = 0; i < report_top_count(r); i++) {
		const struct report_fp *f = &r->fps[i];
		char hex[17], t[5][32];
		report_fp_hex(f->fingerprint, hex);
		report_format_us(f->total_us, t[0], 32);
		report_format_us(f->timed ? f->total_us / (int64_t)f->timed : 0, t[1], 32);
		report_format_us(report_hist_quantile(&f->hist, 0.50, f->min_us, f->max_us), t[2],
		                 32);
		report_format_us(report_hist_quantile(&f->hist, 0.95, f->min_us, f->max_us), t[3],
		                 32);
		report_format_us(report_hist_quantile(&f->hist, 0.99, f->min_us, f->max_us), t[4],
		                 32);
		fprintf(
		    out,
		    "<tr id=\"fp-%s\"><td>%zu</td><td><code>%s</code></td><td>%llu</td><td>%s</td>"
		    "<td>%s</td><td>%s</td><td>%s</td><td>%s</td>",
		    hex, i + 1, hex, (unsigned long long)f->calls, t[0], t[1], t[2], t[3], t[4]);
		if (f->rows_calls)
			fprintf(out, "<td>%.1f</td>", (double)f->rows / (double)f->rows_calls);
		else
			fputs("<td>-</td>", out);
		fprintf(out, "<td>%llu</td><td>%.0f%%</td><td><pre>", (unsigned long long)f->errors,
		        f->calls ? 100.0 * (double)f->replica / (double)f->calls : 0.0);
		esc(out, f->query);
		fputs("</pre></td></tr>\n", out);
	}
	fputs("</tbody></table>\n", out);
}

static void findings_section(const struct report *r, FILE *out)
{
	if (r->n_groups == 0) {
		fputs("<p>No findings.</p>\n", out);
		return;
	}
	for (size_t g = 0; g < r->n_groups; g++) {
		const struct report_rule_group *grp = &r->groups[g];
		char t[32];
		report_format_us(grp->time_us, t, sizeof(t));
		fprintf(out, "<h3 class=\"%s\">", severity_name(grp->severity));
		esc(out, grp->rule_id);
		fprintf(out, " <small>%s, %zu fingerprint(s), %s at stake</small></h3>\n<ul>\n",
		        severity_name(grp->severity), grp->count, t);
		for (size_t k = grp->first; k < grp->first + grp->count; k++) {
			const struct report_finding *f = &r->findings[k];
			char hex[17], ft[32];
			report_fp_hex(f->fingerprint, hex);
			report_format_us(f->time_us, ft, sizeof(ft));
			fprintf(out, "<li><code>%s</code>: %llu calls, %s (db ", hex,
			        (unsigned long long)f->fp->calls, ft);
			esc(out, f->fp->database[0] ? f->fp->database : "-");
			fputs(", user ", out);
			esc(out, f->fp->user[0] ? f->fp->user : "-");
			fputs(", app ", out);
			esc(out, f->fp->application_name[0] ? f->fp->application_name : "-");
			fputs(")<br/>", out);
			esc(out, f->message);
			fputs("<pre>", out);
			esc(out, f->fp->query);
			fputs("</pre>", out);
			if (f->suggestion) {
				fputs("<p><b>Fix:</b> <code>", out);
				esc(out, f->suggestion);
				fputs("</code></p>", out);
			}
			if (f->hypo) {
				fputs("<p><b>HypoPG:</b> ", out);
				esc(out, f->hypo);
				fputs("</p>", out);
			}
			fputs("</li>\n", out);
		}
		fputs("</ul>\n", out);
	}
}

int report_write_html(const struct report *r, FILE *out)
{
	char a[32], b[32], tot[32];
	fmt_time(r->first_us, a, sizeof(a));
	fmt_time(r->last_us, b, sizeof(b));
	report_format_us(r->total_us, tot, sizeof(tot));
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
	      "<title>pgscope report</title>\n<style>\n"
	      "body{font-family:sans-serif;margin:2em;color:#222}"
	      "table{border-collapse:collapse;font-size:13px}"
	      "td,th{border:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:right;"
	      "white-space:nowrap}"
	      "td pre{text-align:left;white-space:pre-wrap;max-width:40em;margin:0}"
	      "h3.error{color:#c0392b}h3.warning{color:#b9770e}h3.info{color:#2471a3}"
	      "pre{background:#f6f6f6;padding:4px;white-space:pre-wrap}\n"
	      "</style></head><body>\n<h1>pgscope report</h1>\n",
	      out);
	double span = (double)(r->last_us - r->first_us) / 1e6;
	fprintf(out,
	        "<p>%zu file(s), %llu statements (%llu read), %zu fingerprints, %llu errors; "
	        "%s to %s UTC; %.1f statements/s; total time %s.</p>\n",
	        r->n_files, (unsigned long long)r->stmts_kept, (unsigned long long)r->stmts_read,
	        r->n_fps, (unsigned long long)r->errors, a, b,
	        span > 0 ? (double)r->stmts_kept / span : (double)r->stmts_kept, tot);
	char loss[512];
	report_loss_note(r, loss, sizeof(loss));
	if (loss[0]) {
		fputs("<p><b>Note:</b> ", out);
		esc(out, loss);
		fputs("</p>\n", out);
	}

	fputs("<h2>Latency over time</h2>\n", out);
	chart_timeline(r, out);

	size_t top = report_top_count(r);
	fprintf(out, "<h2>Top %zu fingerprints by total time</h2>\n", top);
	const char *labels[64] = {NULL};
	int64_t values[64] = {0};
	char hexes[64][17];
	size_t nbars = top < 64 ? top : 64;
	for (size_t i = 0; i < nbars; i++) {
		report_fp_hex(r->fps[i].fingerprint, hexes[i]);
		labels[i] = hexes[i];
		values[i] = r->fps[i].total_us;
	}
	chart_bars(out, "top fingerprints by total time", nbars, labels, values, "#2980b9");
	top_table(r, out);

	fputs("<h2>Findings by rule</h2>\n", out);
	size_t ng = r->n_groups < 64 ? r->n_groups : 64;
	for (size_t g = 0; g < ng; g++) {
		labels[g] = r->groups[g].rule_id;
		values[g] = r->groups[g].time_us;
	}
	chart_bars(out, "findings by rule, time at stake", ng, labels, values, "#c0392b");
	if (r->baselined)
		fprintf(out, "<p>%zu finding(s) acknowledged in the baseline are hidden.</p>\n",
		        r->baselined);
	if (r->hypo_note[0]) {
		fputs("<p>", out);
		esc(out, r->hypo_note);
		fputs("</p>\n", out);
	}
	findings_section(r, out);
	fputs("</body></html>\n", out);
	return ferror(out) ? -1 : 0;
}
