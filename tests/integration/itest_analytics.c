/*
 * itest_analytics.c — per-store sales analytics maintained from OrderStatusChanged events, counted
 * exactly once (issue 4), and GET /v1/stores/{store}/analytics.
 *
 * 1. Ground truth after chaos: a few hundred orders over two stores with every outcome — sync and
 *    async checkouts (checkout.async_enabled at 50 %), declines, cancels of pending, authorized
 *    and confirmed orders, captures that fail for good and are compensated
 *    (chaos.payment_capture_fail at 25 % with TERMINUS_MAX_ATTEMPTS=2) — while three workers are
 *    SIGKILLed and restarted every 100–400 ms, and done OrderStatusChanged events are sent back
 *    to pending (a redelivery) every couple of seconds. After the drain, each store's report
 *    equals what the timeline (order_events), the orders and their lines say, hour by hour and
 *    in total; processed_events holds exactly one row per done OrderStatusChanged event.
 * 2. Redelivery of every done OrderStatusChanged event of both stores changes nothing: the
 *    report is byte-identical and processed_events did not grow.
 * 3. The endpoint: auth, invalid from/to, defaults (dense 24/25-hour series), an empty store,
 *    the document's shape.
 *
 * A killed worker's leased events return after OUTBOX_LEASE_S (30 s), so the drain takes about
 * that long; the suite takes about 45–60 s. The seed is printed (TERMINUS_TEST_SEED replays the
 * plan and the kill schedule).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "fixtures.h"
#include "procs.h"
#include "banned.h"

#define STORES           2
#define PRODUCTS         6 /* fewer than the report's 10 top products: every one shows */
#define ORDERS           260
#define THREADS          4
#define WORKERS          3
#define MAX_LINES        3
#define STOCK            100000
#define CHAOS_MIN_S      6.0
#define CHAOS_MAX_S      30.0
#define REDELIVER_EVERY  2.0
#define DRAIN_DEADLINE_S 75.0
#define MAX_LOGS         512

static unsigned seed_from_env(void)
{
	const char *s = getenv("TERMINUS_TEST_SEED");

	if (s && *s)
		return (unsigned)strtoul(s, NULL, 10);
	return (unsigned)time(NULL) ^ (unsigned)getpid();
}

static int teardown(void **state)
{
	(void)state;
	p_stop_all();
	return 0;
}

/* ---- the report ------------------------------------------------------------------------------ */

/* GET …/analytics with the query (may be "") and that key; asserts nothing. */
static void get_report(struct resp *r, const struct h_store *s, const char *auth, const char *query)
{
	h_getf(r, auth, "/v1/stores/%s/analytics%s%s", s->slug, query[0] ? "?" : "", query);
}

/* GET the report for [from, to) as the store's admin; asserts 200. */
static json_t *must_report(const struct h_store *s, const char *from, const char *to, char **body)
{
	struct resp r = {0};
	char q[200];
	json_t *doc;

	snprintf(q, sizeof(q), "from=%s&to=%s", from, to);
	get_report(&r, s, s->key, q);
	H_STATUS(&r, 200);
	H_CHECK(r.json != NULL, "analytics answer is not JSON: %s", r.body);
	doc = json_incref(r.json);
	if (body != NULL)
		*body = h_strdup(r.body);
	resp_release(&r);
	return doc;
}

static const char *const count_keys[] = {
        "orders_created",   "orders_checked_out", "orders_confirmed", "orders_failed",
        "orders_cancelled", "orders_refunded",    "revenue_cents",    NULL,
};

static char *dump(const json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	return s != NULL ? s : h_strdup("(absent)");
}

/* got.key and want.key are the same JSON value (integers, strings, null). */
static void expect_same(const json_t *got, const json_t *want, const char *key, const char *where)
{
	json_t *g = json_object_get(got, key), *w = json_object_get(want, key);

	if (g != NULL && w != NULL && json_equal(g, w))
		return;
	{
		char *gs = dump(g), *ws = dump(w);

		H_FAIL("%s: %s is %s, the ground truth says %s", where, key, gs, ws);
	}
}

/* Report equal to the ground truth: every hour, the totals, the top products. */
static void expect_report_equals_truth(const struct h_store *s, const json_t *rep,
                                       const json_t *truth)
{
	const json_t *rh = json_object_get(rep, "hourly"), *th = json_object_get(truth, "hourly");
	const json_t *rt = json_object_get(rep, "totals"), *tt = json_object_get(truth, "totals");
	const json_t *rp = json_object_get(rep, "top_products");
	const json_t *tp = json_object_get(truth, "top_products");
	char where[160];

	H_CHECK(json_is_array(rh) && json_is_array(th), "store %s: no hourly arrays", s->slug);
	H_CHECK(json_array_size(rh) == json_array_size(th),
	        "store %s: %zu hours in the report, %zu in the range", s->slug, json_array_size(rh),
	        json_array_size(th));
	for (size_t i = 0; i < json_array_size(rh); i++) {
		const json_t *g = json_array_get(rh, i), *w = json_array_get(th, i);

		snprintf(where, sizeof(where), "store %s, hour %zu (%s)", s->slug, i,
		         h_jstr(w, "hour"));
		expect_same(g, w, "hour", where);
		for (int k = 0; count_keys[k] != NULL; k++)
			expect_same(g, w, count_keys[k], where);
	}

	snprintf(where, sizeof(where), "store %s, totals", s->slug);
	H_CHECK(json_is_object(rt), "%s: absent", where);
	for (int k = 0; count_keys[k] != NULL; k++)
		expect_same(rt, tt, count_keys[k], where);
	expect_same(rt, tt, "average_order_value_cents", where);
	{
		const json_t *g = json_object_get(rt, "conversion_rate");
		const json_t *w = json_object_get(tt, "conversion_rate");

		if (json_is_null(w)) {
			H_CHECK(json_is_null(g), "%s: conversion_rate should be null", where);
		} else {
			H_CHECK(json_is_number(g) &&
			                fabs(json_number_value(g) - json_number_value(w)) < 1e-9,
			        "%s: conversion_rate %g, the ground truth says %g", where,
			        json_number_value(g), json_number_value(w));
		}
	}

	H_CHECK(json_is_array(rp), "store %s: top_products is not an array", s->slug);
	H_CHECK(json_array_size(rp) == json_array_size(tp),
	        "store %s: %zu top products, the ground truth has %zu", s->slug,
	        json_array_size(rp), json_array_size(tp));
	for (size_t i = 0; i < json_array_size(rp); i++) {
		static const char *const keys[] = {"product_id", "sku", "name", "units",
		                                   "revenue_cents"};
		const json_t *g = json_array_get(rp, i), *w = json_array_get(tp, i);

		snprintf(where, sizeof(where), "store %s, top product %zu", s->slug, i);
		H_CHECK(json_object_size(g) == 5, "%s: %zu keys", where, json_object_size(g));
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			expect_same(g, w, keys[k], where);
	}
}

