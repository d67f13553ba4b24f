// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>

#include "ids.h"
#include "sampler.h"

static void test_env_parsing(void **state)
{
	struct sampler s;
	FILE *null = fopen("/dev/null", "w");

	(void)state;
	assert_int_equal(sampler_from_env(&s, NULL, NULL, null), 0);
	assert_true(s.parent_based && s.root == SAMPLER_ALWAYS_ON);
	assert_int_equal(sampler_from_env(&s, "", "", null), 0);
	assert_int_equal(sampler_from_env(&s, "traceidratio", "0.25", null), 0);
	assert_true(!s.parent_based && s.root == SAMPLER_RATIO && s.ratio == 0.25);
	assert_int_equal(sampler_from_env(&s, "parentbased_traceidratio", "1.5", null), -1);
	assert_true(s.ratio == 1.0);
	assert_int_equal(sampler_from_env(&s, "traceidratio", "abc", null), -1);
	assert_int_equal(sampler_from_env(&s, "xray", NULL, null), -1);
	assert_true(s.parent_based && s.root == SAMPLER_ALWAYS_ON);
	fclose(null);
}

/* Over 10k random trace ids the kept share is within 5 standard deviations
 * of the ratio, for several ratios. */
static void test_ratio_holds(void **state)
{
	static const double ratios[] = { 0.0, 0.01, 0.1, 0.5, 0.9, 1.0 };
	struct sampler s;
	uint8_t id[16];

	(void)state;
	ids_init();
	for (size_t r = 0; r < sizeof(ratios) / sizeof(ratios[0]); r++) {
		char arg[16];
		int kept = 0, n = 10000;
		double sd = sqrt(n * ratios[r] * (1 - ratios[r]));

		snprintf(arg, sizeof(arg), "%g", ratios[r]);
		assert_int_equal(sampler_from_env(&s, "traceidratio", arg, stderr), 0);
		for (int i = 0; i < n; i++) {
			ids_trace_id(id);
			kept += sampler_keep(&s, id, false, 0);
		}
		assert_true(fabs(kept - n * ratios[r]) <= 5 * sd + 0.5);
	}
}

static void test_consistent_and_parent_based(void **state)
{
	struct sampler s;
	uint8_t id[16];

	(void)state;
	ids_init();
	sampler_from_env(&s, "parentbased_traceidratio", "0.5", stderr);
	for (int i = 0; i < 1000; i++) {
		struct sampler t = s;

		ids_trace_id(id);
		/* The same id gives the same answer anywhere. */
		assert_int_equal(sampler_keep(&s, id, false, 0), sampler_keep(&t, id, false, 0));
		/* A propagated parent's flag decides. */
		assert_true(sampler_keep(&s, id, true, 1));
		assert_false(sampler_keep(&s, id, true, 0));
	}
	sampler_from_env(&s, "traceidratio", "0.5", stderr);
	assert_false(s.parent_based);
	sampler_from_env(&s, "always_off", NULL, stderr);
	assert_false(sampler_keep(&s, id, false, 1));
	sampler_from_env(&s, "parentbased_always_off", NULL, stderr);
	assert_true(sampler_keep(&s, id, true, 1));
	assert_false(sampler_keep(&s, id, false, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_parsing),
		cmocka_unit_test(test_ratio_holds),
		cmocka_unit_test(test_consistent_and_parent_based),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
