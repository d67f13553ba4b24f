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

size_t addr_fmt(const uint8_t a[16], char *buf, size_t len)
{
	const char *r;

	if (addr_is_v4(a))
		r = inet_ntop(AF_INET, a + 12, buf, len);
	else
		r = inet_ntop(AF_INET6, a, buf, len);
	if (!r) {
		if (len)
			buf[0] = '\0';
		return 0;
	}
	return strlen(buf);
}
