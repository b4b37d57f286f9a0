/*
 * itest_worker.c — the outbox worker through real processes: the API tests/run.sh started, and
 * terminus-worker processes this suite starts, configures through the environment, stops with
 * SIGTERM and reads the logs of.
 *
 *   - async happy path: 202, then confirmed with a captured payment, each in well under a
 *     second on an idle system (median and max printed);
 *   - transient capture failures (chaos at 50 %) are retried and all recover;
 *   - permanent failures end dead with their compensation (payment_failed, payment voided,
 *     stock back, PaymentVoidRequested done, a void at the provider), visible to the operator
 *     and the store; an operator's retry of a dead event runs it again without a second effect;
 *   - cancel of a pending, a payment_authorized and a confirmed order, with stock, payment,
 *     provider and replay checks;
 *   - SIGTERM while events are in flight: exit 0 within 5 s, in-flight events finished,
 *     unstarted claims given back;
 *   - two workers drain one backlog with no event handled twice;
 *   - a lease dies with its owner's session: the batch of a worker killed with -9 is finished
 *     by another worker within 5 s (the lease is 30 s) and the killed worker is forgotten; a
 *     SIGSTOPped worker keeps its leases while another worker reaps, until it is killed;
 *   - GET /v1/ops/workers (operator only): a running worker alive and counting its events, a
 *     heartbeat older than TERMINUS_FAULT_HEARTBEAT_S silent, newest started first, a worker
 *     stopped by SIGTERM gone.
 *
 * Every test uses its own store, so the events of one never count in another; each test's
 * teardown SIGKILLs whatever worker it left running.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "fixtures.h"
#include "procs.h"
#include "banned.h"

#define LATENCY_ORDERS  20
#define LATENCY_LIMIT_S 1.0

static int teardown(void **state)
{
	(void)state;
	p_stop_all();
	return 0;
}

/* Stops a worker with SIGTERM and requires exit 0 within 5 s. */
static void must_term(struct p_worker *w)
{
	double took = 0;
	int st = p_worker_term(w, 5.0, &took);

	if (st != 0)
		p_show_log_tail(w->log, 30);
	H_CHECK(st == 0, "worker %s: SIGTERM gave %s after %.2f s, want exit 0 within 5 s", w->tag,
	        p_worker_describe(w), took);
}

static void must_start(struct p_worker *w, const char *tag, const struct p_worker_opts *o)
{
	H_CHECK(p_worker_start(w, tag, o), "worker %s did not start", tag);
}

/* Creates a one-line order and checks it out on the async path: 202, payment_authorized. */
static void must_async_checkout(const struct h_store *s, const char *product_id, int quantity,
                                char order_id[H_ID_LEN], char key[80])
{
	struct resp r = {0};

	h_must_create_order(s, product_id, quantity, order_id);
	h_unique_key(key, 80, "co");
	h_checkout(&r, s, order_id, key, "tok_ok");
	H_STATUS(&r, 202);
	H_JSTR(r.json, "status", "payment_authorized");
	H_JSTR(r.json, "checkout_path", "async");
	H_JSTR(r.json, "payment.status", "authorized");
	resp_release(&r);
}

