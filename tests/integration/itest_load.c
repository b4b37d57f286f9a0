/*
 * itest_load.c — terminus-load, run as the real binary: a short run of every scenario must
 * exit 0 with a JSON report whose counts make sense (a surge's phases and timeline among them)
 * and with every invariant of guarantees §6 checked by the tool itself, and its invariant checker
 * must catch each kind of violation planted in the database, naming it, while a clean database
 * passes.
 *
 * The chaos run restarts the shared PostgreSQL cluster (pg_ctl stop -m immediate, then start)
 * and SIGKILLs processes — only ones the tool started itself. Suites run one at a time, so the
 * restart disturbs no other suite; the group teardown starts the cluster if anything left it
 * down, and tests/run.sh does as well after every suite. A worker killed while holding leases
 * loses them with its database sessions (another worker's reaper gives them back within about
 * a second), so the chaos run drains within seconds; once it has, no fault stays open.
 *
 * The planted violations are written as the database owner (row-level security does not apply
 * to it) into a store of their own, and taken back after each check, so that every check sees
 * exactly one kind of violation.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "fixtures.h"
#include "loadrun.h"
#include "procs.h"
#include "xalloc.h"
#include "banned.h"

/* ---- scenarios --------------------------------------------------------------------------------
 */

static int group_teardown(void **state)
{
	(void)state;
	/* A chaos run that failed half-way must not leave the shared cluster down. */
	if (!h_pg("start")) {
		print_error("could not start PostgreSQL in %s\n", h_env.pgdir);
		return -1;
	}
	return 0;
}

/* The logs of the processes a run starts go next to the suite's, which tests/run.sh removes. */
static char logdir[512];

#define COMMON                                                                                     \
	"--api", h_env.api, "--db", h_env.db, "--operator-key", h_env.operator_key, "--bin",       \
	        h_env.bindir, "--log-dir", logdir

static void test_mixed(void **state)
{
	const char *args[] = {"mixed",     COMMON, "--duration", "3s", "--rate",          "40/s",
	                      "--workers", "1",    "--stores",   "2",  "--drain-timeout", "45s",
	                      NULL};
	struct run r;

	(void)state;
	load_run(&r, "mixed", args);
	assert_clean(&r);
	assert_sane_latency(r.report);
	/* An open loop: 120 arrivals on the timeline, each one request (plus retries). */
	H_CHECK(jint(r.report, "requests.sent") >= 120, "only %lld requests sent",
	        jint(r.report, "requests.sent"));
	H_CHECK(jint(r.report, "requests.errors") == 0, "%lld errors",
	        jint(r.report, "requests.errors"));
	H_CHECK(jint(r.report, "counts.orders_created") > 0 &&
	                jint(r.report, "counts.checkouts_acked") > 0,
	        "no order created or checked out");
	/* --path both: one store async (202), the other sync (200). */
	H_CHECK(json_array_size(h_j(r.report, "per_store")) == 2, "want 2 stores in per_store");
	H_CHECK(jint(r.report, "check.counts.orders") == jint(r.report, "counts.orders_created"),
	        "the database has %lld orders of the run's stores, the clients created %lld",
	        jint(r.report, "check.counts.orders"), jint(r.report, "counts.orders_created"));
	run_release(&r);
}

/* checkout (make bench's API figure): every order made up front checked out exactly once, in a
 * closed loop, half of them synchronously; then --prepare-only leaves its orders pending. */
