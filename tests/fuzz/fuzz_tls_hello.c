// SPDX-License-Identifier: Apache-2.0
/* ServerHello bytes, as captured from a socket, through the version parser,
 * with and without a record header. An exact-size copy: reading past it is
 * caught by ASan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);
	int v;

	memcpy(p, data, size);
	for (int record = 0; record < 2; record++) {
		v = tls_hello_version(p, size, record);
		if (v < -2 || v > 0xffff)
			abort();
		(void)tls_version_name(v);
	}
	free(p);
	return 0;
}