static char *order_status_db(const char *order_id)
{
	return h_db_str("SELECT status FROM orders WHERE id = $1", order_id, NULL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The id of the order's only event of that type. Caller frees. */
static char *event_of(const char *order_id, const char *type)
{
	long long n = h_db_ll("SELECT count(*) FROM outbox_events WHERE aggregate_id = $1 "
	                      "AND type = $2",
	                      order_id, type, NULL);

	H_CHECK(n == 1, "order %s has %lld %s events, want 1", order_id, n, type);
	return h_db_str("SELECT id::text FROM outbox_events WHERE aggregate_id = $1 AND type = $2",
	                order_id, type, NULL);
}

static long long provider_ops(const char *payment_id, const char *op)
{
	return h_db_ll("SELECT count(*) FROM provider_operations WHERE payment_id = $1 "
	               "AND operation = $2",
	               payment_id, op, NULL);
}

/* The last timeline entry of an order answer goes from → to. */
static void expect_last_transition(const json_t *order, const char *from, const char *to)
{
	json_t *tl = h_j(order, "timeline");
	size_t n = json_array_size(tl);
	char path[64];

	H_CHECK(n > 0, "order without timeline");
	snprintf(path, sizeof(path), "timeline[%zu].from", n - 1);
	H_JSTR(order, path, from);
	snprintf(path, sizeof(path), "timeline[%zu].to", n - 1);
	H_JSTR(order, path, to);
}

/* ---- the operator's list of workers ---------------------------------------------------------- */

/* The heartbeat timeout the API runs with: TERMINUS_FAULT_HEARTBEAT_S, which it inherits from
 * tests/run.sh's environment as this suite does, else the default 15. */
static long long heartbeat_timeout_s(void)
{
	const char *v = getenv("TERMINUS_FAULT_HEARTBEAT_S");

	return v != NULL && *v != '\0' ? strtoll(v, NULL, 10) : 15;
}

/* The worker id a worker announced in its log ("worker <id> running N handler threads"). */
static void worker_id_of(const struct p_worker *w, char *id, size_t n)
{
	static const char needle[] = "\"msg\":\"worker ";
	char *text = p_read_file(w->log, NULL);
	const char *p = text != NULL ? strstr(text, needle) : NULL;
	const char *end = p != NULL ? strstr(p + strlen(needle), " running ") : NULL;

	if (end == NULL) {
		free(text);
		p_show_log_tail(w->log, 10);
		H_FAIL("worker %s did not log its id", w->tag);
	}
	p += strlen(needle);
	snprintf(id, n, "%.*s", (int)(end - p), p);
	free(text);
}

/* GET /v1/ops/workers as the operator: 200, {data, heartbeat_timeout_seconds} and nothing
 * else, every row of the promised shape (status consistent with its age), newest started
 * first. Returns the body (new reference). */
static json_t *must_list_workers(void)
{
	struct resp r = {0};
	long long timeout = -1;
	const char *prev = NULL;
	json_t *data, *row, *body;
	size_t i;

	h_get(&r, "/v1/ops/workers", h_env.operator_key);
	H_STATUS(&r, 200);
	H_CHECK(json_object_size(r.json) == 2,
	        "ops/workers: want data and "
	        "heartbeat_timeout_seconds only: %s",
	        r.body);
	H_CHECK(h_jint(r.json, "heartbeat_timeout_seconds", &timeout) &&
	                timeout == heartbeat_timeout_s(),
	        "heartbeat_timeout_seconds %lld, want %lld: %s", timeout, heartbeat_timeout_s(),
	        r.body);
	data = h_j(r.json, "data");
	H_CHECK(json_is_array(data), "ops/workers without data[]: %s", r.body);
	json_array_foreach(data, i, row)
	{
		const char *id = h_jstr(row, "worker_id"), *started = h_jstr(row, "started_at");
		const char *seen = h_jstr(row, "seen_at"), *status = h_jstr(row, "status");
		json_t *age = json_object_get(row, "seen_seconds_ago");
		long long done = -1;
		double a;

		H_CHECK(json_object_size(row) == 6 && id != NULL && *id != '\0' &&
		                h_is_rfc3339_utc(started) && h_is_rfc3339_utc(seen) &&
		                h_jint(row, "events_done", &done) && done >= 0 &&
		                json_is_number(age) && status != NULL,
		        "ops/workers data[%zu] is not {worker_id, started_at, seen_at, events_done, "
		        "seen_seconds_ago, status}: %s",
		        i, r.body);
		H_CHECK(strcmp(seen, started) >= 0, "data[%zu]: seen_at %s before started_at %s", i,
		        seen, started);
		a = json_number_value(age);
		H_CHECK(a >= 0, "data[%zu]: seen_seconds_ago %.3f", i, a);
		/* silent: seen_at older than the timeout (the age is rounded to the millisecond).
		 */
		H_CHECK(strcmp(status, "silent") == 0
		                ? a >= (double)timeout - 0.001
		                : strcmp(status, "alive") == 0 && a <= (double)timeout + 0.001,
		        "data[%zu]: status %s with seen_seconds_ago %.3f and a timeout of %lld s",
		        i, status, a, timeout);
		H_CHECK(prev == NULL || strcmp(prev, started) >= 0,
		        "ops/workers not newest started first: %s after %s", started, prev);
		prev = started;
	}
	body = json_incref(r.json);
	resp_release(&r);
	return body;
}

/* The row of that worker in a list, or NULL; *index its position. Borrowed. */
static json_t *worker_row(const json_t *list, const char *id, size_t *index)
{
	json_t *row;
	size_t i;

	json_array_foreach(h_j(list, "data"), i, row)
	{
		const char *w = h_jstr(row, "worker_id");

		if (w != NULL && strcmp(w, id) == 0) {
			if (index != NULL)
				*index = i;
			return row;
		}
	}
	return NULL;
}

static char fake_silent[64], fake_quiet[64];

static int workers_teardown(void **state)
{
	if (fake_silent[0] != '\0')
		h_db_exec("DELETE FROM worker_heartbeats WHERE worker_id IN ($1, $2)", fake_silent,
		          fake_quiet, NULL);
	return teardown(state);
}

/* GET /v1/ops/workers: the operator's only; every heartbeat row, newest started first, alive
 * or silent by TERMINUS_FAULT_HEARTBEAT_S; a running worker alive and counting its events, a
 * stopped one gone. The two other rows are written straight into worker_heartbeats: one silent
 * (seen a minute past the timeout), one alive (seen just now, started before it). */
static void test_ops_workers(void **state)
{
	struct h_store s;
	struct p_worker w;
	struct p_worker_opts o = {0};
	struct resp r = {0};
	char pid[H_ID_LEN], order[H_ID_LEN], key[80], id[64], secs[24];
	size_t at_real = 0, at_silent = 0, at_quiet = 0;
	long long timeout = heartbeat_timeout_s(), events = -1, done = -1, v = -1;
	json_t *list, *row;
	double deadline;
	char *ts;

	(void)state;
	h_must_create_store(&s, "workers");

	/* The operator's route: no key 401, a key nobody has 401, a store admin's key 403. */
	h_get(&r, "/v1/ops/workers", NULL);
	H_ERROR(&r, 401, "unauthorized");
	h_get(&r, "/v1/ops/workers", "not-a-key");
	H_ERROR(&r, 401, "unauthorized");
	h_get(&r, "/v1/ops/workers", s.key);
	H_ERROR(&r, 403, "forbidden");
	resp_release(&r);

	snprintf(fake_silent, sizeof(fake_silent), "itest-silent-%d", (int)getpid());
	snprintf(fake_quiet, sizeof(fake_quiet), "itest-quiet-%d", (int)getpid());
	snprintf(secs, sizeof(secs), "%lld", timeout + 45);
	h_db_exec("INSERT INTO worker_heartbeats (worker_id, started_at, seen_at, events_done) "
	          "VALUES ($1, now() - interval '2 minutes', now(), 7), "
	          "       ($2, now() - interval '3 minutes', now(), 3)",
	          fake_silent, fake_quiet, NULL);
	h_db_exec("UPDATE worker_heartbeats SET seen_at = now() - make_interval(secs => $2::int) "
	          "WHERE worker_id = $1",
	          fake_silent, secs, NULL);

	must_start(&w, "workers", &o);
	worker_id_of(&w, id, sizeof(id));
	H_CHECK(p_wait_db(5, NULL, "==", 1,
	                  "SELECT count(*) FROM worker_heartbeats WHERE worker_id = $1", id, NULL),
	        "worker %s wrote no heartbeat within 5 s", id);

	list = must_list_workers();
	row = worker_row(list, id, &at_real);
	H_CHECK(row != NULL, "ops/workers does not list the running worker %s", id);
	H_JSTR(row, "status", "alive");
	H_CHECK(json_number_value(json_object_get(row, "seen_seconds_ago")) < 5,
	        "a running worker seen %.3f s ago (it beats every second)",
	        json_number_value(json_object_get(row, "seen_seconds_ago")));
	/* Timestamps by the database's clock: started within the last minute, not in the future. */
	H_CHECK(h_db_ll("SELECT ($1::timestamptz > now() - interval '1 minute' "
	                "AND $1::timestamptz <= now() AND $2::timestamptz <= now())::int",
	                h_jstr(row, "started_at"), h_jstr(row, "seen_at"), NULL) == 1,
	        "running worker: started_at %s, seen_at %s", h_jstr(row, "started_at"),
	        h_jstr(row, "seen_at"));

	row = worker_row(list, fake_silent, &at_silent);
	H_CHECK(row != NULL, "ops/workers does not list %s", fake_silent);
	H_JSTR(row, "status", "silent");
	H_JINT(row, "events_done", 7);
	H_CHECK(json_number_value(json_object_get(row, "seen_seconds_ago")) >=
	                        (double)timeout + 45 &&
	                json_number_value(json_object_get(row, "seen_seconds_ago")) <
	                        (double)timeout + 75,
	        "%s: seen_seconds_ago %.3f, seen %lld s before the test looked", fake_silent,
	        json_number_value(json_object_get(row, "seen_seconds_ago")), timeout + 45);
	ts = h_db_str("SELECT terminus_ts(started_at) FROM worker_heartbeats WHERE worker_id = $1",
	              fake_silent, NULL);
	H_JSTR(row, "started_at", ts);
	free(ts);
	ts = h_db_str("SELECT terminus_ts(seen_at) FROM worker_heartbeats WHERE worker_id = $1",
	              fake_silent, NULL);
	H_JSTR(row, "seen_at", ts);
	free(ts);

	row = worker_row(list, fake_quiet, &at_quiet);
	H_CHECK(row != NULL, "ops/workers does not list %s", fake_quiet);
	H_JSTR(row, "status", "alive");
	H_JINT(row, "events_done", 3);
	H_CHECK(at_real < at_silent && at_silent < at_quiet,
	        "ops/workers order: running worker #%zu, started 2 min ago #%zu, 3 min ago #%zu",
	        at_real, at_silent, at_quiet);
	json_decref(list);

	/* events_done: what the worker finished, as of its last heartbeat. */
	h_must_create_product(&s, 100, 10, pid);
	must_async_checkout(&s, pid, 1, order, key);
	H_CHECK(p_wait_order_status(&s, order, "confirmed", 10, NULL),
	        "order %s not confirmed within 10 s", order);
	if (!p_wait_db(
	            10, &v, "==", 0,
	            "SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status <> 'done'",
	            s.id, NULL)) {
		p_show_log_tail(w.log, 20);
		H_FAIL("%lld events of store %s not done within 10 s", v, s.slug);
	}
	events = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1", s.id, NULL);
	for (deadline = h_now() + 5;; h_sleep_ms(100)) {
		list = must_list_workers();
		row = worker_row(list, id, NULL);
		H_CHECK(row != NULL, "ops/workers lost the running worker %s", id);
		H_CHECK(h_jint(row, "events_done", &done), "events_done not an integer");
		json_decref(list);
		if (done >= events || h_now() > deadline)
			break;
	}
	H_CHECK(done >= events, "events_done %lld 5 s after the worker finished %lld events", done,
	        events);

	/* A worker that stops on SIGTERM removes its row. */
	must_term(&w);
	list = must_list_workers();
	H_CHECK(worker_row(list, id, NULL) == NULL, "ops/workers still lists %s after it stopped",
	        id);
	H_CHECK(worker_row(list, fake_silent, NULL) != NULL, "the silent row vanished");
	json_decref(list);
}

/* ---- async happy path and latency ------------------------------------------------------------ */

/* CPU seconds (user + system) a process has used, from /proc; -1 when unreadable. */
static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	const char *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields 14 and 15 follow the command name, which ends at the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Regression: with an empty queue the "next due" query said 0 ms and every handler thread spun
 * on the database. An idle worker must sleep: well under 10 % of a core over three seconds. */
static void test_idle_worker_sleeps(void **state)
{
	struct p_worker w;
	struct p_worker_opts o = {0};
	double before, after;

	(void)state;
	must_start(&w, "idle", &o);
	before = cpu_seconds(w.pid);
	h_sleep_ms(3000); /* measuring idleness over a fixed window is the point, not a sync */
	after = cpu_seconds(w.pid);
	H_CHECK(before >= 0 && after >= 0, "cannot read /proc/%d/stat", (int)w.pid);
	printf("idle worker used %.2f s of CPU in 3 s\n", after - before);
	H_CHECK(after - before < 0.3, "idle worker used %.2f s of CPU in 3 s (spinning?)",
	        after - before);
}

static void test_async_happy_path(void **state)
{
	struct h_store s;
	struct p_worker w;
	struct p_worker_opts o = {0};
	char pid[H_ID_LEN];
	char orders[LATENCY_ORDERS + 2][H_ID_LEN];
	char key[80];
	double lat[LATENCY_ORDERS], sorted[LATENCY_ORDERS];
	double worst = 0;
	int worst_i = 0;

	(void)state;
	h_must_create_store(&s, "happy");
	h_must_create_product(&s, 1250, 100, pid);
	must_start(&w, "happy", &o);

	/* Warm-up: the worker's first event (connections, prepared statements) is not timed. */
	must_async_checkout(&s, pid, 1, orders[LATENCY_ORDERS], key);
	H_CHECK(p_wait_order_status(&s, orders[LATENCY_ORDERS], "confirmed", 10, NULL),
	        "warm-up order %s not confirmed within 10 s", orders[LATENCY_ORDERS]);

	for (int i = 0; i < LATENCY_ORDERS; i++) {
		double t0, deadline;
		bool confirmed = false;

		must_async_checkout(&s, pid, 1, orders[i], key);
		t0 = h_now();
		deadline = t0 + 5;
		while (!confirmed && h_now() < deadline) {
			char *st = order_status_db(orders[i]);

			confirmed = st && strcmp(st, "confirmed") == 0;
			free(st);
			if (!confirmed)
				h_sleep_ms(2);
		}
		lat[i] = h_now() - t0;
		H_CHECK(confirmed, "order %s (#%d) not confirmed within 5 s of its 202", orders[i],
		        i);
		if (lat[i] > worst) {
			worst = lat[i];
			worst_i = i;
		}
	}
	memcpy(sorted, lat, sizeof(lat));
	qsort(sorted, LATENCY_ORDERS, sizeof(double), cmp_double);
	print_message("[          ] 202 -> confirmed over %d sequential orders: median %.1f ms, "
	              "max %.1f ms\n",
	              LATENCY_ORDERS,
	              1000 * (sorted[(LATENCY_ORDERS - 1) / 2] + sorted[LATENCY_ORDERS / 2]) / 2,
	              1000 * worst);
	H_CHECK(worst < LATENCY_LIMIT_S,
	        "order %s took %.3f s from 202 to confirmed (limit %.1f s)", orders[worst_i], worst,
	        LATENCY_LIMIT_S);

	/* A replay of the first checkout is the stored 202, byte for byte, with no new effect. */
	{
		struct resp first = {0}, again = {0};
		char o2[H_ID_LEN], k2[80];
		const char *replayed;

		h_must_create_order(&s, pid, 1, o2);
		h_unique_key(k2, sizeof(k2), "co");
		h_checkout(&first, &s, o2, k2, "tok_ok");
		H_STATUS(&first, 202);
		H_CHECK(p_wait_order_status(&s, o2, "confirmed", 10, NULL),
		        "order %s not confirmed within 10 s", o2);
		h_checkout(&again, &s, o2, k2, "tok_ok");
		H_SAME_BODY(&first, &again);
		replayed = resp_header(&again, "Idempotent-Replayed");
		H_CHECK(replayed && strcmp(replayed, "true") == 0,
		        "checkout replay without Idempotent-Replayed: true");
		H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1", o2, NULL) == 1,
		        "the replay added a payment");
		resp_release(&first);
		resp_release(&again);
		snprintf(orders[LATENCY_ORDERS + 1], H_ID_LEN, "%s", o2);
	}

	/* What the API shows: confirmed, a captured payment of the order's total, the timeline. */
	for (int i = 0; i < LATENCY_ORDERS + 2; i++) {
		json_t *ord = h_must_get_order(&s, orders[i]);
		long long total = 0;

		H_JSTR(ord, "status", "confirmed");
		H_JSTR(ord, "checkout_path", "async");
		H_JSTR(ord, "payment.status", "captured");
		H_CHECK(h_jint(ord, "total_cents", &total) && total == 1250, "total: %lld", total);
		H_JINT(ord, "payment.amount_cents", 1250);
		expect_last_transition(ord, "payment_authorized", "confirmed");
		json_decref(ord);
	}
	p_assert_all_confirmed(&s, LATENCY_ORDERS + 2);
	p_assert_stock(&s, pid, 100, "'confirmed'");

	/* The worker's log: every event handled once, done. */
	{
		const char *logs[] = {w.log};
		size_t n;
		struct p_handled *h;

		must_term(&w);
		h = p_handled_read(logs, 1, &n);
		for (int i = 0; i < LATENCY_ORDERS + 2; i++) {
			char *ev = event_of(orders[i], "PaymentAuthorized");
			size_t done = p_handled_count(h, n, ev, "done");
			size_t any = p_handled_count(h, n, ev, NULL);

			free(ev);
			if (done != 1 || any != 1) {
				free(h);
				H_FAIL("order %s: its event has %zu \"done\" and %zu handled lines in "
				       "the worker log, want 1 and 1",
				       orders[i], done, any);
			}
		}
		free(h);
	}
}

/* ---- transient failures ---------------------------------------------------------------------- */

#define TRANSIENT_ORDERS 20

static void test_transient_failures_recover(void **state)
{
	struct h_store s;
	struct p_worker w;
	/* 50 % of attempts fail: 20 attempts make a dead event a one-in-a-million event. */
	struct p_worker_opts o = {.retry_base_ms = 10, .max_attempts = 20};
	char pid[H_ID_LEN];
	char order[H_ID_LEN], key[80];
	long long left = -1, retries;
	size_t retry_lines;

	(void)state;
	h_must_create_store(&s, "transient");
	h_must_create_product(&s, 500, 1000, pid);
	p_must_set_flag(&s, "chaos.payment_capture_fail", true, 50);
	must_start(&w, "transient", &o);
	for (int i = 0; i < TRANSIENT_ORDERS; i++)
		must_async_checkout(&s, pid, 1 + i % 3, order, key);

	if (!p_wait_db(60, &left, "==", 0,
	               "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND status = 'pending'",
	               s.id, NULL)) {
		p_show_log_tail(w.log, 20);
		H_FAIL("%lld events still pending 60 s after the checkouts", left);
	}
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status = 'dead'",
	                s.id, NULL) == 0,
	        "a transiently failing capture ended dead");
	retries = h_db_ll("SELECT sum(attempts) - count(*) FROM outbox_events WHERE store_id = $1 "
	                  "AND type = 'PaymentAuthorized'",
	                  s.id, NULL);
	retry_lines = p_log_count(w.log, "\"outcome\":\"retry\"");
	print_message("[          ] %d orders at 50 %% capture failure: %lld failed attempts "
	              "retried (%zu retry lines in the log)\n",
	              TRANSIENT_ORDERS, retries, retry_lines);
	H_CHECK(retries > 0 && retry_lines > 0,
	        "no attempt failed (%lld, %zu): is chaos.payment_capture_fail applied?", retries,
	        retry_lines);
	p_assert_all_confirmed(&s, TRANSIENT_ORDERS);
	p_assert_stock(&s, pid, 1000, "'confirmed'");
	must_term(&w);
}

