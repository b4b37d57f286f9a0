/*
 * outbox.c — inserting, completing and failing outbox events (see outbox.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <uuid/uuid.h>

#include "constants.h"
#include "db.h"
#include "metrics.h"
#include "outbox.h"
#include "page.h"
#include "xalloc.h"
#include "banned.h"

void outbox_event_release(struct outbox_event *ev)
{
	json_decref(ev->payload);
	memset(ev, 0, sizeof(*ev));
}

static struct db_stmt st_insert = DB_STMT(
        "outbox_insert",
        "INSERT INTO outbox_events (id, store_id, type, aggregate_id, payload, claimed_by, "
        "                           claimed_until, traceparent) "
        "VALUES ($1, $2, $3, $4, $5::jsonb, nullif($6, ''), "
        "        CASE WHEN $6 = '' THEN NULL ELSE now() + make_interval(secs => $7::int) END, "
        "        nullif($8, ''))");

const struct db_stmt *outbox_insert_stmt(void)
{
	return &st_insert;
}

bool outbox_insert(struct db_conn *c, const char *store_id, const char *type,
                   const char *aggregate_id, const json_t *payload, const char *lease_owner,
                   const char *traceparent, char id_out[37], struct err *e)
{
	char lease[16];
	char *text = xjson_dumps(payload, JSON_COMPACT);
	uuid_t u;
	PGresult *r;

	uuid_generate_random(u);
	uuid_unparse_lower(u, id_out);
	snprintf(lease, sizeof(lease), "%d", OUTBOX_LEASE_S);
	r = db_exec(c, &st_insert,
	            DB_PARAMS(id_out, store_id, type, aggregate_id, text,
	                      lease_owner != NULL ? lease_owner : "", lease,
	                      traceparent != NULL ? traceparent : ""),
	            e);
	free(text);
	if (r == NULL)
		return false;
	PQclear(r);
	return true;
}

static struct db_stmt st_complete = DB_STMT(
        "outbox_complete",
        "UPDATE outbox_events SET status = 'done', done_at = now(), attempts = attempts + 1, "
        "       claimed_until = NULL, last_error = NULL "
        "WHERE id = $1 AND status = 'pending' AND claimed_by = $2");

bool outbox_complete(struct db_conn *c, const char *event_id, const char *lease_owner, bool *held,
                     struct err *e)
{
	PGresult *r = db_exec(c, &st_complete, DB_PARAMS(event_id, lease_owner), e);

	if (r == NULL)
		return false;
	*held = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	return true;
}

bool outbox_complete_now(struct db_conn *c, const struct outbox_event *ev, const char *lease_owner,
                         bool *held, struct err *e)
{
	PGresult *r = db_exec_once(c, ev->store_id, false, &st_complete,
	                           DB_PARAMS(ev->id, lease_owner), e);

	if (r == NULL)
		return false;
	*held = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	return true;
}

long long outbox_backoff_ms(int base_ms, int attempts, double rnd)
{
	long long cap = 3600LL * 1000;
	long long ceiling = base_ms;

	for (int i = 0; i < attempts && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	return (long long)(rnd * (double)(ceiling + 1));
}

static struct db_stmt st_fail =
        DB_STMT("outbox_fail",
                "UPDATE outbox_events SET attempts = attempts + 1, last_error = left($3, 1000), "
                "       last_failed_at = now(), claimed_until = NULL, claimed_by = NULL, "
                "       status = CASE WHEN attempts + 1 >= $5 THEN 'dead' ELSE 'pending' END, "
                "       available_at = now() + make_interval(secs => $4::double precision / 1000) "
                "WHERE id = $1 AND status = 'pending' AND claimed_by = $2 "
                "RETURNING status");

bool outbox_fail(struct db_conn *c, const struct outbox_event *ev, const char *lease_owner,
                 const char *error, int base_ms, int max_attempts, bool *dead, struct err *e)
{
	char delay[24], max[16];
	unsigned int rnd = 0;
	PGresult *r;

	*dead = false;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (unsigned int)random();
	snprintf(delay, sizeof(delay), "%lld",
	         outbox_backoff_ms(base_ms, ev->attempts, (double)rnd / 4294967296.0));
	snprintf(max, sizeof(max), "%d", max_attempts);
	r = db_exec_once(c, ev->store_id, false, &st_fail,
	                 DB_PARAMS(ev->id, lease_owner, error, delay, max), e);
	if (r == NULL)
		return false;
	*dead = PQntuples(r) == 1 && strcmp(db_get(r, 0, 0), "dead") == 0;
	PQclear(r);
	return true;
}

/*
 * The claim: a skip scan lists the stores that have due pending events not leased to anyone;
 * each of them gets a fair share of the batch (k = ceil(batch / stores)), and a lateral scan of its
 * queue, in order, locks its k oldest due unleased events with FOR UPDATE SKIP LOCKED — so
 * concurrent claimers pass over each other's rows instead of waiting, and one store's flood gets k
 * slots like everybody else. The batch is filled in rounds (every store's first event, then every
 * store's second); the UPDATE sets the lease, and the statement commits at once. Locking inside the
 * per-store scan, on the index whose order it is, leaves the planner nothing to choose: no join
 * back to the table through a pending-rows index, whose cost stale statistics can make look free
 * (migration 004 tells that story). The prices: a store with fewer due events than its share leaves
 * the batch short (the next claim follows at once); with more stores than the batch, one row per
 * store is locked and, past the batch, left at once; and the skip scan walks the index entries of
 * events not yet due or leased (retries in backoff), where it cannot skip.
 */
