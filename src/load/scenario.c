/*
 * scenario.c — setup, streams of arrivals, client flows, and the end of a run (see
 * scenario.h).
 *
 * Four kinds of flow:
 *   - a shopper's step (mixed, noisy-tenant, chaos, surge): one request chosen from a mix —
 *     browse, look at a product or an order, create an order, check out an order created
 *     earlier, cancel one checked out earlier;
 *   - a buyer (flash-sale): create an order of one unit, then check it out at once;
 *   - an impatient client (retry-storm): create an order, send the checkout with a very short
 *     timeout (sometimes twice at once, a double click), resend with the same key until a stored
 *     answer comes, then replay it and sometimes reuse the key with a changed body;
 *   - a checkout client (checkout, closed loop): check out the next of the orders made up front
 *     in SQL, with a fresh key, as soon as the previous checkout was answered.
 * A flow lives while it has requests outstanding; it is freed when the last one is answered and
 * nothing new was sent.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chaos.h"
#include "check.h"
#include "db.h"
#include "fleet.h"
#include "http.h"
#include "ledger.h"
#include "scenario.h"
#include "stats.h"
#include "surge.h"
#include "util.h"
#include "xalloc.h"
#include "banned.h"

#define RING_CAP    4096 /* orders remembered per stream for later checkouts / cancels */
#define MAX_STREAMS 2
#define GRACE_S     15.0 /* after the last arrival, answers may take this long */

/* ---- state ----------------------------------------------------------------------------------- */

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

struct ring {
	struct oref *e;
	size_t head, n;
};

enum flow_kind { FLOW_SHOPPER, FLOW_BUYER, FLOW_STORM, FLOW_CLOSED };

/* A stretch of a stream's schedule: `rate` arrivals per second for `span_s` seconds. */
struct rate_step {
	double span_s, rate;
};

#define MAX_STEPS 2

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
};

struct counts {
	uint64_t orders_created, checkouts_acked, checkouts_sync, checkouts_async, declined,
	        sold_out, not_pending, cancels_ok, not_cancellable, retries, gave_up;
	/* retry-storm */
	uint64_t first_timeouts, double_clicks, replays, fresh_answers, in_use, reused_422,
	        changed_body_sent, replay_checks;
};

struct run {
	const struct load_opts *o;
	struct rng rng;
	struct http_engine *eng;
	struct stats stats;
	struct ledger ledger;
	struct store *stores;
	int nstores;
	const char *apis[LOAD_MAX_APIS * 2];
	int napis;
	unsigned api_rr;
	struct stream streams[MAX_STREAMS];
	int nstreams;
	struct counts c;
	struct surge *surge; /* surge: phases and timeline; NULL otherwise */
	char run_id[12];
	uint64_t key_seq;
	bool aborting;
	long long units; /* flash-sale: units on sale in total */
	/* checkout (closed loop) */
	struct oref *orders; /* the pending orders made up front, in checkout order */
	size_t norders, next_order;
	double t_stop;         /* no checkout starts after this moment (--duration) */
	double setup_s;        /* how long making the orders took */
	double settle_s;       /* how long their creation events took to drain */
	long long settle_left; /* events still pending when the measurement began */
	double load_s;         /* first checkout sent .. last answered */
};

struct flow {
	struct run *run;
	enum flow_kind kind;
	struct stream *stream;
	int refs; /* requests outstanding */
	int store;
	char order_id[37];
	char key[64];
	int attempts; /* retries so far */
	/* retry-storm */
	int phase; /* 0 create, 1 resolving the checkout, 2 extra probes */
	bool have_final;
	long final_status;
	char *final_body;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* ---- defaults -------------------------------------------------------------------------------- */

void scenario_defaults(struct load_opts *o, enum scenario sc)
{
	static const char *const names[] = {"mixed", "flash-sale", "retry-storm", "noisy-tenant",
	                                    "chaos", "checkout",   "surge"};

	memset(o, 0, sizeof(*o));
	o->scenario = sc;
	o->name = names[sc];
	o->duration_s = 10;
	o->rate = 100;
	o->concurrency = 64;
	o->stores = 2;
	o->products = 5;
	o->stock = 1000000;
	o->path = "both";
	o->timeout_ms = 10000;
	o->storm_timeout_ms = 5;
	o->retries = 2;
	o->drain_timeout_s = 60;
	o->check = true;
	o->retry_base_ms = 100;
	o->kill_interval_s = 1.0;
	o->api_restarts = 1;
	o->api_down_s = 1.0;
	o->pg_restarts = 1;
	o->pg_down_s = 2.0;
	o->warmup_s = 5;
	o->before_s = 15;
	o->surge_s = 20;
	o->after_s = 30;
	o->surge_factor = 3;
	switch (sc) {
	case SC_MIXED:
		break;
	case SC_FLASH_SALE:
		o->rate = 200;
		o->duration_s = 5;
		o->stores = 1;
		o->products = 1;
		o->stock = 100;
		o->path = "async";
		o->retries = 3;
		break;
	case SC_RETRY_STORM:
		o->rate = 50;
		o->retries = 8;
		break;
	case SC_NOISY_TENANT:
		o->rate = 20;
		o->stores = 4;
		o->path = "async";
		break;
	case SC_CHAOS:
		o->duration_s = 30;
		o->spawn_apis = 2;
		o->spawn_workers = 2;
		o->retries = 6;
		o->drain_timeout_s = 90;
		break;
	case SC_CHECKOUT:
		o->orders = 2000;
		o->concurrency = 16;
		o->duration_s = 60; /* a cap: the run ends when every order was checked out */
		o->stores = 1;
		o->products = 64; /* orders spread over 64 inventory rows, as bench/checkout.sh */
		o->stock = 1000000000;
		o->path = "async";
		o->retries = 3;
		break;
	case SC_SURGE:
		/* What the server answers, unretried; and room in flight for what it holds, so that
		 * the generator's cap does not queue the surge where the server cannot shed it. */
		o->retries = 0;
		o->concurrency = 1000;
		o->duration_s = o->warmup_s + o->before_s + o->surge_s + o->after_s;
		break;
	}
}

/* ---- small helpers --------------------------------------------------------------------------- */

static const char *next_api(struct run *R)
{
	return R->apis[R->api_rr++ % (unsigned)R->napis];
}

static void next_key(struct run *R, char *buf, size_t n)
{
	snprintf(buf, n, "ld-%s-%" PRIu64, R->run_id, ++R->key_seq);
}

static void ring_push(struct ring *r, int store, const char *id)
{
	struct oref *e;

	if (!r->e)
		r->e = xcalloc(RING_CAP, sizeof(*r->e));
	if (r->n == RING_CAP) { /* full: forget the oldest (it simply stays as it is) */
		r->head = (r->head + 1) % RING_CAP;
		r->n--;
	}
	e = &r->e[(r->head + r->n) % RING_CAP];
	e->store = store;
	snprintf(e->id, sizeof(e->id), "%s", id);
	r->n++;
}

static bool ring_pop(struct ring *r, struct oref *out)
{
	if (r->n == 0)
		return false;
	*out = r->e[r->head];
	r->head = (r->head + 1) % RING_CAP;
	r->n--;
	return true;
}

/* A random element, left in place. */
static bool ring_peek(struct ring *r, struct rng *g, struct oref *out)
{
	if (r->n == 0)
		return false;
	*out = r->e[(r->head + rng_below(g, (uint32_t)r->n)) % RING_CAP];
	return true;
}

static struct flow *flow_new(struct run *R, enum flow_kind kind, struct stream *s, int store)
{
	struct flow *f = xcalloc(1, sizeof(*f));

