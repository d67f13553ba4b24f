/* SPDX-License-Identifier: Apache-2.0 */
/* kspan's own counters in one snapshot: taken by the main loop now and
 * then, logged with -v and handed to the OTLP exporter, which sends them as
 * metrics of kspan's own resource. A copy, so no counter is shared between
 * threads. */
#ifndef __KSPAN_SELFSTATS_H
#define __KSPAN_SELFSTATS_H

#include <stdint.h>
#include <stdio.h>

struct kspan_app;

struct kspan_self_stats {
	/* Ring buffer. */
	uint64_t events_submitted;	/* records the kernel programs sent */
	uint64_t events_dropped;	/* records lost: the ring buffer was full */
	uint64_t events_received;	/* records the main loop read */
	/* Parsing. */
	uint64_t bad_records;		/* records too short or of no known type */
	uint64_t http1_errors;		/* bytes that cannot be HTTP/1.x */
	uint64_t http2_errors;		/* HTTP/2 frames out of step, HPACK
					 * failures, malformed requests */
	/* Linking. */
	uint64_t paired;		/* server spans linked to their client span */
	uint64_t nested;		/* client spans linked to their server span */
	uint64_t unlinked;		/* client spans left unlinked: their thread
					 * served several requests, or shared the
					 * connection with another */
	uint64_t link_refused;		/* links refused: timing or a cycle */
	/* Spans. */
	uint64_t spans_exported;	/* handed to the exporter */
	uint64_t spans_dropped;		/* no room in the span pool */
	uint64_t spans_sampled_out;	/* of traces the head sampler dropped */
	uint64_t spans_tail_dropped;	/* of traces tail sampling dropped */
	/* Export (OTLP only; zero otherwise). */
	uint64_t export_sent;		/* accepted by the collector */
	uint64_t export_failed;		/* rejected or given up */
	uint64_t export_dropped;	/* never sent: queue full or shutdown */
	uint64_t export_queue;		/* spans waiting now */
};

/* Fill s from the kernel's counters (bpf: KSPAN_CNT_MAX values; conns:
 * KSPAN_CONNS_CNT_MAX values, or NULL without the conns programs) and the
 * main loop's. The export fields are left alone. */
void selfstats_collect(struct kspan_self_stats *s, const uint64_t *bpf,
		       const uint64_t *conns, const struct kspan_app *a);
/* One line at the info level: "kspan: info: self: events_submitted=N ...". */
void selfstats_log(FILE *f, const struct kspan_self_stats *s);

#endif /* __KSPAN_SELFSTATS_H */