/* The batch size is written into the statement, not passed: as a parameter, a generic plan
 * prices LIMIT $n at a tenth of the rows and joined the batch back to the table with a sequential
 * scan (49 ms over 68,000 rows for 32 events, measured with auto_explain). */
#define CLAIM_BATCH_STR(n)  #n
#define CLAIM_BATCH_XSTR(n) CLAIM_BATCH_STR(n)
#define CLAIM_BATCH         CLAIM_BATCH_XSTR(OUTBOX_BATCH)
static struct db_stmt st_claim =
        DB_STMT("outbox_claim",
                "WITH RECURSIVE s AS ("
                "  (SELECT store_id FROM outbox_events "
                "   WHERE status = 'pending' AND available_at <= now() "
                "     AND (claimed_until IS NULL OR claimed_until < now()) "
                "   ORDER BY store_id LIMIT 1) "
                "  UNION ALL "
                "  SELECT (SELECT o.store_id FROM outbox_events o "
                "          WHERE o.status = 'pending' AND o.available_at <= now() "
                "            AND (o.claimed_until IS NULL OR o.claimed_until < now()) "
                "            AND o.store_id > s.store_id ORDER BY o.store_id LIMIT 1) "
                "  FROM s WHERE s.store_id IS NOT NULL), "
                "share AS (SELECT greatest(1, ceil(" CLAIM_BATCH
                "::numeric / greatest(count(*), 1)))::int AS k "
                "          FROM s WHERE s.store_id IS NOT NULL), "
                "picked AS MATERIALIZED ("
                "  SELECT c.id FROM ("
                "    SELECT l.id, l.available_at, "
                "           row_number() OVER (PARTITION BY l.store_id "
                "                              ORDER BY l.available_at, l.seq) AS rn "
                "    FROM s CROSS JOIN LATERAL ("
                "      SELECT e.id, e.store_id, e.available_at, e.seq FROM outbox_events e "
                "      WHERE e.store_id = s.store_id AND e.status = 'pending' "
                "        AND e.available_at <= now() "
                "        AND (e.claimed_until IS NULL OR e.claimed_until < now()) "
                "      ORDER BY e.available_at, e.seq LIMIT (SELECT k FROM share) "
                "      FOR UPDATE SKIP LOCKED) AS l "
                "    WHERE s.store_id IS NOT NULL) AS c "
                "  ORDER BY c.rn, c.available_at LIMIT " CLAIM_BATCH ") "
                "UPDATE outbox_events o SET claimed_by = $1, "
                "       claimed_until = now() + make_interval(secs => $2::int) "
                "FROM picked WHERE o.id = picked.id "
                "RETURNING o.id, o.store_id, o.type, o.aggregate_id, o.payload::text, o.attempts, "
                "          coalesce(o.traceparent, ''), extract(epoch FROM o.created_at)::float8");

bool outbox_claim(struct db_conn *c, const char *owner, struct outbox_event *events, int *n,
                  struct err *e)
{
	char lease[16];
	PGresult *r;

