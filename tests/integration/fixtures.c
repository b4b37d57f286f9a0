/*
 * fixtures.c — test data through the public API, database reads for invariants, and the
 * processes some suites start themselves.
 *
 * Fixtures go through HTTP, never through SQL: a test's setup exercises the same paths a
 * client would, and a setup failure is itself a finding. The database is read (and only the
 * row-level-security test writes to it) to check what the API cannot show: counts of payments,
 * events and movements, i.e. that an effect happened exactly once.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "fixtures.h"
#include "xalloc.h"
#include "banned.h"

static atomic_uint unique_counter;

void h_unique_slug(char *buf, size_t n, const char *prefix)
{
	unsigned c = atomic_fetch_add(&unique_counter, 1);

	snprintf(buf, n, "%s-%x-%u", prefix, (unsigned)getpid() & 0xfffff, c);
}

void h_unique_key(char *buf, size_t n, const char *prefix)
{
	unsigned c = atomic_fetch_add(&unique_counter, 1);
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(buf, n, "%s-%x-%lx-%u", prefix, (unsigned)getpid(), (unsigned long)ts.tv_nsec, c);
}

/* POSTs a JSON value (stolen) and returns the response in r. */
static void post_json(struct resp *r, const char *path, const char *auth, json_t *body)
{
	char *text = xjson_dumps(xjson(body), JSON_COMPACT);
	h_send(r, "POST", path, auth, text);
	free(text);
	json_decref(body);
}

void h_must_create_store(struct h_store *s, const char *prefix)
{
	struct resp r = {0};
	char name[80];

	memset(s, 0, sizeof(*s));
	h_unique_slug(s->slug, sizeof(s->slug), prefix);
	snprintf(name, sizeof(name), "Test store %s", s->slug);
	post_json(&r, "/v1/stores", h_env.operator_key,
	          json_pack("{s:s,s:s,s:s}", "slug", s->slug, "name", name, "currency", "USD"));
	H_STATUS(&r, 201);
	H_JSTR(r.json, "store.slug", s->slug);
	H_CHECK(h_jstr(r.json, "store.id") && h_jstr(r.json, "admin_key"),
	        "store creation without store.id or admin_key: %s", r.body);
	snprintf(s->id, sizeof(s->id), "%s", h_jstr(r.json, "store.id"));
	snprintf(s->key, sizeof(s->key), "%s", h_jstr(r.json, "admin_key"));
	snprintf(s->currency, sizeof(s->currency), "USD");
	resp_release(&r);
}

void h_must_create_product(const struct h_store *s, long long price_cents, long long inventory,
                           char id[H_ID_LEN])
{
	struct resp r = {0};
	char path[128];
	char sku[64];

	h_unique_key(sku, sizeof(sku), "sku");
	snprintf(path, sizeof(path), "/v1/stores/%s/products", s->slug);
	post_json(&r, path, s->key,
	          json_pack("{s:s,s:s,s:s,s:I,s:I}", "sku", sku, "name", "Test product",
	                    "description", "made by a test", "price_cents", (json_int_t)price_cents,
	                    "inventory", (json_int_t)inventory));
	H_STATUS(&r, 201);
	H_CHECK(h_jstr(r.json, "id"), "product without id: %s", r.body);
	snprintf(id, H_ID_LEN, "%s", h_jstr(r.json, "id"));
	resp_release(&r);
}

void h_must_create_order_lines(const struct h_store *s, size_t n, const char *const *product_ids,
                               const int *quantities, char id[H_ID_LEN])
{
	json_t *items = json_array();
	struct resp r = {0};
	char path[128];
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(items, json_pack("{s:s,s:i}", "product_id", product_ids[i],
		                                       "quantity", quantities[i]));
	snprintf(path, sizeof(path), "/v1/stores/%s/orders", s->slug);
	post_json(&r, path, NULL,
	          json_pack("{s:o,s:s}", "items", items, "customer_email", "buyer@example.com"));
	H_STATUS(&r, 201);
	H_JSTR(r.json, "status", "pending");
	H_CHECK(h_jstr(r.json, "id"), "order without id: %s", r.body);
	snprintf(id, H_ID_LEN, "%s", h_jstr(r.json, "id"));
	resp_release(&r);
}

void h_must_create_order(const struct h_store *s, const char *product_id, int quantity,
                         char id[H_ID_LEN])
{
	h_must_create_order_lines(s, 1, &product_id, &quantity, id);
}

