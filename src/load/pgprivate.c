/*
 * pgprivate.c — the run's own PostgreSQL cluster (see pgprivate.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgprivate.h"
#include "util.h"
#include "banned.h"

extern char **environ;

/* Where the PostgreSQL 15 programs are: $PGBIN, as scripts/pg.sh and fleet.c have it. */
static const char *pgbin(void)
{
	const char *b = getenv("PGBIN");

	return b && *b ? b : "/usr/lib/postgresql/15/bin";
}

/* Runs argv to its end, output appended to log, as uid/gid when uid is not 0, with env (NULL:
 * ours). True when it exited 0. */
static bool run_wait(const char *const *argv, uid_t uid, gid_t gid, const char *log,
                     char *const *env)
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (uid != 0 && (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0))
			_exit(126);
		if (chdir("/") != 0)
			_exit(126);
		/* execve wants char *const[]: the strings are not written to. */
		execve(argv[0], (char *const *)(uintptr_t)argv, env ? env : environ);
		_exit(127);
	}
	if (pid < 0)
		return false;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* initdb, the server's settings (those of scripts/pg.sh) and pg_ctl start. */
static bool make_cluster(struct pgprivate *pg, uid_t uid, gid_t gid, const char *owner, int port)
{
	char data[300], log[300], conf[320], initlog[300];
	char initdb[512], pg_ctl[512];
	FILE *f;

	snprintf(data, sizeof(data), "%s/data", pg->dir);
	snprintf(log, sizeof(log), "%s/postgres.log", pg->dir);
	snprintf(initlog, sizeof(initlog), "%s/initdb.log", pg->dir);
	snprintf(initdb, sizeof(initdb), "%s/initdb", pgbin());
	snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", pgbin());
	{
		const char *argv[] = {initdb, "-D",    data, "-U",   owner,
		                      "-A",   "trust", "-E", "UTF8", "--no-instructions",
		                      NULL};

		if (!run_wait(argv, uid, gid, initlog, NULL)) {
			fprintf(stderr,
			        "terminus-load: initdb failed (is PostgreSQL 15 in %s? PGBIN "
			        "names another directory); see %s\n",
			        pgbin(), initlog);
			return false;
		}
	}
	snprintf(conf, sizeof(conf), "%s/postgresql.conf", data);
	f = fopen(conf, "a");
	if (!f) {
		fprintf(stderr, "terminus-load: %s: %s\n", conf, strerror(errno));
		return false;
	}
	fprintf(f,
	        "listen_addresses = ''\nunix_socket_directories = '%s'\nport = %d\n"
	        "max_connections = 200\nshared_buffers = 256MB\nfsync = on\n"
	        "synchronous_commit = on\nlog_min_messages = warning\nlogging_collector = off\n",
	        pg->dir, port);
	fclose(f);
	{
		const char *argv[] = {pg_ctl, "-D", data, "-l",    log,
		                      "-w",   "-t", "60", "start", NULL};

		if (!run_wait(argv, uid, gid, initlog, NULL)) {
			fprintf(stderr, "terminus-load: pg_ctl start failed; see %s and %s\n",
			        initlog, log);
			return false;
		}
	}
	pg->running = true;
	return true;
}

/* terminus-api migrate against the new cluster. */
static bool migrate(struct pgprivate *pg, const char *bindir)
{
	char exe[512], log[300];
	char *env[] = {xasprintf("TERMINUS_DATABASE_URL=%s", pg->url),
	               xasprintf("PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin"),
	               xasprintf("TERMINUS_LOG_LEVEL=warn"), NULL};
	const char *argv[] = {exe, "migrate", NULL};
	bool ok;

	snprintf(exe, sizeof(exe), "%s/terminus-api", bindir);
	snprintf(log, sizeof(log), "%s/migrate.log", pg->dir);
	ok = run_wait(argv, 0, 0, log, env);
	if (!ok)
		fprintf(stderr, "terminus-load: %s migrate failed; see %s\n", exe, log);
	for (int i = 0; env[i]; i++)
		free(env[i]);
	return ok;
}

bool pgprivate_start(struct pgprivate *pg, const char *bindir)
{
	const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	uid_t uid = 0;
	gid_t gid = 0;
	const char *owner;
	struct passwd *pw;
	int port = 30000 + (int)(mono_now() * 1000) % 20000; /* names the socket file only */

	memset(pg, 0, sizeof(*pg));
	snprintf(pg->dir, sizeof(pg->dir), "%s/terminus-load-pg.XXXXXX", tmp);
	if (!mkdtemp(pg->dir)) {
		fprintf(stderr, "terminus-load: mkdtemp %s: %s\n", pg->dir, strerror(errno));
		return false;
	}
	pg->made = true;
	if (geteuid() == 0) {
		pw = getpwnam("postgres");
		if (!pw) {
			fprintf(stderr, "terminus-load: as root, a private cluster needs the "
			                "'postgres' user (initdb refuses root)\n");
			pgprivate_stop(pg);
			return false;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		owner = "postgres";
		if (chown(pg->dir, uid, gid) != 0 || chmod(pg->dir, 0755) != 0) {
			fprintf(stderr, "terminus-load: chown %s: %s\n", pg->dir, strerror(errno));
			pgprivate_stop(pg);
			return false;
		}
	} else {
		pw = getpwuid(geteuid());
		owner = pw ? pw->pw_name : "postgres";
	}
	fprintf(stderr,
	        "terminus-load: no --db and no TERMINUS_DATABASE_URL: starting a private "
	        "PostgreSQL cluster in %s (removed at the end)\n",
	        pg->dir);
	snprintf(pg->url, sizeof(pg->url), "host=%s port=%d user=%s dbname=postgres", pg->dir, port,
	         owner);
	if (!make_cluster(pg, uid, gid, owner, port) || !migrate(pg, bindir)) {
		pgprivate_stop(pg);
		return false;
	}
	return true;
}

void pgprivate_stop(struct pgprivate *pg)
{
	if (pg->running) {
		char data[300], pg_ctl[512], out[300];
		const char *argv[] = {pg_ctl, "-D", data, "-m",   "fast",
		                      "-w",   "-t", "60", "stop", NULL};
		struct stat sb;
		uid_t uid = 0;
		gid_t gid = 0;

		snprintf(data, sizeof(data), "%s/data", pg->dir);
		snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", pgbin());
		snprintf(out, sizeof(out), "%s/pg_ctl.out", pg->dir);
		if (geteuid() == 0 && stat(data, &sb) == 0 && sb.st_uid != 0) {
			uid = sb.st_uid;
			gid = sb.st_gid;
		}
		pg->running = false;
		if (!run_wait(argv, uid, gid, out, NULL)) {
			/* Its server may still run: removing its files under it would help nobody.
			 */
			fprintf(stderr,
			        "terminus-load: pg_ctl stop failed; the private cluster is left in %s "
			        "(see %s)\n",
			        pg->dir, out);
			pg->made = false;
		}
	}
	if (pg->made) {
		nftw(pg->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		pg->made = false;
	}
}
