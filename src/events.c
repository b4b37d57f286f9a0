/*
 * events.c — event handlers and the runner shared by the API and the worker (see events.h).
 *
 * Every current handler calls an outside party (the payment provider), so every one follows
 * the lease pattern: the runner holds a lease on the event, the handler makes its outside call
 * first — keyed by the event id, never inside a transaction — and then, in one transaction,
 * applies its database effects and completes the event, only while the lease is still its own.
 * A runner that dies between the call and the commit leaves the event to the next runner, which
 * repeats the call (the provider sees the same key and does nothing twice) and commits.
 *
 *   type                     outside call        effects (one transaction)
 *   PaymentAuthorized        capture             payment captured, order confirmed
 *   PaymentVoidRequested     void                —
 *   PaymentRefundRequested   refund              —
 *
 * Compensation runs in the transaction that marks an event dead: for PaymentAuthorized the
 * payment is voided (a PaymentVoidRequested event tells the provider), the stock goes back and
 * the order becomes payment_failed.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "db.h"
#include "events.h"
#include "flags.h"
#include "log.h"
#include "orders.h"
#include "payments.h"
#include "provider.h"
#include "banned.h"

typedef bool (*event_handler_fn)(const struct events_env *env, struct db_conn *c,
                                 const struct outbox_event *ev, events_hook_fn hook, void *arg,
                                 bool *held, struct err *e);
/* Runs inside the transaction that marks the event dead. */
typedef bool (*event_compensate_fn)(struct db_conn *c, const struct outbox_event *ev,
                                    const char *why, struct err *e);

struct event_type {
	const char *name;
	event_handler_fn run;
	event_compensate_fn compensate; /* NULL: nothing to undo */
};

/* The common end of every handler: complete the event (if the lease is still ours), run the
 * caller's hook, commit. The transaction is open on entry and closed on return. */
static bool finish(const struct events_env *env, struct db_conn *c, const struct outbox_event *ev,
                   events_hook_fn hook, void *arg, bool *held, struct err *e)
{
	if (!outbox_complete(c, ev->id, env->owner, held, e))
		goto fail;
	if (!*held) {
		db_rollback(c);
		return true;
	}
	if (hook != NULL && !hook(c, arg, e))
		goto fail;
	return db_commit(c, e);
fail:
	db_rollback(c);
	return false;
}

static bool chaos_stall(const struct events_env *env, struct db_conn *c,
                        const struct outbox_event *ev, struct err *e)
{
	bool slow = false;

	if (!flags_on(env->flags, c, ev->store_id, FLAG_CHAOS_WORKER_SLOW, ev->id, &slow, e))
		return false;
	if (slow) {
		struct timespec ts = {0, 500 * 1000000L};

		log_info("chaos.worker_slow: stalling 500 ms");
		nanosleep(&ts, NULL);
	}
	return true;
}

static bool payment_event(const struct outbox_event *ev, const char **order_id,
                          const char **payment_id, long long *amount, struct err *e)
{
	*order_id = json_string_value(json_object_get(ev->payload, "order_id"));
	*payment_id = json_string_value(json_object_get(ev->payload, "payment_id"));
	*amount = json_integer_value(json_object_get(ev->payload, "amount_cents"));
	if (*order_id == NULL || *payment_id == NULL) {
		err_internal(e, "%s event without order_id/payment_id", ev->type);
		return false;
	}
	return true;
}

static bool enqueue_payment_event(struct db_conn *c, const struct outbox_event *cause,
                                  const char *type, const char *order_id, const char *payment_id,
                                  long long amount, struct err *e)
{
	json_t *payload =
	        json_pack("{s:s, s:s, s:I, s:s}", "order_id", order_id, "payment_id", payment_id,
	                  "amount_cents", (json_int_t)amount, "cause", cause->id);
	char id[37];
	bool ok = outbox_insert(c, cause->store_id, type, order_id, payload, NULL,
	                        cause->traceparent, id, e);

	json_decref(payload);
	return ok;
}

static struct db_stmt st_pa_state =
        DB_STMT("events_pa_state", "SELECT o.status, p.status FROM orders o "
                                   "LEFT JOIN payments p ON p.id = $2 AND p.store_id = $3 "
                                   "WHERE o.id = $1 AND o.store_id = $3");