void h_must_set_flag(const struct h_store *s, const char *flag, bool enabled)
{
	struct resp r = {0};

	h_sendf(&r, "PUT", s->key,
	        enabled ? "{\"enabled\":true,\"rollout_percent\":100}"
	                : "{\"enabled\":false,\"rollout_percent\":100}",
	        "/v1/stores/%s/flags/%s", s->slug, flag);
	H_STATUS(&r, 200);
	H_CHECK(json_is_boolean(h_j(r.json, "enabled")) &&
	                json_boolean_value(h_j(r.json, "enabled")) == enabled,
	        "flag %s not %s after PUT: %s", flag, enabled ? "on" : "off", r.body);
	resp_release(&r);
}

long long h_must_available(const struct h_store *s, const char *product_id)
{
	struct resp r = {0};
	long long v = -1;

	h_getf(&r, NULL, "/v1/stores/%s/products/%s", s->slug, product_id);
	H_STATUS(&r, 200);
	H_CHECK(h_jint(r.json, "available", &v), "product without integer available: %s", r.body);
	resp_release(&r);
	return v;
}

json_t *h_must_get_order(const struct h_store *s, const char *order_id)
{
	struct resp r = {0};
	json_t *o;

	h_getf(&r, NULL, "/v1/stores/%s/orders/%s", s->slug, order_id);
	H_STATUS(&r, 200);
	H_CHECK(json_is_object(r.json), "order is not a JSON object");
	o = json_incref(r.json);
	resp_release(&r);
	return o;
}

bool h_checkout(struct resp *r, const struct h_store *s, const char *order_id, const char *key,
                const char *token)
{
	return h_checkout_at(r, NULL, s, order_id, key, token);
}

bool h_checkout_at(struct resp *r, const char *base, const struct h_store *s, const char *order_id,
                   const char *key, const char *token)
{
	return h_checkout_from(r, base, NULL, s, order_id, key, token);
}

bool h_checkout_from(struct resp *r, const char *base, const char *source, const struct h_store *s,
                     const char *order_id, const char *key, const char *token)
{
	char path[160];
	char body[300];
	struct h_req q = {0};

	snprintf(path, sizeof(path), "/v1/stores/%s/orders/%s/checkout", s->slug, order_id);
	snprintf(body, sizeof(body), "{\"payment_token\":\"%s\"}", token);
	q.method = "POST";
	q.base = base;
	q.path = path;
	q.idem_key = key;
	q.body = body;
	q.source = source;
	return h_request(&q, r);
}

/* ---- database -------------------------------------------------------------------------------- */

static PGconn *db_conn;

/* Server notices (a ROLLBACK outside a transaction, say) are not test output. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

PGconn *h_db(void)
{
	if (!db_conn) {
		db_conn = PQconnectdb(h_env.db);
		PQsetNoticeProcessor(db_conn, quiet, NULL);
	} else if (PQstatus(db_conn) != CONNECTION_OK) {
		PQreset(db_conn);
	}
	if (PQstatus(db_conn) != CONNECTION_OK)
		H_FAIL("cannot connect to the test database: %s", PQerrorMessage(db_conn));
	return db_conn;
}

void h_db_close(void)
{
	if (db_conn)
		PQfinish(db_conn);
	db_conn = NULL;
}

#define MAX_PARAMS 16

/* Runs sql with the NULL-terminated text parameters in ap; retries once over a new connection
 * when the old one was lost (the resilience suite restarts the server under it). */
static PGresult *db_run(const char *sql, va_list ap)
{
	const char *params[MAX_PARAMS];
	int n = 0;
	const char *p;
	PGresult *res;
	int attempt;

	while ((p = va_arg(ap, const char *)) != NULL) {
		if (n == MAX_PARAMS)
			H_FAIL("too many parameters for %s", sql);
		params[n++] = p;
	}
	for (attempt = 0;; attempt++) {
		PGconn *c = h_db();
		ExecStatusType st;

		res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
		st = PQresultStatus(res);
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
			return res;
		if (attempt == 0 && PQstatus(c) != CONNECTION_OK) {
			PQclear(res);
			continue;
		}
		print_error("SQL: %s\n", sql);
		{
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
			PQclear(res);
			H_FAIL("query failed: %s", msg);
		}
	}
}

static PGresult *db_one(const char *sql, va_list ap)
{
	PGresult *res = db_run(sql, ap);

	if (PQntuples(res) != 1 || PQnfields(res) != 1) {
		int rows = PQntuples(res);
		int cols = PQnfields(res);

		PQclear(res);
		H_FAIL("expected one value from %s, got %d rows x %d columns", sql, rows, cols);
	}
	return res;
}

