/* SPDX-License-Identifier: Apache-2.0 */
/* TCP metrics of traced processes, aggregated in the main loop from the
 * conns records: connect duration and smoothed RTT histograms, retransmit
 * and failed-connect counters, per process and peer. Cumulative; a fixed
 * number of series allocated once, then the specification's overflow
 * series. The OTLP exporter gets a copy of the series now and then
 * (otlp_exporter_publish) and encodes them. */
#ifndef __KSPAN_TCPMETRICS_H
#define __KSPAN_TCPMETRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bucket boundaries in seconds: 100 us (a LAN) to 10 s (SYN retries). */
#define TCPM_BOUNDS	19
extern const double tcpm_bounds[TCPM_BOUNDS];

/* Why a connect failed: error.type of kspan.tcp.connect.failures. */
enum tcpm_fail {
	TCPM_FAIL_REFUSED = 0,
	TCPM_FAIL_TIMEOUT,
	TCPM_FAIL_UNREACHABLE,
	TCPM_FAIL_RESET,
	TCPM_FAIL_ABORTED,
	TCPM_FAIL_ERROR,
	TCPM_FAIL_MAX,
};

/* The series of a connection. Client connections: server_* is the peer;
 * server connections: server_* is the local end and peer_addr the client
 * (never its port); connections of unknown role: peer_addr only. */
struct tcpm_key {
	uint32_t pid;
	uint8_t role;			/* enum kspan_role */
	uint8_t pad;
	uint16_t server_port;		/* 0 when not used */
	uint8_t server_addr[16];	/* IPv4-mapped; all zero when not used */
	uint8_t peer_addr[16];		/* all zero when not used */
};

struct tcpm_hist {
	uint64_t count;
	double sum, min, max;		/* seconds */
	uint64_t buckets[TCPM_BOUNDS + 1];
};

struct tcpm_series {
	struct tcpm_key key;
	bool overflow;			/* otel.metric.overflow: everything past
					 * the limit; key.pid is the process of
					 * its first observation (its resource),
					 * the other key fields are unused */
	uint64_t start_ns;		/* unix ns of the first observation */
	struct tcpm_hist connect;	/* kspan.tcp.connect.duration */
	struct tcpm_hist rtt;		/* kspan.tcp.rtt */
	uint64_t retrans;		/* kspan.tcp.retransmits, segments */
	uint64_t fail[TCPM_FAIL_MAX];	/* kspan.tcp.connect.failures */
};

struct tcpm;

/* At most max_series series (>= 2), the last place kept for overflow. */
struct tcpm *tcpm_new(uint32_t max_series);
void tcpm_free(struct tcpm *m);
/* Observations; now_ns is unix time, for a new series' start. */
void tcpm_connect(struct tcpm *m, const struct tcpm_key *k, double secs, uint64_t now_ns);
void tcpm_rtt(struct tcpm *m, const struct tcpm_key *k, double secs, uint64_t now_ns);
void tcpm_retrans(struct tcpm *m, const struct tcpm_key *k, uint64_t segs, uint64_t now_ns);
void tcpm_fail(struct tcpm *m, const struct tcpm_key *k, enum tcpm_fail why,
	       uint64_t now_ns);
/* The series so far, *n of them. */
const struct tcpm_series *tcpm_series(const struct tcpm *m, size_t *n);
uint32_t tcpm_capacity(const struct tcpm *m);
/* Changes with every observation: nothing to copy while it stays. */
uint64_t tcpm_generation(const struct tcpm *m);

/* error.type of a failure reason. */
const char *tcpm_fail_name(enum tcpm_fail why);

#endif /* __KSPAN_TCPMETRICS_H */
