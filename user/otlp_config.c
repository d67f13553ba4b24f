// SPDX-License-Identifier: Apache-2.0
/* OTLP exporter settings from the environment, as the OpenTelemetry
 * specification names them, and from kspan's long options. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "otlp.h"
#include "strutil.h"

extern char **environ;

#define OTLP_DEFAULT_HTTP	"http://localhost:4318"
#define OTLP_DEFAULT_GRPC	"http://localhost:4317"

static const char *const otlp_sig_prefix[OTLP_SIGNALS] = {
	[OTLP_TRACES] = "OTEL_EXPORTER_OTLP_TRACES_",
	[OTLP_METRICS] = "OTEL_EXPORTER_OTLP_METRICS_",
};

static const char *const otlp_http_path[OTLP_SIGNALS] = {
	[OTLP_TRACES] = "/v1/traces",
	[OTLP_METRICS] = "/v1/metrics",
};

static const char *const otlp_grpc_path[OTLP_SIGNALS] = {
	[OTLP_TRACES] = "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	[OTLP_METRICS] = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
};

const char otlp_usage[] =
"OTLP export (--exporter otlp; also the default when OTEL_EXPORTER_OTLP_ENDPOINT\n"
"or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set). Each option overrides the\n"
"OTEL_EXPORTER_OTLP_* variable of the same name:\n"
"      --otlp-endpoint URL       base URL; /v1/traces and /v1/metrics are\n"
"                                appended (default http://localhost:4318, or\n"
"                                http://localhost:4317 for grpc)\n"
"      --otlp-traces-endpoint URL, --otlp-metrics-endpoint URL\n"
"                                full URL of one signal, used as given\n"
"      --otlp-protocol P         http/protobuf (default), http/json or grpc\n"
"      --otlp-headers K=V,...    extra request headers (values percent-encoded)\n"
"      --otlp-timeout MS         time limit of one request (default 10000)\n"
"      --otlp-compression C      gzip or none (default none)\n"
"      --otlp-certificate FILE   CA certificates (PEM) to verify the collector\n"
"      --otlp-client-key FILE, --otlp-client-certificate FILE\n"
"                                client key and certificate (PEM) for mTLS\n"
"      --otlp-insecure           grpc endpoint without a scheme: plaintext\n"
"      --resource-attributes K=V,...\n"
"                                added to every resource (as\n"
"                                OTEL_RESOURCE_ATTRIBUTES)\n"
"      --otlp-queue-size N       spans waiting for export at most (default 2048;\n"
"                                more are dropped and counted)\n"
"      --otlp-batch-size N       spans per request at most (default 512)\n"
"      --otlp-batch-delay MS     send what is queued at least this often\n"
"                                (default 5000)\n"
"      --otlp-retry-initial MS   first retry backoff (default 1000)\n"
"      --otlp-retry-max-elapsed MS\n"
"                                give up a request retried this long (default\n"
"                                60000)\n"
"      --otlp-shutdown-timeout MS\n"
"                                on exit, flush for at most this long (default\n"
"                                10000)\n"
"      --metric-export-interval MS\n"
"                                send metrics this often (default 60000;\n"
"                                OTEL_METRIC_EXPORT_INTERVAL): HTTP request\n"
"                                durations, TCP connect time, RTT,\n"
"                                retransmits and failed connects per peer,\n"
"                                and kspan's own counters\n"
"      --no-metrics              send no metrics (OTEL_METRICS_EXPORTER=none)\n";

static const char *const otlp_opt_names[] = {
	"otlp-endpoint", "otlp-traces-endpoint", "otlp-metrics-endpoint",
	"otlp-protocol", "otlp-headers", "otlp-timeout", "otlp-compression",
	"otlp-certificate", "otlp-client-key", "otlp-client-certificate",
	"otlp-insecure", "resource-attributes", "otlp-queue-size",
	"otlp-batch-size", "otlp-batch-delay", "otlp-retry-max-elapsed",
	"otlp-shutdown-timeout", "metric-export-interval", "no-metrics",
	"otlp-retry-initial",
};

const char *otlp_option_name(int val)
{
	if (val < OTLP_OPT_FIRST || val > OTLP_OPT_LAST)
		return NULL;
	return otlp_opt_names[val - OTLP_OPT_FIRST];
}

const char *otlp_protocol_name(enum otlp_protocol p)
{
	switch (p) {
	case OTLP_PROTO_HTTP_JSON:
		return "http/json";
	case OTLP_PROTO_GRPC:
		return "grpc";
	default:
		return "http/protobuf";
	}
}

void otlp_config_init(struct otlp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->queue_size = 2048;
	c->batch_size = 512;
	c->batch_delay_ms = 5000;
	c->retry_initial_ms = 1000;
	c->retry_max_backoff_ms = 16000;
	c->retry_max_elapsed_ms = 60000;
	c->shutdown_timeout_ms = 10000;
	c->metrics = true;
	c->metric_interval_ms = 60000;
	c->metric_timeout_ms = 30000;
}

static bool otlp_copy(char *dst, size_t dstsz, const char *s, size_t len)
{
	if (len >= dstsz)
		return false;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return true;
}

/* Percent-decode s[0..len) into dst; -1 on a bad escape, a NUL, or no room. */
static int otlp_pct_decode(char *dst, size_t dstsz, const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = str_hexval(s[i + 1]);
			lo = str_hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0' || n + 1 >= dstsz)
			return -1;
		dst[n++] = c;
	}
	if (!dstsz)
		return -1;
	dst[n] = '\0';
	return (int)n;
}

