/*
 * analytics.h — per-store sales analytics, maintained from events.
 *
 * Every order status change becomes an OrderStatusChanged outbox event in the transaction that
 * made it (a trigger on the order timeline, migrations/003). The worker folds batches of them
 * into hourly counters and per-product sums; each event counts once: its completion, its
 * processed-events row and its counts commit together, and an event whose processed-events
 * row already exists counts nothing.
 */
#ifndef TERMINUS_ANALYTICS_H
#define TERMINUS_ANALYTICS_H

#include <stdbool.h>
#include <jansson.h>
#include "err.h"

struct db_conn;
struct db_stmt;

#define EVENT_ORDER_STATUS_CHANGED "OrderStatusChanged"
#define ANALYTICS_MAX_RANGE_DAYS   31
#define ANALYTICS_TOP_PRODUCTS     10

/* The settling statement of a batch of OrderStatusChanged events of one store:
 * $1 uuid[] event ids, $2 store id, $3 lease owner. Completes each event the owner still
 * leases and counts those not counted before. One row per event: (event_id, completed). */
struct db_stmt *analytics_fold_stmt(void);

/* The report for [from, to) (RFC 3339 instants, "" for the defaults: to = now, from = to − 24 h;
 * from is rounded down, to up, to whole hours; 400 when to is not after from or the range is
 * longer than ANALYTICS_MAX_RANGE_DAYS):
 * totals, average order value, conversion, top products and the hourly series. *out new. */
bool analytics_report(struct db_conn *c, const char *store_id, const char *from, const char *to,
                      json_t **out, struct err *e) MUST_CHECK;

/* True for an RFC 3339 date-time such as 2026-11-25T10:00:00Z, with an optional fraction (up to
 * nine digits) and a Z or ±hh:mm offset: what ?from= and ?to= accept. Narrower than the RFC
 * where PostgreSQL is: offsets up to ±15:59, years 1900–9998 (so that a range rounded out to
 * whole hours stays a four-digit year). Pure; fuzzed (fuzz_headers). */
bool analytics_instant_valid(const char *s);

#endif
