/*
 * main.c — terminus-load: the command line.
 *
 *   terminus-load SCENARIO [options]   mixed, flash-sale, retry-storm, noisy-tenant, chaos,
 *                                      surge, checkout (closed loop, for make bench)
 *   terminus-load check --db URL       the invariant checker alone
 *
 * Every option has a default that suits a quick run against `make run`; docs/load.md explains
 * each scenario, the checker and the report.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "check.h"
#include "ledger.h"
#include "log.h"
#include "pgprivate.h"
#include "scenario.h"
#include "util.h"
#include "banned.h"

static const struct {
	const char *name;
	enum scenario sc;
} scenarios[] = {
        {"mixed", SC_MIXED},
        {"flash-sale", SC_FLASH_SALE},
        {"retry-storm", SC_RETRY_STORM},
        {"noisy-tenant", SC_NOISY_TENANT},
        {"chaos", SC_CHAOS},
        {"checkout", SC_CHECKOUT},
        {"surge", SC_SURGE},
        {"abuse", SC_ABUSE},
        {"slowloris", SC_SLOWLORIS},
};

/* ---- options: one table, which also writes --help ------------------------------------------ */

struct cli {
	struct load_opts o;
	const char *stores[LOAD_MAX_STORES];
	size_t nstores;
	bool quiet, duration_set;
};

enum opt_kind {
	OPT_STR,      /* const char * */
	OPT_INT,      /* int, min..max */
	OPT_LL,       /* long long, min..max */
	OPT_SEED,     /* uint64_t */
	OPT_DUR,      /* double seconds: 500ms, 10s, 2m */
	OPT_MS,       /* long milliseconds from a duration, at least 1 */
	OPT_RATE,     /* double per second: 200/s, 1200/m */
	OPT_FACTOR,   /* double > 0 */
	OPT_SET,      /* bool set true, no argument */
	OPT_CLEAR,    /* bool set false, no argument */
	OPT_APIS,     /* appends to o.apis */
	OPT_STORES,   /* appends to stores */
	OPT_PATH,     /* async, sync or both */
	OPT_DURATION, /* --duration: OPT_DUR that also marks duration_set */
	OPT_HELP,
};

struct opt {
	const char *group; /* starts a group of --help with this heading */
	const char *name;
	const char *arg; /* the argument's name in --help; NULL: none */
	enum opt_kind kind;
	size_t off; /* offsetof(struct cli, …) */
	long long min, max;
	const char *help; /* "\n" continues on the next line of --help */
};

#define F(field) offsetof(struct cli, field)

