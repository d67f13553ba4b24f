/* SPDX-License-Identifier: Apache-2.0 */
/* Tail sampling: which traces leave the node, decided once a trace's spans
 * on this node are all in the trace buffer, from what they show. A trace is
 * kept when one of its spans has status ERROR, when its longest span took
 * longer than a threshold, when one of its spans has a route in a priority
 * list, or else for a share of trace ids (the low 8 bytes, as the head
 * sampler reads them, so every kspan instance keeps the same ids). The head
 * sampler decides first: a trace it drops never gets here.
 *
 * Decisions are remembered by trace id in a fixed table, so that a part of
 * a trace that arrives after its trace was decided follows that decision. */
#ifndef __KSPAN_TAIL_H
#define __KSPAN_TAIL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "span.h"

#define TAIL_ROUTES_MAX		16
#define TAIL_ROUTE_LEN		128	/* with the NUL */
#define TAIL_TABLE_ENTRIES	16384	/* decisions remembered, 8 bytes each */
#define TAIL_WAIT_DEFAULT_MS	5000

struct tail_config {
	bool enabled;
	uint64_t slower_than_ns;	/* 0: no latency policy */
	double ratio;			/* share of the other traces kept */
	uint64_t ratio_threshold;	/* keep when the id's low 8 bytes are below */
	uint64_t wait_ns;		/* longest wait for a decision, from the
					 * trace's first span */
	uint32_t nroutes;
	char routes[TAIL_ROUTES_MAX][TAIL_ROUTE_LEN];	/* globs */
};

/* Which policy keeps a trace; the first that matches, in this order. */
enum tail_verdict {
	TAIL_DROP = 0,
	TAIL_KEEP_ERROR,
	TAIL_KEEP_SLOW,
	TAIL_KEEP_ROUTE,
	TAIL_KEEP_RATIO,
};

/* Why a trace is decided now. */
enum tail_when {
	TAIL_ON_TIME = 0,	/* quiet for the linger, nothing more expected */
	TAIL_EARLY_FULL,	/* the trace buffer is full */
	TAIL_EARLY_WAIT,	/* the decision wait ran out */
	TAIL_AT_EXIT,		/* kspan is stopping */
};

struct tail_stats {
	uint64_t kept_error;	/* traces kept, by the first policy that matched */
	uint64_t kept_slow;
	uint64_t kept_route;
	uint64_t kept_ratio;
	uint64_t dropped;	/* traces no policy kept */
	uint64_t dropped_spans;
	uint64_t early_full;	/* decisions made because the buffer was full */
	uint64_t early_wait;	/* decisions made when the decision wait ran
				 * out: spans still arriving, or a parent
				 * span still expected */
	uint64_t late_kept;	/* parts of traces decided before, that followed */
	uint64_t late_dropped;
	uint64_t misses;	/* parts decided with neither their parent
				 * span on this node nor their trace's
				 * decision: it left the table, or the parent
				 * outlasted the decision wait */
	uint64_t evicted;	/* decisions pushed out of the table */
};

void tail_config_init(struct tail_config *c);
/* name is a long option of TAIL_LONG_OPTIONS without the dashes, arg its
 * argument (NULL for flags). Any of them turns tail sampling on. Returns 0,
 * or -1 after printing what is wrong to stderr. */
int tail_config_option(struct tail_config *c, const char *name, const char *arg);

/* Long options for main's getopt_long() table: every val lies in
 * [TAIL_OPT_FIRST, TAIL_OPT_LAST]; tail_option_name(val) gives the name to
 * hand to tail_config_option(). */
#define TAIL_OPT_FIRST 0x5400
#define TAIL_LONG_OPTIONS \
	{ "tail-sampling", no_argument, NULL, TAIL_OPT_FIRST + 0 }, \
	{ "tail-keep-slower-than", required_argument, NULL, TAIL_OPT_FIRST + 1 }, \
	{ "tail-keep-routes", required_argument, NULL, TAIL_OPT_FIRST + 2 }, \
	{ "tail-ratio", required_argument, NULL, TAIL_OPT_FIRST + 3 }, \
	{ "tail-decision-wait", required_argument, NULL, TAIL_OPT_FIRST + 4 }
#define TAIL_OPT_LAST (TAIL_OPT_FIRST + 4)
const char *tail_option_name(int val);

/* Usage text of these options, to append to kspan --help. */
extern const char tail_usage[];

/* Glob match of text (len bytes, no NUL needed): '*' matches any run of
 * characters, '/' included, '?' any one character, anything else itself. */
bool tail_glob(const char *pat, const char *text, size_t len);
/* The route of a span: its http.route attribute, else url.path; NULL when
 * it has neither. */
const char *tail_span_route(const struct span *s, size_t *len);
/* The policies alone, over the n spans of one trace on this node. */
enum tail_verdict tail_policy(const struct tail_config *c, const struct span *const *spans,
			      size_t n, const uint8_t trace_id[16]);

/* Decided trace ids, in a fixed set-associative table: the oldest decision
 * of a set makes room for a new one. */
struct tail_table;
struct tail_table *tail_table_new(uint32_t entries);
void tail_table_free(struct tail_table *t);
uint32_t tail_table_capacity(const struct tail_table *t);
/* 1 kept, 0 dropped, -1 unknown. A hit makes the entry the newest of its set. */
int tail_table_get(struct tail_table *t, const uint8_t trace_id[16]);
/* Record a decision; true when an older one was pushed out for it. */
bool tail_table_put(struct tail_table *t, const uint8_t trace_id[16], bool keep);

struct tail_sampler;
/* The configuration is copied. NULL when out of memory. */
struct tail_sampler *tail_sampler_new(const struct tail_config *c, uint32_t table_entries);
void tail_sampler_free(struct tail_sampler *ts);
const struct tail_config *tail_sampler_config(const struct tail_sampler *ts);
/* Decide for the n spans of one trace (trace_id: its root's). A trace
 * decided before follows that decision. lost_parent says that one of the
 * spans names a parent on this node that is no longer in the buffer.
 * Returns true to export. */
bool tail_decide(struct tail_sampler *ts, const struct span *const *spans, size_t n,
		 const uint8_t trace_id[16], bool lost_parent, enum tail_when when);
/* Whether a decision for this trace id is remembered. */
bool tail_decided(struct tail_sampler *ts, const uint8_t trace_id[16]);
const struct tail_stats *tail_sampler_stats(const struct tail_sampler *ts);
/* One line "kspan: tail: kept_error=N ..." (nothing when ts is NULL). */
void tail_print_counters(const struct tail_sampler *ts, FILE *f);

#endif /* __KSPAN_TAIL_H */
