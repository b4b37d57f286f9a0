/*
 * fleet.c — starting, killing and stopping our own processes; pg_ctl in the background
 * (see fleet.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "fleet.h"
#include "http.h"
#include "util.h"
#include "xalloc.h"
#include "banned.h"

extern char **environ;

#define FLEET_MAX 64

void fleet_init(struct fleet *f)
{
	memset(f, 0, sizeof(*f));
	f->p = xcalloc(FLEET_MAX, sizeof(*f->p));
}

void fleet_release(struct fleet *f)
{
	free(f->p);
	f->p = NULL;
	f->n = 0;
}

struct proc *fleet_add(struct fleet *f, enum proc_kind kind)
{
	struct proc *p;
	int same = 0;

	if (f->n == FLEET_MAX)
		abort(); /* more processes than any scenario asks for */
	for (int i = 0; i < f->n; i++)
		same += f->p[i].kind == kind;
	p = &f->p[f->n++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->pid = -1;
	p->last_status = -1;
	snprintf(p->name, sizeof(p->name), "%s-%d", kind == PROC_API ? "api" : "worker", same + 1);
	snprintf(p->log, sizeof(p->log), "%s/%s.log", f->logdir, p->name);
	return p;
}

/* A port nobody listens on right now (the kernel's choice); 0 when none could be had. */
static int free_port(void)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = 0;

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

/* A NULL-terminated, writable copy of argv for execve (which wants char *const[]). */
static char **argv_dup(const char *const *src)
{
	size_t n = 0;
	char **v;

	while (src[n])
		n++;
	v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = xstrdup(src[i]);
	return v;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The TERMINUS_* settings a run hands on to the processes it starts: load shedding, the client
 * and key rate limits and the slow-client limits, which a run (the test suite, make bench, a
 * test of its own) may loosen, lift or tighten. TERMINUS_STORE_RATE_LIMIT and _BURST are not
 * among them: that limit is gone, and an API given either refuses to start. */
static bool passes(const char *e)
{
	static const char *const names[] = {
	        "TERMINUS_QUEUE_TARGET_MS=",
	        "TERMINUS_CLIENT_RATE_LIMIT=",
	        "TERMINUS_CLIENT_BURST=",
	        "TERMINUS_KEY_RATE_LIMIT=",
	        "TERMINUS_KEY_BURST=",
	        "TERMINUS_HTTP_REQUEST_TIMEOUT_MS=",
	        "TERMINUS_HTTP_CONNECTIONS_PER_IP=",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (starts_with(e, names[i]))
			return true;
	}
	return false;
}

/* Our environment without any TERMINUS_* setting but those that pass, plus the process's
 * configuration. */
static char **child_env(const struct fleet *f, const struct proc *p)
{
	size_t n = 0, cap = 16;
	char **env;

	for (char **e = environ; *e; e++)
		cap++;
	env = xcalloc(cap, sizeof(*env));
	for (char **e = environ; *e; e++) {
		if (!starts_with(*e, "TERMINUS_") || passes(*e))
			env[n++] = xstrdup(*e);
	}
	env[n++] = xasprintf("TERMINUS_DATABASE_URL=%s", f->db);
	env[n++] = xasprintf("TERMINUS_LOG_LEVEL=warn");
	env[n++] = xasprintf("TERMINUS_RETRY_BASE_MS=%d",
	                     f->retry_base_ms > 0 ? f->retry_base_ms : 100);
	if (p->kind == PROC_API) {
		env[n++] = xasprintf("TERMINUS_LISTEN=127.0.0.1:%d", p->port);
		env[n++] = xasprintf("TERMINUS_OPERATOR_KEY=%s", f->operator_key);
	} else {
		env[n++] = xasprintf("TERMINUS_METRICS_LISTEN=127.0.0.1:%d", p->port);
	}
	env[n] = NULL;
	return env;
}

static void free_env(char **env)
{
	for (char **e = env; *e; e++)
		free(*e);
	free(env);
}

bool fleet_start(struct fleet *f, struct proc *p)
{
	char *exe = xasprintf("%s/%s", f->bindir,
	                      p->kind == PROC_API ? "terminus-api" : "terminus-worker");
	const char *args[3] = {exe, p->kind == PROC_API ? "serve" : NULL, NULL};
	pid_t parent = getpid(), pid;
	char **env, **argv = argv_dup(args);

	if (p->port == 0) {
		p->port = free_port();
		snprintf(p->base, sizeof(p->base), "http://127.0.0.1:%d", p->port);
	}
	env = child_env(f, p);
	pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls until execve. */
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			dup2(fd, 0);
		execve(exe, argv, env);
		_exit(127);
	}
	free_env(env);
	free_env(argv);
	if (pid < 0) {
		fprintf(stderr, "terminus-load: cannot start %s: %s\n", exe, strerror(errno));
		free(exe);
		return false;
	}
	free(exe);
	p->pid = pid;
	p->starts++;
	return true;
}

