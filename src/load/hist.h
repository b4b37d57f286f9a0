/*
 * hist.h — a log-linear latency histogram in the manner of HdrHistogram.
 *
 * Values are microseconds. Below 128 µs every value has its own bucket; above, each power of
 * two is cut into 64 equal sub-buckets, so a recorded value is known to within 1/64 (1.6 %) at
 * any magnitude, from 1 µs to hours, in a fixed 32 KiB array: recording is one index
 * computation and an increment, with no allocation, so recording never disturbs the latency it
 * measures. Percentiles report the highest value a bucket can hold (never flattering), capped
 * at the exact maximum seen.
 */
#ifndef TERMINUS_LOAD_HIST_H
#define TERMINUS_LOAD_HIST_H

#include <stdint.h>
#include <jansson.h>

#define HIST_SUB_BITS 7 /* 128 linear buckets at the bottom, 64 per power of two above */
#define HIST_BUCKETS  (64 * (64 - HIST_SUB_BITS + 2))

struct hist {
	uint64_t count;
	uint64_t min_us; /* exact */
	uint64_t max_us; /* exact */
	double sum_us;
	uint64_t buckets[HIST_BUCKETS];
};

/* Zeroes h (a zeroed struct is also a valid empty histogram). */
void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t us);
/* Adds every value of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at or below which pct percent (0–100) of the values lie; 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double pct);
double hist_mean(const struct hist *h);
/* {"count","min","mean","p50","p90","p99","p99_9","max"} in milliseconds (new reference). */
json_t *hist_json(const struct hist *h);

#endif
