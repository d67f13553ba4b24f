// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "kspan.skel.h"
#include "kspan_conns.h"
#include "loader.h"
#include "log.h"

const char *const sock_hook_names[SOCK_HOOK_MAX] = {
	[SOCK_HOOK_FENTRY] = "fentry tcp_sendmsg/tcp_recvmsg",
	[SOCK_HOOK_KPROBE] = "kprobe tcp_sendmsg/tcp_recvmsg",
	[SOCK_HOOK_TP] = "tp_btf sock_send_length/sock_recv_length",
	[SOCK_HOOK_FDWALK] = "fd table walk at syscall exit",
};

const char *const sys_hook_names[SYS_HOOK_MAX] = {
	[SYS_HOOK_SOCKET] = "socket layer, no syscall hook",
	[SYS_HOOK_TP_BTF] = "tp_btf sys_enter/sys_exit",
	[SYS_HOOK_RAW_TP] = "raw_tp sys_enter/sys_exit",
};

/* libbpf's warnings and notes are kspan's debug lines (fallbacks while
 * probing make warnings that are no fault); its own debug output is left out. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG || !log_on(KLOG_DEBUG))
		return 0;
	log_vto(stderr, KLOG_DEBUG, fmt, args);
	return 0;
}

void loader_log_init(void)
{
	libbpf_set_print(libbpf_print);
}

static bool has_cap(const struct __user_cap_data_struct *d, int cap)
{
	return d[cap / 32].effective & (1U << (cap % 32));
}

int loader_preflight(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data)) {
		log_error("failed to read capabilities: %s", strerror(errno));
		return -errno;
	}
	if (!has_cap(data, CAP_SYS_ADMIN) &&
	    !(has_cap(data, CAP_BPF) && has_cap(data, CAP_PERFMON))) {
		log_error("needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) to load BPF programs: "
			  "run as root, or grant them (setcap cap_bpf,cap_perfmon,cap_net_admin,"
			  "cap_sys_ptrace,cap_dac_read_search+ep build/kspan)");
		return -EPERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		log_error("kernel BTF not found at /sys/kernel/btf/vmlinux: kspan needs a "
			  "kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.4 are)");
		return -ENOENT;
	}
	return 0;
}

/* r0 = 0; exit */
static const struct bpf_insn ret0[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
	{ .code = BPF_JMP | BPF_EXIT },
};

/* Attach a probe program (tp NULL: to its BTF target), then let both go. */
static int attach_and_close(int prog, const char *tp, const char **why)
{
	int link = bpf_raw_tracepoint_open(tp, prog), err = 0;

	if (link < 0) {
		err = -errno;
		*why = "attach refused";
	} else {
		close(link);
	}
	close(prog);
	return err;
}

/* Load a two-instruction tracing program against a BTF target and attach it. */
static int try_tracing(struct btf *btf, enum bpf_attach_type type,
		       const char *name, int kind, const char **why)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = type);
	int id, prog;

	id = btf__find_by_name_kind(btf, name, kind);
	if (id <= 0) {
		*why = "not in kernel BTF";
		return -ENOENT;
	}
	opts.attach_btf_id = id;
	prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", ret0, 2, &opts);
	if (prog < 0) {
		*why = "program load refused";
		return -errno;
	}
	return attach_and_close(prog, NULL, why);
}

/* kprobes work when the kprobe PMU exists and accepts tcp_sendmsg. */
static int try_kprobe(const char **why)
{
	struct perf_event_attr attr = { .size = sizeof(attr) };
	char buf[32] = {};
	int fd, type;

	fd = open("/sys/bus/event_source/devices/kprobe/type", O_RDONLY);
	if (fd < 0) {
		*why = "no kprobe PMU (kernel built without CONFIG_KPROBES?)";
		return -ENOENT;
	}
	if (read(fd, buf, sizeof(buf) - 1) <= 0) {
		close(fd);
		*why = "cannot read kprobe PMU type";
		return -EIO;
	}
	close(fd);
	type = atoi(buf);
	attr.type = type;
	attr.config1 = (__u64)(unsigned long)"tcp_sendmsg";
	fd = syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		*why = "kprobe on tcp_sendmsg refused";
		return -errno;
	}
	close(fd);
	return 0;
}

