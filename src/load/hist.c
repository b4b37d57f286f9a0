/*
 * hist.c — the log-linear histogram (see hist.h).
 *
 * Index of a value v: below 128 it is v itself. Above, let m be the position of v's highest set
 * bit and shift = m - 6; then v >> shift lies in [64, 128) and the index is
 * 64 * (shift + 1) + (v >> shift) - 64. The bucket covers [(v >> shift) << shift,
 * ((v >> shift) + 1) << shift).
 */
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "xalloc.h"
#include "banned.h"

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

static unsigned bucket_of(uint64_t v)
{
	unsigned msb, shift;

	if (v < 128)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - 6;
	return 64u * (shift + 1) + (unsigned)(v >> shift) - 64u;
}

/* The highest value bucket b holds. */
static uint64_t bucket_top(unsigned b)
{
	unsigned shift, sub;

	if (b < 128)
		return b;
	shift = b / 64 - 1;
	sub = b % 64 + 64;
	return (((uint64_t)sub + 1) << shift) - 1;
}

void hist_record(struct hist *h, uint64_t us)
{
	unsigned b = bucket_of(us);

	if (b >= HIST_BUCKETS)
		b = HIST_BUCKETS - 1;
	h->buckets[b]++;
	if (h->count == 0 || us < h->min_us)
		h->min_us = us;
	if (us > h->max_us)
		h->max_us = us;
	h->count++;
	h->sum_us += (double)us;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	if (src->count == 0)
		return;
	for (unsigned b = 0; b < HIST_BUCKETS; b++)
		dst->buckets[b] += src->buckets[b];
	if (dst->count == 0 || src->min_us < dst->min_us)
		dst->min_us = src->min_us;
	if (src->max_us > dst->max_us)
		dst->max_us = src->max_us;
	dst->count += src->count;
	dst->sum_us += src->sum_us;
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
	uint64_t want, seen = 0;

	if (h->count == 0)
		return 0;
	if (pct >= 100.0)
		return h->max_us;
	want = (uint64_t)((pct / 100.0) * (double)h->count + 0.5);
	if (want < 1)
		want = 1;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += h->buckets[b];
		if (seen >= want) {
			uint64_t top = bucket_top(b);

			return top < h->max_us ? top : h->max_us;
		}
	}
	return h->max_us;
}

double hist_mean(const struct hist *h)
{
	return h->count ? h->sum_us / (double)h->count : 0.0;
}

static json_t *ms(uint64_t us)
{
	return json_real((double)us / 1000.0);
}

json_t *hist_json(const struct hist *h)
{
	json_t *j = xjson(json_pack("{s:I}", "count", (json_int_t)h->count));

	json_object_set_new(j, "min", ms(h->count ? h->min_us : 0));
	json_object_set_new(j, "mean", json_real(hist_mean(h) / 1000.0));
	json_object_set_new(j, "p50", ms(hist_percentile(h, 50)));
	json_object_set_new(j, "p90", ms(hist_percentile(h, 90)));
	json_object_set_new(j, "p99", ms(hist_percentile(h, 99)));
	json_object_set_new(j, "p99_9", ms(hist_percentile(h, 99.9)));
	json_object_set_new(j, "max", ms(h->max_us));
	return j;
}
