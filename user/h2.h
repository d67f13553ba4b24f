/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/2 framing (RFC 9113 section 4 and 6) over captured bytes.
 *
 * Like the other parsers: (buf, len) in, slices out, nothing allocated, never
 * a read past len. Return values: bytes consumed (> 0), -2 when more bytes
 * are needed, -1 when the bytes cannot be the frame they claim to be.
 */
#ifndef __KSPAN_H2_H
#define __KSPAN_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H2_FRAME_HDR		9
#define H2_PREFACE		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN		24
#define H2_DEFAULT_MAX_FRAME	16384	/* SETTINGS_MAX_FRAME_SIZE default */
#define H2_MAX_FRAME_LIMIT	16777215

enum h2_frame_type {
	H2_DATA = 0x0,
	H2_HEADERS = 0x1,
	H2_PRIORITY = 0x2,
	H2_RST_STREAM = 0x3,
	H2_SETTINGS = 0x4,
	H2_PUSH_PROMISE = 0x5,
	H2_PING = 0x6,
	H2_GOAWAY = 0x7,
	H2_WINDOW_UPDATE = 0x8,
	H2_CONTINUATION = 0x9,
	H2_TYPE_MAX,
};

#define H2_FLAG_END_STREAM	0x01	/* DATA, HEADERS */
#define H2_FLAG_ACK		0x01	/* SETTINGS, PING */
#define H2_FLAG_END_HEADERS	0x04	/* HEADERS, PUSH_PROMISE, CONTINUATION */
#define H2_FLAG_PADDED		0x08	/* DATA, HEADERS, PUSH_PROMISE */
#define H2_FLAG_PRIORITY	0x20	/* HEADERS */

#define H2_SETTINGS_HEADER_TABLE_SIZE	0x1
#define H2_SETTINGS_MAX_FRAME_SIZE	0x5

struct h2_frame_hdr {
	uint32_t length;	/* payload bytes, 24 bits */
	uint8_t type;		/* enum h2_frame_type, or unknown */
	uint8_t flags;
	uint32_t stream;	/* 31 bits; the reserved bit is dropped */
};

/* A whole frame with its padding and priority fields taken off. */
struct h2_frame {
	struct h2_frame_hdr hdr;
	const uint8_t *payload;		/* HEADERS, PUSH_PROMISE, CONTINUATION:
					 * the header block fragment; DATA: the
					 * data; others: the whole payload */
	uint32_t payload_len;
	uint8_t pad_len;		/* PADDED: padding bytes dropped */
	uint32_t promised;		/* PUSH_PROMISE: promised stream id */
	/* PRIORITY, or HEADERS with the PRIORITY flag */
	bool has_priority;
	bool exclusive;
	uint32_t depends_on;
	uint8_t weight;			/* as sent: weight - 1 */
	/* RST_STREAM and GOAWAY */
	uint32_t error_code;
	uint32_t last_stream;		/* GOAWAY */
	uint32_t window_increment;	/* WINDOW_UPDATE */
};

/* The 9-byte frame header. Returns 9 or -2. */
int h2_parse_frame_hdr(const uint8_t *buf, size_t len, struct h2_frame_hdr *h);

/* Whether a frame header is valid on its own (RFC 9113 section 6): stream id
 * zero or not as the type requires, fixed lengths, length within
 * max_frame. Unknown types pass (they must be ignored). 0 or -1. */
int h2_frame_hdr_check(const struct h2_frame_hdr *h, uint32_t max_frame);

/* Bytes of fields before the fragment or data (pad length, priority,
 * promised id) for a frame of this type and flags. */
uint32_t h2_frame_prefix_len(const struct h2_frame_hdr *h);

/* One whole frame at buf. Returns bytes consumed (9 + length), -2 if buf
 * holds less, -1 when invalid (header check, padding longer than the
 * payload). */
int h2_parse_frame(const uint8_t *buf, size_t len, uint32_t max_frame, struct h2_frame *f);

/* One SETTINGS parameter (6 bytes) at p. */
static inline void h2_setting(const uint8_t *p, uint16_t *id, uint32_t *value)
{
	*id = (uint16_t)(p[0] << 8 | p[1]);
	*value = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
}

/* The client connection preface: 1 when buf starts with all of it, -2 when
 * buf is a proper prefix of it, 0 when it is not the preface. */
int h2_is_preface(const uint8_t *buf, size_t len);

/* Sniff the bytes of one read or write seen mid-connection: 1 when they are
 * a run of plausible frames, 0 when not. The run must end exactly at `total`
 * (the bytes the syscall moved; len of them were captured), or hold at least
 * two whole frames before one that goes on past it. Frames must be of a
 * known type, with only defined flags and a valid header. */
int h2_looks_like_frames(const uint8_t *buf, size_t len, uint64_t total);
/* The HTTP2-Settings header of an h2c upgrade request (RFC 7540 3.2.1): a
 * SETTINGS payload in base64url. 1 with *table_size set when it holds
 * SETTINGS_HEADER_TABLE_SIZE (the last one wins), 0 when it does not, -1 when
 * it is not such a payload. */
int h2_upgrade_settings(const char *v, size_t len, uint32_t *table_size);

/* Name of an error code (RFC 9113 section 7), "UNKNOWN" past them. */
const char *h2_error_name(uint32_t code);

#endif /* __KSPAN_H2_H */
