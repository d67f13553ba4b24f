// SPDX-License-Identifier: Apache-2.0
/* Connection table of `kspan conns`; see conns_table.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "conns_table.h"

#define CONNS_EMPTY	UINT32_MAX

struct conns_table {
	struct conns_row *rows;
	uint32_t max;
	uint32_t count;
	uint32_t *index;	/* open addressing over rows, CONNS_EMPTY if free */
	uint32_t mask;		/* index size - 1 (a power of two >= 2 * max) */
	uint32_t *free;		/* stack of unused row numbers */
	uint32_t nfree;
	uint64_t keep_ns;
	struct conns_stats st;
};

static uint32_t conns_hash(uint64_t cookie)
{
	cookie ^= cookie >> 33;
	cookie *= 0xff51afd7ed558ccdULL;
	cookie ^= cookie >> 33;
	return (uint32_t)cookie;
}

struct conns_table *conns_table_new(uint32_t max_rows, uint64_t keep_ns)
{
	struct conns_table *t;
	uint32_t size = 16;

	if (max_rows < 1 || max_rows > (1u << 24))
		return NULL;
	while (size < 2 * max_rows)
		size <<= 1;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->rows = calloc(max_rows, sizeof(*t->rows));
	t->index = malloc(size * sizeof(*t->index));
	t->free = malloc(max_rows * sizeof(*t->free));
	if (!t->rows || !t->index || !t->free) {
		conns_table_free(t);
		return NULL;
	}
	memset(t->index, 0xff, size * sizeof(*t->index));
	t->mask = size - 1;
	t->max = max_rows;
	t->keep_ns = keep_ns;
	for (uint32_t i = 0; i < max_rows; i++)
		t->free[i] = max_rows - 1 - i;
	t->nfree = max_rows;
	return t;
}

void conns_table_free(struct conns_table *t)
{
	if (!t)
		return;
	free(t->rows);
	free(t->index);
	free(t->free);
	free(t);
}

/* Slot of cookie in the index, or of the empty slot where it would go. */
static uint32_t conns_slot(const struct conns_table *t, uint64_t cookie)
{
	uint32_t i = conns_hash(cookie) & t->mask;

	while (t->index[i] != CONNS_EMPTY && t->rows[t->index[i]].cookie != cookie)
		i = (i + 1) & t->mask;
	return i;
}

static void conns_remove(struct conns_table *t, uint32_t row)
{
	uint32_t i = conns_slot(t, t->rows[row].cookie), j = i, home;

	/* Backward-shift deletion keeps every probe chain unbroken. */
	t->index[i] = CONNS_EMPTY;
	for (;;) {
		j = (j + 1) & t->mask;
		if (t->index[j] == CONNS_EMPTY)
			break;
		home = conns_hash(t->rows[t->index[j]].cookie) & t->mask;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		t->index[i] = t->index[j];
		t->index[j] = CONNS_EMPTY;
		i = j;
	}
	memset(&t->rows[row], 0, sizeof(t->rows[row]));
	t->free[t->nfree++] = row;
	t->count--;
}

/* The row to give up when the table is full: the connection that ended
 * longest ago, else the one quiet for longest. */
static uint32_t conns_victim(const struct conns_table *t)
{
	uint32_t best = 0;
	bool best_ended = false;

	for (uint32_t i = 0; i < t->max; i++) {
		const struct conns_row *r = &t->rows[i], *b = &t->rows[best];
		bool ended = r->ts_end != 0;

		if (!r->used)
			continue;
		if (ended && !best_ended) {
			best = i;
			best_ended = true;
		} else if (ended == best_ended &&
			   (ended ? r->ts_end < b->ts_end : r->ts_last < b->ts_last)) {
			best = i;
		}
	}
	return best;
}

static struct conns_row *conns_get(struct conns_table *t, uint64_t cookie, bool create)
{
	uint32_t slot = conns_slot(t, cookie), row;

