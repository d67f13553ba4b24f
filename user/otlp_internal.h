/* SPDX-License-Identifier: Apache-2.0 */
/* Pieces of the OTLP exporter shared by its files and the unit tests. */
#ifndef __KSPAN_OTLP_INTERNAL_H
#define __KSPAN_OTLP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlp.h"
#include "selfstats.h"
#include "span.h"
#include "tcpmetrics.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue OtlpKeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue OtlpAnyValue;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope OtlpScope;
typedef Opentelemetry__Proto__Resource__V1__Resource OtlpResource;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans OtlpResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans OtlpScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span OtlpSpan;
typedef Opentelemetry__Proto__Trace__V1__Status OtlpStatus;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest OtlpTraceReq;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse OtlpTraceResp;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics OtlpResourceMetrics;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics OtlpScopeMetrics;
typedef Opentelemetry__Proto__Metrics__V1__Metric OtlpMetric;
typedef Opentelemetry__Proto__Metrics__V1__Histogram OtlpHistogram;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint OtlpHistPoint;
typedef Opentelemetry__Proto__Metrics__V1__Sum OtlpSum;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint OtlpNumberPoint;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest OtlpMetricsReq;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse OtlpMetricsResp;

/* Span.flags bits beyond the W3C trace flags. */
#define OTLP_FLAG_HAS_IS_REMOTE	0x100
#define OTLP_FLAG_IS_REMOTE	0x200

/* Bump allocator for the messages of one request; freed whole, or reset
 * for the next request, which then reuses the chunks (no page faults per
 * request in the export thread). */
struct otlp_arena {
	struct otlp_chunk *head;	/* in use, newest first */
	struct otlp_chunk *spare;	/* the previous request's, to reuse */
	size_t used;		/* bytes in the head chunk */
	size_t cap;		/* bytes of the head chunk */
	bool failed;		/* an allocation failed */
};

/* size bytes, aligned, not cleared. */
void *otlp_arena_take(struct otlp_arena *a, size_t size);
void *otlp_arena_alloc(struct otlp_arena *a, size_t size);
char *otlp_arena_strdup(struct otlp_arena *a, const char *s, size_t len);
/* Copy s[0..len) as valid UTF-8 (each bad byte becomes U+FFFD), NUL ended;
 * its length in *outlen unless NULL. */
char *otlp_arena_utf8(struct otlp_arena *a, const char *s, size_t len, size_t *outlen);
/* Everything taken is given back; the chunks this request used are kept
 * for the next, any older ones freed. */
void otlp_arena_reset(struct otlp_arena *a);
void otlp_arena_free(struct otlp_arena *a);

/* Valid UTF-8 of s[0..len) into dst (at most dstsz - 1 bytes, never a cut
 * character, NUL ended); returns strlen(dst). */
size_t otlp_utf8_copy(char *dst, size_t dstsz, const char *s, size_t len);

/* The immutable resource of one traced process, shared by reference between
 * the caller's thread (which makes it) and the export thread. */
struct otlp_resource {
	int refs;			/* atomic */
	uint32_t pid;
	char key_service[128];		/* what it was made from, to notice a */
	char key_exe[256];		/* change after exec */
	char key_cmd[512];
	OtlpResource pb;		/* attributes point into the block */
	size_t nattrs;
};

struct proc_info;
/* Collects the attributes of pid (see the resource list in README) and makes
 * the resource with one reference. proc_root is "/proc" but for tests. */
struct otlp_resource *otlp_resource_new(const char *proc_root, uint32_t pid,
					const struct proc_info *pi, const char *host,
					const struct otlp_kv *extra, size_t nextra);
/* The resource of kspan itself, for its own metrics. */
struct otlp_resource *otlp_resource_self(const struct proc_info *pi, const char *host,
					 const struct otlp_kv *extra, size_t nextra);
void otlp_resource_get(struct otlp_resource *r);
void otlp_resource_put(struct otlp_resource *r);
const char *otlp_resource_attr(const struct otlp_resource *r, const char *key);

/* Container id (64 hex digits) from the text of /proc/PID/cgroup. */
bool otlp_cgroup_container_id(const char *buf, size_t len, char out[65]);
/* Kubernetes pod uid from the same text (kubepods...pod<uid>). */
bool otlp_cgroup_pod_uid(const char *buf, size_t len, char out[37]);

/* A span built for a request: its resource, its place in the batch, and
 * at most how many bytes it packs to inside its ScopeSpans. */
struct otlp_built {
	struct otlp_resource *res;
	OtlpSpan *span;
	size_t seq;
	size_t bound;
};

