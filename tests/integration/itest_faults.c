/*
 * itest_faults.c — the fault detector (issue 4) through real terminus-worker processes with
 * small thresholds. For every rule: induce its condition, see the fault open in
 * GET /v1/ops/faults?status=open (every field checked) and in the leading worker's /metrics as
 * terminus_faults_open{rule="…"} 1, end the condition, see the same fault (same id) resolved in
 * ?status=resolved and the gauge back at 0.
 *
 *   - outbox_lag: one slow worker (chaos.worker_slow 100 %, one thread) under a checkout load;
 *     chaos off, the backlog drains, every order is confirmed;
 *   - dead_events: capture_fail 100 % with two attempts; an operator's retry of the dead events
 *     resolves it well inside the (30 s) window;
 *   - error_rate (subject: the event type): captures failing with attempts to spare; chaos off,
 *     the retries succeed and the fault resolves inside the (20 s) window;
 *   - payment_failure_rate: declined checkouts against captured ones; resolves once the window
 *     has passed;
 *   - stuck_lease + worker_heartbeat: a worker SIGSTOPped while holding leases, seen by another
 *     worker's detector; SIGCONT resolves both;
 *   - worker_heartbeat: a worker killed with -9 while running is forgotten within a second or
 *     so (its database sessions end with it) and no fault opens for it; a SIGSTOPped one's
 *     fault opens and stays open over many ticks, and resolves once it is killed; a heartbeat
 *     that names no session is forgotten after an hour; meanwhile the store view
 *     GET /v1/stores/{store}/faults shows a store its own faults only (not another store's, not
 *     the platform's) and the routes refuse the wrong keys;
 *   - the invariant audit: each of the five audited invariants (include/core/invariants.h)
 *     planted in the database as the owner, found with the offending row and the invariant's
 *     table entry named, resolved when undone;
 *   - two workers: ticks are led under one advisory lock (a lock held by the test makes every
 *     tick skip and nothing open); once released, each interval's tick is led by exactly one of
 *     them (the led ticks of both together match one worker's ticks, not the sum), no tick
 *     fails, and a firing condition gives exactly one fault row.
 *
 * Every test uses its own stores, starts its own workers (each with its own metrics port), and
 * ends with no fault open anywhere; the teardown stops its workers and undoes any plant a
 * failed test left behind.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "fixtures.h"
#include "invariants.h"
#include "procs.h"
#include "banned.h"

#define OPEN_TIMEOUT_S    15.0
#define RESOLVE_TIMEOUT_S 15.0
#define MAX_LIVE          8

/* A worker of this suite: the process, its metrics endpoint and its id in the database. */
struct fw {
	struct p_worker p;
	char base[64]; /* http://127.0.0.1:PORT (TERMINUS_METRICS_LISTEN) */
	char id[160];  /* worker-<hostname>-<pid>: worker_heartbeats.worker_id, lease prefix */
};

/* Its configuration: thresholds small where a test needs the rule, out of the way elsewhere. */
struct fcfg {
	int concurrency;  /* 0: the binary's default */
	int max_attempts; /* 0: the binary's default */
	int lag_s, window_s, heartbeat_s, min_samples, stuck_s, error_pct, payment_pct;
};

static struct fcfg cfg_quiet(void)
{
	/* Nothing fires unless a test lowers its threshold. */
	return (struct fcfg){.lag_s = 3600,
	                     .window_s = 3,
	                     .heartbeat_s = 30,
	                     .min_samples = 1000,
	                     .stuck_s = 3600,
	                     .error_pct = 50,
	                     .payment_pct = 30};
}

static struct fw *live[MAX_LIVE];

/* ---- workers --------------------------------------------------------------------------------- */

static void start_worker(struct fw *w, const char *tag, const struct fcfg *c)
{
	char buf[11][96], host[100];
	const char *env[12];
	struct p_worker_opts o = {0};
	int i;

	memset(w, 0, sizeof(*w));
	o.concurrency = c->concurrency;
	o.max_attempts = c->max_attempts;
	o.retry_base_ms = 10;
	o.env = env;
	for (int attempt = 0;; attempt++) {
		int port = p_free_port();

		i = 0;
		snprintf(buf[i++], sizeof(buf[0]), "TERMINUS_METRICS_LISTEN=127.0.0.1:%d", port);
		snprintf(buf[i++], sizeof(buf[0]), "TERMINUS_DETECT_INTERVAL_MS=200");
		snprintf(buf[i++], sizeof(buf[0]), "TERMINUS_AUDIT_INTERVAL_S=1");
		snprintf(buf[i++], sizeof(buf[0]), "TERMINUS_FAULT_LAG_S=%d", c->lag_s);
		snprintf(buf[i++], sizeof(buf[0]), "TERMINUS_FAULT_WINDOW_S=%d", c->window_s);
		snprintf(buf[i++], sizeof(buf[0]), "TERMINUS_FAULT_HEARTBEAT_S=%d", c->heartbeat_s);
		snprintf(buf[i++], sizeof(buf[0]), "TERMINUS_FAULT_MIN_SAMPLES=%d", c->min_samples);
		snprintf(buf[i++], sizeof(buf[0]), "TERMINUS_FAULT_STUCK_ORDER_S=%d", c->stuck_s);
		snprintf(buf[i++], sizeof(buf[0]), "TERMINUS_FAULT_ERROR_RATE=%d", c->error_pct);
		snprintf(buf[i++], sizeof(buf[0]), "TERMINUS_FAULT_PAYMENT_FAILURE_RATE=%d",
		         c->payment_pct);
		for (int k = 0; k < i; k++)
			env[k] = buf[k];
		env[i] = NULL;
		H_CHECK(p_worker_start(&w->p, tag, &o), "worker %s did not start", tag);
		/* The endpoint starts before the handler threads: its line is there by now. */
		if (p_log_count(w->p.log, "metrics on http://") > 0) {
			snprintf(w->base, sizeof(w->base), "http://127.0.0.1:%d", port);
			break;
		}
		/* The port was taken between our probe and its bind: another one. */
		p_worker_kill9(&w->p);
		H_CHECK(attempt < 3, "worker %s never opened its metrics endpoint", tag);
	}
	H_CHECK(gethostname(host, sizeof(host)) == 0, "gethostname failed");
	host[sizeof(host) - 1] = '\0';
	snprintf(w->id, sizeof(w->id), "worker-%s-%d", host, (int)w->p.pid);
	H_CHECK(p_log_count(w->p.log, w->id) > 0, "worker log does not name it %s", w->id);
	for (i = 0; i < MAX_LIVE; i++) {
		if (live[i] == NULL) {
			live[i] = w;
			break;
		}
	}
	H_CHECK(i < MAX_LIVE, "too many workers");
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

static void must_stop_proc(struct fw *w)
{
	double deadline = h_now() + 5;

	H_CHECK(kill(w->p.pid, SIGSTOP) == 0, "SIGSTOP failed");
	while (!proc_stopped(w->p.pid)) {
		H_CHECK(h_now() < deadline, "worker %s not stopped 5 s after SIGSTOP", w->p.tag);
		h_sleep_ms(2);
	}
}

/* ---- metrics --------------------------------------------------------------------------------- */

static char *scrape(const struct fw *w)
{
	struct resp r = {0};
	struct h_req q = {0};
	char *text;

	q.base = w->base;
	q.path = "/metrics";
	H_CHECK(h_request(&q, &r), "GET %s/metrics failed: %s", w->base, r.error);
	H_CHECK(r.status == 200, "GET %s/metrics: status %ld", w->base, r.status);
	text = h_strdup(r.body);
	resp_release(&r);
	return text;
}

/* The value of the sample `series value`; -1 when absent. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p != NULL && *p != '\0';
	     p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	return -1;
}

static double metric(const struct fw *w, const char *series)
{
	char *text = scrape(w);
	double v = sample(text, series);

	free(text);
	return v;
}

static double ticks(const struct fw *w, const char *result)
{
	char series[96];
	double v;

	snprintf(series, sizeof(series), "terminus_fault_detector_ticks_total{result=\"%s\"}",
	         result);
	v = metric(w, series);
	return v < 0 ? 0 : v; /* a counter that never moved is absent */
}