	if (t->index[slot] != CONNS_EMPTY)
		return &t->rows[t->index[slot]];
	if (!create)
		return NULL;
	if (!t->nfree) {
		conns_remove(t, conns_victim(t));
		t->st.evicted_full++;
		slot = conns_slot(t, cookie);
	}
	row = t->free[--t->nfree];
	t->index[slot] = row;
	t->count++;
	t->rows[row].used = true;
	t->rows[row].cookie = cookie;
	return &t->rows[row];
}

/* Follow the retransmit counter through the records of one connection. */
static void conns_hist_update(struct conns_row *r, const struct kspan_conns_event *e)
{
	uint16_t step = (uint16_t)(e->seq - r->last_seq);
	uint32_t last;
	uint64_t ts;

	if (!r->hist_from || step > 1) {
		/* The first record, or records were lost in between: known
		 * from this one on. */
		r->hist_from = e->ts ? e->ts : 1;
		r->hist_base = e->retrans;
		r->hist_n = 0;
		r->last_seq = e->seq;
		return;
	}
	r->last_seq = e->seq;
	last = r->hist_n ? r->hist[r->hist_n - 1].retrans : r->hist_base;
	if (e->retrans == last)
		return;
	/* Records of one connection come in order; a timestamp taken on
	 * another CPU a moment earlier must not go back in time. */
	ts = r->hist_n ? r->hist[r->hist_n - 1].ts : r->hist_from;
	if (e->ts > ts)
		ts = e->ts;
	if (r->hist_n == CONNS_HIST) {
		/* Full: the oldest point becomes the base. */
		r->hist_from = r->hist[0].ts;
		r->hist_base = r->hist[0].retrans;
		memmove(&r->hist[0], &r->hist[1], (CONNS_HIST - 1) * sizeof(r->hist[0]));
		r->hist_n--;
	}
	r->hist[r->hist_n].ts = ts;
	r->hist[r->hist_n].retrans = e->retrans;
	r->hist_n++;
}

bool conns_retrans_at(const struct conns_row *r, uint64_t ts, uint32_t *out)
{
	if (!r->hist_from)
		return false;
	for (int i = r->hist_n - 1; i >= 0; i--) {
		if (r->hist[i].ts <= ts) {
			*out = r->hist[i].retrans;
			return true;
		}
	}
	if (ts >= r->hist_from || r->hist_base == 0) {
		*out = r->hist_base;
		return true;
	}
	return false;
}

void conns_table_data(struct conns_table *t, uint64_t cookie, bool egress, uint64_t ts)
{
	struct conns_row *r = conns_get(t, cookie, false);
	uint8_t dir = egress ? 1 : 2;
	uint32_t v;

	if (!r || r->last_dir == dir)
		return;
	r->last_dir = dir;
	if (!ts || !conns_retrans_at(r, ts, &v))
		return;
	r->marks[r->mark_next].ts = ts;
	r->marks[r->mark_next].retrans = v;
	r->mark_next = (r->mark_next + 1) % CONNS_MARKS;
}

bool conns_retrans_between(const struct conns_row *r, uint64_t start, uint64_t end,
			   uint32_t *out)
{
	uint32_t before, after;
	bool found = false;

	for (int i = 0; i < CONNS_MARKS && !found; i++) {
		if (r->marks[i].ts && r->marks[i].ts == start) {
			before = r->marks[i].retrans;
			found = true;
		}
	}
	if (!found && !conns_retrans_at(r, start, &before))
		return false;
	if (!conns_retrans_at(r, end, &after) || after < before)
		return false;
	*out = after - before;
	return true;
}

