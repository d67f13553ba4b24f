/* SPDX-License-Identifier: Apache-2.0 */
/* OTLP export: configuration as the OpenTelemetry specification defines it
 * (environment and command line), and the exporter that sends spans and
 * HTTP duration histograms over http/protobuf, http/json or gRPC. */
#ifndef __KSPAN_OTLP_H
#define __KSPAN_OTLP_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "export.h"

enum otlp_protocol {
	OTLP_PROTO_HTTP_PROTOBUF = 0,	/* the default */
	OTLP_PROTO_HTTP_JSON,
	OTLP_PROTO_GRPC,
};

enum otlp_compression {
	OTLP_COMPRESS_NONE = 0,
	OTLP_COMPRESS_GZIP,
};

enum otlp_signal {
	OTLP_TRACES = 0,
	OTLP_METRICS,
	OTLP_SIGNALS,
};

#define OTLP_URL_MAX		1024
#define OTLP_FILE_MAX		512
#define OTLP_HEADERS_MAX	16
#define OTLP_HNAME_MAX		64
#define OTLP_HVALUE_MAX		2048
#define OTLP_RES_ATTRS_MAX	32
#define OTLP_RES_KEY_MAX	128
#define OTLP_RES_VALUE_MAX	256

struct otlp_header {
	char name[OTLP_HNAME_MAX];
	char value[OTLP_HVALUE_MAX];	/* percent-decoded */
};

/* One level of settings: the generic OTEL_EXPORTER_OTLP_* ones or those of
 * one signal (OTEL_EXPORTER_OTLP_TRACES_*). A bit in 'set' says the field was
 * given; a signal's own setting wins over the generic one. */
enum {
	OTLP_SET_ENDPOINT = 1 << 0,
	OTLP_SET_PROTOCOL = 1 << 1,
	OTLP_SET_HEADERS = 1 << 2,
	OTLP_SET_TIMEOUT = 1 << 3,
	OTLP_SET_COMPRESSION = 1 << 4,
	OTLP_SET_CERTIFICATE = 1 << 5,
	OTLP_SET_CLIENT_KEY = 1 << 6,
	OTLP_SET_CLIENT_CERT = 1 << 7,
	OTLP_SET_INSECURE = 1 << 8,
};

struct otlp_settings {
	uint32_t set;			/* OTLP_SET_* */
	char endpoint[OTLP_URL_MAX];
	enum otlp_protocol protocol;
	struct otlp_header headers[OTLP_HEADERS_MAX];
	uint32_t nheaders;
	uint32_t timeout_ms;
	enum otlp_compression compression;
	char certificate[OTLP_FILE_MAX];	/* CA bundle, PEM */
	char client_key[OTLP_FILE_MAX];		/* PEM, for mTLS */
	char client_cert[OTLP_FILE_MAX];	/* PEM, for mTLS */
	bool insecure;			/* gRPC without a scheme: plaintext */
};

struct otlp_kv {
	char key[OTLP_RES_KEY_MAX];
	char value[OTLP_RES_VALUE_MAX];
};

struct otlp_config {
	struct otlp_settings generic;
	struct otlp_settings sig[OTLP_SIGNALS];
	/* OTEL_RESOURCE_ATTRIBUTES of kspan itself, added to every resource
	 * under the attributes kspan finds for the process. */
	struct otlp_kv resource[OTLP_RES_ATTRS_MAX];
	uint32_t nresource;
	/* Batching (OTEL_BSP_*). */
	uint32_t queue_size;		/* spans waiting at most (2048) */
	uint32_t batch_size;		/* spans per request at most (512) */
	uint32_t batch_delay_ms;	/* export at least this often (5000) */
	/* Retries of one request: exponential backoff with jitter. */
	uint32_t retry_initial_ms;	/* first backoff (1000) */
	uint32_t retry_max_backoff_ms;	/* backoff cap (16000) */
	uint32_t retry_max_elapsed_ms;	/* give up a batch after (60000) */
	uint32_t shutdown_timeout_ms;	/* flush on exit at most (10000) */
	/* Metrics (OTEL_METRIC_EXPORT_*, OTEL_METRICS_EXPORTER). */
	bool metrics;			/* false: OTEL_METRICS_EXPORTER=none */
	uint32_t metric_interval_ms;	/* 60000 */
	uint32_t metric_timeout_ms;	/* 30000 */
	bool endpoint_in_env;		/* an OTLP endpoint came from the
					 * environment: otlp is the default
					 * exporter */
};

/* Settings of one signal after merging signal, generic and default. */
struct otlp_target {
	enum otlp_signal signal;
	char url[OTLP_URL_MAX];		/* full URL of the request */
	enum otlp_protocol protocol;
	struct otlp_header headers[2 * OTLP_HEADERS_MAX];
	uint32_t nheaders;
	uint32_t timeout_ms;
	enum otlp_compression compression;
	const char *certificate;	/* NULL: system CAs */
	const char *client_key;
	const char *client_cert;
};

/* Defaults of the specification. */
void otlp_config_init(struct otlp_config *c);
/* Read OTEL_* variables from env, a NULL-terminated array of "NAME=value"
 * (NULL: the process environment). An empty value counts as unset. An
 * invalid value is reported on err (when not NULL) and leaves the default.
 * Returns the number of invalid values. */
