#!/usr/bin/env bash
# itest_tour — the curl tour of docs/tour.md, executed (tests/tour/tour.mjs checks each block's
# documented answers). Run by tests/run.sh like every suite, with a fresh migrated database: this
# script starts the system on it as the tour's first block says (scripts/run.sh with that block's
# variables, the UI left out, its own state directory and free ports), runs the tour against it,
# and stops it.
set -euo pipefail
: "${TERMINUS_TEST_DB:?} ${TERMINUS_TEST_BIN:?}"
root=${TERMINUS_TEST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
tour="$root/docs/tour.md"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/terminus-tour.XXXXXX")
chmod 755 "$tmp"
run_pid=
cleanup() {
	if [ -n "$run_pid" ]; then
		kill -TERM "$run_pid" 2>/dev/null || true
		wait "$run_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	local port
	for _ in $(seq 1 50); do
		# Below the kernel's ephemeral range (32768-60999 here), where a client socket can hold
		# a port nothing listens on, and apart from the other suites' ports.
		port=$(((RANDOM % 4000) + 16000))
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
		(exec 3<>"/dev/tcp/127.0.0.1/$((port + 1))") 2>/dev/null && continue
		echo "$port"
		return 0
	done
	return 1
}

# The first block: VAR=value … make run.
start=$(awk '/^```sh$/{getline; print; exit}' "$tour")
case "$start" in
*"make run") ;;
*)
	echo "itest_tour: the tour's first block is not '… make run': $start" >&2
	exit 1
	;;
esac
env_vars=()
for w in ${start% make run}; do
	[[ "$w" == TERMINUS_*=* ]] || { echo "itest_tour: unexpected '$w' in: $start" >&2; exit 1; }
	env_vars+=("$w")
done

api_port=$(free_port) || { echo "itest_tour: no free port" >&2; exit 1; }
# Nothing listens on api_port yet, so free_port could offer it (or the next) again.
for _ in 1 2 3 4 5; do
	metrics_base=$(free_port) || { echo "itest_tour: no free port" >&2; exit 1; }
	[ "$metrics_base" -gt $((api_port + 1)) ] || [ $((metrics_base + 1)) -lt "$api_port" ] && break
done
state="$tmp/state"
(cd "$root" && exec env "${env_vars[@]}" TERMINUS_UI=0 TERMINUS_STATE="$state" \
	TERMINUS_BIN="$TERMINUS_TEST_BIN" TERMINUS_RUN_METRICS_BASE="$metrics_base" \
	TERMINUS_DATABASE_URL="$TERMINUS_TEST_DB" TERMINUS_LISTEN="127.0.0.1:$api_port" \
	scripts/run.sh) >"$tmp/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 1 300); do
	grep -q 'Ctrl-C stops' "$tmp/run.log" 2>/dev/null && break
	if ! kill -0 "$run_pid" 2>/dev/null; then
		cat "$tmp/run.log" >&2
		echo "---- $state/api.log (tail) ----" >&2
		tail -n 20 "$state/api.log" >&2 2>/dev/null || true
		exit 1
	fi
	sleep 0.1
done
grep -q 'Ctrl-C stops' "$tmp/run.log" || { echo "itest_tour: the system did not start" >&2; cat "$tmp/run.log" >&2; exit 1; }

st=0
(cd "$root" && TERMINUS_STATE="$state" TERMINUS_LISTEN="127.0.0.1:$api_port" \
	TERMINUS_DATABASE_URL="$TERMINUS_TEST_DB" TERMINUS_METRICS_LISTEN="127.0.0.1:$metrics_base" \
	TOUR_REWRITE="127.0.0.1:8080=>127.0.0.1:$api_port
127.0.0.1:9464=>127.0.0.1:$metrics_base
127.0.0.1:9465=>127.0.0.1:$((metrics_base + 1))
.terminus/=>$state/" node tests/tour/tour.mjs "$tour") || st=$?
if [ "$st" -ne 0 ]; then
	for f in "$state"/api.log "$state"/worker.log "$state"/worker2.log; do
		echo "---- $f: warnings and errors (tail) ----"
		grep -E '"level":"(warn|error)"' "$f" 2>/dev/null | tail -n 15 || true
	done
fi
exit "$st"
