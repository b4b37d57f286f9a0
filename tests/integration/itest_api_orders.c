/*
 * itest_api_orders.c — the handlers of src/api/orders.c: orders (creation with prices from the
 * database, validation, get, the list by status) and checkout on both paths (sync: confirmed in
 * the answer; async: authorized, for the worker), declined, invalid, not pending and short of
 * stock, with the stock, payments and events behind each answer; and the trace id of every
 * timeline entry. Idempotent replays are itest_idempotency's; cancel is itest_worker's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "banned.h"

/* checkout.async_enabled off (the synchronous path) / left at its default (on). */
static struct h_store sync_store;
static struct h_store async_store;

static int group_setup(void **state)
{
	(void)state;
	h_must_create_store(&sync_store, "api-sync");
	h_must_set_flag(&sync_store, "checkout.async_enabled", false);
	h_must_create_store(&async_store, "api-async");
	return 0;
}

/* The index in the timeline of the transition from → to (from NULL: any), or -1. */
static int timeline_index(const json_t *order, const char *from, const char *to)
{
	json_t *tl = h_j(order, "timeline");
	size_t i;
	json_t *e;

	json_array_foreach(tl, i, e)
	{
		const char *f = h_jstr(e, "from");
		const char *t = h_jstr(e, "to");

		if (t && strcmp(t, to) == 0 && (!from || (f && strcmp(f, from) == 0)))
			return (int)i;
	}
	return -1;
}

/* ---- orders ---------------------------------------------------------------------------------- */

static void test_order_create(void **state)
{
	struct resp r = {0};
	char p1[H_ID_LEN];
	char p2[H_ID_LEN];
	char body[1024];
	json_t *it;

	(void)state;
	h_must_create_product(&sync_store, 1000, 10, p1);
	h_must_create_product(&sync_store, 250, 10, p2);
	snprintf(body, sizeof(body),
	         "{\"items\":[{\"product_id\":\"%s\",\"quantity\":2},{\"product_id\":\"%s\","
	         "\"quantity\":3}],\"customer_email\":\"ann@example.com\"}",
	         p1, p2);
	h_sendf(&r, "POST", NULL, body, "/v1/stores/%s/orders", sync_store.slug);
	H_STATUS(&r, 201);
	H_CHECK(h_is_uuid(h_jstr(r.json, "id")), "order id: %s", r.body);
	H_JSTR(r.json, "status", "pending");
	H_JSTR(r.json, "customer_email", "ann@example.com");
	H_JSTR(r.json, "currency", "USD");
	H_JINT(r.json, "total_cents", 2750);
	H_CHECK(json_is_null(h_j(r.json, "payment")), "a new order has payment null: %s", r.body);
	H_CHECK(json_is_null(h_j(r.json, "checkout_path")),
	        "checkout_path is decided at checkout, null before: %s", r.body);
	H_CHECK(json_is_array(h_j(r.json, "timeline")), "timeline[] missing: %s", r.body);
	H_CHECK(h_is_rfc3339_utc(h_jstr(r.json, "created_at")) &&
	                h_is_rfc3339_utc(h_jstr(r.json, "updated_at")),
	        "created_at/updated_at: %s", r.body);
	H_CHECK(json_array_size(h_j(r.json, "items")) == 2, "two items: %s", r.body);
	it = h_j(r.json, "items[0]");
	H_JSTR(it, "product_id", p1);
	H_JINT(it, "quantity", 2);
	H_JINT(it, "unit_price_cents", 1000);
	H_JINT(it, "line_total_cents", 2000);
	H_CHECK(h_jstr(it, "sku") && h_jstr(it, "name"), "item sku/name: %s", r.body);
	it = h_j(r.json, "items[1]");
	H_JSTR(it, "product_id", p2);
	H_JINT(it, "quantity", 3);
	H_JINT(it, "unit_price_cents", 250);
	H_JINT(it, "line_total_cents", 750);

	H_CHECK(h_db_ll("SELECT total_cents FROM orders WHERE id = $1", h_jstr(r.json, "id"),
	                NULL) == 2750,
	        "database total");
	H_CHECK(h_db_ll("SELECT count(*) FROM order_items WHERE order_id = $1",
	                h_jstr(r.json, "id"), NULL) == 2,
	        "database lines");
	/* Creating an order reserves nothing. */
	H_CHECK(h_must_available(&sync_store, p1) == 10 && h_must_available(&sync_store, p2) == 10,
	        "order creation took stock");
	resp_release(&r);
}

