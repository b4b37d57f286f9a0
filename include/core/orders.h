/*
 * orders.h — orders, their lines and their timeline.
 *
 * Prices and totals come from the database at creation, never from the client. Every status
 * change is a compare-and-set (UPDATE … WHERE status = from) that appends to the timeline in the
 * same statement, so two racing transitions resolve to exactly one.
 * Functions run inside the caller's transaction, scoped to the store, and never commit.
 */
#ifndef TERMINUS_ORDERS_H
#define TERMINUS_ORDERS_H

#include <stdbool.h>
#include <jansson.h>
#include "err.h"

struct db_conn;
struct page;
struct store_ref;

struct order_line {
	char product_id[37];
	long long quantity;
};

/* *out is the new order (201). 400 unknown_product naming items[i].product_id. */
bool orders_create(struct db_conn *c, const struct store_ref *store, const struct order_line *lines,
                   int nlines, const char *email, const char *traceparent, json_t **out,
                   struct err *e) MUST_CHECK;
/* The order with items, payment and timeline; *out NULL when not found in this store. */
bool orders_get(struct db_conn *c, const char *store_id, const char *order_id, json_t **out,
                struct err *e) MUST_CHECK;
/* status may be NULL (all). */
bool orders_list(struct db_conn *c, const char *store_id, const char *status, const struct page *p,
                 json_t **out, struct err *e) MUST_CHECK;
bool orders_status_valid(const char *status);
/* Compare-and-set from → to with a timeline entry (carrying traceparent, may be NULL);
 * *changed false when the order was not in `from` (someone else moved it first). */
bool orders_transition(struct db_conn *c, const char *store_id, const char *order_id,
                       const char *from, const char *to, const char *reason,
                       const char *traceparent, bool *changed, struct err *e) MUST_CHECK;

#endif
