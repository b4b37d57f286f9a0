/*
 * outbox.h — the transactional outbox (DESIGN §4).
 *
 * An event is inserted in the same transaction as the state change that caused it. Whoever runs
 * it — the API inline on the synchronous checkout path, or a worker — holds a lease
 * (claimed_by, claimed_until); the event's database effects and its completion commit in one
 * transaction, and completion only succeeds for the lease holder, so an event's effects happen
 * exactly once however often it is run. A lapsed lease lets another runner take the event over.
 */
#ifndef TERMINUS_OUTBOX_H
#define TERMINUS_OUTBOX_H

#include <stdbool.h>
#include <jansson.h>
#include "err.h"

struct db_conn;

struct outbox_event {
	char id[37];
	char store_id[37];
	char type[64];
	char aggregate_id[37];
	json_t *payload; /* owned */
	int attempts;    /* attempts before this one */
	char traceparent[64];
};

void outbox_event_release(struct outbox_event *ev);

/* Inserts an event (inside the caller's transaction). With lease_owner set the event is born
 * claimed by that owner for OUTBOX_LEASE_S seconds. payload is borrowed. */
bool outbox_insert(struct db_conn *c, const char *store_id, const char *type,
                   const char *aggregate_id, const json_t *payload, const char *lease_owner,
                   const char *traceparent, char id_out[37], struct err *e) MUST_CHECK;
/* Marks the event done if lease_owner still holds it (inside the handler's transaction).
 * *held false: the lease was lost, the caller must roll back. */
bool outbox_complete(struct db_conn *c, const char *event_id, const char *lease_owner, bool *held,
                     struct err *e) MUST_CHECK;
/* Records a failed attempt in its own transaction: releases the lease and schedules the next
 * attempt after base_ms * 2^attempts with full jitter, or marks the event dead after
 * max_attempts. *dead tells which. */
bool outbox_fail(struct db_conn *c, const struct outbox_event *ev, const char *lease_owner,
                 const char *error, int base_ms, int max_attempts, bool *dead,
                 struct err *e) MUST_CHECK;
/* The delay before the attempt after `attempts` failures: uniform in [0, base * 2^attempts],
 * capped at one hour. rnd is a uniform random number in [0, 1). Pure; unit-tested. */
long long outbox_backoff_ms(int base_ms, int attempts, double rnd);

#endif
