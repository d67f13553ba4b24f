// SPDX-License-Identifier: Apache-2.0
/* Unit tests for user/config.c and user/naming.c: a sample file parsed
 * whole and cut at every length against a guard page, every kind of bad
 * file with the message it must give, KSPAN_* variables, the precedence of
 * file, environment and command line, and the service-name order on a fake
 * /proc and kubelet log tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "naming.h"
#include "otlp.h"

#include "config_schema.h"

static const char sample[] =
	"# kspan settings\n"
	"exe: [\"/usr/sbin/nginx\", \"*python*\"]\n"
	"port: [8080, 8443]\n"
	"pid: 42\n"
	"exporter: otlp\n"
	"inject-traceparent: true\n"
	"no-tls: false\n"
	"query-allow:\n"
	"  - page\n"
	"  - lang\n"
	"otlp-endpoint: 'http://collector:4318'\n"
	"otlp-headers: [\"x-a=1\", \"x-b=2\"]\n"
	"capture-bytes: \"4096\"\n"
	"service-names:\n"
	"  kubernetes: true\n"
	"  label-env: [APP_NAME, APP]\n"
	"  label-files: /etc/podinfo/labels\n"
	"  log-dir: /var/log\n"
	"  rules:\n"
	"    - name: web\n"
	"      exe: \"*/nginx\"\n"
	"      override: true\n"
	"    - name: api\n"
	"      port: [8080, 8081]\n"
	"      cgroup: \"/kubepods*\"\n"
	"    - {name: legacy, container-id: 0123456789abcdef}\n";

static const char sample_settings[] =
	"2:exe=/usr/sbin/nginx;2:exe=*python*;3:port=8080;3:port=8443;4:pid=42;"
	"5:exporter=otlp;6:inject-traceparent;7:no-tls!;8:query-allow=page,lang;"
	"11:otlp-endpoint=http://collector:4318;12:otlp-headers=x-a=1,x-b=2;"
	"13:capture-bytes=4096;";

/* "line:name=arg;" for each setting, "name!" for a flag set false. */
static void dump(const struct config *c, char *out, size_t outsz)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n; i++) {
		const struct config_setting *s = &c->set[i];
		char line[16] = "";

		if (c->src == CONFIG_SRC_FILE)
			snprintf(line, sizeof(line), "%u:", s->line);
		n += snprintf(out + n, outsz - n, "%s%s%s%s%s;", line, s->opt->name,
			      s->off ? "!" : "", s->arg ? "=" : "", s->arg ? s->arg : "");
		assert_true(n < outsz);
	}
}

/* Parse text; the messages go to *msg (caller frees). */
static int parse_text(struct config *c, const char *text, size_t len, char **msg)
{
	size_t msglen;
	FILE *f = open_memstream(msg, &msglen);
	int r;

	assert_non_null(f);
	config_init(c, CONFIG_SRC_FILE);
	r = config_parse(c, &schema, "t.yaml", text, len, f);
	fclose(f);
	return r;
}

static void test_sample_file(void **state)
{
	struct config c;
	char out[2048], *msg;
	const struct naming_config *nc = &c.naming;

	(void)state;
	assert_int_equal(parse_text(&c, sample, strlen(sample), &msg), 0);
	assert_string_equal(msg, "");
	dump(&c, out, sizeof(out));
	assert_string_equal(out, sample_settings);
	assert_true(c.has_naming);
	assert_true(nc->kubernetes);
	assert_int_equal(nc->nlabel_env, 2);
	assert_string_equal(nc->label_env[1], "APP");
	assert_int_equal(nc->nlabel_files, 1);
	assert_string_equal(nc->label_files[0], "/etc/podinfo/labels");
	assert_string_equal(nc->log_dir, "/var/log");
	assert_int_equal(nc->nrules, 3);
	assert_string_equal(nc->rules[0].name, "web");
	assert_true(nc->rules[0].override);
	assert_int_equal(nc->rules[0].nexe, 1);
	assert_string_equal(nc->rules[0].exe[0], "*/nginx");
	assert_int_equal(nc->rules[0].line, 20);
	assert_string_equal(nc->rules[1].name, "api");
	assert_false(nc->rules[1].override);
	assert_int_equal(nc->rules[1].nport, 2);
	assert_int_equal(nc->rules[1].port[1], 8081);
	assert_int_equal(nc->rules[1].ncgroup, 1);
	assert_string_equal(nc->rules[2].name, "legacy");
	assert_int_equal(nc->rules[2].ncid, 1);
	free(msg);
	config_free(&c);
}