/* terminus_faults_open{rule} on the worker's endpoint equals want. */
static void expect_gauge(const struct fw *w, const char *rule, double want)
{
	char series[96];
	double v;

	snprintf(series, sizeof(series), "terminus_faults_open{rule=\"%s\"}", rule);
	v = metric(w, series);
	H_CHECK(v == want, "%s on worker %s is %g, want %g", series, w->p.tag, v, want);
}

/* The detector's tick counters of one worker, from one scrape (so that they agree). */
struct tick_counts {
	double led, skipped, failed, all;
};

static struct tick_counts tick_counts(const struct fw *w)
{
	static const char *const names[] = {"led", "skipped", "failed"};
	char *text = scrape(w);
	double v[3];
	struct tick_counts t;

	for (int i = 0; i < 3; i++) {
		char series[96];

		snprintf(series, sizeof(series),
		         "terminus_fault_detector_ticks_total{result=\"%s\"}", names[i]);
		v[i] = sample(text, series);
		if (v[i] < 0)
			v[i] = 0;
	}
	free(text);
	t.led = v[0];
	t.skipped = v[1];
	t.failed = v[2];
	t.all = v[0] + v[1] + v[2];
	return t;
}

/* Waits until the worker's detector has led n more ticks (its own clock, not ours). */
static void wait_led(const struct fw *w, int n)
{
	double start = ticks(w, "led"), deadline = h_now() + 15;

	while (ticks(w, "led") < start + n) {
		H_CHECK(h_now() < deadline, "worker %s led fewer than %d ticks in 15 s", w->p.tag,
		        n);
		h_sleep_ms(50);
	}
}

/* ---- faults through the API ------------------------------------------------------------------ */

static const char *const rules[] = {
        "outbox_lag",  "dead_events",      "error_rate", "payment_failure_rate",
        "stuck_lease", "worker_heartbeat", "invariant"};

static bool str_in(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; s != NULL && i < n; i++) {
		if (strcmp(s, set[i]) == 0)
			return true;
	}
	return false;
}

/* Every field of a fault as the API promises it. */
static void check_fault(const json_t *f, const char *want_status)
{
	static const char *const severities[] = {"warning", "critical"};
	const char *id = h_jstr(f, "id"), *opened = h_jstr(f, "opened_at");
	const char *seen = h_jstr(f, "last_seen_at"), *status = h_jstr(f, "status");
	const json_t *store = h_j(f, "store"), *resolved = h_j(f, "resolved_at");
	char *text = json_dumps(f, JSON_COMPACT);

	H_CHECK(json_object_size(f) == 11, "fault has %zu fields, want 11: %s", json_object_size(f),
	        text);
	H_CHECK(id != NULL && h_is_uuid(id), "fault id: %s", text);
	H_CHECK(str_in(h_jstr(f, "rule"), rules, sizeof(rules) / sizeof(rules[0])),
	        "fault rule: %s", text);
	H_CHECK(json_is_null(store) || (json_is_string(store) && json_string_length(store) >= 3),
	        "fault store (slug or null): %s", text);
	H_CHECK(json_is_string(h_j(f, "subject")), "fault subject: %s", text);
	H_CHECK(str_in(h_jstr(f, "severity"), severities, 2), "fault severity: %s", text);
	H_CHECK(h_jstr(f, "summary") != NULL && h_jstr(f, "summary")[0] != '\0',
	        "fault summary: %s", text);
	H_CHECK(json_is_object(h_j(f, "details")), "fault details: %s", text);
	H_CHECK(opened != NULL && h_is_rfc3339_utc(opened), "fault opened_at: %s", text);
	H_CHECK(seen != NULL && h_is_rfc3339_utc(seen) && strcmp(seen, opened) >= 0,
	        "fault last_seen_at: %s", text);
	H_CHECK(status != NULL && (strcmp(status, "open") == 0 || strcmp(status, "resolved") == 0),
	        "fault status: %s", text);
	if (want_status != NULL)
		H_CHECK(strcmp(status, want_status) == 0, "fault status, want %s: %s", want_status,
		        text);
	if (strcmp(status, "open") == 0)
		H_CHECK(json_is_null(resolved), "open fault with resolved_at: %s", text);
	else
		H_CHECK(json_is_string(resolved) && h_is_rfc3339_utc(json_string_value(resolved)) &&
		                strcmp(json_string_value(resolved), opened) >= 0,
		        "resolved fault's resolved_at: %s", text);
	free(text);
}

/* Every fault of a list route (path: "/v1/ops/faults" or a store's), following next_cursor;
 * status NULL: no filter. New array; each element checked. */
static json_t *list_faults(const char *auth, const char *path, const char *status)
{
	json_t *all = json_array();
	char cursor[64] = "";

	for (int page = 0; page < 100; page++) {
		struct resp r = {0};
		const json_t *data, *next;
		size_t i;
		json_t *f;

		h_getf(&r, auth, "%s?limit=7%s%s%s%s", path, status ? "&status=" : "",
		       status ? status : "", cursor[0] ? "&cursor=" : "", cursor);
		H_STATUS(&r, 200);
		data = h_j(r.json, "data");
		next = h_j(r.json, "next_cursor");
		H_CHECK(json_is_array(data) && (json_is_null(next) || json_is_string(next)),
		        "not a list: %s", r.body);
		json_array_foreach(data, i, f)
		{
			check_fault(f, status);
			json_array_append(all, f);
		}
		if (json_is_null(next)) {
			resp_release(&r);
			return all;
		}
		snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
		resp_release(&r);
	}
	H_FAIL("more than 100 pages of faults at %s", path);
}

static bool fault_is(const json_t *f, const char *rule, const char *store, const char *subject)
{
	const json_t *st = h_j(f, "store");

	return strcmp(h_jstr(f, "rule"), rule) == 0 &&
	       (store == NULL ? json_is_null(st)
	                      : json_is_string(st) && strcmp(json_string_value(st), store) == 0) &&
	       (subject == NULL || strcmp(h_jstr(f, "subject"), subject) == 0);
}

/* The one fault of the list matching (rule, store slug or NULL for the platform, subject or
 * NULL for any), as a new reference, or NULL; two matches fail the test. */
static json_t *find_in(const json_t *list, const char *rule, const char *store, const char *subject)
{
	json_t *found = NULL, *f;
	size_t i;

	json_array_foreach(list, i, f)
	{
		if (!fault_is(f, rule, store, subject))
			continue;
		H_CHECK(found == NULL, "two faults %s/%s/%s in one list", rule, store ? store : "-",
		        subject ? subject : "*");
		found = f;
	}
	return found != NULL ? json_incref(found) : NULL;
}

static json_t *find_by_id(const json_t *list, const char *id)
{
	json_t *f;
	size_t i;

	json_array_foreach(list, i, f)
	{
		if (strcmp(h_jstr(f, "id"), id) == 0)
			return json_incref(f);
	}
	return NULL;
}

/* "rule/subject" of every open fault of a store (or of the platform: store NULL), sorted by
 * the list's order, for assertions and messages. Caller frees. */
