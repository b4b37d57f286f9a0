/*
 * itest_idempotency.c — the Idempotency-Key contract of guarantees §3 on checkout, one request at
 * a time (itest_concurrency covers keys raced by many requests at once), and the contract of the
 * runner behind checkout and cancel (idem_op.h): a transaction that fails is rolled back and
 * either rerun or leaves its key free, and a stored refusal replays byte for byte.
 *
 * "No new effect of any kind" is checked in the database, not only in the answer: for the
 * order and product involved, the counts of payments, outbox events, stock movements, timeline
 * entries and idempotency rows, the stock itself and the order's updated_at are read before
 * and after a replay and must be identical.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constants.h"
#include "harness.h"
#include "fixtures.h"
#include "procs.h"
#include "banned.h"

static struct h_store sync_store;  /* checkout.async_enabled off */
static struct h_store async_store; /* default: on */

static int group_setup(void **state)
{
	(void)state;
	h_must_create_store(&sync_store, "idem-sync");
	h_must_set_flag(&sync_store, "checkout.async_enabled", false);
	h_must_create_store(&async_store, "idem-async");
	return 0;
}

/* Everything a checkout could have changed, as the database sees it. */
struct effects {
	long long payments;
	long long events;
	long long movements;
	long long timeline;
	long long keys;
	long long available;
	char updated_at[64];
	char status[32];
};

static void effects_read(struct effects *e, const struct h_store *s, const char *oid,
                         const char *pid)
{
	char *v;

	memset(e, 0, sizeof(*e));
	e->payments = h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1", oid, NULL);
	e->events = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1", s->id, NULL);
	e->movements = h_db_ll("SELECT count(*) FROM inventory_movements WHERE product_id = $1",
	                       pid, NULL);
	e->timeline = h_db_ll("SELECT count(*) FROM order_events WHERE order_id = $1", oid, NULL);
	e->keys = h_db_ll("SELECT count(*) FROM idempotency_keys WHERE store_id = $1", s->id, NULL);
	e->available = h_db_ll("SELECT available FROM inventory WHERE product_id = $1", pid, NULL);
	v = h_db_str("SELECT updated_at::text FROM orders WHERE id = $1", oid, NULL);
	snprintf(e->updated_at, sizeof(e->updated_at), "%s", v ? v : "");
	free(v);
	v = h_db_str("SELECT status FROM orders WHERE id = $1", oid, NULL);
	snprintf(e->status, sizeof(e->status), "%s", v ? v : "");
	free(v);
}

#define SAME_EFFECTS(a, b)                                                                         \
	H_CHECK((a)->payments == (b)->payments && (a)->events == (b)->events &&                    \
	                (a)->movements == (b)->movements && (a)->timeline == (b)->timeline &&      \
	                (a)->keys == (b)->keys && (a)->available == (b)->available &&              \
	                !strcmp((a)->updated_at, (b)->updated_at) &&                               \
	                !strcmp((a)->status, (b)->status),                                         \
	        "a replay changed the database: payments %lld->%lld events %lld->%lld "            \
	        "movements %lld->%lld timeline %lld->%lld keys %lld->%lld stock %lld->%lld "       \
	        "status %s->%s updated_at %s->%s",                                                 \
	        (a)->payments, (b)->payments, (a)->events, (b)->events, (a)->movements,            \
	        (b)->movements, (a)->timeline, (b)->timeline, (a)->keys, (b)->keys,                \
	        (a)->available, (b)->available, (a)->status, (b)->status, (a)->updated_at,         \
	        (b)->updated_at)

/* A replay: same status and bytes as first, marked Idempotent-Replayed: true. */
#define REPLAYED(first, again)                                                                     \
	do {                                                                                       \
		H_SAME_BODY((first), (again));                                                     \
		H_CHECK(resp_header((again), "Idempotent-Replayed") &&                             \
		                !strcmp(resp_header((again), "Idempotent-Replayed"), "true"),      \
		        "a replay must carry Idempotent-Replayed: true");                          \
		H_CHECK(resp_header((again), "X-Request-Id") != NULL,                              \
		        "a replay still has its own X-Request-Id");                                \
	} while (0)

#define NOT_REPLAYED(r)                                                                            \
	H_CHECK(!resp_header((r), "Idempotent-Replayed"),                                          \
	        "a first answer must not say Idempotent-Replayed")