/* clang-format off */
static const struct opt opts[] = {
	{"target", "api", "URL", OPT_APIS, 0, 0, 0,
	 "an API to load (repeatable; default http://127.0.0.1:8080)"},
	{NULL, "db", "URL", OPT_STR, F(o.db), 0, 0,
	 "database (owner role) for the checker and started processes\n"
	 "(default $TERMINUS_DATABASE_URL)"},
	{NULL, "operator-key", "KEY", OPT_STR, F(o.operator_key), 0, 0,
	 "creates the run's stores (default $TERMINUS_OPERATOR_KEY)"},
	{NULL, "client-addresses", "CIDR", OPT_STR, F(o.client_addresses), 0, 0,
	 "customers' source addresses, one each, towards loopback\n"
	 "APIs (127.1.0.0/16 when there is one; none: the kernel's)"},

	{"load", "duration", "D", OPT_DURATION, F(o.duration_s), 0, 0,
	 "how long arrivals come (10s; 500ms, 2m; not for surge)"},
	{NULL, "rate", "R", OPT_RATE, F(o.rate), 0, 0, "arrivals per second (200/s, 1200/m)"},
	{NULL, "noisy-rate", "R", OPT_RATE, F(o.noisy_rate), 0, 0,
	 "noisy-tenant: the flooding store's rate (10 x --rate)"},
	{NULL, "concurrency", "N", OPT_INT, F(o.concurrency), 1, 10000,
	 "requests in flight at most (64)"},
	{NULL, "stores", "N", OPT_INT, F(o.stores), 1, LOAD_MAX_STORES,
	 "stores the run creates (scenario default)"},
	{NULL, "products", "N", OPT_INT, F(o.products), 1, 1000, "products per store"},
	{NULL, "stock", "N", OPT_LL, F(o.stock), 0, 1000000000LL,
	 "units per product (flash-sale: the units on sale, 100)"},
	{NULL, "units", "N", OPT_LL, F(o.stock), 0, 1000000000LL, "the same as --stock"},
	{NULL, "orders", "N", OPT_LL, F(o.orders), 1, 10000000LL,
	 "checkout: pending orders to make and check out (2000)"},
	{NULL, "prepare-only", NULL, OPT_SET, F(o.prepare_only), 0, 0,
	 "checkout: make the stores and pending orders, check out\n"
	 "nothing (e.g. for pgbench; the slugs are in --json)"},
	{NULL, "path", "P", OPT_PATH, F(o.path), 0, 0,
	 "checkout path of the stores: async, sync, both"},
	{NULL, "timeout", "D", OPT_MS, F(o.timeout_ms), 0, 0, "per request (10s)"},
	{NULL, "storm-timeout", "D", OPT_MS, F(o.storm_timeout_ms), 0, 0,
	 "retry-storm: median timeout of first attempts (5ms)"},
	{NULL, "retries", "N", OPT_INT, F(o.retries), 0, 100,
	 "retries of a keyed request on no answer, 429, 503 or 409\n"
	 "in use (no sooner than a 429's or 503's Retry-After)"},
	{NULL, "seed", "N", OPT_SEED, F(o.seed), 0, LLONG_MAX,
	 "replay a run's random choices (printed in the report)"},

	{"surge", "warmup", "D", OPT_DUR, F(o.warmup_s), 0, 0,
	 "at --rate first, left out of the baseline p99 (5s)"},
	{NULL, "before", "D", OPT_DUR, F(o.before_s), 0, 0,
	 "at --rate before the surge: the baseline p99 (15s)"},
	{NULL, "surge", "D", OPT_DUR, F(o.surge_s), 0, 0, "at --surge-factor x --rate (20s)"},
	{NULL, "after", "D", OPT_DUR, F(o.after_s), 0, 0, "at --rate again, to see it recover (30s)"},
	{NULL, "surge-factor", "F", OPT_FACTOR, F(o.surge_factor), 0, 0,
	 "the surge's rate over --rate (3)"},

	{"abuse and slowloris", "flood-rate", "R", OPT_RATE, F(o.flood_rate), 0, 0,
	 "abuse: the flood's and the bad key's rate (10 x --rate)"},
	{NULL, "slow", "N", OPT_INT, F(o.slow), 0, 20000,
	 "slowloris: slow sockets, half from one address (200)"},
	{NULL, "slow-interval", "D", OPT_DUR, F(o.slow_interval_s), 0, 0,
	 "slowloris: between two bytes of a slow socket (2s)"},
	{NULL, "request-timeout", "D", OPT_DUR, F(o.request_timeout_s), 0, 0,
	 "slowloris: the API's request deadline: a slow socket must\n"
	 "be closed within it + 2 s (10s; $TERMINUS_HTTP_REQUEST_TIMEOUT_MS)"},

	{"output", "json", "FILE", OPT_STR, F(o.json_path), 0, 0, "the report as JSON"},
	{NULL, "ledger", "FILE", OPT_STR, F(o.ledger_path), 0, 0,
	 "what the clients were told, for `check --ledger`"},
	{NULL, "quiet", NULL, OPT_SET, F(quiet), 0, 0, "no progress line"},

	{"checker", "drain-timeout", "D", OPT_DUR, F(o.drain_timeout_s), 0, 0,
	 "wait this long for the outbox to drain\n(60s; chaos 90s; check 30s)"},
	{NULL, "no-check", NULL, OPT_CLEAR, F(o.check), 0, 0, "skip the drain and the invariants"},
	{NULL, "store", "SLUG", OPT_STORES, 0, 0, 0,
	 "check: only this store (repeatable; default every store)"},

	{"processes the run starts itself (on --db; with no --db, no $TERMINUS_DATABASE_URL and no\n"
	 "--api: on a private PostgreSQL cluster it makes, migrates and removes)",
	 "bin", "DIR", OPT_STR, F(o.bindir), 0, 0,
	 "where terminus-api and terminus-worker are (default: ours)"},
	{NULL, "apis", "N", OPT_INT, F(o.spawn_apis), 0, 8,
	 "terminus-api processes to start and load (chaos: 2;\n"
	 "a private cluster: at least 1)"},
	{NULL, "workers", "N", OPT_INT, F(o.spawn_workers), 0, 32,
	 "terminus-worker processes to start (chaos: 2;\n"
	 "a private cluster: at least 1)"},
	{NULL, "log-dir", "DIR", OPT_STR, F(o.log_dir), 0, 0,
	 "their logs (default: a new directory under /tmp)"},
	{NULL, "retry-base-ms", "N", OPT_INT, F(o.retry_base_ms), 1, 3600000,
	 "their TERMINUS_RETRY_BASE_MS (100)"},

	{"chaos", "pg-dir", "DIR", OPT_STR, F(o.pg_dir), 0, 0,
	 "the cluster to restart (made by scripts/pg.sh)"},
	{NULL, "kill-interval", "D", OPT_DUR, F(o.kill_interval_s), 0, 0,
	 "mean time between worker SIGKILLs (1s; 0: none)"},
	{NULL, "api-restarts", "N", OPT_INT, F(o.api_restarts), 0, 16,
	 "API SIGKILL + restart (1)"},
	{NULL, "api-down", "D", OPT_DUR, F(o.api_down_s), 0, 0, "how long the API stays down (1s)"},
	{NULL, "pg-restarts", "N", OPT_INT, F(o.pg_restarts), 0, 16,
	 "PostgreSQL stop -m immediate + start (1)"},
	{NULL, "pg-down", "D", OPT_DUR, F(o.pg_down_s), 0, 0,
	 "how long PostgreSQL stays down (2s)"},

	{"", "help", NULL, OPT_HELP, 0, 0, 0, "this text"},
};
/* clang-format on */

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void usage(FILE *out)
{
	fputs("usage: terminus-load SCENARIO [options]\n"
	      "       terminus-load check --db URL [--store SLUG]... [--ledger FILE] [--json FILE]\n"
	      "\n"
	      "scenarios (each drains the outbox and checks the invariants afterwards):\n"
	      "  mixed          browse, create, checkout, cancel at a steady open-loop rate\n"
	      "  flash-sale     many buyers, few units (--stock per product), across every --api\n"
	      "  retry-storm    impatient clients: short timeouts, resends with the same key,\n"
	      "                 double clicks, replays, the key reused with a changed body\n"
	      "  noisy-tenant   store 0 floods (--noisy-rate), the others shop at --rate each;\n"
	      "                 latency and confirmation lag per store\n"
	      "  chaos          mixed while workers are SIGKILLed, an API is killed and restarted\n"
	      "                 and PostgreSQL is stopped -m immediate and started again\n"
	      "  surge          mixed at --rate for --warmup and --before, at --surge-factor x\n"
	      "                 --rate for --surge, at --rate again for --after (open loop; 100/s,\n"
	      "                 5s, 15s, 3x, 20s, 30s; --concurrency 1000, --retries 0): what the\n"
	      "                 API answers per phase and per second (2xx, 429, 503, …) and how\n"
	      "                 many seconds after the surge its rolling p99 came back. Choose\n"
	      "                 --rate as a mixed rate the system sustains with its normal p99.\n"
	      "  abuse          store 0's and store 1's customers (one address each) shop at\n"
	      "                 --rate, store 0's admin works with its key at --rate, while one\n"
	      "                 address floods store 0's products anonymously and another sends\n"
	      "                 its orders \"Bearer nope\" (--flood-rate each). Pass: customers\n"
	      "                 and admin >= 95 % served, each attacker >= 50 % answered 429\n"
	      "  slowloris      --slow sockets that never finish a request (a header byte, or\n"
	      "                 after a whole head a body byte, every --slow-interval) while\n"
	      "                 probes read the products at --rate. Pass: probes >= 95 %\n"
	      "                 served; every slow socket refused at once or closed by the\n"
	      "                 server within --request-timeout + 2 s\n"
	      "  checkout       the ceiling of checkouts (make bench): --orders pending orders\n"
	      "                 are made up front in SQL (and the workers left to finish their\n"
	      "                 creation events), then --concurrency clients (16) each\n"
	      "                 check out the next one, with a fresh Idempotency-Key, as soon as\n"
	      "                 their last one was answered, until every order was checked out\n"
	      "                 (--duration caps it: 60s). CLOSED loop on purpose: it measures the\n"
	      "                 throughput the API sustains, and the latency it reports is the\n"
	      "                 service time at that concurrency; for the latency users see at a\n"
	      "                 given rate use mixed (open loop). --path async (default) or sync.\n"
	      "\n",
	      out);
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *x = &opts[i];
		char head[64];
		const char *h = x->help;

		if (x->group != NULL && x->group[0] != '\0')
			fprintf(out, "%s:\n", x->group);
		else if (x->group != NULL)
			fputc('\n', out);
		snprintf(head, sizeof(head), "--%s%s%s", x->name, x->arg ? " " : "",
		         x->arg ? x->arg : "");
		fprintf(out, "  %-24s", head);
		for (;;) {
			const char *nl = strchr(h, '\n');

			fprintf(out, "%.*s\n", nl ? (int)(nl - h) : (int)strlen(h), h);
			if (!nl)
				break;
			h = nl + 1;
			fprintf(out, "  %-24s", "");
		}
	}
	fputs("\nexit status: 0 every invariant held (and every pass criterion of abuse and\n"
	      "slowloris was met), 1 a violation or a criterion not met (printed), 2 the run or\n"
	      "the check could not be made.\n",
	      out);
}

