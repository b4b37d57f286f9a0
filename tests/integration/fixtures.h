/*
 * fixtures.h — building the world a test needs through the public API (stores, products,
 * orders, flags), reading the database behind it for invariants, and running processes (a
 * second API, scripts/pg.sh).
 *
 * h_must_* assert (test thread only). h_checkout, h_unique_* are thread-safe. The database
 * helpers share one connection and belong to the test thread.
 */
#ifndef TERMINUS_IT_FIXTURES_H
#define TERMINUS_IT_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <libpq-fe.h>

#include "harness.h"

#define H_ID_LEN 40 /* a UUID and its NUL, with room to spare */
/* A well-formed UUID no row has: for the 404 of an unknown id. */
#define H_ZERO_UUID "00000000-0000-4000-8000-000000000000"

/* A store created for a test: its slug, id and the admin key shown once at creation. */
struct h_store {
	char slug[48];
	char id[H_ID_LEN];
	char key[256];
	char currency[4];
};

/* "<prefix>-<pid>-<n>": unique in this run, a valid slug when prefix is [a-z0-9-], ≤ 20 chars. */
void h_unique_slug(char *buf, size_t n, const char *prefix);
/* A fresh Idempotency-Key / SKU with that prefix. */
void h_unique_key(char *buf, size_t n, const char *prefix);

/* Creates a store (operator key, currency USD) and fills s. */
void h_must_create_store(struct h_store *s, const char *prefix);
/* Creates a product with a fresh SKU; writes its id. */
void h_must_create_product(const struct h_store *s, long long price_cents, long long inventory,
                           char id[H_ID_LEN]);
/* Creates a pending order of n lines; writes its id. */
void h_must_create_order_lines(const struct h_store *s, size_t n, const char *const *product_ids,
                               const int *quantities, char id[H_ID_LEN]);
/* The one-line case. */
void h_must_create_order(const struct h_store *s, const char *product_id, int quantity,
                         char id[H_ID_LEN]);
/* PUT …/flags/{flag} {"enabled":…,"rollout_percent":100} with the store's key; asserts 200. */
void h_must_set_flag(const struct h_store *s, const char *flag, bool enabled);
/* The product's "available" as the API reports it. */
long long h_must_available(const struct h_store *s, const char *product_id);
/* GET the order (no key needed); returns the parsed order (new reference). */
json_t *h_must_get_order(const struct h_store *s, const char *order_id);

/* POST …/orders/{id}/checkout {"payment_token": token} with that Idempotency-Key (NULL: none). */
bool h_checkout(struct resp *r, const struct h_store *s, const char *order_id, const char *key,
                const char *token);
/* The same through the API at base (NULL: the suite's). */
bool h_checkout_at(struct resp *r, const char *base, const struct h_store *s, const char *order_id,
                   const char *key, const char *token);
/* The same from a local address of its own (h_req.source), as one of many customers. */
bool h_checkout_from(struct resp *r, const char *base, const char *source, const struct h_store *s,
                     const char *order_id, const char *key, const char *token);

/* ---- database (test thread only) ------------------------------------------------------------- */

/* The shared connection to TERMINUS_TEST_DB as its owner (reconnects when it was lost). */
PGconn *h_db(void);
/* Closes it (h_cleanup does not know about it). */
void h_db_close(void);
/* Runs sql with the text parameters that follow (NULL-terminated) and returns the single value
 * of its single row as an integer; fails the test otherwise. */
long long h_db_ll(const char *sql, ...) __attribute__((sentinel));
/* The same for a text value; NULL for SQL NULL. Caller frees. */
char *h_db_str(const char *sql, ...) __attribute__((sentinel));
/* Runs a command; fails the test unless it succeeds. */
void h_db_exec(const char *sql, ...) __attribute__((sentinel));
/* Creates an empty database in the suite's cluster and writes its conninfo (the suite's, with
 * that dbname). */
void h_db_create(const char *name, char *conninfo, size_t n);
/* The dbname of TERMINUS_TEST_DB (static buffer). */
const char *h_db_name(void);

/* ---- processes ------------------------------------------------------------------------------- */

/* A terminus-api this test started. */
struct h_proc {
	pid_t pid;
	int port;
	char base[64];
	char log[512];
};

/* Starts `terminus-api serve` from TERMINUS_TEST_BIN on a free port against TERMINUS_TEST_DB with
 * the same operator key, logging to TERMINUS_TEST_LOG.<tag>, and waits (deadline 30 s) until its
 * /readyz answers 200. False when it never did (it is stopped then). */
bool h_api_start(struct h_proc *p, const char *tag);
/* The same against another database, waiting until wait_path (e.g. "/healthz") answers 200. */
bool h_api_start_on(struct h_proc *p, const char *tag, const char *db, const char *wait_path);
/* Starts `terminus-api SUBCOMMAND` against db (log TERMINUS_TEST_LOG.<tag>); returns its pid. */
pid_t h_api_spawn(const char *subcommand, const char *db, const char *tag);
/* Waits for a child to end; its exit status, or -1 (signal, or no such child). */
int h_wait_exit(pid_t pid);
/* SIGTERM, then waits up to timeout_s; returns the exit status, or -1 if it had to be killed or
 * died of a signal. */
int h_proc_stop(struct h_proc *p, double timeout_s);
/* Stops (h_proc_stop, 15 s) every API h_api_start* started that is still running; false, with
 * each one's log named, when one did not exit 0. The suite's end (h_suite_teardown) calls it. */
bool h_api_stop_all(void);

/* Runs scripts/pg.sh stop|start on the shared cluster; true on exit status 0. */
bool h_pg(const char *action);

#endif
