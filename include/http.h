/*
 * http.h — the request as handlers see it, and the only way to answer one.
 *
 * The server (http_server.c) accumulates the body (64 KiB cap), checks the content type and the
 * framing, assigns the request id, and calls the dispatch it was given (http_routes) once the
 * whole request is in. A
 * handler answers exactly once through reply_*(); the server queues the response, adds
 * X-Request-Id, and writes the one access-log line.
 */
#ifndef TERMINUS_HTTP_H
#define TERMINUS_HTTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "constants.h"
#include "err.h"
#include "router.h"
#include "trace.h"

struct api_route;
struct app;
struct db_conn;
struct MHD_Connection;
struct MHD_Response;

enum principal { PRINCIPAL_NONE, PRINCIPAL_OPERATOR, PRINCIPAL_STORE_ADMIN };

struct store_ref {
	char id[37];
	char slug[STORE_SLUG_MAX + 1];
	char currency[4];
};

struct request {
	struct app *app;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char request_id[REQUEST_ID_MAX + 1];
	struct trace trace; /* the caller's trace continued, or a new one (trace.h) */
	const char *route;  /* the matched pattern, for logs and metrics; NULL if none */
	const struct api_route *matched; /* its row in api.c's table, once matched */
	struct route_params params;

	char *body; /* NUL-terminated copy of the body (may contain NULs before len) */
	size_t body_len;

	struct db_conn *db; /* acquired on first use (api_db), released after the handler */

	enum principal principal;
	char principal_store[37]; /* the store a store admin key belongs to */
	char actor[64];           /* "operator" or "key:<key id>" for audit trails */
	struct store_ref store;   /* resolved {store} of the path, when the route has one */

	/* The answer (owned by the server once set). */
	int status;
	struct MHD_Response *response;
};

/* Borrowed header / query argument, or NULL. */
const char *req_header(struct request *req, const char *name);
const char *req_query(struct request *req, const char *name);

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
/* Parses ?limit= and ?cursor= (a positive integer as text). */
bool req_list_params(struct request *req, int *limit, long long *cursor, struct err *e) MUST_CHECK;

/* What the server calls to answer requests: the API (api.c), given by terminus-api's main, so
 * that this layer links without the routes and the worker without either. */
struct http_routes {
	/* The {store} a request is addressed to, or NULL; on MHD's thread, before queuing. */
	const char *(*request_store)(struct request *req);
	/* Routes, authorizes and runs the request to its answer, on a handler thread. */
	void (*dispatch)(struct request *req);
};

/* Server lifecycle (http_server.c). */
struct http_server;
struct http_server *http_server_start(struct app *app, const struct http_routes *routes,
                                      struct err *e);
/* Stops accepting, waits for in-flight requests up to HTTP_SHUTDOWN_GRACE_MS, stops. */
void http_server_stop(struct http_server *s);

/* A small separate listener that answers GET /metrics with metrics_render(extra, arg) and 404
 * otherwise (the worker's metrics endpoint). NULL with e set when it cannot listen. */
struct metrics_text;
struct http_metrics;
struct http_metrics *http_metrics_start(const char *host, int port,
                                        void (*extra)(struct metrics_text *t, void *arg), void *arg,
                                        struct err *e);
void http_metrics_stop(struct http_metrics *m);
/* libmicrohttpd's messages, as warnings in our log (both listeners; http_metrics.c). */
void http_mhd_log(void *cls, const char *fmt, va_list ap);

#endif
