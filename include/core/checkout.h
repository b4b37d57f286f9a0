/*
 * checkout.h — the checkout of an order (guarantees §3), idempotent and never overselling.
 *
 * An idempotent operation run by idem_run() (idem_op.h), which claims the key, runs and retries
 * the transaction, stores the answer and releases the key; checkout supplies:
 * 1. The path (flag checkout.async_enabled), chosen once after the claim.
 * 2. The transaction's work: lock the order (must be pending), authorize the payment, write
 *    PaymentAuthorized to the outbox, move the order to payment_authorized and — last, to hold
 *    the hot row lock for the shortest time — take the stock of every line with a conditional
 *    UPDATE. On the async path the idempotent answer (202) commits in the same transaction.
 * 3. Sync path: after the commit, the event's handler runs inline through events_run(), exactly
 *    as the worker would run it, and the 200 answer commits with the handler's effects.
 * Outcomes the business logic decides (402, 409 insufficient_inventory / order_not_pending) are
 * stored with the key; failures before any effect release it.
 */
#ifndef TERMINUS_CHECKOUT_H
#define TERMINUS_CHECKOUT_H

#include <stdbool.h>
#include "err.h"
#include "idem.h"

struct events_env;
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

/*
 * The database's ceiling for this work (make bench): a pgbench script that runs, per
 * transaction, the statements of one asynchronous checkout as checkout_execute() sends them —
 * the same strings, $n replaced by pgbench variables — in the same two transactions (the
 * idempotency claim, then the checkout with the stored answer). Not replayed: the HTTP and JSON
 * work, the read-back of the order for the answer (its body here is a constant), and the
 * pipelining of BEGIN with the scope. Each transaction first takes the next prepared row of
 * pgbench_checkout, which checkout_pgbench_setup() writes: one more round trip than the API
 * makes, so the ceiling is, if anything, low.
 */
#include <stdio.h>
void checkout_pgbench_script(FILE *out);
/* SQL (for psql -v store=SLUG) that fills pgbench_checkout from the store's pending orders. */
void checkout_pgbench_setup(FILE *out);

/* True with an answer to send (stored or replayed); false with e for answers that are not
 * stored (404, 409 in use, 422, 5xx). */
bool checkout_execute(const struct events_env *env, struct db_conn *c,
                      const struct checkout_input *in, struct idem_answer *out,
                      struct err *e) MUST_CHECK;

#endif
