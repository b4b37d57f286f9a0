/*
 * stores.h — stores (the tenants) and the slug → store cache.
 *
 * Slugs are fixed at creation and stores are never deleted, so a process may cache the
 * resolution for its lifetime: one database round trip per request saved.
 */
#ifndef TERMINUS_STORES_H
#define TERMINUS_STORES_H

#include <stdbool.h>
#include <jansson.h>
#include "err.h"
#include "constants.h"

struct db_conn;
struct page;
struct store_cache;

/* A store as requests address it: resolved once from its slug (stores_resolve). */
struct store_ref {
	char id[37];
	char slug[STORE_SLUG_MAX + 1];
	char currency[4];
};

struct store_cache *store_cache_new(void);
void store_cache_free(struct store_cache *sc);

/* 3–40 characters of a-z, 0-9 and '-'. */
bool stores_slug_valid(const char *slug);
/* ISO 4217 shape: three upper-case letters. */
bool stores_currency_valid(const char *currency);

/* Resolves slug (from cache or c, idle). *found false for an unknown store. */
bool stores_resolve(struct store_cache *sc, struct db_conn *c, const char *slug,
                    struct store_ref *out, bool *found, struct err *e) MUST_CHECK;

/* Creates a store and its first admin key (own transaction on c); load_test marks a store a
 * load test made, which the public list does not show. *out is new:
 * {"store":{…,"load_test"},"admin_key":"…"}. 409 store_exists when the slug is taken. */
bool stores_create(struct db_conn *c, const char *slug, const char *name, const char *currency,
                   bool load_test, json_t **out, struct err *e) MUST_CHECK;
/* The stores that are (load_test) or are not load-test stores, oldest first; operator_view adds
 * each one's "load_test". *out is new: {"data":[…],"next_cursor":…}. */
bool stores_list(struct db_conn *c, bool load_test, bool operator_view, const struct page *p,
                 json_t **out, struct err *e) MUST_CHECK;

#endif