/*
 * PaymentAuthorized: capture at the provider, then confirm. The order row is locked first (by
 * the compare-and-set) and the payment second, the same order a cancel takes them in, so the
 * two cannot deadlock; the compare-and-set decides which one wins.
 */
static bool payment_authorized(const struct events_env *env, struct db_conn *c,
                               const struct outbox_event *ev, events_hook_fn hook, void *arg,
                               bool *held, struct err *e)
{
	const char *order_id, *payment_id;
	long long amount;
	char subject[64];
	bool fail = false, changed = false, capturable;
	PGresult *r;

	if (!payment_event(ev, &order_id, &payment_id, &amount, e))
		return false;
	r = db_exec_once(c, ev->store_id, false, &st_pa_state,
	                 DB_PARAMS(order_id, payment_id, ev->store_id), e);
	if (r == NULL)
		return false;
	capturable = PQntuples(r) == 1 && strcmp(db_get(r, 0, 0), "payment_authorized") == 0 &&
	             db_get(r, 0, 1) != NULL && strcmp(db_get(r, 0, 1), "authorized") == 0;
	if (!capturable)
		log_info("nothing to capture for order %s (%s); event completes as a no-op",
		         order_id, PQntuples(r) == 1 ? db_get(r, 0, 0) : "missing");
	PQclear(r);
	if (!capturable)
		return db_begin(c, ev->store_id, false, e) &&
		       finish(env, c, ev, hook, arg, held, e);

	if (!chaos_stall(env, c, ev, e))
		return false;
	/* Per attempt, so a partial rollout fails some attempts of an event, not all of them. */
	snprintf(subject, sizeof(subject), "%s:%d", ev->id, ev->attempts);
	if (!flags_on(env->flags, c, ev->store_id, FLAG_CHAOS_CAPTURE_FAIL, subject, &fail, e))
		return false;
	if (!provider_call(c, PROVIDER_CAPTURE, ev->store_id, payment_id, amount, ev->id, fail, e))
		return false;

	if (!db_begin(c, ev->store_id, false, e))
		return false;
	if (!orders_transition(c, ev->store_id, order_id, "payment_authorized", "confirmed",
	                       "payment captured", &changed, e))
		goto fail;
	if (changed) {
		if (!payments_transition(c, ev->store_id, order_id, "authorized", "captured", NULL,
		                         NULL, &changed, e))
			goto fail;
	} else {
		/* A cancel won between our check and our capture: give the money back. */
		log_warn("order %s was cancelled while its payment was captured; refunding",
		         order_id);
		if (!enqueue_payment_event(c, ev, EVENT_PAYMENT_REFUND, order_id, payment_id,
		                           amount, e))
			goto fail;
	}
	return finish(env, c, ev, hook, arg, held, e);
fail:
	db_rollback(c);
	return false;
}

static bool payment_authorized_compensate(struct db_conn *c, const struct outbox_event *ev,
                                          const char *why, struct err *e)
{
	const char *order_id, *payment_id;
	long long amount;
	char reason[160];
	bool changed = false;

	if (!payment_event(ev, &order_id, &payment_id, &amount, e))
		return false;
	snprintf(reason, sizeof(reason), "capture failed for good: %s", why);
	err_utf8_trim(reason);
	if (!orders_transition(c, ev->store_id, order_id, "payment_authorized", "payment_failed",
	                       reason, &changed, e))
		return false;
	if (!changed)
		return true; /* cancelled or otherwise settled meanwhile: nothing to undo here */
	if (!payments_transition(c, ev->store_id, order_id, "authorized", "voided", NULL, NULL,
	                         &changed, e))
		return false;
	return catalog_restock_order(c, ev->store_id, order_id, "payment_failed", e) &&
	       enqueue_payment_event(c, ev, EVENT_PAYMENT_VOID, order_id, payment_id, amount, e);
}

