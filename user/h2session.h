/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/2 (and gRPC over it) on one connection, rebuilt from captured reads
 * and writes: frames are parsed per direction across reads, header blocks
 * decoded with HPACK in order, and each stream becomes a span running from
 * the first HEADERS of its request to END_STREAM of its response (or to
 * RST_STREAM).
 *
 * Sessions are big (two HPACK tables), so connections hold an index into a
 * pool of them, allocated once with the stream records and the buffers for
 * header blocks split across reads or frames.
 */
#ifndef __KSPAN_H2SESSION_H
#define __KSPAN_H2SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "h1session.h"
#include "h2.h"
#include "hpack.h"
#include "span.h"
#include "tracectx.h"

#define H2_MAX_STREAMS	128		/* open streams tracked per connection */
#define H2_BUF_SIZE	(16384 + 9)	/* largest header block reassembled */
#define H2_METHOD_MAX	16
#define H2_PATH_MAX	512
#define H2_AUTH_MAX	128
#define H2_SCHEME_MAX	8
#define H2_MAX_HEADERS	64		/* decoded fields kept per block */
#define H2_SCRATCH	32768		/* decoded field text per block */

enum h2_fstate {
	H2F_PREFACE = 0,	/* the client preface may come first */
	H2F_HDR,		/* collecting a frame header */
	H2F_PREFIX,		/* pad length, priority, promised id, or the
				 * fields of a control frame we read */
	H2F_BODY,		/* header block fragment, data, or skipped payload */
	H2F_PAD,		/* padding */
	H2F_LOST,		/* out of step: waits for a read/write that
				 * starts with plausible frames */
};

/* One direction of a connection. */
struct h2_dir {
	uint8_t fs;			/* enum h2_fstate */
	uint8_t got;			/* bytes in hdr[] or ctl[] */
	uint8_t need;			/* bytes wanted in ctl[] */
	uint8_t pad;			/* padding ending the current frame */
	uint8_t hdr[H2_FRAME_HDR];
	uint8_t ctl[8];
	bool was_lost;
	bool blk_open;			/* a header block waits for CONTINUATION */
	bool blk_lost;			/* ...and cannot be decoded */
	bool blk_done;			/* ...and was decoded in place */
	bool blk_end_stream;
	uint8_t blk_type;		/* H2_HEADERS or H2_PUSH_PROMISE */
	uint32_t blk_stream;
	uint64_t blk_ns;		/* when its first byte moved */
	uint32_t blk_tid;
	int32_t buf;			/* pool buffer holding the block, -1 none */
	uint32_t buf_len;
	uint64_t frame_ns;		/* when the current frame's header moved */
	struct h2_frame_hdr fh;		/* the current frame */
	uint32_t left;			/* payload bytes left in the current frame */
	uint64_t data_len;		/* DATA payload bytes in the current frame */
	struct hpack_decoder hp;	/* decodes the blocks of this direction */
};

struct h2_session {
	struct h2_dir dir[2];		/* [0]: written by this process, [1]: read */
	uint8_t role;			/* enum kspan_role; learned from the first
					 * request or response block when unknown */
	bool used;
	int32_t streams;		/* open stream records, a list */
	uint16_t nstreams;
	uint32_t io_tid;		/* the thread that has read and written it */
	bool io_shared;			/* ...more than one has: no nesting on it */
};