/*
 * The ground truth for [from, to), computed from what the orders' own tables say — never from
 * the analytics tables or the outbox: per hour of the status change, counts of the timeline's
 * transitions and confirmed minus refunded totals; in total, revenue of the orders confirmed now
 * (refunds subtract), their average, conversion from created to ever confirmed, and units and
 * revenue per product of the orders confirmed now. Also the hourly revenue's sum and the line
 * items' revenue, which must agree with the total (a check of the ground truth itself).
 */
static json_t *ground_truth(const struct h_store *s, const char *from, const char *to)
{
	char *text = h_db_str(
	        "WITH b AS (SELECT $2::timestamptz AS f, $3::timestamptz AS t), "
	        "ev AS (SELECT date_trunc('hour', e.at, 'UTC') AS hour, e.from_status, e.to_status, "
	        "              o.total_cents "
	        "       FROM b, order_events e JOIN orders o ON o.id = e.order_id "
	        "       WHERE e.store_id = $1 AND e.at >= b.f AND e.at < b.t), "
	        "hh AS (SELECT g.hour, "
	        "  count(ev.to_status) FILTER (WHERE ev.from_status IS NULL "
	        "                                AND ev.to_status = 'pending') AS created, "
	        "  count(ev.to_status) FILTER (WHERE ev.from_status = 'pending' "
	        "                                AND ev.to_status = 'payment_authorized') AS co, "
	        "  count(ev.to_status) FILTER (WHERE ev.to_status = 'confirmed') AS confirmed, "
	        "  count(ev.to_status) FILTER (WHERE ev.to_status = 'payment_failed') AS failed, "
	        "  count(ev.to_status) FILTER (WHERE ev.to_status = 'cancelled') AS cancelled, "
	        "  count(ev.to_status) FILTER (WHERE ev.to_status = 'refunded') AS refunded, "
	        "  coalesce(sum(ev.total_cents) FILTER (WHERE ev.to_status = 'confirmed'), 0) "
	        "  - coalesce(sum(ev.total_cents) FILTER (WHERE ev.to_status = 'refunded'), 0) "
	        "    AS revenue "
	        "  FROM b CROSS JOIN generate_series(b.f, b.t - interval '1 hour', "
	        "                                    interval '1 hour') AS g(hour) "
	        "  LEFT JOIN ev ON ev.hour = g.hour GROUP BY g.hour), "
	        "cur AS (SELECT count(*) AS n, coalesce(sum(total_cents), 0) AS revenue "
	        "        FROM orders WHERE store_id = $1 AND status = 'confirmed'), "
	        "top AS (SELECT p.id, p.sku, p.name, sum(i.quantity) AS units, "
	        "               sum(i.quantity * i.unit_price_cents) AS revenue "
	        "        FROM orders o JOIN order_items i ON i.order_id = o.id "
	        "        JOIN products p ON p.id = i.product_id "
	        "        WHERE o.store_id = $1 AND o.status = 'confirmed' "
	        "        GROUP BY p.id, p.sku, p.name) "
	        "SELECT json_build_object("
	        " 'hourly', (SELECT json_agg(json_build_object('hour', terminus_ts(hour), "
	        "     'orders_created', created, 'orders_checked_out', co, "
	        "     'orders_confirmed', confirmed, 'orders_failed', failed, "
	        "     'orders_cancelled', cancelled, 'orders_refunded', refunded, "
	        "     'revenue_cents', revenue) ORDER BY hour) FROM hh), "
	        " 'totals', (SELECT json_build_object('orders_created', sum(created), "
	        "     'orders_checked_out', sum(co), 'orders_confirmed', sum(confirmed), "
	        "     'orders_failed', sum(failed), 'orders_cancelled', sum(cancelled), "
	        "     'orders_refunded', sum(refunded), 'revenue_cents', (SELECT revenue FROM cur), "
	        "     'average_order_value_cents', "
	        "       (SELECT CASE WHEN n > 0 THEN round(revenue::numeric / n) END FROM cur), "
	        "     'conversion_rate', CASE WHEN sum(created) > 0 "
	        "       THEN round(sum(confirmed)::numeric / sum(created), 4) END) FROM hh), "
	        " 'top_products', coalesce((SELECT json_agg(json_build_object('product_id', id, "
	        "     'sku', sku, 'name', name, 'units', units, 'revenue_cents', revenue) "
	        "     ORDER BY units DESC, revenue DESC, sku) FROM (SELECT * FROM top "
	        "     WHERE units > 0 ORDER BY units DESC, revenue DESC, sku LIMIT 10) t), '[]'), "
	        " 'hourly_revenue', (SELECT sum(revenue) FROM hh), "
	        " 'item_revenue', (SELECT coalesce(sum(revenue), 0) FROM top))::text",
	        s->id, from, to, NULL);
	json_t *truth = json_loads(text, 0, NULL);
	long long total = -1, hourly = -2, items = -3;

	H_CHECK(truth != NULL, "ground truth is not JSON: %s", text);
	free(text);
	h_jint(truth, "totals.revenue_cents", &total);
	h_jint(truth, "hourly_revenue", &hourly);
	h_jint(truth, "item_revenue", &items);
	/* Confirmations minus refunds over time must equal what is confirmed now, and order
	 * totals their lines: otherwise the fixture, not the analytics, is inconsistent. */
	H_CHECK(total == hourly && total == items,
	        "store %s: ground truth inconsistent: revenue %lld now confirmed, %lld over the "
	        "timeline, %lld in the lines",
	        s->slug, total, hourly, items);
	return truth;
}

/* A range that covers every status change of the run: from an hour before the first one to two
 * hours after now, as RFC 3339 text. */
