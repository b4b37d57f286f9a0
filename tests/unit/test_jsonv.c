/*
 * test_jsonv.c — strict body validation: what jsonv_parse_object refuses (and that it refuses
 * hostile input without crashing), and how jsonv_check names the offending field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "constants.h"
#include "err.h"
#include "jsonv.h"
#include "banned.h"

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* One table that exercises every type. */
static const struct jsonv_field schema[] = {
        {"name", JV_STRING, true, 1, 5},  {"quantity", JV_INTEGER, true, 1, 100},
        {"gift", JV_BOOL, false, 0, 0},   {"items", JV_ARRAY, false, 1, 3},
        {"meta", JV_OBJECT, false, 0, 0}, {"id", JV_UUID, false, 0, 0},
        {"email", JV_EMAIL, false, 0, 0},
};

static const char *err_field_of(const struct err *e)
{
	return json_string_value(json_object_get(e->details, "field"));
}

/* Parses text (which must be a valid object) for a jsonv_check test. */
static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	assert_non_null(j);
	return j;
}

/* Expects jsonv_parse_object to refuse len bytes of body with 400 invalid_json. */
static void expect_invalid_json(const char *body, size_t len)
{
	struct err e = ERR_INIT;
	json_t *j = jsonv_parse_object(body, len, &e);

	if (j != NULL) {
		json_decref(j);
		fail_msg("accepted: %.*s", (int)(len > 80 ? 80 : len), body);
	}
	assert_int_equal(e.status, 400);
	assert_non_null(e.code);
	assert_string_equal(e.code, "invalid_json");
	assert_true(e.message[0] != '\0');
	err_release(&e);
}

static void expect_invalid_json_str(const char *body)
{
	expect_invalid_json(body, strlen(body));
}

/* Runs jsonv_check on text and expects a 400 with code naming field. */
static void expect_check_error(const char *text, const struct jsonv_field *fields, size_t n,
                               const char *prefix, const char *code, const char *field)
{
	struct err e = ERR_INIT;
	json_t *j = load(text);
	bool ok = jsonv_check(j, fields, n, prefix, &e);

	json_decref(j);
	if (ok)
		fail_msg("accepted: %s", text);
	assert_int_equal(e.status, 400);
	assert_non_null(e.code);
	assert_string_equal(e.code, code);
	assert_non_null(err_field_of(&e));
	assert_string_equal(err_field_of(&e), field);
	err_release(&e);
}

static void expect_check_ok(const char *text, const struct jsonv_field *fields, size_t n)
{
	struct err e = ERR_INIT;
	json_t *j = load(text);
	bool ok = jsonv_check(j, fields, n, "", &e);

	json_decref(j);
	if (!ok)
		fail_msg("rejected %s: %s %s", text, e.code, e.message);
	assert_int_equal(e.status, 0);
	assert_null(e.details);
	err_release(&e);
}

/* ---- jsonv_parse_object ----------------------------------------------------------------- */

static void test_parse_valid_object(void **state)
{
	struct err e = ERR_INIT;
	const char *body = " {\"a\": 1, \"b\": [true, null], \"c\": {\"d\": \"\xc3\xa9\"}} ";
	json_t *j = jsonv_parse_object(body, strlen(body), &e);

	(void)state;
	assert_non_null(j);
	assert_true(json_is_object(j));
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "c"), "d")),
	                    "\xc3\xa9");
	assert_int_equal(e.status, 0);
	json_decref(j);
	err_release(&e);
}

static void test_parse_uses_len_not_nul(void **state)
{
	struct err e = ERR_INIT;
	/* Only the first 7 bytes are the body; the rest must be ignored. */
	const char *body = "{\"a\":1}GARBAGE";
	json_t *j = jsonv_parse_object(body, 7, &e);

	(void)state;
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
	json_decref(j);
	err_release(&e);
}

