// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "h2session.h"
#include "httpattr.h"
#include "ids.h"
#include "kspan.h"
#include "nest.h"
#include "redact.h"
#include "slab.h"

/* One stream: a request and its response. */
struct h2_stream {
	int32_t self;		/* its index in the pool */
	int32_t next;		/* session list */
	uint32_t id;
	uint32_t tid;		/* thread that moved the request headers */
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8];
	uint8_t flags;
	bool remote_parent;
	bool parent_by_id;	/* parent_id is a span of this host, by id */
	bool counted;		/* server: registered in the nest table */
	bool grpc;
	bool req_end;
	bool has_resp;
	int16_t grpc_status;	/* -1: none seen */
	uint16_t status;	/* :status, 0 unknown */
	uint32_t rst;		/* RST_STREAM error code + 1, 0 none */
	uint64_t nest_conn;	/* client: the server request being served */
	uint32_t nest_seq;
	uint64_t start_ns;
	uint64_t last_ns;	/* last response byte seen */
	uint64_t req_body;
	uint64_t resp_body;
	uint8_t bag_len[H1_BAGGAGE_KEYS];
	http_baggage_val bag[H1_BAGGAGE_KEYS];
	uint8_t method_len;
	uint8_t scheme_len;
	uint8_t auth_len;
	uint16_t path_len;
	char method[H2_METHOD_MAX];
	char scheme[H2_SCHEME_MAX];
	char auth[H2_AUTH_MAX];
	char path[H2_PATH_MAX];
};

struct h2_ctx {
	struct slab sess;	/* sessions */
	struct slab streams;	/* stream records */
	struct slab bufs;	/* header block buffers of H2_BUF_SIZE bytes */
	struct h1_sink sink;
	struct h2_stats st;
	struct nest_table *nest;		/* NULL: no nesting */
	const struct redact_policy *redact;	/* NULL: redact every value */
	unsigned propagators;
	const char *const *bag_keys;
	size_t nbag_keys;
	struct tracectx_stats tcst;
	/* The fields of the block being handled. */
	size_t nhdrs;
	struct http1_header hdrs[H2_MAX_HEADERS];
	char scratch[H2_SCRATCH];
};

/* What one feed call works on. */
struct feed {
	struct h2_ctx *c;
	struct h2_session *s;
	const struct h1_conn_info *ci;
	const struct h1_chunk *ch;
	bool egress;
	uint32_t opened;	/* client streams opened without context */
	uint32_t opened_id;	/* the last of them */
	/* What else the bytes carried, for nest_calls(). */
	uint32_t frames_stream;	/* the first stream any frame was for */
	bool frames_mixed;	/* frames for another stream too */
	bool ctl;		/* stream-0 frames outside connection setup */
	bool preface;		/* the client preface: connection setup */
};

struct h2_ctx *h2_ctx_new(uint32_t max_sessions, uint32_t max_streams, uint32_t max_bufs,
			  struct h1_sink sink)
{
	struct h2_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (slab_init(&c->sess, sizeof(struct h2_session), max_sessions) ||
	    slab_init(&c->streams, sizeof(struct h2_stream), max_streams) ||
	    slab_init(&c->bufs, H2_BUF_SIZE, max_bufs)) {
		h2_ctx_free(c);
		return NULL;
	}
	c->propagators = TRACECTX_W3C | TRACECTX_B3 | TRACECTX_B3MULTI | TRACECTX_JAEGER;
	c->sink = sink;
	return c;
}

void h2_ctx_free(struct h2_ctx *c)
{
	if (!c)
		return;
	slab_destroy(&c->sess);
	slab_destroy(&c->streams);
	slab_destroy(&c->bufs);
	free(c);
}

void h2_ctx_trim(struct h2_ctx *c)
{
	slab_trim(&c->sess);
	slab_trim(&c->streams);
	slab_trim(&c->bufs);
}

size_t h2_ctx_bytes(const struct h2_ctx *c)
{
	return sizeof(*c) + slab_bytes(&c->sess) + slab_bytes(&c->streams) +
	       slab_bytes(&c->bufs);
}

void h2_ctx_set_context(struct h2_ctx *c, unsigned propagators,
			const char *const *keys, size_t nkeys)
{
	c->propagators = propagators;
	c->bag_keys = keys;
	c->nbag_keys = nkeys < H1_BAGGAGE_KEYS ? nkeys : H1_BAGGAGE_KEYS;
}

void h2_ctx_set_nest(struct h2_ctx *c, struct nest_table *t)
{
	c->nest = t;
}

void h2_ctx_set_redact(struct h2_ctx *c, const struct redact_policy *p)
{
	c->redact = p;
}

const struct h2_stats *h2_ctx_stats(const struct h2_ctx *c)
{
	return &c->st;
}

