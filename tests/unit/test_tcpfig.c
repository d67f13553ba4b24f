// SPDX-License-Identifier: Apache-2.0
/* TCP figures in tracing mode: the retransmit history of a connection,
 * the attributes a span gets from it, the TCP metrics and their OTLP
 * form, and kspan's own counters. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "ids.h"
#include "otlp_internal.h"
#include "proc.h"
#include "selfstats.h"
#include "tcpfig.h"

#define US	1000ull
#define MS	1000000ull
#define SEC	1000000000ull

static void v4(uint8_t a[16], uint8_t x, uint8_t y, uint8_t z, uint8_t w)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = x;
	a[13] = y;
	a[14] = z;
	a[15] = w;
}

/* A record of connection `cookie`, the client end 10.0.0.1:40000 ->
 * 10.0.0.2:8080 of pid 42 unless changed. */
static struct kspan_conns_event ev(uint32_t type, uint64_t cookie, uint16_t seq, uint64_t ts,
				   uint32_t retrans)
{
	struct kspan_conns_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.cookie = cookie;
	e.seq = seq;
	e.ts = ts;
	e.ts_open = 1 * SEC;
	e.tgid = 42;
	e.role = KSPAN_ROLE_CLIENT;
	v4(e.tuple.saddr, 10, 0, 0, 1);
	v4(e.tuple.daddr, 10, 0, 0, 2);
	e.tuple.sport = 40000;
	e.tuple.dport = 8080;
	e.tuple.family = 2;
	e.state = 1;
	e.retrans = retrans;
	e.flags = KSPAN_CONNS_F_OPENED;
	return e;
}

static const struct conns_row *apply(struct conns_table *t, struct kspan_conns_event e)
{
	return conns_table_apply(t, &e, sizeof(e));
}

static uint32_t at(const struct conns_row *r, uint64_t ts)
{
	uint32_t v = 0xdead;

	assert_true(conns_retrans_at(r, ts, &v));
	return v;
}

static bool known(const struct conns_row *r, uint64_t ts)
{
	uint32_t v;

	return conns_retrans_at(r, ts, &v);
}

static void test_history_steps(void **state)
{
	struct conns_table *t = conns_table_new(8, 10 * SEC);
	const struct conns_row *r;

	(void)state;
	/* From a count of 0 the past is known too: the counter never
	 * goes down. */
	r = apply(t, ev(KSPAN_EV_CONNS_OPEN, 1, 1, 10 * SEC, 0));
	assert_int_equal(at(r, 5 * SEC), 0);
	assert_int_equal(at(r, 10 * SEC), 0);
	r = apply(t, ev(KSPAN_EV_CONNS_STATS, 1, 2, 11 * SEC, 1));
	r = apply(t, ev(KSPAN_EV_CONNS_STATS, 1, 3, 11500 * MS, 1));	/* no change */
	r = apply(t, ev(KSPAN_EV_CONNS_STATS, 1, 4, 12 * SEC, 3));
	assert_int_equal(r->hist_n, 2);
	assert_int_equal(at(r, 10500 * MS), 0);
	assert_int_equal(at(r, 11 * SEC - 1), 0);
	assert_int_equal(at(r, 11 * SEC), 1);
	assert_int_equal(at(r, 11999 * MS), 1);
	assert_int_equal(at(r, 12 * SEC), 3);
	assert_int_equal(at(r, 99 * SEC), 3);
	/* A record with the same number (re-read from the map) is no gap. */
	r = apply(t, ev(KSPAN_EV_CONNS_STATS, 1, 4, 13 * SEC, 3));
	assert_int_equal(at(r, 11 * SEC), 1);

	/* First seen with retransmits already counted: nothing before. */
	r = apply(t, ev(KSPAN_EV_CONNS_STATS, 2, 1, 20 * SEC, 2));
	assert_false(known(r, 19 * SEC));
	assert_int_equal(at(r, 20 * SEC), 2);
	conns_table_free(t);
}

