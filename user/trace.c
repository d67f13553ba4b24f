// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>

#include "trace.h"

/* Slot states: free, handed out by alloc, submitted and waiting. */
enum { SLOT_FREE, SLOT_FILLING, SLOT_WAITING };

struct group {			/* one trace being gathered */
	uint8_t trace_id[16];
	int32_t first;		/* span slots, linked through slot_next */
	int32_t hnext;		/* hash chain, or free list */
	int32_t prev, next;	/* age order: oldest first */
	uint64_t last_ns;
	uint32_t nspans;
	bool used;
};

struct trace_buf {
	struct span *spans;
	uint8_t *slot_state;
	int32_t *slot_next;
	int32_t free_span;
	struct group *groups;
	int32_t free_group;
	int32_t *buckets;
	uint32_t nbuckets;
	int32_t oldest, newest;
	uint32_t max;
	uint64_t linger_ns;
	const struct span **out;	/* scratch for one trace's spans */
	struct exporter *exp[TRACE_MAX_EXPORTERS];
	int nexp;
	struct trace_stats st;
};

struct trace_buf *trace_buf_new(uint32_t max, uint64_t linger_ns)
{
	struct trace_buf *t = calloc(1, sizeof(*t));

	if (!t || !max)
		goto fail;
	t->nbuckets = 1;
	while (t->nbuckets < max)
		t->nbuckets <<= 1;
	t->spans = calloc(max, sizeof(*t->spans));
	t->slot_state = calloc(max, 1);
	t->slot_next = calloc(max, sizeof(*t->slot_next));
	t->groups = calloc(max, sizeof(*t->groups));
	t->buckets = malloc(t->nbuckets * sizeof(*t->buckets));
	t->out = calloc(max, sizeof(*t->out));
	if (!t->spans || !t->slot_state || !t->slot_next || !t->groups ||
	    !t->buckets || !t->out)
		goto fail;
	memset(t->buckets, 0xff, t->nbuckets * sizeof(*t->buckets));
	for (uint32_t i = 0; i < max; i++) {
		t->slot_next[i] = i + 1 < max ? (int32_t)i + 1 : -1;
		t->groups[i].hnext = i + 1 < max ? (int32_t)i + 1 : -1;
	}
	t->max = max;
	t->oldest = t->newest = -1;
	t->linger_ns = linger_ns;
	return t;
fail:
	trace_buf_free(t);
	return NULL;
}

void trace_buf_free(struct trace_buf *t)
{
	if (!t)
		return;
	free(t->spans);
	free(t->slot_state);
	free(t->slot_next);
	free(t->groups);
	free(t->buckets);
	free(t->out);
	free(t);
}

int trace_add_exporter(struct trace_buf *t, struct exporter *e)
{
	if (t->nexp >= TRACE_MAX_EXPORTERS)
		return -1;
	t->exp[t->nexp++] = e;
	return 0;
}

static uint32_t bucket(const struct trace_buf *t, const uint8_t id[16])
{
	uint64_t h;

	memcpy(&h, id + 8, sizeof(h));
	return (uint32_t)((h * 0x9e3779b97f4a7c15ull) >> 32) & (t->nbuckets - 1);
}

static void export_group(struct trace_buf *t, int32_t gi)
{
	struct group *g = &t->groups[gi];
	uint32_t n = 0;
	int32_t *pp;

	for (int32_t i = g->first; i >= 0; i = t->slot_next[i])
		t->out[n++] = &t->spans[i];
	for (int e = 0; e < t->nexp; e++) {
		if (t->exp[e]->export(t->exp[e], t->out, n) == 0)
			t->exp[e]->spans_exported += n;
		else
			t->exp[e]->export_errors++;
	}
	t->st.spans_out += n;
	t->st.traces_out++;
	/* Release the spans, then the group. */
	for (int32_t i = g->first, next; i >= 0; i = next) {
		next = t->slot_next[i];
		t->slot_state[i] = SLOT_FREE;
		t->slot_next[i] = t->free_span;
		t->free_span = i;
	}
	pp = &t->buckets[bucket(t, g->trace_id)];
	while (*pp >= 0 && *pp != gi)
		pp = &t->groups[*pp].hnext;
	if (*pp == gi)
		*pp = g->hnext;
	if (g->prev >= 0)
		t->groups[g->prev].next = g->next;
	else
		t->oldest = g->next;
	if (g->next >= 0)
		t->groups[g->next].prev = g->prev;
	else
		t->newest = g->prev;
	g->used = false;
	g->hnext = t->free_group;
	t->free_group = gi;
}

struct span *trace_span_alloc(struct trace_buf *t)
{
	int32_t i;

	if (t->free_span < 0 && t->oldest >= 0) {
		export_group(t, t->oldest);
		t->st.flushed_early++;
	}
	i = t->free_span;
	if (i < 0) {
		t->st.dropped++;
		return NULL;
	}
	t->free_span = t->slot_next[i];
	t->slot_state[i] = SLOT_FILLING;
	t->slot_next[i] = -1;
	return &t->spans[i];
}

void trace_span_submit(struct trace_buf *t, struct span *s, uint64_t now_ns)
{
	int32_t si = s - t->spans, gi;
	uint32_t b = bucket(t, s->trace_id);
	struct group *g;

	t->st.spans_in++;
	for (gi = t->buckets[b]; gi >= 0; gi = t->groups[gi].hnext)
		if (memcmp(t->groups[gi].trace_id, s->trace_id, 16) == 0)
			break;
	if (gi < 0) {
		/* There are as many groups as spans, so one is always free. */
		gi = t->free_group;
		g = &t->groups[gi];
		t->free_group = g->hnext;
		memcpy(g->trace_id, s->trace_id, 16);
		g->first = -1;
		g->nspans = 0;
		g->used = true;
		g->hnext = t->buckets[b];
		t->buckets[b] = gi;
		g->prev = t->newest;
		g->next = -1;
		if (t->newest >= 0)
			t->groups[t->newest].next = gi;
		else
			t->oldest = gi;
		t->newest = gi;
	}
	g = &t->groups[gi];
	t->slot_state[si] = SLOT_WAITING;
	t->slot_next[si] = g->first;
	g->first = si;
	g->nspans++;
	g->last_ns = now_ns;
}

void trace_flush(struct trace_buf *t, uint64_t now_ns, bool all)
{
	for (int32_t gi = t->oldest, next; gi >= 0; gi = next) {
		next = t->groups[gi].next;
		if (all || now_ns - t->groups[gi].last_ns >= t->linger_ns)
			export_group(t, gi);
	}
}

const struct trace_stats *trace_buf_stats(const struct trace_buf *t)
{
	return &t->st;
}
