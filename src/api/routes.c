/*
 * api.c — the route table and what stands in front of every handler: method and path
 * matching (404 / 405), authentication (401), store resolution (404) and authorization (403).
 *
 * Order of checks, chosen so that answers leak nothing: credentials first (a caller without them
 * learns nothing about which stores exist), then the store, then whether these credentials may
 * act on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "clock.h"
#include "db.h"
#include "keycache.h"
#include "log.h"
#include "page.h"
#include "stores.h"
#include "banned.h"

enum access { ACCESS_PUBLIC, ACCESS_STORE_ADMIN, ACCESS_OPERATOR };

struct api_route {
	const char *method;
	const char *pattern;
	enum access access;
	void (*handler)(struct request *req);
};

static const struct api_route routes[] = {
        {"GET", "/healthz", ACCESS_PUBLIC, api_healthz},
        {"GET", "/readyz", ACCESS_PUBLIC, api_readyz},
        {"GET", "/metrics", ACCESS_PUBLIC, api_metrics},
        {"POST", "/v1/stores", ACCESS_OPERATOR, api_stores_create},
        {"GET", "/v1/stores", ACCESS_PUBLIC, api_stores_list},
        {"GET", "/v1/stores/{store}/products", ACCESS_PUBLIC, api_products_list},
        {"POST", "/v1/stores/{store}/products", ACCESS_STORE_ADMIN, api_products_create},
        {"GET", "/v1/stores/{store}/products/{id}", ACCESS_PUBLIC, api_products_get},
        {"POST", "/v1/stores/{store}/products/{id}/inventory", ACCESS_STORE_ADMIN,
         api_inventory_adjust},
        {"POST", "/v1/stores/{store}/orders", ACCESS_PUBLIC, api_orders_create},
        {"GET", "/v1/stores/{store}/orders", ACCESS_STORE_ADMIN, api_orders_list},
        {"GET", "/v1/stores/{store}/orders/{id}", ACCESS_PUBLIC, api_orders_get},
        {"POST", "/v1/stores/{store}/orders/{id}/checkout", ACCESS_PUBLIC, api_orders_checkout},
        {"POST", "/v1/stores/{store}/orders/{id}/cancel", ACCESS_STORE_ADMIN, api_orders_cancel},
        {"GET", "/v1/stores/{store}/events", ACCESS_STORE_ADMIN, api_events_list},
        {"GET", "/v1/stores/{store}/faults", ACCESS_STORE_ADMIN, api_faults_list},
        {"GET", "/v1/stores/{store}/analytics", ACCESS_STORE_ADMIN, api_analytics},
        {"GET", "/v1/ops/outbox", ACCESS_OPERATOR, api_ops_outbox},
        {"GET", "/v1/ops/faults", ACCESS_OPERATOR, api_faults_list},
        {"GET", "/v1/ops/workers", ACCESS_OPERATOR, api_ops_workers},
        {"GET", "/v1/ops/metrics", ACCESS_OPERATOR, api_ops_metrics},
        {"POST", "/v1/ops/dead-letters/{id}/retry", ACCESS_OPERATOR, api_ops_retry_dead},
        {"GET", "/v1/stores/{store}/flags", ACCESS_STORE_ADMIN, api_flags_list},
        {"PUT", "/v1/stores/{store}/flags/{key}", ACCESS_STORE_ADMIN, api_flags_put},
        {"GET", "/v1/stores/{store}/flags/{key}/history", ACCESS_STORE_ADMIN, api_flags_history},
};

struct db_conn *api_db(struct request *req, struct err *e)
{
	if (req->state->db == NULL)
		req->state->db = db_acquire(api_app(req)->pool, e);
	return req->state->db;
}

struct db_conn *api_begin(struct request *req, struct err *e)
{
	struct db_conn *c = api_db(req, e);

	if (c == NULL || !db_begin(c, req->state->store.id, false, e))
		return NULL;
	return c;
}

void api_commit_reply(struct request *req, struct db_conn *c, int status, json_t *body,
                      struct err *e)
{
	if (!db_commit(c, e)) {
		json_decref(body);
		api_fail(req, e);
		return;
	}
	reply_json(req, status, body);
}

void api_rollback_fail(struct request *req, struct db_conn *c, struct err *e)
{
	if (c != NULL)
		db_rollback(c);
	api_fail(req, e);
}

void api_fail(struct request *req, struct err *e)
{
	reply_error(req, e);
	err_release(e);
}

json_t *api_body(struct request *req, const struct jsonv_field *fields, size_t nfields)
{
	struct err e = ERR_INIT;
	json_t *body = jsonv_parse_object(req->body, req->body_len, &e);

	if (body == NULL || !jsonv_check(body, fields, nfields, "", &e)) {
		json_decref(body);
		api_fail(req, &e);
		return NULL;
	}
	return body;
}

void api_status_list(struct request *req, enum page_list kind, bool (*valid)(const char *status),
                     const char *invalid_message, api_status_list_fn list)
{
	struct err e = ERR_INIT;
	struct db_conn *c = NULL;
	const char *status = req_query(req, "status");
	const bool platform = req->state->store.id[0] == '\0';
	json_t *out;
	struct page p;

	/* The store's id as the scope: a cursor of one store's list is refused by another's, and
	 * the operator's list across stores (scope "") refuses both. */
	if (!api_list_params(req, kind, req->state->store.id, &p, &e))
		goto rollback;
	if (status != NULL && !valid(status)) {
		err_set(&e, 400, "invalid_query", "%s", invalid_message);
		err_detail(&e, "field", json_string("status"));
		goto rollback;
	}
	if (platform) {
		/* An operator route without {store}: the list spans every store. */
		if ((c = api_db(req, &e)) == NULL || !db_begin(c, NULL, true, &e) ||
		    !list(c, NULL, status, &p, &out, &e))
			goto rollback;
	} else if ((c = api_begin(req, &e)) == NULL ||
	           !list(c, req->state->store.id, status, &p, &out, &e)) {
		goto rollback;
	}
	api_commit_reply(req, c, 200, out, &e);
	return;
