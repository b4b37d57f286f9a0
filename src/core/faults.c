/*
 * faults.c — the fault detector and the faults it records (see faults.h).
 *
 * Every rule is a query over what the system already writes down: the outbox (lag, deaths,
 * failed attempts, leases), the idempotency keys (declined checkouts are stored answers), the
 * worker heartbeats, and the business tables for the invariant audit. Nothing on the hot path
 * writes anything for the detector's sake except outbox_events.last_failed_at.
 */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "faults.h"
#include "invariants.h"
#include "log.h"
#include "metrics.h"
#include "page.h"
#include "xalloc.h"
#include "banned.h"

const char *const fault_rules[] = {
        "outbox_lag",  "dead_events",      "error_rate", "payment_failure_rate",
        "stuck_lease", "worker_heartbeat", "invariant"};
const int fault_rule_count = (int)(sizeof(fault_rules) / sizeof(fault_rules[0]));

/* A leader stopped mid-tick (SIGSTOP, a paused VM) would hold the lock until the server ends
 * its idle transaction: this tick's transaction gets a timeout of its own ($1 ms), so the
 * others are blind for at most that long. */
static struct db_stmt st_lead = DB_STMT(
        "faults_lead", "SELECT pg_try_advisory_xact_lock(hashtext('terminus.fault_detector')), "
                       "       set_config('idle_in_transaction_session_timeout', $1, true)");

/* This tick is due: nobody ran one within (most of) an interval. The advisory lock above keeps
 * two ticks from overlapping; this keeps several workers' timers from multiplying the rate. The
 * invariant audit reads whole tables, so it has its own, longer period ($2 seconds): the row
 * says whether this tick also runs it. It also keeps the thresholds of the last leader ($3), so
 * that workers configured differently — whose faults would open under one worker's thresholds
 * and resolve under another's — are noticed. */
static struct db_stmt st_due = DB_STMT(
        "faults_due",
        "WITH old AS (SELECT coalesce(settings, '') AS settings FROM fault_detector WHERE id = 1) "
        "UPDATE fault_detector SET last_tick_at = now(), settings = $3, "
        "  last_audit_at = CASE WHEN last_audit_at IS NULL OR "
        "    last_audit_at <= now() - make_interval(secs => $2::float8 * 0.9) "
        "    THEN now() ELSE last_audit_at END "
        "WHERE id = 1 AND (last_tick_at IS NULL OR "
        "  last_tick_at <= now() - make_interval(secs => $1::float8 * 0.9 / 1000)) "
        "RETURNING last_audit_at = now(), (SELECT settings FROM old)");

/* A killed worker's heartbeat row is deleted by the lease reaper (outbox_reap) once none of its
 * database sessions is left. A row that names no session (written before migration 005) is
 * forgotten here after an hour of silence. Either resolves its worker_heartbeat fault ("gone",
 * not "back"). */
static struct db_stmt st_forget =
        DB_STMT("faults_forget_workers",
                "DELETE FROM worker_heartbeats WHERE seen_at < now() - interval '1 hour'");

/*
 * Every rule as one arm of `firing` (rule, store_id, subject, severity, summary, details), then
 * the reconciliation with the open faults. Parameters: $1 lag_s, $2 window_s, $3 heartbeat_s,
 * $4 error-rate fraction, $5 payment-failure fraction, $6 minimum samples, $7 whether the
 * invariant audit runs this tick (when it does not, its open faults stay as they are: not seen
 * is not the same as resolved), $8 what the audit found (a JSON array, see audit(); the audit's
 * SQL is the invariants module's, run just before in the same transaction).
 */
