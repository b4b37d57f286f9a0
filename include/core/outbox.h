/*
 * outbox.h — the transactional outbox (guarantees §4).
 *
 * An event is inserted in the same transaction as the state change that caused it. Whoever runs
 * it — the API inline on the synchronous checkout path, or a worker — holds a lease
 * (claimed_by, claimed_until); the event's database effects and its completion commit in one
 * transaction, and completion only succeeds for the lease holder, so an event's effects happen
 * exactly once however often it is run. A lapsed lease lets another runner take the event over.
 *
 * A lease also dies with its owner: a worker's handler thread registers the database session it
 * claims on (outbox_owner_register), and outbox_reap, which every worker runs about once a
 * second, gives back the leases of owners whose session has ended. PostgreSQL ends a killed
 * client's session within milliseconds, so a worker killed with -9 frees its events in about a
 * second; a hung one (SIGSTOP) keeps its sessions, and its leases hold until they lapse. The
 * claim neither reads nor writes any of this: its cost is one statement per connection and one
 * per second per worker.
 */
#ifndef TERMINUS_OUTBOX_H
#define TERMINUS_OUTBOX_H

#include <stdbool.h>
#include <jansson.h>
#include "err.h"

struct db_conn;
struct page;

struct outbox_event {
	char id[37];
	char store_id[37];
	char type[64];
	char aggregate_id[37];
	json_t *payload;   /* owned */
	int attempts;      /* attempts before this one */
	double created_at; /* epoch seconds; 0 when unknown */
	char traceparent[64];
};

void outbox_event_release(struct outbox_event *ev);

/* Inserts an event (inside the caller's transaction). With lease_owner set the event is born
 * claimed by that owner for OUTBOX_LEASE_S seconds. payload is borrowed. */
/* outbox_insert()'s statement, for tools that replay a checkout's SQL. */
struct db_stmt;
const struct db_stmt *outbox_insert_stmt(void);
bool outbox_insert(struct db_conn *c, const char *store_id, const char *type,
                   const char *aggregate_id, const json_t *payload, const char *lease_owner,
                   const char *traceparent, char id_out[37], struct err *e) MUST_CHECK;
/* Marks the event done if lease_owner still holds it (inside the handler's transaction).
 * *held false: the lease was lost, the caller must roll back. */
bool outbox_complete(struct db_conn *c, const char *event_id, const char *lease_owner, bool *held,
                     struct err *e) MUST_CHECK;
/* outbox_complete as its own transaction, in one round trip (c idle). */
bool outbox_complete_now(struct db_conn *c, const struct outbox_event *ev, const char *lease_owner,
                         bool *held, struct err *e) MUST_CHECK;
/* Records a failed attempt in its own transaction: releases the lease and schedules the next
 * attempt after base_ms * 2^attempts with full jitter, or marks the event dead after
 * max_attempts. *dead tells which. */
bool outbox_fail(struct db_conn *c, const struct outbox_event *ev, const char *lease_owner,
                 const char *error, int base_ms, int max_attempts, bool *dead,
                 struct err *e) MUST_CHECK;
/* Claims up to OUTBOX_BATCH due events for owner with a lease of OUTBOX_LEASE_S, round-robin
 * across stores with due work (each store a fair share of the batch, its oldest first), in one
 * statement that commits at once; rows another claimer is locking are skipped. events (room for
 * OUTBOX_BATCH) [0..*n) are filled; release each with outbox_event_release. */
bool outbox_claim(struct db_conn *c, const char *owner, struct outbox_event *events, int *n,
                  struct err *e) MUST_CHECK;
/* Records that owner (a handler thread of worker_id) claims on this connection's session. Call
 * on every new connection before its first claim: a lease owner whose registered session has
 * ended loses its leases to outbox_reap. c idle. */
bool outbox_owner_register(struct db_conn *c, const char *owner, const char *worker_id,
                           struct err *e) MUST_CHECK;
/* What one outbox_reap found. */
struct outbox_reaped {
	int owners;          /* lease owners whose session had ended (their rows deleted) */
	int released;        /* leases of theirs given back: claimable again at once */
	char forgotten[512]; /* ids of workers none of whose sessions is left, space-separated
	                      * (heartbeat rows deleted, which resolves their worker_heartbeat
	                      * fault); "" when none (truncated past its size) */
};
/* One pass of the reaper, as its own transaction (c idle): deletes the lease owners whose
 * session has ended and gives back their unexpired leases; deletes the heartbeat of every worker
 * whose heartbeat session and every lease owner's session have ended. A session is its backend's
 * pid and start time, so a reused pid is not mistaken for the old session. */
bool outbox_reap(struct db_conn *c, struct outbox_reaped *out, struct err *e) MUST_CHECK;
/* Gives an unstarted claim back (shutdown): due again at once for any worker. */
bool outbox_release(struct db_conn *c, const struct outbox_event *ev, const char *lease_owner,
                    struct err *e) MUST_CHECK;
/* Marks the event dead after its last failed attempt (inside the transaction that runs its
 * compensation). *held false when the lease was lost. */
bool outbox_mark_dead(struct db_conn *c, const struct outbox_event *ev, const char *lease_owner,
                      const char *error, bool *held, struct err *e) MUST_CHECK;
/* Milliseconds until the next unclaimed pending event is due (0 if one is due now), capped at
 * cap_ms; leases that lapse are noticed by the next poll (cap_ms). */
bool outbox_next_due_ms(struct db_conn *c, long long cap_ms, long long *ms,
                        struct err *e) MUST_CHECK;
/* A store's events, newest first; status may be NULL. *out new list envelope. */
bool outbox_list(struct db_conn *c, const char *store_id, const char *status, const struct page *p,
                 json_t **out, struct err *e) MUST_CHECK;
/* Backlog, in flight, dead, oldest due age: in total and per store. *out new. */
bool outbox_stats(struct db_conn *c, json_t **out, struct err *e) MUST_CHECK;
/* Appends the outbox gauges (backlog, in flight, scheduled, dead, oldest due age) to a metrics
 * scrape; on a database failure appends terminus_outbox_scrape_ok 0 instead. c idle. */
struct metrics_text;
void outbox_metrics(struct db_conn *c, struct metrics_text *t);
/* The workers' heartbeats: {"data":[{worker_id, started_at, seen_at, events_done,
 * seen_seconds_ago, status: alive|silent}], "heartbeat_timeout_seconds"}. */
bool outbox_workers(struct db_conn *c, int heartbeat_s, json_t **out, struct err *e) MUST_CHECK;
/* Dead → pending with attempts reset. *found false: no such event; *was_dead false: not dead. */
bool outbox_retry_dead(struct db_conn *c, const char *event_id, bool *found, bool *was_dead,
                       json_t **out, struct err *e) MUST_CHECK;
/* Deletes up to limit done events older than hours; *deleted how many. */
bool outbox_sweep(struct db_conn *c, int hours, int limit, int *deleted, struct err *e) MUST_CHECK;
bool outbox_status_valid(const char *status);

/* The delay before the attempt after `attempts` failures: uniform in [0, base * 2^attempts],
 * capped at one hour. rnd is a uniform random number in [0, 1). Pure; unit-tested. */
long long outbox_backoff_ms(int base_ms, int attempts, double rnd);

#endif