static void otlp_trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

int otlp_parse_kv_list(const char *s, size_t len,
		       int (*add)(void *ctx, const char *k, size_t klen,
				  const char *v, size_t vlen),
		       void *ctx)
{
	size_t i = 0;
	int bad = 0;

	while (i < len) {
		const char *m = s + i, *eq, *k, *v;
		size_t mlen, klen, vlen;

		while (i < len && s[i] != ',')
			i++;
		mlen = s + i - m;
		i++;
		k = m;
		klen = mlen;
		otlp_trim(&k, &klen);
		if (!klen)
			continue;	/* "a=1,,b=2" or a trailing comma */
		eq = memchr(m, '=', mlen);
		if (!eq) {
			bad++;
			continue;
		}
		klen = eq - m;
		k = m;
		otlp_trim(&k, &klen);
		v = eq + 1;
		vlen = m + mlen - v;
		otlp_trim(&v, &vlen);
		if (!klen || add(ctx, k, klen, v, vlen))
			bad++;
	}
	return bad;
}

static bool otlp_is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}

static int otlp_add_header(void *ctx, const char *k, size_t klen,
			   const char *v, size_t vlen)
{
	struct otlp_settings *s = ctx;
	struct otlp_header *h;
	char name[OTLP_HNAME_MAX];
	int n;

	if (klen >= sizeof(name))
		return -1;
	for (size_t i = 0; i < klen; i++)
		if (!otlp_is_tchar(k[i]))
			return -1;
	memcpy(name, k, klen);
	name[klen] = '\0';
	for (h = s->headers; h < s->headers + s->nheaders; h++)
		if (strcasecmp(h->name, name) == 0)
			break;
	if (h == s->headers + OTLP_HEADERS_MAX)
		return -1;
	n = otlp_pct_decode(h->value, sizeof(h->value), v, vlen);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (h->value[i] == '\r' || h->value[i] == '\n')
			return -1;
	strcpy(h->name, name);
	if (h == s->headers + s->nheaders)
		s->nheaders++;
	return 0;
}

struct otlp_res_ctx {
	struct otlp_kv kv[OTLP_RES_ATTRS_MAX];
	uint32_t n;
};