static void expect_not_cancellable(const struct h_store *s, const char *order_id,
                                   const char *status)
{
	struct resp r = {0};
	char key[80];

	h_unique_key(key, sizeof(key), "cancel-again");
	p_cancel(&r, s, order_id, key, s->key, NULL);
	H_ERROR(&r, 409, "order_not_cancellable");
	H_JSTR(r.json, "error.details.status", status);
	resp_release(&r);
}

/* ---- a synchronous checkout whose capture fails ---------------------------------------------- */

/* One handler, two places to run it: when the capture fails inside the request (sync path),
 * the answer says so honestly (202, payment_authorized) and the worker finishes the same event
 * later; the order keeps the path it started on and is confirmed exactly once. */
static void test_sync_capture_failure_finished_by_worker(void **state)
{
	struct h_store s;
	struct p_worker w;
	struct p_worker_opts o = {.retry_base_ms = 20, .max_attempts = 20};
	char pid[H_ID_LEN], order[H_ID_LEN], key[80];
	struct resp r = {0};
	char *ev;
	long long v = -1;

	(void)state;
	h_must_create_store(&s, "sync-fail");
	h_must_create_product(&s, 800, 10, pid);
	h_must_set_flag(&s, "checkout.async_enabled", false);
	p_must_set_flag(&s, "chaos.payment_capture_fail", true, 100);
	must_start(&w, "sync-fail", &o);

	h_must_create_order(&s, pid, 2, order);
	h_unique_key(key, sizeof(key), "co");
	h_checkout(&r, &s, order, key, "tok_ok");
	H_STATUS(&r, 202);
	H_JSTR(r.json, "status", "payment_authorized");
	H_JSTR(r.json, "checkout_path", "sync");
	resp_release(&r);
	ev = event_of(order, "PaymentAuthorized");
	H_CHECK(h_db_ll("SELECT attempts FROM outbox_events WHERE id = $1", ev, NULL) >= 1,
	        "the failed synchronous attempt was not recorded");

	/* The provider recovers; the worker retries the event until it goes through. */
	p_must_set_flag(&s, "chaos.payment_capture_fail", false, 100);
	if (!p_wait_db(20, &v, "==", 1,
	               "SELECT count(*) FROM outbox_events WHERE id = $1 AND status = 'done'", ev,
	               NULL)) {
		p_show_log_tail(w.log, 20);
		H_FAIL("the event of a failed sync checkout is not done within 20 s");
	}
	H_CHECK(p_wait_order_status(&s, order, "confirmed", 5, NULL), "order %s not confirmed",
	        order);
	H_CHECK(p_log_count(w.log, ev) > 0, "the worker never handled event %s", ev);
	{
		json_t *ord = h_must_get_order(&s, order);

		H_JSTR(ord, "checkout_path", "sync");
		H_JSTR(ord, "payment.status", "captured");
		json_decref(ord);
	}
	p_assert_all_confirmed(&s, 1);
	p_assert_stock(&s, pid, 10, "'confirmed'");
	must_term(&w);
	free(ev);
}

/* ---- permanent failures, dead letters, operator retry ---------------------------------------- */

/* Checks out n orders of `quantity` on a store whose captures always fail, with a worker of
 * TERMINUS_MAX_ATTEMPTS=3, and waits until each PaymentAuthorized is dead and its
 * PaymentVoidRequested is done. */
static void make_dead(const struct h_store *s, const char *pid, int n, int quantity,
                      char (*orders)[H_ID_LEN], struct p_worker *w, const char *tag)
{
	struct p_worker_opts o = {.retry_base_ms = 20, .max_attempts = 3};
	char key[80];
	long long got = -1;

	p_must_set_flag(s, "chaos.payment_capture_fail", true, 100);
	must_start(w, tag, &o);
	for (int i = 0; i < n; i++)
		must_async_checkout(s, pid, quantity, orders[i], key);
	if (!p_wait_db(30, &got, "==", n,
	               "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND type = 'PaymentAuthorized' AND status = 'dead'",
	               s->id, NULL)) {
		p_show_log_tail(w->log, 20);
		H_FAIL("%lld of %d PaymentAuthorized events dead within 30 s", got, n);
	}
	if (!p_wait_db(20, &got, "==", n,
	               "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND type = 'PaymentVoidRequested' AND status = 'done'",
	               s->id, NULL)) {
		p_show_log_tail(w->log, 20);
		H_FAIL("%lld of %d PaymentVoidRequested events done within 20 s", got, n);
	}
}

