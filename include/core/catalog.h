/*
 * catalog.h — products and their stock. Functions run inside the caller's transaction,
 * scoped to the store, and never commit.
 */
#ifndef TERMINUS_CATALOG_H
#define TERMINUS_CATALOG_H

#include <stdbool.h>
#include <jansson.h>
#include "err.h"

struct db_conn;
struct page;
struct store_ref;

struct product_input {
	const char *sku;
	const char *name;
	const char *description;
	long long price_cents;
	long long inventory;
};

/* *out is the new product (201). 409 sku_exists. */
bool catalog_create(struct db_conn *c, const struct store_ref *store,
                    const struct product_input *in, json_t **out, struct err *e) MUST_CHECK;
/* *out NULL and true when there is no such product in this store. */
bool catalog_get(struct db_conn *c, const struct store_ref *store, const char *product_id,
                 json_t **out, struct err *e) MUST_CHECK;
/* The store's products, oldest first, keyset-paged (page.h). */
bool catalog_list(struct db_conn *c, const struct store_ref *store, const struct page *p,
                  json_t **out, struct err *e) MUST_CHECK;
/* Adds delta (may be negative) with a reason to the ledger. 404 not_found; 409
 * insufficient_inventory when stock would go below zero. */
bool catalog_adjust(struct db_conn *c, const struct store_ref *store, const char *product_id,
                    long long delta, const char *reason, json_t **out, struct err *e) MUST_CHECK;

/* The product's stock now (a fresh statement: the newest committed value); 0 when there is no
 * such product in the store. */
bool catalog_available(struct db_conn *c, const char *store_id, const char *product_id,
                       long long *available, struct err *e) MUST_CHECK;
/* Gives back whatever stock the order still holds (net of its ledger rows), with a reason.
 * Idempotent by construction: a second call finds nothing left to give back. */
bool catalog_restock_order(struct db_conn *c, const char *store_id, const char *order_id,
                           const char *reason, struct err *e) MUST_CHECK;

#endif