	*n = 0;
	snprintf(lease, sizeof(lease), "%d", OUTBOX_LEASE_S);
	r = db_exec_once(c, NULL, true, &st_claim, DB_PARAMS(owner, lease), e);
	if (r == NULL)
		return false;
	for (int i = 0; i < PQntuples(r) && i < OUTBOX_BATCH; i++) {
		struct outbox_event *ev = &events[i];

		memset(ev, 0, sizeof(*ev));
		snprintf(ev->id, sizeof(ev->id), "%s", db_get(r, i, 0));
		snprintf(ev->store_id, sizeof(ev->store_id), "%s", db_get(r, i, 1));
		snprintf(ev->type, sizeof(ev->type), "%s", db_get(r, i, 2));
		snprintf(ev->aggregate_id, sizeof(ev->aggregate_id), "%s", db_get(r, i, 3));
		ev->payload = json_loads(db_get(r, i, 4), 0, NULL);
		if (ev->payload == NULL)
			ev->payload = json_object(); /* the handler will report what is missing */
		ev->attempts = (int)db_get_ll(r, i, 5);
		snprintf(ev->traceparent, sizeof(ev->traceparent), "%s", db_get(r, i, 6));
		ev->created_at = strtod(db_get(r, i, 7), NULL);
		(*n)++;
	}
	PQclear(r);
	return true;
}

static struct db_stmt st_release = DB_STMT(
        "outbox_release", "UPDATE outbox_events SET claimed_by = NULL, claimed_until = NULL "
                          "WHERE id = $1 AND status = 'pending' AND claimed_by = $2");

bool outbox_release(struct db_conn *c, const struct outbox_event *ev, const char *lease_owner,
                    struct err *e)
{
	PGresult *r = db_exec_once(c, ev->store_id, false, &st_release,
	                           DB_PARAMS(ev->id, lease_owner), e);

	if (r == NULL)
		return false;
	PQclear(r);
	return true;
}

/*
 * Leases die with their owner's session (migration 005). The claim stays as it is — a row
 * update that changes no indexed column, so it is a HOT update, and that is why the session is
 * not stamped on the event: an index over it would make every claim write every index of the
 * table. Instead each lease owner (a handler thread) has one row in lease_owners naming the
 * session it claims on, written when it connects; the reaper reads that small table once a
 * second and touches outbox_events only when a session has ended.
 */
static struct db_stmt st_owner_register = DB_STMT(
        "outbox_owner_register",
        "INSERT INTO lease_owners (owner, worker_id, pid, backend_start) "
        "VALUES ($1, $2, pg_backend_pid(), terminus_backend_start(pg_backend_pid())) "
        "ON CONFLICT (owner) DO UPDATE SET worker_id = EXCLUDED.worker_id, pid = EXCLUDED.pid, "
        "  backend_start = EXCLUDED.backend_start, registered_at = now()");

bool outbox_owner_register(struct db_conn *c, const char *owner, const char *worker_id,
                           struct err *e)
{
	PGresult *r =
	        db_exec_once(c, NULL, true, &st_owner_register, DB_PARAMS(owner, worker_id), e);

	if (r == NULL)
		return false;
	PQclear(r);
	return true;
}

/*
 * The reaper, in one statement:
 *   gone       lease owners whose session has ended (no backend with that pid and start time);
 *   released   their unexpired leases, given back (a lapsed one is claimable anyway);
 *   forgotten  heartbeats of workers whose heartbeat session has ended and that have no lease
 *              owner left but those just found gone.
 * "backend_start < statement_timestamp()" guards against a row re-registered by a session that
 * started after this statement read the server's list of sessions (a concurrent upsert that the
 * DELETE re-checks): such a session is never judged by a list that predates it. The release is
 * gated by EXISTS (SELECT 1 FROM gone), a one-time filter, so that a pass that finds nothing —
 * nearly every pass — does not scan the outbox at all. Two reapers racing for the same rows:
 * the second waits for the first's row locks and then finds the rows gone.
 */
