/* SPDX-License-Identifier: Apache-2.0 */
/* The connection table of `kspan conns`: TCP figures per connection, kept
 * from the conns ring-buffer records, sorted and formatted for the live view
 * and for JSON. No BPF here: the module is linked into the unit tests, and
 * into kspan itself for attaching TCP figures to spans (conns_lookup). */
#ifndef __KSPAN_CONNS_TABLE_H
#define __KSPAN_CONNS_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kspan.h"
#include "kspan_conns.h"

enum conns_status {
	CONNS_CONNECTING = 0,	/* SYN sent, no answer yet */
	CONNS_OPEN,		/* established */
	CONNS_FAILED,		/* connect failed: see conns_reason() */
	CONNS_CLOSED,		/* socket destroyed */
};

enum conns_sort {
	CONNS_SORT_RTT = 0,	/* srtt, highest first */
	CONNS_SORT_CONNECT,	/* connect time, highest first */
	CONNS_SORT_RETRANS,	/* retransmitted segments, most first */
	CONNS_SORT_BYTES,	/* bytes in + out, most first */
	CONNS_SORT_AGE,		/* oldest first */
	CONNS_SORT_MAX,
};

/* One connection: the latest record's figures plus what the table adds. */
struct conns_row {
	uint64_t cookie;
	uint32_t pid;			/* 0 while unknown */
	char comm[KSPAN_COMM_LEN];	/* empty while unknown */
	struct kspan_tuple tuple;
	uint32_t flags;			/* enum kspan_conns_flag */
	uint32_t connect_us, srtt_us, rttvar_us, min_rtt_us;
	uint32_t retrans, syn_retrans, total_retrans;
	uint32_t rst_sent, rst_recv;
	uint64_t bytes_acked, bytes_received;
	int32_t err;			/* positive errno of a failure, else 0 */
	uint8_t role;			/* enum kspan_role */
	uint8_t tcp_state;		/* kernel TCP state at the last record */
	uint8_t status;			/* enum conns_status */
	bool used;
	uint64_t ts_open;		/* monotonic ns */
	uint64_t ts_last;		/* monotonic ns of the last record */
	uint64_t ts_end;		/* monotonic ns of FAILED or CLOSE, else 0 */
};

struct conns_stats {
	uint64_t records;		/* conns records applied */
	uint64_t bad_records;		/* too short, or unknown conns type */
	uint64_t evicted_full;		/* rows dropped to make room */
	uint64_t expired;		/* ended rows dropped after the keep time */
};

struct conns_table;

/* A table of at most max_rows connections; ended connections stay visible
 * for keep_ns. Returns NULL when out of memory. */
struct conns_table *conns_table_new(uint32_t max_rows, uint64_t keep_ns);
void conns_table_free(struct conns_table *t);
/* Apply one ring-buffer record. Returns the updated row, or NULL when the
 * record is not a conns record (then nothing is counted) or is malformed
 * (counted in bad_records). */
const struct conns_row *conns_table_apply(struct conns_table *t, const void *data,
					  size_t size);
/* The row of a connection by socket cookie, or NULL. */
const struct conns_row *conns_lookup(const struct conns_table *t, uint64_t cookie);
/* Name the owner of a connection learnt elsewhere (the accept record). */
void conns_table_set_owner(struct conns_table *t, uint64_t cookie, uint32_t pid,
			   const char *comm);
/* Whether e (read from the `conns` map) holds figures that row r has not
 * seen yet: the kernel sends a record at most once per interval, so the last
 * change of a quiet connection is only in the map. */
bool conns_table_stale(const struct conns_row *r, const struct kspan_conns_event *e);
/* Drop ended rows older than the keep time. */
void conns_table_expire(struct conns_table *t, uint64_t now_ns);
uint32_t conns_table_count(const struct conns_table *t);
const struct conns_stats *conns_table_stats(const struct conns_table *t);
/* Fill out[] with at most max rows in key order; returns how many. */
size_t conns_table_sorted(const struct conns_table *t, enum conns_sort key,
			  const struct conns_row **out, size_t max);

/* Sort key by name (rtt, connect, retrans, bytes, age), or -1. */
int conns_sort_by_name(const char *name);
/* Why a connect failed: refused, timeout, unreachable, reset, aborted or
 * error; NULL when it did not fail. */
const char *conns_reason(const struct conns_row *r);
/* "ESTABLISHED", "SYN_SENT", ... for a kernel TCP state. */
const char *conns_tcp_state_name(unsigned int state);
/* "addr:port", IPv6 as "[addr]:port". Returns the length written. */
size_t conns_fmt_endpoint(const uint8_t addr[16], uint16_t port, char *buf, size_t len);
/* Microseconds as milliseconds with two decimals ("40.12"), or "-" when
 * not measured. */
void conns_fmt_ms(uint32_t us, bool valid, char *buf, size_t len);
/* Bytes in a short human form: 999, 1.5K, 12M, 3.0G. */
void conns_fmt_bytes(uint64_t n, char *buf, size_t len);

/* The live view: a header line and one line per row, width-limited. */
void conns_print_header(FILE *f);
void conns_print_row(FILE *f, const struct conns_row *r, uint64_t now_ns);
/* One JSON object (one line) for the event that produced row r. */
void conns_print_json(FILE *f, uint32_t type, const struct conns_row *r, uint64_t ts_ns);

#endif /* __KSPAN_CONNS_TABLE_H */
