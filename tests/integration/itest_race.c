/*
 * itest_race.c — races the outbox worker must survive.
 *
 * 1. Cancel against capture (guarantees §3): an async checkout is answered 202, and a cancel
 *    follows after 0–20 ms while a worker is already capturing. Many times over, every order
 *    must end in exactly one of cancelled (payment voided, never captured without a refund) or
 *    refunded (payment refunded), with exactly one payment, the product's stock back at its
 *    initial value exactly, every event done, and the provider's operations consistent: a
 *    payment the provider captured for an order that ended cancelled has a refund.
 *
 * 2. Flag flips under load (guarantees §5): checkouts run from several threads while
 *    checkout.async_enabled flips every ~100 ms. Nothing is lost: every order ends confirmed,
 *    its stored checkout_path matches the answer it got (200 ↔ sync, 202 ↔ async), and the
 *    async ones — only those — were finished by the worker.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "procs.h"
#include "banned.h"

#define RACE_ORDERS  100
#define RACE_THREADS 4
#define RACE_STOCK   1000
#define FLIP_ORDERS  240
#define FLIP_STOCK   100000

static int teardown(void **state)
{
	(void)state;
	p_stop_all();
	return 0;
}

/* ---- cancel against capture ------------------------------------------------------------------ */

struct race {
	const struct h_store *s;
	char order_id[H_ID_LEN];
	int delay_ms;
	long checkout_status;
	long cancel_status;
	char cancel_answer[24]; /* status in the cancel's answer */
	char error[240];
};

struct race_pool {
	struct race *r;
	size_t n;
	atomic_size_t next;
};

static void *race_main(void *arg)
{
	struct race_pool *p = arg;
	struct resp r = {0};
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n) {
		struct race *x = &p->r[i];
		char key[80];

		h_unique_key(key, sizeof(key), "race-co");
		h_checkout(&r, x->s, x->order_id, key, "tok_ok");
		x->checkout_status = r.status;
		if (r.status != 202) {
			snprintf(x->error, sizeof(x->error), "checkout: %ld %.200s", r.status,
			         r.status ? r.body : r.error);
			continue;
		}
		if (x->delay_ms > 0)
			h_sleep_ms(x->delay_ms); /* the race's offset, not a synchronisation */
		h_unique_key(key, sizeof(key), "race-cxl");
		p_cancel(&r, x->s, x->order_id, key, x->s->key, NULL);
		x->cancel_status = r.status;
		if (r.status == 200 && h_jstr(r.json, "status"))
			snprintf(x->cancel_answer, sizeof(x->cancel_answer), "%s",
			         h_jstr(r.json, "status"));
		else
			snprintf(x->error, sizeof(x->error), "cancel: %ld %.200s", r.status,
			         r.status ? r.body : r.error);
	}
	resp_release(&r);
	return NULL;
}

