// SPDX-License-Identifier: Apache-2.0
/* Ring-buffer records, as arbitrary bytes, through the event decoder, the
 * connection table, the HTTP/1 session tracker and the trace buffer.
 * Input: records, each a 2-byte little-endian length then that many bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "ids.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kspan_app app;
	static bool ready;
	size_t off = 0;
	int n = 0;

	if (!ready) {
		ids_init();
		if (app_init(&app, 32, 64, 0, true))
			abort();
		ready = true;
	}
	while (off + 2 <= size) {
		size_t len = data[off] | (size_t)data[off + 1] << 8;
		void *rec;

		off += 2;
		if (len > size - off)
			len = size - off;
		/* An exact-size copy: reading past it is caught by ASan. */
		rec = malloc(len ? len : 1);
		memcpy(rec, data + off, len);
		app_handle_event(&app, rec, len);
		free(rec);
		off += len;
		if (++n % 8 == 0)
			trace_flush(app.traces, UINT64_MAX, true);
	}
	app_close_all(&app);
	trace_flush(app.traces, UINT64_MAX, true);
	return 0;
}
