/*
 * scenario.c — the entry points of scenario.h: each scenario's defaults, and scenario_run, a run
 * from setup to report. The phases' own code is in scenario_setup.c, scenario_arrivals.c,
 * scenario_flows.c and scenario_report.c (scenario_internal.h lists them).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chaos.h"
#include "check.h"
#include "http.h"
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
	static const char *const names[] = {"mixed", "flash-sale", "retry-storm", "noisy-tenant",
	                                    "chaos", "checkout",   "surge"};

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
	}
}

int scenario_run(const struct load_opts *o)
{
	struct run R0, *R = &R0;
	struct fleet fleet;
	struct pgctl pg;
	struct chaos chaos;
	struct surge surge;
	struct check_opts co = {0};
	struct sigaction sa = {0};
	char logdir_buf[64] = "", opkey_buf[64];
	struct load_opts oo = *o;
	const char **slugs = NULL, **names = NULL;
	json_t *report = NULL, *check_j = NULL, *lag = NULL;
	bool use_chaos = o->scenario == SC_CHAOS, chaos_ok = true, chaos_on = false;
	bool prepare_only = o->scenario == SC_CHECKOUT && o->prepare_only;
	int status = 2;

	memset(R, 0, sizeof(*R));
	fleet_init(&fleet);
	R->o = &oo;
	rng_seed(&R->rng, o->seed);
	random_hex(R->run_id, 8);
	ledger_init(&R->ledger);

	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (o->spawn_apis > 0 || o->spawn_workers > 0) {
		if (!oo.log_dir) {
			snprintf(logdir_buf, sizeof(logdir_buf), "%s/terminus-load.XXXXXX",
			         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
			if (!mkdtemp(logdir_buf)) {
				fprintf(stderr, "terminus-load: mkdtemp: %s\n", strerror(errno));
				goto out;
			}
			oo.log_dir = logdir_buf;
		}
		if (!oo.operator_key) {
			random_hex(opkey_buf, 40);
			oo.operator_key = opkey_buf;
		}
		fleet.bindir = oo.bindir;
		fleet.db = oo.db;
		fleet.operator_key = oo.operator_key;
		fleet.logdir = oo.log_dir;
		fleet.retry_base_ms = oo.retry_base_ms;
		fprintf(stderr,
		        "terminus-load: starting %d API and %d worker processes (logs in %s)\n",
		        o->spawn_apis, o->spawn_workers, oo.log_dir);
		if (!start_fleet(&oo, &fleet, R))
			goto out;
	}
	for (int i = 0; i < o->napis; i++)
		R->apis[R->napis++] = o->apis[i];
	if (R->napis == 0)
		R->apis[R->napis++] = "http://127.0.0.1:8080";
	if (!oo.operator_key) {
		fprintf(stderr,
		        "terminus-load: the run creates its own stores: give --operator-key "
		        "or TERMINUS_OPERATOR_KEY\n");
		goto out;
	}

	R->nstores = o->stores;
	R->stores = xcalloc((size_t)R->nstores, sizeof(*R->stores));
	for (int i = 0; i < R->nstores; i++) {
		if (!setup_store(R, R->apis[0], i))
			goto out;
	}
	if (o->scenario == SC_CHECKOUT && !make_orders(R))
		goto out;
	if (o->scenario == SC_CHECKOUT && !prepare_only && o->check)
		settle(R);
	R->units = o->stock * o->products * o->stores;
	plan_streams(R);
	stats_init(&R->stats, R->nstores, o->live);
	if (o->scenario == SC_SURGE) {
		surge_init(&surge, o->rate, o->surge_factor, o->warmup_s, o->before_s, o->surge_s,
		           o->after_s);
		R->surge = &surge;
	}
	R->eng = http_engine_new(o->concurrency);
	if (use_chaos) {
		struct chaos_opts copts = {o->kill_interval_s, o->api_restarts, o->api_down_s,
		                           o->pg_restarts, o->pg_down_s};

		pgctl_init(&pg, o->pg_dir);
		chaos_init(&chaos, &copts, &fleet, o->pg_dir ? &pg : NULL, o->seed, mono_now(),
		           o->duration_s);
		chaos_on = true;
	}

	if (prepare_only)
		R->stats.t_start = R->stats.t_end = mono_now();
	else if (o->scenario == SC_CHECKOUT)
		run_closed(R);
	else
		run_load(R, use_chaos ? &chaos : NULL);
	if (use_chaos)
		chaos_ok = chaos_finish(&chaos);
	if (o->scenario == SC_FLASH_SALE && R->c.checkouts_acked > (uint64_t)R->units)
		ledger_violation(&R->ledger, "no_oversell",
		                 "%" PRIu64 " checkouts acknowledged for %lld units",
		                 R->c.checkouts_acked, R->units);

	slugs = xcalloc((size_t)R->nstores, sizeof(*slugs));
	names = xcalloc((size_t)R->nstores, sizeof(*names));
	for (int i = 0; i < R->nstores; i++)
		slugs[i] = names[i] = R->stores[i].slug;
	print_header(R, stdout);
	if (!prepare_only)
		stats_print(&R->stats, stdout, names);
	print_counts(R, stdout);
	if (R->surge)
		surge_print(R->surge, stdout);
	if (use_chaos)
		printf("chaos       %d worker SIGKILLs, %d API SIGKILLs (%d restarts), %d PostgreSQL "
		       "restarts (pg_ctl stop -m immediate)%s\n",
		       chaos.worker_kills, chaos.api_kills, chaos.api_restarts_done,
		       chaos.pg_restarts_done, chaos_ok ? "" : "; NOT EVERYTHING CAME BACK");
	fflush(stdout);

	status = 0;
	if (o->scenario == SC_CHECKOUT && stop_requested && o->check) {
		/* A measurement cut short (make bench interrupted): nothing to prove, and its
		 * workers may be gone with the same Ctrl-C, so a drain would only wait. */
		printf("invariants  not checked: interrupted\n");
		status = 2;
	} else if (o->check && !prepare_only) {
		enum check_status cs;

		co.db = oo.db;
		co.store_slugs = slugs;
		co.nstores = (size_t)R->nstores;
		co.ledger = &R->ledger;
		co.drain_timeout_s = o->drain_timeout_s;
		co.live = o->live;
		cs = check_run(&co, stdout, &check_j);
		status = cs == CHECK_OK ? 0 : cs == CHECK_VIOLATED ? 1 : 2;
		if (cs != CHECK_OK && fleet.n == 0 && R->stats.op[OP_CHECKOUT].hist.count > 0 &&
		    !json_is_true(json_object_get(json_object_get(check_j, "drain"), "drained")))
			printf("            (is a terminus-worker running? --workers N starts some)\n");
		if (o->scenario == SC_NOISY_TENANT)
			lag = check_confirm_lag(&co, stdout);
	}
	if (!prepare_only && R->stats.all.hist.count == R->stats.all.status[0]) {
		fprintf(stderr, "terminus-load: no request was answered\n");
		if (status == 0)
			status = 2;
	}
	if (!chaos_ok && status == 0)
		status = 2;
	if (stop_requested)
		fprintf(stderr, "terminus-load: interrupted\n");

	if (o->json_path) {
		json_t *stores = json_array();

		for (int i = 0; i < R->nstores; i++) {
			json_t *prods = json_array();

			for (int k = 0; k < R->stores[i].nproducts; k++)
				json_array_append_new(prods, json_string(R->stores[i].products[k]));
			json_array_append_new(
			        stores,
			        json_pack("{s:s,s:s,s:s,s:o}", "slug", R->stores[i].slug, "id",
			                  R->stores[i].id, "path",
			                  R->stores[i].sync ? "sync" : "async", "products", prods));
		}
		report = stats_json(&R->stats, names);
		json_object_set_new(report, "scenario", json_string(o->name));
		json_object_set_new(report, "seed", json_integer((json_int_t)o->seed));
		json_object_set_new(report, "config",
		                    json_pack("{s:f,s:f,s:i,s:i,s:i,s:I,s:s,s:i,s:s}", "duration_s",
		                              o->duration_s, "rate", o->rate, "concurrency",
		                              o->concurrency, "stores", o->stores, "products",
		                              o->products, "stock", (json_int_t)o->stock, "path",
		                              o->path, "retries", o->retries, "loop",
		                              o->scenario == SC_CHECKOUT ? "closed" : "open"));
		if (o->scenario == SC_CHECKOUT)
			json_object_set_new(json_object_get(report, "config"), "orders",
			                    json_integer((json_int_t)o->orders));
		if (R->surge) {
			json_object_update_new(
			        json_object_get(report, "config"),
			        json_pack("{s:f,s:f,s:f,s:f,s:f}", "warmup_s", o->warmup_s,
			                  "before_s", o->before_s, "surge_s", o->surge_s, "after_s",
			                  o->after_s, "surge_factor", o->surge_factor));
			json_object_set_new(report, "surge", surge_json(R->surge));
		}
		json_object_set_new(report, "store_setup", stores);
		json_object_set_new(report, "counts", counts_json(R));
		json_object_set_new(report, "check", check_j ? json_incref(check_j) : json_null());
		if (lag)
			json_object_set_new(report, "confirm_lag", json_incref(lag));
		if (use_chaos)
			json_object_set_new(report, "chaos", chaos_json(&chaos));
	}
out:
	if (fleet.n > 0) {
		fleet_stop_all(&fleet, 15);
		if (report)
			json_object_set_new(report, "processes", fleet_json(&fleet));
	}
	if (report) {
		json_object_set_new(report, "exit_status", json_integer(status));
		if (!write_json(o->json_path, report) && status == 0)
			status = 2;
	}
	if (o->ledger_path && R->ledger.n > 0 && !ledger_write(&R->ledger, o->ledger_path) &&
	    status == 0)
		status = 2;
	if (chaos_on)
		chaos_release(&chaos);
	if (R->eng)
		http_engine_free(R->eng, NULL, NULL);
	json_decref(report);
	json_decref(check_j);
	json_decref(lag);
	for (int i = 0; R->stores && i < R->nstores; i++)
		free(R->stores[i].products);
	free(R->stores);
	for (int i = 0; i < R->nstreams; i++) {
		free(R->streams[i].created.e);
		free(R->streams[i].checked.e);
	}
	free(slugs);
	free(names);
	free(R->orders);
	if (R->stats.store)
		stats_release(&R->stats);
	if (R->surge)
		surge_release(R->surge);
	ledger_release(&R->ledger);
	fleet_release(&fleet);
	return status;
}
