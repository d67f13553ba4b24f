// SPDX-License-Identifier: Apache-2.0
/* http.server.request.duration and http.client.request.duration: explicit
 * bucket histograms in seconds with the semantic conventions' default
 * boundaries and attributes, cumulative, aggregated from the spans that pass
 * through the exporter. The request also carries the TCP series and kspan's
 * own counters that the main loop published. Used by the export thread
 * only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "kspan.h"
#include "otlp_internal.h"

const double otlp_hist_bounds[OTLP_HIST_BOUNDS] = {
	0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
};

enum { OTLP_M_SERVER, OTLP_M_CLIENT, OTLP_M_KINDS };

struct otlp_series {
	struct otlp_resource *res;	/* one reference */
	uint8_t kind;			/* OTLP_M_* */
	bool overflow;			/* otel.metric.overflow=true */
	char method[16];
	char scheme[8];
	char version[8];
	char address[64];
	char route[SPAN_NAME_MAX];
	char error[32];
	int64_t status;			/* 0: none */
	int64_t port;			/* 0: none */
	uint64_t start_ns;
	uint64_t count;
	double sum, min, max;
	uint64_t buckets[OTLP_HIST_BOUNDS + 1];
};

struct otlp_metrics {
	uint32_t max;
	uint32_t n;
	uint64_t start_ns;
	struct otlp_series *s;
	int32_t *hash;			/* 2 * max slots of indexes, -1 free */
	int32_t overflow[OTLP_M_KINDS];
};

struct otlp_metrics *otlp_metrics_new(uint32_t max_series, uint64_t start_ns)
{
	struct otlp_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->max = max_series;
	m->start_ns = start_ns;
	m->s = calloc(max_series, sizeof(*m->s));
	m->hash = malloc(2 * max_series * sizeof(*m->hash));
	if (!m->s || !m->hash) {
		otlp_metrics_free(m);
		return NULL;
	}
	memset(m->hash, 0xff, 2 * max_series * sizeof(*m->hash));
	m->overflow[0] = m->overflow[1] = -1;
	return m;
}

void otlp_metrics_free(struct otlp_metrics *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; m->s && i < m->n; i++)
		otlp_resource_put(m->s[i].res);
	free(m->s);
	free(m->hash);
	free(m);
}

size_t otlp_metrics_series(const struct otlp_metrics *m)
{
	return m->n;
}

static void otlp_sattr(const struct span *s, const char *key, char *dst, size_t dstsz)
{
	const struct span_attr *a = span_attr_find(s, key);
	size_t off, len;

	dst[0] = '\0';
	if (!a || a->type != SPAN_ATTR_STR)
		return;
	off = a->v.s.off < SPAN_STRBUF ? a->v.s.off : SPAN_STRBUF;
	len = a->v.s.len < SPAN_STRBUF - off ? a->v.s.len : SPAN_STRBUF - off;
	otlp_utf8_copy(dst, dstsz, s->strbuf + off, len);
}

static int64_t otlp_iattr(const struct span *s, const char *key)
{
	const struct span_attr *a = span_attr_find(s, key);

	return a && a->type == SPAN_ATTR_INT ? a->v.i : 0;
}

static uint64_t otlp_series_hash(const struct otlp_series *k)
{
	const char *fields[] = { k->method, k->scheme, k->version, k->address, k->route,
				 k->error };
	uint64_t h = 1469598103934665603ull;

#define MIX(b) (h = (h ^ (uint8_t)(b)) * 1099511628211ull)
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		for (const char *p = fields[f]; *p; p++)
			MIX(*p);
		MIX(0);
	}
	for (int i = 0; i < 8; i++) {
		MIX(k->status >> (8 * i));
		MIX(k->port >> (8 * i));
		MIX((uintptr_t)k->res >> (8 * i));
	}
	MIX(k->kind);
#undef MIX
	return h;
}

