/*
 * scenario_report.c — the end of a run: the clients' own verdict (flash-sale: no oversell), the
 * summary on stdout, the drain and the invariants (check.c), the exit status, the JSON report
 * (--json) and the ledger (--ledger).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "chaos.h"
#include "check.h"
#include "db.h"
#include "scenario_internal.h"
#include "surge.h"
#include "banned.h"

/* ---- the summary on stdout ------------------------------------------------------------------- */

static void print_header(const struct run *R, FILE *out)
{
	const struct load_opts *o = R->o;

	if (o->scenario == SC_CHECKOUT)
		fprintf(out,
		        "terminus-load checkout: %zu orders, closed loop (each client sends its next "
		        "checkout when the last is answered; at most %.0f s)",
		        R->norders, o->duration_s);
	else if (o->scenario == SC_SURGE)
		fprintf(out,
		        "terminus-load surge: %.1f s, open loop at %.0f/s, %.0f/s from %g s to %g s",
		        o->duration_s, o->rate, o->surge_factor * o->rate,
		        o->warmup_s + o->before_s, o->warmup_s + o->before_s + o->surge_s);
	else
		fprintf(out, "terminus-load %s: %.1f s, open loop at %.0f/s", o->name,
		        o->duration_s, o->rate);
	if (o->scenario == SC_NOISY_TENANT)
		fprintf(out, " per quiet store, %.0f/s for the noisy one", R->streams[0].rate);
	fprintf(out, ", concurrency %d, %d API%s, seed %" PRIu64 "\n", o->concurrency, R->napis,
	        R->napis == 1 ? "" : "s", o->seed);
	fprintf(out, "stores     ");
	for (int i = 0; i < R->nstores; i++)
		fprintf(out, " %s (%s%s)", R->stores[i].slug, R->stores[i].sync ? "sync" : "async",
		        o->scenario == SC_NOISY_TENANT && i == 0 ? ", noisy" : "");
	fprintf(out, "\n");
}

static void print_counts(const struct run *R, FILE *out)
{
	const struct counts *c = &R->c;

	fprintf(out,
	        "orders      %" PRIu64 " created; checkouts %" PRIu64 " acknowledged (%" PRIu64
	        " 202 async, %" PRIu64 " 200 sync), %" PRIu64 " declined, %" PRIu64
	        " sold out, %" PRIu64 " not pending; cancels %" PRIu64 " done, %" PRIu64
	        " refused; %" PRIu64 " retries, %" PRIu64 " given up\n",
	        c->orders_created, c->checkouts_acked, c->checkouts_async, c->checkouts_sync,
	        c->declined, c->sold_out, c->not_pending, c->cancels_ok, c->not_cancellable,
	        c->retries, c->gave_up);
	if (R->o->scenario == SC_CHECKOUT)
		fprintf(out,
		        "checkout    %zu pending orders made in SQL in %.1f s, their creation events "
		        "drained in %.1f s (%lld left); %zu sent, %" PRIu64
		        " acknowledged in %.2f s: %.1f checkouts/s at concurrency %d\n",
		        R->norders, R->setup_s, R->settle_s, R->settle_left, R->next_order,
		        c->checkouts_acked, R->load_s,
		        R->load_s > 0 ? (double)c->checkouts_acked / R->load_s : 0,
		        R->o->concurrency);
	if (R->o->scenario == SC_FLASH_SALE)
		fprintf(out,
		        "flash-sale  %lld units for %" PRIu64 " buyers: %" PRIu64
		        " checkouts acknowledged, %" PRIu64 " sold out (409)\n",
		        R->units, R->streams[0].arrivals, c->checkouts_acked, c->sold_out);
	if (R->o->scenario == SC_RETRY_STORM)
		fprintf(out,
		        "retry-storm %" PRIu64 " first attempts timed out, %" PRIu64
		        " double clicks; %" PRIu64 " fresh answers, %" PRIu64 " replays (%" PRIu64
		        " compared byte for byte), %" PRIu64 " 409 in use, %" PRIu64 " of %" PRIu64
		        " changed bodies refused with 422\n",
		        c->first_timeouts, c->double_clicks, c->fresh_answers, c->replays,
		        c->replay_checks, c->in_use, c->reused_422, c->changed_body_sent);
}

