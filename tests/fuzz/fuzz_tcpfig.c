// SPDX-License-Identifier: Apache-2.0
/* conns records, reads and writes, and finished spans, as arbitrary bytes,
 * through the TCP figure table of the tracing mode and its metrics.
 * Input: operations, each an opcode byte then its bytes:
 *   0 LEN(2, little-endian) RECORD   a ring-buffer record of LEN bytes
 *   1 COOKIE(1) DIR(1) TS(8)         a read or write of connection COOKIE
 *   2 COOKIE(1) REQ(1) START(8) END(8)  a span of connection COOKIE
 * Cookies of records are taken modulo 8 so that operations meet. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcpfig.h"

static uint64_t u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tcpfig *f = tcpfig_new(4, 4);
	size_t off = 0;

	if (!f)
		abort();
	while (off < size) {
		uint8_t op = data[off++];

		if (op % 3 == 0 && off + 2 <= size) {
			size_t len = data[off] | (size_t)data[off + 1] << 8;
			uint8_t *rec;

			off += 2;
			if (len > size - off)
				len = size - off;
			/* An exact-size copy: reading past it is caught by ASan. */
			rec = malloc(len ? len : 1);
			memcpy(rec, data + off, len);
			if (len >= sizeof(struct kspan_conns_event))
				((struct kspan_conns_event *)rec)->cookie %= 8;
			tcpfig_record(f, rec, len);
			free(rec);
			off += len;
		} else if (op % 3 == 1 && off + 10 <= size) {
			tcpfig_data(f, data[off] % 8, data[off + 1] & 1, u64(data + off + 2));
			off += 10;
		} else if (op % 3 == 2 && off + 18 <= size) {
			struct span *sp = calloc(1, sizeof(*sp));

			span_init(sp);
			sp->conn_id = data[off] % 8;
			sp->req_no = data[off + 1];
			sp->start_ns = u64(data + off + 2);
			sp->end_ns = u64(data + off + 10);
			tcpfig_span(f, sp);
			free(sp);
			off += 18;
		} else {
			break;
		}
	}
	tcpfig_free(f);
	return 0;
}