static void test_parse_malformed(void **state)
{
	struct err e = ERR_INIT;
	json_t *j;

	(void)state;
	expect_invalid_json_str("{");
	expect_invalid_json_str("}");
	expect_invalid_json_str("{\"a\":}");
	expect_invalid_json_str("{\"a\" 1}");
	expect_invalid_json_str("{'a':1}");
	expect_invalid_json_str("{a:1}");
	expect_invalid_json_str("{\"a\":1,}");
	expect_invalid_json_str("{\"a\":01}");
	expect_invalid_json_str("{\"a\":NaN}");
	expect_invalid_json_str("{\"a\":\"unterminated}");
	expect_invalid_json_str("{\"a\":1} {\"b\":2}");
	expect_invalid_json_str("{\"a\":1} x");
	expect_invalid_json_str("{\"a\":\"\\x41\"}");

	/* A syntax error carries the byte position in details. */
	j = jsonv_parse_object("{\"a\":}", 6, &e);
	assert_null(j);
	assert_non_null(e.details);
	assert_true(json_is_integer(json_object_get(e.details, "position")));
	err_release(&e);
}

static void test_parse_empty(void **state)
{
	(void)state;
	expect_invalid_json("", 0);
	expect_invalid_json("{}", 0); /* len 0 wins over the bytes behind the pointer */
	expect_invalid_json(NULL, 0);
	expect_invalid_json_str("   ");
	expect_invalid_json_str("\n");
}

static void test_parse_empty_object_ok(void **state)
{
	struct err e = ERR_INIT;
	json_t *j = jsonv_parse_object("{}", 2, &e);

	(void)state;
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);
	err_release(&e);
}

static void test_parse_non_object(void **state)
{
	(void)state;
	expect_invalid_json_str("[]");
	expect_invalid_json_str("[{\"a\":1}]");
	expect_invalid_json_str("1");
	expect_invalid_json_str("\"s\"");
	expect_invalid_json_str("null");
	expect_invalid_json_str("true");
}

static void test_parse_duplicate_keys(void **state)
{
	(void)state;
	expect_invalid_json_str("{\"a\":1,\"a\":2}");
	expect_invalid_json_str("{\"a\":1,\"a\":1}");
	expect_invalid_json_str("{\"o\":{\"b\":1,\"b\":2}}");
	expect_invalid_json_str("{\"l\":[{\"b\":1,\"b\":2}]}");
	/* The same key spelled with an escape is the same key. */
	expect_invalid_json_str("{\"a\":1,\"\\u0061\":2}");
}

static void test_parse_raw_nul_byte(void **state)
{
	static const char in_string[] = "{\"a\":\"x\0y\"}";
	static const char in_key[] = "{\"a\0b\":1}";
	static const char between[] = "{\"a\":1,\0\"b\":2}";
	static const char trailing[] = "{\"a\":1}\0";
	static const char leading[] = "\0{\"a\":1}";

	(void)state;
	/* sizeof - 1: the literal's own terminator is not part of the body. */
	expect_invalid_json(in_string, sizeof(in_string) - 1);
	expect_invalid_json(in_key, sizeof(in_key) - 1);
	expect_invalid_json(between, sizeof(between) - 1);
	expect_invalid_json(trailing, sizeof(trailing) - 1);
	expect_invalid_json(leading, sizeof(leading) - 1);
}

static void test_parse_nul_escape(void **state)
{
	(void)state;
	expect_invalid_json_str("{\"a\":\"x\\u0000y\"}");
	expect_invalid_json_str("{\"a\\u0000\":1}");
	expect_invalid_json_str("{\"a\":\"\\u0000\"}");
}

static void test_parse_deep_nesting(void **state)
{
	const size_t depth = 5000;
	size_t len = 5 + 2 * depth + 1;
	char *body = malloc(len + 1);
	size_t n = 0;

	(void)state;
	assert_non_null(body);
	/* {"a":[[[...]]]} */
	memcpy(body, "{\"a\":", 5);
	n = 5;
	memset(body + n, '[', depth);
	n += depth;
	memset(body + n, ']', depth);
	n += depth;
	body[n++] = '}';
	body[n] = '\0';
	assert_int_equal(n, len);
	expect_invalid_json(body, n);

	/* Unbalanced: only opening brackets. */
	memset(body, '[', depth);
	expect_invalid_json(body, depth);

	/* Objects nested just as deep. */
	free(body);
	len = 6 * depth + depth;
	body = malloc(len + 1);
	assert_non_null(body);
	n = 0;
	for (size_t i = 0; i < depth; i++) {
		memcpy(body + n, "{\"a\":", 5);
		n += 5;
	}
	body[n++] = '1';
	memset(body + n, '}', depth);
	n += depth;
	expect_invalid_json(body, n);
	free(body);
}

