#!/usr/bin/env bash
# scripts/check-layers.sh BINDIR BUILDDIR — the layering holds, and breaking it fails the build.
#
#   core (src/core, include/core)    may use nothing above it
#   http (src/http, include/http)    may use core; knows no route
#   api  (src/api)                   may use http and core       -> bin/terminus-api
#   worker (src/worker)              may use http and core       -> bin/terminus-worker
#   load (src/load)                  may use core                -> bin/terminus-load
#
# Checked four ways: (1) no source includes a header by a relative path (the only way around the
# per-layer include directories the Makefile gives each folder); (2) a core file that includes
# http.h does not compile with core's include path; (3) an object that calls the API does not
# link against the worker's libraries; (4) the binaries themselves: bin/terminus-worker and
# bin/terminus-load hold no API, route or request-server symbol.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bindir=${1:-bin}
build=${2:-build/release}
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bad=$(git grep -nE '#include "[^"]*/' -- 'src/*.c' 'src/*.h' 'include/*.h' || true)
if [ -n "$bad" ]; then
	echo "check-layers: headers included by path (bypassing the layer's include directories):"
	echo "$bad" | sed 's/^/  /'
	fail=1
fi

printf '#include "http.h"\n' >"$tmp/core_probe.c"
if cc -std=c17 -Iinclude/core $(pkg-config --cflags jansson libpq) -fsyntax-only \
	"$tmp/core_probe.c" 2>/dev/null; then
	echo "check-layers: a core file can include http.h"
	fail=1
fi

for lib in worker http core; do
	[ -f "$build/lib/libterminus-$lib.a" ] || { echo "check-layers: no $build/lib/libterminus-$lib.a" >&2; exit 1; }
done
printf 'struct request;\nvoid api_dispatch(struct request *);\nint main(void) { api_dispatch(0); return 0; }\n' \
	>"$tmp/worker_probe.c"
if cc -o "$tmp/worker_probe" "$tmp/worker_probe.c" "$build/lib/libterminus-worker.a" \
	"$build/lib/libterminus-http.a" "$build/lib/libterminus-core.a" \
	$(pkg-config --libs libmicrohttpd jansson libpq uuid openssl) -pthread -lm 2>/dev/null; then
	echo "check-layers: code linked with the worker's libraries can call the API"
	fail=1
fi

symbols=' [TtDdBbRr] (api_|router_|http_server_|reply_|req_|ratelimit_)'
for b in terminus-worker terminus-load; do
	[ -x "$bindir/$b" ] || { echo "check-layers: no $bindir/$b" >&2; exit 1; }
	forbidden=$(nm --defined-only "$bindir/$b" | grep -E "$symbols" || true)
	if [ -n "$forbidden" ]; then
		echo "check-layers: $bindir/$b links API or request-server symbols:"
		echo "$forbidden" | sed 's/^/  /'
		fail=1
	fi
done

if [ "$fail" -ne 0 ]; then
	exit 1
fi
echo "check-layers: core includes no HTTP header, the worker's libraries cannot reach the API," \
	"and terminus-worker and terminus-load hold no API, route or request-server symbol"
