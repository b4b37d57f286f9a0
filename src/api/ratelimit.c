/*
 * ratelimit.c — token buckets in a fixed open-addressing table (see ratelimit.h).
 *
 * Tokens are kept as a double and refilled lazily on each take from the time elapsed since the
 * bucket was last touched, so an idle key costs nothing and no timer thread exists.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "xalloc.h"
#include "banned.h"

#define SLOTS 4096 /* power of two */
#define PROBE 8    /* slots looked at per key */

struct slot {
	char key[RATELIMIT_KEY_MAX];
	size_t keylen; /* 0: free */
	double tokens;
	long long at_ms; /* when tokens was last brought up to date */
};

struct ratelimit {
	pthread_mutex_t lock;
	double rate_per_ms, burst;
	struct slot slots[SLOTS];
};

struct ratelimit *ratelimit_new(double rate, double burst)
{
	struct ratelimit *rl = xcalloc(1, sizeof(*rl));

	pthread_mutex_init(&rl->lock, NULL);
	rl->rate_per_ms = rate / 1000.0;
	rl->burst = burst;
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* FNV-1a: keys are short slugs; any decent spread will do. */
static uint32_t hash(const char *key, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)key[i];
		h *= 16777619u;
	}
	return h;
}

static double refilled(const struct ratelimit *rl, const struct slot *s, long long now_ms)
{
	/* Two threads may read the clock in one order and take the lock in the other. */
	long long elapsed = now_ms > s->at_ms ? now_ms - s->at_ms : 0;
	double t = s->tokens + (double)elapsed * rl->rate_per_ms;

	return t > rl->burst ? rl->burst : t;
}

/* The key's slot; else a free one in its window; else the one there with the most tokens,
 * taken over for key with a full bucket. Slots are never freed, so a key is never found past a
 * free slot. Called with the lock held. */
static struct slot *find(struct ratelimit *rl, const char *key, size_t n, long long now_ms)
{
	uint32_t h = hash(key, n);
	struct slot *spare = NULL;
	double most = -1;

	for (int i = 0; i < PROBE; i++) {
		struct slot *s = &rl->slots[(h + (uint32_t)i) & (SLOTS - 1)];

		if (s->keylen == 0) {
			spare = s;
			break;
		}
		if (s->keylen == n && memcmp(s->key, key, n) == 0)
			return s;
		double t = refilled(rl, s, now_ms);

		if (t > most) {
			spare = s;
			most = t;
		}
	}
	memcpy(spare->key, key, n);
	spare->keylen = n;
	spare->tokens = rl->burst;
	spare->at_ms = now_ms;
	return spare;
}

long long ratelimit_take(struct ratelimit *rl, const char *key, size_t keylen, long long now_ms)
{
	struct slot *s;
	long long wait_ms = 0;

	if (keylen > RATELIMIT_KEY_MAX)
		keylen = RATELIMIT_KEY_MAX;
	if (keylen == 0)
		return 0;
	pthread_mutex_lock(&rl->lock);
	s = find(rl, key, keylen, now_ms);
	s->tokens = refilled(rl, s, now_ms);
	if (now_ms > s->at_ms)
		s->at_ms = now_ms;
	if (s->tokens >= 1) {
		s->tokens -= 1;
	} else {
		wait_ms = (long long)ceil((1 - s->tokens) / rl->rate_per_ms);
		if (wait_ms < 1)
			wait_ms = 1;
	}
	pthread_mutex_unlock(&rl->lock);
	return wait_ms;
}
