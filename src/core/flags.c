/*
 * flags.c — feature flags: stable-hash rollout, a per-process cache invalidated by
 * LISTEN/NOTIFY plus a version poll, and the audited database side (see flags.h).
 *
 * Why both NOTIFY and a poll: a notification sent while the listener is disconnected is lost,
 * and the poll of one tiny row every FLAG_POLL_MS bounds staleness to well under a second
 * anyway. NOTIFY only makes it milliseconds in the common case.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "clock.h"
#include "constants.h"
#include "db.h"
#include "flags.h"
#include "log.h"
#include "metrics.h"
#include "page.h"
#include "xalloc.h"
#include "banned.h"

struct flag_def {
	const char *key;
	const char *description;
};

static const struct flag_def flag_defs[FLAG_COUNT] = {
        [FLAG_CHECKOUT_ASYNC] = {"checkout.async_enabled",
                                 "checkout answers 202 and the worker finishes it; off: finished "
                                 "inside the request"},
        [FLAG_CHAOS_CAPTURE_FAIL] = {"chaos.payment_capture_fail",
                                     "rollout_percent % of capture attempts fail transiently"},
        [FLAG_CHAOS_WORKER_SLOW] =
                {"chaos.worker_slow",
                 "rollout_percent % of events stall 500 ms before their handler"},
};

const char *flags_key(enum flag_id id)
{
	return flag_defs[id].key;
}

const char *flags_description(enum flag_id id)
{
	return flag_defs[id].description;
}

bool flags_lookup_key(const char *key, enum flag_id *out)
{
	for (int i = 0; i < FLAG_COUNT; i++) {
		if (strcmp(flag_defs[i].key, key) == 0) {
			*out = (enum flag_id)i;
			return true;
		}
	}
	return false;
}

int flags_bucket(const char *flag_key, const char *subject)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned long v;

	if (ctx == NULL)
		abort(); /* OpenSSL could not allocate: out of memory is not recovered from */
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, flag_key, strlen(flag_key) + 1);
	EVP_DigestUpdate(ctx, subject, strlen(subject));
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	v = ((unsigned long)md[0] << 24) | ((unsigned long)md[1] << 16) |
	    ((unsigned long)md[2] << 8) | md[3];
	return (int)(v % 100);
}

bool flags_decide(const struct flag_value *v, const char *flag_key, const char *subject)
{
	if (!v->enabled || v->rollout_percent <= 0)
		return false;
	if (v->rollout_percent >= 100)
		return true;
	return flags_bucket(flag_key, subject) < v->rollout_percent;
}

/* ---- cache ---------------------------------------------------------------------------- */

#define FLAG_CACHE_SLOTS 1024

struct cache_entry {
	char store_id[37];
	unsigned long gen;
	struct flag_value values[FLAG_COUNT];
};

struct flags {
	char *url;
	pthread_mutex_t lock;
	struct cache_entry slots[FLAG_CACHE_SLOTS];
	atomic_ulong gen; /* bumped on every observed change; entries of older gens are stale */
	pthread_t thread;
	bool running;
	atomic_bool stop;
};

struct flags *flags_new(const char *url)
{
	struct flags *f = xcalloc(1, sizeof(*f));

	f->url = xstrdup(url);
	pthread_mutex_init(&f->lock, NULL);
	atomic_init(&f->gen, 1);
	atomic_init(&f->stop, false);
	return f;
}

void flags_free(struct flags *f)
{
	if (f == NULL)
		return;
	flags_stop(f);
	pthread_mutex_destroy(&f->lock);
	free(f->url);
	free(f);
}

void flags_invalidate(struct flags *f)
{
	atomic_fetch_add(&f->gen, 1);
}

