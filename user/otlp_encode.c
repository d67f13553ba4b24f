// SPDX-License-Identifier: Apache-2.0
/* Spans to ExportTraceServiceRequest messages of the protobuf-c code
 * generated from proto/, plus the arena they live in and gzip. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "otlp_internal.h"
#include "strutil.h"

#ifndef KSPAN_VERSION
#define KSPAN_VERSION "0.0.0-dev"
#endif

struct otlp_chunk {
	struct otlp_chunk *next;
	max_align_t data[];
};

#define OTLP_CHUNK_MIN (64 * 1024)

/* size bytes, aligned, not cleared. */
static void *arena_take(struct otlp_arena *a, size_t size)
{
	size_t align = sizeof(max_align_t);
	struct otlp_chunk *c;
	void *p;

	size = (size + align - 1) & ~(align - 1);
	if (!a->head || a->cap - a->used < size) {
		size_t cap = size > OTLP_CHUNK_MIN ? size : OTLP_CHUNK_MIN;

		c = malloc(sizeof(*c) + cap);
		if (!c) {
			a->failed = true;
			return NULL;
		}
		c->next = a->head;
		a->head = c;
		a->cap = cap;
		a->used = 0;
	}
	p = (char *)a->head->data + a->used;
	a->used += size;
	return p;
}

void *otlp_arena_alloc(struct otlp_arena *a, size_t size)
{
	void *p = arena_take(a, size);

	if (p)
		memset(p, 0, size);
	return p;
}

