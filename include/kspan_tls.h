/* SPDX-License-Identifier: Apache-2.0 */
/* TLS plaintext capture through uprobes: types shared by bpf/tls.bpf.c, the
 * syscall path and user/tls.c. */
#ifndef __KSPAN_TLS_H
#define __KSPAN_TLS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "kspan.h"

/* Event types of the TLS capture, after enum kspan_event_type's range. */
enum kspan_tls_event_type {
	/* struct kspan_data_event: plaintext of SSL_read/SSL_write and kin,
	 * with the cookie, tuple and role of the socket underneath. */
	KSPAN_EV_TLS_DATA = 32,
	/* struct kspan_tls_hello_event: a ServerHello seen on a TLS socket */
	KSPAN_EV_TLS_HELLO = 33,
	/* struct kspan_tls_proc_event, on the tls_procs ring only */
	KSPAN_EV_TLS_EXEC = 34,
	KSPAN_EV_TLS_EXIT = 35,
	/* struct kspan_tls_handshake_event: a handshake that completed */
	KSPAN_EV_TLS_HANDSHAKE = 36,
	/* struct kspan_tls_proc_event: a process forked from one that maps a
	 * TLS library, sent only with a pid filter (per-process probes) */
	KSPAN_EV_TLS_FORK = 37,
};

/* The library call behind a TLS data event (kspan_data_event.op). */
enum kspan_tls_op {
	KSPAN_TLS_OP_READ = 32,		/* SSL_read, gnutls_record_recv */
	KSPAN_TLS_OP_WRITE,		/* SSL_write, gnutls_record_send */
	KSPAN_TLS_OP_READ_EX,		/* SSL_read_ex: count in *readbytes */
	KSPAN_TLS_OP_WRITE_EX,		/* SSL_write_ex: count in *written */
	KSPAN_TLS_OP_HANDSHAKE,		/* SSL_do_handshake: no data, 1 on success */
	KSPAN_TLS_OP_HANDSHAKE_GNUTLS,	/* gnutls_handshake: 0 on success */
};

/* Per-CPU counters, indices into the `tls_counters` map. */
enum kspan_tls_counter {
	KSPAN_TLS_CNT_EVENTS = 0,	/* plaintext data events submitted */
	KSPAN_TLS_CNT_CIPHER,		/* syscall data events skipped: TLS records */
	KSPAN_TLS_CNT_CIPHER_BYTES,	/* bytes of those */
	KSPAN_TLS_CNT_NO_SOCK,		/* plaintext dropped: socket not known yet */
	KSPAN_TLS_CNT_CALLS_FULL,	/* a thread's call state could not be made */
	KSPAN_TLS_CNT_HELLOS,		/* ServerHello events submitted */
	KSPAN_TLS_CNT_HANDSHAKES,	/* handshake events submitted */
	KSPAN_TLS_CNT_GO_NOT_TCP,	/* Go calls on a tls.Conn over something
					 * else than a *net.TCPConn: not traced */
	KSPAN_TLS_CNT_MAX,
};

/* Bytes of a ServerHello handed to userspace: enough for the fixed part, a
 * 32-byte session id and the extensions a server sends in practice. */
#define KSPAN_TLS_HELLO_MAX	256

/* A handshake record (or its body, when the library read the 5-byte record
 * header on its own) that holds a ServerHello. */
struct kspan_tls_hello_event {
	struct kspan_event_hdr hdr;
	__u32 len;		/* bytes in data */
	__u8 dir;		/* enum kspan_dir */
	__u8 has_record;	/* data starts with the 5-byte record header */
	__u8 pad[2];
	__u8 data[KSPAN_TLS_HELLO_MAX];
};

/* A TLS handshake that completed on a socket. hdr.ts_enter: entry of the
 * library's first handshake call for the session (SSL_do_handshake, which
 * SSL_connect and SSL_accept call; gnutls_handshake; Go's
 * (*Conn).clientHandshake or serverHandshake); hdr.ts_exit: return of the
 * call that completed it. Non-blocking handshakes take several calls: the
 * time between them counts, as it is spent waiting for the peer. */
struct kspan_tls_handshake_event {
	struct kspan_event_hdr hdr;
};

/* Go crypto/tls: the functions probed at entry and at each RET. The
 * uprobe's cookie is (fn << 16) | slot, slot indexing tls_go_cfgs. */
enum kspan_tls_go_fn {
	KSPAN_TLS_GO_READ = 0,		/* crypto/tls.(*Conn).Read */
	KSPAN_TLS_GO_WRITE,		/* crypto/tls.(*Conn).Write */
	KSPAN_TLS_GO_CLIENT_HS,		/* crypto/tls.(*Conn).clientHandshake */
	KSPAN_TLS_GO_SERVER_HS,		/* crypto/tls.(*Conn).serverHandshake */
	KSPAN_TLS_GO_FN_MAX,
};

/* Slots of tls_go_cfgs: one per probed Go binary. */
#define KSPAN_TLS_GO_SLOTS	256

/* Where a Go binary keeps what the probes read, from its DWARF or from the
 * known layout of its Go version. Addresses are link-time virtual
 * addresses: the probes add the load bias (PIE). */
struct kspan_tls_go_cfg {
	__u64 fn_vaddr[KSPAN_TLS_GO_FN_MAX];	/* entry of each function */
	__u64 tcpconn_itab;	/* go.itab.*net.TCPConn,net.Conn */
	__u32 conn_off;		/* crypto/tls.Conn.conn (net.Conn: itab, data) */
	__u32 tcpconn_fd_off;	/* net.TCPConn -> its net.conn's fd (*net.netFD) */
	__u32 netfd_sysfd_off;	/* net.netFD -> pfd (internal/poll.FD) .Sysfd */
	__u32 g_stack_off;	/* runtime.g.stack (lo, hi) */
};

/* A traced process ran execve, or one that maps a TLS library exited. */
struct kspan_tls_proc_event {
	__u32 type;		/* KSPAN_EV_TLS_EXEC, _EXIT or _FORK */
	__u32 pid;		/* tgid */
};

#endif /* __KSPAN_TLS_H */
