// SPDX-License-Identifier: Apache-2.0
/* The connection table of `kspan conns`: records in, rows out, eviction,
 * expiry, sorting, and the text and JSON forms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conns_table.h"

#define MS	1000000ull
#define SEC	1000000000ull

static void v4(uint8_t a[16], uint8_t x, uint8_t y, uint8_t z, uint8_t w)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = x;
	a[13] = y;
	a[14] = z;
	a[15] = w;
}

static struct kspan_conns_event ev(uint32_t type, uint64_t cookie, uint64_t ts)
{
	struct kspan_conns_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.cookie = cookie;
	e.ts = ts;
	e.ts_open = 1 * SEC;
	e.tgid = 4242;
	strcpy(e.comm, "curl");
	e.role = KSPAN_ROLE_CLIENT;
	v4(e.tuple.saddr, 10, 77, 1, 1);
	v4(e.tuple.daddr, 10, 77, 1, 2);
	e.tuple.sport = 40000;
	e.tuple.dport = 8080;
	e.tuple.family = 2;
	e.state = 2;
	e.flags = KSPAN_CONNS_F_OPENED;
	return e;
}

static const struct conns_row *apply(struct conns_table *t, struct kspan_conns_event e)
{
	return conns_table_apply(t, &e, sizeof(e));
}

static char *print_json(uint32_t type, const struct conns_row *r, uint64_t ts)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	conns_print_json(f, type, r, ts);
	fclose(f);
	return buf;
}

static void test_lifecycle(void **state)
{
	struct conns_table *t = conns_table_new(8, 10 * SEC);
	struct kspan_conns_event e;
	const struct conns_row *r;
	char *j;

	(void)state;
	r = apply(t, ev(KSPAN_EV_CONNS_OPEN, 7, 1 * SEC));
	assert_non_null(r);
	assert_int_equal(r->status, CONNS_CONNECTING);
	assert_int_equal(r->pid, 4242);
	assert_string_equal(r->comm, "curl");
	assert_null(conns_reason(r));

	e = ev(KSPAN_EV_CONNS_ESTABLISHED, 7, 1 * SEC + 40 * MS);
	e.flags |= KSPAN_CONNS_F_CONNECT | KSPAN_CONNS_F_RTT | KSPAN_CONNS_F_MINRTT |
		   KSPAN_CONNS_F_BYTES;
	e.connect_us = 40123;
	e.srtt_us = 40100;
	e.rttvar_us = 20050;
	e.min_rtt_us = 40100;
	e.bytes_acked = 1;
	e.state = 1;
	r = apply(t, e);
	assert_int_equal(r->status, CONNS_OPEN);
	assert_int_equal(r->connect_us, 40123);
	assert_int_equal(r->tcp_state, 1);

	/* A later record without the RTT bit keeps the measured figures. */
	e = ev(KSPAN_EV_CONNS_STATS, 7, 2 * SEC);
	e.flags |= KSPAN_CONNS_F_BYTES;
	e.bytes_acked = 1001;
	e.bytes_received = 2001;
	e.retrans = 3;
	e.tgid = 0;
	e.comm[0] = '\0';
	e.state = 1;
	r = apply(t, e);
	assert_int_equal(r->srtt_us, 40100);
	assert_int_equal(r->pid, 4242);
	assert_string_equal(r->comm, "curl");
	assert_int_equal(r->retrans, 3);
	assert_int_equal(r->bytes_received, 2001);

	j = print_json(KSPAN_EV_CONNS_STATS, r, 2 * SEC);
	assert_string_equal(j,
		"{\"event\":\"stats\",\"ts_ns\":2000000000,\"cookie\":7,\"pid\":4242,"
		"\"comm\":\"curl\",\"role\":\"client\",\"network_type\":\"ipv4\","
		"\"local_address\":\"10.77.1.1\",\"local_port\":40000,"
		"\"remote_address\":\"10.77.1.2\",\"remote_port\":8080,\"state\":\"ESTABLISHED\","
		"\"connect_us\":40123,\"srtt_us\":40100,\"rttvar_us\":20050,\"min_rtt_us\":40100,"
		"\"retrans\":3,\"syn_retrans\":0,\"kernel_total_retrans\":0,\"rst_sent\":0,"
		"\"rst_recv\":0,\"bytes_in\":2001,\"bytes_out\":1001,\"age_us\":1000000,"
		"\"reason\":null,\"errno\":0}\n");
	free(j);

	e = ev(KSPAN_EV_CONNS_CLOSE, 7, 3 * SEC);
	e.state = 7;
	r = apply(t, e);
	assert_int_equal(r->status, CONNS_CLOSED);
	assert_int_equal(r->ts_end, 3 * SEC);
	assert_ptr_equal(conns_lookup(t, 7), r);
	assert_null(conns_lookup(t, 8));

	/* Visible for the keep time, then gone. */
	conns_table_expire(t, 13 * SEC);
	assert_non_null(conns_lookup(t, 7));
	conns_table_expire(t, 13 * SEC + 1);
	assert_null(conns_lookup(t, 7));
	assert_int_equal(conns_table_count(t), 0);
	assert_int_equal(conns_table_stats(t)->expired, 1);
	assert_int_equal(conns_table_stats(t)->records, 4);
	conns_table_free(t);
}

