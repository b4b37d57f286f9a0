/*
 * ratelimit.h — token buckets per key (the API keys them by store), in one process.
 *
 * A key's bucket holds up to `burst` tokens and refills at `rate` tokens per second; a request
 * takes one token, or is refused with the time until the next one. The table has a fixed number
 * of slots, allocated once: a key takes a free slot in its probe window, or else the slot there
 * whose bucket holds the most tokens (a full bucket forgets nothing, because a new key starts
 * full). Only when more busy keys than a probe window holds (8) meet in one window can a drained
 * bucket be forgotten — and then that key is let through early, never refused wrongly.
 *
 * The limit is per process: N API processes behind a balancer let a store through N times the
 * rate. Thread-safe (one mutex; a lookup is a few hundred nanoseconds).
 */
#ifndef TERMINUS_RATELIMIT_H
#define TERMINUS_RATELIMIT_H

#include <stddef.h>

#include "err.h"

struct ratelimit;

/* rate > 0 tokens per second, burst >= 1 tokens. */
struct ratelimit *ratelimit_new(double rate, double burst);
void ratelimit_free(struct ratelimit *rl);

/* Takes a token from key's bucket at now_ms (a monotonic clock). Returns 0 when the request may
 * go, else the milliseconds until the bucket has a token again (at least 1). Keys longer than
 * RATELIMIT_KEY_MAX are cut there. */
long long ratelimit_take(struct ratelimit *rl, const char *key, size_t keylen, long long now_ms);

#define RATELIMIT_KEY_MAX 64

#endif
