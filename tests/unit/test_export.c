// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "export.h"
#include "proc.h"
#include "proc_internal.h"
#include "span.h"

#ifndef KSPAN_VERSION
#define KSPAN_VERSION "0.0.0-dev"
#endif

#define FAKE_PID	0x7ffffff0u	/* above any pid_max */
#define T0		1700000000000000000ull
#define MS		1000000ull

static int g_argc;
static char **g_argv;

static const uint8_t trace_a[16] = {
	0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
	0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
};

static void mk_span(struct span *s, uint8_t id, uint8_t parent, uint32_t pid,
		    uint8_t kind, uint64_t start, uint64_t dur, const char *name)
{
	static const uint8_t base[8] = { 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0x00 };

	span_init(s);
	memcpy(s->trace_id, trace_a, 16);
	memcpy(s->span_id, base, 8);
	s->span_id[7] = id;
	if (parent) {
		memcpy(s->parent_span_id, base, 8);
		s->parent_span_id[7] = parent;
	}
	s->pid = pid;
	s->tid = pid;
	s->kind = kind;
	s->start_ns = start;
	s->end_ns = start + dur;
	snprintf(s->name, sizeof(s->name), "%s", name);
}

static void add_double(struct span *s, const char *key, double v)
{
	struct span_attr *a = &s->attrs[s->nattrs++];

	a->key = key;
	a->type = SPAN_ATTR_DOUBLE;
	a->v.d = v;
}

static void add_str(struct span *s, const char *key, const char *v)
{
	span_attr_str(s, key, v, strlen(v));
}

