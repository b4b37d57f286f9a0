/*
 * config.h — process configuration from the environment, described by one declarative table
 * in config.c (name, type, default, bounds, description). config_load() validates every
 * variable at start-up; a bad value stops the process with a message naming the variable.
 */
#ifndef TERMINUS_CONFIG_H
#define TERMINUS_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include "err.h"
#include "log.h"

/* How the API wakes workers after it writes an outbox event (see notifier.h for the why). */
enum wakeup { WAKEUP_COALESCED, WAKEUP_IN_TRANSACTION, WAKEUP_OFF, WAKEUP_COUNT };
extern const char *const wakeup_names[WAKEUP_COUNT];

struct config {
	char database_url[1024];
	char listen_host[64];
	int listen_port;
	char operator_key[256]; /* "" = operator endpoints answer 401 */
	int worker_concurrency;
	enum log_level log_level;
	enum wakeup wakeup;
	int retry_base_ms;
	int max_attempts;
	int http_threads;
	int http_connections_per_ip;
	int queue_target_ms;
	int http_request_timeout_ms;
	int client_rate_limit; /* per client address without a verified key; 0 = none */
	int client_burst;
	int key_rate_limit; /* per verified store key; 0 = none */
	int key_burst;
	int db_pool_size;
	char metrics_host[64];
	int metrics_port;
	int metrics_enabled;
	/* The fault detector (faults.h), run by every worker, led by one per tick. */
	int detect_interval_ms;
	int audit_interval_s;
	int fault_lag_s;
	int fault_window_s;
	int fault_heartbeat_s;
	int fault_error_rate_pct;
	int fault_payment_failure_pct;
	int fault_min_samples;
	int fault_stuck_order_s;
};

/* Reads and validates every variable. On failure e names the variable. */
bool config_load(struct config *c, struct err *e) MUST_CHECK;
/* Prints the table (name, default, description) for --help. */
void config_usage(FILE *out);

#endif