/* Every prefix of the sample, ending at a guard page: no read past the end,
 * no leak, and a prefix that parses gives a prefix of the settings (a cut
 * value may differ only in its last setting). */
static void test_sample_every_cut(void **state)
{
	size_t len = strlen(sample), ok = 0;
	struct guard g;

	(void)state;
	guard_init(&g, len);
	for (size_t cut = 0; cut <= len; cut++) {
		const char *p = guard_put(&g, sample, cut);
		struct config c;
		char out[2048];
		int r;

		config_init(&c, CONFIG_SRC_FILE);
		r = config_parse(&c, &schema, "t.yaml", p, cut, NULL);
		assert_true(r == 0 || r == -1);
		if (r == 0) {
			ok++;
			dump(&c, out, sizeof(out));
			assert_true(c.n <= 12);
			/* All but the last setting are exactly the sample's. */
			if (c.n > 1) {
				char *last = out + strlen(out) - 1;

				*last = '\0';
				last = strrchr(out, ';');
				assert_non_null(last);
				assert_memory_equal(out, sample_settings, last - out);
			}
		}
		config_free(&c);
	}
	/* Cuts at line ends keep a valid file. */
	assert_true(ok > 20);
	guard_free(&g);
}

struct bad_case {
	const char *text;
	const char *msg;	/* expected in the message */
};

static const struct bad_case bad_cases[] = {
	{ "exes: [a]\n", "t.yaml:1: key 'exes': unknown key" },
	{ "port: 1\nInject_Traceparent: true\n",
	  "t.yaml:2: key 'Inject_Traceparent': unknown key; did you mean 'inject-traceparent'?" },
	{ "exe: {a: 1}\n", "t.yaml:1: key 'exe': expected a value or a list of values, not a mapping" },
	{ "exe: [[a]]\n", "t.yaml:1: key 'exe': expected a single value, not a list" },
	{ "exe:\n", "t.yaml:1: key 'exe': no value given" },
	{ "exe: [a, ~]\n", "t.yaml:1: key 'exe': no value given" },
	{ "exporter: [otlp, tree, ~]\n", "key 'exporter': no value given" },
	{ "exporter: []\n", "t.yaml:1: key 'exporter': an empty list" },
	{ "inject-traceparent: yes\n",
	  "t.yaml:1: key 'inject-traceparent': expected true or false, not 'yes'" },
	{ "inject-traceparent: [true]\n", "expected a single value, not a list" },
	{ "pid: 1\npid: 2\n", "t.yaml:2: key 'pid': given twice (first on line 1)" },
	{ "config: other.yaml\n", "t.yaml:1: key 'config': only on the command line" },
	{ "help: true\n", "t.yaml:1: key 'help': only on the command line" },
	{ "[a]: 1\n", "t.yaml:1: top-level keys must be names, not a list" },
	{ "- exe\n", "t.yaml:1: expected a mapping of option names to values" },
	{ "just text\n", "t.yaml:1: expected a mapping" },
	{ "exe: &a x\n", "t.yaml:1: anchors (&name) are not supported" },
	{ "exe: *a\n", "t.yaml:1: aliases (*name) are not supported" },
	{ "port: 1\n---\nport: 2\n", "t.yaml:2: a second YAML document" },
	{ "port: [1\n", "t.yaml:2: invalid YAML (column 1): did not find expected ',' or ']'" },
	{ "a:\n  b: 1\n c: 2\n", "t.yaml:3: invalid YAML" },
	{ "exe: \"a\\0b\"\n", "t.yaml:1: a value with a NUL character" },
	{ "exe: \"a\\nb\"\n", "t.yaml:1: key 'exe': the value has control characters" },
	{ "service-names: [a]\n", "t.yaml:1: key 'service-names': expected a mapping" },
	{ "service-names:\n  rule: []\n", "t.yaml:2: key 'service-names.rule': unknown key" },
	{ "service-names:\n  rules: {a: 1}\n", "key 'service-names.rules': expected a list of rules" },
	{ "service-names:\n  rules:\n    - exe: x\n", "t.yaml:3: key 'service-names.rules[0]': no name" },
	{ "service-names:\n  rules:\n    - name: a\n",
	  "t.yaml:3: key 'service-names.rules[0]': no matcher" },
	{ "service-names:\n  rules:\n    - name: a\n      exe: x\n    - name: b\n      port: 0\n",
	  "t.yaml:6: key 'service-names.rules[1].port': invalid port '0'" },
	{ "service-names:\n  rules:\n    - name: a\n      port: 80x\n", "invalid port '80x'" },
	{ "service-names:\n  rules:\n    - name: a\n      cgroup: kubepods\n",
	  "t.yaml:4: key 'service-names.rules[0].cgroup': 'kubepods' cannot match" },
	{ "service-names:\n  rules:\n    - name: a\n      container-id: XYZ\n",
	  "invalid container id 'XYZ'" },
	{ "service-names:\n  rules:\n    - name: a\n      exe: x\n      override: 2\n",
	  "t.yaml:5: key 'service-names.rules[0].override': expected true or false" },
	{ "service-names:\n  rules:\n    - name: a\n      exe: x\n      where: y\n",
	  "t.yaml:5: key 'service-names.rules[0].where': unknown key" },
	{ "service-names:\n  rules:\n    - name: [a]\n      exe: x\n",
	  "key 'service-names.rules[0].name': expected a single value" },
	{ "service-names:\n  rules:\n    - name: a\n      exe: [a, b, c, d, e, f, g, h, i]\n",
	  "key 'service-names.rules[0].exe': at most 8 values" },
	{ "service-names:\n  label-env: [A-B]\n", "'A-B' is not an environment variable name" },
	{ "service-names:\n  label-files: etc/labels\n", "expected an absolute path" },
	{ "service-names:\n  log-dir: /var/../etc\n", "expected an absolute path without '..'" },
	{ "service-names:\n  kubernetes: maybe\n",
	  "key 'service-names.kubernetes': expected true or false" },
};

