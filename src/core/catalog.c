/*
 * catalog.c — products and stock (see catalog.h).
 *
 * Stock changes are conditional updates (available + delta >= 0 in the WHERE clause), backed
 * by CHECK (available >= 0): never read-then-write. Every change is written to the
 * inventory_movements ledger in the same statement.
 */
#include <stdio.h>
#include <string.h>

#include <uuid/uuid.h>

#include "catalog.h"
#include "db.h"
#include "stores.h"
#include "page.h"
#include "banned.h"

#define PRODUCT_COLUMNS                                                                            \
	"p.id, p.sku, p.name, p.description, p.price_cents, s.currency, i.available, "             \
	"terminus_ts(p.created_at), " PAGE_AT("p.created_at")

static json_t *product_json(const PGresult *r, int row)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s}", "id", db_get(r, row, 0), "sku",
	                 db_get(r, row, 1), "name", db_get(r, row, 2), "description",
	                 db_get(r, row, 3), "price_cents", (json_int_t)db_get_ll(r, row, 4),
	                 "currency", db_get(r, row, 5), "available",
	                 (json_int_t)db_get_ll(r, row, 6), "created_at", db_get(r, row, 7));
}

static struct db_stmt st_create = DB_STMT(
        "catalog_create",
        "WITH p AS (INSERT INTO products (id, store_id, sku, name, description, price_cents) "
        "           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *), "
        "i AS (INSERT INTO inventory (product_id, store_id, available) "
        "      SELECT id, store_id, $7 FROM p RETURNING *), "
        "m AS (INSERT INTO inventory_movements (store_id, product_id, delta, reason) "
        "      SELECT store_id, id, $7, 'initial' FROM p) "
        "SELECT " PRODUCT_COLUMNS " FROM p JOIN i ON i.product_id = p.id "
        "JOIN stores s ON s.id = p.store_id");

bool catalog_create(struct db_conn *c, const struct store_ref *store,
                    const struct product_input *in, json_t **out, struct err *e)
{
	char id[37], price[24], inv[24];
	uuid_t u;
	PGresult *r;

	uuid_generate_random(u);
	uuid_unparse_lower(u, id);
	snprintf(price, sizeof(price), "%lld", in->price_cents);
	snprintf(inv, sizeof(inv), "%lld", in->inventory);
	r = db_exec(c, &st_create,
	            DB_PARAMS(id, store->id, in->sku, in->name,
	                      in->description != NULL ? in->description : "", price, inv),
	            e);
	if (r == NULL) {
		if (db_is_unique_violation(e)) {
			err_set(e, 409, "sku_exists", "a product with SKU %s already exists",
			        in->sku);
			err_detail(e, "field", json_string("sku"));
		}
		return false;
	}
	*out = product_json(r, 0);
	PQclear(r);
	return true;
}

static struct db_stmt st_get = DB_STMT(
        "catalog_get", "SELECT " PRODUCT_COLUMNS " FROM products p "
                       "JOIN inventory i ON i.product_id = p.id JOIN stores s ON s.id = p.store_id "
                       "WHERE p.id = $1 AND p.store_id = $2");

bool catalog_get(struct db_conn *c, const struct store_ref *store, const char *product_id,
                 json_t **out, struct err *e)
{
	PGresult *r = db_exec(c, &st_get, DB_PARAMS(product_id, store->id), e);

	*out = NULL;
	if (r == NULL)
		return false;
	if (PQntuples(r) == 1)
		*out = product_json(r, 0);
	PQclear(r);
	return true;
}

/* The key this page starts after (page.h). */
#define PRODUCTS_AFTER PAGE_AFTER_ASC("p.created_at", "p.id", 2, 3)

static struct db_stmt st_list =
        DB_STMT("catalog_list", "SELECT " PRODUCT_COLUMNS " FROM products p "
                                "JOIN inventory i ON i.product_id = p.id "
                                "JOIN stores s ON s.id = p.store_id "
                                "WHERE p.store_id = $1 AND " PRODUCTS_AFTER " "
                                "ORDER BY p.created_at, p.id LIMIT $4");

