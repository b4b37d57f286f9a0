/*
 * surge.c — phases, timeline and recovery of a surge run (see surge.h).
 *
 * Each phase and each second is a stats_cell, the same histogram and status counts the rest of
 * the report uses, so percentiles mean the same everywhere (the top of their bucket, capped at
 * the maximum). A rolling window's p99 merges its seconds' histograms: exact over the window,
 * where averaging per-second percentiles would not be.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "surge.h"
#include "util.h"
#include "xalloc.h"
#include "banned.h"

/* Scheduled moments are absolute clock readings; one due exactly on a boundary (t0 + 1.0) may
 * come back a rounding error short of it once t0 is subtracted. */
#define EPSILON_S 1e-7

/* A cell's statuses in the classes a surge is read by. */
struct tally {
	uint64_t ok;        /* 2xx */
	uint64_t other;     /* other answers: the business's 4xx (402, 409, 422), 1xx, 3xx */
	uint64_t limited;   /* 429 rate_limited */
	uint64_t shed;      /* 503 (overloaded, database unavailable) */
	uint64_t failed;    /* other 5xx */
	uint64_t no_answer; /* refused, reset, timed out */
};

static struct tally tally_of(const struct stats_cell *c)
{
	struct tally t = {0};

	t.no_answer = c->status[0];
	for (int st = 1; st < STATS_STATUS_MAX; st++) {
		uint64_t n = c->status[st];

		if (st >= 200 && st < 300)
			t.ok += n;
		else if (st == 429)
			t.limited += n;
		else if (st == 503)
			t.shed += n;
		else if (st >= 500)
			t.failed += n;
		else
			t.other += n;
	}
	return t;
}

static uint64_t answered(const struct stats_cell *c)
{
	return c->hist.count - c->status[0];
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

void surge_init(struct surge *s, double rate, double factor, double warmup_s, double before_s,
                double surge_s, double after_s)
{
	static const char *const names[SURGE_PHASES] = {"warmup", "before", "surge", "after"};
	const double span[SURGE_PHASES] = {warmup_s, before_s, surge_s, after_s};
	const double rates[SURGE_PHASES] = {rate, rate, factor * rate, rate};
	double t = 0;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < SURGE_PHASES; i++) {
		s->phase[i].name = names[i];
		s->phase[i].rate = rates[i];
		s->phase[i].from_s = t;
		t += span[i];
		s->phase[i].to_s = t;
	}
	s->nsec = (int)ceil(t - EPSILON_S);
	if (s->nsec < 1)
		s->nsec = 1;
	s->sec = xcalloc((size_t)s->nsec, sizeof(*s->sec));
	s->sec_sent = xcalloc((size_t)s->nsec, sizeof(*s->sec_sent));
}

void surge_release(struct surge *s)
{
	free(s->sec);
	free(s->sec_sent);
	memset(s, 0, sizeof(*s));
}

/* Attempts due after the last second (a retry's backoff past the end) count in the last. */
static int second_of(const struct surge *s, double t_s)
{
	int i = t_s + EPSILON_S > 0 ? (int)(t_s + EPSILON_S) : 0;

	return i < s->nsec ? i : s->nsec - 1;
}

static int phase_of(const struct surge *s, double t_s)
{
	int i = 0;

	while (i < SURGE_PHASES - 1 && t_s + EPSILON_S >= s->phase[i].to_s)
		i++;
	return i;
}

void surge_record(struct surge *s, double t_s, long status, double latency_s)
{
	struct surge_phase *p = &s->phase[phase_of(s, t_s)];
	int i = second_of(s, t_s);

	stats_cell_record(&p->cell, status, latency_s);
	stats_cell_record(&s->sec[i], status, latency_s);
	p->sent++;
	s->sec_sent[i]++;
}

void surge_abandoned(struct surge *s, double t_s)
{
	s->phase[phase_of(s, t_s)].sent++;
	s->sec_sent[second_of(s, t_s)]++;
}

/* The p99 of the seconds [from, from + SURGE_WINDOW_S), cut at the end of the run; tmp is
 * scratch space. */
