/* SPDX-License-Identifier: Apache-2.0 */
/* Types shared by the BPF programs and the kspan loader. */
#ifndef __KSPAN_H
#define __KSPAN_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Payload bytes one data event can carry. A power of two: the BPF side masks
 * lengths with KSPAN_CAP_MAX - 1. The run-time limit is targ_cap_len. */
#define KSPAN_CAP_MAX		8192
#define KSPAN_CAP_DEFAULT	2048
/* iovec entries copied from readv/writev/sendmsg/recvmsg. gRPC stacks write
 * each HTTP/2 frame header and payload as iovecs of their own. */
#define KSPAN_IOV_MAX		32
#define KSPAN_COMM_LEN		16
/* Words of the pid-filter bitmap: one bit per pid up to PID_MAX_LIMIT. */
#define KSPAN_PID_WORDS		((4 * 1024 * 1024) / 64)
/* Header formats --inject-traceparent writes (OTEL_PROPAGATORS), and their
 * lengths with CRLF. */
#define KSPAN_INJ_TRACECONTEXT	1	/* traceparent: 00-<32>-<16>-<2>: 70 bytes */
#define KSPAN_INJ_B3		2	/* b3: <32>-<16>-<0|1>: 57 bytes */
#define KSPAN_INJ_B3MULTI	4	/* X-B3-TraceId, X-B3-SpanId, X-B3-Sampled: 96 */
#define KSPAN_INJ_JAEGER	8	/* uber-trace-id: <32>:<16>:0:<2>: 71 bytes */
#define KSPAN_INJ_BAGGAGE	16	/* baggage of the server request, carried on */
#define KSPAN_INJ_IDS_LEN	(70 + 57 + 96 + 71)
/* tracestate and baggage values carried from a server request to the
 * thread's outgoing requests, at most (cut at a list-member boundary). */
#define KSPAN_INJ_TRACESTATE_MAX	512
#define KSPAN_INJ_BAGGAGE_MAX		1024

enum kspan_event_type {
	KSPAN_EV_DATA = 1,	/* struct kspan_data_event */
	KSPAN_EV_CONN = 2,	/* struct kspan_conn_event: connect/accept */
	KSPAN_EV_CLOSE = 3,	/* struct kspan_conn_event: socket closed */
	KSPAN_EV_INJECT = 4,	/* struct kspan_inject_event: traceparent inserted */
};

enum kspan_dir {
	KSPAN_DIR_EGRESS = 0,	/* this process wrote the bytes */
	KSPAN_DIR_INGRESS = 1,	/* this process read the bytes */
};

enum kspan_role {
	KSPAN_ROLE_UNKNOWN = 0,	/* connection predates kspan */
	KSPAN_ROLE_CLIENT = 1,	/* this process called connect() */
	KSPAN_ROLE_SERVER = 2,	/* this process accepted it */
};

/* The syscall behind a data event. */
enum kspan_op {
	KSPAN_OP_READ = 1,
	KSPAN_OP_WRITE,
	KSPAN_OP_READV,
	KSPAN_OP_WRITEV,
	KSPAN_OP_RECVFROM,
	KSPAN_OP_SENDTO,
	KSPAN_OP_RECVMSG,
	KSPAN_OP_SENDMSG,
	KSPAN_OP_SENDFILE,	/* length only, never payload */
	KSPAN_OP_CONNECT,
	KSPAN_OP_ACCEPT,
	KSPAN_OP_CLOSE,
	KSPAN_OP_MAX,
};

/* Per-CPU drop and skip counters, indices into the `drops` map. */
enum kspan_counter {
	KSPAN_CNT_RB_FULL = 0,		/* ring buffer reserve/output failed */
	KSPAN_CNT_ACTIVE_FULL,		/* in-flight syscall table full */
	KSPAN_CNT_SOCKS_FULL,		/* socket table update failed */
	KSPAN_CNT_READ_FAULT,		/* payload copy from user memory failed */
	KSPAN_CNT_TRUNCATED,		/* data events whose payload was cut at cap_len */
	KSPAN_CNT_EVENTS,		/* events submitted */
	KSPAN_CNT_INJECTED,		/* traceparent headers inserted */
	KSPAN_CNT_INJECT_SKIPPED,	/* requests not injected: already had
					 * context, or could not be parsed safely */
	KSPAN_CNT_INJECT_FAILED,	/* push/pull of message data failed */
	KSPAN_CNT_TRACESTATE_CAPPED,	/* tracestate carried on without its last
					 * list-members, to fit the limit */
	KSPAN_CNT_BAGGAGE_CAPPED,	/* the same for baggage */
	KSPAN_CNT_PROPS_DROPPED,	/* tracestate or baggage not carried on: bytes
					 * other than VCHAR/SP/HTAB, or the thread's
					 * copy was evicted */
	KSPAN_CNT_SOCKS_STALE,		/* socket table entries left by a freed socket,
					 * replaced by the one now at its address */
	KSPAN_CNT_MAX,
};

