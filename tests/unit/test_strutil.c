// SPDX-License-Identifier: Apache-2.0
/* str_json_plain_len and str_ascii_run (user/strutil.h) test eight bytes at
 * a time: checked against a byte-at-a-time reading for every byte value at
 * every position and every length, so that no word boundary hides a byte
 * that ends the run. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strutil.h"

static size_t plain_ref(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
		i++;
	return i;
}

static size_t ascii_ref(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len && s[i] >= 0x01 && s[i] < 0x80)
		i++;
	return i;
}

/* A run scanner, its byte-at-a-time reading, plain bytes to fill with
 * (including the ones next to the classes that end the run) and a byte
 * that ends it. */
struct run_case {
	size_t (*fn)(const unsigned char *s, size_t len);
	size_t (*ref)(const unsigned char *s, size_t len);
	const char *fill;	/* eight bytes */
	unsigned char stop;
};

/* Each string in an allocation of its own length: a read past it is an
 * error under ASan. */
static void every_byte_everywhere(const struct run_case *c)
{
	for (size_t len = 0; len <= 33; len++) {
		unsigned char *buf = malloc(len ? len : 1);

		assert_non_null(buf);
		for (unsigned v = 0; v < 256; v++)
			for (size_t at = 0; at < len; at++) {
				for (size_t i = 0; i < len; i++)
					buf[i] = c->fill[i % 8];
				buf[at] = (unsigned char)v;
				assert_int_equal(c->fn(buf, len), c->ref(buf, len));
				/* A second stop byte further on does not count. */
				if (at + 9 < len) {
					buf[at + 9] = c->stop;
					assert_int_equal(c->fn(buf, len), c->ref(buf, len));
				}
			}
		/* All plain, and nothing read past the end. */
		for (size_t i = 0; i < len; i++)
			buf[i] = 'a' + i % 26;
		assert_int_equal(c->fn(buf, len), len);
		free(buf);
	}
}

static void test_every_byte_everywhere(void **state)
{
	static const struct run_case c = {
		str_json_plain_len, plain_ref, "~! #[]\x7f" "a", '"',
	};

	(void)state;
	every_byte_everywhere(&c);
}

static void test_ascii_run_every_byte_everywhere(void **state)
{
	static const struct run_case c = {
		str_ascii_run, ascii_ref, "\x01\x7f a~\x02Zz", 0x80,
	};

	(void)state;
	every_byte_everywhere(&c);
}

/* Two bytes to escape in one word: the first one counts. */
static void test_first_of_two(void **state)
{
	unsigned char buf[24];

	(void)state;
	for (size_t a = 0; a < 16; a++)
		for (size_t b = a + 1; b < 16; b++) {
			memset(buf, 'x', sizeof(buf));
			buf[a] = '\\';
			buf[b] = 0x01;
			assert_int_equal(str_json_plain_len(buf, sizeof(buf)), a);
			buf[a] = 0xc3;
			buf[b] = '"';
			assert_int_equal(str_json_plain_len(buf, sizeof(buf)), a);
		}
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(str_json_plain_len(buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(str_json_plain_len(buf, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_byte_everywhere),
		cmocka_unit_test(test_first_of_two),
		cmocka_unit_test(test_ascii_run_every_byte_everywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
