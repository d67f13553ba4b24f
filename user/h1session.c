// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "h1session.h"
#include "h2.h"
#include "httpattr.h"
#include "ids.h"
#include "nest.h"
#include "slab.h"

#define H1_PIPELINE_MAX 16	/* requests awaiting a response, per connection */

struct h1_req {
	int32_t next;		/* FIFO link or free-list link */
	uint32_t tid;
	uint8_t trace_id[16];	/* assigned when the request is seen */
	uint8_t span_id[8];
	uint8_t parent_id[8];
	uint8_t flags;
	bool counted;		/* server request counted in the nest table */
	bool h2c_offer;		/* Upgrade: h2c with HTTP2-Settings */
	bool remote_parent;	/* parent_id came with the request */
	bool parent_by_id;	/* parent_id is a span of this host, by id */
	uint8_t bag_len[H1_BAGGAGE_KEYS];	/* 0: member absent */
	http_baggage_val bag[H1_BAGGAGE_KEYS];
	uint32_t seq;		/* request number on the connection */
	uint32_t h2_table;	/* h2c_offer: its SETTINGS_HEADER_TABLE_SIZE,
				 * UINT32_MAX when not given */
	uint64_t nest_conn;	/* client: the server request being served */
	uint32_t nest_seq;
	uint64_t start_ns;	/* first request byte */
	uint64_t resp_last_ns;	/* last response byte seen so far */
	int64_t req_body;	/* body bytes, -1 unknown */
	int64_t resp_body;
	uint16_t status;
	uint8_t minor;
	bool resp_started;
	uint8_t method_len;
	uint8_t host_len;
	uint16_t target_len;
	char method[H1_METHOD_MAX];
	char host[H1_HOST_MAX];
	char target[H1_TARGET_MAX];
};

_Static_assert(H1_BAGGAGE_VAL == HTTP_BAGGAGE_VAL, "h1_upgrade holds baggage values");

struct h1_ctx {
	struct nest_table *nest;	/* NULL: no nesting */
	struct slab reqs;	/* request records */
	struct slab bufs;	/* head buffers of H1_HEAD_MAX bytes */
	struct h1_sink sink;
	struct h1_stats st;
	unsigned propagators;
	const char *const *bag_keys;
	size_t nbag_keys;
	const struct redact_policy *redact;
	struct tracectx_stats tcst;
};

struct h1_ctx *h1_ctx_new(uint32_t max_pending, uint32_t max_bufs, struct h1_sink sink)
{
	struct h1_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (slab_init(&c->reqs, sizeof(struct h1_req), max_pending) ||
	    slab_init(&c->bufs, H1_HEAD_MAX, max_bufs)) {
		h1_ctx_free(c);
		return NULL;
	}
	c->propagators = TRACECTX_W3C | TRACECTX_B3 | TRACECTX_B3MULTI | TRACECTX_JAEGER;
	c->sink = sink;
	return c;
}

void h1_ctx_free(struct h1_ctx *c)
{
	if (!c)
		return;
	slab_destroy(&c->reqs);
	slab_destroy(&c->bufs);
	free(c);
}

void h1_ctx_trim(struct h1_ctx *c)
{
	slab_trim(&c->reqs);
	slab_trim(&c->bufs);
}

size_t h1_ctx_bytes(const struct h1_ctx *c)
{
	return sizeof(*c) + slab_bytes(&c->reqs) + slab_bytes(&c->bufs);
}

const struct h1_stats *h1_ctx_stats(const struct h1_ctx *c)
{
	return &c->st;
}

void h1_ctx_set_context(struct h1_ctx *c, unsigned propagators,
			const char *const *keys, size_t nkeys)
{
	c->propagators = propagators;
	c->bag_keys = keys;
	c->nbag_keys = nkeys < H1_BAGGAGE_KEYS ? nkeys : H1_BAGGAGE_KEYS;
}

void h1_ctx_set_redact(struct h1_ctx *c, const struct redact_policy *p)
{
	c->redact = p;
}

const struct tracectx_stats *h1_ctx_context_stats(const struct h1_ctx *c)
{
	return &c->tcst;
}

