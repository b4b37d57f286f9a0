/*
 * itest_overload.c — load shedding. A second terminus-api with one handler thread and a 50 ms
 * queue target gets eight slow synchronous checkouts at once (chaos.worker_slow stalls each
 * handler 500 ms): the ones that would wait past the target are answered 503 overloaded with
 * Retry-After at once, without any effect — their orders stay pending and their idempotency keys
 * stay free, so the same request sent again later goes through.
 *
 * And per-store rate limiting: a third terminus-api lets each store through at 2 requests per
 * second (burst 10). A store that sends more is answered 429 rate_limited with Retry-After, at
 * once and without effect (a limited checkout leaves its order pending and its key free), while
 * another store, the routes of no store, the store's admins (a bucket of their own) and the
 * operator are not held back; the store goes through again when its bucket has refilled.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "banned.h"

#define CLIENTS 8

static struct h_proc slow_api = {.pid = -1};
static struct h_proc limited_api = {.pid = -1};

struct client {
	const char *base;
	const struct h_store *store;
	char order[H_ID_LEN];
	char key[80];
	struct resp r;
	pthread_t thread;
};

static void *send_checkout(void *arg)
{
	struct client *c = arg;
	char path[256];
	struct h_req q = {0};

	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/checkout", c->store->slug, c->order);
	q.method = "POST";
	q.base = c->base;
	q.path = path;
	q.idem_key = c->key;
	q.body = "{\"payment_token\":\"tok_ok\"}";
	q.timeout_ms = 20000;
	h_request(&q, &c->r);
	return NULL;
}

static void test_overload_is_shed_without_effect(void **state)
{
	static struct client clients[CLIENTS];
	struct h_store s;
	char pid[H_ID_LEN];
	int ok = 0, shed = 0;

	(void)state;
	/* One handler thread, a 50 ms queue target: its environment is the test's. */
	setenv("TERMINUS_HTTP_THREADS", "1", 1);
	setenv("TERMINUS_QUEUE_TARGET_MS", "50", 1);
	H_CHECK(h_api_start(&slow_api, "one-thread"), "could not start a one-thread terminus-api");
	unsetenv("TERMINUS_HTTP_THREADS");
	unsetenv("TERMINUS_QUEUE_TARGET_MS");

	h_must_create_store(&s, "overload");
	h_must_create_product(&s, 500, 100, pid);
	h_must_set_flag(&s, "checkout.async_enabled", false);
	h_must_set_flag(&s, "chaos.worker_slow", true);
	for (int i = 0; i < CLIENTS; i++) {
		clients[i].base = slow_api.base;
		clients[i].store = &s;
		h_must_create_order(&s, pid, 1, clients[i].order);
		h_unique_key(clients[i].key, sizeof(clients[i].key), "shed");
	}
	for (int i = 0; i < CLIENTS; i++)
		H_CHECK(pthread_create(&clients[i].thread, NULL, send_checkout, &clients[i]) == 0,
		        "pthread_create failed");
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(clients[i].thread, NULL);

	for (int i = 0; i < CLIENTS; i++) {
		struct resp *r = &clients[i].r;

		if (r->status == 200) {
			ok++;
			continue;
		}
		H_ERROR(r, 503, "overloaded");
		H_CHECK(resp_header(r, "Retry-After") != NULL &&
		                strcmp(resp_header(r, "Retry-After"), "1") == 0,
		        "a shed request without Retry-After: 1");
		/* Shed before anything ran: quick, and no effect. */
		H_CHECK(r->seconds < 2.0, "a shed request took %.2f s", r->seconds);
		H_CHECK(h_db_ll("SELECT count(*) FROM orders WHERE id = $1 AND status = 'pending'",
		                clients[i].order, NULL) == 1,
		        "a shed checkout changed its order");
		H_CHECK(h_db_ll("SELECT count(*) FROM idempotency_keys WHERE key = $1",
		                clients[i].key, NULL) == 0,
		        "a shed checkout kept its idempotency key");
		shed++;
	}
	print_message("[          ] %d checkouts answered, %d shed with 503 overloaded\n", ok,
	              shed);
	H_CHECK(ok >= 1, "no checkout went through");
	H_CHECK(shed >= 1, "nothing was shed: %d of %d answered 200", ok, CLIENTS);

	/* The load gone, the same requests go through. */
	h_must_set_flag(&s, "chaos.worker_slow", false);
	for (int i = 0; i < CLIENTS; i++) {
		if (clients[i].r.status == 200)
			continue;
		resp_release(&clients[i].r);
		send_checkout(&clients[i]);
		H_STATUS(&clients[i].r, 200);
		H_JSTR(clients[i].r.json, "status", "confirmed");
	}
	for (int i = 0; i < CLIENTS; i++)
		resp_release(&clients[i].r);
	H_CHECK(h_db_ll("SELECT count(*) FROM orders WHERE store_id = $1 AND status = 'confirmed'",
	                s.id, NULL) == CLIENTS,
	        "not every order confirmed after the load");
}

#define RATE  2
#define BURST 10

/* Sends GET path to the limited API n times as fast as it can; counts 200s and 429s, and checks
 * that every 429 is the documented one; *last_wait_ms is the last 429's retry_after_ms. */
static long long last_wait_ms;

