// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sampler.h"

uint64_t sampler_ratio_threshold(double r)
{
	/* The low 8 bytes of a random id are uniform. */
	return r >= 1.0 ? UINT64_MAX : r <= 0.0 ? 0 : (uint64_t)ldexp(r, 64);
}

bool sampler_id_below(const uint8_t id[16], uint64_t threshold)
{
	uint64_t low = 0;

	for (int i = 8; i < 16; i++)
		low = low << 8 | id[i];
	return threshold == UINT64_MAX || low < threshold;
}

static void set_ratio(struct sampler *s, double r)
{
	s->ratio = r;
	s->threshold = sampler_ratio_threshold(r);
}

int sampler_from_env(struct sampler *s, const char *name, const char *arg, FILE *err)
{
	static const struct {
		const char *name;
		enum sampler_kind root;
		bool parent;
	} names[] = {
		{ "always_on", SAMPLER_ALWAYS_ON, false },
		{ "always_off", SAMPLER_ALWAYS_OFF, false },
		{ "traceidratio", SAMPLER_RATIO, false },
		{ "parentbased_always_on", SAMPLER_ALWAYS_ON, true },
		{ "parentbased_always_off", SAMPLER_ALWAYS_OFF, true },
		{ "parentbased_traceidratio", SAMPLER_RATIO, true },
	};
	int rc = 0;

	s->root = SAMPLER_ALWAYS_ON;
	s->parent_based = true;
	set_ratio(s, 1.0);
	if (!name || !*name)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i].name))
			continue;
		s->root = names[i].root;
		s->parent_based = names[i].parent;
		if (s->root != SAMPLER_RATIO)
			return 0;
		if (arg && *arg) {
			char *end;
			double r;

			errno = 0;
			r = strtod(arg, &end);
			if (errno || end == arg || *end || !(r >= 0.0 && r <= 1.0)) {
				log_to(err, KLOG_WARN, "invalid OTEL_TRACES_SAMPLER_ARG '%s': expected a "
				       "ratio from 0 to 1; using 1.0", arg);
				return -1;
			}
			set_ratio(s, r);
		}
		return 0;
	}
	log_to(err, KLOG_WARN, "unknown OTEL_TRACES_SAMPLER '%s': use always_on, always_off, "
	       "traceidratio or parentbased_*; using parentbased_always_on", name);
	rc = -1;
	return rc;
}

bool sampler_keep(const struct sampler *s, const uint8_t id[16], bool has_parent,
		  uint8_t parent_flags)
{
	if (s->parent_based && has_parent)
		return parent_flags & 1;
	switch (s->root) {
	case SAMPLER_ALWAYS_OFF:
		return false;
	case SAMPLER_RATIO:
		return sampler_id_below(id, s->threshold);
	default:
		return true;
	}
}
