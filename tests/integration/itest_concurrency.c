/*
 * itest_concurrency.c — races through real HTTP: many buyers for a few units (a flash sale),
 * many copies of one request with one key (a retry storm), many keys for one order.
 *
 * Threads only send requests and keep the answers; every assertion runs on the test thread
 * after they are joined. A barrier releases all threads at once so that the requests really
 * overlap. What must hold is checked both in the answers and in the database: the stock, the
 * number of payments and events, the order statuses.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "banned.h"

/* One request to send and its answer: a checkout, or (with adjust set) a stock adjustment. */
struct job {
	const struct h_store *store;
	char order_id[H_ID_LEN];
	char key[80];
	const char *token;
	const char *adjust_product; /* POST …/products/{id}/inventory {"delta":-1} instead */
	const char *base;           /* another API process, or NULL for the suite's */
	struct resp r;
};

struct pool {
	struct job *jobs;
	size_t n;
	atomic_size_t next;
	pthread_barrier_t start;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	size_t i;

	pthread_barrier_wait(&p->start);
	while ((i = atomic_fetch_add(&p->next, 1)) < p->n) {
		struct job *j = &p->jobs[i];

		if (j->adjust_product)
			h_sendf(&j->r, "POST", j->store->key, "{\"delta\":-1,\"reason\":\"race\"}",
			        "/v1/stores/%s/products/%s/inventory", j->store->slug,
			        j->adjust_product);
		else
			h_checkout_at(&j->r, j->base, j->store, j->order_id, j->key, j->token);
	}
	return NULL;
}

/* Sends every job from nthreads threads released together; returns when all are answered. */
static void run_jobs(struct job *jobs, size_t n, int nthreads)
{
	struct pool p = {.jobs = jobs, .n = n};
	pthread_t *t = calloc((size_t)nthreads, sizeof(*t));
	int i;

	H_CHECK(t != NULL, "out of memory");
	atomic_init(&p.next, 0);
	pthread_barrier_init(&p.start, NULL, (unsigned)nthreads);
	for (i = 0; i < nthreads; i++)
		H_CHECK(pthread_create(&t[i], NULL, worker, &p) == 0, "pthread_create");
	for (i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&p.start);
	free(t);
}

static void free_jobs(struct job *jobs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		resp_release(&jobs[i].r);
	free(jobs);
}

/* A second API process on the same database, for races across processes. */
static struct h_proc second = {.pid = -1};

static const char *second_base(void)
{
	if (second.pid <= 0)
		H_CHECK(h_api_start(&second, "second"),
		        "could not start a second terminus-api (log %s)", second.log);
	return second.base;
}

/* ---- flash sale ------------------------------------------------------------------------------ */

