/*
 * events.c — event handlers and the runner shared by the API and the worker (see events.h).
 *
 * The payment handlers call an outside party (the payment provider), so they follow the lease
 * pattern: the runner holds a lease on the event, the handler makes its outside call first —
 * keyed by the event id, never inside a transaction — and then, in one transaction, applies its
 * database effects and completes the event, only while the lease is still its own. (The
 * analytics handler has no outside call; it completes its events the same way.)
 * A runner that dies between the call and the commit leaves the event to the next runner, which
 * repeats the call (the provider sees the same key and does nothing twice) and commits.
 *
 *   type                     outside call        effects (one transaction)
 *   PaymentAuthorized        capture             payment captured, order confirmed
 *   PaymentVoidRequested     void                —
 *   PaymentRefundRequested   refund              —
 *   OrderStatusChanged       —                   counted in the store's analytics (once)
 *
 * Handlers work on batches (one store, one type): one read, one provider request, one settling
 * statement for up to EVENTS_BATCH_MAX events. Commits dominate the cost of an event on this
 * class of machine (fsync), so a batch of eight costs about what one event cost alone. An event
 * that fails is taken out of its batch and retried on its own schedule.
 *
 * Compensation runs in the transaction that marks an event dead: for PaymentAuthorized the
 * payment is voided (a PaymentVoidRequested event tells the provider), the stock goes back and
 * the order becomes payment_failed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uuid/uuid.h>

#include "analytics.h"
#include "catalog.h"
#include "db.h"
#include "events.h"
#include "flags.h"
#include "log.h"
#include "metrics.h"
#include "orders.h"
#include "payments.h"
#include "provider.h"
#include "trace.h"
#include "xalloc.h"
#include "banned.h"

/* What one event's attempt came to inside a batch. */
struct attempt {
	bool failed;
	bool held; /* completed while the lease was ours */
	char error[256];
};

typedef void (*event_batch_fn)(const struct events_env *env, struct db_conn *c,
                               const struct outbox_event *evs, int n, events_hook_fn hook,
                               void *arg, struct attempt *res);
/* Runs inside the transaction that marks the event dead. */
typedef bool (*event_compensate_fn)(struct db_conn *c, const struct outbox_event *ev,
                                    const char *why, struct err *e);

struct event_type {
	const char *name;
	event_batch_fn run;
	event_compensate_fn compensate; /* NULL: nothing to undo */
	int attempts_factor;            /* attempts before dead: TERMINUS_MAX_ATTEMPTS times this */
};

/* Per-type limits (guarantees §4). A capture that keeps failing is given up after
 * TERMINUS_MAX_ATTEMPTS and compensated; a void or refund has nothing to fall back on — the
 * customer's money is at stake — so it is retried four times as often before a person must look. */
static int max_attempts_of(const struct events_env *env, const struct event_type *t)
{
	return env->max_attempts * (t != NULL ? t->attempts_factor : 1);
}

static void fail_one(struct attempt *a, const char *why)
{
	a->failed = true;
	snprintf(a->error, sizeof(a->error), "%s", why);
	err_utf8_trim(a->error);
}

static void fail_all(struct attempt *res, int n, const bool *skip, const struct err *e)
{
	for (int i = 0; i < n; i++) {
		if (skip == NULL || !skip[i])
			fail_one(&res[i], e->message);
	}
}

struct payment_ref {
	const char *order_id;
	const char *payment_id;
	long long amount;
};

static bool payment_ref(const struct outbox_event *ev, struct payment_ref *p)
{
	p->order_id = json_string_value(json_object_get(ev->payload, "order_id"));
	p->payment_id = json_string_value(json_object_get(ev->payload, "payment_id"));
	p->amount = json_integer_value(json_object_get(ev->payload, "amount_cents"));
	return p->order_id != NULL && p->payment_id != NULL;
}

/*
 * Runs a batch's settling statement: without a hook as its own transaction (one round trip,
 * one commit: db_exec_once); with one, inside a transaction left open for the hook.
 */
static PGresult *settle_exec(struct db_conn *c, const char *store_id, events_hook_fn hook,
                             struct db_stmt *st, int nparams, const char *const *params,
                             struct err *e)
{
	if (hook == NULL)
		return db_exec_once(c, store_id, false, st, nparams, params, e);
	return db_begin(c, store_id, false, e) ? db_exec(c, st, nparams, params, e) : NULL;
}

