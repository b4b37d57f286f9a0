/*
 * scenario_internal.h — the state of one run, shared by the files that make its phases (not
 * part of scenario.h, which is what main.c sees):
 *
 *   scenario.c           the entry points: defaults, and scenario_run as its steps in order
 *   scenario_setup.c     before the load: processes, targets, stores and products, pending orders
 *   scenario_arrivals.c  the streams of arrivals, and the open and closed loops that send them
 *   scenario_flows.c     the client flows: their requests, answers and retries
 *   scenario_report.c    the end: summary, invariants, exit status, JSON report, ledger
 *   scenario_abuse.c     abuse's and slowloris's parties, their pass criteria and report
 */
#ifndef TERMINUS_LOAD_SCENARIO_INTERNAL_H
#define TERMINUS_LOAD_SCENARIO_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "fleet.h"
#include "ledger.h"
#include "scenario.h"
#include "stats.h"
#include "util.h"

#define MAX_STREAMS  5
#define MAX_STEPS    2
#define MAX_GROUPS   MAX_STREAMS
#define MAX_CRITERIA 8

struct chaos;
struct http_engine;
struct slow;
struct surge;

struct store {
	char slug[48];
	char id[37];
	char key[256]; /* the admin key shown at creation */
	bool sync;
	char (*products)[37];
	int nproducts;
};

struct oref {
	int store;
	char id[37];
};

/* A stream's last orders, oldest first (RING_CAP of them, scenario_flows.c). */
struct ring {
	struct oref *e;
	size_t head, n;
};

enum flow_kind {
	FLOW_SHOPPER,
	FLOW_BUYER,
	FLOW_STORM,
	FLOW_CLOSED,
	FLOW_ADMIN,   /* abuse: the store's admin, with its key: its orders, its flags */
	FLOW_FLOOD,   /* abuse: GET products, anonymous */
	FLOW_BAD_KEY, /* abuse: GET orders with "Authorization: Bearer nope" */
	FLOW_PROBE,   /* slowloris: GET products, to see the API still serves */
};

/* A stretch of a stream's schedule: `rate` arrivals per second for `span_s` seconds. */
struct rate_step {
	double span_s, rate;
};

struct stream {
	double rate; /* arrivals per second (after the steps, if any) */
	struct rate_step steps[MAX_STEPS];
	int nsteps; /* surge: the before and surge phases come first */
	double next_t;
	int store_lo, store_hi; /* stores [lo, hi) */
	enum flow_kind kind;
	struct ring created; /* orders waiting for their checkout */
	struct ring checked; /* orders checked out (to cancel or look at) */
	uint64_t arrivals;
	int group;       /* abuse, slowloris: whose requests these are (R->groups); -1: none */
	const char *src; /* one source address for every flow (an attacker); NULL: the pool */
};

/* A party of abuse or slowloris whose answers are judged on their own: every attempt counts. */
struct group {
	const char *name;
	struct stats_cell cell;
};

/* A pass criterion of abuse or slowloris: `what` holds when value >= want (or <= want). */
struct criterion {
	char what[96];
	double value, want;
	bool at_most; /* value <= want */
	bool ok;
};

struct counts {
	uint64_t orders_created, checkouts_acked, checkouts_sync, checkouts_async, declined,
	        sold_out, not_pending, cancels_ok, not_cancellable, retries, gave_up;
	/* retry-storm */
	uint64_t first_timeouts, double_clicks, replays, fresh_answers, in_use, reused_422,
	        changed_body_sent, replay_checks;
};