const struct conns_row *conns_table_apply(struct conns_table *t, const void *data,
					  size_t size)
{
	struct kspan_conns_event e;
	struct conns_row *r;
	uint32_t type;

	if (size < sizeof(type))
		return NULL;
	memcpy(&type, data, sizeof(type));
	if (type < KSPAN_EV_CONNS_FIRST || type > KSPAN_EV_CONNS_LAST)
		return NULL;
	if (size < sizeof(e)) {
		t->st.bad_records++;
		return NULL;
	}
	memcpy(&e, data, sizeof(e));
	t->st.records++;

	r = conns_get(t, e.cookie, true);
	if (e.tgid)
		r->pid = e.tgid;
	if (e.comm[0])
		memcpy(r->comm, e.comm, sizeof(r->comm));
	r->comm[sizeof(r->comm) - 1] = '\0';
	r->tuple = e.tuple;
	r->flags |= e.flags;
	if (e.flags & KSPAN_CONNS_F_CONNECT)
		r->connect_us = e.connect_us;
	if (e.flags & KSPAN_CONNS_F_RTT) {
		r->srtt_us = e.srtt_us;
		r->rttvar_us = e.rttvar_us;
	}
	if (e.flags & KSPAN_CONNS_F_MINRTT)
		r->min_rtt_us = e.min_rtt_us;
	if (e.flags & KSPAN_CONNS_F_BYTES) {
		r->bytes_acked = e.bytes_acked;
		r->bytes_received = e.bytes_received;
	}
	r->retrans = e.retrans;
	r->syn_retrans = e.syn_retrans;
	r->total_retrans = e.total_retrans;
	r->rst_sent = e.rst_sent;
	r->rst_recv = e.rst_recv;
	if (e.role)
		r->role = e.role;
	r->tcp_state = e.state;
	r->ts_open = e.ts_open;
	r->ts_last = e.ts;
	conns_hist_update(r, &e);

	switch (type) {
	case KSPAN_EV_CONNS_OPEN:
		r->status = CONNS_CONNECTING;
		break;
	case KSPAN_EV_CONNS_ESTABLISHED:
	case KSPAN_EV_CONNS_STATS:
		if (r->status == CONNS_CONNECTING)
			r->status = CONNS_OPEN;
		break;
	case KSPAN_EV_CONNS_FAILED:
		r->status = CONNS_FAILED;
		r->err = e.err;
		r->ts_end = e.ts;
		break;
	case KSPAN_EV_CONNS_CLOSE:
		if (r->status != CONNS_FAILED) {
			r->status = CONNS_CLOSED;
			r->err = e.err;
		}
		r->ts_end = e.ts;
		break;
	}
	return r;
}

const struct conns_row *conns_lookup(const struct conns_table *t, uint64_t cookie)
{
	uint32_t slot = conns_slot(t, cookie);

	return t->index[slot] == CONNS_EMPTY ? NULL : &t->rows[t->index[slot]];
}

struct conns_row *conns_lookup_mut(struct conns_table *t, uint64_t cookie)
{
	return conns_get(t, cookie, false);
}

void conns_table_set_owner(struct conns_table *t, uint64_t cookie, uint32_t pid,
			   const char *comm)
{
	struct conns_row *r = conns_get(t, cookie, false);

	if (!r)
		return;
	if (pid)
		r->pid = pid;
	if (comm && comm[0]) {
		strncpy(r->comm, comm, sizeof(r->comm) - 1);
		r->comm[sizeof(r->comm) - 1] = '\0';
	}
}

bool conns_table_stale(const struct conns_row *r, const struct kspan_conns_event *e)
{
	if ((e->flags & ~r->flags) || (e->tgid && e->tgid != r->pid) ||
	    e->state != r->tcp_state || e->retrans != r->retrans ||
	    e->rst_sent != r->rst_sent || e->rst_recv != r->rst_recv ||
	    e->total_retrans != r->total_retrans)
		return true;
	if ((e->flags & KSPAN_CONNS_F_RTT) &&
	    (e->srtt_us != r->srtt_us || e->rttvar_us != r->rttvar_us))
		return true;
	if ((e->flags & KSPAN_CONNS_F_MINRTT) && e->min_rtt_us != r->min_rtt_us)
		return true;
	return (e->flags & KSPAN_CONNS_F_BYTES) &&
	       (e->bytes_acked != r->bytes_acked || e->bytes_received != r->bytes_received);
}

void conns_table_expire(struct conns_table *t, uint64_t now_ns)
{
	for (uint32_t i = 0; i < t->max; i++) {
		const struct conns_row *r = &t->rows[i];

		if (r->used && r->ts_end && now_ns > r->ts_end &&
		    now_ns - r->ts_end > t->keep_ns) {
			conns_remove(t, i);
			t->st.expired++;
		}
	}
}

