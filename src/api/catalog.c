/*
 * api_catalog.c — products and inventory adjustments.
 */
#include "api.h"
#include "catalog.h"
#include "constants.h"
#include "db.h"
#include "banned.h"

void api_products_list(struct request *req)
{
	struct err e = ERR_INIT;
	struct db_conn *c = NULL;
	json_t *out;
	struct page p;

	if (!api_list_params(req, PAGE_PRODUCTS, req->state->store.id, &p, &e) ||
	    (c = api_begin(req, &e)) == NULL ||
	    !catalog_list(c, &req->state->store, &p, &out, &e)) {
		api_rollback_fail(req, c, &e);
		return;
	}
	api_commit_reply(req, c, 200, out, &e);
}

void api_products_get(struct request *req)
{
	struct err e = ERR_INIT;
	struct db_conn *c;
	char id[37];
	json_t *out;

	if (!api_uuid_param(req, "id", id))
		return;
	if ((c = api_begin(req, &e)) == NULL || !catalog_get(c, &req->state->store, id, &out, &e)) {
		api_rollback_fail(req, c, &e);
		return;
	}
	if (out == NULL) {
		err_set(&e, 404, "not_found", "no product %s in this store", id);
		api_rollback_fail(req, c, &e);
		return;
	}
	api_commit_reply(req, c, 200, out, &e);
}

static const struct jsonv_field product_fields[] = {
        {"sku", JV_STRING, true, 1, SKU_MAX},
        {"name", JV_STRING, true, 1, PRODUCT_NAME_MAX},
        {"description", JV_STRING, false, 0, PRODUCT_DESCRIPTION_MAX},
        {"price_cents", JV_INTEGER, true, 0, PRICE_CENTS_MAX},
        {"inventory", JV_INTEGER, false, 0, INVENTORY_MAX},
};

void api_products_create(struct request *req)
{
	json_t *body =
	        api_body(req, product_fields, sizeof(product_fields) / sizeof(product_fields[0]));
	struct err e = ERR_INIT;
	struct db_conn *c;
	struct product_input in;
	json_t *out;

	if (body == NULL)
		return;
	in.sku = jsonv_str(body, "sku");
	in.name = jsonv_str(body, "name");
	in.description = jsonv_str(body, "description");
	in.price_cents = jsonv_int(body, "price_cents", 0);
	in.inventory = jsonv_int(body, "inventory", 0);
	if ((c = api_begin(req, &e)) == NULL ||
	    !catalog_create(c, &req->state->store, &in, &out, &e))
		api_rollback_fail(req, c, &e);
	else
		api_commit_reply(req, c, 201, out, &e);
	json_decref(body);
}

static const struct jsonv_field adjust_fields[] = {
        {"delta", JV_INTEGER, true, -INVENTORY_MAX, INVENTORY_MAX},
        {"reason", JV_STRING, true, 1, INVENTORY_REASON_MAX},
};

void api_inventory_adjust(struct request *req)
{
	json_t *body;
	struct err e = ERR_INIT;
	struct db_conn *c;
	char id[37];
	json_t *out;

	if (!api_uuid_param(req, "id", id))
		return;
	body = api_body(req, adjust_fields, sizeof(adjust_fields) / sizeof(adjust_fields[0]));
	if (body == NULL)
		return;
	if (jsonv_int(body, "delta", 0) == 0) {
		err_field(&e, "invalid_value", "delta", "delta must not be zero");
		api_fail(req, &e);
	} else if ((c = api_begin(req, &e)) == NULL ||
	           !catalog_adjust(c, &req->state->store, id, jsonv_int(body, "delta", 0),
	                           jsonv_str(body, "reason"), &out, &e)) {
		api_rollback_fail(req, c, &e);
	} else {
		api_commit_reply(req, c, 200, out, &e);
	}
	json_decref(body);
}
