/*
 * jsonv.h — strict validation of request bodies with jansson.
 *
 * A body is parsed with duplicate keys rejected (jansson also rejects \u0000, invalid UTF-8 and
 * nesting past its compile-time cap) and must be an object. Each object is then checked against a
 * table of fields: an unknown key, a missing required field, a wrong JSON type or a value out of
 * range is a 400 whose details.field names the field ("items[2].quantity"). Money and counts must
 * be JSON integers: 12.5 is a wrong type, not 12.
 */
#ifndef TERMINUS_JSONV_H
#define TERMINUS_JSONV_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "err.h"

enum jsonv_type { JV_STRING, JV_INTEGER, JV_BOOL, JV_ARRAY, JV_OBJECT, JV_UUID, JV_EMAIL };

struct jsonv_field {
	const char *name;
	enum jsonv_type type;
	bool required;
	long long min; /* integers: value; strings: characters; arrays: elements */
	long long max;
};

/* New reference to the parsed object, or NULL with a 400 invalid_json in e.
 * An empty body (len 0) is an error too. */
json_t *jsonv_parse_object(const char *body, size_t len, struct err *e) MUST_CHECK;
/* Checks obj (borrowed) against the table; prefix ("" or "items[2].") goes in front of names. */
bool jsonv_check(const json_t *obj, const struct jsonv_field *fields, size_t nfields,
                 const char *prefix, struct err *e) MUST_CHECK;
/* Number of Unicode code points in a valid UTF-8 string. */
size_t jsonv_utf8_length(const char *s);
/* True for a canonical UUID text (36 chars, hex and dashes; case-insensitive). */
bool jsonv_is_uuid(const char *s);
/* Copies s into out (37 bytes) in lower case; s must satisfy jsonv_is_uuid. */
void jsonv_uuid_lower(const char *s, char out[37]);
/* A plausible e-mail: local@domain, printable ASCII, no spaces, at most EMAIL_MAX. */
bool jsonv_is_email(const char *s);

/* Borrowed string / integer / bool of a field that jsonv_check has already validated. */
const char *jsonv_str(const json_t *obj, const char *name);
long long jsonv_int(const json_t *obj, const char *name, long long dflt);
bool jsonv_bool(const json_t *obj, const char *name, bool dflt);

#endif