static void test_checkout(void **state)
{
	const char *args[] = {"checkout",        COMMON, "--workers", "1", "--orders",      "200",
	                      "--path",          "both", "--stores",  "2", "--concurrency", "8",
	                      "--drain-timeout", "45s",  NULL};
	const char *prep[] = {"checkout", COMMON, "--prepare-only", "--orders", "50", NULL};
	const char *store;
	struct run r;

	(void)state;
	load_run(&r, "checkout", args);
	assert_clean(&r);
	assert_sane_latency(r.report);
	H_CHECK(strcmp(h_jstr(r.report, "config.loop"), "closed") == 0, "not a closed loop");
	H_CHECK(jint(r.report, "counts.orders_prepared") == 200, "%lld orders made, want 200",
	        jint(r.report, "counts.orders_prepared"));
	H_CHECK(jint(r.report, "counts.checkouts_acked") == 200, "%lld checkouts acknowledged",
	        jint(r.report, "counts.checkouts_acked"));
	H_CHECK(status_count(r.report, "200") == 100 && status_count(r.report, "202") == 100,
	        "want 100 answers 200 (sync) and 100 answers 202 (async)");
	H_CHECK(jint(r.report, "requests.errors") == 0, "%lld errors",
	        jint(r.report, "requests.errors"));
	H_CHECK(jnum(r.report, "counts.checkouts_per_s") > 0, "no checkouts per second");
	H_CHECK(jint(r.report, "check.counts.orders") == 200 &&
	                jint(r.report, "check.counts.confirmed_orders") == 200,
	        "the database has %lld orders, %lld confirmed, want 200 and 200",
	        jint(r.report, "check.counts.orders"),
	        jint(r.report, "check.counts.confirmed_orders"));
	run_release(&r);

	load_run(&r, "checkout-prepare", prep);
	H_CHECK(r.status == 0, "terminus-load --prepare-only exited %d", r.status);
	H_CHECK(r.report != NULL, "no JSON report at %s", r.json);
	H_CHECK(jint(r.report, "counts.orders_prepared") == 50, "%lld orders made, want 50",
	        jint(r.report, "counts.orders_prepared"));
	H_CHECK(jint(r.report, "requests.sent") == 0, "--prepare-only sent requests");
	store = h_jstr(r.report, "store_setup[0].id");
	H_CHECK(store, "no store in the report");
	H_CHECK(h_db_ll("SELECT count(*) FROM orders WHERE store_id = $1 AND status = 'pending'",
	                store, NULL) == 50,
	        "not 50 pending orders");
	run_release(&r);
}

static void test_flash_sale(void **state)
{
	/* Two API processes: the suite's and one the tool starts. */
	const char *args[] = {"flash-sale",      COMMON, "--apis", "1",     "--workers", "1",
	                      "--duration",      "2s",   "--rate", "100/s", "--stock",   "20",
	                      "--drain-timeout", "45s",  NULL};
	struct run r;
	long long buyers, acked, sold_out;
	const char *product;

	(void)state;
	load_run(&r, "flash", args);
	assert_clean(&r);
	assert_sane_latency(r.report);
	buyers = jint(r.report, "counts.buyers");
	acked = jint(r.report, "counts.checkouts_acked");
	sold_out = jint(r.report, "counts.sold_out");
	H_CHECK(buyers == 200, "%lld buyers arrived, want 200", buyers);
	H_CHECK(jint(r.report, "requests.errors") == 0, "%lld errors",
	        jint(r.report, "requests.errors"));
	/* Every unit sold, never one more; everybody else told it is sold out. */
	H_CHECK(acked == 20, "%lld checkouts acknowledged for 20 units", acked);
	H_CHECK(sold_out == buyers - acked, "%lld sold out of %lld buyers", sold_out, buyers);
	H_CHECK(status_count(r.report, "202") == 20, "want 20 answers 202");
	product = h_jstr(r.report, "store_setup[0].products[0]");
	H_CHECK(product, "no product in the report");
	H_CHECK(h_db_ll("SELECT available FROM inventory WHERE product_id = $1", product, NULL) ==
	                0,
	        "stock left after the sale");
	H_CHECK(h_db_ll("SELECT count(*) FROM orders o JOIN order_items i ON i.order_id = o.id "
	                "WHERE i.product_id = $1 AND o.status = 'confirmed'",
	                product, NULL) == 20,
	        "not 20 confirmed orders");
	run_release(&r);
}

static void test_retry_storm(void **state)
{
	const char *args[] = {
	        "retry-storm", COMMON, "--workers",       "1",   "--duration",      "3s",
	        "--rate",      "30/s", "--storm-timeout", "1ms", "--drain-timeout", "45s",
	        NULL};
	struct run r;

	(void)state;
	load_run(&r, "storm", args);
	assert_clean(&r);
	assert_sane_latency(r.report);
	H_CHECK(jint(r.report, "counts.orders_created") == 90, "%lld orders, want 90",
	        jint(r.report, "counts.orders_created"));
	/* Every order was finally checked out exactly once, whatever the clients resent. */
	H_CHECK(jint(r.report, "counts.checkouts_acked") == 90, "%lld checkouts acknowledged",
	        jint(r.report, "counts.checkouts_acked"));
	H_CHECK(jint(r.report, "counts.first_timeouts") > 0, "no first attempt timed out");
	H_CHECK(jint(r.report, "counts.replays") > 0, "no replay seen");
	H_CHECK(jint(r.report, "counts.reused_422") == jint(r.report, "counts.changed_body_sent"),
	        "%lld of %lld changed bodies refused with 422", jint(r.report, "counts.reused_422"),
	        jint(r.report, "counts.changed_body_sent"));
	H_CHECK(jint(r.report, "counts.changed_body_sent") > 0, "no changed body sent");
	H_CHECK(status_count(r.report, "422") == jint(r.report, "counts.reused_422"),
	        "422 for something else than a changed body");
	H_CHECK(jint(r.report, "check.counts.payments") == 90, "%lld payments for 90 orders",
	        jint(r.report, "check.counts.payments"));
	run_release(&r);
}