static void test_missing_and_invalid_key(void **state)
{
	struct resp r = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[300];
	struct effects before;
	struct effects after;

	(void)state;
	h_must_create_product(&sync_store, 100, 5, pid);
	h_must_create_order(&sync_store, pid, 1, oid);
	effects_read(&before, &sync_store, oid, pid);

	h_checkout(&r, &sync_store, oid, NULL, "tok_ok");
	H_ERROR(&r, 400, "idempotency_key_required");
	memset(key, 'k', 256);
	key[256] = '\0';
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_ERROR(&r, 400, "invalid_idempotency_key");
	h_checkout(&r, &sync_store, oid, "two words", "tok_ok");
	H_ERROR(&r, 400, "invalid_idempotency_key");
	h_checkout(&r, &sync_store, oid, "cl\xc3\xa9", "tok_ok");
	H_ERROR(&r, 400, "invalid_idempotency_key");
	h_checkout(&r, &sync_store, oid, "", "tok_ok");
	H_CHECK(r.status == 400, "empty Idempotency-Key: want 400, got %ld", r.status);
	H_ERROR(&r, 400, NULL);
	H_CHECK(!strcmp(h_jstr(r.json, "error.code"), "idempotency_key_required") ||
	                !strcmp(h_jstr(r.json, "error.code"), "invalid_idempotency_key"),
	        "empty key code: %s", r.body);

	effects_read(&after, &sync_store, oid, pid);
	SAME_EFFECTS(&before, &after);

	/* 255 visible characters are a valid key. */
	memset(key, '~', 255);
	key[0] = 'a';
	key[255] = '\0';
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_STATUS(&r, 200);
	H_JSTR(r.json, "status", "confirmed");
	resp_release(&r);
}

static void replay_case(const struct h_store *s, long expected_status)
{
	struct resp first = {0};
	struct resp again = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	struct effects before;
	struct effects after;
	int i;

	h_must_create_product(s, 700, 10, pid);
	h_must_create_order(s, pid, 2, oid);
	h_unique_key(key, sizeof(key), "replay");
	h_checkout(&first, s, oid, key, "tok_ok");
	H_STATUS(&first, expected_status);
	NOT_REPLAYED(&first);
	effects_read(&before, s, oid, pid);
	H_CHECK(before.payments == 1 && before.available == 8,
	        "first checkout: %lld payments, "
	        "stock %lld",
	        before.payments, before.available);

	for (i = 0; i < 3; i++) {
		h_checkout(&again, s, oid, key, "tok_ok");
		REPLAYED(&first, &again);
	}
	effects_read(&after, s, oid, pid);
	SAME_EFFECTS(&before, &after);
	resp_release(&first);
	resp_release(&again);
}

static void test_replay_sync(void **state)
{
	(void)state;
	replay_case(&sync_store, 200);
}

static void test_replay_async(void **state)
{
	(void)state;
	replay_case(&async_store, 202);
}

static void test_reused_key_different_request(void **state)
{
	struct resp first = {0};
	struct resp r = {0};
	char pid[H_ID_LEN];
	char o1[H_ID_LEN];
	char o2[H_ID_LEN];
	char key[80];
	struct effects b1;
	struct effects b2;
	struct effects a1;
	struct effects a2;

	(void)state;
	h_must_create_product(&sync_store, 100, 10, pid);
	h_must_create_order(&sync_store, pid, 1, o1);
	h_must_create_order(&sync_store, pid, 1, o2);
	h_unique_key(key, sizeof(key), "reuse");
	h_checkout(&first, &sync_store, o1, key, "tok_ok");
	H_STATUS(&first, 200);
	effects_read(&b1, &sync_store, o1, pid);
	effects_read(&b2, &sync_store, o2, pid);

	/* Same path, different body. */
	h_checkout(&r, &sync_store, o1, key, "tok_other");
	H_ERROR(&r, 422, "idempotency_key_reused");
	NOT_REPLAYED(&r);
	/* Same body, different path. */
	h_checkout(&r, &sync_store, o2, key, "tok_ok");
	H_ERROR(&r, 422, "idempotency_key_reused");
	/* Different method on the same path is not a checkout at all. */

	effects_read(&a1, &sync_store, o1, pid);
	effects_read(&a2, &sync_store, o2, pid);
	SAME_EFFECTS(&b1, &a1);
	SAME_EFFECTS(&b2, &a2);
	H_CHECK(!strcmp(a2.status, "pending") && a2.payments == 0,
	        "the second order was touched by a reused key");

	/* The original request still replays. */
	h_checkout(&r, &sync_store, o1, key, "tok_ok");
	REPLAYED(&first, &r);
	resp_release(&first);
	resp_release(&r);
}