static void test_history_gap_and_overflow(void **state)
{
	struct conns_table *t = conns_table_new(8, 10 * SEC);
	const struct conns_row *r;
	uint16_t seq = 1;

	(void)state;
	r = apply(t, ev(KSPAN_EV_CONNS_OPEN, 1, seq++, 10 * SEC, 0));
	r = apply(t, ev(KSPAN_EV_CONNS_STATS, 1, seq++, 11 * SEC, 1));
	/* Record 3 was lost (the ring was full): what happened between
	 * 11 s and 13 s is unknown, and so is everything before. */
	seq++;
	r = apply(t, ev(KSPAN_EV_CONNS_STATS, 1, seq++, 13 * SEC, 4));
	assert_false(known(r, 12 * SEC));
	assert_false(known(r, 11 * SEC));
	assert_int_equal(at(r, 13 * SEC), 4);
	/* Ten more changes: the oldest points make way. */
	for (uint32_t i = 0; i < 10; i++)
		r = apply(t, ev(KSPAN_EV_CONNS_STATS, 1, seq++, (14 + i) * SEC, 5 + i));
	assert_int_equal(r->hist_n, CONNS_HIST);
	assert_false(known(r, 15 * SEC - 1));
	assert_int_equal(at(r, 15 * SEC), 6);
	assert_int_equal(at(r, 23 * SEC), 14);
	/* A timestamp a moment before the last point's does not go back. */
	r = apply(t, ev(KSPAN_EV_CONNS_STATS, 1, seq++, 22 * SEC, 15));
	assert_int_equal(r->hist[r->hist_n - 1].ts, 23 * SEC);
	assert_int_equal(at(r, 23 * SEC), 15);
	/* seq wraps at 65536 without a gap. */
	r = apply(t, ev(KSPAN_EV_CONNS_OPEN, 3, 65535, 30 * SEC, 0));
	r = apply(t, ev(KSPAN_EV_CONNS_STATS, 3, 0, 31 * SEC, 1));
	assert_int_equal(at(r, 30 * SEC), 0);
	assert_int_equal(at(r, 31 * SEC), 1);
	conns_table_free(t);
}

static void test_marks(void **state)
{
	struct conns_table *t = conns_table_new(8, 10 * SEC);
	const struct conns_row *r;
	uint16_t seq = 1;
	uint32_t n;

	(void)state;
	r = apply(t, ev(KSPAN_EV_CONNS_ESTABLISHED, 1, seq++, 1 * SEC, 0));
	/* A request written at 2 s (three writes), its response read from
	 * 9 s: many retransmits in between, more than the history holds. */
	conns_table_data(t, 1, true, 2 * SEC);
	r = apply(t, ev(KSPAN_EV_CONNS_STATS, 1, seq++, 2 * SEC + 1, 1));
	conns_table_data(t, 1, true, 3 * SEC);
	for (uint32_t i = 0; i < 2 * CONNS_HIST; i++)
		r = apply(t, ev(KSPAN_EV_CONNS_STATS, 1, seq++, (3 * SEC) + (i + 1) * MS, 2 + i));
	conns_table_data(t, 1, true, 4 * SEC);
	conns_table_data(t, 1, false, 9 * SEC);
	conns_table_data(t, 1, false, 9100 * MS);
	assert_true(conns_retrans_between(r, 2 * SEC, 9100 * MS, &n));
	assert_int_equal(n, 2 * CONNS_HIST + 1);
	/* A start that is no mark, before the history: not known. */
	assert_false(conns_retrans_between(r, 3 * SEC, 9100 * MS, &n));
	/* A start inside the history is. */
	assert_true(conns_retrans_between(r, 3 * SEC + 2 * CONNS_HIST * MS - 1, 9 * SEC, &n));
	assert_int_equal(n, 1);
	/* The read that began the response run is a mark too. */
	assert_true(conns_retrans_between(r, 9 * SEC, 9100 * MS, &n));
	assert_int_equal(n, 0);
	/* Marks of a connection with no record are not made. */
	conns_table_data(t, 2, true, 5 * SEC);
	assert_null(conns_lookup(t, 2));
	conns_table_free(t);
}

