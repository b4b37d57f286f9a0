/*
 * worker.c — the outbox worker (see worker.h).
 *
 * Why SKIP LOCKED and leases, not advisory locks: claims are plain row updates that commit at
 * once, so a worker killed at any instant holds nothing but leases; advisory locks would tie work
 * to a session and make batching awkward. A lease still dies with its owner: each handler thread
 * registers the session it claims on, and the housekeeper's reaper (outbox_reap, every second)
 * gives back the leases of a thread whose session ended — a killed worker's within about a
 * second, a hung worker's (its sessions live on) only when they lapse after OUTBOX_LEASE_S.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "constants.h"
#include "db.h"
#include "events.h"
#include "faults.h"
#include "flags.h"
#include "idem.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "notifier.h"
#include "outbox.h"
#include "trace.h"
#include "worker.h"
#include "xalloc.h"
#include "banned.h"

struct worker;

struct handler_thread {
	struct worker *w;
	pthread_t thread;
	int index;
	char owner[96]; /* lease holder: one per thread, so two threads never share a lease */
};

struct worker {
	struct config cfg;
	char id[64];
	struct flags *flags;
	atomic_bool stop;
	atomic_ulong handled;

	pthread_mutex_t lock;
	pthread_cond_t wake;
	unsigned long wake_seq; /* bumped by every NOTIFY; guarded by lock */

	pthread_t listener, housekeeper, detector;
	struct http_metrics *metrics;
	bool started;
	struct handler_thread *threads;
	int nthreads;
};

