#!/usr/bin/env bash
# make run: a private PostgreSQL under .terminus/ (unless TERMINUS_DATABASE_URL is set),
# migrations, demo data, the API, two workers and the demo UI (TERMINUS_UI=0: without it).
# Ctrl-C stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
# TERMINUS_STATE (.terminus), TERMINUS_BIN (bin) and TERMINUS_RUN_METRICS_BASE (9464: the
# workers' metrics ports are it and the next) let the executed tour run a second system.
state=${TERMINUS_STATE:-.terminus}
bin=${TERMINUS_BIN:-bin}
metrics_base=${TERMINUS_RUN_METRICS_BASE:-9464}
mkdir -p "$state"

own_pg=0
if [ -z "${TERMINUS_DATABASE_URL:-}" ]; then
	export TERMINUS_DATABASE_URL=$(scripts/pg.sh start "$state/pg")
	own_pg=1
fi
# The operator key: TERMINUS_OPERATOR_KEY, else the one in .terminus/operator_key (made on the
# first run, mode 600: readable only by the user who ran make run). It is passed to the API and
# to the UI server in TERMINUS_OPERATOR_KEY.
if [ -z "${TERMINUS_OPERATOR_KEY:-}" ]; then
	key_file="$state/operator_key"
	if [ -s "$key_file" ] && ! grep -q '^op_' "$key_file"; then
		sed -i 's/^/op_/' "$key_file" # written without its prefix by older versions
	fi
	if [ ! -s "$key_file" ]; then
		(umask 077 && echo "op_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$key_file")
	fi
	chmod 600 "$key_file"
	export TERMINUS_OPERATOR_KEY=$(head -n 1 "$key_file")
fi
export TERMINUS_LISTEN=${TERMINUS_LISTEN:-127.0.0.1:8080}
export TERMINUS_UI_LISTEN=${TERMINUS_UI_LISTEN:-127.0.0.1:3000}
ui=${TERMINUS_UI:-1}

api_pid=
ui_pid=
worker_pids=()
# Ctrl-C / SIGTERM: a clean stop, exit 0. Reaching EXIT otherwise means a process died: exit 1.
stop() {
	local rc=$1
	trap - INT TERM EXIT
	echo
	echo "stopping..."
	[ -n "$ui_pid" ] && kill -TERM "$ui_pid" 2>/dev/null || true
	[ -n "$api_pid" ] && kill -TERM "$api_pid" 2>/dev/null || true
	for pid in "${worker_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "$own_pg" = 1 ] && scripts/pg.sh stop "$state/pg"
	echo "stopped."
	exit "$rc"
}
trap 'stop 0' INT TERM
trap 'stop 1' EXIT

"$bin/terminus-api" migrate
"$bin/terminus-api" seed-demo | tee -a "$state/seed.log"
"$bin/terminus-api" serve 2>>"$state/api.log" &
api_pid=$!
# Two workers, so that one can be frozen or killed while the other carries on (and leads the
# fault detector): worker 1 logs to worker.log with metrics on :9464, worker 2 to worker2.log on
# :9465. Their PIDs are in worker.pid / worker2.pid (scripts/fault.sh uses them).
for n in 1 2; do
	suffix=$([ "$n" = 1 ] || echo "$n")
	TERMINUS_METRICS_LISTEN=${TERMINUS_METRICS_LISTEN:-127.0.0.1:$((metrics_base + n - 1))} \
		"$bin/terminus-worker" 2>>"$state/worker$suffix.log" &
	worker_pids+=($!)
	echo $! >"$state/worker$suffix.pid"
done

for _ in $(seq 1 100); do
	curl -fsS "http://$TERMINUS_LISTEN/readyz" >/dev/null 2>&1 && break
	kill -0 "$api_pid" 2>/dev/null || { echo "terminus-api failed to start; see $state/api.log" >&2; exit 1; }
	sleep 0.1
done

# The demo UI (frontend/, built by make run), after the API it talks to.
if [ "$ui" != 0 ]; then
	if [ ! -s frontend/.next/BUILD_ID ]; then
		echo "the demo UI is not built: run it through make run (or make ui), or set TERMINUS_UI=0" >&2
		exit 1
	fi
	if (exec 3<>"/dev/tcp/${TERMINUS_UI_LISTEN%:*}/${TERMINUS_UI_LISTEN##*:}") 2>/dev/null; then
		echo "something already listens on $TERMINUS_UI_LISTEN: stop it, or set TERMINUS_UI_LISTEN (or TERMINUS_UI=0)" >&2
		exit 1
	fi
	(cd frontend && TERMINUS_API_URL="http://$TERMINUS_LISTEN" exec node scripts/start.mjs) \
		>>"$state/ui.log" 2>&1 &
	ui_pid=$!
	# Ready when its proxy answers for the API (the X-Terminus-Status header is the UI's own).
	ui_ready=0
	for _ in $(seq 1 150); do
		if curl -s -o /dev/null -D - "http://$TERMINUS_UI_LISTEN/api/terminus/v1/stores" 2>/dev/null |
			grep -qi '^x-terminus-status: 200'; then
			ui_ready=1
			break
		fi
		kill -0 "$ui_pid" 2>/dev/null || { echo "the demo UI failed to start; see $state/ui.log" >&2; exit 1; }
		sleep 0.2
	done
	[ "$ui_ready" = 1 ] || { echo "the demo UI did not answer within 30 s; see $state/ui.log" >&2; exit 1; }
fi

cat <<MSG

  Terminus is running.
$([ "$ui" != 0 ] && echo "    demo UI       open http://$TERMINUS_UI_LISTEN   (log: $state/ui.log)")
    API           http://$TERMINUS_LISTEN   (try: curl http://$TERMINUS_LISTEN/v1/stores)
    operator key  $TERMINUS_OPERATOR_KEY
    database      $TERMINUS_DATABASE_URL
    workers       pids $(cat "$state/worker.pid") $(cat "$state/worker2.pid"), metrics http://127.0.0.1:$metrics_base/metrics, :$((metrics_base + 1))
    logs          $state/api.log  $state/worker.log  $state/worker2.log  (JSON lines)
    store keys    printed above when the demo stores were first created (also in $state/seed.log)

  Ctrl-C stops the UI, the API, the workers and the private database.
MSG
# A worker that dies (kill -9 is part of the demo) leaves the other working; the API or the UI
# dying ends the run.
while kill -0 "$api_pid" 2>/dev/null; do
	wait -n "$api_pid" ${ui_pid:+"$ui_pid"} "${worker_pids[@]}" 2>/dev/null || true
	if [ -n "$ui_pid" ] && ! kill -0 "$ui_pid" 2>/dev/null; then
		echo "the demo UI exited; see $state/ui.log" >&2
		break
	fi
	for i in "${!worker_pids[@]}"; do
		if ! kill -0 "${worker_pids[$i]}" 2>/dev/null; then
			echo "worker ${worker_pids[$i]} exited; the other keeps working (see $state/worker*.log)" >&2
			unset "worker_pids[$i]"
		fi
	done
	[ ${#worker_pids[@]} -gt 0 ] || break
done
echo "a process exited; see $state/*.log" >&2
