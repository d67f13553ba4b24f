// SPDX-License-Identifier: Apache-2.0
/* HPACK decoder: every example of RFC 7541 Appendix C (C.2 to C.6, with and
 * without Huffman, with the dynamic table checked after each block), the
 * Huffman code, malformed input, decoding joined mid-connection, a ring
 * smaller than the peer's table, and blocks cut at every point against a
 * guard page. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "guard.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hpack.h"


/* ---- helpers ---- */

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		int v;

		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			assert_true(n < cap);
			out[n++] = hi << 4 | v;
			hi = -1;
		}
	}
	assert_int_equal(hi, -1);
	return n;
}

struct hf {
	const char *name;
	const char *value;
};

#define MAXF 16
static char names[MAXF][256], values[MAXF][256];
static uint8_t fflags[MAXF];

/* Decode a whole block; returns the fields decoded, or -1 on an error. */
static int decode_block(struct hpack_decoder *d, const uint8_t *p, size_t len)
{
	char out[4096];
	struct hpack_field f;
	size_t off = 0;
	int n = 0, k;

	hpack_decoder_begin_block(d);
	while (off < len) {
		k = hpack_decode_field(d, p + off, len - off, out, sizeof(out), &f);
		if (k < 0)
			return -1;
		off += k;
		if (f.flags & HPACK_F_SIZE_UPDATE)
			continue;
		assert_true(n < MAXF);
		snprintf(names[n], sizeof(names[n]), "%.*s", (int)f.name_len, f.name);
		snprintf(values[n], sizeof(values[n]), "%.*s", (int)f.value_len, f.value);
		fflags[n] = f.flags;
		n++;
	}
	return n;
}

static int decode_hex(struct hpack_decoder *d, const char *hex)
{
	uint8_t buf[512];
	size_t n = unhex(hex, buf, sizeof(buf));

	return decode_block(d, buf, n);
}

static void check_fields(int n, const struct hf *want, int nwant)
{
	assert_int_equal(n, nwant);
	for (int i = 0; i < n; i++) {
		assert_string_equal(names[i], want[i].name);
		assert_string_equal(values[i], want[i].value);
	}
}

static void piece_str(const struct hpack_piece *p, char *out, size_t cap)
{
	assert_true(p->n[0] + p->n[1] < cap);
	memcpy(out, p->p[0], p->n[0]);
	memcpy(out + p->n[0], p->p[1], p->n[1]);
	out[p->n[0] + p->n[1]] = '\0';
}

/* The dynamic table, newest first, and its size. */
static void check_table(const struct hpack_decoder *d, const struct hf *want, int nwant,
			uint32_t size)
{
	struct hpack_piece np, vp;
	char name[256], value[256];

	assert_int_equal(hpack_table_count(d), nwant);
	for (int i = 0; i < nwant; i++) {
		assert_true(hpack_table_get(d, i, &np, &vp));
		piece_str(&np, name, sizeof(name));
		piece_str(&vp, value, sizeof(value));
		assert_string_equal(name, want[i].name);
		assert_string_equal(value, want[i].value);
	}
	assert_false(hpack_table_get(d, nwant, &np, &vp));
	assert_int_equal(hpack_table_size(d), size);
}

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- C.2: one representation each ---- */

