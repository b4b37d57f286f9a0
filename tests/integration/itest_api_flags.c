/*
 * itest_api_flags.c — the handlers of src/api/flags.c: the store's flags with their defaults,
 * PUT, and the audited history, paginated. What a change does at runtime (another process sees
 * it within a second, the checkout path follows it) is itest_flags's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "banned.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_flags),
	};

	return H_RUN_SUITE("itest_api_flags", tests, NULL, NULL);
}
