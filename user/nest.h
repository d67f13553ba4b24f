/* SPDX-License-Identifier: Apache-2.0 */
/* Server requests in flight per thread, shared by HTTP/1 and HTTP/2, so that
 * a client call sent by a thread serving exactly one server request becomes
 * that request's child (thread-per-request servers).
 *
 * A thread that has had several server requests in flight at once (an event
 * loop, a connection carrying several HTTP/2 streams, pipelining) gets no
 * parent until it has none in flight again: when one of them ends, which one
 * is left is not guessed. Wrong parents are worse than none, so every refusal
 * is counted.
 *
 * A fixed table of NEST_THREADS threads, allocated once; nothing is allocated
 * per event. A thread leaves the table when its last request ends. */
#ifndef __KSPAN_NEST_H
#define __KSPAN_NEST_H

#include <stdbool.h>
#include <stdint.h>

#define NEST_THREADS 8192	/* threads with a server request in flight */

/* Counters, all monotonically increasing. */
struct nest_stats {
	uint64_t entered;	/* server requests registered */
	uint64_t full;		/* server requests not registered: table full */
	uint64_t parents;	/* client calls given a parent */
	uint64_t ambiguous;	/* client calls from a thread serving several now */
	uint64_t stale;		/* client calls from a thread serving one now but
				 * several since it was last idle */
};

struct nest_table;

struct nest_table *nest_new(void);
void nest_free(struct nest_table *t);
/* Thread pid/tid read server request seq of connection conn. Returns false
 * (counted as full) when the table has no room: then no nest_leave(). */
bool nest_enter(struct nest_table *t, uint32_t pid, uint32_t tid, uint64_t conn, uint32_t seq);
/* One request nest_enter() registered for pid/tid is over. */
void nest_leave(struct nest_table *t, uint32_t pid, uint32_t tid);
/* The server request a client call sent now by pid/tid belongs to: true with
 * *conn and *seq when the thread serves exactly one and has served no other
 * at the same time since it was last idle. Refusals are counted. */
bool nest_parent(struct nest_table *t, uint32_t pid, uint32_t tid, uint64_t *conn,
		 uint32_t *seq);
/* Server requests pid/tid has in flight (0 when unknown). For tests. */
uint32_t nest_count(const struct nest_table *t, uint32_t pid, uint32_t tid);
const struct nest_stats *nest_stats(const struct nest_table *t);

#endif /* __KSPAN_NEST_H */
