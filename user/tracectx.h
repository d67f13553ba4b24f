/* SPDX-License-Identifier: Apache-2.0 */
/* Propagated trace context in captured HTTP headers: W3C Trace Context
 * (traceparent, tracestate), B3 single and multi header, Jaeger
 * uber-trace-id, and W3C Baggage lookups.
 *
 * Like the http1_ parsers these take (buf, len) slices, never read past len,
 * never need a NUL terminator and allocate nothing. Header arrays are the
 * ones http1_parse_request() fills; names match case-insensitively, and a
 * header may appear several times.
 */
#ifndef __KSPAN_TRACECTX_H
#define __KSPAN_TRACECTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http1.h"

/* Propagator bits, as named in OTEL_PROPAGATORS. */
#define TRACECTX_W3C		(1u << 0)	/* "tracecontext" */
#define TRACECTX_BAGGAGE	(1u << 1)	/* "baggage" */
#define TRACECTX_B3		(1u << 2)	/* "b3": single header */
#define TRACECTX_B3MULTI	(1u << 3)	/* "b3multi": X-B3-* */
#define TRACECTX_JAEGER		(1u << 4)	/* "jaeger": uber-trace-id */
#define TRACECTX_DEFAULT	TRACECTX_W3C

#define TRACECTX_TRACESTATE_MAX		512	/* bytes kept, as the spec asks */
#define TRACECTX_TRACESTATE_MEMBERS	32
#define TRACECTX_TRACESTATE_LONG	128	/* members dropped first */
#define TRACECTX_BAGGAGE_MEMBERS	180
#define TRACECTX_BAGGAGE_BYTES		8192
#define TRACECTX_TRACEPARENT_LEN	55

enum tracectx_source {
	TRACECTX_SRC_NONE = 0,
	TRACECTX_SRC_TRACECONTEXT,
	TRACECTX_SRC_B3,
	TRACECTX_SRC_B3MULTI,
	TRACECTX_SRC_JAEGER,
};

enum tracectx_sampling {
	TRACECTX_SAMPLING_UNSET = 0,	/* no decision: the receiver decides */
	TRACECTX_SAMPLING_DROP,
	TRACECTX_SAMPLING_SAMPLE,
	TRACECTX_SAMPLING_DEBUG,	/* B3 "d"/Flags:1, Jaeger flag 0x2 */
};

struct tracectx {
	uint8_t trace_id[16];
	uint8_t span_id[8];	/* the caller's span: parent of ours */
	uint8_t flags;		/* W3C trace-flags, whole byte; bit 0 sampled */
	uint8_t version;	/* traceparent version; 0 for other sources */
	uint8_t sampling;	/* enum tracectx_sampling */
	bool valid;		/* trace_id and span_id are set */
	enum tracectx_source source;
	uint16_t tracestate_len;
	char tracestate[TRACECTX_TRACESTATE_MAX + 1];	/* normalized, NUL-ended */
};

/* Counters of what was seen and rejected; every pointer to one may be NULL. */
struct tracectx_stats {
	uint64_t traceparent_invalid;	/* syntax, zero ids, version ff */
	uint64_t traceparent_duplicate;	/* more than one traceparent header */
	uint64_t tracestate_invalid;	/* bad member or duplicate key */
	uint64_t tracestate_too_many;	/* > 32 members even without long ones */
	uint64_t tracestate_dropped;	/* members dropped to fit the limits */
	uint64_t b3_invalid;		/* single or multi */
	uint64_t jaeger_invalid;
	uint64_t baggage_invalid;	/* malformed members, skipped */
	uint64_t baggage_over_limit;	/* members past 180 or 8192 bytes */
};

/* traceparent value (OWS around it tolerated). Returns 1 and fills out
 * (source TRACECONTEXT, no tracestate) when valid, -1 otherwise; out is
 * cleared either way. */
int tracectx_parse_traceparent(const char *v, size_t len, struct tracectx *out);

