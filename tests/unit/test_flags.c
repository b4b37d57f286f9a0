/*
 * test_flags.c — the pure half of feature flags: the stable rollout hash, the on/off decision and
 * the table of known keys. The bucket is part of the contract (a subject must not change sides
 * when a new build is deployed), so it is checked against an independent SHA-256 as well.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/sha.h>

#include "flags.h"
#include "banned.h"

#define SUBJECTS 10000

static const char *const known_keys[] = {
        "checkout.async_enabled",
        "chaos.payment_capture_fail",
        "chaos.worker_slow",
};

static void subject_name(int i, char *buf, size_t size)
{
	snprintf(buf, size, "subject-%d", i);
}

/* The documented formula, computed independently of flags.c. */
static int reference_bucket(const char *key, const char *subject)
{
	unsigned char msg[256];
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t klen = strlen(key), slen = strlen(subject);
	uint32_t v;

	assert_true(klen + 1 + slen <= sizeof(msg));
	memcpy(msg, key, klen);
	msg[klen] = '\0';
	memcpy(msg + klen + 1, subject, slen);
	SHA256(msg, klen + 1 + slen, md);
	v = ((uint32_t)md[0] << 24) | ((uint32_t)md[1] << 16) | ((uint32_t)md[2] << 8) | md[3];
	return (int)(v % 100);
}

static void test_bucket_range_and_deterministic(void **state)
{
	char subject[32];

	(void)state;
	for (size_t k = 0; k < sizeof(known_keys) / sizeof(known_keys[0]); k++) {
		for (int i = 0; i < SUBJECTS; i++) {
			int b;

			subject_name(i, subject, sizeof(subject));
			b = flags_bucket(known_keys[k], subject);
			assert_in_range(b, 0, 99);
			assert_int_equal(b, flags_bucket(known_keys[k], subject));
		}
	}
	assert_in_range(flags_bucket("", ""), 0, 99);
	assert_int_equal(flags_bucket("", ""), flags_bucket("", ""));
}

static void test_bucket_matches_documented_formula(void **state)
{
	char subject[32];

	(void)state;
	for (size_t k = 0; k < sizeof(known_keys) / sizeof(known_keys[0]); k++) {
		for (int i = 0; i < 500; i++) {
			subject_name(i, subject, sizeof(subject));
			assert_int_equal(flags_bucket(known_keys[k], subject),
			                 reference_bucket(known_keys[k], subject));
		}
	}
	assert_int_equal(flags_bucket("", ""), reference_bucket("", ""));
	assert_int_equal(flags_bucket("k", "123e4567-e89b-12d3-a456-426614174000"),
	                 reference_bucket("k", "123e4567-e89b-12d3-a456-426614174000"));
}

static void test_bucket_distribution_uniform(void **state)
{
	char subject[32];

	(void)state;
	for (size_t k = 0; k < sizeof(known_keys) / sizeof(known_keys[0]); k++) {
		int decile[10] = {0};

		for (int i = 0; i < SUBJECTS; i++) {
			subject_name(i, subject, sizeof(subject));
			decile[flags_bucket(known_keys[k], subject) / 10]++;
		}
		for (int d = 0; d < 10; d++) {
			if (decile[d] < 800 || decile[d] > 1200)
				fail_msg("%s: decile %d holds %d of %d subjects", known_keys[k], d,
				         decile[d], SUBJECTS);
		}
	}
}

static void test_bucket_depends_on_flag(void **state)
{
	char subject[32];
	int same = 0;

	(void)state;
	/* Independent hashes agree about 1 time in 100; the same hash always would. */
	for (int i = 0; i < 1000; i++) {
		subject_name(i, subject, sizeof(subject));
		if (flags_bucket(known_keys[0], subject) == flags_bucket(known_keys[1], subject))
			same++;
	}
	assert_in_range(same, 0, 100);
}

static void test_bucket_key_subject_boundary(void **state)
{
	char subject[32], shifted[40];
	int same = 0;

	(void)state;
	/* ("ab", "c") is not ("a", "bc"): the NUL separator keeps the parts apart. */
	for (int i = 0; i < 1000; i++) {
		subject_name(i, subject, sizeof(subject));
		snprintf(shifted, sizeof(shifted), "x%s", subject);
		if (flags_bucket("flagx", subject) == flags_bucket("flag", shifted))
			same++;
	}
	assert_in_range(same, 0, 100);
}

static void test_decide_disabled(void **state)
{
	struct flag_value v = {false, 100, false};
	char subject[32];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		subject_name(i, subject, sizeof(subject));
		assert_false(flags_decide(&v, known_keys[0], subject));
	}
	v.rollout_percent = 50;
	v.from_store = true;
	for (int i = 0; i < 1000; i++) {
		subject_name(i, subject, sizeof(subject));
		assert_false(flags_decide(&v, known_keys[0], subject));
	}
}

