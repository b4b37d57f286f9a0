/*
 * itest_overload.c — load shedding. A second terminus-api with one handler thread and a 50 ms
 * queue target gets eight slow synchronous checkouts at once (chaos.worker_slow stalls each
 * handler 500 ms): the ones that would wait past the target are answered 503 overloaded with
 * Retry-After at once, without any effect — their orders stay pending and their idempotency keys
 * stay free, so the same request sent again later goes through.
 *
 * And per-client rate limiting: a third terminus-api lets each client address, and each verified
 * store key, through at 2 requests per second (burst 10). An address that sends more is answered
 * 429 rate_limited with Retry-After, at once and without effect (a limited checkout leaves its
 * order pending and its key free), while the same store's other customers, another store, the
 * store's admin (by its verified key, from any address) and the operator are not held back;
 * credentials nobody verified count against their address. And with the default limits one
 * store's busy hour — 300 orders by its admin, 120 buyers checking out and replaying — is not
 * capped at all.
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

#define ATTACKER "127.0.0.2"

/* Sends GET path to the limited API n times as fast as it can from address source; counts 200s
 * and 429s, and checks that every 429 is the documented one, for the kind of limit expected;
 * last_wait_ms is the last 429's retry_after_ms. */
static long long last_wait_ms;

static void browse_as(const char *source, const char *auth, const char *path, int n, int *ok,
                      int *limited, const char *kind)
{
	struct h_req q = {.base = limited_api.base, .path = path, .source = source};

	q.authorization = auth;
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
			H_JSTR(r.json, "error.details.limited", kind);
			last_wait_ms = wait_ms;
			(*limited)++;
		}
		resp_release(&r);
	}
}

static void browse(const char *path, int n, int *ok, int *limited)
{
	browse_as(ATTACKER, NULL, path, n, ok, limited, "client_address");
}

/* Limits are per client, not per store: one address flooding a store's catalog is held to its
 * own rate, and the store's other customers, its admins (by their verified key) and other
 * stores do not notice. Credentials nobody verified buy no allowance of their own. */
