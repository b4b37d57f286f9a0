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
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "check.h"
#include "ledger.h"
#include "log.h"
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
};

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: terminus-load SCENARIO [options]\n"
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
	        "                 API answers\n"
	        "                 per phase and per second (2xx, 429, 503, …) and how many seconds\n"
	        "                 after the surge its rolling p99 came back. Choose --rate as a mixed\n"
	        "                 rate the system sustains with its normal p99.\n"
	        "  checkout       the ceiling of checkouts (make bench): --orders pending orders\n"
	        "                 are made up front in SQL (and the workers left to finish their\n"
	        "                 creation events), then --concurrency clients (16) each\n"
	        "                 check out the next one, with a fresh Idempotency-Key, as soon as\n"
	        "                 their last one was answered, until every order was checked out\n"
	        "                 (--duration caps it: 60s). CLOSED loop on purpose: it measures the\n"
	        "                 throughput the API sustains, and the latency it reports is the\n"
	        "                 service time at that concurrency; for the latency users see at a\n"
	        "                 given rate use mixed (open loop). --path async (default) or sync.\n"
	        "\n"
	        "target:\n"
	        "  --api URL            an API to load (repeatable; default http://127.0.0.1:8080)\n"
	        "  --db URL             database (owner role) for the checker and started processes\n"
	        "                       (default $TERMINUS_DATABASE_URL)\n"
	        "  --operator-key KEY   creates the run's stores (default $TERMINUS_OPERATOR_KEY)\n"
	        "load:\n"
	        "  --duration D         how long arrivals come (10s; 500ms, 2m; not for surge)\n"
	        "  --rate R             arrivals per second (200/s, 1200/m)\n"
	        "  --noisy-rate R       noisy-tenant: the flooding store's rate (10 x --rate)\n"
	        "  --concurrency N      requests in flight at most (64)\n"
	        "  --stores N           stores the run creates (scenario default)\n"
	        "  --products N         products per store\n"
	        "  --stock N            units per product (flash-sale: the units on sale, 100)\n"
	        "  --orders N           checkout: pending orders to make and check out (2000)\n"
	        "  --prepare-only       checkout: make the stores and pending orders, check out\n"
	        "                       nothing (e.g. for pgbench; the slugs are in --json)\n"
	        "  --path P             checkout path of the stores: async, sync, both\n"
	        "  --timeout D          per request (10s)\n"
	        "  --storm-timeout D    retry-storm: median timeout of first attempts (5ms)\n"
	        "  --retries N          retries of a keyed request on no answer, 429, 503 or 409\n"
	        "                       in use (no sooner than a 429's or 503's Retry-After)\n"
	        "  --seed N             replay a run's random choices (printed in the report)\n"
	        "surge:\n"
	        "  --warmup D           at --rate first, left out of the baseline p99 (5s)\n"
	        "  --before D           at --rate before the surge: the baseline p99 (15s)\n"
	        "  --surge D            at --surge-factor x --rate (20s)\n"
	        "  --after D            at --rate again, to see it recover (30s)\n"
	        "  --surge-factor F     the surge's rate over --rate (3)\n"
	        "output:\n"
	        "  --json FILE          the report as JSON\n"
	        "  --ledger FILE        what the clients were told, for `check --ledger`\n"
	        "  --quiet              no progress line\n"
	        "checker:\n"
	        "  --drain-timeout D    wait this long for the outbox to drain (60s; chaos 90s)\n"
	        "  --no-check           skip the drain and the invariants\n"
	        "  --store SLUG         check: only this store (repeatable; default every store)\n"
	        "processes the run starts itself (needs --db):\n"
	        "  --bin DIR            where terminus-api and terminus-worker are (default: ours)\n"
	        "  --apis N             terminus-api processes to start and load (chaos: 2)\n"
	        "  --workers N          terminus-worker processes to start (chaos: 2)\n"
	        "  --log-dir DIR        their logs (default: a new directory under /tmp)\n"
	        "  --retry-base-ms N    their TERMINUS_RETRY_BASE_MS (100)\n"
	        "chaos:\n"
	        "  --pg-dir DIR         the cluster to restart (made by scripts/pg.sh)\n"
	        "  --kill-interval D    mean time between worker SIGKILLs (1s; 0: none)\n"
	        "  --api-restarts N     API SIGKILL + restart (1)      --api-down D (1s)\n"
	        "  --pg-restarts N      PostgreSQL stop -m immediate + start (1)  --pg-down D (2s)\n"
	        "\n"
	        "exit status: 0 every invariant held, 1 a violation (printed), 2 the run or the\n"
	        "check could not be made.\n");
}