/*
 * Reads a settling statement's rows (event id, completed by us, …) into res and frees r; with a
 * hook (a batch of one) runs it and commits, so the caller's work commits with the event or
 * nothing does. r NULL: the statement failed as e says, and every event not skipped failed.
 */
static void settle_finish(struct db_conn *c, PGresult *r, const struct outbox_event *evs, int n,
                          const bool *skip, events_hook_fn hook, void *arg, struct attempt *res,
                          struct err *e)
{
	if (r == NULL) {
		if (hook != NULL)
			db_rollback(c);
		fail_all(res, n, skip, e);
		err_release(e);
		return;
	}
	for (int row = 0; row < PQntuples(r); row++) {
		for (int i = 0; i < n; i++) {
			if (!skip[i] && strcmp(evs[i].id, db_get(r, row, 0)) == 0)
				res[i].held = db_get_bool(r, row, 1);
		}
	}
	PQclear(r);
	if (hook == NULL)
		return;
	if (!res[0].held) {
		db_rollback(c);
	} else if (!hook(c, arg, e) || !db_commit(c, e)) {
		db_rollback(c);
		fail_one(&res[0], e->message);
		res[0].held = false;
	}
	err_release(e);
}

/*
 * The settling transaction of a batch as one statement, so that without a hook it costs one
 * round trip and one commit (db_exec_once). Per event: complete it if our lease still holds it
 * (d); only then, for events whose capture went through, confirm the order (o: a compare-and-set
 * that locks the order row first, as a cancel does), add the timeline entry (t) and mark the
 * payment captured (p); and where a cancel won the order meanwhile, queue the refund of the
 * money the provider just captured (r). It spans the outbox, the order and the payment on
 * purpose: together they are the handler's atomic unit. Events with capture = false (no-ops,
 * void and refund requests) are only completed.
 */
static struct db_stmt st_settle = DB_STMT(
        "events_settle",
        "WITH x AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bool[], $4::uuid[], "
        "                                $5::text[], $8::text[]) "
        "           AS x(event_id, order_id, capture, refund_id, refund_payload, traceparent)), "
        "d AS (UPDATE outbox_events e SET status = 'done', done_at = now(), "
        "      attempts = e.attempts + 1, claimed_until = NULL, last_error = NULL "
        "      FROM x WHERE e.id = x.event_id AND e.store_id = $6 AND e.status = 'pending' "
        "        AND e.claimed_by = $7 RETURNING e.id), "
        "o AS (UPDATE orders SET status = 'confirmed', updated_at = now() "
        "      FROM x JOIN d ON d.id = x.event_id "
        "      WHERE orders.id = x.order_id AND x.capture AND orders.store_id = $6 "
        "        AND orders.status = 'payment_authorized' RETURNING orders.id), "
        "t AS (INSERT INTO order_events (order_id, store_id, from_status, to_status, reason, "
        "                                traceparent) "
        "      SELECT DISTINCT ON (o.id) o.id, $6, 'payment_authorized', 'confirmed', "
        "             'payment captured', nullif(x.traceparent, '') "
        "      FROM o JOIN x ON x.order_id = o.id AND x.capture), "
        "p AS (UPDATE payments SET status = 'captured', updated_at = now() "
        "      WHERE order_id IN (SELECT id FROM o) AND store_id = $6 AND status = 'authorized' "
        "      RETURNING id), "
        "r AS (INSERT INTO outbox_events (id, store_id, type, aggregate_id, payload, "
        "                                 traceparent) "
        "      SELECT x.refund_id, $6, 'PaymentRefundRequested', x.order_id, "
        "             x.refund_payload::jsonb, nullif(x.traceparent, '') "
        "      FROM x JOIN d ON d.id = x.event_id "
        "      WHERE x.capture AND NOT EXISTS (SELECT 1 FROM o WHERE o.id = x.order_id) "
        "      RETURNING aggregate_id) "
        "SELECT x.event_id, d.id IS NOT NULL, "
        "       EXISTS (SELECT 1 FROM r WHERE r.aggregate_id = x.order_id), x.order_id "
        "FROM x LEFT JOIN d ON d.id = x.event_id");