static void test_parse_invalid_utf8(void **state)
{
	(void)state;
	expect_invalid_json_str("{\"a\":\"\xff\"}");
	expect_invalid_json_str("{\"a\":\"\xc3\"}");             /* truncated 2-byte sequence */
	expect_invalid_json_str("{\"a\":\"\xe2\x82\"}");         /* truncated 3-byte sequence */
	expect_invalid_json_str("{\"a\":\"\xc0\xaf\"}");         /* overlong '/' */
	expect_invalid_json_str("{\"a\":\"\xed\xa0\x80\"}");     /* UTF-16 surrogate */
	expect_invalid_json_str("{\"a\":\"\xf4\x90\x80\x80\"}"); /* above U+10FFFF */
	expect_invalid_json_str("{\"a\":\"\x80\"}");             /* lone continuation byte */
	expect_invalid_json_str("{\"\xff\":1}");                 /* in a key */
	/* A lone surrogate escape is not a character either. */
	expect_invalid_json_str("{\"a\":\"\\ud800\"}");
}

/* ---- jsonv_check ---------------------------------------------------------------------- */

static void test_check_valid(void **state)
{
	(void)state;
	expect_check_ok("{\"name\":\"ab\",\"quantity\":1}", schema, NFIELDS(schema));
	expect_check_ok("{\"name\":\"abcde\",\"quantity\":100,\"gift\":false,\"items\":[1,2,3],"
	                "\"meta\":{\"x\":1},\"id\":\"123e4567-e89b-12d3-a456-426614174000\","
	                "\"email\":\"a@b.c\"}",
	                schema, NFIELDS(schema));
}

static void test_check_unknown_field(void **state)
{
	(void)state;
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"foo\":1}", schema, NFIELDS(schema),
	                   "", "unknown_field", "foo");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"foo\":1}", schema, NFIELDS(schema),
	                   "items[2].", "unknown_field", "items[2].foo");
	/* Names are case-sensitive. */
	expect_check_error("{\"Name\":\"ab\",\"quantity\":1}", schema, NFIELDS(schema), "",
	                   "unknown_field", "Name");
	/* An unknown key is reported before a missing field (a typo is a typo). */
	expect_check_error("{\"quantity\":1,\"nmae\":\"ab\"}", schema, NFIELDS(schema), "",
	                   "unknown_field", "nmae");
	/* A null unknown key is still unknown. */
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"foo\":null}", schema, NFIELDS(schema),
	                   "", "unknown_field", "foo");
}

static void test_check_missing_field(void **state)
{
	(void)state;
	expect_check_error("{\"quantity\":1}", schema, NFIELDS(schema), "", "missing_field",
	                   "name");
	expect_check_error("{\"name\":\"ab\"}", schema, NFIELDS(schema), "", "missing_field",
	                   "quantity");
	expect_check_error("{\"name\":\"ab\"}", schema, NFIELDS(schema), "items[0].",
	                   "missing_field", "items[0].quantity");
	expect_check_error("{}", schema, NFIELDS(schema), "", "missing_field", "name");
}

static void test_check_null_is_missing(void **state)
{
	(void)state;
	/* Required and null: missing, not a wrong type. */
	expect_check_error("{\"name\":null,\"quantity\":1}", schema, NFIELDS(schema), "",
	                   "missing_field", "name");
	expect_check_error("{\"name\":\"ab\",\"quantity\":null}", schema, NFIELDS(schema), "",
	                   "missing_field", "quantity");
	/* Optional and null: as if absent. */
	expect_check_ok("{\"name\":\"ab\",\"quantity\":1,\"gift\":null,\"items\":null,"
	                "\"meta\":null,\"id\":null,\"email\":null}",
	                schema, NFIELDS(schema));
}