static bool otlp_series_eq(const struct otlp_series *a, const struct otlp_series *b)
{
	return a->res == b->res && a->kind == b->kind && a->status == b->status &&
	       a->port == b->port && !a->overflow && !b->overflow &&
	       !strcmp(a->method, b->method) && !strcmp(a->scheme, b->scheme) &&
	       !strcmp(a->version, b->version) && !strcmp(a->address, b->address) &&
	       !strcmp(a->route, b->route) && !strcmp(a->error, b->error);
}

static struct otlp_series *otlp_series_new(struct otlp_metrics *m, const struct otlp_series *k,
					   uint64_t now)
{
	struct otlp_series *s = &m->s[m->n++];

	*s = *k;
	s->start_ns = now;
	otlp_resource_get(s->res);
	return s;
}

bool otlp_metrics_record(struct otlp_metrics *m, const struct span *sp,
			 struct otlp_resource *res)
{
	struct otlp_series key = { .res = res };
	struct otlp_series *s = NULL;
	double d;
	uint64_t h;
	uint32_t slot;
	int b;

	if (sp->kind == SPAN_KIND_SERVER)
		key.kind = OTLP_M_SERVER;
	else if (sp->kind == SPAN_KIND_CLIENT)
		key.kind = OTLP_M_CLIENT;
	else
		return false;
	otlp_sattr(sp, "http.request.method", key.method, sizeof(key.method));
	if (!key.method[0])
		return false;
	otlp_sattr(sp, "url.scheme", key.scheme, sizeof(key.scheme));
	otlp_sattr(sp, "network.protocol.version", key.version, sizeof(key.version));
	otlp_sattr(sp, "server.address", key.address, sizeof(key.address));
	otlp_sattr(sp, "error.type", key.error, sizeof(key.error));
	key.status = otlp_iattr(sp, "http.response.status_code");
	key.port = otlp_iattr(sp, "server.port");
	if (key.kind == OTLP_M_SERVER) {
		/* Server span names are "METHOD /route". */
		const char *sep = memchr(sp->name, ' ', strnlen(sp->name, sizeof(sp->name)));

		if (sep && sep[1] == '/')
			otlp_utf8_copy(key.route, sizeof(key.route), sep + 1,
				       strnlen(sep + 1, sizeof(sp->name) - (sep + 1 - sp->name)));
	}

	h = otlp_series_hash(&key);
	for (uint32_t probe = 0; probe < 2 * m->max; probe++) {
		slot = (h + probe) % (2 * m->max);
		if (m->hash[slot] < 0) {
			if (m->n < m->max) {
				/* The overflow series takes the last place. */
				if (m->n + OTLP_M_KINDS < m->max) {
					m->hash[slot] = m->n;
					s = otlp_series_new(m, &key, sp->start_ns);
				}
			}
			break;
		}
		if (otlp_series_eq(&m->s[m->hash[slot]], &key)) {
			s = &m->s[m->hash[slot]];
			break;
		}
	}
	if (!s) {
		/* Past the cardinality limit: the specification's overflow
		 * series, with otel.metric.overflow=true only. */
		if (m->overflow[key.kind] < 0) {
			struct otlp_series ov = { .res = res, .kind = key.kind, .overflow = true };

			if (m->n >= m->max)
				return false;
			m->overflow[key.kind] = m->n;
			otlp_series_new(m, &ov, sp->start_ns);
		}
		s = &m->s[m->overflow[key.kind]];
	}

	d = sp->end_ns > sp->start_ns ? (double)(sp->end_ns - sp->start_ns) / 1e9 : 0;
	for (b = 0; b < OTLP_HIST_BOUNDS && d > otlp_hist_bounds[b]; b++)
		;
	s->buckets[b]++;
	if (!s->count || d < s->min)
		s->min = d;
	if (!s->count || d > s->max)
		s->max = d;
	s->count++;
	s->sum += d;
	return true;
}

