// SPDX-License-Identifier: Apache-2.0
/* OTLP exporter settings from the environment and the command line: a table
 * of environments and the URL, protocol, headers and limits they give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "otlp.h"

struct env_case {
	const char *name;
	const char *env[8];		/* NULL-terminated "NAME=value" */
	int bad;			/* invalid values reported */
	const char *traces_url;
	const char *metrics_url;
	enum otlp_protocol traces_proto;
	uint32_t timeout_ms;
	enum otlp_compression compression;
	const char *headers;		/* "name=value;..." of the traces target */
	bool endpoint_in_env;
};

static const struct env_case env_cases[] = {
	{ "defaults", { NULL }, 0, "http://localhost:4318/v1/traces",
	  "http://localhost:4318/v1/metrics", OTLP_PROTO_HTTP_PROTOBUF, 10000, 0, "", false },
	{ "base endpoint gets the signal path",
	  { "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318", NULL }, 0,
	  "http://collector:4318/v1/traces", "http://collector:4318/v1/metrics",
	  OTLP_PROTO_HTTP_PROTOBUF, 10000, 0, "", true },
	{ "base endpoint with a path and a trailing slash",
	  { "OTEL_EXPORTER_OTLP_ENDPOINT=https://gw.example.com/otlp/", NULL }, 0,
	  "https://gw.example.com/otlp/v1/traces", "https://gw.example.com/otlp/v1/metrics",
	  OTLP_PROTO_HTTP_PROTOBUF, 10000, 0, "", true },
	{ "signal endpoint used as given",
	  { "OTEL_EXPORTER_OTLP_ENDPOINT=http://base:4318",
	    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://traces:9999/custom/path", NULL }, 0,
	  "http://traces:9999/custom/path", "http://base:4318/v1/metrics",
	  OTLP_PROTO_HTTP_PROTOBUF, 10000, 0, "", true },
	{ "signal endpoint without a path stays without one",
	  { "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://traces:4318", NULL }, 0,
	  "http://traces:4318", "http://localhost:4318/v1/metrics",
	  OTLP_PROTO_HTTP_PROTOBUF, 10000, 0, "", true },
	{ "empty values count as unset",
	  { "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_PROTOCOL=",
	    "OTEL_EXPORTER_OTLP_TIMEOUT=", "OTEL_EXPORTER_OTLP_HEADERS=", NULL }, 0,
	  "http://localhost:4318/v1/traces", "http://localhost:4318/v1/metrics",
	  OTLP_PROTO_HTTP_PROTOBUF, 10000, 0, "", false },
	{ "grpc default endpoint and service path",
	  { "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", NULL }, 0,
	  "http://localhost:4317/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	  "http://localhost:4317/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
	  OTLP_PROTO_GRPC, 10000, 0, "", false },
	{ "grpc keeps only the origin of the endpoint",
	  { "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
	    "OTEL_EXPORTER_OTLP_ENDPOINT=https://collector:4317/ignored", NULL }, 0,
	  "https://collector:4317/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	  "https://collector:4317/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
	  OTLP_PROTO_GRPC, 10000, 0, "", true },
	{ "grpc host:port with insecure",
	  { "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc", "OTEL_EXPORTER_OTLP_INSECURE=true",
	    "OTEL_EXPORTER_OTLP_ENDPOINT=collector:4317", NULL }, 0,
	  "http://collector:4317/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	  NULL, OTLP_PROTO_GRPC, 10000, 0, "", true },
	{ "signal protocol wins over the generic one",
	  { "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
	    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json", NULL }, 0,
	  "http://localhost:4318/v1/traces",
	  "http://localhost:4317/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
	  OTLP_PROTO_HTTP_JSON, 10000, 0, "", false },
	{ "invalid protocol: message and the default",
	  { "OTEL_EXPORTER_OTLP_PROTOCOL=http/thrift", NULL }, 1,
	  "http://localhost:4318/v1/traces", "http://localhost:4318/v1/metrics",
	  OTLP_PROTO_HTTP_PROTOBUF, 10000, 0, "", false },
	{ "timeout and compression, signal over generic",
	  { "OTEL_EXPORTER_OTLP_TIMEOUT=2500", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=700",
	    "OTEL_EXPORTER_OTLP_COMPRESSION=gzip", NULL }, 0,
	  "http://localhost:4318/v1/traces", "http://localhost:4318/v1/metrics",
	  OTLP_PROTO_HTTP_PROTOBUF, 700, OTLP_COMPRESS_GZIP, "", false },
	{ "invalid timeout and compression",
	  { "OTEL_EXPORTER_OTLP_TIMEOUT=10s", "OTEL_EXPORTER_OTLP_COMPRESSION=zstd", NULL }, 2,
	  "http://localhost:4318/v1/traces", "http://localhost:4318/v1/metrics",
	  OTLP_PROTO_HTTP_PROTOBUF, 10000, 0, "", false },
	{ "headers, percent-decoded and trimmed",
	  { "OTEL_EXPORTER_OTLP_HEADERS=api-key = secret%20value , X-Tenant=a%2Cb%3Dc", NULL },
	  0, "http://localhost:4318/v1/traces", "http://localhost:4318/v1/metrics",
	  OTLP_PROTO_HTTP_PROTOBUF, 10000, 0, "api-key=secret value;X-Tenant=a,b=c;", false },
	{ "signal headers replace same names",
	  { "OTEL_EXPORTER_OTLP_HEADERS=a=1,b=2", "OTEL_EXPORTER_OTLP_TRACES_HEADERS=B=3,c=4",
	    NULL }, 0, "http://localhost:4318/v1/traces", "http://localhost:4318/v1/metrics",
	  OTLP_PROTO_HTTP_PROTOBUF, 10000, 0, "a=1;B=3;c=4;", false },
	{ "malformed header members are skipped",
	  { "OTEL_EXPORTER_OTLP_HEADERS=good=1,novalue,bad name=2,crlf=a%0Db,pct=%zz,ok=2",
	    NULL }, 1, "http://localhost:4318/v1/traces", "http://localhost:4318/v1/metrics",
	  OTLP_PROTO_HTTP_PROTOBUF, 10000, 0, "good=1;ok=2;", false },
	{ "endpoint without a scheme: the default",
	  { "OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318", NULL }, 0,
	  "http://localhost:4318/v1/traces", "http://localhost:4318/v1/metrics",
	  OTLP_PROTO_HTTP_PROTOBUF, 10000, 0, "", true },
};

static void format_headers(const struct otlp_target *t, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < t->nheaders && n < size; i++)
		n += snprintf(buf + n, size - n, "%s=%s;", t->headers[i].name,
			      t->headers[i].value);
}

static void test_env_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
		const struct env_case *c = &env_cases[i];
		struct otlp_config *cfg = malloc(sizeof(*cfg));
		struct otlp_target *t = malloc(sizeof(*t));
		char hdrs[512];
		FILE *err = fopen("/dev/null", "w");
		int bad;

		assert_non_null(cfg);
		assert_non_null(t);
		print_message("case: %s\n", c->name);
		otlp_config_init(cfg);
		bad = otlp_config_from_env(cfg, (char *const *)c->env, err);
		assert_int_equal(bad, c->bad);
		assert_int_equal(cfg->endpoint_in_env, c->endpoint_in_env);
		otlp_config_target(cfg, OTLP_TRACES, t, err);
		assert_string_equal(t->url, c->traces_url);
		assert_int_equal(t->protocol, c->traces_proto);
		assert_int_equal(t->timeout_ms, c->timeout_ms);
		assert_int_equal(t->compression, c->compression);
		format_headers(t, hdrs, sizeof(hdrs));
		assert_string_equal(hdrs, c->headers);
		if (c->metrics_url) {
			otlp_config_target(cfg, OTLP_METRICS, t, err);
			assert_string_equal(t->url, c->metrics_url);
		}
		fclose(err);
		free(cfg);
		free(t);
	}
}