static void wake_all(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->wake_seq++;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

/* Sleeps up to ms unless a wake-up newer than seen arrives (or stop). */
static void wait_for_work(struct worker *w, unsigned long seen, long long ms)
{
	struct timespec deadline = clock_deadline(ms);

	pthread_mutex_lock(&w->lock);
	while (w->wake_seq == seen && !atomic_load(&w->stop)) {
		if (pthread_cond_timedwait(&w->wake, &w->lock, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&w->lock);
}

/* Sleeps up to ms, returning early only when the worker stops. */
static void wait_stop(struct worker *w, long long ms)
{
	long long until = clock_ms() + ms;

	while (!atomic_load(&w->stop) && clock_ms() < until) {
		unsigned long seen;

		pthread_mutex_lock(&w->lock);
		seen = w->wake_seq;
		pthread_mutex_unlock(&w->lock);
		wait_for_work(w, seen, until - clock_ms());
	}
}

static void sleep_ms(long long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- handler threads ---------------------------------------------------------------------- */

/* Runs evs[0..n) — one store, one type — as one batch, logging each event's outcome with its
 * own context. */
static void run_group(struct handler_thread *t, struct db_conn *c, const struct outbox_event *evs,
                      int n)
{
	struct worker *w = t->w;
	struct events_env env = {w->flags, t->owner, w->cfg.retry_base_ms, w->cfg.max_attempts,
	                         &w->stop, NULL};
	static const char *const outcomes[] = {"done", "retry", "dead", "lease_lost"};
	enum events_outcome outs[OUTBOX_BATCH];
	struct err e = ERR_INIT;
	long long start = clock_ms();
	bool recorded = events_run_batch(&env, c, evs, n, NULL, NULL, outs, &e);

	for (int i = 0; i < n; i++) {
		char trace[33];
		struct log_ctx ctx = {NULL, evs[i].store_id, trace, evs[i].id};

		trace_id_of(evs[i].traceparent, trace);
		log_ctx_set(&ctx);
		if (!recorded && outs[i] == EVENTS_LEASE_LOST)
			log_warn("event not recorded (%s); its lease will lapse and it runs again",
			         e.message);
		if (outs[i] == EVENTS_DONE)
			atomic_fetch_add(&w->handled, 1);
		if (log_enabled(LOG_LEVEL_INFO))
			log_fields(LOG_LEVEL_INFO,
			           json_pack("{s:s, s:s, s:i, s:i, s:I}", "type", evs[i].type,
			                     "outcome", outcomes[outs[i]], "attempt",
			                     evs[i].attempts + 1, "batch", n, "latency_ms",
			                     (json_int_t)(clock_ms() - start)),
			           "event handled");
		log_ctx_clear();
	}
	err_release(&e);
}

/* Stable insertion sort by (store, type): at most OUTBOX_BATCH elements. Stable keeps each
 * store's events in claim order. */
static void sort_batch(struct outbox_event *b, int n)
{
	for (int i = 1; i < n; i++) {
		struct outbox_event tmp = b[i];
		int j = i - 1;

		while (j >= 0 && (strcmp(b[j].store_id, tmp.store_id) > 0 ||
		                  (strcmp(b[j].store_id, tmp.store_id) == 0 &&
		                   strcmp(b[j].type, tmp.type) > 0))) {
			b[j + 1] = b[j];
			j--;
		}
		b[j + 1] = tmp;
	}
}

static void *handler_main(void *arg)
{
	struct handler_thread *t = arg;
	struct worker *w = t->w;
	struct outbox_event batch[OUTBOX_BATCH];
	struct db_conn *c = NULL;
	bool registered = false; /* c's session is in lease_owners */

	while (!atomic_load(&w->stop)) {
		struct err e = ERR_INIT;
		unsigned long seen;
		int n = 0, i;
		long long due_ms = OUTBOX_POLL_MS;

		if (c == NULL && (c = db_conn_open(w->cfg.database_url, DB_ROLE_APP, &e)) == NULL) {
			err_release(&e);
			sleep_ms(WORKER_RECONNECT_MS);
			continue;
		}
		/* Every new session is registered before it claims: claims made on a session the
		 * reaper does not know would outlive this process by a whole lease. */
		if (!registered && !(registered = outbox_owner_register(c, t->owner, w->id, &e)))
			goto lost;
		pthread_mutex_lock(&w->lock);
		seen = w->wake_seq;
		pthread_mutex_unlock(&w->lock);
		if (!outbox_claim(c, t->owner, batch, &n, &e))
			goto lost;
		/* Group the batch by store and type (claims interleave stores for fairness); each
		 * group runs as one batch. */
		sort_batch(batch, n);
		for (i = 0; i < n && !atomic_load(&w->stop);) {
			int j = i + 1;

			while (j < n && strcmp(batch[j].store_id, batch[i].store_id) == 0 &&
			       strcmp(batch[j].type, batch[i].type) == 0)
				j++;
			run_group(t, c, &batch[i], j - i);
			i = j;
		}
		/* Stopping: hand back what we claimed but did not start. */
		for (; i < n; i++) {
			if (!outbox_release(c, &batch[i], t->owner, &e))
				err_release(&e);
		}
		for (i = 0; i < n; i++)
			outbox_event_release(&batch[i]);
		if (n == OUTBOX_BATCH)
			continue; /* a full batch: there is probably more */
		if (n == 0 && !outbox_next_due_ms(c, OUTBOX_POLL_MS, &due_ms, &e))
			goto lost;
		if (n == 0 && due_ms > 0)
			wait_for_work(w, seen, due_ms);
		continue;
	lost:
		log_warn("worker thread %d: %s", t->index, e.message);
		err_release(&e);
		if (!db_conn_ok(c)) {
			db_conn_free(c);
			c = NULL;
			registered = false;
		}
		sleep_ms(WORKER_RECONNECT_MS);
	}
	db_conn_free(c);
	return NULL;
}

/* ---- listener ------------------------------------------------------------------------------ */

static void *listener_main(void *arg)
{
	struct worker *w = arg;
	struct db_conn *c = NULL;

	while (!atomic_load(&w->stop)) {
		struct err e = ERR_INIT;
		struct pollfd pfd;
		PGnotify *note;
		PGresult *r;
		bool woke = false;

		if (c == NULL) {
			c = db_conn_open(w->cfg.database_url, DB_ROLE_APP, &e);
			r = c != NULL ? db_exec_sql(c, "LISTEN " NOTIFY_CHANNEL, &e) : NULL;
			if (r == NULL) {
				err_release(&e);
				db_conn_free(c);
				c = NULL;
				sleep_ms(WORKER_RECONNECT_MS);
				continue;
			}
			PQclear(r);
			wake_all(w); /* notifications sent while away are lost: look now */
		}
		pfd.fd = PQsocket(db_conn_pg(c));
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
			goto lost;
		if (PQconsumeInput(db_conn_pg(c)) == 0)
			goto lost;
		while ((note = PQnotifies(db_conn_pg(c))) != NULL) {
			woke = true;
			PQfreemem(note);
		}
		if (woke)
			wake_all(w);
		continue;
	lost:
		log_warn("outbox listener lost its connection; reconnecting");
		db_conn_free(c);
		c = NULL;
	}
	db_conn_free(c);
	return NULL;
}

/* ---- housekeeping ---------------------------------------------------------------------------- */

/* The beat names the session it is sent on (migration 005): once that session and every lease
 * owner's of this process have ended, the reaper forgets the worker. Looking the session up on
 * every beat (once a second) keeps it right across reconnects without remembering anything. */
static struct db_stmt st_heartbeat = DB_STMT(
        "worker_heartbeat",
        "INSERT INTO worker_heartbeats (worker_id, events_done, pid, backend_start) "
        "VALUES ($1, $2, pg_backend_pid(), terminus_backend_start(pg_backend_pid())) "
        "ON CONFLICT (worker_id) DO UPDATE SET seen_at = now(), events_done = EXCLUDED.events_done, "
        "  pid = EXCLUDED.pid, backend_start = EXCLUDED.backend_start");

static struct db_stmt st_heartbeat_end =
        DB_STMT("worker_heartbeat_end", "DELETE FROM worker_heartbeats WHERE worker_id = $1");

static void sweep(struct db_conn *c)
{
	struct err e = ERR_INIT;
	int n = 0, total_events = 0, total_keys = 0;

	do {
		if (!outbox_sweep(c, OUTBOX_RETENTION_HOURS, SWEEP_BATCH, &n, &e))
			goto log_failure;
		total_events += n;
	} while (n == SWEEP_BATCH);
	do {
		if (!idem_sweep(c, SWEEP_BATCH, &n, &e))
			goto log_failure;
		total_keys += n;
	} while (n == SWEEP_BATCH);
	if (total_events + total_keys > 0)
		log_info("swept %d done events and %d expired idempotency keys", total_events,
		         total_keys);
	return;
log_failure:
	log_warn("sweep failed: %s", e.message);
	err_release(&e);
}

/* Gives back the leases of owners whose session ended and forgets workers that are gone; when
 * it gave something back, this worker's idle threads look at once (the others' poll within a
 * second). */
static void reap(struct worker *w, struct db_conn *c)
{
	struct outbox_reaped got;
	struct err e = ERR_INIT;

	if (!outbox_reap(c, &got, &e)) {
		log_warn("lease reaper failed: %s", e.message);
		err_release(&e);
		return;
	}
	if (got.released > 0) {
		log_info("gave back %d leases of %d lease owners whose database session ended",
		         got.released, got.owners);
		wake_all(w);
	}
	if (got.forgotten[0] != '\0')
		log_info("forgot worker %s: none of its database sessions is left", got.forgotten);
}

static void *housekeeper_main(void *arg)
{
	struct worker *w = arg;
	struct db_conn *c = NULL;
	long long last_sweep = 0;

	while (!atomic_load(&w->stop)) {
		struct err e = ERR_INIT;
		char done[24];
		PGresult *r;

		if (c == NULL && (c = db_conn_open(w->cfg.database_url, DB_ROLE_APP, &e)) == NULL) {
			err_release(&e);
			sleep_ms(WORKER_RECONNECT_MS);
			continue;
		}
		snprintf(done, sizeof(done), "%lu", atomic_load(&w->handled));
		r = db_exec_once(c, NULL, true, &st_heartbeat, DB_PARAMS(w->id, done), &e);
		if (r == NULL) {
			err_release(&e);
			if (!db_conn_ok(c)) {
				db_conn_free(c);
				c = NULL;
			}
		}
		PQclear(r);
		if (c != NULL)
			reap(w, c);
		if (c != NULL && clock_ms() - last_sweep >= SWEEP_INTERVAL_S * 1000LL) {
			sweep(c);
			last_sweep = clock_ms();
		}
		wait_stop(w, HEARTBEAT_INTERVAL_MS);
	}
	if (c != NULL) {
		struct err e = ERR_INIT;

		PQclear(db_exec_once(c, NULL, true, &st_heartbeat_end, DB_PARAMS(w->id), &e));
		err_release(&e);
	}
	db_conn_free(c);
	return NULL;
}

/* ---- fault detection ------------------------------------------------------------------------- */

/* Every worker ticks; faults_tick() lets one of them lead, once per interval across workers. */
static void *detector_main(void *arg)
{
	struct worker *w = arg;
	const struct fault_limits lim = {
	        .interval_ms = w->cfg.detect_interval_ms,
	        .audit_interval_s = w->cfg.audit_interval_s,
	        .lag_s = w->cfg.fault_lag_s,
	        .window_s = w->cfg.fault_window_s,
	        .heartbeat_s = w->cfg.fault_heartbeat_s,
	        .error_rate_pct = w->cfg.fault_error_rate_pct,
	        .payment_failure_pct = w->cfg.fault_payment_failure_pct,
	        .min_samples = w->cfg.fault_min_samples,
	        .stuck_order_s = w->cfg.fault_stuck_order_s,
	};
	struct db_conn *c = NULL;

	for (wait_stop(w, w->cfg.detect_interval_ms); !atomic_load(&w->stop);
	     wait_stop(w, w->cfg.detect_interval_ms)) {
		struct err e = ERR_INIT;
		bool led = false;

		if (c == NULL && (c = db_conn_open(w->cfg.database_url, DB_ROLE_APP, &e)) == NULL) {
			metrics_inc(M_DETECTOR_TICKS, "failed", NULL);
			err_release(&e);
			continue;
		}
		if (faults_tick(c, &lim, &led, &e)) {
			metrics_inc(M_DETECTOR_TICKS, led ? "led" : "skipped", NULL);
			continue;
		}
		metrics_inc(M_DETECTOR_TICKS, "failed", NULL);
		log_warn("fault detector tick failed: %s", e.message);
		err_release(&e);
		if (!db_conn_ok(c)) {
			db_conn_free(c);
			c = NULL;
		}
	}
	db_conn_free(c);
	return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

struct worker *worker_new(const struct config *cfg, const char *worker_id)
{
	struct worker *w = xcalloc(1, sizeof(*w));

	w->cfg = *cfg;
	snprintf(w->id, sizeof(w->id), "%s", worker_id);
	w->flags = flags_new(cfg->database_url);
	atomic_init(&w->stop, false);
	atomic_init(&w->handled, 0);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	w->nthreads = cfg->worker_concurrency;
	w->threads = xcalloc((size_t)w->nthreads, sizeof(*w->threads));
	return w;
}

/* Scrape-time gauges of the worker: its threads, and the outbox as the database sees it (a
 * connection per scrape: scrapes come every few seconds, not per event). */
static void worker_gauges(struct metrics_text *t, void *arg)
{
	struct worker *w = arg;
	struct err e = ERR_INIT;
	struct db_conn *c = db_conn_open(w->cfg.database_url, DB_ROLE_APP, &e);

	metrics_gauge(t, "terminus_worker_threads", "Handler threads of this worker process", NULL,
	              NULL, w->nthreads);
	outbox_metrics(c, t);
	faults_metrics(c, t);
	db_conn_free(c);
	err_release(&e);
}

bool worker_start(struct worker *w, struct err *e)
{
	struct err me = ERR_INIT;

	if (!flags_start(w->flags, e))
		return false;
	/* Several workers may share a host: a taken metrics port must not keep one from working.
	 * It says so, loudly, and runs without the endpoint. */
	w->metrics =
	        http_metrics_start(w->cfg.metrics_host, w->cfg.metrics_port, worker_gauges, w, &me);
	if (w->metrics == NULL)
		log_error("metrics endpoint disabled: %s (set TERMINUS_METRICS_LISTEN)",
		          me.message);
	else
		log_info("metrics on http://%s:%d/metrics", w->cfg.metrics_host,
		         w->cfg.metrics_port);
	err_release(&me);
	if (pthread_create(&w->listener, NULL, listener_main, w) != 0 ||
	    pthread_create(&w->housekeeper, NULL, housekeeper_main, w) != 0 ||
	    pthread_create(&w->detector, NULL, detector_main, w) != 0) {
		err_internal(e, "cannot start worker threads");
		return false;
	}
	for (int i = 0; i < w->nthreads; i++) {
		struct handler_thread *t = &w->threads[i];

		t->w = w;
		t->index = i;
		snprintf(t->owner, sizeof(t->owner), "%s-t%d", w->id, i);
		if (pthread_create(&t->thread, NULL, handler_main, t) != 0)
			abort(); /* no thread at startup: a worker without handlers is useless */
	}
	w->started = true;
	return true;
}

void worker_stop(struct worker *w)
{
	if (!w->started)
		return;
	atomic_store(&w->stop, true);
	wake_all(w);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i].thread, NULL);
	pthread_join(w->listener, NULL);
	pthread_join(w->housekeeper, NULL);
	pthread_join(w->detector, NULL);
	http_metrics_stop(w->metrics);
	w->metrics = NULL;
	flags_stop(w->flags);
	w->started = false;
}

void worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	worker_stop(w);
	flags_free(w->flags);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w->threads);
	free(w);
}
