// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "events.h"
#include "h2session.h"
#include "http1.h"
#include "ids.h"
#include "nest.h"
#include "proc.h"
#include "tcpfig.h"
#include "tls.h"

static struct span *sink_alloc(void *ctx)
{
	return trace_span_alloc(((struct kspan_app *)ctx)->traces);
}

static void sink_submit(void *ctx, struct span *s)
{
	struct kspan_app *a = ctx;

	tcpfig_span(a->tcp, s);
	trace_span_submit(a->traces, s, a->now_ns);
}

static void conn_info(const struct conn *c, struct h1_conn_info *ci)
{
	ci->conn_id = c->id;
	ci->pid = c->pid;
	ci->client = c->role == KSPAN_ROLE_CLIENT;
	ci->local_addr = c->tuple.saddr;
	ci->peer_addr = c->tuple.daddr;
	ci->local_port = c->tuple.sport;
	ci->peer_port = c->tuple.dport;
	ci->seen_open = c->seen_open;
	ci->tls = c->tls;
	ci->tls_version = c->tls ? tls_version_name(c->tls_version) : NULL;
	ci->tls_handshake_ns = c->tls_handshake_ns;
}

static void conn_release(void *ctx, struct conn *c)
{
	struct kspan_app *a = ctx;
	struct h1_conn_info ci;

	conn_info(c, &ci);
	if (c->proto == CONN_PROTO_HTTP2)
		h2_session_close(a->h2, c->h2, &ci);
	if (c->proto != CONN_PROTO_HTTP1)
		return;
	h1_session_close(a->h1, &c->h1, &ci);
}

int app_init(struct kspan_app *a, uint32_t max_conns, uint32_t max_spans,
	     uint64_t linger_ns, bool pairing)
{
	struct h1_sink sink = { sink_alloc, sink_submit, a };

	memset(a, 0, sizeof(*a));
	a->traces = trace_buf_new(max_spans, linger_ns, pairing);
	a->conns = conn_table_new(max_conns, conn_release, a);
	/* Request records: a few per connection on average; head buffers
	 * only for heads split across reads. */
	a->h1 = h1_ctx_new(max_conns * 2, max_conns / 16 + 16, sink);
	/* HTTP/2: a session (two HPACK tables) per h2 connection, streams
	 * for up to 16 open on each, block buffers only for header blocks
	 * split across reads or frames. */
	a->h2 = h2_ctx_new(max_conns / 64 + 16, (max_conns / 64 + 16) * 16,
			   max_conns / 256 + 8, sink);
	/* Server requests in flight per thread, HTTP/1 and HTTP/2 alike. */
	a->nest = nest_new();
	if (!a->traces || !a->conns || !a->h1 || !a->h2 || !a->nest) {
		app_free(a);
		return -1;
	}
	h1_ctx_set_nest(a->h1, a->nest);
	h2_ctx_set_nest(a->h2, a->nest);
	return 0;
}

void app_free(struct kspan_app *a)
{
	conn_table_free(a->conns);
	h1_ctx_free(a->h1);
	h2_ctx_free(a->h2);
	nest_free(a->nest);
	trace_buf_free(a->traces);
	tcpfig_free(a->tcp);
	memset(a, 0, sizeof(*a));
}

void app_sweep(struct kspan_app *a, uint64_t idle_ns)
{
	conn_sweep(a->conns, a->now_ns, idle_ns);
	h1_ctx_trim(a->h1);
	h2_ctx_trim(a->h2);
	trace_buf_trim(a->traces);
}

size_t app_bytes(const struct kspan_app *a)
{
	return conn_table_bytes(a->conns) + h1_ctx_bytes(a->h1) + h2_ctx_bytes(a->h2);
}

int app_tcp_init(struct kspan_app *a, uint32_t max_conns)
{
	/* Metric series: a few per peer of each traced process. */
	a->tcp = tcpfig_new(max_conns, 1024);
	return a->tcp ? 0 : -1;
}

void app_close_all(struct kspan_app *a)
{
	/* Sweeping with an idle time of 0 removes every connection. */
	conn_sweep(a->conns, UINT64_MAX, 0);
}

static bool start_h2(struct kspan_app *a, struct conn *c)
{
	/* The HPACK tables are in step only from the first byte on. */
	c->h2 = h2_session_open(a->h2, c->seen_open && !c->sniffed, c->role);
	if (c->h2 < 0) {
		c->proto = CONN_PROTO_OTHER;
		a->st.not_http_conns++;
		return false;
	}
	c->proto = CONN_PROTO_HTTP2;
	return true;
}

/* Decide what a connection carries from its first payload, and which side
 * sends requests when the connection predates kspan. */