static void test_metrics_buckets_and_overflow(void **state)
{
	struct tcpm *m = tcpm_new(3);
	const struct tcpm_series *s;
	struct tcpm_key k1 = { .pid = 1, .role = KSPAN_ROLE_CLIENT, .server_port = 80 };
	struct tcpm_key k2 = k1, k3 = k1;
	uint64_t gen;
	size_t n;

	(void)state;
	assert_null(tcpm_new(1));
	k2.server_port = 81;
	k3.server_port = 82;
	gen = tcpm_generation(m);
	/* A value on a boundary belongs to that bucket (le). */
	tcpm_connect(m, &k1, 0.0001, 5);
	tcpm_connect(m, &k1, 0.00011, 6);
	tcpm_connect(m, &k1, 20, 7);
	assert_true(tcpm_generation(m) != gen);
	s = tcpm_series(m, &n);
	assert_int_equal(n, 1);
	assert_int_equal(s[0].start_ns, 5);
	assert_int_equal(s[0].connect.count, 3);
	assert_int_equal(s[0].connect.buckets[0], 1);
	assert_int_equal(s[0].connect.buckets[1], 1);
	assert_int_equal(s[0].connect.buckets[TCPM_BOUNDS], 1);
	assert_true(s[0].connect.min == 0.0001 && s[0].connect.max == 20);
	assert_true(s[0].connect.sum > 20.0002 && s[0].connect.sum < 20.0003);
	tcpm_rtt(m, &k2, 0.04, 8);
	/* The third place is the overflow series'. */
	tcpm_retrans(m, &k3, 5, 9);
	tcpm_fail(m, &k3, TCPM_FAIL_TIMEOUT, 9);
	tcpm_fail(m, &k1, TCPM_FAIL_REFUSED, 9);
	s = tcpm_series(m, &n);
	assert_int_equal(n, 3);
	assert_false(s[1].overflow);
	assert_int_equal(s[1].rtt.count, 1);
	assert_int_equal(s[1].rtt.buckets[8], 1);	/* 0.025 < 0.04 <= 0.05 */
	assert_true(s[2].overflow);
	assert_int_equal(s[2].key.pid, 1);
	assert_int_equal(s[2].retrans, 5);
	assert_int_equal(s[2].fail[TCPM_FAIL_TIMEOUT], 1);
	assert_int_equal(s[0].fail[TCPM_FAIL_REFUSED], 1);
	assert_string_equal(tcpm_fail_name(TCPM_FAIL_UNREACHABLE), "unreachable");
	tcpm_free(m);
}

static struct span *span_on(uint64_t cookie, uint32_t req_no, uint64_t start, uint64_t end)
{
	struct span *sp = calloc(1, sizeof(*sp));

	span_init(sp);
	sp->conn_id = cookie;
	sp->req_no = req_no;
	sp->start_ns = ids_mono_to_unix(start);
	sp->end_ns = ids_mono_to_unix(end);
	return sp;
}

static int64_t iattr(const struct span *sp, const char *key)
{
	const struct span_attr *a = span_attr_find(sp, key);

	assert_non_null(a);
	assert_int_equal(a->type, SPAN_ATTR_INT);
	return a->v.i;
}

static void record(struct tcpfig *f, struct kspan_conns_event e)
{
	tcpfig_record(f, &e, sizeof(e));
}

