// SPDX-License-Identifier: Apache-2.0
/* What a collector answers: gRPC frames, partial_success in protobuf or
 * JSON, google.rpc.Status bodies with RetryInfo, Retry-After, grpc-status
 * and grpc-message. Every parser takes (buf, len) and never reads past it. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "kspan/rpc_status.pb-c.h"
#include "otlp_internal.h"

int otlp_grpc_frame(const uint8_t *buf, size_t len, bool *compressed,
		    const uint8_t **msg, size_t *msglen)
{
	uint32_t n;

	if (len < 5)
		return -2;
	if (buf[0] > 1)
		return -1;
	n = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
	if (n > (64u << 20))
		return -1;
	if (len - 5 < n)
		return -2;
	*compressed = buf[0] == 1;
	*msg = buf + 5;
	*msglen = n;
	return (int)(5 + n);
}

/* A small JSON reader: just enough to walk to one member and read a string
 * or a number, skipping everything else. */
struct otlp_jp {
	const char *s;
	size_t len;
	size_t pos;
	int depth;
};

static void jp_ws(struct otlp_jp *j)
{
	while (j->pos < j->len && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' ||
				   j->s[j->pos] == '\n' || j->s[j->pos] == '\r'))
		j->pos++;
}

static bool jp_lit(struct otlp_jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if (j->len - j->pos < n || memcmp(j->s + j->pos, lit, n))
		return false;
	j->pos += n;
	return true;
}

static int jp_hex4(const char *s)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* A string at pos, decoded into out (truncated to outsz - 1, NUL ended;
 * out may be NULL to skip). */
static bool jp_string(struct otlp_jp *j, char *out, size_t outsz)
{
	size_t o = 0;

	if (j->pos >= j->len || j->s[j->pos] != '"')
		return false;
	j->pos++;
	while (j->pos < j->len) {
		unsigned char c = j->s[j->pos++];
		char enc[4];
		size_t n = 1;

		if (c == '"') {
			if (out && outsz)
				out[o] = '\0';
			return true;
		}
		if (c < 0x20)
			return false;
		enc[0] = c;
		if (c == '\\') {
			int cp;

			if (j->pos >= j->len)
				return false;
			c = j->s[j->pos++];
			switch (c) {
			case '"': case '\\': case '/':
				enc[0] = c;
				break;
			case 'b': enc[0] = '\b'; break;
			case 'f': enc[0] = '\f'; break;
			case 'n': enc[0] = '\n'; break;
			case 'r': enc[0] = '\r'; break;
			case 't': enc[0] = '\t'; break;
			case 'u':
				if (j->len - j->pos < 4)
					return false;
				cp = jp_hex4(j->s + j->pos);
				if (cp < 0)
					return false;
				j->pos += 4;
				/* Surrogates are kept as U+FFFD: only messages. */
				if (cp >= 0xd800 && cp <= 0xdfff)
					cp = 0xfffd;
				if (cp < 0x80) {
					enc[0] = cp;
				} else if (cp < 0x800) {
					enc[0] = 0xc0 | cp >> 6;
					enc[1] = 0x80 | (cp & 0x3f);
					n = 2;
				} else {
					enc[0] = 0xe0 | cp >> 12;
					enc[1] = 0x80 | ((cp >> 6) & 0x3f);
					enc[2] = 0x80 | (cp & 0x3f);
					n = 3;
				}
				break;
			default:
				return false;
			}
		}
		if (out && outsz && o + n < outsz) {
			memcpy(out + o, enc, n);
			o += n;
		}
	}
	return false;
}

static bool jp_value(struct otlp_jp *j);

static bool jp_container(struct otlp_jp *j, char open, char close)
{
	bool first = true;

	if (++j->depth > 64)
		return false;
	j->pos++;	/* open */
	(void)open;
	for (;;) {
		jp_ws(j);
		if (j->pos >= j->len)
			return false;
		if (j->s[j->pos] == close) {
			j->pos++;
			j->depth--;
			return true;
		}
		if (!first) {
			if (j->s[j->pos] != ',')
				return false;
			j->pos++;
			jp_ws(j);
		}
		first = false;
		if (close == '}') {
			if (!jp_string(j, NULL, 0))
				return false;
			jp_ws(j);
			if (j->pos >= j->len || j->s[j->pos] != ':')
				return false;
			j->pos++;
			jp_ws(j);
		}
		if (!jp_value(j))
			return false;
	}
}

