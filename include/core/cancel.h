/*
 * cancel.h — cancelling an order, with compensation (guarantees §3), idempotent like checkout.
 *
 * One transaction locks the order and, by its status:
 *   pending             → cancelled;
 *   payment_authorized  → payment voided, stock back, cancelled, PaymentVoidRequested queued;
 *   confirmed           → payment refunded, stock back, refunded, PaymentRefundRequested queued;
 *   anything else       → 409 order_not_cancellable (stored with the key).
 * The provider hears of the void or refund through the outbox, at least once, keyed by event id.
 * A capture racing this cancel takes the same order row lock first, so exactly one wins; if the
 * capture's provider call already went out, its handler queues the refund itself.
 */
#ifndef TERMINUS_CANCEL_H
#define TERMINUS_CANCEL_H

#include <stdbool.h>
#include "err.h"
#include "idem.h"

struct events_env;
struct db_conn;
struct store_ref;

struct cancel_input {
	const struct store_ref *store;
	const char *order_id;
	const char *idempotency_key;
	const char *fingerprint;
	const char *request_id;
	const char *actor;
	const char *reason; /* may be NULL */
	const char *traceparent;
};

bool cancel_execute(const struct events_env *env, struct db_conn *c, const struct cancel_input *in,
                    struct idem_answer *out, struct err *e) MUST_CHECK;

#endif
