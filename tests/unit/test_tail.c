// SPDX-License-Identifier: Apache-2.0
/* Tail sampling: the policies, the ratio over many ids, the bounds of the
 * decision table, and the trace buffer deciding with them: waiting for a
 * parent in flight, deciding early, late parts following a decision. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "export.h"
#include "ids.h"
#include "sampler.h"
#include "tail.h"
#include "trace.h"

#define MS 1000000ull
#define T0 1700000000000000000ull	/* span times: unix epoch */

static void id_from(uint8_t id[16], uint32_t n)
{
	memset(id, 0, 16);
	id[0] = 0x5a;
	for (int i = 0; i < 4; i++)
		id[12 + i] = (uint8_t)(n >> (24 - 8 * i));
}

static void mk(struct span *s, uint32_t n, uint8_t kind, uint64_t dur_ms, uint8_t status,
	       const char *path)
{
	span_init(s);
	id_from(s->trace_id, n);
	ids_span_id(s->span_id);
	s->kind = kind;
	s->status = status;
	s->start_ns = T0;
	s->end_ns = T0 + dur_ms * MS;
	s->trace_flags = 1;
	if (path)
		span_attr_str(s, "url.path", path, strlen(path));
}

static void test_glob(void **state)
{
	static const struct {
		const char *pat, *text;
		bool match;
	} cases[] = {
		{ "/checkout", "/checkout", true },
		{ "/checkout", "/checkout/1", false },
		{ "/checkout", "/checkou", false },
		{ "/checkout*", "/checkout", true },
		{ "/checkout*", "/checkout/1/pay", true },
		{ "/api/*/orders", "/api/v1/orders", true },
		{ "/api/*/orders", "/api/v1/x/orders", true },
		{ "/api/*/orders", "/api/v1/orders/2", false },
		{ "*", "", true },
		{ "", "", true },
		{ "", "/", false },
		{ "/a?c", "/abc", true },
		{ "/a?c", "/ac", false },
		{ "*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
		{ "*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", true },
		{ "**/x", "/y/x", true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(tail_glob(cases[i].pat, cases[i].text, strlen(cases[i].text)),
				 cases[i].match);
	/* The text is (buf, len): bytes past len are never read. */
	assert_true(tail_glob("/ab", "/abXYZ", 3));
	assert_false(tail_glob("/ab*Z", "/abXYZ", 5));
}

static void test_options(void **state)
{
	static const char *const bad_ratios[] = { "1.5", "-0.1", "abc", "", "nan", "0.5x" };
	struct tail_config c;
	char many[40 * 17];

	(void)state;
	tail_config_init(&c);
	assert_false(c.enabled);
	assert_int_equal(c.wait_ns, TAIL_WAIT_DEFAULT_MS * MS);
	assert_int_equal(c.ratio_threshold, 0);
	assert_int_equal(tail_config_option(&c, "tail-sampling", NULL), 0);
	assert_true(c.enabled);

	tail_config_init(&c);
	assert_int_equal(tail_config_option(&c, "tail-ratio", "0.25"), 0);
	assert_true(c.enabled && c.ratio == 0.25);
	assert_int_equal(c.ratio_threshold, sampler_ratio_threshold(0.25));
	assert_int_equal(tail_config_option(&c, "tail-ratio", "1"), 0);
	assert_int_equal(c.ratio_threshold, UINT64_MAX);
	for (size_t i = 0; i < sizeof(bad_ratios) / sizeof(bad_ratios[0]); i++)
		assert_int_equal(tail_config_option(&c, "tail-ratio", bad_ratios[i]), -1);
	assert_int_equal(tail_config_option(&c, "tail-keep-slower-than", "250"), 0);
	assert_int_equal(c.slower_than_ns, 250 * MS);
	assert_int_equal(tail_config_option(&c, "tail-keep-slower-than", "0"), -1);
	assert_int_equal(tail_config_option(&c, "tail-keep-slower-than", "-1"), -1);
	assert_int_equal(tail_config_option(&c, "tail-keep-slower-than", "10s"), -1);
	assert_int_equal(tail_config_option(&c, "tail-decision-wait", "2000"), 0);
	assert_int_equal(c.wait_ns, 2000 * MS);
	assert_int_equal(tail_config_option(&c, "tail-decision-wait", "600001"), -1);

	/* Routes: comma lists, repeatable, bounded in count and length. */
	assert_int_equal(tail_config_option(&c, "tail-keep-routes", "/a*,/b"), 0);
	assert_int_equal(tail_config_option(&c, "tail-keep-routes", "/c"), 0);
	assert_int_equal(c.nroutes, 3);
	assert_string_equal(c.routes[0], "/a*");
	assert_string_equal(c.routes[1], "/b");
	assert_string_equal(c.routes[2], "/c");
	assert_int_equal(tail_config_option(&c, "tail-keep-routes", "/d,"), -1);
	assert_int_equal(tail_config_option(&c, "tail-keep-routes", ",/d"), -1);
	memset(many, 'x', TAIL_ROUTE_LEN);
	many[TAIL_ROUTE_LEN] = '\0';
	assert_int_equal(tail_config_option(&c, "tail-keep-routes", many), -1);
	many[TAIL_ROUTE_LEN - 1] = '\0';
	tail_config_init(&c);
	assert_int_equal(tail_config_option(&c, "tail-keep-routes", many), 0);
	assert_int_equal(strlen(c.routes[0]), TAIL_ROUTE_LEN - 1);
	tail_config_init(&c);
	many[0] = '\0';
	for (int i = 0; i < TAIL_ROUTES_MAX + 1; i++)
		sprintf(many + strlen(many), "%s/r%d", i ? "," : "", i);
	assert_int_equal(tail_config_option(&c, "tail-keep-routes", many), -1);

	assert_int_equal(tail_config_option(&c, "tail-nonsense", "1"), -1);
	assert_string_equal(tail_option_name(TAIL_OPT_FIRST + 2), "tail-keep-routes");
	assert_null(tail_option_name(TAIL_OPT_LAST + 1));
}

static void test_policies(void **state)
{
	struct tail_config c;
	struct span a, b;
	const struct span *two[2] = { &a, &b };
	uint8_t id[16];

	(void)state;
	tail_config_init(&c);
	tail_config_option(&c, "tail-keep-slower-than", "100");
	tail_config_option(&c, "tail-keep-routes", "/checkout*,/api/*/pay");
	id_from(id, 1);

	mk(&a, 1, SPAN_KIND_SERVER, 5, SPAN_STATUS_UNSET, "/home");
	mk(&b, 1, SPAN_KIND_CLIENT, 5, SPAN_STATUS_UNSET, "/stock");
	assert_int_equal(tail_policy(&c, two, 2, id), TAIL_DROP);
	/* Any span with ERROR keeps, first of all policies. */
	b.status = SPAN_STATUS_ERROR;
	b.end_ns = b.start_ns + 500 * MS;
	assert_int_equal(tail_policy(&c, two, 2, id), TAIL_KEEP_ERROR);
	/* Slower than: the longest span, strictly longer than the threshold. */
	b.status = SPAN_STATUS_OK;
	b.end_ns = b.start_ns + 100 * MS;
	assert_int_equal(tail_policy(&c, two, 2, id), TAIL_DROP);
	b.end_ns++;
	assert_int_equal(tail_policy(&c, two, 2, id), TAIL_KEEP_SLOW);
	b.end_ns = b.start_ns + 5 * MS;
	/* Routes: url.path of any span, server or client. */
	mk(&b, 1, SPAN_KIND_CLIENT, 5, SPAN_STATUS_UNSET, "/checkout/42");
	assert_int_equal(tail_policy(&c, two, 2, id), TAIL_KEEP_ROUTE);
	mk(&b, 1, SPAN_KIND_CLIENT, 5, SPAN_STATUS_UNSET, "/api/v2/pay");
	assert_int_equal(tail_policy(&c, two, 2, id), TAIL_KEEP_ROUTE);
	mk(&b, 1, SPAN_KIND_CLIENT, 5, SPAN_STATUS_UNSET, "/api/v2/pay/now");
	assert_int_equal(tail_policy(&c, two, 2, id), TAIL_DROP);
	/* http.route, when a span has one, is matched instead of url.path. */
	mk(&a, 1, SPAN_KIND_SERVER, 5, SPAN_STATUS_UNSET, "/checkout/42");
	span_attr_str(&a, "http.route", "/cart/{id}", 10);
	assert_int_equal(tail_policy(&c, two, 1, id), TAIL_DROP);
	mk(&a, 1, SPAN_KIND_SERVER, 5, SPAN_STATUS_UNSET, "/cart/42");
	span_attr_str(&a, "http.route", "/checkout/{id}", 14);
	assert_int_equal(tail_policy(&c, two, 1, id), TAIL_KEEP_ROUTE);
	/* A span with no route. */
	mk(&a, 1, SPAN_KIND_SERVER, 5, SPAN_STATUS_UNSET, NULL);
	assert_int_equal(tail_policy(&c, two, 1, id), TAIL_DROP);
	/* Ratio last: 1 keeps all the rest, 0 none. */
	tail_config_option(&c, "tail-ratio", "1");
	assert_int_equal(tail_policy(&c, two, 1, id), TAIL_KEEP_RATIO);
	a.status = SPAN_STATUS_ERROR;
	assert_int_equal(tail_policy(&c, two, 1, id), TAIL_KEEP_ERROR);
}

/* Over 10k random trace ids the kept share is within 5 standard deviations
 * of the ratio, the ids kept are those traceidratio keeps at the same ratio,
 * and a smaller ratio keeps a subset of a larger one. */
static void test_ratio_over_10k_ids(void **state)
{
	static const double ratios[] = { 0.01, 0.1, 0.3, 0.5 };
	struct tail_config c[4];
	struct sampler head[4];
	struct span s;
	const struct span *one[1] = { &s };
	int kept[4] = { 0 }, n = 10000;

	(void)state;
	ids_init();
	for (int r = 0; r < 4; r++) {
		char arg[16];

		snprintf(arg, sizeof(arg), "%g", ratios[r]);
		tail_config_init(&c[r]);
		assert_int_equal(tail_config_option(&c[r], "tail-ratio", arg), 0);
		sampler_from_env(&head[r], "traceidratio", arg, stderr);
	}
	mk(&s, 0, SPAN_KIND_SERVER, 1, SPAN_STATUS_UNSET, "/x");
	for (int i = 0; i < n; i++) {
		bool prev = true;

		ids_trace_id(s.trace_id);
		for (int r = 3; r >= 0; r--) {
			bool k = tail_policy(&c[r], one, 1, s.trace_id) == TAIL_KEEP_RATIO;

			assert_int_equal(k, sampler_keep(&head[r], s.trace_id, false, 0));
			assert_true(prev || !k);
			prev = k;
			kept[r] += k;
		}
	}
	for (int r = 0; r < 4; r++) {
		double sd = sqrt(n * ratios[r] * (1 - ratios[r]));

		assert_true(fabs(kept[r] - n * ratios[r]) <= 5 * sd);
	}
}

static void test_table_bounds(void **state)
{
	struct tail_table *t = tail_table_new(100);
	uint32_t cap, hits = 0, inserts, evicted = 0;
	uint8_t id[16];

	(void)state;
	/* Rounded up to whole sets of 8, a power of two of them. */
	cap = tail_table_capacity(t);
	assert_int_equal(cap, 128);
	inserts = 8 * cap;
	for (uint32_t i = 0; i < inserts; i++) {
		id_from(id, i);
		assert_int_equal(tail_table_get(t, id), -1);
		evicted += tail_table_put(t, id, i & 1);
	}
	/* Every set is full: exactly capacity decisions are still known, the
	 * others were pushed out, and each known one is the decision made. */
	for (uint32_t i = 0; i < inserts; i++) {
		int v;

		id_from(id, i);
		v = tail_table_get(t, id);
		if (v >= 0) {
			hits++;
			assert_int_equal(v, (int)(i & 1));
		}
	}
	assert_int_equal(hits, cap);
	assert_int_equal(evicted, inserts - cap);
	/* The newest decision is always known; deciding again overwrites. */
	id_from(id, inserts - 1);
	assert_int_equal(tail_table_get(t, id), 1);
	assert_false(tail_table_put(t, id, false));
	assert_int_equal(tail_table_get(t, id), 0);
	tail_table_free(t);

	/* One set: the oldest goes first, and a lookup makes an entry new. */
	t = tail_table_new(1);
	assert_int_equal(tail_table_capacity(t), 8);
	for (uint32_t i = 0; i < 8; i++) {
		id_from(id, i);
		assert_false(tail_table_put(t, id, true));
	}
	id_from(id, 0);
	assert_int_equal(tail_table_get(t, id), 1);
	id_from(id, 8);
	assert_true(tail_table_put(t, id, true));
	id_from(id, 1);
	assert_int_equal(tail_table_get(t, id), -1);
	id_from(id, 0);
	assert_int_equal(tail_table_get(t, id), 1);
	tail_table_free(t);
}

static void test_decide_counts(void **state)
{
	struct tail_config c;
	struct tail_sampler *ts;
	const struct tail_stats *st;
	struct span a, b;
	const struct span *two[2] = { &a, &b };

	(void)state;
	tail_config_init(&c);
	tail_config_option(&c, "tail-keep-slower-than", "100");
	ts = tail_sampler_new(&c, 8);
	st = tail_sampler_stats(ts);
	mk(&a, 1, SPAN_KIND_SERVER, 5, SPAN_STATUS_ERROR, "/");
	mk(&b, 1, SPAN_KIND_CLIENT, 5, SPAN_STATUS_UNSET, "/");
	assert_true(tail_decide(ts, two, 2, a.trace_id, false, TAIL_ON_TIME));
	/* A later part follows, whatever it shows. */
	a.status = SPAN_STATUS_UNSET;
	assert_true(tail_decide(ts, two, 1, a.trace_id, false, TAIL_EARLY_FULL));
	mk(&a, 2, SPAN_KIND_SERVER, 5, SPAN_STATUS_UNSET, "/");
	assert_false(tail_decide(ts, two, 1, a.trace_id, false, TAIL_EARLY_WAIT));
	a.status = SPAN_STATUS_ERROR;
	assert_false(tail_decide(ts, two, 2, a.trace_id, true, TAIL_ON_TIME));
	mk(&a, 3, SPAN_KIND_SERVER, 500, SPAN_STATUS_UNSET, "/");
	assert_true(tail_decide(ts, two, 1, a.trace_id, true, TAIL_EARLY_FULL));
	assert_true(tail_decided(ts, a.trace_id));
	assert_int_equal(st->kept_error, 1);
	assert_int_equal(st->kept_slow, 1);
	assert_int_equal(st->kept_route + st->kept_ratio, 0);
	assert_int_equal(st->dropped, 1);
	assert_int_equal(st->dropped_spans, 3);
	assert_int_equal(st->late_kept, 1);
	assert_int_equal(st->late_dropped, 1);
	assert_int_equal(st->misses, 1);
	assert_int_equal(st->early_full, 1);	/* late parts are not decisions */
	assert_int_equal(st->early_wait, 1);
	assert_int_equal(st->evicted, 0);
	tail_sampler_free(ts);
}

/* The trace buffer with tail sampling, fed by hand. */

struct capture {
	struct exporter e;
	const struct span *got[64];
	struct span copy[64];
	size_t n;
	size_t calls, spans;	/* every export call, every span handed over */
	size_t room;		/* what cap_room() says */
	uint32_t last_trace;	/* trace_id's low word of the last span seen */
	bool out_of_order;
};

static int cap_export(struct exporter *e, const struct span *const *spans, size_t n)
{
	struct capture *c = (struct capture *)e;

	c->calls++;
	c->spans += n;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *b = spans[i]->trace_id + 12;
		uint32_t id = (uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];

		c->out_of_order |= id < c->last_trace;
		c->last_trace = id;
	}
	for (size_t i = 0; i < n && c->n < 64; i++) {
		c->copy[c->n] = *spans[i];
		c->got[c->n] = &c->copy[c->n];
		c->n++;
	}
	return 0;
}

static size_t cap_room(struct exporter *e)
{
	return ((struct capture *)e)->room;
}

static int cap_flush(struct exporter *e)
{
	(void)e;
	return 0;
}

static void cap_destroy(struct exporter *e)
{
	(void)e;
}

static void cap_init(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	c->e.name = "capture";
	c->e.export = cap_export;
	c->e.flush = cap_flush;
	c->e.destroy = cap_destroy;
}

static const struct span *by_path(const struct capture *c, const char *path)
{
	for (size_t i = 0; i < c->n; i++) {
		size_t len;
		const char *r = tail_span_route(c->got[i], &len);

		if (r && len == strlen(path) && !memcmp(r, path, len))
			return c->got[i];
	}
	return NULL;
}

struct rig {
	struct trace_buf *t;
	struct tail_sampler *ts;
	struct capture cap;
	const struct tail_stats *st;
};

static void rig_init(struct rig *r, uint32_t max_spans, uint32_t table, const char *slow)
{
	struct tail_config c;

	tail_config_init(&c);
	tail_config_option(&c, "tail-sampling", NULL);
	tail_config_option(&c, "tail-decision-wait", "2000");
	if (slow)
		tail_config_option(&c, "tail-keep-slower-than", slow);
	r->t = trace_buf_new(max_spans, 100 * MS, true);
	r->ts = tail_sampler_new(&c, table);
	assert_non_null(r->t);
	assert_non_null(r->ts);
	cap_init(&r->cap);
	trace_add_exporter(r->t, &r->cap.e);
	trace_set_tail(r->t, r->ts);
	r->st = tail_sampler_stats(r->ts);
}

static void rig_free(struct rig *r)
{
	trace_buf_free(r->t);
	tail_sampler_free(r->ts);
}

/* A server request (pid 7, connection conn, request 1) and, optionally,
 * the client call its thread made while serving it. */
static struct span *submit_server(struct rig *r, uint32_t n, uint64_t conn, uint64_t dur_ms,
				  uint8_t status, const char *path, uint64_t now)
{
	struct span *s = trace_span_alloc(r->t);

	if (!s)
		return NULL;
	mk(s, n, SPAN_KIND_SERVER, dur_ms, status, path);
	s->pid = 7;
	s->conn_id = conn;
	s->req_no = 1;
	trace_span_submit(r->t, s, now);
	return s;
}

static struct span *submit_nested(struct rig *r, uint32_t n, uint64_t conn, const char *path,
				  uint64_t now)
{
	struct span *s = trace_span_alloc(r->t);

	mk(s, n, SPAN_KIND_CLIENT, 5, SPAN_STATUS_UNSET, path);
	s->start_ns += MS;
	s->end_ns += MS;
	s->pid = 7;
	s->nest_conn = conn;
	s->nest_seq = 1;
	trace_span_submit(r->t, s, now);
	return s;
}

static void test_buffer_keeps_errors_drops_rest(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 64, 64, NULL);
	submit_server(&r, 1, 11, 5, SPAN_STATUS_ERROR, "/fail", 0);
	submit_server(&r, 2, 12, 5, SPAN_STATUS_OK, "/ok", 0);
	trace_flush(r.t, 50 * MS, false);
	assert_int_equal(r.cap.n, 0);			/* still lingering */
	trace_flush(r.t, 100 * MS, false);
	assert_int_equal(r.cap.n, 1);
	assert_non_null(by_path(&r.cap, "/fail"));
	assert_int_equal(r.st->kept_error, 1);
	assert_int_equal(r.st->dropped, 1);
	assert_int_equal(r.st->dropped_spans, 1);
	assert_int_equal(trace_buf_stats(r.t)->traces_out, 1);
	rig_free(&r);
}

/* A client call whose server request has not finished waits for it past
 * the linger, so the slow request is judged whole; without tail sampling
 * the call goes alone. */
static void test_waits_for_parent_in_flight(void **state)
{
	struct rig r;
	const struct span *srv, *cli;

	(void)state;
	rig_init(&r, 64, 64, "500");
	submit_nested(&r, 2, 21, "/downstream", 0);
	trace_flush(r.t, 400 * MS, false);
	assert_int_equal(r.cap.n, 0);
	submit_server(&r, 1, 21, 700, SPAN_STATUS_OK, "/slow", 700 * MS);
	trace_flush(r.t, 750 * MS, false);
	assert_int_equal(r.cap.n, 0);
	trace_flush(r.t, 800 * MS, false);
	assert_int_equal(r.cap.n, 2);
	srv = by_path(&r.cap, "/slow");
	cli = by_path(&r.cap, "/downstream");
	assert_non_null(srv);
	assert_non_null(cli);
	assert_memory_equal(cli->trace_id, srv->trace_id, 16);
	assert_memory_equal(cli->parent_span_id, srv->span_id, 8);
	assert_int_equal(r.st->kept_slow, 1);
	assert_int_equal(r.st->early_wait + r.st->early_full, 0);
	rig_free(&r);

	/* No tail sampling: the linger alone. */
	rig_init(&r, 64, 64, "500");
	trace_set_tail(r.t, NULL);
	submit_nested(&r, 2, 21, "/downstream", 0);
	trace_flush(r.t, 400 * MS, false);
	assert_int_equal(r.cap.n, 1);
	rig_free(&r);
}

static void test_decision_wait_runs_out(void **state)
{
	struct rig r;
	uint8_t prev[8];

	(void)state;
	rig_init(&r, 64, 64, NULL);
	submit_nested(&r, 2, 31, "/orphan", 0);
	trace_flush(r.t, 1999 * MS, false);
	assert_int_equal(r.st->dropped, 0);
	trace_flush(r.t, 2000 * MS, false);
	assert_int_equal(r.st->dropped, 1);
	assert_int_equal(r.st->early_wait, 1);
	/* A trace that keeps growing is decided when the wait runs out too. */
	for (uint64_t t = 0; t <= 2100; t += 50) {
		struct span *s = trace_span_alloc(r.t);

		mk(s, 3, SPAN_KIND_SERVER, 1, SPAN_STATUS_UNSET, "/grow");
		/* each names the previous one as its parent, by id */
		s->pid = 7;
		if (t) {
			memcpy(s->parent_span_id, prev, 8);
			s->parent_by_id = true;
		}
		memcpy(prev, s->span_id, 8);
		s->start_ns += t * MS;
		trace_span_submit(r.t, s, (3000 + t) * MS);
		trace_flush(r.t, (3000 + t) * MS, false);
		if (t < 2000)
			assert_int_equal(r.st->early_wait, 1);
	}
	assert_int_equal(r.st->early_wait, 2);
	assert_int_equal(r.st->dropped, 2);
	rig_free(&r);
}

/* Kernel-assigned context: a client call names its thread's server span by
 * id. When that span's trace was decided already, the call follows the
 * decision at once; when the decision has left the table, it is a miss. */
static void test_late_part_follows(void **state)
{
	struct rig r;
	struct span *srv, *cli;
	uint8_t tid[16], sid[8];

	(void)state;
	rig_init(&r, 64, 8, NULL);
	srv = submit_server(&r, 1, 41, 5, SPAN_STATUS_OK, "/ok", 0);
	memcpy(tid, srv->trace_id, 16);
	memcpy(sid, srv->span_id, 8);
	trace_flush(r.t, 100 * MS, false);
	assert_int_equal(r.st->dropped, 1);
	cli = trace_span_alloc(r.t);
	mk(cli, 1, SPAN_KIND_CLIENT, 5, SPAN_STATUS_ERROR, "/late");
	memcpy(cli->parent_span_id, sid, 8);
	cli->parent_by_id = true;
	trace_span_submit(r.t, cli, 150 * MS);
	trace_flush(r.t, 250 * MS, false);
	assert_int_equal(r.cap.n, 0);			/* dropped, error or not */
	assert_int_equal(r.st->late_dropped, 1);
	assert_int_equal(r.st->kept_error, 0);

	/* Push the decision out of the 8-entry table. */
	for (uint32_t i = 0; i < 8; i++)
		submit_server(&r, 100 + i, 50 + i, 5, SPAN_STATUS_OK, "/other", 300 * MS);
	trace_flush(r.t, 400 * MS, false);
	assert_int_equal(r.st->evicted, 1);
	assert_false(tail_decided(r.ts, tid));
	cli = trace_span_alloc(r.t);
	mk(cli, 1, SPAN_KIND_CLIENT, 5, SPAN_STATUS_ERROR, "/later");
	memcpy(cli->parent_span_id, sid, 8);
	cli->parent_by_id = true;
	trace_span_submit(r.t, cli, 500 * MS);
	/* Not known to be decided: it waits for its parent, in vain. */
	trace_flush(r.t, 700 * MS, false);
	assert_int_equal(r.cap.n, 0);
	trace_flush(r.t, 2500 * MS, false);
	assert_int_equal(r.st->misses, 1);
	assert_int_equal(r.st->early_wait, 1);
	assert_int_equal(r.st->kept_error, 1);
	assert_non_null(by_path(&r.cap, "/later"));
	rig_free(&r);
}

static void test_full_buffer_decides_early(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r, 4, 64, NULL);
	for (uint32_t i = 0; i < 6; i++)
		assert_non_null(submit_server(&r, i + 1, 60 + i, 5,
					      i == 0 ? SPAN_STATUS_ERROR : SPAN_STATUS_OK,
					      "/p", i * MS));
	assert_int_equal(r.st->early_full, 2);
	assert_int_equal(trace_buf_stats(r.t)->flushed_early, 2);
	assert_int_equal(r.st->kept_error, 1);
	assert_int_equal(r.st->dropped, 1);
	trace_flush(r.t, 0, true);		/* at exit: decided, not counted early */
	assert_int_equal(r.st->early_full, 2);
	assert_int_equal(r.st->early_wait, 0);
	assert_int_equal(r.st->dropped, 5);
	assert_int_equal(r.cap.n, 1);
	rig_free(&r);
}