const struct tracectx_stats *h2_ctx_context_stats(const struct h2_ctx *c)
{
	return &c->tcst;
}

struct h2_session *h2_session_get(struct h2_ctx *c, int32_t s)
{
	struct h2_session *p = slab_at_checked(&c->sess, s);

	return p && p->used ? p : NULL;
}

uint8_t h2_session_role(const struct h2_ctx *c, int32_t s)
{
	const struct h2_session *p = slab_at_checked(&c->sess, s);

	return p ? p->role : KSPAN_ROLE_UNKNOWN;
}

static void dir_init(struct h2_dir *d, bool from_start)
{
	memset(d, 0, offsetof(struct h2_dir, hp));
	d->fs = H2F_PREFACE;
	d->buf = -1;
	if (from_start)
		hpack_decoder_init(&d->hp, HPACK_DEFAULT_TABLE, HPACK_RING);
	else
		hpack_decoder_init_midstream(&d->hp, HPACK_RING);
}

int32_t h2_session_open(struct h2_ctx *c, bool from_start, uint8_t role)
{
	int32_t i = slab_alloc(&c->sess);
	struct h2_session *s;

	if (i < 0) {
		c->st.sessions_full++;
		return -1;
	}
	s = slab_at(&c->sess, i);
	dir_init(&s->dir[0], from_start);
	dir_init(&s->dir[1], from_start);
	s->role = role;
	s->used = true;
	s->streams = -1;
	s->nstreams = 0;
	s->io_tid = 0;
	s->io_shared = false;
	c->st.sessions++;
	return i;
}

static char *buf_ptr(struct h2_ctx *c, int32_t i)
{
	return slab_at(&c->bufs, i);
}

static void buf_release(struct h2_ctx *c, struct h2_dir *d)
{
	if (d->buf >= 0)
		slab_put(&c->bufs, d->buf);
	d->buf = -1;
	d->buf_len = 0;
}

/* The direction is out of step: what it carried until it finds frames
 * again is unknown, header blocks included. */
static void lose(struct h2_ctx *c, struct h2_dir *d)
{
	buf_release(c, d);
	d->fs = H2F_LOST;
	d->was_lost = true;
	d->blk_open = false;
	d->got = 0;
	hpack_decoder_desync(&d->hp);
}

/* ---- streams ---- */

static struct h2_stream *stream_at(struct h2_ctx *c, int32_t i)
{
	return slab_at(&c->streams, i);
}

static struct h2_stream *stream_find(struct h2_ctx *c, struct h2_session *s, uint32_t id)
{
	for (int32_t i = s->streams; i >= 0; i = stream_at(c, i)->next)
		if (stream_at(c, i)->id == id)
			return stream_at(c, i);
	return NULL;
}

/* A fresh stream record on s; NULL (counted) when s or the pool is full. */
static struct h2_stream *stream_new(struct h2_ctx *c, struct h2_session *s)
{
	struct h2_stream *r;
	int32_t i;

	if (s->nstreams >= H2_MAX_STREAMS || (i = slab_alloc(&c->streams)) < 0) {
		c->st.streams_full++;
		return NULL;
	}
	r = stream_at(c, i);
	memset(r, 0, offsetof(struct h2_stream, method));
	r->self = i;
	r->next = s->streams;
	s->streams = i;
	s->nstreams++;
	return r;
}

/* A server stream stops counting as a request its thread serves once its
 * response head is written (or it ends): the calls made for it come before. */
static void stream_leave(struct h2_ctx *c, const struct h1_conn_info *ci, struct h2_stream *st)
{
	if (!st->counted)
		return;
	st->counted = false;
	nest_leave(c->nest, ci->pid, st->tid);
}

static void stream_free(struct h2_ctx *c, struct h2_session *s, struct h2_stream *st)
{
	int32_t i = st->self, *pp = &s->streams;

	while (*pp >= 0 && *pp != i)
		pp = &stream_at(c, *pp)->next;
	if (*pp == i)
		*pp = st->next;
	slab_put(&c->streams, i);
	s->nstreams--;
}


static bool grpc_error(int code, bool client)
{
	if (client)
		return code != 0;
	/* Server spans: only the codes semconv calls server faults. */
	return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
}