static void test_declined_is_stored(void **state)
{
	struct resp first = {0};
	struct resp r = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	char key2[80];
	struct effects before;
	struct effects after;

	(void)state;
	h_must_create_product(&sync_store, 100, 10, pid);
	h_must_create_order(&sync_store, pid, 3, oid);
	h_unique_key(key, sizeof(key), "decl");
	h_checkout(&first, &sync_store, oid, key, "tok_decline");
	H_ERROR(&first, 402, "payment_declined");
	NOT_REPLAYED(&first);
	effects_read(&before, &sync_store, oid, pid);
	H_CHECK(!strcmp(before.status, "pending") && before.available == 10,
	        "declined: order %s, stock %lld", before.status, before.available);

	h_checkout(&r, &sync_store, oid, key, "tok_decline");
	REPLAYED(&first, &r);
	effects_read(&after, &sync_store, oid, pid);
	SAME_EFFECTS(&before, &after);

	/* A new key pays; the old key still answers what it answered. */
	h_unique_key(key2, sizeof(key2), "decl");
	h_checkout(&r, &sync_store, oid, key2, "tok_ok");
	H_STATUS(&r, 200);
	h_checkout(&r, &sync_store, oid, key, "tok_decline");
	REPLAYED(&first, &r);
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'captured'",
	                oid, NULL) == 1,
	        "want exactly one captured payment");
	resp_release(&first);
	resp_release(&r);
}

static void test_insufficient_inventory_is_stored(void **state)
{
	struct resp first = {0};
	struct resp r = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	char key2[80];

	(void)state;
	h_must_create_product(&sync_store, 100, 1, pid);
	h_must_create_order(&sync_store, pid, 2, oid);
	h_unique_key(key, sizeof(key), "ins");
	h_checkout(&first, &sync_store, oid, key, "tok_ok");
	H_ERROR(&first, 409, "insufficient_inventory");

	/* Restock: the stored answer is still the answer for this key. */
	h_sendf(&r, "POST", sync_store.key, "{\"delta\":5,\"reason\":\"restock\"}",
	        "/v1/stores/%s/products/%s/inventory", sync_store.slug, pid);
	H_STATUS(&r, 200);
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	REPLAYED(&first, &r);
	H_CHECK(h_must_available(&sync_store, pid) == 6, "a replayed 409 took stock");
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1", oid, NULL) == 0,
	        "a replayed 409 made a payment");

	h_unique_key(key2, sizeof(key2), "ins");
	h_checkout(&r, &sync_store, oid, key2, "tok_ok");
	H_STATUS(&r, 200);
	H_CHECK(h_must_available(&sync_store, pid) == 4, "the new key's checkout took 2");
	resp_release(&first);
	resp_release(&r);
}

static void test_order_not_pending_is_stored(void **state)
{
	struct resp first = {0};
	struct resp r = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	struct effects before;
	struct effects after;

	(void)state;
	h_must_create_product(&sync_store, 100, 10, pid);
	h_must_create_order(&sync_store, pid, 1, oid);
	h_unique_key(key, sizeof(key), "np");
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_STATUS(&r, 200);
	h_unique_key(key, sizeof(key), "np");
	h_checkout(&first, &sync_store, oid, key, "tok_ok");
	H_ERROR(&first, 409, "order_not_pending");
	effects_read(&before, &sync_store, oid, pid);
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	REPLAYED(&first, &r);
	effects_read(&after, &sync_store, oid, pid);
	SAME_EFFECTS(&before, &after);
	resp_release(&first);
	resp_release(&r);
}

/* A request refused before any effect leaves its key free: the corrected request then runs
 * as a first request (no 422, no replay). */
