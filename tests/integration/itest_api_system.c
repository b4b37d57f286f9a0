/*
 * itest_api_system.c — the handlers of src/api/system.c: health and readiness, and stores
 * (creation with its one-time admin key, validation, the public paginated list). /metrics is
 * itest_metrics's; readiness before migrations is itest_resilience's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "banned.h"

/* ---- health ---------------------------------------------------------------------------------- */

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_healthz_readyz),
	        cmocka_unit_test(test_store_create),
	        cmocka_unit_test(test_store_create_validation),
	        cmocka_unit_test(test_store_list_pagination),
	};

	return H_RUN_SUITE("itest_api_system", tests, NULL, NULL);
}
