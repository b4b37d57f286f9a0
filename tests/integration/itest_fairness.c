/*
 * itest_fairness.c — one store's flood must not starve another's events (guarantees §4, issue 3).
 *
 * Store A gets 100,000 pending PaymentAuthorized events, inserted straight into the outbox,
 * whose orders do not exist: each completes as a no-op, which makes them the cheapest events
 * there are. While one worker drains that flood, a handful of real async checkouts on store B
 * must be confirmed promptly — while A's backlog is still above 90 % — and, measured from the
 * database's own timestamps, only a batch or two per worker thread of A's events may complete
 * between a B event's creation and its completion (plain FIFO would make B wait for all of A).
 *
 * Also printed, not asserted: the no-op drain rate of one worker process over the flood.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "procs.h"
#include "constants.h"
#include "banned.h"

#define FLOOD          100000
#define B_ORDERS       5
#define WORKER_THREADS 4
#define BATCH          OUTBOX_BATCH
#define B_DEADLINE_S   10.0
#define RATE_WINDOW_S  8.0
/* A's events that may complete while one of B's waits: everything the threads hold when it
 * arrives (one batch each) plus the batches claimed next to it, with room for a slow
 * machine. Plain FIFO would give tens of thousands. */
#define MAX_A_WHILE_B (4 * BATCH * WORKER_THREADS)

static int teardown(void **state)
{
	(void)state;
	p_stop_all();
	return 0;
}

static long long a_done(const struct h_store *a)
{
	return h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status = 'done'",
	               a->id, NULL);
}