/* The compensation of a dead PaymentAuthorized, seen through the API and the database. */
static void expect_compensated(const struct h_store *s, const char *order_id, int quantity)
{
	json_t *ord = h_must_get_order(s, order_id);
	const char *payment_id;
	char *void_ev;
	char delta[16];
	long long n;

	snprintf(delta, sizeof(delta), "%d", -quantity);
	H_JSTR(ord, "status", "payment_failed");
	H_JSTR(ord, "payment.status", "voided");
	expect_last_transition(ord, "payment_authorized", "payment_failed");
	payment_id = h_jstr(ord, "payment.id");
	H_CHECK(payment_id != NULL, "order without payment id");
	H_CHECK(provider_ops(payment_id, "capture") == 0, "payment %s was captured", payment_id);
	H_CHECK(provider_ops(payment_id, "refund") == 0, "payment %s was refunded", payment_id);
	void_ev = event_of(order_id, "PaymentVoidRequested");
	n = h_db_ll("SELECT count(*) FROM provider_operations WHERE payment_id = $1 "
	            "AND operation = 'void' AND idempotency_key = $2",
	            payment_id, void_ev, NULL);
	free(void_ev);
	H_CHECK(n == 1, "payment %s: %lld voids at the provider keyed by the void event, want 1",
	        payment_id, n);
	n = h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1 "
	            "AND status IN ('authorized', 'captured')",
	            order_id, NULL);
	H_CHECK(n == 0, "order %s still has %lld live payments", order_id, n);
	/* The ledger: taken once, given back once. */
	n = h_db_ll("SELECT count(*) FROM inventory_movements WHERE order_id = $1 AND delta = $2",
	            order_id, delta, NULL);
	H_CHECK(n == 1, "order %s: %lld checkout movements", order_id, n);
	n = h_db_ll("SELECT coalesce(sum(delta), 0) FROM inventory_movements WHERE order_id = $1",
	            order_id, NULL);
	H_CHECK(n == 0, "order %s: its movements sum to %lld, want 0 after compensation", order_id,
	        n);
	n = h_db_ll("SELECT count(*) FROM inventory_movements WHERE order_id = $1 AND delta > 0",
	            order_id, NULL);
	H_CHECK(n == 1, "order %s: stock given back %lld times", order_id, n);
	json_decref(ord);
}

static void test_permanent_failure_dead_compensation(void **state)
{
	struct h_store s;
	struct p_worker w;
	char pid[H_ID_LEN];
	char orders[3][H_ID_LEN];
	struct resp r = {0};
	const char *logs[1];
	struct p_handled *h;
	size_t nh;
	json_t *mine = NULL;
	long long v;

	(void)state;
	h_must_create_store(&s, "dead");
	h_must_create_product(&s, 700, 10, pid);
	make_dead(&s, pid, 3, 2, orders, &w, "dead");

	for (int i = 0; i < 3; i++)
		expect_compensated(&s, orders[i], 2);
	p_assert_stock(&s, pid, 10, "'confirmed'");
	/* A failed order is settled: it cannot be cancelled. */
	expect_not_cancellable(&s, orders[0], "payment_failed");
	H_CHECK(h_must_available(&s, pid) == 10, "stock not restored");

	/* The dead events: three attempts each, the last error kept. */
	v = h_db_ll(
	        "SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status = 'dead' "
	        "AND type = 'PaymentAuthorized' AND attempts = 3 AND last_error LIKE '%provider%'",
	        s.id, NULL);
	H_CHECK(v == 3, "%lld dead events with 3 attempts and the provider's error, want 3", v);

	/* The operator sees them. */
	h_get(&r, "/v1/ops/outbox", h_env.operator_key);
	H_STATUS(&r, 200);
	H_CHECK(h_jint(r.json, "dead", &v) && v >= 3, "ops/outbox dead = %lld, want >= 3: %s", v,
	        r.body);
	for (size_t i = 0; i < json_array_size(h_j(r.json, "stores")); i++) {
		json_t *st = json_array_get(h_j(r.json, "stores"), i);

		if (h_jstr(st, "store") && strcmp(h_jstr(st, "store"), s.slug) == 0)
			mine = st;
	}
	H_CHECK(mine != NULL, "ops/outbox has no entry for store %s: %s", s.slug, r.body);
	H_JINT(mine, "dead", 3);
	H_JINT(mine, "backlog", 0);
	resp_release(&r);

	/* The store sees them. */
	h_getf(&r, s.key, "/v1/stores/%s/events?status=dead", s.slug);
	H_STATUS(&r, 200);
	H_CHECK(json_array_size(h_j(r.json, "data")) == 3, "events?status=dead: %s", r.body);
	for (size_t i = 0; i < 3; i++) {
		json_t *ev = json_array_get(h_j(r.json, "data"), i);

		H_JSTR(ev, "type", "PaymentAuthorized");
		H_JSTR(ev, "status", "dead");
		H_JINT(ev, "attempts", 3);
		H_CHECK(json_is_string(h_j(ev, "last_error")), "dead event without last_error: %s",
		        r.body);
	}
	resp_release(&r);
	/* Done: the three voids and the orders' status changes (created, checked out, failed). */
	H_CHECK(p_wait_db(10, &v, "==", 0,
	                  "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	                  "AND status = 'pending'",
	                  s.id, NULL),
	        "%lld events still pending after 10 s", v);
	h_getf(&r, s.key, "/v1/stores/%s/events?status=done&limit=100", s.slug);
	H_STATUS(&r, 200);
	{
		size_t voids = 0, changes = 0, n = json_array_size(h_j(r.json, "data"));

		for (size_t i = 0; i < n; i++) {
			const char *type = h_jstr(json_array_get(h_j(r.json, "data"), i), "type");

			voids += type && strcmp(type, "PaymentVoidRequested") == 0;
			changes += type && strcmp(type, "OrderStatusChanged") == 0;
		}
		H_CHECK(voids == 3 && changes == 9 && n == 12,
		        "events?status=done: %zu voids, %zu status changes, %zu in all, want 3, 9, "
		        "12: %s",
		        voids, changes, n, r.body);
	}
	resp_release(&r);

	/* The worker's log: two retries, then dead, for each. */
	must_term(&w);
	logs[0] = w.log;
	h = p_handled_read(logs, 1, &nh);
	for (int i = 0; i < 3; i++) {
		char *ev = event_of(orders[i], "PaymentAuthorized");
		size_t retry = p_handled_count(h, nh, ev, "retry");
		size_t dead = p_handled_count(h, nh, ev, "dead");

		free(ev);
		if (retry != 2 || dead != 1) {
			free(h);
			H_FAIL("order %s: %zu retry and %zu dead lines, want 2 and 1", orders[i],
			       retry, dead);
		}
	}
	free(h);
}