static void test_noisy_tenant(void **state)
{
	const char *args[] = {"noisy-tenant",    COMMON, "--workers", "1",
	                      "--duration",      "3s",   "--rate",    "10/s",
	                      "--noisy-rate",    "80/s", "--stores",  "3",
	                      "--drain-timeout", "45s",  NULL};
	struct run r;
	long long noisy, quiet1, quiet2;

	(void)state;
	load_run(&r, "noisy", args);
	assert_clean(&r);
	assert_sane_latency(r.report);
	H_CHECK(json_array_size(h_j(r.report, "per_store")) == 3, "want 3 stores in per_store");
	noisy = jint(r.report, "per_store[0].latency_ms.count");
	quiet1 = jint(r.report, "per_store[1].latency_ms.count");
	quiet2 = jint(r.report, "per_store[2].latency_ms.count");
	H_CHECK(noisy >= 240 && quiet1 > 0 && quiet2 > 0 && noisy > 3 * (quiet1 + quiet2),
	        "requests per store: noisy %lld, quiet %lld and %lld", noisy, quiet1, quiet2);
	H_CHECK(json_is_number(h_j(r.report, "per_store[1].latency_ms.p99")),
	        "no per-store latency");
	H_CHECK(json_array_size(h_j(r.report, "confirm_lag")) == 3,
	        "no confirmation lag per store");
	run_release(&r);
}

/* surge: 20/s for a 1 s warm-up and 2 s, 60/s for 2 s, 20/s for 3 s. The open-loop schedule is
 * fixed, so each
 * phase and each second holds exactly its arrivals (no retries: surge sends each once); the
 * phases add up to the run's totals; the recovery time is there, a number or null (the
 * machine's load decides which, so it is not asserted). */
