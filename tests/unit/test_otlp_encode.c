// SPDX-License-Identifier: Apache-2.0
/* OTLP encoding and response parsing: spans to protobuf and back through the
 * generated decoder, OTLP/JSON byte for byte, partial_success, gRPC frames,
 * Retry-After, cgroup facts and the duration histograms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "otlp_internal.h"
#include "spanq.h"
#include "proc.h"

/* len bytes that end against a guard page: reading or writing past them
 * faults. */
static uint8_t *guard_end(size_t len, void **map, size_t *maplen)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t n = (len + pg - 1) / pg * pg + pg;
	uint8_t *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + n - pg, pg, PROT_NONE), 0);
	*map = m;
	*maplen = n;
	return m + n - pg - len;
}

/* Input placed against a guard page: reading past len faults. */
static uint8_t *guarded(const void *src, size_t len, void **map, size_t *maplen)
{
	uint8_t *p = guard_end(len, map, maplen);

	memcpy(p, src, len);
	return p;
}

static void make_span(struct span *s, uint32_t pid)
{
	span_init(s);
	for (int i = 0; i < 16; i++)
		s->trace_id[i] = i + 1;
	for (int i = 0; i < 8; i++) {
		s->span_id[i] = 0xa0 + i;
		s->parent_span_id[i] = 0xb0 + i;
	}
	s->trace_flags = 1;
	s->remote_parent = true;
	s->kind = SPAN_KIND_SERVER;
	s->status = SPAN_STATUS_ERROR;
	s->start_ns = 1700000000000000000ull;
	s->end_ns = 1700000000030000000ull;	/* 30 ms */
	s->pid = pid;
	strcpy(s->name, "GET /orders/{id}");
	span_attr_str(s, "http.request.method", "GET", 3);
	span_attr_str(s, "url.path", "/orders/\xff\"7", 11);
	span_attr_int(s, "http.response.status_code", 503);
	span_attr_str(s, "server.address", "127.0.0.1", 9);
	span_attr_int(s, "server.port", 8080);
	span_attr_str(s, "url.scheme", "http", 4);
	span_attr_str(s, "network.protocol.version", "1.1", 3);
	span_attr_str(s, "error.type", "503", 3);
	span_attr_bool(s, "kspan.test", true);
}

static struct otlp_resource *test_resource(uint32_t pid)
{
	struct proc_info pi = { .pid = pid };

	strcpy(pi.service_name, "orders");
	strcpy(pi.exe_name, "python3");
	strcpy(pi.exe_path, "/usr/bin/python3");
	strcpy(pi.command_line, "python3 app.py --token=REDACTED");
	/* No such proc root: no container or pod facts. */
	return otlp_resource_new("/nonexistent", pid, &pi, "node1", NULL, 0);
}

/* A span with the resource of its process, and a request built from such
 * spans the way the export thread builds one: each span, then grouped. */
struct otlp_item {
	struct span span;
	struct otlp_resource *res;
};

static OtlpTraceReq *build_traces_bound(struct otlp_arena *a, struct otlp_item *const *items,
				       size_t n, size_t *bound)
{
	struct otlp_built *b = otlp_arena_alloc(a, n * sizeof(*b));

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		b[i] = (struct otlp_built){ .res = items[i]->res, .seq = i };
		b[i].span = otlp_build_span(a, &items[i]->span, &b[i].bound);
		assert_non_null(b[i].span);
	}
	return otlp_group_traces(a, b, n, bound);
}

static OtlpTraceReq *build_traces(struct otlp_arena *a, struct otlp_item *const *items, size_t n)
{
	return build_traces_bound(a, items, n, NULL);
}