static int otlp_add_res(void *ctx, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct otlp_res_ctx *r = ctx;
	struct otlp_kv *kv;

	for (kv = r->kv; kv < r->kv + r->n; kv++)
		if (strlen(kv->key) == klen && memcmp(kv->key, k, klen) == 0)
			break;
	if (kv == r->kv + OTLP_RES_ATTRS_MAX)
		return -1;
	if (!otlp_copy(kv->key, sizeof(kv->key), k, klen) ||
	    otlp_pct_decode(kv->value, sizeof(kv->value), v, vlen) < 0)
		return -1;
	if (kv == r->kv + r->n)
		r->n++;
	return 0;
}

/* A report and the default: the value is not used. */
static int otlp_bad(FILE *err, const char *what, const char *val, const char *hint)
{
	/* The command line stops kspan; the environment only warns. */
	if (err)
		log_to(err, what[0] == '-' ? KLOG_ERROR : KLOG_WARN, "invalid %s '%s': %s%s",
		       what, val, hint, what[0] == '-' ? "" : "; ignoring it");
	return 1;
}

static int otlp_set_protocol(struct otlp_settings *s, const char *what, const char *v,
			     FILE *err)
{
	if (strcmp(v, "http/protobuf") == 0)
		s->protocol = OTLP_PROTO_HTTP_PROTOBUF;
	else if (strcmp(v, "http/json") == 0)
		s->protocol = OTLP_PROTO_HTTP_JSON;
	else if (strcmp(v, "grpc") == 0)
		s->protocol = OTLP_PROTO_GRPC;
	else
		return otlp_bad(err, what, v, "use grpc, http/protobuf or http/json");
	s->set |= OTLP_SET_PROTOCOL;
	return 0;
}

static int otlp_parse_ms(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
	unsigned long long n;
	char *end;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || n < lo || n > hi)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

static int otlp_set_timeout(struct otlp_settings *s, const char *what, const char *v,
			    FILE *err)
{
	if (otlp_parse_ms(v, 1, 3600000, &s->timeout_ms))
		return otlp_bad(err, what, v, "expected milliseconds from 1 to 3600000");
	s->set |= OTLP_SET_TIMEOUT;
	return 0;
}

static int otlp_set_compression(struct otlp_settings *s, const char *what, const char *v,
				FILE *err)
{
	if (strcmp(v, "gzip") == 0)
		s->compression = OTLP_COMPRESS_GZIP;
	else if (strcmp(v, "none") == 0)
		s->compression = OTLP_COMPRESS_NONE;
	else
		return otlp_bad(err, what, v, "use gzip or none");
	s->set |= OTLP_SET_COMPRESSION;
	return 0;
}

static int otlp_set_headers(struct otlp_settings *s, const char *what, const char *v,
			    FILE *err)
{
	struct otlp_settings tmp = { .nheaders = 0 };
	int bad = otlp_parse_kv_list(v, strlen(v), otlp_add_header, &tmp);

	if (bad && err)
		log_to(err, KLOG_WARN, "%d malformed member(s) in %s: each must be name=value "
		       "with a valid header name, a percent-encoded value and at most %d "
		       "headers; skipping them", bad, what, OTLP_HEADERS_MAX);
	memcpy(s->headers, tmp.headers, sizeof(s->headers));
	s->nheaders = tmp.nheaders;
	s->set |= OTLP_SET_HEADERS;
	return bad ? 1 : 0;
}

static int otlp_set_str(char *dst, size_t dstsz, struct otlp_settings *s, uint32_t bit,
			const char *what, const char *v, FILE *err)
{
	bool bad_char = false;

	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			bad_char = true;
	if (bad_char || !otlp_copy(dst, dstsz, v, strlen(v)))
		return otlp_bad(err, what, v, bad_char ? "it has control characters" :
				"too long");
	s->set |= bit;
	return 0;
}

