/*
 * test_page.c — ?limit= and ?cursor= as the list endpoints read them: defaults, bounds, and a
 * 400 invalid_query that names the field for anything else (overflow included); the opaque
 * cursor round-trips its key and is refused when altered, cut short, of another version, or of
 * another list or scope.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "constants.h"
#include "err.h"
#include "page.h"
#include "banned.h"

#define STORE_A "6f1c1a4e-9a57-4a8e-8d2c-0d9a3c1b2e4f"
#define STORE_B "0b7e2d1c-3a4f-4e5d-9c6b-7a8f9e0d1c2b"
#define ROW_ID  "d3b07384-d113-4ec4-9a1b-5f2e6c7a8b9c"

static void test_defaults(void **state)
{
	struct err e = ERR_INIT;
	struct page p;

	(void)state;
	assert_true(page_params(NULL, NULL, PAGE_ORDERS, STORE_A, &p, &e));
	assert_int_equal(p.limit, LIST_LIMIT_DEFAULT);
	assert_false(p.after);
	assert_true(page_params("1", NULL, PAGE_ORDERS, STORE_A, &p, &e));
	assert_int_equal(p.limit, 1);
	assert_true(page_params("100", NULL, PAGE_ORDERS, NULL, &p, &e));
	assert_int_equal(p.limit, LIST_LIMIT_MAX);
}

static void test_round_trip(void **state)
{
	char c[PAGE_CURSOR_LEN + 1];
	struct err e = ERR_INIT;
	struct page p;
	const long long at = 1764786098123456LL;

	(void)state;
	assert_true(page_cursor_encode(PAGE_ORDERS, STORE_A, at, ROW_ID, c));
	assert_int_equal(strlen(c), PAGE_CURSOR_LEN);
	assert_memory_equal(c, "v1.", 3);
	assert_true(page_params("5", c, PAGE_ORDERS, STORE_A, &p, &e));
	assert_true(p.after);
	assert_true(p.at_us == at);
	assert_string_equal(p.id, ROW_ID);
	assert_int_equal(p.limit, 5);
	/* The same key, list and scope make the same text: nothing else goes into it. */
	{
		char again[PAGE_CURSOR_LEN + 1];

		assert_true(page_cursor_encode(PAGE_ORDERS, STORE_A, at, ROW_ID, again));
		assert_string_equal(c, again);
	}
	assert_false(page_cursor_encode(PAGE_ORDERS, STORE_A, at, "not-a-uuid", c));
}

static void bad(const char *limit, const char *cursor, const char *field, const char *message)
{
	struct err e = ERR_INIT;
	struct page p;

	assert_false(page_params(limit, cursor, PAGE_ORDERS, STORE_A, &p, &e));
	assert_int_equal(e.status, 400);
	assert_string_equal(e.code, "invalid_query");
	assert_string_equal(json_string_value(json_object_get(e.details, "field")), field);
	if (message != NULL)
		assert_non_null(strstr(e.message, message));
	err_release(&e);
}

static void test_rejects(void **state)
{
	char c[PAGE_CURSOR_LEN + 1], t[PAGE_CURSOR_LEN + 8];

	(void)state;
	bad("0", NULL, "limit", NULL);
	bad("101", NULL, "limit", NULL);
	bad("", NULL, "limit", NULL);
	bad("10x", NULL, "limit", NULL);
	bad("99999999999999999999", NULL, "limit", NULL);
	/* The old cursors, global sequence numbers, are not cursors any more. */
	bad(NULL, "0", "cursor", "not one this API returned");
	bad(NULL, "42", "cursor", "not one this API returned");
	bad(NULL, "", "cursor", "not one this API returned");
	bad(NULL, "abc", "cursor", "not one this API returned");

	assert_true(page_cursor_encode(PAGE_ORDERS, STORE_A, 1764786098123456LL, ROW_ID, c));
	/* Cut short, or one character too many. */
	snprintf(t, sizeof(t), "%.*s", PAGE_CURSOR_LEN - 1, c);
	bad(NULL, t, "cursor", "not one this API returned");
	snprintf(t, sizeof(t), "%sA", c);
	bad(NULL, t, "cursor", "not one this API returned");
	/* Each character altered, in the key and in the check. */
	for (size_t i = 3; i < PAGE_CURSOR_LEN; i++) {
		snprintf(t, sizeof(t), "%s", c);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		bad(NULL, t, "cursor", NULL);
	}
	/* Not base64url. */
	snprintf(t, sizeof(t), "%s", c);
	t[10] = '+';
	bad(NULL, t, "cursor", "not one this API returned");
	/* Another version, by name. */
	snprintf(t, sizeof(t), "v2.%s", c + 3);
	bad(NULL, t, "cursor", "another version");
	snprintf(t, sizeof(t), "v10.%s", c + 3);
	bad(NULL, t, "cursor", "another version");
	/* Another list (products) of the same store, the same list of another store. */
	assert_true(page_cursor_encode(PAGE_PRODUCTS, STORE_A, 1764786098123456LL, ROW_ID, c));
	bad(NULL, c, "cursor", "another list");
	assert_true(page_cursor_encode(PAGE_ORDERS, STORE_B, 1764786098123456LL, ROW_ID, c));
	bad(NULL, c, "cursor", "another store");
	/* A well-formed cursor whose timestamp no row can have (only a forged one gets one). */
	assert_true(page_cursor_encode(PAGE_ORDERS, STORE_A, -1, ROW_ID, c));
	bad(NULL, c, "cursor", "not one this API returned");
	bad("20", "1 2", "cursor", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
