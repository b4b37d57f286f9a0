/*
 * itest_tenancy.c — no request for one store can read or change another store's data
 * (guarantees §6.6), checked through every admin route, through the storefront routes with
 * another store's ids, and in the database itself: row-level security must hold for the
 * restricted role the service runs its queries as, whatever the application code does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "page.h"
#include "banned.h"

static struct h_store store_a;
static struct h_store store_b;
static char product_a[H_ID_LEN];
static char product_b[H_ID_LEN];
static char order_a[H_ID_LEN];
static char order_b[H_ID_LEN];

static int group_setup(void **state)
{
	(void)state;
	h_must_create_store(&store_a, "ten-a");
	h_must_create_store(&store_b, "ten-b");
	h_must_create_product(&store_a, 100, 10, product_a);
	h_must_create_product(&store_b, 200, 10, product_b);
	h_must_create_order(&store_a, product_a, 1, order_a);
	h_must_create_order(&store_b, product_b, 2, order_b);
	return 0;
}

/* An admin route of a store, with a body that would succeed for the right key. */
struct route {
	const char *method;
	char path[256];
	char body[256];
};

/* Every store-admin route of B (issue 2), with valid bodies. */
static size_t admin_routes(struct route *r, const struct h_store *s, const char *product_id)
{
	size_t n = 0;
	char sku[64];

	h_unique_key(sku, sizeof(sku), "tsku");
	r[n].method = "POST";
	snprintf(r[n].path, sizeof(r[n].path), "/v1/stores/%s/products", s->slug);
	snprintf(r[n].body, sizeof(r[n].body), "{\"sku\":\"%s\",\"name\":\"x\",\"price_cents\":1}",
	         sku);
	n++;
	r[n].method = "POST";
	snprintf(r[n].path, sizeof(r[n].path), "/v1/stores/%s/products/%s/inventory", s->slug,
	         product_id);
	snprintf(r[n].body, sizeof(r[n].body), "{\"delta\":-10,\"reason\":\"theft\"}");
	n++;
	r[n].method = "GET";
	snprintf(r[n].path, sizeof(r[n].path), "/v1/stores/%s/orders", s->slug);
	n++;
	r[n].method = "GET";
	snprintf(r[n].path, sizeof(r[n].path), "/v1/stores/%s/orders?status=pending", s->slug);
	n++;
	r[n].method = "GET";
	snprintf(r[n].path, sizeof(r[n].path), "/v1/stores/%s/flags", s->slug);
	n++;
	r[n].method = "PUT";
	snprintf(r[n].path, sizeof(r[n].path), "/v1/stores/%s/flags/checkout.async_enabled",
	         s->slug);
	snprintf(r[n].body, sizeof(r[n].body), "{\"enabled\":false,\"rollout_percent\":0}");
	n++;
	r[n].method = "GET";
	snprintf(r[n].path, sizeof(r[n].path), "/v1/stores/%s/flags/checkout.async_enabled/history",
	         s->slug);
	n++;
	return n;
}

static void call(struct resp *r, const struct route *rt, const char *authorization)
{
	struct h_req q = {.method = rt->method, .path = rt->path, .authorization = authorization};

	if (rt->body[0])
		q.body = rt->body;
	h_request(&q, r);
}

/* What B's admin routes could change, as a fingerprint of B's rows. */
static char *store_state(const struct h_store *s)
{
	return h_db_str(
	        "SELECT concat_ws('/', (SELECT count(*) FROM products WHERE store_id = $1), "
	        "(SELECT sum(available) FROM inventory WHERE store_id = $1), "
	        "(SELECT count(*) FROM inventory_movements WHERE store_id = $1), "
	        "(SELECT count(*) FROM flag_overrides WHERE store_id = $1), "
	        "(SELECT count(*) FROM flag_audit WHERE store_id = $1))",
	        s->id, NULL);
}

