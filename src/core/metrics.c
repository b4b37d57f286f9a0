/*
 * metrics.c — the metric table, series storage and the text exposition (see metrics.h).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "xalloc.h"
#include "banned.h"

#define METRICS_MAX_SERIES 512
#define METRICS_LABEL_MAX  96
#define NBUCKETS           13

static const double buckets[NBUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1,     2.5,  5,     10};

enum family_type { F_COUNTER, F_HISTOGRAM };

struct series {
	char l1[METRICS_LABEL_MAX];
	char l2[METRICS_LABEL_MAX];
	double value;                        /* counter */
	unsigned long long counts[NBUCKETS]; /* histogram: per bucket, not cumulative */
	unsigned long long n;
	double sum;
};

struct family {
	const char *name;
	enum family_type type;
	const char *label1, *label2; /* NULL when unused */
	const char *help;
	struct series *series; /* METRICS_MAX_SERIES, allocated on first use */
	int nseries;
	bool tenant; /* labelled by store: rendered for the operator only */
};

static struct family families[M_COUNT] = {
        [M_HTTP_REQUESTS] = {"terminus_http_requests_total", F_COUNTER, "route", "status",
                             "HTTP requests answered, by route pattern and status code", NULL, 0,
                             false},
        [M_HTTP_DURATION] = {"terminus_http_request_duration_seconds", F_HISTOGRAM, "route", NULL,
                             "Time from the first byte of a request to its answer being queued",
                             NULL, 0, false},
        [M_CHECKOUTS] = {"terminus_checkouts_total", F_COUNTER, "outcome", "path",
                         "Checkouts by outcome (confirmed, accepted, payment_declined, "
                         "insufficient_inventory, order_not_pending, other) and path (sync, async)",
                         NULL, 0, false},
        [M_STORE_CHECKOUTS] = {"terminus_store_checkouts_total", F_COUNTER, "store", "outcome",
                               "Checkouts by store slug and outcome: the one per-tenant series",
                               NULL, 0, true},
        [M_IDEMPOTENCY] = {"terminus_idempotency_total", F_COUNTER, "result", NULL,
                           "Requests with an Idempotency-Key that did not run: replayed, "
                           "reused (422), in_flight (409)",
                           NULL, 0, false},
        [M_EVENTS_HANDLED] = {"terminus_events_handled_total", F_COUNTER, "type", "outcome",
                              "Outbox events run, by type and outcome (done, retry, dead, "
                              "lease_lost)",
                              NULL, 0, false},
        [M_EVENT_DURATION] = {"terminus_event_handler_duration_seconds", F_HISTOGRAM, "type", NULL,
                              "Time to run a batch of events of one type, per event", NULL, 0,
                              false},
        [M_EVENT_RETRIES] = {"terminus_event_retries_total", F_COUNTER, "type", NULL,
                             "Failed event attempts scheduled for a retry", NULL, 0, false},
        [M_CONFIRM_LATENCY] = {"terminus_checkout_confirm_seconds", F_HISTOGRAM, NULL, NULL,
                               "From the checkout's commit (the 202) to the order's confirmation",
                               NULL, 0, false},
        [M_DB_ERRORS] = {"terminus_db_errors_total", F_COUNTER, "kind", NULL,
                         "Database failures: unavailable (connection, timeout, not migrated) or "
                         "error",
                         NULL, 0, false},
        [M_FLAG_EVALUATIONS] = {"terminus_flag_evaluations_total", F_COUNTER, "flag", "result",
                                "Feature flag decisions, by flag and result (on, off)", NULL, 0,
                                false},
        [M_FAULTS_OPENED] = {"terminus_faults_opened_total", F_COUNTER, "rule", NULL,
                             "Faults opened by the detector ticks this process led, by rule", NULL,
                             0, false},
        [M_DETECTOR_TICKS] = {"terminus_fault_detector_ticks_total", F_COUNTER, "result", NULL,
                              "Fault detector ticks: led (this process evaluated the rules), "
                              "skipped (another worker held the lock), failed",
                              NULL, 0, false},
        [M_HTTP_CONNECTIONS_CLOSED] = {"terminus_http_connections_closed_total", F_COUNTER,
                                       "reason", NULL,
                                       "Connections the API closed without an answer: "
                                       "over_connection_limit (refused on accept), "
                                       "request_timeout (no whole request within "
                                       "TERMINUS_HTTP_REQUEST_TIMEOUT_MS)",
                                       NULL, 0, false},
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void copy_label(char dst[METRICS_LABEL_MAX], const char *src)
{
	snprintf(dst, METRICS_LABEL_MAX, "%s", src != NULL ? src : "");
}

/* The series for (l1, l2), created on first use; "other" once the family is full. Lock held. */
static struct series *find(struct family *f, const char *l1, const char *l2)
{
	char a[METRICS_LABEL_MAX], b[METRICS_LABEL_MAX];
	struct series *s;

