/*
 * harness.h — what every integration suite shares: the environment tests/run.sh prepares, the
 * suite's start and end (h_run_suite), HTTP exchanges with the API under test (libcurl, or a raw
 * socket for framing the library would refuse to produce), JSON access into responses, and
 * assertions that print what was sent and what came back when they fail.
 *
 * Threads: h_request(), h_raw() and the h_send*() / h_get*() wrappers may be called from any
 * thread (one curl handle or socket per call) and never assert. Everything that asserts (the
 * H_* macros and h_must_* functions) belongs to the thread cmocka runs the test on: cmocka
 * reports a failure by longjmp-ing out of that thread's test.
 */
#ifndef TERMINUS_IT_HARNESS_H
#define TERMINUS_IT_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>

#define H_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* What tests/run.sh exports (TERMINUS_TEST_*); all borrowed from the environment. */
struct h_env {
	const char *api;          /* http://127.0.0.1:PORT of the API under test */
	const char *db;           /* libpq conninfo of the suite's database, as its owner */
	const char *operator_key; /* the API's TERMINUS_OPERATOR_KEY */
	const char *bindir;       /* where terminus-api lives */
	const char *pgdir;        /* the shared PostgreSQL cluster's directory (scripts/pg.sh) */
	const char *log;          /* the API's log file */
	const char *root;         /* the repository root (scripts/ lives there) */
};

extern struct h_env h_env;

/* Reads the environment (exits with status 2 naming a missing variable), changes to the
 * repository root, ignores SIGPIPE and initialises libcurl and jansson's hash seed. Call once at
 * the top of main, before any thread (h_run_suite does). */
void h_init(void);
/* Releases what h_init holds. Call at the end of main (h_db_close closes the database). */
void h_cleanup(void);

/* ---- suites ---------------------------------------------------------------------------------- */

/* The end of every suite, whatever its tests left behind: SIGKILLs the workers it started
 * (p_stop_all, procs.h), stops the APIs it started (h_api_stop_all, fixtures.h: each must exit 0
 * on SIGTERM) and closes the database connection (h_db_close). 0, or -1 when an API did not stop
 * cleanly. Safe to call again. */
int h_suite_teardown(void **state);

/* cmocka_run_group_tests_name with h_suite_teardown after the group's own teardown (NULL: none).
 * Returns the number of failed tests plus one when a teardown failed: cmocka 1.1 reports a
 * failed group teardown but leaves it out of its count. */
int h_run_group(const char *name, const struct CMUnitTest *tests, size_t n, CMFixtureFunction setup,
                CMFixtureFunction teardown);
/* A whole suite: h_init, h_run_group, h_cleanup; the exit status for main (0: all passed). */
int h_run_suite(const char *name, const struct CMUnitTest *tests, size_t n, CMFixtureFunction setup,
                CMFixtureFunction teardown);

#define H_RUN_GROUP(name, tests, setup, teardown)                                                  \
	h_run_group((name), (tests), sizeof(tests) / sizeof((tests)[0]), (setup), (teardown))
#define H_RUN_SUITE(name, tests, setup, teardown)                                                  \
	h_run_suite((name), (tests), sizeof(tests) / sizeof((tests)[0]), (setup), (teardown))

/* xstrdup (xalloc.h): a copy of s (caller frees); aborts when memory runs out. */
char *h_strdup(const char *s);

/* ---- time ------------------------------------------------------------------------------------ */

/* Monotonic seconds. */
double h_now(void);
/* Pause between two polls of a condition that has its own deadline; never a synchronisation. */
void h_sleep_ms(long ms);

/* ---- HTTP ------------------------------------------------------------------------------------ */

struct h_header {
	char *name;
	char *value;
};

/* One response. Zero-initialise, pass to a request function, release with resp_release. */
struct resp {
	long status; /* 0 when the exchange failed; error says why */
	char *body;  /* NUL-terminated copy; body_len bytes (may contain NULs) */
	size_t body_len;
	json_t *json; /* the body parsed as JSON, or NULL */
	struct h_header *headers;
	size_t nheaders;
	double seconds;  /* wall time of the exchange */
	char method[16]; /* what was asked, for failure messages */
	char path[200];
	char error[256];
};

