/* report_text.c - the terminal report: summary, top fingerprints, findings by rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "analyzer/report.h"

struct palette {
	const char *bold, *dim, *red, *yellow, *cyan, *reset;
};

static const struct palette plain = {"", "", "", "", "", ""};
static const struct palette ansi = {"\033[1m",  "\033[2m",  "\033[31m",
                                    "\033[33m", "\033[36m", "\033[0m"};

/* One line of a query: whitespace runs collapsed, cut to width characters. */
static void one_line(const char *s, char *out, size_t width)
{
	size_t n = 0;
	bool space = false;
	for (const char *p = s ? s : ""; *p && n + 4 < width; p++) {
		if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
			space = n > 0;
			continue;
		}
		if (space)
			out[n++] = ' ';
		space = false;
		out[n++] = *p;
	}
	if (s && strlen(s) > n && n + 4 >= width) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

static void format_time(int64_t us, char *out, size_t size)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* s right-aligned in width display columns (UTF-8 continuation bytes take none). */
static void column(FILE *out, const char *s, size_t width)
{
	size_t chars = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		chars += (*p & 0xc0) != 0x80;
	for (; chars < width; chars++)
		fputc(' ', out);
	fputs(s, out);
}

/* Columns to fit: the terminal's when out is one, else $COLUMNS, else 100; at most 500. */
static size_t terminal_width(FILE *out)
{
	struct winsize ws;
	size_t w = 100;
	const char *env = getenv("COLUMNS");
	if (isatty(fileno(out)) && ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		w = ws.ws_col;
	else if (env && atoi(env) > 0)
		w = (size_t)atoi(env);
	return w < 500 ? w : 500;
}

static const char *sev_color(const struct palette *c, enum severity s)
{
	return s == SEVERITY_ERROR ? c->red : s == SEVERITY_WARNING ? c->yellow : c->cyan;
}

int report_write_text(const struct report *r, FILE *out, bool color)
{
	const struct palette *c = color ? &ansi : &plain;
	char a[64], b[64], t1[64], t2[64], t3[64], t4[64], t5[64];
	char q[512];
	size_t width = terminal_width(out);

	format_time(r->first_us, a, sizeof(a));
	format_time(r->last_us, b, sizeof(b));
	double span_s = (double)(r->last_us - r->first_us) / 1e6;
	report_format_us(r->total_us, t1, sizeof(t1));
	fprintf(out, "%spgscope report%s\n", c->bold, c->reset);
	fprintf(out,
	        "  inputs      %zu file(s), %llu statements read, %llu kept, %zu fingerprints\n",
	        r->n_files, (unsigned long long)r->stmts_read, (unsigned long long)r->stmts_kept,
	        r->n_fps);
	if (r->stmts_kept > 0) {
		fprintf(out, "  period      %s .. %s (%.0f s)\n", a, b, span_s);
		fprintf(out, "  throughput  %.1f statements/s, total time %s, %llu errors\n",
		        span_s > 0 ? (double)r->stmts_kept / span_s : (double)r->stmts_kept, t1,
		        (unsigned long long)r->errors);
		report_format_us(report_hist_quantile(&r->all, 0.50, -1, r->max_us), t2,
		                 sizeof(t2));
		report_format_us(report_hist_quantile(&r->all, 0.95, -1, r->max_us), t3,
		                 sizeof(t3));
		report_format_us(report_hist_quantile(&r->all, 0.99, -1, r->max_us), t4,
		                 sizeof(t4));
		fprintf(out, "  latency     p50 %s, p95 %s, p99 %s\n", t2, t3, t4);
	}
	char loss[512];
	report_loss_note(r, loss, sizeof(loss));
	if (loss[0])
		fprintf(out, "  %snote        %s%s\n", c->yellow, loss, c->reset);
	if (r->unparsed || r->skipped || r->untracked)
		fprintf(
		    out,
		    "  %snot counted: %llu statements that do not parse, %llu of fingerprints past "
		    "the first %d, %llu lines not understood%s\n",
		    c->dim, (unsigned long long)r->unparsed, (unsigned long long)r->untracked,
		    REPORT_MAX_FPS, (unsigned long long)r->skipped, c->reset);

	size_t top = report_top_count(r);
	fprintf(out, "\n%sTop %zu fingerprints by total time%s\n", c->bold, top, c->reset);
	fprintf(out, "  %-3s%8s %9s %8s %8s %8s %8s %7s %5s %4s\n", "#", "calls", "total", "mean",
	        "p50", "p95", "p99", "rows/c", "err", "rep%");
	for (size_t i = 0; i < top; i++) {
		const struct report_fp *f = &r->fps[i];
		char hex[17];
		report_fp_hex(f->fingerprint, hex);
		report_format_us(f->total_us, t1, sizeof(t1));
		report_format_us(f->timed ? f->total_us / (int64_t)f->timed : 0, t2, sizeof(t2));
		report_format_us(report_hist_quantile(&f->hist, 0.50, f->min_us, f->max_us), t3,
		                 sizeof(t3));
		report_format_us(report_hist_quantile(&f->hist, 0.95, f->min_us, f->max_us), t4,
		                 sizeof(t4));
		report_format_us(report_hist_quantile(&f->hist, 0.99, f->min_us, f->max_us), t5,
		                 sizeof(t5));
		char rows[32] = "-";
		if (f->rows_calls)
			snprintf(rows, sizeof(rows), "%.1f",
			         (double)f->rows / (double)f->rows_calls);
		fprintf(out, "  %-3zu%8llu", i + 1, (unsigned long long)f->calls);
		column(out, t1, 10);
		column(out, t2, 9);
		column(out, t3, 9);
		column(out, t4, 9);
		column(out, t5, 9);
		fprintf(out, " %7s %5llu %4.0f\n", rows, (unsigned long long)f->errors,
		        f->calls ? 100.0 * (double)f->replica / (double)f->calls : 0.0);
		one_line(f->query, q, width > 30 ? width - 24 : 8);
		fprintf(out, "     %s  %s%s%s\n", hex, c->dim, q, c->reset);
	}

	fprintf(out, "\n%sFindings by rule, ranked by time at stake%s", c->bold, c->reset);
	if (r->baselined)
		fprintf(out, " (%zu acknowledged in the baseline, hidden)", r->baselined);
	fputc('\n', out);
	if (r->hypo_dropped)
		fprintf(
		    out,
		    "  (%zu unindexed-filter finding(s) dropped: no hypothetical index helped)\n",
		    r->hypo_dropped);
	if (r->hypo_note[0])
		fprintf(out, "  %s%s%s\n", c->dim, r->hypo_note, c->reset);
	if (r->n_groups == 0)
		fprintf(out, "  none\n");
	for (size_t g = 0; g < r->n_groups; g++) {
		const struct report_rule_group *grp = &r->groups[g];
		report_format_us(grp->time_us, t1, sizeof(t1));
		fprintf(out, "\n  %s%s%s%s [%s] %zu fingerprint(s), %s at stake\n",
		        sev_color(c, grp->severity), c->bold, grp->rule_id, c->reset,
		        severity_name(grp->severity), grp->count, t1);
		for (size_t k = grp->first; k < grp->first + grp->count; k++) {
			const struct report_finding *f = &r->findings[k];
			char hex[17];
			report_fp_hex(f->fingerprint, hex);
			report_format_us(f->time_us, t2, sizeof(t2));
			fprintf(out, "    %s  %llu calls, %s  (db %s, user %s, app %s)\n", hex,
			        (unsigned long long)f->fp->calls, t2,
			        f->fp->database[0] ? f->fp->database : "-",
			        f->fp->user[0] ? f->fp->user : "-",
			        f->fp->application_name[0] ? f->fp->application_name : "-");
			fprintf(out, "      %s\n", f->message);
			one_line(f->fp->query, q, width > 20 ? width - 14 : 8);
			fprintf(out, "      %sexample:%s %s\n", c->dim, c->reset, q);
			if (f->suggestion)
				fprintf(out, "      %sfix:%s %s\n", c->bold, c->reset,
				        f->suggestion);
			if (f->hypo)
				fprintf(out, "      %shypopg:%s %s\n", c->dim, c->reset, f->hypo);
		}
	}
	return ferror(out) ? -1 : 0;
}
