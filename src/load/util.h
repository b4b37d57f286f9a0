/*
 * util.h — the small things every part of terminus-load shares: a monotonic clock, a seeded
 * random generator (so a run's choices replay with --seed), parsing of durations and rates,
 * and, through xalloc.h, allocation that aborts when memory runs out (the house memory policy).
 */
#ifndef TERMINUS_LOAD_UTIL_H
#define TERMINUS_LOAD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xalloc.h"

/* Monotonic seconds since an arbitrary origin. */
double mono_now(void);

/* xoshiro-style generator: small, fast, good enough for choosing actions. Never for secrets. */
struct rng {
	uint64_t s[2];
};
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, n); n > 0. */
uint32_t rng_below(struct rng *r, uint32_t n);
/* Uniform in [0, 1). */
double rng_unit(struct rng *r);
/* True with probability p. */
bool rng_chance(struct rng *r, double p);

/* "10s", "500ms", "2m", "1.5" (seconds) -> seconds; false when malformed or negative. */
bool parse_duration(const char *s, double *out);
/* "200/s", "200", "1200/m" -> per second; false when malformed or not positive. */
bool parse_rate(const char *s, double *out);
/* "3", "2.5", "3x" -> a multiplier in (0, 1000]; false otherwise. */
bool parse_factor(const char *s, double *out);
/* A decimal integer in [min, max]; false otherwise. */
bool parse_int(const char *s, long long min, long long max, long long *out);

/* An IPv4 block "A.B.C.D/N" (N 8..32): its usable addresses — without the block's own and its
 * broadcast address when it has more than two — as *first and *count. False when malformed. */
bool parse_cidr(const char *s, uint32_t *first, uint32_t *count);
/* Address `first + k mod count` in dotted form into out (16 bytes). */
void cidr_addr(uint32_t first, uint32_t count, uint64_t k, char out[16]);
/* True when the URL's host is an IPv4 loopback address (127.0.0.0/8) — not "localhost",
 * which may resolve to ::1, where an IPv4 source address cannot connect from. */
bool url_is_loopback(const char *url);

/* A random lower-case hex string of n characters (from /dev/urandom, else the clock). */
void random_hex(char *out, size_t n);

#endif
