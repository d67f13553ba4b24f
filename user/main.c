// SPDX-License-Identifier: Apache-2.0
/* kspan: spans of unmodified services, from the kernel. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "config.h"
#include "conns.h"
#include "events.h"
#include "h2session.h"
#include "export.h"
#include "ids.h"
#include "loader.h"
#include "log.h"
#include "naming.h"
#include "nest.h"
#include "otlp.h"
#include "select.h"
#include "selfstats.h"
#include "tail.h"
#include "tcpfig.h"
#include "tls.h"

#define MAX_PIDS 256
/* How long the reader sleeps between drains of the ring (the programs never
 * wake it per event). While events flow it drains every 10 ms, so that each
 * drain is a short run: a 100 ms backlog is a few milliseconds of parsing
 * and export in one go, and on a CPU the server shares that run shows in
 * its tail latency. A quiet ring backs off to 100 ms. */
#define POLL_BUSY_MS 10
#define POLL_IDLE_MS 100
/* The trace buffer is swept for traces due for export this often, not at
 * every drain: a sweep reads every slot of the buffer (a few hundred KiB),
 * and a trace waits --linger-ms (500 ms by default) after its last span
 * anyway. A full buffer exports its oldest traces as spans arrive. */
#define FLUSH_EVERY_NS 100000000ull

static volatile sig_atomic_t exiting;
/* The OTLP exporter, when it is the one in use: its counters are printed. */
static struct exporter *otlp_exp;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static const char usage[] =
"Usage: kspan [OPTIONS]          trace HTTP/1.x, HTTP/2 and gRPC (TLS included) of\n"
"                                this host and print or export spans\n"
"       kspan probe [--verify]   show which kernel hooks work and which are used\n"
"       kspan conns [OPTIONS]    live table of TCP connections and their latency\n"
"                                (kspan conns --help)\n"
"\n"
"Options:\n"
"  -p, --pid PID          trace only this process and its children (repeatable);\n"
"                         default: every process except kspan itself\n"
"      --exe GLOB         also trace processes whose executable path or name\n"
"                         matches (repeatable, e.g. --exe '*/nginx')\n"
"      --port N           also trace processes listening on TCP port N in the\n"
"                         node's network namespace (repeatable)\n"
"      --cgroup PATH      also trace processes in this cgroup v2 subtree\n"
"                         (repeatable, e.g. /kubepods.slice/...)\n"
"      --container-id ID  also trace the processes of this container\n"
"                         (repeatable; 12 or more hex digits)\n"
"                         Selected processes that start later are picked up\n"
"                         within a second.\n"
"  -e, --exporter NAME    tree: an indented tree per finished trace (default on a\n"
"                         terminal); otlp: OTLP to a collector (see below);\n"
"                         otlp-json: OTLP/JSON lines, one\n"
"                         ExportTraceServiceRequest per line (default otherwise)\n"
"  -o, --output FILE      write spans to FILE instead of standard output\n"
"  -d, --duration SECS    stop after SECS seconds\n"
"      --capture-bytes N  payload bytes captured per read/write (64..8192,\n"
"                         default 2048)\n"
"      --linger-ms MS     wait this long after a trace's last span before\n"
"                         exporting it (default 500)\n"
"      --idle-timeout S   forget connections idle for S seconds (default 120)\n"
"      --max-conns N      connections tracked at once (default 16384); the\n"
"                         kernel's socket table holds 4 times as many\n"
"      --no-local-pairing do not link a server span to the client span at the\n"
"                         other end of its connection on this host\n"
"      --baggage-attributes K1,K2\n"
"                         copy these W3C baggage members of requests into span\n"
"                         attributes of the same name (at most 4; keys are\n"
"                         tokens: letters, digits and !#$%&'*+-.^_`|~)\n"
"      --inject-traceparent\n"
"                         insert a W3C traceparent header into outgoing plaintext\n"
"                         HTTP/1.x requests that carry none (changes traffic; off\n"
"                         by default), so that the callee's spans join the trace;\n"
"                         OTEL_PROPAGATORS picks the headers: tracecontext, b3,\n"
"                         b3multi, jaeger, and baggage to carry on the server\n"
"                         request's baggage (default: tracecontext,baggage);\n"
"                         tracecontext carries its tracestate on too\n"
"      --query-allow K1,K2\n"
"                         keep the values of these query parameters; every\n"
"                         other value becomes REDACTED (credentials such as\n"
"                         sig, Signature, token, password always are)\n"
"      --no-tls           do not attach uprobes to TLS libraries (OpenSSL,\n"
"                         GnuTLS, node) and Go's crypto/tls: HTTPS is then\n"
"                         not traced\n"
"      --tls-probes shared|process\n"
"                         shared (default): one set of TLS uprobes per library\n"
"                         file, which every process mapping it runs into;\n"
"                         process: with a selector, each traced process gets\n"
"                         its own and others never stop at one (a new program\n"
"                         is probed once kspan sees its exec, so a short-lived\n"
"                         one's first calls can be missed)\n"
"      --sock-hook NAME   use only this way of finding the socket of a read or\n"
"                         write: fentry, kprobe, tp or fdwalk (default: the\n"
"                         first that works, in that order; see kspan probe)\n"
"      --capture socket|syscall\n"
"                         where the bytes are taken: socket (the default where\n"
"                         the kernel has sock_send_length, 6.3), as sendmsg or\n"
"                         recvmsg returns, so other syscalls pay nothing; or\n"
"                         syscall, at the exit of every syscall (the fallback;\n"
"                         the only one with a --sock-hook other than tp)\n"
"      --config FILE      read settings from this YAML file (see below)\n"
"      --log-level LEVEL  error, warn, info (default) or debug: the least\n"
"                         important messages written to stderr, each a line\n"
"                         'kspan: LEVEL: ...'\n"
"  -v, --verbose          --log-level debug: libbpf messages, probes attached,\n"
"                         the service name of each process, and every 5 s the\n"
"                         counters (with an 'info: self:' line of kspan's own)\n"
"  -h, --help             this text\n"
"      --version          print the version\n"
"\n"
"Environment: OTEL_TRACES_SAMPLER (always_on, always_off, traceidratio,\n"
"parentbased_always_on (default), parentbased_always_off,\n"
"parentbased_traceidratio) and OTEL_TRACES_SAMPLER_ARG choose which traces are\n"
"exported, decided from the trace id so every kspan instance agrees.\n"
"\n"
"Configuration: every long option can also be set as a key of the --config\n"
"file, named without the dashes ('exe: [\"*/nginx\"]', 'port: [8080]',\n"
"'inject-traceparent: true'), or as a KSPAN_* variable (KSPAN_EXE='*/nginx,*py*',\n"
"KSPAN_PORT=8080, KSPAN_INJECT_TRACEPARENT=true; KSPAN_CONFIG names the file).\n"
"The command line wins over the environment (KSPAN_* and OTEL_*), which wins\n"
"over the file. The file also holds service-names: rules naming processes by\n"
"executable, cgroup, container id or port. A bad file or value exits with 2.\n"
"service.name: the process's OTEL_SERVICE_NAME, else service.name in its\n"
"OTEL_RESOURCE_ATTRIBUTES, else a service-names rule, else its Kubernetes\n"
"app.kubernetes.io/name label or container name, else its executable's name;\n"
"a rule with 'override: true' wins over all of these. See README.\n"
"\n"
"Spans carry the TCP figures the kernel measured for their connection:\n"
"kspan.tcp.srtt_us (smoothed RTT), kspan.tcp.retransmits (segments this end\n"
"sent again during the span) and, on a connection's first request,\n"
"kspan.tcp.connect_us (handshake time); a figure not measured is left out.\n"
"\n"
"SIGINT or SIGTERM exports every finished span and exits 0.\n"
"Counters for everything dropped or skipped go to stderr on exit.\n";