void h1_ctx_set_nest(struct h1_ctx *c, struct nest_table *t)
{
	c->nest = t;
}

static void stream_init(struct h1_stream *st)
{
	memset(st, 0, sizeof(*st));
	st->buf = -1;
	st->rec = -1;
}

void h1_session_init(struct h1_session *s)
{
	stream_init(&s->req);
	stream_init(&s->resp);
	s->head = s->tail = -1;
	s->npending = 0;
	s->upgraded = false;
	s->h2c = false;
	s->h2c_off = 0;
	s->seq_broken = false;
	s->nreq = 0;
	s->ninj = 0;
}

static void buf_release(struct h1_ctx *c, struct h1_stream *st)
{
	if (st->buf >= 0)
		slab_put(&c->bufs, st->buf);
	st->buf = -1;
	st->buf_len = 0;
}

static char *buf_ptr(struct h1_ctx *c, int32_t i)
{
	return slab_at(&c->bufs, i);
}

static struct h1_req *req_at(struct h1_ctx *c, int32_t i)
{
	return slab_at(&c->reqs, i);
}

static void req_free(struct h1_ctx *c, int32_t i)
{
	slab_put(&c->reqs, i);
}

static void lose(struct h1_ctx *c, struct h1_stream *st)
{
	buf_release(c, st);
	st->was_lost = true;
	st->state = H1S_LOST;
	st->rec = -1;
}

static size_t copy_trunc(char *dst, size_t cap, const char *src, size_t len)
{
	if (len > cap)
		len = cap;
	memcpy(dst, src, len);
	return len;
}

static void build_span(struct h1_ctx *c, const struct h1_conn_info *ci,
		       const struct h1_req *r, uint64_t end_ns)
{
	struct http_attrs a = {
		.client = ci->client, .method = r->method, .method_len = r->method_len,
		.authority = r->host, .authority_len = r->host_len, .status = r->status,
		.req_body = r->req_body, .resp_body = r->resp_body, .redact = c->redact,
	};
	char ver[4] = "1.x";
	struct span *sp;

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
	sp->kind = ci->client ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER;
	sp->start_ns = ids_mono_to_unix(r->start_ns);
	sp->end_ns = ids_mono_to_unix(end_ns > r->start_ns ? end_ns : r->start_ns);
	sp->pid = ci->pid;
	sp->tid = r->tid;
	sp->conn_id = ci->conn_id;
	sp->seq = ci->seen_open ? r->seq : 0;
	sp->req_no = r->seq;
	sp->nest_conn = r->nest_conn;
	sp->nest_seq = r->nest_seq;
	sp->remote_parent = r->remote_parent;
	sp->parent_by_id = r->parent_by_id;
	sp->local_port = ci->local_port;
	sp->peer_port = ci->peer_port;
	memcpy(sp->local_addr, ci->local_addr, 16);
	memcpy(sp->peer_addr, ci->peer_addr, 16);

	http1_split_target(r->target, r->target_len, &a.path, &a.path_len, &a.query,
			   &a.query_len);
	/* An absolute-form target ("http://host/p", to proxies) carries its
	 * own scheme and authority. */
	if (r->target_len && r->target[0] != '/') {
		a.url_base = r->target;
		a.url_base_len = a.path - r->target;
	}
	ver[2] = '0' + r->minor % 10;	/* one digit (http1.c) */
	a.version = ver;
	if (ci->tls) {
		a.scheme = "https";
		a.scheme_len = 5;
	}
	httpattr_fill(sp, ci, &a);
	if (ci->tls_version)
		span_attr_str(sp, "tls.protocol.version", ci->tls_version, strlen(ci->tls_version));
	/* On the request that opened the connection only. */
	if (ci->tls_handshake_ns && r->seq == 1)
		span_attr_int(sp, "kspan.tls.handshake_us", (int64_t)(ci->tls_handshake_ns / 1000));
	httpattr_baggage(sp, c->bag_keys, c->nbag_keys, r->bag, r->bag_len);
	httpattr_status(sp, ci->client, r->status);
	httpattr_name(sp, &a);
	c->sink.submit(c->sink.ctx, sp);
	c->st.spans++;
}