static void test_admin_routes_refuse_strangers(void **state)
{
	struct route routes[16];
	size_t n = admin_routes(routes, &store_b, product_b);
	struct resp r = {0};
	char bearer_a[300];
	char bad[300];
	char tampered[300];
	char *before = store_state(&store_b);
	char *after;
	size_t i;

	(void)state;
	snprintf(bearer_a, sizeof(bearer_a), "Bearer %s", store_a.key);
	snprintf(bad, sizeof(bad), "Bearer tsk_not_a_real_key_0123456789abcdef");
	/* B's own key id with a wrong secret: must fail on the hash comparison. */
	snprintf(tampered, sizeof(tampered), "Bearer %s", store_b.key);
	tampered[strlen(tampered) - 1] = tampered[strlen(tampered) - 1] == 'A' ? 'B' : 'A';

	for (i = 0; i < n; i++) {
		print_message("%s %s\n", routes[i].method, routes[i].path);
		call(&r, &routes[i], NULL);
		H_ERROR(&r, 401, "unauthorized");
		call(&r, &routes[i], bearer_a);
		H_ERROR(&r, 403, "forbidden");
		call(&r, &routes[i], bad);
		H_ERROR(&r, 401, "unauthorized");
		call(&r, &routes[i], tampered);
		H_ERROR(&r, 401, "unauthorized");
		call(&r, &routes[i], "Basic dGVuOmI=");
		H_ERROR(&r, 401, "unauthorized");
		call(&r, &routes[i], "Bearer");
		H_ERROR(&r, 401, "unauthorized");
	}
	after = store_state(&store_b);
	H_CHECK(!strcmp(before, after), "refused requests changed store B: %s -> %s", before,
	        after);
	free(before);
	free(after);

	/* And the other way round, once per route. */
	n = admin_routes(routes, &store_a, product_a);
	snprintf(bearer_a, sizeof(bearer_a), "Bearer %s", store_b.key);
	for (i = 0; i < n; i++) {
		call(&r, &routes[i], bearer_a);
		H_ERROR(&r, 403, "forbidden");
	}
	/* A store key is no operator key. */
	h_send(&r, "POST", "/v1/stores", store_a.key,
	       "{\"slug\":\"ten-never\",\"name\":\"x\",\"currency\":\"USD\"}");
	H_CHECK(r.status == 401 || r.status == 403, "store key creating a store: %ld", r.status);
	H_ERROR(&r, r.status, NULL);
	resp_release(&r);
}

static void test_owner_and_operator_succeed(void **state)
{
	struct route routes[16];
	size_t n;
	struct resp r = {0};
	char bearer[300];
	size_t i;
	int pass;

	(void)state;
	/* Each route works with the store's own key and with the operator key (the inventory
	 * route takes 10, so give it back between the two passes). */
	for (pass = 0; pass < 2; pass++) {
		snprintf(bearer, sizeof(bearer), "Bearer %s",
		         pass == 0 ? store_b.key : h_env.operator_key);
		n = admin_routes(routes, &store_b, product_b);
		for (i = 0; i < n; i++) {
			call(&r, &routes[i], bearer);
			H_CHECK(r.status == 200 || r.status == 201, "%s %s as %s: %ld %s",
			        routes[i].method, routes[i].path, pass ? "operator" : "owner",
			        r.status, r.body);
		}
		h_sendf(&r, "POST", store_b.key, "{\"delta\":10,\"reason\":\"back\"}",
		        "/v1/stores/%s/products/%s/inventory", store_b.slug, product_b);
		H_STATUS(&r, 200);
	}
	/* The operator's list of A shows A's orders only. */
	h_getf(&r, h_env.operator_key, "/v1/stores/%s/orders", store_a.slug);
	H_STATUS(&r, 200);
	H_CHECK(strstr(r.body, order_a) && !strstr(r.body, order_b),
	        "A's order list must hold A's order and not B's: %s", r.body);
	h_getf(&r, store_b.key, "/v1/stores/%s/orders", store_b.slug);
	H_STATUS(&r, 200);
	H_CHECK(strstr(r.body, order_b) && !strstr(r.body, order_a),
	        "B's order list must hold B's order and not A's: %s", r.body);
	resp_release(&r);
}