static bool bad(const char *opt, const char *value)
{
	fprintf(stderr, "terminus-load: bad value for --%s: %s\n", opt, value);
	return false;
}

/* Applies one option's value (NULL for a flag) to the command line's settings. */
static bool apply(const struct opt *x, const char *v, struct cli *c)
{
	char *field = (char *)c + x->off;
	long long ll;
	double d;

	switch (x->kind) {
	case OPT_STR:
		*(const char **)(void *)field = v;
		return true;
	case OPT_INT:
		if (!parse_int(v, x->min, x->max, &ll))
			return bad(x->name, v);
		*(int *)(void *)field = (int)ll;
		return true;
	case OPT_LL:
		if (!parse_int(v, x->min, x->max, &ll))
			return bad(x->name, v);
		*(long long *)(void *)field = ll;
		return true;
	case OPT_SEED:
		if (!parse_int(v, x->min, x->max, &ll))
			return bad(x->name, v);
		*(uint64_t *)(void *)field = (uint64_t)ll;
		return true;
	case OPT_DURATION:
		c->duration_set = true;
		__attribute__((fallthrough));
	case OPT_DUR:
		return parse_duration(v, (double *)(void *)field) || bad(x->name, v);
	case OPT_MS:
		if (!parse_duration(v, &d) || d <= 0)
			return bad(x->name, v);
		*(long *)(void *)field = (long)(d * 1000) > 0 ? (long)(d * 1000) : 1;
		return true;
	case OPT_RATE:
		return parse_rate(v, (double *)(void *)field) || bad(x->name, v);
	case OPT_FACTOR:
		return parse_factor(v, (double *)(void *)field) || bad(x->name, v);
	case OPT_SET:
	case OPT_CLEAR:
		*(bool *)(void *)field = x->kind == OPT_SET;
		return true;
	case OPT_APIS:
		if (c->o.napis == LOAD_MAX_APIS)
			return bad(x->name, "too many");
		c->o.apis[c->o.napis++] = v;
		return true;
	case OPT_STORES:
		if (c->nstores == LOAD_MAX_STORES)
			return bad(x->name, "too many");
		c->stores[c->nstores++] = v;
		return true;
	case OPT_PATH:
		if (strcmp(v, "async") != 0 && strcmp(v, "sync") != 0 && strcmp(v, "both") != 0)
			return bad(x->name, v);
		c->o.path = v;
		return true;
	case OPT_HELP:
		usage(stdout);
		exit(0);
	}
	return false;
}

