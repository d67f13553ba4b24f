// SPDX-License-Identifier: Apache-2.0
/* The OTLP exporter: export() copies finished spans into a bounded queue
 * (spanq: only the bytes each span uses; full: the new spans are dropped
 * and counted); a thread of its own sends
 * them in batches, by size and by time, over http/protobuf, http/json or
 * gRPC with libcurl, retries what the specification calls transient, and
 * sends the HTTP duration histograms at their interval. A slow or dead
 * collector only ever fills the queue: the caller never waits for it. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "otlp_internal.h"
#include "proc.h"
#include "spanq.h"

#ifndef KSPAN_VERSION
#define KSPAN_VERSION "0.0.0-dev"
#endif

#define OTLP_RCACHE		1024	/* resources cached by pid, direct mapped */
#define OTLP_RESP_MAX		(4u << 20)	/* response bytes kept at most */
#define OTLP_MAX_SERIES		2000	/* metric series (cardinality limit) */
#define OTLP_LOG_GAP_NS		1000000000ull
#define OTLP_TRIM_GAP_NS	1000000000ull	/* queue memory given back */

enum otlp_outcome {
	OTLP_OK,
	OTLP_RETRY,
	OTLP_FAIL,
};

struct otlp_rcache {
	uint32_t pid;
	uint64_t gen;			/* export() call it was checked in */
	struct otlp_resource *res;
};

struct otlp_resp {
	uint8_t *body;
	size_t len;
	long http;
	int grpc_status;		/* -1: none */
	char grpc_message[256];
	int64_t retry_after_ms;		/* -1: none */
	int64_t grpc_retry_ms;		/* RetryInfo in grpc-status-details-bin */
	bool grpc_gzip;			/* grpc-encoding: gzip */
};

struct otlp_exp {
	struct exporter base;
	struct otlp_config cfg;
	struct otlp_target tgt[OTLP_SIGNALS];

	pthread_mutex_t mu;
	pthread_cond_t wake;		/* the export thread waits here */
	pthread_cond_t idle;		/* flush() waits here */
	pthread_cond_t room;		/* export() waits here when closing */
	struct spanq q;
	uint32_t inflight;		/* the oldest spans, being sent */
	bool stop;
	uint64_t flush_gen, flushed_gen;
	uint64_t deadline_ns;		/* CLOCK_MONOTONIC; 0: none */
	uint64_t close_by;		/* closing: export() waits for room until
					 * then, flush() sends until then; 0: not
					 * closing */
	struct otlp_stats st;

	/* The caller's thread only. */
	struct otlp_rcache rcache[OTLP_RCACHE];
	uint64_t gen;
	uint64_t tcp_gen;		/* tcpm generation last published */
	bool tcp_nomem;			/* no room for the series: not sent */
	struct otlp_resource **tcp_res;	/* scratch: resources of the series */

	/* What the caller's thread published (under mu), and the export
	 * thread's copy of it: swapped, never shared. */
	struct otlp_tcp_series *tcp_pub, *tcp_cur;
	size_t ntcp_pub, ntcp_cur, tcp_cap;
	struct kspan_self_stats app_pub;
	bool app_valid;
	bool tcp_fresh;			/* tcp_pub is newer than tcp_cur */
	bool published;			/* news since the last metrics request */

	/* The export thread only. */
	pthread_t thr;
	bool thr_started;
	CURL *curl[OTLP_SIGNALS];
	struct otlp_metrics *metrics;
	struct otlp_resource *self;
	struct otlp_arena arena;	/* a trace request's, reset after each */
	uint64_t last_trim_ns;		/* memory last given back */
	bool trim_due;			/* the queue emptied since then */
	uint64_t next_metrics_ns;
	uint64_t last_batch_ns;
	uint64_t rng;
	uint64_t last_log_ns;
	unsigned long long log_suppressed;
};

static uint64_t otlp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void otlp_abstime(struct timespec *ts, uint64_t mono_ns)
{
	ts->tv_sec = mono_ns / 1000000000ull;
	ts->tv_nsec = mono_ns % 1000000000ull;
}