/* The front request's exchange is over: emit its span and pop it. */
static void finish_front(struct h1_ctx *c, struct h1_session *s,
			 const struct h1_conn_info *ci, uint64_t end_ns)
{
	int32_t i = s->head;
	struct h1_req *r;

	if (i < 0)
		return;
	r = req_at(c, i);
	if (r->counted)
		nest_leave(c->nest, ci->pid, r->tid);
	if (r->resp_started)
		build_span(c, ci, r, end_ns);
	else
		c->st.unanswered++;
	s->head = r->next;
	if (s->head < 0)
		s->tail = -1;
	s->npending--;
	if (s->req.rec == i)
		s->req.rec = -1;
	req_free(c, i);
}

static struct h1_req *front_open(struct h1_ctx *c, struct h1_session *s)
{
	if (s->head >= 0 && req_at(c, s->head)->resp_started)
		return req_at(c, s->head);
	return NULL;
}

/* Propagated context and wanted baggage members of a request. */
static void read_context(struct h1_ctx *c, struct h1_req *r, const struct http1_request *rq)
{
	if (httpattr_read_context(rq->headers, rq->num_headers, c->propagators, &c->tcst,
				  r->trace_id, r->parent_id, &r->flags)) {
		r->remote_parent = true;
		c->st.context_in++;
	}
	httpattr_read_baggage(rq->headers, rq->num_headers, c->bag_keys, c->nbag_keys,
			      &c->tcst, r->bag, r->bag_len);
}

/* Ids assigned in the kernel win: they are what went on the wire. A server
 * request gets the context of its read; a client request the oldest
 * injection on its connection. */
static void kernel_context(struct h1_ctx *c, struct h1_session *s, struct h1_req *r,
			   bool client, const struct kspan_ctx *k)
{
	struct kspan_ctx inj;

	if (client) {
		if (!s->ninj)
			return;
		inj = s->inj[0];
		memmove(&s->inj[0], &s->inj[1], (s->ninj - 1) * sizeof(s->inj[0]));
		s->ninj--;
		k = &inj;
		/* Its parent is the server span of the thread, by id. */
		r->parent_by_id = !ids_is_zero(k->parent_id, 8);
		r->remote_parent = false;
	} else {
		if (!k || !k->valid)
			return;
		/* The head came in pieces and the context was not in the first:
		 * outgoing requests already carry the kernel's new trace. Keep
		 * that trace whole rather than link into the caller's. */
		if (r->remote_parent && !k->remote)
			c->st.context_unseen++;
		r->remote_parent = k->remote;
		r->parent_by_id = k->remote;
	}
	memcpy(r->trace_id, k->trace_id, sizeof(r->trace_id));
	memcpy(r->span_id, k->span_id, sizeof(r->span_id));
	memcpy(r->parent_id, k->parent_id, sizeof(r->parent_id));
	r->flags = k->flags;
}

void h1_session_injected(struct h1_ctx *c, struct h1_session *s, const struct kspan_ctx *k)
{
	if (s->ninj == H1_INJ_MAX) {
		c->st.injected_unmatched++;
		memmove(&s->inj[0], &s->inj[1], (H1_INJ_MAX - 1) * sizeof(s->inj[0]));
		s->ninj--;
	}
	s->inj[s->ninj++] = *k;
}

/* Whether a header's value lists this token (case-insensitive). */
static bool has_token(const struct http1_header *h, const char *tok)
{
	size_t pos = 0, n = strlen(tok), elen;
	const char *e;

	if (!h)
		return false;
	while (http1_list_next(h->value, h->value_len, &pos, &e, &elen))
		if (elen == n && strncasecmp(e, tok, n) == 0)
			return true;
	return false;
}

/* A request offering to switch to HTTP/2 (RFC 7540 3.2): Upgrade: h2c and
 * exactly one valid HTTP2-Settings, whose header table size the server's
 * encoder may then use. */
