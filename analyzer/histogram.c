/*
 * histogram.c - range selectivity from pg_stats histogram bounds and most common values.
 *
 * Mirrors scalarineqsel()/ineq_histogram_selectivity(): the fraction of the
 * histogram below the value (linear within its bucket for numbers and
 * timestamps, half a bucket for text), scaled to the rows that are neither
 * NULL nor among the most common values, plus the common values that satisfy
 * the comparison. Like the planner, an estimate from the histogram alone is
 * never closer to 0 or 1 than a hundredth of a bucket.
 */
#include "analyzer/histogram.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How the statistics' values compare. */
enum hist_kind {
	HIST_NUM,  /* numbers */
	HIST_TIME, /* dates and timestamps, as seconds since the epoch */
	HIST_TEXT, /* anything else, compared bytewise */
};

struct hist_value {
	double num; /* HIST_NUM, HIST_TIME */
	const char *text;
};

#define HIST_MAX_DEPTH 16
#define DAY_SECONDS    86400.0

static bool parse_num(const char *s, double *out)
{
	char *end;

	if (*s == '\0' || isspace((unsigned char)*s))
		return false;
	*out = strtod(s, &end);
	return end != s && *end == '\0';
}

/* Read exactly n digits at *p into *out. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/* Days from 1970-01-01 to a proleptic Gregorian date. */
static double days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (double)era * 146097 + doe - 719468;
}

/* "+HH", "+HH:MM", "-HHMM", "Z", " UTC" or nothing: seconds east of UTC. */
static bool parse_zone(const char *p, double *offset)
{
	int h = 0, m = 0;

	*offset = 0;
	while (*p == ' ')
		p++;
	if (*p == '\0' || strcmp(p, "Z") == 0 || strcmp(p, "UTC") == 0)
		return true;
	if (*p != '+' && *p != '-')
		return false;
	int sign = *p++ == '-' ? -1 : 1;
	if (!digits(&p, 2, &h))
		return false;
	if (*p == ':')
		p++;
	if (*p != '\0' && !digits(&p, 2, &m))
		return false;
	if (*p == ':')
		return false; /* seconds in an offset: historical zones, not worth it */
	*offset = sign * (h * 3600.0 + m * 60.0);
	return *p == '\0';
}

bool hist_parse_time(const char *text, double *out)
{
	const char *p = text;
	int y, mo, d, h = 0, mi = 0, sec = 0;
	double frac = 0, offset = 0;

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
		return false;
	if ((*p == ' ' || *p == 'T') && isdigit((unsigned char)p[1])) {
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
			return false;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &sec))
				return false;
			if (*p == '.') {
				char *end;
				frac = strtod(p, &end);
				p = end;
			}
		}
	}
	if (!parse_zone(p, &offset))
		return false;
	*out =
	    days_from_civil(y, mo, d) * DAY_SECONDS + h * 3600.0 + mi * 60.0 + sec + frac - offset;
	return true;
}

/* Seconds in one unit of an interval, or 0 for an unknown unit. */
static double unit_seconds(const char *u, size_t n)
{
	static const struct {
		const char *name;
		double seconds;
	} units[] = {
	    {"microsecond", 1e-6},
	    {"millisecond", 1e-3},
	    {"ms", 1e-3},
	    {"second", 1},
	    {"sec", 1},
	    {"s", 1},
	    {"minute", 60},
	    {"min", 60},
	    {"m", 60},
	    {"hour", 3600},
	    {"h", 3600},
	    {"day", 86400},
	    {"d", 86400},
	    {"week", 604800},
	    {"w", 604800},
	    {"month", 2592000},
	    {"mon", 2592000},
	    {"year", 31557600},
	    {"y", 31557600},
	};
	for (int plural = 0; plural < 2; plural++) {
		/* Then without the plural s: "days", "mins". */
		if (plural == 1 && (n < 2 || u[n - 1] != 's'))
			break;
		size_t len = n - (size_t)plural;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (strlen(units[i].name) == len && strncasecmp(units[i].name, u, len) == 0)
				return units[i].seconds;
		}
	}
	return 0;
}

