/*
 * server.c — the request server over libmicrohttpd: reading, admission, the handler threads.
 *
 * Threading: MHD's internal thread pool with epoll only reads requests and writes answers; each
 * request runs to completion on one of our handler threads (see Admission control below),
 * blocking on one pooled database connection. Every statement is bounded by statement_timeout,
 * so a thread is never stuck for long (measured: thread-per-connection was slower in every run).
 *
 * libmicrohttpd 0.9.75 traps handled here: a response queued on the first call (headers just
 * parsed) turns keep-alive off, so we answer on the last call — except when refusing a body
 * outright (413 by Content-Length, bad framing), where closing is what we want; 0.9.75 accepts
 * Content-Length together with Transfer-Encoding, and two of either (request smuggling), which
 * we reject; a request line with so many query arguments that they exhaust the connection's
 * memory pool leaves the connection hanging until its timeout, so on_uri answers such a flood
 * itself before the library parses it (see answer_query_flood); and at its connection limit the
 * library stops accepting, leaving newcomers hanging in the backlog, so the cap is ours
 * (on_accept) and refuses at once. The errors the library still answers itself are listed in
 * docs/api-conventions.md.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <uuid/uuid.h>

#include "clock.h"
#include "constants.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"
#include "banned.h"

/*
 * Admission control. libmicrohttpd's threads only read requests and write answers; handlers
 * run on the server's own handler threads (TERMINUS_HTTP_THREADS), fed by one FIFO queue. A
 * complete request is queued and its connection suspended; a handler thread takes it, runs it,
 * and resumes the connection, whose answer MHD then sends. Because every request is read as
 * soon as it arrives, the server knows how long each one waits — and one that has waited longer
 * than TERMINUS_QUEUE_TARGET_MS when a handler thread gets to it, or that arrives to a queue
 * already HTTP_QUEUE_MAX_PER_THREAD deep per thread, is answered 503 overloaded with
 * Retry-After at once. Under overload, latency stays near the target instead of growing with a
 * queue nobody sees, and when the surge ends there is no backlog to work off.
 */
/* CTX_NEW: only the request line is in (on_uri); CTX_RECEIVING: headers and body being read. */
enum ctx_state { CTX_NEW, CTX_RECEIVING, CTX_QUEUED, CTX_READY };

/*
 * Slow clients. libmicrohttpd's connection timeout restarts on every byte, so a client sending
 * one header byte every few seconds holds a connection for as long as it likes, and ~1,000 of
 * them hold them all. Every connection is therefore tracked (on_connection) with the time its
 * current request may have begun — when it opened, or when its previous answer went out — and
 * a sweeper thread closes (shutdown) the ones whose request has not arrived whole within
 * TERMINUS_HTTP_REQUEST_TIMEOUT_MS. A complete request (queued, running, being answered) is
 * not timed: since_ms is 0 then.
 */
struct conn_track {
	int fd;
	atomic_llong since_ms; /* 0: a whole request is in */
	bool cut;              /* the sweeper has shut it down */
	struct conn_track *prev, *next;
};

/*
 * Fair share. The queue is one lane per store (requests of no store share one), served round
 * robin: a handler thread takes the head of the lane whose turn it is and passes the turn on.
 * When the queue is full, the newcomer's store must be given room if another store has more
 * waiting: the oldest request of the longest lane is answered 503 to make it; if the newcomer's
 * own lane is the longest, it is the newcomer that is answered 503. A store flooding the API
 * therefore fills only its share of the queue, and a store with one request waiting is served
 * within one round of the lanes.
 */
struct lane {
	char store[STORE_SLUG_MAX + 1]; /* "": requests of no store */
	struct req_ctx *head, *tail;
	int queued;
	struct lane *prev, *next; /* the ring of lanes with requests waiting */
};

struct req_ctx {
	struct request req;
	struct http_server *server;
	struct conn_track *track; /* its connection's */
	size_t cap;
	bool too_large;
	bool raw_path_bad;    /* the path as sent has %2F or %00, which decoding would hide */
	bool answered_by_uri; /* on_uri answered it itself (a query flood): close, run nothing */
	struct timespec start;
	enum ctx_state state;
	long long queued_ms;  /* when it joined the queue (clock_ms) */
	struct req_ctx *next; /* in its lane */
};

struct http_server {
	struct MHD_Daemon *daemon;
	atomic_int in_flight;

