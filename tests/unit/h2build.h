/* SPDX-License-Identifier: Apache-2.0 */
/* Building HTTP/2 frames and HPACK header blocks byte by byte, for the unit
 * tests that feed them to the session parser. */
#ifndef __KSPAN_TEST_H2BUILD_H
#define __KSPAN_TEST_H2BUILD_H

#include <stdint.h>
#include <string.h>

struct bytes {
	uint8_t b[20000];
	size_t n;
};

static inline void put(struct bytes *o, const void *p, size_t n)
{
	assert_true(o->n + n <= sizeof(o->b));
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

/* An HPACK integer with a prefix of `prefix` bits in a first byte whose
 * other bits are `first` (RFC 7541, 5.1). */
static inline void put_int(struct bytes *o, uint8_t first, unsigned prefix, uint32_t v)
{
	uint32_t max = (1u << prefix) - 1;
	uint8_t c;

	if (v < max) {
		c = first | v;
		put(o, &c, 1);
		return;
	}
	c = first | max;
	put(o, &c, 1);
	for (v -= max; v >= 128; v >>= 7) {
		c = 0x80 | (v & 0x7f);
		put(o, &c, 1);
	}
	c = v;
	put(o, &c, 1);
}

/* An HPACK string literal, not Huffman-coded. */
static inline void put_str(struct bytes *o, const char *s)
{
	put_int(o, 0, 7, strlen(s));
	put(o, s, strlen(s));
}

static inline void frame(struct bytes *o, uint8_t type, uint8_t flags, uint32_t stream,
			 const void *payload, uint32_t len)
{
	uint8_t h[9] = { len >> 16, len >> 8, len, type, flags,
			 stream >> 24, stream >> 16, stream >> 8, stream };

	put(o, h, 9);
	put(o, payload, len);
}

#endif /* __KSPAN_TEST_H2BUILD_H */
