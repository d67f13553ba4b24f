/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.x exchanges on one connection, rebuilt from captured reads and
 * writes: requests are matched to responses in order (keep-alive and
 * pipelining), and each finished exchange becomes a span. */
#ifndef __KSPAN_H1SESSION_H
#define __KSPAN_H1SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http1.h"
#include "kspan.h"
#include "span.h"
#include "redact.h"
#include "tracectx.h"

#define H1_HEAD_MAX	16384	/* largest head reassembled across reads */
#define H1_METHOD_MAX	16
#define H1_TARGET_MAX	512
#define H1_HOST_MAX	128
#define H1_MAX_HEADERS	64
#define H1_INJ_MAX	4	/* injected requests awaiting their write event */

enum h1_state {
	H1S_IDLE = 0,		/* expecting a message head */
	H1S_HEAD,		/* part of a head is buffered */
	H1S_BODY_LEN,		/* `remaining` body bytes to go */
	H1S_BODY_CHUNKED,
	H1S_UNTIL_CLOSE,	/* response body ends with the connection */
	H1S_LOST,		/* out of step: wait for a read/write that starts a message */
};

/* One direction of a connection. */
struct h1_stream {
	uint8_t state;		/* enum h1_state */
	bool was_lost;		/* lost step at least once */
	int32_t buf;		/* head buffer in the pool, -1 when none */
	uint32_t buf_len;
	uint64_t remaining;
	int32_t rec;		/* request record whose body is streaming, or -1 */
	uint64_t head_ns;	/* when the buffered head's first byte moved */
	bool head_has_kctx;	/* head_kctx holds the kernel's ids for it */
	struct kspan_ctx head_kctx;	/* from the read that began the head */
	struct http1_chunked chunked;
};

/* Counters, all monotonically increasing. */
struct h1_stats {
	uint64_t requests;		/* request heads parsed */
	uint64_t responses;		/* response heads parsed */
	uint64_t spans;			/* exchanges finished as spans */
	uint64_t parse_errors;		/* bytes that cannot be HTTP/1.x at a message start */
	uint64_t head_too_large;	/* heads over H1_HEAD_MAX or the capture length */
	uint64_t lost_events;		/* reads/writes skipped while out of step */
	uint64_t orphan_responses;	/* responses with no captured request */
	uint64_t unanswered;		/* requests whose connection closed first */
	uint64_t pipeline_full;		/* requests dropped: too many awaiting response */
	uint64_t pool_exhausted;	/* head buffers or request records ran out */
	uint64_t span_alloc_failed;	/* finished exchanges with no span to put them in */
	uint64_t context_in;		/* requests carrying a valid propagated context */
	uint64_t injected_unmatched;	/* injections with no request seen for them */
	uint64_t context_unseen;	/* context the kernel missed (head split over
					 * reads): the kernel's ids kept, link lost */
};

struct h1_conn_info {
	uint64_t conn_id;
	uint32_t pid;
	bool client;			/* this process sent the requests */
	const uint8_t *local_addr;	/* 16 bytes, IPv4-mapped for IPv4 */
	const uint8_t *peer_addr;
	uint16_t local_port;
	uint16_t peer_port;
	bool seen_open;			/* connect/accept was seen: request numbers
					 * on both ends agree */
	bool tls;			/* HTTP over TLS: url.scheme https */
	const char *tls_version;	/* tls.protocol.version ("1.3"), or NULL */
	uint64_t tls_handshake_ns;	/* TLS handshake of the connection, 0: not seen */
};

struct h1_session {
	struct h1_stream req;		/* the request direction */
	struct h1_stream resp;		/* the response direction */
	int32_t head, tail;		/* FIFO of request records awaiting a response */
	uint8_t npending;
	bool upgraded;			/* switched protocols: nothing more to parse */
	bool h2c;			/* ...to HTTP/2: h1_session_take_upgrade() */
	uint32_t h2c_off;		/* ...whose bytes start at this offset of
					 * the chunk just fed */
	bool seq_broken;		/* a request went uncounted: no pairing by order */
	uint32_t nreq;			/* requests seen */
	uint8_t ninj;			/* injected contexts not yet matched */
	struct kspan_ctx inj[H1_INJ_MAX];	/* ids the kernel sent, oldest first */
};

/* Bytes moved by one syscall. start_ns is when the first byte moved, end_ns
 * when the last did (monotonic ns). cap_len bytes of the ret that moved
 * were captured. */
