/*
 * api_system.c — health, readiness and the store registry.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "constants.h"
#include "db.h"
#include "metrics.h"
#include "migrate.h"
#include "faults.h"
#include "outbox.h"
#include "stores.h"
#include "banned.h"

void api_healthz(struct request *req)
{
	reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void api_gauges(struct metrics_text *t, void *arg)
{
	struct request *req = arg;
	struct err e = ERR_INIT;
	struct db_conn *c;
	int in_use = 0, size = 0;

	db_pool_stats(api_app(req)->pool, &in_use, &size);
	metrics_gauge(t, "terminus_db_pool_connections",
	              "Database connections of the request pool, by state", "state", "in_use",
	              in_use);
	metrics_gauge(t, "terminus_db_pool_connections",
	              "Database connections of the request pool, by state", "state", "size", size);
	/* One connection (or one failed wait for it) serves both sets of gauges. */
	c = api_db(req, &e);
	outbox_metrics(c, t);
	faults_metrics(c, t);
	err_release(&e);
}

static void render_metrics(struct request *req, enum metrics_audience audience)
{
	char *text = metrics_render(audience, api_gauges, req);

	reply_content(req, 200, text, strlen(text), "text/plain; version=0.0.4; charset=utf-8");
	free(text);
}

/* GET /metrics: for anyone (Prometheus without credentials); no tenant data. */
void api_metrics(struct request *req)
{
	render_metrics(req, METRICS_PUBLIC);
}

/* GET /v1/ops/metrics: the same and the per-store series, for the operator. */
void api_ops_metrics(struct request *req)
{
	render_metrics(req, METRICS_OPERATOR);
}

void api_readyz(struct request *req)
{
	struct err e = ERR_INIT;
	struct db_conn *c = api_db(req, &e);
	bool current = false;

	if (c == NULL || !migrate_is_current(c, &current, &e)) {
		api_fail(req, &e);
		return;
	}
	if (!current) {
		err_set(&e, 503, "not_ready", "database migrations are not current");
		e.retry_after = 1;
		api_fail(req, &e);
		return;
	}
	reply_json(req, 200,
	           json_pack("{s:s, s:i}", "status", "ready", "schema_version",
	                     migrate_latest_version()));
}

static const struct jsonv_field store_fields[] = {
        {"slug", JV_STRING, true, STORE_SLUG_MIN, STORE_SLUG_MAX},
        {"name", JV_STRING, true, 1, STORE_NAME_MAX},
        {"currency", JV_STRING, true, 3, 3},
        {"load_test", JV_BOOL, false, 0, 0},
};

void api_stores_create(struct request *req)
{
	json_t *body = api_body(req, store_fields, sizeof(store_fields) / sizeof(store_fields[0]));
	struct err e = ERR_INIT;
	struct db_conn *c;
	json_t *out = NULL;

	if (body == NULL)
		return;
	if (!stores_slug_valid(jsonv_str(body, "slug"))) {
		err_field(&e, "invalid_value", "slug",
		          "slug must be 3 to 40 characters of a-z, 0-9 and -");
	} else if (!stores_currency_valid(jsonv_str(body, "currency"))) {
		err_field(&e, "invalid_value", "currency",
		          "currency must be an ISO 4217 code such as EUR");
	} else if ((c = api_db(req, &e)) != NULL &&
	           stores_create(c, jsonv_str(body, "slug"), jsonv_str(body, "name"),
	                         jsonv_str(body, "currency"), jsonv_bool(body, "load_test", false),
	                         &out, &e)) {
		reply_json(req, 201, out);
	}
	if (e.status != 0)
		api_fail(req, &e);
	json_decref(body);
}

/* GET /v1/stores: the public store list, without load-test stores. ?load_test=true lists only
 * those, for the operator (401 without credentials, 403 for a store key); ?load_test=false is
 * the default. The operator's answer shows each store's load_test. */
void api_stores_list(struct request *req)
{
	struct err e = ERR_INIT;
	struct db_conn *c;
	const char *kind = req_query(req, "load_test");
	bool load_test = false, operator_view;
	json_t *out;
	struct page p;

	if (kind != NULL && strcmp(kind, "true") != 0 && strcmp(kind, "false") != 0) {
		err_set(&e, 400, "invalid_query", "load_test must be true or false");
		err_detail(&e, "field", json_string("load_test"));
		api_fail(req, &e);
		return;
	}
	load_test = kind != NULL && strcmp(kind, "true") == 0;
	/* Credentials are read only when sent: the public list costs no key lookup. */
	if (req_header(req, "Authorization") != NULL && !api_authenticate(req, &e)) {
		api_fail(req, &e);
		return;
	}
	operator_view = req->state->principal == PRINCIPAL_OPERATOR;
	if (load_test && !operator_view) {
		if (req->state->principal == PRINCIPAL_NONE)
			err_set(&e, 401, "unauthorized", "missing or unknown credentials");
		else
			err_set(&e, 403, "forbidden",
			        "load-test stores are for the platform operator");
		api_fail(req, &e);
		return;
	}
	/* Each kind its own scope: a cursor of one list is refused by the other. */
	if (!api_list_params(req, PAGE_STORES, load_test ? "load_test" : "", &p, &e) ||
	    (c = api_db(req, &e)) == NULL ||
	    !stores_list(c, load_test, operator_view, &p, &out, &e)) {
		api_fail(req, &e);
		return;
	}
	reply_json(req, 200, out);
}