	pthread_mutex_t lock;
	pthread_cond_t work;
	struct lane *turn; /* the lane served next; NULL: nothing waits. Guarded by lock */
	int queued;
	bool stopping;
	pthread_t *handlers;
	int nhandlers;
	int target_ms;
	struct http_routes routes; /* the API, which this module knows only by these callbacks */

	pthread_mutex_t conns_lock; /* guards the connection list and the sweeper's stop flag */
	pthread_cond_t sweep_stop;
	struct conn_track *conns;
	atomic_int nconns;
	bool sweeper_stopping;
	bool sweeper_started;
	pthread_t sweeper;
	int request_timeout_ms;
};

/* ---- request lifecycle -------------------------------------------------------------------- */

static bool sane_request_id(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++) {
		char ch = s[n];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return n >= 1 && n <= REQUEST_ID_MAX;
}

static void refuse(struct request *req, int status, const char *code, const char *message)
{
	struct err e = ERR_INIT;

	err_set(&e, status, code, "%s", message);
	reply_error(req, &e);
	err_release(&e);
}

static bool is_json_content_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static enum MHD_Result queue(struct req_ctx *ctx)
{
	struct request *req = &ctx->req;
	enum MHD_Result ret;

	if (req->response == NULL) {
		struct err e = ERR_INIT;

		err_internal(&e, "handler for %s %s did not answer", req->method, req->path);
		reply_error(req, &e);
		err_release(&e);
	}
	ret = MHD_queue_response(req->conn, (unsigned int)req->status, req->response);
	MHD_destroy_response(req->response);
	req->response = NULL;
	return ret;
}

struct framing_count {
	int content_length, transfer_encoding;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
	struct framing_count *n = cls;

	(void)kind;
	(void)value;
	if (strcasecmp(key, "Content-Length") == 0)
		n->content_length++;
	else if (strcasecmp(key, "Transfer-Encoding") == 0)
		n->transfer_encoding++;
	return MHD_YES;
}

/* A path whose bytes, decoded, are not UTF-8 names no route and cannot be echoed in JSON. */
static bool utf8_valid(const char *s)
{
	json_t *j;
	const char *p = s;

	while (*p != '\0' && (unsigned char)*p < 0x80)
		p++;
	if (*p == '\0')
		return true; /* ASCII, as nearly every path is: no allocation per request */
	j = json_string(s);  /* jansson checks UTF-8 and refuses what is not */

	json_decref(j);
	return j != NULL;
}

/* First call: headers are in. Refuse what must be refused before reading any body. Framing is
 * strict because two parsers that disagree on where a request ends (a proxy in front, and
 * libmicrohttpd, which takes the first of two Content-Length headers) let one request smuggle
 * another: two Content-Length or two Transfer-Encoding headers, or one of each, are a 400. */
static bool check_framing(struct req_ctx *ctx)
{
	struct request *req = &ctx->req;
	const char *te = req_header(req, "Transfer-Encoding");
	const char *cl = req_header(req, "Content-Length");
	struct framing_count count = {0, 0};

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_framing, &count);
	if (count.content_length > 1 || count.transfer_encoding > 1) {
		refuse(req, 400, "bad_request",
		       count.content_length > 1 ? "more than one Content-Length header"
		                                : "more than one Transfer-Encoding header");
		return false;
	}
	if (ctx->raw_path_bad) {
		refuse(req, 400, "bad_request", "the path may not encode '/' or NUL (%2F, %00)");
		return false;
	}
	if (!utf8_valid(req->path)) {
		refuse(req, 400, "bad_request", "the path is not valid UTF-8");
		return false;
	}
	if (te != NULL && cl != NULL) {
		refuse(req, 400, "bad_request",
		       "Content-Length together with Transfer-Encoding is not allowed");
		return false;
	}
	if (te != NULL && strcasecmp(te, "chunked") != 0) {
		refuse(req, 400, "bad_request", "only the chunked transfer coding is supported");
		return false;
	}
	if (cl != NULL) {
		char *end;
		unsigned long long n = strtoull(cl, &end, 10);

		if (end == cl || *end != '\0') {
			refuse(req, 400, "bad_request", "Content-Length is not a number");
			return false;
		}
		if (n > HTTP_MAX_BODY_BYTES) {
			refuse(req, 413, "payload_too_large", "request body is over 64 KiB");
			return false;
		}
	}
	return true;
}

