/*
 * itest_metrics.c — /metrics on the API and on a worker: the text parses with promtool (from
 * Debian's prometheus package), and the counters move by exactly what a scripted scenario did.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "fixtures.h"
#include "procs.h"
#include "banned.h"

#define CHECKOUTS 5

/* The value of the sample line that starts with exactly `series ` ("name{labels}"); 0 when the
 * series is absent (a counter that never moved). */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p != NULL && *p != '\0';
	     p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	return 0;
}

/* GET path from base (auth: a bearer token, or NULL). */
static char *scrape_as(const char *base, const char *path, const char *auth)
{
	struct resp r = {0};
	struct h_req q = {0};
	char *text;

	q.base = base;
	q.path = path;
	q.auth = auth;
	H_CHECK(h_request(&q, &r), "GET %s%s failed", base, path);
	/* Not H_STATUS: the worker's metrics listener serves no API requests, so it carries no
	 * X-Request-Id. */
	H_CHECK(r.status == 200, "GET %s%s: status %ld", base, path, r.status);
	text = h_strdup(r.body);
	resp_release(&r);
	return text;
}

static char *scrape(const char *base)
{
	return scrape_as(base, "/metrics", NULL);
}

/* promtool check metrics reads the exposition on stdin; exit 0 means it parsed and linted. */
static void must_pass_promtool(const char *text, const char *what)
{
	FILE *p = popen("promtool check metrics >/tmp/itest-promtool.out 2>&1", "w");
	int rc;

	H_CHECK(p != NULL,
	        "cannot run promtool (Debian package prometheus; make deps installs it)");
	fputs(text, p);
	rc = pclose(p);
	if (rc != 0) {
		char *out = p_read_file("/tmp/itest-promtool.out", NULL);

		printf("promtool said:\n%s\n", out != NULL ? out : "(nothing)");
		free(out);
	}
	H_CHECK(rc == 0, "promtool check metrics rejected the %s metrics (status %d)", what, rc);
}