/* Settles events[i] for every i with !skip[i]; capture[i] says whose capture went through. */
static void settle(const struct events_env *env, struct db_conn *c, const struct outbox_event *evs,
                   int n, const bool *skip, const bool *capture, events_hook_fn hook, void *arg,
                   struct attempt *res)
{
	const char *ids[EVENTS_BATCH_MAX], *orders[EVENTS_BATCH_MAX], *flags[EVENTS_BATCH_MAX];
	const char *refund_ids[EVENTS_BATCH_MAX], *payloads[EVENTS_BATCH_MAX];
	const char *traces[EVENTS_BATCH_MAX];
	char uuids[EVENTS_BATCH_MAX][37];
	char *texts[EVENTS_BATCH_MAX];
	char *a_ids, *a_orders, *a_flags, *a_refunds, *a_payloads, *a_traces;
	int m = 0;
	struct err e = ERR_INIT;
	PGresult *r;

	for (int i = 0; i < n; i++) {
		struct payment_ref p = {NULL, NULL, 0};
		json_t *refund;
		uuid_t u;

		if (skip[i])
			continue;
		if (!payment_ref(&evs[i], &p))
			p.order_id = evs[i].aggregate_id;
		refund = json_pack("{s:s, s:s?, s:I, s:s}", "order_id", p.order_id, "payment_id",
		                   p.payment_id, "amount_cents", (json_int_t)p.amount, "cause",
		                   evs[i].id);
		texts[m] = xjson_dumps(xjson(refund), JSON_COMPACT);
		json_decref(refund);
		uuid_generate_random(u);
		uuid_unparse_lower(u, uuids[m]);
		ids[m] = evs[i].id;
		orders[m] = p.order_id;
		flags[m] = capture[i] ? "t" : "f";
		refund_ids[m] = uuids[m];
		payloads[m] = texts[m];
		traces[m] = evs[i].traceparent;
		m++;
	}
	if (m == 0)
		return;
	a_ids = db_array(m, ids);
	a_orders = db_array(m, orders);
	a_flags = db_array(m, flags);
	a_refunds = db_array(m, refund_ids);
	a_payloads = db_array(m, payloads);
	a_traces = db_array(m, traces);
	r = settle_exec(c, evs[0].store_id, hook, &st_settle,
	                DB_PARAMS(a_ids, a_orders, a_flags, a_refunds, a_payloads, evs[0].store_id,
	                          env->owner, a_traces),
	                &e);
	free(a_ids);
	free(a_orders);
	free(a_flags);
	free(a_refunds);
	free(a_payloads);
	free(a_traces);
	for (int k = 0; k < m; k++)
		free(texts[k]);
	if (r != NULL) {
		for (int row = 0; row < PQntuples(r); row++) {
			if (!db_get_bool(r, row, 2))
				continue;
			log_warn(
			        "order %s was cancelled while its payment was captured; refund queued",
			        db_get(r, row, 3));
		}
	}
	settle_finish(c, r, evs, n, skip, hook, arg, res, &e);
}

/* chaos.worker_slow (guarantees §5): each event of the batch that falls in the rollout stalls
 * the batch 500 ms before its handler, so at 100 % a worker thread handles two events a second
 * and a modest load builds a backlog. The stall gives way to a stopping worker (env->stop), so a
 * batch of 32 does not hold a shutdown for 16 s: the events are then handled at once. */
static void chaos_stall(const struct events_env *env, struct db_conn *c,
                        const struct outbox_event *evs, int n)
{
	struct err e = ERR_INIT;
	int slow_events = 0;

	for (int i = 0; i < n; i++) {
		bool slow = false;

		if (!flags_on(env->flags, c, evs[i].store_id, FLAG_CHAOS_WORKER_SLOW, evs[i].id,
		              &slow, &e)) {
			err_release(&e);
			break;
		}
		if (slow) {
			log_info("chaos.worker_slow: stalling 500 ms before event %s", evs[i].id);
			slow_events++;
		}
	}
	for (int slice = 0; slice < 10 * slow_events; slice++) {
		struct timespec ts = {0, 50 * 1000000L};

		if (env->stop != NULL && atomic_load(env->stop))
			return;
		nanosleep(&ts, NULL);
	}
}

static struct db_stmt st_pa_state =
        DB_STMT("events_pa_state",
                "SELECT x.i, o.status = 'payment_authorized' AND p.status = 'authorized' "
                "FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS x(order_id, payment_id, i) "
                "JOIN orders o ON o.id = x.order_id AND o.store_id = $3 "
                "JOIN payments p ON p.id = x.payment_id AND p.store_id = $3");