static void test_check_wrong_types(void **state)
{
	(void)state;
	/* 12.5 is not 12: money and counts are integers. */
	expect_check_error("{\"name\":\"ab\",\"quantity\":12.5}", schema, NFIELDS(schema), "",
	                   "invalid_type", "quantity");
	/* Even a real with no fraction is not an integer. */
	expect_check_error("{\"name\":\"ab\",\"quantity\":12.0}", schema, NFIELDS(schema), "",
	                   "invalid_type", "quantity");
	expect_check_error("{\"name\":\"ab\",\"quantity\":\"12\"}", schema, NFIELDS(schema), "",
	                   "invalid_type", "quantity");
	expect_check_error("{\"name\":\"ab\",\"quantity\":true}", schema, NFIELDS(schema), "",
	                   "invalid_type", "quantity");
	expect_check_error("{\"name\":true,\"quantity\":1}", schema, NFIELDS(schema), "",
	                   "invalid_type", "name");
	expect_check_error("{\"name\":5,\"quantity\":1}", schema, NFIELDS(schema), "",
	                   "invalid_type", "name");
	expect_check_error("{\"name\":[\"ab\"],\"quantity\":1}", schema, NFIELDS(schema), "",
	                   "invalid_type", "name");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"gift\":1}", schema, NFIELDS(schema),
	                   "", "invalid_type", "gift");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"gift\":\"true\"}", schema,
	                   NFIELDS(schema), "", "invalid_type", "gift");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"items\":{}}", schema, NFIELDS(schema),
	                   "", "invalid_type", "items");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"meta\":[]}", schema, NFIELDS(schema),
	                   "", "invalid_type", "meta");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"id\":5}", schema, NFIELDS(schema), "",
	                   "invalid_type", "id");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"email\":false}", schema,
	                   NFIELDS(schema), "", "invalid_type", "email");
	expect_check_error("{\"name\":\"ab\",\"quantity\":12.5}", schema, NFIELDS(schema),
	                   "items[1].", "invalid_type", "items[1].quantity");
}

static void test_check_integer_range(void **state)
{
	static const struct jsonv_field wide[] = {
	        {"n", JV_INTEGER, true, -5, PRICE_CENTS_MAX},
	};

	(void)state;
	expect_check_error("{\"name\":\"ab\",\"quantity\":0}", schema, NFIELDS(schema), "",
	                   "invalid_value", "quantity");
	expect_check_error("{\"name\":\"ab\",\"quantity\":101}", schema, NFIELDS(schema), "",
	                   "invalid_value", "quantity");
	expect_check_error("{\"name\":\"ab\",\"quantity\":-1}", schema, NFIELDS(schema), "",
	                   "invalid_value", "quantity");
	expect_check_error("{\"name\":\"ab\",\"quantity\":9223372036854775807}", schema,
	                   NFIELDS(schema), "", "invalid_value", "quantity");
	expect_check_ok("{\"name\":\"ab\",\"quantity\":1}", schema, NFIELDS(schema));
	expect_check_ok("{\"name\":\"ab\",\"quantity\":100}", schema, NFIELDS(schema));

	expect_check_ok("{\"n\":-5}", wide, NFIELDS(wide));
	expect_check_ok("{\"n\":1000000000}", wide, NFIELDS(wide));
	expect_check_error("{\"n\":-6}", wide, NFIELDS(wide), "", "invalid_value", "n");
	expect_check_error("{\"n\":1000000001}", wide, NFIELDS(wide), "", "invalid_value", "n");
	expect_check_error("{\"n\":-9223372036854775808}", wide, NFIELDS(wide), "", "invalid_value",
	                   "n");
}