static char *open_set(const char *store)
{
	json_t *list = list_faults(h_env.operator_key, "/v1/ops/faults", "open"), *f;
	char *out = calloc(1, 2048);
	size_t i, used = 0;

	H_CHECK(out != NULL, "out of memory");
	json_array_foreach(list, i, f)
	{
		const json_t *st = h_j(f, "store");

		if (store != NULL &&
		    !(json_is_string(st) && strcmp(json_string_value(st), store) == 0))
			continue;
		used += (size_t)snprintf(out + used, 2048 - used, "%s%s/%s", used ? " " : "",
		                         h_jstr(f, "rule"), h_jstr(f, "subject"));
		if (used >= 2048)
			break;
	}
	json_decref(list);
	return out;
}

/* Waits until the operator's open list has that fault; checks its fields, severity and that
 * it is the only episode of that key the faults table ever had. New reference. */
static json_t *wait_open(const char *rule, const char *store, const char *subject,
                         const char *severity, double timeout_s)
{
	double deadline = h_now() + timeout_s;
	json_t *f;

	for (;;) {
		json_t *list = list_faults(h_env.operator_key, "/v1/ops/faults", "open");

		f = find_in(list, rule, store, subject);
		json_decref(list);
		if (f != NULL)
			break;
		if (h_now() >= deadline) {
			char *set = open_set(NULL);

			H_FAIL("no open %s fault for store %s, subject %s within %.0f s (open: %s)",
			       rule, store ? store : "(platform)", subject ? subject : "*",
			       timeout_s, set);
		}
		h_sleep_ms(50);
	}
	check_fault(f, "open");
	H_JSTR(f, "severity", severity);
	return f;
}

/* Waits until the fault with that id is in the resolved list and no longer in the open one.
 * New reference to its resolved form. */
static json_t *wait_resolved(const json_t *opened, double timeout_s)
{
	const char *id = h_jstr(opened, "id");
	double deadline = h_now() + timeout_s;
	json_t *f;

	for (;;) {
		json_t *list = list_faults(h_env.operator_key, "/v1/ops/faults", "resolved");

		f = find_by_id(list, id);
		json_decref(list);
		if (f != NULL)
			break;
		if (h_now() >= deadline) {
			char *set = open_set(NULL);

			H_FAIL("fault %s (%s/%s) not resolved within %.0f s (open: %s)", id,
			       h_jstr(opened, "rule"), h_jstr(opened, "subject"), timeout_s, set);
		}
		h_sleep_ms(50);
	}
	check_fault(f, "resolved");
	/* The same episode: what identified it did not change. */
	H_JSTR(f, "rule", h_jstr(opened, "rule"));
	H_JSTR(f, "subject", h_jstr(opened, "subject"));
	H_JSTR(f, "opened_at", h_jstr(opened, "opened_at"));
	H_CHECK(json_equal(h_j(f, "store"), h_j(opened, "store")), "store changed");
	{
		json_t *open = list_faults(h_env.operator_key, "/v1/ops/faults", "open");
		json_t *still = find_by_id(open, id);

		json_decref(open);
		H_CHECK(still == NULL, "fault %s is in both the open and the resolved list", id);
	}
	return f;
}

/* No fault is open anywhere (polled: the detector resolves on its next tick). */
static void wait_none_open(double timeout_s)
{
	double deadline = h_now() + timeout_s;

	for (;;) {
		char *set = open_set(NULL);

		if (set[0] == '\0') {
			free(set);
			return;
		}
		if (h_now() >= deadline)
			H_FAIL("faults still open after %.0f s: %s", timeout_s, set);
		free(set);
		h_sleep_ms(50);
	}
}

/* How many episodes the faults table ever recorded for the key (store id or NULL). */
static long long episodes(const char *rule, const char *store_id, const char *subject)
{
	if (store_id == NULL) /* (a NULL parameter would end the list) */
		return h_db_ll("SELECT count(*) FROM faults WHERE rule = $1 AND store_id IS NULL "
		               "AND subject = $2",
		               rule, subject, NULL);
	return h_db_ll("SELECT count(*) FROM faults WHERE rule = $1 AND store_id = $2::uuid "
	               "AND subject = $3",
	               rule, store_id, subject, NULL);
}

static long long detail_int(const json_t *f, const char *key)
{
	char path[80];
	long long v = -1;

	snprintf(path, sizeof(path), "details.%s", key);
	H_CHECK(h_jint(f, path, &v), "fault without integer %s", path);
	return v;
}

/* details.sample (an array of ids) contains id. */
static bool sample_has(const json_t *f, const char *id)
{
	const json_t *v;
	size_t i;

	json_array_foreach(h_j(f, "details.sample"), i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
			return true;
	}
	return false;
}

/* Re-reads an open fault until pred(f) holds (details move with every tick). New ref. */
static json_t *wait_details(const json_t *f0, bool (*pred)(const json_t *f), double timeout_s)
{
	double deadline = h_now() + timeout_s;

	for (;;) {
		json_t *list = list_faults(h_env.operator_key, "/v1/ops/faults", "open");
		json_t *f = find_by_id(list, h_jstr(f0, "id"));

		json_decref(list);
		H_CHECK(f != NULL, "fault %s closed while waiting for its details",
		        h_jstr(f0, "id"));
		if (pred(f))
			return f;
		if (h_now() >= deadline) {
			char *text = json_dumps(f, JSON_COMPACT);

			H_FAIL("fault details never as expected: %s", text);
		}
		json_decref(f);
		h_sleep_ms(50);
	}
}

/* ---- orders ---------------------------------------------------------------------------------- */

static void must_checkout(const struct h_store *s, const char *product, const char *token,
                          long want, char order_id[H_ID_LEN])
{
	struct resp r = {0};
	char key[80];

	h_must_create_order(s, product, 1, order_id);
	h_unique_key(key, sizeof(key), "f");
	H_CHECK(h_checkout(&r, s, order_id, key, token), "checkout: %s", r.error);
	H_STATUS(&r, want);
	resp_release(&r);
}

static void must_all_confirmed(const struct h_store *s, char (*orders)[H_ID_LEN], int n,
                               double timeout_s)
{
	for (int i = 0; i < n; i++)
		H_CHECK(p_wait_order_status(s, orders[i], "confirmed", timeout_s, NULL),
		        "order %s not confirmed within %.0f s", orders[i], timeout_s);
}

/* ---- outbox_lag ------------------------------------------------------------------------------ */

#define LAG_ORDERS 120

static void test_outbox_lag(void **state)
{
	struct h_store s;
	static struct fw w; /* static: live[] outlives the test's frame */
	struct fcfg c = cfg_quiet();
	struct p_load l = {0};
	char pid[H_ID_LEN];
	const char *products[1] = {pid};
	json_t *f, *g;
	double opened_at;
	char *set;

	(void)state;
	wait_none_open(5);
	h_must_create_store(&s, "flag");
	h_must_create_product(&s, 300, 100000, pid);
	p_must_set_flag(&s, "chaos.worker_slow", true, 100);
	c.concurrency = 1;
	c.lag_s = 1;
	start_worker(&w, "lag", &c);

	l.store = &s;
	l.products = products;
	l.nproducts = 1;
	l.n = LAG_ORDERS;
	l.threads = 4;
	p_load_start(&l);
	f = wait_open("outbox_lag", s.slug, "", "warning", OPEN_TIMEOUT_S);
	opened_at = h_now();
	p_load_join(&l);
	p_load_assert_answers(&l, 202, 0);
	expect_gauge(&w, "outbox_lag", 1);
	set = open_set(s.slug);
	H_CHECK(strcmp(set, "outbox_lag/") == 0, "store %s has open: %s, want only outbox_lag",
	        s.slug, set);
	free(set);
	H_CHECK(detail_int(f, "due") > 0, "outbox_lag with no due events");
	{
		const json_t *age = h_j(f, "details.oldest_due_age_seconds");

		H_CHECK(json_is_number(age) && json_number_value(age) > 1.0,
		        "oldest_due_age_seconds %g, want > 1 (the threshold)",
		        json_number_value(age));
	}
	H_CHECK(strstr(h_jstr(f, "summary"), "threshold 1 s") != NULL, "summary: %s",
	        h_jstr(f, "summary"));

	/* Chaos off: the one thread catches up, the lag goes, the fault resolves. */
	p_must_set_flag(&s, "chaos.worker_slow", false, 100);
	g = wait_resolved(f, 60);
	printf("outbox_lag open for %.1f s after chaos off\n", h_now() - opened_at);
	expect_gauge(&w, "outbox_lag", 0);
	for (size_t i = 0; i < l.n; i++)
		H_CHECK(p_wait_order_status(&s, l.orders[i].id, "confirmed", 30, NULL),
		        "order %s not confirmed", l.orders[i].id);
	H_CHECK(episodes("outbox_lag", s.id, "") == 1, "outbox_lag opened more than once");
	json_decref(f);
	json_decref(g);
	p_load_free(&l);
	wait_none_open(10);
}

