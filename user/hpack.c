// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "hpack.h"

/* RFC 7541 Appendix A. */
static const struct {
	const char *name;
	const char *value;
} static_table[HPACK_STATIC_ENTRIES] = {
	{ ":authority", "" },
	{ ":method", "GET" },
	{ ":method", "POST" },
	{ ":path", "/" },
	{ ":path", "/index.html" },
	{ ":scheme", "http" },
	{ ":scheme", "https" },
	{ ":status", "200" },
	{ ":status", "204" },
	{ ":status", "206" },
	{ ":status", "304" },
	{ ":status", "400" },
	{ ":status", "404" },
	{ ":status", "500" },
	{ "accept-charset", "" },
	{ "accept-encoding", "gzip, deflate" },
	{ "accept-language", "" },
	{ "accept-ranges", "" },
	{ "accept", "" },
	{ "access-control-allow-origin", "" },
	{ "age", "" },
	{ "allow", "" },
	{ "authorization", "" },
	{ "cache-control", "" },
	{ "content-disposition", "" },
	{ "content-encoding", "" },
	{ "content-language", "" },
	{ "content-length", "" },
	{ "content-location", "" },
	{ "content-range", "" },
	{ "content-type", "" },
	{ "cookie", "" },
	{ "date", "" },
	{ "etag", "" },
	{ "expect", "" },
	{ "expires", "" },
	{ "from", "" },
	{ "host", "" },
	{ "if-match", "" },
	{ "if-modified-since", "" },
	{ "if-none-match", "" },
	{ "if-range", "" },
	{ "if-unmodified-since", "" },
	{ "last-modified", "" },
	{ "link", "" },
	{ "location", "" },
	{ "max-forwards", "" },
	{ "proxy-authenticate", "" },
	{ "proxy-authorization", "" },
	{ "range", "" },
	{ "referer", "" },
	{ "refresh", "" },
	{ "retry-after", "" },
	{ "server", "" },
	{ "set-cookie", "" },
	{ "strict-transport-security", "" },
	{ "transfer-encoding", "" },
	{ "user-agent", "" },
	{ "vary", "" },
	{ "via", "" },
	{ "www-authenticate", "" },
};

const char *hpack_static_name(uint32_t index, size_t *len)
{
	if (index < 1 || index > HPACK_STATIC_ENTRIES)
		return NULL;
	*len = strlen(static_table[index - 1].name);
	return static_table[index - 1].name;
}

const char *hpack_static_value(uint32_t index, size_t *len)
{
	if (index < 1 || index > HPACK_STATIC_ENTRIES)
		return NULL;
	*len = strlen(static_table[index - 1].value);
	return static_table[index - 1].value;
}

/*
 * Huffman code (RFC 7541 Appendix B): the code length of each symbol, 256 is
 * EOS. The code is canonical (shorter codes first, then by symbol value), so
 * the lengths alone define it.
 */
#define HUFF_SYMS	257
#define HUFF_MAXLEN	30
#define HUFF_EOS	256

static const uint8_t huff_len[HUFF_SYMS] = {
	/*   0 */ 13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
	/*  16 */ 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
	/*  32 */  6, 10, 10, 12, 13,  6,  8, 11, 10, 10,  8, 11,  8,  6,  6,  6,
	/*  48 */  5,  5,  5,  6,  6,  6,  6,  6,  6,  6,  7,  8, 15,  6, 12, 10,
	/*  64 */ 13,  6,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,
	/*  80 */  7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  8, 13, 19, 13, 14,  6,
	/*  96 */ 15,  5,  6,  5,  6,  5,  6,  6,  6,  5,  7,  7,  6,  6,  6,  5,
	/* 112 */  6,  7,  6,  5,  5,  6,  7,  7,  7,  7,  7, 15, 11, 14, 13, 28,
	/* 128 */ 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
	/* 144 */ 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
	/* 160 */ 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
	/* 176 */ 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
	/* 192 */ 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
	/* 208 */ 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
	/* 224 */ 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
	/* 240 */ 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
	/* EOS */ 30,
};