static void test_bad_files(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		struct config c;
		char *msg;
		int r = parse_text(&c, b->text, strlen(b->text), &msg);

		if (r != -1 || !strstr(msg, b->msg))
			fail_msg("case %zu '%s': r=%d message '%s', want '%s'", i, b->text, r,
				 msg, b->msg);
		/* One message, one line. */
		assert_non_null(strchr(msg, '\n'));
		assert_ptr_equal(strchr(msg, '\n') + 1, msg + strlen(msg));
		free(msg);
		config_free(&c);
	}
}

static void test_limits(void **state)
{
	size_t cap = CONFIG_FILE_MAX + 4096;
	char *buf = malloc(cap), *msg;
	struct config c;
	size_t n;

	(void)state;
	assert_non_null(buf);

	/* Size. */
	memset(buf, ' ', CONFIG_FILE_MAX + 1);
	memcpy(buf, "pid: 1\n", 7);
	assert_int_equal(parse_text(&c, buf, CONFIG_FILE_MAX + 1, &msg), -1);
	assert_non_null(strstr(msg, "larger than 65536 bytes"));
	free(msg);
	config_free(&c);

	/* Nesting. */
	n = snprintf(buf, cap, "exe: [[[[[[[a]]]]]]]\n");
	assert_int_equal(parse_text(&c, buf, n, &msg), -1);
	assert_non_null(strstr(msg, "t.yaml:1: values nested deeper than 6 levels"));
	free(msg);
	config_free(&c);

	/* A list longer than CONFIG_ITEMS_MAX. */
	n = snprintf(buf, cap, "exe: [");
	for (int i = 0; i <= CONFIG_ITEMS_MAX; i++)
		n += snprintf(buf + n, cap - n, "a%d,", i);
	n += snprintf(buf + n, cap - n, "b]\n");
	assert_int_equal(parse_text(&c, buf, n, &msg), -1);
	assert_non_null(strstr(msg, "more than 128 entries in the list that starts on line 1"));
	free(msg);
	config_free(&c);

	/* More values than CONFIG_NODES_MAX: lists of lists within the limits. */
	n = snprintf(buf, cap, "x: [");
	for (int i = 0; i < 40; i++) {
		n += snprintf(buf + n, cap - n, "[");
		for (int k = 0; k < 110; k++)
			n += snprintf(buf + n, cap - n, "%d,", k);
		n += snprintf(buf + n, cap - n, "0],");
	}
	n += snprintf(buf + n, cap - n, "0]\n");
	assert_true(n < CONFIG_FILE_MAX);
	assert_int_equal(parse_text(&c, buf, n, &msg), -1);
	assert_non_null(strstr(msg, "more than 4096 values in the file"));
	free(msg);
	config_free(&c);

	/* A value longer than CONFIG_SCALAR_MAX. */
	n = snprintf(buf, cap, "exe: ");
	memset(buf + n, 'a', CONFIG_SCALAR_MAX + 1);
	n += CONFIG_SCALAR_MAX + 1;
	buf[n++] = '\n';
	assert_int_equal(parse_text(&c, buf, n, &msg), -1);
	assert_non_null(strstr(msg, "t.yaml:1: a value longer than 4096 bytes"));
	free(msg);
	config_free(&c);

	/* More rules than NAMING_RULES_MAX. */
	n = snprintf(buf, cap, "service-names:\n  rules:\n");
	for (int i = 0; i <= NAMING_RULES_MAX; i++)
		n += snprintf(buf + n, cap - n, "    - {name: n%d, exe: x}\n", i);
	assert_int_equal(parse_text(&c, buf, n, &msg), -1);
	assert_non_null(strstr(msg, "t.yaml:3: key 'service-names.rules': at most 64 rules"));
	free(msg);
	config_free(&c);

	/* Empty files and a lone "---" set nothing. */
	assert_int_equal(parse_text(&c, "", 0, &msg), 0);
	assert_int_equal(c.n, 0);
	free(msg);
	config_free(&c);
	assert_int_equal(parse_text(&c, "---\n# nothing\n", 14, &msg), 0);
	assert_int_equal(c.n, 0);
	assert_false(c.has_naming);
	free(msg);
	config_free(&c);
	free(buf);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/kspan-config-test-XXXXXX", *msg;
	size_t msglen;
	struct config c;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "port: 9\n", 8), 8);
	close(fd);
	config_init(&c, CONFIG_SRC_FILE);
	assert_int_equal(config_load(&c, &schema, path, stderr), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.set[0].arg, "9");
	config_free(&c);
	/* Larger than allowed, by one byte. */
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i <= CONFIG_FILE_MAX; i++)
		fputc(i % 64 ? ' ' : '\n', f);
	fclose(f);
	f = open_memstream(&msg, &msglen);
	assert_int_equal(config_load(&c, &schema, path, f), -1);
	fclose(f);
	assert_non_null(strstr(msg, "is larger than 65536 bytes"));
	free(msg);
	config_free(&c);
	unlink(path);
	f = open_memstream(&msg, &msglen);
	assert_int_equal(config_load(&c, &schema, path, f), -1);
	fclose(f);
	assert_non_null(strstr(msg, "failed to open config file"));
	assert_non_null(strstr(msg, "No such file or directory"));
	free(msg);
	config_free(&c);
}