static struct db_stmt st_detect = DB_STMT(
        "faults_detect",
        "WITH firing AS ("
        /* outbox_lag: the oldest due event of a store (claimed or not) waited too long */
        " SELECT 'outbox_lag'::text AS rule, store_id, ''::text AS subject, "
        "        'warning'::text AS severity, "
        "        format('oldest due event has waited %s s (threshold %s s); %s events due', "
        "               round(extract(epoch FROM now() - min(available_at))), $1::int, "
        "               count(*)) AS summary, "
        "        jsonb_build_object('oldest_due_age_seconds', "
        "               round(extract(epoch FROM now() - min(available_at))::numeric, 3), "
        "               'due', count(*), "
        "               'trace_ids', to_jsonb((array_agg(substr(traceparent, 4, 32) "
        "                 ORDER BY available_at) FILTER (WHERE traceparent IS NOT NULL))[1:5])) AS details "
        " FROM outbox_events WHERE status = 'pending' AND available_at <= now() "
        " GROUP BY store_id "
        " HAVING min(available_at) < now() - make_interval(secs => $1::int) "
        /* dead_events: events that died within the window and are still dead */
        " UNION ALL "
        " SELECT 'dead_events', store_id, '', 'critical', "
        "        format('%s events died in the last %s s (%s)', count(*), $2::int, "
        "               string_agg(DISTINCT type, ', ')), "
        "        jsonb_build_object('dead', count(*), 'sample', "
        "               to_jsonb((array_agg(id ORDER BY done_at DESC))[1:5]), "
        "               'trace_ids', to_jsonb((array_agg(substr(traceparent, 4, 32) "
        "                 ORDER BY done_at DESC) FILTER (WHERE traceparent IS NOT NULL))[1:5])) "
        " FROM outbox_events WHERE status = 'dead' "
        "   AND done_at > now() - make_interval(secs => $2::int) "
        " GROUP BY store_id "
        /* error_rate: of a store's events of one type handled within the window, the share
         * whose latest attempt failed (per type: analytics events that always succeed must not
         * hide captures that always fail) */
        " UNION ALL "
        " SELECT 'error_rate', store_id, type, 'warning', "
        "        format('%s of %s %s events handled in the last %s s are failing (%s%%)', "
        "               failing, total, type, $2::int, round(100.0 * failing / total)), "
        "        jsonb_build_object('failing', failing, 'total', total, 'type', type, "
        "                           'trace_ids', to_jsonb(trace_ids[1:5])) "
        " FROM (SELECT store_id, type, count(*) FILTER (WHERE failing) AS failing, "
        "              count(*) AS total, "
        "              array_agg(substr(traceparent, 4, 32)) "
        "                FILTER (WHERE failing AND traceparent IS NOT NULL) AS trace_ids "
        "       FROM (SELECT store_id, type, false AS failing, NULL::text AS traceparent "
        "             FROM outbox_events "
        "             WHERE status = 'done' AND done_at > now() - make_interval(secs => $2::int) "
        "             UNION ALL "
        "             SELECT store_id, type, true, traceparent FROM outbox_events "
        "             WHERE status = 'pending' AND last_error IS NOT NULL "
        "               AND last_failed_at > now() - make_interval(secs => $2::int) "
        "             UNION ALL "
        "             SELECT store_id, type, true, traceparent FROM outbox_events "
        "             WHERE status = 'dead' AND done_at > now() - make_interval(secs => $2::int)) s "
        "       GROUP BY store_id, type) r "
        " WHERE total >= $6::int AND failing >= $4::float8 * total "
        /* payment_failure_rate: declined checkouts (their 402 is a stored idempotent answer)
         * and captures that failed for good, against those plus successful captures — counted
         * as orders confirmed (their OrderStatusChanged events), because a PaymentAuthorized
         * event also completes, as a no-op, when its order was cancelled or compensated first */
        " UNION ALL "
        " SELECT 'payment_failure_rate', store_id, '', 'warning', "
        "        format('%s of %s payments failed in the last %s s (%s declined, ' || "
        "               '%s captures failed for good)', "
        "               declined + lost, declined + lost + captured, $2::int, declined, lost), "
        "        jsonb_build_object('declined', declined, 'capture_failed', lost, "
        "                           'captured', captured) "
        " FROM (SELECT store_id, sum(declined) AS declined, sum(lost) AS lost, "
        "              sum(captured) AS captured "
        "       FROM (SELECT store_id, count(*) AS declined, 0 AS lost, 0 AS captured "
        "             FROM idempotency_keys WHERE response_status = 402 "
        "               AND created_at > now() - make_interval(secs => $2::int) "
        "             GROUP BY store_id "
        "             UNION ALL "
        "             SELECT store_id, 0, "
        "                    count(*) FILTER (WHERE status = 'dead' "
        "                                     AND type = 'PaymentAuthorized'), "
        "                    count(*) FILTER (WHERE status = 'done' "
        "                                     AND type = 'OrderStatusChanged' "
        "                                     AND payload->>'to' = 'confirmed') "
        "             FROM outbox_events WHERE status IN ('done', 'dead') "
        "               AND type IN ('PaymentAuthorized', 'OrderStatusChanged') "
        "               AND done_at > now() - make_interval(secs => $2::int) "
        "             GROUP BY store_id) s "
        "       GROUP BY store_id) r "
        " WHERE declined + lost + captured >= $6::int "
        "   AND declined + lost >= $5::float8 * (declined + lost + captured) "
        /* stuck_lease: events held by a worker that stopped heart-beating: they wait for the
         * lease to lapse (up to its full length) before anyone else may take them */
        " UNION ALL "
        " SELECT 'stuck_lease', e.store_id, h.worker_id, 'warning', "
        "        format('%s events leased to %s, silent for %s s; the leases lapse by %s', "
        "               count(*), h.worker_id, round(extract(epoch FROM now() - h.seen_at)), "
        "               terminus_ts(max(e.claimed_until))), "
        "        jsonb_build_object('events', count(*), 'worker', h.worker_id, "
        "               'lease_until', terminus_ts(max(e.claimed_until)), "
        "               'trace_ids', to_jsonb((array_agg(substr(e.traceparent, 4, 32) "
        "                 ORDER BY e.available_at) FILTER (WHERE e.traceparent IS NOT NULL))[1:5])) "
        " FROM outbox_events e JOIN worker_heartbeats h "
        "   ON left(e.claimed_by, length(h.worker_id) + 2) = h.worker_id || '-t' "
        " WHERE e.status = 'pending' AND e.claimed_until > now() "
        "   AND h.seen_at < now() - make_interval(secs => $3::int) "
        " GROUP BY e.store_id, h.worker_id, h.seen_at "
        /* worker_heartbeat */
        " UNION ALL "
        " SELECT 'worker_heartbeat', NULL, worker_id, 'critical', "
        "        format('worker %s last beat %s s ago (threshold %s s)', worker_id, "
        "               round(extract(epoch FROM now() - seen_at)), $3::int), "
        "        jsonb_build_object('seen_at', terminus_ts(seen_at), 'started_at', "
        "               terminus_ts(started_at), 'events_done', events_done) "
        " FROM worker_heartbeats WHERE seen_at < now() - make_interval(secs => $3::int) "
        /* invariant audit (guarantees §6): one fault per store and invariant, with a sample of
         * rows, from what invariants_by_store found ($8) */
        " UNION ALL "
        " SELECT 'invariant', (v->>'store_id')::uuid, v->>'invariant', 'critical', "
        "        format('%s: %s rows (%s)', v->>'invariant', v->>'violations', "
        "               (SELECT string_agg(w, '; ' ORDER BY n) "
        "                FROM jsonb_array_elements_text(v->'what') WITH ORDINALITY AS t(w, n))), "
        "        jsonb_build_object('invariant', v->>'invariant', 'holds', v->>'holds', "
        "                           'rows', v->'violations', 'sample', v->'sample') "
        " FROM jsonb_array_elements($8::jsonb) v WHERE $7::bool), "
        "opened AS (INSERT INTO faults (rule, store_id, subject, severity, summary, details) "
        "           SELECT f.rule, f.store_id, f.subject, f.severity, left(f.summary, 1000), "
        "                  f.details FROM firing f "
        "           WHERE NOT EXISTS (SELECT 1 FROM faults o WHERE o.resolved_at IS NULL "
        "                             AND o.rule = f.rule AND o.subject = f.subject "
        "                             AND o.store_id IS NOT DISTINCT FROM f.store_id) "
        "           RETURNING id, rule, store_id, subject, summary, details), "
        "seen AS (UPDATE faults o SET last_seen_at = now(), summary = left(f.summary, 1000), "
        "                details = f.details "
        "         FROM firing f WHERE o.resolved_at IS NULL AND o.rule = f.rule "
        "           AND o.subject = f.subject AND o.store_id IS NOT DISTINCT FROM f.store_id), "
        "resolved AS (UPDATE faults o SET resolved_at = now() "
        "             WHERE o.resolved_at IS NULL AND ($7::bool OR o.rule <> 'invariant') "
        "               AND NOT EXISTS "
        "               (SELECT 1 FROM firing f WHERE o.rule = f.rule AND o.subject = f.subject "
        "                AND o.store_id IS NOT DISTINCT FROM f.store_id) "
        "             RETURNING id, rule, store_id, subject, summary, details) "
        "SELECT 'opened', id, rule, coalesce(store_id::text, ''), subject, summary, "
        "       details::text FROM opened "
        "UNION ALL "
        "SELECT 'resolved', id, rule, coalesce(store_id::text, ''), subject, summary, "
        "       details::text FROM resolved");

