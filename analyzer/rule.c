/*
 * rule.c - severities, the rule registry lookups and the per-rule configuration.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "analyzer/rule.h"

static const char *const severity_names[] = {"off", "info", "warning", "error"};

/* Rule ids the engine itself reports; configurable like rules (severity only). */
static const char *const engine_rule_ids[] = {"syntax-error", "unused-suppression"};
static const enum severity engine_rule_defaults[] = {SEVERITY_ERROR, SEVERITY_INFO};
#define N_ENGINE_RULES (sizeof(engine_rule_ids) / sizeof(engine_rule_ids[0]))

struct rule_config {
	size_t n_rules;     /* entries in the registry */
	enum severity *sev; /* per registry index */
	double **options;   /* per registry index: rule->n_options values, or NULL */
	enum severity engine_sev[N_ENGINE_RULES];
};

const char *severity_name(enum severity s)
{
	if ((unsigned)s >= sizeof(severity_names) / sizeof(severity_names[0]))
		return "unknown";
	return severity_names[s];
}

bool severity_from_name(const char *s, enum severity *out)
{
	for (size_t i = 0; i < sizeof(severity_names) / sizeof(severity_names[0]); i++) {
		if (strcasecmp(s, severity_names[i]) == 0) {
			*out = (enum severity)i;
			return true;
		}
	}
	return false;
}

const struct rule *rule_find(const char *id)
{
	for (size_t i = 0; rule_registry[i] != NULL; i++) {
		if (strcmp(rule_registry[i]->id, id) == 0)
			return rule_registry[i];
	}
	return NULL;
}

static size_t registry_size(void)
{
	size_t n = 0;
	while (rule_registry[n] != NULL)
		n++;
	return n;
}

static ssize_t registry_index(const struct rule *rule)
{
	for (size_t i = 0; rule_registry[i] != NULL; i++) {
		if (rule_registry[i] == rule)
			return (ssize_t)i;
	}
	return -1;
}

struct rule_config *rule_config_new(void)
{
	struct rule_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	cfg->n_rules = registry_size();
	cfg->sev = calloc(cfg->n_rules + 1, sizeof(*cfg->sev));
	cfg->options = calloc(cfg->n_rules + 1, sizeof(*cfg->options));
	if (cfg->sev == NULL || cfg->options == NULL)
		goto out_free;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct rule *r = rule_registry[i];
		cfg->sev[i] = r->default_severity;
		if (r->n_options == 0)
			continue;
		cfg->options[i] = calloc(r->n_options, sizeof(double));
		if (cfg->options[i] == NULL)
			goto out_free;
		for (size_t k = 0; k < r->n_options; k++)
			cfg->options[i][k] = r->options[k].default_value;
	}
	for (size_t i = 0; i < N_ENGINE_RULES; i++)
		cfg->engine_sev[i] = engine_rule_defaults[i];
	return cfg;

out_free:
	rule_config_free(cfg);
	return NULL;
}

void rule_config_free(struct rule_config *cfg)
{
	if (cfg == NULL)
		return;
	if (cfg->options != NULL) {
		for (size_t i = 0; i < cfg->n_rules; i++)
			free(cfg->options[i]);
	}
	free(cfg->options);
	free(cfg->sev);
	free(cfg);
}

