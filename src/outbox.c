/*
 * outbox.c — inserting, completing and failing outbox events (see outbox.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <uuid/uuid.h>

#include "constants.h"
#include "db.h"
#include "outbox.h"
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

bool outbox_insert(struct db_conn *c, const char *store_id, const char *type,
                   const char *aggregate_id, const json_t *payload, const char *lease_owner,
                   const char *traceparent, char id_out[37], struct err *e)
{
	char lease[16];
	char *text = json_dumps(payload, JSON_COMPACT);
	uuid_t u;
	PGresult *r;

	if (text == NULL)
		abort();
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
                "       claimed_until = NULL, claimed_by = NULL, "
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