static int otlp_set_bool(bool *dst, struct otlp_settings *s, uint32_t bit, const char *what,
			 const char *v, FILE *err)
{
	if (strcasecmp(v, "true") == 0)
		*dst = true;
	else if (strcasecmp(v, "false") == 0)
		*dst = false;
	else
		return otlp_bad(err, what, v, "use true or false");
	if (s)
		s->set |= bit;
	return 0;
}

static int otlp_set_resource(struct otlp_config *c, const char *what, const char *v,
			     FILE *err)
{
	struct otlp_res_ctx *r = calloc(1, sizeof(*r));
	int bad;

	if (!r)
		return otlp_bad(err, what, v, "out of memory");
	bad = otlp_parse_kv_list(v, strlen(v), otlp_add_res, r);
	/* The specification: on any error the whole value is discarded. */
	if (bad) {
		free(r);
		return otlp_bad(err, what, v, "each member must be key=value with a "
				"percent-encoded value (at most 32), so the whole value");
	}
	memcpy(c->resource, r->kv, sizeof(c->resource));
	c->nresource = r->n;
	free(r);
	return 0;
}

/* The OTEL_EXPORTER_OTLP_{,TRACES_,METRICS_}* variables of one level. */
static int otlp_env_settings(struct otlp_settings *s, const char *prefix, char *const *env,
			     FILE *err, bool *endpoint)
{
	char name[96];
	const char *v;
	int bad = 0;

#define OTLP_ENV(suffix) \
	(snprintf(name, sizeof(name), "%s%s", prefix, suffix), v = str_env_get(env, name))
	if (OTLP_ENV("ENDPOINT")) {
		bad += otlp_set_str(s->endpoint, sizeof(s->endpoint), s, OTLP_SET_ENDPOINT,
				    name, v, err);
		*endpoint = *endpoint || (s->set & OTLP_SET_ENDPOINT);
	}
	if (OTLP_ENV("PROTOCOL"))
		bad += otlp_set_protocol(s, name, v, err);
	if (OTLP_ENV("HEADERS"))
		bad += otlp_set_headers(s, name, v, err);
	if (OTLP_ENV("TIMEOUT"))
		bad += otlp_set_timeout(s, name, v, err);
	if (OTLP_ENV("COMPRESSION"))
		bad += otlp_set_compression(s, name, v, err);
	if (OTLP_ENV("CERTIFICATE"))
		bad += otlp_set_str(s->certificate, sizeof(s->certificate), s,
				    OTLP_SET_CERTIFICATE, name, v, err);
	if (OTLP_ENV("CLIENT_KEY"))
		bad += otlp_set_str(s->client_key, sizeof(s->client_key), s,
				    OTLP_SET_CLIENT_KEY, name, v, err);
	if (OTLP_ENV("CLIENT_CERTIFICATE"))
		bad += otlp_set_str(s->client_cert, sizeof(s->client_cert), s,
				    OTLP_SET_CLIENT_CERT, name, v, err);
	if (OTLP_ENV("INSECURE"))
		bad += otlp_set_bool(&s->insecure, s, OTLP_SET_INSECURE, name, v, err);
#undef OTLP_ENV
	return bad;
}

static int otlp_env_ms(char *const *env, const char *name, uint32_t lo, uint32_t hi,
		       uint32_t *out, FILE *err)
{
	const char *v = str_env_get(env, name);
	char hint[96];

	if (!v)
		return 0;
	if (!otlp_parse_ms(v, lo, hi, out))
		return 0;
	snprintf(hint, sizeof(hint), "expected a number from %u to %u (default %u)", lo, hi,
		 *out);
	return otlp_bad(err, name, v, hint);
}