static void test_surge(void **state)
{
	const char *args[] = {"surge",   COMMON,     "--workers", "1",        "--rate",
	                      "20/s",    "--warmup", "1s",        "--before", "2s",
	                      "--surge", "2s",       "--after",   "3s",       NULL};
	static const char *const phase_name[] = {"warmup", "before", "surge", "after"};
	static const long long phase_sent[] = {20, 40, 120, 60};
	static const long long second_sent[] = {20, 20, 20, 60, 60, 20, 20, 20};
	const size_t nsec = sizeof(second_sent) / sizeof(second_sent[0]);
	long long sent = 0, answered = 0, tl_sent = 0;
	const json_t *phases, *timeline, *recovery;
	struct run r;

	(void)state;
	load_run(&r, "surge", args);
	assert_clean(&r);
	assert_sane_latency(r.report);
	H_CHECK(jint(r.report, "requests.unsent") == 0 && jint(r.report, "requests.abandoned") == 0,
	        "requests never sent or never answered");
	phases = h_j(r.report, "surge.phases");
	H_CHECK(json_array_size(phases) == 4, "want 4 phases, got %zu", json_array_size(phases));
	for (size_t i = 0; i < 4; i++) {
		const json_t *p = json_array_get(phases, i);

		H_CHECK(h_jstr(p, "name") != NULL && strcmp(h_jstr(p, "name"), phase_name[i]) == 0,
		        "phase %zu is %s, want %s", i, h_jstr(p, "name"), phase_name[i]);
		H_CHECK(jint(p, "sent") == phase_sent[i], "phase %s: %lld sent, want %lld",
		        h_jstr(p, "name"), jint(p, "sent"), phase_sent[i]);
		H_CHECK(jint(p, "answered") <= jint(p, "sent"), "phase %s: more answers than sent",
		        h_jstr(p, "name"));
		sent += jint(p, "sent");
		answered += jint(p, "answered");
	}
	H_CHECK(jnum(json_array_get(phases, 1), "offered_rps") == 20 &&
	                jnum(json_array_get(phases, 2), "offered_rps") == 60 &&
	                jnum(json_array_get(phases, 3), "offered_rps") == 20,
	        "offered rates are not 20, 60, 20 per second");
	H_CHECK(sent == jint(r.report, "requests.sent") &&
	                answered == jint(r.report, "requests.answered"),
	        "the phases add up to %lld sent, %lld answered; the run to %lld and %lld", sent,
	        answered, jint(r.report, "requests.sent"), jint(r.report, "requests.answered"));
	timeline = h_j(r.report, "surge.timeline");
	H_CHECK(json_array_size(timeline) == nsec, "want %zu seconds in the timeline, got %zu",
	        nsec, json_array_size(timeline));
	for (size_t i = 0; i < nsec; i++) {
		const json_t *sec = json_array_get(timeline, i);

		H_CHECK(jint(sec, "second") == (long long)i && jint(sec, "sent") == second_sent[i],
		        "timeline[%zu]: second %lld, %lld sent, want %zu and %lld", i,
		        jint(sec, "second"), jint(sec, "sent"), i, second_sent[i]);
		H_CHECK(json_is_number(h_j(sec, "p99_ms")) && jint(sec, "429") >= 0 &&
		                jint(sec, "503") >= 0 && jint(sec, "errors") >= 0,
		        "timeline[%zu] lacks a field", i);
		tl_sent += jint(sec, "sent");
	}
	H_CHECK(tl_sent == sent, "the timeline adds up to %lld sent, the phases to %lld", tl_sent,
	        sent);
	recovery = json_object_get(h_j(r.report, "surge"), "recovery_s");
	H_CHECK(json_is_number(recovery) || json_is_null(recovery),
	        "surge.recovery_s is neither a number nor null");
	H_CHECK(json_is_number(h_j(r.report, "surge.baseline_p99_ms")), "no baseline p99");
	H_CHECK(strstr(r.output, "recovery    ") != NULL, "no recovery line in the text report");
	run_release(&r);
}

/* A relative path to h_env.pgdir (a symbolic link under build/, in the working directory):
 * --pg-dir must work with one, although pg_ctl runs from /. */
static void relative_pgdir(char *out, size_t cap)
{
	snprintf(out, cap, "build/itest-load-pgdir-%d", (int)getpid());
	unlink(out);
	H_CHECK(symlink(h_env.pgdir, out) == 0, "symlink %s: %s", out, strerror(errno));
}

/* Nothing a chaos run did keeps a fault open once it has drained. A worker's fault detector
 * ticks as make run's workers would (no worker runs in this suite otherwise, and the other tests
 * open no fault), and within 15 s no fault is open and no heartbeat is silent: the workers the
 * run killed are gone, not hung, so their rows went with their database sessions and no
 * worker_heartbeat or stuck_lease fault can open for them later. */
static void expect_no_fault_left(void)
{
	const char *env[] = {"TERMINUS_DETECT_INTERVAL_MS=200", NULL};
	struct p_worker_opts o = {.env = env};
	struct p_worker w;
	long long left = -1;

	print_message("[          ] after the chaos run: %lld faults open, %lld worker_heartbeat "
	              "episodes, %lld heartbeat rows\n",
	              h_db_ll("SELECT count(*) FROM faults WHERE resolved_at IS NULL", NULL),
	              h_db_ll("SELECT count(*) FROM faults WHERE rule = 'worker_heartbeat'", NULL),
	              h_db_ll("SELECT count(*) FROM worker_heartbeats", NULL));
	H_CHECK(p_worker_start(&w, "after-chaos", &o), "the worker did not start");
	if (!p_wait_db(15, &left, "==", 0,
	               "SELECT (SELECT count(*) FROM faults WHERE resolved_at IS NULL) + "
	               "       (SELECT count(*) FROM worker_heartbeats "
	               "        WHERE seen_at < now() - interval '3 s')",
	               NULL)) {
		char *what = h_db_str(
		        "SELECT concat_ws('; ', (SELECT string_agg(rule || ' ' || subject || ': ' || "
		        "summary, '; ' ORDER BY seq) FROM faults WHERE resolved_at IS NULL), "
		        "(SELECT string_agg(worker_id || ' silent since ' || seen_at, '; ') "
		        " FROM worker_heartbeats WHERE seen_at < now() - interval '3 s'))",
		        NULL);

		print_error("left behind: %s\n", what != NULL ? what : "?");
		free(what);
		H_FAIL("%lld open faults and silent heartbeats 15 s after the chaos run drained",
		       left);
	}
	H_CHECK(p_worker_term(&w, 10, NULL) == 0, "the worker did not stop on SIGTERM");
}

