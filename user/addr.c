// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <string.h>

#include "addr.h"

size_t addr_fmt(const uint8_t a[16], char *buf, size_t len)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	const char *r;

	if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0)
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