static void log_change(const PGresult *r, int row)
{
	bool opened = strcmp(db_get(r, row, 0), "opened") == 0;
	json_t *details = json_loads(db_get(r, row, 6), 0, NULL);
	/* The details name the rows to look at, and trace ids to grep for where there are some. */
	json_t *fields =
	        json_pack("{s:s, s:s, s:s, s:s, s:o}", "fault_id", db_get(r, row, 1), "rule",
	                  db_get(r, row, 2), "fault_store_id", db_get(r, row, 3), "subject",
	                  db_get(r, row, 4), "details", details != NULL ? details : json_object());

	if (opened) {
		metrics_inc(M_FAULTS_OPENED, db_get(r, row, 2), NULL);
		log_fields(LOG_LEVEL_WARN, fields, "fault opened: %s: %s", db_get(r, row, 2),
		           db_get(r, row, 5));
	} else {
		log_fields(LOG_LEVEL_INFO, fields, "fault resolved: %s: %s", db_get(r, row, 2),
		           db_get(r, row, 5));
	}
}

/* The invariant audit: every audited invariant over every store, in the tick's transaction,
 * counted per store in the database. *found new: the JSON text of one object per store and
 * violated invariant (invariants_by_store's, with "invariant" and "holds" added). */
static bool audit(struct db_conn *c, const struct fault_limits *lim, char **found, struct err *e)
{
	struct invariant_scope scope = {.stores = NULL, .min_age_s = lim->stuck_order_s};
	json_t *all = json_array();
	bool ok = true;

	for (size_t i = 0; i < invariants_count(); i++) {
		const struct invariant *inv = invariants_get(i);
		json_t *stores, *v;
		size_t k;

		if (!(inv->flags & INVARIANT_AUDITED))
			continue;
		ok = invariants_by_store(c, inv, &scope, &stores, e);
		if (!ok)
			break;
		json_array_foreach(stores, k, v)
		{
			json_object_set_new(v, "invariant", json_string(inv->name));
			json_object_set_new(v, "holds", json_string(inv->holds));
			json_array_append(all, v);
		}
		json_decref(stores);
	}
	*found = ok ? xjson_dumps(all, JSON_COMPACT) : NULL;
	json_decref(all);
	return ok;
}

