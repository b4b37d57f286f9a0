/*
 * checkout.c — idempotent checkout that never oversells (see checkout.h for the steps).
 *
 * The key's claim, the transaction, its retries, storing the answer and releasing the key are
 * idem_run()'s (idem_op.h); this file is the checkout's part: choosing the path, the
 * transaction's work and its decision, and the sync path's handler run after the commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "catalog.h"
#include "checkout.h"
#include "constants.h"
#include "db.h"
#include "events.h"
#include "flags.h"
#include "idem.h"
#include "idem_op.h"
#include "metrics.h"
#include "notifier.h"
#include "orders.h"
#include "stores.h"
#include "outbox.h"
#include "provider.h"
#include "xalloc.h"
#include "banned.h"

/* One checkout, as its idem_op callbacks share it. */
struct checkout_run {
	const struct events_env *env;
	const struct checkout_input *in;
	bool async; /* the path, chosen once (choose_path) */
	/* Per attempt of the transaction (checkout_tx resets them): */
	bool wake; /* an event for a worker commits with the answer */
	char event_id[37];
	char payment_id[37];
	long long amount;
	json_t *payload;  /* PaymentAuthorized payload, owned */
	const char *code; /* a refusal's error code (static), for metrics */
};

static struct db_stmt st_lock =
        DB_STMT("checkout_lock", "SELECT status, total_cents, currency, checkout_key "
                                 "FROM orders WHERE id = $1 AND store_id = $2 FOR UPDATE");

/*
 * The checkout's effects in one statement (one round trip): the payment (p), the order's
 * compare-and-set to payment_authorized (o) with its timeline row (t), and every line's stock
 * (d, with its ledger rows m) — or, in f, the first line that cannot be served, in which case
 * the whole transaction is rolled back (a stored refusal). The stock rows are the hot rows of a
 * flash sale, so they are the last locks the transaction takes before its commit; the UPDATE's
 * condition is re-checked against the newest row version when it waited for a concurrent buyer
 * (READ COMMITTED), so stock is never read-then-written.
 */
static struct db_stmt st_effects = DB_STMT(
        "checkout_effects",
        "WITH p AS (INSERT INTO payments (id, order_id, store_id, status, amount_cents, currency, "
        "                                 token_hint) "
        "           VALUES ($3, $1, $2, 'authorized', $4, $5, $6) RETURNING id), "
        "o AS (UPDATE orders SET status = 'payment_authorized', checkout_key = $7, "
        "             checkout_path = $8, updated_at = now() "
        "      WHERE id = $1 AND store_id = $2 AND status = 'pending' RETURNING id), "
        "t AS (INSERT INTO order_events (order_id, store_id, from_status, to_status, reason, "
        "                                traceparent) "
        "      SELECT id, $2, 'pending', 'payment_authorized', 'checkout', nullif($9, '') FROM o), "
        "l AS (SELECT product_id, quantity, line_no FROM order_items "
        "      WHERE order_id = $1 AND store_id = $2), "
        "d AS (UPDATE inventory i SET available = i.available - l.quantity FROM l "
        "      WHERE i.product_id = l.product_id AND i.store_id = $2 "
        "        AND i.available >= l.quantity "
        "      RETURNING i.product_id, l.quantity), "
        "m AS (INSERT INTO inventory_movements (store_id, product_id, delta, reason, order_id) "
        "      SELECT $2, product_id, -quantity, 'checkout', $1 FROM d), "
        "f AS (SELECT l.product_id, l.quantity FROM l "
        "      WHERE NOT EXISTS (SELECT 1 FROM d WHERE d.product_id = l.product_id) "
        "      ORDER BY l.line_no LIMIT 1) "
        "SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM l), "
        "       f.product_id, f.quantity FROM (SELECT 1) AS one LEFT JOIN f ON true");

