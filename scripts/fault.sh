#!/usr/bin/env bash
# scripts/fault.sh RULE on|off — induce, then end, each fault the detector knows, on a running
# `make run` system (see docs/runbooks/<RULE>.md for what to watch while it happens).
#
#   outbox_lag            on: chaos.worker_slow at 100 % + a bounded background burst of
#                             checkouts (FAULT_LAG_ORDERS, 480, FAULT_LAG_PARALLEL, 16 at a time);
#                             off: stop the burst, flag off (the backlog drains)
#   dead_events           on: chaos.payment_capture_fail at 100 % + 3 checkouts (they die after
#                             TERMINUS_MAX_ATTEMPTS); off: flag off, retry the store's dead events
#   error_rate            on: chaos.payment_capture_fail at 100 % + 12 checkouts (more when the
#                             window holds successful captures; their captures fail and are
#                             retried); off: flag off (the retries succeed)
#   payment_failure_rate  on: 12 checkouts with tok_decline (402); off: successful checkouts
#                             until the declined share is under the threshold
#   stuck_lease           on: freeze make run's second worker while it holds leases (the first
#                             one detects it); off: thaw it
#   worker_heartbeat      on: freeze make run's second worker; off: thaw it
#                             (with a single worker, a stand-in worker is started to detect)
#   invariant [CHECK]     on: plant rows that break an audited invariant (stock_ledger,
#                             confirmed_one_capture, no_order_stuck; default all three; the
#                             names are include/core/invariants.h's);
#                             off: delete the planted rows
#
# Uses what scripts/run.sh uses: the API at http://$TERMINUS_LISTEN (127.0.0.1:8080), the
# operator key $TERMINUS_OPERATOR_KEY (or the one in .terminus/operator_key), the database
# $TERMINUS_DATABASE_URL (or the private cluster in .terminus/pg, as its owner), the worker's
# metrics port from $TERMINUS_METRICS_LISTEN (127.0.0.1:9464). STORE (demo-coffee) picks the
# store; TERMINUS_STATE (.terminus) where pid files and logs go.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
	echo "usage: scripts/fault.sh outbox_lag|dead_events|error_rate|payment_failure_rate|stuck_lease|worker_heartbeat|invariant on|off [CHECK]" >&2
	exit 2
}
[ $# -ge 2 ] || usage
rule=$1
action=$2
[ "$action" = on ] || [ "$action" = off ] || usage

state=${TERMINUS_STATE:-.terminus}
listen=${TERMINUS_LISTEN:-127.0.0.1:8080}
API=${API:-http://$listen}
STORE=${STORE:-demo-coffee}
metrics=${TERMINUS_METRICS_LISTEN:-127.0.0.1:9464}
BIN=${TERMINUS_BIN:-bin}
J='Content-Type: application/json'

op_key() {
	if [ -n "${TERMINUS_OPERATOR_KEY:-}" ]; then
		echo "$TERMINUS_OPERATOR_KEY"
	elif [ -s "$state/operator_key" ]; then
		head -n 1 "$state/operator_key"
	else
		echo "fault.sh: no operator key: set TERMINUS_OPERATOR_KEY or run make run first" >&2
		exit 1
	fi
}
OP=$(op_key)

db_url() {
	if [ -n "${TERMINUS_DATABASE_URL:-}" ]; then
		echo "$TERMINUS_DATABASE_URL"
	else
		scripts/pg.sh url "$state/pg"
	fi
}
sql() { psql "$(db_url)" -v ON_ERROR_STOP=1 -qAtc "$1"; }

say() { printf 'fault.sh: %s\n' "$*" >&2; }

# PUT a flag for $STORE: flag KEY true|false
flag() {
	curl -sf -o /dev/null -X PUT "$API/v1/stores/$STORE/flags/$1" -H "Authorization: Bearer $OP" \
		-H "$J" -d "{\"enabled\":$2,\"rollout_percent\":100}" ||
		{ say "cannot set $1 on $STORE (is make run up at $API?)"; exit 1; }
	say "$1 is $2 for $STORE"
}

# The store's first product; restocked by $1 units.
product() {
	local id
	id=$(curl -sf "$API/v1/stores/$STORE/products?limit=1" |
		sed -n 's/^{"data":\[{"id":"\([^"]*\)".*/\1/p')
	[ -n "$id" ] || { say "store $STORE has no product"; exit 1; }
	curl -sf -o /dev/null -X POST "$API/v1/stores/$STORE/products/$id/inventory" \
		-H "Authorization: Bearer $OP" -H "$J" -d "{\"delta\":$1,\"reason\":\"fault.sh restock\"}"
	echo "$id"
}

# One order of one unit of product $1, checked out with token $2; prints the checkout's status.
checkout() {
	local order
	order=$(curl -s -X POST "$API/v1/stores/$STORE/orders" -H "$J" \
		-d "{\"items\":[{\"product_id\":\"$1\",\"quantity\":1}],\"customer_email\":\"fault@example.com\"}" |
		sed -n 's/^{"id":"\([^"]*\)".*/\1/p')
	[ -n "$order" ] || { echo 000; return 0; }
	curl -s -o /dev/null -w '%{http_code}\n' -X POST "$API/v1/stores/$STORE/orders/$order/checkout" \
		-H "$J" -H "Idempotency-Key: fault-$order" -d "{\"payment_token\":\"$2\"}"
}

# checkouts N TOKEN: N checkouts, a summary of their statuses.
checkouts() {
	local p n=$1
	p=$(product "$n")
	for _ in $(seq "$n"); do checkout "$p" "$2"; done | sort | uniq -c |
		awk -v t="$2" '{printf "fault.sh: %s checkouts with %s answered %s\n", $1, t, $2}' >&2
}

open_faults() {
	curl -s "$API/v1/ops/faults?status=open" -H "Authorization: Bearer $OP"
}

# ---- worker processes ---------------------------------------------------------------------------

# The worker to freeze: make run's second worker (its pid in $state/worker2.pid) when it runs,
# so the first one keeps running events and the detector; otherwise the process listening on
# the worker metrics port (and a stand-in worker takes over detection, below).
worker_pid() {
	local port=${metrics##*:} pid
	if [ -s "$state/worker2.pid" ] && kill -0 "$(cat "$state/worker2.pid")" 2>/dev/null; then
		cat "$state/worker2.pid"
		return 0
	fi
	pid=$(ss -ltnpH "sport = :$port" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
	[ -n "$pid" ] || { say "no worker listens on $metrics (is make run up?)"; exit 1; }
	echo "$pid"
}

# A stand-in worker (its metrics on the next port), so that a detector keeps running while make
# run's worker is frozen. Its pid goes to $state/fault-worker.pid.
start_standin() {
	local port=$((${metrics##*:} + 2)) pid
	if [ -s "$state/worker.pid" ] && kill -0 "$(cat "$state/worker.pid")" 2>/dev/null &&
		[ -s "$state/worker2.pid" ]; then
		return 0 # make run's first worker is still running: it detects
	fi
	if [ -s "$state/fault-worker.pid" ] && kill -0 "$(cat "$state/fault-worker.pid")" 2>/dev/null; then
		return 0
	fi
	TERMINUS_DATABASE_URL=$(db_url) TERMINUS_METRICS_LISTEN="${metrics%:*}:$port" \
		setsid "$BIN/terminus-worker" 2>>"$state/fault-worker.log" &
	pid=$!
	echo "$pid" >"$state/fault-worker.pid"
	say "stand-in worker $pid started (log $state/fault-worker.log, metrics on port $port)"
}

stop_standin() {
	local pid
	[ -s "$state/fault-worker.pid" ] || return 0
	pid=$(cat "$state/fault-worker.pid")
	rm -f "$state/fault-worker.pid"
	if kill -TERM "$pid" 2>/dev/null; then
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		say "stand-in worker $pid stopped"
	fi
}

# Freezes make run's worker (SIGSTOP: it lives, holds what it holds, and says nothing).
freeze() {
	local pid
	pid=$(worker_pid)
	kill -STOP "$pid"
	echo "$pid" >"$state/fault-frozen.pid"
	say "worker $pid frozen (SIGSTOP)"
}

thaw() {
	local pid
	[ -s "$state/fault-frozen.pid" ] || return 0
	pid=$(cat "$state/fault-frozen.pid")
	rm -f "$state/fault-frozen.pid"
	kill -CONT "$pid" 2>/dev/null && say "worker $pid thawed (SIGCONT)"
	return 0
}

# ---- outbox_lag: a slow worker under load ---------------------------------------------------

# N checkouts, PAR at a time, in the background (bounded: it ends by itself); its pid in
# $state/fault-load.pid.
background_checkouts() {
	local p
	p=$(product "$1")
	(for _ in $(seq $(($1 / $2))); do
		for _ in $(seq "$2"); do checkout "$p" tok_visa >/dev/null & done
		wait
	done) >/dev/null 2>&1 &
	echo $! >"$state/fault-load.pid"
}

# ---- the rules ----------------------------------------------------------------------------------

case "$rule/$action" in
outbox_lag/on)
	# chaos.worker_slow stalls 500 ms per event: a worker thread handles two events a second,
	# and every checkout makes about four (its status changes and its capture).
	# Two workers of four threads drain about 16 events a second: the burst has to fill faster
	# than that for long enough (8 at a time only just kept up: the oldest event peaked at 35 s).
	flag chaos.worker_slow true
	background_checkouts "${FAULT_LAG_ORDERS:-480}" "${FAULT_LAG_PARALLEL:-16}"
	say "${FAULT_LAG_ORDERS:-480} checkouts are on their way; the backlog grows faster than the slowed workers drain it, and the fault opens once the oldest due event has waited ${TERMINUS_FAULT_LAG_S:-30} s"
	;;
outbox_lag/off)
	if [ -s "$state/fault-load.pid" ]; then
		kill "$(cat "$state/fault-load.pid")" 2>/dev/null || true
		rm -f "$state/fault-load.pid"
	fi
	flag chaos.worker_slow false
	say "the workers run at full speed again: the backlog drains and the fault resolves on the next tick"
	;;
dead_events/on)
	flag chaos.payment_capture_fail true
	checkouts 3 tok_visa
	say "each capture now fails and is retried; after TERMINUS_MAX_ATTEMPTS attempts the events die"
	;;
dead_events/off)
	flag chaos.payment_capture_fail false
	n=0
	for id in $(curl -s "$API/v1/stores/$STORE/events?status=dead&limit=100" -H "Authorization: Bearer $OP" |
		grep -o '"id":"[^"]*","type"' | cut -d'"' -f4); do
		curl -sf -o /dev/null -X POST "$API/v1/ops/dead-letters/$id/retry" -H "Authorization: Bearer $OP" &&
			n=$((n + 1))
	done
	say "$n dead events of $STORE sent back to the queue; the fault resolves on the next tick"
	;;
error_rate/on)
	# Captures that succeeded within the window count against the failing share: outnumber them.
	done=$(sql "SELECT count(*) FROM outbox_events e JOIN stores s ON s.id = e.store_id
	            WHERE s.slug = '$STORE' AND e.type = 'PaymentAuthorized' AND e.status = 'done'
	              AND e.done_at > now() - make_interval(secs => ${TERMINUS_FAULT_WINDOW_S:-300})")
	n=$((done + 2 > 12 ? done + 2 : 12))
	if [ "$n" -gt 100 ]; then
		say "$done captures of $STORE succeeded in the window: 100 failing ones will not outnumber them; wait for the window to pass, or use another STORE"
		n=100
	fi
	flag chaos.payment_capture_fail true
	checkouts "$n" tok_visa
	say "the captures fail and are retried: the PaymentAuthorized error share of $STORE is 100 %"
	;;
error_rate/off)
	flag chaos.payment_capture_fail false
	say "the next retries succeed; the fault resolves once failing events are under the threshold"
	;;
payment_failure_rate/on)
	# Successful captures within the window count against the declined share: outnumber them.
	done=$(sql "SELECT count(*) FROM outbox_events e JOIN stores s ON s.id = e.store_id
	            WHERE s.slug = '$STORE' AND e.type = 'PaymentAuthorized' AND e.status = 'done'
	              AND e.done_at > now() - make_interval(secs => ${TERMINUS_FAULT_WINDOW_S:-300})")
	pct=${TERMINUS_FAULT_PAYMENT_FAILURE_RATE:-30}
	n=$((done * pct / (100 - pct) + 2))
	n=$((n > 12 ? n : 12))
	if [ "$n" -gt 100 ]; then
		say "$done captures of $STORE succeeded in the window: 100 declines will not outnumber them; wait for the window to pass, or use another STORE"
		n=100
	fi
	checkouts "$n" tok_decline
	;;
payment_failure_rate/off)
	for i in $(seq 10); do
		open_faults | grep -q '"rule":"payment_failure_rate","store":"'"$STORE"'"' || break
		checkouts 10 tok_visa
		[ "$i" -lt 10 ] && sleep "$(((${TERMINUS_DETECT_INTERVAL_MS:-5000} + 999) / 1000 + 1))"
	done
	if open_faults | grep -q '"rule":"payment_failure_rate","store":"'"$STORE"'"'; then
		say "still open: declines count until they leave the window (TERMINUS_FAULT_WINDOW_S)"
	else
		say "the declined share of $STORE is under the threshold: resolved"
	fi
	;;
stuck_lease/on)
	pid=$(worker_pid)
	flag chaos.worker_slow true
	p=$(product 20)
	held=0
	for _ in $(seq 10); do
		for _ in 1 2 3 4; do checkout "$p" tok_visa >/dev/null & done
		wait
		for _ in $(seq 10); do
			held=$(sql "SELECT count(*) FROM outbox_events WHERE status = 'pending' AND claimed_until > now() + interval '20 s' AND claimed_by LIKE 'worker-%-$pid-t%'")
			[ "$held" -gt 0 ] && break
			sleep 0.05
		done
		[ "$held" -gt 0 ] && break
	done
	[ "$held" -gt 0 ] || { flag chaos.worker_slow false; say "the worker never held a lease; try again"; exit 1; }
	freeze
	flag chaos.worker_slow false
	start_standin
	say "$held events are leased to the frozen worker; stuck_lease opens after TERMINUS_FAULT_HEARTBEAT_S (15 s) and resolves when the leases lapse (30 s after the claim)"
	;;
