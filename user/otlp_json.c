// SPDX-License-Identifier: Apache-2.0
/* OTLP/JSON of any generated message, walked through its protobuf-c
 * descriptor: the proto3 JSON mapping with lowerCamelCase keys, default values
 * left out, 64-bit integers as strings, and OTLP's exceptions: trace and span
 * ids in lowercase hex, enums as numbers. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_internal.h"

struct otlp_jbuf {
	char *p;
	size_t len;
	size_t cap;
	bool failed;
};

static void jb_put(struct otlp_jbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->cap - b->len < n + 1) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap - b->len < n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void jb_puts(struct otlp_jbuf *b, const char *s)
{
	jb_put(b, s, strlen(s));
}

static void jb_printf(struct otlp_jbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void jb_printf(struct otlp_jbuf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		jb_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Strings are valid UTF-8 already (the builders made them so); escape what
 * JSON needs. */
static void jb_str(struct otlp_jbuf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;

	jb_put(b, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];
		char esc[7] = "\\u00";

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jb_put(b, s + start, i - start);
		start = i + 1;
		if (c == '"' || c == '\\') {
			esc[1] = c;
			jb_put(b, esc, 2);
		} else if (c == '\n') {
			jb_put(b, "\\n", 2);
		} else if (c == '\r') {
			jb_put(b, "\\r", 2);
		} else if (c == '\t') {
			jb_put(b, "\\t", 2);
		} else {
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			jb_put(b, esc, 6);
		}
	}
	jb_put(b, s + start, len - start);
	jb_put(b, "\"", 1);
}

static void jb_double(struct otlp_jbuf *b, double v)
{
	char buf[40];

	if (isnan(v)) {
		jb_puts(b, "\"NaN\"");
		return;
	}
	if (isinf(v)) {
		jb_puts(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		return;
	}
	/* The shortest digits that read back as the same double. */
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	jb_puts(b, buf);
}

static void jb_hex(struct otlp_jbuf *b, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	jb_put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		char h[2] = { hex[p[i] >> 4], hex[p[i] & 0xf] };

		jb_put(b, h, 2);
	}
	jb_put(b, "\"", 1);
}

static void jb_base64(struct otlp_jbuf *b, const uint8_t *p, size_t n)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	jb_put(b, "\"", 1);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = p[i] << 16 | (i + 1 < n ? p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		char o[4] = { tbl[v >> 18], tbl[(v >> 12) & 63],
			      i + 1 < n ? tbl[(v >> 6) & 63] : '=',
			      i + 2 < n ? tbl[v & 63] : '=' };

		jb_put(b, o, 4);
	}
	jb_put(b, "\"", 1);
}

/* OTLP writes these bytes fields in hex, every other one in base64. */
static bool otlp_json_is_id(const char *name)
{
	return strcmp(name, "trace_id") == 0 || strcmp(name, "span_id") == 0 ||
	       strcmp(name, "parent_span_id") == 0;
}

static void jb_key(struct otlp_jbuf *b, bool *first, const char *name)
{
	char key[64];
	size_t n = 0;
	bool up = false;

	for (const char *p = name; *p && n < sizeof(key) - 1; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		key[n++] = up && *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p;
		up = false;
	}
	if (!*first)
		jb_put(b, ",", 1);
	*first = false;
	jb_put(b, "\"", 1);
	jb_put(b, key, n);
	jb_put(b, "\":", 2);
}

static void jb_message(struct otlp_jbuf *b, const ProtobufCMessage *m, int depth);

/* One value of field f at p; false if it is the default (proto3: left out
 * unless in a oneof or repeated). */
static bool jb_is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return *(const uint32_t *)p == 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)p == 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)p == 0 && !signbit(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)p == 0 && !signbit(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return !*(const protobuf_c_boolean *)p;
	case PROTOBUF_C_TYPE_STRING:
		return !*(char *const *)p || !**(char *const *)p;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return !*(void *const *)p;
	}
	return true;
}

static void jb_value(struct otlp_jbuf *b, const ProtobufCFieldDescriptor *f, const void *p,
		     int depth)
{
	const ProtobufCBinaryData *bin;
	const char *s;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		jb_printf(b, "%d", *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		jb_printf(b, "%u", *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		jb_printf(b, "\"%lld\"", (long long)*(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		jb_printf(b, "\"%llu\"", (unsigned long long)*(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		jb_double(b, *(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		jb_double(b, *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		jb_puts(b, *(const protobuf_c_boolean *)p ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_STRING:
		s = *(char *const *)p;
		jb_str(b, s ? s : "", s ? strlen(s) : 0);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		bin = p;
		if (otlp_json_is_id(f->name))
			jb_hex(b, bin->data, bin->len);
		else
			jb_base64(b, bin->data, bin->len);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		jb_message(b, *(const ProtobufCMessage *const *)p, depth + 1);
		break;
	}
}

static size_t otlp_json_elem_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

static void jb_message(struct otlp_jbuf *b, const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d;
	bool first = true;

	if (!m || depth > 32) {
		jb_puts(b, "{}");
		return;
	}
	d = m->descriptor;
	jb_put(b, "{", 1);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;
		const void *p = base + f->offset;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(char *const *)p;
			size_t sz = otlp_json_elem_size(f);

			if (!n)
				continue;
			jb_key(b, &first, f->name);
			jb_put(b, "[", 1);
			for (size_t k = 0; k < n; k++) {
				if (k)
					jb_put(b, ",", 1);
				jb_value(b, f, arr + k * sz, depth);
			}
			jb_put(b, "]", 1);
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
				continue;
		} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
			   f->type != PROTOBUF_C_TYPE_MESSAGE &&
			   f->type != PROTOBUF_C_TYPE_STRING && f->quantifier_offset) {
			if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
				continue;
		} else if (jb_is_default(f, p)) {
			continue;
		}
		jb_key(b, &first, f->name);
		jb_value(b, f, p, depth);
	}
	jb_put(b, "}", 1);
}

char *otlp_json_encode(const ProtobufCMessage *m, size_t *len)
{
	struct otlp_jbuf b = {};

	jb_message(&b, m, 0);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
