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

struct otlp_json_exporter {
	struct exporter base;
	FILE *out;
	struct otlp_json_ref refs[OTLP_JSON_CHUNK];
};

static void otlp_json_str(FILE *f, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0;

	fputc('"', f);
	while (i < len) {
		unsigned char c = p[i];
		char ubuf[7];
		const char *esc;
		size_t n = 1;

		if (c >= 0x80) {
			n = str_utf8_len(p + i, len - i);
			if (n) {
				i += n;
				continue;
			}
			n = 1;
			esc = "\\ufffd";
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
		} else if (c < 0x20) {
			memcpy(ubuf, "\\u00", 4);
			ubuf[4] = hex[c >> 4];
			ubuf[5] = hex[c & 0xf];
			ubuf[6] = '\0';
			esc = ubuf;
		} else {
			i++;
			continue;
		}
		fwrite(p + start, 1, i - start, f);
		fputs(esc, f);
		i += n;
		start = i;
	}
	fwrite(p + start, 1, len - start, f);
	fputc('"', f);
}

static void otlp_json_cstr(FILE *f, const char *s)
{
	otlp_json_str(f, s, strlen(s));
}

static void otlp_json_hex(FILE *f, const uint8_t *id, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		fputc(hex[id[i] >> 4], f);
		fputc(hex[id[i] & 0xf], f);
	}
	fputc('"', f);
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
static void otlp_json_double(FILE *f, double v)
{
	char buf[40], digits[24];
	size_t nd = 0;
	int exp, dp;
	char *e;

	if (isnan(v)) {
		fputs("\"NaN\"", f);
		return;
	}
	if (isinf(v)) {
		fputs(v > 0 ? "\"Infinity\"" : "\"-Infinity\"", f);
		return;
	}
	if (v == 0) {
		fputs(signbit(v) ? "-0" : "0", f);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	e = strchr(buf, 'e');
	if (!e) {
		fputs("0", f);
		return;
	}
	for (char *p = buf; p < e && nd < sizeof(digits) - 1; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	digits[nd] = '\0';
	exp = atoi(e + 1);
	if (v < 0)
		fputc('-', f);

	if (fabs(v) < 1e-6 || fabs(v) >= 1e21) {
		fputc(digits[0], f);
		if (nd > 1) {
			fputc('.', f);
			fputs(digits + 1, f);
		}
		if (exp < 0)
			fprintf(f, "e-%d", -exp);
		else
			fprintf(f, "e+%02d", exp);
		return;
	}
	dp = exp + 1;
	if (dp <= 0) {
		fputs("0.", f);
		for (int i = 0; i < -dp; i++)
			fputc('0', f);
		fputs(digits, f);
	} else if ((size_t)dp >= nd) {
		fputs(digits, f);
		for (size_t i = nd; i < (size_t)dp; i++)
			fputc('0', f);
	} else {
		fwrite(digits, 1, dp, f);
		fputc('.', f);
		fputs(digits + dp, f);
	}
}

static void otlp_json_key(FILE *f, bool *first, const char *key)
{
	if (!*first)
		fputc(',', f);
	*first = false;
	fputs("{\"key\":", f);
	otlp_json_cstr(f, key);
	fputs(",\"value\":", f);
}

static void otlp_json_kv_str(FILE *f, bool *first, const char *key,
			     const char *val, size_t len)
{
	otlp_json_key(f, first, key);
	fputs("{\"stringValue\":", f);
	otlp_json_str(f, val, len);
	fputs("}}", f);
}

static void otlp_json_kv_int(FILE *f, bool *first, const char *key, int64_t v)
{
	otlp_json_key(f, first, key);
	fprintf(f, "{\"intValue\":\"%" PRId64 "\"}}", v);
}

static void otlp_json_attr(FILE *f, bool *first, const struct span *s,
			   const struct span_attr *a)
{
	size_t off, len;

	if (!a->key)
		return;
	switch (a->type) {
	case SPAN_ATTR_STR:
		off = a->v.s.off < SPAN_STRBUF ? a->v.s.off : SPAN_STRBUF;
		len = a->v.s.len < SPAN_STRBUF - off ? a->v.s.len : SPAN_STRBUF - off;
		otlp_json_kv_str(f, first, a->key, s->strbuf + off, len);
		break;
	case SPAN_ATTR_INT:
		otlp_json_kv_int(f, first, a->key, a->v.i);
		break;
	case SPAN_ATTR_BOOL:
		otlp_json_key(f, first, a->key);
		fputs(a->v.b ? "{\"boolValue\":true}}" : "{\"boolValue\":false}}", f);
		break;
	case SPAN_ATTR_DOUBLE:
		otlp_json_key(f, first, a->key);
		fputs("{\"doubleValue\":", f);
		otlp_json_double(f, a->v.d);
		fputs("}}", f);
		break;
	}
}

static void otlp_json_span(FILE *f, const struct span *s)
{
	size_t nattrs = s->nattrs < SPAN_MAX_ATTRS ? s->nattrs : SPAN_MAX_ATTRS;
	bool first = true;

	fputs("{\"traceId\":", f);
	otlp_json_hex(f, s->trace_id, sizeof(s->trace_id));
	fputs(",\"spanId\":", f);
	otlp_json_hex(f, s->span_id, sizeof(s->span_id));
	if (!otlp_json_is_zero(s->parent_span_id, sizeof(s->parent_span_id))) {
		fputs(",\"parentSpanId\":", f);
		otlp_json_hex(f, s->parent_span_id, sizeof(s->parent_span_id));
	}
	if (s->trace_flags)
		fprintf(f, ",\"flags\":%u", s->trace_flags);
	fputs(",\"name\":", f);
	otlp_json_str(f, s->name, strnlen(s->name, sizeof(s->name)));
	if (s->kind)
		fprintf(f, ",\"kind\":%u", s->kind);
	fprintf(f, ",\"startTimeUnixNano\":\"%" PRIu64 "\",\"endTimeUnixNano\":\"%" PRIu64 "\"",
		s->start_ns, s->end_ns);
	if (nattrs) {
		fputs(",\"attributes\":[", f);
		for (size_t i = 0; i < nattrs; i++)
			otlp_json_attr(f, &first, s, &s->attrs[i]);
		fputc(']', f);
	}
	if (s->attrs_dropped)
		fprintf(f, ",\"droppedAttributesCount\":%" PRIu32, s->attrs_dropped);
	if (s->status)
		fprintf(f, ",\"status\":{\"code\":%u}", s->status);
	fputc('}', f);
}

/* Opens a ResourceSpans object and writes its resource. */
static void otlp_json_resource(FILE *f, uint32_t pid)
{
	const struct proc_info *pi = proc_info_get(pid);
	const char *host = proc_host_name();
	bool first = true;

	fputs("{\"resource\":{\"attributes\":[", f);
	otlp_json_kv_str(f, &first, "service.name", pi->service_name,
			 strnlen(pi->service_name, sizeof(pi->service_name)));
	otlp_json_kv_int(f, &first, "process.pid", pid);
	otlp_json_kv_str(f, &first, "process.executable.name", pi->exe_name,
			 strnlen(pi->exe_name, sizeof(pi->exe_name)));
	if (pi->exe_path[0])
		otlp_json_kv_str(f, &first, "process.executable.path", pi->exe_path,
				 strnlen(pi->exe_path, sizeof(pi->exe_path)));
	if (pi->command_line[0])
		otlp_json_kv_str(f, &first, "process.command_line", pi->command_line,
				 strnlen(pi->command_line, sizeof(pi->command_line)));
	otlp_json_kv_str(f, &first, "host.name", host, strlen(host));
	otlp_json_kv_str(f, &first, "telemetry.distro.name", "kspan", 5);
	otlp_json_kv_str(f, &first, "telemetry.distro.version", KSPAN_VERSION,
			 strlen(KSPAN_VERSION));
	fputs("]}", f);
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
	FILE *f = x->out;
	bool first = true;

	if (!n)
		return 0;
	fputs("{\"resourceSpans\":[", f);
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
				fputc(',', f);
			first = false;
			otlp_json_resource(f, refs[i].pid);
			fputs(",\"scopeSpans\":[{\"scope\":{\"name\":\"kspan\",\"version\":", f);
			otlp_json_cstr(f, KSPAN_VERSION);
			fputs("},\"spans\":[", f);
			for (size_t k = i; k < j; k++) {
				if (k > i)
					fputc(',', f);
				otlp_json_span(f, spans[base + refs[k].idx]);
			}
			fputs("]}]}", f);
			i = j;
		}
	}
	fputs("]}\n", f);
	if (fflush(f) || ferror(f)) {
		clearerr(f);
		e->export_errors++;
		return -1;
	}
	e->spans_exported += n;
	return 0;
}

static int otlp_json_flush(struct exporter *e)
{
	struct otlp_json_exporter *x = (struct otlp_json_exporter *)e;

	return fflush(x->out) ? -1 : 0;
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
	x->out = out;
	return &x->base;
}
