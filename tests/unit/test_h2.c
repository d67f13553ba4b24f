// SPDX-License-Identifier: Apache-2.0
/* HTTP/2 frame parser: headers, each frame type with padding and priority,
 * invalid frames, the preface, and the mid-connection recognizer; every
 * frame cut at every point against a guard page. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "guard.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "h2.h"


/* Build a frame: header then payload. Returns its length. */
static size_t frame(uint8_t *out, uint8_t type, uint8_t flags, uint32_t stream,
		    const void *payload, uint32_t len)
{
	out[0] = len >> 16;
	out[1] = len >> 8;
	out[2] = len;
	out[3] = type;
	out[4] = flags;
	out[5] = stream >> 24;
	out[6] = stream >> 16;
	out[7] = stream >> 8;
	out[8] = stream;
	if (len)
		memcpy(out + 9, payload, len);
	return 9 + len;
}

static void test_frame_hdr(void **state)
{
	static const uint8_t b[] = { 0x00, 0x40, 0x00, 0x01, 0x25, 0x80, 0x00, 0x00, 0x07 };
	struct h2_frame_hdr h;

	(void)state;
	assert_int_equal(h2_parse_frame_hdr(b, 8, &h), -2);
	assert_int_equal(h2_parse_frame_hdr(b, 9, &h), 9);
	assert_int_equal(h.length, 16384);
	assert_int_equal(h.type, H2_HEADERS);
	assert_int_equal(h.flags, 0x25);
	assert_int_equal(h.stream, 7);	/* the reserved bit is dropped */
	assert_int_equal(h2_frame_hdr_check(&h, 16384), 0);
	assert_int_equal(h2_frame_hdr_check(&h, 16383), -1);
}

static void test_frames(void **state)
{
	uint8_t buf[128], pl[64];
	struct h2_frame f;

	(void)state;
	/* DATA, padded: 1 pad-length byte, 3 data, 4 padding */
	memcpy(pl, "\x04" "abc" "\0\0\0\0", 8);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_DATA, 0x09, 1, pl, 8), 16384, &f), 17);
	assert_int_equal(f.payload_len, 3);
	assert_memory_equal(f.payload, "abc", 3);
	assert_int_equal(f.pad_len, 4);
	assert_int_equal(f.hdr.flags & H2_FLAG_END_STREAM, 1);
	/* padding as long as the payload */
	pl[0] = 8;
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_DATA, 0x08, 1, pl, 8), 16384, &f), -1);
	/* HEADERS with PADDED and PRIORITY */
	memcpy(pl, "\x02\x80\x00\x00\x03\x0f\x82\x84\0\0", 10);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_HEADERS, 0x2c, 5, pl, 10), 16384, &f),
			 19);
	assert_true(f.has_priority);
	assert_true(f.exclusive);
	assert_int_equal(f.depends_on, 3);
	assert_int_equal(f.weight, 15);
	assert_int_equal(f.payload_len, 2);
	assert_memory_equal(f.payload, "\x82\x84", 2);
	/* HEADERS too short for its PRIORITY fields */
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_HEADERS, 0x20, 5, pl, 4), 16384, &f), -1);
	/* PUSH_PROMISE */
	memcpy(pl, "\x00\x00\x00\x02\x82", 5);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_PUSH_PROMISE, 0x04, 1, pl, 5), 16384, &f),
			 14);
	assert_int_equal(f.promised, 2);
	assert_int_equal(f.payload_len, 1);
	/* RST_STREAM */
	memcpy(pl, "\x00\x00\x00\x08", 4);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_RST_STREAM, 0, 3, pl, 4), 16384, &f), 13);
	assert_int_equal(f.error_code, 8);
	assert_string_equal(h2_error_name(f.error_code), "CANCEL");
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_RST_STREAM, 0, 3, pl, 3), 16384, &f), -1);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_RST_STREAM, 0, 0, pl, 4), 16384, &f), -1);
	/* SETTINGS */
	memcpy(pl, "\x00\x01\x00\x00\x10\x00\x00\x05\x00\x00\x40\x00", 12);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_SETTINGS, 0, 0, pl, 12), 16384, &f), 21);
	{
		uint16_t id;
		uint32_t v;

		h2_setting(f.payload + 6, &id, &v);
		assert_int_equal(id, H2_SETTINGS_MAX_FRAME_SIZE);
		assert_int_equal(v, 16384);
	}
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_SETTINGS, 0, 0, pl, 7), 16384, &f), -1);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_SETTINGS, 1, 0, pl, 6), 16384, &f), -1);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_SETTINGS, 0, 1, pl, 6), 16384, &f), -1);
	/* PING, GOAWAY, WINDOW_UPDATE, PRIORITY, CONTINUATION */
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_PING, 1, 0, pl, 8), 16384, &f), 17);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_PING, 0, 0, pl, 7), 16384, &f), -1);
	memcpy(pl, "\x00\x00\x00\x07\x00\x00\x00\x02" "debug", 13);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_GOAWAY, 0, 0, pl, 13), 16384, &f), 22);
	assert_int_equal(f.last_stream, 7);
	assert_int_equal(f.error_code, 2);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_GOAWAY, 0, 0, pl, 7), 16384, &f), -1);
	memcpy(pl, "\x80\x00\x10\x00", 4);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_WINDOW_UPDATE, 0, 0, pl, 4), 16384, &f),
			 13);
	assert_int_equal(f.window_increment, 4096);
	memcpy(pl, "\x00\x00\x00\x01\x10", 5);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_PRIORITY, 0, 3, pl, 5), 16384, &f), 14);
	assert_int_equal(f.depends_on, 1);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_CONTINUATION, 4, 3, pl, 5), 16384, &f),
			 14);
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_CONTINUATION, 4, 0, pl, 5), 16384, &f),
			 -1);
	/* an unknown type passes, whole */
	assert_int_equal(h2_parse_frame(buf, frame(buf, 0xfa, 0xff, 0, pl, 5), 16384, &f), 14);
	/* too long for the limit */
	assert_int_equal(h2_parse_frame(buf, frame(buf, H2_DATA, 0, 1, pl, 5), 4, &f), -1);
}