static void test_operator_retry_of_dead_event(void **state)
{
	struct h_store s, other;
	struct p_worker w, w2;
	struct p_worker_opts o = {.retry_base_ms = 20, .max_attempts = 3};
	char pid[H_ID_LEN];
	char orders[1][H_ID_LEN];
	struct resp r = {0};
	char *dead_ev, *void_ev, *payment_id;
	long long v = -1;

	(void)state;
	h_must_create_store(&s, "retry");
	h_must_create_store(&other, "retry-other");
	h_must_create_product(&s, 900, 4, pid);
	make_dead(&s, pid, 1, 1, orders, &w, "retry1");
	must_term(&w);
	dead_ev = event_of(orders[0], "PaymentAuthorized");
	void_ev = event_of(orders[0], "PaymentVoidRequested");
	payment_id = h_db_str("SELECT id::text FROM payments WHERE order_id = $1", orders[0], NULL);

	/* Who may: the operator only. */
	h_sendf(&r, "POST", NULL, NULL, "/v1/ops/dead-letters/%s/retry", dead_ev);
	H_ERROR(&r, 401, "unauthorized");
	h_sendf(&r, "POST", s.key, NULL, "/v1/ops/dead-letters/%s/retry", dead_ev);
	H_ERROR(&r, 403, "forbidden");
	/* What: an unknown event is 404, a done one 409. */
	h_sendf(&r, "POST", h_env.operator_key, NULL, "/v1/ops/dead-letters/%s/retry",
	        "0b9e3bd1-8f5f-4d07-9a57-1c0e4f6d2a11");
	H_ERROR(&r, 404, "not_found");
	h_sendf(&r, "POST", h_env.operator_key, NULL, "/v1/ops/dead-letters/%s/retry", void_ev);
	H_ERROR(&r, 409, "event_not_dead");

	/* The operator fixed the cause and sends the event back. */
	p_must_set_flag(&s, "chaos.payment_capture_fail", false, 100);
	h_sendf(&r, "POST", h_env.operator_key, NULL, "/v1/ops/dead-letters/%s/retry", dead_ev);
	H_STATUS(&r, 200);
	H_JSTR(r.json, "id", dead_ev);
	H_JSTR(r.json, "status", "pending");
	H_JINT(r.json, "attempts", 0);
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE id = $1 AND status = 'pending'",
	                dead_ev, NULL) == 1,
	        "retried event is not pending in the database");
	h_getf(&r, s.key, "/v1/stores/%s/events?status=pending", s.slug);
	H_STATUS(&r, 200);
	H_CHECK(json_array_size(h_j(r.json, "data")) == 1, "events?status=pending: %s", r.body);
	H_JSTR(r.json, "data[0].id", dead_ev);
	/* Not dead any more: a second retry is refused. */
	h_sendf(&r, "POST", h_env.operator_key, NULL, "/v1/ops/dead-letters/%s/retry", dead_ev);
	H_ERROR(&r, 409, "event_not_dead");
	resp_release(&r);

	must_start(&w2, "retry2", &o);
	if (!p_wait_db(15, &v, "==", 1,
	               "SELECT count(*) FROM outbox_events WHERE id = $1 AND status = 'done'",
	               dead_ev, NULL)) {
		p_show_log_tail(w2.log, 20);
		H_FAIL("the retried event is not done within 15 s");
	}
	/* The worker logs an event after its commit: the row can be done a moment before the
	 * line is written. */
	H_CHECK(p_wait_log(w2.log, dead_ev, 5), "no log line for the retried event within 5 s");
	{
		const char *logs[] = {w2.log};
		size_t nh;
		struct p_handled *h = p_handled_read(logs, 1, &nh);
		size_t done = p_handled_count(h, nh, dead_ev, "done");

		free(h);
		H_CHECK(done == 1, "the retried event has %zu done lines, want 1", done);
	}
	/* No second effect: the order was already compensated; nothing is captured, voided
	 * again, or given back twice. */
	expect_compensated(&s, orders[0], 1);
	H_CHECK(provider_ops(payment_id, "void") == 1, "payment voided %lld times",
	        provider_ops(payment_id, "void"));
	v = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	            "AND type <> 'OrderStatusChanged'",
	            s.id, NULL);
	H_CHECK(v == 2,
	        "the store has %lld events, want 2 (PaymentAuthorized, PaymentVoidRequested)", v);
	p_assert_stock(&s, pid, 4, "'confirmed'");
	must_term(&w2);
	free(dead_ev);
	free(void_ev);
	free(payment_id);
}

/* ---- cancel ---------------------------------------------------------------------------------- */

/* Cancels with that key; asserts 200 and the status; returns the answer (caller releases). */
static void must_cancel(struct resp *r, const struct h_store *s, const char *order_id,
                        const char *key, const char *auth, const char *body, const char *status)
{
	p_cancel(r, s, order_id, key, auth, body);
	H_STATUS(r, 200);
	H_JSTR(r->json, "id", order_id);
	H_JSTR(r->json, "status", status);
}

static void expect_replay(const struct resp *first, const struct h_store *s, const char *order_id,
                          const char *key, const char *auth, const char *body)
{
	struct resp r = {0};
	const char *replayed;

	p_cancel(&r, s, order_id, key, auth, body);
	H_SAME_BODY(first, &r);
	replayed = resp_header(&r, "Idempotent-Replayed");
	H_CHECK(replayed && strcmp(replayed, "true") == 0,
	        "replayed cancel without Idempotent-Replayed: true");
	resp_release(&r);
}

static void test_cancel_pending(void **state)
{
	struct h_store s;
	char pid[H_ID_LEN], order[H_ID_LEN], key[80], key2[80];
	const char *body = "{\"reason\":\"changed my mind\"}";
	struct resp r = {0}, first = {0};
	json_t *tl;
	const char *reason;

	(void)state;
	h_must_create_store(&s, "cxl-pending");
	h_must_create_product(&s, 300, 5, pid);
	h_must_create_order(&s, pid, 2, order);
	h_unique_key(key, sizeof(key), "cancel");

	p_cancel(&r, &s, order, NULL, s.key, body);
	H_ERROR(&r, 400, "idempotency_key_required");
	p_cancel(&r, &s, order, key, NULL, body);
	H_ERROR(&r, 401, "unauthorized");
	resp_release(&r);

	must_cancel(&first, &s, order, key, s.key, body, "cancelled");
	H_CHECK(json_is_null(h_j(first.json, "payment")), "a pending order has a payment: %s",
	        first.body);
	expect_last_transition(first.json, "pending", "cancelled");
	tl = h_j(first.json, "timeline");
	reason = h_jstr(json_array_get(tl, json_array_size(tl) - 1), "reason");
	H_CHECK(reason && strstr(reason, "changed my mind"), "cancel reason not in timeline: %s",
	        first.body);
	expect_replay(&first, &s, order, key, s.key, body);
	expect_not_cancellable(&s, order, "cancelled");

	/* A cancelled order cannot be checked out. */
	h_unique_key(key2, sizeof(key2), "co");
	h_checkout(&r, &s, order, key2, "tok_ok");
	H_ERROR(&r, 409, "order_not_pending");
	resp_release(&r);

	H_CHECK(h_must_available(&s, pid) == 5, "stock moved for a pending cancel");
	H_CHECK(h_db_ll("SELECT count(*) FROM inventory_movements WHERE order_id = $1", order,
	                NULL) == 0,
	        "movements for a pending cancel");
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE aggregate_id = $1 "
	                "AND type <> 'OrderStatusChanged'",
	                order, NULL) == 0,
	        "payment events for a pending cancel");
	resp_release(&first);
}

static void test_cancel_authorized(void **state)
{
	struct h_store s;
	struct p_worker w;
	struct p_worker_opts o = {0};
	char pid[H_ID_LEN], order[H_ID_LEN], key[80], ckey[80];
	struct resp first = {0};
	json_t *ord;
	char *payment_id, *void_ev;
	long long v = -1;

	(void)state;
	/* No worker runs (the previous test's teardown stopped them): the order stays
	 * payment_authorized. */
	h_must_create_store(&s, "cxl-auth");
	h_must_create_product(&s, 450, 5, pid);
	must_async_checkout(&s, pid, 3, order, ckey);
	H_CHECK(h_must_available(&s, pid) == 2, "checkout did not take 3 of 5");
	ord = h_must_get_order(&s, order);
	H_JSTR(ord, "status", "payment_authorized");
	json_decref(ord);

	/* The operator key may cancel too. */
	h_unique_key(key, sizeof(key), "cancel");
	must_cancel(&first, &s, order, key, h_env.operator_key, NULL, "cancelled");
	H_JSTR(first.json, "payment.status", "voided");
	expect_last_transition(first.json, "payment_authorized", "cancelled");
	H_CHECK(h_must_available(&s, pid) == 5, "stock not given back on cancel");
	H_CHECK(h_db_ll("SELECT coalesce(sum(delta), 0) FROM inventory_movements "
	                "WHERE order_id = $1",
	                order, NULL) == 0,
	        "movements of the cancelled order do not sum to 0");
	void_ev = event_of(order, "PaymentVoidRequested");
	expect_replay(&first, &s, order, key, h_env.operator_key, NULL);

	/* Now a worker: the void reaches the provider, the stale PaymentAuthorized does
	 * nothing. */
	must_start(&w, "cxl-auth", &o);
	if (!p_wait_db(15, &v, "==", 0,
	               "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND status <> 'done'",
	               s.id, NULL)) {
		p_show_log_tail(w.log, 20);
		H_FAIL("%lld events of the store not done within 15 s", v);
	}
	payment_id = h_db_str("SELECT id::text FROM payments WHERE order_id = $1", order, NULL);
	H_CHECK(provider_ops(payment_id, "capture") == 0,
	        "a cancelled order's payment was captured");
	H_CHECK(h_db_ll("SELECT count(*) FROM provider_operations WHERE payment_id = $1 "
	                "AND operation = 'void' AND idempotency_key = $2",
	                payment_id, void_ev, NULL) == 1,
	        "no void at the provider keyed by the void event");
	H_CHECK(provider_ops(payment_id, "refund") == 0, "a voided payment was refunded");
	ord = h_must_get_order(&s, order);
	H_JSTR(ord, "status", "cancelled");
	H_JSTR(ord, "payment.status", "voided");
	json_decref(ord);
	H_CHECK(h_must_available(&s, pid) == 5, "stock changed after the worker ran");
	expect_replay(&first, &s, order, key, h_env.operator_key, NULL);
	expect_not_cancellable(&s, order, "cancelled");
	must_term(&w);
	free(payment_id);
	free(void_ev);
	resp_release(&first);
}

