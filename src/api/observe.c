/*
 * api_observe.c — what the fault detector found, and a store's sales analytics.
 */
#include <string.h>

#include "analytics.h"
#include "api.h"
#include "db.h"
#include "faults.h"
#include "banned.h"

static bool fault_status_valid(const char *status)
{
	return strcmp(status, "open") == 0 || strcmp(status, "resolved") == 0;
}

/* GET /v1/ops/faults (every store and the platform's own) and
 * GET /v1/stores/{store}/faults (that store's). */
void api_faults_list(struct request *req)
{
	api_status_list(req, PAGE_FAULTS, fault_status_valid, "status must be open or resolved",
	                faults_list);
}

/* GET /v1/stores/{store}/analytics?from=&to= — to defaults to now, from to 24 hours before to. */
void api_analytics(struct request *req)
{
	const char *from = req_query(req, "from"), *to = req_query(req, "to");
	struct err e = ERR_INIT;
	struct db_conn *c = NULL;
	json_t *out;

	if (from != NULL && !analytics_instant_valid(from)) {
		err_field(&e, "invalid_query", "from",
		          "from must be an RFC 3339 date-time such as 2026-11-25T10:00:00Z");
		goto rollback;
	}
	if (to != NULL && !analytics_instant_valid(to)) {
		err_field(&e, "invalid_query", "to",
		          "to must be an RFC 3339 date-time such as 2026-11-25T10:00:00Z");
		goto rollback;
	}
	if ((c = api_begin(req, &e)) == NULL ||
	    !analytics_report(c, req->state->store.id, from != NULL ? from : "",
	                      to != NULL ? to : "", &out, &e))
		goto rollback;
	json_object_set_new(out, "store", json_string(req->state->store.slug));
	api_commit_reply(req, c, 200, out, &e);
	return;
rollback:
	api_rollback_fail(req, c, &e);
}
