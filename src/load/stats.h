/*
 * stats.h — what the clients saw: latency histograms and status codes, overall, per kind of
 * request and per store, a live progress line and the final report (text and JSON).
 *
 * Latency is measured from the moment a request was *scheduled* to be sent, not from when it
 * was sent: when the system (or the generator's concurrency cap) falls behind, the wait counts,
 * as it would for a real user. That is what keeps an open-loop test free of coordinated
 * omission.
 */
#ifndef TERMINUS_LOAD_STATS_H
#define TERMINUS_LOAD_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "hist.h"

enum op {
	OP_BROWSE,       /* GET products of a store */
	OP_PRODUCT,      /* GET one product */
	OP_CREATE_ORDER, /* POST orders */
	OP_CHECKOUT,     /* POST checkout */
	OP_CANCEL,       /* POST cancel */
	OP_GET_ORDER,    /* GET one order */
	OP_ADMIN,        /* abuse: a store admin's GET of its orders or flags, with its key */
	OP_FLOOD,        /* abuse: an anonymous flood of GET products from one address */
	OP_BAD_KEY,      /* abuse: GET orders with an unverifiable key from one address */
	OP_COUNT
};

#define STATS_MAX_STORES 64
#define STATS_STATUS_MAX 600 /* status codes 0 (no answer) .. 599 */

struct stats_cell {
	struct hist hist;
	uint64_t status[STATS_STATUS_MAX];
	uint64_t errors; /* no HTTP answer, a 429 or a 5xx */
};

struct stats {
	struct stats_cell all;
	struct stats_cell op[OP_COUNT];
	struct stats_cell *store; /* [nstores] */
	int nstores;
	uint64_t sent;
	uint64_t unsent;    /* scheduled but never sent before the run ended */
	uint64_t abandoned; /* in flight when the run ended */
	double t_start, t_end;
	/* progress */
	bool live; /* print a progress line (a terminal) */
	double last_print;
	uint64_t last_count;
};

const char *op_name(enum op op);

void stats_init(struct stats *s, int nstores, bool live);
void stats_release(struct stats *s);
/* One request's status and latency into one cell. */
void stats_cell_record(struct stats_cell *c, long status, double latency_s);
/* One answered (or failed: status 0) request of that kind and store (-1: none). */
void stats_record(struct stats *s, enum op op, int store, long status, double latency_s);
/* Redraws the progress line at most once a second (only when live). */
void stats_progress(struct stats *s, double now, int in_flight, size_t queued);
/* Ends the progress line so the report starts on a clean line. */
void stats_progress_end(struct stats *s);

/* The report: throughput, percentiles, status codes, per kind of request and per store
 * (store_names[i], may be NULL). */
void stats_print(const struct stats *s, FILE *out, const char *const *store_names);
/* The same as JSON (new reference). */
json_t *stats_json(const struct stats *s, const char *const *store_names);

#endif