static void test_cancel_confirmed(void **state)
{
	struct h_store s;
	struct p_worker w;
	struct p_worker_opts o = {0};
	char pid[H_ID_LEN], order[H_ID_LEN], key[80], ckey[80];
	struct resp first = {0};
	char *payment_id, *refund_ev;
	long long v = -1;

	(void)state;
	h_must_create_store(&s, "cxl-conf");
	h_must_create_product(&s, 650, 5, pid);
	must_start(&w, "cxl-conf", &o);
	must_async_checkout(&s, pid, 2, order, ckey);
	H_CHECK(p_wait_order_status(&s, order, "confirmed", 10, NULL),
	        "order %s not confirmed within 10 s", order);
	H_CHECK(h_must_available(&s, pid) == 3, "confirmed order did not keep its stock");

	h_unique_key(key, sizeof(key), "cancel");
	must_cancel(&first, &s, order, key, s.key, "{\"reason\":\"returned\"}", "refunded");
	H_JSTR(first.json, "payment.status", "refunded");
	expect_last_transition(first.json, "confirmed", "refunded");
	H_CHECK(h_must_available(&s, pid) == 5, "stock not given back on refund");
	refund_ev = event_of(order, "PaymentRefundRequested");
	if (!p_wait_db(15, &v, "==", 0,
	               "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND status <> 'done'",
	               s.id, NULL)) {
		p_show_log_tail(w.log, 20);
		H_FAIL("%lld events of the store not done within 15 s", v);
	}
	payment_id = h_db_str("SELECT id::text FROM payments WHERE order_id = $1", order, NULL);
	H_CHECK(provider_ops(payment_id, "capture") == 1, "captures: %lld",
	        provider_ops(payment_id, "capture"));
	H_CHECK(h_db_ll("SELECT count(*) FROM provider_operations WHERE payment_id = $1 "
	                "AND operation = 'refund' AND idempotency_key = $2",
	                payment_id, refund_ev, NULL) == 1,
	        "no refund at the provider keyed by the refund event");
	H_CHECK(provider_ops(payment_id, "void") == 0, "a captured payment was voided");
	H_CHECK(h_db_ll("SELECT count(*) FROM payments WHERE order_id = $1", order, NULL) == 1,
	        "more than one payment");
	H_CHECK(h_db_ll("SELECT coalesce(sum(delta), 0) FROM inventory_movements "
	                "WHERE order_id = $1",
	                order, NULL) == 0,
	        "movements of the refunded order do not sum to 0");
	expect_replay(&first, &s, order, key, s.key, "{\"reason\":\"returned\"}");
	expect_not_cancellable(&s, order, "refunded");
	p_assert_stock(&s, pid, 5, "'confirmed'");
	must_term(&w);
	free(payment_id);
	free(refund_ev);
	resp_release(&first);
}

/* ---- SIGTERM with events in flight ----------------------------------------------------------- */

#define SLOW_ORDERS 12

/* Ids of the events the log says started their 500 ms stall. */
static size_t stalled_events(const char *log, char ids[][40], size_t max)
{
	size_t len, n = 0;
	char *text = p_read_file(log, &len);
	char *line = text;

	while (text && line < text + len) {
		char *nl = strchr(line, '\n');
		json_t *j;

		if (nl)
			*nl = '\0';
		if (strstr(line, "worker_slow") && (j = json_loads(line, 0, NULL)) != NULL) {
			const char *id = h_jstr(j, "event_id");
			const char *msg = h_jstr(j, "msg");
			const char *in_msg = msg ? strstr(msg, "event ") : NULL;
			char buf[40];

			/* The event is named by the line's context or in its message. */
			if (!id && in_msg) {
				snprintf(buf, sizeof(buf), "%.36s", in_msg + 6);
				id = h_is_uuid(buf) ? buf : NULL;
			}
			if (id && n < max)
				snprintf(ids[n++], 40, "%s", id);
			json_decref(j);
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	free(text);
	return n;
}

static void test_sigterm_with_events_in_flight(void **state)
{
	struct h_store s;
	struct p_worker w, w2;
	struct p_worker_opts o = {.concurrency = 4};
	char pid[H_ID_LEN], order[H_ID_LEN], key[80];
	char stalled[64][40];
	size_t nstalled;
	double took = 0;
	int st;
	long long done, held, done_lines, v = -1;

	(void)state;
	h_must_create_store(&s, "sigterm");
	h_must_create_product(&s, 100, 100, pid);
	p_must_set_flag(&s, "chaos.worker_slow", true, 100);
	must_start(&w, "sigterm", &o);
	for (int i = 0; i < SLOW_ORDERS; i++)
		must_async_checkout(&s, pid, 1, order, key);
	H_CHECK(p_wait_log(w.log, "worker_slow", 10), "no event started its stall within 10 s");
	/* The operator sees events in flight while their handler stalls. */
	{
		struct resp r = {0};
		long long in_flight = -1;

		h_get(&r, "/v1/ops/outbox", h_env.operator_key);
		H_STATUS(&r, 200);
		H_CHECK(h_jint(r.json, "in_flight", &in_flight) && in_flight > 0,
		        "ops/outbox shows %lld in flight while a handler stalls: %s", in_flight,
		        r.body);
		resp_release(&r);
	}

	st = p_worker_term(&w, 5.0, &took);
	print_message("[          ] SIGTERM with events in flight: %s after %.2f s\n",
	              p_worker_describe(&w), took);
	if (st != 0)
		p_show_log_tail(w.log, 30);
	H_CHECK(st == 0, "SIGTERM gave %s after %.2f s, want exit 0 within 5 s",
	        p_worker_describe(&w), took);
	H_CHECK(p_log_count(w.log, "SIGTERM") > 0, "the worker did not log the SIGTERM");

	/* Every event whose handler had started was finished; nothing stays leased. */
	nstalled = stalled_events(w.log, stalled, 64);
	H_CHECK(nstalled > 0, "no stall in the log");
	for (size_t i = 0; i < nstalled; i++) {
		char *status = h_db_str("SELECT status FROM outbox_events WHERE id = $1",
		                        stalled[i], NULL);
		bool ok = status && strcmp(status, "done") == 0;

		H_CHECK(ok, "event %s was in flight at SIGTERM and is %s, want done", stalled[i],
		        status ? status : "missing");
		free(status);
	}
	held = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND status = 'pending' AND claimed_until > now()",
	               s.id, NULL);
	H_CHECK(held == 0,
	        "%lld events still leased after the worker stopped (claims not released)", held);
	done = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status = 'done'",
	               s.id, NULL);
	done_lines = (long long)p_log_count(w.log, "\"outcome\":\"done\"");
	print_message(
	        "[          ] %zu events in flight at SIGTERM, %lld done, %lld left pending\n",
	        nstalled, done, SLOW_ORDERS - done);
	H_CHECK(done == done_lines, "%lld events done in the database, %lld done lines in the log",
	        done, done_lines);
	H_CHECK(h_db_ll("SELECT count(*) FROM orders o JOIN outbox_events e ON e.aggregate_id = o.id "
	                "WHERE o.store_id = $1 AND e.status = 'done' AND o.status <> 'confirmed' "
	                "AND e.type = 'PaymentAuthorized'",
	                s.id, NULL) == 0,
	        "an order whose event is done is not confirmed");

	/* The rest is finished by the next worker. */
	p_must_set_flag(&s, "chaos.worker_slow", false, 100);
	must_start(&w2, "sigterm2", &o);
	if (!p_wait_db(20, &v, "==", 0,
	               "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND status <> 'done'",
	               s.id, NULL)) {
		p_show_log_tail(w2.log, 20);
		H_FAIL("%lld events not done within 20 s by the second worker", v);
	}
	p_assert_all_confirmed(&s, SLOW_ORDERS);
	p_assert_stock(&s, pid, 100, "'confirmed'");
	must_term(&w2);
}

/* ---- two workers, one backlog ---------------------------------------------------------------- */

#define BACKLOG_ORDERS 300

static void test_two_workers_drain_backlog(void **state)
{
	struct h_store s;
	struct p_worker w[2];
	struct p_worker_opts o = {.no_wait = true};
	char pids[3][H_ID_LEN];
	const char *products[3] = {pids[0], pids[1], pids[2]};
	struct p_load l = {0};
	const char *logs[2];
	struct p_handled *h;
	size_t nh, per_worker[2] = {0, 0};
	long long v = -1;
	double t0, took;
	PGresult *res;

	(void)state;
	h_must_create_store(&s, "two");
	for (int i = 0; i < 3; i++)
		h_must_create_product(&s, 100 + i, 1000, pids[i]);
	l.store = &s;
	l.products = products;
	l.nproducts = 3;
	l.max_quantity = 3;
	l.n = BACKLOG_ORDERS;
	l.threads = 4;
	p_load_start(&l);
	p_load_join(&l);
	p_load_assert_answers(&l, 202, 0);
	v = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status = 'pending' "
	            "AND type = 'PaymentAuthorized'",
	            s.id, NULL);
	H_CHECK(v == BACKLOG_ORDERS, "backlog of %lld, want %d", v, BACKLOG_ORDERS);

	t0 = h_now();
	H_CHECK(p_worker_start(&w[0], "two-a", &o), "worker a did not start");
	H_CHECK(p_worker_start(&w[1], "two-b", &o), "worker b did not start");
	if (!p_wait_db(60, &v, "==", 0,
	               "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND status <> 'done'",
	               s.id, NULL)) {
		p_show_log_tail(w[0].log, 10);
		p_show_log_tail(w[1].log, 10);
		H_FAIL("%lld events not done within 60 s", v);
	}
	took = h_now() - t0;
	must_term(&w[0]);
	must_term(&w[1]);

	logs[0] = w[0].log;
	logs[1] = w[1].log;
	h = p_handled_read(logs, 2, &nh);
	res = PQexecParams(h_db(), "SELECT id::text FROM outbox_events WHERE store_id = $1", 1,
	                   NULL, (const char *const[]){s.id}, NULL, NULL, 0);
	H_CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(res));
	for (int i = 0; i < PQntuples(res); i++) {
		const char *id = PQgetvalue(res, i, 0);
		size_t done = p_handled_count(h, nh, id, "done");
		size_t any = p_handled_count(h, nh, id, NULL);

		if (done != 1 || any != 1) {
			char msg[200];

			snprintf(msg, sizeof(msg), "%s", id);
			PQclear(res);
			free(h);
			H_FAIL("event %s has %zu done and %zu handled lines across both worker logs, "
			       "want exactly 1 done",
			       msg, done, any);
		}
	}
	PQclear(res);
	for (size_t i = 0; i < nh; i++) {
		if (strcmp(h[i].store, s.id) == 0 && strcmp(h[i].outcome, "done") == 0 &&
		    strcmp(h[i].type, "PaymentAuthorized") == 0)
			per_worker[h[i].log]++;
	}
	free(h);
	print_message("[          ] two workers drained %d events in %.2f s (%.0f events/s): "
	              "%zu by one, %zu by the other\n",
	              BACKLOG_ORDERS, took, BACKLOG_ORDERS / took, per_worker[0], per_worker[1]);
	H_CHECK(per_worker[0] + per_worker[1] == BACKLOG_ORDERS, "%zu + %zu done lines, want %d",
	        per_worker[0], per_worker[1], BACKLOG_ORDERS);
	H_CHECK(per_worker[0] > 0 && per_worker[1] > 0,
	        "one worker did all the work (%zu / %zu): the test did not share the backlog",
	        per_worker[0], per_worker[1]);

	p_assert_all_confirmed(&s, BACKLOG_ORDERS);
	for (int i = 0; i < 3; i++)
		p_assert_stock(&s, pids[i], 1000, "'confirmed'");
	p_load_free(&l);
}

