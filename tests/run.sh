#!/usr/bin/env bash
# tests/run.sh BINDIR — the whole test run behind `make test` and `make sanitize`.
#
# 1. Every BINDIR/tests/test_* (cmocka unit tests) runs on its own.
# 2. One private PostgreSQL cluster is started in a temporary directory (scripts/pg.sh). Each
#    BINDIR/tests/itest_* suite gets a fresh database in it, a migrated schema and its own
#    `terminus-api serve` on a free port; the suite talks to it over HTTP (and to the database
#    directly for invariants). After the suite the API must stop on SIGTERM with status 0 within
#    15 s: under `make sanitize` a leak report makes that status non-zero, which fails the suite.
# 3. The last line is "N passed, N failed" (suites); the exit status is non-zero if any failed.
#
# itest_resilience stops and restarts the shared cluster, so it always runs last.
set -euo pipefail

usage() {
	echo "usage: tests/run.sh BINDIR" >&2
	exit 2
}
[ $# -eq 1 ] || usage
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bindir=$(cd "$1" 2>/dev/null && pwd) || {
	echo "run.sh: no such directory: $1" >&2
	exit 2
}
cd "$root"

READY_TIMEOUT_S=${TERMINUS_TEST_READY_TIMEOUT_S:-30} # sanitizer builds start slowly
# The suites test correctness under concurrency, not load shedding (itest_overload does, with
# its own API): a flash sale or a retry storm on a slow sanitizer build must not be shed. The
# suite's API and the ones terminus-load starts inherit this.
export TERMINUS_QUEUE_TARGET_MS=${TERMINUS_QUEUE_TARGET_MS:-10000}
# The per-client rate limits are off in the suites: a suite is one client (127.0.0.1) hammering
# one store on purpose. itest_overload and the abuse and flash-sale runs start APIs of their own
# with the limits on.
export TERMINUS_CLIENT_RATE_LIMIT=${TERMINUS_CLIENT_RATE_LIMIT:-0}
export TERMINUS_KEY_RATE_LIMIT=${TERMINUS_KEY_RATE_LIMIT:-0}
SUITE_TIMEOUT_S=${TERMINUS_TEST_SUITE_TIMEOUT_S:-180}
STOP_TIMEOUT_S=15

passed=0
failed=0
failed_names=()
api_pid=
tmp=
pgdir=

cleanup() {
	local rc=$?
	if [ -n "$api_pid" ] && kill -0 "$api_pid" 2>/dev/null; then
		kill -KILL "$api_pid" 2>/dev/null || true
		wait "$api_pid" 2>/dev/null || true
	fi
	if [ -n "$pgdir" ]; then
		scripts/pg.sh stop "$pgdir" >/dev/null 2>&1 || true
	fi
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

suite_start=$SECONDS

pass() {
	passed=$((passed + 1))
	echo "PASS $1 ($((SECONDS - suite_start)) s)"
}

fail() {
	failed=$((failed + 1))
	failed_names+=("$1")
	echo "FAIL $1${2:+: $2} ($((SECONDS - suite_start)) s)"
}

# ---- unit tests ---------------------------------------------------------------------------------

shopt -s nullglob
for t in "$bindir"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	echo "== $name"
	suite_start=$SECONDS
	if "$t"; then
		pass "$name"
	else
		fail "$name" "exit status $?"
	fi
done

# ---- integration suites -------------------------------------------------------------------------

suites=()
last=()
# TERMINUS_TEST_ONLY="concurrency worker" runs only the named suites (while iterating); the
# run says so loudly, and CI never sets it.
# Suites are the itest_* programs in BINDIR/tests and the script suites tests/*/itest_*.sh (the
# demo UI's browser tests, the executed tour), which get the same database, API and environment.
for t in "$bindir"/tests/itest_* "$root"/tests/*/itest_*.sh; do
	[ -x "$t" ] || continue
	short=$(basename "$t" .sh)
	short=${short#itest_}
	if [ -n "${TERMINUS_TEST_ONLY:-}" ] &&
		! [[ " $TERMINUS_TEST_ONLY " == *" $short "* ]]; then
		echo "NOT RUN itest_$short (TERMINUS_TEST_ONLY=$TERMINUS_TEST_ONLY)"
		continue
	fi
	case "$(basename "$t")" in
	itest_resilience) last+=("$t") ;;
	*) suites+=("$t") ;;
	esac
done
suites+=("${last[@]}")

# True when something already listens on 127.0.0.1:$1.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Polls /readyz of the API at $1 until 200, the process $2 dies, or the deadline passes.
wait_ready() {
	local base=$1 pid=$2 deadline=$((SECONDS + READY_TIMEOUT_S)) code
	while [ "$SECONDS" -lt "$deadline" ]; do
		kill -0 "$pid" 2>/dev/null || return 1
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/readyz" || true)
		[ "$code" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}

# Sends SIGTERM to the API and requires exit status 0 within STOP_TIMEOUT_S; on failure
# stop_err says why. (Not run in a subshell: only this shell can wait for its child.)
stop_err=
stop_api() {
	local pid=$api_pid deadline=$((SECONDS + STOP_TIMEOUT_S)) st=0
	api_pid=
	stop_err=
	kill -TERM "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		stop_err="terminus-api did not exit within ${STOP_TIMEOUT_S}s of SIGTERM"
		return 1
	fi
	wait "$pid" || st=$?
	if [ "$st" -ne 0 ]; then
		stop_err="terminus-api exited with status $st after SIGTERM"
		return 1
	fi
	return 0
}

# The tail of a log; for the API's JSON log, its warnings and errors (and any sanitizer report)
# first, since the last lines are mostly the access log.
show_log() {
	local notable='"level":"(warn|error)"|Sanitizer|runtime error|SUMMARY'
	echo "---- $1: warnings and errors ----"
	grep -E "$notable" "$1" 2>/dev/null | tail -n 40 || true
	echo "---- $1: last 40 lines ----"
	tail -n 40 "$1" 2>/dev/null || true
	echo "----"
}

if [ ${#suites[@]} -gt 0 ]; then
	api="$bindir/terminus-api"
	if [ ! -x "$api" ]; then
		for t in "${suites[@]}"; do
			fail "$(basename "$t" .sh)" "no $api"
		done
		suites=()
	fi
fi

if [ ${#suites[@]} -gt 0 ]; then
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/terminus-test.XXXXXX")
	chmod 755 "$tmp" # the cluster belongs to 'postgres' when we run as root
	pgdir="$tmp/pg"
	mkdir -p "$tmp/logs"
	if ! scripts/pg.sh start "$pgdir" >/dev/null; then
		show_log "$pgdir/postgres.log"
		for t in "${suites[@]}"; do
			fail "$(basename "$t" .sh)" "PostgreSQL did not start"
		done
		suites=()
	fi
fi

for t in "${suites[@]}"; do
	name=$(basename "$t" .sh)
	short=${name#itest_}
	log="$tmp/logs/$name.api.log"
	echo "== $name"
	suite_start=$SECONDS

	if ! db=$(PGDATABASE_NAME="itest_$short" scripts/pg.sh start "$pgdir"); then
		fail "$name" "could not create database itest_$short"
		continue
	fi
	if ! TERMINUS_DATABASE_URL="$db" TERMINUS_LOG_LEVEL=warn "$api" migrate >"$log" 2>&1; then
		show_log "$log"
		fail "$name" "terminus-api migrate failed"
		continue
	fi

	key=$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n') # 40 hex characters
	started=0
	for _ in 1 2 3 4 5; do
		port=$(((RANDOM % 10000) + 20000))
		port_busy "$port" && continue
		TERMINUS_DATABASE_URL="$db" TERMINUS_LISTEN="127.0.0.1:$port" \
			TERMINUS_OPERATOR_KEY="$key" TERMINUS_LOG_LEVEL="${TERMINUS_LOG_LEVEL:-info}" \
			"$api" serve >>"$log" 2>&1 &
		api_pid=$!
		if wait_ready "http://127.0.0.1:$port" "$api_pid"; then
			started=1
			break
		fi
		# Died (a port taken between the probe and the bind) or never became ready.
		if kill -0 "$api_pid" 2>/dev/null; then
			kill -KILL "$api_pid" 2>/dev/null || true
		fi
		wait "$api_pid" 2>/dev/null || true
		api_pid=
	done
	if [ "$started" -ne 1 ]; then
		show_log "$log"
		fail "$name" "terminus-api serve never became ready"
		continue
	fi

	timeout_s=$SUITE_TIMEOUT_S
	# The browser suite starts a worker, the UI server and Chromium; the tour a whole system.
	case "$name" in itest_ui | itest_tour) timeout_s=$((SUITE_TIMEOUT_S * 2)) ;; esac
	st=0
	TERMINUS_TEST_API="http://127.0.0.1:$port" TERMINUS_TEST_DB="$db" \
		TERMINUS_TEST_OPERATOR_KEY="$key" TERMINUS_TEST_BIN="$bindir" \
		TERMINUS_TEST_PGDIR="$pgdir" TERMINUS_TEST_LOG="$log" TERMINUS_TEST_ROOT="$root" \
		timeout -k 5 "$timeout_s" "$t" || st=$?

	why=
	if [ "$st" -eq 124 ] || [ "$st" -eq 137 ]; then
		why="timed out after ${timeout_s}s"
	elif [ "$st" -ne 0 ]; then
		why="suite exit status $st"
	fi
	# A suite that stopped the cluster (resilience) must not leave it down for the next one.
	PGDATABASE_NAME="itest_$short" scripts/pg.sh start "$pgdir" >/dev/null 2>&1 || true
	if ! stop_api; then
		why="${why:+$why; }$stop_err"
	fi
	if [ -n "$why" ]; then
		show_log "$log"
		fail "$name" "$why"
	else
		pass "$name"
	fi
done

if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
