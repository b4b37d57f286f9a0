/*
 * api_flags.c — a store's feature flags: effective values, audited changes, history.
 */
#include <stdio.h>

#include "api.h"
#include "app.h"
#include "db.h"
#include "flags.h"
#include "banned.h"

void api_flags_list(struct request *req)
{
	struct err e = ERR_INIT;
	struct db_conn *c;
	json_t *list;

	if ((c = api_begin(req, &e)) == NULL ||
	    !flags_list_json(c, req->state->store.id, &list, &e)) {
		api_rollback_fail(req, c, &e);
		return;
	}
	api_commit_reply(req, c, 200, json_pack("{s:o}", "data", list), &e);
}

static bool flag_param(struct request *req, enum flag_id *id)
{
	const char *key = router_param(&req->state->params, "key");
	struct err e = ERR_INIT;

	if (key != NULL && flags_lookup_key(key, id))
		return true;
	err_set(&e, 404, "not_found", "no flag %s", key != NULL ? key : "");
	api_fail(req, &e);
	return false;
}

static const struct jsonv_field flag_fields[] = {
        {"enabled", JV_BOOL, true, 0, 0},
        {"rollout_percent", JV_INTEGER, false, 0, 100},
};

void api_flags_put(struct request *req)
{
	struct err e = ERR_INIT;
	struct db_conn *c;
	enum flag_id id;
	json_t *body, *out;

	if (!flag_param(req, &id))
		return;
	body = api_body(req, flag_fields, sizeof(flag_fields) / sizeof(flag_fields[0]));
	if (body == NULL)
		return;
	if ((c = api_begin(req, &e)) == NULL ||
	    !flags_set(c, req->state->store.id, id, jsonv_bool(body, "enabled", false),
	               (int)jsonv_int(body, "rollout_percent", 100), req->state->actor, &out, &e)) {
		api_rollback_fail(req, c, &e);
	} else if (!db_commit(c, &e)) {
		json_decref(out);
		api_fail(req, &e);
	} else {
		/* This process sees its own change at once; the others within FLAG_POLL_MS. */
		flags_invalidate(api_app(req)->flags);
		reply_json(req, 200, out);
	}
	json_decref(body);
}

void api_flags_history(struct request *req)
{
	struct err e = ERR_INIT;
	struct db_conn *c = NULL;
	enum flag_id id;
	json_t *out;
	struct page p;
	char scope[PAGE_SCOPE_MAX];

	if (!flag_param(req, &id))
		return;
	/* One flag's history in one store: another flag's cursor is refused. */
	snprintf(scope, sizeof(scope), "%s/%s", req->state->store.id, flags_key(id));
	if (!api_list_params(req, PAGE_FLAG_HISTORY, scope, &p, &e) ||
	    (c = api_begin(req, &e)) == NULL ||
	    !flags_history_json(c, req->state->store.id, id, &p, &out, &e)) {
		api_rollback_fail(req, c, &e);
		return;
	}
	api_commit_reply(req, c, 200, out, &e);
}
