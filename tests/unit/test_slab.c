// SPDX-License-Identifier: Apache-2.0
/* Pools that grow in chunks and give them back: the slab allocator and the
 * connection table built on it (bounds, LRU eviction, idle sweep, memory
 * returned), checked against a plain model of what must be in the table. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "h1session.h"
#include "h2session.h"
#include "slab.h"

struct obj {
	uint32_t tag;
	char pad[300];
};

static void test_slab_bounds(void **state)
{
	struct slab s;
	uint32_t max = 1000;
	int32_t *ids = calloc(max, sizeof(*ids));
	uint8_t *seen = calloc(max, 1);

	(void)state;
	assert_int_equal(slab_init(&s, sizeof(struct obj), max), 0);
	assert_int_equal(slab_bytes(&s), 0);
	for (uint32_t i = 0; i < max; i++) {
		ids[i] = slab_alloc(&s);
		assert_true(ids[i] >= 0 && ids[i] < (int32_t)max);
		assert_int_equal(seen[ids[i]], 0);
		seen[ids[i]] = 1;
		((struct obj *)slab_at(&s, ids[i]))->tag = i;
	}
	assert_int_equal(slab_alloc(&s), -1);
	assert_int_equal(s.used, max);
	for (uint32_t i = 0; i < max; i++)
		assert_int_equal(((struct obj *)slab_at(&s, ids[i]))->tag, i);
	/* One back, one out: the same slot, and the bound holds again. */
	slab_put(&s, ids[500]);
	assert_int_equal(slab_alloc(&s), ids[500]);
	assert_int_equal(slab_alloc(&s), -1);
	slab_destroy(&s);
	free(ids);
	free(seen);
}

static void test_slab_lowest_first_and_trim(void **state)
{
	struct slab s;
	uint32_t max = 4096, per;
	int32_t *ids = calloc(max, sizeof(*ids));
	size_t full;

	(void)state;
	assert_int_equal(slab_init(&s, sizeof(struct obj), max), 0);
	per = 1u << s.shift;
	assert_true(per > 1 && per < max);
	for (uint32_t i = 0; i < max; i++)
		ids[i] = slab_alloc(&s);
	full = slab_bytes(&s);
	assert_int_equal(full, (size_t)s.nchunks * s.chunk_bytes);
	/* Nothing empty yet: nothing to trim. */
	assert_int_equal(slab_trim(&s), 0);
	/* Free all but one object in the first chunk and one in the last. */
	for (uint32_t i = 0; i < max; i++)
		if (ids[i] != 0 && ids[i] != (int32_t)(max - 1))
			slab_put(&s, ids[i]);
	assert_int_equal(s.used, 2);
	assert_int_equal(slab_trim(&s), s.nchunks - 2);
	assert_int_equal(slab_bytes(&s), 2 * s.chunk_bytes);
	assert_null(slab_at_checked(&s, (int32_t)per));
	assert_non_null(slab_at_checked(&s, 0));
	assert_null(slab_at_checked(&s, -1));
	assert_null(slab_at_checked(&s, (int32_t)max));
	/* New objects fill the lowest chunk first, remapping as they go. */
	for (uint32_t i = 0; i < per - 1; i++)
		assert_true(slab_alloc(&s) < (int32_t)per);
	assert_int_equal(slab_alloc(&s) >> s.shift, 1);
	assert_int_equal(slab_bytes(&s), 3 * s.chunk_bytes);
	slab_destroy(&s);
	free(ids);
}

/* Random alloc/put against a model: no index is handed out twice, objects
 * keep their contents while in use, and the bound holds throughout. */
static void test_slab_random(void **state)
{
	struct slab s;
	uint32_t max = 3000, n = 0;
	int32_t *live = calloc(max, sizeof(*live));
	uint8_t *in_use = calloc(max, 1);

	(void)state;
	srand(7);
	assert_int_equal(slab_init(&s, 40, max), 0);
	for (int round = 0; round < 200000; round++) {
		if (n < max && (rand() % 3 || !n)) {
			int32_t i = slab_alloc(&s);

			assert_true(i >= 0 && i < (int32_t)max);
			assert_int_equal(in_use[i], 0);
			in_use[i] = 1;
			memset(slab_at(&s, i), (uint8_t)i, 40);
			live[n++] = i;
		} else {
			uint32_t k = rand() % n;
			int32_t i = live[k];
			uint8_t *p = slab_at(&s, i);

			for (int b = 0; b < 40; b++)
				assert_int_equal(p[b], (uint8_t)i);
			slab_put(&s, i);
			in_use[i] = 0;
			live[k] = live[--n];
		}
		if (n == max)
			assert_int_equal(slab_alloc(&s), -1);
		if (round % 1000 == 0)
			slab_trim(&s);
		assert_int_equal(s.used, n);
	}
	slab_destroy(&s);
	free(live);
	free(in_use);
}

