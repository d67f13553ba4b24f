// SPDX-License-Identifier: Apache-2.0
/* Tail sampling. Input: a glob pattern, a NUL, then 8-byte records that
 * either submit a span to a small trace buffer with tail sampling (linked
 * by nesting, pairing-free, or by ids from a small space, so traces merge,
 * wait for parents and come late) or flush it at a later time. The pattern
 * is matched against each span's path, and against a plain recursive
 * matcher that must agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "trace.h"

#define MS 1000000ull

static int nop_export(struct exporter *e, const struct span *const *s, size_t n)
{
	(void)e;
	(void)s;
	(void)n;
	return 0;
}

static int nop_flush(struct exporter *e)
{
	(void)e;
	return 0;
}

static void nop_destroy(struct exporter *e)
{
	(void)e;
}

/* The textbook table: m[i][j] says whether pattern from i matches text
 * from j. */
static bool ref_glob(const char *p, const char *t, size_t n)
{
	static bool m[TAIL_ROUTE_LEN + 1][16 + 1];
	size_t lp = strlen(p);

	if (n > 16)
		abort();
	for (size_t i = lp + 1; i-- > 0;) {
		for (size_t j = n + 1; j-- > 0;) {
			if (i == lp)
				m[i][j] = j == n;
			else if (p[i] == '*')
				m[i][j] = m[i + 1][j] || (j < n && m[i][j + 1]);
			else
				m[i][j] = j < n && (p[i] == '?' || p[i] == t[j]) && m[i + 1][j + 1];
		}
	}
	return m[0][0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct exporter exp = {
		.name = "nop", .export = nop_export, .flush = nop_flush, .destroy = nop_destroy,
	};
	static const char *const paths[] = { "/", "/checkout/1", "/api/v1/pay", "/aaaaaaaab" };
	const uint8_t *nul = memchr(data, 0, size < TAIL_ROUTE_LEN ? size : TAIL_ROUTE_LEN);
	struct tail_config c;
	struct tail_sampler *ts;
	struct trace_buf *t;
	uint64_t now = 0;
	size_t off;
	char pat[TAIL_ROUTE_LEN];

	if (!nul)
		return 0;
	memcpy(pat, data, (size_t)(nul - data) + 1);
	off = (size_t)(nul - data) + 1;
	ids_init();
	tail_config_init(&c);
	tail_config_option(&c, "tail-keep-slower-than", "100");
	tail_config_option(&c, "tail-ratio", "0.5");
	tail_config_option(&c, "tail-decision-wait", "1000");
	if (pat[0] && tail_config_option(&c, "tail-keep-routes", pat))
		c.nroutes = 0;
	ts = tail_sampler_new(&c, 8);
	t = trace_buf_new(16, 100 * MS, true);
	if (!ts || !t)
		abort();
	trace_add_exporter(t, &exp);
	trace_set_tail(t, ts);
	for (; off + 8 <= size; off += 8) {
		const uint8_t *r = data + off;
		struct span *s;
		const char *path = paths[r[7] & 3];
		char *text;

		if (r[0] & 1) {
			now += (uint64_t)r[1] * 10 * MS;
			trace_flush(t, now, (r[0] & 2) != 0);
			continue;
		}
		/* An exact-size copy: reading past it is caught by ASan. */
		text = malloc(strlen(path) + 1);
		memcpy(text, path, strlen(path));
		if (tail_glob(pat, text, strlen(path)) != ref_glob(pat, text, strlen(path)))
			abort();
		free(text);
		s = trace_span_alloc(t);
		if (!s)
			continue;
		span_init(s);
		s->trace_id[15] = (r[1] & 7) + 1;
		s->trace_id[0] = r[1] >> 3;
		s->span_id[0] = (r[2] & 15) + 1;
		if (r[3] & 0x10) {
			s->parent_span_id[0] = (r[3] & 15) + 1;
			s->parent_by_id = true;
		}
		s->kind = r[0] & 2 ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER;
		s->status = r[0] & 4 ? SPAN_STATUS_ERROR : SPAN_STATUS_UNSET;
		s->trace_flags = 1;
		s->pid = 7;
		s->req_no = 1;
		s->conn_id = r[4] & 3;
		if (r[4] & 4) {
			s->nest_conn = (r[4] >> 3) & 3;
			s->nest_seq = 1;
		}
		s->start_ns = (uint64_t)r[5] * MS;
		s->end_ns = s->start_ns + (uint64_t)r[6] * MS;
		span_attr_str(s, "url.path", path, strlen(path));
		trace_span_submit(t, s, now);
	}
	trace_flush(t, now, true);
	trace_buf_free(t);
	tail_sampler_free(ts);
	return 0;
}
