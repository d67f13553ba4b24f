// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "trace.h"

/* Longest a trace due for export waits, past its linger, for room at the
 * exporters (trace_flush). */
#define HOLD_MAX_NS	(2 * 1000000000ull)

enum { SLOT_FREE, SLOT_FILLING, SLOT_WAITING, SLOT_BATCHED };

/* Indices over waiting spans. */
enum {
	IDX_PAIR_SERVER,	/* server spans not yet claimed by a client span */
	IDX_PAIR_CLIENT,	/* client spans not yet joined by a server span */
	IDX_SELF,		/* server spans, by (pid, conn, request number) */
	IDX_NEST_WAIT,		/* client spans waiting for their server span */
	IDX_SPAN_ID,		/* every waiting span, by its span id */
	IDX_ID_WAIT,		/* spans whose parent, named by id, has not come */
	IDX_MAX,
};

struct slot {
	uint8_t state;
	uint8_t in_idx;		/* bit per index the slot is chained in */
	bool held;		/* at a root: was due, waited for exporter room */
	int32_t parent;		/* linked parent slot, or -1 */
	int32_t uf;		/* union-find parent */
	int32_t mnext;		/* next member of the component */
	int32_t mtail;		/* at a root: last member */
	uint64_t last_ns;	/* at a root: latest submit in the component */
	uint64_t first_ns;	/* at a root: earliest submit in the component */
};

struct trace_buf {
	struct span *spans;
	struct slot *slots;
	int32_t *buckets[IDX_MAX];
	uint32_t icount[IDX_MAX];	/* slots chained in each index */
	/* Per index and slot: the next slot in its chain (inext[0] is also the
	 * free list) and the hash it is chained under. Kept apart from the
	 * slots, 4 and 8 bytes a slot, so that walking a chain reads a small
	 * hot array instead of a cold slot per link. */
	int32_t *inext[IDX_MAX];
	uint64_t *ikey[IDX_MAX];
	uint32_t mask;
	int32_t free_slot;
	uint32_t max;
	uint64_t linger_ns;
	bool pairing;
	const struct sampler *sampler;
	struct tail_sampler *tail;
	uint64_t wait_ns;		/* tail: longest wait for a decision */
	const struct span **out;	/* scratch for one trace */
	int32_t *stack;			/* scratch for one trace */
	int32_t *fifo;			/* slots in submit order, for early flushes */
	uint32_t fifo_head, fifo_len;
	const struct span **batch;	/* traces exported, not yet sent to batch exporters */
	int32_t *batch_slots;
	uint32_t nbatch;
	struct exporter *exp[TRACE_MAX_EXPORTERS];
	int nexp;
	struct trace_stats st;
};

struct trace_buf *trace_buf_new(uint32_t max, uint64_t linger_ns, bool pairing)
{
	struct trace_buf *t = calloc(1, sizeof(*t));
	uint32_t n = 1;

	if (!t || !max)
		goto fail;
	while (n < max)
		n <<= 1;
	t->mask = n - 1;
	t->spans = calloc(max, sizeof(*t->spans));
	t->slots = calloc(max, sizeof(*t->slots));
	t->out = calloc(max, sizeof(*t->out));
	t->stack = calloc(max, sizeof(*t->stack));
	t->fifo = calloc(max, sizeof(*t->fifo));
	t->batch = calloc(max, sizeof(*t->batch));
	t->batch_slots = calloc(max, sizeof(*t->batch_slots));
	if (!t->spans || !t->slots || !t->out || !t->stack || !t->fifo || !t->batch ||
	    !t->batch_slots)
		goto fail;
	for (int i = 0; i < IDX_MAX; i++) {
		t->buckets[i] = malloc(n * sizeof(int32_t));
		t->inext[i] = calloc(max, sizeof(int32_t));
		t->ikey[i] = calloc(max, sizeof(uint64_t));
		if (!t->buckets[i] || !t->inext[i] || !t->ikey[i])
			goto fail;
		memset(t->buckets[i], 0xff, n * sizeof(int32_t));
	}
	for (uint32_t i = 0; i < max; i++)
		t->inext[0][i] = i + 1 < max ? (int32_t)i + 1 : -1;
	t->max = max;
	t->linger_ns = linger_ns;
	t->pairing = pairing;
	return t;
fail:
	trace_buf_free(t);
	return NULL;
}

