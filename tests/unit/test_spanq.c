// SPDX-License-Identifier: Apache-2.0
/* The export queue's packed spans: every span comes back as pushed (fields,
 * attributes below nattrs, string bytes below strused) whatever its size
 * and whatever the scratch held; first in, first out through many laps of
 * the entry ring; a full queue of the largest spans fits (the count is the
 * only limit); truncation keeps the oldest; and every block goes back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spanq.h"

/* A span with nattrs attributes, the first nstr of them strings sharing
 * strused bytes, every field set from seed. */
static void fill(struct span *s, uint32_t seed, uint32_t nattrs, uint32_t nstr, uint32_t strused)
{
	static const char *const keys[] = { "a", "b.c", "d.e.f" };

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < offsetof(struct span, nattrs); i++)
		((unsigned char *)s)[i] = (unsigned char)(seed * 31 + i);
	s->attrs_dropped = seed;
	for (uint32_t i = 0; i < strused; i++)
		s->strbuf[i] = (char)(seed + i * 7);
	for (uint32_t i = 0; i < nattrs; i++) {
		struct span_attr *a = &s->attrs[i];

		a->key = keys[(seed + i) % 3];
		if (i < nstr) {
			a->type = SPAN_ATTR_STR;
			a->v.s.off = (uint16_t)(strused * i / nstr);
			a->v.s.len = (uint16_t)(strused * (i + 1) / nstr - a->v.s.off);
		} else {
			a->type = SPAN_ATTR_INT;
			a->v.i = (int64_t)seed << 20 | i;
		}
	}
	s->nattrs = (uint16_t)nattrs;
	s->strused = (uint16_t)strused;
}

static void assert_same(const struct span *want, const struct span *got)
{
	assert_memory_equal(want, got, offsetof(struct span, attrs));
	assert_memory_equal(want->attrs, got->attrs, want->nattrs * sizeof(want->attrs[0]));
	assert_memory_equal(want->strbuf, got->strbuf, want->strused);
}

/* Every block goes back once the queue is emptied. */
static void drain_and_free(struct spanq *q, struct span *in, struct span *out)
{
	spanq_pop(q, q->count);
	assert_int_equal(q->blocks.used, 0);
	spanq_free(q);
	free(in);
	free(out);
}

static void test_roundtrip_every_size(void **state)
{
	struct span *in = malloc(sizeof(*in)), *out = malloc(sizeof(*out));
	static const uint32_t strs[] = { 0, 1, 7, 251, 252, 253, 700, SPAN_STRBUF - 1, SPAN_STRBUF };
	struct spanq q;

	(void)state;
	assert_int_equal(spanq_init(&q, 4), 0);
	for (uint32_t nattrs = 0; nattrs <= SPAN_MAX_ATTRS; nattrs++)
		for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
			uint32_t nstr = strs[k] ? (nattrs < 3 ? nattrs : 3) : 0;

			fill(in, nattrs * 100 + k, nattrs, nstr, nstr ? strs[k] : 0);
			assert_true(spanq_push(&q, in, in));
			memset(out, 0xa5, sizeof(*out));
			spanq_span(&q, spanq_at(&q, 0), out);
			assert_ptr_equal(spanq_at(&q, 0)->tag, in);
			assert_same(in, out);
			spanq_pop(&q, 1);
			assert_int_equal(q.count, 0);
			assert_int_equal(q.blocks.used, 0);
		}
	/* Counts past the arrays are clamped as span_copy() clamped them. */
	fill(in, 9, SPAN_MAX_ATTRS, 3, SPAN_STRBUF);
	in->nattrs = 0xffff;
	in->strused = 0xffff;
	assert_true(spanq_push(&q, in, NULL));
	memset(out, 0xa5, sizeof(*out));
	spanq_span(&q, spanq_at(&q, 0), out);
	assert_memory_equal(in, out, offsetof(struct span, attrs));
	assert_memory_equal(in->attrs, out->attrs, sizeof(in->attrs));
	assert_memory_equal(in->strbuf, out->strbuf, sizeof(in->strbuf));
	drain_and_free(&q, in, out);
}

