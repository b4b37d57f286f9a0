#!/usr/bin/env bash
# make bench — the checkout's throughput at three levels and the database's physical limit for
# a durable checkout, on one private PostgreSQL, with ratios.
#   bench/run.sh [BINDIR]        (make bench builds the release binaries into bin/ first)
#
#   (b) the API: terminus-load checkout (closed loop) against one terminus-api it starts, with
#       one terminus-worker, first with every checkout synchronous, then asynchronous; each run
#       ends with the drain and the invariant checker;
#   (c) the worker: bench/drain.sh, a backlog of PaymentAuthorized events drained by 1, then 2
#       worker processes;
#   (a) the database's ceiling: pgbench -M prepared running `terminus-api pgbench-script` (the
#       very statements of one asynchronous checkout) on a store's pending orders, for a few
#       client counts; the best is the ceiling. Run after (b) and (c), when no worker is left to
#       take its PaymentAuthorized events;
#   (L) the physical limit: pgbench -M prepared, the same client counts, on the least a durable
#       checkout can be — bench/limit.sql's bench_limit.limit_checkout(), five writes in one
#       function call, one round trip and one commit — over 1,000 products (the limit) and over
#       one hot product; its schema is created for the run and dropped after it.
# Prints a table with every figure as a ratio to the limit and to (a), and the issue's goals
# (targets, not asserts), and writes bench/results/<UTC date-time>.json. Everything it
# starts (cluster, API, workers) is stopped and its temporary directory removed when it ends,
# also on Ctrl-C or a failure. Exit status: 0 when every figure was measured and every check held.
#
# Knobs (environment): BENCH_API_ORDERS (10000 per API run), BENCH_API_SECONDS (20: an API run
# stops starting checkouts after this), BENCH_API_CONCURRENCY (16), BENCH_PG_CLIENTS ("8 16"),
# BENCH_PG_SECONDS (10; also each run of the limit), BENCH_DRAIN_EVENTS (10000),
# BENCH_DRAIN_THREADS (4), BENCH_RESULTS (bench/results), BENCH_ONLY (the parts to run, of
# "api drain pgbench limit", all by default; e.g. BENCH_ONLY=limit BENCH_PG_SECONDS=3 while
# working on the limit: the parts left out are "not run" in the table, not problems).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
bindir=$(cd "${1:-bin}" 2>/dev/null && pwd) || {
	echo "bench/run.sh: no such directory: ${1:-bin}" >&2
	exit 2
}
for b in terminus-api terminus-worker terminus-load; do
	[ -x "$bindir/$b" ] || {
		echo "bench/run.sh: $bindir/$b is missing (make builds it)" >&2
		exit 2
	}
done
for c in pgbench psql jq bc; do
	command -v "$c" >/dev/null || {
		echo "bench/run.sh: $c is missing (scripts/deps.sh installs it)" >&2
		exit 2
	}
done

API_ORDERS=${BENCH_API_ORDERS:-10000}
API_SECONDS=${BENCH_API_SECONDS:-20}
API_CONCURRENCY=${BENCH_API_CONCURRENCY:-16}
PG_CLIENTS=${BENCH_PG_CLIENTS:-8 16}
PG_SECONDS=${BENCH_PG_SECONDS:-10}
DRAIN_EVENTS=${BENCH_DRAIN_EVENTS:-10000}
DRAIN_THREADS=${BENCH_DRAIN_THREADS:-4}
RESULTS=${BENCH_RESULTS:-$root/bench/results}
ONLY=${BENCH_ONLY:-api drain pgbench limit}
ONLY=" ${ONLY//,/ } "
for part in $ONLY; do
	case $part in
	api | drain | pgbench | limit) ;;
	*)
		echo "bench/run.sh: BENCH_ONLY: no such part: $part (api drain pgbench limit)" >&2
		exit 2
		;;
	esac
done
wants() { [[ $ONLY == *" $1 "* ]]; }
# The API runs load one store from few clients as fast as they go: the per-client limits (50/s
# per address by default) would measure the limit, not the API. terminus-load passes these to
# the API it starts.
export TERMINUS_CLIENT_RATE_LIMIT=0
export TERMINUS_KEY_RATE_LIMIT=0

