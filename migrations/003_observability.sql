-- 003: seeing it happen — per-store analytics maintained from events, and recorded faults.

-- ---- analytics ------------------------------------------------------------------------------

-- Every status change of an order is already a timeline row (order_events), written in the
-- transaction that made the change. This trigger turns each one into an OrderStatusChanged
-- outbox event in that same transaction: no code path that changes an order can forget it, and
-- no change is announced that did not commit. The worker folds these events into the counters
-- below, in batches, off the checkout's critical path — counting inside the checkout would put
-- every checkout of a store in line for one counter row (a row lock held until the commit's
-- fsync), which is exactly what a flash sale cannot afford.
-- The timeline entry carries the trace of the request or event that made the change, and the
-- analytics event inherits it: one grep of a trace id finds those events' log lines too.
ALTER TABLE order_events ADD COLUMN traceparent text;

CREATE FUNCTION terminus_order_event_to_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO outbox_events (id, store_id, type, aggregate_id, payload, traceparent)
	VALUES (gen_random_uuid(), NEW.store_id, 'OrderStatusChanged', NEW.order_id,
	        jsonb_build_object('order_id', NEW.order_id, 'from', NEW.from_status,
	                           'to', NEW.to_status, 'at', NEW.at), NEW.traceparent);
	RETURN NULL;
END
$$;
CREATE TRIGGER order_events_to_outbox AFTER INSERT ON order_events
	FOR EACH ROW EXECUTE FUNCTION terminus_order_event_to_outbox();

-- The processed-events guard: a consumer counts an event only if it is the first to insert its
-- row here, in the transaction that applies the counts. The outbox lease already stops two
-- runners from both completing an event; this makes "counted once" hold even if an event were
-- delivered again (an operator re-queue, a restored backup), and says so in the schema.
CREATE TABLE processed_events (
	consumer text NOT NULL,
	event_id uuid NOT NULL,
	store_id uuid NOT NULL REFERENCES stores(id),
	processed_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (event_id, consumer)
);
-- A guard row lives as long as its event: the retention sweep deletes both together.

-- Counters per store and hour of the status change (the order_events.at of the change, so the
-- series can be recomputed from the timeline and compared).
--   created      NULL → pending
--   checked_out  pending → payment_authorized
--   confirmed    payment_authorized → confirmed           revenue +total
--   failed       payment_authorized → payment_failed
--   cancelled    pending | payment_authorized → cancelled
--   refunded     confirmed → refunded                     revenue −total
CREATE TABLE analytics_hourly (
	store_id uuid NOT NULL REFERENCES stores(id),
	hour timestamptz NOT NULL,
	orders_created bigint NOT NULL DEFAULT 0,
	orders_checked_out bigint NOT NULL DEFAULT 0,
	orders_confirmed bigint NOT NULL DEFAULT 0,
	orders_failed bigint NOT NULL DEFAULT 0,
	orders_cancelled bigint NOT NULL DEFAULT 0,
	orders_refunded bigint NOT NULL DEFAULT 0,
	revenue_cents bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (store_id, hour)
);

-- Units and revenue per product and hour: + on confirmation, − on refund.
CREATE TABLE analytics_products (
	store_id uuid NOT NULL REFERENCES stores(id),
	hour timestamptz NOT NULL,
	product_id uuid NOT NULL REFERENCES products(id),
	units bigint NOT NULL DEFAULT 0,
	revenue_cents bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (store_id, hour, product_id)
);

-- ---- faults ---------------------------------------------------------------------------------

-- One row per fault episode: opened when a rule starts firing for a subject, resolved when it
-- stops. store_id NULL: a platform fault (a worker, the whole outbox), visible to the operator
-- only.
CREATE TABLE faults (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	rule text NOT NULL,
	store_id uuid REFERENCES stores(id),
	subject text NOT NULL DEFAULT '',
	severity text NOT NULL CHECK (severity IN ('warning', 'critical')),
	summary text NOT NULL,
	details jsonb NOT NULL DEFAULT '{}',
	opened_at timestamptz NOT NULL DEFAULT now(),
	last_seen_at timestamptz NOT NULL DEFAULT now(),
	resolved_at timestamptz
);
-- At most one open episode per rule and subject.
CREATE UNIQUE INDEX faults_open ON faults
	(rule, coalesce(store_id, '00000000-0000-0000-0000-000000000000'), subject)
	WHERE resolved_at IS NULL;
CREATE INDEX ON faults (store_id, seq);

-- When the detector last ran, whichever worker led it: every worker has a timer, and a tick is
-- skipped when another worker's tick ran less than an interval ago, so the rules run once per
-- interval however many workers there are.
CREATE TABLE fault_detector (
	id int PRIMARY KEY CHECK (id = 1),
	last_tick_at timestamptz,
	last_audit_at timestamptz, -- the invariant audit reads whole tables: it has a longer period
	settings text -- the last leader's thresholds: workers configured differently are noticed
);
INSERT INTO fault_detector (id) VALUES (1);
GRANT SELECT, UPDATE ON fault_detector TO terminus_app;

-- The error-rate rule needs when an event last failed.
ALTER TABLE outbox_events ADD COLUMN last_failed_at timestamptz;
-- Dead events by age: the dead-events and payment-failure rules look at a recent window.
CREATE INDEX outbox_dead ON outbox_events (done_at) WHERE status = 'dead';

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['processed_events', 'analytics_hourly', 'analytics_products',
	                         'faults']
	LOOP
		EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('CREATE POLICY tenant ON %I USING (terminus_can_see(store_id)) '
		               'WITH CHECK (terminus_can_see(store_id))', t);
		EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO terminus_app', t);
	END LOOP;
END
$$;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO terminus_app;