static void flash_sale(bool async, size_t buyers, int threads, long long stock, bool two_processes)
{
	struct h_store s;
	char pid[H_ID_LEN];
	struct job *jobs = calloc(buyers, sizeof(*jobs));
	long want_ok = async ? 202 : 200;
	long long ok = 0;
	long long sold_out = 0;
	const struct resp *stale = NULL;
	long long stale_count = 0;
	char example[512];
	long long avail;
	double t0;
	size_t i;

	H_CHECK(jobs != NULL, "out of memory");
	h_must_create_store(&s, async ? "flash-async" : "flash-sync");
	if (!async)
		h_must_set_flag(&s, "checkout.async_enabled", false);
	h_must_create_product(&s, 1999, stock, pid);
	for (i = 0; i < buyers; i++) {
		jobs[i].store = &s;
		jobs[i].token = "tok_ok";
		h_must_create_order(&s, pid, 1, jobs[i].order_id);
		h_unique_key(jobs[i].key, sizeof(jobs[i].key), "buyer");
		jobs[i].base = two_processes && i % 2 ? second_base() : NULL;
	}

	t0 = h_now();
	run_jobs(jobs, buyers, threads);
	print_message("flash sale (%s%s): %zu buyers on %d threads in %.2f s\n",
	              async ? "async" : "sync", two_processes ? ", two processes" : "", buyers,
	              threads, h_now() - t0);

	for (i = 0; i < buyers; i++) {
		struct resp *r = &jobs[i].r;

		if (r->status == want_ok) {
			H_STATUS(r, want_ok);
			H_JSTR(r->json, "status", async ? "payment_authorized" : "confirmed");
			ok++;
		} else {
			/* Anything but a clean "sold out" fails here, with the answer shown. */
			H_ERROR(r, 409, "insufficient_inventory");
			H_JSTR(r->json, "error.details.product_id", pid);
			H_JINT(r->json, "error.details.requested", 1);
			/* Checked last, after the invariants that matter more. */
			if (!h_jint(r->json, "error.details.available", &avail) || avail != 0) {
				if (!stale)
					stale = r;
				stale_count++;
			}
			sold_out++;
		}
	}
	H_CHECK(ok == stock, "want exactly %lld sales, got %lld", stock, ok);
	H_CHECK(sold_out == (long long)buyers - stock, "want %lld sold-out answers, got %lld",
	        (long long)buyers - stock, sold_out);

	/* The database agrees: no stock left, one live payment per sale, the rest untouched. */
	H_CHECK(h_must_available(&s, pid) == 0, "stock must end at 0");
	H_CHECK(h_db_ll("SELECT available FROM inventory WHERE product_id = $1", pid, NULL) == 0,
	        "database stock must end at 0");
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE store_id = $1 AND status = $2", s.id,
	                async ? "authorized" : "captured", NULL) == stock,
	        "want exactly %lld %s payments", stock, async ? "authorized" : "captured");
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE store_id = $1", s.id, NULL) == stock,
	        "payments for failed checkouts exist");
	H_CHECK(h_db_ll("SELECT count(*) FROM orders WHERE store_id = $1 AND status = $2", s.id,
	                async ? "payment_authorized" : "confirmed", NULL) == stock,
	        "want exactly %lld orders through checkout", stock);
	H_CHECK(h_db_ll("SELECT count(*) FROM orders WHERE store_id = $1 AND status = 'pending'",
	                s.id, NULL) == (long long)buyers - stock,
	        "every sold-out order must still be pending");
	/* Units sold equal the stock taken. */
	H_CHECK(h_db_ll("SELECT coalesce(sum(i.quantity), 0) FROM order_items i JOIN orders o ON "
	                "o.id = i.order_id WHERE i.product_id = $1 AND o.status <> 'pending'",
	                pid, NULL) == stock,
	        "units sold differ from the stock taken");
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 AND type = "
	                "'PaymentAuthorized'",
	                s.id, NULL) == stock,
	        "want one PaymentAuthorized event per sale");
	/* A buyer of 1 unit is refused only when none is left: details.available must say 0. */
	snprintf(example, sizeof(example), "%s", stale ? stale->body : "");
	free_jobs(jobs, buyers);
	H_CHECK(stale_count == 0,
	        "%lld of %lld sold-out answers report available > 0 for 1 requested unit, e.g. %s",
	        stale_count, sold_out, example);
}

static void test_flash_sale_sync(void **state)
{
	(void)state;
	flash_sale(false, 60, 16, 5, false);
}

static void test_flash_sale_two_processes(void **state)
{
	(void)state;
	flash_sale(false, 60, 16, 7, true);
}

static void test_flash_sale_async(void **state)
{
	(void)state;
	flash_sale(true, 40, 16, 5, false);
}

/* ---- retry storm ----------------------------------------------------------------------------- */

