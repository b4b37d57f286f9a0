/*
 * itest_abuse.c — the API's limits as clients meet them, through bin/terminus-load against an API
 * it starts itself (--apis 1) with the DEFAULT limits: this suite takes the rate-limit and
 * load-shedding overrides tests/run.sh exports for the other suites out of the environment
 * before each run (the run's processes inherit what is left).
 *
 * What it asserts — the contract of the per-client limits (docs/load.md, "abuse",
 * "slowloris"), which an API with a per-store rate limit and no request deadline does NOT meet:
 *
 *   - abuse: an anonymous flood of one store's products from one address, and requests with an
 *     unverifiable key from another, while that store's customers (one address each), its admin
 *     (its key) and another store's customers work: terminus-load's own pass criteria — the
 *     customers of both stores and the admin >= 95 % served, each attacker >= 50 % answered
 *     429 — make it exit 0, and the invariants hold;
 *   - slowloris: 160 sockets that never finish a request (80 from one address, 80 from one
 *     address each) against an API with TERMINUS_HTTP_REQUEST_TIMEOUT_MS=2000, while probes
 *     read the products: probes >= 95 % served, every slow socket refused at once or closed by
 *     the server within 2 + 2 s, and at least the 16 over the per-address cap (64) refused at
 *     once;
 *   - a flash sale of 100 units to 1,000 buyers, each from an address of its own: exactly 100
 *     sold, not one 429, every request answered, and every buyer accounted for (sold one, told
 *     it is sold out, or shed with a 503 — retried after its Retry-After when it is a checkout).
 *
 * About 40 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "loadrun.h"
#include "banned.h"

static char logdir[512];

/* The overrides tests/run.sh (and a developer's shell) may set for the suites: none of them
 * reaches the API this suite's runs start. */
static const char *const overrides[] = {
        "TERMINUS_STORE_RATE_LIMIT",        "TERMINUS_STORE_BURST",
        "TERMINUS_CLIENT_RATE_LIMIT",       "TERMINUS_CLIENT_BURST",
        "TERMINUS_KEY_RATE_LIMIT",          "TERMINUS_KEY_BURST",
        "TERMINUS_QUEUE_TARGET_MS",         "TERMINUS_HTTP_REQUEST_TIMEOUT_MS",
        "TERMINUS_HTTP_CONNECTIONS_PER_IP",
};

static int defaults_setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++)
		unsetenv(overrides[i]);
	return 0;
}

#define OWN_API                                                                                    \
	"--db", h_env.db, "--bin", h_env.bindir, "--log-dir", logdir, "--apis", "1", "--workers",  \
	        "1"

/* Prints the criteria of a run (what the report says was met and not). */
static void show_criteria(const struct run *r)
{
	size_t i;
	json_t *c;

	if (!json_is_true(h_j(r->report, "criteria.ok")))
		show(r); /* the parties' table, the slow sockets */

	json_array_foreach(h_j(r->report, "criteria.items"), i, c)
	{
		print_message("[          ] %s: %.3f (%s %.2f) %s\n", h_jstr(c, "what"),
		              json_number_value(h_j(c, "value")), h_jstr(c, "test"),
		              json_number_value(h_j(c, "want")),
		              json_is_true(h_j(c, "ok")) ? "met" : "NOT MET");
	}
}

static void test_abuse(void **state)
{
	const char *args[] = {"abuse",        OWN_API, "--duration",      "5s",  "--rate", "20/s",
	                      "--flood-rate", "200/s", "--drain-timeout", "45s", NULL};
	struct run r;
	size_t i;
	json_t *g;

	(void)state;
	load_run(&r, "abuse", args);
	H_CHECK(r.report != NULL, "no JSON report at %s", r.json);
	show_criteria(&r);
	/* Five parties, each with its arrivals, and customers from many addresses. */
	H_CHECK(json_array_size(h_j(r.report, "groups")) == 5, "want 5 parties in the report");
	json_array_foreach(h_j(r.report, "groups"), i, g)
	{
		H_CHECK(jint(g, "requests") > 0, "party %s sent nothing", h_jstr(g, "name"));
	}
	H_CHECK(jint(r.report, "config.client_addresses") >= 100,
	        "customers came from %lld addresses", jint(r.report, "config.client_addresses"));
	/* The contract: terminus-load exits 0 only when every criterion was met and the
	 * invariants held. */
	H_CHECK(json_is_true(h_j(r.report, "criteria.ok")),
	        "abuse: a pass criterion was not met (above)");
	assert_clean(&r);
	run_release(&r);
}

