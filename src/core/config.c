/*
 * config.c — the environment, described once. Every variable the binaries read is a row of
 * config_vars: its type, default, bounds and meaning. Nothing else in the tree calls getenv()
 * for configuration.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "constants.h"
#include "banned.h"

enum var_type { VAR_STRING, VAR_INT, VAR_LOG_LEVEL, VAR_ADDRESS, VAR_SECRET, VAR_WAKEUP };

struct config_var {
	const char *name;
	enum var_type type;
	const char *dflt; /* NULL: no default */
	long min, max;    /* VAR_INT bounds; VAR_SECRET minimum length in min */
	size_t offset;
	size_t size;    /* strings; VAR_ADDRESS: the host buffer */
	size_t offset2; /* VAR_ADDRESS: the int port */
	const char *description;
};

#define STR(field) offsetof(struct config, field), sizeof(((struct config *)0)->field), 0
#define ADDR(host, port)                                                                           \
	offsetof(struct config, host), sizeof(((struct config *)0)->host),                         \
	        offsetof(struct config, port)
#define NUM(field) offsetof(struct config, field), 0, 0

static const struct config_var config_vars[] = {
        {"TERMINUS_DATABASE_URL", VAR_STRING, NULL, 0, 0, STR(database_url),
         "libpq connection string or URI (required)"},
        {"TERMINUS_LISTEN", VAR_ADDRESS, "127.0.0.1:8080", 0, 0, ADDR(listen_host, listen_port),
         "API address host:port"},
        {"TERMINUS_OPERATOR_KEY", VAR_SECRET, "", OPERATOR_KEY_MIN, 0, STR(operator_key),
         "operator bearer token, at least 32 characters; unset: operator endpoints answer 401"},
        {"TERMINUS_WORKER_CONCURRENCY", VAR_INT, "4", 1, 64, NUM(worker_concurrency),
         "handler threads per worker process"},
        {"TERMINUS_WAKEUP", VAR_WAKEUP, "coalesced", 0, 0, NUM(wakeup),
         "how the API wakes workers after writing an event: coalesced (NOTIFY after commit, "
         "batched), in-transaction (NOTIFY inside the checkout transaction: for comparison), off "
         "(workers poll)"},
        {"TERMINUS_LOG_LEVEL", VAR_LOG_LEVEL, "info", 0, 0, NUM(log_level),
         "debug, info, warn or error"},
        {"TERMINUS_RETRY_BASE_MS", VAR_INT, "1000", 1, 3600000, NUM(retry_base_ms),
         "first retry delay of a failed event; doubles per attempt, with full jitter"},
        {"TERMINUS_MAX_ATTEMPTS", VAR_INT, "8", 1, 100, NUM(max_attempts),
         "attempts before an event is dead"},
        {"TERMINUS_HTTP_THREADS", VAR_INT, "8", 1, 256, NUM(http_threads),
         "request handler threads (libmicrohttpd's own threads only read and write)"},
        {"TERMINUS_HTTP_CONNECTIONS_PER_IP", VAR_INT, "64", 1, HTTP_CONNECTION_LIMIT,
         NUM(http_connections_per_ip),
         "open connections one client address may hold; beyond them a new connection is closed "
         "at once, so one address cannot take every connection (slow clients)"},
        {"TERMINUS_QUEUE_TARGET_MS", VAR_INT, "500", 1, 60000, NUM(queue_target_ms),
         "a request that waited longer than this for a handler thread is answered 503 "
         "overloaded with Retry-After (load shedding)"},
        {"TERMINUS_HTTP_REQUEST_TIMEOUT_MS", VAR_INT, "10000", 100, 600000,
         NUM(http_request_timeout_ms),
         "a connection must deliver a whole request (headers and body) within this of opening "
         "or of its previous answer, else it is closed (slow clients)"},
        {"TERMINUS_CLIENT_RATE_LIMIT", VAR_INT, "50", 0, 1000000, NUM(client_rate_limit),
         "requests per second one client address may send without a verified key (per API "
         "process); more are answered 429 rate_limited with Retry-After; 0: no limit"},
        {"TERMINUS_CLIENT_BURST", VAR_INT, "100", 1, 1000000, NUM(client_burst),
         "requests a client address may send at once above its rate (the token bucket's size)"},
        {"TERMINUS_KEY_RATE_LIMIT", VAR_INT, "1000", 0, 1000000, NUM(key_rate_limit),
         "requests per second one verified store admin key may send (per API process); the "
         "operator's key has no limit; 0: no limit"},
        {"TERMINUS_KEY_BURST", VAR_INT, "2000", 1, 1000000, NUM(key_burst),
         "requests a verified key may send at once above its rate"},
        {"TERMINUS_DB_POOL_SIZE", VAR_INT, "8", 1, 256, NUM(db_pool_size),
         "database connections shared by the request threads"},
        {"TERMINUS_METRICS_LISTEN", VAR_ADDRESS, "127.0.0.1:9464", 0, 0,
         ADDR(metrics_host, metrics_port), "worker metrics address host:port"},
        {"TERMINUS_METRICS_ENABLED", VAR_INT, "1", 0, 1, NUM(metrics_enabled),
         "1 counts metrics; 0 leaves every counter at zero (to measure what counting costs)"},
        {"TERMINUS_DETECT_INTERVAL_MS", VAR_INT, "5000", 100, 600000, NUM(detect_interval_ms),
         "how often the fault detector runs (one worker leads each run)"},
        {"TERMINUS_AUDIT_INTERVAL_S", VAR_INT, "60", 1, 86400, NUM(audit_interval_s),
         "how often the detector also runs the invariant audit (it reads whole tables)"},
        {"TERMINUS_FAULT_LAG_S", VAR_INT, "30", 1, 86400, NUM(fault_lag_s),
         "outbox_lag fault: a store's oldest due event waited longer than this"},
        {"TERMINUS_FAULT_WINDOW_S", VAR_INT, "300", 1, 86400, NUM(fault_window_s),
         "window of the dead_events, error_rate and payment_failure_rate faults"},
        {"TERMINUS_FAULT_HEARTBEAT_S", VAR_INT, "15", 2, 86400, NUM(fault_heartbeat_s),
         "worker_heartbeat / stuck_lease faults: a worker silent for longer than this"},
        {"TERMINUS_FAULT_ERROR_RATE", VAR_INT, "50", 1, 100, NUM(fault_error_rate_pct),
         "error_rate fault: percent of a store's events in the window whose last attempt failed"},
        {"TERMINUS_FAULT_PAYMENT_FAILURE_RATE", VAR_INT, "30", 1, 100,
         NUM(fault_payment_failure_pct),
         "payment_failure_rate fault: percent of a store's payments in the window that failed"},
        {"TERMINUS_FAULT_MIN_SAMPLES", VAR_INT, "10", 1, 1000000, NUM(fault_min_samples),
         "rate faults need at least this many events / payments in the window"},
        {"TERMINUS_FAULT_STUCK_ORDER_S", VAR_INT, "900", 1, 864000, NUM(fault_stuck_order_s),
         "invariant fault no_order_stuck: an order in payment_authorized for longer than this"},
};