static void test_failures_and_reasons(void **state)
{
	static const struct {
		int err;
		uint32_t flags;
		const char *reason;
	} cases[] = {
		{ ECONNREFUSED, 0, "refused" },
		{ ECONNRESET, KSPAN_CONNS_F_RST_IN_SYN, "refused" },
		{ ETIMEDOUT, 0, "timeout" },
		{ EHOSTUNREACH, 0, "unreachable" },
		{ ENETUNREACH, 0, "unreachable" },
		{ ECONNRESET, 0, "reset" },
		{ 0, 0, "aborted" },
		{ EPERM, 0, "error" },
	};
	struct conns_table *t = conns_table_new(4, SEC);
	const struct conns_row *r;
	struct kspan_conns_event e;
	char *j;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		e = ev(KSPAN_EV_CONNS_FAILED, 100 + i, 2 * SEC);
		e.err = cases[i].err;
		e.flags |= cases[i].flags;
		e.state = 7;
		r = apply(t, e);
		assert_int_equal(r->status, CONNS_FAILED);
		assert_string_equal(conns_reason(r), cases[i].reason);
		/* The close record keeps the failure. */
		e.type = KSPAN_EV_CONNS_CLOSE;
		e.err = 0;
		r = apply(t, e);
		assert_int_equal(r->status, CONNS_FAILED);
		assert_string_equal(conns_reason(r), cases[i].reason);
	}
	e = ev(KSPAN_EV_CONNS_FAILED, 1, 2 * SEC);
	e.err = ETIMEDOUT;
	e.syn_retrans = e.retrans = 2;
	e.tgid = 0;
	e.comm[0] = '\0';
	e.state = 7;
	memset(e.tuple.daddr, 0, 16);
	e.tuple.daddr[15] = 1;		/* ::1 */
	memcpy(e.tuple.saddr, e.tuple.daddr, 16);
	r = apply(t, e);
	j = print_json(KSPAN_EV_CONNS_FAILED, r, 2 * SEC);
	assert_string_equal(j,
		"{\"event\":\"failed\",\"ts_ns\":2000000000,\"cookie\":1,\"pid\":null,"
		"\"comm\":null,\"role\":\"client\",\"network_type\":\"ipv6\","
		"\"local_address\":\"::1\",\"local_port\":40000,"
		"\"remote_address\":\"::1\",\"remote_port\":8080,\"state\":\"CLOSE\","
		"\"connect_us\":null,\"srtt_us\":null,\"rttvar_us\":null,\"min_rtt_us\":null,"
		"\"retrans\":2,\"syn_retrans\":2,\"kernel_total_retrans\":0,\"rst_sent\":0,"
		"\"rst_recv\":0,\"bytes_in\":null,\"bytes_out\":null,\"age_us\":1000000,"
		"\"reason\":\"timeout\",\"errno\":110}\n");
	free(j);
	conns_table_free(t);
}