static void build_span(struct h2_ctx *c, struct h2_session *s, const struct h1_conn_info *ci,
		       const struct h2_stream *r, uint64_t end_ns)
{
	bool client = s->role == KSPAN_ROLE_CLIENT;
	struct http_attrs a = {
		.client = client, .method = r->method, .method_len = r->method_len,
		.path = r->path, .path_len = r->path_len, .scheme = r->scheme,
		.scheme_len = r->scheme_len, .authority = r->auth, .authority_len = r->auth_len,
		.version = "2", .status = r->status, .req_body = r->req_body,
		.resp_body = r->has_resp ? (int64_t)r->resp_body : -1, .redact = c->redact,
		.url_needs_authority = true,
	};
	const char *q, *slash = NULL;
	struct span *sp;
	char num[16];
	size_t n;

	sp = c->sink.alloc(c->sink.ctx);
	if (!sp) {
		c->st.span_alloc_failed++;
		return;
	}
	span_init(sp);
	memcpy(sp->trace_id, r->trace_id, sizeof(sp->trace_id));
	memcpy(sp->span_id, r->span_id, sizeof(sp->span_id));
	memcpy(sp->parent_span_id, r->parent_id, sizeof(sp->parent_span_id));
	sp->trace_flags = r->flags;
	sp->kind = client ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER;
	sp->start_ns = ids_mono_to_unix(r->start_ns);
	sp->end_ns = ids_mono_to_unix(end_ns > r->start_ns ? end_ns : r->start_ns);
	sp->pid = ci->pid;
	sp->tid = r->tid;
	sp->conn_id = ci->conn_id;
	/* Stream ids are the connection's own numbering: both ends see the
	 * same ones, whenever kspan joined. */
	sp->seq = r->id;
	sp->req_no = r->id;
	sp->nest_conn = r->nest_conn;
	sp->nest_seq = r->nest_seq;
	sp->remote_parent = r->remote_parent;
	sp->parent_by_id = r->parent_by_id;
	sp->local_port = ci->local_port;
	sp->peer_port = ci->peer_port;
	memcpy(sp->local_addr, ci->local_addr, 16);
	memcpy(sp->peer_addr, ci->peer_addr, 16);

	q = memchr(r->path, '?', r->path_len);
	if (q) {
		a.path_len = q - r->path;
		a.query = q + 1;
		a.query_len = r->path_len - a.path_len - 1;
	}
	/* :scheme unknown (indexed before kspan joined): the connection's. */
	if (!a.scheme_len && ci->tls) {
		a.scheme = "https";
		a.scheme_len = 5;
	}
	httpattr_fill(sp, ci, &a);
	if (ci->tls_version)
		span_attr_str(sp, "tls.protocol.version", ci->tls_version, strlen(ci->tls_version));
	if (r->grpc) {
		span_attr_str(sp, "rpc.system", "grpc", 4);
		if (a.path_len > 1 && a.path[0] == '/')
			slash = memchr(a.path + 1, '/', a.path_len - 1);
		if (slash && slash > a.path + 1 && slash + 1 < a.path + a.path_len) {
			span_attr_str(sp, "rpc.service", a.path + 1, slash - a.path - 1);
			span_attr_str(sp, "rpc.method", slash + 1, a.path + a.path_len - slash - 1);
		}
		if (r->grpc_status >= 0)
			span_attr_int(sp, "rpc.grpc.status_code", r->grpc_status);
	}
	httpattr_baggage(sp, c->bag_keys, c->nbag_keys, r->bag, r->bag_len);

	/* Status: gRPC by its own code when there is one; otherwise HTTP, and
	 * a stream reset with an error is an error. */
	if (r->grpc && r->grpc_status >= 0) {
		if (grpc_error(r->grpc_status, client)) {
			n = snprintf(num, sizeof(num), "%d", r->grpc_status);
			sp->status = SPAN_STATUS_ERROR;
			span_attr_str(sp, "error.type", num, n);
		}
	} else if (!httpattr_status(sp, client, r->status) && r->rst > 1) {
		const char *e = h2_error_name(r->rst - 1);

		sp->status = SPAN_STATUS_ERROR;
		span_attr_str(sp, "error.type", e, strlen(e));
	}

	/* Names: "package.Service/Method" for gRPC; as HTTP/1 otherwise. */
	if (r->grpc && a.path_len > 1 && a.path[0] == '/') {
		n = a.path_len - 1 < sizeof(sp->name) - 1 ? a.path_len - 1 : sizeof(sp->name) - 1;
		memcpy(sp->name, a.path + 1, n);
		sp->name[n] = '\0';
	} else {
		httpattr_name(sp, &a);
	}
	c->sink.submit(c->sink.ctx, sp);
	c->st.spans++;
}

static void stream_finish(struct feed *f, struct h2_stream *st, uint64_t end_ns)
{
	stream_leave(f->c, f->ci, st);
	/* Another thread moved bytes of the connection during the call: the
	 * thread that wrote its HEADERS may have done so for it. */
	if (st->nest_conn && f->s->io_shared) {
		st->nest_conn = 0;
		st->nest_seq = 0;
		f->c->st.nest_refused++;
	}
	build_span(f->c, f->s, f->ci, st, end_ns);
	stream_free(f->c, f->s, st);
}