static void test_env(void **state)
{
	char *env[] = {
		"KSPAN_EXE=/usr/sbin/nginx, *python* ,,",
		"KSPAN_PORT=8080",
		"KSPAN_EXPORTER=otlp",
		"KSPAN_INJECT_TRACEPARENT=1",
		"KSPAN_NO_TLS=False",
		"KSPAN_QUERY_ALLOW=page,lang",
		"KSPAN_CAPTURE_BYTES=",		/* empty: unset */
		"KSPAN_OTLP_HEADERS=a=1,b=2",	/* one value: not split */
		"KSPAN_CONFIG=/etc/kspan.yaml",	/* read by main, not an option */
		"KSPAN_EXE=second",		/* the first one counts */
		"KSPAN_TYPO=1",
		"OTHER=1",
		NULL,
	};
	char out[1024], *msg;
	size_t msglen;
	struct config c;
	FILE *f;

	(void)state;
	config_init(&c, CONFIG_SRC_ENV);
	f = open_memstream(&msg, &msglen);
	assert_int_equal(config_from_env(&c, &schema, env, f), 0);
	fclose(f);
	dump(&c, out, sizeof(out));
	assert_string_equal(out, "exporter=otlp;exe=/usr/sbin/nginx;exe=*python*;port=8080;"
			    "query-allow=page,lang;inject-traceparent;no-tls!;"
			    "otlp-headers=a=1,b=2;");
	assert_string_equal(c.set[1].var, "KSPAN_EXE");
	assert_string_equal(msg, "kspan: warn: ignoring KSPAN_TYPO: no option of that name "
			    "(kspan --help)\n");
	free(msg);
	config_free(&c);

	{
		char *bad[] = { "KSPAN_NO_TLS=yes", NULL };

		config_init(&c, CONFIG_SRC_ENV);
		f = open_memstream(&msg, &msglen);
		assert_int_equal(config_from_env(&c, &schema, bad, f), -1);
		fclose(f);
		assert_string_equal(msg, "kspan: error: invalid KSPAN_NO_TLS='yes': expected true, "
				    "false, 1 or 0\n");
		free(msg);
		config_free(&c);
	}
	{
		char name[64];

		config_env_name("otlp-client-certificate", name, sizeof(name));
		assert_string_equal(name, "KSPAN_OTLP_CLIENT_CERTIFICATE");
	}
}

