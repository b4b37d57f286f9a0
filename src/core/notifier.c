/*
 * notifier.c — coalescing NOTIFY sender (see notifier.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "notifier.h"
#include "xalloc.h"
#include "banned.h"

struct notifier {
	char *url;
	enum wakeup mode;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool pending; /* a poke arrived since the last NOTIFY went out */
	bool stop;
	atomic_ulong sent;
};

struct notifier *notifier_new(const char *url, enum wakeup mode)
{
	struct notifier *n = xcalloc(1, sizeof(*n));

	n->url = xstrdup(url);
	n->mode = mode;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	atomic_init(&n->sent, 0);
	return n;
}

bool notifier_in_tx(struct notifier *n, struct db_conn *c, struct err *e)
{
	PGresult *r;

	if (n == NULL || n->mode != WAKEUP_IN_TRANSACTION)
		return true;
	r = db_exec_sql(c, "NOTIFY " NOTIFY_CHANNEL, e);
	if (r == NULL)
		return false;
	PQclear(r);
	atomic_fetch_add(&n->sent, 1);
	return true;
}

void notifier_poke(struct notifier *n)
{
	if (n == NULL || n->mode != WAKEUP_COALESCED)
		return;
	pthread_mutex_lock(&n->lock);
	if (!n->pending) {
		n->pending = true;
		pthread_cond_signal(&n->cond);
	}
	pthread_mutex_unlock(&n->lock);
}

unsigned long notifier_sent(struct notifier *n)
{
	return atomic_load(&n->sent);
}

static void *notifier_main(void *arg)
{
	struct notifier *n = arg;
	struct db_conn *c = NULL;

	for (;;) {
		struct err e = ERR_INIT;
		PGresult *r;
		bool stop;

		pthread_mutex_lock(&n->lock);
		while (!n->pending && !n->stop)
			pthread_cond_wait(&n->cond, &n->lock);
		stop = n->stop && !n->pending;
		n->pending = false;
		pthread_mutex_unlock(&n->lock);
		if (stop)
			break;
		if (c == NULL && (c = db_conn_open(n->url, DB_ROLE_APP, &e)) == NULL) {
			/* Database down: workers fall back to their poll. Do not spin. */
			struct timespec ts = {0, 200 * 1000000L};

			err_release(&e);
			nanosleep(&ts, NULL);
			continue;
		}
		r = db_exec_sql(c, "NOTIFY " NOTIFY_CHANNEL, &e);
		if (r == NULL) {
			err_release(&e);
			db_conn_free(c);
			c = NULL;
			continue;
		}
		PQclear(r);
		atomic_fetch_add(&n->sent, 1);
	}
	db_conn_free(c);
	return NULL;
}

bool notifier_start(struct notifier *n, struct err *e)
{
	if (pthread_create(&n->thread, NULL, notifier_main, n) != 0) {
		err_internal(e, "cannot start the notifier thread");
		return false;
	}
	n->running = true;
	return true;
}

void notifier_free(struct notifier *n)
{
	if (n == NULL)
		return;
	if (n->running) {
		pthread_mutex_lock(&n->lock);
		n->stop = true;
		pthread_cond_signal(&n->cond);
		pthread_mutex_unlock(&n->lock);
		pthread_join(n->thread, NULL);
	}
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n->url);
	free(n);
}