uint32_t conns_table_count(const struct conns_table *t)
{
	return t->count;
}

const struct conns_stats *conns_table_stats(const struct conns_table *t)
{
	return &t->st;
}

/* Sort value of a row; measured figures first, -1 when unmeasured. */
static int64_t conns_key(const struct conns_row *r, enum conns_sort key)
{
	switch (key) {
	case CONNS_SORT_RTT:
		return r->flags & KSPAN_CONNS_F_RTT ? (int64_t)r->srtt_us : -1;
	case CONNS_SORT_CONNECT:
		return r->flags & KSPAN_CONNS_F_CONNECT ? (int64_t)r->connect_us : -1;
	case CONNS_SORT_RETRANS:
		return r->retrans;
	case CONNS_SORT_BYTES:
		return (int64_t)(r->bytes_acked + r->bytes_received);
	case CONNS_SORT_AGE:
		return -(int64_t)r->ts_open;
	default:
		return 0;
	}
}

static enum conns_sort conns_cmp_key;

static int conns_cmp(const void *a, const void *b)
{
	const struct conns_row *x = *(const struct conns_row *const *)a;
	const struct conns_row *y = *(const struct conns_row *const *)b;
	int64_t kx = conns_key(x, conns_cmp_key), ky = conns_key(y, conns_cmp_key);

	if (kx != ky)
		return kx > ky ? -1 : 1;
	if (x->cookie != y->cookie)
		return x->cookie < y->cookie ? -1 : 1;
	return 0;
}

size_t conns_table_sorted(const struct conns_table *t, enum conns_sort key,
			  const struct conns_row **out, size_t max)
{
	size_t n = 0;

	if (!max)
		return 0;
	/* Collect everything, sort, then cut: the top rows by key. */
	{
		const struct conns_row **all = malloc(t->count ? t->count * sizeof(*all) : 1);

		if (!all)
			return 0;
		for (uint32_t i = 0; i < t->max; i++)
			if (t->rows[i].used)
				all[n++] = &t->rows[i];
		conns_cmp_key = key;
		qsort(all, n, sizeof(*all), conns_cmp);
		if (n > max)
			n = max;
		memcpy(out, all, n * sizeof(*out));
		free(all);
	}
	return n;
}

