/*
 * payments.h — our record of an order's payment. Status changes are compare-and-set (from →
 * to), so a racing capture and cancel cannot both move the same payment; the partial unique
 * index payments_one_live keeps at most one authorized-or-captured payment per order.
 * Runs inside the caller's transaction, scoped to the store.
 */
#ifndef TERMINUS_PAYMENTS_H
#define TERMINUS_PAYMENTS_H

#include <stdbool.h>
#include "err.h"

struct db_conn;

/* Moves the order's payment from → to. *changed false (and payment_id "") when the order has
 * no payment in `from`. payment_id (37 bytes) and amount may be NULL. */
bool payments_transition(struct db_conn *c, const char *store_id, const char *order_id,
                         const char *from, const char *to, char *payment_id, long long *amount,
                         bool *changed, struct err *e) MUST_CHECK;

#endif