static void run_range(const struct h_store *a, const struct h_store *b, char from[40], char to[40])
{
	char *f = h_db_str(
	        "SELECT terminus_ts(date_trunc('hour', min(at), 'UTC') - interval '1 hour') "
	        "FROM order_events WHERE store_id IN ($1, $2)",
	        a->id, b->id, NULL);
	char *t = h_db_str(
	        "SELECT terminus_ts(date_trunc('hour', now(), 'UTC') + interval '2 hours')", NULL);

	H_CHECK(f != NULL && t != NULL, "no order events to take a range from");
	snprintf(from, 40, "%s", f);
	snprintf(to, 40, "%s", t);
	free(f);
	free(t);
}

/* ---- the chaos run --------------------------------------------------------------------------- */

enum plan {
	PLAN_PENDING,              /* created, nothing else */
	PLAN_CANCEL_PENDING,       /* created and cancelled before any checkout */
	PLAN_DECLINE,              /* tok_decline: stays pending */
	PLAN_DECLINE_RETRY,        /* tok_decline, then tok_ok with a new key */
	PLAN_CHECKOUT,             /* tok_ok */
	PLAN_CHECKOUT_CANCEL,      /* tok_ok, then cancel at once (authorized or confirmed) */
	PLAN_CHECKOUT_LATE_CANCEL, /* tok_ok, cancelled after every order's first phase */
};

struct a_order {
	int store;
	enum plan plan;
	int nlines;
	int product[MAX_LINES];
	int quantity[MAX_LINES];
	char id[H_ID_LEN];
	long checkout_status;
	long cancel_status;
	char error[400];
};

struct a_load {
	const struct h_store *stores;
	char (*products)[PRODUCTS][H_ID_LEN];
	struct a_order *orders;
	size_t n;
	atomic_size_t next, next_late;
	atomic_int finished;
	pthread_barrier_t phase;
	pthread_t tids[THREADS];
};

static void set_error(struct a_order *o, const char *what, const struct resp *r)
{
	if (o->error[0] == '\0')
		snprintf(o->error, sizeof(o->error), "%s: status %ld %.60s %.120s", what, r->status,
		         r->error, r->body != NULL ? r->body : "");
}

static bool create_order(struct a_load *l, struct a_order *o)
{
	const struct h_store *s = &l->stores[o->store];
	json_t *items = json_array();
	struct h_req q = {0};
	struct resp r = {0};
	char path[128], *body;
	bool ok;

	for (int k = 0; k < o->nlines; k++)
		json_array_append_new(items, json_pack("{s:s,s:i}", "product_id",
		                                       l->products[o->store][o->product[k]],
		                                       "quantity", o->quantity[k]));
	{
		json_t *doc = json_pack("{s:o,s:s}", "items", items, "customer_email",
		                        "analytics@example.com");

		body = json_dumps(doc, JSON_COMPACT);
		json_decref(doc);
	}
	snprintf(path, sizeof(path), "/v1/stores/%s/orders", s->slug);
	q.method = "POST";
	q.path = path;
	q.body = body;
	h_request(&q, &r);
	free(body);
	ok = r.status == 201 && h_jstr(r.json, "id") != NULL;
	if (ok)
		snprintf(o->id, sizeof(o->id), "%s", h_jstr(r.json, "id"));
	else
		set_error(o, "create order", &r);
	resp_release(&r);
	return ok;
}

static bool checkout(struct a_load *l, struct a_order *o, const char *token, long want_a,
                     long want_b)
{
	struct resp r = {0};
	char key[80];
	bool ok;

	h_unique_key(key, sizeof(key), "an-co");
	h_checkout(&r, &l->stores[o->store], o->id, key, token);
	o->checkout_status = r.status;
	ok = r.status == want_a || r.status == want_b;
	if (!ok)
		set_error(o, "checkout", &r);
	resp_release(&r);
	return ok;
}

/* 200 (cancelled or refunded) or 409 order_not_cancellable (failed for good meanwhile). */
static void cancel(struct a_load *l, struct a_order *o)
{
	const struct h_store *s = &l->stores[o->store];
	struct resp r = {0};
	char key[80];

	h_unique_key(key, sizeof(key), "an-ca");
	p_cancel(&r, s, o->id, key, s->key, "{\"reason\":\"analytics test\"}");
	o->cancel_status = r.status;
	if (!(r.status == 200 ||
	      (r.status == 409 && h_jstr(r.json, "error.code") != NULL &&
	       strcmp(h_jstr(r.json, "error.code"), "order_not_cancellable") == 0)))
		set_error(o, "cancel", &r);
	resp_release(&r);
}

static void run_first_phase(struct a_load *l, struct a_order *o)
{
	if (!create_order(l, o))
		return;
	switch (o->plan) {
	case PLAN_PENDING:
		break;
	case PLAN_CANCEL_PENDING:
		cancel(l, o);
		break;
	case PLAN_DECLINE:
		checkout(l, o, "tok_decline", 402, 402);
		break;
	case PLAN_DECLINE_RETRY:
		if (checkout(l, o, "tok_decline", 402, 402))
			checkout(l, o, "tok_ok", 200, 202);
		break;
	case PLAN_CHECKOUT:
	case PLAN_CHECKOUT_LATE_CANCEL:
		checkout(l, o, "tok_ok", 200, 202);
		break;
	case PLAN_CHECKOUT_CANCEL:
		if (checkout(l, o, "tok_ok", 200, 202))
			cancel(l, o);
		break;
	}
}

static void *load_main(void *arg)
{
	struct a_load *l = arg;
	size_t i;

	while ((i = atomic_fetch_add(&l->next, 1)) < l->n)
		run_first_phase(l, &l->orders[i]);
	/* Late cancels once every order had its first phase: most are confirmed by then. */
	pthread_barrier_wait(&l->phase);
	while ((i = atomic_fetch_add(&l->next_late, 1)) < l->n) {
		struct a_order *o = &l->orders[i];

		if (o->plan == PLAN_CHECKOUT_LATE_CANCEL && o->error[0] == '\0')
			cancel(l, o);
	}
	atomic_fetch_add(&l->finished, 1);
	return NULL;
}