/* A decided refusal: its error envelope is the answer stored with the key. */
static enum idem_decision refuse(struct checkout_run *run, struct err *decision,
                                 struct idem_answer *answer)
{
	answer->status = decision->status;
	answer->body = error_body(run->in->request_id, decision);
	run->code = decision->code;
	err_release(decision);
	return IDEM_REFUSED;
}

static char *render_order(struct db_conn *c, const char *store_id, const char *order_id,
                          struct err *e)
{
	json_t *order = NULL;
	char *text;

	if (!orders_get(c, store_id, order_id, &order, e))
		return NULL;
	if (order == NULL) {
		err_internal(e, "order %s vanished", order_id);
		return NULL;
	}
	text = xjson_dumps(order, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(order);
	return text;
}

/* The answer to a checkout that already happened under this key: the order as it is now, 202
 * while a worker still has to finish it, 200 once it is settled. */
static bool answer_from_order(struct db_conn *c, const struct checkout_input *in,
                              struct idem_answer *answer, struct err *e)
{
	json_t *order = NULL;
	const char *status;

	if (!orders_get(c, in->store->id, in->order_id, &order, e))
		return false;
	if (order == NULL) {
		err_internal(e, "order %s vanished", in->order_id);
		return false;
	}
	status = json_string_value(json_object_get(order, "status"));
	answer->status = strcmp(status, "payment_authorized") == 0 ? 202 : 200;
	answer->body = xjson_dumps(order, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(order);
	return true;
}

/* idem_op.prepare: the path is decided once per order (stable hash of the order id) and
 * stored with it by the transaction. */
static bool choose_path(struct db_conn *c, void *arg, struct err *e)
{
	struct checkout_run *run = arg;

	return flags_on(run->env->flags, c, run->in->store->id, FLAG_CHECKOUT_ASYNC,
	                run->in->order_id, &run->async, e);
}

/*
 * idem_op.tx, inside the transaction idem_run() began with the order's row lock (lock: st_lock's
 * result). Decides: 404 not stored; a refusal (409 order_not_pending, 402, 409
 * insufficient_inventory) stored after the effects are rolled back; on the async path the 202
 * committed with the effects; on the sync path the effects committed alone, for the handler
 * (checkout_finish) to answer.
 */
static enum idem_decision checkout_tx(struct db_conn *c, const PGresult *lock, void *arg,
                                      struct idem_answer *answer, struct err *e)
{
	struct checkout_run *run = arg;
	const struct checkout_input *in = run->in;
	const char *store_id = in->store->id;
	struct err decision = ERR_INIT;
	char amount[24];
	long long available = 0;
	uuid_t u;
	PGresult *r;

	/* A rerun after a serialization failure starts from scratch. */
	json_decref(run->payload);
	run->payload = NULL;
	run->code = NULL;
	run->wake = false;

	if (PQntuples(lock) == 0) {
		err_set(e, 404, "not_found", "no order %s in this store", in->order_id);
		return IDEM_NOT_STORED;
	}
	run->amount = db_get_ll(lock, 0, 1);
	if (strcmp(db_get(lock, 0, 0), "pending") != 0) {
		const char *key = db_get(lock, 0, 3);

		/* This key checked the order out before (an attempt whose answer was never
		 * stored, its owner gone): resume, answering from the order's state. */
		if (key != NULL && strcmp(key, in->idempotency_key) == 0)
			return answer_from_order(c, in, answer, e) ? IDEM_DECIDED : IDEM_ERROR;
		err_set(&decision, 409, "order_not_pending", "the order is %s, not pending",
		        db_get(lock, 0, 0));
		err_detail(&decision, "status", json_string(db_get(lock, 0, 0)));
		return refuse(run, &decision, answer);
	}

	if (!provider_authorize(in->payment_token, run->amount)) {
		err_set(&decision, 402, "payment_declined",
		        "the payment provider declined the token");
		return refuse(run, &decision, answer);
	}

