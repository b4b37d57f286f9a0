/*
 * flags.h — feature flags (guarantees §5).
 *
 * Defaults, per-store overrides and an audit trail live in PostgreSQL. Every process keeps a
 * per-store cache stamped with a generation number; a listener thread bumps the generation when
 * a NOTIFY on "terminus_flags" arrives or when the flag_version row changed (polled every
 * FLAG_POLL_MS, because notifications sent while disconnected are lost), so every process sees a
 * change within a second, and the process that served a PUT invalidates at once.
 *
 * rollout_percent is applied with a stable hash of (flag, subject): a subject stays on the same
 * side as the percentage grows.
 */
#ifndef TERMINUS_FLAGS_H
#define TERMINUS_FLAGS_H

#include <stdbool.h>
#include <jansson.h>
#include "err.h"

struct db_conn;
struct flags;
struct page;

enum flag_id { FLAG_CHECKOUT_ASYNC, FLAG_CHAOS_CAPTURE_FAIL, FLAG_CHAOS_WORKER_SLOW, FLAG_COUNT };

struct flag_value {
	bool enabled;
	int rollout_percent;
	bool from_store; /* source: store override or global default */
};

/* The known flags: key and description. */
const char *flags_key(enum flag_id id);
const char *flags_description(enum flag_id id);
bool flags_lookup_key(const char *key, enum flag_id *out);

/* Bucket 0..99 of subject for flag: first 32 bits of SHA-256(key "\0" subject) mod 100. */
int flags_bucket(const char *flag_key, const char *subject);
/* enabled && bucket < rollout_percent. */
bool flags_decide(const struct flag_value *v, const char *flag_key, const char *subject);

/* Cache with a listener thread on its own connection to url. */
struct flags *flags_new(const char *url);
void flags_free(struct flags *f);
/* Starts / stops the LISTEN + poll thread. */
bool flags_start(struct flags *f, struct err *e) MUST_CHECK;
void flags_stop(struct flags *f);
/* Drops every cached value in this process. */
void flags_invalidate(struct flags *f);

/* Effective value for a store, from cache or (on a miss) from c, which must be idle or inside a
 * transaction scoped to store_id. */
bool flags_get(struct flags *f, struct db_conn *c, const char *store_id, enum flag_id id,
               struct flag_value *out, struct err *e) MUST_CHECK;
/* flags_get + flags_decide. */
bool flags_on(struct flags *f, struct db_conn *c, const char *store_id, enum flag_id id,
              const char *subject, bool *on, struct err *e) MUST_CHECK;

/* Database side, inside a transaction scoped to the store. */
bool flags_list_json(struct db_conn *c, const char *store_id, json_t **out,
                     struct err *e) MUST_CHECK;
bool flags_set(struct db_conn *c, const char *store_id, enum flag_id id, bool enabled,
               int rollout_percent, const char *actor, json_t **out, struct err *e) MUST_CHECK;
/* A flag's changes in a store, newest first, keyset-paged (page.h). */
bool flags_history_json(struct db_conn *c, const char *store_id, enum flag_id id,
                        const struct page *p, json_t **out, struct err *e) MUST_CHECK;

#endif