int otlp_config_from_env(struct otlp_config *c, char *const *env, FILE *err)
{
	const char *v;
	int bad = 0;

	if (!env)
		env = environ;
	bad += otlp_env_settings(&c->generic, "OTEL_EXPORTER_OTLP_", env, err,
				 &c->endpoint_in_env);
	for (int s = 0; s < OTLP_SIGNALS; s++) {
		bool ep = false;

		bad += otlp_env_settings(&c->sig[s], otlp_sig_prefix[s], env, err, &ep);
		/* Only a traces endpoint makes otlp the default exporter. */
		if (s == OTLP_TRACES && ep)
			c->endpoint_in_env = true;
	}
	v = str_env_get(env, "OTEL_RESOURCE_ATTRIBUTES");
	if (v)
		bad += otlp_set_resource(c, "OTEL_RESOURCE_ATTRIBUTES", v, err);
	bad += otlp_env_ms(env, "OTEL_BSP_SCHEDULE_DELAY", 1, 3600000, &c->batch_delay_ms, err);
	bad += otlp_env_ms(env, "OTEL_BSP_MAX_QUEUE_SIZE", 1, 1 << 20, &c->queue_size, err);
	bad += otlp_env_ms(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1, 1 << 20, &c->batch_size,
			   err);
	if (c->batch_size > c->queue_size) {
		if (err)
			log_to(err, KLOG_WARN, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE %u is larger than "
			       "OTEL_BSP_MAX_QUEUE_SIZE %u: using %u", c->batch_size,
			       c->queue_size, c->queue_size);
		c->batch_size = c->queue_size;
		bad++;
	}
	bad += otlp_env_ms(env, "OTEL_METRIC_EXPORT_INTERVAL", 1, 86400000,
			   &c->metric_interval_ms, err);
	bad += otlp_env_ms(env, "OTEL_METRIC_EXPORT_TIMEOUT", 1, 3600000,
			   &c->metric_timeout_ms, err);
	v = str_env_get(env, "OTEL_METRICS_EXPORTER");
	if (v) {
		if (strcmp(v, "none") == 0)
			c->metrics = false;
		else if (strcmp(v, "otlp") == 0)
			c->metrics = true;
		else
			bad += otlp_bad(err, "OTEL_METRICS_EXPORTER", v,
					"kspan sends metrics with otlp or not at all (none)");
	}
	return bad;
}

static int otlp_opt_ms(const char *name, const char *arg, uint32_t lo, uint32_t hi,
		       uint32_t *out)
{
	if (!arg || otlp_parse_ms(arg, lo, hi, out)) {
		log_error("invalid --%s '%s': expected a number from %u to %u",
			  name, arg ? arg : "", lo, hi);
		return -1;
	}
	return 0;
}