static OtlpKeyValue *otlp_kv_str(struct otlp_arena *a, const char *k, const char *v)
{
	OtlpKeyValue *kv = otlp_arena_alloc(a, sizeof(*kv));
	OtlpAnyValue *av = otlp_arena_alloc(a, sizeof(*av));

	if (!kv || !av)
		return NULL;
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(av);
	kv->key = (char *)k;
	kv->value = av;
	av->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	av->string_value = (char *)v;
	return kv;
}

static OtlpKeyValue *otlp_kv_int(struct otlp_arena *a, const char *k, int64_t v)
{
	OtlpKeyValue *kv = otlp_kv_str(a, k, "");

	if (kv) {
		kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
		kv->value->int_value = v;
	}
	return kv;
}

static OtlpKeyValue *otlp_kv_bool(struct otlp_arena *a, const char *k, bool v)
{
	OtlpKeyValue *kv = otlp_kv_str(a, k, "");

	if (kv) {
		kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
		kv->value->bool_value = v;
	}
	return kv;
}

static OtlpHistPoint *otlp_hist_point(struct otlp_arena *a, const struct otlp_series *s,
				      uint64_t now)
{
	OtlpHistPoint *p = otlp_arena_alloc(a, sizeof(*p));
	OtlpKeyValue **kv = otlp_arena_alloc(a, 9 * sizeof(*kv));
	size_t n = 0;

	if (!p || !kv)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
	if (s->overflow) {
		kv[n++] = otlp_kv_bool(a, "otel.metric.overflow", true);
	} else {
		kv[n++] = otlp_kv_str(a, "http.request.method", s->method);
		if (s->scheme[0])
			kv[n++] = otlp_kv_str(a, "url.scheme", s->scheme);
		if (s->status)
			kv[n++] = otlp_kv_int(a, "http.response.status_code", s->status);
		if (s->route[0])
			kv[n++] = otlp_kv_str(a, "http.route", s->route);
		if (s->address[0])
			kv[n++] = otlp_kv_str(a, "server.address", s->address);
		if (s->port)
			kv[n++] = otlp_kv_int(a, "server.port", s->port);
		if (s->version[0]) {
			kv[n++] = otlp_kv_str(a, "network.protocol.name", "http");
			kv[n++] = otlp_kv_str(a, "network.protocol.version", s->version);
		}
		if (s->error[0])
			kv[n++] = otlp_kv_str(a, "error.type", s->error);
	}
	for (size_t i = 0; i < n; i++)
		if (!kv[i])
			return NULL;
	p->attributes = kv;
	p->n_attributes = n;
	p->start_time_unix_nano = s->start_ns;
	p->time_unix_nano = now;
	p->count = s->count;
	p->_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM;
	p->sum = s->sum;
	if (s->count) {
		p->_min_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___MIN_MIN;
		p->min = s->min;
		p->_max_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___MAX_MAX;
		p->max = s->max;
	}
	p->n_bucket_counts = OTLP_HIST_BOUNDS + 1;
	p->bucket_counts = (uint64_t *)s->buckets;
	p->n_explicit_bounds = OTLP_HIST_BOUNDS;
	p->explicit_bounds = (double *)otlp_hist_bounds;
	return p;
}

static OtlpMetric *otlp_metric_new(struct otlp_arena *a, const char *name, const char *desc,
				   const char *unit)
{
	OtlpMetric *m = otlp_arena_alloc(a, sizeof(*m));

	if (!m)
		return NULL;
	opentelemetry__proto__metrics__v1__metric__init(m);
	m->name = (char *)name;
	m->description = (char *)desc;
	m->unit = (char *)unit;
	return m;
}

static OtlpMetric *otlp_hist_metric(struct otlp_arena *a, int kind, size_t npoints)
{
	static const char *const names[] = { "http.server.request.duration",
					     "http.client.request.duration" };
	static const char *const descs[] = { "Duration of HTTP server requests.",
					     "Duration of HTTP client requests." };
	OtlpMetric *m = otlp_metric_new(a, names[kind], descs[kind], "s");
	OtlpHistogram *h = otlp_arena_alloc(a, sizeof(*h));

	if (!m || !h)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram__init(h);
	h->aggregation_temporality =
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
	h->data_points = otlp_arena_alloc(a, npoints * sizeof(*h->data_points));
	if (!h->data_points)
		return NULL;
	m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
	m->histogram = h;
	return m;
}

