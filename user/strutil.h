/* SPDX-License-Identifier: Apache-2.0 */
/* Small byte-string helpers shared by the exporters and /proc readers. */
#ifndef __KSPAN_STRUTIL_H
#define __KSPAN_STRUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (len > 0 bytes), 0 if it is not
 * one (overlongs, surrogates and code points past U+10FFFF included). */
static inline size_t str_utf8_len(const unsigned char *s, size_t len)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* Bit 7 of each byte of x that is a control (below 0x20), a quote, a
 * backslash or has the high bit set. The borrows can also flag a clean byte
 * above a flagged one, never one below the lowest flagged byte: the lowest
 * flag is exact. */
static inline uint64_t str_json_special8(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
	uint64_t ctl = (x - ones * 0x20) & ~x;	/* a byte below 0x20 */
	uint64_t quo = (q - ones) & ~q;		/* a zero byte in q: a quote */
	uint64_t bsl = (b - ones) & ~b;		/* a backslash */

	return (x | ctl | quo | bsl) & highs;
}

/* Length of the leading run of s that a JSON string carries as it is:
 * ASCII from 0x20 up, except quote and backslash. Eight bytes at a time
 * (first byte lowest), the last few padded with a plain byte; the run ends
 * at the lowest flagged byte of the first word with one. */
static inline size_t str_json_plain_len(const unsigned char *s, size_t len)
{
	uint64_t x, m;
	size_t i = 0;

	for (;; i += 8) {
		if (i >= len) {
			return len;
		} else if (len - i >= 8) {
			memcpy(&x, s + i, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
			x = __builtin_bswap64(x);
#endif
		} else if (i < len) {
			/* Assembled in registers: a short copy to memory and
			 * a load of the word would stall on store forwarding. */
			x = 0x0101010101010101ull * 'a';
			for (size_t k = 0; k < len - i; k++)
				x = (x & ~(0xffull << 8 * k)) | (uint64_t)s[i + k] << 8 * k;
		}
		m = str_json_special8(x);
		if (m)
			break;
	}
	i += (size_t)__builtin_ctzll(m) / 8;
	return i < len ? i : len;
}

/* Length of the leading run of s in 0x01..0x7f (ASCII but NUL), eight
 * bytes at a time: a byte with the high bit set or a zero byte ends it. */
static inline size_t str_ascii_run(const unsigned char *s, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;

	for (; len - i >= 8; i += 8) {
		uint64_t x, m;

		memcpy(&x, s + i, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
		x = __builtin_bswap64(x);
#endif
		m = (x | ((x - ones) & ~x)) & highs;
		if (m)
			return i + (size_t)__builtin_ctzll(m) / 8;
	}
	while (i < len && (unsigned char)(s[i] - 1) < 0x7f)
		i++;
	return i;
}

/* Copy n bytes of s into dst as a string, cut to dstsz - 1 bytes. */
static inline void str_copy(char *dst, size_t dstsz, const char *s, size_t n)
{
	if (!dstsz)
		return;
	if (n > dstsz - 1)
		n = dstsz - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Value of a hex digit of either case, or -1. */
static inline int str_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Value of name in an environment array (envp); NULL if unset or empty,
 * which the OpenTelemetry and kspan variables treat alike. */
static inline const char *str_env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env && *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return (*env)[n + 1] ? *env + n + 1 : NULL;
	return NULL;
}

/* The same in a NUL-separated block, as /proc/PID/environ holds it; *vlen
 * gets the value's length. */
static inline const char *str_environ_get(const char *env, size_t len, const char *name,
					  size_t *vlen)
{
	size_t nlen = strlen(name), i = 0;

	while (i < len) {
		const char *var = env + i;
		size_t n;

		while (i < len && env[i])
			i++;
		n = env + i - var;
		i++;
		if (n > nlen && memcmp(var, name, nlen) == 0 && var[nlen] == '=') {
			*vlen = n - nlen - 1;
			return *vlen ? var + nlen + 1 : NULL;
		}
	}
	return NULL;
}

#endif /* __KSPAN_STRUTIL_H */