static void plan_orders(struct a_order *orders, size_t n, unsigned *seed)
{
	for (size_t i = 0; i < n; i++) {
		struct a_order *o = &orders[i];
		int r = (int)(rand_r(seed) % 100), first = (int)(rand_r(seed) % PRODUCTS);

		memset(o, 0, sizeof(*o));
		o->store = (int)(i % STORES);
		o->nlines = 1 + (int)(rand_r(seed) % MAX_LINES);
		for (int k = 0; k < o->nlines; k++) {
			o->product[k] = (first + k) % PRODUCTS; /* distinct products per order */
			o->quantity[k] = 1 + (int)(rand_r(seed) % 3);
		}
		if (r < 8)
			o->plan = PLAN_PENDING;
		else if (r < 18)
			o->plan = PLAN_CANCEL_PENDING;
		else if (r < 23)
			o->plan = PLAN_DECLINE;
		else if (r < 28)
			o->plan = PLAN_DECLINE_RETRY;
		else if (r < 40)
			o->plan = PLAN_CHECKOUT_CANCEL;
		else if (r < 58)
			o->plan = PLAN_CHECKOUT_LATE_CANCEL;
		else
			o->plan = PLAN_CHECKOUT;
	}
}

/* Sends every done OrderStatusChanged event of the stores back to pending, as a redelivery
 * would; returns how many. */
static long long redeliver(const struct h_store *a, const struct h_store *b)
{
	return h_db_ll(
	        "WITH u AS (UPDATE outbox_events SET status = 'pending', done_at = NULL, "
	        "                                    claimed_by = NULL, claimed_until = NULL "
	        "           WHERE type = 'OrderStatusChanged' AND status = 'done' "
	        "             AND store_id IN ($1, $2) RETURNING 1) "
	        "SELECT count(*) FROM u",
	        a->id, b->id, NULL);
}

/* What the chaos run leaves for the next test. */
static struct {
	bool ready;
	struct h_store stores[STORES];
	char from[40], to[40];
} run;

static void must_drain(const struct h_store *a, const struct h_store *b, struct p_worker *w,
                       double deadline_s)
{
	long long left = -1;

	if (!p_wait_db(deadline_s, &left, "==", 0,
	               "SELECT count(*) FROM outbox_events WHERE store_id IN ($1, $2) "
	               "AND status = 'pending'",
	               a->id, b->id, NULL)) {
		p_show_log_tail(w->log, 20);
		H_FAIL("%lld events still pending %.0f s into the drain", left, deadline_s);
	}
}

/* Every timeline row became exactly one OrderStatusChanged event; every such event is done and
 * has exactly one processed-events row, and no row is left without its done event. */
static void expect_exactly_once_bookkeeping(const struct h_store *s)
{
	long long n, events, done, rows;

	n = h_db_ll("SELECT count(*) FROM order_events e WHERE e.store_id = $1 AND "
	            "(SELECT count(*) FROM outbox_events x WHERE x.type = 'OrderStatusChanged' "
	            "   AND x.aggregate_id = e.order_id AND x.payload->>'to' = e.to_status "
	            "   AND (x.payload->>'at')::timestamptz = e.at) <> 1",
	            s->id, NULL);
	H_CHECK(n == 0, "store %s: %lld timeline rows without exactly one OrderStatusChanged event",
	        s->slug, n);
	events = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	                 "AND type = 'OrderStatusChanged'",
	                 s->id, NULL);
	n = h_db_ll("SELECT count(*) FROM order_events WHERE store_id = $1", s->id, NULL);
	H_CHECK(events == n, "store %s: %lld OrderStatusChanged events for %lld timeline rows",
	        s->slug, events, n);
	done = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	               "AND type = 'OrderStatusChanged' AND status = 'done'",
	               s->id, NULL);
	H_CHECK(done == events, "store %s: %lld of %lld OrderStatusChanged events done", s->slug,
	        done, events);
	rows = h_db_ll("SELECT count(*) FROM processed_events WHERE store_id = $1", s->id, NULL);
	H_CHECK(rows == done, "store %s: %lld processed-events rows for %lld done events", s->slug,
	        rows, done);
	n = h_db_ll("SELECT count(*) FROM outbox_events x WHERE x.store_id = $1 "
	            "AND x.type = 'OrderStatusChanged' AND x.status = 'done' AND "
	            "(SELECT count(*) FROM processed_events p WHERE p.event_id = x.id "
	            "   AND p.consumer = 'analytics') <> 1",
	            s->id, NULL);
	H_CHECK(n == 0, "store %s: %lld done events without exactly one analytics guard row",
	        s->slug, n);
	n = h_db_ll("SELECT count(*) FROM processed_events p WHERE p.store_id = $1 AND NOT EXISTS "
	            "(SELECT 1 FROM outbox_events x WHERE x.id = p.event_id "
	            "   AND x.type = 'OrderStatusChanged' AND x.status = 'done' "
	            "   AND x.store_id = p.store_id)",
	            s->id, NULL);
	H_CHECK(n == 0, "store %s: %lld guard rows without a done OrderStatusChanged event",
	        s->slug, n);
}