static OtlpNumberPoint *otlp_num_point(struct otlp_arena *a, uint64_t start, uint64_t now,
				       int64_t v, const char *key, const char *val)
{
	OtlpNumberPoint *p = otlp_arena_alloc(a, sizeof(*p));

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__number_data_point__init(p);
	p->start_time_unix_nano = start;
	p->time_unix_nano = now;
	p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
	p->as_int = v;
	if (key && val) {
		p->attributes = otlp_arena_alloc(a, sizeof(*p->attributes));
		if (!p->attributes)
			return NULL;
		p->attributes[0] = otlp_kv_str(a, key, val);
		if (!p->attributes[0])
			return NULL;
		p->n_attributes = 1;
	}
	return p;
}

/* A cumulative Sum with room for npoints points. */
static OtlpMetric *otlp_sum_new(struct otlp_arena *a, const char *name, const char *desc,
				const char *unit, bool monotonic, size_t npoints)
{
	OtlpMetric *m = otlp_metric_new(a, name, desc, unit);
	OtlpSum *s = otlp_arena_alloc(a, sizeof(*s));

	if (!m || !s)
		return NULL;
	opentelemetry__proto__metrics__v1__sum__init(s);
	s->aggregation_temporality =
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
	s->is_monotonic = monotonic;
	s->data_points = otlp_arena_alloc(a, (npoints ? npoints : 1) * sizeof(*s->data_points));
	if (!s->data_points)
		return NULL;
	m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
	m->sum = s;
	return m;
}

/* A Sum of n points, point i with key=vals[i] (no attribute when NULL). */
static OtlpMetric *otlp_sum_metric(struct otlp_arena *a, const char *name, const char *desc,
				   const char *unit, bool monotonic, uint64_t start,
				   uint64_t now, const char *key, const char *const *vals,
				   const unsigned long long *counts, size_t n)
{
	OtlpMetric *m = otlp_sum_new(a, name, desc, unit, monotonic, n);

	if (!m)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		m->sum->data_points[i] = otlp_num_point(a, start, now, (int64_t)counts[i], key,
							 vals ? vals[i] : NULL);
		if (!m->sum->data_points[i])
			return NULL;
	}
	m->sum->n_data_points = n;
	return m;
}

static size_t otlp_metric_points(const OtlpMetric *m)
{
	if (m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM)
		return m->sum->n_data_points;
	if (m->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM)
		return m->histogram->n_data_points;
	return 0;
}

static OtlpResourceMetrics *otlp_rm_new(struct otlp_arena *a, struct otlp_resource *res,
					size_t nmetrics)
{
	OtlpResourceMetrics *rm = otlp_arena_alloc(a, sizeof(*rm));
	OtlpScopeMetrics *sm = otlp_arena_alloc(a, sizeof(*sm));
	OtlpScopeMetrics **smv = otlp_arena_alloc(a, sizeof(*smv));

	if (!rm || !sm || !smv)
		return NULL;
	opentelemetry__proto__metrics__v1__resource_metrics__init(rm);
	opentelemetry__proto__metrics__v1__scope_metrics__init(sm);
	rm->resource = res ? &res->pb : NULL;
	rm->scope_metrics = smv;
	rm->n_scope_metrics = 1;
	smv[0] = sm;
	sm->scope = (OtlpScope *)otlp_scope();
	sm->metrics = otlp_arena_alloc(a, nmetrics * sizeof(*sm->metrics));
	return sm->metrics ? rm : NULL;
}

