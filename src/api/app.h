/*
 * app.h — what a running API process shares between its request threads: configuration, the
 * database pool, the flag cache and the store cache. Created once in main, read-only after
 * start-up except for the caches, which lock internally.
 */
#ifndef TERMINUS_APP_H
#define TERMINUS_APP_H

#include "config.h"
#include "events.h"
#include "http.h"

struct db_pool;
struct flags;
struct store_cache;
struct notifier;
struct ratelimit;
struct keycache;

struct app {
	struct config cfg;
	struct db_pool *pool;
	struct flags *flags;
	struct store_cache *stores;
	struct notifier *notifier; /* wakes workers after events commit */
	char instance[64];         /* "api-<host>-<pid>": who holds a lease */
	struct events_env events; /* what checkout and cancel run with (flags, notifier, retries) */
	/* Admission (admission.c): buckets per client address and per verified key (NULL: that
	 * limit is 0, off), and the keys this process has verified lately. */
	struct ratelimit *client_limiter;
	struct ratelimit *key_limiter;
	struct keycache *keys;
};

/* The process's app, which every request carries (http_routes.arg). */
static inline struct app *api_app(const struct request *req)
{
	return req->app;
}

#endif