static void test_cancel_races_capture(void **state)
{
	struct h_store s;
	struct p_worker w;
	struct p_worker_opts o = {0};
	char pid[H_ID_LEN];
	struct race *races = calloc(RACE_ORDERS, sizeof(*races));
	struct race_pool pool = {.r = races, .n = RACE_ORDERS};
	pthread_t t[RACE_THREADS];
	long long left = -1, v, cancelled, refunded, lost;

	(void)state;
	H_CHECK(races != NULL, "out of memory");
	h_must_create_store(&s, "race");
	h_must_create_product(&s, 1500, RACE_STOCK, pid);
	for (size_t i = 0; i < RACE_ORDERS; i++) {
		races[i].s = &s;
		races[i].delay_ms = (int)((i * 7) % 21); /* 0–20 ms, spread over the threads */
		h_must_create_order(&s, pid, 1 + (int)(i % 2), races[i].order_id);
	}
	H_CHECK(p_worker_start(&w, "race", &o), "worker did not start");

	atomic_init(&pool.next, 0);
	for (int i = 0; i < RACE_THREADS; i++)
		H_CHECK(pthread_create(&t[i], NULL, race_main, &pool) == 0, "pthread_create");
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(t[i], NULL);

	for (size_t i = 0; i < RACE_ORDERS; i++) {
		const struct race *x = &races[i];
		bool one_of = !strcmp(x->cancel_answer, "cancelled") ||
		              !strcmp(x->cancel_answer, "refunded");

		H_CHECK(!x->error[0] && one_of, "order %s (delay %d ms): %s%s", x->order_id,
		        x->delay_ms, x->error, x->error[0] ? "" : x->cancel_answer);
	}

	if (!p_wait_db(30, &left, "==", 0,
	               "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND status = 'pending'",
	               s.id, NULL)) {
		p_show_log_tail(w.log, 20);
		H_FAIL("%lld events still pending 30 s after the races", left);
	}

	/* Each order's final status is the one its cancel answered, and one of the two. */
	for (size_t i = 0; i < RACE_ORDERS; i++) {
		char *st = h_db_str("SELECT status FROM orders WHERE id = $1", races[i].order_id,
		                    NULL);
		bool same = st && strcmp(st, races[i].cancel_answer) == 0;
		char got[32];

		snprintf(got, sizeof(got), "%s", st ? st : "missing");
		free(st);
		H_CHECK(same, "order %s is %s, its cancel answered %s", races[i].order_id, got,
		        races[i].cancel_answer);
	}
	v = h_db_ll("SELECT count(*) FROM orders WHERE store_id = $1 "
	            "AND status NOT IN ('cancelled', 'refunded')",
	            s.id, NULL);
	H_CHECK(v == 0, "%lld orders neither cancelled nor refunded", v);

	/* Every invariant of the table: at most one payment per order and one PaymentAuthorized
	 * event, stock held by nothing cancelled or refunded, timelines that enter each status once
	 * and end at the order's status, the provider's captures, tenancy. What follows is what
	 * these races add to them. */
	p_assert_invariants(&s);

	/* Payments: one per order (each checkout was answered 202), matching its fate, so none is
	 * live. */
	v = h_db_ll("SELECT count(*) FROM orders o WHERE o.store_id = $1 AND "
	            "NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id)",
	            s.id, NULL);
	H_CHECK(v == 0, "%lld orders without a payment", v);
	v = h_db_ll(
	        "SELECT count(*) FROM orders o JOIN payments p ON p.order_id = o.id "
	        "WHERE o.store_id = $1 AND NOT ((o.status = 'cancelled' AND p.status = 'voided') "
	        "OR (o.status = 'refunded' AND p.status = 'refunded'))",
	        s.id, NULL);
	if (v != 0) {
		char *ex =
		        h_db_str("SELECT o.id || ' ' || o.status || ' with payment ' || p.status "
		                 "FROM orders o JOIN payments p ON p.order_id = o.id "
		                 "WHERE o.store_id = $1 AND NOT ((o.status = 'cancelled' AND "
		                 "p.status = 'voided') OR (o.status = 'refunded' AND "
		                 "p.status = 'refunded')) LIMIT 1",
		                 s.id, NULL);
		char msg[300];

		snprintf(msg, sizeof(msg), "%s", ex ? ex : "");
		free(ex);
		H_FAIL("%lld orders whose payment does not match their status, e.g. %s", v, msg);
	}

	/* Timelines (each status entered at most once, the last one the order's: the invariants):
	 * a cancelled order never confirmed; a refunded one did. */
	v = h_db_ll("SELECT count(*) FROM orders o WHERE o.store_id = $1 AND "
	            "EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id "
	            "        AND e.to_status = 'confirmed') <> (o.status = 'refunded')",
	            s.id, NULL);
	H_CHECK(v == 0, "%lld orders whose timeline does not match their fate", v);

	/* Stock: exactly back where it started (order_stock: no order holds any); what was
	 * taken was given back in one movement. */
	p_assert_stock(&s, pid, RACE_STOCK, "'confirmed', 'payment_authorized'");
	H_CHECK(h_must_available(&s, pid) == RACE_STOCK, "stock is not back at %d", RACE_STOCK);
	v = h_db_ll("SELECT count(*) FROM orders o WHERE o.store_id = $1 AND (SELECT count(*) "
	            "FROM inventory_movements m WHERE m.order_id = o.id AND m.delta > 0) <> 1",
	            s.id, NULL);
	H_CHECK(v == 0, "%lld orders whose stock was not given back exactly once", v);

	/* Events: all done. */
	v = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status <> 'done'",
	            s.id, NULL);
	H_CHECK(v == 0, "%lld events not done", v);

	/* The provider: refunded orders were captured once and refunded once; cancelled ones
	 * were voided once, and if the capture reached the provider anyway, refunded too. */
	v = h_db_ll("SELECT count(*) FROM orders o JOIN payments p ON p.order_id = o.id "
	            "WHERE o.store_id = $1 AND o.status = 'refunded' AND ("
	            " (SELECT count(*) FROM provider_operations q WHERE q.payment_id = p.id "
	            "  AND q.operation = 'capture') <> 1 OR "
	            " (SELECT count(*) FROM provider_operations q WHERE q.payment_id = p.id "
	            "  AND q.operation = 'refund') <> 1 OR "
	            " (SELECT count(*) FROM provider_operations q WHERE q.payment_id = p.id "
	            "  AND q.operation = 'void') <> 0)",
	            s.id, NULL);
	H_CHECK(v == 0, "%lld refunded orders without exactly one capture and one refund", v);
	v = h_db_ll("SELECT count(*) FROM orders o JOIN payments p ON p.order_id = o.id "
	            "WHERE o.store_id = $1 AND o.status = 'cancelled' AND ("
	            " (SELECT count(*) FROM provider_operations q WHERE q.payment_id = p.id "
	            "  AND q.operation = 'void') <> 1 OR "
	            " (SELECT count(*) FROM provider_operations q WHERE q.payment_id = p.id "
	            "  AND q.operation = 'capture') <> "
	            " (SELECT count(*) FROM provider_operations q WHERE q.payment_id = p.id "
	            "  AND q.operation = 'refund'))",
	            s.id, NULL);
	if (v != 0) {
		char *ex = h_db_str("SELECT o.id || ': ' || (SELECT string_agg(q.operation, ', ') "
		                    "FROM provider_operations q WHERE q.payment_id = p.id) "
		                    "FROM orders o JOIN payments p ON p.order_id = o.id "
		                    "WHERE o.store_id = $1 AND o.status = 'cancelled' AND ("
		                    " (SELECT count(*) FROM provider_operations q WHERE "
		                    "  q.payment_id = p.id AND q.operation = 'void') <> 1 OR "
		                    " (SELECT count(*) FROM provider_operations q WHERE "
		                    "  q.payment_id = p.id AND q.operation = 'capture') <> "
		                    " (SELECT count(*) FROM provider_operations q WHERE "
		                    "  q.payment_id = p.id AND q.operation = 'refund')) LIMIT 1",
		                    s.id, NULL);
		char msg[300];

		snprintf(msg, sizeof(msg), "%s", ex ? ex : "");
		free(ex);
		H_FAIL("%lld cancelled orders whose provider operations are not one void and a "
		       "refund for every capture, e.g. %s",
		       v, msg);
	}

	cancelled = h_db_ll("SELECT count(*) FROM orders WHERE store_id = $1 "
	                    "AND status = 'cancelled'",
	                    s.id, NULL);
	refunded =
	        h_db_ll("SELECT count(*) FROM orders WHERE store_id = $1 AND status = 'refunded'",
	                s.id, NULL);
	lost = h_db_ll(
	        "SELECT count(*) FROM orders o JOIN payments p ON p.order_id = o.id "
	        "WHERE o.store_id = $1 AND o.status = 'cancelled' AND EXISTS (SELECT 1 FROM "
	        "provider_operations q WHERE q.payment_id = p.id AND q.operation = 'capture')",
	        s.id, NULL);
	print_message("[          ] %d cancel/capture races: %lld cancelled before the capture "
	              "(%lld of them after the provider had captured: refunded by the capture "
	              "handler), %lld refunded after it\n",
	              RACE_ORDERS, cancelled, lost, refunded);
	{
		double took = 0;
		int st = p_worker_term(&w, 5.0, &took);

		H_CHECK(st == 0, "SIGTERM gave %s after %.2f s", p_worker_describe(&w), took);
	}
	free(races);
}

