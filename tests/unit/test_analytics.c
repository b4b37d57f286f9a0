/*
 * test_analytics.c — the instants ?from= and ?to= accept: RFC 3339 date-times with an optional
 * fraction and a Z or ±hh:mm offset, real calendar dates, nothing else.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "analytics.h"
#include "banned.h"

static void test_accepts(void **state)
{
	static const char *const ok[] = {
	        "2026-11-25T10:00:00Z",      "2026-11-25t10:00:00z",
	        "2026-11-25T10:00:00.5Z",    "2026-11-25T10:00:00.123456789Z",
	        "2026-11-25T10:00:00+01:00", "2026-11-25T10:00:00-15:59",
	        "2024-02-29T23:59:60Z",      "2000-02-29T00:00:00Z",
	        "1900-01-01T00:00:00Z",      "9998-12-31T23:59:59Z",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!analytics_instant_valid(ok[i]))
			fail_msg("refused %s", ok[i]);
	}
}

static void test_refuses(void **state)
{
	static const char *const bad[] = {
	        "",
	        "2026-11-25",
	        "2026-11-25 10:00:00Z",
	        "2026-11-25T10:00:00",
	        "2026-11-25T10:00Z",
	        "2026-13-01T00:00:00Z",
	        "2026-04-31T00:00:00Z",
	        "2023-02-29T00:00:00Z",
	        "1900-02-29T00:00:00Z",
	        "2026-11-25T24:00:00Z",
	        "2026-11-25T10:60:00Z",
	        "2026-11-25T10:00:61Z",
	        "2026-11-25T10:00:00.Z",
	        "2026-11-25T10:00:00.1234567890Z",
	        "2026-11-25T10:00:00+16:00",
	        "2026-11-25T10:00:00+01:60",
	        "2026-11-25T10:00:00+0100",
	        "2026-11-25T10:00:00Zjunk",
	        "1899-12-31T23:59:59Z",
	        "9999-01-01T00:00:00Z",
	        "+2026-11-25T10:00:00Z",
	        "2026-1a-25T10:00:00Z",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (analytics_instant_valid(bad[i]))
			fail_msg("accepted %s", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_accepts),
	        cmocka_unit_test(test_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
