/*
 * err.h — the caller-owned error record every fallible function fills.
 *
 * A function that can fail returns bool (must be checked) and, on failure, describes the failure
 * in a struct err the caller passed in: the HTTP status it maps to, a stable snake_case code,
 * a human message, optional JSON details and, for operational failures, a Retry-After.
 * There is no global error state. Three kinds of failure are kept apart:
 *   bad input          -> 4xx with a stable code (never logged as an error);
 *   operational        -> 503 (database gone, timeout), logged, retried where safe;
 *   programmer error   -> assert().
 */
#ifndef TERMINUS_ERR_H
#define TERMINUS_ERR_H

#include <stdbool.h>
#include <jansson.h>

#define MUST_CHECK        __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

struct err {
	int status;       /* HTTP status; 0 while no error is recorded */
	const char *code; /* stable code, a static string */
	char message[256];
	char sqlstate[6]; /* SQLSTATE of a database failure, "" otherwise */
	json_t *details;  /* owned; NULL when there are none */
	int retry_after;  /* seconds for Retry-After, 0 for none */
};

#define ERR_INIT                                                                                   \
	{                                                                                          \
		0, NULL, "", "", NULL, 0                                                           \
	}

void err_init(struct err *e);
/* Frees the details and resets the record so it can be reused. */
void err_release(struct err *e);
/* Records a failure; replaces any earlier one. */
void err_set(struct err *e, int status, const char *code, const char *fmt, ...) PRINTF_LIKE(4, 5);
/* 400 naming the offending field in details.field. */
void err_field(struct err *e, const char *code, const char *field, const char *fmt, ...)
        PRINTF_LIKE(4, 5);
/* Adds details[key] = value; value is stolen. */
void err_detail(struct err *e, const char *key, json_t *value);
/* Cuts a trailing incomplete UTF-8 sequence (left by truncating snprintf) in place. */
void err_utf8_trim(char *s);
/* 500 for a failure that is our fault; the message never reaches the client. */
void err_internal(struct err *e, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* The error envelope {"error":{code, message, request_id, details}} as text (caller frees),
 * exactly as the API sends it; a 5xx other than 503 says only that the request id identifies
 * it in the logs. Stored with idempotency keys, so it lives here, not in the HTTP layer. */
char *error_body(const char *request_id, const struct err *e);

#endif