/* ---- dead_events ----------------------------------------------------------------------------- */

#define DEAD_ORDERS 3

static bool dead_all(const json_t *f)
{
	long long n = -1;

	return h_jint(f, "details.dead", &n) && n == DEAD_ORDERS;
}

static void test_dead_events(void **state)
{
	struct h_store s;
	static struct fw w; /* static: live[] outlives the test's frame */
	struct fcfg c = cfg_quiet();
	char pid[H_ID_LEN], orders[DEAD_ORDERS][H_ID_LEN];
	long long n;
	json_t *f0, *f, *g;
	PGresult *res;

	(void)state;
	wait_none_open(5);
	h_must_create_store(&s, "dead");
	h_must_create_product(&s, 700, 100, pid);
	p_must_set_flag(&s, "chaos.payment_capture_fail", true, 100);
	c.max_attempts = 2;
	c.window_s = 30; /* resolution must come from the retry, not from the window */
	start_worker(&w, "dead", &c);
	for (int i = 0; i < DEAD_ORDERS; i++)
		must_checkout(&s, pid, "tok_ok", 202, orders[i]);
	H_CHECK(p_wait_db(15, &n, "==", DEAD_ORDERS,
	                  "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	                  "AND type = 'PaymentAuthorized' AND status = 'dead'",
	                  s.id, NULL),
	        "%lld of %d PaymentAuthorized events dead", n, DEAD_ORDERS);

	f0 = wait_open("dead_events", s.slug, "", "critical", OPEN_TIMEOUT_S);
	expect_gauge(&w, "dead_events", 1);
	/* Details are refreshed every tick: the one after the last death counts them all. */
	f = wait_details(f0, dead_all, 3);
	H_CHECK(strstr(h_jstr(f, "summary"), "PaymentAuthorized") != NULL, "summary: %s",
	        h_jstr(f, "summary"));
	{
		char *set = open_set(s.slug);

		H_CHECK(strcmp(set, "dead_events/") == 0, "store %s has open: %s", s.slug, set);
		free(set);
	}

	/* The operator sends every dead event back; chaos is off, so they complete. */
	p_must_set_flag(&s, "chaos.payment_capture_fail", false, 100);
	res = PQexecParams(h_db(),
	                   "SELECT id::text FROM outbox_events WHERE store_id = $1 "
	                   "AND status = 'dead' ORDER BY id",
	                   1, NULL, (const char *const[]){s.id}, NULL, NULL, 0);
	H_CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == DEAD_ORDERS,
	        "dead events: %s", PQresultErrorMessage(res));
	for (int i = 0; i < PQntuples(res); i++) {
		struct resp r = {0};

		H_CHECK(sample_has(f, PQgetvalue(res, i, 0)), "details.sample lacks dead event %s",
		        PQgetvalue(res, i, 0));
		h_sendf(&r, "POST", h_env.operator_key, NULL, "/v1/ops/dead-letters/%s/retry",
		        PQgetvalue(res, i, 0));
		H_STATUS(&r, 200);
		resp_release(&r);
	}
	PQclear(res);
	g = wait_resolved(f, 10);
	expect_gauge(&w, "dead_events", 0);
	H_CHECK(h_db_ll("SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	                "AND status = 'dead'",
	                s.id, NULL) == 0,
	        "dead events left after the retry");
	H_CHECK(episodes("dead_events", s.id, "") == 1, "dead_events opened more than once");
	json_decref(f0);
	json_decref(f);
	json_decref(g);
	wait_none_open(10);
}

/* ---- error_rate ------------------------------------------------------------------------------ */

#define ERR_ORDERS 6

static void test_error_rate(void **state)
{
	struct h_store s;
	static struct fw w; /* static: live[] outlives the test's frame */
	struct fcfg c = cfg_quiet();
	char pid[H_ID_LEN], orders[ERR_ORDERS][H_ID_LEN];
	json_t *f, *g;
	double confirmed_at;

	(void)state;
	wait_none_open(5);
	h_must_create_store(&s, "errs");
	h_must_create_product(&s, 700, 100, pid);
	p_must_set_flag(&s, "chaos.payment_capture_fail", true, 100);
	c.max_attempts = 100; /* the most allowed: failing for minutes, never dead */
	c.window_s = 20;      /* resolution must come from the successes, not the window */
	c.min_samples = 5;
	start_worker(&w, "errs", &c);
	for (int i = 0; i < ERR_ORDERS; i++)
		must_checkout(&s, pid, "tok_ok", 202, orders[i]);

	f = wait_open("error_rate", s.slug, "PaymentAuthorized", "warning", OPEN_TIMEOUT_S);
	expect_gauge(&w, "error_rate", 1);
	H_JSTR(f, "details.type", "PaymentAuthorized");
	H_CHECK(detail_int(f, "total") >= 5 && detail_int(f, "failing") == detail_int(f, "total"),
	        "details failing %lld of %lld, want all of at least 5", detail_int(f, "failing"),
	        detail_int(f, "total"));
	{
		/* Only the failing type: the store's OrderStatusChanged events all succeed. */
		char *set = open_set(s.slug);

		H_CHECK(strcmp(set, "error_rate/PaymentAuthorized") == 0, "store %s has open: %s",
		        s.slug, set);
		free(set);
	}

	p_must_set_flag(&s, "chaos.payment_capture_fail", false, 100);
	must_all_confirmed(&s, orders, ERR_ORDERS, 20);
	confirmed_at = h_now();
	g = wait_resolved(f, 10);
	printf("error_rate resolved %.1f s after the last confirmation (window 20 s)\n",
	       h_now() - confirmed_at);
	expect_gauge(&w, "error_rate", 0);
	H_CHECK(episodes("error_rate", s.id, "PaymentAuthorized") == 1,
	        "error_rate opened more than once");
	json_decref(f);
	json_decref(g);
	wait_none_open(10);
}

/* ---- payment_failure_rate -------------------------------------------------------------------- */

#define PAY_OK      2
#define PAY_DECLINE 6

static bool pay_details_final(const json_t *f)
{
	long long d = -1, c = -1, l = -1;

	return h_jint(f, "details.declined", &d) && h_jint(f, "details.captured", &c) &&
	       h_jint(f, "details.capture_failed", &l) && d == PAY_DECLINE && c == PAY_OK && l == 0;
}

