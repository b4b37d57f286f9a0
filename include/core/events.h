/*
 * events.h — outbox event types and the one runner both the API and the worker use.
 *
 * Each event type is a row of a table in events.c: its name and its handler. A handler first
 * makes its calls to outside parties (idempotent by event id, no transaction open), then in one
 * transaction applies its database effects and completes the event — only while the runner still
 * holds the lease — and commits. The synchronous checkout path and the worker call
 * events_run(); the flag checkout.async_enabled decides where it runs, never what runs.
 *
 * A failed attempt is recorded with outbox_fail(): retried later with backoff, or dead after
 * TERMINUS_MAX_ATTEMPTS, when the type's compensation commits together with the burial.
 * Handlers are batch-shaped: the worker runs a claimed batch per store and type; the sync
 * checkout runs a batch of one.
 */
#ifndef TERMINUS_EVENTS_H
#define TERMINUS_EVENTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include "err.h"
#include "outbox.h"

struct db_conn;
struct flags;

#define EVENT_PAYMENT_AUTHORIZED "PaymentAuthorized"
#define EVENT_PAYMENT_VOID       "PaymentVoidRequested"
#define EVENT_PAYMENT_REFUND     "PaymentRefundRequested"
#define EVENTS_BATCH_MAX         32

/* Extra work that must commit together with the event (the sync checkout stores its
 * idempotent answer this way). Runs inside the handler's transaction. */
typedef bool (*events_hook_fn)(struct db_conn *c, void *arg, struct err *e);

struct events_env {
	struct flags *flags;
	const char *owner; /* lease holder name */
	int retry_base_ms;
	int max_attempts;
	const atomic_bool
	        *stop; /* set when the process stops (cuts chaos stalls short); may be NULL */
	struct notifier *notifier; /* wakes workers after events commit; may be NULL */
};

enum events_outcome {
	EVENTS_DONE,       /* effects and completion committed */
	EVENTS_RETRY,      /* the attempt failed; scheduled again */
	EVENTS_DEAD,       /* the attempt failed for the last time */
	EVENTS_LEASE_LOST, /* another runner took the event over; nothing committed */
};

/* Runs ev once. False only when even recording the outcome failed (database down): the lease
 * then lapses and another runner retries. */
bool events_run(const struct events_env *env, struct db_conn *c, const struct outbox_event *ev,
                events_hook_fn hook, void *hook_arg, enum events_outcome *out,
                struct err *e) MUST_CHECK;

/* Runs n (≤ EVENTS_BATCH_MAX) events of one store and one type together: their outside calls
 * share one request and their settling transaction one commit, so a batch costs a handful of
 * commits instead of a handful per event. hook only with n == 1. outs[i] per event; false only
 * when the batch could not even record its outcome (database gone): the leases then lapse. */
bool events_run_batch(const struct events_env *env, struct db_conn *c,
                      const struct outbox_event *evs, int n, events_hook_fn hook, void *hook_arg,
                      enum events_outcome *outs, struct err *e) MUST_CHECK;

bool events_type_known(const char *type);

/* Queues a payment event (PaymentVoidRequested / PaymentRefundRequested) in the caller's
 * transaction, with the payload every payment handler reads; cause (an event id) may be NULL. */
bool events_enqueue_payment(struct db_conn *c, const char *store_id, const char *type,
                            const char *order_id, const char *payment_id, long long amount_cents,
                            const char *cause, const char *traceparent, struct err *e) MUST_CHECK;

#endif
