// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sampler.h"
#include "tail.h"

#define TABLE_WAYS 8

const char tail_usage[] =
"Tail sampling, decided per trace once its spans on this node are in (any of\n"
"these options turns it on; the head sampler, OTEL_TRACES_SAMPLER, decides\n"
"first and tail sampling never sees the traces it drops):\n"
"      --tail-sampling           keep every trace with an ERROR span; drop the\n"
"                                others unless an option below keeps them\n"
"      --tail-keep-slower-than MS\n"
"                                keep traces whose longest span on this node\n"
"                                took longer than MS milliseconds\n"
"      --tail-keep-routes GLOB,...\n"
"                                keep traces with a span whose http.route, else\n"
"                                url.path, matches a glob ('*' any characters,\n"
"                                '/' too, '?' one; at most 16, repeatable)\n"
"      --tail-ratio R            keep this share (0 to 1, default 0) of the\n"
"                                other traces, chosen by trace id like\n"
"                                traceidratio, so every kspan keeps the same\n"
"      --tail-decision-wait MS   longest a trace waits for its decision, from\n"
"                                its first span, while spans still join it or\n"
"                                a parent span is still in flight (default\n"
"                                5000, at least --linger-ms)\n";

static const char *const tail_opt_names[] = {
	"tail-sampling", "tail-keep-slower-than", "tail-keep-routes", "tail-ratio",
	"tail-decision-wait",
};

const char *tail_option_name(int val)
{
	if (val < TAIL_OPT_FIRST || val > TAIL_OPT_LAST)
		return NULL;
	return tail_opt_names[val - TAIL_OPT_FIRST];
}

void tail_config_init(struct tail_config *c)
{
	memset(c, 0, sizeof(*c));
	c->ratio = 0.0;
	c->ratio_threshold = sampler_ratio_threshold(0.0);
	c->wait_ns = (uint64_t)TAIL_WAIT_DEFAULT_MS * 1000000;
}

static int parse_ms(const char *name, const char *arg, uint32_t hi, uint64_t *ns)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < 1 || v > hi) {
		log_error("invalid --%s '%s': expected milliseconds from 1 to %u", name, arg, hi);
		return -1;
	}
	*ns = (uint64_t)v * 1000000;
	return 0;
}

