/*
 * page.c — keyset pagination and its opaque cursors (see page.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constants.h"
#include "db.h"
#include "err.h"
#include "page.h"
#include "banned.h"

#define CURSOR_PREFIX  "v1."
#define CURSOR_BYTES   30 /* list 1, at 8, id 16, check 5 */
#define CURSOR_CHECKED 25 /* the bytes the check covers besides the scope */
#define CURSOR_B64     40 /* CURSOR_BYTES * 4 / 3: a multiple of 3, so no padding */

/* Timestamps a cursor may carry: from the epoch to the end of year 9999, what PostgreSQL's
 * timestamptz holds and what 'epoch' + n µs cannot overflow. */
#define AT_US_MAX 253402300800000000LL

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	return -1;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* 36-character UUID text (8-4-4-4-12) to 16 bytes. */
static bool uuid_bytes(const char *text, unsigned char out[16])
{
	size_t n = 0;

	for (size_t i = 0; i < 36; i++) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (text[i] != '-')
				return false;
			continue;
		}
		if ((hi = hex_value(text[i])) < 0 || (lo = hex_value(text[i + 1])) < 0)
			return false;
		out[n++] = (unsigned char)(hi << 4 | lo);
		i++;
	}
	return text[36] == '\0';
}

static void uuid_text(const unsigned char in[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[in[i] >> 4];
		out[o++] = hex[in[i] & 15];
	}
	out[o] = '\0';
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The check of a cursor's first CURSOR_CHECKED bytes in scope. The NUL after the prefix keeps
 * the scope from sliding into the bytes. */
static void cursor_check(const unsigned char raw[CURSOR_CHECKED], const char *scope,
                         unsigned char out[5])
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = fnv1a(h, CURSOR_PREFIX, sizeof(CURSOR_PREFIX));
	h = fnv1a(h, raw, CURSOR_CHECKED);
	h = fnv1a(h, scope, strlen(scope));
	for (int i = 0; i < 5; i++)
		out[i] = (unsigned char)(h >> (56 - 8 * i));
}

bool page_cursor_encode(enum page_list list, const char *scope, long long at_us, const char *id,
                        char out[PAGE_CURSOR_LEN + 1])
{
	unsigned char raw[CURSOR_BYTES];
	uint64_t at = (uint64_t)at_us;
	size_t o = sizeof(CURSOR_PREFIX) - 1;

	out[0] = '\0';
	raw[0] = (unsigned char)list;
	for (int i = 0; i < 8; i++)
		raw[1 + i] = (unsigned char)(at >> (56 - 8 * i));
	if (!uuid_bytes(id, raw + 9))
		return false;
	cursor_check(raw, scope != NULL ? scope : "", raw + CURSOR_CHECKED);
	memcpy(out, CURSOR_PREFIX, o);
	for (size_t i = 0; i < CURSOR_BYTES; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
	return true;
}

bool page_cursor_decode(const char *text, enum page_list list, const char *scope, struct page *p,
                        const char **why)
{
	const size_t plen = sizeof(CURSOR_PREFIX) - 1;
	unsigned char raw[CURSOR_BYTES], check[5];
	uint64_t at = 0;
	size_t n = strnlen(text, PAGE_CURSOR_LEN + 1);

	*why = "cursor is not one this API returned";
	if (n > 1 && text[0] == 'v' && strncmp(text, CURSOR_PREFIX, plen) != 0) {
		/* v<digits>. of another version (a future one, or a past one we no longer read). */
		size_t i = 1;

		while (i < n && text[i] >= '0' && text[i] <= '9')
			i++;
		if (i > 1 && i < n && text[i] == '.') {
			*why = "cursor is of another version of this API; start the list again without "
			       "a cursor";
			return false;
		}
	}
	if (n != PAGE_CURSOR_LEN || strncmp(text, CURSOR_PREFIX, plen) != 0)
		return false;
	for (size_t i = 0, o = 0; i < CURSOR_B64; i += 4) {
		uint32_t v = 0;

		for (size_t j = 0; j < 4; j++) {
			int d = b64url_value(text[plen + i + j]);

			if (d < 0)
				return false;
			v = v << 6 | (uint32_t)d;
		}
		raw[o++] = (unsigned char)(v >> 16);
		raw[o++] = (unsigned char)(v >> 8);
		raw[o++] = (unsigned char)v;
	}
	if (raw[0] != (unsigned char)list) {
		*why = "cursor belongs to another list";
		return false;
	}
	cursor_check(raw, scope != NULL ? scope : "", check);
	if (memcmp(check, raw + CURSOR_CHECKED, sizeof(check)) != 0) {
		*why = "cursor was altered or belongs to another store or filter";
		return false;
	}
	for (int i = 0; i < 8; i++)
		at = at << 8 | raw[1 + i];
	/* Only a forged cursor can get here with a timestamp the API never made; refusing it keeps
	 * the statement's arithmetic in range (a database error would be a 500). */
	if (at > (uint64_t)AT_US_MAX)
		return false;
	p->after = true;
	p->at_us = (long long)at;
	uuid_text(raw + 9, p->id);
	return true;
}

bool page_params(const char *limit_text, const char *cursor_text, enum page_list list,
                 const char *scope, struct page *p, struct err *e)
{
	memset(p, 0, sizeof(*p));
	p->list = list;
	snprintf(p->scope, sizeof(p->scope), "%s", scope != NULL ? scope : "");
	p->limit = LIST_LIMIT_DEFAULT;
	if (limit_text != NULL) {
		char *end;
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
		p->limit = (int)v;
	}
	if (cursor_text != NULL) {
		const char *why;

		if (!page_cursor_decode(cursor_text, list, p->scope, p, &why)) {
			err_set(e, 400, "invalid_query", "%s", why);
			err_detail(e, "field", json_string("cursor"));
			return false;
		}
	}
	return true;
}

void page_args(const struct page *p, char at[24], char lim[16], const char **at_param,
               const char **id_param)
{
	snprintf(at, 24, "%lld", p->at_us);
	snprintf(lim, 16, "%d", p->limit + 1);
	*at_param = p->after ? at : NULL;
	*id_param = p->after ? p->id : NULL;
}

bool page_store_list(struct db_conn *c, struct db_stmt *st, const char *store_id,
                     const char *status, const struct page *p, int at_col, int id_col,
                     page_row_fn row, json_t **out, struct err *e)
{
	char at[24], lim[16];
	const char *at_param, *id_param;
	PGresult *r;

	page_args(p, at, lim, &at_param, &id_param);
	r = db_exec(c, st,
	            DB_PARAMS(store_id, at_param, id_param, lim, status != NULL ? status : ""), e);
	if (r == NULL)
		return false;
	*out = page_json(r, p, at_col, id_col, row);
	PQclear(r);
	return true;
}

json_t *page_json(const PGresult *r, const struct page *p, int at_col, int id_col, page_row_fn row)
{
	int n = PQntuples(r);
	json_t *data = json_array();
	json_t *next = json_null();

	for (int i = 0; i < n && i < p->limit; i++)
		json_array_append_new(data, row(r, i));
	if (n > p->limit) {
		char cursor[PAGE_CURSOR_LEN + 1];

		/* The key columns are the statement's (a bigint and a uuid), so encoding does
		 * not fail. */
		if (page_cursor_encode(p->list, p->scope, db_get_ll(r, p->limit - 1, at_col),
		                       db_get(r, p->limit - 1, id_col), cursor))
			next = json_string(cursor);
	}
	return json_pack("{s:o, s:o}", "data", data, "next_cursor", next);
}
