/* SPDX-License-Identifier: Apache-2.0 */
/* Finished spans wait here until their trace has been quiet for `linger`,
 * and are linked meanwhile:
 * - pairing: a server span whose connection's other end is a client span of
 *   this host, with the same request number on that connection, is the
 *   client span's child;
 * - nesting: a client span sent by a thread that was serving exactly one
 *   server request is that request's child.
 * Links are made whichever span arrives first. Linked spans form one trace,
 * exported together with the root's trace id. A fixed pool of spans,
 * allocated once: when it is full the oldest trace is sent early, and if that
 * frees nothing the span is dropped and counted. */
#ifndef __KSPAN_TRACE_H
#define __KSPAN_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "export.h"
#include "sampler.h"
#include "span.h"
#include "tail.h"

#define TRACE_MAX_EXPORTERS 4

struct trace_stats {
	uint64_t spans_in;
	uint64_t spans_out;
	uint64_t traces_out;
	uint64_t dropped;		/* no free span in the pool */
	uint64_t flushed_early;		/* traces sent before their linger ran out */
	uint64_t paired;		/* server spans linked to a client span of this host */
	uint64_t nested;		/* client spans linked to the server span of their thread */
	uint64_t link_refused;		/* candidate links refused: timing or a cycle */
	uint64_t sampled_out;		/* spans of traces the head sampler dropped */
	uint64_t held;			/* traces kept past their due time: the
					 * exporters had no room yet */
};

struct trace_buf;

struct trace_buf *trace_buf_new(uint32_t max_spans, uint64_t linger_ns, bool pairing);
void trace_buf_free(struct trace_buf *t);
int trace_add_exporter(struct trace_buf *t, struct exporter *e);
/* Decide per trace, from its root span, what is exported (kept by pointer;
 * NULL keeps everything). */
void trace_set_sampler(struct trace_buf *t, const struct sampler *s);
/* Tail sampling after the head sampler (kept by pointer; NULL: none). With
 * it, a trace quiet for the linger that still expects a parent span waits
 * for it, up to the decision wait from its first span; a trace still
 * growing then is decided too. */
void trace_set_tail(struct trace_buf *t, struct tail_sampler *ts);
struct tail_sampler *trace_tail(const struct trace_buf *t);
struct span *trace_span_alloc(struct trace_buf *t);
/* Hand a filled span back; now_ns is monotonic. */
void trace_span_submit(struct trace_buf *t, struct span *s, uint64_t now_ns);
/* Export traces quiet since now - linger (all of them when all is true). */
void trace_flush(struct trace_buf *t, uint64_t now_ns, bool all);
const struct trace_stats *trace_buf_stats(const struct trace_buf *t);
/* Return the memory of spans not in use to the kernel when the pool is
 * mostly idle (after a burst). */
void trace_buf_trim(struct trace_buf *t);

#endif /* __KSPAN_TRACE_H */
