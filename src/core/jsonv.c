/*
 * jsonv.c — strict request-body validation on top of jansson (see jsonv.h).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "constants.h"
#include "jsonv.h"
#include "banned.h"

json_t *jsonv_parse_object(const char *body, size_t len, struct err *e)
{
	json_error_t jerr;
	json_t *root;

	if (body == NULL || len == 0) {
		err_set(e, 400, "invalid_json", "request body is required");
		return NULL;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		err_set(e, 400, "invalid_json", "malformed JSON at line %d column %d: %s",
		        jerr.line, jerr.column, jerr.text);
		err_detail(e, "position", json_integer(jerr.position));
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		err_set(e, 400, "invalid_json", "request body must be a JSON object");
		return NULL;
	}
	return root;
}

size_t jsonv_utf8_length(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	}
	return n;
}

bool jsonv_is_uuid(const char *s)
{
	for (int i = 0; i < 36; i++) {
		char ch = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (ch != '-')
				return false;
		} else if (!isxdigit((unsigned char)ch)) {
			return false;
		}
	}
	return s[36] == '\0';
}

void jsonv_uuid_lower(const char *s, char out[37])
{
	for (int i = 0; i < 36; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[36] = '\0';
}

bool jsonv_is_email(const char *s)
{
	const char *at = strchr(s, '@');
	size_t len = strlen(s);

	if (len < 3 || len > EMAIL_MAX || at == NULL || at == s || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	}
	return true;
}

static const char *type_name(enum jsonv_type t)
{
	switch (t) {
	case JV_STRING:
	case JV_UUID:
	case JV_EMAIL:
		return "a string";
	case JV_INTEGER:
		return "an integer";
	case JV_BOOL:
		return "a boolean";
	case JV_ARRAY:
		return "an array";
	case JV_OBJECT:
		return "an object";
	}
	return "?";
}

static bool type_matches(enum jsonv_type t, const json_t *v)
{
	switch (t) {
	case JV_STRING:
	case JV_UUID:
	case JV_EMAIL:
		return json_is_string(v);
	case JV_INTEGER:
		return json_is_integer(v);
	case JV_BOOL:
		return json_is_boolean(v);
	case JV_ARRAY:
		return json_is_array(v);
	case JV_OBJECT:
		return json_is_object(v);
	}
	return false;
}

static bool check_value(const struct jsonv_field *f, const json_t *v, const char *name,
                        struct err *e)
{
	if (!type_matches(f->type, v)) {
		err_field(e, "invalid_type", name, "%s must be %s", name, type_name(f->type));
		return false;
	}
	switch (f->type) {
	case JV_STRING: {
		size_t n = jsonv_utf8_length(json_string_value(v));

		if ((long long)n < f->min || (long long)n > f->max) {
			err_field(e, "invalid_value", name, "%s must be %lld to %lld characters",
			          name, f->min, f->max);
			return false;
		}
		return true;
	}
	case JV_UUID:
		if (!jsonv_is_uuid(json_string_value(v))) {
			err_field(e, "invalid_value", name, "%s must be a UUID", name);
			return false;
		}
		return true;
	case JV_EMAIL:
		if (!jsonv_is_email(json_string_value(v))) {
			err_field(e, "invalid_value", name, "%s must be an e-mail address", name);
			return false;
		}
		return true;
	case JV_INTEGER: {
		json_int_t n = json_integer_value(v);

		if (n < f->min || n > f->max) {
			err_field(e, "invalid_value", name, "%s must be between %lld and %lld",
			          name, f->min, f->max);
			return false;
		}
		return true;
	}
	case JV_ARRAY: {
		long long n = (long long)json_array_size(v);

		if (n < f->min || n > f->max) {
			err_field(e, "invalid_value", name, "%s must have %lld to %lld elements",
			          name, f->min, f->max);
			return false;
		}
		return true;
	}
	case JV_BOOL:
	case JV_OBJECT:
		return true;
	}
	return false;
}

bool jsonv_check(const json_t *obj, const struct jsonv_field *fields, size_t nfields,
                 const char *prefix, struct err *e)
{
	const char *key;
	json_t *value;
	char name[160];

	/* Unknown keys first: a typo should be named as such, not as a missing field. */
	json_object_foreach((json_t *)(void *)(uintptr_t)obj, key, value)
	{
		bool known = false;

		for (size_t i = 0; i < nfields && !known; i++)
			known = strcmp(fields[i].name, key) == 0;
		if (!known) {
			snprintf(name, sizeof(name), "%s%s", prefix, key);
			err_utf8_trim(name);
			err_field(e, "unknown_field", name, "unknown field %s", name);
			return false;
		}
	}
	for (size_t i = 0; i < nfields; i++) {
		const json_t *v = json_object_get(obj, fields[i].name);

		snprintf(name, sizeof(name), "%s%s", prefix, fields[i].name);
		err_utf8_trim(name);
		if (v == NULL || json_is_null(v)) {
			if (fields[i].required) {
				err_field(e, "missing_field", name, "%s is required", name);
				return false;
			}
			continue;
		}
		if (!check_value(&fields[i], v, name, e))
			return false;
	}
	return true;
}

const char *jsonv_str(const json_t *obj, const char *name)
{
	return json_string_value(json_object_get(obj, name));
}

long long jsonv_int(const json_t *obj, const char *name, long long dflt)
{
	const json_t *v = json_object_get(obj, name);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

bool jsonv_bool(const json_t *obj, const char *name, bool dflt)
{
	const json_t *v = json_object_get(obj, name);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}