static void test_c2(void **state)
{
	struct hpack_decoder d;
	static const struct hf f1[] = { { "custom-key", "custom-header" } };
	static const struct hf f2[] = { { ":path", "/sample/path" } };
	static const struct hf f3[] = { { "password", "secret" } };
	static const struct hf f4[] = { { ":method", "GET" } };

	(void)state;
	hpack_decoder_init(&d, 4096, HPACK_RING);
	check_fields(decode_hex(&d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
		     f1, 1);
	check_table(&d, f1, 1, 55);

	hpack_decoder_init(&d, 4096, HPACK_RING);
	check_fields(decode_hex(&d, "040c 2f73 616d 706c 652f 7061 7468"), f2, 1);
	check_table(&d, NULL, 0, 0);

	hpack_decoder_init(&d, 4096, HPACK_RING);
	check_fields(decode_hex(&d, "1008 7061 7373 776f 7264 0673 6563 7265 74"), f3, 1);
	assert_true(fflags[0] & HPACK_F_NEVER_INDEXED);
	check_table(&d, NULL, 0, 0);

	hpack_decoder_init(&d, 4096, HPACK_RING);
	check_fields(decode_hex(&d, "82"), f4, 1);
	check_table(&d, NULL, 0, 0);
}

/* ---- C.3 and C.4: requests ---- */

static const struct hf req1[] = {
	{ ":method", "GET" }, { ":scheme", "http" }, { ":path", "/" },
	{ ":authority", "www.example.com" },
};
static const struct hf req2[] = {
	{ ":method", "GET" }, { ":scheme", "http" }, { ":path", "/" },
	{ ":authority", "www.example.com" }, { "cache-control", "no-cache" },
};
static const struct hf req3[] = {
	{ ":method", "GET" }, { ":scheme", "https" }, { ":path", "/index.html" },
	{ ":authority", "www.example.com" }, { "custom-key", "custom-value" },
};
static const struct hf reqt1[] = { { ":authority", "www.example.com" } };
static const struct hf reqt2[] = {
	{ "cache-control", "no-cache" }, { ":authority", "www.example.com" },
};
static const struct hf reqt3[] = {
	{ "custom-key", "custom-value" }, { "cache-control", "no-cache" },
	{ ":authority", "www.example.com" },
};

static const char *const c3[] = {
	"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
	"8286 84be 5808 6e6f 2d63 6163 6865",
	"8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
};
static const char *const c4[] = {
	"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
	"8286 84be 5886 a8eb 1064 9cbf",
	"8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
};

static void run_requests(const char *const *blocks)
{
	struct hpack_decoder d;

	hpack_decoder_init(&d, 4096, HPACK_RING);
	check_fields(decode_hex(&d, blocks[0]), req1, N(req1));
	check_table(&d, reqt1, N(reqt1), 57);
	check_fields(decode_hex(&d, blocks[1]), req2, N(req2));
	check_table(&d, reqt2, N(reqt2), 110);
	check_fields(decode_hex(&d, blocks[2]), req3, N(req3));
	check_table(&d, reqt3, N(reqt3), 164);
}

static void test_c3(void **state)
{
	(void)state;
	run_requests(c3);
}

static void test_c4(void **state)
{
	(void)state;
	run_requests(c4);
}

/* ---- C.5 and C.6: responses, a 256-byte table, eviction ---- */

#define DATE1 "Mon, 21 Oct 2013 20:13:21 GMT"
#define DATE2 "Mon, 21 Oct 2013 20:13:22 GMT"
#define LOC "https://www.example.com"
#define COOKIE "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"

static const struct hf resp1[] = {
	{ ":status", "302" }, { "cache-control", "private" }, { "date", DATE1 },
	{ "location", LOC },
};
static const struct hf resp2[] = {
	{ ":status", "307" }, { "cache-control", "private" }, { "date", DATE1 },
	{ "location", LOC },
};
static const struct hf resp3[] = {
	{ ":status", "200" }, { "cache-control", "private" }, { "date", DATE2 },
	{ "location", LOC }, { "content-encoding", "gzip" }, { "set-cookie", COOKIE },
};
static const struct hf respt1[] = {
	{ "location", LOC }, { "date", DATE1 }, { "cache-control", "private" },
	{ ":status", "302" },
};
static const struct hf respt2[] = {
	{ ":status", "307" }, { "location", LOC }, { "date", DATE1 },
	{ "cache-control", "private" },
};
static const struct hf respt3[] = {
	{ "set-cookie", COOKIE }, { "content-encoding", "gzip" }, { "date", DATE2 },
};

static const char *const c5[] = {
	"4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
	"2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70"
	"6c65 2e63 6f6d",
	"4803 3330 37c1 c0bf",
	"88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d"
	"54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049"
	"5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e"
	"3d31",
};
static const char *const c6[] = {
	"4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
	"2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
	"4883 640e ffc1 c0bf",
	"88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab"
	"77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
	"9587 3160 65c0 03ed 4ee5 b106 3d50 07",
};

static void run_responses(const char *const *blocks)
{
	struct hpack_decoder d;

	hpack_decoder_init(&d, 256, HPACK_RING);
	check_fields(decode_hex(&d, blocks[0]), resp1, N(resp1));
	check_table(&d, respt1, N(respt1), 222);
	check_fields(decode_hex(&d, blocks[1]), resp2, N(resp2));
	check_table(&d, respt2, N(respt2), 222);
	check_fields(decode_hex(&d, blocks[2]), resp3, N(resp3));
	check_table(&d, respt3, N(respt3), 215);
}

static void test_c5(void **state)
{
	(void)state;
	run_responses(c5);
}

static void test_c6(void **state)
{
	(void)state;
	run_responses(c6);
}

/* The same examples with a ring of only 256 bytes while the peer keeps 4096
 * (C.3), and the responses with the ring matching the peer exactly (C.5). */
static void test_small_ring(void **state)
{
	struct hpack_decoder d;
	static const struct hf newest[] = { { "custom-key", "custom-value" } };

	(void)state;
	hpack_decoder_init(&d, 4096, 110);
	check_fields(decode_hex(&d, c3[0]), req1, N(req1));
	check_fields(decode_hex(&d, c3[1]), req2, N(req2));
	check_table(&d, reqt2, N(reqt2), 110);
	/* The third adds 54 bytes: the oldest goes from our ring, not the
	 * peer's table. Its index (64) is now unknown, never an error. */
	check_fields(decode_hex(&d, c3[2]), req3, N(req3));
	assert_true(d.partial);
	assert_int_equal(hpack_table_count(&d), 2);
	assert_int_equal(decode_hex(&d, "c0"), 1);
	assert_true(fflags[0] & HPACK_F_NAME_UNKNOWN);
	check_fields(decode_hex(&d, "be"), newest, 1);
	check_fields(decode_hex(&d, "bf"), reqt2, 1);
}

/* ---- Huffman ---- */

/* Codes from RFC 7541 Appendix B, checked against the decoder one by one. */
static const struct {
	int sym;
	uint32_t code;
	int len;
} rfc_codes[] = {
	{ 0, 0x1ff8, 13 }, { 1, 0x7fffd8, 23 }, { 9, 0xffffea, 24 },
	{ 10, 0x3ffffffc, 30 }, { 13, 0x3ffffffd, 30 }, { 22, 0x3ffffffe, 30 },
	{ ' ', 0x14, 6 }, { '0', 0x0, 5 }, { ':', 0x5c, 7 }, { '<', 0x7ffc, 15 },
	{ '\\', 0x7fff0, 19 }, { 'a', 0x3, 5 }, { 'z', 0x7b, 7 }, { '~', 0x1ffd, 13 },
	{ 127, 0xffffffc, 28 }, { 128, 0xfffe6, 20 }, { 153, 0x1fffdc, 21 },
	{ 199, 0x1ffffec, 25 }, { 203, 0x7ffffde, 27 }, { 220, 0xffffffd, 28 },
	{ 249, 0xffffffe, 28 }, { 254, 0x7fffff0, 27 }, { 255, 0x3ffffee, 26 },
};

/* Pack codes MSB-first and pad with ones. */
static size_t pack(const uint32_t *codes, const int *lens, int n, uint8_t *out)
{
	uint64_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (int i = 0; i < n; i++) {
		acc = acc << lens[i] | codes[i];
		bits += lens[i];
		while (bits >= 8) {
			out[o++] = acc >> (bits - 8);
			bits -= 8;
		}
	}
	if (bits)
		out[o++] = (acc << (8 - bits)) | ((1u << (8 - bits)) - 1);
	return o;
}

static void test_huffman_codes(void **state)
{
	uint8_t buf[16];
	char out[8];

	(void)state;
	for (size_t i = 0; i < sizeof(rfc_codes) / sizeof(rfc_codes[0]); i++) {
		uint32_t code[2] = { rfc_codes[i].code, 0x3 };	/* then 'a' */
		int len[2] = { rfc_codes[i].len, 5 };
		size_t n = pack(code, len, 2, buf);

		assert_int_equal(hpack_huffman_decode(buf, n, out, sizeof(out)), 2);
		assert_int_equal((uint8_t)out[0], rfc_codes[i].sym);
		assert_int_equal(out[1], 'a');
	}
}

static void test_huffman_errors(void **state)
{
	/* EOS as a symbol */
	static const uint8_t eos[] = { 0xff, 0xff, 0xff, 0xff };
	/* 'a' (00011) then 3 padding bits of zeros */
	static const uint8_t zero_pad[] = { 0x18 };
	/* 'a' then 11 bits of ones: padding longer than 7 bits */
	static const uint8_t long_pad[] = { 0x1f, 0xff };
	/* "www.example.com" less its last byte still decodes a prefix or fails,
	 * never reads on */
	char out[64];

	(void)state;
	assert_int_equal(hpack_huffman_decode(eos, sizeof(eos), out, sizeof(out)), -1);
	assert_int_equal(hpack_huffman_decode(zero_pad, 1, out, sizeof(out)), -1);
	assert_int_equal(hpack_huffman_decode(long_pad, 2, out, sizeof(out)), -1);
	assert_int_equal(hpack_huffman_decode((const uint8_t *)"\x1f", 1, out, sizeof(out)), 1);
	assert_int_equal(hpack_huffman_decode(NULL, 0, out, sizeof(out)), 0);
	/* A cap shorter than the output: the length still comes back. */
	assert_int_equal(hpack_huffman_decode((const uint8_t *)"\xf1\xe3\xc2\xe5\xf2\x3a\x6b"
					      "\xa0\xab\x90\xf4\xff", 12, out, 3), 15);
	assert_memory_equal(out, "www", 3);
}

/* ---- malformed blocks ---- */

static int decode_bytes(struct hpack_decoder *d, const char *b, size_t n)
{
	return decode_block(d, (const uint8_t *)b, n);
}

static void test_malformed(void **state)
{
	struct hpack_decoder d;
	uint32_t v;

	(void)state;
	/* index 0 */
	hpack_decoder_init(&d, 4096, HPACK_RING);
	assert_int_equal(decode_bytes(&d, "\x80", 1), -1);
	assert_int_equal(d.error, HPACK_ERR_INDEX);
	/* sticky */
	assert_int_equal(decode_bytes(&d, "\x82", 1), -1);
	/* an index past an empty table that we know whole */
	hpack_decoder_init(&d, 4096, HPACK_RING);
	assert_int_equal(decode_bytes(&d, "\xbe", 1), -1);
	assert_int_equal(d.error, HPACK_ERR_INDEX);
	/* a literal naming an index past it */
	hpack_decoder_init(&d, 4096, HPACK_RING);
	assert_int_equal(decode_bytes(&d, "\x7f\x00\x01x", 4), -1);
	/* integer overflow: 2^28 and beyond */
	hpack_decoder_init(&d, 4096, HPACK_RING);
	assert_int_equal(decode_bytes(&d, "\xff\xff\xff\xff\xff\x0f", 6), -1);
	assert_int_equal(d.error, HPACK_ERR_INTEGER);
	assert_int_equal(hpack_decode_int((const uint8_t *)"\x1f\x80\x80\x80\x80\x01", 6, 5, &v), -1);
	assert_int_equal(hpack_decode_int((const uint8_t *)"\x1f\x9a\x0a", 3, 5, &v), 3);
	assert_int_equal(v, 1337);	/* C.1.2 */
	assert_int_equal(hpack_decode_int((const uint8_t *)"\x1f\x9a", 2, 5, &v), -2);
	/* a string longer than the block */
	hpack_decoder_init(&d, 4096, HPACK_RING);
	assert_int_equal(decode_bytes(&d, "\x40\x05" "ab", 4), -1);
	/* Huffman EOS inside a value */
	hpack_decoder_init(&d, 4096, HPACK_RING);
	assert_int_equal(decode_bytes(&d, "\x00\x01x\x84\xff\xff\xff\xff", 8), -1);
	assert_int_equal(d.error, HPACK_ERR_HUFFMAN);
	/* Huffman padding of zeros */
	hpack_decoder_init(&d, 4096, HPACK_RING);
	assert_int_equal(decode_bytes(&d, "\x00\x01x\x81\x18", 5), -1);
	/* a size update above the limit */
	hpack_decoder_init(&d, 4096, HPACK_RING);
	assert_int_equal(decode_bytes(&d, "\x3f\xe2\x1f", 3), -1);	/* 4097 */
	assert_int_equal(d.error, HPACK_ERR_SIZE_UPDATE);
	/* ...at the limit is fine, and so are two in a row */
	hpack_decoder_init(&d, 4096, HPACK_RING);
	assert_int_equal(decode_bytes(&d, "\x20\x3f\xe1\x1f\x82", 5), 1);
	/* a size update after a field */
	hpack_decoder_init(&d, 4096, HPACK_RING);
	assert_int_equal(decode_bytes(&d, "\x82\x20", 2), -1);
	assert_int_equal(d.error, HPACK_ERR_SIZE_UPDATE);
	/* reset clears the error and forgets the table */
	hpack_decoder_reset(&d);
	assert_int_equal(decode_bytes(&d, "\x82", 1), 1);
	assert_true(d.partial);
}

/* A size update evicts, and a larger SETTINGS value allows a larger one. */
static void test_size_update(void **state)
{
	struct hpack_decoder d;

	(void)state;
	hpack_decoder_init(&d, 4096, HPACK_RING);
	assert_int_equal(decode_hex(&d, c3[0]), 4);
	assert_int_equal(decode_hex(&d, c3[1]), 5);
	check_table(&d, reqt2, 2, 110);
	/* 0x3f 0x19 = 56: room for neither entry (53 + 57) but the newest */
	assert_int_equal(decode_bytes(&d, "\x3f\x19", 2), 0);
	check_table(&d, reqt2, 1, 53);
	assert_false(d.partial);
	assert_int_equal(decode_bytes(&d, "\x20", 1), 0);
	check_table(&d, NULL, 0, 0);
	hpack_decoder_set_limit(&d, 8192);
	assert_int_equal(decode_bytes(&d, "\x3f\xe1\x3f", 3), 0);	/* 8192 */
	assert_int_equal(d.max_size, 8192);
	/* An entry larger than the table empties it, for both ends. */
	hpack_decoder_init(&d, 60, HPACK_RING);
	assert_int_equal(decode_hex(&d, c3[0]), 4);
	check_table(&d, reqt1, 1, 57);
	/* date: Mon, 21 Oct 2013 20:13:21 GMT is 65 bytes */
	assert_int_equal(decode_hex(&d, "611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032"
				    "303a 3133 3a32 3120 474d 54"), 1);
	check_table(&d, NULL, 0, 0);
	assert_false(d.partial);
	assert_int_equal(decode_bytes(&d, "\xbe", 1), -1);
}

/* ---- joined mid-connection ---- */

static void test_midstream(void **state)
{
	struct hpack_decoder d;
	static const struct hf t1[] = { { ":authority", "www.example.com" } };

	(void)state;
	hpack_decoder_init_midstream(&d, HPACK_RING);
	/* The second request of C.3: 0xbe names an entry we never saw. */
	assert_int_equal(decode_hex(&d, c3[1]), 5);
	assert_string_equal(names[0], ":method");
	assert_string_equal(names[1], ":scheme");
	assert_string_equal(names[2], ":path");
	assert_string_equal(names[3], "");
	assert_true(fflags[3] & HPACK_F_NAME_UNKNOWN);
	assert_true(fflags[3] & HPACK_F_VALUE_UNKNOWN);
	assert_string_equal(names[4], "cache-control");
	assert_string_equal(values[4], "no-cache");
	assert_int_equal(d.unknown_refs, 1);
	/* What it added is known: cache-control is now index 62. */
	check_fields(decode_hex(&d, "be"), (const struct hf[]){ { "cache-control", "no-cache" } },
		     1);
	/* 63 and on are unknown, not errors. */
	assert_int_equal(decode_hex(&d, "bf"), 1);
	assert_true(fflags[0] & HPACK_F_NAME_UNKNOWN);
	/* A literal naming an unknown entry: its value comes through, the
	 * table is dropped (the new entry's size is unknown). */
	assert_int_equal(decode_hex(&d, "7f01 0378 7878"), 1);
	assert_true(fflags[0] & HPACK_F_NAME_UNKNOWN);
	assert_false(fflags[0] & HPACK_F_VALUE_UNKNOWN);
	assert_string_equal(values[0], "xxx");
	assert_int_equal(hpack_table_count(&d), 0);
	/* A size update to zero, then back: nothing unknown is left. */
	assert_int_equal(decode_bytes(&d, "\x20\x3f\xe1\x1f", 4), 0);
	assert_false(d.partial);
	assert_int_equal(decode_hex(&d, c3[0]), 4);
	check_table(&d, t1, 1, 57);
	assert_int_equal(decode_bytes(&d, "\xbf", 1), -1);

	/* A lost block: what we held no longer sits at known indices. */
	hpack_decoder_init(&d, 4096, HPACK_RING);
	assert_int_equal(decode_hex(&d, c3[0]), 4);
	hpack_decoder_desync(&d);
	assert_int_equal(decode_hex(&d, "be"), 1);
	assert_true(fflags[0] & HPACK_F_NAME_UNKNOWN);
	assert_int_equal(decode_hex(&d, "82"), 1);
	assert_string_equal(values[0], "GET");
}

/* A field longer than the output buffer: cut and flagged; the entry it
 * adds cannot be held, so what follows it in the table is unknown. */
static void test_truncated_output(void **state)
{
	struct hpack_decoder d;
	uint8_t buf[64];
	size_t n = unhex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
			 buf, sizeof(buf));
	struct hpack_field f;
	char out[8];
	size_t off = 0;
	int k;

	(void)state;
	hpack_decoder_init(&d, 4096, HPACK_RING);
	hpack_decoder_begin_block(&d);
	while (off < n) {
		k = hpack_decode_field(&d, buf + off, n - off, out, sizeof(out), &f);
		assert_true(k > 0);
		off += k;
	}
	assert_true(f.flags & HPACK_F_TRUNCATED);
	assert_int_equal(f.name_len + f.value_len, 8);
	assert_memory_equal(f.name, "custom-k", 8);
	/* Cut: the peer has the entry, we do not. */
	assert_int_equal(hpack_table_count(&d), 0);
	assert_true(d.partial);
}

