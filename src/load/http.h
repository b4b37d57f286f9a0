/*
 * http.h — many HTTP requests at once on one thread, with libcurl's multi interface.
 *
 * A request is scheduled for a moment (t_sched); the engine sends it when that moment has come
 * and fewer than `concurrency` requests are in flight, and calls its completion function when the
 * answer (or the failure) is in. Nothing blocks and no thread is started per request: one
 * curl_multi_poll() waits for every socket and the next scheduled moment at once. Connections
 * are kept alive and reused across requests by the multi handle's connection cache.
 *
 * Ownership: a request is created with http_req_new(), handed to the engine with http_submit()
 * (the engine owns it while it waits and runs), and given back to its completion function, which
 * owns it from then on: it either submits it again (a retry: http_req_reset() first) or frees it
 * with http_req_free(). When the engine is torn down, requests still waiting or running are
 * completed with `aborted` set, so their owners can free what they hold.
 */
#ifndef TERMINUS_LOAD_HTTP_H
#define TERMINUS_LOAD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

struct http_req;
struct http_engine;

typedef void (*http_done_fn)(struct http_engine *eng, struct http_req *r, void *arg);

struct http_req {
	/* what to send; set by the caller */
	const char *base;   /* borrowed: "http://host:port" */
	const char *method; /* static string: "GET", "POST" */
	char *path;         /* owned */
	char *body;         /* owned; NULL: none */
	const char *auth;   /* borrowed bearer token; NULL: none */
	char idem_key[128]; /* Idempotency-Key; "": none */
	char src[16];       /* IPv4 source address to bind the connection to; "": the kernel's */
	long timeout_ms;    /* 0: 10 s */
	int op;             /* the caller's classification (enum op) */
	int store;          /* the caller's store index, or -1 */
	double t_sched;     /* mono_now() seconds at which it should be sent */
	http_done_fn done;
	void *arg;

	/* what came back; valid in the completion function */
	double t_sent, t_done;
	long status;        /* HTTP status; 0: no answer (see curl_error) */
	bool timed_out;     /* no answer within timeout_ms */
	bool aborted;       /* the engine was torn down before an answer */
	bool replayed;      /* Idempotent-Replayed: true */
	long retry_after_s; /* Retry-After in seconds (429, 503, 409 in use); 0: none or a date */
	char *resp;         /* body, NUL-terminated (owned); NULL when empty */
	size_t resp_len;
	char curl_error[128];

	/* private */
	void *easy;
	void *hdrs;
	size_t resp_cap;
	size_t heap_pos;
};

/* A new request with the path (copied) and body (copied; may be NULL). */
struct http_req *http_req_new(const char *base, const char *method, const char *path,
                              const char *body);
/* Clears the answer so the request can be submitted again. */
void http_req_reset(struct http_req *r);
void http_req_free(struct http_req *r);
/* The answer parsed as JSON (new reference), or NULL. */
json_t *http_req_json(const struct http_req *r);
/* error.code of an error answer (copied into buf), or "" when there is none. */
const char *http_req_error_code(const struct http_req *r, char *buf, size_t n);

struct http_engine *http_engine_new(int concurrency);
/* Completes every waiting and running request with `aborted`, then frees the engine.
 * *unsent / *in_flight (may be NULL) get how many were never sent / sent but unanswered. */
void http_engine_free(struct http_engine *eng, unsigned long long *unsent,
                      unsigned long long *in_flight);
/* Hands r to the engine; it is sent at r->t_sched or as soon as a slot is free after that. */
void http_submit(struct http_engine *eng, struct http_req *r);
/* Sends what is due, waits up to max_wait_s for answers (less when something falls due
 * sooner), and runs completion functions. */
void http_engine_step(struct http_engine *eng, double max_wait_s);
int http_engine_in_flight(const struct http_engine *eng);
size_t http_engine_queued(const struct http_engine *eng);
/* Requests sent so far (each attempt counts). */
unsigned long long http_engine_sent(const struct http_engine *eng);

/* ---- one blocking exchange, for setup and polling (not for load) ----------------------- */

struct http_answer {
	long status;  /* 0: no answer (error says why) */
	json_t *json; /* parsed body or NULL (owned) */
	char *body;   /* owned */
	char error[160];
};

/* Performs one request and waits for it (timeout_ms; 0: 10 s). body may be NULL. */
bool http_sync(const char *base, const char *method, const char *path, const char *auth,
               const char *body, long timeout_ms, struct http_answer *a);
void http_answer_release(struct http_answer *a);

#endif
