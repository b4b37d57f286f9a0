/*
 * itest_trace.c — one trace across the async boundary (issue 4): a W3C traceparent sent at
 * checkout (or a trace the API starts) is answered in X-Trace-Id, is the trace_id of the API's
 * log lines for the request, is stored with every outbox event the request causes (with a span
 * of the API's own), and is the trace_id of every worker log line about those events — every
 * attempt, retries included — so one grep of the trace id shows the checkout from request to
 * confirmation. The order's timeline shows it too: each entry's trace_id, the worker's
 * confirmation included.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "harness.h"
#include "fixtures.h"
#include "procs.h"
#include "banned.h"

#define MAX_EVENTS 16

static int teardown(void **state)
{
	(void)state;
	p_stop_all();
	return 0;
}

/* ---- trace ids ------------------------------------------------------------------------------- */

static void random_hex(char *out, size_t digits)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char buf[32];
	int fd = open("/dev/urandom", O_RDONLY);

	H_CHECK(fd >= 0 && digits <= 2 * sizeof(buf) &&
	                read(fd, buf, (digits + 1) / 2) == (ssize_t)((digits + 1) / 2),
	        "cannot read /dev/urandom");
	close(fd);
	for (size_t i = 0; i < digits; i++)
		out[i] = hex[(buf[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[digits] = '\0';
	if (strspn(out, "0") == digits)
		out[0] = '1'; /* all zeros is invalid */
}

static bool is_lower_hex(const char *s, size_t n)
{
	if (s == NULL || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return strspn(s, "0") != n;
}

/* A stored traceparent: version 00, lowercase hex, non-zero ids; writes its trace and span. */
static void expect_traceparent(const char *tp, const char *what, char trace[33], char span[17])
{
	H_CHECK(tp != NULL && strlen(tp) == 55 && strncmp(tp, "00-", 3) == 0 && tp[35] == '-' &&
	                tp[52] == '-',
	        "%s: traceparent %s is not 00-<32 hex>-<16 hex>-<2 hex>", what, tp ? tp : "(null)");
	memcpy(trace, tp + 3, 32);
	trace[32] = '\0';
	memcpy(span, tp + 36, 16);
	span[16] = '\0';
	H_CHECK(is_lower_hex(trace, 32) && is_lower_hex(span, 16),
	        "%s: traceparent %s has invalid ids", what, tp);
}

/* ---- requests with a traceparent ------------------------------------------------------------- */

/* POST with an optional traceparent header and a fresh X-Request-Id (written to rid). */
static void post_traced(struct resp *r, const char *path, const char *body, const char *idem,
                        const char *traceparent, char rid[64])
{
	struct h_req q = {0};
	char line[200];
	const char *headers[] = {line, NULL};

	h_unique_key(rid, 64, "trace-req");
	snprintf(line, sizeof(line), "traceparent: %s", traceparent ? traceparent : "");
	q.method = "POST";
	q.path = path;
	q.body = body;
	q.idem_key = idem;
	q.request_id = rid;
	q.headers = traceparent ? headers : NULL;
	H_CHECK(h_request(&q, r), "POST %s: %s", path, r->error);
}

static void must_create_order_traced(const struct h_store *s, const char *pid, int quantity,
                                     const char *traceparent, char id[H_ID_LEN], char rid[64])
{
	struct resp r = {0};
	char path[128], body[200];

	snprintf(path, sizeof(path), "/v1/stores/%s/orders", s->slug);
	snprintf(body, sizeof(body),
	         "{\"items\":[{\"product_id\":\"%s\",\"quantity\":%d}],"
	         "\"customer_email\":\"trace@example.com\"}",
	         pid, quantity);
	post_traced(&r, path, body, NULL, traceparent, rid);
	H_STATUS(&r, 201);
	snprintf(id, H_ID_LEN, "%s", h_jstr(r.json, "id"));
	resp_release(&r);
}

/* Checks out with that traceparent (NULL: none); asserts the status and writes X-Trace-Id. */
static void must_checkout_traced(const struct h_store *s, const char *order, const char *tp,
                                 long status, char trace[33], char rid[64])
{
	struct resp r = {0};
	char path[160], key[80];
	const char *x;

	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/checkout", s->slug, order);
	h_unique_key(key, sizeof(key), "trace-co");
	post_traced(&r, path, "{\"payment_token\":\"tok_ok\"}", key, tp, rid);
	H_STATUS(&r, status);
	x = resp_header(&r, "X-Trace-Id");
	H_CHECK(x != NULL, "checkout answer without X-Trace-Id");
	snprintf(trace, 33, "%s", x);
	H_CHECK(strlen(x) == 32, "X-Trace-Id %s is not 32 characters", x);
	resp_release(&r);
}

/* ---- logs ------------------------------------------------------------------------------------ */

/* Every JSON line of a log file (lines that do not parse are skipped). */
struct log_lines {
	json_t **v;
	size_t n;
};

static void log_read(const char *path, struct log_lines *out)
{
	char *text = p_read_file(path, NULL), *p, *nl;
	size_t cap = 0;

	out->v = NULL;
	out->n = 0;
	H_CHECK(text != NULL, "cannot read %s", path);
	for (p = text; *p != '\0'; p = nl + 1) {
		json_t *j;

		nl = strchr(p, '\n');
		if (nl == NULL)
			break; /* a line still being written */
		*nl = '\0';
		j = json_loads(p, 0, NULL);
		if (j == NULL)
			continue;
		if (out->n == cap) {
			cap = cap ? 2 * cap : 256;
			out->v = realloc(out->v, cap * sizeof(*out->v));
			H_CHECK(out->v != NULL, "out of memory");
		}
		out->v[out->n++] = j;
	}
	free(text);
}

static void log_free(struct log_lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		json_decref(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool field_is(const json_t *line, const char *key, const char *value)
{
	const char *v = json_string_value(json_object_get(line, key));

	return v != NULL && value != NULL && strcmp(v, value) == 0;
}

/* Lines about event id: every one must carry the trace; returns how many there are. */
static size_t expect_event_lines_traced(const struct log_lines *l, const char *event_id,
                                        const char *trace, const char *log)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (!field_is(l->v[i], "event_id", event_id))
			continue;
		n++;
		if (!field_is(l->v[i], "trace_id", trace)) {
			char *s = json_dumps(l->v[i], JSON_COMPACT);

			H_FAIL("%s: a line about event %s without trace_id %s: %s", log, event_id,
			       trace, s);
		}
	}
	return n;
}

/* "event handled" lines for the event with that outcome (NULL: any) and attempt (0: any). */
static size_t handled(const struct log_lines *l, const char *event_id, const char *outcome,
                      int attempt)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++) {
		const json_t *j = l->v[i];

		if (field_is(j, "msg", "event handled") && field_is(j, "event_id", event_id) &&
		    (outcome == NULL || field_is(j, "outcome", outcome)) &&
		    (attempt == 0 || json_integer_value(json_object_get(j, "attempt")) == attempt))
			n++;
	}
	return n;
}

/* Polls the worker log until every event has its "done" line (the line follows the commit). */
static void wait_done_lines(const char *log, char (*ids)[40], size_t n)
{
	double deadline = h_now() + 10;

	for (;;) {
		struct log_lines l;
		size_t have = 0;

		log_read(log, &l);
		for (size_t i = 0; i < n; i++)
			have += handled(&l, ids[i], "done", 0) > 0;
		log_free(&l);
		if (have == n)
			return;
		if (h_now() > deadline) {
			p_show_log_tail(log, 20);
			H_FAIL("%zu of %zu events have a \"done\" line in %s after 10 s", have, n,
			       log);
		}
		h_sleep_ms(20);
	}
}

/* The API's request line (msg "request") for that X-Request-Id; its trace_id must be trace. */
static void expect_request_line(const char *rid, const char *route, long status, const char *trace)
{
	double deadline = h_now() + 5;

	for (;;) {
		struct log_lines l;
		const json_t *hit = NULL;

		log_read(h_env.log, &l);
		for (size_t i = 0; i < l.n; i++) {
			if (field_is(l.v[i], "request_id", rid)) {
				/* Every API line of the request carries the trace. */
				if (!field_is(l.v[i], "trace_id", trace)) {
					char *s = json_dumps(l.v[i], JSON_COMPACT);

					H_FAIL("API line of request %s without trace_id %s: %s",
					       rid, trace, s);
				}
				if (field_is(l.v[i], "msg", "request"))
					hit = l.v[i];
			}
		}
		if (hit != NULL) {
			H_CHECK(field_is(hit, "route", route), "request %s: route %s, want %s", rid,
			        json_string_value(json_object_get(hit, "route")), route);
			H_CHECK(json_integer_value(json_object_get(hit, "status")) == status,
			        "request %s: status %lld, want %ld", rid,
			        (long long)json_integer_value(json_object_get(hit, "status")),
			        status);
			log_free(&l);
			return;
		}
		log_free(&l);
		/* The line is written when the response is complete: poll for it. */
		H_CHECK(h_now() < deadline, "no request line for X-Request-Id %s in the API log",
		        rid);
		h_sleep_ms(20);
	}
}

/* ---- the order's events ---------------------------------------------------------------------- */

struct order_events {
	size_t n;
	char id[MAX_EVENTS][40];
	char type[MAX_EVENTS][40];
	char to[MAX_EVENTS][24]; /* OrderStatusChanged: the new status */
	char tp[MAX_EVENTS][64]; /* stored traceparent, "" for NULL */
	int attempts[MAX_EVENTS];
};

static void read_events(const char *order_id, struct order_events *ev)
{
	PGresult *r;
	const char *params[1] = {order_id};

	memset(ev, 0, sizeof(*ev));
	r = PQexecParams(h_db(),
	                 "SELECT id, type, coalesce(payload->>'to', ''), "
	                 "       coalesce(traceparent, ''), attempts "
	                 "FROM outbox_events WHERE aggregate_id = $1 ORDER BY created_at, id",
	                 1, NULL, params, NULL, NULL, 0);
	H_CHECK(PQresultStatus(r) == PGRES_TUPLES_OK, "reading events: %s",
	        PQresultErrorMessage(r));
	H_CHECK(PQntuples(r) <= MAX_EVENTS, "%d events for one order", PQntuples(r));
	for (int i = 0; i < PQntuples(r); i++) {
		snprintf(ev->id[i], sizeof(ev->id[i]), "%s", PQgetvalue(r, i, 0));
		snprintf(ev->type[i], sizeof(ev->type[i]), "%s", PQgetvalue(r, i, 1));
		snprintf(ev->to[i], sizeof(ev->to[i]), "%s", PQgetvalue(r, i, 2));
		snprintf(ev->tp[i], sizeof(ev->tp[i]), "%s", PQgetvalue(r, i, 3));
		ev->attempts[i] = (int)strtol(PQgetvalue(r, i, 4), NULL, 10);
	}
	ev->n = (size_t)PQntuples(r);
	PQclear(r);
}

/* Index of the event of that type (and, for OrderStatusChanged, new status), or -1. */
static int find_event(const struct order_events *ev, const char *type, const char *to)
{
	for (size_t i = 0; i < ev->n; i++) {
		if (strcmp(ev->type[i], type) == 0 && (to == NULL || strcmp(ev->to[i], to) == 0))
			return (int)i;
	}
	return -1;
}

static void wait_order_settled(const struct h_store *s, const char *order, const char *log)
{
	long long left = -1;

	if (!p_wait_order_status(s, order, "confirmed", 20, NULL)) {
		p_show_log_tail(log, 20);
		H_FAIL("order %s not confirmed within 20 s", order);
	}
	if (!p_wait_db(20, &left, "==", 0,
	               "SELECT count(*) FROM outbox_events WHERE aggregate_id = $1 "
	               "AND status <> 'done'",
	               order, NULL)) {
		p_show_log_tail(log, 20);
		H_FAIL("%lld events of order %s not done within 20 s", left, order);
	}
}

/*
 * The events a checkout caused — PaymentAuthorized, OrderStatusChanged to payment_authorized
 * and to confirmed — store the trace (with a span that is not the caller's, and the same span
 * for the events one request wrote), and every worker line about them carries it. Returns the
 * PaymentAuthorized event's index. sync_confirmation: the request itself captured and confirmed
 * (a sync checkout answered 200), so the worker only counts the status changes.
 */
static int expect_checkout_events_traced(const char *order, const char *trace,
                                         const char *caller_span, const char *wlog,
                                         struct order_events *ev, bool sync_confirmation)
{
	static const char *const what[][2] = {{"PaymentAuthorized", NULL},
	                                      {"OrderStatusChanged", "payment_authorized"},
	                                      {"OrderStatusChanged", "confirmed"}};
	struct log_lines l;
	char ids[3][40];
	char span_pa[17] = "";
	int pa = -1;

	read_events(order, ev);
	for (int k = 0; k < 3; k++) {
		int i = find_event(ev, what[k][0], what[k][1]);

		H_CHECK(i >= 0, "order %s has no %s %s event", order, what[k][0],
		        what[k][1] ? what[k][1] : "");
		snprintf(ids[k], sizeof(ids[k]), "%s", ev->id[i]);
	}
	/* The worker's "done" lines (the PaymentAuthorized one only when the worker captured). */
	if (sync_confirmation)
		wait_done_lines(wlog, ids + 1, 2);
	else
		wait_done_lines(wlog, ids, 3);
	log_read(wlog, &l);
	for (int k = 0; k < 3; k++) {
		int i = find_event(ev, what[k][0], what[k][1]);
		char t[33], sp[17], what_s[120];

		snprintf(what_s, sizeof(what_s), "event %s (%s %s)", ev->id[i], what[k][0],
		         what[k][1] ? what[k][1] : "");
		expect_traceparent(ev->tp[i][0] ? ev->tp[i] : NULL, what_s, t, sp);
		H_CHECK(strcmp(t, trace) == 0, "%s: stored trace %s, want %s", what_s, t, trace);
		H_CHECK(caller_span == NULL || strcmp(sp, caller_span) != 0,
		        "%s: stored the caller's span %s, not one of the API's", what_s, sp);
		H_CHECK(strcmp(ev->tp[i] + 53, "01") == 0, "%s: flags %s, the caller sent 01",
		        what_s, ev->tp[i] + 53);
		if (k == 0) {
			pa = i;
			snprintf(span_pa, sizeof(span_pa), "%s", sp);
		} else if (k == 1) {
			/* Written by the same request: the same span. */
			H_CHECK(strcmp(sp, span_pa) == 0,
			        "%s: span %s differs from the PaymentAuthorized event's %s", what_s,
			        sp, span_pa);
		}
		H_CHECK(expect_event_lines_traced(&l, ev->id[i], trace, wlog) > 0 ||
		                strcmp(what[k][0], "PaymentAuthorized") == 0,
		        "no worker line about %s", what_s);
		if (strcmp(what[k][0], "OrderStatusChanged") == 0)
			H_CHECK(handled(&l, ev->id[i], "done", 0) == 1,
			        "%s: %zu \"done\" lines, want 1", what_s,
			        handled(&l, ev->id[i], "done", 0));
	}
	log_free(&l);
	return pa;
}

/* ---- tests ----------------------------------------------------------------------------------- */

/* The caller's trace, through capture retries, to the confirmation. */
static void test_async_trace_through_retries(void **state)
{
	struct h_store s;
	struct p_worker w;
	struct p_worker_opts o = {.retry_base_ms = 20, .max_attempts = 20};
	struct order_events ev;
	struct log_lines wl, al;
	char pid[H_ID_LEN], order[H_ID_LEN], trace[33], span[17], span2[17], tp[64], tp2[64];
	char got[33], rid_create[64], rid_co[64];
	long long v = -1;
	int pa, attempts;

	(void)state;
	random_hex(trace, 32);
	random_hex(span, 16);
	random_hex(span2, 16);
	snprintf(tp, sizeof(tp), "00-%s-%s-01", trace, span);
	snprintf(tp2, sizeof(tp2), "00-%s-%s-01", trace, span2);
	h_must_create_store(&s, "trace-async");
	h_must_create_product(&s, 1250, 100, pid);
	/* Every capture fails until the flag goes off: at least one retry is certain. The worker
	 * starts after the change, so it sees it from its first attempt. */
	p_must_set_flag(&s, "chaos.payment_capture_fail", true, 100);
	H_CHECK(p_worker_start(&w, "trace-async", &o), "worker did not start");

	must_create_order_traced(&s, pid, 2, tp, order, rid_create);
	must_checkout_traced(&s, order, tp2, 202, got, rid_co);
	H_CHECK(strcmp(got, trace) == 0, "X-Trace-Id %s, the caller's trace is %s", got, trace);

	if (!p_wait_db(20, &v, ">=", 2,
	               "SELECT attempts FROM outbox_events WHERE aggregate_id = $1 "
	               "AND type = 'PaymentAuthorized' AND status = 'pending'",
	               order, NULL)) {
		p_show_log_tail(w.log, 20);
		H_FAIL("the capture did not fail twice within 20 s (attempts %lld)", v);
	}
	p_must_set_flag(&s, "chaos.payment_capture_fail", false, 100);
	wait_order_settled(&s, order, w.log);

	/* The API: both requests' lines carry the trace. */
	expect_request_line(rid_create, "/v1/stores/{store}/orders", 201, trace);
	expect_request_line(rid_co, "/v1/stores/{store}/orders/{id}/checkout", 202, trace);

	/* The stored contexts and the worker's lines. */
	pa = expect_checkout_events_traced(order, trace, span2, w.log, &ev, false);
	{
		int created = find_event(&ev, "OrderStatusChanged", "pending");
		char t[33], sp[17];

		H_CHECK(created >= 0, "no OrderStatusChanged event for the creation");
		expect_traceparent(ev.tp[created][0] ? ev.tp[created] : NULL, "creation event", t,
		                   sp);
		H_CHECK(strcmp(t, trace) == 0 && strcmp(sp, span) != 0,
		        "creation event: traceparent %s for the caller's %s", ev.tp[created], tp);
	}
	attempts = ev.attempts[pa];
	H_CHECK(attempts >= 3, "PaymentAuthorized took %d attempts, want ≥ 3 (2 failed)", attempts);
	log_read(w.log, &wl);
	/* Every attempt has its line, with the trace: the failures, then the confirmation. */
	for (int a = 1; a <= attempts; a++) {
		const char *want = a < attempts ? "retry" : "done";

		H_CHECK(handled(&wl, ev.id[pa], want, a) == 1,
		        "attempt %d of PaymentAuthorized %s: %zu \"%s\" lines, want 1", a,
		        ev.id[pa], handled(&wl, ev.id[pa], want, a), want);
	}
	H_CHECK(expect_event_lines_traced(&wl, ev.id[pa], trace, w.log) >= (size_t)attempts,
	        "fewer worker lines than attempts for the PaymentAuthorized event");

	/* One grep of the trace id: request → retries → confirmation, across both logs. */
	log_read(h_env.log, &al);
	{
		size_t api_lines = 0, retries = 0, warnings = 0, done_pa = 0, confirmed = 0;
		int conf = find_event(&ev, "OrderStatusChanged", "confirmed");

		for (size_t i = 0; i < al.n; i++)
			api_lines += field_is(al.v[i], "trace_id", trace);
		for (size_t i = 0; i < wl.n; i++) {
			const json_t *j = wl.v[i];
			char *text = json_dumps(j, JSON_COMPACT);
			bool has = text != NULL && strstr(text, trace) != NULL;

			free(text);
			if (!has)
				continue;
			if (field_is(j, "event_id", ev.id[pa])) {
				retries += field_is(j, "outcome", "retry");
				done_pa += field_is(j, "outcome", "done");
				warnings += field_is(j, "level", "warn");
			}
			confirmed += field_is(j, "event_id", ev.id[conf]) &&
			             field_is(j, "outcome", "done");
		}
		print_message("[          ] trace %s: %zu API lines; worker: %zu retries, %zu "
		              "warnings, %zu capture done, %zu confirmation counted\n",
		              trace, api_lines, retries, warnings, done_pa, confirmed);
		H_CHECK(api_lines >= 2, "%zu API lines with the trace", api_lines);
		H_CHECK(retries == (size_t)attempts - 1 && warnings >= (size_t)attempts - 1,
		        "grep: %zu retry lines and %zu warnings for %d failed attempts", retries,
		        warnings, attempts - 1);
		H_CHECK(done_pa == 1 && confirmed == 1,
		        "grep: %zu capture-done and %zu confirmation lines", done_pa, confirmed);
	}
	log_free(&al);
	log_free(&wl);
	/* The timeline carries it too. */
	H_CHECK(h_db_ll("SELECT count(*) FROM order_events WHERE order_id = $1 "
	                "AND substr(traceparent, 4, 32) IS DISTINCT FROM $2",
	                order, trace, NULL) == 0,
	        "timeline rows of order %s without the trace", order);
	/* And the API shows it: every entry's trace_id, the worker's confirmation included. */
	{
		json_t *ord = h_must_get_order(&s, order), *e;
		size_t i, n = json_array_size(h_j(ord, "timeline"));

		H_CHECK(n == 3,
		        "order %s: %zu timeline entries, want created, authorized, confirmed",
		        order, n);
		json_array_foreach(h_j(ord, "timeline"), i, e)
		{
			const char *tid = h_jstr(e, "trace_id");

			H_CHECK(tid != NULL && strcmp(tid, trace) == 0,
			        "order %s: timeline[%zu] (to %s) has trace_id %s, want %s", order,
			        i, h_jstr(e, "to"), tid ? tid : "null", trace);
		}
		json_decref(ord);
	}
	H_CHECK(p_worker_term(&w, 10.0, NULL) == 0, "worker: SIGTERM gave %s",
	        p_worker_describe(&w));
}

/* No traceparent, or one that is not valid: the API starts a trace of its own. */
static void test_invalid_traceparent_starts_a_new_trace(void **state)
{
	char t[33], sp[17], upper[33];
	char bad[8][80];
	const char *cases[9];
	size_t ncases = 0;
	struct h_store s;
	struct p_worker w;
	char pid[H_ID_LEN], orders[9][H_ID_LEN], traces[9][33], rids[9][64];

	(void)state;
	random_hex(t, 32);
	random_hex(sp, 16);
	for (int i = 0; i < 32; i++)
		upper[i] = (char)(t[i] >= 'a' && t[i] <= 'f' ? t[i] - 'a' + 'A' : t[i]);
	upper[32] = '\0';
	if (strcmp(upper, t) == 0)
		upper[0] = 'A'; /* make sure there is an uppercase digit */
	snprintf(bad[0], sizeof(bad[0]), "ff-%s-%s-01", t, sp);     /* forbidden version */
	snprintf(bad[1], sizeof(bad[1]), "00-%032d-%s-01", 0, sp);  /* all-zero trace id */
	snprintf(bad[2], sizeof(bad[2]), "00-%s-%s-01", upper, sp); /* uppercase hex */
	snprintf(bad[3], sizeof(bad[3]), "00-%.31s-%s-01", t, sp);  /* trace id too short */
	snprintf(bad[4], sizeof(bad[4]), "00-%s-%s-01-00", t, sp);  /* too long for 00 */
	snprintf(bad[5], sizeof(bad[5]), "00-%s-%016d-01", t, 0);   /* all-zero span id */
	snprintf(bad[6], sizeof(bad[6]), "00-%s-%.15sx-01", t, sp); /* not hex */
	snprintf(bad[7], sizeof(bad[7]), "%s", "not a traceparent");
	cases[ncases++] = NULL; /* no header */
	for (int i = 0; i < 8; i++)
		cases[ncases++] = bad[i];

	h_must_create_store(&s, "trace-bad");
	h_must_create_product(&s, 700, 100, pid);
	H_CHECK(p_worker_start(&w, "trace-bad", &(struct p_worker_opts){.retry_base_ms = 20}),
	        "worker did not start");
	for (size_t c = 0; c < ncases; c++) {
		h_must_create_order(&s, pid, 1, orders[c]);
		must_checkout_traced(&s, orders[c], cases[c], 202, traces[c], rids[c]);
		H_CHECK(is_lower_hex(traces[c], 32),
		        "traceparent %s: X-Trace-Id %s is not 32 lowercase hex digits",
		        cases[c] ? cases[c] : "(none)", traces[c]);
		H_CHECK(strcasecmp(traces[c], t) != 0 && strstr(traces[c], t) == NULL,
		        "invalid traceparent %s was continued (X-Trace-Id %s)",
		        cases[c] ? cases[c] : "(none)", traces[c]);
		for (size_t d = 0; d < c; d++)
			H_CHECK(strcmp(traces[c], traces[d]) != 0,
			        "two checkouts got the same new trace %s", traces[c]);
	}
	for (size_t c = 0; c < ncases; c++) {
		struct order_events ev;
		char what[160];

		snprintf(what, sizeof(what), "traceparent %s", cases[c] ? cases[c] : "(none)");
		wait_order_settled(&s, orders[c], w.log);
		expect_request_line(rids[c], "/v1/stores/{store}/orders/{id}/checkout", 202,
		                    traces[c]);
		expect_checkout_events_traced(orders[c], traces[c], NULL, w.log, &ev, false);
	}
	print_message("[          ] %zu checkouts without a valid traceparent: each a new trace, "
	              "the same in X-Trace-Id, the API log, the outbox and the worker log\n",
	              ncases);
	H_CHECK(p_worker_term(&w, 10.0, NULL) == 0, "worker: SIGTERM gave %s",
	        p_worker_describe(&w));
}

/* A sync checkout: the trace in the API's own lines for the event (its failed capture), and
 * in the worker's when the worker finishes what the request could not. */
static void test_sync_checkout_carries_the_trace(void **state)
{
	struct h_store s;
	struct p_worker w;
	struct order_events ev;
	char pid[H_ID_LEN], order[H_ID_LEN], trace[33], span[17], tp[64], got[33], rid[64];
	long long v = -1;
	int pa;

	(void)state;
	h_must_create_store(&s, "trace-sync");
	h_must_create_product(&s, 900, 100, pid);
	h_must_set_flag(&s, "checkout.async_enabled", false);
	H_CHECK(p_worker_start(&w, "trace-sync",
	                       &(struct p_worker_opts){.retry_base_ms = 20, .max_attempts = 20}),
	        "worker did not start");

	/* 1. The capture goes through inside the request: 200, confirmed. */
	random_hex(trace, 32);
	random_hex(span, 16);
	snprintf(tp, sizeof(tp), "00-%s-%s-01", trace, span);
	h_must_create_order(&s, pid, 1, order);
	must_checkout_traced(&s, order, tp, 200, got, rid);
	H_CHECK(strcmp(got, trace) == 0, "X-Trace-Id %s, want %s", got, trace);
	wait_order_settled(&s, order, w.log);
	expect_request_line(rid, "/v1/stores/{store}/orders/{id}/checkout", 200, trace);
	expect_checkout_events_traced(order, trace, span, w.log, &ev, true);

	/* 2. The capture fails inside the request (the API that served the flag change sees it
	 * at once): 202, and the API's own log line about the event's failed attempt carries the
	 * trace; the worker, once the provider recovers, finishes it under the same trace. */
	random_hex(trace, 32);
	random_hex(span, 16);
	snprintf(tp, sizeof(tp), "00-%s-%s-01", trace, span);
	h_must_create_order(&s, pid, 1, order);
	p_must_set_flag(&s, "chaos.payment_capture_fail", true, 100);
	must_checkout_traced(&s, order, tp, 202, got, rid);
	H_CHECK(strcmp(got, trace) == 0, "X-Trace-Id %s, want %s", got, trace);
	p_must_set_flag(&s, "chaos.payment_capture_fail", false, 100);
	wait_order_settled(&s, order, w.log);
	expect_request_line(rid, "/v1/stores/{store}/orders/{id}/checkout", 202, trace);
	pa = expect_checkout_events_traced(order, trace, span, w.log, &ev, false);
	H_CHECK(ev.attempts[pa] >= 2, "the sync attempt was not recorded (%d attempts)",
	        ev.attempts[pa]);
	{
		struct log_lines al;
		size_t lines = 0;

		log_read(h_env.log, &al);
		lines = expect_event_lines_traced(&al, ev.id[pa], trace, "API log");
		for (size_t i = 0; i < al.n; i++) {
			if (field_is(al.v[i], "event_id", ev.id[pa]) &&
			    !field_is(al.v[i], "request_id", rid)) {
				char *text = json_dumps(al.v[i], JSON_COMPACT);

				H_FAIL("API line about event %s outside request %s: %s", ev.id[pa],
				       rid, text);
			}
		}
		log_free(&al);
		H_CHECK(lines >= 1, "no API log line about the failed sync attempt of event %s",
		        ev.id[pa]);
	}
	{
		struct log_lines wl;

		log_read(w.log, &wl);
		H_CHECK(handled(&wl, ev.id[pa], "done", ev.attempts[pa]) == 1,
		        "the worker did not finish attempt %d of event %s", ev.attempts[pa],
		        ev.id[pa]);
		log_free(&wl);
	}
	(void)v;
	H_CHECK(p_worker_term(&w, 10.0, NULL) == 0, "worker: SIGTERM gave %s",
	        p_worker_describe(&w));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_async_trace_through_retries, teardown),
	        cmocka_unit_test_teardown(test_invalid_traceparent_starts_a_new_trace, teardown),
	        cmocka_unit_test_teardown(test_sync_checkout_carries_the_trace, teardown),
	};

	return H_RUN_SUITE("itest_trace", tests, NULL, NULL);
}