/* ---- every cut against a guard page ---- */

/* Decode blocks (in order, on one decoder) cutting each representation at
 * every point first: a cut gives -2 and leaves the decoder as it was. */
static void cut_everywhere(const char *const *blocks, int nblocks, uint32_t max)
{
	struct hpack_decoder d, ref;
	struct hpack_field f;
	struct guard g;
	uint8_t buf[512];
	char out[512];

	guard_init(&g, sizeof(buf));
	hpack_decoder_init(&d, max, HPACK_RING);
	for (int b = 0; b < nblocks; b++) {
		size_t n = unhex(blocks[b], buf, sizeof(buf)), off = 0;

		hpack_decoder_begin_block(&d);
		while (off < n) {
			int whole;

			for (size_t cut = 0; cut < n - off; cut++) {
				const uint8_t *p = guard_put(&g, buf + off, cut);
				int k;

				memcpy(&ref, &d, sizeof(d));
				k = hpack_decode_field(&d, p, cut, out, sizeof(out), &f);
				if (k > 0) {
					/* A whole representation within the cut:
					 * only possible once the cut reaches it. */
					memcpy(&d, &ref, sizeof(d));
					continue;
				}
				assert_int_equal(k, -2);
				assert_memory_equal(&ref, &d, sizeof(d));
			}
			whole = hpack_decode_field(&d, guard_put(&g, buf + off, n - off), n - off,
						   out, sizeof(out), &f);
			assert_true(whole > 0);
			off += whole;
		}
	}
	guard_free(&g);
}

static void test_cuts(void **state)
{
	(void)state;
	cut_everywhere(c3, 3, 4096);
	cut_everywhere(c4, 3, 4096);
	cut_everywhere(c5, 3, 256);
	cut_everywhere(c6, 3, 256);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_c2),
		cmocka_unit_test(test_c3),
		cmocka_unit_test(test_c4),
		cmocka_unit_test(test_c5),
		cmocka_unit_test(test_c6),
		cmocka_unit_test(test_small_ring),
		cmocka_unit_test(test_huffman_codes),
		cmocka_unit_test(test_huffman_errors),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_size_update),
		cmocka_unit_test(test_midstream),
		cmocka_unit_test(test_truncated_output),
		cmocka_unit_test(test_cuts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