long long h_db_ll(const char *sql, ...)
{
	PGresult *res;
	long long v;
	char *end;
	va_list ap;

	va_start(ap, sql);
	res = db_one(sql, ap);
	va_end(ap);
	if (PQgetisnull(res, 0, 0)) {
		PQclear(res);
		H_FAIL("NULL from %s", sql);
	}
	v = strtoll(PQgetvalue(res, 0, 0), &end, 10);
	if (*end) {
		char got[64];

		snprintf(got, sizeof(got), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		H_FAIL("not an integer from %s: %s", sql, got);
	}
	PQclear(res);
	return v;
}

char *h_db_str(const char *sql, ...)
{
	PGresult *res;
	char *v;
	va_list ap;

	va_start(ap, sql);
	res = db_one(sql, ap);
	va_end(ap);
	v = PQgetisnull(res, 0, 0) ? NULL : h_strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

void h_db_exec(const char *sql, ...)
{
	va_list ap;

	va_start(ap, sql);
	PQclear(db_run(sql, ap));
	va_end(ap);
}

const char *h_db_name(void)
{
	static char name[128];
	PQconninfoOption *opts;
	PQconninfoOption *o;

	if (name[0])
		return name;
	opts = PQconninfoParse(h_env.db, NULL);
	for (o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "dbname") == 0 && o->val)
			snprintf(name, sizeof(name), "%s", o->val);
	PQconninfoFree(opts);
	if (!name[0])
		H_FAIL("no dbname in TERMINUS_TEST_DB: %s", h_env.db);
	return name;
}

/* ---- processes ------------------------------------------------------------------------------- */

/* A port nobody listens on right now (the kernel's pick for an ephemeral bind). */
static int free_port(void)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int port = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* environ without the variables we set, plus ours; every string is owned. */
static char **child_env(const char *const *overrides)
{
	size_t n = 0;
	size_t k = 0;
	char **env;
	size_t i;

	while (environ[n])
		n++;
	for (i = 0; overrides[i]; i++)
		;
	env = xcalloc(n + i + 1, sizeof(*env));
	for (i = 0; i < n; i++) {
		bool replaced = false;

		for (const char *const *o = overrides; *o; o++) {
			size_t nl = (size_t)(strchr(*o, '=') - *o) + 1;

			if (strncmp(environ[i], *o, nl) == 0)
				replaced = true;
		}
		if (!replaced)
			env[k++] = h_strdup(environ[i]);
	}
	for (const char *const *o = overrides; *o; o++)
		env[k++] = h_strdup(*o);
	env[k] = NULL;
	return env;
}

static void free_env(char **env)
{
	for (char **e = env; *e; e++)
		free(*e);
	free(env);
}

/* Spawns argv with env, stdout and stderr appended to log (or /dev/null). */
static pid_t spawn(char *const argv[], char **env, const char *log)
{
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log ? log : "/dev/null",
	                                 O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, env) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

/* True when GET base+path answers 200. */
static bool answers_200(const char *base, const char *path)
{
	struct h_req q = {.path = path, .base = base, .timeout_ms = 2000};
	struct resp r = {0};
	bool ok = h_request(&q, &r) && r.status == 200;

	resp_release(&r);
	return ok;
}

/* The APIs h_api_start_on started and h_proc_stop has not stopped yet, so that the suite's end
 * (h_api_stop_all) stops those a failed test left running. Copies, not pointers: the test's own
 * struct h_proc may be gone by then. */
#define MAX_APIS 16

static struct h_proc live_apis[MAX_APIS];

static bool api_add(const struct h_proc *p)
{
	for (int i = 0; i < MAX_APIS; i++) {
		if (live_apis[i].pid <= 0) {
			live_apis[i] = *p;
			return true;
		}
	}
	print_error("fixtures: more than %d live terminus-api processes\n", MAX_APIS);
	return false;
}

static void api_remove(pid_t pid)
{
	for (int i = 0; i < MAX_APIS; i++) {
		if (live_apis[i].pid == pid)
			live_apis[i].pid = 0;
	}
}

bool h_api_stop_all(void)
{
	bool ok = true;

	for (int i = 0; i < MAX_APIS; i++) {
		struct h_proc p = live_apis[i];
		int st;

		if (p.pid <= 0)
			continue;
		st = h_proc_stop(&p, 15);
		if (st != 0) {
			print_error("a terminus-api this suite started did not exit 0 on SIGTERM "
			            "(status %d, log %s)\n",
			            st, p.log);
			ok = false;
		}
	}
	return ok;
}

bool h_api_start_on(struct h_proc *p, const char *tag, const char *db, const char *wait_path)
{
	char exe[512];
	int attempt;

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	snprintf(exe, sizeof(exe), "%s/terminus-api", h_env.bindir);
	snprintf(p->log, sizeof(p->log), "%s.%s", h_env.log, tag);
	for (attempt = 0; attempt < 3; attempt++) {
		char listen[64];
		char url[1024];
		char key[512];
		const char *over[] = {listen, url, key, "TERMINUS_LOG_LEVEL=info", NULL};
		char *argv[] = {exe, (char *)(uintptr_t) "serve", NULL};
		char **env;
		double deadline;
		int status;

		p->port = free_port();
		snprintf(p->base, sizeof(p->base), "http://127.0.0.1:%d", p->port);
		snprintf(listen, sizeof(listen), "TERMINUS_LISTEN=127.0.0.1:%d", p->port);
		snprintf(url, sizeof(url), "TERMINUS_DATABASE_URL=%s", db);
		snprintf(key, sizeof(key), "TERMINUS_OPERATOR_KEY=%s", h_env.operator_key);
		env = child_env(over);
		p->pid = spawn(argv, env, p->log);
		free_env(env);
		if (p->pid < 0)
			return false;
		if (!api_add(p)) {
			h_proc_stop(p, 5);
			return false;
		}
		deadline = h_now() + 30;
		while (h_now() < deadline) {
			if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
				api_remove(p->pid);
				p->pid = -1; /* died: most likely the port was taken; try another */
				break;
			}
			if (answers_200(p->base, wait_path))
				return true;
			h_sleep_ms(50);
		}
		if (p->pid > 0) {
			h_proc_stop(p, 5);
			return false;
		}
	}
	return false;
}