bool hist_parse_interval(const char *text, double *out)
{
	const char *p = text;
	double total = 0;
	bool any = false;

	while (*p == ' ' || *p == '@')
		p++;
	while (*p != '\0') {
		char *end;
		double v = strtod(p, &end);
		if (end == p)
			break;
		p = end;
		if (*p == ':') { /* HH:MM[:SS] */
			double mi = strtod(p + 1, &end);
			double s = 0;
			p = end;
			if (*p == ':') {
				s = strtod(p + 1, &end);
				p = end;
			}
			total += v * 3600 + (v < 0 ? -1 : 1) * (mi * 60 + s);
			any = true;
		} else {
			while (*p == ' ')
				p++;
			const char *u = p;
			while (isalpha((unsigned char)*p))
				p++;
			double unit = unit_seconds(u, (size_t)(p - u));
			if (unit == 0)
				return false;
			total += v * unit;
			any = true;
		}
		while (*p == ' ' || *p == ',')
			p++;
		if (strncasecmp(p, "ago", 3) == 0 && p[3] == '\0') {
			total = -total;
			p += 3;
		}
	}
	*out = total;
	return any && *p == '\0';
}

/* The kind of the statistics' values, judged from the first one. */
static bool stats_kind(const struct catalog_stats *s, enum hist_kind *kind)
{
	const char *sample = s->n_hist > 0 ? s->hist[0] : s->n_mcv > 0 ? s->mcv_vals[0] : NULL;
	double v;

	if (sample == NULL)
		return false;
	if (parse_num(sample, &v))
		*kind = HIST_NUM;
	else if (hist_parse_time(sample, &v))
		*kind = HIST_TIME;
	else
		*kind = HIST_TEXT;
	return true;
}

static bool text_value(const char *text, enum hist_kind kind, struct hist_value *v)
{
	v->text = text;
	if (kind == HIST_NUM)
		return parse_num(text, &v->num);
	if (kind == HIST_TIME)
		return hist_parse_time(text, &v->num);
	return true;
}

static const char *type_name(const PgQuery__TypeCast *tc)
{
	if (tc->type_name == NULL || tc->type_name->n_names == 0)
		return NULL;
	const PgQuery__Node *last = tc->type_name->names[tc->type_name->n_names - 1];
	return last->node_case == PG_QUERY__NODE__NODE_STRING ? last->string->sval : NULL;
}

/* Seconds of an interval constant ('1 day'::interval, interval '1 day'). */
static bool interval_value(const PgQuery__Node *n, double *out)
{
	if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_TYPE_CAST)
		return false;
	const char *ty = type_name(n->type_cast);
	const PgQuery__Node *arg = n->type_cast->arg;
	if (ty == NULL || strcmp(ty, "interval") != 0 || arg == NULL ||
	    arg->node_case != PG_QUERY__NODE__NODE_A_CONST ||
	    arg->a_const->val_case != PG_QUERY__A__CONST__VAL_SVAL)
		return false;
	return hist_parse_interval(arg->a_const->sval->sval, out);
}

static bool is_now_call(const PgQuery__FuncCall *fc)
{
	static const char *const names[] = {"now", "statement_timestamp", "transaction_timestamp",
	                                    "clock_timestamp"};
	if (fc->n_args != 0 || fc->n_funcname == 0)
		return false;
	const PgQuery__Node *last = fc->funcname[fc->n_funcname - 1];
	if (last->node_case != PG_QUERY__NODE__NODE_STRING)
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(last->string->sval, names[i]) == 0)
			return true;
	}
	return false;
}

static bool eval_value(const PgQuery__Node *n, enum hist_kind kind, struct hist_value *v,
                       int depth);

/* value + interval, value - interval (timestamps), or number +/- number. */
static bool eval_arith(const PgQuery__AExpr *e, enum hist_kind kind, struct hist_value *v,
                       int depth)
{
	if (e->kind != PG_QUERY__A__EXPR__KIND__AEXPR_OP || e->n_name != 1 ||
	    e->name[0]->node_case != PG_QUERY__NODE__NODE_STRING || e->lexpr == NULL)
		return false;
	const char *op = e->name[0]->string->sval;
	double sign = strcmp(op, "+") == 0 ? 1 : strcmp(op, "-") == 0 ? -1 : 0;
	double delta;
	if (sign == 0 || kind == HIST_TEXT || !eval_value(e->lexpr, kind, v, depth + 1))
		return false;
	if (kind == HIST_TIME) {
		if (!interval_value(e->rexpr, &delta))
			return false;
	} else {
		struct hist_value r;
		if (!eval_value(e->rexpr, kind, &r, depth + 1))
			return false;
		delta = r.num;
	}
	v->num += sign * delta;
	return true;
}