enum {
	O_API = 256,
	O_DB,
	O_OPKEY,
	O_DURATION,
	O_RATE,
	O_NOISY_RATE,
	O_CONCURRENCY,
	O_STORES,
	O_PRODUCTS,
	O_STOCK,
	O_PATH,
	O_TIMEOUT,
	O_STORM_TIMEOUT,
	O_RETRIES,
	O_SEED,
	O_JSON,
	O_LEDGER,
	O_QUIET,
	O_DRAIN,
	O_NO_CHECK,
	O_STORE,
	O_BIN,
	O_APIS,
	O_WORKERS,
	O_LOG_DIR,
	O_RETRY_BASE,
	O_PG_DIR,
	O_KILL_INTERVAL,
	O_API_RESTARTS,
	O_API_DOWN,
	O_PG_RESTARTS,
	O_PG_DOWN,
	O_ORDERS,
	O_PREPARE_ONLY,
	O_WARMUP,
	O_BEFORE,
	O_SURGE,
	O_AFTER,
	O_SURGE_FACTOR,
	O_HELP,
};

static const struct option long_opts[] = {
        {"api", required_argument, NULL, O_API},
        {"db", required_argument, NULL, O_DB},
        {"operator-key", required_argument, NULL, O_OPKEY},
        {"duration", required_argument, NULL, O_DURATION},
        {"rate", required_argument, NULL, O_RATE},
        {"noisy-rate", required_argument, NULL, O_NOISY_RATE},
        {"concurrency", required_argument, NULL, O_CONCURRENCY},
        {"stores", required_argument, NULL, O_STORES},
        {"products", required_argument, NULL, O_PRODUCTS},
        {"stock", required_argument, NULL, O_STOCK},
        {"units", required_argument, NULL, O_STOCK},
        {"path", required_argument, NULL, O_PATH},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"storm-timeout", required_argument, NULL, O_STORM_TIMEOUT},
        {"retries", required_argument, NULL, O_RETRIES},
        {"seed", required_argument, NULL, O_SEED},
        {"json", required_argument, NULL, O_JSON},
        {"ledger", required_argument, NULL, O_LEDGER},
        {"quiet", no_argument, NULL, O_QUIET},
        {"drain-timeout", required_argument, NULL, O_DRAIN},
        {"no-check", no_argument, NULL, O_NO_CHECK},
        {"store", required_argument, NULL, O_STORE},
        {"bin", required_argument, NULL, O_BIN},
        {"apis", required_argument, NULL, O_APIS},
        {"workers", required_argument, NULL, O_WORKERS},
        {"log-dir", required_argument, NULL, O_LOG_DIR},
        {"retry-base-ms", required_argument, NULL, O_RETRY_BASE},
        {"pg-dir", required_argument, NULL, O_PG_DIR},
        {"kill-interval", required_argument, NULL, O_KILL_INTERVAL},
        {"api-restarts", required_argument, NULL, O_API_RESTARTS},
        {"api-down", required_argument, NULL, O_API_DOWN},
        {"pg-restarts", required_argument, NULL, O_PG_RESTARTS},
        {"pg-down", required_argument, NULL, O_PG_DOWN},
        {"orders", required_argument, NULL, O_ORDERS},
        {"prepare-only", no_argument, NULL, O_PREPARE_ONLY},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"before", required_argument, NULL, O_BEFORE},
        {"surge", required_argument, NULL, O_SURGE},
        {"after", required_argument, NULL, O_AFTER},
        {"surge-factor", required_argument, NULL, O_SURGE_FACTOR},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
};

