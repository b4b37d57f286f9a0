/*
 * terminus-worker — runs outbox events. For now (issue 2) it connects, waits until the schema
 * is current, and idles until SIGTERM/SIGINT; the claim loop arrives with the worker issue.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "migrate.h"
#include "banned.h"

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct err e = ERR_INIT;
	struct db_conn *c = NULL;
	struct sigaction sa;
	bool current = false;

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
	json_object_seed(0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	while (!stopping) {
		struct timespec ts = {0, 200 * 1000000L};

		if (c == NULL)
			c = db_conn_open(cfg.database_url, DB_ROLE_APP, &e);
		if (c != NULL && !current && migrate_is_current(c, &current, &e) && current)
			log_info("schema current; idle until the worker issue lands");
		if (c != NULL && !db_conn_ok(c)) {
			db_conn_free(c);
			c = NULL;
			current = false;
		}
		err_release(&e);
		nanosleep(&ts, NULL);
	}
	db_conn_free(c);
	log_info("stopped");
	return 0;
}