static void print_summary(const struct run *R, const char *const *names)
{
	const struct chaos *chaos = R->chaos;

	print_header(R, stdout);
	if (!R->prepare_only)
		stats_print(&R->stats, stdout, names);
	print_counts(R, stdout);
	if (R->surge)
		surge_print(R->surge, stdout);
	if (R->groups)
		groups_print(R, stdout);
	if (chaos)
		printf("chaos       %d worker SIGKILLs, %d API SIGKILLs (%d restarts), %d PostgreSQL "
		       "restarts (pg_ctl stop -m immediate)%s\n",
		       chaos->worker_kills, chaos->api_kills, chaos->api_restarts_done,
		       chaos->pg_restarts_done, R->chaos_ok ? "" : "; NOT EVERYTHING CAME BACK");
	fflush(stdout);
}

/* ---- the verdict ----------------------------------------------------------------------------- */

/* The drain and the invariants over the run's stores and ledger (unless --no-check or
 * --prepare-only): 0 they held, 1 a violation, 2 they could not be checked. *check gets the
 * checker's JSON, *lag (noisy-tenant) the confirmation lag per store (new references). */
static int check_invariants(const struct run *R, const char *const *names, json_t **check,
                            json_t **lag)
{
	const struct load_opts *o = R->o;
	struct check_opts co = {0};
	enum check_status cs;

	if (o->scenario == SC_CHECKOUT && stop_requested && o->check) {
		/* A measurement cut short (make bench interrupted): nothing to prove, and its
		 * workers may be gone with the same Ctrl-C, so a drain would only wait. */
		printf("invariants  not checked: interrupted\n");
		return 2;
	}
	if (!o->check || R->prepare_only)
		return 0;
	co.db = o->db;
	co.store_slugs = names;
	co.nstores = (size_t)R->nstores;
	co.ledger = &R->ledger;
	co.drain_timeout_s = o->drain_timeout_s;
	co.live = o->live;
	cs = check_run(&co, stdout, check);
	if (cs != CHECK_OK && R->fleet.n == 0 && R->stats.op[OP_CHECKOUT].hist.count > 0 &&
	    !json_is_true(json_object_get(json_object_get(*check, "drain"), "drained")))
		printf("            (is a terminus-worker running? --workers N starts some)\n");
	if (o->scenario == SC_NOISY_TENANT)
		*lag = check_confirm_lag(&co, stdout);
	return cs == CHECK_OK ? 0 : cs == CHECK_VIOLATED ? 1 : 2;
}

static struct db_stmt st_open_faults =
        DB_STMT("load_open_faults",
                "SELECT s.slug, f.rule, f.severity, f.subject, f.summary FROM faults f "
                "JOIN stores s ON s.id = f.store_id "
                "WHERE f.store_id = ANY($1::uuid[]) AND f.resolved_at IS NULL ORDER BY f.seq");

/* After the drain: the faults the fault detector still has open on the run's stores — what the
 * run may have left behind. Printed and returned ([{"store","rule","severity","subject",
 * "summary"}], new reference; NULL when they could not be read). It does not change the exit
 * status: a fault may be one the detector has yet to resolve, and the checker is the proof. */
static json_t *open_faults(const struct run *R)
{
	const char **ids = xcalloc((size_t)R->nstores, sizeof(*ids));
	struct err e = ERR_INIT;
	struct db_conn *c = db_conn_open(R->o->db, DB_ROLE_OWNER, &e);
	char *scope;
	PGresult *r = NULL;
	json_t *out = NULL;

	for (int i = 0; i < R->nstores; i++)
		ids[i] = R->stores[i].id;
	scope = db_array(R->nstores, ids);
	if (c)
		r = db_exec(c, &st_open_faults, DB_PARAMS(scope), &e);
	if (!r) {
		printf("faults      could not be read: %s\n", e.message);
		goto release;
	}
	out = json_array();
	printf("faults      %d open on the run's stores%s\n", PQntuples(r),
	       PQntuples(r) > 0 ? ":" : "");
	for (int row = 0; row < PQntuples(r); row++) {
		printf("            %s %s %s %s: %s\n", db_get(r, row, 0), db_get(r, row, 1),
		       db_get(r, row, 2), db_get(r, row, 3), db_get(r, row, 4));
		json_array_append_new(
		        out, json_pack("{s:s,s:s,s:s,s:s,s:s}", "store", db_get(r, row, 0), "rule",
		                       db_get(r, row, 1), "severity", db_get(r, row, 2), "subject",
		                       db_get(r, row, 3), "summary", db_get(r, row, 4)));
	}
	PQclear(r);
release:
	if (c)
		db_conn_free(c);
	err_release(&e);
	free(scope);
	free(ids);
	return out;
}

