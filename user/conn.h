/* SPDX-License-Identifier: Apache-2.0 */
/* Connections of traced processes, keyed by (socket cookie, pid). At most
 * max_conns at once, in slots mapped in chunks as connections come and
 * unmapped once idle ones have been swept out; the least recently used
 * connection makes room when the table is full. */
#ifndef __KSPAN_CONN_H
#define __KSPAN_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "h1session.h"
#include "kspan.h"

enum conn_proto {
	CONN_PROTO_UNKNOWN = 0,	/* no payload classified yet */
	CONN_PROTO_HTTP1,
	CONN_PROTO_OTHER,	/* not a protocol kspan parses: ignored */
	CONN_PROTO_HTTP2,	/* h2c: session h2 in the HTTP/2 pool */
};

/* Data events looked at before a connection is declared not HTTP. */
#define CONN_SNIFF_EVENTS 4

struct conn {
	uint64_t id;			/* socket cookie */
	uint32_t pid;
	uint8_t role;			/* enum kspan_role, inferred when unknown */
	uint8_t proto;			/* enum conn_proto */
	uint8_t sniffed;		/* data events seen while UNKNOWN */
	bool used;
	bool seen_open;			/* connect() or accept() was seen */
	bool tls;			/* plaintext comes from TLS uprobes */
	uint16_t tls_version;		/* from the ServerHello, e.g. 0x0304; 0: unknown */
	uint64_t tls_handshake_ns;	/* the handshake kspan saw complete; 0: none */
	struct kspan_tuple tuple;
	uint64_t last_ns;		/* last event, monotonic */
	char comm[KSPAN_COMM_LEN];
	struct h1_session h1;
	int32_t h2;			/* HTTP2: index of its h2_session */
	/* table links: hash chain and LRU list, as slot indices (-1: none) */
	int32_t slot, hnext, lprev, lnext;
};

struct conn_stats {
	uint64_t opened;
	uint64_t closed;
	uint64_t evicted_idle;
	uint64_t evicted_full;		/* pushed out by a full table */
	uint64_t no_memory;		/* events dropped: no memory for a slot */
};

struct conn_table;

/* Called for each connection before it leaves the table. */
typedef void (*conn_release_fn)(void *ctx, struct conn *c);

struct conn_table *conn_table_new(uint32_t max_conns, conn_release_fn release, void *ctx);
void conn_table_free(struct conn_table *t);
struct conn *conn_lookup(struct conn_table *t, uint64_t id, uint32_t pid);
/* Lookup, or take a slot (evicting the least recently used when full). New
 * entries have used == false for the caller to fill. Marks it most recent.
 * NULL only when no memory could be mapped for a slot (counted). */
struct conn *conn_get(struct conn_table *t, uint64_t id, uint32_t pid, uint64_t now_ns);
void conn_remove(struct conn_table *t, struct conn *c);
/* Remove connections idle since before now - idle_ns (a connection with an
 * event later than now_ns is not idle) and unmap the slot chunks left empty.
 * Returns how many connections were removed. */
uint32_t conn_sweep(struct conn_table *t, uint64_t now_ns, uint64_t idle_ns);
uint32_t conn_count(const struct conn_table *t);
const struct conn_stats *conn_table_stats(const struct conn_table *t);
/* Memory the table holds now. */
size_t conn_table_bytes(const struct conn_table *t);

#endif /* __KSPAN_CONN_H */
