/*
 * stores.c — tenants: creation with the first admin key, the public list, and the slug cache.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "auth.h"
#include "constants.h"
#include "db.h"
#include "page.h"
#include "stores.h"
#include "xalloc.h"
#include "banned.h"

#define STORE_CACHE_SLOTS 4096

struct store_cache {
	pthread_rwlock_t lock;
	struct store_ref slots[STORE_CACHE_SLOTS]; /* open addressing on the slug */
	int count;
};

struct store_cache *store_cache_new(void)
{
	struct store_cache *sc = xcalloc(1, sizeof(*sc));

	pthread_rwlock_init(&sc->lock, NULL);
	return sc;
}

void store_cache_free(struct store_cache *sc)
{
	if (sc == NULL)
		return;
	pthread_rwlock_destroy(&sc->lock);
	free(sc);
}

static unsigned slug_hash(const char *slug)
{
	unsigned h = 2166136261u;

	for (const char *p = slug; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

static bool cache_find(struct store_cache *sc, const char *slug, struct store_ref *out)
{
	unsigned i = slug_hash(slug) % STORE_CACHE_SLOTS;
	bool found = false;

	pthread_rwlock_rdlock(&sc->lock);
	for (int probe = 0; probe < STORE_CACHE_SLOTS; probe++) {
		const struct store_ref *s = &sc->slots[(i + (unsigned)probe) % STORE_CACHE_SLOTS];

		if (s->slug[0] == '\0')
			break;
		if (strcmp(s->slug, slug) == 0) {
			*out = *s;
			found = true;
			break;
		}
	}
	pthread_rwlock_unlock(&sc->lock);
	return found;
}

static void cache_put(struct store_cache *sc, const struct store_ref *ref)
{
	unsigned i = slug_hash(ref->slug) % STORE_CACHE_SLOTS;

	pthread_rwlock_wrlock(&sc->lock);
	/* Keep the table at most half full so probes stay short; past that, just don't cache. */
	if (sc->count < STORE_CACHE_SLOTS / 2) {
		for (int probe = 0; probe < STORE_CACHE_SLOTS; probe++) {
			struct store_ref *s = &sc->slots[(i + (unsigned)probe) % STORE_CACHE_SLOTS];

			if (strcmp(s->slug, ref->slug) == 0)
				break;
			if (s->slug[0] == '\0') {
				*s = *ref;
				sc->count++;
				break;
			}
		}
	}
	pthread_rwlock_unlock(&sc->lock);
}

bool stores_slug_valid(const char *slug)
{
	size_t n = 0;

	for (; slug[n] != '\0'; n++) {
		char ch = slug[n];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
	}
	return n >= STORE_SLUG_MIN && n <= STORE_SLUG_MAX;
}

bool stores_currency_valid(const char *currency)
{
	return strlen(currency) == 3 && currency[0] >= 'A' && currency[0] <= 'Z' &&
	       currency[1] >= 'A' && currency[1] <= 'Z' && currency[2] >= 'A' && currency[2] <= 'Z';
}

static struct db_stmt st_resolve =
        DB_STMT("stores_resolve", "SELECT id, currency FROM stores WHERE slug = $1");

bool stores_resolve(struct store_cache *sc, struct db_conn *c, const char *slug,
                    struct store_ref *out, bool *found, struct err *e)
{
	PGresult *r;

	*found = false;
	if (!stores_slug_valid(slug))
		return true;
	if (cache_find(sc, slug, out)) {
		*found = true;
		return true;
	}
	r = db_exec(c, &st_resolve, DB_PARAMS(slug), e);
	if (r == NULL)
		return false;
	if (PQntuples(r) == 1) {
		memset(out, 0, sizeof(*out));
		snprintf(out->id, sizeof(out->id), "%s", db_get(r, 0, 0));
		snprintf(out->slug, sizeof(out->slug), "%s", slug);
		snprintf(out->currency, sizeof(out->currency), "%s", db_get(r, 0, 1));
		cache_put(sc, out);
		*found = true;
	}
	PQclear(r);
	return true;
}

/* A store as anyone sees it. */
static json_t *store_json(const PGresult *r, int row)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", db_get(r, row, 0), "slug",
	                 db_get(r, row, 1), "name", db_get(r, row, 2), "currency",
	                 db_get(r, row, 3), "created_at", db_get(r, row, 4));
}

/* A store as the operator sees it: whether it is a load-test store too. The public never sees
 * the attribute (its list holds only the stores that are not). */
static json_t *store_json_operator(const PGresult *r, int row)
{
	json_t *o = store_json(r, row);

	json_object_set_new(o, "load_test", json_boolean(db_get_bool(r, row, 6)));
	return o;
}

#define STORE_COLUMNS                                                                              \
	"id, slug, name, currency, terminus_ts(created_at), " PAGE_AT("created_at") ", load_test"

static struct db_stmt st_insert =
        DB_STMT("stores_insert", "INSERT INTO stores (id, slug, name, currency, load_test) "
                                 "VALUES ($1, $2, $3, $4, $5) RETURNING " STORE_COLUMNS);

bool stores_create(struct db_conn *c, const char *slug, const char *name, const char *currency,
                   bool load_test, json_t **out, struct err *e)
{
	char id[37];
	uuid_t u;
	struct auth_key key;
	PGresult *r = NULL;
	json_t *store;

	*out = NULL;
	uuid_generate_random(u);
	uuid_unparse_lower(u, id);
	if (!auth_key_generate(&key, e))
		return false;
	if (!db_begin(c, NULL, true, e))
		return false;
	r = db_exec(c, &st_insert,
	            DB_PARAMS(id, slug, name, currency, load_test ? "true" : "false"), e);
	if (r == NULL) {
		if (db_is_unique_violation(e)) {
			err_set(e, 409, "store_exists", "a store with slug %s already exists",
			        slug);
			err_detail(e, "slug", json_string(slug));
		}
		goto rollback;
	}
	store = store_json_operator(r, 0);
	PQclear(r);
	if (!auth_store_key_insert(c, id, &key, e)) {
		json_decref(store);
		goto rollback;
	}
	if (!db_commit(c, e)) {
		json_decref(store);
		return false;
	}
	*out = json_pack("{s:o, s:s}", "store", store, "admin_key", key.text);
	memset(&key, 0, sizeof(key));
	return true;
rollback:
	db_rollback(c);
	memset(&key, 0, sizeof(key));
	return false;
}

/* The key this page starts after (page.h). */
#define STORES_AFTER PAGE_AFTER_ASC("created_at", "id", 2, 3)

static struct db_stmt st_list =
        DB_STMT("stores_list", "SELECT " STORE_COLUMNS " FROM stores "
                               "WHERE load_test = $1::boolean AND " STORES_AFTER " "
                               "ORDER BY created_at, id LIMIT $4");

bool stores_list(struct db_conn *c, bool load_test, bool operator_view, const struct page *p,
                 json_t **out, struct err *e)
{
	char at[24], lim[16];
	const char *at_param, *id_param;
	PGresult *r;

	page_args(p, at, lim, &at_param, &id_param);
	r = db_exec(c, &st_list, DB_PARAMS(load_test ? "true" : "false", at_param, id_param, lim),
	            e);
	if (r == NULL)
		return false;
	*out = page_json(r, p, 5, 0, operator_view ? store_json_operator : store_json);
	PQclear(r);
	return true;
}
