/*
 * test_config.c — config_load against a controlled environment: defaults, parsing, and that every
 * bad value is refused with a message naming the variable. Each test starts from an environment
 * with no TERMINUS_* variable but the database URL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* environ (_GNU_SOURCE) */
#include <cmocka.h>

#include "config.h"
#include "constants.h"
#include "banned.h"

#define DB_URL "postgresql://terminus@localhost/terminus_test"

static void clear_terminus_env(void)
{
	char name[256];
	bool again = true;

	/* unsetenv() edits environ, so restart the scan after each removal. */
	while (again) {
		again = false;
		for (char **p = environ; *p != NULL; p++) {
			const char *eq = strchr(*p, '=');
			size_t n = eq != NULL ? (size_t)(eq - *p) : strlen(*p);

			if (strncmp(*p, "TERMINUS_", 9) != 0 || n >= sizeof(name))
				continue;
			memcpy(name, *p, n);
			name[n] = '\0';
			assert_int_equal(unsetenv(name), 0);
			again = true;
			break;
		}
	}
}

static int setup(void **state)
{
	(void)state;
	clear_terminus_env();
	return setenv("TERMINUS_DATABASE_URL", DB_URL, 1);
}

static void set(const char *name, const char *value)
{
	assert_int_equal(setenv(name, value, 1), 0);
}

static void load_ok(struct config *c)
{
	struct err e = ERR_INIT;

	if (!config_load(c, &e))
		fail_msg("config_load failed: %s", e.message);
	err_release(&e);
}

/* Expects config_load to fail with a message that names var. */
static void load_fails_naming(const char *var)
{
	struct config c;
	struct err e = ERR_INIT;

	if (config_load(&c, &e))
		fail_msg("config_load accepted %s=\"%s\"", var, getenv(var) ? getenv(var) : "");
	assert_non_null(e.code);
	if (strstr(e.message, var) == NULL)
		fail_msg("message does not name %s: %s", var, e.message);
	err_release(&e);
}

/* Sets var=value and expects the load to fail naming var. */
static void rejects(const char *var, const char *value)
{
	set(var, value);
	load_fails_naming(var);
}

static void test_missing_database_url(void **state)
{
	(void)state;
	assert_int_equal(unsetenv("TERMINUS_DATABASE_URL"), 0);
	load_fails_naming("TERMINUS_DATABASE_URL");
}

static void test_database_url_copied(void **state)
{
	struct config c;

	(void)state;
	load_ok(&c);
	assert_string_equal(c.database_url, DB_URL);
	set("TERMINUS_DATABASE_URL", "host=/tmp dbname=x");
	load_ok(&c);
	assert_string_equal(c.database_url, "host=/tmp dbname=x");
}

