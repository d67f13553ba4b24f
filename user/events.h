/* SPDX-License-Identifier: Apache-2.0 */
/* Ring-buffer records to connection state and spans. */
#ifndef __KSPAN_EVENTS_H
#define __KSPAN_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "h1session.h"
#include "trace.h"

struct event_stats {
	uint64_t events;
	uint64_t data_events;
	uint64_t bad_records;		/* records too short for their type */
	uint64_t skipped_other;		/* data events not parsed: protocol unknown or other */
	uint64_t not_http_conns;	/* connections classified as another protocol */
	uint64_t skipped_bytes;
};

struct h2_ctx;
struct nest_table;
struct tcpfig;

struct kspan_app {
	struct conn_table *conns;
	struct h1_ctx *h1;
	struct h2_ctx *h2;
	struct nest_table *nest;	/* server requests in flight per thread */
	struct trace_buf *traces;
	struct tcpfig *tcp;		/* TCP figures; NULL without the conns programs */
	struct event_stats st;
	uint64_t now_ns;		/* monotonic time of the current batch */
};

int app_init(struct kspan_app *a, uint32_t max_conns, uint32_t max_spans,
	     uint64_t linger_ns, bool pairing);
void app_free(struct kspan_app *a);
/* Keep TCP figures from the conns records (for spans and metrics). */
int app_tcp_init(struct kspan_app *a, uint32_t max_conns);
/* Decode one ring-buffer record. Always returns 0: a bad record is counted,
 * never fatal. Matches libbpf's ring_buffer_sample_fn. */
int app_handle_event(void *ctx, void *data, size_t size);
/* Forget connections idle for idle_ns (as of now_ns) and give back the
 * memory of pools and spans no longer in use. Once a second is enough. */
void app_sweep(struct kspan_app *a, uint64_t idle_ns);
/* Memory held for connections and their HTTP state now, in bytes. */
size_t app_bytes(const struct kspan_app *a);
/* End every connection (flushing responses that run until close). */
void app_close_all(struct kspan_app *a);

#endif /* __KSPAN_EVENTS_H */
