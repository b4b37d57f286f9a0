/*
 * test_outbox.c — the retry schedule: exponential backoff with full jitter, capped at an hour.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "outbox.h"

static void test_first_retry_within_base(void **state)
{
	(void)state;
	assert_int_equal(outbox_backoff_ms(1000, 0, 0.0), 0);
	assert_in_range(outbox_backoff_ms(1000, 0, 0.999999), 999, 1000);
	assert_in_range(outbox_backoff_ms(1000, 0, 0.5), 499, 501);
}

static void test_doubles_per_attempt(void **state)
{
	(void)state;
	/* The ceiling doubles with every failed attempt: base * 2^attempts. */
	for (int attempts = 0; attempts < 10; attempts++) {
		long long ceiling = 50LL << attempts;

		assert_in_range(outbox_backoff_ms(50, attempts, 0.999999), ceiling - 1, ceiling);
		assert_in_range(outbox_backoff_ms(50, attempts, 0.5), ceiling / 2 - 1,
		                ceiling / 2 + 1);
	}
}

static void test_full_jitter_is_uniform_from_zero(void **state)
{
	(void)state;
	/* Full jitter: any delay from 0 to the ceiling, so retries of many events spread out. */
	assert_int_equal(outbox_backoff_ms(1000, 5, 0.0), 0);
	assert_true(outbox_backoff_ms(1000, 5, 0.25) < outbox_backoff_ms(1000, 5, 0.75));
}

static void test_capped_at_one_hour(void **state)
{
	(void)state;
	assert_true(outbox_backoff_ms(1000, 40, 0.999999) <= 3600LL * 1000);
	assert_true(outbox_backoff_ms(1000, 1000, 0.999999) <= 3600LL * 1000);
	assert_true(outbox_backoff_ms(3600 * 1000, 3, 0.999999) <= 3600LL * 1000);
	assert_true(outbox_backoff_ms(1000, 40, 0.999999) >= 3599LL * 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_first_retry_within_base),
	        cmocka_unit_test(test_doubles_per_attempt),
	        cmocka_unit_test(test_full_jitter_is_uniform_from_zero),
	        cmocka_unit_test(test_capped_at_one_hour),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