static void test_order_create_validation(void **state)
{
	struct h_store other;
	char p1[H_ID_LEN];
	char p2[H_ID_LEN];
	char foreign[H_ID_LEN];
	struct resp r = {0};
	char body[8192];
	long long before;
	size_t off;
	int i;

	(void)state;
	h_must_create_product(&sync_store, 500, 5, p1);
	h_must_create_product(&sync_store, 700, 5, p2);
	h_must_create_store(&other, "api-other");
	h_must_create_product(&other, 100, 5, foreign);
	before = h_db_ll("SELECT count(*) FROM orders", NULL);

#define ORDER(fmt, ...) snprintf(body, sizeof(body), fmt, __VA_ARGS__)
#define POST_ORDER()    h_sendf(&r, "POST", NULL, body, "/v1/stores/%s/orders", sync_store.slug)
	/* Prices come from the database: a client price is an unknown field. */
	ORDER("{\"items\":[{\"product_id\":\"%s\",\"quantity\":1,\"unit_price_cents\":1}],"
	      "\"customer_email\":\"a@example.com\"}",
	      p1);
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "unknown_field", "items[0].unit_price_cents");
	ORDER("{\"items\":[{\"product_id\":\"%s\",\"quantity\":1}],\"total_cents\":1,"
	      "\"customer_email\":\"a@example.com\"}",
	      p1);
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "unknown_field", "total_cents");

	/* Unknown product, another store's product, the same product twice. */
	ORDER("{\"items\":[{\"product_id\":\"%s\",\"quantity\":1},{\"product_id\":\"%s\","
	      "\"quantity\":1}],\"customer_email\":\"a@example.com\"}",
	      p1, H_ZERO_UUID);
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "unknown_product", "items[1].product_id");
	ORDER("{\"items\":[{\"product_id\":\"%s\",\"quantity\":1}],\"customer_email\":\"a@example."
	      "com\"}",
	      foreign);
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "unknown_product", "items[0].product_id");
	ORDER("{\"items\":[{\"product_id\":\"%s\",\"quantity\":1},{\"product_id\":\"%s\","
	      "\"quantity\":2}],\"customer_email\":\"a@example.com\"}",
	      p1, p1);
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "duplicate_product", "items[1].product_id");
	ORDER("{\"items\":[{\"product_id\":\"%s\",\"quantity\":1}],\"customer_email\":\"a@example."
	      "com\"}",
	      "not-a-uuid");
	POST_ORDER();
	H_CHECK(r.status == 400, "non-UUID product_id: want 400, got %ld", r.status);
	H_ERROR(&r, 400, NULL);
	H_JSTR(r.json, "error.details.field", "items[0].product_id");

	/* Quantities: 1–10000 integers. */
	ORDER("{\"items\":[{\"product_id\":\"%s\",\"quantity\":0}],\"customer_email\":\"a@example."
	      "com\"}",
	      p1);
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "invalid_value", "items[0].quantity");
	ORDER("{\"items\":[{\"product_id\":\"%s\",\"quantity\":1},{\"product_id\":\"%s\","
	      "\"quantity\":10001}],\"customer_email\":\"a@example.com\"}",
	      p1, p2);
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "invalid_value", "items[1].quantity");
	ORDER("{\"items\":[{\"product_id\":\"%s\",\"quantity\":\"2\"}],\"customer_email\":\"a@"
	      "example.com\"}",
	      p1);
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "invalid_type", "items[0].quantity");
	ORDER("{\"items\":[{\"product_id\":\"%s\"}],\"customer_email\":\"a@example.com\"}", p1);
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "missing_field", "items[0].quantity");

	/* Lines: 1–100. */
	ORDER("{\"items\":[],\"customer_email\":\"%s\"}", "a@example.com");
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "invalid_value", "items");
	off = (size_t)snprintf(body, sizeof(body), "{\"items\":[");
	for (i = 0; i < 101; i++)
		off += (size_t)snprintf(body + off, sizeof(body) - off,
		                        "%s{\"product_id\":\"00000000-0000-4000-8000-%012d\","
		                        "\"quantity\":1}",
		                        i ? "," : "", i);
	snprintf(body + off, sizeof(body) - off, "],\"customer_email\":\"a@example.com\"}");
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "invalid_value", "items");
	ORDER("{\"items\":{\"product_id\":\"%s\"},\"customer_email\":\"a@example.com\"}", p1);
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "invalid_type", "items");

	/* The e-mail. */
	ORDER("{\"items\":[{\"product_id\":\"%s\",\"quantity\":1}]}", p1);
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "missing_field", "customer_email");
	ORDER("{\"items\":[{\"product_id\":\"%s\",\"quantity\":1}],\"customer_email\":42}", p1);
	POST_ORDER();
	H_ERROR_FIELD(&r, 400, "invalid_type", "customer_email");
#undef POST_ORDER
#undef ORDER

	/* An unknown store. */
	h_send(&r, "POST", "/v1/stores/no-such-store-zz/orders", NULL,
	       "{\"items\":[{\"product_id\":\"" H_ZERO_UUID "\",\"quantity\":1}],"
	       "\"customer_email\":\"a@example.com\"}");
	H_ERROR(&r, 404, "not_found");

	H_CHECK(h_db_ll("SELECT count(*) FROM orders", NULL) == before,
	        "rejected requests created orders");
	resp_release(&r);
}