/* Every frame of a run, cut at every point, placed against a guard page:
 * -2 until whole, then the full length. */
static void test_cuts(void **state)
{
	uint8_t run[256], pl[32];
	size_t n = 0, lens[8];
	int nf = 0;
	struct h2_frame f;
	struct guard g;

	(void)state;
	memcpy(pl, "\x02\x80\x00\x00\x03\x0f\x82\x84\0\0", 10);
	n += lens[nf++] = frame(run + n, H2_HEADERS, 0x2c, 5, pl, 10);
	n += lens[nf++] = frame(run + n, H2_DATA, 0x09, 5, "\x01xy\0", 4);
	n += lens[nf++] = frame(run + n, H2_SETTINGS, 0, 0, "\x00\x01\x00\x00\x10\x00", 6);
	n += lens[nf++] = frame(run + n, H2_GOAWAY, 0, 0, "\0\0\0\1\0\0\0\0", 8);
	n += lens[nf++] = frame(run + n, H2_RST_STREAM, 0, 5, "\0\0\0\x08", 4);
	n += lens[nf++] = frame(run + n, H2_PUSH_PROMISE, 0x0c, 1, "\x01\0\0\0\x02\x82\0", 7);
	guard_init(&g, sizeof(run));
	for (size_t off = 0, i = 0; i < (size_t)nf; off += lens[i++]) {
		for (size_t cut = 0; cut < lens[i]; cut++)
			assert_int_equal(h2_parse_frame(guard_put(&g, run + off, cut), cut, 16384, &f),
					 -2);
		assert_int_equal(h2_parse_frame(guard_put(&g, run + off, lens[i]), lens[i], 16384, &f),
				 (int)lens[i]);
		assert_int_equal(h2_looks_like_frames(guard_put(&g, run + off, lens[i]), lens[i],
						      lens[i]), 1);
	}
	/* The recognizer over every cut of the whole run. */
	for (size_t cut = 0; cut <= n; cut++)
		(void)h2_looks_like_frames(guard_put(&g, run, cut), cut, n);
	assert_int_equal(h2_looks_like_frames(guard_put(&g, run, n), n, n), 1);
	guard_free(&g);
}

static void test_preface(void **state)
{
	(void)state;
	assert_int_equal(h2_is_preface((const uint8_t *)H2_PREFACE, 24), 1);
	assert_int_equal(h2_is_preface((const uint8_t *)H2_PREFACE "\0\0\0\x04", 28), 1);
	assert_int_equal(h2_is_preface((const uint8_t *)"PRI * HTTP/2", 12), -2);
	assert_int_equal(h2_is_preface((const uint8_t *)"PRI * HTTP/1.1\r\n", 16), 0);
	assert_int_equal(h2_is_preface((const uint8_t *)"GET / HTTP/1.1\r\n", 16), 0);
	assert_int_equal(h2_is_preface((const uint8_t *)"", 0), 0);
}