static void test_check_string_length_in_code_points(void **state)
{
	(void)state;
	/* "é" is 2 bytes, "€" 3, "😀" 4: five of them fit a 5-character limit. */
	expect_check_ok("{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\",\"quantity\":1}",
	                schema, NFIELDS(schema));
	expect_check_ok(
	        "{\"name\":\"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\","
	        "\"quantity\":1}",
	        schema, NFIELDS(schema));
	expect_check_ok("{\"name\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98"
	                "\x80\xf0\x9f\x98\x80\",\"quantity\":1}",
	                schema, NFIELDS(schema));
	/* The same through \u escapes, a surrogate pair counting once. */
	expect_check_ok("{\"name\":\"\\u00e9\\u20ac\\ud83d\\ude00ab\",\"quantity\":1}", schema,
	                NFIELDS(schema));
	/* Six characters are too many, however few bytes... */
	expect_check_error("{\"name\":\"abcdef\",\"quantity\":1}", schema, NFIELDS(schema), "",
	                   "invalid_value", "name");
	expect_check_error(
	        "{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\",\"quantity\":1}",
	        schema, NFIELDS(schema), "", "invalid_value", "name");
	/* ...and below the minimum. */
	expect_check_error("{\"name\":\"\",\"quantity\":1}", schema, NFIELDS(schema), "",
	                   "invalid_value", "name");
}

static void test_check_array_length(void **state)
{
	(void)state;
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"items\":[]}", schema, NFIELDS(schema),
	                   "", "invalid_value", "items");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"items\":[1,2,3,4]}", schema,
	                   NFIELDS(schema), "", "invalid_value", "items");
	expect_check_ok("{\"name\":\"ab\",\"quantity\":1,\"items\":[1]}", schema, NFIELDS(schema));
	expect_check_ok("{\"name\":\"ab\",\"quantity\":1,\"items\":[1,{},\"x\"]}", schema,
	                NFIELDS(schema));
}

static void test_check_uuid_field(void **state)
{
	(void)state;
	expect_check_ok("{\"name\":\"ab\",\"quantity\":1,"
	                "\"id\":\"123E4567-E89B-12D3-A456-426614174000\"}",
	                schema, NFIELDS(schema));
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"id\":\"not-a-uuid\"}", schema,
	                   NFIELDS(schema), "", "invalid_value", "id");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,"
	                   "\"id\":\"123e4567e89b12d3a456426614174000\"}",
	                   schema, NFIELDS(schema), "", "invalid_value", "id");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,"
	                   "\"id\":\"123e4567-e89b-12d3-a456-42661417400g\"}",
	                   schema, NFIELDS(schema), "", "invalid_value", "id");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"id\":\"\"}", schema, NFIELDS(schema),
	                   "", "invalid_value", "id");
}

static void test_check_email_field(void **state)
{
	(void)state;
	expect_check_ok("{\"name\":\"ab\",\"quantity\":1,\"email\":\"jane.doe+x@example.com\"}",
	                schema, NFIELDS(schema));
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"email\":\"jane\"}", schema,
	                   NFIELDS(schema), "", "invalid_value", "email");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"email\":\"ja ne@example.com\"}",
	                   schema, NFIELDS(schema), "", "invalid_value", "email");
	expect_check_error("{\"name\":\"ab\",\"quantity\":1,\"email\":\"\"}", schema,
	                   NFIELDS(schema), "", "invalid_value", "email");
}

static void test_check_leaves_err_alone_on_success(void **state)
{
	struct err e = ERR_INIT;
	json_t *j = load("{\"name\":\"ab\",\"quantity\":1}");

	(void)state;
	assert_true(jsonv_check(j, schema, NFIELDS(schema), "", &e));
	assert_int_equal(e.status, 0);
	assert_null(e.code);
	assert_null(e.details);
	json_decref(j);
	err_release(&e);
}