static void test_order_get(void **state)
{
	struct resp r = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];

	(void)state;
	h_must_create_product(&sync_store, 300, 5, pid);
	h_must_create_order(&sync_store, pid, 2, oid);
	h_getf(&r, NULL, "/v1/stores/%s/orders/%s", sync_store.slug, oid);
	H_STATUS(&r, 200);
	H_JSTR(r.json, "id", oid);
	H_JSTR(r.json, "status", "pending");
	H_JINT(r.json, "total_cents", 600);
	H_JINT(r.json, "items[0].quantity", 2);
	H_JINT(r.json, "items[0].unit_price_cents", 300);
	H_JINT(r.json, "items[0].line_total_cents", 600);
	H_CHECK(json_is_null(h_j(r.json, "payment")), "payment must be null: %s", r.body);
	H_CHECK(json_is_array(h_j(r.json, "timeline")), "timeline: %s", r.body);

	h_getf(&r, NULL, "/v1/stores/%s/orders/%s", sync_store.slug, H_ZERO_UUID);
	H_ERROR(&r, 404, "not_found");
	h_getf(&r, NULL, "/v1/stores/%s/orders/xyz", sync_store.slug);
	H_ERROR(&r, 404, "not_found");
	h_getf(&r, NULL, "/v1/stores/no-such-store-zz/orders/%s", oid);
	H_ERROR(&r, 404, "not_found");
	resp_release(&r);
}

static void test_order_list_status(void **state)
{
	struct h_store s;
	char pid[H_ID_LEN];
	char oid[3][H_ID_LEN];
	bool seen[3] = {false};
	struct resp r = {0};
	char key[80];
	char *cursor = NULL;
	size_t i;
	json_t *e;

	(void)state;
	h_must_create_store(&s, "api-olist");
	h_must_set_flag(&s, "checkout.async_enabled", false);
	h_must_create_product(&s, 100, 10, pid);
	for (i = 0; i < 3; i++)
		h_must_create_order(&s, pid, 1, oid[i]);
	h_unique_key(key, sizeof(key), "list");
	h_checkout(&r, &s, oid[1], key, "tok_ok");
	H_STATUS(&r, 200);

	h_getf(&r, s.key, "/v1/stores/%s/orders", s.slug);
	H_STATUS(&r, 200);
	H_CHECK(json_array_size(h_j(r.json, "data")) == 3, "all 3 orders: %s", r.body);

	h_getf(&r, s.key, "/v1/stores/%s/orders?status=pending", s.slug);
	H_STATUS(&r, 200);
	H_CHECK(json_array_size(h_j(r.json, "data")) == 2, "2 pending orders: %s", r.body);
	json_array_foreach(h_j(r.json, "data"), i, e)
	{
		H_JSTR(e, "status", "pending");
		H_CHECK(strcmp(h_jstr(e, "id"), oid[1]) != 0, "confirmed order in ?status=pending");
	}
	h_getf(&r, s.key, "/v1/stores/%s/orders?status=confirmed", s.slug);
	H_STATUS(&r, 200);
	H_CHECK(json_array_size(h_j(r.json, "data")) == 1, "1 confirmed order: %s", r.body);
	H_JSTR(r.json, "data[0].id", oid[1]);
	H_JSTR(r.json, "data[0].status", "confirmed");
	h_getf(&r, s.key, "/v1/stores/%s/orders?status=refunded", s.slug);
	H_STATUS(&r, 200);
	H_CHECK(json_array_size(h_j(r.json, "data")) == 0, "no refunded orders: %s", r.body);

	/* Pages of one. */
	for (int pages = 0;; pages++) {
		json_t *next;

		H_CHECK(pages < 5, "pagination of 3 orders does not end");
		if (cursor)
			h_getf(&r, s.key, "/v1/stores/%s/orders?limit=1&cursor=%s", s.slug, cursor);
		else
			h_getf(&r, s.key, "/v1/stores/%s/orders?limit=1", s.slug);
		free(cursor);
		cursor = NULL;
		H_STATUS(&r, 200);
		H_CHECK(json_array_size(h_j(r.json, "data")) == 1, "page of one: %s", r.body);
		for (i = 0; i < 3; i++)
			if (!strcmp(h_jstr(r.json, "data[0].id"), oid[i])) {
				H_CHECK(!seen[i], "order listed twice across pages");
				seen[i] = true;
			}
		next = h_j(r.json, "next_cursor");
		if (json_is_null(next))
			break;
		H_CHECK(json_is_string(next), "next_cursor: %s", r.body);
		cursor = h_strdup(json_string_value(next));
	}
	H_CHECK(seen[0] && seen[1] && seen[2], "not every order appeared in the pages");

	h_getf(&r, s.key, "/v1/stores/%s/orders?status=bogus", s.slug);
	H_ERROR_FIELD(&r, 400, "invalid_query", "status");
	h_getf(&r, s.key, "/v1/stores/%s/orders?limit=101", s.slug);
	H_ERROR_FIELD(&r, 400, "invalid_query", "limit");
	h_getf(&r, NULL, "/v1/stores/%s/orders", s.slug);
	H_ERROR(&r, 401, "unauthorized");
	h_getf(&r, h_env.operator_key, "/v1/stores/%s/orders", s.slug);
	H_STATUS(&r, 200);
	H_CHECK(json_array_size(h_j(r.json, "data")) == 3, "operator sees the 3 orders");
	resp_release(&r);
}

