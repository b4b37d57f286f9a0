/*
 * procs.h — what the worker suites (itest_worker, itest_crash, itest_fairness, itest_race)
 * share on top of harness.h and fixtures.h: terminus-worker processes (start with environment
 * overrides, SIGKILL, SIGTERM, wait with a deadline, read and parse their logs), "wait until"
 * helpers that poll the database or the API with a deadline, a multi-threaded order + checkout
 * load, and the invariants of include/core/invariants.h run on a store.
 *
 * Threads: p_load_* threads only send HTTP requests and record the answers. Everything else
 * (processes, database, assertions) belongs to the test thread.
 */
#ifndef TERMINUS_IT_PROCS_H
#define TERMINUS_IT_PROCS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"
#include "fixtures.h"
#include "invariants.h"

/* ---- worker processes ------------------------------------------------------------------------ */

/* One terminus-worker this test started. */
struct p_worker {
	pid_t pid;     /* -1 once it has been reaped */
	int wstatus;   /* waitpid status after it was reaped */
	char tag[48];  /* names the log file */
	char log[512]; /* its stdout and stderr (JSON lines) */
};

/* How to configure a worker; zero-initialise for the defaults noted. */
struct p_worker_opts {
	int concurrency;       /* TERMINUS_WORKER_CONCURRENCY; 0: not set (the binary's 4) */
	int retry_base_ms;     /* TERMINUS_RETRY_BASE_MS; 0: 50 */
	int max_attempts;      /* TERMINUS_MAX_ATTEMPTS; 0: not set (the binary's 8) */
	const char *log_level; /* TERMINUS_LOG_LEVEL; NULL: info (the tests read "event handled") */
	const char *const *env; /* more "NAME=value" overrides, NULL-terminated, or NULL */
	bool no_wait;           /* do not wait for the "handler threads" start line */
};

/* Starts $TERMINUS_TEST_BIN/terminus-worker against TERMINUS_TEST_DB with a clean TERMINUS_*
 * environment plus the options, logging to TERMINUS_TEST_LOG.worker-<tag> (truncated). Unless
 * o->no_wait, waits (10 s) until its log says it runs its handler threads. False (and the
 * process stopped) when it could not be started or died or never said so. */
bool p_worker_start(struct p_worker *w, const char *tag, const struct p_worker_opts *o);
/* True while the process runs (reaps it, recording wstatus, once it has exited). */
bool p_worker_alive(struct p_worker *w);
/* Waits up to timeout_s for the process to exit; true (and reaped) when it did. */
bool p_worker_wait(struct p_worker *w, double timeout_s);
/* SIGKILL and reap. */
void p_worker_kill9(struct p_worker *w);
/* SIGTERM, then waits up to timeout_s; returns the exit status, or -1 when it died of a signal
 * or had to be SIGKILLed at the deadline. *took (may be NULL) is the time to exit. */
int p_worker_term(struct p_worker *w, double timeout_s, double *took);
/* "exit 0" / "killed by signal 9" / "running" (static buffer). */
const char *p_worker_describe(const struct p_worker *w);
/* SIGKILLs and reaps every worker this process started that still runs (teardown). */
void p_stop_all(void);

/* A TCP port on 127.0.0.1 the kernel just handed out and took back: free, barring a race. */
int p_free_port(void);

/* ---- logs ------------------------------------------------------------------------------------ */

/* The whole file (NUL-terminated; caller frees), or NULL when it cannot be read. */
char *p_read_file(const char *path, size_t *len);
/* Lines of the file that contain needle. */
size_t p_log_count(const char *path, const char *needle);
/* Polls the file until a line contains needle; true when one did within timeout_s. */
bool p_wait_log(const char *path, const char *needle, double timeout_s);
/* Prints the last lines of the file to the test's error output (for failure reports). */
void p_show_log_tail(const char *path, int lines);

/* One {"msg":"event handled",…} line of a worker log. */
struct p_handled {
	char event_id[40];
	char outcome[16]; /* done | retry | dead | lease_lost */
	char store[40];   /* store id */
	char type[40];
	int log; /* index of the log it came from */
};

/* Every "event handled" line of the logs, sorted by event_id then outcome; *n how many.
 * Caller frees. */
struct p_handled *p_handled_read(const char *const *logs, size_t nlogs, size_t *n);
/* Lines for event_id with that outcome (NULL: any) in a sorted list. */
size_t p_handled_count(const struct p_handled *h, size_t n, const char *event_id,
                       const char *outcome);

/* ---- waiting --------------------------------------------------------------------------------- */

