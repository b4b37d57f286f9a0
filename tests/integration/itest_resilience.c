/*
 * itest_resilience.c — the database goes away and comes back under a running API.
 *
 * While PostgreSQL is down every request that needs it is answered quickly with 503 and
 * Retry-After (never a hang, a crash or a 500), /healthz stays 200 and /readyz turns 503. When
 * it is back, requests succeed again within a deadline without restarting the API, and a
 * checkout that failed with 503 can be retried with the same Idempotency-Key (our own 5xx is
 * never stored).
 *
 * The cluster is shared by every suite of the run: this suite stops it and must start it again
 * whatever happens (the group teardown does, and tests/run.sh runs this suite last).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "banned.h"

#define QUICK_S    3.0  /* a refusal during the outage must come within this */
#define RECOVERY_S 20.0 /* requests must succeed again within this after the restart */

static struct h_store store;
static char product_id[H_ID_LEN];
static char order_id[H_ID_LEN];
static char outage_key[80];
static bool db_stopped;

static int group_setup(void **state)
{
	(void)state;
	h_must_create_store(&store, "res");
	h_must_set_flag(&store, "checkout.async_enabled", false);
	h_must_create_product(&store, 300, 10, product_id);
	h_must_create_order(&store, product_id, 2, order_id);
	h_unique_key(outage_key, sizeof(outage_key), "outage");
	return 0;
}

/* Whatever a test did, the shared cluster is running when it ends. */
static int restart_db(void **state)
{
	(void)state;
	if (db_stopped && !h_pg("start")) {
		print_error("could not restart PostgreSQL in %s\n", h_env.pgdir);
		return -1;
	}
	db_stopped = false;
	return 0;
}

static struct h_proc fresh = {.pid = -1};

static int stop_fresh(void **state)
{
	(void)state;
	if (fresh.pid > 0 && h_proc_stop(&fresh, 15) != 0) {
		print_error("the API on the fresh database did not stop cleanly (log %s)\n",
		            fresh.log);
		return -1;
	}
	return 0;
}

/* An API on a database without the schema is alive but not ready; migrations (two at once,
 * serialised by their advisory lock, then a third with nothing to do) make it ready without
 * a restart. */
static void test_readyz_waits_for_migrations(void **state)
{
	struct h_req q = {.timeout_ms = 5000};
	struct resp r = {0};
	struct resp early = {0};
	char name[128];
	char db[1024];
	pid_t m1;
	pid_t m2;
	int st1;
	int st2;
	double t0;

	(void)state;
	snprintf(name, sizeof(name), "%s_fresh", h_db_name());
	h_db_create(name, db, sizeof(db));
	H_CHECK(h_api_start_on(&fresh, "fresh", db, "/healthz"),
	        "terminus-api serve on an empty database did not answer /healthz (log %s)",
	        fresh.log);
	q.base = fresh.base;
	q.path = "/readyz";
	h_request(&q, &r);
	H_CHECK(r.status == 503, "/readyz before migrations: want 503, got %ld %s", r.status,
	        r.body);
	q.path = "/healthz";
	h_request(&q, &r);
	H_STATUS(&r, 200);
	/* Requests cannot be served yet: 503 (checked at the end, after the migrations). */
	q.path = "/v1/stores";
	h_request(&q, &early);

	m1 = h_api_spawn("migrate", db, "migrate1");
	m2 = h_api_spawn("migrate", db, "migrate2");
	st1 = h_wait_exit(m1);
	st2 = h_wait_exit(m2);
	H_CHECK(st1 == 0 && st2 == 0, "two concurrent migrations exited %d and %d", st1, st2);
	st1 = h_wait_exit(h_api_spawn("migrate", db, "migrate3"));
	H_CHECK(st1 == 0, "a migration with nothing to do exited %d", st1);

	q.path = "/readyz";
	t0 = h_now();
	for (;;) {
		h_request(&q, &r);
		if (r.status == 200 || h_now() - t0 > 5)
			break;
		h_sleep_ms(50);
	}
	H_CHECK(r.status == 200, "/readyz still %ld 5 s after the migrations", r.status);
	q.path = "/v1/stores";
	h_request(&q, &r);
	H_STATUS(&r, 200);
	resp_release(&r);
	/* Before the migrations, a request is refused as "not available yet", not an internal
	 * error: 503 with Retry-After, like /readyz. */
	H_ERROR(&early, 503, NULL);
	resp_release(&early);
	H_CHECK(h_proc_stop(&fresh, 15) == 0,
	        "the API on the fresh database did not exit 0 on "
	        "SIGTERM (log %s)",
	        fresh.log);
}

/* A refusal because the database is away: 503, Retry-After, the envelope, and quickly. */
static void expect_unavailable(const struct resp *r, const char *what)
{
	const char *code;

	H_CHECK(r->status == 503, "%s during the outage: want 503, got %ld (%s)", what, r->status,
	        r->status ? r->body : r->error);
	H_ERROR(r, 503, NULL);
	code = h_jstr(r->json, "error.code");
	H_CHECK(!strcmp(code, "database_unavailable") || !strcmp(code, "database_busy"),
	        "%s: 503 with code %s", what, code);
	H_CHECK(r->seconds < QUICK_S, "%s took %.2f s to refuse (limit %.0f s)", what, r->seconds,
	        QUICK_S);
}

