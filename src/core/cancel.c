/*
 * cancel.c — order cancellation with compensation (see cancel.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "catalog.h"
#include "constants.h"
#include "db.h"
#include "events.h"
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

enum outcome { CANCEL_DONE, CANCEL_REFUSED, CANCEL_NOT_FOUND, CANCEL_ERROR };

static enum outcome cancel_tx(struct db_conn *c, const struct cancel_input *in, char **body,
                              int *status, bool *queued, struct err *e)
{
	const char *store_id = in->store->id;
	const struct step *step = NULL;
	char current[32], reason[240], payment_id[37];
	long long amount = 0;
	bool changed = false;
	json_t *order = NULL;
	PGresult *r;

	*queued = false;
	if (!db_begin(c, store_id, false, e))
		return CANCEL_ERROR;
	r = db_exec(c, &st_lock, DB_PARAMS(in->order_id, store_id), e);
	if (r == NULL)
		goto rollback;
	if (PQntuples(r) == 0) {
		PQclear(r);
		db_rollback(c);
		return CANCEL_NOT_FOUND;
	}
	snprintf(current, sizeof(current), "%s", db_get(r, 0, 0));
	PQclear(r);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (strcmp(steps[i].from, current) == 0)
			step = &steps[i];
	}
	if (step == NULL) {
		struct err refusal = ERR_INIT;

		db_rollback(c);
		err_set(&refusal, 409, "order_not_cancellable", "the order is %s", current);
		err_detail(&refusal, "status", json_string(current));
		*status = 409;
		*body = error_body(in->request_id, &refusal);
		err_release(&refusal);
		return CANCEL_REFUSED;
	}
	snprintf(reason, sizeof(reason), "cancelled by %s%s%s", in->actor,
	         in->reason != NULL ? ": " : "", in->reason != NULL ? in->reason : "");
	err_utf8_trim(reason);
	/* The order row is locked: these moves cannot race a capture's. */
	if (!orders_transition(c, store_id, in->order_id, step->from, step->to, reason,
	                       in->traceparent, &changed, e))
		goto rollback;
	if (step->payment_from != NULL) {
		if (!payments_transition(c, store_id, in->order_id, step->payment_from,
		                         step->payment_to, payment_id, &amount, &changed, e))
			goto rollback;
		if (!catalog_restock_order(c, store_id, in->order_id, step->to, e))
			goto rollback;
		if (changed) {
			if (!events_enqueue_payment(c, store_id, step->event, in->order_id,
			                            payment_id, amount, NULL, in->traceparent, e))
				goto rollback;
			*queued = true;
		}
	}
	if (!orders_get(c, store_id, in->order_id, &order, e) || order == NULL)
		goto rollback;
	*body = xjson_dumps(order, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(order);
	*status = 200;
	if (!idem_complete(c, store_id, in->idempotency_key, 200, *body, e) || !db_commit(c, e))
		goto rollback;
	return CANCEL_DONE;
rollback:
	if (e->status == 0)
		err_internal(e, "order %s vanished during cancel", in->order_id);
	free(*body);
	*body = NULL;
	db_rollback(c);
	return CANCEL_ERROR;
}

bool cancel_execute(const struct events_env *env, struct db_conn *c, const struct cancel_input *in,
                    struct idem_answer *out, struct err *e)
{
	bool owned = false, queued = false;
	enum outcome res = CANCEL_ERROR;
	char *body = NULL;
	int status = 0;

	if (!idem_start(c, in->store->id, in->idempotency_key, in->fingerprint, &owned, out, e))
		return false;
	if (!owned)
		return true;
	for (int attempt = 0; attempt <= DB_TX_RETRIES; attempt++) {
		res = cancel_tx(c, in, &body, &status, &queued, e);
		if (res != CANCEL_ERROR || !db_is_retryable(e) || !db_conn_ok(c))
			break;
		err_release(e);
	}
	switch (res) {
	case CANCEL_DONE:
		if (queued)
			notifier_poke(env->notifier);
		break;
	case CANCEL_REFUSED:
		/* Nothing changed; the refusal is a decided outcome and is stored. */
		if (!db_begin(c, in->store->id, false, e) ||
		    !idem_complete(c, in->store->id, in->idempotency_key, status, body, e) ||
		    !db_commit(c, e)) {
			db_rollback(c);
			goto release_key;
		}
		break;
	case CANCEL_NOT_FOUND:
		err_set(e, 404, "not_found", "no order %s in this store", in->order_id);
		goto release_key;
	case CANCEL_ERROR:
		goto release_key;
	}
	out->status = status;
	out->body = body;
	return true;
release_key:
	free(body);
	if (db_conn_ok(c))
		idem_release(c, in->store->id, in->idempotency_key);
	return false;
}