/* Canonical decoding tables, built once: for each length, how many codes it
 * has, and where its symbols start in the symbols sorted by (length, value). */
static struct {
	bool ready;
	uint16_t count[HUFF_MAXLEN + 1];
	uint16_t start[HUFF_MAXLEN + 1];
	uint16_t sym[HUFF_SYMS];
} huff;

static void huff_build(void)
{
	uint16_t pos[HUFF_MAXLEN + 1];

	memset(huff.count, 0, sizeof(huff.count));
	for (int s = 0; s < HUFF_SYMS; s++)
		huff.count[huff_len[s]]++;
	huff.start[0] = 0;
	for (int l = 1; l <= HUFF_MAXLEN; l++)
		huff.start[l] = huff.start[l - 1] + huff.count[l - 1];
	memcpy(pos, huff.start, sizeof(pos));
	for (int s = 0; s < HUFF_SYMS; s++)
		huff.sym[pos[huff_len[s]]++] = s;
	huff.ready = true;
}

ssize_t hpack_huffman_decode(const uint8_t *src, size_t len, char *dst, size_t cap)
{
	uint32_t code = 0, first = 0;	/* first code of the current length */
	unsigned bits = 0, idx = 0;	/* code length so far; symbols before it */
	bool ones = true;		/* every bit of the pending code is 1 */
	size_t out = 0;

	if (!huff.ready)
		huff_build();
	for (size_t i = 0; i < len; i++) {
		for (int b = 7; b >= 0; b--) {
			unsigned bit = (src[i] >> b) & 1;

			code = code << 1 | bit;
			ones &= bit;
			bits++;
			if (bits > HUFF_MAXLEN)
				return -1;
			if (code - first < huff.count[bits]) {
				uint16_t s = huff.sym[idx + code - first];

				if (s == HUFF_EOS)
					return -1;	/* 5.2: EOS is an error */
				if (out < cap)
					dst[out] = (char)s;
				out++;
				code = first = 0;
				bits = idx = 0;
				ones = true;
				continue;
			}
			idx += huff.count[bits];
			first = (first + huff.count[bits]) << 1;
		}
	}
	/* Padding: fewer than 8 bits, all ones (the EOS prefix). */
	if (bits > 7 || !ones)
		return -1;
	return out;
}

#define HPACK_INT_MAX (1u << 28)

int hpack_decode_int(const uint8_t *buf, size_t len, unsigned prefix_bits, uint32_t *out)
{
	uint32_t mask = (1u << prefix_bits) - 1, v;
	unsigned shift = 0;
	size_t i;

	if (!len)
		return -2;
	v = buf[0] & mask;
	if (v < mask) {
		*out = v;
		return 1;
	}
	for (i = 1; i < len; i++) {
		if (shift > 21)
			return -1;	/* a fifth continuation byte: over 2^28 */
		v += (uint32_t)(buf[i] & 0x7f) << shift;
		shift += 7;
		if (v > HPACK_INT_MAX)
			return -1;
		if (!(buf[i] & 0x80)) {
			*out = v;
			return i + 1;
		}
	}
	return -2;
}

/* ---- dynamic table ---- */

static uint32_t effective_limit(const struct hpack_decoder *d)
{
	return d->max_size < d->cap ? d->max_size : d->cap;
}

static void clear_held(struct hpack_decoder *d)
{
	d->first = d->count = 0;
	d->size = 0;
	d->head = 0;
}

static uint32_t entry_size(const struct hpack_entry *e)
{
	return e->name_len + e->value_len + HPACK_ENTRY_OVERHEAD;
}

/* Drop the oldest held entries until `need` more bytes fit under `limit`.
 * `logical` is the table maximum the peer uses: an entry dropped only
 * because our ring is smaller still exists for the peer. */