struct opts {
	uint32_t pids[MAX_PIDS];
	size_t npids;
	const char *exporter;
	struct otlp_config otlp;
	const char *output;
	long duration;
	uint32_t cap_len;
	uint32_t linger_ms;
	uint32_t idle_s;
	uint32_t max_conns;
	bool no_pairing;
	const char *baggage_keys[H1_BAGGAGE_KEYS];
	size_t nbaggage;
	int sock_hook;
	int capture;		/* enum sys_hook forced, or -1 */
	struct redact_policy redact;
	struct sampler sampler;
	struct tail_config tail;
	struct selectors sel;
	bool inject;
	bool no_tls;
	bool tls_per_process;
};

static int parse_u32(const char *s, const char *what, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		log_error("invalid %s '%s': expected a number from %u to %u", what, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static void trace_selected(void *ctx, uint32_t pid)
{
	struct loader *l = ctx;

	if (!loader_pid_traced(l, pid) && loader_trace_pid(l, pid) == 0)
		log_info("tracing pid %u (selected)", pid);
}

static int cmd_probe(int argc, char **argv)
{
	struct probe_result r;
	bool verify = argc > 1 && strcmp(argv[1], "--verify") == 0;
	int chosen_sys = -1, chosen_sock = -1, err;

	err = loader_preflight();
	if (err)
		return 1;
	loader_probe(&r);
	printf("kernel BTF: %s\n", r.btf ? "yes (/sys/kernel/btf/vmlinux)" : "no");
	printf("capture (best first):\n");
	for (int i = 0; i < SYS_HOOK_MAX; i++) {
		if (!r.sys_err[i] && chosen_sys < 0)
			chosen_sys = i;
		printf("  %-44s %s%s%s\n", sys_hook_names[i],
		       r.sys_err[i] ? "unavailable: " : "works",
		       r.sys_err[i] ? r.sys_why[i] : "",
		       r.sys_err[i] ? "" : "");
	}
	printf("socket hooks (best first):\n");
	for (int i = 0; i < SOCK_HOOK_MAX; i++) {
		if (!r.sock_err[i] && chosen_sock < 0)
			chosen_sock = i;
		if (r.sock_err[i])
			printf("  %-44s unavailable: %s (%s)\n", sock_hook_names[i],
			       r.sock_why[i], strerror(-r.sock_err[i]));
		else
			printf("  %-44s works\n", sock_hook_names[i]);
	}
	/* Socket-layer capture is made of the socket tracepoints. */
	if (chosen_sys == SYS_HOOK_SOCKET)
		chosen_sock = SOCK_HOOK_TP;
	printf("chosen: %s + %s\n",
	       chosen_sys >= 0 ? sys_hook_names[chosen_sys] : "none",
	       chosen_sock >= 0 ? sock_hook_names[chosen_sock] : "none");
	if (verify) {
		printf("verifier, every program on its own:\n");
		if (loader_verify_all(stdout))
			return 1;
	}
	return chosen_sys >= 0 ? 0 : 1;
}

/* The options of the tracing command. An option added here can also be set
 * in the config file and as KSPAN_<NAME>; one that may be given several
 * times (each value adds one) goes in opt_repeatable too. */
enum {
	OPT_CAP = 256, OPT_LINGER, OPT_IDLE, OPT_MAXCONNS, OPT_VERSION, OPT_NOPAIR, OPT_BAGGAGE,
	OPT_SOCKHOOK, OPT_QALLOW, OPT_INJECT, OPT_EXE, OPT_PORT, OPT_CGROUP, OPT_CID, OPT_NOTLS,
	OPT_CONFIG, OPT_LOGLEVEL, OPT_TLSPROBES, OPT_CAPTURE,
};
static const struct option longopts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "exporter", required_argument, NULL, 'e' },
	{ "output", required_argument, NULL, 'o' },
	{ "duration", required_argument, NULL, 'd' },
	{ "capture-bytes", required_argument, NULL, OPT_CAP },
	{ "linger-ms", required_argument, NULL, OPT_LINGER },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE },
	{ "max-conns", required_argument, NULL, OPT_MAXCONNS },
	{ "no-local-pairing", no_argument, NULL, OPT_NOPAIR },
	{ "baggage-attributes", required_argument, NULL, OPT_BAGGAGE },
	{ "sock-hook", required_argument, NULL, OPT_SOCKHOOK },
	{ "capture", required_argument, NULL, OPT_CAPTURE },
	{ "query-allow", required_argument, NULL, OPT_QALLOW },
	{ "inject-traceparent", no_argument, NULL, OPT_INJECT },
	{ "exe", required_argument, NULL, OPT_EXE },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "container-id", required_argument, NULL, OPT_CID },
	{ "no-tls", no_argument, NULL, OPT_NOTLS },
	{ "tls-probes", required_argument, NULL, OPT_TLSPROBES },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "log-level", required_argument, NULL, OPT_LOGLEVEL },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	OTLP_LONG_OPTIONS,
	TAIL_LONG_OPTIONS,
	{},
};
static const char *const opt_repeatable[] = {
	"pid", "exe", "port", "cgroup", "container-id", NULL,
};
static const char *const opt_reserved[] = { "config", "help", "version", NULL };
static const struct config_schema opt_schema = {
	.options = longopts,
	.repeatable = opt_repeatable,
	.reserved = opt_reserved,
};
/* Settings by level; they own the strings the options point to. */
static struct config cfg[CONFIG_SRCS];