rollback:
	api_rollback_fail(req, c, &e);
}

const char *api_idempotency_key(struct request *req)
{
	const char *key = req_header(req, "Idempotency-Key");
	struct err e = ERR_INIT;

	if (key == NULL) {
		err_set(&e, 400, "idempotency_key_required",
		        "this endpoint needs an Idempotency-Key header");
	} else if (!idem_key_valid(key)) {
		err_set(&e, 400, "invalid_idempotency_key",
		        "Idempotency-Key must be 1 to 255 visible ASCII characters");
	} else {
		return key;
	}
	api_fail(req, &e);
	return NULL;
}

void api_idem_reply(struct request *req, struct idem_answer *answer)
{
	reply_text(req, answer->status, answer->body, strlen(answer->body), answer->replayed);
	free(answer->body);
	answer->body = NULL;
}

bool api_list_params(struct request *req, enum page_list list, const char *scope, struct page *p,
                     struct err *e)
{
	return page_params(req_query(req, "limit"), req_query(req, "cursor"), list, scope, p, e);
}

bool api_uuid_param(struct request *req, const char *name, char out[37])
{
	const char *v = router_param(&req->state->params, name);
	struct err e = ERR_INIT;

	if (v != NULL && jsonv_is_uuid(v)) {
		jsonv_uuid_lower(v, out);
		return true;
	}
	err_set(&e, 404, "not_found", "no such resource");
	api_fail(req, &e);
	return false;
}

/* Sets req->state->principal from the Authorization header; unknown credentials leave NONE. */
static bool authenticate(struct request *req, struct err *e)
{
	const char *token = auth_bearer(req_header(req, "Authorization"));
	char key_id[AUTH_KEY_ID_LEN + 1];
	unsigned char hash[AUTH_HASH_LEN];
	struct db_conn *c;

	req->state->principal = PRINCIPAL_NONE;
	if (token == NULL)
		return true;
	if (auth_operator_matches(api_app(req)->cfg.operator_key, token)) {
		req->state->principal = PRINCIPAL_OPERATOR;
		snprintf(req->state->actor, sizeof(req->state->actor), "operator");
		return true;
	}
	if (!auth_key_parse(token, key_id, hash))
		return true;
	if ((c = api_db(req, e)) == NULL)
		return false;
	if (!auth_store_key_check(c, key_id, hash, req->state->principal_store, e))
		return false;
	if (req->state->principal_store[0] != '\0') {
		req->state->principal = PRINCIPAL_STORE_ADMIN;
		snprintf(req->state->actor, sizeof(req->state->actor), "key:%s", key_id);
		/* From now on admission lets this key use a verified key's allowance. */
		keycache_verified(api_app(req)->keys, key_id, hash, clock_ms());
	}
	return true;
}