static void test_rejections_are_not_stored(void **state)
{
	struct resp r = {0};
	struct h_req q = {.method = "POST"};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char path[200];
	char key[80];
	char *big;
	const size_t big_len = 70 * 1024;

	(void)state;
	h_must_create_product(&sync_store, 100, 50, pid);

	/* 400: invalid value, then malformed JSON. */
	h_must_create_order(&sync_store, pid, 1, oid);
	h_unique_key(key, sizeof(key), "rej400");
	h_checkout(&r, &sync_store, oid, key, "visa_4242");
	H_ERROR(&r, 400, "invalid_value");
	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/checkout", sync_store.slug, oid);
	q.path = path;
	q.idem_key = key;
	q.body = "{\"payment_token\":";
	h_request(&q, &r);
	H_ERROR(&r, 400, "invalid_json");
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_STATUS(&r, 200);
	NOT_REPLAYED(&r);
	H_JSTR(r.json, "status", "confirmed");

	/* 404: an unknown order, then the real one. */
	h_must_create_order(&sync_store, pid, 1, oid);
	h_unique_key(key, sizeof(key), "rej404");
	h_checkout(&r, &sync_store, H_ZERO_UUID, key, "tok_ok");
	H_ERROR(&r, 404, "not_found");
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_STATUS(&r, 200);
	NOT_REPLAYED(&r);

	/* 415: the wrong content type, then the right one. */
	h_must_create_order(&sync_store, pid, 1, oid);
	h_unique_key(key, sizeof(key), "rej415");
	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/checkout", sync_store.slug, oid);
	q.body = "{\"payment_token\":\"tok_ok\"}";
	q.content_type = "text/plain";
	h_request(&q, &r);
	H_ERROR(&r, 415, "unsupported_media_type");
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_STATUS(&r, 200);
	NOT_REPLAYED(&r);

	/* 413: a body over 64 KiB, then a proper one. */
	h_must_create_order(&sync_store, pid, 1, oid);
	h_unique_key(key, sizeof(key), "rej413");
	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/checkout", sync_store.slug, oid);
	big = malloc(big_len + 1);
	H_CHECK(big != NULL, "out of memory");
	memset(big, ' ', big_len);
	memcpy(big, "{\"payment_token\":\"tok_ok\"", 25);
	big[big_len - 1] = '}';
	big[big_len] = '\0';
	q.body = big;
	q.content_type = NULL;
	h_request(&q, &r);
	free(big);
	H_ERROR(&r, 413, "payload_too_large");
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_STATUS(&r, 200);
	NOT_REPLAYED(&r);

	H_CHECK(h_must_available(&sync_store, pid) == 46, "want 4 units sold of 50");
	resp_release(&r);
}

static void test_keys_are_per_store(void **state)
{
	struct h_store other;
	struct resp a = {0};
	struct resp b = {0};
	char pa[H_ID_LEN];
	char pb[H_ID_LEN];
	char oa[H_ID_LEN];
	char ob[H_ID_LEN];
	char key[80];

	(void)state;
	h_must_create_store(&other, "idem-other");
	h_must_set_flag(&other, "checkout.async_enabled", false);
	h_must_create_product(&sync_store, 100, 5, pa);
	h_must_create_product(&other, 100, 5, pb);
	h_must_create_order(&sync_store, pa, 1, oa);
	h_must_create_order(&other, pb, 1, ob);
	h_unique_key(key, sizeof(key), "shared");

	h_checkout(&a, &sync_store, oa, key, "tok_ok");
	H_STATUS(&a, 200);
	h_checkout(&b, &other, ob, key, "tok_ok");
	H_STATUS(&b, 200);
	NOT_REPLAYED(&b);
	H_JSTR(b.json, "id", ob);
	H_JSTR(b.json, "status", "confirmed");
	H_CHECK(h_db_ll("SELECT count(*) FROM idempotency_keys WHERE key = $1", key, NULL) == 2,
	        "one key row per store");
	resp_release(&a);
	resp_release(&b);
}

struct slow_checkout {
	const struct h_store *store;
	const char *order_id;
	const char *key;
	struct resp r;
};

static void *slow_checkout(void *arg)
{
	struct slow_checkout *c = arg;

	h_checkout(&c->r, c->store, c->order_id, c->key, "tok_ok");
	return NULL;
}

