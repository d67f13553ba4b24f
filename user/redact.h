/* SPDX-License-Identifier: Apache-2.0 */
/* What leaves the node: query strings and URLs are scrubbed before they
 * become span attributes. */
#ifndef __KSPAN_REDACT_H
#define __KSPAN_REDACT_H

#include <stddef.h>

#define REDACT_ALLOW_MAX 16

struct redact_policy {
	/* Query parameters whose values are kept; every other value becomes
	 * REDACTED. Known secret parameters are redacted even when listed. */
	const char *allow[REDACT_ALLOW_MAX];
	size_t nallow;
};

/* Rewrite a query string (no '?') with values redacted per the policy.
 * Writes at most cap bytes (no NUL) and returns the length written; output
 * cut at cap never ends inside a kept value. */
size_t redact_query(const struct redact_policy *p, const char *q, size_t len,
		    char *out, size_t cap);
/* Whether a parameter name is a known secret (case-insensitive). */
int redact_is_secret(const char *name, size_t len);
/* Copy an absolute URL or authority with "user:password@" replaced by
 * "REDACTED:REDACTED@". Returns the length written (at most cap). */
size_t redact_userinfo(const char *url, size_t len, char *out, size_t cap);

#endif /* __KSPAN_REDACT_H */