static void test_clients_are_limited_not_stores(void **state)
{
	struct h_store noisy, quiet;
	char pid[H_ID_LEN], order[H_ID_LEN], key[80], path[256], quiet_path[256], orders_path[256],
	        bearer[300];
	struct resp r = {0};
	int ok, limited;
	double deadline;

	(void)state;
	setenv("TERMINUS_CLIENT_RATE_LIMIT", "2", 1);
	setenv("TERMINUS_CLIENT_BURST", "10", 1);
	setenv("TERMINUS_KEY_RATE_LIMIT", "2", 1);
	setenv("TERMINUS_KEY_BURST", "10", 1);
	H_CHECK(h_api_start(&limited_api, "rate-limited"), "could not start a rate-limited API");
	unsetenv("TERMINUS_CLIENT_BURST");
	unsetenv("TERMINUS_KEY_BURST");
	setenv("TERMINUS_CLIENT_RATE_LIMIT", "0", 1); /* as tests/run.sh has it */
	setenv("TERMINUS_KEY_RATE_LIMIT", "0", 1);

	/* Set up through the suite's API, which has no limit. */
	h_must_create_store(&noisy, "noisy");
	h_must_create_store(&quiet, "quiet");
	h_must_create_product(&noisy, 500, 100, pid);
	h_must_create_order(&noisy, pid, 1, order);
	h_must_set_flag(&noisy, "checkout.async_enabled", false);
	h_unique_key(key, sizeof(key), "limited");
	snprintf(path, sizeof(path), "/v1/stores/%s/products", noisy.slug);
	snprintf(quiet_path, sizeof(quiet_path), "/v1/stores/%s/products", quiet.slug);
	snprintf(orders_path, sizeof(orders_path), "/v1/stores/%s/orders", noisy.slug);
	snprintf(bearer, sizeof(bearer), "Bearer %s", noisy.key);

	/* The attacker's burst goes through (plus what refilled while sending), the rest not. */
	browse(path, 3 * BURST, &ok, &limited);
	print_message("[          ] attacker: %d of %d answered, %d limited\n", ok, 3 * BURST,
	              limited);
	H_CHECK(ok >= BURST && limited >= 1, "%d answered, %d limited: no limit at burst %d", ok,
	        limited, BURST);

	/* The same store's customers (other addresses), another store, routes of no store: all
	 * served in full while the attacker is limited. */
	browse_as("127.0.0.3", NULL, path, BURST, &ok, &limited, "client_address");
	H_CHECK(ok == BURST, "a customer of the flooded store was limited (%d of %d answered)", ok,
	        BURST);
	browse_as("127.0.0.4", NULL, quiet_path, BURST, &ok, &limited, "client_address");
	H_CHECK(ok == BURST, "another store's customer was limited (%d of %d answered)", ok, BURST);

	/* Unverified credentials count against the sender's address: "Bearer nope" from the
	 * attacker is limited, and so is a well-formed key nobody issued. */
	browse_as(ATTACKER, "Bearer nope", orders_path, 1, &ok, &limited, "client_address");
	H_CHECK(limited == 1, "an unverified Authorization header escaped the address's limit");
	browse_as(ATTACKER,
	          "Bearer tsk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	          orders_path, 1, &ok, &limited, "client_address");
	H_CHECK(limited == 1, "an unknown store key escaped the address's limit");

	/* The store's admin, from the attacker's own address even, uses the verified key's
	 * allowance: its first request verifies the key (from a fresh address), the rest count
	 * against the key, whichever address they come from. */
	browse_as("127.0.0.5", bearer, orders_path, 1, &ok, &limited, "key");
	H_CHECK(ok == 1, "the admin's first request was limited");
	browse_as(ATTACKER, bearer, orders_path, BURST - 1, &ok, &limited, "key");
	H_CHECK(ok == BURST - 1,
	        "the verified admin was limited from the attacker's address "
	        "(%d of %d answered)",
	        ok, BURST - 1);
	/* ...and a key over its own rate is limited as a key. */
	browse_as("127.0.0.6", bearer, orders_path, 2 * BURST, &ok, &limited, "key");
	H_CHECK(limited >= 1, "a verified key was not limited at %d requests", 2 * BURST);

	/* The operator is never limited. */
	{
		struct h_req q = {
		        .base = limited_api.base, .path = orders_path, .source = ATTACKER};

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
	H_CHECK(h_checkout_from(&r, limited_api.base, ATTACKER, &noisy, order, key, "tok_ok"),
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
		H_CHECK(h_checkout_from(&r, limited_api.base, ATTACKER, &noisy, order, key,
		                        "tok_ok"),
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

#define BUYERS       120
#define ADMIN_ORDERS 300

struct buyer {
	const struct h_store *store;
	const char *base;
	char source[32];
	char order[H_ID_LEN];
	char key[80];
	int statuses[3]; /* the checkout, and two replays of it */
	char error[64];  /* the last error code answered */
	int unavailable; /* 503s sent again */
	pthread_t thread;
};

/* Checks out and replays twice; a 503 (overloaded, or the database briefly unavailable) is
 * sent again after its Retry-After, as a client should. A 429 is final: that is what this test
 * is about. */
static void *buy(void *arg)
{
	struct buyer *b = arg;
	struct resp r = {0};

	for (int i = 0; i < 3; i++) {
		for (int attempt = 0; attempt < 5; attempt++) {
			b->statuses[i] = h_checkout_from(&r, b->base, b->source, b->store, b->order,
			                                 b->key, "tok_ok")
			                         ? r.status
			                         : 0;
			if (r.status == 503 && h_jstr(r.json, "error.code") != NULL)
				snprintf(b->error, sizeof(b->error), "%s",
				         h_jstr(r.json, "error.code"));
			resp_release(&r);
			if (b->statuses[i] != 503)
				break;
			b->unavailable++;
			h_sleep_ms(1000);
		}
	}
	return NULL;
}

/* With the default limits, one store's ordinary busy hour is not capped: its admin creates 300
 * orders one after another with its key, then 120 buyers (each from an address of its own) check
 * out at once and replay their answers twice. Before the limits were per client, the store's
 * single bucket (100/s, burst 200) answered both with 429. */
static void test_default_limits_let_a_busy_store_through(void **state)
{
	static struct h_proc default_api = {.pid = -1};
	static struct buyer buyers[BUYERS];
	struct h_store s;
	char pid[H_ID_LEN], body[200], path[256];
	int created = 0, answered = 0, unavailable = 0;

	(void)state;
	unsetenv("TERMINUS_CLIENT_RATE_LIMIT");
	unsetenv("TERMINUS_KEY_RATE_LIMIT");
	H_CHECK(h_api_start(&default_api, "default-limits"), "could not start an API");
	setenv("TERMINUS_CLIENT_RATE_LIMIT", "0", 1); /* as tests/run.sh has it */
	setenv("TERMINUS_KEY_RATE_LIMIT", "0", 1);

	h_must_create_store(&s, "busy");
	h_must_create_product(&s, 500, BUYERS, pid);
	snprintf(path, sizeof(path), "/v1/stores/%s/orders", s.slug);
	snprintf(
	        body, sizeof(body),
	        "{\"customer_email\":\"a@example.com\",\"items\":[{\"product_id\":\"%s\",\"quantity\":1}]}",
	        pid);
	for (int i = 0; i < ADMIN_ORDERS; i++) {
		struct h_req q = {.base = default_api.base, .path = path, .body = body};
		struct resp r = {0};

		q.auth = s.key;
		h_request(&q, &r);
		H_STATUS(&r, 201);
		if (i < BUYERS) {
			const char *id = h_jstr(r.json, "id");

			H_CHECK(id != NULL, "an order without an id");
			snprintf(buyers[i].order, sizeof(buyers[i].order), "%s", id);
		}
		resp_release(&r);
		created++;
	}
	for (int i = 0; i < BUYERS; i++) {
		buyers[i].store = &s;
		buyers[i].base = default_api.base;
		snprintf(buyers[i].source, sizeof(buyers[i].source), "127.0.%d.%d", 10 + i / 200,
		         1 + i % 200);
		h_unique_key(buyers[i].key, sizeof(buyers[i].key), "buyer");
	}
	for (int i = 0; i < BUYERS; i++)
		H_CHECK(pthread_create(&buyers[i].thread, NULL, buy, &buyers[i]) == 0,
		        "pthread_create");
	for (int i = 0; i < BUYERS; i++)
		pthread_join(buyers[i].thread, NULL);
	for (int i = 0; i < BUYERS; i++) {
		for (int k = 0; k < 3; k++) {
			H_CHECK(buyers[i].statuses[k] == 202 || buyers[i].statuses[k] == 200,
			        "buyer %d, attempt %d: %d %s", i, k, buyers[i].statuses[k],
			        buyers[i].error);
			answered++;
		}
		unavailable += buyers[i].unavailable;
		if (buyers[i].unavailable > 0 && unavailable == buyers[i].unavailable)
			print_message("[          ] e.g. buyer %d was answered 503 %s\n", i,
			              buyers[i].error);
	}
	print_message("[          ] %d orders by one key, %d checkouts and replays: no 429 "
	              "(%d 503s sent again)\n",
	              created, answered, unavailable);
	H_CHECK(h_proc_stop(&default_api, 15) == 0, "the API did not stop cleanly");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_overload_is_shed_without_effect),
	        cmocka_unit_test(test_clients_are_limited_not_stores),
	        cmocka_unit_test(test_default_limits_let_a_busy_store_through),
	};

	return H_RUN_SUITE("itest_overload", tests, NULL, NULL);
}
