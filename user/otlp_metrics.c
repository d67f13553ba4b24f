// SPDX-License-Identifier: Apache-2.0
/* http.server.request.duration and http.client.request.duration: explicit
 * bucket histograms in seconds with the semantic conventions' default
 * boundaries and attributes, cumulative, aggregated from the spans that pass
 * through the exporter. Used by the export thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static OtlpNumberPoint *otlp_sum_point(struct otlp_arena *a, uint64_t start, uint64_t now,
				       const char *err, int64_t v)
{
	OtlpNumberPoint *p = otlp_arena_alloc(a, sizeof(*p));

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__number_data_point__init(p);
	p->start_time_unix_nano = start;
	p->time_unix_nano = now;
	p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
	p->as_int = v;
	if (err) {
		p->attributes = otlp_arena_alloc(a, sizeof(*p->attributes));
		if (!p->attributes)
			return NULL;
		p->attributes[0] = otlp_kv_str(a, "error.type", err);
		if (!p->attributes[0])
			return NULL;
		p->n_attributes = 1;
	}
	return p;
}

static OtlpMetric *otlp_sum_metric(struct otlp_arena *a, const char *name, const char *desc,
				   const char *unit, uint64_t start, uint64_t now,
				   const char *const *errs, const unsigned long long *vals,
				   size_t n)
{
	OtlpMetric *m = otlp_metric_new(a, name, desc, unit);
	OtlpSum *s = otlp_arena_alloc(a, sizeof(*s));

	if (!m || !s)
		return NULL;
	opentelemetry__proto__metrics__v1__sum__init(s);
	s->aggregation_temporality =
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
	s->is_monotonic = true;
	s->data_points = otlp_arena_alloc(a, n * sizeof(*s->data_points));
	if (!s->data_points)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		s->data_points[i] = otlp_sum_point(a, start, now, errs[i], (int64_t)vals[i]);
		if (!s->data_points[i])
			return NULL;
	}
	s->n_data_points = n;
	m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
	m->sum = s;
	return m;
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

OtlpMetricsReq *otlp_metrics_build(struct otlp_metrics *m, struct otlp_arena *a,
				   uint64_t now_ns, const struct otlp_self_counters *self,
				   size_t *points)
{
	OtlpMetricsReq *req = otlp_arena_alloc(a, sizeof(*req));
	struct otlp_series **sorted = NULL;
	size_t nres = 0;

	*points = 0;
	if (!req)
		return NULL;
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(req);
	if (m->n) {
		sorted = otlp_arena_alloc(a, m->n * sizeof(*sorted));
		if (!sorted)
			return NULL;
		for (uint32_t i = 0; i < m->n; i++)
			sorted[i] = &m->s[i];
		qsort(sorted, m->n, sizeof(*sorted), otlp_series_cmp);
		for (uint32_t i = 0; i < m->n; i++)
			nres += i == 0 || sorted[i]->res != sorted[i - 1]->res;
	}
	req->resource_metrics = otlp_arena_alloc(a, (nres + 1) * sizeof(*req->resource_metrics));
	if (!req->resource_metrics)
		return NULL;

	for (uint32_t i = 0, j; i < m->n; i = j) {
		OtlpResourceMetrics *rm = otlp_rm_new(a, sorted[i]->res, OTLP_M_KINDS);
		OtlpScopeMetrics *sm;

		if (!rm)
			return NULL;
		sm = rm->scope_metrics[0];
		for (j = i; j < m->n && sorted[j]->res == sorted[i]->res; j++)
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
			*points += l - k;
			sm->metrics[sm->n_metrics++] = metric;
		}
		req->resource_metrics[req->n_resource_metrics++] = rm;
	}

	if (self && self->self) {
		static const char *const exp_errs[] = { NULL, "rejected", "export_failed" };
		static const char *const proc_errs[] = { NULL, "queue_full" };
		static const char *const no_err[] = { NULL };
		unsigned long long exp_vals[] = { self->sent, self->rejected, self->failed };
		unsigned long long proc_vals[] = { self->sent + self->rejected + self->failed,
						   self->dropped };
		unsigned long long retry_vals[] = { self->retries };
		OtlpResourceMetrics *rm = otlp_rm_new(a, self->self, 3);
		OtlpScopeMetrics *sm;

		if (!rm)
			return NULL;
		sm = rm->scope_metrics[0];
		sm->metrics[0] = otlp_sum_metric(a, "otel.sdk.exporter.span.exported",
						 "Spans whose export finished, by outcome.",
						 "{span}", m->start_ns, now_ns, exp_errs, exp_vals, 3);
		sm->metrics[1] = otlp_sum_metric(a, "otel.sdk.processor.span.processed",
						 "Spans handed to export or dropped.",
						 "{span}", m->start_ns, now_ns, proc_errs, proc_vals,
						 2);
		sm->metrics[2] = otlp_sum_metric(a, "kspan.exporter.retries",
						 "Export requests sent again after a transient "
						 "failure.", "{request}", m->start_ns, now_ns,
						 no_err, retry_vals, 1);
		if (!sm->metrics[0] || !sm->metrics[1] || !sm->metrics[2])
			return NULL;
		sm->n_metrics = 3;
		*points += 6;
		req->resource_metrics[req->n_resource_metrics++] = rm;
	}
	return req;
}
