// SPDX-License-Identifier: Apache-2.0
/* `kspan conns`: load the conns programs with the rest of kspan's BPF, keep
 * a table of connections from their records, and show it like top, or print
 * one JSON object per connection event. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conns.h"
#include "conns_table.h"
#include "ids.h"
#include "kspan.skel.h"
#include "loader.h"
#include "log.h"

#define CONNS_MAX_PIDS	256
#define CONNS_MAX_PORTS	16

static volatile sig_atomic_t conns_exiting;

static void conns_on_signal(int sig)
{
	(void)sig;
	conns_exiting = 1;
}

static const char conns_usage[] =
"Usage: kspan conns [OPTIONS]   live table of TCP connections and their latency\n"
"\n"
"Each connection of a traced process shows its connect time (client: SYN to\n"
"established; server: SYN-ACK to ACK), smoothed RTT, RTT variance, minimum\n"
"RTT, retransmitted segments, resets, bytes in and out and age. A figure the\n"
"kernel did not measure shows as '-' (null in JSON). Failed connects show\n"
"their reason: refused, timeout, unreachable, reset or aborted.\n"
"\n"
"Options:\n"
"  -p, --pid PID          only this process and its children (repeatable)\n"
"  -P, --port PORT        only connections with this local or remote port\n"
"                         (repeatable)\n"
"  -s, --sort KEY         rtt (default), connect, retrans, bytes or age\n"
"  -i, --interval SECS    refresh the table, and send figures at most this\n"
"                         often per connection, retransmits at once\n"
"                         (default 1; 0.1 .. 60)\n"
"  -d, --duration SECS    stop after SECS seconds\n"
"  -k, --keep SECS        closed connections stay visible this long (default 10)\n"
"  -j, --json             one JSON object per connection event, one per line\n"
"      --max-conns N      rows kept (default 4096)\n"
"  -v, --verbose          libbpf messages\n"
"  -h, --help             this text\n";

struct conns_opts {
	uint32_t pids[CONNS_MAX_PIDS];
	size_t npids;
	uint16_t ports[CONNS_MAX_PORTS];
	size_t nports;
	enum conns_sort sort;
	uint64_t interval_ns;
	uint64_t duration_ns;
	uint64_t keep_ns;
	uint32_t max_conns;
	bool json;
	bool verbose;
};

struct conns_ctx {
	const struct conns_opts *o;
	struct conns_table *t;
	FILE *out;
};

static int conns_parse_num(const char *s, const char *what, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < lo || v > hi) {
		log_error("invalid %s '%s': expected a number from %g to %g", what, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int conns_parse_args(int argc, char **argv, struct conns_opts *o)
{
	enum { OPT_MAXCONNS = 256 };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "port", required_argument, NULL, 'P' },
		{ "sort", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "keep", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "max-conns", required_argument, NULL, OPT_MAXCONNS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	double v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:P:s:i:d:k:jvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (o->npids >= CONNS_MAX_PIDS) {
				log_error("at most %d --pid options", CONNS_MAX_PIDS);
				return -1;
			}
			if (conns_parse_num(optarg, "pid", 1, 1u << 30, &v) || v != (uint32_t)v)
				return -1;
			o->pids[o->npids++] = (uint32_t)v;
			break;
		case 'P':
			if (o->nports >= CONNS_MAX_PORTS) {
				log_error("at most %d --port options", CONNS_MAX_PORTS);
				return -1;
			}
			if (conns_parse_num(optarg, "port", 1, 65535, &v) || v != (uint16_t)v)
				return -1;
			o->ports[o->nports++] = (uint16_t)v;
			break;
		case 's':
			c = conns_sort_by_name(optarg);
			if (c < 0) {
				log_error("unknown --sort '%s': use rtt, connect, "
					  "retrans, bytes or age", optarg);
				return -1;
			}
			o->sort = c;
			break;
		case 'i':
			if (conns_parse_num(optarg, "--interval", 0.1, 60, &v))
				return -1;
			o->interval_ns = (uint64_t)(v * 1e9);
			break;
		case 'd':
			if (conns_parse_num(optarg, "duration", 0.1, 1u << 30, &v))
				return -1;
			o->duration_ns = (uint64_t)(v * 1e9);
			break;
		case 'k':
			if (conns_parse_num(optarg, "--keep", 0, 86400, &v))
				return -1;
			o->keep_ns = (uint64_t)(v * 1e9);
			break;
		case OPT_MAXCONNS:
			if (conns_parse_num(optarg, "--max-conns", 16, 1u << 20, &v))
				return -1;
			o->max_conns = (uint32_t)v;
			break;
		case 'j':
			o->json = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			fputs(conns_usage, stdout);
			exit(0);
		default:
			fputs(conns_usage, stderr);
			return -1;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see kspan conns --help)", argv[optind]);
		return -1;
	}
	return 0;
}

static bool conns_port_match(const struct conns_opts *o, const struct conns_row *r)
{
	if (!o->nports)
		return true;
	for (size_t i = 0; i < o->nports; i++)
		if (r->tuple.sport == o->ports[i] || r->tuple.dport == o->ports[i])
			return true;
	return false;
}

/* The name of a process, for accepted connections whose record has none. */
static void conns_read_comm(uint32_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0) {
		buf[0] = '\0';
		return;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

static int conns_handle_event(void *ctx, void *data, size_t size)
{
	struct conns_ctx *c = ctx;
	const struct conns_row *r;
	struct kspan_conn_event ce;
	char comm[KSPAN_COMM_LEN];
	uint32_t type;

	if (size < sizeof(type))
		return 0;
	memcpy(&type, data, sizeof(type));
	/* connect/accept records of the syscall programs name the owner of
	 * an accepted connection, which the TCP hooks cannot see. */
	if (type == KSPAN_EV_CONN) {
		if (size < sizeof(ce))
			return 0;
		memcpy(&ce, data, sizeof(ce));
		ce.comm[sizeof(ce.comm) - 1] = '\0';
		conns_table_set_owner(c->t, ce.hdr.cookie, ce.hdr.pid, ce.comm);
		return 0;
	}
	r = conns_table_apply(c->t, data, size);
	if (!r)
		return 0;
	if (r->pid && !r->comm[0]) {
		conns_read_comm(r->pid, comm, sizeof(comm));
		conns_table_set_owner(c->t, r->cookie, 0, comm);
	}
	if (c->o->json && conns_port_match(c->o, r))
		conns_print_json(c->out, type, r, r->ts_last);
	return 0;
}

/* The kernel sends a connection's figures at most once per interval, on
 * its next packet; a quiet connection's last change is only in the `conns`
 * map. Read it for every live row and turn news into a STATS record. */
static void conns_sweep(struct conns_ctx *c, const struct loader *l, uint64_t now)
{
	int fd = bpf_map__fd(l->skel->maps.conns);
	uint32_t n = conns_table_count(c->t);
	const struct conns_row **rows;
	struct kspan_conns_state v;
	size_t got;

	if (!n)
		return;
	rows = calloc(n, sizeof(*rows));
	if (!rows)
		return;
	got = conns_table_sorted(c->t, CONNS_SORT_AGE, rows, n);
	for (size_t i = 0; i < got; i++) {
		if (rows[i]->status != CONNS_CONNECTING && rows[i]->status != CONNS_OPEN)
			continue;
		if (bpf_map_lookup_elem(fd, &rows[i]->cookie, &v) || !v.announced ||
		    !conns_table_stale(rows[i], &v.ev))
			continue;
		v.ev.type = KSPAN_EV_CONNS_STATS;
		v.ev.ts = now;
		conns_handle_event(c, &v.ev, sizeof(v.ev));
	}
	free(rows);
}

static unsigned int conns_term_rows(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 4)
		return ws.ws_row;
	return 40;
}

