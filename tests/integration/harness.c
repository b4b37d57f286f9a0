/*
 * harness.c — the suites' start and end, and the HTTP, JSON and assertion helpers they share.
 *
 * Every request gets its own curl easy handle and therefore its own connection: slower than a
 * pool, but any thread may call in without coordination, and no test depends on keep-alive
 * state a previous test left behind. Requests the library refuses to frame (Content-Length
 * together with Transfer-Encoding, odd codings) go through h_raw over a plain socket.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <curl/curl.h>

#include "harness.h"
#include "fixtures.h"
#include "procs.h"
#include "xalloc.h"
#include "banned.h"

struct h_env h_env;

static char api_host[64];
static int api_port;

/* ---- small utilities ------------------------------------------------------------------------- */

char *h_strdup(const char *s)
{
	return xstrdup(s);
}

static char *xstrndup(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* A growable byte buffer that stays NUL-terminated. */
struct buf {
	char *p;
	size_t len;
	size_t cap;
};

static void buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static const char *env_required(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v) {
		fprintf(stderr, "integration tests need %s (run them through tests/run.sh)\n",
		        name);
		exit(2);
	}
	return v;
}

void h_init(void)
{
	const char *p;
	char *end;
	long port;

	h_env.api = env_required("TERMINUS_TEST_API");
	h_env.db = env_required("TERMINUS_TEST_DB");
	h_env.operator_key = env_required("TERMINUS_TEST_OPERATOR_KEY");
	h_env.bindir = env_required("TERMINUS_TEST_BIN");
	h_env.pgdir = env_required("TERMINUS_TEST_PGDIR");
	h_env.log = env_required("TERMINUS_TEST_LOG");
	h_env.root = getenv("TERMINUS_TEST_ROOT");
	if (!h_env.root || !*h_env.root)
		h_env.root = ".";

	/* http://HOST:PORT, for h_raw. */
	p = strstr(h_env.api, "://");
	p = p ? p + 3 : h_env.api;
	end = strchr(p, ':');
	if (!end || (size_t)(end - p) >= sizeof(api_host)) {
		fprintf(stderr, "TERMINUS_TEST_API must look like http://HOST:PORT: %s\n",
		        h_env.api);
		exit(2);
	}
	memcpy(api_host, p, (size_t)(end - p));
	api_host[end - p] = '\0';
	port = strtol(end + 1, NULL, 10);
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "bad port in TERMINUS_TEST_API: %s\n", h_env.api);
		exit(2);
	}
	api_port = (int)port;

	/* tests/run.sh starts suites in the repository root; be sure of it, since suites name
	 * repository files by relative paths. */
	if (chdir(h_env.root) != 0) {
		fprintf(stderr, "cannot change to %s: %s\n", h_env.root, strerror(errno));
		exit(2);
	}
	/* Tests kill servers the suite is talking to: a write to such a socket must be an error the
	 * test reports, not a signal that ends the whole suite. */
	signal(SIGPIPE, SIG_IGN);
	json_object_seed(0);
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
		fprintf(stderr, "curl_global_init failed\n");
		exit(2);
	}
}

void h_cleanup(void)
{
	curl_global_cleanup();
}

/* ---- suites ---------------------------------------------------------------------------------- */

/* This is the one place the harness reaches into fixtures.c and procs.c: the end of a suite
 * stops whatever they started. Every suite links all three. */
int h_suite_teardown(void **state)
{
	bool apis_stopped;

	(void)state;
	p_stop_all();
	apis_stopped = h_api_stop_all();
	h_db_close();
	return apis_stopped ? 0 : -1;
}

/* The group's own teardown, for the one cmocka runs (a group runs at a time). */
static CMFixtureFunction own_teardown;
static bool teardown_finished;
static bool teardown_failed;

static int group_teardown(void **state)
{
	int rc = own_teardown ? own_teardown(state) : 0;

	if (h_suite_teardown(state) != 0)
		rc = -1;
	teardown_failed = rc != 0;
	teardown_finished = true;
	return rc;
}

