/*
 * itest_api.c — every endpoint of docs/openapi.yaml that issue 2 delivers, and every error code of
 * docs/api-conventions.md that they can answer, against the real binary and database.
 *
 * Each test builds the data it needs in its own store or products, so tests do not depend on
 * each other's leftovers. Where the API's answer is not enough to show an effect (stock taken
 * once, a payment captured, an event written), the test reads the database as its owner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "banned.h"

#define ZERO_UUID "00000000-0000-4000-8000-000000000000"

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

/* True when the Allow header lists method. */
static bool allows(const struct resp *r, const char *method)
{
	const char *allow = resp_header(r, "Allow");
	const char *p;
	size_t n = strlen(method);

	if (!allow)
		return false;
	for (p = allow; (p = strstr(p, method)) != NULL; p += n) {
		bool start = p == allow || p[-1] == ' ' || p[-1] == ',';
		bool end = p[n] == '\0' || p[n] == ',' || p[n] == ' ';

		if (start && end)
			return true;
	}
	return false;
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

/* ---- health and request ids ------------------------------------------------------------------ */

static void test_healthz_readyz(void **state)
{
	struct resp r = {0};

	(void)state;
	h_get(&r, "/healthz", NULL);
	H_STATUS(&r, 200);
	h_get(&r, "/readyz", NULL);
	H_STATUS(&r, 200);
	resp_release(&r);
}

static void test_request_id_echo_and_generation(void **state)
{
	struct h_req q = {.path = "/healthz"};
	struct resp r = {0};
	struct resp r2 = {0};
	char long_id[80];

	(void)state;
	/* A sane id comes back as sent. */
	q.request_id = "it-req.1_A";
	h_request(&q, &r);
	H_STATUS(&r, 200);
	H_CHECK(strcmp(resp_header(&r, "X-Request-Id"), "it-req.1_A") == 0,
	        "X-Request-Id not echoed: %s", resp_header(&r, "X-Request-Id"));

	/* None sent: a fresh UUID, different per request. */
	q.request_id = NULL;
	h_request(&q, &r);
	h_request(&q, &r2);
	H_STATUS(&r, 200);
	H_STATUS(&r2, 200);
	H_CHECK(h_is_uuid(resp_header(&r, "X-Request-Id")), "generated id is not a UUID: %s",
	        resp_header(&r, "X-Request-Id"));
	H_CHECK(strcmp(resp_header(&r, "X-Request-Id"), resp_header(&r2, "X-Request-Id")) != 0,
	        "two requests got the same generated id");

	/* Not sane (bad characters, too long): replaced by a UUID. */
	q.request_id = "bad id/with spaces";
	h_request(&q, &r);
	H_STATUS(&r, 200);
	H_CHECK(h_is_uuid(resp_header(&r, "X-Request-Id")), "unsafe id was not replaced: %s",
	        resp_header(&r, "X-Request-Id"));
	memset(long_id, 'a', 65);
	long_id[65] = '\0';
	q.request_id = long_id;
	h_request(&q, &r);
	H_STATUS(&r, 200);
	H_CHECK(h_is_uuid(resp_header(&r, "X-Request-Id")), "65-char id was not replaced: %s",
	        resp_header(&r, "X-Request-Id"));
	memset(long_id, 'b', 64);
	long_id[64] = '\0';
	q.request_id = long_id;
	h_request(&q, &r);
	H_STATUS(&r, 200);
	H_CHECK(strcmp(resp_header(&r, "X-Request-Id"), long_id) == 0,
	        "a 64-char id must be echoed: %s", resp_header(&r, "X-Request-Id"));

	/* Errors carry the caller's id in the envelope too. */
	q.path = "/v1/stores/no-such-store-zz/products";
	q.request_id = "trace-42";
	h_request(&q, &r);
	H_ERROR(&r, 404, "not_found");
	H_JSTR(r.json, "error.request_id", "trace-42");
	resp_release(&r);
	resp_release(&r2);
}

static void test_unknown_route_404(void **state)
{
	struct resp r = {0};

	(void)state;
	h_get(&r, "/v1/nothing-here", NULL);
	H_ERROR(&r, 404, "not_found");
	h_get(&r, "/", NULL);
	H_ERROR(&r, 404, "not_found");
	h_get(&r, "/v1/stores/", NULL);
	H_CHECK(r.status == 404, "trailing slash must not match a route: %ld", r.status);
	h_getf(&r, NULL, "/v1/stores/%s/products/%s/extra", sync_store.slug, ZERO_UUID);
	H_ERROR(&r, 404, "not_found");
	resp_release(&r);
}

static void test_method_not_allowed(void **state)
{
	struct resp r = {0};

	(void)state;
	h_send(&r, "DELETE", "/v1/stores", h_env.operator_key, NULL);
	H_ERROR(&r, 405, "method_not_allowed");
	H_CHECK(allows(&r, "GET") && allows(&r, "POST"), "Allow for /v1/stores: %s",
	        resp_header(&r, "Allow") ? resp_header(&r, "Allow") : "(none)");

	h_sendf(&r, "PUT", sync_store.key, "{}", "/v1/stores/%s/products", sync_store.slug);
	H_ERROR(&r, 405, "method_not_allowed");
	H_CHECK(allows(&r, "GET") && allows(&r, "POST") && !allows(&r, "PUT"),
	        "Allow for products: %s", resp_header(&r, "Allow"));

	h_sendf(&r, "PATCH", sync_store.key, "{}", "/v1/stores/%s/products/%s", sync_store.slug,
	        ZERO_UUID);
	H_ERROR(&r, 405, "method_not_allowed");
	H_CHECK(allows(&r, "GET") && !allows(&r, "PATCH"), "Allow for a product: %s",
	        resp_header(&r, "Allow"));

	h_getf(&r, NULL, "/v1/stores/%s/orders/%s/checkout", sync_store.slug, ZERO_UUID);
	H_ERROR(&r, 405, "method_not_allowed");
	H_CHECK(allows(&r, "POST") && !allows(&r, "GET"), "Allow for checkout: %s",
	        resp_header(&r, "Allow"));

	h_sendf(&r, "DELETE", sync_store.key, NULL, "/v1/stores/%s/flags/checkout.async_enabled",
	        sync_store.slug);
	H_ERROR(&r, 405, "method_not_allowed");
	H_CHECK(allows(&r, "PUT"), "Allow for a flag: %s", resp_header(&r, "Allow"));

	h_send(&r, "POST", "/healthz", NULL, "{}");
	H_ERROR(&r, 405, "method_not_allowed");
	H_CHECK(allows(&r, "GET"), "Allow for /healthz: %s", resp_header(&r, "Allow"));
	resp_release(&r);
}

/* ---- stores ---------------------------------------------------------------------------------- */

static void test_store_create(void **state)
{
	struct resp r = {0};
	char slug[48];
	char body[256];
	const char *key;

	(void)state;
	h_unique_slug(slug, sizeof(slug), "api-new");
	snprintf(body, sizeof(body),
	         "{\"slug\":\"%s\",\"name\":\"Corner Shop\",\"currency\":\"EUR\"}", slug);
	h_send(&r, "POST", "/v1/stores", h_env.operator_key, body);
	H_STATUS(&r, 201);
	H_CHECK(resp_header(&r, "Content-Type") &&
	                !strncmp(resp_header(&r, "Content-Type"), "application/json", 16),
	        "answers are JSON: Content-Type %s", resp_header(&r, "Content-Type"));
	H_CHECK(json_object_size(r.json) == 2, "201 body must be {store, admin_key}: %s", r.body);
	H_CHECK(h_is_uuid(h_jstr(r.json, "store.id")), "store.id not a UUID: %s", r.body);
	H_JSTR(r.json, "store.slug", slug);
	H_JSTR(r.json, "store.name", "Corner Shop");
	H_JSTR(r.json, "store.currency", "EUR");
	H_CHECK(h_is_rfc3339_utc(h_jstr(r.json, "store.created_at")),
	        "created_at not RFC 3339 UTC: %s", r.body);
	key = h_jstr(r.json, "admin_key");
	H_CHECK(key && strncmp(key, "tsk_", 4) == 0 && strlen(key) >= 20,
	        "admin_key must look like tsk_...: %s", r.body);
	/* Stored only as a hash: the key's text is nowhere in the keys table. */
	H_CHECK(h_db_ll("SELECT count(*) FROM store_keys WHERE store_id = $1",
	                h_jstr(r.json, "store.id"), NULL) == 1,
	        "expected one admin key row for the new store");
	H_CHECK(h_db_ll("SELECT count(*) FROM store_keys WHERE key_id = $1 OR "
	                "key_hash = convert_to($1, 'UTF8')",
	                key, NULL) == 0,
	        "the admin key is stored in clear");

	/* The slug is unique. */
	h_send(&r, "POST", "/v1/stores", h_env.operator_key, body);
	H_ERROR(&r, 409, "store_exists");
	resp_release(&r);
}

static void test_store_create_auth(void **state)
{
	struct resp r = {0};
	struct h_req q = {.method = "POST", .path = "/v1/stores"};
	char slug[48];
	char body[256];

	(void)state;
	h_unique_slug(slug, sizeof(slug), "api-auth");
	snprintf(body, sizeof(body), "{\"slug\":\"%s\",\"name\":\"X\",\"currency\":\"USD\"}", slug);
	q.body = body;
	h_request(&q, &r);
	H_ERROR(&r, 401, "unauthorized");
	q.auth = "not-the-operator-key-but-long-enough-000000";
	h_request(&q, &r);
	H_ERROR(&r, 401, "unauthorized");
	/* A prefix or an extension of the operator key is not the operator key. */
	{
		char near[512];
		size_t n = strlen(h_env.operator_key);

		snprintf(near, sizeof(near), "%.*s", (int)(n - 1), h_env.operator_key);
		q.auth = near;
		h_request(&q, &r);
		H_ERROR(&r, 401, "unauthorized");
		snprintf(near, sizeof(near), "%sx", h_env.operator_key);
		h_request(&q, &r);
		H_ERROR(&r, 401, "unauthorized");
	}
	q.auth = NULL;
	q.authorization = "Basic b3BlcmF0b3I6c2VjcmV0";
	h_request(&q, &r);
	H_ERROR(&r, 401, "unauthorized");
	/* A store's admin key is not the operator's. */
	q.authorization = NULL;
	q.auth = sync_store.key;
	h_request(&q, &r);
	H_CHECK(r.status == 401 || r.status == 403, "store key on POST /v1/stores: %ld", r.status);
	H_ERROR(&r, r.status, NULL);
	H_CHECK(h_db_ll("SELECT count(*) FROM stores WHERE slug = $1", slug, NULL) == 0,
	        "a rejected request created the store");
	resp_release(&r);
}

static void test_store_create_validation(void **state)
{
	static const struct {
		const char *body;
		const char *code;
		const char *field;
	} cases[] = {
	        {"{\"slug\":\"Upper-Case\",\"name\":\"X\",\"currency\":\"USD\"}", "invalid_value",
	         "slug"},
	        {"{\"slug\":\"ab\",\"name\":\"X\",\"currency\":\"USD\"}", "invalid_value", "slug"},
	        {"{\"slug\":\"under_score\",\"name\":\"X\",\"currency\":\"USD\"}", "invalid_value",
	         "slug"},
	        {"{\"slug\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"name\":\"X\",\"currency\":"
	         "\"USD\"}",
	         "invalid_value", "slug"},
	        {"{\"slug\":\"val-cur-1\",\"name\":\"X\",\"currency\":\"usd\"}", "invalid_value",
	         "currency"},
	        {"{\"slug\":\"val-cur-2\",\"name\":\"X\",\"currency\":\"US\"}", "invalid_value",
	         "currency"},
	        {"{\"slug\":\"val-name-1\",\"name\":\"\",\"currency\":\"USD\"}", "invalid_value",
	         "name"},
	        {"{\"slug\":\"val-miss-1\",\"currency\":\"USD\"}", "missing_field", "name"},
	        {"{\"name\":\"X\",\"currency\":\"USD\"}", "missing_field", "slug"},
	        {"{\"slug\":5,\"name\":\"X\",\"currency\":\"USD\"}", "invalid_type", "slug"},
	        {"{\"slug\":\"val-type-1\",\"name\":[\"X\"],\"currency\":\"USD\"}", "invalid_type",
	         "name"},
	        {"{\"slug\":\"val-unk-1\",\"name\":\"X\",\"currency\":\"USD\",\"owner\":\"me\"}",
	         "unknown_field", "owner"},
	};
	struct resp r = {0};
	long long before = h_db_ll("SELECT count(*) FROM stores", NULL);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h_send(&r, "POST", "/v1/stores", h_env.operator_key, cases[i].body);
		H_ERROR_FIELD(&r, 400, cases[i].code, cases[i].field);
	}
	H_CHECK(h_db_ll("SELECT count(*) FROM stores", NULL) == before,
	        "rejected requests created stores");
	resp_release(&r);
}

