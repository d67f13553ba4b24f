// SPDX-License-Identifier: Apache-2.0
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "proc.h"
#include "strutil.h"

#ifndef KSPAN_VERSION
#define KSPAN_VERSION "0.0.0-dev"
#endif

/* Spans are grouped by pid in chunks of this many; a larger batch may repeat
 * a resource, which OTLP allows. */
#define OTLP_JSON_CHUNK 4096

struct otlp_json_ref {
	uint32_t pid;
	uint32_t idx;
};

/* The document is built in this buffer and handed to stdio in large writes:
 * one locked stdio call per byte or field cost more than the spans' own
 * encoding. When it fills, it is written out and reused. */
#define OTLP_JSON_BUF (256 * 1024)

struct jw {
	FILE *f;
	size_t len;
	bool failed;
	char buf[OTLP_JSON_BUF];
};

struct otlp_json_exporter {
	struct exporter base;
	struct jw w;
	struct otlp_json_ref refs[OTLP_JSON_CHUNK];
};

static void jw_drain(struct jw *w)
{
	if (w->len && fwrite(w->buf, 1, w->len, w->f) != w->len)
		w->failed = true;
	w->len = 0;
}

/* Past the buffer's end: written out first, or straight through if larger. */
static __attribute__((noinline)) void jw_put_slow(struct jw *w, const void *s, size_t n)
{
	jw_drain(w);
	if (n > sizeof(w->buf)) {
		if (fwrite(s, 1, n, w->f) != n)
			w->failed = true;
		return;
	}
	memcpy(w->buf, s, n);
	w->len = n;
}

/* Inlined: most puts are a few bytes, many of a length known at compile
 * time, which the compiler then copies with plain moves. */
