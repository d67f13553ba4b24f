// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <string.h>

#include "addr.h"

static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

bool addr_is_v4(const uint8_t a[16])
{
	return memcmp(a, v4mapped, sizeof(v4mapped)) == 0;
}

bool addr_is_zero(const uint8_t a[16])
{
	static const uint8_t zero[16];

	return memcmp(a, zero, sizeof(zero)) == 0;
}

/* Dotted quad, as inet_ntop writes it (glibc's formats it with sprintf,
 * and every span formats two addresses). 0 and an empty string when it
 * does not fit. */
static size_t fmt_v4(const uint8_t *q, char *buf, size_t len)
{
	char t[16];
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		unsigned v = q[i];

		if (i)
			t[n++] = '.';
		if (v >= 100)
			t[n++] = '0' + v / 100;
		if (v >= 10)
			t[n++] = '0' + v / 10 % 10;
		t[n++] = '0' + v % 10;
	}
	if (n >= len) {
		if (len)
			buf[0] = '\0';
		return 0;
	}
	memcpy(buf, t, n);
	buf[n] = '\0';
	return n;
}

size_t addr_fmt(const uint8_t a[16], char *buf, size_t len)
{
	if (addr_is_v4(a))
		return fmt_v4(a + 12, buf, len);
	if (!inet_ntop(AF_INET6, a, buf, len)) {
		if (len)
			buf[0] = '\0';
		return 0;
	}
	return strlen(buf);
}