static int try_raw_tp(const char **why)
{
	int prog;

	prog = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, NULL, "GPL", ret0, 2, NULL);
	if (prog < 0) {
		*why = "program load refused";
		return -errno;
	}
	return attach_and_close(prog, "sys_enter", why);
}

void loader_probe(struct probe_result *r)
{
	struct btf *btf;

	memset(r, 0, sizeof(*r));
	btf = btf__load_vmlinux_btf();
	r->btf = btf != NULL;
	if (!btf) {
		for (int i = 0; i < SOCK_HOOK_MAX; i++) {
			r->sock_err[i] = -ENOENT;
			r->sock_why[i] = "no kernel BTF";
		}
		for (int i = 0; i < SYS_HOOK_MAX; i++) {
			r->sys_err[i] = -ENOENT;
			r->sys_why[i] = "no kernel BTF";
		}
		return;
	}
	r->sock_err[SOCK_HOOK_FENTRY] = try_tracing(btf, BPF_TRACE_FENTRY, "tcp_sendmsg",
						    BTF_KIND_FUNC, &r->sock_why[SOCK_HOOK_FENTRY]);
	r->sock_err[SOCK_HOOK_KPROBE] = try_kprobe(&r->sock_why[SOCK_HOOK_KPROBE]);
	r->sock_err[SOCK_HOOK_TP] = try_tracing(btf, BPF_TRACE_RAW_TP,
						"btf_trace_sock_send_length", BTF_KIND_TYPEDEF,
						&r->sock_why[SOCK_HOOK_TP]);
	r->sock_err[SOCK_HOOK_FDWALK] = 0;
	/* Socket-layer capture needs the socket tracepoints (and
	 * bpf_task_pt_regs, 5.15, which they postdate). */
	r->sys_err[SYS_HOOK_SOCKET] = r->sock_err[SOCK_HOOK_TP];
	r->send_start = btf__find_by_name_kind(btf, "btf_trace_tcp_sendmsg_locked",
					       BTF_KIND_TYPEDEF) >= 0;
	r->sys_why[SYS_HOOK_SOCKET] = r->sock_why[SOCK_HOOK_TP];
	r->sys_err[SYS_HOOK_TP_BTF] = try_tracing(btf, BPF_TRACE_RAW_TP, "btf_trace_sys_enter",
						  BTF_KIND_TYPEDEF, &r->sys_why[SYS_HOOK_TP_BTF]);
	r->sys_err[SYS_HOOK_RAW_TP] = try_raw_tp(&r->sys_why[SYS_HOOK_RAW_TP]);
	btf__free(btf);
}

int loader_sock_hook_by_name(const char *name)
{
	static const char *const short_names[SOCK_HOOK_MAX] = {
		[SOCK_HOOK_FENTRY] = "fentry", [SOCK_HOOK_KPROBE] = "kprobe",
		[SOCK_HOOK_TP] = "tp", [SOCK_HOOK_FDWALK] = "fdwalk",
	};

	for (int i = 0; i < SOCK_HOOK_MAX; i++)
		if (strcmp(name, short_names[i]) == 0)
			return i;
	return -1;
}

static void detach_inject(struct loader *l)
{
	bpf_link__destroy(l->sockops_link);
	l->sockops_link = NULL;
	if (l->msg_attached)
		bpf_prog_detach2(bpf_program__fd(l->skel->progs.inject_msg),
				 bpf_map__fd(l->skel->maps.inj_hash), BPF_SK_MSG_VERDICT);
	l->msg_attached = false;
	if (l->cgroup_fd > 0)
		close(l->cgroup_fd);
	l->cgroup_fd = -1;
}

