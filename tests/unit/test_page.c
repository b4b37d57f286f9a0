/*
 * test_page.c — ?limit= and ?cursor= as the list endpoints read them: defaults, bounds, and a
 * 400 invalid_query that names the field for anything else (overflow included).
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

static void test_defaults(void **state)
{
	struct err e = ERR_INIT;
	int limit = -1;
	long long cursor = -1;

	(void)state;
	assert_true(page_params(NULL, NULL, &limit, &cursor, &e));
	assert_int_equal(limit, LIST_LIMIT_DEFAULT);
	assert_int_equal(cursor, 0);
	assert_true(page_params("1", "1", &limit, &cursor, &e));
	assert_int_equal(limit, 1);
	assert_int_equal(cursor, 1);
	assert_true(page_params("100", "9223372036854775807", &limit, &cursor, &e));
	assert_int_equal(limit, LIST_LIMIT_MAX);
	assert_true(cursor == 9223372036854775807LL);
}

static void bad(const char *limit, const char *cursor, const char *field)
{
	struct err e = ERR_INIT;
	int l;
	long long c;

	assert_false(page_params(limit, cursor, &l, &c, &e));
	assert_int_equal(e.status, 400);
	assert_string_equal(e.code, "invalid_query");
	assert_string_equal(json_string_value(json_object_get(e.details, "field")), field);
	err_release(&e);
}

static void test_rejects(void **state)
{
	(void)state;
	bad("0", NULL, "limit");
	bad("101", NULL, "limit");
	bad("", NULL, "limit");
	bad("10x", NULL, "limit");
	bad("99999999999999999999", NULL, "limit");
	bad(NULL, "0", "cursor");
	bad(NULL, "-5", "cursor");
	bad(NULL, "", "cursor");
	bad(NULL, "abc", "cursor");
	bad(NULL, "9223372036854775808", "cursor"); /* overflow is not LLONG_MAX */
	bad("20", "1 2", "cursor");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
