/*
 * test_idem.c — the pure half of idempotency: which keys are acceptable, and a fingerprint that
 * ignores JSON formatting but nothing that changes the request's meaning.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "constants.h"
#include "idem.h"
#include "banned.h"

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	assert_non_null(j);
	return j;
}

/* Fingerprint of (method, path, body text); body_text NULL means no body. */
static void fp_of(const char *method, const char *path, const char *body_text,
                  char out[IDEM_FINGERPRINT_HEX + 1])
{
	json_t *body = body_text != NULL ? load(body_text) : NULL;

	memset(out, 'Z', IDEM_FINGERPRINT_HEX + 1);
	idem_fingerprint(method, path, body, out);
	json_decref(body);
}

static void assert_lower_hex64(const char *fp)
{
	assert_int_equal(strlen(fp), IDEM_FINGERPRINT_HEX);
	for (size_t i = 0; i < IDEM_FINGERPRINT_HEX; i++) {
		if (!((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'a' && fp[i] <= 'f')))
			fail_msg("not lowercase hex at %zu: %s", i, fp);
	}
}

/* ---- idem_key_valid --------------------------------------------------------------------- */

static void test_key_valid_basic(void **state)
{
	(void)state;
	assert_true(idem_key_valid("a"));
	assert_true(idem_key_valid("!"));
	assert_true(idem_key_valid("~"));
	assert_true(idem_key_valid("order-2024-01-01T00:00:00Z#1"));
	assert_true(idem_key_valid("123e4567-e89b-12d3-a456-426614174000"));
}

static void test_key_valid_every_visible_char(void **state)
{
	char key[0x7f - 0x21 + 1];
	char one[2] = {0, 0};
	size_t n = 0;

	(void)state;
	for (int ch = 0x21; ch <= 0x7e; ch++) {
		key[n++] = (char)ch;
		one[0] = (char)ch;
		if (!idem_key_valid(one))
			fail_msg("visible character 0x%02x rejected", ch);
	}
	key[n] = '\0';
	assert_true(idem_key_valid(key));
}

static void test_key_invalid_chars(void **state)
{
	char one[2] = {0, 0};

	(void)state;
	for (int ch = 1; ch < 256; ch++) {
		if (ch >= 0x21 && ch <= 0x7e)
			continue;
		one[0] = (char)ch;
		if (idem_key_valid(one))
			fail_msg("character 0x%02x accepted", ch);
	}
	assert_false(idem_key_valid(" "));
	assert_false(idem_key_valid("a b"));
	assert_false(idem_key_valid(" ab"));
	assert_false(idem_key_valid("ab "));
	assert_false(idem_key_valid("a\tb"));
	assert_false(idem_key_valid("ab\n"));
	assert_false(idem_key_valid("a\x7f"));
	assert_false(idem_key_valid("\x7f"));
	assert_false(idem_key_valid("caf\xc3\xa9"));
	assert_false(idem_key_valid("\xff"));
}

static void test_key_length_bounds(void **state)
{
	char key[IDEMPOTENCY_KEY_MAX + 2];

	(void)state;
	assert_int_equal(IDEMPOTENCY_KEY_MAX, 255);
	assert_false(idem_key_valid(""));
	assert_false(idem_key_valid(NULL));

	memset(key, 'k', IDEMPOTENCY_KEY_MAX);
	key[IDEMPOTENCY_KEY_MAX] = '\0';
	assert_true(idem_key_valid(key));

	memset(key, 'k', IDEMPOTENCY_KEY_MAX + 1);
	key[IDEMPOTENCY_KEY_MAX + 1] = '\0';
	assert_false(idem_key_valid(key));
}

/* ---- idem_fingerprint ------------------------------------------------------------------- */

static void test_fingerprint_format_and_stability(void **state)
{
	char a[IDEM_FINGERPRINT_HEX + 1], b[IDEM_FINGERPRINT_HEX + 1];

	(void)state;
	fp_of("POST", "/v1/stores/s/orders", "{\"sku\":\"A\",\"quantity\":2}", a);
	assert_lower_hex64(a);
	fp_of("POST", "/v1/stores/s/orders", "{\"sku\":\"A\",\"quantity\":2}", b);
	assert_string_equal(a, b);

	fp_of("POST", "/v1/x", NULL, a);
	assert_lower_hex64(a);
	fp_of("POST", "/v1/x", NULL, b);
	assert_string_equal(a, b);

	fp_of("", "", NULL, a);
	assert_lower_hex64(a);
}

static void test_fingerprint_ignores_order_and_whitespace(void **state)
{
	char a[IDEM_FINGERPRINT_HEX + 1], b[IDEM_FINGERPRINT_HEX + 1];

	(void)state;
	fp_of("POST", "/v1/o", "{\"b\":1,\"a\":[1,2,{\"y\":true,\"x\":null}],\"c\":\"s\"}", a);
	fp_of("POST", "/v1/o",
	      "{\n\t\"c\" : \"s\",\n\t\"a\" : [ 1 , 2 , { \"x\" : null , \"y\" : true } ] ,\n"
	      "\t\"b\" : 1\n}\n",
	      b);
	assert_string_equal(a, b);

	/* The same string written raw or with \u escapes is the same value. */
	fp_of("POST", "/v1/o", "{\"name\":\"caf\xc3\xa9\",\"slash\":\"a/b\"}", a);
	fp_of("POST", "/v1/o", "{\"slash\":\"a\\/b\",\"name\":\"caf\\u00e9\"}", b);
	assert_string_equal(a, b);
}