static void classify(struct kspan_app *a, struct conn *c, uint8_t dir,
		     const char *p, uint32_t len, uint64_t total)
{
	bool req, resp, egress = dir == KSPAN_DIR_EGRESS;
	int pre;

	if (!len)
		return;
	/* HTTP/2: the client preface, or frames of a connection joined late. */
	pre = h2_is_preface((const uint8_t *)p, len);
	if (pre == 1 || (pre == -2 && len >= 4)) {
		uint8_t role = egress ? KSPAN_ROLE_CLIENT : KSPAN_ROLE_SERVER;

		if (c->role == KSPAN_ROLE_UNKNOWN)
			c->role = role;
		if (c->role == role && start_h2(a, c))
			return;
	}
	req = http1_looks_like_request(p, len);
	resp = !req && http1_looks_like_response(p, len);
	if (req || resp) {
		/* A request goes from client to server; a response back. */
		uint8_t role = (egress == req) ? KSPAN_ROLE_CLIENT : KSPAN_ROLE_SERVER;

		if (c->role == KSPAN_ROLE_UNKNOWN)
			c->role = role;
		if (c->role == role) {
			c->proto = CONN_PROTO_HTTP1;
			h1_session_init(&c->h1);
			return;
		}
	}
	if (h2_looks_like_frames((const uint8_t *)p, len, total) && start_h2(a, c))
		return;
	if (++c->sniffed >= CONN_SNIFF_EVENTS) {
		c->proto = CONN_PROTO_OTHER;
		a->st.not_http_conns++;
	}
}

/* An HTTP/1.1 exchange switched to HTTP/2 (Upgrade: h2c) in chunk ch: its
 * request becomes stream 1 and the rest of the chunk is HTTP/2. Without a
 * session to spare, the exchange stays a 101 span and the rest is skipped. */
static void upgrade_h2c(struct kspan_app *a, struct conn *c, const struct h1_conn_info *ci,
			bool egress, const struct h1_chunk *ch)
{
	struct h1_upgrade up;
	struct h1_chunk rest = *ch;
	int32_t h2;

	h2 = h2_session_open(a->h2, true, c->role);
	if (h2 < 0) {
		h1_session_close(a->h1, &c->h1, ci);
		c->proto = CONN_PROTO_OTHER;
		return;
	}
	if (h1_session_take_upgrade(a->h1, &c->h1, ci, &up))
		h2_session_upgraded(a->h2, h2, ci, &up);
	rest.data += c->h1.h2c_off;
	rest.cap_len -= c->h1.h2c_off;
	rest.len -= c->h1.h2c_off;
	h1_session_close(a->h1, &c->h1, ci);
	c->proto = CONN_PROTO_HTTP2;
	c->h2 = h2;
	if (rest.len)
		h2_session_feed(a->h2, h2, ci, egress, &rest);
}

static void handle_data(struct kspan_app *a, const struct kspan_data_event *e, bool tls)
{
	const char *payload = (const char *)(e + 1);
	struct h1_conn_info ci;
	struct h1_chunk ch;
	struct conn *c;

	a->st.data_events++;
	c = conn_get(a->conns, e->hdr.cookie, e->hdr.pid, e->hdr.ts_exit);
	if (!c)
		return;		/* no memory for it: counted by the table */
	if (!c->used) {
		c->used = true;
		c->tuple = e->tuple;
		c->role = e->role;
		memcpy(c->comm, e->comm, sizeof(c->comm));
		/* Read /proc while the process is surely alive: short-lived
		 * clients are gone by the time their trace is exported. */
		proc_info_seen(c->pid, c->comm, sizeof(c->comm));
	}
	if (c->role == KSPAN_ROLE_UNKNOWN && e->role != KSPAN_ROLE_UNKNOWN)
		c->role = e->role;
	if (tls && !c->tls) {
		/* The first plaintext of a TLS connection: whatever was
		 * guessed from bytes seen before (ciphertext) is void. */
		c->tls = true;
		if (c->proto == CONN_PROTO_OTHER || c->proto == CONN_PROTO_UNKNOWN) {
			c->proto = CONN_PROTO_UNKNOWN;
			c->sniffed = 0;
		}
	} else if (!tls && c->tls) {
		return;		/* ciphertext that slipped past the kernel filter */
	}
	if (c->proto == CONN_PROTO_UNKNOWN)
		classify(a, c, e->dir, payload, e->cap_len, e->ret);
	if (c->proto != CONN_PROTO_HTTP1 && c->proto != CONN_PROTO_HTTP2) {
		a->st.skipped_other++;
		a->st.skipped_bytes += e->ret;
		return;
	}
	conn_info(c, &ci);
	ch.data = payload;
	ch.cap_len = e->cap_len;
	ch.len = e->ret;
	/* Written bytes start moving when write() is entered; read bytes have
	 * arrived by the time read() returns. */
	ch.start_ns = e->dir == KSPAN_DIR_EGRESS ? e->hdr.ts_enter : e->hdr.ts_exit;
	ch.end_ns = e->hdr.ts_exit;
	ch.tid = e->hdr.tid;
	ch.kctx = e->ctx.valid ? &e->ctx : NULL;
	if (a->tcp)
		tcpfig_data(a->tcp, c->id, e->dir == KSPAN_DIR_EGRESS, ch.start_ns);
	if (c->proto == CONN_PROTO_HTTP2) {
		h2_session_feed(a->h2, c->h2, &ci, e->dir == KSPAN_DIR_EGRESS, &ch);
		if (c->role == KSPAN_ROLE_UNKNOWN)
			c->role = h2_session_role(a->h2, c->h2);
		return;
	}
	h1_session_feed(a->h1, &c->h1, &ci, (e->dir == KSPAN_DIR_EGRESS) == ci.client, &ch);
	if (c->h1.h2c)
		upgrade_h2c(a, c, &ci, e->dir == KSPAN_DIR_EGRESS, &ch);
}

