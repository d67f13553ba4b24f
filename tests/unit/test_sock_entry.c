// SPDX-License-Identifier: Apache-2.0
/* The rule that decides whether a socket-table entry belongs to the socket
 * now at its address (bpf/sock_entry.h, run by the BPF programs). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../bpf/sock_entry.h"

#define SYN(x) (KSPAN_COOKIE_SYNTHETIC | (x))

static void test_rule(void **state)
{
	(void)state;
	/* The socket's own entry, whatever the caller. */
	assert_false(kspan_sock_entry_stale(7, 7, false));
	assert_false(kspan_sock_entry_stale(7, 7, true));
	assert_false(kspan_sock_entry_stale(SYN(5), 0, false));
	/* A cookie of its own, or none, makes it another socket. */
	assert_true(kspan_sock_entry_stale(7, 8, false));
	assert_true(kspan_sock_entry_stale(7, 8, true));
	assert_true(kspan_sock_entry_stale(7, 0, false));
	/* A made-up id stays until a new connection: a cookie generated later
	 * for the same socket does not change its id. */
	assert_false(kspan_sock_entry_stale(SYN(5), 9, false));
	assert_true(kspan_sock_entry_stale(SYN(5), 9, true));
	assert_true(kspan_sock_entry_stale(SYN(5), 0, true));
}

/* The table as sock_learn() and the TCP_CLOSE hook use it, for one address. */
struct slot {
	bool used;
	uint64_t cookie;
};

static uint64_t learn(struct slot *s, uint64_t cur, bool fresh)
{
	if (!s->used || kspan_sock_entry_stale(s->cookie, cur, fresh)) {
		s->used = true;
		s->cookie = cur;
	}
	return s->cookie;
}

/* A connection reset while its response was written, then the next socket at
 * the same address, reset the same way: each connection keeps one id from
 * accept to close. */
static void test_reused_address(void **state)
{
	struct slot x = { 0 };
	uint64_t c;

	(void)state;
	for (uint64_t cookie = 100; cookie < 110; cookie++) {
		c = learn(&x, cookie, true);		/* accept */
		assert_int_equal(c, cookie);
		assert_int_equal(learn(&x, cookie, false), c);	/* request read */
		x.used = false;				/* reset: TCP_CLOSE */
		assert_int_equal(learn(&x, cookie, false), c);	/* the response write */
		assert_int_equal(learn(&x, cookie, false), c);	/* ECONNRESET read */
		/* close(): the entry stays behind as the socket is freed */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule),
		cmocka_unit_test(test_reused_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
