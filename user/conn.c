// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "slab.h"

struct conn_table {
	struct slab slots;	/* mapped as connections come, trimmed when idle */
	int32_t *buckets;
	uint32_t nbuckets;	/* power of two */
	uint32_t max;
	uint32_t used;
	int32_t lru_head;	/* most recent */
	int32_t lru_tail;	/* least recent */
	conn_release_fn release;
	void *ctx;
	struct conn_stats st;
};

static uint32_t hash(uint64_t id, uint32_t pid)
{
	uint64_t h = (id ^ ((uint64_t)pid << 32)) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 32);
}

struct conn_table *conn_table_new(uint32_t max, conn_release_fn release, void *ctx)
{
	struct conn_table *t = calloc(1, sizeof(*t));

	if (!t || !max)
		goto fail;
	t->nbuckets = 1;
	while (t->nbuckets < max)
		t->nbuckets <<= 1;
	t->buckets = malloc(t->nbuckets * sizeof(*t->buckets));
	if (!t->buckets || slab_init(&t->slots, sizeof(struct conn), max))
		goto fail;
	memset(t->buckets, 0xff, t->nbuckets * sizeof(*t->buckets));
	t->max = max;
	t->lru_head = t->lru_tail = -1;
	t->release = release;
	t->ctx = ctx;
	return t;
fail:
	conn_table_free(t);
	return NULL;
}

void conn_table_free(struct conn_table *t)
{
	if (!t)
		return;
	slab_destroy(&t->slots);
	free(t->buckets);
	free(t);
}

static struct conn *slot(const struct conn_table *t, int32_t i)
{
	return slab_at(&t->slots, i);
}

static void lru_unlink(struct conn_table *t, struct conn *c)
{
	if (c->lprev >= 0)
		slot(t, c->lprev)->lnext = c->lnext;
	else
		t->lru_head = c->lnext;
	if (c->lnext >= 0)
		slot(t, c->lnext)->lprev = c->lprev;
	else
		t->lru_tail = c->lprev;
}

static void lru_push(struct conn_table *t, struct conn *c)
{
	int32_t i = c->slot;

	c->lprev = -1;
	c->lnext = t->lru_head;
	if (t->lru_head >= 0)
		slot(t, t->lru_head)->lprev = i;
	t->lru_head = i;
	if (t->lru_tail < 0)
		t->lru_tail = i;
}

struct conn *conn_lookup(struct conn_table *t, uint64_t id, uint32_t pid)
{
	int32_t i = t->buckets[hash(id, pid) & (t->nbuckets - 1)];

	while (i >= 0) {
		struct conn *c = slot(t, i);

		if (c->id == id && c->pid == pid)
			return c;
		i = c->hnext;
	}
	return NULL;
}

void conn_remove(struct conn_table *t, struct conn *c)
{
	int32_t i = c->slot, *pp;

	if (t->release)
		t->release(t->ctx, c);
	pp = &t->buckets[hash(c->id, c->pid) & (t->nbuckets - 1)];
	while (*pp >= 0 && *pp != i)
		pp = &slot(t, *pp)->hnext;
	if (*pp == i)
		*pp = c->hnext;
	lru_unlink(t, c);
	c->used = false;
	slab_put(&t->slots, i);
	t->used--;
	t->st.closed++;
}

struct conn *conn_get(struct conn_table *t, uint64_t id, uint32_t pid, uint64_t now_ns)
{
	struct conn *c = conn_lookup(t, id, pid);
	uint32_t b;
	int32_t i;

	if (c) {
		lru_unlink(t, c);
		lru_push(t, c);
		if (now_ns > c->last_ns)
			c->last_ns = now_ns;
		return c;
	}
	if (t->used >= t->max) {
		/* Full: the least recently used connection makes room. */
		conn_remove(t, slot(t, t->lru_tail));
		t->st.closed--;
		t->st.evicted_full++;
	}
	i = slab_alloc(&t->slots);
	if (i < 0) {
		t->st.no_memory++;
		return NULL;
	}
	c = slot(t, i);
	memset(c, 0, sizeof(*c));
	c->slot = i;
	c->id = id;
	c->pid = pid;
	c->last_ns = now_ns;
	b = hash(id, pid) & (t->nbuckets - 1);
	c->hnext = t->buckets[b];
	t->buckets[b] = i;
	lru_push(t, c);
	t->used++;
	t->st.opened++;
	return c;
}

uint32_t conn_sweep(struct conn_table *t, uint64_t now_ns, uint64_t idle_ns)
{
	uint32_t n = 0;

	while (t->lru_tail >= 0) {
		struct conn *c = slot(t, t->lru_tail);

		/* Events read after now_ns was taken are later than it: such
		 * a connection is not idle (the difference would wrap). */
		if (c->last_ns > now_ns || now_ns - c->last_ns < idle_ns)
			break;
		conn_remove(t, c);
		t->st.closed--;
		t->st.evicted_idle++;
		n++;
	}
	slab_trim(&t->slots);
	return n;
}

uint32_t conn_count(const struct conn_table *t)
{
	return t->used;
}

const struct conn_stats *conn_table_stats(const struct conn_table *t)
{
	return &t->st;
}

size_t conn_table_bytes(const struct conn_table *t)
{
	return slab_bytes(&t->slots) + t->nbuckets * sizeof(*t->buckets);
}
