/*
 * clock.h — the two clocks the service uses: monotonic milliseconds for intervals, and
 * CLOCK_REALTIME deadlines for pthread_cond_timedwait.
 */
#ifndef TERMINUS_CLOCK_H
#define TERMINUS_CLOCK_H

#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC. */
long long clock_ms(void);
/* The CLOCK_REALTIME instant ms from now, for pthread_cond_timedwait. */
struct timespec clock_deadline(long long ms);

#endif
