/*
 * db.c — libpq connections, the request pool, transactions and SQLSTATE classification
 * (see db.h). Every statement runs under statement_timeout and lock_timeout, so a request
 * thread never blocks for long on the database; what is out of bounds becomes a 503.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "constants.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"
#include "banned.h"

struct db_conn {
	PGconn *pg;
	char *url;
	enum db_role role;
	unsigned char prepared[DB_MAX_STATEMENTS];
};

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static int slot_next = 1;

static void set_unavailable(struct err *e, const char *why)
{
	metrics_inc(M_DB_ERRORS, "unavailable", NULL);
	err_set(e, 503, "database_unavailable", "the database is unavailable; retry shortly");
	e->retry_after = DB_RETRY_AFTER_S;
	log_warn("database unavailable: %s", why);
}

static bool conn_setup(struct db_conn *c, struct err *e)
{
	char sql[256];
	PGresult *r;

	snprintf(sql, sizeof(sql),
	         "SET statement_timeout = %d; SET lock_timeout = %d; "
	         "SET idle_in_transaction_session_timeout = %d; "
	         /* A killed client's backend notices within a second and lets go of its row
	          * locks (measured: 9–10 s otherwise when it was mid-statement). */
	         "SET client_connection_check_interval = 1000; "
	         /* No JIT: when stale or lopsided statistics price a short statement above
	          * jit_above_cost, compiling it costs more than running it (measured: the outbox
	          * claim spent 64 ms of CPU in JIT for 3 ms of work, a third of the drain rate). */
	         "SET jit = off;%s",
	         DB_STATEMENT_TIMEOUT_MS, DB_LOCK_TIMEOUT_MS, DB_IDLE_TX_TIMEOUT_MS,
	         c->role == DB_ROLE_APP ? " SET ROLE terminus_app;" : "");
	r = PQexec(c->pg, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		/* Most often: migrations have not created the role yet. */
		err_set(e, 503, "database_unavailable", "database session setup failed");
		e->retry_after = DB_RETRY_AFTER_S;
		log_warn("database session setup failed: %s", PQerrorMessage(c->pg));
		PQclear(r);
		return false;
	}
	PQclear(r);
	memset(c->prepared, 0, sizeof(c->prepared));
	return true;
}

static PGconn *pg_connect(const char *url)
{
	char timeout[8];
	const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
	const char *vals[] = {url, timeout, "terminus", NULL};

	snprintf(timeout, sizeof(timeout), "%d", DB_CONNECT_TIMEOUT_S);
	return PQconnectdbParams(keys, vals, 1);
}

struct db_conn *db_conn_open(const char *url, enum db_role role, struct err *e)
{
	struct db_conn *c = xcalloc(1, sizeof(*c));

	c->url = xstrdup(url);
	c->role = role;
	c->pg = pg_connect(url);
	if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
		set_unavailable(e, c->pg != NULL ? PQerrorMessage(c->pg) : "out of memory");
		db_conn_free(c);
		return NULL;
	}
	if (!conn_setup(c, e)) {
		db_conn_free(c);
		return NULL;
	}
	return c;
}

void db_conn_free(struct db_conn *c)
{
	if (c == NULL)
		return;
	if (c->pg != NULL)
		PQfinish(c->pg);
	free(c->url);
	free(c);
}

PGconn *db_conn_pg(struct db_conn *c)
{
	return c->pg;
}

bool db_conn_ok(struct db_conn *c)
{
	return c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK;
}

bool db_conn_reset(struct db_conn *c, struct err *e)
{
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->pg = pg_connect(c->url);
	memset(c->prepared, 0, sizeof(c->prepared));
	if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
		set_unavailable(e, c->pg != NULL ? PQerrorMessage(c->pg) : "out of memory");
		return false;
	}
	return conn_setup(c, e);
}

/* ---- pool --------------------------------------------------------------------------------- */

struct db_pool {
	char *url;
	int size;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct db_conn **idle; /* stack of idle connections (possibly broken) */
	int nidle;
	int created; /* connections that exist or are being opened */
	int in_use;
	long long last_fail_ms; /* last failed connect: fail fast for DB_RECONNECT_BACKOFF_MS */
};

struct db_pool *db_pool_new(const char *url, int size)
{
	struct db_pool *p = xcalloc(1, sizeof(*p));