static bool parse(int argc, char **argv, struct cli *c)
{
	struct option long_opts[NOPTS + 1];
	int ch;

	for (size_t i = 0; i < NOPTS; i++)
		long_opts[i] =
		        (struct option){opts[i].name, opts[i].arg ? required_argument : no_argument,
		                        NULL, 256 + (int)i};
	long_opts[NOPTS] = (struct option){NULL, 0, NULL, 0};
	while ((ch = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (ch < 256 || ch >= 256 + (int)NOPTS) {
			usage(stderr);
			return false;
		}
		if (!apply(&opts[ch - 256], opts[ch - 256].arg ? optarg : NULL, c))
			return false;
	}
	if (optind != argc) {
		fprintf(stderr, "terminus-load: unexpected argument %s\n", argv[optind]);
		return false;
	}
	return true;
}

/* The directory this binary lives in (terminus-api and terminus-worker are its neighbours). */
static char *own_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	char *slash;

	if (n <= 0)
		return xstrdup("bin");
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	return xstrdup(buf);
}

static int run_check(struct cli *c)
{
	struct check_opts co = {0};
	struct ledger l;
	json_t *j = NULL;
	enum check_status st;

	if (!c->o.db) {
		fprintf(stderr,
		        "terminus-load check: --db URL (or TERMINUS_DATABASE_URL) is needed\n");
		return 2;
	}
	ledger_init(&l);
	if (c->o.ledger_path && !ledger_read(&l, c->o.ledger_path)) {
		ledger_release(&l);
		return 2;
	}
	co.db = c->o.db;
	co.store_slugs = c->stores;
	co.nstores = c->nstores;
	co.ledger = c->o.ledger_path ? &l : NULL;
	co.drain_timeout_s = c->o.drain_timeout_s;
	co.live = c->o.live;
	st = check_run(&co, stdout, &j);
	if (c->o.json_path && j && json_dump_file(j, c->o.json_path, JSON_INDENT(2)) != 0) {
		fprintf(stderr, "terminus-load: cannot write %s\n", c->o.json_path);
		if (st == CHECK_OK)
			st = CHECK_ERROR;
	}
	json_decref(j);
	ledger_release(&l);
	return (int)st;
}

