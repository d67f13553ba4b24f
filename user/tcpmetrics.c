// SPDX-License-Identifier: Apache-2.0
/* TCP metrics aggregation; see tcpmetrics.h. */
#include <stdlib.h>
#include <string.h>

#include "tcpmetrics.h"

const double tcpm_bounds[TCPM_BOUNDS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
	0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
};

struct tcpm {
	uint32_t max;
	uint32_t n;
	int32_t overflow;		/* index of the overflow series, -1: none */
	uint64_t gen;
	struct tcpm_series *s;
	int32_t *hash;			/* 2 * max slots of indexes, -1 free */
};

struct tcpm *tcpm_new(uint32_t max_series)
{
	struct tcpm *m;

	if (max_series < 2)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->max = max_series;
	m->overflow = -1;
	m->s = calloc(max_series, sizeof(*m->s));
	m->hash = malloc(2 * (size_t)max_series * sizeof(*m->hash));
	if (!m->s || !m->hash) {
		tcpm_free(m);
		return NULL;
	}
	memset(m->hash, 0xff, 2 * (size_t)max_series * sizeof(*m->hash));
	return m;
}

void tcpm_free(struct tcpm *m)
{
	if (!m)
		return;
	free(m->s);
	free(m->hash);
	free(m);
}

static uint64_t tcpm_hash(const struct tcpm_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ull;

	/* The key has no padding holes with indeterminate bytes: every
	 * caller builds it from a zeroed struct. */
	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static struct tcpm_series *tcpm_get(struct tcpm *m, const struct tcpm_key *k, uint64_t now)
{
	uint64_t h = tcpm_hash(k);
	uint32_t slots = 2 * m->max;
	struct tcpm_series *s;

	m->gen++;
	for (uint32_t probe = 0; probe < slots; probe++) {
		uint32_t slot = (h + probe) % slots;
		int32_t i = m->hash[slot];

		if (i < 0) {
			/* The last place is the overflow series'. */
			if (m->n + 1 >= m->max)
				break;
			m->hash[slot] = m->n;
			s = &m->s[m->n++];
			s->key = *k;
			s->start_ns = now;
			return s;
		}
		if (!m->s[i].overflow && !memcmp(&m->s[i].key, k, sizeof(*k)))
			return &m->s[i];
	}
	if (m->overflow < 0) {
		m->overflow = m->n;
		s = &m->s[m->n++];
		s->key = *k;
		s->overflow = true;
		s->start_ns = now;
	}
	return &m->s[m->overflow];
}

static void tcpm_observe(struct tcpm_hist *h, double v)
{
	int b;

	if (v < 0)
		v = 0;
	for (b = 0; b < TCPM_BOUNDS && v > tcpm_bounds[b]; b++)
		;
	h->buckets[b]++;
	if (!h->count || v < h->min)
		h->min = v;
	if (!h->count || v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
}

void tcpm_connect(struct tcpm *m, const struct tcpm_key *k, double secs, uint64_t now_ns)
{
	tcpm_observe(&tcpm_get(m, k, now_ns)->connect, secs);
}

void tcpm_rtt(struct tcpm *m, const struct tcpm_key *k, double secs, uint64_t now_ns)
{
	tcpm_observe(&tcpm_get(m, k, now_ns)->rtt, secs);
}

void tcpm_retrans(struct tcpm *m, const struct tcpm_key *k, uint64_t segs, uint64_t now_ns)
{
	tcpm_get(m, k, now_ns)->retrans += segs;
}

void tcpm_fail(struct tcpm *m, const struct tcpm_key *k, enum tcpm_fail why, uint64_t now_ns)
{
	if (why < TCPM_FAIL_MAX)
		tcpm_get(m, k, now_ns)->fail[why]++;
}

const struct tcpm_series *tcpm_series(const struct tcpm *m, size_t *n)
{
	*n = m->n;
	return m->s;
}

uint32_t tcpm_capacity(const struct tcpm *m)
{
	return m->max;
}

uint64_t tcpm_generation(const struct tcpm *m)
{
	return m->gen;
}

const char *tcpm_fail_name(enum tcpm_fail why)
{
	static const char *const names[TCPM_FAIL_MAX] = {
		[TCPM_FAIL_REFUSED] = "refused", [TCPM_FAIL_TIMEOUT] = "timeout",
		[TCPM_FAIL_UNREACHABLE] = "unreachable", [TCPM_FAIL_RESET] = "reset",
		[TCPM_FAIL_ABORTED] = "aborted", [TCPM_FAIL_ERROR] = "error",
	};

	return why < TCPM_FAIL_MAX ? names[why] : "error";
}
