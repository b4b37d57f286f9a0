/*
 * test_trace.c — W3C traceparent: what is accepted, what starts a new trace, and that a
 * continued trace keeps the caller's trace id and flags but gets a span of its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "trace.h"
#include "banned.h"

#define GOOD "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static void test_valid(void **state)
{
	(void)state;
	assert_true(trace_valid(GOOD));
	assert_true(trace_valid("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"));
	/* A later version is read by its version-00 prefix. */
	assert_true(trace_valid("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
	assert_true(
	        trace_valid("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-next"));
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {
	        "",
	        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",      /* no flags */
	        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",  /* too long */
	        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   /* version ff */
	        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x", /* 00 is exactly 55 */
	        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",  /* no '-' after 55 */
	        "00-00000000000000000000000000000000-b7ad6b7169203331-01",   /* zero trace id */
	        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",   /* zero parent */
	        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",   /* upper case */
	        "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",   /* not hex */
	        "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   /* separator */
	};

	(void)state;
	assert_false(trace_valid(NULL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (trace_valid(bad[i]))
			fail_msg("accepted %s", bad[i]);
	}
}

static void test_continue(void **state)
{
	struct trace t;

	(void)state;
	trace_start(GOOD, &t);
	assert_true(t.continued);
	assert_string_equal(t.trace_id, "0af7651916cd43dd8448eb211c80319c");
	assert_true(trace_valid(t.traceparent));
	assert_memory_equal(t.traceparent, GOOD, 36);               /* version and trace id */
	assert_memory_not_equal(t.traceparent + 36, GOOD + 36, 16); /* a span of our own */
	assert_string_equal(t.traceparent + 53, "01");              /* the caller's flags */
}

static void test_start_when_absent_or_invalid(void **state)
{
	struct trace a, b;

	(void)state;
	trace_start(NULL, &a);
	trace_start("00-00000000000000000000000000000000-b7ad6b7169203331-01", &b);
	assert_false(a.continued);
	assert_false(b.continued);
	assert_int_equal(strlen(a.trace_id), TRACE_ID_LEN);
	assert_true(lower_hex(a.trace_id, TRACE_ID_LEN));
	assert_true(trace_valid(a.traceparent));
	assert_true(trace_valid(b.traceparent));
	assert_string_not_equal(a.trace_id, b.trace_id);
	assert_string_not_equal(b.trace_id, "00000000000000000000000000000000");
}

static void test_continue_later_version(void **state)
{
	struct trace t;

	(void)state;
	trace_start("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-next", &t);
	assert_true(t.continued);
	assert_string_equal(t.trace_id, "0af7651916cd43dd8448eb211c80319c");
	assert_int_equal(strlen(t.traceparent), TRACEPARENT_LEN); /* we speak version 00 */
	assert_memory_equal(t.traceparent, "00-0af7651916cd43dd8448eb211c80319c-", 36);
	assert_string_equal(t.traceparent + 53, "01");
}

static void test_trace_id_of(void **state)
{
	char id[TRACE_ID_LEN + 1];

	(void)state;
	trace_id_of(GOOD, id);
	assert_string_equal(id, "0af7651916cd43dd8448eb211c80319c");
	trace_id_of("", id);
	assert_string_equal(id, "");
	trace_id_of("garbage", id);
	assert_string_equal(id, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_valid),
	        cmocka_unit_test(test_invalid),
	        cmocka_unit_test(test_continue),
	        cmocka_unit_test(test_start_when_absent_or_invalid),
	        cmocka_unit_test(test_continue_later_version),
	        cmocka_unit_test(test_trace_id_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
