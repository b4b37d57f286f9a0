/*
 * cancel.c — order cancellation with compensation (see cancel.h): the transaction's work and its
 * decision; the key's claim, the retries, storing the answer and releasing the key are
 * idem_run()'s (idem_op.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "catalog.h"
#include "constants.h"
#include "db.h"
#include "events.h"
#include "idem_op.h"
#include "notifier.h"
#include "orders.h"
#include "stores.h"
#include "payments.h"
#include "xalloc.h"
#include "banned.h"

static struct db_stmt st_lock = DB_STMT(
        "cancel_lock", "SELECT status FROM orders WHERE id = $1 AND store_id = $2 FOR UPDATE");

struct step {
	const char *from;
	const char *to;
	const char *payment_from; /* NULL: no payment to move */
	const char *payment_to;
	const char *event; /* provider event to queue */
};

static const struct step steps[] = {
        {"pending", "cancelled", NULL, NULL, NULL},
        {"payment_authorized", "cancelled", "authorized", "voided", EVENT_PAYMENT_VOID},
        {"confirmed", "refunded", "captured", "refunded", EVENT_PAYMENT_REFUND},
};

/* One cancel, as its idem_op callbacks share it. */
struct cancel_run {
	const struct events_env *env;
	const struct cancel_input *in;
	bool queued; /* this attempt queued a provider event (cancel_tx resets it) */
};

/*
 * idem_op.tx, inside the transaction idem_run() began with the order's row lock (lock:
 * st_lock's result). Decides: 404 not stored; 409 order_not_cancellable stored after rolling
 * back; otherwise the step's effects, committed with the 200 answer.
 */
static enum idem_decision cancel_tx(struct db_conn *c, const PGresult *lock, void *arg,
                                    struct idem_answer *answer, struct err *e)
{
	struct cancel_run *run = arg;
	const struct cancel_input *in = run->in;
	const char *store_id = in->store->id;
	const struct step *step = NULL;
	const char *current;
	char reason[240], payment_id[37];
	long long amount = 0;
	bool changed = false;
	json_t *order = NULL;

	run->queued = false;
	if (PQntuples(lock) == 0) {
		err_set(e, 404, "not_found", "no order %s in this store", in->order_id);
		return IDEM_NOT_STORED;
	}
	current = db_get(lock, 0, 0);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (strcmp(steps[i].from, current) == 0)
			step = &steps[i];
	}
	if (step == NULL) {
		struct err refusal = ERR_INIT;

		/* Nothing changed; the refusal is a decided outcome and is stored. */
		err_set(&refusal, 409, "order_not_cancellable", "the order is %s", current);
		err_detail(&refusal, "status", json_string(current));
		answer->status = 409;
		answer->body = error_body(in->request_id, &refusal);
		err_release(&refusal);
		return IDEM_REFUSED;
	}
	snprintf(reason, sizeof(reason), "cancelled by %s%s%s", in->actor,
	         in->reason != NULL ? ": " : "", in->reason != NULL ? in->reason : "");
	err_utf8_trim(reason);
	/* The order row is locked: these moves cannot race a capture's. */
	if (!orders_transition(c, store_id, in->order_id, step->from, step->to, reason,
	                       in->traceparent, &changed, e))
		return IDEM_ERROR;
	if (step->payment_from != NULL) {
		if (!payments_transition(c, store_id, in->order_id, step->payment_from,
		                         step->payment_to, payment_id, &amount, &changed, e))
			return IDEM_ERROR;
		if (!catalog_restock_order(c, store_id, in->order_id, step->to, e))
			return IDEM_ERROR;
		if (changed) {
			if (!events_enqueue_payment(c, store_id, step->event, in->order_id,
			                            payment_id, amount, NULL, in->traceparent, e))
				return IDEM_ERROR;
			run->queued = true;
		}
	}
	if (!orders_get(c, store_id, in->order_id, &order, e))
		return IDEM_ERROR;
	if (order == NULL) {
		err_internal(e, "order %s vanished during cancel", in->order_id);
		return IDEM_ERROR;
	}
	answer->status = 200;
	answer->body = xjson_dumps(order, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(order);
	return IDEM_DECIDED;
}

/* idem_op.after_commit: a queued void or refund wakes the workers, after the commit (decision
 * 0005). */
static void wake_workers(void *arg)
{
	struct cancel_run *run = arg;

	if (run->queued)
		notifier_poke(run->env->notifier);
}

bool cancel_execute(const struct events_env *env, struct db_conn *c, const struct cancel_input *in,
                    struct idem_answer *out, struct err *e)
{
	const char *lock_params[] = {in->order_id, in->store->id};
	const struct idem_op op = {
	        .name = "cancel",
	        .store_id = in->store->id,
	        .key = in->idempotency_key,
	        .fingerprint = in->fingerprint,
	        .first = &st_lock,
	        .nfirst = 2,
	        .first_params = lock_params,
	        .tx = cancel_tx,
	        .after_commit = wake_workers,
	};
	struct cancel_run run = {env, in, false};

	return idem_run(c, &op, &run, out, e);
}