static void test_cross_store_ids_are_404(void **state)
{
	struct resp r = {0};
	char key[80];
	char body[300];

	(void)state;
	/* B's order and product through A's slug: as if they did not exist. */
	h_getf(&r, NULL, "/v1/stores/%s/orders/%s", store_a.slug, order_b);
	H_ERROR(&r, 404, "not_found");
	h_getf(&r, NULL, "/v1/stores/%s/products/%s", store_a.slug, product_b);
	H_ERROR(&r, 404, "not_found");
	h_getf(&r, h_env.operator_key, "/v1/stores/%s/orders/%s", store_a.slug, order_b);
	H_ERROR(&r, 404, "not_found");
	h_sendf(&r, "POST", store_a.key, "{\"delta\":5,\"reason\":\"x\"}",
	        "/v1/stores/%s/products/%s/inventory", store_a.slug, product_b);
	H_ERROR(&r, 404, "not_found");
	h_unique_key(key, sizeof(key), "cross");
	h_checkout(&r, &store_a, order_b, key, "tok_ok");
	H_ERROR(&r, 404, "not_found");
	/* An order in A for B's product: the product is unknown in A. */
	snprintf(
	        body, sizeof(body),
	        "{\"items\":[{\"product_id\":\"%s\",\"quantity\":1}],\"customer_email\":\"x@example."
	        "com\"}",
	        product_b);
	h_sendf(&r, "POST", NULL, body, "/v1/stores/%s/orders", store_a.slug);
	H_ERROR_FIELD(&r, 400, "unknown_product", "items[0].product_id");
	/* A's product list does not show B's product. */
	h_getf(&r, NULL, "/v1/stores/%s/products?limit=100", store_a.slug);
	H_STATUS(&r, 200);
	H_CHECK(!strstr(r.body, product_b), "A's catalogue shows B's product");

	/* Nothing of B moved. */
	H_CHECK(h_must_available(&store_b, product_b) == 10, "B's stock moved");
	H_CHECK(h_db_ll("SELECT count(*) FROM orders WHERE id = $1 AND status = 'pending'", order_b,
	                NULL) == 1,
	        "B's order changed");
	resp_release(&r);
}

/* A failed check inside the transaction below must not leave the shared connection in it. */
static int rollback(void **state)
{
	(void)state;
	PQclear(PQexec(h_db(), "ROLLBACK"));
	return 0;
}

/* Row-level security in the database: as terminus_app with A selected, only A's rows exist. */
static void test_rls_in_database(void **state)
{
	static const char *const tables[] = {"products",    "inventory",    "orders",
	                                     "order_items", "order_events", "idempotency_keys"};
	long long a_orders;
	long long all_orders;
	char sql[256];
	size_t i;

	(void)state;
	a_orders = h_db_ll("SELECT count(*) FROM orders WHERE store_id = $1", store_a.id, NULL);
	all_orders = h_db_ll("SELECT count(*) FROM orders", NULL);
	H_CHECK(a_orders >= 1 && all_orders > a_orders, "fixture: A has %lld of %lld orders",
	        a_orders, all_orders);
	H_CHECK(h_db_ll("SELECT count(*) FROM pg_roles WHERE rolname = 'terminus_app' AND NOT "
	                "rolsuper AND NOT rolbypassrls",
	                NULL) == 1,
	        "role terminus_app must exist without superuser or BYPASSRLS");

	h_db_exec("BEGIN", NULL);
	h_db_exec("SET LOCAL ROLE terminus_app", NULL);
	h_db_exec("SELECT set_config('terminus.store_id', $1, true)", store_a.id, NULL);
	H_CHECK(h_db_ll("SELECT count(*) FROM orders", NULL) == a_orders,
	        "as terminus_app for A, SELECT count(*) FROM orders must see only A's orders");
	H_CHECK(h_db_ll("SELECT count(*) FROM orders WHERE store_id = $1", store_b.id, NULL) == 0,
	        "as terminus_app for A, B's orders are visible");
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE store_id <> $1",
		         tables[i]);
		H_CHECK(h_db_ll(sql, store_a.id, NULL) == 0,
		        "as terminus_app for A, %s shows other stores' rows", tables[i]);
	}
	/* Writes through the policy: B's stock cannot be touched. */
	{
		PGresult *res = PQexecParams(
		        h_db(), "UPDATE inventory SET available = 0 WHERE store_id = $1", 1, NULL,
		        (const char *const[]){store_b.id}, NULL, NULL, 0);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK &&
		          strcmp(PQcmdTuples(res), "0") == 0;

		PQclear(res);
		if (!ok)
			h_db_exec("ROLLBACK", NULL);
		H_CHECK(ok, "as terminus_app for A, an UPDATE of B's inventory touched rows");
	}
	/* No store selected: nothing at all. */
	h_db_exec("SELECT set_config('terminus.store_id', '', true)", NULL);
	H_CHECK(h_db_ll("SELECT count(*) FROM orders", NULL) == 0,
	        "as terminus_app with no store selected, orders are visible");
	h_db_exec("ROLLBACK", NULL);
	H_CHECK(h_must_available(&store_b, product_b) == 10, "B's stock changed");
}

