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

/* Retransmit counts kept per row: the value the counter took at each of the
 * last CONNS_HIST changes, and its value where the last CONNS_MARKS runs of
 * reads or writes began (where requests start), to tell how many fell
 * inside a span. */
#define CONNS_HIST	8
#define CONNS_MARKS	4

struct conns_point {
	uint64_t ts;			/* monotonic ns of the record */
	uint32_t retrans;		/* the counter from then on */
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
	/* Retransmit history: the counter is known exactly from hist_from
	 * on (hist_base then, hist[] after), and before it only when
	 * hist_base is 0 (it never goes down). A lost record restarts it. */
	uint64_t hist_from;		/* monotonic ns; 0: no record yet */
	uint32_t hist_base;
	uint16_t last_seq;		/* seq of the last record */
	uint8_t hist_n;			/* points in hist[], oldest first */
	uint8_t last_dir;		/* 0: no data yet, 1: a write, 2: a read */
	uint8_t mark_next;		/* the slot of marks[] to fill next */
	struct conns_point hist[CONNS_HIST];
	struct conns_point marks[CONNS_MARKS];	/* ts 0: unused */
	/* What the tracing mode's metrics took already (tcpfig.c). */
	uint32_t retrans_counted;	/* retransmits added to the counter */
	uint64_t rtt_obs_ns;		/* last RTT observation, monotonic; 0: none */
	bool connect_counted;		/* connect time observed */
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
/* The same row for the tracing mode's bookkeeping fields. */
struct conns_row *conns_lookup_mut(struct conns_table *t, uint64_t cookie);
/* The retransmit counter of r at monotonic time ts, when the records say it
 * exactly; false when they do not (before the first record with a non-zero
 * count, before the oldest point kept, or across lost records). */
bool conns_retrans_at(const struct conns_row *r, uint64_t ts, uint32_t *out);
/* A read (egress false) or write of the connection whose first byte moved
 * at ts (monotonic): the first after writes (reads) marks the counter's
 * value there, while the history still holds it. */
void conns_table_data(struct conns_table *t, uint64_t cookie, bool egress, uint64_t ts);
/* Segments retransmitted between start and end (monotonic ns), when the
 * records say it exactly. */
bool conns_retrans_between(const struct conns_row *r, uint64_t start, uint64_t end,
			   uint32_t *out);
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
