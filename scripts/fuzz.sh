#!/usr/bin/env bash
# scripts/fuzz.sh BINDIR SECONDS — runs every libFuzzer target in BINDIR/fuzz for SECONDS each,
# starting from its seed corpus in fuzz/corpus/<target>/ (copied: new inputs the run finds stay
# in a temporary directory). Prints executions per second for each; a crash, leak or sanitizer
# report fails the run and leaves the input that caused it in fuzz/crashes/.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: scripts/fuzz.sh BINDIR SECONDS" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bindir=$1 seconds=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/terminus-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
shopt -s nullglob
targets=("$bindir"/fuzz/fuzz_*)
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz targets in $bindir/fuzz" >&2; exit 1; }
for t in "${targets[@]}"; do
	name=$(basename "$t")
	mkdir -p "$tmp/$name" "$root/fuzz/crashes"
	cp "$root/fuzz/corpus/$name"/* "$tmp/$name"/ 2>/dev/null || true
	st=0
	"$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$root/fuzz/crashes/$name-" "$tmp/$name" >"$tmp/$name.log" 2>&1 || st=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$name.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$tmp/$name.log")
	cov=$(grep -o 'cov: [0-9]*' "$tmp/$name.log" | tail -n 1 || true)
	if [ "$st" -eq 0 ]; then
		passed=$((passed + 1))
		echo "PASS $name: ${execs:-?} inputs in ${seconds} s (${rate:-?}/s), ${cov:-cov: ?}"
	else
		failed=$((failed + 1))
		echo "FAIL $name (exit $st):"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$tmp/$name.log" | head -n 20
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
