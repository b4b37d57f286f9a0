/*
 * itest_crash.c — kill -9 loses nothing (guarantees §4): hundreds of async checkouts while three
 * terminus-worker processes are SIGKILLed at random moments (every 100–400 ms one of them) and
 * restarted at once. Then one last worker drains the outbox, and the database must show every
 * order confirmed, each with exactly one payment, captured, and exactly one capture at the
 * provider; stock taken exactly once per order line; each timeline confirming once; every event
 * done.
 *
 * A killed worker's claimed events come back once a running worker's reaper sees its database
 * sessions gone (about a second); the drain deadline of 75 s leaves room for the lease
 * (OUTBOX_LEASE_S, 30 s) all the same. The random schedule's seed is printed
 * (TERMINUS_TEST_SEED=… replays it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "fixtures.h"
#include "procs.h"
#include "banned.h"

#define CRASH_ORDERS     400
#define CRASH_PRODUCTS   4
#define CRASH_STOCK      10000
#define CRASH_WORKERS    3
#define CHAOS_MIN_S      8.0  /* keep killing at least this long, even if the load is done */
#define CHAOS_MAX_S      40.0 /* and never longer than this */
#define DRAIN_DEADLINE_S 75.0
#define MAX_LOGS         512

static int teardown(void **state)
{
	(void)state;
	p_stop_all();
	return 0;
}

static unsigned seed_from_env(void)
{
	const char *s = getenv("TERMINUS_TEST_SEED");

	if (s && *s)
		return (unsigned)strtoul(s, NULL, 10);
	return (unsigned)time(NULL) ^ (unsigned)getpid();
}

