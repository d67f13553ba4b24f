// SPDX-License-Identifier: Apache-2.0
/* Ring-buffer records through the event decoder and the connection table,
 * in the order kspan's main loop interleaves them with its idle sweep. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "events.h"
#include "ids.h"

#define PID	4242
#define COOKIE	0x6cf86eull
#define T0	5000000000000ull	/* monotonic ns */
#define IDLE	120000000000ull		/* the default --idle-timeout */

static const char REQ[] = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";

static void hdr(struct kspan_event_hdr *h, uint32_t type, uint64_t ts)
{
	h->type = type;
	h->pid = h->tid = PID;
	h->fd = 7;
	h->cookie = COOKIE;
	h->ts_enter = ts;
	h->ts_exit = ts + 1000;
}

static void conn_event(struct kspan_app *a, uint32_t type, uint64_t ts)
{
	struct kspan_conn_event e = { 0 };

	hdr(&e.hdr, type, ts);
	e.role = KSPAN_ROLE_SERVER;
	e.op = type == KSPAN_EV_CONN ? KSPAN_OP_ACCEPT : KSPAN_OP_CLOSE;
	app_handle_event(a, &e, sizeof(e));
}

static void data_event(struct kspan_app *a, bool egress, const char *p, uint64_t ts)
{
	struct {
		struct kspan_data_event e;
		char payload[128];
	} r;
	size_t n = strlen(p);

	memset(&r, 0, sizeof(r));
	hdr(&r.e.hdr, KSPAN_EV_DATA, ts);
	r.e.ret = n;
	r.e.cap_len = n;
	r.e.dir = egress ? KSPAN_DIR_EGRESS : KSPAN_DIR_INGRESS;
	r.e.op = egress ? KSPAN_OP_WRITEV : KSPAN_OP_READ;
	r.e.role = KSPAN_ROLE_SERVER;
	memcpy(r.payload, p, n);
	app_handle_event(a, &r, sizeof(r.e) + n);
}

static struct kspan_app *new_app(void)
{
	static struct kspan_app a;

	ids_init();
	assert_int_equal(app_init(&a, 64, 64, 0, true), 0);
	return &a;
}

/* The main loop takes the time, then reads the ring buffer: events written
 * meanwhile are later than that time. A sweep right after must not take the
 * connection that just read a request for one idle since long ago. */
static void test_sweep_after_later_events(void **state)
{
	struct kspan_app *a = new_app();
	const struct h1_stats *h = h1_ctx_stats(a->h1);

	(void)state;
	conn_event(a, KSPAN_EV_CONN, T0 + 10000);
	data_event(a, false, REQ, T0 + 20000);
	assert_int_equal(conn_sweep(a->conns, T0, IDLE), 0);
	data_event(a, true, RESP, T0 + 30000);
	conn_event(a, KSPAN_EV_CLOSE, T0 + 40000);
	assert_int_equal(h->spans, 1);
	assert_int_equal(h->orphan_responses, 0);
	assert_int_equal(h->unanswered, 0);
	assert_int_equal(conn_table_stats(a->conns)->evicted_idle, 0);
	app_free(a);
}

/* A connection silent for longer than the idle time still goes, its pending
 * request counted as unanswered. */
static void test_sweep_takes_idle(void **state)
{
	struct kspan_app *a = new_app();
	const struct h1_stats *h = h1_ctx_stats(a->h1);

	(void)state;
	conn_event(a, KSPAN_EV_CONN, T0);
	data_event(a, false, REQ, T0 + 1000);
	assert_int_equal(conn_sweep(a->conns, T0 + IDLE, IDLE), 0);
	assert_int_equal(conn_sweep(a->conns, T0 + IDLE + 3000, IDLE), 1);
	assert_int_equal(conn_count(a->conns), 0);
	assert_int_equal(h->unanswered, 1);
	assert_int_equal(h->spans, 0);
	assert_int_equal(conn_table_stats(a->conns)->evicted_idle, 1);
	app_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sweep_after_later_events),
		cmocka_unit_test(test_sweep_takes_idle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
