/* report_sarif.c - the report's findings as SARIF 2.1.0, for code-scanning tools. */
#include <stdio.h>

#include "analyzer/report.h"

static const char *sarif_level(enum severity s)
{
	return s == SEVERITY_ERROR ? "error" : s == SEVERITY_WARNING ? "warning" : "note";
}

int report_write_sarif(const struct report *r, FILE *out)
{
	fputs(
	    "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\","
	    "\"runs\":[{\"tool\":{\"driver\":{\"name\":\"pgscope\",\"rules\":[",
	    out);
	for (size_t g = 0; g < r->n_groups; g++) {
		fprintf(out, "%s{\"id\":", g ? "," : "");
		report_json_str(out, r->groups[g].rule_id);
		fputs(",\"helpUri\":", out);
		char uri[128];
		snprintf(uri, sizeof(uri), "docs/rules/%s.md", r->groups[g].rule_id);
		report_json_str(out, uri);
		fputc('}', out);
	}
	fputs("]}},\"results\":[", out);
	for (size_t i = 0; i < r->n_findings; i++) {
		const struct report_finding *f = &r->findings[i];
		char hex[17];
		report_fp_hex(f->fingerprint, hex);
		fprintf(out, "%s\n{\"ruleId\":", i ? "," : "");
		report_json_str(out, f->rule_id);
		fprintf(out, ",\"level\":\"%s\",\"message\":{\"text\":", sarif_level(f->severity));
		report_json_str(out, f->message);
		/* A fingerprint is the query's identity; its "location" is a logical one. */
		fprintf(out,
		        "},\"locations\":[{\"logicalLocations\":[{\"name\":\"%s\",\"kind\":"
		        "\"query\"}]}],\"partialFingerprints\":{\"pgscope/fingerprint\":\"%s\"},"
		        "\"properties\":{\"calls\":%llu,\"time_us\":%lld,\"query\":",
		        hex, hex, (unsigned long long)f->fp->calls, (long long)f->time_us);
		report_json_str(out, f->fp->query);
		if (f->suggestion) {
			fputs(",\"suggestion\":", out);
			report_json_str(out, f->suggestion);
		}
		fputs("}}", out);
	}
	fputs("]}]}\n", out);
	return ferror(out) ? -1 : 0;
}