static unsigned slot_of(const char *store_id)
{
	unsigned h = 2166136261u;

	for (const char *p = store_id; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % FLAG_CACHE_SLOTS;
}

static struct db_stmt st_load =
        DB_STMT("flags_load",
                "SELECT d.key, coalesce(o.enabled, d.enabled), "
                "       coalesce(o.rollout_percent, d.rollout_percent), o.store_id IS NOT NULL "
                "FROM flag_defaults d "
                "LEFT JOIN flag_overrides o ON o.key = d.key AND o.store_id = $1");

static bool load_store(struct db_conn *c, const char *store_id, struct flag_value *values,
                       struct err *e)
{
	/* Inside the caller's transaction when there is one, else as its own. */
	PGresult *r = PQtransactionStatus(db_conn_pg(c)) == PQTRANS_IDLE
	                      ? db_exec_once(c, store_id, false, &st_load, DB_PARAMS(store_id), e)
	                      : db_exec(c, &st_load, DB_PARAMS(store_id), e);

	memset(values, 0, sizeof(*values) * FLAG_COUNT);
	if (r == NULL)
		return false;
	for (int i = 0; i < PQntuples(r); i++) {
		enum flag_id id;

		if (!flags_lookup_key(db_get(r, i, 0), &id))
			continue; /* a flag this build does not know: ignore */
		values[id].enabled = db_get_bool(r, i, 1);
		values[id].rollout_percent = (int)db_get_ll(r, i, 2);
		values[id].from_store = db_get_bool(r, i, 3);
	}
	PQclear(r);
	return true;
}

bool flags_get(struct flags *f, struct db_conn *c, const char *store_id, enum flag_id id,
               struct flag_value *out, struct err *e)
{
	unsigned long gen = atomic_load(&f->gen);
	struct cache_entry *slot = &f->slots[slot_of(store_id)];
	struct flag_value values[FLAG_COUNT];

	pthread_mutex_lock(&f->lock);
	if (slot->gen == gen && strcmp(slot->store_id, store_id) == 0) {
		*out = slot->values[id];
		pthread_mutex_unlock(&f->lock);
		return true;
	}
	pthread_mutex_unlock(&f->lock);

	if (!load_store(c, store_id, values, e))
		return false;
	pthread_mutex_lock(&f->lock);
	/* Stamp with the generation read before loading: a change that raced the load makes the
	 * entry stale at once instead of hiding the change. */
	snprintf(slot->store_id, sizeof(slot->store_id), "%s", store_id);
	slot->gen = gen;
	memcpy(slot->values, values, sizeof(values));
	pthread_mutex_unlock(&f->lock);
	*out = values[id];
	return true;
}

bool flags_on(struct flags *f, struct db_conn *c, const char *store_id, enum flag_id id,
              const char *subject, bool *on, struct err *e)
{
	struct flag_value v;

	if (!flags_get(f, c, store_id, id, &v, e))
		return false;
	*on = flags_decide(&v, flags_key(id), subject);
	metrics_inc(M_FLAG_EVALUATIONS, flags_key(id), *on ? "on" : "off");
	return true;
}

/* ---- listener --------------------------------------------------------------------------- */

static bool read_version(struct db_conn *c, long long *version)
{
	struct err e = ERR_INIT;
	PGresult *r = db_exec_sql(c, "SELECT version FROM flag_version", &e);

	err_release(&e);
	if (r == NULL)
		return false;
	*version = PQntuples(r) == 1 ? db_get_ll(r, 0, 0) : 0;
	PQclear(r);
	return true;
}

static struct db_conn *listener_connect(struct flags *f)
{
	struct err e = ERR_INIT;
	struct db_conn *c = db_conn_open(f->url, DB_ROLE_APP, &e);
	PGresult *r;

	if (c == NULL) {
		err_release(&e);
		return NULL;
	}
	r = db_exec_sql(c, "LISTEN terminus_flags", &e);
	err_release(&e);
	if (r == NULL) {
		db_conn_free(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

static void *listener_main(void *arg)
{
	struct flags *f = arg;
	struct db_conn *c = NULL;
	long long version = -1, last_poll = 0;

	while (!atomic_load(&f->stop)) {
		struct pollfd pfd;
		PGnotify *n;
		bool changed = false;

		if (c == NULL) {
			c = listener_connect(f);
			if (c == NULL) {
				struct timespec ts = {0, 250 * 1000000L};

				nanosleep(&ts, NULL); /* database down: try again shortly */
				continue;
			}
			/* Notifications sent while we were away are lost: treat it as a change. */
			flags_invalidate(f);
			version = -1;
			last_poll = 0;
		}
		pfd.fd = PQsocket(db_conn_pg(c));
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			goto lost;
		if (PQconsumeInput(db_conn_pg(c)) == 0)
			goto lost;
		while ((n = PQnotifies(db_conn_pg(c))) != NULL) {
			changed = true;
			PQfreemem(n);
		}
		if (clock_ms() - last_poll >= FLAG_POLL_MS) {
			long long v;

			if (!read_version(c, &v))
				goto lost;
			if (v != version) {
				changed = changed || version != -1;
				version = v;
			}
			last_poll = clock_ms();
		}
		if (changed)
			flags_invalidate(f);
		continue;
	lost:
		log_warn("flags listener lost its database connection; reconnecting");
		db_conn_free(c);
		c = NULL;
	}
	db_conn_free(c);
	return NULL;
}

bool flags_start(struct flags *f, struct err *e)
{
	if (pthread_create(&f->thread, NULL, listener_main, f) != 0) {
		err_internal(e, "cannot start the flags listener");
		return false;
	}
	f->running = true;
	return true;
}

void flags_stop(struct flags *f)
{
	if (!f->running)
		return;
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	f->running = false;
}

/* ---- database side ---------------------------------------------------------------------- */

static json_t *flag_json(enum flag_id id, const struct flag_value *v)
{
	return json_pack("{s:s, s:b, s:i, s:s, s:s}", "key", flags_key(id), "enabled", v->enabled,
	                 "rollout_percent", v->rollout_percent, "source",
	                 v->from_store ? "store" : "default", "description", flags_description(id));
}

bool flags_list_json(struct db_conn *c, const char *store_id, json_t **out, struct err *e)
{
	struct flag_value values[FLAG_COUNT];
	json_t *list;

	if (!load_store(c, store_id, values, e))
		return false;
	list = json_array();
	for (int i = 0; i < FLAG_COUNT; i++)
		json_array_append_new(list, flag_json((enum flag_id)i, &values[i]));
	*out = list;
	return true;
}

static struct db_stmt st_set = DB_STMT(
        "flags_set",
        "WITH old AS ("
        "  SELECT coalesce(o.enabled, d.enabled) AS enabled, "
        "         coalesce(o.rollout_percent, d.rollout_percent) AS rollout_percent "
        "  FROM flag_defaults d "
        "  LEFT JOIN flag_overrides o ON o.key = d.key AND o.store_id = $1 "
        "  WHERE d.key = $2), "
        "up AS ("
        "  INSERT INTO flag_overrides (store_id, key, enabled, rollout_percent, updated_by) "
        "  VALUES ($1, $2, $3, $4, $5) "
        "  ON CONFLICT (store_id, key) DO UPDATE SET enabled = EXCLUDED.enabled, "
        "    rollout_percent = EXCLUDED.rollout_percent, updated_by = EXCLUDED.updated_by, "
        "    updated_at = now() "
        "  RETURNING key) "
        "INSERT INTO flag_audit (store_id, key, actor, old_enabled, old_rollout_percent, "
        "                        new_enabled, new_rollout_percent) "
        "SELECT $1, up.key, $5, old.enabled, old.rollout_percent, $3, $4 FROM up, old");

bool flags_set(struct db_conn *c, const char *store_id, enum flag_id id, bool enabled,
               int rollout_percent, const char *actor, json_t **out, struct err *e)
{
	char pct[16];
	struct flag_value v = {enabled, rollout_percent, true};
	PGresult *r;

	snprintf(pct, sizeof(pct), "%d", rollout_percent);
	r = db_exec(c, &st_set,
	            DB_PARAMS(store_id, flags_key(id), enabled ? "true" : "false", pct, actor), e);
	if (r == NULL)
		return false;
	PQclear(r);
	*out = flag_json(id, &v);
	return true;
}

/* The key column, and the key this page starts after (page.h). */
#define HISTORY_AT    PAGE_AT("at")
#define HISTORY_AFTER PAGE_AFTER_DESC("at", "id", 3, 4)

static struct db_stmt st_history = DB_STMT(
        "flags_history",
        "SELECT id, actor, old_enabled, old_rollout_percent, new_enabled, new_rollout_percent, "
        "       terminus_ts(at), " HISTORY_AT " "
        "FROM flag_audit WHERE store_id = $1 AND key = $2 AND " HISTORY_AFTER
        " ORDER BY at DESC, id DESC LIMIT $5");

static json_t *history_json(const PGresult *r, int i)
{
	return json_pack("{s:s, s:s, s:{s:b, s:i}, s:{s:b, s:i}}", "at", db_get(r, i, 6), "actor",
	                 db_get(r, i, 1), "old", "enabled", db_get_bool(r, i, 2), "rollout_percent",
	                 (int)db_get_ll(r, i, 3), "new", "enabled", db_get_bool(r, i, 4),
	                 "rollout_percent", (int)db_get_ll(r, i, 5));
}

bool flags_history_json(struct db_conn *c, const char *store_id, enum flag_id id,
                        const struct page *p, json_t **out, struct err *e)
{
	char at[24], lim[16];
	const char *at_param, *id_param;
	PGresult *r;

	page_args(p, at, lim, &at_param, &id_param);
	r = db_exec(c, &st_history, DB_PARAMS(store_id, flags_key(id), at_param, id_param, lim), e);
	if (r == NULL)
		return false;
	*out = page_json(r, p, 7, 0, history_json);
	PQclear(r);
	return true;
}
