/*
 * procs.c — worker processes, log parsing, deadline polls, a checkout load, and the core's
 * invariants run on a store (see procs.h).
 *
 * Every process is started with posix_spawn (safe while load threads run) and remembered in a
 * registry, so that a test's teardown can SIGKILL exactly the processes this suite started and
 * nothing else. Waits are polls with a deadline: short sleeps between two looks at a condition,
 * never a sleep standing in for the condition.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "procs.h"
#include "xalloc.h"
#include "banned.h"

extern char **environ;

/* ---- registry -------------------------------------------------------------------------------- */

#define MAX_PROCS 256

static pid_t registry[MAX_PROCS];

static void reg_add(pid_t pid)
{
	for (int i = 0; i < MAX_PROCS; i++) {
		if (registry[i] == 0) {
			registry[i] = pid;
			return;
		}
	}
	/* Full: the suite leaks processes; the teardown cannot stop this one. */
	print_error("procs: more than %d live workers\n", MAX_PROCS);
}

static void reg_remove(pid_t pid)
{
	for (int i = 0; i < MAX_PROCS; i++) {
		if (registry[i] == pid)
			registry[i] = 0;
	}
}

void p_stop_all(void)
{
	for (int i = 0; i < MAX_PROCS; i++) {
		pid_t pid = registry[i];
		int st;

		if (pid <= 0)
			continue;
		kill(pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		registry[i] = 0;
	}
}

/* ---- worker processes ------------------------------------------------------------------------ */

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void env_add(char ***env, size_t *n, size_t *cap, const char *s)
{
	if (*n + 2 > *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*env = xrealloc(*env, *cap * sizeof(**env));
	}
	(*env)[(*n)++] = h_strdup(s);
	(*env)[*n] = NULL;
}

/* Our environment without any TERMINUS_* setting (the suite's TERMINUS_TEST_* stay), plus the
 * worker's configuration. */
static char **worker_env(const struct p_worker_opts *o)
{
	char **env = NULL;
	size_t n = 0, cap = 0;
	char buf[1024];
	bool metrics_set = false;

	for (char **e = environ; *e; e++) {
		if (starts_with(*e, "TERMINUS_") && !starts_with(*e, "TERMINUS_TEST_"))
			continue;
		env_add(&env, &n, &cap, *e);
	}
	snprintf(buf, sizeof(buf), "TERMINUS_DATABASE_URL=%s", h_env.db);
	env_add(&env, &n, &cap, buf);
	snprintf(buf, sizeof(buf), "TERMINUS_LOG_LEVEL=%s", o->log_level ? o->log_level : "info");
	env_add(&env, &n, &cap, buf);
	snprintf(buf, sizeof(buf), "TERMINUS_RETRY_BASE_MS=%d",
	         o->retry_base_ms > 0 ? o->retry_base_ms : 50);
	env_add(&env, &n, &cap, buf);
	if (o->concurrency > 0) {
		snprintf(buf, sizeof(buf), "TERMINUS_WORKER_CONCURRENCY=%d", o->concurrency);
		env_add(&env, &n, &cap, buf);
	}
	if (o->max_attempts > 0) {
		snprintf(buf, sizeof(buf), "TERMINUS_MAX_ATTEMPTS=%d", o->max_attempts);
		env_add(&env, &n, &cap, buf);
	}
	for (const char *const *x = o->env; x && *x; x++) {
		env_add(&env, &n, &cap, *x);
		metrics_set = metrics_set || starts_with(*x, "TERMINUS_METRICS_LISTEN=");
	}
	/* Never the default port: a `make run` on this machine may be using it. */
	if (!metrics_set) {
		snprintf(buf, sizeof(buf), "TERMINUS_METRICS_LISTEN=127.0.0.1:%d", p_free_port());
		env_add(&env, &n, &cap, buf);
	}
	return env;
}

static void free_env(char **env)
{
	for (char **e = env; e && *e; e++)
		free(*e);
	free(env);
}

bool p_worker_start(struct p_worker *w, const char *tag, const struct p_worker_opts *o)
{
	static const struct p_worker_opts defaults;
	posix_spawn_file_actions_t fa;
	char exe[512];
	char *argv[2];
	char **env;
	double deadline;
	int rc;

	if (!o)
		o = &defaults;
	memset(w, 0, sizeof(*w));
	w->pid = -1;
	snprintf(w->tag, sizeof(w->tag), "%s", tag);
	snprintf(w->log, sizeof(w->log), "%s.worker-%s", h_env.log, tag);
	snprintf(exe, sizeof(exe), "%s/terminus-worker", h_env.bindir);
	argv[0] = exe;
	argv[1] = NULL;
	env = worker_env(o);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, w->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND,
	                                 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawn(&w->pid, exe, &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free_env(env);
	if (rc != 0) {
		print_error("cannot start %s: %s\n", exe, strerror(rc));
		w->pid = -1;
		return false;
	}
	reg_add(w->pid);
	if (o->no_wait)
		return true;

	deadline = h_now() + 10;
	while (h_now() < deadline) {
		if (!p_worker_alive(w)) {
			print_error("worker %s died at start: %s\n", tag, p_worker_describe(w));
			p_show_log_tail(w->log, 20);
			return false;
		}
		if (p_log_count(w->log, "handler threads") > 0)
			return true;
		h_sleep_ms(10);
	}
	print_error("worker %s did not say it runs within 10 s\n", tag);
	p_show_log_tail(w->log, 20);
	p_worker_kill9(w);
	return false;
}

static void reaped(struct p_worker *w, int st)
{
	reg_remove(w->pid);
	w->wstatus = st;
	w->pid = -1;
}

bool p_worker_alive(struct p_worker *w)
{
	int st;
	pid_t r;

	if (w->pid <= 0)
		return false;
	do
		r = waitpid(w->pid, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == w->pid || r < 0) {
		reaped(w, r < 0 ? 0 : st);
		return false;
	}
	return true;
}

bool p_worker_wait(struct p_worker *w, double timeout_s)
{
	double deadline = h_now() + timeout_s;

	for (;;) {
		if (!p_worker_alive(w))
			return true;
		if (h_now() >= deadline)
			return false;
		h_sleep_ms(5);
	}
}

void p_worker_kill9(struct p_worker *w)
{
	int st;

	if (w->pid <= 0)
		return;
	kill(w->pid, SIGKILL);
	while (waitpid(w->pid, &st, 0) < 0) {
		if (errno != EINTR) {
			st = 0;
			break;
		}
	}
	reaped(w, st);
}

int p_worker_term(struct p_worker *w, double timeout_s, double *took)
{
	double t0 = h_now();

	if (took)
		*took = 0;
	if (w->pid <= 0)
		return -1;
	kill(w->pid, SIGTERM);
	if (!p_worker_wait(w, timeout_s)) {
		if (took)
			*took = h_now() - t0;
		p_worker_kill9(w);
		return -1;
	}
	if (took)
		*took = h_now() - t0;
	return WIFEXITED(w->wstatus) ? WEXITSTATUS(w->wstatus) : -1;
}

const char *p_worker_describe(const struct p_worker *w)
{
	static char buf[64];

	if (w->pid > 0)
		snprintf(buf, sizeof(buf), "running (pid %d)", (int)w->pid);
	else if (WIFEXITED(w->wstatus))
		snprintf(buf, sizeof(buf), "exit %d", WEXITSTATUS(w->wstatus));
	else if (WIFSIGNALED(w->wstatus))
		snprintf(buf, sizeof(buf), "killed by signal %d", WTERMSIG(w->wstatus));
	else
		snprintf(buf, sizeof(buf), "status 0x%x", w->wstatus);
	return buf;
}

/* A TCP port on 127.0.0.1 that was free a moment ago (the kernel chose it). */
int p_free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	H_CHECK(fd >= 0, "socket failed");
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	H_CHECK(port > 0, "no free port");
	return port;
}

/* ---- logs ------------------------------------------------------------------------------------ */

char *p_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t n = 0, cap = 0;

	if (len)
		*len = 0;
	if (!f)
		return NULL;
	for (;;) {
		size_t got;

		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 131072;
			p = xrealloc(p, cap + 1);
		}
		got = fread(p + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	p[n] = '\0';
	if (len)
		*len = n;
	return p;
}

size_t p_log_count(const char *path, const char *needle)
{
	size_t len, count = 0;
	char *text = p_read_file(path, &len);
	char *line = text;

	if (!text)
		return 0;
	while (line < text + len) {
		char *nl = memchr(line, '\n', (size_t)(text + len - line));

		if (nl)
			*nl = '\0';
		if (strstr(line, needle))
			count++;
		if (!nl)
			break;
		line = nl + 1;
	}
	free(text);
	return count;
}

bool p_wait_log(const char *path, const char *needle, double timeout_s)
{
	double deadline = h_now() + timeout_s;

	for (;;) {
		if (p_log_count(path, needle) > 0)
			return true;
		if (h_now() >= deadline)
			return false;
		h_sleep_ms(10);
	}
}

void p_show_log_tail(const char *path, int lines)
{
	size_t len;
	char *text = p_read_file(path, &len);
	char *p;
	int seen = 0;

	if (!text) {
		print_error("(no log at %s)\n", path);
		return;
	}
	p = text + len;
	while (p > text) {
		p--;
		if (*p == '\n' && p + 1 < text + len && ++seen > lines) {
			p++;
			break;
		}
	}
	print_error("---- last %d lines of %s ----\n%s----\n", lines, path, p);
	free(text);
}

static int handled_cmp(const void *a, const void *b)
{
	const struct p_handled *x = a, *y = b;
	int c = strcmp(x->event_id, y->event_id);

	return c ? c : strcmp(x->outcome, y->outcome);
}

struct p_handled *p_handled_read(const char *const *logs, size_t nlogs, size_t *n)
{
	struct p_handled *h = NULL;
	size_t cap = 0;

	*n = 0;
	for (size_t k = 0; k < nlogs; k++) {
		size_t len;
		char *text = p_read_file(logs[k], &len);
		char *line = text;

		while (text && line < text + len) {
			char *nl = memchr(line, '\n', (size_t)(text + len - line));
			json_error_t jerr;
			json_t *j;

			if (nl)
				*nl = '\0';
			/* A SIGKILL may cut the last line short: it then does not parse. */
			if (strstr(line, "\"event handled\"") &&
			    (j = json_loads(line, 0, &jerr)) != NULL) {
				const char *msg = h_jstr(j, "msg");

				if (msg && strcmp(msg, "event handled") == 0) {
					struct p_handled *e;

					if (*n == cap) {
						cap = cap ? cap * 2 : 1024;
						h = xrealloc(h, cap * sizeof(*h));
					}
					e = &h[(*n)++];
					memset(e, 0, sizeof(*e));
					snprintf(e->event_id, sizeof(e->event_id), "%s",
					         h_jstr(j, "event_id") ? h_jstr(j, "event_id")
					                               : "");
					snprintf(e->outcome, sizeof(e->outcome), "%s",
					         h_jstr(j, "outcome") ? h_jstr(j, "outcome") : "");
					snprintf(e->store, sizeof(e->store), "%s",
					         h_jstr(j, "store") ? h_jstr(j, "store") : "");
					snprintf(e->type, sizeof(e->type), "%s",
					         h_jstr(j, "type") ? h_jstr(j, "type") : "");
					e->log = (int)k;
				}
				json_decref(j);
			}
			if (!nl)
				break;
			line = nl + 1;
		}
		free(text);
	}
	if (*n > 1)
		qsort(h, *n, sizeof(*h), handled_cmp);
	return h;
}

size_t p_handled_count(const struct p_handled *h, size_t n, const char *event_id,
                       const char *outcome)
{
	size_t lo = 0, hi = n, count = 0;

	/* Lower bound of event_id. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(h[mid].event_id, event_id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && strcmp(h[lo].event_id, event_id) == 0; lo++) {
		if (!outcome || strcmp(h[lo].outcome, outcome) == 0)
			count++;
	}
	return count;
}

/* ---- waiting --------------------------------------------------------------------------------- */

bool p_wait_until(double timeout_s, long poll_ms, bool (*pred)(void *arg), void *arg)
{
	double deadline = h_now() + timeout_s;

	for (;;) {
		if (pred(arg))
			return true;
		if (h_now() >= deadline)
			return false;
		h_sleep_ms(poll_ms);
	}
}

static bool compare(long long v, const char *op, long long want)
{
	if (strcmp(op, "==") == 0)
		return v == want;
	if (strcmp(op, "!=") == 0)
		return v != want;
	if (strcmp(op, ">=") == 0)
		return v >= want;
	if (strcmp(op, "<=") == 0)
		return v <= want;
	if (strcmp(op, ">") == 0)
		return v > want;
	if (strcmp(op, "<") == 0)
		return v < want;
	H_FAIL("p_wait_db: unknown operator %s", op);
}

#define MAX_PARAMS 16

bool p_wait_db(double timeout_s, long long *last, const char *op, long long want, const char *sql,
               ...)
{
	const char *params[MAX_PARAMS];
	double deadline = h_now() + timeout_s;
	int n = 0;
	const char *p;
	va_list ap;

	va_start(ap, sql);
	while ((p = va_arg(ap, const char *)) != NULL) {
		if (n == MAX_PARAMS) {
			va_end(ap);
			H_FAIL("too many parameters for %s", sql);
		}
		params[n++] = p;
	}
	va_end(ap);
	for (;;) {
		PGresult *res = PQexecParams(h_db(), sql, n, NULL, params, NULL, NULL, 0);
		long long v;

		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		    PQnfields(res) != 1 || PQgetisnull(res, 0, 0)) {
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
			PQclear(res);
			H_FAIL("p_wait_db: %s: not one integer (%s)", sql, msg);
		}
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		if (last)
			*last = v;
		if (compare(v, op, want))
			return true;
		if (h_now() >= deadline)
			return false;
		h_sleep_ms(10);
	}
}

bool p_wait_order_status(const struct h_store *s, const char *order_id, const char *status,
                         double timeout_s, double *seconds)
{
	double t0 = h_now();
	double deadline = t0 + timeout_s;
	struct resp r = {0};
	bool ok = false;

	for (;;) {
		const char *st;

		h_getf(&r, NULL, "/v1/stores/%s/orders/%s", s->slug, order_id);
		st = r.status == 200 ? h_jstr(r.json, "status") : NULL;
		if (st && strcmp(st, status) == 0) {
			ok = true;
			break;
		}
		if (h_now() >= deadline)
			break;
		h_sleep_ms(10);
	}
	resp_release(&r);
	if (seconds)
		*seconds = h_now() - t0;
	return ok;
}

/* ---- API helpers ----------------------------------------------------------------------------- */

void p_must_set_flag(const struct h_store *s, const char *flag, bool enabled, int percent)
{
	struct resp r = {0};
	char body[96];
	long long pct = -1;

	snprintf(body, sizeof(body), "{\"enabled\":%s,\"rollout_percent\":%d}",
	         enabled ? "true" : "false", percent);
	h_sendf(&r, "PUT", s->key, body, "/v1/stores/%s/flags/%s", s->slug, flag);
	H_STATUS(&r, 200);
	H_CHECK(json_is_boolean(h_j(r.json, "enabled")) &&
	                json_boolean_value(h_j(r.json, "enabled")) == enabled &&
	                h_jint(r.json, "rollout_percent", &pct) && pct == percent,
	        "flag %s not %s at %d %% after PUT: %s", flag, enabled ? "on" : "off", percent,
	        r.body);
	resp_release(&r);
}

bool p_cancel(struct resp *r, const struct h_store *s, const char *order_id, const char *key,
              const char *auth, const char *body)
{
	char path[200];
	struct h_req q = {0};

	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/cancel", s->slug, order_id);
	q.method = "POST";
	q.path = path;
	q.idem_key = key;
	q.auth = auth;
	q.body = body;
	return h_request(&q, r);
}

bool p_create_order(const struct h_store *s, const char *product_id, int quantity,
                    char id[H_ID_LEN], char *err, size_t errlen)
{
	struct resp r = {0};
	char body[300];
	const char *got;
	bool ok = false;

	snprintf(body, sizeof(body),
	         "{\"items\":[{\"product_id\":\"%s\",\"quantity\":%d}],"
	         "\"customer_email\":\"load@example.com\"}",
	         product_id, quantity);
	h_sendf(&r, "POST", NULL, body, "/v1/stores/%s/orders", s->slug);
	got = r.status == 201 ? h_jstr(r.json, "id") : NULL;
	if (got && h_is_uuid(got)) {
		snprintf(id, H_ID_LEN, "%s", got);
		ok = true;
	} else {
		snprintf(err, errlen, "create order: %ld %.120s", r.status,
		         r.status ? r.body : r.error);
	}
	resp_release(&r);
	return ok;
}

/* ---- load ------------------------------------------------------------------------------------ */

static void *load_main(void *arg)
{
	struct p_load *l = arg;
	struct resp r = {0};
	size_t i;

	while ((i = atomic_fetch_add(&l->next, 1)) < l->n) {
		struct p_order *o = &l->orders[i];

		o->product = (int)(i % l->nproducts);
		o->quantity = 1 + (int)(i % (size_t)(l->max_quantity > 0 ? l->max_quantity : 1));
		h_unique_key(o->key, sizeof(o->key), "load");
		if (!p_create_order(l->store, l->products[o->product], o->quantity, o->id, o->error,
		                    sizeof(o->error))) {
			atomic_fetch_add(&l->answered, 1);
			continue;
		}
		h_checkout(&r, l->store, o->id, o->key, "tok_ok");
		o->answered_at = h_now();
		o->checkout_status = r.status;
		if (r.status == 0) {
			snprintf(o->error, sizeof(o->error), "checkout: %.180s", r.error);
		} else {
			snprintf(o->body_status, sizeof(o->body_status), "%s",
			         h_jstr(r.json, "status") ? h_jstr(r.json, "status") : "");
			snprintf(o->body_path, sizeof(o->body_path), "%s",
			         h_jstr(r.json, "checkout_path") ? h_jstr(r.json, "checkout_path")
			                                         : "");
			if (r.status != 200 && r.status != 202)
				snprintf(o->error, sizeof(o->error), "checkout: %ld %.150s",
				         r.status, r.body);
		}
		resp_release(&r);
		atomic_fetch_add(&l->answered, 1);
	}
	return NULL;
}

void p_load_start(struct p_load *l)
{
	H_CHECK(l->threads > 0 && l->threads <= 32 && l->nproducts > 0, "bad load");
	l->orders = calloc(l->n, sizeof(*l->orders));
	H_CHECK(l->orders != NULL, "out of memory");
	atomic_init(&l->next, 0);
	atomic_init(&l->answered, 0);
	l->started = 0;
	for (int i = 0; i < l->threads; i++) {
		H_CHECK(pthread_create(&l->tids[i], NULL, load_main, l) == 0, "pthread_create");
		l->started++;
	}
}

size_t p_load_answered(struct p_load *l)
{
	return atomic_load(&l->answered);
}

void p_load_join(struct p_load *l)
{
	for (int i = 0; i < l->started; i++)
		pthread_join(l->tids[i], NULL);
	l->started = 0;
}

void p_load_free(struct p_load *l)
{
	p_load_join(l);
	free(l->orders);
	l->orders = NULL;
}

void p_load_assert_answers(const struct p_load *l, long accept_a, long accept_b)
{
	size_t bad = 0;
	const struct p_order *first = NULL;

	for (size_t i = 0; i < l->n; i++) {
		const struct p_order *o = &l->orders[i];

		if (o->error[0] || (o->checkout_status != accept_a &&
		                    (accept_b == 0 || o->checkout_status != accept_b))) {
			if (!first)
				first = o;
			bad++;
		}
	}
	H_CHECK(bad == 0,
	        "%zu of %zu checkouts failed or got an unexpected status; first: order %s: %ld %s",
	        bad, l->n, first ? first->id : "", first ? first->checkout_status : 0,
	        first ? first->error : "");
}

/* ---- invariants ------------------------------------------------------------------------------ */

/* Fails with an example (the first row of example_sql) when the count query is not zero. */
static void expect_none(const char *what, const char *count_sql, const char *example_sql,
                        const char *store_id)
{
	long long n = h_db_ll(count_sql, store_id, NULL);

	if (n != 0) {
		char *ex = h_db_str(example_sql, store_id, NULL);
		char msg[600];

		snprintf(msg, sizeof(msg), "%s", ex ? ex : "(null)");
		free(ex);
		H_FAIL("%lld %s; e.g. %s", n, what, msg);
	}
}

struct invariant_result *p_invariants(const char *store_id, const char *name, int min_age_s,
                                      size_t *n)
{
	const struct invariant *one = name != NULL ? invariants_find(name) : NULL;
	struct invariant_scope scope = {.min_age_s = min_age_s};
	struct invariant_result *res = NULL;
	struct err e = ERR_INIT;
	struct db_conn *c;
	char *stores = NULL, why[300] = "";
	PGresult *r;
	bool ok = false;

	*n = 0;
	if (name != NULL && one == NULL)
		H_FAIL("no invariant is named %s", name);
	c = db_conn_open(h_env.db, DB_ROLE_OWNER, &e);
	if (c == NULL) {
		snprintf(why, sizeof(why), "cannot connect: %s", e.message);
		goto release_err;
	}
	/* One snapshot for every statement, as terminus-load check takes it. */
	r = db_exec_sql(c,
	                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL "
	                "REPEATABLE READ",
	                &e);
	if (r == NULL) {
		snprintf(why, sizeof(why), "session setup: %s", e.message);
		goto close_conn;
	}
	PQclear(r);
	if (!db_begin(c, NULL, true, &e)) {
		snprintf(why, sizeof(why), "cannot begin: %s", e.message);
		goto close_conn;
	}
	if (store_id != NULL)
		stores = db_array(1, &store_id);
	scope.stores = stores;
	if (one != NULL) {
		res = xcalloc(1, sizeof(*res));
		ok = invariants_run_one(c, one, &scope, res, &e);
		if (ok) {
			*n = 1;
		} else {
			free(res);
			res = NULL;
		}
	} else {
		ok = invariants_run(c, 0, &scope, &res, n, &e);
	}
	if (!ok)
		snprintf(why, sizeof(why), "%s (SQLSTATE %s)", e.message, e.sqlstate);
	db_rollback(c);
	free(stores);
close_conn:
	db_conn_free(c);
release_err:
	err_release(&e);
	if (!ok)
		H_FAIL("the invariants could not run: %s", why);
	return res;
}

size_t p_invariants_violated(const struct invariant_result *r, size_t n, char *why, size_t len)
{
	size_t violated = 0;

	if (why != NULL && len > 0)
		why[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (r[i].violations == 0)
			continue;
		if (violated++ == 0 && why != NULL)
			snprintf(why, len, "%s: %lld %s \"%s\"; e.g. %s", r[i].inv->name,
			         r[i].violations,
			         r[i].violations == 1 ? "row breaks" : "rows break",
			         r[i].inv->holds, json_string_value(json_array_get(r[i].what, 0)));
	}
	return violated;
}

void p_assert_invariants(const struct h_store *s)
{
	size_t n, violated;
	struct invariant_result *r = p_invariants(s->id, NULL, 0, &n);
	char why[1200];

	violated = p_invariants_violated(r, n, why, sizeof(why));
	invariants_results_free(r, n);
	H_CHECK(n == invariants_count(), "%zu of %zu invariants ran", n, invariants_count());
	H_CHECK(violated == 0, "store %s: %zu invariants violated; %s", s->slug, violated, why);
}

void p_assert_all_confirmed(const struct h_store *s, long long norders)
{
	long long n;

	n = h_db_ll("SELECT count(*) FROM orders WHERE store_id = $1", s->id, NULL);
	H_CHECK(n == norders, "the store has %lld orders, want %lld", n, norders);

	expect_none("orders are not confirmed",
	            "SELECT count(*) FROM orders WHERE store_id = $1 AND status <> 'confirmed'",
	            "SELECT id || ' is ' || status FROM orders WHERE store_id = $1 "
	            "AND status <> 'confirmed' ORDER BY seq LIMIT 1",
	            s->id);
	/* Nothing was voided or refunded: no invariant says so, these runs do. */
	expect_none("provider operations other than capture",
	            "SELECT count(*) FROM provider_operations WHERE store_id = $1 "
	            "AND operation <> 'capture'",
	            "SELECT operation || ' of payment ' || payment_id FROM provider_operations "
	            "WHERE store_id = $1 AND operation <> 'capture' LIMIT 1",
	            s->id);
	/* one_effect_per_key allows at most one; every checkout of these runs made one. */
	expect_none(
	        "orders without a PaymentAuthorized event",
	        "SELECT count(*) FROM orders o WHERE o.store_id = $1 AND NOT EXISTS (SELECT 1 "
	        "FROM outbox_events e WHERE e.aggregate_id = o.id "
	        "AND e.type = 'PaymentAuthorized')",
	        "SELECT o.id::text FROM orders o WHERE o.store_id = $1 AND NOT EXISTS (SELECT 1 "
	        "FROM outbox_events e WHERE e.aggregate_id = o.id "
	        "AND e.type = 'PaymentAuthorized') LIMIT 1",
	        s->id);
	/* The orders' last status changes (OrderStatusChanged, for analytics) are queued by the
	 * very transactions that confirmed them: give the worker a moment to finish them. */
	(void)p_wait_db(10, NULL, "==", 0,
	                "SELECT count(*) FROM outbox_events WHERE store_id = $1 "
	                "AND status = 'pending' AND type = 'OrderStatusChanged'",
	                s->id, NULL);
	/* outbox_finished allows dead events; no event of these runs may die. */
	expect_none("events are not done",
	            "SELECT count(*) FROM outbox_events WHERE store_id = $1 AND status <> 'done'",
	            "SELECT type || ' ' || id || ' is ' || status || ' after ' || attempts || "
	            "' attempts: ' || coalesce(last_error, '') FROM outbox_events "
	            "WHERE store_id = $1 AND status <> 'done' LIMIT 1",
	            s->id);
	p_assert_invariants(s);
}

void p_assert_stock(const struct h_store *s, const char *product_id, long long initial,
                    const char *sold_statuses)
{
	char sql[512], why[1200];
	long long sold, db_avail, api_avail;
	struct invariant_result *ledger;
	size_t n, violated;

	snprintf(sql, sizeof(sql),
	         "SELECT coalesce(sum(i.quantity), 0) FROM order_items i JOIN orders o "
	         "ON o.id = i.order_id WHERE i.product_id = $1 AND o.status IN (%s)",
	         sold_statuses);
	sold = h_db_ll(sql, product_id, NULL);
	db_avail =
	        h_db_ll("SELECT available FROM inventory WHERE product_id = $1", product_id, NULL);
	api_avail = h_must_available(s, product_id);
	ledger = p_invariants(s->id, "stock_ledger", 0, &n);
	violated = p_invariants_violated(ledger, n, why, sizeof(why));
	invariants_results_free(ledger, n);
	H_CHECK(db_avail == initial - sold,
	        "product %s: available %lld, want initial %lld - sold %lld = %lld", product_id,
	        db_avail, initial, sold, initial - sold);
	H_CHECK(api_avail == db_avail, "product %s: the API says %lld available, the database %lld",
	        product_id, api_avail, db_avail);
	H_CHECK(violated == 0, "%s", why);
}
