/*
 * pgprivate.h — a PostgreSQL cluster of the run's own, for a run given no database: made in a
 * new directory under $TMPDIR (as scripts/pg.sh makes one: DIR/data, DIR/postgres.log, a Unix
 * socket in DIR and no TCP port), migrated with `terminus-api migrate`, and stopped and removed
 * when the run ends. As root, initdb and the server run as the 'postgres' user (initdb refuses
 * root), as with scripts/pg.sh.
 *
 * The server is started with pg_ctl and so outlives a load generator killed with SIGKILL; such
 * a directory is left behind (its path was printed at the start).
 */
#ifndef TERMINUS_LOAD_PGPRIVATE_H
#define TERMINUS_LOAD_PGPRIVATE_H

#include <stdbool.h>

struct pgprivate {
	char dir[256];
	char url[512]; /* libpq conninfo of the owner role */
	bool made;     /* dir exists (remove it) */
	bool running;  /* the server was started (stop it) */
};

/* Makes, starts and migrates the cluster (bindir: where terminus-api is). False (printed, and
 * whatever was made taken back) on failure. */
bool pgprivate_start(struct pgprivate *pg, const char *bindir);
/* Stops the server and removes the directory (left, and said, when the server would not stop). */
void pgprivate_stop(struct pgprivate *pg);

#endif
