/*
 * http.c — the libcurl multi engine and one blocking exchange (see http.h).
 *
 * Waiting requests sit in a binary heap ordered by their scheduled time; running ones are in a
 * flat list (for teardown). Easy handles are recycled: curl_easy_reset() keeps nothing of the
 * last request's options, while connections stay in the multi handle's cache, so a new request
 * to the same API reuses an idle keep-alive connection instead of paying for a new one.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#include "http.h"
#include "util.h"
#include "xalloc.h"
#include "banned.h"

struct http_engine {
	CURLM *multi;
	int concurrency;
	struct http_req **heap; /* waiting, by t_sched */
	size_t nheap, capheap;
	struct http_req **run; /* running */
	size_t nrun, caprun;
	CURL **spare; /* recycled easy handles */
	size_t nspare, capspare;
	unsigned long long sent, abort_unsent, abort_running;
};

/* ---- requests -------------------------------------------------------------------------- */

struct http_req *http_req_new(const char *base, const char *method, const char *path,
                              const char *body)
{
	struct http_req *r = xcalloc(1, sizeof(*r));

	r->base = base;
	r->method = method;
	r->path = xstrdup(path);
	r->body = body ? xstrdup(body) : NULL;
	r->store = -1;
	return r;
}

void http_req_reset(struct http_req *r)
{
	free(r->resp);
	r->resp = NULL;
	r->resp_len = r->resp_cap = 0;
	r->status = 0;
	r->timed_out = r->aborted = r->replayed = false;
	r->retry_after_s = 0;
	r->curl_error[0] = '\0';
	r->t_sent = r->t_done = 0;
}

void http_req_free(struct http_req *r)
{
	if (!r)
		return;
	free(r->resp);
	free(r->path);
	free(r->body);
	curl_slist_free_all(r->hdrs);
	free(r);
}

json_t *http_req_json(const struct http_req *r)
{
	json_error_t jerr;

	if (!r->resp || r->resp_len == 0)
		return NULL;
	return json_loadb(r->resp, r->resp_len, 0, &jerr);
}

const char *http_req_error_code(const struct http_req *r, char *buf, size_t n)
{
	json_t *j = http_req_json(r);
	const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));

	snprintf(buf, n, "%s", code ? code : "");
	json_decref(j);
	return buf;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_req *r = arg;
	size_t n = size * nmemb;

	if (r->resp_len + n + 1 > r->resp_cap) {
		r->resp_cap = (r->resp_len + n + 1) * 2;
		r->resp = xrealloc(r->resp, r->resp_cap);
	}
	memcpy(r->resp + r->resp_len, data, n);
	r->resp_len += n;
	r->resp[r->resp_len] = '\0';
	return n;
}

static bool header_is(const char *line, size_t n, const char *name, const char **value)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return false;
	*value = line + k + 1;
	while (**value == ' ')
		(*value)++;
	return true;
}

/* Retry-After in [v, end) as delta-seconds (what Terminus sends), at most a day; the HTTP-date
 * form, or anything else, is 0: the client's own backoff applies. (curl's header lines are not
 * NUL-terminated.) */
static long retry_after(const char *v, const char *end)
{
	long s = 0;
	const char *p = v;

	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (s < 86400)
			s = s * 10 + (*p - '0');
	}
	if (p == v || (p < end && *p != '\r' && *p != '\n' && *p != ' '))
		return 0;
	return s < 86400 ? s : 86400;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_req *r = arg;
	size_t n = size * nmemb;
	const char *v;

	if (header_is(data, n, "Idempotent-Replayed", &v))
		r->replayed = strncasecmp(v, "true", 4) == 0;
	else if (header_is(data, n, "Retry-After", &v))
		r->retry_after_s = retry_after(v, data + n);
	return n;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *line)
{
	struct curl_slist *n = curl_slist_append(h, line);

	if (!n)
		abort(); /* curl could not allocate: out of memory (the policy of xalloc.h) */
	return n;
}