static void test_api_and_worker_metrics_follow_a_scenario(void **state)
{
	struct h_store s;
	struct resp r = {0};
	struct p_worker w;
	struct p_worker_opts o = {0};
	char pid[H_ID_LEN], orders[CHECKOUTS + 1][H_ID_LEN], key[80], first_key[80];
	char series[256], listen[64], wurl[96], env_listen[96];
	const char *env[] = {env_listen, NULL};
	char *before, *after, *wtext;

	(void)state;
	h_must_create_store(&s, "metrics");
	h_must_create_product(&s, 500, 100, pid);
	for (int i = 0; i <= CHECKOUTS; i++)
		h_must_create_order(&s, pid, 1, orders[i]);

	before = scrape(h_env.api);
	must_pass_promtool(before, "API");

	/* The scenario: five async checkouts, one replay of the first, one declined payment. */
	for (int i = 0; i < CHECKOUTS; i++) {
		h_unique_key(key, sizeof(key), "m");
		if (i == 0)
			snprintf(first_key, sizeof(first_key), "%s", key);
		H_CHECK(h_checkout(&r, &s, orders[i], key, "tok_ok"), "checkout failed");
		H_STATUS(&r, 202);
		resp_release(&r);
	}
	H_CHECK(h_checkout(&r, &s, orders[0], first_key, "tok_ok"), "replay failed");
	H_STATUS(&r, 202);
	resp_release(&r);
	h_unique_key(key, sizeof(key), "d");
	H_CHECK(h_checkout(&r, &s, orders[CHECKOUTS], key, "tok_decline"), "decline failed");
	H_STATUS(&r, 402);
	resp_release(&r);

	after = scrape(h_env.api);
	must_pass_promtool(after, "API");
#define DELTA(name) (sample(after, name) - sample(before, name))
	H_CHECK(DELTA("terminus_checkouts_total{outcome=\"accepted\",path=\"async\"}") == CHECKOUTS,
	        "accepted checkouts moved by %g",
	        DELTA("terminus_checkouts_total{outcome=\"accepted\",path=\"async\"}"));
	H_CHECK(DELTA("terminus_checkouts_total{outcome=\"payment_declined\",path=\"async\"}") == 1,
	        "declined checkouts moved by %g",
	        DELTA("terminus_checkouts_total{outcome=\"payment_declined\",path=\"async\"}"));
	/* One store's sales are the operator's to see: not on the public /metrics, on
	 * /v1/ops/metrics with the operator's key (anyone else gets 401). */
	snprintf(series, sizeof(series),
	         "terminus_store_checkouts_total{store=\"%s\",outcome=\"accepted\"}", s.slug);
	H_CHECK(strstr(after, "terminus_store_checkouts_total") == NULL,
	        "the public /metrics carries per-store series");
	{
		char *ops = scrape_as(h_env.api, "/v1/ops/metrics", h_env.operator_key);

		must_pass_promtool(ops, "API (operator)");
		H_CHECK(sample(ops, series) == CHECKOUTS, "%s = %g", series, sample(ops, series));
		free(ops);
		h_get(&r, "/v1/ops/metrics", NULL);
		H_ERROR(&r, 401, "unauthorized");
		h_get(&r, "/v1/ops/metrics", s.key);
		H_ERROR(&r, 403, "forbidden");
		resp_release(&r);
	}
	H_CHECK(DELTA("terminus_idempotency_total{result=\"replayed\"}") == 1,
	        "replays moved by %g", DELTA("terminus_idempotency_total{result=\"replayed\"}"));
	/* Five new answers and the replay are 202s on the checkout route. */
	H_CHECK(DELTA("terminus_http_requests_total{route=\"/v1/stores/{store}/orders/{id}/checkout\","
	              "status=\"202\"}") == CHECKOUTS + 1,
	        "checkout 202s moved by %g",
	        DELTA("terminus_http_requests_total{route=\"/v1/stores/{store}/orders/{id}/"
	              "checkout\",status=\"202\"}"));
	H_CHECK(sample(after, "terminus_outbox_scrape_ok") == 1, "outbox gauges not read");
	H_CHECK(sample(after, "terminus_outbox_events{state=\"backlog\"}") >= CHECKOUTS,
	        "backlog gauge %g, want at least %d (no worker runs yet)",
	        sample(after, "terminus_outbox_events{state=\"backlog\"}"), CHECKOUTS);
#undef DELTA

	/* A worker finishes them; its own endpoint counts exactly those events. */
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", p_free_port());
	snprintf(env_listen, sizeof(env_listen), "TERMINUS_METRICS_LISTEN=%s", listen);
	snprintf(wurl, sizeof(wurl), "http://%s", listen);
	o.env = env;
	H_CHECK(p_worker_start(&w, "metrics", &o), "worker did not start");
	for (int i = 0; i < CHECKOUTS; i++)
		H_CHECK(p_wait_order_status(&s, orders[i], "confirmed", 15, NULL),
		        "order %d not confirmed", i);
	H_CHECK(p_wait_log(w.log, "metrics on http://", 5), "worker did not open its metrics");
	wtext = scrape(wurl);
	must_pass_promtool(wtext, "worker");
	H_CHECK(sample(wtext,
	               "terminus_events_handled_total{type=\"PaymentAuthorized\",outcome=\"done\"}") ==
	                CHECKOUTS,
	        "worker counted %g done PaymentAuthorized events, want %d",
	        sample(wtext,
	               "terminus_events_handled_total{type=\"PaymentAuthorized\",outcome=\"done\"}"),
	        CHECKOUTS);
	H_CHECK(sample(wtext, "terminus_checkout_confirm_seconds_count") == CHECKOUTS,
	        "confirm latency observed %g times, want %d",
	        sample(wtext, "terminus_checkout_confirm_seconds_count"), CHECKOUTS);
	H_CHECK(sample(wtext, "terminus_worker_threads") == 4, "worker threads gauge %g",
	        sample(wtext, "terminus_worker_threads"));
	free(before);
	free(after);
	free(wtext);
	H_CHECK(p_worker_term(&w, 10, NULL) == 0, "worker did not exit 0 on SIGTERM");
}

static int teardown(void **state)
{
	(void)state;
	p_stop_all();
	h_db_close();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_api_and_worker_metrics_follow_a_scenario, teardown),
	};

	return H_RUN_SUITE("itest_metrics", tests, NULL, NULL);
}