/* Rate-limited log line: at most one a second, the rest counted. */
static void otlp_log(struct otlp_exp *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void otlp_log(struct otlp_exp *x, const char *fmt, ...)
{
	uint64_t now = otlp_now();
	char msg[1024];
	va_list ap;

	if (x->last_log_ns && now - x->last_log_ns < OTLP_LOG_GAP_NS) {
		x->log_suppressed++;
		return;
	}
	x->last_log_ns = now;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (x->log_suppressed)
		log_warn("otlp: %s (%llu similar messages suppressed)", msg, x->log_suppressed);
	else
		log_warn("otlp: %s", msg);
	x->log_suppressed = 0;
}

/* ---- the caller's side ---- */

static struct otlp_resource *otlp_res_for(struct otlp_exp *x, uint32_t pid)
{
	struct otlp_rcache *e = &x->rcache[pid % OTLP_RCACHE];
	const struct proc_info *pi;
	struct otlp_resource *r;

	if (e->res && e->pid == pid && e->gen == x->gen)
		return e->res;
	pi = proc_info_get(pid);
	/* Same facts as when it was made (the process did not exec). */
	if (e->res && e->pid == pid && !strcmp(e->res->key_service, pi->service_name) &&
	    !strcmp(e->res->key_exe, pi->exe_path) && !strcmp(e->res->key_cmd, pi->command_line)) {
		e->gen = x->gen;
		return e->res;
	}
	r = otlp_resource_new("/proc", pid, pi, proc_host_name(), x->cfg.resource,
			      x->cfg.nresource);
	if (!r)
		return e->res && e->pid == pid ? e->res : NULL;
	otlp_resource_put(e->res);
	e->res = r;
	e->pid = pid;
	e->gen = x->gen;
	return r;
}

static int otlp_export(struct exporter *e, const struct span *const *spans, size_t n)
{
	struct otlp_exp *x = (struct otlp_exp *)e;
	struct otlp_resource *res[64];
	size_t done = 0;

	x->gen++;
	while (done < n) {
		size_t m = n - done < 64 ? n - done : 64;

		/* /proc is read here, on the caller's thread, outside the lock. */
		for (size_t i = 0; i < m; i++)
			res[i] = otlp_res_for(x, spans[done + i]->pid);
		pthread_mutex_lock(&x->mu);
		for (size_t i = 0; i < m; i++) {
			x->st.received++;
			/* Closing: what the trace buffer hands over at exit
			 * waits for the queue to make room (the thread sends
			 * full batches at once), until the shutdown timeout. */
			while (x->q.count >= x->q.max && x->close_by && !x->stop &&
			       otlp_now() < x->close_by) {
				struct timespec ts;

				otlp_abstime(&ts, x->close_by);
				pthread_cond_timedwait(&x->room, &x->mu, &ts);
			}
			if (x->stop || !spanq_push(&x->q, spans[done + i], res[i])) {
				x->st.dropped++;
				continue;
			}
			otlp_resource_get(res[i]);
		}
		if (x->q.count > x->st.queue_max)
			x->st.queue_max = x->q.count;
		if (x->q.count - x->inflight >= x->cfg.batch_size)
			pthread_cond_signal(&x->wake);
		pthread_mutex_unlock(&x->mu);
		done += m;
	}
	return 0;
}

void otlp_exporter_publish(struct exporter *e, const struct tcpm *tcp,
			   const struct kspan_self_stats *app)
{
	struct otlp_exp *x = (struct otlp_exp *)e;
	const struct tcpm_series *series = NULL;
	size_t n = 0;

	if (!x->metrics)
		return;
	if (tcp && x->tcp_nomem)
		tcp = NULL;
	if (tcp && tcpm_generation(tcp) != x->tcp_gen) {
		if (!x->tcp_cap) {
			size_t cap = tcpm_capacity(tcp);

			x->tcp_pub = calloc(cap, sizeof(*x->tcp_pub));
			x->tcp_cur = calloc(cap, sizeof(*x->tcp_cur));
			x->tcp_res = calloc(cap, sizeof(*x->tcp_res));
			if (!x->tcp_pub || !x->tcp_cur || !x->tcp_res) {
				free(x->tcp_pub);
				free(x->tcp_cur);
				free(x->tcp_res);
				x->tcp_pub = x->tcp_cur = NULL;
				x->tcp_res = NULL;
				log_warn("otlp: failed to allocate room for %zu TCP "
					 "metric series: out of memory; TCP metrics are not sent",
					 cap);
				x->tcp_nomem = true;
				tcp = NULL;
			} else {
				x->tcp_cap = cap;
			}
		}
		if (tcp) {
			series = tcpm_series(tcp, &n);
			if (n > x->tcp_cap)
				n = x->tcp_cap;
			/* /proc is read here, outside the lock, as in export(). */
			x->gen++;
			for (size_t i = 0; i < n; i++)
				x->tcp_res[i] = otlp_res_for(x, series[i].key.pid);
			x->tcp_gen = tcpm_generation(tcp);
		}
	}
	pthread_mutex_lock(&x->mu);
	if (series) {
		size_t k = 0;

		for (size_t i = 0; i < x->ntcp_pub; i++)
			otlp_resource_put(x->tcp_pub[i].res);
		for (size_t i = 0; i < n; i++) {
			if (!x->tcp_res[i])
				continue;
			x->tcp_pub[k].s = series[i];
			x->tcp_pub[k].res = x->tcp_res[i];
			otlp_resource_get(x->tcp_res[i]);
			k++;
		}
		x->ntcp_pub = k;
		x->tcp_fresh = true;
		x->published = true;
	}
	if (app) {
		x->app_pub = *app;
		x->app_valid = true;
		x->published = true;
	}
	pthread_mutex_unlock(&x->mu);
}

/* ---- transport ---- */

static size_t otlp_write_cb(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct otlp_resp *r = ctx;
	size_t n = size * nmemb, take = n;
	uint8_t *nb;

	if (r->len + take > OTLP_RESP_MAX)
		take = OTLP_RESP_MAX - r->len;
	if (!take)
		return n;
	nb = realloc(r->body, r->len + take);
	if (!nb)
		return n;
	r->body = nb;
	memcpy(r->body + r->len, p, take);
	r->len += take;
	return n;
}

static bool otlp_hdr_is(const char *h, size_t n, const char *name, const char **v,
			size_t *vlen)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(h, name, k) || h[k] != ':')
		return false;
	*v = h + k + 1;
	*vlen = n - k - 1;
	while (*vlen && (**v == ' ' || **v == '\t')) {
		(*v)++;
		(*vlen)--;
	}
	while (*vlen && ((*v)[*vlen - 1] == '\r' || (*v)[*vlen - 1] == '\n' ||
			 (*v)[*vlen - 1] == ' '))
		(*vlen)--;
	return true;
}

