#!/usr/bin/env bash
# make run: a private PostgreSQL under .terminus/ (unless TERMINUS_DATABASE_URL is set),
# migrations, demo data, the API and two workers. Ctrl-C stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
state=.terminus
mkdir -p "$state"

own_pg=0
if [ -z "${TERMINUS_DATABASE_URL:-}" ]; then
	export TERMINUS_DATABASE_URL=$(scripts/pg.sh start "$state/pg")
	own_pg=1
fi
if [ -z "${TERMINUS_OPERATOR_KEY:-}" ]; then
	[ -s "$state/operator_key" ] ||
		head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/operator_key"
	export TERMINUS_OPERATOR_KEY="op_$(cat "$state/operator_key")"
fi
export TERMINUS_LISTEN=${TERMINUS_LISTEN:-127.0.0.1:8080}

api_pid=
worker_pids=()
# Ctrl-C / SIGTERM: a clean stop, exit 0. Reaching EXIT otherwise means a process died: exit 1.
stop() {
	local rc=$1
	trap - INT TERM EXIT
	echo
	echo "stopping..."
	[ -n "$api_pid" ] && kill -TERM "$api_pid" 2>/dev/null || true
	for pid in "${worker_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "$own_pg" = 1 ] && scripts/pg.sh stop "$state/pg"
	echo "stopped."
	exit "$rc"
}
trap 'stop 0' INT TERM
trap 'stop 1' EXIT

bin/terminus-api migrate
bin/terminus-api seed-demo | tee -a "$state/seed.log"
bin/terminus-api serve 2>>"$state/api.log" &
api_pid=$!
# Two workers, so that one can be frozen or killed while the other carries on (and leads the
# fault detector): worker 1 logs to worker.log with metrics on :9464, worker 2 to worker2.log on
# :9465. Their PIDs are in worker.pid / worker2.pid (scripts/fault.sh uses them).
for n in 1 2; do
	suffix=$([ "$n" = 1 ] || echo "$n")
	TERMINUS_METRICS_LISTEN=${TERMINUS_METRICS_LISTEN:-127.0.0.1:946$((3 + n))} \
		bin/terminus-worker 2>>"$state/worker$suffix.log" &
	worker_pids+=($!)
	echo $! >"$state/worker$suffix.pid"
done

for _ in $(seq 1 100); do
	curl -fsS "http://$TERMINUS_LISTEN/readyz" >/dev/null 2>&1 && break
	kill -0 "$api_pid" 2>/dev/null || { echo "terminus-api failed to start; see $state/api.log" >&2; exit 1; }
	sleep 0.1
done

cat <<MSG

  Terminus is running.
    API           http://$TERMINUS_LISTEN   (try: curl http://$TERMINUS_LISTEN/v1/stores)
    operator key  $TERMINUS_OPERATOR_KEY
    database      $TERMINUS_DATABASE_URL
    workers       pids $(cat "$state/worker.pid") $(cat "$state/worker2.pid"), metrics http://127.0.0.1:9464/metrics, :9465
    logs          $state/api.log  $state/worker.log  $state/worker2.log  (JSON lines)
    store keys    printed above when the demo stores were first created (also in $state/seed.log)

  Ctrl-C stops the API, the workers and the private database.
MSG
# A worker that dies (kill -9 is part of the demo) leaves the other working; the API dying ends
# the run.
while kill -0 "$api_pid" 2>/dev/null; do
	wait -n "$api_pid" "${worker_pids[@]}" 2>/dev/null || true
	for i in "${!worker_pids[@]}"; do
		if ! kill -0 "${worker_pids[$i]}" 2>/dev/null; then
			echo "worker ${worker_pids[$i]} exited; the other keeps working (see $state/worker*.log)" >&2
			unset "worker_pids[$i]"
		fi
	done
	[ ${#worker_pids[@]} -gt 0 ] || break
done
echo "a process exited; see $state/*.log" >&2
