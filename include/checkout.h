/*
 * checkout.h — the checkout of an order (DESIGN §3), idempotent and never overselling.
 *
 * 1. idem_begin(): the key is ours, in flight, a replay, a mismatch (422) or busy (409).
 * 2. One transaction: lock the order (must be pending), authorize the payment, move the order to
 *    payment_authorized, write PaymentAuthorized to the outbox, and — last, to hold the hot row
 *    lock for the shortest time — take the stock of every line with a conditional UPDATE.
 *    On the async path the idempotent answer (202) commits in the same transaction.
 * 3. Sync path: the event's handler runs inline through events_run(), exactly as the worker
 *    would run it, and the 200 answer commits with the handler's effects.
 * Outcomes the business logic decides (402, 409 insufficient_inventory / order_not_pending) are
 * stored with the key; failures before any effect release it.
 */
#ifndef TERMINUS_CHECKOUT_H
#define TERMINUS_CHECKOUT_H

#include <stdbool.h>
#include "err.h"
#include "idem.h"

struct app;
struct db_conn;
struct store_ref;

struct checkout_input {
	const struct store_ref *store;
	const char *order_id;
	const char *idempotency_key;
	const char *fingerprint;
	const char *payment_token;
	const char *request_id;
	const char *traceparent; /* may be NULL */
};

/* True with an answer to send (stored or replayed); false with e for answers that are not
 * stored (404, 409 in use, 422, 5xx). */
bool checkout_execute(struct app *app, struct db_conn *c, const struct checkout_input *in,
                      struct idem_answer *out, struct err *e) MUST_CHECK;

#endif
