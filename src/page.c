/*
 * page.c — keyset pagination (see page.h).
 */
#include <stdio.h>

#include "db.h"
#include "page.h"
#include "banned.h"

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