static uint64_t window_p99(const struct surge *s, int from, struct hist *tmp)
{
	hist_init(tmp);
	for (int i = from; i < from + SURGE_WINDOW_S && i < s->nsec; i++)
		hist_merge(tmp, &s->sec[i].hist);
	return hist_percentile(tmp, 99);
}

struct recovery {
	double baseline_ms;  /* p99 of the before phase */
	double threshold_ms; /* max(2 x baseline, baseline + 20 ms) */
	int from;            /* the first second from which on every second qualifies, or -1 */
	double after_s;      /* from - the end of the surge */
};

/* Walked backwards from the end of the run: the recovery begins where the run of qualifying
 * seconds that reaches the end begins; -1 when the last second does not qualify. */
static struct recovery recovery_of(const struct surge *s)
{
	struct recovery r = {.from = -1};
	int first = (int)ceil(s->phase[SURGE_SURGE].to_s - EPSILON_S);
	struct hist *tmp = xcalloc(1, sizeof(*tmp));

	r.baseline_ms = ms(hist_percentile(&s->phase[SURGE_BEFORE].cell.hist, 99));
	r.threshold_ms = fmax(SURGE_BASELINE_MULT * r.baseline_ms, r.baseline_ms + SURGE_SLACK_MS);
	for (int i = s->nsec - 1; i >= first && i >= 0; i--) {
		struct tally t = tally_of(&s->sec[i]);

		if (t.limited > 0 || t.shed > 0 || ms(window_p99(s, i, tmp)) > r.threshold_ms)
			break;
		r.from = i;
	}
	free(tmp);
	r.after_s = r.from >= 0 ? fmax(0, (double)r.from - s->phase[SURGE_SURGE].to_s) : 0;
	return r;
}

/* ---- report ---------------------------------------------------------------------------------- */

static void print_phase(const struct surge_phase *p, FILE *out)
{
	const struct hist *h = &p->cell.hist;
	struct tally t = tally_of(&p->cell);
	double span = p->to_s - p->from_s;

	fprintf(out,
	        "  %-8s %7.0f %7" PRIu64 " %8.1f %9.2f %9.2f %9.2f %7" PRIu64 " %6" PRIu64
	        " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 "\n",
	        p->name, p->rate, p->sent, span > 0 ? (double)answered(&p->cell) / span : 0,
	        ms(hist_percentile(h, 50)), ms(hist_percentile(h, 99)), ms(h->max_us), t.ok,
	        t.other, t.limited, t.shed, t.failed, t.no_answer);
}