static void browse(const char *path, int n, int *ok, int *limited)
{
	struct h_req q = {.base = limited_api.base, .path = path};

	*ok = *limited = 0;
	last_wait_ms = 0;
	for (int i = 0; i < n; i++) {
		struct resp r = {0};
		long long wait_ms = 0;

		h_request(&q, &r);
		if (r.status == 200) {
			(*ok)++;
		} else {
			H_ERROR(&r, 429, "rate_limited");
			H_CHECK(resp_header(&r, "Retry-After") != NULL &&
			                strcmp(resp_header(&r, "Retry-After"), "1") == 0,
			        "a 429 at %d/s without Retry-After: 1", RATE);
			H_CHECK(h_jint(r.json, "error.details.retry_after_ms", &wait_ms) &&
			                wait_ms >= 1 && wait_ms <= 1000 / RATE + 1,
			        "details.retry_after_ms %lld, not in 1..%d", wait_ms,
			        1000 / RATE + 1);
			last_wait_ms = wait_ms;
			(*limited)++;
		}
		resp_release(&r);
	}
}

static void test_store_over_its_rate_gets_429(void **state)
{
	struct h_store noisy, quiet;
	char pid[H_ID_LEN], order[H_ID_LEN], key[80], path[256], quiet_path[256];
	struct resp r = {0};
	int ok, limited;
	double deadline;

	(void)state;
	setenv("TERMINUS_STORE_RATE_LIMIT", "2", 1);
	setenv("TERMINUS_STORE_BURST", "10", 1);
	H_CHECK(h_api_start(&limited_api, "rate-limited"), "could not start a rate-limited API");
	unsetenv("TERMINUS_STORE_BURST");
	setenv("TERMINUS_STORE_RATE_LIMIT", "0", 1); /* as tests/run.sh has it */

	/* Set up through the suite's API, which has no limit. */
	h_must_create_store(&noisy, "noisy");
	h_must_create_store(&quiet, "quiet");
	h_must_create_product(&noisy, 500, 100, pid);
	h_must_create_order(&noisy, pid, 1, order);
	h_must_set_flag(&noisy, "checkout.async_enabled", false);
	h_unique_key(key, sizeof(key), "limited");
	snprintf(path, sizeof(path), "/v1/stores/%s/products", noisy.slug);
	snprintf(quiet_path, sizeof(quiet_path), "/v1/stores/%s/products", quiet.slug);

	/* The burst goes through (plus what refilled while sending), the rest is refused. */
	browse(path, 3 * BURST, &ok, &limited);
	print_message("[          ] %d of %d answered, %d limited\n", ok, 3 * BURST, limited);
	H_CHECK(ok >= BURST && limited >= 1, "%d answered, %d limited: no limit at burst %d", ok,
	        limited, BURST);

	/* Another store is not held back by the first, nor are routes of no store. */
	browse(quiet_path, BURST, &ok, &limited);
	H_CHECK(ok == BURST, "the quiet store was limited (%d of %d answered)", ok, BURST);
	{
		struct h_req q = {.base = limited_api.base, .path = "/v1/stores"};

		h_request(&q, &r);
		H_STATUS(&r, 200);
		resp_release(&r);
	}

	/* The store's admins have a bucket of their own, and the operator is never limited: an
	 * anonymous flood of the storefront locks neither out. */
	{
		char orders_path[256];
		struct h_req q = {.base = limited_api.base, .path = orders_path};

		snprintf(orders_path, sizeof(orders_path), "/v1/stores/%s/orders", noisy.slug);
		q.auth = noisy.key;
		h_request(&q, &r);
		H_STATUS(&r, 200);
		resp_release(&r);
		q.auth = h_env.operator_key;
		for (int i = 0; i < 3 * BURST; i++) {
			h_request(&q, &r);
			H_STATUS(&r, 200);
			resp_release(&r);
		}
	}

	/* A limited checkout has no effect... Drained until the next token is at least half a
	 * token away, so that it cannot refill before the checkout arrives. */
	do {
		browse(path, 1, &ok, &limited);
	} while (limited == 0 || last_wait_ms < 500 / RATE);
	H_CHECK(h_checkout_at(&r, limited_api.base, &noisy, order, key, "tok_ok"),
	        "no answer to the checkout");
	H_ERROR(&r, 429, "rate_limited");
	resp_release(&r);
	H_CHECK(h_db_ll("SELECT count(*) FROM orders WHERE id = $1 AND status = 'pending'", order,
	                NULL) == 1,
	        "a rate-limited checkout changed its order");
	H_CHECK(h_db_ll("SELECT count(*) FROM idempotency_keys WHERE key = $1", key, NULL) == 0,
	        "a rate-limited checkout kept its idempotency key");

	/* ...and the same request goes through once the bucket has a token again (Retry-After). */
	deadline = h_now() + 10;
	for (;;) {
		H_CHECK(h_checkout_at(&r, limited_api.base, &noisy, order, key, "tok_ok"),
		        "no answer to the checkout");
		if (r.status != 429 || h_now() > deadline)
			break;
		resp_release(&r);
		h_sleep_ms(1000 / RATE);
	}
	H_STATUS(&r, 200);
	H_JSTR(r.json, "status", "confirmed");
	resp_release(&r);

	/* Counted under its route in the API's metrics. */
	{
		struct h_req q = {.base = limited_api.base, .path = "/metrics"};
		char series[300];

		h_request(&q, &r);
		H_STATUS(&r, 200);
		snprintf(series, sizeof(series),
		         "terminus_http_requests_total{route=\"/v1/stores/{store}/products\","
		         "status=\"429\"}");
		H_CHECK(strstr(r.body, series) != NULL, "no %s in /metrics", series);
		resp_release(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_overload_is_shed_without_effect),
	        cmocka_unit_test(test_store_over_its_rate_gets_429),
	};

	return H_RUN_SUITE("itest_overload", tests, NULL, NULL);
}