static void set_autoload(struct kspan_bpf *s, enum sys_hook sys, enum sock_hook sock,
			 bool conns, bool inject, bool tls, bool send_length_tp, bool send_start)
{
	bpf_program__set_autoload(s->progs.inject_sockops, inject);
	bpf_program__set_autoload(s->progs.inject_msg, inject);
	struct bpf_program *p;

	/* The TCP-figure programs are named conns_*. */
	bpf_object__for_each_program(p, s->obj)
		if (strncmp(bpf_program__name(p), "conns_", 6) == 0)
			bpf_program__set_autoload(p, conns);
		else if (strncmp(bpf_program__name(p), "tls_", 4) == 0)
			bpf_program__set_autoload(p, tls);
	/* Their owner-naming hooks use sock_send_length/sock_recv_length
	 * (kernel 6.3); without them tcp_rcv_space_adjust names the reader.
	 * The socket-layer capture runs on the same two tracepoints and names
	 * owners itself (targ_conns_owner). */
	if (conns) {
		bool own = send_length_tp && sys != SYS_HOOK_SOCKET;

		bpf_program__set_autoload(s->progs.conns_sock_send, own);
		bpf_program__set_autoload(s->progs.conns_sock_recv, own);
		bpf_program__set_autoload(s->progs.conns_rcv_space, !send_length_tp);
	}
	s->rodata->targ_conns_owner = conns && send_length_tp && sys == SYS_HOOK_SOCKET;
	bpf_program__set_autoload(s->progs.sys_enter_btf, sys == SYS_HOOK_TP_BTF);
	bpf_program__set_autoload(s->progs.sys_exit_btf, sys == SYS_HOOK_TP_BTF);
	bpf_program__set_autoload(s->progs.sys_enter_raw, sys == SYS_HOOK_RAW_TP);
	bpf_program__set_autoload(s->progs.sys_exit_raw, sys == SYS_HOOK_RAW_TP);
	bpf_program__set_autoload(s->progs.tcp_sendmsg_fentry, sock == SOCK_HOOK_FENTRY);
	bpf_program__set_autoload(s->progs.tcp_recvmsg_fentry, sock == SOCK_HOOK_FENTRY);
	bpf_program__set_autoload(s->progs.tcp_sendmsg_kprobe, sock == SOCK_HOOK_KPROBE);
	bpf_program__set_autoload(s->progs.tcp_recvmsg_kprobe, sock == SOCK_HOOK_KPROBE);
	bpf_program__set_autoload(s->progs.sock_send_length_btf,
				  sock == SOCK_HOOK_TP && sys != SYS_HOOK_SOCKET);
	bpf_program__set_autoload(s->progs.sock_recv_length_btf,
				  sock == SOCK_HOOK_TP && sys != SYS_HOOK_SOCKET);
	bpf_program__set_autoload(s->progs.sock_send_data, sys == SYS_HOOK_SOCKET);
	bpf_program__set_autoload(s->progs.sock_recv_data, sys == SYS_HOOK_SOCKET);
	bpf_program__set_autoload(s->progs.sock_destroy_btf, sys == SYS_HOOK_SOCKET);
	bpf_program__set_autoload(s->progs.sock_send_start, sys == SYS_HOOK_SOCKET && send_start);
}

/* ppid from /proc/PID/stat, or 0. The comm field may hold spaces and
 * parentheses, so parse after the last ')'. */
static uint32_t read_ppid(uint32_t pid)
{
	char path[64], buf[512], *p;
	int fd;
	ssize_t n;
	unsigned int ppid = 0;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %u", &ppid) != 1)
		return 0;
	return ppid;
}

static int pid_set(int fd, uint32_t pid)
{
	uint32_t word = pid / 64;
	uint64_t bits;

	if (pid >= KSPAN_PID_WORDS * 64ull || bpf_map_lookup_elem(fd, &word, &bits))
		return -EINVAL;
	bits |= 1ULL << (pid % 64);
	return bpf_map_update_elem(fd, &word, &bits, BPF_ANY) ? -errno : 0;
}

static bool pid_isset(int fd, uint32_t pid)
{
	uint32_t word = pid / 64;
	uint64_t bits;

	if (pid >= KSPAN_PID_WORDS * 64ull || bpf_map_lookup_elem(fd, &word, &bits))
		return false;
	return bits & (1ULL << (pid % 64));
}

/* Add pids and the descendants they already have; later forks are followed
 * in BPF. */
