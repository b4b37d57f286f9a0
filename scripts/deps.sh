#!/usr/bin/env bash
# scripts/deps.sh [ui] [browser] [fuzz] — install the Debian packages Terminus needs, only when
# some are missing. With no argument: what the C build, make run without the UI and make bench
# need; `ui`: also Node.js and npm for the demo UI (frontend/); `browser`: also Debian's Chromium,
# which the UI's browser tests drive (Playwright never downloads a browser of its own); `fuzz`:
# clang and its libFuzzer runtime for the fuzz targets.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail
pkgs=(build-essential pkg-config libmicrohttpd-dev libpq-dev libjansson-dev uuid-dev
      libcmocka-dev libssl-dev libcurl4-openssl-dev postgresql-15 postgresql-contrib
      clang-format curl ca-certificates procps prometheus bc jq)
ui=0
for a in "$@"; do
	case "$a" in
	ui) ui=1 ;;
	browser) pkgs+=(chromium) ;;
	fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
	*)
		echo "usage: scripts/deps.sh [ui] [browser] [fuzz]" >&2
		exit 2
		;;
	esac
done
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js may come from Debian (nodejs + npm: Node 18 on bookworm) or from elsewhere with npm
# built in: only what is missing is installed.
if [ "$ui" = 1 ]; then
	command -v node >/dev/null 2>&1 || missing+=(nodejs)
	command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "terminus: missing packages; run as root:" >&2
		echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	echo "terminus: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Next.js 15 needs Node.js 18.18 or newer.
if [ "$ui" = 1 ] && ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 18) ? 0 : 1)'; then
	echo "terminus: the demo UI needs Node.js >= 18.18, this is $(node --version); or run with TERMINUS_UI=0" >&2
	exit 1
fi