static void retry_storm(bool async, size_t copies, bool two_processes)
{
	struct h_store s;
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	struct job *jobs = calloc(copies, sizeof(*jobs));
	struct resp again = {0};
	const struct resp *first = NULL;
	long want_ok = async ? 202 : 200;
	size_t ok = 0;
	size_t originals = 0;
	size_t in_use = 0;
	size_t i;

	H_CHECK(jobs != NULL, "out of memory");
	h_must_create_store(&s, async ? "storm-async" : "storm-sync");
	if (!async)
		h_must_set_flag(&s, "checkout.async_enabled", false);
	h_must_create_product(&s, 500, 10, pid);
	h_must_create_order(&s, pid, 3, oid);
	h_unique_key(key, sizeof(key), "storm");
	for (i = 0; i < copies; i++) {
		jobs[i].store = &s;
		jobs[i].token = "tok_ok";
		snprintf(jobs[i].order_id, sizeof(jobs[i].order_id), "%s", oid);
		snprintf(jobs[i].key, sizeof(jobs[i].key), "%s", key);
		jobs[i].base = two_processes && i % 2 ? second_base() : NULL;
	}
	run_jobs(jobs, copies, (int)copies);

	for (i = 0; i < copies; i++) {
		struct resp *r = &jobs[i].r;

		if (r->status >= 200 && r->status < 300) {
			H_STATUS(r, want_ok);
			if (!first)
				first = r;
			H_SAME_BODY(first, r);
			if (!resp_header(r, "Idempotent-Replayed"))
				originals++;
			ok++;
		} else {
			H_ERROR(r, 409, "idempotency_key_in_use");
			in_use++;
		}
	}
	print_message("retry storm (%s%s): %zu copies: %zu answered %ld, %zu in use\n",
	              async ? "async" : "sync", two_processes ? ", two processes" : "", copies, ok,
	              want_ok, in_use);
	H_CHECK(ok >= 1, "no copy succeeded");
	H_CHECK(originals == 1, "want exactly one original (not replayed) answer, got %zu",
	        originals);

	/* One effect. */
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1", oid, NULL) == 1,
	        "want exactly one payment");
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1 AND status = $2", oid,
	                async ? "authorized" : "captured", NULL) == 1,
	        "the payment is not %s", async ? "authorized" : "captured");
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE aggregate_id = $1 "
	                "AND type = 'PaymentAuthorized'",
	                oid, NULL) == 1,
	        "want exactly one PaymentAuthorized event");
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE aggregate_id = $1 "
	                "AND type = 'OrderStatusChanged' AND payload->>'to' = 'payment_authorized'",
	                oid, NULL) == 1,
	        "want exactly one checked-out status change");
	H_CHECK(h_must_available(&s, pid) == 7, "stock must be taken once (10 - 3)");
	H_CHECK(h_db_ll("SELECT count(*) FROM order_events WHERE order_id = $1 AND to_status = "
	                "'payment_authorized'",
	                oid, NULL) == 1,
	        "the order was authorized more than once");

	/* After the storm the key replays the one answer. */
	h_checkout(&again, &s, oid, key, "tok_ok");
	H_SAME_BODY(first, &again);
	H_CHECK(resp_header(&again, "Idempotent-Replayed") &&
	                !strcmp(resp_header(&again, "Idempotent-Replayed"), "true"),
	        "a later retry must be a replay");
	resp_release(&again);
	free_jobs(jobs, copies);
}

static void test_retry_storm_sync(void **state)
{
	(void)state;
	retry_storm(false, 40, false);
}

static void test_retry_storm_async(void **state)
{
	(void)state;
	retry_storm(true, 40, false);
}

static void test_retry_storm_two_processes(void **state)
{
	(void)state;
	retry_storm(false, 40, true);
}

/* ---- one order, many keys -------------------------------------------------------------------- */

static void test_many_keys_one_order(void **state)
{
	const size_t n = 20;
	struct h_store s;
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	struct job *jobs = calloc(n, sizeof(*jobs));
	size_t ok = 0;
	size_t i;

	(void)state;
	H_CHECK(jobs != NULL, "out of memory");
	h_must_create_store(&s, "keys-race");
	h_must_set_flag(&s, "checkout.async_enabled", false);
	h_must_create_product(&s, 500, 10, pid);
	h_must_create_order(&s, pid, 2, oid);
	for (i = 0; i < n; i++) {
		jobs[i].store = &s;
		jobs[i].token = "tok_ok";
		snprintf(jobs[i].order_id, sizeof(jobs[i].order_id), "%s", oid);
		h_unique_key(jobs[i].key, sizeof(jobs[i].key), "race");
	}
	run_jobs(jobs, n, (int)n);
	for (i = 0; i < n; i++) {
		struct resp *r = &jobs[i].r;

		if (r->status == 200) {
			H_JSTR(r->json, "status", "confirmed");
			ok++;
		} else {
			H_ERROR(r, 409, "order_not_pending");
		}
	}
	H_CHECK(ok == 1, "want exactly one checkout of the order, got %zu", ok);
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1", oid, NULL) == 1,
	        "want exactly one payment");
	H_CHECK(h_must_available(&s, pid) == 8, "stock must be taken once (10 - 2)");
	free_jobs(jobs, n);
}

/* ---- lines in opposite orders ---------------------------------------------------------------- */

/* Orders naming the same two products in opposite orders, checked out at once: a server that
 * locks stock rows in line order deadlocks; every checkout must still succeed (the database
 * breaks deadlocks, the server retries), none may answer 5xx. */
