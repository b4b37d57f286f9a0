/*
 * scenario.c — the entry points of scenario.h: each scenario's defaults, and scenario_run, which
 * reads as the phases of a run in order. The phases themselves are in scenario_setup.c,
 * scenario_arrivals.c, scenario_flows.c and scenario_report.c (scenario_internal.h lists them).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "chaos.h"
#include "http.h"
#include "slow.h"
#include "scenario_internal.h"
#include "surge.h"
#include "banned.h"

volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void scenario_defaults(struct load_opts *o, enum scenario sc)
{
	static const char *const names[] = {"mixed",        "flash-sale", "retry-storm",
	                                    "noisy-tenant", "chaos",      "checkout",
	                                    "surge",        "abuse",      "slowloris"};

	memset(o, 0, sizeof(*o));
	o->scenario = sc;
	o->name = names[sc];
	o->duration_s = 10;
	o->rate = 100;
	o->concurrency = 64;
	o->stores = 2;
	o->products = 5;
	o->stock = 1000000;
	o->path = "both";
	o->timeout_ms = 10000;
	o->storm_timeout_ms = 5;
	o->retries = 2;
	o->drain_timeout_s = 60;
	o->check = true;
	o->retry_base_ms = 100;
	o->kill_interval_s = 1.0;
	o->api_restarts = 1;
	o->api_down_s = 1.0;
	o->pg_restarts = 1;
	o->pg_down_s = 2.0;
	o->warmup_s = 5;
	o->before_s = 15;
	o->surge_s = 20;
	o->after_s = 30;
	o->surge_factor = 3;
	o->slow = 200;
	o->slow_interval_s = 2;
	o->request_timeout_s = 10;
	switch (sc) {
	case SC_MIXED:
		break;
	case SC_FLASH_SALE:
		o->rate = 200;
		o->duration_s = 5;
		o->stores = 1;
		o->products = 1;
		o->stock = 100;
		o->path = "async";
		o->retries = 3;
		break;
	case SC_RETRY_STORM:
		o->rate = 50;
		o->retries = 8;
		break;
	case SC_NOISY_TENANT:
		o->rate = 20;
		o->stores = 4;
		o->path = "async";
		break;
	case SC_CHAOS:
		o->duration_s = 30;
		o->spawn_apis = 2;
		o->spawn_workers = 2;
		o->retries = 6;
		o->drain_timeout_s = 90;
		break;
	case SC_CHECKOUT:
		o->orders = 2000;
		o->concurrency = 16;
		o->duration_s = 60; /* a cap: the run ends when every order was checked out */
		o->stores = 1;
		o->products = 64; /* orders spread over 64 inventory rows, as bench/checkout.sh */
		o->stock = 1000000000;
		o->path = "async";
		o->retries = 3;
		break;
	case SC_SURGE:
		/* What the server answers, unretried; and room in flight for what it holds, so that
		 * the generator's cap does not queue the surge where the server cannot shed it. */
		o->retries = 0;
		o->concurrency = 1000;
		o->duration_s = o->warmup_s + o->before_s + o->surge_s + o->after_s;
		break;
	case SC_ABUSE:
		/* What the server answers each group, unretried: a retry would hide a refusal. */
		o->rate = 20;
		o->stores = 2;
		o->retries = 0;
		o->concurrency = 256;
		o->path = "sync";
		break;
	case SC_SLOWLORIS:
		o->rate = 20;
		o->duration_s = 15;
		o->stores = 1;
		o->products = 2;
		o->retries = 0;
		break;
	}
}

/* A run not yet set up: its options, seed and id; Ctrl-C (and SIGTERM) ask it to stop, and a
 * request to a peer that hung up fails rather than killing the process. */
static void run_init(struct run *R, const struct load_opts *o)
{
	struct sigaction sa = {0};

	memset(R, 0, sizeof(*R));
	fleet_init(&R->fleet);
	R->opts = *o;
	R->o = &R->opts;
	R->chaos_ok = true;
	R->prepare_only = o->scenario == SC_CHECKOUT && o->prepare_only;
	rng_seed(&R->rng, o->seed);
	random_hex(R->run_id, 8);
	ledger_init(&R->ledger);

	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* What the load runs with: its streams, the statistics, a surge's phases, the engine and, for
 * chaos, the fault schedule (from now to the end of --duration). */
static void load_prepare(struct run *R)
{
	const struct load_opts *o = R->o;

	R->units = o->stock * o->products * o->stores;
	plan_streams(R);
	stats_init(&R->stats, R->nstores, o->live);
	if (o->scenario == SC_SURGE) {
		R->surge = xmalloc(sizeof(*R->surge));
		surge_init(R->surge, o->rate, o->surge_factor, o->warmup_s, o->before_s, o->surge_s,
		           o->after_s);
	}
	R->eng = http_engine_new(o->concurrency);
	if (o->scenario == SC_CHAOS) {
		struct chaos_opts copts = {o->kill_interval_s, o->api_restarts, o->api_down_s,
		                           o->pg_restarts, o->pg_down_s};

		pgctl_init(&R->pg, o->pg_dir);
		R->chaos = xmalloc(sizeof(*R->chaos));
		chaos_init(R->chaos, &copts, &R->fleet, o->pg_dir ? &R->pg : NULL, o->seed,
		           mono_now(), o->duration_s);
	}
}

/* The load itself: none (--prepare-only), the closed loop (checkout) or the open loop; then
 * the faults stop and what they took down is brought back, before anything is checked. */
static void load_run(struct run *R)
{
	if (R->prepare_only)
		R->stats.t_start = R->stats.t_end = mono_now();
	else if (R->o->scenario == SC_CHECKOUT)
		run_closed_loop(R);
	else
		run_open_loop(R);
	if (R->chaos)
		R->chaos_ok = chaos_finish(R->chaos);
}

/* What the run holds, whichever phase it got to (every part is empty or NULL until made). */
static void run_release(struct run *R)
{
	if (R->chaos) {
		chaos_release(R->chaos);
		free(R->chaos);
	}
	if (R->eng)
		http_engine_free(R->eng, NULL, NULL);
	for (int i = 0; R->stores && i < R->nstores; i++)
		free(R->stores[i].products);
	free(R->stores);
	for (int i = 0; i < R->nstreams; i++) {
		free(R->streams[i].created.e);
		free(R->streams[i].checked.e);
	}
	free(R->orders);
	if (R->stats.store)
		stats_release(&R->stats);
	if (R->surge) {
		surge_release(R->surge);
		free(R->surge);
	}
	if (R->slow) {
		slow_release(R->slow);
		free(R->slow);
	}
	free(R->groups);
	ledger_release(&R->ledger);
	fleet_release(&R->fleet);
}

int scenario_run(const struct load_opts *o)
{
	struct run R0, *R = &R0;
	json_t *report = NULL; /* --json, once the run got as far as its report */
	int status = 2;

	run_init(R, o);
	if (setup_run(R)) {
		load_prepare(R);
		load_run(R);
		status = report_run(R, &report);
	}
	status = report_write(R, report, status);
	json_decref(report);
	run_release(R);
	return status;
}