/* A buffer kept full by the request rate sends its oldest traces early in
 * batches of a sixteenth of the buffer, not in one export call per span,
 * oldest first, and loses none. */
static void test_full_buffer_exports_in_batches(void **state)
{
	struct trace_buf *t = trace_buf_new(256, 100 * MS, true);
	struct capture cap;
	uint32_t n = 2000;

	(void)state;
	assert_non_null(t);
	cap_init(&cap);
	trace_add_exporter(t, &cap.e);
	for (uint32_t i = 0; i < n; i++) {
		struct span *s = trace_span_alloc(t);

		assert_non_null(s);
		mk(s, i + 1, SPAN_KIND_SERVER, 1, SPAN_STATUS_OK, "/p");
		trace_span_submit(t, s, 1 * MS);
	}
	/* The first 256 filled the buffer; each export call then freed 16. */
	assert_int_equal(cap.calls, (n - 256 + 15) / 16);
	assert_int_equal(cap.spans, cap.calls * 16);
	assert_int_equal(trace_buf_stats(t)->flushed_early, cap.spans);
	assert_false(cap.out_of_order);
	trace_flush(t, 0, true);
	assert_int_equal(cap.spans, n);
	assert_int_equal(trace_buf_stats(t)->dropped, 0);
	trace_buf_free(t);
}