static void h2c_offer(struct h1_req *r, const struct http1_request *rq)
{
	const struct http1_header *set = NULL;
	uint32_t table = UINT32_MAX;

	r->h2c_offer = false;
	if (!has_token(http1_find_header(rq->headers, rq->num_headers, "upgrade"), "h2c"))
		return;
	for (size_t i = 0; i < rq->num_headers; i++) {
		if (rq->headers[i].name_len != 14 ||
		    strncasecmp(rq->headers[i].name, "http2-settings", 14))
			continue;
		if (set)
			return;
		set = &rq->headers[i];
	}
	if (!set || h2_upgrade_settings(set->value, set->value_len, &table) < 0)
		return;
	r->h2c_offer = true;
	r->h2_table = table;
}

static void on_request(struct h1_ctx *c, struct h1_session *s,
		       const struct h1_conn_info *ci,
		       const struct http1_request *rq, uint64_t start_ns, uint32_t tid,
		       const struct kspan_ctx *kctx)
{
	const struct http1_header *host;
	struct http1_framing f;
	struct h1_req *r;
	int32_t i;

	c->st.requests++;
	s->nreq++;
	if (s->req.was_lost)
		s->seq_broken = true;
	if (http1_request_framing(rq, &f) < 0) {
		c->st.parse_errors++;
		lose(c, &s->req);
		return;
	}
	s->req.rec = -1;
	if (s->npending >= H1_PIPELINE_MAX) {
		c->st.pipeline_full++;
		s->seq_broken = true;
	} else if ((i = slab_alloc(&c->reqs)) < 0) {
		c->st.pool_exhausted++;
		s->seq_broken = true;
	} else {
		r = req_at(c, i);
		memset(r, 0, offsetof(struct h1_req, method));
		r->next = -1;
		r->tid = tid;
		ids_trace_id(r->trace_id);
		ids_span_id(r->span_id);
		r->flags = 1;
		r->seq = s->seq_broken ? 0 : s->nreq;
		read_context(c, r, rq);
		kernel_context(c, s, r, ci->client, kctx);
		h2c_offer(r, rq);
		if (!c->nest) {
			/* no nesting */
		} else if (!ci->client) {
			/* A request that may become stream 1 takes part only as
			 * the connection's first: its number is then the stream's. */
			if (!r->h2c_offer || s->nreq == 1)
				r->counted = nest_enter(c->nest, ci->pid, tid, ci->conn_id,
							s->nreq);
		} else if (!r->remote_parent && !r->parent_by_id) {
			/* The caller's context wins over any guess: no nesting. */
			nest_parent(c->nest, ci->pid, tid, &r->nest_conn, &r->nest_seq);
		}
		r->start_ns = start_ns;
		r->minor = rq->minor_version;
		r->req_body = f.body == HTTP1_BODY_LENGTH ? (int64_t)f.length : 0;
		r->resp_body = -1;
		r->method_len = copy_trunc(r->method, sizeof(r->method), rq->method,
					   rq->method_len);
		r->target_len = copy_trunc(r->target, sizeof(r->target), rq->target,
					   rq->target_len);
		host = http1_find_header(rq->headers, rq->num_headers, "host");
		if (host)
			r->host_len = copy_trunc(r->host, sizeof(r->host), host->value,
						 host->value_len);
		if (s->tail >= 0)
			req_at(c, s->tail)->next = i;
		else
			s->head = i;
		s->tail = i;
		s->npending++;
		s->req.rec = i;
	}
	switch (f.body) {
	case HTTP1_BODY_LENGTH:
		s->req.state = f.length ? H1S_BODY_LEN : H1S_IDLE;
		s->req.remaining = f.length;
		break;
	case HTTP1_BODY_CHUNKED:
		s->req.state = H1S_BODY_CHUNKED;
		http1_chunked_init(&s->req.chunked);
		break;
	default:
		s->req.state = H1S_IDLE;
		break;
	}
}