/* Records applied options as "name=arg;"; rejects "bad" values. */
struct rec {
	char log[1024];
	size_t n;
};

static int rec_apply(void *ctx, int val, char *arg)
{
	struct rec *r = ctx;
	const struct option *o = config_option_val(&schema, val);

	assert_non_null(o);
	if (arg && strcmp(arg, "bad") == 0) {
		log_error("invalid --%s 'bad'", o->name);
		return -1;
	}
	r->n += snprintf(r->log + r->n, sizeof(r->log) - r->n, "%s%s%s;", o->name,
			 arg ? "=" : "", arg ? arg : "");
	return 0;
}

static void test_precedence(void **state)
{
	static const char file[] =
		"exe: [a, b]\n"
		"port: [1]\n"
		"pid: [7]\n"
		"exporter: tree\n"
		"inject-traceparent: true\n"
		"no-tls: true\n"
		"query-allow: [x, y]\n";
	char *env[] = { "KSPAN_EXE=c", "KSPAN_INJECT_TRACEPARENT=false", "KSPAN_PORT=2",
			"KSPAN_QUERY_ALLOW=z", NULL };
	struct config c[CONFIG_SRCS], *src[CONFIG_SRCS];
	struct rec r = { .n = 0 };
	char *msg;

	(void)state;
	assert_int_equal(parse_text(&c[CONFIG_SRC_FILE], file, strlen(file), &msg), 0);
	free(msg);
	config_init(&c[CONFIG_SRC_ENV], CONFIG_SRC_ENV);
	assert_int_equal(config_from_env(&c[CONFIG_SRC_ENV], &schema, env, stderr), 0);
	config_init(&c[CONFIG_SRC_CMDLINE], CONFIG_SRC_CMDLINE);
	assert_int_equal(config_add(&c[CONFIG_SRC_CMDLINE], config_option(&schema, "port"),
				    "3"), 0);
	assert_int_equal(config_add(&c[CONFIG_SRC_CMDLINE], config_option(&schema, "port"),
				    "4"), 0);
	for (int i = 0; i < CONFIG_SRCS; i++)
		src[i] = &c[i];

	/* Level by level, as main applies them. */
	assert_int_equal(config_apply(src, CONFIG_SRC_FILE, rec_apply, &r, stderr), 0);
	assert_string_equal(r.log, "pid=7;exporter=tree;no-tls;");
	assert_int_equal(config_apply(src, CONFIG_SRC_ENV, rec_apply, &r, stderr), 0);
	assert_int_equal(config_apply(src, CONFIG_SRC_CMDLINE, rec_apply, &r, stderr), 0);
	/* exe and query-allow from the environment replace the file's lists;
	 * inject-traceparent=false there turns the file's true off; the
	 * command line's ports replace both others. */
	assert_string_equal(r.log, "pid=7;exporter=tree;no-tls;exe=c;query-allow=z;"
			    "port=3;port=4;");

	/* Without an environment the file's lists come through whole. */
	r.n = 0;
	r.log[0] = '\0';
	src[CONFIG_SRC_ENV] = NULL;
	src[CONFIG_SRC_CMDLINE] = NULL;
	assert_int_equal(config_apply(src, CONFIG_SRC_FILE, rec_apply, &r, stderr), 0);
	assert_string_equal(r.log, "exe=a;exe=b;port=1;pid=7;exporter=tree;"
			    "inject-traceparent;no-tls;query-allow=x,y;");
	for (int i = 0; i < CONFIG_SRCS; i++)
		config_free(&c[i]);
}