static int otlp_series_cmp(const void *a, const void *b)
{
	const struct otlp_series *x = *(struct otlp_series *const *)a;
	const struct otlp_series *y = *(struct otlp_series *const *)b;

	if (x->res != y->res)
		return (uintptr_t)x->res < (uintptr_t)y->res ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int otlp_tcp_cmp(const void *a, const void *b)
{
	const struct otlp_tcp_series *x = *(const struct otlp_tcp_series *const *)a;
	const struct otlp_tcp_series *y = *(const struct otlp_tcp_series *const *)b;

	if (x->res != y->res)
		return (uintptr_t)x->res < (uintptr_t)y->res ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* ---- TCP metrics ---- */

enum { OTLP_TCP_CONNECT, OTLP_TCP_RTT, OTLP_TCP_RETRANS, OTLP_TCP_FAIL, OTLP_TCP_METRICS };

static const char *otlp_role_name(uint8_t role)
{
	return role == KSPAN_ROLE_CLIENT ? "client" : role == KSPAN_ROLE_SERVER ? "server" :
	       "unknown";
}

static OtlpKeyValue *otlp_kv_addr(struct otlp_arena *a, const char *k, const uint8_t addr[16])
{
	char buf[ADDR_STRLEN];
	size_t n = addr_fmt(addr, buf, sizeof(buf));
	char *v = otlp_arena_strdup(a, buf, n);

	return v ? otlp_kv_str(a, k, v) : NULL;
}

/* The attributes of a TCP series, plus error.type when err is not NULL. */
static bool otlp_tcp_attrs(struct otlp_arena *a, const struct tcpm_series *s, const char *err,
			   OtlpKeyValue ***out, size_t *nout)
{
	static const uint8_t zero[16];
	const struct tcpm_key *k = &s->key;
	OtlpKeyValue **kv = otlp_arena_alloc(a, 7 * sizeof(*kv));
	size_t n = 0;

	if (!kv)
		return false;
	if (s->overflow) {
		kv[n++] = otlp_kv_bool(a, "otel.metric.overflow", true);
	} else {
		const uint8_t *any = memcmp(k->server_addr, zero, 16) ? k->server_addr :
				     k->peer_addr;

		kv[n++] = otlp_kv_str(a, "kspan.tcp.role", otlp_role_name(k->role));
		kv[n++] = otlp_kv_str(a, "network.type", addr_is_v4(any) ? "ipv4" : "ipv6");
		if (memcmp(k->server_addr, zero, 16))
			kv[n++] = otlp_kv_addr(a, "server.address", k->server_addr);
		if (k->server_port)
			kv[n++] = otlp_kv_int(a, "server.port", k->server_port);
		if (memcmp(k->peer_addr, zero, 16))
			kv[n++] = otlp_kv_addr(a, "network.peer.address", k->peer_addr);
	}
	if (err)
		kv[n++] = otlp_kv_str(a, "error.type", err);
	for (size_t i = 0; i < n; i++)
		if (!kv[i])
			return false;
	*out = kv;
	*nout = n;
	return true;
}

static OtlpHistPoint *otlp_tcp_hist_point(struct otlp_arena *a, const struct tcpm_series *s,
					  const struct tcpm_hist *h, uint64_t now)
{
	OtlpHistPoint *p = otlp_arena_alloc(a, sizeof(*p));

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
	if (!otlp_tcp_attrs(a, s, NULL, &p->attributes, &p->n_attributes))
		return NULL;
	p->start_time_unix_nano = s->start_ns;
	p->time_unix_nano = now;
	p->count = h->count;
	p->_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM;
	p->sum = h->sum;
	p->_min_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___MIN_MIN;
	p->min = h->min;
	p->_max_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___MAX_MAX;
	p->max = h->max;
	p->n_bucket_counts = TCPM_BOUNDS + 1;
	p->bucket_counts = (uint64_t *)h->buckets;
	p->n_explicit_bounds = TCPM_BOUNDS;
	p->explicit_bounds = (double *)tcpm_bounds;
	return p;
}

/* The four TCP metrics of the series of one resource (s[0..n)), those
 * that have a point; returns how many were added to sm, -1 when out of
 * memory. */
static int otlp_tcp_metrics(struct otlp_arena *a, OtlpScopeMetrics *sm,
			    const struct otlp_tcp_series *const *s, size_t n, uint64_t now)
{
	static const char *const names[OTLP_TCP_METRICS] = {
		"kspan.tcp.connect.duration", "kspan.tcp.rtt", "kspan.tcp.retransmits",
		"kspan.tcp.connect.failures",
	};
	static const char *const descs[OTLP_TCP_METRICS] = {
		"Time from SYN to established of connect() calls that succeeded.",
		("Smoothed round-trip time of connections, as the kernel keeps it, taken "
		 "at most once a second per connection."),
		"TCP segments sent again, SYNs included.",
		"connect() calls that failed, by reason.",
	};
	static const char *const units[OTLP_TCP_METRICS] = { "s", "s", "{segment}",
							      "{connection}" };
	int added = 0;

	for (int k = 0; k < OTLP_TCP_METRICS; k++) {
		OtlpMetric *m;
		size_t np = 0;

		for (size_t i = 0; i < n; i++) {
			const struct tcpm_series *t = &s[i]->s;

			if (k == OTLP_TCP_CONNECT)
				np += t->connect.count > 0;
			else if (k == OTLP_TCP_RTT)
				np += t->rtt.count > 0;
			else if (k == OTLP_TCP_RETRANS)
				np++;
			else
				for (int f = 0; f < TCPM_FAIL_MAX; f++)
					np += t->fail[f] > 0;
		}
		if (!np)
			continue;
		if (k == OTLP_TCP_CONNECT || k == OTLP_TCP_RTT) {
			OtlpHistogram *h = otlp_arena_alloc(a, sizeof(*h));

			m = otlp_metric_new(a, names[k], descs[k], units[k]);
			if (!m || !h)
				return -1;
			opentelemetry__proto__metrics__v1__histogram__init(h);
			h->aggregation_temporality =
				OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
			h->data_points = otlp_arena_alloc(a, np * sizeof(*h->data_points));
			if (!h->data_points)
				return -1;
			m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
			m->histogram = h;
			for (size_t i = 0; i < n; i++) {
				const struct tcpm_series *t = &s[i]->s;
				const struct tcpm_hist *hist = k == OTLP_TCP_CONNECT ? &t->connect :
							       &t->rtt;

				if (!hist->count)
					continue;
				h->data_points[h->n_data_points] = otlp_tcp_hist_point(a, t, hist,
										       now);
				if (!h->data_points[h->n_data_points++])
					return -1;
			}
		} else {
			m = otlp_sum_new(a, names[k], descs[k], units[k], true, np);
			if (!m)
				return -1;
			for (size_t i = 0; i < n; i++) {
				const struct tcpm_series *t = &s[i]->s;

				for (int f = 0; f < (k == OTLP_TCP_RETRANS ? 1 : TCPM_FAIL_MAX); f++) {
					uint64_t v = k == OTLP_TCP_RETRANS ? t->retrans : t->fail[f];
					OtlpNumberPoint *p;

					if (k == OTLP_TCP_FAIL && !v)
						continue;
					p = otlp_num_point(a, t->start_ns, now, (int64_t)v, NULL, NULL);
					if (!p || !otlp_tcp_attrs(a, t, k == OTLP_TCP_FAIL ?
								  tcpm_fail_name(f) : NULL,
								  &p->attributes, &p->n_attributes))
						return -1;
					m->sum->data_points[m->sum->n_data_points++] = p;
				}
			}
		}
		sm->metrics[sm->n_metrics++] = m;
		added++;
	}
	return added;
}

/* ---- kspan's own metrics ---- */

#define OTLP_SELF_METRICS 12

static bool otlp_self_metrics(struct otlp_arena *a, OtlpScopeMetrics *sm,
			      const struct otlp_self_counters *self, uint64_t start,
			      uint64_t now)
{
	static const char *const exp_errs[] = { NULL, "rejected", "export_failed" };
	static const char *const proc_errs[] = { NULL, "queue_full" };
	static const char *const parsers[] = { "http1", "http2", "record" };
	static const char *const links[] = { "paired", "nested", "unlinked", "refused" };
	static const char *const drops[] = { "pool_full", "sampled_out", "tail_sampled_out" };
	unsigned long long exp_vals[] = { self->sent, self->rejected, self->failed };
	unsigned long long proc_vals[] = { self->sent + self->rejected + self->failed,
					   self->dropped };
	const struct kspan_self_stats *ap = self->app;
	OtlpMetric **out = sm->metrics;
	size_t n = 0;

	out[n++] = otlp_sum_metric(a, "otel.sdk.exporter.span.exported",
				   "Spans whose export finished, by outcome.", "{span}", true,
				   start, now, "error.type", exp_errs, exp_vals, 3);
	out[n++] = otlp_sum_metric(a, "otel.sdk.processor.span.processed",
				   "Spans handed to export or dropped.", "{span}", true, start,
				   now, "error.type", proc_errs, proc_vals, 2);
	out[n++] = otlp_sum_metric(a, "kspan.exporter.retries",
				   "Export requests sent again after a transient failure.",
				   "{request}", true, start, now, NULL, NULL, &self->retries, 1);
	out[n++] = otlp_sum_metric(a, "otel.sdk.processor.span.queue.size",
				   "Spans waiting in the export queue.", "{span}", false, start,
				   now, NULL, NULL, &self->queue, 1);
	out[n++] = otlp_sum_metric(a, "otel.sdk.processor.span.queue.capacity",
				   "Spans the export queue can hold.", "{span}", false, start,
				   now, NULL, NULL, &self->queue_capacity, 1);
	if (ap) {
		unsigned long long sub = ap->events_submitted, drop = ap->events_dropped;
		unsigned long long recv = ap->events_received, exp = ap->spans_exported;
		unsigned long long perr[] = { ap->http1_errors, ap->http2_errors,
					      ap->bad_records };
		unsigned long long lk[] = { ap->paired, ap->nested, ap->unlinked,
					    ap->link_refused };
		unsigned long long dr[] = { ap->spans_dropped, ap->spans_sampled_out,
					    ap->spans_tail_dropped };

		out[n++] = otlp_sum_metric(a, "kspan.events.submitted",
					   "Ring-buffer records the kernel programs sent.",
					   "{event}", true, start, now, NULL, NULL, &sub, 1);
		out[n++] = otlp_sum_metric(a, "kspan.events.dropped",
					   "Ring-buffer records lost: the ring buffer was full.",
					   "{event}", true, start, now, NULL, NULL, &drop, 1);
		out[n++] = otlp_sum_metric(a, "kspan.events.received",
					   "Ring-buffer records kspan read.", "{event}", true,
					   start, now, NULL, NULL, &recv, 1);
		out[n++] = otlp_sum_metric(a, "kspan.parse.errors",
					   "Captured bytes or records that could not be parsed, "
					   "by parser.", "{error}", true, start, now,
					   "kspan.parser", parsers, perr, 3);
		out[n++] = otlp_sum_metric(a, "kspan.span.links",
					   "Links between spans of this host, made or not, by "
					   "outcome.", "{link}", true, start, now,
					   "kspan.link.outcome", links, lk, 4);
		out[n++] = otlp_sum_metric(a, "kspan.spans.exported",
					   "Spans handed to the exporter.", "{span}", true, start,
					   now, NULL, NULL, &exp, 1);
		out[n++] = otlp_sum_metric(a, "kspan.spans.dropped",
					   "Spans not exported, by reason.", "{span}", true, start,
					   now, "kspan.drop.reason", drops, dr, 3);
	}
	for (size_t i = 0; i < n; i++)
		if (!out[i])
			return false;
	sm->n_metrics = n;
	return true;
}

OtlpMetricsReq *otlp_metrics_build(struct otlp_metrics *m, struct otlp_arena *a,
				   uint64_t now_ns, const struct otlp_self_counters *self,
				   const struct otlp_tcp_series *tcp, size_t ntcp,
				   size_t *points)
{
	OtlpMetricsReq *req = otlp_arena_alloc(a, sizeof(*req));
	struct otlp_series **sorted = NULL;
	const struct otlp_tcp_series **tsorted = NULL;
	size_t nres = 0;
	uint32_t i = 0;
	size_t t = 0;

	*points = 0;
	if (!req)
		return NULL;
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(req);
	if (m->n) {
		sorted = otlp_arena_alloc(a, m->n * sizeof(*sorted));
		if (!sorted)
			return NULL;
		for (uint32_t k = 0; k < m->n; k++)
			sorted[k] = &m->s[k];
		qsort(sorted, m->n, sizeof(*sorted), otlp_series_cmp);
	}
	if (ntcp) {
		tsorted = otlp_arena_alloc(a, ntcp * sizeof(*tsorted));
		if (!tsorted)
			return NULL;
		for (size_t k = 0; k < ntcp; k++)
			tsorted[k] = &tcp[k];
		qsort(tsorted, ntcp, sizeof(*tsorted), otlp_tcp_cmp);
	}
	/* Resources of either kind of series, at most one each. */
	nres = m->n + ntcp;
	req->resource_metrics = otlp_arena_alloc(a, (nres + 1) * sizeof(*req->resource_metrics));
	if (!req->resource_metrics)
		return NULL;

	/* Both lists are sorted by resource: walk them together so that a
	 * process's HTTP and TCP metrics share one ResourceMetrics. */
	while (i < m->n || t < ntcp) {
		struct otlp_resource *res;
		OtlpResourceMetrics *rm;
		OtlpScopeMetrics *sm;
		uint32_t j;
		size_t u;

		if (t >= ntcp || (i < m->n &&
				  (uintptr_t)sorted[i]->res <= (uintptr_t)tsorted[t]->res))
			res = sorted[i]->res;
		else
			res = tsorted[t]->res;
		rm = otlp_rm_new(a, res, OTLP_M_KINDS + OTLP_TCP_METRICS);
		if (!rm)
			return NULL;
		sm = rm->scope_metrics[0];
		for (j = i; j < m->n && sorted[j]->res == res; j++)
			;
		for (uint32_t k = i, l; k < j; k = l) {
			OtlpMetric *metric;
			OtlpHistogram *h;

			for (l = k; l < j && sorted[l]->kind == sorted[k]->kind; l++)
				;
			metric = otlp_hist_metric(a, sorted[k]->kind, l - k);
			if (!metric)
				return NULL;
			h = metric->histogram;
			for (uint32_t p = k; p < l; p++) {
				h->data_points[h->n_data_points] = otlp_hist_point(a, sorted[p], now_ns);
				if (!h->data_points[h->n_data_points])
					return NULL;
				h->n_data_points++;
			}
			sm->metrics[sm->n_metrics++] = metric;
		}
		i = j;
		for (u = t; u < ntcp && tsorted[u]->res == res; u++)
			;
		if (u > t && otlp_tcp_metrics(a, sm, tsorted + t, u - t, now_ns) < 0)
			return NULL;
		t = u;
		for (size_t k = 0; k < sm->n_metrics; k++)
			*points += otlp_metric_points(sm->metrics[k]);
		if (sm->n_metrics)
			req->resource_metrics[req->n_resource_metrics++] = rm;
	}

	if (self && self->self) {
		OtlpResourceMetrics *rm = otlp_rm_new(a, self->self, OTLP_SELF_METRICS);

		if (!rm || !otlp_self_metrics(a, rm->scope_metrics[0], self, m->start_ns, now_ns))
			return NULL;
		for (size_t k = 0; k < rm->scope_metrics[0]->n_metrics; k++)
			*points += otlp_metric_points(rm->scope_metrics[0]->metrics[k]);
		req->resource_metrics[req->n_resource_metrics++] = rm;
	}
	return req;
}
