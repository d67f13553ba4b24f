/* SPDX-License-Identifier: Apache-2.0 */
/* proc.c helpers exposed for unit tests only. */
#ifndef __KSPAN_PROC_INTERNAL_H
#define __KSPAN_PROC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Join the NUL-separated argv in raw[0..len) with spaces into dst (always
 * NUL-terminated, truncated to dstsz - 1), replacing the values of secret
 * options ("--token=x", "--token x") with "REDACTED". Returns strlen(dst). */
size_t proc_cmdline_redact(char *dst, size_t dstsz, const char *raw, size_t len);
/* Service name from a NUL-separated environment block: OTEL_SERVICE_NAME,
 * else service.name in OTEL_RESOURCE_ATTRIBUTES. False if neither is set. */
bool proc_service_from_environ(char *dst, size_t dstsz, const char *env,
			       size_t len);
/* Number of cached entries, and whether pid is cached. */
size_t proc_cache_count(void);
bool proc_cache_has(uint32_t pid);

#endif /* __KSPAN_PROC_INTERNAL_H */