/* Walking a store's orders in pages returns each order that existed when the walk began exactly
 * once, while orders are inserted between the pages (in this store and another) and inside the
 * walk's range (a row planted with an earlier created_at, as a transaction that began before
 * the walk and committed during it has): keys never change, so nothing shifts. */
static void test_order_walk_with_inserts(void **state)
{
	enum { OLD = 12, PAGE = 5 };
	struct h_store s, other;
	char pid[H_ID_LEN], po[H_ID_LEN], oid[OLD][H_ID_LEN], extra[H_ID_LEN];
	int seen[OLD] = {0};
	json_t *ids = json_object(); /* every id seen: a repeat is a failure, new ones too */
	struct resp r = {0};
	char *cursor = NULL;
	int pages = 0;

	(void)state;
	h_must_create_store(&s, "api-owalk");
	h_must_create_store(&other, "api-owalk-b");
	h_must_create_product(&s, 100, 1000, pid);
	h_must_create_product(&other, 100, 1000, po);
	for (int i = 0; i < OLD; i++)
		h_must_create_order(&s, pid, 1, oid[i]);
	for (;;) {
		json_t *e, *next;
		size_t i;

		H_CHECK(++pages < 40, "the walk does not end");
		if (cursor)
			h_getf(&r, s.key, "/v1/stores/%s/orders?limit=%d&cursor=%s", s.slug, PAGE,
			       cursor);
		else
			h_getf(&r, s.key, "/v1/stores/%s/orders?limit=%d", s.slug, PAGE);
		free(cursor);
		cursor = NULL;
		H_STATUS(&r, 200);
		json_array_foreach(h_j(r.json, "data"), i, e)
		{
			const char *id = h_jstr(e, "id");

			H_CHECK(json_object_get(ids, id) == NULL, "order %s listed twice", id);
			json_object_set_new(ids, id, json_true());
			for (int k = 0; k < OLD; k++)
				if (strcmp(id, oid[k]) == 0)
					seen[k]++;
		}
		/* Between pages: new orders here and in the other store, and one planted in the
		 * middle of the walk's range (created_at between the first two orders). */
		h_must_create_order(&s, pid, 1, extra);
		h_must_create_order(&other, po, 1, extra);
		h_must_create_order(&s, pid, 1, extra);
		h_db_exec(
		        "UPDATE orders SET created_at = (SELECT created_at + interval '1 microsecond' "
		        "FROM orders WHERE id = $1) WHERE id = $2",
		        oid[0], extra, NULL);
		next = h_j(r.json, "next_cursor");
		if (json_is_null(next))
			break;
		cursor = h_strdup(json_string_value(next));
	}
	for (int k = 0; k < OLD; k++)
		H_CHECK(seen[k] == 1, "order %d seen %d times", k, seen[k]);
	json_decref(ids);
	resp_release(&r);
}

/* ---- checkout -------------------------------------------------------------------------------- */