	uuid_generate_random(u);
	uuid_unparse_lower(u, run->payment_id);
	snprintf(amount, sizeof(amount), "%lld", run->amount);
	run->payload = json_pack("{s:s, s:s, s:I}", "order_id", in->order_id, "payment_id",
	                         run->payment_id, "amount_cents", (json_int_t)run->amount);
	/* Sync: the event is born leased to this process, so no worker takes it while the
	 * request runs the handler; if this process dies, the lease lapses and a worker does. */
	if (!outbox_insert(c, store_id, EVENT_PAYMENT_AUTHORIZED, in->order_id, run->payload,
	                   run->async ? NULL : run->env->owner, in->traceparent, run->event_id, e))
		return IDEM_ERROR;
	r = db_exec(c, &st_effects,
	            DB_PARAMS(in->order_id, store_id, run->payment_id, amount, in->store->currency,
	                      "tok_…", in->idempotency_key, run->async ? "async" : "sync",
	                      in->traceparent != NULL ? in->traceparent : ""),
	            e);
	if (r == NULL)
		return IDEM_ERROR;
	if (db_get_ll(r, 0, 0) != db_get_ll(r, 0, 1)) {
		err_set(&decision, 409, "insufficient_inventory",
		        "not enough stock for every line of the order");
		err_detail(&decision, "product_id", json_string(db_get(r, 0, 2)));
		err_detail(&decision, "requested", json_integer(db_get_ll(r, 0, 3)));
		PQclear(r);
		/* The statement saw the stock as it was before it waited for the row lock; a new
		 * statement reads what the refusal was decided against. */
		if (!catalog_available(
		            c, store_id,
		            json_string_value(json_object_get(decision.details, "product_id")),
		            &available, e)) {
			err_release(&decision);
			return IDEM_ERROR;
		}
		err_detail(&decision, "available", json_integer(available));
		return refuse(run, &decision, answer);
	}
	PQclear(r);