static void test_spans_and_metrics(void **state)
{
	struct tcpfig *f = tcpfig_new(16, 16);
	struct kspan_conns_event e;
	const struct tcpm_series *s;
	struct span *sp;
	size_t n;

	(void)state;
	ids_init();
	/* A client connection: SYN at 1 s, established 40 ms later. */
	record(f, ev(KSPAN_EV_CONNS_OPEN, 7, 1, 1 * SEC, 0));
	e = ev(KSPAN_EV_CONNS_ESTABLISHED, 7, 2, 1 * SEC + 40 * MS, 0);
	e.flags |= KSPAN_CONNS_F_CONNECT | KSPAN_CONNS_F_RTT;
	e.connect_us = 40000;
	e.srtt_us = 40100;
	record(f, e);
	/* The first request, 1.05 s .. 1.1 s: no retransmit. */
	sp = span_on(7, 1, 1050 * MS, 1100 * MS);
	tcpfig_span(f, sp);
	assert_int_equal(iattr(sp, TCPFIG_ATTR_SRTT), 40100);
	assert_int_equal(iattr(sp, TCPFIG_ATTR_CONNECT), 40000);
	assert_int_equal(iattr(sp, TCPFIG_ATTR_RETRANS), 0);
	free(sp);
	/* Two segments sent again at 1.3 s and one at 1.5 s. */
	e = ev(KSPAN_EV_CONNS_STATS, 7, 3, 1300 * MS, 2);
	e.flags |= KSPAN_CONNS_F_CONNECT | KSPAN_CONNS_F_RTT;
	e.connect_us = 40000;
	e.srtt_us = 52000;
	record(f, e);
	e.seq = 4;
	e.ts = 1500 * MS;
	e.retrans = 3;
	record(f, e);
	/* The second request, 1.2 s .. 1.4 s, saw the first two only, and
	 * is not the one that opened the connection. */
	sp = span_on(7, 2, 1200 * MS, 1400 * MS);
	tcpfig_span(f, sp);
	assert_int_equal(iattr(sp, TCPFIG_ATTR_SRTT), 52000);
	assert_int_equal(iattr(sp, TCPFIG_ATTR_RETRANS), 2);
	assert_null(span_attr_find(sp, TCPFIG_ATTR_CONNECT));
	free(sp);
	/* A span on a connection kspan has no figures for gets none. */
	sp = span_on(8, 1, 1200 * MS, 1400 * MS);
	tcpfig_span(f, sp);
	assert_int_equal(sp->nattrs, 0);
	free(sp);

	/* Metrics: one connect of 40 ms, retransmits 3; RTT observed at
	 * 1.04 s, not again within the second. */
	s = tcpm_series(tcpfig_metrics(f), &n);
	assert_int_equal(n, 1);
	assert_int_equal(s[0].key.pid, 42);
	assert_int_equal(s[0].key.role, KSPAN_ROLE_CLIENT);
	assert_int_equal(s[0].key.server_port, 8080);
	assert_int_equal(s[0].key.server_addr[15], 2);
	assert_int_equal(s[0].connect.count, 1);
	assert_true(s[0].connect.sum > 0.0399 && s[0].connect.sum < 0.0401);
	assert_int_equal(s[0].retrans, 3);
	assert_int_equal(s[0].rtt.count, 1);
	e.seq = 5;
	e.ts = 2040 * MS;
	record(f, e);
	s = tcpm_series(tcpfig_metrics(f), &n);
	assert_int_equal(s[0].rtt.count, 2);
	assert_true(s[0].rtt.max > 0.0519 && s[0].rtt.max < 0.0521);

	/* A refused connect: a failure, no connect time. */
	record(f, ev(KSPAN_EV_CONNS_OPEN, 9, 1, 3 * SEC, 0));
	e = ev(KSPAN_EV_CONNS_FAILED, 9, 2, 3 * SEC + 1 * MS, 0);
	e.err = ECONNREFUSED;
	record(f, e);
	record(f, ev(KSPAN_EV_CONNS_CLOSE, 9, 3, 3 * SEC + 2 * MS, 0));
	s = tcpm_series(tcpfig_metrics(f), &n);
	assert_int_equal(n, 1);
	assert_int_equal(s[0].fail[TCPM_FAIL_REFUSED], 1);
	assert_int_equal(s[0].connect.count, 1);

	/* An accepted connection reported before its owner is known: its
	 * figures wait for the owner, then count once. */
	e = ev(KSPAN_EV_CONNS_ESTABLISHED, 11, 1, 4 * SEC, 1);
	e.tgid = 0;
	e.role = KSPAN_ROLE_SERVER;
	e.flags |= KSPAN_CONNS_F_CONNECT | KSPAN_CONNS_F_RTT;
	e.connect_us = e.srtt_us = 300;
	record(f, e);
	s = tcpm_series(tcpfig_metrics(f), &n);
	assert_int_equal(n, 1);
	tcpfig_owner(f, 11, 77);
	tcpfig_owner(f, 11, 77);
	s = tcpm_series(tcpfig_metrics(f), &n);
	assert_int_equal(n, 2);
	assert_int_equal(s[1].key.pid, 77);
	assert_int_equal(s[1].key.role, KSPAN_ROLE_SERVER);
	/* Server: the local end is the server, the client's address (not
	 * its port) the peer. */
	assert_int_equal(s[1].key.server_port, 40000);
	assert_int_equal(s[1].key.server_addr[15], 1);
	assert_int_equal(s[1].key.peer_addr[15], 2);
	assert_int_equal(s[1].retrans, 1);
	assert_int_equal(s[1].rtt.count, 1);
	assert_int_equal(s[1].connect.count, 0);	/* connect() is the client's */
	/* Its first request gets the handshake time. */
	sp = span_on(11, 1, 4100 * MS, 4200 * MS);
	tcpfig_span(f, sp);
	assert_int_equal(iattr(sp, TCPFIG_ATTR_CONNECT), 300);
	assert_int_equal(iattr(sp, TCPFIG_ATTR_RETRANS), 0);
	free(sp);
	/* A request that began before the first record, which already
	 * counted a retransmit: when it happened is unknown, so no count. */
	sp = span_on(11, 1, 3900 * MS, 4200 * MS);
	tcpfig_span(f, sp);
	assert_null(span_attr_find(sp, TCPFIG_ATTR_RETRANS));
	free(sp);
	assert_int_equal(tcpfig_stats(f)->records, 9);
	tcpfig_free(f);
}

