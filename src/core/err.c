/*
 * err.c — filling the caller-owned error record (see err.h for the three kinds of failure).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

void err_init(struct err *e)
{
	memset(e, 0, sizeof(*e));
}

void err_release(struct err *e)
{
	json_decref(e->details);
	err_init(e);
}

static void err_vset(struct err *e, int status, const char *code, const char *fmt, va_list ap)
        PRINTF_LIKE(4, 0);

static void err_vset(struct err *e, int status, const char *code, const char *fmt, va_list ap)
{
	json_decref(e->details);
	e->details = NULL;
	e->status = status;
	e->code = code;
	e->retry_after = 0;
	e->sqlstate[0] = '\0';
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	err_utf8_trim(e->message);
}

void err_utf8_trim(char *s)
{
	size_t n = strlen(s), start = n, need;
	unsigned char lead;

	/* Find the start of the last character: at most 3 continuation bytes back. */
	while (start > 0 && n - start < 4 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
		start--;
	if (start == 0)
		return;
	lead = (unsigned char)s[start - 1];
	if (lead < 0x80)
		return;
	need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	if (n - (start - 1) < need)
		s[start - 1] = '\0';
}

void err_set(struct err *e, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, status, code, fmt, ap);
	va_end(ap);
}

void err_field(struct err *e, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, 400, code, fmt, ap);
	va_end(ap);
	err_detail(e, "field", json_string(field));
}

void err_detail(struct err *e, const char *key, json_t *value)
{
	if (e->details == NULL)
		e->details = json_object();
	json_object_set_new(e->details, key, value);
}

void err_internal(struct err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, 500, "internal_error", fmt, ap);
	va_end(ap);
}

char *error_body(const char *request_id, const struct err *e)
{
	json_t *details = e->details != NULL ? json_deep_copy(e->details) : json_object();
	json_t *env;
	char *text;
	/* The reason for a 5xx goes to the log, never to the client. */
	const char *message = e->status >= 500 && e->status != 503
	                              ? "internal error; the request id identifies it in our logs"
	                              : e->message;

	env = json_pack("{s:{s:s, s:s, s:s, s:o}}", "error", "code",
	                e->code != NULL ? e->code : "internal_error", "message", message,
	                "request_id", request_id, "details", details);
	text = env != NULL ? json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(env);
	if (text == NULL) {
		/* Only reachable if a message were not valid UTF-8; never crash on it. */
		log_error("error envelope for %s could not be built", e->code);
		text = xstrdup("{\"error\":{\"code\":\"internal_error\",\"message\":\"error "
		               "envelope unavailable\",\"request_id\":\"\",\"details\":{}}}");
	}
	return text;
}
