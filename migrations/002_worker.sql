-- 002: the outbox worker — fair claims, lease takeover, dead-tuple control, retention.

-- Claims walk stores with pending work (a skip scan over store_id) and take each store's
-- oldest due events: round-robin across stores, so one store's flood cannot starve the rest.
-- Partial on status = 'pending', so the index holds the backlog only, never the history.
CREATE INDEX outbox_pending_store ON outbox_events (store_id, available_at, seq)
	WHERE status = 'pending';
-- outbox_pending (available_at) from 001 stays: an idle worker asks it when the next event is
-- due, so it sleeps exactly that long (retries with backoff) instead of polling blindly.
-- Retention sweeps and the ops view look at finished events by age.
CREATE INDEX outbox_finished ON outbox_events (done_at) WHERE status = 'done';

-- A queue table is updated and deleted constantly: vacuum it as soon as a few hundred rows are
-- dead, without cost-based sleeping, so claims never wade through dead tuples (measured on this
-- class of machine: default settings lost two thirds of the throughput within a minute).
ALTER TABLE outbox_events SET (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 500, autovacuum_vacuum_cost_delay = 0,
	autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000,
	fillfactor = 80);
ALTER TABLE idempotency_keys SET (autovacuum_vacuum_scale_factor = 0.02,
	autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);

-- Worker liveness: one row per worker process, touched on every loop.
CREATE TABLE worker_heartbeats (
	worker_id text PRIMARY KEY,
	started_at timestamptz NOT NULL DEFAULT now(),
	seen_at timestamptz NOT NULL DEFAULT now(),
	events_done bigint NOT NULL DEFAULT 0
);
GRANT SELECT, INSERT, UPDATE, DELETE ON worker_heartbeats TO terminus_app;

-- The simulated provider's ledger may also be asked to void or refund a capture made by an
-- event that lost a race with a cancel; nothing changes in its shape.

-- A cancel needs the payment by order, and compensation the stock taken by an order: both have
-- indexes from 001 (payments (order_id, created_at), inventory_movements (order_id)).
