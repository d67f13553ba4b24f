// SPDX-License-Identifier: Apache-2.0
/* Address formatting (user/addr.c): IPv4 is written by hand, so it is
 * checked against inet_ntop for every octet value and every buffer size. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "addr.h"

static void mapped(uint8_t a[16], uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = b0;
	a[13] = b1;
	a[14] = b2;
	a[15] = b3;
}

static void test_v4_like_inet_ntop(void **state)
{
	char want[INET_ADDRSTRLEN], got[ADDR_STRLEN];
	uint8_t a[16];

	(void)state;
	for (unsigned v = 0; v < 256; v++) {
		mapped(a, v, 255 - v, v / 7, v % 10 ? v : 100);
		inet_ntop(AF_INET, a + 12, want, sizeof(want));
		assert_int_equal(addr_fmt(a, got, sizeof(got)), strlen(want));
		assert_string_equal(got, want);
	}
}

/* Too small a buffer: an empty string and 0, never a cut address, and
 * nothing written past len. */
static void test_v4_buffer_sizes(void **state)
{
	char buf[32];
	uint8_t a[16];

	(void)state;
	mapped(a, 192, 168, 100, 254);	/* 15 characters */
	for (size_t len = 0; len <= 17; len++) {
		memset(buf, 'x', sizeof(buf));
		size_t n = addr_fmt(a, buf, len);

		if (len > 15) {
			assert_int_equal(n, 15);
			assert_string_equal(buf, "192.168.100.254");
		} else {
			assert_int_equal(n, 0);
			if (len)
				assert_int_equal(buf[0], '\0');
		}
		/* Written: the address and its NUL, or the lone NUL. */
		size_t written = len > 15 ? 16 : len ? 1 : 0;

		for (size_t i = written; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 'x');
	}
}

static void test_v6(void **state)
{
	char got[ADDR_STRLEN];
	uint8_t a[16] = { 0xfd, 0x00, [15] = 1 };

	(void)state;
	assert_int_equal(addr_fmt(a, got, sizeof(got)), strlen("fd00::1"));
	assert_string_equal(got, "fd00::1");
	assert_int_equal(addr_fmt(a, got, 4), 0);
	assert_string_equal(got, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_like_inet_ntop),
		cmocka_unit_test(test_v4_buffer_sizes),
		cmocka_unit_test(test_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