static void test_slab_big_objects(void **state)
{
	struct slab s;

	(void)state;
	/* Objects larger than a chunk's target: one per chunk, still bounded. */
	assert_int_equal(slab_init(&s, 100000, 3), 0);
	assert_int_equal(slab_alloc(&s), 0);
	assert_int_equal(slab_alloc(&s), 1);
	assert_int_equal(slab_alloc(&s), 2);
	assert_int_equal(slab_alloc(&s), -1);
	memset(slab_at(&s, 2), 0xab, 100000);
	slab_put(&s, 1);
	slab_put(&s, 2);
	assert_int_equal(slab_trim(&s), 2);
	slab_destroy(&s);
	assert_int_equal(slab_init(&s, 8, 0), -1);
}

static uint32_t released;

static void count_release(void *ctx, struct conn *c)
{
	(void)ctx;
	(void)c;
	released++;
}

/* A full table evicts the least recently used connection; every live one
 * stays findable; sweeping returns the slot memory. */
static void test_conn_table_bounds(void **state)
{
	uint32_t max = 2000;
	struct conn_table *t = conn_table_new(max, count_release, NULL);
	size_t base, peak;

	(void)state;
	assert_non_null(t);
	base = conn_table_bytes(t);
	released = 0;
	for (uint64_t id = 1; id <= 10 * max; id++) {
		struct conn *c = conn_get(t, id, 7, id);

		assert_non_null(c);
		assert_false(c->used);
		c->used = true;
		assert_true(conn_count(t) <= max);
		/* Keep connection 1 fresh: it must never be evicted. */
		assert_non_null(conn_get(t, 1, 7, id));
	}
	assert_int_equal(conn_count(t), max);
	assert_int_equal(conn_table_stats(t)->evicted_full, 10 * max - max);
	assert_int_equal(released, 10 * max - max);
	assert_non_null(conn_lookup(t, 1, 7));
	for (uint64_t id = 2; id <= 9 * max + 1; id++)
		assert_null(conn_lookup(t, id, 7));
	for (uint64_t id = 9 * max + 2; id <= 10 * max; id++)
		assert_non_null(conn_lookup(t, id, 7));
	assert_null(conn_lookup(t, 10 * max, 8));
	peak = conn_table_bytes(t);
	assert_true(peak > base + (size_t)max * sizeof(struct conn) / 2);
	/* Idle since before 10 * max + 5, except connection 1 touched now. */
	assert_non_null(conn_get(t, 1, 7, 100 * max));
	assert_int_equal(conn_sweep(t, 100 * max, 100 * max - 10 * max - 5), max - 1);
	assert_int_equal(conn_count(t), 1);
	assert_int_equal(conn_table_stats(t)->evicted_idle, max - 1);
	/* One chunk stays (the first, holding connection 1 or kept). */
	assert_true(conn_table_bytes(t) < base + peak / 8);
	assert_non_null(conn_lookup(t, 1, 7));
	/* And the table grows again. */
	for (uint64_t id = 1; id <= max; id++)
		assert_non_null(conn_get(t, 100000 + id, 9, 100 * max));
	assert_int_equal(conn_count(t), max);
	conn_table_free(t);
}

static void test_conn_table_model(void **state)
{
	uint32_t max = 300, n = 0;
	struct conn_table *t = conn_table_new(max, NULL, NULL);
	uint64_t live[300];

	(void)state;
	srand(11);
	for (int round = 0; round < 50000; round++) {
		uint64_t id = 1 + rand() % 1000;
		struct conn *c = conn_lookup(t, id, 1);
		uint32_t k;

		for (k = 0; k < n && live[k] != id; k++)
			;
		assert_int_equal(c != NULL, k < n);
		if (c && rand() % 2) {
			conn_remove(t, c);
			live[k] = live[--n];
		} else if (!c && n < max) {
			c = conn_get(t, id, 1, round);
			c->used = true;
			live[n++] = id;
		}
		if (round % 997 == 0)
			conn_sweep(t, round, UINT64_MAX);	/* trims, evicts nothing */
		assert_int_equal(conn_count(t), n);
	}
	conn_table_free(t);
}

static struct span sp;
static struct span *no_span(void *ctx)
{
	(void)ctx;
	return &sp;
}

static void drop_span(void *ctx, struct span *s)
{
	(void)ctx;
	(void)s;
}

/* The HTTP pools start empty whatever their maximum. */
static void test_http_pools_lazy(void **state)
{
	struct h1_sink sink = { no_span, drop_span, NULL };
	struct h1_ctx *h1 = h1_ctx_new(1u << 20, 1u << 16, sink);
	struct h2_ctx *h2 = h2_ctx_new(1u << 16, 1u << 20, 1u << 12, sink);

	(void)state;
	assert_non_null(h1);
	assert_non_null(h2);
	assert_true(h1_ctx_bytes(h1) < 1u << 20);
	assert_true(h2_ctx_bytes(h2) < 1u << 20);
	h1_ctx_free(h1);
	h2_ctx_free(h2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slab_bounds),
		cmocka_unit_test(test_slab_lowest_first_and_trim),
		cmocka_unit_test(test_slab_random),
		cmocka_unit_test(test_slab_big_objects),
		cmocka_unit_test(test_conn_table_bounds),
		cmocka_unit_test(test_conn_table_model),
		cmocka_unit_test(test_http_pools_lazy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