/* The Span message of s in the arena, holding nothing of s (which may be
 * reused at once); NULL when out of memory. *bound: at most how many bytes
 * it packs to as an element of ScopeSpans.spans. */
OtlpSpan *otlp_build_span(struct otlp_arena *a, const struct span *s, size_t *bound);
/* The request for b[0..n), grouped by resource in batch order (b is
 * sorted); NULL when out of memory. *bound (unless NULL): at most how many
 * bytes protobuf_c_message_pack() writes for it, from the spans' bounds. */
OtlpTraceReq *otlp_group_traces(struct otlp_arena *a, struct otlp_built *b, size_t n,
				size_t *bound);
const OtlpScope *otlp_scope(void);

/* OTLP/JSON of a message (protobuf JSON mapping with OTLP's exceptions: ids
 * in hex, enums as numbers, 64-bit integers as strings). malloc'd, NUL
 * ended; NULL when out of memory. */
char *otlp_json_encode(const ProtobufCMessage *m, size_t *len);

/* gzip of buf; malloc'd, NULL on failure. */
uint8_t *otlp_gzip(const uint8_t *buf, size_t len, size_t *outlen);
/* Inflate a gzip or zlib stream; malloc'd, at most max bytes. */
uint8_t *otlp_gunzip(const uint8_t *buf, size_t len, size_t max, size_t *outlen);

/* Response parsing: all take (buf, len) and never read past it. */
/* One gRPC length-prefixed message: bytes consumed, -2 partial, -1 bad. */
int otlp_grpc_frame(const uint8_t *buf, size_t len, bool *compressed,
		    const uint8_t **msg, size_t *msglen);
/* partial_success of an export response body: 1 and the fields when there
 * is one with something in it, 0 when none, -1 when the body is not a
 * response of that signal in that encoding. */
int otlp_partial_success(enum otlp_signal s, bool json, const uint8_t *buf, size_t len,
			 int64_t *rejected, char *msg, size_t msgsz);
/* The message of a google.rpc.Status body (the error body of OTLP/HTTP and
 * grpc-status-details-bin), and the RetryInfo delay in it, if any.
 * Returns 0 if it decodes. */
int otlp_rpc_status(const uint8_t *buf, size_t len, int32_t *code, char *msg,
		    size_t msgsz, int64_t *retry_ms);
/* Retry-After value (delta-seconds or HTTP-date) as milliseconds from now;
 * -1 if it is neither. */
int64_t otlp_retry_after_ms(const char *v, size_t len, time_t now);
/* A grpc-status value: 0..16, -1 if malformed. */
int otlp_grpc_status(const char *v, size_t len);
/* Percent-decode a grpc-message value into dst (NUL ended). */
size_t otlp_grpc_message(char *dst, size_t dstsz, const char *v, size_t len);
/* Decode base64 (with or without padding, as grpc-*-bin); -1 if bad. */
long otlp_base64_decode(uint8_t *dst, size_t dstsz, const char *s, size_t len);

/* HTTP request duration histograms, aggregated from spans. */
#define OTLP_HIST_BOUNDS 14
extern const double otlp_hist_bounds[OTLP_HIST_BOUNDS];
struct otlp_metrics;
struct otlp_metrics *otlp_metrics_new(uint32_t max_series, uint64_t start_ns);
void otlp_metrics_free(struct otlp_metrics *m);
/* Record one span; false if it is no HTTP span. */
bool otlp_metrics_record(struct otlp_metrics *m, const struct span *s,
			 struct otlp_resource *res);
/* Series in use. */
size_t otlp_metrics_series(const struct otlp_metrics *m);
/* Counters of the exporter itself, and the main loop's snapshot when one
 * was published, sent as kspan's own metrics when self is not NULL. */
struct otlp_self_counters {
	struct otlp_resource *self;
	unsigned long long sent, failed, dropped, rejected, retries;
	unsigned long long queue, queue_capacity;	/* spans waiting, room */
	const struct kspan_self_stats *app;		/* NULL: none yet */
};
/* One TCP metric series with the resource of its process (one reference). */
struct otlp_tcp_series {
	struct tcpm_series s;
	struct otlp_resource *res;
};
/* The request of everything so far (cumulative): the HTTP histograms, the
 * TCP series tcp[0..ntcp) and kspan's own counters. */
OtlpMetricsReq *otlp_metrics_build(struct otlp_metrics *m, struct otlp_arena *a,
				   uint64_t now_ns, const struct otlp_self_counters *self,
				   const struct otlp_tcp_series *tcp, size_t ntcp,
				   size_t *points);

#endif /* __KSPAN_OTLP_INTERNAL_H */