static void test_chaos(void **state)
{
	char pgdir[4096];
	const char *args[] = {"chaos",      "--log-dir",
	                      logdir,       "--db",
	                      h_env.db,     "--bin",
	                      h_env.bindir, "--pg-dir",
	                      pgdir,        "--duration",
	                      "6s",         "--rate",
	                      "40/s",       "--kill-interval",
	                      "0.5s",       "--drain-timeout",
	                      "75s",        NULL};
	struct run r;
	json_t *procs;
	size_t i;
	json_t *p;
	double t0;
	struct resp ready = {0};

	(void)state;
	relative_pgdir(pgdir, sizeof(pgdir));
	load_run(&r, "chaos", args);
	unlink(pgdir);
	assert_clean(&r);
	assert_sane_latency(r.report);
	H_CHECK(jint(r.report, "chaos.worker_kills") >= 3, "only %lld worker kills",
	        jint(r.report, "chaos.worker_kills"));
	H_CHECK(jint(r.report, "chaos.pg_restarts") == 1, "%lld PostgreSQL restarts",
	        jint(r.report, "chaos.pg_restarts"));
	H_CHECK(jint(r.report, "chaos.api_kills") == 1 && jint(r.report, "chaos.api_restarts") == 1,
	        "API kills %lld, restarts %lld", jint(r.report, "chaos.api_kills"),
	        jint(r.report, "chaos.api_restarts"));
	H_CHECK(jint(r.report, "counts.checkouts_acked") > 0, "no checkout acknowledged");
	/* Everything it started was stopped at the end, on SIGTERM, and nothing died unasked. */
	procs = h_j(r.report, "processes");
	H_CHECK(json_array_size(procs) == 4, "want 2 APIs and 2 workers in the report");
	json_array_foreach(procs, i, p)
	{
		H_CHECK(!strcmp(h_jstr(p, "last_exit"), "exit 0"), "%s ended with %s",
		        h_jstr(p, "name"), h_jstr(p, "last_exit"));
		H_CHECK(jint(p, "unexpected_exits") == 0, "%s exited on its own",
		        h_jstr(p, "name"));
	}
	/* The cluster is up again (our own connection did not survive the restart), and the
	 * suite's API (which the tool never touched) serves. */
	h_db_close();
	H_CHECK(h_db_ll("SELECT 1", NULL) == 1, "the database does not answer");
	t0 = h_now();
	do {
		h_get(&ready, "/readyz", NULL);
		if (ready.status == 200)
			break;
		h_sleep_ms(100);
	} while (h_now() - t0 < 20);
	H_CHECK(ready.status == 200, "the suite's API is not ready after the chaos: %ld",
	        ready.status);
	resp_release(&ready);
	run_release(&r);
	expect_no_fault_left();
}

/* A newcomer's first run: no --db, no TERMINUS_DATABASE_URL, no --api, no key. The tool makes a
 * PostgreSQL cluster of its own, migrates it, starts an API and a worker on it, runs, checks,
 * and removes the cluster at the end; it says so on stderr. */
