/*
 * itest_api_catalog.c — the handlers of src/api/catalog.c: products (creation, validation, get,
 * the paginated list) and inventory adjustments, with the database rows behind them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "banned.h"

/* Two stores: a SKU is unique per store, so the second one may use the first one's. */
static struct h_store store;
static struct h_store other_store;

static int group_setup(void **state)
{
	(void)state;
	h_must_create_store(&store, "catalog");
	h_must_create_store(&other_store, "catalog-other");
	return 0;
}

/* ---- products -------------------------------------------------------------------------------- */

static void test_product_create_get(void **state)
{
	struct resp r = {0};
	struct resp g = {0};
	char sku[64];
	char body[512];
	char id[H_ID_LEN];

	(void)state;
	h_unique_key(sku, sizeof(sku), "SKU");
	snprintf(body, sizeof(body),
	         "{\"sku\":\"%s\",\"name\":\"Blue mug\",\"description\":\"Holds tea\","
	         "\"price_cents\":1250,\"inventory\":7}",
	         sku);
	h_sendf(&r, "POST", store.key, body, "/v1/stores/%s/products", store.slug);
	H_STATUS(&r, 201);
	H_CHECK(h_is_uuid(h_jstr(r.json, "id")), "product id: %s", r.body);
	H_JSTR(r.json, "sku", sku);
	H_JSTR(r.json, "name", "Blue mug");
	H_JSTR(r.json, "description", "Holds tea");
	H_JINT(r.json, "price_cents", 1250);
	H_JSTR(r.json, "currency", "USD");
	H_JINT(r.json, "available", 7);
	H_CHECK(h_is_rfc3339_utc(h_jstr(r.json, "created_at")), "created_at: %s", r.body);
	snprintf(id, sizeof(id), "%s", h_jstr(r.json, "id"));
	H_CHECK(h_db_ll("SELECT available FROM inventory WHERE product_id = $1", id, NULL) == 7,
	        "inventory row does not hold 7");

	/* GET answers the same product, without a key. */
	h_getf(&g, NULL, "/v1/stores/%s/products/%s", store.slug, id);
	H_STATUS(&g, 200);
	H_CHECK(json_equal(r.json, g.json), "GET differs from the 201 body:\n%s\n%s", r.body,
	        g.body);

	/* The SKU is unique per store. */
	h_sendf(&r, "POST", store.key, body, "/v1/stores/%s/products", store.slug);
	H_ERROR(&r, 409, "sku_exists");
	/* …but another store may use it. */
	h_sendf(&r, "POST", other_store.key, body, "/v1/stores/%s/products", other_store.slug);
	H_STATUS(&r, 201);

	/* Optional fields: description and inventory (default 0). */
	h_unique_key(sku, sizeof(sku), "SKU");
	snprintf(body, sizeof(body), "{\"sku\":\"%s\",\"name\":\"Bare\",\"price_cents\":0}", sku);
	h_sendf(&r, "POST", store.key, body, "/v1/stores/%s/products", store.slug);
	H_STATUS(&r, 201);
	H_JINT(r.json, "available", 0);
	H_JINT(r.json, "price_cents", 0);

	/* Lengths count characters, not bytes: 200 two-byte characters are a valid name. */
	{
		char name[2 * 201 + 1];
		char big[1024];

		for (int k = 0; k < 201; k++)
			memcpy(name + 2 * k, "\xc3\xa9", 2);
		name[2 * 200] = '\0';
		h_unique_key(sku, sizeof(sku), "SKU");
		snprintf(big, sizeof(big), "{\"sku\":\"%s\",\"name\":\"%s\",\"price_cents\":1}",
		         sku, name);
		h_sendf(&r, "POST", store.key, big, "/v1/stores/%s/products", store.slug);
		H_STATUS(&r, 201);
		H_JSTR(r.json, "name", name);
		memcpy(name + 2 * 200, "\xc3\xa9", 2);
		name[2 * 201] = '\0';
		h_unique_key(sku, sizeof(sku), "SKU");
		snprintf(big, sizeof(big), "{\"sku\":\"%s\",\"name\":\"%s\",\"price_cents\":1}",
		         sku, name);
		h_sendf(&r, "POST", store.key, big, "/v1/stores/%s/products", store.slug);
		H_ERROR_FIELD(&r, 400, "invalid_value", "name");
	}

	/* Unknown ids and stores. */
	h_getf(&r, NULL, "/v1/stores/%s/products/%s", store.slug, H_ZERO_UUID);
	H_ERROR(&r, 404, "not_found");
	h_getf(&r, NULL, "/v1/stores/%s/products/not-a-uuid", store.slug);
	H_ERROR(&r, 404, "not_found");
	h_getf(&r, NULL, "/v1/stores/no-such-store-zz/products/%s", id);
	H_ERROR(&r, 404, "not_found");
	h_sendf(&r, "POST", h_env.operator_key, body, "/v1/stores/no-such-store-zz/products");
	H_ERROR(&r, 404, "not_found");
	resp_release(&r);
	resp_release(&g);
}

