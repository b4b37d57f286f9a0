/*
 * api.h — the HTTP handlers, one function per route (table in api.c), and the helpers they
 * share. A handler validates input, runs its domain calls in a transaction on the request's
 * connection, and answers exactly once.
 */
#ifndef TERMINUS_API_H
#define TERMINUS_API_H

#include <stdbool.h>
#include <jansson.h>
#include "http.h"
#include "idem.h"
#include "jsonv.h"
#include "page.h"
#include "router.h"
#include "stores.h"

struct api_route;
struct db_conn;

enum principal { PRINCIPAL_NONE, PRINCIPAL_OPERATOR, PRINCIPAL_STORE_ADMIN };

/* What the API keeps per request (the server allocates it zeroed as req->state). */
struct request_state {
	const struct api_route *matched; /* its row in the route table, once matched */
	struct route_params params;
	struct db_conn *db; /* acquired on first use (api_db), released after the handler */
	enum principal principal;
	char principal_store[37]; /* the store a store admin key belongs to */
	char actor[64];           /* "operator" or "key:<key id>" for audit trails */
	struct store_ref store;   /* resolved {store} of the path, when the route has one */
};

/* routes.c: the router and auth in front of the handlers, given to the server as its
 * http_routes. api_match finds req's route (sets req->route and req->state->params); NULL when
 * no route has the path (allow empty) or none has the method (allow lists those that do). */
const struct api_route *api_match(struct request *req, char allow[64]);
void api_dispatch(struct request *req);

/* admission.c: the per-store rate limit, before the request is queued (http_routes.admit). */
bool api_admit(struct request *req);

/* Parses ?limit= and ?cursor= for list within scope (what else the list is of: the store's id,
 * a flag, a filter; a cursor is accepted only by the list and scope that made it). */
bool api_list_params(struct request *req, enum page_list list, const char *scope, struct page *p,
                     struct err *e) MUST_CHECK;

/* Who sent the request (req->state->principal), for a public route that answers the operator
 * more; unknown or absent credentials leave PRINCIPAL_NONE. False with e set (503) when the
 * database cannot be asked about a store key. */
bool api_authenticate(struct request *req, struct err *e) MUST_CHECK;

/* The request's database connection, acquired on first use and released by the dispatcher.
 * NULL with e set (503) when none can be had. */
struct db_conn *api_db(struct request *req, struct err *e);
/* Acquires the connection and begins a transaction scoped to the request's store. */
struct db_conn *api_begin(struct request *req, struct err *e);
/* Commits; on failure rolls back. Then answers with status and body (stolen), or with e. */
void api_commit_reply(struct request *req, struct db_conn *c, int status, json_t *body,
                      struct err *e);
/* Rolls back (if a transaction is open) and answers e. */
void api_rollback_fail(struct request *req, struct db_conn *c, struct err *e);
/* Answers e (and releases it). */
void api_fail(struct request *req, struct err *e);
/* Parses the body as a JSON object and checks it against fields; answers 400 itself and
 * returns NULL on failure. New reference. */
json_t *api_body(struct request *req, const struct jsonv_field *fields, size_t nfields);
/* A path parameter that must be a UUID; answers 404 itself when it is not. */
bool api_uuid_param(struct request *req, const char *name, char out[37]);

/* A store's list with an optional ?status= filter: checks limit, cursor and status (valid()
 * says which values exist; invalid_message explains them), runs list in a transaction scoped
 * to the store, answers. On a route without {store} (the operator's) list gets store_id NULL
 * and a transaction that sees every store. */
typedef bool (*api_status_list_fn)(struct db_conn *c, const char *store_id, const char *status,
                                   const struct page *p, json_t **out, struct err *e);
void api_status_list(struct request *req, enum page_list kind, bool (*valid)(const char *status),
                     const char *invalid_message, api_status_list_fn list);

/* The Idempotency-Key header of an endpoint that requires one; answers 400 itself. */
const char *api_idempotency_key(struct request *req);
/* Sends an idempotent endpoint's answer (replayed or new) and frees its body. */
void api_idem_reply(struct request *req, struct idem_answer *answer);

/* api_observe.c */
void api_faults_list(struct request *req);
void api_analytics(struct request *req);

/* api_system.c */
void api_healthz(struct request *req);
void api_metrics(struct request *req);
void api_ops_metrics(struct request *req);
void api_readyz(struct request *req);
void api_stores_create(struct request *req);
void api_stores_list(struct request *req);

/* api_catalog.c */
void api_products_list(struct request *req);
void api_products_get(struct request *req);
void api_products_create(struct request *req);
void api_inventory_adjust(struct request *req);

/* api_orders.c */
void api_orders_create(struct request *req);
void api_orders_get(struct request *req);
void api_orders_list(struct request *req);
void api_orders_checkout(struct request *req);
void api_orders_cancel(struct request *req);

/* api_ops.c */
void api_events_list(struct request *req);
void api_ops_outbox(struct request *req);
void api_ops_workers(struct request *req);
void api_ops_retry_dead(struct request *req);

/* api_flags.c */
void api_flags_list(struct request *req);
void api_flags_put(struct request *req);
void api_flags_history(struct request *req);

#endif