bool faults_tick(struct db_conn *c, const struct fault_limits *lim, bool *led, struct err *e)
{
	char lag[16], window[16], heartbeat[16], error_rate[16], payment[16], samples[16],
	        interval[16], audit_interval[16], tx_timeout[16], settings[200];
	bool audit_due = false;
	char *found = NULL;
	PGresult *r;

	*led = false;
	snprintf(interval, sizeof(interval), "%d", lim->interval_ms);
	snprintf(audit_interval, sizeof(audit_interval), "%d", lim->audit_interval_s);
	snprintf(tx_timeout, sizeof(tx_timeout), "%d",
	         lim->interval_ms * 2 > 1000 ? lim->interval_ms * 2 : 1000);
	snprintf(settings, sizeof(settings),
	         "lag=%d window=%d heartbeat=%d error_rate=%d payment_failure=%d min_samples=%d "
	         "stuck_order=%d interval_ms=%d audit_s=%d",
	         lim->lag_s, lim->window_s, lim->heartbeat_s, lim->error_rate_pct,
	         lim->payment_failure_pct, lim->min_samples, lim->stuck_order_s, lim->interval_ms,
	         lim->audit_interval_s);
	snprintf(lag, sizeof(lag), "%d", lim->lag_s);
	snprintf(window, sizeof(window), "%d", lim->window_s);
	snprintf(heartbeat, sizeof(heartbeat), "%d", lim->heartbeat_s);
	snprintf(error_rate, sizeof(error_rate), "%.2f", lim->error_rate_pct / 100.0);
	snprintf(payment, sizeof(payment), "%.2f", lim->payment_failure_pct / 100.0);
	snprintf(samples, sizeof(samples), "%d", lim->min_samples);

	if (!db_begin(c, NULL, true, e))
		return false;
	if ((r = db_exec(c, &st_lead, DB_PARAMS(tx_timeout), e)) == NULL)
		goto rollback;
	*led = db_get_bool(r, 0, 0);
	PQclear(r);
	if (*led) {
		if ((r = db_exec(c, &st_due, DB_PARAMS(interval, audit_interval, settings), e)) ==
		    NULL)
			goto rollback;
		*led = PQntuples(r) == 1;
		audit_due = *led && db_get_bool(r, 0, 0);
		if (*led && db_get(r, 0, 1)[0] != '\0' && strcmp(db_get(r, 0, 1), settings) != 0)
			log_warn(
			        "fault detector settings differ between workers (last tick: %s; "
			        "this worker: %s): faults may open under one and resolve under the "
			        "other; give every worker the same TERMINUS_FAULT_* values",
			        db_get(r, 0, 1), settings);
		PQclear(r);
	}
	if (!*led) {
		db_rollback(c);
		return true;
	}
	if ((r = db_exec(c, &st_forget, 0, NULL, e)) == NULL)
		goto rollback;
	PQclear(r);
	if (audit_due && !audit(c, lim, &found, e))
		goto rollback;
	r = db_exec(c, &st_detect,
	            DB_PARAMS(lag, window, heartbeat, error_rate, payment, samples,
	                      audit_due ? "t" : "f", found != NULL ? found : "[]"),
	            e);
	free(found);
	found = NULL;
	if (r == NULL)
		goto rollback;
	if (!db_commit(c, e)) {
		PQclear(r);
		goto rollback;
	}
	for (int i = 0; i < PQntuples(r); i++)
		log_change(r, i);
	PQclear(r);
	return true;
rollback:
	db_rollback(c);
	return false;
}

