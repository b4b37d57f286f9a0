/*
 * stats.c — recording, progress line and report (see stats.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "util.h"
#include "xalloc.h"
#include "banned.h"

static const char *const op_names[OP_COUNT] = {
        "browse",    "product", "create_order", "checkout", "cancel",
        "get_order", "admin",   "flood",        "bad_key",
};

const char *op_name(enum op op)
{
	return op_names[op];
}

void stats_init(struct stats *s, int nstores, bool live)
{
	memset(s, 0, sizeof(*s));
	if (nstores > STATS_MAX_STORES)
		nstores = STATS_MAX_STORES;
	s->nstores = nstores;
	s->store = xcalloc((size_t)(nstores > 0 ? nstores : 1), sizeof(*s->store));
	s->live = live;
	s->t_start = mono_now();
}

void stats_release(struct stats *s)
{
	free(s->store);
	s->store = NULL;
}

/* An error: no answer (0), a 429 (rate limited) or a 5xx — the request failed, or was refused
 * (429, 503) before it ran; the business's own refusals (402, 409, 422) are answers, not errors. */
static bool is_error(long status)
{
	return status <= 0 || status == 429 || status >= 500;
}

void stats_cell_record(struct stats_cell *c, long status, double latency_s)
{
	hist_record(&c->hist, latency_s > 0 ? (uint64_t)(latency_s * 1e6) : 0);
	c->status[status >= 0 && status < STATS_STATUS_MAX ? status : 0]++;
	if (is_error(status))
		c->errors++;
}

void stats_record(struct stats *s, enum op op, int store, long status, double latency_s)
{
	stats_cell_record(&s->all, status, latency_s);
	stats_cell_record(&s->op[op], status, latency_s);
	if (store >= 0 && store < s->nstores)
		stats_cell_record(&s->store[store], status, latency_s);
}

void stats_progress(struct stats *s, double now, int in_flight, size_t queued)
{
	double dt = now - s->last_print;

	if (!s->live || dt < 1.0)
		return;
	if (s->last_print > 0) {
		fprintf(stderr,
		        "\r%6.1f s  %7.0f req/s  %8" PRIu64 " answered  %6" PRIu64
		        " errors  p50 %7.2f ms  p99 %8.2f ms  in flight %4d  queued %6zu\033[K",
		        now - s->t_start, (double)(s->all.hist.count - s->last_count) / dt,
		        s->all.hist.count, s->all.errors,
		        (double)hist_percentile(&s->all.hist, 50) / 1000.0,
		        (double)hist_percentile(&s->all.hist, 99) / 1000.0, in_flight, queued);
		fflush(stderr);
	}
	s->last_print = now;
	s->last_count = s->all.hist.count;
}

void stats_progress_end(struct stats *s)
{
	if (s->live && s->last_count > 0) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
}

static void print_statuses(const struct stats_cell *c, FILE *out)
{
	for (int st = 0; st < STATS_STATUS_MAX; st++) {
		if (c->status[st] == 0)
			continue;
		if (st == 0)
			fprintf(out, "  no-answer: %" PRIu64, c->status[st]);
		else
			fprintf(out, "  %d: %" PRIu64, st, c->status[st]);
	}
	fprintf(out, "\n");
}

static void print_row(FILE *out, const char *name, const struct stats_cell *c)
{
	const struct hist *h = &c->hist;

	fprintf(out, "  %-22s %8" PRIu64 " %9.2f %9.2f %9.2f %9.2f %9.2f %7" PRIu64 "\n", name,
	        h->count, (double)hist_percentile(h, 50) / 1000.0,
	        (double)hist_percentile(h, 90) / 1000.0, (double)hist_percentile(h, 99) / 1000.0,
	        (double)hist_percentile(h, 99.9) / 1000.0, (double)h->max_us / 1000.0, c->errors);
}