static const struct http1_header *field(const struct h2_ctx *c, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < c->nhdrs; i++)
		if (c->hdrs[i].name_len == n && memcmp(c->hdrs[i].name, name, n) == 0)
			return &c->hdrs[i];
	return NULL;
}

static size_t copy_field(char *dst, size_t cap, const struct http1_header *h)
{
	size_t n = 0;

	if (h) {
		n = h->value_len < cap ? h->value_len : cap;
		memcpy(dst, h->value, n);
	}
	return n;
}

/* Propagated context and wanted baggage members of a request. */
static void read_context(struct h2_ctx *c, struct h2_stream *r)
{
	if (httpattr_read_context(c->hdrs, c->nhdrs, c->propagators, &c->tcst, r->trace_id,
				  r->parent_id, &r->flags)) {
		r->remote_parent = true;
		c->st.context_in++;
	}
	httpattr_read_baggage(c->hdrs, c->nhdrs, c->bag_keys, c->nbag_keys, &c->tcst, r->bag,
			      r->bag_len);
}

/* Visible ASCII only: what a method, scheme, authority or path may hold
 * (RFC 9113 8.2.1 and 8.3.1; no NUL, CR, LF or space). */
static bool visible(const struct http1_header *h)
{
	if (!h)
		return true;
	for (size_t i = 0; i < h->value_len; i++)
		if ((unsigned char)h->value[i] <= 0x20 || (unsigned char)h->value[i] >= 0x7f)
			return false;
	return true;
}

/* A server stream is a request its reading thread serves; a client stream
 * without propagated context may belong to the one request its writing
 * thread serves. */
static void stream_nest(struct feed *f, struct h2_stream *r)
{
	struct h2_ctx *c = f->c;

	if (!c->nest)
		return;
	if (f->s->role == KSPAN_ROLE_SERVER) {
		if (!f->s->io_shared)
			r->counted = nest_enter(c->nest, f->ci->pid, r->tid, f->ci->conn_id,
						r->id);
	} else if (!r->remote_parent) {
		/* decided in nest_calls() once the whole write is seen */
		f->opened++;
		f->opened_id = r->id;
	}
}

static struct h2_stream *stream_open(struct feed *f, struct h2_dir *d)
{
	struct h2_ctx *c = f->c;
	struct h2_session *s = f->s;
	const struct http1_header *h;
	struct h2_stream *r;
	const struct http1_header *method = field(c, ":method"), *path = field(c, ":path");
	const struct http1_header *scheme = field(c, ":scheme"), *auth = field(c, ":authority");

	if (!auth)
		auth = field(c, "host");
	if (!method || !method->value_len || !visible(method) || !visible(path) || !visible(scheme) ||
	    !visible(auth) || (path && (!path->value_len ||
				       (path->value[0] != '/' && path->value[0] != '*')))) {
		c->st.malformed++;
		return NULL;
	}
	r = stream_new(c, s);
	if (!r)
		return NULL;
	r->id = d->blk_stream;
	r->tid = d->blk_tid;
	r->start_ns = d->blk_ns;
	r->last_ns = d->blk_ns;
	r->grpc_status = -1;
	r->flags = 1;
	ids_trace_id(r->trace_id);
	ids_span_id(r->span_id);
	read_context(c, r);
	stream_nest(f, r);
	r->method_len = copy_field(r->method, sizeof(r->method), method);
	r->scheme_len = copy_field(r->scheme, sizeof(r->scheme), scheme);
	r->auth_len = copy_field(r->auth, sizeof(r->auth), auth);
	r->path_len = copy_field(r->path, sizeof(r->path), path);
	h = field(c, "content-type");
	r->grpc = h && h->value_len >= 16 && memcmp(h->value, "application/grpc", 16) == 0;
	c->st.requests++;
	return r;
}

static int parse_uint(const struct http1_header *h, int max)
{
	int v = 0;

	if (!h || !h->value_len || h->value_len > 9)
		return -1;
	for (size_t i = 0; i < h->value_len; i++) {
		if (h->value[i] < '0' || h->value[i] > '9')
			return -1;
		v = v * 10 + (h->value[i] - '0');
	}
	return v <= max ? v : -1;
}