stamp=$(date -u +%Y-%m-%dT%H-%M-%SZ)
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t_begin=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/terminus-bench.XXXXXX")
chmod 755 "$tmp" # the cluster belongs to 'postgres' when we run as root
pgdir="$tmp/pg"
child=

# Whatever happens: stop the child that is running (terminus-load stops its API and workers,
# drain.sh its workers), the cluster, and remove the directory.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
		kill -TERM "$child" 2>/dev/null || true
		for _ in $(seq 1 150); do # 15 s, then SIGKILL (its own children die with it)
			kill -0 "$child" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	scripts/pg.sh stop "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$tmp"
	[ "$rc" -ne 0 ] && echo "make bench: exit status $rc" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "make bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# run CMD...: in the background, so a signal reaches the traps at once (the trap then stops it:
# a background child of a script does not get the terminal's SIGINT unless it asks for it);
# returns its status.
run() {
	local st=0
	"$@" &
	child=$!
	wait "$child" || st=$?
	child=
	return "$st"
}

problems=()
problem() {
	problems+=("$1")
	echo "PROBLEM: $1" >&2
}
say() { printf '\n== %s (%d s)\n' "$1" "$((SECONDS - t_begin))"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---- the cluster -------------------------------------------------------------------------------

say "private PostgreSQL in $pgdir"
db=$(scripts/pg.sh start "$pgdir")
psql() { command psql "$db" -qAtX -v ON_ERROR_STOP=1 "$@"; }
TERMINUS_DATABASE_URL=$db TERMINUS_LOG_LEVEL=warn "$bindir/terminus-api" migrate
pg_version=$(psql -c "SHOW server_version")
load_start=$(loadavg)
echo "PostgreSQL $pg_version; load average $load_start"

# ---- (b) the API ---------------------------------------------------------------------------------

# api PATH: one terminus-load checkout run; its JSON report in $tmp/api-PATH.json.
api() {
	local path=$1 st=0
	say "(b) API, $path checkouts: $API_ORDERS orders, concurrency $API_CONCURRENCY, at most ${API_SECONDS}s"
	psql -c CHECKPOINT
	run "$bindir/terminus-load" checkout --db "$db" --bin "$bindir" --apis 1 --workers 1 \
		--log-dir "$tmp/logs-$path" --path "$path" --orders "$API_ORDERS" \
		--concurrency "$API_CONCURRENCY" --duration "${API_SECONDS}s" --drain-timeout 240s \
		--quiet --json "$tmp/api-$path.json" || st=$?
	if [ "$st" -ne 0 ] || [ ! -s "$tmp/api-$path.json" ]; then
		problem "API $path run: terminus-load exit status $st"
		tail -n 20 "$tmp/logs-$path"/*.log 2>/dev/null || true
		[ -s "$tmp/api-$path.json" ] || echo '{}' >"$tmp/api-$path.json"
	fi
}
mkdir -p "$tmp/logs-sync" "$tmp/logs-async"
if wants api; then
	api sync
	api async
else
	echo '{}' >"$tmp/api-sync.json"
	echo '{}' >"$tmp/api-async.json"
fi

# ---- (c) the worker ------------------------------------------------------------------------------

# drain P: bench/drain.sh with P worker processes; its output in $tmp/drain-P.txt.
drain() {
	local procs=$1 st=0
	say "(c) drain: $DRAIN_EVENTS events, $procs worker process(es) x $DRAIN_THREADS threads"
	psql -c CHECKPOINT
	run bench/drain.sh "$db" "$bindir" "$DRAIN_EVENTS" "$procs" "$DRAIN_THREADS" \
		>"$tmp/drain-$procs.txt" 2>&1 || st=$?
	cat "$tmp/drain-$procs.txt"
	if [ "$st" -ne 0 ]; then
		problem "drain with $procs worker(s): exit status $st"
	elif ! grep -Eq "^check: done ([0-9]+) of \1, confirmed $DRAIN_EVENTS, captured $DRAIN_EVENTS$" \
		"$tmp/drain-$procs.txt"; then
		problem "drain with $procs worker(s): not every event done and order confirmed"
	fi
}
if wants drain; then
	drain 1
	drain 2
else
	: >"$tmp/drain-1.txt"
	: >"$tmp/drain-2.txt"
fi
drain_rate() { sed -n 's/.*events\/s \([0-9.]*\).*/\1/p' "$tmp/drain-$1.txt" | tail -n 1; }

# ---- (a) the database's ceiling ----------------------------------------------------------------

# pending_store N: a new store with N pending orders (64 products, as the API runs), made by
# terminus-load checkout --prepare-only; prints its slug.
pending_store() {
	local st=0
	run "$bindir/terminus-load" checkout --prepare-only --db "$db" --bin "$bindir" --apis 1 \
		--log-dir "$tmp/logs-pgbench" --orders "$1" --quiet --json "$tmp/prep.json" \
		>"$tmp/prep.txt" 2>&1 || st=$?
	if [ "$st" -ne 0 ]; then
		cat "$tmp/prep.txt" >&2
		return 1
	fi
	jq -r '.store_setup[0].slug' "$tmp/prep.json"
}

# pgbench_table SLUG: fills pgbench_checkout from the store's pending orders (the script's own
# setup SQL); prints how many rows.
pgbench_table() {
	local dup
	psql -v store="$1" -f "$tmp/pgbench-setup.sql" >/dev/null 2>"$tmp/setup.err" || {
		cat "$tmp/setup.err" >&2
		return 1
	}
	# Each row must carry its own payment and event ids: a checkout inserts both.
	dup=$(psql -c "SELECT count(*) - count(DISTINCT payment_id) FROM pgbench_checkout")
	if [ "$dup" != 0 ]; then
		echo "make bench: pgbench-script setup gave $dup rows a shared payment_id" >&2
		return 1
	fi
	psql -c "ANALYZE pgbench_checkout" >/dev/null
	psql -c "SELECT count(*) FROM pgbench_checkout"
}

# pgbench_run OUT ARGS...: pgbench on the script; its output in OUT.
pgbench_run() {
	local out=$1 st=0
	shift
	run pgbench "$db" -n -M prepared -f "$tmp/pgbench.sql" "$@" >"$out" 2>&1 || st=$?
	if [ "$st" -ne 0 ] || grep -q "aborted" "$out"; then
		cat "$out" >&2
		return 1
	fi
}
tps_of() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$1"; }
lat_of() { sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$1"; }

pg_status=missing
pg_runs='[]'
pg_ceiling=
pg_best_clients=
if ! wants pgbench; then
	pg_status=skipped
elif ! "$bindir/terminus-api" pgbench-script >"$tmp/pgbench.sql" 2>"$tmp/pgbench.err" ||
	! grep -q . "$tmp/pgbench.sql" ||
	! "$bindir/terminus-api" pgbench-script setup >"$tmp/pgbench-setup.sql" 2>>"$tmp/pgbench.err" ||
	! grep -q pgbench_checkout "$tmp/pgbench-setup.sql"; then
	say "(a) pgbench ceiling"
	echo "pgbench ceiling: not measured — terminus-api pgbench-script is missing"
	problem "pgbench ceiling not measured: terminus-api pgbench-script is missing"
else
	pg_status=measured
	mkdir -p "$tmp/logs-pgbench"
	# Calibrate: a fixed number of transactions (8 clients) gives the rate that sizes each timed
	# run's supply of pending orders (a run that exhausts it would abort).
	say "(a) pgbench: calibration (8 clients x 300 transactions)"
	if slug=$(pending_store 2600) && pgbench_table "$slug" >/dev/null &&
		pgbench_run "$tmp/pgbench-cal.txt" -c 8 -j 2 -t 300; then
		cal=$(tps_of "$tmp/pgbench-cal.txt")
		echo "about ${cal%.*} tx/s"
	else
		cal=3000
		problem "pgbench calibration failed (see above)"
		pg_status=failed
	fi
	for c in $PG_CLIENTS; do
		[ "$pg_status" = measured ] || break
		need=$(echo "n = $cal * 2.5 * $PG_SECONDS + 2000; if (n > 400000) n = 400000; scale = 0; n / 1" | bc)
		say "(a) pgbench: $c clients, ${PG_SECONDS}s, -M prepared ($need pending orders)"
		if ! slug=$(pending_store "$need") || ! rows=$(pgbench_table "$slug"); then
			problem "pgbench with $c clients: could not prepare the orders"
			pg_status=failed
			break
		fi
		psql -c CHECKPOINT
		if ! pgbench_run "$tmp/pgbench-$c.txt" -c "$c" -j "$((c < 2 ? c : 2))" -T "$PG_SECONDS"; then
			problem "pgbench with $c clients failed or ran out of its $rows orders (see above)"
			pg_status=failed
			break
		fi
		grep -E "^(number of (transactions actually processed|failed)|latency average|tps)" "$tmp/pgbench-$c.txt"
		tps=$(tps_of "$tmp/pgbench-$c.txt")
		lat=$(lat_of "$tmp/pgbench-$c.txt")
		failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/pgbench-$c.txt")
		pg_runs=$(jq -c --argjson c "$c" --argjson s "$PG_SECONDS" --argjson tps "$tps" \
			--argjson lat "${lat:-null}" --argjson f "${failed:-0}" --argjson rows "$rows" \
			'. + [{clients: $c, seconds: $s, tps: $tps, latency_avg_ms: $lat,
			       failed_transactions: $f, pending_orders: $rows}]' <<<"$pg_runs")
	done
	if [ "$pg_status" = measured ]; then
		pg_ceiling=$(jq '[.[].tps] | max' <<<"$pg_runs")
		pg_best_clients=$(jq '(max_by(.tps)).clients' <<<"$pg_runs")
	fi
fi

# ---- (L) the physical limit ---------------------------------------------------------------------

# bench/limit.sql makes schema bench_limit: minimal tables of the same shape as Terminus's and
# bench_limit.limit_checkout(), one durable checkout in one call; bench/limit.pgbench calls it with
# a fresh random key and a product drawn from the first N. The limit is the best tx/s over
# LIMIT_PRODUCTS products (no hot row); the same runs on product 1 alone are the hot-row case.
LIMIT_STORE=5e1f0000-0000-4000-8000-000000000001 # the limit's one store: any uuid
LIMIT_PRODUCTS=1000
limit_status=skipped
limit_runs='[]'
limit_tps=
limit_best_clients=
limit_hot_tps=
if wants limit; then
	limit_status=measured
	say "(L) limit: bench/limit.sql, schema bench_limit, $LIMIT_PRODUCTS products"
	if ! psql -v store="$LIMIT_STORE" -v products="$LIMIT_PRODUCTS" -f bench/limit.sql \
		>/dev/null 2>"$tmp/limit.err"; then
		cat "$tmp/limit.err" >&2
		problem "limit not measured: bench/limit.sql failed"
		limit_status=failed
	fi
	for products in "$LIMIT_PRODUCTS" 1; do
		for c in $PG_CLIENTS; do
			[ "$limit_status" = measured ] || break 2
			say "(L) limit: $c clients, $products product(s), ${PG_SECONDS}s, -M prepared"
			psql -c CHECKPOINT
			lim="$tmp/limit-$products-$c.txt"
			st=0
			run pgbench "$db" -n -M prepared -f bench/limit.pgbench -D store="$LIMIT_STORE" \
				-D products="$products" -c "$c" -j "$((c < 2 ? c : 2))" -T "$PG_SECONDS" \
				>"$lim" 2>&1 || st=$?
			if [ "$st" -ne 0 ] || grep -q "aborted" "$lim"; then
				cat "$lim" >&2
				problem "limit with $c clients, $products product(s): pgbench failed (see above)"
				limit_status=failed
				break 2
			fi
			grep -E "^(number of (transactions actually processed|failed)|latency average|tps)" "$lim"
			failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$lim")
			limit_runs=$(jq -c --argjson c "$c" --argjson p "$products" --argjson s "$PG_SECONDS" \
				--argjson tps "$(tps_of "$lim")" --argjson lat "$(lat_of "$lim" | grep . || echo null)" \
				--argjson f "${failed:-0}" \
				'. + [{products: $p, clients: $c, seconds: $s, tps: $tps, latency_avg_ms: $lat,
				       failed_transactions: $f}]' <<<"$limit_runs")
		done
	done
	psql -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS bench_limit CASCADE" || problem "limit: could not drop schema bench_limit"
	if [ "$limit_status" = measured ]; then
		limit_tps=$(jq --argjson p "$LIMIT_PRODUCTS" '[.[] | select(.products == $p) | .tps] | max' <<<"$limit_runs")
		limit_best_clients=$(jq --argjson p "$LIMIT_PRODUCTS" \
			'[.[] | select(.products == $p)] | max_by(.tps) | .clients' <<<"$limit_runs")
		limit_hot_tps=$(jq '[.[] | select(.products == 1) | .tps] | max' <<<"$limit_runs")
	fi
fi

# ---- table and JSON ----------------------------------------------------------------------------

load_end=$(loadavg)
num() { jq -r "$1 // empty" "$2"; }
sync_rate=$(num '.counts.checkouts_per_s' "$tmp/api-sync.json")
async_rate=$(num '.counts.checkouts_per_s' "$tmp/api-async.json")
d1=$(drain_rate 1)
d2=$(drain_rate 2)
for p in sync async; do
	wants api || continue
	[ "$(num '.check.ok' "$tmp/api-$p.json")" = true ] ||
		problem "API $p run: the invariant check did not pass"
done
# ratio A B: A / B to 2 decimals, or "n/a" when either is missing.
ratio() {
	if [ -n "$1" ] && [ -n "$2" ] && [ "$(echo "$2 > 0" | bc)" = 1 ]; then
		printf '%.2f' "$(echo "scale=6; $1 / $2" | bc)"
	else
		echo n/a
	fi
}
r_sync_pg=$(ratio "$sync_rate" "$pg_ceiling")
r_async_pg=$(ratio "$async_rate" "$pg_ceiling")
r_async_sync=$(ratio "$async_rate" "$sync_rate")
r_drain=$(ratio "$d2" "$d1")
r_d1_pg=$(ratio "$d1" "$pg_ceiling")
r_d2_pg=$(ratio "$d2" "$pg_ceiling")
# Every figure against the limit (L). A drained event is the second half of an asynchronous
# checkout, so drain ÷ limit compares checkouts finished with checkouts the database could start.
r_pg_lim=$(ratio "$pg_ceiling" "$limit_tps")
r_sync_lim=$(ratio "$sync_rate" "$limit_tps")
r_async_lim=$(ratio "$async_rate" "$limit_tps")
r_d1_lim=$(ratio "$d1" "$limit_tps")
r_d2_lim=$(ratio "$d2" "$limit_tps")
# The issue's goals ("Checkout at the speed of the database"), printed as targets, never asserted.
GOAL_ASYNC=0.5 GOAL_SYNC=0.25 GOAL_DRAIN=8000
goal_async=''
goal_sync=''
if [ -n "$limit_tps" ]; then
	goal_async=$(echo "$GOAL_ASYNC * $limit_tps" | bc)
	goal_sync=$(echo "$GOAL_SYNC * $limit_tps" | bc)
fi
# met NOW TARGET: met / not met, or n/a when either is missing.
met() {
	if [ -z "$1" ] || [ -z "$2" ]; then
		echo n/a
	elif [ "$(echo "$1 >= $2" | bc)" = 1 ]; then
		echo met
	else
		echo "not met"
	fi
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=false
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && dirty=true
fmt() { [ -n "$1" ] && printf "%.0f" "$1" || echo "n/a"; }
lat_ms() { jq -r ".ops.checkout.latency_ms.$1 // empty" "$2" | xargs -r printf '%.1f'; }

{
	echo
	echo "Terminus make bench — $started_at, $(nproc) CPUs ($cpu_model), PostgreSQL $pg_version"
	echo "commit ${commit:0:12}$($dirty && echo ' + local changes'), load average $load_start at the start, $load_end at the end"
	echo
	printf '  %-48s %14s  %s\n' "measure" "per second" "detail"
	best_of() { jq -r --argjson p "$1" '[.[] | select(.products == $p)] |
		map("\(.clients) clients \(.tps | floor)") | join(", ")' <<<"$limit_runs"; }
	if [ -n "$limit_tps" ]; then
		printf '  %-48s %14s  %s\n' "(L) limit: checkout function, -M prepared" \
			"$(fmt "$limit_tps") tx" "best of $(best_of "$LIMIT_PRODUCTS"); $LIMIT_PRODUCTS products"
		printf '  %-48s %14s  %s\n' "(L) the same, one hot product" \
			"$(fmt "$limit_hot_tps") tx" "best of $(best_of 1)"
	else
		printf '  %-48s %14s\n' "(L) limit" "$([ "$limit_status" = skipped ] && echo 'not run' || echo 'failed')"
	fi
	if [ -n "$pg_ceiling" ]; then
		printf '  %-48s %14s  %s\n' "(a) pgbench ceiling, checkout SQL, -M prepared" \
			"$(fmt "$pg_ceiling") tx" \
			"best of $(jq -r 'map("\(.clients) clients \(.tps | floor)") | join(", ")' <<<"$pg_runs")"
	else
		case $pg_status in
		skipped) printf '  %-48s %14s\n' "(a) pgbench ceiling" "not run" ;;
		missing) printf '  %-48s %14s  %s\n' "(a) pgbench ceiling" "not measured" \
			"terminus-api pgbench-script is missing" ;;
		*) printf '  %-48s %14s  %s\n' "(a) pgbench ceiling" "not measured" "failed" ;;
		esac
	fi
	for p in sync async; do
		if ! wants api; then
			printf '  %-48s %14s\n' "(b) API $p checkouts" "not run"
			continue
		fi
		printf '  %-48s %14s  %s\n' "(b) API $p checkouts, concurrency $API_CONCURRENCY" \
			"$(fmt "$(num '.counts.checkouts_per_s' "$tmp/api-$p.json")")" \
			"p50 $(lat_ms p50 "$tmp/api-$p.json") ms, p99 $(lat_ms p99 "$tmp/api-$p.json") ms, $(num '.counts.checkouts_acked' "$tmp/api-$p.json") checkouts, drain after $(num '.check.drain.seconds' "$tmp/api-$p.json" | xargs -r printf '%.1f') s"
	done
	if wants drain; then
		printf '  %-48s %14s  %s\n' "(c) drain, 1 worker x $DRAIN_THREADS threads" "$(fmt "$d1") events" "$DRAIN_EVENTS events"
		printf '  %-48s %14s  %s\n' "(c) drain, 2 workers x $DRAIN_THREADS threads" "$(fmt "$d2") events" "$DRAIN_EVENTS events"
	else
		printf '  %-48s %14s\n' "(c) drain" "not run"
	fi
	echo
	# (÷ and ≥ are 2 and 3 bytes wide in UTF-8, one column on screen: printf counts bytes.)
	printf '  %-48s %15s %11s\n' "ratio" "÷ limit" "÷ pgbench"
	printf '  %-48s %14s %10s\n' "(a) pgbench ceiling" "$r_pg_lim" "$([ -n "$pg_ceiling" ] && echo 1.00 || echo n/a)"
	printf '  %-48s %14s %10s\n' "(b) API sync checkouts" "$r_sync_lim" "$r_sync_pg"
	printf '  %-48s %14s %10s\n' "(b) API async checkouts" "$r_async_lim" "$r_async_pg"
	printf '  %-48s %14s %10s\n' "(c) drain, 1 worker (events)" "$r_d1_lim" "$r_d1_pg"
	printf '  %-48s %14s %10s\n' "(c) drain, 2 workers (events)" "$r_d2_lim" "$r_d2_pg"
	printf '  %-49s %14s\n' "async ÷ sync" "$r_async_sync"
	printf '  %-49s %14s\n' "drain: 2 workers ÷ 1" "$r_drain"
	echo
	printf '  %-48s %14s %10s  %s\n' "goals of the issue (targets, not asserts)" "target /s" "now /s" ""
	printf '  %-51s %14s %10s  %s\n' "API async ≥ $GOAL_ASYNC × limit" "$(fmt "$goal_async")" "$(fmt "$async_rate")" "$(met "$async_rate" "$goal_async")"
	printf '  %-51s %14s %10s  %s\n' "API sync ≥ $GOAL_SYNC × limit" "$(fmt "$goal_sync")" "$(fmt "$sync_rate")" "$(met "$sync_rate" "$goal_sync")"
	printf '  %-50s %14s %10s  %s\n' "drain ≥ $GOAL_DRAIN events/s, one worker process" "$GOAL_DRAIN" "$(fmt "$d1")" "$(met "$d1" "$GOAL_DRAIN")"
} | tee "$tmp/table.txt"

