/*
 * db.h — the only module that talks to libpq.
 *
 * A connection is one PGconn plus the set of statements prepared on it. Statements are declared
 * as static struct db_stmt next to the code that owns their table and are prepared lazily, once
 * per connection, and again after a reconnect (PostgreSQL forgets them: SQLSTATE 26000).
 *
 * Request connections run as the restricted role "terminus_app", to which row-level security
 * applies; db_begin() sets the store the transaction may see (terminus.store_id) or opens every
 * store (terminus.all_stores, for the operator and the worker's claim). Domain functions take an
 * open transaction and never commit: the caller that began it decides.
 *
 * Failures are classified by SQLSTATE, never by message text: connection loss and timeouts
 * become 503 with Retry-After (database_unavailable); the rest is 500. Callers that care look at
 * err.sqlstate (23505 unique violation, 23514 check violation, 40001/40P01 retry).
 */
#ifndef TERMINUS_DB_H
#define TERMINUS_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>
#include "err.h"

struct db_stmt {
	const char *name; /* unique prepared-statement name */
	const char *sql;  /* $1..$n parameters, text format */
	int slot;         /* assigned on first use; 0 = not yet */
};
#define DB_STMT(n, s)                                                                              \
	{                                                                                          \
		n, s, 0                                                                            \
	}

struct db_conn;
struct db_pool;

enum db_role {
	DB_ROLE_OWNER, /* the role of TERMINUS_DATABASE_URL: migrations only */
	DB_ROLE_APP,   /* SET ROLE terminus_app: every request and event */
};

/* Opens one connection. NULL and e set (503) when the database cannot be reached. */
struct db_conn *db_conn_open(const char *url, enum db_role role, struct err *e);
void db_conn_free(struct db_conn *c);
PGconn *db_conn_pg(struct db_conn *c); /* borrowed; for LISTEN loops only */
bool db_conn_ok(struct db_conn *c);
/* Re-establishes a lost connection (prepared statements are forgotten). */
bool db_conn_reset(struct db_conn *c, struct err *e) MUST_CHECK;

/* A fixed-size pool shared by request threads. Connections are opened lazily and re-opened
 * after loss; while the database is down acquire fails fast with 503. */
struct db_pool *db_pool_new(const char *url, int size);
void db_pool_free(struct db_pool *p);
struct db_conn *db_acquire(struct db_pool *p, struct err *e);
void db_release(struct db_pool *p, struct db_conn *c);
/* Connections in use and total, for /metrics and /v1/ops. */
void db_pool_stats(struct db_pool *p, int *in_use, int *size);

/* BEGIN and scope the transaction: to one store (store_id, a UUID) or, with store_id NULL and
 * all_stores true, to every store. */
bool db_begin(struct db_conn *c, const char *store_id, bool all_stores, struct err *e) MUST_CHECK;
bool db_commit(struct db_conn *c, struct err *e) MUST_CHECK;
/* Safe to call in any state; a failed transaction is rolled back, a lost connection is left. */
void db_rollback(struct db_conn *c);

/* Runs a prepared statement. Returns a result the caller must PQclear (tuples or command ok),
 * or NULL with e set. */
PGresult *db_exec(struct db_conn *c, struct db_stmt *st, int nparams, const char *const *params,
                  struct err *e) MUST_CHECK;
/* The statement db_begin() pipelines after BEGIN ($1 store id, $2 "on" for every store): for
 * tools that replay a transaction's SQL (terminus-api pgbench-script). */
const struct db_stmt *db_scope_stmt(void);
#define DB_PARAMS(...)                                                                             \
	(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)),                            \
	        ((const char *const[]){__VA_ARGS__})
/* db_begin() and a first statement in one round trip (pipeline mode: BEGIN, the scope and the
 * statement, then a Sync); the transaction stays open. The statement's result, or NULL with e
 * set (the caller rolls back). */
PGresult *db_begin_exec(struct db_conn *c, const char *store_id, bool all_stores,
                        struct db_stmt *st, int nparams, const char *const *params,
                        struct err *e) MUST_CHECK;
/* One statement as its own transaction, scoped like db_begin, in one round trip (pipeline
 * mode: scope and statement up to one Sync form one implicit transaction). c must be idle. */
PGresult *db_exec_once(struct db_conn *c, const char *store_id, bool all_stores, struct db_stmt *st,
                       int nparams, const char *const *params, struct err *e) MUST_CHECK;
/* Runs constant SQL text (no parameters; never with user input): migrations, SET, LISTEN. */
PGresult *db_exec_sql(struct db_conn *c, const char *sql, struct err *e) MUST_CHECK;

/* A PostgreSQL array literal "{"a","b"}" of n values, each quoted and escaped, for one
 * parameter such as $1::uuid[] or $2::text[]: data travels as a parameter, never as SQL text.
 * Caller frees. */
char *db_array(int n, const char *const *values);
/* The same for integers ("{1,2}"). Caller frees. */
char *db_array_ll(int n, const long long *values);

/* SQLSTATE helpers */
bool db_is_unique_violation(const struct err *e);
bool db_is_check_violation(const struct err *e);
bool db_is_retryable(const struct err *e); /* 40001, 40P01 */

/* Reads a column; NULL for SQL NULL. Borrowed from the result. */
const char *db_get(const PGresult *r, int row, int col);
long long db_get_ll(const PGresult *r, int row, int col);
bool db_get_bool(const PGresult *r, int row, int col);

#endif