/* Sets every option of one exchange on a fresh (or reset) easy handle. */
static void prepare(CURL *c, struct http_req *r, char *url, size_t urlsz)
{
	struct curl_slist *h = NULL;
	long timeout = r->timeout_ms > 0 ? r->timeout_ms : 10000;

	snprintf(url, urlsz, "%s%s", r->base, r->path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout < 5000 ? timeout : 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_PRIVATE, r);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	if (r->src[0]) {
		/* A customer of its own: the API limits anonymous clients per source address.
		 * "host!" names an address, not an interface; curl reuses a cached connection
		 * only for the same local address. */
		char iface[32];

		snprintf(iface, sizeof(iface), "host!%s", r->src);
		curl_easy_setopt(c, CURLOPT_INTERFACE, iface);
	}
	if (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)(r->body ? strlen(r->body) : 0));
		if (strcmp(r->method, "PUT") == 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
	}
	/* What a JSON client sends: no Expect: 100-continue, no form content type. */
	h = add_header(h, "Expect:");
	h = add_header(h, r->body ? "Content-Type: application/json" : "Content-Type:");
	if (r->auth) {
		char line[600];

		snprintf(line, sizeof(line), "Authorization: Bearer %s", r->auth);
		h = add_header(h, line);
	}
	if (r->idem_key[0]) {
		char line[160];

		snprintf(line, sizeof(line), "Idempotency-Key: %s", r->idem_key);
		h = add_header(h, line);
	}
	curl_slist_free_all(r->hdrs);
	r->hdrs = h;
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
}

/* ---- the heap of waiting requests ------------------------------------------------------ */

static void heap_swap(struct http_engine *e, size_t a, size_t b)
{
	struct http_req *t = e->heap[a];

	e->heap[a] = e->heap[b];
	e->heap[b] = t;
}

static void heap_push(struct http_engine *e, struct http_req *r)
{
	size_t i;

	if (e->nheap == e->capheap) {
		e->capheap = e->capheap ? e->capheap * 2 : 256;
		e->heap = xrealloc(e->heap, e->capheap * sizeof(*e->heap));
	}
	i = e->nheap++;
	e->heap[i] = r;
	while (i > 0 && e->heap[(i - 1) / 2]->t_sched > e->heap[i]->t_sched) {
		heap_swap(e, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static struct http_req *heap_pop(struct http_engine *e)
{
	struct http_req *top = e->heap[0];
	size_t i = 0;

	e->heap[0] = e->heap[--e->nheap];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < e->nheap && e->heap[l]->t_sched < e->heap[m]->t_sched)
			m = l;
		if (r < e->nheap && e->heap[r]->t_sched < e->heap[m]->t_sched)
			m = r;
		if (m == i)
			break;
		heap_swap(e, i, m);
		i = m;
	}
	return top;
}

/* ---- the engine ------------------------------------------------------------------------ */

struct http_engine *http_engine_new(int concurrency)
{
	struct http_engine *e = xcalloc(1, sizeof(*e));

	e->multi = curl_multi_init();
	if (!e->multi)
		abort(); /* no curl multi handle (out of memory): nothing to run requests on */
	e->concurrency = concurrency > 0 ? concurrency : 1;
	/* Keep as many idle connections as we may have requests in flight. */
	curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, (long)e->concurrency);
	return e;
}

void http_submit(struct http_engine *e, struct http_req *r)
{
	heap_push(e, r);
}

static void run_add(struct http_engine *e, struct http_req *r)
{
	if (e->nrun == e->caprun) {
		e->caprun = e->caprun ? e->caprun * 2 : 64;
		e->run = xrealloc(e->run, e->caprun * sizeof(*e->run));
	}
	r->heap_pos = e->nrun;
	e->run[e->nrun++] = r;
}

static void run_remove(struct http_engine *e, struct http_req *r)
{
	size_t i = r->heap_pos;

	e->run[i] = e->run[--e->nrun];
	e->run[i]->heap_pos = i;
}

static CURL *easy_get(struct http_engine *e)
{
	CURL *c;

	if (e->nspare > 0) {
		c = e->spare[--e->nspare];
		curl_easy_reset(c);
		return c;
	}
	c = curl_easy_init();
	if (!c)
		abort(); /* no curl easy handle (out of memory): nothing to send with */
	return c;
}

static void easy_put(struct http_engine *e, CURL *c)
{
	if (e->nspare == e->capspare) {
		e->capspare = e->capspare ? e->capspare * 2 : 64;
		e->spare = xrealloc(e->spare, e->capspare * sizeof(*e->spare));
	}
	e->spare[e->nspare++] = c;
}