static void test_decide_zero_and_full(void **state)
{
	struct flag_value zero = {true, 0, false};
	struct flag_value full = {true, 100, false};
	struct flag_value below = {true, -5, false};
	struct flag_value above = {true, 250, false};
	char subject[32];

	(void)state;
	for (int i = 0; i < SUBJECTS; i++) {
		subject_name(i, subject, sizeof(subject));
		assert_false(flags_decide(&zero, known_keys[1], subject));
		assert_true(flags_decide(&full, known_keys[1], subject));
		assert_false(flags_decide(&below, known_keys[1], subject));
		assert_true(flags_decide(&above, known_keys[1], subject));
	}
}

static void test_decide_follows_bucket(void **state)
{
	struct flag_value v = {true, 0, false};
	char subject[32];
	int on = 0;

	(void)state;
	for (int pct = 1; pct < 100; pct += 7) {
		v.rollout_percent = pct;
		for (int i = 0; i < 200; i++) {
			subject_name(i, subject, sizeof(subject));
			assert_int_equal(flags_decide(&v, known_keys[2], subject),
			                 flags_bucket(known_keys[2], subject) < pct);
		}
	}
	/* About half are on at 50%. */
	v.rollout_percent = 50;
	for (int i = 0; i < SUBJECTS; i++) {
		subject_name(i, subject, sizeof(subject));
		on += flags_decide(&v, known_keys[2], subject);
	}
	assert_in_range(on, 4500, 5500);
}

static void test_decide_monotonic_rollout(void **state)
{
	struct flag_value v = {true, 0, false};
	char subject[32];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		int first_on = -1;

		subject_name(i, subject, sizeof(subject));
		for (int pct = 0; pct <= 100; pct++) {
			bool on;

			v.rollout_percent = pct;
			on = flags_decide(&v, known_keys[0], subject);
			if (on && first_on < 0)
				first_on = pct;
			if (first_on >= 0 && !on)
				fail_msg("%s on at %d%% but off at %d%%", subject, first_on, pct);
		}
		/* Everybody is on by 100%, nobody at 0%. */
		assert_in_range(first_on, 1, 100);
	}
}

static void test_lookup_known_keys(void **state)
{
	enum flag_id id;

	(void)state;
	id = FLAG_COUNT;
	assert_true(flags_lookup_key("checkout.async_enabled", &id));
	assert_int_equal(id, FLAG_CHECKOUT_ASYNC);
	id = FLAG_COUNT;
	assert_true(flags_lookup_key("chaos.payment_capture_fail", &id));
	assert_int_equal(id, FLAG_CHAOS_CAPTURE_FAIL);
	id = FLAG_COUNT;
	assert_true(flags_lookup_key("chaos.worker_slow", &id));
	assert_int_equal(id, FLAG_CHAOS_WORKER_SLOW);
}

static void test_key_roundtrip(void **state)
{
	(void)state;
	for (int i = 0; i < FLAG_COUNT; i++) {
		enum flag_id id = FLAG_COUNT;
		const char *key = flags_key((enum flag_id)i);

		assert_non_null(key);
		assert_true(flags_lookup_key(key, &id));
		assert_int_equal(id, i);
	}
	assert_string_equal(flags_key(FLAG_CHECKOUT_ASYNC), "checkout.async_enabled");
	assert_string_equal(flags_key(FLAG_CHAOS_CAPTURE_FAIL), "chaos.payment_capture_fail");
	assert_string_equal(flags_key(FLAG_CHAOS_WORKER_SLOW), "chaos.worker_slow");
}

static void test_lookup_unknown_keys(void **state)
{
	enum flag_id id = FLAG_COUNT;

	(void)state;
	assert_false(flags_lookup_key("", &id));
	assert_false(flags_lookup_key("checkout", &id));
	assert_false(flags_lookup_key("checkout.async", &id));
	assert_false(flags_lookup_key("checkout.async_enabled ", &id));
	assert_false(flags_lookup_key(" checkout.async_enabled", &id));
	assert_false(flags_lookup_key("checkout.async_enabledx", &id));
	assert_false(flags_lookup_key("CHECKOUT.ASYNC_ENABLED", &id));
	assert_false(flags_lookup_key("chaos.worker", &id));
	assert_false(flags_lookup_key("no.such_flag", &id));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_bucket_range_and_deterministic),
	        cmocka_unit_test(test_bucket_matches_documented_formula),
	        cmocka_unit_test(test_bucket_distribution_uniform),
	        cmocka_unit_test(test_bucket_depends_on_flag),
	        cmocka_unit_test(test_bucket_key_subject_boundary),
	        cmocka_unit_test(test_decide_disabled),
	        cmocka_unit_test(test_decide_zero_and_full),
	        cmocka_unit_test(test_decide_follows_bucket),
	        cmocka_unit_test(test_decide_monotonic_rollout),
	        cmocka_unit_test(test_lookup_known_keys),
	        cmocka_unit_test(test_key_roundtrip),
	        cmocka_unit_test(test_lookup_unknown_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
