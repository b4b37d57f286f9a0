/*
 * notifier.h — waking workers without taxing the checkout transaction.
 *
 * A NOTIFY inside every writing transaction takes a global lock at commit and serialises
 * commits (TECH-NOTES: one-row enqueues plateaued near 3.3k/s with it, 14.7k/s without). So the
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

struct notifier *notifier_new(const char *url);
bool notifier_start(struct notifier *n, struct err *e) MUST_CHECK;
/* Stops the thread (a last pending poke is sent first) and frees. NULL is fine. */
void notifier_free(struct notifier *n);
/* Cheap and non-blocking: asks for one NOTIFY soon. */
void notifier_poke(struct notifier *n);
/* NOTIFYs sent so far (for tests and metrics). */
unsigned long notifier_sent(struct notifier *n);

#endif