static void test_trace_roundtrip(void **state)
{
	struct otlp_item *items = calloc(3, sizeof(*items));
	struct otlp_item *ptrs[3];
	struct otlp_resource *r1 = test_resource(10), *r2 = test_resource(20);
	struct otlp_arena a = {};
	OtlpTraceReq *req, *back;
	uint8_t *buf;
	size_t len;

	(void)state;
	for (int i = 0; i < 3; i++) {
		make_span(&items[i].span, i == 1 ? 20 : 10);
		items[i].span.span_id[7] = i;
		items[i].res = i == 1 ? r2 : r1;
		ptrs[i] = &items[i];
	}
	req = build_traces(&a, ptrs, 3);
	assert_non_null(req);
	len = protobuf_c_message_get_packed_size(&req->base);
	buf = malloc(len);
	protobuf_c_message_pack(&req->base, buf);
	back = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, len, buf);
	assert_non_null(back);
	/* One ResourceSpans per process, spans in batch order inside. */
	assert_int_equal(back->n_resource_spans, 2);
	for (size_t r = 0; r < 2; r++) {
		OtlpResourceSpans *rs = back->resource_spans[r];
		OtlpSpan *sp = rs->scope_spans[0]->spans[0];
		bool first = rs->resource->attributes[1]->value->int_value == 10;

		assert_string_equal(rs->resource->attributes[0]->key, "service.name");
		assert_string_equal(rs->resource->attributes[0]->value->string_value, "orders");
		assert_string_equal(rs->scope_spans[0]->scope->name, "kspan");
		assert_int_equal(rs->scope_spans[0]->n_spans, first ? 2 : 1);
		if (first)
			assert_int_equal(rs->scope_spans[0]->spans[1]->span_id.data[7], 2);
		assert_int_equal(sp->trace_id.len, 16);
		assert_memory_equal(sp->trace_id.data, items[0].span.trace_id, 16);
		assert_int_equal(sp->parent_span_id.len, 8);
		assert_int_equal(sp->flags, 0x301);
		assert_int_equal(sp->kind, 2);
		assert_int_equal(sp->status->code, 2);
		assert_string_equal(sp->name, "GET /orders/{id}");
		assert_int_equal(sp->start_time_unix_nano, 1700000000000000000ull);
		assert_int_equal(sp->n_attributes, 9);
		/* Invalid UTF-8 becomes U+FFFD: protobuf strings must be UTF-8. */
		assert_string_equal(sp->attributes[1]->value->string_value,
				    "/orders/\xef\xbf\xbd\"7");
		assert_int_equal(sp->attributes[2]->value->int_value, 503);
		assert_true(sp->attributes[8]->value->bool_value);
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		back, NULL);
	free(buf);
	otlp_arena_free(&a);
	otlp_resource_put(r1);
	otlp_resource_put(r2);
	free(items);
}

static void test_json_exact(void **state)
{
	struct otlp_item *item = calloc(1, sizeof(*item));
	struct otlp_item *p = item;
	struct otlp_arena a = {};
	OtlpTraceReq *req;
	char *json;
	size_t len;

	(void)state;
	span_init(&item->span);
	memset(item->span.trace_id, 0xab, 16);
	memset(item->span.span_id, 0x01, 8);
	item->span.kind = SPAN_KIND_CLIENT;
	item->span.start_ns = 5;
	item->span.end_ns = 18446744073709551615ull;
	strcpy(item->span.name, "GET");
	span_attr_str(&item->span, "k", "a\"b\n\x01", 5);
	span_attr_int(&item->span, "n", -3);
	req = build_traces(&a, &p, 1);
	json = otlp_json_encode(&req->base, &len);
	assert_string_equal(json,
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"scope\":{\"name\":\"kspan\","
		"\"version\":\"" KSPAN_VERSION "\"},\"spans\":[{\"traceId\":"
		"\"abababababababababababababababab\",\"spanId\":\"0101010101010101\","
		"\"name\":\"GET\",\"kind\":3,\"startTimeUnixNano\":\"5\","
		"\"endTimeUnixNano\":\"18446744073709551615\",\"attributes\":["
		"{\"key\":\"k\",\"value\":{\"stringValue\":\"a\\\"b\\n\\u0001\"}},"
		"{\"key\":\"n\",\"value\":{\"intValue\":\"-3\"}}],\"flags\":256}]}]}]}");
	assert_int_equal(len, strlen(json));
	free(json);
	otlp_arena_free(&a);
	free(item);
}

