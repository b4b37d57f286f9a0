#!/usr/bin/env bash
# Checkout throughput through the real HTTP path: wrk drives POST …/checkout on pre-created
# pending orders (unique Idempotency-Key each) against a running terminus-api.
#   bench/checkout.sh API_URL DATABASE_URL OPERATOR_KEY [sync|async] [connections] [seconds]
# Prints wrk's report and then verifies in the database that every checked-out order holds
# exactly one live payment. wrk is one client address: start that API with
# TERMINUS_CLIENT_RATE_LIMIT=0, or the per-address limit (50/s) is what gets measured.
set -euo pipefail
command -v wrk >/dev/null || { echo "bench/checkout.sh needs wrk: apt-get install -y wrk" >&2; exit 1; }
api=$1 db=$2 op=$3 path=${4:-sync} conns=${5:-16} secs=${6:-10}
orders=${ORDERS_N:-80000}
slug="bench-$RANDOM$RANDOM"
psql() { command psql "$db" -qAtX -v ON_ERROR_STOP=1 "$@"; }
[ "$(id -u)" -eq 0 ] && psql() { runuser -u postgres -- /usr/bin/psql "$db" -qAtX -v ON_ERROR_STOP=1 "$@"; }

curl -fsS -H "Authorization: Bearer $op" -H 'Content-Type: application/json' \
	-d "{\"slug\":\"$slug\",\"name\":\"bench\",\"currency\":\"EUR\"}" "$api/v1/stores" >/dev/null
enabled=$([ "$path" = async ] && echo true || echo false)
curl -fsS -X PUT -H "Authorization: Bearer $op" -H 'Content-Type: application/json' \
	-d "{\"enabled\":$enabled}" "$api/v1/stores/$slug/flags/checkout.async_enabled" >/dev/null
# PRODUCTS distinct products (default 64); PRODUCTS=1 measures the flash-sale hot row.
for n in $(seq 1 "${PRODUCTS:-64}"); do
	curl -fsS -H "Authorization: Bearer $op" -H 'Content-Type: application/json' \
		-d "{\"sku\":\"B$n\",\"name\":\"bench item $n\",\"price_cents\":100,\"inventory\":1000000000}" \
		"$api/v1/stores/$slug/products" >/dev/null
done

# Orders straight into the database (as the owner): the benchmark measures checkout only.
ids=$(mktemp)
psql <<SQL >"$ids"
WITH s AS (SELECT id, currency FROM stores WHERE slug = '$slug'),
p AS (SELECT array_agg(p.id ORDER BY p.sku) AS ids FROM products p, s WHERE p.store_id = s.id),
o AS (INSERT INTO orders (id, store_id, customer_email, currency, total_cents)
      SELECT gen_random_uuid(), s.id, 'bench@example.com', s.currency, 100
      FROM s, generate_series(1, $orders) RETURNING id, store_id),
i AS (INSERT INTO order_items (order_id, line_no, store_id, product_id, sku, name, quantity,
                               unit_price_cents)
      SELECT o.id, 1, o.store_id, p.ids[1 + floor(random() * cardinality(p.ids))::int],
             'B', 'bench item', 1, 100 FROM o, p)
SELECT id FROM o;
SQL
# Bulk-loaded rows: refresh planner statistics as autovacuum would over time.
psql -c "ANALYZE orders; ANALYZE order_items"

ORDERS=$ids STORE=$slug THREADS=2 wrk -t2 -c"$conns" -d"${secs}s" --latency \
	-s "$(dirname "$0")/checkout.lua" "$api"
psql -c "SELECT 'checked out: ' || count(*) FILTER (WHERE o.status <> 'pending')
         || ', confirmed: ' || count(*) FILTER (WHERE o.status = 'confirmed')
         || ', orders with >1 live payment: ' || (SELECT count(*) FROM (SELECT order_id FROM payments
              WHERE status IN ('authorized','captured') GROUP BY order_id HAVING count(*) > 1) d)
         FROM orders o JOIN stores s ON s.id = o.store_id WHERE s.slug = '$slug'"
if [ "$path" = async ] && [ "${WAIT_CONFIRM:-1}" = 1 ]; then
	# With a worker running: wait for the drain, then the lag from the checkout transaction to
	# the confirming one, from the timeline (both stamped with their transaction's start).
	for _ in $(seq 1 600); do
		left=$(psql -c "SELECT count(*) FROM orders o JOIN stores s ON s.id = o.store_id
		                WHERE s.slug = '$slug' AND o.status = 'payment_authorized'")
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	psql -c "SELECT 'checkout→confirmed ms: p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1)
	         || '  p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)
	         || '  max ' || round(max(ms)::numeric, 1) || '  (' || count(*) || ' orders, ' || $left || ' unconfirmed)'
	         FROM (SELECT extract(epoch FROM c.at - a.at) * 1000 AS ms
	               FROM order_events a JOIN order_events c ON c.order_id = a.order_id
	               JOIN orders o ON o.id = a.order_id JOIN stores s ON s.id = o.store_id
	               WHERE s.slug = '$slug' AND a.to_status = 'payment_authorized'
	                 AND c.to_status = 'confirmed') d"
fi
rm -f "$ids"
