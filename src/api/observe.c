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
	api_status_list(req, fault_status_valid, "status must be open or resolved", faults_list);
}

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* RFC 3339 date-time: 2026-11-25T10:00:00Z, with optional fraction and a Z or ±hh:mm offset.
 * Narrower than the RFC where PostgreSQL is: offsets up to ±15:59, years 1900–9998 (so that a
 * range rounded out to whole hours stays a four-digit year). */
static bool rfc3339_valid(const char *s)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int year, month, day;
	size_t n = strlen(s), i = 19;

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return false;
	year = digits(s, 4);
	month = digits(s + 5, 2);
	day = digits(s + 8, 2);
	if (year < 1900 || year > 9998 || month < 1 || month > 12 || day < 1 ||
	    day > mdays[month - 1] || digits(s + 11, 2) < 0 || digits(s + 11, 2) > 23 ||
	    digits(s + 14, 2) < 0 || digits(s + 14, 2) > 59 || digits(s + 17, 2) < 0 ||
	    digits(s + 17, 2) > 60)
		return false;
	if (month == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return false;
	if (s[i] == '.') {
		size_t start = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start || i - start > 9)
			return false;
	}
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z'))
		return true;
	return i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
	       digits(s + i + 1, 2) >= 0 && digits(s + i + 1, 2) <= 15 &&
	       digits(s + i + 4, 2) >= 0 && digits(s + i + 4, 2) <= 59;
}

/* GET /v1/stores/{store}/analytics?from=&to= — to defaults to now, from to 24 hours before to. */
void api_analytics(struct request *req)
{
	const char *from = req_query(req, "from"), *to = req_query(req, "to");
	struct err e = ERR_INIT;
	struct db_conn *c = NULL;
	json_t *out;

	if (from != NULL && !rfc3339_valid(from)) {
		err_field(&e, "invalid_query", "from",
		          "from must be an RFC 3339 date-time such as 2026-11-25T10:00:00Z");
		goto rollback;
	}
	if (to != NULL && !rfc3339_valid(to)) {
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