static void evict(struct hpack_decoder *d, uint32_t need, uint32_t limit, uint32_t logical)
{
	while (d->count && d->size + need > limit) {
		struct hpack_entry *e = &d->ent[d->first];

		if (d->size + need <= logical)
			d->partial = true;
		d->size -= entry_size(e);
		d->first = (d->first + 1) % HPACK_MAX_ENTRIES;
		d->count--;
	}
	if (!d->count)
		clear_held(d);
}

static void ring_write(struct hpack_decoder *d, const char *p, size_t n)
{
	size_t k = HPACK_RING - d->head;

	if (k > n)
		k = n;
	memcpy(d->ring + d->head, p, k);
	memcpy(d->ring, p + k, n - k);
	d->head = (d->head + n) % HPACK_RING;
}

/* Add an entry (RFC 7541 4.4). complete: name and value are whole; when not,
 * only the size is known and the entry cannot be held. */
static void insert(struct hpack_decoder *d, const char *name, size_t nlen,
		   const char *value, size_t vlen, bool complete)
{
	uint64_t es = (uint64_t)nlen + vlen + HPACK_ENTRY_OVERHEAD;
	struct hpack_entry *e;

	if (es > d->max_size && d->max_known) {
		/* Empties the table, for the peer too. */
		clear_held(d);
		d->partial = false;
		return;
	}
	if (!complete || es > d->cap || es > d->max_size) {
		/* The peer now has an entry at index 62 that we cannot hold:
		 * every index past it is unknown to us. */
		clear_held(d);
		d->partial = true;
		return;
	}
	evict(d, es, effective_limit(d), d->max_size);
	e = &d->ent[(d->first + d->count) % HPACK_MAX_ENTRIES];
	e->off = d->head;
	e->name_len = nlen;
	e->value_len = vlen;
	ring_write(d, name, nlen);
	ring_write(d, value, vlen);
	d->count++;
	d->size += es;
}

static void piece(const struct hpack_decoder *d, uint32_t off, size_t n, struct hpack_piece *p)
{
	size_t k;

	off %= HPACK_RING;
	k = HPACK_RING - off;
	p->p[0] = d->ring + off;
	p->n[0] = n < k ? n : k;
	p->p[1] = d->ring;
	p->n[1] = n - p->n[0];
}

bool hpack_table_get(const struct hpack_decoder *d, uint32_t i,
		     struct hpack_piece *name, struct hpack_piece *value)
{
	const struct hpack_entry *e;

	if (i >= d->count)
		return false;
	/* Index 0 is the newest: the last one added. */
	e = &d->ent[(d->first + d->count - 1 - i) % HPACK_MAX_ENTRIES];
	piece(d, e->off, e->name_len, name);
	piece(d, e->off + e->name_len, e->value_len, value);
	return true;
}

void hpack_decoder_init(struct hpack_decoder *d, uint32_t max, uint32_t cap)
{
	d->state = HPACK_ST_BLOCK_START;
	d->error = HPACK_OK;
	d->partial = false;
	d->limit_known = true;
	d->max_known = true;
	d->settings_max = max;
	d->max_size = max;
	d->cap = cap < HPACK_RING ? cap : HPACK_RING;
	d->unknown_refs = 0;
	clear_held(d);
}

void hpack_decoder_init_midstream(struct hpack_decoder *d, uint32_t cap)
{
	hpack_decoder_init(d, HPACK_DEFAULT_TABLE, cap);
	d->partial = true;
	d->limit_known = false;
	d->max_known = false;
	d->settings_max = HPACK_LENIENT_MAX;
}

void hpack_decoder_desync(struct hpack_decoder *d)
{
	clear_held(d);
	d->partial = true;
	d->state = HPACK_ST_BLOCK_START;
}