static void test_payment_failure_rate(void **state)
{
	struct h_store s;
	static struct fw w; /* static: live[] outlives the test's frame */
	struct fcfg c = cfg_quiet();
	char pid[H_ID_LEN], ok[PAY_OK][H_ID_LEN], declined[H_ID_LEN];
	json_t *f, *f2, *g;
	double last_decline;

	(void)state;
	wait_none_open(5);
	h_must_create_store(&s, "pays");
	h_must_create_product(&s, 900, 100, pid);
	c.window_s = 4;
	c.min_samples = 5;
	start_worker(&w, "pays", &c);
	for (int i = 0; i < PAY_OK; i++)
		must_checkout(&s, pid, "tok_ok", 202, ok[i]);
	must_all_confirmed(&s, ok, PAY_OK, 10);
	for (int i = 0; i < PAY_DECLINE; i++)
		must_checkout(&s, pid, "tok_decline", 402, declined);
	last_decline = h_now();

	f = wait_open("payment_failure_rate", s.slug, "", "warning", OPEN_TIMEOUT_S);
	expect_gauge(&w, "payment_failure_rate", 1);
	f2 = wait_details(f, pay_details_final, 3);
	H_CHECK(strstr(h_jstr(f2, "summary"), "6 of 8 payments failed") != NULL, "summary: %s",
	        h_jstr(f2, "summary"));

	/* Nothing more fails: once the declines are older than the window, it resolves. */
	g = wait_resolved(f, RESOLVE_TIMEOUT_S);
	H_CHECK(h_now() - last_decline >= 4 - 0.5,
	        "resolved %.1f s after the last decline, before the 4 s window passed",
	        h_now() - last_decline);
	expect_gauge(&w, "payment_failure_rate", 0);
	json_decref(f);
	json_decref(f2);
	json_decref(g);
	wait_none_open(10);
}

/* ---- stuck_lease + worker_heartbeat ---------------------------------------------------------- */

#define STUCK_ORDERS 60

static long long leases_of(const struct fw *w)
{
	return h_db_ll("SELECT count(*) FROM outbox_events WHERE status = 'pending' "
	               "AND claimed_until > now() + interval '5 s' "
	               "AND left(claimed_by, length($1) + 2) = $1 || '-t'",
	               w->id, NULL);
}

static void test_stuck_lease_and_heartbeat(void **state)
{
	struct h_store s;
	static struct fw a, b; /* static: live[] outlives the test's frame */
	struct fcfg c = cfg_quiet();
	struct p_load l = {0};
	char pid[H_ID_LEN];
	const char *products[1] = {pid};
	json_t *hb, *sl, *list, *f;
	int tries;
	long long held = 0;

	(void)state;
	wait_none_open(5);
	h_must_create_store(&s, "stuck");
	h_must_create_product(&s, 300, 100000, pid);
	p_must_set_flag(&s, "chaos.worker_slow", true, 100);
	c.concurrency = 1;
	c.heartbeat_s = 2;
	start_worker(&a, "stuck-a", &c);
	start_worker(&b, "stuck-b", &c);
	l.store = &s;
	l.products = products;
	l.nproducts = 1;
	l.n = STUCK_ORDERS;
	l.threads = 4;
	p_load_start(&l);
	p_load_join(&l);
	p_load_assert_answers(&l, 202, 0);

	/* Stop A while it holds leases (its batches stall 500 ms per group) and is not inside a
	 * detector tick: a tick's advisory lock would be held until the server's idle-transaction
	 * timeout, and no other worker could lead meanwhile. */
	for (tries = 0; tries < 10; tries++) {
		H_CHECK(p_wait_db(15, &held, ">", 0,
		                  "SELECT count(*) FROM outbox_events WHERE status = 'pending' "
		                  "AND claimed_until > now() + interval '5 s' "
		                  "AND left(claimed_by, length($1) + 2) = $1 || '-t'",
		                  a.id, NULL),
		        "worker A (%s) never held a lease", a.id);
		must_stop_proc(&a);
		held = leases_of(&a);
		if (held > 0 &&
		    p_wait_db(1.0, NULL, "==", 0,
		              "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
		              "AND granted",
		              NULL))
			break;
		H_CHECK(kill(a.p.pid, SIGCONT) == 0, "SIGCONT failed");
	}
	H_CHECK(tries < 10, "could not stop worker A holding a lease outside a detector tick");
	printf("worker A stopped holding %lld leases (try %d)\n", held, tries + 1);

	hb = wait_open("worker_heartbeat", NULL, a.id, "critical", OPEN_TIMEOUT_S);
	sl = wait_open("stuck_lease", s.slug, a.id, "warning", OPEN_TIMEOUT_S);
	H_CHECK(h_jstr(hb, "details.seen_at") && h_is_rfc3339_utc(h_jstr(hb, "details.seen_at")),
	        "worker_heartbeat details.seen_at");
	H_CHECK(detail_int(sl, "events") >= 1 && detail_int(sl, "events") <= held,
	        "stuck_lease details.events %lld, A held %lld", detail_int(sl, "events"), held);
	H_JSTR(sl, "details.worker", a.id);
	H_CHECK(h_jstr(sl, "details.lease_until") &&
	                h_is_rfc3339_utc(h_jstr(sl, "details.lease_until")),
	        "stuck_lease details.lease_until");
	/* B leads now (A is stopped): its endpoint shows both. */
	expect_gauge(&b, "worker_heartbeat", 1);
	expect_gauge(&b, "stuck_lease", 1);
	{
		char *set = open_set(NULL);
		char want1[512], want2[512];

		snprintf(want1, sizeof(want1), "worker_heartbeat/%s stuck_lease/%s", a.id, a.id);
		snprintf(want2, sizeof(want2), "stuck_lease/%s worker_heartbeat/%s", a.id, a.id);
		H_CHECK(strcmp(set, want1) == 0 || strcmp(set, want2) == 0,
		        "open faults: %s, want only %s", set, want1);
		free(set);
	}
	/* The store sees its stuck lease; the platform's heartbeat fault is not its business. */
	{
		char path[128];

		snprintf(path, sizeof(path), "/v1/stores/%s/faults", s.slug);
		list = list_faults(s.key, path, "open");
		H_CHECK(json_array_size(list) == 1, "store view has %zu open faults, want 1",
		        json_array_size(list));
		f = find_in(list, "stuck_lease", s.slug, a.id);
		H_CHECK(f != NULL, "store view lacks its stuck_lease fault");
		H_JSTR(f, "id", h_jstr(sl, "id"));
		json_decref(f);
		json_decref(list);
	}

	/* A resumes: it beats again (and finishes its batch), both resolve. */
	H_CHECK(kill(a.p.pid, SIGCONT) == 0, "SIGCONT failed");
	json_decref(wait_resolved(hb, RESOLVE_TIMEOUT_S));
	json_decref(wait_resolved(sl, RESOLVE_TIMEOUT_S));
	expect_gauge(&b, "worker_heartbeat", 0);
	expect_gauge(&b, "stuck_lease", 0);
	H_CHECK(episodes("worker_heartbeat", NULL, a.id) == 1 &&
	                episodes("stuck_lease", s.id, a.id) == 1,
	        "a fault of worker A opened more than once");

	p_must_set_flag(&s, "chaos.worker_slow", false, 100);
	for (size_t i = 0; i < l.n; i++)
		H_CHECK(p_wait_order_status(&s, l.orders[i].id, "confirmed", 30, NULL),
		        "order %s not confirmed", l.orders[i].id);
	json_decref(hb);
	json_decref(sl);
	p_load_free(&l);
	wait_none_open(10);
}

/* ---- kill -9, and what a store sees ---------------------------------------------------------- */

static void plant_confirmed(const struct h_store *s, char order_id[H_ID_LEN])
{
	char pid[H_ID_LEN];

	h_must_create_product(s, 100, 10, pid);
	h_must_create_order(s, pid, 1, order_id);
	h_db_exec("UPDATE orders SET status = 'confirmed' WHERE id = $1", order_id, NULL);
}