static double elapsed(const struct stats *s)
{
	double t = (s->t_end > s->t_start ? s->t_end : mono_now()) - s->t_start;

	return t > 0 ? t : 1e-9;
}

void stats_print(const struct stats *s, FILE *out, const char *const *store_names)
{
	const struct hist *h = &s->all.hist;
	double secs = elapsed(s);

	fprintf(out,
	        "requests    %" PRIu64 " sent, %" PRIu64 " answered, %" PRIu64
	        " errors (no answer, 429 or 5xx), %" PRIu64 " never sent, %" PRIu64
	        " abandoned in flight\n",
	        s->sent, h->count - s->all.status[0], s->all.errors, s->unsent, s->abandoned);
	fprintf(out, "throughput  %.1f req/s over %.2f s\n", (double)h->count / secs, secs);
	fprintf(out,
	        "latency     p50 %.2f ms  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f "
	        "(from the scheduled send time)\n",
	        (double)hist_percentile(h, 50) / 1000.0, (double)hist_percentile(h, 90) / 1000.0,
	        (double)hist_percentile(h, 99) / 1000.0, (double)hist_percentile(h, 99.9) / 1000.0,
	        (double)h->max_us / 1000.0, hist_mean(h) / 1000.0);
	fprintf(out, "status     ");
	print_statuses(&s->all, out);
	fprintf(out, "  %-22s %8s %9s %9s %9s %9s %9s %7s\n", "request (ms)", "count", "p50", "p90",
	        "p99", "p99.9", "max", "errors");
	for (int i = 0; i < OP_COUNT; i++) {
		if (s->op[i].hist.count)
			print_row(out, op_names[i], &s->op[i]);
	}
	if (s->nstores > 1) {
		fprintf(out, "  %-22s\n", "per store (ms)");
		for (int i = 0; i < s->nstores; i++) {
			char name[64];

			snprintf(name, sizeof(name), "%s",
			         store_names && store_names[i] ? store_names[i] : "?");
			print_row(out, name, &s->store[i]);
		}
	}
}

static json_t *statuses_json(const struct stats_cell *c)
{
	json_t *j = json_object();

	for (int st = 0; st < STATS_STATUS_MAX; st++) {
		char key[16];

		if (c->status[st] == 0)
			continue;
		snprintf(key, sizeof(key), "%d", st);
		json_object_set_new(j, key, json_integer((json_int_t)c->status[st]));
	}
	return j;
}

static json_t *cell_json(const struct stats_cell *c)
{
	return json_pack("{s:o,s:o,s:I}", "latency_ms", hist_json(&c->hist), "status",
	                 statuses_json(c), "errors", (json_int_t)c->errors);
}

json_t *stats_json(const struct stats *s, const char *const *store_names)
{
	double secs = elapsed(s);
	json_t *ops = json_object(), *stores = json_array();

	for (int i = 0; i < OP_COUNT; i++) {
		if (s->op[i].hist.count)
			json_object_set_new(ops, op_names[i], cell_json(&s->op[i]));
	}
	for (int i = 0; i < s->nstores; i++) {
		json_t *c = cell_json(&s->store[i]);

		json_object_set_new(
		        c, "store",
		        json_string(store_names && store_names[i] ? store_names[i] : ""));
		json_array_append_new(stores, c);
	}
	return xjson(json_pack(
	        "{s:{s:I,s:I,s:I,s:I,s:I},s:f,s:f,s:o,s:o,s:o,s:o}", "requests", "sent",
	        (json_int_t)s->sent, "answered", (json_int_t)(s->all.hist.count - s->all.status[0]),
	        "errors", (json_int_t)s->all.errors, "unsent", (json_int_t)s->unsent, "abandoned",
	        (json_int_t)s->abandoned, "elapsed_s", secs, "throughput_rps",
	        (double)s->all.hist.count / secs, "latency_ms", hist_json(&s->all.hist), "status",
	        statuses_json(&s->all), "ops", ops, "per_store", stores));
}
