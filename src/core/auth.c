/*
 * auth.c — key generation, parsing and constant-time comparison (see auth.h).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "auth.h"
#include "db.h"
#include "banned.h"

static const char hexdigits[] = "0123456789abcdef";

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static void hash_secret(const char *secret, size_t len, unsigned char out[AUTH_HASH_LEN])
{
	SHA256((const unsigned char *)secret, len, out);
}

bool auth_key_generate(struct auth_key *k, struct err *e)
{
	unsigned char id[AUTH_KEY_ID_LEN / 2];
	unsigned char secret[32];
	unsigned char b64[48];
	int n;

	if (RAND_bytes(id, sizeof(id)) != 1 || RAND_bytes(secret, sizeof(secret)) != 1) {
		err_internal(e, "RAND_bytes failed");
		return false;
	}
	to_hex(id, sizeof(id), k->key_id);
	n = EVP_EncodeBlock(b64, secret, sizeof(secret)); /* 44 chars, one '=' of padding */
	if (n != AUTH_SECRET_LEN + 1) {
		err_internal(e, "unexpected base64 length %d", n);
		return false;
	}
	for (int i = 0; i < AUTH_SECRET_LEN; i++) {
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	}
	memcpy(k->text, "tsk_", 4);
	memcpy(k->text + 4, k->key_id, AUTH_KEY_ID_LEN);
	k->text[4 + AUTH_KEY_ID_LEN] = '_';
	memcpy(k->text + 4 + AUTH_KEY_ID_LEN + 1, b64, AUTH_SECRET_LEN);
	k->text[AUTH_KEY_LEN] = '\0';
	hash_secret((const char *)b64, AUTH_SECRET_LEN, k->hash);
	return true;
}

bool auth_key_parse(const char *text, char key_id[AUTH_KEY_ID_LEN + 1],
                    unsigned char hash[AUTH_HASH_LEN])
{
	const char *secret;

	if (strlen(text) != AUTH_KEY_LEN || strncmp(text, "tsk_", 4) != 0 ||
	    text[4 + AUTH_KEY_ID_LEN] != '_')
		return false;
	for (int i = 0; i < AUTH_KEY_ID_LEN; i++) {
		char ch = text[4 + i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
	}
	secret = text + 4 + AUTH_KEY_ID_LEN + 1;
	for (int i = 0; i < AUTH_SECRET_LEN; i++) {
		char ch = secret[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_'))
			return false;
	}
	memcpy(key_id, text + 4, AUTH_KEY_ID_LEN);
	key_id[AUTH_KEY_ID_LEN] = '\0';
	hash_secret(secret, AUTH_SECRET_LEN, hash);
	return true;
}

bool auth_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

bool auth_operator_matches(const char *configured, const char *presented)
{
	unsigned char want[AUTH_HASH_LEN], got[AUTH_HASH_LEN];

	if (configured == NULL || configured[0] == '\0' || presented == NULL)
		return false;
	/* Hashing both first makes the comparison independent of the presented length. */
	hash_secret(configured, strlen(configured), want);
	hash_secret(presented, strlen(presented), got);
	return auth_equal(want, got, sizeof(want));
}

const char *auth_bearer(const char *header)
{
	if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
		return NULL;
	header += 7;
	while (*header == ' ')
		header++;
	return *header != '\0' ? header : NULL;
}

static struct db_stmt st_key_lookup =
        DB_STMT("auth_key_lookup", "SELECT store_id, encode(key_hash, 'hex') "
                                   "FROM terminus_auth_key($1)");

static struct db_stmt st_key_insert =
        DB_STMT("auth_key_insert", "INSERT INTO store_keys (store_id, key_id, key_hash) "
                                   "VALUES ($1, $2, decode($3, 'hex'))");

bool auth_store_key_check(struct db_conn *c, const char *key_id,
                          const unsigned char hash[AUTH_HASH_LEN], char store_id[37], struct err *e)
{
	char want_hex[2 * AUTH_HASH_LEN + 1];
	PGresult *r;

	store_id[0] = '\0';
	r = db_exec(c, &st_key_lookup, DB_PARAMS(key_id), e);
	if (r == NULL)
		return false;
	if (PQntuples(r) == 1) {
		const char *stored = db_get(r, 0, 1);

		to_hex(hash, AUTH_HASH_LEN, want_hex);
		if (stored != NULL && strlen(stored) == 2 * AUTH_HASH_LEN &&
		    auth_equal(stored, want_hex, 2 * AUTH_HASH_LEN))
			snprintf(store_id, 37, "%s", db_get(r, 0, 0));
	}
	PQclear(r);
	return true;
}

bool auth_store_key_insert(struct db_conn *c, const char *store_id, const struct auth_key *k,
                           struct err *e)
{
	char hex[2 * AUTH_HASH_LEN + 1];
	PGresult *r;

	to_hex(k->hash, AUTH_HASH_LEN, hex);
	r = db_exec(c, &st_key_insert, DB_PARAMS(store_id, k->key_id, hex), e);
	if (r == NULL)
		return false;
	PQclear(r);
	return true;
}
