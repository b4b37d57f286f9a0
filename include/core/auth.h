/*
 * auth.h — bearer credentials.
 *
 * The operator key comes from TERMINUS_OPERATOR_KEY. Store admin keys look like
 * "tsk_<key id: 16 hex>_<secret: 43 base64url>": the key id is public and finds the row, the
 * secret's SHA-256 is all that is stored and is compared in constant time (CRYPTO_memcmp).
 * Keys carry 256 bits of randomness, so a fast hash is the right one (no password stretching).
 */
#ifndef TERMINUS_AUTH_H
#define TERMINUS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"

#define AUTH_KEY_ID_LEN 16
#define AUTH_SECRET_LEN 43
#define AUTH_KEY_LEN    (4 + AUTH_KEY_ID_LEN + 1 + AUTH_SECRET_LEN)
#define AUTH_HASH_LEN   32

struct db_conn;

struct auth_key {
	char text[AUTH_KEY_LEN + 1];      /* the whole key, shown once */
	char key_id[AUTH_KEY_ID_LEN + 1]; /* public part */
	unsigned char hash[AUTH_HASH_LEN];
};

/* A fresh random key from OpenSSL's CSPRNG. */
bool auth_key_generate(struct auth_key *k, struct err *e) MUST_CHECK;
/* Splits a presented key into key id and the SHA-256 of its secret. False when malformed. */
bool auth_key_parse(const char *text, char key_id[AUTH_KEY_ID_LEN + 1],
                    unsigned char hash[AUTH_HASH_LEN]);
/* Constant-time equality of two byte strings of the same length. */
bool auth_equal(const void *a, const void *b, size_t n);
/* Constant-time check of a presented operator key (any length) against the configured one;
 * false when none is configured. */
bool auth_operator_matches(const char *configured, const char *presented);
/* "Bearer <token>" → token (borrowed from header), or NULL. */
const char *auth_bearer(const char *authorization_header);

/* Looks the key up across stores (a SECURITY DEFINER function: key rows are otherwise visible
 * only to their own store) and compares the hash. *store_id is "" when the key is unknown or
 * its secret is wrong. */
bool auth_store_key_check(struct db_conn *c, const char *key_id,
                          const unsigned char hash[AUTH_HASH_LEN], char store_id[37],
                          struct err *e) MUST_CHECK;
/* Stores a new key for store_id (inside the caller's transaction). */
bool auth_store_key_insert(struct db_conn *c, const char *store_id, const struct auth_key *k,
                           struct err *e) MUST_CHECK;

#endif
