// SPDX-License-Identifier: Apache-2.0
/* TCP figures on spans and in metrics; see tcpfig.h. */
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "tcpfig.h"

/* Ended connections stay this long, for spans that finish after the
 * socket is gone (responses that run until close): spans get their figures
 * when they finish, not when they are exported, so a short time will do and
 * keeps a busy table from filling with closed connections. */
#define TCPFIG_KEEP_NS	(2 * 1000000000ull)

struct tcpfig {
	struct conns_table *t;
	struct tcpm *m;
	uint64_t last_expire;		/* monotonic ns */
};

struct tcpfig *tcpfig_new(uint32_t max_conns, uint32_t max_series)
{
	struct tcpfig *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->t = conns_table_new(max_conns, TCPFIG_KEEP_NS);
	f->m = tcpm_new(max_series);
	if (!f->t || !f->m) {
		tcpfig_free(f);
		return NULL;
	}
	return f;
}

void tcpfig_free(struct tcpfig *f)
{
	if (!f)
		return;
	conns_table_free(f->t);
	tcpm_free(f->m);
	free(f);
}

static void tcpfig_key(const struct conns_row *r, struct tcpm_key *k)
{
	memset(k, 0, sizeof(*k));
	k->pid = r->pid;
	k->role = r->role;
	if (r->role == KSPAN_ROLE_CLIENT) {
		memcpy(k->server_addr, r->tuple.daddr, 16);
		k->server_port = r->tuple.dport;
	} else if (r->role == KSPAN_ROLE_SERVER) {
		memcpy(k->server_addr, r->tuple.saddr, 16);
		k->server_port = r->tuple.sport;
		memcpy(k->peer_addr, r->tuple.daddr, 16);
	} else {
		memcpy(k->peer_addr, r->tuple.daddr, 16);
	}
}

static enum tcpm_fail tcpfig_fail(const struct conns_row *r)
{
	const char *why = conns_reason(r);

	for (int i = 0; why && i < TCPM_FAIL_MAX; i++)
		if (strcmp(why, tcpm_fail_name(i)) == 0)
			return i;
	return TCPM_FAIL_ERROR;
}

/* Metric observations the row has not given yet. A connection whose owner
 * is still unknown (an accepted one before accept) waits for it. */
static void tcpfig_observe(struct tcpfig *f, struct conns_row *r)
{
	uint64_t now = ids_mono_to_unix(r->ts_last);
	struct tcpm_key k;

	if (!r->pid || !r->tuple.dport)
		return;
	tcpfig_key(r, &k);
	if (!r->connect_counted && r->status == CONNS_FAILED) {
		tcpm_fail(f->m, &k, tcpfig_fail(r), now);
		r->connect_counted = true;
	} else if (!r->connect_counted && r->role == KSPAN_ROLE_CLIENT &&
		   (r->flags & KSPAN_CONNS_F_CONNECT) && (r->flags & KSPAN_CONNS_F_OPENED)) {
		tcpm_connect(f->m, &k, r->connect_us / 1e6, now);
		r->connect_counted = true;
	}
	if (r->retrans > r->retrans_counted) {
		tcpm_retrans(f->m, &k, r->retrans - r->retrans_counted, now);
		r->retrans_counted = r->retrans;
	}
	if ((r->flags & KSPAN_CONNS_F_RTT) &&
	    (!r->rtt_obs_ns || r->ts_last - r->rtt_obs_ns >= TCPFIG_INTERVAL_NS)) {
		tcpm_rtt(f->m, &k, r->srtt_us / 1e6, now);
		r->rtt_obs_ns = r->ts_last ? r->ts_last : 1;
	}
}

void tcpfig_record(struct tcpfig *f, const void *data, size_t size)
{
	const struct conns_row *r;
	struct conns_row *w;

	r = conns_table_apply(f->t, data, size);
	if (!r)
		return;
	w = conns_lookup_mut(f->t, r->cookie);
	tcpfig_observe(f, w);
	/* Ended rows leave after the keep time: checked once a second of
	 * record time. */
	if (r->ts_last - f->last_expire >= TCPFIG_INTERVAL_NS) {
		conns_table_expire(f->t, r->ts_last);
		f->last_expire = r->ts_last;
	}
}

void tcpfig_data(struct tcpfig *f, uint64_t cookie, bool egress, uint64_t start_ns)
{
	conns_table_data(f->t, cookie, egress, start_ns);
}

void tcpfig_owner(struct tcpfig *f, uint64_t cookie, uint32_t pid)
{
	struct conns_row *r;

	conns_table_set_owner(f->t, cookie, pid, NULL);
	r = conns_lookup_mut(f->t, cookie);
	if (r)
		tcpfig_observe(f, r);
}

void tcpfig_span(const struct tcpfig *f, struct span *sp)
{
	const struct conns_row *r;
	uint32_t n;

	if (!f)
		return;
	r = conns_lookup(f->t, sp->conn_id);
	if (!r)
		return;
	if (r->flags & KSPAN_CONNS_F_RTT)
		span_attr_int(sp, TCPFIG_ATTR_SRTT, r->srtt_us);
	if (conns_retrans_between(r, ids_unix_to_mono(sp->start_ns),
				  ids_unix_to_mono(sp->end_ns), &n))
		span_attr_int(sp, TCPFIG_ATTR_RETRANS, n);
	/* The request that opened the connection: kspan saw the handshake
	 * and this is the connection's first request (HTTP/2: stream 1). */
	if (sp->req_no == 1 && (r->flags & KSPAN_CONNS_F_CONNECT) &&
	    (r->flags & KSPAN_CONNS_F_OPENED))
		span_attr_int(sp, TCPFIG_ATTR_CONNECT, r->connect_us);
}

const struct tcpm *tcpfig_metrics(const struct tcpfig *f)
{
	return f->m;
}

const struct conns_stats *tcpfig_stats(const struct tcpfig *f)
{
	return conns_table_stats(f->t);
}

void tcpfig_print_counters(const struct tcpfig *f, const uint64_t *bpf, FILE *out)
{
	const struct conns_stats *st = conns_table_stats(f->t);
	size_t series;

	tcpm_series(f->m, &series);
	log_to(out, KLOG_INFO, "tcp: records=%llu ringbuf_drops=%llu kernel_table_full=%llu "
	       "bad_records=%llu conns=%u evicted_full=%llu expired=%llu series=%zu",
	       (unsigned long long)st->records,
	       (unsigned long long)bpf[KSPAN_CONNS_CNT_RB_FULL],
	       (unsigned long long)bpf[KSPAN_CONNS_CNT_TABLE_FULL],
	       (unsigned long long)st->bad_records, conns_table_count(f->t),
	       (unsigned long long)st->evicted_full, (unsigned long long)st->expired, series);
}