static void test_crossed_lines(void **state)
{
	const size_t n = 30;
	struct h_store s;
	char pa[H_ID_LEN];
	char pb[H_ID_LEN];
	struct job *jobs = calloc(n, sizeof(*jobs));
	size_t ok = 0;
	size_t i;
	double t0;

	(void)state;
	H_CHECK(jobs != NULL, "out of memory");
	h_must_create_store(&s, "crossed");
	h_must_set_flag(&s, "checkout.async_enabled", false);
	h_must_create_product(&s, 100, (long long)n, pa);
	h_must_create_product(&s, 200, (long long)n, pb);
	for (i = 0; i < n; i++) {
		const char *ids[2] = {i % 2 ? pa : pb, i % 2 ? pb : pa};
		int qty[2] = {1, 1};

		jobs[i].store = &s;
		jobs[i].token = "tok_ok";
		h_must_create_order_lines(&s, 2, ids, qty, jobs[i].order_id);
		h_unique_key(jobs[i].key, sizeof(jobs[i].key), "cross");
	}
	t0 = h_now();
	run_jobs(jobs, n, 16);
	print_message("crossed lines: %zu checkouts in %.2f s\n", n, h_now() - t0);
	for (i = 0; i < n; i++) {
		H_STATUS(&jobs[i].r, 200);
		H_JSTR(jobs[i].r.json, "status", "confirmed");
		ok++;
	}
	H_CHECK(ok == n, "want %zu confirmed", n);
	H_CHECK(h_must_available(&s, pa) == 0 && h_must_available(&s, pb) == 0,
	        "both products must be sold out");
	free_jobs(jobs, n);
}

/* ---- checkouts and stock adjustments on one row ---------------------------------------------- */

/* Buyers and an admin taking stock away at the same time: stock never below zero, and what is
 * left is exactly the start minus what was sold minus what was taken. */
static void test_checkouts_race_adjustments(void **state)
{
	const size_t buyers = 30;
	const size_t takers = 20;
	const long long stock = 25;
	struct h_store s;
	char pid[H_ID_LEN];
	struct job *jobs = calloc(buyers + takers, sizeof(*jobs));
	long long sold = 0;
	long long taken = 0;
	long long left;
	long long avail;
	long long stale_count = 0;
	char example[512] = "";
	size_t i;

	(void)state;
	H_CHECK(jobs != NULL, "out of memory");
	h_must_create_store(&s, "adjust-race");
	h_must_set_flag(&s, "checkout.async_enabled", false);
	h_must_create_product(&s, 100, stock, pid);
	for (i = 0; i < buyers + takers; i++) {
		jobs[i].store = &s;
		/* Two of every five are takers (20 of 50), interleaved with the buyers. */
		if (i % 5 < 2) {
			jobs[i].adjust_product = pid;
			continue;
		}
		jobs[i].token = "tok_ok";
		h_must_create_order(&s, pid, 1, jobs[i].order_id);
		h_unique_key(jobs[i].key, sizeof(jobs[i].key), "adj");
	}
	run_jobs(jobs, buyers + takers, 16);
	for (i = 0; i < buyers + takers; i++) {
		struct resp *r = &jobs[i].r;

		if (r->status == 200) {
			H_STATUS(r, 200);
			if (jobs[i].adjust_product)
				taken++;
			else
				sold++;
		} else {
			H_ERROR(r, 409, "insufficient_inventory");
			H_JSTR(r->json, "error.details.product_id", pid);
			H_JINT(r->json, "error.details.requested", 1);
			/* One unit is refused only when none is left (checked after the totals). */
			if (!h_jint(r->json, "error.details.available", &avail) || avail != 0) {
				if (!stale_count)
					snprintf(example, sizeof(example), "%s", r->body);
				stale_count++;
			}
		}
	}
	left = h_must_available(&s, pid);
	print_message("stock %lld: sold %lld, taken %lld, left %lld\n", stock, sold, taken, left);
	H_CHECK(left >= 0, "stock below zero: %lld", left);
	H_CHECK(left == stock - sold - taken, "stock %lld - sold %lld - taken %lld != left %lld",
	        stock, sold, taken, left);
	H_CHECK(left == 0, "with %zu claims on %lld units, nothing may be left (left %lld)",
	        buyers + takers, stock, left);
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE store_id = $1 AND status = 'captured'",
	                s.id, NULL) == sold,
	        "captured payments differ from the sales");
	free_jobs(jobs, buyers + takers);
	H_CHECK(stale_count == 0, "%lld refusals of 1 unit report available > 0, e.g. %s",
	        stale_count, example);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_flash_sale_sync),
	        cmocka_unit_test(test_flash_sale_async),
	        cmocka_unit_test(test_flash_sale_two_processes),
	        cmocka_unit_test(test_retry_storm_sync),
	        cmocka_unit_test(test_retry_storm_async),
	        cmocka_unit_test(test_retry_storm_two_processes),
	        cmocka_unit_test(test_many_keys_one_order),
	        cmocka_unit_test(test_crossed_lines),
	        cmocka_unit_test(test_checkouts_race_adjustments),
	};

	return H_RUN_SUITE("itest_concurrency", tests, NULL, NULL);
}