static struct db_stmt st_reap =
        DB_STMT("outbox_reap",
                "WITH gone AS ("
                "  DELETE FROM lease_owners s "
                "  WHERE s.backend_start < statement_timestamp() "
                "    AND terminus_backend_start(s.pid) IS DISTINCT FROM s.backend_start "
                "  RETURNING s.owner, s.worker_id), "
                "released AS ("
                "  UPDATE outbox_events e SET claimed_by = NULL, claimed_until = NULL "
                "  WHERE EXISTS (SELECT 1 FROM gone) AND e.status = 'pending' "
                "    AND e.claimed_until > now() AND e.claimed_by IN (SELECT owner FROM gone) "
                "  RETURNING e.id), "
                "forgotten AS ("
                "  DELETE FROM worker_heartbeats h "
                "  WHERE h.backend_start IS NOT NULL AND h.backend_start < statement_timestamp() "
                "    AND terminus_backend_start(h.pid) IS DISTINCT FROM h.backend_start "
                "    AND NOT EXISTS (SELECT 1 FROM lease_owners s WHERE s.worker_id = h.worker_id "
                "                    AND s.owner NOT IN (SELECT owner FROM gone)) "
                "  RETURNING h.worker_id) "
                "SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM released), "
                "       coalesce((SELECT string_agg(worker_id, ' ' ORDER BY worker_id) "
                "                 FROM forgotten), '')");

bool outbox_reap(struct db_conn *c, struct outbox_reaped *out, struct err *e)
{
	PGresult *r = db_exec_once(c, NULL, true, &st_reap, 0, NULL, e);

	memset(out, 0, sizeof(*out));
	if (r == NULL)
		return false;
	out->owners = (int)db_get_ll(r, 0, 0);
	out->released = (int)db_get_ll(r, 0, 1);
	snprintf(out->forgotten, sizeof(out->forgotten), "%s", db_get(r, 0, 2));
	PQclear(r);
	return true;
}

static struct db_stmt st_dead =
        DB_STMT("outbox_mark_dead",
                "UPDATE outbox_events SET status = 'dead', attempts = attempts + 1, "
                "       last_error = left($3, 1000), last_failed_at = now(), claimed_until = NULL, "
                "       done_at = now() "
                "WHERE id = $1 AND status = 'pending' AND claimed_by = $2");

bool outbox_mark_dead(struct db_conn *c, const struct outbox_event *ev, const char *lease_owner,
                      const char *error, bool *held, struct err *e)
{
	PGresult *r = db_exec(c, &st_dead, DB_PARAMS(ev->id, lease_owner, error), e);

	if (r == NULL)
		return false;
	*held = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	return true;
}

static struct db_stmt st_next_due = DB_STMT(
        "outbox_next_due",
        "SELECT coalesce((SELECT greatest(0, extract(epoch FROM available_at - now()) * 1000)::bigint "
        "                 FROM outbox_events "
        "                 WHERE status = 'pending' "
        "                   AND (claimed_until IS NULL OR claimed_until < now()) "
        "                 ORDER BY available_at LIMIT 1), "
        "                $1::bigint)");

bool outbox_next_due_ms(struct db_conn *c, long long cap_ms, long long *ms, struct err *e)
{
	char cap[24];
	PGresult *r;

	snprintf(cap, sizeof(cap), "%lld", cap_ms);
	r = db_exec_once(c, NULL, true, &st_next_due, DB_PARAMS(cap), e);
	if (r == NULL)
		return false;
	*ms = db_get_ll(r, 0, 0);
	if (*ms > cap_ms)
		*ms = cap_ms;
	PQclear(r);
	return true;
}

static const char *const event_statuses[] = {"pending", "done", "dead"};

bool outbox_status_valid(const char *status)
{
	for (size_t i = 0; i < sizeof(event_statuses) / sizeof(event_statuses[0]); i++) {
		if (strcmp(event_statuses[i], status) == 0)
			return true;
	}
	return false;
}

#define EVENT_COLUMNS                                                                              \
	"id, type, aggregate_id, status, attempts, last_error, payload::text, "                    \
	"terminus_ts(available_at), terminus_ts(created_at), terminus_ts(done_at), "               \
	"claimed_by IS NOT NULL AND claimed_until > now(), " PAGE_AT("created_at")

static json_t *event_json(const PGresult *r, int row)
{
	const char *err = db_get(r, row, 5);
	const char *done = db_get(r, row, 9);
	json_t *payload = json_loads(db_get(r, row, 6), 0, NULL);

	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:b, s:o, s:o, s:s, s:s, s:o}", "id",
	                 db_get(r, row, 0), "type", db_get(r, row, 1), "aggregate_id",
	                 db_get(r, row, 2), "status", db_get(r, row, 3), "attempts",
	                 (int)db_get_ll(r, row, 4), "in_flight", db_get_bool(r, row, 10),
	                 "last_error", err != NULL ? json_string(err) : json_null(), "payload",
	                 payload != NULL ? payload : json_null(), "available_at", db_get(r, row, 7),
	                 "created_at", db_get(r, row, 8), "done_at",
	                 done != NULL ? json_string(done) : json_null());
}