static void test_killed_worker_and_store_view(void **state)
{
	struct h_store x, y;
	static struct fw k, d, b; /* static: live[] outlives the test's frame */
	struct fcfg c = cfg_quiet();
	char ox[H_ID_LEN], oy[H_ID_LEN], path[128];
	json_t *hb, *fx, *fy, *list, *f, *gx;
	struct resp r = {0};
	char seen0[40];
	double t0;
	long long n;

	(void)state;
	wait_none_open(5);
	c.heartbeat_s = 2;
	start_worker(&k, "victim", &c);
	start_worker(&d, "killed", &c);
	start_worker(&b, "watcher", &c);
	H_CHECK(p_wait_db(10, &n, "==", 2,
	                  "SELECT count(*) FROM worker_heartbeats "
	                  "WHERE worker_id = $1 OR worker_id = $2",
	                  k.id, d.id, NULL),
	        "workers %s and %s never beat", k.id, d.id);

	/* Killed while running: its database sessions end with it, the watcher forgets it within
	 * a second or so, and no fault opens for it over the ticks that follow: it is gone, not
	 * hung. */
	t0 = h_now();
	p_worker_kill9(&d.p);
	H_CHECK(p_wait_db(5, &n, "==", 0,
	                  "SELECT count(*) FROM worker_heartbeats WHERE worker_id = $1", d.id,
	                  NULL),
	        "the killed worker %s is still in worker_heartbeats 5 s after its kill", d.id);
	printf("killed worker forgotten %.2f s after its kill\n", h_now() - t0);
	{
		/* k and b share the ticks: between them, enough to pass the heartbeat threshold
		 * twice over (a tick every 200 ms). */
		double start = ticks(&k, "led") + ticks(&b, "led"), deadline = h_now() + 15;
		int want = 3 + 2 * c.heartbeat_s * 1000 / 200;

		while (ticks(&k, "led") + ticks(&b, "led") < start + want) {
			H_CHECK(h_now() < deadline, "fewer than %d ticks led in 15 s", want);
			h_sleep_ms(50);
		}
	}
	H_CHECK(episodes("worker_heartbeat", NULL, d.id) == 0,
	        "a worker_heartbeat fault opened for the killed worker %s", d.id);

	/* Hung (SIGSTOP): its sessions live on, so its fault opens. */
	must_stop_proc(&k);
	hb = wait_open("worker_heartbeat", NULL, k.id, "critical", OPEN_TIMEOUT_S);
	expect_gauge(&b, "worker_heartbeat", 1);
	H_CHECK(strstr(h_jstr(hb, "summary"), k.id) != NULL, "summary: %s", h_jstr(hb, "summary"));

	/* Two stores with a fault each, next to the platform's. */
	h_must_create_store(&x, "viewx");
	h_must_create_store(&y, "viewy");
	plant_confirmed(&x, ox);
	plant_confirmed(&y, oy);
	fx = wait_open("invariant", x.slug, "confirmed_one_capture", "critical", OPEN_TIMEOUT_S);
	fy = wait_open("invariant", y.slug, "confirmed_one_capture", "critical", OPEN_TIMEOUT_S);
	H_CHECK(sample_has(fx, ox) && sample_has(fy, oy),
	        "invariant faults do not name the orders");

	/* The operator sees all three; store x only its own, open or in any state. */
	list = list_faults(h_env.operator_key, "/v1/ops/faults", "open");
	H_CHECK(json_array_size(list) == 3, "operator sees %zu open faults, want 3",
	        json_array_size(list));
	json_decref(list);
	snprintf(path, sizeof(path), "/v1/stores/%s/faults", x.slug);
	for (int pass = 0; pass < 2; pass++) {
		list = list_faults(x.key, path, pass == 0 ? "open" : NULL);
		H_CHECK(json_array_size(list) == 1, "store x sees %zu faults, want 1 (its own)",
		        json_array_size(list));
		f = json_array_get(list, 0);
		H_JSTR(f, "id", h_jstr(fx, "id"));
		H_JSTR(f, "store", x.slug);
		json_decref(list);
	}
	/* Wrong keys: y's key on x's faults, x's key on the operator's list, none at all. */
	h_getf(&r, y.key, "%s", path);
	H_ERROR(&r, 403, NULL);
	resp_release(&r);
	h_get(&r, "/v1/ops/faults", x.key);
	H_CHECK(r.status == 401 || r.status == 403, "store key on /v1/ops/faults: %ld", r.status);
	H_ERROR(&r, r.status, NULL);
	resp_release(&r);
	h_getf(&r, NULL, "%s", path);
	H_ERROR(&r, 401, NULL);
	resp_release(&r);
	h_getf(&r, x.key, "%s?status=closed", path);
	H_ERROR_FIELD(&r, 400, "invalid_query", "status");
	resp_release(&r);

	/* Undone, each resolves; x's resolved view has its own. */
	h_db_exec("UPDATE orders SET status = 'pending' WHERE id = $1 OR id = $2", ox, oy, NULL);
	gx = wait_resolved(fx, RESOLVE_TIMEOUT_S);
	json_decref(wait_resolved(fy, RESOLVE_TIMEOUT_S));
	list = list_faults(x.key, path, "resolved");
	H_CHECK(json_array_size(list) == 1, "store x sees %zu resolved faults, want 1",
	        json_array_size(list));
	H_CHECK(json_equal(json_array_get(list, 0), gx), "store and operator views differ");
	json_decref(list);

	/* The hung worker's fault stays open tick after tick, seen anew. */
	snprintf(seen0, sizeof(seen0), "%s", h_jstr(hb, "last_seen_at"));
	wait_led(&b, 8);
	list = list_faults(h_env.operator_key, "/v1/ops/faults", "open");
	f = find_by_id(list, h_jstr(hb, "id"));
	json_decref(list);
	H_CHECK(f != NULL, "worker_heartbeat of a stopped worker resolved while it was stopped");
	H_CHECK(strcmp(h_jstr(f, "last_seen_at"), seen0) > 0, "last_seen_at did not move (%s)",
	        seen0);
	expect_gauge(&b, "worker_heartbeat", 1);
	json_decref(f);

	/* Killed while stopped: its sessions end, the watcher forgets it, its fault resolves
	 * ("gone", not "back") and does not open again. */
	t0 = h_now();
	p_worker_kill9(&k.p);
	json_decref(wait_resolved(hb, RESOLVE_TIMEOUT_S));
	printf("worker_heartbeat of the hung worker resolved %.2f s after its kill\n",
	       h_now() - t0);
	H_CHECK(h_db_ll("SELECT count(*) FROM worker_heartbeats WHERE worker_id = $1", k.id,
	                NULL) == 0,
	        "the detector did not forget worker %s", k.id);
	expect_gauge(&b, "worker_heartbeat", 0);
	wait_led(&b, 3);
	H_CHECK(episodes("worker_heartbeat", NULL, k.id) == 1,
	        "the killed worker's fault opened again");

	/* A heartbeat that names no session (written before migration 005) is forgotten after
	 * an hour of silence, which resolves its fault. */
	h_db_exec("INSERT INTO worker_heartbeats (worker_id, started_at, seen_at) "
	          "VALUES ('worker-itest-sessionless', now() - interval '2 hours', "
	          "now() - interval '61 minutes')",
	          NULL);
	H_CHECK(p_wait_db(RESOLVE_TIMEOUT_S, &n, "==", 0,
	                  "SELECT count(*) FROM worker_heartbeats "
	                  "WHERE worker_id = 'worker-itest-sessionless'",
	                  NULL),
	        "the detector did not forget a heartbeat silent for an hour");
	json_decref(hb);
	json_decref(fx);
	json_decref(fy);
	json_decref(gx);
	wait_none_open(10);
}

/* ---- invariant audit ------------------------------------------------------------------------- */

