/*
 * invariants.h — the invariants of guarantees §6 in one table: for each, a stable name, what must
 * hold, and one SQL statement that finds the rows breaking it. `terminus-load check` runs every
 * one after draining the outbox, the fault detector's audit runs the audited ones on the live
 * system (its `invariant` faults carry the name as their subject), and the integration suites
 * run them on the stores they drained. Nothing else in the repository writes this SQL.
 *
 *   name                     must hold                                           flags
 *   outbox_finished          every outbox event ends done or dead                drained
 *   no_order_stuck           no order stays in payment_authorized: after a       drained,
 *                            drain none at all; the audit counts those unchanged audited
 *                            for longer than TERMINUS_FAULT_STUCK_ORDER_S
 *   stock_non_negative       no product's stock is below zero                    audited
 *   stock_ledger             a product's stock is the sum of its movements       audited
 *   stock_conservation       initial + restocks = available + the units of
 *                            orders that hold stock (payment_authorized,
 *                            confirmed)
 *   order_stock              each order line took its stock at most once and
 *                            holds exactly its quantity while its order holds
 *                            stock, nothing otherwise
 *   one_live_payment         no order has more than one authorized or captured   audited
 *                            payment
 *   confirmed_one_capture    every confirmed order has exactly one captured      audited
 *                            payment
 *   payment_matches_order    a captured payment's order is confirmed, an
 *                            authorized one's is payment_authorized
 *   provider_capture_once    the provider captured a payment at most once, a
 *                            captured one exactly once
 *   one_effect_per_key       one order per checkout key, one payment and one
 *                            PaymentAuthorized event per order
 *   timeline_once            an order enters each status at most once
 *   timeline_matches_status  an order's status is the last status of its
 *                            timeline
 *   tenancy_consistent       a row belongs to the store of the row it hangs from
 *
 * drained: holds only once the outbox has drained (a live system breaks it for a moment on every
 * async checkout); the rest hold at every commit. audited: the fault detector's audit runs it
 * every TERMINUS_AUDIT_INTERVAL_S over whole tables — the ones that hold on a live system and
 * cost one pass over one or two tables; the others join several tables per row and are left to
 * `terminus-load check` and the tests.
 *
 * Scope: every statement can be limited to some stores ($1, a uuid[], NULL for every store); a
 * row counts for the store it names (tenancy_consistent: a row in scope, or whose parent is).
 * The statements read every store: run them as the database owner (row-level security does not
 * apply to it) or inside db_begin(c, NULL, true, …). In a REPEATABLE READ transaction they all
 * see one snapshot.
 */
#ifndef TERMINUS_INVARIANTS_H
#define TERMINUS_INVARIANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "err.h"

struct db_conn;

enum invariant_flags {
	INVARIANT_DRAINED = 1 << 0, /* holds only once the outbox has drained */
	INVARIANT_AUDITED = 1 << 1, /* the fault detector's audit runs it */
};

struct invariant {
	const char *name;  /* stable: fault subjects, the checker's output and the tests match it */
	const char *holds; /* one line: what must hold, and where the contract says so */
	unsigned flags;    /* enum invariant_flags */
};

/* Rows of a result's sample; the checker prints this many. */
#define INVARIANT_SAMPLE_ROWS 20
/* Per store, the audit keeps this many row ids and this many descriptions (ordered by id). */
#define INVARIANT_STORE_IDS  5
#define INVARIANT_STORE_WHAT 3

/* What to look at. Zero-initialise for every store and no minimum age. */
struct invariant_scope {
	const char *stores; /* a uuid[] literal, "{…}" (db_array), or NULL: every store */
	int min_age_s;      /* no_order_stuck only: orders unchanged for longer than this; 0: any */
};

/* One invariant's answer. */
struct invariant_result {
	const struct invariant *inv;
	long long violations; /* how many rows break it (0: it holds) */
	json_t *rows; /* the first INVARIANT_SAMPLE_ROWS of them: objects of the statement's columns
	               * (text or null), in its column order */
	json_t *what; /* one string per row of rows: what is wrong with it, in a line */
};

/* The table, in a fixed order. */
size_t invariants_count(void);
const struct invariant *invariants_get(size_t i);
/* NULL when no invariant has that name. */
const struct invariant *invariants_find(const char *name);

/* Runs one invariant. *out filled (release it with invariants_result_release); false with e set
 * when the statement failed. */
bool invariants_run_one(struct db_conn *c, const struct invariant *inv,
                        const struct invariant_scope *s, struct invariant_result *out,
                        struct err *e) MUST_CHECK;
/* Runs every invariant that has all the flags of `flags` (0: every one), in table order. *out
 * new, *n its length (free with invariants_results_free); false with e set at the first that
 * failed (nothing to free). */
bool invariants_run(struct db_conn *c, unsigned flags, const struct invariant_scope *s,
                    struct invariant_result **out, size_t *n, struct err *e) MUST_CHECK;
void invariants_result_release(struct invariant_result *r);
void invariants_results_free(struct invariant_result *r, size_t n);

/* One invariant counted per store, for the audit: *out a new array with an object per store that
 * has violations, ordered by store id: {"store_id", "violations", "sample": the first
 * INVARIANT_STORE_IDS row ids, "what": the first INVARIANT_STORE_WHAT descriptions}. The rows
 * never leave the database, however many break it. False with e set when the statement failed. */
bool invariants_by_store(struct db_conn *c, const struct invariant *inv,
                         const struct invariant_scope *s, json_t **out, struct err *e) MUST_CHECK;

#endif