/* ---- a backlog the statistics know nothing about --------------------------------------------- */

#define STALE_STORES  4
#define STALE_PENDING 2000 /* per store */

static int stale_teardown(void **state)
{
	h_db_exec("ALTER TABLE outbox_events RESET (autovacuum_enabled)", NULL);
	return teardown(state);
}

/* Regression (migration 004): the outbox's statistics say nothing is pending — analyzed over a
 * history of done events, and kept that way with autovacuum off for the table — while 8,000
 * events are. The old claim's plan, chosen on that estimate, re-ran its per-store scan once per
 * pending row and never finished inside statement_timeout: the queue stood still. The worker
 * must drain it like any backlog. */
static void test_backlog_with_stale_statistics(void **state)
{
	struct h_store s[STALE_STORES];
	struct p_worker w;
	struct p_worker_opts o = {.no_wait = true, .log_level = "warn"};
	long long v = -1;
	char n[16];

	(void)state;
	snprintf(n, sizeof(n), "%d", STALE_PENDING);
	for (int i = 0; i < STALE_STORES; i++)
		h_must_create_store(&s[i], "stale");
	H_CHECK(p_wait_db(60, &v, "==", 0,
	                  "SELECT count(*) FROM outbox_events WHERE status = 'pending'", NULL),
	        "%lld events still pending from earlier tests", v);
	h_db_exec("ALTER TABLE outbox_events SET (autovacuum_enabled = false)", NULL);
	h_db_exec("INSERT INTO outbox_events (id, store_id, type, aggregate_id, payload, status, "
	          "done_at) SELECT gen_random_uuid(), $1, 'OrderStatusChanged', gen_random_uuid(), "
	          "'{}', 'done', now() FROM generate_series(1, 20000)",
	          s[0].id, NULL);
	h_db_exec("ANALYZE outbox_events", NULL);
	for (int i = 0; i < STALE_STORES; i++)
		h_db_exec("INSERT INTO outbox_events (id, store_id, type, aggregate_id, payload) "
		          "SELECT gen_random_uuid(), $1, 'OrderStatusChanged', gen_random_uuid(), "
		          "jsonb_build_object('order_id', gen_random_uuid(), 'to', 'confirmed', "
		          "'at', now()) FROM generate_series(1, $2::int)",
		          s[i].id, n, NULL);

	H_CHECK(p_worker_start(&w, "stale", &o), "the worker did not start");
	if (!p_wait_db(90, &v, "==", 0,
	               "SELECT count(*) FROM outbox_events WHERE status = 'pending'", NULL)) {
		p_show_log_tail(w.log, 10);
		H_FAIL("%lld of %d events still pending after 90 s", v,
		       STALE_STORES * STALE_PENDING);
	}
	must_term(&w);
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE status = 'done' AND store_id IN "
	                "($1, $2, $3, $4) AND attempts = 1",
	                s[0].id, s[1].id, s[2].id, s[3].id, NULL) == STALE_STORES * STALE_PENDING,
	        "not every event done at its first attempt");
	h_db_exec("ALTER TABLE outbox_events RESET (autovacuum_enabled)", NULL);
}

/* ---- the wake-up connection comes back ------------------------------------------------------- */

#define WAKE_ORDERS 10

/* Kills the worker's LISTEN connection from the database side; the worker must notice,
 * reconnect, and be woken within milliseconds again (the 1 s poll alone would give a median
 * near half a second). */
static void test_listener_reconnects(void **state)
{
	struct h_store s;
	struct p_worker w;
	struct p_worker_opts o = {0};
	char pid[H_ID_LEN], order[H_ID_LEN], key[80];
	double lat[WAKE_ORDERS], median;
	long long killed, v = -1;

	(void)state;
	h_must_create_store(&s, "listen");
	h_must_create_product(&s, 100, 100, pid);
	must_start(&w, "listen", &o);
	must_async_checkout(&s, pid, 1, order, key);
	H_CHECK(p_wait_order_status(&s, order, "confirmed", 10, NULL), "warm-up not confirmed");

	killed = h_db_ll("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
	                 "WHERE datname = current_database() AND query = 'LISTEN terminus_outbox'",
	                 NULL);
	H_CHECK(killed == 1, "found %lld LISTEN terminus_outbox connections, want the worker's one",
	        killed);
	/* Reconnected: a new backend listens again. */
	if (!p_wait_db(10, &v, "==", 1,
	               "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
	               "AND query = 'LISTEN terminus_outbox'",
	               NULL)) {
		p_show_log_tail(w.log, 20);
		H_FAIL("the worker did not LISTEN again within 10 s of losing its connection");
	}

	for (int i = 0; i < WAKE_ORDERS; i++) {
		double t0;

		must_async_checkout(&s, pid, 1, order, key);
		t0 = h_now();
		H_CHECK(p_wait_db(
		                5, NULL, "==", 1,
		                "SELECT count(*) FROM orders WHERE id = $1 AND status = 'confirmed'",
		                order, NULL),
		        "order %s not confirmed within 5 s after the reconnect", order);
		lat[i] = h_now() - t0;
	}
	qsort(lat, WAKE_ORDERS, sizeof(double), cmp_double);
	median = (lat[WAKE_ORDERS / 2 - 1] + lat[WAKE_ORDERS / 2]) / 2;
	print_message("[          ] after the LISTEN connection was killed: 202 -> confirmed "
	              "median %.1f ms, max %.1f ms\n",
	              1000 * median, 1000 * lat[WAKE_ORDERS - 1]);
	H_CHECK(median < 0.3,
	        "median 202 -> confirmed of %.0f ms after the reconnect: woken by the poll, not "
	        "by NOTIFY",
	        1000 * median);
	p_assert_all_confirmed(&s, WAKE_ORDERS + 1);
	must_term(&w);
}

/* ---- a lease dies with its owner's session --------------------------------------------------- */

#define LEASE_ORDERS     12
#define TAKEOVER_LIMIT_S 5.0 /* well inside the lease (OUTBOX_LEASE_S, 30 s) */
#define HOLD_S           4.0 /* several passes of the other worker's reaper (one a second) */

/* The SQL count of the store's events leased now to worker $2's threads. */
#define LEASED_TO_SQL                                                                              \
	"SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status = 'pending' "           \
	"AND claimed_until > now() AND left(claimed_by, length($2) + 2) = $2 || '-t'"

/* Checks out LEASE_ORDERS orders with no worker running, then starts worker a with one thread
 * whose claim takes the whole queue in one batch and stalls on it (chaos.worker_slow: 500 ms
 * per event, so seconds); returns once a holds leases, with chaos off again for the next
 * worker. *held: how many. */
static void hold_leases(const struct h_store *s, struct p_worker *a, const char *tag, char *id,
                        size_t idlen, long long *held)
{
	struct p_worker_opts o = {.concurrency = 1};
	char pid[H_ID_LEN], order[H_ID_LEN], key[80];

	h_must_create_product(s, 100, 100, pid);
	p_must_set_flag(s, "chaos.worker_slow", true, 100);
	for (int i = 0; i < LEASE_ORDERS; i++)
		must_async_checkout(s, pid, 1, order, key);
	must_start(a, tag, &o);
	worker_id_of(a, id, idlen);
	H_CHECK(p_wait_db(10, held, ">", 0, LEASED_TO_SQL, s->id, id, NULL),
	        "worker %s never held a lease", id);
	p_must_set_flag(s, "chaos.worker_slow", false, 100);
}