/* Pushes and pops in uneven steps through 50 laps of the entry ring: the
 * spans come out in order and as pushed; the queue refuses past max. */
static void test_fifo_laps(void **state)
{
	struct span *in = malloc(sizeof(*in)), *out = malloc(sizeof(*out));
	uint32_t pushed = 0, popped = 0;
	struct spanq q;

	(void)state;
	assert_int_equal(spanq_init(&q, 7), 0);
	while (popped < 350) {
		uint32_t want_push = 1 + (pushed * 5 + 3) % 9, want_pop = (popped * 3 + 1) % 6;

		for (uint32_t i = 0; i < want_push; i++) {
			fill(in, pushed, pushed % 33, pushed % 4, (pushed * 37) % 900);
			if (q.count == 7) {
				assert_false(spanq_push(&q, in, NULL));
				break;
			}
			assert_true(spanq_push(&q, in, (void *)(uintptr_t)(pushed + 1)));
			pushed++;
		}
		for (uint32_t i = 0; i < want_pop && q.count; i++) {
			const struct spanq_ent *e = spanq_at(&q, 0);

			assert_int_equal((uintptr_t)e->tag, popped + 1);
			fill(in, popped, popped % 33, popped % 4, (popped * 37) % 900);
			spanq_span(&q, e, out);
			assert_same(in, out);
			spanq_pop(&q, 1);
			popped++;
		}
	}
	drain_and_free(&q, in, out);
}

/* A queue full of the largest spans fits: only the count refuses. */
static void test_full_of_largest(void **state)
{
	struct span *in = malloc(sizeof(*in)), *out = malloc(sizeof(*out));
	struct spanq q;

	(void)state;
	assert_int_equal(spanq_init(&q, 64), 0);
	for (uint32_t i = 0; i < 64; i++) {
		fill(in, i, SPAN_MAX_ATTRS, 3, SPAN_STRBUF);
		assert_true(spanq_push(&q, in, NULL));
	}
	assert_false(spanq_push(&q, in, NULL));
	for (uint32_t i = 0; i < 64; i++) {
		fill(in, i, SPAN_MAX_ATTRS, 3, SPAN_STRBUF);
		spanq_span(&q, spanq_at(&q, i), out);
		assert_same(in, out);
	}
	drain_and_free(&q, in, out);
}

/* Truncation keeps the oldest and the queue goes on from there; memory
 * follows what is held: small spans take few blocks, and trimming an
 * empty queue keeps at most its first chunk. */
static void test_truncate_and_memory(void **state)
{
	struct span *in = malloc(sizeof(*in)), *out = malloc(sizeof(*out));
	size_t full;
	struct spanq q;

	(void)state;
	assert_int_equal(spanq_init(&q, 2048), 0);
	for (uint32_t i = 0; i < 2048; i++) {
		fill(in, i, 18, 3, 100);
		assert_true(spanq_push(&q, in, (void *)(uintptr_t)(i + 1)));
	}
	/* 272 + 18 * 24 + 100 bytes: 4 blocks each, not 11. */
	assert_int_equal(q.blocks.used, 2048 * 4);
	full = spanq_trim(&q);
	assert_true(full < 2048 * 5 * SPANQ_BLOCK);
	spanq_pop(&q, 3);
	spanq_truncate(&q, 5);
	assert_int_equal(q.count, 5);
	assert_int_equal(q.blocks.used, 5 * 4);
	fill(in, 5000, 2, 1, 10);
	assert_true(spanq_push(&q, in, (void *)(uintptr_t)5001));
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal((uintptr_t)spanq_at(&q, i)->tag, i + 4);
	spanq_span(&q, spanq_at(&q, 5), out);
	assert_same(in, out);
	assert_int_equal((uintptr_t)spanq_at(&q, 5)->tag, 5001);
	spanq_truncate(&q, 0);
	assert_int_equal(q.blocks.used, 0);
	assert_true(spanq_trim(&q) <= q.blocks.chunk_bytes);
	drain_and_free(&q, in, out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_size),
		cmocka_unit_test(test_fifo_laps),
		cmocka_unit_test(test_full_of_largest),
		cmocka_unit_test(test_truncate_and_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