static void conns_draw(struct conns_ctx *c, const struct loader *l, uint64_t now, bool tty)
{
	const struct conns_opts *o = c->o;
	static const char *const sort_names[CONNS_SORT_MAX] = {
		"rtt", "connect", "retrans", "bytes", "age",
	};
	unsigned int room = tty ? conns_term_rows() - 3 : 1000;
	uint32_t n = conns_table_count(c->t), shown = 0, match = 0;
	const struct conns_row **rows;
	uint64_t k[KSPAN_CONNS_CNT_MAX] = {};
	size_t got;

	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows)
		return;
	got = conns_table_sorted(c->t, o->sort, rows, n);
	loader_conns_counters(l, k);
	for (size_t i = 0; i < got; i++)
		match += conns_port_match(o, rows[i]);
	if (tty)
		fputs("\033[H\033[2J", c->out);
	fprintf(c->out, "kspan conns: %u connections, sorted by %s, every %.1fs "
		"(ring drops %llu, table full %llu)\n", match, sort_names[o->sort],
		o->interval_ns / 1e9, (unsigned long long)k[KSPAN_CONNS_CNT_RB_FULL],
		(unsigned long long)k[KSPAN_CONNS_CNT_TABLE_FULL]);
	conns_print_header(c->out);
	for (size_t i = 0; i < got && shown < room; i++) {
		if (!conns_port_match(o, rows[i]))
			continue;
		conns_print_row(c->out, rows[i], now);
		shown++;
	}
	if (!tty)
		fputc('\n', c->out);
	fflush(c->out);
	free(rows);
}

