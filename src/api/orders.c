/*
 * api_orders.c — orders and checkout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "cancel.h"
#include "checkout.h"
#include "constants.h"
#include "db.h"
#include "idem.h"
#include "orders.h"
#include "provider.h"
#include "banned.h"

static const struct jsonv_field order_fields[] = {
        {"items", JV_ARRAY, true, 1, ORDER_ITEMS_MAX},
        {"customer_email", JV_EMAIL, true, 3, EMAIL_MAX},
};

static const struct jsonv_field line_fields[] = {
        {"product_id", JV_UUID, true, 0, 0},
        {"quantity", JV_INTEGER, true, 1, ORDER_QUANTITY_MAX},
};

/* Validates items[] into lines; answers 400 naming items[i].field. */
static bool parse_lines(const json_t *items, struct order_line *lines, struct err *e)
{
	size_t i;
	json_t *item;
	char prefix[48];

	json_array_foreach(items, i, item)
	{
		snprintf(prefix, sizeof(prefix), "items[%zu].", i);
		if (!json_is_object(item)) {
			snprintf(prefix, sizeof(prefix), "items[%zu]", i);
			err_field(e, "invalid_type", prefix, "%s must be an object", prefix);
			return false;
		}
		if (!jsonv_check(item, line_fields, sizeof(line_fields) / sizeof(line_fields[0]),
		                 prefix, e))
			return false;
		jsonv_uuid_lower(jsonv_str(item, "product_id"), lines[i].product_id);
		lines[i].quantity = jsonv_int(item, "quantity", 0);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(lines[j].product_id, lines[i].product_id) == 0) {
				snprintf(prefix, sizeof(prefix), "items[%zu].product_id", i);
				err_field(e, "duplicate_product", prefix,
				          "%s repeats a product; use one line with its quantity",
				          prefix);
				return false;
			}
		}
	}
	return true;
}

void api_orders_create(struct request *req)
{
	json_t *body = api_body(req, order_fields, sizeof(order_fields) / sizeof(order_fields[0]));
	struct order_line lines[ORDER_ITEMS_MAX];
	struct err e = ERR_INIT;
	struct db_conn *c;
	json_t *items, *out;

	if (body == NULL)
		return;
	items = json_object_get(body, "items");
	if (!parse_lines(items, lines, &e)) {
		api_fail(req, &e);
	} else if ((c = api_begin(req, &e)) == NULL ||
	           !orders_create(c, &req->state->store, lines, (int)json_array_size(items),
	                          jsonv_str(body, "customer_email"), req->trace.traceparent, &out,
	                          &e)) {
		api_rollback_fail(req, c, &e);
	} else {
		api_commit_reply(req, c, 201, out, &e);
	}
	json_decref(body);
}

void api_orders_get(struct request *req)
{
	struct err e = ERR_INIT;
	struct db_conn *c;
	char id[37];
	json_t *out;

	if (!api_uuid_param(req, "id", id))
		return;
	if ((c = api_begin(req, &e)) == NULL ||
	    !orders_get(c, req->state->store.id, id, &out, &e)) {
		api_rollback_fail(req, c, &e);
		return;
	}
	if (out == NULL) {
		err_set(&e, 404, "not_found", "no order %s in this store", id);
		api_rollback_fail(req, c, &e);
		return;
	}
	api_commit_reply(req, c, 200, out, &e);
}

void api_orders_list(struct request *req)
{
	api_status_list(req, PAGE_ORDERS, orders_status_valid, "status is not an order status",
	                orders_list);
}

static const struct jsonv_field checkout_fields[] = {
        {"payment_token", JV_STRING, true, 1, PAYMENT_TOKEN_MAX},
};

void api_orders_checkout(struct request *req)
{
	const char *key;
	struct checkout_input in;
	struct idem_answer answer;
	char fingerprint[IDEM_FINGERPRINT_HEX + 1];
	struct err e = ERR_INIT;
	struct db_conn *c;
	char id[37];
	json_t *body;

	if ((key = api_idempotency_key(req)) == NULL || !api_uuid_param(req, "id", id))
		return;
	body = api_body(req, checkout_fields, sizeof(checkout_fields) / sizeof(checkout_fields[0]));
	if (body == NULL)
		return;
	if (!provider_token_valid(jsonv_str(body, "payment_token"))) {
		err_field(&e, "invalid_value", "payment_token",
		          "payment_token must look like tok_… (letters, digits, _)");
		api_fail(req, &e);
		json_decref(body);
		return;
	}
	idem_fingerprint(req->method, req->path, body, fingerprint);
	in.store = &req->state->store;
	in.order_id = id;
	in.idempotency_key = key;
	in.fingerprint = fingerprint;
	in.payment_token = jsonv_str(body, "payment_token");
	in.request_id = req->request_id;
	in.traceparent = req->trace.traceparent;
	if ((c = api_db(req, &e)) == NULL ||
	    !checkout_execute(&api_app(req)->events, c, &in, &answer, &e))
		api_fail(req, &e);
	else
		api_idem_reply(req, &answer);
	json_decref(body);
}

static const struct jsonv_field cancel_fields[] = {
        {"reason", JV_STRING, false, 1, 200},
};

void api_orders_cancel(struct request *req)
{
	const char *key;
	struct cancel_input in;
	struct idem_answer answer;
	char fingerprint[IDEM_FINGERPRINT_HEX + 1];
	struct err e = ERR_INIT;
	struct db_conn *c;
	char id[37];
	json_t *body = NULL;

	if ((key = api_idempotency_key(req)) == NULL || !api_uuid_param(req, "id", id))
		return;
	/* The body is optional: {} or {"reason": "..."}. */
	if (req->body_len > 0 &&
	    (body = api_body(req, cancel_fields,
	                     sizeof(cancel_fields) / sizeof(cancel_fields[0]))) == NULL)
		return;
	if (body == NULL)
		body = json_object(); /* no body and {} are the same request */
	idem_fingerprint(req->method, req->path, body, fingerprint);
	in.store = &req->state->store;
	in.order_id = id;
	in.idempotency_key = key;
	in.fingerprint = fingerprint;
	in.request_id = req->request_id;
	in.actor = req->state->actor;
	in.reason = body != NULL ? jsonv_str(body, "reason") : NULL;
	in.traceparent = req->trace.traceparent;
	if ((c = api_db(req, &e)) == NULL ||
	    !cancel_execute(&api_app(req)->events, c, &in, &answer, &e))
		api_fail(req, &e);
	else
		api_idem_reply(req, &answer);
	json_decref(body);
}