struct burst {
	char path[200];
	struct resp r;
};

static void *burst_one(void *arg)
{
	struct burst *b = arg;
	struct h_req q = {.path = b->path, .timeout_ms = 10000};

	h_request(&q, &b->r);
	return NULL;
}

static void test_outage(void **state)
{
	struct resp r = {0};
	struct h_req q = {.timeout_ms = 10000};
	char body[300];
	int round;

	(void)state;
	/* Before: all well. */
	h_getf(&r, NULL, "/v1/stores/%s/products", store.slug);
	H_STATUS(&r, 200);

	H_CHECK(h_pg("stop"), "scripts/pg.sh stop %s failed", h_env.pgdir);
	db_stopped = true;

	snprintf(
	        body, sizeof(body),
	        "{\"items\":[{\"product_id\":\"%s\",\"quantity\":1}],\"customer_email\":\"a@example."
	        "com\"}",
	        product_id);
	for (round = 0; round < 3; round++) {
		h_getf(&r, NULL, "/v1/stores/%s/products", store.slug);
		expect_unavailable(&r, "GET products");
		h_getf(&r, NULL, "/v1/stores/%s/orders/%s", store.slug, order_id);
		expect_unavailable(&r, "GET order");
		h_get(&r, "/v1/stores", NULL);
		expect_unavailable(&r, "GET /v1/stores");
		h_sendf(&r, "POST", NULL, body, "/v1/stores/%s/orders", store.slug);
		expect_unavailable(&r, "POST order");
		/* Authentication needs the database too: that is a 503, not a 401. */
		h_getf(&r, store.key, "/v1/stores/%s/orders", store.slug);
		expect_unavailable(&r, "GET orders (store key)");
		h_checkout(&r, &store, order_id, outage_key, "tok_ok");
		expect_unavailable(&r, "checkout");

		/* The process lives; it is not ready. */
		q.path = "/healthz";
		h_request(&q, &r);
		H_STATUS(&r, 200);
		H_CHECK(r.seconds < QUICK_S, "/healthz took %.2f s", r.seconds);
		q.path = "/readyz";
		h_request(&q, &r);
		H_CHECK(r.status == 503, "/readyz during the outage: want 503, got %ld", r.status);
		H_CHECK(r.seconds < QUICK_S, "/readyz took %.2f s", r.seconds);
	}

	/* Many at once: every one refused quickly (no pile-up behind a dead pool). */
	{
		struct burst b[16];
		pthread_t t[16];
		int i;

		memset(b, 0, sizeof(b));
		for (i = 0; i < 16; i++) {
			snprintf(b[i].path, sizeof(b[i].path), "/v1/stores/%s/products/%s",
			         store.slug, product_id);
			H_CHECK(pthread_create(&t[i], NULL, burst_one, &b[i]) == 0,
			        "pthread_create");
		}
		for (i = 0; i < 16; i++)
			pthread_join(t[i], NULL);
		for (i = 0; i < 16; i++) {
			expect_unavailable(&b[i].r, "parallel GET product");
			resp_release(&b[i].r);
		}
	}

	/* Back: requests succeed again without restarting the API. */
	H_CHECK(h_pg("start"), "scripts/pg.sh start %s failed", h_env.pgdir);
	db_stopped = false;
	{
		double t0 = h_now();
		double dt;

		for (;;) {
			h_getf(&r, NULL, "/v1/stores/%s/products", store.slug);
			dt = h_now() - t0;
			if (r.status == 200 || dt > RECOVERY_S)
				break;
			H_CHECK(r.status == 503, "while recovering: want 503 or 200, got %ld %s",
			        r.status, r.body);
			h_sleep_ms(100);
		}
		print_message("requests succeed again %.2f s after the database restarted\n", dt);
		H_CHECK(r.status == 200, "still %ld %.2f s after the restart", r.status, dt);
	}
	q.path = "/readyz";
	h_request(&q, &r);
	H_STATUS(&r, 200);
	resp_release(&r);
}

static void test_after_recovery(void **state)
{
	struct resp r = {0};
	char oid[H_ID_LEN];
	int i;

	(void)state;
	/* Every kind of request works again, on every pooled connection (try a few times). */
	for (i = 0; i < 10; i++) {
		h_getf(&r, store.key, "/v1/stores/%s/orders", store.slug);
		H_STATUS(&r, 200);
		h_get(&r, "/v1/stores", NULL);
		H_STATUS(&r, 200);
	}
	h_must_create_order(&store, product_id, 1, oid);

	/* The checkout refused with 503 left its key free: the same key now checks out. */
	h_checkout(&r, &store, order_id, outage_key, "tok_ok");
	H_STATUS(&r, 200);
	H_CHECK(!resp_header(&r, "Idempotent-Replayed"), "a 503 must not have been stored");
	H_JSTR(r.json, "status", "confirmed");
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1", order_id, NULL) == 1,
	        "want exactly one payment");
	H_CHECK(h_must_available(&store, product_id) == 8, "want 10 - 2 in stock");
	resp_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_readyz_waits_for_migrations, stop_fresh),
	        cmocka_unit_test_teardown(test_outage, restart_db),
	        cmocka_unit_test(test_after_recovery),
	};

	/* restart_db again at the end: a failed outage test must not leave the cluster down. */
	return H_RUN_SUITE("itest_resilience", tests, group_setup, restart_db);
}