/*
 * PaymentAuthorized: find which orders still wait for their capture (one read), capture those
 * at the provider (one request), settle the batch (one statement). An order that moved on
 * (cancelled, already confirmed, missing) makes its event a no-op that simply completes.
 */
static void payment_authorized(const struct events_env *env, struct db_conn *c,
                               const struct outbox_event *evs, int n, events_hook_fn hook,
                               void *arg, struct attempt *res)
{
	struct payment_ref refs[EVENTS_BATCH_MAX];
	const char *orders[EVENTS_BATCH_MAX], *payments[EVENTS_BATCH_MAX];
	const char *keys[EVENTS_BATCH_MAX];
	long long amounts[EVENTS_BATCH_MAX];
	bool skip[EVENTS_BATCH_MAX], capture[EVENTS_BATCH_MAX];
	const char *store_id = evs[0].store_id;
	struct err e = ERR_INIT;
	char *a_orders, *a_payments;
	int m = 0, calls = 0;
	PGresult *r;

	for (int i = 0; i < n; i++) {
		skip[i] = capture[i] = false;
		if (!payment_ref(&evs[i], &refs[i])) {
			fail_one(&res[i], "PaymentAuthorized event without order_id/payment_id");
			skip[i] = true;
			continue;
		}
		orders[m] = refs[i].order_id;
		payments[m++] = refs[i].payment_id;
	}
	if (m > 0) {
		a_orders = db_array(m, orders);
		a_payments = db_array(m, payments);
		r = db_exec_once(c, store_id, false, &st_pa_state,
		                 DB_PARAMS(a_orders, a_payments, store_id), &e);
		free(a_orders);
		free(a_payments);
		if (r == NULL) {
			fail_all(res, n, skip, &e);
			err_release(&e);
			return;
		}
		/* Rows number the events that parsed, in order; map back to batch positions. */
		for (int row = 0; row < PQntuples(r); row++) {
			long long want = db_get_ll(r, row, 0);

			for (int i = 0, k = 0; i < n; i++) {
				if (skip[i])
					continue;
				if (++k == want)
					capture[i] = db_get_bool(r, row, 1);
			}
		}
		PQclear(r);
	}

	for (int i = 0; i < n; i++) {
		char subject[64];
		bool fail = false;

		if (skip[i] || !capture[i])
			continue;
		/* Per attempt, so a partial rollout fails some attempts of an event, not all. */
		snprintf(subject, sizeof(subject), "%s:%d", evs[i].id, evs[i].attempts);
		if (!flags_on(env->flags, c, store_id, FLAG_CHAOS_CAPTURE_FAIL, subject, &fail,
		              &e)) {
			fail_one(&res[i], e.message);
			err_release(&e);
			skip[i] = true;
		} else if (fail) {
			fail_one(&res[i], "payment provider failed transiently "
			                  "(chaos.payment_capture_fail)");
			skip[i] = true;
		} else {
			payments[calls] = refs[i].payment_id;
			amounts[calls] = refs[i].amount;
			keys[calls++] = evs[i].id;
		}
	}
	if (calls > 0 && !provider_call_batch(c, PROVIDER_CAPTURE, store_id, calls, payments,
	                                      amounts, keys, &e)) {
		for (int i = 0; i < n; i++) {
			if (!skip[i] && capture[i]) {
				fail_one(&res[i], e.message);
				skip[i] = true;
			}
		}
		err_release(&e);
	}
	settle(env, c, evs, n, skip, capture, hook, arg, res);
}

static bool payment_authorized_compensate(struct db_conn *c, const struct outbox_event *ev,
                                          const char *why, struct err *e)
{
	struct payment_ref p;
	char reason[160];
	bool changed = false;

	if (!payment_ref(ev, &p)) {
		err_internal(e, "PaymentAuthorized event without order_id/payment_id");
		return false;
	}
	snprintf(reason, sizeof(reason), "capture failed for good: %s", why);
	err_utf8_trim(reason);
	if (!orders_transition(c, ev->store_id, p.order_id, "payment_authorized", "payment_failed",
	                       reason, ev->traceparent, &changed, e))
		return false;
	if (!changed)
		return true; /* cancelled or otherwise settled meanwhile: nothing to undo here */
	if (!payments_transition(c, ev->store_id, p.order_id, "authorized", "voided", NULL, NULL,
	                         &changed, e) ||
	    !catalog_restock_order(c, ev->store_id, p.order_id, "payment_failed", e))
		return false;
	return events_enqueue_payment(c, ev->store_id, EVENT_PAYMENT_VOID, p.order_id, p.payment_id,
	                              p.amount, ev->id, ev->traceparent, e);
}