#define FAULT_AT PAGE_AT("f.opened_at")
#define FAULT_COLUMNS                                                                              \
	"f.id, f.rule, s.slug, f.subject, f.severity, f.summary, f.details::text, "                \
	"terminus_ts(f.opened_at), terminus_ts(f.last_seen_at), terminus_ts(f.resolved_at), " FAULT_AT

/* The key this page starts after (page.h). */
#define FAULTS_AFTER PAGE_AFTER_DESC("f.opened_at", "f.id", 2, 3)

static struct db_stmt st_list =
        DB_STMT("faults_list",
                "SELECT " FAULT_COLUMNS " FROM faults f LEFT JOIN stores s ON s.id = f.store_id "
                "WHERE ($1 = '' OR f.store_id = nullif($1, '')::uuid) "
                "  AND " FAULTS_AFTER " "
                "  AND ($5 = '' OR ($5 = 'open') = (f.resolved_at IS NULL)) "
                "ORDER BY f.opened_at DESC, f.id DESC LIMIT $4");

static json_t *fault_json(const PGresult *r, int row)
{
	json_t *details = json_loads(db_get(r, row, 6), 0, NULL);
	bool open = PQgetisnull(r, row, 9);

	return json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:o}", "id",
	                 db_get(r, row, 0), "rule", db_get(r, row, 1), "store",
	                 PQgetisnull(r, row, 2) ? json_null() : json_string(db_get(r, row, 2)),
	                 "subject", db_get(r, row, 3), "severity", db_get(r, row, 4), "summary",
	                 db_get(r, row, 5), "status", open ? "open" : "resolved", "details",
	                 details != NULL ? details : json_object(), "opened_at", db_get(r, row, 7),
	                 "last_seen_at", db_get(r, row, 8), "resolved_at",
	                 open ? json_null() : json_string(db_get(r, row, 9)));
}

bool faults_list(struct db_conn *c, const char *store_id, const char *status, const struct page *p,
                 json_t **out, struct err *e)
{
	return page_store_list(c, &st_list, store_id != NULL ? store_id : "", status, p, 10, 0,
	                       fault_json, out, e);
}

static struct db_stmt st_open_counts =
        DB_STMT("faults_open_counts",
                "SELECT rule, count(*) FROM faults WHERE resolved_at IS NULL GROUP BY rule");

void faults_metrics(struct db_conn *c, struct metrics_text *t)
{
	static const char help[] = "Faults open now, by rule (read from the database at scrape)";
	struct err e = ERR_INIT;
	PGresult *r = c != NULL ? db_exec_once(c, NULL, true, &st_open_counts, 0, NULL, &e) : NULL;

	if (r != NULL) {
		for (int i = 0; i < fault_rule_count; i++) {
			double n = 0;

			for (int row = 0; row < PQntuples(r); row++) {
				if (strcmp(db_get(r, row, 0), fault_rules[i]) == 0)
					n = (double)db_get_ll(r, row, 1);
			}
			metrics_gauge(t, "terminus_faults_open", help, "rule", fault_rules[i], n);
		}
	}
	PQclear(r);
	err_release(&e);
}
