#!/usr/bin/env bash
# Install the Debian packages Terminus needs, only when some are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail
pkgs=(build-essential pkg-config libmicrohttpd-dev libpq-dev libjansson-dev uuid-dev
      libcmocka-dev libssl-dev libcurl4-openssl-dev postgresql-15 postgresql-contrib
      clang-format curl ca-certificates procps prometheus bc jq)
# The demo UI (frontend/) and its browser tests: Node.js with npm, and Debian's Chromium, which
# Playwright drives (it never downloads a browser of its own).
pkgs+=(chromium)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js may come from Debian (nodejs + npm, Node 18 on bookworm) or from elsewhere with npm
# built in: only what is missing is installed.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "terminus: missing packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "terminus: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
