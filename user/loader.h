/* SPDX-License-Identifier: Apache-2.0 */
/* Probing the kernel, loading and attaching the BPF programs. */
#ifndef __KSPAN_LOADER_H
#define __KSPAN_LOADER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kspan.h"

/* How the socket behind a syscall is found, best first. */
enum sock_hook {
	SOCK_HOOK_FENTRY = 0,	/* fentry tcp_sendmsg/tcp_recvmsg */
	SOCK_HOOK_KPROBE,	/* kprobe tcp_sendmsg/tcp_recvmsg */
	SOCK_HOOK_TP,		/* tp_btf sock_send_length/sock_recv_length */
	SOCK_HOOK_FDWALK,	/* walk the fd table at syscall exit */
	SOCK_HOOK_MAX,
};

/* Where the bytes are taken, best first. */
enum sys_hook {
	SYS_HOOK_SOCKET = 0,	/* at sock_send_length/sock_recv_length, from the
				 * task's syscall registers: no syscall hook
				 * (only with SOCK_HOOK_TP) */
	SYS_HOOK_TP_BTF,	/* tp_btf sys_enter/sys_exit */
	SYS_HOOK_RAW_TP,	/* raw_tp sys_enter/sys_exit */
	SYS_HOOK_MAX,
};

struct probe_result {
	bool btf;			/* /sys/kernel/btf/vmlinux loads */
	bool send_start;		/* tp tcp_sendmsg_locked: sends dated at start
					 * with socket-layer capture */
	int sock_err[SOCK_HOOK_MAX];	/* 0 usable, else -errno from the probe */
	int sys_err[SYS_HOOK_MAX];
	const char *sock_why[SOCK_HOOK_MAX];	/* what failed, for humans */
	const char *sys_why[SYS_HOOK_MAX];
};

struct loader_opts {
	const uint32_t *pids;	/* trace only these (and their children) */
	size_t npids;
	bool filter;		/* trace only selected pids, even when npids is 0
				 * (selectors add them later) */
	uint32_t cap_len;	/* payload bytes per event */
	uint32_t ringbuf_bytes;
	uint32_t max_socks;
	int force_sock_hook;	/* -1: choose; else the only enum sock_hook tried */
	int force_sys_hook;	/* -1: choose; else the only enum sys_hook tried
				 * (SYS_HOOK_TP_BTF stands for both syscall hooks) */
	bool conns;		/* load the conns_* programs (kspan conns) */
	bool tcp;		/* load them if this kernel can (tracing: TCP
				 * figures); see loader.conns */
	bool tls;		/* load the tls_* programs (TLS plaintext via uprobes) */
	bool tls_per_process;	/* and tls_fork, for per-process probes (with a
				 * pid filter only) */
	bool inject;		/* insert trace context into outgoing requests */
	uint32_t inject_fmt;	/* KSPAN_INJ_* header formats to insert */
};

struct kspan_bpf;

struct loader {
	struct kspan_bpf *skel;
	enum sock_hook sock_hook;	/* chosen */
	enum sys_hook sys_hook;
	struct probe_result probe;
	int load_err[SOCK_HOOK_MAX];	/* load/attach result per tried hook */
	struct bpf_link *sockops_link;	/* injection: sock_ops on the cgroup root */
	int cgroup_fd;
	bool msg_attached;		/* injection: sk_msg on the sockhash */
	bool conns;			/* the conns_* programs are attached */
};

extern const char *const sock_hook_names[SOCK_HOOK_MAX];
extern const char *const sys_hook_names[SYS_HOOK_MAX];

/* Route libbpf's messages through kspan's log (debug level). */
void loader_log_init(void);
/* enum sock_hook by its short name (fentry, kprobe, tp, fdwalk), or -1. */
int loader_sock_hook_by_name(const char *name);
/* Check privileges and BTF; on failure print what to do and return -errno. */
int loader_preflight(void);
void loader_probe(struct probe_result *r);
/* Probe, then load and attach the best working hooks. */
int loader_start(struct loader *l, const struct loader_opts *o);
int loader_ringbuf_fd(const struct loader *l);
/* Add pid to the kernel's filter (its later children follow). */
int loader_trace_pid(struct loader *l, uint32_t pid);
bool loader_pid_traced(const struct loader *l, uint32_t pid);
/* Sum keys 0..n-1 of a per-CPU u64 array map over the CPUs into out[n]. */
int loader_percpu_sum(int fd, uint32_t n, uint64_t *out);
/* Sum the per-CPU counters into out[KSPAN_CNT_MAX]. */
int loader_counters(const struct loader *l, uint64_t *out);
/* The same for the conns programs, out[KSPAN_CONNS_CNT_MAX]; -ENOENT when
 * they are not loaded. */
int loader_conns_counters(const struct loader *l, uint64_t *out);
void loader_stop(struct loader *l);
/* Load every program alone through the verifier and print the outcome.
 * Returns the number of programs that failed for a reason other than the
 * kernel refusing the program type outright. */
int loader_verify_all(FILE *out);

#endif /* __KSPAN_LOADER_H */