static void test_partial_success(void **state)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
	OtlpTraceResp resp =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
	static const char *const json_ok[] = {
		"{}", "", " { \"partialSuccess\" : {} } ", "{\"partialSuccess\":null}",
	};
	static const char json_ps[] =
		"{\"other\":[1,{\"x\":\"}\"}],\"partialSuccess\":{\"rejectedSpans\":\"7\","
		"\"errorMessage\":\"bad \\u00e9\\\"span\\\"\"}}";
	uint8_t buf[128];
	char msg[64];
	int64_t rej;
	size_t len;

	(void)state;
	ps.rejected_spans = 3;
	ps.error_message = "too old";
	resp.partial_success = &ps;
	len = protobuf_c_message_pack(&resp.base, buf);
	assert_int_equal(otlp_partial_success(OTLP_TRACES, false, buf, len, &rej, msg,
					      sizeof(msg)), 1);
	assert_int_equal(rej, 3);
	assert_string_equal(msg, "too old");
	assert_int_equal(otlp_partial_success(OTLP_TRACES, false, buf, 0, &rej, msg,
					      sizeof(msg)), 0);
	for (size_t i = 0; i < sizeof(json_ok) / sizeof(json_ok[0]); i++)
		assert_int_equal(otlp_partial_success(OTLP_TRACES, true,
						      (const uint8_t *)json_ok[i],
						      strlen(json_ok[i]), &rej, msg, sizeof(msg)), 0);
	assert_int_equal(otlp_partial_success(OTLP_TRACES, true, (const uint8_t *)json_ps,
					      strlen(json_ps), &rej, msg, sizeof(msg)), 1);
	assert_int_equal(rej, 7);
	assert_string_equal(msg, "bad \xc3\xa9\"span\"");
	/* Every cut of the JSON against a guard page: no over-read, and no
	 * shorter prefix reads as a whole response. */
	for (size_t n = 0; n < strlen(json_ps); n++) {
		void *map;
		size_t maplen;
		const uint8_t *g = guarded(json_ps, n, &map, &maplen);

		assert_true(otlp_partial_success(OTLP_TRACES, true, g, n, &rej, msg,
						 sizeof(msg)) <= 0);
		munmap(map, maplen);
	}
}

static void test_grpc_frame(void **state)
{
	static const uint8_t f[] = { 0, 0, 0, 0, 3, 'a', 'b', 'c', 0xff };
	const uint8_t *msg;
	size_t msglen;
	bool z;

	(void)state;
	for (size_t n = 0; n < 8; n++) {
		void *map;
		size_t maplen;
		const uint8_t *g = guarded(f, n, &map, &maplen);

		assert_int_equal(otlp_grpc_frame(g, n, &z, &msg, &msglen), -2);
		munmap(map, maplen);
	}
	assert_int_equal(otlp_grpc_frame(f, sizeof(f), &z, &msg, &msglen), 8);
	assert_int_equal(msglen, 3);
	assert_false(z);
	assert_memory_equal(msg, "abc", 3);
	assert_int_equal(otlp_grpc_frame((const uint8_t *)"\x02\0\0\0\0", 5, &z, &msg, &msglen),
			 -1);
}

static void test_retry_after(void **state)
{
	time_t now = 1445412480;	/* Wed, 21 Oct 2015 07:28:00 GMT */

	(void)state;
	assert_int_equal(otlp_retry_after_ms("120", 3, now), 120000);
	assert_int_equal(otlp_retry_after_ms(" 0 ", 3, now), 0);
	assert_int_equal(otlp_retry_after_ms("99999999999", 11, now), 86400000);
	assert_int_equal(otlp_retry_after_ms("Wed, 21 Oct 2015 07:28:30 GMT", 29, now), 30000);
	assert_int_equal(otlp_retry_after_ms("Wednesday, 21-Oct-15 07:28:05 GMT", 33, now), 5000);
	assert_int_equal(otlp_retry_after_ms("Wed Oct 21 07:28:02 2015", 24, now), 2000);
	assert_int_equal(otlp_retry_after_ms("Wed, 21 Oct 2015 07:00:00 GMT", 29, now), 0);
	assert_int_equal(otlp_retry_after_ms("-5", 2, now), -1);
	assert_int_equal(otlp_retry_after_ms("", 0, now), -1);
	assert_int_equal(otlp_retry_after_ms("soon", 4, now), -1);
	/* Length, not the NUL, ends the value. */
	assert_int_equal(otlp_retry_after_ms("12345", 2, now), 12000);
}