int conns_main(int argc, char **argv)
{
	struct conns_opts o = {
		.sort = CONNS_SORT_RTT,
		.interval_ns = 1000000000ULL,
		.keep_ns = 10000000000ULL,
		.max_conns = 4096,
	};
	struct kspan_conns_cfg cfg = {};
	struct loader_opts lo = {};
	struct ring_buffer *rb = NULL;
	struct conns_ctx c = { .o = &o, .out = stdout };
	struct loader l = {};
	uint64_t start, now, last_draw = 0;
	uint32_t zero = 0;
	bool tty;
	int err;

	if (conns_parse_args(argc, argv, &o))
		return 2;
	loader_log_init();
	if (o.verbose)
		log_set_level(KLOG_DEBUG);
	if (loader_preflight())
		return 1;
	c.t = conns_table_new(o.max_conns, o.keep_ns);
	if (!c.t) {
		log_error("failed to allocate a table for %u connections: "
			  "out of memory (lower --max-conns)", o.max_conns);
		return 1;
	}
	tty = isatty(STDOUT_FILENO);

	lo.pids = o.pids;
	lo.npids = o.npids;
	/* Payload is not needed here: the data programs still run (the
	 * loader has no switch for them) but copy nothing. */
	lo.cap_len = 0;
	lo.ringbuf_bytes = 8 << 20;
	lo.max_socks = 65536;
	lo.force_sock_hook = -1;
	lo.force_sys_hook = -1;
	lo.conns = true;
	err = loader_start(&l, &lo);
	if (err) {
		err = 1;
		goto cleanup;
	}
	cfg.stats_interval_ns = o.interval_ns;
	if (bpf_map_update_elem(bpf_map__fd(l.skel->maps.conns_cfg), &zero, &cfg, BPF_ANY)) {
		log_error("failed to set the stats interval: %s", strerror(errno));
		err = 1;
		goto cleanup;
	}
	rb = ring_buffer__new(loader_ringbuf_fd(&l), conns_handle_event, &c, NULL);
	if (!rb) {
		log_error("failed to open the ring buffer: %s", strerror(errno));
		err = 1;
		goto cleanup;
	}
	signal(SIGINT, conns_on_signal);
	signal(SIGTERM, conns_on_signal);
	log_info("watching connections of %s (Ctrl-C to stop)",
		 o.npids ? "the given processes" : "every process");

	start = ids_mono_now();
	while (!conns_exiting) {
		/* Records come without wakeups: poll on a timer. */
		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			log_error("failed to read the ring buffer: %s", strerror(-err));
			break;
		}
		ring_buffer__consume(rb);
		if (o.json)
			fflush(c.out);
		now = ids_mono_now();
		conns_table_expire(c.t, now);
		if (now - last_draw >= o.interval_ns) {
			conns_sweep(&c, &l, now);
			if (!o.json)
				conns_draw(&c, &l, now, tty);
			last_draw = now;
		}
		if (o.duration_ns && now - start >= o.duration_ns)
			break;
	}
	ring_buffer__consume(rb);
	if (o.json)
		fflush(c.out);
	else
		conns_draw(&c, &l, ids_mono_now(), tty);
	err = 0;
	{
		const struct conns_stats *st = conns_table_stats(c.t);

		log_info("conns: records=%llu bad_records=%llu evicted_full=%llu "
			 "expired=%llu", (unsigned long long)st->records,
			 (unsigned long long)st->bad_records, (unsigned long long)st->evicted_full,
			 (unsigned long long)st->expired);
	}
cleanup:
	ring_buffer__free(rb);
	if (l.skel)
		loader_stop(&l);
	conns_table_free(c.t);
	return err;
}
