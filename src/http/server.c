/*
 * server.c — the request server over libmicrohttpd: reading, admission, the handler threads.
 *
 * Threading: MHD's internal thread pool with epoll only reads requests and writes answers; each
 * request runs to completion on one of our handler threads (see Admission control below),
 * blocking on one pooled database connection. Every statement is bounded by statement_timeout,
 * so a thread is never stuck for long (measured: thread-per-connection was slower in every run).
 *
 * Two libmicrohttpd 0.9.75 traps are handled here: a response queued on the first call (headers
 * just parsed) turns keep-alive off, so we answer on the last call — except when refusing a
 * body outright (413 by Content-Length, bad framing), where closing is what we want; and 0.9.75
 * accepts Content-Length together with Transfer-Encoding (request smuggling), which we reject.
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

struct req_ctx {
	struct request req;
	struct http_server *server;
	size_t cap;
	bool too_large;
	bool raw_path_bad; /* the path as sent has %2F or %00, which decoding would hide */
	struct timespec start;
	enum ctx_state state;
	long long queued_ms;  /* when it joined the queue (clock_ms) */
	struct req_ctx *next; /* in the queue */
};

struct http_server {
	struct MHD_Daemon *daemon;
	atomic_int in_flight;

	pthread_mutex_t lock;
	pthread_cond_t work;
	struct req_ctx *head, *tail; /* the queue, guarded by lock */
	int queued;
	bool stopping;
	pthread_t *handlers;
	int nhandlers;
	int target_ms;
	struct http_routes routes; /* the API, which this module knows only by these callbacks */
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

/* Queues a complete request for the handler threads and suspends its connection; false (with
 * the 503 already set) when the queue is full. Called on MHD's thread. */
static bool admit(struct http_server *s, struct req_ctx *ctx)
{
	bool full;

	pthread_mutex_lock(&s->lock);
	full = s->stopping || s->queued >= s->nhandlers * HTTP_QUEUE_MAX_PER_THREAD;
	if (!full) {
		ctx->state = CTX_QUEUED;
		ctx->queued_ms = clock_ms();
		ctx->next = NULL;
		if (s->tail != NULL)
			s->tail->next = ctx;
		else
			s->head = ctx;
		s->tail = ctx;
		s->queued++;
		/* Suspended before a handler thread can resume it: under the lock it takes. */
		MHD_suspend_connection(ctx->req.conn);
		pthread_cond_signal(&s->work);
	}
	pthread_mutex_unlock(&s->lock);
	if (full)
		shed(&ctx->req, -1);
	return !full;
}

static void *handler_main(void *arg)
{
	struct http_server *s = arg;

	for (;;) {
		struct req_ctx *ctx;
		long long waited;

		pthread_mutex_lock(&s->lock);
		while (s->head == NULL && !s->stopping)
			pthread_cond_wait(&s->work, &s->lock);
		if (s->head == NULL) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		ctx = s->head;
		s->head = ctx->next;
		if (s->head == NULL)
			s->tail = NULL;
		s->queued--;
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

/* libmicrohttpd's URI log callback: the request line is in, the path not yet decoded. The one
 * place that sees the path as sent, so the one place that can tell "/a%2Fb" from "/a/b". Its
 * return value becomes the request's context (con_cls). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req_ctx *ctx = xcalloc(1, sizeof(*ctx));
	size_t path_len = strcspn(uri, "?");

	(void)conn;
	clock_gettime(CLOCK_MONOTONIC, &ctx->start);
	ctx->server = cls;
	ctx->state = CTX_NEW;
	for (size_t i = 0; i + 2 < path_len; i++) {
		if (uri[i] == '%' && ((uri[i + 1] == '2' && (uri[i + 2] | 0x20) == 'f') ||
		                      (uri[i + 1] == '0' && uri[i + 2] == '0')))
			ctx->raw_path_bad = true;
	}
	return ctx;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct req_ctx *ctx = *con_cls;

	(void)version;
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
		if (!check_framing(ctx))
			return queue(ctx); /* deliberately on the first call: close, read nothing */
		return MHD_YES;            /* keep-alive: answer on a later call */
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

	(void)conn;
	if (ctx == NULL)
		return;
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
	s->target_ms = listen->queue_target_ms;
	s->nhandlers = listen->threads;
	s->handlers = xcalloc((size_t)s->nhandlers, sizeof(*s->handlers));
	for (int i = 0; i < s->nhandlers; i++) {
		if (pthread_create(&s->handlers[i], NULL, handler_main, s) != 0)
			abort(); /* no thread at startup: a server without handlers is useless */
	}
	s->daemon = MHD_start_daemon(
	        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
	                MHD_ALLOW_SUSPEND_RESUME | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	        (uint16_t)listen->port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
	        http_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE,
	        (unsigned int)HTTP_IO_THREADS, MHD_OPTION_CONNECTION_TIMEOUT,
	        (unsigned int)HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	        (size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_CONNECTION_LIMIT,
	        (unsigned int)HTTP_CONNECTION_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	        (unsigned int)listen->connections_per_ip, MHD_OPTION_LISTEN_BACKLOG_SIZE,
	        (unsigned int)HTTP_LISTEN_BACKLOG, MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
	        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
	        s, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (s->daemon == NULL) {
		err_set(e, 0, "listen", "cannot listen on %s:%d", listen->host, listen->port);
		stop_handlers(s);
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
	MHD_stop_daemon(s->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	free(s);
}