static void test_database_url_too_long(void **state)
{
	struct config c;
	char url[sizeof(c.database_url) + 1];

	(void)state;
	memset(url, 'u', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	rejects("TERMINUS_DATABASE_URL", url);
	/* One shorter fits exactly. */
	url[sizeof(url) - 2] = '\0';
	set("TERMINUS_DATABASE_URL", url);
	load_ok(&c);
	assert_int_equal(strlen(c.database_url), sizeof(c.database_url) - 1);
}

static void test_defaults(void **state)
{
	struct config c;

	(void)state;
	memset(&c, 0x7f, sizeof(c));
	load_ok(&c);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(c.listen_port, 8080);
	assert_int_equal(c.worker_concurrency, 4);
	assert_int_equal(c.retry_base_ms, 1000);
	assert_int_equal(c.max_attempts, 8);
	assert_int_equal(c.log_level, LOG_LEVEL_INFO);
	assert_string_equal(c.operator_key, "");
	assert_int_equal(c.http_threads, 8);
	assert_int_equal(c.db_pool_size, 8);
	assert_string_equal(c.metrics_host, "127.0.0.1");
	assert_int_equal(c.metrics_port, 9464);
}

static void test_listen_parsing(void **state)
{
	struct config c;

	(void)state;
	set("TERMINUS_LISTEN", "0.0.0.0:9000");
	load_ok(&c);
	assert_string_equal(c.listen_host, "0.0.0.0");
	assert_int_equal(c.listen_port, 9000);

	set("TERMINUS_LISTEN", "localhost:1");
	load_ok(&c);
	assert_string_equal(c.listen_host, "localhost");
	assert_int_equal(c.listen_port, 1);

	set("TERMINUS_LISTEN", "api.example.com:65535");
	load_ok(&c);
	assert_string_equal(c.listen_host, "api.example.com");
	assert_int_equal(c.listen_port, 65535);

	/* The port follows the last colon, so a bracketed IPv6 host survives. */
	set("TERMINUS_LISTEN", "[::1]:8443");
	load_ok(&c);
	assert_string_equal(c.listen_host, "[::1]");
	assert_int_equal(c.listen_port, 8443);
}

static void test_listen_bad_values(void **state)
{
	static const char *const bad[] = {
	        "nocolon", ":80", "h:99999", "h:65536", "h:", "h:abc", "h:80x", "h:-1", "", ":",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		rejects("TERMINUS_LISTEN", bad[i]);
}

static void test_listen_host_too_long(void **state)
{
	struct config c;
	char value[sizeof(c.listen_host) + 16];

	(void)state;
	memset(value, 'h', sizeof(c.listen_host));
	memcpy(value + sizeof(c.listen_host), ":80", 4);
	rejects("TERMINUS_LISTEN", value);
	/* sizeof - 1 characters of host fit. */
	memcpy(value + sizeof(c.listen_host) - 1, ":80", 4);
	set("TERMINUS_LISTEN", value);
	load_ok(&c);
	assert_int_equal(strlen(c.listen_host), sizeof(c.listen_host) - 1);
	assert_int_equal(c.listen_port, 80);
}

static void test_operator_key(void **state)
{
	struct config c;
	char key[OPERATOR_KEY_MIN + 1];
	char huge[sizeof(c.operator_key) + 1];

	(void)state;
	assert_int_equal(OPERATOR_KEY_MIN, 32);
	memset(key, 'k', OPERATOR_KEY_MIN - 1);
	key[OPERATOR_KEY_MIN - 1] = '\0';
	rejects("TERMINUS_OPERATOR_KEY", key);
	rejects("TERMINUS_OPERATOR_KEY", "x");

	memset(key, 'k', OPERATOR_KEY_MIN);
	key[OPERATOR_KEY_MIN] = '\0';
	set("TERMINUS_OPERATOR_KEY", key);
	load_ok(&c);
	assert_string_equal(c.operator_key, key);

	/* Set but empty: the same as unset, operator endpoints disabled. */
	set("TERMINUS_OPERATOR_KEY", "");
	load_ok(&c);
	assert_string_equal(c.operator_key, "");

	memset(huge, 'k', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	rejects("TERMINUS_OPERATOR_KEY", huge);
}

static void test_log_level(void **state)
{
	struct config c;

	(void)state;
	set("TERMINUS_LOG_LEVEL", "debug");
	load_ok(&c);
	assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
	set("TERMINUS_LOG_LEVEL", "warn");
	load_ok(&c);
	assert_int_equal(c.log_level, LOG_LEVEL_WARN);
	set("TERMINUS_LOG_LEVEL", "error");
	load_ok(&c);
	assert_int_equal(c.log_level, LOG_LEVEL_ERROR);
	set("TERMINUS_LOG_LEVEL", "info");
	load_ok(&c);
	assert_int_equal(c.log_level, LOG_LEVEL_INFO);

	rejects("TERMINUS_LOG_LEVEL", "verbose");
	rejects("TERMINUS_LOG_LEVEL", "INFO");
	rejects("TERMINUS_LOG_LEVEL", "");
	rejects("TERMINUS_LOG_LEVEL", "info ");
	rejects("TERMINUS_LOG_LEVEL", "1");
}

static void test_worker_concurrency(void **state)
{
	static const char *const bad[] = {"0", "abc", "5x", "", "-1", "65", "4.0", "99999999999"};
	struct config c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		rejects("TERMINUS_WORKER_CONCURRENCY", bad[i]);

	set("TERMINUS_WORKER_CONCURRENCY", "1");
	load_ok(&c);
	assert_int_equal(c.worker_concurrency, 1);
	set("TERMINUS_WORKER_CONCURRENCY", "64");
	load_ok(&c);
	assert_int_equal(c.worker_concurrency, 64);
	set("TERMINUS_WORKER_CONCURRENCY", "12");
	load_ok(&c);
	assert_int_equal(c.worker_concurrency, 12);
}

static void test_other_integers(void **state)
{
	struct config c;

	(void)state;
	set("TERMINUS_RETRY_BASE_MS", "250");
	set("TERMINUS_MAX_ATTEMPTS", "3");
	set("TERMINUS_HTTP_THREADS", "16");
	set("TERMINUS_DB_POOL_SIZE", "2");
	load_ok(&c);
	assert_int_equal(c.retry_base_ms, 250);
	assert_int_equal(c.max_attempts, 3);
	assert_int_equal(c.http_threads, 16);
	assert_int_equal(c.db_pool_size, 2);

	rejects("TERMINUS_MAX_ATTEMPTS", "0");
	set("TERMINUS_MAX_ATTEMPTS", "3");
	rejects("TERMINUS_RETRY_BASE_MS", "0");
	rejects("TERMINUS_RETRY_BASE_MS", "3600001");
	set("TERMINUS_RETRY_BASE_MS", "250");
	rejects("TERMINUS_HTTP_THREADS", "257");
	set("TERMINUS_HTTP_THREADS", "16");
	rejects("TERMINUS_DB_POOL_SIZE", "x");
}

/* Limits are per client: the old per-store variables stop the process instead of being ignored,
 * and the new ones have their documented defaults and bounds. */
static void test_client_limits(void **state)
{
	struct config c;

	(void)state;
	load_ok(&c);
	assert_int_equal(c.client_rate_limit, 50);
	assert_int_equal(c.client_burst, 100);
	assert_int_equal(c.key_rate_limit, 1000);
	assert_int_equal(c.key_burst, 2000);
	assert_int_equal(c.http_request_timeout_ms, 10000);
	rejects("TERMINUS_CLIENT_BURST", "0");
	set("TERMINUS_CLIENT_BURST", "100");
	rejects("TERMINUS_HTTP_REQUEST_TIMEOUT_MS", "99");
	set("TERMINUS_HTTP_REQUEST_TIMEOUT_MS", "10000");
	rejects("TERMINUS_STORE_RATE_LIMIT", "100");
	assert_int_equal(unsetenv("TERMINUS_STORE_RATE_LIMIT"), 0);
	rejects("TERMINUS_STORE_BURST", "200");
}

static void test_reload_resets_previous_values(void **state)
{
	struct config c;

	(void)state;
	set("TERMINUS_LISTEN", "10.0.0.1:9999");
	set("TERMINUS_WORKER_CONCURRENCY", "7");
	load_ok(&c);
	assert_int_equal(c.listen_port, 9999);
	assert_int_equal(unsetenv("TERMINUS_LISTEN"), 0);
	assert_int_equal(unsetenv("TERMINUS_WORKER_CONCURRENCY"), 0);
	load_ok(&c);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(c.listen_port, 8080);
	assert_int_equal(c.worker_concurrency, 4);
}

/* Regressions: values that strtol or a loose parser would have let through. */
static void test_strict_values(void **state)
{
	(void)state;
	rejects("TERMINUS_DATABASE_URL", "");
	set("TERMINUS_DATABASE_URL", "dbname=x");
	rejects("TERMINUS_WORKER_CONCURRENCY", " 5");
	rejects("TERMINUS_WORKER_CONCURRENCY", "+5");
	set("TERMINUS_WORKER_CONCURRENCY", "4");
	rejects("TERMINUS_LISTEN", "h: 80");
	rejects("TERMINUS_LISTEN", "h:0");
	set("TERMINUS_LISTEN", "127.0.0.1:8080");
	rejects("TERMINUS_METRICS_LISTEN", "garbage");
}

static void test_metrics_listen(void **state)
{
	struct config c;

	(void)state;
	set("TERMINUS_METRICS_LISTEN", "0.0.0.0:9100");
	load_ok(&c);
	assert_string_equal(c.metrics_host, "0.0.0.0");
	assert_int_equal(c.metrics_port, 9100);
	assert_string_equal(c.listen_host, "127.0.0.1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_missing_database_url, setup),
	        cmocka_unit_test_setup(test_database_url_copied, setup),
	        cmocka_unit_test_setup(test_database_url_too_long, setup),
	        cmocka_unit_test_setup(test_defaults, setup),
	        cmocka_unit_test_setup(test_client_limits, setup),
	        cmocka_unit_test_setup(test_listen_parsing, setup),
	        cmocka_unit_test_setup(test_listen_bad_values, setup),
	        cmocka_unit_test_setup(test_listen_host_too_long, setup),
	        cmocka_unit_test_setup(test_operator_key, setup),
	        cmocka_unit_test_setup(test_log_level, setup),
	        cmocka_unit_test_setup(test_worker_concurrency, setup),
	        cmocka_unit_test_setup(test_other_integers, setup),
	        cmocka_unit_test_setup(test_reload_resets_previous_values, setup),
	        cmocka_unit_test_setup(test_strict_values, setup),
	        cmocka_unit_test_setup(test_metrics_listen, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