void trace_buf_free(struct trace_buf *t)
{
	if (!t)
		return;
	for (int i = 0; i < IDX_MAX; i++) {
		free(t->buckets[i]);
		free(t->inext[i]);
		free(t->ikey[i]);
	}
	free(t->spans);
	free(t->slots);
	free(t->out);
	free(t->stack);
	free(t->fifo);
	free(t->batch);
	free(t->batch_slots);
	free(t);
}

int trace_add_exporter(struct trace_buf *t, struct exporter *e)
{
	if (t->nexp >= TRACE_MAX_EXPORTERS)
		return -1;
	t->exp[t->nexp++] = e;
	return 0;
}

void trace_set_sampler(struct trace_buf *t, const struct sampler *s)
{
	t->sampler = s;
}

void trace_set_tail(struct trace_buf *t, struct tail_sampler *ts)
{
	t->tail = ts;
	t->wait_ns = 0;
	if (ts) {
		t->wait_ns = tail_sampler_config(ts)->wait_ns;
		if (t->wait_ns < t->linger_ns)
			t->wait_ns = t->linger_ns;
	}
}

struct tail_sampler *trace_tail(const struct trace_buf *t)
{
	return t->tail;
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;	/* FNV-1a */
	return h;
}

/* Both ends of a connection and the request number, seen from the client. */
static uint64_t pair_key(const uint8_t *caddr, uint16_t cport, const uint8_t *saddr,
			 uint16_t sport, uint32_t seq)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = mix(h, caddr, 16);
	h = mix(h, &cport, 2);
	h = mix(h, saddr, 16);
	h = mix(h, &sport, 2);
	return mix(h, &seq, 4);
}

static uint64_t self_key(uint32_t pid, uint64_t conn, uint32_t seq)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = mix(h, &pid, 4);
	h = mix(h, &conn, 8);
	return mix(h, &seq, 4);
}

static void idx_add(struct trace_buf *t, int idx, int32_t i, uint64_t key)
{
	int32_t *b = &t->buckets[idx][key & t->mask];

	t->ikey[idx][i] = key;
	t->inext[idx][i] = *b;
	t->slots[i].in_idx |= 1 << idx;
	t->icount[idx]++;
	*b = i;
}

static void idx_del(struct trace_buf *t, int idx, int32_t i)
{
	int32_t *pp;

	if (!(t->slots[i].in_idx & (1 << idx)))
		return;
	pp = &t->buckets[idx][t->ikey[idx][i] & t->mask];
	while (*pp >= 0 && *pp != i)
		pp = &t->inext[idx][*pp];
	if (*pp == i)
		*pp = t->inext[idx][i];
	t->slots[i].in_idx &= ~(1 << idx);
	t->icount[idx]--;
}

/* The first slot chained under key, or -1. An empty index is not read:
 * its buckets are cold (a cache miss each), and most runs leave some
 * indexes empty (no client spans, no parents named by id). */
static int32_t idx_first(const struct trace_buf *t, int idx, uint64_t key)
{
	return t->icount[idx] ? t->buckets[idx][key & t->mask] : -1;
}

static int32_t find(struct trace_buf *t, int32_t i)
{
	while (t->slots[i].uf != i) {
		t->slots[i].uf = t->slots[t->slots[i].uf].uf;	/* path halving */
		i = t->slots[i].uf;
	}
	return i;
}

/* Make parent the parent of child: refused when child has one already,
 * when the parent did not start first, or when it would close a loop. */