bool events_enqueue_payment(struct db_conn *c, const char *store_id, const char *type,
                            const char *order_id, const char *payment_id, long long amount_cents,
                            const char *cause, const char *traceparent, struct err *e)
{
	json_t *payload =
	        json_pack("{s:s, s:s, s:I, s:s?}", "order_id", order_id, "payment_id", payment_id,
	                  "amount_cents", (json_int_t)amount_cents, "cause", cause);
	char id[37];
	bool ok = outbox_insert(c, store_id, type, order_id, payload, NULL, traceparent, id, e);

	json_decref(payload);
	return ok;
}

/* PaymentVoidRequested / PaymentRefundRequested: tell the provider (one request for the batch),
 * then complete the batch. */
static void provider_request(const struct events_env *env, struct db_conn *c,
                             const struct outbox_event *evs, int n, events_hook_fn hook, void *arg,
                             struct attempt *res, enum provider_op op)
{
	const char *payments[EVENTS_BATCH_MAX], *keys[EVENTS_BATCH_MAX];
	long long amounts[EVENTS_BATCH_MAX];
	bool skip[EVENTS_BATCH_MAX], capture[EVENTS_BATCH_MAX];
	struct err e = ERR_INIT;
	int calls = 0;

	for (int i = 0; i < n; i++) {
		struct payment_ref p;

		capture[i] = false;
		skip[i] = !payment_ref(&evs[i], &p);
		if (skip[i]) {
			fail_one(&res[i], "payment event without order_id/payment_id");
			continue;
		}
		payments[calls] = p.payment_id;
		amounts[calls] = p.amount;
		keys[calls++] = evs[i].id;
	}
	if (calls > 0 &&
	    !provider_call_batch(c, op, evs[0].store_id, calls, payments, amounts, keys, &e)) {
		fail_all(res, n, skip, &e);
		err_release(&e);
		return;
	}
	settle(env, c, evs, n, skip, capture, hook, arg, res);
}

static void payment_void(const struct events_env *env, struct db_conn *c,
                         const struct outbox_event *evs, int n, events_hook_fn hook, void *arg,
                         struct attempt *res)
{
	provider_request(env, c, evs, n, hook, arg, res, PROVIDER_VOID);
}

static void payment_refund(const struct events_env *env, struct db_conn *c,
                           const struct outbox_event *evs, int n, events_hook_fn hook, void *arg,
                           struct attempt *res)
{
	provider_request(env, c, evs, n, hook, arg, res, PROVIDER_REFUND);
}

/* OrderStatusChanged: no outside call; completing the batch and counting it in the store's
 * analytics are one statement (analytics.c). */
static void order_status_changed(const struct events_env *env, struct db_conn *c,
                                 const struct outbox_event *evs, int n, events_hook_fn hook,
                                 void *arg, struct attempt *res)
{
	const char *ids[EVENTS_BATCH_MAX];
	bool skip[EVENTS_BATCH_MAX];
	struct err e = ERR_INIT;
	char *a_ids;
	PGresult *r;

	for (int i = 0; i < n; i++) {
		ids[i] = evs[i].id;
		skip[i] = false;
	}
	a_ids = db_array(n, ids);
	r = settle_exec(c, evs[0].store_id, hook, analytics_fold_stmt(),
	                DB_PARAMS(a_ids, evs[0].store_id, env->owner), &e);
	free(a_ids);
	settle_finish(c, r, evs, n, skip, hook, arg, res, &e);
}