/* Variables that no longer exist. Set, they stop the process rather than being ignored: a
 * setting the operator believes in but nothing reads is worse than an error. */
static const struct {
	const char *name, *instead;
} removed_vars[] = {
        {"TERMINUS_STORE_RATE_LIMIT",
         "there is no per-store cap any more: limits are per client (TERMINUS_CLIENT_RATE_LIMIT, "
         "TERMINUS_KEY_RATE_LIMIT) and a saturated API shares its queue fairly among stores"},
        {"TERMINUS_STORE_BURST", "see TERMINUS_CLIENT_BURST and TERMINUS_KEY_BURST"},
};

const char *const wakeup_names[WAKEUP_COUNT] = {"coalesced", "in-transaction", "off"};

static bool parse_int(const char *s, long min, long max, int *out)
{
	char *end;
	long v;

	/* strtol would also take leading blanks and '+': a configuration value is digits only. */
	if (!((s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && min < 0)))
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return false;
	*out = (int)v;
	return true;
}

static bool copy_string(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

static bool load_var(struct config *c, const struct config_var *v, const char *value, struct err *e)
{
	char *base = (char *)c;

	switch (v->type) {
	case VAR_STRING:
		if (!copy_string(base + v->offset, v->size, value)) {
			err_set(e, 0, "config", "%s: value too long", v->name);
			return false;
		}
		return true;
	case VAR_SECRET:
		if (value[0] != '\0' && strlen(value) < (size_t)v->min) {
			err_set(e, 0, "config", "%s: must be at least %ld characters", v->name,
			        v->min);
			return false;
		}
		if (!copy_string(base + v->offset, v->size, value)) {
			err_set(e, 0, "config", "%s: value too long", v->name);
			return false;
		}
		return true;
	case VAR_INT:
		if (!parse_int(value, v->min, v->max, (int *)(void *)(base + v->offset))) {
			err_set(e, 0, "config", "%s: \"%s\" is not an integer in %ld..%ld", v->name,
			        value, v->min, v->max);
			return false;
		}
		return true;
	case VAR_WAKEUP:
		for (int i = 0; i < WAKEUP_COUNT; i++) {
			if (strcmp(value, wakeup_names[i]) == 0) {
				c->wakeup = (enum wakeup)i;
				return true;
			}
		}
		err_set(e, 0, "config", "%s: \"%s\" is not one of coalesced, in-transaction, off",
		        v->name, value);
		return false;
	case VAR_LOG_LEVEL:
		if (!log_parse_level(value, &c->log_level)) {
			err_set(e, 0, "config", "%s: \"%s\" is not one of debug, info, warn, error",
			        v->name, value);
			return false;
		}
		return true;
	case VAR_ADDRESS: {
		const char *colon = strrchr(value, ':');
		size_t hostlen;

		if (colon == NULL || colon == value ||
		    !parse_int(colon + 1, 1, 65535, (int *)(void *)(base + v->offset2))) {
			err_set(e, 0, "config", "%s: \"%s\" is not host:port", v->name, value);
			return false;
		}
		hostlen = (size_t)(colon - value);
		if (hostlen >= v->size) {
			err_set(e, 0, "config", "%s: host too long", v->name);
			return false;
		}
		memcpy(base + v->offset, value, hostlen);
		(base + v->offset)[hostlen] = '\0';
		return true;
	}
	}
	return false;
}

bool config_load(struct config *c, struct err *e)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(removed_vars) / sizeof(removed_vars[0]); i++) {
		if (getenv(removed_vars[i].name) != NULL) {
			err_set(e, 0, "config", "%s is no longer read: %s", removed_vars[i].name,
			        removed_vars[i].instead);
			return false;
		}
	}
	for (size_t i = 0; i < sizeof(config_vars) / sizeof(config_vars[0]); i++) {
		const struct config_var *v = &config_vars[i];
		const char *value = getenv(v->name);

		if (value == NULL)
			value = v->dflt;
		if (value == NULL || (v->dflt == NULL && value[0] == '\0')) {
			err_set(e, 0, "config", "%s is required", v->name);
			return false;
		}
		if (!load_var(c, v, value, e))
			return false;
	}
	return true;
}

void config_usage(FILE *out)
{
	fprintf(out, "Environment:\n");
	for (size_t i = 0; i < sizeof(config_vars) / sizeof(config_vars[0]); i++) {
		const struct config_var *v = &config_vars[i];

		fprintf(out, "  %-28s %s%s%s%s\n", v->name, v->description,
		        v->dflt != NULL && v->dflt[0] != '\0' ? " (default " : "",
		        v->dflt != NULL && v->dflt[0] != '\0' ? v->dflt : "",
		        v->dflt != NULL && v->dflt[0] != '\0' ? ")" : "");
	}
}