static inline __attribute__((always_inline)) void jw_put(struct jw *w, const void *s, size_t n)
{
	if (__builtin_expect(sizeof(w->buf) - w->len < n, 0)) {
		jw_put_slow(w, s, n);
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static inline __attribute__((always_inline)) void jw_c(struct jw *w, char c)
{
	if (__builtin_expect(w->len == sizeof(w->buf), 0))
		jw_drain(w);
	w->buf[w->len++] = c;
}

static void jw_s(struct jw *w, const char *s)
{
	jw_put(w, s, strlen(s));
}

/* A string literal, its length known at compile time. */
#define jw_lit(w, s) jw_put(w, "" s, sizeof(s) - 1)

static void jw_u64(struct jw *w, uint64_t v)
{
	char t[20];
	size_t i = sizeof(t);

	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	jw_put(w, t + i, sizeof(t) - i);
}

static void jw_i64(struct jw *w, int64_t v)
{
	if (v < 0) {
		jw_c(w, '-');
		jw_u64(w, -(uint64_t)v);
	} else {
		jw_u64(w, (uint64_t)v);
	}
}


static void otlp_json_str(struct jw *w, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0;

	jw_c(w, '"');
	while (i < len) {
		unsigned char c = p[i];
		char ubuf[6];
		const char *esc;
		size_t n, elen = 2;

		/* Bytes a JSON string carries as they are (str_json_plain_len);
		 * then controls, quote, backslash, and the start of any
		 * multi-byte sequence (checked as UTF-8). */
		n = str_json_plain_len(p + i, len - i);
		if (n) {
			i += n;
			continue;
		}
		n = 1;
		if (c >= 0x80) {
			n = str_utf8_len(p + i, len - i);
			if (n) {
				i += n;
				continue;
			}
			n = 1;
			esc = "\\ufffd";
			elen = 6;
		} else if (c == '"') {
			esc = "\\\"";
		} else if (c == '\\') {
			esc = "\\\\";
		} else if (c == '\n') {
			esc = "\\n";
		} else if (c == '\r') {
			esc = "\\r";
		} else if (c == '\t') {
			esc = "\\t";
		} else {
			memcpy(ubuf, "\\u00", 4);
			ubuf[4] = hex[c >> 4];
			ubuf[5] = hex[c & 0xf];
			esc = ubuf;
			elen = 6;
		}
		jw_put(w, p + start, i - start);
		jw_put(w, esc, elen);
		i += n;
		start = i;
	}
	jw_put(w, p + start, len - start);
	jw_c(w, '"');
}

static void otlp_json_cstr(struct jw *w, const char *s)
{
	otlp_json_str(w, s, strlen(s));
}

static void otlp_json_hex(struct jw *w, const uint8_t *id, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char t[2 * 16 + 2];
	size_t n = 0;

	if (len > 16)
		len = 16;
	t[n++] = '"';
	for (size_t i = 0; i < len; i++) {
		t[n++] = hex[id[i] >> 4];
		t[n++] = hex[id[i] & 0xf];
	}
	t[n++] = '"';
	jw_put(w, t, n);
}

static bool otlp_json_is_zero(const uint8_t *id, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (id[i])
			return false;
	return true;
}

/* Shortest round-trip digits, laid out as Go's encoding/json does: plain
 * decimal for 1e-6 <= |v| < 1e21, else exponent form. */
static void otlp_json_double(struct jw *w, double v)
{
	char buf[40], digits[24];
	size_t nd = 0;
	int exp, dp;
	char *e;

	if (isnan(v)) {
		jw_lit(w, "\"NaN\"");
		return;
	}
	if (isinf(v)) {
		jw_s(w, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		return;
	}
	if (v == 0) {
		jw_s(w, signbit(v) ? "-0" : "0");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	e = strchr(buf, 'e');
	if (!e) {
		jw_c(w, '0');
		return;
	}
	for (char *p = buf; p < e && nd < sizeof(digits) - 1; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	digits[nd] = '\0';
	exp = atoi(e + 1);
	if (v < 0)
		jw_c(w, '-');

	if (fabs(v) < 1e-6 || fabs(v) >= 1e21) {
		jw_c(w, digits[0]);
		if (nd > 1) {
			jw_c(w, '.');
			jw_s(w, digits + 1);
		}
		snprintf(buf, sizeof(buf), exp < 0 ? "e-%d" : "e+%02d", exp < 0 ? -exp : exp);
		jw_s(w, buf);
		return;
	}
	dp = exp + 1;
	if (dp <= 0) {
		jw_lit(w, "0.");
		for (int i = 0; i < -dp; i++)
			jw_c(w, '0');
		jw_s(w, digits);
	} else if ((size_t)dp >= nd) {
		jw_s(w, digits);
		for (size_t i = nd; i < (size_t)dp; i++)
			jw_c(w, '0');
	} else {
		jw_put(w, digits, dp);
		jw_c(w, '.');
		jw_s(w, digits + dp);
	}
}

/* Keys are written as they are: semconv names and baggage keys, tokens
 * that hold nothing JSON escapes (span.h). */
static void otlp_json_key(struct jw *w, bool *first, const char *key)
{
	if (!*first)
		jw_c(w, ',');
	*first = false;
	jw_lit(w, "{\"key\":\"");
	jw_s(w, key);
	jw_lit(w, "\",\"value\":");
}

static void otlp_json_kv_str(struct jw *w, bool *first, const char *key,
			     const char *val, size_t len)
{
	otlp_json_key(w, first, key);
	jw_lit(w, "{\"stringValue\":");
	otlp_json_str(w, val, len);
	jw_lit(w, "}}");
}

static void otlp_json_kv_int(struct jw *w, bool *first, const char *key, int64_t v)
{
	otlp_json_key(w, first, key);
	jw_lit(w, "{\"intValue\":\"");
	jw_i64(w, v);
	jw_lit(w, "\"}}");
}

static void otlp_json_attr(struct jw *w, bool *first, const struct span *s,
			   const struct span_attr *a)
{
	size_t off, len;

	if (!a->key)
		return;
	switch (a->type) {
	case SPAN_ATTR_STR:
		off = a->v.s.off < SPAN_STRBUF ? a->v.s.off : SPAN_STRBUF;
		len = a->v.s.len < SPAN_STRBUF - off ? a->v.s.len : SPAN_STRBUF - off;
		otlp_json_kv_str(w, first, a->key, s->strbuf + off, len);
		break;
	case SPAN_ATTR_INT:
		otlp_json_kv_int(w, first, a->key, a->v.i);
		break;
	case SPAN_ATTR_BOOL:
		otlp_json_key(w, first, a->key);
		jw_s(w, a->v.b ? "{\"boolValue\":true}}" : "{\"boolValue\":false}}");
		break;
	case SPAN_ATTR_DOUBLE:
		otlp_json_key(w, first, a->key);
		jw_lit(w, "{\"doubleValue\":");
		otlp_json_double(w, a->v.d);
		jw_lit(w, "}}");
		break;
	}
}

static void otlp_json_span(struct jw *w, const struct span *s)
{
	size_t nattrs = s->nattrs < SPAN_MAX_ATTRS ? s->nattrs : SPAN_MAX_ATTRS;
	bool first = true;

	jw_lit(w, "{\"traceId\":");
	otlp_json_hex(w, s->trace_id, sizeof(s->trace_id));
	jw_lit(w, ",\"spanId\":");
	otlp_json_hex(w, s->span_id, sizeof(s->span_id));
	if (!otlp_json_is_zero(s->parent_span_id, sizeof(s->parent_span_id))) {
		jw_lit(w, ",\"parentSpanId\":");
		otlp_json_hex(w, s->parent_span_id, sizeof(s->parent_span_id));
	}
	if (s->trace_flags) {
		jw_lit(w, ",\"flags\":");
		jw_u64(w, s->trace_flags);
	}
	jw_lit(w, ",\"name\":");
	otlp_json_str(w, s->name, strnlen(s->name, sizeof(s->name)));
	if (s->kind) {
		jw_lit(w, ",\"kind\":");
		jw_u64(w, s->kind);
	}
	jw_lit(w, ",\"startTimeUnixNano\":\"");
	jw_u64(w, s->start_ns);
	jw_lit(w, "\",\"endTimeUnixNano\":\"");
	jw_u64(w, s->end_ns);
	jw_c(w, '"');
	if (nattrs) {
		jw_lit(w, ",\"attributes\":[");
		for (size_t i = 0; i < nattrs; i++)
			otlp_json_attr(w, &first, s, &s->attrs[i]);
		jw_c(w, ']');
	}
	if (s->attrs_dropped) {
		jw_lit(w, ",\"droppedAttributesCount\":");
		jw_u64(w, s->attrs_dropped);
	}
	if (s->status) {
		jw_lit(w, ",\"status\":{\"code\":");
		jw_u64(w, s->status);
		jw_c(w, '}');
	}
	jw_c(w, '}');
}

/* Opens a ResourceSpans object and writes its resource. */
static void otlp_json_resource(struct jw *w, uint32_t pid)
{
	const struct proc_info *pi = proc_info_get(pid);
	const char *host = proc_host_name();
	bool first = true;

	jw_lit(w, "{\"resource\":{\"attributes\":[");
	otlp_json_kv_str(w, &first, "service.name", pi->service_name,
			 strnlen(pi->service_name, sizeof(pi->service_name)));
	otlp_json_kv_int(w, &first, "process.pid", pid);
	otlp_json_kv_str(w, &first, "process.executable.name", pi->exe_name,
			 strnlen(pi->exe_name, sizeof(pi->exe_name)));
	if (pi->exe_path[0])
		otlp_json_kv_str(w, &first, "process.executable.path", pi->exe_path,
				 strnlen(pi->exe_path, sizeof(pi->exe_path)));
	if (pi->command_line[0])
		otlp_json_kv_str(w, &first, "process.command_line", pi->command_line,
				 strnlen(pi->command_line, sizeof(pi->command_line)));
	otlp_json_kv_str(w, &first, "host.name", host, strlen(host));
	otlp_json_kv_str(w, &first, "telemetry.distro.name", "kspan", 5);
	otlp_json_kv_str(w, &first, "telemetry.distro.version", KSPAN_VERSION,
			 strlen(KSPAN_VERSION));
	jw_lit(w, "]}");
}

static int otlp_json_ref_cmp(const void *a, const void *b)
{
	const struct otlp_json_ref *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int otlp_json_export(struct exporter *e, const struct span *const *spans, size_t n)
{
	struct otlp_json_exporter *x = (struct otlp_json_exporter *)e;
	struct otlp_json_ref *refs = x->refs;
	struct jw *w = &x->w;
	bool first = true;

	if (!n)
		return 0;
	jw_lit(w, "{\"resourceSpans\":[");
	for (size_t base = 0; base < n; base += OTLP_JSON_CHUNK) {
		size_t m = n - base < OTLP_JSON_CHUNK ? n - base : OTLP_JSON_CHUNK;
		size_t i = 0, j;

		for (size_t k = 0; k < m; k++) {
			refs[k].pid = spans[base + k]->pid;
			refs[k].idx = (uint32_t)k;
		}
		qsort(refs, m, sizeof(*refs), otlp_json_ref_cmp);
		while (i < m) {
			for (j = i; j < m && refs[j].pid == refs[i].pid; j++)
				;
			if (!first)
				jw_c(w, ',');
			first = false;
			otlp_json_resource(w, refs[i].pid);
			jw_lit(w, ",\"scopeSpans\":[{\"scope\":{\"name\":\"kspan\",\"version\":");
			otlp_json_cstr(w, KSPAN_VERSION);
			jw_lit(w, "},\"spans\":[");
			for (size_t k = i; k < j; k++) {
				if (k > i)
					jw_c(w, ',');
				otlp_json_span(w, spans[base + refs[k].idx]);
			}
			jw_lit(w, "]}]}");
			i = j;
		}
	}
	jw_lit(w, "]}\n");
	jw_drain(w);
	if (fflush(w->f) || ferror(w->f) || w->failed) {
		clearerr(w->f);
		w->failed = false;
		e->export_errors++;
		return -1;
	}
	e->spans_exported += n;
	return 0;
}

static int otlp_json_flush(struct exporter *e)
{
	struct otlp_json_exporter *x = (struct otlp_json_exporter *)e;

	return fflush(x->w.f) ? -1 : 0;
}

static void otlp_json_destroy(struct exporter *e)
{
	free(e);
}

struct exporter *otlp_json_exporter_new(FILE *out)
{
	struct otlp_json_exporter *x;

	if (!out)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->base.name = "otlp-json";
	x->base.export = otlp_json_export;
	x->base.flush = otlp_json_flush;
	x->base.destroy = otlp_json_destroy;
	x->w.f = out;
	return &x->base;
}