/* Traces due when the exporter has room for fewer: the rest wait for a
 * later sweep (none dropped), and at most HOLD_MAX_NS (2 s) past due. */
static void test_due_traces_wait_for_exporter_room(void **state)
{
	struct trace_buf *t = trace_buf_new(64, 100 * MS, true);
	struct capture cap;

	(void)state;
	assert_non_null(t);
	cap_init(&cap);
	cap.e.room = cap_room;
	cap.room = 3;
	trace_add_exporter(t, &cap.e);
	for (uint32_t i = 0; i < 10; i++) {
		struct span *s = trace_span_alloc(t);

		mk(s, i + 1, SPAN_KIND_SERVER, 1, SPAN_STATUS_OK, "/p");
		trace_span_submit(t, s, 0);
	}
	trace_flush(t, 100 * MS, false);
	assert_int_equal(cap.spans, 3);
	assert_int_equal(trace_buf_stats(t)->held, 7);
	/* The exporter sent two; the next sweep hands over two more. */
	cap.room = 2;
	trace_flush(t, 200 * MS, false);
	assert_int_equal(cap.spans, 5);
	assert_int_equal(trace_buf_stats(t)->held, 7);	/* each trace counted once */
	cap.room = 0;
	trace_flush(t, 2000 * MS, false);
	assert_int_equal(cap.spans, 5);
	/* Past its linger and two seconds more, a trace goes out anyway. */
	trace_flush(t, 2100 * MS, false);
	assert_int_equal(cap.spans, 10);
	assert_int_equal(trace_buf_stats(t)->spans_out, 10);
	assert_int_equal(trace_buf_stats(t)->dropped, 0);
	trace_buf_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_ratio_over_10k_ids),
		cmocka_unit_test(test_table_bounds),
		cmocka_unit_test(test_decide_counts),
		cmocka_unit_test(test_buffer_keeps_errors_drops_rest),
		cmocka_unit_test(test_waits_for_parent_in_flight),
		cmocka_unit_test(test_decision_wait_runs_out),
		cmocka_unit_test(test_late_part_follows),
		cmocka_unit_test(test_full_buffer_decides_early),
		cmocka_unit_test(test_full_buffer_exports_in_batches),
		cmocka_unit_test(test_due_traces_wait_for_exporter_room),
	};

	ids_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