int conns_sort_by_name(const char *name)
{
	static const char *const names[CONNS_SORT_MAX] = {
		[CONNS_SORT_RTT] = "rtt", [CONNS_SORT_CONNECT] = "connect",
		[CONNS_SORT_RETRANS] = "retrans", [CONNS_SORT_BYTES] = "bytes",
		[CONNS_SORT_AGE] = "age",
	};

	for (int i = 0; i < CONNS_SORT_MAX; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

const char *conns_reason(const struct conns_row *r)
{
	if (r->status != CONNS_FAILED)
		return NULL;
	if (r->err == ECONNREFUSED || (r->flags & KSPAN_CONNS_F_RST_IN_SYN))
		return "refused";
	switch (r->err) {
	case ETIMEDOUT:
		return "timeout";
	case EHOSTUNREACH:
	case ENETUNREACH:
		return "unreachable";
	case ECONNRESET:
		return "reset";
	case 0:
		return "aborted";	/* the caller closed it before an answer */
	default:
		return "error";
	}
}

const char *conns_tcp_state_name(unsigned int state)
{
	static const char *const names[] = {
		[1] = "ESTABLISHED", [2] = "SYN_SENT", [3] = "SYN_RECV",
		[4] = "FIN_WAIT1", [5] = "FIN_WAIT2", [6] = "TIME_WAIT",
		[7] = "CLOSE", [8] = "CLOSE_WAIT", [9] = "LAST_ACK",
		[10] = "LISTEN", [11] = "CLOSING", [12] = "NEW_SYN_RECV",
	};

	if (state < sizeof(names) / sizeof(names[0]) && names[state])
		return names[state];
	return "UNKNOWN";
}

size_t conns_fmt_endpoint(const uint8_t addr[16], uint16_t port, char *buf, size_t len)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	char a[ADDR_STRLEN];
	int n;

	addr_fmt(addr, a, sizeof(a));
	if (memcmp(addr, v4mapped, sizeof(v4mapped)) == 0)
		n = snprintf(buf, len, "%s:%u", a, port);
	else
		n = snprintf(buf, len, "[%s]:%u", a, port);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : (len ? len - 1 : 0);
}

void conns_fmt_ms(uint32_t us, bool valid, char *buf, size_t len)
{
	if (!valid)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%u.%02u", us / 1000, (us % 1000) / 10);
}

void conns_fmt_bytes(uint64_t n, char *buf, size_t len)
{
	static const char units[] = "KMGTP";
	double v = (double)n;
	int u = -1;

	if (n < 1000) {
		snprintf(buf, len, "%llu", (unsigned long long)n);
		return;
	}
	while (v >= 999.5 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, v < 9.95 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

static const char *conns_role_name(uint8_t role)
{
	return role == KSPAN_ROLE_CLIENT ? "client" :
	       role == KSPAN_ROLE_SERVER ? "server" : "unknown";
}

/* A row's state for humans: the failure reason, CLOSED, or the TCP state. */
static void conns_fmt_state(const struct conns_row *r, char *buf, size_t len)
{
	if (r->status == CONNS_FAILED)
		snprintf(buf, len, "FAIL:%s", conns_reason(r));
	else if (r->status == CONNS_CLOSED)
		snprintf(buf, len, "CLOSED");
	else
		snprintf(buf, len, "%s", conns_tcp_state_name(r->tcp_state));
}

#define CONNS_ROW_FMT "%-22s %-21s %-21s %-12s %8s %7s %7s %7s %5s %5s %6s %6s %7s\n"

void conns_print_header(FILE *f)
{
	fprintf(f, CONNS_ROW_FMT, "PID/COMM", "LOCAL", "REMOTE", "STATE", "CONN_MS",
		"SRTT", "RTTVAR", "MINRTT", "RETR", "RST", "IN", "OUT", "AGE");
}

static void conns_fmt_age(uint64_t ns, char *buf, size_t len)
{
	uint64_t s = ns / 1000000000ULL;

	if (s < 60)
		snprintf(buf, len, "%llu.%llus", (unsigned long long)s,
			 (unsigned long long)(ns / 100000000ULL % 10));
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s / 60 % 60));
}

void conns_print_row(FILE *f, const struct conns_row *r, uint64_t now_ns)
{
	char who[40], local[64], remote[64], state[24], conn[16], srtt[16], var[16];
	char minrtt[16], in[16], out[16], age[16], retr[16], rst[16];
	uint64_t end = r->ts_end ? r->ts_end : now_ns;

	if (r->pid)
		snprintf(who, sizeof(who), "%u/%.15s", r->pid, r->comm[0] ? r->comm : "?");
	else
		snprintf(who, sizeof(who), "-");
	who[22] = '\0';
	conns_fmt_endpoint(r->tuple.saddr, r->tuple.sport, local, sizeof(local));
	conns_fmt_endpoint(r->tuple.daddr, r->tuple.dport, remote, sizeof(remote));
	conns_fmt_state(r, state, sizeof(state));
	conns_fmt_ms(r->connect_us, r->flags & KSPAN_CONNS_F_CONNECT, conn, sizeof(conn));
	conns_fmt_ms(r->srtt_us, r->flags & KSPAN_CONNS_F_RTT, srtt, sizeof(srtt));
	conns_fmt_ms(r->rttvar_us, r->flags & KSPAN_CONNS_F_RTT, var, sizeof(var));
	conns_fmt_ms(r->min_rtt_us, r->flags & KSPAN_CONNS_F_MINRTT, minrtt, sizeof(minrtt));
	snprintf(retr, sizeof(retr), "%u", r->retrans);
	snprintf(rst, sizeof(rst), "%u", r->rst_sent + r->rst_recv);
	conns_fmt_bytes(r->bytes_received, in, sizeof(in));
	conns_fmt_bytes(r->bytes_acked, out, sizeof(out));
	conns_fmt_age(end > r->ts_open ? end - r->ts_open : 0, age, sizeof(age));
	fprintf(f, CONNS_ROW_FMT, who, local, remote, state, conn, srtt, var, minrtt, retr,
		rst, in, out, age);
}

static void conns_json_str(FILE *f, const char *s, size_t max)
{
	fputc('"', f);
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void conns_json_u32(FILE *f, const char *key, uint32_t v, bool valid)
{
	if (valid)
		fprintf(f, ",\"%s\":%u", key, v);
	else
		fprintf(f, ",\"%s\":null", key);
}

void conns_print_json(FILE *f, uint32_t type, const struct conns_row *r, uint64_t ts_ns)
{
	static const char *const names[] = {
		"open", "established", "failed", "stats", "close",
	};
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	char local[ADDR_STRLEN], remote[ADDR_STRLEN];
	const char *reason = conns_reason(r);
	bool v4 = memcmp(r->tuple.daddr, v4mapped, sizeof(v4mapped)) == 0;

	if (type < KSPAN_EV_CONNS_FIRST || type > KSPAN_EV_CONNS_LAST)
		return;
	addr_fmt(r->tuple.saddr, local, sizeof(local));
	addr_fmt(r->tuple.daddr, remote, sizeof(remote));
	fprintf(f, "{\"event\":\"%s\",\"ts_ns\":%llu,\"cookie\":%llu",
		names[type - KSPAN_EV_CONNS_FIRST], (unsigned long long)ts_ns,
		(unsigned long long)r->cookie);
	if (r->pid)
		fprintf(f, ",\"pid\":%u", r->pid);
	else
		fprintf(f, ",\"pid\":null");
	fprintf(f, ",\"comm\":");
	if (r->comm[0])
		conns_json_str(f, r->comm, sizeof(r->comm));
	else
		fprintf(f, "null");
	fprintf(f, ",\"role\":\"%s\",\"network_type\":\"%s\"", conns_role_name(r->role),
		v4 ? "ipv4" : "ipv6");
	fprintf(f, ",\"local_address\":\"%s\",\"local_port\":%u", local, r->tuple.sport);
	fprintf(f, ",\"remote_address\":\"%s\",\"remote_port\":%u", remote, r->tuple.dport);
	fprintf(f, ",\"state\":\"%s\"", conns_tcp_state_name(r->tcp_state));
	conns_json_u32(f, "connect_us", r->connect_us, r->flags & KSPAN_CONNS_F_CONNECT);
	conns_json_u32(f, "srtt_us", r->srtt_us, r->flags & KSPAN_CONNS_F_RTT);
	conns_json_u32(f, "rttvar_us", r->rttvar_us, r->flags & KSPAN_CONNS_F_RTT);
	conns_json_u32(f, "min_rtt_us", r->min_rtt_us, r->flags & KSPAN_CONNS_F_MINRTT);
	fprintf(f, ",\"retrans\":%u,\"syn_retrans\":%u,\"kernel_total_retrans\":%u",
		r->retrans, r->syn_retrans, r->total_retrans);
	fprintf(f, ",\"rst_sent\":%u,\"rst_recv\":%u", r->rst_sent, r->rst_recv);
	if (r->flags & KSPAN_CONNS_F_BYTES)
		fprintf(f, ",\"bytes_in\":%llu,\"bytes_out\":%llu",
			(unsigned long long)r->bytes_received, (unsigned long long)r->bytes_acked);
	else
		fprintf(f, ",\"bytes_in\":null,\"bytes_out\":null");
	if ((r->flags & KSPAN_CONNS_F_OPENED) && ts_ns >= r->ts_open)
		fprintf(f, ",\"age_us\":%llu", (unsigned long long)((ts_ns - r->ts_open) / 1000));
	else
		fprintf(f, ",\"age_us\":null");
	fprintf(f, ",\"reason\":");
	if (reason)
		fprintf(f, "\"%s\"", reason);
	else
		fprintf(f, "null");
	fprintf(f, ",\"errno\":%d}\n", r->err);
}