/* 503 overloaded with Retry-After: the request was not run. waited_ms < 0: the queue was full. */
static void shed(struct request *req, int waited_ms)
{
	struct err e = ERR_INIT;

	if (waited_ms < 0)
		err_set(&e, 503, "overloaded",
		        "the service is at capacity (queue full); retry shortly");
	else
		err_set(&e, 503, "overloaded",
		        "the service is at capacity (waited %d ms for a handler); retry shortly",
		        waited_ms);
	e.retry_after = DB_RETRY_AFTER_S;
	reply_error(req, &e);
	err_release(&e);
}

/* The lane of store in the ring, or NULL. Called with the lock held; the ring holds only lanes
 * with requests waiting, never more than the queue's capacity. */
static struct lane *lane_find(struct http_server *s, const char *store)
{
	struct lane *l = s->turn;

	if (l == NULL)
		return NULL;
	do {
		if (strcmp(l->store, store) == 0)
			return l;
		l = l->next;
	} while (l != s->turn);
	return NULL;
}

static struct lane *lane_longest(struct http_server *s)
{
	struct lane *l = s->turn, *longest = s->turn;

	if (l == NULL)
		return NULL;
	do {
		if (l->queued > longest->queued)
			longest = l;
		l = l->next;
	} while (l != s->turn);
	return longest;
}

static void lane_push(struct http_server *s, struct req_ctx *ctx)
{
	struct lane *l = lane_find(s, ctx->req.store_slug);

	if (l == NULL) {
		l = xcalloc(1, sizeof(*l));
		snprintf(l->store, sizeof(l->store), "%s", ctx->req.store_slug);
		if (s->turn == NULL) {
			l->prev = l->next = l;
			s->turn = l;
		} else { /* just before the turn: a new store waits one round at most */
			l->next = s->turn;
			l->prev = s->turn->prev;
			l->prev->next = l;
			s->turn->prev = l;
		}
	}
	ctx->next = NULL;
	if (l->tail != NULL)
		l->tail->next = ctx;
	else
		l->head = ctx;
	l->tail = ctx;
	l->queued++;
	s->queued++;
}

/* Takes the oldest request of lane l; an emptied lane leaves the ring. The turn passes to the
 * lane after l. Called with the lock held. */
static struct req_ctx *lane_pop(struct http_server *s, struct lane *l)
{
	struct req_ctx *ctx = l->head;

	l->head = ctx->next;
	if (l->head == NULL)
		l->tail = NULL;
	l->queued--;
	s->queued--;
	if (l->queued > 0) {
		s->turn = l->next;
		return ctx;
	}
	if (l->next == l) {
		s->turn = NULL;
	} else {
		l->prev->next = l->next;
		l->next->prev = l->prev;
		s->turn = l->next;
	}
	free(l);
	return ctx;
}

/* A queued request answered without running: its connection is resumed with the answer set.
 * Called with the lock held (it was suspended under it). */
static void finish_unrun(struct req_ctx *ctx, int waited_ms)
{
	shed(&ctx->req, waited_ms);
	ctx->state = CTX_READY;
	MHD_resume_connection(ctx->req.conn);
}

/* Queues a complete request for the handler threads and suspends its connection; false (with
 * the 503 already set) when the queue is full and the request's store already has the largest
 * share of it. Called on MHD's thread. */
static bool admit(struct http_server *s, struct req_ctx *ctx)
{
	bool refused = false;

	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		refused = true;
	} else if (s->queued >= s->nhandlers * HTTP_QUEUE_MAX_PER_THREAD) {
		struct lane *longest = lane_longest(s);
		struct lane *mine = lane_find(s, ctx->req.store_slug);

		if (longest == NULL || (mine != NULL && mine->queued >= longest->queued)) {
			refused = true;
		} else {
			struct req_ctx *victim = longest->head;

			/* Made room for: the victim's lane is not popped through the turn. */
			struct lane *keep = s->turn;

			lane_pop(s, longest);
			if (keep != longest)
				s->turn = keep;
			finish_unrun(victim, (int)(clock_ms() - victim->queued_ms));
		}
	}
	if (!refused) {
		ctx->state = CTX_QUEUED;
		ctx->queued_ms = clock_ms();
		lane_push(s, ctx);
		/* Suspended before a handler thread can resume it: under the lock it takes. */
		MHD_suspend_connection(ctx->req.conn);
		pthread_cond_signal(&s->work);
	}
	pthread_mutex_unlock(&s->lock);
	if (refused)
		shed(&ctx->req, -1);
	return !refused;
}

