/*
 * test_router.c — router_match / router_param: a pattern matches segment by segment, {name}
 * captures exactly one non-empty segment of at most ROUTE_PARAM_MAX bytes, and nothing else
 * (a prefix, a trailing slash, an empty segment) ever matches.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "router.h"
#include "banned.h"

static void test_literal_exact_match(void **state)
{
	struct route_params p;

	(void)state;
	assert_true(router_match("/v1/stores", "/v1/stores", &p));
	assert_int_equal(p.count, 0);
	assert_true(router_match("/healthz", "/healthz", &p));
	assert_int_equal(p.count, 0);
}

static void test_literal_mismatch(void **state)
{
	struct route_params p;

	(void)state;
	assert_false(router_match("/v1/stores", "/v1/store", &p));
	assert_false(router_match("/v1/stores", "/v1/storez", &p));
	assert_false(router_match("/v1/stores", "/v2/stores", &p));
	assert_false(router_match("/v1/stores", "/V1/stores", &p));
	assert_false(router_match("/v1/stores", "v1/stores", &p));
	assert_false(router_match("/v1/stores", "", &p));
}

static void test_params_captured(void **state)
{
	struct route_params p;

	(void)state;
	assert_true(
	        router_match("/v1/stores/{store}/orders/{id}", "/v1/stores/acme/orders/42", &p));
	assert_int_equal(p.count, 2);
	assert_string_equal(p.names[0], "store");
	assert_string_equal(p.values[0], "acme");
	assert_string_equal(p.names[1], "id");
	assert_string_equal(p.values[1], "42");
	assert_string_equal(router_param(&p, "store"), "acme");
	assert_string_equal(router_param(&p, "id"), "42");
	assert_null(router_param(&p, "order"));
	assert_null(router_param(&p, ""));
}

static void test_param_at_end_and_start(void **state)
{
	struct route_params p;

	(void)state;
	assert_true(router_match("/{a}", "/x", &p));
	assert_int_equal(p.count, 1);
	assert_string_equal(router_param(&p, "a"), "x");

	assert_true(router_match("/{a}/b", "/some-value/b", &p));
	assert_string_equal(router_param(&p, "a"), "some-value");
	assert_false(router_match("/{a}/b", "/some-value/c", &p));
}

static void test_param_does_not_span_segments(void **state)
{
	struct route_params p;

	(void)state;
	assert_false(router_match("/v1/stores/{store}", "/v1/stores/a/b", &p));
}

static void test_trailing_slash_rejected(void **state)
{
	struct route_params p;

	(void)state;
	assert_false(router_match("/v1/stores", "/v1/stores/", &p));
	assert_false(router_match("/v1/stores/{store}", "/v1/stores/acme/", &p));
	assert_false(router_match("/v1/stores/{store}", "/v1/stores/", &p));
	assert_false(router_match("/", "/", &p));
}

static void test_empty_segment_rejected(void **state)
{
	struct route_params p;

	(void)state;
	assert_false(router_match("/v1/stores", "/v1//stores", &p));
	assert_false(router_match("/v1/stores", "//v1/stores", &p));
	assert_false(router_match("/v1/{store}/orders", "/v1//orders", &p));
}

static void test_extra_and_missing_segments(void **state)
{
	struct route_params p;

	(void)state;
	assert_false(router_match("/v1/stores/{store}", "/v1/stores/acme/orders", &p));
	assert_false(router_match("/v1/stores/{store}/orders", "/v1/stores/acme", &p));
	assert_false(router_match("/v1/stores/{store}/orders/{id}", "/v1/stores/acme/orders", &p));
	assert_false(router_match("/v1/stores/{store}", "/v1", &p));
}

static void test_prefix_only_rejected(void **state)
{
	struct route_params p;

	(void)state;
	assert_false(router_match("/v1/stores", "/v1/stores/x", &p));
	assert_false(router_match("/v1/stores/x", "/v1/stores", &p));
}

static void test_param_length_limit(void **state)
{
	struct route_params p;
	char path[ROUTE_PARAM_MAX + 32];
	char value[ROUTE_PARAM_MAX + 2];

	(void)state;
	/* Exactly ROUTE_PARAM_MAX bytes: accepted and copied whole. */
	memset(value, 'a', ROUTE_PARAM_MAX);
	value[ROUTE_PARAM_MAX] = '\0';
	snprintf(path, sizeof(path), "/v1/stores/%s/orders", value);
	assert_true(router_match("/v1/stores/{store}/orders", path, &p));
	assert_int_equal(strlen(router_param(&p, "store")), ROUTE_PARAM_MAX);
	assert_string_equal(router_param(&p, "store"), value);

	/* One byte more: rejected. */
	memset(value, 'a', ROUTE_PARAM_MAX + 1);
	value[ROUTE_PARAM_MAX + 1] = '\0';
	snprintf(path, sizeof(path), "/v1/stores/%s/orders", value);
	assert_false(router_match("/v1/stores/{store}/orders", path, &p));
	assert_false(router_match("/v1/stores/{store}/orders", path, NULL));
}