static struct otlp_resource *test_resource(uint32_t pid)
{
	struct proc_info pi = { .pid = pid };

	strcpy(pi.service_name, "orders");
	strcpy(pi.exe_name, "python3");
	strcpy(pi.exe_path, "/usr/bin/python3");
	strcpy(pi.command_line, "python3 app.py");
	return otlp_resource_new("/nonexistent", pid, &pi, "node1", NULL, 0);
}

static const OtlpMetric *find_metric(const OtlpResourceMetrics *rm, const char *name)
{
	const OtlpScopeMetrics *sm = rm->scope_metrics[0];

	for (size_t i = 0; i < sm->n_metrics; i++)
		if (strcmp(sm->metrics[i]->name, name) == 0)
			return sm->metrics[i];
	return NULL;
}

static const char *kv_str(OtlpKeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i]->key, key) == 0)
			return kv[i]->value->string_value;
	return NULL;
}

static int64_t kv_int(OtlpKeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i]->key, key) == 0)
			return kv[i]->value->int_value;
	return -1;
}

static void test_otlp_form(void **state)
{
	struct otlp_metrics *hm = otlp_metrics_new(8, 1);
	struct otlp_resource *r1 = test_resource(10), *self = test_resource(99);
	struct tcpm *m = tcpm_new(8);
	struct tcpm_key kc = { .pid = 10, .role = KSPAN_ROLE_CLIENT, .server_port = 5432 };
	struct tcpm_key ks = { .pid = 10, .role = KSPAN_ROLE_SERVER, .server_port = 8080 };
	struct kspan_self_stats app = { .events_submitted = 100, .events_received = 98,
					.events_dropped = 2, .http1_errors = 3, .unlinked = 4,
					.link_refused = 5, .spans_exported = 6, .spans_dropped = 7 };
	struct otlp_self_counters sc = { .self = self, .sent = 6, .queue = 1,
					 .queue_capacity = 2048, .app = &app };
	struct otlp_tcp_series ts[2];
	struct span *sp = calloc(1, sizeof(*sp));
	const struct tcpm_series *s;
	const OtlpResourceMetrics *rm;
	const OtlpMetric *mt;
	struct otlp_arena a = {};
	OtlpMetricsReq *req, *back;
	uint8_t *buf;
	size_t n, points, len;

	(void)state;
	v4(kc.server_addr, 10, 0, 0, 5);
	v4(ks.server_addr, 10, 0, 0, 1);
	v4(ks.peer_addr, 10, 0, 0, 9);
	tcpm_connect(m, &kc, 0.002, 50);
	tcpm_connect(m, &kc, 0.003, 51);
	tcpm_rtt(m, &kc, 0.001, 51);
	tcpm_fail(m, &kc, TCPM_FAIL_TIMEOUT, 52);
	tcpm_rtt(m, &ks, 0.0002, 53);
	tcpm_retrans(m, &ks, 4, 53);
	s = tcpm_series(m, &n);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		ts[i].s = s[i];
		ts[i].res = r1;
	}
	/* An HTTP span of the same process: one ResourceMetrics for both. */
	span_init(sp);
	sp->kind = SPAN_KIND_CLIENT;
	sp->start_ns = 1000;
	sp->end_ns = 2000;
	span_attr_str(sp, "http.request.method", "GET", 3);
	assert_true(otlp_metrics_record(hm, sp, r1));

	req = otlp_metrics_build(hm, &a, 99, &sc, ts, 2, &points);
	assert_non_null(req);
	assert_int_equal(req->n_resource_metrics, 2);
	/* Pack and decode again: the message is well formed. */
	len = protobuf_c_message_get_packed_size(&req->base);
	buf = malloc(len);
	protobuf_c_message_pack(&req->base, buf);
	back = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, buf);
	assert_non_null(back);
	rm = back->resource_metrics[0];
	assert_int_equal(rm->scope_metrics[0]->n_metrics, 5);
	assert_non_null(find_metric(rm, "http.client.request.duration"));
	mt = find_metric(rm, "kspan.tcp.connect.duration");
	assert_non_null(mt);
	assert_string_equal(mt->unit, "s");
	assert_int_equal(mt->histogram->n_data_points, 1);
	{
		const OtlpHistPoint *p = mt->histogram->data_points[0];

		assert_int_equal(p->count, 2);
		assert_int_equal(p->n_explicit_bounds, TCPM_BOUNDS);
		assert_int_equal(p->n_bucket_counts, TCPM_BOUNDS + 1);
		assert_int_equal(p->bucket_counts[4], 1);	/* 0.001 < 2 ms <= 0.0025 */
		assert_int_equal(p->bucket_counts[5], 1);	/* 0.0025 < 3 ms <= 0.005 */
		assert_int_equal(p->start_time_unix_nano, 50);
		assert_int_equal(p->time_unix_nano, 99);
		assert_string_equal(kv_str(p->attributes, p->n_attributes, "server.address"),
				    "10.0.0.5");
		assert_int_equal(kv_int(p->attributes, p->n_attributes, "server.port"), 5432);
		assert_string_equal(kv_str(p->attributes, p->n_attributes, "kspan.tcp.role"),
				    "client");
		assert_string_equal(kv_str(p->attributes, p->n_attributes, "network.type"),
				    "ipv4");
		assert_null(kv_str(p->attributes, p->n_attributes, "network.peer.address"));
	}
	mt = find_metric(rm, "kspan.tcp.rtt");
	assert_int_equal(mt->histogram->n_data_points, 2);
	mt = find_metric(rm, "kspan.tcp.retransmits");
	assert_string_equal(mt->unit, "{segment}");
	assert_true(mt->sum->is_monotonic);
	assert_int_equal(mt->sum->n_data_points, 2);
	{
		const OtlpNumberPoint *p = mt->sum->data_points[1];

		assert_int_equal(p->as_int, 4);
		assert_string_equal(kv_str(p->attributes, p->n_attributes, "kspan.tcp.role"),
				    "server");
		assert_string_equal(kv_str(p->attributes, p->n_attributes, "server.address"),
				    "10.0.0.1");
		assert_string_equal(kv_str(p->attributes, p->n_attributes,
					   "network.peer.address"), "10.0.0.9");
		assert_int_equal(kv_int(p->attributes, p->n_attributes, "server.port"), 8080);
	}
	mt = find_metric(rm, "kspan.tcp.connect.failures");
	assert_int_equal(mt->sum->n_data_points, 1);
	assert_int_equal(mt->sum->data_points[0]->as_int, 1);
	assert_string_equal(kv_str(mt->sum->data_points[0]->attributes,
				   mt->sum->data_points[0]->n_attributes, "error.type"), "timeout");

	/* kspan's own resource: exporter results, queue, and the main
	 * loop's counters. */
	rm = back->resource_metrics[1];
	assert_int_equal(rm->scope_metrics[0]->n_metrics, 12);
	mt = find_metric(rm, "otel.sdk.processor.span.queue.size");
	assert_false(mt->sum->is_monotonic);
	assert_int_equal(mt->sum->data_points[0]->as_int, 1);
	mt = find_metric(rm, "otel.sdk.processor.span.queue.capacity");
	assert_int_equal(mt->sum->data_points[0]->as_int, 2048);
	mt = find_metric(rm, "kspan.events.submitted");
	assert_int_equal(mt->sum->data_points[0]->as_int, 100);
	mt = find_metric(rm, "kspan.events.dropped");
	assert_int_equal(mt->sum->data_points[0]->as_int, 2);
	mt = find_metric(rm, "kspan.events.received");
	assert_int_equal(mt->sum->data_points[0]->as_int, 98);
	mt = find_metric(rm, "kspan.parse.errors");
	assert_int_equal(mt->sum->n_data_points, 3);
	assert_string_equal(kv_str(mt->sum->data_points[0]->attributes, 1, "kspan.parser"),
			    "http1");
	assert_int_equal(mt->sum->data_points[0]->as_int, 3);
	mt = find_metric(rm, "kspan.span.links");
	assert_int_equal(mt->sum->n_data_points, 4);
	assert_string_equal(kv_str(mt->sum->data_points[2]->attributes, 1,
				   "kspan.link.outcome"), "unlinked");
	assert_int_equal(mt->sum->data_points[2]->as_int, 4);
	assert_int_equal(mt->sum->data_points[3]->as_int, 5);
	mt = find_metric(rm, "kspan.spans.exported");
	assert_int_equal(mt->sum->data_points[0]->as_int, 6);
	mt = find_metric(rm, "kspan.spans.dropped");
	assert_int_equal(mt->sum->data_points[0]->as_int, 7);
	mt = find_metric(rm, "otel.sdk.exporter.span.exported");
	assert_int_equal(mt->sum->data_points[0]->as_int, 6);
	/* 1 HTTP + 1 + 2 + 2 + 1 TCP, 3 + 2 + 1 + 1 + 1 exporter, 1 + 1 + 1 +
	 * 3 + 4 + 1 + 3 main loop. */
	assert_int_equal(points, 7 + 8 + 14);

	/* Without the main loop's snapshot, only the exporter's own. */
	sc.app = NULL;
	req = otlp_metrics_build(hm, &a, 99, &sc, NULL, 0, &points);
	assert_int_equal(req->n_resource_metrics, 2);
	assert_int_equal(req->resource_metrics[1]->scope_metrics[0]->n_metrics, 5);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		back, NULL);
	free(buf);
	free(sp);
	otlp_arena_free(&a);
	otlp_metrics_free(hm);
	tcpm_free(m);
	otlp_resource_put(r1);
	otlp_resource_put(self);
}

