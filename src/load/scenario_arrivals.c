/*
 * scenario_arrivals.c — when requests start. Each scenario's streams of arrivals, the open loop
 * that starts a flow at every arrival on the streams' fixed schedules (see scenario.h), and the
 * closed loop of checkout; both drive the engine until the last answer, or a grace period,
 * and count what was never sent or never answered.
 */
#include "chaos.h"
#include "http.h"
#include "scenario_internal.h"
#include "slow.h"
#include "banned.h"

#define GRACE_S 15.0 /* after the last arrival, answers may take this long */

/* ---- the streams ----------------------------------------------------------------------------- */

void plan_streams(struct run *R)
{
	const struct load_opts *o = R->o;
	struct stream *s = R->streams;

	switch (o->scenario) {
	case SC_NOISY_TENANT:
		/* Store 0 floods; every other store shops at the normal rate. */
		s[0] = (struct stream){.rate = o->noisy_rate > 0 ? o->noisy_rate : 10 * o->rate,
		                       .store_lo = 0,
		                       .store_hi = 1,
		                       .kind = FLOW_SHOPPER};
		s[1] = (struct stream){.rate = o->rate * (R->nstores - 1),
		                       .store_lo = 1,
		                       .store_hi = R->nstores,
		                       .kind = FLOW_SHOPPER};
		R->nstreams = R->nstores > 1 ? 2 : 1;
		break;
	case SC_FLASH_SALE:
		s[0] = (struct stream){
		        .rate = o->rate, .store_lo = 0, .store_hi = R->nstores, .kind = FLOW_BUYER};
		R->nstreams = 1;
		break;
	case SC_RETRY_STORM:
		s[0] = (struct stream){
		        .rate = o->rate, .store_lo = 0, .store_hi = R->nstores, .kind = FLOW_STORM};
		R->nstreams = 1;
		break;
	case SC_CHECKOUT:
		R->nstreams = 0; /* no arrivals: a closed loop (run_closed_loop) */
		break;
	case SC_MIXED:
	case SC_CHAOS:
	case SC_SURGE:
		s[0] = (struct stream){.rate = o->rate,
		                       .store_lo = 0,
		                       .store_hi = R->nstores,
		                       .kind = FLOW_SHOPPER};
		R->nstreams = 1;
		if (o->scenario == SC_SURGE) {
			s[0].steps[0] = (struct rate_step){o->warmup_s + o->before_s, o->rate};
			s[0].steps[1] = (struct rate_step){o->surge_s, o->surge_factor * o->rate};
			s[0].nsteps = 2;
		}
		break;
	case SC_ABUSE:
	case SC_SLOWLORIS:
		break;
	}
	for (int i = 0; i < R->nstreams; i++)
		s[i].group = -1;
	if (o->scenario == SC_ABUSE)
		plan_abuse(R);
	else if (o->scenario == SC_SLOWLORIS)
		plan_slowloris(R);
}

/* ---- the loops ------------------------------------------------------------------------------- */

/* When arrival k of s is due: t0 + k / rate, or, after steps of other rates, the moment the
 * schedule's cumulative arrivals reach k. (Summed from 0 and added to t0 once, so that the last
 * step ends exactly where --duration does.) */
static double arrival_due(const struct stream *s, double t0, uint64_t k)
{
	double t = 0, before = 0;

	for (int i = 0; i < s->nsteps; i++) {
		double n = s->steps[i].rate * s->steps[i].span_s;

		if ((double)k < before + n)
			return t0 + (t + ((double)k - before) / s->steps[i].rate);
		before += n;
		t += s->steps[i].span_s;
	}
	return t0 + (t + ((double)k - before) / s->rate);
}

/* The load is over: what was never sent or never answered is counted, the engine freed. */
static void end_load(struct run *R)
{
	unsigned long long unsent, abandoned;

	if (R->slow)
		slow_finish(R->slow, mono_now());
	R->stats.t_end = mono_now();
	R->stats.sent = http_engine_sent(R->eng);
	R->aborting = true;
	http_engine_free(R->eng, &unsent, &abandoned);
	R->eng = NULL;
	R->stats.unsent = unsent;
	R->stats.abandoned = abandoned;
	stats_progress_end(&R->stats);
}

void run_open_loop(struct run *R)
{
	const struct load_opts *o = R->o;
	struct chaos *chaos = R->chaos;
	double t0 = mono_now(), t_end = t0 + o->duration_s, grace_end = 0;

	R->stats.t_start = t0;
	for (int i = 0; i < R->nstreams; i++)
		R->streams[i].next_t = t0;
	if (R->slow)
		slow_open_all(R->slow, t0);
	while (!stop_requested) {
		double now = mono_now(), wait = 0.05;

		/* Every arrival due by now, including the last ones when the loop woke late. */
		for (int i = 0; i < R->nstreams; i++) {
			struct stream *s = &R->streams[i];

			while (s->next_t <= now && s->next_t < t_end) {
				start_flow(R, s, s->next_t);
				s->next_t = arrival_due(s, t0, s->arrivals);
			}
			if (s->next_t < t_end && s->next_t - now < wait)
				wait = s->next_t - now;
		}
		if (R->slow)
			slow_tick(R->slow, now);
		if (now < t_end) {
			if (chaos)
				chaos_tick(chaos, now);
		} else {
			if (grace_end == 0) {
				grace_end = now + GRACE_S + (double)o->timeout_ms / 1000.0;
				if (chaos)
					chaos_wind_down(chaos);
			}
			if (chaos)
				chaos_tick(chaos, now);
			if (http_engine_in_flight(R->eng) == 0 && http_engine_queued(R->eng) == 0 &&
			    (!chaos || chaos_settled(chaos)) && (!R->slow || slow_settled(R->slow)))
				break;
			if (now > grace_end)
				break;
		}
		http_engine_step(R->eng, wait > 0 ? wait : 0);
		stats_progress(&R->stats, mono_now(), http_engine_in_flight(R->eng),
		               http_engine_queued(R->eng));
	}
	end_load(R);
}

/* checkout: --concurrency clients, each sending its next checkout when the previous one is
 * settled, until every order made up front was checked out (or --duration has passed: then
 * the checkouts in flight may still finish within the grace period). */
void run_closed_loop(struct run *R)
{
	const struct load_opts *o = R->o;
	double t0 = mono_now(), grace_end = 0;

	R->stats.t_start = t0;
	R->t_stop = t0 + o->duration_s;
	for (int i = 0; i < o->concurrency && start_closed(R, t0, NULL); i++)
		;
	while (!stop_requested) {
		double now = mono_now();

		if (http_engine_in_flight(R->eng) == 0 && http_engine_queued(R->eng) == 0)
			break;
		if (now >= R->t_stop) {
			if (grace_end == 0)
				grace_end = now + GRACE_S + (double)o->timeout_ms / 1000.0;
			else if (now > grace_end)
				break;
		}
		http_engine_step(R->eng, 0.05);
		stats_progress(&R->stats, mono_now(), http_engine_in_flight(R->eng),
		               http_engine_queued(R->eng));
	}
	end_load(R);
	R->load_s = R->stats.t_end - R->stats.t_start;
}