/* A run proves nothing when no request was answered, or when chaos could not put back what
 * it took down: then a clean check still exits 2. */
static int run_status(const struct run *R, int status)
{
	if (!R->prepare_only && R->stats.all.hist.count == R->stats.all.status[0]) {
		fprintf(stderr, "terminus-load: no request was answered\n");
		if (status == 0)
			status = 2;
	}
	if (!R->chaos_ok && status == 0)
		status = 2;
	if (stop_requested)
		fprintf(stderr, "terminus-load: interrupted\n");
	return status;
}

/* ---- the JSON report ------------------------------------------------------------------------- */

static json_t *counts_json(const struct run *R)
{
	const struct counts *c = &R->c;
	json_t *j = json_pack(
	        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "orders_created",
	        (json_int_t)c->orders_created, "checkouts_acked", (json_int_t)c->checkouts_acked,
	        "checkouts_sync", (json_int_t)c->checkouts_sync, "checkouts_async",
	        (json_int_t)c->checkouts_async, "declined", (json_int_t)c->declined, "sold_out",
	        (json_int_t)c->sold_out, "not_pending", (json_int_t)c->not_pending, "cancels_ok",
	        (json_int_t)c->cancels_ok, "not_cancellable", (json_int_t)c->not_cancellable,
	        "retries", (json_int_t)c->retries, "gave_up", (json_int_t)c->gave_up);

	if (R->o->scenario == SC_RETRY_STORM) {
		json_object_set_new(j, "first_timeouts",
		                    json_integer((json_int_t)c->first_timeouts));
		json_object_set_new(j, "double_clicks", json_integer((json_int_t)c->double_clicks));
		json_object_set_new(j, "fresh_answers", json_integer((json_int_t)c->fresh_answers));
		json_object_set_new(j, "replays", json_integer((json_int_t)c->replays));
		json_object_set_new(j, "replay_checks", json_integer((json_int_t)c->replay_checks));
		json_object_set_new(j, "in_use_409", json_integer((json_int_t)c->in_use));
		json_object_set_new(j, "changed_body_sent",
		                    json_integer((json_int_t)c->changed_body_sent));
		json_object_set_new(j, "reused_422", json_integer((json_int_t)c->reused_422));
	}
	if (R->o->scenario == SC_CHECKOUT) {
		json_object_set_new(j, "orders_prepared", json_integer((json_int_t)R->norders));
		json_object_set_new(j, "orders_checked_out",
		                    json_integer((json_int_t)R->next_order));
		json_object_set_new(j, "setup_s", json_real(R->setup_s));
		json_object_set_new(j, "settle_s", json_real(R->settle_s));
		json_object_set_new(j, "settle_pending_left", json_integer(R->settle_left));
		json_object_set_new(j, "load_s", json_real(R->load_s));
		json_object_set_new(
		        j, "checkouts_per_s",
		        json_real(R->load_s > 0 ? (double)c->checkouts_acked / R->load_s : 0));
	}
	if (R->o->scenario == SC_FLASH_SALE) {
		json_object_set_new(j, "units", json_integer(R->units));
		json_object_set_new(j, "buyers", json_integer((json_int_t)R->streams[0].arrivals));
	}
	return j;
}

/* [{"slug","id","path","products"}]: what the run made, for a later run or pgbench. */
static json_t *store_setup_json(const struct run *R)
{
	json_t *stores = json_array();

	for (int i = 0; i < R->nstores; i++) {
		json_t *prods = json_array();

		for (int k = 0; k < R->stores[i].nproducts; k++)
			json_array_append_new(prods, json_string(R->stores[i].products[k]));
		json_array_append_new(
		        stores, json_pack("{s:s,s:s,s:s,s:o}", "slug", R->stores[i].slug, "id",
		                          R->stores[i].id, "path",
		                          R->stores[i].sync ? "sync" : "async", "products", prods));
	}
	return stores;
}

