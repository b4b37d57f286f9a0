/*
 * chaos.c — the fault schedule (see chaos.h).
 *
 * The API kills fall in the second eighth to the five-eighths of the run and the PostgreSQL
 * restarts are spread evenly over it (one: half-way),
 * so the two kinds of outage mostly do not overlap and each one's recovery is visible on its
 * own; the worker kills are random and go on through both.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"
#include "banned.h"

static void note(struct chaos *c, double now, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void note(struct chaos *c, double now, const char *fmt, ...)
{
	char what[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	json_array_append_new(c->timeline,
	                      json_pack("{s:f,s:s}", "t", now - c->t0, "action", what));
}

static double next_kill_after(struct chaos *c, double now)
{
	return now + c->o.kill_interval_s * (0.5 + rng_unit(&c->rng));
}

void chaos_init(struct chaos *c, const struct chaos_opts *o, struct fleet *fleet, struct pgctl *pg,
                uint64_t seed, double t0, double duration)
{
	memset(c, 0, sizeof(*c));
	c->o = *o;
	if (c->o.api_restarts > CHAOS_MAX_EVENTS)
		c->o.api_restarts = CHAOS_MAX_EVENTS;
	if (c->o.pg_restarts > CHAOS_MAX_EVENTS)
		c->o.pg_restarts = CHAOS_MAX_EVENTS;
	if (!pg)
		c->o.pg_restarts = 0;
	c->fleet = fleet;
	c->pg = pg;
	rng_seed(&c->rng, seed ^ 0xc4a05ULL);
	c->t0 = t0;
	c->duration = duration;
	c->next_kill = c->o.kill_interval_s > 0 ? next_kill_after(c, t0) : 1e300;
	for (int i = 0; i < c->o.api_restarts; i++)
		c->api_at[i] =
		        t0 + duration * (i + 1) / (c->o.api_restarts + 1) * 0.5 + duration * 0.125;
	for (int i = 0; i < c->o.pg_restarts; i++)
		c->pg_at[i] = t0 + duration * (i + 1) / (c->o.pg_restarts + 1);
	c->timeline = json_array();
}

/* A running process of that kind, chosen at random; NULL when none runs. */
static struct proc *pick(struct chaos *c, enum proc_kind kind)
{
	struct proc *cand[64];
	int n = 0;

	for (int i = 0; i < c->fleet->n && n < 64; i++) {
		struct proc *p = &c->fleet->p[i];

		if (p->kind == kind && p->pid > 0 && p != c->api_down)
			cand[n++] = p;
	}
	return n ? cand[rng_below(&c->rng, (uint32_t)n)] : NULL;
}

static void kill_worker(struct chaos *c, double now)
{
	struct proc *w = pick(c, PROC_WORKER);

	if (!w)
		return;
	fleet_kill9(w);
	c->worker_kills++;
	note(c, now, "SIGKILL %s, start it again", w->name);
	fleet_start(c->fleet, w);
}

static void pg_step(struct chaos *c, double now)
{
	switch (c->pg_phase) {
	case 0:
		if (c->pg_next < c->o.pg_restarts && now >= c->pg_at[c->pg_next]) {
			c->pg_next++;
			if (pgctl_stop_async(c->pg)) {
				c->pg_phase = 1;
				note(c, now, "%s", "pg_ctl stop -m immediate");
			}
		}
		break;
	case 1:
		if (pgctl_idle(c->pg)) {
			c->pg_phase = 2;
			c->pg_start_at = now + c->o.pg_down_s;
			note(c, now, "%s", "PostgreSQL is down");
		}
		break;
	case 2:
		if (now >= c->pg_start_at && pgctl_start_async(c->pg)) {
			c->pg_phase = 3;
			note(c, now, "%s", "pg_ctl start");
		}
		break;
	case 3:
		if (pgctl_idle(c->pg)) {
			c->pg_phase = 0;
			if (!c->pg->down) {
				c->pg_restarts_done++;
				note(c, now, "%s", "PostgreSQL is up again");
			}
		}
		break;
	}
}

void chaos_tick(struct chaos *c, double now)
{
	fleet_reap(c->fleet);
	if (c->winding_down) {
		c->next_kill = 1e300;
		c->api_next = c->o.api_restarts;
		if (c->pg_phase == 0)
			c->pg_next = c->o.pg_restarts;
	}
	if (now >= c->next_kill) {
		kill_worker(c, now);
		c->next_kill = next_kill_after(c, now);
	}
	if (!c->api_down && c->api_next < c->o.api_restarts && now >= c->api_at[c->api_next]) {
		struct proc *a = pick(c, PROC_API);

		c->api_next++;
		if (a) {
			fleet_kill9(a);
			c->api_kills++;
			c->api_down = a;
			c->api_restart_at = now + c->o.api_down_s;
			note(c, now, "SIGKILL %s", a->name);
		}
	}
	if (c->api_down && now >= c->api_restart_at) {
		if (fleet_start(c->fleet, c->api_down)) {
			c->api_restarts_done++;
			note(c, now, "start %s again", c->api_down->name);
		}
		c->api_down = NULL;
	}
	if (c->pg)
		pg_step(c, now);
}

void chaos_wind_down(struct chaos *c)
{
	c->winding_down = true;
}

bool chaos_settled(const struct chaos *c)
{
	return c->pg_phase == 0 && !c->api_down;
}

bool chaos_finish(struct chaos *c)
{
	bool ok = true;
	double now = mono_now();

	if (c->pg && c->pg_phase != 0) {
		ok = pgctl_ensure_up(c->pg) && ok;
		if (!c->pg->down)
			c->pg_restarts_done++;
		note(c, now, "%s", "PostgreSQL is up again (end of run)");
		c->pg_phase = 0;
	} else if (c->pg && c->pg->down) {
		ok = pgctl_ensure_up(c->pg) && ok;
	}
	if (c->api_down) {
		if (fleet_start(c->fleet, c->api_down))
			c->api_restarts_done++;
		note(c, now, "start %s again (end of run)", c->api_down->name);
		c->api_down = NULL;
	}
	fleet_reap(c->fleet);
	for (int i = 0; i < c->fleet->n; i++) {
		struct proc *p = &c->fleet->p[i];

		if (p->pid <= 0 && !fleet_start(c->fleet, p))
			ok = false;
	}
	for (int i = 0; i < c->fleet->n; i++) {
		struct proc *p = &c->fleet->p[i];

		if (p->kind == PROC_API && !fleet_wait_ready(p, 30)) {
			fprintf(stderr, "terminus-load: %s is not ready after the chaos; see %s\n",
			        p->name, p->log);
			ok = false;
		}
	}
	return ok;
}

json_t *chaos_json(const struct chaos *c)
{
	return json_pack("{s:i,s:i,s:i,s:i,s:O}", "worker_kills", c->worker_kills, "api_kills",
	                 c->api_kills, "api_restarts", c->api_restarts_done, "pg_restarts",
	                 c->pg_restarts_done, "timeline", c->timeline);
}

void chaos_release(struct chaos *c)
{
	json_decref(c->timeline);
	c->timeline = NULL;
}