static bool jp_value(struct otlp_jp *j)
{
	jp_ws(j);
	if (j->pos >= j->len)
		return false;
	switch (j->s[j->pos]) {
	case '{':
		return jp_container(j, '{', '}');
	case '[':
		return jp_container(j, '[', ']');
	case '"':
		return jp_string(j, NULL, 0);
	case 't':
		return jp_lit(j, "true");
	case 'f':
		return jp_lit(j, "false");
	case 'n':
		return jp_lit(j, "null");
	default:
		if (j->s[j->pos] != '-' && (j->s[j->pos] < '0' || j->s[j->pos] > '9'))
			return false;
		j->pos++;
		while (j->pos < j->len && strchr("0123456789.eE+-", j->s[j->pos]) &&
		       j->s[j->pos])
			j->pos++;
		return true;
	}
}

/* Walk the object at pos; for each member whose key is one of keys[0..nk)
 * call found(idx) with pos at the value, which must consume it. */
static bool jp_object(struct otlp_jp *j, const char *const *keys, int nk,
		      bool (*found)(struct otlp_jp *j, int idx, void *ctx), void *ctx)
{
	bool first = true;

	jp_ws(j);
	if (j->pos >= j->len || j->s[j->pos] != '{')
		return false;
	j->pos++;
	for (;;) {
		char key[32];
		int idx = -1;

		jp_ws(j);
		if (j->pos >= j->len)
			return false;
		if (j->s[j->pos] == '}') {
			j->pos++;
			return true;
		}
		if (!first) {
			if (j->s[j->pos] != ',')
				return false;
			j->pos++;
			jp_ws(j);
		}
		first = false;
		if (!jp_string(j, key, sizeof(key)))
			return false;
		jp_ws(j);
		if (j->pos >= j->len || j->s[j->pos] != ':')
			return false;
		j->pos++;
		jp_ws(j);
		for (int k = 0; k < nk; k++)
			if (strcmp(key, keys[k]) == 0)
				idx = k;
		if (idx >= 0 ? !found(j, idx, ctx) : !jp_value(j))
			return false;
	}
}

struct otlp_ps {
	int64_t rejected;
	char *msg;
	size_t msgsz;
	bool present;
};

static bool jp_int64(struct otlp_jp *j, int64_t *out)
{
	char num[32];
	size_t start;
	char *end;

	jp_ws(j);
	if (j->pos < j->len && j->s[j->pos] == '"') {
		if (!jp_string(j, num, sizeof(num)))
			return false;
	} else {
		start = j->pos;
		if (!jp_value(j) || j->pos - start >= sizeof(num))
			return false;
		memcpy(num, j->s + start, j->pos - start);
		num[j->pos - start] = '\0';
	}
	*out = strtoll(num, &end, 10);
	return end != num;
}

static bool jp_ps_member(struct otlp_jp *j, int idx, void *ctx)
{
	struct otlp_ps *ps = ctx;

	jp_ws(j);
	if (j->pos < j->len && j->s[j->pos] == 'n')
		return jp_lit(j, "null");
	if (idx < 4)
		return jp_int64(j, &ps->rejected);
	return jp_string(j, ps->msg, ps->msgsz);
}

static bool jp_ps(struct otlp_jp *j, int idx, void *ctx)
{
	static const char *const keys[] = {
		"rejectedSpans", "rejected_spans", "rejectedDataPoints",
		"rejected_data_points", "errorMessage", "error_message",
	};
	struct otlp_ps *ps = ctx;

	(void)idx;
	jp_ws(j);
	if (j->pos < j->len && j->s[j->pos] == 'n')
		return jp_lit(j, "null");
	ps->present = true;
	return jp_object(j, keys, 6, jp_ps_member, ctx);
}

int otlp_partial_success(enum otlp_signal s, bool json, const uint8_t *buf, size_t len,
			 int64_t *rejected, char *msg, size_t msgsz)
{
	struct otlp_ps ps = { .msg = msg, .msgsz = msgsz };

	if (msg && msgsz)
		msg[0] = '\0';
	*rejected = 0;
	if (json) {
		static const char *const keys[] = { "partialSuccess", "partial_success" };
		struct otlp_jp j = { .s = (const char *)buf, .len = len };

		if (!len)
			return 0;
		if (!jp_object(&j, keys, 2, jp_ps, &ps))
			return -1;
		jp_ws(&j);
		if (j.pos != j.len)
			return -1;
		*rejected = ps.rejected;
		return ps.present && (ps.rejected || (msg && msgsz && msg[0])) ? 1 : 0;
	}
	if (s == OTLP_TRACES) {
		OtlpTraceResp *r = opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
			NULL, len, buf);
		int ret = 0;

		if (!r)
			return -1;
		if (r->partial_success) {
			*rejected = r->partial_success->rejected_spans;
			otlp_utf8_copy(msg, msgsz, r->partial_success->error_message,
				       strlen(r->partial_success->error_message));
			ret = *rejected || (msgsz && msg[0]);
		}
		opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
			r, NULL);
		return ret;
	} else {
		OtlpMetricsResp *r = opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__unpack(
			NULL, len, buf);
		int ret = 0;

		if (!r)
			return -1;
		if (r->partial_success) {
			*rejected = r->partial_success->rejected_data_points;
			otlp_utf8_copy(msg, msgsz, r->partial_success->error_message,
				       strlen(r->partial_success->error_message));
			ret = *rejected || (msgsz && msg[0]);
		}
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__free_unpacked(
			r, NULL);
		return ret;
	}
}