static void test_bad_records(void **state)
{
	struct conns_table *t = conns_table_new(4, SEC);
	struct kspan_conns_event e = ev(KSPAN_EV_CONNS_OPEN, 1, SEC);
	uint32_t other = 1;		/* KSPAN_EV_DATA */

	(void)state;
	assert_null(conns_table_apply(t, &other, sizeof(other)));
	assert_null(conns_table_apply(t, &other, 2));
	assert_int_equal(conns_table_stats(t)->bad_records, 0);
	assert_null(conns_table_apply(t, &e, sizeof(e) - 1));
	assert_int_equal(conns_table_stats(t)->bad_records, 1);
	e.type = KSPAN_EV_CONNS_LAST + 1;
	assert_null(conns_table_apply(t, &e, sizeof(e)));
	assert_int_equal(conns_table_count(t), 0);
	conns_table_free(t);
}

static void test_eviction_prefers_ended_then_quiet(void **state)
{
	struct conns_table *t = conns_table_new(3, 100 * SEC);
	struct kspan_conns_event e;

	(void)state;
	apply(t, ev(KSPAN_EV_CONNS_OPEN, 1, 5 * SEC));
	apply(t, ev(KSPAN_EV_CONNS_OPEN, 2, 2 * SEC));
	e = ev(KSPAN_EV_CONNS_CLOSE, 3, 9 * SEC);
	apply(t, e);
	/* Full: the ended connection goes first, even though it is newest. */
	apply(t, ev(KSPAN_EV_CONNS_OPEN, 4, 10 * SEC));
	assert_null(conns_lookup(t, 3));
	/* Then the one quiet for longest. */
	apply(t, ev(KSPAN_EV_CONNS_OPEN, 5, 11 * SEC));
	assert_null(conns_lookup(t, 2));
	assert_non_null(conns_lookup(t, 1));
	assert_non_null(conns_lookup(t, 4));
	assert_non_null(conns_lookup(t, 5));
	assert_int_equal(conns_table_stats(t)->evicted_full, 2);
	assert_int_equal(conns_table_count(t), 3);
	conns_table_free(t);
}

/* The open-addressing index stays consistent through many inserts and
 * removals, checked against a plain array. */
static void test_index_against_reference(void **state)
{
	enum { MAX = 64, KEYS = 200 };
	struct conns_table *t = conns_table_new(MAX, 0);
	bool live[KEYS] = {};
	uint32_t seed = 12345;

	(void)state;
	for (int step = 0; step < 20000; step++) {
		uint32_t k, n = 0;
		struct kspan_conns_event e;

		seed = seed * 1103515245 + 12345;
		k = (seed >> 8) % KEYS;
		for (int i = 0; i < KEYS; i++)
			n += live[i];
		if (!live[k] && n < MAX) {
			e = ev(KSPAN_EV_CONNS_OPEN, (uint64_t)k * 0x100000001ULL + 1, step + 1);
			assert_non_null(apply(t, e));
			live[k] = true;
		} else if (live[k]) {
			/* Closed now, expired at once (keep time 0). */
			e = ev(KSPAN_EV_CONNS_CLOSE, (uint64_t)k * 0x100000001ULL + 1, step + 1);
			apply(t, e);
			conns_table_expire(t, step + 2);
			live[k] = false;
		}
		if (step % 97 == 0)
			for (int i = 0; i < KEYS; i++)
				assert_int_equal(conns_lookup(t, (uint64_t)i * 0x100000001ULL + 1) != NULL,
						 live[i]);
	}
	assert_int_equal(conns_table_stats(t)->evicted_full, 0);
	conns_table_free(t);
}