/* A header block ended in direction d: decoded into c->hdrs, or lost. */
static void on_block(struct feed *f, struct h2_dir *d, bool lost)
{
	struct h2_ctx *c = f->c;
	struct h2_session *s = f->s;
	bool is_req = false, is_resp = false, req_dir;
	struct h2_stream *st;
	int v;

	if (d->blk_type != H2_HEADERS)
		return;		/* PUSH_PROMISE: only the table mattered */
	if (!lost) {
		is_req = field(c, ":method") != NULL;
		is_resp = field(c, ":status") != NULL;
	}
	if (s->role == KSPAN_ROLE_UNKNOWN) {
		if (is_req == is_resp) {
			c->st.no_role++;
			return;
		}
		s->role = (is_req == f->egress) ? KSPAN_ROLE_CLIENT : KSPAN_ROLE_SERVER;
	}
	req_dir = f->egress == (s->role == KSPAN_ROLE_CLIENT);
	st = stream_find(c, s, d->blk_stream);
	if (req_dir) {
		if (!st && is_req)
			st = stream_open(f, d);
		if (st && d->blk_end_stream)
			st->req_end = true;
		return;
	}
	if (!st) {
		if (is_resp || lost)
			c->st.orphan_responses++;
		return;
	}
	st->last_ns = f->ch->end_ns;
	if (lost) {
		st->has_resp = true;
		stream_leave(c, f->ci, st);
	} else {
		v = parse_uint(field(c, ":status"), 999);
		if (v >= 200 || (v < 0 && is_resp)) {
			st->status = v > 0 ? v : 0;
			if (!st->has_resp)
				c->st.responses++;
			st->has_resp = true;
			stream_leave(c, f->ci, st);
		}
		v = parse_uint(field(c, "grpc-status"), 32767);
		if (v >= 0)
			st->grpc_status = v;
	}
	if (d->blk_end_stream && st->has_resp)
		stream_finish(f, st, f->ch->end_ns);
}

/* Decode a whole header block of direction d into c->hdrs, then act on it. */
static void decode_block(struct feed *f, struct h2_dir *d, const uint8_t *p, size_t n)
{
	struct h2_ctx *c = f->c;
	struct hpack_field hf;
	size_t off = 0, used = 0;
	bool bad = false;
	int k;

	hpack_decoder_begin_block(&d->hp);
	c->nhdrs = 0;
	while (off < n) {
		k = hpack_decode_field(&d->hp, p + off, n - off, c->scratch + used,
				       H2_SCRATCH - used, &hf);
		if (k < 0) {
			/* Bad or cut short: the table may have changed in ways
			 * we cannot follow. */
			c->st.hpack_errors++;
			hpack_decoder_reset(&d->hp);
			bad = true;
			break;
		}
		off += k;
		if (hf.flags & HPACK_F_SIZE_UPDATE)
			continue;
		used += hf.name_len + hf.value_len;
		if (hf.flags & (HPACK_F_NAME_UNKNOWN | HPACK_F_VALUE_UNKNOWN)) {
			c->st.hpack_unknown++;
			continue;
		}
		if (c->nhdrs < H2_MAX_HEADERS)
			c->hdrs[c->nhdrs++] = (struct http1_header){
				.name = hf.name, .name_len = hf.name_len,
				.value = hf.value, .value_len = hf.value_len,
			};
	}
	if (bad) {
		c->nhdrs = 0;
		c->st.blocks_lost++;
	} else {
		c->st.header_blocks++;
	}
	on_block(f, d, bad);
}

static void block_end(struct feed *f, struct h2_dir *d)
{
	struct h2_ctx *c = f->c;

	d->blk_open = false;
	if (d->blk_lost) {
		c->st.blocks_lost++;
		hpack_decoder_desync(&d->hp);
		c->nhdrs = 0;
		on_block(f, d, true);
	} else if (!d->blk_done) {
		decode_block(f, d, d->buf >= 0 ? (const uint8_t *)buf_ptr(c, d->buf) :
			     (const uint8_t *)"", d->buf_len);
	}
	buf_release(c, d);
}

static void on_data(struct feed *f, struct h2_dir *d)
{
	struct h2_session *s = f->s;
	struct h2_stream *st;

	if (s->role == KSPAN_ROLE_UNKNOWN)
		return;
	st = stream_find(f->c, s, d->fh.stream);
	if (!st)
		return;
	if (f->egress == (s->role == KSPAN_ROLE_CLIENT)) {
		st->req_body += d->data_len;
		if (d->fh.flags & H2_FLAG_END_STREAM)
			st->req_end = true;
		return;
	}
	st->resp_body += d->data_len;
	st->last_ns = f->ch->end_ns;
	if ((d->fh.flags & H2_FLAG_END_STREAM) && st->has_resp)
		stream_finish(f, st, f->ch->end_ns);
}

static void on_rst(struct feed *f, uint32_t id, uint32_t code)
{
	struct h2_stream *st = stream_find(f->c, f->s, id);

	f->c->st.resets++;
	if (!st)
		return;
	st->rst = code + 1;
	if (st->last_ns < f->ch->end_ns)
		st->last_ns = f->ch->end_ns;
	stream_finish(f, st, f->ch->end_ns);
}

