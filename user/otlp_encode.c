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
	size_t cap;
	max_align_t data[];
};

#define OTLP_CHUNK_MIN (64 * 1024)

static void chunks_free(struct otlp_chunk *c)
{
	struct otlp_chunk *n;

	for (; c; c = n) {
		n = c->next;
		free(c);
	}
}

void *otlp_arena_take(struct otlp_arena *a, size_t size)
{
	size_t align = sizeof(max_align_t);
	struct otlp_chunk *c, **pp, **best;
	void *p;

	size = (size + align - 1) & ~(align - 1);
	if (!a->head || a->cap - a->used < size) {
		size_t cap = size > OTLP_CHUNK_MIN ? size : OTLP_CHUNK_MIN;

		/* The smallest spare chunk that holds it (they are few: one
		 * request's), so that a large one stays for a large need. */
		best = NULL;
		for (pp = &a->spare; *pp; pp = &(*pp)->next)
			if ((*pp)->cap >= cap && (!best || (*pp)->cap < (*best)->cap))
				best = pp;
		c = best ? *best : NULL;
		if (c) {
			*best = c->next;
		} else {
			c = malloc(sizeof(*c) + cap);
			if (!c) {
				a->failed = true;
				return NULL;
			}
			c->cap = cap;
		}
		c->next = a->head;
		a->head = c;
		a->cap = c->cap;
		a->used = 0;
	}
	p = (char *)a->head->data + a->used;
	a->used += size;
	return p;
}

void *otlp_arena_alloc(struct otlp_arena *a, size_t size)
{
	void *p = otlp_arena_take(a, size);

	if (p)
		memset(p, 0, size);
	return p;
}

char *otlp_arena_strdup(struct otlp_arena *a, const char *s, size_t len)
{
	char *p = otlp_arena_take(a, len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

void otlp_arena_reset(struct otlp_arena *a)
{
	chunks_free(a->spare);
	a->spare = a->head;
	a->head = NULL;
	a->used = a->cap = 0;
	a->failed = false;
}

void otlp_arena_free(struct otlp_arena *a)
{
	chunks_free(a->head);
	chunks_free(a->spare);
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

char *otlp_arena_utf8(struct otlp_arena *a, const char *s, size_t len, size_t *outlen)
{
	size_t n = len;
	char *p;

	/* Most strings are ASCII throughout: copied as they are. */
	if (str_ascii_run((const unsigned char *)s, len) == len) {
		p = otlp_arena_strdup(a, s, len);
	} else {
		p = otlp_arena_take(a, 3 * len + 1);
		if (p)
			n = otlp_utf8_copy(p, 3 * len + 1, s, len);
	}
	if (outlen)
		*outlen = p ? n : 0;
	return p;
}

/* Upper bounds of protobuf-c's encoding, so that a trace request is packed
 * into a buffer sized from what was built, without a size pass over the
 * whole tree first (protobuf_c_message_get_packed_size() was ~12% of
 * kspan's CPU at saturation). A tag takes at most 2 bytes (field numbers
 * below 2048), a length prefix at most 5 (protobuf-c packs lengths as
 * uint32), a varint at most 10 bytes, a fixed-size value 8. Every field the
 * builders below set is counted where it is set; test_pack_bound packs
 * the largest spans into buffers of exactly their bound. */
#define PB_TAG_MAX	2
#define PB_LEN_MAX	5
#define PB_SCALAR_MAX	(PB_TAG_MAX + 10)

/* A length-delimited field (string, bytes, message) of payload bytes. */
static size_t pb_len_field(size_t payload)
{
	return PB_TAG_MAX + PB_LEN_MAX + payload;
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

/* *bound: at most what the KeyValue packs to as an element of
 * Span.attributes. */
static OtlpKeyValue *otlp_build_attr(struct otlp_arena *a, const struct span *s,
				     const struct span_attr *at, size_t *bound)
{
	struct {
		OtlpKeyValue kv;
		OtlpAnyValue v;
	} *p = otlp_arena_take(a, sizeof(*p));
	OtlpKeyValue *kv;
	OtlpAnyValue *v;
	size_t off, len, vlen = 0;

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
		v->string_value = otlp_arena_utf8(a, s->strbuf + off, len, &vlen);
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
	/* KeyValue { key, value: AnyValue { the one value } }. */
	*bound = pb_len_field(pb_len_field(strlen(kv->key)) +
			      pb_len_field(at->type == SPAN_ATTR_STR ? pb_len_field(vlen) :
					   PB_SCALAR_MAX));
	return kv;
}

static bool otlp_is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

OtlpSpan *otlp_build_span(struct otlp_arena *a, const struct span *s, size_t *bound)
{
	size_t nattrs = s->nattrs < SPAN_MAX_ATTRS ? s->nattrs : SPAN_MAX_ATTRS;
	struct {
		OtlpSpan o;
		uint8_t trace_id[16], span_id[8], parent_span_id[8];
	} *p = otlp_arena_take(a, sizeof(*p));
	OtlpSpan *o;
	size_t k = 0, namelen = 0, b;

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
	o->name = otlp_arena_utf8(a, s->name, strnlen(s->name, sizeof(s->name)), &namelen);
	o->kind = s->kind;
	o->start_time_unix_nano = s->start_ns;
	o->end_time_unix_nano = s->end_ns;
	o->dropped_attributes_count = s->attrs_dropped;
	/* The span in ScopeSpans: its tag and length; flags, kind, start,
	 * end, dropped_attributes_count; three ids and the name; each
	 * attribute and the status add theirs. */
	b = pb_len_field(5 * PB_SCALAR_MAX + pb_len_field(sizeof(p->trace_id)) +
			 pb_len_field(sizeof(p->span_id)) + pb_len_field(sizeof(p->parent_span_id)) +
			 pb_len_field(namelen));
	if (nattrs) {
		o->attributes = otlp_arena_alloc(a, nattrs * sizeof(*o->attributes));
		if (!o->attributes)
			return NULL;
		for (size_t i = 0; i < nattrs; i++) {
			size_t ab = 0;

			if (!s->attrs[i].key)
				continue;
			o->attributes[k] = otlp_build_attr(a, s, &s->attrs[i], &ab);
			if (!o->attributes[k])
				return NULL;
			b += ab;
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
		/* Status { code }. */
		b += pb_len_field(PB_SCALAR_MAX);
	}
	*bound = b;
	return o->name ? o : NULL;
}

OtlpTraceReq *otlp_group_traces(struct otlp_arena *a, struct otlp_built *b, size_t n,
				size_t *bound)
{
	OtlpTraceReq *req = otlp_arena_alloc(a, sizeof(*req));
	size_t nres = 0, total = 0, scope;

	if (bound)
		*bound = 0;
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

	/* Each group: ResourceSpans { resource, scope_spans: ScopeSpans {
	 * scope, spans } }, the resource and scope (a handful a request)
	 * measured by protobuf-c. */
	scope = protobuf_c_message_get_packed_size(&otlp_scope()->base);
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
		for (size_t k = i; k < j; k++) {
			ss->spans[k - i] = b[k].span;
			total += b[k].bound;
		}
		ss->n_spans = j - i;
		total += pb_len_field(pb_len_field(rs->resource ?
						   protobuf_c_message_get_packed_size(&rs->resource->base) : 0) +
				      pb_len_field(pb_len_field(scope)));
		req->resource_spans[req->n_resource_spans++] = rs;
	}
	if (bound)
		*bound = total;
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
