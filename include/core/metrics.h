/*
 * metrics.h — process metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * Every metric is a row of one table in metrics.c (name, type, help, label names). Series are
 * created on first use, at most METRICS_MAX_SERIES per metric (a label value beyond that is
 * counted under "other"), so a bug or a hostile client cannot grow memory without bound.
 * Updates take one mutex: counters are touched a few times per request, which costs far less
 * than the request's own database round trips.
 *
 * Label cardinality is a decision, not an accident: routes are patterns ("/v1/stores/{store}"),
 * never raw paths; the only per-store series is terminus_store_checkouts_total, because "which
 * tenant is failing" is the question a multi-tenant operator asks first, and stores number in
 * the hundreds, not millions.
 */
#ifndef TERMINUS_METRICS_H
#define TERMINUS_METRICS_H

#include <stdbool.h>

enum metric_id {
	M_HTTP_REQUESTS,    /* counter {route, status} */
	M_HTTP_DURATION,    /* histogram {route} */
	M_CHECKOUTS,        /* counter {outcome, path} */
	M_STORE_CHECKOUTS,  /* counter {store, outcome} */
	M_IDEMPOTENCY,      /* counter {result} */
	M_EVENTS_HANDLED,   /* counter {type, outcome} */
	M_EVENT_DURATION,   /* histogram {type} */
	M_EVENT_RETRIES,    /* counter {type} */
	M_CONFIRM_LATENCY,  /* histogram {} : checkout committed → order confirmed */
	M_DB_ERRORS,        /* counter {kind} */
	M_FLAG_EVALUATIONS, /* counter {flag, result} */
	M_FAULTS_OPENED,    /* counter {rule} : in the worker that led the tick */
	M_DETECTOR_TICKS,   /* counter {result} : led, skipped (another worker led), failed */
	M_HTTP_CONNECTIONS_CLOSED, /* counter {reason} : closed by the server without an answer */
	M_COUNT
};

/* Counting on (the default) or off: off exists to measure the instrumentation's own cost
 * (TERMINUS_METRICS_ENABLED=0); call before any thread starts. */
void metrics_set_enabled(bool on);
/* Adds 1 to a counter; labels in the table's order (unused ones NULL). */
void metrics_inc(enum metric_id id, const char *l1, const char *l2);
void metrics_add(enum metric_id id, const char *l1, const char *l2, double v);
/* Records one observation (seconds) in a histogram. */
void metrics_observe(enum metric_id id, const char *l1, double seconds);

/* Text buffer the renderer appends to (gauges computed at scrape time are appended by the
 * caller through metrics_gauge). */
struct metrics_text;
void metrics_gauge(struct metrics_text *t, const char *name, const char *help, const char *label,
                   const char *value, double v);
/* Who reads a rendering. Per-tenant series (labelled by store: one store's sales) are only for
 * the operator; what anyone can read carries no tenant data. */
enum metrics_audience { METRICS_PUBLIC, METRICS_OPERATOR };
/* Renders every metric the audience may see, then lets extra append gauges. Caller frees; never
 * NULL. */
char *metrics_render(enum metrics_audience audience,
                     void (*extra)(struct metrics_text *t, void *arg), void *arg);

#endif
