// SPDX-License-Identifier: Apache-2.0
/* The config file (YAML, read with libyaml's event parser into a small
 * bounded tree) and KSPAN_* variables, as long options: see config.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"
#include "log.h"
#include "strutil.h"

extern char **environ;

enum { CN_SCALAR, CN_SEQ, CN_MAP };

/* One value of the file. Children of a mapping alternate key, value. */
struct cnode {
	int kind;
	bool plain;		/* an unquoted scalar (may be null) */
	unsigned line;		/* 1-based */
	char *s;		/* scalar, NUL ended (no NUL inside) */
	size_t len;
	int child, last, next;	/* node indices, -1: none */
	size_t n;		/* children */
};

struct cparse {
	const struct config_schema *schema;
	struct config *c;
	FILE *err;
	const char *file;
	struct cnode *nodes;
	size_t nn;
};

void config_init(struct config *c, enum config_source src)
{
	memset(c, 0, sizeof(*c));
	c->src = src;
	naming_config_init(&c->naming);
}

void config_free(struct config *c)
{
	for (size_t i = 0; i < c->nowned; i++)
		free(c->owned[i]);
	free(c->owned);
	free(c->set);
	free(c->file);
	naming_config_free(&c->naming);
	config_init(c, c->src);
}

/* A copy owned by c; NULL when out of memory. */
static char *config_own(struct config *c, const char *s, size_t len)
{
	char *p;

	if (c->nowned == c->owned_cap) {
		size_t cap = c->owned_cap ? 2 * c->owned_cap : 32;
		char **o = realloc(c->owned, cap * sizeof(*o));

		if (!o)
			return NULL;
		c->owned = o;
		c->owned_cap = cap;
	}
	p = malloc(len + 1);
	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	c->owned[c->nowned++] = p;
	return p;
}

static int config_push(struct config *c, const struct option *opt, const char *arg,
		       size_t arglen, bool off, unsigned line, const char *var)
{
	struct config_setting *s;

	if (c->n >= CONFIG_SETTINGS_MAX)
		return -1;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 32;

		s = realloc(c->set, cap * sizeof(*s));
		if (!s)
			return -1;
		c->set = s;
		c->cap = cap;
	}
	s = &c->set[c->n];
	memset(s, 0, sizeof(*s));
	s->opt = opt;
	s->off = off;
	s->line = line;
	s->var = var;
	if (arg && !(s->arg = config_own(c, arg, arglen)))
		return -1;
	c->n++;
	return 0;
}

int config_add(struct config *c, const struct option *opt, const char *arg)
{
	return config_push(c, opt, arg, arg ? strlen(arg) : 0, false, 0, NULL);
}

