/*
 * scenario.h — the load scenarios and what they share: options, setup of stores and products
 * through the API, the open-loop schedule, client flows, the end-of-run drain and check, and the
 * report.
 *
 * Open loop: each stream of arrivals has a rate, and arrival k is due at t0 + k / rate whatever
 * happened to earlier ones. A flow (a user doing something: browse, buy, retry a checkout) starts
 * at its arrival; its first request is scheduled for that moment, each later request for the
 * moment the previous answer came in (or a retry's backoff ended). Latency is measured from the
 * scheduled moment, so time spent waiting behind a slow system — or behind the concurrency cap —
 * is counted, not omitted.
 *
 * A stream's rate may change on a fixed schedule (surge: R, then F x R, then R): arrival k is
 * then due when the schedule's cumulative arrivals reach k, which is still fixed in advance.
 *
 * The exception is `checkout`, a closed-loop measurement of the ceiling: N pending orders are
 * made up front in SQL, then --concurrency clients each check out the next one as soon as their
 * previous checkout was answered. Its throughput is what the API sustains; its latency is the
 * service time at that concurrency, not what a user arriving at a given rate would see.
 */
#ifndef TERMINUS_LOAD_SCENARIO_H
#define TERMINUS_LOAD_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#define LOAD_MAX_APIS   16
#define LOAD_MAX_STORES 64

enum scenario {
	SC_MIXED,
	SC_FLASH_SALE,
	SC_RETRY_STORM,
	SC_NOISY_TENANT,
	SC_CHAOS,
	SC_CHECKOUT,  /* closed loop: check out pre-made pending orders as fast as they are answered
	               */
	SC_SURGE,     /* mixed at --rate, then --surge-factor x --rate, then --rate again */
	SC_ABUSE,     /* an anonymous flood and a bad key from one address each, while customers
	               * and a store admin work: who is served, who is limited */
	SC_SLOWLORIS, /* slow sockets that never finish a request, while probes are served */
};

struct load_opts {
	enum scenario scenario;
	const char *name;
	const char *apis[LOAD_MAX_APIS]; /* targets (besides the APIs the run starts itself) */
	int napis;
	const char *db;           /* owner conninfo: the checker (and spawned processes) */
	const char *operator_key; /* creates the run's stores */
	double duration_s;
	double rate;       /* arrivals per second (noisy-tenant: per quiet store) */
	double noisy_rate; /* noisy-tenant: the flooding store's arrivals per second */
	int concurrency;   /* requests in flight at most */
	int stores;
	int products;          /* per store */
	long long stock;       /* per product (flash-sale: the units on sale) */
	const char *path;      /* checkout path of the stores: async, sync or both (alternating) */
	long timeout_ms;       /* per request */
	long storm_timeout_ms; /* retry-storm: median timeout of a first attempt */
	int retries;           /* of a keyed request: no answer, 429, 503, 409 in use */
	double drain_timeout_s;
	bool check;
	bool live; /* progress line */
	uint64_t seed;
	const char *json_path;
	const char *ledger_path;
	/* processes the run starts itself */
	const char *bindir;
	int spawn_apis;
	int spawn_workers;
	const char *log_dir;
	int retry_base_ms;
	/* checkout */
	long long orders;  /* pending orders made up front (in SQL), each checked out once */
	bool prepare_only; /* make the stores and orders, report them, check out nothing */
	/* surge: the phases (duration_s is their sum) */
	double warmup_s, before_s, surge_s, after_s;
	double surge_factor; /* the surge's rate is this times --rate */
	/* customers' source addresses: "A.B.C.D/N", "none"; NULL: 127.1.0.0/16 when the targets
	 * are loopback addresses, none otherwise */
	const char *client_addresses;
	/* abuse */
	double flood_rate; /* the flood's and the bad key's arrivals per second (10 x --rate) */
	/* slowloris */
	int slow;                 /* slow sockets */
	double slow_interval_s;   /* between two bytes of a slow socket */
	double request_timeout_s; /* the server's request deadline, as the run expects it */
	/* a private PostgreSQL cluster (no --db): made, migrated and removed by the run */
	bool private_pg;
	/* chaos */
	const char *pg_dir;
	double kill_interval_s;
	int api_restarts;
	double api_down_s;
	int pg_restarts;
	double pg_down_s;
};

/* Defaults of a scenario (before the command line overrides them). */
void scenario_defaults(struct load_opts *o, enum scenario sc);
/* Runs it: setup, load, drain, check, report. Returns the process exit status: 0 every
 * invariant held, 1 a violation, 2 the run could not be made (setup, database). */
int scenario_run(const struct load_opts *o);

#endif