static bool link_spans(struct trace_buf *t, int32_t child, int32_t parent)
{
	struct slot *c = &t->slots[child];
	int32_t ra, rb, p = parent;

	if (c->parent >= 0 || child == parent)
		return false;
	if (t->spans[parent].start_ns > t->spans[child].start_ns) {
		t->st.link_refused++;
		return false;
	}
	for (int depth = 0; p >= 0 && depth < 256; depth++, p = t->slots[p].parent) {
		if (p == child) {
			t->st.link_refused++;
			return false;
		}
	}
	c->parent = parent;
	ra = find(t, parent);
	rb = find(t, child);
	if (ra != rb) {
		t->slots[rb].uf = ra;
		t->slots[t->slots[ra].mtail].mnext = rb;
		t->slots[ra].mtail = t->slots[rb].mtail;
		if (t->slots[rb].last_ns > t->slots[ra].last_ns)
			t->slots[ra].last_ns = t->slots[rb].last_ns;
		if (t->slots[rb].first_ns < t->slots[ra].first_ns)
			t->slots[ra].first_ns = t->slots[rb].first_ns;
	}
	return true;
}

static bool same_pair(const struct span *srv, const struct span *cli)
{
	return srv->seq == cli->seq && srv->peer_port == cli->local_port &&
	       srv->local_port == cli->peer_port &&
	       memcmp(srv->peer_addr, cli->local_addr, 16) == 0 &&
	       memcmp(srv->local_addr, cli->peer_addr, 16) == 0;
}

static uint64_t id_key(const uint8_t id[8])
{
	return mix(0xcbf29ce484222325ull, id, 8);
}

/* Parents named by span id (kernel-assigned context on both ends). */
static void link_by_id(struct trace_buf *t, int32_t i)
{
	struct span *s = &t->spans[i];
	uint64_t k;
	int32_t j, next;

	if (s->parent_by_id) {
		k = id_key(s->parent_span_id);
		for (j = idx_first(t, IDX_SPAN_ID, k); j >= 0;
		     j = t->inext[IDX_SPAN_ID][j])
			if (memcmp(t->spans[j].span_id, s->parent_span_id, 8) == 0)
				break;
		if (j >= 0)
			link_spans(t, i, j);
		else
			idx_add(t, IDX_ID_WAIT, i, k);
	}
	k = id_key(s->span_id);
	for (j = idx_first(t, IDX_ID_WAIT, k); j >= 0; j = next) {
		next = t->inext[IDX_ID_WAIT][j];
		if (memcmp(t->spans[j].parent_span_id, s->span_id, 8))
			continue;
		idx_del(t, IDX_ID_WAIT, j);
		link_spans(t, j, i);
	}
	idx_add(t, IDX_SPAN_ID, i, k);
}