static void on_response(struct h1_ctx *c, struct h1_session *s,
			const struct h1_conn_info *ci,
			const struct http1_response *rs, uint64_t end_ns)
{
	struct http1_framing f;
	struct h1_req *r = NULL;

	c->st.responses++;
	if (s->head >= 0)
		r = req_at(c, s->head);
	else
		c->st.orphan_responses++;
	if (http1_response_framing(rs, r ? r->method : "GET", r ? r->method_len : 3, &f) < 0) {
		c->st.parse_errors++;
		lose(c, &s->resp);
		return;
	}
	if (rs->status < 200 && rs->status != 101) {
		s->resp.state = H1S_IDLE;	/* interim: the final response follows */
		return;
	}
	if (r) {
		r->resp_started = true;
		r->status = rs->status;
		r->resp_last_ns = end_ns;
		r->resp_body = f.body == HTTP1_BODY_LENGTH ? (int64_t)f.length : 0;
	}
	if (f.upgrade && (!r || r->h2c_offer) && rs->status == 101 &&
	    has_token(http1_find_header(rs->headers, rs->num_headers, "upgrade"), "h2c")) {
		/* HTTP/2 from the next byte on, this exchange (if its request
		 * was seen) its stream 1: kept for h1_session_take_upgrade(). */
		s->upgraded = true;
		s->h2c = true;
		lose(c, &s->resp);
		lose(c, &s->req);
		return;
	}
	if (f.upgrade) {
		finish_front(c, s, ci, end_ns);
		s->upgraded = true;
		lose(c, &s->resp);
		lose(c, &s->req);
		return;
	}
	switch (f.body) {
	case HTTP1_BODY_LENGTH:
		s->resp.state = f.length ? H1S_BODY_LEN : H1S_IDLE;
		s->resp.remaining = f.length;
		break;
	case HTTP1_BODY_CHUNKED:
		s->resp.state = H1S_BODY_CHUNKED;
		http1_chunked_init(&s->resp.chunked);
		break;
	case HTTP1_BODY_UNTIL_CLOSE:
		s->resp.state = H1S_UNTIL_CLOSE;
		break;
	default:
		s->resp.state = H1S_IDLE;
		break;
	}
	if (s->resp.state == H1S_IDLE && r)
		finish_front(c, s, ci, end_ns);
}

/* A message body ended at end_ns. */
static void body_done(struct h1_ctx *c, struct h1_session *s,
		      const struct h1_conn_info *ci, bool is_req, uint64_t end_ns)
{
	struct h1_stream *st = is_req ? &s->req : &s->resp;
	struct h1_req *r;

	if (st->state == H1S_BODY_CHUNKED) {
		if (is_req && st->rec >= 0)
			req_at(c, st->rec)->req_body = st->chunked.body_bytes;
		r = is_req ? NULL : front_open(c, s);
		if (r)
			r->resp_body = st->chunked.body_bytes;
	}
	st->state = H1S_IDLE;
	st->rec = -1;
	if (!is_req && front_open(c, s))
		finish_front(c, s, ci, end_ns);
}

/* Parse a head at buf; on success hand it on. Returns as the parsers do. */
static int parse_head(struct h1_ctx *c, struct h1_session *s,
		      const struct h1_conn_info *ci, bool is_req,
		      const char *buf, size_t len, uint64_t start_ns,
		      const struct h1_chunk *ch, const struct kspan_ctx **kctx)
{
	struct http1_header hdrs[H1_MAX_HEADERS];
	int n;

	if (is_req) {
		struct http1_request rq = { .headers = hdrs, .num_headers = H1_MAX_HEADERS };

		n = http1_parse_request(buf, len, H1_HEAD_MAX, &rq);
		if (n > 0) {
			on_request(c, s, ci, &rq, start_ns, ch->tid, *kctx);
			/* The kernel's ids are for the first request only. */
			*kctx = NULL;
		}
	} else {
		struct http1_response rs = { .headers = hdrs, .num_headers = H1_MAX_HEADERS };

		n = http1_parse_response(buf, len, H1_HEAD_MAX, &rs);
		if (n > 0)
			on_response(c, s, ci, &rs, ch->end_ns);
	}
	return n;
}

static bool starts_message(bool is_req, const char *p, size_t len)
{
	return is_req ? http1_looks_like_request(p, len) : http1_looks_like_response(p, len);
}