static void test_check_long_prefix(void **state)
{
	/* A prefix longer than the name buffer must not overflow it (ASan watches). */
	char prefix[400];
	struct err e = ERR_INIT;
	json_t *j = load("{\"zz\":1}");

	(void)state;
	memset(prefix, 'p', sizeof(prefix) - 1);
	prefix[sizeof(prefix) - 1] = '\0';
	assert_false(jsonv_check(j, schema, NFIELDS(schema), prefix, &e));
	assert_string_equal(e.code, "unknown_field");
	assert_non_null(err_field_of(&e));
	assert_int_equal(strncmp(err_field_of(&e), "ppp", 3), 0);
	json_decref(j);
	err_release(&e);
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void test_is_uuid(void **state)
{
	(void)state;
	assert_true(jsonv_is_uuid("123e4567-e89b-12d3-a456-426614174000"));
	assert_true(jsonv_is_uuid("123E4567-E89B-12D3-A456-426614174000"));
	assert_true(jsonv_is_uuid("00000000-0000-0000-0000-000000000000"));
	assert_true(jsonv_is_uuid("ffffffff-FFFF-ffff-FFFF-ffffffffffff"));
	assert_false(jsonv_is_uuid(""));
	assert_false(jsonv_is_uuid("123e4567"));
	assert_false(jsonv_is_uuid("123e4567-e89b-12d3-a456-42661417400"));   /* 35 */
	assert_false(jsonv_is_uuid("123e4567-e89b-12d3-a456-4266141740000")); /* 37 */
	assert_false(jsonv_is_uuid("123e4567e89b12d3a456426614174000"));
	assert_false(jsonv_is_uuid("123e4567-e89b-12d3-a456_426614174000"));
	assert_false(jsonv_is_uuid("123e456-7e89b-12d3-a456-426614174000"));
	assert_false(jsonv_is_uuid("g23e4567-e89b-12d3-a456-426614174000"));
	assert_false(jsonv_is_uuid("{23e4567-e89b-12d3-a456-42661417400}"));
	assert_false(jsonv_is_uuid(" 123e4567-e89b-12d3-a456-42661417400"));
}

static void test_uuid_lower(void **state)
{
	char out[37];

	(void)state;
	memset(out, 'x', sizeof(out));
	jsonv_uuid_lower("123E4567-E89B-12D3-A456-4266141740AF", out);
	assert_string_equal(out, "123e4567-e89b-12d3-a456-4266141740af");
	assert_int_equal(strlen(out), 36);
	jsonv_uuid_lower("abcdef01-2345-6789-abcd-ef0123456789", out);
	assert_string_equal(out, "abcdef01-2345-6789-abcd-ef0123456789");
}

static void test_is_email(void **state)
{
	char buf[EMAIL_MAX + 2];

	(void)state;
	assert_true(jsonv_is_email("a@b"));
	assert_true(jsonv_is_email("jane.doe+tag@example.co.uk"));
	assert_false(jsonv_is_email(""));
	assert_false(jsonv_is_email("@"));
	assert_false(jsonv_is_email("a@"));
	assert_false(jsonv_is_email("@b"));
	assert_false(jsonv_is_email("@ab"));
	assert_false(jsonv_is_email("ab@"));
	assert_false(jsonv_is_email("ab"));
	assert_false(jsonv_is_email("a@b@c"));
	assert_false(jsonv_is_email("a b@c"));
	assert_false(jsonv_is_email("a@b c"));
	assert_false(jsonv_is_email("a\t@b"));
	assert_false(jsonv_is_email("a@b\x7f"));
	assert_false(jsonv_is_email("j\xc3\xa9@example.com"));

	/* EMAIL_MAX characters are fine, one more is not. */
	memset(buf, 'a', EMAIL_MAX);
	buf[EMAIL_MAX] = '\0';
	buf[EMAIL_MAX - 5] = '@';
	assert_true(jsonv_is_email(buf));
	memset(buf, 'a', EMAIL_MAX + 1);
	buf[EMAIL_MAX + 1] = '\0';
	buf[EMAIL_MAX - 5] = '@';
	assert_false(jsonv_is_email(buf));
}

static void test_utf8_length(void **state)
{
	(void)state;
	assert_int_equal(jsonv_utf8_length(""), 0);
	assert_int_equal(jsonv_utf8_length("abc"), 3);
	assert_int_equal(jsonv_utf8_length("\xc3\xa9"), 1);
	assert_int_equal(jsonv_utf8_length("\xe2\x82\xac"), 1);
	assert_int_equal(jsonv_utf8_length("\xf0\x9f\x98\x80"), 1);
	assert_int_equal(jsonv_utf8_length("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"), 5);
}

static void test_accessors(void **state)
{
	json_t *j = load("{\"s\":\"hello\",\"i\":-42,\"big\":9007199254740993,\"t\":true,"
	                 "\"f\":false,\"r\":1.5,\"n\":null}");

	(void)state;
	assert_string_equal(jsonv_str(j, "s"), "hello");
	assert_null(jsonv_str(j, "missing"));
	assert_null(jsonv_str(j, "i"));
	assert_null(jsonv_str(j, "n"));

	assert_int_equal(jsonv_int(j, "i", 7), -42);
	assert_true(jsonv_int(j, "big", 0) == 9007199254740993LL);
	assert_int_equal(jsonv_int(j, "missing", 7), 7);
	assert_int_equal(jsonv_int(j, "r", 7), 7);
	assert_int_equal(jsonv_int(j, "s", 7), 7);
	assert_int_equal(jsonv_int(j, "n", 7), 7);

	assert_true(jsonv_bool(j, "t", false));
	assert_false(jsonv_bool(j, "f", true));
	assert_true(jsonv_bool(j, "missing", true));
	assert_false(jsonv_bool(j, "missing", false));
	assert_true(jsonv_bool(j, "i", true));
	assert_false(jsonv_bool(j, "s", false));
	assert_true(jsonv_bool(j, "n", true));
	json_decref(j);
}

/* Regression: a long unknown key truncated mid-character must still give valid UTF-8. */
static void test_truncated_key_stays_utf8(void **state)
{
	char body[400];
	struct err e = ERR_INIT;
	json_t *obj;
	const struct jsonv_field none[] = {{"a", JV_STRING, false, 0, 10}};
	const char *field;

	(void)state;
	memset(body, 0, sizeof(body));
	body[0] = '{';
	body[1] = '"';
	memset(body + 2, 'k', 158);
	memcpy(body + 160, "\xc3\xa9\":1}", 6);
	obj = json_loads(body, 0, NULL);
	assert_non_null(obj);
	assert_false(jsonv_check(obj, none, 1, "", &e));
	assert_string_equal(e.code, "unknown_field");
	field = json_string_value(json_object_get(e.details, "field"));
	assert_non_null(field);
	assert_int_equal(strlen(field), 158);
	json_decref(obj);
	err_release(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_truncated_key_stays_utf8),
	        cmocka_unit_test(test_parse_valid_object),
	        cmocka_unit_test(test_parse_uses_len_not_nul),
	        cmocka_unit_test(test_parse_malformed),
	        cmocka_unit_test(test_parse_empty),
	        cmocka_unit_test(test_parse_empty_object_ok),
	        cmocka_unit_test(test_parse_non_object),
	        cmocka_unit_test(test_parse_duplicate_keys),
	        cmocka_unit_test(test_parse_raw_nul_byte),
	        cmocka_unit_test(test_parse_nul_escape),
	        cmocka_unit_test(test_parse_deep_nesting),
	        cmocka_unit_test(test_parse_invalid_utf8),
	        cmocka_unit_test(test_check_valid),
	        cmocka_unit_test(test_check_unknown_field),
	        cmocka_unit_test(test_check_missing_field),
	        cmocka_unit_test(test_check_null_is_missing),
	        cmocka_unit_test(test_check_wrong_types),
	        cmocka_unit_test(test_check_integer_range),
	        cmocka_unit_test(test_check_string_length_in_code_points),
	        cmocka_unit_test(test_check_array_length),
	        cmocka_unit_test(test_check_uuid_field),
	        cmocka_unit_test(test_check_email_field),
	        cmocka_unit_test(test_check_leaves_err_alone_on_success),
	        cmocka_unit_test(test_check_long_prefix),
	        cmocka_unit_test(test_is_uuid),
	        cmocka_unit_test(test_uuid_lower),
	        cmocka_unit_test(test_is_email),
	        cmocka_unit_test(test_utf8_length),
	        cmocka_unit_test(test_accessors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