static void *handler_main(void *arg)
{
	struct http_server *s = arg;

	for (;;) {
		struct req_ctx *ctx;
		long long waited;

		pthread_mutex_lock(&s->lock);
		while (s->turn == NULL && !s->stopping)
			pthread_cond_wait(&s->work, &s->lock);
		if (s->turn == NULL) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		ctx = lane_pop(s, s->turn);
		pthread_mutex_unlock(&s->lock);

		waited = clock_ms() - ctx->queued_ms;
		if (waited > s->target_ms)
			shed(&ctx->req, (int)waited); /* its client has waited long enough */
		else
			s->routes.dispatch(&ctx->req);
		pthread_mutex_lock(&s->lock);
		ctx->state = CTX_READY;
		MHD_resume_connection(ctx->req.conn);
		pthread_mutex_unlock(&s->lock);
	}
}

/* Query arguments beyond HTTP_MAX_QUERY_ARGS: answered 414 by on_uri (answer_query_flood). No
 * route takes more than a handful, and libmicrohttpd must not be left to parse thousands. */
static bool query_flood(const char *uri)
{
	const char *q = strchr(uri, '?');
	int n = 1;

	if (q == NULL)
		return false;
	for (; *q != '\0'; q++) {
		if (*q == '&' && ++n > HTTP_MAX_QUERY_ARGS)
			return true;
	}
	return false;
}

/* Answers 414 with our envelope by writing to the socket directly, then shuts the connection
 * down. libmicrohttpd 0.9.75, left to parse a request line whose arguments exhaust the
 * connection's memory pool, queues an error and then goes on reading as if nothing happened:
 * the client waits for the connection timeout and gets nothing. Nothing has been written on this
 * connection for this request yet (the library reads a request only once the previous answer is
 * out), so a direct write cannot interleave with one of its own. */
static void answer_query_flood(struct req_ctx *ctx, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct err e = ERR_INIT;
	uuid_t u;
	char head[512], *body;
	int n;

	uuid_generate_random(u);
	uuid_unparse_lower(u, ctx->req.request_id);
	err_set(&e, 414, "uri_too_long", "more than %d query arguments", HTTP_MAX_QUERY_ARGS);
	body = error_body(ctx->req.request_id, &e);
	n = snprintf(head, sizeof(head),
	             "HTTP/1.1 414 URI Too Long\r\nConnection: close\r\n"
	             "Content-Type: application/json\r\nX-Request-Id: %s\r\n"
	             "Cache-Control: no-store\r\nContent-Length: %zu\r\n\r\n",
	             ctx->req.request_id, strlen(body));
	if (ci != NULL && n > 0 && (size_t)n < sizeof(head)) {
		/* A few hundred bytes into an idle socket's empty send buffer: one send takes them.
		 */
		(void)!send(ci->connect_fd, head, (size_t)n,
		            MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE);
		(void)!send(ci->connect_fd, body, strlen(body), MSG_NOSIGNAL | MSG_DONTWAIT);
		shutdown(ci->connect_fd, SHUT_RDWR); /* the library sees the end and closes */
	}
	free(body);
	err_release(&e);
	ctx->answered_by_uri = true;
	metrics_inc(M_HTTP_REQUESTS, "unmatched", "414");
	log_fields(LOG_LEVEL_INFO,
	           json_pack("{s:s, s:i, s:s}", "route", "-", "status", 414, "request_id",
	                     ctx->req.request_id),
	           "request");
}

static struct conn_track *track_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