static void test_store_list_pagination(void **state)
{
	struct h_store s[5];
	bool seen[5] = {false};
	struct resp r = {0};
	char path[512];
	char *cursor = NULL;
	size_t total = 0;
	int pages = 0;
	size_t i;
	json_t *e;

	(void)state;
	for (i = 0; i < 5; i++)
		h_must_create_store(&s[i], "api-list");

	/* Public, no key; the default page holds at most 20; no secrets in it. */
	h_get(&r, "/v1/stores", NULL);
	H_STATUS(&r, 200);
	H_CHECK(json_is_array(h_j(r.json, "data")) && json_array_size(h_j(r.json, "data")) <= 20,
	        "GET /v1/stores: want data[] of at most 20: %.300s", r.body);
	H_CHECK(h_j(r.json, "next_cursor") != NULL, "list without next_cursor");
	H_CHECK(!strstr(r.body, "admin_key") && !strstr(r.body, "tsk_") && !strstr(r.body, "hash"),
	        "store list leaks key material");
	e = h_j(r.json, "data[0]");
	H_CHECK(e && h_is_uuid(h_jstr(e, "id")) && h_jstr(e, "slug") && h_jstr(e, "name") &&
	                h_jstr(e, "currency") && h_is_rfc3339_utc(h_jstr(e, "created_at")),
	        "store shape {id,slug,name,currency,created_at}: %.300s", r.body);

	/* Walk every page of two: each store once, no page over the limit, a null cursor at the
	 * end. */
	for (;;) {
		json_t *data;
		json_t *next;

		if (cursor)
			snprintf(path, sizeof(path), "/v1/stores?limit=2&cursor=%s", cursor);
		else
			snprintf(path, sizeof(path), "/v1/stores?limit=2");
		free(cursor);
		cursor = NULL;
		h_get(&r, path, NULL);
		H_STATUS(&r, 200);
		data = h_j(r.json, "data");
		H_CHECK(json_is_array(data) && json_array_size(data) <= 2,
		        "page over the limit: %s", r.body);
		pages++;
		H_CHECK(pages < 1000, "pagination does not end");
		json_array_foreach(data, i, e)
		{
			const char *slug = h_jstr(e, "slug");

			total++;
			for (size_t k = 0; k < 5; k++)
				if (slug && strcmp(slug, s[k].slug) == 0) {
					H_CHECK(!seen[k], "store %s listed twice", slug);
					seen[k] = true;
				}
		}
		next = h_j(r.json, "next_cursor");
		H_CHECK(json_is_null(next) || json_is_string(next), "next_cursor: %s", r.body);
		if (json_is_null(next))
			break;
		H_CHECK(json_array_size(data) == 2, "a page before the last is short: %s", r.body);
		cursor = h_strdup(json_string_value(next));
	}
	for (i = 0; i < 5; i++)
		H_CHECK(seen[i], "store %s missing from the pages", s[i].slug);
	H_CHECK(total == (size_t)h_db_ll("SELECT count(*) FROM stores", NULL),
	        "pages held %zu stores, the database has more or fewer", total);

	h_get(&r, "/v1/stores?limit=100", NULL);
	H_STATUS(&r, 200);
	h_get(&r, "/v1/stores?limit=1", NULL);
	H_STATUS(&r, 200);
	H_CHECK(json_array_size(h_j(r.json, "data")) == 1, "limit=1: %s", r.body);

	static const char *const bad_limit[] = {"0", "101", "abc", "-1", "1.5"};
	for (i = 0; i < sizeof(bad_limit) / sizeof(bad_limit[0]); i++) {
		snprintf(path, sizeof(path), "/v1/stores?limit=%s", bad_limit[i]);
		h_get(&r, path, NULL);
		H_ERROR_FIELD(&r, 400, "invalid_query", "limit");
	}
	h_get(&r, "/v1/stores?cursor=not-a-cursor!!", NULL);
	H_ERROR_FIELD(&r, 400, "invalid_query", "cursor");
	resp_release(&r);
}