static json_t *config_json(const struct run *R)
{
	const struct load_opts *o = R->o;
	json_t *config = json_pack("{s:f,s:f,s:i,s:i,s:i,s:I,s:s,s:i,s:s}", "duration_s",
	                           o->duration_s, "rate", o->rate, "concurrency", o->concurrency,
	                           "stores", o->stores, "products", o->products, "stock",
	                           (json_int_t)o->stock, "path", o->path, "retries", o->retries,
	                           "loop", o->scenario == SC_CHECKOUT ? "closed" : "open");

	/* The customers' source addresses: how many distinct ones the run's flows used. */
	json_object_set_new(config, "client_addresses",
	                    json_integer(R->client_count == 0 ? 0
	                                 : R->client_next < R->client_count
	                                         ? (json_int_t)R->client_next
	                                         : (json_int_t)R->client_count));
	json_object_set_new(config, "private_database", json_boolean(o->private_pg));
	if (o->scenario == SC_SLOWLORIS)
		json_object_update_new(config,
		                       json_pack("{s:i,s:f,s:f}", "slow", o->slow,
		                                 "slow_interval_s", o->slow_interval_s,
		                                 "request_timeout_s", o->request_timeout_s));
	if (o->scenario == SC_ABUSE)
		json_object_set_new(config, "flood_rate",
		                    json_real(o->flood_rate > 0 ? o->flood_rate : 10 * o->rate));
	if (o->scenario == SC_CHECKOUT)
		json_object_set_new(config, "orders", json_integer((json_int_t)o->orders));
	if (R->surge)
		json_object_update_new(
		        config, json_pack("{s:f,s:f,s:f,s:f,s:f}", "warmup_s", o->warmup_s,
		                          "before_s", o->before_s, "surge_s", o->surge_s, "after_s",
		                          o->after_s, "surge_factor", o->surge_factor));
	return config;
}

/* The report (new reference): the statistics, then what the run was, made and saw. check and
 * lag may be NULL. */
static json_t *report_json(const struct run *R, const char *const *names, json_t *check,
                           json_t *lag)
{
	json_t *report = stats_json(&R->stats, names);

	json_object_set_new(report, "scenario", json_string(R->o->name));
	json_object_set_new(report, "seed", json_integer((json_int_t)R->o->seed));
	json_object_set_new(report, "config", config_json(R));
	if (R->surge)
		json_object_set_new(report, "surge", surge_json(R->surge));
	json_object_set_new(report, "store_setup", store_setup_json(R));
	json_object_set_new(report, "counts", counts_json(R));
	json_object_set_new(report, "check", check ? json_incref(check) : json_null());
	if (lag)
		json_object_set_new(report, "confirm_lag", json_incref(lag));
	if (R->chaos)
		json_object_set_new(report, "chaos", chaos_json(R->chaos));
	if (R->groups)
		groups_json(R, report);
	return report;
}

static bool write_json(const char *path, json_t *j)
{
	if (json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
		fprintf(stderr, "terminus-load: cannot write %s\n", path);
		return false;
	}
	return true;
}

/* ---- the end --------------------------------------------------------------------------------- */

int report_run(struct run *R, json_t **report)
{
	const char **names = xcalloc((size_t)R->nstores, sizeof(*names));
	json_t *check = NULL, *lag = NULL, *faults = NULL;
	int status;
	bool criteria_ok;

	if (R->o->scenario == SC_FLASH_SALE && R->c.checkouts_acked > (uint64_t)R->units)
		ledger_violation(&R->ledger, "no_oversell",
		                 "%" PRIu64 " checkouts acknowledged for %lld units",
		                 R->c.checkouts_acked, R->units);
	for (int i = 0; i < R->nstores; i++)
		names[i] = R->stores[i].slug;
	criteria_ok = !R->groups || judge_groups(R);
	print_summary(R, names);
	status = check_invariants(R, names, &check, &lag);
	if (R->o->check && !R->prepare_only && R->nstores > 0)
		faults = open_faults(R);
	if (!criteria_ok && status == 0)
		status = 1; /* printed with the groups: a criterion NOT MET */
	status = run_status(R, status);
	if (R->o->json_path) {
		*report = report_json(R, names, check, lag);
		json_object_set_new(*report, "open_faults",
		                    faults ? json_incref(faults) : json_null());
	}
	json_decref(faults);
	json_decref(check);
	json_decref(lag);
	free(names);
	return status;
}

int report_write(struct run *R, json_t *report, int status)
{
	const struct load_opts *o = R->o;

	if (R->fleet.n > 0) {
		fleet_stop_all(&R->fleet, 15);
		if (report)
			json_object_set_new(report, "processes", fleet_json(&R->fleet));
	}
	if (report) {
		json_object_set_new(report, "exit_status", json_integer(status));
		if (!write_json(o->json_path, report) && status == 0)
			status = 2;
	}
	if (o->ledger_path && R->ledger.n > 0 && !ledger_write(&R->ledger, o->ledger_path) &&
	    status == 0)
		status = 2;
	return status;
}