/* A duplicate that arrives while the first request is still running: 409 in use, Retry-After 1.
 * chaos.worker_slow stalls the checkout's handler 500 ms, and on the synchronous path that
 * handler runs inside the request, so the first request is reliably still in flight. */
static void test_in_flight_duplicate(void **state)
{
	struct h_store s;
	struct slow_checkout first = {0};
	struct resp r = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	pthread_t t;
	double deadline;
	char *st = NULL;

	(void)state;
	h_must_create_store(&s, "idem-slow");
	h_must_set_flag(&s, "checkout.async_enabled", false);
	h_must_set_flag(&s, "chaos.worker_slow", true);
	h_must_create_product(&s, 100, 5, pid);
	h_must_create_order(&s, pid, 1, oid);
	h_unique_key(key, sizeof(key), "slow");
	first.store = &s;
	first.order_id = oid;
	first.key = key;
	H_CHECK(pthread_create(&t, NULL, slow_checkout, &first) == 0, "pthread_create");

	/* Wait until the database holds the key in flight. */
	deadline = h_now() + 5;
	while (h_now() < deadline) {
		free(st);
		st = h_db_str(
		        "SELECT coalesce((SELECT status FROM idempotency_keys WHERE store_id = "
		        "$1 AND key = $2), 'none')",
		        s.id, key, NULL);
		if (strcmp(st, "none") != 0)
			break;
		h_sleep_ms(5);
	}
	if (st && !strcmp(st, "in_flight")) {
		h_checkout(&r, &s, oid, key, "tok_ok");
	}
	pthread_join(t, NULL);
	H_CHECK(st && !strcmp(st, "in_flight"),
	        "could not catch the key in flight (status %s): does chaos.worker_slow stall the "
	        "inline handler?",
	        st ? st : "?");
	free(st);
	H_ERROR(&r, 409, "idempotency_key_in_use");
	H_CHECK(!strcmp(resp_header(&r, "Retry-After"), "1"), "Retry-After: %s",
	        resp_header(&r, "Retry-After"));
	NOT_REPLAYED(&r);
	H_STATUS(&first.r, 200);
	H_JSTR(first.r.json, "status", "confirmed");

	/* Once done, the key replays the first answer; one payment in all. */
	h_checkout(&r, &s, oid, key, "tok_ok");
	REPLAYED(&first.r, &r);
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1", oid, NULL) == 1,
	        "want exactly one payment");
	resp_release(&first.r);
	resp_release(&r);
}

/* Keys are kept 24 h: an older key is free again, for any request. */
static void test_expired_key_is_free(void **state)
{
	struct resp r = {0};
	char pid[H_ID_LEN];
	char o1[H_ID_LEN];
	char o2[H_ID_LEN];
	char key[80];

	(void)state;
	h_must_create_product(&sync_store, 100, 10, pid);
	h_must_create_order(&sync_store, pid, 1, o1);
	h_must_create_order(&sync_store, pid, 1, o2);
	h_unique_key(key, sizeof(key), "old");
	h_checkout(&r, &sync_store, o1, key, "tok_ok");
	H_STATUS(&r, 200);

	/* 23 hours on, the key still holds: a different request with it is refused. */
	h_db_exec("UPDATE idempotency_keys SET created_at = now() - interval '23 hours' "
	          "WHERE store_id = $1 AND key = $2",
	          sync_store.id, key, NULL);
	h_checkout(&r, &sync_store, o2, key, "tok_ok");
	H_ERROR(&r, 422, "idempotency_key_reused");

	/* 25 hours on, it is free: the same key checks out another order as a new request. */
	h_db_exec("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
	          "WHERE store_id = $1 AND key = $2",
	          sync_store.id, key, NULL);
	h_checkout(&r, &sync_store, o2, key, "tok_ok");
	H_STATUS(&r, 200);
	NOT_REPLAYED(&r);
	H_JSTR(r.json, "id", o2);
	H_JSTR(r.json, "status", "confirmed");
	resp_release(&r);
}