/* The planted violations, undone by the test and again by the teardown after a failure. */
static void restore_schema(PGconn *db)
{
	static const char *const undo[] = {
	        "DELETE FROM payments WHERE token_hint = 'itest-planted'",
	        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_indexes "
	        "WHERE indexname = 'payments_one_live') THEN "
	        "CREATE UNIQUE INDEX payments_one_live ON payments (order_id) "
	        "WHERE status IN ('authorized', 'captured'); END IF; END $$",
	        "DELETE FROM inventory_movements WHERE reason = 'itest-planted'",
	        "UPDATE inventory i SET available = coalesce((SELECT sum(delta) FROM "
	        "inventory_movements m WHERE m.product_id = i.product_id), 0) "
	        "WHERE available IS DISTINCT FROM (SELECT sum(delta) FROM inventory_movements m "
	        "WHERE m.product_id = i.product_id)",
	        /* Orders moved by hand (every real one past pending has a payment). */
	        "UPDATE orders o SET status = 'pending', updated_at = now() "
	        "WHERE status IN ('confirmed', 'payment_authorized') "
	        "AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id)",
	        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_constraint "
	        "WHERE conname = 'inventory_available_check') THEN "
	        "ALTER TABLE inventory ADD CONSTRAINT inventory_available_check "
	        "CHECK (available >= 0); END IF; END $$",
	};

	for (size_t i = 0; i < sizeof(undo) / sizeof(undo[0]); i++) {
		PGresult *r = PQexec(db, undo[i]);

		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			print_error("restore: %s: %s", undo[i], PQresultErrorMessage(r));
		PQclear(r);
	}
}

/* Runs a statement, with row_id as $1 when it has one (DDL takes no parameters). */
static void run_sql(const char *sql, const char *row_id)
{
	if (strstr(sql, "$1") != NULL)
		h_db_exec(sql, row_id, NULL);
	else
		h_db_exec(sql, NULL);
}

/* One check: plant (SQL with $1 = row id), see the fault naming the row, undo, see it
 * resolve. Only this fault is open meanwhile. */
static void audit_case(const struct fw *w, const struct h_store *s, const char *check,
                       const char *row_id, const char *const *plant, const char *const *undo,
                       const char *summary_part)
{
	const struct invariant *inv = invariants_find(check);
	json_t *f, *g;
	char *set, want[96];

	for (const char *const *q = plant; *q != NULL; q++)
		run_sql(*q, row_id);
	f = wait_open("invariant", s->slug, check, "critical", OPEN_TIMEOUT_S);
	expect_gauge(w, "invariant", 1);
	H_CHECK(inv != NULL && (inv->flags & INVARIANT_AUDITED), "%s is not an audited invariant",
	        check);
	H_CHECK(h_jstr(f, "details.invariant") && !strcmp(h_jstr(f, "details.invariant"), check) &&
	                h_jstr(f, "details.holds") &&
	                !strcmp(h_jstr(f, "details.holds"), inv->holds),
	        "%s fault details do not name the invariant and what must hold", check);
	H_CHECK(sample_has(f, row_id), "%s fault does not name %s in details.sample", check,
	        row_id);
	H_CHECK(detail_int(f, "rows") == 1, "%s: details.rows %lld, want 1", check,
	        detail_int(f, "rows"));
	H_CHECK(strstr(h_jstr(f, "summary"), row_id) != NULL &&
	                strstr(h_jstr(f, "summary"), summary_part) != NULL,
	        "%s summary: %s (want %s and %s)", check, h_jstr(f, "summary"), row_id,
	        summary_part);
	set = open_set(NULL);
	snprintf(want, sizeof(want), "invariant/%s", check);
	H_CHECK(strcmp(set, want) == 0, "open: %s, want only %s", set, want);
	free(set);
	for (const char *const *q = undo; *q != NULL; q++)
		run_sql(*q, row_id);
	g = wait_resolved(f, RESOLVE_TIMEOUT_S);
	expect_gauge(w, "invariant", 0);
	H_CHECK(episodes("invariant", s->id, check) == 1, "%s opened more than once", check);
	json_decref(f);
	json_decref(g);
}

static void test_invariant_audit(void **state)
{
	struct h_store s[5];
	static struct fw w; /* static: live[] outlives the test's frame */
	struct fcfg c = cfg_quiet();
	char p[5][H_ID_LEN], o[5][H_ID_LEN];
	char stock_part[64];

	(void)state;
	wait_none_open(5);
	c.stuck_s = 2;
	start_worker(&w, "audit", &c);
	for (int i = 0; i < 5; i++) {
		h_must_create_store(&s[i], "audit");
		h_must_create_product(&s[i], 250, 10, p[i]);
	}

	/* stock_ledger: stock that no movement explains. */
	snprintf(stock_part, sizeof(stock_part), "stock 15, ledger 10");
	audit_case(&w, &s[0], "stock_ledger", p[0],
	           (const char *const[]){"UPDATE inventory SET available = available + 5 "
	                                 "WHERE product_id = $1",
	                                 NULL},
	           (const char *const[]){"UPDATE inventory SET available = available - 5 "
	                                 "WHERE product_id = $1",
	                                 NULL},
	           stock_part);

	/* stock_non_negative: the CHECK dropped, stock below zero with a movement to match, so that
	 * the ledger check stays quiet and only this one fires. */
	audit_case(
	        &w, &s[1], "stock_non_negative", p[1],
	        (const char *const[]){"ALTER TABLE inventory DROP CONSTRAINT "
	                              "inventory_available_check",
	                              "INSERT INTO inventory_movements (store_id, product_id, "
	                              "delta, reason) SELECT store_id, product_id, -13, "
	                              "'itest-planted' FROM inventory WHERE product_id = $1",
	                              "UPDATE inventory SET available = -3 WHERE product_id = $1",
	                              NULL},
	        (const char *const[]){"UPDATE inventory SET available = 10 WHERE product_id = $1",
	                              "DELETE FROM inventory_movements WHERE product_id = $1 "
	                              "AND reason = 'itest-planted'",
	                              "ALTER TABLE inventory ADD CONSTRAINT "
	                              "inventory_available_check CHECK (available >= 0)",
	                              NULL},
	        "has -3");

	/* one_live_payment: a confirmed order with a second live payment (the index dropped). */
	must_checkout(&s[2], p[2], "tok_ok", 202, o[2]);
	H_CHECK(p_wait_order_status(&s[2], o[2], "confirmed", 15, NULL), "order not confirmed");
	audit_case(&w, &s[2], "one_live_payment", o[2],
	           (const char *const[]){"DROP INDEX payments_one_live",
	                                 "INSERT INTO payments (id, order_id, store_id, status, "
	                                 "amount_cents, currency, token_hint) SELECT "
	                                 "gen_random_uuid(), id, store_id, 'authorized', "
	                                 "total_cents, currency, 'itest-planted' FROM orders "
	                                 "WHERE id = $1",
	                                 NULL},
	           (const char *const[]){"DELETE FROM payments WHERE order_id = $1 "
	                                 "AND token_hint = 'itest-planted'",
	                                 "CREATE UNIQUE INDEX payments_one_live ON payments "
	                                 "(order_id) WHERE status IN ('authorized', 'captured')",
	                                 NULL},
	           "2 live payments");

	/* confirmed_one_capture: a pending order set to confirmed, no payment at all. */
	h_must_create_order(&s[3], p[3], 1, o[3]);
	audit_case(
	        &w, &s[3], "confirmed_one_capture", o[3],
	        (const char *const[]){"UPDATE orders SET status = 'confirmed' WHERE id = $1", NULL},
	        (const char *const[]){"UPDATE orders SET status = 'pending' WHERE id = $1", NULL},
	        "confirmed without a captured payment");

	/* no_order_stuck: payment_authorized for longer than the (2 s) deadline. */
	h_must_create_order(&s[4], p[4], 1, o[4]);
	audit_case(&w, &s[4], "no_order_stuck", o[4],
	           (const char *const[]){"UPDATE orders SET status = 'payment_authorized', "
	                                 "updated_at = now() - interval '1 minute' WHERE id = $1",
	                                 NULL},
	           (const char *const[]){"UPDATE orders SET status = 'pending', updated_at = now() "
	                                 "WHERE id = $1",
	                                 NULL},
	           "in payment_authorized since");
	wait_none_open(10);
}

