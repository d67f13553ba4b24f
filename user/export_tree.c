// SPDX-License-Identifier: Apache-2.0
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "proc.h"

#define TREE_MAX_SPANS	1024
#define TREE_ROOT	TREE_MAX_SPANS	/* virtual parent of all roots */

#define TREE_BOLD	"\033[1m"
#define TREE_RED	"\033[1;31m"
#define TREE_RESET	"\033[0m"

struct tree_key {
	uint64_t key;
	uint32_t idx;
};

struct tree_exporter {
	struct exporter base;
	FILE *out;
	bool color;
	struct tree_key keys[TREE_MAX_SPANS];	/* by start time */
	struct tree_key ids[TREE_MAX_SPANS];	/* by span id */
	int parent[TREE_MAX_SPANS + 1];
	int first_child[TREE_MAX_SPANS + 1];
	int last_child[TREE_MAX_SPANS + 1];
	int next_sibling[TREE_MAX_SPANS + 1];
	int path[TREE_MAX_SPANS];
	uint8_t state[TREE_MAX_SPANS];
	bool last[TREE_MAX_SPANS];		/* per depth: last sibling */
};

static int tree_key_cmp(const void *a, const void *b)
{
	const struct tree_key *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static uint64_t tree_id64(const uint8_t *id)
{
	uint64_t v;

	memcpy(&v, id, sizeof(v));
	return v;
}

/* Captured text must not drive the terminal: C0, DEL and C1 become '?'. */
static void tree_put_text(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			fputc('?', f);
		} else if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) {
			fputc('?', f);
			i++;
		} else {
			fputc(p[i], f);
		}
	}
}

static void tree_put_cstr(FILE *f, const char *s, size_t max)
{
	tree_put_text(f, s, strnlen(s, max));
}

static const char *tree_attr_str(const struct span *s, const struct span_attr *a,
				 size_t *len)
{
	size_t off = a->v.s.off < SPAN_STRBUF ? a->v.s.off : SPAN_STRBUF;

	*len = a->v.s.len < SPAN_STRBUF - off ? a->v.s.len : SPAN_STRBUF - off;
	return s->strbuf + off;
}

static void tree_fmt_dur(char *buf, size_t size, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, size, "%" PRIu64 " ns", ns);
	else if (ns < 999995)
		snprintf(buf, size, "%.2f µs", (double)ns / 1e3);
	else if (ns < 999995000)
		snprintf(buf, size, "%.2f ms", (double)ns / 1e6);
	else
		snprintf(buf, size, "%.2f s", (double)ns / 1e9);
}

static const char *tree_kind(uint8_t kind)
{
	switch (kind) {
	case SPAN_KIND_INTERNAL:
		return "INTERNAL";
	case SPAN_KIND_SERVER:
		return "SERVER";
	case SPAN_KIND_CLIENT:
		return "CLIENT";
	}
	return "SPAN";
}

static void tree_line(struct tree_exporter *t, const struct span *s, int depth,
		      uint64_t t0)
{
	const struct span_attr *a;
	const struct proc_info *pi;
	FILE *f = t->out;
	const char *str;
	char dur[32];
	size_t len;
	bool v6;

	for (int l = 0; l < depth; l++)
		fputs(t->last[l] ? "   " : "│  ", f);
	fputs(t->last[depth] ? "└─ " : "├─ ", f);

	fprintf(f, "%s ", tree_kind(s->kind));
	tree_put_cstr(f, s->name, sizeof(s->name));
	pi = proc_info_get(s->pid);
	fputs("  ", f);
	tree_put_cstr(f, pi->service_name, sizeof(pi->service_name));
	tree_fmt_dur(dur, sizeof(dur), s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0);
	fprintf(f, "[%" PRIu32 "]  %s  @+%.2f ms", s->pid, dur,
		(double)(s->start_ns > t0 ? s->start_ns - t0 : 0) / 1e6);

	a = span_attr_find(s, "http.response.status_code");
	if (a && a->type == SPAN_ATTR_INT) {
		fprintf(f, "  %" PRId64, a->v.i);
	} else if (a && a->type == SPAN_ATTR_STR) {
		str = tree_attr_str(s, a, &len);
		fputs("  ", f);
		tree_put_text(f, str, len);
	}
	if (s->status == SPAN_STATUS_ERROR)
		fputs(t->color ? "  " TREE_RED "ERROR" TREE_RESET : "  ERROR", f);

	a = span_attr_find(s, "server.address");
	if (s->kind == SPAN_KIND_CLIENT && a && a->type == SPAN_ATTR_STR) {
		str = tree_attr_str(s, a, &len);
		v6 = memchr(str, ':', len) != NULL;
		fputs(v6 ? "  -> [" : "  -> ", f);
		tree_put_text(f, str, len);
		if (v6)
			fputc(']', f);
		a = span_attr_find(s, "server.port");
		if (a && a->type == SPAN_ATTR_INT)
			fprintf(f, ":%" PRId64, a->v.i);
	}
	fputc('\n', f);
}

