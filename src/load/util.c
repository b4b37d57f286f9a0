/*
 * util.c — clock, random numbers and parsing (see util.h).
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "util.h"
#include "banned.h"

double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: spreads one seed over the generator's state. */
static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
	r->s[0] = splitmix(&seed);
	r->s[1] = splitmix(&seed);
	if (r->s[0] == 0 && r->s[1] == 0)
		r->s[0] = 1;
}

/* xoroshiro128+ */
uint64_t rng_next(struct rng *r)
{
	uint64_t s0 = r->s[0], s1 = r->s[1], out = s0 + s1;

	s1 ^= s0;
	r->s[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
	r->s[1] = (s1 << 37) | (s1 >> 27);
	return out;
}

uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)((rng_next(r) >> 32) % n);
}

double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

bool rng_chance(struct rng *r, double p)
{
	return rng_unit(r) < p;
}

/* A number followed by one of the suffixes (a table ending with NULL; "" for none), times the
 * suffix's mul / div; false when malformed, not finite, negative, or 0 unless zero_ok. */
struct unit {
	const char *suffix;
	double mul, div;
};

static bool parse_number(const char *s, const struct unit *units, bool zero_ok, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return false;
	v = strtod(s, &end);
	if (end == s || !isfinite(v) || v < 0 || (v == 0 && !zero_ok))
		return false;
	for (const struct unit *u = units; u->suffix; u++) {
		if (strcmp(end, u->suffix) == 0) {
			*out = v * u->mul / u->div;
			return true;
		}
	}
	return false;
}

bool parse_duration(const char *s, double *out)
{
	static const struct unit units[] = {
	        {"", 1, 1}, {"s", 1, 1}, {"ms", 1, 1000}, {"m", 60, 1}, {NULL, 0, 0}};

	return parse_number(s, units, true, out);
}

bool parse_rate(const char *s, double *out)
{
	static const struct unit units[] = {{"", 1, 1}, {"/s", 1, 1}, {"/m", 1, 60}, {NULL, 0, 0}};

	return parse_number(s, units, false, out);
}

bool parse_factor(const char *s, double *out)
{
	static const struct unit units[] = {{"", 1, 1}, {"x", 1, 1}, {NULL, 0, 0}};
	double v;

	if (!parse_number(s, units, false, &v) || v > 1000)
		return false;
	*out = v;
	return true;
}

bool parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return false;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

void random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char buf[64];
	size_t got = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (n > sizeof(buf))
		n = sizeof(buf);
	if (fd >= 0) {
		ssize_t r = read(fd, buf, n);

		got = r > 0 ? (size_t)r : 0;
		close(fd);
	}
	if (got < n) {
		struct rng r;

		rng_seed(&r, (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
		                     (uint64_t)(mono_now() * 1e9));
		for (size_t i = got; i < n; i++)
			buf[i] = (unsigned char)rng_next(&r);
	}
	for (size_t i = 0; i < n; i++)
		out[i] = hex[buf[i] & 15];
	out[n] = '\0';
}

bool parse_cidr(const char *s, uint32_t *first, uint32_t *count)
{
	const char *slash = strchr(s, '/');
	char host[16];
	struct in_addr a;
	long long bits;
	uint32_t base, size;

	if (!slash || slash - s >= (ptrdiff_t)sizeof(host) || !parse_int(slash + 1, 8, 32, &bits))
		return false;
	memcpy(host, s, (size_t)(slash - s));
	host[slash - s] = '\0';
	if (inet_pton(AF_INET, host, &a) != 1)
		return false;
	size = bits == 32 ? 1 : (uint32_t)1 << (32 - bits);
	base = ntohl(a.s_addr) & ~(size - 1);
	if (size > 2) {
		base++;
		size -= 2;
	}
	*first = base;
	*count = size;
	return true;
}

void cidr_addr(uint32_t first, uint32_t count, uint64_t k, char out[16])
{
	struct in_addr a = {.s_addr = htonl(first + (uint32_t)(k % count))};

	if (!inet_ntop(AF_INET, &a, out, 16))
		snprintf(out, 16, "127.0.0.1");
}

bool url_is_loopback(const char *url)
{
	const char *h = strstr(url, "://");
	char host[64];
	size_t n;
	struct in_addr a;

	h = h ? h + 3 : url;
	n = strcspn(h, ":/");
	if (n >= sizeof(host))
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}
