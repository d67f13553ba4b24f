/* SPDX-License-Identifier: Apache-2.0 */
/* Head sampling as the OpenTelemetry SDKs define it, decided once per trace
 * from its trace id, so that every kspan instance decides alike. */
#ifndef __KSPAN_SAMPLER_H
#define __KSPAN_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum sampler_kind {
	SAMPLER_ALWAYS_ON = 0,
	SAMPLER_ALWAYS_OFF,
	SAMPLER_RATIO,		/* traceidratio */
};

struct sampler {
	enum sampler_kind root;	/* for traces that start here */
	bool parent_based;	/* follow the sampled flag of a propagated parent */
	uint64_t threshold;	/* RATIO: keep when the id's low 8 bytes are below */
	double ratio;
};

/* From OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG values (NULL or empty:
 * unset). An invalid value is reported on err and the default is used:
 * parentbased_always_on, as in the SDKs. Returns 0, or -1 after reporting. */
int sampler_from_env(struct sampler *s, const char *name, const char *arg, FILE *err);
/* Keep a trace whose root span has this trace id; has_parent tells whether
 * the root came with propagated context, whose flags are parent_flags. */
bool sampler_keep(const struct sampler *s, const uint8_t trace_id[16], bool has_parent,
		  uint8_t parent_flags);
/* The share r (0..1) as a bound on the low 8 bytes of trace ids: r * 2^64,
 * saturating to UINT64_MAX, which keeps every id. */
uint64_t sampler_ratio_threshold(double r);
/* Whether a trace id falls in the share of that bound. */
bool sampler_id_below(const uint8_t trace_id[16], uint64_t threshold);

#endif /* __KSPAN_SAMPLER_H */