void hpack_decoder_set_limit(struct hpack_decoder *d, uint32_t settings_max)
{
	if (!d->limit_known) {
		/* The encoder may still use what it had before we joined. */
		if (!d->max_known && settings_max > d->max_size)
			d->max_size = settings_max;
		return;
	}
	/* A lower limit binds only once acknowledged, and blocks encoded
	 * before that may still name the old one: keep the higher. */
	if (settings_max > d->settings_max)
		d->settings_max = settings_max;
}

void hpack_decoder_begin_block(struct hpack_decoder *d)
{
	d->state = HPACK_ST_BLOCK_START;
}

void hpack_decoder_reset(struct hpack_decoder *d)
{
	d->error = HPACK_OK;
	hpack_decoder_desync(d);
}

static int fail(struct hpack_decoder *d, enum hpack_error e)
{
	d->error = e;
	return -1;
}

/* Copy a held entry's name or value into out at *used. */
static size_t put_piece(const struct hpack_piece *p, char *out, size_t cap, size_t used,
			bool *trunc)
{
	size_t n = 0;

	for (int k = 0; k < 2; k++) {
		size_t c = p->n[k];

		if (used + n + c > cap) {
			c = cap - used - n;
			*trunc = true;
		}
		memcpy(out + used + n, p->p[k], c);
		n += c;
	}
	return n;
}

static size_t put_str(const char *s, size_t len, char *out, size_t cap, size_t used, bool *trunc)
{
	if (used + len > cap) {
		len = cap - used;
		*trunc = true;
	}
	memcpy(out + used, s, len);
	return len;
}

/* Resolve an index into name (and value when want_value). Returns -1 when
 * the index is invalid. */
static int lookup(struct hpack_decoder *d, uint32_t idx, bool want_value, char *out,
		  size_t cap, struct hpack_field *f, bool *trunc)
{
	struct hpack_piece np, vp;
	size_t n;

	if (idx == 0)
		return -1;
	if (idx <= HPACK_STATIC_ENTRIES) {
		const char *s = static_table[idx - 1].name;

		f->name_len = put_str(s, strlen(s), out, cap, 0, trunc);
		if (want_value) {
			s = static_table[idx - 1].value;
			f->value_len = put_str(s, strlen(s), out, cap, f->name_len, trunc);
		}
		return 0;
	}
	if (hpack_table_get(d, idx - HPACK_STATIC_ENTRIES - 1, &np, &vp)) {
		n = put_piece(&np, out, cap, 0, trunc);
		f->name_len = n;
		if (want_value)
			f->value_len = put_piece(&vp, out, cap, n, trunc);
		return 0;
	}
	if (!d->partial)
		return -1;
	f->flags |= HPACK_F_NAME_UNKNOWN | (want_value ? HPACK_F_VALUE_UNKNOWN : 0);
	f->name_len = 0;
	return 0;
}

/* Decode a string literal at buf into out + used. Returns bytes consumed,
 * -2 when truncated, -1 for bad Huffman or an oversized length. *slen gets
 * the full decoded length, *wrote what fit. */
static int read_string(const uint8_t *buf, size_t len, char *out, size_t cap, size_t used,
		       size_t *slen, size_t *wrote, int *err)
{
	uint32_t n;
	int k = hpack_decode_int(buf, len, 7, &n);

	if (k < 0) {
		*err = HPACK_ERR_INTEGER;
		return k;
	}
	if (n > len - k)
		return -2;
	if (buf[0] & 0x80) {
		ssize_t d = hpack_huffman_decode(buf + k, n, out + used, cap - used);

		if (d < 0) {
			*err = HPACK_ERR_HUFFMAN;
			return -1;
		}
		*slen = d;
		*wrote = (size_t)d < cap - used ? (size_t)d : cap - used;
	} else {
		*slen = n;
		*wrote = n < cap - used ? n : cap - used;
		memcpy(out + used, buf + k, *wrote);
	}
	return k + n;
}