void h1_session_feed(struct h1_ctx *c, struct h1_session *s,
		     const struct h1_conn_info *ci, bool is_req,
		     const struct h1_chunk *ch)
{
	struct h1_stream *st = is_req ? &s->req : &s->resp;
	uint64_t uncaptured = ch->len > ch->cap_len ? ch->len - ch->cap_len : 0;
	const struct kspan_ctx *kctx = ch->kctx;
	const char *p = ch->data;
	uint32_t cap = ch->cap_len, off = 0;
	struct h1_req *open;
	int n;

	if (s->upgraded)
		return;
	open = is_req ? NULL : front_open(c, s);
	if (st->state == H1S_LOST) {
		if (!cap || !starts_message(is_req, p, cap)) {
			c->st.lost_events++;
			if (open)
				open->resp_last_ns = ch->end_ns;
			return;
		}
		st->state = H1S_IDLE;
	}
	/* A response whose end could not be seen ends where the next begins. */
	if (open && st->state == H1S_IDLE)
		finish_front(c, s, ci, open->resp_last_ns);
	if ((open = is_req ? NULL : front_open(c, s)))
		open->resp_last_ns = ch->end_ns;

	while (off < cap) {
		switch (st->state) {
		case H1S_IDLE:
			n = parse_head(c, s, ci, is_req, p + off, cap - off, ch->start_ns, ch,
				       &kctx);
			if (n == -2 && !uncaptured && (st->buf = slab_alloc(&c->bufs)) >= 0) {
				st->buf_len = cap - off;
				memcpy(buf_ptr(c, st->buf), p + off, st->buf_len);
				st->head_ns = ch->start_ns;
				/* The kernel scanned only this read: its ids, which
				 * the thread's outgoing requests carry, belong to the
				 * head completed by a later one. */
				st->head_has_kctx = kctx != NULL;
				if (kctx)
					st->head_kctx = *kctx;
				st->state = H1S_HEAD;
				return;
			}
			if (n == -2) {
				if (uncaptured)
					c->st.head_too_large++;
				else
					c->st.pool_exhausted++;
				lose(c, st);
				return;
			}
			if (n < 0) {
				c->st.parse_errors++;
				lose(c, st);
				return;
			}
			off += n;
			if (s->h2c) {
				s->h2c_off = off;
				return;
			}
			break;
		case H1S_HEAD: {
			uint32_t old = st->buf_len, take = cap - off;
			const struct kspan_ctx *hk = st->head_has_kctx ? &st->head_kctx : NULL;
			int32_t b = st->buf;

			if (take > H1_HEAD_MAX - old)
				take = H1_HEAD_MAX - old;
			memcpy(buf_ptr(c, b) + old, p + off, take);
			/* Detach the buffer while its head is handled: a framing
			 * error in there loses the stream, which must not free
			 * the buffer under us. */
			st->buf = -1;
			st->buf_len = 0;
			n = parse_head(c, s, ci, is_req, buf_ptr(c, b), old + take,
				       st->head_ns, ch, &hk);
			if (n == -2 && old + take < H1_HEAD_MAX && !uncaptured) {
				st->buf = b;
				st->buf_len = old + take;
				return;
			}
			slab_put(&c->bufs, b);
			st->head_has_kctx = false;
			if (n > 0) {
				off += n - old;
				if (s->h2c) {
					s->h2c_off = off;
					return;
				}
				break;
			}
			if (n == -2)
				c->st.head_too_large++;
			else
				c->st.parse_errors++;
			lose(c, st);
			return;
		}
		case H1S_BODY_LEN: {
			uint64_t k = cap - off;

			if (k > st->remaining)
				k = st->remaining;
			st->remaining -= k;
			off += k;
			if (!st->remaining)
				body_done(c, s, ci, is_req, ch->end_ns);
			break;
		}
		case H1S_BODY_CHUNKED: {
			ssize_t r = http1_chunked_feed(&st->chunked, p + off, cap - off);

			if (r < 0) {
				c->st.parse_errors++;
				lose(c, st);
				return;
			}
			off += r;
			if (st->chunked.state == H1C_DONE)
				body_done(c, s, ci, is_req, ch->end_ns);
			break;
		}
		case H1S_UNTIL_CLOSE:
			if ((open = front_open(c, s)))
				open->resp_body += cap - off;
			off = cap;
			break;
		default:
			return;
		}
	}
	if (!uncaptured)
		return;
	switch (st->state) {
	case H1S_BODY_LEN:
		if (uncaptured > st->remaining) {
			/* A new message starts in bytes we did not capture. */
			st->remaining = 0;
			body_done(c, s, ci, is_req, ch->end_ns);
			c->st.lost_events++;
			lose(c, st);
			return;
		}
		st->remaining -= uncaptured;
		if (!st->remaining)
			body_done(c, s, ci, is_req, ch->end_ns);
		break;
	case H1S_BODY_CHUNKED:
		if (http1_chunked_skip(&st->chunked, uncaptured)) {
			c->st.lost_events++;
			lose(c, st);
		}
		break;
	case H1S_UNTIL_CLOSE:
		if ((open = front_open(c, s)))
			open->resp_body += uncaptured;
		break;
	default:
		c->st.lost_events++;
		lose(c, st);
		break;
	}
}