/* libmicrohttpd's URI log callback: the request line is in, the path not yet decoded. The one
 * place that sees the path as sent, so the one place that can tell "/a%2Fb" from "/a/b", and
 * the last moment before the library parses the query arguments. Its return value becomes the
 * request's context (con_cls). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req_ctx *ctx = xcalloc(1, sizeof(*ctx));
	size_t path_len = strcspn(uri, "?");

	clock_gettime(CLOCK_MONOTONIC, &ctx->start);
	ctx->server = cls;
	ctx->state = CTX_NEW;
	ctx->track = track_of(conn);
	for (size_t i = 0; i + 2 < path_len; i++) {
		if (uri[i] == '%' && ((uri[i + 1] == '2' && (uri[i + 2] | 0x20) == 'f') ||
		                      (uri[i + 1] == '0' && uri[i + 2] == '0')))
			ctx->raw_path_bad = true;
	}
	if (query_flood(uri))
		answer_query_flood(ctx, conn);
	return ctx;
}

/* The whole request is in (or answered on its first call): its connection is no longer timed. */
static void request_whole(struct req_ctx *ctx)
{
	if (ctx->track != NULL)
		atomic_store(&ctx->track->since_ms, 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct req_ctx *ctx = *con_cls;

	(void)version;
	if (ctx->answered_by_uri)
		return MHD_NO; /* answered already; the library closes the connection */
	if (ctx->state == CTX_READY)
		return queue(ctx); /* resumed: the handler thread's answer */
	if (ctx->state == CTX_QUEUED)
		return MHD_YES; /* not ours to answer yet */
	if (ctx->state == CTX_NEW) {
		const char *rid;

		ctx->state = CTX_RECEIVING;
		ctx->req.app = s->routes.arg;
		if (s->routes.state_size > 0)
			ctx->req.state = xcalloc(1, s->routes.state_size);
		ctx->req.conn = conn;
		ctx->req.method = method;
		ctx->req.path = url;
		rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
		if (sane_request_id(rid)) {
			snprintf(ctx->req.request_id, sizeof(ctx->req.request_id), "%s", rid);
		} else {
			uuid_t u;

			uuid_generate_random(u);
			uuid_unparse_lower(u, ctx->req.request_id);
		}
		trace_start(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent"),
		            &ctx->req.trace);
		atomic_fetch_add(&s->in_flight, 1);
		if (!check_framing(ctx)) {
			request_whole(ctx);
			return queue(ctx); /* deliberately on the first call: close, read nothing */
		}
		return MHD_YES; /* keep-alive: answer on a later call */
	}

	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		if (!ctx->too_large && ctx->req.body_len + n > HTTP_MAX_BODY_BYTES)
			ctx->too_large = true; /* chunked or under-declared: drop the rest */
		if (!ctx->too_large) {
			if (ctx->req.body_len + n + 1 > ctx->cap) {
				size_t cap = ctx->cap == 0 ? 1024 : ctx->cap;

				while (cap < ctx->req.body_len + n + 1)
					cap *= 2;
				ctx->req.body = xrealloc(ctx->req.body, cap);
				ctx->cap = cap;
			}
			memcpy(ctx->req.body + ctx->req.body_len, upload_data, n);
			ctx->req.body_len += n;
			ctx->req.body[ctx->req.body_len] = '\0';
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	/* Last call: the whole request is in. */
	request_whole(ctx);
	if (ctx->too_large) {
		refuse(&ctx->req, 413, "payload_too_large", "request body is over 64 KiB");
	} else if (ctx->req.body_len > 0 &&
	           (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) &&
	           !is_json_content_type(req_header(&ctx->req, "Content-Type"))) {
		refuse(&ctx->req, 415, "unsupported_media_type",
		       "request bodies must be Content-Type: application/json");
	} else if ((s->routes.admit == NULL || s->routes.admit(&ctx->req)) && admit(s, ctx)) {
		return MHD_YES; /* suspended: a handler thread answers and resumes it */
	}
	return queue(ctx);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct req_ctx *ctx = *con_cls;
	struct timespec end;
	double ms;

	if (ctx == NULL)
		return;
	{
		/* Its answer is out: the connection's next request is timed from now. */
		struct conn_track *t = track_of(conn);

		if (t != NULL)
			atomic_store(&t->since_ms, clock_ms());
	}
	if (ctx->state == CTX_NEW) {
		/* libmicrohttpd answered this request itself before any header reached us (a
		 * request line or headers over its limits, a bad version): nothing of ours to log
		 * or count. */
		free(ctx);
		*con_cls = NULL;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (double)(end.tv_sec - ctx->start.tv_sec) * 1e3 +
	     (double)(end.tv_nsec - ctx->start.tv_nsec) / 1e6;
	{
		char status[8];
		const char *route = ctx->req.route != NULL ? ctx->req.route : "unmatched";

		snprintf(status, sizeof(status), "%d", ctx->req.status);
		metrics_inc(M_HTTP_REQUESTS, route, status);
		metrics_observe(M_HTTP_DURATION, route, ms / 1000);
	}
	if (log_enabled(LOG_LEVEL_INFO)) {
		json_t *f =
		        json_pack("{s:s, s:s, s:i, s:f, s:s}", "method", ctx->req.method, "route",
		                  ctx->req.route != NULL ? ctx->req.route : "-", "status",
		                  ctx->req.status, "latency_ms", (double)(long)(ms * 1000) / 1000,
		                  "request_id", ctx->req.request_id);

		json_object_set_new(f, "trace_id", json_string(ctx->req.trace.trace_id));

		if (ctx->req.store_slug[0] != '\0')
			json_object_set_new(f, "store", json_string(ctx->req.store_slug));
		if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
			json_object_set_new(f, "terminated", json_integer(toe));
		log_fields(LOG_LEVEL_INFO, f, "request");
	}
	if (ctx->req.response != NULL)
		MHD_destroy_response(ctx->req.response);
	free(ctx->req.body);
	free(ctx->req.state);
	free(ctx);
	*con_cls = NULL;
	atomic_fetch_sub(&s->in_flight, 1);
}

/* Every connection, for the request deadline (MHD_OPTION_NOTIFY_CONNECTION). The library
 * notifies CLOSED before it closes the socket, and the sweeper shuts sockets down only under
 * conns_lock, which CLOSED takes: a descriptor the sweeper touches is never one reused by a
 * newer connection. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;
	struct conn_track *t;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		t = xcalloc(1, sizeof(*t));
		t->fd = ci != NULL ? ci->connect_fd : -1;
		atomic_init(&t->since_ms, clock_ms());
		pthread_mutex_lock(&s->conns_lock);
		t->next = s->conns;
		if (s->conns != NULL)
			s->conns->prev = t;
		s->conns = t;
		pthread_mutex_unlock(&s->conns_lock);
		atomic_fetch_add(&s->nconns, 1);
		*socket_context = t;
		return;
	}
	t = *socket_context;
	if (t == NULL)
		return;
	pthread_mutex_lock(&s->conns_lock);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		s->conns = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&s->conns_lock);
	atomic_fetch_sub(&s->nconns, 1);
	free(t);
	*socket_context = NULL;
}

/* Beyond HTTP_CONNECTION_LIMIT a new connection is closed at once (the library's own limit, set
 * higher, would stop accepting and leave it hanging in the backlog). Per-address limits are the
 * library's (MHD_OPTION_PER_IP_CONNECTION_LIMIT), which also close at once. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct http_server *s = cls;

	(void)addr;
	(void)addrlen;
	if (atomic_load(&s->nconns) < HTTP_CONNECTION_LIMIT)
		return MHD_YES;
	metrics_inc(M_HTTP_CONNECTIONS_CLOSED, "over_connection_limit", NULL);
	return MHD_NO;
}

/* Closes connections whose request has not arrived whole within the deadline. */
static void *sweeper_main(void *arg)
{
	struct http_server *s = arg;

	pthread_mutex_lock(&s->conns_lock);
	while (!s->sweeper_stopping) {
		struct timespec until;
		long long now = clock_ms();

		for (struct conn_track *t = s->conns; t != NULL; t = t->next) {
			long long since = atomic_load(&t->since_ms);

			if (since != 0 && !t->cut && now - since > s->request_timeout_ms &&
			    t->fd >= 0) {
				/* The library sees the end of the stream and closes the connection.
				 */
				shutdown(t->fd, SHUT_RDWR);
				t->cut = true;
				metrics_inc(M_HTTP_CONNECTIONS_CLOSED, "request_timeout", NULL);
			}
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += HTTP_SWEEP_INTERVAL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->sweep_stop, &s->conns_lock, &until);
	}
	pthread_mutex_unlock(&s->conns_lock);
	return NULL;
}

bool req_client_address(const struct request *req, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		return inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)size) != NULL;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		struct in6_addr prefix = in6->sin6_addr;
		char text[INET6_ADDRSTRLEN];

		if (IN6_IS_ADDR_V4MAPPED(&prefix))
			return inet_ntop(AF_INET, &prefix.s6_addr[12], out, (socklen_t)size) !=
			       NULL;
		memset(&prefix.s6_addr[8], 0, 8);
		if (inet_ntop(AF_INET6, &prefix, text, sizeof(text)) == NULL)
			return false;
		return (size_t)snprintf(out, size, "%s/64", text) < size;
	}
	return false;
}

