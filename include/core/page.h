/*
 * page.h — keyset pagination shared by every list endpoint.
 *
 * Lists are ordered by an identity column (seq); the cursor is the seq of the last row of a page
 * and the next page asks for rows past it. A query fetches limit + 1 rows: the extra row only
 * says that there is a next page.
 */
#ifndef TERMINUS_PAGE_H
#define TERMINUS_PAGE_H

#include <stdbool.h>
#include <jansson.h>
#include <libpq-fe.h>

struct err;

typedef json_t *(*page_row_fn)(const PGresult *r, int row);

/* Parses ?limit= and ?cursor= (either may be NULL: absent): limit 1..LIST_LIMIT_MAX, default
 * LIST_LIMIT_DEFAULT; cursor a positive integer this API returned, default 0 (first page). On a
 * bad value: false with a 400 invalid_query naming the field in e. */
bool page_params(const char *limit_text, const char *cursor_text, int *limit, long long *cursor,
                 struct err *e);
/* Formats the cursor and limit + 1 as statement parameters. */
void page_args(long long cursor, int limit, char cur[24], char lim[16]);
/* New {"data":[row(0..limit-1)],"next_cursor":string|null}; cursor_col holds seq. */
json_t *page_json(const PGresult *r, int limit, int cursor_col, page_row_fn row);

struct db_conn;
struct db_stmt;

/* Runs a store's list statement — parameters $1 store_id, $2 cursor, $3 limit + 1, $4 status
 * filter ("" for none) — and pages its rows. *out new. */
bool page_store_list(struct db_conn *c, struct db_stmt *st, const char *store_id,
                     const char *status, long long cursor, int limit, int cursor_col,
                     page_row_fn row, json_t **out, struct err *e);

#endif