/* The key this page starts after (page.h). */
#define EVENTS_AFTER PAGE_AFTER_DESC("created_at", "id", 2, 3)

static struct db_stmt st_list =
        DB_STMT("outbox_list", "SELECT " EVENT_COLUMNS " FROM outbox_events "
                               "WHERE store_id = $1 AND " EVENTS_AFTER " "
                               "  AND ($5 = '' OR status = $5) "
                               "ORDER BY created_at DESC, id DESC LIMIT $4");

bool outbox_list(struct db_conn *c, const char *store_id, const char *status, const struct page *p,
                 json_t **out, struct err *e)
{
	return page_store_list(c, &st_list, store_id, status, p, 11, 0, event_json, out, e);
}

static struct db_stmt st_stats = DB_STMT(
        "outbox_stats",
        "SELECT s.slug, "
        "       count(*) FILTER (WHERE e.status = 'pending' AND e.available_at <= now() "
        "                        AND (e.claimed_until IS NULL OR e.claimed_until < now())), "
        "       count(*) FILTER (WHERE e.status = 'pending' AND e.claimed_until >= now()), "
        "       count(*) FILTER (WHERE e.status = 'pending' AND e.available_at > now() "
        "                        AND (e.claimed_until IS NULL OR e.claimed_until < now())), "
        "       count(*) FILTER (WHERE e.status = 'dead'), "
        "       coalesce(extract(epoch FROM now() - min(e.available_at) FILTER ("
        "         WHERE e.status = 'pending' AND e.available_at <= now())), 0)::float8 "
        "FROM outbox_events e JOIN stores s ON s.id = e.store_id "
        "WHERE e.status IN ('pending', 'dead') GROUP BY s.slug ORDER BY s.slug");

bool outbox_stats(struct db_conn *c, json_t **out, struct err *e)
{
	PGresult *r = db_exec(c, &st_stats, 0, NULL, e);
	long long due = 0, flight = 0, later = 0, dead = 0;
	double oldest = 0;
	json_t *stores;

	if (r == NULL)
		return false;
	stores = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		/* Milliseconds are precision enough, and print without float noise. */
		double age = round(strtod(db_get(r, i, 5), NULL) * 1000) / 1000;

		due += db_get_ll(r, i, 1);
		flight += db_get_ll(r, i, 2);
		later += db_get_ll(r, i, 3);
		dead += db_get_ll(r, i, 4);
		if (age > oldest)
			oldest = age;
		json_array_append_new(stores, json_pack("{s:s, s:I, s:I, s:I, s:I, s:f}", "store",
		                                        db_get(r, i, 0), "backlog",
		                                        (json_int_t)db_get_ll(r, i, 1), "in_flight",
		                                        (json_int_t)db_get_ll(r, i, 2), "scheduled",
		                                        (json_int_t)db_get_ll(r, i, 3), "dead",
		                                        (json_int_t)db_get_ll(r, i, 4),
		                                        "oldest_due_age_seconds", age));
	}
	PQclear(r);
	*out = json_pack("{s:I, s:I, s:I, s:I, s:f, s:o}", "backlog", (json_int_t)due, "in_flight",
	                 (json_int_t)flight, "scheduled", (json_int_t)later, "dead",
	                 (json_int_t)dead, "oldest_due_age_seconds", oldest, "stores", stores);
	return true;
}

void outbox_metrics(struct db_conn *c, struct metrics_text *t)
{
	static const char *const states[] = {"backlog", "in_flight", "scheduled", "dead"};
	struct err e = ERR_INIT;
	json_t *stats = NULL;
	bool ok = c != NULL && db_begin(c, NULL, true, &e) && outbox_stats(c, &stats, &e);

	if (c != NULL)
		db_rollback(c);
	metrics_gauge(t, "terminus_outbox_scrape_ok",
	              "1 when the outbox gauges below were read from the database", NULL, NULL,
	              ok ? 1 : 0);
	if (ok) {
		for (size_t i = 0; i < 4; i++)
			metrics_gauge(
			        t, "terminus_outbox_events",
			        "Outbox events by state: backlog (due, unclaimed), in_flight, "
			        "scheduled (waiting for a retry), dead",
			        "state", states[i],
			        (double)json_integer_value(json_object_get(stats, states[i])));
		metrics_gauge(
		        t, "terminus_outbox_oldest_due_age_seconds",
		        "Age of the oldest due event (claimed or not): how long the oldest waiting work has waited",
		        NULL, NULL,
		        json_real_value(json_object_get(stats, "oldest_due_age_seconds")));
	}
	json_decref(stats);
	err_release(&e);
}