struct run {
	/* The options as given, but with the log directory and operator key the run made itself
	 * when it starts processes and none was given (they point into the buffers below). */
	struct load_opts opts;
	const struct load_opts *o; /* &opts */
	char logdir_buf[64], opkey_buf[64];
	struct rng rng;
	struct http_engine *eng;
	struct stats stats;
	struct ledger ledger;
	struct fleet fleet;  /* the processes the run starts itself (--apis, --workers) */
	struct pgctl pg;     /* chaos: the cluster it restarts */
	struct chaos *chaos; /* chaos: the fault schedule; NULL otherwise */
	bool chaos_ok;       /* chaos: everything came back afterwards */
	struct store *stores;
	int nstores;
	const char *apis[LOAD_MAX_APIS * 2];
	int napis;
	unsigned api_rr;
	struct stream streams[MAX_STREAMS];
	int nstreams;
	struct counts c;
	struct surge *surge; /* surge: phases and timeline; NULL otherwise */
	/* customers' source addresses (count 0: the kernel's); api_loopback[i]: APIs[i] is on a
	 * loopback address, where they can be used */
	uint32_t client_first, client_count;
	uint64_t client_next;
	bool api_loopback[LOAD_MAX_APIS * 2];
	struct group *groups; /* abuse, slowloris: [MAX_GROUPS] */
	int ngroups;
	struct criterion crit[MAX_CRITERIA];
	int ncrit;
	struct slow *slow;       /* slowloris: its sockets; NULL otherwise */
	bool no_load_test_field; /* the API refused "load_test": stores made without it */
	char run_id[12];
	uint64_t key_seq;
	bool aborting;
	bool prepare_only; /* checkout --prepare-only: stores and orders made, no load, no check */
	long long units;   /* flash-sale: units on sale in total */
	/* checkout (closed loop) */
	struct oref *orders; /* the pending orders made up front, in checkout order */
	size_t norders, next_order;
	double t_stop;         /* no checkout starts after this moment (--duration) */
	double setup_s;        /* how long making the orders took */
	double settle_s;       /* how long their creation events took to drain */
	long long settle_left; /* events still pending when the measurement began */
	double load_s;         /* first checkout sent .. last answered */
};

/* Set by SIGINT and SIGTERM: every phase winds down as soon as it sees it (scenario.c). */
extern volatile sig_atomic_t stop_requested;

/* scenario_setup.c: the processes, targets, stores and products, and for checkout its pending
 * orders (settled unless --prepare-only or --no-check). False (printed) when the run cannot be
 * made. */
bool setup_run(struct run *R);

/* scenario_arrivals.c */
/* The streams of arrivals of the scenario (none for checkout, a closed loop). */
void plan_streams(struct run *R);
/* Runs the arrivals to --duration, then waits for their answers (a grace period at most). */
void run_open_loop(struct run *R);
/* checkout: --concurrency clients check out the orders made up front. */
void run_closed_loop(struct run *R);

/* scenario_flows.c */
/* Starts the flow of the stream's next arrival, its first request scheduled for t. */
void start_flow(struct run *R, struct stream *s, double t);
/* checkout: sends the checkout of the next order made up front, at t; false when none is left,
 * --duration has passed or the run is stopping. */
bool start_closed(struct run *R, double t, const char *src);

/* scenario_abuse.c: abuse and slowloris */
/* The source address of an attacker: one for all its requests (127.2.0.N). */
#define ATTACK_ADDR_FLOOD   "127.2.0.1"
#define ATTACK_ADDR_BAD_KEY "127.2.0.2"
#define ATTACK_ADDR_SLOW    "127.2.0.3"
/* Their streams (and groups); slowloris also opens its sockets. */
void plan_abuse(struct run *R);
void plan_slowloris(struct run *R);
/* Evaluates the pass criteria into R->crit; false when one is not met. */
bool judge_groups(struct run *R);
void groups_print(const struct run *R, FILE *out);
/* {"groups":[…],"criteria":{…}} merged into report. */
void groups_json(const struct run *R, json_t *report);

/* scenario_report.c */
/* After the load: the summary on stdout, the invariants checked (unless --no-check), and with
 * --json the report into *report (new reference). Returns the exit status so far. */
int report_run(struct run *R, json_t **report);
/* Last: stops the processes the run started (their counts go into report, if any), writes the
 * report and the ledger. Returns status, or 2 when one of them could not be written. */
int report_write(struct run *R, json_t *report, int status);

#endif
