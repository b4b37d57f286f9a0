/*
 * events.c — event handlers and the runner shared by the API and the worker (see events.h).
 *
 * Handlers that call outside parties (PaymentAuthorized: the payment provider's capture) never
 * hold a transaction open across the call: they call first, keyed by the event id, then write.
 * If the runner dies between the call and the commit, the next runner repeats the call — the
 * provider sees the same idempotency key and does nothing twice — and then commits the effects.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "events.h"
#include "flags.h"
#include "log.h"
#include "orders.h"
#include "provider.h"
#include "banned.h"

typedef bool (*event_handler_fn)(const struct events_env *env, struct db_conn *c,
                                 const struct outbox_event *ev, events_hook_fn hook, void *arg,
                                 bool *held, struct err *e);

struct event_type {
	const char *name;
	event_handler_fn run;
};

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

static struct db_stmt st_capture = DB_STMT(
        "events_payment_capture", "UPDATE payments SET status = 'captured', updated_at = now() "
                                  "WHERE id = $1 AND store_id = $2 AND status = 'authorized'");

/*
 * PaymentAuthorized: capture the payment at the provider, then mark it captured and the order
 * confirmed. Payload: {"order_id","payment_id","amount_cents"}.
 */
static bool payment_authorized(const struct events_env *env, struct db_conn *c,
                               const struct outbox_event *ev, events_hook_fn hook, void *arg,
                               bool *held, struct err *e)
{
	const char *order_id = json_string_value(json_object_get(ev->payload, "order_id"));
	const char *payment_id = json_string_value(json_object_get(ev->payload, "payment_id"));
	long long amount = json_integer_value(json_object_get(ev->payload, "amount_cents"));
	char subject[64];
	bool fail = false, changed = false;
	PGresult *r = NULL;

	if (order_id == NULL || payment_id == NULL) {
		err_internal(e, "PaymentAuthorized event without order_id/payment_id");
		return false;
	}
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
	r = db_exec(c, &st_capture, DB_PARAMS(payment_id, ev->store_id), e);
	if (r == NULL)
		goto fail;
	PQclear(r);
	if (!orders_transition(c, ev->store_id, order_id, "payment_authorized", "confirmed",
	                       "payment captured", &changed, e))
		goto fail;
	if (!changed) {
		/* TODO(issue 3): a cancel won the race; refund the capture (compensation). */
		log_warn("order %s left payment_authorized before capture completed", order_id);
	}
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

static const struct event_type event_types[] = {
        {EVENT_PAYMENT_AUTHORIZED, payment_authorized},
};

bool events_type_known(const char *type)
{
	for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++) {
		if (strcmp(event_types[i].name, type) == 0)
			return true;
	}
	return false;
}

bool events_run(const struct events_env *env, struct db_conn *c, const struct outbox_event *ev,
                events_hook_fn hook, void *hook_arg, enum events_outcome *out, struct err *e)
{
	const struct event_type *t = NULL;
	struct err attempt = ERR_INIT;
	bool held = false, dead = false;

	for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++) {
		if (strcmp(event_types[i].name, ev->type) == 0)
			t = &event_types[i];
	}
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
	if (!outbox_fail(c, ev, env->owner, attempt.message, env->retry_base_ms, env->max_attempts,
	                 &dead, e)) {
		err_release(&attempt);
		return false;
	}
	err_release(&attempt);
	*out = dead ? EVENTS_DEAD : EVENTS_RETRY;
	return true;
}
