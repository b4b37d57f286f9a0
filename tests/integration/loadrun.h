/*
 * loadrun.h — what the suites that run bin/terminus-load (itest_load, itest_abuse) share:
 * running it as the real binary with a deadline, its output and JSON report, and assertions on
 * the report.
 */
#ifndef TERMINUS_IT_LOADRUN_H
#define TERMINUS_IT_LOADRUN_H

#include <jansson.h>

#include "harness.h"

struct run {
	int status;     /* exit status, or -1 (signal, timeout) */
	char log[512];  /* its stdout and stderr */
	char json[512]; /* its --json report */
	char *output;   /* the log's text (owned) */
	json_t *report; /* the parsed report, or NULL */
};

/* Runs `terminus-load ARGS… --json FILE --quiet` (tag names the files, next to the suite's API
 * log) in this process's environment, waits for it (150 s at most, else a failure) and fills
 * r. */
void load_run(struct run *r, const char *tag, const char *const *args);
void run_release(struct run *r);
/* Prints the run's output to the test's error stream. */
void show(const struct run *r);
/* The run exited 0 and its report says every invariant held. */
void assert_clean(const struct run *r);
/* The same for a run without a ledger (nothing acknowledged to check it against). */
void assert_clean_checked(const struct run *r, size_t min);
/* An integer / a number at path in the report (a failure when there is none). */
long long jint(const json_t *j, const char *path);
double jnum(const json_t *j, const char *path);
/* Latency percentiles are ordered, and the status codes add up to the answers counted. */
void assert_sane_latency(const json_t *rep);
/* A status code's count in the report (0 when absent). */
long long status_count(const json_t *rep, const char *code);

#endif