bool h1_session_take_upgrade(struct h1_ctx *c, struct h1_session *s,
			      const struct h1_conn_info *ci, struct h1_upgrade *up)
{
	const char *path, *query;
	size_t path_len, query_len;
	struct h1_req *r;
	int32_t i = s->head;

	if (!s->h2c || i < 0)
		return false;
	s->h2c = false;
	r = req_at(c, i);
	memset(up, 0, sizeof(*up));
	up->tid = r->tid;
	up->start_ns = r->start_ns;
	up->req_body = r->req_body;
	memcpy(up->trace_id, r->trace_id, sizeof(up->trace_id));
	memcpy(up->span_id, r->span_id, sizeof(up->span_id));
	memcpy(up->parent_id, r->parent_id, sizeof(up->parent_id));
	up->flags = r->flags;
	up->remote_parent = r->remote_parent;
	up->parent_by_id = r->parent_by_id;
	up->nest_conn = r->nest_conn;
	up->nest_seq = r->nest_seq;
	up->table_size = r->h2_table;
	up->first = s->nreq == 1;
	memcpy(up->bag_len, r->bag_len, sizeof(up->bag_len));
	memcpy(up->bag, r->bag, sizeof(up->bag));
	up->method_len = r->method_len;
	memcpy(up->method, r->method, r->method_len);
	/* :path is the target's path and query; an absolute-form target
	 * also names the scheme and authority. */
	http1_split_target(r->target, r->target_len, &path, &path_len, &query, &query_len);
	up->path_len = (query ? query + query_len : path + path_len) - path;
	memcpy(up->path, path, up->path_len);
	if (r->target_len && r->target[0] != '/') {
		const char *sep = memmem(r->target, path - r->target, "://", 3);

		if (sep && (size_t)(sep - r->target) <= sizeof(up->scheme)) {
			up->scheme_len = sep - r->target;
			memcpy(up->scheme, r->target, up->scheme_len);
			up->host_len = copy_trunc(up->host, sizeof(up->host), sep + 3,
						  path - sep - 3);
		}
	} else {
		up->host_len = r->host_len;
		memcpy(up->host, r->host, r->host_len);
	}
	/* Its thread serves it on as a stream of the new connection. */
	if (r->counted)
		nest_leave(c->nest, ci->pid, r->tid);
	s->head = r->next;
	if (s->head < 0)
		s->tail = -1;
	s->npending--;
	req_free(c, i);
	return true;
}

void h1_session_close(struct h1_ctx *c, struct h1_session *s,
		      const struct h1_conn_info *ci)
{
	struct h1_req *open = front_open(c, s);

	if (open)
		finish_front(c, s, ci, open->resp_last_ns);
	while (s->head >= 0)
		finish_front(c, s, ci, 0);
	buf_release(c, &s->req);
	buf_release(c, &s->resp);
	h1_session_init(s);
}