static void frame_end(struct feed *f, struct h2_dir *d)
{
	d->fs = H2F_HDR;
	d->got = 0;
	switch (d->fh.type) {
	case H2_DATA:
		on_data(f, d);
		break;
	case H2_HEADERS:
	case H2_PUSH_PROMISE:
	case H2_CONTINUATION:
		if (d->fh.flags & H2_FLAG_END_HEADERS)
			block_end(f, d);
		break;
	default:
		break;
	}
}

/* The fixed fields are in; the rest of the payload follows. */
static void body_begin(struct feed *f, struct h2_dir *d)
{
	if (d->fh.type == H2_HEADERS || d->fh.type == H2_PUSH_PROMISE) {
		d->blk_open = true;
		d->blk_lost = false;
		d->blk_done = false;
		d->blk_type = d->fh.type;
		d->blk_stream = d->fh.stream;
		d->blk_end_stream = d->fh.type == H2_HEADERS &&
				    (d->fh.flags & H2_FLAG_END_STREAM);
		d->blk_ns = d->frame_ns;
		d->blk_tid = f->ch->tid;
	}
	if (d->fh.type == H2_DATA)
		d->data_len = d->left - d->pad;
	if (d->left > d->pad)
		d->fs = H2F_BODY;
	else if (d->left)
		d->fs = H2F_PAD;
	else
		frame_end(f, d);
}

static void note_frame(struct feed *f, uint32_t stream)
{
	if (!stream)
		f->ctl |= !f->preface;
	else if (!f->frames_stream)
		f->frames_stream = stream;
	else if (f->frames_stream != stream)
		f->frames_mixed = true;
}