static void reaped(struct proc *p, int st)
{
	p->last_status = st;
	p->pid = -1;
}

void fleet_kill9(struct proc *p)
{
	int st = 0;

	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
		;
	p->kills++;
	reaped(p, st);
}

void fleet_reap(struct fleet *f)
{
	for (int i = 0; i < f->n; i++) {
		struct proc *p = &f->p[i];
		int st;

		if (p->pid > 0 && waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->unexpected++;
			fprintf(stderr,
			        "\nterminus-load: %s (pid %d) exited on its own (%s %d); see %s\n",
			        p->name, (int)p->pid, WIFEXITED(st) ? "status" : "signal",
			        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), p->log);
			reaped(p, st);
		}
	}
}

bool fleet_wait_ready(const struct proc *p, double timeout_s)
{
	double deadline = mono_now() + timeout_s;

	while (mono_now() < deadline) {
		struct http_answer a;
		int st;

		if (p->pid <= 0 || waitpid(p->pid, &st, WNOHANG) == p->pid)
			return false;
		http_sync(p->base, "GET", "/readyz", NULL, NULL, 2000, &a);
		if (a.status == 200) {
			http_answer_release(&a);
			return true;
		}
		http_answer_release(&a);
		usleep(50 * 1000); /* between two polls, with a deadline */
	}
	return false;
}

void fleet_stop_all(struct fleet *f, double timeout_s)
{
	double deadline = mono_now() + timeout_s;
	bool left = true;

	for (int i = 0; i < f->n; i++) {
		if (f->p[i].pid > 0)
			kill(f->p[i].pid, SIGTERM);
	}
	while (left && mono_now() < deadline) {
		left = false;
		for (int i = 0; i < f->n; i++) {
			struct proc *p = &f->p[i];
			int st;

			if (p->pid <= 0)
				continue;
			if (waitpid(p->pid, &st, WNOHANG) == p->pid)
				reaped(p, st);
			else
				left = true;
		}
		if (left)
			usleep(20 * 1000);
	}
	for (int i = 0; i < f->n; i++) {
		if (f->p[i].pid > 0) {
			fprintf(stderr, "terminus-load: %s did not stop within %.0f s of SIGTERM\n",
			        f->p[i].name, timeout_s);
			fleet_kill9(&f->p[i]);
			f->p[i].kills--; /* not a chaos kill */
		}
	}
}