static bool bad(const char *opt, const char *value)
{
	fprintf(stderr, "terminus-load: bad value for --%s: %s\n", opt, value);
	return false;
}

static bool set_int(const char *opt, const char *v, long long min, long long max, int *out)
{
	long long x;

	if (!parse_int(v, min, max, &x))
		return bad(opt, v);
	*out = (int)x;
	return true;
}

static bool set_dur(const char *opt, const char *v, double *out)
{
	return parse_duration(v, out) || bad(opt, v);
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

struct cli {
	struct load_opts o;
	const char *stores[LOAD_MAX_STORES];
	size_t nstores;
	bool stores_set, products_set, quiet, duration_set;
};

static bool parse(int argc, char **argv, struct cli *c)
{
	struct load_opts *o = &c->o;
	int ch;
	double d;
	long long ll;

	while ((ch = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		const char *name = NULL;
		bool ok = true;

		for (const struct option *x = long_opts; x->name; x++) {
			if (x->val == ch)
				name = x->name;
		}
		switch (ch) {
		case O_API:
			if (o->napis == LOAD_MAX_APIS)
				return bad(name, "too many");
			o->apis[o->napis++] = optarg;
			break;
		case O_DB:
			o->db = optarg;
			break;
		case O_OPKEY:
			o->operator_key = optarg;
			break;
		case O_DURATION:
			ok = set_dur(name, optarg, &o->duration_s);
			c->duration_set = true;
			break;
		case O_RATE:
			ok = parse_rate(optarg, &o->rate) || bad(name, optarg);
			break;
		case O_NOISY_RATE:
			ok = parse_rate(optarg, &o->noisy_rate) || bad(name, optarg);
			break;
		case O_CONCURRENCY:
			ok = set_int(name, optarg, 1, 10000, &o->concurrency);
			break;
		case O_STORES:
			ok = set_int(name, optarg, 1, LOAD_MAX_STORES, &o->stores);
			break;
		case O_PRODUCTS:
			ok = set_int(name, optarg, 1, 1000, &o->products);
			break;
		case O_STOCK:
			ok = parse_int(optarg, 0, 1000000000LL, &o->stock) || bad(name, optarg);
			break;
		case O_PATH:
			if (strcmp(optarg, "async") && strcmp(optarg, "sync") &&
			    strcmp(optarg, "both"))
				return bad(name, optarg);
			o->path = optarg;
			break;
		case O_TIMEOUT:
			ok = set_dur(name, optarg, &d) && d > 0;
			o->timeout_ms = (long)(d * 1000);
			break;
		case O_STORM_TIMEOUT:
			ok = set_dur(name, optarg, &d) && d > 0;
			o->storm_timeout_ms = (long)(d * 1000) > 0 ? (long)(d * 1000) : 1;
			break;
		case O_RETRIES:
			ok = set_int(name, optarg, 0, 100, &o->retries);
			break;
		case O_SEED:
			ok = parse_int(optarg, 0, LLONG_MAX, &ll) || bad(name, optarg);
			o->seed = (uint64_t)ll;
			break;
		case O_JSON:
			o->json_path = optarg;
			break;
		case O_LEDGER:
			o->ledger_path = optarg;
			break;
		case O_QUIET:
			c->quiet = true;
			break;
		case O_DRAIN:
			ok = set_dur(name, optarg, &o->drain_timeout_s);
			break;
		case O_NO_CHECK:
			o->check = false;
			break;
		case O_STORE:
			if (c->nstores == LOAD_MAX_STORES)
				return bad(name, "too many");
			c->stores[c->nstores++] = optarg;
			break;
		case O_BIN:
			o->bindir = optarg;
			break;
		case O_APIS:
			ok = set_int(name, optarg, 0, 8, &o->spawn_apis);
			break;
		case O_WORKERS:
			ok = set_int(name, optarg, 0, 32, &o->spawn_workers);
			break;
		case O_LOG_DIR:
			o->log_dir = optarg;
			break;
		case O_RETRY_BASE:
			ok = set_int(name, optarg, 1, 3600000, &o->retry_base_ms);
			break;
		case O_PG_DIR:
			o->pg_dir = optarg;
			break;
		case O_KILL_INTERVAL:
			ok = set_dur(name, optarg, &o->kill_interval_s);
			break;
		case O_API_RESTARTS:
			ok = set_int(name, optarg, 0, 16, &o->api_restarts);
			break;
		case O_API_DOWN:
			ok = set_dur(name, optarg, &o->api_down_s);
			break;
		case O_PG_RESTARTS:
			ok = set_int(name, optarg, 0, 16, &o->pg_restarts);
			break;
		case O_PG_DOWN:
			ok = set_dur(name, optarg, &o->pg_down_s);
			break;
		case O_ORDERS:
			ok = parse_int(optarg, 1, 10000000LL, &o->orders) || bad(name, optarg);
			break;
		case O_PREPARE_ONLY:
			o->prepare_only = true;
			break;
		case O_WARMUP:
			ok = set_dur(name, optarg, &o->warmup_s);
			break;
		case O_BEFORE:
			ok = set_dur(name, optarg, &o->before_s);
			break;
		case O_SURGE:
			ok = set_dur(name, optarg, &o->surge_s);
			break;
		case O_AFTER:
			ok = set_dur(name, optarg, &o->after_s);
			break;
		case O_SURGE_FACTOR:
			ok = parse_factor(optarg, &o->surge_factor) || bad(name, optarg);
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return false;
		}
		if (!ok)
			return false;
	}
	if (optind != argc) {
		fprintf(stderr, "terminus-load: unexpected argument %s\n", argv[optind]);
		return false;
	}
	return true;
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
	char *bindir = NULL;
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
		goto out;
	}
	if (!c.o.bindir)
		c.o.bindir = bindir = own_dir();
	if (c.o.check && !c.o.db) {
		fprintf(stderr, "terminus-load: --db URL (or TERMINUS_DATABASE_URL) is needed to "
		                "check the invariants (--no-check skips them)\n");
		goto out;
	}
	if ((c.o.spawn_apis > 0 || c.o.spawn_workers > 0) && !c.o.db) {
		fprintf(stderr, "terminus-load: starting processes needs --db URL\n");
		goto out;
	}
	if (c.o.scenario == SC_CHAOS && c.o.pg_restarts > 0 && !c.o.pg_dir) {
		fprintf(stderr,
		        "terminus-load chaos: --pg-dir DIR (a cluster made by scripts/pg.sh) "
		        "is needed to restart PostgreSQL (or --pg-restarts 0)\n");
		goto out;
	}
	if (c.o.scenario == SC_CHECKOUT && !c.o.db) {
		fprintf(stderr, "terminus-load checkout: --db URL (or TERMINUS_DATABASE_URL) is "
		                "needed: the pending orders are made in SQL\n");
		goto out;
	}
	if (c.o.scenario == SC_CHAOS && c.o.spawn_workers == 0 && c.o.kill_interval_s > 0)
		fprintf(stderr, "terminus-load chaos: no --workers to kill\n");
	if (c.o.scenario == SC_SURGE) {
		if (c.duration_set) {
			fprintf(stderr,
			        "terminus-load surge: its duration is --warmup + --before + "
			        "--surge + --after, not --duration\n");
			goto out;
		}
		c.o.duration_s = c.o.warmup_s + c.o.before_s + c.o.surge_s + c.o.after_s;
		if (c.o.before_s <= 0 || c.o.surge_s <= 0 || c.o.after_s <= 0) {
			fprintf(stderr,
			        "terminus-load surge: --before, --surge and --after must be "
			        "longer than 0\n");
			goto out;
		}
	}
	if (c.o.scenario == SC_NOISY_TENANT && c.o.stores < 2) {
		fprintf(stderr, "terminus-load noisy-tenant: needs --stores 2 or more\n");
		goto out;
	}
	status = scenario_run(&c.o);
out:
	free(bindir);
	curl_global_cleanup();
	return status;
}
