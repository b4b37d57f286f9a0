/*
 * scenario_flows.c — the client flows: what a user arriving does, request after request, and
 * what each answer means to it (see scenario.h for the open loop they run in).
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
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "scenario_internal.h"
#include "surge.h"
#include "banned.h"

#define RING_CAP 4096 /* orders remembered per stream for later checkouts / cancels */

/* One user's doings, alive while it has requests outstanding. */
struct flow {
	struct run *run;
	enum flow_kind kind;
	struct stream *stream;
	int refs; /* requests outstanding */
	int store;
	char src[16]; /* its source address ("": the kernel's): one customer, one address */
	char order_id[37];
	char key[64];
	int attempts; /* retries so far */
	/* retry-storm */
	int phase; /* 0 create, 1 resolving the checkout, 2 extra probes */
	bool have_final;
	long final_status;
	char *final_body;
};

/* ---- small helpers --------------------------------------------------------------------------- */

/* The next API for r (round robin), and r's source address: its flow's, when that API is on a
 * loopback address (elsewhere a 127.x source cannot reach it). */
static void target(struct run *R, const struct flow *f, struct http_req *r)
{
	unsigned i = R->api_rr++ % (unsigned)R->napis;

	r->base = R->apis[i];
	snprintf(r->src, sizeof(r->src), "%s", R->api_loopback[i] ? f->src : "");
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
	if (s && s->src)
		snprintf(f->src, sizeof(f->src), "%s", s->src);
	else if (R->client_count > 0)
		cidr_addr(R->client_first, R->client_count, R->client_next++, f->src);
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
	struct http_req *r = http_req_new(NULL, method, path, body);

	r->op = op;
	r->store = f->store;
	r->t_sched = t;
	r->timeout_ms = R->o->timeout_ms;
	r->done = on_done;
	r->arg = f;
	target(R, f, r);
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

/* ---- a flow's start -------------------------------------------------------------------------- */

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

/* abuse and slowloris: one request of a party judged on its own (R->groups). */
static void start_single(struct run *R, struct stream *s, int store, double t)
{
	struct flow *f = flow_new(R, s->kind, s, store);
	const char *slug = R->stores[store].slug;
	char path[160];
	struct http_req *r;

	if (s->kind == FLOW_FLOOD || s->kind == FLOW_PROBE) {
		snprintf(path, sizeof(path), "/v1/stores/%s/products?limit=20", slug);
		submit(R, f,
		       mkreq(R, f, s->kind == FLOW_FLOOD ? OP_FLOOD : OP_BROWSE, "GET", path, NULL,
		             t));
		return;
	}
	/* The admin looks at its orders and its flags in turn; the bad key tries the orders. */
	if (s->kind == FLOW_ADMIN && s->arrivals % 2 == 0)
		snprintf(path, sizeof(path), "/v1/stores/%s/flags", slug);
	else
		snprintf(path, sizeof(path), "/v1/stores/%s/orders?limit=20", slug);
	r = mkreq(R, f, s->kind == FLOW_ADMIN ? OP_ADMIN : OP_BAD_KEY, "GET", path, NULL, t);
	r->auth = s->kind == FLOW_ADMIN ? R->stores[store].key : "nope";
	submit(R, f, r);
}

void start_flow(struct run *R, struct stream *s, double t)
{
	int store = s->store_lo + (int)(s->arrivals % (uint64_t)(s->store_hi - s->store_lo));
	struct flow *f;

	s->arrivals++;
	switch (s->kind) {
	case FLOW_SHOPPER:
		start_shopper(R, s, t);
		return;
	case FLOW_ADMIN:
	case FLOW_FLOOD:
	case FLOW_BAD_KEY:
	case FLOW_PROBE:
		start_single(R, s, store, t);
		return;
	case FLOW_BUYER:
	case FLOW_STORM:
	case FLOW_CLOSED:
		break;
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
	target(R, f, r); /* another API, if there are several */
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

/* ---- checkout: the closed loop --------------------------------------------------------------- */

/* Sends the checkout of the next order made up front, at moment t, with a fresh key; false when
 * none is left, the --duration cap has passed or the run is stopping. src: the client's source
 * address, kept from its previous checkout (NULL: a new client, a new address), so that each of
 * the --concurrency clients is one customer on one kept-alive connection. */
bool start_closed(struct run *R, double t, const char *src)
{
	const struct oref *o;
	struct flow *f;

	if (R->next_order >= R->norders || stop_requested || R->aborting || mono_now() >= R->t_stop)
		return false;
	o = &R->orders[R->next_order++];
	f = flow_new(R, FLOW_CLOSED, NULL, o->store);
	if (src != NULL)
		snprintf(f->src, sizeof(f->src), "%s", src);
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
	start_closed(R, r->t_done, f->src);
}

/* ---- every answer ---------------------------------------------------------------------------- */

/* The engine's callback for every request of every flow: the answer is counted, retried if it
 * calls for it, or handed to its flow; the flow goes with its last outstanding request. */
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
		if (R->groups && f->stream && f->stream->group >= 0)
			stats_cell_record(&R->groups[f->stream->group].cell, r->status,
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
		else if (f->kind == FLOW_STORM)
			storm_done(R, f, r);
	}
	http_req_free(r);
	if (f->refs == 0)
		flow_free(f);
}