static void test_max_params(void **state)
{
	struct route_params p;

	(void)state;
	assert_true(router_match("/{a}/{b}/{c}/{d}", "/1/2/3/4", &p));
	assert_int_equal(p.count, ROUTE_MAX_PARAMS);
	assert_string_equal(router_param(&p, "a"), "1");
	assert_string_equal(router_param(&p, "d"), "4");

	assert_false(router_match("/{a}/{b}/{c}/{d}/{e}", "/1/2/3/4/5", &p));
	assert_false(router_match("/{a}/{b}/{c}/{d}/{e}", "/1/2/3/4/5", NULL));
}

static void test_param_name_too_long_rejected(void **state)
{
	struct route_params p;
	char pattern[64];

	(void)state;
	/* names[] holds 31 characters and a NUL. */
	snprintf(pattern, sizeof(pattern), "/{%s}", "abcdefghijklmnopqrstuvwxyz01234");
	assert_true(router_match(pattern, "/v", &p));
	assert_string_equal(router_param(&p, "abcdefghijklmnopqrstuvwxyz01234"), "v");
	snprintf(pattern, sizeof(pattern), "/{%s}", "abcdefghijklmnopqrstuvwxyz012345");
	assert_false(router_match(pattern, "/v", &p));
}

static void test_null_out_allowed(void **state)
{
	(void)state;
	assert_true(router_match("/v1/stores/{store}", "/v1/stores/acme", NULL));
	assert_false(router_match("/v1/stores/{store}", "/v1/stores/acme/x", NULL));
	assert_false(router_match("/v1/stores", "/v1/stores/", NULL));
}

static void test_count_reset_on_reuse(void **state)
{
	struct route_params p;

	(void)state;
	assert_true(router_match("/{a}/{b}", "/1/2", &p));
	assert_int_equal(p.count, 2);
	assert_true(router_match("/x", "/x", &p));
	assert_int_equal(p.count, 0);
	assert_null(router_param(&p, "a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_literal_exact_match),
	        cmocka_unit_test(test_literal_mismatch),
	        cmocka_unit_test(test_params_captured),
	        cmocka_unit_test(test_param_at_end_and_start),
	        cmocka_unit_test(test_param_does_not_span_segments),
	        cmocka_unit_test(test_trailing_slash_rejected),
	        cmocka_unit_test(test_empty_segment_rejected),
	        cmocka_unit_test(test_extra_and_missing_segments),
	        cmocka_unit_test(test_prefix_only_rejected),
	        cmocka_unit_test(test_param_length_limit),
	        cmocka_unit_test(test_max_params),
	        cmocka_unit_test(test_param_name_too_long_rejected),
	        cmocka_unit_test(test_null_out_allowed),
	        cmocka_unit_test(test_count_reset_on_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