/* Headers and, for HTTP/2, trailers (libcurl hands both to this callback). */
static size_t otlp_header_cb(char *h, size_t size, size_t nmemb, void *ctx)
{
	struct otlp_resp *r = ctx;
	size_t n = size * nmemb, vlen;
	const char *v;

	if (n >= 5 && strncmp(h, "HTTP/", 5) == 0) {
		/* A new response head (after a 1xx): forget the last one. */
		r->retry_after_ms = -1;
		r->grpc_status = -1;
		r->grpc_message[0] = '\0';
	} else if (otlp_hdr_is(h, n, "retry-after", &v, &vlen)) {
		r->retry_after_ms = otlp_retry_after_ms(v, vlen, time(NULL));
	} else if (otlp_hdr_is(h, n, "grpc-status", &v, &vlen)) {
		r->grpc_status = otlp_grpc_status(v, vlen);
		if (r->grpc_status < 0)
			r->grpc_status = 2;	/* UNKNOWN */
	} else if (otlp_hdr_is(h, n, "grpc-message", &v, &vlen)) {
		otlp_grpc_message(r->grpc_message, sizeof(r->grpc_message), v, vlen);
	} else if (otlp_hdr_is(h, n, "grpc-encoding", &v, &vlen)) {
		r->grpc_gzip = vlen == 4 && strncasecmp(v, "gzip", 4) == 0;
	} else if (otlp_hdr_is(h, n, "grpc-status-details-bin", &v, &vlen)) {
		uint8_t bin[2048];
		long blen = otlp_base64_decode(bin, sizeof(bin), v, vlen);
		int64_t retry;
		int32_t code;

		if (blen > 0 && !otlp_rpc_status(bin, blen, &code, NULL, 0, &retry))
			r->grpc_retry_ms = retry;
	}
	return n;
}

static int otlp_progress_cb(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut,
			    curl_off_t un)
{
	struct otlp_exp *x = ctx;
	uint64_t deadline;

	(void)dt; (void)dn; (void)ut; (void)un;
	deadline = __atomic_load_n(&x->deadline_ns, __ATOMIC_RELAXED);
	/* Past the shutdown deadline: abandon the transfer. */
	return deadline && otlp_now() >= deadline;
}

static bool otlp_curl_transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* gRPC codes the OTLP specification retries (RESOURCE_EXHAUSTED only with
 * RetryInfo). */
static bool otlp_grpc_transient(int code, bool has_retry_info)
{
	switch (code) {
	case 1:		/* CANCELLED */
	case 4:		/* DEADLINE_EXCEEDED */
	case 10:	/* ABORTED */
	case 11:	/* OUT_OF_RANGE */
	case 14:	/* UNAVAILABLE */
	case 15:	/* DATA_LOSS */
		return true;
	case 8:		/* RESOURCE_EXHAUSTED */
		return has_retry_info;
	default:
		return false;
	}
}

struct otlp_attempt {
	enum otlp_outcome outcome;
	int64_t retry_ms;		/* server's hint, -1: none */
	int64_t rejected;		/* partial_success */
	char why[320];
};

