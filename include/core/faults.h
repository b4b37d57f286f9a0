/*
 * faults.h — the fault detector: rules over the database, and the faults they record.
 *
 * Every worker runs the detector on a timer; each tick is one transaction that first takes a
 * transaction-level advisory lock with pg_try_advisory_xact_lock, so no two ticks overlap, and
 * then claims the tick in the one-row fault_detector table only if no tick ran within the last
 * interval: the rules run once per interval whatever the number of workers, led by whichever
 * worker's timer fires first. There is no leader to elect or hand over: a leader killed mid-tick
 * loses its connection, its lock goes with it, and the next tick of any worker leads.
 *
 * A tick evaluates every rule in one statement and reconciles the result with the faults table:
 * a rule firing for a (rule, store, subject) with no open fault opens one, a firing open fault
 * gets last_seen_at and fresh details, an open fault that no longer fires is resolved.
 *
 *   rule                   subject            fires when (thresholds from the configuration)
 *   outbox_lag             ""                 a store's oldest due event waited > lag_s
 *   dead_events            ""                 a store has events that died within window_s
 *   error_rate             event type         of a store's events of that type handled within
 *                                             window_s, the share whose latest attempt failed ≥
 *                                             error_rate_pct
 *   payment_failure_rate   ""                 declines + captures failed for good ≥
 *                                             payment_failure_pct of a store's payments in window
 *   stuck_lease            worker id          events leased to a worker that stopped heart-beating
 *   worker_heartbeat       worker id          a worker's heartbeat is older than heartbeat_s
 *                                             (a hung worker: a dead one's heartbeat is deleted
 *                                             by the lease reaper, outbox_reap, once none of its
 *                                             database sessions is left)
 *   invariant              invariant name     the audit found rows breaking an invariant of
 *                                             include/core/invariants.h marked audited:
 *                                             stock_non_negative, stock_ledger,
 *                                             one_live_payment, confirmed_one_capture,
 *                                             no_order_stuck (older than stuck_order_s)
 */
#ifndef TERMINUS_FAULTS_H
#define TERMINUS_FAULTS_H

#include <stdbool.h>
#include <jansson.h>
#include "err.h"

struct db_conn;
struct metrics_text;
struct page;

struct fault_limits {
	int interval_ms; /* the tick's period: a tick within 90 % of it after the last is skipped */
	int audit_interval_s; /* the invariant audit's period (it reads whole tables) */
	int lag_s;
	int window_s;
	int heartbeat_s;
	int error_rate_pct;
	int payment_failure_pct;
	int min_samples;
	int stuck_order_s; /* no_order_stuck: the audit's minimum age */
};

/* One detector tick. *led says whether this process led it (false: another worker did). */
bool faults_tick(struct db_conn *c, const struct fault_limits *lim, bool *led,
                 struct err *e) MUST_CHECK;

/* Faults, newest first, keyset-paged. store_id NULL: every store and the platform's own (the
 * operator's view); status "open", "resolved" or "" for both. *out new. */
bool faults_list(struct db_conn *c, const char *store_id, const char *status, const struct page *p,
                 json_t **out, struct err *e) MUST_CHECK;

/* Scrape-time gauge terminus_faults_open{rule}; c may be NULL (database down). */
void faults_metrics(struct db_conn *c, struct metrics_text *t);

extern const char *const fault_rules[];
extern const int fault_rule_count;

#endif
