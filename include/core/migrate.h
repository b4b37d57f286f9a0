/*
 * migrate.h — forward-only schema migrations, embedded in the binary from migrations/NNN_*.sql.
 * Applied in order, each once, in its own transaction, under a session advisory lock so that
 * any number of processes may call migrate_apply() at once; applied versions are recorded in
 * schema_migrations.
 */
#ifndef TERMINUS_MIGRATE_H
#define TERMINUS_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"

struct db_conn;

struct migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct migration migrations[];
extern const size_t migrations_count;

int migrate_latest_version(void);
/* c must be an owner-role connection. */
bool migrate_apply(struct db_conn *c, int *applied, struct err *e) MUST_CHECK;
/* True in *current when every embedded migration is recorded. Works on app-role connections. */
bool migrate_is_current(struct db_conn *c, bool *current, struct err *e) MUST_CHECK;

#endif