static void test_product_validation(void **state)
{
	static const struct {
		const char *body;
		const char *code;
		const char *field;
	} cases[] = {
	        {"{\"sku\":\"v1\",\"name\":\"n\",\"price_cents\":12.50}", "invalid_type",
	         "price_cents"},
	        {"{\"sku\":\"v1\",\"name\":\"n\",\"price_cents\":\"100\"}", "invalid_type",
	         "price_cents"},
	        {"{\"sku\":\"v1\",\"name\":\"n\",\"price_cents\":-1}", "invalid_value",
	         "price_cents"},
	        {"{\"sku\":\"v1\",\"name\":\"n\",\"price_cents\":1000000001}", "invalid_value",
	         "price_cents"},
	        {"{\"sku\":\"v1\",\"name\":\"n\",\"price_cents\":1,\"inventory\":-5}",
	         "invalid_value", "inventory"},
	        {"{\"sku\":\"v1\",\"name\":\"n\",\"price_cents\":1,\"inventory\":1000000001}",
	         "invalid_value", "inventory"},
	        {"{\"sku\":\"\",\"name\":\"n\",\"price_cents\":1}", "invalid_value", "sku"},
	        {"{\"sku\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"name\":"
	         "\"n\",\"price_cents\":1}",
	         "invalid_value", "sku"},
	        {"{\"sku\":\"v1\",\"name\":\"\",\"price_cents\":1}", "invalid_value", "name"},
	        {"{\"name\":\"n\",\"price_cents\":1}", "missing_field", "sku"},
	        {"{\"sku\":\"v1\",\"name\":\"n\"}", "missing_field", "price_cents"},
	        {"{\"sku\":\"v1\",\"name\":\"n\",\"price_cents\":1,\"available\":3}",
	         "unknown_field", "available"},
	        {"{\"sku\":\"v1\",\"name\":\"n\",\"price_cents\":1,\"description\":7}",
	         "invalid_type", "description"},
	};
	struct resp r = {0};
	long long before = h_db_ll("SELECT count(*) FROM products", NULL);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h_sendf(&r, "POST", store.key, cases[i].body, "/v1/stores/%s/products", store.slug);
		H_ERROR_FIELD(&r, 400, cases[i].code, cases[i].field);
	}
	/* No key: 401 before anything else. */
	h_sendf(&r, "POST", NULL, "{\"sku\":\"v2\",\"name\":\"n\",\"price_cents\":1}",
	        "/v1/stores/%s/products", store.slug);
	H_ERROR(&r, 401, "unauthorized");
	H_CHECK(h_db_ll("SELECT count(*) FROM products", NULL) == before,
	        "rejected requests created products");
	resp_release(&r);
}

static void test_product_list(void **state)
{
	struct h_store s;
	char ids[3][H_ID_LEN];
	bool seen[3] = {false};
	struct resp r = {0};
	char *cursor = NULL;
	size_t i;
	json_t *e;

	(void)state;
	h_must_create_store(&s, "api-plist");
	for (i = 0; i < 3; i++)
		h_must_create_product(&s, 100 * (long long)(i + 1), (long long)i, ids[i]);

	h_getf(&r, NULL, "/v1/stores/%s/products", s.slug);
	H_STATUS(&r, 200);
	H_CHECK(json_array_size(h_j(r.json, "data")) == 3, "want 3 products: %s", r.body);
	H_CHECK(json_is_null(h_j(r.json, "next_cursor")), "one page: next_cursor must be null");
	json_array_foreach(h_j(r.json, "data"), i, e)
	{
		long long avail;

		H_CHECK(h_jint(e, "available", &avail) && h_jint(e, "price_cents", &avail) &&
		                h_jstr(e, "sku") && h_jstr(e, "currency"),
		        "product in list lacks available/price_cents/sku/currency: %s", r.body);
	}

	for (int pages = 0;; pages++) {
		json_t *next;

		H_CHECK(pages < 5, "pagination of 3 products at limit=1 does not end");
		if (cursor)
			h_getf(&r, NULL, "/v1/stores/%s/products?limit=1&cursor=%s", s.slug,
			       cursor);
		else
			h_getf(&r, NULL, "/v1/stores/%s/products?limit=1", s.slug);
		free(cursor);
		cursor = NULL;
		H_STATUS(&r, 200);
		H_CHECK(json_array_size(h_j(r.json, "data")) == 1, "limit=1 page: %s", r.body);
		for (i = 0; i < 3; i++)
			if (!strcmp(h_jstr(r.json, "data[0].id"), ids[i])) {
				H_CHECK(!seen[i], "product listed twice across pages");
				seen[i] = true;
				H_JINT(r.json, "data[0].available", (long long)i);
			}
		next = h_j(r.json, "next_cursor");
		if (json_is_null(next))
			break;
		H_CHECK(json_is_string(next), "next_cursor: %s", r.body);
		cursor = h_strdup(json_string_value(next));
	}
	H_CHECK(seen[0] && seen[1] && seen[2], "not every product appeared in the pages");

	h_getf(&r, NULL, "/v1/stores/%s/products?limit=0", s.slug);
	H_ERROR_FIELD(&r, 400, "invalid_query", "limit");
	h_get(&r, "/v1/stores/no-such-store-zz/products", NULL);
	H_ERROR(&r, 404, "not_found");
	resp_release(&r);
}