static void test_kill9_loses_nothing(void **state)
{
	struct h_store s;
	char pids[CRASH_PRODUCTS][H_ID_LEN];
	const char *products[CRASH_PRODUCTS];
	struct p_worker w[CRASH_WORKERS], last;
	struct p_worker_opts o = {.no_wait = true, .retry_base_ms = 50};
	struct p_load l = {0};
	static char logs[MAX_LOGS][512];
	const char *logp[MAX_LOGS];
	size_t nlogs = 0;
	unsigned seed = seed_from_env();
	int kills = 0, gen = 0;
	double t0, chaos_s, load_s = 0, drain_s;
	long long left = -1, dead, mid_pending, mid_done;
	struct p_handled *h;
	size_t nh, outcomes[4] = {0, 0, 0, 0};

	(void)state;
	print_message("[          ] seed %u (TERMINUS_TEST_SEED=%u replays the kill schedule)\n",
	              seed, seed);
	h_must_create_store(&s, "crash");
	for (int i = 0; i < CRASH_PRODUCTS; i++) {
		h_must_create_product(&s, 199 + i, CRASH_STOCK, pids[i]);
		products[i] = pids[i];
	}

	for (int i = 0; i < CRASH_WORKERS; i++) {
		char tag[48];

		snprintf(tag, sizeof(tag), "crash-%d", gen++);
		H_CHECK(p_worker_start(&w[i], tag, &o), "worker %s did not start", tag);
		snprintf(logs[nlogs++], sizeof(logs[0]), "%s", w[i].log);
	}

	l.store = &s;
	l.products = products;
	l.nproducts = CRASH_PRODUCTS;
	l.max_quantity = 3;
	l.n = CRASH_ORDERS;
	l.threads = 4;
	t0 = h_now();
	p_load_start(&l);

	/* The chaos: every 100–400 ms one worker, chosen at random, dies by SIGKILL and a new one
	 * takes its place at once. */
	for (;;) {
		double now = h_now() - t0;
		bool load_done = p_load_answered(&l) == CRASH_ORDERS;
		int victim;
		char tag[48];

		if (load_done && load_s == 0)
			load_s = now;
		if ((load_done && now >= CHAOS_MIN_S) || now >= CHAOS_MAX_S)
			break;
		h_sleep_ms(100 + rand_r(&seed) % 301); /* the schedule, not a synchronisation */
		victim = (int)(rand_r(&seed) % CRASH_WORKERS);
		p_worker_kill9(&w[victim]);
		kills++;
		snprintf(tag, sizeof(tag), "crash-%d", gen++);
		H_CHECK(nlogs < MAX_LOGS, "too many worker logs");
		H_CHECK(p_worker_start(&w[victim], tag, &o), "worker %s did not start", tag);
		snprintf(logs[nlogs++], sizeof(logs[0]), "%s", w[victim].log);
	}
	chaos_s = h_now() - t0;
	p_load_join(&l);
	if (load_s == 0)
		load_s = h_now() - t0;
	mid_pending = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	                      "AND status = 'pending'",
	                      s.id, NULL);
	mid_done = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	                   "AND status = 'done'",
	                   s.id, NULL);
	/* The last kills: nobody finishes gracefully. */
	for (int i = 0; i < CRASH_WORKERS; i++) {
		p_worker_kill9(&w[i]);
		kills++;
	}
	print_message("[          ] %d checkouts in %.1f s; %d workers SIGKILLed over %.1f s; "
	              "then %lld events done, %lld pending\n",
	              CRASH_ORDERS, load_s, kills, chaos_s, mid_done, mid_pending);
	p_load_assert_answers(&l, 202, 0);

	/* One worker drains what is left, including what the dead ones held under lease. */
	H_CHECK(p_worker_start(&last, "crash-final", &(struct p_worker_opts){.retry_base_ms = 50}),
	        "the final worker did not start");
	snprintf(logs[nlogs++], sizeof(logs[0]), "%s", last.log);
	t0 = h_now();
	if (!p_wait_db(DRAIN_DEADLINE_S, &left, "==", 0,
	               "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND status = 'pending'",
	               s.id, NULL)) {
		p_show_log_tail(last.log, 20);
		H_FAIL("%lld events still pending %.0f s after the last kill", left,
		       DRAIN_DEADLINE_S);
	}
	drain_s = h_now() - t0;
	dead = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status = 'dead'",
	               s.id, NULL);
	H_CHECK(dead == 0, "%lld events dead after the crashes", dead);
	{
		double took = 0;
		int st = p_worker_term(&last, 5.0, &took);

		H_CHECK(st == 0, "the final worker: SIGTERM gave %s after %.2f s",
		        p_worker_describe(&last), took);
	}

	for (size_t i = 0; i < nlogs; i++)
		logp[i] = logs[i];
	h = p_handled_read(logp, nlogs, &nh);
	for (size_t i = 0; i < nh; i++) {
		static const char *const names[] = {"done", "retry", "dead", "lease_lost"};

		for (int k = 0; k < 4; k++) {
			if (strcmp(h[i].outcome, names[k]) == 0)
				outcomes[k]++;
		}
	}
	free(h);
	print_message("[          ] final drain %.1f s; %zu worker logs: %zu done, %zu retry, "
	              "%zu dead, %zu lease_lost lines\n",
	              drain_s, nlogs, outcomes[0], outcomes[1], outcomes[2], outcomes[3]);

	p_assert_all_confirmed(&s, CRASH_ORDERS);
	for (int i = 0; i < CRASH_PRODUCTS; i++)
		p_assert_stock(&s, pids[i], CRASH_STOCK, "'confirmed'");
	/* The client's own count of what it bought agrees with the database. */
	{
		long long want[CRASH_PRODUCTS] = {0};

		for (size_t i = 0; i < l.n; i++)
			want[l.orders[i].product] += l.orders[i].quantity;
		for (int i = 0; i < CRASH_PRODUCTS; i++) {
			long long avail = h_must_available(&s, pids[i]);

			H_CHECK(avail == CRASH_STOCK - want[i],
			        "product %s: %lld available, the client bought %lld of %d", pids[i],
			        avail, want[i], CRASH_STOCK);
		}
	}
	p_load_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_kill9_loses_nothing, teardown),
	};

	return H_RUN_SUITE("itest_crash", tests, NULL, NULL);
}