static void opts_init(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->cap_len = KSPAN_CAP_DEFAULT;
	o->linger_ms = 500;
	o->idle_s = 120;
	o->max_conns = 16384;
	o->sock_hook = -1;
	o->capture = -1;
	otlp_config_init(&o->otlp);
	tail_config_init(&o->tail);
}

/* One option, from the command line, the environment or the config file. */
static int apply_opt(void *ctx, int c, char *arg)
{
	struct opts *o = ctx;
	uint32_t v;

	switch (c) {
	case 'p':
		if (o->npids >= MAX_PIDS) {
			log_error("at most %d --pid options", MAX_PIDS);
			return -1;
		}
		if (parse_u32(arg, "pid", 1, 1u << 30, &v))
			return -1;
		o->pids[o->npids++] = v;
		break;
	case 'e':
		if (strcmp(arg, "tree") && strcmp(arg, "otlp-json") &&
		    strcmp(arg, "otlp")) {
			log_error("unknown exporter '%s': use tree, otlp or otlp-json", arg);
			return -1;
		}
		o->exporter = arg;
		break;
	case 'o':
		o->output = arg;
		break;
	case 'd':
		if (parse_u32(arg, "duration", 1, 1u << 30, &v))
			return -1;
		o->duration = v;
		break;
	case OPT_CAP:
		if (parse_u32(arg, "--capture-bytes", 64, KSPAN_CAP_MAX, &o->cap_len))
			return -1;
		break;
	case OPT_LINGER:
		if (parse_u32(arg, "--linger-ms", 0, 600000, &o->linger_ms))
			return -1;
		break;
	case OPT_IDLE:
		if (parse_u32(arg, "--idle-timeout", 1, 86400, &o->idle_s))
			return -1;
		break;
	case OPT_MAXCONNS:
		if (parse_u32(arg, "--max-conns", 16, 1u << 22, &o->max_conns))
			return -1;
		break;
	case OPT_EXE:
	case OPT_PORT:
	case OPT_CGROUP:
	case OPT_CID:
		if (select_add(&o->sel, c == OPT_EXE ? "exe" : c == OPT_PORT ? "port" :
			       c == OPT_CGROUP ? "cgroup" : "container-id", arg))
			return -1;
		break;
	case OPT_INJECT:
		o->inject = true;
		break;
	case OPT_NOTLS:
		o->no_tls = true;
		break;
	case OPT_TLSPROBES:
		if (strcmp(arg, "shared") && strcmp(arg, "process")) {
			log_error("invalid --tls-probes '%s': use shared or process", arg);
			return -1;
		}
		o->tls_per_process = strcmp(arg, "process") == 0;
		break;
	case OPT_QALLOW:
		for (char *save = NULL, *k = strtok_r(arg, ",", &save); k;
		     k = strtok_r(NULL, ",", &save)) {
			if (o->redact.nallow >= REDACT_ALLOW_MAX) {
				log_error("at most %d --query-allow names", REDACT_ALLOW_MAX);
				return -1;
			}
			o->redact.allow[o->redact.nallow++] = k;
		}
		break;
	case OPT_SOCKHOOK:
		o->sock_hook = loader_sock_hook_by_name(arg);
		if (o->sock_hook < 0) {
			log_error("unknown --sock-hook '%s': use fentry, kprobe, tp "
				  "or fdwalk", arg);
			return -1;
		}
		break;
	case OPT_CAPTURE:
		if (strcmp(arg, "socket") == 0) {
			o->capture = SYS_HOOK_SOCKET;
		} else if (strcmp(arg, "syscall") == 0) {
			o->capture = SYS_HOOK_TP_BTF;
		} else {
			log_error("unknown --capture '%s': use socket or syscall", arg);
			return -1;
		}
		break;
	case OPT_NOPAIR:
		o->no_pairing = true;
		break;
	case OPT_BAGGAGE:
		for (char *save = NULL, *k = strtok_r(arg, ",", &save); k;
		     k = strtok_r(NULL, ",", &save)) {
			if (o->nbaggage >= H1_BAGGAGE_KEYS) {
				log_error("at most %d --baggage-attributes keys", H1_BAGGAGE_KEYS);
				return -1;
			}
			/* Keys become attribute keys as they are (span.h). */
			if (!tracectx_baggage_key_ok(k)) {
				log_error("--baggage-attributes: '%s' is not a baggage key: use letters, digits and !#$%%&'*+-.^_`|~",
					  k);
				return -1;
			}
			o->baggage_keys[o->nbaggage++] = k;
		}
		break;
	case 'v':
		log_set_level(KLOG_DEBUG);
		break;
	case OPT_LOGLEVEL: {
		enum log_level lv;

		if (log_level_parse(arg, &lv)) {
			log_error("invalid --log-level '%s': use error, warn, info or debug", arg);
			return -1;
		}
		log_set_level(lv);
		break;
	}
	case OPT_CONFIG:
		break;		/* read before any other option */
	default:
		if (c >= OTLP_OPT_FIRST && c <= OTLP_OPT_LAST) {
			if (otlp_config_option(&o->otlp, otlp_option_name(c), arg))
				return -1;
			break;
		}
		if (c >= TAIL_OPT_FIRST && c <= TAIL_OPT_LAST) {
			if (tail_config_option(&o->tail, tail_option_name(c), arg))
				return -1;
			break;
		}
		fputs(usage, stderr);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	struct config *src[CONFIG_SRCS];
	const char *path = NULL;
	struct opts *scratch;
	int c, err = 0;

	for (int i = 0; i < CONFIG_SRCS; i++) {
		config_init(&cfg[i], i);
		src[i] = &cfg[i];
	}
	while ((c = getopt_long(argc, argv, "p:e:o:d:vh", longopts, NULL)) != -1) {
		const struct option *opt = config_option_val(&opt_schema, c);

		if (c == 'h') {
			fputs(usage, stdout);
			fputs("\n", stdout);
			fputs(tail_usage, stdout);
			fputs("\n", stdout);
			fputs(otlp_usage, stdout);
			exit(0);
		}
		if (c == OPT_VERSION) {
			printf("kspan %s\n", KSPAN_VERSION);
			exit(0);
		}
		if (!opt) {
			fputs(usage, stderr);
			return -1;
		}
		if (c == OPT_CONFIG)
			path = optarg;
		if (config_add(&cfg[CONFIG_SRC_CMDLINE], opt, optarg)) {
			log_error("too many options (at most %d)", CONFIG_SETTINGS_MAX);
			return -1;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see kspan --help)", argv[optind]);
		return -1;
	}
	if (!path && getenv("KSPAN_CONFIG") && *getenv("KSPAN_CONFIG"))
		path = getenv("KSPAN_CONFIG");
	if (path && config_load(&cfg[CONFIG_SRC_FILE], &opt_schema, path, stderr))
		return -1;
	if (config_from_env(&cfg[CONFIG_SRC_ENV], &opt_schema, NULL, stderr))
		return -1;
	/* Every value of the file and the environment must be valid, also
	 * those a higher level replaces. */
	scratch = malloc(sizeof(*scratch));
	if (!scratch)
		return -1;
	for (int i = CONFIG_SRC_FILE; i <= CONFIG_SRC_ENV && !err; i++) {
		opts_init(scratch);
		err = config_check(&cfg[i], apply_opt, scratch, stderr);
	}
	free(scratch);
	if (err)
		return -1;
	/* OTEL_* variables sit with KSPAN_* ones: above the file. */
	if (config_apply(src, CONFIG_SRC_FILE, apply_opt, o, stderr))
		return -1;
	otlp_config_from_env(&o->otlp, NULL, stderr);
	if (config_apply(src, CONFIG_SRC_ENV, apply_opt, o, stderr) ||
	    config_apply(src, CONFIG_SRC_CMDLINE, apply_opt, o, stderr))
		return -1;
	if (cfg[CONFIG_SRC_FILE].has_naming)
		naming_set(&cfg[CONFIG_SRC_FILE].naming);
	return 0;
}

static void print_counters(const struct loader *l, const struct kspan_app *a,
			   const struct tls_ctx *tls, FILE *f)
{
	const struct h1_stats *h = h1_ctx_stats(a->h1);
	const struct conn_stats *cs = conn_table_stats(a->conns);
	const struct trace_stats *ts = trace_buf_stats(a->traces);
	const struct nest_stats *ns = nest_stats(a->nest);
	uint64_t k[KSPAN_CNT_MAX] = {};

	loader_counters(l, k);
	log_to(f, KLOG_INFO, "bpf: events=%llu ringbuf_drops=%llu active_full=%llu socks_full=%llu "
	       "socks_stale=%llu read_faults=%llu truncated=%llu",
	       (unsigned long long)k[KSPAN_CNT_EVENTS], (unsigned long long)k[KSPAN_CNT_RB_FULL],
	       (unsigned long long)k[KSPAN_CNT_ACTIVE_FULL], (unsigned long long)k[KSPAN_CNT_SOCKS_FULL],
	       (unsigned long long)k[KSPAN_CNT_SOCKS_STALE],
	       (unsigned long long)k[KSPAN_CNT_READ_FAULT], (unsigned long long)k[KSPAN_CNT_TRUNCATED]);
	log_to(f, KLOG_INFO, "events: received=%llu data=%llu bad_records=%llu not_http_events=%llu "
	       "not_http_bytes=%llu not_http_conns=%llu",
	       (unsigned long long)a->st.events, (unsigned long long)a->st.data_events,
	       (unsigned long long)a->st.bad_records, (unsigned long long)a->st.skipped_other,
	       (unsigned long long)a->st.skipped_bytes, (unsigned long long)a->st.not_http_conns);
	log_to(f, KLOG_INFO, "conns: open=%u opened=%llu closed=%llu evicted_idle=%llu evicted_full=%llu "
	       "no_memory=%llu table_bytes=%zu",
	       conn_count(a->conns), (unsigned long long)cs->opened, (unsigned long long)cs->closed,
	       (unsigned long long)cs->evicted_idle, (unsigned long long)cs->evicted_full,
	       (unsigned long long)cs->no_memory, app_bytes(a));
	log_to(f, KLOG_INFO, "http1: requests=%llu responses=%llu spans=%llu parse_errors=%llu "
	       "head_too_large=%llu lost_events=%llu orphan_responses=%llu unanswered=%llu "
	       "pipeline_full=%llu pool_exhausted=%llu",
	       (unsigned long long)h->requests, (unsigned long long)h->responses,
	       (unsigned long long)h->spans, (unsigned long long)h->parse_errors,
	       (unsigned long long)h->head_too_large, (unsigned long long)h->lost_events,
	       (unsigned long long)h->orphan_responses, (unsigned long long)h->unanswered,
	       (unsigned long long)h->pipeline_full, (unsigned long long)h->pool_exhausted);
	{
		const struct h2_stats *h2 = h2_ctx_stats(a->h2);

		log_to(f, KLOG_INFO, "http2: conns=%llu streams=%llu spans=%llu blocks=%llu "
		       "blocks_lost=%llu hpack_errors=%llu hpack_unknown=%llu resets=%llu "
		       "protocol_errors=%llu lost_events=%llu streams_full=%llu malformed=%llu "
		       "orphan_responses=%llu unanswered=%llu no_role=%llu pool_exhausted=%llu "
		       "span_alloc_failed=%llu upgrades=%llu nest_refused=%llu",
		       (unsigned long long)h2->sessions, (unsigned long long)h2->requests,
		       (unsigned long long)h2->spans, (unsigned long long)h2->header_blocks,
		       (unsigned long long)h2->blocks_lost, (unsigned long long)h2->hpack_errors,
		       (unsigned long long)h2->hpack_unknown, (unsigned long long)h2->resets,
		       (unsigned long long)h2->protocol_errors, (unsigned long long)h2->lost_events,
		       (unsigned long long)h2->streams_full, (unsigned long long)h2->malformed,
		       (unsigned long long)h2->orphan_responses, (unsigned long long)h2->unanswered,
		       (unsigned long long)h2->no_role,
		       (unsigned long long)(h2->pool_exhausted + h2->sessions_full),
		       (unsigned long long)h2->span_alloc_failed,
		       (unsigned long long)h2->upgrades, (unsigned long long)h2->nest_refused);
	}
	{
		const struct tracectx_stats *tc = h1_ctx_context_stats(a->h1);

		log_to(f, KLOG_INFO, "inject: injected=%llu skipped=%llu failed=%llu unmatched=%llu "
		       "context_unseen=%llu tracestate_capped=%llu baggage_capped=%llu "
		       "props_dropped=%llu",
		       (unsigned long long)k[KSPAN_CNT_INJECTED],
		       (unsigned long long)k[KSPAN_CNT_INJECT_SKIPPED],
		       (unsigned long long)k[KSPAN_CNT_INJECT_FAILED],
		       (unsigned long long)h->injected_unmatched,
		       (unsigned long long)h->context_unseen,
		       (unsigned long long)k[KSPAN_CNT_TRACESTATE_CAPPED],
		       (unsigned long long)k[KSPAN_CNT_BAGGAGE_CAPPED],
		       (unsigned long long)k[KSPAN_CNT_PROPS_DROPPED]);
		log_to(f, KLOG_INFO, "context: valid=%llu traceparent_invalid=%llu "
		       "traceparent_duplicate=%llu tracestate_invalid=%llu b3_invalid=%llu "
		       "jaeger_invalid=%llu baggage_invalid=%llu",
		       (unsigned long long)h->context_in,
		       (unsigned long long)tc->traceparent_invalid,
		       (unsigned long long)tc->traceparent_duplicate,
		       (unsigned long long)tc->tracestate_invalid,
		       (unsigned long long)tc->b3_invalid, (unsigned long long)tc->jaeger_invalid,
		       (unsigned long long)tc->baggage_invalid);
	}
	log_to(f, KLOG_INFO, "spans: exported=%llu traces=%llu dropped=%llu flushed_early=%llu "
	       "held=%llu paired=%llu nested=%llu nest_ambiguous=%llu nest_stale=%llu "
	       "nest_full=%llu link_refused=%llu sampled_out=%llu",
	       (unsigned long long)ts->spans_out, (unsigned long long)ts->traces_out,
	       (unsigned long long)(ts->dropped + h->span_alloc_failed),
	       (unsigned long long)ts->flushed_early, (unsigned long long)ts->held,
	       (unsigned long long)ts->paired,
	       (unsigned long long)ts->nested, (unsigned long long)ns->ambiguous,
	       (unsigned long long)ns->stale, (unsigned long long)ns->full,
	       (unsigned long long)ts->link_refused, (unsigned long long)ts->sampled_out);
	if (a->tcp) {
		uint64_t kc[KSPAN_CONNS_CNT_MAX] = {};

		loader_conns_counters(l, kc);
		tcpfig_print_counters(a->tcp, kc, f);
	}
	if (otlp_exp)
		otlp_exporter_print_counters(otlp_exp, f);
	tail_print_counters(trace_tail(a->traces), f);
	tls_print_counters(tls, f);
}

/* kspan's own counters, a copy for the OTLP exporter (with the TCP metric
 * series) and, with log, one line on stderr. */
static void publish_self(const struct loader *l, const struct kspan_app *a, bool log)
{
	uint64_t k[KSPAN_CNT_MAX] = {}, kc[KSPAN_CONNS_CNT_MAX] = {};
	struct kspan_self_stats st = {};
	bool conns = loader_conns_counters(l, kc) == 0;

	loader_counters(l, k);
	selfstats_collect(&st, k, conns ? kc : NULL, a);
	if (otlp_exp) {
		struct otlp_stats os;

		otlp_exporter_stats(otlp_exp, &os);
		st.export_sent = os.sent;
		st.export_failed = os.failed + os.rejected;
		st.export_dropped = os.dropped;
		st.export_queue = os.queue;
		otlp_exporter_publish(otlp_exp, a->tcp ? tcpfig_metrics(a->tcp) : NULL, &st);
	}
	if (log)
		selfstats_log(stderr, &st);
}

int main(int argc, char **argv)
{
	static struct opts o;
	struct loader_opts lo = {};
	struct ring_buffer *rb = NULL;
	struct exporter *exp = NULL;
	struct kspan_app app = {};
	struct loader l = {};
	struct tls_ctx *tls = NULL;
	struct tail_sampler *tail = NULL;
	uint64_t start, last_sweep, last_stats, last_flush;
	int err, got, poll_ms = POLL_IDLE_MS;
	FILE *out = stdout;

	loader_log_init();
	if (argc > 1 && strcmp(argv[1], "conns") == 0)
		return conns_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "probe") == 0)
		return cmd_probe(argc - 1, argv + 1);
	opts_init(&o);
	if (parse_args(argc, argv, &o))
		return 2;
	if (log_on(KLOG_DEBUG))
		naming_set_log(stderr);
	if (o.output) {
		out = fopen(o.output, "w");
		if (!out) {
			log_error("failed to open output file %s: %s", o.output, strerror(errno));
			return 1;
		}
	}
	if (!o.exporter && o.otlp.endpoint_in_env)
		o.exporter = "otlp";
	if (!o.exporter)
		o.exporter = isatty(fileno(out)) ? "tree" : "otlp-json";
	if (loader_preflight())
		return 1;

	ids_init();
	if (app_init(&app, o.max_conns, 4096, (uint64_t)o.linger_ms * 1000000, !o.no_pairing)) {
		log_error("failed to allocate tables for %u connections: out of memory "
			  "(lower --max-conns)", o.max_conns);
		return 1;
	}
	h1_ctx_set_context(app.h1, TRACECTX_W3C | TRACECTX_B3 | TRACECTX_B3MULTI | TRACECTX_JAEGER,
			   o.baggage_keys, o.nbaggage);
	h1_ctx_set_redact(app.h1, &o.redact);
	h2_ctx_set_context(app.h2, TRACECTX_W3C | TRACECTX_B3 | TRACECTX_B3MULTI | TRACECTX_JAEGER,
			   o.baggage_keys, o.nbaggage);
	h2_ctx_set_redact(app.h2, &o.redact);
	sampler_from_env(&o.sampler, getenv("OTEL_TRACES_SAMPLER"),
			 getenv("OTEL_TRACES_SAMPLER_ARG"), stderr);
	trace_set_sampler(app.traces, &o.sampler);
	if (o.tail.enabled) {
		tail = tail_sampler_new(&o.tail, TAIL_TABLE_ENTRIES);
		if (!tail) {
			log_error("failed to allocate the tail sampling table: out of memory");
			err = 1;
			goto cleanup;
		}
		trace_set_tail(app.traces, tail);
	}
	if (strcmp(o.exporter, "otlp") == 0)
		exp = otlp_exp = otlp_exporter_new(&o.otlp);
	else if (strcmp(o.exporter, "tree") == 0)
		exp = tree_exporter_new(out, isatty(fileno(out)));
	else
		exp = otlp_json_exporter_new(out);
	if (!exp) {
		log_error("failed to create the %s exporter", o.exporter);
		err = 1;
		goto cleanup;
	}
	trace_add_exporter(app.traces, exp);

	lo.pids = o.pids;
	lo.npids = o.npids;
	lo.filter = select_any(&o.sel);
	lo.cap_len = o.cap_len;
	/* Mapped twice into kspan (for records that wrap), and all resident:
	 * 4 MiB costs 8 MiB of RSS. The reader is woken at a quarter full, so
	 * 3 MiB of headroom cover the time it takes to be scheduled. */
	lo.ringbuf_bytes = 4 << 20;
	/* The kernel's socket table: room for each tracked connection's
	 * socket and the peer socket on this host, with slack for sockets
	 * seen but not yet HTTP (65536 by default). */
	lo.max_socks = o.max_conns < (1u << 18) ? o.max_conns * 4 : 1u << 20;
	lo.force_sock_hook = o.sock_hook;
	lo.force_sys_hook = o.capture;
	lo.inject = o.inject;
	lo.tls = !o.no_tls;
	lo.tls_per_process = o.tls_per_process;
	lo.tcp = true;
	if (o.inject) {
		/* OTEL_PROPAGATORS picks the headers; unset, it is
		 * "tracecontext,baggage" as in the OpenTelemetry SDKs. */
		const char *prop = getenv("OTEL_PROPAGATORS");
		unsigned mask = TRACECTX_W3C | TRACECTX_BAGGAGE;

		if (prop && *prop && tracectx_propagators_parse(prop, &mask) < 0)
			log_warn("OTEL_PROPAGATORS '%s' names a propagator kspan does "
				 "not know; using the known ones", prop);
		lo.inject_fmt = (mask & TRACECTX_W3C ? KSPAN_INJ_TRACECONTEXT : 0) |
				(mask & TRACECTX_B3 ? KSPAN_INJ_B3 : 0) |
				(mask & TRACECTX_B3MULTI ? KSPAN_INJ_B3MULTI : 0) |
				(mask & TRACECTX_JAEGER ? KSPAN_INJ_JAEGER : 0);
		if (!lo.inject_fmt) {
			log_warn("OTEL_PROPAGATORS '%s' has no header kspan can "
				 "inject (tracecontext, b3, b3multi, jaeger): not injecting", prop);
			lo.inject = false;
		}
		/* Baggage goes with the trace headers, never alone. */
		if (mask & TRACECTX_BAGGAGE)
			lo.inject_fmt |= KSPAN_INJ_BAGGAGE;
	}
	err = loader_start(&l, &lo);
	if (err) {
		err = 1;
		goto cleanup;
	}
	log_debug("attached %s + %s", sys_hook_names[l.sys_hook], sock_hook_names[l.sock_hook]);
	if (l.conns && app_tcp_init(&app, o.max_conns))
		log_warn("failed to allocate the TCP figure table: out of memory; "
			 "spans carry no TCP figures (lower --max-conns)");

	select_scan(&o.sel, getpid(), trace_selected, &l);
	rb = ring_buffer__new(loader_ringbuf_fd(&l), app_handle_event, &app, NULL);
	if (!rb) {
		log_error("failed to open the ring buffer: %s", strerror(errno));
		err = 1;
		goto cleanup;
	}
	if (lo.tls) {
		/* Without it HTTPS goes untraced, plaintext still works. */
		tls = tls_start(l.skel, rb, o.tls_per_process);
		if (!tls)
			log_warn("failed to start TLS tracing: HTTPS is not traced");
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	log_info("tracing %s (Ctrl-C to stop)",
		 o.npids || lo.filter ? "the selected processes" : "every process");

	start = last_sweep = last_stats = last_flush = ids_mono_now();
	while (!exiting) {
		/* Events are submitted without wakeups: poll on a timer and
		 * drain whatever is there (POLL_BUSY_MS above). */
		err = ring_buffer__poll(rb, poll_ms);
		if (err < 0 && err != -EINTR) {
			log_error("failed to read the ring buffer: %s", strerror(-err));
			break;
		}
		got = err > 0 ? err : 0;
		app.now_ns = ids_mono_now();
		err = ring_buffer__consume(rb);
		got += err > 0 ? err : 0;
		if (got)
			poll_ms = POLL_BUSY_MS;
		else if (poll_ms < POLL_IDLE_MS)
			poll_ms = poll_ms * 2 < POLL_IDLE_MS ? poll_ms * 2 : POLL_IDLE_MS;
		if (app.now_ns - last_flush >= FLUSH_EVERY_NS) {
			trace_flush(app.traces, app.now_ns, false);
			last_flush = app.now_ns;
		}
		tls_poll(tls, app.now_ns);
		if (app.now_ns - last_sweep >= 1000000000ull) {
			/* Selected processes that started since the last scan. */
			select_scan(&o.sel, getpid(), trace_selected, &l);
			app_sweep(&app, (uint64_t)o.idle_s * 1000000000ull);
			publish_self(&l, &app, false);
			last_sweep = app.now_ns;
		}
		if (log_on(KLOG_DEBUG) && app.now_ns - last_stats >= 5000000000ull) {
			print_counters(&l, &app, tls, stderr);
			publish_self(&l, &app, true);
			last_stats = app.now_ns;
		}
		if (o.duration && app.now_ns - start >= (uint64_t)o.duration * 1000000000ull)
			break;
	}
	err = 0;
	app.now_ns = ids_mono_now();
	ring_buffer__consume(rb);
	if (exp->closing)
		exp->closing(exp);
	app_close_all(&app);
	trace_flush(app.traces, app.now_ns, true);
	publish_self(&l, &app, false);
	exp->flush(exp);
	print_counters(&l, &app, tls, stderr);
cleanup:
	tls_stop(tls);
	ring_buffer__free(rb);
	if (l.skel)
		loader_stop(&l);
	if (exp)
		exp->destroy(exp);
	app_free(&app);
	tail_sampler_free(tail);
	if (out != stdout)
		fclose(out);
	naming_set(NULL);
	for (int i = 0; i < CONFIG_SRCS; i++)
		config_free(&cfg[i]);
	return err;
}
