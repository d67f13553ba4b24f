/* SPDX-License-Identifier: Apache-2.0 */
/* HPACK (RFC 7541) header block decoding over captured bytes.
 *
 * One decoder per direction of an HTTP/2 connection. The dynamic table is a
 * fixed ring of HPACK_RING bytes inside the decoder: nothing is allocated,
 * ever. A peer may advertise a larger table than the ring holds; the decoder
 * then keeps the newest entries that fit and reports references past them as
 * unknown. The same happens when decoding starts in the middle of a
 * connection, or after a header block was lost: entries the decoder cannot
 * know about are reported as unknown, never guessed. Static entries and
 * literals always come through.
 *
 * Fields are decoded one representation at a time from a complete header
 * block (HEADERS plus its CONTINUATION fragments, concatenated). The decoder
 * keeps an explicit state (whether a table size update may still come) and
 * a sticky error flag: after an error every call fails until the next
 * hpack_decoder_reset().
 */
#ifndef __KSPAN_HPACK_H
#define __KSPAN_HPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HPACK_RING		4096	/* dynamic table bytes held per decoder */
#define HPACK_ENTRY_OVERHEAD	32	/* RFC 7541 4.1 */
#define HPACK_MAX_ENTRIES	(HPACK_RING / HPACK_ENTRY_OVERHEAD)
#define HPACK_DEFAULT_TABLE	4096	/* SETTINGS_HEADER_TABLE_SIZE default */
#define HPACK_STATIC_ENTRIES	61
/* Largest size a table size update may name when the peer's setting is not
 * known (decoding started mid-connection). */
#define HPACK_LENIENT_MAX	(1u << 24)

enum hpack_state {
	HPACK_ST_BLOCK_START = 0,	/* size updates allowed (RFC 7541 4.2) */
	HPACK_ST_FIELDS,		/* a field was decoded in this block */
};

/* Why a call failed; the first error sticks in hpack_decoder.error. */
enum hpack_error {
	HPACK_OK = 0,
	HPACK_ERR_INDEX,		/* index 0, or past a table we know whole */
	HPACK_ERR_INTEGER,		/* integer overflow (over 2^28) */
	HPACK_ERR_HUFFMAN,		/* EOS inside a string, bad padding */
	HPACK_ERR_SIZE_UPDATE,		/* above the limit, or after a field */
	HPACK_ERR_TRUNCATED,		/* a block ended inside a representation */
};

/* A held dynamic table entry: name then value, in the ring. */
struct hpack_entry {
	uint16_t off;			/* into ring, wraps */
	uint16_t name_len;
	uint16_t value_len;
};

struct hpack_decoder {
	uint8_t state;			/* enum hpack_state */
	uint8_t error;			/* enum hpack_error, sticky */
	bool partial;			/* entries past the held ones may exist */
	bool limit_known;		/* settings_max is known: decoding started
					 * with the connection */
	bool max_known;			/* max_size is known, not assumed */
	uint32_t settings_max;		/* SETTINGS_HEADER_TABLE_SIZE of the decoding
					 * side: ceiling of size updates */
	uint32_t max_size;		/* table maximum set by the last size update */
	uint32_t cap;			/* bytes we hold at most (<= HPACK_RING) */
	uint32_t size;			/* held entries, RFC size (len + 32 each) */
	uint32_t head;			/* ring write position */
	uint16_t first, count;		/* entry ring: oldest held, and how many */
	uint64_t unknown_refs;		/* references to entries we do not hold */
	struct hpack_entry ent[HPACK_MAX_ENTRIES];
	char ring[HPACK_RING];
};

/* The decoded field: name and value copied into the caller's buffer. */
#define HPACK_F_NAME_UNKNOWN	(1u << 0)	/* name from an entry we do not hold */
#define HPACK_F_VALUE_UNKNOWN	(1u << 1)	/* value from an entry we do not hold */
#define HPACK_F_TRUNCATED	(1u << 2)	/* name or value cut to the buffer */
#define HPACK_F_NEVER_INDEXED	(1u << 3)	/* a sensitive field (6.2.3) */
#define HPACK_F_SIZE_UPDATE	(1u << 4)	/* no field: a table size update */

struct hpack_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	uint32_t index;			/* table index used, 0 for none */
	uint8_t flags;			/* HPACK_F_* */
};

/* A decoder at the start of a connection: an empty table of max bytes (the
 * settings value), of which at most cap are held. */
void hpack_decoder_init(struct hpack_decoder *d, uint32_t max, uint32_t cap);
/* A decoder joining a connection already in progress: every dynamic index
 * it was not told about is unknown, and any size update is accepted. */
void hpack_decoder_init_midstream(struct hpack_decoder *d, uint32_t cap);
/* A header block was lost: what it added is unknown, so the held entries no
 * longer sit at known indices. Drops them; later entries are held again. */
void hpack_decoder_desync(struct hpack_decoder *d);
/* The decoding side announced SETTINGS_HEADER_TABLE_SIZE. */
void hpack_decoder_set_limit(struct hpack_decoder *d, uint32_t settings_max);
/* A new header block starts (size updates allowed again). Clears no error. */
void hpack_decoder_begin_block(struct hpack_decoder *d);
/* Clear the error so the next block can be tried (the table is desynced:
 * the failed block may have changed it). */
void hpack_decoder_reset(struct hpack_decoder *d);

/* Decode one representation from buf. Name and value are written to out
 * (name first), at most out_cap bytes in all; longer ones are cut and
 * flagged. Returns bytes consumed (> 0), -2 when buf ends inside the
 * representation (nothing consumed, state unchanged), or -1 on an error
 * (sticky: see d->error). A size update returns its length with only
 * HPACK_F_SIZE_UPDATE set. */
int hpack_decode_field(struct hpack_decoder *d, const uint8_t *buf, size_t len,
		       char *out, size_t out_cap, struct hpack_field *f);

/* Huffman-decode src into dst. Returns the decoded length (which may
 * exceed cap: only cap bytes are written) or -1 for an invalid string. */
ssize_t hpack_huffman_decode(const uint8_t *src, size_t len, char *dst, size_t cap);

/* Read an N-bit prefix integer (RFC 7541 5.1). Returns bytes used, -2 when
 * buf ends first, -1 on overflow (values are limited to 2^28). */
int hpack_decode_int(const uint8_t *buf, size_t len, unsigned prefix_bits, uint32_t *out);

/* Entry i of the dynamic table (0 = newest), as held. Returns false past the
 * held entries. Name and value may wrap in the ring: each is given as two
 * pieces (the second empty unless it wraps). For tests and diagnostics. */
struct hpack_piece {
	const char *p[2];
	size_t n[2];
};
bool hpack_table_get(const struct hpack_decoder *d, uint32_t i,
		     struct hpack_piece *name, struct hpack_piece *value);
static inline uint32_t hpack_table_count(const struct hpack_decoder *d)
{
	return d->count;
}
static inline uint32_t hpack_table_size(const struct hpack_decoder *d)
{
	return d->size;
}

/* Static table entry 1..61; NULL otherwise. */
const char *hpack_static_name(uint32_t index, size_t *len);
const char *hpack_static_value(uint32_t index, size_t *len);

#endif /* __KSPAN_HPACK_H */