/* Polls pred(arg) every poll_ms until it holds or timeout_s passes; true when it held. */
bool p_wait_until(double timeout_s, long poll_ms, bool (*pred)(void *arg), void *arg);
/* Polls sql (one integer value; text parameters follow, NULL-terminated) until `value op want`
 * holds, op one of "==" "!=" ">=" "<=" ">" "<". *last (may be NULL) gets the last value. True
 * when it held within timeout_s. */
bool p_wait_db(double timeout_s, long long *last, const char *op, long long want, const char *sql,
               ...) __attribute__((sentinel));
/* Polls GET …/orders/{id} until its status is `status`; *seconds (may be NULL) the wait. */
bool p_wait_order_status(const struct h_store *s, const char *order_id, const char *status,
                         double timeout_s, double *seconds);

/* ---- API helpers ----------------------------------------------------------------------------- */

/* PUT …/flags/{flag} {"enabled","rollout_percent"} with the store's key; asserts 200. */
void p_must_set_flag(const struct h_store *s, const char *flag, bool enabled, int percent);
/* POST …/orders/{id}/cancel with that key and auth (NULL body: none). Thread-safe. */
bool p_cancel(struct resp *r, const struct h_store *s, const char *order_id, const char *key,
              const char *auth, const char *body);
/* Creates a pending one-line order; thread-safe, never asserts; false with why in err. */
bool p_create_order(const struct h_store *s, const char *product_id, int quantity,
                    char id[H_ID_LEN], char *err, size_t errlen);

/* ---- load: orders and checkouts from several threads ----------------------------------------- */

struct p_order {
	char id[H_ID_LEN];
	char key[80];
	int product;          /* index into the load's products */
	int quantity;         /* 1 + index % max_quantity */
	long checkout_status; /* the checkout's HTTP status; 0: none (see error) */
	char body_status[24]; /* "status" in the checkout answer */
	char body_path[8];    /* "checkout_path" in the answer */
	double answered_at;   /* h_now() when the checkout answer arrived */
	char error[200];      /* what went wrong, or "" */
};

struct p_load {
	const struct h_store *store;
	const char *const *products; /* product ids */
	size_t nproducts;
	int max_quantity; /* 0: 1 */
	struct p_order *orders;
	size_t n;
	int threads;
	/* private */
	atomic_size_t next;
	atomic_size_t answered;
	pthread_t tids[32];
	int started;
};

/* Allocates orders[0..n) and starts `threads` threads that each create an order and check it
 * out (tok_ok, a fresh key) until all n are done. */
void p_load_start(struct p_load *l);
/* How many checkouts have been answered so far. */
size_t p_load_answered(struct p_load *l);
/* Joins the threads (the orders stay until p_load_free). */
void p_load_join(struct p_load *l);
void p_load_free(struct p_load *l);
/* Fails the test when some order was not created or its checkout got no answer or an answer
 * other than accept_a / accept_b (0: unused). */
void p_load_assert_answers(const struct p_load *l, long accept_a, long accept_b);

/* ---- invariants (include/core/invariants.h; test thread) -------------------------------------
 */

/* Runs the invariants — name NULL: every one of the table — over one store (store_id NULL: every
 * store), with min_age_s for no_order_stuck, on a connection of its own as the database owner,
 * all in one REPEATABLE READ snapshot. Returns *n results (free with invariants_results_free);
 * fails the test when they could not run or no invariant has that name. */
struct invariant_result *p_invariants(const char *store_id, const char *name, int min_age_s,
                                      size_t *n);
/* How many of the results are violated; why (may be NULL) gets the first of them:
 * "name: N rows break \"what must hold\"; e.g. <what is wrong with its first row>". */
size_t p_invariants_violated(const struct invariant_result *r, size_t n, char *why, size_t len);
/* Every invariant of the table holds for the store (its outbox drained), or the test fails
 * naming the first that does not. */
void p_assert_invariants(const struct h_store *s);

/* Every one of the store's norders orders is confirmed; the provider saw captures only; every
 * order has its PaymentAuthorized event and every event of the store is done (none dead); and
 * every invariant holds for the store (p_assert_invariants), which makes "confirmed" mean one
 * payment, captured, captured once at the provider, each line's stock taken once, a timeline
 * that confirmed once, one PaymentAuthorized event, stock matching its ledger. */
void p_assert_all_confirmed(const struct h_store *s, long long norders);
/* available == initial - units of it in the store's orders of these statuses (SQL list, e.g.
 * "'confirmed'"), through the API and the database; the store's stock matches its ledger
 * (stock_ledger). */
void p_assert_stock(const struct h_store *s, const char *product_id, long long initial,
                    const char *sold_statuses);

#endif