static void test_ground_truth_after_chaos(void **state)
{
	struct h_store *stores = run.stores;
	static char products[STORES][PRODUCTS][H_ID_LEN];
	static struct a_order orders[ORDERS];
	static char logs[MAX_LOGS][512];
	struct a_load l;
	struct p_worker w[WORKERS], last;
	struct p_worker_opts o = {.no_wait = true, .retry_base_ms = 20, .max_attempts = 2};
	unsigned seed = seed_from_env();
	size_t nlogs = 0, errors = 0;
	int kills = 0, gen = 0;
	long long redelivered = 0;
	double t0, chaos_s, last_redelivery, drain_t0;

	(void)state;
	memset(&run, 0, sizeof(run));
	print_message("[          ] seed %u (TERMINUS_TEST_SEED=%u replays the plan and kills)\n",
	              seed, seed);
	for (int s = 0; s < STORES; s++) {
		h_must_create_store(&stores[s], s == 0 ? "ana-a" : "ana-b");
		for (int p = 0; p < PRODUCTS; p++)
			h_must_create_product(&stores[s], 150 + 275 * p + 13 * s, STOCK,
			                      products[s][p]);
		/* Half the orders take each path (stable hash of the order id). */
		p_must_set_flag(&stores[s], "checkout.async_enabled", true, 50);
		/* A quarter of capture attempts fail; with two attempts, one in sixteen dies. */
		p_must_set_flag(&stores[s], "chaos.payment_capture_fail", true, 25);
	}
	plan_orders(orders, ORDERS, &seed);

	for (int i = 0; i < WORKERS; i++) {
		char tag[48];

		snprintf(tag, sizeof(tag), "ana-%d", gen++);
		H_CHECK(p_worker_start(&w[i], tag, &o), "worker %s did not start", tag);
		snprintf(logs[nlogs++], sizeof(logs[0]), "%s", w[i].log);
	}

	memset(&l, 0, sizeof(l));
	l.stores = stores;
	l.products = products;
	l.orders = orders;
	l.n = ORDERS;
	atomic_init(&l.next, 0);
	atomic_init(&l.next_late, 0);
	atomic_init(&l.finished, 0);
	pthread_barrier_init(&l.phase, NULL, THREADS);
	t0 = h_now();
	last_redelivery = t0;
	for (int i = 0; i < THREADS; i++)
		H_CHECK(pthread_create(&l.tids[i], NULL, load_main, &l) == 0, "pthread_create");

	/* The chaos, like itest_crash: every 100–400 ms a worker dies by SIGKILL and a new one
	 * takes its place; every couple of seconds the done analytics events are redelivered. */
	for (;;) {
		double now = h_now() - t0;
		bool load_done = atomic_load(&l.finished) == THREADS;
		int victim;
		char tag[48];

		if ((load_done && now >= CHAOS_MIN_S) || now >= CHAOS_MAX_S)
			break;
		h_sleep_ms(100 + rand_r(&seed) % 301); /* the schedule, not a synchronisation */
		victim = (int)(rand_r(&seed) % WORKERS);
		p_worker_kill9(&w[victim]);
		kills++;
		snprintf(tag, sizeof(tag), "ana-%d", gen++);
		H_CHECK(nlogs < MAX_LOGS, "too many worker logs");
		H_CHECK(p_worker_start(&w[victim], tag, &o), "worker %s did not start", tag);
		snprintf(logs[nlogs++], sizeof(logs[0]), "%s", w[victim].log);
		if (h_now() - last_redelivery >= REDELIVER_EVERY) {
			redelivered += redeliver(&stores[0], &stores[1]);
			last_redelivery = h_now();
		}
	}
	chaos_s = h_now() - t0;
	for (int i = 0; i < THREADS; i++)
		pthread_join(l.tids[i], NULL);
	pthread_barrier_destroy(&l.phase);
	/* One more redelivery of whatever got done since, then the last kills. */
	redelivered += redeliver(&stores[0], &stores[1]);
	for (int i = 0; i < WORKERS; i++) {
		p_worker_kill9(&w[i]);
		kills++;
	}
	for (size_t i = 0; i < ORDERS; i++) {
		if (orders[i].error[0] == '\0')
			continue;
		if (errors++ < 5)
			print_error("order %zu (plan %d): %s\n", i, (int)orders[i].plan,
			            orders[i].error);
	}
	H_CHECK(errors == 0, "%zu orders got an unexpected answer (first ones above)", errors);
	print_message("[          ] %d orders over %.1f s of chaos: %d workers SIGKILLed, %lld "
	              "events redelivered\n",
	              ORDERS, chaos_s, kills, redelivered);

	/* One worker drains what is left, including what the dead ones held under lease. */
	H_CHECK(p_worker_start(&last, "ana-final",
	                       &(struct p_worker_opts){.retry_base_ms = 20, .max_attempts = 2}),
	        "the final worker did not start");
	snprintf(logs[nlogs++], sizeof(logs[0]), "%s", last.log);
	drain_t0 = h_now();
	must_drain(&stores[0], &stores[1], &last, DRAIN_DEADLINE_S);
	print_message("[          ] drained in %.1f s\n", h_now() - drain_t0);

	/* The run produced every outcome and both paths. */
	{
		static const char *const what[] = {"pending",   "payment_authorized",
		                                   "confirmed", "payment_failed",
		                                   "cancelled", "refunded"};

		for (size_t k = 0; k < sizeof(what) / sizeof(what[0]); k++) {
			long long n = h_db_ll("SELECT count(*) FROM order_events "
			                      "WHERE store_id IN ($1, $2) AND to_status = $3",
			                      stores[0].id, stores[1].id, what[k], NULL);

			print_message("[          ] → %-18s %lld\n", what[k], n);
			H_CHECK(n > 0, "the run had no change to %s", what[k]);
		}
		H_CHECK(h_db_ll("SELECT count(DISTINCT checkout_path) FROM orders "
		                "WHERE store_id IN ($1, $2) AND checkout_path IS NOT NULL",
		                stores[0].id, stores[1].id, NULL) == 2,
		        "the run did not take both the sync and the async path");
		H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id IN ($1, $2) "
		                "AND type = 'PaymentAuthorized' AND status = 'dead'",
		                stores[0].id, stores[1].id, NULL) > 0,
		        "no capture failed for good");
		H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id IN ($1, $2) "
		                "AND type = 'OrderStatusChanged' AND status = 'dead'",
		                stores[0].id, stores[1].id, NULL) == 0,
		        "an OrderStatusChanged event is dead");
		H_CHECK(h_db_ll("SELECT count(*) FROM orders WHERE store_id IN ($1, $2) "
		                "AND status = 'payment_authorized'",
		                stores[0].id, stores[1].id, NULL) == 0,
		        "orders left in payment_authorized after the drain");
	}

	run_range(&stores[0], &stores[1], run.from, run.to);
	for (int s = 0; s < STORES; s++) {
		json_t *truth = ground_truth(&stores[s], run.from, run.to);
		json_t *rep = must_report(&stores[s], run.from, run.to, NULL);

		expect_exactly_once_bookkeeping(&stores[s]);
		H_JSTR(rep, "store", stores[s].slug);
		H_JSTR(rep, "from", run.from);
		H_JSTR(rep, "to", run.to);
		expect_report_equals_truth(&stores[s], rep, truth);
		{
			char *t = dump(json_object_get(rep, "totals"));

			print_message("[          ] %s: %s\n", stores[s].slug, t);
			free(t);
		}
		json_decref(truth);
		json_decref(rep);
	}
	{
		double took = 0;
		int st = p_worker_term(&last, 10.0, &took);

		H_CHECK(st == 0, "the final worker: SIGTERM gave %s after %.2f s",
		        p_worker_describe(&last), took);
	}
	run.ready = true;
}