/* ---- flag flips under load ------------------------------------------------------------------- */

static void test_flag_flips_under_load(void **state)
{
	struct h_store s;
	struct p_worker w;
	struct p_worker_opts o = {0};
	char pids[2][H_ID_LEN];
	const char *products[2] = {pids[0], pids[1]};
	struct p_load l = {0};
	bool on = true;
	int flips = 0;
	size_t n200 = 0, n202 = 0;
	long long left = -1;
	double t0;
	const char *logs[1];
	struct p_handled *h;
	size_t nh;

	(void)state;
	h_must_create_store(&s, "flips");
	for (int i = 0; i < 2; i++)
		h_must_create_product(&s, 300 + i, FLIP_STOCK, pids[i]);
	H_CHECK(p_worker_start(&w, "flips", &o), "worker did not start");

	l.store = &s;
	l.products = products;
	l.nproducts = 2;
	l.max_quantity = 2;
	l.n = FLIP_ORDERS;
	l.threads = 4;
	t0 = h_now();
	p_load_start(&l);
	while (p_load_answered(&l) < FLIP_ORDERS) {
		h_sleep_ms(100); /* the flip rate, not a synchronisation */
		on = !on;
		p_must_set_flag(&s, "checkout.async_enabled", on, 100);
		flips++;
	}
	p_load_join(&l);
	p_must_set_flag(&s, "checkout.async_enabled", true, 100);
	print_message(
	        "[          ] %d checkouts in %.1f s under %d flips of checkout.async_enabled\n",
	        FLIP_ORDERS, h_now() - t0, flips);
	p_load_assert_answers(&l, 200, 202);

	/* Each answer agrees with itself and with what the order stored. */
	for (size_t i = 0; i < l.n; i++) {
		const struct p_order *x = &l.orders[i];
		bool sync = x->checkout_status == 200;
		char *path =
		        h_db_str("SELECT checkout_path FROM orders WHERE id = $1", x->id, NULL);
		char got[16];

		snprintf(got, sizeof(got), "%s", path ? path : "(null)");
		free(path);
		if (sync)
			n200++;
		else
			n202++;
		H_CHECK(!strcmp(x->body_status, sync ? "confirmed" : "payment_authorized") &&
		                !strcmp(x->body_path, sync ? "sync" : "async"),
		        "order %s: answer %ld with status %s and checkout_path %s", x->id,
		        x->checkout_status, x->body_status, x->body_path);
		H_CHECK(!strcmp(got, sync ? "sync" : "async"),
		        "order %s: answered %ld but stored checkout_path %s", x->id,
		        x->checkout_status, got);
	}
	print_message("[          ] %zu answered 200 (sync), %zu answered 202 (async)\n", n200,
	              n202);
	H_CHECK(n200 > 0 && n202 > 0, "the flips did not split the load (%zu sync, %zu async)",
	        n200, n202);

	if (!p_wait_db(30, &left, "==", 0,
	               "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND status <> 'done'",
	               s.id, NULL)) {
		p_show_log_tail(w.log, 20);
		H_FAIL("%lld events not done 30 s after the load", left);
	}
	p_assert_all_confirmed(&s, FLIP_ORDERS);
	for (int i = 0; i < 2; i++)
		p_assert_stock(&s, pids[i], FLIP_STOCK, "'confirmed'");

	/* The path it started on: the worker finished every async order, and no sync one. */
	{
		double took = 0;
		int st = p_worker_term(&w, 5.0, &took);

		H_CHECK(st == 0, "SIGTERM gave %s after %.2f s", p_worker_describe(&w), took);
	}
	logs[0] = w.log;
	h = p_handled_read(logs, 1, &nh);
	for (size_t i = 0; i < l.n; i++) {
		const struct p_order *x = &l.orders[i];
		char *ev = h_db_str("SELECT id::text FROM outbox_events WHERE aggregate_id = $1 "
		                    "AND type = 'PaymentAuthorized'",
		                    x->id, NULL);
		size_t any = ev ? p_handled_count(h, nh, ev, NULL) : 0;
		size_t done = ev ? p_handled_count(h, nh, ev, "done") : 0;
		bool sync = x->checkout_status == 200;

		free(ev);
		if (sync ? any != 0 : (done != 1 || any != 1)) {
			free(h);
			H_FAIL("order %s (%s): the worker log has %zu lines (%zu done) for its event",
			       x->id, sync ? "sync" : "async", any, done);
		}
	}
	free(h);
	p_load_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_cancel_races_capture, teardown),
	        cmocka_unit_test_teardown(test_flag_flips_under_load, teardown),
	};

	return H_RUN_SUITE("itest_race", tests, NULL, NULL);
}