/* A public route does not need credentials, but a store key sent with one is still checked once
 * per KEYCACHE_TTL_MS, so that admission can count that key's requests against the key rather
 * than its address (an admin script creating orders is not an anonymous client). The request's
 * principal is left alone: what a public route answers does not depend on who asks (GET
 * /v1/stores, which shows the operator more, asks api_authenticate itself). */
static bool note_key(struct request *req, struct err *e)
{
	const char *token = auth_bearer(req_header(req, "Authorization"));
	char key_id[AUTH_KEY_ID_LEN + 1], store_id[sizeof(req->state->principal_store)];
	unsigned char hash[AUTH_HASH_LEN];
	struct db_conn *c;

	if (token == NULL || !auth_key_parse(token, key_id, hash) ||
	    keycache_known(api_app(req)->keys, key_id, hash, clock_ms()))
		return true;
	if ((c = api_db(req, e)) == NULL)
		return false;
	store_id[0] = '\0';
	if (!auth_store_key_check(c, key_id, hash, store_id, e))
		return false;
	if (store_id[0] != '\0')
		keycache_verified(api_app(req)->keys, key_id, hash, clock_ms());
	return true;
}

bool api_authenticate(struct request *req, struct err *e)
{
	return authenticate(req, e);
}

static bool authorize(struct request *req, const struct api_route *route, struct err *e)
{
	const char *slug = router_param(&req->state->params, "store");

	if (route->access == ACCESS_PUBLIC && !note_key(req, e))
		return false;
	if (route->access != ACCESS_PUBLIC) {
		if (!authenticate(req, e))
			return false;
		if (req->state->principal == PRINCIPAL_NONE) {
			err_set(e, 401, "unauthorized", "missing or unknown credentials");
			return false;
		}
	}
	if (slug != NULL) {
		struct db_conn *c = api_db(req, e);
		bool found = false;

		if (c == NULL ||
		    !stores_resolve(api_app(req)->stores, c, slug, &req->state->store, &found, e))
			return false;
		if (!found) {
			err_set(e, 404, "not_found", "no store %s", slug);
			return false;
		}
		snprintf(req->store_slug, sizeof(req->store_slug), "%s", req->state->store.slug);
	}
	if (route->access == ACCESS_OPERATOR && req->state->principal != PRINCIPAL_OPERATOR) {
		err_set(e, 403, "forbidden", "this route is for the platform operator");
		return false;
	}
	if (route->access == ACCESS_STORE_ADMIN && req->state->principal == PRINCIPAL_STORE_ADMIN &&
	    strcmp(req->state->principal_store, req->state->store.id) != 0) {
		err_set(e, 403, "forbidden", "these credentials belong to another store");
		return false;
	}
	return true;
}

const struct api_route *api_match(struct request *req, char allow[64])
{
	struct route_params params;

	allow[0] = '\0';
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!router_match(routes[i].pattern, req->path, &params))
			continue;
		if (strcmp(routes[i].method, req->method) == 0) {
			req->route = routes[i].pattern;
			req->state->params = params;
			req->state->matched = &routes[i];
			return &routes[i];
		}
		snprintf(allow + strlen(allow), 64 - strlen(allow), "%s%s",
		         allow[0] != '\0' ? ", " : "", routes[i].method);
	}
	return NULL;
}

void api_dispatch(struct request *req)
{
	const struct api_route *route;
	struct err e = ERR_INIT;
	struct log_ctx ctx = {req->request_id, NULL, req->trace.trace_id, NULL};
	char allow[64];

	log_ctx_set(&ctx);
	/* Admission may have matched it already (rate limiting, on the I/O thread). */
	route = req->state->matched != NULL ? req->state->matched : api_match(req, allow);
	if (route == NULL) {
		if (allow[0] != '\0') {
			err_set(&e, 405, "method_not_allowed", "%s is not allowed here; use %s",
			        req->method, allow);
			api_fail(req, &e);
			reply_add_header(req, "Allow", allow);
		} else {
			err_set(&e, 404, "not_found", "no route for %s", req->path);
			api_fail(req, &e);
		}
		goto release_conn;
	}
	if (!authorize(req, route, &e)) {
		api_fail(req, &e);
		goto release_conn;
	}
	ctx.store = req->state->store.slug;
	log_ctx_set(&ctx);
	route->handler(req);
release_conn:
	if (req->state->db != NULL) {
		db_release(api_app(req)->pool, req->state->db);
		req->state->db = NULL;
	}
	log_ctx_clear();
}
