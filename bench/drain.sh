#!/usr/bin/env bash
# Worker drain rate: a backlog of real PaymentAuthorized events (orders in payment_authorized
# with authorized payments and taken stock, made in SQL as checkout would leave them), drained
# by P worker processes.
#   bench/drain.sh DATABASE_URL BINDIR [events] [processes] [threads]
# NOOP=1: events whose orders do not exist (the handler reads, finds nothing, completes): the
# queue machinery's own cost, without the capture's work.
# Prints events, processes, seconds, events/s; checks that every event is done and every order
# confirmed with one captured payment. make bench (bench/run.sh) runs it with 1 and 2 processes.
# The workers it starts are stopped when it exits, however it exits (Ctrl-C, a failure).
set -euo pipefail
command -v bc >/dev/null || { echo "bench/drain.sh needs bc: apt-get install -y bc" >&2; exit 1; }
db=$1 bindir=$2 n=${3:-10000} procs=${4:-1} threads=${5:-4}
psql() { command psql "$db" -qAtX -v ON_ERROR_STOP=1 "$@"; }
[ "$(id -u)" -eq 0 ] && psql() { runuser -u postgres -- /usr/bin/psql "$db" -qAtX -v ON_ERROR_STOP=1 "$@"; }
slug="drain-$RANDOM$RANDOM"

psql <<SQL >/dev/null
INSERT INTO stores (id, slug, name, currency) VALUES (gen_random_uuid(), '$slug', 'drain', 'EUR');
WITH s AS (SELECT id FROM stores WHERE slug = '$slug'),
p AS (INSERT INTO products (id, store_id, sku, name, price_cents)
      SELECT gen_random_uuid(), s.id, 'D' || g, 'drain ' || g, 100 FROM s, generate_series(1, 64) g
      RETURNING id, store_id),
i AS (INSERT INTO inventory (product_id, store_id, available) SELECT id, store_id, 1000000000 FROM p)
SELECT 1;
CREATE TEMP TABLE b AS
SELECT gen_random_uuid() AS order_id, gen_random_uuid() AS payment_id, gen_random_uuid() AS event_id,
       (SELECT id FROM stores WHERE slug = '$slug') AS store_id,
       (SELECT id FROM products WHERE sku = 'D' || (1 + g % 64) AND store_id =
           (SELECT id FROM stores WHERE slug = '$slug')) AS product_id
FROM generate_series(1, $n) g;
INSERT INTO orders (id, store_id, status, customer_email, currency, total_cents, checkout_path)
	SELECT order_id, store_id, 'payment_authorized', 'd@example.com', 'EUR', 100, 'async'
	FROM b WHERE ${NOOP:-0} = 0;
INSERT INTO order_items (order_id, line_no, store_id, product_id, sku, name, quantity, unit_price_cents)
	SELECT order_id, 1, store_id, product_id, 'D', 'drain', 1, 100 FROM b WHERE ${NOOP:-0} = 0;
INSERT INTO payments (id, order_id, store_id, status, amount_cents, currency, token_hint)
	SELECT payment_id, order_id, store_id, 'authorized', 100, 'EUR', 'tok_…'
	FROM b WHERE ${NOOP:-0} = 0;
INSERT INTO outbox_events (id, store_id, type, aggregate_id, payload)
	SELECT event_id, store_id, 'PaymentAuthorized', order_id,
	       jsonb_build_object('order_id', order_id, 'payment_id', payment_id, 'amount_cents', 100)
	FROM b;
ANALYZE outbox_events; ANALYZE orders; ANALYZE payments;
SQL

logs=$(mktemp -d)
pids=()
stop_workers() {
	local pid
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	pids=()
}
trap 'stop_workers; rm -rf "$logs"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start=$(date +%s.%N)
for p in $(seq 1 "$procs"); do
	TERMINUS_DATABASE_URL=$db TERMINUS_WORKER_CONCURRENCY=$threads TERMINUS_LOG_LEVEL=warn \
		"$bindir/terminus-worker" 2>"$logs/w$p.log" &
	pids+=($!)
done
sid="(SELECT id FROM stores WHERE slug = '$slug')"
# An index-backed probe (outbox_pending_store), cheap enough not to compete with the workers.
# Bounded (DRAIN_TIMEOUT_S, 300): a worker that dies or hangs fails the run instead of stalling it.
deadline=$((SECONDS + ${DRAIN_TIMEOUT_S:-300}))
while [ "$(psql -c "SELECT EXISTS (SELECT 1 FROM outbox_events WHERE store_id = $sid AND status = 'pending')")" = t ]; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "drain.sh: events still pending after ${DRAIN_TIMEOUT_S:-300} s; worker logs:" >&2
		tail -n 20 "$logs"/*.log >&2 || true
		exit 1
	fi
	sleep 0.05
done
end=$(date +%s.%N)
stop_workers
secs=$(echo "$end - $start" | bc -l)
printf 'events %d  processes %d x %d threads  seconds %.2f  events/s %.0f\n' "$n" "$procs" "$threads" "$secs" "$(echo "$n / $secs" | bc -l)"
psql -c "SELECT 'check: done ' || count(*) FILTER (WHERE e.status = 'done') || ' of ' || count(*)
         || ', confirmed ' || (SELECT count(*) FROM orders WHERE store_id = $sid AND status = 'confirmed')
         || ', captured ' || (SELECT count(*) FROM payments WHERE store_id = $sid AND status = 'captured')
         FROM outbox_events e WHERE e.store_id = $sid"