static void link_new(struct trace_buf *t, int32_t i)
{
	struct span *s = &t->spans[i];
	uint64_t k;
	int32_t j, next;

	link_by_id(t, i);

	if (s->kind == SPAN_KIND_SERVER) {
		/* A propagated parent is the caller's own word: keep it. */
		if (t->pairing && s->seq && !s->remote_parent) {
			k = pair_key(s->peer_addr, s->peer_port, s->local_addr, s->local_port, s->seq);
			for (j = idx_first(t, IDX_PAIR_CLIENT, k); j >= 0;
			     j = t->inext[IDX_PAIR_CLIENT][j])
				if (t->ikey[IDX_PAIR_CLIENT][j] == k && same_pair(s, &t->spans[j]))
					break;
			if (j >= 0) {
				idx_del(t, IDX_PAIR_CLIENT, j);
				if (link_spans(t, i, j))
					t->st.paired++;
			} else {
				idx_add(t, IDX_PAIR_SERVER, i, k);
			}
		}
		/* Client calls this request's thread made while serving it. */
		k = self_key(s->pid, s->conn_id, s->req_no);
		for (j = idx_first(t, IDX_NEST_WAIT, k); j >= 0; j = next) {
			struct span *c = &t->spans[j];

			next = t->inext[IDX_NEST_WAIT][j];
			if (t->ikey[IDX_NEST_WAIT][j] != k || c->pid != s->pid ||
			    c->nest_conn != s->conn_id || c->nest_seq != s->req_no)
				continue;
			idx_del(t, IDX_NEST_WAIT, j);
			if (link_spans(t, j, i))
				t->st.nested++;
		}
		idx_add(t, IDX_SELF, i, k);
		return;
	}
	if (s->kind != SPAN_KIND_CLIENT)
		return;
	if (t->pairing && s->seq) {
		k = pair_key(s->local_addr, s->local_port, s->peer_addr, s->peer_port, s->seq);
		for (j = idx_first(t, IDX_PAIR_SERVER, k); j >= 0;
		     j = t->inext[IDX_PAIR_SERVER][j])
			if (t->ikey[IDX_PAIR_SERVER][j] == k && same_pair(&t->spans[j], s))
				break;
		if (j >= 0) {
			idx_del(t, IDX_PAIR_SERVER, j);
			if (link_spans(t, j, i))
				t->st.paired++;
		} else {
			idx_add(t, IDX_PAIR_CLIENT, i, k);
		}
	}
	if (s->nest_conn) {
		k = self_key(s->pid, s->nest_conn, s->nest_seq);
		for (j = idx_first(t, IDX_SELF, k); j >= 0; j = t->inext[IDX_SELF][j]) {
			struct span *p = &t->spans[j];

			if (t->ikey[IDX_SELF][j] == k && p->pid == s->pid &&
			    p->conn_id == s->nest_conn && p->req_no == s->nest_seq)
				break;
		}
		if (j >= 0) {
			if (link_spans(t, i, j))
				t->st.nested++;
		} else {
			idx_add(t, IDX_NEST_WAIT, i, k);
		}
	}
}

/* A client span whose parent, a span of this host named by id (the server
 * request its thread was serving), is not in the buffer. */
static bool parent_gone(const struct trace_buf *t, int32_t i)
{
	return t->spans[i].kind == SPAN_KIND_CLIENT && t->spans[i].parent_by_id &&
	       (t->slots[i].in_idx & (1 << IDX_ID_WAIT));
}

/* Whether the component rooted at r still expects its parent span: a client
 * call made by a thread while serving a request that has not finished (by
 * nesting, or by the id the kernel gave it, unless that trace is decided). */
static bool expecting_parent(struct trace_buf *t, int32_t r)
{
	for (int32_t i = r; i >= 0; i = t->slots[i].mnext) {
		if (t->slots[i].in_idx & (1 << IDX_NEST_WAIT))
			return true;
		if (parent_gone(t, i) && !tail_decided(t->tail, t->spans[i].trace_id))
			return true;
	}
	return false;
}

static void free_component(struct trace_buf *t, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++) {
		int32_t i = t->stack[k];

		for (int idx = 0; idx < IDX_MAX; idx++)
			idx_del(t, idx, i);
		t->slots[i].state = SLOT_FREE;
		t->inext[0][i] = t->free_slot;
		t->free_slot = i;
	}
}

/* Export the component rooted at r, ids taken from its root span: the head
 * sampler decides, then tail sampling over the spans it kept. Returns how
 * many slots it took out of waiting (freed, or in the batch). */