static void test_private_cluster(void **state)
{
	const char *args[] = {"mixed", "--duration", "2s",   "--rate",
	                      "20/s",  "--log-dir",  logdir, NULL};
	char *saved_db =
	        getenv("TERMINUS_DATABASE_URL") ? h_strdup(getenv("TERMINUS_DATABASE_URL")) : NULL;
	const char *at, *end;
	char dir[256];
	struct run r;

	(void)state;
	unsetenv("TERMINUS_DATABASE_URL");
	load_run(&r, "private", args);
	if (saved_db)
		setenv("TERMINUS_DATABASE_URL", saved_db, 1);
	free(saved_db);
	assert_clean(&r);
	H_CHECK(json_is_true(h_j(r.report, "config.private_database")),
	        "the report does not say the database was private");
	H_CHECK(jint(r.report, "requests.errors") == 0, "%lld errors",
	        jint(r.report, "requests.errors"));
	H_CHECK(jint(r.report, "counts.orders_created") > 0, "no order created");
	H_CHECK(json_array_size(h_j(r.report, "processes")) == 2, "want 1 API and 1 worker");
	at = strstr(r.output, "private PostgreSQL cluster in ");
	H_CHECK(at, "stderr does not say a private cluster was started");
	at += strlen("private PostgreSQL cluster in ");
	end = strchr(at, ' ');
	H_CHECK(end && (size_t)(end - at) < sizeof(dir), "no directory named");
	memcpy(dir, at, (size_t)(end - at));
	dir[end - at] = '\0';
	H_CHECK(access(dir, F_OK) != 0, "the private cluster %s was left behind", dir);
	run_release(&r);
}

/* ---- the checker on planted violations --------------------------------------------------------
 */

static struct h_store plant, other;
static char product[H_ID_LEN], order1[H_ID_LEN], order2[H_ID_LEN], pending[H_ID_LEN];

static void checkout_sync(const char *order)
{
	struct resp r = {0};
	char key[80];

	h_unique_key(key, sizeof(key), "plant");
	h_checkout(&r, &plant, order, key, "tok_ok");
	H_STATUS(&r, 200);
	H_JSTR(r.json, "status", "confirmed");
	resp_release(&r);
}

static int plant_setup(void **state)
{
	(void)state;
	h_must_create_store(&plant, "plant");
	h_must_create_store(&other, "plant-other");
	h_must_set_flag(&plant, "checkout.async_enabled", false);
	h_must_create_product(&plant, 500, 10, product);
	h_must_create_order(&plant, product, 2, order1);
	h_must_create_order(&plant, product, 1, order2);
	h_must_create_order(&plant, product, 1, pending);
	checkout_sync(order1);
	checkout_sync(order2);
	/* Whatever events these wrote (checkouts, and any type the core adds), a worker finishes
	 * them; then it stops, so that a planted pending event stays pending. */
	{
		struct p_worker w;
		long long left = -1;

		H_CHECK(p_worker_start(&w, "plant", NULL), "the worker did not start");
		H_CHECK(p_wait_db(30, &left, "==", 0,
		                  "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
		                  "AND status = 'pending'",
		                  plant.id, NULL),
		        "%lld events of the planted store still pending", left);
		H_CHECK(p_worker_term(&w, 10, NULL) == 0, "the worker did not stop on SIGTERM");
	}
	return 0;
}

/* `terminus-load check` on the planted store (optionally with a ledger file): want its exit
 * status, and when it is 1, a violation named `want` in the output and the JSON. */
static void check_store(const char *tag, const char *ledger, int want_status, const char *want)
{
	const char *args[] = {"check",    "--db",
	                      h_env.db,   "--store",
	                      plant.slug, "--drain-timeout",
	                      "1s",       ledger ? "--ledger" : NULL,
	                      ledger,     NULL};
	struct run r;
	char needle[80];
	json_t *v;
	size_t i;
	bool named = false;

	load_run(&r, tag, args);
	if (r.status != want_status)
		show(&r);
	H_CHECK(r.status == want_status, "check %s: exit %d, want %d", tag, r.status, want_status);
	if (want) {
		snprintf(needle, sizeof(needle), "VIOLATION %s:", want);
		if (!strstr(r.output, needle))
			show(&r);
		H_CHECK(strstr(r.output, needle) != NULL, "the output does not name %s", want);
		json_array_foreach(h_j(r.report, "violations"), i, v)
		{
			named = named || !strcmp(h_jstr(v, "invariant"), want);
			H_CHECK(json_integer_value(json_object_get(v, "count")) >= 1 &&
			                json_array_size(json_object_get(v, "rows")) >= 1,
			        "violation %s without its rows", h_jstr(v, "invariant"));
		}
		H_CHECK(named, "the JSON does not name %s", want);
	} else {
		H_CHECK(json_is_true(h_j(r.report, "ok")), "check %s: not ok", tag);
	}
	run_release(&r);
}

/* Takes back the events a plant made the database write (a trigger may turn a timeline row
 * into an outbox event): the planted store had none pending before. */
static void unplant_events(void)
{
	h_db_exec("DELETE FROM outbox_events WHERE store_id = $1 AND status = 'pending'", plant.id,
	          NULL);
}