static void test_recognizer(void **state)
{
	uint8_t buf[256];
	size_t n = 0;

	(void)state;
	/* SETTINGS + WINDOW_UPDATE + HEADERS: a plausible run */
	n += frame(buf + n, H2_SETTINGS, 0, 0, "\x00\x03\x00\x00\x00\x64", 6);
	n += frame(buf + n, H2_WINDOW_UPDATE, 0, 0, "\x00\x00\xff\xff", 4);
	n += frame(buf + n, H2_HEADERS, 0x05, 1, "\x82\x86\x84", 3);
	assert_int_equal(h2_looks_like_frames(buf, n, n), 1);
	/* every frame header seen must be plausible */
	memset(buf + n, 0xff, 9);
	assert_int_equal(h2_looks_like_frames(buf, n + 9, n + 9), 0);
	/* a single frame must end where the syscall ended */
	assert_int_equal(h2_looks_like_frames(buf, 15, 16), 0);
	/* ...or go on past it after two whole frames */
	assert_int_equal(h2_looks_like_frames(buf, n - 1, n - 1), 1);
	assert_int_equal(h2_looks_like_frames(buf, 20, 20), 0);
	/* two whole frames and a third going on past a cut capture */
	n += frame(buf + n, H2_DATA, 0, 1, "0123456789", 10);
	assert_int_equal(h2_looks_like_frames(buf, n - 4, n + 100), 1);
	/* one whole frame is enough only when it ends the write */
	assert_int_equal(h2_looks_like_frames(buf, 15, 15), 1);
	/* HTTP/1, TLS, undefined flags, bad stream ids */
	assert_int_equal(h2_looks_like_frames((const uint8_t *)"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
					      27, 27), 0);
	assert_int_equal(h2_looks_like_frames((const uint8_t *)"\x16\x03\x01\x02\x00\x01\x00\x01"
					      "\xfc\x03\x03", 11, 517), 0);
	n = frame(buf, H2_DATA, 0x40, 1, "x", 1);
	assert_int_equal(h2_looks_like_frames(buf, n, n), 0);
	n = frame(buf, H2_DATA, 0, 0, "x", 1);
	assert_int_equal(h2_looks_like_frames(buf, n, n), 0);
	n = frame(buf, H2_PING, 0, 1, "01234567", 8);
	assert_int_equal(h2_looks_like_frames(buf, n, n), 0);
	n = frame(buf, 0x0b, 0, 0, "", 0);
	assert_int_equal(h2_looks_like_frames(buf, n, n), 0);
	assert_int_equal(h2_looks_like_frames(buf, 0, 0), 0);
}

/* HTTP2-Settings of h2c upgrade requests: nghttp's and curl's (no table
 * size), table sizes (the last one wins), and what is not a SETTINGS
 * payload in base64url. */
static void test_upgrade_settings(void **state)
{
	static const char *const bad[] = {
		"A", "AAMAAABkAAQ", "AAMA*ABkAAQAAP__", "AAMAAABkAAQAAP/+", "AAMA AABk",
		"AAMAAABkAAQAAP__A", "AAEAAAA",
	};
	uint32_t v = 7;

	(void)state;
	assert_int_equal(h2_upgrade_settings("AAMAAABkAAQAAP__", 16, &v), 0);
	assert_int_equal(h2_upgrade_settings("AAMAAABkAAQCAAAAAAIAAAAA", 24, &v), 0);
	assert_int_equal(h2_upgrade_settings("", 0, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(h2_upgrade_settings("AAMAAABkAAEAAQAAAAEAAAEA", 24, &v), 1);
	assert_int_equal(v, 256);
	assert_int_equal(h2_upgrade_settings("AAEAAAAA", 8, &v), 1);
	assert_int_equal(v, 0);
	assert_int_equal(h2_upgrade_settings("AAH____-", 8, &v), 1);
	assert_int_equal(v, 0xfffffffe);
	/* Only the given length is read. */
	assert_int_equal(h2_upgrade_settings("AAEAAAAAxyz", 8, &v), 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(h2_upgrade_settings(bad[i], strlen(bad[i]), &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_hdr),
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_cuts),
		cmocka_unit_test(test_preface),
		cmocka_unit_test(test_recognizer),
		cmocka_unit_test(test_upgrade_settings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