int h_run_group(const char *name, const struct CMUnitTest *tests, size_t n, CMFixtureFunction setup,
                CMFixtureFunction teardown)
{
	int failed;

	own_teardown = teardown;
	teardown_finished = false;
	teardown_failed = false;
	failed = _cmocka_run_group_tests(name, tests, n, setup, group_teardown);
	/* An assertion in the group's own teardown leaves it before the shared one ran. */
	if (!teardown_finished) {
		h_suite_teardown(NULL);
		teardown_failed = true;
	}
	return failed + (teardown_failed ? 1 : 0);
}

int h_run_suite(const char *name, const struct CMUnitTest *tests, size_t n, CMFixtureFunction setup,
                CMFixtureFunction teardown)
{
	int failed;

	h_init();
	failed = h_run_group(name, tests, n, setup, teardown);
	h_cleanup();
	return failed ? 1 : 0;
}

double h_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void h_sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- responses ------------------------------------------------------------------------------- */

void resp_release(struct resp *r)
{
	size_t i;

	free(r->body);
	if (r->json)
		json_decref(r->json);
	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

const char *resp_header(const struct resp *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

static void clear_headers(struct resp *r)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	r->headers = NULL;
	r->nheaders = 0;
}

/* Records one "Name: value" header line (CRLF or LF terminated, or not at all). */
static void add_header_line(struct resp *r, const char *line, size_t n)
{
	const char *colon;
	const char *v;
	const char *e = line + n;

	while (e > line && (e[-1] == '\r' || e[-1] == '\n'))
		e--;
	colon = memchr(line, ':', (size_t)(e - line));
	if (!colon)
		return;
	v = colon + 1;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	r->headers = xrealloc(r->headers, (r->nheaders + 1) * sizeof(*r->headers));
	r->headers[r->nheaders].name = xstrndup(line, (size_t)(colon - line));
	r->headers[r->nheaders].value = xstrndup(v, (size_t)(e - v));
	r->nheaders++;
}

static void finish_body(struct resp *r, struct buf *b)
{
	json_error_t jerr;

	if (!b->p)
		buf_add(b, "", 0);
	r->body = b->p;
	r->body_len = b->len;
	b->p = NULL;
	r->json = r->body_len ? json_loadb(r->body, r->body_len, 0, &jerr) : NULL;
}

static void note_request(struct resp *r, const char *method, const char *path)
{
	snprintf(r->method, sizeof(r->method), "%s", method);
	snprintf(r->path, sizeof(r->path), "%s", path);
}

/* ---- libcurl --------------------------------------------------------------------------------- */

struct upload {
	const char *p;
	size_t len;
	size_t off;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	buf_add(ud, ptr, size * nmemb);
	return size * nmemb;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct resp *r = ud;
	size_t n = size * nmemb;

	/* A new status line starts a new header block (after 100 Continue, say). */
	if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
		clear_headers(r);
	else
		add_header_line(r, ptr, n);
	return n;
}

/* Feeds a chunked upload in small pieces so that it really is several chunks. */
static size_t on_read(char *dst, size_t size, size_t nmemb, void *ud)
{
	struct upload *u = ud;
	size_t n = size * nmemb;

	if (n > 4096)
		n = 4096;
	if (n > u->len - u->off)
		n = u->len - u->off;
	memcpy(dst, u->p + u->off, n);
	u->off += n;
	return n;
}

static struct curl_slist *add_hdr(struct curl_slist *l, const char *name, const char *value)
{
	char line[1024];
	struct curl_slist *n;

	/* "Name;" is curl's way to send a header with an empty value. */
	if (*value)
		snprintf(line, sizeof(line), "%s: %s", name, value);
	else
		snprintf(line, sizeof(line), "%s;", name);
	n = curl_slist_append(l, line);
	if (!n)
		abort(); /* curl could not allocate: out of memory (the policy of xalloc.h) */
	return n;
}

bool h_request(const struct h_req *q, struct resp *r)
{
	const char *base = q->base ? q->base : h_env.api;
	const char *method = q->method ? q->method : (q->body ? "POST" : "GET");
	size_t blen = q->body ? (q->body_len ? q->body_len : strlen(q->body)) : 0;
	struct upload up = {.p = q->body, .len = blen, .off = 0};
	struct curl_slist *hdrs = NULL;
	struct buf body = {0};
	char *url = NULL;
	size_t url_len;
	CURL *c = NULL;
	CURLcode rc;
	double t0;
	bool ok = false;

	resp_release(r);
	note_request(r, method, q->path);
	url_len = strlen(base) + strlen(q->path) + 1;
	url = xmalloc(url_len);
	snprintf(url, url_len, "%s%s", base, q->path);

	c = curl_easy_init();
	if (!c) {
		snprintf(r->error, sizeof(r->error), "curl_easy_init failed");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->timeout_ms > 0 ? q->timeout_ms : 30000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (q->source != NULL) {
		char iface[64];

		snprintf(iface, sizeof(iface), "host!%s", q->source); /* bind, never an interface */
		curl_easy_setopt(c, CURLOPT_INTERFACE, iface);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	/* A path is sent as written: tests probe odd ones on purpose. */
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);

	if (q->body) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		if (q->chunked) {
			curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(c, CURLOPT_READDATA, &up);
			hdrs = add_hdr(hdrs, "Transfer-Encoding", "chunked");
		} else {
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
		}
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "POST") == 0) {
		/* An empty POST still says Content-Length: 0. */
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}

	/* curl's defaults are not what a JSON client sends: no Expect, no form content type. */
	hdrs = add_hdr(hdrs, "Expect", q->expect_100 ? "100-continue" : "");
	if (q->content_type && *q->content_type)
		hdrs = add_hdr(hdrs, "Content-Type", q->content_type);
	else if (q->content_type || !q->body)
		hdrs = curl_slist_append(hdrs, "Content-Type:"); /* removes the header */
	else
		hdrs = add_hdr(hdrs, "Content-Type", "application/json");
	if (q->authorization) {
		hdrs = add_hdr(hdrs, "Authorization", q->authorization);
	} else if (q->auth) {
		char v[600];

		snprintf(v, sizeof(v), "Bearer %s", q->auth);
		hdrs = add_hdr(hdrs, "Authorization", v);
	}
	if (q->idem_key)
		hdrs = add_hdr(hdrs, "Idempotency-Key", q->idem_key);
	if (q->request_id)
		hdrs = add_hdr(hdrs, "X-Request-Id", q->request_id);
	for (const char *const *h = q->headers; h && *h; h++) {
		struct curl_slist *n = curl_slist_append(hdrs, *h);

		if (!n)
			abort(); /* curl could not allocate: out of memory (the policy of xalloc.h)
			          */
		hdrs = n;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

	t0 = h_now();
	rc = curl_easy_perform(c);
	r->seconds = h_now() - t0;
	if (rc != CURLE_OK) {
		snprintf(r->error, sizeof(r->error), "%s %s: %s", method, q->path,
		         curl_easy_strerror(rc));
		r->status = 0;
		finish_body(r, &body);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	finish_body(r, &body);
	ok = true;
out:
	free(body.p);
	curl_slist_free_all(hdrs);
	if (c)
		curl_easy_cleanup(c);
	free(url);
	return ok;
}

bool h_send(struct resp *r, const char *method, const char *path, const char *auth,
            const char *body)
{
	struct h_req q = {.method = method, .path = path, .auth = auth, .body = body};

	return h_request(&q, r);
}

bool h_get(struct resp *r, const char *path, const char *auth)
{
	return h_send(r, "GET", path, auth, NULL);
}

bool h_sendf(struct resp *r, const char *method, const char *auth, const char *body,
             const char *path_fmt, ...)
{
	char path[1024];
	va_list ap;

	va_start(ap, path_fmt);
	vsnprintf(path, sizeof(path), path_fmt, ap);
	va_end(ap);
	return h_send(r, method, path, auth, body);
}

bool h_getf(struct resp *r, const char *auth, const char *path_fmt, ...)
{
	char path[1024];
	va_list ap;

	va_start(ap, path_fmt);
	vsnprintf(path, sizeof(path), path_fmt, ap);
	va_end(ap);
	return h_send(r, "GET", path, auth, NULL);
}

/* ---- raw socket ------------------------------------------------------------------------------ */

/* Decodes a chunked response body in place; returns the decoded length. */
static size_t dechunk(char *p, size_t len)
{
	size_t in = 0;
	size_t out = 0;

	while (in < len) {
		char *end;
		unsigned long n = strtoul(p + in, &end, 16);
		char *crlf = memchr(p + in, '\n', len - in);

		if (!crlf || end == p + in)
			break;
		in = (size_t)(crlf - p) + 1;
		if (n == 0 || n > len - in)
			break;
		memmove(p + out, p + in, n);
		out += n;
		in += n + 2;
	}
	p[out] = '\0';
	return out;
}

bool h_raw(const void *bytes, size_t len, bool half_close, long timeout_ms, struct resp *r)
{
	struct sockaddr_in sa = {0};
	struct buf in = {0};
	double deadline;
	size_t sent = 0;
	char *head_end = NULL;
	long want = -1;
	bool ok = false;
	int fd;

	resp_release(r);
	note_request(r, "RAW", "");
	{
		/* The request line, for failure messages. */
		const char *nl = memchr(bytes, '\r', len < 200 ? len : 200);
		size_t n = nl ? (size_t)(nl - (const char *)bytes) : (len < 60 ? len : 60);

		snprintf(r->path, sizeof(r->path), "%.*s", (int)n, (const char *)bytes);
	}
	deadline = h_now() + (double)(timeout_ms > 0 ? timeout_ms : 10000) / 1000.0;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(r->error, sizeof(r->error), "socket: %s", strerror(errno));
		return false;
	}
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)api_port);
	if (inet_pton(AF_INET, api_host, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(r->error, sizeof(r->error), "connect %s:%d: %s", api_host, api_port,
		         strerror(errno));
		goto out;
	}
	while (sent < len) {
		ssize_t n = send(fd, (const char *)bytes + sent, len - sent, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* the server may answer and close early; read what it said */
		}
		sent += (size_t)n;
	}
	if (half_close)
		shutdown(fd, SHUT_WR);

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		double left = deadline - h_now();
		char chunk[8192];
		ssize_t n;

		if (head_end && want >= 0 && in.len - (size_t)(head_end + 4 - in.p) >= (size_t)want)
			break;
		if (left <= 0) {
			snprintf(r->error, sizeof(r->error), "timed out reading the answer");
			goto out;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_add(&in, chunk, (size_t)n);
		if (!head_end && (head_end = strstr(in.p, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(in.p, "\r\nContent-Length:");

			if (cl && cl < head_end)
				want = strtol(cl + 17, NULL, 10);
		}
		if (head_end)
			head_end = strstr(in.p, "\r\n\r\n"); /* in.p may have moved */
	}
	if (!in.p || !(head_end = strstr(in.p, "\r\n\r\n")) ||
	    sscanf(in.p, "HTTP/%*s %ld", &r->status) != 1) {
		snprintf(r->error, sizeof(r->error), "no HTTP answer (%zu bytes)", in.len);
		r->status = 0;
		goto out;
	}
	{
		const char *line = strstr(in.p, "\r\n") + 2;
		struct buf body = {0};
		const char *te;

		while (line < head_end) {
			const char *e = strstr(line, "\r\n");

			add_header_line(r, line, (size_t)(e - line));
			line = e + 2;
		}
		buf_add(&body, head_end + 4, in.len - (size_t)(head_end + 4 - in.p));
		te = resp_header(r, "Transfer-Encoding");
		if (te && strcasecmp(te, "chunked") == 0)
			body.len = dechunk(body.p, body.len);
		finish_body(r, &body);
	}
	ok = true;
out:
	free(in.p);
	close(fd);
	return ok;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

json_t *h_j(const json_t *root, const char *path)
{
	const char *p = path;
	json_t *cur = (json_t *)(uintptr_t)root; /* jansson getters take non-const */

	while (cur && *p) {
		if (*p == '.') {
			p++;
			continue;
		}
		if (*p == '[') {
			char *end;
			long i = strtol(p + 1, &end, 10);

			if (*end != ']' || !json_is_array(cur))
				return NULL;
			cur = json_array_get(cur, (size_t)i);
			p = end + 1;
			continue;
		}
		{
			size_t n = strcspn(p, ".[");
			char key[128];

			if (n >= sizeof(key) || !json_is_object(cur))
				return NULL;
			memcpy(key, p, n);
			key[n] = '\0';
			cur = json_object_get(cur, key);
			p += n;
		}
	}
	return cur;
}

const char *h_jstr(const json_t *root, const char *path)
{
	return json_string_value(h_j(root, path));
}

bool h_jint(const json_t *root, const char *path, long long *out)
{
	json_t *v = h_j(root, path);

	if (!json_is_integer(v))
		return false;
	*out = (long long)json_integer_value(v);
	return true;
}

bool h_is_uuid(const char *s)
{
	static const int dash[] = {8, 13, 18, 23};
	size_t i;
	size_t d = 0;

	if (!s || strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (d < 4 && (int)i == dash[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i]) {
			return false;
		}
	}
	return true;
}

bool h_is_rfc3339_utc(const char *s)
{
	/* YYYY-MM-DDTHH:MM:SS[.fraction]Z */
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t i;

	if (!s || strlen(s) < sizeof(shape))
		return false;
	for (i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return false;
	}
	if (s[i] == '.') {
		i++;
		if (s[i] < '0' || s[i] > '9')
			return false;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return s[i] == 'Z' && s[i + 1] == '\0';
}

/* ---- assertions ------------------------------------------------------------------------------ */

void h_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint_error(fmt, ap);
	va_end(ap);
	print_error("\n");
	_fail(file, line);
	abort(); /* not reached: _fail leaves the test */
}

/* Prints what was asked and what came back (body shortened, NULs shown as \0). */
static void describe(const struct resp *r)
{
	size_t i;
	size_t n = r->body_len < 1500 ? r->body_len : 1500;

	print_error("  request:  %s %s\n", r->method, r->path);
	if (r->status == 0) {
		print_error("  no answer: %s\n", r->error);
		return;
	}
	print_error("  status:   %ld (%.3f s)\n", r->status, r->seconds);
	for (i = 0; i < r->nheaders; i++)
		print_error("  header:   %s: %s\n", r->headers[i].name, r->headers[i].value);
	print_error("  body:     ");
	for (i = 0; i < n; i++) {
		if (r->body[i] == '\0')
			print_error("\\0");
		else
			print_error("%c", r->body[i]);
	}
	print_error("%s\n", r->body_len > n ? "..." : "");
}

static void fail_resp(const struct resp *r, const char *file, int line, const char *fmt, ...)
        H_PRINTF(4, 5) __attribute__((noreturn));

static void fail_resp(const struct resp *r, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint_error(fmt, ap);
	va_end(ap);
	print_error("\n");
	describe(r);
	_fail(file, line);
	abort(); /* not reached: _fail leaves the test */
}

void h_assert_status(const struct resp *r, long status, const char *file, int line)
{
	const char *rid;

	if (r->status != status)
		fail_resp(r, file, line, "expected HTTP %ld, got %ld", status, r->status);
	rid = resp_header(r, "X-Request-Id");
	if (!rid || !*rid)
		fail_resp(r, file, line, "response without X-Request-Id");
}

/* Phrases that only raw database or library text would contain. */
static const char *const leaks[] = {
        "SQLSTATE",    "violates", "ERROR:  ", "syntax error at",
        "relation \"", "PGRES_",   "libpq",    "duplicate key value",
};

void h_assert_error(const struct resp *r, long status, const char *code, const char *field,
                    const char *file, int line)
{
	const char *ct = resp_header(r, "Content-Type");
	json_t *err;
	const char *got;
	size_t i;

	h_assert_status(r, status, file, line);
	if (!ct || strncasecmp(ct, "application/json", 16) != 0)
		fail_resp(r, file, line, "error without Content-Type: application/json");
	if (!json_is_object(r->json) || json_object_size(r->json) != 1 ||
	    !json_is_object(err = json_object_get(r->json, "error")))
		fail_resp(r, file, line, "not the error envelope {\"error\":{...}}");
	if (json_object_size(err) != 4 || !json_is_string(json_object_get(err, "code")) ||
	    !json_is_string(json_object_get(err, "message")) ||
	    !json_is_string(json_object_get(err, "request_id")) ||
	    !json_is_object(json_object_get(err, "details")))
		fail_resp(r, file, line,
		          "error must have exactly code, message, request_id (strings), details "
		          "(object)");
	got = h_jstr(err, "code");
	if (code && strcmp(got, code) != 0)
		fail_resp(r, file, line, "expected error code %s, got %s", code, got);
	if (!*h_jstr(err, "message"))
		fail_resp(r, file, line, "empty error message");
	if (strcmp(h_jstr(err, "request_id"), resp_header(r, "X-Request-Id")) != 0)
		fail_resp(r, file, line, "error.request_id differs from the X-Request-Id header");
	for (i = 0; i < sizeof(leaks) / sizeof(leaks[0]); i++)
		if (strstr(r->body, leaks[i]))
			fail_resp(r, file, line, "database text in the error: \"%s\"", leaks[i]);
	if (field) {
		const char *f = h_jstr(err, "details.field");

		if (!f || strcmp(f, field) != 0)
			fail_resp(r, file, line, "expected details.field \"%s\", got \"%s\"", field,
			          f ? f : "(none)");
	}
	if (status == 503 || status == 429 || (code && !strcmp(code, "idempotency_key_in_use"))) {
		const char *ra = resp_header(r, "Retry-After");
		char *end = NULL;
		long secs = ra ? strtol(ra, &end, 10) : -1;

		if (!ra || *end || secs < 1)
			fail_resp(r, file, line, "missing or bad Retry-After (want seconds >= 1)");
	}
}

void h_assert_jstr(const json_t *root, const char *path, const char *expected, const char *file,
                   int line)
{
	const char *got = h_jstr(root, path);

	if (!got || strcmp(got, expected) != 0) {
		char *dump = root ? json_dumps(root, JSON_COMPACT) : NULL;

		print_error("in: %.1500s\n", dump ? dump : "(null)");
		free(dump);
		h_fail_at(file, line, "expected %s == \"%s\", got %s%s%s", path, expected,
		          got ? "\"" : "", got ? got : "(absent or not a string)", got ? "\"" : "");
	}
}

void h_assert_jint(const json_t *root, const char *path, long long expected, const char *file,
                   int line)
{
	long long got = 0;

	if (!h_jint(root, path, &got) || got != expected) {
		char *dump = root ? json_dumps(root, JSON_COMPACT) : NULL;
		bool have = h_jint(root, path, &got);

		print_error("in: %.1500s\n", dump ? dump : "(null)");
		free(dump);
		if (have)
			h_fail_at(file, line, "expected %s == %lld, got %lld", path, expected, got);
		h_fail_at(file, line, "expected %s == %lld, absent or not an integer", path,
		          expected);
	}
}

void h_assert_same_body(const struct resp *a, const struct resp *b, const char *file, int line)
{
	if (a->status != b->status || a->body_len != b->body_len ||
	    memcmp(a->body, b->body, a->body_len) != 0) {
		print_error("first:\n");
		describe(a);
		print_error("second:\n");
		describe(b);
		h_fail_at(file, line, "the two answers differ (status or body bytes)");
	}
}
