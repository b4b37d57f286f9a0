/*
 * page.c — keyset pagination (see page.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "constants.h"
#include "db.h"
#include "err.h"
#include "page.h"
#include "banned.h"

bool page_params(const char *limit_text, const char *cursor_text, int *limit, long long *cursor,
                 struct err *e)
{
	char *end;

	*limit = LIST_LIMIT_DEFAULT;
	*cursor = 0;
	if (limit_text != NULL) {
		long v;

		errno = 0;
		v = strtol(limit_text, &end, 10);
		if (end == limit_text || *end != '\0' || errno != 0 || v < 1 ||
		    v > LIST_LIMIT_MAX) {
			err_set(e, 400, "invalid_query", "limit must be an integer from 1 to %d",
			        LIST_LIMIT_MAX);
			err_detail(e, "field", json_string("limit"));
			return false;
		}
		*limit = (int)v;
	}
	if (cursor_text != NULL) {
		long long v;

		errno = 0;
		v = strtoll(cursor_text, &end, 10);
		if (end == cursor_text || *end != '\0' || errno != 0 || v < 1) {
			err_set(e, 400, "invalid_query", "cursor is not one this API returned");
			err_detail(e, "field", json_string("cursor"));
			return false;
		}
		*cursor = v;
	}
	return true;
}

void page_args(long long cursor, int limit, char cur[24], char lim[16])
{
	snprintf(cur, 24, "%lld", cursor);
	snprintf(lim, 16, "%d", limit + 1);
}

bool page_store_list(struct db_conn *c, struct db_stmt *st, const char *store_id,
                     const char *status, long long cursor, int limit, int cursor_col,
                     page_row_fn row, json_t **out, struct err *e)
{
	char cur[24], lim[16];
	PGresult *r;

	page_args(cursor, limit, cur, lim);
	r = db_exec(c, st, DB_PARAMS(store_id, cur, lim, status != NULL ? status : ""), e);
	if (r == NULL)
		return false;
	*out = page_json(r, limit, cursor_col, row);
	PQclear(r);
	return true;
}

json_t *page_json(const PGresult *r, int limit, int cursor_col, page_row_fn row)
{
	int n = PQntuples(r);
	json_t *data = json_array();

	for (int i = 0; i < n && i < limit; i++)
		json_array_append_new(data, row(r, i));
	return json_pack("{s:o, s:o}", "data", data, "next_cursor",
	                 n > limit ? json_string(db_get(r, limit - 1, cursor_col)) : json_null());
}