static void test_grpc_headers(void **state)
{
	uint8_t bin[64];
	char msg[64];

	(void)state;
	assert_int_equal(otlp_grpc_status("14\r\n", 4), 14);
	assert_int_equal(otlp_grpc_status("0", 1), 0);
	assert_int_equal(otlp_grpc_status("17", 2), -1);
	assert_int_equal(otlp_grpc_status("1x", 2), -1);
	otlp_grpc_message(msg, sizeof(msg), "no%20way%2", 10);
	assert_string_equal(msg, "no way%2");
	assert_int_equal(otlp_base64_decode(bin, sizeof(bin), "aGk=", 4), 2);
	assert_memory_equal(bin, "hi", 2);
	assert_int_equal(otlp_base64_decode(bin, sizeof(bin), "a!", 2), -1);
}

static void test_rpc_status_retry_info(void **state)
{
	/* google.rpc.Status{code 8, message "slow", details [Any{RetryInfo{
	 * retry_delay {seconds 2, nanos 500000000}}}]} */
	static const char type[] = "type.googleapis.com/google.rpc.RetryInfo";
	uint8_t ri[] = { 0x0a, 0x08, 0x08, 0x02, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01 };
	uint8_t any[128], st[160];
	size_t na = 0, ns = 0;
	int64_t retry;
	int32_t code;
	char msg[32];

	(void)state;
	any[na++] = 0x0a;
	any[na++] = sizeof(type) - 1;
	memcpy(any + na, type, sizeof(type) - 1);
	na += sizeof(type) - 1;
	any[na++] = 0x12;
	any[na++] = sizeof(ri);
	memcpy(any + na, ri, sizeof(ri));
	na += sizeof(ri);
	st[ns++] = 0x08;
	st[ns++] = 8;
	st[ns++] = 0x12;
	st[ns++] = 4;
	memcpy(st + ns, "slow", 4);
	ns += 4;
	st[ns++] = 0x1a;
	st[ns++] = na;
	memcpy(st + ns, any, na);
	ns += na;
	assert_int_equal(otlp_rpc_status(st, ns, &code, msg, sizeof(msg), &retry), 0);
	assert_int_equal(code, 8);
	assert_string_equal(msg, "slow");
	assert_int_equal(retry, 2500);
	assert_int_equal(otlp_rpc_status((const uint8_t *)"\xff", 1, &code, msg, sizeof(msg),
					 &retry), -1);
}

static void test_cgroup(void **state)
{
	static const char docker[] =
		"0::/system.slice/docker-"
		"3f4e0b6a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f.scope\n";
	static const char k8s[] =
		"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
		"0a1b2c3d_4e5f_6a7b_8c9d_0e1f2a3b4c5d.slice/cri-containerd-"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.scope\n";
	static const char v1[] =
		"12:memory:/kubepods/besteffort/pod11111111-2222-3333-4444-555555555555/"
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n";
	static const char host[] = "0::/user.slice/user-0.slice/session-1.scope\n";
	char id[65], uid[37];

	(void)state;
	assert_true(otlp_cgroup_container_id(docker, strlen(docker), id));
	assert_string_equal(id, "3f4e0b6a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f");
	assert_false(otlp_cgroup_pod_uid(docker, strlen(docker), uid));
	assert_true(otlp_cgroup_container_id(k8s, strlen(k8s), id));
	assert_int_equal(id[0], 'a');
	assert_true(otlp_cgroup_pod_uid(k8s, strlen(k8s), uid));
	assert_string_equal(uid, "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d");
	assert_true(otlp_cgroup_pod_uid(v1, strlen(v1), uid));
	assert_string_equal(uid, "11111111-2222-3333-4444-555555555555");
	assert_true(otlp_cgroup_container_id(v1, strlen(v1), id));
	assert_int_equal(id[0], 'b');
	assert_false(otlp_cgroup_container_id(host, strlen(host), id));
	/* Cut inside the id: no id. */
	assert_false(otlp_cgroup_container_id(docker, 40 + 30, id));
}

static void mkdirs(const char *path)
{
	char tmp[256];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(tmp, 0755);
		*p = '/';
	}
	mkdir(tmp, 0755);
}