/* ---- products and inventory ------------------------------------------------------------------ */

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
	h_sendf(&r, "POST", sync_store.key, body, "/v1/stores/%s/products", sync_store.slug);
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
	h_getf(&g, NULL, "/v1/stores/%s/products/%s", sync_store.slug, id);
	H_STATUS(&g, 200);
	H_CHECK(json_equal(r.json, g.json), "GET differs from the 201 body:\n%s\n%s", r.body,
	        g.body);

	/* The SKU is unique per store. */
	h_sendf(&r, "POST", sync_store.key, body, "/v1/stores/%s/products", sync_store.slug);
	H_ERROR(&r, 409, "sku_exists");
	/* …but another store may use it. */
	h_sendf(&r, "POST", async_store.key, body, "/v1/stores/%s/products", async_store.slug);
	H_STATUS(&r, 201);

	/* Optional fields: description and inventory (default 0). */
	h_unique_key(sku, sizeof(sku), "SKU");
	snprintf(body, sizeof(body), "{\"sku\":\"%s\",\"name\":\"Bare\",\"price_cents\":0}", sku);
	h_sendf(&r, "POST", sync_store.key, body, "/v1/stores/%s/products", sync_store.slug);
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
		h_sendf(&r, "POST", sync_store.key, big, "/v1/stores/%s/products", sync_store.slug);
		H_STATUS(&r, 201);
		H_JSTR(r.json, "name", name);
		memcpy(name + 2 * 200, "\xc3\xa9", 2);
		name[2 * 201] = '\0';
		h_unique_key(sku, sizeof(sku), "SKU");
		snprintf(big, sizeof(big), "{\"sku\":\"%s\",\"name\":\"%s\",\"price_cents\":1}",
		         sku, name);
		h_sendf(&r, "POST", sync_store.key, big, "/v1/stores/%s/products", sync_store.slug);
		H_ERROR_FIELD(&r, 400, "invalid_value", "name");
	}

	/* Unknown ids and stores. */
	h_getf(&r, NULL, "/v1/stores/%s/products/%s", sync_store.slug, ZERO_UUID);
	H_ERROR(&r, 404, "not_found");
	h_getf(&r, NULL, "/v1/stores/%s/products/not-a-uuid", sync_store.slug);
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
		h_sendf(&r, "POST", sync_store.key, cases[i].body, "/v1/stores/%s/products",
		        sync_store.slug);
		H_ERROR_FIELD(&r, 400, cases[i].code, cases[i].field);
	}
	/* No key: 401 before anything else. */
	h_sendf(&r, "POST", NULL, "{\"sku\":\"v2\",\"name\":\"n\",\"price_cents\":1}",
	        "/v1/stores/%s/products", sync_store.slug);
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