/* A bad value the handler refuses names its origin; config_check finds it
 * even where a higher level replaces it. */
static void test_bad_value_origin(void **state)
{
	static const char file[] = "exporter: tree\nport: [1, bad]\n";
	char *env[] = { "KSPAN_EXPORTER=bad", NULL };
	struct config c, e;
	struct rec r = { .n = 0 };
	char *msg;
	size_t msglen;
	FILE *f, *saved = stderr;

	(void)state;
	assert_int_equal(parse_text(&c, file, strlen(file), &msg), 0);
	free(msg);
	f = open_memstream(&msg, &msglen);
	stderr = f;
	assert_int_equal(config_check(&c, rec_apply, &r, f), -1);
	stderr = saved;
	fclose(f);
	assert_string_equal(msg, "kspan: error: invalid --port 'bad'\n"
			    "kspan: error: t.yaml:2: key 'port': invalid value (see above)\n");
	free(msg);

	config_init(&e, CONFIG_SRC_ENV);
	assert_int_equal(config_from_env(&e, &schema, env, NULL), 0);
	f = open_memstream(&msg, &msglen);
	stderr = f;
	assert_int_equal(config_check(&e, rec_apply, &r, f), -1);
	stderr = saved;
	fclose(f);
	assert_string_equal(msg, "kspan: error: invalid --exporter 'bad'\n"
			    "kspan: error: KSPAN_EXPORTER: invalid value (see above)\n");
	free(msg);
	config_free(&c);
	config_free(&e);
}

/* ---- naming ---- */

static char tmpdir[64];