/* The value a planner would fold node to, placed on the statistics' scale. */
static bool eval_value(const PgQuery__Node *n, enum hist_kind kind, struct hist_value *v, int depth)
{
	if (n == NULL || depth > HIST_MAX_DEPTH)
		return false;
	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_TYPE_CAST:
		return eval_value(n->type_cast->arg, kind, v, depth + 1);
	case PG_QUERY__NODE__NODE_A_CONST: {
		const PgQuery__AConst *c = n->a_const;
		if (c->isnull)
			return false;
		if (c->val_case == PG_QUERY__A__CONST__VAL_IVAL && kind == HIST_NUM) {
			v->num = c->ival->ival;
			return true;
		}
		if (c->val_case == PG_QUERY__A__CONST__VAL_FVAL && kind == HIST_NUM)
			return parse_num(c->fval->fval, &v->num);
		if (c->val_case == PG_QUERY__A__CONST__VAL_SVAL)
			return text_value(c->sval->sval, kind, v);
		return false;
	}
	case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION: {
		PgQuery__SQLValueFunctionOp op = n->sqlvalue_function->op;
		if (kind != HIST_TIME)
			return false;
		v->num = (double)time(NULL);
		if (op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE) {
			v->num = floor(v->num / DAY_SECONDS) * DAY_SECONDS;
			return true;
		}
		return op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP ||
		       op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N ||
		       op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP ||
		       op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N;
	}
	case PG_QUERY__NODE__NODE_FUNC_CALL:
		if (kind != HIST_TIME || !is_now_call(n->func_call))
			return false;
		v->num = (double)time(NULL);
		return true;
	case PG_QUERY__NODE__NODE_A_EXPR:
		return eval_arith(n->a_expr, kind, v, depth);
	default:
		return false;
	}
}

/* <0, 0, >0 as a stored value compares with v; false when it does not parse. */
static bool compare(const char *stored, enum hist_kind kind, const struct hist_value *v, int *cmp,
                    double *num)
{
	if (kind == HIST_TEXT) {
		*cmp = strcmp(stored, v->text);
		return true;
	}
	struct hist_value b;
	if (!text_value(stored, kind, &b))
		return false;
	*num = b.num;
	*cmp = b.num < v->num ? -1 : b.num > v->num;
	return true;
}

/* Fraction of the histogram below v (0..1); false when a bound does not parse. */
static bool fraction_below(const struct catalog_stats *s, enum hist_kind kind,
                           const struct hist_value *v, double *frac)
{
	size_t n = s->n_hist;
	size_t lo = 0, hi = n - 1;
	int cmp;
	double lo_num = 0, hi_num = 0;

	if (!compare(s->hist[0], kind, v, &cmp, &lo_num))
		return false;
	if (cmp >= 0) {
		*frac = 0;
		return true;
	}
	if (!compare(s->hist[n - 1], kind, v, &cmp, &hi_num))
		return false;
	if (cmp <= 0) {
		*frac = 1;
		return true;
	}
	/* Invariant: hist[lo] < v < hist[hi]. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		double num = 0;
		if (!compare(s->hist[mid], kind, v, &cmp, &num))
			return false;
		if (cmp == 0) {
			*frac = (double)mid / (double)(n - 1);
			return true;
		}
		if (cmp < 0) {
			lo = mid;
			lo_num = num;
		} else {
			hi = mid;
			hi_num = num;
		}
	}
	double bin = 0.5;
	if (kind != HIST_TEXT && hi_num > lo_num)
		bin = (v->num - lo_num) / (hi_num - lo_num);
	*frac = ((double)lo + bin) / (double)(n - 1);
	return true;
}

double hist_bound_selectivity(const struct catalog_stats *s, const PgQuery__Node *value, bool lower)
{
	enum hist_kind kind;
	struct hist_value v = {0};

	if (s == NULL || !s->present || !stats_kind(s, &kind) || !eval_value(value, kind, &v, 0))
		return -1;
	double mcv_sel = 0, mcv_sum = 0;
	for (size_t i = 0; i < s->n_mcv; i++) {
		int cmp;
		double num;
		if (!compare(s->mcv_vals[i], kind, &v, &cmp, &num))
			continue;
		mcv_sum += s->mcv_freqs[i];
		if (lower ? cmp > 0 : cmp < 0)
			mcv_sel += s->mcv_freqs[i];
	}
	double rest = 1.0 - s->null_frac - mcv_sum;
	double hist_sel = 0.5;
	if (s->n_hist >= 2) {
		double below;
		if (!fraction_below(s, kind, &v, &below))
			return -1;
		hist_sel = lower ? 1.0 - below : below;
		/* Bounds are approximate and may be stale: never trust extremes. */
		double cutoff = 0.01 / (double)(s->n_hist - 1);
		hist_sel = hist_sel < cutoff       ? cutoff
		           : hist_sel > 1 - cutoff ? 1 - cutoff
		                                   : hist_sel;
	} else if (s->n_mcv == 0) {
		return -1;
	}
	double sel = (rest > 0 ? rest : 0) * hist_sel + mcv_sel;
	return sel < 0 ? 0 : sel > 1 ? 1 : sel;
}