	copy_label(a, l1);
	copy_label(b, l2);
	if (f->series == NULL) {
		f->series = xcalloc(METRICS_MAX_SERIES, sizeof(*f->series));
	}
	for (int i = 0; i < f->nseries; i++) {
		if (strcmp(f->series[i].l1, a) == 0 && strcmp(f->series[i].l2, b) == 0)
			return &f->series[i];
	}
	if (f->nseries == METRICS_MAX_SERIES - 1) {
		/* Full: the last slot collects everything else. */
		copy_label(a, "other");
		copy_label(b, f->label2 != NULL ? "other" : "");
		for (int i = 0; i < f->nseries; i++) {
			if (strcmp(f->series[i].l1, a) == 0 && strcmp(f->series[i].l2, b) == 0)
				return &f->series[i];
		}
	}
	s = &f->series[f->nseries++];
	memcpy(s->l1, a, sizeof(a));
	memcpy(s->l2, b, sizeof(b));
	return s;
}

/* Off only to measure what counting costs (TERMINUS_METRICS_ENABLED=0); set before threads. */
static bool enabled = true;

void metrics_set_enabled(bool on)
{
	enabled = on;
}

void metrics_add(enum metric_id id, const char *l1, const char *l2, double v)
{
	if (!enabled)
		return;
	pthread_mutex_lock(&lock);
	find(&families[id], l1, l2)->value += v;
	pthread_mutex_unlock(&lock);
}

void metrics_inc(enum metric_id id, const char *l1, const char *l2)
{
	metrics_add(id, l1, l2, 1);
}

void metrics_observe(enum metric_id id, const char *l1, double seconds)
{
	struct series *s;
	int b = 0;

	if (!enabled)
		return;
	while (b < NBUCKETS && seconds > buckets[b])
		b++;
	pthread_mutex_lock(&lock);
	s = find(&families[id], l1, NULL);
	if (b < NBUCKETS)
		s->counts[b]++;
	s->n++;
	s->sum += seconds;
	pthread_mutex_unlock(&lock);
}

/* ---- exposition ---------------------------------------------------------------------------- */

struct metrics_text {
	char *buf;
	size_t len, cap;
	const char *last_gauge;
};

static void put(struct metrics_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct metrics_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->len)
			break;
		t->cap = t->cap * 2 + (size_t)(n > 0 ? n : 0);
		t->buf = xrealloc(t->buf, t->cap);
	}
	t->len += (size_t)n;
}

/* A label value with \, " and newline escaped, as the format requires. */
static void put_value(struct metrics_text *t, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			put(t, "\\\\");
		else if (*v == '"')
			put(t, "\\\"");
		else if (*v == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *v);
	}
}

static void put_labels(struct metrics_text *t, const struct family *f, const struct series *s,
                       const char *le)
{
	bool any = false;

	if (f->label1 == NULL && le == NULL)
		return;
	put(t, "{");
	if (f->label1 != NULL) {
		put(t, "%s=\"", f->label1);
		put_value(t, s->l1);
		put(t, "\"");
		any = true;
	}
	if (f->label2 != NULL) {
		put(t, ",%s=\"", f->label2);
		put_value(t, s->l2);
		put(t, "\"");
	}
	if (le != NULL)
		put(t, "%sle=\"%s\"", any ? "," : "", le);
	put(t, "}");
}

static void render_family(struct metrics_text *t, const struct family *f)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
	    f->type == F_COUNTER ? "counter" : "histogram");
	for (int i = 0; i < f->nseries; i++) {
		const struct series *s = &f->series[i];

		if (f->type == F_COUNTER) {
			put(t, "%s", f->name);
			put_labels(t, f, s, NULL);
			put(t, " %.17g\n", s->value);
			continue;
		}
		unsigned long long cumulative = 0;
		char le[32];

		for (int b = 0; b < NBUCKETS; b++) {
			cumulative += s->counts[b];
			snprintf(le, sizeof(le), "%g", buckets[b]);
			put(t, "%s_bucket", f->name);
			put_labels(t, f, s, le);
			put(t, " %llu\n", cumulative);
		}
		put(t, "%s_bucket", f->name);
		put_labels(t, f, s, "+Inf");
		put(t, " %llu\n%s_sum", s->n, f->name);
		put_labels(t, f, s, NULL);
		put(t, " %.17g\n%s_count", s->sum, f->name);
		put_labels(t, f, s, NULL);
		put(t, " %llu\n", s->n);
	}
}

void metrics_gauge(struct metrics_text *t, const char *name, const char *help, const char *label,
                   const char *value, double v)
{
	if (t->last_gauge == NULL || strcmp(t->last_gauge, name) != 0) {
		put(t, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
		t->last_gauge = name;
	}
	put(t, "%s", name);
	if (label != NULL) {
		put(t, "{%s=\"", label);
		put_value(t, value);
		put(t, "\"}");
	}
	put(t, " %.17g\n", v);
}

char *metrics_render(enum metrics_audience audience,
                     void (*extra)(struct metrics_text *t, void *arg), void *arg)
{
	struct metrics_text t = {NULL, 0, 4096, NULL};

	t.buf = xmalloc(t.cap);
	t.buf[0] = '\0';
	pthread_mutex_lock(&lock);
	for (int i = 0; i < M_COUNT; i++) {
		if (!families[i].tenant || audience == METRICS_OPERATOR)
			render_family(&t, &families[i]);
	}
	pthread_mutex_unlock(&lock);
	if (extra != NULL)
		extra(&t, arg);
	return t.buf;
}
