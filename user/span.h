/* SPDX-License-Identifier: Apache-2.0 */
/* A finished span as the exporters see it: fixed size, no heap. */
#ifndef __KSPAN_SPAN_H
#define __KSPAN_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPAN_MAX_ATTRS	32
#define SPAN_STRBUF	1536
#define SPAN_NAME_MAX	128

/* Values as in OTLP's Span.SpanKind and Status.StatusCode. */
enum span_kind {
	SPAN_KIND_INTERNAL = 1,
	SPAN_KIND_SERVER = 2,
	SPAN_KIND_CLIENT = 3,
};

enum span_status {
	SPAN_STATUS_UNSET = 0,
	SPAN_STATUS_OK = 1,
	SPAN_STATUS_ERROR = 2,
};

enum span_attr_type {
	SPAN_ATTR_STR = 1,
	SPAN_ATTR_INT = 2,
	SPAN_ATTR_BOOL = 3,
	SPAN_ATTR_DOUBLE = 4,
};

struct span_attr {
	const char *key;		/* static, a token (RFC 9110): a semconv
				 * name or a baggage key (checked at start);
				 * exporters write it without escaping */
	uint8_t type;			/* enum span_attr_type */
	union {
		int64_t i;
		double d;
		bool b;
		struct {
			uint16_t off;	/* into span.strbuf */
			uint16_t len;
		} s;
	} v;
};

struct span {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8];	/* all zero: no parent */
	uint8_t trace_flags;		/* W3C flags, bit 0 = sampled */
	uint8_t kind;			/* enum span_kind */
	uint8_t status;			/* enum span_status */
	uint64_t start_ns;		/* unix epoch, ns */
	uint64_t end_ns;		/* unix epoch, ns */
	uint32_t pid;			/* process (tgid) the span belongs to */
	uint32_t tid;			/* thread that read/wrote the request */
	uint64_t conn_id;		/* socket cookie of the connection */
	char name[SPAN_NAME_MAX];	/* NUL-terminated */
	/* Linking, resolved in the trace buffer; not exported. */
	uint32_t seq;			/* request number on its connection from 1;
					 * 0: the connection was not seen from its
					 * start, so no pairing by order */
	uint32_t req_no;		/* request number on its connection as kspan
					 * counted it, from 1 */
	uint16_t local_port;
	uint16_t peer_port;
	uint8_t local_addr[16];		/* IPv4-mapped for IPv4 */
	uint8_t peer_addr[16];
	uint64_t nest_conn;		/* client spans: the server request the
					 * thread was serving (conn_id, seq), if it
					 * was serving exactly one; 0 otherwise */
	uint32_t nest_seq;
	bool remote_parent;		/* parent taken from propagated context */
	bool parent_by_id;		/* parent_span_id names a span kspan may
					 * hold too (kernel-assigned context) */
	uint16_t nattrs;
	uint16_t strused;
	uint32_t attrs_dropped;		/* attributes that did not fit */
	struct span_attr attrs[SPAN_MAX_ATTRS];
	char strbuf[SPAN_STRBUF];	/* string attribute values, not NUL-terminated */
};

void span_init(struct span *s);
/* Add an attribute; on overflow the attribute is dropped and counted. */
int span_attr_str(struct span *s, const char *key, const char *val, size_t len);
int span_attr_int(struct span *s, const char *key, int64_t v);
int span_attr_bool(struct span *s, const char *key, bool v);
const struct span_attr *span_attr_find(const struct span *s, const char *key);
static inline const char *span_attr_sval(const struct span *s,
					 const struct span_attr *a)
{
	return s->strbuf + a->v.s.off;
}

#endif /* __KSPAN_SPAN_H */
