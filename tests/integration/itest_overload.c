/*
 * itest_overload.c — load shedding. A second terminus-api with one handler thread and a 50 ms
 * queue target gets eight slow synchronous checkouts at once (chaos.worker_slow stalls each
 * handler 500 ms): the ones that would wait past the target are answered 503 overloaded with
 * Retry-After at once, without any effect — their orders stay pending and their idempotency keys
 * stay free, so the same request sent again later goes through.
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

static int group_teardown(void **state)
{
	(void)state;
	h_db_close();
	if (slow_api.pid > 0 && h_proc_stop(&slow_api, 15) != 0) {
		print_error("the one-thread terminus-api did not exit 0 on SIGTERM (log %s)\n",
		            slow_api.log);
		return -1;
	}
	return 0;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_overload_is_shed_without_effect),
	};

	int failed;

	h_init();
	failed = cmocka_run_group_tests_name("itest_overload", tests, NULL, group_teardown);
	h_cleanup();
	return failed ? 1 : 0;
}
