/*
 * fuzz_jsonv — request body validation: the strict parse (duplicate keys, invalid UTF-8, depth)
 * and the field-table check, with tables of every shape the API uses (strings with lengths,
 * integer ranges, booleans, UUIDs, e-mails, an array of line objects checked one by one).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "jsonv.h"

static const struct jsonv_field order_fields[] = {
        {"items", JV_ARRAY, true, 1, 100},
        {"customer_email", JV_EMAIL, true, 3, 254},
};
static const struct jsonv_field line_fields[] = {
        {"product_id", JV_UUID, true, 0, 0},
        {"quantity", JV_INTEGER, true, 1, 10000},
};
static const struct jsonv_field product_fields[] = {
        {"sku", JV_STRING, true, 1, 64},
        {"name", JV_STRING, true, 1, 200},
        {"description", JV_STRING, false, 0, 2000},
        {"price_cents", JV_INTEGER, true, 0, 1000000000},
        {"inventory", JV_INTEGER, false, 0, 1000000000},
};
static const struct jsonv_field flag_fields[] = {
        {"enabled", JV_BOOL, true, 0, 0},
        {"rollout_percent", JV_INTEGER, false, 0, 100},
        {"meta", JV_OBJECT, false, 0, 0},
};

static void check(const json_t *obj, const struct jsonv_field *f, size_t n, const char *prefix)
{
	struct err e = ERR_INIT;

	if (!jsonv_check(obj, f, n, prefix, &e))
		err_release(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	json_t *obj = jsonv_parse_object((const char *)data, size, &e);
	const char *key;
	json_t *v;

	if (obj == NULL) {
		err_release(&e);
		return 0;
	}
	check(obj, order_fields, 2, "");
	check(obj, product_fields, 5, "");
	check(obj, flag_fields, 3, "");
	v = json_object_get(obj, "items");
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v) && i < 100; i++) {
			char prefix[32];

			snprintf(prefix, sizeof(prefix), "items[%zu].", i);
			if (json_is_object(json_array_get(v, i)))
				check(json_array_get(v, i), line_fields, 2, prefix);
		}
	}
	json_object_foreach(obj, key, v)
	{
		if (json_is_string(v)) {
			const char *s = json_string_value(v);
			char lower[37];

			(void)jsonv_utf8_length(s);
			(void)jsonv_is_email(s);
			if (jsonv_is_uuid(s))
				jsonv_uuid_lower(s, lower);
		}
	}
	json_decref(obj);
	return 0;
}
