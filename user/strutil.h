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

/* Length of the leading run of s that a JSON string carries as it is:
 * ASCII from 0x20 up, except quote and backslash. Eight bytes at a time: a
 * word passes when none of its bytes is a control, a quote, a backslash or
 * has the high bit set (the borrow tests can also flag a clean byte above
 * a flagged one, never miss one); from the word that fails on, a byte at a
 * time. */
static inline size_t str_json_plain_len(const unsigned char *s, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t x, q, b, ctl, quo, bsl;

		memcpy(&x, s + i, 8);
		q = x ^ (ones * '"');
		b = x ^ (ones * '\\');
		ctl = (x - ones * 0x20) & ~x;	/* a byte below 0x20 */
		quo = (q - ones) & ~q;		/* a zero byte in q: a quote */
		bsl = (b - ones) & ~b;		/* a backslash */
		if ((x | ctl | quo | bsl) & highs)
			break;
	}
	for (; i < len; i++)
		if (s[i] < 0x20 || s[i] >= 0x80 || s[i] == '"' || s[i] == '\\')
			break;
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