void surge_print(const struct surge *s, FILE *out)
{
	const struct surge_phase *ph = s->phase;
	struct recovery r = recovery_of(s);
	int last = -1;

	fprintf(out,
	        "surge       %g s warm-up and %g s at %.0f/s, %g s at %.0f/s (%.3g x), %g s at "
	        "%.0f/s; a request counts in the second it was due\n",
	        ph[SURGE_WARMUP].to_s - ph[SURGE_WARMUP].from_s,
	        ph[SURGE_BEFORE].to_s - ph[SURGE_BEFORE].from_s, ph[SURGE_BEFORE].rate,
	        ph[SURGE_SURGE].to_s - ph[SURGE_SURGE].from_s, ph[SURGE_SURGE].rate,
	        ph[SURGE_BEFORE].rate > 0 ? ph[SURGE_SURGE].rate / ph[SURGE_BEFORE].rate : 0,
	        ph[SURGE_AFTER].to_s - ph[SURGE_AFTER].from_s, ph[SURGE_AFTER].rate);
	fprintf(out, "  %-8s %7s %7s %8s %9s %9s %9s %7s %6s %6s %6s %6s %6s\n", "phase", "rate/s",
	        "sent", "answ/s", "p50 ms", "p99 ms", "max ms", "2xx", "4xx", "429", "503", "5xx",
	        "no-ans");
	for (int i = 0; i < SURGE_PHASES; i++) {
		if (ph[i].to_s > ph[i].from_s)
			print_phase(&ph[i], out);
	}
	fprintf(out, "  %-8s %6s %6s %6s %9s %9s %6s %6s %6s\n", "timeline", "second", "sent",
	        "answ", "p50 ms", "p99 ms", "429", "503", "errors");
	for (int i = 0; i < s->nsec; i++) {
		const struct stats_cell *c = &s->sec[i];
		int p = phase_of(s, i);
		struct tally t = tally_of(c);

		fprintf(out,
		        "  %-8s %6d %6" PRIu64 " %6" PRIu64 " %9.2f %9.2f %6" PRIu64 " %6" PRIu64
		        " %6" PRIu64 "%s\n",
		        p != last ? ph[p].name : "", i, s->sec_sent[i], answered(c),
		        ms(hist_percentile(&c->hist, 50)), ms(hist_percentile(&c->hist, 99)),
		        t.limited, t.shed, t.failed + t.no_answer,
		        i == r.from ? "  <- recovered from here on" : "");
		last = p;
	}
	if (r.from >= 0)
		fprintf(out,
		        "recovery    %.1f s after the surge: from second %d on, the rolling %d s p99 "
		        "stayed <= %.2f ms (baseline p99 %.2f ms) and no 429/503 was answered\n",
		        r.after_s, r.from, SURGE_WINDOW_S, r.threshold_ms, r.baseline_ms);
	else
		fprintf(out,
		        "recovery    not recovered within the after phase (rolling %d s p99 <= %.2f "
		        "ms, baseline p99 %.2f ms, and no 429/503)\n",
		        SURGE_WINDOW_S, r.threshold_ms, r.baseline_ms);
}

static json_t *tally_json(const struct tally *t)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "2xx", (json_int_t)t->ok, "4xx",
	                 (json_int_t)t->other, "429", (json_int_t)t->limited, "503",
	                 (json_int_t)t->shed, "5xx", (json_int_t)t->failed, "no_answer",
	                 (json_int_t)t->no_answer);
}

json_t *surge_json(const struct surge *s)
{
	json_t *phases = json_array(), *timeline = json_array();
	struct recovery r = recovery_of(s);

	for (int i = 0; i < SURGE_PHASES; i++) {
		const struct surge_phase *p = &s->phase[i];
		struct tally t = tally_of(&p->cell);
		double span = p->to_s - p->from_s;

		json_array_append_new(
		        phases,
		        json_pack("{s:s,s:f,s:f,s:f,s:I,s:I,s:f,s:o,s:o}", "name", p->name,
		                  "from_s", p->from_s, "to_s", p->to_s, "offered_rps", p->rate,
		                  "sent", (json_int_t)p->sent, "answered",
		                  (json_int_t)answered(&p->cell), "answered_rps",
		                  span > 0 ? (double)answered(&p->cell) / span : 0.0, "latency_ms",
		                  hist_json(&p->cell.hist), "status", tally_json(&t)));
	}
	for (int i = 0; i < s->nsec; i++) {
		const struct stats_cell *c = &s->sec[i];
		struct tally t = tally_of(c);

		json_array_append_new(timeline,
		                      json_pack("{s:i,s:I,s:I,s:f,s:f,s:I,s:I,s:I}", "second", i,
		                                "sent", (json_int_t)s->sec_sent[i], "answered",
		                                (json_int_t)answered(c), "p50_ms",
		                                ms(hist_percentile(&c->hist, 50)), "p99_ms",
		                                ms(hist_percentile(&c->hist, 99)), "429",
		                                (json_int_t)t.limited, "503", (json_int_t)t.shed,
		                                "errors", (json_int_t)(t.failed + t.no_answer)));
	}
	return xjson(json_pack("{s:o,s:o,s:f,s:f,s:i,s:o}", "phases", phases, "timeline", timeline,
	                       "baseline_p99_ms", r.baseline_ms, "threshold_ms", r.threshold_ms,
	                       "window_s", SURGE_WINDOW_S, "recovery_s",
	                       r.from >= 0 ? json_real(r.after_s) : json_null()));
}