bool catalog_list(struct db_conn *c, const struct store_ref *store, const struct page *p,
                  json_t **out, struct err *e)
{
	char at[24], lim[16];
	const char *at_param, *id_param;
	PGresult *r;

	page_args(p, at, lim, &at_param, &id_param);
	r = db_exec(c, &st_list, DB_PARAMS(store->id, at_param, id_param, lim), e);
	if (r == NULL)
		return false;
	*out = page_json(r, p, 8, 0, product_json);
	PQclear(r);
	return true;
}

static struct db_stmt st_adjust =
        DB_STMT("catalog_adjust",
                "WITH i AS (UPDATE inventory SET available = available + $3 "
                "           WHERE product_id = $1 AND store_id = $2 AND available + $3 >= 0 "
                "           RETURNING product_id, available), "
                "m AS (INSERT INTO inventory_movements (store_id, product_id, delta, reason) "
                "      SELECT $2, product_id, $3, $4 FROM i) "
                "SELECT available FROM i");

static struct db_stmt st_available =
        DB_STMT("catalog_available",
                "SELECT available FROM inventory WHERE product_id = $1 AND store_id = $2");

static bool available_of(struct db_conn *c, const char *store_id, const char *product_id,
                         long long *available, bool *found, struct err *e)
{
	PGresult *r = db_exec(c, &st_available, DB_PARAMS(product_id, store_id), e);

	if (r == NULL)
		return false;
	*found = PQntuples(r) == 1;
	*available = *found ? db_get_ll(r, 0, 0) : 0;
	PQclear(r);
	return true;
}

bool catalog_available(struct db_conn *c, const char *store_id, const char *product_id,
                       long long *available, struct err *e)
{
	bool found;

	return available_of(c, store_id, product_id, available, &found, e);
}

bool catalog_adjust(struct db_conn *c, const struct store_ref *store, const char *product_id,
                    long long delta, const char *reason, json_t **out, struct err *e)
{
	char d[24];
	long long available = 0;
	bool found = false;
	PGresult *r;

	snprintf(d, sizeof(d), "%lld", delta);
	r = db_exec(c, &st_adjust, DB_PARAMS(product_id, store->id, d, reason), e);
	if (r == NULL)
		return false;
	if (PQntuples(r) == 1) {
		*out = json_pack("{s:s, s:I, s:I, s:s}", "product_id", product_id, "available",
		                 (json_int_t)db_get_ll(r, 0, 0), "delta", (json_int_t)delta,
		                 "reason", reason);
		PQclear(r);
		return true;
	}
	PQclear(r);
	/* Nothing updated: either no such product, or the stock would go below zero. */
	if (!available_of(c, store->id, product_id, &available, &found, e))
		return false;
	if (!found) {
		err_set(e, 404, "not_found", "no product %s in this store", product_id);
	} else {
		err_set(e, 409, "insufficient_inventory", "stock cannot go below zero");
		err_detail(e, "product_id", json_string(product_id));
		err_detail(e, "requested", json_integer(-delta));
		err_detail(e, "available", json_integer(available));
	}
	return false;
}

static struct db_stmt st_restock =
        DB_STMT("catalog_restock_order",
                "WITH held AS (SELECT product_id, -sum(delta) AS qty FROM inventory_movements "
                "              WHERE order_id = $1 AND store_id = $2 GROUP BY product_id "
                "              HAVING -sum(delta) > 0), "
                "u AS (UPDATE inventory i SET available = i.available + h.qty FROM held h "
                "      WHERE i.product_id = h.product_id AND i.store_id = $2 "
                "      RETURNING i.product_id, h.qty) "
                "INSERT INTO inventory_movements (store_id, product_id, delta, reason, order_id) "
                "SELECT $2, product_id, qty, $3, $1 FROM u");

bool catalog_restock_order(struct db_conn *c, const char *store_id, const char *order_id,
                           const char *reason, struct err *e)
{
	PGresult *r = db_exec(c, &st_restock, DB_PARAMS(order_id, store_id, reason), e);

	if (r == NULL)
		return false;
	PQclear(r);
	return true;
}