	f->run = R;
	f->kind = kind;
	f->stream = s;
	f->store = store;
	return f;
}

static void flow_free(struct flow *f)
{
	free(f->final_body);
	free(f);
}

static void on_done(struct http_engine *eng, struct http_req *r, void *arg);

static void submit(struct run *R, struct flow *f, struct http_req *r)
{
	f->refs++;
	http_submit(R->eng, r);
}

static struct http_req *mkreq(struct run *R, struct flow *f, enum op op, const char *method,
                              const char *path, const char *body, double t)
{
	struct http_req *r = http_req_new(next_api(R), method, path, body);

	r->op = op;
	r->store = f->store;
	r->t_sched = t;
	r->timeout_ms = R->o->timeout_ms;
	r->done = on_done;
	r->arg = f;
	return r;
}

static bool is_error_code(const struct http_req *r, const char *code)
{
	char buf[64];

	return strcmp(http_req_error_code(r, buf, sizeof(buf)), code) == 0;
}

/* The "id" of a created order, into out; false when the answer has none. */
static bool answer_id(const struct http_req *r, char out[37])
{
	json_t *j = http_req_json(r);
	const char *id = json_string_value(json_object_get(j, "id"));
	bool ok = id && strlen(id) == 36;

	if (ok)
		snprintf(out, 37, "%s", id);
	json_decref(j);
	return ok;
}

/* ---- requests of a flow ---------------------------------------------------------------------- */

static void send_create(struct run *R, struct flow *f, int quantity, double t)
{
	struct store *s = &R->stores[f->store];
	const char *product = s->products[rng_below(&R->rng, (uint32_t)s->nproducts)];
	char path[128], body[256];

	snprintf(path, sizeof(path), "/v1/stores/%s/orders", s->slug);
	snprintf(body, sizeof(body),
	         "{\"items\":[{\"product_id\":\"%s\",\"quantity\":%d}],"
	         "\"customer_email\":\"load@example.com\"}",
	         product, quantity);
	submit(R, f, mkreq(R, f, OP_CREATE_ORDER, "POST", path, body, t));
}

static struct http_req *checkout_req(struct run *R, struct flow *f, const char *token, double t)
{
	struct store *s = &R->stores[f->store];
	char path[160], body[96];
	struct http_req *r;

	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/checkout", s->slug, f->order_id);
	snprintf(body, sizeof(body), "{\"payment_token\":\"%s\"}", token);
	r = mkreq(R, f, OP_CHECKOUT, "POST", path, body, t);
	snprintf(r->idem_key, sizeof(r->idem_key), "%s", f->key);
	return r;
}

static void send_cancel(struct run *R, struct flow *f, double t)
{
	struct store *s = &R->stores[f->store];
	char path[160];
	struct http_req *r;

	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/cancel", s->slug, f->order_id);
	r = mkreq(R, f, OP_CANCEL, "POST", path, "{\"reason\":\"terminus-load\"}", t);
	r->auth = s->key;
	next_key(R, r->idem_key, sizeof(r->idem_key));
	submit(R, f, r);
}

static void send_get(struct run *R, struct flow *f, enum op op, const char *what, double t)
{
	struct store *s = &R->stores[f->store];
	char path[160];

	if (op == OP_BROWSE)
		snprintf(path, sizeof(path), "/v1/stores/%s/products?limit=20", s->slug);
	else if (op == OP_PRODUCT)
		snprintf(path, sizeof(path), "/v1/stores/%s/products/%s", s->slug, what);
	else
		snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s", s->slug, what);
	submit(R, f, mkreq(R, f, op, "GET", path, NULL, t));
}

/* Records a checkout answer the clients may rely on. */
static void note_checkout(struct run *R, struct flow *f, const struct http_req *r)
{
	struct store *s = &R->stores[f->store];

	if (r->status == 200 || r->status == 202) {
		ledger_add(&R->ledger,
		           r->status == 200 ? LEDGER_CHECKOUT_SYNC : LEDGER_CHECKOUT_ASYNC, s->id,
		           f->order_id);
		R->c.checkouts_acked++;
		if (r->status == 200)
			R->c.checkouts_sync++;
		else
			R->c.checkouts_async++;
	} else if (r->status == 402) {
		R->c.declined++;
	} else if (r->status == 409 && is_error_code(r, "insufficient_inventory")) {
		R->c.sold_out++;
	} else if (r->status == 409 && is_error_code(r, "order_not_pending")) {
		R->c.not_pending++;
	}
}

/* ---- arrivals -------------------------------------------------------------------------------- */

/* A shopper's step: one request from the mix. */
static void start_shopper(struct run *R, struct stream *s, double t)
{
	int store = s->store_lo + (int)rng_below(&R->rng, (uint32_t)(s->store_hi - s->store_lo));
	struct flow *f = flow_new(R, FLOW_SHOPPER, s, store);
	double x = rng_unit(&R->rng);
	struct oref o;

	if (x < 0.30) {
		send_get(R, f, OP_BROWSE, NULL, t);
	} else if (x < 0.40) {
		struct store *st = &R->stores[store];

		send_get(R, f, OP_PRODUCT,
		         st->products[rng_below(&R->rng, (uint32_t)st->nproducts)], t);
	} else if (x < 0.48 && ring_peek(&s->checked, &R->rng, &o)) {
		f->store = o.store;
		send_get(R, f, OP_GET_ORDER, o.id, t);
	} else if (x >= 0.95 && ring_pop(&s->checked, &o)) {
		f->store = o.store;
		snprintf(f->order_id, sizeof(f->order_id), "%s", o.id);
		send_cancel(R, f, t);
	} else if (x >= 0.72 && ring_pop(&s->created, &o)) {
		f->store = o.store;
		snprintf(f->order_id, sizeof(f->order_id), "%s", o.id);
		next_key(R, f->key, sizeof(f->key));
		submit(R, f,
		       checkout_req(R, f, rng_chance(&R->rng, 0.03) ? "tok_decline" : "tok_ok", t));
	} else {
		send_create(R, f, 1 + (int)rng_below(&R->rng, 2), t);
	}
}

static void start_flow(struct run *R, struct stream *s, double t)
{
	int store = s->store_lo + (int)(s->arrivals % (uint64_t)(s->store_hi - s->store_lo));
	struct flow *f;

	s->arrivals++;
	if (s->kind == FLOW_SHOPPER) {
		start_shopper(R, s, t);
		return;
	}
	f = flow_new(R, s->kind, s, store);
	send_create(R, f, 1, t);
}

/* ---- answers --------------------------------------------------------------------------------- */

/* Refused, with a time to come back (Retry-After): 429 rate_limited and 503 overloaded were not
 * run at all; 503 database_unavailable was rolled back, or its outcome is unknown — sent again
 * with the same key, it takes effect at most once either way. */
static bool refused(const struct http_req *r)
{
	return r->status == 429 || r->status == 503;
}

/* The wait before resending r: the client's own backoff, but no sooner than a refusal's
 * Retry-After — spread over a quarter of it more, so that the clients a burst refused at once
 * do not all come back at the same moment. */
static double retry_delay(struct run *R, const struct http_req *r, double backoff)
{
	double floor_s = refused(r) ? (double)r->retry_after_s : 0;

	if (backoff < floor_s)
		backoff = floor_s * (1 + 0.25 * rng_unit(&R->rng));
	return backoff;
}

/* A failure worth a retry with the same request (and key): no answer, refused (429, 503), or
 * the key still in flight. Never for creating an order: without a key a retry could make a
 * second one. */
static bool retry(struct run *R, struct flow *f, struct http_req *r)
{
	double backoff;
	bool transient = r->status == 0 || refused(r) ||
	                 (r->status == 409 && is_error_code(r, "idempotency_key_in_use"));

	if (!transient || R->aborting || r->op == OP_CREATE_ORDER)
		return false;
	if (f->kind == FLOW_STORM && r->op == OP_CHECKOUT)
		return false; /* the storm resends on its own terms */
	if (f->attempts >= R->o->retries) {
		R->c.gave_up++;
		return false;
	}
	f->attempts++;
	R->c.retries++;
	backoff = 0.05 * pow(2, f->attempts - 1);
	if (backoff > 2.0)
		backoff = 2.0;
	backoff = retry_delay(R, r, backoff * (0.5 + rng_unit(&R->rng)));
	http_req_reset(r);
	r->base = next_api(R); /* another API, if there are several */
	r->t_sched = mono_now() + backoff;
	http_submit(R->eng, r);
	return true;
}

static void shopper_done(struct run *R, struct flow *f, struct http_req *r)
{
	struct store *s = &R->stores[f->store];

	switch (r->op) {
	case OP_CREATE_ORDER:
		if (r->status == 201 && answer_id(r, f->order_id)) {
			R->c.orders_created++;
			ledger_add(&R->ledger, LEDGER_CREATED, s->id, f->order_id);
			ring_push(&f->stream->created, f->store, f->order_id);
		}
		break;
	case OP_CHECKOUT:
		note_checkout(R, f, r);
		if (r->status == 200 || r->status == 202)
			ring_push(&f->stream->checked, f->store, f->order_id);
		break;
	case OP_CANCEL:
		if (r->status == 200) {
			R->c.cancels_ok++;
			ledger_add(&R->ledger, LEDGER_CANCELLED, s->id, f->order_id);
		} else if (r->status == 409) {
			R->c.not_cancellable++;
		}
		break;
	default:
		break;
	}
}

static void buyer_done(struct run *R, struct flow *f, struct http_req *r)
{
	if (r->op == OP_CREATE_ORDER) {
		if (r->status == 201 && answer_id(r, f->order_id)) {
			R->c.orders_created++;
			ledger_add(&R->ledger, LEDGER_CREATED, R->stores[f->store].id, f->order_id);
			next_key(R, f->key, sizeof(f->key));
			submit(R, f, checkout_req(R, f, "tok_ok", r->t_done));
		}
		return;
	}
	if (r->op == OP_CHECKOUT)
		note_checkout(R, f, r);
}

/* A stored outcome: what the business logic decided, kept with the key and replayed. */
static bool stored_outcome(const struct http_req *r)
{
	return (r->status >= 200 && r->status < 300) || r->status == 402 ||
	       (r->status == 409 && !is_error_code(r, "idempotency_key_in_use"));
}

static void storm_send(struct run *R, struct flow *f, const char *token, long timeout_ms, double t)
{
	struct http_req *r = checkout_req(R, f, token, t);

	r->timeout_ms = timeout_ms;
	submit(R, f, r);
}

static void storm_checkout_answer(struct run *R, struct flow *f, struct http_req *r)
{
	bool changed = r->body && strstr(r->body, "tok_changed") != NULL;

	if (r->status == 0) {
		if (r->timed_out && f->phase == 1)
			R->c.first_timeouts++;
		return;
	}
	if (r->status == 409 && is_error_code(r, "idempotency_key_in_use")) {
		R->c.in_use++;
		return;
	}
	if (changed) {
		if (r->status == 422 && is_error_code(r, "idempotency_key_reused"))
			R->c.reused_422++;
		else if (!refused(r)) /* not run: it could not be judged */
			ledger_violation(&R->ledger, "changed_body_rejected",
			                 "key %s reused with a different body on order %s got %ld "
			                 "instead of 422: %.120s",
			                 f->key, f->order_id, r->status, r->resp ? r->resp : "");
		return;
	}
	if (!stored_outcome(r))
		return;
	if (r->replayed) {
		R->c.replays++;
	} else {
		R->c.fresh_answers++;
		if (f->have_final)
			ledger_violation(
			        &R->ledger, "one_answer_per_key",
			        "key %s (order %s) was answered afresh twice: %ld then %ld", f->key,
			        f->order_id, f->final_status, r->status);
	}
	if (!f->have_final) {
		f->have_final = true;
		f->final_status = r->status;
		f->final_body = xstrdup(r->resp ? r->resp : "");
		note_checkout(R, f, r);
		return;
	}
	R->c.replay_checks++;
	if (r->status != f->final_status || strcmp(r->resp ? r->resp : "", f->final_body) != 0)
		ledger_violation(&R->ledger, "replay_consistent",
		                 "key %s (order %s): first answer %ld %.60s…, replay %ld %.60s…",
		                 f->key, f->order_id, f->final_status, f->final_body, r->status,
		                 r->resp ? r->resp : "");
	else if (f->phase == 2 && !r->replayed)
		ledger_violation(&R->ledger, "replay_consistent",
		                 "key %s (order %s): a replay without Idempotent-Replayed: true",
		                 f->key, f->order_id);
}

static void storm_done(struct run *R, struct flow *f, struct http_req *r)
{
	double now = r->t_done;

	if (r->op == OP_CREATE_ORDER) {
		if (r->status != 201 || !answer_id(r, f->order_id))
			return;
		R->c.orders_created++;
		ledger_add(&R->ledger, LEDGER_CREATED, R->stores[f->store].id, f->order_id);
		next_key(R, f->key, sizeof(f->key));
		f->phase = 1;
		/* An impatient first attempt, sometimes clicked twice. */
		storm_send(R, f, "tok_ok",
		           1 + (long)rng_below(&R->rng, (uint32_t)(2 * R->o->storm_timeout_ms)),
		           now);
		if (rng_chance(&R->rng, 0.3)) {
			R->c.double_clicks++;
			storm_send(R, f, "tok_ok", R->o->timeout_ms, now);
		}
		return;
	}
	storm_checkout_answer(R, f, r);
	if (f->refs > 0 || R->aborting)
		return; /* decide when every copy has been answered */
	if (f->phase == 1 && !f->have_final) {
		double backoff = 0.02 * pow(2, f->attempts < 6 ? f->attempts : 6);

		if (f->attempts >= R->o->retries) {
			R->c.gave_up++;
			return;
		}
		f->attempts++;
		R->c.retries++;
		storm_send(R, f, "tok_ok", R->o->timeout_ms, now + retry_delay(R, r, backoff));
		return;
	}
	if (f->phase == 1) {
		/* Resolved: now replay it, and sometimes reuse the key for a different request. */
		f->phase = 2;
		if (rng_chance(&R->rng, 0.5))
			storm_send(R, f, "tok_ok", R->o->timeout_ms, now);
		if (rng_chance(&R->rng, 0.3)) {
			R->c.changed_body_sent++;
			storm_send(R, f, "tok_changed", R->o->timeout_ms, now);
		}
	}
}

/* ---- checkout: the closed loop ------------------------------------------------------------- */

/* Sends the checkout of the next order made up front, at moment t, with a fresh key; false when
 * none is left, the --duration cap has passed or the run is stopping. */
static bool start_closed(struct run *R, double t)
{
	const struct oref *o;
	struct flow *f;

	if (R->next_order >= R->norders || stop_requested || R->aborting || mono_now() >= R->t_stop)
		return false;
	o = &R->orders[R->next_order++];
	f = flow_new(R, FLOW_CLOSED, NULL, o->store);
	snprintf(f->order_id, sizeof(f->order_id), "%s", o->id);
	next_key(R, f->key, sizeof(f->key));
	submit(R, f, checkout_req(R, f, "tok_ok", t));
	return true;
}

/* A client's checkout is settled (answered, or given up after its retries): the same client
 * sends the next one at once. */
static void closed_done(struct run *R, struct flow *f, struct http_req *r)
{
	note_checkout(R, f, r);
	start_closed(R, r->t_done);
}

static void on_done(struct http_engine *eng, struct http_req *r, void *arg)
{
	struct flow *f = arg;
	struct run *R = f->run;

	(void)eng;
	if (!r->aborted) {
		stats_record(&R->stats, (enum op)r->op, r->store, r->status,
		             r->t_done - r->t_sched);
		if (R->surge)
			surge_record(R->surge, r->t_sched - R->stats.t_start, r->status,
			             r->t_done - r->t_sched);
		if (retry(R, f, r))
			return; /* the same request is back in the engine */
	}
	if (r->aborted && r->t_sent > 0 && R->surge) /* sent, never answered */
		surge_abandoned(R->surge, r->t_sched - R->stats.t_start);
	f->refs--;
	if (!r->aborted && !R->aborting) {
		if (f->kind == FLOW_SHOPPER)
			shopper_done(R, f, r);
		else if (f->kind == FLOW_BUYER)
			buyer_done(R, f, r);
		else if (f->kind == FLOW_CLOSED)
			closed_done(R, f, r);
		else
			storm_done(R, f, r);
	}
	http_req_free(r);
	if (f->refs == 0)
		flow_free(f);
}

/* ---- setup ----------------------------------------------------------------------------------- */

/* POSTs/PUTs a JSON value (stolen) and expects `want`; false (printed) otherwise. */
static bool setup_call(const char *base, const char *method, const char *path, const char *auth,
                       json_t *body, long want, struct http_answer *a)
{
	char *text = xjson_dumps(xjson(body), JSON_COMPACT);

	json_decref(body);
	http_sync(base, method, path, auth, text, 10000, a);
	free(text);
	if (a->status == want)
		return true;
	fprintf(stderr, "terminus-load: setup: %s %s%s: want %ld, got %ld %s\n", method, base, path,
	        want, a->status, a->status ? (a->body ? a->body : "") : a->error);
	return false;
}

static bool setup_store(struct run *R, const char *base, int i)
{
	const struct load_opts *o = R->o;
	struct store *s = &R->stores[i];
	struct http_answer a;
	char path[160], name[96];
	const char *id, *key;

	snprintf(s->slug, sizeof(s->slug), "ld-%s-%d", R->run_id, i);
	snprintf(name, sizeof(name), "terminus-load %s %s", o->name, s->slug);
	s->sync = strcmp(o->path, "sync") == 0 || (strcmp(o->path, "both") == 0 && i % 2 == 1);
	if (!setup_call(
	            base, "POST", "/v1/stores", o->operator_key,
	            json_pack("{s:s,s:s,s:s}", "slug", s->slug, "name", name, "currency", "USD"),
	            201, &a))
		goto fail;
	id = json_string_value(json_object_get(json_object_get(a.json, "store"), "id"));
	key = json_string_value(json_object_get(a.json, "admin_key"));
	if (!id || !key) {
		fprintf(stderr, "terminus-load: setup: store answer without id or key: %s\n",
		        a.body);
		goto fail;
	}
	snprintf(s->id, sizeof(s->id), "%s", id);
	snprintf(s->key, sizeof(s->key), "%s", key);
	http_answer_release(&a);
	if (s->sync) {
		snprintf(path, sizeof(path), "/v1/stores/%s/flags/checkout.async_enabled", s->slug);
		if (!setup_call(base, "PUT", path, s->key,
		                json_pack("{s:b,s:i}", "enabled", 0, "rollout_percent", 100), 200,
		                &a))
			goto fail;
		http_answer_release(&a);
	}
	s->nproducts = o->products;
	s->products = xcalloc((size_t)o->products, sizeof(*s->products));
	snprintf(path, sizeof(path), "/v1/stores/%s/products", s->slug);
	for (int k = 0; k < o->products; k++) {
		char sku[32], pname[64];

		snprintf(sku, sizeof(sku), "LOAD-%d", k);
		snprintf(pname, sizeof(pname), "Load product %d", k);
		if (!setup_call(base, "POST", path, s->key,
		                json_pack("{s:s,s:s,s:s,s:I,s:I}", "sku", sku, "name", pname,
		                          "description", "made by terminus-load", "price_cents",
		                          (json_int_t)(100 + 50 * k), "inventory",
		                          (json_int_t)o->stock),
		                201, &a))
			goto fail;
		id = json_string_value(json_object_get(a.json, "id"));
		if (!id) {
			fprintf(stderr, "terminus-load: setup: product answer without id: %s\n",
			        a.body);
			goto fail;
		}
		snprintf(s->products[k], sizeof(s->products[k]), "%s", id);
		http_answer_release(&a);
	}
	return true;
fail:
	http_answer_release(&a);
	return false;
}

/* checkout: the pending orders, made in SQL as the owner role, as POST …/orders would make them
 * (the order, one line of one unit, its 'pending' timeline entry), so that the run measures the
 * checkout alone. Order g of a store buys product g mod P (products in SKU order), so
 * consecutive checkouts touch different inventory rows. Ids come back in that order. */
static struct db_stmt st_make_orders = DB_STMT(
        "load_make_orders",
        "WITH p AS (SELECT row_number() OVER (ORDER BY sku) - 1 AS k, id, sku, name, price_cents "
        "           FROM products WHERE store_id = $1::uuid), "
        "x AS (SELECT gen_random_uuid() AS id, g, p.id AS product_id, p.sku, p.name, "
        "             p.price_cents "
        "      FROM generate_series(0, $2::int - 1) g "
        "      JOIN p ON p.k = g % (SELECT count(*) FROM p)), "
        "o AS (INSERT INTO orders (id, store_id, customer_email, currency, total_cents) "
        "      SELECT x.id, $1::uuid, 'load@example.com', s.currency, x.price_cents "
        "      FROM x JOIN stores s ON s.id = $1::uuid ORDER BY x.g RETURNING id), "
        "i AS (INSERT INTO order_items (order_id, line_no, store_id, product_id, sku, name, "
        "                               quantity, unit_price_cents) "
        "      SELECT x.id, 1, $1::uuid, x.product_id, x.sku, x.name, 1, x.price_cents FROM x), "
        "t AS (INSERT INTO order_events (order_id, store_id, from_status, to_status, reason) "
        "      SELECT id, $1::uuid, NULL, 'pending', 'created' FROM o) "
        "SELECT x.id FROM x ORDER BY x.g");

static bool make_orders(struct run *R)
{
	const struct load_opts *o = R->o;
	struct err e = ERR_INIT;
	struct db_conn *c;
	PGresult **res = xcalloc((size_t)R->nstores, sizeof(*res));
	double t0 = mono_now();
	bool ok = false;
	size_t total = 0;
	int rows = 0;
	PGresult *r;

	c = db_conn_open(o->db, DB_ROLE_OWNER, &e);
	if (!c) {
		fprintf(stderr, "terminus-load: cannot connect to the database: %s\n", e.message);
		goto out;
	}
	r = db_exec_sql(c, "SET statement_timeout = '600s'", &e);
	if (!r)
		goto failed;
	PQclear(r);
	for (int i = 0; i < R->nstores; i++) {
		long long n = o->orders / R->nstores + (i < o->orders % R->nstores ? 1 : 0);
		char count[24];

		snprintf(count, sizeof(count), "%lld", n);
		res[i] = db_exec(c, &st_make_orders, DB_PARAMS(R->stores[i].id, count), &e);
		if (!res[i])
			goto failed;
	}
	/* Bulk-loaded rows: planner statistics as autovacuum would refresh them over time. */
	r = db_exec_sql(c, "ANALYZE orders, order_items, order_events", &e);
	if (!r)
		goto failed;
	PQclear(r);
	/* Interleaved over the stores, so `--path both` alternates sync and async checkouts. */
	for (int i = 0; i < R->nstores; i++) {
		total += PQntuples(res[i]);
		if (PQntuples(res[i]) > rows)
			rows = PQntuples(res[i]);
	}
	R->orders = xcalloc(total > 0 ? total : 1, sizeof(*R->orders));
	for (int row = 0; row < rows; row++) {
		for (int i = 0; i < R->nstores; i++) {
			if (row >= PQntuples(res[i]))
				continue;
			R->orders[R->norders].store = i;
			snprintf(R->orders[R->norders].id, sizeof(R->orders[0].id), "%s",
			         db_get(res[i], row, 0));
			ledger_add(&R->ledger, LEDGER_CREATED, R->stores[i].id,
			           R->orders[R->norders].id);
			R->norders++;
		}
	}
	R->c.orders_created = R->norders;
	R->setup_s = mono_now() - t0;
	ok = true;
	goto out;
failed:
	fprintf(stderr, "terminus-load: making the pending orders: %s\n", e.message);
out:
	for (int i = 0; i < R->nstores; i++)
		PQclear(res[i]);
	free(res);
	if (c)
		db_conn_free(c);
	err_release(&e);
	return ok;
}

static struct db_stmt st_pending = DB_STMT(
        "load_settle_pending",
        "SELECT count(*) FROM outbox_events WHERE store_id = ANY($1::uuid[]) AND status = 'pending'");

/* checkout: each 'pending' timeline entry made an OrderStatusChanged event (a trigger, as for
 * POST …/orders). Before the measurement the workers finish them, so that the checkouts do not
 * share the machine with a backlog of N creations no shop makes at once. Bounded by
 * --drain-timeout; what is left is reported. */
static void settle(struct run *R)
{
	const char **ids = xcalloc((size_t)R->nstores, sizeof(*ids));
	struct err e = ERR_INIT;
	struct db_conn *c = db_conn_open(R->o->db, DB_ROLE_OWNER, &e);
	double t0 = mono_now();
	char *scope;

	for (int i = 0; i < R->nstores; i++)
		ids[i] = R->stores[i].id;
	scope = db_array(R->nstores, ids);
	R->settle_left = -1;
	while (c && !stop_requested) {
		PGresult *r = db_exec(c, &st_pending, DB_PARAMS(scope), &e);

		if (!r)
			break;
		R->settle_left = db_get_ll(r, 0, 0);
		PQclear(r);
		if (R->settle_left == 0 || mono_now() - t0 >= R->o->drain_timeout_s)
			break;
		usleep(100 * 1000);
	}
	if (R->settle_left != 0)
		fprintf(stderr, "terminus-load: %s; measuring anyway\n",
		        R->settle_left < 0
		                ? "cannot count the pending events"
		                : "the creation events did not drain (is a worker running?)");
	R->settle_s = mono_now() - t0;
	if (c)
		db_conn_free(c);
	err_release(&e);
	free(scope);
	free(ids);
}

static void plan_streams(struct run *R)
{
	const struct load_opts *o = R->o;
	struct stream *s = R->streams;

	switch (o->scenario) {
	case SC_NOISY_TENANT:
		/* Store 0 floods; every other store shops at the normal rate. */
		s[0] = (struct stream){.rate = o->noisy_rate > 0 ? o->noisy_rate : 10 * o->rate,
		                       .store_lo = 0,
		                       .store_hi = 1,
		                       .kind = FLOW_SHOPPER};
		s[1] = (struct stream){.rate = o->rate * (R->nstores - 1),
		                       .store_lo = 1,
		                       .store_hi = R->nstores,
		                       .kind = FLOW_SHOPPER};
		R->nstreams = R->nstores > 1 ? 2 : 1;
		break;
	case SC_FLASH_SALE:
		s[0] = (struct stream){
		        .rate = o->rate, .store_lo = 0, .store_hi = R->nstores, .kind = FLOW_BUYER};
		R->nstreams = 1;
		break;
	case SC_RETRY_STORM:
		s[0] = (struct stream){
		        .rate = o->rate, .store_lo = 0, .store_hi = R->nstores, .kind = FLOW_STORM};
		R->nstreams = 1;
		break;
	case SC_CHECKOUT:
		R->nstreams = 0; /* no arrivals: a closed loop (run_closed) */
		break;
	case SC_MIXED:
	case SC_CHAOS:
	case SC_SURGE:
		s[0] = (struct stream){.rate = o->rate,
		                       .store_lo = 0,
		                       .store_hi = R->nstores,
		                       .kind = FLOW_SHOPPER};
		R->nstreams = 1;
		if (o->scenario == SC_SURGE) {
			s[0].steps[0] = (struct rate_step){o->warmup_s + o->before_s, o->rate};
			s[0].steps[1] = (struct rate_step){o->surge_s, o->surge_factor * o->rate};
			s[0].nsteps = 2;
		}
		break;
	}
}

/* ---- the load loop --------------------------------------------------------------------------- */

/* When arrival k of s is due: t0 + k / rate, or, after steps of other rates, the moment the
 * schedule's cumulative arrivals reach k. (Summed from 0 and added to t0 once, so that the last
 * step ends exactly where --duration does.) */
static double arrival_due(const struct stream *s, double t0, uint64_t k)
{
	double t = 0, before = 0;

	for (int i = 0; i < s->nsteps; i++) {
		double n = s->steps[i].rate * s->steps[i].span_s;

		if ((double)k < before + n)
			return t0 + (t + ((double)k - before) / s->steps[i].rate);
		before += n;
		t += s->steps[i].span_s;
	}
	return t0 + (t + ((double)k - before) / s->rate);
}

/* The load is over: what was never sent or never answered is counted, the engine freed. */
static void end_load(struct run *R)
{
	unsigned long long unsent, abandoned;

	R->stats.t_end = mono_now();
	R->stats.sent = http_engine_sent(R->eng);
	R->aborting = true;
	http_engine_free(R->eng, &unsent, &abandoned);
	R->eng = NULL;
	R->stats.unsent = unsent;
	R->stats.abandoned = abandoned;
	stats_progress_end(&R->stats);
}

static void run_load(struct run *R, struct chaos *chaos)
{
	const struct load_opts *o = R->o;
	double t0 = mono_now(), t_end = t0 + o->duration_s, grace_end = 0;

	R->stats.t_start = t0;
	for (int i = 0; i < R->nstreams; i++)
		R->streams[i].next_t = t0;
	while (!stop_requested) {
		double now = mono_now(), wait = 0.05;

		/* Every arrival due by now, including the last ones when the loop woke late. */
		for (int i = 0; i < R->nstreams; i++) {
			struct stream *s = &R->streams[i];

			while (s->next_t <= now && s->next_t < t_end) {
				start_flow(R, s, s->next_t);
				s->next_t = arrival_due(s, t0, s->arrivals);
			}
			if (s->next_t < t_end && s->next_t - now < wait)
				wait = s->next_t - now;
		}
		if (now < t_end) {
			if (chaos)
				chaos_tick(chaos, now);
		} else {
			if (grace_end == 0) {
				grace_end = now + GRACE_S + (double)o->timeout_ms / 1000.0;
				if (chaos)
					chaos_wind_down(chaos);
			}
			if (chaos)
				chaos_tick(chaos, now);
			if (http_engine_in_flight(R->eng) == 0 && http_engine_queued(R->eng) == 0 &&
			    (!chaos || chaos_settled(chaos)))
				break;
			if (now > grace_end)
				break;
		}
		http_engine_step(R->eng, wait > 0 ? wait : 0);
		stats_progress(&R->stats, mono_now(), http_engine_in_flight(R->eng),
		               http_engine_queued(R->eng));
	}
	end_load(R);
}

/* checkout: --concurrency clients, each sending its next checkout when the previous one is
 * settled, until every order made up front was checked out (or --duration has passed: then
 * the checkouts in flight may still finish within the grace period). */
static void run_closed(struct run *R)
{
	const struct load_opts *o = R->o;
	double t0 = mono_now(), grace_end = 0;

	R->stats.t_start = t0;
	R->t_stop = t0 + o->duration_s;
	for (int i = 0; i < o->concurrency && start_closed(R, t0); i++)
		;
	while (!stop_requested) {
		double now = mono_now();

		if (http_engine_in_flight(R->eng) == 0 && http_engine_queued(R->eng) == 0)
			break;
		if (now >= R->t_stop) {
			if (grace_end == 0)
				grace_end = now + GRACE_S + (double)o->timeout_ms / 1000.0;
			else if (now > grace_end)
				break;
		}
		http_engine_step(R->eng, 0.05);
		stats_progress(&R->stats, mono_now(), http_engine_in_flight(R->eng),
		               http_engine_queued(R->eng));
	}
	end_load(R);
	R->load_s = R->stats.t_end - R->stats.t_start;
}

/* ---- report ---------------------------------------------------------------------------------- */

static json_t *counts_json(const struct run *R)
{
	const struct counts *c = &R->c;
	json_t *j = json_pack(
	        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "orders_created",
	        (json_int_t)c->orders_created, "checkouts_acked", (json_int_t)c->checkouts_acked,
	        "checkouts_sync", (json_int_t)c->checkouts_sync, "checkouts_async",
	        (json_int_t)c->checkouts_async, "declined", (json_int_t)c->declined, "sold_out",
	        (json_int_t)c->sold_out, "not_pending", (json_int_t)c->not_pending, "cancels_ok",
	        (json_int_t)c->cancels_ok, "not_cancellable", (json_int_t)c->not_cancellable,
	        "retries", (json_int_t)c->retries, "gave_up", (json_int_t)c->gave_up);

	if (R->o->scenario == SC_RETRY_STORM) {
		json_object_set_new(j, "first_timeouts",
		                    json_integer((json_int_t)c->first_timeouts));
		json_object_set_new(j, "double_clicks", json_integer((json_int_t)c->double_clicks));
		json_object_set_new(j, "fresh_answers", json_integer((json_int_t)c->fresh_answers));
		json_object_set_new(j, "replays", json_integer((json_int_t)c->replays));
		json_object_set_new(j, "replay_checks", json_integer((json_int_t)c->replay_checks));
		json_object_set_new(j, "in_use_409", json_integer((json_int_t)c->in_use));
		json_object_set_new(j, "changed_body_sent",
		                    json_integer((json_int_t)c->changed_body_sent));
		json_object_set_new(j, "reused_422", json_integer((json_int_t)c->reused_422));
	}
	if (R->o->scenario == SC_CHECKOUT) {
		json_object_set_new(j, "orders_prepared", json_integer((json_int_t)R->norders));
		json_object_set_new(j, "orders_checked_out",
		                    json_integer((json_int_t)R->next_order));
		json_object_set_new(j, "setup_s", json_real(R->setup_s));
		json_object_set_new(j, "settle_s", json_real(R->settle_s));
		json_object_set_new(j, "settle_pending_left", json_integer(R->settle_left));
		json_object_set_new(j, "load_s", json_real(R->load_s));
		json_object_set_new(
		        j, "checkouts_per_s",
		        json_real(R->load_s > 0 ? (double)c->checkouts_acked / R->load_s : 0));
	}
	if (R->o->scenario == SC_FLASH_SALE) {
		json_object_set_new(j, "units", json_integer(R->units));
		json_object_set_new(j, "buyers", json_integer((json_int_t)R->streams[0].arrivals));
	}
	return j;
}

static void print_header(const struct run *R, FILE *out)
{
	const struct load_opts *o = R->o;

	if (o->scenario == SC_CHECKOUT)
		fprintf(out,
		        "terminus-load checkout: %zu orders, closed loop (each client sends its next "
		        "checkout when the last is answered; at most %.0f s)",
		        R->norders, o->duration_s);
	else if (o->scenario == SC_SURGE)
		fprintf(out,
		        "terminus-load surge: %.1f s, open loop at %.0f/s, %.0f/s from %g s to %g s",
		        o->duration_s, o->rate, o->surge_factor * o->rate,
		        o->warmup_s + o->before_s, o->warmup_s + o->before_s + o->surge_s);
	else
		fprintf(out, "terminus-load %s: %.1f s, open loop at %.0f/s", o->name,
		        o->duration_s, o->rate);
	if (o->scenario == SC_NOISY_TENANT)
		fprintf(out, " per quiet store, %.0f/s for the noisy one", R->streams[0].rate);
	fprintf(out, ", concurrency %d, %d API%s, seed %" PRIu64 "\n", o->concurrency, R->napis,
	        R->napis == 1 ? "" : "s", o->seed);
	fprintf(out, "stores     ");
	for (int i = 0; i < R->nstores; i++)
		fprintf(out, " %s (%s%s)", R->stores[i].slug, R->stores[i].sync ? "sync" : "async",
		        o->scenario == SC_NOISY_TENANT && i == 0 ? ", noisy" : "");
	fprintf(out, "\n");
}

static void print_counts(const struct run *R, FILE *out)
{
	const struct counts *c = &R->c;

	fprintf(out,
	        "orders      %" PRIu64 " created; checkouts %" PRIu64 " acknowledged (%" PRIu64
	        " 202 async, %" PRIu64 " 200 sync), %" PRIu64 " declined, %" PRIu64
	        " sold out, %" PRIu64 " not pending; cancels %" PRIu64 " done, %" PRIu64
	        " refused; %" PRIu64 " retries, %" PRIu64 " given up\n",
	        c->orders_created, c->checkouts_acked, c->checkouts_async, c->checkouts_sync,
	        c->declined, c->sold_out, c->not_pending, c->cancels_ok, c->not_cancellable,
	        c->retries, c->gave_up);
	if (R->o->scenario == SC_CHECKOUT)
		fprintf(out,
		        "checkout    %zu pending orders made in SQL in %.1f s, their creation events "
		        "drained in %.1f s (%lld left); %zu sent, %" PRIu64
		        " acknowledged in %.2f s: %.1f checkouts/s at concurrency %d\n",
		        R->norders, R->setup_s, R->settle_s, R->settle_left, R->next_order,
		        c->checkouts_acked, R->load_s,
		        R->load_s > 0 ? (double)c->checkouts_acked / R->load_s : 0,
		        R->o->concurrency);
	if (R->o->scenario == SC_FLASH_SALE)
		fprintf(out,
		        "flash-sale  %lld units for %" PRIu64 " buyers: %" PRIu64
		        " checkouts acknowledged, %" PRIu64 " sold out (409)\n",
		        R->units, R->streams[0].arrivals, c->checkouts_acked, c->sold_out);
	if (R->o->scenario == SC_RETRY_STORM)
		fprintf(out,
		        "retry-storm %" PRIu64 " first attempts timed out, %" PRIu64
		        " double clicks; %" PRIu64 " fresh answers, %" PRIu64 " replays (%" PRIu64
		        " compared byte for byte), %" PRIu64 " 409 in use, %" PRIu64 " of %" PRIu64
		        " changed bodies refused with 422\n",
		        c->first_timeouts, c->double_clicks, c->fresh_answers, c->replays,
		        c->replay_checks, c->in_use, c->reused_422, c->changed_body_sent);
}

/* ---- the run --------------------------------------------------------------------------------- */

static bool start_fleet(const struct load_opts *o, struct fleet *fleet, struct run *R)
{
	bool ok = true;

	for (int i = 0; i < o->spawn_apis; i++)
		ok = fleet_start(fleet, fleet_add(fleet, PROC_API)) && ok;
	for (int i = 0; i < o->spawn_workers; i++)
		ok = fleet_start(fleet, fleet_add(fleet, PROC_WORKER)) && ok;
	for (int i = 0; ok && i < fleet->n; i++) {
		struct proc *p = &fleet->p[i];

		if (p->kind != PROC_API)
			continue;
		if (!fleet_wait_ready(p, 30)) {
			fprintf(stderr, "terminus-load: %s never became ready; see %s\n", p->name,
			        p->log);
			ok = false;
		}
		R->apis[R->napis++] = p->base;
	}
	return ok;
}

static bool write_json(const char *path, json_t *j)
{
	if (json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
		fprintf(stderr, "terminus-load: cannot write %s\n", path);
		return false;
	}
	return true;
}

int scenario_run(const struct load_opts *o)
{
	struct run R0, *R = &R0;
	struct fleet fleet;
	struct pgctl pg;
	struct chaos chaos;
	struct surge surge;
	struct check_opts co = {0};
	struct sigaction sa = {0};
	char logdir_buf[64] = "", opkey_buf[64];
	struct load_opts oo = *o;
	const char **slugs = NULL, **names = NULL;
	json_t *report = NULL, *check_j = NULL, *lag = NULL;
	bool use_chaos = o->scenario == SC_CHAOS, chaos_ok = true, chaos_on = false;
	bool prepare_only = o->scenario == SC_CHECKOUT && o->prepare_only;
	int status = 2;

	memset(R, 0, sizeof(*R));
	fleet_init(&fleet);
	R->o = &oo;
	rng_seed(&R->rng, o->seed);
	random_hex(R->run_id, 8);
	ledger_init(&R->ledger);

	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (o->spawn_apis > 0 || o->spawn_workers > 0) {
		if (!oo.log_dir) {
			snprintf(logdir_buf, sizeof(logdir_buf), "%s/terminus-load.XXXXXX",
			         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
			if (!mkdtemp(logdir_buf)) {
				fprintf(stderr, "terminus-load: mkdtemp: %s\n", strerror(errno));
				goto out;
			}
			oo.log_dir = logdir_buf;
		}
		if (!oo.operator_key) {
			random_hex(opkey_buf, 40);
			oo.operator_key = opkey_buf;
		}
		fleet.bindir = oo.bindir;
		fleet.db = oo.db;
		fleet.operator_key = oo.operator_key;
		fleet.logdir = oo.log_dir;
		fleet.retry_base_ms = oo.retry_base_ms;
		fprintf(stderr,
		        "terminus-load: starting %d API and %d worker processes (logs in %s)\n",
		        o->spawn_apis, o->spawn_workers, oo.log_dir);
		if (!start_fleet(&oo, &fleet, R))
			goto out;
	}
	for (int i = 0; i < o->napis; i++)
		R->apis[R->napis++] = o->apis[i];
	if (R->napis == 0)
		R->apis[R->napis++] = "http://127.0.0.1:8080";
	if (!oo.operator_key) {
		fprintf(stderr,
		        "terminus-load: the run creates its own stores: give --operator-key "
		        "or TERMINUS_OPERATOR_KEY\n");
		goto out;
	}

	R->nstores = o->stores;
	R->stores = xcalloc((size_t)R->nstores, sizeof(*R->stores));
	for (int i = 0; i < R->nstores; i++) {
		if (!setup_store(R, R->apis[0], i))
			goto out;
	}
	if (o->scenario == SC_CHECKOUT && !make_orders(R))
		goto out;
	if (o->scenario == SC_CHECKOUT && !prepare_only && o->check)
		settle(R);
	R->units = o->stock * o->products * o->stores;
	plan_streams(R);
	stats_init(&R->stats, R->nstores, o->live);
	if (o->scenario == SC_SURGE) {
		surge_init(&surge, o->rate, o->surge_factor, o->warmup_s, o->before_s, o->surge_s,
		           o->after_s);
		R->surge = &surge;
	}
	R->eng = http_engine_new(o->concurrency);
	if (use_chaos) {
		struct chaos_opts copts = {o->kill_interval_s, o->api_restarts, o->api_down_s,
		                           o->pg_restarts, o->pg_down_s};

		pgctl_init(&pg, o->pg_dir);
		chaos_init(&chaos, &copts, &fleet, o->pg_dir ? &pg : NULL, o->seed, mono_now(),
		           o->duration_s);
		chaos_on = true;
	}

	if (prepare_only)
		R->stats.t_start = R->stats.t_end = mono_now();
	else if (o->scenario == SC_CHECKOUT)
		run_closed(R);
	else
		run_load(R, use_chaos ? &chaos : NULL);
	if (use_chaos)
		chaos_ok = chaos_finish(&chaos);
	if (o->scenario == SC_FLASH_SALE && R->c.checkouts_acked > (uint64_t)R->units)
		ledger_violation(&R->ledger, "no_oversell",
		                 "%" PRIu64 " checkouts acknowledged for %lld units",
		                 R->c.checkouts_acked, R->units);

	slugs = xcalloc((size_t)R->nstores, sizeof(*slugs));
	names = xcalloc((size_t)R->nstores, sizeof(*names));
	for (int i = 0; i < R->nstores; i++)
		slugs[i] = names[i] = R->stores[i].slug;
	print_header(R, stdout);
	if (!prepare_only)
		stats_print(&R->stats, stdout, names);
	print_counts(R, stdout);
	if (R->surge)
		surge_print(R->surge, stdout);
	if (use_chaos)
		printf("chaos       %d worker SIGKILLs, %d API SIGKILLs (%d restarts), %d PostgreSQL "
		       "restarts (pg_ctl stop -m immediate)%s\n",
		       chaos.worker_kills, chaos.api_kills, chaos.api_restarts_done,
		       chaos.pg_restarts_done, chaos_ok ? "" : "; NOT EVERYTHING CAME BACK");
	fflush(stdout);

	status = 0;
	if (o->scenario == SC_CHECKOUT && stop_requested && o->check) {
		/* A measurement cut short (make bench interrupted): nothing to prove, and its
		 * workers may be gone with the same Ctrl-C, so a drain would only wait. */
		printf("invariants  not checked: interrupted\n");
		status = 2;
	} else if (o->check && !prepare_only) {
		enum check_status cs;

		co.db = oo.db;
		co.store_slugs = slugs;
		co.nstores = (size_t)R->nstores;
		co.ledger = &R->ledger;
		co.drain_timeout_s = o->drain_timeout_s;
		co.live = o->live;
		cs = check_run(&co, stdout, &check_j);
		status = cs == CHECK_OK ? 0 : cs == CHECK_VIOLATED ? 1 : 2;
		if (cs != CHECK_OK && fleet.n == 0 && R->stats.op[OP_CHECKOUT].hist.count > 0 &&
		    !json_is_true(json_object_get(json_object_get(check_j, "drain"), "drained")))
			printf("            (is a terminus-worker running? --workers N starts some)\n");
		if (o->scenario == SC_NOISY_TENANT)
			lag = check_confirm_lag(&co, stdout);
	}
	if (!prepare_only && R->stats.all.hist.count == R->stats.all.status[0]) {
		fprintf(stderr, "terminus-load: no request was answered\n");
		if (status == 0)
			status = 2;
	}
	if (!chaos_ok && status == 0)
		status = 2;
	if (stop_requested)
		fprintf(stderr, "terminus-load: interrupted\n");

	if (o->json_path) {
		json_t *stores = json_array();

		for (int i = 0; i < R->nstores; i++) {
			json_t *prods = json_array();

			for (int k = 0; k < R->stores[i].nproducts; k++)
				json_array_append_new(prods, json_string(R->stores[i].products[k]));
			json_array_append_new(
			        stores,
			        json_pack("{s:s,s:s,s:s,s:o}", "slug", R->stores[i].slug, "id",
			                  R->stores[i].id, "path",
			                  R->stores[i].sync ? "sync" : "async", "products", prods));
		}
		report = stats_json(&R->stats, names);
		json_object_set_new(report, "scenario", json_string(o->name));
		json_object_set_new(report, "seed", json_integer((json_int_t)o->seed));
		json_object_set_new(report, "config",
		                    json_pack("{s:f,s:f,s:i,s:i,s:i,s:I,s:s,s:i,s:s}", "duration_s",
		                              o->duration_s, "rate", o->rate, "concurrency",
		                              o->concurrency, "stores", o->stores, "products",
		                              o->products, "stock", (json_int_t)o->stock, "path",
		                              o->path, "retries", o->retries, "loop",
		                              o->scenario == SC_CHECKOUT ? "closed" : "open"));
		if (o->scenario == SC_CHECKOUT)
			json_object_set_new(json_object_get(report, "config"), "orders",
			                    json_integer((json_int_t)o->orders));
		if (R->surge) {
			json_object_update_new(
			        json_object_get(report, "config"),
			        json_pack("{s:f,s:f,s:f,s:f,s:f}", "warmup_s", o->warmup_s,
			                  "before_s", o->before_s, "surge_s", o->surge_s, "after_s",
			                  o->after_s, "surge_factor", o->surge_factor));
			json_object_set_new(report, "surge", surge_json(R->surge));
		}
		json_object_set_new(report, "store_setup", stores);
		json_object_set_new(report, "counts", counts_json(R));
		json_object_set_new(report, "check", check_j ? json_incref(check_j) : json_null());
		if (lag)
			json_object_set_new(report, "confirm_lag", json_incref(lag));
		if (use_chaos)
			json_object_set_new(report, "chaos", chaos_json(&chaos));
	}
out:
	if (fleet.n > 0) {
		fleet_stop_all(&fleet, 15);
		if (report)
			json_object_set_new(report, "processes", fleet_json(&fleet));
	}
	if (report) {
		json_object_set_new(report, "exit_status", json_integer(status));
		if (!write_json(o->json_path, report) && status == 0)
			status = 2;
	}
	if (o->ledger_path && R->ledger.n > 0 && !ledger_write(&R->ledger, o->ledger_path) &&
	    status == 0)
		status = 2;
	if (chaos_on)
		chaos_release(&chaos);
	if (R->eng)
		http_engine_free(R->eng, NULL, NULL);
	json_decref(report);
	json_decref(check_j);
	json_decref(lag);
	for (int i = 0; R->stores && i < R->nstores; i++)
		free(R->stores[i].products);
	free(R->stores);
	for (int i = 0; i < R->nstreams; i++) {
		free(R->streams[i].created.e);
		free(R->streams[i].checked.e);
	}
	free(slugs);
	free(names);
	free(R->orders);
	if (R->stats.store)
		stats_release(&R->stats);
	if (R->surge)
		surge_release(R->surge);
	ledger_release(&R->ledger);
	fleet_release(&fleet);
	return status;
}