static int add_pids(struct kspan_bpf *s, const uint32_t *pids, size_t n)
{
	int fd = bpf_map__fd(s->maps.pids), err;
	struct dirent *de;
	char path[64];
	DIR *dir;

	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/%u", pids[i]);
		if (access(path, F_OK)) {
			log_error("no process with pid %u: check the --pid value "
				  "(it may have exited)", pids[i]);
			return -ESRCH;
		}
		err = pid_set(fd, pids[i]);
		if (err) {
			log_error("failed to add pid %u to the filter: %s",
				  pids[i], strerror(-err));
			return err;
		}
	}
	dir = opendir("/proc");
	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		uint32_t pid = strtoul(de->d_name, NULL, 10), p = pid;

		if (!pid)
			continue;
		/* Walk up at most 16 generations looking for a traced ancestor. */
		for (int depth = 0; depth < 16 && p > 1; depth++) {
			p = read_ppid(p);
			if (p && pid_isset(fd, p)) {
				pid_set(fd, pid);
				break;
			}
		}
	}
	closedir(dir);
	return 0;
}

/* The cgroup v2 hierarchy, from /proc/self/mounts. */
static int cgroup2_path(char *buf, size_t len)
{
	char line[512], dev[64], path[256], type[32];
	FILE *f = fopen("/proc/self/mounts", "r");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %255s %31s", dev, path, type) == 3 &&
		    strcmp(type, "cgroup2") == 0) {
			snprintf(buf, len, "%s", path);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

/* sock_ops on the root cgroup puts client connections in the sockhash; the
 * sk_msg verdict program runs on their sends. */
static int attach_inject(struct loader *l)
{
	struct kspan_bpf *s = l->skel;
	char path[256];
	int err;

	err = cgroup2_path(path, sizeof(path));
	if (err) {
		log_error("--inject-traceparent needs the cgroup v2 hierarchy, "
			  "and none is mounted: mount -t cgroup2 none /sys/fs/cgroup/unified");
		return err;
	}
	l->cgroup_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->cgroup_fd < 0) {
		err = -errno;
		log_error("failed to open cgroup %s: %s", path, strerror(errno));
		return err;
	}
	err = bpf_prog_attach(bpf_program__fd(s->progs.inject_msg),
			      bpf_map__fd(s->maps.inj_hash), BPF_SK_MSG_VERDICT, 0);
	if (err) {
		err = -errno;
		log_error("failed to attach the sk_msg program: %s "
			  "(needs CAP_NET_ADMIN)", strerror(errno));
		goto fail;
	}
	l->msg_attached = true;
	l->sockops_link = bpf_program__attach_cgroup(s->progs.inject_sockops, l->cgroup_fd);
	if (!l->sockops_link) {
		err = -errno;
		log_error("failed to attach sock_ops to cgroup %s: %s "
			  "(needs CAP_NET_ADMIN)", path, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	detach_inject(l);
	return err;
}

/* *fatal is set when retrying with other hooks cannot help (a --pid that
 * does not exist). */
static int try_load_one(struct loader *l, const struct loader_opts *o, enum sys_hook sys,
			enum sock_hook sock, bool conns, bool *fatal)
{
	struct kspan_bpf *s;
	int err;

	s = kspan_bpf__open();
	if (!s)
		return -errno;
	set_autoload(s, sys, sock, conns, o->inject, o->tls, !l->probe.sock_err[SOCK_HOOK_TP],
		     l->probe.send_start);
	/* Tracing (not the conns view, which redraws figures while a call
	 * blocks) with socket-layer capture: the owner's calls stand in for
	 * tcp_probe (targ_conns_calls in bpf/conns.bpf.h). */
	s->rodata->targ_conns_calls = s->rodata->targ_conns_owner && !o->conns;
	if (s->rodata->targ_conns_calls)
		bpf_program__set_autoload(s->progs.conns_tcp_probe, false);
	s->rodata->targ_tls = o->tls;
	s->rodata->targ_inject = o->inject;
	s->rodata->targ_inject_fmt = o->inject_fmt ? o->inject_fmt : KSPAN_INJ_TRACECONTEXT;
	s->rodata->targ_filter_pids = o->npids > 0 || o->filter;
	/* Forks matter only to per-process TLS probes. */
	bpf_program__set_autoload(s->progs.tls_fork, o->tls && o->tls_per_process &&
				  s->rodata->targ_filter_pids);
	s->rodata->targ_self_tgid = getpid();
	s->rodata->targ_cap_len = o->cap_len;
	s->rodata->targ_fd_walk = sock == SOCK_HOOK_FDWALK;
	s->rodata->targ_sock_capture = sys == SYS_HOOK_SOCKET;
	s->rodata->targ_wakeup_bytes = o->ringbuf_bytes / 4;
	s->rodata->targ_wakeup_band = o->ringbuf_bytes / 16;
	{
		/* Every CPU together commits at most half the band between
		 * two looks at the ring by one CPU (wakeup_flags). */
		int ncpu = libbpf_num_possible_cpus();
		uint64_t rec = 8 + sizeof(struct kspan_data_event) + o->cap_len;
		uint64_t every = s->rodata->targ_wakeup_band / 2 / ((ncpu > 0 ? ncpu : 1) * rec);

		s->rodata->targ_query_every = every ? (uint32_t)every : 1;
	}
	bpf_map__set_max_entries(s->maps.events, o->ringbuf_bytes);
	bpf_map__set_max_entries(s->maps.socks, o->max_socks);
	/* 1.5 KiB a thread: only with injection on. */
	if (!o->inject)
		bpf_map__set_max_entries(s->maps.thread_props, 1);
	/* Per-socket TLS state is bounded like the socket table. */
	bpf_map__set_max_entries(s->maps.tls_socks, o->max_socks);
	bpf_map__set_max_entries(s->maps.tls_ssls, o->max_socks);

	err = kspan_bpf__load(s);
	if (err)
		goto fail;
	if (o->npids) {
		err = add_pids(s, o->pids, o->npids);
		if (err) {
			*fatal = true;
			goto fail;
		}
	}
	err = kspan_bpf__attach(s);
	if (err)
		goto fail;
	l->skel = s;
	if (o->inject) {
		err = attach_inject(l);
		if (err) {
			*fatal = true;
			l->skel = NULL;
			goto fail;
		}
	}
	l->sys_hook = sys;
	l->sock_hook = sock;
	l->conns = conns;
	return 0;
fail:
	kspan_bpf__destroy(s);
	return err;
}

/* With o->tcp, the conns programs are wanted but not needed: when they are
 * what fails, tracing goes on without TCP figures. */
static int try_load(struct loader *l, const struct loader_opts *o,
		    enum sys_hook sys, enum sock_hook sock, bool *fatal)
{
	int err = try_load_one(l, o, sys, sock, o->conns || o->tcp, fatal);

	if (!err || o->conns || !o->tcp || *fatal)
		return err;
	if (!try_load_one(l, o, sys, sock, false, fatal)) {
		log_warn("the TCP figure programs failed to load (%s): spans carry "
			 "no TCP figures and no TCP metrics are sent (-v shows the verifier "
			 "log)", strerror(-err));
		return 0;
	}
	return err;
}

int loader_start(struct loader *l, const struct loader_opts *o)
{
	int err = -ENOTSUP;
	bool fatal = false;

	memset(l, 0, sizeof(*l));
	loader_probe(&l->probe);
	if (o->force_sock_hook >= 0 && l->probe.sock_err[o->force_sock_hook]) {
		log_error("--sock-hook %s is unavailable on this kernel: %s (%s); "
			  "run 'kspan probe' to see which hooks work",
			  sock_hook_names[o->force_sock_hook], l->probe.sock_why[o->force_sock_hook],
			  strerror(-l->probe.sock_err[o->force_sock_hook]));
		return l->probe.sock_err[o->force_sock_hook];
	}
	for (int sys = 0; sys < SYS_HOOK_MAX; sys++) {
		if (l->probe.sys_err[sys])
			continue;
		if (o->force_sys_hook >= 0 &&
		    (o->force_sys_hook == SYS_HOOK_SOCKET) != (sys == SYS_HOOK_SOCKET))
			continue;
		for (int sock = 0; sock < SOCK_HOOK_MAX; sock++) {
			if (o->force_sock_hook >= 0 && sock != o->force_sock_hook)
				continue;
			if (sys == SYS_HOOK_SOCKET && sock != SOCK_HOOK_TP)
				continue;
			if (l->probe.sock_err[sock])
				continue;
			err = try_load(l, o, sys, sock, &fatal);
			l->load_err[sock] = err;
			if (!err)
				return 0;
			if (fatal)
				return err;
			log_debug("%s with %s failed: %s; trying the next", sys_hook_names[sys],
				  sock_hook_names[sock], strerror(-err));
		}
	}
	log_error("failed to load and attach the BPF programs: %s "
		  "(run 'kspan probe' to see what this kernel supports, and -v for the verifier log)",
		  strerror(-err));
	return err;
}

int loader_trace_pid(struct loader *l, uint32_t pid)
{
	return pid_set(bpf_map__fd(l->skel->maps.pids), pid);
}

bool loader_pid_traced(const struct loader *l, uint32_t pid)
{
	return pid_isset(bpf_map__fd(l->skel->maps.pids), pid);
}

int loader_ringbuf_fd(const struct loader *l)
{
	return bpf_map__fd(l->skel->maps.events);
}

int loader_percpu_sum(int fd, uint32_t n, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1];

	memset(out, 0, n * sizeof(*out));
	if (ncpu <= 0)
		return ncpu;
	for (uint32_t k = 0; k < n; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals))
			return -errno;
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	return 0;
}