static void test_slowloris(void **state)
{
	const char *args[] = {"slowloris",
	                      OWN_API,
	                      "--duration",
	                      "5s",
	                      "--rate",
	                      "20/s",
	                      "--slow",
	                      "160",
	                      "--slow-interval",
	                      "1s",
	                      "--request-timeout",
	                      "2s",
	                      NULL};
	struct run r;

	(void)state;
	setenv("TERMINUS_HTTP_REQUEST_TIMEOUT_MS", "2000", 1);
	load_run(&r, "slowloris", args);
	unsetenv("TERMINUS_HTTP_REQUEST_TIMEOUT_MS");
	H_CHECK(r.report != NULL, "no JSON report at %s", r.json);
	show_criteria(&r);
	print_message("[          ] slow sockets: %lld refused at once, %lld closed by the server "
	              "(%lld late), %lld outlived; lifetime p50 %.0f ms, max %.2f s\n",
	              jint(r.report, "slow.refused_at_once"),
	              jint(r.report, "slow.closed_by_server"), jint(r.report, "slow.closed_late"),
	              jint(r.report, "slow.outlived"), jnum(r.report, "slow.lifetime_ms.p50"),
	              jnum(r.report, "slow.max_lifetime_s"));
	H_CHECK(jint(r.report, "slow.opened") == 160, "%lld slow sockets opened",
	        jint(r.report, "slow.opened"));
	H_CHECK(jint(r.report, "slow.refused_at_once") + jint(r.report, "slow.closed_by_server") ==
	                160,
	        "not every slow socket was refused or closed by the server");
	/* 80 of them from one address, 16 more than TERMINUS_HTTP_CONNECTIONS_PER_IP (64). */
	H_CHECK(jint(r.report, "slow.refused_at_once") >= 16,
	        "only %lld slow sockets refused at once; 80 came from one address",
	        jint(r.report, "slow.refused_at_once"));
	H_CHECK(jint(r.report, "slow.closed_late") == 0 && jint(r.report, "slow.outlived") == 0,
	        "slow sockets lived past the request timeout + 2 s");
	H_CHECK(json_is_true(h_j(r.report, "criteria.ok")),
	        "slowloris: a pass criterion was not met (above)");
	assert_clean_checked(&r, 14); /* probes only read: no ledger */
	run_release(&r);
}

static void test_flash_sale_1000(void **state)
{
	const char *args[] = {"flash-sale", OWN_API, "--duration",      "5s",  "--rate", "200/s",
	                      "--stock",    "100",   "--drain-timeout", "45s", NULL};
	struct run r;
	long long buyers, acked, shed;
	const char *product;

	(void)state;
	load_run(&r, "flash-1000", args);
	H_CHECK(r.report != NULL, "no JSON report at %s", r.json);
	print_message("[          ] 1000 buyers: %lld acknowledged, %lld sold out, %lld 429, "
	              "%lld 503, %lld retries, %lld given up\n",
	              jint(r.report, "counts.checkouts_acked"), jint(r.report, "counts.sold_out"),
	              status_count(r.report, "429"), status_count(r.report, "503"),
	              jint(r.report, "counts.retries"), jint(r.report, "counts.gave_up"));
	assert_clean(&r);
	buyers = jint(r.report, "counts.buyers");
	acked = jint(r.report, "counts.checkouts_acked");
	H_CHECK(buyers == 1000, "%lld buyers arrived, want 1000", buyers);
	H_CHECK(jint(r.report, "config.client_addresses") >= 1000,
	        "the buyers came from %lld addresses, want one each",
	        jint(r.report, "config.client_addresses"));
	H_CHECK(status_count(r.report, "429") == 0, "%lld answers 429 with the default limits",
	        status_count(r.report, "429"));
	H_CHECK(status_count(r.report, "0") == 0, "%lld requests without an answer",
	        status_count(r.report, "0"));
	H_CHECK(acked == 100, "%lld checkouts acknowledged for 100 units", acked);
	/* Every buyer accounted for: sold one, told it is sold out, or shed with a 503 — an order
	 * is never resent (it has no key), a checkout only --retries times after Retry-After. */
	shed = 0;
	h_jint(r.report, "ops.create_order.status.503", &shed);
	H_CHECK(acked + jint(r.report, "counts.sold_out") + shed +
	                        jint(r.report, "counts.gave_up") ==
	                buyers,
	        "%lld acknowledged + %lld sold out + %lld orders shed + %lld given up is not %lld "
	        "buyers",
	        acked, jint(r.report, "counts.sold_out"), shed, jint(r.report, "counts.gave_up"),
	        buyers);
	product = h_jstr(r.report, "store_setup[0].products[0]");
	H_CHECK(product, "no product in the report");
	H_CHECK(h_db_ll("SELECT available FROM inventory WHERE product_id = $1", product, NULL) ==
	                0,
	        "stock left after the sale");
	H_CHECK(h_db_ll("SELECT count(*) FROM orders o JOIN order_items i ON i.order_id = o.id "
	                "WHERE i.product_id = $1 AND o.status = 'confirmed'",
	                product, NULL) == 100,
	        "not 100 confirmed orders");
	run_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_flash_sale_1000),
	        cmocka_unit_test(test_abuse),
	        cmocka_unit_test(test_slowloris),
	};
	int failed;

	h_init();
	snprintf(logdir, sizeof(logdir), "%s", h_env.log);
	if (strrchr(logdir, '/'))
		*strrchr(logdir, '/') = '\0';
	failed = H_RUN_GROUP("itest_abuse", tests, defaults_setup, NULL);
	h_cleanup();
	return failed ? 1 : 0;
}