int hpack_decode_field(struct hpack_decoder *d, const uint8_t *buf, size_t len,
		       char *out, size_t out_cap, struct hpack_field *f)
{
	bool trunc = false, indexing = false;
	size_t nfull, vfull, wrote;
	int k, off, err = HPACK_ERR_TRUNCATED;
	uint32_t idx;
	uint8_t b;

	if (d->error)
		return -1;
	if (!len)
		return -2;
	memset(f, 0, sizeof(*f));
	f->name = out;
	b = buf[0];
	if (b & 0x80) {
		/* 6.1 Indexed Header Field */
		k = hpack_decode_int(buf, len, 7, &idx);
		if (k < 0)
			return k == -1 ? fail(d, HPACK_ERR_INTEGER) : -2;
		if (lookup(d, idx, true, out, out_cap, f, &trunc) < 0)
			return fail(d, HPACK_ERR_INDEX);
		f->index = idx;
		if (f->flags & HPACK_F_NAME_UNKNOWN)
			d->unknown_refs++;
		f->value = out + f->name_len;
		if (trunc)
			f->flags |= HPACK_F_TRUNCATED;
		d->state = HPACK_ST_FIELDS;
		return k;
	}
	if ((b & 0xe0) == 0x20) {
		/* 6.3 Dynamic Table Size Update */
		k = hpack_decode_int(buf, len, 5, &idx);
		if (k < 0)
			return k == -1 ? fail(d, HPACK_ERR_INTEGER) : -2;
		if (d->state != HPACK_ST_BLOCK_START || idx > d->settings_max)
			return fail(d, HPACK_ERR_SIZE_UPDATE);
		evict(d, 0, idx < d->cap ? idx : d->cap, idx);
		d->max_size = idx;
		d->max_known = true;
		if (idx == 0)
			d->partial = false;	/* nothing is left, for the peer either */
		f->flags = HPACK_F_SIZE_UPDATE;
		f->name = f->value = out;
		return k;
	}
	/* 6.2 Literal Header Field: with incremental indexing (01), never
	 * indexed (0001), without indexing (0000). */
	if ((b & 0xc0) == 0x40) {
		indexing = true;
		k = hpack_decode_int(buf, len, 6, &idx);
	} else {
		if (b & 0x10)
			f->flags |= HPACK_F_NEVER_INDEXED;
		k = hpack_decode_int(buf, len, 4, &idx);
	}
	if (k < 0)
		return k == -1 ? fail(d, HPACK_ERR_INTEGER) : -2;
	off = k;
	if (idx) {
		if (lookup(d, idx, false, out, out_cap, f, &trunc) < 0)
			return fail(d, HPACK_ERR_INDEX);
		f->index = idx;
		nfull = f->name_len;
	} else {
		k = read_string(buf + off, len - off, out, out_cap, 0, &nfull, &wrote, &err);
		if (k < 0)
			return k == -1 ? fail(d, err) : -2;
		f->name_len = wrote;
		trunc |= wrote < nfull;
		off += k;
	}
	k = read_string(buf + off, len - off, out, out_cap, f->name_len, &vfull, &wrote, &err);
	if (k < 0)
		return k == -1 ? fail(d, err) : -2;
	off += k;
	f->value = out + f->name_len;
	f->value_len = wrote;
	trunc |= wrote < vfull;
	if (trunc)
		f->flags |= HPACK_F_TRUNCATED;
	if (f->flags & HPACK_F_NAME_UNKNOWN)
		d->unknown_refs++;
	if (indexing) {
		/* A name we do not know has a size we do not know. */
		if (f->flags & HPACK_F_NAME_UNKNOWN) {
			hpack_decoder_desync(d);
		} else {
			insert(d, f->name, nfull, f->value, vfull, !trunc);
		}
	}
	d->state = HPACK_ST_FIELDS;
	return off;
}