/* ---- redelivery ------------------------------------------------------------------------------ */

static void test_redelivery_does_not_double_count(void **state)
{
	struct h_store *a = &run.stores[0], *b = &run.stores[1];
	char *before[STORES], *after[STORES];
	long long guard_rows, attempts, n, requeued, v = -1;
	struct p_worker w;

	(void)state;
	if (!run.ready) {
		print_message(
		        "[          ] the chaos run did not complete; nothing to redeliver\n");
		skip();
	}
	for (int s = 0; s < STORES; s++)
		json_decref(must_report(&run.stores[s], run.from, run.to, &before[s]));
	guard_rows = h_db_ll("SELECT count(*) FROM processed_events WHERE store_id IN ($1, $2)",
	                     a->id, b->id, NULL);
	attempts = h_db_ll("SELECT sum(attempts) FROM outbox_events WHERE store_id IN ($1, $2) "
	                   "AND type = 'OrderStatusChanged'",
	                   a->id, b->id, NULL);

	requeued = redeliver(a, b);
	n = h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id IN ($1, $2) "
	            "AND type = 'OrderStatusChanged'",
	            a->id, b->id, NULL);
	H_CHECK(requeued == n && n > 0, "%lld of %lld OrderStatusChanged events redelivered",
	        requeued, n);

	H_CHECK(p_worker_start(&w, "ana-redeliver", &(struct p_worker_opts){.retry_base_ms = 20}),
	        "worker did not start");
	must_drain(a, b, &w, 30);
	/* Each was completed again, once. */
	H_CHECK(p_wait_db(5, &v, "==", attempts + requeued,
	                  "SELECT sum(attempts) FROM outbox_events WHERE store_id IN ($1, $2) "
	                  "AND type = 'OrderStatusChanged'",
	                  a->id, b->id, NULL),
	        "attempts %lld after the redelivery, want %lld", v, attempts + requeued);
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id IN ($1, $2) "
	                "AND type = 'OrderStatusChanged' AND status = 'done'",
	                a->id, b->id, NULL) == n,
	        "not every redelivered event is done again");
	{
		/* The log line follows the commit: poll for it. */
		double deadline = h_now() + 5;
		size_t lines;

		while ((lines = p_log_count(w.log, "\"outcome\":\"done\"")) < (size_t)requeued &&
		       h_now() < deadline)
			h_sleep_ms(20);
		H_CHECK(lines >= (size_t)requeued,
		        "the worker logged %zu completions for %lld events redelivered", lines,
		        requeued);
	}
	n = h_db_ll("SELECT count(*) FROM processed_events WHERE store_id IN ($1, $2)", a->id,
	            b->id, NULL);
	H_CHECK(n == guard_rows, "processed_events went from %lld to %lld rows on redelivery",
	        guard_rows, n);

	for (int s = 0; s < STORES; s++) {
		json_t *truth = ground_truth(&run.stores[s], run.from, run.to);
		json_t *rep = must_report(&run.stores[s], run.from, run.to, &after[s]);

		H_CHECK(strcmp(before[s], after[s]) == 0,
		        "store %s: the report changed on redelivery:\nbefore %s\nafter  %s",
		        run.stores[s].slug, before[s], after[s]);
		expect_report_equals_truth(&run.stores[s], rep, truth);
		expect_exactly_once_bookkeeping(&run.stores[s]);
		json_decref(truth);
		json_decref(rep);
		free(before[s]);
		free(after[s]);
	}
	print_message("[          ] %lld events redelivered and completed again; reports "
	              "unchanged\n",
	              requeued);
	{
		double took = 0;

		H_CHECK(p_worker_term(&w, 10.0, &took) == 0, "worker: SIGTERM gave %s",
		        p_worker_describe(&w));
	}
}

/* ---- the endpoint ---------------------------------------------------------------------------- */

static void test_endpoint_auth(void **state)
{
	struct h_store a, b;
	struct resp r = {0};

	(void)state;
	h_must_create_store(&a, "ana-auth-a");
	h_must_create_store(&b, "ana-auth-b");
	get_report(&r, &a, NULL, "");
	H_ERROR(&r, 401, NULL);
	get_report(&r, &a, "tsk_not_a_key_at_all_0123456789abcdef", "");
	H_ERROR(&r, 401, NULL);
	get_report(&r, &a, b.key, "");
	H_ERROR(&r, 403, NULL);
	get_report(&r, &a, h_env.operator_key, "");
	H_STATUS(&r, 200);
	H_JSTR(r.json, "store", a.slug);
	get_report(&r, &a, a.key, "");
	H_STATUS(&r, 200);
	H_JSTR(r.json, "store", a.slug);
	h_getf(&r, h_env.operator_key, "/v1/stores/no-such-store-x/analytics");
	H_ERROR(&r, 404, NULL);
	resp_release(&r);
}

static void expect_invalid(const struct h_store *s, const char *query, const char *field)
{
	struct resp r = {0};

	get_report(&r, s, s->key, query);
	if (r.status != 400)
		print_error("query: %s\n", query);
	H_ERROR_FIELD(&r, 400, "invalid_query", field);
	resp_release(&r);
}

