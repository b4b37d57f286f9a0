/*
 * http.h — the request as handlers see it, and the only way to answer one.
 *
 * This layer knows HTTP, not routes. The server (server.c) accumulates the body (64 KiB cap),
 * checks the content type and the framing, assigns the request id, asks the routes it was given
 * (http_routes) whether to admit the request, queues it for a handler thread and calls their
 * dispatch once the whole request is in. A handler answers exactly once through reply_*()
 * (reply.c); the server queues the response, adds X-Request-Id, and writes the one access-log
 * line.
 */
#ifndef TERMINUS_HTTP_H
#define TERMINUS_HTTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "constants.h"
#include "err.h"
#include "trace.h"

struct MHD_Connection;
struct MHD_Response;
struct request_state;

struct request {
	void *app; /* what the routes were given (http_routes.arg) */
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char request_id[REQUEST_ID_MAX + 1];
	struct trace trace; /* the caller's trace continued, or a new one (trace.h) */

	char *body; /* NUL-terminated copy of the body (may contain NULs before len) */
	size_t body_len;

	/* The routes' own state for this request: http_routes.state_size bytes, zeroed by the
	 * server before admit and freed after the answer is sent. Opaque to this layer. */
	struct request_state *state;
	/* Set by the routes, for the access-log line and the request metrics. */
	const char *route;                   /* the matched pattern; NULL if none */
	char store_slug[STORE_SLUG_MAX + 1]; /* the store addressed, when known */

	/* The answer (owned by the server once set). */
	int status;
	struct MHD_Response *response;
};

/* Borrowed header / query argument, or NULL. */
const char *req_header(struct request *req, const char *name);
const char *req_query(struct request *req, const char *name);

/* The client's address as one client is counted: an IPv4 address ("127.0.0.5", also when it
 * came mapped into IPv6), or an IPv6 address's /64 prefix ("2001:db8:1:2::/64"), since one
 * subscriber is normally given a whole /64. False when the peer is not an IP client. */
#define HTTP_CLIENT_ADDRESS_MAX 56
bool req_client_address(const struct request *req, char *out, size_t size);

/* Answer with a JSON body (stolen). */
void reply_json(struct request *req, int status, json_t *body);
/* Answer with a ready-made body (copied); replayed adds Idempotent-Replayed: true. */
void reply_text(struct request *req, int status, const char *body, size_t len, bool replayed);
/* Answer with the error envelope; 500s are logged and answered without internal detail. */
void reply_error(struct request *req, const struct err *e);

/* Answer with a ready-made body (copied) of the given content type. */
void reply_content(struct request *req, int status, const char *body, size_t len,
                   const char *content_type);
/* Adds a header to the answer already set. */
void reply_add_header(struct request *req, const char *name, const char *value);
/* What the server calls to answer requests: terminus-api's routes, given by its main, so that
 * this layer links without them and the worker (which uses only the metrics listener) without
 * either. */
struct http_routes {
	void *arg;         /* becomes every request's req->app */
	size_t state_size; /* bytes of req->state per request (0: none) */
	/* Before the request joins the queue, on MHD's thread: true to go on; false with the answer
	 * already set (reply_*), e.g. a 429. May be NULL. */
	bool (*admit)(struct request *req);
	/* Routes, authorizes and runs the request to its answer, on a handler thread. */
	void (*dispatch)(struct request *req);
};

/* Where and how the request server listens. */
struct http_listen {
	const char *host;
	int port;
	int threads;         /* handler threads; the queue holds HTTP_QUEUE_MAX_PER_THREAD each */
	int queue_target_ms; /* a request that waited longer is answered 503 (CoDel-like) */
	int connections_per_ip; /* beyond this many from one address, a connection is closed */
	int request_timeout_ms; /* a whole request must arrive within this, else it is closed */
};

/* Server lifecycle (server.c). */
struct http_server;
struct http_server *http_server_start(const struct http_listen *listen,
                                      const struct http_routes *routes, struct err *e);
/* Stops accepting, waits for in-flight requests up to HTTP_SHUTDOWN_GRACE_MS, stops. */
void http_server_stop(struct http_server *s);

/* A small separate listener that answers GET /metrics with metrics_render(METRICS_PUBLIC, extra,
 * arg) and 404 otherwise (the worker's metrics endpoint). NULL with e set when it cannot listen. */
struct metrics_text;
struct http_metrics;
struct http_metrics *http_metrics_start(const char *host, int port,
                                        void (*extra)(struct metrics_text *t, void *arg), void *arg,
                                        struct err *e);
void http_metrics_stop(struct http_metrics *m);
/* libmicrohttpd's messages, as warnings in our log (both listeners; metrics_listener.c). */
void http_mhd_log(void *cls, const char *fmt, va_list ap);

#endif