int otlp_config_option(struct otlp_config *c, const char *name, const char *arg)
{
	struct otlp_settings *g = &c->generic;
	char what[64];
	int bad = 0;

	if (!name)
		return -1;
	snprintf(what, sizeof(what), "--%s", name);
	if (strcmp(name, "otlp-insecure") == 0) {
		g->insecure = true;
		g->set |= OTLP_SET_INSECURE;
		return 0;
	}
	if (strcmp(name, "no-metrics") == 0) {
		c->metrics = false;
		return 0;
	}
	if (!arg || !*arg) {
		log_error("%s needs a value", what);
		return -1;
	}
	if (strcmp(name, "otlp-endpoint") == 0) {
		bad = otlp_set_str(g->endpoint, sizeof(g->endpoint), g, OTLP_SET_ENDPOINT,
				   what, arg, stderr);
		/* The command line wins over a signal's endpoint from the
		 * environment. */
		for (int s = 0; s < OTLP_SIGNALS && !bad; s++)
			c->sig[s].set &= ~OTLP_SET_ENDPOINT;
	} else if (strcmp(name, "otlp-traces-endpoint") == 0) {
		bad = otlp_set_str(c->sig[OTLP_TRACES].endpoint,
				   sizeof(c->sig[OTLP_TRACES].endpoint), &c->sig[OTLP_TRACES],
				   OTLP_SET_ENDPOINT, what, arg, stderr);
	} else if (strcmp(name, "otlp-metrics-endpoint") == 0) {
		bad = otlp_set_str(c->sig[OTLP_METRICS].endpoint,
				   sizeof(c->sig[OTLP_METRICS].endpoint), &c->sig[OTLP_METRICS],
				   OTLP_SET_ENDPOINT, what, arg, stderr);
	} else if (strcmp(name, "otlp-protocol") == 0) {
		bad = otlp_set_protocol(g, what, arg, stderr);
		for (int s = 0; s < OTLP_SIGNALS && !bad; s++)
			c->sig[s].set &= ~OTLP_SET_PROTOCOL;
	} else if (strcmp(name, "otlp-headers") == 0) {
		bad = otlp_set_headers(g, what, arg, stderr);
	} else if (strcmp(name, "otlp-timeout") == 0) {
		bad = otlp_set_timeout(g, what, arg, stderr);
		for (int s = 0; s < OTLP_SIGNALS && !bad; s++)
			c->sig[s].set &= ~OTLP_SET_TIMEOUT;
	} else if (strcmp(name, "otlp-compression") == 0) {
		bad = otlp_set_compression(g, what, arg, stderr);
		for (int s = 0; s < OTLP_SIGNALS && !bad; s++)
			c->sig[s].set &= ~OTLP_SET_COMPRESSION;
	} else if (strcmp(name, "otlp-certificate") == 0) {
		bad = otlp_set_str(g->certificate, sizeof(g->certificate), g,
				   OTLP_SET_CERTIFICATE, what, arg, stderr);
	} else if (strcmp(name, "otlp-client-key") == 0) {
		bad = otlp_set_str(g->client_key, sizeof(g->client_key), g,
				   OTLP_SET_CLIENT_KEY, what, arg, stderr);
	} else if (strcmp(name, "otlp-client-certificate") == 0) {
		bad = otlp_set_str(g->client_cert, sizeof(g->client_cert), g,
				   OTLP_SET_CLIENT_CERT, what, arg, stderr);
	} else if (strcmp(name, "resource-attributes") == 0) {
		bad = otlp_set_resource(c, what, arg, stderr);
	} else if (strcmp(name, "otlp-queue-size") == 0) {
		return otlp_opt_ms(name, arg, 1, 1 << 20, &c->queue_size);
	} else if (strcmp(name, "otlp-batch-size") == 0) {
		return otlp_opt_ms(name, arg, 1, 1 << 20, &c->batch_size);
	} else if (strcmp(name, "otlp-batch-delay") == 0) {
		return otlp_opt_ms(name, arg, 1, 3600000, &c->batch_delay_ms);
	} else if (strcmp(name, "otlp-retry-initial") == 0) {
		return otlp_opt_ms(name, arg, 1, 600000, &c->retry_initial_ms);
	} else if (strcmp(name, "otlp-retry-max-elapsed") == 0) {
		return otlp_opt_ms(name, arg, 0, 3600000, &c->retry_max_elapsed_ms);
	} else if (strcmp(name, "otlp-shutdown-timeout") == 0) {
		return otlp_opt_ms(name, arg, 0, 600000, &c->shutdown_timeout_ms);
	} else if (strcmp(name, "metric-export-interval") == 0) {
		return otlp_opt_ms(name, arg, 100, 86400000, &c->metric_interval_ms);
	} else {
		log_error("unknown OTLP option --%s", name);
		return -1;
	}
	return bad ? -1 : 0;
}

/* Length of "scheme://authority" at the start of url, 0 if url has no
 * http(s) scheme or no host. */
static size_t otlp_url_origin(const char *url, bool *https)
{
	const char *p;
	size_t n;

	if (strncasecmp(url, "http://", 7) == 0) {
		*https = false;
		p = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		*https = true;
		p = url + 8;
	} else {
		return 0;
	}
	n = strcspn(p, "/?#");
	if (!n || memchr(p, ' ', n))
		return 0;
	return p + n - url;
}

