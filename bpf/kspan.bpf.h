/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Maps, load-time settings and helpers shared by the kspan BPF objects. The
 * objects are linked into one with `bpftool gen object`, so every global here
 * is __weak: each object carries a copy and the linker keeps one. */
#ifndef __KSPAN_BPF_H
#define __KSPAN_BPF_H

#include "kspan.h"
#include "sock_entry.h"

#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6
#define SOCK_STREAM	1
#define S_IFMT		00170000
#define S_IFSOCK	0140000
#define EINPROGRESS	115

#ifdef KSPAN_DEBUG
#define dbg(fmt, ...) bpf_printk(fmt, ##__VA_ARGS__)
#else
#define dbg(fmt, ...) do { } while (0)
#endif

/* Load-time settings, set by the loader between open and load. */
const volatile bool targ_filter_pids __weak = false;	/* only pids in `pids` */
const volatile __u32 targ_self_tgid __weak = 0;		/* never traced */
const volatile __u32 targ_cap_len __weak = KSPAN_CAP_DEFAULT;
const volatile bool targ_fd_walk __weak = true;		/* resolve fd -> sock at exit */
const volatile __u64 targ_wakeup_bytes __weak = 1 << 20;	/* wake reader past this */
const volatile __u64 targ_wakeup_band __weak = 1 << 18;	/* ... within this much */
const volatile __u32 targ_query_every __weak = 1;	/* records per CPU between looks */
/* Data captured at sock_send_length/sock_recv_length, connections named
 * from TCP state changes, and no sys_enter/sys_exit programs. */
const volatile bool targ_sock_capture __weak = false;

/* A syscall of a traced thread between entry and exit. */
struct active_call {
	__u64 ts;		/* entry, monotonic ns */
	__u64 arg;		/* buf, iovec array or msghdr in user memory */
	__u64 count;		/* buffer length or iovec count */
	__u64 sk;		/* struct sock * the kernel used, 0 until known */
	__u64 ts_end;		/* exit, monotonic ns; 0: when the event is built */
	__s32 fd;
	__u8 op;		/* enum kspan_op */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);	/* resized by the loader */
} events SEC(".maps") __weak;

/* Calls between syscall entry and exit. Not LRU: an LRU map may evict
 * before it is full (its free nodes sit in per-CPU lists), and an evicted
 * entry loses the call's entry time. Entries go at exit, and at thread exit
 * (sched_process_exit); a full map is counted (active_full). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);			/* tid */
	__type(value, struct active_call);
} active SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);		/* resized by the loader */
	__type(key, __u64);			/* struct sock * */
	__type(value, struct kspan_sock);
} socks SEC(".maps") __weak;

/* The pid filter: a bitmap over all pids (4M, the kernel's PID_MAX_LIMIT),
 * so the check is an array lookup the verifier inlines. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KSPAN_PID_WORDS);
	__type(key, __u32);			/* tgid / 64 */
	__type(value, __u64);			/* bit tgid % 64 */
} pids SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KSPAN_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps") __weak;

/* Events are built here, never on the stack; only the filled part is sent.
 * data is twice the cap so that a masked offset plus a masked length always
 * stays inside it, which is what the verifier checks. */
