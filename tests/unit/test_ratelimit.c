/*
 * test_ratelimit.c — token buckets: a burst goes through, the next request is refused with the
 * time until a token is back, tokens come back at the rate, keys do not share buckets, and a
 * table under pressure from many keys forgets full buckets before a drained one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ratelimit.h"
#include "banned.h"

static long long take(struct ratelimit *rl, const char *key, long long now_ms)
{
	return ratelimit_take(rl, key, strlen(key), now_ms);
}

static void test_burst_then_refused(void **state)
{
	struct ratelimit *rl = ratelimit_new(10, 5); /* 10/s: a token every 100 ms */

	(void)state;
	assert_non_null(rl);
	for (int i = 0; i < 5; i++)
		assert_int_equal(take(rl, "shop", 1000), 0);
	/* Empty: the next token is 100 ms away (rounded up by one). */
	assert_in_range(take(rl, "shop", 1000), 100, 101);
	/* 50 ms later, half a token: still 50 ms to go. */
	assert_in_range(take(rl, "shop", 1050), 50, 51);
	/* A refusal takes nothing: at 100 ms the token is there, and only one. */
	assert_int_equal(take(rl, "shop", 1100), 0);
	assert_true(take(rl, "shop", 1100) > 0);
	ratelimit_free(rl);
}

static void test_refill_caps_at_burst(void **state)
{
	struct ratelimit *rl = ratelimit_new(10, 5);
	int passed = 0;

	(void)state;
	assert_non_null(rl);
	for (int i = 0; i < 5; i++)
		assert_int_equal(take(rl, "shop", 0), 0);
	/* An hour idle refills to the burst, not to 36,000 tokens. */
	for (int i = 0; i < 20; i++)
		passed += take(rl, "shop", 3600000) == 0;
	assert_int_equal(passed, 5);
	/* Steady at the rate: one request every 100 ms always goes. */
	for (long long t = 3600100; t < 3610000; t += 100)
		assert_int_equal(take(rl, "shop", t), 0);
	ratelimit_free(rl);
}

static void test_keys_are_separate(void **state)
{
	struct ratelimit *rl = ratelimit_new(1, 2);

	(void)state;
	assert_non_null(rl);
	assert_int_equal(take(rl, "noisy", 0), 0);
	assert_int_equal(take(rl, "noisy", 0), 0);
	assert_true(take(rl, "noisy", 0) > 0);
	assert_int_equal(take(rl, "quiet", 0), 0);
	assert_int_equal(take(rl, "quiet", 0), 0);
	/* A prefix is another key. */
	assert_int_equal(take(rl, "nois", 0), 0);
	ratelimit_free(rl);
}

static void test_pressure_keeps_drained_buckets(void **state)
{
	struct ratelimit *rl = ratelimit_new(1, 3);
	char key[32];

	(void)state;
	assert_non_null(rl);
	for (int i = 0; i < 3; i++)
		assert_int_equal(take(rl, "hot", 0), 0);
	assert_true(take(rl, "hot", 0) > 0);
	/* Far more keys than slots, each with tokens left: none of them displaces "hot", and
	 * every one of them is let through. */
	for (int i = 0; i < 50000; i++) {
		snprintf(key, sizeof(key), "store-%d", i);
		assert_int_equal(take(rl, key, 0), 0);
	}
	assert_true(take(rl, "hot", 0) > 0);
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_burst_then_refused),
	        cmocka_unit_test(test_refill_caps_at_burst),
	        cmocka_unit_test(test_keys_are_separate),
	        cmocka_unit_test(test_pressure_keeps_drained_buckets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