const struct option *config_option(const struct config_schema *s, const char *name)
{
	for (const struct option *o = s->options; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

const struct option *config_option_val(const struct config_schema *s, int val)
{
	for (const struct option *o = s->options; o->name; o++)
		if (!o->flag && o->val == val)
			return o;
	return NULL;
}

static bool config_in(const char *const *list, const char *name)
{
	for (; list && *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

void config_env_name(const char *name, char *out, size_t outsz)
{
	size_t n = 0;

	if (!outsz)
		return;
	for (const char *p = "KSPAN_"; *p && n + 1 < outsz; p++)
		out[n++] = *p;
	for (const char *p = name; *p && n + 1 < outsz; p++)
		out[n++] = *p == '-' ? '_' : (*p >= 'a' && *p <= 'z') ? *p - 32 : *p;
	out[n] = '\0';
}

/* true, false (any case), 1 or 0. */
static int config_bool(const char *s, bool *out)
{
	if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = true;
	else if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

static bool config_has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* ---- the file ---- */

static int perr(struct cparse *p, unsigned line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int perr(struct cparse *p, unsigned line, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!p->err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_to(p->err, KLOG_ERROR, "%s:%u: %s%s%s%s", p->file, line, key ? "key '" : "",
	       key ? key : "", key ? "': " : "", msg);
	return -1;
}

static int node_new(struct cparse *p, int kind, unsigned line)
{
	struct cnode *n;

	if (p->nn >= CONFIG_NODES_MAX)
		return -1;
	n = &p->nodes[p->nn];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = line;
	n->child = n->last = n->next = -1;
	return (int)p->nn++;
}

static const char *const kind_names[] = { "a single value", "a list", "a mapping" };

/* libyaml events to the node tree; *root is -1 for an empty file. */
static int tree_build(struct cparse *p, const char *buf, size_t len, int *root)
{
	int stack[CONFIG_DEPTH_MAX];
	yaml_parser_t yp;
	yaml_event_t ev;
	int depth = 0, docs = 0, ret = 0;
	bool done = false;

	*root = -1;
	if (!yaml_parser_initialize(&yp))
		return perr(p, 1, NULL, "out of memory");
	yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
	while (!done && !ret) {
		const yaml_char_t *anchor = NULL;
		unsigned line;
		int kind = -1, idx;

		if (!yaml_parser_parse(&yp, &ev)) {
			char ctx[160] = "";

			if (yp.context)
				snprintf(ctx, sizeof(ctx), " %s (from line %u)", yp.context,
					 (unsigned)yp.context_mark.line + 1);
			ret = perr(p, (unsigned)yp.problem_mark.line + 1, NULL,
				   "invalid YAML (column %u): %s%s",
				   (unsigned)yp.problem_mark.column + 1,
				   yp.problem ? yp.problem : "syntax error", ctx);
			break;
		}
		line = (unsigned)ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				ret = perr(p, line, NULL, "a second YAML document: the file "
					   "holds one mapping of settings");
			break;
		case YAML_ALIAS_EVENT:
			ret = perr(p, line, NULL, "aliases (*name) are not supported: write "
				   "the value out");
			break;
		case YAML_SCALAR_EVENT:
			kind = CN_SCALAR;
			anchor = ev.data.scalar.anchor;
			break;
		case YAML_SEQUENCE_START_EVENT:
			kind = CN_SEQ;
			anchor = ev.data.sequence_start.anchor;
			break;
		case YAML_MAPPING_START_EVENT:
			kind = CN_MAP;
			anchor = ev.data.mapping_start.anchor;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		if (kind < 0 || ret) {
			yaml_event_delete(&ev);
			continue;
		}
		if (anchor) {
			ret = perr(p, line, NULL, "anchors (&name) are not supported: write "
				   "the value out");
		} else if ((idx = node_new(p, kind, line)) < 0) {
			ret = perr(p, line, NULL, "more than %d values in the file",
				   CONFIG_NODES_MAX);
		} else {
			struct cnode *n = &p->nodes[idx];

			if (depth == 0) {
				*root = idx;
			} else {
				struct cnode *parent = &p->nodes[stack[depth - 1]];
				size_t max = CONFIG_ITEMS_MAX * (parent->kind == CN_MAP ? 2 : 1);

				if (parent->n >= max)
					ret = perr(p, line, NULL, "more than %d entries in the %s "
						   "that starts on line %u", CONFIG_ITEMS_MAX,
						   parent->kind == CN_MAP ? "mapping" : "list",
						   parent->line);
				else if (parent->last < 0)
					parent->child = idx;
				else
					p->nodes[parent->last].next = idx;
				parent->last = idx;
				parent->n++;
			}
			if (ret) {
				/* reported */
			} else if (kind == CN_SCALAR) {
				size_t vlen = ev.data.scalar.length;
				const char *v = (const char *)ev.data.scalar.value;

				n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
				if (vlen > CONFIG_SCALAR_MAX)
					ret = perr(p, line, NULL, "a value longer than %d bytes",
						   CONFIG_SCALAR_MAX);
				else if (memchr(v, '\0', vlen))
					ret = perr(p, line, NULL, "a value with a NUL character");
				else if (!(n->s = config_own(p->c, v, vlen)))
					ret = perr(p, line, NULL, "out of memory");
				n->len = vlen;
			} else if (depth == CONFIG_DEPTH_MAX) {
				ret = perr(p, line, NULL, "values nested deeper than %d levels",
					   CONFIG_DEPTH_MAX);
			} else {
				stack[depth++] = idx;
			}
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	return ret;
}

static bool node_null(const struct cnode *n)
{
	return n->kind == CN_SCALAR && n->plain &&
	       (n->len == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
		strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0);
}

/* A non-null scalar without control characters. */
static int want_string(struct cparse *p, const struct cnode *n, const char *key)
{
	if (n->kind != CN_SCALAR)
		return perr(p, n->line, key, "expected a single value, not %s",
			    kind_names[n->kind]);
	if (node_null(n))
		return perr(p, n->line, key, "no value given");
	if (config_has_ctl(n->s, n->len))
		return perr(p, n->line, key, "the value has control characters");
	return 0;
}

static int want_bool(struct cparse *p, const struct cnode *n, const char *key, bool *out)
{
	if (want_string(p, n, key))
		return -1;
	if (config_bool(n->s, out))
		return perr(p, n->line, key, "expected true or false, not '%s'", n->s);
	return 0;
}

/* Calls fn for the value or each value of a list of single values. */
static int each_string(struct cparse *p, const struct cnode *n, const char *key, size_t max,
		       int (*fn)(struct cparse *p, const struct cnode *v, const char *key,
				 void *ctx),
		       void *ctx)
{
	if (n->kind == CN_MAP)
		return perr(p, n->line, key, "expected a value or a list of values, not a "
			    "mapping");
	if (n->kind == CN_SCALAR)
		return want_string(p, n, key) || fn(p, n, key, ctx) ? -1 : 0;
	if (n->n > max)
		return perr(p, n->line, key, "at most %zu values", max);
	for (int i = n->child; i >= 0; i = p->nodes[i].next)
		if (want_string(p, &p->nodes[i], key) || fn(p, &p->nodes[i], key, ctx))
			return -1;
	return 0;
}

static bool dup_key(struct cparse *p, const struct cnode *map, const struct cnode *key,
		    unsigned *first)
{
	for (int i = map->child; i >= 0; i = p->nodes[p->nodes[i].next].next) {
		const struct cnode *k = &p->nodes[i];

		if (k == key)
			return false;
		if (k->kind == CN_SCALAR && strcmp(k->s, key->s) == 0) {
			*first = k->line;
			return true;
		}
	}
	return false;
}

/* The key of a mapping entry: a unique, non-null single value. */
static int map_key(struct cparse *p, const struct cnode *map, const struct cnode *k,
		   const char *where)
{
	unsigned first;

	if (k->kind != CN_SCALAR || node_null(k))
		return perr(p, k->line, NULL, "%s keys must be names, not %s", where,
			    k->kind == CN_SCALAR ? "empty" : kind_names[k->kind]);
	if (dup_key(p, map, k, &first))
		return perr(p, k->line, k->s, "given twice (first on line %u)", first);
	return 0;
}

/* ---- options ---- */

struct opt_ctx {
	const struct option *opt;
	unsigned line;
};

static int opt_one(struct cparse *p, const struct cnode *v, const char *key, void *ctx)
{
	struct opt_ctx *o = ctx;

	if (config_push(p->c, o->opt, v->s, v->len, false, o->line, NULL))
		return perr(p, v->line, key, "too many settings (at most %d)",
			    CONFIG_SETTINGS_MAX);
	return 0;
}

static int parse_option(struct cparse *p, const struct option *opt, const struct cnode *k,
			const struct cnode *v)
{
	struct opt_ctx o = { .opt = opt, .line = k->line };
	const char *key = k->s;
	char *joined;
	size_t len = 0;
	bool on;

	if (opt->has_arg == no_argument) {
		if (want_bool(p, v, key, &on))
			return -1;
		if (config_push(p->c, opt, NULL, 0, !on, k->line, NULL))
			return perr(p, k->line, key, "too many settings");
		return 0;
	}
	if (v->kind != CN_SEQ || config_in(p->schema->repeatable, opt->name))
		return each_string(p, v, key, CONFIG_ITEMS_MAX, opt_one, &o);
	/* A list for an option that takes one value: its comma list. */
	if (v->n > CONFIG_ITEMS_MAX)
		return perr(p, v->line, key, "at most %d values", CONFIG_ITEMS_MAX);
	if (!v->n)
		return perr(p, v->line, key, "an empty list: give a value or remove the key");
	for (int i = v->child; i >= 0; i = p->nodes[i].next) {
		if (want_string(p, &p->nodes[i], key))
			return -1;
		len += p->nodes[i].len + 1;
	}
	joined = malloc(len);
	if (!joined)
		return perr(p, v->line, key, "out of memory");
	len = 0;
	for (int i = v->child; i >= 0; i = p->nodes[i].next) {
		if (len)
			joined[len++] = ',';
		memcpy(joined + len, p->nodes[i].s, p->nodes[i].len);
		len += p->nodes[i].len;
	}
	if (config_push(p->c, opt, joined, len, false, k->line, NULL)) {
		free(joined);
		return perr(p, k->line, key, "too many settings");
	}
	free(joined);
	return 0;
}

/* ---- service-names ---- */

struct rule_ctx {
	struct naming_rule *r;
	int kind;		/* 0 exe, 1 cgroup, 2 container-id, 3 port */
};

static int rule_value(struct cparse *p, const struct cnode *v, const char *key, void *ctx)
{
	struct rule_ctx *rc = ctx;
	struct naming_rule *r = rc->r;
	char *s;

	if (rc->kind == 3) {
		char *end;
		unsigned long port;

		errno = 0;
		port = strtoul(v->s, &end, 10);
		if (v->s[0] < '0' || v->s[0] > '9' || errno || *end || !port || port > 65535)
			return perr(p, v->line, key, "invalid port '%s': expected 1 to 65535",
				    v->s);
		r->port[r->nport++] = (uint16_t)port;
		return 0;
	}
	if (rc->kind == 1 && !strchr("/*?[", v->s[0]))
		return perr(p, v->line, key, "'%s' cannot match: a cgroup glob matches the "
			    "whole cgroup v2 path, which starts with '/'", v->s);
	if (rc->kind == 2 && (v->len < 12 || strspn(v->s, "0123456789abcdef") != v->len))
		return perr(p, v->line, key, "invalid container id '%s': expected at least 12 "
			    "lowercase hex digits", v->s);
	s = strdup(v->s);
	if (!s)
		return perr(p, v->line, key, "out of memory");
	if (rc->kind == 0)
		r->exe[r->nexe++] = s;
	else if (rc->kind == 1)
		r->cgroup[r->ncgroup++] = s;
	else
		r->cid[r->ncid++] = s;
	return 0;
}

static int parse_rule(struct cparse *p, const struct cnode *n, size_t idx,
		      struct naming_rule *r)
{
	static const char *const matchers[] = { "exe", "cgroup", "container-id", "port" };
	char key[96];
	bool named = false;

	snprintf(key, sizeof(key), "service-names.rules[%zu]", idx);
	r->line = n->line;
	if (n->kind != CN_MAP)
		return perr(p, n->line, key, "expected a mapping with name and matchers "
			    "(exe, cgroup, container-id, port), not %s", kind_names[n->kind]);
	for (int i = n->child; i >= 0; i = p->nodes[p->nodes[i].next].next) {
		const struct cnode *k = &p->nodes[i], *v = &p->nodes[k->next];
		char sub[160];
		int kind = -1;

		if (map_key(p, n, k, "rule"))
			return -1;
		snprintf(sub, sizeof(sub), "%s.%s", key, k->s);
		for (int m = 0; m < 4; m++)
			if (strcmp(k->s, matchers[m]) == 0)
				kind = m;
		if (strcmp(k->s, "name") == 0) {
			if (want_string(p, v, sub))
				return -1;
			if (v->len >= NAMING_NAME_MAX)
				return perr(p, v->line, sub, "longer than %d bytes",
					    NAMING_NAME_MAX - 1);
			r->name = strdup(v->s);
			if (!r->name)
				return perr(p, v->line, sub, "out of memory");
			named = true;
		} else if (strcmp(k->s, "override") == 0) {
			if (want_bool(p, v, sub, &r->override))
				return -1;
		} else if (kind >= 0) {
			struct rule_ctx rc = { .r = r, .kind = kind };

			if (each_string(p, v, sub, NAMING_VALUES_MAX, rule_value, &rc))
				return -1;
		} else {
			return perr(p, k->line, sub, "unknown key: a rule has name, override "
				    "and the matchers exe, cgroup, container-id, port");
		}
	}
	if (!named)
		return perr(p, n->line, key, "no name: give the service name as 'name'");
	if (!r->nexe && !r->ncgroup && !r->ncid && !r->nport)
		return perr(p, n->line, key, "no matcher: give exe, cgroup, container-id or "
			    "port (exe: \"*\" names every process)");
	return 0;
}

static int path_value(struct cparse *p, const struct cnode *v, const char *key, void *ctx)
{
	char **dst = ctx;

	if (v->s[0] != '/' || strstr(v->s, "/../") ||
	    (v->len >= 3 && strcmp(v->s + v->len - 3, "/..") == 0))
		return perr(p, v->line, key, "'%s': expected an absolute path without '..'",
			    v->s);
	if (v->len >= NAMING_PATH_MAX)
		return perr(p, v->line, key, "longer than %d bytes", NAMING_PATH_MAX - 1);
	*dst = strdup(v->s);
	return *dst ? 0 : perr(p, v->line, key, "out of memory");
}

struct list_ctx {
	char **v;
	size_t *n;
	bool env;
};

static int list_value(struct cparse *p, const struct cnode *v, const char *key, void *ctx)
{
	struct list_ctx *l = ctx;

	if (l->env) {
		if (strspn(v->s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789_") != v->len || (v->s[0] >= '0' && v->s[0] <= '9'))
			return perr(p, v->line, key, "'%s' is not an environment variable name",
				    v->s);
		l->v[*l->n] = strdup(v->s);
		if (!l->v[*l->n])
			return perr(p, v->line, key, "out of memory");
	} else if (path_value(p, v, key, &l->v[*l->n])) {
		return -1;
	}
	(*l->n)++;
	return 0;
}

static int parse_naming(struct cparse *p, const struct cnode *n)
{
	struct naming_config *nc = &p->c->naming;
	const char *key = "service-names";

	if (n->kind != CN_MAP)
		return perr(p, n->line, key, "expected a mapping (rules, kubernetes, "
			    "label-env, label-files, log-dir), not %s", kind_names[n->kind]);
	p->c->has_naming = true;
	for (int i = n->child; i >= 0; i = p->nodes[p->nodes[i].next].next) {
		const struct cnode *k = &p->nodes[i], *v = &p->nodes[k->next];
		char sub[96];

		if (map_key(p, n, k, "service-names"))
			return -1;
		snprintf(sub, sizeof(sub), "service-names.%s", k->s);
		if (strcmp(k->s, "rules") == 0) {
			size_t idx = 0;

			if (v->kind != CN_SEQ)
				return perr(p, v->line, sub, "expected a list of rules, not %s",
					    kind_names[v->kind]);
			if (v->n > NAMING_RULES_MAX)
				return perr(p, v->line, sub, "at most %d rules", NAMING_RULES_MAX);
			free(nc->rules);
			nc->rules = calloc(v->n ? v->n : 1, sizeof(*nc->rules));
			if (!nc->rules)
				return perr(p, v->line, sub, "out of memory");
			for (int r = v->child; r >= 0; r = p->nodes[r].next, idx++) {
				nc->nrules = idx + 1;
				if (parse_rule(p, &p->nodes[r], idx, &nc->rules[idx]))
					return -1;
			}
		} else if (strcmp(k->s, "kubernetes") == 0) {
			if (want_bool(p, v, sub, &nc->kubernetes))
				return -1;
		} else if (strcmp(k->s, "label-env") == 0) {
			struct list_ctx l = { nc->label_env, &nc->nlabel_env, true };

			if (each_string(p, v, sub, NAMING_SOURCES_MAX, list_value, &l))
				return -1;
		} else if (strcmp(k->s, "label-files") == 0) {
			struct list_ctx l = { nc->label_files, &nc->nlabel_files, false };

			if (each_string(p, v, sub, NAMING_SOURCES_MAX, list_value, &l))
				return -1;
		} else if (strcmp(k->s, "log-dir") == 0) {
			char *dir = NULL;

			if (want_string(p, v, sub) || path_value(p, v, sub, &dir))
				return -1;
			snprintf(nc->log_dir, sizeof(nc->log_dir), "%s", dir);
			free(dir);
		} else {
			return perr(p, k->line, sub, "unknown key: service-names has rules, "
				    "kubernetes, label-env, label-files and log-dir");
		}
	}
	return 0;
}

/* An unknown key: a near miss gets a suggestion. */
static int unknown_key(struct cparse *p, const struct cnode *k)
{
	char alt[128];
	size_t n = 0;

	for (const char *s = k->s; *s && n + 1 < sizeof(alt); s++)
		alt[n++] = *s == '_' ? '-' : (*s >= 'A' && *s <= 'Z') ? *s + 32 : *s;
	alt[n] = '\0';
	if (n > 2 && alt[0] == '-' && alt[1] == '-')
		memmove(alt, alt + 2, n - 1);
	if (strcmp(alt, k->s) && config_option(p->schema, alt) &&
	    !config_in(p->schema->reserved, alt))
		return perr(p, k->line, k->s, "unknown key; did you mean '%s'?", alt);
	return perr(p, k->line, k->s, "unknown key: keys are the long options of "
		    "kspan --help without the dashes, and service-names");
}

int config_parse(struct config *c, const struct config_schema *s, const char *file,
		 const char *buf, size_t len, FILE *err)
{
	struct cparse p = { .schema = s, .c = c, .err = err, .file = file };
	const struct cnode *root;
	int ri, ret = 0;

	free(c->file);
	c->file = strdup(file);
	if (!c->file)
		return -1;
	p.file = c->file;
	if (len > CONFIG_FILE_MAX)
		return perr(&p, 1, NULL, "larger than %d bytes", CONFIG_FILE_MAX);
	p.nodes = malloc(CONFIG_NODES_MAX * sizeof(*p.nodes));
	if (!p.nodes)
		return perr(&p, 1, NULL, "out of memory");
	ret = tree_build(&p, buf, len, &ri);
	if (ret || ri < 0)
		goto out;
	root = &p.nodes[ri];
	if (node_null(root))
		goto out;
	if (root->kind != CN_MAP) {
		ret = perr(&p, root->line, NULL, "expected a mapping of option names to values "
			   "(e.g. 'exe: [\"*/nginx\"]'), not %s", kind_names[root->kind]);
		goto out;
	}
	for (int i = root->child; i >= 0 && !ret; i = p.nodes[p.nodes[i].next].next) {
		const struct cnode *k = &p.nodes[i], *v = &p.nodes[k->next];
		const struct option *opt;

		if (map_key(&p, root, k, "top-level")) {
			ret = -1;
		} else if (strcmp(k->s, "service-names") == 0) {
			ret = parse_naming(&p, v);
		} else if (config_in(s->reserved, k->s)) {
			ret = perr(&p, k->line, k->s, "only on the command line");
		} else if (!(opt = config_option(s, k->s))) {
			ret = unknown_key(&p, k);
		} else {
			ret = parse_option(&p, opt, k, v);
		}
	}
out:
	free(p.nodes);
	return ret;
}

int config_load(struct config *c, const struct config_schema *s, const char *path, FILE *err)
{
	size_t got = 0;
	struct stat st;
	ssize_t r;
	char *buf;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (err)
			log_to(err, KLOG_ERROR, "failed to open config file %s: %s", path,
			       strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (err)
			log_to(err, KLOG_ERROR, "config file %s is a directory: give the file",
			       path);
		close(fd);
		return -1;
	}
	/* One byte more than allowed, to tell a full file from a larger one
	 * (pipes and /proc files have no size). */
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (got < CONFIG_FILE_MAX + 1) {
		r = read(fd, buf + got, CONFIG_FILE_MAX + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (err)
				log_to(err, KLOG_ERROR, "failed to read config file %s: %s", path,
				       strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		got += r;
	}
	close(fd);
	if (got > CONFIG_FILE_MAX) {
		if (err)
			log_to(err, KLOG_ERROR, "config file %s is larger than %d bytes", path,
			       CONFIG_FILE_MAX);
		free(buf);
		return -1;
	}
	ret = config_parse(c, s, path, buf, got, err);
	free(buf);
	return ret;
}

/* ---- the environment ---- */

int config_from_env(struct config *c, const struct config_schema *s, char *const *env,
		    FILE *err)
{
	char name[128];

	if (!env)
		env = environ;
	/* In the order of the option table, so that results do not depend on
	 * the order of the environment. */
	for (const struct option *o = s->options; o->name; o++) {
		const char *v, *var;

		if (config_in(s->reserved, o->name))
			continue;
		config_env_name(o->name, name, sizeof(name));
		v = str_env_get(env, name);
		if (!v || !*v)
			continue;
		var = config_own(c, name, strlen(name));
		if (!var)
			return -1;
		if (o->has_arg == no_argument) {
			bool on;

			if (config_bool(v, &on)) {
				if (err)
					log_to(err, KLOG_ERROR, "invalid %s='%s': expected true, false, "
					       "1 or 0", name, v);
				return -1;
			}
			if (config_push(c, o, NULL, 0, !on, 0, var))
				return -1;
		} else if (config_in(s->repeatable, o->name)) {
			/* A comma list: each item one occurrence; blanks around
			 * items and empty items are dropped. */
			while (*v) {
				const char *e = strchr(v, ',');
				size_t len = e ? (size_t)(e - v) : strlen(v);
				const char *item = v;

				v += len + (e ? 1 : 0);
				while (len && (*item == ' ' || *item == '\t')) {
					item++;
					len--;
				}
				while (len && (item[len - 1] == ' ' || item[len - 1] == '\t'))
					len--;
				if (len && config_push(c, o, item, len, false, 0, var)) {
					if (err)
						log_to(err, KLOG_ERROR, "%s: too many values", name);
					return -1;
				}
			}
		} else if (config_push(c, o, v, strlen(v), false, 0, var)) {
			return -1;
		}
	}
	for (; *env; env++) {
		const char *eq = strchr(*env, '=');
		bool known = false;

		if (strncmp(*env, "KSPAN_", 6) || !eq)
			continue;
		for (const struct option *o = s->options; o->name && !known; o++) {
			config_env_name(o->name, name, sizeof(name));
			known = strlen(name) == (size_t)(eq - *env) &&
				memcmp(name, *env, eq - *env) == 0;
		}
		if (!known && err)
			log_to(err, KLOG_WARN, "ignoring %.*s: no option of that name (kspan --help)",
			       (int)(eq - *env), *env);
	}
	return 0;
}

/* ---- precedence ---- */

static void config_where(const struct config *c, const struct config_setting *s, FILE *err)
{
	if (!err)
		return;
	if (c->src == CONFIG_SRC_FILE)
		log_to(err, KLOG_ERROR, "%s:%u: key '%s': invalid value (see above)",
		       c->file ? c->file : "config", s->line, s->opt->name);
	else if (c->src == CONFIG_SRC_ENV)
		log_to(err, KLOG_ERROR, "%s: invalid value (see above)", s->var);
}

static int config_apply_one(struct config *c, const struct config_setting *s,
			    config_apply_fn fn, void *ctx, FILE *err)
{
	char *arg = NULL;

	if (s->off)
		return 0;
	/* A fresh copy each time: handlers keep pointers and may cut the
	 * string (comma lists). */
	if (s->arg && !(arg = config_own(c, s->arg, strlen(s->arg)))) {
		if (err)
			log_to(err, KLOG_ERROR, "out of memory");
		return -1;
	}
	if (fn(ctx, s->opt->val, arg)) {
		config_where(c, s, err);
		return -1;
	}
	return 0;
}

int config_check(struct config *c, config_apply_fn fn, void *ctx, FILE *err)
{
	for (size_t i = 0; i < c->n; i++)
		if (config_apply_one(c, &c->set[i], fn, ctx, err))
			return -1;
	return 0;
}

static bool config_sets(const struct config *c, const struct option *opt)
{
	for (size_t i = 0; c && i < c->n; i++)
		if (c->set[i].opt == opt)
			return true;
	return false;
}

int config_apply(struct config *const srcs[CONFIG_SRCS], enum config_source level,
		 config_apply_fn fn, void *ctx, FILE *err)
{
	struct config *c = srcs[level];

	for (size_t i = 0; c && i < c->n; i++) {
		const struct config_setting *s = &c->set[i];
		bool overridden = false;

		for (int j = level + 1; j < CONFIG_SRCS && !overridden; j++)
			overridden = config_sets(srcs[j], s->opt);
		if (!overridden && config_apply_one(c, s, fn, ctx, err))
			return -1;
	}
	return 0;
}