static void test_tls_files_and_batching(void **state)
{
	char *env[] = {
		"OTEL_EXPORTER_OTLP_CERTIFICATE=/etc/ca.pem",
		"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY=/etc/key.pem",
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/etc/cert.pem",
		"OTEL_BSP_MAX_QUEUE_SIZE=100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=500",
		"OTEL_BSP_SCHEDULE_DELAY=250", "OTEL_METRIC_EXPORT_INTERVAL=1500",
		"OTEL_METRICS_EXPORTER=none", NULL,
	};
	struct otlp_config *cfg = malloc(sizeof(*cfg));
	struct otlp_target *t = malloc(sizeof(*t));
	FILE *err = fopen("/dev/null", "w");

	(void)state;
	otlp_config_init(cfg);
	/* A batch larger than the queue is an error, clamped to the queue. */
	assert_int_equal(otlp_config_from_env(cfg, env, err), 1);
	assert_int_equal(cfg->queue_size, 100);
	assert_int_equal(cfg->batch_size, 100);
	assert_int_equal(cfg->batch_delay_ms, 250);
	assert_int_equal(cfg->metric_interval_ms, 1500);
	assert_false(cfg->metrics);
	otlp_config_target(cfg, OTLP_TRACES, t, err);
	assert_string_equal(t->certificate, "/etc/ca.pem");
	assert_string_equal(t->client_key, "/etc/key.pem");
	assert_string_equal(t->client_cert, "/etc/cert.pem");
	otlp_config_target(cfg, OTLP_METRICS, t, err);
	assert_null(t->client_key);
	fclose(err);
	free(cfg);
	free(t);
}