static void test_inventory_adjust(void **state)
{
	struct resp r = {0};
	char pid[H_ID_LEN];
	char other[H_ID_LEN];
	long long moves;

	(void)state;
	h_must_create_product(&sync_store, 100, 7, pid);
	moves = h_db_ll("SELECT count(*) FROM inventory_movements WHERE product_id = $1", pid,
	                NULL);

	h_sendf(&r, "POST", sync_store.key, "{\"delta\":5,\"reason\":\"restock\"}",
	        "/v1/stores/%s/products/%s/inventory", sync_store.slug, pid);
	H_STATUS(&r, 200);
	H_JSTR(r.json, "product_id", pid);
	H_JINT(r.json, "available", 12);
	H_JINT(r.json, "delta", 5);
	H_JSTR(r.json, "reason", "restock");

	h_sendf(&r, "POST", sync_store.key, "{\"delta\":-12,\"reason\":\"shrinkage\"}",
	        "/v1/stores/%s/products/%s/inventory", sync_store.slug, pid);
	H_STATUS(&r, 200);
	H_JINT(r.json, "available", 0);

	/* Below zero: 409 with the same details as a checkout. */
	h_sendf(&r, "POST", sync_store.key, "{\"delta\":-1,\"reason\":\"oops\"}",
	        "/v1/stores/%s/products/%s/inventory", sync_store.slug, pid);
	H_ERROR(&r, 409, "insufficient_inventory");
	H_JSTR(r.json, "error.details.product_id", pid);
	H_JINT(r.json, "error.details.requested", 1);
	H_JINT(r.json, "error.details.available", 0);
	H_CHECK(h_must_available(&sync_store, pid) == 0, "stock moved after a refused adjustment");
	H_CHECK(h_db_ll("SELECT available FROM inventory WHERE product_id = $1", pid, NULL) == 0,
	        "database stock moved after a refused adjustment");

	/* Validation. */
	h_sendf(&r, "POST", sync_store.key, "{\"delta\":0,\"reason\":\"none\"}",
	        "/v1/stores/%s/products/%s/inventory", sync_store.slug, pid);
	H_ERROR_FIELD(&r, 400, "invalid_value", "delta");
	h_sendf(&r, "POST", sync_store.key, "{\"delta\":1000000001,\"reason\":\"big\"}",
	        "/v1/stores/%s/products/%s/inventory", sync_store.slug, pid);
	H_ERROR_FIELD(&r, 400, "invalid_value", "delta");
	h_sendf(&r, "POST", sync_store.key, "{\"delta\":1.5,\"reason\":\"x\"}",
	        "/v1/stores/%s/products/%s/inventory", sync_store.slug, pid);
	H_ERROR_FIELD(&r, 400, "invalid_type", "delta");
	h_sendf(&r, "POST", sync_store.key, "{\"delta\":1}", "/v1/stores/%s/products/%s/inventory",
	        sync_store.slug, pid);
	H_ERROR_FIELD(&r, 400, "missing_field", "reason");
	h_sendf(&r, "POST", sync_store.key, "{\"delta\":1,\"reason\":\"\"}",
	        "/v1/stores/%s/products/%s/inventory", sync_store.slug, pid);
	H_ERROR_FIELD(&r, 400, "invalid_value", "reason");
	h_sendf(&r, "POST", sync_store.key, "{\"delta\":1,\"reason\":\"x\",\"available\":3}",
	        "/v1/stores/%s/products/%s/inventory", sync_store.slug, pid);
	H_ERROR_FIELD(&r, 400, "unknown_field", "available");

	/* Unknown product, no key. */
	h_sendf(&r, "POST", sync_store.key, "{\"delta\":1,\"reason\":\"x\"}",
	        "/v1/stores/%s/products/%s/inventory", sync_store.slug, ZERO_UUID);
	H_ERROR(&r, 404, "not_found");
	h_sendf(&r, "POST", NULL, "{\"delta\":1,\"reason\":\"x\"}",
	        "/v1/stores/%s/products/%s/inventory", sync_store.slug, pid);
	H_ERROR(&r, 401, "unauthorized");

	/* Exactly the two accepted adjustments were recorded. */
	H_CHECK(h_db_ll("SELECT count(*) FROM inventory_movements WHERE product_id = $1", pid,
	                NULL) == moves + 2,
	        "want exactly 2 new inventory movements");
	H_CHECK(h_must_available(&sync_store, pid) == 0, "stock changed by refused requests");

	/* Another product is untouched. */
	h_must_create_product(&sync_store, 100, 3, other);
	H_CHECK(h_must_available(&sync_store, other) == 3, "new product stock");
	resp_release(&r);
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
	      p1, ZERO_UUID);
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
	       "{\"items\":[{\"product_id\":\"" ZERO_UUID "\",\"quantity\":1}],"
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

	h_getf(&r, NULL, "/v1/stores/%s/orders/%s", sync_store.slug, ZERO_UUID);
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
	h_checkout(&r, &sync_store, ZERO_UUID, key, "tok_ok");
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

