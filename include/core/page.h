/*
 * page.h — keyset pagination shared by every list endpoint, with opaque cursors.
 *
 * A list is ordered by (a timestamp, an id) of its own rows — created_at, opened_at or at, and
 * the row's uuid — never by a sequence shared by every store: a cursor made of a global number
 * told a store how many rows the others wrote between two of its pages. The cursor is the key
 * of the last row of a page, which the client has already seen (its timestamp to the
 * microsecond; flag history's id is a random uuid it does not see and that says nothing).
 * Keys never change once a row is written, so a walk sees every row that existed when it began
 * exactly once, whatever is inserted meanwhile (a new row appears at most once, or not at all).
 *
 * The cursor's text: "v1." then base64url (no padding) of 30 bytes: the list (1 byte), the
 * timestamp in microseconds since the Unix epoch (8, big-endian), the id (16), and a check (5):
 * FNV-1a over the version, those bytes and the list's scope (its store, flag, filter). The check
 * is not a secret MAC: a cursor only positions a walk inside a list the caller may read anyway,
 * so a forged one gains nothing. It makes a cursor that was altered, cut short, or taken from
 * another list, store or filter a clear 400 instead of a silent walk from somewhere else.
 * The version prefix lets a later scheme reject (or read) these ones by name.
 *
 * A query fetches limit + 1 rows: the extra row only says that there is a next page. Two of its
 * columns are the key the next cursor is made of: PAGE_AT(ts) and the id as text.
 */
#ifndef TERMINUS_PAGE_H
#define TERMINUS_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <libpq-fe.h>

struct err;

/* Which list a cursor walks: a cursor of one is refused by every other. Values are stored in
 * cursors; never renumber. */
enum page_list {
	PAGE_STORES = 1,
	PAGE_PRODUCTS = 2,
	PAGE_ORDERS = 3,
	PAGE_EVENTS = 4,
	PAGE_FLAG_HISTORY = 5,
	PAGE_FAULTS = 6,
};

#define PAGE_SCOPE_MAX  128
#define PAGE_CURSOR_LEN 43 /* "v1." + 40 base64url characters */

/* One page request: the list, what it is scoped to, the limit and, after the first page, the
 * key of the previous page's last row. */
struct page {
	enum page_list list;
	char scope[PAGE_SCOPE_MAX]; /* e.g. the store's id; "" for none */
	int limit;
	bool after;      /* false on the first page */
	long long at_us; /* the last row's timestamp, µs since the Unix epoch */
	char id[37];     /* the last row's id, lowercase */
};

/* The column of a list statement with its row's timestamp as a cursor holds it (exact:
 * extract returns numeric since PostgreSQL 14). */
#define PAGE_AT(ts) "(extract(epoch FROM " ts ") * 1000000)::bigint"
/* The key a statement starts after: $at ($at + 1 is the id); NULL parameters on the first page,
 * which put the start before every row (ascending) or after every row (descending). A row
 * comparison, so an index on (…, ts, id) serves it. */
#define PAGE_AFTER_ASC(ts, id, at, idp)                                                            \
	"(" ts ", " id ") > (coalesce(timestamptz 'epoch' + $" #at "::bigint * interval '1 "       \
	"microsecond', '-infinity'), coalesce($" #idp                                              \
	"::uuid, '00000000-0000-0000-0000-000000000000'))"
#define PAGE_AFTER_DESC(ts, id, at, idp)                                                           \
	"(" ts ", " id ") < (coalesce(timestamptz 'epoch' + $" #at "::bigint * interval '1 "       \
	"microsecond', 'infinity'), coalesce($" #idp                                               \
	"::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))"

typedef json_t *(*page_row_fn)(const PGresult *r, int row);

/* Parses ?limit= and ?cursor= (either may be NULL: absent) for list within scope (NULL: ""):
 * limit 1..LIST_LIMIT_MAX, default LIST_LIMIT_DEFAULT; cursor one this list returned. On a bad
 * value: false with a 400 invalid_query naming the field in e. */
bool page_params(const char *limit_text, const char *cursor_text, enum page_list list,
                 const char *scope, struct page *p, struct err *e);

/* The cursor of a row with key (at_us, id) in list/scope; out gets PAGE_CURSOR_LEN characters
 * and a NUL. False when id is not a UUID. */
bool page_cursor_encode(enum page_list list, const char *scope, long long at_us, const char *id,
                        char out[PAGE_CURSOR_LEN + 1]);
/* Reads a cursor of list/scope into p's key (p->list and p->scope untouched). False with *why,
 * a message for the client, when it is not one; never reads past text's NUL. */
bool page_cursor_decode(const char *text, enum page_list list, const char *scope, struct page *p,
                        const char **why);

/* p's key as statement parameters: at (NULL on the first page) and id (NULL likewise), and
 * limit + 1. */
void page_args(const struct page *p, char at[24], char lim[16], const char **at_param,
               const char **id_param);
/* New {"data":[row(0..limit-1)],"next_cursor":string|null}; at_col holds the key's PAGE_AT,
 * id_col its id. */
json_t *page_json(const PGresult *r, const struct page *p, int at_col, int id_col, page_row_fn row);

struct db_conn;
struct db_stmt;

/* Runs a store's list statement — parameters $1 store_id, $2 and $3 the key to start after
 * (PAGE_AFTER_*), $4 limit + 1, $5 status filter ("" for none) — and pages its rows. *out
 * new. */
bool page_store_list(struct db_conn *c, struct db_stmt *st, const char *store_id,
                     const char *status, const struct page *p, int at_col, int id_col,
                     page_row_fn row, json_t **out, struct err *e);

#endif