/* Validate the tracestate list formed by n header values (combined as one
 * list, in order) and write it normalized: members without OWS, joined by
 * ",", no NUL, at most cap bytes. Over 32 members, members longer than 128
 * bytes are dropped; if still over 32 the whole list is discarded. When the
 * result does not fit cap, long members go first, then members from the end.
 * Returns the members written (>= 0, *out_len set) or -1 when the list is
 * discarded (bad member, duplicate key, too many; *out_len = 0). */
int tracectx_parse_tracestate(const char *const *vals, const size_t *lens,
			      size_t n, char *out, size_t cap, size_t *out_len,
			      struct tracectx_stats *st);

/* b3 single header. Returns 1 with a context; 0 for a sampling state alone
 * ("0", "1", "d": out->valid false, out->sampling set); -1 when invalid. */
int tracectx_parse_b3(const char *v, size_t len, struct tracectx *out);

/* X-B3-TraceId, X-B3-SpanId, X-B3-ParentSpanId, X-B3-Sampled, X-B3-Flags.
 * Returns 1 with a context, 0 with none (out->sampling may still be set),
 * -1 when invalid (bad value, a repeated header, only one of the ids). */
int tracectx_parse_b3_multi(const struct http1_header *h, size_t n,
			    struct tracectx *out);

/* uber-trace-id value, possibly percent-encoded ("%3A"). Ids are up to
 * 32/16 hex digits (either case), left-padded with zeros. Returns 1 or -1. */
int tracectx_parse_jaeger(const char *v, size_t len, struct tracectx *out);

/* Pick the context from the headers, trying the propagators in the mask in
 * a fixed order: tracecontext, b3, b3multi, jaeger; the first valid one
 * wins, invalid ones are counted and skipped. A repeated traceparent, b3 or
 * uber-trace-id header is invalid. tracestate is read only with a valid
 * traceparent. Returns 1 when out->valid, else 0 (out->sampling may still
 * carry a B3 sampling decision). */
int tracectx_extract(const struct http1_header *h, size_t n,
		     unsigned propagators, struct tracectx *out,
		     struct tracectx_stats *st);

/* Writes "00-<trace-id>-<span-id>-<flags>" and a NUL; returns 55. */
size_t tracectx_format_traceparent(const uint8_t trace_id[16],
				   const uint8_t span_id[8], uint8_t flags,
				   char out[TRACECTX_TRACEPARENT_LEN + 1]);

/* One wanted baggage key. out receives the percent-decoded value (invalid
 * UTF-8 replaced by U+FFFD), cut at a character boundary to cap bytes. */
struct tracectx_baggage_item {
	const char *key;
	size_t key_len;
	char *out;
	size_t cap;
	size_t len;		/* result: bytes written to out */
	bool found;		/* result */
	bool truncated;		/* result: the value did not fit cap */
};

/* A baggage key as W3C Baggage defines it: a token (RFC 9110), so ASCII. */
bool tracectx_baggage_key_ok(const char *key);

/* Look the items up in every "baggage" header of h, combined as one list.
 * Malformed members are skipped; members past 180 or past 8192 bytes of the
 * combined list are ignored. Keys are case-sensitive; the last occurrence
 * wins. Returns the number of items found. */
int tracectx_baggage_lookup(const struct http1_header *h, size_t n,
			    struct tracectx_baggage_item *items, size_t nitems,
			    struct tracectx_stats *st);

/* The same over one baggage value: returns bytes written to out (<= cap),
 * or -1 when key is absent. */
ssize_t tracectx_baggage_get(const char *v, size_t len, const char *key,
			     size_t key_len, char *out, size_t cap);

/* Parse an OTEL_PROPAGATORS value (NUL-terminated, comma-separated,
 * case-insensitive): tracecontext, baggage, b3, b3multi, jaeger, none.
 * NULL or empty gives TRACECTX_DEFAULT. Returns 0, or -1 when a name is
 * unknown or unsupported (*mask then holds the known ones). */
int tracectx_propagators_parse(const char *s, unsigned *mask);

#endif /* __KSPAN_TRACECTX_H */