	if (!run->async)
		return IDEM_DEFERRED;
	answer->status = 202;
	answer->body = render_order(c, store_id, in->order_id, e);
	if (answer->body == NULL || !notifier_in_tx(run->env->notifier, c, e))
		return IDEM_ERROR;
	run->wake = true;
	return IDEM_DECIDED;
}

/* idem_op.after_commit: the NOTIFY goes after the commit, outside the transaction (decision
 * 0005). */
static void wake_workers(void *arg)
{
	struct checkout_run *run = arg;

	if (run->wake)
		notifier_poke(run->env->notifier);
}

struct sync_hook {
	const struct checkout_input *in;
	char *body; /* the 200 answer, stored with the key */
};

/* Runs inside the handler's transaction: the answer commits with the confirmation. */
static bool sync_hook(struct db_conn *c, void *arg, struct err *e)
{
	struct sync_hook *h = arg;

	h->body = render_order(c, h->in->store->id, h->in->order_id, e);
	if (h->body == NULL)
		return false;
	return idem_complete(c, h->in->store->id, h->in->idempotency_key, 200, h->body, e);
}

/* Answers from the order's current state and stores that answer, in a transaction of its own:
 * the handler's transaction, which would have carried it, did not commit it. */
static bool answer_from_state(struct db_conn *c, const struct checkout_input *in,
                              struct idem_answer *out, struct err *e)
{
	if (!db_begin(c, in->store->id, false, e))
		return false;
	if (!answer_from_order(c, in, out, e))
		goto rollback;
	if (!idem_complete(c, in->store->id, in->idempotency_key, out->status, out->body, e) ||
	    !db_commit(c, e))
		goto free_body;
	return true;
free_body:
	free(out->body);
	out->body = NULL;
rollback:
	db_rollback(c);
	return false;
}

/*
 * idem_op.finish, after the sync path's effects committed (IDEM_DEFERRED): the event's handler
 * runs inline through events_run(), exactly as the worker would run it, and the 200 answer
 * commits with the handler's effects. Failing here leaves the key in flight (never released):
 * the retry that takes it over after the lease resumes from the order.
 */
static bool checkout_finish(struct db_conn *c, void *arg, struct idem_answer *out, struct err *e)
{
	struct checkout_run *run = arg;
	const struct checkout_input *in = run->in;
	struct outbox_event ev;
	struct sync_hook hook = {in, NULL};
	enum events_outcome outcome;

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.id, sizeof(ev.id), "%s", run->event_id);
	snprintf(ev.store_id, sizeof(ev.store_id), "%s", in->store->id);
	snprintf(ev.type, sizeof(ev.type), "%s", EVENT_PAYMENT_AUTHORIZED);
	snprintf(ev.aggregate_id, sizeof(ev.aggregate_id), "%s", in->order_id);
	/* As stored: what the handler writes in turn (the confirmation) carries the trace on. */
	snprintf(ev.traceparent, sizeof(ev.traceparent), "%s",
	         in->traceparent != NULL ? in->traceparent : "");
	ev.payload = run->payload; /* borrowed */
	if (!events_run(run->env, c, &ev, sync_hook, &hook, &outcome, e)) {
		free(hook.body);
		return false;
	}
	if (outcome != EVENTS_DONE && outcome != EVENTS_LEASE_LOST)
		notifier_poke(
		        run->env->notifier); /* a retry, or compensation events, for a worker */
	if (outcome == EVENTS_DONE) {
		out->status = 200;
		out->body = hook.body;
		return true;
	}
	free(hook.body);
	/* The handler failed (and was scheduled for a worker) or lost its lease: the order is
	 * accepted and will be finished asynchronously; say so honestly. */
	return answer_from_state(c, in, out, e);
}

/* terminus_checkouts_total and the per-store series, for answers decided now (not replays). */
static void count_checkout(const struct checkout_run *run, const struct idem_answer *out)
{
	const char *outcome = out->status == 200   ? "confirmed"
	                      : out->status == 202 ? "accepted"
	                      : run->code != NULL  ? run->code
	                                           : "other";

	metrics_inc(M_CHECKOUTS, outcome, run->async ? "async" : "sync");
	metrics_inc(M_STORE_CHECKOUTS, run->in->store->slug, outcome);
}

bool checkout_execute(const struct events_env *env, struct db_conn *c,
                      const struct checkout_input *in, struct idem_answer *out, struct err *e)
{
	const char *lock_params[] = {in->order_id, in->store->id};
	const struct idem_op op = {
	        .name = "checkout",
	        .store_id = in->store->id,
	        .key = in->idempotency_key,
	        .fingerprint = in->fingerprint,
	        .first = &st_lock,
	        .nfirst = 2,
	        .first_params = lock_params,
	        .prepare = choose_path,
	        .tx = checkout_tx,
	        .after_commit = wake_workers,
	        .finish = checkout_finish,
	};
	struct checkout_run run;
	bool ok;

	memset(&run, 0, sizeof(run));
	run.env = env;
	run.in = in;
	ok = idem_run(c, &op, &run, out, e);
	if (ok && !out->replayed)
		count_checkout(&run, out);
	json_decref(run.payload);
	return ok;
}

/* ---- the checkout's SQL for pgbench (checkout.h) ------------------------------------------- */

/* st's SQL with $k replaced by args[k - 1] (a pgbench :variable or an SQL literal). */
static void pgbench_stmt(FILE *out, const struct db_stmt *st, int n, const char *const *args,
                         const char *end)
{
	for (const char *p = st->sql; *p != '\0'; p++) {
		if (*p == '$' && p[1] >= '1' && p[1] <= '9') {
			int k = 0;

			while (p[1] >= '0' && p[1] <= '9')
				k = k * 10 + (*++p - '0');
			if (k < 1 || k > n)
				abort(); /* programmer error: a parameter without an argument */
			fputs(args[k - 1], out);
		} else {
			fputc(*p, out);
		}
	}
	fprintf(out, "%s\n", end);
}

#define PGB(out, st, end, ...)                                                                     \
	pgbench_stmt((out), (st), (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)),   \
	             (const char *const[]){__VA_ARGS__}, (end))