/* Counters, all monotonically increasing. */
struct h2_stats {
	uint64_t sessions;		/* connections handled as HTTP/2 */
	uint64_t sessions_full;		/* connections skipped: session pool empty */
	uint64_t frames;		/* frame headers parsed */
	uint64_t header_blocks;		/* header blocks decoded */
	uint64_t blocks_lost;		/* blocks not decoded: lost, too big, no buffer */
	uint64_t hpack_errors;		/* blocks that failed to decode */
	uint64_t hpack_unknown;		/* fields naming table entries we do not hold */
	uint64_t requests;		/* request header blocks that opened a stream */
	uint64_t responses;		/* final response header blocks */
	uint64_t spans;			/* streams finished as spans */
	uint64_t resets;		/* RST_STREAM frames */
	uint64_t protocol_errors;	/* frames out of step: direction lost */
	uint64_t lost_events;		/* reads/writes skipped while out of step */
	uint64_t streams_full;		/* streams skipped: 128 open or no record */
	uint64_t malformed;		/* requests with bad pseudo-header values */
	uint64_t orphan_responses;	/* responses on streams never seen opened */
	uint64_t unanswered;		/* streams whose connection closed first */
	uint64_t no_role;		/* blocks before the roles were known */
	uint64_t pool_exhausted;	/* block buffers ran out */
	uint64_t span_alloc_failed;
	uint64_t context_in;		/* requests carrying a valid propagated context */
	uint64_t upgrades;		/* connections switched from HTTP/1.1 (h2c) */
	uint64_t nest_refused;		/* client streams from a thread serving a
					 * request, not nested: their HEADERS shared
					 * a write or the connection with others, or
					 * the connection's I/O was several threads' */
};

struct h2_ctx;

/* Pools: at most max_sessions sessions, max_streams stream records and
 * max_bufs block buffers of H2_BUF_SIZE, mapped in chunks as they are
 * needed. Spans go to sink. */
struct h2_ctx *h2_ctx_new(uint32_t max_sessions, uint32_t max_streams, uint32_t max_bufs,
			  struct h1_sink sink);
void h2_ctx_free(struct h2_ctx *c);
/* Unmap pool chunks no longer in use. */
void h2_ctx_trim(struct h2_ctx *c);
/* Memory the context holds now, in bytes. */
size_t h2_ctx_bytes(const struct h2_ctx *c);
/* As h1_ctx_set_context(): the propagators to read and the baggage keys
 * (at most H1_BAGGAGE_KEYS, kept by reference). */
void h2_ctx_set_context(struct h2_ctx *c, unsigned propagators,
			const char *const *baggage_keys, size_t nkeys);
/* The table HTTP/1 requests share for nesting (as h1_ctx_set_nest()): a
 * server stream counts as a request served by the thread that read its
 * HEADERS until its response HEADERS are written; a client stream may nest
 * under the one request the thread writing its HEADERS serves. Only on
 * connections whose reads and writes were all one thread's, and only for a
 * client stream that was alone in its write and on its connection. */
struct nest_table;
void h2_ctx_set_nest(struct h2_ctx *c, struct nest_table *t);
/* Query values to keep (as h1_ctx_set_redact()); until set, every query
 * value is redacted. The policy must outlive the context. */
struct redact_policy;
void h2_ctx_set_redact(struct h2_ctx *c, const struct redact_policy *p);
const struct h2_stats *h2_ctx_stats(const struct h2_ctx *c);
const struct tracectx_stats *h2_ctx_context_stats(const struct h2_ctx *c);

/* A session for a new connection; -1 when the pool is empty. from_start:
 * kspan saw the connection open and this is its first payload, so the
 * HPACK tables start empty and in step; otherwise they start unknown. role
 * is the connection's enum kspan_role, possibly unknown. */
int32_t h2_session_open(struct h2_ctx *c, bool from_start, uint8_t role);
/* Feed one read (egress false) or write (egress true). */
void h2_session_feed(struct h2_ctx *c, int32_t s, const struct h1_conn_info *ci,
		     bool egress, const struct h1_chunk *ch);
/* A session just opened (from_start) for a connection that switched from
 * HTTP/1.1 (Upgrade: h2c): the upgraded request is stream 1, awaiting its
 * response. False when it could not be kept (counted). */
bool h2_session_upgraded(struct h2_ctx *c, int32_t s, const struct h1_conn_info *ci,
			 const struct h1_upgrade *up);
/* The role the session knows (enum kspan_role). */
uint8_t h2_session_role(const struct h2_ctx *c, int32_t s);
/* The connection ended: streams with a response become spans, the rest are
 * counted, and the session goes back to the pool. */
void h2_session_close(struct h2_ctx *c, int32_t s, const struct h1_conn_info *ci);
/* For tests: the session behind an index. */
struct h2_session *h2_session_get(struct h2_ctx *c, int32_t s);

#endif /* __KSPAN_H2SESSION_H */
