// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>

#include "nest.h"

struct nest_thread {
	uint64_t key;		/* pid << 32 | tid */
	int32_t next;		/* hash chain or free list */
	uint32_t count;		/* server requests in flight */
	bool shared;		/* several were in flight at once since idle */
	uint32_t seq;		/* the request in flight, when count == 1 and */
	uint64_t conn;		/* !shared */
};

struct nest_table {
	struct nest_thread threads[NEST_THREADS];
	int32_t buckets[NEST_THREADS];
	int32_t free_thread;
	struct nest_stats st;
};

_Static_assert((NEST_THREADS & (NEST_THREADS - 1)) == 0, "NEST_THREADS: a power of two");

struct nest_table *nest_new(void)
{
	struct nest_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	for (int i = 0; i < NEST_THREADS; i++) {
		t->threads[i].next = i + 1 < NEST_THREADS ? i + 1 : -1;
		t->buckets[i] = -1;
	}
	t->free_thread = 0;
	return t;
}

void nest_free(struct nest_table *t)
{
	free(t);
}

const struct nest_stats *nest_stats(const struct nest_table *t)
{
	return &t->st;
}

static uint64_t key_of(uint32_t pid, uint32_t tid)
{
	return (uint64_t)pid << 32 | tid;
}

static uint32_t bucket(uint64_t key)
{
	return (key * 0x9e3779b97f4a7c15ull) >> 32 & (NEST_THREADS - 1);
}

static int32_t find(const struct nest_table *t, uint64_t key)
{
	int32_t i = t->buckets[bucket(key)];

	while (i >= 0 && t->threads[i].key != key)
		i = t->threads[i].next;
	return i;
}

/* The link that holds key's entry, or the chain's terminating -1. */
static int32_t *slot(struct nest_table *t, uint64_t key)
{
	int32_t *pp = &t->buckets[bucket(key)];

	while (*pp >= 0 && t->threads[*pp].key != key)
		pp = &t->threads[*pp].next;
	return pp;
}

bool nest_enter(struct nest_table *t, uint32_t pid, uint32_t tid, uint64_t conn, uint32_t seq)
{
	uint64_t key = key_of(pid, tid);
	int32_t *pp = slot(t, key), i;
	struct nest_thread *th;

	if (*pp < 0) {
		if (t->free_thread < 0) {
			t->st.full++;
			return false;
		}
		i = t->free_thread;
		th = &t->threads[i];
		t->free_thread = th->next;
		th->key = key;
		th->count = 0;
		th->shared = false;
		th->next = -1;
		*pp = i;
	}
	th = &t->threads[*pp];
	if (++th->count == 1) {
		th->conn = conn;
		th->seq = seq;
	} else {
		th->shared = true;
	}
	t->st.entered++;
	return true;
}

void nest_leave(struct nest_table *t, uint32_t pid, uint32_t tid)
{
	int32_t *pp = slot(t, key_of(pid, tid)), i = *pp;

	if (i < 0 || --t->threads[i].count)
		return;
	*pp = t->threads[i].next;
	t->threads[i].next = t->free_thread;
	t->free_thread = i;
}

bool nest_parent(struct nest_table *t, uint32_t pid, uint32_t tid, uint64_t *conn,
		 uint32_t *seq)
{
	int32_t i = find(t, key_of(pid, tid));
	const struct nest_thread *th;

	if (i < 0)
		return false;
	th = &t->threads[i];
	if (th->count > 1) {
		t->st.ambiguous++;
		return false;
	}
	if (th->shared) {
		t->st.stale++;
		return false;
	}
	*conn = th->conn;
	*seq = th->seq;
	t->st.parents++;
	return true;
}

uint32_t nest_count(const struct nest_table *t, uint32_t pid, uint32_t tid)
{
	int32_t i = find(t, key_of(pid, tid));

	return i >= 0 ? t->threads[i].count : 0;
}
