#!/usr/bin/env bash
# scripts/check-layers.sh BINDIR — the worker links only the core and the HTTP layer's metrics
# listener: no route, handler or request-server symbol may be in bin/terminus-worker. The server
# reaches the API only through the callbacks terminus-api gives it (http_routes), so a worker
# that starts depending on the API fails here, not in review.
set -euo pipefail
bindir=${1:-bin}
worker="$bindir/terminus-worker"
[ -x "$worker" ] || { echo "check-layers: no $worker" >&2; exit 1; }
forbidden=$(nm --defined-only "$worker" |
	grep -E ' [TtDdBbRr] (api_|router_|http_server_|reply_|req_|ratelimit_)' || true)
if [ -n "$forbidden" ]; then
	echo "check-layers: $worker links API or request-server symbols:"
	echo "$forbidden" | sed 's/^/  /'
	exit 1
fi
echo "check-layers: $worker links no API, route or request-server symbol"