static void test_endpoint_rejects_bad_ranges(void **state)
{
	struct h_store s;
	struct resp r = {0};

	(void)state;
	h_must_create_store(&s, "ana-range");
	/* Not RFC 3339. */
	expect_invalid(&s, "from=yesterday", "from");
	expect_invalid(&s, "from=", "from");
	expect_invalid(&s, "from=2026-11-25", "from");
	expect_invalid(&s, "from=2026-11-25%2010:00:00Z", "from");
	expect_invalid(&s, "from=2026-11-25T10:00:00", "from"); /* no offset */
	expect_invalid(&s, "from=1764064800", "from");
	expect_invalid(&s, "to=2026-11-25T25:00:00Z", "to");
	expect_invalid(&s, "to=2026-13-01T00:00:00Z", "to");
	expect_invalid(&s, "from=2026-11-25T10:00:00Z&to=tomorrow", "to");
	/* Dates that do not exist. */
	expect_invalid(&s, "from=2026-02-30T00:00:00Z&to=2026-03-02T00:00:00Z", "from");
	expect_invalid(&s, "from=2026-02-01T00:00:00Z&to=2026-02-29T00:00:00Z", "to");
	expect_invalid(&s, "from=2026-04-31T00:00:00Z", "from");
	/* to not after from. */
	expect_invalid(&s, "from=2026-11-25T10:00:00Z&to=2026-11-25T10:00:00Z", "to");
	expect_invalid(&s, "from=2026-11-25T12:00:00Z&to=2026-11-25T10:00:00Z", "to");
	expect_invalid(&s, "from=2026-11-25T12:00:00Z&to=2026-11-25T10:00:00%2B02:00", "to");
	/* Longer than 31 days (also after rounding to whole hours). */
	expect_invalid(&s, "from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "to");
	expect_invalid(&s, "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:01Z", "to");
	/* Exactly 31 days is fine: 744 hours. */
	get_report(&r, &s, s.key, "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z");
	H_STATUS(&r, 200);
	H_CHECK(json_array_size(h_j(r.json, "hourly")) == 744, "%zu hours in 31 days",
	        json_array_size(h_j(r.json, "hourly")));
	H_JSTR(r.json, "from", "2026-01-01T00:00:00.000Z");
	H_JSTR(r.json, "to", "2026-02-01T00:00:00.000Z");
	/* Offsets and fractions are RFC 3339 too; hours round outwards. */
	get_report(&r, &s, s.key,
	           "from=2026-01-01T02:30:00.123%2B02:00&to=2026-01-01T03:15:00.5-01:00");
	H_STATUS(&r, 200);
	H_JSTR(r.json, "from", "2026-01-01T00:00:00.000Z");
	H_JSTR(r.json, "to", "2026-01-01T05:00:00.000Z");
	H_CHECK(json_array_size(h_j(r.json, "hourly")) == 5, "%zu hours",
	        json_array_size(h_j(r.json, "hourly")));
	resp_release(&r);

	/* A `to` before `from` inside one hour is refused, though both round to the same hour. */
	get_report(&r, &s, s.key, "from=2026-11-25T10:30:00Z&to=2026-11-25T10:20:00Z");
	H_ERROR_FIELD(&r, 400, "invalid_query", "to");
	resp_release(&r);
	/* An offset beyond what PostgreSQL takes (±15:59) is bad input, never a 5xx. */
	get_report(&r, &s, s.key, "from=2026-01-01T00:00:00%2B20:00&to=2026-01-01T06:00:00Z");
	H_ERROR_FIELD(&r, 400, "invalid_query", "from");
	resp_release(&r);
	/* Years whose rounding would leave four digits, or go before the era. */
	get_report(&r, &s, s.key, "to=9999-12-31T23:30:00Z");
	H_ERROR_FIELD(&r, 400, "invalid_query", "to");
	resp_release(&r);
	/* Only from, too far back: the error names from (to was not sent). */
	get_report(&r, &s, s.key, "from=2020-01-01T00:00:00Z");
	H_ERROR_FIELD(&r, 400, "invalid_query", "from");
	resp_release(&r);
}

static long parse_utc(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	H_CHECK(s != NULL && h_is_rfc3339_utc(s) &&
	                sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                       &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6,
	        "not an RFC 3339 UTC time: %s", s ? s : "(null)");
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long)timegm(&tm);
}

static const char *const total_keys[] = {
        "orders_created", "orders_checked_out",        "orders_confirmed",
        "orders_failed",  "orders_cancelled",          "orders_refunded",
        "revenue_cents",  "average_order_value_cents", "conversion_rate",
};

/* The document's shape: exactly these keys, every hour dense and on the hour from `from`. */
static void expect_shape(const struct h_store *s, const json_t *doc, bool empty)
{
	static const char *const top_keys[] = {"store",  "from",         "to",    "currency",
	                                       "totals", "top_products", "hourly"};
	const json_t *totals = json_object_get(doc, "totals");
	const json_t *hourly = json_object_get(doc, "hourly");
	long from = parse_utc(h_jstr(doc, "from")), to = parse_utc(h_jstr(doc, "to"));
	size_t n = json_array_size(hourly);

	H_CHECK(json_object_size(doc) == sizeof(top_keys) / sizeof(top_keys[0]),
	        "%zu keys in the report", json_object_size(doc));
	for (size_t k = 0; k < sizeof(top_keys) / sizeof(top_keys[0]); k++)
		H_CHECK(json_object_get(doc, top_keys[k]) != NULL, "report without %s",
		        top_keys[k]);
	H_JSTR(doc, "store", s->slug);
	H_JSTR(doc, "currency", "USD");
	H_CHECK(json_is_array(json_object_get(doc, "top_products")), "top_products not an array");
	H_CHECK(json_is_object(totals) &&
	                json_object_size(totals) == sizeof(total_keys) / sizeof(total_keys[0]),
	        "totals with %zu keys", json_object_size(totals));
	for (size_t k = 0; k < sizeof(total_keys) / sizeof(total_keys[0]); k++) {
		const json_t *v = json_object_get(totals, total_keys[k]);

		H_CHECK(v != NULL, "totals without %s", total_keys[k]);
		if (k < 7)
			H_CHECK(json_is_integer(v), "totals.%s is not an integer", total_keys[k]);
		else
			H_CHECK(json_is_null(v) || json_is_number(v),
			        "totals.%s is neither null nor a number", total_keys[k]);
		if (empty)
			H_CHECK(k < 7 ? json_integer_value(v) == 0 : json_is_null(v),
			        "empty store: totals.%s is not %s", total_keys[k],
			        k < 7 ? "0" : "null");
	}
	if (empty)
		H_CHECK(json_array_size(json_object_get(doc, "top_products")) == 0,
		        "empty store with top products");
	H_CHECK(from % 3600 == 0 && to % 3600 == 0 && to > from, "range %s – %s not whole hours",
	        h_jstr(doc, "from"), h_jstr(doc, "to"));
	H_CHECK(json_is_array(hourly) && (long)n == (to - from) / 3600,
	        "%zu hours for a range of %ld hours", n, (to - from) / 3600);
	for (size_t i = 0; i < n; i++) {
		const json_t *h = json_array_get(hourly, i);

		H_CHECK(json_object_size(h) == 8, "hour %zu with %zu keys", i, json_object_size(h));
		H_CHECK(parse_utc(h_jstr(h, "hour")) == from + (long)i * 3600,
		        "hour %zu is %s, not dense from %s", i, h_jstr(h, "hour"),
		        h_jstr(doc, "from"));
		for (int k = 0; count_keys[k] != NULL; k++) {
			const json_t *v = json_object_get(h, count_keys[k]);

			H_CHECK(json_is_integer(v), "hour %zu: %s is not an integer", i,
			        count_keys[k]);
			if (empty)
				H_CHECK(json_integer_value(v) == 0,
				        "empty store: hour %zu %s = %lld", i, count_keys[k],
				        (long long)json_integer_value(v));
		}
	}
}