static void test_sorting(void **state)
{
	struct conns_table *t = conns_table_new(8, SEC);
	const struct conns_row *rows[8];
	struct kspan_conns_event e;
	size_t n;

	(void)state;
	/* cookie 1: srtt 30 ms, connect 5 ms, 2 retrans, 100 bytes, oldest
	 * cookie 2: srtt 50 ms, no connect, 9 retrans, 10 bytes
	 * cookie 3: no RTT, connect 80 ms, 0 retrans, 5000 bytes, newest
	 * cookie 4: srtt 50 ms, like cookie 2 (ties go by cookie) */
	e = ev(KSPAN_EV_CONNS_ESTABLISHED, 1, SEC);
	e.ts_open = 1;
	e.flags |= KSPAN_CONNS_F_RTT | KSPAN_CONNS_F_CONNECT | KSPAN_CONNS_F_BYTES;
	e.srtt_us = 30000;
	e.connect_us = 5000;
	e.retrans = 2;
	e.bytes_acked = 60;
	e.bytes_received = 40;
	apply(t, e);
	e = ev(KSPAN_EV_CONNS_ESTABLISHED, 2, SEC);
	e.ts_open = 2;
	e.flags |= KSPAN_CONNS_F_RTT | KSPAN_CONNS_F_BYTES;
	e.srtt_us = 50000;
	e.retrans = 9;
	e.bytes_acked = 10;
	apply(t, e);
	e.cookie = 4;
	e.ts_open = 4;
	apply(t, e);
	e = ev(KSPAN_EV_CONNS_ESTABLISHED, 3, SEC);
	e.ts_open = 3;
	e.flags |= KSPAN_CONNS_F_CONNECT | KSPAN_CONNS_F_BYTES;
	e.connect_us = 80000;
	e.bytes_received = 5000;
	apply(t, e);

	n = conns_table_sorted(t, CONNS_SORT_RTT, rows, 8);
	assert_int_equal(n, 4);
	assert_int_equal(rows[0]->cookie, 2);
	assert_int_equal(rows[1]->cookie, 4);
	assert_int_equal(rows[2]->cookie, 1);
	assert_int_equal(rows[3]->cookie, 3);	/* unmeasured last */
	conns_table_sorted(t, CONNS_SORT_CONNECT, rows, 8);
	assert_int_equal(rows[0]->cookie, 3);
	assert_int_equal(rows[1]->cookie, 1);
	assert_int_equal(rows[2]->cookie, 2);
	conns_table_sorted(t, CONNS_SORT_RETRANS, rows, 8);
	assert_int_equal(rows[0]->cookie, 2);
	assert_int_equal(rows[2]->cookie, 1);
	assert_int_equal(rows[3]->cookie, 3);
	conns_table_sorted(t, CONNS_SORT_BYTES, rows, 8);
	assert_int_equal(rows[0]->cookie, 3);
	assert_int_equal(rows[1]->cookie, 1);
	conns_table_sorted(t, CONNS_SORT_AGE, rows, 8);
	assert_int_equal(rows[0]->cookie, 1);
	assert_int_equal(rows[3]->cookie, 4);
	/* Only the top rows when there is less room. */
	n = conns_table_sorted(t, CONNS_SORT_RTT, rows, 2);
	assert_int_equal(n, 2);
	assert_int_equal(rows[1]->cookie, 4);
	assert_int_equal(conns_sort_by_name("rtt"), CONNS_SORT_RTT);
	assert_int_equal(conns_sort_by_name("bytes"), CONNS_SORT_BYTES);
	assert_int_equal(conns_sort_by_name("speed"), -1);
	conns_table_free(t);
}

