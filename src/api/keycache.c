/*
 * keycache.c — recently verified store keys (see keycache.h).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "keycache.h"
#include "xalloc.h"
#include "banned.h"

#define SLOTS 1024 /* power of two; more admins than this at once only cost a slot refill */

struct slot {
	char key_id[AUTH_KEY_ID_LEN + 1]; /* "": free */
	unsigned char hash[AUTH_HASH_LEN];
	long long expires_ms;
};

struct keycache {
	pthread_mutex_t lock;
	struct slot slots[SLOTS];
};

struct keycache *keycache_new(void)
{
	struct keycache *kc = xcalloc(1, sizeof(*kc));

	pthread_mutex_init(&kc->lock, NULL);
	return kc;
}

void keycache_free(struct keycache *kc)
{
	if (kc == NULL)
		return;
	pthread_mutex_destroy(&kc->lock);
	free(kc);
}

/* Key ids are random hex: any bits of them spread well. */
static struct slot *slot_of(struct keycache *kc, const char *key_id)
{
	uint32_t h = 0;

	for (int i = 0; i < 8; i++)
		h = h * 16 + (uint32_t)(key_id[i] <= '9' ? key_id[i] - '0' : key_id[i] - 'a' + 10);
	return &kc->slots[h & (SLOTS - 1)];
}

void keycache_verified(struct keycache *kc, const char key_id[AUTH_KEY_ID_LEN + 1],
                       const unsigned char hash[AUTH_HASH_LEN], long long now_ms)
{
	struct slot *s;

	pthread_mutex_lock(&kc->lock);
	s = slot_of(kc, key_id);
	memcpy(s->key_id, key_id, AUTH_KEY_ID_LEN + 1);
	memcpy(s->hash, hash, AUTH_HASH_LEN);
	s->expires_ms = now_ms + KEYCACHE_TTL_MS;
	pthread_mutex_unlock(&kc->lock);
}

bool keycache_known(struct keycache *kc, const char key_id[AUTH_KEY_ID_LEN + 1],
                    const unsigned char hash[AUTH_HASH_LEN], long long now_ms)
{
	struct slot *s;
	bool known;

	pthread_mutex_lock(&kc->lock);
	s = slot_of(kc, key_id);
	/* The secret's hash in constant time: the answer decides only an allowance, but a timing
	 * oracle on a stored hash is not something to leave lying around. */
	known = strcmp(s->key_id, key_id) == 0 && now_ms < s->expires_ms &&
	        CRYPTO_memcmp(s->hash, hash, AUTH_HASH_LEN) == 0;
	pthread_mutex_unlock(&kc->lock);
	return known;
}