int main(int argc, char **argv)
{
	struct cli c;
	const char *cmd = argc > 1 ? argv[1] : NULL;
	char *bindir = NULL, *pg_dir = NULL;
	struct pgprivate pg = {0};
	int status = 2;
	bool check_cmd;

	if (!cmd || strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		usage(cmd ? stdout : stderr);
		return cmd ? 0 : 2;
	}
	memset(&c, 0, sizeof(c));
	check_cmd = strcmp(cmd, "check") == 0;
	if (check_cmd) {
		scenario_defaults(&c.o, SC_MIXED);
		c.o.drain_timeout_s = 30;
	} else {
		size_t i;

		for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
			if (strcmp(cmd, scenarios[i].name) == 0)
				break;
		}
		if (i == sizeof(scenarios) / sizeof(scenarios[0])) {
			fprintf(stderr, "terminus-load: unknown command %s\n", cmd);
			usage(stderr);
			return 2;
		}
		scenario_defaults(&c.o, scenarios[i].sc);
	}
	c.o.db = getenv("TERMINUS_DATABASE_URL");
	c.o.operator_key = getenv("TERMINUS_OPERATOR_KEY");
	if (c.o.operator_key && !*c.o.operator_key)
		c.o.operator_key = NULL;
	c.o.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	{
		const char *t = getenv("TERMINUS_HTTP_REQUEST_TIMEOUT_MS");
		long long ms;

		/* What the APIs the run starts are given, and likely what the target runs with. */
		if (t && parse_int(t, 1, 3600000, &ms))
			c.o.request_timeout_s = (double)ms / 1000.0;
	}
	if (!parse(argc - 1, argv + 1, &c))
		return 2;
	c.o.live = !c.quiet && isatty(STDERR_FILENO);

	log_init("terminus-load", LOG_LEVEL_ERROR);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "terminus-load: curl_global_init failed\n");
		return 2;
	}
	if (check_cmd) {
		status = run_check(&c);
		goto free_paths;
	}
	if (!c.o.bindir)
		c.o.bindir = bindir = own_dir();
	if (!c.o.db && c.o.napis == 0) {
		/* Nothing given to run against: a system of its own, so that `terminus-load mixed`
		 * works on a machine with PostgreSQL and nothing else set up. */
		if (!pgprivate_start(&pg, c.o.bindir))
			goto free_paths;
		c.o.db = pg.url;
		c.o.private_pg = true;
		if (c.o.spawn_apis == 0)
			c.o.spawn_apis = 1;
		if (c.o.spawn_workers == 0)
			c.o.spawn_workers = 1;
		if (c.o.scenario == SC_CHAOS && !c.o.pg_dir)
			c.o.pg_dir = pg.dir;
	}
	if (c.o.check && !c.o.db) {
		fprintf(stderr, "terminus-load: --db URL (or TERMINUS_DATABASE_URL) is needed to "
		                "check the invariants (--no-check skips them)\n");
		goto free_paths;
	}
	if ((c.o.spawn_apis > 0 || c.o.spawn_workers > 0) && !c.o.db) {
		fprintf(stderr, "terminus-load: starting processes needs --db URL\n");
		goto free_paths;
	}
	if (c.o.pg_dir) {
		/* pg_ctl runs from / (so that a cluster owned by another user can be reached): the
		 * directory must be absolute by then. */
		pg_dir = realpath(c.o.pg_dir, NULL);
		if (pg_dir == NULL) {
			fprintf(stderr, "terminus-load: --pg-dir %s: %s\n", c.o.pg_dir,
			        strerror(errno));
			goto free_paths;
		}
		c.o.pg_dir = pg_dir;
	}
	if (c.o.scenario == SC_CHAOS && c.o.pg_restarts > 0 && !c.o.pg_dir) {
		fprintf(stderr,
		        "terminus-load chaos: --pg-dir DIR (a cluster made by scripts/pg.sh) "
		        "is needed to restart PostgreSQL (or --pg-restarts 0)\n");
		goto free_paths;
	}
	if (c.o.scenario == SC_CHECKOUT && !c.o.db) {
		fprintf(stderr, "terminus-load checkout: --db URL (or TERMINUS_DATABASE_URL) is "
		                "needed: the pending orders are made in SQL\n");
		goto free_paths;
	}
	if (c.o.scenario == SC_CHAOS && c.o.spawn_workers == 0 && c.o.kill_interval_s > 0)
		fprintf(stderr, "terminus-load chaos: no --workers to kill\n");
	if (c.o.scenario == SC_SURGE) {
		if (c.duration_set) {
			fprintf(stderr,
			        "terminus-load surge: its duration is --warmup + --before + "
			        "--surge + --after, not --duration\n");
			goto free_paths;
		}
		c.o.duration_s = c.o.warmup_s + c.o.before_s + c.o.surge_s + c.o.after_s;
		if (c.o.before_s <= 0 || c.o.surge_s <= 0 || c.o.after_s <= 0) {
			fprintf(stderr,
			        "terminus-load surge: --before, --surge and --after must be "
			        "longer than 0\n");
			goto free_paths;
		}
	}
	if ((c.o.scenario == SC_NOISY_TENANT || c.o.scenario == SC_ABUSE) && c.o.stores < 2) {
		fprintf(stderr, "terminus-load %s: needs --stores 2 or more\n", c.o.name);
		goto free_paths;
	}
	if (c.o.scenario == SC_SLOWLORIS && c.o.request_timeout_s <= 0) {
		fprintf(stderr,
		        "terminus-load slowloris: --request-timeout must be longer than 0\n");
		goto free_paths;
	}
	status = scenario_run(&c.o);
free_paths:
	pgprivate_stop(&pg);
	free(pg_dir);
	free(bindir);
	curl_global_cleanup();
	return status;
}