static void test_self_stats(void **state)
{
	struct kspan_app app;
	uint64_t bpf[KSPAN_CNT_MAX] = {}, conns[KSPAN_CONNS_CNT_MAX] = {};
	struct kspan_self_stats st = { .export_sent = 9 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(app_init(&app, 64, 64, 0, true), 0);
	bpf[KSPAN_CNT_EVENTS] = 10;
	bpf[KSPAN_CNT_RB_FULL] = 1;
	conns[KSPAN_CONNS_CNT_EVENTS] = 5;
	conns[KSPAN_CONNS_CNT_RB_FULL] = 2;
	app.st.events = 12;
	selfstats_collect(&st, bpf, conns, &app);
	assert_int_equal(st.events_submitted, 15);
	assert_int_equal(st.events_dropped, 3);
	assert_int_equal(st.events_received, 12);
	assert_int_equal(st.export_sent, 9);	/* left alone */
	selfstats_collect(&st, bpf, NULL, &app);
	assert_int_equal(st.events_submitted, 10);
	f = open_memstream(&buf, &len);
	selfstats_log(f, &st);
	fclose(f);
	assert_true(strncmp(buf, "kspan: info: self: events_submitted=10 events_dropped=1 "
			    "events_received=12 ", 57) == 0);
	assert_non_null(strstr(buf, " export_sent=9 "));
	assert_int_equal(buf[len - 1], '\n');
	free(buf);
	app_free(&app);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_steps),
		cmocka_unit_test(test_history_gap_and_overflow),
		cmocka_unit_test(test_marks),
		cmocka_unit_test(test_metrics_buckets_and_overflow),
		cmocka_unit_test(test_spans_and_metrics),
		cmocka_unit_test(test_otlp_form),
		cmocka_unit_test(test_self_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