/* One request. Zero-initialise and set what matters. */
struct h_req {
	const char *method;         /* NULL: GET without a body, POST with one */
	const char *path;           /* appended to base */
	const char *base;           /* NULL: h_env.api */
	const char *auth;           /* bearer token, or NULL for no Authorization header */
	const char *authorization;  /* a whole Authorization value (overrides auth), or NULL */
	const char *idem_key;       /* Idempotency-Key value, or NULL */
	const char *content_type;   /* NULL: application/json when there is a body; "": none */
	const char *request_id;     /* X-Request-Id to send, or NULL */
	const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
	const void *body;           /* NULL: no body */
	size_t body_len;            /* 0: strlen(body) */
	bool chunked;               /* send the body with Transfer-Encoding: chunked */
	bool expect_100;            /* send Expect: 100-continue (default: no Expect) */
	long timeout_ms;            /* 0: 30 s */
	const char *source;         /* local address to send from (e.g. "127.0.0.7"), or NULL */
};

/* Performs the request; false (and r->status 0) when no HTTP answer came back. Thread-safe. */
bool h_request(const struct h_req *q, struct resp *r);

/* Shorthands (thread-safe, never assert). body is a JSON text or NULL. */
bool h_send(struct resp *r, const char *method, const char *path, const char *auth,
            const char *body);
bool h_get(struct resp *r, const char *path, const char *auth);
/* The same with a printf-style path. */
bool h_sendf(struct resp *r, const char *method, const char *auth, const char *body,
             const char *path_fmt, ...) H_PRINTF(5, 6);
bool h_getf(struct resp *r, const char *auth, const char *path_fmt, ...) H_PRINTF(3, 4);

/* Sends bytes as they are over a new TCP connection to the API and reads the answer until the
 * server closes or the announced Content-Length has arrived. half_close shuts down our sending
 * side after the bytes (ends a body framed "until close"). Thread-safe. */
bool h_raw(const void *bytes, size_t len, bool half_close, long timeout_ms, struct resp *r);

/* First header of that name (case-insensitive), or NULL. Borrowed from r. */
const char *resp_header(const struct resp *r, const char *name);
/* Frees what r holds and zeroes it, so that it can be reused. */
void resp_release(struct resp *r);

/* ---- JSON ------------------------------------------------------------------------------------ */

/* The value at path under root ("store.slug", "data[0].items[1].quantity", "" for root), or
 * NULL. Borrowed. */
json_t *h_j(const json_t *root, const char *path);
/* String at path, or NULL. Borrowed. */
const char *h_jstr(const json_t *root, const char *path);
/* Integer at path into *out; false if absent or not an integer. */
bool h_jint(const json_t *root, const char *path, long long *out);

/* Shapes of values the API promises: a UUID in canonical text; RFC 3339 in UTC ("…Z"). */
bool h_is_uuid(const char *s);
bool h_is_rfc3339_utc(const char *s);

/* ---- assertions (test thread only) ----------------------------------------------------------- */

/* Fails the test with a message; the printf arguments say what was wrong. */
void h_fail_at(const char *file, int line, const char *fmt, ...) H_PRINTF(3, 4)
        __attribute__((noreturn));

/* r is an HTTP answer with this status and an X-Request-Id. */
void h_assert_status(const struct resp *r, long status, const char *file, int line);
/* r is the error envelope {"error":{"code","message","request_id","details"}} with this status and
 * code (NULL: any), request_id equal to X-Request-Id, no database text in the message, and, when
 * field is set, details.field equal to it. Retry-After is required on 409 idempotency_key_in_use,
 * 429 and 503. */
void h_assert_error(const struct resp *r, long status, const char *code, const char *field,
                    const char *file, int line);
/* The string / integer at path equals expected. */
void h_assert_jstr(const json_t *root, const char *path, const char *expected, const char *file,
                   int line);
void h_assert_jint(const json_t *root, const char *path, long long expected, const char *file,
                   int line);
/* Two responses have the same status and byte-identical bodies. */
void h_assert_same_body(const struct resp *a, const struct resp *b, const char *file, int line);

#define H_STATUS(r, st)      h_assert_status((r), (st), __FILE__, __LINE__)
#define H_ERROR(r, st, code) h_assert_error((r), (st), (code), NULL, __FILE__, __LINE__)
#define H_ERROR_FIELD(r, st, code, field)                                                          \
	h_assert_error((r), (st), (code), (field), __FILE__, __LINE__)
#define H_JSTR(root, path, expected) h_assert_jstr((root), (path), (expected), __FILE__, __LINE__)
#define H_JINT(root, path, expected) h_assert_jint((root), (path), (expected), __FILE__, __LINE__)
#define H_SAME_BODY(a, b)            h_assert_same_body((a), (b), __FILE__, __LINE__)
#define H_CHECK(cond, ...)                                                                         \
	do {                                                                                       \
		if (!(cond))                                                                       \
			h_fail_at(__FILE__, __LINE__, __VA_ARGS__);                                \
	} while (0)
#define H_FAIL(...) h_fail_at(__FILE__, __LINE__, __VA_ARGS__)

#endif