static void start_due(struct http_engine *e, double now)
{
	while (e->nheap > 0 && (int)e->nrun < e->concurrency && e->heap[0]->t_sched <= now) {
		struct http_req *r = heap_pop(e);
		CURL *c = easy_get(e);
		char url[1024];

		prepare(c, r, url, sizeof(url));
		r->easy = c;
		r->t_sent = mono_now();
		if (curl_multi_add_handle(e->multi, c) != CURLM_OK)
			abort(); /* programmer error (handle already added) or out of memory */
		run_add(e, r);
		e->sent++;
	}
}

static void finish(struct http_engine *e, struct http_req *r, CURLcode rc)
{
	CURL *c = r->easy;

	curl_multi_remove_handle(e->multi, c);
	run_remove(e, r);
	r->t_done = mono_now();
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	} else {
		r->status = 0;
		r->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
		snprintf(r->curl_error, sizeof(r->curl_error), "%s", curl_easy_strerror(rc));
	}
	r->easy = NULL;
	easy_put(e, c);
	r->done(e, r, r->arg);
}

static void collect(struct http_engine *e)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(e->multi, &left)) != NULL) {
		void *r = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &r);
		finish(e, r, m->data.result);
	}
}

void http_engine_step(struct http_engine *e, double max_wait_s)
{
	int still;
	double now = mono_now(), wait = max_wait_s;

	start_due(e, now);
	curl_multi_perform(e->multi, &still);
	collect(e);
	now = mono_now();
	start_due(e, now);
	if (e->nheap > 0 && (int)e->nrun < e->concurrency) {
		double due = e->heap[0]->t_sched - now;

		if (due < wait)
			wait = due;
	}
	if (wait > 0) {
		int ms = (int)(wait * 1000.0);

		curl_multi_poll(e->multi, NULL, 0, ms > 0 ? ms : 1, NULL);
	}
	curl_multi_perform(e->multi, &still);
	collect(e);
}

int http_engine_in_flight(const struct http_engine *e)
{
	return (int)e->nrun;
}

size_t http_engine_queued(const struct http_engine *e)
{
	return e->nheap;
}

unsigned long long http_engine_sent(const struct http_engine *e)
{
	return e->sent;
}

void http_engine_free(struct http_engine *e, unsigned long long *unsent,
                      unsigned long long *in_flight)
{
	if (!e)
		return;
	/* Owners must not resubmit an aborted request; loop anyway in case one did. */
	while (e->nheap > 0 || e->nrun > 0) {
		while (e->nrun > 0) {
			struct http_req *r = e->run[e->nrun - 1];

			curl_multi_remove_handle(e->multi, r->easy);
			easy_put(e, r->easy);
			r->easy = NULL;
			run_remove(e, r);
			r->aborted = true;
			r->status = 0;
			r->t_done = mono_now();
			e->abort_running++;
			r->done(e, r, r->arg);
		}
		while (e->nheap > 0) {
			struct http_req *r = heap_pop(e);

			r->aborted = true;
			r->status = 0;
			e->abort_unsent++;
			r->done(e, r, r->arg);
		}
	}
	if (unsent)
		*unsent = e->abort_unsent;
	if (in_flight)
		*in_flight = e->abort_running;
	for (size_t i = 0; i < e->nspare; i++)
		curl_easy_cleanup(e->spare[i]);
	curl_multi_cleanup(e->multi);
	free(e->spare);
	free(e->heap);
	free(e->run);
	free(e);
}

/* ---- one blocking exchange ------------------------------------------------------------- */

bool http_sync(const char *base, const char *method, const char *path, const char *auth,
               const char *body, long timeout_ms, struct http_answer *a)
{
	struct http_req *r = http_req_new(base, method, path, body);
	CURL *c = curl_easy_init();
	char url[1024];
	CURLcode rc;
	json_error_t jerr;

	memset(a, 0, sizeof(*a));
	if (!c)
		abort(); /* no curl easy handle (out of memory): nothing to send with */
	r->auth = auth;
	r->timeout_ms = timeout_ms;
	prepare(c, r, url, sizeof(url));
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
		a->body = r->resp ? r->resp : xstrdup("");
		r->resp = NULL;
		a->json = json_loads(a->body, 0, &jerr);
	} else {
		snprintf(a->error, sizeof(a->error), "%s %s%s: %s", method, base, path,
		         curl_easy_strerror(rc));
	}
	curl_easy_cleanup(c);
	http_req_free(r);
	return rc == CURLE_OK;
}

void http_answer_release(struct http_answer *a)
{
	json_decref(a->json);
	free(a->body);
	memset(a, 0, sizeof(*a));
}