static void test_checkout_sync(void **state)
{
	struct resp r = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	json_t *o;
	int a;
	int c;

	(void)state;
	h_must_create_product(&sync_store, 500, 10, pid);
	h_must_create_order(&sync_store, pid, 3, oid);
	h_unique_key(key, sizeof(key), "sync");
	h_checkout(&r, &sync_store, oid, key, "tok_visa");
	H_STATUS(&r, 200);
	H_CHECK(!resp_header(&r, "Idempotent-Replayed"), "a first answer is not a replay");
	H_JSTR(r.json, "id", oid);
	H_JSTR(r.json, "status", "confirmed");
	H_JSTR(r.json, "checkout_path", "sync");
	H_JINT(r.json, "total_cents", 1500);
	H_CHECK(json_is_object(h_j(r.json, "payment")), "payment object: %s", r.body);
	H_CHECK(h_is_uuid(h_jstr(r.json, "payment.id")), "payment.id: %s", r.body);
	H_JSTR(r.json, "payment.status", "captured");
	H_JINT(r.json, "payment.amount_cents", 1500);
	H_JSTR(r.json, "payment.currency", "USD");
	a = timeline_index(r.json, "pending", "payment_authorized");
	c = timeline_index(r.json, "payment_authorized", "confirmed");
	H_CHECK(a >= 0 && c > a, "timeline must show pending->payment_authorized->confirmed: %s",
	        r.body);
	H_CHECK(h_is_rfc3339_utc(h_jstr(h_j(r.json, "timeline"), "[0].at")), "timeline at: %s",
	        r.body);

	/* The stored order says the same. */
	o = h_must_get_order(&sync_store, oid);
	H_JSTR(o, "status", "confirmed");
	H_JSTR(o, "payment.status", "captured");
	H_JSTR(o, "checkout_path", "sync");
	json_decref(o);

	/* Stock taken once; one captured payment; the event written (and handled inline). */
	H_CHECK(h_must_available(&sync_store, pid) == 7, "stock must be 10 - 3");
	H_CHECK(h_db_ll("SELECT available FROM inventory WHERE product_id = $1", pid, NULL) == 7,
	        "database stock must be 7");
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'captured' "
	                "AND amount_cents = 1500",
	                oid, NULL) == 1,
	        "want one captured payment of 1500");
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1", oid, NULL) == 1,
	        "want exactly one payment row");
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE aggregate_id = $1 AND type = "
	                "'PaymentAuthorized'",
	                oid, NULL) == 1,
	        "want one PaymentAuthorized event in the outbox");
	H_CHECK(h_db_ll("SELECT count(*) FROM orders WHERE id = $1 AND status = 'confirmed' AND "
	                "checkout_path = 'sync'",
	                oid, NULL) == 1,
	        "database order not confirmed/sync");
	resp_release(&r);
}

static void test_checkout_async(void **state)
{
	struct resp r = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	json_t *o;

	(void)state;
	h_must_create_product(&async_store, 400, 10, pid);
	h_must_create_order(&async_store, pid, 2, oid);
	h_unique_key(key, sizeof(key), "async");
	h_checkout(&r, &async_store, oid, key, "tok_ok");
	H_STATUS(&r, 202);
	H_JSTR(r.json, "status", "payment_authorized");
	H_JSTR(r.json, "checkout_path", "async");
	H_JSTR(r.json, "payment.status", "authorized");
	H_JINT(r.json, "payment.amount_cents", 800);
	H_CHECK(timeline_index(r.json, "pending", "payment_authorized") >= 0,
	        "timeline must show pending->payment_authorized: %s", r.body);

	o = h_must_get_order(&async_store, oid);
	H_JSTR(o, "checkout_path", "async");
	H_CHECK(strcmp(h_jstr(o, "status"), "payment_authorized") == 0 ||
	                strcmp(h_jstr(o, "status"), "confirmed") == 0,
	        "async order status %s", h_jstr(o, "status"));
	json_decref(o);
	H_CHECK(h_must_available(&async_store, pid) == 8, "stock must be 10 - 2");
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1 AND status IN "
	                "('authorized', 'captured')",
	                oid, NULL) == 1,
	        "want one live payment");
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE aggregate_id = $1 AND type = "
	                "'PaymentAuthorized'",
	                oid, NULL) == 1,
	        "want one PaymentAuthorized event for the worker");
	resp_release(&r);
}

static void test_checkout_declined(void **state)
{
	struct resp r = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	json_t *o;

	(void)state;
	h_must_create_product(&sync_store, 900, 4, pid);
	h_must_create_order(&sync_store, pid, 2, oid);
	h_unique_key(key, sizeof(key), "decl");
	h_checkout(&r, &sync_store, oid, key, "tok_decline");
	H_ERROR(&r, 402, "payment_declined");
	o = h_must_get_order(&sync_store, oid);
	H_JSTR(o, "status", "pending");
	json_decref(o);
	H_CHECK(h_must_available(&sync_store, pid) == 4, "a declined payment took stock");
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1 AND status IN "
	                "('authorized', 'captured')",
	                oid, NULL) == 0,
	        "a declined payment left a live payment");

	/* The same on the async path. */
	h_must_create_product(&async_store, 900, 4, pid);
	h_must_create_order(&async_store, pid, 2, oid);
	h_unique_key(key, sizeof(key), "decl");
	h_checkout(&r, &async_store, oid, key, "tok_decline");
	H_ERROR(&r, 402, "payment_declined");
	H_CHECK(h_must_available(&async_store, pid) == 4, "a declined payment took stock (async)");
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE aggregate_id = $1 "
	                "AND NOT (type = 'OrderStatusChanged' AND payload->>'to' = 'pending')",
	                oid, NULL) == 0,
	        "a declined checkout wrote an event");

	/* The order is still payable. */
	h_unique_key(key, sizeof(key), "decl");
	h_checkout(&r, &async_store, oid, key, "tok_ok");
	H_STATUS(&r, 202);
	resp_release(&r);
}