/* The same JSON written differently is the same request. */
static void canonical_case(const char *variant)
{
	struct resp first = {0};
	struct resp r = {0};
	struct h_req q = {.method = "POST"};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char path[200];
	char key[80];
	struct effects before;
	struct effects after;

	h_must_create_product(&sync_store, 100, 5, pid);
	h_must_create_order(&sync_store, pid, 1, oid);
	h_unique_key(key, sizeof(key), "canon");
	h_checkout(&first, &sync_store, oid, key, "tok_ok");
	H_STATUS(&first, 200);
	effects_read(&before, &sync_store, oid, pid);

	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/checkout", sync_store.slug, oid);
	q.path = path;
	q.idem_key = key;
	q.body = variant;
	h_request(&q, &r);
	REPLAYED(&first, &r);
	effects_read(&after, &sync_store, oid, pid);
	SAME_EFFECTS(&before, &after);
	resp_release(&first);
	resp_release(&r);
}

static void test_canonical_body_whitespace(void **state)
{
	(void)state;
	canonical_case("\n{ \"payment_token\" :\t\"tok_ok\" }\r\n ");
}

static void test_canonical_body_escapes(void **state)
{
	(void)state;
	canonical_case("{\"payment_token\":\"tok\\u005fok\"}");
}

/* ---- the runner's contract (idem_op.h), by failures injected into the transaction ---------- */

/*
 * A trigger on order_events, the timeline row that both checkout and cancel write inside their
 * transaction, fails the insert of one order's move to one status with a chosen SQLSTATE for
 * its first `failures` firings. The firings are counted by a sequence, which is not
 * transactional, so the count survives the rollbacks it causes. Installed by the suite's owner
 * connection; SECURITY DEFINER so that it reads its table whatever role the API runs as.
 */
static void faults_install(void)
{
	h_db_exec("CREATE TABLE IF NOT EXISTS itest_tx_faults (order_id uuid NOT NULL, "
	          "to_status text NOT NULL, sqlstate text NOT NULL, failures int NOT NULL, "
	          "PRIMARY KEY (order_id, to_status))",
	          NULL);
	h_db_exec("CREATE SEQUENCE IF NOT EXISTS itest_tx_fault_hits", NULL);
	h_db_exec("CREATE OR REPLACE FUNCTION itest_tx_fault() RETURNS trigger "
	          "LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$ "
	          "DECLARE f itest_tx_faults%ROWTYPE; "
	          "BEGIN "
	          "  SELECT * INTO f FROM itest_tx_faults "
	          "  WHERE order_id = NEW.order_id AND to_status = NEW.to_status; "
	          "  IF FOUND AND nextval('itest_tx_fault_hits') <= f.failures THEN "
	          "    RAISE EXCEPTION 'injected by itest_idempotency' USING ERRCODE = f.sqlstate; "
	          "  END IF; "
	          "  RETURN NEW; "
	          "END $$",
	          NULL);
	h_db_exec("DROP TRIGGER IF EXISTS itest_tx_fault ON order_events", NULL);
	h_db_exec("CREATE TRIGGER itest_tx_fault BEFORE INSERT ON order_events "
	          "FOR EACH ROW EXECUTE FUNCTION itest_tx_fault()",
	          NULL);
}

/* From now on the order's move to to_status fails with sqlstate, the first `failures` times. */
static void fault_arm(const char *order_id, const char *to_status, const char *sqlstate,
                      int failures)
{
	char n[16];

	snprintf(n, sizeof(n), "%d", failures);
	faults_install();
	h_db_exec("DELETE FROM itest_tx_faults", NULL);
	h_db_exec("INSERT INTO itest_tx_faults VALUES ($1, $2, $3, $4::int)", order_id, to_status,
	          sqlstate, n, NULL);
	h_db_exec("SELECT setval('itest_tx_fault_hits', 1, false)", NULL);
}

static void fault_disarm(void)
{
	h_db_exec("DELETE FROM itest_tx_faults", NULL);
}

/* How often the armed fault fired (failed or, once its failures were spent, let through). */
static long long fault_hits(void)
{
	return h_db_ll("SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
	               "FROM itest_tx_fault_hits",
	               NULL);
}

static long long key_rows(const struct h_store *s, const char *key)
{
	return h_db_ll("SELECT count(*) FROM idempotency_keys WHERE store_id = $1 AND key = $2",
	               s->id, key, NULL);
}

/* A transaction that fails for good (not a serialization failure) runs once, leaves no effect
 * and releases its key: the retry with the same key runs as a first request. */