static void test_resource_from_proc_root(void **state)
{
	char root[] = "/tmp/kspan-otlp-res-XXXXXX", path[256];
	struct proc_info pi = { .pid = 42 };
	struct otlp_kv extra[1] = { { "deployment.environment", "test" } };
	static const char env[] = "HOSTNAME=web-7d4b9\0KUBERNETES_SERVICE_HOST=10.0.0.1\0"
				  "OTEL_RESOURCE_ATTRIBUTES=team=payments,service.name=ignored\0";
	struct otlp_resource *r;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/42/root/var/run/secrets/kubernetes.io/serviceaccount",
		 root);
	mkdirs(path);
	snprintf(path, sizeof(path), "%s/42/root/var/run/secrets/kubernetes.io/serviceaccount/"
		 "namespace", root);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("shop\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/42/environ", root);
	f = fopen(path, "w");
	fwrite(env, 1, sizeof(env) - 1, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/42/cgroup", root);
	f = fopen(path, "w");
	fputs("0::/kubepods/pod11111111-2222-3333-4444-555555555555/"
	      "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\n", f);
	fclose(f);
	strcpy(pi.service_name, "web");
	strcpy(pi.exe_name, "web");
	strcpy(pi.exe_path, "/app/web");
	strcpy(pi.command_line, "/app/web");
	r = otlp_resource_new(root, 42, &pi, "node1", extra, 1);
	assert_non_null(r);
	assert_string_equal(otlp_resource_attr(r, "service.name"), "web");
	assert_string_equal(otlp_resource_attr(r, "os.type"), "linux");
	assert_string_equal(otlp_resource_attr(r, "container.id"),
			    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
	assert_string_equal(otlp_resource_attr(r, "k8s.pod.name"), "web-7d4b9");
	assert_string_equal(otlp_resource_attr(r, "k8s.namespace.name"), "shop");
	assert_string_equal(otlp_resource_attr(r, "k8s.pod.uid"),
			    "11111111-2222-3333-4444-555555555555");
	assert_string_equal(otlp_resource_attr(r, "team"), "payments");
	assert_string_equal(otlp_resource_attr(r, "deployment.environment"), "test");
	assert_string_equal(otlp_resource_attr(r, "telemetry.distro.name"), "kspan");
	otlp_resource_put(r);
	snprintf(path, sizeof(path), "rm -rf %s", root);
	assert_int_equal(system(path), 0);
}

static void test_histograms(void **state)
{
	struct otlp_metrics *m = otlp_metrics_new(8, 1);
	struct otlp_resource *r = test_resource(10);
	struct span *s = calloc(1, sizeof(*s));
	struct otlp_arena a = {};
	OtlpMetricsReq *req;
	OtlpHistPoint *p;
	size_t points;

	(void)state;
	make_span(s, 10);
	/* 30 ms: the 0.05 bucket (index 3); exactly 5 ms: the first. */
	assert_true(otlp_metrics_record(m, s, r));
	s->end_ns = s->start_ns + 5000000;
	assert_true(otlp_metrics_record(m, s, r));
	s->end_ns = s->start_ns + 20000000000ull;
	assert_true(otlp_metrics_record(m, s, r));
	assert_int_equal(otlp_metrics_series(m), 1);
	/* Distinct routes fill the table but the places kept for the overflow
	 * series of each kind (server, client); past it, the overflow series. */
	for (int i = 0; i < 10; i++) {
		snprintf(s->name, sizeof(s->name), "GET /r%d", i);
		assert_true(otlp_metrics_record(m, s, r));
	}
	assert_int_equal(otlp_metrics_series(m), 7);
	req = otlp_metrics_build(m, &a, 99, NULL, NULL, 0, &points);
	assert_non_null(req);
	assert_int_equal(points, 7);
	assert_int_equal(req->n_resource_metrics, 1);
	assert_string_equal(req->resource_metrics[0]->scope_metrics[0]->metrics[0]->name,
			    "http.server.request.duration");
	p = req->resource_metrics[0]->scope_metrics[0]->metrics[0]->histogram->data_points[0];
	assert_int_equal(p->count, 3);
	assert_int_equal(p->n_bucket_counts, 15);
	assert_int_equal(p->bucket_counts[0], 1);
	assert_int_equal(p->bucket_counts[3], 1);
	assert_int_equal(p->bucket_counts[14], 1);
	assert_true(p->min > 0.0049 && p->min < 0.0051);
	assert_true(p->max > 19.9);
	assert_int_equal(p->n_attributes, 9);
	assert_string_equal(p->attributes[3]->key, "http.route");
	assert_string_equal(p->attributes[3]->value->string_value, "/orders/{id}");
	p = req->resource_metrics[0]->scope_metrics[0]->metrics[0]->histogram->data_points[6];
	assert_int_equal(p->count, 5);
	assert_int_equal(p->n_attributes, 1);
	assert_string_equal(p->attributes[0]->key, "otel.metric.overflow");
	otlp_arena_free(&a);
	otlp_metrics_free(m);
	otlp_resource_put(r);
	free(s);
}

/* Captured bytes become valid UTF-8: good sequences kept, every bad byte
 * and NUL replaced by U+FFFD, and a cut (at any destination size) only
 * between whole characters. */
/* The arena copy takes ASCII as it is and the rest through otlp_utf8_copy:
 * the same string either way, for every length and any byte anywhere. */
static void test_arena_utf8(void **state)
{
	static const unsigned char odd[] = { 0x00, 0x7f, 0x80, 0xc3, 0xe2, 0xff };
	struct otlp_arena a = {};
	char want[128], in[40];

	(void)state;
	for (size_t len = 0; len <= sizeof(in); len++)
		for (size_t at = 0; at <= len; at++)
			for (size_t k = 0; k < sizeof(odd); k++) {
				const char *got;
				void *map;
				size_t maplen;
				const char *g;
				size_t glen;

				for (size_t i = 0; i < len; i++)
					in[i] = 'a' + i % 26;
				if (at < len)
					in[at] = (char)odd[k];
				g = (const char *)guarded(in, len, &map, &maplen);
				got = otlp_arena_utf8(&a, g, len, &glen);
				otlp_utf8_copy(want, sizeof(want), in, len);
				assert_non_null(got);
				assert_string_equal(got, want);
				assert_int_equal(glen, strlen(want));
				munmap(map, maplen);
			}
	otlp_arena_free(&a);
}

/* A span through the export queue (packed, then unpacked into a scratch
 * that held other bytes) encodes as the span does, and a built span holds
 * nothing of the scratch: rewriting it afterwards changes no byte. */
static void test_queued_span(void **state)
{
	struct otlp_item *item = calloc(1, sizeof(*item)), *p0[1] = { item };
	struct span *scratch = malloc(sizeof(*scratch));
	struct otlp_resource *r = test_resource(10);
	struct otlp_built built[1];
	struct otlp_arena a = {};
	OtlpTraceReq *q0, *q1;
	uint8_t *b0, *b1;
	size_t n0, n1;
	struct spanq q;

	(void)state;
	make_span(&item->span, 10);
	item->res = r;
	assert_int_equal(spanq_init(&q, 4), 0);
	assert_true(spanq_push(&q, &item->span, r));
	memset(scratch, 0xa5, sizeof(*scratch));
	spanq_span(&q, spanq_at(&q, 0), scratch);
	built[0] = (struct otlp_built){ .res = spanq_at(&q, 0)->tag };
	built[0].span = otlp_build_span(&a, scratch, &built[0].bound);
	assert_non_null(built[0].span);
	memset(scratch, 0x5a, sizeof(*scratch));
	q1 = otlp_group_traces(&a, built, 1, NULL);
	q0 = build_traces(&a, p0, 1);
	assert_non_null(q0);
	assert_non_null(q1);
	n0 = protobuf_c_message_get_packed_size(&q0->base);
	n1 = protobuf_c_message_get_packed_size(&q1->base);
	assert_int_equal(n0, n1);
	b0 = malloc(n0);
	b1 = malloc(n1);
	protobuf_c_message_pack(&q0->base, b0);
	protobuf_c_message_pack(&q1->base, b1);
	assert_memory_equal(b0, b1, n0);
	free(b0);
	free(b1);
	spanq_free(&q);
	otlp_arena_free(&a);
	otlp_resource_put(r);
	free(scratch);
	free(item);
}

/* Packs m into a buffer of exactly bound bytes placed against a guard page
 * (writing past it faults) and checks the bytes against protobuf-c's own
 * size pass and pack. Returns the packed size. */
static size_t pack_within(const ProtobufCMessage *m, size_t bound)
{
	size_t want = protobuf_c_message_get_packed_size(m), maplen;
	uint8_t *buf, *ref = malloc(want ? want : 1);
	void *map;

	assert_true(want <= bound);
	buf = guard_end(bound, &map, &maplen);
	assert_int_equal(protobuf_c_message_pack(m, buf), want);
	assert_int_equal(protobuf_c_message_pack(m, ref), want);
	assert_memory_equal(buf, ref, want);
	munmap(map, maplen);
	free(ref);
	return want;
}

/* The largest span kspan can make: a name and string values that are all
 * bytes each becoming a 3-byte U+FFFD, every attribute slot used, the
 * longest varints (negative ints, the top of uint64), every id and the
 * status set. nattrs attributes, string values of vlen bytes. */
static void make_worst_span(struct span *s, size_t nattrs, size_t vlen)
{
	static const char *const keys[] = {
		"a", "http.request.method", "url.path", "server.address",
		/* 131 bytes: a length prefix of two bytes. */
		"kspan.a.rather.long.attribute.key.whose.length.needs.two.bytes.of.varint."
		"0123456789012345678901234567890123456789012345678901234567",
	};
	char v[SPAN_STRBUF];

	span_init(s);
	memset(s->trace_id, 0xff, sizeof(s->trace_id));
	memset(s->span_id, 0xff, sizeof(s->span_id));
	memset(s->parent_span_id, 0xff, sizeof(s->parent_span_id));
	s->trace_flags = 0xff;
	s->remote_parent = true;
	s->kind = SPAN_KIND_CLIENT;
	s->status = SPAN_STATUS_ERROR;
	s->start_ns = s->end_ns = UINT64_MAX;
	s->attrs_dropped = UINT32_MAX;
	memset(s->name, 0xff, sizeof(s->name) - 1);
	s->name[sizeof(s->name) - 1] = 0;
	memset(v, 0xc3, sizeof(v));
	for (size_t i = 0; i < nattrs; i++) {
		const char *k = keys[i % 5];

		switch (i % 4) {
		case 0:
		case 1:
			span_attr_str(s, k, v, vlen);
			break;
		case 2:
			span_attr_int(s, k, INT64_MIN + (int64_t)i);
			break;
		default:
			if (i & 4) {
				span_attr_bool(s, k, true);
			} else {
				/* No setter for doubles: the slot by hand. */
				s->attrs[s->nattrs].key = k;
				s->attrs[s->nattrs].type = SPAN_ATTR_DOUBLE;
				s->attrs[s->nattrs].v.d = -1e300;
				s->nattrs++;
			}
		}
	}
}

/* Trace requests are packed into a buffer sized by the bounds the build
 * adds up, not by a size pass: for spans of every attribute count, string
 * values of every size class up to a full string buffer, several resources
 * (and none), the bound is never below the packed size, and packing into
 * exactly that many bytes writes nothing past them. An ordinary request's
 * bound stays within three times its size (the buffer is malloc'd). */
static void test_pack_bound(void **state)
{
	static const size_t vlens[] = { 0, 1, 100, 127, 128, 700, SPAN_STRBUF / 2 };
	struct otlp_item *items = calloc(8, sizeof(*items));
	struct otlp_resource *r1 = test_resource(10), *r2 = test_resource(20);
	struct otlp_item *ptrs[8];
	struct otlp_arena a = {};
	OtlpTraceReq *req;
	size_t bound, packed;

	(void)state;
	for (size_t i = 0; i < 8; i++)
		ptrs[i] = &items[i];
	/* An empty request: no bytes. */
	req = build_traces_bound(&a, ptrs, 0, &bound);
	assert_non_null(req);
	assert_int_equal(pack_within(&req->base, bound), 0);
	for (size_t na = 0; na <= SPAN_MAX_ATTRS; na++)
		for (size_t v = 0; v < sizeof(vlens) / sizeof(vlens[0]); v++) {
			for (size_t i = 0; i < 8; i++) {
				make_worst_span(&items[i].span, na, vlens[v]);
				items[i].res = i % 3 == 0 ? r1 : i % 3 == 1 ? r2 : NULL;
			}
			for (size_t n = 1; n <= 8; n += 7) {
				req = build_traces_bound(&a, ptrs, n, &bound);
				assert_non_null(req);
				pack_within(&req->base, bound);
			}
			otlp_arena_free(&a);
		}
	/* The kind of span kspan exports most. */
	for (size_t i = 0; i < 8; i++) {
		make_span(&items[i].span, 10);
		items[i].res = r1;
	}
	req = build_traces_bound(&a, ptrs, 8, &bound);
	assert_non_null(req);
	packed = pack_within(&req->base, bound);
	assert_true(bound <= 3 * packed);
	otlp_arena_free(&a);
	otlp_resource_put(r1);
	otlp_resource_put(r2);
	free(items);
}

/* A reset arena hands the chunks of the request before out again, each
 * need from the smallest that holds it (a large packing buffer is not cut
 * up for small messages), and frees what a request left unused. */
static void test_arena_reuse(void **state)
{
	struct otlp_arena a = {};
	uint8_t *small, *big;

	(void)state;
	small = otlp_arena_take(&a, 1000);
	big = otlp_arena_take(&a, 200 * 1024);
	assert_non_null(small);
	assert_non_null(big);
	memset(big, 1, 200 * 1024);
	otlp_arena_reset(&a);
	assert_ptr_equal(otlp_arena_take(&a, 1000), small);
	assert_ptr_equal(otlp_arena_take(&a, 150 * 1024), big);
	otlp_arena_reset(&a);
	/* Only the small chunk used: the big one is freed at the next reset
	 * (the sanitizer checks that every chunk is freed, and once). */
	assert_ptr_equal(otlp_arena_take(&a, 10), small);
	otlp_arena_reset(&a);
	assert_ptr_equal(otlp_arena_alloc(&a, 64), small);
	assert_false(a.failed);
	otlp_arena_free(&a);
	assert_null(a.head);
	assert_null(a.spare);
}

static void test_utf8_copy(void **state)
{
	static const char in[] = "GET /a\0b\xc3\xa9\xff" "c\xe2\x82\xac\xed\xa0\x80" "d\xf0\x9f\x98\x80" "e\xc3";
	/* The same, character by character, as the copy must write it. */
	static const char *const want[] = {
		"G", "E", "T", " ", "/", "a", "\xef\xbf\xbd", "b", "\xc3\xa9", "\xef\xbf\xbd",
		"c", "\xe2\x82\xac", "\xef\xbf\xbd", "\xef\xbf\xbd", "\xef\xbf\xbd", "d",
		"\xf0\x9f\x98\x80", "e", "\xef\xbf\xbd",
	};
	char full[128], out[128];
	size_t n = 0;

	(void)state;
	full[0] = '\0';
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		strcat(full, want[k]);
	assert_int_equal(otlp_utf8_copy(out, sizeof(out), in, sizeof(in) - 1), strlen(full));
	assert_string_equal(out, full);
	assert_int_equal(otlp_utf8_copy(out, 0, in, sizeof(in) - 1), 0);
	for (size_t sz = 1; sz <= strlen(full) + 1; sz++) {
		size_t fit = 0;

		/* The longest run of whole characters that fits in sz - 1. */
		for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
			if (fit + strlen(want[k]) > sz - 1)
				break;
			fit += strlen(want[k]);
		}
		memset(out, 'x', sizeof(out));
		n = otlp_utf8_copy(out, sz, in, sizeof(in) - 1);
		assert_int_equal(n, fit);
		assert_int_equal(out[n], '\0');
		assert_memory_equal(out, full, n);
		assert_int_equal(out[sz], 'x');		/* nothing past dstsz */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_roundtrip),
		cmocka_unit_test(test_utf8_copy),
		cmocka_unit_test(test_arena_utf8),
		cmocka_unit_test(test_queued_span),
		cmocka_unit_test(test_pack_bound),
		cmocka_unit_test(test_arena_reuse),
		cmocka_unit_test(test_json_exact),
		cmocka_unit_test(test_partial_success),
		cmocka_unit_test(test_grpc_frame),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_grpc_headers),
		cmocka_unit_test(test_rpc_status_retry_info),
		cmocka_unit_test(test_cgroup),
		cmocka_unit_test(test_resource_from_proc_root),
		cmocka_unit_test(test_histograms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