static void test_checkout_validation(void **state)
{
	struct resp r = {0};
	struct h_req q = {.method = "POST"};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char path[200];
	char key[80];

	(void)state;
	h_must_create_product(&sync_store, 100, 4, pid);
	h_must_create_order(&sync_store, pid, 1, oid);
	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/checkout", sync_store.slug, oid);
	q.path = path;
	q.idem_key = key;

	h_unique_key(key, sizeof(key), "val");
	h_checkout(&r, &sync_store, oid, key, "visa_4242");
	H_ERROR_FIELD(&r, 400, "invalid_value", "payment_token");
	h_unique_key(key, sizeof(key), "val");
	q.body = "{}";
	h_request(&q, &r);
	H_ERROR_FIELD(&r, 400, "missing_field", "payment_token");
	h_unique_key(key, sizeof(key), "val");
	q.body = "{\"payment_token\":42}";
	h_request(&q, &r);
	H_ERROR_FIELD(&r, 400, "invalid_type", "payment_token");
	h_unique_key(key, sizeof(key), "val");
	q.body = "{\"payment_token\":\"tok_ok\",\"amount_cents\":1}";
	h_request(&q, &r);
	H_ERROR_FIELD(&r, 400, "unknown_field", "amount_cents");

	/* Unknown order and store. */
	h_unique_key(key, sizeof(key), "val");
	h_checkout(&r, &sync_store, H_ZERO_UUID, key, "tok_ok");
	H_ERROR(&r, 404, "not_found");
	{
		struct h_store ghost = {.slug = "no-such-store-zz"};

		h_checkout(&r, &ghost, oid, key, "tok_ok");
		H_ERROR(&r, 404, "not_found");
	}
	H_CHECK(h_must_available(&sync_store, pid) == 4, "rejected checkouts took stock");
	resp_release(&r);
}

static void test_checkout_order_not_pending(void **state)
{
	struct resp r = {0};
	char pid[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];

	(void)state;
	h_must_create_product(&sync_store, 100, 5, pid);
	h_must_create_order(&sync_store, pid, 1, oid);
	h_unique_key(key, sizeof(key), "np");
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_STATUS(&r, 200);
	h_unique_key(key, sizeof(key), "np");
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_ERROR(&r, 409, "order_not_pending");
	H_JSTR(r.json, "error.details.status", "confirmed");
	H_CHECK(h_must_available(&sync_store, pid) == 4, "second checkout took stock again");
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1", oid, NULL) == 1,
	        "second checkout made a payment");

	/* An order waiting for the worker is not pending either. */
	h_must_create_product(&async_store, 100, 5, pid);
	h_must_create_order(&async_store, pid, 1, oid);
	h_unique_key(key, sizeof(key), "np");
	h_checkout(&r, &async_store, oid, key, "tok_ok");
	H_STATUS(&r, 202);
	h_unique_key(key, sizeof(key), "np");
	h_checkout(&r, &async_store, oid, key, "tok_ok");
	H_ERROR(&r, 409, "order_not_pending");
	H_CHECK(h_jstr(r.json, "error.details.status") &&
	                (!strcmp(h_jstr(r.json, "error.details.status"), "payment_authorized") ||
	                 !strcmp(h_jstr(r.json, "error.details.status"), "confirmed")),
	        "details.status: %s", r.body);
	resp_release(&r);
}

static void test_checkout_insufficient_inventory(void **state)
{
	struct resp r = {0};
	char p1[H_ID_LEN];
	char p2[H_ID_LEN];
	char oid[H_ID_LEN];
	char key[80];
	json_t *o;

	(void)state;
	h_must_create_product(&sync_store, 100, 2, p1);
	h_must_create_order(&sync_store, p1, 3, oid);
	h_unique_key(key, sizeof(key), "ins");
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_ERROR(&r, 409, "insufficient_inventory");
	H_JSTR(r.json, "error.details.product_id", p1);
	H_JINT(r.json, "error.details.requested", 3);
	H_JINT(r.json, "error.details.available", 2);
	o = h_must_get_order(&sync_store, oid);
	H_JSTR(o, "status", "pending");
	json_decref(o);
	H_CHECK(h_must_available(&sync_store, p1) == 2, "a failed checkout took stock");

	/* All lines or none: the first line's stock stays when the second is short. */
	{
		const char *ids[2];
		int qty[2] = {2, 2};

		h_must_create_product(&sync_store, 100, 5, p1);
		h_must_create_product(&sync_store, 100, 1, p2);
		ids[0] = p1;
		ids[1] = p2;
		h_must_create_order_lines(&sync_store, 2, ids, qty, oid);
	}
	h_unique_key(key, sizeof(key), "ins");
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_ERROR(&r, 409, "insufficient_inventory");
	H_JSTR(r.json, "error.details.product_id", p2);
	H_JINT(r.json, "error.details.requested", 2);
	H_JINT(r.json, "error.details.available", 1);
	H_CHECK(h_must_available(&sync_store, p1) == 5, "line 1 stock taken by a failed checkout");
	H_CHECK(h_must_available(&sync_store, p2) == 1, "line 2 stock moved");
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1", oid, NULL) == 0,
	        "a failed checkout left a payment");
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE aggregate_id = $1 "
	                "AND NOT (type = 'OrderStatusChanged' AND payload->>'to' = 'pending')",
	                oid, NULL) == 0,
	        "a failed checkout wrote an event");
	resp_release(&r);
}