int app_handle_event(void *ctx, void *data, size_t size)
{
	const struct kspan_event_hdr *h = data;
	struct kspan_app *a = ctx;
	struct conn *c;

	a->st.events++;
	if (size < sizeof(*h)) {
		a->st.bad_records++;
		return 0;
	}
	switch (h->type) {
	case KSPAN_EV_DATA:
	case KSPAN_EV_TLS_DATA: {
		const struct kspan_data_event *e = data;

		if (size < sizeof(*e) || e->cap_len > size - sizeof(*e) ||
		    e->ret < 0 || (uint64_t)e->ret < e->cap_len) {
			a->st.bad_records++;
			return 0;
		}
		handle_data(a, e, h->type == KSPAN_EV_TLS_DATA);
		break;
	}
	case KSPAN_EV_TLS_HELLO: {
		const struct kspan_tls_hello_event *e = data;
		int v;

		if (size < sizeof(*e) || e->len > sizeof(e->data)) {
			a->st.bad_records++;
			return 0;
		}
		v = tls_hello_version(e->data, e->len, e->has_record);
		if (v > 0) {
			c = conn_get(a->conns, h->cookie, h->pid, h->ts_exit);
			if (c)
				c->tls_version = v;
		}
		break;
	}
	case KSPAN_EV_TLS_HANDSHAKE:
		if (size < sizeof(struct kspan_tls_handshake_event) || h->ts_exit < h->ts_enter) {
			a->st.bad_records++;
			return 0;
		}
		c = conn_get(a->conns, h->cookie, h->pid, h->ts_exit);
		c->tls_handshake_ns = h->ts_exit - h->ts_enter;
		break;
	case KSPAN_EV_CONN: {
		const struct kspan_conn_event *e = data;

		if (size < sizeof(*e)) {
			a->st.bad_records++;
			return 0;
		}
		/* A new connection under a reused cookie (a socket connected
		 * again) starts afresh. With socket-layer capture the event
		 * comes with the first bytes, and an injected header may have
		 * been announced just before: that state stays. */
		c = conn_lookup(a->conns, h->cookie, h->pid);
		if (c && c->seen_open)
			conn_remove(a->conns, c);
		c = conn_get(a->conns, h->cookie, h->pid, h->ts_exit);
		if (!c)
			break;
		c->used = true;
		c->seen_open = true;
		c->tuple = e->tuple;
		c->role = e->role;
		memcpy(c->comm, e->comm, sizeof(c->comm));
		proc_info_seen(c->pid, c->comm, sizeof(c->comm));
		if (a->tcp)
			tcpfig_owner(a->tcp, h->cookie, h->pid);
		break;
	}
	case KSPAN_EV_CONNS_FIRST ... KSPAN_EV_CONNS_LAST:
		if (a->tcp)
			tcpfig_record(a->tcp, data, size);
		break;
	case KSPAN_EV_INJECT: {
		const struct kspan_inject_event *e = data;

		if (size < sizeof(*e)) {
			a->st.bad_records++;
			return 0;
		}
		/* Comes before the write that carries the request. */
		c = conn_get(a->conns, h->cookie, h->pid, h->ts_exit);
		if (!c)
			break;
		if (!c->used) {
			c->used = true;
			c->role = KSPAN_ROLE_CLIENT;
		}
		if (c->proto == CONN_PROTO_UNKNOWN) {
			c->proto = CONN_PROTO_HTTP1;
			h1_session_init(&c->h1);
		}
		if (c->proto == CONN_PROTO_HTTP1)
			h1_session_injected(a->h1, &c->h1, &e->ctx);
		break;
	}
	case KSPAN_EV_CLOSE:
		if (size < sizeof(struct kspan_conn_event)) {
			a->st.bad_records++;
			return 0;
		}
		c = conn_lookup(a->conns, h->cookie, h->pid);
		if (c)
			conn_remove(a->conns, c);
		break;
	default:
		a->st.bad_records++;
		break;
	}
	return 0;
}
