/*
 * log.h — one JSON object per line on stderr.
 *
 * Levels: debug (developer detail), info (one line per request / event handled, lifecycle),
 * warn (something went wrong and was handled: a retry, a lost connection), error (a request or
 * event failed because of us). Context (request id, store, trace id, event id) is thread-local
 * and added by the logger, so callers never repeat it.
 */
#ifndef TERMINUS_LOG_H
#define TERMINUS_LOG_H

#include <stdbool.h>
#include <jansson.h>
#include "err.h"

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

struct log_ctx {
	const char *request_id; /* borrowed; all may be NULL */
	const char *store;
	const char *trace_id;
	const char *event_id;
};

void log_init(const char *process_name, enum log_level level);
bool log_parse_level(const char *s, enum log_level *out) MUST_CHECK;
bool log_enabled(enum log_level level);
/* Sets this thread's context; the pointers must stay valid until log_ctx_clear(). */
void log_ctx_set(const struct log_ctx *ctx);
void log_ctx_clear(void);
/* This thread's context, to put back with log_ctx_set() after a nested one. */
void log_ctx_get(struct log_ctx *out);
void log_msg(enum log_level level, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Like log_msg with extra fields merged into the line; fields is stolen. */
void log_fields(enum log_level level, json_t *fields, const char *fmt, ...) PRINTF_LIKE(3, 4);

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