bool h_api_start(struct h_proc *p, const char *tag)
{
	return h_api_start_on(p, tag, h_env.db, "/readyz");
}

pid_t h_api_spawn(const char *subcommand, const char *db, const char *tag)
{
	char exe[512];
	char url[1024];
	char log[512];
	const char *over[] = {url, NULL};
	char *argv[] = {exe, (char *)(uintptr_t)subcommand, NULL};
	char **env;
	pid_t pid;

	snprintf(exe, sizeof(exe), "%s/terminus-api", h_env.bindir);
	snprintf(url, sizeof(url), "TERMINUS_DATABASE_URL=%s", db);
	snprintf(log, sizeof(log), "%s.%s", h_env.log, tag);
	env = child_env(over);
	pid = spawn(argv, env, log);
	free_env(env);
	return pid;
}

int h_wait_exit(pid_t pid)
{
	int status;

	if (pid <= 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void h_db_create(const char *name, char *conninfo, size_t n)
{
	PQconninfoOption *opts;
	PQconninfoOption *o;
	char *quoted;
	char sql[256];
	size_t off = 0;

	quoted = PQescapeIdentifier(h_db(), name, strlen(name));
	H_CHECK(quoted != NULL, "cannot quote %s", name);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", quoted);
	PQfreemem(quoted);
	h_db_exec(sql, NULL);

	/* The suite's conninfo with another dbname. */
	opts = PQconninfoParse(h_env.db, NULL);
	H_CHECK(opts != NULL, "cannot parse TERMINUS_TEST_DB");
	conninfo[0] = '\0';
	for (o = opts; o->keyword; o++) {
		const char *v = strcmp(o->keyword, "dbname") == 0 ? name : o->val;

		if (v && *v && off < n)
			off += (size_t)snprintf(conninfo + off, n - off, "%s%s='%s'",
			                        off ? " " : "", o->keyword, v);
	}
	PQconninfoFree(opts);
	H_CHECK(off < n, "conninfo too long");
}

int h_proc_stop(struct h_proc *p, double timeout_s)
{
	double deadline = h_now() + timeout_s;
	int status = 0;

	if (p->pid <= 0)
		return -1;
	/* Whatever happens next, the process is reaped (or not ours): h_api_stop_all must not
	 * signal its pid again, which the kernel may give to another process. */
	api_remove(p->pid);
	kill(p->pid, SIGTERM);
	for (;;) {
		pid_t w = waitpid(p->pid, &status, WNOHANG);

		if (w == p->pid)
			break;
		if (w < 0 && errno != EINTR) {
			p->pid = -1;
			return -1;
		}
		if (h_now() > deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			p->pid = -1;
			return -1;
		}
		h_sleep_ms(20);
	}
	p->pid = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool h_pg(const char *action)
{
	char script[512];
	char dbname[200];
	const char *over[] = {dbname, NULL};
	char *argv[4];
	char **env;
	pid_t pid;
	int status;

	snprintf(script, sizeof(script), "%s/scripts/pg.sh", h_env.root);
	snprintf(dbname, sizeof(dbname), "PGDATABASE_NAME=%s", h_db_name());
	argv[0] = script;
	argv[1] = (char *)(uintptr_t)action;
	argv[2] = (char *)(uintptr_t)h_env.pgdir;
	argv[3] = NULL;
	env = child_env(over);
	pid = spawn(argv, env, NULL);
	free_env(env);
	if (pid < 0)
		return false;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