void checkout_pgbench_script(FILE *out)
{
	char lease[16], ttl[16], outbox_lease[16];

	snprintf(lease, sizeof(lease), "%d", IDEMPOTENCY_LEASE_S);
	snprintf(ttl, sizeof(ttl), "%d", IDEMPOTENCY_TTL_HOURS);
	snprintf(outbox_lease, sizeof(outbox_lease), "%d", OUTBOX_LEASE_S);
	fprintf(out,
	        "-- One asynchronous checkout as terminus-api sends it (terminus-api "
	        "pgbench-script; see include/core/checkout.h).\n"
	        "SELECT order_id, store_id, payment_id, event_id, idem_key, payload "
	        "FROM pgbench_checkout WHERE n = (SELECT nextval('pgbench_checkout_seq')) \\gset\n");
	/* 1. The idempotency claim commits on its own (idem_start, one implicit transaction). */
	fprintf(out, "BEGIN;\n");
	PGB(out, db_scope_stmt(), ";", ":store_id", "'off'");
	PGB(out, idem_claim_stmt(), ";", ":store_id", ":idem_key", "'pgbench-fingerprint'", lease,
	    ttl);
	fprintf(out, "COMMIT;\n");
	/* 2. The checkout transaction (checkout_tx, async). */
	fprintf(out, "BEGIN;\n");
	PGB(out, db_scope_stmt(), ";", ":store_id", "'off'");
	PGB(out, &st_lock, " \\gset", ":order_id", ":store_id");
	PGB(out, outbox_insert_stmt(), ";", ":event_id", ":store_id", "'PaymentAuthorized'",
	    ":order_id", ":payload", "''", outbox_lease, "''");
	PGB(out, &st_effects, ";", ":order_id", ":store_id", ":payment_id", ":total_cents",
	    ":currency", "'tok_…'", ":idem_key", "'async'", "''");
	PGB(out, idem_complete_stmt(), ";", ":store_id", ":idem_key", "202",
	    "'{\"status\":\"payment_authorized\"}'");
	fprintf(out, "COMMIT;\n");
}

void checkout_pgbench_setup(FILE *out)
{
	fputs("-- pgbench_checkout: one row per pending order of the store :'store', with the ids a\n"
	      "-- checkout of it needs (terminus-api pgbench-script setup).\n"
	      "DROP TABLE IF EXISTS pgbench_checkout;\n"
	      "DROP SEQUENCE IF EXISTS pgbench_checkout_seq;\n"
	      "CREATE TABLE pgbench_checkout AS\n"
	      "  SELECT row_number() OVER (ORDER BY seq) AS n, order_id, store_id, payment_id,\n"
	      "         gen_random_uuid() AS event_id, 'pgbench-' || order_id AS idem_key,\n"
	      "         json_build_object('order_id', order_id, 'payment_id', payment_id,\n"
	      "                           'amount_cents', total_cents)::text AS payload\n"
	      "  FROM (SELECT o.seq, o.id AS order_id, o.store_id, o.total_cents,\n"
	      "               gen_random_uuid() AS payment_id -- per row: a select-list call\n"
	      "        FROM orders o JOIN stores s ON s.id = o.store_id\n"
	      "        WHERE s.slug = :'store' AND o.status = 'pending') x;\n"
	      "ALTER TABLE pgbench_checkout ADD PRIMARY KEY (n);\n"
	      "CREATE SEQUENCE pgbench_checkout_seq;\n"
	      "SELECT count(*) AS pending_orders FROM pgbench_checkout;\n",
	      out);
}
