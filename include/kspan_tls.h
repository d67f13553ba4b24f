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
};

/* The library call behind a TLS data event (kspan_data_event.op). */
enum kspan_tls_op {
	KSPAN_TLS_OP_READ = 32,		/* SSL_read, gnutls_record_recv */
	KSPAN_TLS_OP_WRITE,		/* SSL_write, gnutls_record_send */
	KSPAN_TLS_OP_READ_EX,		/* SSL_read_ex: count in *readbytes */
	KSPAN_TLS_OP_WRITE_EX,		/* SSL_write_ex: count in *written */
	KSPAN_TLS_OP_HANDSHAKE,		/* SSL_do_handshake: no data */
};

/* Per-CPU counters, indices into the `tls_counters` map. */
enum kspan_tls_counter {
	KSPAN_TLS_CNT_EVENTS = 0,	/* plaintext data events submitted */
	KSPAN_TLS_CNT_CIPHER,		/* syscall data events skipped: TLS records */
	KSPAN_TLS_CNT_CIPHER_BYTES,	/* bytes of those */
	KSPAN_TLS_CNT_NO_SOCK,		/* plaintext dropped: socket not known yet */
	KSPAN_TLS_CNT_CALLS_FULL,	/* in-flight call table full */
	KSPAN_TLS_CNT_HELLOS,		/* ServerHello events submitted */
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

/* A traced process ran execve, or one that maps a TLS library exited. */
struct kspan_tls_proc_event {
	__u32 type;		/* KSPAN_EV_TLS_EXEC or KSPAN_EV_TLS_EXIT */
	__u32 pid;		/* tgid */
};

#endif /* __KSPAN_TLS_H */