	p->url = xstrdup(url);
	p->idle = xcalloc((size_t)size, sizeof(*p->idle));
	p->size = size;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	return p;
}

void db_pool_free(struct db_pool *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->nidle; i++)
		db_conn_free(p->idle[i]);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->idle);
	free(p->url);
	free(p);
}

void db_pool_stats(struct db_pool *p, int *in_use, int *size)
{
	pthread_mutex_lock(&p->lock);
	*in_use = p->in_use;
	*size = p->size;
	pthread_mutex_unlock(&p->lock);
}

static bool backing_off(struct db_pool *p)
{
	return p->last_fail_ms != 0 && clock_ms() - p->last_fail_ms < DB_RECONNECT_BACKOFF_MS;
}

struct db_conn *db_acquire(struct db_pool *p, struct err *e)
{
	struct db_conn *c = NULL;
	struct timespec deadline = clock_deadline(DB_ACQUIRE_TIMEOUT_MS);
	bool fresh = false;

	pthread_mutex_lock(&p->lock);
	while (p->nidle == 0 && p->created >= p->size) {
		if (pthread_cond_timedwait(&p->cond, &p->lock, &deadline) != 0) {
			pthread_mutex_unlock(&p->lock);
			err_set(e, 503, "database_busy",
			        "no database connection became free in time");
			e->retry_after = DB_RETRY_AFTER_S;
			return NULL;
		}
	}
	if (p->nidle > 0) {
		c = p->idle[--p->nidle];
	} else {
		if (backing_off(p)) {
			pthread_mutex_unlock(&p->lock);
			err_set(e, 503, "database_unavailable",
			        "the database is unavailable; retry shortly");
			e->retry_after = DB_RETRY_AFTER_S;
			return NULL;
		}
		p->created++;
		fresh = true;
	}
	p->in_use++;
	pthread_mutex_unlock(&p->lock);