struct h1_chunk {
	const char *data;
	uint32_t cap_len;
	uint64_t len;
	uint64_t start_ns;
	uint64_t end_ns;
	uint32_t tid;
	const struct kspan_ctx *kctx;	/* ids the kernel gave the first request
					 * starting in this read, or NULL */
};

struct h1_ctx;

struct h1_sink {
	struct span *(*alloc)(void *ctx);	/* NULL when none is free */
	void (*submit)(void *ctx, struct span *s);
	void *ctx;
};

/* Shared pools: at most `max_pending` request records and `max_bufs` head
 * buffers of H1_HEAD_MAX bytes, mapped in chunks as they are needed. */
struct h1_ctx *h1_ctx_new(uint32_t max_pending, uint32_t max_bufs, struct h1_sink sink);
void h1_ctx_free(struct h1_ctx *c);
/* Unmap pool chunks no longer in use. */
void h1_ctx_trim(struct h1_ctx *c);
/* Memory the context holds now, in bytes. */
size_t h1_ctx_bytes(const struct h1_ctx *c);
/* Which propagated contexts to read (TRACECTX_* bits), and the baggage
 * members to copy into span attributes (at most H1_BAGGAGE_KEYS; the key
 * strings must outlive the context). */
#define H1_BAGGAGE_KEYS 4
void h1_ctx_set_context(struct h1_ctx *c, unsigned propagators,
			const char *const *baggage_keys, size_t nkeys);
const struct tracectx_stats *h1_ctx_context_stats(const struct h1_ctx *c);
/* Server requests register in this table, client requests take their parent
 * from it (kept by pointer; NULL, the default, nests nothing). */
struct nest_table;
void h1_ctx_set_nest(struct h1_ctx *c, struct nest_table *t);
/* Query values and userinfo are redacted per this policy (kept by pointer;
 * NULL redacts every query value). */
void h1_ctx_set_redact(struct h1_ctx *c, const struct redact_policy *p);
const struct h1_stats *h1_ctx_stats(const struct h1_ctx *c);

void h1_session_init(struct h1_session *s);
/* Feed one read (request direction for a server, response for a client) or
 * write. */
void h1_session_feed(struct h1_ctx *c, struct h1_session *s,
		     const struct h1_conn_info *ci, bool request_dir,
		     const struct h1_chunk *ch);
/* The kernel inserted a traceparent with these ids into the next request
 * this (client) connection sends. */
void h1_session_injected(struct h1_ctx *c, struct h1_session *s, const struct kspan_ctx *k);
/* The request of an exchange that switched to HTTP/2 (a 101 with Upgrade:
 * h2c): stream 1 of the connection from then on (RFC 7540 3.2). Strings are
 * not NUL-terminated. */
#define H1_BAGGAGE_VAL 32
struct h1_upgrade {
	uint32_t tid;			/* thread that moved the request head */
	uint64_t start_ns;		/* its first byte */
	int64_t req_body;
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8];
	uint8_t flags;
	bool remote_parent;
	bool parent_by_id;
	uint64_t nest_conn;		/* client: the server request being served */
	uint32_t nest_seq;
	uint32_t table_size;		/* SETTINGS_HEADER_TABLE_SIZE in its
					 * HTTP2-Settings; UINT32_MAX: not given */
	bool first;			/* the connection's first request (as kspan
					 * counts): numbered 1 like the stream, so
					 * calls its thread makes may nest under it */
	uint8_t bag_len[H1_BAGGAGE_KEYS];
	char bag[H1_BAGGAGE_KEYS][H1_BAGGAGE_VAL];
	uint8_t method_len;
	uint8_t scheme_len;		/* 0 unless the target was absolute */
	uint8_t host_len;		/* the target's authority, else Host */
	uint16_t path_len;		/* path and query, as :path */
	char method[H1_METHOD_MAX];
	char scheme[8];
	char host[H1_HOST_MAX];
	char path[H1_TARGET_MAX];
};

/* After a feed that left s->h2c set: HTTP/2 bytes start at s->h2c_off of
 * that chunk. Hands over the upgraded request (its nest registration
 * ended) and forgets it; false when it was not seen (kspan joined after
 * it). Close the session afterwards. Without this call the exchange ends as
 * a 101 span. */
bool h1_session_take_upgrade(struct h1_ctx *c, struct h1_session *s,
			      const struct h1_conn_info *ci, struct h1_upgrade *up);
/* The connection ended: finish a response that runs until close, count
 * what stays unanswered, and release everything the session holds. */
void h1_session_close(struct h1_ctx *c, struct h1_session *s,
		      const struct h1_conn_info *ci);

#endif /* __KSPAN_H1SESSION_H */
