/*
 * terminus-api — the HTTP API. A thin main over the core library:
 *   terminus-api migrate     apply pending migrations (advisory lock) and exit
 *   terminus-api seed-demo   idempotent demo stores and products
 *   terminus-api serve       the default: serve until SIGTERM/SIGINT, then drain and exit 0
 *   terminus-api pgbench-script [setup]
 *                            print the checkout's SQL as a pgbench script (make bench), or the
 *                            SQL that prepares its table; needs no database or configuration
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "app.h"
#include "checkout.h"
#include "config.h"
#include "db.h"
#include "flags.h"
#include "http.h"
#include "keycache.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "notifier.h"
#include "ratelimit.h"
#include "seed.h"
#include "stores.h"
#include "banned.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: terminus-api [migrate|seed-demo|serve]\n"
	             "       terminus-api pgbench-script [setup]\n"
	             "           print one asynchronous checkout's SQL as a pgbench script (run it "
	             "with\n"
	             "           pgbench -M prepared -f FILE), or with setup the SQL that prepares "
	             "its table\n"
	             "           from a store's pending orders (psql -v store=SLUG -f FILE)\n\n");
	config_usage(out);
}

static int cmd_migrate(const struct config *cfg)
{
	struct err e = ERR_INIT;
	struct db_conn *c = db_conn_open(cfg->database_url, DB_ROLE_OWNER, &e);
	int applied = 0;

	if (c == NULL || !migrate_apply(c, &applied, &e)) {
		fprintf(stderr, "terminus-api migrate: %s\n", e.message);
		err_release(&e);
		db_conn_free(c);
		return 1;
	}
	log_info("migrations current at version %d (%d applied now)", migrate_latest_version(),
	         applied);
	db_conn_free(c);
	return 0;
}

static int cmd_seed(const struct config *cfg)
{
	struct err e = ERR_INIT;
	struct db_conn *c = db_conn_open(cfg->database_url, DB_ROLE_APP, &e);

	if (c == NULL || !seed_demo(c, stdout, &e)) {
		fprintf(stderr, "terminus-api seed-demo: %s\n", e.message);
		err_release(&e);
		db_conn_free(c);
		return 1;
	}
	db_conn_free(c);
	return 0;
}

static int cmd_serve(struct app *app)
{
	struct err e = ERR_INIT;
	struct http_server *server = NULL;
	sigset_t stop;
	int sig = 0;

	/* Block the stop signals in every thread; this one waits for them with sigwait. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	app->pool = db_pool_new(app->cfg.database_url, app->cfg.db_pool_size);
	app->flags = flags_new(app->cfg.database_url);
	app->stores = store_cache_new();
	app->notifier = notifier_new(app->cfg.database_url, app->cfg.wakeup);
	if (!flags_start(app->flags, &e) || !notifier_start(app->notifier, &e))
		goto free_services;
	app->events = (struct events_env){
	        app->flags, app->instance, app->cfg.retry_base_ms, app->cfg.max_attempts,
	        NULL,       app->notifier};
	if (app->cfg.client_rate_limit > 0)
		app->client_limiter =
		        ratelimit_new(app->cfg.client_rate_limit, app->cfg.client_burst);
	if (app->cfg.key_rate_limit > 0)
		app->key_limiter = ratelimit_new(app->cfg.key_rate_limit, app->cfg.key_burst);
	app->keys = keycache_new();
	{
		/* The server reaches the API only through these. */
		const struct http_listen listen = {app->cfg.listen_host,
		                                   app->cfg.listen_port,
		                                   app->cfg.http_threads,
		                                   app->cfg.queue_target_ms,
		                                   app->cfg.http_connections_per_ip,
		                                   app->cfg.http_request_timeout_ms};
		const struct http_routes routes = {app, sizeof(struct request_state), api_admit,
		                                   api_dispatch};

		server = http_server_start(&listen, &routes, &e);
	}
	if (server == NULL)
		goto free_services;
	log_info("listening on %s:%d (%d threads, %d database connections)", app->cfg.listen_host,
	         app->cfg.listen_port, app->cfg.http_threads, app->cfg.db_pool_size);
	if (app->cfg.operator_key[0] == '\0')
		log_warn("TERMINUS_OPERATOR_KEY is not set: operator endpoints answer 401");
	sigwait(&stop, &sig);
	log_info("received %s; draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	http_server_stop(server);
	ratelimit_free(app->client_limiter);
	ratelimit_free(app->key_limiter);
	keycache_free(app->keys);
	notifier_free(app->notifier);
	flags_free(app->flags);
	db_pool_free(app->pool);
	store_cache_free(app->stores);
	log_info("stopped");
	return 0;
free_services:
	fprintf(stderr, "terminus-api: %s\n", e.message);
	err_release(&e);
	ratelimit_free(app->client_limiter);
	ratelimit_free(app->key_limiter);
	keycache_free(app->keys);
	notifier_free(app->notifier);
	flags_free(app->flags);
	db_pool_free(app->pool);
	store_cache_free(app->stores);
	return 1;
}

int main(int argc, char **argv)
{
	static struct app app;
	const char *cmd = argc > 1 ? argv[1] : "serve";
	struct err e = ERR_INIT;
	char host[32];

	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "pgbench-script") == 0) {
		if (argc > 2 && strcmp(argv[2], "setup") == 0)
			checkout_pgbench_setup(stdout);
		else if (argc == 2)
			checkout_pgbench_script(stdout);
		else {
			usage(stderr);
			return 2;
		}
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (!config_load(&app.cfg, &e)) {
		fprintf(stderr, "terminus-api: %s\n", e.message);
		return 2;
	}
	log_init("api", app.cfg.log_level);
	metrics_set_enabled(app.cfg.metrics_enabled != 0);
	json_object_seed(0); /* before any thread: jansson's hash seed is process-wide */
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "host");
	host[sizeof(host) - 1] = '\0';
	snprintf(app.instance, sizeof(app.instance), "api-%s-%d", host, (int)getpid());

	if (strcmp(cmd, "migrate") == 0)
		return cmd_migrate(&app.cfg);
	if (strcmp(cmd, "seed-demo") == 0)
		return cmd_seed(&app.cfg);
	if (strcmp(cmd, "serve") == 0)
		return cmd_serve(&app);
	usage(stderr);
	return 2;
}