static bool otlp_http_transient(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

/* Describe a non-2xx body: a google.rpc.Status, or its first line. */
static void otlp_body_why(const struct otlp_resp *r, bool json, char *dst, size_t dstsz)
{
	char msg[200];
	int64_t retry;
	int32_t code;

	if (!r->len) {
		dst[0] = '\0';
		return;
	}
	if (!json && !otlp_rpc_status(r->body, r->len, &code, msg, sizeof(msg), &retry) &&
	    msg[0]) {
		snprintf(dst, dstsz, ": %s", msg);
		return;
	}
	{
		size_t n = strcspn((const char *)r->body, "\r\n");
		char tmp[160];

		if (n > r->len)
			n = r->len;
		otlp_utf8_copy(tmp, sizeof(tmp), (const char *)r->body, n);
		snprintf(dst, dstsz, ": %s", tmp);
	}
}

static void otlp_attempt_once(struct otlp_exp *x, enum otlp_signal sig, const uint8_t *body,
			      size_t len, bool gzip, struct otlp_attempt *a)
{
	const struct otlp_target *t = &x->tgt[sig];
	bool grpc = t->protocol == OTLP_PROTO_GRPC;
	bool json = t->protocol == OTLP_PROTO_HTTP_JSON;
	struct otlp_resp r = { .grpc_status = -1, .retry_after_ms = -1, .grpc_retry_ms = -1 };
	struct curl_slist *hl = NULL;
	char hbuf[OTLP_HNAME_MAX + OTLP_HVALUE_MAX + 4];
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *c = x->curl[sig];
	CURLcode cc;

	memset(a, 0, sizeof(*a));
	a->retry_ms = -1;
	if (!c) {
		c = x->curl[sig] = curl_easy_init();
		if (!c) {
			a->outcome = OTLP_FAIL;
			snprintf(a->why, sizeof(a->why), "failed to start libcurl");
			return;
		}
	}
	curl_easy_reset(c);
	if (grpc) {
		hl = curl_slist_append(hl, "Content-Type: application/grpc");
		hl = curl_slist_append(hl, "TE: trailers");
		snprintf(hbuf, sizeof(hbuf), "grpc-timeout: %um", t->timeout_ms);
		hl = curl_slist_append(hl, hbuf);
		hl = curl_slist_append(hl, "grpc-accept-encoding: identity,gzip");
		if (gzip)
			hl = curl_slist_append(hl, "grpc-encoding: gzip");
	} else {
		hl = curl_slist_append(hl, json ? "Content-Type: application/json"
					       : "Content-Type: application/x-protobuf");
		if (gzip)
			hl = curl_slist_append(hl, "Content-Encoding: gzip");
	}
	hl = curl_slist_append(hl, "Expect:");
	for (uint32_t i = 0; i < t->nheaders; i++) {
		snprintf(hbuf, sizeof(hbuf), "%s: %s", t->headers[i].name, t->headers[i].value);
		hl = curl_slist_append(hl, hbuf);
	}
	curl_easy_setopt(c, CURLOPT_URL, t->url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kspan/" KSPAN_VERSION);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, otlp_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, otlp_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, otlp_progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (grpc) {
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION, strncasecmp(t->url, "https:", 6) ?
				 (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE :
				 (long)CURL_HTTP_VERSION_2TLS);
		/* libcurl 7.88 (bookworm) fails the second request on a reused
		 * HTTP/2 connection ("Error in the HTTP2 framing layer"): one
		 * connection per export request. */
		curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	} else {
		/* OTLP/HTTP over HTTP/1.1 keep-alive, for the same reason. */
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	}
	if (t->certificate)
		curl_easy_setopt(c, CURLOPT_CAINFO, t->certificate);
	if (t->client_cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, t->client_cert);
	if (t->client_key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, t->client_key);

	cc = curl_easy_perform(c);
	curl_slist_free_all(hl);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.http);

	if (cc != CURLE_OK) {
		a->outcome = cc == CURLE_ABORTED_BY_CALLBACK ? OTLP_FAIL :
			     otlp_curl_transient(cc) ? OTLP_RETRY : OTLP_FAIL;
		snprintf(a->why, sizeof(a->why), "%s",
			 cc == CURLE_ABORTED_BY_CALLBACK ? "abandoned at the shutdown deadline" :
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	if (grpc) {
		int code = r.grpc_status;
		const uint8_t *msg;
		size_t msglen;
		bool compressed;

		if (code < 0) {
			/* No gRPC status: map HTTP as gRPC does. */
			code = r.http == 200 ? 2 : otlp_http_transient(r.http) ? 14 : 2;
			snprintf(a->why, sizeof(a->why), "HTTP %ld without grpc-status", r.http);
			a->retry_ms = r.retry_after_ms;
		} else if (code) {
			snprintf(a->why, sizeof(a->why), "grpc-status %d%s%s", code,
				 r.grpc_message[0] ? ": " : "", r.grpc_message);
			a->retry_ms = r.grpc_retry_ms;
		}
		if (code) {
			a->outcome = otlp_grpc_transient(code, r.grpc_retry_ms >= 0) ? OTLP_RETRY
										    : OTLP_FAIL;
			goto out;
		}
		a->outcome = OTLP_OK;
		if (otlp_grpc_frame(r.body, r.len, &compressed, &msg, &msglen) > 0) {
			uint8_t *plain = NULL;
			size_t plen = 0;

			if (compressed)
				plain = otlp_gunzip(msg, msglen, OTLP_RESP_MAX, &plen);
			if (!compressed || plain)
				otlp_partial_success(sig, false, plain ? plain : msg,
						     plain ? plen : msglen, &a->rejected,
						     a->why, sizeof(a->why));
			free(plain);
		}
		goto out;
	}
	if (r.http >= 200 && r.http < 300) {
		a->outcome = OTLP_OK;
		if (otlp_partial_success(sig, json, r.body, r.len, &a->rejected, a->why,
					 sizeof(a->why)) < 0)
			a->why[0] = '\0';
		goto out;
	}
	{
		char body_why[220];

		otlp_body_why(&r, json, body_why, sizeof(body_why));
		snprintf(a->why, sizeof(a->why), "HTTP %ld%s", r.http, body_why);
	}
	if (otlp_http_transient(r.http)) {
		a->outcome = OTLP_RETRY;
		a->retry_ms = r.retry_after_ms;
	} else {
		a->outcome = OTLP_FAIL;
	}
out:
	/* After a failure the next attempt starts on a new connection: an
	 * HTTP/2 connection that carried an error (RST_STREAM, GOAWAY) can be
	 * unusable although libcurl would reuse it. */
	if (a->outcome != OTLP_OK) {
		curl_easy_cleanup(c);
		x->curl[sig] = NULL;
	}
	free(r.body);
}

/* Wait until mono time 'until' unless the shutdown deadline comes first;
 * false if it does. Called with x->mu unlocked. */
static bool otlp_sleep_until(struct otlp_exp *x, uint64_t until)
{
	struct timespec ts;
	bool ok = true;

	pthread_mutex_lock(&x->mu);
	for (;;) {
		uint64_t now = otlp_now();

		if (x->deadline_ns && until > x->deadline_ns) {
			ok = false;
			break;
		}
		if (now >= until)
			break;
		otlp_abstime(&ts, until);
		pthread_cond_timedwait(&x->wake, &x->mu, &ts);
	}
	pthread_mutex_unlock(&x->mu);
	return ok;
}

static uint64_t otlp_rand(struct otlp_exp *x)
{
	/* xorshift64* */
	x->rng ^= x->rng >> 12;
	x->rng ^= x->rng << 25;
	x->rng ^= x->rng >> 27;
	return x->rng * 2685821657736338717ull;
}

/* Send one request with retries. Returns the outcome; *rejected is the
 * partial_success count of an accepted request. */
static enum otlp_outcome otlp_send(struct otlp_exp *x, enum otlp_signal sig,
				   const uint8_t *body, size_t len, bool gzip, size_t n,
				   uint32_t budget_ms, int64_t *rejected)
{
	const struct otlp_target *t = &x->tgt[sig];
	uint64_t start = otlp_now(), backoff = x->cfg.retry_initial_ms;
	const char *what = sig == OTLP_TRACES ? "spans" : "data points";
	struct otlp_attempt a;

	*rejected = 0;
	for (unsigned attempt = 0;; attempt++) {
		uint64_t delay_ms, now;

		pthread_mutex_lock(&x->mu);
		if (sig == OTLP_TRACES)
			x->st.requests++;
		else
			x->st.metric_requests++;
		if (attempt && sig == OTLP_TRACES)
			x->st.retries++;
		pthread_mutex_unlock(&x->mu);

		otlp_attempt_once(x, sig, body, len, gzip, &a);
		if (a.outcome == OTLP_OK) {
			if (a.rejected || a.why[0]) {
				otlp_log(x, "%s: the collector rejected %" PRId64 " of %zu %s "
					 "(partial success%s%s); not retrying", t->url,
					 a.rejected, n, what, a.why[0] ? ": " : "", a.why);
				*rejected = a.rejected < 0 ? 0 :
					    (size_t)a.rejected > n ? (int64_t)n : a.rejected;
			}
			return OTLP_OK;
		}
		if (a.outcome == OTLP_FAIL) {
			otlp_log(x, "failed to export %zu %s to %s (%s): %s; not retrying (fix "
				 "the collector endpoint or settings)", n, what, t->url,
				 otlp_protocol_name(t->protocol), a.why);
			return OTLP_FAIL;
		}
		if (a.retry_ms >= 0) {
			delay_ms = a.retry_ms;
		} else {
			/* Exponential backoff with jitter: [b/2, 3b/2). */
			delay_ms = backoff / 2 + otlp_rand(x) % (backoff ? backoff : 1);
			backoff = backoff * 2 > x->cfg.retry_max_backoff_ms ?
				  x->cfg.retry_max_backoff_ms : backoff * 2;
		}
		now = otlp_now();
		if ((now - start) / 1000000 + delay_ms > budget_ms) {
			otlp_log(x, "failed to export %zu %s to %s: %s; giving up after %u "
				 "attempts (the retry window of %u ms would be exceeded)",
				 n, what, t->url, a.why, attempt + 1, budget_ms);
			return OTLP_FAIL;
		}
		otlp_log(x, "export of %zu %s to %s: %s; retrying in %" PRIu64 " ms", n, what,
			 t->url, a.why, delay_ms);
		if (!otlp_sleep_until(x, now + delay_ms * 1000000ull)) {
			otlp_log(x, "failed to export %zu %s to %s: %s; no time left before "
				 "the shutdown deadline", n, what, t->url, a.why);
			return OTLP_FAIL;
		}
	}
}

/* Pack (protobuf or JSON), compress and frame a request body. A protobuf
 * body is packed in a, into bound bytes (0: measured first). *owned: the
 * body is malloc'd (the caller frees it), not in a. */
static uint8_t *otlp_body(const struct otlp_target *t, const ProtobufCMessage *m,
			  struct otlp_arena *a, size_t bound, size_t *len, bool *gzip,
			  bool *owned)
{
	size_t n = 0, zn = 0;
	uint8_t *raw, *z, *out;
	bool mine = true;

	*gzip = false;
	*owned = false;
	if (t->protocol == OTLP_PROTO_HTTP_JSON) {
		raw = (uint8_t *)otlp_json_encode(m, &n);
	} else {
		if (!bound)
			bound = protobuf_c_message_get_packed_size(m);
		raw = otlp_arena_take(a, bound ? bound : 1);
		mine = false;
		if (raw)
			n = protobuf_c_message_pack(m, raw);
		if (n > bound) {
			/* Past the buffer already: memory is not to be trusted. */
			log_error("bug: an OTLP request packed to %zu bytes, over its bound of %zu",
				  n, bound);
			abort();
		}
	}
	if (!raw)
		return NULL;
	if (t->compression == OTLP_COMPRESS_GZIP) {
		z = otlp_gzip(raw, n, &zn);
		if (z) {
			if (mine)
				free(raw);
			raw = z;
			mine = true;
			n = zn;
			*gzip = true;
		}
	}
	if (t->protocol != OTLP_PROTO_GRPC) {
		*len = n;
		*owned = mine;
		return raw;
	}
	out = malloc(n + 5);
	if (out) {
		out[0] = *gzip;
		out[1] = n >> 24;
		out[2] = n >> 16;
		out[3] = n >> 8;
		out[4] = n;
		memcpy(out + 5, raw, n);
		*len = n + 5;
		*owned = true;
	}
	if (mine)
		free(raw);
	return out;
}

/* Send the n oldest spans (being sent: not under x->mu). Each is unpacked
 * into sp in turn, recorded for the duration metrics and built. Returns
 * whether the metrics changed. */
static bool otlp_send_traces(struct otlp_exp *x, uint32_t n, struct span *sp,
			     struct otlp_built *built)
{
	const struct otlp_target *t = &x->tgt[OTLP_TRACES];
	struct otlp_arena *a = &x->arena;
	enum otlp_outcome o = OTLP_FAIL;
	int64_t rejected = 0;
	OtlpTraceReq *req = NULL;
	uint8_t *body = NULL;
	bool gzip, owned = false, dirty = false;
	size_t len = 0, bound = 0;
	uint32_t i;

	for (i = 0; i < n; i++) {
		const struct spanq_ent *e = spanq_at(&x->q, i);

		spanq_span(&x->q, e, sp);
		if (x->metrics)
			dirty |= otlp_metrics_record(x->metrics, sp, e->tag);
		built[i] = (struct otlp_built){ .res = e->tag, .seq = i };
		built[i].span = otlp_build_span(a, sp, &built[i].bound);
		if (!built[i].span)
			break;
	}
	if (i == n)
		req = otlp_group_traces(a, built, n, &bound);
	if (req)
		body = otlp_body(t, &req->base, a, bound, &len, &gzip, &owned);
	if (body)
		o = otlp_send(x, OTLP_TRACES, body, len, gzip, n, x->cfg.retry_max_elapsed_ms,
			      &rejected);
	else
		otlp_log(x, "failed to encode %u spans: out of memory", n);
	if (owned)
		free(body);
	otlp_arena_reset(a);

	pthread_mutex_lock(&x->mu);
	if (o == OTLP_OK) {
		x->st.sent += n - rejected;
		x->st.rejected += rejected;
	} else {
		x->st.failed += n;
	}
	pthread_mutex_unlock(&x->mu);
	return dirty;
}

static uint64_t otlp_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void otlp_send_metrics(struct otlp_exp *x)
{
	const struct otlp_target *t = &x->tgt[OTLP_METRICS];
	struct otlp_self_counters self = { .self = x->self };
	struct otlp_arena a = {};
	enum otlp_outcome o = OTLP_FAIL;
	OtlpMetricsReq *req;
	uint8_t *body = NULL;
	size_t len = 0, points = 0;
	int64_t rejected = 0;
	struct kspan_self_stats app;
	uint32_t budget;
	bool gzip, owned = false;

	pthread_mutex_lock(&x->mu);
	self.sent = x->st.sent;
	self.failed = x->st.failed;
	self.dropped = x->st.dropped;
	self.rejected = x->st.rejected;
	self.retries = x->st.retries;
	self.queue = x->q.count;
	self.queue_capacity = x->q.max;
	if (x->app_valid) {
		app = x->app_pub;
		self.app = &app;
	}
	if (x->tcp_fresh) {
		/* Take the latest TCP series; the caller overwrites the old
		 * copy (and drops its references) next time. */
		struct otlp_tcp_series *tmp = x->tcp_cur;
		size_t ntmp = x->ntcp_cur;

		x->tcp_cur = x->tcp_pub;
		x->ntcp_cur = x->ntcp_pub;
		x->tcp_pub = tmp;
		x->ntcp_pub = ntmp;
		x->tcp_fresh = false;
	}
	x->published = false;
	pthread_mutex_unlock(&x->mu);

	req = otlp_metrics_build(x->metrics, &a, otlp_real_ns(), &self, x->tcp_cur,
				 x->ntcp_cur, &points);
	if (req && req->n_resource_metrics)
		body = otlp_body(t, &req->base, &a, 0, &len, &gzip, &owned);
	budget = x->cfg.metric_timeout_ms < x->cfg.retry_max_elapsed_ms ?
		 x->cfg.metric_timeout_ms : x->cfg.retry_max_elapsed_ms;
	if (body)
		o = otlp_send(x, OTLP_METRICS, body, len, gzip, points, budget, &rejected);
	if (owned)
		free(body);
	otlp_arena_free(&a);
	pthread_mutex_lock(&x->mu);
	if (o == OTLP_OK)
		x->st.metric_points += points - rejected;
	else if (req && req->n_resource_metrics)
		x->st.metric_failed++;
	pthread_mutex_unlock(&x->mu);
}


/* Drop what waits in the queue (not the batch in flight). Under x->mu. */
static void otlp_drop_queued(struct otlp_exp *x)
{
	uint32_t n = x->q.count - x->inflight;

	for (uint32_t i = 0; i < n; i++)
		otlp_resource_put(spanq_at(&x->q, x->inflight + i)->tag);
	spanq_truncate(&x->q, x->inflight);
	x->st.dropped += n;
	pthread_cond_broadcast(&x->room);
}

/* The queue's empty blocks and the request arena's chunks go back to the
 * system (export thread, under x->mu, nothing in flight). */
static void otlp_trim(struct otlp_exp *x, uint64_t now)
{
	spanq_trim(&x->q);
	otlp_arena_free(&x->arena);
	x->last_trim_ns = now;
	x->trim_due = false;
}

static void *otlp_thread(void *arg)
{
	struct otlp_exp *x = arg;
	struct otlp_built *batch = calloc(x->cfg.batch_size, sizeof(*batch));
	struct span *sp = malloc(sizeof(*sp));
	uint64_t interval = (uint64_t)x->cfg.metric_interval_ms * 1000000ull;
	uint64_t delay = (uint64_t)x->cfg.batch_delay_ms * 1000000ull;
	bool metrics_dirty = false;	/* spans recorded since the last send */

	x->last_batch_ns = otlp_now();
	x->next_metrics_ns = x->last_batch_ns + interval;
	pthread_mutex_lock(&x->mu);
	for (;;) {
		uint64_t now = otlp_now(), wake;
		uint32_t avail = x->q.count - x->inflight;
		bool flushing = x->flush_gen != x->flushed_gen || x->stop;
		struct timespec ts;

		if (x->deadline_ns && now >= x->deadline_ns) {
			/* Out of time: what still waits is dropped. */
			otlp_drop_queued(x);
			x->flushed_gen = x->flush_gen;
			pthread_cond_broadcast(&x->idle);
			if (x->stop)
				break;
			otlp_abstime(&ts, now + delay);
			pthread_cond_timedwait(&x->wake, &x->mu, &ts);
			continue;
		}
		if (avail && batch && sp &&
		    (avail >= x->cfg.batch_size || flushing || now - x->last_batch_ns >= delay)) {
			uint32_t n = avail < x->cfg.batch_size ? avail : x->cfg.batch_size;

			x->inflight = n;
			pthread_mutex_unlock(&x->mu);

			metrics_dirty |= otlp_send_traces(x, n, sp, batch);
			x->last_batch_ns = otlp_now();

			pthread_mutex_lock(&x->mu);
			for (uint32_t i = 0; i < n; i++)
				otlp_resource_put(spanq_at(&x->q, i)->tag);
			spanq_pop(&x->q, n);
			x->inflight = 0;
			/* The blocks of a burst, and the chunks its requests
			 * were built in, go back, at most once a second: here,
			 * or once the queue has emptied, when the thread next
			 * waits (it wakes for it). Not at every batch that
			 * empties the queue: under steady load that is most of
			 * them, and the blocks were faulted in again at once. */
			x->trim_due |= !x->q.count;
			if (x->last_batch_ns - x->last_trim_ns >= OTLP_TRIM_GAP_NS)
				otlp_trim(x, x->last_batch_ns);
			pthread_cond_broadcast(&x->room);
			continue;
		}
		if (!avail)
			x->last_batch_ns = now;
		if (x->metrics &&
		    (now >= x->next_metrics_ns || (flushing && (metrics_dirty || x->published)))) {
			metrics_dirty = false;
			pthread_mutex_unlock(&x->mu);
			otlp_send_metrics(x);
			x->next_metrics_ns = otlp_now() + interval;
			pthread_mutex_lock(&x->mu);
			continue;
		}
		if (flushing) {
			/* Everything queued before the flush has been sent. */
			x->flushed_gen = x->flush_gen;
			pthread_cond_broadcast(&x->idle);
			if (x->stop)
				break;
		}
		wake = x->last_batch_ns + delay;
		if (x->metrics && x->next_metrics_ns < wake)
			wake = x->next_metrics_ns;
		if (x->trim_due && !x->q.count) {
			if (now - x->last_trim_ns >= OTLP_TRIM_GAP_NS)
				otlp_trim(x, now);
			else if (x->last_trim_ns + OTLP_TRIM_GAP_NS < wake)
				wake = x->last_trim_ns + OTLP_TRIM_GAP_NS;
		}
		otlp_abstime(&ts, wake);
		pthread_cond_timedwait(&x->wake, &x->mu, &ts);
	}
	pthread_mutex_unlock(&x->mu);
	otlp_arena_free(&x->arena);
	free(batch);
	free(sp);
	return NULL;
}

/* ---- lifecycle ---- */

/* Send everything queued, within the shutdown timeout. */
static int otlp_flush(struct exporter *e)
{
	struct otlp_exp *x = (struct otlp_exp *)e;
	uint64_t gen, deadline = otlp_now() + (uint64_t)x->cfg.shutdown_timeout_ms * 1000000ull;
	struct timespec ts;
	int ret = 0;

	pthread_mutex_lock(&x->mu);
	/* Closing: one shutdown timeout for handing over and sending. */
	if (x->close_by)
		deadline = x->close_by;
	if (!x->thr_started) {
		pthread_mutex_unlock(&x->mu);
		return -1;
	}
	gen = ++x->flush_gen;
	if (!x->deadline_ns || deadline < x->deadline_ns)
		__atomic_store_n(&x->deadline_ns, deadline, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&x->wake);
	/* The thread drops what is left at the deadline; give an abandoned
	 * transfer a moment to notice. */
	otlp_abstime(&ts, deadline + 3000000000ull);
	while (x->flushed_gen < gen) {
		if (pthread_cond_timedwait(&x->idle, &x->mu, &ts) == ETIMEDOUT) {
			ret = -1;
			break;
		}
	}
	/* The deadline held only for this flush, if it was met. */
	if (!x->stop && !ret && otlp_now() < deadline)
		__atomic_store_n(&x->deadline_ns, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&x->mu);
	return ret;
}

static size_t otlp_room(struct exporter *e)
{
	struct otlp_exp *x = (struct otlp_exp *)e;
	size_t room;

	pthread_mutex_lock(&x->mu);
	room = x->stop ? 0 : x->q.max - x->q.count;
	pthread_mutex_unlock(&x->mu);
	return room;
}

/* Exit is near: from now on export() waits for room in a full queue, and
 * what it waits for and the final flush share one shutdown timeout. */
static void otlp_closing(struct exporter *e)
{
	struct otlp_exp *x = (struct otlp_exp *)e;

	pthread_mutex_lock(&x->mu);
	if (x->thr_started && !x->close_by)
		x->close_by = otlp_now() + (uint64_t)x->cfg.shutdown_timeout_ms * 1000000ull;
	pthread_mutex_unlock(&x->mu);
}

static void otlp_destroy(struct exporter *e)
{
	struct otlp_exp *x = (struct otlp_exp *)e;

	pthread_mutex_lock(&x->mu);
	x->stop = true;
	if (!x->deadline_ns)
		__atomic_store_n(&x->deadline_ns, otlp_now() +
				 (uint64_t)x->cfg.shutdown_timeout_ms * 1000000ull,
				 __ATOMIC_RELAXED);
	pthread_cond_broadcast(&x->wake);
	pthread_mutex_unlock(&x->mu);
	if (x->thr_started)
		pthread_join(x->thr, NULL);
	for (int s = 0; s < OTLP_SIGNALS; s++)
		if (x->curl[s])
			curl_easy_cleanup(x->curl[s]);
	for (uint32_t i = 0; i < OTLP_RCACHE; i++)
		otlp_resource_put(x->rcache[i].res);
	for (uint32_t i = 0; i < x->q.count; i++)
		otlp_resource_put(spanq_at(&x->q, i)->tag);
	for (size_t i = 0; i < x->ntcp_pub; i++)
		otlp_resource_put(x->tcp_pub[i].res);
	for (size_t i = 0; i < x->ntcp_cur; i++)
		otlp_resource_put(x->tcp_cur[i].res);
	free(x->tcp_pub);
	free(x->tcp_cur);
	free(x->tcp_res);
	otlp_metrics_free(x->metrics);
	otlp_resource_put(x->self);
	pthread_cond_destroy(&x->wake);
	pthread_cond_destroy(&x->idle);
	pthread_cond_destroy(&x->room);
	pthread_mutex_destroy(&x->mu);
	spanq_free(&x->q);
	free(x);
}

void otlp_exporter_stats(struct exporter *e, struct otlp_stats *st)
{
	struct otlp_exp *x = (struct otlp_exp *)e;

	pthread_mutex_lock(&x->mu);
	*st = x->st;
	st->queue = x->q.count;
	pthread_mutex_unlock(&x->mu);
}

void otlp_exporter_print_counters(struct exporter *e, FILE *f)
{
	struct otlp_stats st;

	otlp_exporter_stats(e, &st);
	log_to(f, KLOG_INFO, "otlp: received=%llu sent=%llu failed=%llu retried=%llu dropped=%llu "
	       "rejected=%llu queue=%llu queue_max=%llu requests=%llu metric_requests=%llu "
	       "metric_failed=%llu metric_points=%llu", st.received, st.sent, st.failed,
	       st.retries, st.dropped, st.rejected, st.queue, st.queue_max, st.requests,
	       st.metric_requests, st.metric_failed, st.metric_points);
}

static void otlp_curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct exporter *otlp_exporter_new(const struct otlp_config *c)
{
	static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
	struct otlp_exp *x;
	pthread_condattr_t ca;

	x = calloc(1, sizeof(*x));
	if (!x)
		goto nomem;
	x->cfg = *c;
	if (!x->cfg.queue_size)
		x->cfg.queue_size = 1;
	if (!x->cfg.batch_size || x->cfg.batch_size > x->cfg.queue_size)
		x->cfg.batch_size = x->cfg.queue_size;
	for (int s = 0; s < OTLP_SIGNALS; s++)
		otlp_config_target(&x->cfg, s, &x->tgt[s], stderr);
	if (spanq_init(&x->q, x->cfg.queue_size))
		goto nomem;
	if (x->cfg.metrics) {
		x->metrics = otlp_metrics_new(OTLP_MAX_SERIES, otlp_real_ns());
		if (!x->metrics)
			goto nomem;
		x->self = otlp_resource_self(proc_info_get(getpid()), proc_host_name(),
					     x->cfg.resource, x->cfg.nresource);
	}
	x->rng = otlp_real_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	if (!x->rng)
		x->rng = 1;
	pthread_once(&curl_once, otlp_curl_init);
	pthread_mutex_init(&x->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->wake, &ca);
	pthread_cond_init(&x->idle, &ca);
	pthread_cond_init(&x->room, &ca);
	pthread_condattr_destroy(&ca);

	x->base.name = "otlp";
	x->base.per_trace = false;
	x->base.export = otlp_export;
	x->base.flush = otlp_flush;
	x->base.closing = otlp_closing;
	x->base.room = otlp_room;
	x->base.destroy = otlp_destroy;
	if (pthread_create(&x->thr, NULL, otlp_thread, x)) {
		log_error("failed to start the OTLP export thread: %s", strerror(errno));
		otlp_destroy(&x->base);
		return NULL;
	}
	x->thr_started = true;
	return &x->base;
nomem:
	log_error("failed to allocate the OTLP export queue of %u spans: out of "
		  "memory (lower --otlp-queue-size)", c->queue_size);
	if (x) {
		otlp_metrics_free(x->metrics);
		spanq_free(&x->q);
		free(x);
	}
	return NULL;
}