static uint32_t export_component(struct trace_buf *t, int32_t r, enum tail_when when)
{
	uint32_t n = 0;

	int32_t root = r;
	bool keep, lost = false;

	for (int32_t i = r; i >= 0; i = t->slots[i].mnext)
		t->stack[n++] = i;
	for (int depth = 0; t->slots[root].parent >= 0 && depth < 256; depth++)
		root = t->slots[root].parent;
	keep = !t->sampler || sampler_keep(t->sampler, t->spans[root].trace_id,
					   t->spans[root].remote_parent,
					   t->spans[root].trace_flags);
	if (!keep) {
		t->st.sampled_out += n;
		free_component(t, n);
		return n;
	}
	if (t->tail) {
		for (uint32_t k = 0; k < n; k++) {
			t->out[k] = &t->spans[t->stack[k]];
			lost |= parent_gone(t, t->stack[k]);
		}
		if (!tail_decide(t->tail, t->out, n, t->spans[root].trace_id, lost, when)) {
			free_component(t, n);
			return n;
		}
	}
	for (uint32_t k = 0; k < n; k++) {
		int32_t i = t->stack[k], top = i;
		struct span *s = &t->spans[i];

		for (int depth = 0; t->slots[top].parent >= 0 && depth < 256; depth++)
			top = t->slots[top].parent;
		if (top != i)
			memcpy(s->trace_id, t->spans[top].trace_id, sizeof(s->trace_id));
		if (t->slots[i].parent >= 0) {
			const struct span *p = &t->spans[t->slots[i].parent];

			memcpy(s->parent_span_id, p->span_id, sizeof(s->parent_span_id));
		}
		s->trace_flags = t->spans[top].trace_flags | 1;	/* kept: sampled */
		t->out[k] = s;
	}
	for (int e = 0; e < t->nexp; e++) {
		if (!t->exp[e]->per_trace)
			continue;
		if (t->exp[e]->export(t->exp[e], t->out, n) == 0)
			t->exp[e]->spans_exported += n;
		else
			t->exp[e]->export_errors++;
	}
	t->st.spans_out += n;
	t->st.traces_out++;
	/* The spans wait in the batch until batch exporters have them. */
	for (uint32_t k = 0; k < n; k++) {
		int32_t i = t->stack[k];

		for (int idx = 0; idx < IDX_MAX; idx++)
			idx_del(t, idx, i);
		t->slots[i].state = SLOT_BATCHED;
		t->batch[t->nbatch] = t->out[k];
		t->batch_slots[t->nbatch++] = i;
	}
	return n;
}

/* Hand the batch to the exporters that take batches, then free its slots. */
static void send_batch(struct trace_buf *t)
{
	if (!t->nbatch)
		return;
	for (int e = 0; e < t->nexp; e++) {
		if (t->exp[e]->per_trace)
			continue;
		if (t->exp[e]->export(t->exp[e], t->batch, t->nbatch) == 0)
			t->exp[e]->spans_exported += t->nbatch;
		else
			t->exp[e]->export_errors++;
	}
	for (uint32_t k = 0; k < t->nbatch; k++) {
		int32_t i = t->batch_slots[k];

		t->slots[i].state = SLOT_FREE;
		t->inext[0][i] = t->free_slot;
		t->free_slot = i;
	}
	t->nbatch = 0;
}

struct span *trace_span_alloc(struct trace_buf *t)
{
	int32_t i;

	/* Full: send the traces of the oldest waiting spans, a sixteenth of
	 * the buffer at a time, so that a buffer kept full by the request rate
	 * is exported in batches, not in one call per span. Each slot enters
	 * the FIFO once per use, so this is O(1) amortized. */
	if (t->free_slot < 0)
		send_batch(t);
	if (t->free_slot < 0) {
		uint32_t want = t->max / 16 ? t->max / 16 : 1, got = 0;

		while (got < want && t->fifo_len) {
			int32_t k = t->fifo[t->fifo_head];

			t->fifo_head = (t->fifo_head + 1) % t->max;
			t->fifo_len--;
			if (t->slots[k].state == SLOT_WAITING) {
				got += export_component(t, find(t, k), TAIL_EARLY_FULL);
				t->st.flushed_early++;
			}
		}
		send_batch(t);
	}
	i = t->free_slot;
	if (i < 0) {
		t->st.dropped++;
		return NULL;
	}
	t->free_slot = t->inext[0][i];
	memset(&t->slots[i], 0, sizeof(t->slots[i]));
	t->slots[i].state = SLOT_FILLING;
	return &t->spans[i];
}

