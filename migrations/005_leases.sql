-- 005: a lease dies with its owner's database session.
--
-- A lease (outbox_events.claimed_by, claimed_until) is a fact in the table, so it outlives a
-- worker killed with -9: its events used to wait out the whole lease (30 s). But PostgreSQL
-- notices a killed client at once (the socket closes) and ends its session, while a hung
-- worker (SIGSTOP, a debugger) keeps its sessions. So each lease owner (one handler thread of a
-- worker, claimed_by) records the session it claims on, each heartbeat the session it beats on,
-- and a reaper that every worker runs about once a second (outbox_reap) gives back the leases
-- of owners whose session is gone and forgets the heartbeat of a worker none of whose sessions
-- is left. The claim itself is unchanged: it neither writes nor reads any of this.

-- A session is named by its backend's pid and start time: a pid alone may be reused by a later
-- backend. pg_stat_activity shows another login's backend_start only to its members (or
-- pg_read_all_stats), and request and event connections run as terminus_app, so the check is
-- this narrow function, owned by the schema owner, the role every process logs in as. NULL: no
-- backend with that pid runs now.
CREATE FUNCTION terminus_backend_start(p_pid int) RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
	SELECT a.backend_start FROM pg_stat_get_activity(p_pid) AS a
$$;
REVOKE ALL ON FUNCTION terminus_backend_start(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION terminus_backend_start(int) TO terminus_app;

-- One row per lease owner: written by the handler thread each time it (re)connects, before its
-- first claim on that connection; deleted by the reaper once the session is gone.
CREATE TABLE lease_owners (
	owner text PRIMARY KEY,        -- outbox_events.claimed_by: worker-<host>-<pid>-t<n>
	worker_id text NOT NULL,       -- its process: worker_heartbeats.worker_id
	pid int NOT NULL,              -- the session it claims on
	backend_start timestamptz NOT NULL,
	registered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON lease_owners (worker_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON lease_owners TO terminus_app;

-- The session the housekeeper beats on (NULL in rows written before this migration: those are
-- forgotten after an hour of silence, as before).
ALTER TABLE worker_heartbeats ADD COLUMN pid int, ADD COLUMN backend_start timestamptz;
