/*
 * notifier.h — waking workers without taxing the checkout transaction.
 *
 * A NOTIFY inside every writing transaction takes a global lock at commit and serialises
 * commits (measured: one-row enqueues plateaued near 3.3k/s with it, 14.7k/s without). So the
 * transactions that write events only poke this notifier after they commit; its own thread
 * sends one NOTIFY terminus_outbox on its own connection for all the pokes that arrived while
 * the previous one was in flight. Under load that is one small NOTIFY per round trip, however
 * many checkouts; when idle, a worker wakes within a millisecond or so of the commit.
 */
#ifndef TERMINUS_NOTIFIER_H
#define TERMINUS_NOTIFIER_H

#include <stdbool.h>
#include "err.h"

#define NOTIFY_CHANNEL "terminus_outbox"

struct notifier;

struct db_conn;
enum wakeup;

/* mode: WAKEUP_COALESCED pokes send NOTIFYs; WAKEUP_IN_TRANSACTION makes notifier_in_tx send
 * one inside the caller's transaction instead (the measured trap, kept for comparison);
 * WAKEUP_OFF sends nothing and workers poll. */
struct notifier *notifier_new(const char *url, enum wakeup mode);
/* Inside a transaction that wrote events: NOTIFY now if the mode is in-transaction. */
bool notifier_in_tx(struct notifier *n, struct db_conn *c, struct err *e) MUST_CHECK;
bool notifier_start(struct notifier *n, struct err *e) MUST_CHECK;
/* Stops the thread (a last pending poke is sent first) and frees. NULL is fine. */
void notifier_free(struct notifier *n);
/* Cheap and non-blocking: asks for one NOTIFY soon. */
void notifier_poke(struct notifier *n);
/* NOTIFYs sent so far (for tests and metrics). */
unsigned long notifier_sent(struct notifier *n);

#endif
