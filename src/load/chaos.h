/*
 * chaos.h — the faults a chaos run injects, on a schedule drawn from the run's seed.
 *
 *   - a terminus-worker, chosen at random, is SIGKILLed every kill_interval (uniform in
 *     [0.5, 1.5] × the interval) and a new one started at once;
 *   - api_restarts times, a terminus-api is SIGKILLed and started again api_down later, on
 *     the same port (clients see refused connections meanwhile and retry elsewhere);
 *   - pg_restarts times, PostgreSQL is stopped with `pg_ctl stop -m immediate` and started
 *     again pg_down later.
 *
 * Only processes of the run's own fleet, and the cluster it was given, are touched. Every fault
 * is bounded: the restarts are scheduled inside the run, and chaos_finish() puts everything back
 * (cluster running, every process of the fleet running) before the outbox is drained and the
 * invariants are checked.
 */
#ifndef TERMINUS_LOAD_CHAOS_H
#define TERMINUS_LOAD_CHAOS_H

#include <stdbool.h>
#include <jansson.h>

#include "fleet.h"
#include "util.h"

#define CHAOS_MAX_EVENTS 16

struct chaos_opts {
	double kill_interval_s; /* 0: no worker kills */
	int api_restarts;
	double api_down_s;
	int pg_restarts;
	double pg_down_s;
};

struct chaos {
	struct chaos_opts o;
	struct fleet *fleet;
	struct pgctl *pg; /* NULL: no cluster to control */
	struct rng rng;
	double t0, duration;
	double next_kill;
	double api_at[CHAOS_MAX_EVENTS];
	int api_next;
	struct proc *api_down; /* killed, waiting to be restarted */
	double api_restart_at;
	double pg_at[CHAOS_MAX_EVENTS];
	int pg_next;
	int pg_phase; /* 0 idle, 1 stopping, 2 down, 3 starting */
	double pg_start_at;
	bool winding_down; /* no new faults; only restore what is down */
	int worker_kills, api_kills, api_restarts_done, pg_restarts_done;
	json_t *timeline; /* [{"t","action"}] */
};

/* Plans the faults over [t0, t0 + duration]. pg may be NULL (then pg_restarts must be 0). */
void chaos_init(struct chaos *c, const struct chaos_opts *o, struct fleet *fleet, struct pgctl *pg,
                uint64_t seed, double t0, double duration);
/* Injects what is due at `now`; cheap when nothing is. */
void chaos_tick(struct chaos *c, double now);
/* No new faults from now on; chaos_tick() still brings back what is down, on schedule. */
void chaos_wind_down(struct chaos *c);
/* True when nothing is down or on its way back. */
bool chaos_settled(const struct chaos *c);
/* Stops injecting and restores: the cluster up, the killed API back, every process running.
 * False (printed) when something could not be restored. */
bool chaos_finish(struct chaos *c);
/* {"worker_kills","api_kills","api_restarts","pg_restarts","timeline"} (new reference). */
json_t *chaos_json(const struct chaos *c);
void chaos_release(struct chaos *c);

#endif