static void test_flood_does_not_starve_other_store(void **state)
{
	struct h_store a, b;
	struct p_worker w;
	/* warn: 100,000 "event handled" lines would measure the logger, not the outbox. */
	struct p_worker_opts o = {
	        .concurrency = WORKER_THREADS, .log_level = "warn", .no_wait = true};
	char pid[H_ID_LEN];
	char orders[B_ORDERS][H_ID_LEN];
	double lat[B_ORDERS];
	long long during[B_ORDERS], during_tx[B_ORDERS];
	char *visible = NULL;
	long long v = -1, d1, d2, left, worst_during = 0;
	double t_insert, t1, t2, db_rate;
	struct resp r = {0};

	(void)state;
	h_must_create_store(&a, "flood-a");
	h_must_create_store(&b, "quiet-b");
	h_must_create_product(&b, 2500, 100, pid);

	t_insert = h_now();
	h_db_exec("INSERT INTO outbox_events (id, store_id, type, aggregate_id, payload) "
	          "SELECT gen_random_uuid(), $1, 'PaymentAuthorized', o.id, "
	          "       jsonb_build_object('order_id', o.id, 'payment_id', gen_random_uuid(), "
	          "                          'amount_cents', 1) "
	          "FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, $2::int)) o",
	          a.id, "100000", NULL);
	h_db_exec("ANALYZE outbox_events", NULL);
	print_message("[          ] %d pending no-op events inserted for store A in %.1f s\n",
	              FLOOD, h_now() - t_insert);

	H_CHECK(p_worker_start(&w, "fairness", &o), "worker did not start");
	/* Draining has begun once A's first events are done. */
	if (!p_wait_db(20, &v, ">=", 200,
	               "SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status = 'done'",
	               a.id, NULL)) {
		p_show_log_tail(w.log, 20);
		H_FAIL("the worker completed only %lld of A's events within 20 s", v);
	}
	t1 = h_now();
	d1 = a_done(&a);

	for (int i = 0; i < B_ORDERS; i++) {
		char key[80];
		double t0;

		h_must_create_order(&b, pid, 1, orders[i]);
		h_unique_key(key, sizeof(key), "b");
		h_checkout(&r, &b, orders[i], key, "tok_ok");
		H_STATUS(&r, 202);
		t0 = h_now();
		/* The database's clock just after B's event became visible (its 202 came after
		 * the commit). */
		visible = h_db_str("SELECT clock_timestamp()::text", NULL);
		if (!p_wait_db(B_DEADLINE_S, NULL, "==", 1,
		               "SELECT count(*) FROM orders WHERE id = $1 AND status = 'confirmed'",
		               orders[i], NULL)) {
			left = FLOOD - a_done(&a);
			p_show_log_tail(w.log, 20);
			H_FAIL("store B's order %s (#%d) not confirmed within %.0f s while store A "
			       "has %lld events left",
			       orders[i], i, B_DEADLINE_S, left);
		}
		lat[i] = h_now() - t0;
		/* From the database's clock: A's events completed between B's event becoming
		 * visible and its completion (and, for reference, since the checkout transaction
		 * that wrote it began). */
		{
			char *from = h_db_str("SELECT created_at::text FROM outbox_events "
			                      "WHERE store_id = $1 AND aggregate_id = $2 "
			                      "AND type = 'PaymentAuthorized'",
			                      b.id, orders[i], NULL);
			char *to = h_db_str("SELECT done_at::text FROM outbox_events "
			                    "WHERE store_id = $1 AND aggregate_id = $2 "
			                    "AND type = 'PaymentAuthorized'",
			                    b.id, orders[i], NULL);

			H_CHECK(from && to, "B's event has no created_at/done_at");
			during[i] =
			        h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 "
			                "AND status = 'done' AND done_at > $2::timestamptz "
			                "AND done_at < $3::timestamptz",
			                a.id, visible, to, NULL);
			during_tx[i] =
			        h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 "
			                "AND status = 'done' AND done_at > $2::timestamptz "
			                "AND done_at < $3::timestamptz",
			                a.id, from, to, NULL);
			free(from);
			free(to);
			free(visible);
		}
		if (during[i] > worst_during)
			worst_during = during[i];
	}
	left = FLOOD - a_done(&a);
	resp_release(&r);

	for (int i = 0; i < B_ORDERS; i++)
		print_message(
		        "[          ] B order %d: confirmed %.0f ms after its 202; %lld of A's "
		        "events completed meanwhile (%lld counted from the start of the "
		        "checkout transaction)\n",
		        i, lat[i] * 1000, during[i], during_tx[i]);
	print_message("[          ] after B's last confirmation A still had %lld of %d events "
	              "(%.1f %%)\n",
	              left, FLOOD, 100.0 * (double)left / FLOOD);
	H_CHECK(left > FLOOD * 9 / 10,
	        "A's backlog fell to %lld before B's %d orders were confirmed: B waited for A",
	        left, B_ORDERS);
	H_CHECK(worst_during <= MAX_A_WHILE_B,
	        "%lld of A's events completed while one of B's waited (limit %d: %d batches of %d "
	        "per thread)",
	        worst_during, MAX_A_WHILE_B, MAX_A_WHILE_B / (BATCH * WORKER_THREADS), BATCH);
	p_assert_all_confirmed(&b, B_ORDERS);
	p_assert_stock(&b, pid, 100, "'confirmed'");

	/* The operator's view while the flood lasts: A has a backlog, B has none. */
	h_get(&r, "/v1/ops/outbox", h_env.operator_key);
	H_STATUS(&r, 200);
	for (size_t i = 0; i < json_array_size(h_j(r.json, "stores")); i++) {
		json_t *st = json_array_get(h_j(r.json, "stores"), i);
		const char *slug = h_jstr(st, "store");
		long long backlog = 0;

		H_CHECK(slug && h_jint(st, "backlog", &backlog), "bad ops/outbox entry: %s",
		        r.body);
		if (strcmp(slug, b.slug) == 0)
			H_CHECK(backlog == 0, "store B has a backlog of %lld: %s", backlog, r.body);
		if (strcmp(slug, a.slug) == 0) {
			double age = json_number_value(h_j(st, "oldest_due_age_seconds"));

			H_CHECK(backlog > FLOOD / 2, "store A's backlog is %lld: %s", backlog,
			        r.body);
			H_CHECK(age > 0, "store A's oldest due event is %.3f s old: %s", age,
			        r.body);
		}
	}
	resp_release(&r);

	/* The drain rate (informational): one worker process over the flood. */
	while (h_now() - t1 < RATE_WINDOW_S)
		h_sleep_ms(100); /* a measurement window, not a synchronisation */
	t2 = h_now();
	d2 = a_done(&a);
	{
		char *rate = h_db_str("SELECT round(count(*) / nullif(extract(epoch FROM "
		                      "max(done_at) - min(done_at)), 0))::text FROM outbox_events "
		                      "WHERE store_id = $1 AND status = 'done'",
		                      a.id, NULL);

		db_rate = rate ? strtod(rate, NULL) : 0;
		free(rate);
	}
	print_message("[          ] no-op drain, one worker process of %d threads: %.0f events/s "
	              "(%lld in %.1f s by the client's clock; %.0f/s by done_at)\n",
	              WORKER_THREADS, (double)(d2 - d1) / (t2 - t1), d2 - d1, t2 - t1, db_rate);

	{
		double took = 0;
		int st = p_worker_term(&w, 5.0, &took);

		if (st != 0)
			p_show_log_tail(w.log, 20);
		H_CHECK(st == 0, "SIGTERM during the flood gave %s after %.2f s",
		        p_worker_describe(&w), took);
	}
	v = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status = 'pending' "
	            "AND claimed_until > now()",
	            a.id, NULL);
	H_CHECK(v == 0, "%lld of A's events still leased after SIGTERM", v);
	v = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status = 'dead'",
	            a.id, NULL);
	H_CHECK(v == 0, "%lld of A's no-op events dead", v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_flood_does_not_starve_other_store, teardown),
	};

	return H_RUN_SUITE("itest_fairness", tests, NULL, NULL);
}
