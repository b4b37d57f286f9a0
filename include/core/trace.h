/*
 * trace.h — W3C Trace Context (traceparent) at the edges of the system.
 *
 * The API continues the caller's trace when the request carries a valid traceparent, or starts
 * one; either way the request gets a span id of its own. The traceparent stored with every
 * outbox event the request writes names that span as the parent, so the worker's log lines for
 * the event — every attempt, retries included — carry the same trace id as the request's.
 */
#ifndef TERMINUS_TRACE_H
#define TERMINUS_TRACE_H

#include <stdbool.h>

#define TRACE_ID_LEN    32 /* hex digits */
#define TRACEPARENT_LEN 55 /* "00-" trace "-" span "-" flags */

struct trace {
	char trace_id[TRACE_ID_LEN + 1];
	char traceparent[TRACEPARENT_LEN + 1]; /* ours: the caller's trace, our span */
	bool continued;                        /* the caller sent a valid traceparent */
};

/* Continues incoming (a traceparent header, may be NULL) or starts a new trace. */
void trace_start(const char *incoming, struct trace *out);
/* True for a well-formed traceparent with non-zero ids: version 00 exactly, or a later version
 * (not ff) read by its version-00 prefix, as the W3C recommendation asks. */
bool trace_valid(const char *traceparent);
/* The trace id of a stored traceparent, or "" when it is not a valid one. */
void trace_id_of(const char *traceparent, char out[TRACE_ID_LEN + 1]);

#endif
