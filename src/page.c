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

json_t *page_json(const PGresult *r, int limit, int cursor_col, page_row_fn row)
{
	int n = PQntuples(r);
	json_t *data = json_array();

	for (int i = 0; i < n && i < limit; i++)
		json_array_append_new(data, row(r, i));
	return json_pack("{s:o, s:o}", "data", data, "next_cursor",
	                 n > limit ? json_string(db_get(r, limit - 1, cursor_col)) : json_null());
}