/* After the daemon stopped (every connection notified CLOSED, so the list is empty). */
static void destroy_conns(struct http_server *s)
{
	pthread_cond_destroy(&s->sweep_stop);
	pthread_mutex_destroy(&s->conns_lock);
}

static void stop_sweeper(struct http_server *s)
{
	if (!s->sweeper_started)
		return;
	pthread_mutex_lock(&s->conns_lock);
	s->sweeper_stopping = true;
	pthread_cond_signal(&s->sweep_stop);
	pthread_mutex_unlock(&s->conns_lock);
	pthread_join(s->sweeper, NULL);
	s->sweeper_started = false;
}

/* Lets the handler threads finish what is queued, then joins them. */
static void stop_handlers(struct http_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->nhandlers; i++)
		pthread_join(s->handlers[i], NULL);
	free(s->handlers);
	s->handlers = NULL;
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->lock);
}

struct http_server *http_server_start(const struct http_listen *listen,
                                      const struct http_routes *routes, struct err *e)
{
	struct http_server *s = xcalloc(1, sizeof(*s));
	struct addrinfo hints = {0}, *ai = NULL;
	char port[8];
	int rc;

	s->routes = *routes;
	atomic_init(&s->in_flight, 0);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", listen->port);
	rc = getaddrinfo(listen->host, port, &hints, &ai);
	if (rc != 0) {
		err_set(e, 0, "config", "TERMINUS_LISTEN: cannot resolve %s: %s", listen->host,
		        gai_strerror(rc));
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_mutex_init(&s->conns_lock, NULL);
	pthread_cond_init(&s->sweep_stop, NULL);
	atomic_init(&s->nconns, 0);
	s->request_timeout_ms = listen->request_timeout_ms;
	s->target_ms = listen->queue_target_ms;
	s->nhandlers = listen->threads;
	s->handlers = xcalloc((size_t)s->nhandlers, sizeof(*s->handlers));
	for (int i = 0; i < s->nhandlers; i++) {
		if (pthread_create(&s->handlers[i], NULL, handler_main, s) != 0)
			abort(); /* no thread at startup: a server without handlers is useless */
	}
	if (pthread_create(&s->sweeper, NULL, sweeper_main, s) != 0)
		abort();
	s->sweeper_started = true;
	s->daemon = MHD_start_daemon(
	        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
	                MHD_ALLOW_SUSPEND_RESUME | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	        (uint16_t)listen->port, on_accept, s, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
	        http_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE,
	        (unsigned int)HTTP_IO_THREADS, MHD_OPTION_CONNECTION_TIMEOUT,
	        (unsigned int)HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	        (size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_CONNECTION_LIMIT,
	        (unsigned int)(2 * HTTP_CONNECTION_LIMIT), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	        (unsigned int)listen->connections_per_ip, MHD_OPTION_LISTEN_BACKLOG_SIZE,
	        (unsigned int)HTTP_LISTEN_BACKLOG, MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
	        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
	        s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (s->daemon == NULL) {
		err_set(e, 0, "listen", "cannot listen on %s:%d", listen->host, listen->port);
		stop_sweeper(s);
		stop_handlers(s);
		destroy_conns(s);
		free(s);
		return NULL;
	}
	return s;
}

void http_server_stop(struct http_server *s)
{
	MHD_socket fd;
	struct timespec tick = {0, 10 * 1000000L};
	int waited = 0;

	if (s == NULL)
		return;
	fd = MHD_quiesce_daemon(s->daemon); /* stop accepting; in-flight requests go on */
	while (atomic_load(&s->in_flight) > 0 && waited < HTTP_SHUTDOWN_GRACE_MS) {
		nanosleep(&tick, NULL);
		waited += 10;
	}
	if (atomic_load(&s->in_flight) > 0)
		log_warn("stopping with %d requests still in flight", atomic_load(&s->in_flight));
	stop_handlers(s); /* answers (and resumes) whatever is still queued */
	stop_sweeper(s);  /* before the connections it looks at go */
	MHD_stop_daemon(s->daemon);
	destroy_conns(s);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	free(s);
}