static void test_resource_attributes(void **state)
{
	char *good[] = { "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod, team = a%20b",
			 NULL };
	/* One bad member discards the whole value, as the specification says. */
	char *bad[] = { "OTEL_RESOURCE_ATTRIBUTES=a=1,broken,b=2", NULL };
	struct otlp_config *cfg = malloc(sizeof(*cfg));
	FILE *err = fopen("/dev/null", "w");

	(void)state;
	otlp_config_init(cfg);
	assert_int_equal(otlp_config_from_env(cfg, good, err), 0);
	assert_int_equal(cfg->nresource, 2);
	assert_string_equal(cfg->resource[0].key, "deployment.environment");
	assert_string_equal(cfg->resource[0].value, "prod");
	assert_string_equal(cfg->resource[1].key, "team");
	assert_string_equal(cfg->resource[1].value, "a b");
	otlp_config_init(cfg);
	assert_int_equal(otlp_config_from_env(cfg, bad, err), 1);
	assert_int_equal(cfg->nresource, 0);
	fclose(err);
	free(cfg);
}

static void test_options_override_env(void **state)
{
	char *env[] = { "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://env:1/x",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc", NULL };
	struct otlp_config *cfg = malloc(sizeof(*cfg));
	struct otlp_target *t = malloc(sizeof(*t));
	FILE *err = fopen("/dev/null", "w");

	(void)state;
	otlp_config_init(cfg);
	otlp_config_from_env(cfg, env, err);
	assert_int_equal(otlp_config_option(cfg, "otlp-endpoint", "http://cli:4318"), 0);
	assert_int_equal(otlp_config_option(cfg, "otlp-protocol", "http/json"), 0);
	assert_int_equal(otlp_config_option(cfg, "otlp-headers", "k=v%21"), 0);
	assert_int_equal(otlp_config_option(cfg, "otlp-timeout", "1234"), 0);
	assert_int_equal(otlp_config_option(cfg, "otlp-queue-size", "64"), 0);
	assert_int_equal(otlp_config_option(cfg, "metric-export-interval", "500"), 0);
	assert_int_equal(otlp_config_option(cfg, "no-metrics", NULL), 0);
	otlp_config_target(cfg, OTLP_TRACES, t, err);
	assert_string_equal(t->url, "http://cli:4318/v1/traces");
	assert_int_equal(t->protocol, OTLP_PROTO_HTTP_JSON);
	assert_int_equal(t->timeout_ms, 1234);
	assert_int_equal(t->nheaders, 1);
	assert_string_equal(t->headers[0].value, "v!");
	assert_int_equal(cfg->queue_size, 64);
	assert_int_equal(cfg->metric_interval_ms, 500);
	assert_false(cfg->metrics);
	/* Invalid values on the command line are errors. */
	assert_int_equal(otlp_config_option(cfg, "otlp-protocol", "thrift"), -1);
	assert_int_equal(otlp_config_option(cfg, "otlp-timeout", "-1"), -1);
	assert_int_equal(otlp_config_option(cfg, "otlp-queue-size", "0"), -1);
	assert_int_equal(otlp_config_option(cfg, "otlp-endpoint", ""), -1);
	assert_int_equal(otlp_config_option(cfg, "no-such-option", "x"), -1);
	/* Every option of the table has a name the handler knows. */
	for (int v = OTLP_OPT_FIRST; v <= OTLP_OPT_LAST; v++)
		assert_non_null(otlp_option_name(v));
	assert_null(otlp_option_name(OTLP_OPT_LAST + 1));
	fclose(err);
	free(cfg);
	free(t);
}

static int kv_count(void *ctx, const char *k, size_t klen, const char *v, size_t vlen)
{
	(void)k; (void)v;
	if (!klen)
		return -1;
	(*(int *)ctx) += 1 + (int)vlen * 0;
	return 0;
}

/* The list parser at every length of its input: never past len. */
static void test_kv_list_cuts(void **state)
{
	static const char s[] = "a=1, b = x%20y ,,c=,=bad,d";
	char *buf = malloc(sizeof(s));

	(void)state;
	for (size_t n = 0; n < sizeof(s); n++) {
		int count = 0;

		memcpy(buf, s, n);
		otlp_parse_kv_list(buf, n, kv_count, &count);
		assert_true(count <= 4);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_table),
		cmocka_unit_test(test_tls_files_and_batching),
		cmocka_unit_test(test_resource_attributes),
		cmocka_unit_test(test_options_override_env),
		cmocka_unit_test(test_kv_list_cuts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
