/* SPDX-License-Identifier: Apache-2.0 */
/* TCP figures in tracing mode. The conns programs (bpf/conns.bpf.c) share
 * the ring buffer with the syscall programs; their records keep a
 * connection table by socket cookie (conns_table.c), which gives spans the
 * figures of their connection without a syscall, and feed the TCP metrics
 * (tcpmetrics.c). Main-loop thread only. */
#ifndef __KSPAN_TCPFIG_H
#define __KSPAN_TCPFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conns_table.h"
#include "span.h"
#include "tcpmetrics.h"

/* Span attributes, all measured by the kernel for the span's connection
 * and left out when it did not measure them. */
#define TCPFIG_ATTR_SRTT	"kspan.tcp.srtt_us"	/* smoothed RTT, us */
#define TCPFIG_ATTR_RETRANS	"kspan.tcp.retransmits"	/* segments this end sent
							 * again during the span */
#define TCPFIG_ATTR_CONNECT	"kspan.tcp.connect_us"	/* handshake, us: first
							 * request only */

/* Figures of a connection are sent at most this often by the kernel
 * (retransmits at once), and RTT observations are made at most this often
 * per connection. */
#define TCPFIG_INTERVAL_NS	1000000000ull

struct tcpfig;

/* Room for max_conns connections and max_series metric series. NULL when
 * out of memory. */
struct tcpfig *tcpfig_new(uint32_t max_conns, uint32_t max_series);
void tcpfig_free(struct tcpfig *f);
/* One conns record (KSPAN_EV_CONNS_*) from the ring buffer. */
void tcpfig_record(struct tcpfig *f, const void *data, size_t size);
/* A read or write of the connection, its first byte moved at start_ns
 * (monotonic): where requests can start, for their retransmit counts. */
void tcpfig_data(struct tcpfig *f, uint64_t cookie, bool egress, uint64_t start_ns);
/* The owner of a connection, from a connect/accept record. */
void tcpfig_owner(struct tcpfig *f, uint64_t cookie, uint32_t pid);
/* Add the connection's figures to a finished span. */
void tcpfig_span(const struct tcpfig *f, struct span *sp);
const struct tcpm *tcpfig_metrics(const struct tcpfig *f);
/* One line "kspan: tcp: records=N ..." with the conns programs' counters
 * (KSPAN_CONNS_CNT_MAX values). */
void tcpfig_print_counters(const struct tcpfig *f, const uint64_t *bpf, FILE *out);
const struct conns_stats *tcpfig_stats(const struct tcpfig *f);

#endif /* __KSPAN_TCPFIG_H */
