/* SPDX-License-Identifier: Apache-2.0 */
/* Exporters receive finished traces: every span of one batch shares nothing
 * but the process table; the tree exporter is handed one trace at a time. */
#ifndef __KSPAN_EXPORT_H
#define __KSPAN_EXPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "span.h"

struct exporter {
	const char *name;
	bool per_trace;		/* export() gets one trace at a time; otherwise
				 * batches that may hold many traces */
	/* Export n spans. For the tree exporter they form one trace. */
	int (*export)(struct exporter *e, const struct span *const *spans, size_t n);
	int (*flush)(struct exporter *e);
	/* Optional: called before the last traces are handed over at exit,
	 * so that an exporter that queues can take them all, bounded by its
	 * own shutdown timeout, instead of dropping what does not fit. */
	void (*closing)(struct exporter *e);
	/* Optional: how many spans export() takes now without dropping any;
	 * the trace buffer holds traces due for export back while there is
	 * no room. NULL: no limit. */
	size_t (*room)(struct exporter *e);
	void (*destroy)(struct exporter *e);
	unsigned long long spans_exported;
	unsigned long long export_errors;
};

struct exporter *tree_exporter_new(FILE *out, bool color);
struct exporter *otlp_json_exporter_new(FILE *out);

#endif /* __KSPAN_EXPORT_H */
