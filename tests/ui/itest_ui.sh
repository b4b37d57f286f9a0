#!/usr/bin/env bash
# itest_ui — the demo UI's browser tests (frontend/e2e/, Playwright driving Debian's Chromium).
#
# Run by tests/run.sh like every suite: it is given a migrated database and a running
# terminus-api (TERMINUS_TEST_*). This script adds what the UI needs: the demo stores, one
# terminus-worker (quick retries, so a failing capture dies in about a second, and a fault
# detector that looks twice a second) and the UI server
# on a free port; then runs the Playwright tests and stops what it started.
set -euo pipefail
: "${TERMINUS_TEST_API:?} ${TERMINUS_TEST_DB:?} ${TERMINUS_TEST_OPERATOR_KEY:?} ${TERMINUS_TEST_BIN:?}"
root=${TERMINUS_TEST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
logdir=$(dirname "${TERMINUS_TEST_LOG:-/tmp/x}")
ui_dir="$root/frontend"
export NEXT_TELEMETRY_DISABLED=1

for need in "$ui_dir/.next/BUILD_ID" "$ui_dir/node_modules/@playwright/test" "${CHROMIUM:-/usr/bin/chromium}"; do
	if [ ! -e "$need" ]; then
		echo "itest_ui: missing $need (make ui builds the UI; scripts/deps.sh installs chromium)" >&2
		exit 1
	fi
done

pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() {
	local port
	for _ in $(seq 1 50); do
		# Below the kernel's ephemeral range (32768-60999 here), where a client socket can hold
		# a port nothing listens on, and apart from tests/run.sh's APIs (20000-29999).
		port=$(((RANDOM % 4000) + 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || {
			echo "$port"
			return 0
		}
	done
	return 1
}

# Polls URL until it answers 200, the process PID dies, or 60 s pass.
wait_http() {
	local url=$1 pid=$2 deadline=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$deadline" ]; do
		kill -0 "$pid" 2>/dev/null || return 1
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)" = 200 ] && return 0
		sleep 0.2
	done
	return 1
}

TERMINUS_DATABASE_URL="$TERMINUS_TEST_DB" "$TERMINUS_TEST_BIN/terminus-api" seed-demo >/dev/null

metrics_port=$(free_port) || { echo "itest_ui: no free port for the worker's metrics" >&2; exit 1; }
TERMINUS_DATABASE_URL="$TERMINUS_TEST_DB" TERMINUS_METRICS_LISTEN="127.0.0.1:$metrics_port" \
	TERMINUS_RETRY_BASE_MS=200 TERMINUS_MAX_ATTEMPTS=3 TERMINUS_DETECT_INTERVAL_MS=500 TERMINUS_LOG_LEVEL=info \
	"$TERMINUS_TEST_BIN/terminus-worker" 2>"$logdir/itest_ui.worker.log" &
pids+=($!)

ui_port=$(free_port) || { echo "itest_ui: no free port for the UI" >&2; exit 1; }
(cd "$ui_dir" && TERMINUS_API_URL="$TERMINUS_TEST_API" TERMINUS_OPERATOR_KEY="$TERMINUS_TEST_OPERATOR_KEY" \
	TERMINUS_UI_LISTEN="127.0.0.1:$ui_port" exec node scripts/start.mjs) >"$logdir/itest_ui.ui.log" 2>&1 &
pids+=($!)
if ! wait_http "http://127.0.0.1:$ui_port/" "${pids[1]}"; then
	echo "itest_ui: the UI server did not start; its log:" >&2
	cat "$logdir/itest_ui.ui.log" >&2
	exit 1
fi

if ! wait_http "http://127.0.0.1:$metrics_port/metrics" "${pids[0]}"; then
	echo "itest_ui: the worker did not answer on :$metrics_port ($(curl -s -o /dev/null -w "%{http_code}" --max-time 2 "http://127.0.0.1:$metrics_port/metrics" || true)); its log:" >&2
	cat "$logdir/itest_ui.worker.log" >&2
	exit 1
fi

st=0
(cd "$ui_dir" && TERMINUS_UI_URL="http://127.0.0.1:$ui_port" exec node_modules/.bin/playwright test) || st=$?
if [ "$st" -ne 0 ]; then
	echo "---- worker log (tail) ----" >&2
	tail -n 30 "$logdir/itest_ui.worker.log" >&2 || true
	echo "---- UI server log (tail) ----" >&2
	tail -n 30 "$logdir/itest_ui.ui.log" >&2 || true
fi
exit "$st"