static void test_fingerprint_differs_by_method(void **state)
{
	char a[IDEM_FINGERPRINT_HEX + 1], b[IDEM_FINGERPRINT_HEX + 1];

	(void)state;
	fp_of("POST", "/v1/o", "{\"a\":1}", a);
	fp_of("PUT", "/v1/o", "{\"a\":1}", b);
	assert_string_not_equal(a, b);
	fp_of("post", "/v1/o", "{\"a\":1}", b);
	assert_string_not_equal(a, b);
}

static void test_fingerprint_differs_by_path(void **state)
{
	char a[IDEM_FINGERPRINT_HEX + 1], b[IDEM_FINGERPRINT_HEX + 1];

	(void)state;
	fp_of("POST", "/v1/stores/a/orders", "{\"a\":1}", a);
	fp_of("POST", "/v1/stores/b/orders", "{\"a\":1}", b);
	assert_string_not_equal(a, b);
	fp_of("POST", "/v1/stores/a/orders/", "{\"a\":1}", b);
	assert_string_not_equal(a, b);
}

static void test_fingerprint_no_boundary_shift(void **state)
{
	char a[IDEM_FINGERPRINT_HEX + 1], b[IDEM_FINGERPRINT_HEX + 1];

	(void)state;
	/* Moving bytes between method and path must not collide. */
	fp_of("POST", "/x", NULL, a);
	fp_of("POS", "T/x", NULL, b);
	assert_string_not_equal(a, b);
	fp_of("POST", "", NULL, a);
	fp_of("", "POST", NULL, b);
	assert_string_not_equal(a, b);
}

static void test_fingerprint_differs_by_body_value(void **state)
{
	static const char *const variants[] = {
	        "{\"sku\":\"A\",\"quantity\":2,\"items\":[1,2],\"gift\":false}",
	        "{\"sku\":\"B\",\"quantity\":2,\"items\":[1,2],\"gift\":false}",
	        "{\"sku\":\"A\",\"quantity\":3,\"items\":[1,2],\"gift\":false}",
	        "{\"sku\":\"A\",\"quantity\":\"2\",\"items\":[1,2],\"gift\":false}",
	        "{\"sku\":\"A\",\"quantity\":2.5,\"items\":[1,2],\"gift\":false}",
	        "{\"sku\":\"A\",\"quantity\":2,\"items\":[2,1],\"gift\":false}",
	        "{\"sku\":\"A\",\"quantity\":2,\"items\":[1,2,3],\"gift\":false}",
	        "{\"sku\":\"A\",\"quantity\":2,\"items\":[1,2],\"gift\":true}",
	        "{\"sku\":\"A\",\"quantity\":2,\"items\":[1,2],\"gift\":null}",
	        "{\"sku\":\"A\",\"quantity\":2,\"items\":[1,2]}",
	        "{\"sku\":\"A\",\"quantity\":2,\"items\":[1,2],\"gift\":false,\"x\":null}",
	        "{\"SKU\":\"A\",\"quantity\":2,\"items\":[1,2],\"gift\":false}",
	        "{\"sku\":\"a\",\"quantity\":2,\"items\":[1,2],\"gift\":false}",
	};
	enum { N = sizeof(variants) / sizeof(variants[0]) };
	char fp[N][IDEM_FINGERPRINT_HEX + 1];

	(void)state;
	for (size_t i = 0; i < N; i++)
		fp_of("POST", "/v1/o", variants[i], fp[i]);
	for (size_t i = 0; i < N; i++) {
		for (size_t j = i + 1; j < N; j++) {
			if (strcmp(fp[i], fp[j]) == 0)
				fail_msg("same fingerprint for %s and %s", variants[i],
				         variants[j]);
		}
	}
}

static void test_fingerprint_null_body_differs_from_empty_object(void **state)
{
	char a[IDEM_FINGERPRINT_HEX + 1], b[IDEM_FINGERPRINT_HEX + 1];

	(void)state;
	fp_of("POST", "/v1/o", NULL, a);
	fp_of("POST", "/v1/o", "{}", b);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_key_valid_basic),
	        cmocka_unit_test(test_key_valid_every_visible_char),
	        cmocka_unit_test(test_key_invalid_chars),
	        cmocka_unit_test(test_key_length_bounds),
	        cmocka_unit_test(test_fingerprint_format_and_stability),
	        cmocka_unit_test(test_fingerprint_ignores_order_and_whitespace),
	        cmocka_unit_test(test_fingerprint_differs_by_method),
	        cmocka_unit_test(test_fingerprint_differs_by_path),
	        cmocka_unit_test(test_fingerprint_no_boundary_shift),
	        cmocka_unit_test(test_fingerprint_differs_by_body_value),
	        cmocka_unit_test(test_fingerprint_null_body_differs_from_empty_object),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