/* Waits until every event of the store is done, at most TAKEOVER_LIMIT_S; *took the wait. */
static void expect_taken_over(const struct h_store *s, const struct p_worker *b, double *took)
{
	double t0 = h_now();
	long long left = -1;

	if (!p_wait_db(TAKEOVER_LIMIT_S, &left, "==", 0,
	               "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND status <> 'done'",
	               s->id, NULL)) {
		p_show_log_tail(b->log, 20);
		H_FAIL("%lld events of the killed worker not done %.0f s after the kill: they "
		       "waited for their lease instead of dying with its session",
		       left, TAKEOVER_LIMIT_S);
	}
	*took = h_now() - t0;
}

/* kill -9 of a worker in the middle of a batch: its session ends with it, another worker's
 * reaper gives its leases back within about a second, and that worker finishes the batch. */
static void test_killed_workers_leases_come_back(void **state)
{
	struct h_store s;
	struct p_worker a, b;
	struct p_worker_opts o = {0};
	char id[160];
	long long held = 0;
	double took = 0;

	(void)state;
	h_must_create_store(&s, "reap");
	hold_leases(&s, &a, "reap-a", id, sizeof(id), &held);
	must_start(&b, "reap-b", &o);
	held = h_db_ll(LEASED_TO_SQL, s.id, id, NULL);
	H_CHECK(held > 0, "worker a no longer holds leases: its batch ended before the kill");
	p_worker_kill9(&a);
	expect_taken_over(&s, &b, &took);
	print_message(
	        "[          ] %lld leases of a worker killed mid-batch: all done %.2f s after "
	        "the kill (lease %d s)\n",
	        held, took, 30);
	H_CHECK(p_log_count(b.log, "\"msg\":\"gave back ") > 0,
	        "worker b did not log giving the leases back");
	/* Nothing was done twice, and the killed worker is forgotten, not silent. */
	p_assert_all_confirmed(&s, LEASE_ORDERS);
	H_CHECK(p_wait_db(5, NULL, "==", 0,
	                  "SELECT count(*) FROM worker_heartbeats WHERE worker_id = $1", id, NULL),
	        "the killed worker %s is still in worker_heartbeats", id);
	must_term(&b);
}

/* True once the process is in the stopped state (SIGSTOP delivered). */
static bool proc_stopped(pid_t pid)
{
	char path[64], buf[512];
	const char *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && (p[2] == 'T' || p[2] == 't');
}

/* A hung worker (SIGSTOP) keeps its sessions, so its leases hold while another worker's reaper
 * runs; once it is killed, they come back within about a second. */
static void test_stopped_worker_keeps_its_leases(void **state)
{
	struct h_store s;
	struct p_worker a, b;
	struct p_worker_opts o = {0};
	char id[160], b_id[160], *stopped_at;
	long long held = 0, now_held = -1;
	double deadline, took = 0;

	(void)state;
	h_must_create_store(&s, "hung");
	hold_leases(&s, &a, "hung-a", id, sizeof(id), &held);
	must_start(&b, "hung-b", &o);
	worker_id_of(&b, b_id, sizeof(b_id));
	H_CHECK(kill(a.pid, SIGSTOP) == 0, "SIGSTOP failed");
	deadline = h_now() + 5;
	while (!proc_stopped(a.pid)) {
		H_CHECK(h_now() < deadline, "worker a not stopped 5 s after SIGSTOP");
		h_sleep_ms(2);
	}
	stopped_at = h_db_str("SELECT now()::text", NULL);
	held = h_db_ll(LEASED_TO_SQL, s.id, id, NULL);
	H_CHECK(held > 0, "worker a no longer holds leases: its batch ended before the SIGSTOP");

	/* Nobody takes them: the count of a's leases does not move while b beats (and reaps). */
	H_CHECK(!p_wait_db(HOLD_S, &now_held, "!=", held, LEASED_TO_SQL, s.id, id, NULL),
	        "worker a held %lld leases when stopped and %lld within %.0f s: a hung worker's "
	        "leases were taken",
	        held, now_held, HOLD_S);
	H_CHECK(h_db_ll("SELECT count(*) FROM worker_heartbeats WHERE worker_id = $1 "
	                "AND seen_at > $2::timestamptz + interval '2 s'",
	                b_id, stopped_at, NULL) == 1,
	        "worker b did not beat (nor reap) while worker a was stopped");
	H_CHECK(h_db_ll("SELECT count(*) FROM worker_heartbeats WHERE worker_id = $1", id, NULL) ==
	                1,
	        "the stopped worker was forgotten: it is hung, not gone");
	free(stopped_at);

	/* Killed while stopped: now its sessions end, and its leases with them. */
	p_worker_kill9(&a);
	expect_taken_over(&s, &b, &took);
	print_message("[          ] %lld leases of a stopped worker held for %.0f s; after its "
	              "kill all done in %.2f s\n",
	              held, HOLD_S, took);
	p_assert_all_confirmed(&s, LEASE_ORDERS);
	must_term(&b);
}

/* ---- housekeeping: retention of done events, expiry of idempotency keys --------------------- */

/* An event row written straight into the outbox, status and age as given. Returns its id. */
static char *insert_event(const struct h_store *s, const char *status, const char *age)
{
	return h_db_str("INSERT INTO outbox_events (id, store_id, type, aggregate_id, payload, "
	                "status, attempts, created_at, available_at, done_at) "
	                "SELECT gen_random_uuid(), $1, 'PaymentVoidRequested', o, "
	                "jsonb_build_object('order_id', o, 'payment_id', gen_random_uuid(), "
	                "'amount_cents', 1), $2, 1, now() - $3::interval, now() - $3::interval, "
	                "now() - $3::interval FROM gen_random_uuid() AS o RETURNING id::text",
	                s->id, status, age, NULL);
}

static void test_worker_sweeps_expired_rows(void **state)
{
	struct h_store s;
	struct p_worker w;
	struct p_worker_opts o = {0};
	char *old_done, *recent_done, *old_dead;
	long long v = -1;

	(void)state;
	h_must_create_store(&s, "sweep");
	h_db_exec("INSERT INTO idempotency_keys (store_id, key, fingerprint, status, "
	          "response_status, response_body, created_at) VALUES "
	          "($1, 'expired-key', 'f', 'completed', 200, '{}', now() - interval '25 hours'), "
	          "($1, 'fresh-key', 'f', 'completed', 200, '{}', now() - interval '1 hour')",
	          s.id, NULL);
	old_done = insert_event(&s, "done", "25 hours");
	recent_done = insert_event(&s, "done", "1 hour");
	old_dead = insert_event(&s, "dead", "25 hours");

	must_start(&w, "sweep", &o);
	if (!p_wait_db(15, &v, "==", 0,
	               "SELECT (SELECT count(*) FROM idempotency_keys WHERE store_id = $1 "
	               "        AND key = 'expired-key') + "
	               "       (SELECT count(*) FROM outbox_events WHERE id = $2)",
	               s.id, old_done, NULL)) {
		p_show_log_tail(w.log, 20);
		H_FAIL("the expired idempotency key and the old done event are still there 15 s "
		       "after the worker started (%lld rows)",
		       v);
	}
	H_CHECK(h_db_ll("SELECT count(*) FROM idempotency_keys WHERE store_id = $1 "
	                "AND key = 'fresh-key'",
	                s.id, NULL) == 1,
	        "a key younger than 24 h was swept");
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE id = $1", recent_done, NULL) == 1,
	        "a done event younger than the retention was swept");
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE id = $1 AND status = 'dead'",
	                old_dead, NULL) == 1,
	        "an old dead event was swept: dead letters must stay visible and retryable");
	must_term(&w);
	free(old_done);
	free(recent_done);
	free(old_dead);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_idle_worker_sleeps, teardown),
	        cmocka_unit_test_teardown(test_ops_workers, workers_teardown),
	        cmocka_unit_test_teardown(test_async_happy_path, teardown),
	        cmocka_unit_test_teardown(test_transient_failures_recover, teardown),
	        cmocka_unit_test_teardown(test_sync_capture_failure_finished_by_worker, teardown),
	        cmocka_unit_test_teardown(test_permanent_failure_dead_compensation, teardown),
	        cmocka_unit_test_teardown(test_operator_retry_of_dead_event, teardown),
	        cmocka_unit_test_teardown(test_cancel_pending, teardown),
	        cmocka_unit_test_teardown(test_cancel_authorized, teardown),
	        cmocka_unit_test_teardown(test_cancel_confirmed, teardown),
	        cmocka_unit_test_teardown(test_sigterm_with_events_in_flight, teardown),
	        cmocka_unit_test_teardown(test_two_workers_drain_backlog, teardown),
	        cmocka_unit_test_teardown(test_backlog_with_stale_statistics, stale_teardown),
	        cmocka_unit_test_teardown(test_listener_reconnects, teardown),
	        cmocka_unit_test_teardown(test_worker_sweeps_expired_rows, teardown),
	        /* Last: on a failure they leave events leased to a killed worker behind. */
	        cmocka_unit_test_teardown(test_killed_workers_leases_come_back, teardown),
	        cmocka_unit_test_teardown(test_stopped_worker_keeps_its_leases, teardown),
	};

	return H_RUN_SUITE("itest_worker", tests, NULL, NULL);
}
