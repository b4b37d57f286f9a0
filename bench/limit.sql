-- The physical limit of make bench (bench/run.sh, docs/benchmarks.md): the least a durable
-- checkout can be — five writes, one round trip, one commit — as one plpgsql function, in its own
-- schema, so that it shares the cluster with Terminus's tables but none of their rows.
--   psql -v store=UUID -v products=N -f bench/limit.sql     (N products of the store, plus stock)
-- bench/limit.pgbench calls the function; bench/run.sh drops the schema when it is done.
--
-- The tables keep what a durable checkout cannot do without: the real column types (uuid keys,
-- jsonb payload, timestamptz defaults), uuid primary keys filled with random uuids, the unique
-- (store, key) that makes a retried request find its answer, one live payment per order, and
-- the partial index on the outbox's pending rows that a worker claims from. They leave out
-- what Terminus adds on top: foreign keys, row-level security, order lines, the timeline, the
-- stock ledger, the seq columns and the listing indexes (migrations/001_foundation.sql).
SET client_min_messages = warning; -- not the NOTICE of a first DROP
DROP SCHEMA IF EXISTS bench_limit CASCADE;
CREATE SCHEMA bench_limit;

CREATE TABLE bench_limit.idempotency_keys (
	store_id uuid NOT NULL,
	key text NOT NULL,
	fingerprint text NOT NULL,
	status text NOT NULL CHECK (status IN ('in_flight', 'completed')),
	response_status int,
	response_body text,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (store_id, key)
);

-- Product and stock in one row: the guarded UPDATE also reads the price.
CREATE TABLE bench_limit.inventory (
	product_id uuid PRIMARY KEY,
	store_id uuid NOT NULL,
	price_cents bigint NOT NULL CHECK (price_cents >= 0),
	stock bigint NOT NULL CHECK (stock >= 0)
);

CREATE TABLE bench_limit.orders (
	id uuid PRIMARY KEY,
	store_id uuid NOT NULL,
	status text NOT NULL CHECK (status IN ('pending', 'payment_authorized', 'confirmed',
		'cancelled', 'refunded', 'payment_failed')),
	customer_email text NOT NULL,
	currency char(3) NOT NULL,
	total_cents bigint NOT NULL CHECK (total_cents >= 0),
	checkout_key text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bench_limit.payments (
	id uuid PRIMARY KEY,
	order_id uuid NOT NULL,
	store_id uuid NOT NULL,
	status text NOT NULL CHECK (status IN ('authorized', 'captured', 'voided', 'refunded')),
	amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
	currency char(3) NOT NULL,
	token_hint text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ON bench_limit.payments (order_id) WHERE status IN ('authorized', 'captured');

CREATE TABLE bench_limit.outbox_events (
	id uuid PRIMARY KEY,
	store_id uuid NOT NULL,
	type text NOT NULL,
	aggregate_id uuid NOT NULL,
	payload jsonb NOT NULL,
	status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
	attempts int NOT NULL DEFAULT 0,
	available_at timestamptz NOT NULL DEFAULT now(),
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON bench_limit.outbox_events (store_id, available_at) WHERE status = 'pending';

-- Product n (1..N) has the id bench_limit.product(n), so that pgbench, which only draws
-- numbers, can name one; stock that no run can exhaust.
CREATE FUNCTION bench_limit.product(n int) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid
$$;
INSERT INTO bench_limit.inventory (product_id, store_id, price_cents, stock)
SELECT bench_limit.product(g), :'store', 1000 + g, 1000000000000000
FROM generate_series(1, :products) g;
ANALYZE bench_limit.inventory;

-- One checkout of p_qty units of one product under the idempotency key p_key: the key's row
-- (with its answer: the same commit makes both), the guarded stock decrement, the order, the
-- authorized payment and the PaymentAuthorized event for a worker. Returns the order's id, or
-- NULL when the stock was short (the refusal is stored under the key instead; nothing else is
-- written). A key used before raises unique_violation before anything else is written.
CREATE FUNCTION bench_limit.limit_checkout(p_store uuid, p_key text, p_product uuid, p_qty int)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
	v_order uuid := gen_random_uuid();
	v_payment uuid := gen_random_uuid();
	v_total bigint;
BEGIN
	INSERT INTO bench_limit.idempotency_keys (store_id, key, fingerprint, status,
	                                          response_status, response_body)
	VALUES (p_store, p_key, 'limit', 'completed', 202,
	        '{"id":"' || v_order || '","status":"payment_authorized"}');

	UPDATE bench_limit.inventory SET stock = stock - p_qty
	WHERE product_id = p_product AND store_id = p_store AND stock >= p_qty
	RETURNING price_cents * p_qty INTO v_total;
	IF NOT FOUND THEN
		UPDATE bench_limit.idempotency_keys
		SET response_status = 409, response_body = '{"error":"insufficient_stock"}'
		WHERE store_id = p_store AND key = p_key;
		RETURN NULL;
	END IF;

	INSERT INTO bench_limit.orders (id, store_id, status, customer_email, currency, total_cents,
	                                checkout_key)
	VALUES (v_order, p_store, 'payment_authorized', 'limit@example.com', 'EUR', v_total, p_key);

	INSERT INTO bench_limit.payments (id, order_id, store_id, status, amount_cents, currency,
	                                  token_hint)
	VALUES (v_payment, v_order, p_store, 'authorized', v_total, 'EUR', 'tok_…');

	INSERT INTO bench_limit.outbox_events (id, store_id, type, aggregate_id, payload)
	VALUES (gen_random_uuid(), p_store, 'PaymentAuthorized', v_order,
	        jsonb_build_object('order_id', v_order, 'payment_id', v_payment,
	                           'amount_cents', v_total));
	RETURN v_order;
END
$$;