int otlp_config_from_env(struct otlp_config *c, char *const *env, FILE *err);
/* The command-line form of the same settings: name is a long option of
 * OTLP_LONG_OPTIONS without the dashes, arg its argument (NULL for flags).
 * Returns 0, or -1 after printing what is wrong to stderr. */
int otlp_config_option(struct otlp_config *c, const char *name, const char *arg);
/* Merge the settings of one signal; 0, or -1 if its URL is unusable. */
int otlp_config_target(const struct otlp_config *c, enum otlp_signal s,
		       struct otlp_target *t, FILE *err);
/* Parse "k1=v1,k2=v2" with percent-encoded values (the format of
 * OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES). Calls add() for
 * each well-formed member; returns the number of malformed members. */
int otlp_parse_kv_list(const char *s, size_t len,
		       int (*add)(void *ctx, const char *k, size_t klen,
				  const char *v, size_t vlen),
		       void *ctx);
const char *otlp_protocol_name(enum otlp_protocol p);

/* Long options for main's getopt_long() table: every val lies in
 * [OTLP_OPT_FIRST, OTLP_OPT_LAST]; otlp_option_name(val) gives the name to
 * hand to otlp_config_option(). */
#define OTLP_OPT_FIRST 0x4f00
#define OTLP_LONG_OPTIONS \
	{ "otlp-endpoint", required_argument, NULL, OTLP_OPT_FIRST + 0 }, \
	{ "otlp-traces-endpoint", required_argument, NULL, OTLP_OPT_FIRST + 1 }, \
	{ "otlp-metrics-endpoint", required_argument, NULL, OTLP_OPT_FIRST + 2 }, \
	{ "otlp-protocol", required_argument, NULL, OTLP_OPT_FIRST + 3 }, \
	{ "otlp-headers", required_argument, NULL, OTLP_OPT_FIRST + 4 }, \
	{ "otlp-timeout", required_argument, NULL, OTLP_OPT_FIRST + 5 }, \
	{ "otlp-compression", required_argument, NULL, OTLP_OPT_FIRST + 6 }, \
	{ "otlp-certificate", required_argument, NULL, OTLP_OPT_FIRST + 7 }, \
	{ "otlp-client-key", required_argument, NULL, OTLP_OPT_FIRST + 8 }, \
	{ "otlp-client-certificate", required_argument, NULL, OTLP_OPT_FIRST + 9 }, \
	{ "otlp-insecure", no_argument, NULL, OTLP_OPT_FIRST + 10 }, \
	{ "resource-attributes", required_argument, NULL, OTLP_OPT_FIRST + 11 }, \
	{ "otlp-queue-size", required_argument, NULL, OTLP_OPT_FIRST + 12 }, \
	{ "otlp-batch-size", required_argument, NULL, OTLP_OPT_FIRST + 13 }, \
	{ "otlp-batch-delay", required_argument, NULL, OTLP_OPT_FIRST + 14 }, \
	{ "otlp-retry-max-elapsed", required_argument, NULL, OTLP_OPT_FIRST + 15 }, \
	{ "otlp-shutdown-timeout", required_argument, NULL, OTLP_OPT_FIRST + 16 }, \
	{ "metric-export-interval", required_argument, NULL, OTLP_OPT_FIRST + 17 }, \
	{ "no-metrics", no_argument, NULL, OTLP_OPT_FIRST + 18 }, \
	{ "otlp-retry-initial", required_argument, NULL, OTLP_OPT_FIRST + 19 }
#define OTLP_OPT_LAST (OTLP_OPT_FIRST + 19)
const char *otlp_option_name(int val);

/* Usage text of these options, to append to kspan --help. */
extern const char otlp_usage[];

struct otlp_stats {
	unsigned long long received;	/* spans handed to export() */
	unsigned long long sent;	/* accepted by the collector */
	unsigned long long rejected;	/* refused in a partial_success */
	unsigned long long failed;	/* given up: permanent error or
					 * retries exhausted */
	unsigned long long dropped;	/* never sent: queue full, or still
					 * queued at the shutdown deadline */
	unsigned long long retries;	/* requests sent again */
	unsigned long long requests;	/* trace requests sent (with retries) */
	unsigned long long queue;	/* spans waiting now */
	unsigned long long queue_max;	/* most spans ever waiting */
	unsigned long long metric_requests;	/* metric requests, with retries */
	unsigned long long metric_failed;	/* metric exports given up */
	unsigned long long metric_points;	/* data points accepted */
};

/* The OTLP exporter; per_trace is false. Starts its export thread. Call it
 * (and export()) from one thread: it reads /proc facts there. NULL, with a
 * message on stderr, if the configuration is unusable. */
struct exporter *otlp_exporter_new(const struct otlp_config *c);
void otlp_exporter_stats(struct exporter *e, struct otlp_stats *st);
/* One line "kspan: otlp: sent=N failed=N ..." for -v and the exit summary. */
void otlp_exporter_print_counters(struct exporter *e, FILE *f);
struct tcpm;
struct kspan_self_stats;
/* Copies of the TCP metric series (when they changed) and of kspan's own
 * counters, for the next metrics request; either may be NULL. From the
 * thread that calls export(): it reads /proc facts there. */
void otlp_exporter_publish(struct exporter *e, const struct tcpm *tcp,
			   const struct kspan_self_stats *app);

#endif /* __KSPAN_OTLP_H */