mkdir -p "$RESULTS"
out="$RESULTS/$stamp.json"
problems_json=$(printf '%s\n' "${problems[@]+"${problems[@]}"}" | jq -R . | jq -sc 'map(select(length > 0))')
api_json() {
	jq -c '{checkouts_per_s: .counts.checkouts_per_s, checkouts_acked: .counts.checkouts_acked,
	        orders_prepared: .counts.orders_prepared, load_s: .counts.load_s,
	        creation_events_drained_s: .counts.settle_s,
	        creation_events_left: .counts.settle_pending_left,
	        latency_ms: .ops.checkout.latency_ms, status: .status, errors: .requests.errors,
	        retries: .counts.retries, drain_s: .check.drain.seconds,
	        invariants_ok: .check.ok, exit_status: .exit_status}' "$1" 2>/dev/null || echo null
}
drain_json() {
	local f="$tmp/drain-$1.txt"
	jq -n --argjson p "$1" --argjson t "$DRAIN_THREADS" --argjson n "$DRAIN_EVENTS" \
		--arg rate "$(drain_rate "$1")" \
		--arg secs "$(sed -n 's/.*seconds \([0-9.]*\).*/\1/p' "$f" | tail -n 1)" \
		--arg check "$(grep '^check:' "$f" | tail -n 1)" \
		'{processes: $p, threads: $t, events: $n,
		  events_per_s: ($rate | tonumber? // null), seconds: ($secs | tonumber? // null),
		  check: $check}'
}
jq -n \
	--arg date "$started_at" --arg commit "$commit" --argjson dirty "$dirty" \
	--argjson nproc "$(nproc)" --arg cpu "$cpu_model" --arg kernel "$(uname -r)" \
	--arg pg "$pg_version" --arg la0 "$load_start" --arg la1 "$load_end" \
	--argjson mem_kb "$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)" \
	--arg pg_status "$pg_status" --argjson pg_runs "$pg_runs" \
	--argjson pg_ceiling "${pg_ceiling:-null}" --argjson pg_best "${pg_best_clients:-null}" \
	--argjson sync "$(api_json "$tmp/api-sync.json")" \
	--argjson async "$(api_json "$tmp/api-async.json")" \
	--argjson d1 "$(drain_json 1)" --argjson d2 "$(drain_json 2)" \
	--arg r1 "$r_sync_pg" --arg r2 "$r_async_pg" --arg r3 "$r_async_sync" --arg r4 "$r_drain" \
	--arg r5 "$r_d1_pg" --arg r6 "$r_d2_pg" \
	--arg l_status "$limit_status" --argjson l_runs "$limit_runs" \
	--argjson l_tps "${limit_tps:-null}" --argjson l_best "${limit_best_clients:-null}" \
	--argjson l_hot "${limit_hot_tps:-null}" --argjson l_products "$LIMIT_PRODUCTS" \
	--arg l1 "$r_pg_lim" --arg l2 "$r_sync_lim" --arg l3 "$r_async_lim" --arg l4 "$r_d1_lim" \
	--arg l5 "$r_d2_lim" --arg g_async "$GOAL_ASYNC" --arg g_sync "$GOAL_SYNC" \
	--arg g_drain "$GOAL_DRAIN" --arg goal_async "$goal_async" --arg goal_sync "$goal_sync" \
	--arg sync_rate "$sync_rate" --arg async_rate "$async_rate" --arg d1_rate "$d1" \
	--arg only "$ONLY" \
	--argjson api_orders "$API_ORDERS" --argjson api_secs "$API_SECONDS" \
	--argjson api_conc "$API_CONCURRENCY" --arg pg_clients "$PG_CLIENTS" \
	--argjson pg_secs "$PG_SECONDS" --argjson seconds "$((SECONDS - t_begin))" \
	--argjson problems "$problems_json" --arg table "$(cat "$tmp/table.txt")" \
	'def r: tonumber? // null;
	 def by_clients($p): [$l_runs[] | select(.products == $p) | {key: (.clients | tostring), value: .tps}]
	                     | from_entries;
	 def goal($now; $target): {target_per_s: ($target | r), per_s: ($now | r),
	                           met: (if ($now | r) == null or ($target | r) == null then null
	                                 else ($now | r) >= ($target | r) end)};
	{date: $date, seconds: $seconds,
	 machine: {nproc: $nproc, cpu_model: $cpu, mem_total_kb: $mem_kb, kernel: $kernel,
	           loadavg_start: $la0, loadavg_end: $la1},
	 postgresql: $pg, git: {commit: $commit, local_changes: $dirty},
	 config: {api_orders: $api_orders, api_max_seconds: $api_secs, api_concurrency: $api_conc,
	          api_processes: 1, api_workers: 1, products: 64,
	          pgbench_clients: ($pg_clients | split(" ") | map(select(length > 0) | tonumber)),
	          pgbench_seconds: $pg_secs,
	          parts: ($only | split(" ") | map(select(length > 0)))},
	 limit: {status: $l_status, function: "bench_limit.limit_checkout", sql: "bench/limit.sql",
	         products: $l_products, tps: $l_tps, best_clients: $l_best,
	         tps_by_clients: by_clients($l_products),
	         hot_product: {products: 1, tps: $l_hot, tps_by_clients: by_clients(1)},
	         runs: $l_runs,
	         ratios_to_limit: {pgbench_ceiling: ($l1 | r), api_sync: ($l2 | r),
	                           api_async: ($l3 | r), drain_1: ($l4 | r), drain_2: ($l5 | r)},
	         goals: {api_async: ({ratio_to_limit: ($g_async | r)} + goal($async_rate; $goal_async)),
	                 api_sync: ({ratio_to_limit: ($g_sync | r)} + goal($sync_rate; $goal_sync)),
	                 drain_1: goal($d1_rate; $g_drain)}},
	 pgbench: {status: $pg_status, ceiling_tps: $pg_ceiling, best_clients: $pg_best,
	           runs: $pg_runs},
	 api: {sync: $sync, async: $async},
	 drain: {"1": $d1, "2": $d2},
	 ratios: {api_sync_over_pgbench: ($r1 | r), api_async_over_pgbench: ($r2 | r),
	          async_over_sync: ($r3 | r), drain_2_over_1: ($r4 | r),
	          drain_1_over_pgbench: ($r5 | r), drain_2_over_pgbench: ($r6 | r)},
	 problems: $problems, ok: ($problems | length == 0), table: $table}' >"$out"
echo
echo "wrote ${out#"$root"/} ($((SECONDS - t_begin)) s)"
if [ ${#problems[@]} -gt 0 ]; then
	echo "make bench: ${#problems[@]} problem(s):" >&2
	printf '  - %s\n' "${problems[@]}" >&2
	exit 1
fi