/* ---- inventory ------------------------------------------------------------------------------- */

static void test_inventory_adjust(void **state)
{
	struct resp r = {0};
	char pid[H_ID_LEN];
	char other[H_ID_LEN];
	long long moves;

	(void)state;
	h_must_create_product(&store, 100, 7, pid);
	moves = h_db_ll("SELECT count(*) FROM inventory_movements WHERE product_id = $1", pid,
	                NULL);

	h_sendf(&r, "POST", store.key, "{\"delta\":5,\"reason\":\"restock\"}",
	        "/v1/stores/%s/products/%s/inventory", store.slug, pid);
	H_STATUS(&r, 200);
	H_JSTR(r.json, "product_id", pid);
	H_JINT(r.json, "available", 12);
	H_JINT(r.json, "delta", 5);
	H_JSTR(r.json, "reason", "restock");

	h_sendf(&r, "POST", store.key, "{\"delta\":-12,\"reason\":\"shrinkage\"}",
	        "/v1/stores/%s/products/%s/inventory", store.slug, pid);
	H_STATUS(&r, 200);
	H_JINT(r.json, "available", 0);

	/* Below zero: 409 with the same details as a checkout. */
	h_sendf(&r, "POST", store.key, "{\"delta\":-1,\"reason\":\"oops\"}",
	        "/v1/stores/%s/products/%s/inventory", store.slug, pid);
	H_ERROR(&r, 409, "insufficient_inventory");
	H_JSTR(r.json, "error.details.product_id", pid);
	H_JINT(r.json, "error.details.requested", 1);
	H_JINT(r.json, "error.details.available", 0);
	H_CHECK(h_must_available(&store, pid) == 0, "stock moved after a refused adjustment");
	H_CHECK(h_db_ll("SELECT available FROM inventory WHERE product_id = $1", pid, NULL) == 0,
	        "database stock moved after a refused adjustment");

	/* Validation. */
	h_sendf(&r, "POST", store.key, "{\"delta\":0,\"reason\":\"none\"}",
	        "/v1/stores/%s/products/%s/inventory", store.slug, pid);
	H_ERROR_FIELD(&r, 400, "invalid_value", "delta");
	h_sendf(&r, "POST", store.key, "{\"delta\":1000000001,\"reason\":\"big\"}",
	        "/v1/stores/%s/products/%s/inventory", store.slug, pid);
	H_ERROR_FIELD(&r, 400, "invalid_value", "delta");
	h_sendf(&r, "POST", store.key, "{\"delta\":1.5,\"reason\":\"x\"}",
	        "/v1/stores/%s/products/%s/inventory", store.slug, pid);
	H_ERROR_FIELD(&r, 400, "invalid_type", "delta");
	h_sendf(&r, "POST", store.key, "{\"delta\":1}", "/v1/stores/%s/products/%s/inventory",
	        store.slug, pid);
	H_ERROR_FIELD(&r, 400, "missing_field", "reason");
	h_sendf(&r, "POST", store.key, "{\"delta\":1,\"reason\":\"\"}",
	        "/v1/stores/%s/products/%s/inventory", store.slug, pid);
	H_ERROR_FIELD(&r, 400, "invalid_value", "reason");
	h_sendf(&r, "POST", store.key, "{\"delta\":1,\"reason\":\"x\",\"available\":3}",
	        "/v1/stores/%s/products/%s/inventory", store.slug, pid);
	H_ERROR_FIELD(&r, 400, "unknown_field", "available");

	/* Unknown product, no key. */
	h_sendf(&r, "POST", store.key, "{\"delta\":1,\"reason\":\"x\"}",
	        "/v1/stores/%s/products/%s/inventory", store.slug, H_ZERO_UUID);
	H_ERROR(&r, 404, "not_found");
	h_sendf(&r, "POST", NULL, "{\"delta\":1,\"reason\":\"x\"}",
	        "/v1/stores/%s/products/%s/inventory", store.slug, pid);
	H_ERROR(&r, 401, "unauthorized");

	/* Exactly the two accepted adjustments were recorded. */
	H_CHECK(h_db_ll("SELECT count(*) FROM inventory_movements WHERE product_id = $1", pid,
	                NULL) == moves + 2,
	        "want exactly 2 new inventory movements");
	H_CHECK(h_must_available(&store, pid) == 0, "stock changed by refused requests");

	/* Another product is untouched. */
	h_must_create_product(&store, 100, 3, other);
	H_CHECK(h_must_available(&store, other) == 3, "new product stock");
	resp_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_product_create_get),
	        cmocka_unit_test(test_product_validation),
	        cmocka_unit_test(test_product_list),
	        cmocka_unit_test(test_inventory_adjust),
	};

	return H_RUN_SUITE("itest_api_catalog", tests, group_setup, NULL);
}