/* ---- trace ids in the timeline --------------------------------------------------------------- */

#define TRACE_CREATE "4bf92f3577b34da6a3ce929d0e0e4736"
#define TRACE_REPLAY "0af7651916cd43dd8448eb211c80319c"
#define TRACE_CANCEL "a3ce929d0e0e47364bf92f3577b34da6"

/* 32 lowercase hex digits, not all zero: a W3C trace id. */
static bool is_trace_id(const char *s)
{
	if (s == NULL || strlen(s) != 32 || strspn(s, "0") == 32)
		return false;
	return strspn(s, "0123456789abcdef") == 32;
}

/* POST path with a "traceparent: 00-<trace>-<span>-01" header (trace NULL: no header). */
static void post_traced(struct resp *r, const char *path, const char *auth, const char *idem,
                        const char *body, const char *trace)
{
	struct h_req q = {.method = "POST"};
	char line[120];
	const char *headers[] = {line, NULL};

	snprintf(line, sizeof(line), "traceparent: 00-%s-00f067aa0ba902b7-01", trace ? trace : "");
	q.path = path;
	q.auth = auth;
	q.idem_key = idem;
	q.body = body;
	q.headers = trace ? headers : NULL;
	H_CHECK(h_request(&q, r), "POST %s: %s", path, r->error);
}

/* Every timeline entry of the order has a trace_id that is a trace id or null; returns the
 * trace_id of the transition from → to (from NULL: any), NULL for null. */
static const char *timeline_trace(const json_t *order, const char *from, const char *to)
{
	json_t *tl = h_j(order, "timeline"), *e, *t;
	int at = timeline_index(order, from, to);
	size_t i;

	H_CHECK(json_array_size(tl) > 0, "order without a timeline");
	json_array_foreach(tl, i, e)
	{
		t = json_object_get(e, "trace_id");
		H_CHECK(t != NULL, "timeline[%zu] has no trace_id key", i);
		H_CHECK(json_is_null(t) || is_trace_id(json_string_value(t)),
		        "timeline[%zu].trace_id is neither 32 lowercase hex digits nor null", i);
	}
	H_CHECK(at >= 0, "the timeline has no %s -> %s entry", from ? from : "*", to);
	return json_string_value(json_object_get(json_array_get(tl, (size_t)at), "trace_id"));
}

static void expect_timeline_trace(const json_t *order, const char *from, const char *to,
                                  const char *want)
{
	const char *got = timeline_trace(order, from, to);

	H_CHECK(got != NULL && strcmp(got, want) == 0, "%s -> %s: trace_id %s, want %s",
	        from ? from : "*", to, got ? got : "null", want);
}

/* Each timeline entry names the trace of the request (or event) that made the change: the
 * caller's when it sent a valid traceparent, the one the API started (X-Trace-Id) otherwise;
 * null when none was recorded. */