static void test_check_clean(void **state)
{
	(void)state;
	check_store("clean", NULL, 0, NULL);
}

static void test_check_stock(void **state)
{
	(void)state;
	h_db_exec("UPDATE inventory SET available = available + 1 WHERE product_id = $1", product,
	          NULL);
	check_store("stock", NULL, 1, "stock_ledger");
	check_store("stock2", NULL, 1, "stock_conservation");
	h_db_exec("UPDATE inventory SET available = available - 1 WHERE product_id = $1", product,
	          NULL);
	unplant_events();
}

static void test_check_stock_taken_twice(void **state)
{
	(void)state;
	/* A second take for the same line, with the stock and its ledger kept consistent. */
	h_db_exec(
	        "WITH m AS (INSERT INTO inventory_movements (store_id, product_id, delta, reason, "
	        "order_id) VALUES ($1, $2, -2, 'planted', $3)) "
	        "UPDATE inventory SET available = available - 2 WHERE product_id = $2",
	        plant.id, product, order1, NULL);
	check_store("taken-twice", NULL, 1, "order_stock");
	h_db_exec("WITH m AS (DELETE FROM inventory_movements WHERE reason = 'planted' "
	          "AND order_id = $1) UPDATE inventory SET available = available + 2 "
	          "WHERE product_id = $2",
	          order1, product, NULL);
	unplant_events();
}

static void test_check_confirmed_without_capture(void **state)
{
	(void)state;
	h_db_exec("UPDATE payments SET status = 'voided' WHERE order_id = $1", order1, NULL);
	check_store("no-capture", NULL, 1, "confirmed_one_capture");
	h_db_exec("UPDATE payments SET status = 'captured' WHERE order_id = $1", order1, NULL);
	unplant_events();
}

static void test_check_two_live_payments(void **state)
{
	(void)state;
	/* The database forbids it (a unique partial index): take that defence away to plant. */
	h_db_exec("DROP INDEX payments_one_live", NULL);
	h_db_exec("INSERT INTO payments (id, order_id, store_id, status, amount_cents, currency, "
	          "token_hint) SELECT gen_random_uuid(), order_id, store_id, 'captured', "
	          "amount_cents, currency, 'planted' FROM payments WHERE order_id = $1",
	          order1, NULL);
	check_store("two-live", NULL, 1, "one_live_payment");
	h_db_exec("DELETE FROM payments WHERE token_hint = 'planted'", NULL);
	h_db_exec("CREATE UNIQUE INDEX payments_one_live ON payments (order_id) "
	          "WHERE status IN ('authorized', 'captured')",
	          NULL);
	unplant_events();
}

static void test_check_key_twice(void **state)
{
	char *key2;

	(void)state;
	key2 = h_db_str("SELECT checkout_key FROM orders WHERE id = $1", order2, NULL);
	h_db_exec(
	        "UPDATE orders SET checkout_key = (SELECT checkout_key FROM orders WHERE id = $1) "
	        "WHERE id = $2",
	        order1, order2, NULL);
	check_store("key-twice", NULL, 1, "one_effect_per_key");
	h_db_exec("UPDATE orders SET checkout_key = $1 WHERE id = $2", key2, order2, NULL);
	free(key2);
	unplant_events();
}

static void test_check_event_not_finished(void **state)
{
	(void)state;
	/* Any type, known or not: pending after the drain is a violation. No worker runs now. */
	h_db_exec("INSERT INTO outbox_events (id, store_id, type, aggregate_id, payload) "
	          "VALUES (gen_random_uuid(), $1, 'PlantedEvent', $2, '{}')",
	          plant.id, order1, NULL);
	check_store("event", NULL, 1, "outbox_finished");
	h_db_exec("DELETE FROM outbox_events WHERE type = 'PlantedEvent'", NULL);
	unplant_events();
}

static void test_check_stuck_order(void **state)
{
	(void)state;
	h_db_exec("UPDATE orders SET status = 'payment_authorized' WHERE id = $1", pending, NULL);
	check_store("stuck", NULL, 1, "no_order_stuck");
	h_db_exec("UPDATE orders SET status = 'pending' WHERE id = $1", pending, NULL);
	unplant_events();
}