static void put_file(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	for (char *p = path + strlen(tmpdir) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void put_link(const char *rel, const char *target)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	unlink(path);
	assert_int_equal(symlink(target, path), 0);
}

static void put_dir(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	put_file(rel, "");
	unlink(path);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void rm_tree(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
}

#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define CID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define UID "11112222-3333-4444-5555-666677778888"

static void test_label_file(void **state)
{
	static const char labels[] =
		"app=\"old\"\n"
		"app.kubernetes.io/name=\"check\\\"out\"\n"
		"tier=\"web\"\n";
	char out[64];

	(void)state;
	assert_true(naming_label_from_file(labels, strlen(labels), out, sizeof(out)));
	assert_string_equal(out, "check\"out");
	assert_false(naming_label_from_file("app.kubernetes.io/name=\"\"\n", 26, out,
					    sizeof(out)));
	assert_false(naming_label_from_file("app.kubernetes.io/name=bare\n", 28, out,
					    sizeof(out)));
	assert_false(naming_label_from_file("app.kubernetes.io/name=\"a\\x\"\n", 30, out,
					    sizeof(out)));
	/* Cut at every length against a guard page. */
	{
		struct guard g;

		guard_init(&g, sizeof(labels));
		for (size_t cut = 0; cut < sizeof(labels); cut++) {
			const char *p = guard_put(&g, labels, cut);
			bool ok = naming_label_from_file(p, cut, out, sizeof(out));

			/* The value is whole only once its closing quote is in. */
			assert_int_equal(ok, cut >= (size_t)(strstr(labels, "out\"") - labels) + 4);
		}
		guard_free(&g);
	}
}

static void test_k8s_container(void **state)
{
	char logs[128], out[64];

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kspan-naming-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(logs, sizeof(logs), "%s/log", tmpdir);
	/* As the kubelet writes them. */
	put_file("log/containers/web-7d9f_shop_nginx-" CID ".log", "");
	put_file("log/containers/web-7d9f_shop_side-car-aaaa.log", "");
	put_dir("log/pods/shop_web-7d9f_" UID "/nginx");
	put_dir("log/pods/shop_web-7d9f_" UID "/side-car");
	put_dir("log/pods/shop_one_99992222-3333-4444-5555-666677778888/only");

	assert_true(naming_k8s_container(logs, CID, UID, out, sizeof(out)));
	assert_string_equal(out, "nginx");
	/* No symlink for this id: two container dirs are ambiguous. */
	assert_false(naming_k8s_container(logs, CID2, UID, out, sizeof(out)));
	/* One container dir: its name. */
	assert_true(naming_k8s_container(logs, NULL, "99992222-3333-4444-5555-666677778888",
					 out, sizeof(out)));
	assert_string_equal(out, "only");
	assert_false(naming_k8s_container(logs, NULL, "00000000-3333-4444-5555-666677778888",
					  out, sizeof(out)));
	assert_false(naming_k8s_container("/nonexistent", CID, UID, out, sizeof(out)));
	rm_tree();
}

struct name_case {
	const char *what;
	const char *env;	/* '\n'-separated, made NUL-separated */
	const char *cgroup;
	const char *exe_path;
	enum naming_source src;
	const char *name;
};

static void test_service_name_order(void **state)
{
	static const char rules_yaml[] =
		"service-names:\n"
		"  label-env: [APP_NAME]\n"
		"  label-files: [/etc/podinfo/labels]\n"
		"  rules:\n"
		"    - {name: forced, exe: \"*/forced\", override: true}\n"
		"    - {name: by-port, port: 8080}\n"
		"    - {name: by-port-and-exe, port: 9090, exe: \"*/nomatch\"}\n"
		"    - {name: by-cgroup, cgroup: \"/kubepods/*/pod" UID "*\", exe: ruled}\n"
		"    - {name: by-cid, container-id: \"" CID "\", exe: \"*cid*\"}\n";
	static const struct name_case cases[] = {
		{ "OTEL_SERVICE_NAME first", "OTEL_SERVICE_NAME=svc\n"
		  "OTEL_RESOURCE_ATTRIBUTES=service.name=res\n", "0::/\n", "/usr/bin/forced2",
		  NAMING_SRC_OTEL, "svc" },
		{ "then service.name", "OTEL_RESOURCE_ATTRIBUTES=a=1,service.name=r%20s\n",
		  "0::/\n", "/bin/x", NAMING_SRC_OTEL, "r s" },
		{ "override beats OTEL_SERVICE_NAME", "OTEL_SERVICE_NAME=svc\n", "0::/\n",
		  "/opt/forced", NAMING_SRC_OVERRIDE, "forced" },
		{ "port rule", "", "0::/\n", "/bin/server", NAMING_SRC_RULE, "by-port" },
		{ "cgroup rule", "", "0::/kubepods/besteffort/pod" UID "/" CID "\n",
		  "/bin/ruled", NAMING_SRC_RULE, "by-cgroup" },
		{ "container id rule", "", "0::/system.slice/docker-" CID ".scope\n",
		  "/bin/cid-app", NAMING_SRC_RULE, "by-cid" },
		{ "label from env", "APP_NAME=label-app\n",
		  "0::/kubepods/besteffort/pod" UID "/" CID "\n", "/bin/app",
		  NAMING_SRC_K8S_LABEL, "label-app" },
		{ "label from a downward API file", "KUBERNETES_SERVICE_HOST=10.0.0.1\n",
		  "0::/other\n", "/bin/app", NAMING_SRC_K8S_LABEL, "file-app" },
		{ "k8s.container.name", "OTEL_RESOURCE_ATTRIBUTES=k8s.container.name=ctr\n",
		  "0::/kubepods/burstable/pod" UID "/x\n", "/bin/app", NAMING_SRC_K8S_CONTAINER,
		  "ctr" },
		{ "container name from the kubelet's logs", "",
		  "0::/kubepods.slice/kubepods-pod" "11112222_3333_4444_5555_666677778888"
		  ".slice/cri-containerd-" CID ".scope\n", "/bin/app",
		  NAMING_SRC_K8S_CONTAINER, "nginx" },
		{ "not in a pod: the executable", "APP_NAME=ignored\n",
		  "0::/system.slice/docker-" CID ".scope\n", "/usr/bin/python3.11",
		  NAMING_SRC_EXE, "python3.11" },
	};
	struct config c;
	char *msg, root[128], out[NAMING_NAME_MAX], logs[128];

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kspan-naming-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(root, sizeof(root), "%s/proc", tmpdir);
	snprintf(logs, sizeof(logs), "%s/log", tmpdir);
	assert_int_equal(parse_text(&c, rules_yaml, strlen(rules_yaml), &msg), 0);
	free(msg);
	snprintf(c.naming.log_dir, sizeof(c.naming.log_dir), "%s", logs);
	put_file("log/containers/web_shop_nginx-" CID ".log", "");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct name_case *nc = &cases[i];
		uint32_t pid = 100 + i;
		char rel[128], env[512], *p;
		const char *base = strrchr(nc->exe_path, '/') + 1;
		struct naming_proc np = {
			.pid = pid, .proc_root = root, .env = env, .envlen = strlen(nc->env),
			.exe_path = nc->exe_path, .exe_name = base,
		};
		enum naming_source src;

		snprintf(env, sizeof(env), "%s", nc->env);
		for (p = env; (p = strchr(p, '\n')); p++)
			*p = '\0';
		snprintf(rel, sizeof(rel), "proc/%u/cgroup", pid);
		put_file(rel, nc->cgroup);
		/* Every process listens on 8080 or 9090 in its own namespace;
		 * only the one holding the socket of 8080 has it. */
		snprintf(rel, sizeof(rel), "proc/%u/net/tcp", pid);
		put_file(rel, "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
			 "retrnsmt   uid  timeout inode\n"
			 "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 "
			 "00000000     0        0 5001 1 0 100 0 0 10 0\n"
			 "   1: 00000000:2382 00000000:0000 0A 00000000:00000000 00:00000000 "
			 "00000000     0        0 5002 1 0 100 0 0 10 0\n"
			 "   2: 0100007F:1F90 0100007F:D000 01 00000000:00000000 00:00000000 "
			 "00000000     0        0 5003 1 0 100 0 0 10 0\n");
		snprintf(rel, sizeof(rel), "proc/%u/fd/3", pid);
		put_file(rel, "");
		put_link(rel, strcmp(nc->what, "port rule") == 0 ? "socket:[5001]" :
			 "socket:[5002]");
		snprintf(rel, sizeof(rel), "proc/%u/root/etc/podinfo/labels", pid);
		if (strcmp(nc->name, "file-app") == 0)
			put_file(rel, "app.kubernetes.io/name=\"file-app\"\n");

		src = naming_service_name(&c.naming, &np, out, sizeof(out));
		if (src != nc->src || strcmp(out, nc->name))
			fail_msg("%s: got '%s' from %s, want '%s' from %s", nc->what, out,
				 naming_source_name(src), nc->name, naming_source_name(nc->src));
	}
	/* Kubernetes off: the executable. */
	{
		struct naming_proc np = {
			.pid = 106, .proc_root = root, .env = "APP_NAME=label-app", .envlen = 18,
			.exe_path = "/bin/app", .exe_name = "app",
		};

		c.naming.kubernetes = false;
		assert_int_equal(naming_service_name(&c.naming, &np, out, sizeof(out)),
				 NAMING_SRC_EXE);
		assert_string_equal(out, "app");
	}
	/* The defaults: no rules, and a process that has vanished. */
	{
		struct naming_proc np = {
			.pid = 999999, .proc_root = root, .exe_path = "", .exe_name = "comm",
		};

		naming_set(NULL);
		assert_int_equal(naming_service_name(naming_get(), &np, out, sizeof(out)),
				 NAMING_SRC_EXE);
		assert_string_equal(out, "comm");
	}
	config_free(&c);
	rm_tree();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_file),
		cmocka_unit_test(test_sample_every_cut),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_bad_value_origin),
		cmocka_unit_test(test_label_file),
		cmocka_unit_test(test_k8s_container),
		cmocka_unit_test(test_service_name_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
