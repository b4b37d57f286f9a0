/*
 * check.h — drain the outbox, then hold the database to guarantees §6 and to what the clients were
 * told.
 *
 * Every invariant is one SQL statement that returns the rows breaking it (and how many there
 * are): an empty answer is a proof for the data at hand, a non-empty one is the evidence, printed
 * as it is. They are the core's table (include/core/invariants.h, the one the fault detector's
 * audit and the tests use), plus acknowledged_durable, which holds the database to the load's
 * ledger. The statements read only the tables of migrations 001–002, treat outbox event types
 * generically (done or dead is finished, whatever the type) and run in one REPEATABLE READ
 * transaction, so they all see one snapshot. They run as the database owner role (row-level
 * security does not hide rows from the owner; the transaction also opens every store).
 *
 * The scope is the whole database, or the stores named (a load run checks the stores it made).
 */
#ifndef TERMINUS_LOAD_CHECK_H
#define TERMINUS_LOAD_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#include "ledger.h"

struct check_opts {
	const char *db;                 /* libpq conninfo of the owner role */
	const char *const *store_slugs; /* scope; NULL or none: every store */
	size_t nstores;
	const struct ledger *ledger; /* what clients were told; NULL: none */
	double drain_timeout_s;      /* wait this long for pending events to finish */
	bool live;                   /* show the drain's progress on stderr */
};

enum check_status {
	CHECK_OK = 0,       /* every invariant holds */
	CHECK_VIOLATED = 1, /* at least one does not (printed) */
	CHECK_ERROR = 2,    /* could not check: the database could not be read */
};

/* Drains, checks, prints the outcome to out and returns it; *json (may be NULL) gets the same
 * as JSON (new reference). */
enum check_status check_run(const struct check_opts *o, FILE *out, json_t **json);

/* Per store of the scope: how long async checkouts waited for the worker, from the timeline
 * (payment_authorized -> confirmed): count, p50, p99, max in ms. Printed to out; JSON array
 * (new reference) or NULL when the database could not be read. */
json_t *check_confirm_lag(const struct check_opts *o, FILE *out);

#endif
