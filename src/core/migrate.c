/*
 * migrate.c — applies the embedded migrations in order, once each (see migrate.h).
 *
 * Why a session advisory lock and not a table lock: it serialises concurrent migrators
 * (several API processes starting together) without touching any application table, and it is
 * released automatically if the migrating process dies.
 */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "banned.h"

#define MIGRATE_LOCK_KEY "7265746572"

int migrate_latest_version(void)
{
	int v = 0;

	for (size_t i = 0; i < migrations_count; i++) {
		if (migrations[i].version > v)
			v = migrations[i].version;
	}
	return v;
}

static struct db_stmt st_applied =
        DB_STMT("migrate_applied", "SELECT 1 FROM schema_migrations WHERE version = $1");
static struct db_stmt st_record =
        DB_STMT("migrate_record", "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)");

static bool apply_one(struct db_conn *c, const struct migration *m, bool *applied, struct err *e)
{
	char ver[16];
	PGresult *r;

	snprintf(ver, sizeof(ver), "%d", m->version);
	*applied = false;
	if ((r = db_exec_sql(c, "BEGIN", e)) == NULL)
		return false;
	PQclear(r);
	if ((r = db_exec(c, &st_applied, DB_PARAMS(ver), e)) == NULL)
		goto rollback;
	if (PQntuples(r) == 1) {
		PQclear(r);
		db_rollback(c);
		return true;
	}
	PQclear(r);
	if ((r = db_exec_sql(c, m->sql, e)) == NULL) {
		log_error("migration %s failed", m->name);
		goto rollback;
	}
	PQclear(r);
	if ((r = db_exec(c, &st_record, DB_PARAMS(ver, m->name), e)) == NULL)
		goto rollback;
	PQclear(r);
	if (!db_commit(c, e))
		return false;
	*applied = true;
	log_info("applied migration %s", m->name);
	return true;
rollback:
	db_rollback(c);
	return false;
}

bool migrate_apply(struct db_conn *c, int *count, struct err *e)
{
	PGresult *r;
	bool ok = true;

	*count = 0;
	r = db_exec_sql(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", e);
	if (r == NULL)
		return false;
	PQclear(r);
	r = db_exec_sql(c,
	                "CREATE TABLE IF NOT EXISTS schema_migrations ("
	                " version int PRIMARY KEY, name text NOT NULL,"
	                " applied_at timestamptz NOT NULL DEFAULT now())",
	                e);
	if (r == NULL) {
		ok = false;
		goto unlock;
	}
	PQclear(r);
	for (size_t i = 0; i < migrations_count && ok; i++) {
		bool applied;

		ok = apply_one(c, &migrations[i], &applied, e);
		*count += applied;
	}
	if (ok) {
		r = db_exec_sql(c, "GRANT SELECT ON schema_migrations TO terminus_app", e);
		ok = r != NULL;
		PQclear(r);
	}
unlock:
	PQclear(PQexec(db_conn_pg(c), "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
	return ok;
}

bool migrate_is_current(struct db_conn *c, bool *current, struct err *e)
{
	PGresult *r = db_exec_sql(c, "SELECT coalesce(max(version), 0) FROM schema_migrations", e);

	if (r == NULL) {
		*current = false;
		/* No table yet, or no permission on it: not migrated, but the database answers. */
		if (strcmp(e->sqlstate, "42P01") == 0 || strcmp(e->sqlstate, "42501") == 0) {
			err_release(e);
			return true;
		}
		return false;
	}
	*current = db_get_ll(r, 0, 0) >= migrate_latest_version();
	PQclear(r);
	return true;
}
