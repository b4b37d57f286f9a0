/*
 * reply.c — reading a request's headers and arguments, and answering it: the only place that
 * builds libmicrohttpd responses. Every answer carries X-Request-Id, X-Trace-Id and
 * Cache-Control: no-store; a second answer to one request is a programmer error, logged and
 * dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

const char *req_header(struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *req_query(struct request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static void set_response(struct request *req, int status, char *body, size_t len,
                         const char *content_type)
{
	struct MHD_Response *r;

	if (req->response != NULL) {
		/* Answering twice is a programmer error; keep the first answer. */
		log_error("second reply to one request ignored (status %d)", status);
		free(body);
		return;
	}
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL)
		abort(); /* MHD could not allocate the response: out of memory */
	MHD_add_response_header(r, "Content-Type", content_type);
	MHD_add_response_header(r, "X-Request-Id", req->request_id);
	MHD_add_response_header(r, "X-Trace-Id", req->trace.trace_id);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	req->status = status;
	req->response = r;
}

void reply_json(struct request *req, int status, json_t *body)
{
	char *text =
	        xjson_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));

	json_decref(body);
	set_response(req, status, text, strlen(text), "application/json");
}

void reply_content(struct request *req, int status, const char *body, size_t len,
                   const char *content_type)
{
	char *copy = xmalloc(len + 1);

	memcpy(copy, body, len);
	copy[len] = '\0';
	set_response(req, status, copy, len, content_type);
}

void reply_text(struct request *req, int status, const char *body, size_t len, bool replayed)
{
	reply_content(req, status, body, len, "application/json");
	if (replayed && req->response != NULL)
		MHD_add_response_header(req->response, "Idempotent-Replayed", "true");
}

void reply_error(struct request *req, const struct err *e)
{
	int status = e->status != 0 ? e->status : 500;
	char *text;

	if (status >= 500 && status != 503)
		log_error("request failed: %s", e->message);
	text = error_body(req->request_id, e);
	set_response(req, status, text, strlen(text), "application/json");
	if (e->retry_after > 0 && req->response != NULL) {
		char ra[16];

		snprintf(ra, sizeof(ra), "%d", e->retry_after);
		MHD_add_response_header(req->response, "Retry-After", ra);
	}
}

void reply_add_header(struct request *req, const char *name, const char *value)
{
	if (req->response != NULL)
		MHD_add_response_header(req->response, name, value);
}
