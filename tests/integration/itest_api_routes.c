/*
 * itest_api_routes.c — what stands in front of every handler (src/api/routes.c, and the request
 * ids the server gives every answer): paths no route matches (404), methods a route does not
 * take (405, with Allow), credentials that are missing or wrong (401, 403), and stores that do
 * not exist (404). Per-store authorization across tenants is itest_tenancy's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "banned.h"

/* Any store will do: the router's answers do not depend on its flags. */
static struct h_store store;

static int group_setup(void **state)
{
	(void)state;
	h_must_create_store(&store, "routes");
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

/* ---- request ids ----------------------------------------------------------------------------- */

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

/* ---- matching: 404 and 405 ------------------------------------------------------------------- */

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
	h_getf(&r, NULL, "/v1/stores/%s/products/%s/extra", store.slug, H_ZERO_UUID);
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

	h_sendf(&r, "PUT", store.key, "{}", "/v1/stores/%s/products", store.slug);
	H_ERROR(&r, 405, "method_not_allowed");
	H_CHECK(allows(&r, "GET") && allows(&r, "POST") && !allows(&r, "PUT"),
	        "Allow for products: %s", resp_header(&r, "Allow"));

	h_sendf(&r, "PATCH", store.key, "{}", "/v1/stores/%s/products/%s", store.slug, H_ZERO_UUID);
	H_ERROR(&r, 405, "method_not_allowed");
	H_CHECK(allows(&r, "GET") && !allows(&r, "PATCH"), "Allow for a product: %s",
	        resp_header(&r, "Allow"));

	h_getf(&r, NULL, "/v1/stores/%s/orders/%s/checkout", store.slug, H_ZERO_UUID);
	H_ERROR(&r, 405, "method_not_allowed");
	H_CHECK(allows(&r, "POST") && !allows(&r, "GET"), "Allow for checkout: %s",
	        resp_header(&r, "Allow"));

	h_sendf(&r, "DELETE", store.key, NULL, "/v1/stores/%s/flags/checkout.async_enabled",
	        store.slug);
	H_ERROR(&r, 405, "method_not_allowed");
	H_CHECK(allows(&r, "PUT"), "Allow for a flag: %s", resp_header(&r, "Allow"));

	h_send(&r, "POST", "/healthz", NULL, "{}");
	H_ERROR(&r, 405, "method_not_allowed");
	H_CHECK(allows(&r, "GET"), "Allow for /healthz: %s", resp_header(&r, "Allow"));
	resp_release(&r);
}

/* ---- credentials and stores ------------------------------------------------------------------ */

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
	q.auth = store.key;
	h_request(&q, &r);
	H_CHECK(r.status == 401 || r.status == 403, "store key on POST /v1/stores: %ld", r.status);
	H_ERROR(&r, r.status, NULL);
	H_CHECK(h_db_ll("SELECT count(*) FROM stores WHERE slug = $1", slug, NULL) == 0,
	        "a rejected request created the store");
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
	        cmocka_unit_test(test_request_id_echo_and_generation),
	        cmocka_unit_test(test_unknown_route_404),
	        cmocka_unit_test(test_method_not_allowed),
	        cmocka_unit_test(test_store_create_auth),
	        cmocka_unit_test(test_unknown_store),
	};

	return H_RUN_SUITE("itest_api_routes", tests, group_setup, NULL);
}
