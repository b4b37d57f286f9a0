/*
 * log.c — JSON lines on stderr. A line is built with jansson (so every value is escaped) and
 * written with one write(2) call, so lines from concurrent threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "banned.h"

static enum log_level min_level = LOG_LEVEL_INFO;
static const char *process = "terminus";
static _Thread_local struct log_ctx ctx;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *process_name, enum log_level level)
{
	process = process_name;
	min_level = level;
}

bool log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

bool log_enabled(enum log_level level)
{
	return level >= min_level;
}

void log_ctx_set(const struct log_ctx *c)
{
	ctx = *c;
}

void log_ctx_get(struct log_ctx *out)
{
	*out = ctx;
}

void log_ctx_clear(void)
{
	memset(&ctx, 0, sizeof(ctx));
}

static void set_if(json_t *line, const char *key, const char *value)
{
	if (value != NULL && value[0] != '\0')
		json_object_set_new(line, key, json_string(value));
}

static void log_emit(enum log_level level, json_t *fields, const char *fmt, va_list ap)
        PRINTF_LIKE(3, 0);

static void log_emit(enum log_level level, json_t *fields, const char *fmt, va_list ap)
{
	char msg[1024];
	char ts[96];
	struct timespec now;
	struct tm tm;
	json_t *line;
	char *text;

	if (!log_enabled(level)) {
		json_decref(fields);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         now.tv_nsec / 1000000);

	line = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "proc",
	                 process, "msg", msg);
	set_if(line, "request_id", ctx.request_id);
	set_if(line, "store", ctx.store);
	set_if(line, "trace_id", ctx.trace_id);
	set_if(line, "event_id", ctx.event_id);
	if (fields != NULL)
		json_object_update(line, fields);
	json_decref(fields);

	/* 10 significant digits: 31.449, not 31.449000000000002. */
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	json_decref(line);
	if (text == NULL)
		return;
	size_t len = strlen(text);
	text[len] = '\n'; /* overwrite the NUL: one write of the whole line */
	ssize_t ignored = write(STDERR_FILENO, text, len + 1);
	(void)ignored;
	free(text);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, NULL, fmt, ap);
	va_end(ap);
}

void log_fields(enum log_level level, json_t *fields, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(level, fields, fmt, ap);
	va_end(ap);
}
