// SPDX-License-Identifier: Apache-2.0
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ids.h"

/* xoshiro256** (Blackman and Vigna): fast, and good enough for ids that must
 * be unique, not secret. */
static uint64_t state[4];
static int64_t mono_to_unix_ns;

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t next(void)
{
	uint64_t r = rotl(state[1] * 5, 7) * 9, t = state[1] << 17;

	state[2] ^= state[0];
	state[3] ^= state[1];
	state[1] ^= state[2];
	state[0] ^= state[3];
	state[2] ^= t;
	state[3] = rotl(state[3], 45);
	return r;
}

static uint64_t ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

void ids_init(void)
{
	uint64_t before, real, after;

	if (getrandom(state, sizeof(state), 0) != sizeof(state) ||
	    !(state[0] | state[1] | state[2] | state[3])) {
		state[0] = ns(CLOCK_REALTIME);
		state[1] = ns(CLOCK_MONOTONIC) | 1;
	}
	before = ns(CLOCK_MONOTONIC);
	real = ns(CLOCK_REALTIME);
	after = ns(CLOCK_MONOTONIC);
	mono_to_unix_ns = (int64_t)real - (int64_t)(before + (after - before) / 2);
}

void ids_trace_id(uint8_t out[16])
{
	do {
		uint64_t a = next(), b = next();

		memcpy(out, &a, 8);
		memcpy(out + 8, &b, 8);
	} while (ids_is_zero(out, 16));
}

void ids_span_id(uint8_t out[8])
{
	do {
		uint64_t a = next();

		memcpy(out, &a, 8);
	} while (ids_is_zero(out, 8));
}

bool ids_is_zero(const uint8_t *id, int len)
{
	for (int i = 0; i < len; i++)
		if (id[i])
			return false;
	return true;
}

uint64_t ids_mono_to_unix(uint64_t mono_ns)
{
	/* Unsigned: wraps instead of overflowing on nonsense input. */
	return mono_ns + (uint64_t)mono_to_unix_ns;
}

uint64_t ids_unix_to_mono(uint64_t unix_ns)
{
	return unix_ns - (uint64_t)mono_to_unix_ns;
}

uint64_t ids_mono_now(void)
{
	return ns(CLOCK_MONOTONIC);
}