/* Every worker's heartbeat row, newest started first; silent = not seen for heartbeat_s. A
 * stopped worker deletes its row; a killed one's goes once none of its sessions is left
 * (outbox_reap); a hung one's stays, silent. */
static struct db_stmt st_workers =
        DB_STMT("outbox_workers",
                "SELECT worker_id, terminus_ts(started_at), terminus_ts(seen_at), events_done, "
                "       extract(epoch FROM now() - seen_at)::float8, "
                "       seen_at < now() - make_interval(secs => $1::int) "
                "FROM worker_heartbeats ORDER BY started_at DESC, worker_id");

bool outbox_workers(struct db_conn *c, int heartbeat_s, json_t **out, struct err *e)
{
	char hb[16];
	PGresult *r;
	json_t *data;

	snprintf(hb, sizeof(hb), "%d", heartbeat_s);
	if ((r = db_exec(c, &st_workers, DB_PARAMS(hb), e)) == NULL)
		return false;
	data = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		double age = round(strtod(db_get(r, i, 4), NULL) * 1000) / 1000;

		json_array_append_new(
		        data,
		        json_pack("{s:s, s:s, s:s, s:I, s:f, s:s}", "worker_id", db_get(r, i, 0),
		                  "started_at", db_get(r, i, 1), "seen_at", db_get(r, i, 2),
		                  "events_done", (json_int_t)db_get_ll(r, i, 3), "seen_seconds_ago",
		                  age < 0 ? 0 : age, "status",
		                  strcmp(db_get(r, i, 5), "t") == 0 ? "silent" : "alive"));
	}
	PQclear(r);
	*out = json_pack("{s:o, s:i}", "data", data, "heartbeat_timeout_seconds", heartbeat_s);
	return true;
}

static struct db_stmt st_retry = DB_STMT(
        "outbox_retry_dead",
        "WITH u AS (UPDATE outbox_events SET status = 'pending', attempts = 0, "
        "           available_at = now(), claimed_by = NULL, claimed_until = NULL, done_at = NULL "
        "           WHERE id = $1 AND status = 'dead' RETURNING id) "
        "SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM outbox_events WHERE id = $1)");

static struct db_stmt st_get =
        DB_STMT("outbox_get", "SELECT " EVENT_COLUMNS " FROM outbox_events WHERE id = $1");

bool outbox_retry_dead(struct db_conn *c, const char *event_id, bool *found, bool *was_dead,
                       json_t **out, struct err *e)
{
	PGresult *r = db_exec(c, &st_retry, DB_PARAMS(event_id), e);

	*out = NULL;
	if (r == NULL)
		return false;
	*was_dead = db_get_ll(r, 0, 0) == 1;
	*found = db_get_ll(r, 0, 1) == 1;
	PQclear(r);
	if (!*found)
		return true;
	r = db_exec(c, &st_get, DB_PARAMS(event_id), e);
	if (r == NULL)
		return false;
	if (PQntuples(r) == 1)
		*out = event_json(r, 0);
	PQclear(r);
	return true;
}

/* Done events past retention go, with their processed-events guard rows (analytics.h). */
static struct db_stmt st_sweep = DB_STMT(
        "outbox_sweep", "WITH d AS (DELETE FROM outbox_events WHERE id IN ("
                        "             SELECT id FROM outbox_events WHERE status = 'done' "
                        "               AND done_at < now() - make_interval(hours => $1::int) "
                        "             LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id), "
                        "p AS (DELETE FROM processed_events WHERE event_id IN (SELECT id FROM d)) "
                        "SELECT count(*) FROM d");

bool outbox_sweep(struct db_conn *c, int hours, int limit, int *deleted, struct err *e)
{
	char h[16], lim[16];
	PGresult *r;

	snprintf(h, sizeof(h), "%d", hours);
	snprintf(lim, sizeof(lim), "%d", limit);
	r = db_exec_once(c, NULL, true, &st_sweep, DB_PARAMS(h, lim), e);
	if (r == NULL)
		return false;
	*deleted = (int)db_get_ll(r, 0, 0);
	PQclear(r);
	return true;
}