static int frame_begin(struct feed *f, struct h2_dir *d)
{
	struct h2_frame_hdr h;

	h2_parse_frame_hdr(d->hdr, H2_FRAME_HDR, &h);
	f->c->st.frames++;
	if (h2_frame_hdr_check(&h, H2_MAX_FRAME_LIMIT) < 0)
		return -1;
	note_frame(f, h.stream);
	/* 6.10: nothing may come between a block's frames. */
	if (d->blk_open != (h.type == H2_CONTINUATION) ||
	    (d->blk_open && h.stream != d->blk_stream))
		return -1;
	d->fh = h;
	d->left = h.length;
	d->pad = 0;
	d->got = 0;
	d->data_len = 0;
	switch (h.type) {
	case H2_DATA:
	case H2_HEADERS:
	case H2_PUSH_PROMISE:
		d->need = h2_frame_prefix_len(&h);
		break;
	case H2_RST_STREAM:
		d->need = 4;
		break;
	case H2_GOAWAY:
		d->need = 8;
		break;
	case H2_SETTINGS:
		d->need = h.length && !(h.flags & H2_FLAG_ACK) ? 6 : 0;
		break;
	default:
		d->need = 0;
		break;
	}
	if (d->need) {
		d->fs = H2F_PREFIX;
		return 0;
	}
	body_begin(f, d);
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int prefix_done(struct feed *f, struct h2_dir *d)
{
	uint16_t id;
	uint32_t v;

	d->got = 0;
	switch (d->fh.type) {
	case H2_DATA:
	case H2_HEADERS:
	case H2_PUSH_PROMISE:
		if (d->fh.flags & H2_FLAG_PADDED) {
			d->pad = d->ctl[0];
			if (d->pad > d->left)
				return -1;
		}
		break;
	case H2_RST_STREAM:
		on_rst(f, d->fh.stream, be32(d->ctl));
		break;
	case H2_SETTINGS:
		h2_setting(d->ctl, &id, &v);
		/* The sender decodes what comes the other way. */
		if (id == H2_SETTINGS_HEADER_TABLE_SIZE)
			hpack_decoder_set_limit(&f->s->dir[f->egress ? 1 : 0].hp, v);
		if (d->left >= 6)
			return 0;	/* the next parameter */
		break;
	default:
		break;	/* GOAWAY: the rest is debug data */
	}
	body_begin(f, d);
	return 0;
}

/* Header block fragment bytes of the current frame. */
static void fragment(struct feed *f, struct h2_dir *d, const uint8_t *p, uint32_t n,
		     bool whole_frame)
{
	struct h2_ctx *c = f->c;

	if (d->blk_lost || !n)
		return;
	/* The usual case: one frame holds the block, all in this read. */
	if (whole_frame && d->buf < 0 && (d->fh.flags & H2_FLAG_END_HEADERS) &&
	    d->fh.type != H2_CONTINUATION) {
		decode_block(f, d, p, n);
		d->blk_done = true;
		return;
	}
	if (d->buf < 0) {
		d->buf = slab_alloc(&c->bufs);
		if (d->buf < 0) {
			c->st.pool_exhausted++;
			d->blk_lost = true;
			return;
		}
		d->buf_len = 0;
	}
	if (d->buf_len + n > H2_BUF_SIZE) {
		d->blk_lost = true;
		buf_release(c, d);
		return;
	}
	memcpy(buf_ptr(c, d->buf) + d->buf_len, p, n);
	d->buf_len += n;
}

/* Bytes of this direction that were not captured: only payload we skip or
 * count can be stepped over. */
static void skip_uncaptured(struct feed *f, struct h2_dir *d, uint64_t n)
{
	uint64_t k;

	while (n) {
		switch (d->fs) {
		case H2F_BODY:
			k = d->left - d->pad;
			if (k > n)
				k = n;
			if (d->fh.type == H2_HEADERS || d->fh.type == H2_PUSH_PROMISE ||
			    d->fh.type == H2_CONTINUATION) {
				d->blk_lost = true;
				buf_release(f->c, d);
			}
			d->left -= k;
			n -= k;
			if (d->left == d->pad) {
				if (d->pad)
					d->fs = H2F_PAD;
				else
					frame_end(f, d);
			}
			break;
		case H2F_PAD:
			k = d->left < n ? d->left : n;
			d->left -= k;
			n -= k;
			if (!d->left)
				frame_end(f, d);
			break;
		default:
			f->c->st.lost_events++;
			lose(f->c, d);
			return;
		}
	}
}

static void feed_bytes(struct feed *f)
{
	struct h2_ctx *c = f->c;
	struct h2_session *s = f->s;
	const struct h1_chunk *ch = f->ch;
	bool egress = f->egress;
	const uint8_t *p = (const uint8_t *)ch->data;
	uint32_t cap = ch->cap_len, off = 0, take;
	struct h2_dir *d;

	d = &s->dir[egress ? 0 : 1];
	/* The rest of a frame begun in an earlier read or write. */
	if (d->fs == H2F_PREFIX || d->fs == H2F_BODY || d->fs == H2F_PAD)
		note_frame(f, d->fh.stream);
	if (d->fs == H2F_LOST) {
		if (!cap || !h2_looks_like_frames(p, cap, ch->len)) {
			c->st.lost_events++;
			return;
		}
		d->fs = H2F_HDR;
		d->got = 0;
	}
	if (d->fs == H2F_PREFACE) {
		while (off < cap && d->got < H2_PREFACE_LEN && p[off] == H2_PREFACE[d->got]) {
			off++;
			d->got++;
		}
		if (d->got == H2_PREFACE_LEN) {
			f->preface = true;
			/* Only a client sends it. */
			if (s->role == KSPAN_ROLE_UNKNOWN)
				s->role = egress ? KSPAN_ROLE_CLIENT : KSPAN_ROLE_SERVER;
			d->fs = H2F_HDR;
			d->got = 0;
		} else if (off < cap) {
			if (d->got) {
				c->st.protocol_errors++;
				lose(c, d);
				return;
			}
			d->fs = H2F_HDR;
		}
	}
	while (off < cap) {
		uint32_t avail = cap - off;

		switch (d->fs) {
		case H2F_HDR:
			if (!d->got)
				d->frame_ns = ch->start_ns;
			take = H2_FRAME_HDR - d->got;
			if (take > avail)
				take = avail;
			memcpy(d->hdr + d->got, p + off, take);
			d->got += take;
			off += take;
			if (d->got == H2_FRAME_HDR && frame_begin(f, d) < 0) {
				c->st.protocol_errors++;
				lose(c, d);
				return;
			}
			break;
		case H2F_PREFIX:
			take = d->need - d->got;
			if (take > avail)
				take = avail;
			memcpy(d->ctl + d->got, p + off, take);
			d->got += take;
			d->left -= take;
			off += take;
			if (d->got == d->need && prefix_done(f, d) < 0) {
				c->st.protocol_errors++;
				lose(c, d);
				return;
			}
			break;
		case H2F_BODY: {
			uint32_t want = d->left - d->pad;
			bool whole;

			take = want < avail ? want : avail;
			whole = take == want && want == d->fh.length - h2_frame_prefix_len(&d->fh) -
				d->pad;
			if (d->fh.type == H2_HEADERS || d->fh.type == H2_PUSH_PROMISE ||
			    d->fh.type == H2_CONTINUATION)
				fragment(f, d, p + off, take, whole);
			d->left -= take;
			off += take;
			if (d->left == d->pad) {
				if (d->pad)
					d->fs = H2F_PAD;
				else
					frame_end(f, d);
			}
			break;
		}
		case H2F_PAD:
			take = d->left < avail ? d->left : avail;
			d->left -= take;
			off += take;
			if (!d->left)
				frame_end(f, d);
			break;
		default:
			return;
		}
	}
	if (ch->len > cap)
		skip_uncaptured(f, d, ch->len - cap);
}

/* Client streams opened by this write take a parent only when they are
 * sure to be their writing thread's own call: the only stream open on the
 * connection, and the write carrying nothing but its frames (and the
 * connection's setup). Multiplexing clients (httpx, grpc-core) let
 * whichever thread holds the connection flush the frames other threads
 * queued, along with its own frames or flow-control updates. */
static void nest_calls(struct feed *f)
{
	struct h2_ctx *c = f->c;
	struct h2_stream *st;

	if (!c->nest || !f->opened)
		return;
	st = stream_find(c, f->s, f->opened_id);
	if (f->opened == 1 && f->s->nstreams == 1 && st && !f->frames_mixed && !f->ctl &&
	    f->frames_stream == f->opened_id && !f->s->io_shared) {
		nest_parent(c->nest, f->ci->pid, st->tid, &st->nest_conn, &st->nest_seq);
		return;
	}
	if (nest_count(c->nest, f->ci->pid, f->ch->tid))
		c->st.nest_refused += f->opened;
}

void h2_session_feed(struct h2_ctx *c, int32_t si, const struct h1_conn_info *ci,
		     bool egress, const struct h1_chunk *ch)
{
	struct h2_session *s = h2_session_get(c, si);
	struct feed f = { .c = c, .s = s, .ci = ci, .ch = ch, .egress = egress };

	if (!s)
		return;
	if (!s->io_tid)
		s->io_tid = ch->tid;
	else if (s->io_tid != ch->tid)
		s->io_shared = true;
	feed_bytes(&f);
	nest_calls(&f);
}

static size_t copy_str(char *dst, size_t cap, const char *src, size_t n)
{
	n = n < cap ? n : cap;
	memcpy(dst, src, n);
	return n;
}

bool h2_session_upgraded(struct h2_ctx *c, int32_t si, const struct h1_conn_info *ci,
			 const struct h1_upgrade *up)
{
	struct h2_session *s = h2_session_get(c, si);
	struct h2_stream *r;

	if (!s)
		return false;
	c->st.upgrades++;
	/* The client announced its table size in HTTP2-Settings: the server's
	 * encoder may use it from its first block on. */
	if (up->table_size != UINT32_MAX)
		hpack_decoder_set_limit(&s->dir[s->role == KSPAN_ROLE_CLIENT ? 1 : 0].hp,
					up->table_size);
	r = stream_new(c, s);
	if (!r)
		return false;
	r->id = 1;
	r->tid = up->tid;
	r->start_ns = up->start_ns;
	r->last_ns = up->start_ns;
	r->grpc_status = -1;
	r->req_end = true;
	r->req_body = up->req_body > 0 ? (uint64_t)up->req_body : 0;
	memcpy(r->trace_id, up->trace_id, sizeof(r->trace_id));
	memcpy(r->span_id, up->span_id, sizeof(r->span_id));
	memcpy(r->parent_id, up->parent_id, sizeof(r->parent_id));
	r->flags = up->flags;
	r->remote_parent = up->remote_parent;
	r->parent_by_id = up->parent_by_id;
	r->nest_conn = up->nest_conn;
	r->nest_seq = up->nest_seq;
	memcpy(r->bag_len, up->bag_len, sizeof(r->bag_len));
	memcpy(r->bag, up->bag, sizeof(r->bag));
	r->method_len = copy_str(r->method, sizeof(r->method), up->method, up->method_len);
	r->scheme_len = copy_str(r->scheme, sizeof(r->scheme), up->scheme, up->scheme_len);
	r->auth_len = copy_str(r->auth, sizeof(r->auth), up->host, up->host_len);
	r->path_len = copy_str(r->path, sizeof(r->path), up->path, up->path_len);
	/* Stream 1 is request 1 of the connection for nesting; an upgrade on
	 * a later request would share its number with an earlier one. */
	if (c->nest && s->role == KSPAN_ROLE_SERVER && up->first)
		r->counted = nest_enter(c->nest, ci->pid, r->tid, ci->conn_id, r->id);
	c->st.requests++;
	return true;
}

void h2_session_close(struct h2_ctx *c, int32_t si, const struct h1_conn_info *ci)
{
	struct h2_session *s = h2_session_get(c, si);
	struct h1_chunk ch = {};
	struct feed f = { .c = c, .s = s, .ci = ci, .ch = &ch };

	if (!s)
		return;
	while (s->streams >= 0) {
		struct h2_stream *st = stream_at(c, s->streams);

		if (st->has_resp) {
			stream_finish(&f, st, st->last_ns);
		} else {
			c->st.unanswered++;
			stream_leave(c, ci, st);
			stream_free(c, s, st);
		}
	}
	buf_release(c, &s->dir[0]);
	buf_release(c, &s->dir[1]);
	s->used = false;
	slab_put(&c->sess, si);
}