/* The cursors of a store's walk through its orders, pages of one (n - 1 of them). */
static void orders_cursors(const struct h_store *s, char cursors[][PAGE_CURSOR_LEN + 1], int n)
{
	struct resp r = {0};

	for (int i = 0; i < n - 1; i++) {
		if (i == 0)
			h_getf(&r, s->key, "/v1/stores/%s/orders?limit=1", s->slug);
		else
			h_getf(&r, s->key, "/v1/stores/%s/orders?limit=1&cursor=%s", s->slug,
			       cursors[i - 1]);
		H_STATUS(&r, 200);
		H_CHECK(json_is_string(h_j(r.json, "next_cursor")), "page %d: %s", i, r.body);
		snprintf(cursors[i], PAGE_CURSOR_LEN + 1, "%s", h_jstr(r.json, "next_cursor"));
	}
	resp_release(&r);
}

/* A store's cursors say nothing about other stores (the issue: they were global sequence
 * numbers, so two of a store's cursors told it how many orders the others made in between).
 * Store B makes many orders between and after A's; A's cursors are the same text before and
 * after, and each is exactly what A's own row makes: the list, A's id, and the row's created_at
 * and id, which A sees. */
static void test_cursors_reveal_no_other_store(void **state)
{
	struct h_store a, b;
	char pa[H_ID_LEN], pb[H_ID_LEN], oa[3][H_ID_LEN], ob[H_ID_LEN];
	char before[2][PAGE_CURSOR_LEN + 1], after[2][PAGE_CURSOR_LEN + 1];

	(void)state;
	h_must_create_store(&a, "ten-cur-a");
	h_must_create_store(&b, "ten-cur-b");
	h_must_create_product(&a, 100, 100, pa);
	h_must_create_product(&b, 100, 1000, pb);
	for (int i = 0; i < 3; i++) {
		h_must_create_order(&a, pa, 1, oa[i]);
		for (int j = 0; j < 10; j++)
			h_must_create_order(&b, pb, 1, ob);
	}
	orders_cursors(&a, before, 3);
	for (int j = 0; j < 40; j++)
		h_must_create_order(&b, pb, 1, ob);
	orders_cursors(&a, after, 3);
	for (int i = 0; i < 2; i++) {
		char want[PAGE_CURSOR_LEN + 1];
		long long at = h_db_ll("SELECT (extract(epoch FROM created_at) * 1000000)::bigint "
		                       "FROM orders WHERE id = $1",
		                       oa[i], NULL);

		H_CHECK(strcmp(before[i], after[i]) == 0, "cursor %d changed: %s -> %s", i,
		        before[i], after[i]);
		H_CHECK(page_cursor_encode(PAGE_ORDERS, a.id, at, oa[i], want), "encode");
		H_CHECK(strcmp(before[i], want) == 0, "cursor %d is not A's row's own: %s, not %s",
		        i, before[i], want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_admin_routes_refuse_strangers),
	        cmocka_unit_test(test_owner_and_operator_succeed),
	        cmocka_unit_test(test_cross_store_ids_are_404),
	        cmocka_unit_test(test_cursors_reveal_no_other_store),
	        cmocka_unit_test_teardown(test_rls_in_database, rollback),
	};

	return H_RUN_SUITE("itest_tenancy", tests, group_setup, NULL);
}