int otlp_rpc_status(const uint8_t *buf, size_t len, int32_t *code, char *msg,
		    size_t msgsz, int64_t *retry_ms)
{
	static const char retry_type[] = "type.googleapis.com/google.rpc.RetryInfo";
	Kspan__Rpc__Status *st;

	*retry_ms = -1;
	if (msg && msgsz)
		msg[0] = '\0';
	st = kspan__rpc__status__unpack(NULL, len, buf);
	if (!st)
		return -1;
	*code = st->code;
	otlp_utf8_copy(msg, msgsz, st->message, strlen(st->message));
	for (size_t i = 0; i < st->n_details; i++) {
		Kspan__Rpc__Any *any = st->details[i];
		Kspan__Rpc__RetryInfo *ri;

		if (!any || strcmp(any->type_url, retry_type))
			continue;
		ri = kspan__rpc__retry_info__unpack(NULL, any->value.len, any->value.data);
		if (!ri)
			continue;
		if (ri->retry_delay && ri->retry_delay->seconds >= 0 &&
		    ri->retry_delay->seconds < 86400 && ri->retry_delay->nanos >= 0)
			*retry_ms = ri->retry_delay->seconds * 1000 +
				    ri->retry_delay->nanos / 1000000;
		kspan__rpc__retry_info__free_unpacked(ri, NULL);
	}
	kspan__rpc__status__free_unpacked(st, NULL);
	return 0;
}

int64_t otlp_retry_after_ms(const char *v, size_t len, time_t now)
{
	char buf[64];
	time_t t;
	size_t i;

	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r' ||
		       v[len - 1] == '\n'))
		len--;
	if (!len || len >= sizeof(buf))
		return -1;
	for (i = 0; i < len && v[i] >= '0' && v[i] <= '9'; i++)
		;
	if (i == len) {
		int64_t s = 0;

		/* delta-seconds; anything past a day is a day. */
		for (i = 0; i < len && s < 86400; i++)
			s = s * 10 + (v[i] - '0');
		return (s > 86400 ? 86400 : s) * 1000;
	}
	/* An HTTP-date in any of its three forms; it needs a letter. */
	for (i = 0; i < len && !((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'z'); i++)
		;
	if (i == len)
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	t = curl_getdate(buf, NULL);
	if (t == (time_t)-1)
		return -1;
	if (t <= now)
		return 0;
	return (t - now > 86400 ? 86400 : t - now) * 1000;
}

int otlp_grpc_status(const char *v, size_t len)
{
	int s = 0;

	while (len && (v[len - 1] == ' ' || v[len - 1] == '\r' || v[len - 1] == '\n'))
		len--;
	while (len && *v == ' ') {
		v++;
		len--;
	}
	if (!len || len > 2)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		s = s * 10 + v[i] - '0';
	}
	return s <= 16 ? s : -1;
}

static int otlp_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

size_t otlp_grpc_message(char *dst, size_t dstsz, const char *v, size_t len)
{
	char tmp[512];
	size_t n = 0;

	if (!dstsz)
		return 0;
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n'))
		len--;
	for (size_t i = 0; i < len && n < sizeof(tmp); i++) {
		char c = v[i];

		if (c == '%' && i + 2 < len && otlp_hex(v[i + 1]) >= 0 &&
		    otlp_hex(v[i + 2]) >= 0) {
			c = (char)(otlp_hex(v[i + 1]) << 4 | otlp_hex(v[i + 2]));
			i += 2;
		}
		tmp[n++] = c;
	}
	return otlp_utf8_copy(dst, dstsz, tmp, n);
}

static int otlp_b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

long otlp_base64_decode(uint8_t *dst, size_t dstsz, const char *s, size_t len)
{
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0;

	while (len && (s[len - 1] == '=' || s[len - 1] == '\r' || s[len - 1] == '\n' ||
		       s[len - 1] == ' '))
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = otlp_b64val(s[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6 | v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= dstsz)
				return -1;
			dst[n++] = (uint8_t)(acc >> bits);
		}
	}
	return (long)n;
}