static void test_timeline_trace_ids(void **state)
{
	struct resp r = {0}, replay = {0};
	char pid[H_ID_LEN], oid[H_ID_LEN], oid2[H_ID_LEN], path[200], body[200], key[80];
	char co_trace[33];
	const char *x;
	json_t *o, *t;

	(void)state;
	h_must_create_product(&sync_store, 300, 10, pid);

	/* Creation with a traceparent: the caller's trace on the creation entry, in the 201 and in
	 * the stored order. */
	snprintf(path, sizeof(path), "/v1/stores/%s/orders", sync_store.slug);
	snprintf(body, sizeof(body),
	         "{\"items\":[{\"product_id\":\"%s\",\"quantity\":1}],"
	         "\"customer_email\":\"trace@example.com\"}",
	         pid);
	post_traced(&r, path, NULL, NULL, body, TRACE_CREATE);
	H_STATUS(&r, 201);
	x = resp_header(&r, "X-Trace-Id");
	H_CHECK(x && strcmp(x, TRACE_CREATE) == 0, "X-Trace-Id %s, the caller sent %s",
	        x ? x : "(none)", TRACE_CREATE);
	H_CHECK(json_array_size(h_j(r.json, "timeline")) == 1, "a new order's timeline: %s",
	        r.body);
	expect_timeline_trace(r.json, NULL, "pending", TRACE_CREATE);
	snprintf(oid, sizeof(oid), "%s", h_jstr(r.json, "id"));
	o = h_must_get_order(&sync_store, oid);
	expect_timeline_trace(o, NULL, "pending", TRACE_CREATE);
	json_decref(o);

	/* A sync checkout without a traceparent: both of its entries carry the trace the API
	 * started, which is the answer's X-Trace-Id. */
	h_unique_key(key, sizeof(key), "trace-co");
	h_checkout(&r, &sync_store, oid, key, "tok_ok");
	H_STATUS(&r, 200);
	x = resp_header(&r, "X-Trace-Id");
	H_CHECK(is_trace_id(x), "checkout X-Trace-Id %s", x ? x : "(none)");
	H_CHECK(strcmp(x, TRACE_CREATE) != 0, "the checkout continued the creation's trace");
	snprintf(co_trace, sizeof(co_trace), "%s", x);
	expect_timeline_trace(r.json, "pending", "payment_authorized", co_trace);
	expect_timeline_trace(r.json, "payment_authorized", "confirmed", co_trace);
	expect_timeline_trace(r.json, NULL, "pending", TRACE_CREATE);
	o = h_must_get_order(&sync_store, oid);
	expect_timeline_trace(o, "pending", "payment_authorized", co_trace);
	expect_timeline_trace(o, "payment_authorized", "confirmed", co_trace);
	json_decref(o);

	/* A replay under another trace is the stored answer, byte for byte: its timeline names the
	 * checkout's trace, while its X-Trace-Id is the replaying request's. */
	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/checkout", sync_store.slug, oid);
	post_traced(&replay, path, NULL, key, "{\"payment_token\":\"tok_ok\"}", TRACE_REPLAY);
	H_SAME_BODY(&r, &replay);
	x = resp_header(&replay, "Idempotent-Replayed");
	H_CHECK(x && strcmp(x, "true") == 0, "checkout replay without Idempotent-Replayed: true");
	x = resp_header(&replay, "X-Trace-Id");
	H_CHECK(x && strcmp(x, TRACE_REPLAY) == 0, "replay X-Trace-Id %s, the caller sent %s",
	        x ? x : "(none)", TRACE_REPLAY);
	expect_timeline_trace(replay.json, "pending", "payment_authorized", co_trace);
	resp_release(&replay);

	/* A cancel with a traceparent: the caller's trace on its entry. */
	h_must_create_order(&sync_store, pid, 1, oid2);
	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/cancel", sync_store.slug, oid2);
	h_unique_key(key, sizeof(key), "trace-cancel");
	post_traced(&r, path, sync_store.key, key, "{}", TRACE_CANCEL);
	H_STATUS(&r, 200);
	expect_timeline_trace(r.json, "pending", "cancelled", TRACE_CANCEL);
	H_CHECK(strcmp(timeline_trace(r.json, NULL, "pending"), TRACE_CANCEL) != 0,
	        "the cancel's trace on the creation entry");

	/* A row recorded without a trace: trace_id is there, and null. */
	h_db_exec("UPDATE order_events SET traceparent = NULL WHERE order_id = $1 "
	          "AND to_status = 'pending'",
	          oid, NULL);
	o = h_must_get_order(&sync_store, oid);
	H_CHECK(timeline_trace(o, NULL, "pending") == NULL, "creation entry's trace_id not null");
	t = json_object_get(json_array_get(h_j(o, "timeline"), 0), "trace_id");
	H_CHECK(json_is_null(t), "timeline[0].trace_id is not JSON null");
	expect_timeline_trace(o, "pending", "payment_authorized", co_trace);
	json_decref(o);

	/* The async path: the 202's X-Trace-Id is the trace of its pending -> payment_authorized
	 * entry too. */
	h_must_create_product(&async_store, 300, 10, pid);
	h_must_create_order(&async_store, pid, 1, oid);
	h_unique_key(key, sizeof(key), "trace-co");
	h_checkout(&r, &async_store, oid, key, "tok_ok");
	H_STATUS(&r, 202);
	x = resp_header(&r, "X-Trace-Id");
	H_CHECK(is_trace_id(x), "async checkout X-Trace-Id %s", x ? x : "(none)");
	expect_timeline_trace(r.json, "pending", "payment_authorized", x);
	resp_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_order_create),
	        cmocka_unit_test(test_order_create_validation),
	        cmocka_unit_test(test_order_get),
	        cmocka_unit_test(test_order_list_status),
	        cmocka_unit_test(test_order_walk_with_inserts),
	        cmocka_unit_test(test_checkout_sync),
	        cmocka_unit_test(test_checkout_async),
	        cmocka_unit_test(test_checkout_declined),
	        cmocka_unit_test(test_checkout_validation),
	        cmocka_unit_test(test_checkout_order_not_pending),
	        cmocka_unit_test(test_checkout_insufficient_inventory),
	        cmocka_unit_test(test_timeline_trace_ids),
	};

	return H_RUN_SUITE("itest_api_orders", tests, group_setup, NULL);
}