int loader_counters(const struct loader *l, uint64_t *out)
{
	return loader_percpu_sum(bpf_map__fd(l->skel->maps.drops), KSPAN_CNT_MAX, out);
}

int loader_conns_counters(const struct loader *l, uint64_t *out)
{
	if (!l->conns)
		return -ENOENT;
	return loader_percpu_sum(bpf_map__fd(l->skel->maps.conns_drops), KSPAN_CONNS_CNT_MAX, out);
}

void loader_stop(struct loader *l)
{
	if (l->skel)
		detach_inject(l);
	kspan_bpf__destroy(l->skel);
	l->skel = NULL;
}

int loader_verify_all(FILE *out)
{
	struct kspan_bpf *probe_skel = kspan_bpf__open();
	struct bpf_program *prog, *p;
	int failed = 0, n = 0;

	if (!probe_skel)
		return -1;
	bpf_object__for_each_program(prog, probe_skel->obj) {
		const char *name = bpf_program__name(prog);
		struct kspan_bpf *s = kspan_bpf__open();
		int err;

		if (!s) {
			failed++;
			continue;
		}
		bpf_object__for_each_program(p, s->obj)
			bpf_program__set_autoload(p, strcmp(bpf_program__name(p), name) == 0);
		/* Every load-time feature on, so no code is left out as dead. */
		s->rodata->targ_filter_pids = true;
		s->rodata->targ_inject = true;
		s->rodata->targ_tls = true;
		s->rodata->targ_sock_capture = true;
		s->rodata->targ_conns_owner = true;
		s->rodata->targ_conns_calls = true;
		s->rodata->targ_inject_fmt = KSPAN_INJ_TRACECONTEXT | KSPAN_INJ_B3 |
					     KSPAN_INJ_B3MULTI | KSPAN_INJ_JAEGER | KSPAN_INJ_BAGGAGE;
		err = kspan_bpf__load(s);
		n++;
		if (!err) {
			fprintf(out, "verified  %-26s %s\n", name, bpf_program__section_name(prog));
		} else if (err == -EPERM &&
			   bpf_program__type(prog) == BPF_PROG_TYPE_TRACING &&
			   (bpf_program__expected_attach_type(prog) == BPF_TRACE_FENTRY ||
			    bpf_program__expected_attach_type(prog) == BPF_TRACE_FEXIT)) {
			/* The kernel refuses the program type before verification. */
			fprintf(out, "refused   %-26s %s (EPERM: this kernel does not allow fentry)\n",
				name, bpf_program__section_name(prog));
		} else if (err == -ESRCH && bpf_program__type(prog) == BPF_PROG_TYPE_TRACING) {
			/* libbpf found no such tracepoint or function in this
			 * kernel's BTF (sock_send_length came in 6.3). */
			fprintf(out, "absent    %-26s %s (not in this kernel's BTF)\n",
				name, bpf_program__section_name(prog));
		} else {
			fprintf(out, "FAILED    %-26s %s: %s\n", name,
				bpf_program__section_name(prog), strerror(-err));
			failed++;
		}
		kspan_bpf__destroy(s);
	}
	kspan_bpf__destroy(probe_skel);
	fprintf(out, "%d programs, %d failed verification\n", n, failed);
	return failed;
}