char *otlp_arena_strdup(struct otlp_arena *a, const char *s, size_t len)
{
	char *p = arena_take(a, len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

void otlp_arena_free(struct otlp_arena *a)
{
	struct otlp_chunk *c = a->head, *n;

	for (; c; c = n) {
		n = c->next;
		free(c);
	}
	memset(a, 0, sizeof(*a));
}

size_t otlp_utf8_copy(char *dst, size_t dstsz, const char *s, size_t len)
{
	static const char repl[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	if (!dstsz)
		return 0;
	for (size_t i = 0; i < len;) {
		size_t n, take, run;
		const char *src = s + i;

		/* Plain ASCII (not NUL) goes over in one copy. */
		run = i + str_ascii_run(p + i, len - i);
		if (run > i) {
			take = run - i;
			if (take > dstsz - 1 - o)
				take = dstsz - 1 - o;
			memcpy(dst + o, src, take);
			o += take;
			if (take < run - i)
				break;
			i = run;
			continue;
		}
		n = str_utf8_len(p + i, len - i);
		take = n;
		if (!n || (n == 1 && p[i] == 0)) {
			src = repl;
			take = 3;
			n = 1;
		}
		if (o + take > dstsz - 1)
			break;
		memcpy(dst + o, src, take);
		o += take;
		i += n;
	}
	dst[o] = '\0';
	return o;
}

char *otlp_arena_utf8(struct otlp_arena *a, const char *s, size_t len)
{
	char *p;

	/* Most strings are ASCII throughout: copied as they are. */
	if (str_ascii_run((const unsigned char *)s, len) == len)
		return otlp_arena_strdup(a, s, len);
	p = arena_take(a, 3 * len + 1);
	if (p)
		otlp_utf8_copy(p, 3 * len + 1, s, len);
	return p;
}

const OtlpScope *otlp_scope(void)
{
	static OtlpScope scope = OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;

	scope.name = "kspan";
	scope.version = KSPAN_VERSION;
	return &scope;
}

static int otlp_built_cmp(const void *a, const void *b)
{
	const struct otlp_built *x = a, *y = b;

	if (x->res != y->res)
		return (uintptr_t)x->res < (uintptr_t)y->res ? -1 : 1;
	/* Keep the batch order within one resource. */
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static OtlpKeyValue *otlp_build_attr(struct otlp_arena *a, const struct span *s,
				     const struct span_attr *at)
{
	struct {
		OtlpKeyValue kv;
		OtlpAnyValue v;
	} *p = arena_take(a, sizeof(*p));
	OtlpKeyValue *kv;
	OtlpAnyValue *v;
	size_t off, len;

	if (!p)
		return NULL;
	kv = &p->kv;
	v = &p->v;
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	/* Keys are static ASCII (span_attr_*), read in place. */
	kv->key = (char *)at->key;
	kv->value = v;
	switch (at->type) {
	case SPAN_ATTR_STR:
		off = at->v.s.off < SPAN_STRBUF ? at->v.s.off : SPAN_STRBUF;
		len = at->v.s.len < SPAN_STRBUF - off ? at->v.s.len : SPAN_STRBUF - off;
		v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
		v->string_value = otlp_arena_utf8(a, s->strbuf + off, len);
		if (!v->string_value)
			return NULL;
		break;
	case SPAN_ATTR_INT:
		v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
		v->int_value = at->v.i;
		break;
	case SPAN_ATTR_BOOL:
		v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
		v->bool_value = at->v.b;
		break;
	case SPAN_ATTR_DOUBLE:
		v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
		v->double_value = at->v.d;
		break;
	default:
		return NULL;
	}
	return kv;
}

static bool otlp_is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

OtlpSpan *otlp_build_span(struct otlp_arena *a, const struct span *s)
{
	size_t nattrs = s->nattrs < SPAN_MAX_ATTRS ? s->nattrs : SPAN_MAX_ATTRS;
	struct {
		OtlpSpan o;
		uint8_t trace_id[16], span_id[8], parent_span_id[8];
	} *p = arena_take(a, sizeof(*p));
	OtlpSpan *o;
	size_t k = 0;

	if (!p)
		return NULL;
	o = &p->o;
	opentelemetry__proto__trace__v1__span__init(o);
	/* Ids are copied: the span may be a scratch copy, reused for the
	 * next one before the request is packed. */
	memcpy(p->trace_id, s->trace_id, sizeof(p->trace_id));
	memcpy(p->span_id, s->span_id, sizeof(p->span_id));
	o->trace_id.data = p->trace_id;
	o->trace_id.len = sizeof(p->trace_id);
	o->span_id.data = p->span_id;
	o->span_id.len = sizeof(p->span_id);
	if (!otlp_is_zero(s->parent_span_id, sizeof(s->parent_span_id))) {
		memcpy(p->parent_span_id, s->parent_span_id, sizeof(p->parent_span_id));
		o->parent_span_id.data = p->parent_span_id;
		o->parent_span_id.len = sizeof(p->parent_span_id);
	}
	/* The parent is remote when it came from propagated context. */
	o->flags = s->trace_flags | OTLP_FLAG_HAS_IS_REMOTE |
		   (s->remote_parent ? OTLP_FLAG_IS_REMOTE : 0);
	o->name = otlp_arena_utf8(a, s->name, strnlen(s->name, sizeof(s->name)));
	o->kind = s->kind;
	o->start_time_unix_nano = s->start_ns;
	o->end_time_unix_nano = s->end_ns;
	o->dropped_attributes_count = s->attrs_dropped;
	if (nattrs) {
		o->attributes = otlp_arena_alloc(a, nattrs * sizeof(*o->attributes));
		if (!o->attributes)
			return NULL;
		for (size_t i = 0; i < nattrs; i++) {
			if (!s->attrs[i].key)
				continue;
			o->attributes[k] = otlp_build_attr(a, s, &s->attrs[i]);
			if (!o->attributes[k])
				return NULL;
			k++;
		}
		o->n_attributes = k;
	}
	if (s->status != SPAN_STATUS_UNSET) {
		o->status = otlp_arena_alloc(a, sizeof(*o->status));
		if (!o->status)
			return NULL;
		opentelemetry__proto__trace__v1__status__init(o->status);
		o->status->code = s->status;
	}
	return o->name ? o : NULL;
}

OtlpTraceReq *otlp_group_traces(struct otlp_arena *a, struct otlp_built *b, size_t n)
{
	OtlpTraceReq *req = otlp_arena_alloc(a, sizeof(*req));
	size_t nres = 0;

	if (!req)
		return NULL;
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(req);
	if (!n)
		return req;
	qsort(b, n, sizeof(*b), otlp_built_cmp);
	for (size_t i = 0; i < n; i++)
		nres += i == 0 || b[i].res != b[i - 1].res;
	req->resource_spans = otlp_arena_alloc(a, nres * sizeof(*req->resource_spans));
	if (!req->resource_spans)
		return NULL;

	for (size_t i = 0, j; i < n; i = j) {
		OtlpResourceSpans *rs = otlp_arena_alloc(a, sizeof(*rs));
		OtlpScopeSpans *ss = otlp_arena_alloc(a, sizeof(*ss));
		OtlpScopeSpans **ssv = otlp_arena_alloc(a, sizeof(*ssv));

		for (j = i; j < n && b[j].res == b[i].res; j++)
			;
		if (!rs || !ss || !ssv)
			return NULL;
		opentelemetry__proto__trace__v1__resource_spans__init(rs);
		opentelemetry__proto__trace__v1__scope_spans__init(ss);
		rs->resource = b[i].res ? &b[i].res->pb : NULL;
		rs->n_scope_spans = 1;
		rs->scope_spans = ssv;
		ssv[0] = ss;
		ss->scope = (OtlpScope *)otlp_scope();
		ss->spans = otlp_arena_alloc(a, (j - i) * sizeof(*ss->spans));
		if (!ss->spans)
			return NULL;
		for (size_t k = i; k < j; k++)
			ss->spans[k - i] = b[k].span;
		ss->n_spans = j - i;
		req->resource_spans[req->n_resource_spans++] = rs;
	}
	return req;
}

uint8_t *otlp_gzip(const uint8_t *buf, size_t len, size_t *outlen)
{
	z_stream z = {};
	uint8_t *out;
	size_t cap;

	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	cap = deflateBound(&z, len) + 32;
	out = malloc(cap);
	if (!out) {
		deflateEnd(&z);
		return NULL;
	}
	z.next_in = (Bytef *)buf;
	z.avail_in = len;
	z.next_out = out;
	z.avail_out = cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(out);
		return NULL;
	}
	*outlen = z.total_out;
	deflateEnd(&z);
	return out;
}

uint8_t *otlp_gunzip(const uint8_t *buf, size_t len, size_t max, size_t *outlen)
{
	size_t cap = max < 4096 ? max : 4096;
	z_stream z = {};
	uint8_t *out;
	int r;

	if (!cap || inflateInit2(&z, 15 + 32) != Z_OK)
		return NULL;
	out = malloc(cap);
	if (!out) {
		inflateEnd(&z);
		return NULL;
	}
	z.next_in = (Bytef *)buf;
	z.avail_in = len;
	for (;;) {
		if (z.total_out == cap) {
			uint8_t *n;

			if (cap >= max)
				goto fail;
			cap = cap * 2 > max ? max : cap * 2;
			n = realloc(out, cap);
			if (!n)
				goto fail;
			out = n;
		}
		z.next_out = out + z.total_out;
		z.avail_out = cap - z.total_out;
		r = inflate(&z, Z_NO_FLUSH);
		if (r == Z_STREAM_END)
			break;
		/* Z_BUF_ERROR with room left: the input ended mid-stream. */
		if (r != Z_OK && !(r == Z_BUF_ERROR && !z.avail_out))
			goto fail;
	}
	*outlen = z.total_out;
	inflateEnd(&z);
	return out;
fail:
	inflateEnd(&z);
	free(out);
	return NULL;
}