void trace_span_submit(struct trace_buf *t, struct span *s, uint64_t now_ns)
{
	int32_t i = s - t->spans;
	struct slot *sl = &t->slots[i];

	t->st.spans_in++;
	sl->state = SLOT_WAITING;
	sl->parent = -1;
	sl->uf = i;
	sl->mnext = -1;
	sl->mtail = i;
	sl->last_ns = now_ns;
	sl->first_ns = now_ns;
	/* At most max slots are waiting, so the FIFO never overflows; stale
	 * entries (already exported) are skipped when popped. */
	if (t->fifo_len == t->max) {
		t->fifo_head = (t->fifo_head + 1) % t->max;
		t->fifo_len--;
	}
	t->fifo[(t->fifo_head + t->fifo_len++) % t->max] = i;
	link_new(t, i);
	/* New activity keeps the whole trace waiting. */
	t->slots[find(t, i)].last_ns = now_ns;
}

/* Spans the batch exporters take now without dropping (SIZE_MAX: none
 * says). Asked at the start of a sweep, when the batch is empty: every
 * path that fills it sends it before returning. */
static size_t batch_room(const struct trace_buf *t)
{
	size_t room = SIZE_MAX;

	for (int e = 0; e < t->nexp; e++) {
		struct exporter *x = t->exp[e];

		if (!x->per_trace && x->room) {
			size_t r = x->room(x);

			if (r < room)
				room = r;
		}
	}
	return room;
}

static uint32_t component_size(const struct trace_buf *t, int32_t r)
{
	uint32_t n = 0;

	for (int32_t i = r; i >= 0; i = t->slots[i].mnext)
		n++;
	return n;
}

void trace_flush(struct trace_buf *t, uint64_t now_ns, bool all)
{
	/* A sweep hands the exporters what they have room for: when a busy
	 * spell ends, the whole buffer falls due at once, and an exporter
	 * queue smaller than the buffer would drop the rest. Those traces
	 * wait for a later sweep, at most HOLD_MAX_NS past their due time. */
	size_t room = all ? SIZE_MAX : batch_room(t);

	for (uint32_t i = 0; i < t->max; i++) {
		struct slot *sl = &t->slots[i];
		enum tail_when when;
		uint32_t n;
		bool quiet;

		if (sl->state != SLOT_WAITING || sl->uf != (int32_t)i)
			continue;
		quiet = now_ns - sl->last_ns >= t->linger_ns;
		if (all)
			when = TAIL_AT_EXIT;
		else if (!t->tail && quiet)
			when = TAIL_ON_TIME;
		else if (!t->tail)
			continue;
		else if (quiet && !expecting_parent(t, i))
			when = TAIL_ON_TIME;
		/* Tail sampling judges whole traces: one whose parent span is
		 * still to come waits for it, this long. */
		else if (now_ns - sl->first_ns >= t->wait_ns)
			when = TAIL_EARLY_WAIT;
		else
			continue;
		if (room != SIZE_MAX) {
			n = component_size(t, i);
			if (n > room && now_ns - sl->last_ns < t->linger_ns + HOLD_MAX_NS) {
				if (!sl->held)
					t->st.held++;
				sl->held = true;
				continue;
			}
			room = n < room ? room - n : 0;
		}
		export_component(t, i, when);
	}
	send_batch(t);
}

const struct trace_stats *trace_buf_stats(const struct trace_buf *t)
{
	return &t->st;
}

void trace_buf_trim(struct trace_buf *t)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), base = (uintptr_t)t->spans;
	size_t sz = sizeof(*t->spans);
	uint32_t busy = 0, run = 0;

	for (uint32_t i = 0; i < t->max; i++)
		busy += t->slots[i].state != SLOT_FREE;
	/* A busy pool would fault the pages straight back in. */
	if (busy > t->max / 4)
		return;
	/* Whole pages under runs of free slots go back to the kernel; they
	 * read as zeros when reused, and span_init() clears what it needs. */
	for (uint32_t i = 0; i <= t->max; i++) {
		uintptr_t lo, hi;

		if (i < t->max && t->slots[i].state == SLOT_FREE)
			continue;
		lo = (base + run * sz + page - 1) & ~(page - 1);
		hi = (base + i * sz) & ~(page - 1);
		if (hi > lo)
			madvise((void *)lo, hi - lo, MADV_DONTNEED);
		run = i + 1;
	}
}
