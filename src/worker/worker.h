/*
 * worker.h — the outbox worker: TERMINUS_WORKER_CONCURRENCY handler threads, each with its own
 * connection, claiming batches of due events (outbox_claim: fair across stores, SKIP LOCKED,
 * leased) and running them through events_run(), the same runner the API's synchronous
 * checkout uses. A listener thread turns NOTIFY terminus_outbox into an immediate wake-up; an
 * idle thread otherwise sleeps until the next event is due or OUTBOX_POLL_MS passes. A
 * housekeeping thread writes the heartbeat and sweeps old done events and expired
 * idempotency keys.
 *
 * Shutdown: worker_stop() stops claiming, lets every thread finish the event in its hands,
 * gives back the leases of claimed events it has not started, and joins the threads.
 */
#ifndef TERMINUS_WORKER_H
#define TERMINUS_WORKER_H

#include <stdbool.h>
#include "config.h"
#include "err.h"

struct worker;

struct worker *worker_new(const struct config *cfg, const char *worker_id);
bool worker_start(struct worker *w, struct err *e) MUST_CHECK;
void worker_stop(struct worker *w);
void worker_free(struct worker *w);

#endif