/* ---- flags ----------------------------------------------------------------------------------- */

static json_t *find_flag(const json_t *list, const char *key)
{
	size_t i;
	json_t *e;

	json_array_foreach(h_j(list, "data"), i, e)
	{
		const char *k = h_jstr(e, "key");

		if (k && strcmp(k, key) == 0)
			return e;
	}
	return NULL;
}

static void test_flags(void **state)
{
	static const char *const known[] = {"checkout.async_enabled", "chaos.payment_capture_fail",
	                                    "chaos.worker_slow"};
	struct h_store s;
	struct resp r = {0};
	json_t *f;
	size_t i;

	(void)state;
	h_must_create_store(&s, "api-flags");
	h_getf(&r, s.key, "/v1/stores/%s/flags", s.slug);
	H_STATUS(&r, 200);
	for (i = 0; i < 3; i++) {
		long long pct;

		f = find_flag(r.json, known[i]);
		H_CHECK(f, "flag %s missing: %s", known[i], r.body);
		H_CHECK(json_is_boolean(h_j(f, "enabled")) && h_jint(f, "rollout_percent", &pct) &&
		                h_jstr(f, "description"),
		        "flag shape {key,enabled,rollout_percent,source,description}: %s", r.body);
		H_JSTR(f, "source", "default");
	}
	f = find_flag(r.json, "checkout.async_enabled");
	H_CHECK(json_is_true(h_j(f, "enabled")), "checkout.async_enabled defaults on");
	H_JINT(f, "rollout_percent", 100);
	H_CHECK(json_is_false(h_j(find_flag(r.json, "chaos.worker_slow"), "enabled")),
	        "chaos.worker_slow defaults off");
	H_CHECK(json_is_false(h_j(find_flag(r.json, "chaos.payment_capture_fail"), "enabled")),
	        "chaos.payment_capture_fail defaults off");

	/* PUT: 200 with the flag, visible in GET at once, with source "store". */
	h_sendf(&r, "PUT", s.key, "{\"enabled\":true,\"rollout_percent\":25}",
	        "/v1/stores/%s/flags/chaos.worker_slow", s.slug);
	H_STATUS(&r, 200);
	H_JSTR(r.json, "key", "chaos.worker_slow");
	H_CHECK(json_is_true(h_j(r.json, "enabled")), "PUT answer enabled: %s", r.body);
	H_JINT(r.json, "rollout_percent", 25);
	H_JSTR(r.json, "source", "store");
	h_getf(&r, s.key, "/v1/stores/%s/flags", s.slug);
	H_STATUS(&r, 200);
	f = find_flag(r.json, "chaos.worker_slow");
	H_CHECK(f && json_is_true(h_j(f, "enabled")), "GET after PUT: %s", r.body);
	H_JINT(f, "rollout_percent", 25);
	H_JSTR(f, "source", "store");
	H_JSTR(find_flag(r.json, "chaos.payment_capture_fail"), "source", "default");

	/* rollout_percent is optional (100). */
	h_sendf(&r, "PUT", h_env.operator_key, "{\"enabled\":false}",
	        "/v1/stores/%s/flags/chaos.worker_slow", s.slug);
	H_STATUS(&r, 200);
	H_JINT(r.json, "rollout_percent", 100);
	H_CHECK(json_is_false(h_j(r.json, "enabled")), "PUT answer enabled: %s", r.body);

	/* History, newest first: who, when, old → new. */
	h_getf(&r, s.key, "/v1/stores/%s/flags/chaos.worker_slow/history", s.slug);
	H_STATUS(&r, 200);
	H_CHECK(json_array_size(h_j(r.json, "data")) == 2, "two changes: %s", r.body);
	H_CHECK(json_is_null(h_j(r.json, "next_cursor")), "history next_cursor: %s", r.body);
	H_CHECK(json_is_true(h_j(r.json, "data[0].old.enabled")) &&
	                json_is_false(h_j(r.json, "data[0].new.enabled")),
	        "newest change is on->off: %s", r.body);
	H_JINT(r.json, "data[0].old.rollout_percent", 25);
	H_JINT(r.json, "data[0].new.rollout_percent", 100);
	H_CHECK(json_is_false(h_j(r.json, "data[1].old.enabled")) &&
	                json_is_true(h_j(r.json, "data[1].new.enabled")),
	        "first change is default off->on: %s", r.body);
	H_JINT(r.json, "data[1].old.rollout_percent", 100);
	H_JINT(r.json, "data[1].new.rollout_percent", 25);
	for (i = 0; i < 2; i++) {
		json_t *e = json_array_get(h_j(r.json, "data"), i);

		H_CHECK(h_jstr(e, "actor") && *h_jstr(e, "actor"), "history actor: %s", r.body);
		H_CHECK(h_is_rfc3339_utc(h_jstr(e, "at")), "history at: %s", r.body);
	}
	H_CHECK(strcmp(h_jstr(r.json, "data[0].actor"), h_jstr(r.json, "data[1].actor")) != 0,
	        "operator and store key must be told apart in the audit: %s", r.body);
	H_CHECK(!strstr(r.body, s.key) && !strstr(r.body, h_env.operator_key),
	        "the audit trail shows a secret");
	h_getf(&r, s.key, "/v1/stores/%s/flags/chaos.worker_slow/history?limit=1", s.slug);
	H_STATUS(&r, 200);
	H_CHECK(json_array_size(h_j(r.json, "data")) == 1 &&
	                json_is_string(h_j(r.json, "next_cursor")),
	        "history page of one with a cursor: %s", r.body);
	{
		char *cursor = h_strdup(h_jstr(r.json, "next_cursor"));

		h_getf(&r, s.key, "/v1/stores/%s/flags/chaos.worker_slow/history?limit=1&cursor=%s",
		       s.slug, cursor);
		free(cursor);
		H_STATUS(&r, 200);
		H_CHECK(json_array_size(h_j(r.json, "data")) == 1 &&
		                json_is_true(h_j(r.json, "data[0].new.enabled")),
		        "second history page is the older change: %s", r.body);
	}
	H_CHECK(h_db_ll("SELECT count(*) FROM flag_audit WHERE store_id = $1", s.id, NULL) == 2,
	        "want 2 audit rows");

	/* Unknown flag, bad bodies, no key. */
	h_sendf(&r, "PUT", s.key, "{\"enabled\":true}", "/v1/stores/%s/flags/no.such.flag", s.slug);
	H_ERROR(&r, 404, "not_found");
	h_getf(&r, s.key, "/v1/stores/%s/flags/no.such.flag/history", s.slug);
	H_ERROR(&r, 404, "not_found");
	h_sendf(&r, "PUT", s.key, "{\"enabled\":true,\"rollout_percent\":101}",
	        "/v1/stores/%s/flags/chaos.worker_slow", s.slug);
	H_ERROR_FIELD(&r, 400, "invalid_value", "rollout_percent");
	h_sendf(&r, "PUT", s.key, "{\"enabled\":true,\"rollout_percent\":-1}",
	        "/v1/stores/%s/flags/chaos.worker_slow", s.slug);
	H_ERROR_FIELD(&r, 400, "invalid_value", "rollout_percent");
	h_sendf(&r, "PUT", s.key, "{\"enabled\":\"yes\"}", "/v1/stores/%s/flags/chaos.worker_slow",
	        s.slug);
	H_ERROR_FIELD(&r, 400, "invalid_type", "enabled");
	h_sendf(&r, "PUT", s.key, "{\"rollout_percent\":5}",
	        "/v1/stores/%s/flags/chaos.worker_slow", s.slug);
	H_ERROR_FIELD(&r, 400, "missing_field", "enabled");
	h_getf(&r, NULL, "/v1/stores/%s/flags", s.slug);
	H_ERROR(&r, 401, "unauthorized");
	H_CHECK(h_db_ll("SELECT count(*) FROM flag_audit WHERE store_id = $1", s.id, NULL) == 2,
	        "rejected PUTs were audited");
	resp_release(&r);
}