static const struct event_type event_types[] = {
        {EVENT_PAYMENT_AUTHORIZED, payment_authorized, payment_authorized_compensate, 1},
        {EVENT_PAYMENT_VOID, payment_void, NULL, 4},
        {EVENT_PAYMENT_REFUND, payment_refund, NULL, 4},
        {EVENT_ORDER_STATUS_CHANGED, order_status_changed, NULL, 4},
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
		/* Never dead without its compensation: keep it pending; it comes back. */
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

/* Records one failed attempt: retry with backoff, or bury after the last. */
static bool record_failure(const struct events_env *env, struct db_conn *c,
                           const struct event_type *t, const struct outbox_event *ev,
                           const char *why, enum events_outcome *out, struct err *e)
{
	int max = max_attempts_of(env, t);
	bool dead = false;

	log_warn("event %s (%s) attempt %d of %d failed: %s", ev->id, ev->type, ev->attempts + 1,
	         max, why);
	if (ev->attempts + 1 >= max)
		return bury(env, c, t, ev, why, out, e);
	if (!outbox_fail(c, ev, env->owner, why, env->retry_base_ms, max, &dead, e))
		return false;
	*out = dead ? EVENTS_DEAD : EVENTS_RETRY;
	return true;
}

/* A PaymentAuthorized event's creation is the checkout's commit (the 202); its completion is
 * the order's confirmation. */
static void count_confirmation(const struct outbox_event *ev, enum events_outcome out)
{
	struct timespec now;

	if (out != EVENTS_DONE || ev->created_at <= 0 ||
	    strcmp(ev->type, EVENT_PAYMENT_AUTHORIZED) != 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	metrics_observe(M_CONFIRM_LATENCY, NULL,
	                (double)now.tv_sec + (double)now.tv_nsec / 1e9 - ev->created_at);
}

/* Log lines about one event of a batch (its retry, its burial) carry its store, id and trace:
 * sets that context, keeping the caller's in *saved to put back. */
static _Thread_local char event_trace[TRACE_ID_LEN + 1];

static void log_event_ctx(const struct outbox_event *ev, struct log_ctx *saved)
{
	struct log_ctx ctx;

	log_ctx_get(saved);
	ctx = *saved;
	trace_id_of(ev->traceparent, event_trace);
	ctx.store = ev->store_id;
	ctx.event_id = ev->id;
	if (event_trace[0] != '\0')
		ctx.trace_id = event_trace;
	log_ctx_set(&ctx);
}

bool events_run_batch(const struct events_env *env, struct db_conn *c,
                      const struct outbox_event *evs, int n, events_hook_fn hook, void *hook_arg,
                      enum events_outcome *outs, struct err *e)
{
	const struct event_type *t = find_type(evs[0].type);
	struct attempt res[EVENTS_BATCH_MAX];
	struct log_ctx saved;
	bool ok = true;

	static const char *const outcome_names[] = {"done", "retry", "dead", "lease_lost"};
	struct timespec t0, t1;

	if (n < 1 || n > EVENTS_BATCH_MAX || (hook != NULL && n != 1))
		abort(); /* programmer error: batches are 1..EVENTS_BATCH_MAX, 1 with a hook */
	memset(res, 0, sizeof(res));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	chaos_stall(env, c, evs, n);
	if (t != NULL)
		t->run(env, c, evs, n, hook, hook_arg, res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_observe(
	        M_EVENT_DURATION, evs[0].type,
	        ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9) / n);
	for (int i = 0; i < n; i++) {
		if (t == NULL)
			fail_one(&res[i], "unknown event type");
		if (!res[i].failed) {
			outs[i] = res[i].held ? EVENTS_DONE : EVENTS_LEASE_LOST;
			metrics_inc(M_EVENTS_HANDLED, evs[i].type, outcome_names[outs[i]]);
			count_confirmation(&evs[i], outs[i]);
			continue;
		}
		if (!db_conn_ok(c)) {
			/* Cannot even record the failure: the lease lapses and it runs again. */
			err_set(e, 503, "database_unavailable", "%s", res[i].error);
			return false;
		}
		log_event_ctx(&evs[i], &saved);
		if (!record_failure(env, c, t, &evs[i], res[i].error, &outs[i], e)) {
			ok = false;                  /* e describes the last unrecorded failure */
			outs[i] = EVENTS_LEASE_LOST; /* unrecorded: its lease lapses */
		}
		log_ctx_set(&saved);
		metrics_inc(M_EVENTS_HANDLED, evs[i].type, outcome_names[outs[i]]);
		if (outs[i] == EVENTS_RETRY)
			metrics_inc(M_EVENT_RETRIES, evs[i].type, NULL);
	}
	return ok;
}

bool events_run(const struct events_env *env, struct db_conn *c, const struct outbox_event *ev,
                events_hook_fn hook, void *hook_arg, enum events_outcome *out, struct err *e)
{
	return events_run_batch(env, c, ev, 1, hook, hook_arg, out, e);
}
