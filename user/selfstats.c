// SPDX-License-Identifier: Apache-2.0
/* kspan's own counters; see selfstats.h. */
#include "events.h"
#include "h2session.h"
#include "kspan_conns.h"
#include "log.h"
#include "nest.h"
#include "selfstats.h"
#include "tail.h"

void selfstats_collect(struct kspan_self_stats *s, const uint64_t *bpf,
		       const uint64_t *conns, const struct kspan_app *a)
{
	const struct h1_stats *h1 = h1_ctx_stats(a->h1);
	const struct h2_stats *h2 = h2_ctx_stats(a->h2);
	const struct trace_stats *ts = trace_buf_stats(a->traces);
	const struct nest_stats *ns = nest_stats(a->nest);
	const struct tail_sampler *tail;

	s->events_submitted = bpf[KSPAN_CNT_EVENTS];
	s->events_dropped = bpf[KSPAN_CNT_RB_FULL];
	if (conns) {
		s->events_submitted += conns[KSPAN_CONNS_CNT_EVENTS];
		s->events_dropped += conns[KSPAN_CONNS_CNT_RB_FULL];
	}
	s->events_received = a->st.events;
	s->bad_records = a->st.bad_records;
	s->http1_errors = h1->parse_errors;
	s->http2_errors = h2->protocol_errors + h2->hpack_errors + h2->malformed;
	s->paired = ts->paired;
	s->nested = ts->nested;
	s->unlinked = ns->ambiguous + ns->stale + h2->nest_refused;
	s->link_refused = ts->link_refused;
	s->spans_exported = ts->spans_out;
	s->spans_dropped = ts->dropped + h1->span_alloc_failed + h2->span_alloc_failed;
	s->spans_sampled_out = ts->sampled_out;
	tail = trace_tail(a->traces);
	s->spans_tail_dropped = tail ? tail_sampler_stats(tail)->dropped_spans : 0;
}

void selfstats_log(FILE *f, const struct kspan_self_stats *s)
{
	log_to(f, KLOG_INFO, "self: events_submitted=%llu events_dropped=%llu "
	       "events_received=%llu bad_records=%llu http1_errors=%llu http2_errors=%llu "
	       "paired=%llu nested=%llu unlinked=%llu link_refused=%llu spans_exported=%llu "
	       "spans_dropped=%llu spans_sampled_out=%llu spans_tail_dropped=%llu export_sent=%llu "
	       "export_failed=%llu export_dropped=%llu export_queue=%llu",
	       (unsigned long long)s->events_submitted, (unsigned long long)s->events_dropped,
	       (unsigned long long)s->events_received, (unsigned long long)s->bad_records,
	       (unsigned long long)s->http1_errors, (unsigned long long)s->http2_errors,
	       (unsigned long long)s->paired, (unsigned long long)s->nested,
	       (unsigned long long)s->unlinked, (unsigned long long)s->link_refused,
	       (unsigned long long)s->spans_exported, (unsigned long long)s->spans_dropped,
	       (unsigned long long)s->spans_sampled_out,
	       (unsigned long long)s->spans_tail_dropped, (unsigned long long)s->export_sent,
	       (unsigned long long)s->export_failed, (unsigned long long)s->export_dropped,
	       (unsigned long long)s->export_queue);
}
