// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "h2.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int h2_parse_frame_hdr(const uint8_t *buf, size_t len, struct h2_frame_hdr *h)
{
	if (len < H2_FRAME_HDR)
		return -2;
	h->length = (uint32_t)buf[0] << 16 | (uint32_t)buf[1] << 8 | buf[2];
	h->type = buf[3];
	h->flags = buf[4];
	h->stream = be32(buf + 5) & 0x7fffffff;
	return H2_FRAME_HDR;
}

int h2_frame_hdr_check(const struct h2_frame_hdr *h, uint32_t max_frame)
{
	if (h->length > max_frame)
		return -1;
	switch (h->type) {
	case H2_DATA:
	case H2_HEADERS:
	case H2_CONTINUATION:
	case H2_PUSH_PROMISE:
		if (!h->stream)
			return -1;
		break;
	case H2_PRIORITY:
		if (!h->stream || h->length != 5)
			return -1;
		break;
	case H2_RST_STREAM:
		if (!h->stream || h->length != 4)
			return -1;
		break;
	case H2_SETTINGS:
		if (h->stream || h->length % 6 || ((h->flags & H2_FLAG_ACK) && h->length))
			return -1;
		break;
	case H2_PING:
		if (h->stream || h->length != 8)
			return -1;
		break;
	case H2_GOAWAY:
		if (h->stream || h->length < 8)
			return -1;
		break;
	case H2_WINDOW_UPDATE:
		if (h->length != 4)
			return -1;
		break;
	default:
		break;	/* unknown types are ignored by receivers */
	}
	if (h->length < h2_frame_prefix_len(h))
		return -1;
	return 0;
}

uint32_t h2_frame_prefix_len(const struct h2_frame_hdr *h)
{
	uint32_t n = 0;

	switch (h->type) {
	case H2_DATA:
		n = h->flags & H2_FLAG_PADDED ? 1 : 0;
		break;
	case H2_HEADERS:
		n = (h->flags & H2_FLAG_PADDED ? 1 : 0) + (h->flags & H2_FLAG_PRIORITY ? 5 : 0);
		break;
	case H2_PUSH_PROMISE:
		n = (h->flags & H2_FLAG_PADDED ? 1 : 0) + 4;
		break;
	default:
		break;
	}
	return n;
}

int h2_parse_frame(const uint8_t *buf, size_t len, uint32_t max_frame, struct h2_frame *f)
{
	const uint8_t *p;
	uint32_t n, pre;

	memset(f, 0, sizeof(*f));
	if (h2_parse_frame_hdr(buf, len, &f->hdr) < 0)
		return -2;
	if (h2_frame_hdr_check(&f->hdr, max_frame) < 0)
		return -1;
	if (len - H2_FRAME_HDR < f->hdr.length)
		return -2;
	p = buf + H2_FRAME_HDR;
	n = f->hdr.length;
	pre = h2_frame_prefix_len(&f->hdr);
	switch (f->hdr.type) {
	case H2_DATA:
	case H2_HEADERS:
	case H2_PUSH_PROMISE:
		if (f->hdr.flags & H2_FLAG_PADDED) {
			f->pad_len = p[0];
			/* 6.1: padding as long as the payload is an error */
			if (f->pad_len > n - pre)
				return -1;
		}
		if (f->hdr.type == H2_HEADERS && (f->hdr.flags & H2_FLAG_PRIORITY)) {
			const uint8_t *q = p + (f->hdr.flags & H2_FLAG_PADDED ? 1 : 0);

			f->has_priority = true;
			f->exclusive = q[0] >> 7;
			f->depends_on = be32(q) & 0x7fffffff;
			f->weight = q[4];
		}
		if (f->hdr.type == H2_PUSH_PROMISE)
			f->promised = be32(p + pre - 4) & 0x7fffffff;
		f->payload = p + pre;
		f->payload_len = n - pre - f->pad_len;
		break;
	case H2_PRIORITY:
		f->has_priority = true;
		f->exclusive = p[0] >> 7;
		f->depends_on = be32(p) & 0x7fffffff;
		f->weight = p[4];
		f->payload = p;
		f->payload_len = n;
		break;
	case H2_RST_STREAM:
		f->error_code = be32(p);
		f->payload = p;
		f->payload_len = n;
		break;
	case H2_GOAWAY:
		f->last_stream = be32(p) & 0x7fffffff;
		f->error_code = be32(p + 4);
		f->payload = p;
		f->payload_len = n;
		break;
	case H2_WINDOW_UPDATE:
		f->window_increment = be32(p) & 0x7fffffff;
		f->payload = p;
		f->payload_len = n;
		break;
	default:
		f->payload = p;
		f->payload_len = n;
		break;
	}
	return H2_FRAME_HDR + n;
}

