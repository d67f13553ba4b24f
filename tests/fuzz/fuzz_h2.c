// SPDX-License-Identifier: Apache-2.0
/* HTTP/2 frames and HPACK, as arbitrary bytes: through the frame parser and
 * the recognizer, through an HPACK decoder as one header block, and as a
 * conversation through the session tracker.
 * Input: one mode byte (bit 0: session from the connection start, bits 1-2:
 * its role), then records, each a flags byte (bit 0: written by the traced
 * process, bit 1: only half of it captured), a 2-byte little-endian length
 * and that many bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h2session.h"
#include "ids.h"

static struct span span;

static struct span *f_alloc(void *ctx)
{
	(void)ctx;
	return &span;
}

static void f_submit(void *ctx, struct span *s)
{
	(void)ctx;
	/* Every finished span is whole: a name, and attributes that fit. */
	if (!s->name[0] || s->nattrs > SPAN_MAX_ATTRS || s->strused > SPAN_STRBUF)
		abort();
}

static void frames(const uint8_t *p, size_t n)
{
	struct h2_frame f;
	size_t off = 0;
	int k;

	(void)h2_looks_like_frames(p, n, n);
	(void)h2_is_preface(p, n);
	while (off < n) {
		k = h2_parse_frame(p + off, n - off, H2_MAX_FRAME_LIMIT, &f);
		if (k <= 0)
			break;
		if (f.payload + f.payload_len > p + off + k)
			abort();
		off += k;
	}
}

static void hpack_block(const uint8_t *p, size_t n, bool midstream)
{
	static struct hpack_decoder d;
	static char out[4096];
	struct hpack_field f;
	size_t off = 0;
	int k;

	if (midstream)
		hpack_decoder_init_midstream(&d, HPACK_RING);
	else
		hpack_decoder_init(&d, HPACK_DEFAULT_TABLE, n & 1 ? 256 : HPACK_RING);
	hpack_decoder_begin_block(&d);
	while (off < n) {
		k = hpack_decode_field(&d, p + off, n - off, out, sizeof(out), &f);
		if (k <= 0)
			break;
		if (f.name_len + f.value_len > sizeof(out) || d.size > d.cap)
			abort();
		off += k;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct h2_ctx *c;
	struct h1_conn_info ci;
	static const uint8_t lo[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };
	size_t off = 1;
	uint64_t now = 1;
	int32_t s;

	if (!c) {
		struct h1_sink sink = { f_alloc, f_submit, NULL };

		ids_init();
		c = h2_ctx_new(2, 256, 2, sink);
		if (!c)
			abort();
	}
	if (size < 1)
		return 0;
	frames(data + 1, size - 1);
	hpack_block(data + 1, size - 1, data[0] & 8);

	ci = (struct h1_conn_info){
		.conn_id = 1, .pid = 2, .local_addr = lo, .peer_addr = lo,
		.local_port = 1000, .peer_port = 2000, .seen_open = data[0] & 1,
	};
	s = h2_session_open(c, data[0] & 1, (data[0] >> 1) % 3);
	if (s < 0)
		abort();
	while (off + 3 <= size) {
		uint8_t flags = data[off];
		size_t len = data[off + 1] | (size_t)data[off + 2] << 8;
		struct h1_chunk ch;
		char *rec;

		off += 3;
		if (len > size - off)
			len = size - off;
		/* An exact-size copy: reading past it is caught by ASan. */
		rec = malloc(len ? len : 1);
		memcpy(rec, data + off, len);
		ch.data = rec;
		ch.len = len;
		ch.cap_len = flags & 2 ? len / 2 : len;
		ch.start_ns = now;
		ch.end_ns = now + 1;
		ch.tid = 3;
		now += 2;
		h2_session_feed(c, s, &ci, flags & 1, &ch);
		free(rec);
		off += len;
	}
	h2_session_close(c, s, &ci);
	return 0;
}
