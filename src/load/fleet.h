/*
 * fleet.h — the terminus-api and terminus-worker processes a run starts itself, and the
 * PostgreSQL cluster it was given to control.
 *
 * Only processes in the fleet are ever signalled: each is a child of this process, found by
 * the pid fork() returned, never by name. A child asks the kernel to SIGKILL it if this process
 * dies (PR_SET_PDEATHSIG), so not even a crash of the load generator leaves strays behind.
 *
 * The cluster is one made by scripts/pg.sh (DIR/data, DIR/postgres.log). It is stopped with
 * `pg_ctl stop -m immediate` — the closest thing to pulling the plug: no checkpoint, no goodbye
 * to clients, crash recovery at the next start — and started again with `pg_ctl start`. Both
 * run as child processes, so the load loop never blocks on them; as root they run as the
 * cluster's owner (initdb refuses root).
 */
#ifndef TERMINUS_LOAD_FLEET_H
#define TERMINUS_LOAD_FLEET_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>

enum proc_kind { PROC_API, PROC_WORKER };

struct proc {
	enum proc_kind kind;
	char name[24];   /* api-1, worker-2 */
	pid_t pid;       /* -1 when not running */
	int port;        /* API: listen port; worker: metrics port */
	char base[64];   /* API: http://127.0.0.1:port */
	char log[512];   /* stdout and stderr, appended across restarts */
	int starts;      /* how many times it was started */
	int kills;       /* SIGKILLs sent by the chaos */
	int unexpected;  /* exits nobody asked for */
	int last_status; /* wait status of its last exit; -1: none yet */
};

struct fleet {
	const char *bindir;       /* where terminus-api and terminus-worker are */
	const char *db;           /* TERMINUS_DATABASE_URL for every process */
	const char *operator_key; /* TERMINUS_OPERATOR_KEY for the APIs */
	const char *logdir;
	int retry_base_ms; /* TERMINUS_RETRY_BASE_MS for every process */
	struct proc *p;
	int n;
};

void fleet_init(struct fleet *f);
/* Adds a process (not started); returns it (valid until the next fleet_add). */
struct proc *fleet_add(struct fleet *f, enum proc_kind kind);
/* Starts p (an API on its port, chosen free the first time). False (printed) on failure. */
bool fleet_start(struct fleet *f, struct proc *p);
/* SIGKILL and reap. */
void fleet_kill9(struct proc *p);
/* Reaps children that exited on their own; counts them as unexpected. */
void fleet_reap(struct fleet *f);
/* Polls an API's /readyz until 200 or timeout_s. */
bool fleet_wait_ready(const struct proc *p, double timeout_s);
/* SIGTERM to every running process, waits up to timeout_s, SIGKILLs the rest. */
void fleet_stop_all(struct fleet *f, double timeout_s);
/* [{"name","starts","kills","unexpected_exits","last_exit"}] (new reference). */
json_t *fleet_json(const struct fleet *f);
void fleet_release(struct fleet *f);

/* ---- the PostgreSQL cluster ---------------------------------------------------------------- */

struct pgctl {
	const char *dir; /* scripts/pg.sh's DIR */
	pid_t child;     /* a running pg_ctl, or -1 */
	bool stopping;   /* the child is a stop (else a start) */
	bool down;       /* we stopped it and have not started it again */
	int stops, starts, failures;
};

void pgctl_init(struct pgctl *pg, const char *dir);
/* Runs pg_ctl stop -m immediate / start in the background. False if one is still running. */
bool pgctl_stop_async(struct pgctl *pg);
bool pgctl_start_async(struct pgctl *pg);
/* True when no pg_ctl is running (reaps a finished one; a failure is counted and printed). */
bool pgctl_idle(struct pgctl *pg);
/* Waits for a running pg_ctl, then, if we left the cluster down, starts it and waits
 * (pg_ctl -w, bounded by its -t 60). True when the cluster was left running. */
bool pgctl_ensure_up(struct pgctl *pg);

#endif
