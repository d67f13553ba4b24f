// SPDX-License-Identifier: Apache-2.0
#include <string.h>
#include <strings.h>

#include "redact.h"

static const char redacted[] = "REDACTED";

/* Parameters that carry credentials in the wild (signed URLs, tokens). */
static const char *const secrets[] = {
	"sig", "signature", "awsaccesskeyid", "x-goog-signature", "x-goog-credential",
	"x-amz-signature", "x-amz-credential", "x-amz-security-token", "token",
	"access_token", "refresh_token", "id_token", "password", "passwd", "pwd",
	"secret", "client_secret", "api_key", "apikey", "key", "auth", "authorization",
	"session", "sessionid", "code",
};

int redact_is_secret(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (strlen(secrets[i]) == len && strncasecmp(secrets[i], name, len) == 0)
			return 1;
	return 0;
}

static int allowed(const struct redact_policy *p, const char *name, size_t len)
{
	if (redact_is_secret(name, len))
		return 0;
	for (size_t i = 0; p && i < p->nallow; i++)
		if (strlen(p->allow[i]) == len && memcmp(p->allow[i], name, len) == 0)
			return 1;
	return 0;
}

/* Append n bytes if they all fit; returns 0 when they did not. */
static int put(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
	if (n > cap - *o)
		return 0;
	memcpy(out + *o, s, n);
	*o += n;
	return 1;
}

size_t redact_query(const struct redact_policy *p, const char *q, size_t len,
		    char *out, size_t cap)
{
	size_t i = 0, o = 0;

	while (i < len) {
		const char *amp = memchr(q + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - q) : len;
		const char *eq = memchr(q + i, '=', end - i);
		size_t name_end = eq ? (size_t)(eq - q) : end;
		size_t mark = o;

		if (i && !put(out, cap, &o, "&", 1))
			break;
		if (!put(out, cap, &o, q + i, name_end - i))
			goto cut;
		if (eq) {
			int ok = allowed(p, q + i, name_end - i) ?
				put(out, cap, &o, eq, end - name_end) :
				put(out, cap, &o, "=", 1) &&
				put(out, cap, &o, redacted, sizeof(redacted) - 1);

			if (!ok)
				goto cut;
		}
		i = end + 1;
		continue;
cut:
		o = mark;	/* never end inside a parameter */
		break;
	}
	return o;
}

size_t redact_userinfo(const char *url, size_t len, char *out, size_t cap)
{
	const char *scheme = NULL, *auth, *end, *at;
	size_t o = 0;

	for (size_t i = 0; i + 2 < len; i++) {
		if (url[i] == ':' && url[i + 1] == '/' && url[i + 2] == '/') {
			scheme = url + i + 3;
			break;
		}
		if (url[i] == '/' || url[i] == '?')
			break;
	}
	auth = scheme ? scheme : url;
	end = auth;
	while (end < url + len && *end != '/' && *end != '?' && *end != '#')
		end++;
	at = NULL;
	for (const char *c = auth; c < end; c++)
		if (*c == '@')
			at = c;
	if (!at) {
		size_t n = len < cap ? len : cap;

		memcpy(out, url, n);
		return n;
	}
	if (put(out, cap, &o, url, auth - url) &&
	    put(out, cap, &o, "REDACTED:REDACTED", 17) &&
	    put(out, cap, &o, at, url + len - at))
		return o;
	return o;
}