	if (fresh) {
		c = db_conn_open(p->url, DB_ROLE_APP, e);
		if (c == NULL) {
			pthread_mutex_lock(&p->lock);
			p->created--;
			p->in_use--;
			p->last_fail_ms = clock_ms();
			pthread_cond_signal(&p->cond);
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		return c;
	}
	if (!db_conn_ok(c)) {
		bool skip;

		pthread_mutex_lock(&p->lock);
		skip = backing_off(p);
		pthread_mutex_unlock(&p->lock);
		if (skip || !db_conn_reset(c, e)) {
			if (skip) {
				err_set(e, 503, "database_unavailable",
				        "the database is unavailable; retry shortly");
				e->retry_after = DB_RETRY_AFTER_S;
			}
			pthread_mutex_lock(&p->lock);
			if (!skip)
				p->last_fail_ms = clock_ms();
			pthread_mutex_unlock(&p->lock);
			db_release(p, c);
			return NULL;
		}
		log_info("database connection re-established");
	}
	return c;
}

void db_release(struct db_pool *p, struct db_conn *c)
{
	if (c == NULL)
		return;
	/* A connection must come back idle; a caller that forgot to end its transaction is a
	 * bug, but rolling back keeps the next request safe. */
	if (db_conn_ok(c) && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		log_error("connection returned inside a transaction; rolling back");
		db_rollback(c);
	}
	pthread_mutex_lock(&p->lock);
	p->idle[p->nidle++] = c;
	p->in_use--;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* ---- statements --------------------------------------------------------------------------- */

static int stmt_slot(struct db_stmt *st)
{
	int slot = __atomic_load_n(&st->slot, __ATOMIC_ACQUIRE);

	if (slot != 0)
		return slot;
	pthread_mutex_lock(&slot_lock);
	slot = st->slot;
	if (slot == 0) {
		slot = slot_next++;
		if (slot >= DB_MAX_STATEMENTS)
			abort(); /* raise DB_MAX_STATEMENTS */
		__atomic_store_n(&st->slot, slot, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&slot_lock);
	return slot;
}

/* Turns a failed result into e; takes ownership of r. */
static void classify(struct db_conn *c, PGresult *r, const char *what, struct err *e)
{
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = PQerrorMessage(c->pg);

	if (PQstatus(c->pg) != CONNECTION_OK || state == NULL) {
		/* A connection killed by the server yields an error without SQLSTATE. */
		set_unavailable(e, msg);
	} else if (strcmp(state, "42P01") == 0 || strcmp(state, "42883") == 0 ||
	           strcmp(state, "42704") == 0) {
		/* Undefined table, function or role: the schema is not migrated (yet). */
		err_set(e, 503, "not_ready", "the database schema is not migrated yet");
		metrics_inc(M_DB_ERRORS, "unavailable", NULL);
		e->retry_after = DB_RETRY_AFTER_S;
		log_warn("database %s failed (%s): %s", what, state, msg);
	} else if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0 ||
	           strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	           strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	           strcmp(state, "53300") == 0) {
		err_set(e, 503, "database_unavailable",
		        "the database could not complete the request in time; retry shortly");
		metrics_inc(M_DB_ERRORS, "unavailable", NULL);
		e->retry_after = DB_RETRY_AFTER_S;
		log_warn("database %s failed (%s): %s", what, state, msg);
	} else {
		err_internal(e, "database error %s", state);
		metrics_inc(M_DB_ERRORS, "error", NULL);
		/* Unique and check violations are often expected (and mapped by the caller). */
		if (strncmp(state, "23", 2) != 0)
			log_error("database %s failed (%s): %s", what, state, msg);
	}
	if (state != NULL)
		snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", state);
	if (state != NULL && strcmp(state, "26000") == 0)
		memset(c->prepared, 0, sizeof(c->prepared));
	PQclear(r);
}

static bool result_ok(PGresult *r)
{
	ExecStatusType s = PQresultStatus(r);

	return s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK;
}

static bool ensure_prepared(struct db_conn *c, struct db_stmt *st, struct err *e)
{
	int slot = stmt_slot(st);
	PGresult *r;

	if (c->prepared[slot])
		return true;
	r = PQprepare(c->pg, st->name, st->sql, 0, NULL);
	if (!result_ok(r)) {
		classify(c, r, st->name, e);
		return false;
	}
	PQclear(r);
	c->prepared[slot] = 1;
	return true;
}

PGresult *db_exec(struct db_conn *c, struct db_stmt *st, int nparams, const char *const *params,
                  struct err *e)
{
	PGresult *r;

	if (!ensure_prepared(c, st, e))
		return NULL;
	r = PQexecPrepared(c->pg, st->name, nparams, params, NULL, NULL, 0);
	if (!result_ok(r)) {
		classify(c, r, st->name, e);
		return NULL;
	}
	return r;
}

PGresult *db_exec_sql(struct db_conn *c, const char *sql, struct err *e)
{
	PGresult *r = PQexec(c->pg, sql);

	if (!result_ok(r)) {
		classify(c, r, "statement", e);
		return NULL;
	}
	return r;
}

static struct db_stmt st_scope =
        DB_STMT("db_scope", "SELECT set_config('terminus.store_id', $1, true), "
                            "set_config('terminus.all_stores', $2, true)");

const struct db_stmt *db_scope_stmt(void)
{
	return &st_scope;
}

/*
 * One round trip for what would be two to four: in pipeline mode, send [BEGIN,] the scope
 * statement and [one statement], then a Sync. Without BEGIN the messages up to the Sync run as
 * one implicit transaction, so set_config(..., true) scopes exactly that statement and the
 * statement commits at the Sync. With BEGIN the explicit transaction stays open after it.
 * Returns the statement's result (or, for BEGIN alone, a non-NULL dummy that the caller clears).
 */
static PGresult *pipeline(struct db_conn *c, bool begin, const char *store_id, bool all_stores,
                          struct db_stmt *st, int nparams, const char *const *params, struct err *e)
{
	const char *scope[2] = {store_id != NULL ? store_id : "", all_stores ? "on" : "off"};
	PGresult *results[3] = {NULL, NULL, NULL};
	PGresult *r, *out = NULL;
	int n = 0, failed = -1;
	bool sent;

	if (!ensure_prepared(c, &st_scope, e) || (st != NULL && !ensure_prepared(c, st, e)))
		return NULL;
	if (PQenterPipelineMode(c->pg) != 1) {
		classify(c, NULL, "pipeline", e);
		return NULL;
	}
	sent = (!begin || PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1) &&
	       PQsendQueryPrepared(c->pg, st_scope.name, 2, scope, NULL, NULL, 0) == 1 &&
	       (st == NULL ||
	        PQsendQueryPrepared(c->pg, st->name, nparams, params, NULL, NULL, 0) == 1) &&
	       PQpipelineSync(c->pg) == 1;
	n = (begin ? 1 : 0) + 1 + (st != NULL ? 1 : 0);
	if (sent) {
		for (int i = 0; i < n; i++) {
			results[i] = PQgetResult(c->pg);
			if (results[i] == NULL)
				break;
			/* Each query's results end with a NULL. */
			while ((r = PQgetResult(c->pg)) != NULL)
				PQclear(r);
			if (failed < 0 && !result_ok(results[i]))
				failed = i;
		}
		r = PQgetResult(c->pg);
		if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC)
			sent = false;
		PQclear(r);
	}
	if (PQexitPipelineMode(c->pg) != 1)
		sent = false;
	if (!sent || results[n - 1] == NULL) {
		for (int i = 0; i < n; i++)
			PQclear(results[i]);
		classify(c, NULL, st != NULL ? st->name : "begin", e);
		return NULL;
	}
	if (failed >= 0) {
		for (int i = 0; i < n; i++) {
			if (i != failed)
				PQclear(results[i]);
		}
		classify(c, results[failed], st != NULL ? st->name : "begin", e);
		if (begin)
			db_rollback(c);
		return NULL;
	}
	for (int i = 0; i < n - 1; i++)
		PQclear(results[i]);
	out = results[n - 1];
	return out;
}

bool db_begin(struct db_conn *c, const char *store_id, bool all_stores, struct err *e)
{
	PGresult *r = pipeline(c, true, store_id, all_stores, NULL, 0, NULL, e);

	if (r == NULL)
		return false;
	PQclear(r);
	return true;
}

PGresult *db_begin_exec(struct db_conn *c, const char *store_id, bool all_stores,
                        struct db_stmt *st, int nparams, const char *const *params, struct err *e)
{
	return pipeline(c, true, store_id, all_stores, st, nparams, params, e);
}

PGresult *db_exec_once(struct db_conn *c, const char *store_id, bool all_stores, struct db_stmt *st,
                       int nparams, const char *const *params, struct err *e)
{
	return pipeline(c, false, store_id, all_stores, st, nparams, params, e);
}

bool db_commit(struct db_conn *c, struct err *e)
{
	PGresult *r = db_exec_sql(c, "COMMIT", e);
	bool rolled_back;

	if (r == NULL)
		return false;
	/* COMMIT of a failed transaction "succeeds" with the tag ROLLBACK. */
	rolled_back = strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
	PQclear(r);
	if (rolled_back) {
		err_internal(e, "transaction was rolled back at commit");
		return false;
	}
	return true;
}

void db_rollback(struct db_conn *c)
{
	if (db_conn_ok(c) && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		PQclear(PQexec(c->pg, "ROLLBACK"));
}

char *db_array(int n, const char *const *values)
{
	size_t cap = 3, len = 0;
	char *buf;

	for (int i = 0; i < n; i++)
		cap += 2 * strlen(values[i]) + 3;
	buf = xmalloc(cap);
	buf[len++] = '{';
	for (int i = 0; i < n; i++) {
		if (i > 0)
			buf[len++] = ',';
		buf[len++] = '"';
		for (const char *p = values[i]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				buf[len++] = '\\';
			buf[len++] = *p;
		}
		buf[len++] = '"';
	}
	buf[len++] = '}';
	buf[len] = '\0';
	return buf;
}

char *db_array_ll(int n, const long long *values)
{
	size_t cap = (size_t)n * 21 + 3, len = 0;
	char *buf = xmalloc(cap);

	buf[len++] = '{';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? "," : "", values[i]);
	buf[len++] = '}';
	buf[len] = '\0';
	return buf;
}

bool db_is_unique_violation(const struct err *e)
{
	return strcmp(e->sqlstate, "23505") == 0;
}

bool db_is_check_violation(const struct err *e)
{
	return strcmp(e->sqlstate, "23514") == 0;
}

bool db_is_retryable(const struct err *e)
{
	return strcmp(e->sqlstate, "40001") == 0 || strcmp(e->sqlstate, "40P01") == 0;
}

const char *db_get(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

long long db_get_ll(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool db_get_bool(const PGresult *r, int row, int col)
{
	return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}