static json_t *exit_json(int st)
{
	if (st == -1)
		return json_null();
	if (WIFEXITED(st))
		return json_sprintf("exit %d", WEXITSTATUS(st));
	return json_sprintf("signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

json_t *fleet_json(const struct fleet *f)
{
	json_t *a = json_array();

	for (int i = 0; i < f->n; i++) {
		const struct proc *p = &f->p[i];

		json_array_append_new(a, json_pack("{s:s,s:i,s:i,s:i,s:o,s:s}", "name", p->name,
		                                   "starts", p->starts, "kills", p->kills,
		                                   "unexpected_exits", p->unexpected, "last_exit",
		                                   exit_json(p->last_status), "log", p->log));
	}
	return a;
}

/* ---- PostgreSQL ---------------------------------------------------------------------------- */

void pgctl_init(struct pgctl *pg, const char *dir)
{
	memset(pg, 0, sizeof(*pg));
	pg->dir = dir;
	pg->child = -1;
}

static bool pgctl_spawn(struct pgctl *pg, bool stop)
{
	char *data = xasprintf("%s/data", pg->dir), *log = xasprintf("%s/postgres.log", pg->dir);
	char *out = xasprintf("%s/pg_ctl.out", pg->dir);
	const char *bin = getenv("PGBIN");
	char *exe = xasprintf("%s/pg_ctl", bin && *bin ? bin : "/usr/lib/postgresql/15/bin");
	const char *stop_args[] = {exe,  "-D", data, "-m",   "immediate",
	                           "-w", "-t", "60", "stop", NULL};
	const char *start_args[] = {exe, "-D", data, "-l", log, "-w", "-t", "60", "start", NULL};
	char **argv = argv_dup(stop ? stop_args : start_args);
	struct stat sb;
	uid_t uid = 0;
	gid_t gid = 0;
	pid_t pid;

	if (stat(data, &sb) == 0 && geteuid() == 0 && sb.st_uid != 0) {
		/* initdb refuses root: the cluster belongs to someone else; act as them. */
		struct passwd *pw = getpwuid(sb.st_uid);

		uid = sb.st_uid;
		gid = pw ? pw->pw_gid : sb.st_gid;
	}
	pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (uid != 0 && (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0))
			_exit(126);
		if (chdir("/") != 0)
			_exit(126);
		execv(exe, argv);
		_exit(127);
	}
	free_env(argv);
	free(data);
	free(log);
	free(out);
	free(exe);
	if (pid < 0) {
		fprintf(stderr, "terminus-load: cannot run pg_ctl: %s\n", strerror(errno));
		return false;
	}
	pg->child = pid;
	pg->stopping = stop;
	return true;
}

bool pgctl_stop_async(struct pgctl *pg)
{
	return pgctl_idle(pg) && pgctl_spawn(pg, true);
}

bool pgctl_start_async(struct pgctl *pg)
{
	return pgctl_idle(pg) && pgctl_spawn(pg, false);
}

static void pgctl_done(struct pgctl *pg, int st)
{
	bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;

	pg->child = -1;
	if (pg->stopping) {
		pg->down = true; /* whatever pg_ctl said, we mean it to be down */
		pg->stops += ok;
	} else if (ok) {
		pg->down = false;
		pg->starts++;
	}
	if (!ok) {
		pg->failures++;
		fprintf(stderr, "\nterminus-load: pg_ctl %s failed (%s %d); see %s/pg_ctl.out\n",
		        pg->stopping ? "stop" : "start", WIFEXITED(st) ? "status" : "signal",
		        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), pg->dir);
	}
}

bool pgctl_idle(struct pgctl *pg)
{
	int st;

	if (pg->child <= 0)
		return true;
	if (waitpid(pg->child, &st, WNOHANG) != pg->child)
		return false;
	pgctl_done(pg, st);
	return true;
}

static void pgctl_wait(struct pgctl *pg)
{
	int st = 0;

	if (pg->child <= 0)
		return;
	while (waitpid(pg->child, &st, 0) < 0 && errno == EINTR)
		;
	pgctl_done(pg, st);
}

bool pgctl_ensure_up(struct pgctl *pg)
{
	pgctl_wait(pg);
	for (int attempt = 0; pg->down && attempt < 3; attempt++) {
		if (!pgctl_spawn(pg, false))
			break;
		pgctl_wait(pg);
	}
	return !pg->down;
}
