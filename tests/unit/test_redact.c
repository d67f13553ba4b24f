// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "redact.h"

static const char *q(const struct redact_policy *p, const char *in, size_t cap)
{
	static char out[512];
	size_t n = redact_query(p, in, strlen(in), out, cap);

	assert_true(n <= cap);
	out[n] = '\0';
	return out;
}

static void test_values_redacted_by_default(void **state)
{
	(void)state;
	assert_string_equal(q(NULL, "a=1&b=two", 100), "a=REDACTED&b=REDACTED");
	assert_string_equal(q(NULL, "flag&x=", 100), "flag&x=REDACTED");
	assert_string_equal(q(NULL, "", 100), "");
}

static void test_allowlist_and_secrets(void **state)
{
	struct redact_policy p = { .allow = { "page", "sig", "q" }, .nallow = 3 };

	(void)state;
	assert_string_equal(q(&p, "page=2&q=shoes&other=x", 100), "page=2&q=shoes&other=REDACTED");
	/* Known secrets stay redacted even when allowed. */
	assert_string_equal(q(&p, "sig=abc&page=1", 100), "sig=REDACTED&page=1");
	assert_string_equal(q(&p, "X-Goog-Signature=zz&AWSAccessKeyId=k&Signature=s", 200),
			    "X-Goog-Signature=REDACTED&AWSAccessKeyId=REDACTED&Signature=REDACTED");
	assert_true(redact_is_secret("TOKEN", 5));
	assert_false(redact_is_secret("page", 4));
}

static void test_cut_never_splits_a_parameter(void **state)
{
	struct redact_policy p = { .allow = { "page" }, .nallow = 1 };
	const char *in = "page=12345&b=2";

	(void)state;
	for (size_t cap = 0; cap < 40; cap++) {
		const char *out = q(&p, in, cap);
		const char *full = "page=12345&b=REDACTED";

		/* Every cut output is a whole-parameter prefix of the full one. */
		assert_int_equal(strncmp(out, full, strlen(out)), 0);
		assert_true(strlen(out) == 0 || strlen(out) == 10 || strlen(out) == strlen(full));
	}
}

static void test_userinfo(void **state)
{
	char out[128];
	const char *u = "http://alice:s3cret@example.com:8080/p?x=1";
	size_t n = redact_userinfo(u, strlen(u), out, sizeof(out));

	(void)state;
	out[n] = '\0';
	assert_string_equal(out, "http://REDACTED:REDACTED@example.com:8080/p?x=1");
	n = redact_userinfo("http://h/p@x", 12, out, sizeof(out));
	out[n] = '\0';
	assert_string_equal(out, "http://h/p@x");
	n = redact_userinfo("bob@h:80", 8, out, sizeof(out));
	out[n] = '\0';
	assert_string_equal(out, "REDACTED:REDACTED@h:80");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_redacted_by_default),
		cmocka_unit_test(test_allowlist_and_secrets),
		cmocka_unit_test(test_cut_never_splits_a_parameter),
		cmocka_unit_test(test_userinfo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
