// SPDX-License-Identifier: Apache-2.0
/* The per-thread table of server requests in flight: a parent only for a
 * thread serving exactly one, none once it has served several at a time
 * until it is idle again, threads and processes kept apart, a full table
 * refusing (and counting) rather than evicting, and every slot reusable. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "nest.h"

static struct nest_table *t;

static int setup(void **state)
{
	(void)state;
	t = nest_new();
	return t ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	nest_free(t);
	return 0;
}

static void test_one_request(void **state)
{
	uint64_t conn = 0;
	uint32_t seq = 0;

	(void)state;
	/* Nothing in flight: no parent, and nothing refused either. */
	assert_false(nest_parent(t, 7, 70, &conn, &seq));
	assert_int_equal(nest_stats(t)->ambiguous + nest_stats(t)->stale, 0);

	assert_true(nest_enter(t, 7, 70, 0xabc, 3));
	assert_int_equal(nest_count(t, 7, 70), 1);
	assert_true(nest_parent(t, 7, 70, &conn, &seq));
	assert_int_equal(conn, 0xabc);
	assert_int_equal(seq, 3);
	/* Other threads and the same tid in another process have none. */
	assert_false(nest_parent(t, 7, 71, &conn, &seq));
	assert_false(nest_parent(t, 8, 70, &conn, &seq));
	nest_leave(t, 7, 70);
	assert_int_equal(nest_count(t, 7, 70), 0);
	assert_false(nest_parent(t, 7, 70, &conn, &seq));
	/* The next request of the thread is the parent from then on. */
	assert_true(nest_enter(t, 7, 70, 0xdef, 1));
	assert_true(nest_parent(t, 7, 70, &conn, &seq));
	assert_int_equal(conn, 0xdef);
	assert_int_equal(seq, 1);
	assert_int_equal(nest_stats(t)->parents, 2);
	assert_int_equal(nest_stats(t)->entered, 2);
}

/* Two at once: no parent while both are in flight, and none when one ends
 * (which one is left is not guessed), until the thread is idle again. */
static void test_several(void **state)
{
	uint64_t conn = 0;
	uint32_t seq = 0;

	(void)state;
	assert_true(nest_enter(t, 7, 70, 1, 1));
	assert_true(nest_enter(t, 7, 70, 2, 1));
	assert_int_equal(nest_count(t, 7, 70), 2);
	assert_false(nest_parent(t, 7, 70, &conn, &seq));
	assert_int_equal(nest_stats(t)->ambiguous, 1);
	nest_leave(t, 7, 70);
	assert_int_equal(nest_count(t, 7, 70), 1);
	assert_false(nest_parent(t, 7, 70, &conn, &seq));
	assert_int_equal(nest_stats(t)->stale, 1);
	assert_int_equal(conn, 0);
	nest_leave(t, 7, 70);
	assert_int_equal(nest_count(t, 7, 70), 0);
	assert_true(nest_enter(t, 7, 70, 3, 5));
	assert_true(nest_parent(t, 7, 70, &conn, &seq));
	assert_int_equal(conn, 3);
	assert_int_equal(seq, 5);
	assert_int_equal(nest_stats(t)->ambiguous, 1);
	assert_int_equal(nest_stats(t)->stale, 1);
	/* Leaving a thread with nothing in flight changes nothing. */
	nest_leave(t, 9, 90);
	assert_true(nest_parent(t, 7, 70, &conn, &seq));
}

/* Full: new threads are refused and counted, threads already in keep
 * working; once threads go idle their slots serve others. */
static void test_full(void **state)
{
	uint64_t conn;
	uint32_t seq;

	(void)state;
	for (uint32_t i = 0; i < NEST_THREADS; i++)
		assert_true(nest_enter(t, 1 + i % 3, 1000 + i, i + 1, 1));
	assert_false(nest_enter(t, 5, 5, 99, 1));
	assert_int_equal(nest_stats(t)->full, 1);
	assert_false(nest_parent(t, 5, 5, &conn, &seq));
	/* A thread already in takes a second request without a new slot. */
	assert_true(nest_enter(t, 1, 1000, 77, 2));
	assert_int_equal(nest_count(t, 1, 1000), 2);
	for (uint32_t i = 0; i < NEST_THREADS; i++) {
		assert_true(nest_parent(t, 1 + i % 3, 1000 + i, &conn, &seq) == (i != 0));
		if (i)
			assert_int_equal(conn, i + 1);
	}
	nest_leave(t, 1, 1000);
	nest_leave(t, 1, 1000);
	for (uint32_t i = 1; i < NEST_THREADS; i++)
		nest_leave(t, 1 + i % 3, 1000 + i);
	for (uint32_t i = 0; i < NEST_THREADS; i++)
		assert_int_equal(nest_count(t, 1 + i % 3, 1000 + i), 0);
	/* Every slot is free again. */
	for (uint32_t i = 0; i < NEST_THREADS; i++)
		assert_true(nest_enter(t, 4, 5000 + i, i + 1, 7));
	for (uint32_t i = 0; i < NEST_THREADS; i++) {
		assert_true(nest_parent(t, 4, 5000 + i, &conn, &seq));
		assert_int_equal(conn, i + 1);
		assert_int_equal(seq, 7);
	}
	assert_int_equal(nest_stats(t)->full, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_several, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