struct scratch {
	struct kspan_data_event ev;
	__u8 data[2 * KSPAN_CAP_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps") __weak;

static __always_inline void count(enum kspan_counter c)
{
	__u32 key = c;
	__u64 *v = bpf_map_lookup_elem(&drops, &key);

	if (v)
		*v += 1;
}

static __always_inline bool is_traced(__u32 tgid)
{
	__u32 word = tgid / 64;
	__u64 *bits;

	if (tgid == targ_self_tgid)
		return false;
	if (!targ_filter_pids)
		return true;
	bits = bpf_map_lookup_elem(&pids, &word);
	return bits && (*bits & (1ULL << (tgid % 64)));
}

static __always_inline void pid_set(__u32 tgid, bool on)
{
	__u32 word = tgid / 64;
	__u64 *bits = bpf_map_lookup_elem(&pids, &word);

	if (!bits)
		return;
	if (on)
		__sync_fetch_and_or(bits, 1ULL << (tgid % 64));
	else
		__sync_fetch_and_and(bits, ~(1ULL << (tgid % 64)));
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} rb_since SEC(".maps") __weak;

/* Batch wakeups: the reader polls on a timer and is only woken early once a
 * good share of the ring is waiting, by the records that take the backlog
 * across that mark. Past it the reader is awake already: it reads until
 * the ring is empty before it sleeps again, so a wakeup per record (a
 * self-interrupt each, in the traced thread) would buy nothing. The band
 * is wide enough for records committed at the same time on every CPU.
 *
 * Looking at the ring reads the reader's position, a cache line the reader
 * writes on another CPU (~50 ns a look): each CPU looks once every
 * targ_query_every records. The loader sets it so that every CPU together
 * commits at most half the band between two looks of one CPU; so once the
 * backlog crosses the mark, some CPU looks before it passes the band. */
static __always_inline __u64 wakeup_flags(void)
{
	__u32 zero = 0, *since = bpf_map_lookup_elem(&rb_since, &zero);
	__u64 avail;

	if (since && ++*since < targ_query_every)
		return BPF_RB_NO_WAKEUP;
	if (since)
		*since = 0;
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	if (avail >= targ_wakeup_bytes && avail - targ_wakeup_bytes < targ_wakeup_band)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline bool sk_is_tcp(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	/* sk_protocol and sk_type were bitfields before 5.6 (commit
	 * bf9765145b85 "sock: Make sk_protocol a 16-bit value"); the probed
	 * bitfield read handles both layouts. */
	__u16 proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	__u16 type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);

	return (family == AF_INET || family == AF_INET6) &&
	       proto == IPPROTO_TCP && type == SOCK_STREAM;
}

/* The same for a pointer the verifier trusts (tp_btf arguments): plain
 * loads instead of a probe-read helper call per field. */
static __always_inline bool sk_is_tcp_btf(const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;

	return (family == AF_INET || family == AF_INET6) &&
	       BPF_CORE_READ_BITFIELD(sk, sk_protocol) == IPPROTO_TCP &&
	       BPF_CORE_READ_BITFIELD(sk, sk_type) == SOCK_STREAM;
}

static __always_inline void read_tuple(struct sock *sk, struct kspan_tuple *t)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	t->family = family;
	t->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&t->saddr, sk,
				   __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&t->daddr, sk,
				   __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		__builtin_memset(t->saddr, 0, 10);
		__builtin_memset(t->daddr, 0, 10);
		t->saddr[10] = t->saddr[11] = 0xff;
		t->daddr[10] = t->daddr[11] = 0xff;
		BPF_CORE_READ_INTO((__u32 *)&t->saddr[12], sk,
				   __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)&t->daddr[12], sk,
				   __sk_common.skc_daddr);
	}
}

/* fd of the current task -> struct sock, or NULL when fd is not a TCP
 * socket. Used once per connection, and for data when no socket hook is
 * attached. */
static __always_inline struct sock *fd_to_sk(int fd)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file;
	struct socket *sock;
	struct sock *sk;
	umode_t mode;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || !sk_is_tcp(sk))
		return NULL;
	return sk;
}

/* The entry for sk in `socks`, created on first sight. cookie is the socket
 * cookie when the caller could get it from a trusted pointer, else 0. The
 * cookie is then read from the socket itself: inet_sock_set_state generates
 * it for every connection opened while kspan runs. Older connections without
 * one get a synthetic id, unique per socket table entry. An entry left by a
 * freed socket at the same address is replaced (see sock_entry.h); fresh:
 * the socket was just connected or accepted. */
static __always_inline struct kspan_sock *sock_learn(struct sock *sk, __u64 cookie, bool fresh)
{
	__u64 key = (__u64)sk, flags = BPF_NOEXIST;
	struct kspan_sock *s, n = {};

	if (!cookie)
		cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	s = bpf_map_lookup_elem(&socks, &key);
	if (s) {
		if (!kspan_sock_entry_stale(s->cookie, cookie, fresh))
			return s;
		count(KSPAN_CNT_SOCKS_STALE);
		flags = BPF_ANY;
	}
	if (!cookie)
		cookie = KSPAN_COOKIE_SYNTHETIC | bpf_ktime_get_ns();
	n.cookie = cookie;
	read_tuple(sk, &n.tuple);
	if (bpf_map_update_elem(&socks, &key, &n, flags) &&
	    !bpf_map_lookup_elem(&socks, &key)) {
		count(KSPAN_CNT_SOCKS_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&socks, &key);
}

/* Remember the socket behind the current thread's in-flight syscall. Called
 * from the kernel's socket send/receive paths. */
static __always_inline void stash_sock(struct sock *sk, __u64 cookie)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct active_call *a;

	a = bpf_map_lookup_elem(&active, &tid);
	if (!a || a->sk)
		return;
	if (!sk_is_tcp(sk))
		return;
	a->sk = (__u64)sk;
	sock_learn(sk, cookie, false);
}

#endif /* __KSPAN_BPF_H */
