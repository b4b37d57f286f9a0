/*
 * api_ops.c — looking at the outbox: a store's events, the operator's backlog view, and
 * sending a dead event back to the queue.
 */
#include "api.h"
#include "app.h"
#include "db.h"
#include "notifier.h"
#include "outbox.h"
#include "banned.h"

void api_events_list(struct request *req)
{
	api_status_list(req, PAGE_EVENTS, outbox_status_valid,
	                "status must be pending, done or dead", outbox_list);
}

/* An operator view: one read-only transaction across all stores, answered 200. */
typedef bool (*ops_read_fn)(struct request *req, struct db_conn *c, json_t **out, struct err *e);

static void ops_reply(struct request *req, ops_read_fn read)
{
	struct err e = ERR_INIT;
	struct db_conn *c = api_db(req, &e);
	json_t *out;

	if (c == NULL || !db_begin(c, NULL, true, &e)) {
		api_fail(req, &e);
		return;
	}
	if (!read(req, c, &out, &e)) {
		api_rollback_fail(req, c, &e);
		return;
	}
	api_commit_reply(req, c, 200, out, &e);
}

static bool read_outbox(struct request *req, struct db_conn *c, json_t **out, struct err *e)
{
	(void)req;
	return outbox_stats(c, out, e);
}

static bool read_workers(struct request *req, struct db_conn *c, json_t **out, struct err *e)
{
	return outbox_workers(c, api_app(req)->cfg.fault_heartbeat_s, out, e);
}

void api_ops_outbox(struct request *req)
{
	ops_reply(req, read_outbox);
}

void api_ops_workers(struct request *req)
{
	ops_reply(req, read_workers);
}

void api_ops_retry_dead(struct request *req)
{
	struct err e = ERR_INIT;
	struct db_conn *c;
	bool found = false, was_dead = false;
	char id[37];
	json_t *out = NULL;

	if (!api_uuid_param(req, "id", id))
		return;
	if ((c = api_db(req, &e)) == NULL || !db_begin(c, NULL, true, &e)) {
		api_fail(req, &e);
		return;
	}
	if (!outbox_retry_dead(c, id, &found, &was_dead, &out, &e)) {
		api_rollback_fail(req, c, &e);
		return;
	}
	if (!found || !was_dead) {
		json_decref(out);
		if (!found)
			err_set(&e, 404, "not_found", "no event %s", id);
		else
			err_set(&e, 409, "event_not_dead", "only dead events can be retried");
		api_rollback_fail(req, c, &e);
		return;
	}
	if (!db_commit(c, &e)) {
		json_decref(out);
		api_fail(req, &e);
		return;
	}
	notifier_poke(api_app(req)->notifier);
	reply_json(req, 200, out);
}