/* PaymentVoidRequested / PaymentRefundRequested: tell the provider, then complete. */
static bool provider_event(const struct events_env *env, struct db_conn *c,
                           const struct outbox_event *ev, enum provider_op op, events_hook_fn hook,
                           void *arg, bool *held, struct err *e)
{
	const char *order_id, *payment_id;
	long long amount;

	if (!payment_event(ev, &order_id, &payment_id, &amount, e))
		return false;
	if (!provider_call(c, op, ev->store_id, payment_id, amount, ev->id, false, e))
		return false;
	if (!db_begin(c, ev->store_id, false, e))
		return false;
	return finish(env, c, ev, hook, arg, held, e);
}

static bool payment_void(const struct events_env *env, struct db_conn *c,
                         const struct outbox_event *ev, events_hook_fn hook, void *arg, bool *held,
                         struct err *e)
{
	return provider_event(env, c, ev, PROVIDER_VOID, hook, arg, held, e);
}

static bool payment_refund(const struct events_env *env, struct db_conn *c,
                           const struct outbox_event *ev, events_hook_fn hook, void *arg,
                           bool *held, struct err *e)
{
	return provider_event(env, c, ev, PROVIDER_REFUND, hook, arg, held, e);
}

static const struct event_type event_types[] = {
        {EVENT_PAYMENT_AUTHORIZED, payment_authorized, payment_authorized_compensate},
        {EVENT_PAYMENT_VOID, payment_void, NULL},
        {EVENT_PAYMENT_REFUND, payment_refund, NULL},
};

static const struct event_type *find_type(const char *name)
{
	for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++) {
		if (strcmp(event_types[i].name, name) == 0)
			return &event_types[i];
	}
	return NULL;
}

bool events_type_known(const char *type)
{
	return find_type(type) != NULL;
}

/* The last attempt failed: compensate and mark the event dead, in one transaction. */
static bool bury(const struct events_env *env, struct db_conn *c, const struct event_type *t,
                 const struct outbox_event *ev, const char *why, enum events_outcome *out,
                 struct err *e)
{
	bool held = false, dead = false;

	if (!db_begin(c, ev->store_id, false, e))
		return false;
	if (t != NULL && t->compensate != NULL && !t->compensate(c, ev, why, e)) {
		db_rollback(c);
		log_error("compensation of event %s failed: %s; retrying later", ev->id,
		          e->message);
		err_release(e);
		/* Keep it pending (never dead without its compensation); it comes back. */
		if (!outbox_fail(c, ev, env->owner, why, env->retry_base_ms, INT_MAX, &dead, e))
			return false;
		*out = EVENTS_RETRY;
		return true;
	}
	if (!outbox_mark_dead(c, ev, env->owner, why, &held, e)) {
		db_rollback(c);
		return false;
	}
	if (!held) {
		db_rollback(c);
		*out = EVENTS_LEASE_LOST;
		return true;
	}
	if (!db_commit(c, e))
		return false;
	log_error("event %s (%s) is dead after %d attempts: %s", ev->id, ev->type, ev->attempts + 1,
	          why);
	*out = EVENTS_DEAD;
	return true;
}

bool events_run(const struct events_env *env, struct db_conn *c, const struct outbox_event *ev,
                events_hook_fn hook, void *hook_arg, enum events_outcome *out, struct err *e)
{
	const struct event_type *t = find_type(ev->type);
	struct err attempt = ERR_INIT;
	bool held = false, dead = false, ok;

	if (t != NULL && t->run(env, c, ev, hook, hook_arg, &held, &attempt)) {
		*out = held ? EVENTS_DONE : EVENTS_LEASE_LOST;
		return true;
	}
	if (t == NULL)
		err_internal(&attempt, "unknown event type %s", ev->type);
	log_warn("event %s (%s) attempt %d failed: %s", ev->id, ev->type, ev->attempts + 1,
	         attempt.message);
	if (!db_conn_ok(c)) {
		/* Cannot even record the failure: the lease lapses and the event is retried. */
		*e = attempt;
		return false;
	}
	if (ev->attempts + 1 >= env->max_attempts) {
		ok = bury(env, c, t, ev, attempt.message, out, e);
	} else {
		ok = outbox_fail(c, ev, env->owner, attempt.message, env->retry_base_ms,
		                 env->max_attempts, &dead, e);
		*out = dead ? EVENTS_DEAD : EVENTS_RETRY;
	}
	err_release(&attempt);
	return ok;
}
