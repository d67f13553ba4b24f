// SPDX-License-Identifier: Apache-2.0
/* Fuzz what a collector can answer: the first byte picks the parser, the rest
 * is its input (a gRPC frame, an export response in protobuf or JSON, a
 * google.rpc.Status, a Retry-After, grpc-status or grpc-message value, base64
 * or gzip). Each takes (buf, len) and must never read past it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *msg;
	uint8_t *copy, *out, bin[512];
	char text[256];
	size_t msglen, outlen;
	int64_t rej, retry;
	int32_t code;
	bool z;

	if (!size)
		return 0;
	/* An exact-size copy, so that ASan sees any over-read. */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	size--;
	switch (data[0] % 9) {
	case 0:
		if (otlp_grpc_frame(copy, size, &z, &msg, &msglen) > 0)
			otlp_partial_success(OTLP_TRACES, false, msg, msglen, &rej, text,
					     sizeof(text));
		break;
	case 1:
		otlp_partial_success(OTLP_TRACES, false, copy, size, &rej, text, sizeof(text));
		otlp_partial_success(OTLP_METRICS, false, copy, size, &rej, text, sizeof(text));
		break;
	case 2:
	case 3:
		otlp_partial_success(data[0] & 1 ? OTLP_METRICS : OTLP_TRACES, true, copy, size,
				     &rej, text, sizeof(text));
		break;
	case 4:
		otlp_rpc_status(copy, size, &code, text, sizeof(text), &retry);
		break;
	case 5:
		otlp_retry_after_ms((const char *)copy, size, 1445412480);
		break;
	case 6:
		otlp_grpc_status((const char *)copy, size);
		otlp_grpc_message(text, sizeof(text), (const char *)copy, size);
		break;
	case 7:
		otlp_base64_decode(bin, sizeof(bin), (const char *)copy, size);
		break;
	case 8:
		out = otlp_gunzip(copy, size, 1 << 16, &outlen);
		free(out);
		break;
	}
	free(copy);
	return 0;
}
