-- 001: stores, keys, catalog, inventory, orders, payments, outbox, idempotency, flags.
--
-- Tenancy: every tenant table carries store_id, every query filters on it, and row-level
-- security enforces the same scoping for the restricted role "terminus_app" that request and
-- event queries run as. A transaction sees one store (terminus.store_id, set per transaction)
-- or, for the operator and the worker's claim, every store (terminus.all_stores = on).

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'terminus_app') THEN
		CREATE ROLE terminus_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
	END IF;
END
$$;
-- The owner must be able to SET ROLE terminus_app (a superuser can anyway).
DO $$
BEGIN
	IF NOT pg_has_role(current_user, 'terminus_app', 'MEMBER') THEN
		EXECUTE format('GRANT terminus_app TO %I', current_user);
	END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO terminus_app;

CREATE FUNCTION terminus_can_see(s uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT coalesce(current_setting('terminus.all_stores', true) = 'on', false)
	    OR s = nullif(current_setting('terminus.store_id', true), '')::uuid
$$;

-- RFC 3339 UTC with milliseconds, the one time format of the API.
CREATE FUNCTION terminus_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- ---- stores and keys ------------------------------------------------------------------------

CREATE TABLE stores (
	id uuid PRIMARY KEY,
	seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9-]{3,40}$'),
	name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE stores ENABLE ROW LEVEL SECURITY;
-- The store list is public; creating a store is the operator's (all stores) business.
CREATE POLICY stores_read ON stores FOR SELECT USING (true);
CREATE POLICY stores_write ON stores FOR INSERT WITH CHECK (terminus_can_see(id));
GRANT SELECT, INSERT ON stores TO terminus_app;

CREATE TABLE store_keys (
	key_id text PRIMARY KEY,
	store_id uuid NOT NULL REFERENCES stores(id),
	key_hash bytea NOT NULL CHECK (length(key_hash) = 32),
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON store_keys (store_id);
ALTER TABLE store_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON store_keys USING (terminus_can_see(store_id))
	WITH CHECK (terminus_can_see(store_id));
GRANT SELECT, INSERT ON store_keys TO terminus_app;

-- Authentication must find a key before it knows the store: this function (owned by the schema
-- owner, so RLS does not hide the row) answers for exactly one key id, nothing more.
CREATE FUNCTION terminus_auth_key(p_key_id text)
RETURNS TABLE (store_id uuid, key_hash bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
	SELECT k.store_id, k.key_hash FROM store_keys k WHERE k.key_id = p_key_id
$$;
REVOKE ALL ON FUNCTION terminus_auth_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION terminus_auth_key(text) TO terminus_app;

-- ---- catalog and inventory ------------------------------------------------------------------

CREATE TABLE products (
	id uuid PRIMARY KEY,
	seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	store_id uuid NOT NULL REFERENCES stores(id),
	sku text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
	name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	description text NOT NULL DEFAULT '',
	price_cents bigint NOT NULL CHECK (price_cents >= 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (store_id, sku)
);
CREATE INDEX ON products (store_id, seq);

-- Stock has its own narrow row: it is the hot row of a flash sale, and the CHECK is the last
-- line of defence against overselling (the conditional UPDATE is the first).
CREATE TABLE inventory (
	product_id uuid PRIMARY KEY REFERENCES products(id),
	store_id uuid NOT NULL REFERENCES stores(id),
	available bigint NOT NULL CHECK (available >= 0)
);

-- Every change of stock, with its reason: initial + restocks = available + sold.
CREATE TABLE inventory_movements (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	store_id uuid NOT NULL REFERENCES stores(id),
	product_id uuid NOT NULL REFERENCES products(id),
	delta bigint NOT NULL,
	reason text NOT NULL,
	order_id uuid,
	at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON inventory_movements (store_id, product_id);
CREATE INDEX ON inventory_movements (order_id) WHERE order_id IS NOT NULL;

-- ---- orders and payments --------------------------------------------------------------------

CREATE TABLE orders (
	id uuid PRIMARY KEY,
	seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	store_id uuid NOT NULL REFERENCES stores(id),
	status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'payment_authorized',
		'confirmed', 'cancelled', 'refunded', 'payment_failed')),
	customer_email text NOT NULL,
	currency char(3) NOT NULL,
	total_cents bigint NOT NULL CHECK (total_cents >= 0),
	-- Decided once at checkout and followed by every retry of that request.
	checkout_path text CHECK (checkout_path IN ('sync', 'async')),
	checkout_key text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON orders (store_id, seq);
CREATE INDEX ON orders (store_id, status, seq);

CREATE TABLE order_items (
	order_id uuid NOT NULL REFERENCES orders(id),
	line_no int NOT NULL,
	store_id uuid NOT NULL REFERENCES stores(id),
	product_id uuid NOT NULL REFERENCES products(id),
	sku text NOT NULL,
	name text NOT NULL,
	quantity int NOT NULL CHECK (quantity > 0),
	unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
	PRIMARY KEY (order_id, line_no),
	UNIQUE (order_id, product_id)
);

-- The timeline: one row per status change.
CREATE TABLE order_events (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	order_id uuid NOT NULL REFERENCES orders(id),
	store_id uuid NOT NULL REFERENCES stores(id),
	from_status text,
	to_status text NOT NULL,
	reason text NOT NULL DEFAULT '',
	at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON order_events (order_id, id);

CREATE TABLE payments (
	id uuid PRIMARY KEY,
	order_id uuid NOT NULL REFERENCES orders(id),
	store_id uuid NOT NULL REFERENCES stores(id),
	status text NOT NULL CHECK (status IN ('authorized', 'captured', 'voided', 'refunded')),
	amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
	currency char(3) NOT NULL,
	token_hint text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON payments (order_id, created_at);
-- Invariant 2: at most one live payment per order, enforced by the database.
CREATE UNIQUE INDEX payments_one_live ON payments (order_id)
	WHERE status IN ('authorized', 'captured');

-- What the simulated payment provider has done, keyed by the idempotency key we sent it
-- (the event id). It stands for the provider's own records, outside our transactions.
CREATE TABLE provider_operations (
	idempotency_key text NOT NULL,
	operation text NOT NULL CHECK (operation IN ('capture', 'void', 'refund')),
	payment_id uuid NOT NULL,
	store_id uuid NOT NULL REFERENCES stores(id),
	amount_cents bigint NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (idempotency_key, operation)
);

-- ---- outbox ---------------------------------------------------------------------------------

CREATE TABLE outbox_events (
	id uuid PRIMARY KEY,
	seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	store_id uuid NOT NULL REFERENCES stores(id),
	type text NOT NULL,
	aggregate_id uuid NOT NULL,
	payload jsonb NOT NULL,
	status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
	attempts int NOT NULL DEFAULT 0,
	available_at timestamptz NOT NULL DEFAULT now(),
	claimed_until timestamptz,
	claimed_by text,
	last_error text,
	traceparent text,
	created_at timestamptz NOT NULL DEFAULT now(),
	done_at timestamptz
);
-- Only pending rows are ever claimed: keep that index small.
CREATE INDEX outbox_pending ON outbox_events (available_at) WHERE status = 'pending';
CREATE INDEX ON outbox_events (store_id, seq);

-- ---- idempotency ----------------------------------------------------------------------------

CREATE TABLE idempotency_keys (
	store_id uuid NOT NULL REFERENCES stores(id),
	key text NOT NULL,
	fingerprint text NOT NULL,
	status text NOT NULL CHECK (status IN ('in_flight', 'completed')),
	locked_until timestamptz,
	response_status int,
	response_body text,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (store_id, key)
);
CREATE INDEX ON idempotency_keys (created_at);

-- ---- feature flags --------------------------------------------------------------------------

CREATE TABLE flag_defaults (
	key text PRIMARY KEY,
	enabled boolean NOT NULL,
	rollout_percent int NOT NULL CHECK (rollout_percent BETWEEN 0 AND 100),
	description text NOT NULL
);
INSERT INTO flag_defaults (key, enabled, rollout_percent, description) VALUES
	('checkout.async_enabled', true, 100, 'checkout answers 202 and the worker finishes it'),
	('chaos.payment_capture_fail', false, 100, 'capture attempts fail transiently'),
	('chaos.worker_slow', false, 100, 'events stall 500 ms before their handler');

CREATE TABLE flag_overrides (
	store_id uuid NOT NULL REFERENCES stores(id),
	key text NOT NULL REFERENCES flag_defaults(key),
	enabled boolean NOT NULL,
	rollout_percent int NOT NULL CHECK (rollout_percent BETWEEN 0 AND 100),
	updated_by text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (store_id, key)
);

CREATE TABLE flag_audit (
	seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	store_id uuid NOT NULL REFERENCES stores(id),
	key text NOT NULL,
	actor text NOT NULL,
	old_enabled boolean NOT NULL,
	old_rollout_percent int NOT NULL,
	new_enabled boolean NOT NULL,
	new_rollout_percent int NOT NULL,
	at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON flag_audit (store_id, key, seq);

-- One row whose version every process polls; NOTIFY makes the change visible in milliseconds.
-- Flag writes are rare, so the NOTIFY's commit-time lock costs nothing that matters here.
CREATE TABLE flag_version (
	id boolean PRIMARY KEY DEFAULT true CHECK (id),
	version bigint NOT NULL
);
INSERT INTO flag_version VALUES (true, 1);

CREATE FUNCTION terminus_flags_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
	UPDATE flag_version SET version = version + 1;
	PERFORM pg_notify('terminus_flags', '');
	RETURN NULL;
END
$$;
CREATE TRIGGER flags_changed AFTER INSERT OR UPDATE OR DELETE ON flag_overrides
	FOR EACH STATEMENT EXECUTE FUNCTION terminus_flags_changed();
CREATE TRIGGER flags_changed AFTER INSERT OR UPDATE OR DELETE ON flag_defaults
	FOR EACH STATEMENT EXECUTE FUNCTION terminus_flags_changed();

-- ---- row-level security for every tenant table ----------------------------------------------

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['products', 'inventory', 'inventory_movements', 'orders',
	                         'order_items', 'order_events', 'payments', 'provider_operations',
	                         'outbox_events', 'idempotency_keys', 'flag_overrides',
	                         'flag_audit']
	LOOP
		EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('CREATE POLICY tenant ON %I USING (terminus_can_see(store_id)) '
		               'WITH CHECK (terminus_can_see(store_id))', t);
		EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO terminus_app', t);
	END LOOP;
END
$$;
GRANT SELECT ON flag_defaults, flag_version TO terminus_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO terminus_app;