static void test_check_timeline_twice(void **state)
{
	(void)state;
	h_db_exec("INSERT INTO order_events (order_id, store_id, from_status, to_status, reason) "
	          "VALUES ($1, $2, 'payment_authorized', 'confirmed', 'planted')",
	          order1, plant.id, NULL);
	check_store("timeline", NULL, 1, "timeline_once");
	h_db_exec("DELETE FROM order_events WHERE reason = 'planted'", NULL);
	unplant_events();
}

static void test_check_tenancy(void **state)
{
	(void)state;
	h_db_exec("UPDATE payments SET store_id = $1 WHERE order_id = $2", other.id, order2, NULL);
	check_store("tenancy", NULL, 1, "tenancy_consistent");
	h_db_exec("UPDATE payments SET store_id = $1 WHERE order_id = $2", plant.id, order2, NULL);
	unplant_events();
}

static void test_check_acknowledged_but_lost(void **state)
{
	char path[600], *lost;
	FILE *f;

	(void)state;
	/* The clients were told: an order that does not exist was accepted, and the pending one
	 * was confirmed. */
	lost = h_db_str("SELECT gen_random_uuid()::text", NULL);
	snprintf(path, sizeof(path), "%s.load-ledger.tsv", h_env.log);
	f = fopen(path, "w");
	H_CHECK(f != NULL, "cannot write %s", path);
	fprintf(f, "created\t%s\t%s\ncheckout_async\t%s\t%s\ncheckout_sync\t%s\t%s\n", plant.id,
	        order1, plant.id, lost, plant.id, pending);
	fclose(f);
	free(lost);
	check_store("acked", path, 1, "acknowledged_durable");
	/* The same ledger with only what is true passes. */
	f = fopen(path, "w");
	H_CHECK(f != NULL, "cannot write %s", path);
	fprintf(f, "created\t%s\t%s\ncheckout_sync\t%s\t%s\ncreated\t%s\t%s\n", plant.id, order1,
	        plant.id, order1, plant.id, pending);
	fclose(f);
	check_store("acked-true", path, 0, NULL);
}

static void test_check_whole_database(void **state)
{
	const char *args[] = {"check", "--db", h_env.db, "--drain-timeout", "30s", NULL};
	struct run r;

	(void)state;
	/* Every store of the suite — the planted one put back, and every scenario's. */
	load_run(&r, "all", args);
	if (r.status != 0)
		show(&r);
	H_CHECK(r.status == 0, "check of the whole database: exit %d", r.status);
	H_CHECK(jint(r.report, "counts.orders") > 0, "no orders counted");
	run_release(&r);
}

int main(void)
{
	const struct CMUnitTest checker[] = {
	        cmocka_unit_test(test_check_clean),
	        cmocka_unit_test(test_check_stock),
	        cmocka_unit_test(test_check_stock_taken_twice),
	        cmocka_unit_test(test_check_confirmed_without_capture),
	        cmocka_unit_test(test_check_two_live_payments),
	        cmocka_unit_test(test_check_key_twice),
	        cmocka_unit_test(test_check_event_not_finished),
	        cmocka_unit_test(test_check_stuck_order),
	        cmocka_unit_test(test_check_timeline_twice),
	        cmocka_unit_test(test_check_tenancy),
	        cmocka_unit_test(test_check_acknowledged_but_lost),
	        cmocka_unit_test(test_check_clean),
	};
	/* checkout before chaos: chaos's PostgreSQL restart leaves the suite's API a few 503s to
	 * shed, and checkout counts errors. */
	const struct CMUnitTest scenarios[] = {
	        cmocka_unit_test(test_mixed),
	        cmocka_unit_test(test_flash_sale),
	        cmocka_unit_test(test_retry_storm),
	        cmocka_unit_test(test_noisy_tenant),
	        cmocka_unit_test(test_checkout),
	        cmocka_unit_test(test_surge),
	        cmocka_unit_test(test_chaos),
	        cmocka_unit_test(test_private_cluster),
	        cmocka_unit_test(test_check_whole_database),
	};
	int failed;

	h_init();
	snprintf(logdir, sizeof(logdir), "%s", h_env.log);
	if (strrchr(logdir, '/'))
		*strrchr(logdir, '/') = '\0';
	failed = H_RUN_GROUP("itest_load checker", checker, plant_setup, NULL);
	failed += H_RUN_GROUP("itest_load scenarios", scenarios, NULL, group_teardown);
	h_cleanup();
	return failed ? 1 : 0;
}