/* ---- two workers, one leader per tick -------------------------------------------------------- */

static void test_one_leader_per_tick(void **state)
{
	struct h_store s;
	static struct fw a, b; /* static: live[] outlives the test's frame */
	struct fcfg c = cfg_quiet();
	char order[H_ID_LEN], pid[H_ID_LEN];
	double led_a, led_b, skip_a, skip_b, led0;
	PGconn *lock;
	PGresult *r;
	json_t *f, *g;

	(void)state;
	wait_none_open(5);
	start_worker(&a, "lead-a", &c);
	start_worker(&b, "lead-b", &c);
	h_must_create_store(&s, "lead");
	h_must_create_product(&s, 100, 10, pid);
	h_must_create_order(&s, pid, 1, order);
	led0 = ticks(&a, "led") + ticks(&b, "led");

	/* The test holds the detector's lock: every tick of both skips, nothing is evaluated. */
	lock = PQconnectdb(h_env.db);
	H_CHECK(PQstatus(lock) == CONNECTION_OK, "connect: %s", PQerrorMessage(lock));
	r = PQexec(lock,
	           "BEGIN; SELECT pg_advisory_xact_lock(hashtext('terminus.fault_detector'))");
	H_CHECK(PQresultStatus(r) == PGRES_TUPLES_OK, "lock: %s", PQresultErrorMessage(r));
	PQclear(r);
	/* One full tick of each after we took it: any tick led before has been counted. */
	skip_a = ticks(&a, "skipped");
	skip_b = ticks(&b, "skipped");
	{
		double deadline = h_now() + 10;

		while (ticks(&a, "skipped") <= skip_a || ticks(&b, "skipped") <= skip_b) {
			H_CHECK(h_now() < deadline, "ticks did not skip while the lock was held");
			h_sleep_ms(20);
		}
	}
	led_a = ticks(&a, "led");
	led_b = ticks(&b, "led");
	skip_a = ticks(&a, "skipped");
	skip_b = ticks(&b, "skipped");
	h_db_exec("UPDATE orders SET status = 'confirmed' WHERE id = $1", order, NULL);
	{
		double deadline = h_now() + 10;

		while (ticks(&a, "skipped") < skip_a + 5 || ticks(&b, "skipped") < skip_b + 5) {
			H_CHECK(h_now() < deadline, "ticks did not skip while the lock was held");
			h_sleep_ms(50);
		}
	}
	H_CHECK(ticks(&a, "led") == led_a && ticks(&b, "led") == led_b,
	        "a tick led while another session held the detector's lock");
	H_CHECK(episodes("invariant", s.id, "confirmed_one_capture") == 0,
	        "a fault opened while no tick could lead");
	r = PQexec(lock, "COMMIT");
	PQclear(r);
	PQfinish(lock);

	/* Released: one of them opens it. From then on every interval's tick is led by exactly
	 * one of the two: over fifteen ticks of each, about fifteen led between them, not thirty.
	 * (A tick is due 90 % of an interval after the last one, and each worker's period is the
	 * interval plus its tick: up to a quarter more leads than one worker's ticks.) */
	f = wait_open("invariant", s.slug, "confirmed_one_capture", "critical", OPEN_TIMEOUT_S);
	expect_gauge(&a, "invariant", 1);
	expect_gauge(&b, "invariant", 1);
	{
		struct tick_counts a0 = tick_counts(&a), b0 = tick_counts(&b), a1, b1;
		double deadline = h_now() + 15, led, da, db;

		for (;;) {
			a1 = tick_counts(&a);
			b1 = tick_counts(&b);
			if (a1.all >= a0.all + 15 && b1.all >= b0.all + 15)
				break;
			H_CHECK(h_now() < deadline, "the detectors did not tick 15 times in 15 s");
			h_sleep_ms(50);
		}
		da = a1.all - a0.all;
		db = b1.all - b0.all;
		led = a1.led - a0.led + b1.led - b0.led;
		printf("over %g ticks of a and %g of b, %g led (a %g, b %g)\n", da, db, led,
		       a1.led - a0.led, b1.led - b0.led);
		H_CHECK(led >= 7 && led <= 1.25 * (da > db ? da : db) + 2,
		        "%g ticks led while a ticked %g times and b %g: want one leader per tick",
		        led, da, db);
	}
	H_CHECK(episodes("invariant", s.id, "confirmed_one_capture") == 1,
	        "the fault was opened more than once while two workers led");
	h_db_exec("UPDATE orders SET status = 'pending' WHERE id = $1", order, NULL);
	g = wait_resolved(f, RESOLVE_TIMEOUT_S);
	H_CHECK(episodes("invariant", s.id, "confirmed_one_capture") == 1, "reopened");
	printf("ticks led: %g (a %g, b %g), skipped: a %g, b %g\n",
	       ticks(&a, "led") + ticks(&b, "led") - led0, ticks(&a, "led"), ticks(&b, "led"),
	       ticks(&a, "skipped"), ticks(&b, "skipped"));
	H_CHECK(ticks(&a, "led") + ticks(&b, "led") > led0 + 10, "the led ticks did not grow");
	H_CHECK(ticks(&a, "failed") == 0 && ticks(&b, "failed") == 0,
	        "detector ticks failed (a %g, b %g)", ticks(&a, "failed"), ticks(&b, "failed"));
	json_decref(f);
	json_decref(g);
	wait_none_open(10);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static int teardown(void **state)
{
	PGconn *db;
	PGresult *r;
	int rc = 0;

	(void)state;
	/* Every worker still running must stop on SIGTERM with status 0 (under the sanitizer a
	 * leak report makes it non-zero, which fails the test). */
	for (int i = 0; i < MAX_LIVE; i++) {
		if (live[i] == NULL)
			continue;
		if (live[i]->p.pid > 0) {
			kill(live[i]->p.pid, SIGCONT);
			if (p_worker_term(&live[i]->p, 5, NULL) != 0) {
				print_error("worker %s: %s after SIGTERM, want exit 0\n",
				            live[i]->p.tag, p_worker_describe(&live[i]->p));
				p_show_log_tail(live[i]->p.log, 30);
				rc = -1;
			}
		}
		live[i] = NULL;
	}
	p_stop_all();
	/* After a failure: undo plants, forget killed workers, close what the test left open. */
	db = h_db();
	restore_schema(db);
	r = PQexec(db, "DELETE FROM worker_heartbeats");
	PQclear(r);
	r = PQexec(db, "UPDATE faults SET resolved_at = now() WHERE resolved_at IS NULL");
	PQclear(r);
	return rc;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_invariant_audit, teardown),
	        cmocka_unit_test_teardown(test_one_leader_per_tick, teardown),
	        /* error_rate before payment_failure_rate: its worker's 20 s window and small
	         * minimum would count the declines of the payment test's store again. */
	        cmocka_unit_test_teardown(test_error_rate, teardown),
	        cmocka_unit_test_teardown(test_dead_events, teardown),
	        cmocka_unit_test_teardown(test_payment_failure_rate, teardown),
	        cmocka_unit_test_teardown(test_outbox_lag, teardown),
	        cmocka_unit_test_teardown(test_stuck_lease_and_heartbeat, teardown),
	        cmocka_unit_test_teardown(test_killed_worker_and_store_view, teardown),
	};

	return H_RUN_SUITE("itest_faults", tests, NULL, NULL);
}
