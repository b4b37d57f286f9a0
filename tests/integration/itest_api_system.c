/*
 * itest_api_system.c — the handlers of src/api/system.c: health and readiness, and stores
 * (creation with its one-time admin key, validation, the public paginated list, load-test stores
 * hidden from it). /metrics is
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
	H_CHECK(json_is_false(h_j(r.json, "store.load_test")), "load_test defaults to false: %s",
	        r.body);
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
	        {"{\"slug\":\"val-lt-1\",\"name\":\"X\",\"currency\":\"USD\",\"load_test\":\"true\"}",
	         "invalid_type", "load_test"},
	        {"{\"slug\":\"val-lt-2\",\"name\":\"X\",\"currency\":\"USD\",\"load_test\":1}",
	         "invalid_type", "load_test"},
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
	H_CHECK(total == (size_t)h_db_ll("SELECT count(*) FROM stores WHERE NOT load_test", NULL),
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

/* Walks every page of path (limit 100) with auth: how many times slug appeared, whether any
 * store had a load_test attribute (has_attr), and whether every one had it true (all_true). */
static int walk_stores(const char *path, const char *auth, const char *slug, bool *has_attr,
                       bool *all_true)
{
	struct resp r = {0};
	char url[512];
	char *cursor = NULL;
	int found = 0;

	*has_attr = false;
	*all_true = true;
	for (int pages = 0;; pages++) {
		json_t *e, *next;
		size_t i;

		H_CHECK(pages < 100, "the store list does not end");
		snprintf(url, sizeof(url), "%s%slimit=100%s%s", path, strchr(path, '?') ? "&" : "?",
		         cursor ? "&cursor=" : "", cursor ? cursor : "");
		free(cursor);
		cursor = NULL;
		h_get(&r, url, auth);
		H_STATUS(&r, 200);
		json_array_foreach(h_j(r.json, "data"), i, e)
		{
			json_t *lt = json_object_get(e, "load_test");

			if (strcmp(h_jstr(e, "slug"), slug) == 0)
				found++;
			if (lt != NULL)
				*has_attr = true;
			if (!json_is_true(lt))
				*all_true = false;
		}
		next = h_j(r.json, "next_cursor");
		if (json_is_null(next))
			break;
		cursor = h_strdup(json_string_value(next));
	}
	resp_release(&r);
	return found;
}

static void must_create(const char *slug, const char *load_test, const char *want)
{
	struct resp r = {0};
	char body[256];

	snprintf(body, sizeof(body), "{\"slug\":\"%s\",\"name\":\"Load\",\"currency\":\"EUR\"%s%s}",
	         slug, load_test ? ",\"load_test\":" : "", load_test ? load_test : "");
	h_send(&r, "POST", "/v1/stores", h_env.operator_key, body);
	H_STATUS(&r, 201);
	H_CHECK(strcmp(want, "true") == 0 ? json_is_true(h_j(r.json, "store.load_test"))
	                                  : json_is_false(h_j(r.json, "store.load_test")),
	        "store.load_test should be %s: %s", want, r.body);
	resp_release(&r);
}

/* Load-test stores: POST /v1/stores takes "load_test": true (operator only, like every store);
 * the public list, with or without ?load_test=false, never shows them nor the attribute; the
 * operator sees the attribute, and lists only the load-test stores with ?load_test=true, which
 * is 401 without credentials, 403 for a store key, and whose cursors the public list refuses. */
