/*
 * orders.c — orders, lines and the timeline (see orders.h).
 *
 * An order is rendered by one query: scalar columns plus items, payment and timeline
 * aggregated by PostgreSQL, parsed back with jansson. One round trip instead of four, on the
 * path every checkout answer takes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "constants.h"
#include "db.h"
#include "stores.h"
#include "log.h"
#include "orders.h"
#include "page.h"
#include "banned.h"

static const char *const order_statuses[] = {"pending",   "payment_authorized", "confirmed",
                                             "cancelled", "refunded",           "payment_failed"};

bool orders_status_valid(const char *status)
{
	for (size_t i = 0; i < sizeof(order_statuses) / sizeof(order_statuses[0]); i++) {
		if (strcmp(order_statuses[i], status) == 0)
			return true;
	}
	return false;
}

/* The key column of a list (page.h). */
#define ORDER_AT PAGE_AT("o.created_at")
#define ORDER_COLUMNS                                                                              \
	"o.id, o.status, o.customer_email, o.currency, o.total_cents, o.checkout_path, "           \
	"terminus_ts(o.created_at), terminus_ts(o.updated_at), " ORDER_AT ", "                     \
	"(SELECT json_agg(json_build_object('product_id', i.product_id, 'sku', i.sku, "            \
	"   'name', i.name, 'quantity', i.quantity, 'unit_price_cents', i.unit_price_cents, "      \
	"   'line_total_cents', i.quantity * i.unit_price_cents) ORDER BY i.line_no) "             \
	" FROM order_items i WHERE i.order_id = o.id), "                                           \
	"(SELECT json_build_object('id', p.id, 'status', p.status, "                               \
	"   'amount_cents', p.amount_cents, 'currency', p.currency) "                              \
	" FROM payments p WHERE p.order_id = o.id ORDER BY p.created_at DESC LIMIT 1)"

/* Each entry's trace_id is the trace-id field of the traceparent stored with it (what
 * trace_id_of() reads in C; stored ones are ours, always well-formed), null when none was. */
#define ORDER_TIMELINE                                                                                \
	"(SELECT json_agg(json_build_object('from', e.from_status, 'to', e.to_status, "               \
	"   'at', terminus_ts(e.at), 'reason', e.reason, "                                            \
	"   'trace_id', NULLIF(split_part(coalesce(e.traceparent, ''), '-', 2), '')) ORDER BY e.id) " \
	" FROM order_events e WHERE e.order_id = o.id)"

/* Parses a json column produced by the database; a failure here is our bug, not input. */
static json_t *json_column(const PGresult *r, int row, int col, json_t *dflt)
{
	const char *text = db_get(r, row, col);
	json_t *v;

	if (text == NULL)
		return dflt;
	v = json_loads(text, 0, NULL);
	if (v == NULL) {
		log_error("unparseable json column %d from the database", col);
		return dflt;
	}
	json_decref(dflt);
	return v;
}

static json_t *order_json(const PGresult *r, int row)
{
	const char *path = db_get(r, row, 5);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o}", "id", db_get(r, row, 0),
	                      "status", db_get(r, row, 1), "customer_email", db_get(r, row, 2),
	                      "currency", db_get(r, row, 3), "total_cents",
	                      (json_int_t)db_get_ll(r, row, 4), "checkout_path",
	                      path != NULL ? json_string(path) : json_null(), "items",
	                      json_column(r, row, 9, json_array()), "payment",
	                      json_column(r, row, 10, json_null()));

	if (PQnfields(r) > 11)
		json_object_set_new(o, "timeline", json_column(r, row, 11, json_array()));
	json_object_set_new(o, "created_at", json_string(db_get(r, row, 6)));
	json_object_set_new(o, "updated_at", json_string(db_get(r, row, 7)));
	return o;
}

static struct db_stmt st_get =
        DB_STMT("orders_get", "SELECT " ORDER_COLUMNS ", " ORDER_TIMELINE
                              " FROM orders o WHERE o.id = $1 AND o.store_id = $2");

bool orders_get(struct db_conn *c, const char *store_id, const char *order_id, json_t **out,
                struct err *e)
{
	PGresult *r = db_exec(c, &st_get, DB_PARAMS(order_id, store_id), e);

	*out = NULL;
	if (r == NULL)
		return false;
	if (PQntuples(r) == 1)
		*out = order_json(r, 0);
	PQclear(r);
	return true;
}

/* The key this page starts after (page.h). */
#define ORDERS_AFTER PAGE_AFTER_ASC("o.created_at", "o.id", 2, 3)

static struct db_stmt st_list = DB_STMT("orders_list", "SELECT " ORDER_COLUMNS " FROM orders o "
                                                       "WHERE o.store_id = $1 AND " ORDERS_AFTER " "
                                                       "  AND ($5 = '' OR o.status = $5) "
                                                       "ORDER BY o.created_at, o.id LIMIT $4");