static void test_tx_error_releases_key(void **state)
{
	struct resp r = {0};
	struct resp again = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	struct effects before;
	struct effects after;

	(void)state;
	h_must_create_product(&sync_store, 100, 5, pid);
	h_must_create_order(&sync_store, pid, 2, oid);
	h_unique_key(key, sizeof(key), "txerr");
	fault_arm(oid, "payment_authorized", "P0001", 1);
	effects_read(&before, &sync_store, oid, pid);

	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_ERROR(&r, 500, "internal_error");
	H_CHECK(fault_hits() == 1,
	        "a failure that is not a serialization failure was retried "
	        "(%lld attempts)",
	        fault_hits());
	H_CHECK(key_rows(&sync_store, key) == 0, "the failed checkout kept its key");
	effects_read(&after, &sync_store, oid, pid);
	/* The outbox insert ran before the failing statement: rolled back with it. */
	SAME_EFFECTS(&before, &after);

	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_STATUS(&r, 200);
	NOT_REPLAYED(&r);
	H_JSTR(r.json, "status", "confirmed");
	h_checkout(&again, &sync_store, oid, key, "tok_ok");
	REPLAYED(&r, &again);
	H_CHECK(h_must_available(&sync_store, pid) == 3, "want 2 of 5 taken once");
	fault_disarm();
	resp_release(&r);
	resp_release(&again);
}

/* Serialization failures rerun the whole transaction: the failed attempts' effects are gone,
 * the request answers as if it had run once. */
static void test_tx_serialization_failure_is_retried(void **state)
{
	struct resp r = {0};
	struct resp again = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	long long v;

	(void)state;
	h_must_create_product(&async_store, 100, 5, pid);
	h_must_create_order(&async_store, pid, 2, oid);
	h_unique_key(key, sizeof(key), "txretry");
	fault_arm(oid, "payment_authorized", "40001", 2);

	h_checkout(&r, &async_store, oid, key, "tok_ok");
	H_STATUS(&r, 202);
	NOT_REPLAYED(&r);
	H_JSTR(r.json, "status", "payment_authorized");
	H_CHECK(fault_hits() == 3, "want 2 failed attempts and a third that ran, got %lld",
	        fault_hits());
	v = h_db_ll("SELECT count(*) FROM outbox_events WHERE aggregate_id = $1 "
	            "AND type = 'PaymentAuthorized'",
	            oid, NULL);
	H_CHECK(v == 1, "%lld PaymentAuthorized events: the failed attempts' were kept", v);
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1", oid, NULL) == 1,
	        "want exactly one payment");
	H_CHECK(h_db_ll("SELECT count(*) FROM inventory_movements WHERE order_id = $1", oid,
	                NULL) == 1,
	        "want exactly one stock movement");
	H_CHECK(h_must_available(&async_store, pid) == 3, "want 2 of 5 taken once");
	h_checkout(&again, &async_store, oid, key, "tok_ok");
	REPLAYED(&r, &again);
	fault_disarm();
	resp_release(&r);
	resp_release(&again);
}

/* The reruns are bounded (DB_TX_RETRIES); the last failure answers 503 and frees the key. */
static void test_tx_retries_are_bounded(void **state)
{
	struct resp r = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	struct effects before;
	struct effects after;

	(void)state;
	h_must_create_product(&sync_store, 100, 5, pid);
	h_must_create_order(&sync_store, pid, 1, oid);
	h_unique_key(key, sizeof(key), "txbound");
	fault_arm(oid, "payment_authorized", "40P01", 1000);
	effects_read(&before, &sync_store, oid, pid);

	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_ERROR(&r, 503, "database_unavailable");
	H_CHECK(fault_hits() == 1 + DB_TX_RETRIES, "want %d attempts, got %lld", 1 + DB_TX_RETRIES,
	        fault_hits());
	H_CHECK(key_rows(&sync_store, key) == 0, "the failed checkout kept its key");
	effects_read(&after, &sync_store, oid, pid);
	SAME_EFFECTS(&before, &after);

	fault_disarm();
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_STATUS(&r, 200);
	NOT_REPLAYED(&r);
	H_JSTR(r.json, "status", "confirmed");
	resp_release(&r);
}

/* Cancel runs on the same runner: a failed transaction leaves the order as it was and its key
 * free. */