int otlp_config_target(const struct otlp_config *c, enum otlp_signal s,
		       struct otlp_target *t, FILE *err)
{
	const struct otlp_settings *g = &c->generic, *sg = &c->sig[s];
	char buf[OTLP_URL_MAX + 16];
	const char *base = NULL;
	bool https, as_given = false;
	size_t origin;
	int ret = 0;

	memset(t, 0, sizeof(*t));
	t->signal = s;
	t->protocol = sg->set & OTLP_SET_PROTOCOL ? sg->protocol :
		      g->set & OTLP_SET_PROTOCOL ? g->protocol : OTLP_PROTO_HTTP_PROTOBUF;
	t->timeout_ms = sg->set & OTLP_SET_TIMEOUT ? sg->timeout_ms :
			g->set & OTLP_SET_TIMEOUT ? g->timeout_ms : 10000;
	t->compression = sg->set & OTLP_SET_COMPRESSION ? sg->compression :
			 g->set & OTLP_SET_COMPRESSION ? g->compression : OTLP_COMPRESS_NONE;
#define OTLP_PICK(bit, field) \
	(sg->set & (bit) ? sg->field : g->set & (bit) ? g->field : NULL)
	t->certificate = OTLP_PICK(OTLP_SET_CERTIFICATE, certificate);
	t->client_key = OTLP_PICK(OTLP_SET_CLIENT_KEY, client_key);
	t->client_cert = OTLP_PICK(OTLP_SET_CLIENT_CERT, client_cert);
#undef OTLP_PICK
	/* Generic headers, then the signal's, which replace same names. */
	for (int lvl = 0; lvl < 2; lvl++) {
		const struct otlp_settings *src = lvl ? sg : g;

		if (!(src->set & OTLP_SET_HEADERS))
			continue;
		for (uint32_t i = 0; i < src->nheaders; i++) {
			uint32_t j;

			for (j = 0; j < t->nheaders; j++)
				if (strcasecmp(t->headers[j].name, src->headers[i].name) == 0)
					break;
			t->headers[j] = src->headers[i];
			if (j == t->nheaders)
				t->nheaders++;
		}
	}

	if (sg->set & OTLP_SET_ENDPOINT) {
		base = sg->endpoint;
		as_given = true;
	} else if (g->set & OTLP_SET_ENDPOINT) {
		base = g->endpoint;
	}
	if (base && t->protocol == OTLP_PROTO_GRPC && !strstr(base, "://")) {
		bool insecure = sg->set & OTLP_SET_INSECURE ? sg->insecure : g->insecure;

		/* host:port, as gRPC exporters accept it. */
		snprintf(buf, sizeof(buf), "%s://%s", insecure ? "http" : "https", base);
		base = buf;
	}
	origin = base ? otlp_url_origin(base, &https) : 0;
	if (base && !origin) {
		if (err)
			log_to(err, KLOG_WARN, "invalid OTLP %s endpoint '%s': expected an "
			       "http:// or https:// URL with a host; using the default",
			       s == OTLP_TRACES ? "traces" : "metrics", base);
		base = NULL;
		ret = -1;
	}
	if (!base) {
		base = t->protocol == OTLP_PROTO_GRPC ? OTLP_DEFAULT_GRPC : OTLP_DEFAULT_HTTP;
		origin = strlen(base);
		as_given = false;
	}
	if (t->protocol == OTLP_PROTO_GRPC) {
		/* gRPC names the method in the path; only the origin counts. */
		snprintf(t->url, sizeof(t->url), "%.*s%s", (int)origin, base, otlp_grpc_path[s]);
	} else if (as_given) {
		size_t n = strnlen(base, sizeof(t->url) - 1);

		memcpy(t->url, base, n);
		t->url[n] = '\0';
	} else {
		size_t n = strlen(base);

		while (n > origin && base[n - 1] == '/')
			n--;
		snprintf(t->url, sizeof(t->url), "%.*s%s", (int)n, base, otlp_http_path[s]);
	}
	return ret;
}