/* Connection endpoints. IPv4 addresses are stored as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), so userspace handles one form. */
struct kspan_tuple {
	__u8 saddr[16];		/* local address, network order */
	__u8 daddr[16];		/* remote address, network order */
	__u16 sport;		/* local port, host order */
	__u16 dport;		/* remote port, host order */
	__u16 family;		/* AF_INET or AF_INET6 as the socket was created */
	__u16 pad;
};

/* Socket facts kept in the `socks` map, keyed by struct sock address. */
struct kspan_sock {
	__u64 cookie;		/* socket cookie; KSPAN_COOKIE_SYNTHETIC set when
				 * made up (sock_entry.h) */
	struct kspan_tuple tuple;
	__u32 tgid;		/* owning process as seen at connect/accept, or
				 * (socket-layer capture) at its first bytes */
	__u8 role;		/* enum kspan_role */
	__u8 seen;		/* socket-layer capture: announced to tgid */
	__u8 closed;		/* socket-layer capture: close event sent */
	__u8 tls_plain;		/* classified as not TLS (tls_sys_data) */
	__u32 send_tid;		/* socket-layer capture: a send of this thread */
	__u64 send_ts;		/* ... began then (tcp_sendmsg_locked) */
	__u64 send_last;	/* ... and took its last chunk then */
	__u64 conns_due;	/* socket-layer capture: the owner's calls leave
				 * the TCP-figure table alone until then */
	__u32 comm_tgid;	/* the process its last data event named */
	__u32 pad;
};

/* Trace context assigned in the kernel (--inject-traceparent): for a server
 * request read by a traced thread, and for each request kspan injected a
 * traceparent into. */
struct kspan_ctx {
	__u8 trace_id[16];
	__u8 span_id[8];	/* the span of this request */
	__u8 parent_id[8];	/* all zero: no parent */
	__u8 flags;		/* W3C trace flags */
	__u8 valid;		/* 1 when the fields above are set */
	__u8 remote;		/* parent_id came from a traceparent header */
	__u8 pad[5];
};

struct kspan_event_hdr {
	__u32 type;		/* enum kspan_event_type */
	__u32 pid;		/* tgid */
	__u32 tid;
	__s32 fd;
	__u64 cookie;		/* connection id, see struct kspan_sock */
	__u64 ts_enter;		/* CLOCK_MONOTONIC ns at syscall entry */
	__u64 ts_exit;		/* CLOCK_MONOTONIC ns at syscall exit */
};

struct kspan_data_event {
	struct kspan_event_hdr hdr;
	struct kspan_tuple tuple;
	__s64 ret;		/* syscall return: bytes moved */
	__u32 cap_len;		/* payload bytes that follow (<= ret) */
	__u8 dir;		/* enum kspan_dir */
	__u8 op;		/* enum kspan_op */
	__u8 role;		/* enum kspan_role */
	__u8 pad;
	char comm[KSPAN_COMM_LEN];	/* set in a socket's first event of a
					 * process; else comm[0] is 0 */
	struct kspan_ctx ctx;	/* server request start, with injection on */
	/* cap_len payload bytes follow the struct */
};

/* One traceparent header inserted into an outgoing request. */
struct kspan_inject_event {
	struct kspan_event_hdr hdr;
	struct kspan_ctx ctx;	/* span_id: the client span's id, as sent */
};

struct kspan_conn_event {
	struct kspan_event_hdr hdr;
	struct kspan_tuple tuple;
	__s64 ret;		/* connect/accept return value */
	__u8 role;		/* enum kspan_role */
	__u8 op;		/* enum kspan_op */
	__u8 pad[6];
	char comm[KSPAN_COMM_LEN];
};

#endif /* __KSPAN_H */