static void test_store_load_test(void **state)
{
	struct h_store regular;
	struct resp r = {0};
	char slug[48], slug2[48], plain[48], body[256], cursor[128];
	bool attr, all_true;

	(void)state;
	h_must_create_store(&regular, "api-lt-reg");
	h_unique_slug(slug, sizeof(slug), "api-lt");
	h_unique_slug(slug2, sizeof(slug2), "api-lt");
	h_unique_slug(plain, sizeof(plain), "api-lt-no");
	snprintf(body, sizeof(body),
	         "{\"slug\":\"%s\",\"name\":\"Load\",\"currency\":\"EUR\",\"load_test\":true}",
	         slug);
	h_send(&r, "POST", "/v1/stores", regular.key, body);
	H_ERROR(&r, 403, "forbidden");
	must_create(slug, "true", "true");
	must_create(slug2, "true", "true"); /* two: the operator's list has a next page at 1 */
	must_create(plain, "false", "false");
	H_CHECK(h_db_ll("SELECT count(*) FROM stores WHERE slug IN ($1, $2) AND load_test", slug,
	                slug2, NULL) == 2,
	        "the stores are not marked in the database");

	/* The public list: not there, no attribute; the regular stores are. */
	H_CHECK(walk_stores("/v1/stores", NULL, slug, &attr, &all_true) == 0,
	        "a load-test store in the public list");
	H_CHECK(!attr, "the public list shows load_test");
	H_CHECK(walk_stores("/v1/stores?load_test=false", NULL, slug, &attr, &all_true) == 0,
	        "a load-test store in ?load_test=false");
	H_CHECK(walk_stores("/v1/stores", NULL, regular.slug, &attr, &all_true) == 1 &&
	                walk_stores("/v1/stores", NULL, plain, &attr, &all_true) == 1,
	        "a regular store missing from the public list");
	/* A store key on the public list is the public. */
	H_CHECK(walk_stores("/v1/stores", regular.key, slug, &attr, &all_true) == 0 && !attr,
	        "a store key sees load-test stores");
	/* The operator: the same stores with the attribute, and the others on request. */
	H_CHECK(walk_stores("/v1/stores", h_env.operator_key, slug, &attr, &all_true) == 0,
	        "a load-test store in the operator's default list");
	H_CHECK(attr && !all_true, "the operator's default list: load_test false on each");
	H_CHECK(walk_stores("/v1/stores?load_test=true", h_env.operator_key, slug, &attr,
	                    &all_true) == 1,
	        "the load-test store missing from ?load_test=true");
	H_CHECK(attr && all_true, "?load_test=true holds only load-test stores");
	H_CHECK(walk_stores("/v1/stores?load_test=true", h_env.operator_key, regular.slug, &attr,
	                    &all_true) == 0,
	        "a regular store in ?load_test=true");

	h_get(&r, "/v1/stores?load_test=true", NULL);
	H_ERROR(&r, 401, "unauthorized");
	h_get(&r, "/v1/stores?load_test=true", regular.key);
	H_ERROR(&r, 403, "forbidden");
	static const char *const bad[] = {"1", "yes", "TRUE", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char url[128];

		snprintf(url, sizeof(url), "/v1/stores?load_test=%s", bad[i]);
		h_get(&r, url, h_env.operator_key);
		H_ERROR_FIELD(&r, 400, "invalid_query", "load_test");
	}
	/* A cursor of the load-test list is not one of the public list. */
	h_get(&r, "/v1/stores?load_test=true&limit=1", h_env.operator_key);
	H_STATUS(&r, 200);
	H_CHECK(json_is_string(h_j(r.json, "next_cursor")), "two load-test stores: %s", r.body);
	snprintf(cursor, sizeof(cursor), "%s", h_jstr(r.json, "next_cursor"));
	h_getf(&r, NULL, "/v1/stores?cursor=%s", cursor);
	H_ERROR_FIELD(&r, 400, "invalid_query", "cursor");
	h_getf(&r, h_env.operator_key, "/v1/stores?load_test=true&cursor=%s", cursor);
	H_STATUS(&r, 200);
	resp_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_healthz_readyz),
	        cmocka_unit_test(test_store_create),
	        cmocka_unit_test(test_store_create_validation),
	        cmocka_unit_test(test_store_list_pagination),
	        cmocka_unit_test(test_store_load_test),
	};

	return H_RUN_SUITE("itest_api_system", tests, NULL, NULL);
}