/* Parse an option value: a finite number, or true/false. */
static bool parse_number(const char *value, double *out)
{
	char *end;

	if (strcasecmp(value, "true") == 0 || strcasecmp(value, "on") == 0) {
		*out = 1;
		return true;
	}
	if (strcasecmp(value, "false") == 0 || strcasecmp(value, "off") == 0) {
		*out = 0;
		return true;
	}
	errno = 0;
	double v = strtod(value, &end);
	if (end == value || *end != '\0' || errno != 0 || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static int set_option(struct rule_config *cfg, size_t idx, const char *opt, const char *value,
                      char *err, size_t errlen)
{
	const struct rule *r = rule_registry[idx];
	double v;

	for (size_t k = 0; k < r->n_options; k++) {
		const struct rule_option *o = &r->options[k];
		if (strcmp(o->name, opt) != 0)
			continue;
		if (!parse_number(value, &v)) {
			snprintf(err, errlen, "rule %s: option %s: '%s' is not a number", r->id,
			         opt, value);
			return -1;
		}
		if (v < o->min_value || v > o->max_value) {
			snprintf(err, errlen, "rule %s: option %s: %g is outside [%g, %g]", r->id,
			         opt, v, o->min_value, o->max_value);
			return -1;
		}
		cfg->options[idx][k] = v;
		return 0;
	}
	snprintf(err, errlen, "rule %s has no option '%s'", r->id, opt);
	return -1;
}

int rule_config_set(struct rule_config *cfg, const char *key, const char *value, char *err,
                    size_t errlen)
{
	char id[128];
	const char *dot = strchr(key, '.');
	size_t idlen = dot != NULL ? (size_t)(dot - key) : strlen(key);

	if (idlen == 0 || idlen >= sizeof(id)) {
		snprintf(err, errlen, "bad rule key '%s'", key);
		return -1;
	}
	memcpy(id, key, idlen);
	id[idlen] = '\0';

	for (size_t i = 0; i < N_ENGINE_RULES; i++) {
		if (strcmp(id, engine_rule_ids[i]) != 0)
			continue;
		if (dot != NULL) {
			snprintf(err, errlen, "rule %s has no option '%s'", id, dot + 1);
			return -1;
		}
		if (!severity_from_name(value, &cfg->engine_sev[i])) {
			snprintf(err, errlen, "rule %s: '%s' is not off|info|warning|error", id,
			         value);
			return -1;
		}
		return 0;
	}
	const struct rule *r = rule_find(id);
	if (r == NULL) {
		snprintf(err, errlen, "unknown rule '%s'", id);
		return -1;
	}
	size_t idx = (size_t)registry_index(r);
	if (dot != NULL)
		return set_option(cfg, idx, dot + 1, value, err, errlen);
	if (!severity_from_name(value, &cfg->sev[idx])) {
		snprintf(err, errlen, "rule %s: '%s' is not off|info|warning|error", id, value);
		return -1;
	}
	return 0;
}

static struct rule_config *default_config;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_config_init(void)
{
	default_config = rule_config_new();
}

/* The configuration used when callers pass NULL: the registry's defaults. */
static const struct rule_config *config_or_default(const struct rule_config *cfg)
{
	if (cfg != NULL)
		return cfg;
	pthread_once(&default_once, default_config_init);
	return default_config;
}

enum severity rule_config_severity(const struct rule_config *cfg, const struct rule *rule)
{
	cfg = config_or_default(cfg);
	ssize_t idx = registry_index(rule);
	if (idx < 0)
		return SEVERITY_OFF;
	if (cfg == NULL)
		return rule->default_severity;
	return cfg->sev[idx];
}

const double *rule_config_options(const struct rule_config *cfg, const struct rule *rule)
{
	cfg = config_or_default(cfg);
	ssize_t idx = registry_index(rule);
	if (idx < 0 || cfg == NULL)
		return NULL;
	return cfg->options[idx];
}

enum severity rule_config_engine_severity(const struct rule_config *cfg, const char *id)
{
	cfg = config_or_default(cfg);
	for (size_t i = 0; i < N_ENGINE_RULES; i++) {
		if (strcmp(id, engine_rule_ids[i]) == 0)
			return cfg != NULL ? cfg->engine_sev[i] : engine_rule_defaults[i];
	}
	return SEVERITY_OFF;
}

double rule_option(const struct rule_ctx *ctx, const char *name)
{
	const struct rule *r = ctx->rule;

	for (size_t k = 0; k < r->n_options; k++) {
		if (strcmp(r->options[k].name, name) == 0)
			return ctx->options != NULL ? ctx->options[k] : r->options[k].default_value;
	}
	/* A rule asking for an option it does not declare is a bug in the rule. */
	fprintf(stderr, "pgscope: rule %s has no option %s\n", r->id, name);
	abort();
}