static void test_unknown_store(void **state)
{
	struct resp r = {0};

	(void)state;
	h_get(&r, "/v1/stores/no-such-store-zz/products", NULL);
	H_ERROR(&r, 404, "not_found");
	h_get(&r, "/v1/stores/no-such-store-zz/orders", h_env.operator_key);
	H_ERROR(&r, 404, "not_found");
	h_get(&r, "/v1/stores/no-such-store-zz/flags", h_env.operator_key);
	H_ERROR(&r, 404, "not_found");
	h_send(&r, "PUT", "/v1/stores/no-such-store-zz/flags/checkout.async_enabled",
	       h_env.operator_key, "{\"enabled\":false}");
	H_ERROR(&r, 404, "not_found");
	h_get(&r, "/v1/stores/NOT_A_SLUG/products", NULL);
	H_ERROR(&r, 404, "not_found");
	resp_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_healthz_readyz),
	        cmocka_unit_test(test_request_id_echo_and_generation),
	        cmocka_unit_test(test_unknown_route_404),
	        cmocka_unit_test(test_method_not_allowed),
	        cmocka_unit_test(test_store_create),
	        cmocka_unit_test(test_store_create_auth),
	        cmocka_unit_test(test_store_create_validation),
	        cmocka_unit_test(test_store_list_pagination),
	        cmocka_unit_test(test_product_create_get),
	        cmocka_unit_test(test_product_validation),
	        cmocka_unit_test(test_product_list),
	        cmocka_unit_test(test_inventory_adjust),
	        cmocka_unit_test(test_order_create),
	        cmocka_unit_test(test_order_create_validation),
	        cmocka_unit_test(test_order_get),
	        cmocka_unit_test(test_order_list_status),
	        cmocka_unit_test(test_checkout_sync),
	        cmocka_unit_test(test_checkout_async),
	        cmocka_unit_test(test_checkout_declined),
	        cmocka_unit_test(test_checkout_validation),
	        cmocka_unit_test(test_checkout_order_not_pending),
	        cmocka_unit_test(test_checkout_insufficient_inventory),
	        cmocka_unit_test(test_timeline_trace_ids),
	        cmocka_unit_test(test_flags),
	        cmocka_unit_test(test_unknown_store),
	};

	return H_RUN_SUITE("itest_api", tests, group_setup, NULL);
}