static void test_cancel_tx_error_releases_key(void **state)
{
	struct resp r = {0};
	struct resp again = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	struct effects before;
	struct effects after;

	(void)state;
	h_must_create_product(&sync_store, 100, 5, pid);
	h_must_create_order(&sync_store, pid, 1, oid);
	h_unique_key(key, sizeof(key), "cxlerr");
	fault_arm(oid, "cancelled", "P0001", 1);
	effects_read(&before, &sync_store, oid, pid);

	p_cancel(&r, &sync_store, oid, key, sync_store.key, NULL);
	H_ERROR(&r, 500, "internal_error");
	H_CHECK(key_rows(&sync_store, key) == 0, "the failed cancel kept its key");
	effects_read(&after, &sync_store, oid, pid);
	SAME_EFFECTS(&before, &after);

	p_cancel(&r, &sync_store, oid, key, sync_store.key, NULL);
	H_STATUS(&r, 200);
	NOT_REPLAYED(&r);
	H_JSTR(r.json, "status", "cancelled");
	p_cancel(&again, &sync_store, oid, key, sync_store.key, NULL);
	REPLAYED(&r, &again);
	fault_disarm();
	resp_release(&r);
	resp_release(&again);
}

/* A refusal is a decided outcome: stored with the key exactly as first sent, and replayed byte
 * for byte without touching the order again. */
static void test_cancel_refusal_is_stored(void **state)
{
	struct resp first = {0};
	struct resp r = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	struct effects before;
	struct effects after;
	char *stored;

	(void)state;
	h_must_create_product(&sync_store, 100, 5, pid);
	h_must_create_order(&sync_store, pid, 1, oid);
	h_unique_key(key, sizeof(key), "cxl");
	p_cancel(&r, &sync_store, oid, key, sync_store.key, NULL);
	H_STATUS(&r, 200);

	h_unique_key(key, sizeof(key), "cxlref");
	p_cancel(&first, &sync_store, oid, key, sync_store.key, NULL);
	H_ERROR(&first, 409, "order_not_cancellable");
	H_JSTR(first.json, "error.details.status", "cancelled");
	NOT_REPLAYED(&first);
	stored = h_db_str("SELECT response_status || ' ' || response_body FROM idempotency_keys "
	                  "WHERE store_id = $1 AND key = $2 AND status = 'completed'",
	                  sync_store.id, key, NULL);
	H_CHECK(stored != NULL && strncmp(stored, "409 ", 4) == 0 &&
	                strcmp(stored + 4, first.body) == 0,
	        "stored %s, sent 409 %s", stored ? stored : "nothing", first.body);
	free(stored);
	effects_read(&before, &sync_store, oid, pid);

	p_cancel(&r, &sync_store, oid, key, sync_store.key, NULL);
	REPLAYED(&first, &r);
	H_CHECK(r.status == 409, "replayed %ld, want 409", r.status);
	effects_read(&after, &sync_store, oid, pid);
	SAME_EFFECTS(&before, &after);
	resp_release(&first);
	resp_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_missing_and_invalid_key),
	        cmocka_unit_test(test_replay_sync),
	        cmocka_unit_test(test_replay_async),
	        cmocka_unit_test(test_reused_key_different_request),
	        cmocka_unit_test(test_declined_is_stored),
	        cmocka_unit_test(test_insufficient_inventory_is_stored),
	        cmocka_unit_test(test_order_not_pending_is_stored),
	        cmocka_unit_test(test_rejections_are_not_stored),
	        cmocka_unit_test(test_keys_are_per_store),
	        cmocka_unit_test(test_expired_key_is_free),
	        cmocka_unit_test(test_in_flight_duplicate),
	        cmocka_unit_test(test_canonical_body_whitespace),
	        cmocka_unit_test(test_canonical_body_escapes),
	        cmocka_unit_test(test_tx_error_releases_key),
	        cmocka_unit_test(test_tx_serialization_failure_is_retried),
	        cmocka_unit_test(test_tx_retries_are_bounded),
	        cmocka_unit_test(test_cancel_tx_error_releases_key),
	        cmocka_unit_test(test_cancel_refusal_is_stored),
	};

	return H_RUN_SUITE("itest_idempotency", tests, group_setup, NULL);
}