int h2_is_preface(const uint8_t *buf, size_t len)
{
	size_t n = len < H2_PREFACE_LEN ? len : H2_PREFACE_LEN;

	if (!len || memcmp(buf, H2_PREFACE, n))
		return 0;
	return len >= H2_PREFACE_LEN ? 1 : -2;
}

/* Flags each type defines; a sender sets no other. */
static const uint8_t defined_flags[H2_TYPE_MAX] = {
	[H2_DATA] = H2_FLAG_END_STREAM | H2_FLAG_PADDED,
	[H2_HEADERS] = H2_FLAG_END_STREAM | H2_FLAG_END_HEADERS | H2_FLAG_PADDED |
		       H2_FLAG_PRIORITY,
	[H2_PRIORITY] = 0,
	[H2_RST_STREAM] = 0,
	[H2_SETTINGS] = H2_FLAG_ACK,
	[H2_PUSH_PROMISE] = H2_FLAG_END_HEADERS | H2_FLAG_PADDED,
	[H2_PING] = H2_FLAG_ACK,
	[H2_GOAWAY] = 0,
	[H2_WINDOW_UPDATE] = 0,
	[H2_CONTINUATION] = H2_FLAG_END_HEADERS,
};

int h2_looks_like_frames(const uint8_t *buf, size_t len, uint64_t total)
{
	struct h2_frame_hdr h;
	uint64_t off = 0, end;
	unsigned whole = 0;

	if (total < len)
		total = len;
	while (off < total) {
		/* A header we cannot see: the run so far must be enough. */
		if (off + H2_FRAME_HDR > len)
			return whole >= 2;
		h2_parse_frame_hdr(buf + off, len - off, &h);
		if (h.type >= H2_TYPE_MAX || (h.flags & ~defined_flags[h.type]) ||
		    h2_frame_hdr_check(&h, H2_DEFAULT_MAX_FRAME) < 0 ||
		    (buf[off + 5] & 0x80))
			return 0;
		end = off + H2_FRAME_HDR + h.length;
		if (end > total)
			return whole >= 2;
		whole++;
		off = end;
	}
	return whole >= 1;
}

const char *h2_error_name(uint32_t code)
{
	static const char *const names[] = {
		"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
		"SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
		"CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
		"INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
	};

	return code < sizeof(names) / sizeof(names[0]) ? names[code] : "UNKNOWN";
}

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int h2_upgrade_settings(const char *v, size_t len, uint32_t *table_size)
{
	uint8_t set[6];
	unsigned nset = 0, bits = 0;
	uint32_t acc = 0, value;
	uint16_t id;
	int found = 0, d;

	/* Padding is not sent, but tolerated. */
	while (len && v[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		d = b64url_value(v[i]);
		if (d < 0)
			return -1;
		acc = (acc << 6 | (uint32_t)d) & 0xfff;
		bits += 6;
		if (bits < 8)
			continue;
		bits -= 8;
		set[nset++] = acc >> bits & 0xff;
		if (nset < sizeof(set))
			continue;
		nset = 0;
		h2_setting(set, &id, &value);
		if (id == H2_SETTINGS_HEADER_TABLE_SIZE) {
			*table_size = value;
			found = 1;
		}
	}
	/* A SETTINGS payload is whole parameters; leftover bits are zero. */
	if (nset || (acc & ((1u << bits) - 1)))
		return -1;
	return found;
}