static bool json_plain(const char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 ||
		    (unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* The resource part for pid, built independently from the exporter. */
static void expect_resource(char *buf, size_t size, uint32_t pid)
{
	const struct proc_info *pi = proc_info_get(pid);
	char path[400] = "", cmd[600] = "";

	assert_true(json_plain(pi->service_name));
	assert_true(json_plain(pi->exe_name));
	assert_true(json_plain(pi->exe_path));
	assert_true(json_plain(pi->command_line));
	assert_true(json_plain(proc_host_name()));
	if (pi->exe_path[0])
		snprintf(path, sizeof(path),
			 "{\"key\":\"process.executable.path\",\"value\":{\"stringValue\":\"%s\"}},",
			 pi->exe_path);
	if (pi->command_line[0])
		snprintf(cmd, sizeof(cmd),
			 "{\"key\":\"process.command_line\",\"value\":{\"stringValue\":\"%s\"}},",
			 pi->command_line);
	snprintf(buf, size,
		 "{\"resource\":{\"attributes\":["
		 "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"%s\"}},"
		 "{\"key\":\"process.pid\",\"value\":{\"intValue\":\"%u\"}},"
		 "{\"key\":\"process.executable.name\",\"value\":{\"stringValue\":\"%s\"}},"
		 "%s%s"
		 "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"%s\"}},"
		 "{\"key\":\"telemetry.distro.name\",\"value\":{\"stringValue\":\"kspan\"}},"
		 "{\"key\":\"telemetry.distro.version\",\"value\":{\"stringValue\":\"" KSPAN_VERSION "\"}}"
		 "]},\"scopeSpans\":[{\"scope\":{\"name\":\"kspan\",\"version\":\"" KSPAN_VERSION "\"},"
		 "\"spans\":[",
		 pi->service_name, pid, pi->exe_name, path, cmd, proc_host_name());
}

/* Bytes: quote, newline, control, invalid UTF-8 (stray, truncated,
 * overlong, surrogate), 3- and 4-byte UTF-8, DEL, backslash, tab, NUL. */
static const char weird[] = "a\"b\nc\x01" "d\xff\xe2\x82(e" "\xc0\xaf" "\xed\xa0\x80"
			    "\xe2\x82\xac" "\xf0\x9f\x98\x80" "\x7f" "\\z\t" "\0" "!";
static const char weird_json[] = "a\\\"b\\nc\\u0001d\\ufffd\\ufffd\\ufffd(e"
				 "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
				 "\xe2\x82\xac" "\xf0\x9f\x98\x80" "\x7f" "\\\\z\\t\\u0000!";

static struct span ex[3];

static void build_example(void)
{
	uint32_t me = getpid();

	mk_span(&ex[0], 1, 0, me, SPAN_KIND_SERVER, T0, 12410000, "GET /users/{id}");
	ex[0].trace_flags = 1;
	add_str(&ex[0], "http.request.method", "GET");
	span_attr_int(&ex[0], "http.response.status_code", 200);
	span_attr_str(&ex[0], "url.path", weird, sizeof(weird) - 1);
	span_attr_bool(&ex[0], "http.keep_alive", true);
	span_attr_bool(&ex[0], "x.off", false);
	add_double(&ex[0], "x.ratio", 1.5);
	span_attr_int(&ex[0], "x.min", INT64_MIN);

	mk_span(&ex[1], 2, 1, FAKE_PID, SPAN_KIND_CLIENT, T0 + 1200000, 8020000, "say \"hi\"");
	ex[1].trace_flags = 1;
	ex[1].status = SPAN_STATUS_ERROR;
	ex[1].attrs_dropped = 3;
	add_str(&ex[1], "server.address", "127.0.0.1");
	span_attr_int(&ex[1], "server.port", 8081);

	mk_span(&ex[2], 3, 1, me, SPAN_KIND_INTERNAL, T0 + 5, 10, "");
	ex[2].status = SPAN_STATUS_OK;
}

static void test_otlp_json_exact(void **state)
{
	const struct span *spans[3] = { &ex[0], &ex[1], &ex[2] };
	static char expect[16384], r1[4096], r2[4096];
	struct exporter *e;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	build_example();
	expect_resource(r1, sizeof(r1), getpid());
	expect_resource(r2, sizeof(r2), FAKE_PID);
	snprintf(expect, sizeof(expect),
		 "{\"resourceSpans\":[%s"
		 "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba90201\","
		 "\"flags\":1,\"name\":\"GET /users/{id}\",\"kind\":2,"
		 "\"startTimeUnixNano\":\"1700000000000000000\",\"endTimeUnixNano\":\"1700000000012410000\","
		 "\"attributes\":["
		 "{\"key\":\"http.request.method\",\"value\":{\"stringValue\":\"GET\"}},"
		 "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"200\"}},"
		 "{\"key\":\"url.path\",\"value\":{\"stringValue\":\"%s\"}},"
		 "{\"key\":\"http.keep_alive\",\"value\":{\"boolValue\":true}},"
		 "{\"key\":\"x.off\",\"value\":{\"boolValue\":false}},"
		 "{\"key\":\"x.ratio\",\"value\":{\"doubleValue\":1.5}},"
		 "{\"key\":\"x.min\",\"value\":{\"intValue\":\"-9223372036854775808\"}}]},"
		 "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba90203\","
		 "\"parentSpanId\":\"00f067aa0ba90201\",\"name\":\"\",\"kind\":1,"
		 "\"startTimeUnixNano\":\"1700000000000000005\",\"endTimeUnixNano\":\"1700000000000000015\","
		 "\"status\":{\"code\":1}}"
		 "]}]},%s"
		 "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba90202\","
		 "\"parentSpanId\":\"00f067aa0ba90201\",\"flags\":1,\"name\":\"say \\\"hi\\\"\",\"kind\":3,"
		 "\"startTimeUnixNano\":\"1700000000001200000\",\"endTimeUnixNano\":\"1700000000009220000\","
		 "\"attributes\":["
		 "{\"key\":\"server.address\",\"value\":{\"stringValue\":\"127.0.0.1\"}},"
		 "{\"key\":\"server.port\",\"value\":{\"intValue\":\"8081\"}}],"
		 "\"droppedAttributesCount\":3,\"status\":{\"code\":2}}"
		 "]}]}]}\n",
		 r1, weird_json, r2);

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	e = otlp_json_exporter_new(f);
	assert_non_null(e);
	assert_int_equal(e->export(e, spans, 3), 0);
	assert_string_equal(buf, expect);
	assert_int_equal(e->spans_exported, 3);
	assert_int_equal(e->export_errors, 0);

	/* one line per call, nothing for an empty batch */
	assert_int_equal(e->export(e, spans, 0), 0);
	assert_int_equal(strlen(buf), strlen(expect));
	assert_int_equal(e->export(e, spans + 1, 1), 0);
	assert_memory_equal(buf, expect, strlen(expect));
	assert_non_null(strchr(buf + strlen(expect), '\n'));
	assert_ptr_equal(strchr(buf + strlen(expect), '\n'), buf + len - 1);
	assert_int_equal(e->spans_exported, 4);
	assert_int_equal(e->flush(e), 0);
	e->destroy(e);
	fclose(f);
	free(buf);
}

static void check_double(double v, const char *want)
{
	const struct span *sp;
	static struct span s;
	char frag[128];
	struct exporter *e;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	mk_span(&s, 9, 0, FAKE_PID, SPAN_KIND_SERVER, T0, 1, "d");
	add_double(&s, "d", v);
	sp = &s;
	f = open_memstream(&buf, &len);
	e = otlp_json_exporter_new(f);
	assert_int_equal(e->export(e, &sp, 1), 0);
	snprintf(frag, sizeof(frag), "{\"key\":\"d\",\"value\":{\"doubleValue\":%s}}]}", want);
	if (!strstr(buf, frag))
		fail_msg("double %.17g: want %s in %s", v, want, buf);
	e->destroy(e);
	fclose(f);
	free(buf);
}

static void test_otlp_json_doubles(void **state)
{
	(void)state;
	check_double(1.5, "1.5");
	check_double(0.1, "0.1");
	check_double(3.0, "3");
	check_double(-2.5e-3, "-0.0025");
	check_double(123456789.0, "123456789");
	check_double(1e20, "100000000000000000000");
	check_double(1e21, "1e+21");
	check_double(1e-6, "0.000001");
	check_double(1e-7, "1e-7");
	check_double(1.0 / 3, "0.3333333333333333");
	check_double(5e-324, "5e-324");
	check_double(1.7976931348623157e308, "1.7976931348623157e+308");
	check_double(0.0, "0");
	check_double(NAN, "\"NaN\"");
	check_double(INFINITY, "\"Infinity\"");
	check_double(-INFINITY, "\"-Infinity\"");
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

#define FUZZ_SPANS	300
#define BIG_BATCH	5000

static void fuzz_span(struct span *s)
{
	/* The last: every token character a baggage key may hold. */
	static const char *const keys[] = { "a", "b.c", "url.full", "http.route", "x",
					    "Az09!#$%&'*+-.^_`|~" };
	char bytes[64];
	double d;
	uint64_t u;

	mk_span(s, (uint8_t)rng(), (uint8_t)rng(), rng() % 3 ? (uint32_t)getpid() : FAKE_PID,
		rng() % 4, rng(), rng() % 1000000, "");
	for (size_t i = 0; i < sizeof(s->name) - 1; i++)
		s->name[i] = (char)rng();
	s->name[sizeof(s->name) - 1] = '\0';
	s->trace_flags = rng();
	s->status = rng() % 3;
	s->attrs_dropped = rng() % 2;
	for (int i = 0, n = rng() % SPAN_MAX_ATTRS; i < n; i++) {
		const char *key = keys[rng() % 6];
		size_t blen = rng() % sizeof(bytes);

		switch (rng() % 4) {
		case 0:
			for (size_t k = 0; k < blen; k++)
				bytes[k] = (char)rng();
			span_attr_str(s, key, bytes, blen);
			break;
		case 1:
			span_attr_int(s, key, (int64_t)rng());
			break;
		case 2:
			span_attr_bool(s, key, rng() & 1);
			break;
		default:
			u = rng();
			memcpy(&d, &u, sizeof(d));
			add_double(s, key, d);
		}
	}
}

static void test_otlp_json_valid_python(void **state)
{
	static struct span fz[FUZZ_SPANS];
	static const struct span *ptrs[BIG_BATCH];
	const char *script =
		"import json,sys\n"
		"data = sys.stdin.buffer.read().decode('utf-8')\n"
		"lines = data.split('\\n')\n"
		"assert lines[-1] == ''\n"
		"lines = lines[:-1]\n"
		"assert len(lines) == int(sys.argv[1]), len(lines)\n"
		"for l in lines:\n"
		"    rs = json.loads(l)['resourceSpans']\n"
		"    assert rs and all(r['scopeSpans'][0]['spans'] for r in rs)\n";
	struct exporter *e;
	char cmd[1024], *buf = NULL;
	size_t len = 0, nlines = 0;
	FILE *f, *py;
	int status;

	(void)state;
	build_example();
	for (int i = 0; i < FUZZ_SPANS; i++)
		fuzz_span(&fz[i]);
	f = open_memstream(&buf, &len);
	e = otlp_json_exporter_new(f);

	ptrs[0] = &ex[0];
	ptrs[1] = &ex[1];
	ptrs[2] = &ex[2];
	assert_int_equal(e->export(e, ptrs, 3), 0);
	nlines++;
	for (int i = 0; i < FUZZ_SPANS;) {
		int n = 1 + rng() % 40;

		if (n > FUZZ_SPANS - i)
			n = FUZZ_SPANS - i;
		for (int k = 0; k < n; k++)
			ptrs[k] = &fz[i + k];
		assert_int_equal(e->export(e, ptrs, n), 0);
		nlines++;
		i += n;
	}
	for (int i = 0; i < BIG_BATCH; i++)
		ptrs[i] = &fz[rng() % FUZZ_SPANS];
	assert_int_equal(e->export(e, ptrs, BIG_BATCH), 0);
	nlines++;
	assert_int_equal(e->export_errors, 0);

	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 -c \"%s\" %zu", script, nlines);
	py = popen(cmd, "w");
	assert_non_null(py);
	assert_int_equal(fwrite(buf, 1, len, py), len);
	status = pclose(py);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	e->destroy(e);
	fclose(f);
	free(buf);
}

static char *run_tree(const struct span *const *spans, size_t n, bool color)
{
	struct exporter *e;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	e = tree_exporter_new(f, color);
	assert_non_null(e);
	assert_int_equal(e->export(e, spans, n), 0);
	e->destroy(e);
	fclose(f);
	return buf;
}

static void test_tree_nesting(void **state)
{
	static struct span s[5];
	const struct span *in[5] = { &s[3], &s[4], &s[2], &s[0], &s[1] };
	const struct proc_info *pi;
	char expect[4096], svc[160];
	uint32_t me = getpid();
	char *out;

	(void)state;
	mk_span(&s[0], 1, 0, me, SPAN_KIND_SERVER, T0, 12410000, "GET /users/{id}");
	span_attr_int(&s[0], "http.response.status_code", 200);
	mk_span(&s[1], 2, 1, me, SPAN_KIND_INTERNAL, T0 + 500000, 300000, "db");
	s[1].status = SPAN_STATUS_ERROR;
	mk_span(&s[2], 3, 1, me, SPAN_KIND_CLIENT, T0 + 1200000, 8020000, "GET");
	span_attr_int(&s[2], "http.response.status_code", 200);
	add_str(&s[2], "server.address", "127.0.0.1");
	span_attr_int(&s[2], "server.port", 8081);
	mk_span(&s[3], 4, 3, FAKE_PID, SPAN_KIND_SERVER, T0 + 1450000, 7500000, "GET /items");
	span_attr_int(&s[3], "http.response.status_code", 200);
	mk_span(&s[4], 5, 0x77, FAKE_PID, SPAN_KIND_SERVER, T0 + 2 * MS, 999, "GET /orphan\x1b[2J");

	pi = proc_info_get(me);
	snprintf(svc, sizeof(svc), "%s[%u]", pi->service_name, me);
	snprintf(expect, sizeof(expect),
		 "trace 4bf92f3577b34da6a3ce929d0e0e4736  (5 spans, 12.41 ms)\n"
		 "├─ SERVER GET /users/{id}  %s  12.41 ms  @+0.00 ms  200\n"
		 "│  ├─ INTERNAL db  %s  300.00 µs  @+0.50 ms  ERROR\n"
		 "│  └─ CLIENT GET  %s  8.02 ms  @+1.20 ms  200  -> 127.0.0.1:8081\n"
		 "│     └─ SERVER GET /items  unknown[%u]  7.50 ms  @+1.45 ms  200\n"
		 "└─ SERVER GET /orphan?[2J  unknown[%u]  999 ns  @+2.00 ms\n",
		 svc, svc, svc, FAKE_PID, FAKE_PID);
	out = run_tree(in, 5, false);
	assert_string_equal(out, expect);
	free(out);

	out = run_tree(in, 5, true);
	assert_non_null(strstr(out, "\033[1mtrace 4bf92f3577b34da6a3ce929d0e0e4736"));
	assert_non_null(strstr(out, "@+0.50 ms  \033[1;31mERROR\033[0m\n"));
	assert_null(strstr(out, "\033[2J"));
	free(out);
}

static void test_tree_cycle_ipv6(void **state)
{
	static struct span s[3];
	const struct span *in[3] = { &s[0], &s[1], &s[2] };
	char expect[1024];
	char *out;

	(void)state;
	mk_span(&s[0], 1, 2, FAKE_PID, SPAN_KIND_SERVER, T0 + 1 * MS, MS, "a");
	mk_span(&s[1], 2, 1, FAKE_PID, SPAN_KIND_SERVER, T0 + 2 * MS, MS, "b");
	mk_span(&s[2], 3, 3, FAKE_PID, SPAN_KIND_CLIENT, T0 + 3 * MS, 2500 * MS, "c");
	add_str(&s[2], "server.address", "::1");
	span_attr_int(&s[2], "server.port", 443);
	snprintf(expect, sizeof(expect),
		 "trace 4bf92f3577b34da6a3ce929d0e0e4736  (3 spans, 2.50 s)\n"
		 "├─ SERVER b  unknown[%u]  1.00 ms  @+1.00 ms\n"
		 "│  └─ SERVER a  unknown[%u]  1.00 ms  @+0.00 ms\n"
		 "└─ CLIENT c  unknown[%u]  2.50 s  @+2.00 ms  -> [::1]:443\n",
		 FAKE_PID, FAKE_PID, FAKE_PID);
	out = run_tree(in, 3, false);
	assert_string_equal(out, expect);
	free(out);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_tree_limit(void **state)
{
	enum { N = 1100 };
	static struct span s[N];
	static const struct span *in[N];
	const char *tail;
	char *out;

	(void)state;
	/* a chain deeper than the limit: every span is its predecessor's child */
	for (int i = 0; i < N; i++) {
		mk_span(&s[i], 0, 0, FAKE_PID, SPAN_KIND_SERVER, T0 + i, 1, "x");
		s[i].span_id[5] = i >> 8;
		s[i].span_id[6] = i & 0xff;
		s[i].span_id[7] = 1;
		if (i) {
			memcpy(s[i].parent_span_id, s[i - 1].span_id, 8);
		}
		in[i] = &s[i];
	}
	out = run_tree(in, N, false);
	assert_int_equal(count_lines(out), 1 + 1024 + 1);
	tail = out + strlen(out) - strlen("   … 76 more spans left out\n");
	assert_string_equal(tail, "   … 76 more spans left out\n");
	assert_non_null(strstr(out, "(1100 spans, 1.10 µs)\n└─ SERVER x"));
	free(out);

	/* flat */
	for (int i = 0; i < N; i++)
		memset(s[i].parent_span_id, 0, 8);
	out = run_tree(in, N, false);
	assert_int_equal(count_lines(out), 1 + 1024 + 1);
	assert_null(strstr(out, "│"));
	free(out);
}

static void test_tree_single_and_empty(void **state)
{
	static struct span s;
	const struct span *in[1] = { &s };
	char *out;

	(void)state;
	mk_span(&s, 1, 0, FAKE_PID, SPAN_KIND_INTERNAL, T0, 0, "solo");
	out = run_tree(in, 1, false);
	assert_string_equal(out,
			    "trace 4bf92f3577b34da6a3ce929d0e0e4736  (1 span, 0 ns)\n"
			    "└─ INTERNAL solo  unknown[2147483632]  0 ns  @+0.00 ms\n");
	free(out);
	out = run_tree(in, 0, false);
	assert_string_equal(out, "");
	free(out);
}

static void test_proc_self(void **state)
{
	const struct proc_info *pi;
	char exe[512], cmd[512] = "";
	const char *base, *env;
	ssize_t n;

	(void)state;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	base = strrchr(exe, '/') + 1;
	for (int i = 0; i < g_argc; i++) {
		if (i)
			strncat(cmd, " ", sizeof(cmd) - strlen(cmd) - 1);
		strncat(cmd, g_argv[i], sizeof(cmd) - strlen(cmd) - 1);
	}

	pi = proc_info_get(getpid());
	assert_int_equal(pi->pid, getpid());
	assert_string_equal(pi->exe_path, exe);
	assert_string_equal(pi->exe_name, base);
	assert_string_equal(pi->command_line, cmd);
	env = getenv("OTEL_SERVICE_NAME");
	if (env && *env)
		assert_string_equal(pi->service_name, env);
	else if (!getenv("OTEL_RESOURCE_ATTRIBUTES"))
		assert_string_equal(pi->service_name, base);
	assert_ptr_equal(proc_info_get(getpid()), pi);
}

static void test_proc_vanished(void **state)
{
	const struct proc_info *pi = proc_info_get(FAKE_PID);

	(void)state;
	assert_int_equal(pi->pid, FAKE_PID);
	assert_string_equal(pi->service_name, "unknown");
	assert_string_equal(pi->exe_name, "unknown");
	assert_string_equal(pi->exe_path, "unknown");
	assert_string_equal(pi->command_line, "unknown");
}

#define RAW(s) s, sizeof(s) - 1

static void check_redact(const char *raw, size_t len, const char *want)
{
	char out[512];

	size_t n = proc_cmdline_redact(out, sizeof(out), raw, len);

	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void test_proc_redact(void **state)
{
	char small[12];

	(void)state;
	check_redact(RAW("curl\0--token\0abc\0-v\0"), "curl --token REDACTED -v");
	check_redact(RAW("app\0--password=hunter2\0--user=bob\0"),
		     "app --password=REDACTED --user=bob");
	check_redact(RAW("x\0--DB_PASSWORD=pw\0--api-key\0k\0--apikey=z\0--api_key=q\0"
			 "-secret=s\0--client-credentials\0c\0--passwd\0p\0"),
		     "x --DB_PASSWORD=REDACTED --api-key REDACTED --apikey=REDACTED "
		     "--api_key=REDACTED -secret=REDACTED --client-credentials REDACTED "
		     "--passwd REDACTED");
	check_redact(RAW("x\0--token\0--verbose\0"), "x --token --verbose");
	check_redact(RAW("x\0--token\0"), "x --token");
	check_redact(RAW("x\0--token=\0"), "x --token=REDACTED");
	check_redact(RAW("x\0password=foo\0-p\0pw\0"), "x password=foo -p pw");
	check_redact(RAW("x\0\0y\0"), "x  y");
	check_redact(RAW("postgres: --password  x idle"), "postgres: --password REDACTED idle");
	check_redact(RAW(""), "");
	check_redact(RAW("\0"), "");
	/* URLs and headers inside arguments. */
	check_redact(RAW("curl\0https://alice:hunter2@h.example/p?a=1&sig=s3&flag\0"),
		     "curl https://REDACTED@h.example/p?a=REDACTED&sig=REDACTED&flag");
	check_redact(RAW("curl\0-H\0Authorization: Bearer abc.def\0-H\0cookie: id=42\0"),
		     "curl -H Authorization: REDACTED -H cookie: REDACTED");
	check_redact(RAW("python3\0-c\0s.sendall(b'GET http://u:p@x/l?user=bob HTTP/1.1\\r\\n"
			 "Cookie: c=1\\r\\n')\0"),
		     "python3 -c s.sendall(b'GET http://REDACTED@x/l?user=REDACTED HTTP/1.1\\r\\n"
		     "Cookie: REDACTED\\r\\n')");
	check_redact(RAW("x\0http://host:8080/path\0a?\0?=v\0mailto://@\0"),
		     "x http://host:8080/path a? ?=REDACTED mailto://REDACTED@");
	check_redact(RAW("x\0X-Cookie: 1\0"), "x X-Cookie: REDACTED");

	assert_int_equal(proc_cmdline_redact(small, sizeof(small), RAW("abc\0--token=abcdef\0")), 11);
	assert_string_equal(small, "abc --token");
	assert_int_equal(proc_cmdline_redact(small, 1, RAW("abc\0")), 0);
	assert_string_equal(small, "");
}

static void check_env(const char *env, size_t len, const char *want)
{
	char out[128] = "junk";
	bool ok = proc_service_from_environ(out, sizeof(out), env, len);

	if (!want) {
		assert_false(ok);
		return;
	}
	assert_true(ok);
	assert_string_equal(out, want);
}

static void test_proc_environ(void **state)
{
	(void)state;
	check_env(RAW("PATH=/bin\0OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod,"
		      " service.name = my%20svc%2Cx ,a=b\0"), "my svc,x");
	check_env(RAW("OTEL_RESOURCE_ATTRIBUTES=service.name=a\0OTEL_SERVICE_NAME=env\0"), "env");
	check_env(RAW("OTEL_SERVICE_NAME=\0OTEL_RESOURCE_ATTRIBUTES=service.name=r%\0"), "r%");
	check_env(RAW("OTEL_RESOURCE_ATTRIBUTES=service.namespace=n,service.name=%zz%41\0"), "%zzA");
	check_env(RAW("OTEL_RESOURCE_ATTRIBUTES=service.name=\0"), NULL);
	check_env(RAW("OTEL_RESOURCE_ATTRIBUTES=k=v\0HOME=/\0"), NULL);
	check_env(RAW("HOME=/\0OTEL_SERVICE_NAME=cut"), "cut");
	check_env(RAW(""), NULL);
}

static pid_t spawn_sh(char *const envp[])
{
	char *const argv[] = {
		"/bin/sh", "-c", "sleep 10; :", "sh", "--token", "abc", "--api-key=xyz", NULL,
	};

	char path[64], buf[8];
	pid_t pid;
	FILE *f;
	int tries;

	assert_int_equal(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, envp), 0);
	/* posix_spawn returns inside execve, before the new argv is set up */
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	for (tries = 0; tries < 2000; tries++) {
		f = fopen(path, "r");
		assert_non_null(f);
		if (fread(buf, 1, sizeof(buf), f) > 0 && strncmp(buf, "/bin/sh", 7) == 0) {
			fclose(f);
			break;
		}
		fclose(f);
		usleep(1000);
	}
	assert_true(tries < 2000);
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	proc_info_forget(pid);
	assert_false(proc_cache_has(pid));
}

static void test_proc_child(void **state)
{
	char *const env1[] = { "PATH=/usr/bin:/bin",
			       "OTEL_RESOURCE_ATTRIBUTES=service.name=spawned%21", NULL };
	char *const env2[] = { "PATH=/usr/bin:/bin", "OTEL_SERVICE_NAME=svc-env", NULL };
	const struct proc_info *pi;
	char link[256], path[64];
	pid_t pid;
	ssize_t n;

	(void)state;
	pid = spawn_sh(env1);
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	pi = proc_info_get(pid);
	assert_string_equal(pi->service_name, "spawned!");
	assert_string_equal(pi->exe_path, link);
	assert_string_equal(pi->exe_name, strrchr(link, '/') + 1);
	assert_string_equal(pi->command_line,
			    "/bin/sh -c sleep 10; : sh --token REDACTED --api-key=REDACTED");
	assert_true(proc_cache_has(pid));
	reap(pid);

	pid = spawn_sh(env2);
	assert_string_equal(proc_info_get(pid)->service_name, "svc-env");
	reap(pid);
}

static void test_proc_cache_bound(void **state)
{
	const uint32_t base = 0x70000000;
	const uint32_t total = PROC_CACHE_MAX + 300;
	uint32_t me = getpid();

	(void)state;
	for (uint32_t i = 0; i < total; i++) {
		const struct proc_info *pi = proc_info_get(base + i);

		assert_int_equal(pi->pid, base + i);
		assert_ptr_equal(proc_info_get(base + i), pi);
		assert_int_equal(proc_info_get(me)->pid, me);
		assert_true(proc_cache_count() <= PROC_CACHE_MAX);
	}
	assert_int_equal(proc_cache_count(), PROC_CACHE_MAX);
	assert_true(proc_cache_has(me));
	assert_false(proc_cache_has(base));
	assert_false(proc_cache_has(base + total - PROC_CACHE_MAX));
	assert_true(proc_cache_has(base + total - PROC_CACHE_MAX + 1));
	assert_true(proc_cache_has(base + total - 1));
	proc_info_forget(base + total - 1);
	assert_int_equal(proc_cache_count(), PROC_CACHE_MAX - 1);
}

static void test_proc_host_name(void **state)
{
	char host[256] = "";

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_string_equal(proc_host_name(), host);
	assert_ptr_equal(proc_host_name(), proc_host_name());
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_otlp_json_exact),
		cmocka_unit_test(test_otlp_json_doubles),
		cmocka_unit_test(test_otlp_json_valid_python),
		cmocka_unit_test(test_tree_nesting),
		cmocka_unit_test(test_tree_cycle_ipv6),
		cmocka_unit_test(test_tree_limit),
		cmocka_unit_test(test_tree_single_and_empty),
		cmocka_unit_test(test_proc_self),
		cmocka_unit_test(test_proc_vanished),
		cmocka_unit_test(test_proc_redact),
		cmocka_unit_test(test_proc_environ),
		cmocka_unit_test(test_proc_child),
		cmocka_unit_test(test_proc_cache_bound),
		cmocka_unit_test(test_proc_host_name),
	};

	g_argc = argc;
	g_argv = argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
