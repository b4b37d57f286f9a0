/*
 * keycache.h — the store admin keys this process has verified lately, for admission.
 *
 * Admission runs on libmicrohttpd's thread before a request costs a database connection, so it
 * cannot check a store key against the database. It needs to know only one thing: may this
 * request use a verified key's allowance (TERMINUS_KEY_RATE_LIMIT), or does it count against its
 * client address like any anonymous request? The handler, which does verify keys, records each
 * success here; admission asks. An Authorization header with a key this process has not verified
 * (or "Bearer nope") therefore gets no allowance of its own — it cannot lock a store's admins
 * out of theirs.
 *
 * A slot holds a key id, the SHA-256 of its secret and when the verification expires
 * (KEYCACHE_TTL_MS): a key revoked in the database loses its allowance here within that time
 * (it loses access at once: the handler checks every request). Direct-mapped, fixed size,
 * thread-safe.
 */
#ifndef TERMINUS_KEYCACHE_H
#define TERMINUS_KEYCACHE_H

#include <stdbool.h>

#include "auth.h"

#define KEYCACHE_TTL_MS 60000

struct keycache;

struct keycache *keycache_new(void);
void keycache_free(struct keycache *kc);

/* The handler verified key_id with this secret hash at now_ms. */
void keycache_verified(struct keycache *kc, const char key_id[AUTH_KEY_ID_LEN + 1],
                       const unsigned char hash[AUTH_HASH_LEN], long long now_ms);
/* Whether key_id with this hash was verified within KEYCACHE_TTL_MS of now_ms. */
bool keycache_known(struct keycache *kc, const char key_id[AUTH_KEY_ID_LEN + 1],
                    const unsigned char hash[AUTH_HASH_LEN], long long now_ms);

#endif