bool orders_list(struct db_conn *c, const char *store_id, const char *status, const struct page *p,
                 json_t **out, struct err *e)
{
	return page_store_list(c, &st_list, store_id, status, p, 8, 0, order_json, out, e);
}

static struct db_stmt st_create = DB_STMT(
        "orders_create",
        "WITH x AS (SELECT * FROM unnest($4::uuid[], $5::int[]) WITH ORDINALITY "
        "           AS x(product_id, quantity, line_no)), "
        "lines AS (SELECT x.line_no, x.product_id, x.quantity, p.sku, p.name, p.price_cents "
        "          FROM x JOIN products p ON p.id = x.product_id AND p.store_id = $2), "
        "o AS (INSERT INTO orders (id, store_id, customer_email, currency, total_cents) "
        "      SELECT $1, $2, $3, s.currency, "
        "             (SELECT coalesce(sum(quantity * price_cents), 0) FROM lines) "
        "      FROM stores s WHERE s.id = $2 AND (SELECT count(*) FROM lines) = $6 "
        "      RETURNING id), "
        "i AS (INSERT INTO order_items (order_id, line_no, store_id, product_id, sku, name, "
        "                               quantity, unit_price_cents) "
        "      SELECT o.id, l.line_no, $2, l.product_id, l.sku, l.name, l.quantity, l.price_cents "
        "      FROM o, lines l), "
        "t AS (INSERT INTO order_events (order_id, store_id, from_status, to_status, reason, "
        "                                traceparent) "
        "      SELECT id, $2, NULL, 'pending', 'created', nullif($7, '') FROM o) "
        "SELECT count(*) FROM o");

static struct db_stmt st_unknown = DB_STMT(
        "orders_unknown_product",
        "SELECT x.ord FROM unnest($1::uuid[]) WITH ORDINALITY AS x(product_id, ord) "
        "WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.id = x.product_id AND p.store_id = $2) "
        "ORDER BY x.ord LIMIT 1");

bool orders_create(struct db_conn *c, const struct store_ref *store, const struct order_line *lines,
                   int nlines, const char *email, const char *traceparent, json_t **out,
                   struct err *e)
{
	const char *product_ids[ORDER_ITEMS_MAX];
	long long quantities[ORDER_ITEMS_MAX];
	char id[37], count[16];
	char *ids, *qty;
	uuid_t u;
	PGresult *r = NULL;
	bool ok = false;

	*out = NULL;
	if (nlines < 1 || nlines > ORDER_ITEMS_MAX)
		abort(); /* programmer error: the API bounds the lines */
	for (int i = 0; i < nlines; i++) {
		product_ids[i] = lines[i].product_id;
		quantities[i] = lines[i].quantity;
	}
	ids = db_array(nlines, product_ids);
	qty = db_array_ll(nlines, quantities);
	uuid_generate_random(u);
	uuid_unparse_lower(u, id);
	snprintf(count, sizeof(count), "%d", nlines);
	r = db_exec(c, &st_create,
	            DB_PARAMS(id, store->id, email, ids, qty, count,
	                      traceparent != NULL ? traceparent : ""),
	            e);
	if (r == NULL)
		goto free_params;
	if (db_get_ll(r, 0, 0) == 1) {
		ok = orders_get(c, store->id, id, out, e);
		goto free_params;
	}
	PQclear(r);
	r = db_exec(c, &st_unknown, DB_PARAMS(ids, store->id), e);
	if (r == NULL)
		goto free_params;
	{
		char field[48];
		long long idx = PQntuples(r) == 1 ? db_get_ll(r, 0, 0) - 1 : 0;

		snprintf(field, sizeof(field), "items[%lld].product_id", idx);
		err_field(e, "unknown_product", field, "%s is not a product of this store", field);
	}
free_params:
	PQclear(r);
	free(ids);
	free(qty);
	return ok;
}

static struct db_stmt st_transition =
        DB_STMT("orders_transition",
                "WITH o AS (UPDATE orders SET status = $4, updated_at = now() "
                "           WHERE id = $1 AND store_id = $2 AND status = $3 RETURNING id) "
                "INSERT INTO order_events (order_id, store_id, from_status, to_status, reason, "
                "                          traceparent) "
                "SELECT id, $2, $3, $4, $5, nullif($6, '') FROM o RETURNING id");

bool orders_transition(struct db_conn *c, const char *store_id, const char *order_id,
                       const char *from, const char *to, const char *reason,
                       const char *traceparent, bool *changed, struct err *e)
{
	PGresult *r = db_exec(c, &st_transition,
	                      DB_PARAMS(order_id, store_id, from, to, reason,
	                                traceparent != NULL ? traceparent : ""),
	                      e);

	if (r == NULL)
		return false;
	*changed = PQntuples(r) == 1;
	PQclear(r);
	return true;
}
