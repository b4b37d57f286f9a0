/*
 * surge.h — what a surge run shows: the `mixed` load at a rate R (a warm-up, then the baseline),
 * then F × R, then R again, cut into its four phases and into one-second windows, and how long
 * after the surge the latency came back.
 *
 * A request counts in the phase and the second it was *due* to be sent (its scheduled moment,
 * the same moment its latency is measured from), not the one its answer came in: a surge's
 * requests answered late stay the surge's, and the phases' counts add up to the run's. "sent"
 * counts attempts that left the generator (answered, failed, or still in flight at the end).
 *
 * Recovery. The baseline is the p99 of the before phase (not of the warm-up before it). From the
 * end of the surge on, second by second, the rolling p99 looks SURGE_WINDOW_S seconds ahead (fewer
 * at the end of the run); the recovery time is the number of seconds from the end of the surge to
 * the first second from which on every such window's p99 stays at or below max(2 × baseline,
 * baseline + 20 ms) and no 429 or 503 is answered, up to the end of the run. If the last second
 * does not qualify, the system did not recover within the after phase.
 */
#ifndef TERMINUS_LOAD_SURGE_H
#define TERMINUS_LOAD_SURGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "stats.h"

/* The phases, in order; the warm-up is empty when --warmup is 0. */
enum { SURGE_WARMUP, SURGE_BEFORE, SURGE_SURGE, SURGE_AFTER, SURGE_PHASES };
#define SURGE_WINDOW_S      5    /* seconds of the rolling p99 */
#define SURGE_SLACK_MS      20.0 /* the threshold is at least the baseline p99 + this */
#define SURGE_BASELINE_MULT 2.0  /* … and at least this many times the baseline p99 */

struct surge_phase {
	const char *name; /* "warmup", "before", "surge", "after" */
	double from_s, to_s;
	double rate; /* arrivals per second offered */
	struct stats_cell cell;
	uint64_t sent;
};

struct surge {
	struct surge_phase phase[SURGE_PHASES];
	struct stats_cell *sec; /* [nsec]: second i holds the requests due in [i, i + 1) */
	uint64_t *sec_sent;     /* [nsec] */
	int nsec;
};

/* The phases: rate for warmup_s (kept out of the baseline: a process just started is slow for
 * its first second or two) and before_s, factor × rate for surge_s, rate for after_s. Allocates the
 * timeline (one cell of about 35 KiB per second). */
void surge_init(struct surge *s, double rate, double factor, double warmup_s, double before_s,
                double surge_s, double after_s);
void surge_release(struct surge *s);

/* One attempt due at t_s (seconds since the start of the load) that came back with status
 * (0: no answer) after latency_s. */
void surge_record(struct surge *s, double t_s, long status, double latency_s);
/* One attempt due at t_s that was sent but was still in flight when the run ended. */
void surge_abandoned(struct surge *s, double t_s);

/* The phases, a line per second of the timeline, and the recovery time. */
void surge_print(const struct surge *s, FILE *out);
/* {"phases","timeline","baseline_p99_ms","threshold_ms","window_s","recovery_s"} (new
 * reference); recovery_s is null when not recovered. */
json_t *surge_json(const struct surge *s);

#endif
