/*
 * loadrun.c — running bin/terminus-load from a suite and reading its report (see loadrun.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loadrun.h"
#include "xalloc.h"
#include "banned.h"

#define RUN_DEADLINE_S 150.0 /* one terminus-load run, at most */
#define MAX_ARGS       64

extern char **environ;

void run_release(struct run *r)
{
	free(r->output);
	json_decref(r->report);
	r->output = NULL;
	r->report = NULL;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t n = 0, cap = 0, got;

	if (!f)
		return h_strdup("");
	do {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			p = xrealloc(p, cap + 1);
		}
		got = fread(p + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	p[n] = '\0';
	return p;
}

/* Runs `terminus-load ARGS… --json FILE` (tag names the files), waits with a deadline, and
 * fills r. The run's output goes to the test's error stream when it fails. */
void load_run(struct run *r, const char *tag, const char *const *args)
{
	char exe[512];
	char *argv[MAX_ARGS];
	int n = 0, st = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	double deadline;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	snprintf(exe, sizeof(exe), "%s/terminus-load", h_env.bindir);
	snprintf(r->log, sizeof(r->log), "%s.load-%s", h_env.log, tag);
	snprintf(r->json, sizeof(r->json), "%s.load-%s.json", h_env.log, tag);
	unlink(r->json);
	argv[n++] = exe;
	for (const char *const *a = args; *a && n < MAX_ARGS - 4; a++)
		argv[n++] = (char *)(uintptr_t)*a;
	argv[n++] = (char *)(uintptr_t) "--json";
	argv[n++] = r->json;
	argv[n++] = (char *)(uintptr_t) "--quiet";
	argv[n] = NULL;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, r->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	st = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	H_CHECK(st == 0, "cannot start %s: %s", exe, strerror(st));

	deadline = h_now() + RUN_DEADLINE_S;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			H_FAIL("waitpid: %s", strerror(errno));
		if (h_now() > deadline) {
			/* Its own children die with it (PR_SET_PDEATHSIG). */
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			r->output = read_text(r->log);
			print_error("%s\n", r->output);
			H_FAIL("terminus-load %s did not finish within %.0f s", tag,
			       RUN_DEADLINE_S);
		}
		h_sleep_ms(50); /* between two looks at the child, with a deadline */
	}
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	r->output = read_text(r->log);
	r->report = json_load_file(r->json, 0, NULL);
	print_message("[          ] terminus-load %s: exit %d\n", tag, r->status);
}

void show(const struct run *r)
{
	print_error("---- terminus-load output (%s) ----\n%s----\n", r->log, r->output);
}

/* The run exited 0 and its report says every invariant held, with at least min checked. */
void assert_clean_checked(const struct run *r, size_t min)
{
	json_t *check;

	if (r->status != 0 || !r->report)
		show(r);
	H_CHECK(r->status == 0, "terminus-load exited %d", r->status);
	H_CHECK(r->report != NULL, "no JSON report at %s", r->json);
	check = h_j(r->report, "check");
	H_CHECK(json_is_true(h_j(check, "ok")), "the invariants did not hold");
	H_CHECK(json_array_size(h_j(check, "violations")) == 0, "violations reported");
	H_CHECK(json_is_true(h_j(check, "drain.drained")), "the outbox did not drain");
	H_CHECK(json_array_size(h_j(check, "checked")) >= min, "only %zu invariants checked",
	        json_array_size(h_j(check, "checked")));
}

void assert_clean(const struct run *r)
{
	assert_clean_checked(r, 15); /* the 14 of invariants.h and the ledger's */
}

long long jint(const json_t *j, const char *path)
{
	long long v = -1;

	H_CHECK(h_jint(j, path, &v), "no integer at %s in the report", path);
	return v;
}

double jnum(const json_t *j, const char *path)
{
	json_t *v = h_j(j, path);

	H_CHECK(json_is_number(v), "no number at %s in the report", path);
	return json_number_value(v);
}

/* Latency percentiles are ordered, and the status codes add up to the answers counted. */
void assert_sane_latency(const json_t *rep)
{
	const json_t *lat = h_j(rep, "latency_ms");
	const char *key;
	json_t *v;
	long long sum = 0;

	H_CHECK(jnum(lat, "p50") <= jnum(lat, "p90") && jnum(lat, "p90") <= jnum(lat, "p99") &&
	                jnum(lat, "p99") <= jnum(lat, "p99_9") &&
	                jnum(lat, "p99_9") <= jnum(lat, "max") &&
	                jnum(lat, "min") <= jnum(lat, "p50"),
	        "latency percentiles out of order");
	json_object_foreach(h_j(rep, "status"), key, v)
	{
		sum += json_integer_value(v);
	}
	H_CHECK(sum == jint(lat, "count"), "status codes add up to %lld, latencies to %lld", sum,
	        jint(lat, "count"));
	H_CHECK(jint(rep, "requests.sent") >= jint(lat, "count") - jint(rep, "requests.abandoned"),
	        "more answers than requests sent");
	H_CHECK(jnum(rep, "throughput_rps") > 0, "no throughput");
}

/* A status code's count in the report (0 when absent). */
long long status_count(const json_t *rep, const char *code)
{
	json_t *v = json_object_get(h_j(rep, "status"), code);

	return v ? json_integer_value(v) : 0;
}