/* Link each span to its parent within the set; a parent that is missing, or
 * that would close a cycle, makes the span a root. */
static void tree_link(struct tree_exporter *t, const struct span *const *spans, int m)
{
	static const uint8_t zero[8];

	for (int i = 0; i < m; i++) {
		t->ids[i].key = tree_id64(spans[i]->span_id);
		t->ids[i].idx = i;
	}
	qsort(t->ids, m, sizeof(t->ids[0]), tree_key_cmp);

	for (int i = 0; i < m; i++) {
		const struct span *s = spans[i];
		uint64_t want = tree_id64(s->parent_span_id);
		int lo = 0, hi = m;

		t->parent[i] = -1;
		t->state[i] = 0;
		if (!memcmp(s->parent_span_id, zero, sizeof(zero)))
			continue;
		while (lo < hi) {
			int mid = lo + (hi - lo) / 2;

			if (t->ids[mid].key < want)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < m && t->ids[lo].key == want && (int)t->ids[lo].idx != i)
			t->parent[i] = t->ids[lo].idx;
	}

	for (int k = 0; k < m; k++) {
		int v = t->keys[k].idx, len = 0;

		while (v >= 0 && !t->state[v]) {
			t->state[v] = 1;
			t->path[len++] = v;
			v = t->parent[v];
		}
		if (v >= 0 && t->state[v] == 1)
			t->parent[t->path[len - 1]] = -1;
		for (int i = 0; i < len; i++)
			t->state[t->path[i]] = 2;
	}

	for (int i = 0; i <= TREE_ROOT; i++)
		t->first_child[i] = t->last_child[i] = t->next_sibling[i] = -1;
	for (int k = 0; k < m; k++) {
		int v = t->keys[k].idx;
		int p = t->parent[v] < 0 ? TREE_ROOT : t->parent[v];

		if (t->last_child[p] < 0)
			t->first_child[p] = v;
		else
			t->next_sibling[t->last_child[p]] = v;
		t->last_child[p] = v;
	}
}

static int tree_export(struct exporter *e, const struct span *const *spans, size_t n)
{
	struct tree_exporter *t = (struct tree_exporter *)e;
	int m = n < TREE_MAX_SPANS ? (int)n : TREE_MAX_SPANS;
	uint64_t t0 = UINT64_MAX, t1 = 0;
	FILE *f = t->out;
	char dur[32];
	int v, depth = 0;

	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (spans[i]->start_ns < t0)
			t0 = spans[i]->start_ns;
		if (spans[i]->end_ns > t1)
			t1 = spans[i]->end_ns;
	}
	for (int i = 0; i < m; i++) {
		t->keys[i].key = spans[i]->start_ns;
		t->keys[i].idx = i;
	}
	qsort(t->keys, m, sizeof(t->keys[0]), tree_key_cmp);
	tree_link(t, spans, m);

	if (t->color)
		fputs(TREE_BOLD, f);
	fputs("trace ", f);
	for (int i = 0; i < 16; i++)
		fprintf(f, "%02x", spans[0]->trace_id[i]);
	tree_fmt_dur(dur, sizeof(dur), t1 > t0 ? t1 - t0 : 0);
	fprintf(f, "  (%zu span%s, %s)%s\n", n, n == 1 ? "" : "s", dur,
		t->color ? TREE_RESET : "");

	v = t->first_child[TREE_ROOT];
	while (v >= 0) {
		t->last[depth] = t->next_sibling[v] < 0;
		tree_line(t, spans[v], depth, t0);
		if (t->first_child[v] >= 0) {
			v = t->first_child[v];
			depth++;
			continue;
		}
		while (v >= 0 && t->next_sibling[v] < 0) {
			v = t->parent[v];
			depth--;
		}
		if (v >= 0)
			v = t->next_sibling[v];
	}
	if (n > (size_t)m)
		fprintf(f, "   … %zu more spans left out\n", n - m);

	if (fflush(f) || ferror(f)) {
		clearerr(f);
		e->export_errors++;
		return -1;
	}
	e->spans_exported += m;
	return 0;
}

static int tree_flush(struct exporter *e)
{
	struct tree_exporter *t = (struct tree_exporter *)e;

	return fflush(t->out) ? -1 : 0;
}

static void tree_destroy(struct exporter *e)
{
	free(e);
}

struct exporter *tree_exporter_new(FILE *out, bool color)
{
	struct tree_exporter *t;

	if (!out)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->base.name = "tree";
	t->base.per_trace = true;
	t->base.export = tree_export;
	t->base.flush = tree_flush;
	t->base.destroy = tree_destroy;
	t->out = out;
	t->color = color;
	return &t->base;
}
