/*
 * scenario_report.c — the end of a run: the clients' own verdict (flash-sale: no oversell), the
 * summary on stdout, the drain and the invariants (check.c), the exit status, the JSON report
 * (--json) and the ledger (--ledger).
 */
#include <inttypes.h>
#include <stdio.h>

#include "scenario_internal.h"
#include "banned.h"

json_t *counts_json(const struct run *R)
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

void print_header(const struct run *R, FILE *out)
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

void print_counts(const struct run *R, FILE *out)
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

bool write_json(const char *path, json_t *j)
{
	if (json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
		fprintf(stderr, "terminus-load: cannot write %s\n", path);
		return false;
	}
	return true;
}