static void test_endpoint_defaults_and_empty_store(void **state)
{
	struct h_store s;
	struct resp r = {0};
	long before, after, from, to;
	size_t n;

	(void)state;
	h_must_create_store(&s, "ana-empty");
	before = (long)time(NULL);
	get_report(&r, &s, s.key, "");
	after = (long)time(NULL) + 1; /* whole seconds: round the bound up */
	H_STATUS(&r, 200);
	expect_shape(&s, r.json, true);
	from = parse_utc(h_jstr(r.json, "from"));
	to = parse_utc(h_jstr(r.json, "to"));
	n = json_array_size(h_j(r.json, "hourly"));
	/* to = now rounded up to the hour; from = now − 24 h rounded down: 24 or 25 hours. */
	H_CHECK(n == 24 || n == 25, "default range of %zu hours", n);
	H_CHECK(to >= before && to - 3600 < after, "default to %s is not the hour ending now",
	        h_jstr(r.json, "to"));
	H_CHECK(from <= after - 86400 && from > before - 86400 - 3600,
	        "default from %s is not 24 h before now, rounded down", h_jstr(r.json, "from"));
	resp_release(&r);

	/* Only to: from is 24 hours before it. */
	get_report(&r, &s, s.key, "to=2026-03-01T00:00:00Z");
	H_STATUS(&r, 200);
	expect_shape(&s, r.json, true);
	H_JSTR(r.json, "from", "2026-02-28T00:00:00.000Z");
	H_JSTR(r.json, "to", "2026-03-01T00:00:00.000Z");
	H_CHECK(json_array_size(h_j(r.json, "hourly")) == 24, "24 hours wanted");
	resp_release(&r);

	/* Only from: to is now. */
	get_report(&r, &s, s.key, "from=2026-11-20T00:00:00Z");
	if (r.status == 200) {
		expect_shape(&s, r.json, true);
		H_JSTR(r.json, "from", "2026-11-20T00:00:00.000Z");
		H_CHECK(parse_utc(h_jstr(r.json, "to")) >= before, "to is not now");
	} else {
		/* This machine's clock is far from the date above: then the range is too long. */
		H_ERROR_FIELD(&r, 400, "invalid_query", "to");
	}
	resp_release(&r);
}

/* A store with orders that never reached confirmation: counts, zero revenue, null average and a
 * 0 conversion; the other store's orders do not show. */
static void test_endpoint_unconfirmed_orders(void **state)
{
	struct h_store s, other;
	struct resp r = {0};
	char pid[H_ID_LEN], oid[H_ID_LEN], other_pid[H_ID_LEN], key[80];

	(void)state;
	h_must_create_store(&s, "ana-unconf");
	h_must_create_store(&other, "ana-other");
	h_must_create_product(&s, 999, 10, pid);
	h_must_create_product(&other, 999, 10, other_pid);
	h_must_create_order(&s, pid, 1, oid);
	h_must_create_order(&other, other_pid, 1, oid);
	h_unique_key(key, sizeof(key), "an-decl");
	h_checkout(&r, &other, oid, key, "tok_decline");
	H_ERROR(&r, 402, "payment_declined");
	resp_release(&r);
	/* No worker runs in this test: nothing is counted yet, and the answer says zero. */
	get_report(&r, &s, s.key, "");
	H_STATUS(&r, 200);
	expect_shape(&s, r.json, false);
	H_JINT(r.json, "totals.revenue_cents", 0);
	H_CHECK(json_is_null(h_j(r.json, "totals.average_order_value_cents")),
	        "no confirmed order but an average order value");
	resp_release(&r);

	/* A worker counts the store's one creation: conversion 0, average still null. */
	{
		struct p_worker w;
		long long v = -1;

		H_CHECK(p_worker_start(&w, "ana-unconf", NULL), "worker did not start");
		H_CHECK(p_wait_db(20, &v, "==", 0,
		                  "SELECT count(*) FROM outbox_events WHERE store_id IN ($1, $2) "
		                  "AND status = 'pending'",
		                  s.id, other.id, NULL),
		        "%lld events pending", v);
		H_CHECK(p_worker_term(&w, 10.0, NULL) == 0, "worker: SIGTERM gave %s",
		        p_worker_describe(&w));
	}
	get_report(&r, &s, s.key, "");
	H_STATUS(&r, 200);
	expect_shape(&s, r.json, false);
	H_JINT(r.json, "totals.orders_created", 1);
	H_JINT(r.json, "totals.orders_checked_out", 0);
	H_JINT(r.json, "totals.orders_confirmed", 0);
	H_JINT(r.json, "totals.revenue_cents", 0);
	H_CHECK(json_is_null(h_j(r.json, "totals.average_order_value_cents")),
	        "no confirmed order but an average order value");
	H_CHECK(json_is_number(h_j(r.json, "totals.conversion_rate")) &&
	                json_number_value(h_j(r.json, "totals.conversion_rate")) == 0,
	        "conversion of one created, none confirmed is not 0");
	H_CHECK(json_array_size(h_j(r.json, "top_products")) == 0, "top products without sales");
	resp_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_endpoint_auth, teardown),
	        cmocka_unit_test_teardown(test_endpoint_rejects_bad_ranges, teardown),
	        cmocka_unit_test_teardown(test_endpoint_defaults_and_empty_store, teardown),
	        cmocka_unit_test_teardown(test_endpoint_unconfirmed_orders, teardown),
	        cmocka_unit_test_teardown(test_ground_truth_after_chaos, teardown),
	        cmocka_unit_test_teardown(test_redelivery_does_not_double_count, teardown),
	};

	return H_RUN_SUITE("itest_analytics", tests, NULL, NULL);
}
