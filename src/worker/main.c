/*
 * terminus-worker — runs outbox events until SIGTERM/SIGINT, then finishes what it holds,
 * gives back what it has not started, and exits 0. Waits for the schema to be current first,
 * so it may start before `terminus-api migrate` has run.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "worker.h"
#include "banned.h"

/* Polls until the database answers and the schema is current, or a stop signal arrives. */
static bool wait_for_schema(const struct config *cfg, const sigset_t *stop)
{
	struct timespec tick = {0, 250 * 1000000L};
	bool said = false;

	for (;;) {
		struct err e = ERR_INIT;
		struct db_conn *c = db_conn_open(cfg->database_url, DB_ROLE_APP, &e);
		bool current = false;

		if (c != NULL && migrate_is_current(c, &current, &e) && current) {
			db_conn_free(c);
			return true;
		}
		db_conn_free(c);
		if (!said) {
			log_info("waiting for the database and its migrations");
			said = true;
		}
		err_release(&e);
		if (sigtimedwait(stop, NULL, &tick) > 0)
			return false;
	}
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct worker *w;
	sigset_t stop;
	char host[32], id[64];
	int sig = 0;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: terminus-worker\n\n");
		config_usage(stdout);
		return 0;
	}
	if (!config_load(&cfg, &e)) {
		fprintf(stderr, "terminus-worker: %s\n", e.message);
		return 2;
	}
	log_init("worker", cfg.log_level);
	metrics_set_enabled(cfg.metrics_enabled != 0);
	json_object_seed(0);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "host");
	host[sizeof(host) - 1] = '\0';
	snprintf(id, sizeof(id), "worker-%s-%d", host, (int)getpid());

	if (!wait_for_schema(&cfg, &stop)) {
		log_info("stopped before the schema was ready");
		return 0;
	}
	w = worker_new(&cfg, id);
	if (!worker_start(w, &e)) {
		fprintf(stderr, "terminus-worker: %s\n", e.message);
		worker_free(w);
		return 1;
	}
	log_info("worker %s running %d handler threads", id, cfg.worker_concurrency);
	sigwait(&stop, &sig);
	log_info("received %s; finishing in-flight events", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	worker_stop(w);
	worker_free(w);
	log_info("stopped");
	return 0;
}