static void test_formatting(void **state)
{
	uint8_t a[16];
	char buf[64], *out = NULL;
	size_t len = 0;
	struct conns_table *t = conns_table_new(2, SEC);
	struct kspan_conns_event e;
	FILE *f;

	(void)state;
	conns_fmt_ms(40123, true, buf, sizeof(buf));
	assert_string_equal(buf, "40.12");
	conns_fmt_ms(999, true, buf, sizeof(buf));
	assert_string_equal(buf, "0.99");
	conns_fmt_ms(40123, false, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	conns_fmt_bytes(999, buf, sizeof(buf));
	assert_string_equal(buf, "999");
	conns_fmt_bytes(1536, buf, sizeof(buf));
	assert_string_equal(buf, "1.5K");
	conns_fmt_bytes(1500002, buf, sizeof(buf));
	assert_string_equal(buf, "1.4M");
	conns_fmt_bytes(50ull << 30, buf, sizeof(buf));
	assert_string_equal(buf, "50G");
	v4(a, 192, 0, 2, 1);
	conns_fmt_endpoint(a, 443, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.1:443");
	memset(a, 0, 16);
	a[0] = 0x20;
	a[1] = 0x01;
	a[2] = 0x0d;
	a[3] = 0xb8;
	a[15] = 1;
	conns_fmt_endpoint(a, 80, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::1]:80");
	assert_int_equal(conns_fmt_endpoint(a, 80, buf, 8), 7);
	assert_string_equal(conns_tcp_state_name(1), "ESTABLISHED");
	assert_string_equal(conns_tcp_state_name(99), "UNKNOWN");

	e = ev(KSPAN_EV_CONNS_ESTABLISHED, 9, 1 * SEC + 40 * MS);
	e.flags |= KSPAN_CONNS_F_CONNECT | KSPAN_CONNS_F_RTT | KSPAN_CONNS_F_BYTES;
	e.connect_us = 40500;
	e.srtt_us = 41000;
	e.rttvar_us = 20500;
	e.bytes_received = 2048;
	e.bytes_acked = 10;
	e.rst_recv = 1;
	e.state = 1;
	conns_table_apply(t, &e, sizeof(e));
	f = open_memstream(&out, &len);
	conns_print_header(f);
	conns_print_row(f, conns_lookup(t, 9), 3 * SEC + 500 * MS);
	fclose(f);
	assert_string_equal(out,
		"PID/COMM               LOCAL                 REMOTE                STATE        "
		" CONN_MS    SRTT  RTTVAR  MINRTT  RETR   RST     IN    OUT     AGE\n"
		"4242/curl              10.77.1.1:40000       10.77.1.2:8080        ESTABLISHED  "
		"   40.50   41.00   20.50       -     0     1   2.0K     10    2.5s\n");
	free(out);
	conns_table_free(t);
}

static void test_stale_and_owner(void **state)
{
	struct conns_table *t = conns_table_new(2, SEC);
	struct kspan_conns_event e = ev(KSPAN_EV_CONNS_ESTABLISHED, 5, SEC);
	const struct conns_row *r;

	(void)state;
	e.tgid = 0;
	e.comm[0] = '\0';
	e.flags |= KSPAN_CONNS_F_RTT;
	e.srtt_us = 100;
	r = apply(t, e);
	assert_false(conns_table_stale(r, &e));
	e.srtt_us = 101;
	assert_true(conns_table_stale(r, &e));
	e.srtt_us = 100;
	e.flags |= KSPAN_CONNS_F_BYTES;
	assert_true(conns_table_stale(r, &e));
	e.flags &= ~KSPAN_CONNS_F_BYTES;
	e.tgid = 77;
	assert_true(conns_table_stale(r, &e));
	conns_table_set_owner(t, 5, 77, "nginx");
	assert_false(conns_table_stale(r, &e));
	assert_string_equal(r->comm, "nginx");
	/* Unknown cookies are ignored; a long name is cut. */
	conns_table_set_owner(t, 6, 78, "x");
	assert_null(conns_lookup(t, 6));
	conns_table_set_owner(t, 5, 0, "a-very-long-process-name");
	assert_int_equal(r->pid, 77);
	assert_string_equal(r->comm, "a-very-long-pro");
	conns_table_free(t);
	assert_null(conns_table_new(0, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_failures_and_reasons),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_eviction_prefers_ended_then_quiet),
		cmocka_unit_test(test_index_against_reference),
		cmocka_unit_test(test_sorting),
		cmocka_unit_test(test_formatting),
		cmocka_unit_test(test_stale_and_owner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
