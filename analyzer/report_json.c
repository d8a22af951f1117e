/* report_json.c - the report as one JSON document (shape documented in docs/report-json.md). */
#include <stdio.h>

#include "analyzer/report.h"

#define REPORT_JSON_VERSION 1

static void write_fp(const struct report_fp *f, FILE *out)
{
	char hex[17];
	report_fp_hex(f->fingerprint, hex);
	fprintf(out, "{\"fingerprint\":\"%s\",\"query\":", hex);
	report_json_str(out, f->query);
	fprintf(
	    out,
	    ",\"calls\":%llu,\"errors\":%llu,\"total_us\":%lld,\"mean_us\":%lld,\"min_us\":%lld,"
	    "\"max_us\":%lld,\"p50_us\":%lld,\"p95_us\":%lld,\"p99_us\":%lld,",
	    (unsigned long long)f->calls, (unsigned long long)f->errors, (long long)f->total_us,
	    (long long)(f->timed ? f->total_us / (int64_t)f->timed : 0),
	    (long long)(f->min_us < 0 ? 0 : f->min_us), (long long)f->max_us,
	    (long long)report_hist_quantile(&f->hist, 0.50, f->min_us, f->max_us),
	    (long long)report_hist_quantile(&f->hist, 0.95, f->min_us, f->max_us),
	    (long long)report_hist_quantile(&f->hist, 0.99, f->min_us, f->max_us));
	if (f->rows_calls)
		fprintf(out, "\"rows_per_call\":%.3f,", (double)f->rows / (double)f->rows_calls);
	else
		fputs("\"rows_per_call\":null,", out);
	fprintf(out,
	        "\"replica_share\":%.4f,\"wait_us\":%lld,\"first_seen_us\":%lld,"
	        "\"last_seen_us\":%lld,\"database\":",
	        f->calls ? (double)f->replica / (double)f->calls : 0.0, (long long)f->wait_us,
	        (long long)f->first_us, (long long)f->last_us);
	report_json_str(out, f->database);
	fputs(",\"user\":", out);
	report_json_str(out, f->user);
	fputs(",\"application_name\":", out);
	report_json_str(out, f->application_name);
	fputc('}', out);
}

int report_write_json(const struct report *r, FILE *out)
{
	double span_s = (double)(r->last_us - r->first_us) / 1e6;
	fprintf(out,
	        "{\"version\":%d,\"summary\":{\"files\":%zu,\"statements_read\":%llu,"
	        "\"statements\":%llu,\"fingerprints\":%zu,\"errors\":%llu,\"unparsed\":%llu,"
	        "\"untracked\":%llu,"
	        "\"skipped_lines\":%llu,\"first_us\":%lld,\"last_us\":%lld,\"qps\":%.3f,"
	        "\"total_us\":%lld,\"p50_us\":%lld,\"p95_us\":%lld,\"p99_us\":%lld,"
	        "\"baselined\":%zu,\"hypo_dropped\":%zu,\"hypo_note\":",
	        REPORT_JSON_VERSION, r->n_files, (unsigned long long)r->stmts_read,
	        (unsigned long long)r->stmts_kept, r->n_fps, (unsigned long long)r->errors,
	        (unsigned long long)r->unparsed, (unsigned long long)r->untracked,
	        (unsigned long long)r->skipped, (long long)r->first_us, (long long)r->last_us,
	        span_s > 0 ? (double)r->stmts_kept / span_s : (double)r->stmts_kept,
	        (long long)r->total_us,
	        (long long)report_hist_quantile(&r->all, 0.50, -1, r->max_us),
	        (long long)report_hist_quantile(&r->all, 0.95, -1, r->max_us),
	        (long long)report_hist_quantile(&r->all, 0.99, -1, r->max_us), r->baselined,
	        r->hypo_dropped);
	if (r->hypo_note[0])
		report_json_str(out, r->hypo_note);
	else
		fputs("null", out);
	fprintf(out, ",\"not_captured\":%llu,\"truncated_files\":%zu",
	        (unsigned long long)r->not_captured, r->truncated_files);
	fputs("},\n", out);

	fputs("\"top\":[", out);
	for (size_t i = 0; i < report_top_count(r); i++) {
		fputs(i ? ",\n" : "\n", out);
		write_fp(&r->fps[i], out);
	}
	fputs("],\n\"timeline\":{", out);
	fprintf(out, "\"bucket_us\":%lld,\"points\":[", (long long)r->bucket_width_us);
	bool first = true;
	for (size_t i = 0; i < REPORT_TIME_BUCKETS && r->stmts_kept; i++) {
		const struct report_bucket *b = &r->buckets[i];
		int64_t start = r->bucket_t0 + (int64_t)i * r->bucket_width_us;
		if (start + r->bucket_width_us <= r->first_us || start > r->last_us)
			continue;
		fprintf(out,
		        "%s{\"start_us\":%lld,\"calls\":%llu,\"errors\":%llu,\"qps\":%.3f,"
		        "\"mean_us\":%lld,\"p95_us\":%lld}",
		        first ? "" : ",", (long long)start, (unsigned long long)b->calls,
		        (unsigned long long)b->errors,
		        (double)b->calls * 1e6 / (double)r->bucket_width_us,
		        (long long)(b->hist.count ? b->total_us / (int64_t)b->hist.count : 0),
		        (long long)report_hist_quantile(&b->hist, 0.95, -1, -1));
		first = false;
	}
	fputs("]},\n\"findings\":[", out);
	for (size_t g = 0; g < r->n_groups; g++) {
		const struct report_rule_group *grp = &r->groups[g];
		fprintf(out, "%s\n{\"rule\":", g ? "," : "");
		report_json_str(out, grp->rule_id);
		fprintf(out, ",\"severity\":\"%s\",\"time_us\":%lld,\"items\":[",
		        severity_name(grp->severity), (long long)grp->time_us);
		for (size_t k = grp->first; k < grp->first + grp->count; k++) {
			const struct report_finding *f = &r->findings[k];
			char hex[17];
			report_fp_hex(f->fingerprint, hex);
			fprintf(out,
			        "%s{\"fingerprint\":\"%s\",\"severity\":\"%s\",\"calls\":%llu,"
			        "\"time_us\":%lld,\"message\":",
			        k > grp->first ? "," : "", hex, severity_name(f->severity),
			        (unsigned long long)f->fp->calls, (long long)f->time_us);
			report_json_str(out, f->message);
			fputs(",\"suggestion\":", out);
			if (f->suggestion)
				report_json_str(out, f->suggestion);
			else
				fputs("null", out);
			fputs(",\"hypothetical_index\":", out);
			if (f->hypo)
				report_json_str(out, f->hypo);
			else
				fputs("null", out);
			fputs(",\"example\":", out);
			report_json_str(out, f->fp->query);
			fputs(",\"database\":", out);
			report_json_str(out, f->fp->database);
			fputs(",\"user\":", out);
			report_json_str(out, f->fp->user);
			fputs(",\"application_name\":", out);
			report_json_str(out, f->fp->application_name);
			fputc('}', out);
		}
		fputs("]}", out);
	}
	fputs("]}\n", out);
	return ferror(out) ? -1 : 0;
}