static int add_routes(struct tail_config *c, const char *arg)
{
	const char *p = arg;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (!len) {
			log_error("invalid --tail-keep-routes '%s': an empty "
				  "pattern (write GLOB,GLOB, e.g. '/api/checkout*,/login')", arg);
			return -1;
		}
		if (len >= TAIL_ROUTE_LEN) {
			log_error("--tail-keep-routes pattern '%.*s' is longer than "
				  "%d characters", (int)len, p, TAIL_ROUTE_LEN - 1);
			return -1;
		}
		if (c->nroutes >= TAIL_ROUTES_MAX) {
			log_error("at most %d --tail-keep-routes patterns", TAIL_ROUTES_MAX);
			return -1;
		}
		memcpy(c->routes[c->nroutes], p, len);
		c->routes[c->nroutes++][len] = '\0';
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

int tail_config_option(struct tail_config *c, const char *name, const char *arg)
{
	if (!name)
		return -1;
	if (!strcmp(name, "tail-sampling")) {
		/* errors are always kept: nothing to set */
	} else if (!strcmp(name, "tail-keep-slower-than")) {
		if (parse_ms(name, arg, 3600000, &c->slower_than_ns))
			return -1;
	} else if (!strcmp(name, "tail-keep-routes")) {
		if (add_routes(c, arg))
			return -1;
	} else if (!strcmp(name, "tail-ratio")) {
		char *end;
		double r;

		errno = 0;
		r = strtod(arg, &end);
		if (errno || end == arg || *end || !(r >= 0.0 && r <= 1.0)) {
			log_error("invalid --tail-ratio '%s': expected a share from 0 "
				  "to 1 (e.g. 0.05)", arg);
			return -1;
		}
		c->ratio = r;
		c->ratio_threshold = sampler_ratio_threshold(r);
	} else if (!strcmp(name, "tail-decision-wait")) {
		if (parse_ms(name, arg, 600000, &c->wait_ns))
			return -1;
	} else {
		log_error("unknown option --%s", name);
		return -1;
	}
	c->enabled = true;
	return 0;
}

bool tail_glob(const char *pat, const char *text, size_t len)
{
	size_t p = 0, t = 0, star = SIZE_MAX, mark = 0;

	/* Greedy, going back only to the last '*': no recursion, at most
	 * strlen(pat) * len steps. */
	while (t < len) {
		if (pat[p] == '*') {
			star = ++p;
			mark = t;
		} else if (pat[p] && (pat[p] == '?' || pat[p] == text[t])) {
			p++;
			t++;
		} else if (star != SIZE_MAX) {
			p = star;
			t = ++mark;
		} else {
			return false;
		}
	}
	while (pat[p] == '*')
		p++;
	return !pat[p];
}

const char *tail_span_route(const struct span *s, size_t *len)
{
	const struct span_attr *a = span_attr_find(s, "http.route");

	if (!a || a->type != SPAN_ATTR_STR)
		a = span_attr_find(s, "url.path");
	if (!a || a->type != SPAN_ATTR_STR)
		return NULL;
	*len = a->v.s.len;
	return span_attr_sval(s, a);
}

static bool route_listed(const struct tail_config *c, const struct span *s)
{
	size_t len;
	const char *r = tail_span_route(s, &len);

	if (!r)
		return false;
	for (uint32_t i = 0; i < c->nroutes; i++)
		if (tail_glob(c->routes[i], r, len))
			return true;
	return false;
}

enum tail_verdict tail_policy(const struct tail_config *c, const struct span *const *spans,
			      size_t n, const uint8_t trace_id[16])
{
	bool slow = false, route = false;

	for (size_t i = 0; i < n; i++) {
		const struct span *s = spans[i];

		if (s->status == SPAN_STATUS_ERROR)
			return TAIL_KEEP_ERROR;
		if (c->slower_than_ns && s->end_ns > s->start_ns &&
		    s->end_ns - s->start_ns > c->slower_than_ns)
			slow = true;
		if (!route && c->nroutes && route_listed(c, s))
			route = true;
	}
	if (slow)
		return TAIL_KEEP_SLOW;
	if (route)
		return TAIL_KEEP_ROUTE;
	if (c->ratio_threshold && sampler_id_below(trace_id, c->ratio_threshold))
		return TAIL_KEEP_RATIO;
	return TAIL_DROP;
}

/* Decision table: sets of TABLE_WAYS entries, newest first. An entry is a
 * 64-bit digest of the trace id with bit 1 set (never 0: empty) and bit 0
 * the decision. */
struct tail_table {
	uint64_t *e;
	uint32_t nsets;		/* a power of two */
};

static uint64_t digest(const uint8_t id[16])
{
	uint64_t a = 0, b = 0;

	for (int i = 0; i < 8; i++) {
		a = a << 8 | id[i];
		b = b << 8 | id[8 + i];
	}
	/* splitmix64's finalizer over both halves */
	a ^= b * 0x9e3779b97f4a7c15ull;
	a = (a ^ (a >> 30)) * 0xbf58476d1ce4e5b9ull;
	a = (a ^ (a >> 27)) * 0x94d049bb133111ebull;
	return a ^ (a >> 31);
}

struct tail_table *tail_table_new(uint32_t entries)
{
	struct tail_table *t = calloc(1, sizeof(*t));
	uint32_t n = 1;

	if (!t)
		return NULL;
	while (n * TABLE_WAYS < entries && n < (1u << 24))
		n <<= 1;
	t->nsets = n;
	t->e = calloc((size_t)n * TABLE_WAYS, sizeof(*t->e));
	if (!t->e) {
		free(t);
		return NULL;
	}
	return t;
}

void tail_table_free(struct tail_table *t)
{
	if (!t)
		return;
	free(t->e);
	free(t);
}

uint32_t tail_table_capacity(const struct tail_table *t)
{
	return t->nsets * TABLE_WAYS;
}

/* The set of a digest, and the way holding it or -1. */
static int table_find(struct tail_table *t, uint64_t d, uint64_t **set)
{
	*set = t->e + (size_t)((d >> 40) & (t->nsets - 1)) * TABLE_WAYS;
	for (int w = 0; w < TABLE_WAYS; w++)
		if ((*set)[w] && (((*set)[w] ^ d) & ~3ull) == 0)
			return w;
	return -1;
}

/* Move way w to the front of its set, holding v. */
static void to_front(uint64_t *set, int w, uint64_t v)
{
	memmove(set + 1, set, (size_t)w * sizeof(*set));
	set[0] = v;
}

int tail_table_get(struct tail_table *t, const uint8_t id[16])
{
	uint64_t d = digest(id), *set;
	int w = table_find(t, d, &set);
	uint64_t v;

	if (w < 0)
		return -1;
	v = set[w];
	to_front(set, w, v);
	return (int)(v & 1);
}

bool tail_table_put(struct tail_table *t, const uint8_t id[16], bool keep)
{
	uint64_t d = digest(id), *set, v = (d & ~3ull) | 2 | keep;
	int w = table_find(t, d, &set);
	bool evicted = false;

	if (w < 0) {
		w = TABLE_WAYS - 1;
		evicted = set[w] != 0;
	}
	to_front(set, w, v);
	return evicted;
}

struct tail_sampler {
	struct tail_config cfg;
	struct tail_table *table;
	struct tail_stats st;
};

struct tail_sampler *tail_sampler_new(const struct tail_config *c, uint32_t entries)
{
	struct tail_sampler *ts = calloc(1, sizeof(*ts));

	if (!ts)
		return NULL;
	ts->cfg = *c;
	ts->table = tail_table_new(entries);
	if (!ts->table) {
		free(ts);
		return NULL;
	}
	return ts;
}

void tail_sampler_free(struct tail_sampler *ts)
{
	if (!ts)
		return;
	tail_table_free(ts->table);
	free(ts);
}

const struct tail_config *tail_sampler_config(const struct tail_sampler *ts)
{
	return &ts->cfg;
}

bool tail_decided(struct tail_sampler *ts, const uint8_t id[16])
{
	return tail_table_get(ts->table, id) >= 0;
}

bool tail_decide(struct tail_sampler *ts, const struct span *const *spans, size_t n,
		 const uint8_t id[16], bool lost_parent, enum tail_when when)
{
	int prev = tail_table_get(ts->table, id);
	enum tail_verdict v;

	if (prev >= 0) {
		if (prev) {
			ts->st.late_kept++;
		} else {
			ts->st.late_dropped++;
			ts->st.dropped_spans += n;
		}
		return prev;
	}
	if (lost_parent)
		ts->st.misses++;
	if (when == TAIL_EARLY_FULL)
		ts->st.early_full++;
	else if (when == TAIL_EARLY_WAIT)
		ts->st.early_wait++;
	v = tail_policy(&ts->cfg, spans, n, id);
	switch (v) {
	case TAIL_KEEP_ERROR:
		ts->st.kept_error++;
		break;
	case TAIL_KEEP_SLOW:
		ts->st.kept_slow++;
		break;
	case TAIL_KEEP_ROUTE:
		ts->st.kept_route++;
		break;
	case TAIL_KEEP_RATIO:
		ts->st.kept_ratio++;
		break;
	default:
		ts->st.dropped++;
		ts->st.dropped_spans += n;
		break;
	}
	if (tail_table_put(ts->table, id, v != TAIL_DROP))
		ts->st.evicted++;
	return v != TAIL_DROP;
}

const struct tail_stats *tail_sampler_stats(const struct tail_sampler *ts)
{
	return &ts->st;
}

void tail_print_counters(const struct tail_sampler *ts, FILE *f)
{
	const struct tail_stats *s;

	if (!ts)
		return;
	s = &ts->st;
	log_to(f, KLOG_INFO, "tail: kept_error=%llu kept_slow=%llu kept_route=%llu kept_ratio=%llu "
	       "dropped=%llu dropped_spans=%llu early_full=%llu early_wait=%llu late_kept=%llu "
	       "late_dropped=%llu misses=%llu evicted=%llu",
	       (unsigned long long)s->kept_error, (unsigned long long)s->kept_slow,
	       (unsigned long long)s->kept_route, (unsigned long long)s->kept_ratio,
	       (unsigned long long)s->dropped, (unsigned long long)s->dropped_spans,
	       (unsigned long long)s->early_full, (unsigned long long)s->early_wait,
	       (unsigned long long)s->late_kept, (unsigned long long)s->late_dropped,
	       (unsigned long long)s->misses, (unsigned long long)s->evicted);
}