stuck_lease/off | worker_heartbeat/off)
	thaw
	stop_standin
	;;
worker_heartbeat/on)
	freeze
	start_standin
	say "the running worker's detector opens worker_heartbeat after TERMINUS_FAULT_HEARTBEAT_S (15 s)"
	;;
invariant/on | invariant/off)
	check=${3:-all}
	case "$check" in
	all | stock_ledger | confirmed_one_capture | no_order_stuck) ;;
	stock_non_negative | one_live_payment)
		say "$check is also enforced by the schema (a CHECK / a unique index): see docs/runbooks/invariant.md"
		exit 2
		;;
	*) usage ;;
	esac
	mark=fault-plant@fault-sh.invalid
	if [ "$action" = off ]; then
		sql "DELETE FROM inventory_movements WHERE reason = 'fault.sh plant';
		     DELETE FROM orders WHERE customer_email = '$mark'"
		say "planted rows deleted; the invariant faults resolve on the next tick"
		exit 0
	fi
	store_id=$(sql "SELECT id FROM stores WHERE slug = '$STORE'")
	[ -n "$store_id" ] || { say "no store $STORE"; exit 1; }
	if [ "$check" = all ] || [ "$check" = stock_ledger ]; then
		sql "INSERT INTO inventory_movements (store_id, product_id, delta, reason)
		     SELECT store_id, product_id, 1, 'fault.sh plant' FROM inventory
		     WHERE store_id = '$store_id' ORDER BY product_id LIMIT 1"
	fi
	if [ "$check" = all ] || [ "$check" = confirmed_one_capture ]; then
		sql "INSERT INTO orders (id, store_id, status, customer_email, currency, total_cents)
		     SELECT gen_random_uuid(), id, 'confirmed', '$mark', currency, 0 FROM stores
		     WHERE id = '$store_id'"
	fi
	if [ "$check" = all ] || [ "$check" = no_order_stuck ]; then
		sql "INSERT INTO orders (id, store_id, status, customer_email, currency, total_cents,
		                         created_at, updated_at)
		     SELECT gen_random_uuid(), id, 'payment_authorized', '$mark', currency, 0,
		            now() - interval '1 day', now() - interval '1 day' FROM stores
		     WHERE id = '$store_id'"
	fi
	say "planted $check in $STORE; the audit reports it on the next tick"
	;;
*)
	usage
	;;
esac
